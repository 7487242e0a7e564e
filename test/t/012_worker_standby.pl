# Retention on a primary with a streaming standby: no worker on the standby,
# the deletions replicate, and the standby starts enforcing once promoted.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privacy'
privacy.retention_naptime = 1
max_worker_processes = 16
});
$primary->append_conf('postgresql.conf', "privacy.root_key_file = '$ENV{PRIVACY_ROOT_KEY_FILE}'")
  if $ENV{PRIVACY_ROOT_KEY_FILE};
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION privacy;
	CREATE TABLE t (id int, at timestamptz NOT NULL);
	CREATE INDEX ON t (at);
	INSERT INTO t SELECT g, now() - (g % 20) * interval '1 day' FROM generate_series(1, 1000) g;
});
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

my $workers = "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'privacy retention%'";
my $expired = "SELECT count(*) FROM t WHERE at < now() - interval '10 days'";
my $none_expired = "SELECT count(*) = 0 FROM t WHERE at < now() - interval '10 days'";

$primary->safe_psql('postgres', "SELECT privacy.add_retention('t', 'at', '10 days')");
ok($primary->poll_query_until('postgres', $none_expired, 't'), 'the primary enforces');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $expired), '0', 'the deletions replicate');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM t'), '500', 'the standby keeps the rest');
sleep(2);
is($standby->safe_psql('postgres', $workers), '0', 'no launcher or worker on the standby');
# (the primary's worker goes on recording runs: compare what the standby has
# with the primary's runs up to the same id)
my $sb_runs = $standby->safe_psql('postgres',
	"SELECT coalesce(max(id), 0) || ' ' || count(*) FROM privacy.retention_runs");
my ($sb_max) = split / /, $sb_runs;
is($primary->safe_psql('postgres',
	"SELECT coalesce(max(id), 0) || ' ' || count(*) FROM privacy.retention_runs WHERE id <= $sb_max"),
	$sb_runs, 'the standby records no run of its own');

# new expired rows reach the standby; then the primary goes away.  The
# primary's worker must not delete them first: it restarts with retention off
# (read at start, so no pass can be under way), the standby keeps its own
# configuration from the base backup.
$primary->append_conf('postgresql.conf', 'privacy.retention_enabled = off');
$primary->restart;
$primary->safe_psql('postgres', "INSERT INTO t SELECT g, '2001-01-01' FROM generate_series(1, 100) g");
$primary->wait_for_catchup($standby);
$primary->stop('immediate');
is($standby->safe_psql('postgres', $expired), '100', 'expired rows wait on the standby');
$standby->promote;
ok($standby->poll_query_until('postgres', $none_expired, 't'), 'the promoted standby enforces');
ok($standby->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'privacy retention launcher'", 't'),
	'the launcher runs after promotion');

$standby->stop;
done_testing();
