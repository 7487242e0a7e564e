-- A schema in the shape of Keycloak's (an excerpt written by hand, names
-- prefixed KCT_: upper-case unquoted names as its Liquibase changelogs write
-- them, varchar(36) uuid ids, composite primary keys on the mapping tables,
-- FED_USER_* and session tables that hold user ids with no foreign key,
-- epoch-millisecond bigint times), checked against an independent walk of
-- pg_constraint, users in two realms, a client session shared by two users,
-- NULL keys.
-- The defects it found (discover):
-- - the attribute's name in KCT_USER_ATTRIBUTE / KCT_FED_USER_ATTRIBUTE, the
--   scope's in KCT_CLIENT_SCOPE and the mapper's in
--   KCT_USER_FEDERATION_MAPPER were proposed as a person's name: a table
--   whose name has a person word (user, client) was a table of persons even
--   when its head noun is a thing the person has;
-- - a realm's EMAIL_THEME was proposed as an e-mail address;
-- - USERNAME, LOGIN_USERNAME, BROKER_USERNAME were not proposed at all
--   (user.account.username).
SET client_min_messages = warning;
CREATE EXTENSION privacy;
CREATE TABLE KCT_REALM (ID VARCHAR(36) NOT NULL, NAME VARCHAR(255), EMAIL_THEME VARCHAR(255),
	CONSTRAINT KCT_CONSTRAINT_4A PRIMARY KEY (ID));
CREATE TABLE KCT_USER_ENTITY (ID VARCHAR(36) NOT NULL, EMAIL VARCHAR(255), EMAIL_CONSTRAINT VARCHAR(255),
	EMAIL_VERIFIED BOOLEAN DEFAULT FALSE NOT NULL, ENABLED BOOLEAN DEFAULT FALSE NOT NULL,
	FIRST_NAME VARCHAR(255), LAST_NAME VARCHAR(255), REALM_ID VARCHAR(255), USERNAME VARCHAR(255),
	CREATED_TIMESTAMP BIGINT, NOT_BEFORE INTEGER DEFAULT 0 NOT NULL,
	CONSTRAINT KCT_CONSTRAINT_FB PRIMARY KEY (ID),
	CONSTRAINT KCT_UK_USERNAME UNIQUE (REALM_ID, USERNAME),
	CONSTRAINT KCT_UK_EMAIL UNIQUE (REALM_ID, EMAIL_CONSTRAINT));
CREATE TABLE KCT_USER_ATTRIBUTE (NAME VARCHAR(255) NOT NULL, VALUE VARCHAR(255), USER_ID VARCHAR(36) NOT NULL,
	ID VARCHAR(36) DEFAULT 'sybase-needs-something-here' NOT NULL, CONSTRAINT KCT_USER_ATTRIBUTE_PK PRIMARY KEY (ID));
CREATE TABLE KCT_CREDENTIAL (ID VARCHAR(36) NOT NULL, SALT BYTEA, TYPE VARCHAR(255), USER_ID VARCHAR(36),
	CREATED_DATE BIGINT, SECRET_DATA TEXT, CREDENTIAL_DATA TEXT, PRIORITY INTEGER, CONSTRAINT KCT_CONSTRAINT_F PRIMARY KEY (ID));
CREATE TABLE KCT_USER_ROLE_MAPPING (ROLE_ID VARCHAR(255) NOT NULL, USER_ID VARCHAR(36) NOT NULL,
	CONSTRAINT KCT_CONSTRAINT_C PRIMARY KEY (ROLE_ID, USER_ID));
CREATE TABLE KCT_USER_GROUP_MEMBERSHIP (GROUP_ID VARCHAR(36) NOT NULL, USER_ID VARCHAR(36) NOT NULL,
	CONSTRAINT KCT_CONSTRAINT_USER_GROUP PRIMARY KEY (GROUP_ID, USER_ID));
CREATE TABLE KCT_USER_CONSENT (ID VARCHAR(36) NOT NULL, CLIENT_ID VARCHAR(255), USER_ID VARCHAR(36) NOT NULL,
	CREATED_DATE BIGINT, CONSTRAINT KCT_CONSTRAINT_GRNTCSNT_PM PRIMARY KEY (ID));
