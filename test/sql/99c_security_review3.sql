-- Third security review (helper 6): the check of other held subjects in
-- erase (check_others_held) and the replay's use of it.
-- 1. A dry run that a trigger calls while replay_erasures erases a subject
--    took the replay's "other subject held" flag for its own: it returned
--    a NULL receipt to SQL (the backend crashed) and could make the replay
--    count as held a subject it had erased.  Now the dry run fails with
--    its own 55000 and the replay goes on.
-- 2. The hold filter of a referenced (outbound) table compares every held
--    key of the type with the map's path: through a link column of a type
--    of a table owner's (a domain with a CHECK, an enum with the owner's
--    cast) each held key went through the owner's code, which logged the
--    list of held subjects during any erasure (and any retention batch on
--    such a table).  Now the column's value is converted to the key, not
--    the keys to the column's type, and the keys are cast to the key's
--    base type.
-- 3. A table owner's FORCE ROW LEVEL SECURITY policy does not hide its
--    rows from the check; the 55000 names the table, never an id.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
SET client_min_messages = warning;
CREATE ROLE regress_r6_owner IN ROLE privacy_officer;
CREATE ROLE regress_r6_evil;
CREATE ROLE regress_r6_admin IN ROLE privacy_admin;

-- 1. a dry run from a trigger during a replay
CREATE SCHEMA r6n AUTHORIZATION regress_r6_owner;
SET ROLE regress_r6_owner;
CREATE TABLE r6n.customers (id int PRIMARY KEY, email text);
CREATE TABLE r6n.deals (id int PRIMARY KEY, buyer int REFERENCES r6n.customers, seller int REFERENCES r6n.customers);
CREATE TABLE r6n.notes (id int PRIMARY KEY, customer_id int REFERENCES r6n.customers, body text);
CREATE TABLE r6n.log (what text);
CREATE FUNCTION r6n.peek() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
	BEGIN
		r := privacy.erase('r6_customer', '2', dry_run => true);
		INSERT INTO r6n.log VALUES ('dry run: ' || (r IS NOT NULL));
	EXCEPTION WHEN OTHERS THEN
		INSERT INTO r6n.log VALUES ('dry run: ' || SQLSTATE);
	END;
	RETURN OLD;
END $$;
CREATE TRIGGER notes_peek BEFORE DELETE ON r6n.notes FOR EACH ROW EXECUTE FUNCTION r6n.peek();
INSERT INTO r6n.customers VALUES (1, 'a@example.org'), (2, 'b@example.org'), (3, 'c@example.org');
-- customer 2 shares deal 10 with customer 3
INSERT INTO r6n.deals VALUES (10, 2, 3);
INSERT INTO r6n.notes VALUES (100, 1, 'x');
RESET ROLE;
SELECT privacy.define_subject('r6_customer', 'r6n.customers');
SELECT privacy.classify('r6n.customers', 'email', 'user.contact.email');
SELECT privacy.classify('r6n.notes', 'body', 'user.content');
-- erase customer 1 (the trigger off), restore it, hold customer 3, replay
BEGIN;
ALTER TABLE r6n.notes DISABLE TRIGGER notes_peek;
SELECT privacy.erase('r6_customer', '1') -> 'tables' -> 'r6n.notes' AS notes;
ALTER TABLE r6n.notes ENABLE TRIGGER notes_peek;
COMMIT;
SELECT privacy.erasure_ledger() AS ledger \gset
INSERT INTO r6n.customers VALUES (1, 'a@example.org');
INSERT INTO r6n.notes VALUES (100, 1, 'x');
SELECT privacy.hold('r6_customer', '3', 'litigation');
SELECT pg_temp.err($$SELECT privacy.erase('r6_customer', '2', dry_run => true)$$) AS erase_2;
SET ROLE regress_r6_owner;
SELECT r ->> 'matched' AS matched, r ->> 'held' AS held, jsonb_array_length(r -> 'receipts') AS receipts
  FROM privacy.replay_erasures(:'ledger') r;
RESET ROLE;
-- customer 1 erased, its dry run of customer 2 refused (55000), nothing held
SELECT (SELECT count(*) FROM r6n.customers WHERE id = 1) AS customer_1,
       (SELECT count(*) FROM r6n.notes) AS notes, (SELECT count(*) FROM r6n.deals) AS deals;
TABLE r6n.log;
SELECT privacy.release_hold('r6_customer', '3');
SELECT privacy.drop_subject('r6_customer');
DROP SCHEMA r6n CASCADE;

