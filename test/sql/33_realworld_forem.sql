-- Forem's schema (dev.to; db/schema.rb of 2021, reduced by hand to 31
-- tables with their real foreign keys and ON DELETE actions: cascade,
-- nullify, and none for badge_achievements, user_blocks, users_settings,
-- oauth_access_tokens): users with Forem's CHECK (username IS NOT NULL)
-- instead of NOT NULL, articles, comments on a polymorphic commentable,
-- reactions on a polymorphic reactable (an article, a comment, or a user:
-- a flag), follows with a polymorphic followable and follower, moderators'
-- notes on a polymorphic noteable, notifications, mentions, page views
-- (ON DELETE SET NULL), Ahoy's visits, events and messages, identities,
-- API secrets, badges, taggings, roles.  The polymorphic columns that can
-- hold a user are link()ed with their type ('User'); rows of other types
-- with the same id (article 1, organization 1) are nobody's for a user.
-- Checked against an independent walk (the root row, the linked rows of
-- type 'User', then every row whose foreign key points at one of them);
-- users 1, 2 and 3 follow, flag, mention and comment on each other.
-- The defects it found:
-- - classify() chose erasure 'null' for users.username (its default for
--   the category), which Forem declares NOT NULL by a CHECK constraint, as
--   strong_migrations adds it: an anonymizing erasure failed with 23514,
--   and classify accepted an explicit 'null'.  A CHECK (col IS NOT NULL)
--   is now NOT NULL for classify (redact, here hash: the column is unique)
--   and for retention's anonymization;
-- - with shared => 'keep', a row of a polymorphic link column whose type
--   is not the subject's ('Organization' in follows.followable_type) was
--   taken for another user's row, shared: its erasure was refused (NOT
--   NULL), or the row was kept and detached instead of deleted;
-- - discover_links() looked at tables outside the map only, and missed
--   reactions.reactable_id and notes.noteable_id (type 'User'): both
--   tables are mapped by another column;
-- - discover() did not propose users.location (user.location.imprecise),
--   users.website_url (user.contact.url), and took ahoy_visits'
--   visit_token and visitor_token for credentials (they are cookie ids).
CREATE EXTENSION privacy;
CREATE TABLE users (id bigserial PRIMARY KEY, username varchar, name varchar, email varchar DEFAULT '' NOT NULL,
	encrypted_password varchar DEFAULT '' NOT NULL, reset_password_token varchar, confirmation_token varchar,
	unconfirmed_email varchar, current_sign_in_ip inet, last_sign_in_ip inet, last_sign_in_at timestamp,
	sign_in_count int DEFAULT 0 NOT NULL, location varchar, summary text, website_url varchar,
	twitter_username varchar, github_username varchar, profile_image varchar,
	invited_by_id bigint, invited_by_type varchar, created_at timestamp NOT NULL DEFAULT now(),
	updated_at timestamp NOT NULL DEFAULT now(),
	CONSTRAINT users_username_not_null CHECK (username IS NOT NULL));
CREATE UNIQUE INDEX index_users_on_username ON users (username);
CREATE UNIQUE INDEX index_users_on_email ON users (email);
CREATE UNIQUE INDEX index_users_on_twitter_username ON users (twitter_username);
CREATE TABLE profiles (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	data jsonb DEFAULT '{}' NOT NULL, created_at timestamp NOT NULL DEFAULT now());
CREATE TABLE users_settings (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users,
	config_theme int DEFAULT 0 NOT NULL, display_email_on_profile boolean DEFAULT false NOT NULL,
	experience_level int, feed_url varchar);
CREATE TABLE identities (id serial PRIMARY KEY, auth_data_dump text, provider varchar, secret varchar,
	token varchar, uid varchar, user_id bigint REFERENCES users ON DELETE CASCADE, UNIQUE (provider, uid));
CREATE TABLE api_secrets (id bigserial PRIMARY KEY, description varchar NOT NULL, secret varchar UNIQUE,
	user_id bigint REFERENCES users ON DELETE CASCADE);
