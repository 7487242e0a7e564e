# A timestamp age on a DST change: the keyset position of a pass is compared
# in the column's own type.  A wall-clock time in the hour that does not
# exist (02:30 in Berlin on a spring-forward day) reads as a later instant
# than the 03:00-03:29 that follow it in the column's (and the index's)
# order: a batch that ended on it stored its position as that instant, and
# the next batch skipped the 03:xx rows.  With rows that stay before it (a
# held subject's), every pass ended its first batch there again: those rows
# were never deleted.  Batches of 5 rows (privacy.retention_batch_size).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dst');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privacy'
privacy.retention_enabled = off
privacy.retention_batch_size = 5
});
$node->start;

# 2024-03-31, Europe/Berlin: 02:00 -> 03:00.  The five rows of the held
# customer 2 come first in wall-clock order, the last of them at 02:30.
$node->safe_psql('postgres', q{
CREATE EXTENSION privacy;
CREATE TABLE customers (id int PRIMARY KEY);
INSERT INTO customers VALUES (1), (2);
CREATE TABLE w (id int PRIMARY KEY, customer_id int REFERENCES customers, at timestamp NOT NULL);
CREATE INDEX ON w (at);
INSERT INTO w VALUES
	(1, 2, '2024-03-31 01:00'), (2, 2, '2024-03-31 01:10'), (3, 2, '2024-03-31 01:20'),
	(4, 2, '2024-03-31 01:30'), (5, 2, '2024-03-31 02:30'),
	(6, 1, '2024-03-31 03:00'), (7, 1, '2024-03-31 03:10'), (8, 1, '2024-03-31 03:20'),
	(9, 1, '2024-03-31 04:00'), (10, 1, '2024-03-31 05:00');
SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.hold('customer', '2', 'litigation');
SELECT privacy.add_retention('w', 'at', '1 day', time_zone => 'Europe/Berlin');
});
is($node->safe_psql('postgres', 'SELECT privacy.run_retention(1)'), '5', 'the pass deletes the five rows not held');
is($node->safe_psql('postgres', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM w'), '1,2,3,4,5',
	'only the held rows are left');
is($node->safe_psql('postgres', 'SELECT rows, held, batches FROM privacy.retention_runs'), '5|5|3',
	'the run counts them (three batches)');

$node->stop;
done_testing();
