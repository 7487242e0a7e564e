-- The walk reads the inheritance graph once (map_walk.c, inheritance_graph:
-- pg_inherits and pg_partitioned_table in memory) instead of a catalog
-- lookup per partition: the cases where a partition's root and a table's
-- leaves are decided from it.  The maps below are those the catalog lookups
-- gave (the same output before the change).
CREATE EXTENSION privacy;
SET client_min_messages = warning;
CREATE TABLE g_users (id int PRIMARY KEY);
CREATE TABLE g_other (id int PRIMARY KEY);
INSERT INTO g_users VALUES (1), (2);
INSERT INTO g_other VALUES (1);

-- an inheritance child (not a partition) with a key of its own is mapped by
-- itself, as its parent is
CREATE TABLE g_base (id int, uid int REFERENCES g_users);
CREATE TABLE g_kid (extra text, kid_uid int REFERENCES g_users) INHERITS (g_base);

-- three levels; the key declared on leaves two levels down, on every leaf
-- of one month and on the other month's leaves, and a sub-partitioned
-- partition that has no partitions yet (no leaf: the key covers the table)
CREATE TABLE g_pay (id int, uid int, m int NOT NULL, d int NOT NULL) PARTITION BY LIST (m);
CREATE TABLE g_pay1 PARTITION OF g_pay FOR VALUES IN (1) PARTITION BY LIST (d);
CREATE TABLE g_pay11 PARTITION OF g_pay1 (FOREIGN KEY (uid) REFERENCES g_users) FOR VALUES IN (1);
CREATE TABLE g_pay12 PARTITION OF g_pay1 (FOREIGN KEY (uid) REFERENCES g_users) FOR VALUES IN (2);
CREATE TABLE g_pay2 PARTITION OF g_pay FOR VALUES IN (2) PARTITION BY LIST (d);
-- a leaf attached with its columns in another order
CREATE TABLE g_pay21 (d int NOT NULL, m int NOT NULL, uid int REFERENCES g_users, id int);
ALTER TABLE g_pay2 ATTACH PARTITION g_pay21 FOR VALUES IN (1);
CREATE TABLE g_pay3 PARTITION OF g_pay FOR VALUES IN (3) PARTITION BY LIST (d);
INSERT INTO g_pay VALUES (1, 1, 1, 1), (2, 1, 1, 2), (3, 1, 2, 1), (4, 2, 2, 1);

-- a key of some leaves only, another leaf keys the same columns otherwise:
-- each key stays on its leaf
CREATE TABLE g_note (id int, who int, k int NOT NULL) PARTITION BY LIST (k);
CREATE TABLE g_note1 PARTITION OF g_note (FOREIGN KEY (who) REFERENCES g_users) FOR VALUES IN (1);
CREATE TABLE g_note2 PARTITION OF g_note FOR VALUES IN (2) PARTITION BY LIST (id);
CREATE TABLE g_note21 PARTITION OF g_note2 (FOREIGN KEY (who) REFERENCES g_other) FOR VALUES IN (1);
INSERT INTO g_note VALUES (1, 1, 1), (1, 1, 2);

SELECT privacy.define_subject('g', 'g_users');
SELECT table_name, via, path FROM privacy.subject_tables WHERE subject = 'g' ORDER BY 1::text;
SELECT key, jsonb_array_length(value) AS n FROM jsonb_each(privacy.access('g', '1') -> 'data') ORDER BY 1;

-- a new leaf of the empty sub-partitioned partition, without a key: the
-- key is then the table's for the keyed leaves only
CREATE TABLE g_pay31 PARTITION OF g_pay3 FOR VALUES IN (1);
INSERT INTO g_pay VALUES (5, 1, 3, 1);
SELECT table_name, via, path FROM privacy.subject_tables WHERE subject = 'g' ORDER BY 1::text;
SELECT key, jsonb_array_length(value) AS n FROM jsonb_each(privacy.access('g', '1') -> 'data') ORDER BY 1;
SELECT privacy.erase('g', '1', dry_run => true) -> 'tables' -> 'public.g_pay' AS erase_g_pay;

SELECT privacy.drop_subject('g');
DROP TABLE g_kid, g_base, g_pay, g_note, g_users, g_other;
DROP EXTENSION privacy;
