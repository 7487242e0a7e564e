---------------------------------------------------------------------------
-- Retention policies (SPEC §4): add_retention, drop_retention,
-- run_retention, the policy and status views.  Enforced by run_retention and
-- by the background worker (src/worker.c), both through src/retention.c.
---------------------------------------------------------------------------

-- Progress of each policy: the pass in progress (its fixed cutoff and the
-- keyset position reached, written in the same transaction as each batch, so
-- a killed worker resumes without losing or repeating work), and the
-- failure back-off.  Runtime state: not dumped.
CREATE TABLE privacy.retention_state (
	policy		bigint PRIMARY KEY REFERENCES privacy.retention (id) ON DELETE CASCADE,
	cutoff		timestamptz,		-- pass in progress: rows older than this
	pos_age		timestamptz,		-- keyset position (age, ctid) reached
	pos_ctid	tid,
	pos_rel		oid,				-- partitioned tables: the leaf partition of the position
	pos_mode	"char",				-- walk of the pass: 'a' age index, 'b' blocks
	run			bigint,				-- retention_runs row of the run in progress
	failures	int NOT NULL DEFAULT 0,
	next_try	timestamptz NOT NULL DEFAULT '-infinity',
	last_error	text,
	last_checked timestamptz		-- heartbeat: the last pass that completed (idle or not)
);

ALTER TABLE privacy.retention_runs
	ADD COLUMN held bigint NOT NULL DEFAULT 0,			-- rows skipped: legal hold
	ADD COLUMN batches int NOT NULL DEFAULT 0,
	ADD COLUMN longest_batch_ms double precision NOT NULL DEFAULT 0,
	ADD COLUMN blocked bigint NOT NULL DEFAULT 0,		-- rows skipped: a dependent must stay
	ADD COLUMN blocked_by text,							-- the first blocking table of the run
	ADD COLUMN dependents bigint NOT NULL DEFAULT 0;	-- of rows: dependents deleted with their rows

