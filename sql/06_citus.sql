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

