-- AdventureWorks (Microsoft's sample OLTP schema, PostgreSQL port), reduced
-- to the shape around its persons: person.person's key is itself a key to
-- person.businessentity; an employee is a person, a salesperson an
-- employee; a customer is a person (nullable personid) and/or a store's
-- (nullable storeid), a store is served by a salesperson; an order
-- references its customer (NOT NULL) and its salesperson (nullable); its
-- details go with it (ON DELETE CASCADE).  Two subject types on it: person
-- (root person) and customer (root customer, person referenced).
-- So an order is a row of its customer's person AND of the salesperson's
-- person (shared), and a customer row is a row of subject type customer as
-- well as of subject type person.
-- The defect it found: a legal hold stopped only the erasure of the held
-- subject itself.  Erasing another person deleted the rows the two share
-- (the orders a held salesperson sold), and erasing a person deleted that
-- person's customer row held under subject type customer -- while
-- retention keeps a row when any of its subjects is held.  Now the
-- erasure fails with 55000 before anything changes (the dry run too), and
-- replay_erasures leaves such a subject as restored, counted as held.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

CREATE TABLE aw_businessentity (businessentityid serial PRIMARY KEY);
CREATE TABLE aw_person (businessentityid int PRIMARY KEY REFERENCES aw_businessentity,
	firstname varchar(50) NOT NULL, lastname varchar(50) NOT NULL);
CREATE TABLE aw_emailaddress (businessentityid int NOT NULL REFERENCES aw_person,
	emailaddressid serial, emailaddress varchar(50), PRIMARY KEY (businessentityid, emailaddressid));
CREATE TABLE aw_employee (businessentityid int PRIMARY KEY REFERENCES aw_person,
	nationalidnumber varchar(15) NOT NULL);
CREATE TABLE aw_salesperson (businessentityid int PRIMARY KEY REFERENCES aw_employee);
CREATE TABLE aw_store (businessentityid int PRIMARY KEY REFERENCES aw_businessentity,
	name varchar(50) NOT NULL, salespersonid int REFERENCES aw_salesperson);
CREATE TABLE aw_customer (customerid serial PRIMARY KEY, personid int REFERENCES aw_person,
	storeid int REFERENCES aw_store);
CREATE TABLE aw_salesorderheader (salesorderid int PRIMARY KEY,
	customerid int NOT NULL REFERENCES aw_customer, salespersonid int REFERENCES aw_salesperson,
	orderdate timestamp NOT NULL DEFAULT '2012-01-01');
CREATE TABLE aw_salesorderdetail (salesorderid int NOT NULL REFERENCES aw_salesorderheader ON DELETE CASCADE,
	salesorderdetailid int NOT NULL, PRIMARY KEY (salesorderid, salesorderdetailid));

-- persons 1..6 (1, 2 salespersons), store 100 served by 2
INSERT INTO aw_businessentity SELECT g FROM generate_series(1, 6) g UNION ALL SELECT 100;
INSERT INTO aw_person SELECT g, 'First' || g, 'Last' || g FROM generate_series(1, 6) g;
INSERT INTO aw_emailaddress (businessentityid, emailaddress) SELECT g, 'p' || g || '@example.com' FROM generate_series(1, 6) g;
INSERT INTO aw_employee SELECT g, '10000000' || g FROM generate_series(1, 2) g;
INSERT INTO aw_salesperson VALUES (1), (2);
INSERT INTO aw_store VALUES (100, 'Bikes', 2);
-- customers: 10 person 4 alone, 11 person 5 of store 100, 12 person 6, 13 store 100 only
INSERT INTO aw_customer VALUES (10, 4, NULL), (11, 5, 100), (12, 6, NULL), (13, NULL, 100);
-- orders: 1000 of 10 sold by 2 (shared by 4 and 2), 1001 of 10 sold by nobody,
-- 1002 of 12 sold by 1, 1003 of 13 sold by 1, 1004 of 11 sold by nobody
-- (shared by 5 and 2, through the store)
INSERT INTO aw_salesorderheader VALUES (1000, 10, 2), (1001, 10, NULL), (1002, 12, 1), (1003, 13, 1),
	(1004, 11, NULL);
INSERT INTO aw_salesorderdetail SELECT h.salesorderid, k FROM aw_salesorderheader h, generate_series(1, 2) k;
SELECT privacy.define_subject('person', 'aw_person');
SELECT privacy.define_subject('customer', 'aw_customer');
SELECT privacy.classify('aw_person', 'firstname', 'user.name');
SELECT privacy.classify('aw_person', 'lastname', 'user.name');
SELECT privacy.classify('aw_emailaddress', 'emailaddress', 'user.contact.email');
SELECT subject, table_name, via, depth FROM privacy.subject_tables
 WHERE subject IN ('person', 'customer') ORDER BY subject, depth, table_name::text;

-- the rows of each table that really disappear
CREATE FUNCTION pg_temp.counts() RETURNS text LANGUAGE sql AS $$
SELECT format('person %s email %s customer %s order %s detail %s',
	(SELECT count(*) FROM aw_person), (SELECT count(*) FROM aw_emailaddress),
	(SELECT count(*) FROM aw_customer), (SELECT count(*) FROM aw_salesorderheader),
	(SELECT count(*) FROM aw_salesorderdetail)) $$;
SELECT pg_temp.counts();

-- person 4's order 1000 is salesperson 2's too: held, it stays
SELECT privacy.hold('person', '2', 'litigation');
SELECT pg_temp.err($$SELECT privacy.erase('person', '4', dry_run => true)$$);
SELECT pg_temp.err($$SELECT privacy.erase('person', '4')$$);
SELECT pg_temp.counts();
-- retention agrees: the held salesperson's order is kept
BEGIN;
SELECT privacy.add_retention('aw_salesorderheader', 'orderdate', '1 year') AS p \gset
SELECT privacy.run_retention(:p) AS rows;
SELECT salesorderid FROM aw_salesorderheader ORDER BY 1;
ROLLBACK;
-- a hold of someone else with no row in common does not stop it
SELECT privacy.hold('person', '3', 'litigation');
BEGIN;
SELECT (privacy.erase('person', '6') -> 'tables') ->> 'public.aw_salesorderheader' AS orders;
SELECT pg_temp.counts();
ROLLBACK;
-- shared => 'keep' keeps what the two share: person 5's customer row 11 (of
-- store 100, served by 2) stays, detached from person 5, with its order
SELECT pg_temp.err($$SELECT privacy.erase('person', '5')$$);
BEGIN;
SELECT privacy.erase('person', '5', shared => 'keep') -> 'tables' -> 'public.aw_customer' AS customers;
SELECT customerid, personid, storeid FROM aw_customer WHERE customerid = 11;
SELECT salesorderid FROM aw_salesorderheader WHERE customerid = 11;
ROLLBACK;
-- person 4's order 1000 references the customer row that goes through a
-- NOT NULL key: it cannot be kept (23503, as without a hold)
SELECT pg_temp.err($$SELECT privacy.erase('person', '4', shared => 'keep')$$);
SELECT privacy.release_hold('person', '2');
BEGIN;
SELECT (privacy.erase('person', '4') -> 'tables') ->> 'public.aw_salesorderheader' AS orders;
ROLLBACK;

