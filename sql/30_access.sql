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

CREATE VIEW privacy.requests AS
SELECT id, kind, subject, subject_ref, received_at, due_at, completed_at, status, actor
  FROM privacy.request_log;

CREATE VIEW privacy.overdue_requests AS
SELECT id, kind, subject, subject_ref, received_at, due_at, completed_at, status, actor
  FROM privacy.request_log
 WHERE completed_at IS NULL AND due_at < pg_catalog.now();

REVOKE ALL ON FUNCTION privacy.access(text, text), privacy.export(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.access(text, text), privacy.export(text, text) TO privacy_officer;
GRANT SELECT ON privacy.requests, privacy.overdue_requests TO privacy_officer, privacy_admin;
