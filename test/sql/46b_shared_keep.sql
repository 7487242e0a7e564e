-- shared => 'keep' follows the database's declared actions (issue 17 item 5,
-- found on Mastodon's schema): erasing an inviter U made the login rows of the
-- people who signed up with U's invites U's rows (users.invite_id -> invites,
-- invites.user_id -> users), so the default deleted other people's accounts,
-- and shared => 'keep' was refused with 23503 because another account's
-- favourite of U's status has a NOT NULL key to that status.  Now 'keep'
-- keeps every shared row that can outlive the subject's rows: one whose keys
-- into the rows that go can all be cleared is detached and stays (with the
-- rows below it that are its other subject's); one held by a NOT NULL
-- ON DELETE CASCADE key goes with the row it references (deleted and shared);
-- one held by a NOT NULL NO ACTION / RESTRICT key is still 23503.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

CREATE TABLE accounts (id int PRIMARY KEY, username text NOT NULL);
CREATE TABLE users (id int PRIMARY KEY, account_id int NOT NULL REFERENCES accounts ON DELETE CASCADE,
	invite_id int, email text NOT NULL);
CREATE TABLE invites (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users ON DELETE CASCADE, code text NOT NULL);
ALTER TABLE users ADD FOREIGN KEY (invite_id) REFERENCES invites ON DELETE SET NULL;
CREATE TABLE login_activities (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users ON DELETE CASCADE, ip inet);
CREATE TABLE user_notes (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users ON DELETE CASCADE,
	author_id int NOT NULL REFERENCES accounts ON DELETE CASCADE, note text);
CREATE TABLE statuses (id int PRIMARY KEY, account_id int NOT NULL REFERENCES accounts ON DELETE CASCADE,
	reblog_of_id int REFERENCES statuses ON DELETE CASCADE,
	in_reply_to_id int REFERENCES statuses ON DELETE SET NULL, text text NOT NULL DEFAULT '');
CREATE TABLE favourites (id int PRIMARY KEY, account_id int NOT NULL REFERENCES accounts ON DELETE CASCADE,
	status_id int NOT NULL REFERENCES statuses ON DELETE CASCADE);
CREATE TABLE follows (id int PRIMARY KEY, account_id int NOT NULL REFERENCES accounts ON DELETE CASCADE,
	target_account_id int NOT NULL REFERENCES accounts ON DELETE CASCADE);
CREATE TABLE mentions (id int PRIMARY KEY, status_id int REFERENCES statuses ON DELETE CASCADE,
	account_id int REFERENCES accounts ON DELETE CASCADE);

-- U is account 1; users 2 and 3 signed up with U's invite, user 4 with user 2's
INSERT INTO accounts SELECT g, 'u' || g FROM generate_series(1, 4) g;
INSERT INTO users SELECT g, g, NULL, 'u' || g || '@example.org' FROM generate_series(1, 4) g;
INSERT INTO invites VALUES (1, 1, 'aaa'), (2, 2, 'bbb');
UPDATE users SET invite_id = 1 WHERE id IN (2, 3);
UPDATE users SET invite_id = 2 WHERE id = 4;
INSERT INTO login_activities SELECT g, 1 + g % 4, ('10.0.0.' || g)::inet FROM generate_series(1, 8) g;
INSERT INTO user_notes VALUES
	(1, 2, 1, 'U about user 2'),		-- U's: goes with U's account
	(2, 2, 3, '3 about user 2'),		-- below a kept users row, not U's: stays
	(3, 1, 3, '3 about U');			-- on U's users row (NOT NULL cascade): goes
INSERT INTO statuses VALUES
	(1, 1, NULL, NULL, 'U one'), (2, 1, NULL, NULL, 'U two'),
	(3, 2, NULL, NULL, 'two'), (4, 3, NULL, NULL, 'three'),
	(5, 2, 1, NULL, ''),			-- 2 reblogs U's status (nullable key): detached, stays
	(6, 1, 3, NULL, ''),			-- U reblogs 2's status: U's, goes
	(7, 3, NULL, 1, 'reply to U');	-- 3 replies to U (SET NULL): detached, stays
INSERT INTO favourites VALUES
	(1, 2, 1),	-- 2 favours U's status: NOT NULL cascade key to it, goes with it
	(2, 1, 3),	-- U favours 2's status: U's, goes
	(3, 3, 3),	-- not U's at all
	(4, 3, 5),	-- favours 2's kept reblog: stays
	(5, 1, 5);	-- U favours 2's kept reblog: U's, goes
INSERT INTO follows VALUES (1, 1, 2), (2, 2, 1), (3, 2, 3);
INSERT INTO mentions VALUES
	(1, 1, 2),	-- U mentions 2: detached from the status, stays 2's
	(2, 3, 1),	-- 2 mentions U: detached from U, stays on 2's status
	(3, 4, 2);	-- not U's
SELECT privacy.define_subject('account', 'accounts');

-- an independent record of every row, with whether it is U's own (written
-- here by hand from the schema, not from the map)
CREATE TABLE snap (tag text, tbl text, id int, mine boolean, r jsonb);
CREATE FUNCTION snapshot(tag text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO snap SELECT tag, 'accounts', id, id = 1, to_jsonb(x) FROM accounts x;
	INSERT INTO snap SELECT tag, 'users', id, account_id = 1, to_jsonb(x) FROM users x;
	INSERT INTO snap SELECT tag, 'invites', id, user_id IN (SELECT id FROM users WHERE account_id = 1), to_jsonb(x) FROM invites x;
	INSERT INTO snap SELECT tag, 'login_activities', id, user_id IN (SELECT id FROM users WHERE account_id = 1), to_jsonb(x) FROM login_activities x;
	INSERT INTO snap SELECT tag, 'user_notes', id, author_id = 1 OR user_id IN (SELECT id FROM users WHERE account_id = 1), to_jsonb(x) FROM user_notes x;
	INSERT INTO snap SELECT tag, 'statuses', id, account_id = 1, to_jsonb(x) FROM statuses x;
	INSERT INTO snap SELECT tag, 'favourites', id, account_id = 1, to_jsonb(x) FROM favourites x;
	INSERT INTO snap SELECT tag, 'follows', id, 1 IN (account_id, target_account_id), to_jsonb(x) FROM follows x;
	INSERT INTO snap SELECT tag, 'mentions', id, account_id = 1, to_jsonb(x) FROM mentions x;
$$;

-- the dry run and the erasure with shared => 'keep'
BEGIN;
CREATE TEMP TABLE dry AS SELECT privacy.erase('account', '1', dry_run => true, shared => 'keep') AS r;
SELECT snapshot('before');
CREATE TEMP TABLE real AS SELECT privacy.erase('account', '1', shared => 'keep') AS r;
SELECT snapshot('after');
SELECT jsonb_pretty(r->'tables') AS tables, jsonb_pretty(r->'shared') AS shared, r->'shared_kept' AS shared_kept FROM real;
-- the dry run's receipt is the erasure's
SELECT (SELECT r - 'dry_run' - 'request' FROM dry) = (SELECT r - 'dry_run' - 'request' FROM real) AS dry_same;
-- none of U's own rows is left
SELECT count(*) AS left_of_u FROM snap WHERE tag = 'after' AND mine;
-- every row that is not U's own and changed or went: only the favourite of
-- U's status (NOT NULL cascade) went; the rest lost their reference only
SELECT b.tbl, b.id, b.r AS before, a.r AS after
  FROM snap b LEFT JOIN snap a ON a.tag = 'after' AND a.tbl = b.tbl AND a.id = b.id
 WHERE b.tag = 'before' AND NOT b.mine AND a.r IS DISTINCT FROM b.r
 ORDER BY 1, 2;
-- the invited users' own rows below their kept users rows are all there
SELECT count(*) AS others_login_activities FROM login_activities WHERE user_id IN (2, 3, 4);
SELECT id, user_id, author_id FROM user_notes ORDER BY id;
-- their accounts see them; U's access shows nothing
SELECT privacy.access('account', '1')->'data' AS u_data;
SELECT jsonb_array_length(privacy.access('account', '2')->'data'->'public.users') AS user2_rows;
ROLLBACK;

-- the default, shared => 'delete', is unchanged: the invited users go with U
BEGIN;
SELECT jsonb_pretty(r->'tables'->'public.users') AS users, r->'shared'->'public.users' AS shared_users,
	r ? 'shared_kept' AS shared_kept
  FROM (SELECT privacy.erase('account', '1') AS r) s;
SELECT id FROM users ORDER BY id;
ROLLBACK;

-- a shared row held by a NOT NULL key without an action (NO ACTION) can
-- neither be kept nor deleted: 23503 before anything changes, dry run too
CREATE TABLE bookmarks (id int PRIMARY KEY, account_id int NOT NULL REFERENCES accounts ON DELETE CASCADE,
	status_id int NOT NULL REFERENCES statuses);
INSERT INTO bookmarks VALUES (1, 3, 2);
SELECT pg_temp.err($$SELECT privacy.erase('account', '1', dry_run => true, shared => 'keep')$$) AS dry;
SELECT pg_temp.err($$SELECT privacy.erase('account', '1', shared => 'keep')$$) AS erase;
SELECT (SELECT count(*) FROM accounts) AS accounts, (SELECT count(*) FROM users) AS users,
	(SELECT count(*) FROM statuses) AS statuses, (SELECT count(*) FROM favourites) AS favourites,
	(SELECT count(*) FROM bookmarks) AS bookmarks;
-- RESTRICT the same
ALTER TABLE bookmarks DROP CONSTRAINT bookmarks_status_id_fkey,
	ADD FOREIGN KEY (status_id) REFERENCES statuses ON DELETE RESTRICT;
SELECT pg_temp.err($$SELECT privacy.erase('account', '1', shared => 'keep')$$) AS erase;
-- declared CASCADE: the bookmark goes with U's status
ALTER TABLE bookmarks DROP CONSTRAINT bookmarks_status_id_fkey,
	ADD FOREIGN KEY (status_id) REFERENCES statuses ON DELETE CASCADE;
SELECT r->'tables'->'public.bookmarks' AS bookmarks, r->'shared'->'public.bookmarks' AS shared
  FROM (SELECT privacy.erase('account', '1', shared => 'keep') AS r) s;
SELECT (SELECT count(*) FROM bookmarks) AS bookmarks, (SELECT count(*) FROM users) AS users,
	(SELECT string_agg(id || ':' || coalesce(invite_id::text, '-'), ',' ORDER BY id) FROM users) AS invites;

DROP TABLE bookmarks, mentions, follows, favourites, statuses, user_notes, login_activities, invites, users, accounts CASCADE;

-- a kept row shared only through a row that goes with its cascade (a note on
-- another account's favourite of U's status, and on U's anonymized profile):
-- detached from the favourite it is still U's through the profile, and it
-- stays as the plan counted it (it was deleted, and counted both ways)
CREATE TABLE accounts (id int PRIMARY KEY);
CREATE TABLE profiles (id int PRIMARY KEY, account_id int REFERENCES accounts ON DELETE SET NULL, bio text);
CREATE TABLE statuses (id int PRIMARY KEY, account_id int NOT NULL REFERENCES accounts ON DELETE CASCADE);
CREATE TABLE favourites (id int PRIMARY KEY, account_id int NOT NULL REFERENCES accounts ON DELETE CASCADE,
	status_id int NOT NULL REFERENCES statuses ON DELETE CASCADE);
CREATE TABLE notes (id int PRIMARY KEY, profile_id int REFERENCES profiles,
	favourite_id int REFERENCES favourites ON DELETE CASCADE, note text);
INSERT INTO accounts VALUES (1), (2);
INSERT INTO profiles VALUES (1, 1, 'bio');
INSERT INTO statuses VALUES (1, 1);
INSERT INTO favourites VALUES (1, 2, 1);
INSERT INTO notes VALUES (1, 1, 1, 'x');
SELECT privacy.define_subject('member', 'accounts');
SELECT privacy.set_erasure_mode('profiles', 'anonymize');
SELECT privacy.erase('member', '1', dry_run => true, shared => 'keep')->'tables'->'public.notes' AS dry;
SELECT privacy.erase('member', '1', shared => 'keep')->'tables'->'public.notes' AS real;
SELECT * FROM notes;
SELECT id FROM favourites;
DROP TABLE notes, favourites, statuses, profiles, accounts;
DROP TABLE snap;
DROP FUNCTION snapshot(text);
DROP EXTENSION privacy;
