# A row that another session keeps locked never holds a policy.  A batch's
# rows are locked FOR UPDATE SKIP LOCKED, but their dependents (deleted by
# the batch first), and the rows their triggers or foreign keys change, are
# not: a dependent locked by an idle transaction made the batch's DELETE
# wait for lock_timeout (1s) and fail the policy with 55P03, on every retry
# (back-off), so none of its expired rows went while the session stayed.
# Now the lock error is handled as one row's: the batch is split in halves
# until the row is alone (the split units wait 50 ms at most), the row is
# left for the next pass (counted as blocked), every other row goes, the
# policy does not fail, and the other policies run.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('slow_row');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privacy'
privacy.retention_naptime = 1
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION privacy;
CREATE TABLE m (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE INDEX ON m (at);
CREATE TABLE att (id int PRIMARY KEY, m_id int REFERENCES m);
CREATE INDEX ON att (m_id);
CREATE TABLE z (id int PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO m SELECT g, now() - interval '10 days' FROM generate_series(1, 100) g;
INSERT INTO att SELECT g, g FROM generate_series(1, 100) g;
});

# a session locks one dependent row and stays idle in its transaction
my $bg = $node->background_psql('postgres');
$bg->query_safe('BEGIN');
$bg->query_safe('SELECT * FROM att WHERE id = 37 FOR UPDATE');

# run_retention: the locked row's parent stays, the others go, no error
# (added and run in one transaction: the worker does not run it first)
my ($ret, $out, $err) = $node->psql('postgres', q{
BEGIN;
SELECT privacy.add_retention('m', 'at', '1 day') AS p \gset
SELECT privacy.run_retention(:p);
COMMIT;});
is($ret, 0, 'run_retention does not fail on a locked dependent');
is($out, '198', 'it deleted every other row and its dependent');
like($err, qr/could not delete 1 expired row\b.*SQLSTATE 55P03/s, 'and warns of the row left, by its SQLSTATE');
is($node->safe_psql('postgres', 'SELECT string_agg(id::text, \',\') FROM m'), '37', 'the locked row stays');
is($node->safe_psql('postgres', 'SELECT rows, blocked, error IS NULL FROM privacy.retention_runs WHERE policy = 1'),
	'198|1|t', 'the run counts it as blocked, not as a failure');

# the worker: more expired rows, a locked dependent among them, and a
# second policy; both run, neither fails (each pass waits for the locked
# rows a bounded time: 1 s, then 50 ms per split unit)
# (the rows expire once the session holds its lock)
$node->safe_psql('postgres', q{
INSERT INTO m SELECT g, now() FROM generate_series(101, 200) g;
INSERT INTO att SELECT g, g FROM generate_series(101, 200) g;
});
$bg->query_safe('SELECT * FROM att WHERE id = 150 FOR UPDATE');
$node->safe_psql('postgres', q{
UPDATE m SET at = now() - interval '10 days' WHERE id > 100;
SELECT privacy.add_retention('z', 'at', '1 day');
INSERT INTO z SELECT g, now() - interval '10 days' FROM generate_series(1, 10) g;
});
ok($node->poll_query_until('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM m}, '37,150'),
	"the worker deletes every row but the locked ones");
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM z', 't'), 'the other policy runs');
is($node->safe_psql('postgres', 'SELECT count(*) FROM privacy.retention_state WHERE failures > 0'),
	'0', 'no policy failed');

# the session ends: the next pass takes the rows it held
$bg->query_safe('COMMIT');
$bg->quit;
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM m', 't'), 'the rows go at a later pass');
is($node->safe_psql('postgres', 'SELECT count(*) FROM att'), '0', 'with their dependents');
is($node->safe_psql('postgres', 'SELECT sum(rows) FROM privacy.retention_runs WHERE policy = 1'), '400',
	'every row counted once');

$node->stop;
done_testing();
