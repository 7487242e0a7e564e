-- Retention on a partitioned table: the pass walks every leaf partition
-- (partitions of partitions included), rows of held subjects stay, the
-- policy is named by the partitioned table and refused on a partition.
CREATE EXTENSION privacy;
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
CREATE TABLE users (id int PRIMARY KEY, email text);
INSERT INTO users SELECT g, 'u' || g || '@example.org' FROM generate_series(1, 4) g;
CREATE TABLE events (id int, user_id int REFERENCES users, at timestamptz NOT NULL, what text)
	PARTITION BY RANGE (at);
CREATE TABLE events_old PARTITION OF events FOR VALUES FROM ('2000-01-01') TO ('2020-01-01')
	PARTITION BY HASH (id);
CREATE TABLE events_old_0 PARTITION OF events_old FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE events_old_1 PARTITION OF events_old FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE events_recent PARTITION OF events FOR VALUES FROM ('2020-01-01') TO ('2100-01-01');
CREATE INDEX ON events (at);
-- 40 old events (10 per user) and 20 recent ones
INSERT INTO events SELECT g, 1 + g % 4, timestamptz '2010-01-01' + g * interval '1 day', 'old' FROM generate_series(1, 40) g;
INSERT INTO events SELECT 100 + g, 1 + g % 4, now() - g * interval '1 hour', 'new' FROM generate_series(1, 20) g;
SELECT privacy.define_subject('user', 'users');
SELECT privacy.hold('user', '2', 'litigation');
BEGIN;
SELECT privacy.add_retention('events', 'at', '1 year') AS p \gset
SELECT privacy.run_retention(:p) AS deleted;
COMMIT;
SELECT tableoid::regclass AS partition, what, count(*), array_agg(DISTINCT user_id) AS users
  FROM events GROUP BY 1, 2 ORDER BY 1, 2;
SELECT rows, held, error FROM privacy.retention_runs WHERE policy = :p ORDER BY id DESC LIMIT 1;
SELECT table_name, last_rows, last_held, backlog_estimate FROM privacy.retention_status WHERE policy = :p;
-- the hold released, the next pass takes the rest (in the release's
-- transaction: the worker, naptime 1 s, could take them first otherwise)
BEGIN;
SELECT privacy.release_hold('user', '2');
SELECT privacy.run_retention(:p) AS deleted_after_release;
COMMIT;
SELECT count(*) AS old_left FROM events WHERE what = 'old';
-- run_retention() over every policy: a failing policy is rolled back,
-- recorded and reported, and does not stop the others.  The trigger's own
-- message is not recorded: a RAISE can quote the row (here its id and
-- time), so the record keeps its SQLSTATE only
CREATE TABLE fragile (id int PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO fragile VALUES (1, '2001-01-01');
-- (an error that fails the whole policy: 42501; a constraint's or a plain
-- RAISE only blocks its row, test/sql/57_retention_review.sql)
CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'refused % at %', OLD.id, OLD.at USING ERRCODE = 'insufficient_privilege'; END $$;
CREATE TRIGGER refuse BEFORE DELETE ON fragile FOR EACH ROW EXECUTE FUNCTION refuse();
SET client_min_messages = warning;
-- (a policy added after the failing one, in this transaction: the worker,
-- naptime 1 s, cannot see it, so only this run_retention() can delete its
-- row; an expired row added to events here could be passed over by a pass
-- of the worker's that was under way)
BEGIN;
SELECT privacy.add_retention('fragile', 'at', '1 year') AS pf \gset
CREATE TABLE later (id int PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO later VALUES (1, '2001-01-01'), (2, now());
SELECT privacy.add_retention('later', 'at', '1 year') AS pl \gset
SELECT privacy.run_retention() AS deleted_by_the_others;
COMMIT;
SELECT count(*) AS fragile_left, (SELECT array_agg(id) FROM later) AS later_left FROM fragile;
SELECT error, finished IS NOT NULL AS finished FROM privacy.retention_runs WHERE policy = :pf;
SELECT policy = :pf AS the_fragile_one, failures, last_error FROM privacy.retention_state WHERE failures > 0;
SELECT privacy.drop_retention(:pf), privacy.drop_retention(:pl);
DROP TABLE fragile, later;
DROP FUNCTION refuse();
-- invalid input: a partition
SELECT pg_temp.err($$SELECT privacy.add_retention('events_old_0', 'at', '1 year')$$);
SELECT privacy.drop_retention(:p);
DROP TABLE events, users;
DROP EXTENSION privacy;
