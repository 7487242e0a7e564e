-- Property test of the map (issue #17): generated schemas (up to 8 tables,
-- up to 5 foreign keys each, to the root, to earlier tables, to later
-- tables (cycles) and to themselves; composite keys; hash-partitioned
-- tables; a linked log table) with random rows.  For every subject and
-- every table, the rows access() returns are compared with an independent
-- walk written here: a fixed point over pg_constraint that marks rows by
-- (tableoid, ctid).  No output but the totals when everything matches.
CREATE EXTENSION privacy;
SET client_min_messages = warning;
SET check_function_bodies = off;  -- the functions name schema p, created later

-- the independent walk: rows of schema p reached from users.id = uid
CREATE FUNCTION pg_temp.walk(uid int) RETURNS TABLE (tbl text, n bigint) LANGUAGE plpgsql AS $$
DECLARE
	c record;
	added bigint;
	total bigint;
BEGIN
	DROP TABLE IF EXISTS pg_temp.reach;
	CREATE TEMP TABLE reach (rel oid, toid oid, tid tid);
	INSERT INTO reach SELECT 'p.users'::regclass, u.tableoid, u.ctid FROM p.users u WHERE u.id = uid;
	INSERT INTO reach SELECT 'p.lg'::regclass, l.tableoid, l.ctid FROM p.lg l WHERE l.who = uid::text;
	LOOP
		total := 0;
		FOR c IN
			SELECT k.conrelid::regclass AS child, k.confrelid::regclass AS parent,
			       (SELECT string_agg(format('x.%I', a.attname), ', ' ORDER BY o)
			          FROM unnest(k.conkey) WITH ORDINALITY u(n, o)
			          JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n) AS ccols,
			       (SELECT string_agg(format('y.%I', a.attname), ', ' ORDER BY o)
			          FROM unnest(k.confkey) WITH ORDINALITY u(n, o)
			          JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n) AS pcols
			  FROM pg_constraint k
			 WHERE k.contype = 'f' AND k.conparentid = 0
			   AND k.connamespace = 'p'::regnamespace AND k.conrelid <> 'p.users'::regclass
		LOOP
			EXECUTE format('INSERT INTO reach SELECT %L::regclass, x.tableoid, x.ctid FROM %s x'
			               ' WHERE (%s) IN (SELECT %s FROM %s y JOIN reach r ON r.rel = %L::regclass'
			               '   AND r.toid = y.tableoid AND r.tid = y.ctid)'
			               ' AND NOT EXISTS (SELECT FROM reach r2 WHERE r2.rel = %L::regclass'
			               '   AND r2.toid = x.tableoid AND r2.tid = x.ctid)',
			               c.child, c.child, c.ccols, c.pcols, c.parent, c.parent, c.child);
			GET DIAGNOSTICS added = ROW_COUNT;
			total := total + added;
		END LOOP;
		EXIT WHEN total = 0;
	END LOOP;
	RETURN QUERY SELECT r.rel::regclass::text, count(*) FROM reach r GROUP BY 1;
END $$;

-- simple paths from each table to the root or the linked table, counted
-- independently (the most of any table)
CREATE FUNCTION pg_temp.max_paths() RETURNS int LANGUAGE sql AS $$
	WITH RECURSIVE e AS (
		SELECT k.conrelid AS child, k.confrelid AS parent FROM pg_constraint k
		 WHERE k.contype = 'f' AND k.conparentid = 0 AND k.connamespace = to_regnamespace('p')
	), w(t, seen) AS (
		SELECT r.oid, ARRAY[r.oid] FROM pg_class r
		 WHERE r.oid IN ('p.users'::regclass, 'p.lg'::regclass)
		UNION ALL
		SELECT e.child, w.seen || e.child FROM w JOIN e ON e.parent = w.t
		 WHERE e.child <> ALL (w.seen)
	)
	SELECT coalesce(max(c), 0)::int FROM (SELECT t, count(*) AS c FROM w GROUP BY t) s $$;

