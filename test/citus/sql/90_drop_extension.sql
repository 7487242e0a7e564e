-- DROP EXTENSION privacy on a cluster where protect() replicated the
-- restricted keys: their shards go too, on every node (Citus alone would
-- leave them, and the keys, behind), and nothing of the extension's is left
-- in Citus's catalog.  Runs last.
\set VERBOSITY terse
CREATE TABLE owners (owner_id bigint PRIMARY KEY);
CREATE TABLE pets (owner_id bigint NOT NULL, pet_id bigint NOT NULL, PRIMARY KEY (owner_id, pet_id),
	FOREIGN KEY (owner_id) REFERENCES owners);
SELECT create_distributed_table('owners', 'owner_id', shard_count => 4);
SELECT create_distributed_table('pets', 'owner_id', colocate_with => 'owners');
INSERT INTO owners SELECT generate_series(1, 10);
INSERT INTO pets SELECT o, 1 FROM generate_series(1, 10) o;
SELECT privacy.define_subject('owner', 'owners');
SELECT privacy.restrict('owner', '5', 'disputed');
SELECT privacy.protect('pets');
SELECT count(*) AS replicated FROM pg_dist_partition WHERE logicalrelid::text LIKE 'privacy.%';
SELECT count(*) AS placements, count(*) FILTER (WHERE success) AS present
  FROM run_command_on_placements('privacy.citus_restrictions', $$SELECT count(*) FROM %s$$);
SELECT pg_catalog.array_agg(shardid ORDER BY shardid)::text AS shards FROM pg_dist_shard
 WHERE logicalrelid::text LIKE 'privacy.%' \gset
DROP EXTENSION privacy CASCADE;
SELECT count(*) AS citus_metadata FROM pg_dist_partition WHERE logicalrelid::text LIKE 'privacy.%';
SELECT count(*) AS shards_left FROM pg_dist_shard WHERE shardid = ANY (:'shards'::bigint[]);
SELECT result AS placements_left FROM run_command_on_all_nodes(
       format($$SELECT count(*) FROM pg_class WHERE relname ~ '^citus_(restrictions|protected)_(%s)$'$$,
              array_to_string(:'shards'::bigint[], '|')));
-- (as on one node, the table keeps its row security without the policy:
-- run unprotect() before DROP EXTENSION)
SELECT relrowsecurity, (SELECT count(*) FROM pg_policy WHERE polrelid = 'pets'::regclass) AS policies
  FROM pg_class WHERE oid = 'pets'::regclass;
DROP TABLE pets, owners;
