-- privacy: upgrade from 0.1.0 to 0.2.0 (ALTER EXTENSION privacy UPDATE).
\echo Use "ALTER EXTENSION privacy UPDATE TO '0.2.0'" to load this file. \quit

-- Every change of the 0.2.0 install script (sql/*.sql) that alters the
-- installed schema has its statements here, one commented block per change:
-- CREATE OR REPLACE FUNCTION for functions, ALTER TABLE for tables (new
-- columns at the end, where the install script puts them too), the same
-- grants.  After the update the schema equals a fresh install's: the TAP test
-- test/t/060_extension_upgrade.pl compares the two (pg_dump) and fails on any
-- statement missing here.
