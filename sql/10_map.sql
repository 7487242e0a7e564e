---------------------------------------------------------------------------
-- Subjects and the data map (src/map_*.c)
---------------------------------------------------------------------------

-- Configuration functions run as the extension owner (they read and write
-- the catalog, which PUBLIC cannot); search_path is pinned.  EXECUTE is
-- revoked from PUBLIC below: only privacy_admin configures.
CREATE FUNCTION privacy.define_subject(name text, root regclass, key name DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'privacy_define_subject'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION privacy.link(subject text, tbl regclass, key_column name)
RETURNS void AS 'MODULE_PATHNAME', 'privacy_link'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- a polymorphic link (Rails' commentable_type/commentable_id, Django's
-- content_type/object_id): the rows whose type_column holds type_value
CREATE FUNCTION privacy.link(subject text, tbl regclass, key_column name, type_column name, type_value text)
RETURNS void AS 'MODULE_PATHNAME', 'privacy_link'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- a link to another table of the map (Django's generic relations to the
-- user's articles, Rails' comments on the user's posts): key_column holds
-- the key of a row of target, whose subject's rows the linked rows are
-- (as with a foreign key to target, NO ACTION); target NULL: the root
CREATE FUNCTION privacy.link(subject text, tbl regclass, key_column name, target regclass)
RETURNS void AS 'MODULE_PATHNAME', 'privacy_link'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION privacy.link(subject text, tbl regclass, key_column name, type_column name, type_value text,
	target regclass)
RETURNS void AS 'MODULE_PATHNAME', 'privacy_link'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION privacy.refresh_subject(name text)
RETURNS void AS 'MODULE_PATHNAME', 'privacy_refresh_subject'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION privacy._refresh_all()
RETURNS void AS 'MODULE_PATHNAME', 'privacy_refresh_all'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION privacy._invalidate()
RETURNS void AS 'MODULE_PATHNAME', 'privacy_invalidate'
LANGUAGE C VOLATILE;

CREATE FUNCTION privacy.data_map(subject text)
RETURNS text AS 'MODULE_PATHNAME', 'privacy_data_map'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- unlink(): the lock trigger of link() on tbl for subject (found by its
-- function and first argument, whatever its possibly truncated name)
CREATE FUNCTION privacy._drop_link_trigger(subject text, tbl regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	trg name;
BEGIN
	FOR trg IN SELECT t.tgname FROM pg_catalog.pg_trigger t
				WHERE t.tgrelid OPERATOR(pg_catalog.=) tbl
				  AND t.tgfoid OPERATOR(pg_catalog.=) 'privacy._link_lock()'::pg_catalog.regprocedure
				  AND pg_catalog.split_part(pg_catalog.encode(t.tgargs, 'escape'), '\000', 1)
					  OPERATOR(pg_catalog.=) subject LOOP
		EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', trg, tbl);
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION privacy._drop_link_trigger(text, regclass) FROM PUBLIC;

CREATE FUNCTION privacy.unlink(subject text, tbl regclass, key_column name)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF unlink.subject IS NULL OR unlink.tbl IS NULL OR unlink.key_column IS NULL THEN
		RAISE EXCEPTION 'arguments "subject", "tbl" and "key_column" must not be null' USING ERRCODE = '22023';
	END IF;
	IF NOT EXISTS (SELECT FROM privacy.subject_types s WHERE s.name = unlink.subject) THEN
		RAISE EXCEPTION 'subject type "%" does not exist', unlink.subject USING ERRCODE = '42704';
	END IF;
	DELETE FROM privacy.links l
	 WHERE l.subject = unlink.subject AND l.table_name = unlink.tbl AND l.key_column = unlink.key_column;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % is not linked to subject type "%" by column "%"', tbl, subject, key_column
			USING ERRCODE = '42704';
	END IF;
	-- the lock trigger that link() installed goes with the table's last link
	IF NOT EXISTS (SELECT FROM privacy.links l WHERE l.subject = unlink.subject AND l.table_name = unlink.tbl) THEN
		PERFORM privacy._drop_link_trigger(unlink.subject, unlink.tbl);
	END IF;
	PERFORM privacy.refresh_subject(unlink.subject);
END
$$;

-- unlink(subject, tbl, key_column, target): one link of a column linked to
-- several tables (target NULL: its link to the root); the column's lock
-- trigger is rebuilt for the links it keeps
CREATE FUNCTION privacy.unlink(subject text, tbl regclass, key_column name, target regclass)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF unlink.subject IS NULL OR unlink.tbl IS NULL OR unlink.key_column IS NULL THEN
		RAISE EXCEPTION 'arguments "subject", "tbl" and "key_column" must not be null' USING ERRCODE = '22023';
	END IF;
	IF NOT EXISTS (SELECT FROM privacy.subject_types s WHERE s.name = unlink.subject) THEN
		RAISE EXCEPTION 'subject type "%" does not exist', unlink.subject USING ERRCODE = '42704';
	END IF;
	DELETE FROM privacy.links l
	 WHERE l.subject = unlink.subject AND l.table_name = unlink.tbl AND l.key_column = unlink.key_column
	   AND l.target IS NOT DISTINCT FROM unlink.target;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % is not linked to subject type "%" by column "%" to %', tbl, subject, key_column,
			coalesce(target::text, 'the root') USING ERRCODE = '42704';
	END IF;
	IF NOT EXISTS (SELECT FROM privacy.links l WHERE l.subject = unlink.subject AND l.table_name = unlink.tbl) THEN
		PERFORM privacy._drop_link_trigger(unlink.subject, unlink.tbl);
	ELSIF EXISTS (SELECT FROM privacy.links l WHERE l.subject = unlink.subject AND l.table_name = unlink.tbl
	               AND l.key_column = unlink.key_column) THEN
		-- the column's trigger, for the links it keeps
		PERFORM privacy.link(unlink.subject, unlink.tbl, unlink.key_column);
	END IF;
	PERFORM privacy.refresh_subject(unlink.subject);
END
$$;

CREATE FUNCTION privacy.drop_subject(name text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF drop_subject.name IS NULL THEN
		RAISE EXCEPTION 'argument "name" must not be null' USING ERRCODE = '22023';
	END IF;
	-- values encrypted under its subjects' keys would stay encrypted under
	-- keys of no type
	IF EXISTS (SELECT FROM privacy.encrypted_columns e WHERE e.subject OPERATOR(pg_catalog.=) drop_subject.name) THEN
		RAISE EXCEPTION 'columns are encrypted with the keys of subject type "%"', drop_subject.name
			USING ERRCODE = '55000', HINT = 'Decrypt them with privacy.decrypt_column() first.';
	END IF;
	-- active legal holds and restrictions are legal records: they would go
	-- with the type (ON DELETE CASCADE) and a type defined again under the
	-- same name would erase a held subject
	IF EXISTS (SELECT FROM privacy.holds h WHERE h.subject OPERATOR(pg_catalog.=) drop_subject.name
	            AND h.released_at IS NULL AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now()))
	   OR EXISTS (SELECT FROM privacy.restrictions r WHERE r.subject OPERATOR(pg_catalog.=) drop_subject.name) THEN
		RAISE EXCEPTION 'subjects of type "%" are under a legal hold or restricted', drop_subject.name
			USING ERRCODE = '55000',
			HINT = 'Release the holds (privacy.release_hold) and lift the restrictions (privacy.unrestrict) first.';
	END IF;
	-- the lock triggers of its links go with the type
	PERFORM privacy._drop_link_trigger(l.subject, l.table_name)
	   FROM (SELECT DISTINCT k.subject, k.table_name FROM privacy.links k
	          WHERE k.subject OPERATOR(pg_catalog.=) drop_subject.name) l;
	DELETE FROM privacy.subject_types s WHERE s.name = drop_subject.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'subject type "%" does not exist', drop_subject.name USING ERRCODE = '42704';
	END IF;
	-- its restrictions went with it (ON DELETE CASCADE), on the shards too
	DELETE FROM privacy.citus_restrictions c WHERE c.subject OPERATOR(pg_catalog.=) drop_subject.name;
	DELETE FROM privacy.citus_protected c WHERE c.subject OPERATOR(pg_catalog.=) drop_subject.name;
	-- retention policies no longer expect the type's map (retention.subjects)
	UPDATE privacy.retention r SET subjects = pg_catalog.array_remove(r.subjects, drop_subject.name)
	 WHERE drop_subject.name OPERATOR(pg_catalog.=) ANY (r.subjects);
	PERFORM privacy._audit('drop_subject', NULL, pg_catalog.jsonb_build_object('subject', drop_subject.name));
	PERFORM privacy._invalidate();
END
$$;

CREATE VIEW privacy.subject_tables AS
SELECT m.subject, m.table_name, m.via, m.depth, m.path,
       privacy._routing(m.subject, m.table_name) AS routing
  FROM privacy.map m
 ORDER BY m.subject, m.depth, m.via <> 'root', m.table_name::text;

CREATE VIEW privacy.subjects AS
SELECT s.name, s.root, s.key_column,
       (SELECT pg_catalog.count(*) FROM privacy.map m WHERE m.subject = s.name) AS tables,
       s.created_at
  FROM privacy.subject_types s;

REVOKE ALL ON FUNCTION privacy.define_subject(text, regclass, name), privacy.link(text, regclass, name),
	privacy.link(text, regclass, name, name, text), privacy.link(text, regclass, name, regclass),
	privacy.link(text, regclass, name, name, text, regclass), privacy.unlink(text, regclass, name, regclass), privacy.unlink(text, regclass, name), privacy.refresh_subject(text), privacy._refresh_all(),
	privacy._invalidate(), privacy.data_map(text), privacy.drop_subject(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.define_subject(text, regclass, name), privacy.link(text, regclass, name),
	privacy.link(text, regclass, name, name, text), privacy.link(text, regclass, name, regclass),
	privacy.link(text, regclass, name, name, text, regclass), privacy.unlink(text, regclass, name, regclass), privacy.unlink(text, regclass, name), privacy.refresh_subject(text), privacy.data_map(text),
	privacy.drop_subject(text) TO privacy_admin;
GRANT EXECUTE ON FUNCTION privacy.data_map(text) TO privacy_officer;
GRANT SELECT ON privacy.subject_tables, privacy.subjects TO privacy_admin, privacy_officer;

-- Keep the map current.  After DDL: renamed classified columns follow their
-- attnum, and the maps the changed tables can affect are recomputed: a
-- subject whose map holds a changed table, or that a changed table now
-- references.  Map refreshes are serialized per subject type (an advisory
-- lock, the one MapRefresh takes) and the lock is taken before the check,
-- so two migrations that each add a table are both mapped; a failing
-- refresh fails the DDL (never a silent gap in the map).
-- Classifications follow their columns: by name first (a restored dump may
-- have other attribute numbers), then by attribute number (a rename), and go
-- when neither exists (a dropped column).
CREATE FUNCTION privacy._reconcile_columns() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	UPDATE privacy.classifications c SET attnum = a.attnum
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = c.table_name AND a.attname = c.column_name AND NOT a.attisdropped
	   AND a.attnum <> c.attnum;
	UPDATE privacy.classifications c SET column_name = a.attname
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = c.table_name AND a.attnum = c.attnum AND NOT a.attisdropped
	   AND a.attname <> c.column_name
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute b WHERE b.attrelid = c.table_name
	                      AND b.attname = c.column_name AND NOT b.attisdropped);
	DELETE FROM privacy.classifications c
	 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.table_name
	                      AND a.attname = c.column_name AND NOT a.attisdropped);
	-- a subject type's key column follows a rename of it the same way
	UPDATE privacy.subject_types s SET key_attnum = a.attnum
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = s.root AND a.attname = s.key_column AND NOT a.attisdropped
	   AND a.attnum > 0 AND a.attnum IS DISTINCT FROM s.key_attnum;
	UPDATE privacy.subject_types s SET key_column = a.attname
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = s.root AND a.attnum = s.key_attnum AND NOT a.attisdropped
	   AND a.attname <> s.key_column
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute b WHERE b.attrelid = s.root
	                      AND b.attname = s.key_column AND NOT b.attisdropped);
	-- retention policies follow their age column and the columns they
	-- anonymize the same way (a rename swap, one statement at a time, ends
	-- with each policy on its own columns, under their new names)
	UPDATE privacy.retention r SET age_attnum = a.attnum
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = r.table_name AND a.attname = r.age_column AND NOT a.attisdropped
	   AND a.attnum > 0 AND a.attnum IS DISTINCT FROM r.age_attnum;
	UPDATE privacy.retention r SET age_column = a.attname
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = r.table_name AND a.attnum = r.age_attnum AND NOT a.attisdropped
	   AND a.attname <> r.age_column
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute b WHERE b.attrelid = r.table_name
	                      AND b.attname = r.age_column AND NOT b.attisdropped);
	-- a dropped age column: the policy keeps PostgreSQL's name of the
	-- dropped attribute, so a column added later under the old name is not
	-- taken for it (the policy reports its column gone)
	UPDATE privacy.retention r SET age_column = a.attname
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = r.table_name AND a.attnum = r.age_attnum AND a.attisdropped
	   AND a.attname <> r.age_column;
	UPDATE privacy.retention r
	   SET (columns, column_attnums) =
	       (SELECT pg_catalog.array_agg(coalesce(an.attname, aa.attname, c.name) ORDER BY c.o),
	               pg_catalog.array_agg(coalesce(an.attnum, aa.attnum, c.num) ORDER BY c.o)
	          FROM ROWS FROM (pg_catalog.unnest(r.columns), pg_catalog.unnest(r.column_attnums)) WITH ORDINALITY c(name, num, o)
	          LEFT JOIN pg_catalog.pg_attribute an ON an.attrelid = r.table_name AND an.attname = c.name
	                AND NOT an.attisdropped AND an.attnum > 0
	          LEFT JOIN pg_catalog.pg_attribute aa ON aa.attrelid = r.table_name AND aa.attnum = c.num
	                AND an.attnum IS NULL)
	 WHERE r.columns IS NOT NULL AND r.column_attnums IS NOT NULL;
