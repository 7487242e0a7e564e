---------------------------------------------------------------------------
-- Discovery (SPEC section 2) and the accountability reports (section 6).
---------------------------------------------------------------------------

-- Proposals only: nothing is classified.  Runs as the caller (it samples
-- user tables with the caller's privileges); the C code reads the privacy
-- catalog as the extension owner.  Revoked from PUBLIC: it reveals which
-- columns hold personal data.
CREATE FUNCTION privacy.discover(tbl regclass DEFAULT NULL, sample int DEFAULT 1000)
RETURNS TABLE (table_name regclass, column_name name, category text,
			   confidence real, matched int, sampled int)
LANGUAGE C CALLED ON NULL INPUT VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'privacy_discover';
COMMENT ON FUNCTION privacy.discover(regclass, int) IS
	'proposes categories for unclassified columns of tbl, or of every mapped table';

-- Whole-database scan: every user table outside system schemas, the privacy
-- schema and extension members.
CREATE FUNCTION privacy.discover_all(sample int DEFAULT 1000)
RETURNS TABLE (table_name regclass, column_name name, category text,
			   confidence real, matched int, sampled int)
LANGUAGE C CALLED ON NULL INPUT VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'privacy_discover_all';
COMMENT ON FUNCTION privacy.discover_all(int) IS
	'proposes categories for unclassified columns of every user table';

-- Candidates for privacy.link: columns of tables outside a subject type's
-- map whose name says they hold its key and whose values are its keys;
-- polymorphic pairs (x_id beside x_type) with the type value that names the
-- subject.  Proposals only; runs as the caller, samples as each table's
-- owner (as discover).
CREATE FUNCTION privacy.discover_links(subject text, sample int DEFAULT 1000)
RETURNS TABLE (table_name regclass, column_name name, type_column name, type_value text,
			   confidence real, matched int, sampled int)
LANGUAGE C CALLED ON NULL INPUT VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'privacy_discover_links';
COMMENT ON FUNCTION privacy.discover_links(text, int) IS
	'proposes link columns (and polymorphic type values) of tables outside the map of a subject type';

-- Classifies (through privacy.classify) what discover proposes at or above
-- min_confidence; tbl limits it to one table (default: every mapped table).
-- Changes configuration: privacy_admin only.
CREATE FUNCTION privacy.apply_discovery(min_confidence real DEFAULT 0.8, tbl regclass DEFAULT NULL)
RETURNS TABLE (table_name regclass, column_name name, category text)
LANGUAGE C CALLED ON NULL INPUT VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'privacy_apply_discovery';
COMMENT ON FUNCTION privacy.apply_discovery(real, regclass) IS
	'classifies the proposals of discover at or above min_confidence';

-- Markdown helper: a JSON array of strings as "a, b" ('|' escaped), "none"
-- when empty.
CREATE FUNCTION privacy._md_list(a jsonb) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(pg_catalog.string_agg(pg_catalog.replace(x, '|', '\|'), ', '), 'none')
	FROM pg_catalog.jsonb_array_elements_text(a) AS x
$$;

-- The reports read the catalog, which PUBLIC cannot read: SECURITY DEFINER
-- with a pinned search_path; they return aggregates only.
CREATE FUNCTION privacy.processing_record() RETURNS jsonb
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'privacy_processing_record';
COMMENT ON FUNCTION privacy.processing_record() IS
	'GDPR Art. 30 record of processing activities, derived from the catalog';

CREATE FUNCTION privacy.processing_record_markdown() RETURNS text
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'privacy_processing_record_markdown';
COMMENT ON FUNCTION privacy.processing_record_markdown() IS
	'the Art. 30 record as Markdown';

-- Counts rows and distinct subjects of the breached tables as the extension
-- owner (the officer need not read them); never returns a value.
-- aware_at: when the controller became aware of the breach (Art. 33(1): the
-- deadline runs from then); NULL: now.
CREATE FUNCTION privacy.breach_report(tables regclass[], deadline interval DEFAULT '72 hours',
									  keys_compromised boolean DEFAULT false,
									  aware_at timestamptz DEFAULT NULL)
RETURNS jsonb
LANGUAGE C VOLATILE CALLED ON NULL INPUT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'privacy_breach_report';
COMMENT ON FUNCTION privacy.breach_report(regclass[], interval, boolean, timestamptz) IS
	'GDPR Art. 33/34 facts for a breach of the given tables';

-- Discovery reveals where personal data is and configures classifications;
-- the reports describe the processing: none of it is for PUBLIC.
REVOKE EXECUTE ON FUNCTION privacy.discover(regclass, int) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION privacy.discover_all(int) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION privacy.discover_links(text, int) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION privacy.apply_discovery(real, regclass) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION privacy.processing_record() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION privacy.processing_record_markdown() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION privacy.breach_report(regclass[], interval, boolean, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.discover(regclass, int) TO privacy_admin;
GRANT EXECUTE ON FUNCTION privacy.discover_all(int) TO privacy_admin;
GRANT EXECUTE ON FUNCTION privacy.discover_links(text, int) TO privacy_admin;
GRANT EXECUTE ON FUNCTION privacy.apply_discovery(real, regclass) TO privacy_admin;
GRANT EXECUTE ON FUNCTION privacy.processing_record() TO privacy_officer, privacy_admin;
GRANT EXECUTE ON FUNCTION privacy.processing_record_markdown() TO privacy_officer, privacy_admin;
GRANT EXECUTE ON FUNCTION privacy.breach_report(regclass[], interval, boolean, timestamptz) TO privacy_officer, privacy_admin;
