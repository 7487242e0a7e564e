---------------------------------------------------------------------------
-- Encrypted columns (SPEC §5): data keys, low-level functions, encrypt_column.
---------------------------------------------------------------------------

-- Data keys, wrapped under the root key (never in clear, never readable by
-- PUBLIC).  Dumped, so that a restore with the same root key decrypts.
-- A destroyed key keeps its row (ids stay unique) without key material.
CREATE TABLE privacy.data_keys (
	id			bigserial PRIMARY KEY,
	name		text NOT NULL CHECK (name OPERATOR(pg_catalog.<>) ''),
	subject		text,
	subject_ref	text,
	state		text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'destroyed')),
	wrapped		bytea,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	destroyed_at timestamptz,
	CHECK ((state OPERATOR(pg_catalog.=) 'active') OPERATOR(pg_catalog.=) (wrapped IS NOT NULL)),
	CHECK ((subject IS NULL) OPERATOR(pg_catalog.=) (subject_ref IS NULL))
);
-- one active key per name, and per subject
CREATE UNIQUE INDEX data_keys_name ON privacy.data_keys (name) WHERE state OPERATOR(pg_catalog.=) 'active';
CREATE UNIQUE INDEX data_keys_subject ON privacy.data_keys (subject, subject_ref)
	WHERE state OPERATOR(pg_catalog.=) 'active' AND subject IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('privacy.data_keys', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.data_keys_id_seq', '');
REVOKE ALL ON privacy.data_keys FROM PUBLIC;
REVOKE ALL ON SEQUENCE privacy.data_keys_id_seq FROM PUBLIC;

-- What encrypt_column needs besides the shared registration: the declared
-- varchar(n) typmod (the column is widened; the trigger checks n) and the
-- _decrypted view.
ALTER TABLE privacy.encrypted_columns ADD COLUMN typmod int, ADD COLUMN view regclass;
-- the column's attribute number: registrations follow renames (the event
-- trigger privacy_crypto_alter below)
ALTER TABLE privacy.encrypted_columns ADD COLUMN attnum int2;

-- Keys without material; root_version: the root key the key is wrapped
-- under (bytes 2-9 of the wrapped form, a derived id, never the key).
CREATE VIEW privacy.keys AS
	SELECT id, name, subject, subject_ref, state, created_at, destroyed_at,
	       pg_catalog.encode(pg_catalog.substr(wrapped, 2, 8), 'hex') AS root_version
	  FROM privacy.data_keys;
REVOKE ALL ON privacy.keys FROM PUBLIC;
GRANT SELECT ON privacy.keys TO privacy_admin, privacy_officer;

CREATE FUNCTION privacy.create_key(name text) RETURNS bigint
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_create_key';
CREATE FUNCTION privacy.destroy_key(key_id bigint) RETURNS boolean
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_destroy_key';
CREATE FUNCTION privacy.rotate_root_key(new_key_file text DEFAULT NULL) RETURNS bigint
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_rotate_root_key';
-- keys are configuration: privacy_admin only
REVOKE EXECUTE ON FUNCTION privacy.create_key(text), privacy.destroy_key(bigint),
	privacy.rotate_root_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.create_key(text), privacy.destroy_key(bigint),
	privacy.rotate_root_key(text) TO privacy_admin;

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

CREATE FUNCTION privacy.encrypt(plaintext bytea, key_id bigint, aad bytea DEFAULT NULL) RETURNS bytea
	LANGUAGE c VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'privacy_encrypt';
CREATE FUNCTION privacy.decrypt(ciphertext bytea, key_id bigint, aad bytea DEFAULT NULL) RETURNS bytea
	LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'privacy_decrypt';
CREATE FUNCTION privacy.blind_index(value text, key_id bigint) RETURNS bytea
	LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'privacy_blind_index';
