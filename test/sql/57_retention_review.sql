-- Retention findings of session 12's review: cascade => false blocks every
-- dependent (SPEC §4); a table owner's policy never deletes another role's
-- rows that a NO ACTION / RESTRICT key protects.
-- The worker runs too (naptime 1 s): each policy is added in the transaction
-- that runs it or changes its table, so the worker never acts first.
CREATE EXTENSION privacy;
-- cascade => false: an ON DELETE CASCADE dependent blocks its row too
CREATE TABLE rr_f0 (id int PRIMARY KEY, at timestamptz);
CREATE TABLE rr_fc (id int PRIMARY KEY, pid int REFERENCES rr_f0 ON DELETE CASCADE);
CREATE TABLE rr_fr (id int PRIMARY KEY, pid int REFERENCES rr_f0 ON DELETE RESTRICT);
INSERT INTO rr_f0 VALUES (1, now() - interval '10 days'), (2, now() - interval '10 days'),
	(3, now() - interval '10 days');
INSERT INTO rr_fc VALUES (1, 1);
INSERT INTO rr_fr VALUES (1, 2);
BEGIN;
SELECT privacy.add_retention('rr_f0', 'at', '1 day', cascade => false) AS a \gset
SELECT privacy.run_retention(:a);
COMMIT;
SELECT id FROM rr_f0 ORDER BY id;
SELECT id FROM rr_fc ORDER BY id;
SELECT rows, blocked FROM privacy.retention_runs WHERE policy = :a;
SELECT privacy.drop_retention(:a);

-- a hostile table owner backdates its rows and adds a policy: another
-- role's invoices that reference them through a NO ACTION key stay (its
-- own DELETE would fail on them); a CASCADE dependent goes, as PostgreSQL
-- itself would take it
CREATE ROLE regress_rr_hostile;
CREATE ROLE regress_rr_victim;
CREATE SCHEMA rr_h AUTHORIZATION regress_rr_hostile;
CREATE SCHEMA rr_v AUTHORIZATION regress_rr_victim;
GRANT USAGE ON SCHEMA rr_h TO regress_rr_victim;
SET ROLE regress_rr_hostile;
CREATE TABLE rr_h.base (id int PRIMARY KEY, at timestamptz);
INSERT INTO rr_h.base VALUES (1, now()), (2, now()), (3, now());
GRANT REFERENCES, SELECT ON rr_h.base TO regress_rr_victim;
RESET ROLE;
SET ROLE regress_rr_victim;
CREATE TABLE rr_v.invoices (id int PRIMARY KEY, base_id int REFERENCES rr_h.base, amount int);
CREATE TABLE rr_v.notes (id int PRIMARY KEY, base_id int REFERENCES rr_h.base ON DELETE CASCADE);
INSERT INTO rr_v.invoices VALUES (1, 1, 100), (2, 2, 200);
INSERT INTO rr_v.notes VALUES (1, 3);
RESET ROLE;
SET ROLE regress_rr_hostile;
DELETE FROM rr_h.base WHERE id = 1;		-- refused by PostgreSQL
BEGIN;
UPDATE rr_h.base SET at = now() - interval '10 years';
SELECT privacy.add_retention('rr_h.base', 'at', '1 day') AS h \gset
RESET ROLE;
SELECT privacy.run_retention(:h);
COMMIT;
SELECT count(*) AS invoices FROM rr_v.invoices;
SELECT count(*) AS notes FROM rr_v.notes;
SELECT id FROM rr_h.base ORDER BY id;
SELECT rows, blocked FROM privacy.retention_runs WHERE policy = :h;
SELECT privacy.drop_retention(:h);

DROP TABLE rr_v.notes, rr_v.invoices, rr_h.base, rr_fr, rr_fc, rr_f0;
DROP SCHEMA rr_v, rr_h;
DROP ROLE regress_rr_hostile, regress_rr_victim;
DROP EXTENSION privacy;

-- a dropped column is not taken for one added later under its name: the
-- policy reports its column gone (it deleted a row written now)
CREATE EXTENSION privacy;
CREATE TABLE rr_t2 (id int PRIMARY KEY, at timestamptz, x text);
INSERT INTO rr_t2 VALUES (1, now() - interval '10 days'), (2, now());
BEGIN;
SELECT privacy.add_retention('rr_t2', 'at', '1 day') AS p \gset
ALTER TABLE rr_t2 DROP COLUMN at;
ALTER TABLE rr_t2 ADD COLUMN at timestamptz DEFAULT '-infinity';
COMMIT;
SELECT privacy.retention_problem(:p);
SELECT privacy.run_retention();
SELECT count(*) FROM rr_t2;
CREATE TABLE rr_an (id int PRIMARY KEY, at timestamptz, email text, phone text, note text);
INSERT INTO rr_an VALUES (1, now() - interval '10 days', 'e', 'p', 'n');
BEGIN;
SELECT privacy.add_retention('rr_an', 'at', '1 day', 'anonymize', '{email,phone}') AS a \gset
ALTER TABLE rr_an DROP COLUMN phone;
ALTER TABLE rr_an RENAME COLUMN note TO phone;
COMMIT;
SELECT privacy.run_retention(:a);
SELECT email, phone FROM rr_an;
DROP TABLE rr_an, rr_t2;
DROP EXTENSION privacy;

