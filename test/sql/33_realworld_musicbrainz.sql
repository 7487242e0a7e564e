-- MusicBrainz's schema (admin/sql/CreateTables.sql, CreateFKConstraints.sql
-- and CreateTriggers.sql, reduced by hand to 31 tables around the editor):
-- editor with gender and area, edits with their data, notes, note
-- recipients and votes, annotations, collections with collaborators,
-- subscriptions, watch preferences (ON DELETE CASCADE, as MusicBrainz
-- declares them; every other key is NO ACTION), OAuth applications and
-- tokens, and the raw tags and ratings per editor, whose AFTER DELETE
-- triggers maintain the aggregate tables artist_tag, tag and artist_meta,
-- outside the editor's map; artist_tag carries MusicBrainz's constraint
-- trigger delete_unused_tag, DEFERRABLE INITIALLY DEFERRED.
-- Checked against an independent walk of pg_constraint; editors 2 and 3
-- voted on, noted, subscribed to and collaborate on editor 1's rows.
-- The defects it found:
-- - an erasure deleting an editor's raw tags failed with 42501 "cannot fire
--   deferred trigger within security-restricted operation": the trigger of
--   artist_tag_raw (mapped) deletes the artist_tag row that no vote is left
--   for, and artist_tag (not mapped) has a deferred constraint trigger;
--   only the deferred constraints of the mapped tables were set IMMEDIATE
--   for the erasure.  Every initially deferred constraint of a schema the
--   caller may use now is;
-- - discover() did not propose editor.website (user.contact.url),
--   editor.gender (user.demographic.gender), editor_oauth_token's
--   authorization_code (credentials), nor the bare name of a table of
--   editors or contributors.
CREATE EXTENSION privacy;
CREATE TABLE gender (id serial PRIMARY KEY, name varchar(255) NOT NULL, parent int REFERENCES gender,
	child_order int NOT NULL DEFAULT 0, description text, gid uuid NOT NULL);
CREATE TABLE area (id serial PRIMARY KEY, gid uuid NOT NULL, name varchar NOT NULL, type int,
	edits_pending int NOT NULL DEFAULT 0 CHECK (edits_pending >= 0), last_updated timestamptz DEFAULT now(),
	ended boolean NOT NULL DEFAULT false, comment varchar(255) NOT NULL DEFAULT '');
CREATE TABLE language (id serial PRIMARY KEY, iso_code_2t char(3), iso_code_2b char(3), iso_code_1 char(2),
	name varchar(100) NOT NULL, frequency int NOT NULL DEFAULT 0, iso_code_3 char(3));
CREATE TABLE artist (id serial PRIMARY KEY, gid uuid NOT NULL, name varchar NOT NULL, sort_name varchar NOT NULL,
	begin_date_year smallint, type int, area int REFERENCES area, gender int REFERENCES gender,
	comment varchar(255) NOT NULL DEFAULT '', edits_pending int NOT NULL DEFAULT 0 CHECK (edits_pending >= 0),
	last_updated timestamptz DEFAULT now(), ended boolean NOT NULL DEFAULT false);
CREATE TABLE artist_meta (id int PRIMARY KEY REFERENCES artist ON DELETE CASCADE,
	rating smallint CHECK (rating >= 0 AND rating <= 100), rating_count int);
CREATE TABLE tag (id serial PRIMARY KEY, name varchar(255) NOT NULL UNIQUE, ref_count int NOT NULL DEFAULT 0);
CREATE TABLE artist_tag (artist int NOT NULL REFERENCES artist, tag int NOT NULL REFERENCES tag,
	count int NOT NULL, last_updated timestamptz DEFAULT now(), PRIMARY KEY (artist, tag));
CREATE TABLE editor (id serial PRIMARY KEY, name varchar(64) NOT NULL, privs int DEFAULT 0,
	email varchar(64) DEFAULT NULL, website varchar(255) DEFAULT NULL, bio text DEFAULT NULL,
	member_since timestamptz DEFAULT now(), email_confirm_date timestamptz, last_login_date timestamptz DEFAULT now(),
	last_updated timestamptz DEFAULT now(), birth_date date, gender int REFERENCES gender, area int REFERENCES area,
	password varchar(128) NOT NULL, ha1 char(32) NOT NULL, deleted boolean NOT NULL DEFAULT false);
