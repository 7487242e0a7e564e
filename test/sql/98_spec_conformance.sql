-- SPEC conformance (docs: /work/shared/SPEC.md, "the SQL contract"): the
-- signatures, view columns, GUCs, result shapes and SQLSTATEs that the
-- contract fixes, pinned in one place so that a change to any of them shows
-- up here.  Extra optional arguments and extra JSON keys are allowed by the
-- SPEC; each check below therefore tests that the SPEC's form still works
-- exactly (a prefix of the argument list, a superset of the keys).
CREATE EXTENSION privacy;
\set VERBOSITY sqlstate

-- 1. Function signatures: argument names, types and defaults as the SPEC
-- writes them must be a prefix of the installed ones (extra trailing
-- arguments must have defaults), and the result types must match.  Lists
-- only the mismatches.
CREATE TEMP TABLE spec_fn(fn text, args text, result text);
INSERT INTO spec_fn VALUES
 ('define_subject', 'name text, root regclass, key name DEFAULT NULL::name', 'void'),
 ('link', 'subject text, tbl regclass, key_column name', 'void'),
 ('refresh_subject', 'name text', 'void'),
 ('data_map', 'subject text', 'text'),
 ('classify', 'tbl regclass, col name, category text, erasure text DEFAULT NULL::text, portable boolean DEFAULT true, purposes text[] DEFAULT NULL::text[], legal_basis text DEFAULT NULL::text', 'void'),
 ('declassify', 'tbl regclass, col name', 'void'),
 ('set_erasure_mode', 'tbl regclass, mode text', 'void'),
 ('discover', 'tbl regclass DEFAULT NULL::regclass, sample integer DEFAULT 1000', 'TABLE(table_name regclass, column_name name, category text, confidence real, matched integer, sampled integer)'),
 ('apply_discovery', 'min_confidence real DEFAULT 0.8', 'TABLE(table_name regclass, column_name name, category text)'),
 ('add_recipient', 'name text, purpose text, categories text[], country text DEFAULT NULL::text', NULL),
 ('access', 'subject text, id text', 'jsonb'),
 ('export', 'subject text, id text', 'jsonb'),
 ('erase', 'subject text, id text, reason text DEFAULT NULL::text, dry_run boolean DEFAULT false', 'jsonb'),
 ('hold', 'subject text, id text, reason text, until timestamp with time zone DEFAULT NULL::timestamp with time zone', NULL),
 ('release_hold', 'subject text, id text', NULL),
 ('restrict', 'subject text, id text, reason text', NULL),
 ('unrestrict', 'subject text, id text', NULL),
 ('is_restricted', 'subject text, id text', 'boolean'),
 ('protect', 'tbl regclass', NULL),
 ('set_consent', 'subject text, id text, purpose text, granted boolean, source text DEFAULT NULL::text', NULL),
 ('has_consent', 'subject text, id text, purpose text', 'boolean'),
 ('erasure_ledger', 'since timestamp with time zone DEFAULT NULL::timestamp with time zone', 'jsonb'),
 ('replay_erasures', 'ledger jsonb', 'jsonb'),
 ('add_retention', 'tbl regclass, age_column name, keep interval, action text DEFAULT ''delete''::text, columns name[] DEFAULT NULL::name[], cascade boolean DEFAULT true, time_zone text DEFAULT NULL::text', 'bigint'),
 ('drop_retention', 'policy bigint', NULL),
 ('run_retention', 'policy bigint DEFAULT NULL::bigint', 'bigint'),
 ('encrypt_column', 'tbl regclass, col name, subject text DEFAULT NULL::text', NULL),
 ('decrypt_column', 'tbl regclass, col name', NULL),
 ('encrypt', 'plaintext bytea, key_id bigint, aad bytea DEFAULT NULL::bytea', 'bytea'),
 ('decrypt', 'ciphertext bytea, key_id bigint, aad bytea DEFAULT NULL::bytea', 'bytea'),
 ('create_key', 'name text', 'bigint'),
 ('rotate_root_key', 'new_key_file text DEFAULT NULL::text', NULL),
 ('blind_index', 'value text, key_id bigint', 'bytea'),
 ('verify_audit', 'anchor jsonb DEFAULT NULL::jsonb', 'bigint'),
 ('audit_anchor', '', 'jsonb'),
 ('processing_record', '', 'jsonb'),
 ('breach_report', 'tables regclass[]', 'jsonb');