-- another subject type: customer 12 held, erasing person 6 would delete it
SELECT privacy.hold('customer', '12', 'chargeback');
SELECT pg_temp.err($$SELECT privacy.erase('person', '6', dry_run => true)$$);
SELECT pg_temp.err($$SELECT privacy.erase('person', '6')$$);
SELECT pg_temp.counts();
-- and the other way: person 6 held, erasing customer 12 would delete the
-- customer row and its order, which are person 6's rows too
SELECT privacy.release_hold('customer', '12');
SELECT privacy.hold('person', '6', 'chargeback');
SELECT pg_temp.err($$SELECT privacy.erase('customer', '12')$$);
SELECT privacy.release_hold('person', '6');
BEGIN;
SELECT (privacy.erase('customer', '12') -> 'tables') ->> 'public.aw_customer' AS customers;
SELECT pg_temp.counts();
ROLLBACK;

-- a salesperson with a store: store 100's customers (11, 13) and their
-- orders are salesperson 2's rows; customer 11 held (as a customer) stops it
SELECT privacy.hold('customer', '11', 'audit');
SELECT pg_temp.err($$SELECT privacy.erase('person', '2', dry_run => true)$$);
SELECT privacy.release_hold('customer', '11');
BEGIN;
SELECT privacy.erase('person', '2', dry_run => true) -> 'shared' AS shared;
ROLLBACK;

