-- The extension installs, creates its roles, and leaves them on DROP.
CREATE EXTENSION privacy;
SELECT rolname FROM pg_roles WHERE rolname LIKE 'privacy\_%' ORDER BY 1;
SELECT extrelocatable, extversion FROM pg_extension WHERE extname = 'privacy';
-- catalog tables are not readable by PUBLIC (only the public taxonomy is)
SELECT c.relname AS public_readable FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'privacy' AND c.relkind = 'r' AND has_table_privilege('public', c.oid, 'SELECT');
-- no function that reads or changes personal data is executable by PUBLIC
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'privacy' AND has_function_privilege('public', p.oid, 'EXECUTE')
   AND p.proname IN ('access', 'export', 'erase', 'define_subject', 'classify', 'link', 'verify_audit');
-- the fideslang taxonomy, with special categories flagged
SELECT count(*) > 80 AS taxonomy, count(*) FILTER (WHERE special) AS special FROM privacy.categories;
SELECT name FROM privacy.categories WHERE special AND parent NOT IN (SELECT name FROM privacy.categories WHERE special) ORDER BY 1;
SHOW privacy.request_deadline;
-- invalid input
SET privacy.request_deadline = 'soon';
SET privacy.request_deadline = '-1 day';
DROP EXTENSION privacy;
SELECT count(*) FROM pg_roles WHERE rolname IN ('privacy_admin', 'privacy_officer');
