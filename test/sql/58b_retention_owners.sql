-- Retention (and erase's check of other subjects' holds) over a map whose
-- tables have different owners: each table is read as its own owner and the
-- keys cross owners as array parameters (the hold filter of a referenced
-- table, of a table two or more hops below another owner's, and of a
-- dependent whose tables above are another owner's).  Before, the hold
-- filter read the tables above as the policy table's (or the dependent's)
-- owner: 42501 on every retry, nothing deleted.
SET client_min_messages = warning;
CREATE EXTENSION privacy;
CREATE ROLE regress_ro_a;
CREATE ROLE regress_ro_b;
CREATE ROLE regress_ro_c;
CREATE ROLE regress_ro_admin IN ROLE privacy_admin;
CREATE SCHEMA ro;
GRANT USAGE ON SCHEMA ro TO PUBLIC;
-- what each table's own code saw: the role it ran as
CREATE TABLE ro.seen (tbl text, who name);
GRANT INSERT ON ro.seen TO PUBLIC;
CREATE FUNCTION ro.saw(tbl text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS
$$BEGIN INSERT INTO ro.seen VALUES (tbl, current_user); RETURN true; END$$;
CREATE FUNCTION ro.saw_delete() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO ro.seen VALUES (TG_TABLE_NAME || ' trigger', current_user); RETURN OLD; END$$;

-- 1. a referenced table (addresses, owner b) of a root of another owner (a),
--    which b may not read
CREATE TABLE ro.addresses (id int PRIMARY KEY, street text, updated date NOT NULL);
CREATE TABLE ro.customers (id int PRIMARY KEY, name text,
	address_id int REFERENCES ro.addresses ON DELETE SET NULL);
-- 3-level chain of three owners below the root: carts (b), orders (c), lines (a)
CREATE TABLE ro.carts (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES ro.customers);
CREATE TABLE ro.orders (id int PRIMARY KEY, cart_id int NOT NULL REFERENCES ro.carts, at date NOT NULL);
CREATE TABLE ro.lines (id int PRIMARY KEY, order_id int NOT NULL REFERENCES ro.orders, at date NOT NULL);
-- 2. dependents of another owner: sessions (a) has events (c, partitioned,
--    one leaf of b's) which have notes (b)
CREATE TABLE ro.sessions (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES ro.customers,
	at date NOT NULL);
CREATE TABLE ro.events (id int, kind text NOT NULL,
	session_id int NOT NULL REFERENCES ro.sessions ON DELETE CASCADE,
	viewer_id int REFERENCES ro.customers, PRIMARY KEY (id, kind)) PARTITION BY LIST (kind);
CREATE TABLE ro.events_click PARTITION OF ro.events FOR VALUES IN ('click');
CREATE TABLE ro.events_view PARTITION OF ro.events FOR VALUES IN ('view');
CREATE TABLE ro.notes (id int PRIMARY KEY, event_id int NOT NULL, event_kind text NOT NULL,
	FOREIGN KEY (event_id, event_kind) REFERENCES ro.events ON DELETE CASCADE);
-- 4. a partitioned policy table (a) with a leaf of b's
CREATE TABLE ro.visits (id int, customer_id int NOT NULL REFERENCES ro.customers, at date NOT NULL,
	PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE ro.visits_old PARTITION OF ro.visits FOR VALUES FROM ('1990-01-01') TO ('2010-01-01');
CREATE TABLE ro.visits_new PARTITION OF ro.visits FOR VALUES FROM ('2010-01-01') TO ('3000-01-01');
ALTER TABLE ro.visits OWNER TO regress_ro_a;
ALTER TABLE ro.visits_new OWNER TO regress_ro_a;
ALTER TABLE ro.visits_old OWNER TO regress_ro_b;
ALTER TABLE ro.customers OWNER TO regress_ro_a;
ALTER TABLE ro.addresses OWNER TO regress_ro_b;
ALTER TABLE ro.carts OWNER TO regress_ro_b;
ALTER TABLE ro.orders OWNER TO regress_ro_c;
ALTER TABLE ro.lines OWNER TO regress_ro_a;
ALTER TABLE ro.sessions OWNER TO regress_ro_a;
ALTER TABLE ro.events OWNER TO regress_ro_c;
ALTER TABLE ro.events_click OWNER TO regress_ro_c;
ALTER TABLE ro.events_view OWNER TO regress_ro_b;
ALTER TABLE ro.notes OWNER TO regress_ro_b;
-- each table's own code: a policy (forced on its owner: the guard refuses a
-- statement that would run it as another role) and a delete trigger, which
-- record the role they ran as
DO $$
DECLARE t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['customers', 'addresses', 'carts', 'orders', 'lines', 'sessions',
							 'events', 'events_click', 'events_view', 'notes', 'visits', 'visits_old',
							 'visits_new'] LOOP
		EXECUTE format('ALTER TABLE ro.%I ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format('ALTER TABLE ro.%I FORCE ROW LEVEL SECURITY', t);
		-- (a leaf of another owner than its partitioned table's: a trigger only,
		-- the guard refuses a read of the partitioned table when a leaf's policy
		-- of another role calls a user's function)
		IF t NOT IN ('events_view', 'visits_old') THEN
			EXECUTE format('CREATE POLICY mine ON ro.%I USING (ro.saw(%L))', t, t);
		END IF;
		IF t NOT IN ('events', 'visits') THEN
			EXECUTE format('CREATE TRIGGER saw BEFORE DELETE ON ro.%I FOR EACH ROW EXECUTE FUNCTION ro.saw_delete()', t);
		END IF;
	END LOOP;
END $$;
INSERT INTO ro.addresses VALUES (1, 'held', '2000-01-01'), (2, 'free', '2000-01-01'),
	(3, 'nobody''s', '2000-01-01'), (4, 'new', '2999-01-01');
INSERT INTO ro.customers VALUES (10, 'Held', 1), (20, 'Free', 2), (30, 'Other', 4);
INSERT INTO ro.carts VALUES (100, 10), (200, 20);
INSERT INTO ro.orders VALUES (1000, 100, '2000-01-01'), (2000, 200, '2000-01-01'),
	(2001, 200, '2999-01-01');
INSERT INTO ro.lines VALUES (1, 1000, '2000-01-01'), (2, 2000, '2000-01-01'), (3, 2001, '2000-01-01'),
	(4, 2001, '2999-01-01');
INSERT INTO ro.sessions VALUES (1, 10, '2000-01-01'), (2, 20, '2000-01-01'), (3, 30, '2000-01-01'),
	(4, 20, '2000-01-01'), (5, 30, '2999-01-01');
-- session 2 (Free's) has an event Held viewed: it stays; session 4 (Free's)
-- and 3 (Other's) go with their events and notes
INSERT INTO ro.events VALUES (1, 'click', 1, NULL), (2, 'view', 2, 10), (3, 'click', 2, NULL),
	(4, 'view', 3, NULL), (5, 'click', 3, 20), (6, 'view', 4, NULL), (7, 'click', 5, NULL);
INSERT INTO ro.notes VALUES (1, 2, 'view'), (2, 3, 'click'), (3, 4, 'view'), (4, 5, 'click'),
	(5, 6, 'view'), (6, 7, 'click');
INSERT INTO ro.visits VALUES (1, 10, '2000-01-01'), (2, 20, '2000-01-01'), (3, 20, '2011-01-01'),
	(4, 20, '2999-01-01');
TRUNCATE ro.seen;
SELECT privacy.define_subject('ro', 'ro.customers');
SELECT privacy.classify('ro.addresses', 'street', 'user.contact.address');
SELECT table_name, via FROM privacy.subject_tables WHERE subject = 'ro' ORDER BY 1::text;
-- no owner may read another's tables
SELECT r.rolname, c.relname FROM pg_roles r CROSS JOIN pg_class c
 WHERE r.rolname LIKE 'regress_ro_%' AND c.relnamespace = 'ro'::regnamespace AND c.relkind IN ('r', 'p')
   AND c.relname <> 'seen' AND has_table_privilege(r.oid, c.oid, 'SELECT') AND c.relowner <> r.oid;
SELECT privacy.hold('ro', '10', 'case 58b');
-- The worker runs too (naptime 1 s): each policy is added (by an admin) and
-- first run in one transaction, so the counts below are run_retention's.

-- 1a. the referenced table: Held's address stays, Free's goes (its customer
--     keeps a NULL), nobody's goes, the new one is not due
BEGIN;
SET LOCAL ROLE regress_ro_admin;
SELECT privacy.add_retention('ro.addresses', 'updated', '1 year') AS pa \gset
RESET ROLE;
SELECT privacy.run_retention(:pa) AS addresses_deleted;
COMMIT;
SELECT id, street FROM ro.addresses ORDER BY id;
SELECT id, address_id FROM ro.customers ORDER BY id;
SELECT rows, held, blocked, error FROM privacy.retention_runs WHERE policy = :pa ORDER BY id;
-- 1b. three owners above the lines (a): orders (c) and carts (b); Held's
--     line stays, Free's expired lines go
BEGIN;
SET LOCAL ROLE regress_ro_admin;
SELECT privacy.add_retention('ro.lines', 'at', '1 year') AS pl \gset
RESET ROLE;
SELECT privacy.run_retention(:pl) AS lines_deleted;
COMMIT;
SELECT id, order_id FROM ro.lines ORDER BY id;
SELECT rows, held, blocked, error FROM privacy.retention_runs WHERE policy = :pl ORDER BY id;
-- 1c. orders (c) below carts (b): Held's expired order stays, Free's goes
--     (its expired lines went in 1b), the other is not due
BEGIN;
SET LOCAL ROLE regress_ro_admin;
SELECT privacy.add_retention('ro.orders', 'at', '1 year') AS po \gset
RESET ROLE;
SELECT privacy.run_retention(:po) AS orders_deleted;
COMMIT;
SELECT id FROM ro.orders ORDER BY id;
SELECT rows, held, blocked, blocked_by, error FROM privacy.retention_runs WHERE policy = :po ORDER BY id;
-- 2. dependents of other owners: Held's session stays (held), Free's session
--    2 is blocked by the event Held viewed, sessions 3 and 4 go with exactly
--    their events and notes
BEGIN;
SET LOCAL ROLE regress_ro_admin;
SELECT privacy.add_retention('ro.sessions', 'at', '1 year') AS ps \gset
RESET ROLE;
SELECT privacy.run_retention(:ps) AS sessions_deleted;
COMMIT;
SELECT id FROM ro.sessions ORDER BY id;
SELECT id, kind, session_id FROM ro.events ORDER BY id;
SELECT id, event_id FROM ro.notes ORDER BY id;
SELECT rows, dependents, held, blocked, blocked_by, error FROM privacy.retention_runs
 WHERE policy = :ps ORDER BY id;
-- 2b. erase's check that no row it deletes is another held subject's reads
--     the same way (it failed with 42501 while any hold was active): Free's
--     erasure would delete the event Held viewed (55000, nothing erased),
--     Other's goes through
SELECT privacy.erase('ro', '20', dry_run => true);
SELECT privacy.erase('ro', '20');
SELECT t.key AS tbl, t.value -> 'deleted' AS deleted
  FROM privacy.erase('ro', '30') r, jsonb_each(r -> 'tables') t ORDER BY 1;
SELECT (SELECT array_agg(id ORDER BY id) FROM ro.customers) AS customers,
       (SELECT array_agg(id ORDER BY id) FROM ro.addresses) AS addresses,
       (SELECT array_agg(id ORDER BY id) FROM ro.sessions) AS sessions,
       (SELECT array_agg(id ORDER BY id) FROM ro.events) AS events,
       (SELECT array_agg(id ORDER BY id) FROM ro.notes) AS notes;
-- 4. the partitioned table's leaf of another owner is read and changed as
--    its owner (it failed with 42501 as the partitioned table's): Held's
--    visit stays, Free's expired visits go from both leaves
BEGIN;
SET LOCAL ROLE regress_ro_admin;
SELECT privacy.add_retention('ro.visits', 'at', '1 year') AS pv \gset
RESET ROLE;
SELECT privacy.run_retention(:pv) AS visits_deleted;
COMMIT;
SELECT tableoid::regclass AS leaf, id FROM ro.visits ORDER BY id;
SELECT rows, held, error FROM privacy.retention_runs WHERE policy = :pv ORDER BY id;
-- 3. each table's own code ran only as its owner, never as another role
SELECT s.tbl, s.who, count(*) > 0 AS ran FROM ro.seen s GROUP BY 1, 2 ORDER BY 1, 2;
SELECT s.tbl, s.who FROM ro.seen s
  JOIN pg_class c ON c.relname = regexp_replace(s.tbl, ' trigger$', '') AND c.relnamespace = 'ro'::regnamespace
 WHERE c.relowner <> s.who::regrole;
-- after the release, Held's rows go too
BEGIN;
SELECT privacy.release_hold('ro', '10');
SELECT privacy.run_retention(:pa) AS addresses_deleted, privacy.run_retention(:ps) AS sessions_deleted;
COMMIT;
SELECT id FROM ro.addresses ORDER BY id;
SELECT id FROM ro.sessions ORDER BY id;
SELECT t.key AS tbl, t.value -> 'deleted' AS deleted
  FROM privacy.erase('ro', '20') r, jsonb_each(r -> 'tables') t ORDER BY 1;

SELECT privacy.drop_retention(p) FROM (VALUES (:pa), (:pl), (:po), (:ps), (:pv)) v(p);
SELECT privacy.drop_subject('ro');
DROP SCHEMA ro CASCADE;
DROP ROLE regress_ro_a, regress_ro_b, regress_ro_c, regress_ro_admin;
DROP EXTENSION privacy;
