-- Pagila (the PostgreSQL sample database) declares the foreign keys of its
-- partitioned payment table on some partitions only (six of seven monthly
-- partitions: the last has none).  SPEC: a partitioned table is mapped and
-- erased as one table under its parent's name.  Such a key, with no other key
-- on its columns in any leaf, is the partitioned table's: the keyless
-- partition's payments are the customer's too (before, they were mapped per
-- partition and the last month's payments were neither listed nor erased).
-- A DBA who then maps the whole table too (privacy.link on
-- payment.customer_id, or a key added on the partitioned table) has each row
-- counted once; the check below compares every receipt with the rows that
-- really disappeared.
CREATE EXTENSION privacy;
CREATE TABLE rw_customer (customer_id int PRIMARY KEY, email text);
CREATE TABLE rw_staff (staff_id int PRIMARY KEY);
CREATE TABLE rw_rental (rental_id int PRIMARY KEY,
	customer_id int NOT NULL REFERENCES rw_customer ON UPDATE CASCADE ON DELETE RESTRICT,
	staff_id int NOT NULL REFERENCES rw_staff);
CREATE TABLE rw_payment (payment_id int, customer_id int NOT NULL, staff_id int NOT NULL,
	rental_id int NOT NULL, amount numeric(5,2), payment_date timestamptz NOT NULL,
	PRIMARY KEY (payment_date, payment_id)) PARTITION BY RANGE (payment_date);
CREATE TABLE rw_payment_p2022_01 PARTITION OF rw_payment FOR VALUES FROM ('2022-01-01 00:00+00') TO ('2022-02-01 00:00+00');
CREATE TABLE rw_payment_p2022_02 PARTITION OF rw_payment FOR VALUES FROM ('2022-02-01 00:00+00') TO ('2022-03-01 00:00+00');
CREATE TABLE rw_payment_p2022_03 PARTITION OF rw_payment FOR VALUES FROM ('2022-03-01 00:00+00') TO ('2022-04-01 00:00+00');
-- as in Pagila: the keys on the first partitions only
ALTER TABLE rw_payment_p2022_01 ADD FOREIGN KEY (customer_id) REFERENCES rw_customer,
	ADD FOREIGN KEY (rental_id) REFERENCES rw_rental, ADD FOREIGN KEY (staff_id) REFERENCES rw_staff;
ALTER TABLE rw_payment_p2022_02 ADD FOREIGN KEY (customer_id) REFERENCES rw_customer,
	ADD FOREIGN KEY (rental_id) REFERENCES rw_rental, ADD FOREIGN KEY (staff_id) REFERENCES rw_staff;
INSERT INTO rw_staff VALUES (1), (2);
INSERT INTO rw_customer SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 6) g;
INSERT INTO rw_rental SELECT g, 1 + g % 6, 1 + g % 2 FROM generate_series(1, 24) g;
INSERT INTO rw_payment SELECT r.rental_id, r.customer_id, r.staff_id, r.rental_id, 2.99,
	timestamptz '2022-01-05 00:00+00' + r.rental_id * interval '3 days' FROM rw_rental r;
-- a friend pays for another customer's rental (customer 3 for a rental of 2)
INSERT INTO rw_payment VALUES (100, 3, 1, 2, 1.00, '2022-01-20 00:00+00'),
	(101, 3, 1, 8, 1.00, '2022-03-20 00:00+00');
SELECT privacy.define_subject('rw', 'rw_customer');
SELECT table_name, via, depth FROM privacy.subject_tables WHERE subject = 'rw' ORDER BY depth, table_name::text;

-- every receipt against what really disappeared, table by table
CREATE FUNCTION rw_check(id text) RETURNS TABLE (tbl text, receipt bigint, dry bigint, gone bigint)
LANGUAGE plpgsql AS $$
DECLARE
	d jsonb := privacy.erase('rw', id, dry_run => true) -> 'tables';
	before jsonb;
	r jsonb;
