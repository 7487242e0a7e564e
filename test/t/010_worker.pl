# Retention worker: enforces in every database that has the extension, picks
# up databases and extensions created later, reloads its settings on SIGHUP,
# survives a failing policy, restarts after SIGTERM and never blocks
# DROP DATABASE.  Workers visit a database, run its due policies and leave
# (privacy.max_workers at a time).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $node = PostgreSQL::Test::Cluster->new('worker');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privacy'
privacy.retention_naptime = 1
max_worker_processes = 16
});
$node->append_conf('postgresql.conf', "privacy.root_key_file = '$ENV{PRIVACY_ROOT_KEY_FILE}'")
  if $ENV{PRIVACY_ROOT_KEY_FILE};
$node->start;

my $fill = q{
	CREATE TABLE t (id int, at timestamptz NOT NULL);
	CREATE INDEX ON t (at);
	INSERT INTO t SELECT g, now() - (g % 20) * interval '1 day' FROM generate_series(1, 1000) g;
};
my $expired = "SELECT count(*) FROM t WHERE at < now() - interval '10 days'";
my $none_expired = "SELECT count(*) = 0 FROM t WHERE at < now() - interval '10 days'";

ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'privacy retention launcher'"),
	'the launcher runs');

for my $db ('db1', 'db2')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION privacy; $fill
		SELECT privacy.add_retention('t', 'at', '10 days');");
}
for my $db ('db1', 'db2')
{
	ok($node->poll_query_until($db, $none_expired, 't'), "the worker enforces the policy in $db");
	is($node->safe_psql($db, 'SELECT count(*) FROM t'), '500', "unexpired rows stay in $db");
	ok($node->poll_query_until($db, "SELECT last_checked IS NOT NULL FROM privacy.retention_status", 't'),
		"the worker's heartbeat shows in $db");
	is($node->safe_psql($db, "SELECT sum(rows) FROM privacy.retention_runs"), '500',
		"retention_runs counts the rows of $db");
}

# a database created later, where the extension is installed later
$node->safe_psql('postgres', 'CREATE DATABASE db3');
$node->safe_psql('db3', $fill);
sleep(2.5);
$node->safe_psql('db3', "CREATE EXTENSION privacy; SELECT privacy.add_retention('t', 'at', '10 days');");
ok($node->poll_query_until('db3', $none_expired, 't'), 'a later extension is picked up');

