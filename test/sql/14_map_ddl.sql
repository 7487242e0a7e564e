-- The DDL event trigger (src/map_ddl.c) and the map's row-by-row refresh
-- (issue #17 item 3): a refresh that changes nothing writes nothing (the
-- stored paths are compared as text, so this also checks that they are
-- written exactly as jsonb prints them); a new mapped table writes its row
-- and nothing else; foreign keys declared on partitions, attached partitions
-- with another column order, temporary tables; classified columns of an
-- inheritance child follow a rename or a drop on its parent.
CREATE EXTENSION privacy;
CREATE SCHEMA d;
CREATE TABLE d.users (id bigint PRIMARY KEY);
CREATE TABLE d.orders (id int PRIMARY KEY, user_id bigint REFERENCES d.users, agent bigint REFERENCES d.users);
CREATE TABLE d.items (id int PRIMARY KEY, order_id int REFERENCES d.orders);
CREATE TABLE d.ev (id int, user_id bigint REFERENCES d.users, at date) PARTITION BY RANGE (at);
CREATE TABLE d.ev_2026 PARTITION OF d.ev FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE d.pairs (a int, b int, user_id bigint REFERENCES d.users, PRIMARY KEY (a, b));
CREATE TABLE d.pair_notes (id int PRIMARY KEY, a int, b int, FOREIGN KEY (b, a) REFERENCES d.pairs (b, a));
SELECT privacy.define_subject('user', 'd.users');
SELECT table_name, via, depth, path FROM privacy.subject_tables WHERE subject = 'user' ORDER BY 1::text;
-- every edge, as stored (table oids shown as names)
SELECT m.table_name, e->'c' AS c, (e->>'t')::oid::regclass AS t, (e->>'p')::oid::regclass AS p, e->'pc' AS pc, e->'link' AS link
  FROM privacy.map m, jsonb_array_elements(m.paths) p, jsonb_array_elements(p) e
 WHERE m.subject = 'user' ORDER BY 1::text, 2::text;

-- what a step wrote: rows new, rewritten, gone since the snapshot
CREATE TABLE snap (t oid, x text);
CREATE FUNCTION pg_temp.take() RETURNS void LANGUAGE sql AS $$
	DELETE FROM snap; INSERT INTO snap SELECT table_name::oid, xmin::text FROM privacy.map $$;
CREATE FUNCTION pg_temp.written(OUT new bigint, OUT rewritten bigint, OUT gone bigint) LANGUAGE sql AS $$
	SELECT (SELECT count(*) FROM privacy.map m WHERE NOT EXISTS (SELECT FROM snap s WHERE s.t = m.table_name::oid)),
	       (SELECT count(*) FROM privacy.map m JOIN snap s ON s.t = m.table_name::oid WHERE m.xmin::text <> s.x),
	       (SELECT count(*) FROM snap s WHERE NOT EXISTS (SELECT FROM privacy.map m WHERE s.t = m.table_name::oid)) $$;

SELECT pg_temp.take();
SELECT privacy.refresh_subject('user');
SELECT * FROM pg_temp.written();
-- an unrelated table, created and altered: nothing written
CREATE TABLE d.other (id int PRIMARY KEY);
ALTER TABLE d.other ADD COLUMN note text;
SELECT * FROM pg_temp.written();
-- temporary tables with foreign keys between them never join a map
CREATE TEMP TABLE t1 (id int PRIMARY KEY);
CREATE TEMP TABLE t2 (id int PRIMARY KEY, t1 int REFERENCES t1);
SELECT * FROM pg_temp.written();
-- a new mapped table: its row only
CREATE TABLE d.notes (id int PRIMARY KEY, item_id int REFERENCES d.items);
SELECT * FROM pg_temp.written();
SELECT path FROM privacy.subject_tables WHERE table_name = 'd.notes'::regclass;
-- a new partition of a mapped table: nothing (partitions collapse)
SELECT pg_temp.take();
CREATE TABLE d.ev_2027 PARTITION OF d.ev FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
SELECT * FROM pg_temp.written();
-- a renamed column: the rows whose path names it (orders, items, notes)
ALTER TABLE d.orders RENAME COLUMN agent TO handled_by;
SELECT * FROM pg_temp.written();
SELECT table_name, path FROM privacy.subject_tables WHERE table_name IN ('d.orders'::regclass, 'd.items'::regclass, 'd.notes'::regclass) ORDER BY 1::text;