CREATE UNIQUE INDEX editor_idx_name ON editor (lower(name));
CREATE TABLE editor_language (editor int NOT NULL REFERENCES editor, language int NOT NULL REFERENCES language,
	fluency text NOT NULL CHECK (fluency IN ('basic', 'intermediate', 'advanced', 'native')), PRIMARY KEY (editor, language));
CREATE TABLE editor_preference (id serial PRIMARY KEY, editor int NOT NULL REFERENCES editor,
	name varchar(50) NOT NULL, value varchar(100) NOT NULL, UNIQUE (editor, name));
CREATE TABLE application (id serial PRIMARY KEY, owner int NOT NULL REFERENCES editor, name text NOT NULL,
	oauth_id text NOT NULL UNIQUE, oauth_secret text NOT NULL, oauth_redirect_uri text);
CREATE TABLE editor_oauth_token (id serial PRIMARY KEY, editor int NOT NULL REFERENCES editor,
	application int NOT NULL REFERENCES application, authorization_code text, refresh_token text,
	access_token text, expire_time timestamptz NOT NULL, scope int NOT NULL DEFAULT 0,
	granted timestamptz NOT NULL DEFAULT now());
CREATE TABLE editor_collection (id serial PRIMARY KEY, gid uuid NOT NULL UNIQUE, editor int NOT NULL REFERENCES editor,
	name varchar NOT NULL, public boolean NOT NULL DEFAULT false, description text DEFAULT '' NOT NULL, type int NOT NULL);
CREATE TABLE editor_collection_artist (collection int NOT NULL REFERENCES editor_collection,
	artist int NOT NULL REFERENCES artist, added timestamptz DEFAULT now(), position int NOT NULL DEFAULT 0,
	comment text DEFAULT '' NOT NULL, PRIMARY KEY (collection, artist));
CREATE TABLE editor_collection_collaborator (collection int NOT NULL REFERENCES editor_collection,
	editor int NOT NULL REFERENCES editor, PRIMARY KEY (collection, editor));
CREATE TABLE edit (id serial PRIMARY KEY, editor int NOT NULL REFERENCES editor, type smallint NOT NULL,
	status smallint NOT NULL, autoedit smallint NOT NULL DEFAULT 0, open_time timestamptz DEFAULT now(),
	close_time timestamptz, expire_time timestamptz NOT NULL, language int REFERENCES language,
	quality smallint NOT NULL DEFAULT 1);
CREATE TABLE edit_data (edit int PRIMARY KEY REFERENCES edit, data jsonb NOT NULL);
CREATE TABLE edit_artist (edit int NOT NULL REFERENCES edit, artist int NOT NULL REFERENCES artist ON DELETE CASCADE,
	status smallint NOT NULL, PRIMARY KEY (edit, artist));
CREATE TABLE edit_note (id serial PRIMARY KEY, editor int NOT NULL REFERENCES editor, edit int NOT NULL REFERENCES edit,
	text text NOT NULL, post_time timestamptz DEFAULT now());
CREATE TABLE edit_note_recipient (recipient int NOT NULL REFERENCES editor, edit_note int NOT NULL REFERENCES edit_note,
	PRIMARY KEY (recipient, edit_note));
CREATE TABLE vote (id serial PRIMARY KEY, editor int NOT NULL REFERENCES editor, edit int NOT NULL REFERENCES edit,
	vote smallint NOT NULL, vote_time timestamptz DEFAULT now(), superseded boolean NOT NULL DEFAULT false);
CREATE TABLE annotation (id serial PRIMARY KEY, editor int NOT NULL REFERENCES editor, text text,
	changelog varchar(255), created timestamptz DEFAULT now());
