---------------------------------------------------------------------------
-- Classification (configuration: thin plpgsql over the catalog)
---------------------------------------------------------------------------

-- Can a column of type typ hold the result of erasure strategy s?
-- redact: a type-appropriate placeholder exists (strings, numbers, dates and
-- times, booleans, network addresses, arrays, uuid, json, bytea);
-- hash: a text pseudonym needs a string type (or bytea).
CREATE FUNCTION privacy._strategy_fits(typ regtype, s text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	WITH RECURSIVE base(oid, typbasetype, typcategory, depth) AS (
		SELECT t.oid, t.typbasetype, t.typcategory, 0 FROM pg_catalog.pg_type t WHERE t.oid = typ
		UNION ALL
		SELECT t.oid, t.typbasetype, t.typcategory, b.depth + 1
		  FROM base b JOIN pg_catalog.pg_type t ON t.oid = b.typbasetype WHERE b.typbasetype <> 0
	), b AS (SELECT oid, typcategory FROM base ORDER BY depth DESC LIMIT 1)
	SELECT CASE s
		WHEN 'hash' THEN b.typcategory = 'S' OR b.oid = 'bytea'::pg_catalog.regtype
		WHEN 'redact' THEN b.typcategory IN ('S', 'N', 'D', 'B', 'I', 'A', 'T')
			OR b.oid IN ('uuid'::pg_catalog.regtype, 'json'::pg_catalog.regtype,
			             'jsonb'::pg_catalog.regtype, 'bytea'::pg_catalog.regtype)
		ELSE true END
	FROM b
$$;

-- Can column col of tbl hold the pseudonym of strategy 'hash'?  A string
-- type (not name) or bytea; under a unique index, with room for 16
-- characters at least: a pseudonym is a keyed body and a keyed tag of it,
-- half each, and a shorter one repeats soon (an erasure collides, 23505).
CREATE FUNCTION privacy._hash_fits(tbl regclass, col smallint) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	WITH RECURSIVE base(oid, typbasetype, typcategory, typtypmod, mod, depth) AS (
		SELECT t.oid, t.typbasetype, t.typcategory, t.typtypmod, a.atttypmod, 0
		  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
		 WHERE a.attrelid = tbl AND a.attnum = col
		UNION ALL
		SELECT t.oid, t.typbasetype, t.typcategory, t.typtypmod, b.typtypmod, b.depth + 1
		  FROM base b JOIN pg_catalog.pg_type t ON t.oid = b.typbasetype WHERE b.typbasetype <> 0
	), b AS (SELECT oid, typcategory, mod FROM base ORDER BY depth DESC LIMIT 1)
	SELECT b.oid = 'bytea'::pg_catalog.regtype
		OR (b.typcategory = 'S' AND b.oid <> 'name'::pg_catalog.regtype
		    AND (b.oid NOT IN ('character varying'::pg_catalog.regtype, 'character'::pg_catalog.regtype)
		         OR b.mod < 0 OR b.mod - 4 >= 16
		         OR NOT EXISTS (SELECT FROM pg_catalog.pg_index i
		                         WHERE i.indrelid = tbl AND (i.indisunique OR i.indisexclusion)
		                           AND (col = ANY (i.indkey::pg_catalog.int2[])
		                                OR EXISTS (SELECT FROM pg_catalog.pg_depend d
		                                            WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
		                                              AND d.objid = i.indexrelid
		                                              AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
		                                              AND d.refobjid = tbl AND d.refobjsubid = col)))))
	FROM b
$$;

CREATE FUNCTION privacy._check_table(tbl regclass, arg text DEFAULT 'tbl') RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	k "char";
	part boolean;
	temp boolean;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'argument "%" must not be null', arg USING ERRCODE = '22023';
	END IF;
	SELECT c.relkind, c.relispartition, c.relpersistence = 't' INTO k, part, temp
	  FROM pg_catalog.pg_class c WHERE c.oid = tbl;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = '42P01';
	END IF;
	IF k NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '"%" is not a table', tbl USING ERRCODE = '22023';
	END IF;
	IF temp THEN
		RAISE EXCEPTION '"%" is a temporary table', tbl USING ERRCODE = '22023',
			HINT = 'Only permanent tables can be classified, mapped or kept under retention.';
	END IF;
	IF part THEN
		RAISE EXCEPTION '"%" is a partition', tbl USING ERRCODE = '22023',
			HINT = 'Name the partitioned table; its partitions are handled with it.';
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	            WHERE c.oid = tbl AND (n.nspname IN ('pg_catalog', 'information_schema', 'privacy')
	                                   OR n.nspname LIKE 'pg\_toast%')) THEN
		RAISE EXCEPTION '"%" is a system table', tbl USING ERRCODE = '22023';
	END IF;
