-- link() on a distributed table colocated with the root, linked by its
-- distribution column (a log distributed by the subject's key): the lock
-- trigger runs on every shard, where the rows are written; erase takes the
-- subject's lock exclusively on the worker that holds the key's shard
-- group, inside the distributed transaction, even without a root row;
-- unlink() removes the trigger everywhere.  Other Citus tables keep the
-- 0A000 refusal.  Rights answer as on the single-node twin.
\set VERBOSITY terse

-- the single-node twin
\c single_regress
CREATE TABLE accounts (account_id bigint PRIMARY KEY, email text);
CREATE TABLE events (account_id bigint, at int, what text);
CREATE INDEX ON events (account_id);
INSERT INTO accounts SELECT a, 'a' || a || '@example.org' FROM generate_series(1, 20) a;
-- account 99 has events but no account row
INSERT INTO events SELECT a, e, 'event ' || e FROM generate_series(1, 20) a, generate_series(1, 4) e;
INSERT INTO events SELECT 99, e, 'orphan ' || e FROM generate_series(1, 3) e;
SELECT privacy.define_subject('account', 'accounts');
SELECT privacy.link('account', 'events', 'account_id');
SELECT privacy.classify('accounts', 'email', 'user.contact.email');
SELECT privacy.classify('events', 'what', 'user.behavior');
SELECT norm(privacy.access('account', '7')->'data') AS access7 \gset s_
SELECT norm(privacy.export('account', '7')->'tables') AS export7 \gset s_
SELECT receipt(privacy.erase('account', '7')) AS erase7 \gset s_
SELECT receipt(privacy.erase('account', '99')) AS erase99 \gset s_
SELECT (SELECT count(*) FROM accounts) AS accounts, (SELECT count(*) FROM events) AS events \gset s_

\c citus_regress
CREATE TABLE accounts (account_id bigint PRIMARY KEY, email text);
CREATE TABLE events (account_id bigint, at int, what text);
CREATE INDEX ON events (account_id);
SELECT create_distributed_table('accounts', 'account_id', shard_count => 4, colocate_with => 'none');
SELECT create_distributed_table('events', 'account_id', colocate_with => 'accounts');
INSERT INTO accounts SELECT a, 'a' || a || '@example.org' FROM generate_series(1, 20) a;
INSERT INTO events SELECT a, e, 'event ' || e FROM generate_series(1, 20) a, generate_series(1, 4) e;
INSERT INTO events SELECT 99, e, 'orphan ' || e FROM generate_series(1, 3) e;
SELECT privacy.define_subject('account', 'accounts');
-- linking needs no Citus setting from the caller
SHOW citus.enable_unsafe_triggers;
SELECT privacy.link('account', 'events', 'account_id');
SHOW citus.enable_unsafe_triggers;
SELECT privacy.classify('accounts', 'email', 'user.contact.email');
SELECT privacy.classify('events', 'what', 'user.behavior');
SELECT table_name, via, routing FROM privacy.subject_tables WHERE subject = 'account' ORDER BY table_name::text;

-- the lock trigger: on the distributed table, on every shard, and on the
-- workers' copies of the table
SELECT count(*) AS coordinator FROM pg_trigger
 WHERE tgrelid = 'events'::regclass AND tgfoid = 'privacy._link_lock()'::regprocedure;
SELECT count(*) AS placements, count(*) FILTER (WHERE success AND result = '1') AS with_trigger
  FROM run_command_on_placements('events',
       $$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgfoid = 'privacy._link_lock()'::regprocedure$$);
SELECT count(*) AS workers, count(*) FILTER (WHERE success AND result = '1') AS with_trigger
  FROM run_command_on_workers(
       $$SELECT count(*) FROM pg_trigger WHERE tgrelid = 'events'::regclass AND tgfoid = 'privacy._link_lock()'::regprocedure$$);

-- access, export, erase: the linked rows, as on one node (account 99: no
-- account row, its events go too)
SELECT norm(privacy.access('account', '7')->'data') = :'s_access7' AS same_access;
SELECT jsonb_array_length(privacy.access('account', '7')->'data'->'public.events') AS events7;
SELECT norm(privacy.export('account', '7')->'tables') = :'s_export7' AS same_export;
-- (the key is never in the text sent to a worker: the commands that
-- contain it are logged here, none)
SET citus.log_remote_commands = on;
SET citus.grep_remote_commands = '%''7''%';
SELECT norm(privacy.export('account', '7')->'tables') = :'s_export7' AS same_export_again;
SELECT receipt(privacy.erase('account', '7')) = :'s_erase7'::jsonb AS same_erase7;
RESET citus.log_remote_commands;
RESET citus.grep_remote_commands;
SELECT receipt(privacy.erase('account', '99')) = :'s_erase99'::jsonb AS same_erase99;
SELECT (SELECT count(*) FROM accounts) = :s_accounts AS accounts, (SELECT count(*) FROM events) = :s_events AS events,
       (SELECT count(*) FROM events WHERE account_id IN (7, 99)) AS left_7_99;

-- where the locks are.  The lock of link() is (hashtext(subject type),
-- privacy._link_key_hash(key)); the worker that holds the key's shard group is "owner".
CREATE FUNCTION link_lock_query(subject text, k text, lockmode text) RETURNS text LANGUAGE sql AS $$
  SELECT format('SELECT count(*) FROM pg_locks WHERE locktype = %L AND mode = %L AND objsubid = 2'
                ' AND classid = (hashtext(%L)::bigint & 4294967295)::oid AND objid = (privacy._link_key_hash(%L::bigint)::bigint & 4294967295)::oid',
                'advisory', lockmode, subject, k) $$;
SELECT n.nodeport AS owner8 FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
 WHERE p.shardid = get_shard_id_for_distribution_column('accounts', 8) \gset
SELECT n.nodeport AS owner50 FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
 WHERE p.shardid = get_shard_id_for_distribution_column('accounts', 50) \gset
SELECT link_lock_query('account', '8', 'ExclusiveLock') AS x8, link_lock_query('account', '50', 'ExclusiveLock') AS x50,
       link_lock_query('account', '9', 'ShareLock') AS s9 \gset q_

-- erase holds the exclusive lock on the owner only, until its commit; a
-- writer of account 8 on the owner (the trigger's shared lock, tried from
-- another connection) cannot pass
BEGIN;
SELECT privacy.erase('account', '8')->'tables'->'public.events' AS erase8;
SELECT nodeport = :owner8 AS owner, result AS erase_locks FROM run_command_on_workers(:'q_x8') ORDER BY 1;
-- (no lock of link()'s kind at all on the coordinator: its keys are keyed
-- per node, and _link_key_hash answers on the workers only, test 99d)
SELECT count(*) AS coordinator_locks FROM pg_locks
 WHERE locktype = 'advisory' AND mode = 'ExclusiveLock' AND objsubid = 2
   AND classid = (hashtext('account')::bigint & 4294967295)::oid;
SELECT nodeport = :owner8 AS owner, result AS writer_may_pass
  FROM run_command_on_workers($$SELECT pg_try_advisory_xact_lock_shared(hashtext('account'), privacy._link_key_hash(8::bigint))$$) ORDER BY 1;
COMMIT;
SELECT result AS after_commit FROM run_command_on_workers(:'q_x8') ORDER BY nodeport;

-- the same without a root row (account 50 has neither account nor events)
BEGIN;
SELECT privacy.erase('account', '50')->'tables'->'public.accounts' AS erase50;
SELECT nodeport = :owner50 AS owner, result AS erase_locks FROM run_command_on_workers(:'q_x50') ORDER BY 1;
COMMIT;

-- a write of a linked row takes the shared lock on the owner, where erase
-- cannot take it exclusively until the write ends
SELECT n.nodeport AS owner9 FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
 WHERE p.shardid = get_shard_id_for_distribution_column('accounts', 9) \gset
BEGIN;
INSERT INTO events VALUES (9, 100, 'new event');
SELECT nodeport = :owner9 AS owner, result AS writer_locks FROM run_command_on_workers(:'q_s9') ORDER BY 1;
SELECT nodeport = :owner9 AS owner, result AS erase_may_pass
  FROM run_command_on_workers($$SELECT pg_try_advisory_xact_lock(hashtext('account'), privacy._link_key_hash(9::bigint))$$) ORDER BY 1;
ROLLBACK;

-- shard moves and splits copy the trigger to the new placements (Citus
-- asks for no setting there); erase follows the key to its new worker
\getenv host PGHOST
SET citus.local_hostname = :'host';
SELECT citus_move_shard_placement(get_shard_id_for_distribution_column('accounts', 8), n.nodename, n.nodeport,
       m.nodename, m.nodeport, shard_transfer_mode => 'block_writes') AS moved
  FROM pg_dist_node n, pg_dist_node m
 WHERE n.nodeport = :owner8 AND m.groupid NOT IN (0, n.groupid);
SELECT citus_split_shard_by_split_points(s.shardid,
       ARRAY[((s.shardminvalue::bigint + s.shardmaxvalue::bigint) / 2)::text],
       ARRAY[n.nodeid, n.nodeid], shard_transfer_mode => 'block_writes') AS split
  FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
 WHERE s.shardid = get_shard_id_for_distribution_column('accounts', 8);
RESET citus.local_hostname;
SELECT count(*) AS placements, count(*) FILTER (WHERE success AND result = '1') AS with_trigger
  FROM run_command_on_placements('events',
       $$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgfoid = 'privacy._link_lock()'::regprocedure$$);
SELECT n.nodeport <> :owner8 AS moved, n.nodeport AS owner8 FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
 WHERE p.shardid = get_shard_id_for_distribution_column('accounts', 8) \gset
SELECT :'moved' AS moved;
INSERT INTO events VALUES (8, 1, 'after the move');
BEGIN;
SELECT privacy.erase('account', '8')->'tables'->'public.events' AS erase8;
SELECT nodeport = :owner8 AS owner, result AS erase_locks FROM run_command_on_workers(:'q_x8') ORDER BY 1;
COMMIT;

-- the table conversions: Citus re-creates the triggers of a converted
-- table itself and asks for citus.enable_unsafe_triggers (the caller's);
-- the link follows the table, with its trigger on the new shards
SELECT alter_distributed_table('accounts', shard_count => 2, cascade_to_colocated => true);
BEGIN;
SET LOCAL citus.enable_unsafe_triggers = on;
SELECT alter_distributed_table('accounts', shard_count => 2, cascade_to_colocated => true);
COMMIT;
SELECT table_name, via, routing FROM privacy.subject_tables WHERE subject = 'account' ORDER BY table_name::text;
SELECT count(*) AS placements, count(*) FILTER (WHERE success AND result = '1') AS with_trigger
  FROM run_command_on_placements('events',
       $$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgfoid = 'privacy._link_lock()'::regprocedure$$);
SELECT receipt(privacy.erase('account', '10'))->'tables'->'public.events' AS erase10;
-- a conversion that takes the linked table out of the root's colocation
-- group fails, closed: the link and the table stay as they were
BEGIN;
SET LOCAL citus.enable_unsafe_triggers = on;
SELECT alter_distributed_table('events', shard_count => 3, cascade_to_colocated => false);
COMMIT;
SELECT count(*) AS links FROM privacy.links WHERE subject = 'account';
SELECT shard_count FROM citus_tables WHERE table_name = 'events'::regclass;

-- unlink() removes the trigger from the distributed table, every shard and
-- the workers' copies
SELECT privacy.unlink('account', 'events', 'account_id');
SHOW citus.enable_unsafe_triggers;
SELECT count(*) AS coordinator FROM pg_trigger
 WHERE tgrelid = 'events'::regclass AND tgfoid = 'privacy._link_lock()'::regprocedure;
SELECT count(*) AS placements, count(*) FILTER (WHERE success AND result = '0') AS without_trigger
  FROM run_command_on_placements('events',
       $$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgfoid = 'privacy._link_lock()'::regprocedure$$);
SELECT count(*) AS workers, count(*) FILTER (WHERE success AND result = '0') AS without_trigger
  FROM run_command_on_workers(
       $$SELECT count(*) FROM pg_trigger WHERE tgrelid = 'events'::regclass AND tgfoid = 'privacy._link_lock()'::regprocedure$$);
SELECT table_name FROM privacy.subject_tables WHERE subject = 'account' ORDER BY table_name::text;

-- a polymorphic link (Rails' commentable_type/_id) on a colocated table:
-- only the rows of the subject's type are its, and the lock trigger, with
-- the type, is on every placement
CREATE TABLE comments (account_id bigint, commentable_type text, body text);
SELECT create_distributed_table('comments', 'account_id', colocate_with => 'accounts');
INSERT INTO comments VALUES (12, 'Account', 'mine'), (12, 'Team', 'team 12'), (13, 'Account', 'other');
SELECT privacy.link('account', 'comments', 'account_id', 'commentable_type', 'Account');
SELECT count(*) AS placements, count(*) FILTER (WHERE success AND result = '4') AS typed_trigger
  FROM run_command_on_placements('comments',
       $$SELECT tgnargs FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgfoid = 'privacy._link_lock()'::regprocedure$$);
SELECT path, routing FROM privacy.subject_tables WHERE subject = 'account' AND table_name = 'comments'::regclass;
SELECT jsonb_array_length(privacy.access('account', '12')->'data'->'public.comments') AS comments12;
SELECT receipt(privacy.erase('account', '12'))->'tables'->'public.comments' AS erase12;
SELECT commentable_type, body FROM comments ORDER BY 1, 2;
SELECT privacy.unlink('account', 'comments', 'account_id');

-- invalid input: tables where erase's lock would not reach the rows
\set VERBOSITY default
CREATE TABLE visits (visit_id bigint, account_id bigint);
SELECT create_distributed_table('visits', 'visit_id', shard_count => 3);
SELECT privacy.link('account', 'visits', 'account_id');
CREATE TABLE notes (account_id bigint, note text);
SELECT create_distributed_table('notes', 'account_id', colocate_with => 'none', shard_count => 3);
SELECT privacy.link('account', 'notes', 'account_id');
CREATE TABLE tags (account_id bigint, tag text);
SELECT create_reference_table('tags');
SELECT privacy.link('account', 'tags', 'account_id');
-- colocated, but linked by another column than the distribution column
CREATE TABLE transfers (account_id bigint, payee_id bigint);
SELECT create_distributed_table('transfers', 'account_id', colocate_with => 'accounts');
SELECT privacy.link('account', 'transfers', 'payee_id');
\set VERBOSITY terse
SELECT count(*) AS links FROM privacy.links WHERE subject = 'account';
SELECT count(*) AS triggers FROM pg_trigger WHERE tgfoid = 'privacy._link_lock()'::regprocedure
   AND tgrelid IN ('visits'::regclass, 'notes'::regclass, 'tags'::regclass, 'transfers'::regclass);
-- a linked local table distributed later outside the colocation group:
-- erase refuses before anything changes
CREATE TABLE clicks (account_id bigint, at int);
INSERT INTO clicks VALUES (11, 1);
SELECT privacy.link('account', 'clicks', 'account_id');
BEGIN;
SET LOCAL citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('clicks', 'at', colocate_with => 'none', shard_count => 3);
COMMIT;
SELECT privacy.erase('account', '11');
SELECT (SELECT count(*) FROM accounts WHERE account_id = 11) AS account11,
       (SELECT count(*) FROM clicks WHERE account_id = 11) AS clicks11;

-- cleanup
SELECT privacy.drop_subject('account');
DROP FUNCTION link_lock_query(text, text, text);
DROP TABLE accounts, events, visits, notes, tags, transfers, clicks, comments;
\c single_regress
SELECT privacy.drop_subject('account');
DROP TABLE accounts, events;