CREATE TABLE organizations (id bigserial PRIMARY KEY, name varchar, slug varchar);
CREATE TABLE organization_memberships (id bigserial PRIMARY KEY, organization_id bigint NOT NULL REFERENCES organizations ON DELETE CASCADE,
	user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE, type_of_user varchar NOT NULL, user_title varchar);
CREATE TABLE collections (id bigserial PRIMARY KEY, organization_id bigint REFERENCES organizations ON DELETE SET NULL,
	slug varchar, title varchar, user_id bigint REFERENCES users ON DELETE CASCADE);
CREATE TABLE articles (id bigserial PRIMARY KEY, body_markdown text, cached_user_name varchar,
	cached_user_username varchar, collection_id bigint REFERENCES collections ON DELETE SET NULL,
	organization_id bigint REFERENCES organizations ON DELETE SET NULL, published boolean DEFAULT false,
	slug text, title varchar, user_id bigint REFERENCES users ON DELETE CASCADE,
	created_at timestamp NOT NULL DEFAULT now());
CREATE TABLE comments (id bigserial PRIMARY KEY, ancestry varchar, body_markdown text, commentable_id bigint,
	commentable_type varchar, deleted boolean DEFAULT false, user_id bigint REFERENCES users ON DELETE CASCADE,
	created_at timestamp NOT NULL DEFAULT now());
CREATE INDEX index_comments_on_commentable_id_and_commentable_type ON comments (commentable_id, commentable_type);
CREATE TABLE reactions (id bigserial PRIMARY KEY, category varchar, points double precision DEFAULT 1.0,
	reactable_id bigint, reactable_type varchar, status varchar DEFAULT 'valid',
	user_id bigint REFERENCES users ON DELETE CASCADE, created_at timestamp NOT NULL DEFAULT now());
CREATE UNIQUE INDEX index_reactions_on_user_id_reactable_id_reactable_type_category
	ON reactions (user_id, reactable_id, reactable_type, category);
CREATE INDEX index_reactions_on_reactable_id_and_reactable_type ON reactions (reactable_id, reactable_type);
CREATE TABLE follows (id serial PRIMARY KEY, blocked boolean DEFAULT false NOT NULL, followable_id bigint NOT NULL,
	followable_type varchar NOT NULL, follower_id bigint NOT NULL, follower_type varchar NOT NULL,
	points double precision DEFAULT 1.0, subscription_status varchar DEFAULT 'all_articles' NOT NULL);
CREATE INDEX fk_followables ON follows (followable_id, followable_type);
CREATE INDEX fk_follows ON follows (follower_id, follower_type);
CREATE TABLE notes (id bigserial PRIMARY KEY, author_id bigint REFERENCES users ON DELETE SET NULL,
	content text, noteable_id bigint, noteable_type varchar, reason varchar);
CREATE TABLE notifications (id bigserial PRIMARY KEY, action varchar, json_data jsonb, notifiable_id bigint,
	notifiable_type varchar, notified_at timestamp, organization_id bigint REFERENCES organizations ON DELETE CASCADE,
	read boolean DEFAULT false, user_id bigint REFERENCES users ON DELETE CASCADE);
CREATE TABLE mentions (id bigserial PRIMARY KEY, mentionable_id bigint, mentionable_type varchar,
	user_id bigint REFERENCES users ON DELETE CASCADE);
CREATE TABLE page_views (id bigserial PRIMARY KEY, article_id bigint REFERENCES articles ON DELETE CASCADE,
	counts_for_number_of_views int DEFAULT 1, domain varchar, path varchar, referrer varchar,
	time_tracked_in_seconds int DEFAULT 15, user_agent varchar, user_id bigint REFERENCES users ON DELETE SET NULL);
CREATE TABLE ahoy_visits (id bigserial PRIMARY KEY, started_at timestamp, user_id bigint REFERENCES users ON DELETE CASCADE,
	visit_token varchar UNIQUE, visitor_token varchar);
CREATE TABLE ahoy_events (id bigserial PRIMARY KEY, name varchar, properties jsonb, time timestamp,
	user_id bigint REFERENCES users ON DELETE CASCADE, visit_id bigint REFERENCES ahoy_visits ON DELETE CASCADE);
