---------------------------------------------------------------------------
-- Rights of access and portability (src/access.c), requests
---------------------------------------------------------------------------

-- These read personal data: EXECUTE only for privacy_officer.  They run as
-- the extension owner to read the catalog, and read each mapped table as
-- that table's owner in a security-restricted context.
CREATE FUNCTION privacy.access(subject text, id text) RETURNS jsonb
AS 'MODULE_PATHNAME', 'privacy_access'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION privacy.export(subject text, id text) RETURNS jsonb
AS 'MODULE_PATHNAME', 'privacy_export'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION privacy.receive_request(kind text, subject text, id text,
	received_at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint AS 'MODULE_PATHNAME', 'privacy_receive_request'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE INDEX request_log_open_ref ON privacy.request_log (subject_ref, kind) WHERE completed_at IS NULL;

CREATE VIEW privacy.requests AS
SELECT id, kind, subject, subject_ref, received_at, due_at, completed_at, status, actor
  FROM privacy.request_log;

CREATE VIEW privacy.overdue_requests AS
SELECT id, kind, subject, subject_ref, received_at, due_at, completed_at, status, actor
  FROM privacy.request_log
 WHERE completed_at IS NULL AND due_at < pg_catalog.now();

REVOKE ALL ON FUNCTION privacy.access(text, text), privacy.export(text, text),
	privacy.receive_request(text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.access(text, text), privacy.export(text, text),
	privacy.receive_request(text, text, text, timestamptz) TO privacy_officer;
GRANT SELECT ON privacy.requests, privacy.overdue_requests TO privacy_officer, privacy_admin;

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
