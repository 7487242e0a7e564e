-- Mastodon's schema (db/schema.rb, reduced to 23 tables with its real
-- foreign keys and ON DELETE actions), erased account by account and
-- checked against an independent computation: the subject's rows of every
-- table by a fixed-point walk over pg_constraint (cycles and self-references
-- followed, no edge out of the root), and every receipt against the rows
-- that really disappeared or changed.
-- The defect it found: users.invite_id -> invites is ON DELETE SET NULL and
-- invites.user_id -> users, so a user who signed up with the erased user's
-- invite is the subject's row (shared) through a key of a cycle; the erasure
-- deleted the invites first, PostgreSQL set that user's invite_id NULL, and
-- the DELETE of users no longer found the row: it stayed, changed and
-- uncounted, its login activities gone, while the dry run counted it
-- deleted.  Such a cycle is now deleted by one statement.
CREATE EXTENSION privacy;
CREATE TABLE accounts (id bigint PRIMARY KEY, username varchar NOT NULL, display_name varchar NOT NULL DEFAULT '',
	moved_to_account_id bigint REFERENCES accounts ON DELETE SET NULL);
CREATE TABLE users (id bigint PRIMARY KEY, email varchar NOT NULL UNIQUE,
	account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE, invite_id bigint,
	created_by_application_id bigint, sign_up_ip inet);
CREATE TABLE invites (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	code varchar NOT NULL UNIQUE);
ALTER TABLE users ADD FOREIGN KEY (invite_id) REFERENCES invites ON DELETE SET NULL;
CREATE TABLE oauth_applications (id bigint PRIMARY KEY, name varchar NOT NULL,
	owner_id bigint REFERENCES users ON DELETE CASCADE);
ALTER TABLE users ADD FOREIGN KEY (created_by_application_id) REFERENCES oauth_applications ON DELETE SET NULL;
CREATE TABLE oauth_access_tokens (id bigint PRIMARY KEY, resource_owner_id bigint REFERENCES users ON DELETE CASCADE,
	application_id bigint REFERENCES oauth_applications ON DELETE CASCADE);
CREATE TABLE session_activations (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	access_token_id bigint REFERENCES oauth_access_tokens ON DELETE CASCADE, ip inet);
CREATE TABLE login_activities (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE, ip inet);
CREATE TABLE statuses (id bigint PRIMARY KEY, text text NOT NULL DEFAULT '',
	in_reply_to_id bigint REFERENCES statuses ON DELETE SET NULL,
	reblog_of_id bigint REFERENCES statuses ON DELETE CASCADE,
	account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
	in_reply_to_account_id bigint REFERENCES accounts ON DELETE SET NULL);
CREATE TABLE status_stats (id bigint PRIMARY KEY, status_id bigint NOT NULL UNIQUE REFERENCES statuses ON DELETE CASCADE);
CREATE TABLE favourites (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
	status_id bigint NOT NULL REFERENCES statuses ON DELETE CASCADE, UNIQUE (account_id, status_id));
CREATE TABLE mentions (id bigint PRIMARY KEY, status_id bigint REFERENCES statuses ON DELETE CASCADE,
	account_id bigint REFERENCES accounts ON DELETE CASCADE);
CREATE TABLE media_attachments (id bigint PRIMARY KEY, status_id bigint REFERENCES statuses ON DELETE SET NULL,
	account_id bigint REFERENCES accounts ON DELETE SET NULL, description text);
CREATE TABLE polls (id bigint PRIMARY KEY, account_id bigint REFERENCES accounts ON DELETE CASCADE,
	status_id bigint REFERENCES statuses ON DELETE CASCADE);
CREATE TABLE poll_votes (id bigint PRIMARY KEY, account_id bigint REFERENCES accounts ON DELETE CASCADE,
	poll_id bigint REFERENCES polls ON DELETE CASCADE, choice int NOT NULL);
CREATE TABLE tags (id bigint PRIMARY KEY, name varchar NOT NULL UNIQUE);
CREATE TABLE statuses_tags (status_id bigint NOT NULL REFERENCES statuses ON DELETE CASCADE,
	tag_id bigint NOT NULL REFERENCES tags ON DELETE CASCADE, PRIMARY KEY (tag_id, status_id));
CREATE TABLE follows (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
	target_account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE);