CREATE TABLE feedback_messages (id bigserial PRIMARY KEY, affected_id bigint REFERENCES users ON DELETE SET NULL,
	category varchar, feedback_type varchar, message text, offender_id bigint REFERENCES users ON DELETE SET NULL,
	reported_url varchar, reporter_id bigint REFERENCES users ON DELETE SET NULL, status varchar DEFAULT 'Open');
CREATE TABLE ahoy_messages (id bigserial PRIMARY KEY, content text, feedback_message_id bigint REFERENCES feedback_messages ON DELETE SET NULL,
	mailer varchar, sent_at timestamp, subject text, "to" text, token varchar,
	user_id bigint REFERENCES users ON DELETE CASCADE, user_type varchar);
CREATE TABLE badges (id bigserial PRIMARY KEY, slug varchar NOT NULL, title varchar NOT NULL UNIQUE);
CREATE TABLE badge_achievements (id bigserial PRIMARY KEY, badge_id bigint NOT NULL REFERENCES badges,
	rewarder_id bigint REFERENCES users ON DELETE SET NULL, rewarding_context_message text,
	user_id bigint NOT NULL REFERENCES users, UNIQUE (badge_id, user_id));
CREATE TABLE tags (id serial PRIMARY KEY, name varchar UNIQUE, taggings_count int DEFAULT 0);
CREATE TABLE taggings (id serial PRIMARY KEY, context varchar(128), tag_id int REFERENCES tags ON DELETE CASCADE,
	taggable_id int, taggable_type varchar, tagger_id int, tagger_type varchar);
CREATE TABLE user_blocks (id bigserial PRIMARY KEY, blocked_id bigint NOT NULL REFERENCES users,
	blocker_id bigint NOT NULL REFERENCES users, config varchar DEFAULT 'default' NOT NULL);
CREATE TABLE roles (id bigserial PRIMARY KEY, name varchar, resource_id bigint, resource_type varchar);
CREATE TABLE users_roles (role_id bigint REFERENCES roles ON DELETE CASCADE, user_id bigint REFERENCES users ON DELETE CASCADE);
CREATE TABLE oauth_applications (id bigserial PRIMARY KEY, name varchar NOT NULL, uid varchar NOT NULL UNIQUE,
	secret varchar NOT NULL, redirect_uri text NOT NULL);
CREATE TABLE oauth_access_tokens (id bigserial PRIMARY KEY, application_id bigint NOT NULL REFERENCES oauth_applications,
	resource_owner_id bigint REFERENCES users, token varchar NOT NULL UNIQUE, refresh_token varchar UNIQUE,
	expires_in int, revoked_at timestamp, created_at timestamp NOT NULL DEFAULT now());
CREATE TABLE user_subscriptions (id bigserial PRIMARY KEY, author_id bigint NOT NULL REFERENCES users,
	subscriber_id bigint NOT NULL REFERENCES users, subscriber_email varchar NOT NULL,
	user_subscription_sourceable_id bigint, user_subscription_sourceable_type varchar);