-- a table owner without privacy_admin cannot put a mapped table under
-- retention (the rows a policy leaves show who is held); its policy on a
-- table that becomes mapped later stops with 42501, and a mapped dependent
-- of its policy blocks instead of showing holds
CREATE EXTENSION privacy;
CREATE ROLE regress_rr_owner;
CREATE TABLE rr_customers (id int PRIMARY KEY);
INSERT INTO rr_customers VALUES (1), (2), (3);
GRANT REFERENCES ON rr_customers TO regress_rr_owner;
CREATE SCHEMA rr_o AUTHORIZATION regress_rr_owner;
SELECT privacy.define_subject('rr_cust', 'rr_customers');
SELECT privacy.hold('rr_cust', '3', 'litigation');
SET ROLE regress_rr_owner;
CREATE TABLE rr_o.rr_probe (id int PRIMARY KEY, customer_id int REFERENCES rr_customers, at timestamptz);
INSERT INTO rr_o.rr_probe SELECT g, g, now() - interval '10 years' FROM generate_series(1, 3) g;
SELECT privacy.add_retention('rr_o.rr_probe', 'at', '1 day');
CREATE TABLE rr_o.rr_later (id int PRIMARY KEY, customer_id int, at timestamptz);
INSERT INTO rr_o.rr_later SELECT g, g, now() - interval '10 years' FROM generate_series(1, 3) g;
BEGIN;
SELECT privacy.add_retention('rr_o.rr_later', 'at', '1 day') AS pl \gset
ALTER TABLE rr_o.rr_later ADD FOREIGN KEY (customer_id) REFERENCES rr_customers;
COMMIT;
RESET ROLE;
SELECT privacy.run_retention(:pl);
SELECT privacy.retention_problem(:pl);
SELECT count(*) FROM rr_o.rr_later;
SELECT privacy.drop_retention(:pl);
-- the admin may, and the held customer's row stays
BEGIN;
SELECT privacy.add_retention('rr_o.rr_probe', 'at', '1 day') AS pp \gset
SELECT privacy.run_retention(:pp);
COMMIT;
SELECT customer_id FROM rr_o.rr_probe;
SELECT privacy.drop_retention(:pp);
SELECT privacy.release_hold('rr_cust', '3');
SELECT privacy.drop_subject('rr_cust');
DROP TABLE rr_o.rr_later, rr_o.rr_probe, rr_customers;
DROP SCHEMA rr_o;
DROP ROLE regress_rr_owner;
DROP EXTENSION privacy;