-- a foreign key declared on a partition only: its partitioned table joins
CREATE TABLE d.logs (id int, user_id bigint, at date) PARTITION BY RANGE (at);
CREATE TABLE d.logs_2026 PARTITION OF d.logs FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT pg_temp.take();
ALTER TABLE d.logs_2026 ADD FOREIGN KEY (user_id) REFERENCES d.users;
SELECT * FROM pg_temp.written();
SELECT table_name, path FROM privacy.subject_tables WHERE table_name::text LIKE 'd.logs%' ORDER BY 1::text;
-- a table with its own foreign key and another column order, attached as a
-- partition: it leaves the map, its columns translated to the parent's
CREATE TABLE d.logs_2027 (at date, junk int, user_id bigint, id int);
ALTER TABLE d.logs_2027 DROP COLUMN junk;
ALTER TABLE d.logs_2027 ADD FOREIGN KEY (user_id) REFERENCES d.users;
SELECT table_name, path FROM privacy.subject_tables WHERE table_name::text LIKE 'd.logs%' ORDER BY 1::text;
SELECT pg_temp.take();
ALTER TABLE d.logs ATTACH PARTITION d.logs_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
SELECT * FROM pg_temp.written();
SELECT table_name, path FROM privacy.subject_tables WHERE table_name::text LIKE 'd.logs%' ORDER BY 1::text;
INSERT INTO d.users VALUES (1), (2);
INSERT INTO d.logs VALUES (1, 1, '2026-05-01'), (2, 1, '2027-05-01'), (3, 2, '2027-06-01');
SELECT jsonb_array_length(privacy.access('user', '1')->'data'->'d.logs') AS logs_of_user_1;

-- a table created by CREATE SCHEMA joins the map; a renamed schema renames
-- the path texts that show it, and nothing else
SELECT pg_temp.take();
CREATE SCHEMA e CREATE TABLE visits (id int PRIMARY KEY, user_id bigint REFERENCES d.users)
                CREATE TABLE visit_notes (id int PRIMARY KEY, visit_id int REFERENCES visits);
SELECT * FROM pg_temp.written();
SELECT table_name, path FROM privacy.subject_tables WHERE table_name::text LIKE 'e.%' ORDER BY 1::text;
SELECT pg_temp.take();
ALTER SCHEMA e RENAME TO e2;
SELECT * FROM pg_temp.written();
SELECT table_name, path FROM privacy.subject_tables WHERE table_name::text LIKE 'e2.%' ORDER BY 1::text;
DROP SCHEMA e2 CASCADE;

-- classified columns of an inheritance child follow its parent's DDL
CREATE TABLE d.base (id int PRIMARY KEY, user_id bigint REFERENCES d.users, phone text);
CREATE TABLE d.child (extra text) INHERITS (d.base);
SELECT privacy.classify('d.child', 'phone', 'user.contact.phone_number');
ALTER TABLE d.base RENAME COLUMN phone TO mobile;
SELECT table_name, column_name FROM privacy.classified_columns WHERE table_name = 'd.child'::regclass;
ALTER TABLE d.base DROP COLUMN mobile;
SELECT count(*) AS child_classified FROM privacy.classified_columns WHERE table_name = 'd.child'::regclass;

-- a role that owns only its schema's tables: its DDL fires the trigger,
-- which evaluates none of its code (defaults, CHECKs) as
-- the extension owner; it cannot call the trigger function
CREATE ROLE regress_ddl_owner;
CREATE SCHEMA h AUTHORIZATION regress_ddl_owner;
GRANT USAGE ON SCHEMA d TO regress_ddl_owner;
GRANT REFERENCES ON d.users TO regress_ddl_owner;
SET ROLE regress_ddl_owner;
CREATE TABLE h.seen (who name, superuser boolean, restricted boolean);
GRANT INSERT ON h.seen TO PUBLIC;
CREATE FUNCTION h.spy(v int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		PERFORM set_config('role', current_user, true);	-- refused in a security-restricted operation
		INSERT INTO h.seen VALUES (current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false);
	EXCEPTION WHEN insufficient_privilege THEN
		INSERT INTO h.seen VALUES (current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), true);
	END;
	RETURN v;
END $$;
CREATE TABLE h.t (id int PRIMARY KEY, user_id bigint REFERENCES d.users,
                  x int DEFAULT h.spy(1) CHECK (h.spy(x) > 0));
INSERT INTO h.t (id) VALUES (1);
ALTER TABLE h.t ADD COLUMN y int DEFAULT h.spy(2);
ALTER TABLE h.t RENAME COLUMN x TO x2;
CREATE TABLE h.t2 (id int PRIMARY KEY, t_id int REFERENCES h.t, z int DEFAULT h.spy(3));
DO $$ BEGIN PERFORM privacy._on_ddl();
EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'privacy._on_ddl(): %', SQLSTATE; END $$;
RESET ROLE;
SELECT table_name, path FROM privacy.subject_tables WHERE table_name::text LIKE 'h.%' ORDER BY 1::text;
SELECT who, superuser, restricted, count(*) > 0 AS ran FROM h.seen GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
DROP SCHEMA h CASCADE;
REVOKE ALL ON d.users FROM regress_ddl_owner;
REVOKE ALL ON SCHEMA d FROM regress_ddl_owner;
DROP ROLE regress_ddl_owner;

-- drop_subject() takes the lock triggers of its type's links along
CREATE TABLE d.audit_log (id int, who bigint);
SELECT privacy.link('user', 'd.audit_log', 'who');
SELECT count(*) AS link_triggers FROM pg_trigger WHERE tgfoid = 'privacy._link_lock()'::regprocedure;
SELECT privacy.drop_subject('user');
SELECT count(*) AS link_triggers FROM pg_trigger WHERE tgfoid = 'privacy._link_lock()'::regprocedure;

-- the trigger function is not callable directly
SELECT privacy._on_ddl();

DROP SCHEMA d CASCADE;
DROP TABLE snap;
DROP EXTENSION privacy;
