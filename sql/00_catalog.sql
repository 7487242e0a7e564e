-- privacy: install script.  Built by concatenating sql/*.sql in order.
\echo Use "CREATE EXTENSION privacy" to load this file. \quit

-- Roles shared by every database of the cluster: created when absent, left in
-- place by DROP EXTENSION (roles are not extension members).
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'privacy_admin') THEN
		CREATE ROLE privacy_admin NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'privacy_officer') THEN
		CREATE ROLE privacy_officer NOLOGIN;
	END IF;
END
$roles$;

-- Users reach the catalog through functions and views only: the schema is
-- usable, its tables are not readable or writable by PUBLIC.
GRANT USAGE ON SCHEMA privacy TO PUBLIC;

---------------------------------------------------------------------------
-- The catalog.  Configuration tables are registered with
-- pg_extension_config_dump so that pg_dump keeps them; computed tables (the
-- map) are recomputed after a restore.
---------------------------------------------------------------------------

-- Per-database secret behind subject_ref (keyed hash).  Readable only by the
-- extension owner; dumped so that references survive a dump and restore.
CREATE TABLE privacy.secret (
	id		int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	value	bytea NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('privacy.secret', '');

CREATE TABLE privacy.subject_types (
	name		text PRIMARY KEY CHECK (name OPERATOR(pg_catalog.<>) ''),
	root		regclass NOT NULL,
	key_column	name NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	-- the key column's attribute number: the key follows a rename
	-- (_reconcile_columns: by name first, as after a restore, then by number)
	key_attnum	smallint
);
SELECT pg_catalog.pg_extension_config_dump('privacy.subject_types', '');

CREATE TABLE privacy.links (
	subject		text NOT NULL REFERENCES privacy.subject_types ON DELETE CASCADE ON UPDATE CASCADE,
	table_name	regclass NOT NULL,
	key_column	name NOT NULL,
	-- a polymorphic link: only the rows whose type_column holds type_value
	type_column	name,
	type_value	text,
	CONSTRAINT links_type_check CHECK ((type_column IS NULL) = (type_value IS NULL)),
	-- a link to another table of the map (Django's generic relations, Rails'
	-- polymorphic comments on posts): key_column holds the key of a row of
	-- target (its one-column primary or unique key); NULL: the root's key
	target		regclass,
	-- a column is linked once to the root and once to each target (Django's
	-- object_id: the user's own content type, her articles')
	CONSTRAINT links_key UNIQUE NULLS NOT DISTINCT (subject, table_name, key_column, target)
);
SELECT pg_catalog.pg_extension_config_dump('privacy.links', '');

-- The computed data map: one row per (subject, table).  paths holds every
-- simple path to the root as hops of (table oid, columns) pairs; recomputed
-- by define_subject / refresh_subject / the DDL event trigger.
CREATE TABLE privacy.map (
	subject		text NOT NULL REFERENCES privacy.subject_types ON DELETE CASCADE ON UPDATE CASCADE,
	table_name	regclass NOT NULL,
	via			text NOT NULL CHECK (via IN ('root', 'fk', 'link')),
	depth		int NOT NULL,
	path		text NOT NULL,
	paths		jsonb NOT NULL,
	outbound	boolean NOT NULL DEFAULT false,
	PRIMARY KEY (subject, table_name)
);

CREATE TABLE privacy.categories (
	name		text PRIMARY KEY,
	parent		text REFERENCES privacy.categories ON UPDATE CASCADE,
	description	text,
	special		boolean NOT NULL DEFAULT false,
	erasure		text NOT NULL DEFAULT 'null'
				CHECK (erasure IN ('delete', 'null', 'redact', 'hash', 'shred', 'keep'))
);
-- the names of the built-in taxonomy (installed by the script, not dumped)
CREATE TABLE privacy.builtin_categories (name text PRIMARY KEY);
-- user-added categories are configuration; the built-in taxonomy is not dumped
SELECT pg_catalog.pg_extension_config_dump('privacy.categories',
	'WHERE name NOT IN (SELECT b.name FROM privacy.builtin_categories b)');

CREATE TABLE privacy.classifications (
	table_name	regclass NOT NULL,
	column_name	name NOT NULL,
	attnum		smallint NOT NULL,
	category	text NOT NULL REFERENCES privacy.categories ON UPDATE CASCADE,
	erasure		text NOT NULL
				CHECK (erasure IN ('delete', 'null', 'redact', 'hash', 'shred', 'keep')),
	portable	boolean NOT NULL DEFAULT true,
	purposes	text[],
	legal_basis	text,
	classified_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (table_name, column_name)
);
SELECT pg_catalog.pg_extension_config_dump('privacy.classifications', '');

CREATE TABLE privacy.table_modes (
	table_name	regclass PRIMARY KEY,
	mode		text NOT NULL CHECK (mode IN ('delete', 'anonymize'))
);
SELECT pg_catalog.pg_extension_config_dump('privacy.table_modes', '');

CREATE TABLE privacy.recipients (
	name		text PRIMARY KEY,
	purpose		text NOT NULL,
	categories	text[] NOT NULL,
	country		text,
	added_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('privacy.recipients', '');

-- Legal holds.  subject_key is the canonical text of the root key value.
CREATE TABLE privacy.holds (
	id			bigserial PRIMARY KEY,
	subject		text NOT NULL REFERENCES privacy.subject_types ON DELETE CASCADE ON UPDATE CASCADE,
	subject_key	text NOT NULL,
	subject_ref	text NOT NULL,
	reason		text NOT NULL,
	placed_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	until		timestamptz,
	released_at	timestamptz
);
CREATE UNIQUE INDEX holds_active ON privacy.holds (subject, subject_key) WHERE released_at IS NULL;
SELECT pg_catalog.pg_extension_config_dump('privacy.holds', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.holds_id_seq', '');

-- Art. 18 restriction of processing.
CREATE TABLE privacy.restrictions (
	subject		text NOT NULL REFERENCES privacy.subject_types ON DELETE CASCADE ON UPDATE CASCADE,
	subject_key	text NOT NULL,
	subject_ref	text NOT NULL,
	reason		text NOT NULL,
	restricted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (subject, subject_key)
);
SELECT pg_catalog.pg_extension_config_dump('privacy.restrictions', '');

-- Consent: an append-only history and the current state (one row per
-- subject and purpose, so has_consent is one index lookup).
CREATE TABLE privacy.consent_events (
	id			bigserial PRIMARY KEY,
	subject		text NOT NULL,
	subject_ref	text NOT NULL,
	purpose		text NOT NULL,
	granted		boolean NOT NULL,
	source		text,
	at			timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
SELECT pg_catalog.pg_extension_config_dump('privacy.consent_events', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent_events_id_seq', '');
CREATE TABLE privacy.consents (
	subject		text NOT NULL,
	subject_ref	text NOT NULL,
	purpose		text NOT NULL,
	granted		boolean NOT NULL,
	source		text,
	at			timestamptz NOT NULL,
	PRIMARY KEY (subject_ref, purpose)
);
SELECT pg_catalog.pg_extension_config_dump('privacy.consents', '');

-- Every rights call is a request.
CREATE TABLE privacy.request_log (
	id			bigserial PRIMARY KEY,
	kind		text NOT NULL,
	subject		text NOT NULL,
	subject_ref	text NOT NULL,
	received_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	due_at		timestamptz NOT NULL,
	completed_at timestamptz,
	status		text NOT NULL DEFAULT 'received',
	actor		name NOT NULL DEFAULT CURRENT_USER,
	detail		jsonb
);
CREATE INDEX request_log_open ON privacy.request_log (due_at) WHERE completed_at IS NULL;
SELECT pg_catalog.pg_extension_config_dump('privacy.request_log', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.request_log_id_seq', '');

-- Retention policies and their runs (enforced by run_retention and the worker).
CREATE TABLE privacy.retention (
	id			bigserial PRIMARY KEY,
	table_name	regclass NOT NULL,
	age_column	name NOT NULL,
	keep		interval NOT NULL,
	action		text NOT NULL DEFAULT 'delete' CHECK (action IN ('delete', 'anonymize')),
	columns		name[],
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	name NOT NULL DEFAULT CURRENT_USER
);
SELECT pg_catalog.pg_extension_config_dump('privacy.retention', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.retention_id_seq', '');

CREATE TABLE privacy.retention_runs (
	id			bigserial PRIMARY KEY,
	policy		bigint NOT NULL,
	started		timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	finished	timestamptz,
	rows		bigint NOT NULL DEFAULT 0,
	error		text
);
CREATE INDEX retention_runs_policy ON privacy.retention_runs (policy, started);

-- Encrypted columns: a stable identity per (table, column), bound into the
-- associated data of every ciphertext.
CREATE TABLE privacy.encrypted_columns (
	id			bigserial PRIMARY KEY,
	table_name	regclass NOT NULL,
	column_name	name NOT NULL,
	subject		text REFERENCES privacy.subject_types ON UPDATE CASCADE,
	key_id		bigint,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	UNIQUE (table_name, column_name)
);
SELECT pg_catalog.pg_extension_config_dump('privacy.encrypted_columns', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.encrypted_columns_id_seq', '');

-- Erased subjects, by reference only: replayed after a restore.
CREATE TABLE privacy.erasures (
	id			bigserial PRIMARY KEY,
	request		bigint NOT NULL,
	subject		text NOT NULL,
	subject_ref	text NOT NULL,
	erased_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	keys_shredded int NOT NULL DEFAULT 0
);
CREATE INDEX erasures_ref ON privacy.erasures (subject_ref);
SELECT pg_catalog.pg_extension_config_dump('privacy.erasures', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.erasures_id_seq', '');

REVOKE ALL ON ALL TABLES IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy FROM PUBLIC;

-- privacy.secret and privacy.audit_head get their row on first use (not
-- here), so that restoring a dump (which carries them) does not collide.
