# Side channels other than error messages: what another session, or the
# server log, sees while the extension runs.
#
# log_lock_waits writes "process N still waiting for ... / acquired ..."
# at LOG, with the statement (log_min_error_statement = error, the
# default, prints it for LOG too) and the context: the text of a table
# owner's statement that waits inside an erasure or a retention batch (a
# trigger's EXECUTE of SQL built with the row's values), the bind
# parameters of log_parameter_max_length_on_error.  None of them reaches
# the log; the lines themselves do.  A deadlock's log detail, written by
# the application's backend that PostgreSQL cancels, listed the call's
# statement (an id written in it): the cycle stays, the statements go.
# pg_stat_statements (track = all)
# keeps $n for every statement of the extension, never a value.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $rootkey = $ENV{PRIVACY_ROOT_KEY_FILE} or die "PRIVACY_ROOT_KEY_FILE is not set";
my $id = '918273645';
my $id2 = '918273646';
my $id3 = '918273999';
my $dlnote = 'deadlock-note-3b8a';
my $canary = 'canary-5f3a9e@example.org';
my $note = 'note-of-the-canary-41d7';
my $old = 'old-note-c9e2';

my $node = PostgreSQL::Test::Cluster->new('side_channels');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'privacy, pg_stat_statements'
privacy.root_key_file = '$rootkey'
privacy.retention_enabled = off
privacy.retention_naptime = 1
pg_stat_statements.track = all
log_lock_waits = on
deadlock_timeout = '20ms'
log_statement = none
log_min_duration_statement = -1
log_parameter_max_length_on_error = -1
));
$node->start;

$node->safe_psql('postgres', qq{
CREATE EXTENSION privacy;
CREATE EXTENSION pg_stat_statements;
CREATE ROLE regress_sc_officer IN ROLE privacy_officer;
CREATE TABLE customer (id bigint PRIMARY KEY, email text);
CREATE TABLE orders (id int PRIMARY KEY, customer bigint REFERENCES customer, note text,
  created timestamptz DEFAULT now());
CREATE TABLE lockme (v text PRIMARY KEY);
INSERT INTO customer VALUES ($id, '$canary'), ($id2, 'other\@example.org'), (3, 'three\@example.org'),
  ($id3, 'last\@example.org');
INSERT INTO orders VALUES (1, $id, '$note', now()), (2, 3, '$old', now() - interval '3 years'),
  (3, $id3, '$dlnote', now());
INSERT INTO lockme VALUES ('$note'), ('$old'), ('$dlnote');
CREATE FUNCTION orders_touch() RETURNS trigger LANGUAGE plpgsql AS \$\$
  BEGIN EXECUTE format('SELECT 1 FROM public.lockme WHERE v = %L FOR UPDATE', OLD.note); RETURN OLD; END \$\$;
CREATE TRIGGER orders_touch BEFORE DELETE OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION orders_touch();
SELECT privacy.define_subject('customer', 'customer');
SELECT privacy.classify('customer', 'email', 'user.contact.email');
SELECT privacy.classify('orders', 'note', 'user.content');
SELECT privacy.encrypt_column('customer', 'email', 'customer');
SELECT pg_stat_statements_reset();
});

sub pid_of { return $_[0]->query_safe('SELECT pg_backend_pid()') }
sub wait_for
{
	my ($where, $what) = @_;
	ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE $where"), $what);
}

my $offset = -s $node->logfile;

# 1. a call that waits for the subject's lock (outside the extension's
#    frames), the id written in the statement
my $holder = $node->background_psql('postgres');
my $hpid = pid_of($holder);
$holder->query_until(qr/go/, "\\echo go\nBEGIN; SELECT privacy.hold('customer', '$id2', 'x'); SELECT pg_sleep(2); COMMIT;\n");
wait_for("pid = $hpid AND wait_event = 'PgSleep'", 'a transaction holds the subject');
# (erase() waits for the holder, then finds the hold: 55000)
my ($r1, $o1, $e1) = $node->psql('postgres', "SET ROLE regress_sc_officer; SELECT privacy.erase('customer', '$id2')");
like($e1, qr/legal hold/, 'the erasure waited, then found the hold');