# a failing policy is recorded, retried with back-off, and does not stop others
# (a policy-wide error: 42501; one row's error, such as a plain RAISE, only
# blocks that row, test/sql/57_retention_review.sql)
$node->safe_psql('db1', q{
	CREATE TABLE bad (at timestamptz NOT NULL);
	INSERT INTO bad VALUES ('2000-01-01');
	CREATE FUNCTION bad_trg() RETURNS trigger LANGUAGE plpgsql
	  AS $$ BEGIN RAISE EXCEPTION 'refusing the row of %', OLD.at USING ERRCODE = 'insufficient_privilege'; END $$;
	CREATE TRIGGER bad_del BEFORE DELETE ON bad FOR EACH ROW EXECUTE FUNCTION bad_trg();
	SELECT privacy.add_retention('bad', 'at', '1 day');
	INSERT INTO t SELECT g, '2001-01-01' FROM generate_series(1, 100) g;
});
my $bad_offset = -s $node->logfile;	# the worker's failures come after the set-up
# (the trigger's message quotes the row: only its SQLSTATE is recorded)
ok($node->poll_query_until('db1', "SELECT failures >= 1 AND last_error LIKE '%42501%'
	FROM privacy.retention_status WHERE table_name = 'bad'::regclass", 't'),
	'a failing policy is recorded in the status view');
ok($node->poll_query_until('db1', $none_expired, 't'), 'the other policy still runs');
like($node->safe_psql('db1', "SELECT error FROM privacy.retention_runs r
	JOIN privacy.retention p ON p.id = r.policy WHERE p.table_name = 'bad'::regclass
	ORDER BY r.id DESC LIMIT 1"), qr/^42501: a message of SQLSTATE 42501, hidden/, 'retention_runs holds the error');
is(join("\n", grep { /refusing|2000-01-01/ }
		split(/\n/, $node->safe_psql('db1', "SELECT string_agg(coalesce(error, ''), E'\\n') FROM privacy.retention_runs")
			. "\n" . slurp_file($node->logfile, $bad_offset))),
	'', 'neither the record nor the log quotes the row');
$node->safe_psql('db1', 'DROP TRIGGER bad_del ON bad');
# SIGHUP: a reload applies the settings; disabled, nothing is enforced
$node->append_conf('postgresql.conf', 'privacy.retention_enabled = off');
$node->reload;
sleep(1.5);
$node->safe_psql('db1', "INSERT INTO t SELECT g, '2001-01-01' FROM generate_series(1, 50) g");
sleep(3);
is($node->safe_psql('db1', $expired), '50', 'retention_enabled = off: nothing enforced');
$node->append_conf('postgresql.conf', 'privacy.retention_enabled = on');
$node->reload;
ok($node->poll_query_until('db1', $none_expired, 't'), 'retention_enabled = on again: enforced');
# the failing policy was retried after its back-off and now succeeds
ok($node->poll_query_until('db1', "SELECT count(*) = 0 FROM bad", 't'), 'the failed policy is retried');

# a row locked by another session: the batch waits briefly, then skips it
# (SKIP LOCKED) and a later run deletes it
$node->safe_psql('db1', q{
	CREATE TABLE logs (id int PRIMARY KEY, at timestamptz NOT NULL);
	INSERT INTO logs SELECT g, '2001-01-01' FROM generate_series(1, 10) g;
});
my $bg = $node->background_psql('db1');
$bg->query_safe('BEGIN');
$bg->query_safe('SELECT * FROM logs WHERE id = 1 FOR UPDATE');
# the policy is out of the worker's reach from its first commit (a new policy
# is due at once: the worker could run it before a separate UPDATE)
$node->safe_psql('db1', q{
	BEGIN;
	SELECT privacy.add_retention('logs', 'at', '1 day');
	UPDATE privacy.retention_state SET next_try = 'infinity'
	 WHERE policy = (SELECT id FROM privacy.retention WHERE table_name = 'logs'::regclass);
	COMMIT;
});
my $p_logs = $node->safe_psql('db1', q{SELECT id FROM privacy.retention WHERE table_name = 'logs'::regclass});
# (a completed pass makes the policy due again: the same transaction keeps
# the worker away from the row the next run must find)
is($node->safe_psql('db1', "BEGIN; SELECT privacy.run_retention($p_logs);
	UPDATE privacy.retention_state SET next_try = 'infinity' WHERE policy = $p_logs; COMMIT;"),
	'9', 'a locked row is skipped');
$bg->query_safe('COMMIT');
is($node->safe_psql('db1', "SELECT privacy.run_retention($p_logs)"), '1', 'and deleted by the next run');
$bg->quit;

# SIGTERM stops the launcher promptly; the postmaster restarts it and
# retention goes on
my $pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'privacy retention launcher'");
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'privacy retention launcher' AND pid <> $pid", 't'),
	'a terminated launcher is replaced');
$node->safe_psql('db1', "INSERT INTO t SELECT g, '2001-01-01' FROM generate_series(1, 10) g");
ok($node->poll_query_until('db1', $none_expired, 't'), 'and retention goes on');

# DROP DATABASE while a worker is connected: completes in seconds (a slow
# trigger keeps the worker in the database, batches of 5 rows of 50 ms; the
# worker checks between batches whether a DROP DATABASE waits for it)
$node->append_conf('postgresql.conf', 'privacy.retention_batch_size = 5');
$node->reload;
for my $case (['db2', ''], ['db3', ' WITH (FORCE)'])
{
	my ($db, $opt) = @$case;
	$node->safe_psql($db, q{
		CREATE TABLE slow (at timestamptz NOT NULL);
		INSERT INTO slow SELECT '2000-01-01' FROM generate_series(1, 2000);
		CREATE FUNCTION slow_trg() RETURNS trigger LANGUAGE plpgsql
		  AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN OLD; END $$;
		CREATE TRIGGER slow_del BEFORE DELETE ON slow FOR EACH ROW EXECUTE FUNCTION slow_trg();
		SELECT privacy.add_retention('slow', 'at', '1 day');
	});
	ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_stat_activity
		WHERE backend_type = 'privacy retention worker' AND datname = '$db'", 't'),
		"the worker is connected to $db");
	my $t0 = time();
	my ($ret, $out, $err) = $node->psql('postgres', "DROP DATABASE $db$opt");
	is($ret, 0, "DROP DATABASE$opt succeeds while the worker is connected");
	diag(sprintf('DROP DATABASE %s%s took %.2f s', $db, $opt, time() - $t0));
	note($err) if $ret;
}
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname IN ('db2', 'db3')"),
	'0', 'both databases are gone');

# workers leave once their round is done: none lingers
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity
	WHERE backend_type = 'privacy retention worker'", 't'),
	'no worker stays connected between rounds');

