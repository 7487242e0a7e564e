-- Review of the erasure's fidelity and of keys spelled otherwise (second
-- pass).  citext installed in a schema of its own, not on the owners'
-- search_path: the key type's equality is OPERATOR(ext.=), and a foreign key
-- or link column of the key's type compared with the key by an unqualified
-- "=" (resolved under the owner's search_path) or OPERATOR(pg_catalog.=)
-- compared it as text: access missed the rows spelled otherwise, the dry run
-- said success and the erasure failed with 23503 while acting, and a link
-- row spelled otherwise was taken for another subject's.
CREATE EXTENSION privacy;
CREATE SCHEMA r2ext;
CREATE EXTENSION citext SCHEMA r2ext;
CREATE TABLE r2_users (email r2ext.citext PRIMARY KEY, name text);
CREATE TABLE r2_orders (id int PRIMARY KEY, email r2ext.citext REFERENCES r2_users, total int);
CREATE TABLE r2_tags (id int PRIMARY KEY, email r2ext.citext REFERENCES r2_users ON DELETE CASCADE);
CREATE TABLE r2_events (id int PRIMARY KEY, who r2ext.citext, owner r2ext.citext REFERENCES r2_users);
CREATE INDEX ON r2_events (who);
INSERT INTO r2_users VALUES ('Eve@X.org', 'Eve'), ('fay@x.org', 'Fay');
INSERT INTO r2_orders VALUES (1, 'eve@x.org', 5), (2, 'EVE@X.ORG', 6), (3, 'fay@x.org', 7);
INSERT INTO r2_tags VALUES (1, 'eve@X.org'), (2, 'FAY@x.org');
-- 1: Eve's in both spellings; 2: Eve's and Fay's (shared); 3: Fay's
INSERT INTO r2_events VALUES (1, 'EVE@X.ORG', 'Eve@X.org'), (2, 'eve@x.org', 'fay@x.org'), (3, 'FAY@X.ORG', 'Fay@x.org');
SELECT privacy.define_subject('r2', 'r2_users');
SELECT privacy.link('r2', 'r2_events', 'who');
SELECT jsonb_array_length(d -> 'public.r2_orders') AS orders, jsonb_array_length(d -> 'public.r2_tags') AS tags,
	jsonb_array_length(d -> 'public.r2_events') AS events
	FROM (SELECT privacy.access('r2', 'EVE@x.ORG') -> 'data' AS d) a;
SELECT privacy.erase('r2', 'EVE@x.ORG', dry_run => true, shared => 'keep') -> 'tables';
SELECT privacy.erase('r2', 'eve@x.org', shared => 'keep') -> 'tables';
SELECT email::text FROM r2_users UNION ALL SELECT email::text FROM r2_orders
	UNION ALL SELECT email::text FROM r2_tags ORDER BY 1;
SELECT id, who::text, owner::text FROM r2_events ORDER BY id;
SELECT privacy.drop_subject('r2');
DROP TABLE r2_events, r2_tags, r2_orders, r2_users;
DROP EXTENSION citext;
DROP SCHEMA r2ext;
-- A referencing column under another collation than the root key's, one of
-- them nondeterministic: PostgreSQL's foreign key compares under the root
-- key's collation ('BOB' references 'Bob'), and so does the map now; it
-- compared under the column's (access missed the rows, the dry run said
-- success, the erasure failed with 23503 while acting; the root's spelling
-- of a "C" column's key failed with 42P22), or took another subject's rows.
CREATE COLLATION r2_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE r2_acct (h text COLLATE r2_ci PRIMARY KEY);
CREATE TABLE r2_posts (id int PRIMARY KEY, h text REFERENCES r2_acct, at timestamptz);
CREATE TABLE r2_cposts (id int PRIMARY KEY, h text COLLATE "C" REFERENCES r2_acct, at timestamptz);
CREATE TABLE r2_notes (id int PRIMARY KEY, post int REFERENCES r2_posts);
INSERT INTO r2_acct VALUES ('Bob'), ('Dan');
INSERT INTO r2_posts VALUES (1, 'BOB', now() - interval '3 years'), (2, 'bob', now()), (3, 'Bob', now()), (4, 'dan', now());
INSERT INTO r2_cposts VALUES (1, 'BOB', now() - interval '3 years'), (2, 'dan', now());
INSERT INTO r2_notes VALUES (1, 1), (2, 2), (3, 4);
SELECT privacy.define_subject('r2c', 'r2_acct');
SELECT jsonb_array_length(d -> 'public.r2_posts') AS posts, jsonb_array_length(d -> 'public.r2_cposts') AS cposts,
	jsonb_array_length(d -> 'public.r2_notes') AS notes
	FROM (SELECT privacy.access('r2c', 'bob') -> 'data' AS d) a;
-- the held subject's old rows stay, in both tables
SELECT privacy.hold('r2c', 'bob', 'litigation');
SELECT privacy.add_retention('r2_cposts', 'at', '1 year') AS pol \gset
SELECT privacy.run_retention(:pol) AS removed;
SELECT privacy.drop_retention(:pol);
SELECT privacy.release_hold('r2c', 'BOB');
SELECT privacy.erase('r2c', 'bob', dry_run => true) -> 'tables';
SELECT privacy.erase('r2c', 'bob') -> 'tables';
SELECT 'posts', id, h FROM r2_posts UNION ALL SELECT 'cposts', id, h FROM r2_cposts ORDER BY 1, 2;
SELECT privacy.drop_subject('r2c');
DROP TABLE r2_notes, r2_cposts, r2_posts, r2_acct;
-- the other way round: a deterministic root key ('Bob' and 'BOB' are two
-- subjects) referenced by a case-insensitive column: the erasure of 'Bob'
-- takes 'Bob''s row only, never 'BOB''s (PostgreSQL's own check of the
-- root's deletion compares under the column's collation and finds 'BOB''s
-- row: 23503, nothing changed)
CREATE TABLE r2_acct (h text PRIMARY KEY);
CREATE TABLE r2_posts (id int PRIMARY KEY, h text COLLATE r2_ci REFERENCES r2_acct);
INSERT INTO r2_acct VALUES ('Bob'), ('BOB');
INSERT INTO r2_posts VALUES (1, 'Bob'), (2, 'BOB');
SELECT privacy.define_subject('r2d', 'r2_acct');
SELECT privacy.erase('r2d', 'Bob', dry_run => true) -> 'tables';
SELECT privacy.erase('r2d', 'Bob') -> 'tables';
SELECT id, h FROM r2_posts ORDER BY id;
SELECT privacy.drop_subject('r2d');
DROP TABLE r2_posts, r2_acct;
DROP COLLATION r2_ci;
-- strategy 'hash' on a short column that a unique expression index or an
-- exclusion constraint makes unique: pseudonyms of 4 characters collide
-- there too (23505 / 23P01 while acting); refused by classify as under a
-- unique index, and by an erasure when the index came after classify
CREATE TABLE r2_codes (id int PRIMARY KEY, uid int, code varchar(8), c2 varchar(8), c3 varchar(8));
CREATE UNIQUE INDEX ON r2_codes (lower(code));
ALTER TABLE r2_codes ADD EXCLUDE USING btree (c2 WITH =);
SELECT privacy.classify('r2_codes', 'code', 'user.name', erasure => 'hash');
SELECT privacy.classify('r2_codes', 'c2', 'user.name', erasure => 'hash');
CREATE TABLE r2_users (id int PRIMARY KEY);
ALTER TABLE r2_codes ADD FOREIGN KEY (uid) REFERENCES r2_users ON DELETE SET NULL;
INSERT INTO r2_users VALUES (1);
INSERT INTO r2_codes VALUES (1, 1, 'a', 'b', 'c');
SELECT privacy.classify('r2_codes', 'c3', 'user.name', erasure => 'hash');
SELECT privacy.set_erasure_mode('r2_codes', 'anonymize');
CREATE UNIQUE INDEX ON r2_codes (upper(c3));
SELECT privacy.define_subject('r2h', 'r2_users');
SELECT privacy.erase('r2h', '1', dry_run => true);
SELECT id, code, c2, c3 FROM r2_codes;
SELECT privacy.drop_subject('r2h');
DROP TABLE r2_codes, r2_users;
DROP EXTENSION privacy;