SELECT s.fn, s.args AS spec_args, s.result AS spec_result,
       (SELECT string_agg(pg_get_function_arguments(p.oid) || ' -> ' || pg_get_function_result(p.oid), ' | ')
          FROM pg_proc p WHERE p.pronamespace = 'privacy'::regnamespace AND p.proname = s.fn) AS installed
  FROM spec_fn s
 WHERE NOT EXISTS (
	SELECT 1 FROM pg_proc p
	 WHERE p.pronamespace = 'privacy'::regnamespace AND p.proname = s.fn
	   AND (s.result IS NULL OR pg_get_function_result(p.oid) = s.result)
	   AND (pg_get_function_arguments(p.oid) = s.args
	        OR (s.args <> '' AND pg_get_function_arguments(p.oid) LIKE s.args || ', %'
	            -- every extra argument has a default
	            AND p.pronargs - p.pronargdefaults
	                <= array_length(string_to_array(s.args, ', '), 1))
	        OR (s.args <> '' AND pg_get_function_arguments(p.oid) LIKE s.args || ', %'
	            AND s.args LIKE '%DEFAULT%')))
 ORDER BY 1;
SELECT count(*) AS spec_functions FROM spec_fn;

-- 2. Views and tables: the SPEC's columns, in the SPEC's order and types,
-- come first (extra columns after them are allowed).  Lists mismatches.
CREATE TEMP TABLE spec_rel(rel text, cols text);
INSERT INTO spec_rel VALUES
 ('subject_tables', 'subject text, table_name regclass, via text, depth integer, path text'),
 ('categories', 'name text, parent text, description text, special boolean, erasure text'),
 ('classified_columns', 'table_name regclass, column_name name, category text, special boolean, erasure text, portable boolean, purposes text[], legal_basis text'),
 ('unclassified', 'table_name regclass, column_name name, data_type text'),
 ('requests', 'id bigint, kind text, subject text, subject_ref text, received_at timestamp with time zone, due_at timestamp with time zone, completed_at timestamp with time zone, status text, actor name'),
 ('overdue_requests', 'id bigint, kind text, subject text, subject_ref text, received_at timestamp with time zone, due_at timestamp with time zone, completed_at timestamp with time zone, status text, actor name'),
 ('audit_log', 'seq bigint, at timestamp with time zone, actor name, action text, subject_ref text, detail jsonb, hash bytea');
SELECT s.rel, s.cols AS spec, i.cols AS installed
  FROM spec_rel s
  LEFT JOIN LATERAL (
	SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) AS cols
	  FROM pg_attribute a
	 WHERE a.attrelid = ('privacy.' || s.rel)::regclass AND a.attnum > 0 AND NOT a.attisdropped) i ON true
 WHERE i.cols IS DISTINCT FROM s.cols AND i.cols NOT LIKE s.cols || ', %'
 ORDER BY 1;
-- retention_runs: policy, started, finished, rows, error, blocked (any order)
SELECT array_agg(c ORDER BY c) AS missing_retention_runs_columns
  FROM unnest(ARRAY['policy','started','finished','rows','error','blocked']) c
 WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a
                    WHERE a.attrelid = 'privacy.retention_runs'::regclass AND a.attname = c);
SELECT relkind FROM pg_class WHERE oid IN ('privacy.retention_policies'::regclass,
	'privacy.retention_status'::regclass, 'privacy.root_keys'::regclass, 'privacy.keys'::regclass)
 GROUP BY relkind;
SELECT relkind AS categories_kind FROM pg_class WHERE oid = 'privacy.categories'::regclass;
SELECT relkind AS retention_runs_kind FROM pg_class WHERE oid = 'privacy.retention_runs'::regclass;

