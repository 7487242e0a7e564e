-- Accountability review: request deadlines, the erasure ledger's replay
-- under a legal hold and with a damaged ledger, drop_subject and the legal
-- records of its subjects, and the breach report / record of processing
-- with categories added under a parent.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

CREATE TABLE acr_user (id int PRIMARY KEY, email text);
CREATE TABLE acr_order (id int PRIMARY KEY, uid int REFERENCES acr_user, amount int);
INSERT INTO acr_user SELECT i, 'u' || i || '@example.org' FROM generate_series(1, 4) i;
INSERT INTO acr_order SELECT 10 + i, i, i FROM generate_series(1, 4) i;
SELECT privacy.define_subject('acr', 'acr_user');
SELECT privacy.classify('acr_user', 'email', 'user.contact.email');

-- 1. privacy.request_deadline: at most 100 years.  Before, '1000000 years'
-- was accepted and every rights call then failed (22008, timestamp out of
-- range), and a deadline of ages hid every request from overdue_requests.
SELECT pg_temp.err($$SET privacy.request_deadline = '1000000 years'$$) AS absurd;
SELECT pg_temp.err($$SET privacy.request_deadline = '101 years'$$) AS over_bound;
SELECT pg_temp.err($$SET privacy.request_deadline = '0'$$) AS zero;
SELECT pg_temp.err($$SET privacy.request_deadline = '-1 day'$$) AS negative;
SET privacy.request_deadline = '100 years';
SELECT privacy.access('acr', '1') -> 'data' IS NOT NULL AS access_ok;
SELECT due_at - received_at AS deadline FROM privacy.requests ORDER BY id DESC LIMIT 1;
RESET privacy.request_deadline;

-- 2. replay_erasures and a legal hold: the held subject stays (the hold
-- wins, as over erase, and its keys stay too), the others are erased again,
-- and the answer says how many were left ("held").  Before, one hold failed
-- the whole replay (55000), and every other erased subject stayed restored.
CREATE TABLE acr_backup_u AS SELECT * FROM acr_user;
CREATE TABLE acr_backup_o AS SELECT * FROM acr_order;
SELECT privacy.erase('acr', '1') -> 'tables' AS erased_1;
SELECT privacy.erase('acr', '2') -> 'tables' AS erased_2;
SELECT privacy.erasure_ledger() AS ledger \gset
-- "restore": the rows come back, and subject 2 is held in the restored copy
INSERT INTO acr_user SELECT * FROM acr_backup_u WHERE id IN (1, 2);
INSERT INTO acr_order SELECT * FROM acr_backup_o WHERE uid IN (1, 2);
SELECT privacy.hold('acr', '2', 'litigation');
SELECT r - 'receipts' AS replay, jsonb_array_length(r -> 'receipts') AS receipts
  FROM privacy.replay_erasures(:'ledger') r;
SELECT id FROM acr_user ORDER BY id;
SELECT detail FROM privacy.audit_log WHERE action = 'replay_erasures' AND subject_ref IS NULL
 ORDER BY seq DESC LIMIT 1;
-- without a hold the answer has no "held"; released, the replay erases it
SELECT privacy.release_hold('acr', '2');
SELECT r - 'receipts' AS replay FROM privacy.replay_erasures(:'ledger') r;
SELECT id FROM acr_user ORDER BY id;
-- replayed once more: nothing left to match
SELECT r - 'receipts' AS replay_again FROM privacy.replay_erasures(:'ledger') r;

-- 3. a damaged ledger naming one subject_ref under two subject types: 22023.
-- Before, the later entry replaced the earlier, and the subject of the
-- earlier one was silently not erased.
INSERT INTO acr_user SELECT * FROM acr_backup_u WHERE id = 1;
SELECT pg_temp.err(format('SELECT privacy.replay_erasures(%L)',
	jsonb_build_object('entries', jsonb_build_array(e, e || '{"subject": "other"}'))))
	AS two_types
  FROM jsonb_array_elements(:'ledger'::jsonb -> 'entries') e LIMIT 1;
SELECT count(*) AS still_restored FROM acr_user WHERE id = 1;
DELETE FROM acr_user WHERE id = 1;

-- 4. drop_subject with active holds or restrictions: 55000.  Before, they
-- went with the type (ON DELETE CASCADE), silently, with no audit entry,
-- and the type defined again erased a subject that had been held.
SELECT privacy.hold('acr', '3', 'litigation');
SELECT pg_temp.err($$SELECT privacy.drop_subject('acr')$$) AS drop_held;
SELECT privacy.release_hold('acr', '3');
SELECT privacy.restrict('acr', '4', 'accuracy contested');
SELECT pg_temp.err($$SELECT privacy.drop_subject('acr')$$) AS drop_restricted;
SELECT privacy.unrestrict('acr', '4');
-- an expired hold does not block
SELECT privacy.hold('acr', '3', 'short', now() + interval '1 hour');
UPDATE privacy.holds SET until = now() - interval '1 second' WHERE subject = 'acr' AND released_at IS NULL;
SELECT privacy.drop_subject('acr');
SELECT action, detail FROM privacy.audit_log ORDER BY seq DESC LIMIT 1;

-- 4b. after an erasure the subject's id is no longer in clear in the holds
-- and restrictions kept of it: its (released or expired) holds stay, under
-- the subject_ref, an expired one closed; its restriction goes.  Before,
-- an erased person's id stayed in privacy.holds and privacy.restrictions.
CREATE TABLE acr_mail (email text PRIMARY KEY, name text);
INSERT INTO acr_mail VALUES ('ann@example.org', 'Ann'), ('bob@example.org', 'Bob');
SELECT privacy.define_subject('acr_m', 'acr_mail');
SELECT privacy.hold('acr_m', 'ann@example.org', 'first');
SELECT privacy.release_hold('acr_m', 'ann@example.org');
SELECT privacy.hold('acr_m', 'ann@example.org', 'second', now() + interval '1 hour');
UPDATE privacy.holds SET until = now() - interval '1 second'
 WHERE subject = 'acr_m' AND released_at IS NULL;