-- as a table owner who is no superuser
CREATE ROLE regress_aw_owner;
GRANT privacy_officer TO regress_aw_owner;
ALTER TABLE aw_businessentity OWNER TO regress_aw_owner;
ALTER TABLE aw_person OWNER TO regress_aw_owner;
ALTER TABLE aw_emailaddress OWNER TO regress_aw_owner;
ALTER TABLE aw_employee OWNER TO regress_aw_owner;
ALTER TABLE aw_salesperson OWNER TO regress_aw_owner;
ALTER TABLE aw_store OWNER TO regress_aw_owner;
ALTER TABLE aw_customer OWNER TO regress_aw_owner;
ALTER TABLE aw_salesorderheader OWNER TO regress_aw_owner;
ALTER TABLE aw_salesorderdetail OWNER TO regress_aw_owner;
SET ROLE regress_aw_owner;
SELECT privacy.hold('person', '2', 'litigation');
SELECT pg_temp.err($$SELECT privacy.erase('person', '4')$$);
SELECT privacy.release_hold('person', '2');
SELECT (privacy.erase('person', '4') -> 'tables') ->> 'public.aw_salesorderheader' AS orders;
SELECT pg_temp.counts();
RESET ROLE;

-- replaying the ledger after a restore: the hold of person 2, who shares
-- order 1000 with person 4, leaves person 4 as restored (counted as held,
-- as a hold of person 4 would), instead of failing the whole replay
SELECT privacy.erasure_ledger() AS ledger \gset
INSERT INTO aw_person VALUES (4, 'First4', 'Last4');
INSERT INTO aw_emailaddress (businessentityid, emailaddress) VALUES (4, 'p4@example.com');
INSERT INTO aw_customer VALUES (10, 4, NULL);
INSERT INTO aw_salesorderheader VALUES (1000, 10, 2), (1001, 10, NULL);
INSERT INTO aw_salesorderdetail SELECT h, k FROM unnest(ARRAY[1000, 1001]) h, generate_series(1, 2) k;
SELECT privacy.hold('person', '2', 'litigation');
SELECT r - 'receipts' AS replay, jsonb_array_length(r -> 'receipts') AS receipts
  FROM privacy.replay_erasures(:'ledger') r;
SELECT pg_temp.counts();
SELECT privacy.release_hold('person', '2');
SELECT r - 'receipts' AS replay, jsonb_array_length(r -> 'receipts') AS receipts
  FROM privacy.replay_erasures(:'ledger') r;
SELECT pg_temp.counts();

SELECT privacy.release_hold('person', '3');
SELECT privacy.drop_subject('customer');
SELECT privacy.drop_subject('person');
DROP TABLE aw_salesorderdetail, aw_salesorderheader, aw_customer, aw_store, aw_salesperson,
	aw_employee, aw_emailaddress, aw_person, aw_businessentity;
DROP EXTENSION privacy;
DROP ROLE regress_aw_owner;
