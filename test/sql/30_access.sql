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
SELECT pg_temp.err($$SELECT privacy.receive_request('erase', 'customer', '3', '-infinity')$$);
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

-- the answers are assembled from the tables' serialized arrays, copied as
-- they are (src/jsonb_build.c), and the arrays by privacy._rows: the same
-- values as jsonb_agg and jsonb_build_object, byte for byte (the same text
-- and size), navigable: every kind of element (objects, arrays, strings of
-- every length mod 4, numerics that need padding, booleans, nulls, nested
-- containers), more than 32 elements (every 32nd entry holds an offset),
-- and keys sorted as jsonb sorts them
CREATE TEMP TABLE jv AS
SELECT g, CASE g % 7
	WHEN 0 THEN pg_catalog.jsonb_build_object('id', g, 'name', repeat('x', g % 5), 'n', g / 3.0, 'ok', g % 2 = 0, 'nothing', NULL::text)
	WHEN 1 THEN pg_catalog.to_jsonb(repeat('y', g % 9))
	WHEN 2 THEN pg_catalog.to_jsonb(g * 1.5)
	WHEN 3 THEN pg_catalog.to_jsonb(g % 2 = 0)
	WHEN 4 THEN 'null'::jsonb
	WHEN 5 THEN pg_catalog.jsonb_build_array(g, 'z', pg_catalog.jsonb_build_object('deep', pg_catalog.jsonb_build_array(1, 2.25, 'w')))
	ELSE NULL END AS j
  FROM generate_series(1, 200) g;
SELECT count(*) AS sizes, count(*) FILTER (WHERE a::text = b::text AND a = b AND pg_column_size(a) = pg_column_size(b)
	AND a -> (n - 1) IS NOT DISTINCT FROM b -> (n - 1) AND a -> 33 IS NOT DISTINCT FROM b -> 33
	AND (SELECT bool_and(x IS NOT DISTINCT FROM y) FROM jsonb_array_elements(a) WITH ORDINALITY p(x, i)
	       JOIN jsonb_array_elements(b) WITH ORDINALITY q(y, k) ON i = k)) AS equal
  FROM (SELECT n, (SELECT privacy._rows(j ORDER BY g) FROM jv WHERE g <= n) AS a,
               (SELECT jsonb_agg(j ORDER BY g) FROM jv WHERE g <= n) AS b
          FROM unnest(ARRAY[1, 2, 5, 31, 32, 33, 64, 65, 200]) n) s;
SELECT privacy._rows(j) IS NULL AS no_rows_is_null FROM jv WHERE false;
-- an answer with more than 32 tables: its "data" object, and the answer
-- around it, navigate as the object jsonb_build_object would make
CREATE SCHEMA wide;
CREATE TABLE wide.root (id int PRIMARY KEY);
INSERT INTO wide.root VALUES (1), (2);
DO $$
BEGIN
	FOR i IN 1 .. 40 LOOP
		EXECUTE format('CREATE TABLE wide.%I (id int PRIMARY KEY, root_id int REFERENCES wide.root, v text)', 't' || repeat('x', i % 6) || i);
		EXECUTE format('INSERT INTO wide.%I SELECT g, 2 - g %% 2, repeat(''v'', g) FROM generate_series(1, %s) g', 't' || repeat('x', i % 6) || i, i % 4 + 1);
	END LOOP;
END $$;
SELECT privacy.define_subject('wide', 'wide.root');
SELECT count(*) AS classified FROM (SELECT privacy.classify(c.oid::regclass, 'v', 'user.content.private')
	FROM pg_class c WHERE c.relnamespace = 'wide'::regnamespace AND c.relname LIKE 't%' AND c.relkind = 'r') s;
SELECT jsonb_typeof(a) AS answer, (SELECT count(*) FROM jsonb_object_keys(a -> 'data')) AS tables,
       a -> 'data' = (SELECT jsonb_object_agg(k, v) FROM jsonb_each(a -> 'data') e(k, v)) AS data_equal,
       (a -> 'data')::text = (SELECT jsonb_object_agg(k, v) FROM jsonb_each(a -> 'data') e(k, v))::text AS data_text_equal,
       a -> 'data' -> 'wide.txxxxx5' AS one_table, a ->> 'subject' AS subject, a -> 'restricted' AS restricted,
       (SELECT array_agg(k) FROM jsonb_object_keys(a) k) AS answer_keys,
       (SELECT array_agg(k ORDER BY length(k), k COLLATE "C") FROM jsonb_object_keys(a) k) = (SELECT array_agg(k) FROM jsonb_object_keys(a) k) AS keys_sorted
  FROM (SELECT privacy.access('wide', '1') AS a) s;
SELECT e -> 'tables' = (SELECT jsonb_object_agg(k, v) FROM jsonb_each(e -> 'tables') t(k, v)) AS export_equal,
       (e -> 'tables')::text = (SELECT jsonb_object_agg(k, v) FROM jsonb_each(e -> 'tables') t(k, v))::text AS export_text_equal,
       (SELECT count(*) FROM jsonb_object_keys(e -> 'tables')) AS export_tables, e -> 'tables' -> 'wide.txxxxx5' AS one_table,
       (SELECT array_agg(k) FROM jsonb_object_keys(e) k) AS export_keys
  FROM (SELECT privacy.export('wide', '2') AS e) s;
