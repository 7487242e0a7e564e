-- Keys whose equal values have other spellings: a case-insensitive
-- (nondeterministic) collation, citext.  The key type's own equality finds
-- the subject's rows whatever the spelling, and holds, restrictions,
-- consents and subject_ref know a subject by its root row's spelling, so a
-- hold placed as 'bob' stops erase('BOB') (session 13: it did not; the
-- erasure went through), and retention and protect() find a held or
-- restricted subject's rows that spell the key otherwise.
CREATE EXTENSION privacy;
CREATE EXTENSION IF NOT EXISTS citext;
CREATE COLLATION kc_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE DOMAIN kc_handle AS text COLLATE kc_ci;
CREATE TABLE kc_acct (handle kc_handle PRIMARY KEY, email text);
CREATE TABLE kc_posts (id int PRIMARY KEY, handle kc_handle REFERENCES kc_acct, at timestamptz);
CREATE TABLE kc_notes (id int PRIMARY KEY, post int REFERENCES kc_posts ON DELETE CASCADE, body text);
INSERT INTO kc_acct VALUES ('Bob', 'b@x.org'), ('Carol', 'c@x.org'), ('Dan', 'd@x.org');
INSERT INTO kc_posts VALUES (1, 'BOB', now() - interval '3 years'), (2, 'bob', now()),
	(3, 'CAROL', now() - interval '3 years'), (4, 'carol', now() - interval '3 years'),
	(5, 'DAN', now());
INSERT INTO kc_notes VALUES (1, 1, 'n1'), (2, 3, 'n3'), (3, 5, 'n5');
SELECT privacy.define_subject('kc', 'kc_acct');
-- a hold placed with one spelling holds every spelling
SELECT privacy.hold('kc', 'bob', 'litigation');
SELECT subject_key FROM privacy.holds WHERE subject = 'kc';
SELECT privacy.erase('kc', 'BOB');
SELECT privacy.erase('kc', 'bOb', dry_run => true);
SELECT privacy.access('kc', 'BOB') -> 'holds' -> 0 ->> 'reason' AS hold_seen;
-- restriction and consent
SELECT privacy.restrict('kc', 'CAROL', 'dispute');
SELECT privacy.is_restricted('kc', 'carol'), privacy.is_restricted('kc', 'Carol'), privacy.is_restricted('kc', 'dan');
SELECT privacy.set_consent('kc', 'DAN', 'marketing', true);
SELECT privacy.has_consent('kc', 'dan', 'marketing');
-- one subject_ref per subject, whatever the spelling of the call
SELECT count(DISTINCT subject_ref) FROM privacy.requests WHERE subject = 'kc' AND kind = 'access';
SELECT privacy.access('kc', 'bob') ->> 'id' AS id_given, jsonb_array_length(privacy.access('kc', 'BOB') -> 'data' -> 'public.kc_posts') AS bob_posts;
SELECT count(DISTINCT subject_ref) FROM privacy.requests WHERE subject = 'kc' AND kind = 'access';
-- retention keeps the held subject's old row spelled 'BOB'
SELECT privacy.add_retention('kc_posts', 'at', '1 year') AS pol \gset
SELECT privacy.run_retention(:pol) >= 0 AS ran;
SELECT id, handle FROM kc_posts ORDER BY id;
SELECT id FROM kc_notes ORDER BY id;
SELECT privacy.drop_retention(:pol);
-- protect(): the restricted subject's rows are hidden in every spelling
INSERT INTO kc_posts VALUES (6, 'CAROL', now()), (7, 'carol', now());
SELECT privacy.protect('kc_posts');
CREATE ROLE kc_reader;
GRANT SELECT ON kc_posts TO kc_reader;
SET ROLE kc_reader;
SELECT id, handle FROM kc_posts ORDER BY id;
RESET ROLE;
SELECT privacy.unprotect('kc_posts');
-- the erasure of a spelling reaches every row of the subject and counts them
SELECT privacy.release_hold('kc', 'BoB');
SELECT privacy.erase('kc', 'BOB') -> 'tables';
SELECT handle FROM kc_acct ORDER BY 1;
-- the ledger names the subject by its root row's spelling: replayed after a
-- "restore" that brings the row back
SELECT privacy.erasure_ledger() AS ledger \gset
INSERT INTO kc_acct VALUES ('Bob', 'b@x.org');
INSERT INTO kc_posts VALUES (8, 'BOB', now());
SELECT privacy.replay_erasures(:'ledger') IS NOT NULL AS replayed;
SELECT count(*) FROM kc_acct WHERE handle = 'bob';
SELECT count(*) FROM kc_posts WHERE id = 8;
-- citext: its own equality (not text's), in every statement
CREATE TABLE kc_users (email citext PRIMARY KEY, name text);
CREATE TABLE kc_orders (id int PRIMARY KEY, email citext REFERENCES kc_users, total int);
CREATE TABLE kc_tags (id int PRIMARY KEY, email citext REFERENCES kc_users ON DELETE CASCADE);
INSERT INTO kc_users VALUES ('Eve@X.org', 'Eve'), ('fay@x.org', 'Fay');
INSERT INTO kc_orders VALUES (1, 'eve@x.org', 5), (2, 'EVE@X.ORG', 6), (3, 'fay@x.org', 7);
INSERT INTO kc_tags VALUES (1, 'eve@X.org'), (2, 'FAY@x.org');
SELECT privacy.define_subject('kcu', 'kc_users');
SELECT privacy.access('kcu', 'EVE@x.ORG') -> 'data';
SELECT privacy.hold('kcu', 'eve@x.org', 'litigation');
SELECT privacy.erase('kcu', 'EVE@X.ORG');
SELECT privacy.release_hold('kcu', 'Eve@x.org');
SELECT privacy.erase('kcu', 'EVE@X.ORG', dry_run => true) -> 'tables';
SELECT privacy.erase('kcu', 'eve@x.org') -> 'tables';
SELECT email::text COLLATE "C" AS email FROM kc_users UNION ALL SELECT email::text FROM kc_orders UNION ALL SELECT email::text FROM kc_tags ORDER BY 1;
SELECT privacy.drop_subject('kcu');
-- drop_subject refuses while a restriction is active
SELECT privacy.unrestrict('kc', 'carol');
SELECT privacy.drop_subject('kc');
DROP TABLE kc_tags, kc_orders, kc_users, kc_notes, kc_posts, kc_acct;
DROP ROLE kc_reader;
DROP DOMAIN kc_handle;
DROP COLLATION kc_ci;
DROP EXTENSION privacy;
DROP EXTENSION citext;
