-- The map per edge (issue #17 item 1): no cap on paths.  A subject's rows of
-- a table are those whose foreign keys point at the subject's rows of the
-- tables they reference, to a fixed point: many foreign keys to one table,
-- many paths, self-references, cycles, composite keys, partitions, links and
-- referenced tables.  Each case counts rows against the expected ones.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
-- rows of each table in the subject's access result
CREATE FUNCTION pg_temp.counts(s text, id text) RETURNS TABLE (tbl text, n int) LANGUAGE sql AS $$
	SELECT key, jsonb_array_length(value) FROM jsonb_each(privacy.access(s, id)->'data') ORDER BY 1 $$;

CREATE SCHEMA e;
CREATE TABLE e.users (id int PRIMARY KEY, name text);
INSERT INTO e.users SELECT g, 'user ' || g FROM generate_series(1, 3) g;
-- the repro: nine foreign keys u1..u9 to users, a row with only u9 set
CREATE TABLE e.deployments (id int PRIMARY KEY,
	u1 int REFERENCES e.users, u2 int REFERENCES e.users, u3 int REFERENCES e.users,
	u4 int REFERENCES e.users, u5 int REFERENCES e.users, u6 int REFERENCES e.users,
	u7 int REFERENCES e.users, u8 int REFERENCES e.users, u9 int REFERENCES e.users);
INSERT INTO e.deployments (id, u9) VALUES (1, 1);
INSERT INTO e.deployments (id, u1, u9) VALUES (2, 2, 2), (3, 2, 1);
-- a chain whose last table has 2^5 = 32 paths to users (two foreign keys per
-- level), and a row reachable by the last of them only
CREATE TABLE e.l1 (id int PRIMARY KEY, a int REFERENCES e.users, b int REFERENCES e.users);
CREATE TABLE e.l2 (id int PRIMARY KEY, a int REFERENCES e.l1, b int REFERENCES e.l1);
CREATE TABLE e.l3 (id int PRIMARY KEY, a int REFERENCES e.l2, b int REFERENCES e.l2);
CREATE TABLE e.l4 (id int PRIMARY KEY, a int REFERENCES e.l3, b int REFERENCES e.l3);
CREATE TABLE e.l5 (id int PRIMARY KEY, a int REFERENCES e.l4, b int REFERENCES e.l4);
INSERT INTO e.l1 VALUES (1, NULL, 1), (2, 2, NULL);
INSERT INTO e.l2 VALUES (1, NULL, 1), (2, 2, NULL);
INSERT INTO e.l3 VALUES (1, NULL, 1), (2, 2, NULL);
INSERT INTO e.l4 VALUES (1, NULL, 1), (2, 2, NULL);
INSERT INTO e.l5 VALUES (1, NULL, 1), (2, 2, NULL), (3, 1, 2);
-- a self-reference: replies belong to whoever's message they answer
CREATE TABLE e.messages (id int PRIMARY KEY, author int REFERENCES e.users, parent int REFERENCES e.messages);
INSERT INTO e.messages VALUES (1, 1, NULL), (2, 2, 1), (3, NULL, 2), (4, 2, NULL), (5, NULL, 4);
-- a cycle of two tables hanging off users
CREATE TABLE e.ca (id int PRIMARY KEY, owner int REFERENCES e.users, cb int);
CREATE TABLE e.cb (id int PRIMARY KEY, ca int REFERENCES e.ca);
ALTER TABLE e.ca ADD FOREIGN KEY (cb) REFERENCES e.cb;
INSERT INTO e.ca VALUES (1, 1, NULL), (2, NULL, NULL), (3, 3, NULL);
INSERT INTO e.cb VALUES (1, 1), (2, 2), (3, 3);
UPDATE e.ca SET cb = 1 WHERE id = 2;   -- ca 2 -> cb 1 -> ca 1 -> user 1
-- composite keys, and a partitioned table referencing them
CREATE TABLE e.projects (ns int, id int, owner int REFERENCES e.users, PRIMARY KEY (ns, id));
CREATE TABLE e.issues (id int, ns int, project int, PRIMARY KEY (id, ns),
	FOREIGN KEY (ns, project) REFERENCES e.projects) PARTITION BY HASH (id);
CREATE TABLE e.issues_0 PARTITION OF e.issues FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE e.issues_1 PARTITION OF e.issues FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO e.projects VALUES (1, 1, 1), (1, 2, 2), (2, 1, 1);
INSERT INTO e.issues VALUES (1, 1, 1), (2, 1, 2), (3, 2, 1), (4, 1, 1);
-- a link, and a table referencing the linked table
CREATE TABLE e.events (id int PRIMARY KEY, who bigint);
CREATE INDEX ON e.events (who);
CREATE TABLE e.event_notes (id int PRIMARY KEY, event int REFERENCES e.events);
INSERT INTO e.events VALUES (1, 1), (2, 2), (3, 1);
INSERT INTO e.event_notes VALUES (1, 1), (2, 2), (3, 3);
-- a referenced table with a classified column
CREATE TABLE e.addresses (id int PRIMARY KEY, street text);
ALTER TABLE e.users ADD COLUMN address int REFERENCES e.addresses;
INSERT INTO e.addresses VALUES (1, 'one'), (2, 'two');
UPDATE e.users SET address = id % 2 + 1;

SELECT privacy.define_subject('user', 'e.users');
SELECT privacy.link('user', 'e.events', 'who');
SELECT privacy.classify('e.addresses', 'street', 'user.contact.address.street');
-- no NOTICE about a map cut short, and every table is there with its edges
SELECT table_name, via, depth, path FROM privacy.subject_tables WHERE subject = 'user';
SELECT table_name, jsonb_array_length(paths) AS edges FROM privacy.map WHERE subject = 'user' ORDER BY table_name::text;
SELECT * FROM pg_temp.counts('user', '1');
SELECT * FROM pg_temp.counts('user', '2');
SELECT * FROM pg_temp.counts('user', '3');
-- the row with only u9 set, and the row of the 32nd path
SELECT privacy.access('user', '1')->'data'->'e.deployments' AS deployments_user1;
SELECT privacy.access('user', '2')->'data'->'e.l5' AS l5_user2;

-- erase finds the same rows (dry run, then for real): the rows reached by
-- the ninth foreign key and by the 32nd path, the replies to the user's
-- messages; the other users' rows stay
SELECT privacy.erase('user', '1', dry_run => true)->'tables'->'e.deployments' AS dry;
BEGIN;
SELECT key, value FROM jsonb_each(privacy.erase('user', '2')->'tables') ORDER BY 1;
SELECT id FROM e.deployments ORDER BY id;
SELECT id FROM e.l5 ORDER BY id;
SELECT id FROM e.messages ORDER BY id;
ROLLBACK;

-- internal catalog queries run with JIT off and leave the setting as it was
SET jit = on;
SET jit_above_cost = 0;
SELECT privacy.refresh_subject('user');
SELECT current_setting('jit') AS jit_after, current_setting('jit_above_cost') AS cost_after;
RESET jit;
RESET jit_above_cost;

-- invalid input: an unknown subject, a cycle that does not reach the root
-- is simply not in the map
CREATE TABLE e.loner_a (id int PRIMARY KEY, b int);
CREATE TABLE e.loner_b (id int PRIMARY KEY, a int REFERENCES e.loner_a);
ALTER TABLE e.loner_a ADD FOREIGN KEY (b) REFERENCES e.loner_b;
SELECT count(*) AS loners FROM privacy.map WHERE table_name::text LIKE 'e.loner%';
SELECT pg_temp.err($$SELECT privacy.access('nobody', '1')$$);

DROP SCHEMA e CASCADE;
DROP EXTENSION privacy;