-- 3. GUCs: defaults and contexts of section 4 (PGC_SIGHUP), the request
-- deadline (an interval, 30 days), the root key settings (superuser-only).
SELECT name, boot_val, unit, context FROM pg_settings
 WHERE name IN ('privacy.retention_enabled', 'privacy.retention_naptime',
                'privacy.retention_batch_size', 'privacy.max_workers',
                'privacy.request_deadline', 'privacy.root_key_file',
                'privacy.root_key_command')
 ORDER BY name;
SET privacy.request_deadline = 'not an interval';
SET privacy.request_deadline = '10 days';
CREATE ROLE spec_plain LOGIN;
SET ROLE spec_plain;
SHOW privacy.root_key_file;
SHOW privacy.root_key_command;
RESET ROLE;

-- 4. The rights functions in the SPEC's own form (named arguments as the
-- SPEC names them), and their results' keys.
CREATE TABLE public."Address"(id int PRIMARY KEY, street text);
CREATE TABLE public."Customer"(id int PRIMARY KEY, name text NOT NULL, email text,
	address_id int REFERENCES public."Address");
CREATE TABLE public."Orders"(id int PRIMARY KEY,
	customer_id int REFERENCES public."Customer" ON DELETE CASCADE, note text,
	placed timestamp);
CREATE TABLE public."Events"(id int PRIMARY KEY, cust text, payload text);
CREATE INDEX ON public."Events"(cust);
INSERT INTO public."Address" VALUES (1, 'own'), (2, 'shared');
INSERT INTO public."Customer" VALUES (1, 'Ann', 'ann@example.org', 1),
	(2, 'Bob', 'bob@example.org', 2), (3, 'Cy', 'cy@example.org', 2);
INSERT INTO public."Orders" VALUES (10, 1, 'n1', now() - interval '100 days'),
	(11, 1, 'n2', now()), (12, 2, 'b', now() - interval '100 days');
INSERT INTO public."Events" VALUES (1, '1', 'e1'), (2, '2', 'e2');
SELECT privacy.define_subject(name => 'customer', root => 'public."Customer"');
SELECT privacy.link(subject => 'customer', tbl => 'public."Events"', key_column => 'cust');
SELECT privacy.classify(tbl => 'public."Customer"', col => 'name', category => 'user.name');
SELECT privacy.classify(tbl => 'public."Customer"', col => 'email', category => 'user.contact.email',
	erasure => NULL, portable => true, purposes => ARRAY['marketing'], legal_basis => 'consent');
SELECT privacy.classify(tbl => 'public."Address"', col => 'street', category => 'user.contact.address');
SELECT privacy.classify(tbl => 'public."Orders"', col => 'note', category => 'user.content.private', portable => false);
SELECT privacy.add_recipient(name => 'mailer', purpose => 'marketing', categories => ARRAY['user.contact'], country => NULL);
-- the default strategy is null, redact on a NOT NULL column
SELECT column_name, category, erasure, portable, purposes, legal_basis
  FROM privacy.classified_columns ORDER BY table_name::text, column_name;
SELECT subject, table_name, via, depth FROM privacy.subject_tables ORDER BY depth, table_name::text;

-- access: the SPEC's keys, arrays of text, table keys format('%I.%I')
CREATE FUNCTION pg_temp.missing(j jsonb, keys text[]) RETURNS text[] LANGUAGE sql AS
$$ SELECT coalesce(array_agg(k ORDER BY k), '{}') FROM unnest(keys) k WHERE NOT j ? k $$;
SELECT privacy.set_consent(subject => 'customer', id => '1', purpose => 'marketing', granted => true, source => 'web');
SELECT privacy.has_consent(subject => 'customer', id => '1', purpose => 'marketing') AS consent,
       privacy.has_consent('customer', '1', 'other') AS other;
SELECT privacy.access(subject => 'customer', id => '1') AS a \gset
SELECT pg_temp.missing(:'a', ARRAY['subject','id','generated_at','data','categories','purposes',
	'legal_bases','recipients','retention','consents','restricted','holds']) AS access_missing,
       :'a'::jsonb->>'subject' AS subject, :'a'::jsonb->>'id' AS id,
       jsonb_typeof(:'a'::jsonb->'restricted') AS restricted_type;
