-- Right to erasure: delete and anonymize modes, every strategy, FK order,
-- shared referenced rows, 23503 before anything changes, dry run,
-- idempotence, receipts without personal data, the erasure ledger and its
-- replay; then invalid input and privileges.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

CREATE TABLE addresses (id int PRIMARY KEY, street text);
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, name varchar(20), born date,
	ip inet, address_id int REFERENCES addresses);
CREATE TABLE orders (id int PRIMARY KEY, customer_id bigint REFERENCES customers, note text);
CREATE TABLE items (order_id int REFERENCES orders, line int, sku text, PRIMARY KEY (order_id, line));
CREATE TABLE messages (id int PRIMARY KEY, sender bigint REFERENCES customers, recipient bigint REFERENCES customers, body text);
CREATE TABLE invoices (id int PRIMARY KEY, customer_id bigint REFERENCES customers ON DELETE SET NULL,
	amount numeric NOT NULL, billing_name text NOT NULL, billing_email text, card bytea);
CREATE TABLE "Audit ""Trail""" (id serial PRIMARY KEY, "Who" text, what text);
CREATE INDEX ON "Audit ""Trail""" ("Who");
CREATE TABLE payments (id int, customer_id bigint REFERENCES customers, amount int) PARTITION BY RANGE (id);
CREATE TABLE payments_1 PARTITION OF payments FOR VALUES FROM (0) TO (1000);
CREATE TABLE payments_2 PARTITION OF payments FOR VALUES FROM (1000) TO (2000);

INSERT INTO addresses VALUES (1, '1 Main St'), (2, '2 Shared Rd');
INSERT INTO customers VALUES (1, 'ann@example.org', 'Ann', '1980-01-01', '10.0.0.1', 1),
	(2, 'bob@example.org', 'Bob', '1990-02-02', '10.0.0.2', 2), (3, 'cy@example.org', 'Cy', NULL, NULL, 2);
INSERT INTO orders VALUES (10, 1, 'first'), (11, 1, 'second'), (20, 2, 'bob''s');
INSERT INTO items VALUES (10, 1, 'A'), (10, 2, 'B'), (11, 1, 'C'), (20, 1, 'D');
INSERT INTO messages VALUES (1, 1, 2, 'hi Bob'), (2, 2, 3, 'hi Cy');
INSERT INTO invoices VALUES (1, 1, 9.5, 'Ann A', 'ann@example.org', '\x0102'), (2, 2, 20, 'Bob B', 'bob@example.org', NULL);
INSERT INTO "Audit ""Trail""" ("Who", what) VALUES ('1', 'login'), ('2', 'login'), ('1', 'logout');
INSERT INTO payments VALUES (5, 1, 10), (1500, 1, 20), (1501, 2, 30);

SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.link('customer', '"Audit ""Trail"""', 'Who');
SELECT privacy.classify('customers', 'email', 'user.contact.email');
SELECT privacy.classify('customers', 'name', 'user.name', 'redact');
SELECT privacy.classify('customers', 'born', 'user.demographic.date_of_birth');
SELECT privacy.classify('addresses', 'street', 'user.contact.address.street');
SELECT privacy.classify('messages', 'body', 'user.content.private');
SELECT privacy.classify('invoices', 'amount', 'user.financial', 'keep', legal_basis => 'legal_obligation');
SELECT privacy.classify('invoices', 'billing_name', 'user.name', 'hash');
SELECT privacy.classify('invoices', 'billing_email', 'user.contact.email', 'redact');
SELECT privacy.classify('invoices', 'card', 'user.financial.credit_card', 'hash');
SELECT privacy.set_erasure_mode('invoices', 'anonymize');
SELECT privacy.add_recipient('Mailer', 'marketing', ARRAY['user.contact']);
SELECT privacy.add_recipient('Bank', 'payments', ARRAY['user.financial.bank_account']);
SELECT privacy.add_recipient('Analytics', 'analytics', ARRAY['user.content']);

-- a dry run reports and changes nothing
SELECT jsonb_pretty(privacy.erase('customer', '1', 'asked by e-mail', dry_run => true) - 'subject_ref');
SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM orders) AS orders,
       (SELECT count(*) FROM items) AS items, (SELECT count(*) FROM "Audit ""Trail""") AS trail;
