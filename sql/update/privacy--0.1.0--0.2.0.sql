-- privacy 0.1.0 -> 0.2.0
\echo Use "ALTER EXTENSION privacy UPDATE TO '0.2.0'" to load this file. \quit

---------------------------------------------------------------------------
-- keys: the root keyring, online rotation, registrations that follow
-- renames (issue #12; #10 item 11).  Wrapped data keys of 0.1.0 need no
-- conversion: the 8 bytes after their format byte (the "fingerprint") are
-- the root-key version, computed the same way.
---------------------------------------------------------------------------
ALTER TABLE privacy.encrypted_columns ADD COLUMN attnum int2;
UPDATE privacy.encrypted_columns e SET attnum = a.attnum
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid OPERATOR(pg_catalog.=) e.table_name::oid
   AND a.attname OPERATOR(pg_catalog.=) e.column_name
   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;

CREATE OR REPLACE VIEW privacy.keys AS
	SELECT id, name, subject, subject_ref, state, created_at, destroyed_at,
	       pg_catalog.encode(pg_catalog.substr(wrapped, 2, 8), 'hex') AS root_version
	  FROM privacy.data_keys;

CREATE OR REPLACE FUNCTION privacy.rotate_root_key(new_key_file text DEFAULT NULL) RETURNS bigint
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_rotate_root_key';

-- The root keyring: versions known to the server (never material), and how
-- many active data keys of this database each one still wraps.  A version
-- the data needs but the keyring lacks is 'missing'.  An old key can be
-- retired when no data key of any database needs it (can_retire says so for
-- this database) and no backup that still needs it is kept.
CREATE FUNCTION privacy._root_keyring(OUT version text, OUT "position" int) RETURNS SETOF record
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_root_keyring';
REVOKE EXECUTE ON FUNCTION privacy._root_keyring() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy._root_keyring() TO privacy_admin;
CREATE VIEW privacy.root_keys AS
	WITH ring AS (SELECT r.version, r."position" FROM privacy._root_keyring() r),
	needed AS (SELECT pg_catalog.encode(pg_catalog.substr(k.wrapped, 2, 8), 'hex') AS version,
	                  pg_catalog.count(*) AS n
	             FROM privacy.data_keys k
	            WHERE k.state OPERATOR(pg_catalog.=) 'active' GROUP BY 1)
	SELECT coalesce(ring.version, needed.version) AS version,
	       CASE WHEN ring."position" OPERATOR(pg_catalog.=) 1 THEN 'current'
	            WHEN ring."position" IS NOT NULL THEN 'old' ELSE 'missing' END AS state,
	       coalesce(needed.n, 0) AS data_keys,
	       (ring."position" OPERATOR(pg_catalog.>) 1 AND needed.n IS NULL) AS can_retire
	  FROM ring FULL JOIN needed ON ring.version OPERATOR(pg_catalog.=) needed.version
	 ORDER BY ring."position" NULLS LAST, 1;
REVOKE ALL ON privacy.root_keys FROM PUBLIC;
GRANT SELECT ON privacy.root_keys TO privacy_admin;

-- Registrations follow renames: after ALTER TABLE on a table with encrypted
-- columns, a registration whose column name is gone takes the name now at its
-- attribute number, attribute numbers follow names (a restored dump may
-- renumber columns), and the _decrypted view's columns are renamed alike (in
-- C, as the view's owner).
CREATE FUNCTION privacy._crypto_follow_renames(tbl regclass) RETURNS void
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_crypto_follow_renames';
REVOKE EXECUTE ON FUNCTION privacy._crypto_follow_renames(regclass) FROM PUBLIC;
CREATE FUNCTION privacy._crypto_on_alter() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
	tables oid[] := '{}';
BEGIN
	FOR r IN SELECT DISTINCT c.objid, c.objsubid FROM pg_catalog.pg_event_trigger_ddl_commands() c
	          WHERE c.classid = 'pg_catalog.pg_class'::regclass
	            AND c.objid IN (SELECT e.table_name::oid FROM privacy.encrypted_columns e)
	LOOP
		IF r.objsubid > 0 THEN
			UPDATE privacy.encrypted_columns e SET column_name = a.attname
			  FROM pg_catalog.pg_attribute a
			 WHERE e.table_name::oid = r.objid AND e.attnum = r.objsubid
			   AND a.attrelid = r.objid AND a.attnum = r.objsubid AND NOT a.attisdropped
			   AND e.column_name <> a.attname
			   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b
			                    WHERE b.attrelid = r.objid AND b.attname = e.column_name
			                      AND b.attnum > 0 AND NOT b.attisdropped);
			-- attribute numbers out of date (a restored dump renumbers columns):
			-- the one registration of the table whose name is gone follows
			IF NOT FOUND THEN
				UPDATE privacy.encrypted_columns e SET column_name = a.attname, attnum = a.attnum
				  FROM pg_catalog.pg_attribute a
				 WHERE e.table_name::oid = r.objid AND a.attrelid = r.objid AND a.attnum = r.objsubid
				   AND NOT a.attisdropped
				   AND NOT EXISTS (SELECT 1 FROM privacy.encrypted_columns o
				                    WHERE o.table_name::oid = r.objid AND o.column_name = a.attname)
				   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b
				                    WHERE b.attrelid = r.objid AND b.attname = e.column_name
				                      AND b.attnum > 0 AND NOT b.attisdropped)
				   AND (SELECT count(*) FROM privacy.encrypted_columns d
				         WHERE d.table_name::oid = r.objid
				           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute c
				                            WHERE c.attrelid = r.objid AND c.attname = d.column_name
				                              AND c.attnum > 0 AND NOT c.attisdropped)) = 1;
			END IF;
		END IF;
		IF NOT r.objid = ANY (tables) THEN
			tables := tables || r.objid;
		END IF;
	END LOOP;
	IF cardinality(tables) = 0 THEN
		RETURN;
	END IF;
	UPDATE privacy.encrypted_columns e SET attnum = a.attnum
	  FROM pg_catalog.pg_attribute a
	 WHERE e.table_name::oid = ANY (tables) AND a.attrelid = e.table_name::oid
	   AND a.attname = e.column_name AND a.attnum > 0 AND NOT a.attisdropped
	   AND e.attnum IS DISTINCT FROM a.attnum;
	PERFORM privacy._crypto_follow_renames(t::regclass) FROM pg_catalog.unnest(tables) t;
END
$$;
REVOKE EXECUTE ON FUNCTION privacy._crypto_on_alter() FROM PUBLIC;
CREATE EVENT TRIGGER privacy_crypto_alter ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION privacy._crypto_on_alter();
-- a dropped encrypted column takes its registration along
CREATE OR REPLACE FUNCTION privacy._crypto_on_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM privacy.encrypted_columns e
	 WHERE e.table_name::oid IN (SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects()
								  WHERE object_type = 'table');
	UPDATE privacy.encrypted_columns e SET view = NULL
	 WHERE e.view::oid IN (SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects()
							WHERE object_type = 'view');
	-- a dropped encrypted column takes its registration along (its write
	-- trigger then does nothing)
	DELETE FROM privacy.encrypted_columns e
	 USING pg_catalog.pg_event_trigger_dropped_objects() d
	 WHERE d.object_type = 'table column' AND e.table_name::oid = d.objid
	   AND e.column_name = d.address_names[3];
END
$$;
-- end of keys
