# An erasing backend terminated (pg_terminate_backend) while it waits for a
# map change, while it deletes rows, or while map changes and writers wait
# for it: nothing is half done (every row of the subject, its data key, its
# request still open, no ledger entry, no audit entry; the audit chain
# verifies), the locks it held are gone (the map change and the writers go on), and the
# next erasure of the subject takes every row, those of a table linked in
# the meantime included.  A map change whose session is terminated while an
# erasure waits for it leaves the erasure on the map as it was.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('eraseterm');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privacy'
privacy.retention_enabled = off
});
my $keyed = defined $ENV{PRIVACY_ROOT_KEY_FILE};
$node->append_conf('postgresql.conf', "privacy.root_key_file = '$ENV{PRIVACY_ROOT_KEY_FILE}'")
  if $keyed;
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION privacy;
CREATE TABLE users (id int PRIMARY KEY, email text);
CREATE TABLE orders (id int PRIMARY KEY, uid int NOT NULL REFERENCES users ON DELETE CASCADE, note text);
CREATE TABLE logs (id serial PRIMARY KEY, uid int, what text);
CREATE INDEX ON logs (uid);
CREATE TABLE events (id serial PRIMARY KEY, uid int, what text);
CREATE INDEX ON events (uid);
CREATE TABLE extra (id serial PRIMARY KEY, uid int);
CREATE INDEX ON extra (uid);
INSERT INTO extra (uid) SELECT 1 + g % 2 FROM generate_series(1, 10) g;
INSERT INTO users VALUES (1, 'ann@example.org'), (2, 'bob@example.org');
INSERT INTO orders SELECT g, 1 + g % 2, 'n' FROM generate_series(1, 10) g;
INSERT INTO logs (uid, what) SELECT 1 + g % 2, 'x' FROM generate_series(1, 10) g;
INSERT INTO events (uid, what) SELECT 1 + g % 2, 'x' FROM generate_series(1, 10) g;
-- an erasure that sets test.slow waits in the middle of its deletes
CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF pg_catalog.current_setting('test.slow', true) = 'on' THEN
		PERFORM pg_catalog.pg_sleep(300);
	END IF;
	RETURN OLD;
END $$;
CREATE TRIGGER slow BEFORE DELETE ON orders FOR EACH ROW EXECUTE FUNCTION slow();
SELECT privacy.define_subject('u', 'users');
SELECT privacy.link('u', 'logs', 'uid');
-- the request, logged when it arrived, that the erasure completes
SELECT privacy.receive_request('erase', 'u', '1');
});
$node->safe_psql('postgres', q{SELECT privacy.encrypt_column('users', 'email', 'u')}) if $keyed;

# the rows of subject 1, its records, and whether the audit chain verifies
my $state_sql = q{SELECT concat_ws(' ',
	(SELECT count(*) FROM users WHERE id = 1), (SELECT count(*) FROM orders WHERE uid = 1),
	(SELECT count(*) FROM logs WHERE uid = 1), (SELECT count(*) FROM events WHERE uid = 1),
	(SELECT string_agg(status, ',' ORDER BY id) FROM privacy.request_log WHERE kind = 'erase'),
	(SELECT count(*) FROM privacy.erasures),
	(SELECT count(*) FROM privacy.audit_log WHERE action = 'erase'),
	privacy.verify_audit() > 0)};
my $intact = '1 5 5 5 received 0 0 t';
is($node->safe_psql('postgres', $state_sql), $intact, 'the rows before');

# the backend of a session, and a wait until it waits as told
sub pid_of { return $_[0]->query_safe('SELECT pg_backend_pid()') }
sub wait_for
{
	my ($pid, $cond, $what) = @_;
	ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $pid AND $cond", 't'), $what);
}
sub terminate
{
	my ($bg, $pid) = @_;
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
	ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid", 't'),
		'the backend is gone');
	eval { $bg->quit };
}
sub no_locks_of
{
	my ($pid) = @_;
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_locks WHERE pid = $pid"), '0',
		'it holds no lock');
}