CREATE TABLE KCT_USER_CONSENT_CLIENT_SCOPE (USER_CONSENT_ID VARCHAR(36) NOT NULL, SCOPE_ID VARCHAR(36) NOT NULL,
	CONSTRAINT KCT_CONSTRAINT_GRNTCSNT_CLSC_PM PRIMARY KEY (USER_CONSENT_ID, SCOPE_ID));
CREATE TABLE KCT_CLIENT_SCOPE (ID VARCHAR(36) NOT NULL, NAME VARCHAR(255), REALM_ID VARCHAR(36),
	CONSTRAINT KCT_PK_CLI_TEMPLATE PRIMARY KEY (ID));
CREATE TABLE KCT_USER_FEDERATION_MAPPER (ID VARCHAR(36) NOT NULL, NAME VARCHAR(255) NOT NULL,
	FEDERATION_PROVIDER_ID VARCHAR(36) NOT NULL, REALM_ID VARCHAR(36) NOT NULL, CONSTRAINT KCT_CONSTRAINT_FEDMAPPERPM PRIMARY KEY (ID));
CREATE TABLE KCT_USER_SESSION (ID VARCHAR(36) NOT NULL, IP_ADDRESS VARCHAR(255), LOGIN_USERNAME VARCHAR(255),
	REALM_ID VARCHAR(255), STARTED INTEGER, USER_ID VARCHAR(255), CONSTRAINT KCT_CONSTRAINT_57 PRIMARY KEY (ID));
CREATE TABLE KCT_CLIENT_SESSION (ID VARCHAR(36) NOT NULL, CLIENT_ID VARCHAR(36), SESSION_ID VARCHAR(36),
	AUTH_USER_ID VARCHAR(36), CONSTRAINT KCT_CONSTRAINT_8 PRIMARY KEY (ID));
CREATE TABLE KCT_CLIENT_SESSION_NOTE (NAME VARCHAR(255) NOT NULL, VALUE VARCHAR(255), CLIENT_SESSION VARCHAR(36) NOT NULL,
	CONSTRAINT KCT_CONSTRAINT_5E PRIMARY KEY (CLIENT_SESSION, NAME));
CREATE TABLE KCT_OFFLINE_USER_SESSION (USER_SESSION_ID VARCHAR(36) NOT NULL, USER_ID VARCHAR(255) NOT NULL,
	REALM_ID VARCHAR(36) NOT NULL, CREATED_ON INTEGER NOT NULL, OFFLINE_FLAG VARCHAR(4) NOT NULL, DATA TEXT,
	CONSTRAINT KCT_CONSTRAINT_OFFL_US_SES_PK2 PRIMARY KEY (USER_SESSION_ID, OFFLINE_FLAG));
CREATE TABLE KCT_FED_USER_ATTRIBUTE (ID VARCHAR(36) NOT NULL, NAME VARCHAR(255) NOT NULL, USER_ID VARCHAR(255) NOT NULL,
	REALM_ID VARCHAR(36) NOT NULL, STORAGE_PROVIDER_ID VARCHAR(36), VALUE VARCHAR(2024),
	CONSTRAINT KCT_CONSTR_FED_USER_ATTR_PK PRIMARY KEY (ID));
CREATE TABLE KCT_FED_USER_ROLE_MAPPING (ROLE_ID VARCHAR(36) NOT NULL, USER_ID VARCHAR(255) NOT NULL,
	REALM_ID VARCHAR(36) NOT NULL, CONSTRAINT KCT_CONSTR_FED_USER_ROLE PRIMARY KEY (ROLE_ID, USER_ID));
CREATE TABLE KCT_BROKER_LINK (IDENTITY_PROVIDER VARCHAR(255) NOT NULL, REALM_ID VARCHAR(36) NOT NULL,
	BROKER_USER_ID VARCHAR(255), BROKER_USERNAME VARCHAR(255), TOKEN TEXT, USER_ID VARCHAR(255) NOT NULL,
	CONSTRAINT KCT_CONSTR_BROKER_LINK_PK PRIMARY KEY (IDENTITY_PROVIDER, USER_ID));
