-- Matrix Synapse (synapse/storage/schema/main/full_schemas/72/full.sql.postgres,
-- reduced by hand to a few tables, test_-prefixed): almost no foreign keys,
-- the user id '@alice:example.org' (text, case-sensitive) in many tables
-- under several names (user_id, sender, user_name), users.name a UNIQUE
-- column with no primary key, timestamps as bigint milliseconds.
-- The defect it found: the subject's key column, named by
-- define_subject(..., key) because the root has no primary key, was
-- proposed by discover() (users.name as user.name) and listed by
-- privacy.unclassified as a coverage gap; both now skip a subject key.
CREATE EXTENSION privacy;
CREATE TABLE test_users (name text, password_hash text, creation_ts bigint, admin smallint DEFAULT 0 NOT NULL,
	deactivated smallint DEFAULT 0 NOT NULL, CONSTRAINT test_users_name_key UNIQUE (name));
CREATE TABLE test_access_tokens (id bigint PRIMARY KEY, user_id text NOT NULL, device_id text, token text NOT NULL UNIQUE);
CREATE INDEX ON test_access_tokens (user_id);
CREATE TABLE test_user_ips (user_id text NOT NULL, access_token text NOT NULL, device_id text, ip text NOT NULL,
	user_agent text NOT NULL, last_seen bigint NOT NULL);
CREATE UNIQUE INDEX ON test_user_ips (user_id, access_token, ip);
CREATE TABLE test_events (event_id text NOT NULL UNIQUE, type text NOT NULL, room_id text NOT NULL,
	content text, origin_server_ts bigint, sender text);
CREATE INDEX ON test_events (sender);
CREATE TABLE test_pushers (id bigint PRIMARY KEY, user_name text NOT NULL, app_id text NOT NULL, pushkey text NOT NULL);
CREATE INDEX ON test_pushers (user_name);
-- profiles.user_id holds the localpart only ('alice'): a generated column
-- holding the full id is what link() can use (Synapse 1.8x added full_user_id)
CREATE TABLE test_profiles (user_id text NOT NULL UNIQUE, displayname text, avatar_url text,
	full_user_id text GENERATED ALWAYS AS ('@' || user_id || ':example.org') STORED);
CREATE INDEX ON test_profiles (full_user_id);

INSERT INTO test_users (name, password_hash, creation_ts)
	SELECT '@u' || g || ':example.org', '$2b$12$x' || g, 1600000000000 + g FROM generate_series(1, 40) g;
INSERT INTO test_users (name, creation_ts) VALUES ('@Alice:example.org', 1), ('@alice:example.org', 2);
INSERT INTO test_access_tokens SELECT row_number() OVER (ORDER BY name, d), name, 'DEV' || d, 'syt_' || md5(name || d)
	FROM test_users, generate_series(1, 2) d;
INSERT INTO test_user_ips SELECT user_id, token, device_id, '10.0.' || (id % 200) || '.' || (id % 7), 'Mozilla/5.0',
	1700000000000 + id FROM test_access_tokens;
INSERT INTO test_events SELECT '$ev' || g, 'm.room.message', '!room' || (g % 3) || ':example.org', 'hello ' || g,
	1700000000000 + g, CASE WHEN g % 11 = 0 THEN '@Alice:example.org' WHEN g % 13 = 0 THEN '@alice:example.org'
	ELSE '@u' || (1 + g % 40) || ':example.org' END FROM generate_series(1, 200) g;
INSERT INTO test_events VALUES ('$create', 'm.room.create', '!room0:example.org', NULL, 1, NULL);
INSERT INTO test_pushers SELECT id, user_id, 'im.vector.app', 'pk' || id FROM test_access_tokens WHERE id % 2 = 0;
INSERT INTO test_profiles (user_id, displayname) SELECT substr(name, 2, position(':' in name) - 2), 'Name ' || name FROM test_users;

