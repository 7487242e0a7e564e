-- privacy: upgrade from 0.1.0 to 0.2.0 (ALTER EXTENSION privacy UPDATE).
\echo Use "ALTER EXTENSION privacy UPDATE TO '0.2.0'" to load this file. \quit

-- Every change of the 0.2.0 install script (sql/*.sql) that alters the
-- installed schema has its statements here, one commented block per change:
-- CREATE OR REPLACE FUNCTION for functions, ALTER TABLE for tables (new
-- columns at the end, where the install script puts them too), the same
-- grants.  After the update the schema equals a fresh install's: the TAP test
-- test/t/060_extension_upgrade.pl compares the two (pg_dump) and fails on any
-- statement missing here.

-- Polymorphic links (see the block at the end): privacy.links gains the type
-- column and value first, since every map refresh below reads them.
ALTER TABLE privacy.links ADD COLUMN type_column name, ADD COLUMN type_value text,
	ADD CONSTRAINT links_type_check CHECK ((type_column IS NULL) = (type_value IS NULL));
-- links to another table of the map (see the block at the end)
ALTER TABLE privacy.links ADD COLUMN target regclass, DROP CONSTRAINT links_pkey,
	ADD CONSTRAINT links_key UNIQUE NULLS NOT DISTINCT (subject, table_name, key_column, target);


---------------------------------------------------------------------------
-- Citus placement awareness (issue 15, src/citus.c, sql/06_citus.sql):
-- the routing column of privacy.subject_tables, DDL event triggers that do
-- nothing on Citus workers, table conversions decided at commit, unlink() drops link()'s trigger
-- (on every shard of a linked distributed table).
---------------------------------------------------------------------------

-- The routing column of privacy.subject_tables: 'one shard', 'all shards',
-- 'reference' or 'local' with Citus installed, NULL without.  Reads the map
-- as the extension owner (pinned search_path); answers only about the
-- placement of a mapped table, never about rows.
CREATE FUNCTION privacy._routing(subject text, tbl regclass)
RETURNS text AS 'MODULE_PATHNAME', 'privacy_routing'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- true on a Citus worker: configuration lives on the coordinator, so the
-- DDL event triggers do nothing on the workers' shards.
CREATE FUNCTION privacy._citus_worker()
RETURNS boolean AS 'MODULE_PATHNAME', 'privacy_citus_worker'
LANGUAGE C STABLE;

REVOKE ALL ON FUNCTION privacy._routing(text, regclass), privacy._citus_worker() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy._routing(text, regclass) TO privacy_admin, privacy_officer;

-- Citus's table conversions (alter_distributed_table, undistribute_table,
-- and Citus local tables created on the fly) drop a table and recreate it
-- under the same name in one transaction.  With Citus installed, the sql_drop
-- trigger therefore only notes what was dropped; at commit, a table that
-- exists again under its name keeps its configuration (subject types,
-- classifications, erasure modes, links, retention policies), and only the
-- others are forgotten.  Records (holds, restrictions, consents, requests,
-- audit, ledger) never depend on a table's identity.
CREATE TABLE privacy.pending_drops (
	relid		oid NOT NULL,
	nspname		name NOT NULL,
	relname		name NOT NULL
);
REVOKE ALL ON privacy.pending_drops FROM PUBLIC;

-- called by privacy._on_drop(): true when the decision waits for the commit
CREATE FUNCTION privacy._citus_defer_drop() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'citus') THEN
		RETURN false;
	END IF;
	INSERT INTO privacy.pending_drops (relid, nspname, relname)
	SELECT o.objid, o.schema_name, o.object_name
	  FROM pg_catalog.pg_event_trigger_dropped_objects() o
	 WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
	   AND o.objsubid OPERATOR(pg_catalog.=) 0 AND o.object_type IN ('table', 'partitioned table');
	RETURN true;
END
$$;

-- at commit (deferred constraint trigger): keep or forget
CREATE FUNCTION privacy._citus_resolve_drops() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	d record;
	l record;
	newid regclass;
	gone oid[] := '{}';
	relinked jsonb := '[]';
	any_row boolean := false;
BEGIN
	FOR d IN DELETE FROM privacy.pending_drops RETURNING * LOOP
		any_row := true;
		newid := pg_catalog.to_regclass(pg_catalog.format('%I.%I', d.nspname, d.relname));
		IF newid IS NULL THEN
			gone := gone OPERATOR(pg_catalog.||) d.relid;
			CONTINUE;
		END IF;
		UPDATE privacy.subject_types SET root = newid WHERE root::oid OPERATOR(pg_catalog.=) d.relid;
		UPDATE privacy.classifications SET table_name = newid WHERE table_name::oid OPERATOR(pg_catalog.=) d.relid;
		UPDATE privacy.table_modes SET table_name = newid WHERE table_name::oid OPERATOR(pg_catalog.=) d.relid;
		UPDATE privacy.retention SET table_name = newid WHERE table_name::oid OPERATOR(pg_catalog.=) d.relid;
		FOR l IN UPDATE privacy.links SET table_name = newid WHERE table_name::oid OPERATOR(pg_catalog.=) d.relid
				 RETURNING subject, key_column LOOP
			relinked := relinked OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
				'subject', l.subject, 'tbl', newid::oid, 'col', l.key_column);
		END LOOP;
	END LOOP;
	IF NOT any_row THEN
		RETURN NULL;
	END IF;
	IF pg_catalog.cardinality(gone) OPERATOR(pg_catalog.>) 0 THEN
		PERFORM privacy._forget_tables(gone);
	END IF;
	PERFORM privacy._reconcile_columns();
	PERFORM privacy._refresh_all();
	-- a recreated linked table needs its lock trigger again (on every shard
	-- of a distributed table; link() refuses one whose rows erase's lock
	-- would not reach, outside the root's colocation group: the transaction
	-- fails, closed)
	FOR l IN SELECT * FROM pg_catalog.jsonb_array_elements(relinked) LOOP
		PERFORM privacy.link(l.value->>'subject', (l.value->>'tbl')::oid::regclass, (l.value->>'col')::name);
	END LOOP;
	PERFORM privacy._invalidate();
	RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER pending_drops_resolve AFTER INSERT ON privacy.pending_drops
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION privacy._citus_resolve_drops();
REVOKE ALL ON FUNCTION privacy._citus_defer_drop(), privacy._citus_resolve_drops() FROM PUBLIC;

CREATE OR REPLACE VIEW privacy.subject_tables AS
SELECT m.subject, m.table_name, m.via, m.depth, m.path,
       privacy._routing(m.subject, m.table_name) AS routing
  FROM privacy.map m
 ORDER BY m.subject, m.depth, m.via <> 'root', m.table_name::text;

-- Forget the configuration of dropped tables (by OID).
CREATE FUNCTION privacy._forget_tables(dropped oid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM privacy.classifications WHERE table_name::oid = ANY (dropped);
	DELETE FROM privacy.table_modes WHERE table_name::oid = ANY (dropped);
	DELETE FROM privacy.links WHERE table_name::oid = ANY (dropped);
	DELETE FROM privacy.subject_types WHERE root::oid = ANY (dropped);
	IF EXISTS (SELECT FROM privacy.map WHERE table_name::oid = ANY (dropped)) THEN
		PERFORM privacy._refresh_all();
	END IF;
	PERFORM privacy._invalidate();
END
$$;
REVOKE ALL ON FUNCTION privacy._forget_tables(oid[]) FROM PUBLIC;

-- unlink(): the lock trigger of link() on tbl for subject (found by its
-- function and first argument, whatever its possibly truncated name)
CREATE FUNCTION privacy._drop_link_trigger(subject text, tbl regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	trg name;
BEGIN
	FOR trg IN SELECT t.tgname FROM pg_catalog.pg_trigger t
				WHERE t.tgrelid OPERATOR(pg_catalog.=) tbl
				  AND t.tgfoid OPERATOR(pg_catalog.=) 'privacy._link_lock()'::pg_catalog.regprocedure
				  AND pg_catalog.split_part(pg_catalog.encode(t.tgargs, 'escape'), '\000', 1)
					  OPERATOR(pg_catalog.=) subject LOOP
		EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', trg, tbl);
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION privacy._drop_link_trigger(text, regclass) FROM PUBLIC;
-- (sql/40_rights.sql) on a Citus distributed table, the trigger lives on
-- every shard; Citus drops it there too, but only with
-- citus.enable_unsafe_triggers on, set for unlink()'s DROP TRIGGER alone
ALTER FUNCTION privacy._drop_link_trigger(text, regclass) SET citus.enable_unsafe_triggers = on;

CREATE OR REPLACE FUNCTION privacy.unlink(subject text, tbl regclass, key_column name)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF unlink.subject IS NULL OR unlink.tbl IS NULL OR unlink.key_column IS NULL THEN
		RAISE EXCEPTION 'arguments "subject", "tbl" and "key_column" must not be null' USING ERRCODE = '22023';
	END IF;
	IF NOT EXISTS (SELECT FROM privacy.subject_types s WHERE s.name = unlink.subject) THEN
		RAISE EXCEPTION 'subject type "%" does not exist', unlink.subject USING ERRCODE = '42704';
	END IF;
	DELETE FROM privacy.links l
	 WHERE l.subject = unlink.subject AND l.table_name = unlink.tbl AND l.key_column = unlink.key_column;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % is not linked to subject type "%" by column "%"', tbl, subject, key_column
			USING ERRCODE = '42704';
	END IF;
	-- the lock trigger that link() installed goes with the table's last link
	IF NOT EXISTS (SELECT FROM privacy.links l WHERE l.subject = unlink.subject AND l.table_name = unlink.tbl) THEN
		PERFORM privacy._drop_link_trigger(unlink.subject, unlink.tbl);
	END IF;
	PERFORM privacy.refresh_subject(unlink.subject);
END
$$;

---------------------------------------------------------------------------
-- security (issue #9): keyed audit chain and anchors, row-based
-- _restricted (no oracle, readable two hops from the root), scoped
-- pseudonyms and hold lookups.  Must leave the schema equal to a fresh
-- install of sql/15_audit.sql and sql/40_rights.sql.
---------------------------------------------------------------------------

-- Entries written by 0.1.0 keep chain = NULL (unkeyed) and still verify;
-- every new entry is keyed (chain = 1).
ALTER TABLE privacy.audit ADD COLUMN chain smallint;

DROP FUNCTION privacy.verify_audit();
CREATE FUNCTION privacy.verify_audit(anchor jsonb DEFAULT NULL) RETURNS bigint
AS 'MODULE_PATHNAME', 'privacy_verify_audit'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION privacy.audit_anchor() RETURNS jsonb
AS 'MODULE_PATHNAME', 'privacy_audit_anchor'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION privacy.verify_audit(jsonb), privacy.audit_anchor() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.verify_audit(jsonb), privacy.audit_anchor() TO privacy_officer, privacy_admin;

-- (the scoped pseudonym functions: see the retention block below)
CREATE FUNCTION privacy._held(subject text, key text, scope text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'privacy_held'
	LANGUAGE C VOLATILE;
CREATE FUNCTION privacy._held_keys(subject text, scope text) RETURNS SETOF text
	AS 'MODULE_PATHNAME', 'privacy_held_keys'
	LANGUAGE C VOLATILE ROWS 10;

CREATE FUNCTION privacy._restricted(subject text, tbl regclass, part oid, "row" tid)
RETURNS boolean AS 'MODULE_PATHNAME', 'privacy_restricted_key'
LANGUAGE C STABLE;

-- The policies of protected tables move to the new _restricted (protect()
-- replaces its own policy and keeps FORCE), then the key-based one goes.
SELECT privacy.protect(c.oid::pg_catalog.regclass, c.relforcerowsecurity)
  FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.polrelid
 WHERE p.polname OPERATOR(pg_catalog.=) 'privacy_restricted';
DROP FUNCTION privacy._restricted(text, text);

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
CREATE OR REPLACE FUNCTION privacy._check_table(tbl regclass, arg text DEFAULT 'tbl') RETURNS void
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

-- Classify a column.  A column is NOT NULL for the default strategy and the
-- refusal of 'null' when a CHECK constraint says so alone, CHECK (col IS
-- NOT NULL), as Rails schemas declare it (strong_migrations; Forem's
-- users.username), NOT VALID too: it refuses every NULL written now (the
-- same rule as UtilAttNotNull in src/util.c).
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

-- add_recipient: a name longer than its index can hold is refused (22023)
CREATE OR REPLACE FUNCTION privacy.add_recipient(name text, purpose text, categories text[], country text DEFAULT NULL)
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

-- privacy 0.1.0 -> 0.2.0
\echo Use "ALTER EXTENSION privacy UPDATE TO '0.2.0'" to load this file. \quit

---------------------------------------------------------------------------
-- map (issue #17 items 1-3, issue #10 items 3, 5, 8): the map is stored per
-- edge (privacy.map.paths holds one one-hop path per foreign key or link);
-- DDL refreshes only the maps it can affect, serialized per subject type,
-- and fails when the refresh fails; a dropped root keeps its subject type.
---------------------------------------------------------------------------
-- The serialization point of map refreshes (the same key as MapRefresh).
CREATE FUNCTION privacy._lock_maps() RETURNS void
AS 'MODULE_PATHNAME', 'privacy_lock_maps'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION privacy._lock_maps() FROM PUBLIC;

---------------------------------------------------------------------------
-- the DDL event functions of 0.2.0 (Citus guards, per-edge refreshes of
-- the affected maps only, a dropped root keeps its records), once
---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION privacy._forget_tables(dropped oid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s record;
BEGIN
	DELETE FROM privacy.classifications WHERE table_name::oid = ANY (dropped);
	DELETE FROM privacy.table_modes WHERE table_name::oid = ANY (dropped);
	DELETE FROM privacy.links WHERE table_name::oid = ANY (dropped);
	-- a dropped partition is no longer known as one: a map holding a
	-- partitioned table or a partition (whose keys decide it) is recomputed too
	IF NOT EXISTS (SELECT FROM privacy.map m LEFT JOIN pg_catalog.pg_class k ON k.oid = m.table_name::oid
	                WHERE m.table_name::oid = ANY (dropped) OR k.relkind = 'p' OR k.relispartition) THEN
		PERFORM privacy._invalidate();
		RETURN;
	END IF;
	PERFORM privacy._lock_maps();
	FOR s IN SELECT st.name, st.root::oid = ANY (dropped) AS root_dropped
	           FROM privacy.subject_types st
	          WHERE EXISTS (SELECT FROM privacy.map m WHERE m.subject = st.name AND m.table_name::oid = ANY (dropped))
	             OR EXISTS (SELECT FROM privacy.map m JOIN pg_catalog.pg_class k ON k.oid = m.table_name::oid
	                         WHERE m.subject = st.name AND (k.relkind = 'p' OR k.relispartition))
	          ORDER BY st.name COLLATE "C" LOOP
		IF s.root_dropped THEN
			DELETE FROM privacy.map WHERE subject = s.name;
			PERFORM privacy._audit('drop_root', NULL, pg_catalog.jsonb_build_object(
				'subject', s.name,
				'holds', (SELECT pg_catalog.count(*) FROM privacy.holds h WHERE h.subject = s.name AND h.released_at IS NULL),
				'restrictions', (SELECT pg_catalog.count(*) FROM privacy.restrictions r WHERE r.subject = s.name)));
		ELSE
			PERFORM privacy.refresh_subject(s.name);
		END IF;
	END LOOP;
	PERFORM privacy._invalidate();
END
$$;

-- The maps and classified columns after CREATE/ALTER TABLE (src/map_ddl.c):
-- the maps the touched tables can affect are recomputed in the DDL's
-- transaction; nothing on a Citus worker or during a Citus conversion.
CREATE OR REPLACE FUNCTION privacy._on_ddl() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'privacy_on_ddl'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
-- an event trigger only (event triggers fire without EXECUTE)
REVOKE ALL ON FUNCTION privacy._on_ddl() FROM PUBLIC;
-- CREATE SCHEMA can create tables, ALTER SCHEMA renames what path texts show
DROP EVENT TRIGGER privacy_ddl;
CREATE EVENT TRIGGER privacy_ddl ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'CREATE SCHEMA', 'ALTER SCHEMA')
	EXECUTE FUNCTION privacy._on_ddl();

CREATE OR REPLACE FUNCTION privacy._on_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	dropped oid[];
	s record;
BEGIN
	SELECT pg_catalog.array_agg(o.objid) INTO dropped
	  FROM pg_catalog.pg_event_trigger_dropped_objects() o
	 WHERE o.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND o.objsubid = 0
	   AND o.object_type IN ('table', 'partitioned table')
	   AND NOT o.is_temporary;	-- never mapped: no refresh for a temporary table
	IF dropped IS NULL OR pg_catalog.to_regclass('privacy.map') IS NULL THEN
		RETURN;
	END IF;
	IF privacy._citus_worker() THEN	-- shards are configured on the coordinator
		RETURN;
	END IF;
	-- Citus conversions drop and recreate tables: decided at commit (06_citus.sql)
	IF privacy._citus_defer_drop() THEN
		RETURN;
	END IF;
	PERFORM privacy._forget_tables(dropped);
END
$$;



-- maps computed by 0.1.0 hold whole paths: recompute them per edge
SELECT privacy._refresh_all();

-- privacy 0.1.0 -> 0.2.0

---------------------------------------------------------------------------
-- keys: the root keyring, online rotation, registrations that follow
-- renames (issue #12; #10 item 11).  Wrapped data keys of 0.1.0 need no
-- conversion: the 8 bytes after their format byte (the "fingerprint") are
-- the root-key version, computed the same way.
---------------------------------------------------------------------------
ALTER TABLE privacy.encrypted_columns ADD COLUMN attnum int2;
UPDATE privacy.encrypted_columns e SET attnum = a.attnum
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid OPERATOR(pg_catalog.=) e.table_name::oid
   AND a.attname OPERATOR(pg_catalog.=) e.column_name
   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;

CREATE OR REPLACE VIEW privacy.keys AS
	SELECT id, name, subject, subject_ref, state, created_at, destroyed_at,
	       pg_catalog.encode(pg_catalog.substr(wrapped, 2, 8), 'hex') AS root_version
	  FROM privacy.data_keys;

CREATE OR REPLACE FUNCTION privacy.rotate_root_key(new_key_file text DEFAULT NULL) RETURNS bigint
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_rotate_root_key';

-- The root keyring: versions known to the server (never material), and how
-- many active data keys of this database each one still wraps.  A version
-- the data needs but the keyring lacks is 'missing'.  An old key can be
-- retired when no data key of any database needs it (can_retire says so for
-- this database) and no backup that still needs it is kept.
CREATE FUNCTION privacy._root_keyring(OUT version text, OUT "position" int) RETURNS SETOF record
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_root_keyring';
REVOKE EXECUTE ON FUNCTION privacy._root_keyring() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy._root_keyring() TO privacy_admin;
CREATE VIEW privacy.root_keys AS
	WITH ring AS (SELECT r.version, r."position" FROM privacy._root_keyring() r),
	needed AS (SELECT pg_catalog.encode(pg_catalog.substr(k.wrapped, 2, 8), 'hex') AS version,
	                  pg_catalog.count(*) AS n
	             FROM privacy.data_keys k
	            WHERE k.state OPERATOR(pg_catalog.=) 'active' GROUP BY 1)
	SELECT coalesce(ring.version, needed.version) AS version,
	       CASE WHEN ring."position" OPERATOR(pg_catalog.=) 1 THEN 'current'
	            WHEN ring."position" IS NOT NULL THEN 'old' ELSE 'missing' END AS state,
	       coalesce(needed.n, 0) AS data_keys,
	       (ring."position" OPERATOR(pg_catalog.>) 1 AND needed.n IS NULL) AS can_retire
	  FROM ring FULL JOIN needed ON ring.version OPERATOR(pg_catalog.=) needed.version
	 ORDER BY ring."position" NULLS LAST, 1;
REVOKE ALL ON privacy.root_keys FROM PUBLIC;
GRANT SELECT ON privacy.root_keys TO privacy_admin;

-- Registrations follow renames: after ALTER TABLE on a table with encrypted
-- columns, a registration whose column name is gone takes the name now at its
-- attribute number, attribute numbers follow names (a restored dump may
-- renumber columns), and the _decrypted view's columns are renamed alike (in
-- C, as the view's owner).
CREATE FUNCTION privacy._crypto_follow_renames(tbl regclass) RETURNS void
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_crypto_follow_renames';
REVOKE EXECUTE ON FUNCTION privacy._crypto_follow_renames(regclass) FROM PUBLIC;
CREATE FUNCTION privacy._crypto_on_alter() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
	tables oid[] := '{}';
BEGIN
	FOR r IN SELECT DISTINCT c.objid, c.objsubid FROM pg_catalog.pg_event_trigger_ddl_commands() c
	          WHERE c.classid = 'pg_catalog.pg_class'::regclass
	            AND c.objid IN (SELECT e.table_name::oid FROM privacy.encrypted_columns e)
	LOOP
		IF r.objsubid > 0 THEN
			UPDATE privacy.encrypted_columns e SET column_name = a.attname
			  FROM pg_catalog.pg_attribute a
			 WHERE e.table_name::oid = r.objid AND e.attnum = r.objsubid
			   AND a.attrelid = r.objid AND a.attnum = r.objsubid AND NOT a.attisdropped
			   AND e.column_name <> a.attname
			   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b
			                    WHERE b.attrelid = r.objid AND b.attname = e.column_name
			                      AND b.attnum > 0 AND NOT b.attisdropped);
			-- attribute numbers out of date (a restored dump renumbers columns):
			-- the one registration of the table whose name is gone follows
			IF NOT FOUND THEN
				UPDATE privacy.encrypted_columns e SET column_name = a.attname, attnum = a.attnum
				  FROM pg_catalog.pg_attribute a
				 WHERE e.table_name::oid = r.objid AND a.attrelid = r.objid AND a.attnum = r.objsubid
				   AND NOT a.attisdropped
				   AND NOT EXISTS (SELECT 1 FROM privacy.encrypted_columns o
				                    WHERE o.table_name::oid = r.objid AND o.column_name = a.attname)
				   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b
				                    WHERE b.attrelid = r.objid AND b.attname = e.column_name
				                      AND b.attnum > 0 AND NOT b.attisdropped)
				   AND (SELECT count(*) FROM privacy.encrypted_columns d
				         WHERE d.table_name::oid = r.objid
				           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute c
				                            WHERE c.attrelid = r.objid AND c.attname = d.column_name
				                              AND c.attnum > 0 AND NOT c.attisdropped)) = 1;
			END IF;
		END IF;
		IF NOT r.objid = ANY (tables) THEN
			tables := tables || r.objid;
		END IF;
	END LOOP;
	IF cardinality(tables) = 0 THEN
		RETURN;
	END IF;
	UPDATE privacy.encrypted_columns e SET attnum = a.attnum
	  FROM pg_catalog.pg_attribute a
	 WHERE e.table_name::oid = ANY (tables) AND a.attrelid = e.table_name::oid
	   AND a.attname = e.column_name AND a.attnum > 0 AND NOT a.attisdropped
	   AND e.attnum IS DISTINCT FROM a.attnum;
	PERFORM privacy._crypto_follow_renames(t::regclass) FROM pg_catalog.unnest(tables) t;
END
$$;
REVOKE EXECUTE ON FUNCTION privacy._crypto_on_alter() FROM PUBLIC;
CREATE EVENT TRIGGER privacy_crypto_alter ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION privacy._crypto_on_alter();
-- a dropped encrypted column takes its registration along
CREATE OR REPLACE FUNCTION privacy._crypto_on_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM privacy.encrypted_columns e
	 WHERE e.table_name::oid IN (SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects()
								  WHERE object_type = 'table');
	UPDATE privacy.encrypted_columns e SET view = NULL
	 WHERE e.view::oid IN (SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects()
							WHERE object_type = 'view');
	-- a dropped encrypted column takes its registration along (its write
	-- trigger then does nothing)
	DELETE FROM privacy.encrypted_columns e
	 USING pg_catalog.pg_event_trigger_dropped_objects() d
	 WHERE d.object_type = 'table column' AND e.table_name::oid = d.objid
	   AND e.column_name = d.address_names[3];
END
$$;
-- The write triggers of encrypted columns take a name that sorts after the
-- usual trigger names (privacy_encrypt_<id> becomes ~privacy_encrypt_<id>):
-- a user's BEFORE trigger that sorts later is refused from now on.
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT t.tgname, t.tgrelid FROM pg_catalog.pg_trigger t
	          WHERE t.tgfoid OPERATOR(pg_catalog.=) 'privacy.encrypt_trigger()'::pg_catalog.regprocedure
	            AND t.tgname OPERATOR(pg_catalog.~) '^privacy_encrypt_[0-9]+$'
	LOOP
		EXECUTE pg_catalog.format('ALTER TRIGGER %I ON %s RENAME TO %I', r.tgname,
			r.tgrelid::pg_catalog.regclass, '~' OPERATOR(pg_catalog.||) r.tgname);
	END LOOP;
	-- a user's BEFORE trigger that still fires after one stops the writes
	FOR r IN SELECT DISTINCT u.tgname, u.tgrelid FROM pg_catalog.pg_trigger o
	           JOIN pg_catalog.pg_trigger u ON u.tgrelid OPERATOR(pg_catalog.=) o.tgrelid
	                                      AND u.tgname OPERATOR(pg_catalog.>) o.tgname
	           JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) u.tgfoid
	          WHERE o.tgfoid OPERATOR(pg_catalog.=) 'privacy.encrypt_trigger()'::pg_catalog.regprocedure
	            AND p.pronamespace OPERATOR(pg_catalog.<>) 'privacy'::pg_catalog.regnamespace
	            AND (u.tgtype OPERATOR(pg_catalog.&) 67) OPERATOR(pg_catalog.=) 3
	            AND (u.tgtype OPERATOR(pg_catalog.&) 20) OPERATOR(pg_catalog.<>) 0
	LOOP
		RAISE WARNING 'trigger "%" on table % fires after the encryption of a column', r.tgname, r.tgrelid::pg_catalog.regclass
			USING DETAIL = 'Writes to the table fail (55000) until it is renamed: it could store plaintext in the encrypted column.',
			      HINT = 'Give it a name that sorts before "~privacy_encrypt_".';
	END LOOP;
END
$$;

-- Does a stored value have the form of a column ciphertext (prefix, length,
-- base64 for text)?  True, else 23514 (raised by the function itself, so
-- that no message prints the row).  No key, nothing decrypted: the CHECK
-- constraint that encrypt_column puts on an encrypted column
-- (privacy_ciphertext_<id>), so that a write no trigger sees (ALTER TABLE
-- ... DISABLE TRIGGER, session_replication_role = replica) cannot store
-- plaintext.  EXECUTE for PUBLIC: every writer of the table runs it.
CREATE FUNCTION privacy._is_ciphertext(value text) RETURNS boolean
	LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'privacy_is_ciphertext_text';
CREATE FUNCTION privacy._is_ciphertext(value bytea) RETURNS boolean
	LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'privacy_is_ciphertext_bytea';
-- Columns encrypted before 0.2.0 get theirs, NOT VALID (rows written with
-- the triggers disabled may hold anything; new writes are checked).
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT e.id, e.table_name, e.column_name FROM privacy.encrypted_columns e
	          WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_constraint c
	                             WHERE c.conrelid OPERATOR(pg_catalog.=) e.table_name::pg_catalog.oid
	                               AND c.conname OPERATOR(pg_catalog.=) ('privacy_ciphertext_' OPERATOR(pg_catalog.||) e.id))
	LOOP
		EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I CHECK (privacy._is_ciphertext(%I)) NO INHERIT NOT VALID',
			r.table_name, 'privacy_ciphertext_' OPERATOR(pg_catalog.||) r.id, r.column_name);
	END LOOP;
END
$$;

-- No user trigger fires after an encryption trigger (BEFORE ROW triggers fire
-- in name order; one that fired later could store plaintext in the encrypted
-- column or change the key its value is bound to): CREATE TRIGGER and ALTER
-- TRIGGER that would put a BEFORE ROW INSERT or UPDATE trigger after it on a
-- table with encrypted columns are refused, disabled triggers included (the
-- write trigger refuses to run before an enabled one, for when event triggers
-- were off).  An encryption trigger under its name before 0.2.0
-- (privacy_encrypt_<id>, from an old dump) takes its new name first.
CREATE FUNCTION privacy._crypto_on_trigger() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT DISTINCT o.tgname, o.tgrelid FROM pg_catalog.pg_event_trigger_ddl_commands() d
	           JOIN pg_catalog.pg_trigger t ON t.oid = d.objid
	           JOIN pg_catalog.pg_trigger o ON o.tgrelid = t.tgrelid
	          WHERE d.classid = 'pg_catalog.pg_trigger'::regclass
	            AND o.tgfoid = 'privacy.encrypt_trigger()'::regprocedure
	            AND o.tgname ~ '^privacy_encrypt_[0-9]+$'
	LOOP
		EXECUTE format('ALTER TRIGGER %I ON %s RENAME TO %I', r.tgname, r.tgrelid::regclass, '~' || r.tgname);
	END LOOP;
	FOR r IN SELECT u.tgname AS late, o.tgname AS ours, c.relname
	           FROM pg_catalog.pg_event_trigger_ddl_commands() d
	           JOIN pg_catalog.pg_trigger t ON t.oid = d.objid
	           JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
	           JOIN pg_catalog.pg_trigger o ON o.tgrelid = t.tgrelid
	           JOIN pg_catalog.pg_trigger u ON u.tgrelid = t.tgrelid AND u.tgname > o.tgname
	           JOIN pg_catalog.pg_proc p ON p.oid = u.tgfoid
	          WHERE d.classid = 'pg_catalog.pg_trigger'::regclass
	            AND o.tgfoid = 'privacy.encrypt_trigger()'::regprocedure
	            AND p.pronamespace <> 'privacy'::regnamespace
	            AND (u.tgtype & 67) = 3		-- ROW, BEFORE (not INSTEAD OF)
	            AND (u.tgtype & 20) <> 0	-- INSERT or UPDATE
	          ORDER BY u.tgname DESC LIMIT 1
	LOOP
		RAISE EXCEPTION 'trigger "%" on table "%" would fire after the encryption trigger "%"',
			r.late, r.relname, r.ours
			USING ERRCODE = '55000',
			      DETAIL = 'BEFORE triggers fire in the order of their names; one that fires after the encryption could store plaintext in the encrypted column or change the key the value is bound to.',
			      HINT = format('Give the trigger a name that sorts before "%s".', r.ours);
	END LOOP;
END
$$;
REVOKE EXECUTE ON FUNCTION privacy._crypto_on_trigger() FROM PUBLIC;
CREATE EVENT TRIGGER privacy_crypto_trigger ON ddl_command_end WHEN TAG IN ('CREATE TRIGGER', 'ALTER TRIGGER')
	EXECUTE FUNCTION privacy._crypto_on_trigger();

-- The primary key of a table with encrypted columns stays what its values
-- are bound to: ALTER TABLE that replaces or drops it, or changes a key
-- column's type in a way that could change its text, is refused (in C: the
-- key at ddl_command_start against the key at ddl_command_end; named to fire
-- before privacy_crypto_alter, which would rebuild the view on a key that is
-- gone).  A table without a primary key when the command starts (a dump being
-- restored adds it after the data) may get one.
CREATE FUNCTION privacy._crypto_guard_key() RETURNS event_trigger
	LANGUAGE c AS 'MODULE_PATHNAME', 'privacy_crypto_guard_key';
REVOKE EXECUTE ON FUNCTION privacy._crypto_guard_key() FROM PUBLIC;
CREATE EVENT TRIGGER privacy_crypto_a_key_start ON ddl_command_start WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION privacy._crypto_guard_key();
CREATE EVENT TRIGGER privacy_crypto_a_key_end ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION privacy._crypto_guard_key();

-- end of keys

---------------------------------------------------------------------------
-- retention (issue 11; issue 10 item 1): dependents and blocked rows, time
-- zones, policies that follow renames, runtime state created on demand,
-- idle passes without records, the status view's per-policy error.
---------------------------------------------------------------------------
ALTER TABLE privacy.retention_state
	ADD COLUMN last_checked timestamptz;
ALTER TABLE privacy.retention_runs
	ADD COLUMN blocked bigint NOT NULL DEFAULT 0,
	ADD COLUMN blocked_by text,
	ADD COLUMN dependents bigint NOT NULL DEFAULT 0;
ALTER TABLE privacy.retention
	ADD COLUMN age_attnum smallint,
	ADD COLUMN cascade boolean NOT NULL DEFAULT true,
	ADD COLUMN time_zone text;
UPDATE privacy.retention r SET age_attnum = a.attnum
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid OPERATOR(pg_catalog.=) r.table_name::pg_catalog.oid
   AND a.attname OPERATOR(pg_catalog.=) r.age_column AND NOT a.attisdropped;
-- the subject types of each policy's table (recorded by the next run when the
-- map is not computed here)
ALTER TABLE privacy.retention
	ADD COLUMN subjects text[];
ALTER TABLE privacy.retention
	ADD COLUMN column_attnums smallint[];
UPDATE privacy.retention r
   SET column_attnums = ARRAY(SELECT a.attnum FROM pg_catalog.unnest(r.columns) WITH ORDINALITY c(name, o)
                               JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) r.table_name::pg_catalog.oid
                                AND a.attname OPERATOR(pg_catalog.=) c.name AND NOT a.attisdropped ORDER BY c.o)
 WHERE r.columns IS NOT NULL;
UPDATE privacy.retention r
   SET subjects = ARRAY(SELECT DISTINCT m.subject FROM privacy.map m
                         WHERE m.table_name OPERATOR(pg_catalog.=) r.table_name ORDER BY 1)
 WHERE EXISTS (SELECT FROM privacy.map m WHERE m.table_name OPERATOR(pg_catalog.=) r.table_name);
-- whether each policy's author is an admin, as it is now (an author that no
-- longer exists: as 0.2.0 judged it before this column, an admin)
ALTER TABLE privacy.retention
	ADD COLUMN created_by_admin boolean NOT NULL DEFAULT false;
UPDATE privacy.retention r
   SET created_by_admin = COALESCE((SELECT a.rolsuper OR pg_catalog.pg_has_role(a.oid, 'privacy_admin', 'USAGE')
                                      FROM pg_catalog.pg_roles a
                                     WHERE a.rolname OPERATOR(pg_catalog.=) r.created_by), true);
-- pseudonyms carry a keyed tag (issue 10 item 1): values written by 0.1.0
-- are not recognized and are pseudonymized once more.  One family, computed
-- only with the pseudonym scope's token (security, issue #9 item 6) or by a
-- superuser: 0.1.0's pseudonym(text) is replaced (its one-argument calls
-- still resolve, through the defaults).
DROP FUNCTION privacy.pseudonym(text);
CREATE FUNCTION privacy.pseudonym(value text, len integer DEFAULT 32, scope text DEFAULT NULL)
	RETURNS text
	AS 'MODULE_PATHNAME', 'privacy_pseudonym'
	LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION privacy.is_pseudonym(value text, len integer, scope text DEFAULT NULL)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'privacy_is_pseudonym'
	LANGUAGE C VOLATILE PARALLEL RESTRICTED;
DROP FUNCTION privacy.add_retention(regclass, name, interval, text, name[]);
CREATE FUNCTION privacy.add_retention(tbl regclass, age_column name, keep interval,
									  action text DEFAULT 'delete', columns name[] DEFAULT NULL,
									  cascade boolean DEFAULT true, time_zone text DEFAULT NULL)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'privacy_add_retention'
	LANGUAGE C VOLATILE;

-- Why a policy cannot run (its table or age column is gone...), NULL when it
-- can: the status view shows it per policy instead of failing for all.
CREATE FUNCTION privacy.retention_problem(policy bigint) RETURNS text
	AS 'MODULE_PATHNAME', 'privacy_retention_problem'
	LANGUAGE C STRICT VOLATILE;
REVOKE EXECUTE ON FUNCTION privacy.retention_problem(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.retention_problem(bigint) TO privacy_admin, privacy_officer;

CREATE OR REPLACE VIEW privacy.retention_policies AS
SELECT r.id AS policy, r.table_name, r.age_column, r.keep, r.action,
	   r.columns, r.created_at, r.created_by, r.cascade, r.time_zone, r.subjects
  FROM privacy.retention r;

CREATE OR REPLACE VIEW privacy.retention_status AS
SELECT r.id AS policy, r.table_name, r.action, r.keep,
	   l.started AS last_started, l.finished AS last_finished, l.rows AS last_rows,
	   l.held AS last_held, l.error AS last_error,
	   s.cutoff IS NOT NULL AS in_progress, s.failures,
	   CASE WHEN s.failures OPERATOR(pg_catalog.>) 0 THEN s.next_try END AS next_retry,
	   CASE WHEN e.problem IS NULL THEN privacy.retention_backlog(r.id) END AS backlog_estimate,
	   l.blocked AS last_blocked, l.blocked_by, s.last_checked, e.problem AS error
  FROM privacy.retention r
  LEFT JOIN privacy.retention_state s ON s.policy OPERATOR(pg_catalog.=) r.id
  LEFT JOIN LATERAL (SELECT privacy.retention_problem(r.id) AS problem) e ON true
  LEFT JOIN LATERAL (SELECT * FROM privacy.retention_runs x
					  WHERE x.policy OPERATOR(pg_catalog.=) r.id
					  ORDER BY x.started DESC, x.id DESC LIMIT 1) l ON true;

-- Wakes the retention launcher so that it re-checks at once the databases
-- it found without the extension (this one included).
CREATE FUNCTION privacy._wake_launcher() RETURNS void
	AS 'MODULE_PATHNAME', 'privacy_wake_launcher'
	LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION privacy._wake_launcher() FROM PUBLIC;

---------------------------------------------------------------------------
-- security (issue #9, item 12): the audit chain keyed by a data key wrapped
-- under the root key (chain version 2), recorded in the chain head.
---------------------------------------------------------------------------
ALTER TABLE privacy.audit_head ADD COLUMN key_id bigint;

---------------------------------------------------------------------------
-- fixed cost (issue #16): the configuration facts of access cached with the
-- map, dropped by statement triggers on the tables behind them.
---------------------------------------------------------------------------
-- The configuration facts of an access answer (categories, purposes, legal
-- bases, recipients, retention) are cached with the map: any change to the
-- rows behind them, by a configuration function or by hand, drops the cache
-- in every backend (at commit).  Row triggers: a statement that changes
-- nothing (the column reconciliation after every DDL) drops nothing.
CREATE FUNCTION privacy._config_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'privacy_config_changed' LANGUAGE C;
REVOKE ALL ON FUNCTION privacy._config_changed() FROM PUBLIC;
CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.classifications
	FOR EACH ROW EXECUTE FUNCTION privacy._config_changed();
CREATE TRIGGER config_truncated AFTER TRUNCATE ON privacy.classifications
	FOR EACH STATEMENT EXECUTE FUNCTION privacy._config_changed();
CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.recipients
	FOR EACH ROW EXECUTE FUNCTION privacy._config_changed();
CREATE TRIGGER config_truncated AFTER TRUNCATE ON privacy.recipients
	FOR EACH STATEMENT EXECUTE FUNCTION privacy._config_changed();
CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.retention
	FOR EACH ROW EXECUTE FUNCTION privacy._config_changed();
CREATE TRIGGER config_truncated AFTER TRUNCATE ON privacy.retention
	FOR EACH STATEMENT EXECUTE FUNCTION privacy._config_changed();

-- drop_subject also forgets the type in retention policies (retention.subjects)
CREATE OR REPLACE FUNCTION privacy.drop_subject(name text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	-- the lock triggers of its links go with the type
	PERFORM privacy._drop_link_trigger(l.subject, l.table_name)
	   FROM (SELECT DISTINCT k.subject, k.table_name FROM privacy.links k
	          WHERE k.subject OPERATOR(pg_catalog.=) drop_subject.name) l;
	DELETE FROM privacy.subject_types s WHERE s.name = drop_subject.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'subject type "%" does not exist', drop_subject.name USING ERRCODE = '42704';
	END IF;
	-- retention policies no longer expect the type's map (retention.subjects)
	UPDATE privacy.retention r SET subjects = pg_catalog.array_remove(r.subjects, drop_subject.name)
	 WHERE drop_subject.name OPERATOR(pg_catalog.=) ANY (r.subjects);
	PERFORM privacy._invalidate();
END
$$;


---------------------------------------------------------------------------
-- link()'s lock keyed by the type's hash function on both sides (the
-- writers' trigger and erase), whatever the sessions' settings
---------------------------------------------------------------------------
CREATE FUNCTION privacy._link_key_hash(anyelement) RETURNS integer
AS 'MODULE_PATHNAME', 'privacy_link_key_hash' LANGUAGE C STABLE STRICT PARALLEL SAFE;

---------------------------------------------------------------------------
-- protect() on Citus distributed tables: the restricted keys and the
-- protected tables replicated to every node (reference tables), one
-- permissive policy and no other, the names following renames, and DROP
-- EXTENSION dropping the replicated keys on every node
---------------------------------------------------------------------------

CREATE TABLE privacy.citus_restrictions (
	subject		text NOT NULL,
	subject_key	text NOT NULL,
	PRIMARY KEY (subject, subject_key)
);
CREATE TABLE privacy.citus_protected (
	nspname		name NOT NULL,
	relname		name NOT NULL,
	subject		text NOT NULL,
	PRIMARY KEY (nspname, relname, subject)
);
REVOKE ALL ON privacy.citus_restrictions, privacy.citus_protected FROM PUBLIC;

CREATE FUNCTION privacy._on_policy() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	c record;
BEGIN
	FOR c IN SELECT p.polname, p.polrelid
	           FROM pg_catalog.pg_event_trigger_ddl_commands() d
	           JOIN pg_catalog.pg_policy p ON p.oid OPERATOR(pg_catalog.=) d.objid
	          WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass LOOP
		IF c.polname OPERATOR(pg_catalog.<>) 'privacy_restricted'
		   AND EXISTS (SELECT FROM pg_catalog.pg_policy q
		                WHERE q.polrelid OPERATOR(pg_catalog.=) c.polrelid
		                  AND q.polname OPERATOR(pg_catalog.=) 'privacy_restricted' AND q.polpermissive) THEN
			RAISE EXCEPTION 'table % is protected on Citus and can have no other policy', c.polrelid::pg_catalog.regclass
				USING ERRCODE = '0A000',
				      HINT = 'Citus makes every policy permissive on the shards, and a second permissive policy would show restricted rows. Run privacy.unprotect() first.';
		END IF;
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION privacy._on_policy() FROM PUBLIC;
CREATE EVENT TRIGGER privacy_policy ON ddl_command_end WHEN TAG IN ('CREATE POLICY', 'ALTER POLICY')
	EXECUTE FUNCTION privacy._on_policy();

CREATE FUNCTION privacy._citus_sync_protected(tables oid[], schemas oid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	want text[];
	have text[];
	r record;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_policy q JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) q.polrelid
	                WHERE q.polname OPERATOR(pg_catalog.=) 'privacy_restricted'
	                  AND (c.oid OPERATOR(pg_catalog.=) ANY (tables) OR c.relnamespace OPERATOR(pg_catalog.=) ANY (schemas))) THEN
		RETURN;
	END IF;
	SELECT COALESCE(pg_catalog.array_agg(DISTINCT pg_catalog.format('%I %I %I', n.nspname, c.relname, m.subject)), '{}')
	  INTO want
	  FROM pg_catalog.pg_policy q
	  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) q.polrelid
	  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
	  JOIN privacy.map m ON m.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) c.oid
	 WHERE q.polname OPERATOR(pg_catalog.=) 'privacy_restricted' AND q.polpermissive;
	SELECT COALESCE(pg_catalog.array_agg(pg_catalog.format('%I %I %I', p.nspname, p.relname, p.subject)), '{}')
	  INTO have FROM privacy.citus_protected p;
	FOR r IN SELECT p.nspname, p.relname, p.subject FROM privacy.citus_protected p
	          WHERE NOT (pg_catalog.format('%I %I %I', p.nspname, p.relname, p.subject) OPERATOR(pg_catalog.=) ANY (want)) LOOP
		DELETE FROM privacy.citus_protected p WHERE p.nspname OPERATOR(pg_catalog.=) r.nspname
		   AND p.relname OPERATOR(pg_catalog.=) r.relname AND p.subject OPERATOR(pg_catalog.=) r.subject;
	END LOOP;
	FOR r IN SELECT DISTINCT n.nspname, c.relname, m.subject
	           FROM pg_catalog.pg_policy q
	           JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) q.polrelid
	           JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
	           JOIN privacy.map m ON m.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) c.oid
	          WHERE q.polname OPERATOR(pg_catalog.=) 'privacy_restricted' AND q.polpermissive
	            AND NOT (pg_catalog.format('%I %I %I', n.nspname, c.relname, m.subject) OPERATOR(pg_catalog.=) ANY (have)) LOOP
		INSERT INTO privacy.citus_protected (nspname, relname, subject) VALUES (r.nspname, r.relname, r.subject);
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION privacy._citus_sync_protected(oid[], oid[]) FROM PUBLIC;

CREATE FUNCTION privacy._citus_on_drop_extension() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'privacy_citus_on_drop_extension' LANGUAGE C;
REVOKE ALL ON FUNCTION privacy._citus_on_drop_extension() FROM PUBLIC;
CREATE EVENT TRIGGER privacy_citus_drop_extension ON ddl_command_start WHEN TAG IN ('DROP EXTENSION')
	EXECUTE FUNCTION privacy._citus_on_drop_extension();

CREATE OR REPLACE FUNCTION privacy._citus_defer_drop() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'citus') THEN
		RETURN false;
	END IF;
	INSERT INTO privacy.pending_drops (relid, nspname, relname)
	SELECT o.objid, o.schema_name, o.object_name
	  FROM pg_catalog.pg_event_trigger_dropped_objects() o
	 WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
	   AND o.objsubid OPERATOR(pg_catalog.=) 0 AND o.object_type IN ('table', 'partitioned table')
	   AND o.schema_name OPERATOR(pg_catalog.<>) 'privacy';
	RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION privacy.unprotect(tbl regclass)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	on_citus boolean;
	nsp name;
	rel name;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'argument "tbl" must not be null' USING ERRCODE = '22023';
	END IF;
	SELECT p.polpermissive INTO on_citus FROM pg_catalog.pg_policy p
	 WHERE p.polrelid OPERATOR(pg_catalog.=) tbl AND p.polname OPERATOR(pg_catalog.=) 'privacy_restricted';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % is not protected', tbl USING ERRCODE = '42704';
	END IF;
	EXECUTE pg_catalog.format('DROP POLICY privacy_restricted ON %s', tbl);
	-- protected as a distributed table (one permissive policy): what the
	-- shards knew of it goes too, and row security if nothing else uses it
	IF on_citus THEN
		SELECT n.nspname, r.relname INTO nsp, rel
		  FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) r.relnamespace
		 WHERE r.oid OPERATOR(pg_catalog.=) tbl;
		DELETE FROM privacy.citus_protected c
		 WHERE c.nspname OPERATOR(pg_catalog.=) nsp AND c.relname OPERATOR(pg_catalog.=) rel;
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_policy p WHERE p.polrelid OPERATOR(pg_catalog.=) tbl) THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY', tbl);
		END IF;
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.pg_policy p WHERE p.polrelid = tbl AND p.polname = 'privacy_allow')
	   AND (SELECT pg_catalog.count(*) FROM pg_catalog.pg_policy p WHERE p.polrelid = tbl) = 1 THEN
		EXECUTE pg_catalog.format('DROP POLICY privacy_allow ON %s', tbl);
		EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY', tbl);
	END IF;
	PERFORM privacy._audit('unprotect', NULL, pg_catalog.jsonb_build_object('table', tbl::text));
END
$$;

CREATE OR REPLACE FUNCTION privacy.drop_subject(name text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF drop_subject.name IS NULL THEN
		RAISE EXCEPTION 'argument "name" must not be null' USING ERRCODE = '22023';
	END IF;
	-- values encrypted under its subjects' keys would stay encrypted under
	-- keys of no type
	IF EXISTS (SELECT FROM privacy.encrypted_columns e WHERE e.subject OPERATOR(pg_catalog.=) drop_subject.name) THEN
		RAISE EXCEPTION 'columns are encrypted with the keys of subject type "%"', drop_subject.name
			USING ERRCODE = '55000', HINT = 'Decrypt them with privacy.decrypt_column() first.';
	END IF;
	-- active legal holds and restrictions are legal records: they would go
	-- with the type (ON DELETE CASCADE) and a type defined again under the
	-- same name would erase a held subject
	IF EXISTS (SELECT FROM privacy.holds h WHERE h.subject OPERATOR(pg_catalog.=) drop_subject.name
	            AND h.released_at IS NULL AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now()))
	   OR EXISTS (SELECT FROM privacy.restrictions r WHERE r.subject OPERATOR(pg_catalog.=) drop_subject.name) THEN
		RAISE EXCEPTION 'subjects of type "%" are under a legal hold or restricted', drop_subject.name
			USING ERRCODE = '55000',
			HINT = 'Release the holds (privacy.release_hold) and lift the restrictions (privacy.unrestrict) first.';
	END IF;
	-- the lock triggers of its links go with the type
	PERFORM privacy._drop_link_trigger(l.subject, l.table_name)
	   FROM (SELECT DISTINCT k.subject, k.table_name FROM privacy.links k
	          WHERE k.subject OPERATOR(pg_catalog.=) drop_subject.name) l;
	DELETE FROM privacy.subject_types s WHERE s.name = drop_subject.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'subject type "%" does not exist', drop_subject.name USING ERRCODE = '42704';
	END IF;
	-- its restrictions went with it (ON DELETE CASCADE), on the shards too
	DELETE FROM privacy.citus_restrictions c WHERE c.subject OPERATOR(pg_catalog.=) drop_subject.name;
	DELETE FROM privacy.citus_protected c WHERE c.subject OPERATOR(pg_catalog.=) drop_subject.name;
	-- retention policies no longer expect the type's map (retention.subjects)
	UPDATE privacy.retention r SET subjects = pg_catalog.array_remove(r.subjects, drop_subject.name)
	 WHERE drop_subject.name OPERATOR(pg_catalog.=) ANY (r.subjects);
	PERFORM privacy._audit('drop_subject', NULL, pg_catalog.jsonb_build_object('subject', drop_subject.name));
	PERFORM privacy._invalidate();
END
$$;

CREATE OR REPLACE FUNCTION privacy._citus_resolve_drops() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	d record;
	l record;
	newid regclass;
	gone oid[] := '{}';
	relinked jsonb := '[]';
	reprotect oid[] := '{}';
	any_row boolean := false;
BEGIN
	FOR d IN DELETE FROM privacy.pending_drops RETURNING * LOOP
		any_row := true;
		newid := pg_catalog.to_regclass(pg_catalog.format('%I.%I', d.nspname, d.relname));
		-- a protected distributed table comes back without its policy (Citus
		-- does not re-create it; the new table keeps row security only): it
		-- is protected again below, hiding the same rows
		IF newid IS NOT NULL
		   AND NOT EXISTS (SELECT FROM pg_catalog.pg_policy q WHERE q.polrelid OPERATOR(pg_catalog.=) newid
		                    AND q.polname OPERATOR(pg_catalog.=) 'privacy_restricted')
		   AND EXISTS (SELECT FROM privacy.citus_protected p WHERE p.nspname OPERATOR(pg_catalog.=) d.nspname
		                AND p.relname OPERATOR(pg_catalog.=) d.relname) THEN
			reprotect := reprotect OPERATOR(pg_catalog.||) newid::pg_catalog.oid;
		END IF;
		IF newid IS NULL THEN
			gone := gone OPERATOR(pg_catalog.||) d.relid;
			CONTINUE;
		END IF;
		UPDATE privacy.subject_types SET root = newid WHERE root::oid OPERATOR(pg_catalog.=) d.relid;
		UPDATE privacy.classifications SET table_name = newid WHERE table_name::oid OPERATOR(pg_catalog.=) d.relid;
		UPDATE privacy.table_modes SET table_name = newid WHERE table_name::oid OPERATOR(pg_catalog.=) d.relid;
		UPDATE privacy.retention SET table_name = newid WHERE table_name::oid OPERATOR(pg_catalog.=) d.relid;
		FOR l IN UPDATE privacy.links SET table_name = newid WHERE table_name::oid OPERATOR(pg_catalog.=) d.relid
				 RETURNING subject, key_column LOOP
			relinked := relinked OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
				'subject', l.subject, 'tbl', newid::oid, 'col', l.key_column);
		END LOOP;
	END LOOP;
	IF NOT any_row THEN
		RETURN NULL;
	END IF;
	IF pg_catalog.cardinality(gone) OPERATOR(pg_catalog.>) 0 THEN
		PERFORM privacy._forget_tables(gone);
	END IF;
	PERFORM privacy._reconcile_columns();
	PERFORM privacy._refresh_all();
	-- a recreated linked table needs its lock trigger again (on every shard
	-- of a distributed table; link() refuses one whose rows erase's lock
	-- would not reach, outside the root's colocation group: the transaction
	-- fails, closed)
	FOR l IN SELECT * FROM pg_catalog.jsonb_array_elements(relinked) LOOP
		PERFORM privacy.link(l.value->>'subject', (l.value->>'tbl')::oid::regclass, (l.value->>'col')::name);
	END LOOP;
	-- protected again (distributed: the one permissive policy; local after
	-- undistribute_table: as on one node), or the transaction fails, closed
	FOR newid IN SELECT pg_catalog.unnest(reprotect)::pg_catalog.regclass LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_policy q WHERE q.polrelid OPERATOR(pg_catalog.=) newid) THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', newid);
		END IF;
		PERFORM privacy.protect(newid);
	END LOOP;
	IF pg_catalog.cardinality(reprotect) OPERATOR(pg_catalog.>) 0 THEN
		PERFORM privacy._citus_sync_protected(reprotect, '{}');
	END IF;
	PERFORM privacy._invalidate();
	RETURN NULL;
END
$$;

-- The mark of the extension's statements on a Citus table (see 40_rights.sql).
CREATE FUNCTION privacy._quiet() RETURNS boolean
AS 'MODULE_PATHNAME', 'privacy_quiet' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- The aggregate of a table's row objects in access() and export() answers:
-- the value of jsonb_agg, built by copying each row's jsonb instead of
-- unpacking it (src/access.c).  Not data: it arranges what the statement
-- that calls it, run as the table's owner, has read; PUBLIC may use it.
CREATE FUNCTION privacy._rows_step(internal, jsonb) RETURNS internal
AS 'MODULE_PATHNAME', 'privacy_rows_step' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privacy._rows_final(internal) RETURNS jsonb
AS 'MODULE_PATHNAME', 'privacy_rows_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE privacy._rows(jsonb) (SFUNC = privacy._rows_step, STYPE = internal,
	FINALFUNC = privacy._rows_final, PARALLEL = SAFE);
-- One row as access() shows it: to_jsonb's value, built with less work
-- (src/access.c).  Runs in the statement of the table's owner, as to_jsonb.
CREATE FUNCTION privacy._row(record) RETURNS jsonb
AS 'MODULE_PATHNAME', 'privacy_row' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- numeric keys have one canonical spelling from 0.2.0 on (no trailing
-- zeros: '1', '1.0' and '1.00' are one subject; session 12): the stored
-- holds and restrictions of numeric-key subject types take it, so that they
-- still apply (they are looked up by subject_key).  A duplicate that the
-- new spelling would make (two spellings held or restricted twice) keeps
-- its old spelling: the other row already covers the subject.  Consents are
-- kept by subject_ref only: one given under another spelling than the
-- canonical one must be given again (has_consent answers false meanwhile).
WITH numkey AS (
	SELECT s.name FROM privacy.subject_types s
	  JOIN pg_catalog.pg_attribute a ON a.attrelid = s.root AND a.attname = s.key_column AND NOT a.attisdropped
	  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
	 WHERE coalesce(nullif(t.typbasetype, 0), t.oid) = 'pg_catalog.numeric'::pg_catalog.regtype
)
UPDATE privacy.holds h
   SET subject_key = pg_catalog.trim_scale(h.subject_key::pg_catalog.numeric)::pg_catalog.text
 WHERE h.subject IN (SELECT name FROM numkey)
   AND h.subject_key <> pg_catalog.trim_scale(h.subject_key::pg_catalog.numeric)::pg_catalog.text
   AND NOT EXISTS (SELECT FROM privacy.holds o WHERE o.subject = h.subject AND o.released_at IS NULL
                     AND h.released_at IS NULL
                     AND o.subject_key = pg_catalog.trim_scale(h.subject_key::pg_catalog.numeric)::pg_catalog.text);
WITH numkey AS (
	SELECT s.name FROM privacy.subject_types s
	  JOIN pg_catalog.pg_attribute a ON a.attrelid = s.root AND a.attname = s.key_column AND NOT a.attisdropped
	  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
	 WHERE coalesce(nullif(t.typbasetype, 0), t.oid) = 'pg_catalog.numeric'::pg_catalog.regtype
)
UPDATE privacy.restrictions r
   SET subject_key = pg_catalog.trim_scale(r.subject_key::pg_catalog.numeric)::pg_catalog.text
 WHERE r.subject IN (SELECT name FROM numkey)
   AND r.subject_key <> pg_catalog.trim_scale(r.subject_key::pg_catalog.numeric)::pg_catalog.text
   AND NOT EXISTS (SELECT FROM privacy.restrictions o WHERE o.subject = r.subject
                     AND o.subject_key = pg_catalog.trim_scale(r.subject_key::pg_catalog.numeric)::pg_catalog.text);

-- a subject type's key column follows renames (session 12)
ALTER TABLE privacy.subject_types ADD COLUMN key_attnum smallint;
UPDATE privacy.subject_types s SET key_attnum = a.attnum
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid = s.root AND a.attname = s.key_column AND NOT a.attisdropped;

-- A restored dump copies privacy.subject_types into tables whose attribute
-- numbers may differ (a dropped column in the source): the key's attribute
-- number is taken again from its name on every INSERT, so that a later
-- rename of the key column is followed from the right column
-- (_reconcile_columns follows the number when the name is gone).
CREATE FUNCTION privacy._subject_key_attnum() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	NEW.key_attnum := (SELECT a.attnum FROM pg_catalog.pg_attribute a
	                    WHERE a.attrelid OPERATOR(pg_catalog.=) NEW.root AND a.attname OPERATOR(pg_catalog.=) NEW.key_column
	                      AND NOT a.attisdropped AND a.attnum OPERATOR(pg_catalog.>) 0);
	RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION privacy._subject_key_attnum() FROM PUBLIC;
CREATE TRIGGER subject_key_attnum BEFORE INSERT ON privacy.subject_types
	FOR EACH ROW EXECUTE FUNCTION privacy._subject_key_attnum();

-- retention policies follow renames of their columns (session 11); the
-- key column of a subject type too, and a dropped column is not taken for
-- one added later under its name (session 12)
CREATE OR REPLACE FUNCTION privacy._reconcile_columns() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	UPDATE privacy.classifications c SET attnum = a.attnum
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = c.table_name AND a.attname = c.column_name AND NOT a.attisdropped
	   AND a.attnum <> c.attnum;
	UPDATE privacy.classifications c SET column_name = a.attname
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = c.table_name AND a.attnum = c.attnum AND NOT a.attisdropped
	   AND a.attname <> c.column_name
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute b WHERE b.attrelid = c.table_name
	                      AND b.attname = c.column_name AND NOT b.attisdropped);
	DELETE FROM privacy.classifications c
	 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.table_name
	                      AND a.attname = c.column_name AND NOT a.attisdropped);
	-- a subject type's key column follows a rename of it the same way
	UPDATE privacy.subject_types s SET key_attnum = a.attnum
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = s.root AND a.attname = s.key_column AND NOT a.attisdropped
	   AND a.attnum > 0 AND a.attnum IS DISTINCT FROM s.key_attnum;
	UPDATE privacy.subject_types s SET key_column = a.attname
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = s.root AND a.attnum = s.key_attnum AND NOT a.attisdropped
	   AND a.attname <> s.key_column
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute b WHERE b.attrelid = s.root
	                      AND b.attname = s.key_column AND NOT b.attisdropped);
	-- retention policies follow their age column and the columns they
	-- anonymize the same way (a rename swap, one statement at a time, ends
	-- with each policy on its own columns, under their new names)
	UPDATE privacy.retention r SET age_attnum = a.attnum
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = r.table_name AND a.attname = r.age_column AND NOT a.attisdropped
	   AND a.attnum > 0 AND a.attnum IS DISTINCT FROM r.age_attnum;
	UPDATE privacy.retention r SET age_column = a.attname
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = r.table_name AND a.attnum = r.age_attnum AND NOT a.attisdropped
	   AND a.attname <> r.age_column
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute b WHERE b.attrelid = r.table_name
	                      AND b.attname = r.age_column AND NOT b.attisdropped);
	-- a dropped age column: the policy keeps PostgreSQL's name of the
	-- dropped attribute, so a column added later under the old name is not
	-- taken for it (the policy reports its column gone)
	UPDATE privacy.retention r SET age_column = a.attname
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = r.table_name AND a.attnum = r.age_attnum AND a.attisdropped
	   AND a.attname <> r.age_column;
	UPDATE privacy.retention r
	   SET (columns, column_attnums) =
	       (SELECT pg_catalog.array_agg(coalesce(an.attname, aa.attname, c.name) ORDER BY c.o),
	               pg_catalog.array_agg(coalesce(an.attnum, aa.attnum, c.num) ORDER BY c.o)
	          FROM ROWS FROM (pg_catalog.unnest(r.columns), pg_catalog.unnest(r.column_attnums)) WITH ORDINALITY c(name, num, o)
	          LEFT JOIN pg_catalog.pg_attribute an ON an.attrelid = r.table_name AND an.attname = c.name
	                AND NOT an.attisdropped AND an.attnum > 0
	          LEFT JOIN pg_catalog.pg_attribute aa ON aa.attrelid = r.table_name AND aa.attnum = c.num
	                AND an.attnum IS NULL)
	 WHERE r.columns IS NOT NULL AND r.column_attnums IS NOT NULL;
END
$$;

-- link keys that do not fit a link column's type match nothing (session 11)
-- The subject's key as a link column's type, or NULL when it has no value
-- of that type (too large, not of that syntax, not a whole number): a key
-- that cannot be in the column matches none of its rows, where a cast would
-- fail the whole call.  A cast, not data.
CREATE FUNCTION privacy._link_key(target anyelement, key "any") RETURNS anyelement
AS 'MODULE_PATHNAME', 'privacy_link_key' LANGUAGE C STABLE PARALLEL SAFE;

-- breach_report: the deadline runs from when the controller became aware of
-- the breach (Art. 33(1)), a new argument aware_at (NULL: now)
DROP FUNCTION privacy.breach_report(regclass[], interval, boolean);
CREATE FUNCTION privacy.breach_report(tables regclass[], deadline interval DEFAULT '72 hours',
									  keys_compromised boolean DEFAULT false,
									  aware_at timestamptz DEFAULT NULL)
RETURNS jsonb
LANGUAGE C VOLATILE CALLED ON NULL INPUT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'privacy_breach_report';
COMMENT ON FUNCTION privacy.breach_report(regclass[], interval, boolean, timestamptz) IS
	'GDPR Art. 33/34 facts for a breach of the given tables';
REVOKE EXECUTE ON FUNCTION privacy.breach_report(regclass[], interval, boolean, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.breach_report(regclass[], interval, boolean, timestamptz) TO privacy_officer, privacy_admin;

-- unclassified: a subject type's key column is a key (a UNIQUE column named
-- by define_subject(..., key), as Synapse's users.name, was listed as a gap;
-- test/sql/33_realworld_synapse.sql); a partition in the map is classified
-- and linked by its partitioned table's classifications and links
-- (test/sql/18e_partition_ref_ambiguous.sql)
CREATE OR REPLACE VIEW privacy.unclassified AS
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


---------------------------------------------------------------------------
-- Polymorphic links (src/map_api.c privacy_link): link(subject, tbl,
-- key_column, type_column, type_value) maps only the rows whose type column
-- holds the value.
---------------------------------------------------------------------------
-- (privacy.links' two columns are added at the top of this script: the
-- map's walk, which the statements below run, reads them)

CREATE FUNCTION privacy.link(subject text, tbl regclass, key_column name, type_column name, type_value text)
RETURNS void AS 'MODULE_PATHNAME', 'privacy_link'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION privacy.link(text, regclass, name, name, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.link(text, regclass, name, name, text) TO privacy_admin;


---------------------------------------------------------------------------
-- Link discovery (src/discover_links.c): candidates for privacy.link.
---------------------------------------------------------------------------
CREATE FUNCTION privacy.discover_links(subject text, sample int DEFAULT 1000)
RETURNS TABLE (table_name regclass, column_name name, type_column name, type_value text,
			   confidence real, matched int, sampled int)
LANGUAGE C CALLED ON NULL INPUT VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'privacy_discover_links';
COMMENT ON FUNCTION privacy.discover_links(text, int) IS
	'proposes link columns (and polymorphic type values) of tables outside the map of a subject type';
REVOKE EXECUTE ON FUNCTION privacy.discover_links(text, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.discover_links(text, int) TO privacy_admin;


---------------------------------------------------------------------------
-- Erasures and map changes serialize on the subject type's map lock
-- (src/map_cache.c MapLockErasures): classify (above), declassify and
-- set_erasure_mode wait for the erasures running, before they write.
---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION privacy.declassify(tbl regclass, col name)
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

CREATE OR REPLACE FUNCTION privacy.set_erasure_mode(tbl regclass, mode text)
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

-- Names a table had earlier in the transaction (ddl_command_start of ALTER
-- TABLE notes them before a rename or SET SCHEMA): a rebuild that renames
-- the old table away before dropping it keeps its configuration on the new
-- table under the old name (06_citus.sql).
CREATE FUNCTION privacy._on_rename() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'privacy_on_rename' LANGUAGE C;
CREATE FUNCTION privacy._renamed_from(relid oid) RETURNS text[]
AS 'MODULE_PATHNAME', 'privacy_renamed_from' LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION privacy._on_rename(), privacy._renamed_from(oid) FROM PUBLIC;
CREATE EVENT TRIGGER privacy_rename ON ddl_command_start
	WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION privacy._on_rename();

CREATE OR REPLACE FUNCTION privacy._on_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	dropped oid[];
	s record;
BEGIN
	SELECT pg_catalog.array_agg(o.objid) INTO dropped
	  FROM pg_catalog.pg_event_trigger_dropped_objects() o
	 WHERE o.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND o.objsubid = 0
	   AND o.object_type IN ('table', 'partitioned table')
	   AND NOT o.is_temporary;	-- never mapped: no refresh for a temporary table
	IF dropped IS NULL OR pg_catalog.to_regclass('privacy.map') IS NULL THEN
		RETURN;
	END IF;
	IF privacy._citus_worker() THEN	-- shards are configured on the coordinator
		RETURN;
	END IF;
	-- Citus conversions drop and recreate tables: decided at commit (06_citus.sql)
	IF privacy._citus_defer_drop() THEN
		RETURN;
	END IF;
	-- a table created again under its name in this transaction gets its
	-- configuration back at commit (below)
	IF EXISTS (SELECT FROM privacy.classifications c WHERE c.table_name::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM privacy.links l WHERE l.table_name::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM privacy.table_modes m WHERE m.table_name::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM privacy.subject_types st WHERE st.root::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM privacy.retention r WHERE r.table_name::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM pg_catalog.pg_event_trigger_dropped_objects() p
	               WHERE p.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass
	                 AND p.address_names[3] OPERATOR(pg_catalog.=) 'privacy_restricted') THEN
		WITH o AS MATERIALIZED (SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()),
		     pol AS MATERIALIZED (SELECT p.address_names[1] AS nsp, p.address_names[2] AS rel FROM o p
		              WHERE p.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass
		                AND p.address_names[3] OPERATOR(pg_catalog.=) 'privacy_restricted')
		INSERT INTO privacy.dropped_config (relid, nspname, relname, config)
		SELECT o.objid, o.schema_name, o.object_name, c.config
		  FROM o LEFT JOIN pol ON pol.nsp OPERATOR(pg_catalog.=) o.schema_name AND pol.rel OPERATOR(pg_catalog.=) o.object_name,
		       LATERAL (SELECT pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
		           'roots', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('subject', st.name, 'key', st.key_column))
		                       FROM privacy.subject_types st WHERE st.root::oid OPERATOR(pg_catalog.=) o.objid),
		           'mode', (SELECT m.mode FROM privacy.table_modes m WHERE m.table_name::oid OPERATOR(pg_catalog.=) o.objid),
		           'classifications', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
		                                   'col', c.column_name, 'category', c.category, 'erasure', c.erasure,
		                                   'portable', c.portable, 'purposes', c.purposes, 'legal_basis', c.legal_basis)
		                                   ORDER BY c.attnum)
		                                 FROM privacy.classifications c WHERE c.table_name::oid OPERATOR(pg_catalog.=) o.objid),
		           'links', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
		                         'subject', l.subject, 'col', l.key_column, 'tcol', l.type_column, 'tval', l.type_value)
		                         ORDER BY l.subject, l.key_column)
		                       FROM privacy.links l WHERE l.table_name::oid OPERATOR(pg_catalog.=) o.objid),
		           'policies', (SELECT pg_catalog.jsonb_agg(r.id ORDER BY r.id) FROM privacy.retention r
		                         WHERE r.table_name::oid OPERATOR(pg_catalog.=) o.objid),
		           'protected', CASE WHEN pol.rel IS NOT NULL THEN true END)) AS config) c
		 WHERE o.objid OPERATOR(pg_catalog.=) ANY (dropped)
		   AND o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
		   AND o.objsubid OPERATOR(pg_catalog.=) 0
		   AND c.config OPERATOR(pg_catalog.<>) '{}'::pg_catalog.jsonb;
	END IF;
	PERFORM privacy._forget_tables(dropped);
END
$$;

-- A table dropped and created again under its name in one transaction (a
-- migration that rebuilds it: create the new table, copy, drop the old one,
-- rename the new one; or rename the old one out of the way first; Rails'
-- create_table force: true) keeps its configuration.  The drop forgets it
-- at once, as any drop (the maps stay exact inside the transaction), after
-- noting it here; at commit, a table under a name the dropped one had in the
-- transaction that the transaction did not configure itself gets it again,
-- through the same functions a DBA would call (their checks apply; what no
-- longer fits, a column gone, is left out with a WARNING, never failing the
-- commit).  With Citus installed, drops are decided at commit instead
-- (06_citus.sql).
CREATE TABLE privacy.dropped_config (
	relid		oid NOT NULL,
	nspname		name NOT NULL,
	relname		name NOT NULL,
	config		jsonb NOT NULL
);
REVOKE ALL ON privacy.dropped_config FROM PUBLIC;


-- at commit (deferred constraint trigger): give a table that took a dropped
-- one's place its configuration
CREATE FUNCTION privacy._restore_dropped() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	d record;
	x record;
	newid regclass;
	what text;
BEGIN
	FOR d IN DELETE FROM privacy.dropped_config RETURNING * LOOP
		-- the table under the name the dropped one had when it was dropped,
		-- else under a name it had earlier in the transaction (renamed out
		-- of the way first), the latest first; only a table (not a view)
		SELECT k.oid::pg_catalog.regclass INTO newid
		  FROM pg_catalog.unnest(pg_catalog.format('%I.%I', d.nspname, d.relname)
		                         OPERATOR(pg_catalog.||) privacy._renamed_from(d.relid)) WITH ORDINALITY n(name, o)
		  JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(n.name)::pg_catalog.oid
		 WHERE k.relkind IN ('r', 'p') AND NOT k.relispartition
		 ORDER BY n.o LIMIT 1;
		CONTINUE WHEN newid IS NULL;
		-- a table the transaction configured itself keeps what it was given
		CONTINUE WHEN EXISTS (SELECT FROM privacy.classifications c WHERE c.table_name OPERATOR(pg_catalog.=) newid)
		           OR EXISTS (SELECT FROM privacy.links l WHERE l.table_name OPERATOR(pg_catalog.=) newid)
		           OR EXISTS (SELECT FROM privacy.table_modes m WHERE m.table_name OPERATOR(pg_catalog.=) newid)
		           OR EXISTS (SELECT FROM privacy.subject_types st WHERE st.root OPERATOR(pg_catalog.=) newid)
		           OR EXISTS (SELECT FROM privacy.retention r WHERE r.table_name OPERATOR(pg_catalog.=) newid);
		-- a subject type still rooted at the dropped table
		FOR x IN SELECT * FROM pg_catalog.jsonb_to_recordset(d.config->'roots') AS r(subject text, key name) LOOP
			CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.subject_types st WHERE st.name OPERATOR(pg_catalog.=) x.subject
			                            AND st.root::pg_catalog.oid OPERATOR(pg_catalog.=) d.relid);
			BEGIN
				PERFORM privacy.define_subject(x.subject, newid, x.key);
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'the root of subject type "%" was not carried over to the new table %: %', x.subject, newid, SQLERRM;
			END;
		END LOOP;
		IF d.config ? 'mode' THEN
			BEGIN
				PERFORM privacy.set_erasure_mode(newid, d.config->>'mode');
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'the erasure mode of % was not carried over to the new table: %', newid, SQLERRM;
			END;
		END IF;
		FOR x IN SELECT * FROM pg_catalog.jsonb_to_recordset(d.config->'classifications')
		              AS c(col name, category text, erasure text, portable boolean, purposes text[], legal_basis text) LOOP
			BEGIN
				PERFORM privacy.classify(newid, x.col, x.category, x.erasure, x.portable, x.purposes, x.legal_basis);
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'the classification of column "%" of % was not carried over to the new table: %', x.col, newid, SQLERRM;
			END;
		END LOOP;
		FOR x IN SELECT * FROM pg_catalog.jsonb_to_recordset(d.config->'links')
		              AS l(subject text, col name, tcol name, tval text) LOOP
			BEGIN
				IF x.tcol IS NULL THEN
					PERFORM privacy.link(x.subject, newid, x.col);
				ELSE
					PERFORM privacy.link(x.subject, newid, x.col, x.tcol, x.tval);
				END IF;
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'the link of column "%" of % to subject type "%" was not carried over to the new table: %',
					x.col, newid, x.subject, SQLERRM;
			END;
		END LOOP;
		-- retention policies, still on the dropped table: their columns by
		-- name only (a column at the old number is another column; a policy
		-- whose age column is gone stops with 42703 and deletes nothing)
		UPDATE privacy.retention r
		   SET table_name = newid,
		       age_attnum = (SELECT a.attnum FROM pg_catalog.pg_attribute a
		                      WHERE a.attrelid OPERATOR(pg_catalog.=) newid AND a.attname OPERATOR(pg_catalog.=) r.age_column
		                        AND NOT a.attisdropped AND a.attnum OPERATOR(pg_catalog.>) 0),
		       column_attnums = CASE WHEN r.columns IS NULL OR r.column_attnums IS NULL THEN r.column_attnums ELSE
		           (SELECT pg_catalog.array_agg(coalesce(a.attnum, 0) ORDER BY c.o)
		              FROM pg_catalog.unnest(r.columns) WITH ORDINALITY c(name, o)
		              LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) newid
		                    AND a.attname OPERATOR(pg_catalog.=) c.name AND NOT a.attisdropped
		                    AND a.attnum OPERATOR(pg_catalog.>) 0) END
		 WHERE r.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) d.relid
		   AND r.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.jsonb_array_elements_text(d.config->'policies'))::bigint[]);
		IF (d.config->>'protected')::boolean THEN
			BEGIN
				PERFORM privacy.protect(newid);
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING '% was not protected again: %', newid, SQLERRM;
			END;
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER dropped_config_restore AFTER INSERT ON privacy.dropped_config
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION privacy._restore_dropped();
REVOKE ALL ON FUNCTION privacy._restore_dropped() FROM PUBLIC;


---------------------------------------------------------------------------
-- Links to another table of the map (src/map_api.c privacy_link):
-- link(subject, tbl, key_column, target) and link(subject, tbl, key_column,
-- type_column, type_value, target); privacy.links' target column (added at
-- the top of this script); drops and rebuilds carry it.
---------------------------------------------------------------------------

CREATE FUNCTION privacy.link(subject text, tbl regclass, key_column name, target regclass)
RETURNS void AS 'MODULE_PATHNAME', 'privacy_link'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION privacy.link(subject text, tbl regclass, key_column name, type_column name, type_value text,
	target regclass)
RETURNS void AS 'MODULE_PATHNAME', 'privacy_link'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
-- unlink(subject, tbl, key_column, target): one link of a column linked to
-- several tables (target NULL: its link to the root); the column's lock
-- trigger is rebuilt for the links it keeps
CREATE FUNCTION privacy.unlink(subject text, tbl regclass, key_column name, target regclass)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF unlink.subject IS NULL OR unlink.tbl IS NULL OR unlink.key_column IS NULL THEN
		RAISE EXCEPTION 'arguments "subject", "tbl" and "key_column" must not be null' USING ERRCODE = '22023';
	END IF;
	IF NOT EXISTS (SELECT FROM privacy.subject_types s WHERE s.name = unlink.subject) THEN
		RAISE EXCEPTION 'subject type "%" does not exist', unlink.subject USING ERRCODE = '42704';
	END IF;
	DELETE FROM privacy.links l
	 WHERE l.subject = unlink.subject AND l.table_name = unlink.tbl AND l.key_column = unlink.key_column
	   AND l.target IS NOT DISTINCT FROM unlink.target;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % is not linked to subject type "%" by column "%" to %', tbl, subject, key_column,
			coalesce(target::text, 'the root') USING ERRCODE = '42704';
	END IF;
	IF NOT EXISTS (SELECT FROM privacy.links l WHERE l.subject = unlink.subject AND l.table_name = unlink.tbl) THEN
		PERFORM privacy._drop_link_trigger(unlink.subject, unlink.tbl);
	ELSIF EXISTS (SELECT FROM privacy.links l WHERE l.subject = unlink.subject AND l.table_name = unlink.tbl
	               AND l.key_column = unlink.key_column) THEN
		-- the column's trigger, for the links it keeps
		PERFORM privacy.link(unlink.subject, unlink.tbl, unlink.key_column);
	END IF;
	PERFORM privacy.refresh_subject(unlink.subject);
END
$$;

REVOKE ALL ON FUNCTION privacy.link(text, regclass, name, regclass),
	privacy.link(text, regclass, name, name, text, regclass), privacy.unlink(text, regclass, name, regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.link(text, regclass, name, regclass),
	privacy.link(text, regclass, name, name, text, regclass), privacy.unlink(text, regclass, name, regclass) TO privacy_admin;

CREATE OR REPLACE FUNCTION privacy._forget_tables(dropped oid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s record;
BEGIN
	DELETE FROM privacy.classifications WHERE table_name::oid = ANY (dropped);
	DELETE FROM privacy.table_modes WHERE table_name::oid = ANY (dropped);
	DELETE FROM privacy.links WHERE table_name::oid = ANY (dropped);
	-- a link to a dropped table of the map goes with it, and its lock
	-- trigger with the linked table's last link
	FOR s IN DELETE FROM privacy.links WHERE target::oid = ANY (dropped) RETURNING subject, table_name LOOP
		IF NOT EXISTS (SELECT FROM privacy.links l WHERE l.subject = s.subject AND l.table_name = s.table_name) THEN
			PERFORM privacy._drop_link_trigger(s.subject, s.table_name);
		END IF;
		-- (the column's other links keep their trigger, which passes over a
		-- target that no longer exists; the next link() of the column rebuilds it)
	END LOOP;
	-- a dropped partition is no longer known as one: a map holding a
	-- partitioned table or a partition (whose keys decide it) is recomputed too
	IF NOT EXISTS (SELECT FROM privacy.map m LEFT JOIN pg_catalog.pg_class k ON k.oid = m.table_name::oid
	                WHERE m.table_name::oid = ANY (dropped) OR k.relkind = 'p' OR k.relispartition) THEN
		PERFORM privacy._invalidate();
		RETURN;
	END IF;
	PERFORM privacy._lock_maps();
	FOR s IN SELECT st.name, st.root::oid = ANY (dropped) AS root_dropped
	           FROM privacy.subject_types st
	          WHERE EXISTS (SELECT FROM privacy.map m WHERE m.subject = st.name AND m.table_name::oid = ANY (dropped))
	             OR EXISTS (SELECT FROM privacy.map m JOIN pg_catalog.pg_class k ON k.oid = m.table_name::oid
	                         WHERE m.subject = st.name AND (k.relkind = 'p' OR k.relispartition))
	          ORDER BY st.name COLLATE "C" LOOP
		IF s.root_dropped THEN
			DELETE FROM privacy.map WHERE subject = s.name;
			PERFORM privacy._audit('drop_root', NULL, pg_catalog.jsonb_build_object(
				'subject', s.name,
				'holds', (SELECT pg_catalog.count(*) FROM privacy.holds h WHERE h.subject = s.name AND h.released_at IS NULL),
				'restrictions', (SELECT pg_catalog.count(*) FROM privacy.restrictions r WHERE r.subject = s.name)));
		ELSE
			PERFORM privacy.refresh_subject(s.name);
		END IF;
	END LOOP;
	PERFORM privacy._invalidate();
END
$$;

CREATE OR REPLACE FUNCTION privacy._on_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	dropped oid[];
	s record;
BEGIN
	SELECT pg_catalog.array_agg(o.objid) INTO dropped
	  FROM pg_catalog.pg_event_trigger_dropped_objects() o
	 WHERE o.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND o.objsubid = 0
	   AND o.object_type IN ('table', 'partitioned table')
	   AND NOT o.is_temporary;	-- never mapped: no refresh for a temporary table
	IF dropped IS NULL OR pg_catalog.to_regclass('privacy.map') IS NULL THEN
		RETURN;
	END IF;
	IF privacy._citus_worker() THEN	-- shards are configured on the coordinator
		RETURN;
	END IF;
	-- Citus conversions drop and recreate tables: decided at commit (06_citus.sql)
	IF privacy._citus_defer_drop() THEN
		RETURN;
	END IF;
	-- a table created again under its name in this transaction gets its
	-- configuration back at commit (below)
	IF EXISTS (SELECT FROM privacy.classifications c WHERE c.table_name::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM privacy.links l WHERE l.table_name::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM privacy.links l WHERE l.target::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM privacy.table_modes m WHERE m.table_name::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM privacy.subject_types st WHERE st.root::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM privacy.retention r WHERE r.table_name::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM pg_catalog.pg_event_trigger_dropped_objects() p
	               WHERE p.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass
	                 AND p.address_names[3] OPERATOR(pg_catalog.=) 'privacy_restricted') THEN
		WITH o AS MATERIALIZED (SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()),
		     pol AS MATERIALIZED (SELECT p.address_names[1] AS nsp, p.address_names[2] AS rel FROM o p
		              WHERE p.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass
		                AND p.address_names[3] OPERATOR(pg_catalog.=) 'privacy_restricted')
		INSERT INTO privacy.dropped_config (relid, nspname, relname, config)
		SELECT o.objid, o.schema_name, o.object_name, c.config
		  FROM o LEFT JOIN pol ON pol.nsp OPERATOR(pg_catalog.=) o.schema_name AND pol.rel OPERATOR(pg_catalog.=) o.object_name,
		       LATERAL (SELECT pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
		           'roots', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('subject', st.name, 'key', st.key_column))
		                       FROM privacy.subject_types st WHERE st.root::oid OPERATOR(pg_catalog.=) o.objid),
		           'mode', (SELECT m.mode FROM privacy.table_modes m WHERE m.table_name::oid OPERATOR(pg_catalog.=) o.objid),
		           'classifications', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
		                                   'col', c.column_name, 'category', c.category, 'erasure', c.erasure,
		                                   'portable', c.portable, 'purposes', c.purposes, 'legal_basis', c.legal_basis)
		                                   ORDER BY c.attnum)
		                                 FROM privacy.classifications c WHERE c.table_name::oid OPERATOR(pg_catalog.=) o.objid),
		           'links', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
		                         'subject', l.subject, 'col', l.key_column, 'tcol', l.type_column, 'tval', l.type_value,
		                         'target', l.target::pg_catalog.text)
		                         ORDER BY l.subject, l.key_column)
		                       FROM privacy.links l WHERE l.table_name::oid OPERATOR(pg_catalog.=) o.objid),
		           -- the links of other tables to it (link(..., target))
		           'targeting', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
		                         'subject', l.subject, 'tbl', l.table_name::oid, 'col', l.key_column,
		                         'tcol', l.type_column, 'tval', l.type_value)
		                         ORDER BY l.subject, l.table_name::oid, l.key_column)
		                       FROM privacy.links l WHERE l.target::oid OPERATOR(pg_catalog.=) o.objid
		                         AND NOT l.table_name::oid OPERATOR(pg_catalog.=) ANY (dropped)),
		           'policies', (SELECT pg_catalog.jsonb_agg(r.id ORDER BY r.id) FROM privacy.retention r
		                         WHERE r.table_name::oid OPERATOR(pg_catalog.=) o.objid),
		           'protected', CASE WHEN pol.rel IS NOT NULL THEN true END)) AS config) c
		 WHERE o.objid OPERATOR(pg_catalog.=) ANY (dropped)
		   AND o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
		   AND o.objsubid OPERATOR(pg_catalog.=) 0
		   AND c.config OPERATOR(pg_catalog.<>) '{}'::pg_catalog.jsonb;
	END IF;
	PERFORM privacy._forget_tables(dropped);
END
$$;

CREATE OR REPLACE FUNCTION privacy._restore_dropped() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	d record;
	x record;
	newid regclass;
	what text;
BEGIN
	FOR d IN DELETE FROM privacy.dropped_config RETURNING * LOOP
		-- the table under the name the dropped one had when it was dropped,
		-- else under a name it had earlier in the transaction (renamed out
		-- of the way first), the latest first; only a table (not a view)
		SELECT k.oid::pg_catalog.regclass INTO newid
		  FROM pg_catalog.unnest(pg_catalog.format('%I.%I', d.nspname, d.relname)
		                         OPERATOR(pg_catalog.||) privacy._renamed_from(d.relid)) WITH ORDINALITY n(name, o)
		  JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(n.name)::pg_catalog.oid
		 WHERE k.relkind IN ('r', 'p') AND NOT k.relispartition
		 ORDER BY n.o LIMIT 1;
		CONTINUE WHEN newid IS NULL;
		-- a table the transaction configured itself keeps what it was given
		CONTINUE WHEN EXISTS (SELECT FROM privacy.classifications c WHERE c.table_name OPERATOR(pg_catalog.=) newid)
		           OR EXISTS (SELECT FROM privacy.links l WHERE l.table_name OPERATOR(pg_catalog.=) newid)
		           OR EXISTS (SELECT FROM privacy.table_modes m WHERE m.table_name OPERATOR(pg_catalog.=) newid)
		           OR EXISTS (SELECT FROM privacy.subject_types st WHERE st.root OPERATOR(pg_catalog.=) newid)
		           OR EXISTS (SELECT FROM privacy.retention r WHERE r.table_name OPERATOR(pg_catalog.=) newid);
		-- a subject type still rooted at the dropped table
		FOR x IN SELECT * FROM pg_catalog.jsonb_to_recordset(d.config OPERATOR(pg_catalog.->) 'roots') AS r(subject text, key name) LOOP
			CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.subject_types st WHERE st.name OPERATOR(pg_catalog.=) x.subject
			                            AND st.root::pg_catalog.oid OPERATOR(pg_catalog.=) d.relid);
			BEGIN
				PERFORM privacy.define_subject(x.subject, newid, x.key);
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'the root of subject type "%" was not carried over to the new table % (SQLSTATE %)', x.subject, newid, SQLSTATE
					USING HINT = 'Call privacy.define_subject() on the new table to see why.';
			END;
		END LOOP;
		IF d.config OPERATOR(pg_catalog.?) 'mode' THEN
			BEGIN
				PERFORM privacy.set_erasure_mode(newid, d.config OPERATOR(pg_catalog.->>) 'mode');
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'the erasure mode of % was not carried over to the new table (SQLSTATE %)', newid, SQLSTATE
					USING HINT = 'Call privacy.set_erasure_mode() on the new table to see why.';
			END;
		END IF;
		FOR x IN SELECT * FROM pg_catalog.jsonb_to_recordset(d.config OPERATOR(pg_catalog.->) 'classifications')
		              AS c(col name, category text, erasure text, portable boolean, purposes text[], legal_basis text) LOOP
			BEGIN
				PERFORM privacy.classify(newid, x.col, x.category, x.erasure, x.portable, x.purposes, x.legal_basis);
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'the classification of column "%" of % was not carried over to the new table (SQLSTATE %)', x.col, newid, SQLSTATE
					USING HINT = 'Call privacy.classify() on the new table to see why.';
			END;
		END LOOP;
		FOR x IN SELECT * FROM pg_catalog.jsonb_to_recordset(d.config OPERATOR(pg_catalog.->) 'links')
		              AS l(subject text, col name, tcol name, tval text, target text) LOOP
			BEGIN
				IF x.target IS NOT NULL THEN
					-- a target by its name (rebuilt in this transaction too: the new one)
					PERFORM privacy.link(x.subject, newid, x.col, x.tcol, x.tval,
						pg_catalog.to_regclass(x.target)::pg_catalog.oid::pg_catalog.regclass);
				ELSIF x.tcol IS NULL THEN
					PERFORM privacy.link(x.subject, newid, x.col);
				ELSE
					PERFORM privacy.link(x.subject, newid, x.col, x.tcol, x.tval);
				END IF;
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'the link of column "%" of % to subject type "%" was not carried over to the new table (SQLSTATE %)',
					x.col, newid, x.subject, SQLSTATE USING HINT = 'Call privacy.link() on the new table to see why.';
			END;
		END LOOP;
		-- the links of other tables to the dropped one (link(..., target))
		FOR x IN SELECT * FROM pg_catalog.jsonb_to_recordset(d.config OPERATOR(pg_catalog.->) 'targeting')
		              AS l(subject text, tbl oid, col name, tcol name, tval text) LOOP
			CONTINUE WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) x.tbl);
			BEGIN
				PERFORM privacy.link(x.subject, x.tbl::pg_catalog.regclass, x.col, x.tcol, x.tval, newid);
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'the link of column "%" of % to subject type "%" was not carried over to the new table % (SQLSTATE %)',
					x.col, x.tbl::pg_catalog.regclass, x.subject, newid, SQLSTATE
					USING HINT = 'Call privacy.link() with the new table as target to see why.';
			END;
		END LOOP;
		-- retention policies, still on the dropped table: their columns by
		-- name only (a column at the old number is another column; a policy
		-- whose age column is gone stops with 42703 and deletes nothing)
		UPDATE privacy.retention r
		   SET table_name = newid,
		       age_attnum = (SELECT a.attnum FROM pg_catalog.pg_attribute a
		                      WHERE a.attrelid OPERATOR(pg_catalog.=) newid AND a.attname OPERATOR(pg_catalog.=) r.age_column
		                        AND NOT a.attisdropped AND a.attnum OPERATOR(pg_catalog.>) 0),
		       column_attnums = CASE WHEN r.columns IS NULL OR r.column_attnums IS NULL THEN r.column_attnums ELSE
		           (SELECT pg_catalog.array_agg(coalesce(a.attnum, 0) ORDER BY c.o)
		              FROM pg_catalog.unnest(r.columns) WITH ORDINALITY c(name, o)
		              LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) newid
		                    AND a.attname OPERATOR(pg_catalog.=) c.name AND NOT a.attisdropped
		                    AND a.attnum OPERATOR(pg_catalog.>) 0) END
		 WHERE r.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) d.relid
		   AND r.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.jsonb_array_elements_text(d.config OPERATOR(pg_catalog.->) 'policies'))::bigint[]);
		IF (d.config OPERATOR(pg_catalog.->>) 'protected')::boolean THEN
			BEGIN
				PERFORM privacy.protect(newid);
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING '% was not protected again (SQLSTATE %)', newid, SQLSTATE
					USING HINT = 'Call privacy.protect() on the new table to see why.';
			END;
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION privacy._citus_resolve_drops() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	d record;
	l record;
	newid regclass;
	gone oid[] := '{}';
	relinked jsonb := '[]';
	reprotect oid[] := '{}';
	any_row boolean := false;
BEGIN
	FOR d IN DELETE FROM privacy.pending_drops RETURNING * LOOP
		any_row := true;
		newid := pg_catalog.to_regclass(pg_catalog.format('%I.%I', d.nspname, d.relname));
		-- a protected distributed table comes back without its policy (Citus
		-- does not re-create it; the new table keeps row security only): it
		-- is protected again below, hiding the same rows
		IF newid IS NOT NULL
		   AND NOT EXISTS (SELECT FROM pg_catalog.pg_policy q WHERE q.polrelid OPERATOR(pg_catalog.=) newid
		                    AND q.polname OPERATOR(pg_catalog.=) 'privacy_restricted')
		   AND EXISTS (SELECT FROM privacy.citus_protected p WHERE p.nspname OPERATOR(pg_catalog.=) d.nspname
		                AND p.relname OPERATOR(pg_catalog.=) d.relname) THEN
			reprotect := reprotect OPERATOR(pg_catalog.||) newid::pg_catalog.oid;
		END IF;
		IF newid IS NULL THEN
			gone := gone OPERATOR(pg_catalog.||) d.relid;
			CONTINUE;
		END IF;
		UPDATE privacy.subject_types SET root = newid WHERE root::oid OPERATOR(pg_catalog.=) d.relid;
		UPDATE privacy.classifications SET table_name = newid WHERE table_name::oid OPERATOR(pg_catalog.=) d.relid;
		UPDATE privacy.table_modes SET table_name = newid WHERE table_name::oid OPERATOR(pg_catalog.=) d.relid;
		UPDATE privacy.retention SET table_name = newid WHERE table_name::oid OPERATOR(pg_catalog.=) d.relid;
		UPDATE privacy.links SET target = newid WHERE target::oid OPERATOR(pg_catalog.=) d.relid;
		FOR l IN UPDATE privacy.links SET table_name = newid WHERE table_name::oid OPERATOR(pg_catalog.=) d.relid
				 RETURNING subject, key_column LOOP
			relinked := relinked OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
				'subject', l.subject, 'tbl', newid::oid, 'col', l.key_column);
		END LOOP;
	END LOOP;
	IF NOT any_row THEN
		RETURN NULL;
	END IF;
	IF pg_catalog.cardinality(gone) OPERATOR(pg_catalog.>) 0 THEN
		PERFORM privacy._forget_tables(gone);
	END IF;
	PERFORM privacy._reconcile_columns();
	PERFORM privacy._refresh_all();
	-- a recreated linked table needs its lock trigger again (on every shard
	-- of a distributed table; link() refuses one whose rows erase's lock
	-- would not reach, outside the root's colocation group: the transaction
	-- fails, closed)
	FOR l IN SELECT * FROM pg_catalog.jsonb_array_elements(relinked) LOOP
		PERFORM privacy.link(l.value->>'subject', (l.value->>'tbl')::oid::regclass, (l.value->>'col')::name);
	END LOOP;
	-- protected again (distributed: the one permissive policy; local after
	-- undistribute_table: as on one node), or the transaction fails, closed
	FOR newid IN SELECT pg_catalog.unnest(reprotect)::pg_catalog.regclass LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_policy q WHERE q.polrelid OPERATOR(pg_catalog.=) newid) THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', newid);
		END IF;
		PERFORM privacy.protect(newid);
	END LOOP;
	IF pg_catalog.cardinality(reprotect) OPERATOR(pg_catalog.>) 0 THEN
		PERFORM privacy._citus_sync_protected(reprotect, '{}');
	END IF;
	PERFORM privacy._invalidate();
	RETURN NULL;
END
$$;
