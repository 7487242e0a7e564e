# Retention worker crash safety: 20 x SIGKILL of the worker in the middle of a
# backlog (restart_after_crash = on).  No unexpired row is lost, no batch is
# counted twice (the rows counted in retention_runs equal the rows deleted),
# and the expired rows left are gone within two naptimes after the restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $naptime = 2;
my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privacy'
privacy.retention_naptime = $naptime
privacy.retention_batch_size = 100
restart_after_crash = on
max_worker_processes = 16
});
$node->append_conf('postgresql.conf', "privacy.root_key_file = '$ENV{PRIVACY_ROOT_KEY_FILE}'")
  if $ENV{PRIVACY_ROOT_KEY_FILE};
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION privacy;
	CREATE TABLE t (id bigserial PRIMARY KEY, at timestamptz NOT NULL, keep boolean NOT NULL);
	CREATE INDEX ON t (at);
	SELECT privacy.add_retention('t', 'at', '30 days');
});

# A statement trigger slows each batch down (20 ms) while we kill, so that the
# kills land in the middle of a pass; it is switched off for the final check.
$node->safe_psql('postgres', q{
	CREATE TABLE slow (on_ boolean);
	INSERT INTO slow VALUES (true);
	CREATE FUNCTION slow_trg() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN IF (SELECT on_ FROM public.slow) THEN PERFORM pg_sleep(0.02); END IF; RETURN NULL; END $$;
	CREATE TRIGGER slow_del AFTER DELETE ON t FOR EACH STATEMENT EXECUTE FUNCTION slow_trg();
});

my $add = q{INSERT INTO t (at, keep)
	SELECT CASE WHEN g % 2 = 0 THEN now() - interval '1 year' - g * interval '1 second'
				ELSE now() - g * interval '1 second' END, g % 2 = 1
	  FROM generate_series(1, 2000) g};
my $in_batch = q{SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'privacy retention worker' AND datname = 'postgres'
	  AND state = 'active' AND query LIKE 'retention policy % batch'};
my $kept_expected = 0;
my $expired_added = 0;
my $kills = 0;
# (a worker leaves its database after its round: a kill may miss one that
# just finished, so try until 20 kills landed)
for my $i (1 .. 60)
{
	last if $kills >= 20;
	my $pid = '';
	for my $try (1 .. 1000)
	{
		if ($try % 150 == 1)
		{
			# (more) backlog; the worker takes it at its next round
			$node->safe_psql('postgres', $add);
			$kept_expected += 1000;
			$expired_added += 1000;
		}
		$pid = $node->safe_psql('postgres', $in_batch);
		last if $pid ne '';
		sleep(0.02);
	}
	die 'the worker never ran a batch' if $pid eq '';
	sleep(rand(0.1));
	# the postmaster notices the crash, reinitialises and accepts connections
	# again: read in its log (a connection attempt right after the kill can
	# still reach the old server, and psql dies while it is in recovery)
	my $offset = -s $node->logfile;
	next unless kill('KILL', $pid);
	# the worker may have finished its round between the query and the
	# signal (kill() still succeeds on a process that is exiting): only a
	# kill the postmaster reports as one crashed the server
	my $crashed = 0;
	for my $wait (1 .. 200)
	{
		my $log = slurp_file($node->logfile, $offset);
		if ($log =~ /\(PID $pid\) was terminated by signal 9/)
		{
			$crashed = 1;
			last;
		}
		last if !kill(0, $pid) && $wait > 20;
		sleep(0.05);
	}
	next unless $crashed;
	$kills++;
	$node->wait_for_log(
		qr/all server processes terminated; reinitializing.*database system is ready to accept connections/s,
		$offset);
}
$node->safe_psql('postgres', 'UPDATE slow SET on_ = false');
is($kills, 20, 'the worker was killed 20 times');

my $t0 = time();
$node->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'privacy retention worker'", 't');
sleep(2 * $naptime);
is($node->safe_psql('postgres', "SELECT count(*) FROM t WHERE NOT keep"), '0',
	'no expired row left two naptimes after the restart');
diag(sprintf('expired rows checked %.1f s after the last restart', time() - $t0));
is($node->safe_psql('postgres', "SELECT count(*) FROM t WHERE keep"), "$kept_expected",
	'no unexpired row lost');
is($node->safe_psql('postgres', "SELECT sum(rows) FROM privacy.retention_runs"), "$expired_added",
	'rows counted in retention_runs = rows deleted (nothing applied twice)');
my $interrupted = $node->safe_psql('postgres',
	"SELECT count(*) FROM privacy.retention_runs WHERE error = 'interrupted'");
ok($interrupted > 0, "runs interrupted by SIGKILL mid-pass were resumed ($interrupted)");
# every row is in the audit log: finished runs and the interrupted ones
# (their committed batches) alike
is($node->safe_psql('postgres', "SELECT sum((detail->>'rows')::int) FROM privacy.audit_log
	WHERE action = 'run_retention'"), "$expired_added",
	'the audit log accounts for every deleted row, interrupted runs included');
ok($node->log_contains('was terminated by signal 9'), 'the kills happened');

$node->stop;
done_testing();
