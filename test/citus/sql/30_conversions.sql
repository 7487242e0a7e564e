-- Citus's table conversions drop and recreate tables under their names in
-- one transaction (new OIDs): the configuration follows the names, the map
-- is recomputed at commit, routing keeps working.  A plain drop still
-- forgets.
\set VERBOSITY terse
SELECT (SELECT count(*) FROM privacy.subject_tables WHERE subject = 'customer') AS mapped,
       (SELECT count(*) FROM privacy.classified_columns) AS classified,
       (SELECT count(*) FROM privacy.links) AS links,
       'customers'::regclass::oid AS root_oid \gset before_
-- a protected table goes through the conversions protected (customer 62
-- restricted): Citus drops its policy with the old table and does not
-- re-create it; at commit the new table is protected again
CREATE ROLE citus_conv_reader LOGIN;
GRANT SELECT ON devices TO citus_conv_reader;
SELECT privacy.restrict('customer', '62', 'disputed');
SELECT privacy.protect('devices');
-- every table of the colocation group gets 4 shards instead of 8
SELECT alter_distributed_table('customers', shard_count => 4, cascade_to_colocated => true);
SET ROLE citus_conv_reader;
SELECT count(*) AS devices62_converted, (SELECT count(*) FROM devices WHERE customer_id = 63) AS devices63_converted
  FROM devices WHERE customer_id = 62;
RESET ROLE;
SELECT count(*) AS placements, count(*) FILTER (WHERE result = 'privacy_restricted true') AS with_policy
  FROM run_command_on_placements('devices',
       $$SELECT string_agg(polname || ' ' || polpermissive, ',') FROM pg_policy WHERE polrelid = '%s'::regclass$$);
SELECT 'customers'::regclass::oid <> :before_root_oid AS new_oid,
       (SELECT count(*) FROM privacy.subject_tables WHERE subject = 'customer') = :before_mapped AS mapped_kept,
       (SELECT count(*) FROM privacy.classified_columns) = :before_classified AS classified_kept,
       (SELECT count(*) FROM privacy.links) = :before_links AS links_kept;
SELECT root::text FROM privacy.subject_types WHERE name = 'customer';
SELECT table_name, via, routing FROM privacy.subject_tables WHERE subject = 'customer' ORDER BY table_name::text;
-- (a rights call in the same statement as a distributed table would be
-- pushed down to a worker with it, where no subject type is configured:
-- rights calls are statements of their own)
SELECT jsonb_array_length(privacy.access('customer', '60')->'data'->'public.messages') AS messages60;
SELECT count(*) AS expected FROM messages WHERE customer_id = 60;
SELECT privacy.erase('customer', '60')->'tables'->'public.messages' AS erased60;
SELECT count(*) AS left60 FROM messages WHERE customer_id = 60;

-- back to plain tables: every table connected by foreign keys
SELECT undistribute_table('customers', cascade_via_foreign_keys => true);
SELECT table_name, via, routing FROM privacy.subject_tables WHERE subject = 'customer' ORDER BY table_name::text;
SELECT (SELECT count(*) FROM privacy.classified_columns) = :before_classified AS classified_kept;
SELECT privacy.erase('customer', '61')->'tables'->'public.messages' AS erased61;
-- the protected table, local again, still hides customer 62's rows
SET ROLE citus_conv_reader;
SELECT count(*) AS devices62_local, (SELECT count(*) FROM devices WHERE customer_id = 63) AS devices63_local
  FROM devices WHERE customer_id = 62;
RESET ROLE;
SELECT privacy.unprotect('devices');
SELECT privacy.unrestrict('customer', '62');
SELECT relrowsecurity FROM pg_class WHERE oid = 'devices'::regclass;
REVOKE ALL ON devices FROM citus_conv_reader;
DROP ROLE citus_conv_reader;

-- a linked table dropped and recreated in one transaction stays linked,
-- with its lock trigger
BEGIN;
DROP TABLE log;
CREATE TABLE log (customer_id bigint, at int, what text);
COMMIT;
SELECT table_name, via FROM privacy.subject_tables WHERE table_name = 'log'::regclass;
SELECT count(*) AS lock_trigger FROM pg_trigger WHERE tgrelid = 'log'::regclass AND tgname LIKE 'privacy_link%';
SELECT count(*) AS classified FROM privacy.classified_columns WHERE table_name = 'log'::regclass;
-- unlink() removes what link() made: the link and its lock trigger
SELECT privacy.unlink('customer', 'log', 'customer_id');
SELECT count(*) AS lock_trigger FROM pg_trigger WHERE tgrelid = 'log'::regclass AND tgname LIKE 'privacy_link%';
SELECT privacy.link('customer', 'log', 'customer_id');
-- a plain drop forgets
DROP TABLE log;
SELECT count(*) AS links FROM privacy.links;
SELECT count(*) AS classified_log FROM privacy.classified_columns WHERE table_name::text = 'log';
SELECT count(*) AS pending FROM privacy.pending_drops;