END
$$;
REVOKE ALL ON FUNCTION privacy._reconcile_columns() FROM PUBLIC;

-- A restored dump copies privacy.subject_types into tables whose attribute
-- numbers may differ (a dropped column in the source): the key's attribute
-- number is taken again from its name on every INSERT, so that a later
-- rename of the key column is followed from the right column
-- (_reconcile_columns follows the number when the name is gone).
CREATE FUNCTION privacy._subject_key_attnum() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	NEW.key_attnum := (SELECT a.attnum FROM pg_catalog.pg_attribute a
	                    WHERE a.attrelid OPERATOR(pg_catalog.=) NEW.root AND a.attname OPERATOR(pg_catalog.=) NEW.key_column
	                      AND NOT a.attisdropped AND a.attnum OPERATOR(pg_catalog.>) 0);
	RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION privacy._subject_key_attnum() FROM PUBLIC;
CREATE TRIGGER subject_key_attnum BEFORE INSERT ON privacy.subject_types
	FOR EACH ROW EXECUTE FUNCTION privacy._subject_key_attnum();

-- The serialization point of map refreshes (the same key as MapRefresh).
CREATE FUNCTION privacy._lock_maps() RETURNS void
AS 'MODULE_PATHNAME', 'privacy_lock_maps'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION privacy._lock_maps() FROM PUBLIC;