END
$$;

-- Classify a column.  A column is NOT NULL for the default strategy and the
-- refusal of 'null' when a CHECK constraint says so alone, CHECK (col IS
-- NOT NULL), as Rails schemas declare it (strong_migrations; Forem's
-- users.username), NOT VALID too: it refuses every NULL written now (the
-- same rule as UtilAttNotNull in src/util.c).
CREATE FUNCTION privacy.classify(tbl regclass, col name, category text, erasure text DEFAULT NULL,
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
	SELECT a.attnum, a.atttypid::pg_catalog.regtype AS typ, a.atttypmod AS typmod, a.attnotnull OR EXISTS (SELECT FROM pg_catalog.pg_constraint c WHERE c.conrelid = tbl AND c.contype = 'c' AND pg_catalog.pg_get_expr(c.conbin, c.conrelid) = pg_catalog.format('(%s IS NOT NULL)', pg_catalog.quote_ident(col))) AS attnotnull,
	       a.attgenerated <> '' AS generated, a.attidentity = 'a' AS identity_always INTO att
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl USING ERRCODE = '42703';
	END IF;
	-- a generated column follows the columns it is computed from, and an
	-- identity column GENERATED ALWAYS cannot be written: neither is ever
	-- rewritten by an erasure (its rows are deleted in delete mode)
	IF (att.generated OR att.identity_always) AND strategy IS NOT NULL AND strategy <> 'keep' THEN
		RAISE EXCEPTION 'column "%" is %: erasure strategy "%" cannot be applied', col,
			CASE WHEN att.generated THEN 'generated' ELSE 'an identity column GENERATED ALWAYS' END, strategy
			USING ERRCODE = '22023',
			HINT = 'Classify it with erasure => ''keep''; a generated column follows the columns it is computed from.';
	END IF;
	IF att.generated OR att.identity_always THEN
		strategy := 'keep';
	END IF;
	SELECT c.name, c.erasure INTO cat FROM privacy.categories c WHERE c.name = classify.category;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown data category "%"', category USING ERRCODE = '22023',
			HINT = 'See privacy.categories (the fideslang taxonomy); add your own with INSERT.';
	END IF;
	IF portable IS NULL THEN
		RAISE EXCEPTION 'argument "portable" must not be null' USING ERRCODE = '22023';
	END IF;
	IF pg_catalog.array_ndims(purposes) > 1 THEN
		RAISE EXCEPTION 'purposes must be a one-dimensional array' USING ERRCODE = '22023',
			HINT = 'Pass them as ARRAY[''billing'', ''support''].';
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
			IF privacy._hash_fits(tbl, att.attnum) THEN
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
	ELSIF strategy = 'hash' AND NOT privacy._hash_fits(tbl, att.attnum) THEN
		RAISE EXCEPTION 'erasure strategy "hash" does not fit column "%" of type %', col,
			pg_catalog.format_type(att.typ, att.typmod) USING ERRCODE = '22023',
			HINT = 'A pseudonym needs a string type other than name, with room for 16 characters under a unique index; widen the column, or use redact, null or keep.';
	ELSIF strategy = 'shred' AND NOT EXISTS (SELECT FROM privacy.encrypted_columns e
	                                          WHERE e.table_name = tbl AND e.column_name = col
	                                            AND e.subject IS NOT NULL) THEN
		RAISE EXCEPTION 'erasure strategy "shred" needs a column encrypted with per-subject keys'
			USING ERRCODE = '22023', HINT = 'Run privacy.encrypt_column(tbl, col, subject) first.';
	END IF;

	-- waits for the erasures running (their map lock), and they for it
	PERFORM privacy._lock_maps();
	INSERT INTO privacy.classifications AS c
		(table_name, column_name, attnum, category, erasure, portable, purposes, legal_basis)
	VALUES (tbl, col, att.attnum, category, strategy, portable, purposes, legal_basis)
	ON CONFLICT (table_name, column_name) DO UPDATE
	   SET attnum = EXCLUDED.attnum, category = EXCLUDED.category, erasure = EXCLUDED.erasure,
	       portable = EXCLUDED.portable, purposes = EXCLUDED.purposes,
	       legal_basis = EXCLUDED.legal_basis, classified_at = pg_catalog.now();
	-- a referenced table with classified columns joins the map (before the
	-- audit entry: the chain's head is taken after the map locks)
	IF NOT EXISTS (SELECT FROM privacy.map m WHERE m.table_name = tbl AND NOT m.outbound) THEN
		PERFORM privacy._refresh_all();
	END IF;
	PERFORM privacy._audit('classify', NULL,
		pg_catalog.jsonb_build_object('table', tbl::text, 'column', col, 'category', category,
		                              'erasure', strategy));
	PERFORM privacy._invalidate();
END
$$;

CREATE FUNCTION privacy.declassify(tbl regclass, col name)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF tbl IS NULL OR col IS NULL THEN
		RAISE EXCEPTION 'arguments "tbl" and "col" must not be null' USING ERRCODE = '22023';
	END IF;
	-- waits for the erasures running (their map lock), and they for it
	PERFORM privacy._lock_maps();
	DELETE FROM privacy.classifications c WHERE c.table_name = tbl AND c.column_name = col;
	IF NOT FOUND THEN
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = tbl AND a.attname = col
		                  AND a.attnum > 0 AND NOT a.attisdropped) THEN
			RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl USING ERRCODE = '42703';
		END IF;
		RAISE EXCEPTION 'column "%" of relation % is not classified', col, tbl USING ERRCODE = '42704';
	END IF;
	IF EXISTS (SELECT FROM privacy.map m WHERE m.table_name = tbl AND m.outbound) THEN
		PERFORM privacy._refresh_all();
	END IF;
	PERFORM privacy._audit('declassify', NULL,
		pg_catalog.jsonb_build_object('table', tbl::text, 'column', col));
	PERFORM privacy._invalidate();
END
$$;

CREATE FUNCTION privacy.set_erasure_mode(tbl regclass, mode text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM privacy._check_table(tbl);
	IF mode IS NULL THEN
		RAISE EXCEPTION 'argument "mode" must not be null' USING ERRCODE = '22023';
	END IF;
	IF mode NOT IN ('delete', 'anonymize') THEN
		RAISE EXCEPTION 'unknown erasure mode "%"', mode USING ERRCODE = '22023',
			HINT = 'Use delete or anonymize.';
	END IF;
	-- waits for the erasures running (their map lock), and they for it
	PERFORM privacy._lock_maps();
	INSERT INTO privacy.table_modes AS m (table_name, mode) VALUES (tbl, mode)
	ON CONFLICT (table_name) DO UPDATE SET mode = EXCLUDED.mode;
	PERFORM privacy._audit('set_erasure_mode', NULL,
		pg_catalog.jsonb_build_object('table', tbl::text, 'mode', mode));
	PERFORM privacy._invalidate();
END
$$;

CREATE FUNCTION privacy.add_recipient(name text, purpose text, categories text[], country text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	unknown text;
BEGIN
	IF name IS NULL OR name = '' OR purpose IS NULL OR categories IS NULL THEN
		RAISE EXCEPTION 'arguments "name", "purpose" and "categories" must not be null or empty'
			USING ERRCODE = '22023';
	END IF;
	IF pg_catalog.octet_length(name) > 2000 THEN
		RAISE EXCEPTION 'argument "name" is longer than 2000 bytes' USING ERRCODE = '22023',
			HINT = 'The catalog indexes it; use a shorter name.';
	END IF;
	SELECT x INTO unknown FROM pg_catalog.unnest(categories) x
	 WHERE x IS NULL OR NOT EXISTS (SELECT FROM privacy.categories c WHERE c.name = x) LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'unknown data category "%"', unknown USING ERRCODE = '22023';
	END IF;
	INSERT INTO privacy.recipients AS r (name, purpose, categories, country)
	VALUES (add_recipient.name, purpose, categories, country)
	ON CONFLICT ON CONSTRAINT recipients_pkey DO UPDATE
	   SET purpose = EXCLUDED.purpose, categories = EXCLUDED.categories, country = EXCLUDED.country;
	PERFORM privacy._audit('add_recipient', NULL,
		pg_catalog.jsonb_build_object('recipient', add_recipient.name, 'categories', categories));
	PERFORM privacy._invalidate();
END
$$;

CREATE VIEW privacy.classified_columns AS
SELECT c.table_name, c.column_name, c.category, k.special, c.erasure, c.portable, c.purposes, c.legal_basis
  FROM privacy.classifications c JOIN privacy.categories k ON k.name = c.category
 ORDER BY c.table_name::text, c.attnum;

-- The coverage gap: columns of mapped tables neither classified nor keys
-- (primary-key, foreign-key and link columns, a polymorphic link's type
-- column, and a subject type's key column, which may be a UNIQUE column with
-- no primary key).  A partition in the map (mapped by itself) is classified
-- and linked by its partitioned table's classifications and links, which
-- cannot be set on it.
CREATE VIEW privacy.unclassified AS
SELECT u.table_name, u.column_name, u.data_type FROM (
SELECT DISTINCT m.table_name, a.attname AS column_name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type, a.attnum
  FROM privacy.map m
  JOIN pg_catalog.pg_attribute a ON a.attrelid = m.table_name AND a.attnum > 0 AND NOT a.attisdropped
 WHERE NOT EXISTS (SELECT FROM privacy.classifications c
                    WHERE c.table_name IN (m.table_name, pg_catalog.pg_partition_root(m.table_name))
                      AND c.column_name = a.attname)
   AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint k
                    WHERE k.conrelid = m.table_name AND k.contype IN ('p', 'f') AND a.attnum = ANY (k.conkey))
   AND NOT EXISTS (SELECT FROM privacy.links l
                    WHERE l.table_name IN (m.table_name, pg_catalog.pg_partition_root(m.table_name))
                      AND (l.key_column = a.attname OR l.type_column = a.attname))
   AND NOT EXISTS (SELECT FROM privacy.subject_types s WHERE s.root = m.table_name AND s.key_column = a.attname)
) u ORDER BY u.table_name::text, u.attnum;



REVOKE ALL ON FUNCTION privacy.classify(regclass, name, text, text, boolean, text[], text),
	privacy.declassify(regclass, name), privacy.set_erasure_mode(regclass, text),
	privacy.add_recipient(text, text, text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.classify(regclass, name, text, text, boolean, text[], text),
	privacy.declassify(regclass, name), privacy.set_erasure_mode(regclass, text),
	privacy.add_recipient(text, text, text[], text) TO privacy_admin;
-- the taxonomy is public knowledge; the rest is configuration
GRANT SELECT ON privacy.categories TO PUBLIC;
GRANT INSERT, UPDATE, DELETE ON privacy.categories TO privacy_admin;
GRANT SELECT ON privacy.recipients TO privacy_admin, privacy_officer;
GRANT SELECT ON privacy.classified_columns, privacy.unclassified
	TO privacy_admin, privacy_officer;