SELECT privacy.restrict('acr_m', 'ann@example.org', 'contested');
SELECT privacy.restrict('acr_m', 'bob@example.org', 'contested');
SELECT privacy.erase('acr_m', 'ann@example.org') -> 'tables' AS erased;
SELECT count(*) AS holds_kept, count(*) FILTER (WHERE subject_key = subject_ref) AS under_ref,
       count(*) FILTER (WHERE released_at IS NULL) AS open
  FROM privacy.holds WHERE subject = 'acr_m';
SELECT count(*) AS id_in_clear FROM privacy.holds h WHERE h::text ~ 'ann@'
UNION ALL SELECT count(*) FROM privacy.restrictions r WHERE r::text ~ 'ann@';
SELECT privacy.is_restricted('acr_m', 'ann@example.org') AS ann, privacy.is_restricted('acr_m', 'bob@example.org') AS bob;
-- a dry run changes nothing
SELECT privacy.erase('acr_m', 'bob@example.org', dry_run => true) -> 'dry_run' AS dry_run;
SELECT privacy.is_restricted('acr_m', 'bob@example.org') AS bob_after_dry_run;
-- the same id, a new person, held again and erased again: no collision
INSERT INTO acr_mail VALUES ('ann@example.org', 'Ann two');
SELECT privacy.hold('acr_m', 'ann@example.org', 'third', now() + interval '1 hour');
UPDATE privacy.holds SET until = now() - interval '1 second'
 WHERE subject = 'acr_m' AND released_at IS NULL;
SELECT privacy.erase('acr_m', 'ann@example.org') -> 'tables' AS erased_again;
SELECT count(*) AS holds_kept, count(*) FILTER (WHERE h::text ~ 'ann@') AS id_in_clear
  FROM privacy.holds h WHERE subject = 'acr_m';
SELECT privacy.unrestrict('acr_m', 'bob@example.org');
SELECT privacy.drop_subject('acr_m');
DROP TABLE acr_mail;

-- 5. categories added under a parent (the taxonomy is extendable with
-- INSERT): a child of a special category is special, a child of a
-- financial one is high risk.  Before, breach_report and processing_record
-- read only the category's own flag and name: high_risk false, no special
-- category, for a breach of health and bank data.
INSERT INTO privacy.categories (name, parent, description, special, erasure) VALUES
	('acr.diagnosis', 'user.health_and_medical', 'diagnosis codes', false, 'null'),
	('acr.diagnosis.code', 'acr.diagnosis', 'one code', false, 'null'),
	('acr.iban', 'user.financial.bank_account', 'account number', false, 'null'),
	('acr.nickname', 'user.name', 'a nickname', false, 'null');
CREATE TABLE acr_patient (id int PRIMARY KEY, nick text, code text, iban text);
INSERT INTO acr_patient VALUES (1, 'x', 'A01', 'DE00');
SELECT privacy.define_subject('acr_p', 'acr_patient');
SELECT privacy.classify('acr_patient', 'nick', 'acr.nickname', purposes => '{care}');
SELECT privacy.classify('acr_patient', 'iban', 'acr.iban', purposes => '{billing}');
SELECT r -> 'high_risk' AS high_risk_iban, r -> 'special_categories' AS special_iban
  FROM privacy.breach_report('{acr_patient}') r;
SELECT privacy.classify('acr_patient', 'code', 'acr.diagnosis.code', purposes => '{care}');
SELECT r -> 'special_categories' AS special, r -> 'tables' -> 'public.acr_patient' -> 'columns' AS columns
  FROM privacy.breach_report('{acr_patient}') r;
SELECT privacy.declassify('acr_patient', 'iban');
SELECT r -> 'high_risk' AS high_risk_diagnosis FROM privacy.breach_report('{acr_patient}') r;
SELECT privacy.declassify('acr_patient', 'code');
SELECT r -> 'high_risk' AS high_risk_nickname FROM privacy.breach_report('{acr_patient}') r;
SELECT privacy.classify('acr_patient', 'code', 'acr.diagnosis.code', purposes => '{care}');
SELECT r -> 'special_categories' AS special_all,
       (SELECT jsonb_agg(p -> 'special_categories') FROM jsonb_array_elements(r -> 'purposes') p
         WHERE p ->> 'purpose' = 'care') AS special_care
  FROM privacy.processing_record() r;

-- 6. processing_record_markdown: a value is one line.  Before, a line break
-- in a purpose or a recipient's name started a heading of its own or ended
-- the table row ("# Injected" below was a heading of the document).
SELECT privacy.add_recipient(E'Acme\n| Legal bases | consent |', E'care\n# Injected', '{user.name}', 'US');
SELECT privacy.add_recipient(E'Back\\slash\\n', 'care', '{user.name}', 'DE');
SELECT line FROM regexp_split_to_table(privacy.processing_record_markdown(), E'\n') WITH ORDINALITY AS l(line, n)
 WHERE line ~ '(Injected|Acme|Back)' ORDER BY n;

SELECT privacy.verify_audit() > 0 AS audit_verified;
SELECT privacy.drop_subject('acr_p');
DROP TABLE acr_patient, acr_order, acr_user, acr_backup_u, acr_backup_o;
DROP EXTENSION privacy CASCADE;