-- The maps and classified columns after CREATE/ALTER TABLE (src/map_ddl.c):
-- the maps the touched tables can affect are recomputed in the DDL's
-- transaction; nothing on a Citus worker or during a Citus conversion.
CREATE FUNCTION privacy._on_ddl() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'privacy_on_ddl'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
-- an event trigger only (event triggers fire without EXECUTE)
REVOKE ALL ON FUNCTION privacy._on_ddl() FROM PUBLIC;

-- Forget the configuration of dropped tables (by OID): their catalog rows
-- go, the maps that held them are recomputed.  A dropped root keeps its
-- subject type (and so its holds, restrictions and consents: legal records
-- outlive DDL); rights calls fail with 42P01 until define_subject() names a
-- root again, which re-attaches them.  The event is audited.  Called by
-- _on_drop() and, for Citus conversions, at commit (06_citus.sql).
CREATE FUNCTION privacy._forget_tables(dropped oid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s record;
BEGIN
	DELETE FROM privacy.classifications WHERE table_name::oid = ANY (dropped);
	DELETE FROM privacy.table_modes WHERE table_name::oid = ANY (dropped);
	DELETE FROM privacy.links WHERE table_name::oid = ANY (dropped);
	-- a link to a dropped table of the map goes with it, and its lock
	-- trigger with the linked table's last link
	FOR s IN DELETE FROM privacy.links WHERE target::oid = ANY (dropped) RETURNING subject, table_name LOOP
		IF NOT EXISTS (SELECT FROM privacy.links l WHERE l.subject = s.subject AND l.table_name = s.table_name) THEN
			PERFORM privacy._drop_link_trigger(s.subject, s.table_name);
		END IF;
		-- (the column's other links keep their trigger, which passes over a
		-- target that no longer exists; the next link() of the column rebuilds it)
	END LOOP;
	-- a dropped partition is no longer known as one: a map holding a
	-- partitioned table or a partition (whose keys decide it) is recomputed too
	IF NOT EXISTS (SELECT FROM privacy.map m LEFT JOIN pg_catalog.pg_class k ON k.oid = m.table_name::oid
	                WHERE m.table_name::oid = ANY (dropped) OR k.relkind = 'p' OR k.relispartition) THEN
		PERFORM privacy._invalidate();
		RETURN;
	END IF;
	PERFORM privacy._lock_maps();
	FOR s IN SELECT st.name, st.root::oid = ANY (dropped) AS root_dropped
	           FROM privacy.subject_types st
	          WHERE EXISTS (SELECT FROM privacy.map m WHERE m.subject = st.name AND m.table_name::oid = ANY (dropped))
	             OR EXISTS (SELECT FROM privacy.map m JOIN pg_catalog.pg_class k ON k.oid = m.table_name::oid
	                         WHERE m.subject = st.name AND (k.relkind = 'p' OR k.relispartition))
	          ORDER BY st.name COLLATE "C" LOOP
		IF s.root_dropped THEN
			DELETE FROM privacy.map WHERE subject = s.name;
			PERFORM privacy._audit('drop_root', NULL, pg_catalog.jsonb_build_object(
				'subject', s.name,
				'holds', (SELECT pg_catalog.count(*) FROM privacy.holds h WHERE h.subject = s.name AND h.released_at IS NULL),
				'restrictions', (SELECT pg_catalog.count(*) FROM privacy.restrictions r WHERE r.subject = s.name)));
		ELSE
			PERFORM privacy.refresh_subject(s.name);
		END IF;
	END LOOP;
	PERFORM privacy._invalidate();
END
$$;
REVOKE ALL ON FUNCTION privacy._forget_tables(oid[]) FROM PUBLIC;

CREATE FUNCTION privacy._on_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	dropped oid[];
	s record;
BEGIN
	SELECT pg_catalog.array_agg(o.objid) INTO dropped
	  FROM pg_catalog.pg_event_trigger_dropped_objects() o
	 WHERE o.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND o.objsubid = 0
	   AND o.object_type IN ('table', 'partitioned table')
	   AND NOT o.is_temporary;	-- never mapped: no refresh for a temporary table
	IF dropped IS NULL OR pg_catalog.to_regclass('privacy.map') IS NULL THEN
		RETURN;
	END IF;
	IF privacy._citus_worker() THEN	-- shards are configured on the coordinator
		RETURN;
	END IF;
	-- Citus conversions drop and recreate tables: decided at commit (06_citus.sql)
	IF privacy._citus_defer_drop() THEN
		RETURN;
	END IF;
	-- a table created again under its name in this transaction gets its
	-- configuration back at commit (below)
	IF EXISTS (SELECT FROM privacy.classifications c WHERE c.table_name::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM privacy.links l WHERE l.table_name::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM privacy.links l WHERE l.target::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM privacy.table_modes m WHERE m.table_name::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM privacy.subject_types st WHERE st.root::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM privacy.retention r WHERE r.table_name::oid OPERATOR(pg_catalog.=) ANY (dropped))
	   OR EXISTS (SELECT FROM pg_catalog.pg_event_trigger_dropped_objects() p
	               WHERE p.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass
	                 AND p.address_names[3] OPERATOR(pg_catalog.=) 'privacy_restricted') THEN
		WITH o AS MATERIALIZED (SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()),
		     pol AS MATERIALIZED (SELECT p.address_names[1] AS nsp, p.address_names[2] AS rel FROM o p
		              WHERE p.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass
		                AND p.address_names[3] OPERATOR(pg_catalog.=) 'privacy_restricted')
		INSERT INTO privacy.dropped_config (relid, nspname, relname, config)
		SELECT o.objid, o.schema_name, o.object_name, c.config
		  FROM o LEFT JOIN pol ON pol.nsp OPERATOR(pg_catalog.=) o.schema_name AND pol.rel OPERATOR(pg_catalog.=) o.object_name,
		       LATERAL (SELECT pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
		           'roots', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('subject', st.name, 'key', st.key_column))
		                       FROM privacy.subject_types st WHERE st.root::oid OPERATOR(pg_catalog.=) o.objid),
		           'mode', (SELECT m.mode FROM privacy.table_modes m WHERE m.table_name::oid OPERATOR(pg_catalog.=) o.objid),
		           'classifications', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
		                                   'col', c.column_name, 'category', c.category, 'erasure', c.erasure,
		                                   'portable', c.portable, 'purposes', c.purposes, 'legal_basis', c.legal_basis)
		                                   ORDER BY c.attnum)
		                                 FROM privacy.classifications c WHERE c.table_name::oid OPERATOR(pg_catalog.=) o.objid),
		           'links', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
		                         'subject', l.subject, 'col', l.key_column, 'tcol', l.type_column, 'tval', l.type_value,
		                         'target', l.target::pg_catalog.text)
		                         ORDER BY l.subject, l.key_column)
		                       FROM privacy.links l WHERE l.table_name::oid OPERATOR(pg_catalog.=) o.objid),
		           -- the links of other tables to it (link(..., target))
		           'targeting', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
		                         'subject', l.subject, 'tbl', l.table_name::oid, 'col', l.key_column,
		                         'tcol', l.type_column, 'tval', l.type_value)
		                         ORDER BY l.subject, l.table_name::oid, l.key_column)
		                       FROM privacy.links l WHERE l.target::oid OPERATOR(pg_catalog.=) o.objid
		                         AND NOT l.table_name::oid OPERATOR(pg_catalog.=) ANY (dropped)),
		           'policies', (SELECT pg_catalog.jsonb_agg(r.id ORDER BY r.id) FROM privacy.retention r
		                         WHERE r.table_name::oid OPERATOR(pg_catalog.=) o.objid),
		           'protected', CASE WHEN pol.rel IS NOT NULL THEN true END)) AS config) c
		 WHERE o.objid OPERATOR(pg_catalog.=) ANY (dropped)
		   AND o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
		   AND o.objsubid OPERATOR(pg_catalog.=) 0
		   AND c.config OPERATOR(pg_catalog.<>) '{}'::pg_catalog.jsonb;
	END IF;
	PERFORM privacy._forget_tables(dropped);
