---------------------------------------------------------------------------
-- The audit log (src/audit.c): append-only, hash-chained, no personal data
---------------------------------------------------------------------------

-- The table behind privacy.audit_log.  Guard triggers refuse UPDATE, DELETE
-- and TRUNCATE for everyone; a superuser who disables them can change rows,
-- and verify_audit() then fails (tamper-evident, not tamper-proof).
CREATE TABLE privacy.audit (
	seq			bigint PRIMARY KEY,
	at			timestamptz NOT NULL,
	actor		name NOT NULL,
	action		text NOT NULL,
	subject_ref	text,
	detail		jsonb,
	hash		bytea NOT NULL,
	chain		smallint		-- 2: keyed by the root key; 1: by privacy.secret; NULL: 0.1.0
);
CREATE INDEX audit_subject_ref ON privacy.audit (subject_ref) WHERE subject_ref IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('privacy.audit', '');

CREATE TABLE privacy.audit_head (
	id			int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	seq			bigint NOT NULL,
	hash		bytea NOT NULL,
	-- the data key (privacy.data_keys, wrapped under the root key) that keys
	-- the chain from its first entry of version 2 on; NULL before
	key_id		bigint
);
SELECT pg_catalog.pg_extension_config_dump('privacy.audit_head', '');
REVOKE ALL ON privacy.audit, privacy.audit_head FROM PUBLIC;

CREATE FUNCTION privacy._audit_guard() RETURNS trigger
AS 'MODULE_PATHNAME', 'privacy_audit_guard' LANGUAGE C;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON privacy.audit
	FOR EACH ROW EXECUTE FUNCTION privacy._audit_guard();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON privacy.audit
	FOR EACH STATEMENT EXECUTE FUNCTION privacy._audit_guard();

CREATE FUNCTION privacy._audit(action text, subject_ref text, detail jsonb) RETURNS void
AS 'MODULE_PATHNAME', 'privacy_audit_sql' LANGUAGE C VOLATILE;

-- Verify the keyed chain; with an anchor (from audit_anchor(), stored
-- outside the database), also prove that the log still extends it.
CREATE FUNCTION privacy.verify_audit(anchor jsonb DEFAULT NULL) RETURNS bigint
AS 'MODULE_PATHNAME', 'privacy_verify_audit'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- The chain's head with a MAC: store it elsewhere, check it later.
CREATE FUNCTION privacy.audit_anchor() RETURNS jsonb
AS 'MODULE_PATHNAME', 'privacy_audit_anchor'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE VIEW privacy.audit_log AS
SELECT seq, at, actor, action, subject_ref, detail, hash FROM privacy.audit;

REVOKE ALL ON FUNCTION privacy._audit(text, text, jsonb), privacy.verify_audit(jsonb),
	privacy.audit_anchor(), privacy._audit_guard() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.verify_audit(jsonb), privacy.audit_anchor() TO privacy_officer, privacy_admin;
GRANT SELECT ON privacy.audit_log TO privacy_officer, privacy_admin;
