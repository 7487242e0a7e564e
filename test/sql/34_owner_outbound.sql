-- A table the root references (outbound), owned by a role that may not read
-- the root: the root row's referencing columns are read as the root's owner,
-- the referenced rows as their own owner (before: 42501 for access, export
-- and erase, the referenced table's owner reading the root).
SET client_min_messages = warning;
CREATE EXTENSION privacy;
CREATE ROLE regress_oo_people;
CREATE ROLE regress_oo_places;
CREATE ROLE regress_oo_officer IN ROLE privacy_officer;
CREATE TABLE oo_address (id int PRIMARY KEY, street text NOT NULL, city text);
CREATE TABLE oo_club (id int PRIMARY KEY, motto text);
CREATE TABLE oo_customer (id int PRIMARY KEY, name text, address_id int REFERENCES oo_address,
	billing_id int REFERENCES oo_address, club_id int REFERENCES oo_club);
CREATE TABLE oo_order (id int PRIMARY KEY, customer int NOT NULL REFERENCES oo_customer ON DELETE CASCADE,
	ship_to int REFERENCES oo_address);
ALTER TABLE oo_address OWNER TO regress_oo_places;
ALTER TABLE oo_club OWNER TO regress_oo_places;
ALTER TABLE oo_customer OWNER TO regress_oo_people;
ALTER TABLE oo_order OWNER TO regress_oo_people;
INSERT INTO oo_address VALUES (1, 'Main 1', 'A'), (2, 'Side 2', 'B'), (3, 'Shared 3', 'C'), (4, 'Ship 4', 'D');
INSERT INTO oo_club VALUES (1, 'together'), (2, 'nobody');
INSERT INTO oo_customer VALUES (10, 'Ann', 1, 3, 1), (11, 'Ben', 2, 3, 1);
INSERT INTO oo_order VALUES (100, 10, 4), (101, 11, 2);
SELECT privacy.define_subject('oo', 'oo_customer');
SELECT privacy.classify('oo_address', 'street', 'user.contact.address');
SELECT privacy.classify('oo_club', 'motto', 'user.content.private');
SELECT table_name, via, path FROM privacy.subject_tables WHERE subject = 'oo' ORDER BY 1::text;
-- neither owner may read the other's table
SELECT has_table_privilege('regress_oo_places', 'oo_customer', 'SELECT') AS places_reads_customers,
       has_table_privilege('regress_oo_people', 'oo_address', 'SELECT') AS people_reads_addresses;
SET ROLE regress_oo_officer;
-- a breach of a referenced table concerns every subject whose rows reference
-- it: the club both belong to is two subjects (it was one: the key of one
-- referencing row per breached row), read from the customers as their owner
-- (it was 42501: the places' owner read the customers)
SELECT privacy.breach_report('{oo_club}') -> 'subjects' AS club_subjects,
       privacy.breach_report('{oo_address}') -> 'subjects' AS address_subjects;
SELECT privacy.access('oo', '10') -> 'data' -> 'public.oo_address' AS addresses;
SELECT privacy.export('oo', '10') -> 'tables' -> 'public.oo_address' AS exported;
SELECT privacy.access('oo', '12') -> 'data' AS unknown_id;
SELECT privacy.erase('oo', '10', dry_run => true) -> 'tables' AS dry;
SELECT r -> 'tables' AS tables, r -> 'retained' AS retained
  FROM privacy.erase('oo', '10') r;
RESET ROLE;
-- Ann's own address and her order's shipping address are gone; the address
-- she shares with Ben stays, as do Ben's
SELECT id, street FROM oo_address ORDER BY id;
SELECT id FROM oo_customer ORDER BY id;
-- anonymize mode on the referenced table
SELECT privacy.set_erasure_mode('oo_address', 'anonymize');
SET ROLE regress_oo_officer;
SELECT privacy.erase('oo', '11') -> 'tables' -> 'public.oo_address' AS anonymized;
RESET ROLE;
SELECT id, street, city FROM oo_address ORDER BY id;
SELECT privacy.drop_subject('oo');
DROP TABLE oo_order, oo_customer, oo_address, oo_club;
DROP ROLE regress_oo_people, regress_oo_places, regress_oo_officer;
DROP EXTENSION privacy;