CREATE FUNCTION pg_temp.generate(seed int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	ntab int;
	i int;
	j int;
	f int;
	nfk int;
	composite bool[];
	parted bool[];
	cols text;
	fks text[];
	later text[];
	tgt text;
	tgtcomp bool;
	sets text;
BEGIN
	PERFORM setseed(seed / 1000.0);
	DROP SCHEMA IF EXISTS p CASCADE;
	CREATE SCHEMA p;
	CREATE TABLE p.users (id int PRIMARY KEY);
	INSERT INTO p.users SELECT generate_series(1, 6);
	CREATE TABLE p.lg (id int PRIMARY KEY, who text);
	INSERT INTO p.lg SELECT g, (1 + g % 5)::text FROM generate_series(1, 6) g;  -- '5': nobody
	ntab := 2 + floor(random() * 7)::int;
	composite := '{}'; parted := '{}';
	FOR i IN 1 .. ntab LOOP
		composite[i] := random() < 0.3;
		parted[i] := random() < 0.25;
		nfk := 1 + floor(random() * 5)::int;
		cols := ''; fks := '{}'; later := '{}'; sets := '';
		FOR f IN 1 .. nfk LOOP
			j := floor(random() * (i + 3))::int - 1;   -- -1: users, 0: lg, 1..i-1 earlier, i self, i+1: later
			IF j = -1 THEN tgt := 'p.users'; tgtcomp := false;
			ELSIF j = 0 THEN tgt := 'p.lg'; tgtcomp := false;
			ELSIF j <= ntab THEN tgt := 'p.t' || j; tgtcomp := composite[j];
			ELSE tgt := 'p.t' || ntab; tgtcomp := NULL;
			END IF;
			IF j > i AND j <= ntab OR j > ntab THEN
				-- a later table: its key shape is not known yet, decided now
				IF j > ntab THEN j := ntab; END IF;
				IF j = i THEN tgtcomp := composite[i]; END IF;
			END IF;
			cols := cols || format(', f%s int', f);
			IF coalesce(tgtcomp, false) THEN cols := cols || format(', f%sk int', f); END IF;
			IF j >= i THEN
				later := later || format('%s|%s|%s', f, j, coalesce(tgtcomp::text, 'x'));
			ELSIF coalesce(tgtcomp, false) THEN
				fks := fks || format('FOREIGN KEY (f%s, f%sk) REFERENCES %s', f, f, tgt);
			ELSE
				fks := fks || format('FOREIGN KEY (f%s) REFERENCES %s', f, tgt);
			END IF;
		END LOOP;
		EXECUTE format('CREATE TABLE p.t%s (id int, k int%s, PRIMARY KEY (id%s)%s)%s', i, cols,
			CASE WHEN composite[i] THEN ', k' ELSE '' END,
			CASE WHEN cardinality(fks) > 0 THEN ', ' || array_to_string(fks, ', ') ELSE '' END,
			CASE WHEN parted[i] THEN ' PARTITION BY HASH (id)' ELSE '' END);
		IF parted[i] THEN
			EXECUTE format('CREATE TABLE p.t%s_0 PARTITION OF p.t%s FOR VALUES WITH (MODULUS 2, REMAINDER 0)', i, i);
			EXECUTE format('CREATE TABLE p.t%s_1 PARTITION OF p.t%s FOR VALUES WITH (MODULUS 2, REMAINDER 1)', i, i);
		END IF;
		-- later and self references: stored as comments, added below
		EXECUTE format('COMMENT ON TABLE p.t%s IS %L', i, array_to_string(later, ';'));
	END LOOP;
	-- rows: ids 1..6, k = id % 2; references to earlier tables now
	FOR i IN 1 .. ntab LOOP
		EXECUTE format('INSERT INTO p.t%s (id, k) SELECT g, g %% 2 FROM generate_series(1, 6) g', i);
	END LOOP;
	-- every foreign key column gets a random parent (or NULL)
	FOR i IN 1 .. ntab LOOP
		DECLARE
			a record;
		BEGIN
			FOR a IN SELECT attname FROM pg_attribute WHERE attrelid = format('p.t%s', i)::regclass
			            AND attname ~ '^f[0-9]+$' LOOP
				EXECUTE format('UPDATE p.t%s SET %I = CASE WHEN random() < 0.35 THEN NULL ELSE 1 + floor(random() * 6)::int END',
				               i, a.attname);
				IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = format('p.t%s', i)::regclass
				            AND attname = a.attname || 'k') THEN
					EXECUTE format('UPDATE p.t%s SET %I = %I %% 2', i, a.attname || 'k', a.attname);
				END IF;
			END LOOP;
		END;
	END LOOP;
	-- later and self references
	FOR i IN 1 .. ntab LOOP
		DECLARE
			spec text;
			parts text[];
		BEGIN
			FOR spec IN SELECT unnest(string_to_array(obj_description(format('p.t%s', i)::regclass, 'pg_class'), ';')) LOOP
				parts := string_to_array(spec, '|');
				IF composite[parts[2]::int] AND EXISTS (SELECT FROM pg_attribute
				        WHERE attrelid = format('p.t%s', i)::regclass AND attname = 'f' || parts[1] || 'k') THEN
					EXECUTE format('ALTER TABLE p.t%s ADD FOREIGN KEY (f%s, f%sk) REFERENCES p.t%s', i, parts[1], parts[1], parts[2]);
				ELSIF NOT composite[parts[2]::int] THEN
					EXECUTE format('ALTER TABLE p.t%s ADD FOREIGN KEY (f%s) REFERENCES p.t%s (id)', i, parts[1], parts[2]);
				ELSE
					EXECUTE format('UPDATE p.t%s SET f%s = NULL', i, parts[1]);
				END IF;
			END LOOP;
		END;
	END LOOP;
