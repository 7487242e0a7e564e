-- A schema in the shape of Supabase's (a reduced, hand-written excerpt of
-- supabase/auth migrations/*.up.sql and supabase/storage
-- migrations/tenant/*.sql, with an application's tables in public): uuid
-- keys; auth.refresh_tokens.user_id varchar(255) holding the user's uuid
-- with no foreign key (linked), its session_id -> sessions ON DELETE
-- CASCADE; identities with a composite unique key; mfa_factors ->
-- mfa_challenges; one_time_tokens (timestamp without time zone);
-- flow_state.user_id without a foreign key (linked) <- saml_relay_states;
-- storage.objects with owner uuid and owner_id text (both linked) and
-- Supabase's statement trigger that refuses direct deletes; every schema
-- owned by its own role, as Supabase does (supabase_auth_admin,
-- supabase_storage_admin). Checked against an independent walk of
-- pg_constraint, the rights called by a role that owns none of the tables.
-- The defects it found:
-- - discover() demoted auth.users.phone to 0.3 ("values do not bear the
--   name out"): Supabase Auth keeps phone numbers as E.164 without the '+'
--   ('4915112345678'), which no value detector took;
-- - discover() counted the '' that Supabase Auth writes into unused
--   columns (phone_change, email_change) as values that disprove the name;
-- - discover() and apply_discovery() over the data map silently left out
--   the tables the caller cannot read, and Supabase enables row security on
--   every auth table: a role that owns none of them got no proposal at all
--   and no word why (now a WARNING with the counts);
-- - erase's dry run said keys_shredded 0 where the erasure shreds the
--   subject's key (encrypt_column per subject): the dry run's receipt is
--   the erasure's.
SET client_min_messages = warning;
CREATE EXTENSION privacy;
CREATE ROLE regress_sb_auth;
CREATE ROLE regress_sb_storage;
CREATE ROLE regress_sb_app;
CREATE ROLE regress_sb_dpo IN ROLE privacy_admin, privacy_officer;
CREATE SCHEMA sb_auth AUTHORIZATION regress_sb_auth;
CREATE SCHEMA sb_storage AUTHORIZATION regress_sb_storage;
GRANT USAGE ON SCHEMA sb_auth, sb_storage TO regress_sb_dpo;

CREATE TABLE sb_auth.users (
	instance_id uuid NULL,
	id uuid NOT NULL UNIQUE,
	aud varchar(255) NULL,
	"role" varchar(255) NULL,
	email varchar(255) NULL,
	encrypted_password varchar(255) NULL,
	email_confirmed_at timestamptz NULL,
	confirmation_token varchar(255) NULL,
	email_change_token_new varchar(255) NULL,
	email_change varchar(255) NULL,
	raw_user_meta_data jsonb NULL,
	created_at timestamptz NULL,
	phone text NULL UNIQUE DEFAULT NULL::character varying,
	phone_change text NULL DEFAULT ''::character varying,
	is_anonymous boolean NOT NULL DEFAULT false,
	CONSTRAINT users_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX sb_users_email_partial_key ON sb_auth.users (email) WHERE is_anonymous = false;
CREATE UNIQUE INDEX sb_confirmation_token_idx ON sb_auth.users (confirmation_token) WHERE confirmation_token !~ '^[0-9 ]*$';
CREATE TABLE sb_auth.sessions (
	id uuid NOT NULL PRIMARY KEY,
	user_id uuid NOT NULL REFERENCES sb_auth.users (id) ON DELETE CASCADE,
	created_at timestamptz NULL,
	refreshed_at timestamp without time zone NULL,
	user_agent text NULL,
	ip inet NULL
);
CREATE TABLE sb_auth.refresh_tokens (
	instance_id uuid NULL,
	id bigserial NOT NULL PRIMARY KEY,
	"token" varchar(255) NULL UNIQUE,
	user_id varchar(255) NULL,
	revoked bool NULL,
	created_at timestamptz NULL,
	parent varchar(255) NULL,
	session_id uuid NULL REFERENCES sb_auth.sessions (id) ON DELETE CASCADE
);
CREATE INDEX sb_refresh_tokens_instance_id_user_id_idx ON sb_auth.refresh_tokens (instance_id, user_id);
CREATE TABLE sb_auth.identities (
	provider_id text NOT NULL,
	user_id uuid NOT NULL REFERENCES sb_auth.users (id) ON DELETE CASCADE,
	identity_data jsonb NOT NULL,
	provider text NOT NULL,
	email text GENERATED ALWAYS AS (lower(identity_data ->> 'email')) STORED,
	id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
	CONSTRAINT identities_provider_id_provider_unique UNIQUE (provider_id, provider)
);
CREATE TYPE sb_auth.factor_type AS ENUM ('totp', 'webauthn', 'phone');
CREATE TABLE sb_auth.mfa_factors (
	id uuid NOT NULL PRIMARY KEY,
	user_id uuid NOT NULL REFERENCES sb_auth.users (id) ON DELETE CASCADE,
	friendly_name text NULL,
	factor_type sb_auth.factor_type NOT NULL,
	secret text NULL,
	phone text NULL
);
CREATE TABLE sb_auth.mfa_challenges (
	id uuid NOT NULL PRIMARY KEY,
	factor_id uuid NOT NULL REFERENCES sb_auth.mfa_factors (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL,
	ip_address inet NOT NULL,
	otp_code text NULL
);
CREATE TABLE sb_auth.one_time_tokens (
	id uuid NOT NULL PRIMARY KEY,
	user_id uuid NOT NULL REFERENCES sb_auth.users (id) ON DELETE CASCADE,
	token_hash text NOT NULL CHECK (char_length(token_hash) > 0),
	relates_to text NOT NULL,
	created_at timestamp without time zone NOT NULL DEFAULT now()
);
CREATE TABLE sb_auth.flow_state (
	id uuid NOT NULL PRIMARY KEY,
	user_id uuid NULL,
	auth_code text NOT NULL,
	provider_type text NOT NULL,
	created_at timestamptz NULL
);
CREATE TABLE sb_auth.sso_providers (id uuid NOT NULL PRIMARY KEY, resource_id text NULL);
CREATE TABLE sb_auth.saml_relay_states (
	id uuid NOT NULL PRIMARY KEY,
	sso_provider_id uuid NOT NULL REFERENCES sb_auth.sso_providers (id) ON DELETE CASCADE,
	request_id text NOT NULL,
	for_email text NULL,
	flow_state_id uuid NULL REFERENCES sb_auth.flow_state (id) ON DELETE CASCADE
);
CREATE TABLE sb_storage.buckets (id text NOT NULL PRIMARY KEY, name text NOT NULL, owner uuid NULL, public boolean DEFAULT false);
CREATE TABLE sb_storage.objects (
	id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
	bucket_id text NULL REFERENCES sb_storage.buckets (id),
	name text NULL,
	owner uuid NULL,
	created_at timestamptz NULL DEFAULT now(),
	metadata jsonb NULL,
	path_tokens text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED,
	owner_id text NULL
);
CREATE UNIQUE INDEX sb_bucketid_objname ON sb_storage.objects (bucket_id, name);
CREATE FUNCTION sb_storage.protect_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF COALESCE(current_setting('storage.allow_delete_query', true), 'false') != 'true' THEN
		RAISE EXCEPTION 'Direct deletion from storage tables is not allowed. Use the Storage API instead.'
			USING ERRCODE = '42501';
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER protect_objects_delete BEFORE DELETE ON sb_storage.objects
	FOR EACH STATEMENT EXECUTE FUNCTION sb_storage.protect_delete();
CREATE TABLE public.sb_profiles (
	id uuid NOT NULL PRIMARY KEY REFERENCES sb_auth.users ON DELETE CASCADE,
	username text UNIQUE,
	full_name text
);
CREATE TABLE public.sb_posts (
	id bigserial PRIMARY KEY,
	author_id uuid NOT NULL REFERENCES public.sb_profiles (id) ON DELETE CASCADE,
	body text
);
CREATE TABLE public.sb_comments (
	id bigserial PRIMARY KEY,
	post_id bigint NOT NULL REFERENCES public.sb_posts ON DELETE CASCADE,
	user_id uuid REFERENCES sb_auth.users ON DELETE SET NULL,
	body text
);
-- the owners, as on Supabase
ALTER TABLE sb_auth.users OWNER TO regress_sb_auth;
ALTER TABLE sb_auth.sessions OWNER TO regress_sb_auth;
ALTER TABLE sb_auth.refresh_tokens OWNER TO regress_sb_auth;
ALTER TABLE sb_auth.identities OWNER TO regress_sb_auth;
ALTER TABLE sb_auth.mfa_factors OWNER TO regress_sb_auth;
ALTER TABLE sb_auth.mfa_challenges OWNER TO regress_sb_auth;
ALTER TABLE sb_auth.one_time_tokens OWNER TO regress_sb_auth;
ALTER TABLE sb_auth.flow_state OWNER TO regress_sb_auth;
ALTER TABLE sb_auth.sso_providers OWNER TO regress_sb_auth;
ALTER TABLE sb_auth.saml_relay_states OWNER TO regress_sb_auth;
ALTER TABLE sb_storage.buckets OWNER TO regress_sb_storage;
ALTER TABLE sb_storage.objects OWNER TO regress_sb_storage;
ALTER FUNCTION sb_storage.protect_delete() OWNER TO regress_sb_storage;
ALTER TABLE public.sb_profiles OWNER TO regress_sb_app;
ALTER TABLE public.sb_posts OWNER TO regress_sb_app;
ALTER TABLE public.sb_comments OWNER TO regress_sb_app;
GRANT USAGE ON SCHEMA sb_auth TO regress_sb_app;
GRANT SELECT (id), REFERENCES ON sb_auth.users TO regress_sb_app, regress_sb_storage;
-- Supabase enables row security on every auth table, with no policy
ALTER TABLE sb_auth.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE sb_auth.sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sb_auth.refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE sb_auth.identities ENABLE ROW LEVEL SECURITY;

-- twelve users; phones as Supabase Auth keeps them (E.164 without '+'), ''
-- in the columns a user has not used
CREATE FUNCTION sb(g int) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$ SELECT md5('sb' || g)::uuid $$;
INSERT INTO sb_auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
	confirmation_token, email_change_token_new, email_change, raw_user_meta_data, created_at, phone, phone_change)
SELECT '00000000-0000-0000-0000-000000000000', sb(g), 'authenticated', 'authenticated',
	CASE WHEN g <> 12 THEN 'user' || g || '@example.com' END, '$2a$10$' || md5('pw' || g), now(), '', '',
	'', jsonb_build_object('full_name', 'User ' || g), now(), CASE WHEN g % 3 <> 0 THEN '4915' || lpad(g::text, 9, '0') END, ''
FROM generate_series(1, 12) g;
INSERT INTO sb_auth.identities (provider_id, user_id, identity_data, provider)
SELECT sb(g)::text, sb(g), jsonb_build_object('sub', sb(g)::text, 'email', 'user' || g || '@example.com'), 'email'
FROM generate_series(1, 11) g;
INSERT INTO sb_auth.identities (provider_id, user_id, identity_data, provider)
SELECT (1000 + g)::text, sb(g), jsonb_build_object('sub', (1000 + g)::text, 'email', 'User' || g || '@GitHub.example'), 'github'
FROM generate_series(1, 12, 4) g;
INSERT INTO sb_auth.sessions
SELECT md5('sess' || g || '/' || k)::uuid, sb(g), now() - (g * 10 + k || ' days')::interval,
	localtimestamp - (g * 30 + k || ' days')::interval, 'Mozilla/5.0', ('10.0.' || g || '.' || k)::inet
FROM generate_series(1, 12) g, generate_series(1, 2) k;
INSERT INTO sb_auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, parent, session_id)
SELECT '00000000-0000-0000-0000-000000000000', substr(md5('tok' || g || k || t), 1, 12), sb(g)::text, t < 2, now(),
	CASE WHEN t = 2 THEN substr(md5('tok' || g || k || 1), 1, 12) END, md5('sess' || g || '/' || k)::uuid
FROM generate_series(1, 12) g, generate_series(1, 2) k, generate_series(1, 2) t;
-- a token of user 2 in user 1's session; one without session, one without
-- user, values that are no uuid
INSERT INTO sb_auth.refresh_tokens (token, user_id, session_id) VALUES
	('shared-1', sb(2)::text, md5('sess1/1')::uuid), ('orphan-5', sb(5)::text, NULL),
	('nulluser', NULL, md5('sess7/1')::uuid), ('anon-1', 'anonymous', NULL), ('empty-1', '', NULL);
INSERT INTO sb_auth.mfa_factors SELECT md5('fac' || g)::uuid, sb(g), 'phone', 'phone', md5('secret' || g), '+4915' || lpad(g::text, 9, '0')
FROM generate_series(1, 12, 3) g;
INSERT INTO sb_auth.mfa_challenges SELECT md5('ch' || g || k)::uuid, md5('fac' || g)::uuid, now(), ('192.168.' || g || '.' || k)::inet, '123456'
FROM generate_series(1, 12, 3) g, generate_series(1, 2) k;
INSERT INTO sb_auth.one_time_tokens SELECT md5('ott' || g)::uuid, sb(g), md5('otth' || g), 'user' || g || '@example.com',
	localtimestamp - (g * 30 + 3 || ' days')::interval
FROM generate_series(1, 12) g;
INSERT INTO sb_auth.sso_providers VALUES (md5('sso1')::uuid, 'res1');
INSERT INTO sb_auth.flow_state SELECT md5('flow' || g)::uuid, CASE WHEN g <> 10 THEN sb(g) END, md5('code' || g), 'sso/saml', now()
FROM generate_series(1, 12, 3) g;
INSERT INTO sb_auth.saml_relay_states SELECT md5('rs' || g)::uuid, md5('sso1')::uuid, 'req-' || g, 'user' || g || '@corp.example', md5('flow' || g)::uuid
FROM generate_series(1, 12, 3) g;
INSERT INTO sb_storage.buckets VALUES ('avatars', 'avatars', NULL, true), ('docs', 'docs', sb(1), false);
INSERT INTO sb_storage.objects (id, bucket_id, name, owner, owner_id)
SELECT md5('obj' || g || k)::uuid, CASE k WHEN 1 THEN 'avatars' ELSE 'docs' END, sb(g)::text || '/f' || k || '.png',
	CASE WHEN g % 5 <> 0 THEN sb(g) END, CASE WHEN g % 4 <> 0 THEN sb(g)::text END
FROM generate_series(1, 12) g, generate_series(1, 2) k;
-- uploaded by user 3 into a folder of user 4's, with user 4 as owner_id
INSERT INTO sb_storage.objects (id, bucket_id, name, owner, owner_id) VALUES (md5('objx')::uuid, 'avatars', 'shared/x.png', sb(3), sb(4)::text);
INSERT INTO public.sb_profiles SELECT sb(g), 'user' || g, 'User ' || g FROM generate_series(1, 12) g WHERE g <> 7;
INSERT INTO public.sb_posts (author_id, body) SELECT sb(g), 'hello' FROM generate_series(1, 12) g WHERE g <> 7;
INSERT INTO public.sb_comments (post_id, user_id, body) SELECT p.id, sb(1 + (p.id::int * 5) % 12), 'nice' FROM public.sb_posts p;

-- the subject type, defined and linked by a role that owns none of the tables
SET ROLE regress_sb_dpo;
SELECT privacy.define_subject('user', 'sb_auth.users');
SELECT privacy.link('user', 'sb_auth.refresh_tokens', 'user_id');
SELECT privacy.link('user', 'sb_auth.flow_state', 'user_id');
SELECT privacy.link('user', 'sb_storage.objects', 'owner');
SELECT privacy.link('user', 'sb_storage.objects', 'owner_id');
SELECT table_name, via, depth FROM privacy.subject_tables WHERE subject = 'user' ORDER BY table_name::text;
RESET ROLE;
-- the map against a recursive walk of pg_constraint from the root and the
-- linked tables (no line: the same tables)
WITH RECURSIVE r(t) AS (SELECT unnest(ARRAY['sb_auth.users', 'sb_auth.refresh_tokens', 'sb_auth.flow_state', 'sb_storage.objects']::regclass[])::oid
	UNION SELECT c.conrelid FROM r JOIN pg_constraint c ON c.contype = 'f' AND c.confrelid = r.t)
SELECT s.table_name, r.t::regclass FROM (SELECT table_name FROM privacy.subject_tables WHERE subject = 'user') s
  FULL JOIN r ON r.t = s.table_name WHERE s.table_name IS NULL OR r.t IS NULL;

-- an independent fixed point of the subject's rows: the root row, the
-- linked rows (the uuid's canonical text in the text columns), then every
-- row whose foreign key points at one of them
CREATE TABLE sb_rows (tbl regclass, tid tid, PRIMARY KEY (tbl, tid));
CREATE FUNCTION sb_walk(id uuid) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE e record; cond text; n bigint; grown bigint; l record;
BEGIN
	TRUNCATE sb_rows;
	INSERT INTO sb_rows SELECT 'sb_auth.users', ctid FROM sb_auth.users u WHERE u.id = sb_walk.id;
	FOR l IN SELECT * FROM (VALUES ('sb_auth.refresh_tokens'::regclass, 'user_id'), ('sb_auth.flow_state', 'user_id'),
		('sb_storage.objects', 'owner'), ('sb_storage.objects', 'owner_id')) v(tbl, col) LOOP
		EXECUTE format('INSERT INTO sb_rows SELECT %L::regclass, ctid FROM %s WHERE %I::text = %L ON CONFLICT DO NOTHING',
			l.tbl, l.tbl, l.col, id::text);
	END LOOP;
	LOOP
		grown := 0;
		FOR e IN SELECT c.conrelid::regclass AS child, c.confrelid::regclass AS parent, c.conkey, c.confkey
			FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid <> 'sb_auth.users'::regclass
			AND (c.connamespace IN ('sb_auth'::regnamespace, 'sb_storage'::regnamespace) OR c.conrelid::regclass::text LIKE 'sb\_%')
		LOOP
			SELECT string_agg(format('c.%I = p.%I', ca.attname, pa.attname), ' AND ') INTO cond
			  FROM unnest(e.conkey, e.confkey) k(ck, pk)
			  JOIN pg_attribute ca ON ca.attrelid = e.child AND ca.attnum = k.ck
			  JOIN pg_attribute pa ON pa.attrelid = e.parent AND pa.attnum = k.pk;
			EXECUTE format('INSERT INTO sb_rows SELECT %L::regclass, c.ctid FROM %s c WHERE EXISTS (SELECT 1 FROM %s p'
				' WHERE %s AND p.ctid IN (SELECT tid FROM sb_rows WHERE tbl = %L::regclass)) ON CONFLICT DO NOTHING',
				e.child, e.child, e.parent, cond, e.parent);
			GET DIAGNOSTICS n = ROW_COUNT;
			grown := grown + n;
		END LOOP;
		EXIT WHEN grown = 0;
	END LOOP;
END $$;
CREATE FUNCTION sb_key(t regclass) RETURNS text LANGUAGE sql AS $$
	SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = t $$;
CREATE FUNCTION sb_counts() RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE r jsonb := '{}'; c record; n bigint;
BEGIN
	FOR c IN SELECT oid::regclass t FROM pg_class WHERE relkind = 'r'
		AND (relnamespace IN ('sb_auth'::regnamespace, 'sb_storage'::regnamespace) OR relname LIKE 'sb\_%') AND relname <> 'sb_rows' LOOP
		EXECUTE format('SELECT count(*) FROM %s', c.t) INTO n;
		r := r || jsonb_build_object(sb_key(c.t), n);
	END LOOP;
	RETURN r;
END $$;
GRANT SELECT ON sb_rows TO regress_sb_dpo;

-- access, by the officer, against the walk: the id as given, in upper case
-- and braced (no line: all equal); user 99 has linked rows only
INSERT INTO sb_auth.refresh_tokens (token, user_id) VALUES ('ghost', sb(99)::text);
CREATE FUNCTION sb_access_diff() RETURNS TABLE (g int, spelling text, tbl text, walk bigint, access bigint)
LANGUAGE plpgsql AS $$
DECLARE i int; s text;
BEGIN
	FOREACH i IN ARRAY ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 99] LOOP
		PERFORM sb_walk(sb(i));
		FOREACH s IN ARRAY ARRAY['lower', 'upper', 'braced'] LOOP
			RETURN QUERY
			WITH w AS (SELECT sb_key(x.tbl) t, count(*) n FROM sb_rows x GROUP BY 1),
			     p AS (SELECT k t, jsonb_array_length(v)::bigint n
				FROM jsonb_each(privacy.access('user', CASE s WHEN 'upper' THEN upper(sb(i)::text)
					WHEN 'braced' THEN '{' || sb(i)::text || '}' ELSE sb(i)::text END) -> 'data') e(k, v))
			SELECT i, s, coalesce(w.t, p.t), w.n, p.n FROM w FULL JOIN p ON w.t = p.t WHERE w.n IS DISTINCT FROM p.n;
		END LOOP;
	END LOOP;
END $$;
SET ROLE regress_sb_dpo;
SELECT * FROM sb_access_diff();
SELECT privacy.access('user', upper(sb(1)::text)) ->> 'id' = sb(1)::text AS canonical_id;
SELECT jsonb_object_keys(privacy.export('user', sb(99)::text) -> 'tables');
RESET ROLE;

-- discovery, as a superuser: the phone numbers of auth.users (E.164 without
-- '+') with their name; '' is no value (phone_change: name only, 0.6; it
-- was 0.3, "not borne out"); values in the jsonb of raw_user_meta_data are
-- not looked at
SELECT table_name, column_name, category, confidence, matched, sampled FROM privacy.discover('sb_auth.users') ORDER BY column_name;
-- bare digits are a phone number only under a name that says phone
CREATE TABLE sb_digits (id int PRIMARY KEY, account_no text, mobile text);
INSERT INTO sb_digits SELECT g, '4915' || lpad(g::text, 9, '0'), '4915' || lpad(g::text, 9, '0') FROM generate_series(1, 20) g;
SELECT column_name, category, confidence FROM privacy.discover('sb_digits') ORDER BY column_name;
DROP TABLE sb_digits;
-- by a privacy_admin that cannot read the mapped tables: a WARNING with the
-- counts (it returned nothing, silently); with SELECT, row security of the
-- auth tables still hides rows from it
SET ROLE regress_sb_dpo;
SELECT count(*) FROM privacy.discover();
SELECT count(*) FROM privacy.apply_discovery(0.5);
RESET ROLE;
GRANT SELECT ON ALL TABLES IN SCHEMA sb_auth TO regress_sb_dpo;
SET ROLE regress_sb_dpo;
SELECT count(*) FROM privacy.discover();
RESET ROLE;
REVOKE SELECT ON ALL TABLES IN SCHEMA sb_auth FROM regress_sb_dpo;
-- and nothing to say when every mapped table was read
SELECT count(*) > 0 AS proposals FROM privacy.discover();

-- erase, by the officer: every user's receipt against the walk and the rows
-- that really went, the dry run agreeing (no line: all hold); Supabase's
-- trigger refuses deletes from storage.objects without its setting
SET ROLE regress_sb_dpo;
SELECT privacy.erase('user', sb(6)::text, dry_run => true) -> 'tables' -> 'sb_storage.objects' AS dry_objects;
\set VERBOSITY terse
SELECT privacy.erase('user', sb(6)::text);
\set VERBOSITY default
RESET ROLE;
CREATE FUNCTION sb_erase_diff(ids int[], shared text) RETURNS TABLE (g int, tbl text, walk bigint, deleted bigint, removed bigint, dry_same boolean)
LANGUAGE plpgsql AS $$
DECLARE i int; d jsonb; r jsonb; before jsonb; after jsonb;
BEGIN
	FOREACH i IN ARRAY ids LOOP
		PERFORM sb_walk(sb(i));
		before := sb_counts();
		d := privacy.erase('user', upper(sb(i)::text), dry_run => true, shared => shared);
		r := privacy.erase('user', upper(sb(i)::text), shared => shared);
		after := sb_counts();
		RETURN QUERY
		WITH w AS (SELECT sb_key(x.tbl) t, count(*) n FROM sb_rows x GROUP BY 1),
		     a AS (SELECT k t, (before ->> k)::bigint - (after ->> k)::bigint AS n FROM jsonb_object_keys(before) k)
		SELECT i, a.t, w.n, (r -> 'tables' -> a.t ->> 'deleted')::bigint, a.n,
			(d - 'request' - 'dry_run') = (r - 'request' - 'dry_run')
		  FROM a LEFT JOIN w ON w.t = a.t
		 WHERE coalesce((r -> 'tables' -> a.t ->> 'deleted')::bigint, 0) <> a.n
		    OR (shared = 'delete' AND a.n <> coalesce(w.n, 0))
		    OR (d - 'request' - 'dry_run') <> (r - 'request' - 'dry_run');
	END LOOP;
END $$;
SET ROLE regress_sb_dpo;
SET storage.allow_delete_query = 'true';
BEGIN;
SELECT * FROM sb_erase_diff(ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 99], 'delete');
RESET ROLE;
SELECT t, n FROM jsonb_each_text(sb_counts()) e(t, n) WHERE n <> '0' ORDER BY t;
SELECT token, user_id FROM sb_auth.refresh_tokens ORDER BY token;
ROLLBACK;
-- shared => 'keep': user 2's token in user 1's session stays, detached; the
-- object user 3 uploaded for user 4 stays, its owner cleared
BEGIN;
SELECT * FROM sb_erase_diff(ARRAY[1, 3], 'keep');
RESET ROLE;
SELECT token, user_id = sb(2)::text AS user2, session_id FROM sb_auth.refresh_tokens WHERE token = 'shared-1';
SELECT name, owner, owner_id = sb(4)::text AS user4 FROM sb_storage.objects WHERE name = 'shared/x.png';
ROLLBACK;
RESET ROLE;

-- per-subject keys on a text column of the linked table and of the root:
-- the dry run counts the key the erasure shreds (it said 0)
SELECT privacy.encrypt_column('sb_auth.refresh_tokens', 'token', 'user');
SELECT privacy.encrypt_column('sb_auth.users', 'phone', 'user');
SELECT privacy.classify('sb_auth.users', 'phone', 'user.contact.phone_number', 'shred');
SELECT privacy.set_erasure_mode('sb_auth.users', 'anonymize');
SELECT token, user_id FROM sb_auth.refresh_tokens_decrypted WHERE user_id IS NULL OR user_id !~ '^[0-9a-f-]{36}$' ORDER BY token;
SET ROLE regress_sb_dpo;
SET storage.allow_delete_query = 'true';
SELECT privacy.access('user', upper(sb(2)::text)) -> 'data' -> 'sb_auth.users' -> 0 ->> 'phone' AS phone;
SELECT r -> 'keys_shredded' AS dry_keys, r -> 'tables' -> 'sb_auth.users' AS users
  FROM privacy.erase('user', sb(2)::text, dry_run => true) r;
SELECT r -> 'keys_shredded' AS keys, r -> 'tables' -> 'sb_auth.users' AS users
  FROM privacy.erase('user', sb(2)::text) r;
SELECT privacy.erase('user', sb(2)::text, dry_run => true) -> 'keys_shredded' AS again;
RESET ROLE;
SELECT phone FROM sb_auth.users_decrypted WHERE id = sb(2);
SELECT count(*) FROM sb_auth.refresh_tokens_decrypted WHERE user_id = sb(2)::text;

-- holds and retention: sessions by refreshed_at (timestamp without time
-- zone, read in UTC+14), one_time_tokens by created_at (in the database's
-- time zone); user 6's rows stay (a policy added and run in one
-- transaction: the worker, naptime 1 s, could take it first otherwise)
SET ROLE regress_sb_dpo;
SELECT privacy.hold('user', upper(sb(6)::text), 'litigation');
\set VERBOSITY terse
SELECT privacy.erase('user', sb(6)::text, dry_run => true);
\set VERBOSITY default
RESET ROLE;
SELECT count(*) FILTER (WHERE refreshed_at AT TIME ZONE 'Pacific/Kiritimati' < now() - interval '150 days') AS expired,
	count(*) FILTER (WHERE refreshed_at AT TIME ZONE 'Pacific/Kiritimati' < now() - interval '150 days' AND user_id = sb(6)) AS held
  FROM sb_auth.sessions;
SELECT count(*) FILTER (WHERE created_at < localtimestamp - interval '150 days') AS expired,
	count(*) FILTER (WHERE created_at < localtimestamp - interval '150 days' AND user_id = sb(6)) AS held
  FROM sb_auth.one_time_tokens;
BEGIN;
SELECT privacy.add_retention('sb_auth.sessions', 'refreshed_at', '150 days', time_zone => 'Pacific/Kiritimati') AS p_sessions \gset
SELECT privacy.add_retention('sb_auth.one_time_tokens', 'created_at', '150 days') AS p_ott \gset
SELECT privacy.run_retention(:p_sessions) AS sessions_and_dependents;
SELECT privacy.run_retention(:p_ott) AS tokens;
COMMIT;
SELECT rows, held, blocked, dependents FROM privacy.retention_runs WHERE policy IN (:p_sessions, :p_ott) AND rows > 0 ORDER BY id;
SELECT count(*) AS sessions_left_expired, count(*) FILTER (WHERE user_id = sb(6)) AS held_left FROM sb_auth.sessions
 WHERE refreshed_at AT TIME ZONE 'Pacific/Kiritimati' < now() - interval '150 days';
SELECT count(*) AS tokens_left_expired, count(*) FILTER (WHERE user_id = sb(6)) AS held_left FROM sb_auth.one_time_tokens
 WHERE created_at < localtimestamp - interval '150 days';
SELECT count(*) AS orphan_refresh_tokens FROM sb_auth.refresh_tokens r
 WHERE r.session_id IS NOT NULL AND NOT EXISTS (SELECT FROM sb_auth.sessions s WHERE s.id = r.session_id);
SELECT privacy.drop_retention(:p_sessions);
SELECT privacy.drop_retention(:p_ott);
SET ROLE regress_sb_dpo;
SELECT privacy.release_hold('user', sb(6)::text);
RESET ROLE;

-- cleanup
SELECT privacy.decrypt_column('sb_auth.refresh_tokens', 'token');
SELECT privacy.decrypt_column('sb_auth.users', 'phone');
SELECT privacy.drop_subject('user');
DROP FUNCTION sb_erase_diff(int[], text), sb_access_diff(), sb_counts(), sb_key(regclass), sb_walk(uuid), sb(int);
DROP TABLE sb_rows, public.sb_comments, public.sb_posts, public.sb_profiles;
DROP SCHEMA sb_auth, sb_storage CASCADE;
DROP EXTENSION privacy;
DROP ROLE regress_sb_dpo, regress_sb_auth, regress_sb_storage, regress_sb_app;
