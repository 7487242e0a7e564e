-- Rights of access (Art. 15) and portability (Art. 20): the result shapes,
-- every path of the map, hostile identifiers, other key types, requests and
-- their deadlines, subject_ref; then invalid input and privileges.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

CREATE SCHEMA "App Data";
CREATE TABLE "App Data".addresses (id int PRIMARY KEY, street text);
CREATE TABLE "App Data"."Customers" ("Customer Id" bigint PRIMARY KEY, email text NOT NULL,
	name text, address_id int REFERENCES "App Data".addresses);
CREATE TABLE "App Data".orders (id int PRIMARY KEY, cust bigint REFERENCES "App Data"."Customers", total numeric);
CREATE TABLE "App Data".lines (order_id int REFERENCES "App Data".orders, n int, sku text, PRIMARY KEY (order_id, n));
CREATE TABLE "App Data".dms (id int PRIMARY KEY, from_c bigint REFERENCES "App Data"."Customers",
	to_c bigint REFERENCES "App Data"."Customers", body text);
CREATE TABLE "App Data".log (id serial PRIMARY KEY, who text, what text);
CREATE INDEX ON "App Data".log (who);
INSERT INTO "App Data".addresses VALUES (1, '1 Main St'), (2, '2 Shared Rd');
INSERT INTO "App Data"."Customers" VALUES (1, 'ann@example.org', 'Ann', 1), (2, 'bob@example.org', 'Bob', 2),
	(3, 'cy@example.org', 'Cy', 2);
INSERT INTO "App Data".orders VALUES (10, 1, 9.5), (11, 1, 20), (20, 2, 5);
INSERT INTO "App Data".lines VALUES (10, 1, 'A-1'), (10, 2, 'B-2'), (20, 1, 'C-3');
INSERT INTO "App Data".dms VALUES (1, 1, 2, 'hello Bob'), (2, 2, 1, 'hello Ann'), (3, 2, 3, 'hello Cy');
INSERT INTO "App Data".log (who, what) VALUES ('1', 'login'), ('2', 'login'), ('1', 'logout');

SELECT privacy.define_subject('customer', '"App Data"."Customers"');
SELECT privacy.link('customer', '"App Data".log', 'who');
SELECT privacy.classify('"App Data"."Customers"', 'email', 'user.contact.email',
	purposes => ARRAY['support'], legal_basis => 'contract');
SELECT privacy.classify('"App Data"."Customers"', 'name', 'user.name', portable => false,
	purposes => ARRAY['support', 'marketing'], legal_basis => 'consent');
SELECT privacy.classify('"App Data".addresses', 'street', 'user.contact.address.street');
SELECT privacy.classify('"App Data".dms', 'body', 'user.content.private');
SELECT privacy.add_recipient('Mailer', 'marketing', ARRAY['user.contact'], 'US');
SELECT privacy.add_recipient('Ledger', 'accounting', ARRAY['user.financial']);

-- access: every table that holds the subject's rows, all columns
SELECT jsonb_pretty(privacy.access('customer', '1') - 'generated_at');
-- each table's rows, counted
SELECT key, jsonb_array_length(value) FROM jsonb_each(privacy.access('customer', '2')->'data') ORDER BY 1;
-- the shared address is reported to each subject who references it
SELECT privacy.access('customer', '3')->'data'->'"App Data".addresses';
-- export: portable classified columns only
SELECT jsonb_pretty(privacy.export('customer', '1') - 'exported_at');
SELECT (privacy.export('customer', '1') ? 'exported_at') AS has_time;
-- an unknown id: empty data; ids are converted to the key type
SELECT privacy.access('customer', '999')->'data' AS unknown, privacy.access('customer', ' 01 ')->>'id' AS canonical;
-- every call is a request, due after privacy.request_deadline; no id in it
SET privacy.request_deadline = '45 days';
SELECT privacy.access('customer', '2') IS NOT NULL;
RESET privacy.request_deadline;
SELECT kind, subject, status, due_at - received_at AS deadline, completed_at IS NOT NULL AS done,
       length(subject_ref) AS ref_len FROM privacy.requests ORDER BY id;
SELECT count(DISTINCT subject_ref) AS distinct_refs FROM privacy.requests;
SELECT count(*) AS overdue FROM privacy.overdue_requests;
-- a request logged when it arrives: overdue once the deadline passes, and
-- completed by the rights call that answers it
SELECT privacy.receive_request('export', 'customer', '3', now() - interval '40 days') AS req \gset
SELECT kind, status, completed_at IS NULL AS open FROM privacy.overdue_requests;
SELECT privacy.export('customer', '3') IS NOT NULL AS answered;
SELECT id = :req AS same_request, status, completed_at IS NOT NULL AS done,
       due_at = received_at + interval '30 days' AS deadline_from_receipt
  FROM privacy.requests WHERE kind = 'export' ORDER BY id DESC LIMIT 1;
SELECT count(*) AS overdue_after FROM privacy.overdue_requests;
SELECT pg_temp.err($$SELECT privacy.receive_request('delete', 'customer', '3')$$);
SELECT pg_temp.err($$SELECT privacy.receive_request('erase', 'customer', 'x')$$);
SELECT pg_temp.err($$SELECT privacy.receive_request('erase', 'nobody', '3')$$);
SELECT pg_temp.err($$SELECT privacy.receive_request('erase', 'customer', '3', now() + interval '1 day')$$);
SELECT pg_temp.err($$SELECT privacy.receive_request(NULL, 'customer', '3')$$);
-- the same person gives the same subject_ref; requests and audit hold no id
SELECT count(*) AS leaks FROM privacy.audit_log WHERE detail::text LIKE '%ann@%' OR subject_ref IN ('1', '2');
SELECT action, subject_ref IS NOT NULL AS has_ref, detail ? 'request' AS has_request
  FROM privacy.audit_log WHERE action IN ('access', 'export') ORDER BY seq LIMIT 2;