SELECT k AS access_table, jsonb_array_length(:'a'::jsonb->'data'->k) AS rows
  FROM jsonb_object_keys(:'a'::jsonb->'data') k ORDER BY 1;
SELECT :'a'::jsonb->'categories' AS categories, :'a'::jsonb->'purposes' AS purposes,
       :'a'::jsonb->'legal_bases' AS legal_bases;
SELECT privacy.access('customer', '999')->'data' AS unknown_id_data;

-- export: format, portable classified columns only
SELECT privacy.export(subject => 'customer', id => '1') AS e \gset
SELECT pg_temp.missing(:'e', ARRAY['format','subject','id','exported_at','tables']) AS export_missing,
       :'e'::jsonb->>'format' AS format, :'e'::jsonb->'tables' AS tables;

-- restrict / is_restricted / unrestrict, hold / release_hold
SELECT privacy.restrict(subject => 'customer', id => '1', reason => 'dispute');
SELECT privacy.is_restricted(subject => 'customer', id => '1') AS r1,
       privacy.is_restricted('customer', '2') AS r2,
       privacy.access('customer', '1')->'restricted' AS access_restricted;
SELECT privacy.unrestrict(subject => 'customer', id => '1');
SELECT privacy.is_restricted('customer', '1') AS r1_after;
SELECT privacy.hold(subject => 'customer', id => '2', reason => 'lawsuit', until => NULL);
SELECT jsonb_array_length(privacy.access('customer', '2')->'holds') AS holds;
SELECT privacy.erase('customer', '2');                -- 55000, nothing changed
SELECT count(*) AS bob_still_there FROM public."Customer" WHERE id = 2;
SELECT privacy.release_hold(subject => 'customer', id => '2');

-- erase: the receipt's keys and counts (cascaded rows counted), dry run
-- changes nothing, the shared address is retained, notify by parent category
SELECT privacy.erase(subject => 'customer', id => '1', reason => 'asked', dry_run => true) AS d \gset
SELECT pg_temp.missing(:'d', ARRAY['request','subject','dry_run','tables','retained','keys_shredded','notify']) AS receipt_missing,
       :'d'::jsonb->'dry_run' AS dry_run, jsonb_typeof(:'d'::jsonb->'request') AS request_type;
SELECT count(*) AS ann_rows_after_dry_run FROM public."Orders" WHERE customer_id = 1;
SELECT privacy.erase('customer', '1', 'asked') AS r \gset
SELECT k AS erased_table, :'r'::jsonb->'tables'->k AS counts
  FROM jsonb_object_keys(:'r'::jsonb->'tables') k ORDER BY 1;
SELECT :'r'::jsonb->'retained' AS retained, :'r'::jsonb->'notify' AS notify,
       :'r'::jsonb->'keys_shredded' AS keys_shredded;
SELECT (SELECT count(*) FROM public."Customer" WHERE id = 1) AS customer,
       (SELECT count(*) FROM public."Orders" WHERE customer_id = 1) AS orders,
       (SELECT count(*) FROM public."Address" WHERE id = 1) AS address,
       (SELECT count(*) FROM public."Events" WHERE cust = '1') AS events;
-- again: nothing new, zero deleted
SELECT sum((v->>'deleted')::int) AS deleted_again
  FROM jsonb_each(privacy.erase('customer', '1')->'tables') e(k, v);
-- a shared referenced row stays and is listed under retained
SELECT jsonb_array_length(privacy.erase('customer', '3')->'retained') AS retained_shared;
SELECT count(*) AS shared_address FROM public."Address" WHERE id = 2;

-- requests: kind is the function's name, due_at = received_at + deadline
SELECT kind, count(*), bool_and(due_at = received_at + interval '10 days') AS due_10_days,
       bool_and(subject_ref IS NOT NULL) AS has_ref
  FROM privacy.requests GROUP BY kind ORDER BY kind;
RESET privacy.request_deadline;
SELECT count(*) AS overdue FROM privacy.overdue_requests;

