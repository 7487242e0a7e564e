# Online root-key rotation with a streaming standby (issue #12).
#
#  - the standby learns the new key first (its keyring file, a reload), then
#    the primary; rotate_root_key re-wraps every data key on the primary
#    while sessions read on the standby (one long session and new sessions)
#    and write on the primary (new subjects get keys during the rotation):
#    no read and no write fails, nothing is restarted;
#  - keys created during and after the rotation are under the new key;
#  - the old key is retired on both servers (view says it can be);
#  - a standby whose keyring file already holds the next key but was not
#    reloaded: a backend meeting the unknown version re-reads on demand.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use File::Spec;

my $dir = File::Spec->rel2abs(PostgreSQL::Test::Utils::tempdir());

sub new_key
{
	return join '', map { sprintf '%02x', int(rand(256)) } 1 .. 32;
}

sub write_ring
{
	my ($path, @keys) = @_;
	open my $fh, '>', $path or die "$path: $!";
	print $fh "# newest first\n", join("\n", @keys), "\n";
	close $fh;
	chmod 0600, $path;
}

my ($k1, $k2, $k3) = (new_key(), new_key(), new_key());
my $ring_p = "$dir/primary.keys";
my $ring_s = "$dir/standby.keys";
write_ring($ring_p, $k1);
write_ring($ring_s, $k1);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'privacy'
privacy.root_key_file = '$ring_p'
));
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION privacy;
CREATE TABLE customers (id int PRIMARY KEY, email text);
SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.encrypt_column('customers', 'email', 'customer');
INSERT INTO customers SELECT i, 'user' || i || '@example.com' FROM generate_series(1, 3000) i;
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->append_conf('postgresql.conf', "privacy.root_key_file = '$ring_s'");
$standby->start;
$primary->wait_for_catchup($standby);

my $check = q{SELECT count(*) FROM customers_decrypted WHERE email = 'user' || id || '@example.com'};
is($standby->safe_psql('postgres', $check), '3000', 'the standby decrypts');

# the new key: the standby first, then the primary (a reload each)
write_ring($ring_s, $k2, $k1);
$standby->reload;
write_ring($ring_p, $k2, $k1);
$primary->reload;
for my $node ($primary, $standby)
{
	$node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM privacy.root_keys WHERE state <> 'missing'})
	  or die 'keyring not reloaded on ' . $node->name;
}

# readers on the standby: one long session, and a new session each time
my $reads = "$dir/reads.sql";
open my $fh, '>', $reads or die;
print $fh "SELECT 'read:' || ($check);\nSELECT pg_sleep(0.02);\n" for 1 .. 150;
close $fh;
my ($lout, $lerr) = ('', '');
my $long = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $standby->connstr('postgres'), '-f', $reads ],
	'>', \$lout, '2>', \$lerr);
my ($sout, $serr) = ('', '');
my $short = IPC::Run::start(
	[ 'bash', '-c', 'for i in $(seq 1 40); do psql -X -At -d "$1" -c "$2"; sleep 0.05; done',
	  'x', $standby->connstr('postgres'), "SELECT 'read:' || ($check)" ],
	'>', \$sout, '2>', \$serr);
# a writer on the primary: new subjects (new data keys) during the rotation
my $writes = "$dir/writes.sql";
open $fh, '>', $writes or die;
print $fh "INSERT INTO customers VALUES (" . (5000 + $_) . ", 'new$_\@example.com');\nSELECT pg_sleep(0.01);\n" for 1 .. 200;
close $fh;
my ($wout, $werr) = ('', '');
my $writer = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $primary->connstr('postgres'), '-f', $writes ],
	'>', \$wout, '2>', \$werr);

my $rewrapped = $primary->safe_psql('postgres', 'SELECT privacy.rotate_root_key()');
ok($rewrapped >= 3000, "rotate_root_key re-wrapped every data key ($rewrapped)");
$writer->finish;
$long->finish;
$short->finish;
is($werr, '', 'no write failed during the rotation');
is($lerr, '', 'no read failed in the long session on the standby');
is($serr, '', 'no read failed in new sessions on the standby');
my @longreads = ($lout =~ /^read:(\d+)$/mg);
is(scalar(@longreads), 150, 'the long session read every time');
ok(!grep({ $_ != 3000 } @longreads), 'and always every value');
my @shortreads = ($sout =~ /^read:(\d+)$/mg);
is(scalar(@shortreads), 40, 'new sessions read every time');

# keys created during and after the rotation are under the new key
$primary->safe_psql('postgres', q{INSERT INTO customers VALUES (9999, 'after@example.com')});
is($primary->safe_psql('postgres',
	q{SELECT count(*) FROM privacy.keys k, privacy.root_keys r
	   WHERE k.state = 'active' AND k.root_version = r.version AND r.state <> 'current'}),
	'0', 'every active data key is under the current root key');
is($primary->safe_psql('postgres', q{SELECT string_agg(state || ':' || can_retire, ',') FROM privacy.root_keys}),
	'current:false,old:true', 'the old key can be retired');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT string_agg(state || ':' || data_keys, ',') FROM privacy.root_keys}),
	'current:3203,old:0', 'the standby replayed the re-wrapped keys (the audit chain key among them)');

# retire the old key on both
write_ring($ring_s, $k2);
$standby->reload;
write_ring($ring_p, $k2);
$primary->reload;
for my $node ($primary, $standby)
{
	$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM privacy.root_keys})
	  or die 'keyring not reloaded on ' . $node->name;
}
is($standby->safe_psql('postgres', $check), '3000', 'the standby decrypts with the new key only');
is($primary->safe_psql('postgres', q{SELECT count(*) FROM customers_decrypted WHERE email LIKE '%@example.com'}),
	'3201', 'the primary too');

# next rotation: the standby's file holds the next key, but nobody reloads it
write_ring($ring_s, $k3, $k2);
write_ring($ring_p, $k3, $k2);
$primary->reload;
$primary->poll_query_until('postgres', q{SELECT count(*) = 2 FROM privacy.root_keys})
  or die 'keyring not reloaded';
$primary->safe_psql('postgres', 'SELECT privacy.rotate_root_key()');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT count(*) FROM privacy.root_keys WHERE state = 'missing'}), '1',
	'the standby was not reloaded: its shared keyring lacks the new version');
is($standby->safe_psql('postgres', $check), '3000',
	'a backend meeting the unknown version re-read the keyring file on demand');

# nothing secret in the logs
for my $node ($primary, $standby)
{
	my $log = slurp_file($node->logfile);
	ok($log !~ /$k1|$k2|$k3/i, 'no root key in the log of ' . $node->name);
}
done_testing();
