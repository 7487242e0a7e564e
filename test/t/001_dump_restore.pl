# Configuration survives pg_dump / pg_restore into a second database: subject
# types, links, classifications, user-added categories, erasure modes,
# recipients, requests, the audit chain and the subject_ref secret (so
# references keep matching).  The computed map is rebuilt on first use.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'privacy'\n");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
CREATE EXTENSION privacy;
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, dropped_before int, name text);
ALTER TABLE customers DROP COLUMN dropped_before;
CREATE TABLE orders (id int PRIMARY KEY, customer_id bigint REFERENCES customers, note text);
CREATE TABLE clicks (id serial PRIMARY KEY, who text);
CREATE INDEX ON clicks (who);
INSERT INTO customers VALUES (1, 'ann@example.org', 'Ann'), (2, 'bob@example.org', 'Bob');
INSERT INTO orders VALUES (10, 1, 'first'), (20, 2, 'second');
INSERT INTO clicks (who) VALUES ('1'), ('1'), ('2');
SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.link('customer', 'clicks', 'who');
INSERT INTO privacy.categories (name, parent, description) VALUES ('user.loyalty', 'user', 'Loyalty data');
SELECT privacy.classify('customers', 'email', 'user.contact.email', purposes => '{support}');
SELECT privacy.classify('customers', 'name', 'user.name', 'redact');
SELECT privacy.classify('orders', 'note', 'user.loyalty', portable => false);
SELECT privacy.set_erasure_mode('orders', 'anonymize');
SELECT privacy.add_recipient('Mailer', 'marketing', '{user.contact}', 'US');
SELECT privacy.access('customer', '1');
});
my $before = $node->safe_psql('src', q{SELECT privacy.access('customer', '1')->'data'});
my $ref_before = $node->safe_psql('src', q{SELECT subject_ref FROM privacy.requests ORDER BY id LIMIT 1});

my $dump = $node->basedir . '/src.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', $dump ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('dst'), $dump ], 'pg_restore');

is($node->safe_psql('dst', q{SELECT name || ' ' || root::text || ' ' || key_column FROM privacy.subject_types}),
	'customer customers id', 'subject type restored');
is($node->safe_psql('dst', q{SELECT string_agg(table_name::text || '.' || key_column, ',') FROM privacy.links}),
	'clicks.who', 'link restored');
is($node->safe_psql('dst', q{SELECT string_agg(column_name || ':' || category || ':' || erasure || ':' || portable, ',' ORDER BY column_name) FROM privacy.classified_columns}),
	'email:user.contact.email:redact:true,name:user.name:redact:true,note:user.loyalty:null:false',
	'classifications restored');
is($node->safe_psql('dst', q{SELECT count(*) FROM privacy.categories WHERE name = 'user.loyalty'}), '1',
	'user-defined category restored once');
is($node->safe_psql('dst', q{SELECT count(*) > 80 FROM privacy.categories}), 't', 'built-in taxonomy present');
is($node->safe_psql('dst', q{SELECT mode FROM privacy.table_modes}), 'anonymize', 'erasure mode restored');
is($node->safe_psql('dst', q{SELECT name || ' ' || country FROM privacy.recipients}), 'Mailer US', 'recipient restored');
is($node->safe_psql('dst', q{SELECT privacy.access('customer', '1')->'data'}), $before,
	'access after restore returns the same data (map rebuilt)');
is($node->safe_psql('dst', q{SELECT count(*) FROM privacy.subject_tables}), '3', 'map recomputed');
is($node->safe_psql('dst', q{SELECT subject_ref FROM privacy.requests ORDER BY id DESC LIMIT 1}), $ref_before,
	'subject_ref is the same after restore');
is($node->safe_psql('dst', q{SELECT count(*) FROM privacy.requests WHERE id <= 2}), '2', 'requests restored');
is($node->safe_psql('dst', q{SELECT count(*) FROM privacy.requests}), '3', 'the access after restore is a new request');
ok($node->safe_psql('dst', q{SELECT privacy.verify_audit()}) > 5, 'audit chain restored and verifies');
# renamed column after restore keeps working
$node->safe_psql('dst', q{ALTER TABLE customers RENAME COLUMN email TO mail});
is($node->safe_psql('dst', q{SELECT privacy.export('customer', '1')->'tables'->'public.customers'->0->>'mail'}),
	'ann@example.org', 'export follows a rename after restore');

$node->stop;
done_testing();
