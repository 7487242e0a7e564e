-- Retention with dependents (issue 11 items 1, 2; issue 10 item 1): an
-- expiring row takes the rows that reference it with it, children first; a
-- dependent that must stay blocks only that row, counted and reported; a
-- shared referenced row is held when any of its subjects is; a value that
-- merely looks like a pseudonym is pseudonymized all the same.
CREATE EXTENSION privacy;
SET client_min_messages = warning;
CREATE TABLE users (id int PRIMARY KEY, name text);
CREATE TABLE messages (id int PRIMARY KEY, sent_at timestamptz NOT NULL, body text);
CREATE INDEX ON messages (sent_at);
CREATE TABLE attachments (id int PRIMARY KEY, message_id int REFERENCES messages,
	user_id int REFERENCES users, data text);
CREATE INDEX ON attachments (message_id);
CREATE TABLE thumbs (id int PRIMARY KEY, attachment_id int REFERENCES attachments);
CREATE TABLE invoices (id int PRIMARY KEY, message_id int REFERENCES messages, amount int);
CREATE TABLE notes (id int PRIMARY KEY, message_id int REFERENCES messages ON DELETE SET NULL);
CREATE TABLE stars (id int PRIMARY KEY, message_id int REFERENCES messages ON DELETE CASCADE);
INSERT INTO users VALUES (1, 'ann'), (2, 'bob');
INSERT INTO messages SELECT g, now() - interval '100 days', 'm' || g FROM generate_series(1, 100) g;
INSERT INTO messages VALUES (1000, now(), 'fresh');
-- attachments of messages 1..5 belong to ann, of 6..10 to bob (held below)
INSERT INTO attachments SELECT g, g, CASE WHEN g <= 5 THEN 1 ELSE 2 END, 'x' FROM generate_series(1, 10) g;
INSERT INTO thumbs VALUES (1, 1), (2, 2);
INSERT INTO invoices VALUES (1, 20, 5);		-- anonymize mode: must stay
INSERT INTO notes VALUES (1, 30);			-- SET NULL: stays, PostgreSQL resets its key
INSERT INTO stars VALUES (1, 40);			-- CASCADE
SELECT privacy.define_subject('user', 'users');
SELECT privacy.set_erasure_mode('invoices', 'anonymize');
SELECT privacy.hold('user', '2', 'litigation');
SET client_min_messages = warning;
BEGIN;
SELECT privacy.add_retention('messages', 'sent_at', '30 days') AS p \gset
SELECT privacy.run_retention(:p) AS deleted;
COMMIT;
SELECT array_agg(id ORDER BY id) AS messages_left FROM messages;
SELECT array_agg(id ORDER BY id) AS attachments_left FROM attachments;
SELECT count(*) AS thumbs_left FROM thumbs;
SELECT * FROM invoices;
SELECT * FROM notes;
SELECT count(*) AS stars_left FROM stars;
-- rows counts every row deleted, the dependents (attachments, thumbs, stars)
-- included, as run_retention's result does (before, the messages only)
SELECT rows, dependents, held, blocked, blocked_by, error FROM privacy.retention_runs WHERE policy = :p ORDER BY id;
SELECT policy, last_blocked, blocked_by, error FROM privacy.retention_status WHERE policy = :p;
-- independent check: every message left is exactly one that a row that must stay references
SELECT count(*) AS unexplained FROM messages m
 WHERE m.sent_at < now() - interval '30 days'
   AND NOT EXISTS (SELECT FROM attachments a WHERE a.message_id = m.id AND a.user_id = 2)
   AND NOT EXISTS (SELECT FROM invoices i WHERE i.message_id = m.id);
-- the hold released: the blocked rows go with their attachments
BEGIN;
SELECT privacy.release_hold('user', '2');
SELECT privacy.run_retention(:p) AS deleted_after_release;
COMMIT;
SELECT array_agg(id ORDER BY id) AS messages_left FROM messages;
SELECT count(*) AS attachments_left FROM attachments;

