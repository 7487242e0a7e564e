-- A subject type's key column follows a rename (stored by name and
-- attribute number, as classifications are): before, the rename was
-- refused, and the only way through (drop_subject) deleted the holds and
-- restrictions (session 12's review).
CREATE EXTENSION privacy;
CREATE TABLE kr_users (id int PRIMARY KEY, email text UNIQUE);
CREATE TABLE kr_orders (id int PRIMARY KEY, user_id int REFERENCES kr_users);
INSERT INTO kr_users VALUES (1, 'a@x'), (2, 'b@x'), (3, 'c@x');
INSERT INTO kr_orders VALUES (10, 1), (20, 2);
SELECT privacy.define_subject('kr', 'kr_users');
SELECT privacy.define_subject('kr_mail', 'kr_users', 'email');
SELECT privacy.hold('kr', '2', 'lawsuit');
SELECT privacy.restrict('kr', '3', 'dispute');
ALTER TABLE kr_users RENAME COLUMN id TO user_id;
ALTER TABLE kr_users RENAME COLUMN email TO mail;
SELECT name, key_column FROM privacy.subject_types WHERE name LIKE 'kr%' ORDER BY name;
SELECT privacy.access('kr', '1') -> 'data';
SELECT privacy.access('kr_mail', 'b@x') -> 'data' -> 'public.kr_users';
SELECT privacy.is_restricted('kr', '3');
SELECT privacy.erase('kr', '2');
SELECT privacy.erase('kr', '1') -> 'tables';
-- dropping a key column is refused (drop_subject first)
ALTER TABLE kr_users DROP COLUMN mail;
SELECT privacy.access('kr_mail', 'b@x') -> 'data' -> 'public.kr_users';
SELECT count(*) FROM privacy.active_holds WHERE subject = 'kr';
-- a restored row (pg_dump's data, from a table whose attribute numbers
-- differ) takes the key's number again from its name
CREATE TABLE kr_people (name text, uid text UNIQUE);
INSERT INTO kr_people VALUES ('Ann', 'U1');
INSERT INTO privacy.subject_types (name, root, key_column, key_attnum) VALUES ('kr_p', 'kr_people', 'uid', 1);
SELECT key_column, key_attnum FROM privacy.subject_types WHERE name = 'kr_p';
SELECT privacy.refresh_subject('kr_p');
ALTER TABLE kr_people RENAME COLUMN uid TO user_uid;
SELECT key_column FROM privacy.subject_types WHERE name = 'kr_p';
SELECT privacy.access('kr_p', 'U1') -> 'data' AS data;
SELECT privacy.drop_subject('kr_p');
DROP TABLE kr_people;
SELECT privacy.drop_subject('kr_mail');
SELECT privacy.release_hold('kr', '2');
SELECT privacy.unrestrict('kr', '3');
SELECT privacy.drop_subject('kr');
DROP TABLE kr_orders, kr_users;
DROP EXTENSION privacy;
