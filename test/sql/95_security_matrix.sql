-- The security boundary as a matrix (issue #9): a plain role that owns its
-- tables and one schema plants code of every kind (operators on its
-- search_path, domain CHECKs on the root key, a linked column and an FK
-- column, user casts, triggers, an index expression, a default, an RLS
-- policy, a view), then every function of privacy.* is called (by it, by an
-- officer, by an admin) and the worker runs under an ALTER DATABASE ... SET
-- search_path.  Afterwards: the role is no superuser, and the planted code
-- never ran as anyone but its owner.  A function of privacy.* that this
-- file does not call fails the last query: add its row.
CREATE EXTENSION privacy;
CREATE ROLE regress_evil;
CREATE ROLE regress_m_officer IN ROLE privacy_officer;
CREATE ROLE regress_m_admin IN ROLE privacy_admin;
CREATE SCHEMA evil AUTHORIZATION regress_evil;

-- what ran, as whom; the planted code also tries to become superuser
CREATE TABLE public.m_log (who name, su boolean, what text, fn text);
GRANT INSERT ON public.m_log TO PUBLIC;
CREATE TABLE public.m_covered (fn text);

SET ROLE regress_evil;
CREATE FUNCTION evil.pwn(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.m_log SELECT current_user, r.rolsuper, what,
		pg_catalog.current_setting('regress.fn', true)
	  FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
	BEGIN
		EXECUTE 'ALTER ROLE regress_evil SUPERUSER';
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	RETURN true;
END $$;
CREATE FUNCTION evil.pwn_imm(v text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM evil.pwn('index expression'); RETURN v; END $$;
CREATE FUNCTION evil.pwn_default() RETURNS int LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.pwn('default'); RETURN 0; END $$;
CREATE FUNCTION evil.pwn_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.pwn('trigger'); IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$;
-- operators on the caller's search_path
CREATE FUNCTION evil.eq_oid(a oid, b oid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.pwn('operator'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE FUNCTION evil.eq_text(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.pwn('operator'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE FUNCTION evil.eq_int4(a int4, b int4) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.pwn('operator'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE FUNCTION evil.eq_int8(a int8, b int8) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.pwn('operator'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE FUNCTION evil.eq_name(a name, b name) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.pwn('operator'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR evil.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = evil.eq_oid);
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq_text);
CREATE OPERATOR evil.= (LEFTARG = int4, RIGHTARG = int4, FUNCTION = evil.eq_int4);
CREATE OPERATOR evil.= (LEFTARG = int8, RIGHTARG = int8, FUNCTION = evil.eq_int8);
CREATE OPERATOR evil.= (LEFTARG = name, RIGHTARG = name, FUNCTION = evil.eq_name);
-- domains whose CHECK is planted code: root key, FK column, linked column
CREATE DOMAIN evil.pid AS int CHECK (evil.pwn('domain check'));
CREATE DOMAIN evil.fkid AS int CHECK (evil.pwn('domain check'));
CREATE DOMAIN evil.linkid AS text CHECK (evil.pwn('domain check'));
-- a user type with user casts (a linked column of that type)
CREATE TYPE evil.kind AS ENUM ('1', '2', '3', '4');
CREATE FUNCTION evil.int_kind(i int) RETURNS evil.kind LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.pwn('cast'); RETURN i::text::evil.kind; END $$;
CREATE FUNCTION evil.kind_int(k evil.kind) RETURNS int LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.pwn('cast'); RETURN k::text::int; END $$;
CREATE FUNCTION evil.kind_text(k evil.kind) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.pwn('cast'); RETURN pg_catalog.enum_out(k)::text; END $$;
CREATE CAST (int AS evil.kind) WITH FUNCTION evil.int_kind(int) AS ASSIGNMENT;
CREATE CAST (evil.kind AS int) WITH FUNCTION evil.kind_int(evil.kind) AS ASSIGNMENT;
CREATE CAST (evil.kind AS text) WITH FUNCTION evil.kind_text(evil.kind) AS ASSIGNMENT;

CREATE TABLE evil.cust (id evil.pid PRIMARY KEY, email text, nick text,
	created timestamptz DEFAULT now() - interval '3 years', d int DEFAULT evil.pwn_default());
CREATE TABLE evil.orders (id int PRIMARY KEY, cust evil.fkid REFERENCES evil.cust, note text,
	at timestamptz DEFAULT now() - interval '3 years');
CREATE INDEX ON evil.orders ((evil.pwn_imm(note)));
CREATE INDEX ON evil.orders (at);
-- constant parts the planner evaluates whenever it plans a statement on
-- the table, whoever plans it (session 12: retention's dependents were
-- planned as the extension owner)
CREATE INDEX ON evil.orders ((note || evil.pwn_imm('planner: index expression')));
CREATE STATISTICS evil.cust_stat ON (email || evil.pwn_imm('planner: statistics')) FROM evil.cust;
CREATE STATISTICS evil.orders_stat ON (note || evil.pwn_imm('planner: statistics')) FROM evil.orders;
CREATE TABLE evil.events (id int PRIMARY KEY, ref evil.linkid, at timestamptz DEFAULT now());
CREATE TABLE evil.tokens (id int PRIMARY KEY, tok evil.kind);
-- not linked: discover_links samples it (a domain with planted CHECK, an
-- index expression and statistics the planner evaluates)
CREATE TABLE evil.visits (id int PRIMARY KEY, mcust_id evil.fkid, cust_ref text);
CREATE INDEX ON evil.visits ((cust_ref || evil.pwn_imm('planner: index expression')));
CREATE STATISTICS evil.visits_stat ON (cust_ref || evil.pwn_imm('planner: statistics')) FROM evil.visits;
CREATE TRIGGER t BEFORE INSERT OR UPDATE OR DELETE ON evil.cust FOR EACH ROW EXECUTE FUNCTION evil.pwn_trigger();
CREATE TRIGGER t BEFORE INSERT OR UPDATE OR DELETE ON evil.orders FOR EACH ROW EXECUTE FUNCTION evil.pwn_trigger();
CREATE TRIGGER t BEFORE INSERT OR UPDATE OR DELETE ON evil.events FOR EACH ROW EXECUTE FUNCTION evil.pwn_trigger();
CREATE TRIGGER t BEFORE INSERT OR UPDATE OR DELETE ON evil.tokens FOR EACH ROW EXECUTE FUNCTION evil.pwn_trigger();
ALTER TABLE evil.orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE evil.orders FORCE ROW LEVEL SECURITY;
CREATE POLICY p ON evil.orders USING (evil.pwn('rls policy'));
CREATE VIEW evil.v AS SELECT c.id, evil.pwn('view') AS x FROM evil.cust c;
INSERT INTO evil.cust (id, email, nick) SELECT i, 'c' || i || '@example.org', 'n' || i FROM generate_series(1, 6) i;
INSERT INTO evil.orders (id, cust, note) SELECT i, i, 'note ' || i FROM generate_series(1, 6) i;
INSERT INTO evil.visits SELECT i, i, i::text FROM generate_series(1, 6) i;
INSERT INTO evil.events (id, ref) SELECT i, i::text FROM generate_series(1, 6) i;
INSERT INTO evil.tokens (id, tok) SELECT i, i::text::evil.kind FROM generate_series(1, 4) i;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA evil TO regress_m_admin, regress_m_officer;
RESET ROLE;
-- what the planting itself ran is not part of the verdict
TRUNCATE m_log;

-- call(role, fn, sql): run sql as role (the planting role gets its own
-- schema first on its search_path), record fn as covered, report the
-- SQLSTATE class only (the verdict is m_log, not the calls' results)
CREATE FUNCTION pg_temp.call(r text, fn text, q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.m_covered VALUES (fn);
	PERFORM pg_catalog.set_config('regress.fn', fn, false);
	BEGIN
		PERFORM pg_catalog.set_config('role', r, true);
		IF r = 'regress_evil' THEN
			PERFORM pg_catalog.set_config('search_path', 'evil, pg_catalog, public', true);
		END IF;
		EXECUTE q;
		PERFORM pg_catalog.set_config('role', 'none', true);
		PERFORM pg_catalog.set_config('search_path', '"$user", public', true);
		RETURN 'ok';
	EXCEPTION WHEN OTHERS THEN
		RETURN 'error';
	END;
END $$;

-- the admin maps the owner's tables
SELECT pg_temp.call('regress_m_admin', 'define_subject', $$SELECT privacy.define_subject('mcust', 'evil.cust')$$);
SELECT pg_temp.call('regress_m_admin', 'link', $$SELECT privacy.link('mcust', 'evil.events', 'ref')$$);
SELECT pg_temp.call('regress_m_admin', 'link', $$SELECT privacy.link('mcust', 'evil.tokens', 'tok')$$);
SELECT pg_temp.call('regress_m_admin', 'refresh_subject', $$SELECT privacy.refresh_subject('mcust')$$);
SELECT pg_temp.call('regress_m_admin', 'data_map', $$SELECT privacy.data_map('mcust')$$);
SELECT pg_temp.call('regress_m_admin', 'classify', $$SELECT privacy.classify('evil.cust', 'email', 'user.contact.email')$$);
SELECT pg_temp.call('regress_m_admin', 'classify', $$SELECT privacy.classify('evil.cust', 'nick', 'user.name', 'hash')$$);
SELECT pg_temp.call('regress_m_admin', 'classify', $$SELECT privacy.classify('evil.orders', 'note', 'user.content.private', 'hash')$$);
SELECT pg_temp.call('regress_m_admin', 'set_erasure_mode', $$SELECT privacy.set_erasure_mode('evil.orders', 'anonymize')$$);
SELECT pg_temp.call('regress_m_admin', 'set_erasure_mode', $$SELECT privacy.set_erasure_mode('evil.cust', 'anonymize')$$);
SELECT pg_temp.call('regress_m_admin', 'add_recipient', $$SELECT privacy.add_recipient('m_mailer', 'newsletter', ARRAY['user.contact.email'])$$);
SELECT pg_temp.call('regress_m_admin', 'discover', $$SELECT * FROM privacy.discover('evil.cust')$$);
SELECT pg_temp.call('regress_m_admin', 'discover', $$SELECT * FROM privacy.discover('evil.orders')$$);
SELECT pg_temp.call('regress_m_admin', 'discover_all', $$SELECT * FROM privacy.discover_all()$$);
SELECT pg_temp.call('regress_m_admin', 'discover_links', $$SELECT * FROM privacy.discover_links('mcust')$$);
SELECT pg_temp.call('regress_m_admin', 'apply_discovery', $$SELECT * FROM privacy.apply_discovery(0.99)$$);
SELECT pg_temp.call('regress_m_admin', 'protect', $$SELECT privacy.protect('evil.orders')$$);

-- the owner of the tables calls what it may, with its operators first
-- (its tables are mapped: only privacy_admin may put them under retention,
-- whose leftover rows would show it who is held; the admin does, and the
-- owner's code then runs in the policies' batches, as the owner)
SELECT pg_temp.call('regress_evil', 'add_retention', $$SELECT privacy.add_retention('evil.orders', 'at', '1 year', 'anonymize')$$);
SELECT pg_temp.call('regress_evil', 'add_retention', $$SELECT privacy.add_retention('evil.events', 'at', '1 year')$$);
SELECT pg_temp.call('regress_m_admin', 'add_retention', $$SELECT privacy.add_retention('evil.orders', 'at', '1 year', 'anonymize')$$);
SELECT pg_temp.call('regress_m_admin', 'add_retention', $$SELECT privacy.add_retention('evil.events', 'at', '1 year')$$);
SELECT pg_temp.call('regress_evil', 'retention_backlog', $$SELECT privacy.retention_backlog(1)$$);
SELECT pg_temp.call('regress_evil', 'retention_problem', $$SELECT privacy.retention_problem(1)$$);
SELECT pg_temp.call('regress_evil', '_wake_launcher', $$SELECT privacy._wake_launcher()$$);
SELECT pg_temp.call('regress_evil', 'pseudonym', $$SELECT privacy.pseudonym('guess')$$);
SELECT pg_temp.call('regress_evil', 'pseudonym', $$SELECT privacy.pseudonym('guess', 32, 'token')$$);
SELECT pg_temp.call('regress_evil', 'is_pseudonym', $$SELECT privacy.is_pseudonym('guess', 32, 'token')$$);
SELECT pg_temp.call('regress_evil', '_held', $$SELECT privacy._held('mcust', '1', 'token')$$);
SELECT pg_temp.call('regress_evil', '_held_keys', $$SELECT * FROM privacy._held_keys('mcust', 'token')$$);
SELECT pg_temp.call('regress_evil', '_restricted', $$SELECT privacy._restricted('mcust', 'evil.orders', 'evil.orders'::regclass, '(0,1)')$$);
SELECT pg_temp.call('regress_evil', '_citus_sync_protected', $$SELECT privacy._citus_sync_protected('{}', '{}')$$);
-- the mark of our statements on Citus tables: a constant, callable by
-- anyone (table owners run the statements that carry it)
SELECT pg_temp.call('regress_evil', '_quiet', $$SELECT privacy._quiet()$$);
-- the aggregate of access()'s arrays: anyone may arrange their own jsonb
-- with it; its steps run only inside an aggregate
SELECT pg_temp.call('regress_evil', '_rows', $$SELECT privacy._rows(j) FROM (VALUES ('{"a": 1}'::jsonb), (NULL), ('[2]'), ('3')) v(j)$$);
SELECT pg_temp.call('regress_evil', '_rows_step', $$SELECT privacy._rows_step(NULL, '{}')$$);
SELECT pg_temp.call('regress_evil', '_rows_final', $$SELECT privacy._rows_final(NULL)$$);
SELECT pg_temp.call('regress_evil', '_row', $$SELECT privacy._row(e.*) FROM evil.events e$$);
SELECT pg_temp.call('regress_evil', '_on_policy', $$SELECT privacy._on_policy()$$);
SELECT pg_temp.call('regress_evil', '_citus_on_drop_extension', $$SELECT privacy._citus_on_drop_extension()$$);
SELECT pg_temp.call('regress_evil', 'is_restricted', $$SELECT privacy.is_restricted('mcust', '1')$$);
SELECT pg_temp.call('regress_evil', 'verify_audit', $$SELECT privacy.verify_audit()$$);
SELECT pg_temp.call('regress_evil', 'drop_retention', $$SELECT privacy.drop_retention(2)$$);
SELECT pg_temp.call('regress_evil', 'run_retention', $$SELECT privacy.run_retention(1)$$);

-- an officer answers requests about the owner's subjects
SELECT pg_temp.call('regress_m_officer', 'receive_request', $$SELECT privacy.receive_request('access', 'mcust', '1')$$);
SELECT pg_temp.call('regress_m_officer', 'access', $$SELECT privacy.access('mcust', '1')$$);
SELECT pg_temp.call('regress_m_officer', 'export', $$SELECT privacy.export('mcust', '1')$$);
SELECT pg_temp.call('regress_m_officer', 'is_restricted', $$SELECT privacy.is_restricted('mcust', '1')$$);
SELECT pg_temp.call('regress_m_officer', 'restrict', $$SELECT privacy.restrict('mcust', '3', 'contested')$$);
SELECT pg_temp.call('regress_m_officer', 'unrestrict', $$SELECT privacy.unrestrict('mcust', '3')$$);
SELECT pg_temp.call('regress_m_officer', 'restrict', $$SELECT privacy.restrict('mcust', '4', 'contested')$$);
SELECT pg_temp.call('regress_m_officer', 'set_consent', $$SELECT privacy.set_consent('mcust', '1', 'newsletter', true)$$);
SELECT pg_temp.call('regress_m_officer', 'has_consent', $$SELECT privacy.has_consent('mcust', '1', 'newsletter')$$);
SELECT pg_temp.call('regress_m_officer', 'hold', $$SELECT privacy.hold('mcust', '5', 'litigation')$$);
SELECT pg_temp.call('regress_m_officer', 'erase', $$SELECT privacy.erase('mcust', '2', dry_run => true)$$);
SELECT pg_temp.call('regress_m_officer', 'erase', $$SELECT privacy.erase('mcust', '2')$$);
SELECT pg_temp.call('regress_m_officer', 'erasure_ledger', $$SELECT privacy.erasure_ledger()$$);
SELECT pg_temp.call('regress_m_officer', 'replay_erasures', $$SELECT privacy.replay_erasures(privacy.erasure_ledger())$$);
SELECT pg_temp.call('regress_m_officer', 'processing_record', $$SELECT privacy.processing_record()$$);
SELECT pg_temp.call('regress_m_officer', 'processing_record_markdown', $$SELECT privacy.processing_record_markdown()$$);
SELECT pg_temp.call('regress_m_officer', 'breach_report', $$SELECT privacy.breach_report(ARRAY['evil.cust', 'evil.orders', 'evil.events', 'evil.tokens']::regclass[])$$);
SELECT pg_temp.call('regress_m_officer', 'verify_audit', $$SELECT privacy.verify_audit(privacy.audit_anchor())$$);
SELECT pg_temp.call('regress_m_officer', 'audit_anchor', $$SELECT privacy.audit_anchor()$$);
-- the owner reads its own table: FORCE runs its policy and protect()'s
SELECT pg_temp.call('regress_evil', '_restricted', $$SELECT count(*) FROM evil.orders$$);
SELECT pg_temp.call('regress_m_officer', 'release_hold', $$SELECT privacy.release_hold('mcust', '5')$$);

-- the admin: retention, keys, encryption, the rest of the map
SELECT pg_temp.call('regress_m_admin', 'run_retention', $$SELECT privacy.run_retention()$$);
SELECT pg_temp.call('regress_m_admin', 'retention_backlog', $$SELECT privacy.retention_backlog(1)$$);
SELECT pg_temp.call('regress_m_admin', 'retention_problem', $$SELECT privacy.retention_problem(1)$$);
SELECT pg_temp.call('regress_m_admin', 'retention_status', $$SELECT count(*) FROM privacy.retention_status$$);
SELECT pg_temp.call('regress_m_admin', 'create_key', $$SELECT privacy.create_key('m_key')$$);
SELECT pg_temp.call('regress_m_admin', 'encrypt', $$SELECT privacy.encrypt('x', (SELECT max(id) FROM privacy.keys))$$);
SELECT pg_temp.call('regress_m_admin', 'decrypt', $$SELECT privacy.decrypt(privacy.encrypt('x', (SELECT max(id) FROM privacy.keys)), (SELECT max(id) FROM privacy.keys))$$);
SELECT pg_temp.call('regress_m_admin', 'blind_index', $$SELECT privacy.blind_index('x', (SELECT max(id) FROM privacy.keys))$$);
SELECT pg_temp.call('regress_m_admin', 'destroy_key', $$SELECT privacy.destroy_key((SELECT max(id) FROM privacy.keys))$$);
SELECT pg_temp.call('regress_m_admin', 'encrypt_column', $$SELECT privacy.encrypt_column('evil.cust', 'email', 'mcust')$$);
SELECT pg_temp.call('regress_m_officer', 'read_encrypted', $$SELECT privacy.access('mcust', '1')$$);
SELECT pg_temp.call('regress_m_admin', 'decrypt_column', $$SELECT privacy.decrypt_column('evil.cust', 'email')$$);
SELECT pg_temp.call('regress_m_admin', 'migrate_pgcrypto_column', $$SELECT privacy.migrate_pgcrypto_column('evil.cust', 'nick', 'k')$$);
SELECT pg_temp.call('regress_m_admin', 'rotate_root_key', $$SELECT privacy.rotate_root_key(NULL)$$);
SELECT pg_temp.call('regress_m_admin', 'unprotect', $$SELECT privacy.unprotect('evil.orders')$$);
SELECT pg_temp.call('regress_m_admin', 'declassify', $$SELECT privacy.declassify('evil.cust', 'nick')$$);
SELECT pg_temp.call('regress_m_admin', 'unlink', $$SELECT privacy.unlink('mcust', 'evil.tokens', 'tok')$$);

-- the worker, unattended, under a database-level search_path that the
-- database's owner could set: evil's operators first
SELECT pg_temp.call('regress_m_officer', 'erase', $$SELECT privacy.hold('mcust', '6', 'litigation')$$);
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = evil, pg_catalog, public', current_database()); END $$;
-- a worker connected before the setting is replaced by one that reads it
SELECT count(*) >= 0 AS restarted FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE backend_type = 'privacy retention worker' AND datname = current_database()) x;
SET ROLE regress_evil;
UPDATE evil.events SET at = now() - interval '5 years';
RESET ROLE;
SELECT pg_temp.call('regress_evil', 'add_retention', $$SELECT privacy.add_retention('evil.events', 'at', '1 year')$$);
SELECT pg_temp.call('regress_m_admin', 'add_retention', $$SELECT privacy.add_retention('evil.events', 'at', '1 year')$$);
DO $$
DECLARE n int := 0;
BEGIN
	-- the worker (naptime 1 s) deletes the expired events but the held one
	WHILE n < 300 AND (SELECT count(*) FROM evil.events) > 1 LOOP
		PERFORM pg_sleep(0.1);
		n := n + 1;
	END LOOP;
END $$;
SELECT count(*) AS events_left_after_worker FROM evil.events;
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET search_path', current_database()); END $$;
-- drop_subject refuses while holds or restrictions are active: lift them
UPDATE privacy.holds SET released_at = now() WHERE subject = 'mcust' AND released_at IS NULL;
DELETE FROM privacy.restrictions WHERE subject = 'mcust';
SELECT pg_temp.call('regress_m_admin', 'drop_subject', $$SELECT privacy.drop_subject('mcust')$$);

-- the verdict: the planting role is no superuser, its code never ran as
-- anyone else, and it did run (as its owner) during the calls
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_evil';
SELECT who, su, what, fn FROM m_log WHERE who <> 'regress_evil' OR su GROUP BY 1, 2, 3, 4;
SELECT what AS planted_code_ran_as_owner FROM m_log WHERE who = 'regress_evil' GROUP BY 1 ORDER BY 1;
-- every function of privacy.* is covered (internal ones run from the calls
-- above: triggers, event triggers and helpers)
SELECT p.proname AS not_covered
  FROM pg_proc p
 WHERE p.pronamespace = 'privacy'::regnamespace
   AND p.proname NOT IN (SELECT fn FROM m_covered)
   AND p.proname NOT IN ('_append_only', '_audit', '_audit_guard', '_check_table', '_crypto_on_drop',
						 '_invalidate', '_config_changed', '_link_lock', '_md_list', '_on_ddl', '_on_drop',
						 '_reconcile_columns', '_refresh_all', '_strategy_fits', '_hash_fits',
						 '_routing', '_citus_worker', '_citus_defer_drop', '_citus_resolve_drops',
						 '_on_rename', '_renamed_from', '_restore_dropped',
						 '_forget_tables', '_drop_link_trigger', '_lock_maps', '_link_key_hash', '_link_key',
						 '_root_keyring', '_crypto_follow_renames', '_crypto_on_alter', '_subject_key_attnum',
						 '_crypto_guard_key', '_crypto_on_trigger', '_is_ciphertext',
						 'encrypt_trigger', 'decrypted_view_trigger')
 ORDER BY 1;

-- cleanup
DROP SCHEMA evil CASCADE;
DROP TABLE m_log, m_covered;
DROP EXTENSION privacy;
DROP ROLE regress_evil, regress_m_officer, regress_m_admin;
