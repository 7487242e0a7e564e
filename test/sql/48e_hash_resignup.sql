-- 'hash' under a unique index (the default strategy of a NOT NULL UNIQUE
-- column in anonymize mode): an erased e-mail signs up again; erasing the
-- new account must not collide with the pseudonym of the first.  The row
-- whose pseudonym another row holds takes a disambiguated pseudonym (same
-- format, recognized as one); every other row keeps "equal inputs, equal
-- outputs".  Retention's anonymize action likewise.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
-- is_pseudonym needs a superuser outside erasure (this test runs as one)
CREATE FUNCTION pg_temp.ps(v text) RETURNS boolean LANGUAGE sql AS $$
SELECT privacy.is_pseudonym(v, 32) $$;

-- 1. users.email NOT NULL UNIQUE, default strategy 'hash'
CREATE TABLE hs_users (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text);
SELECT privacy.define_subject('hsu', 'hs_users');
SELECT privacy.set_erasure_mode('hs_users', 'anonymize');
SELECT privacy.classify('hs_users', 'email', 'user.contact.email');
SELECT privacy.classify('hs_users', 'name', 'user.name', 'null');
SELECT column_name, erasure FROM privacy.classified_columns WHERE table_name = 'hs_users'::regclass ORDER BY 1;
INSERT INTO hs_users VALUES (1, 'x@example.org', 'A');
SELECT privacy.erase('hsu', '1') -> 'tables' AS a;
-- B signs up with the same e-mail (it no longer exists)
INSERT INTO hs_users VALUES (2, 'x@example.org', 'B');
SELECT privacy.erase('hsu', '2', dry_run => true) -> 'tables' AS b_dry;
SELECT privacy.erase('hsu', '2') -> 'tables' AS b;
SELECT count(*) AS rows, count(DISTINCT email) AS emails,
       bool_and(pg_temp.ps(email)) AS all_pseudonyms,
       count(*) FILTER (WHERE email = 'x@example.org') AS originals,
       bool_and(length(email) = 32) AS same_format
  FROM hs_users;
-- a second pass changes nothing: both are recognized
SELECT privacy.erase('hsu', '1') -> 'tables' AS a_again;
SELECT privacy.erase('hsu', '2') -> 'tables' AS b_again;
SELECT count(DISTINCT email) AS emails FROM hs_users;
-- C, a third sign-up
INSERT INTO hs_users VALUES (3, 'x@example.org', 'C');
SELECT privacy.erase('hsu', '3', dry_run => true) -> 'tables' AS c_dry;
SELECT privacy.erase('hsu', '3') -> 'tables' AS c;
SELECT count(*) AS rows, count(DISTINCT email) AS emails, bool_and(pg_temp.ps(email)) AS all_pseudonyms
  FROM hs_users;
-- equal inputs still give equal outputs where nothing collides: another
-- table's hashed copy of the same e-mail equals A's pseudonym
CREATE TABLE hs_copy (id int PRIMARY KEY, email text NOT NULL);
INSERT INTO hs_copy VALUES (9, 'x@example.org');
SELECT privacy.define_subject('hsc', 'hs_copy');
SELECT privacy.set_erasure_mode('hs_copy', 'anonymize');
SELECT privacy.classify('hs_copy', 'email', 'user.contact.email', 'hash');
SELECT privacy.erase('hsc', '9') -> 'tables' AS copy;
SELECT (SELECT email FROM hs_copy) = (SELECT email FROM hs_users WHERE id = 1) AS a_is_plain,
       (SELECT email FROM hs_copy) <> ALL (SELECT email FROM hs_users WHERE id > 1) AS others_differ;
SELECT privacy.drop_subject('hsc');
SELECT privacy.drop_subject('hsu');
DROP TABLE hs_copy, hs_users;

-- 2. a composite key (email, tenant): only the tenant that holds the
-- pseudonym disambiguates; a varchar(20) keeps its length
CREATE TABLE hs_acc (id int PRIMARY KEY, email varchar(20) NOT NULL, tenant int NOT NULL,
	UNIQUE (email, tenant));
SELECT privacy.define_subject('hsa', 'hs_acc');
SELECT privacy.set_erasure_mode('hs_acc', 'anonymize');
SELECT privacy.classify('hs_acc', 'email', 'user.contact.email', 'hash');
INSERT INTO hs_acc VALUES (1, 'y@example.org', 1), (2, 'y@example.org', 2);
SELECT privacy.erase('hsa', '1') -> 'tables' AS t1;
INSERT INTO hs_acc VALUES (3, 'y@example.org', 1);
SELECT privacy.erase('hsa', '3', dry_run => true) -> 'tables' AS t1_again_dry;
SELECT privacy.erase('hsa', '3') -> 'tables' AS t1_again;
SELECT privacy.erase('hsa', '2') -> 'tables' AS t2;
SELECT (SELECT email FROM hs_acc WHERE id = 1) = (SELECT email FROM hs_acc WHERE id = 2) AS plain_across_tenants,
       (SELECT email FROM hs_acc WHERE id = 1) <> (SELECT email FROM hs_acc WHERE id = 3) AS disambiguated_in_tenant,
       (SELECT bool_and(length(email) = 20 AND privacy.is_pseudonym(email, 20)) FROM hs_acc) AS all_pseudonyms;
-- two rows of one subject whose rewritten keys are equal (a redacted
-- column beside a hashed one): the later takes another pseudonym; bytea
CREATE TABLE hs_ko (uid int PRIMARY KEY);
CREATE TABLE hs_k (id int PRIMARY KEY, uid int NOT NULL REFERENCES hs_ko, label text NOT NULL, secret bytea NOT NULL,
	UNIQUE (label, secret));
