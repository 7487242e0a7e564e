-- Retention's dependents and the holds of their partition tree: a held
-- subject's row must stay (and block the expiring row it references)
-- whichever table of the dependent's partition tree the map holds.
-- Before, only the map of the dependent table itself was read:
--  1. a partitioned dependent (its key to the policy's table on every
--     leaf) whose leaf is mapped by itself (leaves with different keys to
--     the subject's root and to another table): the held person's row in
--     that leaf was deleted with the expiring session;
--  2. a leaf that is a dependent by itself (leaves with different keys to
--     the policy's table and to another table) whose partitioned table is
--     the one in the map: same.
CREATE EXTENSION privacy;
CREATE TABLE people (id int PRIMARY KEY);
CREATE TABLE robots (id int PRIMARY KEY);
CREATE TABLE archive (id int PRIMARY KEY);
CREATE TABLE sessions (id int PRIMARY KEY, created timestamptz NOT NULL);
CREATE INDEX ON sessions (created);
-- 1: visits -> sessions on every leaf; visits_a -> people, visits_b -> robots
CREATE TABLE visits (id int, part int, session_id int REFERENCES sessions ON DELETE CASCADE, who int,
	PRIMARY KEY (id, part)) PARTITION BY LIST (part);
CREATE TABLE visits_a PARTITION OF visits FOR VALUES IN (1);
CREATE TABLE visits_b PARTITION OF visits FOR VALUES IN (2);
ALTER TABLE visits_a ADD FOREIGN KEY (who) REFERENCES people;
ALTER TABLE visits_b ADD FOREIGN KEY (who) REFERENCES robots;
-- 2: clicks -> people on every leaf; clicks_a -> sessions, clicks_b -> archive
CREATE TABLE clicks (id int, part int, session_id int, person_id int REFERENCES people,
	PRIMARY KEY (id, part)) PARTITION BY LIST (part);
CREATE TABLE clicks_a PARTITION OF clicks FOR VALUES IN (1);
CREATE TABLE clicks_b PARTITION OF clicks FOR VALUES IN (2);
ALTER TABLE clicks_a ADD FOREIGN KEY (session_id) REFERENCES sessions ON DELETE CASCADE;
ALTER TABLE clicks_b ADD FOREIGN KEY (session_id) REFERENCES archive ON DELETE CASCADE;
INSERT INTO people VALUES (1), (2);
INSERT INTO robots VALUES (1), (2);
INSERT INTO archive VALUES (1), (2), (3), (4), (5);
SELECT privacy.define_subject('person', 'people');
-- the map holds the leaf visits_a and the partitioned clicks
SELECT table_name, via FROM privacy.map WHERE subject = 'person' ORDER BY 1;
INSERT INTO sessions SELECT g, now() - interval '2 years' FROM generate_series(1, 5) g;
INSERT INTO sessions VALUES (6, now());
INSERT INTO visits VALUES
	(10, 1, 1, 1),	-- held person 1 through the mapped leaf: session 1 stays
	(11, 1, 2, 2),	-- person 2: goes with session 2
	(12, 2, 3, 1);	-- robot 1 (not a person): goes with session 3
INSERT INTO clicks VALUES
	(20, 1, 4, 1),	-- held person 1 in the dependent leaf: session 4 stays
	(21, 1, 5, 2),	-- person 2: goes with session 5
	(22, 2, 4, 2),	-- keyless for sessions (archive's): stays, whatever happens
	(23, 1, 6, 1);	-- session 6 has not expired
SELECT privacy.hold('person', '1', 'litigation');
SELECT privacy.add_retention('sessions', 'created', interval '1 year') AS p \gset
SELECT privacy.run_retention(:p) AS affected;
SELECT id FROM sessions ORDER BY id;
SELECT 'visits' AS t, id, part, session_id FROM visits
UNION ALL SELECT 'clicks', id, part, session_id FROM clicks ORDER BY 1, 2;
SELECT rows, held, blocked, dependents FROM privacy.retention_runs WHERE policy = :p;
-- the hold released, the blocked sessions go with their dependents
SELECT privacy.release_hold('person', '1');
SELECT privacy.run_retention(:p) AS affected;
SELECT id FROM sessions ORDER BY id;
SELECT 'visits' AS t, id FROM visits UNION ALL SELECT 'clicks', id FROM clicks ORDER BY 1, 2;
SELECT privacy.drop_retention(:p);
DROP TABLE visits, clicks, sessions, archive, robots, people;
DROP EXTENSION privacy CASCADE;