END
$$;

-- column drops and renames are ALTER TABLE; partitions come with CREATE TABLE;
-- CREATE SCHEMA can create tables, ALTER SCHEMA renames what path texts show
CREATE EVENT TRIGGER privacy_ddl ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'CREATE SCHEMA', 'ALTER SCHEMA')
	EXECUTE FUNCTION privacy._on_ddl();
CREATE EVENT TRIGGER privacy_drop ON sql_drop
	EXECUTE FUNCTION privacy._on_drop();

-- A table dropped and created again under its name in one transaction (a
-- migration that rebuilds it: create the new table, copy, drop the old one,
-- rename the new one; or rename the old one out of the way first; Rails'
-- create_table force: true) keeps its configuration.  The drop forgets it
-- at once, as any drop (the maps stay exact inside the transaction), after
-- noting it here; at commit, a table under a name the dropped one had in the
-- transaction that the transaction did not configure itself gets it again,
-- through the same functions a DBA would call (their checks apply; what no
-- longer fits, a column gone, is left out with a WARNING, never failing the
-- commit).  With Citus installed, drops are decided at commit instead
-- (06_citus.sql).
CREATE TABLE privacy.dropped_config (
	relid		oid NOT NULL,
	nspname		name NOT NULL,
	relname		name NOT NULL,
	config		jsonb NOT NULL
);
REVOKE ALL ON privacy.dropped_config FROM PUBLIC;


