-- protect() on Citus.  A distributed table that routes by the subject's key
-- is protected on every shard: its one policy is PERMISSIVE (Citus drops AS
-- RESTRICTIVE on the shards, so protect() does not rely on it, and refuses
-- any other policy, which would be OR-ed with it), the nodes learn the
-- restricted keys and the protected tables through two reference tables, and
-- the policy function finds a shard's restricted rows by the distribution
-- column where the shard is.  Checked against the single-node twin, from
-- the coordinator and from a worker, across restrict/unrestrict, rollback,
-- a shard move and split, renames, hostile callers, and unprotect().
\getenv w1 CITUS_W1
\getenv coord PGPORT
\getenv host PGHOST
\set VERBOSITY terse
CREATE ROLE citus_reader LOGIN;
CREATE ROLE citus_hostile LOGIN;

-- the single-node twin: what an ordinary reader sees of a restricted
-- customer (the rows of customers 11 to 13)
\c single_regress
GRANT SELECT ON devices, messages TO citus_reader;
SELECT privacy.restrict('customer', '11', 'disputed');
SELECT privacy.protect('devices');
SELECT privacy.protect('messages');
SET ROLE citus_reader;
SELECT (SELECT count(*) FROM devices WHERE customer_id BETWEEN 11 AND 13) AS devices,
       (SELECT count(*) FROM messages WHERE customer_id BETWEEN 11 AND 13) AS messages \gset s_
RESET ROLE;
SELECT privacy.unprotect('devices');
SELECT privacy.unprotect('messages');
SELECT privacy.unrestrict('customer', '11');
REVOKE ALL ON devices, messages FROM citus_reader;

\c citus_regress
-- (shard ids from here on do not depend on the files before this one)
SET citus.next_shard_id = 125000;
SELECT count(*) AS restrictions_before FROM privacy.restrictions \gset
GRANT SELECT ON devices, messages, conversations TO citus_reader;
-- restricted before anything is protected: copied to the nodes by the
-- first protect()
SELECT privacy.restrict('customer', '11', 'disputed');

-- what an ordinary reader will see: every device but those of the
-- restricted customers (11, and one restricted by an earlier file)
SELECT array_agg(subject_key::bigint) AS rkeys FROM privacy.restrictions WHERE subject = 'customer' \gset
SELECT count(*) AS devices_visible FROM devices WHERE NOT customer_id = ANY (:'rkeys'::bigint[]) \gset

-- refused before anything changes: FORCE (access and erase read the shards
-- as the owner), a reference table, a table with row security of its own
SELECT privacy.protect('devices', true);
SELECT privacy.protect('tenants');
CREATE POLICY own ON conversations USING (true);
SELECT privacy.protect('conversations');
DROP POLICY own ON conversations;
ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
SELECT privacy.protect('conversations');
ALTER TABLE conversations DISABLE ROW LEVEL SECURITY;
SELECT count(*) AS replicated_tables FROM pg_dist_partition WHERE logicalrelid::text LIKE 'privacy.%';
SELECT count(*) AS audited FROM privacy.audit_log WHERE action = 'protect';
SELECT relrowsecurity, (SELECT count(*) FROM pg_policy WHERE polrelid = 'devices'::regclass) AS policies
  FROM pg_class WHERE oid = 'devices'::regclass;

-- protected: one permissive policy on the coordinator and on every placement
SELECT privacy.protect('devices');
SELECT privacy.protect('messages');
-- (again: the same one policy)
SELECT privacy.protect('devices');
SELECT polname, polpermissive, polcmd FROM pg_policy WHERE polrelid = 'devices'::regclass;
SELECT count(*) AS placements, count(*) FILTER (WHERE result = 'privacy_restricted true') AS with_policy
  FROM run_command_on_placements('devices',
       $$SELECT string_agg(polname || ' ' || polpermissive, ',') FROM pg_policy WHERE polrelid = '%s'::regclass$$);
-- the restricted keys and the protected tables are on every node
SELECT logicalrelid, partmethod FROM pg_dist_partition WHERE logicalrelid::text LIKE 'privacy.%' ORDER BY 1;
SELECT count(*) AS nodes, count(*) FILTER (WHERE result::int = :restrictions_before + 1) AS with_every_key
  FROM run_command_on_placements('privacy.citus_restrictions', $$SELECT count(*) FROM %s$$);