# 2. the same, the id a bind parameter (log_parameter_max_length_on_error
#    would write it in the context)
$holder->query_until(qr/go/, "\\echo go\nBEGIN; SELECT privacy.hold('customer', '$id2', 'x'); SELECT pg_sleep(2); COMMIT;\n");
wait_for("pid = $hpid AND wait_event = 'PgSleep'", 'a transaction holds the subject again');
$node->pgbench('-n -t 1 -M extended', 0, [qr{}], [qr{}], 'a call with bind parameters waits',
	{ 'sc_bind.sql' => "SET ROLE regress_sc_officer;\n\\set id $id2\nSELECT privacy.release_hold('customer', :id::text);\n" });

# 3. a table owner's trigger whose statement (with the row's value) waits
#    inside an erasure
$holder->query_until(qr/go/, "\\echo go\nBEGIN; SELECT 1 FROM lockme WHERE v = '$note' FOR UPDATE; SELECT pg_sleep(2); COMMIT;\n");
wait_for("pid = $hpid AND wait_event = 'PgSleep'", 'a transaction holds the trigger\'s row');
$node->safe_psql('postgres', qq{SET ROLE regress_sc_officer; SELECT privacy.erase('customer', '$id')});

# 4. the same in a retention batch of the worker
$holder->query_until(qr/go/, "\\echo go\nBEGIN; SELECT 1 FROM lockme WHERE v = '$old' FOR UPDATE; SELECT pg_sleep(3); COMMIT;\n");
wait_for("pid = $hpid AND wait_event = 'PgSleep'", 'a transaction holds the trigger\'s row for retention');
$node->safe_psql('postgres', q{SELECT privacy.add_retention('orders', 'created', '1 year')});
$node->append_conf('postgresql.conf', "privacy.retention_enabled = on\n");
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM orders}), 'the worker deleted the old order');
$holder->quit;

# 5. a deadlock between a call (its id written in the statement) and an
#    application's transaction, which PostgreSQL cancels: its log detail
#    listed both statements
$holder = $node->background_psql('postgres');
$hpid = pid_of($holder);
$holder->query_until(qr/go/, "\\echo go\nBEGIN; SELECT 1 FROM lockme WHERE v = '$dlnote' FOR UPDATE; SELECT pg_sleep(2); UPDATE customer SET email = NULL WHERE id = (SELECT max(id) FROM customer); COMMIT;\n");
wait_for("pid = $hpid AND wait_event = 'PgSleep'", 'a transaction holds the trigger\'s row, then writes the subject');
$node->safe_psql('postgres', qq{SET ROLE regress_sc_officer; SELECT privacy.erase('customer', '$id3')});
eval { $holder->{run}->finish };	# psql stops at the error (ON_ERROR_STOP)
like($holder->{stderr}, qr/deadlock detected/, 'the application\'s transaction is cancelled');

my $log = slurp_file($node->logfile, $offset);
like($log, qr/ERROR:  deadlock detected\n.*DETAIL:  Process \d+ waits for/, 'the deadlock is logged with its cycle');
like($log, qr/LOG:  process \d+ still waiting for ExclusiveLock on advisory lock/,
	'log_lock_waits writes the lines of a call that waits for the subject');
like($log, qr/LOG:  process \d+ still waiting for ShareLock on transaction/,
	'and of a statement that waits for a row');
unlike($log, qr/\Q$id\E/, 'the id is not in the log');
unlike($log, qr/\Q$id2\E/, 'the id of a call that waited for the subject is not in the log');
unlike($log, qr/\Q$note\E/, 'the value in a trigger\'s statement is not in the log');
unlike($log, qr/\Q$old\E/, 'the value in a trigger\'s statement run by retention is not in the log');
unlike($log, qr/\Q$id3\E/, 'the id of a call in a deadlock is not in the log');
unlike($log, qr/\Q$canary\E/, 'the plaintext is not in the log');

# pg_stat_statements: the extension's statements carry $n, never a value
my $texts = $node->safe_psql('postgres', 'SELECT string_agg(query, E\'\n\') FROM pg_stat_statements');
like($texts, qr/privacy\.holds/, 'pg_stat_statements has the extension\'s statements');
unlike($texts, qr/\Q$id\E|\Q$id2\E|\Q$note\E|\Q$old\E|\Q$canary\E/, 'pg_stat_statements: no id, no value');

$node->stop;
done_testing();
