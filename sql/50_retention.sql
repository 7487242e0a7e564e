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
	last_error	text
);

ALTER TABLE privacy.retention_runs
	ADD COLUMN held bigint NOT NULL DEFAULT 0,			-- rows skipped: legal hold
	ADD COLUMN batches int NOT NULL DEFAULT 0,
	ADD COLUMN longest_batch_ms double precision NOT NULL DEFAULT 0;

REVOKE ALL ON privacy.retention_state FROM PUBLIC;

-- Keyed pseudonym behind the 'hash' strategy (erasure and retention).
-- Executable by everyone because erase's UPDATE runs as the table's owner,
-- but the C code refuses to compute anything outside erasure and retention:
-- an oracle would let anyone test guesses against stored pseudonyms.
CREATE FUNCTION privacy.pseudonym(value text) RETURNS text
	AS 'MODULE_PATHNAME', 'privacy_pseudonym'
	LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

-- Executable by everyone: the C code lets only the table's owner or a member
-- of privacy_admin add or drop a policy (42501 otherwise).
CREATE FUNCTION privacy.add_retention(tbl regclass, age_column name, keep interval,
									  action text DEFAULT 'delete', columns name[] DEFAULT NULL)
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

CREATE VIEW privacy.retention_policies AS
SELECT r.id AS policy, r.table_name, r.age_column, r.keep, r.action,
	   r.columns, r.created_at, r.created_by
  FROM privacy.retention r;

CREATE VIEW privacy.retention_status AS
SELECT r.id AS policy, r.table_name, r.action, r.keep,
	   l.started AS last_started, l.finished AS last_finished, l.rows AS last_rows,
	   l.held AS last_held, l.error AS last_error,
	   s.cutoff IS NOT NULL AS in_progress, s.failures,
	   CASE WHEN s.failures OPERATOR(pg_catalog.>) 0 THEN s.next_try END AS next_retry,
	   CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_class c
						  WHERE c.oid OPERATOR(pg_catalog.=) r.table_name::pg_catalog.oid)
			THEN privacy.retention_backlog(r.id) END AS backlog_estimate
  FROM privacy.retention r
  LEFT JOIN privacy.retention_state s ON s.policy OPERATOR(pg_catalog.=) r.id
  LEFT JOIN LATERAL (SELECT * FROM privacy.retention_runs x
					  WHERE x.policy OPERATOR(pg_catalog.=) r.id
					  ORDER BY x.started DESC, x.id DESC LIMIT 1) l ON true;

GRANT SELECT ON privacy.retention_policies, privacy.retention_status,
	privacy.retention_runs TO privacy_admin, privacy_officer;
