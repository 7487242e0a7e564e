-- Erasure and foreign-key actions (issue 10 item 7): every ON DELETE action
-- is planned for.  A row that must be kept (anonymize mode, a 'keep'
-- column) is never removed by a cascade: 23503 before anything changes.
-- Counts include the rows cascades remove, the rows SET NULL / SET DEFAULT
-- detach, and equal an independent count of what disappeared or changed.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

-- invoices kept for tax law (amount 'keep', anonymize mode) under a
-- cascading foreign key to the customer
CREATE TABLE customers (id int PRIMARY KEY, email text);
CREATE TABLE invoices (id int PRIMARY KEY, customer_id int REFERENCES customers ON DELETE CASCADE,
	amount numeric, name text);
INSERT INTO customers VALUES (1, 'a@example.org'), (2, 'b@example.org'), (3, 'c@example.org');
INSERT INTO invoices VALUES (1, 1, 10, 'Ann'), (2, 2, 20, 'Bob'), (3, 1, 30, 'Ann');
SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.classify('customers', 'email', 'user.contact.email');
SELECT privacy.classify('invoices', 'amount', 'user.financial', 'keep');
SELECT privacy.classify('invoices', 'name', 'user.name');
SELECT privacy.set_erasure_mode('invoices', 'anonymize');
-- before: the cascade deleted both invoices and the receipt listed them as retained
SELECT pg_temp.err($$SELECT privacy.erase('customer', '1')$$);
SELECT pg_temp.err($$SELECT privacy.erase('customer', '1', dry_run => true)$$);
SELECT (SELECT count(*) FROM invoices WHERE customer_id = 1) AS invoices,
       (SELECT count(*) FROM invoices WHERE name IS NULL) AS anonymized,
       (SELECT count(*) FROM customers WHERE id = 1) AS customer;
-- a customer with no invoice is erased
SELECT privacy.erase('customer', '3')->'tables' AS no_invoice;

-- SET NULL: the invoice stays, anonymized and detached, and is counted so
ALTER TABLE invoices DROP CONSTRAINT invoices_customer_id_fkey,
	ADD FOREIGN KEY (customer_id) REFERENCES customers ON DELETE SET NULL;
SELECT privacy.erase('customer', '1', dry_run => true)->'tables' AS dry_run;
SELECT privacy.erase('customer', '1')->'tables' AS set_null;
SELECT id, customer_id, amount, name FROM invoices ORDER BY id;

-- SET DEFAULT: detached onto the default (an "anonymous" customer)
ALTER TABLE invoices ALTER customer_id SET DEFAULT 0, DROP CONSTRAINT invoices_customer_id_fkey,
	ADD FOREIGN KEY (customer_id) REFERENCES customers ON DELETE SET DEFAULT;
INSERT INTO customers VALUES (0, NULL);
SELECT privacy.erase('customer', '2')->'tables' AS set_default;
SELECT id, customer_id, amount, name FROM invoices ORDER BY id;

-- NO ACTION / RESTRICT from a kept row: 23503, as before
INSERT INTO customers VALUES (4, 'd@example.org');
INSERT INTO invoices VALUES (4, 4, 40, 'Dee');
ALTER TABLE invoices DROP CONSTRAINT invoices_customer_id_fkey,
	ADD FOREIGN KEY (customer_id) REFERENCES customers ON DELETE RESTRICT;
SELECT pg_temp.err($$SELECT privacy.erase('customer', '4')$$);
SELECT count(*) AS dee_still_there FROM customers WHERE id = 4;

-- a cascade two levels down into a kept row: refused too
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers ON DELETE CASCADE);
CREATE TABLE receipts (id int PRIMARY KEY, order_id int REFERENCES orders ON DELETE CASCADE, total numeric);
SELECT privacy.classify('receipts', 'total', 'user.financial', 'keep');
INSERT INTO customers VALUES (5, 'e@example.org');
INSERT INTO orders VALUES (50, 5);
INSERT INTO receipts VALUES (500, 50, 5);
SELECT pg_temp.err($$SELECT privacy.erase('customer', '5')$$);
SELECT (SELECT count(*) FROM receipts) AS receipts, (SELECT count(*) FROM orders WHERE id = 50) AS orders;
DROP TABLE receipts, orders, invoices;

