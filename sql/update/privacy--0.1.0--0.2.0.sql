-- privacy 0.1.0 -> 0.2.0 (upgrade statements; each helper appends its own
-- block; the result must equal a fresh install of 0.2.0)

---------------------------------------------------------------------------
-- Citus placement awareness (issue 15, src/citus.c, sql/06_citus.sql):
-- the routing column of privacy.subject_tables, and DDL event triggers that
-- do nothing on Citus workers.
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

CREATE OR REPLACE VIEW privacy.subject_tables AS
SELECT m.subject, m.table_name, m.via, m.depth, m.path,
       privacy._routing(m.subject, m.table_name) AS routing
  FROM privacy.map m
 ORDER BY m.subject, m.depth, m.via <> 'root', m.table_name::text;

CREATE OR REPLACE FUNCTION privacy._on_ddl() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM privacy.subject_types) AND NOT EXISTS (SELECT FROM privacy.classifications) THEN
		RETURN;
	END IF;
	IF privacy._citus_worker() THEN	-- shards are configured on the coordinator
		RETURN;
	END IF;
	-- temporary tables (ETL scratch space) never join a map: skip them
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() c
	                WHERE c.schema_name IS NULL OR c.schema_name NOT LIKE 'pg\_temp\_%') THEN
		RETURN;
	END IF;
	BEGIN
		PERFORM privacy._reconcile_columns();
		PERFORM privacy._refresh_all();
	EXCEPTION WHEN OTHERS THEN
		RAISE WARNING 'privacy: the data map could not be refreshed after DDL: %', SQLERRM
			USING HINT = 'Run privacy.refresh_subject() once the schema is consistent.';
	END;
END
$$;

CREATE OR REPLACE FUNCTION privacy._on_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	dropped oid[];
BEGIN
	SELECT pg_catalog.array_agg(o.objid) INTO dropped
	  FROM pg_catalog.pg_event_trigger_dropped_objects() o
	 WHERE o.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND o.objsubid = 0
	   AND o.object_type IN ('table', 'partitioned table');
	IF dropped IS NULL OR pg_catalog.to_regclass('privacy.map') IS NULL THEN
		RETURN;
	END IF;
	IF privacy._citus_worker() THEN	-- shards are configured on the coordinator
		RETURN;
	END IF;
	BEGIN
		DELETE FROM privacy.classifications WHERE table_name::oid = ANY (dropped);
		DELETE FROM privacy.table_modes WHERE table_name::oid = ANY (dropped);
		DELETE FROM privacy.links WHERE table_name::oid = ANY (dropped);
		DELETE FROM privacy.subject_types WHERE root::oid = ANY (dropped);
		IF EXISTS (SELECT FROM privacy.map WHERE table_name::oid = ANY (dropped)) THEN
			PERFORM privacy._refresh_all();
		END IF;
		PERFORM privacy._invalidate();
	EXCEPTION WHEN OTHERS THEN
		RAISE WARNING 'privacy: the catalog could not be cleaned after DROP: %', SQLERRM;
	END;
END
$$;