-- a partition mapped by itself (its own foreign key to the subject) under
-- a policy on its unmapped partitioned table: the held subject's row stays
CREATE EXTENSION privacy;
CREATE TABLE rr_cust (id int PRIMARY KEY);
INSERT INTO rr_cust SELECT generate_series(1, 3);
SELECT privacy.define_subject('rr_c', 'rr_cust');
SELECT privacy.hold('rr_c', '2', 'litigation');
CREATE TABLE rr_ev (cust int, at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE rr_ev_a PARTITION OF rr_ev FOR VALUES FROM ('2000-01-01') TO ('2001-01-01');
-- (the other partition keys the column to another table: a key on some
-- partitions only, with no other key on its columns, would be the
-- partitioned table's, test/sql/18c_partition_keys_review.sql)
CREATE TABLE rr_other (id int PRIMARY KEY);
INSERT INTO rr_other SELECT generate_series(1, 3);
ALTER TABLE rr_ev_a ADD FOREIGN KEY (cust) REFERENCES rr_other;
CREATE TABLE rr_ev_b (cust int REFERENCES rr_cust, at timestamptz NOT NULL);
ALTER TABLE rr_ev ATTACH PARTITION rr_ev_b FOR VALUES FROM ('2001-01-01') TO ('2100-01-01');
INSERT INTO rr_ev SELECT g, now() - interval '10 days' FROM generate_series(1, 3) g;
INSERT INTO rr_ev VALUES (2, '2000-06-01');
SELECT table_name FROM privacy.subject_tables WHERE subject = 'rr_c' ORDER BY 1;
BEGIN;
SELECT privacy.add_retention('rr_ev', 'at', '1 day') AS ep \gset
SELECT privacy.run_retention(:ep);
COMMIT;
SELECT tableoid::regclass AS part, cust FROM rr_ev ORDER BY 1, 2;
SELECT held FROM privacy.retention_runs WHERE policy = :ep;
SELECT privacy.drop_retention(:ep);
SELECT privacy.release_hold('rr_c', '2');
SELECT privacy.drop_subject('rr_c');
DROP TABLE rr_ev, rr_cust, rr_other;
DROP EXTENSION privacy;

-- one row whose change fails never stalls its policy: a table's trigger
-- that refuses one row of a thousand (a plain RAISE, P0001), and an
-- anonymize policy whose rewrite of one row breaks a CHECK (with a hashed
-- column, each row keeping its own pseudonym): the other rows change, the
-- failing row stays, counted as blocked, with one WARNING.  Before, the
-- batch failed as a whole, on every retry: the policy changed nothing.
CREATE EXTENSION privacy;
CREATE TABLE rr_inv (id int PRIMARY KEY, at timestamptz NOT NULL, settled boolean NOT NULL);
CREATE INDEX ON rr_inv (at);
INSERT INTO rr_inv SELECT g, now() - interval '10 days', g <> 500 FROM generate_series(1, 1000) g;
CREATE FUNCTION rr_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NOT OLD.settled THEN RAISE EXCEPTION 'invoice % is not settled', OLD.id; END IF; RETURN OLD; END $$;
CREATE TRIGGER rr_refuse BEFORE DELETE ON rr_inv FOR EACH ROW EXECUTE FUNCTION rr_refuse();
BEGIN;
SELECT privacy.add_retention('rr_inv', 'at', '1 day') AS pi \gset
SELECT privacy.run_retention(:pi) AS deleted;
COMMIT;
SELECT id FROM rr_inv;
SELECT rows, blocked, blocked_by, error FROM privacy.retention_runs WHERE policy = :pi;
CREATE TABLE rr_contacts (id int PRIMARY KEY, at timestamptz NOT NULL, email text, phone text,
	vip boolean NOT NULL, CONSTRAINT vip_reachable CHECK (email IS NOT NULL OR NOT vip));
INSERT INTO rr_contacts SELECT g, now() - interval '10 days', 'c' || g || '@example.org', 'p' || g, g = 3
  FROM generate_series(1, 5) g;
SELECT privacy.classify('rr_contacts', 'email', 'user.contact.email', 'null');
SELECT privacy.classify('rr_contacts', 'phone', 'user.contact.phone_number', 'hash');
BEGIN;
SELECT privacy.add_retention('rr_contacts', 'at', '1 day', 'anonymize') AS pc \gset
SELECT privacy.run_retention(:pc) AS anonymized;
COMMIT;
SELECT id, email, phone = privacy.pseudonym('p' || id) AS own_pseudonym, phone = 'p' || id AS phone_kept
  FROM rr_contacts ORDER BY id;
SELECT rows, blocked, blocked_by, error FROM privacy.retention_runs WHERE policy = :pc;
DROP TABLE rr_inv, rr_contacts;
DROP FUNCTION rr_refuse();
DROP EXTENSION privacy;

-- a policy's author that no longer exists (its tables reassigned, the role
-- dropped) is judged as it was when it added the policy: a table owner's
-- policy on a table mapped later still stops with 42501.  Before, an author
-- that no longer exists counted as an admin: the policy deleted the rows of
-- subjects not held, and the table's new owner read the holds off the rows
-- it left.
CREATE EXTENSION privacy;
CREATE ROLE regress_rr_gone;
CREATE ROLE regress_rr_heir;
CREATE TABLE rr_people (id int PRIMARY KEY);
INSERT INTO rr_people VALUES (1), (2);
GRANT REFERENCES ON rr_people TO regress_rr_gone;
SELECT privacy.define_subject('rr_person', 'rr_people');
SELECT privacy.hold('rr_person', '2', 'litigation') IS NOT NULL AS held;
CREATE TABLE rr_visits (id int PRIMARY KEY, person int, at timestamptz);
INSERT INTO rr_visits SELECT g, g, now() - interval '10 years' FROM generate_series(1, 2) g;
ALTER TABLE rr_visits OWNER TO regress_rr_gone;
SET ROLE regress_rr_gone;
BEGIN;
SELECT privacy.add_retention('rr_visits', 'at', '1 day') AS pv \gset
ALTER TABLE rr_visits ADD FOREIGN KEY (person) REFERENCES rr_people;
COMMIT;
RESET ROLE;
REASSIGN OWNED BY regress_rr_gone TO regress_rr_heir;
DROP OWNED BY regress_rr_gone;
DROP ROLE regress_rr_gone;
SELECT privacy.run_retention(:pv);
SELECT privacy.retention_problem(:pv);
SELECT count(*) AS visits_left FROM rr_visits;
-- an admin's policy still runs once its author is gone
CREATE ROLE regress_rr_admin IN ROLE privacy_admin;
BEGIN;
SET ROLE regress_rr_admin;
SELECT privacy.drop_retention(:pv);
SELECT privacy.add_retention('rr_visits', 'at', '1 day') AS pa \gset
RESET ROLE;
DROP ROLE regress_rr_admin;
SELECT privacy.run_retention(:pa) AS deleted;
COMMIT;
SELECT person FROM rr_visits;
SELECT privacy.drop_retention(:pa);
SELECT privacy.release_hold('rr_person', '2');
SELECT privacy.drop_subject('rr_person');
DROP TABLE rr_visits, rr_people;
DROP EXTENSION privacy;
DROP ROLE regress_rr_heir;
