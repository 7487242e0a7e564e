-- privacy.discover_links(subject, sample): candidates for privacy.link in a
-- schema with few foreign keys. A column is proposed when its name says it
-- holds the subject's key and its type can hold it; its values give the
-- confidence (the share of sampled values that are keys of root rows). A
-- polymorphic pair (x_id beside x_type) is proposed with each type value
-- that names the subject. Tables in the map, tables the caller cannot
-- read and tables whose rows a policy hides from it are left out.
CREATE EXTENSION privacy;
CREATE TABLE users (id bigint PRIMARY KEY, email text);
CREATE TABLE orders (id int PRIMARY KEY, user_id bigint REFERENCES users);	-- in the map
CREATE TABLE events (id int PRIMARY KEY, user_id bigint, what text);		-- 90 of 100 are keys
CREATE TABLE audit (id int PRIMARY KEY, actor_user_id text, x text);		-- text ids
CREATE TABLE metrics (id int PRIMARY KEY, "userId" int, user_ref uuid);	-- camel case; a uuid cannot hold a bigint key
CREATE TABLE comments (id int PRIMARY KEY, commentable_type text, commentable_id bigint);
CREATE TABLE images (id int PRIMARY KEY, imageable_type varchar, imageable_id bigint);
CREATE TABLE unrelated (id int PRIMARY KEY, owner_id bigint, username text, users_count int);
CREATE TABLE empty_log (id int PRIMARY KEY, user_id bigint);			-- no value to check
INSERT INTO users SELECT g, 'u' || g || '@example.org' FROM generate_series(1, 50) g;
INSERT INTO events SELECT g, g % 60, 'e' FROM generate_series(1, 100) g;
INSERT INTO audit SELECT g, (g % 50 + 1)::text, 'a' FROM generate_series(1, 30) g;
INSERT INTO metrics VALUES (1, 3, NULL), (2, 999, NULL);
INSERT INTO comments SELECT g, CASE WHEN g % 2 = 0 THEN 'User' ELSE 'Post' END, g % 50 + 1 FROM generate_series(1, 40) g;
INSERT INTO images VALUES (1, 'App\Models\User', 3), (2, 'App\Models\Post', 4);
INSERT INTO unrelated SELECT g, g, 'x', 1 FROM generate_series(1, 20) g;
SELECT privacy.define_subject('user', 'users');

SELECT * FROM privacy.discover_links('user');

-- what the caller cannot read whole is left out: no SELECT, row security
CREATE ROLE dl_admin LOGIN;
GRANT privacy_admin TO dl_admin;
GRANT SELECT ON users, events, comments TO dl_admin;
ALTER TABLE comments ENABLE ROW LEVEL SECURITY;
CREATE POLICY comments_some ON comments FOR SELECT USING (id < 10);
SET ROLE dl_admin;
SELECT table_name, column_name, type_value FROM privacy.discover_links('user');
RESET ROLE;

-- once linked, a table is in the map and no longer proposed
SELECT privacy.link('user', 'events', 'user_id');
SELECT privacy.link('user', 'comments', 'commentable_id', 'commentable_type', 'User');
SELECT table_name, column_name FROM privacy.discover_links('user', 10);

-- bad calls
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
SELECT pg_temp.err($$SELECT * FROM privacy.discover_links('nobody')$$);
SELECT pg_temp.err($$SELECT * FROM privacy.discover_links(NULL)$$);
SELECT pg_temp.err($$SELECT * FROM privacy.discover_links('user', 0)$$);
SELECT pg_temp.err($$SELECT * FROM privacy.discover_links('user', NULL)$$);
-- not for PUBLIC
CREATE ROLE dl_nobody LOGIN;
SET ROLE dl_nobody;
SELECT pg_temp.err($$SELECT * FROM privacy.discover_links('user')$$);
RESET ROLE;

-- a numbered person (user1_id, Discourse's topics.featured_user1_id) and
-- a person who did something, named without the subject (created_by_id,
-- deleted_by, last_editor_id: Rails' belongs_to :created_by, class_name:
-- 'User'; half the confidence); neither was proposed.  Not post_id, nor
-- owner_id (an owner may be an organization)
CREATE TABLE friendships (id int PRIMARY KEY, user1_id bigint, user2_id bigint);
CREATE TABLE topics (id int PRIMARY KEY, featured_user1_id bigint, created_by_id bigint, deleted_by text,
	last_editor_id int, post_id bigint, owner_id bigint);
INSERT INTO friendships VALUES (1, 1, 2), (2, 3, 4);
INSERT INTO topics VALUES (1, 5, 5, '5', 5, 5, 5), (2, 6, 60, NULL, 6, 6, 6);
SELECT table_name, column_name, confidence, matched, sampled FROM privacy.discover_links('user')
 WHERE table_name::text IN ('friendships', 'topics') ORDER BY 1::text, 2;

DROP TABLE orders, events, audit, metrics, comments, images, unrelated, empty_log, users, friendships, topics;
DROP ROLE dl_admin, dl_nobody;
DROP EXTENSION privacy CASCADE;
