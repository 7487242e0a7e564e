-- Accountability reports: the Art. 30 record of processing and the breach
-- report (Art. 33/34), derived from the catalog.
CREATE EXTENSION privacy;
-- empty catalog
SELECT privacy.processing_record() - 'generated_at' AS record;
SELECT privacy.processing_record_markdown() ~ 'No personal data is classified yet' AS empty_md;

CREATE SCHEMA rep;
CREATE TABLE rep.customer (
	id		int PRIMARY KEY,
	email	text NOT NULL,
	name	text,
	health	text,
	created	date NOT NULL DEFAULT current_date
);
CREATE TABLE rep.orders (
	id		int PRIMARY KEY,
	customer_id int NOT NULL REFERENCES rep.customer,
	card	text,
	placed	date NOT NULL
);
CREATE TABLE rep."Audit ""Log""; x" (
	id		int PRIMARY KEY,
	note	text
);
INSERT INTO rep.customer (id, email, name, health)
SELECT i, format('c%s@example.com', i), 'Name ' || i, CASE WHEN i % 2 = 0 THEN 'allergy' END
FROM generate_series(1, 20) i;
-- 30 orders of 10 distinct customers
INSERT INTO rep.orders SELECT i, 1 + i % 10, '4111111111111111', current_date - i
FROM generate_series(1, 30) i;
INSERT INTO rep."Audit ""Log""; x" VALUES (1, 'x');

SELECT privacy.define_subject('customer', 'rep.customer');
SELECT privacy.classify('rep.customer', 'email', 'user.contact.email',
	purposes => '{billing,marketing}', legal_basis => 'contract');
SELECT privacy.classify('rep.customer', 'name', 'user.name', purposes => '{billing}',
	legal_basis => 'contract');
SELECT privacy.classify('rep.customer', 'health', 'user.health_and_medical',
	purposes => '{care}', legal_basis => 'explicit consent');
SELECT privacy.classify('rep.orders', 'card', 'user.financial.credit_card',
	purposes => '{billing}', legal_basis => 'contract');