-- 2. a table owner who owns a linked table and a table it references
CREATE TABLE public.r6_people (id int PRIMARY KEY, email text);
INSERT INTO public.r6_people SELECT g, 'p' || g || '@example.org' FROM generate_series(1, 8) g;
CREATE TABLE public.r6_seen (v text, who name);
GRANT INSERT ON public.r6_seen TO PUBLIC;
CREATE SCHEMA r6 AUTHORIZATION regress_r6_evil;
SET ROLE regress_r6_evil;
CREATE FUNCTION r6.spy(v text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.r6_seen VALUES (v, current_user); RETURN true; END $$;
-- a domain whose CHECK logs what it is given
CREATE DOMAIN r6.ref AS text CHECK (r6.spy(VALUE));
-- an enum with the owner's cast from integer
CREATE TYPE r6.tag AS ENUM ('1', '2', '3', '4', '5', '6', '7', '8');
CREATE FUNCTION r6.tag_of(i int) RETURNS r6.tag LANGUAGE plpgsql AS $$
BEGIN PERFORM r6.spy(i::text); RETURN i::text::r6.tag; END $$;
CREATE CAST (int AS r6.tag) WITH FUNCTION r6.tag_of(int);
CREATE TABLE r6.places (id int PRIMARY KEY, addr text, at timestamptz NOT NULL DEFAULT now() - interval '10 days');
CREATE TABLE r6.visits (id int PRIMARY KEY, person r6.ref, place_id int REFERENCES r6.places);
CREATE TABLE r6.tags (id int PRIMARY KEY, person r6.tag, place_id int REFERENCES r6.places);
INSERT INTO r6.places (id, addr) SELECT g, 'addr ' || g FROM generate_series(1, 8) g;
INSERT INTO r6.visits VALUES (1, '1', 1), (2, '2', 2), (3, '3', 3), (4, '4', 4);
INSERT INTO r6.tags VALUES (1, '5', 5), (2, '6', 6), (3, '7', 7), (4, '8', 8);
RESET ROLE;
SELECT privacy.define_subject('r6_person', 'public.r6_people');
SELECT privacy.link('r6_person', 'r6.visits', 'person');
SELECT privacy.link('r6_person', 'r6.tags', 'person');
SELECT privacy.classify('r6.places', 'addr', 'user.contact.address');
SELECT table_name, outbound FROM privacy.map WHERE subject = 'r6_person' ORDER BY 1;
-- held: 3 (a visit), 6 (a tag), 8 (a tag), 7 is not
SELECT privacy.hold('r6_person', '3', 'litigation');
SELECT privacy.hold('r6_person', '6', 'litigation');
SELECT privacy.hold('r6_person', '8', 'litigation');
TRUNCATE public.r6_seen;
-- erasing person 1 (visit 1, place 1) and person 5 (tag 1, place 5):
-- the places that go are checked against every held key
SELECT privacy.erase('r6_person', '1', dry_run => true) -> 'tables' -> 'r6.places' AS dry_run_1;
SELECT privacy.erase('r6_person', '1') -> 'tables' -> 'r6.places' AS erase_1;
SELECT privacy.erase('r6_person', '5') -> 'tables' -> 'r6.places' AS erase_5;
-- the owner's code saw no held key (it sees its own values, and the
-- erased subjects' keys, which every erasure statement on its table has)
SELECT v, count(*) FILTER (WHERE v IS NOT NULL) > 0 AS seen FROM public.r6_seen
 WHERE v IN ('3', '6', '8') GROUP BY v ORDER BY v;
-- the holds still keep their rows, through either link: retention on the
-- referenced table (as a member of privacy_admin) keeps the held subjects'
-- places, deletes the others'
TRUNCATE public.r6_seen;
GRANT USAGE ON SCHEMA r6 TO regress_r6_admin;
SET ROLE regress_r6_admin;
SELECT privacy.add_retention('r6.places', 'at', '1 day') AS p \gset
SELECT privacy.run_retention(:p) AS deleted;
RESET ROLE;
SELECT id FROM r6.places ORDER BY id;
SELECT count(*) AS held_keys_seen FROM public.r6_seen WHERE v IN ('3', '6', '8');
SELECT privacy.drop_retention(:p);

-- 3. FORCE ROW LEVEL SECURITY hides nothing from the check; the 55000
-- names the table, never a key
CREATE TABLE public.r6_deals (id int PRIMARY KEY, buyer int REFERENCES public.r6_people, seller int REFERENCES public.r6_people);
ALTER TABLE public.r6_deals OWNER TO regress_r6_evil;
GRANT REFERENCES ON public.r6_people TO regress_r6_evil;
SET ROLE regress_r6_evil;
INSERT INTO public.r6_deals VALUES (20, 2, 3);
ALTER TABLE public.r6_deals ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.r6_deals FORCE ROW LEVEL SECURITY;
CREATE POLICY hide ON public.r6_deals USING (false);
RESET ROLE;
SELECT privacy.define_subject('r6_person', 'public.r6_people');
\set VERBOSITY default
SELECT privacy.erase('r6_person', '2', dry_run => true);
SELECT privacy.erase('r6_person', '2');
\set VERBOSITY terse
SELECT count(*) AS deal_kept FROM public.r6_deals;
SELECT (SELECT count(*) FROM public.r6_people WHERE id = 2) AS person_2_kept;

SELECT privacy.release_hold('r6_person', k) FROM unnest(ARRAY['3', '6', '8']) k;
SELECT privacy.drop_subject('r6_person');
DROP SCHEMA r6 CASCADE;
DROP TABLE public.r6_deals, public.r6_people, public.r6_seen;
DROP EXTENSION privacy;
DROP ROLE regress_r6_owner;
DROP ROLE regress_r6_evil;
DROP ROLE regress_r6_admin;
