-- The extension installs, creates its roles, and leaves them on DROP.
CREATE EXTENSION privacy;
SELECT rolname FROM pg_roles WHERE rolname LIKE 'privacy\_%' ORDER BY 1;
SELECT extrelocatable, extversion FROM pg_extension WHERE extname = 'privacy';
-- catalog tables are not readable by PUBLIC
SELECT count(*) AS public_readable FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'privacy' AND c.relkind = 'r' AND has_table_privilege('public', c.oid, 'SELECT');
SHOW privacy.request_deadline;
-- invalid input
SET privacy.request_deadline = 'soon';
SET privacy.request_deadline = '-1 day';
DROP EXTENSION privacy;
SELECT count(*) FROM pg_roles WHERE rolname IN ('privacy_admin', 'privacy_officer');
