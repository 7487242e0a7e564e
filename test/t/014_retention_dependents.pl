# Retention of a realistic shape (issue 11 items 1 and 6), by the worker:
# 200,000 expired messages, some with attachments, some of whose attachments
# belong to a held user, one referenced by an anonymize-mode table.  Every
# other message goes with its attachments; exactly the blocked messages stay,
# counted in the run; the deletes reach pgstat (n_tup_del, dead tuples) so
# autovacuum hears of them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('deps');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privacy'
privacy.retention_naptime = 1
privacy.retention_enabled = off
autovacuum = off
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION privacy;
CREATE TABLE users (id int PRIMARY KEY, name text);
CREATE TABLE messages (id int PRIMARY KEY, user_id int REFERENCES users, sent_at timestamptz NOT NULL, body text);
CREATE INDEX ON messages (sent_at);
CREATE INDEX ON messages (user_id);
CREATE TABLE attachments (id int PRIMARY KEY, message_id int NOT NULL REFERENCES messages,
	owner_id int REFERENCES users, name text);
CREATE INDEX ON attachments (message_id);
CREATE INDEX ON attachments (owner_id);
CREATE TABLE invoices (id int PRIMARY KEY, message_id int REFERENCES messages, amount int);
CREATE INDEX ON invoices (message_id);
INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 1000) g;
-- 200,000 expired messages in random order and random ages, 1,000 recent
INSERT INTO messages
SELECT g, 1 + g % 1000, now() - interval '100 days' - random() * interval '300 days', 'body ' || g
  FROM generate_series(1, 200000) g ORDER BY random();
INSERT INTO messages SELECT 200000 + g, 1, now() - random() * interval '20 days', 'recent'
  FROM generate_series(1, 1000) g;
-- 2,000 attachments; those on messages divisible by 997 belong to user 7 (held)
INSERT INTO attachments
SELECT g, g * 97, CASE WHEN (g * 97) % 997 = 0 THEN 7 ELSE 1 + g % 1000 END, 'a' || g
  FROM generate_series(1, 2000) g;
INSERT INTO invoices VALUES (1, 4242, 10);
SELECT privacy.define_subject('user', 'users');
SELECT privacy.set_erasure_mode('invoices', 'anonymize');
SELECT privacy.hold('user', '7', 'litigation');
});
# messages of user 7 themselves are held (counted as held, not blocked)
my $must_stay = q{SELECT count(*) FROM messages m WHERE m.sent_at < now() - interval '30 days'
	AND (m.user_id = 7
	  OR EXISTS (SELECT FROM attachments a WHERE a.message_id = m.id AND a.owner_id = 7)
	  OR EXISTS (SELECT FROM invoices i WHERE i.message_id = m.id))};
my $blocked_expected = $node->safe_psql('postgres', q{SELECT count(*) FROM messages m
	WHERE m.sent_at < now() - interval '30 days' AND m.user_id <> 7
	  AND (EXISTS (SELECT FROM attachments a WHERE a.message_id = m.id AND a.owner_id = 7)
	    OR EXISTS (SELECT FROM invoices i WHERE i.message_id = m.id))});
my $stay = $node->safe_psql('postgres', $must_stay);
ok($blocked_expected > 0, "some messages must be blocked ($blocked_expected)");
my $att_stay = $node->safe_psql('postgres', q{SELECT count(*) FROM attachments a
	JOIN messages m ON m.id = a.message_id
	WHERE m.user_id = 7 OR EXISTS (SELECT FROM attachments b WHERE b.message_id = m.id AND b.owner_id = 7)
	   OR EXISTS (SELECT FROM invoices i WHERE i.message_id = m.id)});

$node->safe_psql('postgres', q{SELECT privacy.add_retention('messages', 'sent_at', '30 days')});
$node->safe_psql('postgres', 'SELECT pg_stat_force_next_flush()');
my $del_before = $node->safe_psql('postgres',
	"SELECT n_tup_del FROM pg_stat_user_tables WHERE relname = 'messages'");
$node->append_conf('postgresql.conf', 'privacy.retention_enabled = on');
$node->reload;

ok($node->poll_query_until('postgres', q{SELECT count(*) FROM messages WHERE sent_at < now() - interval '30 days'}, $stay),
	'the worker deletes every expired message that may go');
is($node->safe_psql('postgres', $must_stay), $stay, 'exactly the messages that must stay are left');
is($node->safe_psql('postgres', 'SELECT count(*) FROM messages'), $stay + 1000, 'recent messages stay');
is($node->safe_psql('postgres', 'SELECT count(*) FROM attachments'), $att_stay,
	'the attachments of deleted messages went with them');
is($node->safe_psql('postgres', 'SELECT count(*) FROM invoices'), '1', 'the kept invoice stays');
is($node->safe_psql('postgres', 'SELECT blocked FROM privacy.retention_runs ORDER BY id LIMIT 1'),
	$blocked_expected, 'the run counts the blocked messages');
is($node->safe_psql('postgres', 'SELECT rows, dependents FROM privacy.retention_runs ORDER BY id LIMIT 1'),
	(200000 - $stay + 2000 - $att_stay) . '|' . (2000 - $att_stay),
	'the run counts the deleted messages and attachments');
ok($node->safe_psql('postgres', 'SELECT error IS NULL FROM privacy.retention_runs ORDER BY id LIMIT 1') eq 't',
	'the policy never fails');
ok($node->log_contains('skipped \d+ expired rows? that a row of public\.(attachments|invoices) depends on'),
	'one WARNING names the blocking table');

# the worker reported its deletes to the statistics system
my $gone = 200000 - $stay;
ok($node->poll_query_until('postgres', "SELECT n_tup_del - $del_before >= $gone AND n_dead_tup > 0
	FROM pg_stat_user_tables WHERE relname = 'messages'", 't'),
	'n_tup_del and n_dead_tup show the deletes');

$node->stop;
done_testing();
