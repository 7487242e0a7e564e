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
