---------------------------------------------------------------------------
-- Subjects and the data map (src/map.c)
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

CREATE FUNCTION privacy.drop_subject(name text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM privacy.subject_types s WHERE s.name = drop_subject.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'subject type "%" does not exist', drop_subject.name USING ERRCODE = '42704';
	END IF;
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
	privacy.unlink(text, regclass, name), privacy.refresh_subject(text), privacy._refresh_all(),
	privacy._invalidate(), privacy.data_map(text), privacy.drop_subject(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.define_subject(text, regclass, name), privacy.link(text, regclass, name),
	privacy.unlink(text, regclass, name), privacy.refresh_subject(text), privacy.data_map(text),
	privacy.drop_subject(text) TO privacy_admin;
GRANT EXECUTE ON FUNCTION privacy.data_map(text) TO privacy_officer;
GRANT SELECT ON privacy.subject_tables, privacy.subjects TO privacy_admin, privacy_officer;

-- Keep the map current.  After DDL: renamed classified columns follow their
-- attnum, and every subject's map is recomputed (new tables referencing a
-- mapped table join it).  After DROP: catalog rows of dropped tables go.  A
-- failure here must never break the user's DDL: it becomes a WARNING.
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
END
$$;
REVOKE ALL ON FUNCTION privacy._reconcile_columns() FROM PUBLIC;

CREATE FUNCTION privacy._on_ddl() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM privacy.subject_types) AND NOT EXISTS (SELECT FROM privacy.classifications) THEN
		RETURN;
	END IF;
	IF privacy._citus_worker() THEN	-- shards are configured on the coordinator
		RETURN;
	END IF;
	IF EXISTS (SELECT FROM privacy.pending_drops) THEN	-- a Citus conversion: refreshed at commit
		RETURN;
	END IF;
	-- temporary tables (ETL scratch space) never join a map: skip them
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() c
	                WHERE c.schema_name IS NULL OR c.schema_name NOT LIKE 'pg\_temp\_%') THEN
		RETURN;
	END IF;
	BEGIN
		PERFORM privacy._reconcile_columns();
		PERFORM privacy._refresh_all();
	EXCEPTION WHEN OTHERS THEN
		RAISE WARNING 'privacy: the data map could not be refreshed after DDL: %', SQLERRM
			USING HINT = 'Run privacy.refresh_subject() once the schema is consistent.';
	END;
END
$$;

-- Forget the configuration of dropped tables (by OID).
CREATE FUNCTION privacy._forget_tables(dropped oid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM privacy.classifications WHERE table_name::oid = ANY (dropped);
	DELETE FROM privacy.table_modes WHERE table_name::oid = ANY (dropped);
	DELETE FROM privacy.links WHERE table_name::oid = ANY (dropped);
	DELETE FROM privacy.subject_types WHERE root::oid = ANY (dropped);
	IF EXISTS (SELECT FROM privacy.map WHERE table_name::oid = ANY (dropped)) THEN
		PERFORM privacy._refresh_all();
	END IF;
	PERFORM privacy._invalidate();
END
$$;
REVOKE ALL ON FUNCTION privacy._forget_tables(oid[]) FROM PUBLIC;

CREATE FUNCTION privacy._on_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	dropped oid[];
BEGIN
	SELECT pg_catalog.array_agg(o.objid) INTO dropped
	  FROM pg_catalog.pg_event_trigger_dropped_objects() o
	 WHERE o.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND o.objsubid = 0
	   AND o.object_type IN ('table', 'partitioned table');
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
	BEGIN
		PERFORM privacy._forget_tables(dropped);
	EXCEPTION WHEN OTHERS THEN
		RAISE WARNING 'privacy: the catalog could not be cleaned after DROP: %', SQLERRM;
	END;
END
$$;

-- column drops and renames are ALTER TABLE; partitions come with CREATE TABLE
CREATE EVENT TRIGGER privacy_ddl ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE TABLE AS', 'SELECT INTO')
	EXECUTE FUNCTION privacy._on_ddl();
CREATE EVENT TRIGGER privacy_drop ON sql_drop
	EXECUTE FUNCTION privacy._on_drop();