-- the erasure: children before parents, anonymize mode rewrites, the shared address stays
SELECT jsonb_pretty(privacy.erase('customer', '1', 'asked by e-mail') - 'subject_ref');
SELECT * FROM customers ORDER BY id;
SELECT * FROM orders ORDER BY id;
SELECT * FROM items ORDER BY order_id, line;
SELECT * FROM messages ORDER BY id;
SELECT id, customer_id, amount, billing_name ~ '^[0-9a-f]{32}$' AS pseudonym, billing_email,
       length(card) AS card_len FROM invoices ORDER BY id;
SELECT * FROM addresses ORDER BY id;
SELECT * FROM "Audit ""Trail""" ORDER BY id;
SELECT * FROM payments ORDER BY id;
-- again: nothing new, zero counts; the same pseudonym is not hashed twice
SELECT privacy.erase('customer', '1')->'tables'->'public.invoices' AS again;
-- data that arrives after an erasure is erased by the next one
INSERT INTO "Audit ""Trail""" ("Who", what) VALUES ('1', 'came back');
SELECT privacy.erase('customer', '1')->'tables'->'public."Audit ""Trail"""' AS new_rows;
-- equal inputs give equal pseudonyms: Bob's billing name hashed twice is one value
UPDATE invoices SET billing_name = 'Ann A' WHERE id = 2;
SELECT privacy.erase('customer', '2')->'tables'->'public.invoices' AS bob;
SELECT count(DISTINCT billing_name) AS distinct_pseudonyms FROM invoices;
-- the shared address goes with its last user
SELECT privacy.erase('customer', '3')->'tables'->'public.addresses' AS last_user;
SELECT count(*) AS addresses_left FROM addresses;

-- 23503 before anything changes: a row that stays (anonymize mode, foreign
-- key without ON DELETE action) references a row to delete
INSERT INTO customers VALUES (4, 'dee@example.org', 'Dee', NULL, NULL, NULL);
INSERT INTO orders VALUES (40, 4, 'dee');
CREATE TABLE outside (id int PRIMARY KEY, cust bigint);
INSERT INTO outside VALUES (1, 4);
ALTER TABLE outside ADD CONSTRAINT outside_cust FOREIGN KEY (cust) REFERENCES customers;
SELECT privacy.set_erasure_mode('outside', 'anonymize');
SELECT pg_temp.err($$SELECT privacy.erase('customer', '4')$$);
SELECT count(*) AS dee_still_there FROM customers WHERE id = 4;
SELECT privacy.set_erasure_mode('outside', 'delete');
SELECT privacy.erase('customer', '4')->'tables'->'public.outside' AS outside_deleted;

-- legal hold: 55000, nothing changed
INSERT INTO customers VALUES (5, 'eve@example.org', 'Eve', NULL, NULL, NULL);
SELECT privacy.hold('customer', '5', 'litigation 2026-17');
SELECT pg_temp.err($$SELECT privacy.erase('customer', '5')$$);
SELECT pg_temp.err($$SELECT privacy.erase('customer', '5', dry_run => true)$$);
SELECT count(*) AS eve_still_there FROM customers WHERE id = 5;
SELECT subject, reason, until FROM privacy.active_holds;
SELECT privacy.access('customer', '5')->'holds'->0->>'reason' AS hold_in_access;
SELECT privacy.release_hold('customer', '5');
SELECT privacy.erase('customer', '5')->'tables'->'public.customers' AS eve_erased;
-- a hold with an end date
INSERT INTO customers VALUES (6, 'fay@example.org', 'Fay', NULL, NULL, NULL);
SELECT privacy.hold('customer', '6', 'audit', now() + interval '1 day');
SELECT pg_temp.err($$SELECT privacy.erase('customer', '6')$$);

-- atomicity: a failure in any table leaves the subject intact and no receipt
INSERT INTO customers VALUES (7, 'gus@example.org', 'Gus', NULL, NULL, NULL);
INSERT INTO orders VALUES (70, 7, 'gus');
INSERT INTO items VALUES (70, 1, 'X');
CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$;
CREATE TRIGGER boom BEFORE DELETE ON orders FOR EACH ROW EXECUTE FUNCTION boom();
SELECT count(*) AS receipts_before FROM privacy.erasures;
SELECT pg_temp.err($$SELECT privacy.erase('customer', '7')$$);
SELECT (SELECT count(*) FROM customers WHERE id = 7) AS customer, (SELECT count(*) FROM orders WHERE id = 70) AS orders,
       (SELECT count(*) FROM items WHERE order_id = 70) AS items, (SELECT count(*) FROM privacy.erasures) AS receipts;
DROP TRIGGER boom ON orders;

