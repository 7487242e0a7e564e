# Encrypted columns across backups, restores, root keys and dumps.
#
#  - pg_basebackup, then a subject's key is destroyed on the primary; the
#    backup restored elsewhere with the same root key still decrypts that
#    subject's values: the wrapped key is in the backup.  Replaying the
#    erasure ledger there is what destroys it (TODO below, with erase).
#  - a restore with another root key decrypts nothing (55000 with a hint);
#  - a missing root key file: the server starts, functions fail with 55000;
#  - online rotation with a keyring file of its own, then retiring the old key;
#  - pg_dump / restore into another database with the same root key.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Spec;

my $rootkey = $ENV{PRIVACY_ROOT_KEY_FILE} or die "PRIVACY_ROOT_KEY_FILE is not set";

sub key_file
{
	my ($path) = @_;
	my $hex = join '', map { sprintf '%02x', int(rand(256)) } 1 .. 32;
	open my $fh, '>', $path or die "$path: $!";
	print $fh "$hex\n";
	close $fh;
	chmod 0600, $path;
	return $path;
}

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'privacy'
privacy.root_key_file = '$rootkey'
));
$primary->start;

# the stored key id of a text ciphertext ("pv1:" + base64)
my $key_of = q{('x' || encode(substr(decode(rpad(substr(v, 5), (length(v) - 4 + 3) / 4 * 4, '='),
	'base64'), 1, 8), 'hex'))::bit(64)::bigint};

$primary->safe_psql('postgres', qq{
CREATE EXTENSION privacy;
CREATE TABLE customers (id int PRIMARY KEY, email text);
CREATE TABLE notes (id int PRIMARY KEY, customer_id int REFERENCES customers, body text);
SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.encrypt_column('customers', 'email', 'customer');
SELECT privacy.encrypt_column('notes', 'body', 'customer');
INSERT INTO customers VALUES (1, 'one\@example.com'), (2, 'two\@example.com');
INSERT INTO notes VALUES (10, 1, 'note of one'), (20, 2, 'note of two');
CREATE FUNCTION key_of(v text) RETURNS bigint LANGUAGE sql AS \$\$ SELECT $key_of \$\$;
-- a copy of the ciphertexts, as an export or a side table would hold them
CREATE TABLE email_copy AS SELECT id, email FROM customers;
});

my $read = q{SELECT string_agg(coalesce(email, '<null>'), ',' ORDER BY id) FROM customers_decrypted};
is($primary->safe_psql('postgres', $read), 'one@example.com,two@example.com', 'primary decrypts');

$primary->backup('before_shred');

# shred customer 1 on the primary (erase with strategy shred does the same
# through KeysShredSubject)
$primary->safe_psql('postgres', q{
SELECT privacy.destroy_key(k.id) FROM privacy.data_keys k
 WHERE k.id = (SELECT key_of(email) FROM customers WHERE id = 1)});
is($primary->safe_psql('postgres', $read), '<null>,two@example.com',
	'primary: the shredded subject reads as NULL, the other one decrypts');
is($primary->safe_psql('postgres', 'SELECT body FROM notes_decrypted WHERE id = 10'), '',
	'primary: every value of the shredded subject is gone');

# restore the older backup elsewhere with the same root key
my $restored = PostgreSQL::Test::Cluster->new('restored');
$restored->init_from_backup($primary, 'before_shred');
$restored->start;
is($restored->safe_psql('postgres', $read), 'one@example.com,two@example.com',
	'restored backup (older than the shred, same root key) still holds the wrapped key');

# The erasure reaches the restored backup through the ledger.  On the
# primary, erase customer 1 (its key was destroyed above, so the receipt
# shreds nothing new); the ledger lists it by subject_ref only.  Replayed on
# the restored copy, it deletes customer 1's rows there and destroys its key
# (active in the backup): customer 1's ciphertexts do not decrypt there any
# more, in every copy, because the key is gone; customer 2's still do.
$primary->safe_psql('postgres', q{SELECT privacy.erase('customer', '1')});
my $ledger = $primary->safe_psql('postgres', q{SELECT privacy.erasure_ledger()});
unlike($ledger, qr/one\@example/, 'the ledger holds no personal data');
my $copy_read = q{SELECT string_agg(coalesce(privacy.read_encrypted(c.email, e.id, c.id), '<null>'), ',' ORDER BY c.id)
  FROM email_copy c, privacy.encrypted_columns e WHERE e.table_name = 'customers'::regclass AND e.column_name = 'email'};
is($restored->safe_psql('postgres', $copy_read), 'one@example.com,two@example.com',
	'restored: before the replay, the copy of customer 1 still decrypts');
my $replay = $restored->safe_psql('postgres', qq{SELECT r->>'matched' || ',' || (r->>'keys_shredded')
  FROM (SELECT privacy.replay_erasures('$ledger'::jsonb) AS r) s});
# (keys_shredded adds up the receipts': the replayed erasure destroyed the key)
is($replay, '1,1', 'replay finds customer 1 in the restored data and erases it');
is($restored->safe_psql('postgres', q{SELECT count(*) FROM customers WHERE id = 1}), '0',
	'restored: customer 1 is erased again');
is($restored->safe_psql('postgres', $copy_read), '<null>,two@example.com',
	'restored: customer 1 no longer decrypts anywhere (its key was destroyed by the replay), customer 2 does');
is($restored->safe_psql('postgres', q{SELECT string_agg(state, ',' ORDER BY id) FROM privacy.keys WHERE subject = 'customer'}),
	'destroyed,active', 'restored: the key of customer 1 is destroyed');