-- A policy follows its age column by attribute number (renames), may take
-- its dependents with it (cascade) and reads a timestamp without time zone
-- in time_zone (NULL: the database's default TimeZone at run time).
ALTER TABLE privacy.retention
	ADD COLUMN age_attnum smallint,
	ADD COLUMN cascade boolean NOT NULL DEFAULT true,
	ADD COLUMN time_zone text;

-- The subject types whose map held the table when the policy was added (or
-- that a later run found; NULL: not recorded yet).  A run refuses, before it
-- deletes anything, while one of them no longer reaches the table: a dropped
-- foreign key, or a restore that has not created them yet, would otherwise
-- hide the holds of that subject type from the run.
ALTER TABLE privacy.retention
	ADD COLUMN subjects text[];

-- The attribute numbers of columns (anonymize policies), which the DDL
-- trigger's reconciliation follows through renames like age_attnum.
ALTER TABLE privacy.retention
	ADD COLUMN column_attnums smallint[];

-- Whether created_by was a member of privacy_admin (or a superuser) when it
-- added the policy: a run judges an author that no longer exists (dropped
-- after its tables were reassigned, renamed) by it.
ALTER TABLE privacy.retention
	ADD COLUMN created_by_admin boolean NOT NULL DEFAULT false;

REVOKE ALL ON privacy.retention_state FROM PUBLIC;

-- Keyed pseudonym behind the 'hash' strategy (erasure and retention): a
-- body and a keyed tag of it, len hex characters, so that the extension
-- recognizes what it wrote (is_pseudonym) without judging a value by its
-- shape.  Executable by everyone because erase's and retention's statements
-- run as the table's owner, but the C code computes nothing without scope,
-- the token of the open pseudonym scope (src/guard.c), which only the C
-- code building those statements knows and passes as a parameter, never in
-- their text (42501 otherwise, unless the caller is a superuser): no
-- trigger, CHECK, operator or index expression that runs meanwhile can use
-- them as an oracle.
CREATE FUNCTION privacy.pseudonym(value text, len integer DEFAULT 32, scope text DEFAULT NULL)
	RETURNS text
	AS 'MODULE_PATHNAME', 'privacy_pseudonym'
	LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION privacy.is_pseudonym(value text, len integer, scope text DEFAULT NULL)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'privacy_is_pseudonym'
	LANGUAGE C VOLATILE PARALLEL RESTRICTED;

-- Executable by everyone: the C code lets only the table's owner or a member
-- of privacy_admin add or drop a policy (42501 otherwise).
CREATE FUNCTION privacy.add_retention(tbl regclass, age_column name, keep interval,
									  action text DEFAULT 'delete', columns name[] DEFAULT NULL,
									  cascade boolean DEFAULT true, time_zone text DEFAULT NULL)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'privacy_add_retention'
	LANGUAGE C VOLATILE;

CREATE FUNCTION privacy.drop_retention(policy bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'privacy_drop_retention'
	LANGUAGE C VOLATILE;

-- Deletes or rewrites personal data: privacy_admin only.
CREATE FUNCTION privacy.run_retention(policy bigint DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privacy_run_retention'
	LANGUAGE C VOLATILE;
REVOKE EXECUTE ON FUNCTION privacy.run_retention(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.run_retention(bigint) TO privacy_admin;

-- Planner estimate of a policy's backlog: reveals table statistics, so not
-- for PUBLIC.
CREATE FUNCTION privacy.retention_backlog(policy bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privacy_retention_backlog'
	LANGUAGE C STRICT VOLATILE;
REVOKE EXECUTE ON FUNCTION privacy.retention_backlog(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.retention_backlog(bigint) TO privacy_admin, privacy_officer;

-- Why a policy cannot run (its table or age column is gone...), NULL when it
-- can: the status view shows it per policy instead of failing for all.
CREATE FUNCTION privacy.retention_problem(policy bigint) RETURNS text
	AS 'MODULE_PATHNAME', 'privacy_retention_problem'
	LANGUAGE C STRICT VOLATILE;
REVOKE EXECUTE ON FUNCTION privacy.retention_problem(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.retention_problem(bigint) TO privacy_admin, privacy_officer;

CREATE VIEW privacy.retention_policies AS
SELECT r.id AS policy, r.table_name, r.age_column, r.keep, r.action,
	   r.columns, r.created_at, r.created_by, r.cascade, r.time_zone, r.subjects
  FROM privacy.retention r;

CREATE VIEW privacy.retention_status AS
SELECT r.id AS policy, r.table_name, r.action, r.keep,
	   l.started AS last_started, l.finished AS last_finished, l.rows AS last_rows,
	   l.held AS last_held, l.error AS last_error,
	   s.cutoff IS NOT NULL AS in_progress, s.failures,
	   CASE WHEN s.failures OPERATOR(pg_catalog.>) 0 THEN s.next_try END AS next_retry,
	   CASE WHEN e.problem IS NULL THEN privacy.retention_backlog(r.id) END AS backlog_estimate,
	   l.blocked AS last_blocked, l.blocked_by, s.last_checked, e.problem AS error
  FROM privacy.retention r
  LEFT JOIN privacy.retention_state s ON s.policy OPERATOR(pg_catalog.=) r.id
  LEFT JOIN LATERAL (SELECT privacy.retention_problem(r.id) AS problem) e ON true
  LEFT JOIN LATERAL (SELECT * FROM privacy.retention_runs x
					  WHERE x.policy OPERATOR(pg_catalog.=) r.id
					  ORDER BY x.started DESC, x.id DESC LIMIT 1) l ON true;

GRANT SELECT ON privacy.retention_policies, privacy.retention_status,
	privacy.retention_runs TO privacy_admin, privacy_officer;

-- Wakes the retention launcher so that it re-checks at once the databases
-- it found without the extension (this one included); called below.
CREATE FUNCTION privacy._wake_launcher() RETURNS void
	AS 'MODULE_PATHNAME', 'privacy_wake_launcher'
	LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION privacy._wake_launcher() FROM PUBLIC;
SELECT privacy._wake_launcher();
