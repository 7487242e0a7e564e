---------------------------------------------------------------------------
-- Erasure, holds, restriction, consent, erasure ledger (src/erase.c,
-- src/rights.c)
---------------------------------------------------------------------------

-- All of these read or change personal data: EXECUTE is revoked from PUBLIC
-- and granted to privacy_officer.  They run as the extension owner to use
-- the catalog and act on each table as that table's owner, in a
-- security-restricted context (user triggers never run as superuser).
-- shared: 'delete' (rows that also reach another subject go with this one)
-- or 'keep' (they stay, detached from the erased rows).
CREATE FUNCTION privacy.erase(subject text, id text, reason text DEFAULT NULL, dry_run boolean DEFAULT false,
	shared text DEFAULT 'delete')
RETURNS jsonb AS 'MODULE_PATHNAME', 'privacy_erase'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION privacy.hold(subject text, id text, reason text, until timestamptz DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'privacy_hold'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION privacy.release_hold(subject text, id text)
RETURNS void AS 'MODULE_PATHNAME', 'privacy_release_hold'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION privacy.restrict(subject text, id text, reason text)
RETURNS void AS 'MODULE_PATHNAME', 'privacy_restrict'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION privacy.unrestrict(subject text, id text)
RETURNS void AS 'MODULE_PATHNAME', 'privacy_unrestrict'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION privacy.is_restricted(subject text, id text)
RETURNS boolean AS 'MODULE_PATHNAME', 'privacy_is_restricted'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Used by the row-level security policies of protect(), which run as the
-- querying role.  Not an oracle: it takes a row (its table, partition and
-- ctid), never a key, answers only a caller that may read that table
-- (42501 otherwise), and follows the row's path to the root as the table's
-- owner, so readers need no right on the tables in between.  Not SECURITY
-- DEFINER: the C code checks the caller, then switches (src/guard.c).
CREATE FUNCTION privacy._restricted(subject text, tbl regclass, part oid, "row" tid)
RETURNS boolean AS 'MODULE_PATHNAME', 'privacy_restricted_key'
LANGUAGE C STABLE;

CREATE FUNCTION privacy.protect(tbl regclass, force boolean DEFAULT false)
RETURNS void AS 'MODULE_PATHNAME', 'privacy_protect'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION privacy.unprotect(tbl regclass)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	on_citus boolean;
	nsp name;
	rel name;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'argument "tbl" must not be null' USING ERRCODE = '22023';
	END IF;
	SELECT p.polpermissive INTO on_citus FROM pg_catalog.pg_policy p
	 WHERE p.polrelid OPERATOR(pg_catalog.=) tbl AND p.polname OPERATOR(pg_catalog.=) 'privacy_restricted';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % is not protected', tbl USING ERRCODE = '42704';
	END IF;
	EXECUTE pg_catalog.format('DROP POLICY privacy_restricted ON %s', tbl);
	-- protected as a distributed table (one permissive policy): what the
	-- shards knew of it goes too, and row security if nothing else uses it
	IF on_citus THEN
		SELECT n.nspname, r.relname INTO nsp, rel
		  FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) r.relnamespace
		 WHERE r.oid OPERATOR(pg_catalog.=) tbl;
		DELETE FROM privacy.citus_protected c
		 WHERE c.nspname OPERATOR(pg_catalog.=) nsp AND c.relname OPERATOR(pg_catalog.=) rel;
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_policy p WHERE p.polrelid OPERATOR(pg_catalog.=) tbl) THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY', tbl);
		END IF;
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.pg_policy p WHERE p.polrelid = tbl AND p.polname = 'privacy_allow')
	   AND (SELECT pg_catalog.count(*) FROM pg_catalog.pg_policy p WHERE p.polrelid = tbl) = 1 THEN
		EXECUTE pg_catalog.format('DROP POLICY privacy_allow ON %s', tbl);
		EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY', tbl);
	END IF;
	PERFORM privacy._audit('unprotect', NULL, pg_catalog.jsonb_build_object('table', tbl::text));
END
$$;

