-- demo step 40: the right to erasure (GDPR Art. 17) for customer 42, a legal
-- hold that blocks it, and the audit chain that records everything.
\pset footer off
\set QUIET on
\set ECHO none
SELECT to_regprocedure('privacy.erase(text,text,text,boolean)') IS NOT NULL AS have_erase \gset
\if :have_erase
\else
\echo '(privacy.erase is not installed yet: step 40 skipped)'
\quit
\endif
\set ECHO queries

\echo
\echo '== 1. Dry run: the receipt erase would give, computed without changing'
\echo '      anything.  invoices are anonymized (kept for tax law), the shared'
\echo '      address stays (customer 4042 lives there too) and is listed as retained,'
\echo '      and the recipients holding erased categories are listed to notify.'
\pset format unaligned
SELECT jsonb_pretty(privacy.erase('customer', '42', 'ticket 7731: customer asked to close the account',
	dry_run => true)) AS "dry-run receipt";
\pset format aligned
SELECT (SELECT count(*) FROM app.end_users WHERE id = 42) AS "user 42 still there",
	(SELECT count(*) FROM app.messages WHERE sender_user_id = 42) AS "messages sent";

\echo
\echo '== 2. A legal hold (a chargeback dispute) blocks erasure: SQLSTATE 55000,'
\echo '      nothing changed.  (The error is caught here so the demo goes on.)'
SELECT privacy.hold('customer', '42', 'chargeback dispute, case 2024-117') \g /dev/null
DO $$
BEGIN
	PERFORM privacy.erase('customer', '42', 'ticket 7731');
	RAISE NOTICE 'erase went through: the hold did not block it';
EXCEPTION WHEN object_not_in_prerequisite_state THEN
	RAISE NOTICE 'erase refused, SQLSTATE %: %', SQLSTATE, SQLERRM;
END
$$;
\pset format unaligned
SELECT jsonb_pretty(privacy.access('customer', '42') -> 'holds') AS "holds in the access report";
\pset format aligned

\echo
\echo '== 3. The dispute is settled: release the hold and erase for real.'
\echo '      One transaction, children before parents; the receipt holds no'
\echo '      personal data.'
SELECT privacy.release_hold('customer', '42') \g /dev/null
\pset format unaligned
SELECT jsonb_pretty(privacy.erase('customer', '42', 'ticket 7731: customer asked to close the account'))
	AS "erasure receipt";
\pset format aligned

\echo
\echo '== 4. Afterwards: access finds nothing for customer 42 ...'
SELECT privacy.access('customer', '42') -> 'data' AS "data for customer 42";
SELECT (SELECT count(*) FROM app.end_users WHERE id = 42) AS users,
	(SELECT count(*) FROM app.messages WHERE sender_user_id = 42) AS messages,
	(SELECT count(*) FROM app.devices WHERE user_id = 42) AS devices,
	(SELECT count(*) FROM app.event_log WHERE user_ref = '42') AS events;

\echo '   ... the invoices stay for the tax office, no longer linked to a user ...'
SELECT number, user_id, amount, billing_name, billing_address, issued_at
FROM app.invoices
WHERE number IN ('INV-1000042', 'INV-1005042', 'INV-1010042')
ORDER BY number;

\echo '   ... and the household''s address stays for customer 4042.'
SELECT u.id, u.full_name, a.street, a.city
FROM app.end_users u JOIN app.addresses a ON a.id = u.address_id
WHERE a.id = 42;

\echo
\echo '== 5. Erasing again is harmless: zero rows, a new receipt.'
SELECT sum((t.value ->> 'deleted')::int) AS deleted, sum((t.value ->> 'anonymized')::int) AS anonymized
FROM jsonb_each(privacy.erase('customer', '42', 'duplicate request') -> 'tables') t;

\echo
\echo '== 6. Accountability: the audit log is append-only and hash-chained.'
\echo '      verify_audit() recomputes the chain (XX001 names the first bad entry).'
SELECT privacy.verify_audit() AS "audit entries verified";
SELECT seq, at::timestamp(0) AS at, actor, action,
	left(subject_ref::text, 12) || '...' AS subject_ref, left(detail::text, 60) AS detail
FROM privacy.audit_log
ORDER BY seq DESC
LIMIT 12;

\echo
\echo '== 7. The requests, completed:'
SELECT id, kind, left(subject_ref::text, 16) || '...' AS subject_ref,
	received_at::timestamp(0) AS received_at, completed_at::timestamp(0) AS completed_at, status
FROM privacy.requests
ORDER BY id;
