-- A policy's run never loses sight of the holds of its table's subject types
-- (retention.subjects): after a restore (privacy.map is not dumped: the map
-- is computed before any row is judged) and while a foreign key is missing
-- (dropped by a migration, or not created yet by a restore in progress) the
-- run fails with 55000 before it deletes anything.
CREATE EXTENSION privacy;
SET client_min_messages = warning;
CREATE TABLE customers (id int PRIMARY KEY);
CREATE TABLE events (id int PRIMARY KEY, customer_id int CONSTRAINT events_customer REFERENCES customers,
                     at timestamptz NOT NULL);
CREATE TABLE logs (id int PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO customers SELECT g FROM generate_series(1, 4) g;
SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.hold('customer', '2', 'litigation') IS NOT NULL AS held;
SELECT privacy.add_retention('events', 'at', '10 days') AS pe \gset
SELECT privacy.add_retention('logs', 'at', '10 days') AS pl \gset
SELECT policy = :pe AS is_events, subjects FROM privacy.retention_policies ORDER BY policy;

-- (the worker runs too, naptime 1 s: each step below changes the data and
-- runs the policy in one transaction, so the worker never sees a state the
-- test has not judged yet)
-- the map as after a restore: not computed (the held rows must stay)
BEGIN;
INSERT INTO events SELECT g, 1 + g % 4, now() - interval '30 days' FROM generate_series(1, 8) g;
DELETE FROM privacy.map;
SELECT privacy.run_retention(:pe) AS deleted_after_restore;
COMMIT;
SELECT array_agg(id ORDER BY id) AS events_left, count(*) FILTER (WHERE customer_id = 2) AS held_left FROM events;
SELECT count(*) > 0 AS map_computed FROM privacy.map WHERE subject = 'customer';

-- the foreign key dropped (a migration, or a restore before its post-data):
-- 55000, nothing deleted, the status shows why
BEGIN;
INSERT INTO events SELECT 100 + g, 1 + g % 4, now() - interval '30 days' FROM generate_series(1, 8) g;
ALTER TABLE events DROP CONSTRAINT events_customer;
COMMIT;
SELECT count(*) AS in_map FROM privacy.subject_tables WHERE table_name = 'events'::regclass;
\set VERBOSITY default
SELECT privacy.run_retention(:pe);
\set VERBOSITY terse
SELECT count(*) AS events_kept FROM events WHERE id > 100;
SELECT policy = :pe AS is_events, error IS NOT NULL AS has_error FROM privacy.retention_status ORDER BY policy;
-- the other policy is not affected
BEGIN;
INSERT INTO logs VALUES (1, now() - interval '30 days'), (2, now());
SELECT privacy.run_retention(:pl) AS logs_deleted;
COMMIT;
-- the key is back: the policy runs again, holds respected
-- (the worker may run it first, after its back-off: the rows left tell)
ALTER TABLE events ADD CONSTRAINT events_customer FOREIGN KEY (customer_id) REFERENCES customers;
SELECT privacy.run_retention(:pe) >= 0 AS ran_with_key_back;
SELECT array_agg(id ORDER BY id) AS events_left FROM events;

-- a subject type defined later is recorded by the next run
CREATE TABLE devices (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE sessions (id int PRIMARY KEY, device_id int REFERENCES devices, at timestamptz NOT NULL);
SELECT privacy.add_retention('sessions', 'at', '10 days') AS ps \gset
SELECT subjects FROM privacy.retention_policies WHERE policy = :ps;
SELECT privacy.define_subject('device', 'devices');
SELECT privacy.run_retention(:ps) AS sessions_deleted;
SELECT subjects FROM privacy.retention_policies WHERE policy = :ps;
-- dropping the subject type deliberately releases its policies
SELECT privacy.drop_subject('device');
SELECT subjects FROM privacy.retention_policies WHERE policy = :ps;
SELECT privacy.run_retention(:ps) AS sessions_deleted_after_drop;

-- invalid input: a subjects column edited by hand to a type that does not exist
UPDATE privacy.retention SET subjects = '{nosuch}' WHERE id = :pl;
SELECT privacy.run_retention(:pl);
UPDATE privacy.retention SET subjects = NULL WHERE id = :pl;
SELECT privacy.run_retention(:pl) AS logs_again;
SELECT subjects FROM privacy.retention_policies WHERE policy = :pl;

-- cleanup
SELECT count(privacy.drop_retention(policy)) AS dropped FROM privacy.retention_policies;
SELECT privacy.release_hold('customer', '2');
DROP TABLE sessions, devices, events, logs, customers;
DROP EXTENSION privacy CASCADE;
