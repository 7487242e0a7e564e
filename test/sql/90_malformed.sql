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
DROP TABLE m_orders, m_customers;
DROP EXTENSION privacy;