CREATE TABLE artist_annotation (artist int NOT NULL REFERENCES artist, annotation int NOT NULL REFERENCES annotation,
	PRIMARY KEY (artist, annotation));
CREATE TABLE editor_subscribe_artist (id serial PRIMARY KEY, editor int NOT NULL REFERENCES editor,
	artist int NOT NULL REFERENCES artist, last_edit_sent int NOT NULL REFERENCES edit);
CREATE TABLE editor_subscribe_artist_deleted (editor int NOT NULL REFERENCES editor, gid uuid NOT NULL,
	deleted_by int NOT NULL REFERENCES edit, PRIMARY KEY (editor, gid));
CREATE TABLE editor_subscribe_collection (id serial PRIMARY KEY, editor int NOT NULL REFERENCES editor,
	collection int NOT NULL, last_edit_sent int NOT NULL, available boolean NOT NULL DEFAULT true,
	last_seen_name varchar(255));
CREATE TABLE editor_subscribe_editor (id serial PRIMARY KEY, editor int NOT NULL REFERENCES editor,
	subscribed_editor int NOT NULL REFERENCES editor, last_edit_sent int NOT NULL REFERENCES edit);
CREATE TABLE editor_watch_preferences (editor int PRIMARY KEY REFERENCES editor ON DELETE CASCADE,
	notify_via_email boolean NOT NULL DEFAULT true, notification_timeout interval NOT NULL DEFAULT '1 week',
	last_checked timestamptz NOT NULL DEFAULT now());
CREATE TABLE editor_watch_artist (artist int NOT NULL REFERENCES artist ON DELETE CASCADE,
	editor int NOT NULL REFERENCES editor ON DELETE CASCADE, PRIMARY KEY (artist, editor));
CREATE TABLE artist_tag_raw (artist int NOT NULL REFERENCES artist, editor int NOT NULL REFERENCES editor,
	tag int NOT NULL REFERENCES tag, is_upvote boolean NOT NULL DEFAULT true, PRIMARY KEY (artist, editor, tag));
CREATE TABLE artist_rating_raw (artist int NOT NULL REFERENCES artist, editor int NOT NULL REFERENCES editor,
	rating smallint NOT NULL CHECK (rating >= 0 AND rating <= 100), PRIMARY KEY (artist, editor));

-- the aggregates, kept by triggers as MusicBrainz keeps them (written anew
-- here, in their shape): a raw tag's delete lowers artist_tag's count and
-- tag's ref_count and deletes the artist_tag row no vote is left for;
-- artist_tag's deferred constraint trigger deletes a tag nothing uses
CREATE FUNCTION update_tag_counts_for_raw_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE artist_tag SET count = count - CASE WHEN OLD.is_upvote THEN 1 ELSE -1 END
	 WHERE artist = OLD.artist AND tag = OLD.tag;
	DELETE FROM artist_tag WHERE artist = OLD.artist AND tag = OLD.tag
	   AND NOT EXISTS (SELECT FROM artist_tag_raw r WHERE r.artist = OLD.artist AND r.tag = OLD.tag);
	UPDATE tag SET ref_count = ref_count - 1 WHERE id = OLD.tag;
	RETURN NULL;
END $$;
CREATE TRIGGER update_counts_for_delete AFTER DELETE ON artist_tag_raw
	FOR EACH ROW EXECUTE FUNCTION update_tag_counts_for_raw_delete();
