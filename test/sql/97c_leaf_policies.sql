-- A partition owned by another role, with row-level security of its own:
-- read through its partitioned table, PostgreSQL applies only the
-- partitioned table's policies, never the partition's, so the guard does
-- not refuse the statement for them (before, every access, erase and
-- retention batch of such a map failed with 42501: "the row-level security
-- policies of table ... would run as another role").  The partition's
-- policy function records each role it runs as: it never runs.  A table
-- read by itself still has its policies
-- checked (test 97_security_owners).
CREATE EXTENSION privacy;
SET client_min_messages = warning;
CREATE ROLE regress_leaf_a;
CREATE ROLE regress_leaf_b;
GRANT CREATE ON SCHEMA public TO regress_leaf_a, regress_leaf_b;
CREATE TABLE ran (who text, at text);
GRANT INSERT ON ran TO PUBLIC;
CREATE FUNCTION public.leaf_policy(text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.ran VALUES (current_user, $1);
	RETURN true;
END $$;

SET ROLE regress_leaf_a;
CREATE TABLE customers (id int PRIMARY KEY, email text);
CREATE TABLE events (id int, customer_id int REFERENCES customers, at date NOT NULL, what text, account_id int,
	PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO customers VALUES (1, 'a@example.org'), (2, 'b@example.org');
INSERT INTO events VALUES (1, 1, '2025-03-01', 'e1', NULL), (2, 2, '2025-04-01', 'e2', NULL),
	(3, 1, '2026-03-01', 'e3', 7), (4, 2, '2026-04-01', 'e4', 7);
RESET ROLE;
-- the 2026 partition passes to another role, which protects it with a
-- policy of its own code
ALTER TABLE events_2026 OWNER TO regress_leaf_b;
SET ROLE regress_leaf_b;
ALTER TABLE events_2026 ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON events_2026 USING (public.leaf_policy('policy'));
RESET ROLE;
SELECT privacy.define_subject('customer', 'customers');
SELECT table_name, via FROM privacy.subject_tables ORDER BY 1::text;

SELECT jsonb_array_length(privacy.access('customer', '1')->'data'->'public.events') AS events_of_1;
SELECT (privacy.erase('customer', '1', dry_run => true))->'tables'->'public.events' AS dry_run;
SELECT (privacy.erase('customer', '1'))->'tables'->'public.events' AS erased;
SELECT id, customer_id FROM events ORDER BY id;
SELECT privacy.add_retention('events', 'at', '100 years') IS NOT NULL AS policy_added;
SELECT privacy.run_retention() >= 0 AS retention_ran;
SELECT policy, error FROM privacy.retention_status;
-- the partition's policy never ran (not as the extension, not as the
-- partitioned table's owner)
SELECT who, at FROM ran;

-- a key of the partition's own (to another subject type's root) maps the
-- partitioned table, read through it: allowed, the policy never runs
CREATE TABLE accounts (id int PRIMARY KEY);
INSERT INTO accounts VALUES (7);
ALTER TABLE accounts OWNER TO regress_leaf_a;
GRANT REFERENCES ON accounts TO regress_leaf_b;
SET ROLE regress_leaf_b;
ALTER TABLE events_2026 ADD FOREIGN KEY (account_id) REFERENCES accounts;
RESET ROLE;
SELECT privacy.define_subject('account', 'accounts');
SELECT table_name, via FROM privacy.subject_tables WHERE subject = 'account' ORDER BY 1::text;
SELECT jsonb_array_length(privacy.access('account', '7')->'data'->'public.events') AS events_of_7;
SELECT who, at FROM ran;

DROP EXTENSION privacy;
DROP TABLE events, customers, accounts, ran;
DROP FUNCTION public.leaf_policy(text);
REVOKE CREATE ON SCHEMA public FROM regress_leaf_a, regress_leaf_b;
DROP ROLE regress_leaf_a, regress_leaf_b;
