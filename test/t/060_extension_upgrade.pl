# ALTER EXTENSION privacy UPDATE from 0.1.0 (commit c0f650c, built from that
# tree) to this build, on a filled catalog: every record stays as it was, the
# audit chain verifies, encrypted values decrypt, retention still runs (by hand
# and by the worker), and the upgraded schema equals a fresh install's
# (pg_dump --binary-upgrade --schema-only of both, normalized).  A statement
# missing from sql/update/privacy--0.1.0--0.2.0.sql fails the last tests.
#
# 0.1.0 was built for PostgreSQL 15 only (it does not compile against 16+):
# there is no 0.1.0 installation to upgrade on a later major.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use File::Spec;

my $major = $ENV{PG_MAJOR} // 15;
plan skip_all => "0.1.0 builds on PostgreSQL 15 only (this is $major)" if $major > 15;
my $old_src = $ENV{PRIVACY_OLD_SRC};
die 'PRIVACY_OLD_SRC must name the 0.1.0 tree (test/run.sh exports it from git: tag v0.1.0 or commit c0f650c)'
  unless $old_src && -f "$old_src/privacy.control";
my $pgsys = $ENV{PRIVACY_PGSYS};
my $new = $ENV{PRIVACY_INST};

# --- an installation with 0.1.0: the system's PostgreSQL plus 0.1.0 --------
my $tmp = File::Spec->rel2abs(PostgreSQL::Test::Utils::tempdir);
my $pg_config = "$pgsys/bin/pg_config";
chomp(my $sharedir = `$pg_config --sharedir`);
chomp(my $pkglibdir = `$pg_config --pkglibdir`);
my $inst = "$tmp/inst";
system_or_bail('mkdir', '-p', "$inst$pgsys", "$inst$sharedir", "$tmp/old");
system_or_bail('cp', '-a', "$pgsys/.", "$inst$pgsys/");
system_or_bail('cp', '-a', "$sharedir/.", "$inst$sharedir/");
system_or_bail('sh', '-c', "rm -f $inst$sharedir/extension/privacy* $inst$pkglibdir/privacy.so");
system_or_bail('cp', '-a', "$old_src/.", "$tmp/old/");
system_or_bail('make', '-s', '-j2', '-C', "$tmp/old", "PG_CONFIG=$pg_config");
system_or_bail('make', '-s', '-C', "$tmp/old", 'install', "DESTDIR=$inst", "PG_CONFIG=$pg_config");

my $node = PostgreSQL::Test::Cluster->new('upgrade', install_path => "$inst$pgsys");
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privacy'
privacy.root_key_file = '$ENV{PRIVACY_ROOT_KEY_FILE}'
privacy.retention_enabled = off
privacy.retention_naptime = 1
max_worker_processes = 16
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE up; CREATE DATABASE plain; CREATE DATABASE num;');
$node->safe_psql('plain', 'CREATE EXTENSION privacy');
is($node->safe_psql('up', "CREATE EXTENSION privacy; SELECT extversion FROM pg_extension WHERE extname = 'privacy'"),
	'0.1.0', '0.1.0 installed');

