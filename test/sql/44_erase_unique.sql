-- A unique column in anonymize mode (issue 17 item 4): the default erasure
-- strategy of a NOT NULL column is 'redact', one placeholder for every
-- erased row, and the second erasure failed with 23505.  Under a unique
-- index the default is 'hash' (a pseudonym differs as the values did), so
-- erasure after erasure works; a type that cannot hold a pseudonym keeps
-- 'redact' with a NOTICE.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

CREATE TABLE users (id int PRIMARY KEY, display_name text NOT NULL UNIQUE, email varchar(40) NOT NULL,
	nick text NOT NULL, phone bigint NOT NULL UNIQUE, tenant int NOT NULL, login text,
	UNIQUE (tenant, email));
CREATE UNIQUE INDEX users_login ON users (login) NULLS NOT DISTINCT;
INSERT INTO users VALUES (1, 'ann', 'ann@example.org', 'a', 3361234567, 1, 'ann'),
	(2, 'bob', 'bob@example.org', 'b', 3369876543, 1, 'bob'),
	(3, 'cy', 'cy@example.org', 'c', 3360000000, 1, 'cy'), (4, 'dee', 'dee@example.org', 'd', 3361111111, 1, 'dee');
SELECT privacy.define_subject('user', 'users');
SELECT privacy.set_erasure_mode('users', 'anonymize');
SELECT privacy.classify('users', 'display_name', 'user.name');
SELECT privacy.classify('users', 'email', 'user.contact.email');
SELECT privacy.classify('users', 'nick', 'user.name');
SELECT privacy.classify('users', 'login', 'user.authorization.credentials');
SELECT column_name, erasure FROM privacy.classified_columns WHERE table_name = 'users'::regclass ORDER BY 1;

-- two erasures in a row, then a third: no 23505
SELECT privacy.erase('user', '1')->'tables' AS first;
SELECT pg_temp.err($$SELECT privacy.erase('user', '2')$$) AS second;
SELECT count(DISTINCT display_name) AS names, count(DISTINCT email) AS emails, count(DISTINCT login) AS logins,
       count(*) FILTER (WHERE display_name IN ('ann', 'bob')) AS originals_left,
       count(*) FILTER (WHERE nick = '[redacted]') AS redacted_nicks
  FROM users;
-- a unique bigint keeps 'redact' (a NOTICE says so): the second erasure
-- would collide: refused before anything changes (23505), all or nothing
SELECT privacy.classify('users', 'phone', 'user.contact.phone_number');
SELECT privacy.erase('user', '3')->'tables' AS third;
SELECT pg_temp.err($$SELECT privacy.erase('user', '4')$$) AS fourth;
SELECT display_name FROM users WHERE id = 4;
-- choosing the strategy explicitly (here 'keep') settles it
SELECT privacy.classify('users', 'phone', 'user.contact.phone_number', 'keep');
SELECT privacy.erase('user', '4')->'tables' AS fourth;
SELECT count(DISTINCT display_name) AS names FROM users;

DROP TABLE users;
DROP EXTENSION privacy;