# a timestamp age is read in the database's default zone (here the
# server's, UTC), not in the zone the bootstrap role the worker runs as was
# given (ALTER ROLE ... IN DATABASE ... SET timezone): a row 20 hours old
# stays under a 1-day policy (read at UTC+14 it looked 34 hours old)
$node->safe_psql('postgres', 'CREATE DATABASE dbtz');
$node->safe_psql('dbtz', q{
	CREATE EXTENSION privacy;
	CREATE TABLE w (id int PRIMARY KEY, t timestamp NOT NULL);
	CREATE INDEX ON w (t);
	INSERT INTO w VALUES (1, (now() AT TIME ZONE 'UTC') - interval '20 hours'),
		(2, (now() AT TIME ZONE 'UTC') - interval '30 hours');
	ALTER ROLE CURRENT_USER IN DATABASE dbtz SET timezone = 'Etc/GMT-14';
	SELECT privacy.add_retention('w', 't', '1 day');
});
ok($node->poll_query_until('dbtz', 'SELECT count(*) = 0 FROM w WHERE id = 2', 't'),
	'the worker deletes the row older than a day');
sleep(2.5);		# two more passes
is($node->safe_psql('dbtz', 'SELECT string_agg(id::text, \',\') FROM w'), '1',
	"the worker reads the age in the database's zone, not its role's");
$node->safe_psql('postgres', 'ALTER ROLE CURRENT_USER IN DATABASE dbtz RESET timezone');