# --- fill every part of the catalog through 0.1.0's API ---------------------
$node->safe_psql('up', q{
CREATE TABLE customers (id int PRIMARY KEY, name text, email text, phone text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, note text);
CREATE TABLE tickets (id int PRIMARY KEY, cust int, body text);
CREATE TABLE events (id int PRIMARY KEY, customer_id int REFERENCES customers, at timestamptz NOT NULL);
CREATE INDEX ON events (at);
INSERT INTO customers SELECT g, 'name ' || g, 'c' || g || '@example.org', '+4917' || g FROM generate_series(1, 20) g;
INSERT INTO orders SELECT g, 1 + g % 20, 'note ' || g FROM generate_series(1, 60) g;
INSERT INTO tickets SELECT g, 1 + g % 20, 'body ' || g FROM generate_series(1, 30) g;
INSERT INTO events SELECT g, 1 + g % 20, now() - interval '30 days' FROM generate_series(1, 40) g;
SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.link('customer', 'tickets', 'cust');
SELECT privacy.classify('customers', 'name', 'user.name');
SELECT privacy.classify('customers', 'email', 'user.contact.email');
SELECT privacy.classify('customers', 'phone', 'user.contact.phone_number');
SELECT privacy.classify('tickets', 'body', 'user.content');
SELECT privacy.add_recipient('mailer', 'newsletter', ARRAY['user.contact.email'], 'DE');
SELECT privacy.hold('customer', '2', 'litigation');
SELECT privacy.restrict('customer', '3', 'accuracy disputed');
SELECT privacy.set_consent('customer', '4', 'newsletter', true, 'web form');
SELECT privacy.set_consent('customer', '4', 'newsletter', false);
SELECT privacy.receive_request('export', 'customer', '5');
SELECT privacy.export('customer', '5');
SELECT privacy.receive_request('erase', 'customer', '6');
SELECT privacy.erase('customer', '6', 'request of the person');
SELECT privacy.encrypt_column('orders', 'note', 'customer');
CREATE TABLE stamps (at timestamptz PRIMARY KEY, note text);
SELECT privacy.encrypt_column('stamps', 'note');
SET TimeZone = 'UTC';
INSERT INTO stamps VALUES ('2024-01-02 03:04:05+00', 'written in UTC');
SET TimeZone = 'Asia/Kolkata';
INSERT INTO stamps VALUES ('2024-01-03 03:04:05+00', 'written in Kolkata');
RESET TimeZone;
CREATE FUNCTION stamp_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := NEW.note || '!'; RETURN NEW; END $$;
CREATE TRIGGER "~~audit" BEFORE UPDATE ON stamps FOR EACH ROW EXECUTE FUNCTION stamp_note();
SELECT privacy.create_key('spare');
SELECT privacy.add_retention('events', 'at', '10 days');
SELECT privacy.run_retention();
});
ok($node->safe_psql('up', 'SELECT privacy.verify_audit()') > 0, '0.1.0: the audit chain verifies');
# a numeric key: 0.1.0 recorded ids in the spelling given, 0.2.0 trims
# trailing zeros; the update rewrites the stored holds and restrictions
$node->safe_psql('num', q{
CREATE EXTENSION privacy;
CREATE TABLE acct (id numeric PRIMARY KEY);
CREATE TABLE ev (id int PRIMARY KEY, acct numeric REFERENCES acct);
INSERT INTO acct VALUES (1), (2), (3);
INSERT INTO ev VALUES (1, 1), (2, 2), (3, 3);
SELECT privacy.define_subject('a', 'acct');
SELECT privacy.hold('a', '1.0', 'litigation');
SELECT privacy.restrict('a', '2.00', 'dispute');
SELECT privacy.erase('a', '3.0');
});

# every row of every table, privacy's and the user's, by the columns 0.1.0 has
my $tables = $node->safe_psql('up', q{
SELECT format('%I.%I', n.nspname, c.relname) || ' ' ||
       string_agg(quote_ident(a.attname), ',' ORDER BY a.attnum)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('privacy', 'public')
 GROUP BY n.nspname, c.relname ORDER BY n.nspname, c.relname});
sub records
{
	my $out = '';
	for my $line (split /\n/, $tables)
	{
		my ($t, $cols) = split / /, $line;
		# the map is derived, not a record: 0.2.0 recomputes it per edge
		# (its rows are checked by the schema and the rights calls below)
		next if $t eq 'privacy.map';
		$out .= "$t " . $node->safe_psql('up',
			"SELECT count(*) || ' ' || coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '-')"
			  . " FROM (SELECT ROW($cols) AS r FROM $t) s") . "\n";
	}
	return $out;
}
my $decrypted = q{SELECT string_agg(id || ':' || coalesce(note, '-'), ',' ORDER BY id) FROM orders_decrypted};
my $ledger = q{SELECT privacy.erasure_ledger() - 'generated_at'};
my %before = (records => records(), decrypted => $node->safe_psql('up', $decrypted),
	ledger => $node->safe_psql('up', $ledger), audit => $node->safe_psql('up', 'SELECT privacy.verify_audit()'));
like($before{decrypted}, qr/1:note 1,/, '0.1.0: encrypted values decrypt');
for my $t (qw(subject_types links classifications recipients holds restrictions consents consent_events
	request_log retention retention_state retention_runs encrypted_columns data_keys erasures audit))
{
	like($before{records}, qr/^privacy\.$t [1-9]/m, "0.1.0: privacy.$t is filled");
}

# --- the new build, then ALTER EXTENSION UPDATE -----------------------------
$node->stop;
system_or_bail('sh', '-c', "cp $new$pkglibdir/privacy.so $inst$pkglibdir/ && "
	  . "cp $new$sharedir/extension/privacy* $inst$sharedir/extension/");
