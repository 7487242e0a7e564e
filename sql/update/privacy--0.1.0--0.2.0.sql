-- privacy 0.1.0 -> 0.2.0 (ALTER EXTENSION privacy UPDATE)
\echo Use "ALTER EXTENSION privacy UPDATE" to load this file. \quit

---------------------------------------------------------------------------
-- erase (issues 10 and 17): a trailing argument "shared" ('delete' keeps
-- 0.1.0's behaviour, 'keep' keeps the rows that also reach another subject)
---------------------------------------------------------------------------
DROP FUNCTION privacy.erase(text, text, text, boolean);
CREATE FUNCTION privacy.erase(subject text, id text, reason text DEFAULT NULL, dry_run boolean DEFAULT false,
	shared text DEFAULT 'delete')
RETURNS jsonb AS 'MODULE_PATHNAME', 'privacy_erase'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION privacy.erase(text, text, text, boolean, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.erase(text, text, text, boolean, text) TO privacy_officer;

---------------------------------------------------------------------------
-- classify (issue 17 item 4): under a unique index the default erasure
-- strategy is 'hash' instead of 'redact' (and instead of 'null' under a
-- NULLS NOT DISTINCT index); classifications made before keep theirs
---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION privacy.classify(tbl regclass, col name, category text, erasure text DEFAULT NULL,
	portable boolean DEFAULT true, purposes text[] DEFAULT NULL, legal_basis text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	att record;
	cat record;
	strategy text := erasure;
BEGIN
	PERFORM privacy._check_table(tbl);
	IF col IS NULL OR category IS NULL THEN
		RAISE EXCEPTION 'arguments "col" and "category" must not be null' USING ERRCODE = '22023';
	END IF;
	SELECT a.attnum, a.atttypid::pg_catalog.regtype AS typ, a.attnotnull INTO att
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl USING ERRCODE = '42703';
	END IF;
	SELECT c.name, c.erasure INTO cat FROM privacy.categories c WHERE c.name = classify.category;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown data category "%"', category USING ERRCODE = '22023',
			HINT = 'See privacy.categories (the fideslang taxonomy); add your own with INSERT.';
	END IF;
	IF portable IS NULL THEN
		RAISE EXCEPTION 'argument "portable" must not be null' USING ERRCODE = '22023';
	END IF;
	IF purposes IS NOT NULL AND array_position(purposes, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'purposes must not contain null' USING ERRCODE = '22023';
	END IF;
	IF strategy IS NULL THEN
		strategy := cat.erasure;
		IF strategy IN ('null', 'delete') AND att.attnotnull THEN
			strategy := 'redact';
		END IF;
		-- a column under a unique index needs a value of its own per row: one
		-- placeholder for every erased row collides on the second erasure
		-- (23505), so the default there is the pseudonym, which differs as
		-- the original values did (NULLs too, unless NULLS NOT DISTINCT)
		IF EXISTS (SELECT FROM pg_catalog.pg_index i
		            WHERE i.indrelid = tbl AND i.indisunique
		              AND att.attnum = ANY (i.indkey::pg_catalog.int2[])
		              AND (strategy = 'redact' OR i.indnullsnotdistinct)) THEN
			IF privacy._strategy_fits(att.typ, 'hash') THEN
				strategy := 'hash';
			ELSE
				RAISE NOTICE 'column "%" is unique: erasure strategy "%" gives every erased row the same value', col, strategy
					USING HINT = 'Choose the erasure strategy of this column explicitly, or erase its rows in delete mode.';
			END IF;
		END IF;
		IF NOT privacy._strategy_fits(att.typ, strategy) THEN
			strategy := 'keep';
			RAISE NOTICE 'column "%" of type % cannot be redacted: erasure strategy "keep"', col, att.typ;
		END IF;
	ELSIF strategy NOT IN ('delete', 'null', 'redact', 'hash', 'shred', 'keep') THEN
		RAISE EXCEPTION 'unknown erasure strategy "%"', strategy USING ERRCODE = '22023',
			HINT = 'Use delete, null, redact, hash, shred or keep.';
	ELSIF strategy = 'null' AND att.attnotnull THEN
		RAISE EXCEPTION 'column "%" is NOT NULL: erasure strategy "null" cannot be applied', col
			USING ERRCODE = '22023', HINT = 'Use redact, hash or keep.';
	ELSIF NOT privacy._strategy_fits(att.typ, strategy) THEN
		RAISE EXCEPTION 'erasure strategy "%" does not fit column "%" of type %', strategy, col, att.typ
			USING ERRCODE = '22023';
	ELSIF strategy = 'shred' AND NOT EXISTS (SELECT FROM privacy.encrypted_columns e
	                                          WHERE e.table_name = tbl AND e.column_name = col
	                                            AND e.subject IS NOT NULL) THEN
		RAISE EXCEPTION 'erasure strategy "shred" needs a column encrypted with per-subject keys'
			USING ERRCODE = '22023', HINT = 'Run privacy.encrypt_column(tbl, col, subject) first.';
	END IF;

	INSERT INTO privacy.classifications AS c
		(table_name, column_name, attnum, category, erasure, portable, purposes, legal_basis)
	VALUES (tbl, col, att.attnum, category, strategy, portable, purposes, legal_basis)
	ON CONFLICT (table_name, column_name) DO UPDATE
	   SET attnum = EXCLUDED.attnum, category = EXCLUDED.category, erasure = EXCLUDED.erasure,
	       portable = EXCLUDED.portable, purposes = EXCLUDED.purposes,
	       legal_basis = EXCLUDED.legal_basis, classified_at = pg_catalog.now();
	PERFORM privacy._audit('classify', NULL,
		pg_catalog.jsonb_build_object('table', tbl::text, 'column', col, 'category', category,
		                              'erasure', strategy));
	-- a referenced table with classified columns joins the map
	IF NOT EXISTS (SELECT FROM privacy.map m WHERE m.table_name = tbl AND NOT m.outbound) THEN
		PERFORM privacy._refresh_all();
	END IF;
	PERFORM privacy._invalidate();
END
$$;
