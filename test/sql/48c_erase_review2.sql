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
DROP EXTENSION privacy;