SELECT privacy.drop_subject('wide');
DROP SCHEMA wide CASCADE;
-- a row of the answer is privacy._row(t.*): to_jsonb's value, byte for
-- byte, for every type (integers, text, dates and times in a time zone with
-- a half-hour offset, and the rest through to_jsonb: numerics, floats,
-- json, arrays, domains, composites, inet, uuid, char), dropped columns,
-- odd column names; "t.*", so that a column named t is not taken for the row
CREATE DOMAIN pg_temp.posint AS int CHECK (VALUE > 0);
CREATE TYPE pg_temp.pair AS (x int, y text);
CREATE TEMP TABLE ty (i2 int2, i4 int, i8 bigint, t text, v varchar(5), b bool, d date, ts timestamp,
	tz timestamptz, n numeric, f float8, j jsonb, js json, a int[], "Weird ""key""" text, e text, ip inet,
	u uuid, c char(3), x int, dm pg_temp.posint, p pg_temp.pair);
ALTER TABLE ty DROP COLUMN x;
CREATE TYPE pg_temp.mood AS ENUM ('sad', 'happy');
CREATE DOMAIN pg_temp.money_amount AS numeric(10, 2);
CREATE DOMAIN pg_temp.label AS text;
ALTER TABLE ty ADD f4 float4, ADD o oid, ADD iv interval, ADD m money, ADD by bytea, ADD r int4range,
	ADD tv tsvector, ADD ch "char", ADD nm name, ADD pt point, ADD bt bit(3), ADD en pg_temp.mood,
	ADD dn pg_temp.money_amount, ADD dl pg_temp.label, ADD ta text[], ADD dr pg_temp.pair[];
INSERT INTO ty VALUES
 (-32768, -2147483648, -9223372036854775808, '', '', false, '-infinity', 'infinity', '2026-01-01 12:00:00.123456+05',
  'NaN', 'NaN', '5', '{"b":1,"a":[1,2]}', '{1,NULL,3}', 'é"\', NULL, '::1', '6f1c2d4e-0000-0000-0000-000000000000', 'ab', 1, (1, 'one')),
 (32767, 2147483647, 9223372036854775807, repeat('x', 3000), 'abcde', true, '2000-02-29', '1999-12-31 23:59:59.999999',
  'infinity', 1e-20, 1.5e300, '[1,"x",{"z":null}]', '"s"', '{}', '', 'y', '10.0.0.0/8', NULL, NULL, 7, (NULL, NULL)),
 (0, 0, 0, 'zero', NULL, NULL, NULL, NULL, NULL, -0.000, '-Infinity', 'null', 'null', NULL, NULL, NULL, NULL, NULL, 'abc', NULL, NULL),
 (NULL, 1, -1, NULL, NULL, NULL, '4713-01-01 BC', '294276-12-31 23:59:59', '1900-01-01 00:00:00+00', 123456789.123456789, 0,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO ty (i2, i4, i8, t, n, d, tz)
SELECT (g * 65)::int2, (g * 104729) % 2147483647, g::bigint * 9007199254740993 % 9223372036854775807,
       md5(g::text), g / 7.0, date '2000-01-01' + g, timestamptz '2020-03-08 01:59:59.5+00' + g * interval '37 minutes'
  FROM generate_series(-500, 500) g;
UPDATE ty SET f4 = i4 / 3.0, o = abs(i4::bigint)::oid, iv = (i4 % 100000) * interval '1 minute 1.5 second', m = i4 / 7.0,
	by = convert_to(coalesce(t, 'x'), 'UTF8'), r = int4range(i4 % 1000, i4 % 1000 + 5), tv = to_tsvector('simple', coalesce(t, 'a b')),
	ch = 'q', nm = coalesce(t, 'name'), pt = point(i4, i4 / -2), bt = B'101', en = CASE WHEN i4 % 2 = 0 THEN 'happy'::pg_temp.mood END,
	dn = (i4 % 1000) / 3.0, dl = 'label ' || i4, ta = ARRAY[t, 'b'], dr = ARRAY[(i4, t)::pg_temp.pair]
 WHERE i4 % 3 <> 1;
UPDATE ty SET f4 = 'NaN', m = -0.01 WHERE i8 = -9223372036854775808;
UPDATE ty SET f4 = '-Infinity' WHERE i8 = 9223372036854775807;
SELECT count(f4) AS floats, count(en) AS enums, count(dr) AS composite_arrays, count(m) AS money FROM ty;
SET TimeZone = 'America/St_Johns';
SET extra_float_digits = 3;
SELECT count(*) AS rows, count(*) FILTER (WHERE privacy._row(t.*)::text = pg_catalog.to_jsonb(t.*)::text
	AND privacy._row(t.*) = pg_catalog.to_jsonb(t.*)
	AND pg_column_size(privacy._row(t.*)) = pg_column_size(pg_catalog.to_jsonb(t.*))) AS same FROM ty t;
RESET TimeZone;
RESET extra_float_digits;
SELECT count(*) AS rows, count(*) FILTER (WHERE privacy._row(t.*)::text = pg_catalog.to_jsonb(t.*)::text) AS same FROM ty t;
SELECT privacy._row(t.*) ->> 't' AS column_t, privacy._row(t.*) -> 'p' AS composite FROM ty t WHERE i4 = 1 AND i2 IS NULL;
-- a record with repeated names keeps the last, as to_jsonb does
SELECT privacy._row(x.*)::text AS repeated_names, privacy._row(x.*)::text = pg_catalog.to_jsonb(x.*)::text AS same
  FROM (SELECT 1 AS a, 2 AS a, 'b' AS b, 3 AS a, 4 AS aa, 5 AS b) x;
CREATE TABLE tcol (id int PRIMARY KEY, t text, "T" int);
INSERT INTO tcol VALUES (1, 'a column named t', 5);
SELECT privacy.define_subject('tcol', 'tcol');
SELECT privacy.access('tcol', '1') -> 'data' -> 'public.tcol' AS whole_row;
SELECT privacy.drop_subject('tcol');
DROP TABLE tcol, ty;

DROP SCHEMA "App Data" CASCADE;
DROP TABLE accounts, sessions, payments;
DROP EXTENSION privacy;
