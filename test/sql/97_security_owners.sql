-- Tables of several owners in one data map (session 11's review): each
-- statement of the extension reads a table as that table's owner or under
-- policies made only of PostgreSQL's and the extension's functions; the
-- user code its statements call never inherits protect()'s bypass; the
-- rewrite of encrypt_column/decrypt_column runs as the table's owner.
CREATE EXTENSION privacy;
CREATE ROLE regress_o_app;
CREATE ROLE regress_o_mallory;
CREATE ROLE regress_o_officer IN ROLE privacy_officer;
CREATE SCHEMA app AUTHORIZATION regress_o_app;
CREATE SCHEMA mal AUTHORIZATION regress_o_mallory;
-- what planted code ran, as whom; it also tries to become superuser
CREATE TABLE public.ran (who name, su boolean, what text);
GRANT INSERT ON public.ran TO PUBLIC;
CREATE FUNCTION public.log_ran(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.ran SELECT current_user, rolsuper, what FROM pg_roles WHERE rolname = current_user;
	BEGIN EXECUTE 'ALTER ROLE regress_o_mallory SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
	RETURN true;
END $$;

SET ROLE regress_o_app;
CREATE TABLE app.addresses (id int PRIMARY KEY, street text);
CREATE TABLE app.customers (id int PRIMARY KEY, name text, address_id int REFERENCES app.addresses);
CREATE TABLE app.cards (id int PRIMARY KEY, customer int REFERENCES app.customers, holder text);
INSERT INTO app.addresses VALUES (1, 'street 1'), (2, 'street 2'), (3, 'street 3');
INSERT INTO app.customers VALUES (1, 'c1', 1), (2, 'c2', 2), (3, 'c3', 3), (4, 'c4', NULL);
INSERT INTO app.cards VALUES (10, 1, 'h1'), (20, 2, 'h2'), (30, 3, 'h3');
GRANT USAGE ON SCHEMA app TO regress_o_mallory;
GRANT REFERENCES ON app.addresses, app.customers TO regress_o_mallory;
GRANT SELECT ON app.cards TO regress_o_mallory;
RESET ROLE;
SELECT privacy.define_subject('customer', 'app.customers');
SELECT privacy.classify('app.addresses', 'street', 'user.contact.address');
SELECT privacy.classify('app.cards', 'holder', 'user.name');

-- 1. a row of mallory's table points to customer 2's address: the address
-- is retained when customer 2 is erased; mallory's RLS policy never runs
-- as the owner of the addresses (mallory's table is read as mallory)
SET ROLE regress_o_mallory;
CREATE TABLE mal.ptr (id int PRIMARY KEY, s int REFERENCES app.addresses);
INSERT INTO mal.ptr VALUES (1, 2);
ALTER TABLE mal.ptr ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON mal.ptr USING (public.log_ran('mallory''s policy'));
RESET ROLE;
SET ROLE regress_o_officer;
SELECT privacy.erase('customer', '2', dry_run => true) -> 'retained' AS retained_dry;
SELECT privacy.erase('customer', '2') -> 'tables' -> 'app.addresses' AS addresses;
SELECT privacy.erase('customer', '1') -> 'tables' -> 'app.addresses' AS addresses;
RESET ROLE;
SELECT id, street FROM app.addresses ORDER BY id;
SELECT who, su, what, count(*) FROM public.ran GROUP BY 1, 2, 3 ORDER BY 1, 3;

-- 2. app.cards has an RLS policy calling app's own function; mallory's
-- table, two hops from the root, is read as mallory with the keys of the
-- subject's cards as parameters: app's function never runs as mallory
-- (had a statement of the extension read app.cards as mallory, the guard
-- would refuse it, 42501, before the policy ran)
SET ROLE regress_o_app;
CREATE FUNCTION app.tenant_ok() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN public.log_ran('app''s policy'); END $$;
ALTER TABLE app.cards ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON app.cards USING (app.tenant_ok());
GRANT REFERENCES ON app.cards TO regress_o_mallory;
RESET ROLE;
SET ROLE regress_o_mallory;
CREATE TABLE mal.notes (id int PRIMARY KEY, card int REFERENCES app.cards, body text);
RESET ROLE;
INSERT INTO mal.notes VALUES (1, 30, 'note');
SELECT privacy.refresh_subject('customer');
TRUNCATE public.ran;
SET ROLE regress_o_officer;
\set VERBOSITY sqlstate
SELECT privacy.erase('customer', '3') IS NOT NULL AS erased;
\set VERBOSITY default
SELECT privacy.erase('customer', '3') IS NOT NULL AS erased;
RESET ROLE;
SELECT who, su, what FROM public.ran;
SELECT count(*) AS notes_kept FROM mal.notes;
-- a policy of PostgreSQL's functions only is no user code: the erasure runs
SET ROLE regress_o_app;
DROP POLICY everyone ON app.cards;
CREATE POLICY tenant ON app.cards USING (current_setting('app.tenant', true) IS NULL OR id > 0);
RESET ROLE;
SET ROLE regress_o_officer;
SELECT privacy.erase('customer', '3') -> 'tables' -> 'mal.notes' AS notes;
RESET ROLE;
SELECT count(*) AS notes_left FROM mal.notes;
SET ROLE regress_o_app;
DROP POLICY tenant ON app.cards;
ALTER TABLE app.cards DISABLE ROW LEVEL SECURITY;
RESET ROLE;

-- 3. protect()'s bypass is the extension's statement's, not the user code
-- it calls: mallory's trigger, fired by an erasure, counts the rows of a
-- restricted customer of app.cards that it can see (none)
SELECT privacy.protect('app.cards');
SELECT privacy.restrict('customer', '4', 'contested');
INSERT INTO app.cards VALUES (40, 4, 'h4');
INSERT INTO app.customers VALUES (5, 'c5', NULL);
INSERT INTO app.cards VALUES (50, 5, 'h5');
INSERT INTO mal.notes VALUES (5, 50, 'note of c5');
CREATE TABLE public.seen (who name, restricted_rows bigint);
GRANT INSERT ON public.seen TO PUBLIC;
SET ROLE regress_o_mallory;
SELECT count(*) AS mallory_sees_restricted FROM app.cards WHERE customer = 4;
CREATE FUNCTION mal.spy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.seen SELECT current_user, count(*) FROM app.cards WHERE customer = 4;
	RETURN OLD;
END $$;
CREATE TRIGGER spy BEFORE DELETE ON mal.notes FOR EACH ROW EXECUTE FUNCTION mal.spy();
RESET ROLE;
SET ROLE regress_o_officer;
SELECT privacy.erase('customer', '5') -> 'tables' -> 'mal.notes' AS notes;
RESET ROLE;
SELECT who, restricted_rows FROM public.seen;
-- the same trigger fired by retention (the worker's code) sees none either
TRUNCATE public.seen;
SET ROLE regress_o_mallory;
CREATE TABLE mal.log (id int PRIMARY KEY, at timestamptz);
INSERT INTO mal.log VALUES (1, now() - interval '3 years');
CREATE TRIGGER spy BEFORE DELETE ON mal.log FOR EACH ROW EXECUTE FUNCTION mal.spy();
RESET ROLE;
SELECT privacy.add_retention('mal.log', 'at', '1 year') AS log_policy \gset
SELECT privacy.run_retention(:log_policy) >= 0 AS ran;
DO $$
BEGIN
	FOR i IN 1..300 LOOP
		EXIT WHEN EXISTS (SELECT FROM public.seen);
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SELECT who, restricted_rows FROM public.seen;
SELECT privacy.drop_retention(:log_policy);
-- the officer's own access still sees the restricted customer's card
SET ROLE regress_o_officer;
SELECT privacy.access('customer', '4') -> 'data' -> 'app.cards' AS cards;
RESET ROLE;
-- the table's owner (row security not forced on it) sees every row, and
-- the policy's function tells it nothing about who is restricted
SET ROLE regress_o_app;
SELECT id, privacy._restricted('customer', 'app.cards', tableoid, ctid) AS restricted
  FROM app.cards ORDER BY id;
RESET ROLE;
SELECT privacy.unrestrict('customer', '4');

-- 4. encrypt_column and decrypt_column called by a superuser on mallory's
-- table: her trigger runs as her, and the view belongs to her
SET ROLE regress_o_mallory;
CREATE TABLE mal.secrets (id int PRIMARY KEY, holder text);
INSERT INTO mal.secrets VALUES (1, 'h1'), (2, NULL);
CREATE FUNCTION mal.trap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM public.log_ran('trigger ' || TG_OP); RETURN NEW; END $$;
CREATE TRIGGER trap BEFORE UPDATE ON mal.secrets FOR EACH ROW EXECUTE FUNCTION mal.trap();
RESET ROLE;
TRUNCATE public.ran;
SELECT privacy.encrypt_column('mal.secrets', 'holder');
SELECT pg_get_userbyid(relowner) AS view_owner FROM pg_class WHERE oid = 'mal.secrets_decrypted'::regclass;
SET ROLE regress_o_mallory;
INSERT INTO mal.secrets_decrypted (id, holder) VALUES (3, 'h3');
SELECT id, holder FROM mal.secrets_decrypted ORDER BY id;
RESET ROLE;
SELECT privacy.decrypt_column('mal.secrets', 'holder');
SELECT id, holder FROM mal.secrets ORDER BY id;
SELECT who, su, what, count(*) FROM public.ran GROUP BY 1, 2, 3 ORDER BY 1, 3;
-- a policy of the owner's own forced on the owner could hide rows from the
-- rewrite: refused
SET ROLE regress_o_mallory;
ALTER TABLE mal.secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE mal.secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON mal.secrets USING (id < 3);
RESET ROLE;
SELECT privacy.encrypt_column('mal.secrets', 'holder');
-- without it, the column is encrypted again (under its earlier key)
SET ROLE regress_o_mallory;
ALTER TABLE mal.secrets NO FORCE ROW LEVEL SECURITY;
RESET ROLE;
SELECT privacy.encrypt_column('mal.secrets', 'holder');
SELECT count(*) AS column_keys FROM privacy.data_keys WHERE name LIKE 'column:mal.secrets.%';
SELECT id, holder FROM mal.secrets_decrypted ORDER BY id;
SELECT rolsuper AS mallory_superuser FROM pg_roles WHERE rolname = 'regress_o_mallory';

-- 5. an anonymize-mode table of mallory's, who may only REFERENCE the
-- root, with a NO ACTION key: the erasure checks it without reading the
-- root as mallory (keys of the rows that go are passed to her table)
CREATE TABLE app.accounts (id int PRIMARY KEY, name text);
ALTER TABLE app.accounts OWNER TO regress_o_app;
INSERT INTO app.accounts VALUES (1, 'a1'), (2, 'a2');
GRANT REFERENCES ON app.accounts TO regress_o_mallory;
SET ROLE regress_o_mallory;
CREATE TABLE mal.orders (id int PRIMARY KEY, account int REFERENCES app.accounts, ship_to text);
RESET ROLE;
INSERT INTO mal.orders VALUES (1, 1, 'x'), (2, 2, 'y');
SELECT privacy.define_subject('account', 'app.accounts');
SELECT privacy.classify('mal.orders', 'ship_to', 'user.contact.address');
SELECT privacy.set_erasure_mode('mal.orders', 'anonymize');
SELECT privacy.erase('account', '1', dry_run => true) -> 'tables' AS dry;
SELECT privacy.erase('account', '1') -> 'tables' AS tables;
SET ROLE regress_o_mallory;
ALTER TABLE mal.orders DROP CONSTRAINT orders_account_fkey,
	ADD FOREIGN KEY (account) REFERENCES app.accounts ON DELETE SET NULL;
RESET ROLE;
SELECT privacy.refresh_subject('account');
SELECT privacy.erase('account', '1', dry_run => true) -> 'tables' AS dry;
SELECT privacy.erase('account', '1') -> 'tables' AS tables;
SELECT id, account, ship_to FROM mal.orders ORDER BY id;

-- 6. messages of user code that quote a value stay hidden inside the
-- extension: a name made of a value ('relation "..." does not exist',
-- 'unrecognized configuration parameter "..."'), a RAISE's hint, in the
-- client's error, and in what retention records
SET ROLE regress_o_mallory;
CREATE TABLE mal.leaky (id int PRIMARY KEY, account int REFERENCES app.accounts ON DELETE CASCADE,
	body text, at timestamptz);
CREATE FUNCTION mal.leak() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.id = 1 THEN PERFORM OLD.body::regclass; END IF;
	IF OLD.id = 2 THEN PERFORM current_setting(OLD.body); END IF;
	IF OLD.id = 3 THEN RAISE EXCEPTION 'failed' USING HINT = OLD.body; END IF;
	RETURN OLD;
END $$;
CREATE TRIGGER leak BEFORE DELETE ON mal.leaky FOR EACH ROW EXECUTE FUNCTION mal.leak();
RESET ROLE;
INSERT INTO mal.leaky VALUES (1, 2, 'secret-one', '2000-01-01');
SELECT privacy.refresh_subject('account');
SET ROLE regress_o_officer;
SELECT privacy.erase('account', '2');
RESET ROLE;
UPDATE mal.leaky SET id = 2, body = 'secret.two';
SET ROLE regress_o_officer;
SELECT privacy.erase('account', '2');
RESET ROLE;
UPDATE mal.leaky SET id = 3, body = 'secret-three';
SET ROLE regress_o_officer;
SELECT privacy.erase('account', '2');
RESET ROLE;
UPDATE mal.leaky SET id = 1, body = 'secret-one';
SELECT privacy.add_retention('mal.leaky', 'at', '1 year') AS leaky_policy \gset
SELECT privacy.run_retention(:leaky_policy) IS NOT NULL AS ran;
-- the worker records the failure
DO $$
BEGIN
	FOR i IN 1..300 LOOP
		EXIT WHEN EXISTS (SELECT FROM privacy.retention_status WHERE last_error IS NOT NULL);
		PERFORM pg_sleep(0.1);
		PERFORM pg_stat_clear_snapshot();
	END LOOP;
END $$;
SELECT last_error ~ 'secret' AS error_quotes, last_error FROM privacy.retention_status WHERE policy = :leaky_policy;
SELECT count(*) FILTER (WHERE error ~ 'secret') AS runs_quoting FROM privacy.retention_runs;

DROP SCHEMA mal CASCADE;
DROP SCHEMA app CASCADE;
DROP TABLE public.ran, public.seen;
DROP FUNCTION public.log_ran(text);
DROP EXTENSION privacy;
DROP ROLE regress_o_app, regress_o_mallory, regress_o_officer;
