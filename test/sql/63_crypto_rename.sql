-- Encrypted columns follow renames (issue #10 item 11): access and export
-- return the plaintext under the new name, writes keep being encrypted, the
-- _decrypted view follows; with the event trigger disabled, a stale
-- registration is a 42703, never the ciphertext handed out as a value.
CREATE EXTENSION privacy;
CREATE SCHEMA ren;
SET search_path = ren, public;
CREATE FUNCTION pg_temp.sqlstate(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;
-- true when a json document holds a stored ciphertext anywhere
CREATE FUNCTION pg_temp.has_ciphertext(j jsonb) RETURNS boolean LANGUAGE sql AS $$
	SELECT j::text LIKE '%pv1:%' $$;

CREATE TABLE ren.client (id int PRIMARY KEY, email text, phone text);
CREATE TABLE ren.ticket (id int PRIMARY KEY, client_id int REFERENCES ren.client, body text);
SELECT privacy.define_subject('ren_client', 'ren.client');
SELECT privacy.classify('ren.client', 'email', 'user.contact.email');
SELECT privacy.classify('ren.ticket', 'body', 'user.content.private');
INSERT INTO ren.client VALUES (1, 'one@example.com', '0612345678'), (2, 'two@example.com', NULL);
INSERT INTO ren.ticket VALUES (10, 1, 'ticket of one'), (20, 2, 'ticket of two');
SELECT privacy.encrypt_column('ren.client', 'email', 'ren_client');
SELECT privacy.encrypt_column('ren.ticket', 'body', 'ren_client');
SELECT table_name, column_name, attnum FROM privacy.encrypted_columns
 WHERE table_name IN ('ren.client'::regclass, 'ren.ticket'::regclass) ORDER BY id;

-- rename the encrypted columns
ALTER TABLE ren.client RENAME COLUMN email TO email_address;
ALTER TABLE ren.ticket RENAME COLUMN body TO content;
-- the registrations followed (same attribute numbers)
SELECT table_name, column_name, attnum FROM privacy.encrypted_columns
 WHERE table_name IN ('ren.client'::regclass, 'ren.ticket'::regclass) ORDER BY id;
-- access and export: plaintext under the new names, no ciphertext anywhere
SELECT privacy.access('ren_client', '1') -> 'data';
SELECT pg_temp.has_ciphertext(privacy.access('ren_client', '1')) AS access_leaks;
SELECT privacy.export('ren_client', '1') -> 'tables';
SELECT pg_temp.has_ciphertext(privacy.export('ren_client', '1')) AS export_leaks;
-- the view's columns took the new names; reads and writes through it work
SELECT attname FROM pg_attribute WHERE attrelid = 'ren.client_decrypted'::regclass AND attnum > 0
 ORDER BY attnum;
SELECT id, email_address FROM ren.client_decrypted ORDER BY id;
INSERT INTO ren.client_decrypted (id, email_address, phone) VALUES (3, 'three@example.com', '0699');
UPDATE ren.client_decrypted SET email_address = 'deux@example.com' WHERE id = 2;
INSERT INTO ren.ticket VALUES (30, 3, 'ticket of three');
SELECT id, email_address FROM ren.client_decrypted ORDER BY id;
SELECT id, content FROM ren.ticket_decrypted ORDER BY id;
-- what is stored is ciphertext, written under the new name too
SELECT count(*) FILTER (WHERE email_address LIKE 'pv1:%') AS encrypted, count(*) AS rows FROM ren.client;
SELECT count(*) FILTER (WHERE content LIKE 'pv1:%') AS encrypted, count(*) AS rows FROM ren.ticket;
-- a rename of another column: the encrypted column stays registered
ALTER TABLE ren.client RENAME COLUMN phone TO mobile;
SELECT column_name FROM privacy.encrypted_columns WHERE table_name = 'ren.client'::regclass;
SELECT id, email_address, mobile FROM ren.client_decrypted WHERE id = 1;
-- swapping two names through a third
ALTER TABLE ren.client RENAME COLUMN email_address TO tmp;
ALTER TABLE ren.client RENAME COLUMN mobile TO email_address;
ALTER TABLE ren.client RENAME COLUMN tmp TO mobile;
SELECT column_name FROM privacy.encrypted_columns WHERE table_name = 'ren.client'::regclass;
SELECT id, mobile AS the_email, email_address AS the_phone FROM ren.client_decrypted WHERE id = 1;
SELECT pg_temp.has_ciphertext(privacy.access('ren_client', '1')) AS access_leaks;

-- attribute numbers out of date, as after restoring a dump of a table that
-- had dropped columns: reads go by name, and a rename is still followed
UPDATE privacy.encrypted_columns SET attnum = 1 WHERE table_name = 'ren.ticket'::regclass;
SELECT pg_temp.sqlstate($$SELECT privacy.access('ren_client', '1')$$) AS access,
       pg_temp.has_ciphertext(privacy.access('ren_client', '1')) AS access_leaks;
ALTER TABLE ren.ticket RENAME COLUMN content TO body_text;
SELECT column_name, attnum FROM privacy.encrypted_columns WHERE table_name = 'ren.ticket'::regclass;
SELECT privacy.access('ren_client', '1') -> 'data' -> 'ren.ticket';
ALTER TABLE ren.ticket RENAME COLUMN body_text TO content;

-- with the event trigger disabled a rename is not followed: rights calls
-- fail with 42703 instead of returning ciphertext
ALTER EVENT TRIGGER privacy_crypto_alter DISABLE;
ALTER TABLE ren.ticket RENAME COLUMN content TO text_body;
SELECT pg_temp.sqlstate($$SELECT privacy.access('ren_client', '1')$$) AS access,
       pg_temp.sqlstate($$SELECT privacy.export('ren_client', '1')$$) AS export;
\set VERBOSITY terse
INSERT INTO ren.ticket VALUES (40, 1, 'plaintext must not be stored');
\set VERBOSITY default
SELECT count(*) FROM ren.ticket WHERE text_body NOT LIKE 'pv1:%';
-- renamed back, everything works again
ALTER TABLE ren.ticket RENAME COLUMN text_body TO content;
ALTER EVENT TRIGGER privacy_crypto_alter ENABLE;
SELECT pg_temp.has_ciphertext(privacy.access('ren_client', '1')) AS access_leaks;
SELECT privacy.access('ren_client', '1') -> 'data' -> 'ren.ticket';

-- dropping an encrypted column (and, with it, the view) takes its
-- registration along: writes and rights calls go on
ALTER TABLE ren.client DROP COLUMN mobile CASCADE;
SELECT count(*) AS registrations FROM privacy.encrypted_columns WHERE table_name = 'ren.client'::regclass;
INSERT INTO ren.client VALUES (4, '0611');
SELECT pg_temp.sqlstate($$SELECT privacy.access('ren_client', '4')$$) AS access;
SELECT privacy.access('ren_client', '4') -> 'data' -> 'ren.client';

-- decrypt_column after a rename uses the new name
SELECT privacy.decrypt_column('ren.ticket', 'content');
SELECT id, content FROM ren.ticket ORDER BY id;

-- cleanup
DROP SCHEMA ren CASCADE;
RESET search_path;
DROP EXTENSION privacy CASCADE;
