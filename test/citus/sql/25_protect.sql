-- protect() on Citus fails closed: on a distributed or reference table it
-- refuses with 0A000 before anything changes, on the coordinator and on
-- every placement.  The three reasons, each shown here on Citus itself so
-- that this file fails (and the refusal is revisited) when one goes away:
--  1. Citus re-creates a RESTRICTIVE policy as PERMISSIVE on every shard
--     placement, and the coordinator does not filter rows of a distributed
--     table (the shards do): the restriction would be OR-ed with any
--     permissive policy and hide nothing;
--  2. the restrictions are recorded on the coordinator only: a worker's
--     privacy.restrictions is empty, so the policy function would find no
--     restricted subject where the rows are read;
--  3. on a placement the row's tableoid is the shard, not the table the
--     policy names.
\getenv w1 CITUS_W1
\getenv coord PGPORT
\set VERBOSITY terse
SELECT privacy.restrict('customer', '11', 'disputed');

-- refused on a distributed and on a reference table, forced or not
SELECT privacy.protect('devices');
SELECT privacy.protect('devices', true);
SELECT privacy.protect('tenants');
-- nothing changed: no row security on the coordinator, no policy on any
-- placement, and the restricted customer's rows are still the owner's
SELECT relrowsecurity, relforcerowsecurity,
       (SELECT count(*) FROM pg_policy WHERE polrelid = 'devices'::regclass) AS policies
  FROM pg_class WHERE oid = 'devices'::regclass;
SELECT DISTINCT result AS placement_policies
  FROM run_command_on_placements('devices', $$SELECT count(*) FROM pg_policy WHERE polrelid = '%s'::regclass$$);
SELECT count(*) AS devices11 FROM devices WHERE customer_id = 11;
SELECT count(*) AS audited FROM privacy.audit_log WHERE action = 'protect';

-- reason 1: RESTRICTIVE on the coordinator, PERMISSIVE on the placements,
-- and an ordinary reader sees the rows the restrictive policy should hide
CREATE ROLE citus_probe_reader LOGIN;
CREATE TABLE rls_probe (k bigint PRIMARY KEY, hidden boolean NOT NULL);
SELECT create_distributed_table('rls_probe', 'k', shard_count => 4);
INSERT INTO rls_probe SELECT k, k % 2 = 0 FROM generate_series(1, 20) k;
GRANT SELECT ON rls_probe TO citus_probe_reader;
ALTER TABLE rls_probe ENABLE ROW LEVEL SECURITY;
CREATE POLICY allow_all ON rls_probe AS PERMISSIVE FOR ALL USING (true);
CREATE POLICY hide ON rls_probe AS RESTRICTIVE FOR SELECT USING (NOT hidden);
SELECT polname, polpermissive FROM pg_policy WHERE polrelid = 'rls_probe'::regclass ORDER BY 1;
SELECT DISTINCT result AS placement_hide_permissive
  FROM run_command_on_placements('rls_probe',
       $$SELECT polpermissive FROM pg_policy WHERE polrelid = '%s'::regclass AND polname = 'hide'$$);
SET ROLE citus_probe_reader;
SELECT count(*) AS visible_of_20 FROM rls_probe;
RESET ROLE;
DROP TABLE rls_probe;
DROP ROLE citus_probe_reader;

-- reason 2: the worker does not know who is restricted
SELECT count(*) AS restrictions_coordinator FROM privacy.restrictions WHERE subject = 'customer';
\c citus_regress - - :w1
SELECT count(*) AS restrictions_worker FROM privacy.restrictions;
\c citus_regress - - :coord

-- reason 3: a placement's rows come from the shard relation
SELECT DISTINCT result ~ '^(public\.)?devices_[0-9]+$' AS rows_of_a_shard
  FROM run_command_on_placements('devices', $$SELECT DISTINCT tableoid::regclass::text FROM %s$$);

-- unprotect() of a table protect() refused: nothing to remove
SELECT privacy.unprotect('devices');

-- a table protected while local to the coordinator cannot be distributed
-- afterwards (the policy names its table, which the shard does not know):
-- it stays local and protected; after unprotect() it distributes, without
-- a policy on any placement, and protect() then refuses
CREATE ROLE citus_probe_reader LOGIN;
CREATE TABLE members (member_id bigint PRIMARY KEY, name text);
INSERT INTO members SELECT m, 'member ' || m FROM generate_series(1, 10) m;
GRANT SELECT ON members TO citus_probe_reader;
SELECT privacy.define_subject('member', 'members');
SELECT privacy.restrict('member', '3', 'disputed');
SELECT privacy.protect('members');
SET ROLE citus_probe_reader;
SELECT count(*) AS members_visible_local FROM members;
RESET ROLE;
SELECT create_distributed_table('members', 'member_id', shard_count => 4);
SELECT count(*) AS citus_tables FROM pg_dist_partition WHERE logicalrelid = 'members'::regclass;
SET ROLE citus_probe_reader;
SELECT count(*) AS members_visible_still_local FROM members;
RESET ROLE;
SELECT privacy.unprotect('members');
SELECT relrowsecurity, (SELECT count(*) FROM pg_policy WHERE polrelid = 'members'::regclass) AS policies
  FROM pg_class WHERE oid = 'members'::regclass;
SELECT create_distributed_table('members', 'member_id', shard_count => 4);
SELECT DISTINCT result AS placement_policies
  FROM run_command_on_placements('members', $$SELECT count(*) FROM pg_policy WHERE polrelid = '%s'::regclass$$);
SELECT privacy.protect('members');
SELECT privacy.unrestrict('member', '3');
SELECT privacy.drop_subject('member');
DROP TABLE members;
DROP ROLE citus_probe_reader;

SELECT privacy.unrestrict('customer', '11');
SELECT count(*) AS restrictions FROM privacy.restrictions;
