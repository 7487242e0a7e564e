# A base backup taken before a root-key rotation, restored after the old key
# was retired (issue #12): its data keys are wrapped under the old key, so a
# keyring without it reads nothing (55000 naming the missing version, which
# privacy.root_keys lists as missing); adding the old key to the restored
# server's keyring and reloading (no restart) makes everything readable,
# and rotating there re-wraps the restored keys under the current key.
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

sub write_ring
{
	my ($path, @keys) = @_;
	open my $fh, '>', $path or die "$path: $!";
	print $fh join("\n", @keys), "\n";
	close $fh;
	chmod 0600, $path;
}

my ($old, $new) = (new_key(), new_key());
my $ring = "$dir/primary.keys";
write_ring($ring, $old);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'privacy'
privacy.root_key_file = '$ring'
));
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION privacy;
CREATE TABLE customers (id int PRIMARY KEY, email text);
SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.encrypt_column('customers', 'email', 'customer');
INSERT INTO customers SELECT i, 'user' || i || '@example.com' FROM generate_series(1, 50) i;
});
my $oldversion = $primary->safe_psql('postgres', q{SELECT version FROM privacy.root_keys});
$primary->backup('before_rotation');

# rotate, then retire the old key on the primary
write_ring($ring, $new, $old);
$primary->reload;
$primary->poll_query_until('postgres', q{SELECT count(*) = 2 FROM privacy.root_keys}) or die;
is($primary->safe_psql('postgres', 'SELECT privacy.rotate_root_key()'), '52', 'rotated 52 data keys (51 and the audit chain key)');
write_ring($ring, $new);
$primary->reload;
$primary->poll_query_until('postgres', q{SELECT count(*) = 1 FROM privacy.root_keys}) or die;
my $read = q{SELECT count(*) FROM customers_decrypted WHERE email = 'user' || id || '@example.com'};
is($primary->safe_psql('postgres', $read), '50', 'the primary reads with the new key only');

# restore the old backup with the current keyring (new key only)
my $ring_r = "$dir/restored.keys";
write_ring($ring_r, $new);
my $restored = PostgreSQL::Test::Cluster->new('restored');
$restored->init_from_backup($primary, 'before_rotation');
$restored->append_conf('postgresql.conf', "privacy.root_key_file = '$ring_r'");
$restored->start;
my ($ret, $out, $err) = $restored->psql('postgres', "\\set VERBOSITY verbose\n$read");
isnt($ret, 0, 'the restored backup cannot be read without its root key');
like($err, qr/55000.*wrapped under another root key \(version $oldversion\)/s, '55000 naming the missing version');
like($err, qr/HINT:.*privacy\.root_key_file/, 'the hint says where to add it');
my $newversion = $restored->safe_psql('postgres', q{SELECT version FROM privacy._root_keyring()});
is($restored->safe_psql('postgres', q{SELECT string_agg(version || ':' || state || ':' || data_keys, ',' ORDER BY state) FROM privacy.root_keys}),
	"$newversion:current:0,$oldversion:missing:52",
	'privacy.root_keys lists the version the restored keys need as missing');

# add the old key to the restored server's keyring, reload, no restart
write_ring($ring_r, $new, $old);
$restored->reload;
$restored->poll_query_until('postgres', q{SELECT count(*) = 2 FROM privacy.root_keys WHERE state <> 'missing'}) or die;
is($restored->safe_psql('postgres', $read), '50', 'with the old key in its keyring the restored backup reads');
is($restored->safe_psql('postgres', 'SELECT privacy.rotate_root_key()'), '52',
	'and a rotation there re-wraps the restored keys');
is($restored->safe_psql('postgres', q{SELECT string_agg(state || ':' || data_keys || ':' || can_retire, ',') FROM privacy.root_keys}),
	'current:52:false,old:0:true', 'after which the old key can be retired there too');
done_testing();
