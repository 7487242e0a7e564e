# privacy.root_key_command (issue #12): the keyring from a command's output,
# as from a KMS.
#
#  - a script that prints the keyring: loaded at start, re-run on reload;
#  - %v: a backend meeting a version the keyring lacks runs the command with
#    %v set to it (a KMS fetching an old key version) and reads;
#  - a script that fails: a LOG line with the exit status (never its output),
#    the keyring in use stays; at start the server starts and encrypted
#    columns fail with 55000 and a hint;
#  - the key never reaches the log (not even when the command prints it on
#    its standard error), pg_settings for a non-superuser, or
#    pg_stat_activity.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Spec;

my $dir = File::Spec->rel2abs(PostgreSQL::Test::Utils::tempdir());

sub new_key
{
	return join '', map { sprintf '%02x', int(rand(256)) } 1 .. 32;
}

sub write_file
{
	my ($path, $text, $mode) = @_;
	open my $fh, '>', $path or die "$path: $!";
	print $fh $text;
	close $fh;
	chmod $mode, $path;
}

my ($k1, $k2) = (new_key(), new_key());
# the "KMS": one file per key version; %v empty means the current keyring
my $kms = "$dir/kms";
mkdir $kms;
write_file("$kms/current", "$k1\n", 0600);
my $get = "$dir/getkey.sh";
write_file($get, <<"SH", 0700);
#!/bin/sh
# \$1: a version to fetch, or empty for the current keyring; a careless
# script that also prints the key on its standard error (a debug trace)
if [ -n "\$1" ]; then
	[ -f "$kms/\$1" ] || { echo "no such version" >&2; exit 4; }
	cat "$kms/\$1"
	cat "$kms/\$1" >&2
else
	cat "$kms/current"
	echo "debug: fetched \$(cat "$kms/current")" >&2
fi
SH
my $fail = "$dir/fail.sh";
write_file($fail, "#!/bin/sh\necho 'OUTPUT-MUST-NOT-BE-LOGGED'\necho 'STDERR-MUST-NOT-BE-LOGGED' >&2\nexit 3\n", 0700);

my $node = PostgreSQL::Test::Cluster->new('kms');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'privacy'
privacy.root_key_command = '$get %v'
));
$node->start;
like(slurp_file($node->logfile), qr/root keyring loaded from privacy\.root_key_command: 1 key/,
	'the keyring was loaded from the command at start');
$node->safe_psql('postgres', q{
CREATE EXTENSION privacy;
CREATE TABLE customers (id int PRIMARY KEY, email text);
SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.encrypt_column('customers', 'email', 'customer');
INSERT INTO customers SELECT i, 'user' || i || '@example.com' FROM generate_series(1, 20) i;
});
my $read = q{SELECT count(*) FROM customers_decrypted WHERE email = 'user' || id || '@example.com'};
is($node->safe_psql('postgres', $read), '20', 'values encrypted under the key from the command');
my $v1 = $node->safe_psql('postgres', q{SELECT version FROM privacy.root_keys});

# rotation: the KMS now serves k2 as the current key, k1 by its version
write_file("$kms/current", "$k2\n", 0600);
write_file("$kms/$v1", "$k1\n", 0600);
$node->reload;
$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM privacy._root_keyring() WHERE version <> '} . $v1 . q{'})
  or die 'the command was not re-run on reload';
is($node->safe_psql('postgres', q{SELECT string_agg(state, ',' ORDER BY state) FROM privacy.root_keys}),
	'current,missing', 'after the reload the keyring holds only the new key; the old version is missing');
is($node->safe_psql('postgres', $read), '20',
	'a backend meeting the old version fetched it with %v and reads');
is($node->safe_psql('postgres', 'SELECT privacy.rotate_root_key()'), '22', 'rotation re-wraps the 22 keys (21 and the audit chain key)');
is($node->safe_psql('postgres', q{SELECT string_agg(state || ':' || data_keys, ',') FROM privacy.root_keys}),
	'current:22', 'nothing needs the old version any more');

# a failing command on reload: logged with its status, keyring unchanged
$node->append_conf('postgresql.conf', "privacy.root_key_command = '$fail'");
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('privacy.root_key_command') LIKE '%fail.sh'}) or die;
my $log = slurp_file($node->logfile);
like($log, qr/could not reload the root keyring from privacy\.root_key_command: the command failed: child process exited with exit code 3; the keyring in use is unchanged/,
	'a failing command is a LOG line with its exit status');
unlike($log, qr/OUTPUT-MUST-NOT-BE-LOGGED/, 'its output is not logged');
unlike($log, qr/STDERR-MUST-NOT-BE-LOGGED/, 'nor its standard error');
is($node->safe_psql('postgres', $read), '20', 'reads go on with the keyring in use');
$node->safe_psql('postgres', q{INSERT INTO customers VALUES (21, 'user21@example.com')});
is($node->safe_psql('postgres', $read), '21', 'and writes');

# a failing command at start: the server starts, encryption says why not
$node->restart;
my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$read");
like($err, qr/55000.*no root key is configured/s, 'at start: 55000');
like($err, qr/HINT:.*privacy\.root_key_command/, 'the hint names privacy.root_key_command');
like(slurp_file($node->logfile), qr/could not load the root keyring from privacy\.root_key_command: the command failed: child process exited with exit code 3; encrypted columns are unavailable/,
	'the log says why');

# back to the working command: a reload is enough
$node->append_conf('postgresql.conf', "privacy.root_key_command = '$get %v'");
$node->reload;
$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM privacy._root_keyring()}) or die;
is($node->safe_psql('postgres', $read), '21', 'after fixing the command and reloading, everything reads');

# the key is nowhere to be seen
$node->safe_psql('postgres', 'CREATE ROLE regress_nobody LOGIN');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_settings WHERE name LIKE 'privacy.root_key%'}, extra_params => [ '-U', 'regress_nobody' ]),
	'0', 'a non-superuser does not see the settings');
($ret, $out, $err) = $node->psql('postgres', 'SHOW privacy.root_key_command', extra_params => [ '-U', 'regress_nobody' ]);
like($err, qr/must be superuser|permission denied/, 'nor SHOW them');
my $activity = $node->safe_psql('postgres', q{SELECT string_agg(coalesce(query, ''), ' ') FROM pg_stat_activity});
ok($activity !~ /$k1|$k2/i, 'no key in pg_stat_activity');
$log = slurp_file($node->logfile);
ok($log !~ /$k1|$k2/i, 'no key in the server log');
done_testing();
