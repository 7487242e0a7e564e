-- Thousands of malformed calls: every one fails cleanly with a SQLSTATE of
-- the contract (never an internal error, never a crash), and changes nothing.
CREATE EXTENSION privacy;
CREATE TABLE m_customers (id bigint PRIMARY KEY, email text);
CREATE TABLE m_orders (id int PRIMARY KEY, customer_id bigint REFERENCES m_customers, note text);
INSERT INTO m_customers VALUES (1, 'a@example.org');
INSERT INTO m_orders VALUES (1, 1, 'x');
SELECT privacy.define_subject('m', 'm_customers');
SELECT privacy.classify('m_customers', 'email', 'user.contact.email');
CREATE TEMP TABLE outcome (fn text, state text);
SELECT setseed(0.42);
DO $$
DECLARE
	ids text[] := ARRAY['', ' ', 'abc', '-', '1e999', '99999999999999999999999', '1; DROP TABLE m_orders',
		'''', '"', E'\\', 'NaN', '0x1g', '１', 'null', '1.5', '--1', repeat('9', 500)];
	names text[] := ARRAY['', 'nobody', 'M', 'm ', 'm;', 'x''y', repeat('s', 200), 'm"'];
	cats text[] := ARRAY['', 'user', 'user.', 'USER.NAME', 'user.nope', 'x', 'user..name'];
	strategies text[] := ARRAY['', 'DELETE', 'nul', 'shred', 'hash', 'x'];
	calls text[];
	q text;
	i int;
	s text;
	pick text;
	rel text;
BEGIN
	FOR i IN 1..1500 LOOP
		s := names[1 + floor(random() * array_length(names, 1))::int];
		pick := ids[1 + floor(random() * array_length(ids, 1))::int];
		rel := (floor(random() * 5) + 1)::int::text;
		calls := ARRAY[
			format('SELECT privacy.access(%L, %L)', s, pick),
			format('SELECT privacy.access(%L, %L)', 'm', pick),
			format('SELECT privacy.export(%L, %L)', 'm', pick),
			format('SELECT privacy.erase(%L, %L)', 'm', pick),
			format('SELECT privacy.erase(%L, %L, NULL, true)', s, pick),
			format('SELECT privacy.hold(%L, %L, %L)', 'm', pick, s),
			format('SELECT privacy.release_hold(%L, %L)', s, pick),
			format('SELECT privacy.restrict(%L, %L, %L)', s, pick, ''),
			format('SELECT privacy.is_restricted(%L, %L)', 'm', pick),
			format('SELECT privacy.set_consent(%L, %L, %L, NULL)', 'm', pick, s),
			format('SELECT privacy.has_consent(%L, %L, %L)', s, pick, s),
			format('SELECT privacy.define_subject(%L, %s::oid::regclass)', s, rel),
			format('SELECT privacy.link(%L, %L, %L)', s, 'm_orders', s),
			format('SELECT privacy.classify(%L, %L, %L, %L)', 'm_orders', 'note',
				cats[1 + floor(random() * array_length(cats, 1))::int],
				strategies[1 + floor(random() * array_length(strategies, 1))::int]),
			format('SELECT privacy.classify(%s::oid::regclass, %L, %L)', rel, s, 'user.name'),
			format('SELECT privacy.set_erasure_mode(%L, %L)', 'm_orders', s),
			format('SELECT privacy.declassify(%L, %L)', 'm_orders', s),
			format('SELECT privacy.add_recipient(%L, %L, ARRAY[%L])', s, s,
				cats[1 + floor(random() * array_length(cats, 1))::int]),
			format('SELECT privacy.data_map(%L)', s),
			format('SELECT privacy.refresh_subject(%L)', s),
			format('SELECT privacy.replay_erasures(%L::jsonb)', '{"entries":[{"subject":' || to_json(s)::text || '}]}'),
			format('SELECT privacy.protect(%s::oid::regclass)', rel)
		];
		q := calls[1 + (i % array_length(calls, 1))];
		BEGIN
			EXECUTE q;
			INSERT INTO outcome VALUES (split_part(split_part(q, '(', 1), '.', 2), 'ok');
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO outcome VALUES (split_part(split_part(q, '(', 1), '.', 2), SQLSTATE);
		END;
	END LOOP;
END
$$;
SELECT count(*) AS calls FROM outcome;
-- only the contract's SQLSTATEs (42P01: an OID that is no relation)
SELECT state, count(*) > 0 AS seen FROM outcome GROUP BY state ORDER BY state;
SELECT fn, state FROM outcome WHERE state NOT IN ('ok', '42704', '42703', '22P02', '22023', '55000', '23503',
	'42501', '0A000', 'XX001', '42P01') GROUP BY 1, 2;
-- the data is intact (a few generated calls are valid, e.g. category "user")
SELECT (SELECT count(*) FROM m_customers) AS customers, (SELECT count(*) FROM m_orders) AS orders;
SELECT name FROM privacy.subjects ORDER BY 1;
SELECT table_name, column_name, category FROM privacy.classified_columns ORDER BY 1, 2;
SELECT privacy.verify_audit() > 0 AS chain_ok;
-- after a rights call in the same transaction, the extension's own errors
-- keep their message and detail, those of its PL/pgSQL functions too (only
-- others' are hidden: README, Logs)
BEGIN;
SELECT jsonb_typeof(privacy.access('m', '1')) AS access;
SELECT privacy.classify('pg_class', 'relname', 'user.name');
ROLLBACK;
BEGIN;
SELECT jsonb_typeof(privacy.access('m', '1')) AS access;
SELECT privacy.access('m', 'x');
ROLLBACK;
-- the application's own messages after a rights call are its own (a
-- RAISE of its DO block); a constraint's detail is hidden for the rest of
-- the transaction (a deferred constraint at commit can quote the erased rows)
DO $$
BEGIN
	PERFORM privacy.access('m', '1');
	RAISE NOTICE 'the application''s notice: % ms', 42;
END $$;
CREATE TABLE m_unique (v text UNIQUE DEFERRABLE INITIALLY DEFERRED);
BEGIN;
SELECT jsonb_typeof(privacy.access('m', '1')) AS access;
INSERT INTO m_unique VALUES ('m-secret-1'), ('m-secret-1');
COMMIT;
DROP TABLE m_unique;
-- every trigger and event-trigger function of the extension, called
-- directly by a plain role, fails with a clean error (no crash, no XX000)
CREATE ROLE m_direct LOGIN;
SET ROLE m_direct;
DO $$
DECLARE
	f regprocedure;
	st text;
BEGIN
	FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_type t ON t.oid = p.prorettype
			  WHERE p.pronamespace = 'privacy'::regnamespace
				AND t.typname IN ('trigger', 'event_trigger') ORDER BY p.proname
	LOOP
		BEGIN
			EXECUTE format('SELECT %s', f);
			RAISE NOTICE '% returned', f;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
			IF st IN ('XX000', 'XX001', 'XX002') THEN
				RAISE NOTICE '% failed with an internal error %', f, st;
			END IF;
		END;
	END LOOP;
END $$;
SELECT 'server alive' AS after_direct_trigger_calls;
RESET ROLE;
DROP ROLE m_direct;
-- NULL arguments of the PL/pgSQL functions are 22023 like the others
SELECT privacy.drop_subject(NULL);
SELECT privacy.unlink(NULL, 'm_orders', 'id');
SELECT privacy.unlink('m', NULL, 'id');
-- a damaged ledger is refused (22023), never replayed as an empty one
SELECT privacy.replay_erasures('{"entries": 5}');
SELECT privacy.replay_erasures('{"entries": {"a": 1}}');
SELECT privacy.replay_erasures('{"entries": [{"subject": 5, "subject_ref": "x"}]}');
SELECT privacy.replay_erasures('{"entries": [{"subject": "m", "subject_ref": ["x"]}]}');
SELECT privacy.replay_erasures('{"entries": [7]}');
SELECT privacy.replay_erasures('{"entries": []}') ->> 'entries' AS empty_ledger;
-- names the catalog indexes, 1 MB long: 22023 with a hint, never 54000
-- (free text that is not indexed, reasons and sources, is stored as given)
CREATE FUNCTION pg_temp.state(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	m text;
	h text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, h = PG_EXCEPTION_HINT;
	RETURN SQLSTATE || ': ' || left(m, 80) || coalesce(' (' || nullif(h, '') || ')', '');
END $$;
SELECT pg_temp.state($$SELECT privacy.set_consent('m', '1', repeat('p', 1048576), true)$$);
SELECT pg_temp.state($$SELECT privacy.set_consent('m', '1', repeat('é', 600000), true)$$);
SELECT pg_temp.state($$SELECT privacy.set_consent('m', '1', repeat('p', 2000), true, repeat('s', 1048576))$$);
SELECT privacy.has_consent('m', '1', repeat('p', 1048576));
SELECT pg_temp.state($$SELECT privacy.add_recipient(repeat('r', 1048576), 'x', ARRAY['user'])$$);
SELECT pg_temp.state($$SELECT privacy.create_key(repeat('k', 1048576))$$);
SELECT pg_temp.state($$SELECT privacy._audit('x', repeat('r', 1048576), NULL)$$);
SELECT pg_temp.state($$SELECT privacy.hold('m', '1', repeat('r', 1048576))$$);
SELECT pg_temp.state($$SELECT privacy.define_subject(repeat('s', 1048576), 'm_customers')$$);
-- a data key name in use: 22023 (was 23505), the hint names the view
SELECT privacy.create_key('m key') > 0 AS created;
SELECT pg_temp.state($$SELECT privacy.create_key('m key')$$);
-- purposes must be a one-dimensional array (a 2-D one was 0A000)
SELECT pg_temp.state($$SELECT privacy.classify('m_orders', 'note', 'user', purposes => '{{a,b},{c,d}}')$$);
SELECT pg_temp.state($$SELECT privacy.classify('m_orders', 'note', 'user', purposes => '{{{a}}}')$$);
SELECT pg_temp.state($$SELECT privacy.classify('m_orders', 'note', 'user', purposes => '{}')$$);
-- a breach deadline now() + deadline cannot hold: 22023 (was 22008)
SELECT pg_temp.state($$SELECT privacy.breach_report(ARRAY['m_orders'::regclass], '178000000 years')$$);
SELECT pg_temp.state($$SELECT privacy.breach_report(ARRAY['m_orders'::regclass], '2147483647 days')$$);
SELECT pg_temp.state($$SELECT privacy.breach_report(ARRAY['m_orders'::regclass], '100 years 1 day')$$);
SELECT privacy.breach_report(ARRAY['m_orders'::regclass], '100 years') ->> 'deadline' AS deadline;
-- a subject type whose keys encrypt columns: 55000 with a hint (was the
-- foreign key's 23503)
CREATE TABLE m_notes (id int PRIMARY KEY, customer_id bigint REFERENCES m_customers, body text);
SELECT privacy.encrypt_column('m_notes', 'body', 'm');
SELECT pg_temp.state($$SELECT privacy.drop_subject('m')$$);
SELECT privacy.decrypt_column('m_notes', 'body');
DROP TABLE m_notes;
-- a numeric key the link column's type cannot hold (NaN, Infinity to
-- bigint) matches no linked row (privacy._link_key: NULL); it was 0A000
CREATE TABLE m_acct (id numeric PRIMARY KEY, email text);
INSERT INTO m_acct VALUES ('NaN', 'n@example.org'), ('Infinity', 'i@example.org'), (7, 's@example.org');
CREATE TABLE m_acct_log (acct bigint, what text);
INSERT INTO m_acct_log VALUES (7, 'seven');
SELECT privacy.define_subject('macct', 'm_acct');
SET client_min_messages = warning;
SELECT privacy.link('macct', 'm_acct_log', 'acct');
RESET client_min_messages;
SELECT privacy._link_key(NULL::bigint, 'NaN'::numeric) IS NULL AS nan_is_null,
       privacy._link_key(NULL::int, '-Infinity'::numeric) IS NULL AS infinity_is_null;
SELECT privacy.erase('macct', 'NaN') -> 'tables' AS nan;
SELECT privacy.erase('macct', 'Infinity') -> 'tables' AS infinity;
SELECT privacy.erase('macct', '7') -> 'tables' AS seven;
SELECT privacy.drop_subject('macct');
DROP TABLE m_acct_log, m_acct;
DROP TABLE m_orders, m_customers;
DROP EXTENSION privacy;
