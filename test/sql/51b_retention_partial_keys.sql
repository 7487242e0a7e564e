-- Retention's dependents through a foreign key declared on some leaves of
-- a partitioned table only: the rows of the other leaves hold no reference
-- (PostgreSQL would not cascade to them), whatever their values, and must
-- neither be deleted with an expiring row nor block it.
CREATE EXTENSION privacy;
CREATE TABLE sessions (id int PRIMARY KEY, created timestamptz NOT NULL);
CREATE TABLE hits (id int, part int, session_id int, PRIMARY KEY (id, part)) PARTITION BY LIST (part);
CREATE TABLE hits_a PARTITION OF hits FOR VALUES IN (1);
CREATE TABLE hits_b PARTITION OF hits FOR VALUES IN (2);
ALTER TABLE hits_a ADD FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE;
-- a subject whose held rows would block: a hold on the keyless leaf's row
CREATE TABLE people (id int PRIMARY KEY);
CREATE TABLE visits (id int, part int, session_id int, person_id int REFERENCES people,
	PRIMARY KEY (id, part)) PARTITION BY LIST (part);
CREATE TABLE visits_a PARTITION OF visits FOR VALUES IN (1);
CREATE TABLE visits_b PARTITION OF visits FOR VALUES IN (2);
ALTER TABLE visits_a ADD FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE;
INSERT INTO people VALUES (1), (2);
SELECT privacy.define_subject('person', 'people');
INSERT INTO sessions VALUES (1, now() - interval '2 years'), (2, now() - interval '2 years'), (3, now());
INSERT INTO hits VALUES (10, 1, 1), (11, 2, 1), (12, 1, 3), (13, 2, 3);
-- session 2: its only visit in the keyed leaf is free; the held person's
-- visit in the keyless leaf has session_id 2 too but no key
INSERT INTO visits VALUES (20, 1, 2, 1), (21, 2, 2, 2);
SELECT privacy.hold('person', '2', 'litigation');
SELECT privacy.add_retention('sessions', 'created', interval '1 year') AS p \gset
SELECT privacy.run_retention(:p) AS affected;
-- hits 11 and visits 21 stay (no key); 10 and 20 went with their sessions
SELECT 'hits' AS t, id, part, session_id FROM hits
UNION ALL SELECT 'visits', id, part, session_id FROM visits ORDER BY 1, 2;
SELECT id FROM sessions ORDER BY id;
SELECT rows, blocked, dependents FROM privacy.retention_runs WHERE policy = :p;
SELECT privacy.release_hold('person', '2');
SELECT privacy.drop_retention(:p);
DROP TABLE hits, visits, people, sessions;
DROP EXTENSION privacy CASCADE;
