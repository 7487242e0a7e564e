-- A numeric key has many spellings of one value (1, 1.0, 1.00): ids are
-- canonical without trailing zeros, so holds, restrictions, consents, the
-- ledger and link columns name one subject whatever the spelling
-- (session 12's review: a hold placed with '1' did not stop erase('1.0')).
CREATE EXTENSION privacy;
CREATE TABLE nk_acct (id numeric PRIMARY KEY, email text);
INSERT INTO nk_acct VALUES (1, 'a@x.org'), (2.50, 'b@x.org'), (3.0, 'c@x.org'), (5, 'e@x.org');
CREATE TABLE nk_orders (id int PRIMARY KEY, acct numeric(10,2) REFERENCES nk_acct);
INSERT INTO nk_orders VALUES (1, 1), (2, 2.5), (3, 3), (5, 5);
CREATE TABLE nk_log (who text);
INSERT INTO nk_log VALUES ('1'), ('2.5'), ('3'), ('5');
SELECT privacy.define_subject('nk', 'nk_acct');
SELECT privacy.link('nk', 'nk_log', 'who');
SELECT privacy.hold('nk', '1', 'litigation');
SELECT privacy.erase('nk', '1.0');
SELECT privacy.erase('nk', '1.00', dry_run => true);
SELECT privacy.restrict('nk', '2.5', 'dispute');
SELECT privacy.is_restricted('nk', '2.50'), privacy.is_restricted('nk', '2.5'), privacy.is_restricted('nk', '02.500');
SELECT privacy.set_consent('nk', '2.50', 'marketing', true);
SELECT privacy.has_consent('nk', '2.5', 'marketing');
SELECT privacy.access('nk', '2.500') -> 'data';
SELECT privacy.access('nk', '2.500') ->> 'id';
SELECT privacy.erase('nk', '3.00') -> 'tables';
SELECT who FROM nk_log ORDER BY who;
-- retention skips the held subject's rows whatever the spelling stored
CREATE TABLE nk_events (id int PRIMARY KEY, acct numeric REFERENCES nk_acct, at timestamptz);
INSERT INTO nk_events VALUES (1, 1.000, now() - interval '2 days'), (2, 5.0, now() - interval '2 days');
SELECT privacy.add_retention('nk_events', 'at', '1 day') AS pol \gset
SELECT privacy.run_retention(:pol);
SELECT id, acct FROM nk_events ORDER BY id;
SELECT privacy.drop_retention(:pol);
-- breach scope counts one subject per value
SELECT privacy.breach_report(ARRAY['nk_acct', 'nk_orders']::regclass[]) -> 'subjects';
-- the ledger: erased as '5.0', restored as 5.00, replayed: erased again
SELECT privacy.erase('nk', '5.0') -> 'tables' -> 'public.nk_acct';
SELECT privacy.erasure_ledger() AS ledger \gset
INSERT INTO nk_acct VALUES (5.00, 'e@x.org');
INSERT INTO nk_log VALUES ('5');
SELECT privacy.replay_erasures(:'ledger') IS NOT NULL AS replayed;
SELECT count(*) FROM nk_acct WHERE id = 5;
SELECT count(*) FROM nk_log WHERE who = '5';
-- a text link column must hold the canonical spelling
INSERT INTO nk_log VALUES ('4.0');
SELECT privacy.unlink('nk', 'nk_log', 'who');
SELECT privacy.link('nk', 'nk_log', 'who');
SELECT privacy.release_hold('nk', '1.0');
-- drop_subject refuses while a restriction is active
SELECT privacy.unrestrict('nk', '2.50');
SELECT privacy.drop_subject('nk');
DROP TABLE nk_events, nk_log, nk_orders, nk_acct;
DROP EXTENSION privacy;
