-- Randomized property test of retention.  For each seed (setseed): a
-- generated schema — a subject root (people), the policy's table (plain or
-- partitioned, mapped or not), 2 to 6 other tables in a DAG of foreign keys
-- (chains and diamonds at depth 2 and more below the policy's table),
-- ON DELETE CASCADE / SET NULL / NO ACTION / RESTRICT mixed, partitioned
-- tables (their first partition partitioned again, some times) whose keys
-- are declared on the whole table, on one partition only, or to a
-- different table per partition (the partition is then a dependent, or a
-- mapped table, by itself), tables in anonymize mode, sink tables with a
-- column classified 'keep', tables of another owner, held subjects, ages
-- on both sides of the cutoff (and NULL), and some policies with
-- cascade => false.  One run_retention, then an oracle written here — it
-- reads only the generator's own list of foreign keys and the rows, never
-- the extension's map — checks:
--   - no row is deleted that must stay: one not expired, one of a held
--     subject, a dependent in anonymize mode or with a kept column, another
--     owner's row behind a NO ACTION / RESTRICT key, an expired row whose
--     dependents include such a row, or, with cascade => false, an expired
--     row that any row references;
--   - every other expired row goes, with its dependents (rows that reference
--     it through CASCADE / NO ACTION / RESTRICT keys, at any depth), and
--     nothing else;
--   - the run's counters: rows (deleted), held and blocked.
-- Only aggregate counts are printed; rp_failures names the failing seeds.
-- The oracle's rules: a row belongs to a subject when a chain of foreign
-- keys leads from it to the subject's row in people (any key, any action);
-- a key declared on one leaf holds for the rows of that leaf only, except
-- for owners when the other leaf has no key on that column: the map takes
-- the partitioned table for mapped through it, rows of every leaf by their
-- values (access and erase do the same).
-- The seeds are first_seed .. first_seed + schemas - 1 (psql variables;
-- make test: 57 .. 96, a window where reverting either fix of
-- test/sql/51c_retention_leaf_holds.sql or 51d_retention_leaf_modes.sql makes
-- this test fail too, as it was checked; 1 .. 300 pass as well).
\if :{?schemas}
\else
\set schemas 40
\endif
\if :{?first_seed}
\else
\set first_seed 57
\endif
SET client_min_messages = warning;
SET jit = off;
CREATE EXTENSION privacy;
-- the owner of some dependent tables (another role than the policy table's)
CREATE ROLE regress_rp_other;
GRANT USAGE ON SCHEMA privacy TO regress_rp_other;

-- what the generator built
CREATE TEMP TABLE rp_tabs (j int PRIMARY KEY, name text, part boolean, anon boolean, keepcol boolean,
	other boolean DEFAULT false);
-- one row per declared key: leaf NULL = the whole table, else the leaf's part
CREATE TEMP TABLE rp_edge (child int, leaf int, col text, parent int, action "char", ppart boolean);
-- the rows (global ids), resolved references, owners
CREATE TEMP TABLE rp_rows (j int, id int PRIMARY KEY, part int, at timestamptz);
CREATE TEMP TABLE rp_ref (cid int, pid int, action "char");
CREATE TEMP TABLE rp_oref (cid int, pid int);
CREATE TEMP TABLE rp_own (person int, id int);
CREATE TEMP TABLE rp_held (person int PRIMARY KEY);
CREATE TEMP TABLE rp_gone (id int PRIMARY KEY);
CREATE TEMP TABLE rp_failures (seed int, what text, n bigint);
CREATE TEMP TABLE rp_stats (seed int, cascade boolean, nrows int, expired int, gone int, held int,
	blocked int, partdeps boolean, leafdeps boolean, leafmapped boolean, anonblock boolean, holdblock boolean,
	otherblock boolean, othergone boolean, subpart boolean);

-- rp_build: the schema rp and its rows for one seed
CREATE FUNCTION pg_temp.rp_build(seed int) RETURNS boolean LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
	ntab int;
	j int;
	k int;
	p int;
	q int;
	nid int := 0;
	np int;
	cols text;
	partitioned boolean;
	parents int[];
	shape text;
	act "char";
	acts "char"[] := ARRAY['c', 'n', 'a', 'r', 'c', 'a'];
	actsql text;
	e record;
	r record;
	v int;
	vp int;
	casc boolean;
BEGIN
	PERFORM setseed((seed % 1000) / 1000.0);
	TRUNCATE rp_tabs, rp_edge, rp_rows, rp_ref, rp_oref, rp_own, rp_held, rp_gone;
	DROP SCHEMA IF EXISTS rp CASCADE;
	CREATE SCHEMA rp;
	GRANT USAGE ON SCHEMA rp TO regress_rp_other;
	ntab := 4 + floor(random() * 5)::int;	-- people, the policy's table, 2 to 6 others
	CREATE TABLE rp.t0 (id int PRIMARY KEY, part int NOT NULL DEFAULT 1, note text);
	INSERT INTO rp_tabs VALUES (0, 't0', false, false, false);
	FOR j IN 1 .. ntab - 1 LOOP
		partitioned := random() < CASE WHEN j = 2 THEN 0.6 ELSE 0.45 END;
		INSERT INTO rp_tabs VALUES (j, 't' || j, partitioned, j >= 2 AND random() < 0.2, false);
		-- parents: the policy's table (1) references people or nothing;
		-- table 2 references 1, table 3 references 2 (depth 2), the others
		-- one or two earlier tables
		IF j = 1 THEN
			parents := CASE WHEN random() < 0.5 THEN ARRAY[0] ELSE '{}' END;
		ELSIF j = 2 THEN
			parents := ARRAY[1] || CASE WHEN random() < 0.6 THEN ARRAY[0] ELSE '{}' END;
		ELSIF j = 3 THEN
			parents := ARRAY[2] || CASE WHEN random() < 0.5 THEN ARRAY[floor(random() * 2)::int] ELSE '{}' END;
		ELSE
			p := floor(random() * j)::int;
			q := floor(random() * j)::int;
			parents := CASE WHEN p = q THEN ARRAY[p] ELSE ARRAY[p, q] END;
		END IF;
		cols := 'id int NOT NULL, part int NOT NULL, note text';
		IF j = 1 THEN
			cols := cols || ', at timestamptz';
		END IF;
		FOREACH p IN ARRAY parents LOOP
			act := acts[1 + floor(random() * 6)::int];
			shape := 'whole';
			IF partitioned AND random() < 0.6 THEN
				shape := CASE WHEN random() < 0.4 THEN 'some' ELSE 'diff' END;
			END IF;
			IF shape = 'diff' THEN
				-- leaf 2's key on the same column to another plain table,
				-- often the subject's root (the leaf is then mapped alone)
				SELECT t.j INTO q FROM rp_tabs t WHERE t.j < j AND t.j <> p AND NOT t.part
				 ORDER BY t.j = 0 AND random() < 0.6 DESC, random() LIMIT 1;
				IF NOT FOUND OR (SELECT part FROM rp_tabs WHERE rp_tabs.j = p) THEN
					shape := 'some';
				END IF;
			END IF;
			cols := cols || format(', r%s int', p);
			IF (SELECT part FROM rp_tabs WHERE rp_tabs.j = p) THEN
				cols := cols || format(', r%sp int', p);
			END IF;
			IF shape = 'whole' THEN
				INSERT INTO rp_edge SELECT j, NULL, 'r' || p, p, act, t.part FROM rp_tabs t WHERE t.j = p;
			ELSE
				INSERT INTO rp_edge SELECT j, 1, 'r' || p, p, act, t.part FROM rp_tabs t WHERE t.j = p;
				IF shape = 'diff' THEN
					INSERT INTO rp_edge VALUES (j, 2, 'r' || p, q, acts[1 + floor(random() * 6)::int], false);
				END IF;
			END IF;
		END LOOP;
		IF partitioned THEN
			EXECUTE format('CREATE TABLE rp.t%s (%s, PRIMARY KEY (id, part)) PARTITION BY LIST (part)', j, cols);
			IF random() < 0.5 THEN
				-- leaf 1 partitioned again: its keys are an intermediate
				-- partition's, its rows in two leaves
				EXECUTE format('CREATE TABLE rp.t%s_1 PARTITION OF rp.t%s FOR VALUES IN (1) PARTITION BY RANGE (id)', j, j);
				EXECUTE format('CREATE TABLE rp.t%s_1a PARTITION OF rp.t%s_1 FOR VALUES FROM (MINVALUE) TO (150)', j, j);
				EXECUTE format('CREATE TABLE rp.t%s_1b PARTITION OF rp.t%s_1 FOR VALUES FROM (150) TO (MAXVALUE)', j, j);
			ELSE
				EXECUTE format('CREATE TABLE rp.t%s_1 PARTITION OF rp.t%s FOR VALUES IN (1)', j, j);
			END IF;
			EXECUTE format('CREATE TABLE rp.t%s_2 PARTITION OF rp.t%s FOR VALUES IN (2)', j, j);
		ELSE
			EXECUTE format('CREATE TABLE rp.t%s (%s, PRIMARY KEY (id))', j, cols);
		END IF;
	END LOOP;
	-- the keys
	FOR e IN SELECT * FROM rp_edge ORDER BY child, col, leaf LOOP
		actsql := CASE e.action WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'a' THEN 'NO ACTION'
			ELSE 'RESTRICT' END;
		EXECUTE format('ALTER TABLE rp.%s ADD FOREIGN KEY (%s) REFERENCES rp.t%s (%s) ON DELETE %s',
			CASE WHEN e.leaf IS NULL THEN 't' || e.child ELSE format('t%s_%s', e.child, e.leaf) END,
			CASE WHEN e.ppart THEN format('%s, %sp', e.col, e.col) ELSE e.col END,
			e.parent, CASE WHEN e.ppart THEN 'id, part' ELSE 'id' END, actsql);
	END LOOP;
	-- another role owns some tables (and their leaves): its rows behind a
	-- NO ACTION / RESTRICT key stay (the policy table's owner could not
	-- delete them by hand); behind a CASCADE key they go
	UPDATE rp_tabs t SET other = true WHERE t.j >= 2 AND random() < 0.2;
	FOR e IN SELECT format('rp.%s', t.name)::regclass AS relid FROM rp_tabs t WHERE t.other
	          UNION SELECT x.relid FROM rp_tabs t, pg_partition_tree(format('rp.%s', t.name)::regclass) x
	          WHERE t.other LOOP
		EXECUTE format('ALTER TABLE %s OWNER TO regress_rp_other', e.relid);
	END LOOP;
	-- (the hold filter of a table two hops from the root reads the tables
	-- of its path as the table's owner: README, "One exception is left")
	GRANT SELECT ON ALL TABLES IN SCHEMA rp TO regress_rp_other;
	-- a kept column on some sink tables (no table references them: never
	-- a referenced table of the map)
	UPDATE rp_tabs t SET keepcol = true WHERE t.j >= 2 AND random() < 0.3
	   AND NOT EXISTS (SELECT FROM rp_edge x WHERE x.parent = t.j);
	-- rows, parents first
	INSERT INTO rp_rows SELECT 0, g, 1, NULL FROM generate_series(1, 4) g;
	INSERT INTO rp.t0 (id) SELECT g FROM generate_series(1, 4) g;
	nid := 100;
	FOR j IN 1 .. ntab - 1 LOOP
		partitioned := (SELECT part FROM rp_tabs WHERE rp_tabs.j = j);
		FOR k IN 1 .. CASE WHEN j = 1 THEN 8 ELSE 4 END + floor(random() * 5)::int LOOP
			nid := nid + 1;
			INSERT INTO rp_rows VALUES (j, nid, CASE WHEN partitioned AND random() < 0.5 THEN 2 ELSE 1 END,
				CASE WHEN j <> 1 THEN NULL
					 ELSE now() - (ARRAY['2 years', '1 year 6 hours', '1 year -6 hours', '30 days', '0', NULL])
						[1 + floor(random() * 6)::int]::interval END);
			SELECT * INTO r FROM rp_rows WHERE id = nid;
			EXECUTE format('INSERT INTO rp.t%s (id, part, note%s) VALUES ($1, $2, $3%s)', j,
				CASE WHEN j = 1 THEN ', at' ELSE '' END, CASE WHEN j = 1 THEN ', $4' ELSE '' END)
				USING r.id, r.part, 'n' || r.id, r.at;
			-- each referencing column: a row of the key's target for this
			-- leaf (any row of the first target in a leaf without a key),
			-- or NULL
			FOR e IN SELECT DISTINCT ON (x.col) x.col, x.parent, x.ppart FROM rp_edge x
			          WHERE x.child = j ORDER BY x.col, (x.leaf IS NOT DISTINCT FROM r.part) DESC, x.leaf LOOP
				CONTINUE WHEN random() < 0.15;
				SELECT w.id, w.part INTO v, vp FROM rp_rows w WHERE w.j = e.parent ORDER BY random() LIMIT 1;
				EXECUTE format('UPDATE rp.t%s SET %s = $1%s WHERE id = $2', j, e.col,
					CASE WHEN e.ppart THEN format(', %sp = $3', e.col) ELSE '' END) USING v, r.id, vp;
			END LOOP;
		END LOOP;
	END LOOP;
	SELECT count(*) INTO np FROM rp_rows;
	-- the resolved references: a key of a leaf holds for that leaf's rows;
	-- for owners (rp_oref), a key of one leaf whose other leaf has no key
	-- on that column is the partitioned table's, as the map says (its rows
	-- are the subject's by their values in every leaf: access and erase
	-- take them)
	FOR e IN SELECT x.*, x.leaf IS NOT NULL AND NOT EXISTS (SELECT FROM rp_edge y
	           WHERE y.child = x.child AND y.col = x.col AND y.leaf <> x.leaf) AS whole_owner
	           FROM rp_edge x LOOP
		EXECUTE format('INSERT INTO rp_ref SELECT c.id, c.%s, $1 FROM rp.t%s c WHERE c.%s IS NOT NULL'
			' AND ($2::int IS NULL OR c.part = $2)', e.col, e.child, e.col) USING e.action, e.leaf;
		EXECUTE format('INSERT INTO rp_oref SELECT c.id, c.%s FROM rp.t%s c WHERE c.%s IS NOT NULL'
			' AND ($1::int IS NULL OR c.part = $1)', e.col, e.child, e.col)
			USING CASE WHEN e.whole_owner THEN NULL ELSE e.leaf END;
	END LOOP;
	-- owners: a chain of references to people's row
	INSERT INTO rp_own
	WITH RECURSIVE o(person, id) AS (
		SELECT f.pid, f.cid FROM rp_oref f JOIN rp_rows w ON w.id = f.pid AND w.j = 0
		UNION SELECT o.person, f.cid FROM o JOIN rp_oref f ON f.pid = o.id)
	SELECT * FROM o;
	-- the subject, its holds, the modes and kept columns
	PERFORM privacy.define_subject('rp_person', 'rp.t0');
	INSERT INTO rp_held SELECT g FROM generate_series(1, 4) g WHERE random() < 0.4;
	PERFORM privacy.hold('rp_person', h.person::text, 'property test') FROM rp_held h;
	PERFORM privacy.set_erasure_mode(format('rp.%s', t.name)::regclass, 'anonymize') FROM rp_tabs t WHERE t.anon;
	PERFORM privacy.classify(format('rp.%s', t.name)::regclass, 'note', 'user.contact', 'keep')
	   FROM rp_tabs t WHERE t.keepcol;
	casc := random() < 0.8;
	RETURN casc;
END $$;

-- rp_expect: the rows the oracle says go (rp_gone), and the counters
CREATE FUNCTION pg_temp.rp_expect(casc boolean, OUT rows int, OUT held int, OUT blocked int)
LANGUAGE plpgsql AS $$
BEGIN
	CREATE TEMP TABLE rp_cand ON COMMIT DROP AS
	SELECT w.id, EXISTS (SELECT FROM rp_own o JOIN rp_held h USING (person) WHERE o.id = w.id) AS held
	  FROM rp_rows w WHERE w.j = 1 AND w.at < now() - interval '1 year';
	-- dependents: references through CASCADE / NO ACTION / RESTRICT keys,
	-- with the key's action
	CREATE TEMP TABLE rp_dep ON COMMIT DROP AS
	WITH RECURSIVE d(root, id, action) AS (
		SELECT c.id, f.cid, f.action FROM rp_cand c JOIN rp_ref f ON f.pid = c.id AND f.action <> 'n'
		 WHERE NOT c.held
		UNION SELECT d.root, f.cid, f.action FROM d JOIN rp_ref f ON f.pid = d.id AND f.action <> 'n')
	SELECT * FROM d;
	CREATE TEMP TABLE rp_blocked ON COMMIT DROP AS
	SELECT c.id FROM rp_cand c WHERE NOT c.held AND CASE WHEN casc THEN EXISTS (
		SELECT FROM rp_dep d JOIN rp_rows w ON w.id = d.id JOIN rp_tabs t ON t.j = w.j
		 WHERE d.root = c.id AND (t.anon OR t.keepcol OR (t.other AND d.action IN ('a', 'r'))
		       OR EXISTS (SELECT FROM rp_own o JOIN rp_held h USING (person) WHERE o.id = d.id)))
		ELSE EXISTS (SELECT FROM rp_ref f WHERE f.pid = c.id) END;
	INSERT INTO rp_gone
	SELECT c.id FROM rp_cand c WHERE NOT c.held AND c.id NOT IN (SELECT id FROM rp_blocked)
	UNION SELECT d.id FROM rp_dep d WHERE d.root NOT IN (SELECT id FROM rp_blocked);
	SELECT count(*) INTO rows FROM rp_gone;
	SELECT count(*) INTO held FROM rp_cand c WHERE c.held;
	SELECT count(*) INTO blocked FROM rp_blocked;
END $$;

-- rp_one: build, run, compare
CREATE FUNCTION pg_temp.rp_one(seed int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	casc boolean;
	pol bigint;
	got bigint;
	want record;
	run record;
	tb record;
	n bigint;
BEGIN
	casc := pg_temp.rp_build(seed);
	SELECT * INTO want FROM pg_temp.rp_expect(casc);
	pol := privacy.add_retention('rp.t1', 'at', interval '1 year', cascade => casc);
	got := privacy.run_retention(pol);
	-- the rows there now
	CREATE TEMP TABLE rp_after (id int) ON COMMIT DROP;
	FOR tb IN SELECT * FROM rp_tabs LOOP
		EXECUTE format('INSERT INTO rp_after SELECT id FROM rp.%s', tb.name);
	END LOOP;
	SELECT count(*) INTO n FROM rp_rows w
	 WHERE w.id NOT IN (SELECT id FROM rp_after) AND w.id NOT IN (SELECT id FROM rp_gone);
	IF n > 0 THEN INSERT INTO rp_failures VALUES (seed, 'deleted, must stay', n); END IF;
	SELECT count(*) INTO n FROM rp_gone g WHERE g.id IN (SELECT id FROM rp_after);
	IF n > 0 THEN INSERT INTO rp_failures VALUES (seed, 'kept, must go', n); END IF;
	SELECT * INTO run FROM privacy.retention_runs r WHERE r.policy = pol;
	IF got <> want.rows THEN INSERT INTO rp_failures VALUES (seed, 'run_retention count', got - want.rows); END IF;
	IF coalesce(run.held, 0) <> want.held THEN
		INSERT INTO rp_failures VALUES (seed, 'held count', coalesce(run.held, 0) - want.held);
	END IF;
	IF coalesce(run.blocked, 0) <> want.blocked THEN
		INSERT INTO rp_failures VALUES (seed, 'blocked count', coalesce(run.blocked, 0) - want.blocked);
	END IF;
	INSERT INTO rp_stats VALUES (seed, casc, (SELECT count(*) FROM rp_rows),
		(SELECT count(*) FROM rp_cand), want.rows, want.held, want.blocked,
		EXISTS (SELECT FROM rp_dep d JOIN rp_rows w ON w.id = d.id JOIN rp_tabs t ON t.j = w.j WHERE t.part),
		EXISTS (SELECT FROM rp_edge x WHERE x.leaf IS NOT NULL AND x.parent = 1),
		EXISTS (SELECT FROM rp_edge x WHERE x.leaf IS NOT NULL AND x.parent = 0),
		EXISTS (SELECT FROM rp_blocked b JOIN rp_dep d ON d.root = b.id JOIN rp_rows w ON w.id = d.id
		         JOIN rp_tabs t ON t.j = w.j WHERE t.anon OR t.keepcol),
		EXISTS (SELECT FROM rp_blocked b JOIN rp_dep d ON d.root = b.id
		         JOIN rp_own o ON o.id = d.id JOIN rp_held h USING (person)),
		EXISTS (SELECT FROM rp_blocked b JOIN rp_dep d ON d.root = b.id JOIN rp_rows w ON w.id = d.id
		         JOIN rp_tabs t ON t.j = w.j WHERE t.other AND d.action IN ('a', 'r')),
		EXISTS (SELECT FROM rp_gone g JOIN rp_rows w ON w.id = g.id JOIN rp_tabs t ON t.j = w.j WHERE t.other),
		EXISTS (SELECT FROM rp_dep d JOIN rp_rows w ON w.id = d.id JOIN rp_tabs t ON t.j = w.j
		         WHERE w.part = 1 AND to_regclass(format('rp.%s_1a', t.name)) IS NOT NULL));
	PERFORM privacy.drop_retention(pol);
	PERFORM privacy.release_hold('rp_person', h.person::text) FROM rp_held h;
	PERFORM privacy.drop_subject('rp_person');
END $$;

SET client_min_messages = error;
\set ECHO none
\o /dev/null
SELECT format('SELECT pg_temp.rp_one(%s)', s) FROM generate_series(:first_seed, :first_seed + :schemas - 1) s \gexec
\o
\set ECHO all
SET client_min_messages = warning;
DROP SCHEMA rp CASCADE;
-- enough schemas of every kind, and rows of every fate
SELECT count(*) AS schemas, (SELECT count(*) FROM rp_failures) AS failing,
       count(*) FILTER (WHERE NOT cascade) > 0 AS some_no_cascade,
       sum(gone) > sum(expired) / 4 AS many_gone, sum(held) > 0 AS some_held, sum(blocked) > 0 AS some_blocked,
       count(*) FILTER (WHERE partdeps) > 3 AS partitioned_dependents,
       count(*) FILTER (WHERE leafdeps) > 3 AS leaf_dependents,
       count(*) FILTER (WHERE leafmapped) > 3 AS leaf_mapped,
       count(*) FILTER (WHERE anonblock) > 3 AS blocked_by_mode,
       count(*) FILTER (WHERE holdblock) > 3 AS blocked_by_hold,
       count(*) FILTER (WHERE otherblock) > 3 AS blocked_by_owner,
       count(*) FILTER (WHERE othergone) > 0 AS others_rows_gone,
       count(*) FILTER (WHERE subpart) > 3 AS subpartitioned_dependents
  FROM rp_stats;
SELECT * FROM rp_failures ORDER BY seed, what LIMIT 20;
DROP EXTENSION privacy;
REVOKE USAGE ON SCHEMA privacy FROM regress_rp_other;
DROP ROLE regress_rp_other;