# a copy started with another root key decrypts nothing
my $keydir = File::Spec->rel2abs(PostgreSQL::Test::Utils::tempdir());
my $otherkey = key_file("$keydir/other.key");
my $stranger = PostgreSQL::Test::Cluster->new('stranger');
$stranger->init_from_backup($primary, 'before_shred');
$stranger->append_conf('postgresql.conf', "privacy.root_key_file = '$otherkey'");
$stranger->start;
my ($ret, $out, $err) = $stranger->psql('postgres', $read);
isnt($ret, 0, 'another root key cannot unwrap the data keys');
like($err, qr/wrapped under another root key/, 'and says so');
$stranger->stop;

# a missing root key file: the server starts, functions fail with 55000
$stranger->append_conf('postgresql.conf', "privacy.root_key_file = '/nonexistent/root.key'");
$stranger->start;
($ret, $out, $err) = $stranger->psql('postgres',
	q{\set VERBOSITY verbose
SELECT privacy.encrypt('x', 1)});
like($err, qr/55000.*no root key is configured/s, 'no root key: 55000');
like($err, qr/HINT:.*privacy\.root_key_file/, 'the hint names privacy.root_key_file');
like(slurp_file($stranger->logfile), qr/privacy: could not load the root keyring .*could not open the root key file/,
	'the server log says why');
$stranger->stop;

# root key rotation on the restored copy, online: a keyring file of its own
# with the new key first, a reload, rotate_root_key, no restart
my $newkey = key_file("$keydir/new.key");
my $newhex = slurp_file($newkey);
$newhex =~ s/\s+//g;
my $oldhex = slurp_file($rootkey);
$oldhex =~ s/\s+//g;
my $ring = "$keydir/ring.key";
sub write_ring
{
	open my $fh, '>', $ring or die "$ring: $!";
	print $fh join("\n", @_), "\n";
	close $fh;
	chmod 0600, $ring;
}
write_ring($newhex, $oldhex);
$restored->append_conf('postgresql.conf', "privacy.root_key_file = '$ring'");
$restored->reload;
$restored->poll_query_until('postgres', q{SELECT count(*) = 2 FROM privacy.root_keys WHERE state <> 'missing'})
  or die 'the keyring was not reloaded';
is($restored->safe_psql('postgres', "SELECT privacy.rotate_root_key('$newkey')"), '4',
	'rotate_root_key re-wraps every active key (2 column keys, the 1 subject key left, the audit chain key)');
is($restored->safe_psql('postgres', $read), 'two@example.com',
	'right after the rotation a new session decrypts, with no restart');
# retire the old key: nothing needs it any more
is($restored->safe_psql('postgres', q{SELECT string_agg(state || ':' || data_keys || ':' || can_retire, ',') FROM privacy.root_keys}),
	'current:4:false,old:0:true', 'privacy.root_keys: the old key can be retired');
write_ring($newhex);
$restored->reload;
$restored->poll_query_until('postgres', q{SELECT count(*) = 1 FROM privacy.root_keys})
  or die 'the keyring was not reloaded';
is($restored->safe_psql('postgres', $read), 'two@example.com',
	'after retiring the old key, everything decrypts');
unlike(slurp_file($restored->logfile), qr/\Q$newhex\E/i, 'the new root key is not in the server log');

# pg_dump / restore into another database with the same root key
$primary->safe_psql('postgres', 'CREATE DATABASE copy');
my $dump = "$keydir/dump.sql";
$primary->command_ok([ 'pg_dump', '-d', $primary->connstr('postgres'), '-f', $dump ], 'pg_dump');
$primary->command_ok([ 'psql', '-X', '-q', '-d', $primary->connstr('copy'), '-f', $dump ], 'restore');
is($primary->safe_psql('copy', $read), 'two@example.com', 'restored dump decrypts');
$primary->safe_psql('copy', q{INSERT INTO customers_decrypted VALUES (3, 'three@example.com');
UPDATE customers_decrypted SET email = 'deux@example.com' WHERE id = 2;});
is($primary->safe_psql('copy', $read), 'deux@example.com,three@example.com',
	'writes through the restored view work');
is($primary->safe_psql('copy', q{SELECT count(*) FROM customers WHERE email LIKE '%example%'}), '0',
	'the restored table holds ciphertext only');

# pg_restore --clean of a custom-format dump into the database that has the
# tables, in one transaction: it drops each table's triggers, then its
# primary key, then the table (the primary-key guard refused the key's drop)
my $cdump = "$keydir/dump.custom";
$primary->command_ok([ 'pg_dump', '-Fc', '-d', $primary->connstr('postgres'), '-f', $cdump ],
	'pg_dump -Fc');
$primary->command_ok(
	[ 'pg_restore', '--clean', '--if-exists', '--single-transaction', '--exit-on-error',
	  '-d', $primary->connstr('copy'), $cdump ],
	'pg_restore --clean into a database with the encrypted table');
is($primary->safe_psql('copy', $read), 'two@example.com', 'the cleaned and restored dump decrypts');

# the ciphertext CHECK constraints came back with the tables: with the
# triggers disabled, plaintext is still refused (23514)
my $checks = q{SELECT string_agg(c.conrelid::regclass || ' ' || pg_get_constraintdef(c.oid), ', ' ORDER BY 1)
  FROM pg_constraint c WHERE c.conname LIKE 'privacy_ciphertext_%'};
is($primary->safe_psql('copy', $checks), $primary->safe_psql('postgres', $checks),
	'the restored tables have their ciphertext checks');
my ($rc, $out, $err) = $primary->psql('copy', q{ALTER TABLE customers DISABLE TRIGGER USER;
INSERT INTO customers VALUES (9, 'nine@example.com');});
like($err, qr/not a ciphertext/, 'restored: plaintext with triggers disabled is refused');
unlike($err, qr/nine\@example/, 'and the message does not print it');

done_testing();
