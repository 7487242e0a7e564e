-- Restriction of processing (Art. 18) with row-level security, and the
-- consent ledger; then invalid input and privileges.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

CREATE TABLE users (id int PRIMARY KEY, email text);
CREATE TABLE posts (id int PRIMARY KEY, author int REFERENCES users, body text);
CREATE TABLE clicks (id serial PRIMARY KEY, user_ref text, url text);
CREATE INDEX ON clicks (user_ref);
INSERT INTO users VALUES (1, 'ann@example.org'), (2, 'bob@example.org');
INSERT INTO posts VALUES (10, 1, 'ann post'), (20, 2, 'bob post');
INSERT INTO clicks (user_ref, url) VALUES ('1', '/a'), ('2', '/b'), ('1', '/c');
SELECT privacy.define_subject('user', 'users');
SELECT privacy.link('user', 'clicks', 'user_ref');

-- restriction
SELECT privacy.is_restricted('user', '1');
SELECT privacy.restrict('user', '1', 'accuracy contested');
SELECT privacy.is_restricted('user', '1'), privacy.is_restricted('user', '2');
SELECT privacy.restrict('user', '1', 'contested again');
SELECT privacy.access('user', '1')->'restricted' AS in_access;
-- protect: rows of restricted subjects are hidden from roles that are not officers
SELECT privacy.protect('posts');
SELECT privacy.protect('clicks');
CREATE ROLE regress_reader;
GRANT SELECT ON posts, clicks TO regress_reader;
SET ROLE regress_reader;
SELECT * FROM posts ORDER BY id;
SELECT * FROM clicks ORDER BY id;
RESET ROLE;
-- the application's own error, in a transaction that read a protected table
-- (the policy ran the extension's code): its detail stays, only errors raised
-- inside a rights call, or after one, lose theirs
BEGIN;
SET LOCAL ROLE regress_reader;
SELECT count(*) AS visible FROM posts;
RESET ROLE;
INSERT INTO users VALUES (1, 'again');
ROLLBACK;
BEGIN;
SELECT jsonb_typeof(privacy.access('user', '2')) AS access2;
INSERT INTO users VALUES (1, 'again');
ROLLBACK;
-- on one node the policy is RESTRICTIVE: the table may have policies of its
-- own (the privacy_policy event trigger refuses them only on protected Citus
-- tables, whose one policy is permissive), and they hide nothing more
CREATE POLICY own_posts ON posts AS PERMISSIVE FOR SELECT USING (true);
SET ROLE regress_reader;
SELECT count(*) AS with_own_policy FROM posts;
RESET ROLE;
DROP POLICY own_posts ON posts;
CREATE ROLE regress_officer IN ROLE privacy_officer;
GRANT SELECT ON posts TO regress_officer;
SET ROLE regress_officer;
SELECT count(*) AS officer_sees FROM posts;
RESET ROLE;
-- the owner bypasses row-level security unless it is forced
CREATE ROLE regress_owner;
ALTER TABLE posts OWNER TO regress_owner;
SET ROLE regress_owner;
SELECT count(*) AS owner_sees FROM posts;
RESET ROLE;
SELECT privacy.protect('posts', force => true);
SET ROLE regress_owner;
SELECT count(*) AS owner_sees_forced FROM posts;
RESET ROLE;
-- the rights still reach every row of the restricted subject (they run as
-- the owner, whom FORCE filters), and the bypass does not outlive them
SELECT jsonb_array_length(privacy.access('user', '1')->'data'->'public.posts') AS access_sees;
SELECT privacy.erase('user', '1', dry_run => true)->'tables'->'public.posts' AS erase_sees;
SET ROLE regress_owner;
SELECT count(*) AS owner_still_filtered FROM posts;
RESET ROLE;
SELECT privacy.unrestrict('user', '1');
SET ROLE regress_reader;
SELECT count(*) AS after_unrestrict FROM posts;
RESET ROLE;
SELECT privacy.unprotect('posts');
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'posts'::regclass;
SELECT kind FROM privacy.requests ORDER BY id;

-- consent: history is appended, the current state answers has_consent
SELECT privacy.has_consent('user', '1', 'newsletter');
SELECT privacy.set_consent('user', '1', 'newsletter', true, 'signup form');
SELECT privacy.has_consent('user', '1', 'newsletter'), privacy.has_consent('user', '2', 'newsletter');
SELECT privacy.set_consent('user', '1', 'newsletter', false, 'unsubscribe link');
SELECT privacy.has_consent('user', '1', 'newsletter') AS after_withdrawal;
SELECT privacy.set_consent('user', '1', 'profiling', true);
SELECT purpose, granted, source FROM privacy.consent_history ORDER BY id;
SELECT privacy.access('user', '1')->'consents' @> '[{"purpose": "newsletter", "granted": false}]' AS consents_in_access;
-- the history cannot be rewritten
SELECT pg_temp.err($$UPDATE privacy.consent_events SET granted = true$$);
SELECT pg_temp.err($$DELETE FROM privacy.consent_events$$);
-- consent does not carry the id
SELECT count(*) AS leaks FROM privacy.consent_history WHERE subject_ref IN ('1', '2');

-- invalid input
SELECT pg_temp.err($$SELECT privacy.restrict('user', '1', NULL)$$);
SELECT pg_temp.err($$SELECT privacy.restrict('user', '1', '')$$);
SELECT pg_temp.err($$SELECT privacy.restrict('nobody', '1', 'x')$$);
SELECT pg_temp.err($$SELECT privacy.restrict('user', 'abc', 'x')$$);
SELECT pg_temp.err($$SELECT privacy.unrestrict('user', '2')$$);
SELECT pg_temp.err($$SELECT privacy.is_restricted('user', NULL)$$);
SELECT pg_temp.err($$SELECT privacy.protect(NULL)$$);
CREATE TABLE lonely (id int);
SELECT pg_temp.err($$SELECT privacy.protect('lonely')$$);
SELECT pg_temp.err($$SELECT privacy.unprotect('lonely')$$);
SELECT pg_temp.err($$SELECT privacy.set_consent('user', '1', NULL, true)$$);
SELECT pg_temp.err($$SELECT privacy.set_consent('user', '1', 'x', NULL)$$);
SELECT pg_temp.err($$SELECT privacy.set_consent('user', '1', '', true)$$);
SELECT pg_temp.err($$SELECT privacy.set_consent('user', 'x', 'p', true)$$);
SELECT pg_temp.err($$SELECT privacy.has_consent('nobody', '1', 'p')$$);
SELECT pg_temp.err($$SELECT privacy.has_consent('user', '1', NULL)$$);
-- the internal functions of protect() on Citus, called directly: the event
-- trigger functions refuse, the name sync has nothing to do without Citus
SELECT pg_temp.err($$SELECT privacy._on_policy()$$);
SELECT pg_temp.err($$SELECT privacy._citus_on_drop_extension()$$);
SELECT pg_temp.err($$SELECT privacy._citus_sync_protected(NULL, NULL)$$);
SELECT pg_temp.err($$SELECT privacy._citus_sync_protected('{}', '{0}')$$);
-- privileges
SET ROLE regress_reader;
SELECT pg_temp.err($$SELECT privacy._citus_sync_protected('{}', '{}')$$);
SELECT pg_temp.err($$SELECT privacy._citus_on_drop_extension()$$);
SELECT pg_temp.err($$SELECT privacy.restrict('user', '2', 'x')$$);
SELECT pg_temp.err($$SELECT privacy.set_consent('user', '2', 'p', true)$$);
SELECT pg_temp.err($$SELECT privacy.has_consent('user', '2', 'p')$$);
SELECT pg_temp.err($$SELECT privacy.protect('posts')$$);
RESET ROLE;

-- protect() on a partitioned table (a partition's rows are read by their
-- keys), and with more restricted subjects than one statement collects rows
-- for (64): each row's keys are read then
CREATE TABLE visits (author int REFERENCES users, day date) PARTITION BY RANGE (day);
CREATE TABLE visits_a PARTITION OF visits FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE visits_b PARTITION OF visits FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO users SELECT g, NULL FROM generate_series(100, 170) g;
INSERT INTO visits VALUES (1, '2024-02-01'), (2, '2024-02-01'), (1, '2025-02-01'), (2, '2025-02-01');
INSERT INTO visits SELECT g, '2024-03-01' FROM generate_series(100, 170) g;
INSERT INTO posts SELECT g, g, 'post' FROM generate_series(100, 170) g;
GRANT SELECT ON visits, posts TO regress_reader;
SELECT privacy.protect('visits');
SELECT privacy.protect('posts');
SELECT privacy.restrict('user', '2', 'contested');
SET ROLE regress_reader;
SELECT count(*) AS visits_of_2, (SELECT count(*) FROM visits) AS visits_visible FROM visits WHERE author = 2;
SELECT count(*) AS posts_visible FROM posts;
RESET ROLE;
SELECT count(*) AS restricted FROM (SELECT privacy.restrict('user', g::text, 'contested') FROM generate_series(100, 164) g) r;
SET ROLE regress_reader;
SELECT count(*) AS visits_visible_66_restricted FROM visits;
SELECT count(*) AS posts_visible_66_restricted, min(author) AS first_visible FROM posts WHERE author >= 100;
RESET ROLE;
SELECT privacy.unprotect('visits');
SELECT privacy.unprotect('posts');

DROP TABLE posts, clicks, users, lonely, visits;
DROP ROLE regress_reader, regress_officer, regress_owner;
DROP EXTENSION privacy;