-- three users (and a fourth, who is nobody's); article 1 and organization
-- 1 have the ids of user 1
INSERT INTO users (username, name, email, encrypted_password, current_sign_in_ip, last_sign_in_at, location, summary,
	website_url, twitter_username, github_username)
VALUES ('ben', 'Ben Halpern', 'ben@example.com', '$2a$11$aaaa', '192.0.2.1', now() - interval '2 years', 'New York, NY',
	'A Canadian software developer', 'https://benhalpern.example', 'bendhalpern', 'benhalpern'),
	('jess', 'Jess Lee', 'jess@example.com', '$2a$11$bbbb', '192.0.2.2', now(), 'Berlin, Germany', NULL,
	'https://jess.example.org/blog', 'jessleenyc', 'jessleenyc'),
	('peter', 'Peter Frank', 'peter@example.com', '$2a$11$cccc', '2001:db8::3', now(), 'Paris', 'Writes about Rails',
	NULL, NULL, 'pbf'),
	('nobody', 'No Body', 'no@example.com', '$2a$11$dddd', NULL, now(), NULL, NULL, NULL, NULL, NULL);
UPDATE users SET invited_by_id = 1, invited_by_type = 'User' WHERE id = 3;
INSERT INTO profiles (user_id, data) SELECT id, jsonb_build_object('education', 'School ' || id) FROM users;
INSERT INTO users_settings (user_id, experience_level) SELECT id, id FROM users;
INSERT INTO identities (provider, uid, token, secret, user_id, auth_data_dump) VALUES
	('github', 'gh-1', 'gho_1', NULL, 1, '--- {}'), ('twitter', 'tw-1', 'tw_tok_1', 'tw_sec_1', 1, '--- {}'),
	('github', 'gh-2', 'gho_2', NULL, 2, '--- {}'), ('github', 'gh-3', 'gho_3', NULL, 3, '--- {}');
INSERT INTO api_secrets (description, secret, user_id) VALUES ('cli', 'sec-1', 1), ('bot', 'sec-3', 3);
INSERT INTO organizations (name, slug) VALUES ('Forem', 'forem'), ('DEV', 'dev');
INSERT INTO organization_memberships (organization_id, user_id, type_of_user) VALUES (1, 1, 'admin'), (1, 2, 'member'), (2, 3, 'member');
INSERT INTO collections (slug, title, user_id) VALUES ('rails-series', 'Rails series', 1);
INSERT INTO articles (title, slug, body_markdown, cached_user_name, cached_user_username, user_id, organization_id, collection_id)
VALUES ('Welcome', 'welcome', '# hi', 'Ben Halpern', 'ben', 1, 1, 1),
	('Rails tips', 'rails-tips', 'tips', 'Ben Halpern', 'ben', 1, NULL, 1),
	('Berlin meetup', 'berlin', 'meetup', 'Jess Lee', 'jess', 2, 1, NULL),
	('Hello', 'hello', 'hello', 'Peter Frank', 'peter', 3, NULL, NULL);
-- comments: jess and peter on ben's article 1; ben replies; a podcast
-- episode's comment with id 1
INSERT INTO comments (body_markdown, commentable_id, commentable_type, user_id, ancestry) VALUES
	('Great post', 1, 'Article', 2, NULL), ('+1', 1, 'Article', 3, '1'), ('Thanks!', 1, 'Article', 1, '1'),
	('Nice', 3, 'Article', 1, NULL), ('Episode 1', 1, 'PodcastEpisode', 3, NULL);
-- reactions: on articles, comments, and flags on users (reactable_type 'User')
INSERT INTO reactions (category, reactable_id, reactable_type, user_id) VALUES
	('like', 1, 'Article', 2), ('unicorn', 1, 'Article', 3), ('like', 3, 'Article', 1), ('like', 1, 'Comment', 1),
	('vomit', 1, 'User', 3), ('vomit', 3, 'User', 2), ('readinglist', 4, 'Article', 1);
-- follows: users following users, an organization (id 1), a tag (id 1)
INSERT INTO follows (followable_id, followable_type, follower_id, follower_type) VALUES
	(1, 'User', 2, 'User'), (1, 'User', 3, 'User'), (2, 'User', 1, 'User'), (1, 'Organization', 2, 'User'),
	(1, 'ActsAsTaggableOn::Tag', 3, 'User'), (2, 'Organization', 1, 'User');
INSERT INTO notes (author_id, content, noteable_id, noteable_type, reason) VALUES
	(2, 'Warned for spam', 3, 'User', 'misc_note'), (1, 'Trusted', 2, 'User', 'misc_note');
INSERT INTO notifications (action, notifiable_id, notifiable_type, user_id, json_data) VALUES
	('Published', 1, 'Article', 2, '{"user": {"id": 1}}'), ('Reaction', 1, 'Reaction', 1, '{}'),
	('Follow', 1, 'Follow', 1, '{}'), (NULL, 3, 'Comment', 2, '{}');
INSERT INTO mentions (mentionable_id, mentionable_type, user_id) VALUES (2, 'Comment', 1), (4, 'Comment', 2);
INSERT INTO page_views (article_id, user_id, referrer, user_agent, domain, path) VALUES
	(1, 2, 'https://google.com', 'Mozilla/5.0', 'dev.to', '/ben/welcome'), (1, NULL, NULL, 'curl/8', 'dev.to', '/ben/welcome'),
	(3, 1, NULL, 'Mozilla/5.0', 'dev.to', '/jess/berlin'), (4, 3, NULL, 'Mozilla/5.0', 'dev.to', '/peter/hello');
INSERT INTO ahoy_visits (started_at, user_id, visit_token, visitor_token) VALUES
	(now(), 1, 'b9c1d2e3-0000-4000-8000-000000000001', 'a1b2c3d4-0000-4000-8000-00000000000a'),
	(now(), 2, 'b9c1d2e3-0000-4000-8000-000000000002', 'a1b2c3d4-0000-4000-8000-00000000000b'),
	(now(), NULL, 'b9c1d2e3-0000-4000-8000-000000000003', 'a1b2c3d4-0000-4000-8000-00000000000c');
INSERT INTO ahoy_events (name, properties, time, user_id, visit_id) VALUES
	('Clicked Follow', '{}', now(), 1, 1), ('Viewed', '{}', now(), 2, 2), ('Viewed', '{}', now(), NULL, 3);
INSERT INTO feedback_messages (affected_id, offender_id, reporter_id, message, category) VALUES
	(NULL, 3, 2, 'spam links', 'spam'), (1, NULL, 3, 'harassment in comments', 'rude or vulgar');
INSERT INTO ahoy_messages (mailer, subject, "to", token, user_id, user_type, feedback_message_id) VALUES
	('DigestMailer#digest_email', 'Your digest', 'ben@example.com', 'tok-1', 1, 'User', NULL),
	('NotifyMailer#feedback', 'Report', 'jess@example.com', 'tok-2', 2, 'User', 1);
INSERT INTO badges (slug, title) VALUES ('beloved', 'Beloved'), ('streak', 'Streak');
INSERT INTO badge_achievements (badge_id, user_id, rewarder_id) VALUES (1, 1, NULL), (2, 2, 1), (1, 3, 1);
INSERT INTO tags (name) VALUES ('rails'), ('berlin');
INSERT INTO taggings (tag_id, taggable_id, taggable_type, context) VALUES (1, 2, 'Article', 'tags'), (2, 3, 'Article', 'tags');
INSERT INTO user_blocks (blocked_id, blocker_id) VALUES (3, 2);
INSERT INTO roles (name, resource_id, resource_type) VALUES ('admin', NULL, NULL), ('tag_moderator', 1, 'ActsAsTaggableOn::Tag');
INSERT INTO users_roles VALUES (1, 1), (2, 2);
INSERT INTO oauth_applications (name, uid, secret, redirect_uri) VALUES ('Forem app', 'app-uid', 'app-secret', 'https://app.example/cb');
INSERT INTO oauth_access_tokens (application_id, resource_owner_id, token, refresh_token) VALUES (1, 1, 'at-1', 'rt-1'), (1, 3, 'at-3', NULL);
INSERT INTO user_subscriptions (author_id, subscriber_id, subscriber_email) VALUES (1, 2, 'jess@example.com'), (2, 3, 'peter@example.com');

SELECT privacy.define_subject('user', 'users');
-- the polymorphic pairs discover_links proposes (reactions and notes too,
-- which are in the map already by user_id and author_id: they were left
-- out), then linked with their type
SELECT table_name, column_name, type_column, type_value, confidence FROM privacy.discover_links('user')
 WHERE type_column IS NOT NULL ORDER BY 1::text, 2;
SELECT privacy.link('user', 'follows', 'followable_id', 'followable_type', 'User');
SELECT privacy.link('user', 'follows', 'follower_id', 'follower_type', 'User');
SELECT privacy.link('user', 'reactions', 'reactable_id', 'reactable_type', 'User');
SELECT privacy.link('user', 'notes', 'noteable_id', 'noteable_type', 'User');
SELECT table_name, via, depth FROM privacy.subject_tables WHERE subject = 'user' ORDER BY depth, table_name::text;

-- discovery, then classification: username is NOT NULL by its CHECK
-- constraint (classify chose 'null', 23514 at the erasure)
SELECT table_name, column_name, category, confidence FROM privacy.discover()
 WHERE table_name::text IN ('users', 'ahoy_visits', 'identities', 'api_secrets', 'page_views', 'organizations', 'collections')
 ORDER BY table_name::text, column_name;
SELECT privacy.classify('users', 'username', 'user.account.username');
SELECT privacy.classify('users', 'name', 'user.name');
SELECT privacy.classify('users', 'email', 'user.contact.email');
SELECT privacy.classify('users', 'location', 'user.location.imprecise');
SELECT privacy.classify('users', 'website_url', 'user.contact.url');
SELECT privacy.classify('users', 'current_sign_in_ip', 'user.device.ip_address');
SELECT privacy.classify('articles', 'cached_user_name', 'user.name');
SELECT privacy.classify('comments', 'body_markdown', 'user.content.public');
SELECT table_name, column_name, erasure FROM privacy.classifications ORDER BY 1::text, 2;
\set VERBOSITY terse
SELECT privacy.classify('users', 'username', 'user.account.username', erasure => 'null');
\set VERBOSITY default

-- the independent fixed point of a user's rows
CREATE TABLE fm_rows (tbl regclass, tid tid, PRIMARY KEY (tbl, tid));
CREATE FUNCTION fm_walk(id bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE e record; cond text; n bigint; grown bigint; l record;
BEGIN
	TRUNCATE fm_rows;
	INSERT INTO fm_rows SELECT 'users', ctid FROM users u WHERE u.id = fm_walk.id;
	FOR l IN SELECT * FROM (VALUES ('follows'::regclass, 'followable_id', 'followable_type'),
		('follows', 'follower_id', 'follower_type'), ('reactions', 'reactable_id', 'reactable_type'),
		('notes', 'noteable_id', 'noteable_type')) v(tbl, col, typ) LOOP
		EXECUTE format('INSERT INTO fm_rows SELECT %L::regclass, ctid FROM %s WHERE %I = $1 AND %I = %L ON CONFLICT DO NOTHING',
			l.tbl, l.tbl, l.col, l.typ, 'User') USING id;
	END LOOP;
	LOOP
		grown := 0;
		FOR e IN SELECT c.conrelid::regclass AS child, c.confrelid::regclass AS parent, c.conkey, c.confkey
			FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
			AND c.conrelid <> 'users'::regclass
		LOOP
			SELECT string_agg(format('c.%I = p.%I', ca.attname, pa.attname), ' AND ') INTO cond
			  FROM unnest(e.conkey, e.confkey) k(ck, pk)
			  JOIN pg_attribute ca ON ca.attrelid = e.child AND ca.attnum = k.ck
			  JOIN pg_attribute pa ON pa.attrelid = e.parent AND pa.attnum = k.pk;
			EXECUTE format('INSERT INTO fm_rows SELECT %L::regclass, c.ctid FROM %s c WHERE EXISTS (SELECT 1 FROM %s p'
				' WHERE %s AND p.ctid IN (SELECT tid FROM fm_rows WHERE tbl = %L::regclass)) ON CONFLICT DO NOTHING',
				e.child, e.child, e.parent, cond, e.parent);
			GET DIAGNOSTICS n = ROW_COUNT;
			grown := grown + n;
		END LOOP;
		EXIT WHEN grown = 0;
	END LOOP;
END $$;
CREATE FUNCTION fm_counts() RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r jsonb := '{}'; c record; n bigint;
BEGIN
	FOR c IN SELECT oid::regclass t FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace
		AND relname <> 'fm_rows' LOOP
		EXECUTE format('SELECT count(*) FROM %s', c.t) INTO n;
		r := r || jsonb_build_object('public.' || c.t::text, n);
	END LOOP;
	RETURN r;
END $$;

-- access and export of every user against the walk (no line: all equal)
CREATE FUNCTION fm_access_diff() RETURNS TABLE (usr bigint, tbl text, walk bigint, access bigint, export bigint)
LANGUAGE plpgsql AS $$
DECLARE i bigint;
BEGIN
	FOR i IN 1..5 LOOP
		PERFORM fm_walk(i);
		RETURN QUERY
		WITH w AS (SELECT 'public.' || x.tbl::text t, count(*) n FROM fm_rows x GROUP BY 1),
		     p AS (SELECT k t, jsonb_array_length(v)::bigint n FROM jsonb_each(privacy.access('user', i::text) -> 'data') e(k, v)),
		     x AS (SELECT k t, jsonb_array_length(v)::bigint n FROM jsonb_each(privacy.export('user', i::text) -> 'tables') e(k, v))
		SELECT i::bigint, coalesce(w.t, p.t, x.t), w.n, p.n, x.n FROM w FULL JOIN p ON w.t = p.t FULL JOIN x ON x.t = coalesce(w.t, p.t)
		 WHERE w.n IS DISTINCT FROM p.n OR (x.t IS NOT NULL AND w.n IS DISTINCT FROM x.n);
	END LOOP;
END $$;
SELECT * FROM fm_access_diff();
-- user 1's rows: the follows of users 2 and 3 and peter's flag are its
-- too; the follow of organization 1, the comment on podcast episode 1 and
-- the reactions on article 1 are not
SELECT k AS tbl, jsonb_array_length(v) AS n FROM jsonb_each(privacy.access('user', '1') -> 'data') e(k, v) ORDER BY 1;
SELECT f ->> 'followable_type' AS followable_type, f ->> 'followable_id' AS followable_id, f ->> 'follower_id' AS follower_id
  FROM jsonb_array_elements(privacy.access('user', '1') -> 'data' -> 'public.follows') f ORDER BY 1, 2, 3;
SELECT k AS tbl, jsonb_array_length(v) AS n FROM jsonb_each(privacy.export('user', '1') -> 'tables') e(k, v) ORDER BY 1;

-- erase, each user rolled back: the receipt counts what disappeared, the
-- walk's rows are gone, the dry run agrees (no line: all hold); user 1
-- cannot go while badge_achievements, users_settings and
-- oauth_access_tokens (no ON DELETE action) reference it: all are mapped
-- and deleted first
CREATE FUNCTION fm_erase_diff(ids bigint[]) RETURNS TABLE (usr bigint, tbl text, walk bigint, deleted bigint, removed bigint, dry_same boolean)
LANGUAGE plpgsql AS $$
DECLARE i bigint; d jsonb; r jsonb; before jsonb; after jsonb;
BEGIN
	FOREACH i IN ARRAY ids LOOP
		BEGIN
			PERFORM fm_walk(i);
			before := fm_counts();
			d := privacy.erase('user', i::text, dry_run => true);
			r := privacy.erase('user', i::text);
			after := fm_counts();
			RETURN QUERY
			WITH w AS (SELECT 'public.' || x.tbl::text t, count(*) n FROM fm_rows x GROUP BY 1),
			     a AS (SELECT k t, (before ->> k)::bigint - (after ->> k)::bigint AS n FROM jsonb_object_keys(before) k)
			SELECT i, a.t, w.n, (r -> 'tables' -> a.t ->> 'deleted')::bigint, a.n,
				(d - 'request' - 'dry_run') = (r - 'request' - 'dry_run')
			  FROM a LEFT JOIN w ON w.t = a.t
			 WHERE coalesce((r -> 'tables' -> a.t ->> 'deleted')::bigint, 0) <> a.n
			    OR a.n <> coalesce(w.n, 0)
			    OR (d - 'request' - 'dry_run') <> (r - 'request' - 'dry_run');
			RAISE EXCEPTION USING ERRCODE = 'P0001';
		EXCEPTION WHEN SQLSTATE 'P0001' THEN NULL;
		END;
	END LOOP;
END $$;
SELECT * FROM fm_erase_diff(ARRAY[1, 2, 3, 4, 5]::bigint[]);

-- user 1 for real: the receipt, then what stays of the others
SELECT fm_walk(1);
SELECT k AS tbl, v ->> 'deleted' AS deleted FROM jsonb_each(privacy.erase('user', '1') -> 'tables') e(k, v)
 WHERE (v ->> 'deleted')::int > 0 ORDER BY 1;
SELECT count(*) AS rows_left FROM fm_rows r WHERE EXISTS (SELECT FROM users u WHERE u.tableoid = r.tbl AND u.ctid = r.tid);
SELECT followable_type, followable_id, follower_id FROM follows ORDER BY 1, 2, 3;
SELECT category, reactable_type, reactable_id, user_id FROM reactions ORDER BY 1, 2, 3, 4;
SELECT commentable_type, commentable_id, user_id FROM comments ORDER BY 1, 2, 3;
SELECT article_id, user_id FROM page_views ORDER BY 1, 2;
SELECT reporter_id, offender_id, affected_id FROM feedback_messages ORDER BY 1;
SELECT (privacy.access('user', '1') -> 'data') = '{}' AS nothing_left;

-- users kept and anonymized: username (CHECK NOT NULL, unique) gets a
-- pseudonym, nullable columns NULL (it failed with 23514)
BEGIN;
SELECT privacy.set_erasure_mode('users', 'anonymize');
SELECT privacy.erase('user', '3') -> 'tables' -> 'public.users' AS users;
SELECT username IS NOT NULL AND username <> 'peter' AS pseudonym, name, email <> 'peter@example.com' AS email_changed, location, current_sign_in_ip
  FROM users WHERE id = 3;
ROLLBACK;
-- retention anonymizing a column classified 'delete' writes NULL, or a
-- placeholder where NULL is refused: NOT NULL, or a CHECK (col IS NOT
-- NULL), NOT VALID too (it failed with 23514)
BEGIN;
ALTER TABLE users ADD CONSTRAINT users_location_not_null CHECK (location IS NOT NULL) NOT VALID;
UPDATE users SET last_sign_in_at = now() - interval '2 years' WHERE id = 2;
SELECT privacy.classify('users', 'location', 'user.location.imprecise', erasure => 'delete');
SELECT privacy.add_retention('users', 'last_sign_in_at', '1 year', action => 'anonymize', columns => ARRAY['location']::name[]) AS pol \gset
SELECT privacy.run_retention(:pol);
SELECT id, location FROM users ORDER BY id;
ROLLBACK;
-- shared => 'keep' (once jess unblocks peter: user_blocks' NOT NULL keys
-- cannot be detached): a shared row detached by NULL in a column that a
-- CHECK keeps from NULL is refused before anything changes, as for NOT
-- NULL; without the CHECK, jess's flag of peter, her note on him and
-- peter's subscription to her stay, detached, while her follow of
-- organization 1 goes (a row of another type than 'User' in a polymorphic
-- link column was taken for another user's: refused here, kept and
-- detached where the column allows NULL)
BEGIN;
DELETE FROM user_blocks WHERE blocked_id = 3;
ALTER TABLE user_subscriptions ALTER author_id DROP NOT NULL,
	ADD CONSTRAINT user_subscriptions_author_not_null CHECK (author_id IS NOT NULL);
SAVEPOINT s;
\set VERBOSITY terse
SELECT privacy.erase('user', '2', shared => 'keep');
\set VERBOSITY default
ROLLBACK TO SAVEPOINT s;
ALTER TABLE user_subscriptions DROP CONSTRAINT user_subscriptions_author_not_null;
SELECT k AS tbl, v FROM jsonb_each(privacy.erase('user', '2', shared => 'keep') -> 'tables') e(k, v)
 WHERE k IN ('public.follows', 'public.reactions', 'public.notes', 'public.user_subscriptions') ORDER BY 1;
SELECT followable_type, followable_id, follower_id FROM follows ORDER BY 1, 2, 3;
SELECT category, reactable_type, reactable_id, user_id FROM reactions ORDER BY 1, 2, 3, 4;
SELECT author_id, noteable_type, noteable_id FROM notes ORDER BY 1, 2, 3;
SELECT author_id, subscriber_id FROM user_subscriptions ORDER BY 1, 2;
ROLLBACK;

SELECT privacy.drop_subject('user');
DROP FUNCTION fm_erase_diff(bigint[]), fm_access_diff(), fm_counts(), fm_walk(bigint);
DROP TABLE fm_rows, user_subscriptions, oauth_access_tokens, oauth_applications, users_roles, roles, user_blocks,
	taggings, tags, badge_achievements, badges, ahoy_messages, feedback_messages, ahoy_events, ahoy_visits, page_views,
	mentions, notifications, notes, follows, reactions, comments, articles, collections, organization_memberships,
	organizations, api_secrets, identities, users_settings, profiles, users;
DROP EXTENSION privacy;
