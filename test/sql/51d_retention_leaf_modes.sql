-- Retention's dependents that must stay through their partitioned table:
-- a leaf that is a dependent by itself (the leaves have different keys,
-- one to the policy's table, one to another table) belongs to a
-- partitioned table in anonymize mode, or with a column classified 'keep'
-- (set_erasure_mode and classify name the partitioned table only).  Its
-- rows must stay and block the expiring rows they reference.  Before, the
-- mode and classifications of the leaf itself only were read: the leaf's
-- rows were deleted with the expiring session.
CREATE EXTENSION privacy;
CREATE TABLE people (id int PRIMARY KEY);
CREATE TABLE archive (id int PRIMARY KEY);
CREATE TABLE sessions (id int PRIMARY KEY, created timestamptz NOT NULL);
CREATE INDEX ON sessions (created);
CREATE TABLE visits (id int, part int, session_id int, person_id int REFERENCES people,
	PRIMARY KEY (id, part)) PARTITION BY LIST (part);
CREATE TABLE visits_a PARTITION OF visits FOR VALUES IN (1);
CREATE TABLE visits_b PARTITION OF visits FOR VALUES IN (2);
ALTER TABLE visits_a ADD FOREIGN KEY (session_id) REFERENCES sessions ON DELETE CASCADE;
ALTER TABLE visits_b ADD FOREIGN KEY (session_id) REFERENCES archive ON DELETE CASCADE;
CREATE TABLE notes (id int, part int, session_id int, body text, PRIMARY KEY (id, part)) PARTITION BY LIST (part);
CREATE TABLE notes_a PARTITION OF notes FOR VALUES IN (1);
CREATE TABLE notes_b PARTITION OF notes FOR VALUES IN (2);
ALTER TABLE notes_a ADD FOREIGN KEY (session_id) REFERENCES sessions ON DELETE CASCADE;
ALTER TABLE notes_b ADD FOREIGN KEY (session_id) REFERENCES archive ON DELETE CASCADE;
INSERT INTO people VALUES (1);
INSERT INTO archive VALUES (1), (2), (3);
SELECT privacy.define_subject('person', 'people');
SELECT privacy.set_erasure_mode('visits', 'anonymize');
-- a partition is refused: the partitioned table's mode is its leaves'
SELECT privacy.set_erasure_mode('visits_a', 'anonymize');
SELECT privacy.classify('notes', 'body', 'user.contact', 'keep');
INSERT INTO sessions SELECT g, now() - interval '2 years' FROM generate_series(1, 3) g;
INSERT INTO visits VALUES (10, 1, 1, 1), (11, 2, 3, 1);
INSERT INTO notes VALUES (20, 1, 2, 'kept'), (21, 2, 3, 'other');
SELECT privacy.add_retention('sessions', 'created', interval '1 year') AS p \gset
SELECT privacy.run_retention(:p) AS affected;
-- sessions 1 and 2 stay (blocked), 3 goes (only keyless rows point at it)
SELECT id FROM sessions ORDER BY id;
SELECT 'visits' AS t, id FROM visits UNION ALL SELECT 'notes', id FROM notes ORDER BY 1, 2;
SELECT rows, blocked, blocked_by, dependents FROM privacy.retention_runs WHERE policy = :p;
SELECT privacy.drop_retention(:p);
DROP TABLE visits, notes, sessions, archive, people;
DROP EXTENSION privacy CASCADE;
