-- Links to another table of the map: link(subject, tbl, key_column [,
-- type_column, type_value], target) declares a table whose column holds,
-- without a foreign key, the key of a row of target (Django's generic
-- relations: taggit's items and django-comments on the user's articles;
-- Rails' comments(commentable_type = 'Post', commentable_id) on the user's
-- posts). Its rows are the subject's exactly when they reference one of the
-- subject's rows of target, as with a foreign key tbl(key_column) ->
-- target(key) ON DELETE NO ACTION: listed by access and export, erased
-- before the rows of target, counted by the dry run.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
CREATE FUNCTION pg_temp.err_hint(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
	RETURN SQLSTATE || ': ' || SQLERRM || ' HINT: ' || h; END $$;

CREATE TABLE users (id bigint PRIMARY KEY, email text);
CREATE TABLE blog_article (id int PRIMARY KEY, author_id bigint NOT NULL REFERENCES users, title text);
CREATE TABLE django_content_type (id int PRIMARY KEY, app_label text, model text);
-- taggit: an integer object_id
CREATE TABLE taggit_taggeditem (id int PRIMARY KEY, content_type_id int NOT NULL REFERENCES django_content_type,
	object_id int NOT NULL, tag text);
CREATE INDEX ON taggit_taggeditem (content_type_id, object_id);
-- django-comments: a text object_pk
CREATE TABLE django_comments (id int PRIMARY KEY, content_type_id int NOT NULL REFERENCES django_content_type,
	object_pk text NOT NULL, comment text, submit_date timestamptz NOT NULL DEFAULT now() - interval '10 years');
-- a like of a comment: reached through the comments' link (a chain)
CREATE TABLE comment_flags (id int PRIMARY KEY, comment_ref text NOT NULL, flag text);
INSERT INTO django_content_type VALUES (7, 'blog', 'article'), (8, 'auth', 'user'), (9, 'blog', 'draft');
INSERT INTO users VALUES (1, 'a@example.org'), (2, 'b@example.org');
INSERT INTO blog_article VALUES (10, 1, 'first of 1'), (11, 1, 'second of 1'), (20, 2, 'first of 2'),
	-- another user's article whose id is the id of one of user 1's comments
	(500, 2, 'article 500 of 2');
INSERT INTO taggit_taggeditem VALUES (1, 7, 10, 'postgres'), (2, 7, 11, 'gdpr'), (3, 7, 20, 'other user'),
	(4, 9, 10, 'a draft 10, another type'), (5, 8, 1, 'a user, another type'), (6, 7, 500, 'article 500');
INSERT INTO django_comments VALUES (500, 7, '10', 'on 10'), (501, 7, '11', 'on 11'), (502, 7, '20', 'on 20 (user 2)'),
	(503, 7, 'not a key', 'no key'), (504, 9, '11', 'on draft 11, another type'), (505, 7, '99', 'no such article');
INSERT INTO comment_flags VALUES (1, '500', 'spam'), (2, '502', 'spam'), (3, '501', 'ok');
SELECT privacy.define_subject('user', 'users');

-- bad calls: a target outside the map (22023, with a hint), the root, the
-- table itself, a column that cannot hold the key
CREATE TABLE unmapped (id int PRIMARY KEY);
SELECT pg_temp.err_hint($$SELECT privacy.link('user', 'taggit_taggeditem', 'object_id', target => 'unmapped')$$);
SELECT pg_temp.err_hint($$SELECT privacy.link('user', 'taggit_taggeditem', 'object_id', 'content_type_id', '7', 'unmapped')$$);
SELECT pg_temp.err_hint($$SELECT privacy.link('user', 'blog_article', 'id', target => 'blog_article')$$);
SELECT pg_temp.err($$SELECT privacy.link('user', 'taggit_taggeditem', 'object_id', 'content_type_id', NULL, 'blog_article')$$);
CREATE TABLE no_key (a int);
CREATE TABLE points_at_no_key (id int PRIMARY KEY, ref int);
ALTER TABLE no_key ADD COLUMN user_id bigint REFERENCES users;
SELECT pg_temp.err_hint($$SELECT privacy.link('user', 'points_at_no_key', 'ref', target => 'no_key')$$);
DROP TABLE no_key, points_at_no_key, unmapped;
SELECT count(*) AS links FROM privacy.links;

-- the links: integer and text object ids, a type filter by content type id
SELECT privacy.link('user', 'taggit_taggeditem', 'object_id', 'content_type_id', '7', 'blog_article');
SELECT privacy.link('user', 'django_comments', 'object_pk', 'content_type_id', '7', target => 'blog_article');
-- a chain: a link to a table that a link reaches
SELECT privacy.link('user', 'comment_flags', 'comment_ref', target => 'django_comments');
SELECT table_name, key_column, type_column, type_value, target FROM privacy.links ORDER BY 1::text;
-- a column is linked once to the root and once to each target: taggit's
-- object_id also tags users (their own content type, 8); linked again to
-- the same table, a link takes the new type value
SELECT privacy.link('user', 'taggit_taggeditem', 'object_id', 'content_type_id', '8');
SELECT privacy.link('user', 'taggit_taggeditem', 'object_id', 'content_type_id', '7', 'blog_article');
SELECT table_name, key_column, type_value, target FROM privacy.links WHERE table_name = 'taggit_taggeditem'::regclass
 ORDER BY target NULLS FIRST;
SELECT table_name, via, depth, path FROM privacy.subject_tables WHERE subject = 'user' ORDER BY depth, 1::text;
-- the lock trigger knows the links of its column: one as (type column,
-- type value)? and target? (its OID, last), several as triples
SELECT tgrelid::regclass, tgnargs, pg_get_triggerdef(oid) ~ 'UPDATE OF \w+, content_type_id ON' AS type_column_too
  FROM pg_trigger WHERE tgname LIKE 'privacy_link_%' ORDER BY 1::text;

-- a dump and restore gives the tables new OIDs and the trigger its old
-- arguments: the targets are read from privacy.links, not from them.  With
-- a stale OID in its arguments, as a restore leaves them, the trigger still
-- locks the comment a new flag references (KEY SHARE, as a foreign key's
-- check would); before, it locked nothing
CREATE EXTENSION pgrowlocks;
SELECT format('DROP TRIGGER %I ON comment_flags', tgname) AS drop_it,
       regexp_replace(pg_get_triggerdef(oid), '''\d+''\)$', '''1'')') AS stale
  FROM pg_trigger WHERE tgrelid = 'comment_flags'::regclass AND tgname LIKE 'privacy_link_%' \gset
:drop_it;
:stale;
BEGIN;
INSERT INTO comment_flags VALUES (90, '501', 'restored');
SELECT locked_row, modes FROM pgrowlocks('django_comments');
ROLLBACK;
DROP EXTENSION pgrowlocks;

-- discover_links proposes no column linked to a target (its values are
-- another table's keys), as none of a foreign key
SELECT table_name, column_name, type_value FROM privacy.discover_links('user') ORDER BY 1::text, 2;

-- access and export: user 1's articles' tags and comments, the flags of
-- those comments; not the rows of another type, of no key, of user 2, nor
-- the article 500 of user 2 (the id of one of user 1's comments)
SELECT key, (SELECT array_agg(x->>'id' ORDER BY (x->>'id')::int) FROM jsonb_array_elements(value) x) AS ids
  FROM jsonb_each(privacy.access('user', '1')->'data') ORDER BY 1;
SELECT key, (SELECT array_agg(x->>'id' ORDER BY (x->>'id')::int) FROM jsonb_array_elements(value) x) AS ids
  FROM jsonb_each(privacy.access('user', '2')->'data') ORDER BY 1;
SELECT privacy.classify('django_comments', 'comment', 'user.content.private', 'delete');
SELECT privacy.classify('taggit_taggeditem', 'tag', 'user.content.private', 'delete');
SELECT key, jsonb_array_length(value) AS n FROM jsonb_each(privacy.export('user', '1')->'tables') ORDER BY 1;

-- breach scope: the subjects of the comments of their type (users 1 and 2)
SELECT privacy.breach_report(ARRAY['django_comments'::regclass])->'subjects' AS breach_subjects;
-- a hold on user 1 blocks her erasure, and retention keeps her comments
-- (those of her articles) while deleting the others that expired
BEGIN;
SELECT privacy.hold('user', '1', 'a lawsuit');
SELECT pg_temp.err($$SELECT privacy.erase('user', '1')$$);
SELECT privacy.add_retention('django_comments', 'submit_date', '1 year') > 0 AS policy;
SELECT privacy.run_retention() AS deleted;
SELECT id FROM django_comments ORDER BY id;
ROLLBACK;

-- the rows erase must remove, computed here independently of the map
CREATE TEMP TABLE expected AS
SELECT 'taggit_taggeditem' AS t, i.id FROM taggit_taggeditem i JOIN blog_article a ON a.id = i.object_id
 WHERE i.content_type_id = 7 AND a.author_id = 1
UNION
SELECT 'taggit_taggeditem', i.id FROM taggit_taggeditem i WHERE i.content_type_id = 8 AND i.object_id = 1
UNION ALL
SELECT 'django_comments', c.id FROM django_comments c JOIN blog_article a ON a.id::text = c.object_pk
 WHERE c.content_type_id = 7 AND a.author_id = 1
UNION ALL
SELECT 'comment_flags', f.id FROM comment_flags f JOIN django_comments c ON c.id::text = f.comment_ref
  JOIN blog_article a ON a.id::text = c.object_pk WHERE c.content_type_id = 7 AND a.author_id = 1
UNION ALL
SELECT 'blog_article', id FROM blog_article WHERE author_id = 1
UNION ALL
SELECT 'users', 1;
CREATE TEMP TABLE before AS
SELECT 'taggit_taggeditem' AS t, id FROM taggit_taggeditem UNION ALL SELECT 'django_comments', id FROM django_comments
UNION ALL SELECT 'comment_flags', id FROM comment_flags UNION ALL SELECT 'blog_article', id FROM blog_article
UNION ALL SELECT 'users', id FROM users;

-- erase: the dry run counts what the erasure deletes, children before
-- their targets (no foreign key would let the articles go first)
SELECT privacy.erase('user', '1', dry_run => true)->'tables' AS dry;
SELECT privacy.erase('user', '1')->'tables' AS erased;
CREATE TEMP TABLE after AS
SELECT 'taggit_taggeditem' AS t, id FROM taggit_taggeditem UNION ALL SELECT 'django_comments', id FROM django_comments
UNION ALL SELECT 'comment_flags', id FROM comment_flags UNION ALL SELECT 'blog_article', id FROM blog_article
UNION ALL SELECT 'users', id FROM users;
-- exactly the expected rows went
(SELECT * FROM before EXCEPT SELECT * FROM after) EXCEPT SELECT * FROM expected;
SELECT * FROM expected EXCEPT (SELECT * FROM before EXCEPT SELECT * FROM after);
SELECT count(*) AS expected_rows FROM expected;
SELECT id, content_type_id, object_id FROM taggit_taggeditem ORDER BY id;
SELECT id, content_type_id, object_pk FROM django_comments ORDER BY id;
SELECT id, comment_ref FROM comment_flags ORDER BY id;

-- unlink of one link of a column (target => NULL: its link to the root):
-- the other stays, with its trigger
SELECT pg_temp.err($$SELECT privacy.unlink('user', 'django_comments', 'object_pk', NULL)$$);
SELECT privacy.unlink('user', 'taggit_taggeditem', 'object_id', target => NULL);
SELECT table_name, type_value, target FROM privacy.links WHERE table_name = 'taggit_taggeditem'::regclass;
SELECT tgnargs FROM pg_trigger WHERE tgrelid = 'taggit_taggeditem'::regclass AND tgname LIKE 'privacy_link_%';
-- unlink: the chain's link goes, then the comments' (its trigger with it)
SELECT privacy.unlink('user', 'comment_flags', 'comment_ref');
SELECT privacy.unlink('user', 'django_comments', 'object_pk');
SELECT table_name, via FROM privacy.subject_tables WHERE subject = 'user' ORDER BY depth, 1::text;
SELECT tgrelid::regclass FROM pg_trigger WHERE tgname LIKE 'privacy_link_%' ORDER BY 1::text;
-- a table rebuilt in one transaction (create, copy, drop, rename) keeps its
-- links to and from it: the target, then the linked table
SELECT privacy.link('user', 'django_comments', 'object_pk', 'content_type_id', '7', 'blog_article');
BEGIN;
CREATE TABLE blog_article_new (LIKE blog_article INCLUDING ALL);
ALTER TABLE blog_article_new ADD FOREIGN KEY (author_id) REFERENCES users;
INSERT INTO blog_article_new SELECT * FROM blog_article;
DROP TABLE blog_article;
ALTER TABLE blog_article_new RENAME TO blog_article;
COMMIT;
SELECT table_name, key_column, type_value, target FROM privacy.links ORDER BY 1::text;
BEGIN;
CREATE TABLE django_comments_new (LIKE django_comments INCLUDING ALL);
INSERT INTO django_comments_new SELECT * FROM django_comments;
DROP TABLE django_comments;
ALTER TABLE django_comments_new RENAME TO django_comments;
COMMIT;
SELECT table_name, key_column, type_value, target FROM privacy.links ORDER BY 1::text;
SELECT tgrelid::regclass, tgnargs FROM pg_trigger WHERE tgname LIKE 'privacy_link_%' ORDER BY 1::text;
SELECT table_name, via, path FROM privacy.subject_tables WHERE subject = 'user' ORDER BY depth, 1::text;
SELECT key, (SELECT array_agg(x->>'id' ORDER BY (x->>'id')::int) FROM jsonb_array_elements(value) x) AS ids
  FROM jsonb_each(privacy.access('user', '2')->'data') ORDER BY 1;
SELECT privacy.unlink('user', 'django_comments', 'object_pk');

-- a link whose target is dropped goes with it (and its lock trigger)
CREATE TABLE drafts (id int PRIMARY KEY, user_id bigint REFERENCES users);
CREATE TABLE draft_notes (id int PRIMARY KEY, draft_id int);
SELECT privacy.link('user', 'draft_notes', 'draft_id', target => 'drafts');
DROP TABLE drafts;
SELECT count(*) AS draft_links FROM privacy.links WHERE table_name = 'draft_notes'::regclass;
SELECT count(*) AS draft_triggers FROM pg_trigger WHERE tgrelid = 'draft_notes'::regclass AND tgname LIKE 'privacy_link_%';
DROP TABLE draft_notes;

-- hostile names (quoted identifiers), and a table owned by another role:
-- its type column's cast to text is user code, run only as the table's
-- owner in a security-restricted operation
CREATE ROLE regress_target_owner;
CREATE SCHEMA "we""ird sch" AUTHORIZATION regress_target_owner;
SET ROLE regress_target_owner;
CREATE TABLE "we""ird sch".seen (who name, restricted boolean);
CREATE TYPE "we""ird sch".kind AS (k text);
CREATE FUNCTION "we""ird sch".kind_text(v "we""ird sch".kind) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		PERFORM set_config('role', current_user, true);	-- refused in a security-restricted operation
		INSERT INTO "we""ird sch".seen VALUES (current_user, false);
	EXCEPTION WHEN insufficient_privilege THEN
		INSERT INTO "we""ird sch".seen VALUES (current_user, true);
	END;
	RETURN v.k;
END $$;
CREATE CAST ("we""ird sch".kind AS text) WITH FUNCTION "we""ird sch".kind_text("we""ird sch".kind);
CREATE TABLE "we""ird sch"."Tag Items" ("Object ""Id""" bigint, "Kind" "we""ird sch".kind, note text);
INSERT INTO "we""ird sch"."Tag Items" VALUES (20, ROW('article'), 'of 2'), (20, ROW('draft'), 'draft 20'),
	(500, ROW('article'), 'of 2 too'), (11, ROW('article'), 'of 1, gone');
RESET ROLE;
SELECT privacy.link('user', '"we""ird sch"."Tag Items"', 'Object "Id"', 'Kind', 'article', 'blog_article');
SELECT path FROM privacy.subject_tables WHERE table_name = '"we""ird sch"."Tag Items"'::regclass;
SELECT jsonb_array_length(privacy.access('user', '2')->'data'->'"we""ird sch"."Tag Items"') AS items_of_2;
BEGIN;
SELECT privacy.erase('user', '2')->'tables'->'"we""ird sch"."Tag Items"' AS erased;
SELECT who, restricted, count(*) > 0 AS ran FROM "we""ird sch".seen GROUP BY 1, 2 ORDER BY 1, 2;
SELECT "Object ""Id""", note FROM "we""ird sch"."Tag Items" ORDER BY 1, 2;
ROLLBACK;
-- the lock trigger: an insert referencing a row of target takes a KEY SHARE
-- lock on it (as a foreign key's check; a concurrent erasure is in the
-- isolation spec erase_insert_target), an insert referencing no row is left alone
INSERT INTO "we""ird sch"."Tag Items" VALUES (20, ROW('article'), 'new'), (12345, ROW('article'), 'no such article');
SELECT privacy.unlink('user', '"we""ird sch"."Tag Items"', 'Object "Id"');
DROP SCHEMA "we""ird sch" CASCADE;
DROP ROLE regress_target_owner;

DROP TABLE comment_flags, django_comments, taggit_taggeditem, django_content_type, blog_article, users;
DROP EXTENSION privacy CASCADE;
