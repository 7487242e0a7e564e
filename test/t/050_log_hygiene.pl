# Log hygiene (issue #9 items 10 and 11): nothing personal reaches the
# server log, neither at default settings (errors of rights calls: 42704,
# 22023, 22P02, 55000, 42501 with their statement) nor with everything a
# DBA could turn on: log_statement = all, log_min_error_statement = error,
# log_min_duration_statement = 0 and auto_explain with nested statements,
# verbose output and analyze.  The log is searched for the subject id, a
# plaintext canary (an encrypted column that access() decrypts) and key
# material (the root key, the per-database secret).
#
# What the client itself writes in its statement text is logged by
# log_statement before the extension runs; the second phase passes the id
# through a table, as an application using bind parameters would not (see
# README, Security: what a DBA must not enable).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $rootkey = $ENV{PRIVACY_ROOT_KEY_FILE} or die "PRIVACY_ROOT_KEY_FILE is not set";
my $id = '918273645';
my $canary = 'canary-5f3a9e@example.org';

my $node = PostgreSQL::Test::Cluster->new('hygiene');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'privacy'
privacy.root_key_file = '$rootkey'
privacy.retention_enabled = off
log_statement = none
log_min_duration_statement = -1
));
$node->start;

$node->safe_psql('postgres', qq{
CREATE EXTENSION privacy;
CREATE ROLE regress_log_officer IN ROLE privacy_officer;
CREATE ROLE regress_log_nobody;
CREATE TABLE customer (id bigint PRIMARY KEY, email text, at timestamptz DEFAULT now());
CREATE TABLE orders (id int PRIMARY KEY, customer bigint REFERENCES customer, note text);
CREATE TABLE ids (v text);
INSERT INTO customer VALUES ($id, '$canary'), (2, 'other\@example.org');
INSERT INTO orders VALUES (1, $id, 'order of the canary');
INSERT INTO ids VALUES ('$id');
GRANT SELECT ON ids TO PUBLIC;
SELECT privacy.define_subject('customer', 'customer');
SELECT privacy.classify('customer', 'email', 'user.contact.email');
SELECT privacy.encrypt_column('customer', 'email', 'customer');
SELECT privacy.hold('customer', '2', 'litigation');
});

# --- phase 1: default log settings, ids written in the statements --------
$node->append_conf('postgresql.conf', "log_statement = none\n");
$node->reload;
my $offset = -s $node->logfile;
my @calls = (
	# 42704: unknown subject type
	qq{SELECT privacy.access('nosuch', '$id')},
	qq{SELECT privacy.erase('nosuch', '$id')},
	# 22023: a NULL argument
	qq{SELECT privacy.access(NULL, '$id')},
	qq{SELECT privacy.restrict('customer', '$id', NULL)},
	# 22P02: a bad id (itself an id)
	qq{SELECT privacy.access('customer', '${id}x')},
	# 42704: not restricted / no hold
	qq{SELECT privacy.unrestrict('customer', '$id')},
	qq{SELECT privacy.release_hold('customer', '$id')},
	# 55000: a legal hold
	qq{SELECT privacy.erase('customer', '2')},
	# an error raised by PostgreSQL itself for a statement calling us
	qq{SELECT privacy.access('customer', '$id', 1)},
);
for my $sql (@calls)
{
	my ($ret, $out, $err) = $node->psql('postgres', "SET ROLE regress_log_officer; $sql");
	isnt($ret, 0, "fails as expected: " . substr($sql, 7, 40));
}
# 42501: a role without the grant
$node->psql('postgres', qq{SET ROLE regress_log_nobody; SELECT privacy.access('customer', '$id')});
# the successful calls
$node->safe_psql('postgres', qq{SET ROLE regress_log_officer; SELECT privacy.access('customer', '$id')});

my $log = slurp_file($node->logfile, $offset);
unlike($log, qr/\Q$id\E/, 'default settings: the id is not in the log');
unlike($log, qr/\Q$canary\E/, 'default settings: the plaintext is not in the log');
like($log, qr/subject type "nosuch" does not exist/, 'the errors themselves are logged');

# --- phase 2: every statement logging a DBA could enable ------------------
$node->append_conf('postgresql.conf', qq(
session_preload_libraries = 'auto_explain'
log_statement = 'all'
log_min_error_statement = error
log_min_duration_statement = 0
auto_explain.log_min_duration = 0
auto_explain.log_nested_statements = on
auto_explain.log_verbose = on
auto_explain.log_analyze = on
auto_explain.log_parameter_max_length = -1
log_parameter_max_length = -1
log_error_verbosity = verbose
));
$node->reload;
$offset = -s $node->logfile;
my @calls2 = (
	q{SELECT privacy.access('customer', (SELECT v FROM ids))},
	q{SELECT privacy.export('customer', (SELECT v FROM ids))},
	q{SELECT privacy.is_restricted('customer', (SELECT v FROM ids))},
	q{SELECT privacy.set_consent('customer', (SELECT v FROM ids), 'newsletter', true)},
	q{SELECT privacy.has_consent('customer', (SELECT v FROM ids), 'newsletter')},
	q{SELECT privacy.restrict('customer', (SELECT v FROM ids), 'contested')},
	q{SELECT privacy.unrestrict('customer', (SELECT v FROM ids))},
	q{SELECT privacy.erase('customer', (SELECT v FROM ids), dry_run => true)},
	q{SELECT privacy.access('nosuch', (SELECT v FROM ids))},
	q{SELECT privacy.release_hold('customer', (SELECT v FROM ids))},
	q{SELECT privacy.erase('customer', (SELECT v FROM ids))},
);
for my $sql (@calls2)
{
	$node->psql('postgres', "SET ROLE regress_log_officer; $sql");
}
# an application passing the id as a bind parameter (pgbench -M extended):
# log_statement's line keeps the statement, its parameters are hidden
$node->pgbench('-n -t 1 -M extended', 0, [qr{}], [qr{}], 'a call with bind parameters',
	{ 'hygiene_bind.sql' => "SET ROLE regress_log_officer;\n\\set id $id\nSELECT privacy.access('customer', :id::text);\n" });