END $$;

-- a plain (non-composite) table referenced by id alone needs a unique id:
-- ids are unique in every table (1..6), so FOREIGN KEY ... REFERENCES t (id)
-- on a composite-key table is not used above.

CREATE TABLE pg_temp.results (seed int, uid int, tbl text, expected bigint, got bigint);
CREATE TABLE pg_temp.shapes (seed int, tables int, fks int, max_paths int, partitioned int, composite int);
-- one transaction per schema (a DROP SCHEMA holds its locks until commit)
CREATE PROCEDURE pg_temp.run(seeds int) LANGUAGE plpgsql AS $$
DECLARE
	s int;
	u int;
BEGIN
	FOR s IN 1 .. seeds LOOP
		PERFORM pg_temp.generate(s);
		IF EXISTS (SELECT FROM privacy.subject_types WHERE name = 'pu') THEN
			PERFORM privacy.drop_subject('pu');
		END IF;
		PERFORM privacy.define_subject('pu', 'p.users');
		PERFORM privacy.link('pu', 'p.lg', 'who');
		INSERT INTO pg_temp.shapes SELECT s,
			(SELECT count(*) FROM pg_class WHERE relnamespace = 'p'::regnamespace AND relkind IN ('r', 'p') AND NOT relispartition),
			(SELECT count(*) FROM pg_constraint WHERE connamespace = 'p'::regnamespace AND contype = 'f' AND conparentid = 0),
			pg_temp.max_paths(),
			(SELECT count(*) FROM pg_class WHERE relnamespace = 'p'::regnamespace AND relkind = 'p'),
			(SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
			  WHERE c.relnamespace = 'p'::regnamespace AND i.indisprimary AND i.indnatts = 2 AND NOT c.relispartition);
		FOR u IN 1 .. 3 LOOP
			INSERT INTO pg_temp.results
			SELECT s, u, coalesce(w.tbl, a.key), coalesce(w.n, 0), coalesce(jsonb_array_length(a.value), 0)
			  FROM pg_temp.walk(u) w
			  FULL JOIN jsonb_each(privacy.access('pu', u::text)->'data') a ON a.key = w.tbl;
		END LOOP;
		COMMIT;
	END LOOP;
END $$;
CALL pg_temp.run(40);

-- what was generated
SELECT count(*) AS schemas, sum(tables) AS tables, sum(fks) AS foreign_keys,
       max(max_paths) >= 40 AS over_40_paths, sum(partitioned) > 0 AS partitions,
       sum(composite) > 0 AS composite_keys
  FROM pg_temp.shapes;
-- every table of every subject: the rows found equal the independent walk
SELECT count(*) > 500 AS compared, count(*) FILTER (WHERE expected <> got) AS mismatches,
       sum(expected) > 0 AS rows_found FROM pg_temp.results;
SELECT * FROM pg_temp.results WHERE expected <> got ORDER BY 1, 2, 3 LIMIT 10;

DROP SCHEMA p CASCADE;
DROP EXTENSION privacy;
-- the generated schemas left many dead catalog rows: clean up for the tests
-- that follow in this database
VACUUM ANALYZE pg_catalog.pg_class, pg_catalog.pg_attribute, pg_catalog.pg_constraint,
	pg_catalog.pg_depend, pg_catalog.pg_type, pg_catalog.pg_index, pg_catalog.pg_trigger;