-- at commit (deferred constraint trigger): give a table that took a dropped
-- one's place its configuration
CREATE FUNCTION privacy._restore_dropped() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	d record;
	x record;
	newid regclass;
	what text;
BEGIN
	FOR d IN DELETE FROM privacy.dropped_config RETURNING * LOOP
		-- the table under the name the dropped one had when it was dropped,
		-- else under a name it had earlier in the transaction (renamed out
		-- of the way first), the latest first; only a table (not a view)
		SELECT k.oid::pg_catalog.regclass INTO newid
		  FROM pg_catalog.unnest(pg_catalog.format('%I.%I', d.nspname, d.relname)
		                         OPERATOR(pg_catalog.||) privacy._renamed_from(d.relid)) WITH ORDINALITY n(name, o)
		  JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(n.name)::pg_catalog.oid
		 WHERE k.relkind IN ('r', 'p') AND NOT k.relispartition
		 ORDER BY n.o LIMIT 1;
		CONTINUE WHEN newid IS NULL;
		-- a table the transaction configured itself keeps what it was given
		CONTINUE WHEN EXISTS (SELECT FROM privacy.classifications c WHERE c.table_name OPERATOR(pg_catalog.=) newid)
		           OR EXISTS (SELECT FROM privacy.links l WHERE l.table_name OPERATOR(pg_catalog.=) newid)
		           OR EXISTS (SELECT FROM privacy.table_modes m WHERE m.table_name OPERATOR(pg_catalog.=) newid)
		           OR EXISTS (SELECT FROM privacy.subject_types st WHERE st.root OPERATOR(pg_catalog.=) newid)
		           OR EXISTS (SELECT FROM privacy.retention r WHERE r.table_name OPERATOR(pg_catalog.=) newid);
		-- a subject type still rooted at the dropped table
		FOR x IN SELECT * FROM pg_catalog.jsonb_to_recordset(d.config OPERATOR(pg_catalog.->) 'roots') AS r(subject text, key name) LOOP
			CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.subject_types st WHERE st.name OPERATOR(pg_catalog.=) x.subject
			                            AND st.root::pg_catalog.oid OPERATOR(pg_catalog.=) d.relid);
			BEGIN
				PERFORM privacy.define_subject(x.subject, newid, x.key);
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'the root of subject type "%" was not carried over to the new table % (SQLSTATE %)', x.subject, newid, SQLSTATE
					USING HINT = 'Call privacy.define_subject() on the new table to see why.';
			END;
		END LOOP;
		IF d.config OPERATOR(pg_catalog.?) 'mode' THEN
			BEGIN
				PERFORM privacy.set_erasure_mode(newid, d.config OPERATOR(pg_catalog.->>) 'mode');
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'the erasure mode of % was not carried over to the new table (SQLSTATE %)', newid, SQLSTATE
					USING HINT = 'Call privacy.set_erasure_mode() on the new table to see why.';
			END;
		END IF;
		FOR x IN SELECT * FROM pg_catalog.jsonb_to_recordset(d.config OPERATOR(pg_catalog.->) 'classifications')
		              AS c(col name, category text, erasure text, portable boolean, purposes text[], legal_basis text) LOOP
			BEGIN
				PERFORM privacy.classify(newid, x.col, x.category, x.erasure, x.portable, x.purposes, x.legal_basis);
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'the classification of column "%" of % was not carried over to the new table (SQLSTATE %)', x.col, newid, SQLSTATE
					USING HINT = 'Call privacy.classify() on the new table to see why.';
			END;
		END LOOP;
		FOR x IN SELECT * FROM pg_catalog.jsonb_to_recordset(d.config OPERATOR(pg_catalog.->) 'links')
		              AS l(subject text, col name, tcol name, tval text, target text) LOOP
			BEGIN
				IF x.target IS NOT NULL THEN
					-- a target by its name (rebuilt in this transaction too: the new one)
					PERFORM privacy.link(x.subject, newid, x.col, x.tcol, x.tval,
						pg_catalog.to_regclass(x.target)::pg_catalog.oid::pg_catalog.regclass);
				ELSIF x.tcol IS NULL THEN
					PERFORM privacy.link(x.subject, newid, x.col);
				ELSE
					PERFORM privacy.link(x.subject, newid, x.col, x.tcol, x.tval);
				END IF;
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'the link of column "%" of % to subject type "%" was not carried over to the new table (SQLSTATE %)',
					x.col, newid, x.subject, SQLSTATE USING HINT = 'Call privacy.link() on the new table to see why.';
			END;
		END LOOP;
		-- the links of other tables to the dropped one (link(..., target))
		FOR x IN SELECT * FROM pg_catalog.jsonb_to_recordset(d.config OPERATOR(pg_catalog.->) 'targeting')
		              AS l(subject text, tbl oid, col name, tcol name, tval text) LOOP
			CONTINUE WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) x.tbl);
			BEGIN
				PERFORM privacy.link(x.subject, x.tbl::pg_catalog.regclass, x.col, x.tcol, x.tval, newid);
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'the link of column "%" of % to subject type "%" was not carried over to the new table % (SQLSTATE %)',
					x.col, x.tbl::pg_catalog.regclass, x.subject, newid, SQLSTATE
					USING HINT = 'Call privacy.link() with the new table as target to see why.';
			END;
		END LOOP;
		-- retention policies, still on the dropped table: their columns by
		-- name only (a column at the old number is another column; a policy
		-- whose age column is gone stops with 42703 and deletes nothing)
		UPDATE privacy.retention r
		   SET table_name = newid,
		       age_attnum = (SELECT a.attnum FROM pg_catalog.pg_attribute a
		                      WHERE a.attrelid OPERATOR(pg_catalog.=) newid AND a.attname OPERATOR(pg_catalog.=) r.age_column
		                        AND NOT a.attisdropped AND a.attnum OPERATOR(pg_catalog.>) 0),
		       column_attnums = CASE WHEN r.columns IS NULL OR r.column_attnums IS NULL THEN r.column_attnums ELSE
		           (SELECT pg_catalog.array_agg(coalesce(a.attnum, 0) ORDER BY c.o)
		              FROM pg_catalog.unnest(r.columns) WITH ORDINALITY c(name, o)
		              LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) newid
		                    AND a.attname OPERATOR(pg_catalog.=) c.name AND NOT a.attisdropped
		                    AND a.attnum OPERATOR(pg_catalog.>) 0) END
		 WHERE r.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) d.relid
		   AND r.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.jsonb_array_elements_text(d.config OPERATOR(pg_catalog.->) 'policies'))::bigint[]);
		IF (d.config OPERATOR(pg_catalog.->>) 'protected')::boolean THEN
			BEGIN
				PERFORM privacy.protect(newid);
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING '% was not protected again (SQLSTATE %)', newid, SQLSTATE
					USING HINT = 'Call privacy.protect() on the new table to see why.';
			END;
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER dropped_config_restore AFTER INSERT ON privacy.dropped_config
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION privacy._restore_dropped();
REVOKE ALL ON FUNCTION privacy._restore_dropped() FROM PUBLIC;

-- Names a table had earlier in the transaction (ddl_command_start of ALTER
-- TABLE notes them before a rename or SET SCHEMA): a rebuild that renames
-- the old table away before dropping it keeps its configuration on the new
-- table under the old name (06_citus.sql).
CREATE FUNCTION privacy._on_rename() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'privacy_on_rename' LANGUAGE C;
CREATE FUNCTION privacy._renamed_from(relid oid) RETURNS text[]
AS 'MODULE_PATHNAME', 'privacy_renamed_from' LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION privacy._on_rename(), privacy._renamed_from(oid) FROM PUBLIC;
CREATE EVENT TRIGGER privacy_rename ON ddl_command_start
	WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION privacy._on_rename();