-- Cascades beyond the map: replies to the subject's comment (a
-- self-reference the map does not follow) go by ON DELETE CASCADE, with
-- their own children; SET NULL detaches.  The dry run and the receipt count
-- them, and the counts equal what really disappeared.
CREATE TABLE comments (id int PRIMARY KEY, customer_id int REFERENCES customers,
	parent_id int REFERENCES comments ON DELETE CASCADE, body text);
CREATE TABLE reactions (id int PRIMARY KEY, comment_id int REFERENCES comments ON DELETE CASCADE, kind text);
CREATE TABLE notes (id int PRIMARY KEY, comment_id int REFERENCES comments ON DELETE SET NULL, txt text);
INSERT INTO customers VALUES (6, 'f@example.org'), (7, 'g@example.org');
INSERT INTO comments VALUES (1, 6, NULL, 'mine'), (2, 7, 1, 'reply'), (3, 6, 2, 'reply to reply'),
	(4, 7, NULL, 'other'), (5, 7, 4, 'other reply');
INSERT INTO reactions VALUES (1, 1, 'x'), (2, 2, 'y'), (3, 3, 'z'), (4, 4, 'w'), (5, 5, 'v');
INSERT INTO notes VALUES (1, 2, 'n'), (2, 4, 'm'), (3, 1, 'o');
CREATE TEMP TABLE before AS
SELECT 'comments' AS t, count(*) AS n FROM comments UNION ALL SELECT 'reactions', count(*) FROM reactions
UNION ALL SELECT 'notes', count(*) FROM notes UNION ALL SELECT 'customers', count(*) FROM customers;
SELECT jsonb_pretty(privacy.erase('customer', '6', dry_run => true)->'tables') AS dry_run;
SELECT jsonb_pretty(privacy.erase('customer', '6')->'tables') AS receipt;
SELECT b.t, b.n - a.n AS disappeared
  FROM before b JOIN (SELECT 'comments' AS t, count(*) AS n FROM comments UNION ALL SELECT 'reactions', count(*) FROM reactions
       UNION ALL SELECT 'notes', count(*) FROM notes UNION ALL SELECT 'customers', count(*) FROM customers) a USING (t)
 ORDER BY 1;
SELECT id, comment_id FROM notes ORDER BY id;
SELECT id, customer_id, parent_id FROM comments ORDER BY id;
-- without statistics counters (track_counts = off) the planned counts are
-- the receipt's, and they are the same
INSERT INTO customers VALUES (9, 'i@example.org');
INSERT INTO comments VALUES (10, 9, NULL, 'mine'), (11, 7, 10, 'reply'), (12, 7, 11, 'reply');
INSERT INTO reactions VALUES (10, 11, 'x'), (11, 12, 'y');
SET track_counts = off;
SELECT privacy.erase('customer', '9')->'tables' AS without_counters;
RESET track_counts;
SELECT count(*) AS left_behind FROM comments WHERE id IN (10, 11, 12);
-- NO ACTION from another person's reply to the subject's comment: the map
-- follows self-references, so the reply is a child of the subject's row,
-- the subject's too, and shared (it also reaches its author): it goes with
-- the subject, counted as shared; shared => 'keep' keeps it, detached
ALTER TABLE comments DROP CONSTRAINT comments_parent_id_fkey,
	ADD FOREIGN KEY (parent_id) REFERENCES comments ON DELETE NO ACTION;
INSERT INTO comments VALUES (6, 4, NULL, 'dee''s'), (7, 7, 6, 'answer');
SELECT privacy.erase('customer', '4', dry_run => true)->'shared' AS shared_dry;
BEGIN;
SELECT privacy.erase('customer', '4', shared => 'keep')->'tables'->'public.comments' AS kept;
SELECT id, customer_id, parent_id FROM comments WHERE id IN (6, 7) ORDER BY id;
ROLLBACK;
SELECT privacy.erase('customer', '4')->'tables'->'public.comments' AS with_reply;
SELECT count(*) AS left_of_6_7 FROM comments WHERE id IN (6, 7);

-- invalid input
SELECT pg_temp.err($$SELECT privacy.erase('customer', '7', shared => 'sometimes')$$);
SELECT pg_temp.err($$SELECT privacy.erase('customer', '7', shared => NULL)$$);

DROP TABLE notes, reactions, comments, customers;
DROP EXTENSION privacy;