SELECT privacy.define_subject('hsk', 'hs_ko');
SELECT privacy.set_erasure_mode('hs_ko', 'anonymize');
SELECT privacy.set_erasure_mode('hs_k', 'anonymize');
SELECT privacy.classify('hs_k', 'label', 'user.name', 'redact');
SELECT privacy.classify('hs_k', 'secret', 'user.authorization.credentials', 'hash');
INSERT INTO hs_ko VALUES (7), (8);
INSERT INTO hs_k VALUES (1, 7, 'l1', '\x01'), (2, 7, 'l2', '\x01'), (3, 8, 'l3', '\x02');
SELECT privacy.erase('hsk', '7', dry_run => true) -> 'tables' AS k_dry;
SELECT privacy.erase('hsk', '7') -> 'tables' AS k;
SELECT count(DISTINCT secret) AS secrets, bool_and(length(secret) = 16) AS same_length,
       bool_and(privacy.is_pseudonym(encode(secret, 'hex'), 32)) AS all_pseudonyms
  FROM hs_k WHERE uid = 7;
SELECT privacy.drop_subject('hsk');
DROP TABLE hs_k, hs_ko;
-- a redacted column under the same index still cannot be told apart
CREATE TABLE hs_r (id int PRIMARY KEY, nick text NOT NULL, UNIQUE (nick));
SELECT privacy.define_subject('hsr', 'hs_r');
SELECT privacy.set_erasure_mode('hs_r', 'anonymize');
SELECT privacy.classify('hs_r', 'nick', 'user.name', 'redact');
INSERT INTO hs_r VALUES (1, 'n1'), (2, 'n2');
SELECT privacy.erase('hsr', '1') -> 'tables' AS r1;
SELECT pg_temp.err($$SELECT privacy.erase('hsr', '2', dry_run => true)$$) AS r2_dry;
SELECT pg_temp.err($$SELECT privacy.erase('hsr', '2')$$) AS r2;
SELECT privacy.drop_subject('hsr');
SELECT privacy.drop_subject('hsa');
DROP TABLE hs_r, hs_acc;

-- 3. retention, action 'anonymize' (a redacted column under a unique index
-- is refused by add_retention, so two rows of one batch never take one
-- key; the collision is with a row an earlier pass or an erasure wrote).
-- Before, the row failed with 23505 and stayed blocked on every pass.
-- Each step in the transaction that adds the rows it runs on: the worker
-- never acts first.
CREATE TABLE hs_ret (id int PRIMARY KEY, email text NOT NULL UNIQUE, created timestamptz NOT NULL);
CREATE INDEX ON hs_ret (created);
SELECT privacy.classify('hs_ret', 'email', 'user.contact.email', 'hash');
BEGIN;
SELECT privacy.add_retention('hs_ret', 'created', '30 days', action => 'anonymize') AS p \gset
INSERT INTO hs_ret VALUES (1, 'z@example.org', now() - interval '40 days');
SELECT privacy.run_retention(:p) AS first_pass;
COMMIT;
-- the same value expires again: a second pass
BEGIN;
INSERT INTO hs_ret VALUES (2, 'z@example.org', now() - interval '35 days');
SELECT privacy.run_retention(:p) AS second_pass;
COMMIT;
-- one batch: a third row with that value beside one without collision
BEGIN;
INSERT INTO hs_ret VALUES (3, 'z@example.org', now() - interval '33 days'),
	(4, 'v@example.org', now() - interval '33 days');
SELECT privacy.run_retention(:p) AS one_batch;
COMMIT;
SELECT rows, blocked FROM privacy.retention_runs WHERE policy = :p ORDER BY id;
SELECT count(DISTINCT email) AS emails, bool_and(pg_temp.ps(email)) AS all_pseudonyms,
       count(*) FILTER (WHERE email LIKE '%@%') AS originals FROM hs_ret;
-- a further pass finds nothing to do
SELECT privacy.run_retention(:p) AS again;
-- an erasure's pseudonym is the same as retention's: a row anonymized by
-- retention and a re-signup erased later do not collide either
CREATE TABLE hs_ret2 (id int PRIMARY KEY, email text NOT NULL UNIQUE, created timestamptz NOT NULL);
CREATE INDEX ON hs_ret2 (created);
SELECT privacy.define_subject('hsr2', 'hs_ret2');
SELECT privacy.set_erasure_mode('hs_ret2', 'anonymize');
SELECT privacy.classify('hs_ret2', 'email', 'user.contact.email', 'hash');
BEGIN;
SELECT privacy.add_retention('hs_ret2', 'created', '30 days', action => 'anonymize') AS p2 \gset
INSERT INTO hs_ret2 VALUES (1, 'u@example.org', now() - interval '40 days');
SELECT privacy.run_retention(:p2) AS expired;
COMMIT;
INSERT INTO hs_ret2 VALUES (2, 'u@example.org', now());
SELECT privacy.erase('hsr2', '2') -> 'tables' AS erased;
SELECT count(DISTINCT email) AS emails, bool_and(pg_temp.ps(email)) AS all_pseudonyms FROM hs_ret2;
SELECT privacy.drop_retention(:p);
SELECT privacy.drop_retention(:p2);
SELECT privacy.drop_subject('hsr2');
DROP TABLE hs_ret, hs_ret2;
DROP EXTENSION privacy;