SELECT count(*) AS nodes, count(*) FILTER (WHERE result = '2') AS with_tables
  FROM run_command_on_placements('privacy.citus_protected', $$SELECT count(*) FROM %s$$);

-- an ordinary reader sees what it sees on one node: customer 11's rows are
-- hidden on the shards, nobody else's
SET ROLE citus_reader;
SELECT count(*) = :s_devices AS same_devices FROM devices WHERE customer_id BETWEEN 11 AND 13;
SELECT count(*) = :s_messages AS same_messages FROM messages WHERE customer_id BETWEEN 11 AND 13;
SELECT count(*) = :devices_visible AS all_visible FROM devices;
SELECT count(*) AS devices11 FROM devices WHERE customer_id = 11;
SELECT count(*) AS messages11 FROM messages WHERE customer_id = 11;
SELECT count(*) AS devices12 FROM devices WHERE customer_id = 12;
SELECT count(*) AS joined11 FROM messages m JOIN devices d USING (customer_id) WHERE m.customer_id = 11;
SELECT count(*) AS conversations11 FROM conversations WHERE customer_id = 11;
RESET ROLE;
-- the same reader on a worker, through the worker's copies of the tables
SELECT shard_name('privacy.citus_restrictions'::regclass, shardid) AS keys_shard
  FROM pg_dist_shard WHERE logicalrelid = 'privacy.citus_restrictions'::regclass \gset
\c citus_regress citus_reader - :w1
SELECT count(*) AS devices11_from_worker FROM devices WHERE customer_id = 11;
SELECT count(*) = :s_devices AS same_devices_from_worker FROM devices WHERE customer_id BETWEEN 11 AND 13;
SELECT count(*) = :devices_visible AS all_visible_from_worker FROM devices;
-- the replicated keys are not readable, through the table or its placement
SELECT count(*) FROM privacy.citus_restrictions;
SELECT has_table_privilege(:'keys_shard', 'SELECT') AS can_read_placement;
\c citus_regress postgres - :coord

-- the owner (not forced) and the rights see every row
SELECT count(*) AS owner_devices11 FROM devices WHERE customer_id = 11;
SELECT jsonb_array_length(privacy.access('customer', '11')->'data'->'public.devices') AS access11;
SELECT privacy.erase('customer', '11', dry_run => true)->'tables'->'public.devices' AS dry_run11;
-- privacy_officer sees every row
GRANT privacy_officer TO citus_reader;
SET ROLE citus_reader;
SELECT count(*) AS officer_devices11 FROM devices WHERE customer_id = 11;
RESET ROLE;
REVOKE privacy_officer FROM citus_reader;

-- restrict() and unrestrict() reach the shards in their own transaction,
-- and the key never appears in the text Citus sends to the nodes (logged
-- here: the commands that contain it, none)
SET citus.log_remote_commands = on;
SET citus.grep_remote_commands = '%''12''%';
SELECT privacy.restrict('customer', '12', 'disputed');
RESET citus.log_remote_commands;
RESET citus.grep_remote_commands;
SET ROLE citus_reader;
SELECT count(*) AS devices12_restricted FROM devices WHERE customer_id = 12;
RESET ROLE;
-- (the shards see a change at commit: inside the transaction that
-- unrestricts, the rows can stay hidden; another session sees the change
-- at commit, never before)
BEGIN;
SELECT privacy.unrestrict('customer', '12');
ROLLBACK;
SET ROLE citus_reader;
SELECT count(*) AS devices12_after_rollback FROM devices WHERE customer_id = 12;
RESET ROLE;
SELECT privacy.unrestrict('customer', '12');
SET ROLE citus_reader;
SELECT count(*) AS devices12_unrestricted FROM devices WHERE customer_id = 12;
RESET ROLE;
SELECT count(*) AS nodes, count(*) FILTER (WHERE result::int = :restrictions_before + 1) AS with_every_key
  FROM run_command_on_placements('privacy.citus_restrictions', $$SELECT count(*) FROM %s$$);

