-- A text link column may hold values that are no key ('anonymous', a
-- number out of the key's range): they belong to nobody.  Retention's hold
-- filter, breach scope and per-subject encryption read them as NULL keys
-- (privacy._link_key) instead of failing the whole policy, report or write
-- with 22P02/22003 (session 12's review).
CREATE EXTENSION privacy;
CREATE TABLE lv_users (id int PRIMARY KEY);
INSERT INTO lv_users VALUES (1), (2), (3);
CREATE TABLE lv_events (id int PRIMARY KEY, cust text, at timestamptz, note text);
INSERT INTO lv_events VALUES (1, '1', now() - interval '3 days', 'a'), (2, 'anonymous', now() - interval '3 days', 'b'),
	(3, '99999999999', now() - interval '3 days', 'c'), (4, '2', now() - interval '3 days', 'd'), (5, '3', now(), 'e');
SELECT privacy.define_subject('lv', 'lv_users');
SELECT privacy.link('lv', 'lv_events', 'cust');
SELECT privacy.hold('lv', '2', 'litigation');
SELECT privacy.add_retention('lv_events', 'at', '1 day') AS pol \gset
SELECT privacy.run_retention(:pol);
SELECT id, cust FROM lv_events ORDER BY id;
SELECT privacy.drop_retention(:pol);
SELECT privacy.breach_report(ARRAY['lv_events']::regclass[]) -> 'subjects' AS subjects;
SELECT privacy.encrypt_column('lv_events', 'note', 'lv');
INSERT INTO lv_events VALUES (6, 'anonymous', now(), 'f'), (7, '1', now(), 'g'), (8, '-5', now(), 'h');
SELECT id, cust, note FROM lv_events_decrypted ORDER BY id;
SELECT privacy.erase('lv', '1') -> 'tables' AS tables;
SELECT id, cust, note FROM lv_events_decrypted ORDER BY id;
SELECT privacy.decrypt_column('lv_events', 'note');
SELECT privacy.release_hold('lv', '2');
SELECT privacy.drop_subject('lv');
DROP TABLE lv_events, lv_users;
DROP EXTENSION privacy;
