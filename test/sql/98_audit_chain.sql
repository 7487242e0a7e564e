-- The audit chain inside one transaction (issue #13, Audit): entries are
-- chained in the backend and the head row is written once, at pre-commit
-- or pre-prepare.  Every check below is an independent query on the rows
-- (consecutive seqs, head = last entry) besides verify_audit().
CREATE EXTENSION privacy;

-- seqs 1..n without a gap, head row at the last entry: the independent check
CREATE FUNCTION pg_temp.chain_shape() RETURNS text LANGUAGE sql AS $$
	SELECT format('entries=%s max=%s gaps=%s head=%s head_is_last=%s',
		count(*), max(a.seq), count(*) FILTER (WHERE a.seq <> a.rn),
		(SELECT seq FROM privacy.audit_head),
		(SELECT h.hash = l.hash FROM privacy.audit_head h, privacy.audit l
		  WHERE l.seq = h.seq))
	  FROM (SELECT seq, row_number() OVER (ORDER BY seq) AS rn FROM privacy.audit) a
$$;

-- many appends in one transaction: the head row is written by the first
-- entry and then not until commit (the old code updated it twice per
-- entry), verify sees the transaction's own chain, and after commit the
-- head is the last entry
SELECT privacy._audit('first', NULL, NULL);
BEGIN;
SELECT count(privacy._audit('bulk', NULL, jsonb_build_object('i', g, 'b', true)))
  FROM generate_series(1, 3000) g;
SELECT seq AS head_seq_before_commit FROM privacy.audit_head;
SELECT privacy.verify_audit() AS verified_inside;
SELECT (privacy.audit_anchor()->>'seq')::bigint AS anchor_seq_inside;
COMMIT;
SELECT privacy.verify_audit() AS verified;
SELECT pg_temp.chain_shape();

-- a plpgsql EXCEPTION block rolls back the entries appended in it: the
-- entries after it continue the chain from before it
DO $$
BEGIN
	PERFORM privacy._audit('kept', NULL, NULL);
	BEGIN
		PERFORM privacy._audit('lost', NULL, '{"n": 1}');
		PERFORM privacy._audit('lost', NULL, '{"n": 2}');
		RAISE EXCEPTION 'roll back the block';
	EXCEPTION WHEN raise_exception THEN
		NULL;
	END;
	PERFORM privacy._audit('kept', NULL, '{"after": "block"}');
END $$;
SELECT count(*) FILTER (WHERE action = 'lost') AS lost_entries,
	   count(*) FILTER (WHERE action = 'kept') AS kept_entries FROM privacy.audit;
SELECT privacy.verify_audit() AS verified;
SELECT pg_temp.chain_shape();

-- the first append of the transaction (which locks the head) inside a block
-- that rolls back: the lock goes with it and the next append takes it again
DO $$
BEGIN
	BEGIN
		PERFORM privacy._audit('lost', NULL, NULL);
		RAISE EXCEPTION 'roll back the block';
	EXCEPTION WHEN raise_exception THEN
		NULL;
	END;
	PERFORM privacy._audit('kept', NULL, '{"first": "after a lost lock"}');
END $$;
SELECT privacy.verify_audit() AS verified;
SELECT pg_temp.chain_shape();

-- nested: an inner block that commits into an outer block that rolls back
DO $$
BEGIN
	PERFORM privacy._audit('kept', NULL, NULL);
	BEGIN
		PERFORM privacy._audit('lost', NULL, NULL);
		BEGIN
			PERFORM privacy._audit('lost', NULL, NULL);
		EXCEPTION WHEN raise_exception THEN
			NULL;
		END;
		PERFORM privacy._audit('lost', NULL, NULL);
		RAISE EXCEPTION 'roll back the outer block';
	EXCEPTION WHEN raise_exception THEN
		NULL;
	END;
	BEGIN
		PERFORM privacy._audit('kept', NULL, NULL);
		BEGIN
			PERFORM privacy._audit('lost', NULL, NULL);
			RAISE EXCEPTION 'roll back the inner block';
		EXCEPTION WHEN raise_exception THEN
			NULL;
		END;
		PERFORM privacy._audit('kept', NULL, NULL);
	END;
END $$;
SELECT count(*) FILTER (WHERE action = 'lost') AS lost_entries FROM privacy.audit;
SELECT privacy.verify_audit() AS verified;
SELECT pg_temp.chain_shape();

-- savepoints, and mixed committed and rolled-back transactions
BEGIN;
SELECT privacy._audit('kept', NULL, NULL);
SAVEPOINT a;
SELECT privacy._audit('lost', NULL, NULL);
SAVEPOINT b;
SELECT privacy._audit('lost', NULL, NULL);
RELEASE b;
ROLLBACK TO a;
SELECT privacy._audit('kept', NULL, NULL);
SAVEPOINT c;
SELECT privacy._audit('kept', NULL, NULL);
RELEASE c;
COMMIT;
BEGIN;
SELECT count(privacy._audit('lost', NULL, NULL)) FROM generate_series(1, 50);
ROLLBACK;
BEGIN;
SELECT privacy._audit('kept', NULL, NULL);
SAVEPOINT a;
SELECT privacy._audit('lost', NULL, NULL);
ROLLBACK TO a;
COMMIT;
-- a transaction whose only entries rolled back leaves the head alone
SELECT xmin AS head_xmin FROM privacy.audit_head \gset
BEGIN;
SAVEPOINT a;
SELECT privacy._audit('lost', NULL, NULL);
ROLLBACK TO a;
COMMIT;
SELECT xmin = :'head_xmin' AS head_row_untouched FROM privacy.audit_head;
SELECT count(*) FILTER (WHERE action = 'lost') AS lost_entries FROM privacy.audit;
SELECT privacy.verify_audit() AS verified;
SELECT pg_temp.chain_shape();

-- rights calls and configuration functions append through the same chain
CREATE TABLE members (id int PRIMARY KEY, email text);
INSERT INTO members VALUES (1, 'a@example.org');
BEGIN;
SELECT privacy.define_subject('member', 'members');
SELECT privacy.classify('members', 'email', 'user.contact.email');
SELECT privacy.hold('member', '1', 'audit test') IS NOT NULL AS held;
SELECT privacy.release_hold('member', '1');
COMMIT;
SELECT privacy.verify_audit() AS verified;
SELECT pg_temp.chain_shape();

-- PREPARE TRANSACTION (the Citus path's two-phase commit): the head is
-- written before the prepare; a rolled-back prepared transaction leaves
-- nothing
BEGIN;
SELECT count(privacy._audit('prepared', NULL, NULL)) FROM generate_series(1, 3);
PREPARE TRANSACTION 'privacy_audit_2pc';
SELECT privacy.verify_audit() AS verified_while_prepared;
COMMIT PREPARED 'privacy_audit_2pc';
BEGIN;
SELECT privacy._audit('lost', NULL, NULL);
PREPARE TRANSACTION 'privacy_audit_2pc_lost';
ROLLBACK PREPARED 'privacy_audit_2pc_lost';
SELECT count(*) FILTER (WHERE action = 'prepared') AS prepared_entries,
	   count(*) FILTER (WHERE action = 'lost') AS lost_entries FROM privacy.audit;
SELECT privacy.verify_audit() AS verified;
SELECT pg_temp.chain_shape();

-- tampering is still found (the streaming verify reads every entry)
ALTER TABLE privacy.audit DISABLE TRIGGER audit_append_only;
UPDATE privacy.audit SET detail = '{"i": 0}' WHERE seq = 1500;
ALTER TABLE privacy.audit ENABLE TRIGGER audit_append_only;
SELECT privacy.verify_audit();

-- the extension dropped (and created again) in the appending transaction
BEGIN;
SELECT privacy._audit('dropped', NULL, NULL);
DROP EXTENSION privacy;
CREATE EXTENSION privacy;
SELECT privacy._audit('fresh', NULL, NULL);
COMMIT;
SELECT privacy.verify_audit() AS verified;
SELECT pg_temp.chain_shape();

DROP TABLE members;
DROP EXTENSION privacy;