CREATE TABLE lists (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE, title varchar NOT NULL);
CREATE TABLE list_accounts (id bigint PRIMARY KEY, list_id bigint NOT NULL REFERENCES lists ON DELETE CASCADE,
	account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE, follow_id bigint REFERENCES follows ON DELETE CASCADE);
CREATE TABLE reports (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
	target_account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
	assigned_account_id bigint REFERENCES accounts ON DELETE SET NULL);
CREATE TABLE report_notes (id bigint PRIMARY KEY, report_id bigint NOT NULL REFERENCES reports ON DELETE CASCADE,
	account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE);
CREATE TABLE accounts_tags (account_id bigint NOT NULL, tag_id bigint NOT NULL, PRIMARY KEY (tag_id, account_id));

-- eight accounts; account 8 moved to 7; users 6 and 7 signed up with an
-- invite of user 1, user 8 with one of user 2; user 5 was created by user 3's app
INSERT INTO accounts SELECT g, 'u' || g, 'User ' || g, CASE WHEN g = 8 THEN 7 END FROM generate_series(1, 8) g;
INSERT INTO users SELECT g, 'u' || g || '@example.org', g, NULL, NULL, ('10.0.0.' || g)::inet FROM generate_series(1, 8) g;
INSERT INTO invites VALUES (1, 1, 'aaa'), (2, 2, 'bbb');
UPDATE users SET invite_id = 1 WHERE id IN (6, 7);
UPDATE users SET invite_id = 2 WHERE id = 8;
INSERT INTO oauth_applications VALUES (1, 'app of 3', 3);
UPDATE users SET created_by_application_id = 1 WHERE id = 5;
INSERT INTO oauth_access_tokens SELECT g, 1 + g % 8, CASE WHEN g % 3 = 0 THEN 1 END FROM generate_series(1, 16) g;
INSERT INTO session_activations SELECT g, 1 + g % 8, g, ('10.1.0.' || g)::inet FROM generate_series(1, 16) g;
INSERT INTO login_activities SELECT g, 1 + g % 8, ('10.2.0.' || g)::inet FROM generate_series(1, 24) g;
INSERT INTO statuses (id, text, account_id) SELECT g, 'post ' || g, 1 + g % 8 FROM generate_series(1, 40) g;
-- replies to another account's status, reblogs of another account's status
UPDATE statuses s SET in_reply_to_id = s.id - 3, in_reply_to_account_id = 1 + (s.id - 3) % 8 WHERE s.id % 4 = 0;
INSERT INTO statuses (id, account_id, reblog_of_id) SELECT 40 + g, 1 + (g * 3) % 8, g * 2 FROM generate_series(1, 10) g;
INSERT INTO status_stats SELECT g, g FROM generate_series(1, 40) g;
INSERT INTO favourites SELECT g, 1 + (g * 5) % 8, 1 + (g * 7) % 40 FROM generate_series(1, 48) g ON CONFLICT DO NOTHING;
INSERT INTO mentions SELECT g, 1 + (g * 11) % 40, 1 + g % 8 FROM generate_series(1, 20) g;
INSERT INTO media_attachments SELECT g, g * 3, 1 + (g * 3) % 8, 'image ' || g FROM generate_series(1, 12) g;
INSERT INTO polls SELECT g, 1 + (g * 5) % 8, g * 5 FROM generate_series(1, 6) g;
INSERT INTO poll_votes SELECT g, 1 + g % 8, 1 + g % 6, g % 2 FROM generate_series(1, 18) g;
INSERT INTO tags SELECT g, 'tag' || g FROM generate_series(1, 5) g;
INSERT INTO statuses_tags SELECT 1 + (g * 13) % 40, 1 + g % 5 FROM generate_series(1, 30) g ON CONFLICT DO NOTHING;
INSERT INTO follows SELECT g, 1 + g % 8, 1 + (g * 3 + 1) % 8 FROM generate_series(1, 24) g WHERE g % 8 <> (g * 3 + 1) % 8;
INSERT INTO lists SELECT g, g, 'list ' || g FROM generate_series(1, 4) g;
INSERT INTO list_accounts SELECT f.id, f.account_id, f.target_account_id, f.id FROM follows f WHERE f.account_id <= 4;
INSERT INTO reports SELECT g, 1 + g % 8, 1 + (g + 3) % 8, CASE WHEN g % 2 = 0 THEN 2 END FROM generate_series(1, 8) g;
INSERT INTO report_notes SELECT g, 1 + g % 8, 2 FROM generate_series(1, 4) g;
INSERT INTO accounts_tags SELECT 1 + g % 8, 1 + g % 5 FROM generate_series(1, 16) g ON CONFLICT DO NOTHING;

