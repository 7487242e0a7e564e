-- The root keyring of the running server (issue #12): a key added to
-- privacy.root_key_file takes effect on reload (no restart); new data keys
-- are wrapped under the newest key, older ones keep reading; rotate_root_key
-- re-wraps online; privacy.root_keys says when the old key can be retired;
-- a version the keyring lacks is 'missing' and reads fail with 55000.
-- The harness's key file is restored (and every key re-wrapped under it)
-- at the end.
CREATE EXTENSION privacy;
\getenv work PRIVACY_WORK
\set ring :work/root.key
\! cp "$PRIVACY_WORK/root.key" "$PRIVACY_WORK/root.key.orig"
\! od -An -tx1 -v -N32 /dev/urandom | tr -d ' \n' > "$PRIVACY_WORK/regress_ring_new.key"
\! od -An -tx1 -v -N32 /dev/urandom | tr -d ' \n' > "$PRIVACY_WORK/regress_ring_stranger.key"
CREATE FUNCTION pg_temp.sqlstate(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;
-- wait until the postmaster re-read the keyring (pg_reload_conf returns at
-- once): n keys, and the given current version when not null
CREATE FUNCTION pg_temp.wait_keys(n int, cur text DEFAULT NULL) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. 300 LOOP
		IF (SELECT count(*) FROM privacy._root_keyring()) = n AND
		   (cur IS NULL OR (SELECT version FROM privacy._root_keyring() WHERE "position" = 1) = cur) THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN false;
END $$;
-- destroying a key flushes this backend's cache of unwrapped keys, so the
-- next read unwraps again with the keyring
CREATE FUNCTION pg_temp.flush() RETURNS void LANGUAGE sql AS $$
	SELECT privacy.destroy_key(privacy.create_key('regress_flush_' || pg_catalog.clock_timestamp())) $$;

-- one key; its version is a derived id, 16 hex characters, not part of the key
SELECT state, length(version) AS version_length, version ~ '^[0-9a-f]{16}$' AS hex
  FROM privacy.root_keys WHERE state <> 'missing';
SELECT position(version in pg_read_file(:'ring')) = 0 AS not_from_key FROM privacy.root_keys;
SELECT version AS v1 FROM privacy.root_keys WHERE state = 'current' \gset
SELECT privacy.create_key('ring_k1') AS k1 \gset
SELECT privacy.encrypt('under the first key', :k1) AS ct1 \gset
SELECT root_version = :'v1' AS under_v1 FROM privacy.keys WHERE id = :k1;
-- the view holds no material
SELECT count(*) FROM information_schema.columns
 WHERE table_schema = 'privacy' AND table_name = 'root_keys' AND column_name ~ 'key$|wrap|material';

-- add a key on top of the file and reload: no restart
\! (cat "$PRIVACY_WORK/regress_ring_new.key"; echo; echo '# the previous key, kept to unwrap'; cat "$PRIVACY_WORK/root.key.orig") > "$PRIVACY_WORK/root.key"
SELECT pg_reload_conf();
SELECT pg_temp.wait_keys(2);
SELECT version = :'v1' AS is_v1, state, can_retire FROM privacy.root_keys ORDER BY state;
SELECT version AS v2 FROM privacy.root_keys WHERE state = 'current' \gset
-- new keys under the new root key; keys under the old one still unwrap
SELECT privacy.create_key('ring_k2') AS k2 \gset
SELECT root_version = :'v2' AS under_v2 FROM privacy.keys WHERE id = :k2;
SELECT pg_temp.flush();
SELECT convert_from(privacy.decrypt(:'ct1', :k1), 'UTF8') AS old_key_reads;

-- invalid input: a file whose key is not the newest, a key the server does
-- not hold, a relative path, a missing file
SELECT pg_temp.sqlstate(format('SELECT privacy.rotate_root_key(%L)', :'work' || '/root.key.orig')) AS not_newest,
       pg_temp.sqlstate(format('SELECT privacy.rotate_root_key(%L)', :'work' || '/regress_ring_stranger.key')) AS not_in_ring,
       pg_temp.sqlstate($$SELECT privacy.rotate_root_key('relative.key')$$) AS relative,
       pg_temp.sqlstate(format('SELECT privacy.rotate_root_key(%L)', :'work' || '/nonexistent.key')) AS missing;

-- rotate: every key under the old version is re-wrapped (no data rewritten)
SELECT count(*) AS under_v1 FROM privacy.keys WHERE state = 'active' AND root_version = :'v1' \gset
SELECT privacy.rotate_root_key(:'work' || '/regress_ring_new.key') = :under_v1 AS rewrapped_all;
SELECT count(*) AS left_under_v1 FROM privacy.keys WHERE state = 'active' AND root_version = :'v1';
SELECT version = :'v1' AS is_v1, state, data_keys > 0 AS needed, can_retire FROM privacy.root_keys ORDER BY state;
SELECT privacy.rotate_root_key() AS nothing_left;
SELECT pg_temp.flush();
SELECT convert_from(privacy.decrypt(:'ct1', :k1), 'UTF8') AS after_rotation;
SELECT (detail ->> 'keys')::int = :under_v1 AS audited, detail ? 'version' AS names_version
  FROM privacy.audit_log WHERE action = 'rotate_root_key' ORDER BY seq LIMIT 1;

-- retire the old key
\! head -n 1 "$PRIVACY_WORK/root.key" > "$PRIVACY_WORK/root.key.tmp" && cat "$PRIVACY_WORK/root.key.tmp" > "$PRIVACY_WORK/root.key" && rm "$PRIVACY_WORK/root.key.tmp"
SELECT pg_reload_conf();
SELECT pg_temp.wait_keys(1);
SELECT version = :'v2' AS is_v2, state FROM privacy.root_keys;
SELECT pg_temp.flush();
SELECT convert_from(privacy.decrypt(:'ct1', :k1), 'UTF8') AS after_retiring;
-- the audit chain's key was re-wrapped with the others: the chain still
-- verifies and extends under the new root key alone
SELECT privacy.verify_audit() > 0 AS audit_after_retiring;
SELECT count(*) AS audit_keys_under_v2 FROM privacy.keys
 WHERE name = 'privacy:audit' AND state = 'active' AND root_version = :'v2';

-- a keyring that lacks a version the data needs: 'missing', 55000 (the
-- backend also re-read the file on demand before giving up)
\! cat "$PRIVACY_WORK/root.key.orig" > "$PRIVACY_WORK/root.key"
SELECT pg_reload_conf();
SELECT pg_temp.wait_keys(1, :'v1');
SELECT version = :'v2' AS is_v2, state, data_keys > 0 AS needed FROM privacy.root_keys ORDER BY state;
SELECT pg_temp.flush();
\set VERBOSITY sqlstate
SELECT privacy.decrypt(:'ct1', :k1);
\set VERBOSITY default
-- (and rotation, which appends to the audit log, cannot run either)
SELECT pg_temp.sqlstate('SELECT privacy.rotate_root_key()') AS rotation_leaves_them;
-- nor can the audit chain, keyed under the missing version, be verified or
-- extended: 55000, never a silent fallback to a weaker key
SELECT pg_temp.sqlstate('SELECT privacy.verify_audit()') AS audit_needs_its_key,
       pg_temp.sqlstate('SELECT privacy.create_key(''ring_k3'')') AS append_needs_its_key;

-- back to the harness's key: both keys, rotate, then the original alone
\! (cat "$PRIVACY_WORK/root.key.orig"; echo; cat "$PRIVACY_WORK/regress_ring_new.key") > "$PRIVACY_WORK/root.key"
SELECT pg_reload_conf();
SELECT pg_temp.wait_keys(2);
SELECT privacy.rotate_root_key() > 0 AS rewrapped_back;
\! cat "$PRIVACY_WORK/root.key.orig" > "$PRIVACY_WORK/root.key"
SELECT pg_reload_conf();
SELECT pg_temp.wait_keys(1);
SELECT version = :'v1' AS is_v1, state, can_retire FROM privacy.root_keys;
SELECT pg_temp.flush();
SELECT convert_from(privacy.decrypt(:'ct1', :k1), 'UTF8') AS back_to_start;

-- privileges: the view is for privacy_admin; naming a key file needs
-- pg_read_server_files, rotating to the keyring's newest key does not
CREATE ROLE regress_ring_admin IN ROLE privacy_admin;
CREATE ROLE regress_ring_nobody;
SET ROLE regress_ring_nobody;
SELECT pg_temp.sqlstate('SELECT * FROM privacy.root_keys') AS nobody_view,
       pg_temp.sqlstate('SELECT privacy.rotate_root_key()') AS nobody_rotate,
       pg_temp.sqlstate('SELECT * FROM privacy._root_keyring()') AS nobody_ring;
SET ROLE regress_ring_admin;
SELECT count(*) AS admin_sees FROM privacy.root_keys WHERE state = 'current';
SELECT privacy.rotate_root_key() AS admin_rotates;
SELECT pg_temp.sqlstate(format('SELECT privacy.rotate_root_key(%L)', :'work' || '/root.key.orig')) AS admin_names_file;
RESET ROLE;

\! rm -f "$PRIVACY_WORK/root.key.orig" "$PRIVACY_WORK/regress_ring_new.key" "$PRIVACY_WORK/regress_ring_stranger.key"
DROP EXTENSION privacy CASCADE;
DROP ROLE regress_ring_admin, regress_ring_nobody;