-- the ledger names subjects by subject_ref only; replay finds nothing new
SELECT privacy.erasure_ledger(since => NULL) AS l \gset
SELECT bool_and(NOT (e ? 'id')) AS no_ids FROM jsonb_array_elements(:'l'::jsonb->'entries') e;
SELECT jsonb_typeof(privacy.replay_erasures(ledger => :'l')) AS replay;

-- 5. Retention in the SPEC's form
SELECT privacy.add_retention(tbl => 'public."Orders"', age_column => 'placed', keep => '30 days',
	action => 'delete', columns => NULL, cascade => true, time_zone => 'UTC') AS p \gset
SELECT privacy.hold('customer', '2', 'keep');
SELECT privacy.run_retention(policy => :p) AS rows;           -- Bob's order is held
SELECT id FROM public."Orders" ORDER BY id;
SELECT policy = :p AS same_policy, rows, error, blocked FROM privacy.retention_runs;
SELECT privacy.run_retention(:p) AS nothing_to_do;
SELECT count(*) AS runs FROM privacy.retention_runs;      -- no row for an empty pass
ALTER TABLE public."Orders" RENAME COLUMN placed TO "Placed At";
SELECT age_column FROM privacy.retention_policies WHERE policy = :p;
SELECT count(*) AS status_rows FROM privacy.retention_status;
SELECT privacy.drop_retention(policy => :p);
SELECT privacy.release_hold('customer', '2');

-- 6. Section 8's SQLSTATEs, one call per case
SELECT privacy.access('nosuch', '1');                          -- 42704 subject type
SELECT privacy.drop_retention(999999);                         -- 42704 policy
SELECT privacy.encrypt('x', 999999);                           -- 42704 key
SELECT privacy.classify('public."Customer"', 'nocol', 'user.name');  -- 42703
SELECT privacy.link('customer', 'public."Events"', 'nocol');   -- 42703
SELECT privacy.access('customer', 'abc');                      -- 22P02
SELECT privacy.classify('public."Customer"', 'email', 'no.such.category');   -- 22023
SELECT privacy.classify('public."Customer"', 'email', 'user.name', 'no-such-strategy'); -- 22023
SELECT privacy.classify('public."Customer"', 'id', 'user.name', 'hash');     -- 22023
SELECT privacy.set_erasure_mode('public."Customer"', 'no-such-mode');       -- 22023
SELECT privacy.add_retention('public."Orders"', 'Placed At', '1 day', 'no-such-action'); -- 22023
SELECT privacy.add_retention('public."Orders"', 'Placed At', '1 day', time_zone => 'No/Such_Zone'); -- 22023
SELECT privacy.encrypt_column('public."Customer"', 'id');      -- 0A000
SELECT privacy.decrypt('\x00112233'::bytea, privacy.create_key('spec'));  -- XX001
SET ROLE spec_plain;
SELECT privacy.access('customer', '2');                        -- 42501
SELECT privacy.erase('customer', '2');                         -- 42501
RESET ROLE;
-- 23503: a row that stays (anonymize mode) references a row erase must delete
CREATE TABLE public."Loyalty"(id int PRIMARY KEY, customer_id int REFERENCES public."Customer", card text);
INSERT INTO public."Loyalty" VALUES (1, 2, 'c');
SELECT privacy.set_erasure_mode(tbl => 'public."Loyalty"', mode => 'anonymize');
SELECT privacy.erase('customer', '2');                         -- 23503
SELECT count(*) AS bob_kept FROM public."Customer" WHERE id = 2;
-- audit: UPDATE/DELETE/TRUNCATE refused; the chain verifies
UPDATE privacy.audit_log SET actor = 'x';
DELETE FROM privacy.audit_log;
TRUNCATE privacy.audit;
SELECT privacy.verify_audit() > 0 AS verified,
       privacy.verify_audit(privacy.audit_anchor()) > 0 AS verified_anchor;

DROP TABLE public."Loyalty", public."Events", public."Orders", public."Customer", public."Address";
DROP EXTENSION privacy;
DROP ROLE spec_plain;
