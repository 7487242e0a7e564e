# Retention after pg_dump | pg_restore (issue 11 item 4): the policies are
# dumped, their runtime state is not; the state is created on demand, so
# run_retention and the worker keep enforcing in the restored database.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('restore');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privacy'
privacy.retention_naptime = 1
privacy.retention_enabled = off
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
CREATE EXTENSION privacy;
CREATE TABLE t (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE INDEX ON t (at);
INSERT INTO t SELECT g, now() - (g % 20) * interval '1 day' FROM generate_series(1, 1000) g;
SELECT privacy.add_retention('t', 'at', '10 days');
});
my $expired = "SELECT count(*) FROM t WHERE at < now() - interval '10 days'";
is($node->safe_psql('src', $expired), '500', 'expired rows before the dump');

my $dump = $node->basedir . '/src.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', $dump ], 'pg_dump');
for my $db ('dst1', 'dst2')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->command_ok([ 'pg_restore', '-d', $node->connstr($db), $dump ], "pg_restore into $db");
	is($node->safe_psql($db, 'SELECT count(*) FROM privacy.retention_policies'), '1', "policy restored in $db");
	is($node->safe_psql($db, 'SELECT count(*) FROM privacy.retention_state'), '0', "no runtime state in $db");
}

# run_retention in a restored database
is($node->safe_psql('dst1', 'SELECT privacy.run_retention()'), '500', 'run_retention enforces after restore');
is($node->safe_psql('dst1', $expired), '0', 'nothing expired left in dst1');

# the worker in a restored database
$node->append_conf('postgresql.conf', 'privacy.retention_enabled = on');
$node->reload;
ok($node->poll_query_until('dst2', "SELECT count(*) = 0 FROM t WHERE at < now() - interval '10 days'", 't'), 'the worker enforces after restore');
is($node->safe_psql('dst2', 'SELECT count(*) FROM t'), '500', 'unexpired rows stay');
is($node->safe_psql('dst2', 'SELECT sum(rows) FROM privacy.retention_runs'), '500', 'the run is recorded');

$node->stop;
done_testing();
