# The worker budget (issue 11 item 8): 20 databases with the extension and
# a few without, privacy.max_workers = 2.  Every due policy runs within two
# naptimes of being due, never more than two retention workers run at once,
# and background worker slots are never exhausted.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $naptime = 15;
my $node = PostgreSQL::Test::Cluster->new('budget');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privacy'
privacy.retention_naptime = $naptime
privacy.max_workers = 2
max_worker_processes = 6
});
$node->start;

my @dbs = map { "db$_" } 1 .. 20;
for my $db (@dbs)
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
		CREATE EXTENSION privacy;
		CREATE TABLE t (id int, at timestamptz NOT NULL);
		CREATE INDEX ON t (at);
		CREATE TABLE mark (at timestamptz);
		SELECT privacy.add_retention('t', 'at', '1 day');
	});
}
$node->safe_psql('postgres', "CREATE DATABASE plain$_") for 1 .. 3;
sleep($naptime);

# the same moment everywhere: expired rows become due
for my $db (@dbs)
{
	$node->safe_psql($db, q{INSERT INTO mark VALUES (clock_timestamp());
		INSERT INTO t SELECT g, now() - interval '2 days' FROM generate_series(1, 100) g});
}
my $max_seen = 0;
# watch the workers (one connection at a time, not to load the machine)
my $until = time() + 2 * $naptime + 2;
while (time() < $until)
{
	my $n = $node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'privacy retention worker'");
	$max_seen = $n if $n > $max_seen;
	sleep(0.5);
}
my $left = 0;
for my $db (@dbs)
{
	$left++ if $node->safe_psql($db, 'SELECT count(*) > 0 FROM t') eq 't';
}
is($left, 0, 'every database was served');
ok($max_seen <= 2, "at most privacy.max_workers workers ran at once (saw $max_seen)");
for my $db (@dbs)
{
	my $late = $node->safe_psql($db, q{SELECT COALESCE(extract(epoch FROM max(r.finished) - (SELECT at FROM mark)), 1e9)
		FROM privacy.retention_runs r WHERE r.rows > 0});
	ok($late <= 2 * $naptime, "$db: the due policy ran within two naptimes (" . sprintf('%.1f', $late) . ' s)');
}
ok(!$node->log_contains('could not start a retention worker'), 'never out of worker slots');
ok(!$node->log_contains('out of background worker slots'), 'max_worker_processes never exhausted');

$node->stop;
done_testing();