-- user triggers run as the table owner, never as the superuser
CREATE ROLE regress_owner;
CREATE TABLE owned (id int PRIMARY KEY, customer_id bigint REFERENCES customers, v text);
ALTER TABLE owned OWNER TO regress_owner;
CREATE TABLE trigger_saw (who name);
GRANT INSERT ON trigger_saw TO regress_owner;
CREATE FUNCTION saw() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.trigger_saw VALUES (current_user); RETURN OLD; END $$;
CREATE TRIGGER saw BEFORE DELETE ON owned FOR EACH ROW EXECUTE FUNCTION saw();
INSERT INTO owned VALUES (1, 7, 'x');
SELECT privacy.erase('customer', '7')->'tables'->'public.owned' AS owned;
SELECT * FROM trigger_saw;

-- requests, receipts, ledger and audit hold no personal data
SELECT kind, status FROM privacy.requests WHERE kind = 'erase' ORDER BY id;
SELECT count(*) AS leaks FROM privacy.audit_log
 WHERE detail::text ~ '(ann|bob|cy|dee|eve)@' OR subject_ref ~ '^[0-9]+$';
SELECT jsonb_array_length(privacy.erasure_ledger()->'entries') AS ledger_entries,
       privacy.erasure_ledger()::text ~ '@example' AS ledger_leaks;
SELECT jsonb_array_length(privacy.erasure_ledger(now() + interval '1 hour')->'entries') AS none_after;
SELECT privacy.verify_audit() > 0 AS chain_ok;

-- replay after a "restore": the erased subject comes back, the ledger erases it again
CREATE TEMP TABLE ledger AS SELECT privacy.erasure_ledger() AS l;
INSERT INTO customers VALUES (1, 'ann@example.org', 'Ann', NULL, NULL, NULL);
INSERT INTO orders VALUES (12, 1, 'restored');
INSERT INTO "Audit ""Trail""" ("Who", what) VALUES ('1', 'restored');
SELECT r->'entries' AS entries, r->'matched' AS matched,
       r->'receipts'->0->'tables'->'public.customers' AS customers
  FROM (SELECT privacy.replay_erasures(l) AS r FROM ledger) s;
SELECT count(*) AS ann_rows FROM customers WHERE id = 1;
SELECT kind FROM privacy.requests ORDER BY id DESC LIMIT 1;

-- invalid input
SELECT pg_temp.err($$SELECT privacy.erase('nobody', '1')$$);
SELECT pg_temp.err($$SELECT privacy.erase('customer', 'x')$$);
SELECT pg_temp.err($$SELECT privacy.erase(NULL, '1')$$);
SELECT pg_temp.err($$SELECT privacy.erase('customer', NULL)$$);
SELECT pg_temp.err($$SELECT privacy.erase('customer', '1', dry_run => NULL)$$);
SELECT pg_temp.err($$SELECT privacy.hold('customer', '1', NULL)$$);
SELECT pg_temp.err($$SELECT privacy.hold('customer', '1', '')$$);
SELECT pg_temp.err($$SELECT privacy.hold('customer', '1', 'x', now() - interval '1 day')$$);
SELECT pg_temp.err($$SELECT privacy.hold('customer', 'one', 'x')$$);
SELECT pg_temp.err($$SELECT privacy.release_hold('customer', '1')$$);
SELECT pg_temp.err($$SELECT privacy.replay_erasures(NULL)$$);
SELECT pg_temp.err($$SELECT privacy.replay_erasures('[1,2]')$$);
SELECT pg_temp.err($$SELECT privacy.replay_erasures('{"entries": [{"subject": "customer"}]}')$$);
SELECT privacy.replay_erasures('{"entries": [{"subject": "nobody", "subject_ref": "00"}]}')->'matched' AS unknown_subject;
-- privileges
CREATE ROLE regress_app;
SET ROLE regress_app;
SELECT pg_temp.err($$SELECT privacy.erase('customer', '2')$$);
SELECT pg_temp.err($$SELECT privacy.hold('customer', '2', 'x')$$);
SELECT pg_temp.err($$SELECT privacy.erasure_ledger()$$);
SELECT pg_temp.err($$SELECT privacy.pseudonym('x')$$);
RESET ROLE;
DROP ROLE regress_app;
REVOKE INSERT ON trigger_saw FROM regress_owner;

DROP TABLE owned, trigger_saw, outside, payments, items, invoices, messages, orders, customers, addresses, "Audit ""Trail""";
DROP FUNCTION boom(), saw();
DROP ROLE regress_owner;
DROP EXTENSION privacy;
