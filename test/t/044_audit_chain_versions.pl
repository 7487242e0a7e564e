# The audit chain across its key versions (issue #9, item 12):
#
#  - a database that starts without a root key chains its entries under the
#    secret (version 1); once a root key is loaded, the next entry switches
#    the chain to version 2 for good (a data key "privacy:audit" wrapped
#    under the root key, recorded in the chain head), and the whole chain,
#    both versions, verifies; an anchor made under version 2 says so;
#  - an entry of version 2 relabelled as version 1 is a break (no downgrade);
#  - without its root key, a version-2 chain can neither be verified nor
#    extended: 55000, never a silent fallback to the secret; with the key
#    back, both work again and the chain has no gap.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Spec;

my $dir = File::Spec->rel2abs(PostgreSQL::Test::Utils::tempdir());
my $keyfile = "$dir/root.key";
open my $fh, '>', $keyfile or die "$keyfile: $!";
print $fh join('', map { sprintf '%02x', int(rand(256)) } 1 .. 32), "\n";
close $fh;
chmod 0600, $keyfile;

my $node = PostgreSQL::Test::Cluster->new('chain');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'privacy'\n");
$node->start;

# no root key: version 1
$node->safe_psql('postgres', q{
	CREATE EXTENSION privacy;
	SELECT privacy._audit('before_key', NULL, NULL) FROM generate_series(1, 3);
});
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT coalesce(chain::text, 'null'), ',') FROM privacy.audit}),
	'1', 'without a root key the chain is keyed by the secret (version 1)');
is($node->safe_psql('postgres', q{SELECT key_id IS NULL FROM privacy.audit_head}), 't',
	'and the head records no data key');

# a root key: the next entry switches to version 2
$node->append_conf('postgresql.conf', "privacy.root_key_file = '$keyfile'\n");
$node->restart;
$node->safe_psql('postgres', q{SELECT privacy._audit('after_key', NULL, NULL) FROM generate_series(1, 2)});
is($node->safe_psql('postgres', q{SELECT string_agg(coalesce(chain::text, 'null'), ',' ORDER BY seq) FROM privacy.audit}),
	'1,1,1,2,2', 'with a root key the chain goes on under version 2');
is($node->safe_psql('postgres', q{SELECT k.name FROM privacy.audit_head h JOIN privacy.keys k ON k.id = h.key_id}),
	'privacy:audit', 'the head names the wrapped chain key');
is($node->safe_psql('postgres', 'SELECT privacy.verify_audit()'), '5', 'both versions verify');
my $anchor = $node->safe_psql('postgres', 'SELECT privacy.audit_anchor()');
like($anchor, qr/"v": 2/, 'an anchor of a version-2 chain says so');
is($node->safe_psql('postgres', "SELECT privacy.verify_audit('$anchor')"), '5', 'and verifies');

# relabelling a version-2 entry as version 1 is a downgrade
my ($ret, $out, $err) = $node->psql('postgres', q{
	ALTER TABLE privacy.audit DISABLE TRIGGER audit_append_only;
	UPDATE privacy.audit SET chain = 1 WHERE seq = 5;
	ALTER TABLE privacy.audit ENABLE TRIGGER audit_append_only;
	SELECT privacy.verify_audit();
});
like($err, qr/audit log chain is broken at seq 5/, 'a downgraded entry breaks the chain');
$node->safe_psql('postgres', q{
	ALTER TABLE privacy.audit DISABLE TRIGGER audit_append_only;
	UPDATE privacy.audit SET chain = 2 WHERE seq = 5;
	ALTER TABLE privacy.audit ENABLE TRIGGER audit_append_only;
});

# the root key gone: no verification, no append, no fallback
$node->append_conf('postgresql.conf', "privacy.root_key_file = ''\n");
$node->restart;
($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nSELECT privacy.verify_audit()");
like($err, qr/55000.*no root key is loaded/s, 'without the root key the chain cannot be verified (55000)');
($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nSELECT privacy._audit('no_key', NULL, NULL)");
like($err, qr/55000/, 'nor extended (55000)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM privacy.audit WHERE chain = 1 AND seq > 3}), '0',
	'and nothing was appended under the secret');

# the key back: everything works again, no gap
$node->append_conf('postgresql.conf', "privacy.root_key_file = '$keyfile'\n");
$node->restart;
$node->safe_psql('postgres', q{SELECT privacy._audit('key_back', NULL, NULL)});
is($node->safe_psql('postgres', 'SELECT privacy.verify_audit()'), '6', 'with the key back the chain verifies and goes on');
is($node->safe_psql('postgres', "SELECT privacy.verify_audit('$anchor')"), '6', 'and still extends the anchor');
ok(!$node->log_contains(substr(slurp_file($keyfile), 0, 16)), 'the root key is not in the log');

$node->stop;
done_testing();
