-- Shared rows (issue 17 item 5): rows of the subject that also reach another
-- subject of the same type through another foreign-key path (another
-- user's comment on this user's changeset, this user's comment on another
-- user's changeset) are counted per table under "shared", in the dry run
-- and in the receipt.  shared => 'delete' (the default) deletes them with
-- the subject, as before; shared => 'keep' keeps those of delete-mode tables,
-- detached (their references to the erased rows and link values set NULL),
-- or 23503 before anything changes when a NOT NULL column prevents it.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

CREATE TABLE users (id int PRIMARY KEY, name text);
CREATE TABLE changesets (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users);
CREATE TABLE comments (id int PRIMARY KEY, changeset_id int REFERENCES changesets,
	author_id int REFERENCES users, body text);
CREATE TABLE likes (id int PRIMARY KEY, comment_id int NOT NULL REFERENCES comments ON DELETE CASCADE);
CREATE TABLE events (id int PRIMARY KEY, who text, changeset_id int REFERENCES changesets, what text);
CREATE TABLE reviews (id int PRIMARY KEY, changeset_id int REFERENCES changesets ON DELETE SET NULL,
	reviewer_id int REFERENCES users ON DELETE SET NULL, verdict text);
INSERT INTO users VALUES (1, 'ann'), (2, 'bob'), (3, 'cy');
INSERT INTO changesets VALUES (10, 1), (20, 2), (30, 3);
INSERT INTO comments VALUES
	(1, 10, 1, 'ann on her own'),		-- only ann's
	(2, 10, 2, 'bob on ann''s'),		-- shared: ann (changeset), bob (author)
	(3, 20, 1, 'ann on bob''s'),		-- shared: bob (changeset), ann (author)
	(4, 20, 2, 'bob on his own'),		-- only bob's
	(5, 30, 3, 'cy on his own');
INSERT INTO likes VALUES (1, 1), (2, 2), (3, 3), (4, 4);
INSERT INTO events VALUES (1, '1', 10, 'ann, her changeset'), (2, '1', 20, 'ann, bob''s changeset'),
	(3, '2', 10, 'bob, ann''s changeset');
INSERT INTO reviews VALUES (1, 10, 2, 'bob reviews ann'), (2, 20, 1, 'ann reviews bob');
SELECT privacy.define_subject('user', 'users');
SELECT privacy.link('user', 'events', 'who');
SELECT privacy.classify('comments', 'body', 'user.content.private');
SELECT privacy.classify('reviews', 'verdict', 'user.content.private');
SELECT privacy.set_erasure_mode('reviews', 'anonymize');

-- the dry run shows the shared rows before anything happens
SELECT jsonb_pretty(r->'shared') AS shared, r->'tables'->'public.comments' AS comments
  FROM (SELECT privacy.erase('user', '1', dry_run => true) AS r) s;

-- shared => 'keep': ann's rows go, the shared ones stay detached from her
BEGIN;
SELECT jsonb_pretty(r - 'subject_ref' - 'request' - 'notify' - 'retained') AS receipt
  FROM (SELECT privacy.erase('user', '1', shared => 'keep') AS r) s;
SELECT * FROM comments ORDER BY id;
SELECT * FROM likes ORDER BY id;
SELECT * FROM events ORDER BY id;
SELECT * FROM reviews ORDER BY id;
-- an independent check: nothing reaches ann any more
SELECT (SELECT count(*) FROM changesets WHERE user_id = 1) + (SELECT count(*) FROM comments WHERE author_id = 1)
     + (SELECT count(*) FROM comments c JOIN changesets s ON s.id = c.changeset_id WHERE s.user_id = 1)
     + (SELECT count(*) FROM events WHERE who = '1') + (SELECT count(*) FROM reviews WHERE reviewer_id = 1)
     + (SELECT count(*) FROM users WHERE id = 1) AS left_of_ann;
-- and bob's rows are all there
SELECT (SELECT count(*) FROM comments WHERE author_id = 2) AS bob_comments,
       (SELECT count(*) FROM events WHERE who = '2') AS bob_events;
-- ann's access shows nothing; bob's still shows the kept rows
SELECT privacy.access('user', '1')->'data' AS ann_data;
SELECT jsonb_array_length(privacy.access('user', '2')->'data'->'public.comments') AS bob_comments_seen;
ROLLBACK;

-- shared => 'delete' (the default): as before, counted
SELECT r->'shared' AS shared, r->'tables'->'public.comments' AS comments, r->'tables'->'public.likes' AS likes
  FROM (SELECT privacy.erase('user', '1') AS r) s;
SELECT id, changeset_id, author_id FROM comments ORDER BY id;

-- a NOT NULL reference cannot be detached: 23503, nothing changed (a NOT NULL
-- ON DELETE CASCADE one would take the row with the comment: 46b_shared_keep)
CREATE TABLE mentions (id int PRIMARY KEY, comment_id int NOT NULL REFERENCES comments,
	user_id int REFERENCES users);
INSERT INTO mentions VALUES (1, 4, 3), (2, 5, 2);
SELECT pg_temp.err($$SELECT privacy.erase('user', '2', shared => 'keep')$$);
SELECT (SELECT count(*) FROM comments WHERE author_id = 2) AS bob_comments, (SELECT count(*) FROM mentions) AS mentions;
-- with NULL allowed it is kept, detached
ALTER TABLE mentions ALTER comment_id DROP NOT NULL;
SELECT r->'shared' AS shared, r->'tables'->'public.mentions' AS mentions
  FROM (SELECT privacy.erase('user', '2', shared => 'keep') AS r) s;
SELECT * FROM mentions ORDER BY id;

DROP TABLE mentions, reviews, events, likes, comments, changesets, users;
DROP EXTENSION privacy;
