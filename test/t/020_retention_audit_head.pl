# The worker waits for no session's audit chain head.  A session that made
# an audited call holds the chain's head until its transaction ends (idle in
# it, for as long as it likes); the worker closes and audits a recorded run
# in a transaction of its own after the pass's last batch, and waited there
# for the head with no timeout: its round stopped at that policy (the next
# policies of the database ran no more) and it held its worker slot, the
# other databases' too.  Now it leaves the run for later: the next pass
# (or a run_retention) closes and audits it once the head is free.  The
# same for a run that changed rows and then failed: its closing, audited as
# failed, waited for the head (the worker's round stopped there); now it is
# left to the next pass, which closes it as interrupted.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('audit_head');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privacy'
privacy.retention_naptime = 1
privacy.retention_batch_size = 2
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION privacy;
CREATE TABLE a (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE b (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE people (id int PRIMARY KEY);
SELECT privacy.add_retention('a', 'at', '1 day');
SELECT privacy.add_retention('b', 'at', '1 day');
});

# a session appends to the audit chain and stays in its transaction
my $bg = $node->background_psql('postgres');
$bg->query_safe('BEGIN');
$bg->query_safe(q{SELECT privacy.define_subject('person', 'people')});

# policy 1's pass deletes rows (a recorded run), then policy 2's
$node->safe_psql('postgres', q{
INSERT INTO a SELECT g, now() - interval '10 days' FROM generate_series(1, 5) g;
INSERT INTO b SELECT g, now() - interval '10 days' FROM generate_series(1, 5) g;
});
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM a', 't'), "policy 1's rows go");
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM b', 't'),
	"policy 2's rows go too: the worker did not wait for the session's head");
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'privacy retention worker' AND wait_event_type = 'Lock'}),
	'0', 'no worker waits for a lock');
# more rounds while the session stays: nothing waits, nothing fails (a
# policy whose run is still to be audited waits for its next pass)
$node->safe_psql('postgres', q{INSERT INTO b SELECT g, now() - interval '10 days' FROM generate_series(6, 7) g});
$node->safe_psql('postgres', 'SELECT pg_sleep(3)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'privacy retention worker' AND wait_event_type = 'Lock'}),
	'0', 'still no worker waits for a lock');
is($node->safe_psql('postgres', 'SELECT count(*) FROM privacy.retention_runs WHERE error IS NOT NULL'),
	'0', 'no failure recorded');

$bg->query_safe('COMMIT');
$bg->quit;
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM b', 't'), 'then the later rows go');
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM privacy.retention_runs WHERE finished IS NULL', 't'),
	'once the session ends, every run is closed');
is($node->safe_psql('postgres', 'SELECT policy, sum(rows) FROM privacy.retention_runs GROUP BY policy ORDER BY policy'),
	"1|5\n2|7", 'the rows are counted once');
is($node->safe_psql('postgres', q{SELECT (detail->>'policy')::int, sum((detail->>'rows')::int), count(*)
	FROM privacy.audit_log WHERE action = 'run_retention' GROUP BY 1 ORDER BY 1}),
	$node->safe_psql('postgres', 'SELECT policy, sum(rows), count(*) FROM privacy.retention_runs GROUP BY policy ORDER BY policy'),
	'each run audited once, with its rows');
ok($node->safe_psql('postgres', 'SELECT privacy.verify_audit()') > 0, 'the audit chain verifies');

# a run that changes rows (two batches of two), then fails on a row (a
# permission error of the table's trigger fails the policy), while a session
# holds the head; policy 4 comes after it in the worker's round
$node->safe_psql('postgres', q{
CREATE TABLE c (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE INDEX ON c (at);
CREATE FUNCTION c_refuse() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN IF OLD.id = 5 THEN RAISE EXCEPTION 'no' USING ERRCODE = 'insufficient_privilege'; END IF; RETURN OLD; END $$;
CREATE TRIGGER c_refuse BEFORE DELETE ON c FOR EACH ROW EXECUTE FUNCTION c_refuse();
CREATE TABLE d (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE people2 (id int PRIMARY KEY);
SELECT privacy.add_retention('c', 'at', '1 day');
SELECT privacy.add_retention('d', 'at', '1 day');
});
$bg = $node->background_psql('postgres');
$bg->query_safe('BEGIN');
$bg->query_safe(q{SELECT privacy.define_subject('person2', 'people2')});
$node->safe_psql('postgres', q{
INSERT INTO c SELECT g, now() - interval '10 days' + g * interval '1 s' FROM generate_series(1, 5) g;
INSERT INTO d SELECT g, now() - interval '10 days' FROM generate_series(1, 5) g;
});
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM d', 't'),
	"the failing policy's rows changed, then it failed: the worker did not wait, policy 4 ran");
is($node->safe_psql('postgres', 'SELECT count(*) > 0 FROM privacy.retention_state WHERE policy = 3 AND failures > 0'),
	't', 'the failure is in the state');
is($node->safe_psql('postgres', 'SELECT count(*) FROM c'), '1', 'the rows before the failing one are gone');
$bg->query_safe('COMMIT');
$bg->quit;
$node->safe_psql('postgres', 'DROP TRIGGER c_refuse ON c');
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM c', 't'), 'the next pass resumes');
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM privacy.retention_runs WHERE finished IS NULL', 't'),
	'every run is closed');
is($node->safe_psql('postgres', 'SELECT sum(rows) FROM privacy.retention_runs WHERE policy = 3'), '5',
	'the rows are counted once');
is($node->safe_psql('postgres', q{SELECT sum((detail->>'rows')::int) FROM privacy.audit_log
	WHERE action = 'run_retention' AND (detail->>'policy')::int = 3}), '5', 'and audited once');
ok($node->safe_psql('postgres', 'SELECT privacy.verify_audit()') > 0, 'the audit chain verifies');

$node->stop;
done_testing();
