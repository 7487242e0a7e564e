# The worker and rows that stay.  Passes that find only the held and
# blocked rows of the policy's last recorded run record nothing: one run row,
# one audit entry and one WARNING for them, however many passes find them
# again (before: a run row, an audit entry and a WARNING every naptime, for as
# long as the hold lasted).  And a session that places a hold and runs the
# policy in one transaction is never deadlocked with a worker's batch: the
# batch takes the holds table's lock before the policy's state row (before:
# the state row first, so the worker, waiting for the session's hold while
# holding the row the session's run_retention needed, failed on a deadlock
# or its lock timeout, and recorded a failure).  Nor is a run_retention in a
# transaction that appended to the audit chain before: the worker audits the
# end of its pass in a transaction of its own, which takes the chain's head
# before anything else.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('quiet');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privacy'
privacy.retention_naptime = 1
});
$node->start;

# events 1, 3, 5, 7, 9 of customer 2 (held); event 2 referenced by an
# anonymize-mode note (blocked); events 4, 6, 8, 10 go
$node->safe_psql('postgres', q{
CREATE EXTENSION privacy;
CREATE TABLE customers (id int PRIMARY KEY);
INSERT INTO customers VALUES (1), (2);
CREATE TABLE events (id int PRIMARY KEY, customer_id int REFERENCES customers, at timestamptz NOT NULL);
CREATE INDEX ON events (at);
CREATE TABLE notes (id int PRIMARY KEY, event_id int REFERENCES events);
INSERT INTO events SELECT g, 1 + g % 2, now() - interval '10 days' FROM generate_series(1, 10) g;
INSERT INTO notes VALUES (1, 2);
SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.set_erasure_mode('notes', 'anonymize');
SELECT privacy.hold('customer', '2', 'litigation');
SELECT privacy.add_retention('events', 'at', '1 day');
});
ok($node->poll_query_until('postgres', 'SELECT count(*) = 6 FROM events', 't'),
	'the worker deletes what may go');
# three more passes, each a heartbeat
for my $i (1 .. 3)
{
	my $t = $node->safe_psql('postgres', 'SELECT last_checked FROM privacy.retention_status');
	ok($node->poll_query_until('postgres',
		"SELECT last_checked > '$t' FROM privacy.retention_status", 't'), "pass $i after the first");
}
is($node->safe_psql('postgres', 'SELECT rows, held, blocked, error IS NULL FROM privacy.retention_runs'),
	'4|5|1|t', 'one run row: the passes that found the same rows recorded nothing');
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.audit_log WHERE action = 'run_retention'}),
	'1', 'one audit entry');
my @warnings = (slurp_file($node->logfile) =~ /skipped 1 expired row that a row of public\.notes/g);
is(scalar(@warnings), 1, 'one WARNING for the blocked row');
is($node->safe_psql('postgres', 'SELECT last_rows, last_held, last_blocked FROM privacy.retention_status'),
	'4|5|1', 'the status shows the counts of the last recorded run, the current ones');

# a hold and a run in one transaction, while the worker's batch waits for
# the hold's lock on the holds table
my $log_offset = -s $node->logfile;
is($node->safe_psql('postgres', q{
BEGIN;
SELECT privacy.hold('customer', '1', 'second case') IS NOT NULL;
DO $$
BEGIN
	FOR i IN 1 .. 1000 LOOP
		EXIT WHEN EXISTS (SELECT FROM pg_catalog.pg_locks l
						   WHERE NOT l.granted AND l.relation = 'privacy.holds'::regclass
							 AND l.pid <> pg_catalog.pg_backend_pid());
		PERFORM pg_catalog.pg_sleep(0.01);
	END LOOP;
END $$;
SELECT count(*) FROM pg_catalog.pg_locks l
 WHERE NOT l.granted AND l.relation = 'privacy.holds'::regclass AND l.pid <> pg_catalog.pg_backend_pid();
SELECT privacy.run_retention(1);
COMMIT;
}), "t\n1\n0", 'the worker waits for the hold; the run in the same transaction goes through');
# the worker's next passes
my $t = $node->safe_psql('postgres', 'SELECT last_checked FROM privacy.retention_status');
ok($node->poll_query_until('postgres', "SELECT last_checked > '$t' FROM privacy.retention_status", 't'),
	'the worker passes again');
is($node->safe_psql('postgres', 'SELECT count(*) FROM privacy.retention_runs WHERE error IS NOT NULL'),
	'0', 'the worker recorded no failure');
is($node->safe_psql('postgres', 'SELECT failures FROM privacy.retention_state'), '0', 'no failure in the state');
unlike(slurp_file($node->logfile, $log_offset), qr/deadlock detected|lock timeout/, 'no deadlock, no lock timeout');
is($node->safe_psql('postgres', 'SELECT rows, held, blocked FROM privacy.retention_runs ORDER BY id'),
	"4|5|1\n0|6|0", 'the hold changed what the runs found: recorded once');

# run_retention() in a transaction that appended to the audit chain before
# (here an access request), while the worker's batch of a policy runs (a
# slow trigger: one batch of 2 s, the last of its pass): the call waits for
# the batch and goes through.  Before, it gave up on the policy's state
# row after 1 s (lock_timeout), and recording that failure waited for the
# batch, which in turn waited for the chain's head to audit its run: a
# deadlock, or a failure recorded and the worker's pass ended
$node->safe_psql('postgres', q{
CREATE TABLE slow (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE FUNCTION slow_del() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN PERFORM pg_sleep(0.5); RETURN OLD; END $$;
CREATE TRIGGER slow_del BEFORE DELETE ON slow FOR EACH ROW EXECUTE FUNCTION slow_del();
INSERT INTO slow SELECT g, now() - interval '10 days' FROM generate_series(1, 4) g;
});
my $ps = $node->safe_psql('postgres', q{SELECT privacy.add_retention('slow', 'at', '1 day')});
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'privacy retention worker' AND query = 'retention policy $ps batch'", 't'),
	"the worker's batch runs");
my ($ret, $out, $err) = $node->psql('postgres', q{
BEGIN;
SELECT privacy.access('customer', '1') IS NOT NULL AS accessed;
SELECT privacy.run_retention() >= 0 AS ran;
COMMIT;
});
is($ret, 0, 'run_retention after an audited call, while the worker runs a batch: no error');
unlike($err, qr/failed|deadlock|lock timeout/, 'no policy failed') or diag($err);
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM slow", 't'), 'the rows are gone');
is($node->safe_psql('postgres', "SELECT count(*) FROM privacy.retention_runs WHERE policy = $ps AND error IS NOT NULL"),
	'0', 'no failure recorded');
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM privacy.retention_runs WHERE finished IS NULL", 't'),
	'every run is closed');
is($node->safe_psql('postgres', "SELECT sum(rows) FROM privacy.retention_runs WHERE policy = $ps"), '4',
	'the rows are counted once');
is($node->safe_psql('postgres', "SELECT count(*) FROM privacy.audit_log
	WHERE action = 'run_retention' AND (detail->>'policy')::bigint = $ps"), '1', 'and audited once');
ok($node->safe_psql('postgres', 'SELECT privacy.verify_audit()') > 0, 'the audit chain verifies');

$node->stop;
done_testing();
