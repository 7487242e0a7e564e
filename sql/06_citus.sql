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