BEGIN
	SELECT jsonb_object_agg(c.oid::regclass::text, (xpath('/row/n/text()',
		query_to_xml(format('SELECT count(*) AS n FROM ONLY %s', c.oid::regclass), false, true, '')))[1]::text::bigint)
	  INTO before FROM pg_class c WHERE c.relname LIKE 'rw\_%' AND c.relkind = 'r';
	r := privacy.erase('rw', id) -> 'tables';
	RETURN QUERY
	SELECT t.k, (r -> t.k ->> 'deleted')::bigint, (d -> t.k ->> 'deleted')::bigint,
		CASE WHEN t.k = 'public.rw_payment' THEN
			(SELECT sum((before ->> c.oid::regclass::text)::bigint - (xpath('/row/n/text()',
				query_to_xml(format('SELECT count(*) AS n FROM ONLY %s', c.oid::regclass), false, true, '')))[1]::text::bigint)
			   FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			  WHERE i.inhparent = 'rw_payment'::regclass AND ('public.' || c.relname) NOT IN (SELECT jsonb_object_keys(r)))::bigint
		ELSE (before ->> (t.k)::regclass::text)::bigint - (xpath('/row/n/text()',
			query_to_xml(format('SELECT count(*) AS n FROM ONLY %s', t.k), false, true, '')))[1]::text::bigint END
	  FROM jsonb_object_keys(r) t(k) ORDER BY 1;
END $$;

-- keys on two of three partitions: the partitioned table's key, the third
-- partition's rows included (customer 2 has a payment in March)
SELECT count(*) FROM rw_payment_p2022_03 WHERE customer_id = 2;
BEGIN;
SELECT * FROM rw_check('2');
ROLLBACK;
SELECT jsonb_array_length(privacy.access('rw', '2') -> 'data' -> 'public.rw_payment') AS payments;
-- a partition added later without the key: still one table
CREATE TABLE rw_payment_p2022_04 PARTITION OF rw_payment FOR VALUES FROM ('2022-04-01 00:00+00') TO ('2022-05-01 00:00+00');
INSERT INTO rw_payment VALUES (102, 2, 1, 2, 1.00, '2022-04-20 00:00+00');
SELECT table_name, via, depth FROM privacy.subject_tables WHERE subject = 'rw' ORDER BY depth, table_name::text;
SELECT jsonb_array_length(privacy.access('rw', '2') -> 'data' -> 'public.rw_payment') AS payments;
-- a leaf that keys customer_id to another table: the keys are the partitions' own
BEGIN;
ALTER TABLE rw_payment_p2022_04 ADD FOREIGN KEY (customer_id) REFERENCES rw_staff;
SELECT table_name, via, depth FROM privacy.subject_tables WHERE subject = 'rw' ORDER BY depth, table_name::text;
ROLLBACK;
DELETE FROM rw_payment WHERE payment_id = 102;
DROP TABLE rw_payment_p2022_04;

-- the whole table linked too: a row of p2022_01 is reached both ways
SELECT privacy.link('rw', 'rw_payment', 'customer_id');
SELECT table_name, via, depth FROM privacy.subject_tables WHERE subject = 'rw' ORDER BY depth, table_name::text;
BEGIN;
SELECT * FROM rw_check('2');
ROLLBACK;
BEGIN;
SELECT * FROM rw_check('3');
ROLLBACK;

-- a key on the partitioned table instead of the link
SELECT privacy.unlink('rw', 'rw_payment', 'customer_id');
ALTER TABLE rw_payment ADD FOREIGN KEY (customer_id) REFERENCES rw_customer;
SELECT privacy.refresh_subject('rw');
BEGIN;
SELECT * FROM rw_check('2');
ROLLBACK;
BEGIN;
SELECT * FROM rw_check('3');
ROLLBACK;
DROP FUNCTION rw_check(text);
SELECT privacy.drop_subject('rw');
DROP TABLE rw_payment, rw_rental, rw_staff, rw_customer;
DROP EXTENSION privacy;