SELECT privacy.define_subject('account', 'accounts');
SELECT privacy.link('account', 'accounts_tags', 'account_id');
SELECT count(*) AS mapped_tables FROM privacy.subject_tables WHERE subject = 'account';

-- the independent walk: rows (tableoid, ctid) of one account, to a fixed point
CREATE TABLE rw_rows (tbl regclass, tid text, PRIMARY KEY (tbl, tid));
CREATE FUNCTION rw_walk(id bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE e record; cond text; n bigint; grown bigint;
BEGIN
	TRUNCATE rw_rows;
	INSERT INTO rw_rows SELECT 'accounts', ctid::text FROM accounts WHERE accounts.id = rw_walk.id;
	INSERT INTO rw_rows SELECT 'accounts_tags', ctid::text FROM accounts_tags WHERE account_id = rw_walk.id;
	LOOP
		grown := 0;
		FOR e IN SELECT c.conrelid::regclass AS child, c.confrelid::regclass AS parent, c.conkey, c.confkey
			FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
			WHERE c.contype = 'f' AND r.relnamespace = 'public'::regnamespace AND c.conrelid <> 'accounts'::regclass
		LOOP
			SELECT string_agg(format('c.%I = p.%I', ca.attname, pa.attname), ' AND ') INTO cond
			  FROM unnest(e.conkey, e.confkey) k(ck, pk)
			  JOIN pg_attribute ca ON ca.attrelid = e.child AND ca.attnum = k.ck
			  JOIN pg_attribute pa ON pa.attrelid = e.parent AND pa.attnum = k.pk;
			EXECUTE format('INSERT INTO rw_rows SELECT %L::regclass, c.ctid::text FROM %s c WHERE EXISTS (SELECT 1 FROM %s p'
				' WHERE %s AND p.ctid::text IN (SELECT tid FROM rw_rows WHERE tbl = %L::regclass)) ON CONFLICT DO NOTHING',
				e.child, e.child, e.parent, cond, e.parent);
			GET DIAGNOSTICS n = ROW_COUNT;
			grown := grown + n;
		END LOOP;
		EXIT WHEN grown = 0;
	END LOOP;
END $$;
-- every table's rows as a multiset of row hashes
CREATE TABLE rw_snap (tag text, tbl regclass, h text);
CREATE FUNCTION rw_snapshot(tag text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE t regclass;
BEGIN
	FOR t IN SELECT oid::regclass FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace
		AND relname NOT LIKE 'rw\_%' LOOP
		EXECUTE format('INSERT INTO rw_snap SELECT %L, %L, md5(x::text) FROM %s x', tag, t, t);
	END LOOP;
END $$;
-- per table: the walk's rows, the receipt, the dry run, what disappeared and what changed
CREATE FUNCTION rw_check(id bigint, shared text)
RETURNS TABLE (tbl text, walk bigint, deleted bigint, changed_rows bigint, removed bigint, changed bigint, dry_same boolean)
LANGUAGE plpgsql AS $$
DECLARE d jsonb; r jsonb;
BEGIN
	PERFORM rw_walk(id);
	d := privacy.erase('account', id::text, dry_run => true, shared => shared) -> 'tables';
	DELETE FROM rw_snap;
	PERFORM rw_snapshot('before');
	r := privacy.erase('account', id::text, shared => shared) -> 'tables';
	PERFORM rw_snapshot('after');
	RETURN QUERY
	WITH b AS (SELECT s.tbl, s.h, count(*) n FROM rw_snap s WHERE tag = 'before' GROUP BY 1, 2),
	     a AS (SELECT s.tbl, s.h, count(*) n FROM rw_snap s WHERE tag = 'after' GROUP BY 1, 2),
	     df AS (SELECT coalesce(a.tbl, b.tbl) t,
			sum(greatest(coalesce(b.n, 0) - coalesce(a.n, 0), 0)) - sum(greatest(coalesce(a.n, 0) - coalesce(b.n, 0), 0)) rem,
			sum(greatest(coalesce(a.n, 0) - coalesce(b.n, 0), 0)) chg
		FROM a FULL JOIN b ON a.tbl = b.tbl AND a.h = b.h GROUP BY 1),
	     w AS (SELECT x.tbl t, count(*) n FROM rw_rows x GROUP BY 1)
	SELECT k, w.n, (v ->> 'deleted')::bigint,
		(v ->> 'anonymized')::bigint + coalesce((v ->> 'detached')::bigint, 0),
		df.rem::bigint, df.chg::bigint, d -> k = v
	  FROM jsonb_each(r) e(k, v) LEFT JOIN w ON 'public.' || w.t::text = k
	  LEFT JOIN df ON 'public.' || df.t::text = k;
END $$;
-- the rows of every account: access against the walk (no line: all equal)
CREATE FUNCTION rw_access_diff() RETURNS TABLE (id bigint, tbl text, walk bigint, access bigint)
LANGUAGE plpgsql AS $$
DECLARE i bigint;
BEGIN
	FOR i IN 1..8 LOOP
		PERFORM rw_walk(i::bigint);
		RETURN QUERY
		WITH w AS (SELECT 'public.' || x.tbl::text t, count(*) n FROM rw_rows x GROUP BY 1),
		     p AS (SELECT k t, jsonb_array_length(v)::bigint n FROM jsonb_each(privacy.access('account', i::text) -> 'data') e(k, v))
		SELECT i::bigint, coalesce(w.t, p.t), w.n, p.n FROM w FULL JOIN p ON w.t = p.t WHERE w.n IS DISTINCT FROM p.n;
	END LOOP;
END $$;
SELECT * FROM rw_access_diff();

-- account 1: users 6 and 7 used its invite (shared rows of users)
BEGIN;
SELECT * FROM rw_check(1, 'delete') ORDER BY 1;
ROLLBACK;
-- with shared => 'keep' their rows stay, detached; other accounts' favourites of
-- its statuses (NOT NULL ON DELETE CASCADE) go with them (23503 before 46b_shared_keep)
BEGIN;
SELECT * FROM rw_check(1, 'keep') ORDER BY 1;
ROLLBACK;
-- every account, each erasure rolled back: the receipt counts what disappeared
-- and changed, the walk's rows are gone, the dry run agrees (no line: all hold)
CREATE FUNCTION rw_all() RETURNS TABLE (account bigint, tbl text, walk bigint, deleted bigint, removed bigint, dry_same boolean)
LANGUAGE plpgsql AS $$
DECLARE i bigint;
BEGIN
	FOR i IN 1..8 LOOP
		BEGIN
			RETURN QUERY SELECT i::bigint, c.tbl, c.walk, c.deleted, c.removed, c.dry_same FROM rw_check(i::bigint, 'delete') c
			 WHERE c.deleted IS DISTINCT FROM c.removed OR c.changed_rows < c.changed
			    OR c.removed < coalesce(c.walk, 0) OR NOT c.dry_same;
			RAISE EXCEPTION USING ERRCODE = 'P0001';
		EXCEPTION WHEN SQLSTATE 'P0001' THEN NULL;
		END;
	END LOOP;
END $$;
SELECT * FROM rw_all();
SELECT count(*) AS accounts FROM accounts;

-- the cycle users <-> invites across two owners cannot be one statement: refused before anything changes
CREATE ROLE regress_rw_owner;
GRANT USAGE ON SCHEMA privacy TO regress_rw_owner;
ALTER TABLE invites OWNER TO regress_rw_owner;
SELECT privacy.erase('account', '1', dry_run => true);
SELECT count(*) AS users_left FROM users;
ALTER TABLE invites OWNER TO CURRENT_USER;
REVOKE USAGE ON SCHEMA privacy FROM regress_rw_owner;
DROP ROLE regress_rw_owner;

SELECT privacy.drop_subject('account');
DROP FUNCTION rw_all(), rw_access_diff(), rw_check(bigint, text), rw_snapshot(text), rw_walk(bigint);
DROP TABLE rw_rows, rw_snap, accounts_tags, report_notes, reports, list_accounts, lists, follows,
	statuses_tags, tags, poll_votes, polls, media_attachments, mentions, favourites, status_stats,
	login_activities, session_activations, oauth_access_tokens, invites, users, oauth_applications,
	statuses, accounts CASCADE;
DROP EXTENSION privacy;