# 1. terminated in the middle of its deletes, while a link() waits for it
#    (the map lock) and a writer of a linked row of the subject waits for it
#    (the subject's lock)
my $er = $node->background_psql('postgres');
my $erpid = pid_of($er);
$er->query_safe('SET test.slow = on');
$er->query_until(qr/go/, "\\echo go\nSELECT privacy.erase('u', '1');\n");
wait_for($erpid, q{wait_event = 'PgSleep'}, 'the erasure is deleting');
my $mc = $node->background_psql('postgres');
my $mcpid = pid_of($mc);
$mc->query_until(qr/go/, "\\echo go\nSELECT privacy.link('u', 'events', 'uid');\n");
wait_for($mcpid, q{wait_event_type = 'Lock' AND wait_event = 'advisory'}, 'link() waits for the erasure');
my $wr = $node->background_psql('postgres');
my $wrpid = pid_of($wr);
$wr->query_until(qr/go/, "\\echo go\nINSERT INTO logs (uid, what) VALUES (1, 'late');\n");
wait_for($wrpid, q{wait_event_type = 'Lock'}, 'the writer waits for the erasure');
terminate($er, $erpid);
no_locks_of($erpid);
$mc->query_safe('SELECT 1');	# link() has returned
$mc->quit;
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.links WHERE table_name = 'events'::regclass}),
	'1', 'link() went on once the erasure was gone');
# the writer that waited fails with 40001 (retry), as after any erasure
eval { $wr->{run}->finish };	# psql stops at the error (ON_ERROR_STOP)
like($wr->{stderr}, qr/could not write a row of a subject that was being erased/, 'the writer fails (40001, retry)');
is($node->safe_psql('postgres', $state_sql), $intact, 'nothing of the erasure is left');
is($node->safe_psql('postgres', 'SELECT count(*) FROM privacy.keys WHERE state = \'destroyed\''),
	'0', 'no key destroyed') if $keyed;
is($node->safe_psql('postgres', 'SELECT email FROM users_decrypted WHERE id = 1'),
	'ann@example.org', 'the subject\'s encrypted value reads') if $keyed;

# 2. terminated while it waits for a map change (a link() uncommitted)
$mc = $node->background_psql('postgres');
$mc->query_safe('BEGIN');
$mc->query_safe(q{SELECT privacy.link('u', 'extra', 'uid')});
$er = $node->background_psql('postgres');
$erpid = pid_of($er);
$er->query_until(qr/go/, "\\echo go\nSELECT privacy.erase('u', '1');\n");
wait_for($erpid, q{wait_event_type = 'Lock' AND wait_event = 'advisory'}, 'the erasure waits for link()');
terminate($er, $erpid);
no_locks_of($erpid);
$mc->query_safe('ROLLBACK');
$mc->quit;
is($node->safe_psql('postgres', $state_sql), $intact, 'nothing of the erasure is left');

# 3. the map change's session terminated while the erasure waits for it:
#    the erasure goes on with the map as it was (extra not linked)
$mc = $node->background_psql('postgres');
$mcpid = pid_of($mc);
$mc->query_safe('BEGIN');
$mc->query_safe(q{SELECT privacy.link('u', 'extra', 'uid')});
$er = $node->background_psql('postgres');
$erpid = pid_of($er);
$er->query_until(qr/go/, "\\echo go\nBEGIN;\nSELECT privacy.erase('u', '1')->'tables' AS receipt;\n");
wait_for($erpid, q{wait_event_type = 'Lock' AND wait_event = 'advisory'}, 'the erasure waits for link()');
terminate($mc, $mcpid);
my $receipt = $er->query_safe('SELECT 1');	# the erasure's output comes first
like($receipt, qr/"public.events": \{"deleted": 5/, 'the receipt counts the linked table\'s rows');
like($receipt, qr/"public.orders": \{"deleted": 5/, 'and the orders');
like($receipt, qr/"public.logs": \{"deleted": 5/, 'and the logs');
unlike($receipt, qr/extra/, 'not the table whose link was rolled back');
$er->query_safe('COMMIT');
$er->quit;
is($node->safe_psql('postgres', $state_sql), '0 0 0 0 completed 1 1 t',
	'every row of the subject is gone, the request completed, once recorded');
is($node->safe_psql('postgres', q{SELECT concat_ws(' ', (SELECT count(*) FROM users), (SELECT count(*) FROM orders),
	(SELECT count(*) FROM logs), (SELECT count(*) FROM events), (SELECT count(*) FROM extra))}), '1 5 5 5 10', 'the other subject\'s rows stay, and those of the table not linked');
is($node->safe_psql('postgres', 'SELECT count(*) FROM privacy.keys WHERE state = \'destroyed\''),
	'1', 'the subject\'s key is destroyed') if $keyed;

ok(!$node->log_contains('PANIC|TRAP'), 'no crash');
$node->stop;
done_testing();
