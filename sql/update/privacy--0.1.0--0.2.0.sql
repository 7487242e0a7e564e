
---------------------------------------------------------------------------
-- retention (issue 11; issue 10 item 1): dependents and blocked rows, time
-- zones, policies that follow renames, runtime state created on demand,
-- idle passes without records, the status view's per-policy error.
---------------------------------------------------------------------------
ALTER TABLE privacy.retention_state
	ADD COLUMN last_checked timestamptz;
ALTER TABLE privacy.retention_runs
	ADD COLUMN blocked bigint NOT NULL DEFAULT 0,
	ADD COLUMN blocked_by text;
ALTER TABLE privacy.retention
	ADD COLUMN age_attnum smallint,
	ADD COLUMN cascade boolean NOT NULL DEFAULT true,
	ADD COLUMN time_zone text;
UPDATE privacy.retention r SET age_attnum = a.attnum
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid OPERATOR(pg_catalog.=) r.table_name::pg_catalog.oid
   AND a.attname OPERATOR(pg_catalog.=) r.age_column AND NOT a.attisdropped;
-- pseudonyms carry a keyed tag (issue 10 item 1): values written by 0.1.0
-- are not recognized and are pseudonymized once more
CREATE FUNCTION privacy.pseudonym(value text, len integer) RETURNS text
	AS 'MODULE_PATHNAME', 'privacy_pseudonym'
	LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION privacy.is_pseudonym(value text, len integer) RETURNS boolean
	AS 'MODULE_PATHNAME', 'privacy_is_pseudonym'
	LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
DROP FUNCTION privacy.add_retention(regclass, name, interval, text, name[]);
CREATE FUNCTION privacy.add_retention(tbl regclass, age_column name, keep interval,
									  action text DEFAULT 'delete', columns name[] DEFAULT NULL,
									  cascade boolean DEFAULT true, time_zone text DEFAULT NULL)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'privacy_add_retention'
	LANGUAGE C VOLATILE;

-- Why a policy cannot run (its table or age column is gone...), NULL when it
-- can: the status view shows it per policy instead of failing for all.
CREATE FUNCTION privacy.retention_problem(policy bigint) RETURNS text
	AS 'MODULE_PATHNAME', 'privacy_retention_problem'
	LANGUAGE C STRICT VOLATILE;
REVOKE EXECUTE ON FUNCTION privacy.retention_problem(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.retention_problem(bigint) TO privacy_admin, privacy_officer;

CREATE OR REPLACE VIEW privacy.retention_policies AS
SELECT r.id AS policy, r.table_name, r.age_column, r.keep, r.action,
	   r.columns, r.created_at, r.created_by, r.cascade, r.time_zone
  FROM privacy.retention r;

CREATE OR REPLACE VIEW privacy.retention_status AS
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

-- Wakes the retention launcher so that it re-checks at once the databases
-- it found without the extension (this one included).
CREATE FUNCTION privacy._wake_launcher() RETURNS void
	AS 'MODULE_PATHNAME', 'privacy_wake_launcher'
	LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION privacy._wake_launcher() FROM PUBLIC;
