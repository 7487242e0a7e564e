-- Randomized property test of erase with shared => 'keep' (README "Shared
-- rows"), beside 45_erase_property (which generates nullable keys only, so
-- its oracle never meets the cascade rule of kept shared rows).  Each seed
-- builds a schema "pk" of 4 to 9 tables (the root included): foreign keys to
-- earlier tables only (no self-reference, no cycle: the README's limits),
-- several paths to the root (two keys into the same table too), composite
-- keys (a tenant column shared by two keys; one NOT NULL column and a
-- nullable one), NOT NULL keys (CASCADE, NO ACTION, RESTRICT) and nullable
-- ones (CASCADE, SET NULL, SET DEFAULT, NO ACTION, RESTRICT), links,
-- partitioned tables, some anonymize-mode tables, and random rows, many of
-- them reaching two subjects (shared).  For every subject, shared =>
-- 'delete' and 'keep', the dry run then the erasure run in a subtransaction
-- that is rolled back, against an oracle written here that reads the foreign
-- keys from pg_constraint (never the extension's map) and computes, to a
-- fixed point, the rows that go:
--   - delete: the subject's rows of delete-mode tables;
--   - keep: the subject's rows of delete-mode tables that no other subject
--     has, plus every shared one with a NOT NULL ON DELETE CASCADE key into a
--     row that goes (top-down: a shared row goes with the row it references);
--     the other shared rows stay, their keys into rows that go cleared;
--   - 23503 when a shared row to keep has a NOT NULL NO ACTION key into a row
--     that goes, or a row that stays (anonymize mode) a CASCADE or NO ACTION
--     key into one.
-- Checked: 23503 exactly then (dry run and erasure), every other row
-- unchanged but for the columns that must change (by value: the rows'
-- md5 before and after), the receipt's deleted / anonymized / detached /
-- shared per table equal to the oracle's, the dry run's receipt equal to the
-- erasure's, and no row of a delete-mode table left that reaches the subject
-- but a kept shared one.  Link columns (nullable or NOT NULL) are references
-- into the subject's root row; a kept shared row's is cleared, or 23503.
-- Not generated: a NOT NULL key ON DELETE SET NULL or SET DEFAULT (the
-- README counts both as references that can be cleared; the erasure refuses
-- a kept shared row with one, 23503), self-references and cycles (README:
-- limits of shared rows).
-- The psql variables "schemas" (make test: 50, about 300 cases) and
-- "first_seed" choose the seeds.
\if :{?schemas}
\else
\set schemas 50
\endif
\if :{?first_seed}
\else
\set first_seed 1
\endif
SET client_min_messages = warning;
SET jit = off;
CREATE EXTENSION privacy;

-- what the generator built (pk_tabs) and the foreign keys as the catalog has them (pk_edge)
CREATE TEMP TABLE pk_tabs (tbl text PRIMARY KEY, ord int, anon boolean, composite boolean, tenant boolean,
	link text, depth int, npaths int);
CREATE TEMP TABLE pk_edge (id int PRIMARY KEY, child text, parent text, ccols text[], pcols text[],
	action "char", clr text[], req boolean);
CREATE TEMP TABLE pk_rows (tbl text, rid int PRIMARY KEY, r jsonb);
CREATE TEMP TABLE pk_ref (edge int, crid int, prid int);
CREATE INDEX ON pk_ref (prid);
CREATE INDEX ON pk_ref (crid);
CREATE TEMP TABLE pk_own (subj int, rid int, PRIMARY KEY (subj, rid));
CREATE INDEX ON pk_own (rid);
CREATE TEMP TABLE pk_failures (seed int, subj int, keep boolean, what text);
CREATE TEMP TABLE pk_after (tbl text, rid int PRIMARY KEY, r jsonb);

CREATE FUNCTION pg_temp.pk_snapshot() RETURNS void LANGUAGE plpgsql AS $$
DECLARE t record;
BEGIN
	TRUNCATE pk_rows;
	FOR t IN SELECT tbl FROM pk_tabs ORDER BY ord LOOP
		EXECUTE format('INSERT INTO pk_rows SELECT %L, x.rid, to_jsonb(x) FROM pk.%I x', t.tbl, t.tbl);
	END LOOP;
END $$;

-- the foreign keys of schema pk from pg_constraint: columns in key order,
-- the ON DELETE action, the columns that no other key of the table uses
-- (what detaching a kept shared row clears: MATCH SIMPLE) and whether one of
-- them is NOT NULL (then the key cannot be cleared)
CREATE FUNCTION pg_temp.pk_edges() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	TRUNCATE pk_edge;
	INSERT INTO pk_edge
	SELECT row_number() OVER (ORDER BY c.conrelid::regclass::text, c.conname), cr.relname, pr.relname,
	       (SELECT array_agg(a.attname::text ORDER BY k.n) FROM unnest(c.conkey) WITH ORDINALITY k(att, n)
	          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att),
	       (SELECT array_agg(a.attname::text ORDER BY k.n) FROM unnest(c.confkey) WITH ORDINALITY k(att, n)
	          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.att),
	       c.confdeltype, x.clr, x.req
	  FROM pg_constraint c JOIN pg_class cr ON cr.oid = c.conrelid JOIN pg_class pr ON pr.oid = c.confrelid,
	       LATERAL (SELECT array_agg(a.attname::text ORDER BY a.attnum) AS clr, bool_or(a.attnotnull) AS req
	                  FROM unnest(c.conkey) k(att) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att
	                 WHERE NOT EXISTS (SELECT FROM pg_constraint o WHERE o.conrelid = c.conrelid AND o.contype = 'f'
	                                      AND o.oid <> c.oid AND o.conparentid = 0
	                                      AND k.att = ANY (o.conkey))) x
	 WHERE c.contype = 'f' AND cr.relnamespace = 'pk'::regnamespace AND c.conparentid = 0;
END $$;

-- which row each key of each row references, and the subjects of each row:
-- the root row, and rows with a key into a row of the subject (tables in
-- creation order: every key goes to an earlier table)
CREATE FUNCTION pg_temp.pk_resolve() RETURNS void LANGUAGE plpgsql AS $$
DECLARE ed record; t record; j text;
BEGIN
	TRUNCATE pk_ref, pk_own;
	FOR ed IN SELECT * FROM pk_edge LOOP
		SELECT string_agg(format('c.%I = p.%I', cc, pc), ' AND ') INTO j FROM unnest(ed.ccols, ed.pcols) u(cc, pc);
		EXECUTE format('INSERT INTO pk_ref SELECT %s, c.rid, p.rid FROM pk.%I c JOIN pk.%I p ON %s',
		               ed.id, ed.child, ed.parent, j);
	END LOOP;
	INSERT INTO pk_own SELECT x.id, x.rid FROM pk.root x;
	FOR t IN SELECT * FROM pk_tabs WHERE tbl <> 'root' ORDER BY ord LOOP
		IF t.link IS NOT NULL THEN
			EXECUTE format('INSERT INTO pk_own SELECT r.id, x.rid FROM pk.%I x JOIN pk.root r ON x.who = r.id::text', t.tbl);
		END IF;
		INSERT INTO pk_own SELECT o.subj, f.crid
		  FROM pk_edge e JOIN pk_ref f ON f.edge = e.id JOIN pk_own o ON o.rid = f.prid
		 WHERE e.child = t.tbl
		ON CONFLICT DO NOTHING;
	END LOOP;
END $$;

-- a random schema pk with random rows
CREATE FUNCTION pg_temp.pk_build(seed int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	ntab int; nsubj int; i int; k int; nrows int; eid int := 0; npar int;
	t record; p record; cols text; keycols text[]; ccols text[]; act "char"; nn boolean;
	dep int; np int; rid int := 0; vals text; fkv text; anon boolean; composite boolean; tenanted boolean; tn int; link text; half boolean; part boolean;
	cond text;
BEGIN
	PERFORM setseed((seed % 20000) / 20000.0 + 0.00003);
	DROP SCHEMA IF EXISTS pk CASCADE;
	CREATE SCHEMA pk;
	TRUNCATE pk_tabs;
	nsubj := 2 + floor(random() * 3)::int;
	CREATE TABLE pk.root (id int PRIMARY KEY, rid int, v text);
	INSERT INTO pk_tabs VALUES ('root', 0, false, false, false, NULL, 0, 1);
	FOR i IN 1..nsubj LOOP
		rid := rid + 1;
		INSERT INTO pk.root VALUES (i, rid, 'root ' || i);
	END LOOP;
	ntab := 3 + floor(random() * 6)::int;
	FOR i IN 1..ntab LOOP
		anon := random() < 0.15;
		composite := random() < 0.4;
		cols := 'k1 int NOT NULL, rid int, v text';
		IF composite THEN cols := cols || ', k2 int NOT NULL'; END IF;
		-- a tenant column, part of every key into a composite table (k2):
		-- two such keys share it (a message's (tenant, sender) and (tenant,
		-- recipient)); NOT NULL, so a key that is alone to use it cannot be cleared
		tenanted := NOT anon AND random() < 0.4;
		IF tenanted THEN cols := cols || ', tn int NOT NULL'; END IF;
		-- a link column (delete-mode tables), NOT NULL sometimes: a kept
		-- shared row's link to the subject is cleared, or 23503
		link := CASE WHEN anon OR random() >= 0.3 THEN NULL WHEN random() < 0.15 THEN 'who text NOT NULL' ELSE 'who text' END;
		IF link IS NOT NULL THEN cols := cols || ', ' || link; END IF;
		-- partitioned sometimes (k1 below 1000 or not)
		part := random() < 0.2;
		EXECUTE format('CREATE TABLE pk.%I (%s, PRIMARY KEY (%s))%s', 't' || i, cols,
		               CASE WHEN composite THEN 'k1, k2' ELSE 'k1' END,
		               CASE WHEN part THEN ' PARTITION BY RANGE (k1)' ELSE '' END);
		IF part THEN
			EXECUTE format('CREATE TABLE pk.%I PARTITION OF pk.%I FOR VALUES FROM (MINVALUE) TO (1000)', 't' || i || '_a', 't' || i);
			EXECUTE format('CREATE TABLE pk.%I PARTITION OF pk.%I FOR VALUES FROM (1000) TO (MAXVALUE)', 't' || i || '_b', 't' || i);
		END IF;
		-- 1 to 3 keys into earlier tables of depth < 4 (the same table twice
		-- possibly), at most 8 paths to the root
		dep := 0; np := CASE WHEN link IS NULL THEN 0 ELSE 1 END;
		npar := 1 + floor(random() * 3)::int;
		FOR k IN 1..npar LOOP
			SELECT * INTO p FROM pk_tabs x WHERE x.depth < 4 AND x.npaths + np <= 8
			 ORDER BY random() - CASE WHEN tenanted AND x.composite THEN 0.4 ELSE 0 END LIMIT 1;
			EXIT WHEN NOT FOUND;
			np := np + p.npaths;
			dep := greatest(dep, p.depth + 1);
			eid := eid + 1;
			keycols := CASE WHEN p.tbl = 'root' THEN '{id}' WHEN p.composite THEN '{k1,k2}' ELSE '{k1}' END;
			SELECT array_agg(format('e%s_%s', eid, n) ORDER BY n) INTO ccols FROM generate_series(1, cardinality(keycols)) n;
			IF tenanted AND p.composite THEN ccols[2] := 'tn'; END IF;
			-- NOT NULL keys cascade or have no action; nullable ones any of
			-- CASCADE, SET NULL, NO ACTION; anonymize-mode tables mostly SET NULL
			IF anon THEN
				nn := random() < 0.1;
				act := CASE WHEN nn THEN 'c' ELSE substr('nnnnnndc', 1 + floor(random() * 8)::int, 1) END;
			ELSE
				nn := random() < 0.45;
				act := CASE WHEN nn THEN substr('ccccccccar', 1 + floor(random() * 10)::int, 1)
				            ELSE substr('ccnndar', 1 + floor(random() * 7)::int, 1) END;
			END IF;
			-- a composite key with one NOT NULL column and a nullable one (it
			-- cannot be cleared: README), CASCADE or NO ACTION / RESTRICT
			half := NOT anon AND NOT nn AND cardinality(ccols) = 2 AND ccols[2] <> 'tn'
			        AND act IN ('c', 'a', 'r') AND random() < 0.4;
			EXECUTE format('ALTER TABLE pk.%I ADD COLUMN %s', 't' || i,
			               (SELECT string_agg(format('%I int%s', c, CASE WHEN nn OR (half AND n = 1) THEN ' NOT NULL' ELSE '' END), ', ADD COLUMN ')
			                  FROM unnest(ccols) WITH ORDINALITY u(c, n) WHERE c <> 'tn'));
			EXECUTE format('ALTER TABLE pk.%I ADD FOREIGN KEY (%s) REFERENCES pk.%I (%s) ON DELETE %s', 't' || i,
			               array_to_string(ccols, ', '), p.tbl, array_to_string(keycols, ', '),
			               CASE act WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' WHEN 'r' THEN 'RESTRICT' ELSE 'NO ACTION' END);
		END LOOP;
		INSERT INTO pk_tabs VALUES ('t' || i, i, anon, composite, tenanted, link, dep, np);
	END LOOP;
	PERFORM pg_temp.pk_edges();

	-- rows: keys to random existing rows (NULL sometimes where nullable)
	FOR t IN SELECT * FROM pk_tabs WHERE tbl <> 'root' ORDER BY ord LOOP
		nrows := 3 + floor(random() * 7)::int;
		FOR k IN 1..nrows LOOP
			rid := rid + 1;
			cols := 'k1, rid, v';
			vals := format('%s, %s, %L', k * 7 + CASE WHEN random() < 0.5 THEN 1000 ELSE 0 END, rid, CASE WHEN random() < 0.1 THEN NULL ELSE 'v' || rid END);
			IF t.composite THEN cols := cols || ', k2'; vals := vals || ', ' || (1 + k % 3); END IF;
			tn := 1 + floor(random() * 3)::int;
			IF t.tenant THEN cols := cols || ', tn'; vals := vals || ', ' || tn; END IF;
			IF t.link IS NOT NULL THEN
				cols := cols || ', who';
				vals := vals || ', ' || CASE WHEN t.link NOT LIKE '%NOT NULL' AND random() < 0.2 THEN 'NULL'
				                             ELSE quote_literal((1 + floor(random() * nsubj)::int)::text) END;
			END IF;
			-- (the tenant column is given above: a key through it takes a
			-- row of that tenant, every composite table has rows of each)
			FOR p IN SELECT * FROM pk_edge WHERE child = t.tbl ORDER BY id LOOP
				cols := cols || ', ' || array_to_string(array_remove(p.ccols, 'tn'), ', ');
				fkv := NULL;
				cond := CASE WHEN 'tn' = ANY (p.ccols) THEN 'k2 = ' || tn ELSE 'true' END;
				IF p.req OR random() >= 0.15 THEN
					EXECUTE format('SELECT format(%L, %s) FROM pk.%I WHERE %s ORDER BY random() LIMIT 1',
					               array_to_string(array_fill('%s'::text, ARRAY[cardinality(array_remove(p.ccols, 'tn'))]), ', '),
					               array_to_string((SELECT array_agg(pc) FROM unnest(p.ccols, p.pcols) u(cc, pc) WHERE cc <> 'tn'), ', '),
					               p.parent, cond) INTO fkv;
				END IF;
				vals := vals || ', ' || coalesce(fkv, array_to_string(array_fill('NULL'::text, ARRAY[cardinality(array_remove(p.ccols, 'tn'))]), ', '));
			END LOOP;
			EXECUTE format('INSERT INTO pk.%I (%s) VALUES (%s)', t.tbl, cols, vals);
		END LOOP;
	END LOOP;

	PERFORM privacy.define_subject('pk', 'pk.root');
	FOR t IN SELECT * FROM pk_tabs WHERE tbl <> 'root' ORDER BY ord LOOP
		IF t.link IS NOT NULL THEN PERFORM privacy.link('pk', format('pk.%I', t.tbl)::regclass, 'who'); END IF;
		PERFORM privacy.classify(format('pk.%I', t.tbl)::regclass, 'v', 'user.name', 'null');
		IF t.anon THEN PERFORM privacy.set_erasure_mode(format('pk.%I', t.tbl)::regclass, 'anonymize'); END IF;
	END LOOP;
	PERFORM pg_temp.pk_snapshot();
	PERFORM pg_temp.pk_resolve();
	RETURN nsubj;
END $$;

-- the oracle for erasing subject a: exp_s (the subject's rows, shared or
-- not), exp_gone (rows that go), exp_null (columns that change in rows that
-- stay); returns whether the erasure must fail with 23503
CREATE TEMP TABLE exp_s (rid int PRIMARY KEY, shared boolean, anon boolean);
CREATE TEMP TABLE exp_gone (rid int PRIMARY KEY);
CREATE TEMP TABLE exp_null (rid int, col text);
CREATE INDEX ON exp_null (rid);
CREATE FUNCTION pg_temp.pk_expect(a int, keep boolean) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE fails boolean;
BEGIN
	TRUNCATE exp_s, exp_gone, exp_null;
	INSERT INTO exp_s SELECT o.rid, EXISTS (SELECT FROM pk_own x WHERE x.rid = o.rid AND x.subj <> a), t.anon
	  FROM pk_own o JOIN pk_rows r USING (rid) JOIN pk_tabs t ON t.tbl = r.tbl WHERE o.subj = a;
	-- the subject's rows of delete-mode tables (not shared ones when kept)
	INSERT INTO exp_gone SELECT rid FROM exp_s WHERE NOT anon AND NOT (keep AND shared);
	-- top-down to a fixed point: a shared row with a NOT NULL cascading key
	-- into a row that goes goes too; so does any row that is not the
	-- subject's with a cascading key into one (none here: every row with a
	-- key into a row of the subject is the subject's)
	LOOP
		INSERT INTO exp_gone
		SELECT DISTINCT f.crid FROM pk_ref f JOIN pk_edge e ON e.id = f.edge JOIN exp_gone g ON g.rid = f.prid
		  LEFT JOIN exp_s s ON s.rid = f.crid
		 WHERE e.action = 'c' AND (s.rid IS NULL OR (keep AND s.shared AND NOT s.anon AND e.req))
		ON CONFLICT DO NOTHING;
		EXIT WHEN NOT FOUND;
	END LOOP;
	-- refused: a row that stays with a key into a row that goes that cannot
	-- be cleared: a kept shared row's NOT NULL key (NO ACTION: a NOT NULL
	-- cascading one took the row above), an anonymized row's or another
	-- row's CASCADE or NO ACTION key
	SELECT EXISTS (
		SELECT FROM pk_ref f JOIN pk_edge e ON e.id = f.edge JOIN exp_gone g ON g.rid = f.prid
		  LEFT JOIN exp_s s ON s.rid = f.crid
		 WHERE f.crid NOT IN (SELECT rid FROM exp_gone)
		   AND CASE WHEN s.rid IS NOT NULL AND s.shared AND NOT s.anon AND keep THEN e.req
		            ELSE e.action IN ('c', 'a', 'r') END)
	    -- a kept shared row's NOT NULL link column naming the subject
	    OR EXISTS (SELECT FROM exp_s s JOIN pk_rows r USING (rid) JOIN pk_tabs t ON t.tbl = r.tbl
	                WHERE keep AND s.shared AND NOT s.anon AND s.rid NOT IN (SELECT rid FROM exp_gone)
	                  AND t.link LIKE '%NOT NULL' AND r.r->>'who' = a::text)
	  INTO fails;
	-- anonymized values; SET NULL / SET DEFAULT (NULL) keys into rows that
	-- go; a kept shared row's keys into rows that go (their own columns)
	INSERT INTO exp_null SELECT rid, 'v' FROM exp_s WHERE anon;
	INSERT INTO exp_null SELECT DISTINCT f.crid, c
	  FROM pk_ref f JOIN pk_edge e ON e.id = f.edge JOIN exp_gone g ON g.rid = f.prid
	  LEFT JOIN exp_s s ON s.rid = f.crid,
	       unnest(CASE WHEN keep AND s.shared AND NOT s.anon THEN e.clr ELSE e.ccols END) c
	 WHERE f.crid NOT IN (SELECT rid FROM exp_gone)
	   AND (e.action IN ('n', 'd') OR (keep AND s.shared AND NOT s.anon));
	IF keep THEN
		INSERT INTO exp_null SELECT s.rid, 'who' FROM exp_s s JOIN pk_rows r USING (rid)
		 WHERE s.shared AND NOT s.anon AND s.rid NOT IN (SELECT rid FROM exp_gone) AND r.r->>'who' = a::text;
	END IF;
	RETURN fails;
END $$;

-- one case: dry run and erasure of subject a, all rolled back
CREATE FUNCTION pg_temp.pk_case(seed int, a int, keep boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	fails boolean := pg_temp.pk_expect(a, keep);
	mode text := CASE WHEN keep THEN 'keep' ELSE 'delete' END;
	dry jsonb; rec jsonb; msg text; bad text;
BEGIN
	BEGIN
		dry := privacy.erase('pk', a::text, NULL, true, mode);
	EXCEPTION WHEN foreign_key_violation THEN dry := NULL;
	END;
	IF (dry IS NULL) <> fails THEN
		INSERT INTO pk_failures VALUES (seed, a, keep, format('dry run %s, oracle %s',
			CASE WHEN dry IS NULL THEN 'failed' ELSE 'passed' END, CASE WHEN fails THEN 'fails' ELSE 'passes' END));
	END IF;
	BEGIN
		rec := privacy.erase('pk', a::text, NULL, false, mode);
		IF fails THEN
			RAISE EXCEPTION 'PS:erasure passed, oracle fails';
		END IF;
		TRUNCATE pk_after;
		INSERT INTO pk_after SELECT * FROM pk_rows;
		PERFORM pg_temp.pk_snapshot();
		SELECT string_agg(x, '; ') INTO bad FROM (
			SELECT format('%s row %s %s', b.tbl, b.rid, CASE WHEN g.rid IS NULL THEN 'lost' ELSE 'left' END) AS x
			  FROM pk_after b LEFT JOIN pk_rows n USING (rid) LEFT JOIN exp_gone g USING (rid)
			 WHERE (n.rid IS NULL) <> (g.rid IS NOT NULL)
			UNION ALL
			-- rows that stay: the md5 of the row with the expected columns cleared
			SELECT format('%s row %s: %s, expected %s', b.tbl, b.rid, n.r, x.r)
			  FROM pk_after b JOIN pk_rows n USING (rid),
			       LATERAL (SELECT b.r || coalesce((SELECT jsonb_object_agg(e.col, NULL) FROM exp_null e WHERE e.rid = b.rid), '{}') AS r) x
			 WHERE md5(n.r::text) <> md5(x.r::text)
			UNION ALL
			SELECT format('%s: receipt %s shared %s, expected deleted %s anonymized %s detached %s shared %s',
			              t.tbl, rec->'tables'->('pk.' || t.tbl), coalesce(rec->'shared'->>('pk.' || t.tbl), '0'),
			              c.deleted, c.anonymized, c.detached, c.shared)
			  FROM pk_tabs t, LATERAL (SELECT
			         (SELECT count(*) FROM exp_gone g JOIN pk_after b USING (rid) WHERE b.tbl = t.tbl) AS deleted,
			         (SELECT count(*) FROM exp_s s JOIN pk_after b USING (rid) WHERE b.tbl = t.tbl AND s.anon AND b.r->>'v' IS NOT NULL) AS anonymized,
			         (SELECT count(DISTINCT e.rid) FROM exp_null e JOIN pk_after b USING (rid) WHERE b.tbl = t.tbl AND e.col <> 'v') AS detached,
			         (SELECT count(*) FROM exp_s s JOIN pk_after b USING (rid) WHERE b.tbl = t.tbl AND s.shared) AS shared) c
			 WHERE (rec->'tables'->('pk.' || t.tbl)->>'deleted')::int IS DISTINCT FROM c.deleted
			    OR (rec->'tables'->('pk.' || t.tbl)->>'anonymized')::int IS DISTINCT FROM c.anonymized
			    OR coalesce((rec->'tables'->('pk.' || t.tbl)->>'detached')::int, 0) <> c.detached
			    OR coalesce((rec->'shared'->>('pk.' || t.tbl))::int, 0) <> c.shared
			UNION ALL
			SELECT 'dry run differs from the receipt' WHERE dry->'tables' <> rec->'tables' OR dry->'shared' <> rec->'shared'
			UNION ALL
			SELECT 'shared_kept ' || coalesce(rec->>'shared_kept', 'absent') WHERE (rec ? 'shared_kept') <> keep
		) f;
		-- no row of a delete-mode table reaches the subject any more, but the
		-- shared rows kept
		IF bad IS NULL THEN
			PERFORM pg_temp.pk_resolve();
			SELECT string_agg(format('%s row %s still reaches the subject', r.tbl, r.rid), '; ') INTO bad
			  FROM pk_own o JOIN pk_rows r USING (rid) JOIN pk_tabs t ON t.tbl = r.tbl
			 WHERE o.subj = a AND NOT t.anon AND NOT (keep AND EXISTS (SELECT FROM exp_s s WHERE s.rid = o.rid AND s.shared));
		END IF;
		RAISE EXCEPTION 'PS:%', coalesce(bad, 'ok');
	EXCEPTION
		WHEN foreign_key_violation THEN
			IF NOT fails THEN
				GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
				INSERT INTO pk_failures VALUES (seed, a, keep, 'erasure failed, oracle passes: ' || msg);
			END IF;
		WHEN raise_exception THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
			IF msg NOT LIKE 'PS:%' THEN RAISE; END IF;
			IF msg <> 'PS:ok' THEN INSERT INTO pk_failures VALUES (seed, a, keep, substr(msg, 4)); END IF;
	END;
END $$;

-- per case, what the oracle met: shared rows, kept shared rows that go by
-- a NOT NULL cascade, kept shared rows detached, refusals
CREATE TEMP TABLE pk_stats (seed int, keep boolean, refused boolean, shared int, cascaded int, detached int);
CREATE FUNCTION pg_temp.pk_one(seed int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE a int; k boolean; nsubj int; f boolean;
BEGIN
	nsubj := pg_temp.pk_build(seed);
	FOR a IN 1..nsubj LOOP
		FOREACH k IN ARRAY ARRAY[false, true] LOOP
			f := pg_temp.pk_expect(a, k);
			INSERT INTO pk_stats SELECT seed, k, f, count(*) FILTER (WHERE s.shared),
			       count(*) FILTER (WHERE k AND s.shared AND NOT s.anon AND g.rid IS NOT NULL),
			       count(*) FILTER (WHERE k AND s.shared AND NOT s.anon AND g.rid IS NULL
			                          AND EXISTS (SELECT FROM exp_null e WHERE e.rid = s.rid))
			  FROM exp_s s LEFT JOIN exp_gone g USING (rid);
			PERFORM pg_temp.pk_case(seed, a, k);
		END LOOP;
	END LOOP;
END $$;

\set ECHO none
\o /dev/null
SELECT format('SELECT pg_temp.pk_one(%s)', s) FROM generate_series(:first_seed, :first_seed + :schemas - 1) s \gexec
\o
\set ECHO all
DROP SCHEMA pk CASCADE;
-- enough cases of each kind: refused (23503), erased; with shared => 'keep':
-- shared rows gone by a NOT NULL cascade, kept and detached, refused
SELECT count(DISTINCT seed) AS schemas, count(*) AS cases,
       count(*) FILTER (WHERE refused) AS refused,
       count(*) FILTER (WHERE keep AND NOT refused AND cascaded > 0) AS keep_cascades,
       count(*) FILTER (WHERE keep AND NOT refused AND detached > 0) AS keep_detaches,
       count(*) FILTER (WHERE keep AND refused AND shared > 0) AS keep_refused,
       (SELECT count(*) FROM pk_failures) AS failing
  FROM pk_stats;
SELECT * FROM pk_failures ORDER BY seed, subj, keep LIMIT 20;
DROP EXTENSION privacy;