-- a shard move and a split: the new placements hide the rows too
SET citus.local_hostname = :'host';
SELECT n.nodeport AS owner11 FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
 WHERE p.shardid = get_shard_id_for_distribution_column('devices', 11) \gset
SELECT citus_move_shard_placement(get_shard_id_for_distribution_column('devices', 11), n.nodename, n.nodeport,
       m.nodename, m.nodeport, shard_transfer_mode => 'block_writes') AS moved
  FROM pg_dist_node n, pg_dist_node m
 WHERE n.nodeport = :owner11 AND m.groupid NOT IN (0, n.groupid);
SELECT citus_split_shard_by_split_points(s.shardid,
       ARRAY[((s.shardminvalue::bigint + s.shardmaxvalue::bigint) / 2)::text],
       ARRAY[n.nodeid, n.nodeid], shard_transfer_mode => 'block_writes') AS split
  FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
 WHERE s.shardid = get_shard_id_for_distribution_column('devices', 11);
RESET citus.local_hostname;
SELECT n.nodeport <> :owner11 AS moved FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
 WHERE p.shardid = get_shard_id_for_distribution_column('devices', 11);
SELECT count(*) AS placements, count(*) FILTER (WHERE result = 'privacy_restricted true') AS with_policy
  FROM run_command_on_placements('devices',
       $$SELECT string_agg(polname || ' ' || polpermissive, ',') FROM pg_policy WHERE polrelid = '%s'::regclass$$);
SET ROLE citus_reader;
SELECT count(*) AS devices11_after_move FROM devices WHERE customer_id = 11;
SELECT count(*) = :s_devices AS same_devices_after_move FROM devices WHERE customer_id BETWEEN 11 AND 13;
SELECT count(*) = :devices_visible AS all_visible_after_move FROM devices;
RESET ROLE;

-- no second policy while protected (it would be OR-ed on the shards)
CREATE POLICY own ON devices USING (true);
SELECT count(*) AS policies FROM pg_policy WHERE polrelid = 'devices'::regclass;

-- renamed, moved to another schema: the nodes follow the names
ALTER TABLE devices RENAME TO devices_renamed;
CREATE SCHEMA elsewhere;
GRANT USAGE ON SCHEMA elsewhere TO citus_reader;
ALTER TABLE devices_renamed SET SCHEMA elsewhere;
SELECT nspname, relname FROM privacy.citus_protected ORDER BY 1, 2;
SET ROLE citus_reader;
SELECT count(*) AS devices11_renamed FROM elsewhere.devices_renamed WHERE customer_id = 11;
RESET ROLE;
ALTER TABLE elsewhere.devices_renamed SET SCHEMA public;
ALTER TABLE devices_renamed RENAME TO devices;
DROP SCHEMA elsewhere;
SELECT nspname, relname FROM privacy.citus_protected ORDER BY 1, 2;

-- not an oracle: a role that owns a colocated table of its own and calls
-- the policy function there gets an error, never an answer
GRANT CREATE ON SCHEMA public TO citus_hostile;
SET ROLE citus_hostile;
CREATE TABLE spy (customer_id bigint PRIMARY KEY);
SELECT create_distributed_table('spy', 'customer_id', colocate_with => 'customers');
INSERT INTO spy SELECT generate_series(1, 20);
ALTER TABLE spy ENABLE ROW LEVEL SECURITY;
ALTER TABLE spy FORCE ROW LEVEL SECURITY;
CREATE POLICY p ON spy USING (NOT privacy._restricted('customer', 'spy'::regclass, tableoid, ctid));
SELECT count(*) FROM spy;
DROP POLICY p ON spy;
CREATE POLICY p ON spy USING (NOT privacy._restricted('customer', 'devices'::regclass, tableoid, ctid));
SELECT count(*) FROM spy;
RESET ROLE;
GRANT SELECT ON devices TO citus_hostile;
SET ROLE citus_hostile;
SELECT count(*) FROM spy;
DROP TABLE spy;
RESET ROLE;
REVOKE SELECT ON devices FROM citus_hostile;
REVOKE CREATE ON SCHEMA public FROM citus_hostile;

-- a partitioned distributed table: the rows come from the partitions' shards
CREATE TABLE visits (customer_id bigint NOT NULL, day date NOT NULL, page text,
	FOREIGN KEY (customer_id) REFERENCES customers) PARTITION BY RANGE (day);
