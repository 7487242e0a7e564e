-- Keys declared on some partitions only (map_walk.c, partition_keys): a
-- review of what depends on every leaf of the tree.
--  1. Whether such a key is the partitioned table's or each partition's
--     depends on the other leaves: an ATTACH, a DETACH (also CONCURRENTLY),
--     a leaf's key added or dropped, a leaf dropped must recompute the map
--     (before, a map holding the keyed leaves by themselves was left as it
--     was when the leaf keyed otherwise went: a leaf attached later was
--     nobody's until refresh_subject).  stale() compares the map after each
--     DDL with a fresh refresh_subject.
--  2. A key of some leaves taken for the table's acts on those leaves only:
--     PostgreSQL neither sets NULL, cascades to, nor refuses the deletion
--     for a row of a keyless leaf.  Before, erase counted such rows
--     'detached' (they kept their reference) and refused with 23503 for a
--     subject whose rows are all in the keyless leaf.
--  3. A key declared on a sub-partitioned partition maps that partition by
--     itself: retention on the partitioned table keeps its held subjects'
--     rows (before, they were deleted: only the leaf was looked up), and
--     breach_report counts its subjects for a breach of a leaf below it or
--     of the whole table (before, none).
CREATE EXTENSION privacy;
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
-- the map as it is against the map refresh_subject computes (rolled back)
CREATE FUNCTION stale(s text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE a text; b text;
BEGIN
	SELECT string_agg(m.table_name::text || ' ' || m.paths::text, '; ' ORDER BY m.table_name::text)
	  INTO a FROM privacy.map m WHERE m.subject = s;
	BEGIN
		PERFORM privacy.refresh_subject(s);
		SELECT string_agg(m.table_name::text || ' ' || m.paths::text, '; ' ORDER BY m.table_name::text)
		  INTO b FROM privacy.map m WHERE m.subject = s;
		RAISE EXCEPTION USING ERRCODE = 'P0002';
	EXCEPTION WHEN no_data_found THEN NULL;
	END;
	RETURN CASE WHEN a IS NOT DISTINCT FROM b THEN 'fresh' ELSE 'STALE' END || ': ' ||
		(SELECT string_agg(m.table_name::text, ',' ORDER BY m.table_name::text) FROM privacy.map m WHERE m.subject = s);
END $$;

-- 1. DDL
CREATE TABLE pk_cu (id int PRIMARY KEY, email text);
CREATE TABLE pk_ot (id int PRIMARY KEY);
CREATE TABLE pk_pay (id int, cid int NOT NULL, m int NOT NULL) PARTITION BY LIST (m);
CREATE TABLE pk_pay1 PARTITION OF pk_pay FOR VALUES IN (1);
CREATE TABLE pk_pay2 PARTITION OF pk_pay FOR VALUES IN (2);
CREATE TABLE pk_pay3 PARTITION OF pk_pay FOR VALUES IN (3);
ALTER TABLE pk_pay1 ADD FOREIGN KEY (cid) REFERENCES pk_cu;
ALTER TABLE pk_pay2 ADD FOREIGN KEY (cid) REFERENCES pk_cu;
-- the third month keys the same column otherwise: the keys are the leaves'
ALTER TABLE pk_pay3 ADD CONSTRAINT pk_pay3_other FOREIGN KEY (cid) REFERENCES pk_ot;
INSERT INTO pk_cu VALUES (1, 'a'), (2, 'b');
INSERT INTO pk_ot VALUES (1), (2);
SELECT privacy.define_subject('pk', 'pk_cu');
SELECT stale('pk') AS start;
BEGIN;
DROP TABLE pk_pay3;
SELECT stale('pk') AS drop_the_other_leaf;
CREATE TABLE pk_pay4 PARTITION OF pk_pay FOR VALUES IN (4);
INSERT INTO pk_pay VALUES (9, 1, 4);
SELECT jsonb_array_length(privacy.access('pk', '1') -> 'data' -> 'public.pk_pay') AS new_leaf_rows;
ROLLBACK;
BEGIN;
ALTER TABLE pk_pay3 DROP CONSTRAINT pk_pay3_other;
SELECT stale('pk') AS drop_the_other_key;
ROLLBACK;
BEGIN;
ALTER TABLE pk_pay DETACH PARTITION pk_pay3;
SELECT stale('pk') AS detach;
ROLLBACK;
ALTER TABLE pk_pay DETACH PARTITION pk_pay3 CONCURRENTLY;
SELECT stale('pk') AS detach_concurrently;
ALTER TABLE pk_pay ATTACH PARTITION pk_pay3 FOR VALUES IN (3);
SELECT stale('pk') AS attach_the_other_leaf;
-- two levels: a sub-partitioned month
CREATE TABLE pk_pay5 PARTITION OF pk_pay FOR VALUES IN (5, 6) PARTITION BY LIST (m);
CREATE TABLE pk_pay55 PARTITION OF pk_pay5 FOR VALUES IN (5);
CREATE TABLE pk_pay56 PARTITION OF pk_pay5 FOR VALUES IN (6);
BEGIN;
DROP TABLE pk_pay3;
SELECT stale('pk') AS two_levels;
ALTER TABLE pk_pay55 ADD FOREIGN KEY (cid) REFERENCES pk_ot;
SELECT stale('pk') AS key_on_a_leaf_below;
ALTER TABLE pk_pay5 DETACH PARTITION pk_pay55;
SELECT stale('pk') AS detach_below;
ROLLBACK;
BEGIN;
ALTER TABLE pk_pay DETACH PARTITION pk_pay3;
ALTER TABLE pk_pay5 ADD FOREIGN KEY (cid) REFERENCES pk_ot;
SELECT stale('pk') AS key_on_the_sub_partitioned;
DROP TABLE pk_pay5;
SELECT stale('pk') AS drop_the_sub_partitioned;
-- the table's key: dropping its keyed leaves unmaps the table
DROP TABLE pk_pay1;
SELECT stale('pk') AS drop_a_keyed_leaf;
DROP TABLE pk_pay2;
SELECT stale('pk') AS drop_the_last_keyed_leaf;
ROLLBACK;

-- 2. the ON DELETE action of a key of some leaves, in anonymize mode
CREATE TABLE pa_cu (id int PRIMARY KEY, email text);
CREATE TABLE pa_pay (id int, cid int, m int NOT NULL, note text) PARTITION BY LIST (m);
CREATE TABLE pa_pay1 PARTITION OF pa_pay FOR VALUES IN (1);
CREATE TABLE pa_pay2 PARTITION OF pa_pay FOR VALUES IN (2);
CREATE TABLE pa_pay3 PARTITION OF pa_pay FOR VALUES IN (3);	-- no key
ALTER TABLE pa_pay1 ADD CONSTRAINT pa1 FOREIGN KEY (cid) REFERENCES pa_cu ON DELETE SET NULL;
ALTER TABLE pa_pay2 ADD CONSTRAINT pa2 FOREIGN KEY (cid) REFERENCES pa_cu ON DELETE SET NULL;
INSERT INTO pa_cu VALUES (1, 'a'), (2, 'b'), (3, 'c');
-- customer 1 in every month, customer 3 in the keyless month only
INSERT INTO pa_pay VALUES (1, 1, 1, 'n'), (2, 1, 2, 'n'), (3, 1, 3, 'n'), (4, 2, 1, 'n'), (5, 3, 3, 'n');
SELECT privacy.define_subject('pa', 'pa_cu');
SELECT privacy.classify('pa_pay', 'note', 'user.contact.email', 'redact');
SELECT privacy.set_erasure_mode('pa_pay', 'anonymize');
SELECT table_name FROM privacy.subject_tables WHERE subject = 'pa' ORDER BY 1::text;
-- the receipt's detached against the rows whose reference really went
CREATE FUNCTION pa_check(id int) RETURNS TABLE (dry jsonb, receipt jsonb, really_detached bigint)
LANGUAGE plpgsql AS $$
DECLARE
	d jsonb := privacy.erase('pa', id::text, dry_run => true) -> 'tables' -> 'public.pa_pay';
	before int[] := ARRAY(SELECT p.id FROM pa_pay p WHERE p.cid = pa_check.id ORDER BY 1);
	r jsonb := privacy.erase('pa', id::text) -> 'tables' -> 'public.pa_pay';
BEGIN
	RETURN QUERY SELECT d, r, (SELECT count(*) FROM pa_pay p WHERE p.id = ANY (before) AND p.cid IS NULL);
END $$;
BEGIN;
SELECT * FROM pa_check(1);
SELECT * FROM pa_check(3);
SELECT tableoid::regclass, id, cid, note FROM pa_pay ORDER BY id;
ROLLBACK;
-- CASCADE and RESTRICT: a customer whose rows are all in the keyless month
-- is erased (PostgreSQL neither cascades to nor refuses for them); one with
-- rows in a keyed month is refused, as before
ALTER TABLE pa_pay1 DROP CONSTRAINT pa1, ADD CONSTRAINT pa1 FOREIGN KEY (cid) REFERENCES pa_cu ON DELETE CASCADE;
ALTER TABLE pa_pay2 DROP CONSTRAINT pa2, ADD CONSTRAINT pa2 FOREIGN KEY (cid) REFERENCES pa_cu ON DELETE CASCADE;
SELECT table_name FROM privacy.subject_tables WHERE subject = 'pa' ORDER BY 1::text;
BEGIN;
SELECT privacy.erase('pa', '3', dry_run => true) -> 'tables' AS cascade_dry;
SELECT privacy.erase('pa', '3') -> 'tables' AS cascade_keyless_only;
SELECT tableoid::regclass, id, cid, note FROM pa_pay WHERE id = 5;
SELECT pg_temp.err($$SELECT privacy.erase('pa', '1')$$) AS cascade_keyed;
ROLLBACK;
ALTER TABLE pa_pay1 DROP CONSTRAINT pa1, ADD CONSTRAINT pa1 FOREIGN KEY (cid) REFERENCES pa_cu ON DELETE RESTRICT;
ALTER TABLE pa_pay2 DROP CONSTRAINT pa2, ADD CONSTRAINT pa2 FOREIGN KEY (cid) REFERENCES pa_cu ON DELETE RESTRICT;
BEGIN;
SELECT privacy.erase('pa', '3') -> 'tables' AS restrict_keyless_only;
SELECT pg_temp.err($$SELECT privacy.erase('pa', '1')$$) AS restrict_keyed;
ROLLBACK;
-- delete mode: every row of the subject goes, the keyless month's too
SELECT privacy.set_erasure_mode('pa_pay', 'delete');
BEGIN;
SELECT privacy.erase('pa', '1') -> 'tables' AS delete_mode;
SELECT count(*) AS left_of_1 FROM pa_pay WHERE cid = 1;
ROLLBACK;

-- 3. a key declared on a sub-partitioned partition
CREATE TABLE ps_cu (id int PRIMARY KEY, email text);
CREATE TABLE ps_ot (id int PRIMARY KEY);
INSERT INTO ps_cu SELECT g, 'x' FROM generate_series(1, 4) g;
INSERT INTO ps_ot SELECT g FROM generate_series(1, 4) g;
CREATE TABLE ps_pay (id int, cid int NOT NULL, at timestamptz NOT NULL, m int NOT NULL, note text)
	PARTITION BY LIST (m);
CREATE TABLE ps_pay1 PARTITION OF ps_pay FOR VALUES IN (1);
CREATE TABLE ps_pay2 PARTITION OF ps_pay FOR VALUES IN (2) PARTITION BY LIST (m);
CREATE TABLE ps_pay21 PARTITION OF ps_pay2 FOR VALUES IN (2);
CREATE TABLE ps_pay3 PARTITION OF ps_pay FOR VALUES IN (3);
ALTER TABLE ps_pay2 ADD FOREIGN KEY (cid) REFERENCES ps_cu;
ALTER TABLE ps_pay3 ADD FOREIGN KEY (cid) REFERENCES ps_ot;
INSERT INTO ps_pay SELECT g, 1 + g % 4, '2001-01-01', 1 + g % 3, 'n' FROM generate_series(1, 24) g;
SELECT privacy.define_subject('ps', 'ps_cu');
SELECT privacy.classify('ps_pay', 'note', 'user.contact.email');
SELECT table_name FROM privacy.subject_tables WHERE subject = 'ps' ORDER BY 1::text;
-- breach of the leaf below it, of it, of the whole table (oracle: 4)
SELECT count(DISTINCT cid) AS oracle FROM ps_pay21;
SELECT t, privacy.breach_report(ARRAY[t::regclass]) -> 'subjects' AS subjects
  FROM unnest(ARRAY['ps_pay21', 'ps_pay2', 'ps_pay']) t;
-- retention on the partitioned table: customer 2's rows of ps_pay2 stay
SELECT privacy.hold('ps', '2', 'litigation');
BEGIN;
SELECT privacy.add_retention('ps_pay', 'at', '1 year') AS p \gset
SELECT privacy.run_retention(:p) AS deleted;
COMMIT;
SELECT tableoid::regclass, cid, count(*) FROM ps_pay GROUP BY 1, 2 ORDER BY 1, 2;
SELECT privacy.drop_retention(:p);

-- 4. a composite key declared with its columns in another order on another
-- leaf is the same key (columns compared by name): the table's, the keyless
-- leaf's rows included (before, each keyed leaf was mapped by itself)
CREATE TABLE pc_r (id int PRIMARY KEY);
CREATE TABLE pc_acct (a int, b int, rid int REFERENCES pc_r, PRIMARY KEY (a, b));
CREATE TABLE pc_q (x int, y int, m int NOT NULL) PARTITION BY LIST (m);
CREATE TABLE pc_q1 PARTITION OF pc_q FOR VALUES IN (1);
CREATE TABLE pc_q2 PARTITION OF pc_q FOR VALUES IN (2);
CREATE TABLE pc_q3 PARTITION OF pc_q FOR VALUES IN (3);
ALTER TABLE pc_q1 ADD FOREIGN KEY (x, y) REFERENCES pc_acct (a, b);
ALTER TABLE pc_q2 ADD FOREIGN KEY (y, x) REFERENCES pc_acct (b, a);
INSERT INTO pc_r VALUES (1);
INSERT INTO pc_acct VALUES (1, 1, 1);
INSERT INTO pc_q VALUES (1, 1, 1), (1, 1, 2), (1, 1, 3);
SELECT privacy.define_subject('pc', 'pc_r');
SELECT table_name FROM privacy.subject_tables WHERE subject = 'pc' ORDER BY 1::text;
SELECT jsonb_array_length(privacy.access('pc', '1') -> 'data' -> 'public.pc_q') AS rows_of_pc_q;
SELECT privacy.drop_subject('pc');
DROP TABLE pc_q, pc_acct, pc_r;

SELECT privacy.release_hold('ps', '2');
SELECT privacy.drop_subject(s) FROM unnest(ARRAY['pk', 'pa', 'ps']) s;
DROP FUNCTION stale(text);
DROP FUNCTION pa_check(int);
DROP TABLE pk_pay, pk_cu, pk_ot, pa_pay, pa_cu, ps_pay, ps_cu, ps_ot;
DROP EXTENSION privacy;
