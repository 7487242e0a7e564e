---------------------------------------------------------------------------
-- Citus placement awareness (src/citus.c)
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
	   AND o.objsubid OPERATOR(pg_catalog.=) 0 AND o.object_type IN ('table', 'partitioned table')
	   AND o.schema_name OPERATOR(pg_catalog.<>) 'privacy';
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
CREATE CONSTRAINT TRIGGER pending_drops_resolve AFTER INSERT ON privacy.pending_drops
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION privacy._citus_resolve_drops();
REVOKE ALL ON FUNCTION privacy._citus_defer_drop(), privacy._citus_resolve_drops() FROM PUBLIC;

-- protect() on a distributed table (src/rights.c).  Its policy is evaluated
-- on the shards, where the coordinator's configuration is not: these two
-- tables carry what the policy function needs there, the restricted keys
-- (the same rows as privacy.restrictions) and the protected tables (by name,
-- as every node knows them).  They stay empty local tables until protect()
-- first protects a distributed table; it then fills them and makes them
-- Citus reference tables, so that they are replicated to every node (nodes
-- added later included) and written in the coordinated transaction of
-- restrict(), unrestrict(), protect() and unprotect() (two-phase commit).
-- A worker reads them only through its local placement, in
-- privacy._restricted(); nobody else may read them.
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

-- A protected distributed table has one policy, privacy_restricted, and it
-- is PERMISSIVE: Citus re-creates every policy on the shards as permissive
-- (it drops AS RESTRICTIVE), and permissive policies are OR-ed, so a second
-- policy would let restricted rows through.  This trigger refuses one.
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

-- The nodes know a protected distributed table by name: after a rename of
-- the table or of its schema (the DDL trigger calls this with the command's
-- tables and schemas), privacy.citus_protected follows the catalog: one row
-- per protected distributed table (its permissive privacy_restricted
-- policy) and subject type of its map.  Reads first, writes only what
-- differs (a write goes to every node).
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

-- DROP EXTENSION privacy drops the shards of the two tables above first, on
-- every node (Citus would leave them, and the restricted keys, behind)
CREATE FUNCTION privacy._citus_on_drop_extension() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'privacy_citus_on_drop_extension' LANGUAGE C;
REVOKE ALL ON FUNCTION privacy._citus_on_drop_extension() FROM PUBLIC;
CREATE EVENT TRIGGER privacy_citus_drop_extension ON ddl_command_start WHEN TAG IN ('DROP EXTENSION')
	EXECUTE FUNCTION privacy._citus_on_drop_extension();