CREATE FUNCTION privacy.set_consent(subject text, id text, purpose text, granted boolean, source text DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'privacy_set_consent'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION privacy.has_consent(subject text, id text, purpose text)
RETURNS boolean AS 'MODULE_PATHNAME', 'privacy_has_consent'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION privacy.erasure_ledger(since timestamptz DEFAULT NULL)
RETURNS jsonb AS 'MODULE_PATHNAME', 'privacy_erasure_ledger'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION privacy.replay_erasures(ledger jsonb)
RETURNS jsonb AS 'MODULE_PATHNAME', 'privacy_replay_erasures'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Retention's hold filter runs as the table's owner and asks these with
-- the pseudonym scope's token (src/guard.c): 42501 without it (no oracle of
-- who is held).  _held_keys: the held keys of a subject type, for a shared
-- (outbound) row, held when ANY subject it belongs to is.
CREATE FUNCTION privacy._held(subject text, key text, scope text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'privacy_held'
	LANGUAGE C VOLATILE;
CREATE FUNCTION privacy._held_keys(subject text, scope text) RETURNS SETOF text
	AS 'MODULE_PATHNAME', 'privacy_held_keys'
	LANGUAGE C VOLATILE ROWS 10;

-- The trigger link() installs on linked tables.
CREATE FUNCTION privacy._link_lock() RETURNS trigger
AS 'MODULE_PATHNAME', 'privacy_link_lock' LANGUAGE C;
-- The key of a value in link()'s lock, as the trigger computes it (the
-- type's hash function): erase's side.  A hash of a value the caller
-- passes, not data: erase's statement runs as a table's owner.
CREATE FUNCTION privacy._link_key_hash(anyelement) RETURNS integer
AS 'MODULE_PATHNAME', 'privacy_link_key_hash' LANGUAGE C STABLE STRICT PARALLEL SAFE;
-- The subject's key as a link column's type, or NULL when it has no value
-- of that type (too large, not of that syntax, not a whole number): a key
-- that cannot be in the column matches none of its rows, where a cast would
-- fail the whole call.  A cast, not data.
CREATE FUNCTION privacy._link_key(target anyelement, key "any") RETURNS anyelement
AS 'MODULE_PATHNAME', 'privacy_link_key' LANGUAGE C STABLE PARALLEL SAFE;
-- The mark of the extension's statements on a Citus table: true, folded
-- away by the planner, but kept by Citus in the text it sends, so that a
-- worker's log hook knows the statement as ours (no parameters, no
-- detail of others' errors in the worker's log).  C, not SQL: the planner
-- evaluates an immutable call with constant arguments by running it, and
-- an SQL function is parsed and planned anew each time (5 % of a routed
-- access on Citus, on the coordinator and again on the worker).
CREATE FUNCTION privacy._quiet() RETURNS boolean
AS 'MODULE_PATHNAME', 'privacy_quiet' LANGUAGE C IMMUTABLE PARALLEL SAFE;
-- On a Citus distributed table, the trigger lives on every shard; Citus
-- drops it there too, but only with citus.enable_unsafe_triggers on, set
-- for unlink()'s DROP TRIGGER alone (a placeholder without Citus).
ALTER FUNCTION privacy._drop_link_trigger(text, regclass) SET citus.enable_unsafe_triggers = on;

CREATE VIEW privacy.active_holds AS
SELECT h.id, h.subject, h.subject_ref, h.reason, h.placed_at, h.until
  FROM privacy.holds h
 WHERE h.released_at IS NULL AND (h.until IS NULL OR h.until > pg_catalog.now());

CREATE VIEW privacy.consent_history AS
SELECT e.id, e.subject, e.subject_ref, e.purpose, e.granted, e.source, e.at FROM privacy.consent_events e;

-- Consent history is append-only.
CREATE FUNCTION privacy._append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'privacy.% is append-only', TG_TABLE_NAME USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON privacy.consent_events
	FOR EACH ROW EXECUTE FUNCTION privacy._append_only();

REVOKE ALL ON FUNCTION privacy.erase(text, text, text, boolean, text), privacy.hold(text, text, text, timestamptz),
	privacy.release_hold(text, text), privacy.restrict(text, text, text), privacy.unrestrict(text, text),
	privacy.is_restricted(text, text), privacy.protect(regclass, boolean), privacy.unprotect(regclass),
	privacy.set_consent(text, text, text, boolean, text), privacy.has_consent(text, text, text),
	privacy.erasure_ledger(timestamptz), privacy.replay_erasures(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.erase(text, text, text, boolean, text), privacy.hold(text, text, text, timestamptz),
	privacy.release_hold(text, text), privacy.restrict(text, text, text), privacy.unrestrict(text, text),
	privacy.is_restricted(text, text), privacy.set_consent(text, text, text, boolean, text),
	privacy.has_consent(text, text, text), privacy.erasure_ledger(timestamptz),
	privacy.replay_erasures(jsonb) TO privacy_officer;
GRANT EXECUTE ON FUNCTION privacy.protect(regclass, boolean), privacy.unprotect(regclass) TO privacy_admin;
GRANT SELECT ON privacy.active_holds, privacy.consent_history TO privacy_officer, privacy_admin;
