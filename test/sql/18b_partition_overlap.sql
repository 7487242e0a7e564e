-- A partition mapped by a foreign key of its own (declared on that partition
-- only) while its partitioned table is mapped too (a link, or a key on the
-- partitioned table): access and export listed such a row twice, under the
-- partitioned table and under the partition.  Each row is now listed once,
-- under the partition when its own condition or the partitioned table's
-- finds it, as erase counts it (mark_partition_overlap in erase.c).
CREATE EXTENSION privacy;
CREATE TABLE po_r (id int PRIMARY KEY, e text);
-- a composite key: an account per region
CREATE TABLE po_acct (id int, region int, r_id int REFERENCES po_r, PRIMARY KEY (id, region));
CREATE TABLE po_pay (id int PRIMARY KEY, c_id int, payer text, acct int, region int, amount int)
	PARTITION BY RANGE (id);
CREATE TABLE po_pay_1 PARTITION OF po_pay FOR VALUES FROM (0) TO (100);
CREATE TABLE po_pay_2 PARTITION OF po_pay FOR VALUES FROM (100) TO (200);
CREATE TABLE po_pay_3 PARTITION OF po_pay FOR VALUES FROM (200) TO (300);
-- the partitions' own keys: po_pay_1 to the subject, po_pay_3 to an account (composite)
ALTER TABLE po_pay_1 ADD FOREIGN KEY (c_id) REFERENCES po_r;
ALTER TABLE po_pay_3 ADD FOREIGN KEY (acct, region) REFERENCES po_acct;
-- po_pay_2 keys the same columns to another table: the partitions' keys stay
-- theirs (a key on some leaves only, with no other key on its columns, would
-- be the partitioned table's: 33_realworld_pagila)
CREATE TABLE po_x (id int PRIMARY KEY, region int, UNIQUE (id, region));
ALTER TABLE po_pay_2 ADD FOREIGN KEY (c_id) REFERENCES po_x (id),
	ADD FOREIGN KEY (acct, region) REFERENCES po_x (id, region);
-- a second level below the partition (a note of a row that the link finds too)
CREATE TABLE po_note (id int PRIMARY KEY, pay_id int REFERENCES po_pay_1 (id) ON DELETE CASCADE, body text);
-- and below the partitioned table: a receipt of any payment
CREATE TABLE po_rcpt (id int PRIMARY KEY, pay_id int REFERENCES po_pay ON DELETE CASCADE);
INSERT INTO po_r VALUES (1, 'a'), (2, 'b'), (3, 'c');
INSERT INTO po_acct VALUES (10, 1, 1), (10, 2, 2), (11, 1, 3);
INSERT INTO po_pay VALUES
	(1, 1, NULL, NULL, NULL, 5),	-- po_pay_1: its own key only
	(2, 2, '1', NULL, NULL, 6),		-- po_pay_1: the link only (c_id is another subject's)
	(3, 1, '1', NULL, NULL, 7),		-- po_pay_1: both
	(4, 2, '2', NULL, NULL, 8),		-- subject 2, both
	(150, NULL, '1', NULL, NULL, 9),	-- po_pay_2: the link (the partitioned table's rows)
	(151, NULL, '2', NULL, NULL, 10),
	(201, NULL, NULL, 10, 1, 11),	-- po_pay_3: its own composite key only
	(202, NULL, '1', 10, 2, 12),	-- po_pay_3: the link only (the account is subject 2's)
	(203, NULL, '1', 10, 1, 13),	-- po_pay_3: both
	(204, NULL, '3', 11, 1, 14);
INSERT INTO po_note VALUES (1, 1, 'x'), (2, 3, 'y'), (3, 4, 'z'), (4, 2, 'w');
INSERT INTO po_rcpt VALUES (1, 1), (2, 2), (3, 150), (4, 201), (5, 202), (6, 204);
SELECT privacy.define_subject('po', 'po_r');
SELECT privacy.link('po', 'po_pay', 'payer');
SELECT privacy.classify('po_pay', 'amount', 'user.financial.bank_account');
SELECT privacy.classify('po_note', 'body', 'user.content.private');
SELECT table_name, via FROM privacy.subject_tables WHERE subject = 'po' ORDER BY table_name::text;

-- each row once, under the partition when the partition is mapped by itself
SELECT k, jsonb_path_query_array(v, '$[*].id') AS ids
  FROM jsonb_each(privacy.access('po', '1') -> 'data') AS x(k, v) ORDER BY k;
SELECT k, v FROM jsonb_each(privacy.export('po', '1') -> 'tables') AS x(k, v) ORDER BY k;
SELECT k, jsonb_path_query_array(v, '$[*].id') AS ids
  FROM jsonb_each(privacy.access('po', '2') -> 'data') AS x(k, v) ORDER BY k;
-- warm: the kept statements give the same
SELECT k, jsonb_path_query_array(v, '$[*].id') AS ids
  FROM jsonb_each(privacy.access('po', '1') -> 'data') AS x(k, v) ORDER BY k;

-- access = export = erase (dry run and real) = an independent count, per table
CREATE FUNCTION po_check(sid text) RETURNS TABLE (tbl text, access int, export int, dry bigint, erased bigint, expected bigint)
LANGUAGE plpgsql AS $$
DECLARE
	a jsonb := privacy.access('po', sid) -> 'data';
	x jsonb := privacy.export('po', sid) -> 'tables';
	d jsonb := privacy.erase('po', sid, dry_run => true) -> 'tables';
	n jsonb;
	r jsonb;
BEGIN
	-- the rows of each table that belong to the subject, counted by hand:
	-- a row of po_pay_1 or po_pay_3 under its partition, po_pay_2 under po_pay
	SELECT jsonb_build_object(
		'public.po_r', (SELECT count(*) FROM po_r WHERE po_r.id = sid::int),
		'public.po_acct', (SELECT count(*) FROM po_acct WHERE r_id = sid::int),
		'public.po_pay', (SELECT count(*) FROM po_pay_2 WHERE payer = sid),
		'public.po_pay_1', (SELECT count(*) FROM po_pay_1 WHERE c_id = sid::int OR payer = sid),
		'public.po_pay_3', (SELECT count(*) FROM po_pay_3 p WHERE payer = sid OR EXISTS
			(SELECT FROM po_acct c WHERE (c.id, c.region) = (p.acct, p.region) AND c.r_id = sid::int)),
		'public.po_note', (SELECT count(*) FROM po_note WHERE pay_id IN (SELECT p.id FROM po_pay_1 p WHERE c_id = sid::int OR payer = sid)),
		'public.po_rcpt', (SELECT count(*) FROM po_rcpt WHERE pay_id IN (SELECT p.id FROM po_pay p WHERE payer = sid
			OR (p.tableoid = 'po_pay_1'::regclass AND c_id = sid::int) OR (p.tableoid = 'po_pay_3'::regclass AND EXISTS
			(SELECT FROM po_acct c WHERE (c.id, c.region) = (p.acct, p.region) AND c.r_id = sid::int)))))
	  INTO n;
	r := privacy.erase('po', sid) -> 'tables';
	RETURN QUERY
	SELECT t.k, coalesce(jsonb_array_length(a -> t.k), 0), coalesce(jsonb_array_length(x -> t.k), 0),
		(d -> t.k ->> 'deleted')::bigint, (r -> t.k ->> 'deleted')::bigint, (n ->> t.k)::bigint
	  FROM jsonb_object_keys(n) t(k) ORDER BY 1;
END $$;
BEGIN;
SELECT * FROM po_check('1');
-- nothing of subject 1 is left; the others' rows are all there
SELECT p.tableoid::regclass, p.id FROM po_pay p ORDER BY p.id;
ROLLBACK;
BEGIN;
SELECT * FROM po_check('2');
ROLLBACK;
SELECT * FROM po_check('3');

-- a key declared on the partitioned table (not a link): the same
SELECT privacy.drop_subject('po');
CREATE TABLE po_s (id int PRIMARY KEY);
CREATE TABLE po_k (id int, s_id int REFERENCES po_s, t_id int, v text) PARTITION BY LIST (id);
CREATE TABLE po_k_1 PARTITION OF po_k FOR VALUES IN (1, 2, 3);
CREATE TABLE po_k_2 PARTITION OF po_k FOR VALUES IN (4, 5);
ALTER TABLE po_k_1 ADD FOREIGN KEY (t_id) REFERENCES po_s;
ALTER TABLE po_k_2 ADD FOREIGN KEY (t_id) REFERENCES po_x;
INSERT INTO po_s VALUES (1), (2);
INSERT INTO po_k VALUES (1, 1, 2, 'a'), (2, 2, 1, 'b'), (3, 1, 1, 'c'), (4, 1, NULL, 'd');
SELECT privacy.define_subject('pk', 'po_s');
SELECT k, jsonb_path_query_array(v, '$[*].id') AS ids
  FROM jsonb_each(privacy.access('pk', '1') -> 'data') AS x(k, v) ORDER BY k;
SELECT k, (v ->> 'deleted')::int AS deleted
  FROM jsonb_each(privacy.erase('pk', '1', dry_run => true) -> 'tables') AS x(k, v) ORDER BY k;

-- breach_report counts each subject once
SELECT privacy.breach_report(ARRAY['po_k_1'::regclass]) -> 'subjects' AS k1,
	privacy.breach_report(ARRAY['po_k'::regclass, 'po_k_1']) -> 'subjects' AS both;

SELECT privacy.drop_subject('pk');

-- anonymize mode (the partitioned table's): the partition mapped by itself
-- takes its table's mode and classification (they cannot be set on a
-- partition), so its rows are rewritten, not deleted; each row once, under
-- the partition, whichever condition finds it (row 1 only by the
-- partitioned table's key, row 2 only by the partition's own)
CREATE TABLE po_ms (id int PRIMARY KEY);
CREATE TABLE po_m (id int, s_id int REFERENCES po_ms ON DELETE SET NULL, t_id int, v text) PARTITION BY LIST (id);
CREATE TABLE po_m_1 PARTITION OF po_m FOR VALUES IN (1, 2, 3);
CREATE TABLE po_m_2 PARTITION OF po_m FOR VALUES IN (4, 5);
ALTER TABLE po_m_1 ADD FOREIGN KEY (t_id) REFERENCES po_ms ON DELETE SET NULL;
ALTER TABLE po_m_2 ADD FOREIGN KEY (t_id) REFERENCES po_x;
INSERT INTO po_ms VALUES (1), (2);
INSERT INTO po_m VALUES (1, 1, 2, 'a'), (2, 2, 1, 'b'), (3, 1, 1, 'c'), (4, 1, NULL, 'd'), (5, 2, NULL, 'e');
SELECT privacy.define_subject('pm', 'po_ms');
SELECT privacy.classify('po_m', 'v', 'user.content.private', 'redact');
SELECT privacy.set_erasure_mode('po_m', 'anonymize');
SELECT k, (v ->> 'anonymized')::int AS anonymized, (v ->> 'deleted')::int AS deleted
  FROM jsonb_each(privacy.erase('pm', '1', dry_run => true) -> 'tables') AS x(k, v) ORDER BY k;
SELECT k, (v ->> 'anonymized')::int AS anonymized, (v ->> 'deleted')::int AS deleted
  FROM jsonb_each(privacy.erase('pm', '1') -> 'tables') AS x(k, v) ORDER BY k;
SELECT id, s_id, t_id, v FROM po_m ORDER BY id;
SELECT privacy.drop_subject('pm');
DROP TABLE po_m, po_ms;

-- the same when the partitioned table is not in the map: its leaves
-- reference different tables (visits of people, visits of robots), so only
-- the people's leaf is mapped, by itself; it takes its table's anonymize
-- mode and classification all the same (its rows were deleted, and with the
-- mode alone its classified column would have stayed as it was); with a NO
-- ACTION key the hint names the table whose mode can be set
CREATE TABLE po_people (id int PRIMARY KEY);
CREATE TABLE po_robots (id int PRIMARY KEY);
CREATE TABLE po_visits (id int, part int, who int, email text, PRIMARY KEY (id, part)) PARTITION BY LIST (part);
CREATE TABLE po_visits_p PARTITION OF po_visits FOR VALUES IN (1);
CREATE TABLE po_visits_r PARTITION OF po_visits FOR VALUES IN (2);
ALTER TABLE po_visits_p ADD FOREIGN KEY (who) REFERENCES po_people ON DELETE SET NULL;
ALTER TABLE po_visits_r ADD FOREIGN KEY (who) REFERENCES po_robots;
INSERT INTO po_people VALUES (1), (2);
INSERT INTO po_robots VALUES (1);
INSERT INTO po_visits VALUES (1, 1, 1, 'a@example.org'), (2, 1, 2, 'b@example.org'), (3, 2, 1, 'r@example.org');
SELECT privacy.define_subject('pv', 'po_people');
SELECT privacy.classify('po_visits', 'email', 'user.contact.email', 'null');
SELECT privacy.set_erasure_mode('po_visits', 'anonymize');
SELECT table_name, via FROM privacy.subject_tables WHERE subject = 'pv' ORDER BY 1::text;
SELECT privacy.erase('pv', '1', dry_run => true) -> 'tables' -> 'public.po_visits_p' AS dry_run;
SELECT privacy.erase('pv', '1') -> 'tables' -> 'public.po_visits_p' AS erased;
SELECT id, part, who, email FROM po_visits ORDER BY id;
ALTER TABLE po_visits_p DROP CONSTRAINT po_visits_p_who_fkey;
ALTER TABLE po_visits_p ADD FOREIGN KEY (who) REFERENCES po_people;
\set VERBOSITY default
SELECT privacy.erase('pv', '2', dry_run => true);
\set VERBOSITY terse
SELECT privacy.drop_subject('pv');
DROP TABLE po_visits, po_people, po_robots;
DROP FUNCTION po_check(text);
DROP TABLE po_rcpt, po_note, po_pay, po_acct, po_r, po_k, po_s, po_x;
DROP EXTENSION privacy;