$node->start;
chomp(my $version = `sed -n "s/^default_version *= *'\\(.*\\)'/\\1/p" $ENV{PRIVACY_SRC}/privacy.control`);
for my $db ('up', 'plain', 'num')
{
	my ($ret, $stdout, $stderr) = $node->psql($db, 'ALTER EXTENSION privacy UPDATE');
	die "ALTER EXTENSION UPDATE failed in $db: $stderr" if $ret != 0;
	like($stderr, qr/WARNING:  trigger "~~audit" on table public\.stamps fires after the encryption of a column/,
		'the update warns of a user trigger that fires after an encryption')
	  if $db eq 'up';
	is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'privacy'"),
		$version, "$db: updated to $version");
}
{
	my ($ret, $out, $err) = $node->psql('num', q{SELECT privacy.erase('a', '1')});
	like($err, qr/legal hold/, 'numeric key: the hold placed as 1.0 still holds 1');
	is($node->safe_psql('num', q{SELECT privacy.is_restricted('a', '2') AND privacy.is_restricted('a', '2.0')}), 't',
		'numeric key: the restriction placed as 2.00 still restricts 2');
	# a ledger entry written as 3.0 by 0.1.0, the row back (a restore): replayed
	$node->safe_psql('num', q{INSERT INTO acct VALUES (3.0); INSERT INTO ev VALUES (3, 3)});
	$node->safe_psql('num', q{SELECT privacy.replay_erasures(privacy.erasure_ledger())});
	is($node->safe_psql('num', q{SELECT count(*) FROM acct WHERE id = 3}), '0',
		'numeric key: a 0.1.0 ledger entry still finds its subject');
}

is(records(), $before{records}, 'every record of every table is intact');

# values 0.1.0 bound to the text of a timestamptz key in the writer's session:
# read under the settings they were written with, or under the reference
# settings (UTC, ISO) from any session; new values read in every session
my $stamps = q{SELECT string_agg(note, ',' ORDER BY at) FROM stamps_decrypted};
is($node->safe_psql('up', "SET TimeZone = 'America/New_York'; SELECT note FROM stamps_decrypted WHERE at < '2024-01-02 12:00+00'"),
	'written in UTC', '0.1.0 value written in UTC reads in another time zone');
is($node->safe_psql('up', "SET TimeZone = 'Asia/Kolkata'; $stamps"), 'written in UTC,written in Kolkata',
	'0.1.0 value written in Kolkata reads under its settings');
$node->safe_psql('up', q{SET TimeZone = 'Asia/Kolkata'; INSERT INTO stamps VALUES ('2024-01-04 03:04:05+00', 'new in Kolkata')});
is($node->safe_psql('up', "SET TimeZone = 'America/New_York'; SELECT note FROM stamps_decrypted WHERE at > '2024-01-03 12:00+00'"),
	'new in Kolkata', 'a value written after the update reads in any session');
$node->safe_psql('up', q{DELETE FROM stamps WHERE at > '2024-01-03 12:00+00'});
{
	my ($ret, $out, $err) = $node->psql('up', q{UPDATE stamps SET note = 'x'});
	like($err, qr/trigger "~~audit" on table "stamps" fires after the encryption trigger/,
		'a user trigger that fires after the encryption stops the write');
	$node->safe_psql('up', q{DROP TRIGGER "~~audit" ON stamps});
}
is($node->safe_psql('up', q{SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE tgfoid = 'privacy.encrypt_trigger()'::regprocedure}),
	'~privacy_encrypt_1,~privacy_encrypt_2', 'the write triggers took their new names');
is($node->safe_psql('up', $decrypted), $before{decrypted}, 'encrypted values decrypt as before');
is($node->safe_psql('up', $ledger), $before{ledger}, 'the erasure ledger is the same');
is($node->safe_psql('up', 'SELECT privacy.verify_audit()'), $before{audit}, 'the audit chain verifies');
is($node->safe_psql('up', q{SELECT privacy.is_restricted('customer', '3') AND privacy.has_consent('customer', '4', 'newsletter') IS NOT TRUE}),
	't', 'the restriction and the withdrawn consent hold');

