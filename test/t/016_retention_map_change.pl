# A foreign key dropped while the worker's pass runs (issue 11, hold wins
# every race): the pass began with the table in the subject's map, so its
# later batches must not lose that subject's holds.  Each deleted row is
# slowed down by a trigger, so the pass is still running when the key goes;
# the next batch fails with 55000 before it changes anything, and every held
# row stays.  Before the fix the batch rebuilt its hold filter from the new
# map (no subject: no filter) and deleted the held rows too.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('mapchange');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privacy'
privacy.retention_naptime = 1
privacy.retention_enabled = off
privacy.retention_batch_size = 4
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION privacy;
CREATE TABLE customers (id int PRIMARY KEY);
CREATE TABLE events (id int PRIMARY KEY, customer_id int CONSTRAINT events_customer REFERENCES customers,
	at timestamptz NOT NULL);
CREATE INDEX ON events (at);
CREATE INDEX ON events (customer_id);
INSERT INTO customers VALUES (1), (2);
-- 40 expired rows, every other one of the held customer 2, interleaved in age order
INSERT INTO events SELECT g, 1 + g % 2, now() - interval '30 days' - g * interval '1 hour'
  FROM generate_series(1, 40) g;
CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.3); RETURN OLD; END $$;
CREATE TRIGGER slow BEFORE DELETE ON events FOR EACH ROW EXECUTE FUNCTION slow();
SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.hold('customer', '2', 'litigation');
SELECT privacy.add_retention('events', 'at', '10 days');
});
is($node->safe_psql('postgres', 'SELECT subjects FROM privacy.retention_policies'), '{customer}',
	'the policy records the subject type of its table');

$node->append_conf('postgresql.conf', 'privacy.retention_enabled = on');
$node->reload;
ok($node->poll_query_until('postgres', 'SELECT count(*) < 40 FROM events', 't'),
	'the worker has begun deleting');
# waits for the running batch (its transaction), then commits between two batches
$node->safe_psql('postgres', 'ALTER TABLE events DROP CONSTRAINT events_customer');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM privacy.retention_runs WHERE error LIKE '55000:%no longer belongs to subject type%'}, 't'),
	'the next batch fails with 55000');
is($node->safe_psql('postgres', 'SELECT count(*) FROM events WHERE customer_id = 2'), '20',
	'every held row stays');
ok($node->safe_psql('postgres', 'SELECT count(*) FROM events WHERE customer_id = 1') > 0,
	'the pass stopped: rows not held are left for later');
# a few more worker rounds (back-off) change nothing
sleep 3;
is($node->safe_psql('postgres', 'SELECT count(*) FROM events WHERE customer_id = 2'), '20',
	'held rows stay while the key is missing');
# the key back: the policy runs again, holds applied
$node->safe_psql('postgres', q{ALTER TABLE events ADD CONSTRAINT events_customer FOREIGN KEY (customer_id) REFERENCES customers;
	DROP TRIGGER slow ON events});
is($node->safe_psql('postgres', 'SELECT privacy.run_retention() >= 0'), 't', 'the policy runs with the key back');
is($node->safe_psql('postgres', 'SELECT count(*) FILTER (WHERE customer_id = 2) || \' \' || count(*) FROM events'), '20 20',
	'only the held rows are left');
ok(!$node->log_contains('PANIC|TRAP'), 'no crash');
$node->stop;
done_testing();