-- cascade => false: any dependent through a NO ACTION key blocks
CREATE TABLE posts (id int PRIMARY KEY, at date NOT NULL);
CREATE TABLE comments (id int PRIMARY KEY, post_id int REFERENCES posts);
INSERT INTO posts SELECT g, '2000-01-01' FROM generate_series(1, 5) g;
INSERT INTO comments VALUES (1, 1), (2, 1), (3, 2);
BEGIN;
SELECT privacy.add_retention('posts', 'at', '1 year', cascade => false) AS p2 \gset
SELECT privacy.run_retention(:p2) AS deleted;
COMMIT;
SELECT array_agg(id ORDER BY id) AS posts_left, (SELECT count(*) FROM comments) AS comments_left FROM posts;
SELECT rows, blocked, blocked_by FROM privacy.retention_runs WHERE policy = :p2 ORDER BY id LIMIT 1;
SELECT cascade FROM privacy.retention_policies WHERE policy = :p2;

-- a referenced row shared by two customers, one of them held: it is held
CREATE TABLE addresses (id int PRIMARY KEY, street text NOT NULL, updated date NOT NULL);
CREATE TABLE customers (id int PRIMARY KEY, address_id int REFERENCES addresses);
INSERT INTO addresses VALUES (1, 'Shared Street 1', '2000-01-01'), (2, 'Own Street 2', '2000-01-01');
INSERT INTO customers VALUES (1, 1), (2, 1), (3, 2);
SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.classify('addresses', 'street', 'user.contact.address', 'redact');
SELECT privacy.hold('customer', '2', 'case 7');
BEGIN;
SELECT privacy.add_retention('addresses', 'updated', '1 year', 'anonymize') AS p3 \gset
SELECT privacy.run_retention(:p3) AS anonymized;
COMMIT;
SELECT id, street FROM addresses ORDER BY id;

-- values that look like pseudonyms are rewritten; a second pass rewrites nothing
CREATE TABLE phones (id int PRIMARY KEY, seen date NOT NULL, phone varchar(10),
	token text, raw bytea);
INSERT INTO phones VALUES
	(1, '2000-01-01', '0612345678', '0123456789abcdef0123456789abcdef', '\x00112233445566778899aabbccddeeff'),
	(2, current_date, '0698765432', 'fedcba9876543210fedcba9876543210', '\x01');
SELECT privacy.classify('phones', 'phone', 'user.contact.phone_number', 'hash');
SELECT privacy.classify('phones', 'token', 'user.device.device_id', 'hash');
SELECT privacy.classify('phones', 'raw', 'user.device.cookie_id', 'hash');
CREATE TABLE phones_before AS SELECT * FROM phones;
BEGIN;
SELECT privacy.add_retention('phones', 'seen', '1 year', 'anonymize') AS p4 \gset
SELECT privacy.run_retention(:p4) AS anonymized;
COMMIT;
SELECT p.id, p.phone <> b.phone AS phone_changed, p.token <> b.token AS token_changed,
       p.raw <> b.raw AS raw_changed
  FROM phones p JOIN phones_before b USING (id) ORDER BY id;
CREATE TABLE phones_once AS SELECT * FROM phones;
SELECT privacy.run_retention(:p4) AS anonymized_again;
SELECT pg_sleep(1.5);	-- the worker's passes (naptime 1 s) rewrite nothing either
SELECT count(*) AS rewritten_twice FROM phones p JOIN phones_once o USING (id)
 WHERE p.phone IS DISTINCT FROM o.phone OR p.token IS DISTINCT FROM o.token OR p.raw IS DISTINCT FROM o.raw;

-- invalid input
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE 'SELECT ' || sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
SELECT pg_temp.try($q$privacy.add_retention('posts', 'at', '1 day', time_zone => 'Mars/Olympus')$q$);

-- cleanup
SELECT count(privacy.drop_retention(policy)) AS dropped FROM privacy.retention_policies;
DROP TABLE thumbs, attachments, invoices, notes, stars, messages, comments, posts,
	customers, addresses, phones, phones_before, phones_once, users;
DROP EXTENSION privacy CASCADE;