# the API works on the old records: erase under a per-subject key, retention
$node->safe_psql('up', q{SELECT privacy.erase('customer', '7', 'after the upgrade')});
is($node->safe_psql('up', q{SELECT count(*) FROM orders WHERE customer_id = 7}), '0',
	'erase after the upgrade');
is($node->safe_psql('up', q{SELECT count(*) FILTER (WHERE note IS NULL) || ' ' || count(*) FROM orders_decrypted}),
	'0 ' . $node->safe_psql('up', 'SELECT count(*) FROM orders'), 'the other subjects still decrypt');
$node->safe_psql('up', q{INSERT INTO events SELECT 100 + g, 1 + g % 20, '2001-01-01' FROM generate_series(1, 20) g WHERE 1 + g % 20 NOT IN (6, 7)});
is($node->safe_psql('up', 'SELECT privacy.run_retention()'), '17', 'retention runs by hand (the held subject kept)');
$node->safe_psql('up', q{INSERT INTO events SELECT 200 + g, 1, '2001-01-01' FROM generate_series(1, 5) g});
$node->append_conf('postgresql.conf', 'privacy.retention_enabled = on');
$node->reload;
ok($node->poll_query_until('up', q{SELECT count(*) = 0 FROM events WHERE id > 200}, 't'),
	'and by the worker');
ok($node->safe_psql('up', 'SELECT privacy.verify_audit()') > $before{audit}, 'the chain goes on');

# --- the upgraded schema is a fresh install's ---------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION privacy');
my $members = q{SELECT string_agg(d, E'\n' ORDER BY d)
  FROM (SELECT pg_describe_object(classid, objid, objsubid) AS d FROM pg_depend
        WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e') m};
my $fresh_members = $node->safe_psql('fresh', $members);
is($node->safe_psql('up', $members), $fresh_members, 'filled database: the same extension members');
is($node->safe_psql('plain', $members), $fresh_members, 'empty database: the same extension members');
my $config = q{SELECT string_agg(t, E'\n' ORDER BY t) FROM (SELECT c::regclass::text || ' ' || w AS t
  FROM pg_extension, unnest(extconfig, extcondition) AS u(c, w) WHERE extname = 'privacy') x};
is($node->safe_psql('plain', $config), $node->safe_psql('fresh', $config),
	'the same configuration tables (dumped with their data)');

# the dump of the extension's objects, as statements, in an order of their own
sub schema_dump
{
	my ($db) = @_;
	my ($out, $err);
	IPC::Run::run([ "$inst$pgsys/bin/pg_dump", '--schema-only', '--binary-upgrade', '--no-owner',
			'-d', $node->connstr($db) ], '>', \$out, '2>', \$err)
	  or die "pg_dump $db: $err";
	my @stmts;
	for my $s (split /;\n/, $out)
	{
		my @lines = grep { !/^--/ && !/^\s*$/ && !/pg\.dropped\./ && !/^\\(un)?restrict / } split /\n/, $s;
		next unless @lines;
		my $text = join("\n", @lines);
		# OIDs, transaction ids, sequence positions; the configuration tables
		# (listed by OID there) are compared below
		next if $text =~ /binary_upgrade_set_next_|binary_upgrade_set_pg_class_oids|pg_catalog\.setval/
		  || $text =~ /binary_upgrade_create_empty_extension|^UPDATE pg_catalog\.pg_class\nSET relfrozenxid/;
		# columns added by ALTER TABLE come last in the upgraded table
		if ($text =~ /^CREATE TABLE/)
		{
			my ($head, @cols) = @lines;
			my $tail = pop @cols;
			s/,$// for @cols;
			$text = join("\n", $head, sort(@cols), $tail);
		}
		push @stmts, $text;
	}
	return sort @stmts;
}
my @fresh = schema_dump('fresh');
my @plain = schema_dump('plain');
my %in_fresh = map { $_ => 1 } @fresh;
my %in_plain = map { $_ => 1 } @plain;
my @missing = grep { !$in_plain{$_} } @fresh;
my @extra = grep { !$in_fresh{$_} } @plain;
ok(@fresh > 100, scalar(@fresh) . ' statements in the dump of a fresh install');
is(scalar(@missing), 0, 'the upgrade misses nothing of a fresh install')
  or diag("missing after the upgrade:\n" . join(";\n", @missing));
is(scalar(@extra), 0, 'the upgrade adds nothing a fresh install lacks')
  or diag("only after the upgrade:\n" . join(";\n", @extra));

$node->stop;
done_testing();