SELECT privacy.add_recipient('Stripe | Payments', 'billing', '{user.financial.credit_card}', 'US');
SELECT privacy.add_recipient('Mailer', 'marketing', '{user.contact.email}', 'DE');
-- a retention policy and an encrypted column, as their modules record them
-- (with its state, and out of the worker's reach: a policy is enforced as soon as it exists)
WITH p AS (INSERT INTO privacy.retention (table_name, age_column, keep) VALUES ('rep.orders', 'placed', '2 years') RETURNING id)
INSERT INTO privacy.retention_state (policy, next_try) SELECT id, 'infinity' FROM p;
INSERT INTO privacy.encrypted_columns (table_name, column_name) VALUES ('rep.orders', 'card');

-- the Art. 30 record
SELECT jsonb_pretty(privacy.processing_record() - 'generated_at');
SELECT regexp_replace(privacy.processing_record_markdown(), 'Generated: [^\n]*', 'Generated: (now)');

-- breach of the customer table: 20 subjects; special category exposed
SELECT jsonb_pretty(r - 'generated_at' - 'notification_deadline' - 'aware_at') FROM privacy.breach_report('{rep.customer}') r;
-- the deadline is 72 hours from now by default, or what the regime says
SELECT (privacy.breach_report('{rep.customer}')->>'notification_deadline')::timestamptz
	= now() + interval '72 hours' AS deadline_72h;
SELECT (privacy.breach_report('{rep.customer}', '96 hours')->>'notification_deadline')::timestamptz
	= now() + interval '96 hours' AS deadline_96h;
-- Art. 33(1): the deadline runs from when the controller became aware of the
-- breach; one learnt of 80 hours ago is past its 72 hours (in any time zone)
SET TimeZone = 'Asia/Kathmandu';
SELECT (r->>'aware_at')::timestamptz = now() - interval '80 hours' AS aware_kept,
       (r->>'notification_deadline')::timestamptz = now() - interval '8 hours' AS deadline_from_awareness,
       r->'deadline_passed' AS deadline_passed
  FROM privacy.breach_report('{rep.customer}', aware_at => now() - interval '80 hours') r;
SELECT (r->>'aware_at')::timestamptz = now() AS aware_now, r->'deadline_passed' AS deadline_passed
  FROM privacy.breach_report('{rep.customer}', aware_at => NULL) r;
RESET TimeZone;
-- not in the future, not infinite: 22023
\set VERBOSITY sqlstate
SELECT privacy.breach_report('{rep.customer}', aware_at => now() + interval '1 day');
SELECT privacy.breach_report('{rep.customer}', aware_at => 'infinity');
SELECT privacy.breach_report('{rep.customer}', aware_at => '-infinity');
\set VERBOSITY default
-- orders: 10 distinct customers through the map; the card column is encrypted
SELECT r->'subjects' AS subjects, r->'encryption' AS encryption, r->'high_risk' AS high_risk
  FROM privacy.breach_report('{rep.orders}') r;
-- ... unless the keys were taken too
SELECT r->'encryption' AS encryption, r->'high_risk' AS high_risk
  FROM privacy.breach_report('{rep.orders}', keys_compromised => true) r;
-- both tables (duplicates ignored): distinct over the union, 20
SELECT r->'subjects' AS subjects, r->'categories' AS categories
  FROM privacy.breach_report('{rep.orders,rep.customer,rep.orders}') r;
-- a table in no map, with a hostile name
SELECT r->'subjects' AS subjects, r->'unmapped_tables' AS unmapped, r->'tables' AS tables
  FROM privacy.breach_report(ARRAY['rep."Audit ""Log""; x"'::regclass]) r;

-- invalid input
SELECT privacy.breach_report('{}');
SELECT privacy.breach_report(NULL);
SELECT privacy.breach_report('{rep.nope}');
SELECT privacy.breach_report(ARRAY[NULL::regclass]);
SELECT privacy.breach_report('{rep.customer}', '0 hours');
SELECT privacy.breach_report('{rep.customer}', '-1 day');
SELECT privacy.breach_report('{rep.customer}', NULL);
DO $$
BEGIN
	PERFORM privacy.breach_report('{}');
EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'sqlstate %', SQLSTATE;
END $$;

-- privileges: officers and admins only
CREATE ROLE regress_rep_nobody;
CREATE ROLE regress_rep_officer IN ROLE privacy_officer;
GRANT USAGE ON SCHEMA rep TO regress_rep_nobody, regress_rep_officer;
SET ROLE regress_rep_nobody;
SELECT privacy.processing_record();
SELECT privacy.processing_record_markdown();
SELECT privacy.breach_report('{rep.customer}');
RESET ROLE;
SET ROLE regress_rep_officer;
SELECT jsonb_array_length(privacy.processing_record()->'purposes') AS purposes;
SELECT privacy.breach_report('{rep.customer}')->'subjects' AS subjects;
RESET ROLE;

-- cleanup
-- a breached partition is reported as its partitioned table (session 12's
-- review: it reported no category and no subject)
CREATE TABLE rep_u (id int PRIMARY KEY, email text);
CREATE TABLE rep_ev (id int, uid int REFERENCES rep_u, kind int, note text) PARTITION BY LIST (kind);
CREATE TABLE rep_ev1 PARTITION OF rep_ev FOR VALUES IN (1);
CREATE TABLE rep_ev2 PARTITION OF rep_ev FOR VALUES IN (2);
INSERT INTO rep_u VALUES (1, 'a'), (2, 'b');
INSERT INTO rep_ev VALUES (1, 1, 1, 'x'), (2, 2, 2, 'y');
SELECT privacy.define_subject('rep_u', 'rep_u');
SELECT privacy.classify('rep_ev', 'note', 'user.content.private');
SELECT r -> 'subjects' AS subjects, r -> 'categories' AS categories, r -> 'unmapped_tables' AS unmapped,
	r -> 'notify_authority' AS notify
	FROM privacy.breach_report(ARRAY['rep_ev1']::regclass[]) r;
SELECT privacy.drop_subject('rep_u');
DROP TABLE rep_ev, rep_u;
DROP SCHEMA rep CASCADE;
DROP ROLE regress_rep_nobody;
DROP ROLE regress_rep_officer;
DROP EXTENSION privacy CASCADE;