CREATE TABLE KCT_EVENT_ENTITY (ID VARCHAR(36) NOT NULL, CLIENT_ID VARCHAR(255), IP_ADDRESS VARCHAR(255),
	REALM_ID VARCHAR(255), EVENT_TIME BIGINT, TYPE VARCHAR(255), USER_ID VARCHAR(255), CONSTRAINT KCT_CONSTRAINT_4 PRIMARY KEY (ID));
CREATE INDEX KCT_IDX_EVENT_TIME ON KCT_EVENT_ENTITY (REALM_ID, EVENT_TIME);
ALTER TABLE KCT_USER_ATTRIBUTE ADD CONSTRAINT KCT_FK_5HRM2VLF9QL5FU043KQEPOVBR FOREIGN KEY (USER_ID) REFERENCES KCT_USER_ENTITY (ID);
ALTER TABLE KCT_CREDENTIAL ADD CONSTRAINT KCT_FK_PFYR0GLASQYL0DEI3KL69R6V0 FOREIGN KEY (USER_ID) REFERENCES KCT_USER_ENTITY (ID);
ALTER TABLE KCT_USER_ROLE_MAPPING ADD CONSTRAINT KCT_FK_C4FQV34P1MBYLLOXANG7B1Q3L FOREIGN KEY (USER_ID) REFERENCES KCT_USER_ENTITY (ID);
ALTER TABLE KCT_USER_GROUP_MEMBERSHIP ADD CONSTRAINT KCT_FK_USER_GROUP_USER FOREIGN KEY (USER_ID) REFERENCES KCT_USER_ENTITY (ID);
ALTER TABLE KCT_USER_CONSENT ADD CONSTRAINT KCT_FK_GRNTCSNT_USER FOREIGN KEY (USER_ID) REFERENCES KCT_USER_ENTITY (ID);
ALTER TABLE KCT_USER_CONSENT_CLIENT_SCOPE ADD CONSTRAINT KCT_FK_GRNTCSNT_CLSC_USC FOREIGN KEY (USER_CONSENT_ID) REFERENCES KCT_USER_CONSENT (ID);
ALTER TABLE KCT_CLIENT_SESSION ADD CONSTRAINT KCT_FK_B4AO2VCVAT6UKAU74WBWTFQO1 FOREIGN KEY (SESSION_ID) REFERENCES KCT_USER_SESSION (ID);
ALTER TABLE KCT_CLIENT_SESSION_NOTE ADD CONSTRAINT KCT_FK5EDFB00FF51C2736 FOREIGN KEY (CLIENT_SESSION) REFERENCES KCT_CLIENT_SESSION (ID);
ALTER TABLE KCT_USER_FEDERATION_MAPPER ADD CONSTRAINT KCT_FK_FEDMAPPERPM_REALM FOREIGN KEY (REALM_ID) REFERENCES KCT_REALM (ID);

-- 24 users in two realms: ids are uuids in varchar(36); some without e-mail
INSERT INTO kct_realm VALUES ('master', 'master', 'keycloak'), ('acme', 'acme', 'acme-mail');
CREATE TABLE kct_ids AS SELECT g, md5('kct' || g)::uuid::text AS id FROM generate_series(1, 24) g;
CREATE FUNCTION kct(g int) RETURNS text LANGUAGE sql STABLE AS $$ SELECT id FROM kct_ids WHERE kct_ids.g = kct.g $$;
INSERT INTO kct_user_entity (id, email, email_constraint, email_verified, enabled, first_name, last_name, realm_id, username, created_timestamp)
SELECT kct(g), CASE WHEN g % 6 <> 0 THEN 'user' || g || '@example.com' END,
	coalesce(CASE WHEN g % 6 <> 0 THEN 'user' || g || '@example.com' END, md5('ec' || g)), g % 2 = 0, true,
	(ARRAY['Anna', 'Boris', 'Chen', 'Dalia'])[1 + g % 4], (ARRAY['Kowalski', 'Haddad', 'Novak'])[1 + g % 3],
	CASE WHEN g % 3 = 0 THEN 'master' ELSE 'acme' END, 'user' || g, 1672531200000 + g::bigint * 86400000