-- they read personal data and use keys: privacy_admin, and whoever it grants
REVOKE EXECUTE ON FUNCTION privacy.encrypt(bytea, bigint, bytea), privacy.decrypt(bytea, bigint, bytea),
	privacy.blind_index(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.encrypt(bytea, bigint, bytea), privacy.decrypt(bytea, bigint, bytea),
	privacy.blind_index(text, bigint) TO privacy_admin;

-- The read path of encrypted columns (the _decrypted views, access/export).
-- EXECUTE for PUBLIC: the function itself checks that the caller may SELECT
-- the column, so it reveals nothing a reader of the view could not see.
CREATE FUNCTION privacy.read_encrypted(value text, column_id bigint, VARIADIC row_key "any") RETURNS text
	LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'privacy_read_encrypted';
CREATE FUNCTION privacy.read_encrypted(value bytea, column_id bigint, VARIADIC row_key "any") RETURNS bytea
	LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'privacy_read_encrypted';

-- Does a stored value have the form of a column ciphertext (prefix, length,
-- base64 for text)?  True, else 23514 (raised by the function itself, so
-- that no message prints the row).  No key, nothing decrypted: the CHECK
-- constraint that encrypt_column puts on an encrypted column
-- (privacy_ciphertext_<id>), so that a write no trigger sees (ALTER TABLE
-- ... DISABLE TRIGGER, session_replication_role = replica) cannot store
-- plaintext.  EXECUTE for PUBLIC: every writer of the table runs it.
CREATE FUNCTION privacy._is_ciphertext(value text) RETURNS boolean
	LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'privacy_is_ciphertext_text';
CREATE FUNCTION privacy._is_ciphertext(value bytea) RETURNS boolean
	LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'privacy_is_ciphertext_bytea';

-- Triggers (not callable as functions).
CREATE FUNCTION privacy.encrypt_trigger() RETURNS trigger
	LANGUAGE c AS 'MODULE_PATHNAME', 'privacy_encrypt_trigger';
CREATE FUNCTION privacy.decrypted_view_trigger() RETURNS trigger
	LANGUAGE c AS 'MODULE_PATHNAME', 'privacy_decrypted_view_trigger';

-- encrypt_column / decrypt_column check in C that the caller owns the table
-- and switch to the catalog owner only for the catalog.
CREATE FUNCTION privacy.encrypt_column(tbl regclass, col name, subject text DEFAULT NULL) RETURNS void
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_encrypt_column';
CREATE FUNCTION privacy.decrypt_column(tbl regclass, col name) RETURNS void
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_decrypt_column';
-- configuration: privacy_admin (who must also own the table)
REVOKE EXECUTE ON FUNCTION privacy.encrypt_column(regclass, name, text),
	privacy.decrypt_column(regclass, name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.encrypt_column(regclass, name, text),
	privacy.decrypt_column(regclass, name) TO privacy_admin;

-- A dropped table takes its registrations along (before privacy_drop, which
-- may delete a subject type they refer to: event triggers fire by name).
-- Its data keys stay: old WAL and backups may still need them.
CREATE FUNCTION privacy._crypto_on_drop() RETURNS event_trigger
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
REVOKE EXECUTE ON FUNCTION privacy._crypto_on_drop() FROM PUBLIC;
CREATE EVENT TRIGGER privacy_crypto_drop ON sql_drop
	EXECUTE FUNCTION privacy._crypto_on_drop();

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

-- No user trigger fires after an encryption trigger (BEFORE ROW triggers fire
-- in name order; one that fired later could store plaintext in the encrypted
-- column or change the key its value is bound to): CREATE TRIGGER and ALTER
-- TRIGGER that would put a BEFORE ROW INSERT or UPDATE trigger after it on a
-- table with encrypted columns are refused, disabled triggers included (the
-- write trigger refuses to run before an enabled one, for when event triggers
-- were off).  An encryption trigger under its name before 0.2.0
-- (privacy_encrypt_<id>, from an old dump) takes its new name first.
CREATE FUNCTION privacy._crypto_on_trigger() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT DISTINCT o.tgname, o.tgrelid FROM pg_catalog.pg_event_trigger_ddl_commands() d
	           JOIN pg_catalog.pg_trigger t ON t.oid = d.objid
	           JOIN pg_catalog.pg_trigger o ON o.tgrelid = t.tgrelid
	          WHERE d.classid = 'pg_catalog.pg_trigger'::regclass
	            AND o.tgfoid = 'privacy.encrypt_trigger()'::regprocedure
	            AND o.tgname ~ '^privacy_encrypt_[0-9]+$'
	LOOP
		EXECUTE format('ALTER TRIGGER %I ON %s RENAME TO %I', r.tgname, r.tgrelid::regclass, '~' || r.tgname);
	END LOOP;
	FOR r IN SELECT u.tgname AS late, o.tgname AS ours, c.relname
	           FROM pg_catalog.pg_event_trigger_ddl_commands() d
	           JOIN pg_catalog.pg_trigger t ON t.oid = d.objid
	           JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
	           JOIN pg_catalog.pg_trigger o ON o.tgrelid = t.tgrelid
	           JOIN pg_catalog.pg_trigger u ON u.tgrelid = t.tgrelid AND u.tgname > o.tgname
	           JOIN pg_catalog.pg_proc p ON p.oid = u.tgfoid
	          WHERE d.classid = 'pg_catalog.pg_trigger'::regclass
	            AND o.tgfoid = 'privacy.encrypt_trigger()'::regprocedure
	            AND p.pronamespace <> 'privacy'::regnamespace
	            AND (u.tgtype & 67) = 3		-- ROW, BEFORE (not INSTEAD OF)
	            AND (u.tgtype & 20) <> 0	-- INSERT or UPDATE
	          ORDER BY u.tgname DESC LIMIT 1
	LOOP
		RAISE EXCEPTION 'trigger "%" on table "%" would fire after the encryption trigger "%"',
			r.late, r.relname, r.ours
			USING ERRCODE = '55000',
			      DETAIL = 'BEFORE triggers fire in the order of their names; one that fires after the encryption could store plaintext in the encrypted column or change the key the value is bound to.',
			      HINT = format('Give the trigger a name that sorts before "%s".', r.ours);
	END LOOP;
END
$$;
REVOKE EXECUTE ON FUNCTION privacy._crypto_on_trigger() FROM PUBLIC;
CREATE EVENT TRIGGER privacy_crypto_trigger ON ddl_command_end WHEN TAG IN ('CREATE TRIGGER', 'ALTER TRIGGER')
	EXECUTE FUNCTION privacy._crypto_on_trigger();

-- The primary key of a table with encrypted columns stays what its values
-- are bound to: ALTER TABLE that replaces or drops it, or changes a key
-- column's type in a way that could change its text, is refused (in C: the
-- key at ddl_command_start against the key at ddl_command_end; named to fire
-- before privacy_crypto_alter, which would rebuild the view on a key that is
-- gone).  A table without a primary key when the command starts (a dump being
-- restored adds it after the data) may get one.
CREATE FUNCTION privacy._crypto_guard_key() RETURNS event_trigger
	LANGUAGE c AS 'MODULE_PATHNAME', 'privacy_crypto_guard_key';
REVOKE EXECUTE ON FUNCTION privacy._crypto_guard_key() FROM PUBLIC;
CREATE EVENT TRIGGER privacy_crypto_a_key_start ON ddl_command_start WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION privacy._crypto_guard_key();
CREATE EVENT TRIGGER privacy_crypto_a_key_end ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION privacy._crypto_guard_key();

-- Coming from pgcrypto: superuser only (checked in C too), it reads a
-- server-side passphrase file.
CREATE FUNCTION privacy.migrate_pgcrypto_column(tbl regclass, col name, passphrase_file text,
	subject text DEFAULT NULL) RETURNS void
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_migrate_pgcrypto_column';
REVOKE EXECUTE ON FUNCTION privacy.migrate_pgcrypto_column(regclass, name, text, text) FROM PUBLIC;
