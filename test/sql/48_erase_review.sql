-- Integrity findings of session 11's review: generated and identity columns,
-- temporary and the extension's own tables, shared composite keys kept,
-- lossy link conversions, a trigger that skips a delete.
CREATE EXTENSION privacy;
CREATE TABLE g_people (id int PRIMARY KEY, first text, last text,
	full_name text GENERATED ALWAYS AS (first || ' ' || last) STORED,
	serial int GENERATED ALWAYS AS IDENTITY);
INSERT INTO g_people (id, first, last) VALUES (1, 'Ann', 'Lee'), (2, 'Bo', 'Ng');
SELECT privacy.define_subject('gperson', 'g_people');
SELECT privacy.classify('g_people', 'full_name', 'user.name', erasure => 'redact');
SELECT privacy.classify('g_people', 'serial', 'user.unique_id', erasure => 'hash');
SELECT privacy.classify('g_people', 'full_name', 'user.name');
SELECT privacy.classify('g_people', 'serial', 'user.unique_id');
SELECT privacy.classify('g_people', 'first', 'user.name');
SELECT column_name, erasure FROM privacy.classified_columns WHERE table_name = 'g_people'::regclass ORDER BY 1;
SELECT privacy.set_erasure_mode('g_people', 'anonymize');
SELECT privacy.erase('gperson', '1', dry_run => true) -> 'tables';
SELECT privacy.erase('gperson', '1') -> 'tables';
SELECT id, first, last, full_name FROM g_people ORDER BY id;
CREATE TEMP TABLE g_tmp (id int PRIMARY KEY, at timestamptz, name text);
SELECT privacy.classify('g_tmp', 'name', 'user.name');
SELECT privacy.set_erasure_mode('g_tmp', 'anonymize');
SELECT privacy.add_retention('g_tmp', 'at', '1 year');
SELECT privacy.encrypt_column('g_tmp', 'name');
SELECT privacy.encrypt_column('privacy.holds', 'reason');
SELECT privacy.add_retention('privacy.holds', 'placed_at', '1 year');
-- 10. shared => 'keep' with composite keys sharing the tenant column: the
-- kept message loses its sender only; tenant and recipient stay
CREATE TABLE k_users (id int PRIMARY KEY, t int NOT NULL, name text, UNIQUE (t, id));
CREATE TABLE k_msgs (id int PRIMARY KEY, t int, sender int, recipient int, body text,
	FOREIGN KEY (t, sender) REFERENCES k_users (t, id),
	FOREIGN KEY (t, recipient) REFERENCES k_users (t, id));
INSERT INTO k_users VALUES (1, 7, 'u1'), (2, 7, 'u2');
INSERT INTO k_msgs VALUES (1, 7, 1, 2, 'hi'), (2, 7, 1, 1, 'note to self'), (3, 7, 2, 2, 'other');
SELECT privacy.define_subject('kuser', 'k_users');
SELECT privacy.classify('k_msgs', 'body', 'user.content');
SELECT privacy.erase('kuser', '1', dry_run => true, shared => 'keep') -> 'tables' AS dry;
SELECT privacy.erase('kuser', '1', shared => 'keep') -> 'tables' AS tables;
SELECT id, t, sender, recipient, body FROM k_msgs ORDER BY id;