SELECT privacy.define_subject('mx', 'test_users', 'name');
SELECT privacy.link('mx', 'test_access_tokens', 'user_id');
SELECT privacy.link('mx', 'test_user_ips', 'user_id');
SELECT privacy.link('mx', 'test_events', 'sender');
SELECT privacy.link('mx', 'test_pushers', 'user_name');
SELECT privacy.link('mx', 'test_profiles', 'full_user_id');
SELECT table_name, via, path FROM privacy.subject_tables WHERE subject = 'mx' ORDER BY table_name::text;

-- the subject's key column is no proposal and no coverage gap
SELECT table_name, column_name, category FROM privacy.discover() ORDER BY table_name::text, column_name;
SELECT table_name, column_name FROM privacy.unclassified ORDER BY table_name::text, column_name;

-- access: per table, equal to an independent count, for every user (case matters)
CREATE FUNCTION test_mx_count(uid text) RETURNS TABLE(t text, n bigint) LANGUAGE sql AS $$
	SELECT 'public.test_users', count(*) FROM test_users WHERE name = uid UNION ALL
	SELECT 'public.test_access_tokens', count(*) FROM test_access_tokens WHERE user_id = uid UNION ALL
	SELECT 'public.test_user_ips', count(*) FROM test_user_ips WHERE user_id = uid UNION ALL
	SELECT 'public.test_events', count(*) FROM test_events WHERE sender = uid UNION ALL
	SELECT 'public.test_pushers', count(*) FROM test_pushers WHERE user_name = uid UNION ALL
	SELECT 'public.test_profiles', count(*) FROM test_profiles WHERE '@' || user_id || ':example.org' = uid $$;
SELECT count(*) AS mismatches FROM test_users u CROSS JOIN LATERAL test_mx_count(u.name) c
	LEFT JOIN LATERAL (SELECT jsonb_array_length(privacy.access('mx', u.name) -> 'data' -> c.t) AS n) a ON true
 WHERE c.n <> coalesce(a.n, 0);
SELECT t, n FROM test_mx_count('@alice:example.org') ORDER BY t;

-- events in shared rooms: anonymized, not deleted
SELECT privacy.set_erasure_mode('test_events', 'anonymize');
SELECT privacy.classify('test_events', 'content', 'user.content', 'null');
SELECT privacy.classify('test_events', 'sender', 'user.unique_id', 'hash');
CREATE TABLE test_before AS SELECT u.name, c.t, c.n FROM test_users u, test_mx_count(u.name) c;
SELECT privacy.erase('mx', '@alice:example.org', dry_run => true) -> 'tables' AS dry;
SELECT privacy.erase('mx', '@alice:example.org') -> 'tables' AS erased;
SELECT t, n FROM test_mx_count('@alice:example.org') WHERE n <> 0;
SELECT count(*) AS events_kept, count(*) FILTER (WHERE content IS NULL) AS emptied FROM test_events;
-- nobody else's rows changed, '@Alice:example.org' included
SELECT count(*) AS others_changed FROM test_before b, test_mx_count(b.name) c
 WHERE c.t = b.t AND b.name <> '@alice:example.org' AND c.n <> b.n;

-- holds; retention on bigint milliseconds is refused cleanly
SELECT privacy.hold('mx', '@u3:example.org', 'litigation');
\set VERBOSITY sqlstate
SELECT privacy.erase('mx', '@u3:example.org');
SELECT privacy.add_retention('test_user_ips', 'last_seen', '30 days');
\set VERBOSITY default
SELECT count(*) FROM test_users WHERE name = '@u3:example.org';

SELECT privacy.release_hold('mx', '@u3:example.org');
SELECT privacy.drop_subject('mx');
DROP FUNCTION test_mx_count(text);
DROP TABLE test_before, test_profiles, test_pushers, test_events, test_user_ips, test_access_tokens, test_users;
DROP EXTENSION privacy;
