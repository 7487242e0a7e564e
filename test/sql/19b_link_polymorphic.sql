-- Polymorphic links: link(subject, tbl, key_column, type_column, type_value)
-- maps the rows of a column shared by several kinds of owner (Rails'
-- commentable_type/commentable_id, Django's content_type/object_id) whose
-- type column holds the value. Rows of another type with the same id belong
-- to nobody of this subject type: access does not list them, erase leaves
-- them, retention's holds and breach scope do not count them.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

CREATE TABLE users (id bigint PRIMARY KEY, email text);
CREATE TABLE organizations (id bigint PRIMARY KEY, name text);
CREATE TABLE posts (id bigint PRIMARY KEY, title text);
-- Rails: a varchar type column and the (type, id) index Rails creates
CREATE TABLE comments (id bigint PRIMARY KEY, commentable_type varchar NOT NULL,
	commentable_id bigint NOT NULL, body text, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON comments (commentable_type, commentable_id);
CREATE TABLE comment_likes (id bigint PRIMARY KEY, comment_id bigint NOT NULL REFERENCES comments ON DELETE CASCADE);
-- Django: an integer content type and a text object id
CREATE TABLE django_content_type (id int PRIMARY KEY, model text);
CREATE TABLE admin_log (id int PRIMARY KEY, content_type_id int REFERENCES django_content_type,
	object_id text, action text);
CREATE INDEX ON admin_log (object_id);
INSERT INTO django_content_type VALUES (7, 'user'), (8, 'post');
INSERT INTO users VALUES (1, 'a@example.org'), (2, 'b@example.org');
INSERT INTO organizations VALUES (1, 'Org one'), (2, 'Org two');
INSERT INTO posts VALUES (1, 'Post one'), (2, 'Post two');
INSERT INTO comments (id, commentable_type, commentable_id, body) VALUES
	(10, 'User', 1, 'on user 1'), (11, 'Post', 1, 'on post 1'), (12, 'Organization', 1, 'on org 1'),
	(13, 'User', 2, 'on user 2'), (14, 'Post', 2, 'on post 2'), (15, 'Post', 3, 'on post 3');
INSERT INTO comment_likes VALUES (100, 10), (101, 11), (102, 12), (103, 13);
INSERT INTO admin_log VALUES (1, 7, '1', 'changed user 1'), (2, 8, '1', 'changed post 1'), (3, 7, '2', 'changed user 2');
SELECT privacy.define_subject('user', 'users');
SELECT privacy.define_subject('org', 'organizations');

-- bad calls
SELECT pg_temp.err($$SELECT privacy.link('user', 'comments', 'commentable_id', NULL, 'User')$$);
SELECT pg_temp.err($$SELECT privacy.link('user', 'comments', 'commentable_id', 'kind', 'User')$$);
SELECT pg_temp.err($$SELECT privacy.link('user', 'comments', 'commentable_id', 'commentable_id', 'User')$$);
-- a type value that no row can hold: not a label of an enum column (refused),
-- or absent from a table whose rows hold other values (a WARNING: Rails
-- stores the class name, 'User', not 'user')
CREATE TYPE reaction_target AS ENUM ('User', 'Post');
CREATE TABLE reactions (id int PRIMARY KEY, target reaction_target, target_id bigint);
INSERT INTO reactions VALUES (1, 'User', 1);
SELECT pg_temp.err($$SELECT privacy.link('user', 'reactions', 'target_id', 'target', 'user')$$);
DROP TABLE reactions;
DROP TYPE reaction_target;
SELECT count(*) AS links FROM privacy.links;
SELECT privacy.link('user', 'comments', 'commentable_id', 'commentable_type', 'user');
SELECT type_value FROM privacy.links;

-- no NOTICE about an index: the (type, id) index serves
SELECT privacy.link('user', 'comments', 'commentable_id', 'commentable_type', 'User');
SELECT privacy.link('org', 'comments', 'commentable_id', 'commentable_type', 'Organization');
SELECT privacy.link('user', 'admin_log', 'object_id', 'content_type_id', '7');
SELECT subject, table_name, via, path FROM privacy.subject_tables ORDER BY 1, 2::text;
-- the lock trigger knows the type: its arguments and the columns it fires on
SELECT tgname, tgnargs, pg_get_triggerdef(oid) LIKE '%UPDATE OF commentable_id, commentable_type ON%' AS fires_on_type
  FROM pg_trigger WHERE tgrelid = 'comments'::regclass AND tgname LIKE 'privacy_link%' ORDER BY 1;
SELECT privacy.data_map('user') LIKE '%commentable_id (link where commentable_type = ''User'')%' AS dot_shows_filter;

-- access: the subject's rows only, and the rows below them
SELECT key, jsonb_path_query_array(value, '$[*].id') AS ids
  FROM jsonb_each(privacy.access('user', '1')->'data') ORDER BY 1;
SELECT key, jsonb_path_query_array(value, '$[*].id') AS ids
  FROM jsonb_each(privacy.access('org', '1')->'data') ORDER BY 1;

-- the type column is no coverage gap (the key column neither)
SELECT column_name FROM privacy.unclassified WHERE table_name = 'comments'::regclass ORDER BY 1;

-- the plan uses the (type, id) index
EXPLAIN (COSTS OFF) SELECT * FROM comments t
 WHERE t.commentable_id = 1 AND CAST(t.commentable_type AS pg_catalog.text) OPERATOR(pg_catalog.=) 'User';

-- breach scope: distinct subjects of each type, others' rows not counted
-- (post 3's comment is no user's and no organization's)
SELECT privacy.breach_report(ARRAY['comments'::regclass, 'admin_log'::regclass])->'subjects' AS subjects;

-- retention: a held user's comments stay, a post's comment with the same
-- id does not (before: it would have been taken for the user's)
SELECT privacy.hold('user', '2', 'litigation');
UPDATE comments SET created_at = now() - interval '2 years';
SELECT privacy.add_retention('comments', 'created_at', interval '1 year') AS p \gset
SELECT privacy.run_retention(:p) AS expired;
SELECT id, commentable_type, commentable_id FROM comments ORDER BY id;
SELECT privacy.drop_retention(:p);
SELECT privacy.release_hold('user', '2');
INSERT INTO comments (id, commentable_type, commentable_id, body) VALUES
	(10, 'User', 1, 'on user 1'), (11, 'Post', 1, 'on post 1'), (12, 'Organization', 1, 'on org 1'),
	(14, 'Post', 2, 'on post 2'), (15, 'Post', 3, 'on post 3');
INSERT INTO comment_likes VALUES (100, 10), (101, 11), (102, 12);

-- erase: dry run equals the real run; other types' rows stay
SELECT privacy.erase('user', '1', dry_run => true)->'tables' AS dry;
SELECT privacy.erase('user', '1')->'tables' AS erased;
SELECT id, commentable_type, commentable_id FROM comments ORDER BY id;
SELECT id, comment_id FROM comment_likes ORDER BY id;
SELECT id, content_type_id, object_id FROM admin_log ORDER BY id;

-- replay after a restore: a user-typed row comes back and is erased again,
-- a post's row with the same id is not touched
INSERT INTO comments (id, commentable_type, commentable_id, body) VALUES (20, 'User', 1, 'restored'), (21, 'Post', 1, 'kept');
SELECT r->'matched' AS matched, r->'receipts'->0->'tables'->'public.comments' AS comments
  FROM privacy.replay_erasures(privacy.erasure_ledger()) r;
SELECT id, commentable_type, commentable_id FROM comments ORDER BY id;

-- the type column cannot be renamed or dropped while linked; unlink first
SELECT pg_temp.err($$ALTER TABLE comments RENAME COLUMN commentable_type TO kind$$);
SELECT pg_temp.err($$ALTER TABLE comments DROP COLUMN commentable_type$$);
SELECT privacy.unlink('org', 'comments', 'commentable_id');
SELECT privacy.unlink('user', 'comments', 'commentable_id');
ALTER TABLE comments RENAME COLUMN commentable_type TO kind;
SELECT count(*) AS comments_mapped FROM privacy.subject_tables WHERE table_name = 'comments'::regclass;

-- a type column whose cast to text is user code (a composite type with a
-- cast of its owner's): link's check, access and erase run it as the
-- table's owner, in a security-restricted operation, never as the caller
CREATE ROLE regress_poly_owner;
CREATE SCHEMA pk AUTHORIZATION regress_poly_owner;
SET ROLE regress_poly_owner;
CREATE TABLE pk.seen (who name, superuser boolean, restricted boolean);
CREATE TYPE pk.kind AS (k text);
CREATE FUNCTION pk.kind_text(v pk.kind) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		PERFORM set_config('role', current_user, true);	-- refused in a security-restricted operation
		INSERT INTO pk.seen VALUES (current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false);
	EXCEPTION WHEN insufficient_privilege THEN
		INSERT INTO pk.seen VALUES (current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), true);
	END;
	RETURN v.k;
END $$;
CREATE CAST (pk.kind AS text) WITH FUNCTION pk.kind_text(pk.kind);
CREATE TABLE pk.notes (id int PRIMARY KEY, target pk.kind, target_id bigint);
INSERT INTO pk.notes VALUES (1, ROW('User'), 2), (2, ROW('Post'), 2);
RESET ROLE;
SELECT privacy.link('user', 'pk.notes', 'target_id', 'target', 'User');
SELECT jsonb_array_length(privacy.access('user', '2') -> 'data' -> 'pk.notes') AS notes_of_2;
BEGIN;
SELECT privacy.erase('user', '2') -> 'tables' -> 'pk.notes' AS erased;
SELECT who, superuser, restricted, count(*) > 0 AS ran FROM pk.seen GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
ROLLBACK;
SELECT privacy.unlink('user', 'pk.notes', 'target_id');
DROP SCHEMA pk CASCADE;
DROP ROLE regress_poly_owner;

DROP TABLE comment_likes, comments, admin_log, django_content_type, posts, organizations, users;
DROP EXTENSION privacy CASCADE;
