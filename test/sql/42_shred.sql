-- Crypto-shredding through erase: values encrypted under the subject's own
-- key become unreadable everywhere once the subject is erased, copies
-- included; the receipt counts the keys; the ledger replay destroys keys.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

CREATE TABLE members (id int PRIMARY KEY, nick text);
CREATE TABLE notes (id int PRIMARY KEY, member_id int REFERENCES members ON DELETE SET NULL, secret text);
INSERT INTO members VALUES (1, 'ann'), (2, 'bob');
INSERT INTO notes VALUES (10, 1, 'ann diagnosis'), (20, 2, 'bob diagnosis');
SELECT privacy.define_subject('member', 'members');
SELECT privacy.encrypt_column('notes', 'secret', 'member');
-- notes stay (anonymize mode); their secret is shredded, not rewritten
SELECT privacy.set_erasure_mode('notes', 'anonymize');
SELECT privacy.classify('notes', 'secret', 'user.health_and_medical', 'shred');
SELECT erasure FROM privacy.classified_columns WHERE column_name = 'secret';
SELECT id, secret FROM notes_decrypted ORDER BY id;
SELECT privacy.access('member', '1')->'data'->'public.notes'->0->>'secret' AS ann_reads;
-- a copy of the ciphertext, as a backup or replica would hold it
CREATE TABLE copy_of_notes AS SELECT * FROM notes;

SELECT r->'keys_shredded' AS keys_shredded, r->'tables'->'public.members' AS members
  FROM (SELECT privacy.erase('member', '1') AS r) s;
-- Ann's value is unreadable in place and in the copy; Bob's is intact
SELECT id, secret FROM notes_decrypted ORDER BY id;
SELECT n.id, privacy.read_encrypted(n.secret, e.id, n.id) AS copy_reads
  FROM copy_of_notes n, privacy.encrypted_columns e WHERE e.table_name = 'notes'::regclass ORDER BY n.id;
SELECT subject, state FROM privacy.keys WHERE subject IS NOT NULL ORDER BY id;
-- erasing again: no key left to shred
SELECT privacy.erase('member', '1')->'keys_shredded' AS again;
-- the ledger replay destroys the keys of ledger subjects even when no row is left
-- the dry run counts the keys the erasure would destroy, and keeps them
SELECT privacy.erase('member', '2', dry_run => true)->'keys_shredded' AS dry_run_would_shred;
SELECT count(*) FILTER (WHERE state = 'active') AS active FROM privacy.keys WHERE subject IS NOT NULL;
DELETE FROM notes WHERE member_id = 2;
CREATE TEMP TABLE l AS SELECT jsonb_build_object('entries', jsonb_build_array(jsonb_build_object('subject', 'member',
	'subject_ref', (SELECT subject_ref FROM privacy.keys WHERE subject = 'member' AND state = 'active')))) AS ledger;
DELETE FROM members WHERE id = 2;
SELECT r->'matched' AS matched, r->'keys_shredded' AS keys_shredded FROM (SELECT privacy.replay_erasures(ledger) AS r FROM l) s;
SELECT count(*) FILTER (WHERE state = 'active') AS active FROM privacy.keys WHERE subject IS NOT NULL;
-- a ledger subject found in the data: the keys its receipt shredded count
-- in the total (which is the receipts' keys_shredded plus those of the
-- subjects not found)
INSERT INTO members VALUES (3, 'cid');
INSERT INTO notes VALUES (30, 3, 'cid diagnosis');
SELECT r->'matched' AS matched, r->'receipts'->0->'keys_shredded' AS receipt, r->'keys_shredded' AS keys_shredded
  FROM (SELECT privacy.replay_erasures(jsonb_build_object('entries', jsonb_build_array(jsonb_build_object(
	'subject', 'member', 'subject_ref', (SELECT subject_ref FROM privacy.keys
	                                     WHERE subject = 'member' AND state = 'active'))))) AS r) s;
SELECT count(*) FILTER (WHERE state = 'active') AS active FROM privacy.keys WHERE subject IS NOT NULL;

DROP TABLE copy_of_notes;
DROP VIEW notes_decrypted;
DROP TABLE notes, members;
DROP EXTENSION privacy;