$log = slurp_file($node->logfile, $offset);
like($log, qr/execute <unnamed>: SELECT privacy\.access/, 'the bound call is logged');
like($log, qr/parameters: hidden by the privacy extension/, 'its parameters are not');
like($log, qr/auto_explain|duration: /, 'statement logging is on');
unlike($log, qr/\Q$id\E/, 'all logging on: the id is not in the log');
unlike($log, qr/\Q$canary\E/, 'all logging on: the plaintext is not in the log');

# --- phase 3: errors raised by others while the extension runs ------------
# A CHECK constraint that the anonymized row violates (PostgreSQL's detail:
# "Failing row contains (<id>, ..., <secret>)"), a table owner's trigger
# that quotes the row in its RAISE, and a conversion of a row's value that
# fails (22P02 quotes the value): the client and the log get the message
# without values, no detail, and a hint; the extension's own details stay.
my $secret_value = 'secret-7c1d@example.org';
my $sid = '5550123';
$node->safe_psql('postgres', qq{
CREATE TABLE staff (id bigint PRIMARY KEY, name text NOT NULL CHECK (name LIKE 'x%'), secret text);
CREATE TABLE badge (id bigint PRIMARY KEY, secret text);
CREATE TABLE visit (id bigint PRIMARY KEY, secret text);
INSERT INTO staff VALUES ($sid, 'xavier', '$secret_value');
INSERT INTO badge VALUES ($sid, '$secret_value');
INSERT INTO visit VALUES ($sid, '$secret_value');
CREATE TABLE sids (v text);
INSERT INTO sids VALUES ('$sid');
GRANT SELECT ON sids TO PUBLIC;
CREATE FUNCTION badge_refuse() RETURNS trigger LANGUAGE plpgsql AS \$\$
  BEGIN RAISE EXCEPTION 'badge % of % cannot go', OLD.id, OLD.secret USING DETAIL = OLD.secret; END \$\$;
CREATE TRIGGER badge_refuse BEFORE DELETE ON badge FOR EACH ROW EXECUTE FUNCTION badge_refuse();
CREATE FUNCTION visit_cast() RETURNS trigger LANGUAGE plpgsql AS \$\$
  BEGIN RAISE WARNING 'visit of %', OLD.secret; PERFORM CAST(OLD.secret AS int); RETURN OLD; END \$\$;
CREATE TRIGGER visit_cast BEFORE DELETE ON visit FOR EACH ROW EXECUTE FUNCTION visit_cast();
SELECT privacy.define_subject('staff', 'staff');
SELECT privacy.define_subject('badge', 'badge');
SELECT privacy.define_subject('visit', 'visit');
SELECT privacy.classify('staff', 'name', 'user.name');
SELECT privacy.set_erasure_mode('staff', 'anonymize');
});
$offset = -s $node->logfile;
my $client = '';
for my $sql (q{SELECT privacy.erase('staff', (SELECT v FROM sids))},
	q{SELECT privacy.erase('badge', (SELECT v FROM sids))},
	q{SELECT privacy.erase('visit', (SELECT v FROM sids))})
{
	my ($ret, $out, $err) = $node->psql('postgres', "SET ROLE regress_log_officer; $sql");
	isnt($ret, 0, "fails as expected: " . substr($sql, 7, 40));
	$client .= $err;
}
# (the check phase names the constraint before anything changes: "erasure
# would violate check constraint ...")
like($client, qr/(?:violates|would violate) check constraint "staff_name_check"/, 'the client gets the constraint\'s message');
like($client, qr/SQLSTATE P0001/, 'the client gets the trigger\'s SQLSTATE');
like($client, qr/SQLSTATE 22P02/, 'the client gets the conversion\'s SQLSTATE');
like($client, qr/The detail is hidden/, 'the client is told that the detail is hidden');
like($client, qr/WARNING:  a message of SQLSTATE 01000, hidden/, 'the trigger\'s warning is hidden');
unlike($client, qr/\Q$secret_value\E/, 'others\' errors: the value is not sent to the client');
unlike($client, qr/\Q$sid\E/, 'others\' errors: the id is not sent to the client');
$log = slurp_file($node->logfile, $offset);
like($log, qr/staff_name_check/, 'others\' errors are logged');
unlike($log, qr/\Q$secret_value\E/, 'others\' errors: the value is not in the log');
unlike($log, qr/\Q$sid\E/, 'others\' errors: the id is not in the log');
is($node->safe_psql('postgres', q{SELECT count(*) FROM staff WHERE name = 'xavier'}), '1',
	'nothing changed');
# the extension's own detail is kept
my ($r3, $o3, $e3) = $node->psql('postgres', qq{SET ROLE regress_log_officer; SELECT privacy.access('customer', 'not-a-number')});
like($e3, qr/DETAIL:  The id must be a valid value of type bigint/, 'our own detail is kept');

# key material, anywhere in the log
my $key = slurp_file($rootkey);
chomp $key;
my $secret = $node->safe_psql('postgres', q{SELECT encode(value, 'hex') FROM privacy.secret});
$log = slurp_file($node->logfile);
unlike($log, qr/\Q$key\E/i, 'the root key is not in the log');
unlike($log, qr/\Q$secret\E/i, 'the secret is not in the log');

$node->stop;
done_testing();