FROM generate_series(1, 24) g;
INSERT INTO kct_user_attribute (id, name, value, user_id)
SELECT md5('ua' || g || a), (ARRAY['phoneNumber', 'locale', 'department'])[a],
	CASE a WHEN 1 THEN '+49 30 1234' || lpad(g::text, 4, '0') WHEN 2 THEN 'de' ELSE 'sales' END, kct(g)
FROM generate_series(1, 23) g, generate_series(1, 3) a WHERE g % 4 <> a;
-- credentials: a password each, an OTP for some, orphans with a NULL user
INSERT INTO kct_credential (id, type, user_id, created_date, secret_data, priority)
SELECT md5('cr' || g), 'password', kct(g), 1672531200000 + g, '{"value":"' || md5('pw' || g) || '"}', 10 FROM generate_series(1, 23) g
UNION ALL SELECT md5('otp' || g), 'otp', kct(g), NULL, '{}', 20 FROM generate_series(1, 23, 5) g
UNION ALL SELECT md5('orph' || g), 'password', NULL, NULL, '{}', NULL FROM generate_series(1, 2) g;
INSERT INTO kct_user_role_mapping SELECT 'default-roles', kct(g) FROM generate_series(1, 24) g
UNION ALL SELECT 'admin', kct(g) FROM generate_series(3, 24, 3) g;
INSERT INTO kct_user_group_membership SELECT CASE WHEN g % 2 = 0 THEN 'staff' ELSE 'customers' END, kct(g) FROM generate_series(1, 23) g
UNION ALL SELECT 'ops', kct(g) FROM generate_series(1, 23, 7) g;
INSERT INTO kct_user_consent SELECT md5('uc' || g), 'webshop', kct(g), 1700000000000 FROM generate_series(1, 23, 2) g;
INSERT INTO kct_user_consent_client_scope SELECT id, s FROM kct_user_consent, unnest(ARRAY['profile', 'email']) s;
INSERT INTO kct_client_scope VALUES ('s1', 'profile', 'acme'), ('s2', 'email', 'acme'), ('s3', 'offline_access', 'acme');
INSERT INTO kct_user_federation_mapper VALUES ('m1', 'username', 'ldap-1', 'acme'), ('m2', 'first name', 'ldap-1', 'acme');
-- sessions hold the user id without a key; one anonymous session; user 4's
-- client session was authenticated as user 5 (shared by both)
INSERT INTO kct_user_session SELECT md5('us' || g), '203.0.113.' || g, 'user' || g, 'acme', 1700000000, kct(g)
FROM generate_series(1, 23) g WHERE g % 3 <> 0;
INSERT INTO kct_user_session VALUES ('anon', '198.51.100.7', NULL, 'acme', 1700000000, NULL);
INSERT INTO kct_client_session SELECT md5('cs' || id), 'webshop', id, CASE WHEN user_id = kct(4) THEN kct(5) ELSE user_id END
FROM kct_user_session;
INSERT INTO kct_client_session_note SELECT 'nonce', md5(id), id FROM kct_client_session;
INSERT INTO kct_offline_user_session SELECT md5('os' || g), kct(g), 'acme', 1700000000, '1', '{}' FROM generate_series(2, 23, 4) g;
-- federated storage: LDAP users (no local row) and some local users
INSERT INTO kct_fed_user_attribute SELECT md5('fa' || g), 'phone',
	CASE WHEN g <= 4 THEN 'f:ldap-1:jdoe' || g ELSE kct(g) END, 'acme', 'ldap-1', '+1 555 01' || lpad(g::text, 2, '0')