CREATE FUNCTION delete_unused_tag(tag_id int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM tag WHERE id = tag_id;
EXCEPTION WHEN foreign_key_violation THEN RETURN;
END $$;
CREATE FUNCTION trg_delete_unused_tag_ref() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM delete_unused_tag(OLD.tag);
	RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER delete_unused_tag AFTER DELETE ON artist_tag DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION trg_delete_unused_tag_ref();
CREATE FUNCTION update_aggregate_rating_for_raw_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE artist_meta m SET rating_count = nullif(m.rating_count - 1, 0),
		rating = (SELECT avg(r.rating)::smallint FROM artist_rating_raw r WHERE r.artist = OLD.artist)
	 WHERE m.id = OLD.artist;
	RETURN NULL;
END $$;
CREATE TRIGGER update_aggregate_rating_for_delete AFTER DELETE ON artist_rating_raw
	FOR EACH ROW EXECUTE FUNCTION update_aggregate_rating_for_raw_delete();

-- reference data, four editors: 2 and 3 vote on and note editor 1's edits,
-- subscribe to editor 1 and collaborate on editor 1's collection; editor
-- 2's token is for editor 1's application; tags and ratings of all four
INSERT INTO gender (name, gid) VALUES ('Male', gen_random_uuid()), ('Female', gen_random_uuid()), ('Other', gen_random_uuid());
INSERT INTO area (gid, name) VALUES (gen_random_uuid(), 'Germany'), (gen_random_uuid(), 'Japan');
INSERT INTO language (iso_code_3, name) VALUES ('deu', 'German'), ('jpn', 'Japanese'), ('eng', 'English');
INSERT INTO artist (gid, name, sort_name, area) SELECT gen_random_uuid(), 'Artist ' || g, 'Artist ' || g, 1 + g % 2
  FROM generate_series(1, 6) g;
INSERT INTO artist_meta SELECT id, NULL, NULL FROM artist;
INSERT INTO tag (name) VALUES ('rock'), ('jazz'), ('krautrock'), ('city pop');
INSERT INTO editor (name, email, website, bio, birth_date, gender, area, password, ha1, email_confirm_date) VALUES
	('alice', 'alice@example.org', 'https://alice.example.org/', 'I edit krautrock.', '1980-02-03', 2, 1,
	 '{CLEARTEXT}a', md5('alice:musicbrainz.org:a'), now()),
	('bob', 'bob@example.org', 'https://bob.example.net/music', 'Japanese city pop.', '1975-11-30', 1, 2,
	 '{CLEARTEXT}b', md5('bob:musicbrainz.org:b'), now()),
	('carol', 'carol@example.org', NULL, NULL, '1991-07-14', 3, 1,
	 '{CLEARTEXT}c', md5('carol:musicbrainz.org:c'), now()),
	('dave', 'dave@example.org', 'http://dave.example.com', 'Lurker.', '1969-01-01', 1, NULL,
	 '{CLEARTEXT}d', md5('dave:musicbrainz.org:d'), NULL);
INSERT INTO editor_language VALUES (1, 1, 'native'), (1, 3, 'advanced'), (2, 2, 'native'), (3, 3, 'basic');
INSERT INTO editor_preference (editor, name, value) VALUES (1, 'timezone', 'Europe/Berlin'), (1, 'datetime_format', '%Y-%m-%d'),
	(2, 'timezone', 'Asia/Tokyo'), (4, 'public_ratings', '0');
INSERT INTO application (owner, name, oauth_id, oauth_secret, oauth_redirect_uri) VALUES
	(1, 'Picard plugin of alice', 'oid-1', 'osecret-1', 'http://localhost/cb'), (3, 'carol''s app', 'oid-3', 'osecret-3', NULL);
INSERT INTO editor_oauth_token (editor, application, authorization_code, refresh_token, access_token, expire_time) VALUES
	(1, 1, 'code-1a', 'refresh-1a', 'access-1a', now() + interval '1 hour'),
	(2, 1, 'code-2a', 'refresh-2a', 'access-2a', now() + interval '1 hour'),
	(3, 2, 'code-3b', 'refresh-3b', 'access-3b', now() + interval '1 hour'),
	(4, 2, NULL, 'refresh-4b', 'access-4b', now() + interval '1 hour');
INSERT INTO editor_collection (gid, editor, name, public, type) VALUES (gen_random_uuid(), 1, 'Krautrock', true, 1),
	(gen_random_uuid(), 2, 'City pop', false, 1), (gen_random_uuid(), 3, 'Wishlist', true, 1);
INSERT INTO editor_collection_artist (collection, artist) VALUES (1, 1), (1, 3), (2, 2), (2, 4), (3, 1), (3, 5);
INSERT INTO editor_collection_collaborator VALUES (1, 2), (1, 3), (2, 1);
INSERT INTO edit (editor, type, status, expire_time, language)
SELECT 1 + g % 4, 1 + g % 3, 1 + g % 2, now() + interval '7 days', 1 + g % 3 FROM generate_series(1, 16) g;
INSERT INTO edit_data SELECT id, jsonb_build_object('entity', jsonb_build_object('id', 1 + id % 6), 'new', jsonb_build_object('name', 'X' || id)) FROM edit;
INSERT INTO edit_artist SELECT id, 1 + id % 6, 0 FROM edit;
-- notes: everyone on everyone's edits; recipients are the other editors
INSERT INTO edit_note (editor, edit, text) SELECT 1 + (g * 3) % 4, 1 + g % 16, 'note ' || g FROM generate_series(1, 20) g;
INSERT INTO edit_note_recipient SELECT e.editor, n.id FROM edit_note n JOIN edit e ON e.id = n.edit WHERE e.editor <> n.editor;
INSERT INTO vote (editor, edit, vote) SELECT v, e.id, (e.id + v) % 3 - 1 FROM edit e, generate_series(1, 4) v WHERE v <> e.editor AND (e.id + v) % 2 = 0;
INSERT INTO annotation (editor, text, changelog) SELECT 1 + g % 4, 'About artist ' || g, 'typo' FROM generate_series(1, 8) g;
INSERT INTO artist_annotation SELECT 1 + id % 6, id FROM annotation;
INSERT INTO editor_subscribe_artist (editor, artist, last_edit_sent) VALUES (1, 1, 1), (2, 1, 4), (3, 2, 8);
INSERT INTO editor_subscribe_artist_deleted VALUES (1, gen_random_uuid(), 4), (2, gen_random_uuid(), 5);
INSERT INTO editor_subscribe_collection (editor, collection, last_edit_sent, last_seen_name) VALUES (3, 1, 1, 'Krautrock'), (1, 2, 2, 'City pop');
INSERT INTO editor_subscribe_editor (editor, subscribed_editor, last_edit_sent) VALUES (2, 1, 4), (3, 1, 8), (1, 2, 1), (4, 3, 12);
INSERT INTO editor_watch_preferences (editor) VALUES (1), (2), (4);
INSERT INTO editor_watch_artist VALUES (1, 1), (2, 1), (1, 2), (3, 3);
-- raw tags: editor 1 alone tagged artist 3 'krautrock' (its artist_tag row
-- goes with editor 1's raw tag); ratings of several editors per artist
INSERT INTO artist_tag_raw VALUES (1, 1, 1, true), (1, 2, 1, true), (3, 1, 3, true), (2, 2, 4, true), (2, 3, 4, false),
	(5, 3, 2, true), (6, 4, 2, true);
INSERT INTO artist_tag SELECT artist, tag, sum(CASE WHEN is_upvote THEN 1 ELSE -1 END) FROM artist_tag_raw GROUP BY 1, 2;
UPDATE tag t SET ref_count = (SELECT count(*) FROM artist_tag_raw r WHERE r.tag = t.id);
INSERT INTO artist_rating_raw VALUES (1, 1, 80), (1, 2, 60), (2, 2, 100), (3, 1, 40), (4, 3, 20), (5, 4, 60);
UPDATE artist_meta m SET rating = r.a, rating_count = r.n
  FROM (SELECT artist, avg(rating)::smallint a, count(*) n FROM artist_rating_raw GROUP BY 1) r WHERE r.artist = m.id;

SELECT privacy.define_subject('editor', 'editor');
-- editor_subscribe_collection.collection has no foreign key in MusicBrainz
-- either: no link (it is a collection's id, not an editor's)
SELECT table_name, via, depth FROM privacy.subject_tables WHERE subject = 'editor' ORDER BY depth, table_name::text;

-- the map against a recursive walk of pg_constraint from the root (no line:
-- the same tables)
WITH RECURSIVE r(t) AS (SELECT 'editor'::regclass::oid
	UNION SELECT c.conrelid FROM r JOIN pg_constraint c ON c.contype = 'f' AND c.confrelid = r.t)
SELECT s.table_name, r.t::regclass FROM (SELECT table_name FROM privacy.subject_tables WHERE subject = 'editor') s
  FULL JOIN r ON r.t = s.table_name WHERE s.table_name IS NULL OR r.t IS NULL;

-- discovery on the editor's tables (an artist's gender, a collection's name and
-- an area's name are not an editor's: not proposed), then classification
SELECT table_name, column_name, category, confidence FROM privacy.discover()
 WHERE table_name::text IN ('editor', 'editor_oauth_token', 'application', 'editor_preference', 'edit_note', 'annotation',
	'artist', 'editor_collection', 'area')
 ORDER BY table_name::text, column_name;
SELECT privacy.classify('editor', 'name', 'user.account.username');
SELECT privacy.classify('editor', 'email', 'user.contact.email');
SELECT privacy.classify('editor', 'website', 'user.contact.url');
SELECT privacy.classify('editor', 'bio', 'user.content.public');
SELECT privacy.classify('editor', 'birth_date', 'user.demographic.date_of_birth');
SELECT privacy.classify('editor', 'gender', 'user.demographic.gender');
SELECT privacy.classify('editor', 'password', 'user.authorization.password');
SELECT privacy.classify('edit_note', 'text', 'user.content.public');
SELECT privacy.classify('annotation', 'text', 'user.content.public');
SELECT table_name, column_name, erasure FROM privacy.classifications ORDER BY 1::text, 2;

-- an independent fixed point of an editor's rows (tableoid, ctid)
CREATE TABLE mb_rows (tbl regclass, tid tid, PRIMARY KEY (tbl, tid));
CREATE FUNCTION mb_walk(id int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE e record; cond text; n bigint; grown bigint;
BEGIN
	TRUNCATE mb_rows;
	INSERT INTO mb_rows SELECT 'editor', ctid FROM editor WHERE editor.id = mb_walk.id;
	LOOP
		grown := 0;
		FOR e IN SELECT c.conrelid::regclass AS child, c.confrelid::regclass AS parent, c.conkey, c.confkey
			FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
			AND c.conrelid <> 'editor'::regclass
		LOOP
			SELECT string_agg(format('c.%I = p.%I', ca.attname, pa.attname), ' AND ') INTO cond
			  FROM unnest(e.conkey, e.confkey) k(ck, pk)
			  JOIN pg_attribute ca ON ca.attrelid = e.child AND ca.attnum = k.ck
			  JOIN pg_attribute pa ON pa.attrelid = e.parent AND pa.attnum = k.pk;
			EXECUTE format('INSERT INTO mb_rows SELECT %L::regclass, c.ctid FROM %s c WHERE EXISTS (SELECT 1 FROM %s p'
				' WHERE %s AND p.ctid IN (SELECT tid FROM mb_rows WHERE tbl = %L::regclass)) ON CONFLICT DO NOTHING',
				e.child, e.child, e.parent, cond, e.parent);
			GET DIAGNOSTICS n = ROW_COUNT;
			grown := grown + n;
		END LOOP;
		EXIT WHEN grown = 0;
	END LOOP;
END $$;
CREATE FUNCTION mb_counts() RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r jsonb := '{}'; c record; n bigint;
BEGIN
	FOR c IN SELECT oid::regclass t FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace
		AND relname <> 'mb_rows' LOOP
		EXECUTE format('SELECT count(*) FROM %s', c.t) INTO n;
		r := r || jsonb_build_object('public.' || c.t::text, n);
	END LOOP;
	RETURN r;
END $$;

-- access and export (the tables with classified columns) of every editor
-- against the walk (no line: all equal)
CREATE FUNCTION mb_access_diff() RETURNS TABLE (editor int, tbl text, walk bigint, access bigint, export bigint)
LANGUAGE plpgsql AS $$
DECLARE i int;
BEGIN
	FOR i IN 1..4 LOOP
		PERFORM mb_walk(i);
		RETURN QUERY
		WITH w AS (SELECT 'public.' || x.tbl::text t, count(*) n FROM mb_rows x GROUP BY 1),
		     p AS (SELECT k t, jsonb_array_length(v)::bigint n FROM jsonb_each(privacy.access('editor', i::text) -> 'data') e(k, v)),
		     x AS (SELECT k t, jsonb_array_length(v)::bigint n FROM jsonb_each(privacy.export('editor', i::text) -> 'tables') e(k, v))
		SELECT i, coalesce(w.t, p.t, x.t), w.n, p.n, x.n FROM w FULL JOIN p ON w.t = p.t FULL JOIN x ON x.t = coalesce(w.t, p.t)
		 WHERE w.n IS DISTINCT FROM p.n OR (x.t IS NOT NULL AND w.n IS DISTINCT FROM x.n);
	END LOOP;
END $$;
SELECT * FROM mb_access_diff();
-- editor 1's rows: its own, and those of editors 2 and 3 on its rows
SELECT k AS tbl, jsonb_array_length(v) AS n FROM jsonb_each(privacy.access('editor', '1') -> 'data') e(k, v) ORDER BY 1;
SELECT k AS tbl, jsonb_array_length(v) AS n FROM jsonb_each(privacy.export('editor', '1') -> 'tables') e(k, v) ORDER BY 1;
SELECT privacy.export('editor', '2') -> 'tables' -> 'public.editor' -> 0 ->> 'website' AS website;

-- erase, each editor rolled back: the receipt counts what disappeared, the
-- walk's rows are gone, the dry run agrees (no line: all hold); the
-- aggregate tables change through MusicBrainz's triggers
CREATE FUNCTION mb_erase_diff(ids int[], shared text) RETURNS TABLE (editor int, tbl text, walk bigint, deleted bigint, removed bigint, dry_same boolean)
LANGUAGE plpgsql AS $$
DECLARE i int; d jsonb; r jsonb; before jsonb; after jsonb;
BEGIN
	FOREACH i IN ARRAY ids LOOP
		BEGIN
			PERFORM mb_walk(i);
			before := mb_counts();
			d := privacy.erase('editor', i::text, dry_run => true, shared => shared);
			r := privacy.erase('editor', i::text, shared => shared);
			after := mb_counts();
			RETURN QUERY
			WITH w AS (SELECT 'public.' || x.tbl::text t, count(*) n FROM mb_rows x GROUP BY 1),
			     a AS (SELECT k t, (before ->> k)::bigint - (after ->> k)::bigint AS n FROM jsonb_object_keys(before) k)
			SELECT i, a.t, w.n, (r -> 'tables' -> a.t ->> 'deleted')::bigint, a.n,
				(d - 'request' - 'dry_run') = (r - 'request' - 'dry_run')
			  FROM a LEFT JOIN w ON w.t = a.t
			 WHERE (r -> 'tables' ? a.t AND (r -> 'tables' -> a.t ->> 'deleted')::bigint <> a.n)
			    OR (shared = 'delete' AND r -> 'tables' ? a.t AND a.n <> coalesce(w.n, 0))
			    OR (d - 'request' - 'dry_run') <> (r - 'request' - 'dry_run');
			RAISE EXCEPTION USING ERRCODE = 'P0001';
		EXCEPTION WHEN SQLSTATE 'P0001' THEN NULL;
		END;
	END LOOP;
END $$;
SELECT * FROM mb_erase_diff(ARRAY[1, 2, 3, 4], 'delete');
SELECT * FROM mb_erase_diff(ARRAY[1, 2], 'keep');

-- editor 1 for real: its receipt, the aggregates its raw tags and ratings
-- fed (artist 3's 'krautrock' row and tag gone at the deferred trigger),
-- and nothing of it left (the walk finds only the root, which is gone)
SELECT mb_walk(1);
SELECT k AS tbl, v ->> 'deleted' AS deleted FROM jsonb_each(privacy.erase('editor', '1') -> 'tables') e(k, v)
 WHERE (v ->> 'deleted')::int > 0 ORDER BY 1;
SELECT count(*) AS rows_left FROM mb_rows r WHERE EXISTS (SELECT FROM editor e WHERE e.tableoid = r.tbl AND e.ctid = r.tid);
SELECT artist, tag, count FROM artist_tag ORDER BY 1, 2;
SELECT name, ref_count FROM tag ORDER BY name;
SELECT id, rating, rating_count FROM artist_meta ORDER BY id;
SELECT count(*) AS votes_on_its_edits FROM vote v WHERE NOT EXISTS (SELECT FROM edit e WHERE e.id = v.edit);
SELECT (privacy.access('editor', '1') -> 'data') = '{}' AS nothing_left;

-- a deferred constraint outside the map in a schema the caller may not use
-- is left deferred: the trigger's event is refused (42501), nothing erased
CREATE SCHEMA mb_private;
CREATE TABLE mb_private.tag_log (tag int);
CREATE FUNCTION mb_private.noop() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.tag = 0 THEN RAISE EXCEPTION 'tag 0 logged'; END IF; RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER tag_log_seen AFTER INSERT ON mb_private.tag_log DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION mb_private.noop();
CREATE FUNCTION log_tag_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO mb_private.tag_log VALUES (OLD.tag); RETURN NULL; END $$;
CREATE TRIGGER log_tag_delete AFTER DELETE ON artist_tag_raw FOR EACH ROW EXECUTE FUNCTION log_tag_delete();
CREATE ROLE regress_mb_dpo;
GRANT privacy_officer TO regress_mb_dpo;
SET ROLE regress_mb_dpo;
\set VERBOSITY terse
SELECT privacy.erase('editor', '2') -> 'tables' -> 'public.artist_tag_raw';
\set VERBOSITY default
RESET ROLE;
SELECT count(*) AS bob_raw_tags FROM artist_tag_raw WHERE editor = 2;
-- with USAGE on the schema: set IMMEDIATE, checked at each statement
GRANT USAGE ON SCHEMA mb_private TO regress_mb_dpo;
SET ROLE regress_mb_dpo;
SELECT privacy.erase('editor', '2') -> 'tables' -> 'public.artist_tag_raw';
RESET ROLE;
SELECT count(*) AS logged FROM mb_private.tag_log;
-- and deferred again in the caller's transaction after the erasure (during
-- it they ran at the end of each statement: delete_unused_tag deleted the
-- tags no raw tag uses any more): the row the trigger refuses is refused
-- at SET CONSTRAINTS, not at the INSERT
BEGIN;
SELECT privacy.erase('editor', '3') -> 'tables' -> 'public.artist_tag_raw';
INSERT INTO mb_private.tag_log VALUES (0);
SELECT name, ref_count FROM tag ORDER BY name;
SET CONSTRAINTS mb_private.tag_log_seen IMMEDIATE;
ROLLBACK;

DROP SCHEMA mb_private CASCADE;
REVOKE privacy_officer FROM regress_mb_dpo;
DROP ROLE regress_mb_dpo;
SELECT privacy.drop_subject('editor');
DROP FUNCTION mb_erase_diff(int[], text), mb_access_diff(), mb_counts(), mb_walk(int);
DROP TABLE mb_rows, artist_rating_raw, artist_tag_raw, editor_watch_artist, editor_watch_preferences,
	editor_subscribe_editor, editor_subscribe_collection, editor_subscribe_artist_deleted, editor_subscribe_artist,
	artist_annotation, annotation, vote, edit_note_recipient, edit_note, edit_artist, edit_data, edit,
	editor_collection_collaborator, editor_collection_artist, editor_collection, editor_oauth_token, application,
	editor_preference, editor_language, editor, artist_tag, tag, artist_meta, artist, language, area, gender;
DROP FUNCTION update_tag_counts_for_raw_delete(), delete_unused_tag(int), trg_delete_unused_tag_ref(),
	update_aggregate_rating_for_raw_delete(), log_tag_delete();
DROP EXTENSION privacy;
