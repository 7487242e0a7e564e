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

-- Keys without material.
CREATE VIEW privacy.keys AS
	SELECT id, name, subject, subject_ref, state, created_at, destroyed_at
	  FROM privacy.data_keys;
REVOKE ALL ON privacy.keys FROM PUBLIC;
GRANT SELECT ON privacy.keys TO privacy_admin, privacy_officer;

CREATE FUNCTION privacy.create_key(name text) RETURNS bigint
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_create_key';
CREATE FUNCTION privacy.destroy_key(key_id bigint) RETURNS boolean
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_destroy_key';
CREATE FUNCTION privacy.rotate_root_key(new_key_file text) RETURNS bigint
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_rotate_root_key';
-- keys are configuration: privacy_admin only
REVOKE EXECUTE ON FUNCTION privacy.create_key(text), privacy.destroy_key(bigint),
	privacy.rotate_root_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.create_key(text), privacy.destroy_key(bigint),
	privacy.rotate_root_key(text) TO privacy_admin;

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
END
$$;
REVOKE EXECUTE ON FUNCTION privacy._crypto_on_drop() FROM PUBLIC;
CREATE EVENT TRIGGER privacy_crypto_drop ON sql_drop
	EXECUTE FUNCTION privacy._crypto_on_drop();

-- Coming from pgcrypto: superuser only (checked in C too), it reads a
-- server-side passphrase file.
CREATE FUNCTION privacy.migrate_pgcrypto_column(tbl regclass, col name, passphrase_file text,
	subject text DEFAULT NULL) RETURNS void
	LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'privacy_migrate_pgcrypto_column';
REVOKE EXECUTE ON FUNCTION privacy.migrate_pgcrypto_column(regclass, name, text, text) FROM PUBLIC;