-- uuid keys, and a link column of another type (text holding uuids)
CREATE TABLE accounts (id uuid PRIMARY KEY, handle text);
CREATE TABLE sessions (token text PRIMARY KEY, account_ref text, ip inet);
CREATE INDEX ON sessions (account_ref);
INSERT INTO accounts VALUES ('6f1c2d3e-0000-4000-8000-000000000001', 'alpha');
INSERT INTO sessions VALUES ('t1', '6f1c2d3e-0000-4000-8000-000000000001', '10.0.0.1'), ('t2', 'other', '10.0.0.2');
SELECT privacy.define_subject('account', 'accounts');
SELECT privacy.link('account', 'sessions', 'account_ref');
SELECT privacy.access('account', '6F1C2D3E-0000-4000-8000-000000000001')->'data';
SELECT pg_temp.err($$SELECT privacy.access('account', 'not-a-uuid')$$);

-- partitioned tables are reported as one table
CREATE TABLE payments (id int, cust bigint REFERENCES "App Data"."Customers", amount int) PARTITION BY RANGE (id);
CREATE TABLE payments_a PARTITION OF payments FOR VALUES FROM (0) TO (100);
CREATE TABLE payments_b PARTITION OF payments FOR VALUES FROM (100) TO (200);
INSERT INTO payments VALUES (1, 1, 10), (150, 1, 20), (151, 2, 30);
SELECT privacy.access('customer', '1')->'data'->'public.payments';

-- the plans are cached per backend and follow schema changes
ALTER TABLE "App Data".orders RENAME COLUMN total TO amount;
SELECT privacy.access('customer', '1')->'data'->'"App Data".orders';

-- invalid input
SELECT pg_temp.err($$SELECT privacy.access('customer', 'abc')$$);
SELECT pg_temp.err($$SELECT privacy.access('customer', '99999999999999999999999')$$);
SELECT pg_temp.err($$SELECT privacy.access('customer', '')$$);
SELECT pg_temp.err($$SELECT privacy.access('nobody', '1')$$);
SELECT pg_temp.err($$SELECT privacy.access(NULL, '1')$$);
SELECT pg_temp.err($$SELECT privacy.access('customer', NULL)$$);
SELECT pg_temp.err($$SELECT privacy.export('customer', 'abc')$$);
SELECT pg_temp.err($$SELECT privacy.export('nobody', '1')$$);
SELECT pg_temp.err($$SELECT privacy.export(NULL, NULL)$$);
-- an id that does not parse is never repeated in the message
SELECT pg_temp.err($$SELECT privacy.access('customer', 'secret-id-123')$$) LIKE '%secret-id%' AS leaks_id;
-- the failed calls recorded nothing
SELECT count(*) AS requests FROM privacy.requests;

-- privileges: access and export are for privacy_officer only
CREATE ROLE regress_app;
SET ROLE regress_app;
SELECT pg_temp.err($$SELECT privacy.access('customer', '1')$$);
SELECT pg_temp.err($$SELECT privacy.export('customer', '1')$$);
SELECT pg_temp.err($$SELECT * FROM privacy.requests$$);
RESET ROLE;
GRANT privacy_officer TO regress_app;
SET ROLE regress_app;
SELECT jsonb_array_length(privacy.access('customer', '1')->'data'->'"App Data".dms') AS officer_reads;
SELECT actor FROM privacy.requests ORDER BY id DESC LIMIT 1;
RESET ROLE;
DROP ROLE regress_app;

-- the configuration facts are cached with the map (issue 16): every change
-- to the rows behind them shows in the next answer, whether made by a
-- configuration function or by hand (another session: isolation spec
-- access_config_cache)
SELECT privacy.access('customer', '1') -> 'recipients' AS recipients_before;
SELECT privacy.add_recipient('Archive', 'archiving', ARRAY['user.content'], 'CH');
SELECT privacy.access('customer', '1') -> 'recipients' @> '[{"name": "Archive"}]' AS new_recipient_seen;
UPDATE privacy.recipients SET country = 'DE' WHERE name = 'Archive';
SELECT privacy.access('customer', '1') -> 'recipients' @> '[{"name": "Archive", "country": "DE"}]' AS hand_edit_seen;
SELECT privacy.access('customer', '1') -> 'categories' AS categories_before;
SELECT privacy.classify('"App Data".log', 'what', 'user.behavior');
SELECT privacy.access('customer', '1') -> 'categories' ? 'user.behavior' AS new_category_seen;
DELETE FROM privacy.classifications WHERE category = 'user.behavior';
SELECT privacy.access('customer', '1') -> 'categories' ? 'user.behavior' AS hand_delete_seen;
DELETE FROM privacy.recipients WHERE name = 'Archive';
SELECT privacy.access('customer', '1') -> 'recipients' @> '[{"name": "Archive"}]' AS removed_recipient_seen;
TRUNCATE privacy.recipients;
SELECT privacy.access('customer', '1') -> 'recipients' AS recipients_after_truncate;

DROP SCHEMA "App Data" CASCADE;
DROP TABLE accounts, sessions, payments;
DROP EXTENSION privacy;
