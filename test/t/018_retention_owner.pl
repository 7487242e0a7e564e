# A worker's pass outlives many transactions.  A table whose owner changes
# during the pass runs its code as its new owner from the next batch on:
# each batch locks the table and reads its owner again.  Before, every batch
# of the pass ran as the owner the pass began with, so the new owner's
# trigger ran with the previous owner's rights (here a role that is also a
# member of the new owner's role, as a DBA who hands a table to the
# application role it administers), or, without them, the batches failed
# until the next pass.  Likewise its names: a table or age column renamed
# during the pass failed the rest of it (42703, retried after a back-off).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('owner');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privacy'
privacy.retention_naptime = 1
privacy.retention_batch_size = 5
});
$node->start;

# 200 expired rows, 50 ms each: a pass of 40 batches
$node->safe_psql('postgres', q{
CREATE EXTENSION privacy;
CREATE ROLE regress_app;
CREATE ROLE regress_dba IN ROLE regress_app;
CREATE TABLE t (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE INDEX ON t (at);
CREATE TABLE seen (who name, at timestamptz);
GRANT INSERT ON seen TO PUBLIC;
CREATE FUNCTION slow_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.seen VALUES (current_user, clock_timestamp());
	PERFORM pg_sleep(0.05);
	RETURN OLD;
END $$;
CREATE TRIGGER slow_log BEFORE DELETE ON t FOR EACH ROW EXECUTE FUNCTION slow_log();
INSERT INTO t SELECT g, now() - interval '10 days' + g * interval '1 second' FROM generate_series(1, 200) g;
ALTER TABLE t OWNER TO regress_dba;
SELECT privacy.add_retention('t', 'at', '1 day');
});
ok($node->poll_query_until('postgres', 'SELECT count(*) >= 20 FROM seen', 't'), 'the pass is under way');
my $before = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
$node->safe_psql('postgres', 'ALTER TABLE t OWNER TO regress_app');
my $after = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
ok($node->poll_query_until('postgres', "SELECT count(*) < 180 AND count(*) > 0 FROM t", 't'), 'the pass goes on');
$node->safe_psql('postgres', 'ALTER TABLE t RENAME COLUMN at TO created_at');
$node->safe_psql('postgres', 'ALTER TABLE t RENAME TO t2');
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM t2', 't'), 'the pass deletes every row');
is($node->safe_psql('postgres', 'SELECT count(*) FROM privacy.retention_runs'), '1',
	'one run: the pass went on after the owner and the names changed');
ok($node->safe_psql('postgres', "SELECT count(*) FROM seen WHERE at > '$after'") > 0,
	'rows were deleted after the owner changed');
is($node->safe_psql('postgres', "SELECT string_agg(DISTINCT who::text, ',') FROM seen WHERE at > '$after'"),
	'regress_app', 'after the change, the trigger ran as the new owner only');
is($node->safe_psql('postgres', "SELECT string_agg(DISTINCT who::text, ',') FROM seen WHERE at < '$before'"),
	'regress_dba', 'before it, as the previous owner');
is($node->safe_psql('postgres', 'SELECT count(*) FROM privacy.retention_runs WHERE error IS NOT NULL'),
	'0', 'no batch failed');

$node->stop;
done_testing();
