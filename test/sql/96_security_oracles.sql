-- Security boundary, the parts that are not the escalation matrix (issue
-- #9 items 6, 7, 9, 12; #10 items 9, 10): the pseudonym and restriction
-- oracles, the row-security bypass after a caught error, protect() two hops
-- from the root, the subject_ref secret after a rolled-back first use, the
-- keyed audit chain and its anchor, owner search_path for application
-- triggers.
CREATE EXTENSION privacy;

-- #10 item 9: the first use of the secret is rolled back; this backend
-- must not keep a secret that exists nowhere else
CREATE TABLE members (id int PRIMARY KEY, email text);
INSERT INTO members VALUES (1, 'a@example.org'), (2, 'b@example.org'), (3, 'c@example.org');
BEGIN;
SELECT privacy.define_subject('member', 'members');
SELECT privacy.set_consent('member', '1', 'newsletter', true) IS NULL AS consent_in_rolled_back_xact;
ROLLBACK;
SELECT count(*) AS secret_rows_after_rollback FROM privacy.secret;
SELECT privacy.define_subject('member', 'members');
SELECT privacy.set_consent('member', '1', 'newsletter', true) IS NULL AS consent_set;
SELECT count(*) AS secret_rows_committed FROM privacy.secret;
-- another session computes the same subject_ref: it finds the consent
\c
SELECT privacy.has_consent('member', '1', 'newsletter') AS other_session_sees_consent;
SELECT privacy.verify_audit() > 0 AS chain_ok_after_rollback;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

-- item 6: pseudonym oracle
CREATE ROLE regress_sec_owner;
CREATE ROLE regress_sec_officer IN ROLE privacy_officer;
CREATE TABLE accounts (id int PRIMARY KEY, handle text);
CREATE TABLE guesses (guess text, pseudonym text);
GRANT INSERT ON guesses TO PUBLIC;
ALTER TABLE accounts OWNER TO regress_sec_owner;
ALTER TABLE guesses OWNER TO regress_sec_owner;
INSERT INTO accounts VALUES (1, 'alice'), (2, 'bob');
SELECT privacy.define_subject('account', 'accounts');
SELECT privacy.classify('accounts', 'handle', 'user.name', 'hash');
SELECT privacy.set_erasure_mode('accounts', 'anonymize');
-- a trigger of the table's owner tries to compute pseudonyms of guesses
-- while an erasure runs: with the old flag, and with a made-up token
CREATE FUNCTION oracle_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE ctx text; tok text;
BEGIN
	-- the text of the statements around the trigger is readable: the token
	-- must not be in it
	GET DIAGNOSTICS ctx = PG_CONTEXT;
	tok := substring(ctx from '([0-9a-f]{32})');
	INSERT INTO guesses VALUES ('token in context', CASE WHEN tok IS NULL THEN 'no' ELSE 'yes' END);
	IF tok IS NOT NULL THEN
		BEGIN
			INSERT INTO guesses VALUES ('erin', privacy.pseudonym('erin', 32, tok));
		EXCEPTION WHEN insufficient_privilege THEN
			INSERT INTO guesses VALUES ('erin', 'refused');
		END;
	END IF;
	BEGIN
		INSERT INTO guesses VALUES ('carol', privacy.pseudonym('carol'));
	EXCEPTION WHEN insufficient_privilege THEN
		INSERT INTO guesses VALUES ('carol', 'refused');
	END;
	BEGIN
		INSERT INTO guesses VALUES ('dave', privacy.pseudonym('dave', 32, repeat('0', 32)));
	EXCEPTION WHEN insufficient_privilege THEN
		INSERT INTO guesses VALUES ('dave', 'refused');
	END;
	RETURN NEW;
END $$;
ALTER FUNCTION oracle_trigger() OWNER TO regress_sec_owner;
CREATE TRIGGER oracle BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION oracle_trigger();
ALTER TABLE accounts OWNER TO regress_sec_owner;
SET ROLE regress_sec_officer;
SELECT privacy.erase('account', '1')->'tables' AS erased;
RESET ROLE;
SELECT guess, pseudonym FROM guesses ORDER BY guess;
-- the erasure itself did compute the pseudonym
SELECT handle ~ '^[0-9a-f]{32}$' AS rewritten FROM accounts WHERE id = 1;
-- outside any erasure, even with a token seen before: refused
SET ROLE regress_sec_owner;
SELECT pg_temp.err($$SELECT privacy.pseudonym('carol')$$);
SELECT pg_temp.err($$SELECT privacy.pseudonym('carol', 32, 'x')$$);
SELECT pg_temp.err($$SELECT privacy.is_pseudonym('carol', 32, 'x')$$);
SELECT pg_temp.err($$SELECT privacy._held('account', '2', 'x')$$);
SELECT pg_temp.err($$SELECT * FROM privacy._held_keys('account', 'x')$$);
RESET ROLE;

-- item 7 and #10 item 10: _restricted is no oracle, and protect() two hops
-- from the root changes nothing for readers of unrestricted rows
CREATE TABLE shops (id int PRIMARY KEY, name text);
CREATE TABLE baskets (id int PRIMARY KEY, shop int REFERENCES shops);
CREATE TABLE items (id int PRIMARY KEY, basket int REFERENCES baskets, what text);
INSERT INTO shops VALUES (1, 's1'), (2, 's2');
INSERT INTO baskets VALUES (10, 1), (20, 2);
INSERT INTO items VALUES (100, 10, 'pen'), (200, 20, 'ink');
SELECT privacy.define_subject('shop', 'shops');
SELECT table_name, depth FROM privacy.subject_tables WHERE subject = 'shop' ORDER BY depth;
SELECT privacy.protect('items');
CREATE ROLE regress_sec_reader;
GRANT SELECT ON items TO regress_sec_reader;  -- not baskets, not shops
SET ROLE regress_sec_reader;
SELECT id, what FROM items ORDER BY id;
RESET ROLE;
SELECT privacy.restrict('shop', '1', 'contested');
SET ROLE regress_sec_reader;
SELECT id, what FROM items ORDER BY id;
-- no oracle: the function takes a row, not a key, and only of a readable table
SELECT pg_temp.err($$SELECT privacy._restricted('shop', 'baskets', 'baskets'::regclass, '(0,1)')$$);
SELECT pg_temp.err($$SELECT privacy._restricted('shop', 'items', 'baskets'::regclass, '(0,1)')$$);
RESET ROLE;
SELECT proname, pg_get_function_identity_arguments(oid) AS args
  FROM pg_proc WHERE proname = '_restricted' AND pronamespace = 'privacy'::regnamespace;
SELECT privacy.unrestrict('shop', '1');

-- item 9: the row-security bypass does not survive an error caught in a
-- plpgsql EXCEPTION block (erase, and run_retention of a failing policy)
CREATE ROLE regress_sec_tabowner;
ALTER TABLE items ADD COLUMN at timestamptz DEFAULT now() - interval '2 years';
ALTER TABLE items OWNER TO regress_sec_tabowner;
GRANT SELECT ON baskets, shops TO regress_sec_tabowner;
SELECT privacy.protect('items', force => true);
SELECT privacy.restrict('shop', '1', 'contested');
-- (42501: an error of the whole policy; one row's error, such as a plain
-- RAISE, only blocks that row's deletion)
CREATE FUNCTION items_fail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'planted failure' USING ERRCODE = 'insufficient_privilege'; END $$;
CREATE TRIGGER items_fail BEFORE DELETE ON items FOR EACH ROW EXECUTE FUNCTION items_fail();
CREATE ROLE regress_sec_admin IN ROLE privacy_admin;
SELECT privacy.add_retention('items', 'at', '1 year') AS policy \gset
SET ROLE regress_sec_officer;
DO $$
BEGIN
	BEGIN
		PERFORM privacy.erase('shop', '2');
	EXCEPTION WHEN OTHERS THEN
		RAISE NOTICE 'erase caught: %', SQLERRM;
	END;
END $$;
-- as the owner, FORCE filters the restricted subject's row again
SET ROLE regress_sec_tabowner;
SELECT id FROM items ORDER BY id;
RESET ROLE;
BEGIN;
SET LOCAL ROLE regress_sec_admin;
DO $$
BEGIN
	BEGIN
		PERFORM privacy.run_retention((SELECT max(policy) FROM privacy.retention_policies));
		RAISE NOTICE 'run_retention returned';
	EXCEPTION WHEN OTHERS THEN
		RAISE NOTICE 'run_retention caught: %', SQLERRM;
	END;
END $$;
SET LOCAL ROLE regress_sec_officer;
DO $$
BEGIN
	BEGIN
		PERFORM privacy.erase('shop', '2');
	EXCEPTION WHEN OTHERS THEN
		RAISE NOTICE 'erase caught: %', SQLERRM;
	END;
END $$;
SET LOCAL ROLE regress_sec_tabowner;
SELECT id AS same_transaction FROM items ORDER BY id;
COMMIT;
DROP TRIGGER items_fail ON items;
SELECT privacy.drop_retention(:policy);

-- owner search_path: an application trigger with unqualified names works
-- during erase; a third party's schema that the owner does not trust is not
-- on its path
CREATE ROLE regress_sec_app;
CREATE ROLE regress_sec_third;
CREATE SCHEMA app AUTHORIZATION regress_sec_app;
CREATE SCHEMA third AUTHORIZATION regress_sec_third;
GRANT USAGE ON SCHEMA third TO PUBLIC;
ALTER ROLE regress_sec_app SET search_path = app, public;
SET ROLE regress_sec_app;
CREATE TABLE app.people (id int PRIMARY KEY, name text);
CREATE TABLE app.deleted_records (tbl text, id int);
CREATE FUNCTION app.record_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO deleted_records VALUES (TG_TABLE_NAME, OLD.id); RETURN OLD; END $$;
CREATE TRIGGER record_delete AFTER DELETE ON app.people FOR EACH ROW EXECUTE FUNCTION app.record_delete();
INSERT INTO app.people VALUES (1, 'p1'), (2, 'p2');
RESET ROLE;
SET ROLE regress_sec_third;
CREATE TABLE third.deleted_records (tbl text, id int);
GRANT INSERT ON third.deleted_records TO PUBLIC;
RESET ROLE;
SELECT privacy.define_subject('person', 'app.people');
SET search_path = third, public;
SET ROLE regress_sec_officer;
SELECT privacy.erase('person', '1')->'tables' AS erased_with_app_trigger;
RESET ROLE;
RESET search_path;
-- and during retention (run_retention as an admin)
ALTER TABLE app.people ADD COLUMN at timestamptz DEFAULT now() - interval '2 years';
CREATE INDEX ON app.people (at);
BEGIN;  -- the worker must not see the policy before this run
SELECT privacy.add_retention('app.people', 'at', '1 year') AS people_policy \gset
SET LOCAL search_path = third, public;
SET LOCAL ROLE regress_sec_admin;
SELECT privacy.run_retention(:people_policy) AS retention_with_app_trigger;
COMMIT;
SELECT * FROM app.deleted_records ORDER BY id;
SELECT count(*) AS third_party_rows FROM third.deleted_records;

-- item 12: the keyed chain and its anchor
SET ROLE regress_sec_officer;
SELECT privacy.verify_audit() > 0 AS chain_ok;
RESET ROLE;
CREATE TEMP TABLE anchor AS SELECT privacy.audit_anchor() AS a;
SELECT (a->>'seq')::bigint = (SELECT max(seq) FROM privacy.audit_log) AS anchor_is_head,
	   a ? 'mac' AS has_mac FROM anchor;
SELECT privacy.verify_audit((SELECT a FROM anchor)) > 0 AS anchor_verifies;
SELECT privacy.restrict('member', '2', 'later entry');
SELECT privacy.verify_audit((SELECT a FROM anchor)) > 0 AS later_log_extends_anchor;
-- a forged anchor
SELECT pg_temp.err(format('SELECT privacy.verify_audit(%L::jsonb)',
	(SELECT jsonb_set(a, '{seq}', to_jsonb((a->>'seq')::bigint - 1)) FROM anchor)));
SELECT pg_temp.err($$SELECT privacy.verify_audit('{"seq": 1}')$$);
-- a superuser rewrites an entry (recomputing needs the chain key, which SQL
-- cannot use: the entry's MAC no longer matches)
ALTER TABLE privacy.audit DISABLE TRIGGER audit_append_only;
CREATE TEMP TABLE saved AS SELECT seq, detail FROM privacy.audit WHERE seq = 2;
UPDATE privacy.audit SET detail = '{"forged": true}' WHERE seq = 2;
SELECT pg_temp.err('SELECT privacy.verify_audit()');
UPDATE privacy.audit a SET detail = s.detail FROM saved s WHERE a.seq = s.seq;
SELECT privacy.verify_audit() > 0 AS restored;
-- marking later entries as 0.1.0 (unkeyed) is a downgrade: refused
CREATE TEMP TABLE chain_saved AS SELECT seq, chain FROM privacy.audit;
UPDATE privacy.audit SET chain = NULL WHERE seq > 3;
SELECT pg_temp.err('SELECT privacy.verify_audit()');
-- and with every entry marked unkeyed, the anchor still catches it
UPDATE privacy.audit SET chain = NULL;
SELECT pg_temp.err(format('SELECT privacy.verify_audit(%L::jsonb)', (SELECT a FROM anchor)));
UPDATE privacy.audit a SET chain = s.chain FROM chain_saved s WHERE a.seq = s.seq;
ALTER TABLE privacy.audit ENABLE TRIGGER audit_append_only;
SELECT privacy.verify_audit((SELECT a FROM anchor)) > 0 AS restored_again;

-- the chain's key is one SQL cannot read: with a root key loaded the chain
-- is version 2, keyed from a data key wrapped under the root key (the head
-- names it), not from privacy.secret, which a superuser can read
SELECT count(*) FILTER (WHERE chain = 2) > 0 AS root_keyed_entries,
	   count(*) FILTER (WHERE chain = 2 AND seq < (SELECT min(seq) FROM privacy.audit WHERE chain = 2)) AS v2_gaps
  FROM privacy.audit;
SELECT k.name, k.state, k.subject IS NULL AS no_subject, k.root_version IS NOT NULL AS wrapped
  FROM privacy.audit_head h JOIN privacy.keys k ON k.id = h.key_id;
SELECT (SELECT a FROM anchor) ->> 'v' AS anchor_version;
-- claiming the later entries were keyed by the secret is a downgrade
ALTER TABLE privacy.audit DISABLE TRIGGER audit_append_only;
UPDATE privacy.audit SET chain = 1 WHERE chain = 2 AND seq > (SELECT min(seq) FROM privacy.audit WHERE chain = 2);
SELECT pg_temp.err('SELECT privacy.verify_audit()');
UPDATE privacy.audit SET chain = 2 WHERE chain = 1 AND seq > (SELECT min(seq) FROM privacy.audit WHERE chain = 2);
ALTER TABLE privacy.audit ENABLE TRIGGER audit_append_only;
-- dropping the key from the head (as if the chain had never been keyed)
-- breaks verification instead of silently re-keying
SELECT key_id AS audit_key_id FROM privacy.audit_head \gset
UPDATE privacy.audit_head SET key_id = NULL;
SELECT pg_temp.err('SELECT privacy.verify_audit()');
SELECT pg_temp.err(format('SELECT privacy.verify_audit(%L::jsonb)', (SELECT a FROM anchor)));
UPDATE privacy.audit_head SET key_id = :audit_key_id;
-- the key cannot be destroyed, and its name cannot be taken
SET ROLE regress_sec_admin;
SELECT regexp_replace(pg_temp.err(format('SELECT privacy.destroy_key(%s)', :audit_key_id)), '[0-9]+', 'N', 'g') AS destroy_audit_key;
SELECT pg_temp.err($$SELECT privacy.create_key('privacy:audit')$$);
RESET ROLE;
SELECT privacy.verify_audit((SELECT a FROM anchor)) > 0 AS verifies_after_all;

DROP SCHEMA app CASCADE;
DROP SCHEMA third CASCADE;
DROP TABLE members, accounts, guesses, items, baskets, shops;
DROP EXTENSION privacy;
DROP FUNCTION oracle_trigger(), items_fail();
DROP ROLE regress_sec_owner, regress_sec_officer, regress_sec_reader, regress_sec_tabowner,
	regress_sec_app, regress_sec_third, regress_sec_admin;