CREATE TABLE visits_2024 PARTITION OF visits FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE visits_2025 PARTITION OF visits FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
SELECT create_distributed_table('visits', 'customer_id', colocate_with => 'customers');
INSERT INTO visits SELECT c, d, 'page' FROM generate_series(10, 13) c,
       unnest(ARRAY['2024-03-01', '2025-03-01']::date[]) d;
GRANT SELECT ON visits TO citus_reader;
SELECT privacy.protect('visits');
SET ROLE citus_reader;
-- (customer 10 is restricted by 10_rights.sql)
SELECT customer_id, count(*) AS visible FROM visits GROUP BY 1 ORDER BY 1;
SELECT count(*) AS visits11 FROM visits WHERE customer_id = 11;
RESET ROLE;
SELECT privacy.unprotect('visits');
DROP TABLE visits;

-- unprotect(): no policy, no row security, the nodes forget the table
SELECT privacy.unprotect('devices');
SELECT relrowsecurity, (SELECT count(*) FROM pg_policy WHERE polrelid = 'devices'::regclass) AS policies
  FROM pg_class WHERE oid = 'devices'::regclass;
SELECT count(*) AS placements, count(*) FILTER (WHERE result = 'f 0') AS without_policy
  FROM run_command_on_placements('devices',
       $$SELECT relrowsecurity::text || ' ' || (SELECT count(*) FROM pg_policy WHERE polrelid = '%1$s'::regclass)
           FROM pg_class WHERE oid = '%1$s'::regclass$$);
SELECT nspname, relname FROM privacy.citus_protected ORDER BY 1, 2;
SET ROLE citus_reader;
SELECT count(*) AS devices11_unprotected FROM devices WHERE customer_id = 11;
SELECT count(*) AS messages11_still_protected FROM messages WHERE customer_id = 11;
RESET ROLE;
SELECT privacy.unprotect('messages');
SELECT privacy.unrestrict('customer', '11');
SELECT count(*) = :restrictions_before AS restrictions_as_before FROM privacy.restrictions;
SELECT count(*) AS nodes, count(*) FILTER (WHERE result::int = :restrictions_before) AS as_before
  FROM run_command_on_placements('privacy.citus_restrictions', $$SELECT count(*) FROM %s$$);

-- a table protected while local to the coordinator cannot be distributed
-- afterwards (Citus would copy its restrictive policy to the shards as a
-- permissive one; it fails instead): it stays local and protected; after
-- unprotect() it distributes, and protect() then protects it on the shards
CREATE TABLE members (member_id bigint PRIMARY KEY, name text);
INSERT INTO members SELECT m, 'member ' || m FROM generate_series(1, 10) m;
GRANT SELECT ON members TO citus_reader;
SELECT privacy.define_subject('member', 'members');
SELECT privacy.restrict('member', '3', 'disputed');
SELECT privacy.protect('members');
SET ROLE citus_reader;
SELECT count(*) AS members_visible_local FROM members;
RESET ROLE;
SELECT create_distributed_table('members', 'member_id', shard_count => 4);
SELECT count(*) AS citus_tables FROM pg_dist_partition WHERE logicalrelid = 'members'::regclass;
SET ROLE citus_reader;
SELECT count(*) AS members_visible_still_local FROM members;
RESET ROLE;
SELECT privacy.unprotect('members');
SELECT create_distributed_table('members', 'member_id', shard_count => 4);
SELECT privacy.protect('members');
SET ROLE citus_reader;
SELECT count(*) AS members_visible_distributed FROM members;
RESET ROLE;
SELECT privacy.unprotect('members');
SELECT privacy.unrestrict('member', '3');
SELECT privacy.drop_subject('member');
DROP TABLE members;
-- (the split's old shards, dropped later by Citus, still hold the grants)
SET client_min_messages = warning;  -- (Citus's daemon may have cleaned them already)
CALL citus_cleanup_orphaned_resources();
RESET client_min_messages;
REVOKE ALL ON devices, messages, conversations FROM citus_reader;
DROP ROLE citus_reader;
DROP ROLE citus_hostile;