FROM generate_series(1, 12) g;
INSERT INTO kct_fed_user_role_mapping SELECT 'default-roles', CASE WHEN g <= 4 THEN 'f:ldap-1:jdoe' || g ELSE kct(g) END, 'acme'
FROM generate_series(1, 12) g;
INSERT INTO kct_broker_link SELECT 'ldap', 'acme', 'b' || g, 'jdoe' || g, NULL, kct(g) FROM generate_series(1, 8) g;
-- events: epoch milliseconds; some anonymous
INSERT INTO kct_event_entity SELECT md5('ev' || g), 'webshop', '203.0.113.' || (g % 250), 'acme',
	1672531200000 + g::bigint * 3600000, 'LOGIN', CASE WHEN g % 9 = 0 THEN NULL ELSE kct(1 + g % 24) END
FROM generate_series(1, 120) g;

SELECT privacy.define_subject('user', 'kct_user_entity');
SELECT privacy.link('user', t, 'user_id') FROM unnest(ARRAY['kct_user_session', 'kct_offline_user_session',
	'kct_fed_user_attribute', 'kct_fed_user_role_mapping', 'kct_broker_link', 'kct_event_entity']::regclass[]) t;
SELECT privacy.link('user', 'kct_client_session', 'auth_user_id');

-- discovery: no person's name in the attribute's, scope's or mapper's name,
-- no e-mail in a realm's e-mail theme; the account names proposed
SELECT table_name, column_name, category, confidence FROM privacy.discover()
 ORDER BY table_name::text, column_name;
SELECT table_name, column_name, category FROM privacy.discover('kct_realm');
SELECT table_name, column_name, category FROM privacy.discover('kct_client_scope');
SELECT table_name, column_name, category FROM privacy.discover('kct_user_federation_mapper');
-- what stays: a bare name in a table of persons (a person word with no
-- thing word after it), a person word before "name" (user_name, userName)
CREATE TABLE kct_group_members (id int PRIMARY KEY, name text, user_name text);
CREATE TABLE kct_users_archive (id int PRIMARY KEY, name text);
CREATE TABLE kct_customer_tags (id int PRIMARY KEY, name text, "userName" text);
SELECT table_name, column_name, category FROM privacy.discover('kct_group_members') ORDER BY 2;
SELECT table_name, column_name, category FROM privacy.discover('kct_users_archive');
SELECT table_name, column_name, category FROM privacy.discover('kct_customer_tags') ORDER BY 2;
DROP TABLE kct_group_members, kct_users_archive, kct_customer_tags;

-- the map against a recursive walk of pg_constraint from the root and the
-- linked tables (no line: the same tables)
CREATE TABLE kct_links (tbl regclass, col name);
INSERT INTO kct_links VALUES ('kct_user_session', 'user_id'), ('kct_offline_user_session', 'user_id'),
	('kct_fed_user_attribute', 'user_id'), ('kct_fed_user_role_mapping', 'user_id'), ('kct_broker_link', 'user_id'),
	('kct_event_entity', 'user_id'), ('kct_client_session', 'auth_user_id');
WITH RECURSIVE r(t) AS (SELECT 'kct_user_entity'::regclass::oid UNION SELECT tbl FROM kct_links
	UNION SELECT c.conrelid FROM r JOIN pg_constraint c ON c.contype = 'f' AND c.confrelid = r.t
	WHERE c.conrelid <> 'kct_user_entity'::regclass)
SELECT s.table_name, r.t::regclass FROM (SELECT table_name FROM privacy.subject_tables WHERE subject = 'user') s
  FULL JOIN r ON r.t = s.table_name WHERE s.table_name IS NULL OR r.t IS NULL;