# a partition detached while the pass is in it is a table of its own: the
# pass moves on and leaves its rows (it went on deleting them)
$node->safe_psql('postgres', 'ALTER SYSTEM SET privacy.retention_batch_size = 5');
$node->reload;
$node->safe_psql('postgres', 'CREATE DATABASE dbpart');
$node->safe_psql('dbpart', q{
	CREATE EXTENSION privacy;
	CREATE TABLE qt (id int, at timestamptz, k int) PARTITION BY LIST (k);
	CREATE TABLE qt1 PARTITION OF qt FOR VALUES IN (1);
	CREATE TABLE qt2 PARTITION OF qt FOR VALUES IN (2);
	CREATE INDEX ON qt (at);
	CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN old; END $$;
	CREATE TRIGGER slow BEFORE DELETE ON qt FOR EACH ROW EXECUTE FUNCTION slow();
	INSERT INTO qt SELECT g, now() - interval '10 days' + g * interval '1 second', CASE WHEN g > 30 THEN 2 ELSE 1 END
	  FROM generate_series(1, 90) g;
	SELECT privacy.add_retention('qt', 'at', '1 day');
});
ok($node->poll_query_until('dbpart', "SELECT c.relname FROM privacy.retention_state s
	JOIN pg_class c ON c.oid = s.pos_rel", 'qt2'), 'the pass reaches the second partition');
$node->safe_psql('dbpart', 'ALTER TABLE qt DETACH PARTITION qt2');
my $left = $node->safe_psql('dbpart', 'SELECT count(*) FROM qt2');
ok($left > 0, "rows are left in the detached partition ($left)");
ok($node->poll_query_until('dbpart', 'SELECT count(*) = 0 FROM qt1', 't'), 'the first partition is done');
sleep(1.5);
is($node->safe_psql('dbpart', 'SELECT count(*) FROM qt2'), $left,
	'no row of the detached partition is deleted after the DETACH');
# a pass that fails after some batches committed: its rows are in the
# audit log all the same (they were in retention_runs only)
$node->safe_psql('dbpart', q{
	CREATE TABLE m (id int PRIMARY KEY, at timestamptz);
	CREATE INDEX ON m (at);
	CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS
	  $$ BEGIN IF old.id = 50 THEN RAISE EXCEPTION 'boom' USING ERRCODE = 'insufficient_privilege'; END IF; RETURN old; END $$;
	CREATE TRIGGER boom BEFORE DELETE ON m FOR EACH ROW EXECUTE FUNCTION boom();
	INSERT INTO m SELECT g, now() - interval '10 days' + g * interval '1 second' FROM generate_series(1, 100) g;
	SELECT privacy.add_retention('m', 'at', '1 day');
});
ok($node->poll_query_until('dbpart', "SELECT count(*) > 0 FROM privacy.retention_runs r
	JOIN privacy.retention p ON p.id = r.policy WHERE p.table_name = 'm'::regclass AND r.error IS NOT NULL", 't'),
	'the failing pass is recorded');
my $deleted = $node->safe_psql('dbpart', 'SELECT 100 - count(*) FROM m');
ok($deleted > 0, "batches before the failure committed ($deleted rows)");
is($node->safe_psql('dbpart', q{SELECT (detail->>'rows')::int FROM privacy.audit_log
	WHERE action = 'run_retention' AND detail->>'ended' = 'failed' ORDER BY seq LIMIT 1}), $deleted,
	'the failed run has an audit entry with its rows');

# a table's trigger that waits fails its policy after
# privacy.retention_batch_timeout; the worker goes on with the others
$node->safe_psql('postgres', "ALTER SYSTEM SET privacy.retention_batch_timeout = '1s'");
$node->reload;
$node->safe_psql('postgres', 'CREATE DATABASE dbhang');
$node->safe_psql('dbhang', q{
	CREATE EXTENSION privacy;
	CREATE TABLE hang (id int PRIMARY KEY, at timestamptz);
	CREATE FUNCTION hang() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(600); RETURN old; END $$;
	CREATE TRIGGER hang BEFORE DELETE ON hang FOR EACH ROW EXECUTE FUNCTION hang();
	INSERT INTO hang VALUES (1, now() - interval '10 days');
	SELECT privacy.add_retention('hang', 'at', '1 day');
	CREATE TABLE fine (id int PRIMARY KEY, at timestamptz);
	INSERT INTO fine VALUES (1, now() - interval '10 days');
	SELECT privacy.add_retention('fine', 'at', '1 day');
});
ok($node->poll_query_until('dbhang', 'SELECT count(*) = 0 FROM fine', 't'),
	'the policy after a waiting one runs');
like($node->safe_psql('dbhang', q{SELECT error FROM privacy.retention_runs r JOIN privacy.retention p
	ON p.id = r.policy WHERE p.table_name = 'hang'::regclass AND r.error IS NOT NULL LIMIT 1}),
	qr/^57014/, 'the waiting batch failed on the timeout');
# dropped while the 1 s timeout still bounds a retry's wait
$node->safe_psql('dbhang', 'DROP TABLE hang');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET privacy.retention_batch_timeout');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET privacy.retention_batch_size');
$node->reload;

$node->stop;
done_testing();