-- access against an independent fixed point of rows (no line: all equal)
CREATE TABLE kct_rows (tbl regclass, tid text, PRIMARY KEY (tbl, tid));
CREATE FUNCTION kct_walk(id text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE e record; l record; cond text; n bigint; grown bigint;
BEGIN
	TRUNCATE kct_rows;
	INSERT INTO kct_rows SELECT 'kct_user_entity', ctid::text FROM kct_user_entity u WHERE u.id = kct_walk.id;
	FOR l IN SELECT * FROM kct_links LOOP
		EXECUTE format('INSERT INTO kct_rows SELECT %L::regclass, ctid::text FROM %s WHERE %I = $1 ON CONFLICT DO NOTHING',
			l.tbl, l.tbl, l.col) USING id;
	END LOOP;
	LOOP
		grown := 0;
		FOR e IN SELECT c.conrelid::regclass AS child, c.confrelid::regclass AS parent, c.conkey, c.confkey
			FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid <> 'kct_user_entity'::regclass
			AND c.conrelid::regclass::text LIKE 'kct\_%'
		LOOP
			SELECT string_agg(format('c.%I = p.%I', ca.attname, pa.attname), ' AND ') INTO cond
			  FROM unnest(e.conkey, e.confkey) k(ck, pk)
			  JOIN pg_attribute ca ON ca.attrelid = e.child AND ca.attnum = k.ck
			  JOIN pg_attribute pa ON pa.attrelid = e.parent AND pa.attnum = k.pk;
			EXECUTE format('INSERT INTO kct_rows SELECT %L::regclass, c.ctid::text FROM %s c WHERE EXISTS (SELECT 1 FROM %s p'
				' WHERE %s AND p.ctid::text IN (SELECT tid FROM kct_rows WHERE tbl = %L::regclass)) ON CONFLICT DO NOTHING',
				e.child, e.child, e.parent, cond, e.parent);
			GET DIAGNOSTICS n = ROW_COUNT;
			grown := grown + n;
		END LOOP;
		EXIT WHEN grown = 0;
	END LOOP;
END $$;
CREATE FUNCTION kct_access_diff() RETURNS TABLE (g int, tbl text, walk bigint, access bigint, export bigint)
LANGUAGE plpgsql AS $$
DECLARE i int;
BEGIN
	FOR i IN 1..24 LOOP
		PERFORM kct_walk(kct(i));
		RETURN QUERY
		WITH w AS (SELECT 'public.' || x.tbl::text t, count(*) n FROM kct_rows x GROUP BY 1),
		     p AS (SELECT k t, jsonb_array_length(v)::bigint n FROM jsonb_each(privacy.access('user', kct(i)) -> 'data') e(k, v)),
		     x AS (SELECT k t, jsonb_array_length(v)::bigint n FROM jsonb_each(privacy.export('user', kct(i)) -> 'tables') e(k, v))
		SELECT i, coalesce(w.t, p.t), w.n, p.n, x.n FROM w FULL JOIN p ON w.t = p.t LEFT JOIN x ON x.t = coalesce(w.t, p.t)
		 WHERE w.n IS DISTINCT FROM p.n OR (x.n IS NOT NULL AND x.n <> p.n);
	END LOOP;
END $$;
SELECT privacy.classify('kct_user_entity', 'email', 'user.contact.email');
SELECT privacy.classify('kct_user_entity', 'email_constraint', 'user.contact.email', 'hash');
SELECT privacy.classify('kct_user_entity', 'first_name', 'user.name.first');
SELECT privacy.classify('kct_user_entity', 'last_name', 'user.name.last');
SELECT privacy.classify('kct_user_entity', 'username', 'user.account.username', 'hash');
SELECT privacy.classify('kct_event_entity', 'ip_address', 'user.device.ip_address');
SELECT privacy.classify('kct_user_session', 'ip_address', 'user.device.ip_address');
SELECT * FROM kct_access_diff();
-- the shared client session is both users'
SELECT privacy.access('user', kct(4)) -> 'data' -> 'public.kct_client_session' ->> 0 =
       privacy.access('user', kct(5)) -> 'data' -> 'public.kct_client_session' ->> 0 AS same_row;

-- erase: every user's receipt against the walk and the rows that really
-- went, the dry run agreeing (no line: all hold); delete mode, then with the
-- root and the events in anonymize mode
CREATE FUNCTION kct_counts() RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r jsonb := '{}'; t regclass; n bigint;
BEGIN
	FOR t IN SELECT c.oid FROM pg_class c WHERE c.relname LIKE 'kct\_%' AND c.relkind = 'r'
		AND c.relname NOT IN ('kct_ids', 'kct_rows', 'kct_links') LOOP
		EXECUTE format('SELECT count(*) FROM %s', t) INTO n;
		r := r || jsonb_build_object('public.' || t::text, n);
	END LOOP;
	RETURN r;
END $$;
CREATE FUNCTION kct_erase_diff() RETURNS TABLE (g int, tbl text, walk bigint, deleted bigint, anonymized bigint, removed bigint, dry_same boolean)
LANGUAGE plpgsql AS $$
DECLARE i int; d jsonb; r jsonb; before jsonb; after jsonb;
BEGIN
	FOR i IN 1..24 LOOP
		BEGIN
			PERFORM kct_walk(kct(i));
			before := kct_counts();
			d := privacy.erase('user', kct(i), dry_run => true) -> 'tables';
			r := privacy.erase('user', kct(i)) -> 'tables';
			after := kct_counts();
			RETURN QUERY
			WITH w AS (SELECT 'public.' || x.tbl::text t, count(*) n FROM kct_rows x GROUP BY 1),
			     a AS (SELECT k t, (before ->> k)::bigint - (after ->> k)::bigint AS n FROM jsonb_object_keys(before) k)
			SELECT i, a.t, w.n, (r -> a.t ->> 'deleted')::bigint, (r -> a.t ->> 'anonymized')::bigint, a.n, d -> a.t = r -> a.t
			  FROM a LEFT JOIN w ON w.t = a.t
			 WHERE coalesce((r -> a.t ->> 'deleted')::bigint, 0) <> a.n
			    OR a.n + coalesce((r -> a.t ->> 'anonymized')::bigint, 0) <> coalesce(w.n, 0)
			    OR (d -> a.t) IS DISTINCT FROM (r -> a.t);
			RAISE EXCEPTION USING ERRCODE = 'P0001';
		EXCEPTION WHEN SQLSTATE 'P0001' THEN NULL;
		END;
	END LOOP;
END $$;
SELECT * FROM kct_erase_diff();
SELECT privacy.set_erasure_mode('kct_user_entity', 'anonymize');
SELECT privacy.set_erasure_mode('kct_event_entity', 'anonymize');
SELECT * FROM kct_erase_diff();
BEGIN;
SELECT r -> 'tables' -> 'public.kct_user_entity' AS users, r -> 'tables' -> 'public.kct_event_entity' AS events
  FROM privacy.erase('user', kct(7)) r;
SELECT email, first_name, username ~ '^[0-9a-f]{32}$' AS hashed, realm_id FROM kct_user_entity WHERE id = kct(7);
SELECT count(*) AS events, count(ip_address) AS with_ip FROM kct_event_entity WHERE user_id = kct(7);
ROLLBACK;
SELECT privacy.set_erasure_mode('kct_user_entity', 'delete');
SELECT privacy.set_erasure_mode('kct_event_entity', 'delete');

-- shared => 'keep': user 5's client session that hangs off user 4's session
-- stays for user 4, detached from user 5 (its auth_user_id cleared), with its note
BEGIN;
SELECT r -> 'tables' -> 'public.kct_client_session' AS sessions, r -> 'shared' AS shared
  FROM privacy.erase('user', kct(5), shared => 'keep') r;
SELECT s.user_id = kct(4) AS users_4, c.auth_user_id, (SELECT count(*) FROM kct_client_session_note n WHERE n.client_session = c.id) AS notes
  FROM kct_client_session c JOIN kct_user_session s ON s.id = c.session_id WHERE s.user_id = kct(4);
ROLLBACK;
-- holds: user 5 held; erasing user 4 would delete their shared client
-- session: 55000, dry run too; with shared => 'keep' it stays and user 4 goes
SELECT privacy.hold('user', kct(5), 'litigation');
\set VERBOSITY terse
SELECT privacy.erase('user', kct(5));
SELECT privacy.erase('user', kct(4), dry_run => true);
SELECT privacy.erase('user', kct(4));
\set VERBOSITY default
BEGIN;
SELECT r -> 'tables' -> 'public.kct_client_session' AS sessions FROM privacy.erase('user', kct(4), shared => 'keep') r;
SELECT count(*) AS user_5_sessions FROM kct_client_session WHERE auth_user_id = kct(5);
ROLLBACK;
SELECT privacy.release_hold('user', kct(5));

-- retention: epoch-millisecond bigint times are refused (22023, nothing
-- added); a generated timestamptz column over them works, holds respected
\set VERBOSITY terse
SELECT privacy.add_retention('kct_event_entity', 'event_time', '90 days');
SELECT privacy.add_retention('kct_user_entity', 'created_timestamp', '1 year');
SELECT privacy.add_retention('kct_offline_user_session', 'created_on', '30 days');
\set VERBOSITY default
SELECT count(*) AS policies FROM privacy.retention_policies;
BEGIN;
ALTER TABLE kct_event_entity ADD COLUMN event_at timestamptz GENERATED ALWAYS AS (to_timestamp(event_time / 1000.0)) STORED;
CREATE INDEX ON kct_event_entity (event_at);
SELECT privacy.hold('user', kct(6), 'litigation');
SELECT count(*) FILTER (WHERE user_id = kct(6)) AS held_rows FROM kct_event_entity;
SELECT privacy.add_retention('kct_event_entity', 'event_at', '90 days') AS p \gset
SELECT privacy.run_retention(:p) AS expired;
SELECT count(*) AS left, count(*) FILTER (WHERE user_id = kct(6)) AS held_left FROM kct_event_entity;
SELECT rows, held, blocked FROM privacy.retention_runs WHERE policy = :p;
ROLLBACK;

-- breach_report: distinct subjects of the rows of the tables, against a
-- count by hand (the LDAP users' ids count: persons with no local row)
SELECT privacy.breach_report(ARRAY['kct_fed_user_attribute', 'kct_client_session_note', 'kct_user_consent_client_scope']::regclass[]) -> 'subjects' AS subjects;
SELECT count(*) AS by_hand FROM (
	SELECT user_id FROM kct_fed_user_attribute
	UNION SELECT s.user_id FROM kct_client_session_note n JOIN kct_client_session c ON c.id = n.client_session JOIN kct_user_session s ON s.id = c.session_id
	UNION SELECT c.auth_user_id FROM kct_client_session_note n JOIN kct_client_session c ON c.id = n.client_session
	UNION SELECT c.user_id FROM kct_user_consent_client_scope x JOIN kct_user_consent c ON c.id = x.user_consent_id) s(id)
 WHERE id IS NOT NULL;

-- Keycloak's ids of LDAP users are longer than a local id
-- ('f:<provider id>:<username>'): no key of varchar(36), so nobody's (the
-- key's cast cut them to 36 characters, one subject per provider); nor is a
-- longer value whose first 36 characters are a user's id (it counted as him)
BEGIN;
DELETE FROM kct_fed_user_attribute WHERE user_id = kct(8);
INSERT INTO kct_fed_user_attribute VALUES
	('l1', 'phone', 'f:0b7a5c6e-8a8f-4f3e-9d4e-1c2b3a4d5e6f:jdoe', 'acme', 'ldap-1', NULL),
	('l2', 'phone', 'f:0b7a5c6e-8a8f-4f3e-9d4e-1c2b3a4d5e6f:jroe', 'acme', 'ldap-1', NULL),
	('l3', 'phone', kct(8) || ':x', 'acme', 'ldap-1', NULL);
SELECT privacy.breach_report(ARRAY['kct_fed_user_attribute']::regclass[]) -> 'subjects' AS subjects,
	(SELECT count(DISTINCT user_id) FROM kct_fed_user_attribute WHERE length(user_id) <= 36) AS by_hand;
ROLLBACK;

SELECT privacy.drop_subject('user');
DROP FUNCTION kct_erase_diff(), kct_counts(), kct_access_diff(), kct_walk(text), kct(int);
DROP TABLE kct_rows, kct_links, kct_ids, kct_event_entity, kct_broker_link, kct_fed_user_role_mapping, kct_fed_user_attribute,
	kct_offline_user_session, kct_client_session_note, kct_client_session, kct_user_session, kct_user_federation_mapper,
	kct_client_scope, kct_user_consent_client_scope, kct_user_consent, kct_user_group_membership, kct_user_role_mapping,
	kct_credential, kct_user_attribute, kct_user_entity, kct_realm;
DROP EXTENSION privacy;
