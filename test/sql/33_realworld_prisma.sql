-- A schema as Prisma generates it (an excerpt in the shape of Cal.com,
-- Documenso and Formbricks: quoted CamelCase identifiers, text cuid keys,
-- ON DELETE CASCADE / SET NULL / RESTRICT, enums, an implicit many-to-many
-- table "_PrUserToEventType" with columns "A" and "B", composite unique
-- keys), checked against an independent walk of pg_constraint.
-- The defects it found:
-- - discover() left the names of a scheduling tool's attendees
--   ("Attendee".name) and of invitees ("Invite".name) unproposed: a bare
--   "name" is a person's only in a table of persons, and attendee, invite(e),
--   participant, signer … were no person words;
-- - an avatar that only the erased user references, the user row staying
--   (erasure mode anonymize), was retained as "referenced by rows of other
--   subjects": nobody else references it; the receipt now says why.
SET client_min_messages = warning;
CREATE EXTENSION privacy;
CREATE TYPE "PrRole" AS ENUM ('MEMBER', 'OWNER');
CREATE TABLE "PrAvatarImage" (id TEXT NOT NULL, bytes TEXT NOT NULL, CONSTRAINT "PrAvatarImage_pkey" PRIMARY KEY (id));
CREATE TABLE "PrUser" (id TEXT NOT NULL, name TEXT, email TEXT NOT NULL, "emailVerified" TIMESTAMP(3),
	"phoneNumber" TEXT, "avatarImageId" TEXT, "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
	CONSTRAINT "PrUser_pkey" PRIMARY KEY (id));
CREATE UNIQUE INDEX "PrUser_email_key" ON "PrUser"(email);
ALTER TABLE "PrUser" ADD CONSTRAINT "PrUser_avatarImageId_fkey" FOREIGN KEY ("avatarImageId")
	REFERENCES "PrAvatarImage"(id) ON DELETE SET NULL ON UPDATE CASCADE;
CREATE TABLE "PrTeam" (id SERIAL NOT NULL, name TEXT NOT NULL, CONSTRAINT "PrTeam_pkey" PRIMARY KEY (id));
CREATE TABLE "PrMembership" ("teamId" INTEGER NOT NULL, "userId" TEXT NOT NULL, role "PrRole" NOT NULL,
	CONSTRAINT "PrMembership_pkey" PRIMARY KEY ("userId", "teamId"));
ALTER TABLE "PrMembership" ADD CONSTRAINT "PrMembership_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "PrTeam"(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "PrMembership" ADD CONSTRAINT "PrMembership_userId_fkey" FOREIGN KEY ("userId") REFERENCES "PrUser"(id) ON DELETE CASCADE ON UPDATE CASCADE;
CREATE TABLE "PrEventType" (id SERIAL NOT NULL, title TEXT NOT NULL, slug TEXT NOT NULL, "userId" TEXT, "teamId" INTEGER,
	CONSTRAINT "PrEventType_pkey" PRIMARY KEY (id));
CREATE UNIQUE INDEX "PrEventType_userId_slug_key" ON "PrEventType"("userId", slug);
ALTER TABLE "PrEventType" ADD CONSTRAINT "PrEventType_userId_fkey" FOREIGN KEY ("userId") REFERENCES "PrUser"(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "PrEventType" ADD CONSTRAINT "PrEventType_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "PrTeam"(id) ON DELETE CASCADE ON UPDATE CASCADE;
CREATE TABLE "_PrUserToEventType" ("A" INTEGER NOT NULL, "B" TEXT NOT NULL, CONSTRAINT "_PrUserToEventType_AB_pkey" PRIMARY KEY ("A", "B"));
CREATE INDEX "_PrUserToEventType_B_index" ON "_PrUserToEventType"("B");
ALTER TABLE "_PrUserToEventType" ADD CONSTRAINT "_PrUserToEventType_A_fkey" FOREIGN KEY ("A") REFERENCES "PrEventType"(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_PrUserToEventType" ADD CONSTRAINT "_PrUserToEventType_B_fkey" FOREIGN KEY ("B") REFERENCES "PrUser"(id) ON DELETE CASCADE ON UPDATE CASCADE;
CREATE TABLE "PrBooking" (id SERIAL NOT NULL, uid TEXT NOT NULL, "userId" TEXT, "eventTypeId" INTEGER, title TEXT NOT NULL,
	"smsReminderNumber" TEXT, CONSTRAINT "PrBooking_pkey" PRIMARY KEY (id));
ALTER TABLE "PrBooking" ADD CONSTRAINT "PrBooking_userId_fkey" FOREIGN KEY ("userId") REFERENCES "PrUser"(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "PrBooking" ADD CONSTRAINT "PrBooking_eventTypeId_fkey" FOREIGN KEY ("eventTypeId") REFERENCES "PrEventType"(id) ON DELETE SET NULL ON UPDATE CASCADE;
CREATE TABLE "PrAttendee" (id SERIAL NOT NULL, email TEXT NOT NULL, name TEXT NOT NULL, "timeZone" TEXT NOT NULL,
	"phoneNumber" TEXT, "bookingId" INTEGER, CONSTRAINT "PrAttendee_pkey" PRIMARY KEY (id));
ALTER TABLE "PrAttendee" ADD CONSTRAINT "PrAttendee_bookingId_fkey" FOREIGN KEY ("bookingId") REFERENCES "PrBooking"(id) ON DELETE CASCADE ON UPDATE CASCADE;
CREATE TABLE "PrInvite" (id TEXT NOT NULL, email TEXT NOT NULL, name TEXT, "creatorId" TEXT NOT NULL, "acceptorId" TEXT,
	CONSTRAINT "PrInvite_pkey" PRIMARY KEY (id));
ALTER TABLE "PrInvite" ADD CONSTRAINT "PrInvite_creatorId_fkey" FOREIGN KEY ("creatorId") REFERENCES "PrUser"(id) ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "PrInvite" ADD CONSTRAINT "PrInvite_acceptorId_fkey" FOREIGN KEY ("acceptorId") REFERENCES "PrUser"(id) ON DELETE CASCADE ON UPDATE CASCADE;

-- eight users with cuid-like ids; user 2 shares user 1's avatar; NULL keys
CREATE TABLE pr_ids AS SELECT g, 'cl' || substr(md5('u' || g), 1, 23) AS id FROM generate_series(1, 8) g;
CREATE FUNCTION pr(g int) RETURNS text LANGUAGE sql AS $$ SELECT id FROM pr_ids WHERE pr_ids.g = pr.g $$;
INSERT INTO "PrAvatarImage" SELECT 'av' || g, 'png ' || g FROM generate_series(1, 4) g;
INSERT INTO "PrUser" (id, name, email, "emailVerified", "phoneNumber", "avatarImageId")
SELECT pr(g), (ARRAY['Alice Martin', 'Bruno Rossi', 'Chloé Dubois', 'David Nowak'])[1 + g % 4], 'user' || g || '@example.com',
	CASE WHEN g % 2 = 0 THEN timestamp '2024-01-01' END, '+44 20 7946 00' || lpad(g::text, 2, '0'),
	CASE g WHEN 1 THEN 'av1' WHEN 2 THEN 'av1' WHEN 3 THEN 'av3' END
FROM generate_series(1, 8) g;
INSERT INTO "PrTeam" (name) VALUES ('Red'), ('Blue');
INSERT INTO "PrMembership" SELECT 1 + g % 2, pr(g), CASE WHEN g <= 2 THEN 'OWNER' ELSE 'MEMBER' END::"PrRole" FROM generate_series(1, 8) g;
INSERT INTO "PrEventType" (title, slug, "userId") SELECT '30 min', 'meet', pr(g) FROM generate_series(1, 8) g;
INSERT INTO "PrEventType" (title, slug, "teamId") VALUES ('Team call', 'team-call', 1);
-- the team event's hosts, and each user's event shared with the next user
INSERT INTO "_PrUserToEventType" SELECT 9, pr(g) FROM generate_series(1, 8, 2) g;
INSERT INTO "_PrUserToEventType" SELECT g, pr(1 + g % 8) FROM generate_series(1, 8) g;
INSERT INTO "PrBooking" (uid, "userId", "eventTypeId", title, "smsReminderNumber")
SELECT 'bk' || g, pr(1 + g % 8), CASE WHEN g % 3 = 0 THEN 9 WHEN g % 5 = 0 THEN NULL ELSE 1 + (g + 1) % 8 END, 'Meeting',
	CASE WHEN g % 2 = 0 THEN '+33 6 12 34 56 ' || lpad(g::text, 2, '0') END
FROM generate_series(1, 24) g;
INSERT INTO "PrAttendee" (email, name, "timeZone", "phoneNumber", "bookingId")
SELECT 'guest' || g || '@mail.example', (ARRAY['Emma Schmidt', 'Farid Garcia', 'Greta Jensen', 'Hugo Bernard'])[1 + g % 4],
	'Europe/Paris', CASE WHEN g % 3 = 0 THEN '+33 6 98 76 54 ' || lpad(g::text, 2, '0') END, 1 + g % 24
FROM generate_series(1, 40) g;
-- invites: created by the owners, some accepted by members
INSERT INTO "PrInvite" SELECT 'inv' || g, 'invitee' || g || '@example.com', 'Invitee ' || g, pr(1 + g % 2),
	CASE WHEN g % 2 = 0 THEN pr(g) END FROM generate_series(3, 8) g;

SELECT privacy.define_subject('user', '"PrUser"');
-- discovery on CamelCase names: emails, phones ("phoneNumber",
-- "smsReminderNumber"), names of persons (the attendees' and invitees' too);
-- no e-mail proposal for "emailVerified" (a timestamp)
SELECT table_name, column_name, category FROM privacy.discover() ORDER BY table_name::text, column_name;
-- the map against a recursive walk of pg_constraint (no line: the same tables)
WITH RECURSIVE r(t) AS (SELECT '"PrUser"'::regclass::oid
	UNION SELECT c.conrelid FROM r JOIN pg_constraint c ON c.contype = 'f' AND c.confrelid = r.t
	WHERE c.conrelid <> '"PrUser"'::regclass)
SELECT s.table_name, r.t::regclass FROM (SELECT table_name FROM privacy.subject_tables WHERE subject = 'user') s
  FULL JOIN r ON r.t = s.table_name WHERE s.table_name IS NULL OR r.t IS NULL;

-- access against an independent fixed point of rows (no line: all equal)
CREATE TABLE pr_rows (tbl regclass, tid text, PRIMARY KEY (tbl, tid));
CREATE FUNCTION pr_walk(id text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE e record; cond text; n bigint; grown bigint;
BEGIN
	TRUNCATE pr_rows;
	INSERT INTO pr_rows SELECT '"PrUser"', ctid::text FROM "PrUser" u WHERE u.id = pr_walk.id;
	LOOP
		grown := 0;
		FOR e IN SELECT c.conrelid::regclass AS child, c.confrelid::regclass AS parent, c.conkey, c.confkey
			FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid <> '"PrUser"'::regclass
			AND c.conrelid::regclass::text LIKE '%Pr%'
		LOOP
			SELECT string_agg(format('c.%I = p.%I', ca.attname, pa.attname), ' AND ') INTO cond
			  FROM unnest(e.conkey, e.confkey) k(ck, pk)
			  JOIN pg_attribute ca ON ca.attrelid = e.child AND ca.attnum = k.ck
			  JOIN pg_attribute pa ON pa.attrelid = e.parent AND pa.attnum = k.pk;
			EXECUTE format('INSERT INTO pr_rows SELECT %L::regclass, c.ctid::text FROM %s c WHERE EXISTS (SELECT 1 FROM %s p'
				' WHERE %s AND p.ctid::text IN (SELECT tid FROM pr_rows WHERE tbl = %L::regclass)) ON CONFLICT DO NOTHING',
				e.child, e.child, e.parent, cond, e.parent);
			GET DIAGNOSTICS n = ROW_COUNT;
			grown := grown + n;
		END LOOP;
		EXIT WHEN grown = 0;
	END LOOP;
END $$;
CREATE FUNCTION pr_access_diff() RETURNS TABLE (g int, tbl text, walk bigint, access bigint)
LANGUAGE plpgsql AS $$
DECLARE i int;
BEGIN
	FOR i IN 1..8 LOOP
		PERFORM pr_walk(pr(i));
		RETURN QUERY
		WITH w AS (SELECT 'public.' || x.tbl::text t, count(*) n FROM pr_rows x GROUP BY 1),
		     p AS (SELECT k t, jsonb_array_length(v)::bigint n FROM jsonb_each(privacy.access('user', pr(i)) -> 'data') e(k, v))
		SELECT i, coalesce(w.t, p.t), w.n, p.n FROM w FULL JOIN p ON w.t = p.t WHERE w.n IS DISTINCT FROM p.n;
	END LOOP;
END $$;
SELECT * FROM pr_access_diff();

-- erase: every user's receipt against the walk and the rows that really
-- went, the dry run agreeing (no line: all hold)
CREATE FUNCTION pr_erase_diff() RETURNS TABLE (g int, tbl text, walk bigint, deleted bigint, removed bigint, dry_same boolean)
LANGUAGE plpgsql AS $$
DECLARE i int; d jsonb; r jsonb; t regclass; before jsonb;
BEGIN
	FOR i IN 1..8 LOOP
		BEGIN
			PERFORM pr_walk(pr(i));
			SELECT jsonb_object_agg('public.' || c.oid::regclass::text,
				(xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', c.oid::regclass), false, false, '')))[1]::text::bigint)
			  INTO before FROM pg_class c WHERE c.relname LIKE '%Pr%' AND c.relkind = 'r';
			d := privacy.erase('user', pr(i), dry_run => true) -> 'tables';
			r := privacy.erase('user', pr(i)) -> 'tables';
			RETURN QUERY
			WITH w AS (SELECT 'public.' || x.tbl::text t, count(*) n FROM pr_rows x GROUP BY 1),
			     a AS (SELECT k t, (before ->> k)::bigint - (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', substr(k, 8)), false, false, '')))[1]::text::bigint AS n
				FROM jsonb_object_keys(before) k)
			SELECT i, a.t, w.n, (r -> a.t ->> 'deleted')::bigint, a.n, d -> a.t = r -> a.t
			  FROM a LEFT JOIN w ON w.t = a.t
			 WHERE coalesce((r -> a.t ->> 'deleted')::bigint, 0) <> a.n OR a.n <> coalesce(w.n, 0)
			    OR (d -> a.t) IS DISTINCT FROM (r -> a.t);
			RAISE EXCEPTION USING ERRCODE = 'P0001';
		EXCEPTION WHEN SQLSTATE 'P0001' THEN NULL;
		END;
	END LOOP;
END $$;
SELECT * FROM pr_erase_diff();

-- shared => 'keep': an invite the owner created (NOT NULL, ON DELETE
-- RESTRICT) and a member accepted cannot outlive its creator: 23503, nothing changed
\set VERBOSITY terse
SELECT privacy.erase('user', pr(1), shared => 'keep');
\set VERBOSITY default
SELECT count(*) AS users FROM "PrUser";
-- the member's side of it (nullable, CASCADE) is detached
BEGIN;
SELECT r -> 'tables' -> 'public."PrInvite"' AS invites, r -> 'shared' AS shared
  FROM privacy.erase('user', pr(4), shared => 'keep') r;
SELECT id, "creatorId" = pr(2) AS by_owner, "acceptorId" FROM "PrInvite" WHERE id = 'inv4';
ROLLBACK;

-- anonymize mode on the user: the avatar only user 3 references is kept,
-- and the receipt says so (it said "referenced by rows of other subjects");
-- the avatar user 1 shares with user 2 is kept for that reason
SELECT privacy.classify('"PrUser"', 'email', 'user.contact.email');
SELECT privacy.classify('"PrUser"', 'name', 'user.name');
SELECT privacy.classify('"PrAvatarImage"', 'bytes', 'user.biometric');
SELECT privacy.set_erasure_mode('"PrUser"', 'anonymize');
BEGIN;
SELECT privacy.erase('user', pr(3), dry_run => true) -> 'retained' AS dry_retained;
SELECT r -> 'retained' AS retained, r -> 'tables' -> 'public."PrAvatarImage"' AS avatars
  FROM privacy.erase('user', pr(3)) r;
SELECT privacy.erase('user', pr(1)) -> 'retained' AS retained;
SELECT id, email ~ '^[0-9a-f]{32}$' AS hashed, name, "avatarImageId" FROM "PrUser" WHERE id IN (pr(1), pr(3)) ORDER BY id;
ROLLBACK;
-- the avatar's own owner: the same reasons by the statements of another owner
CREATE ROLE regress_pr_images;
GRANT USAGE ON SCHEMA privacy TO regress_pr_images;
ALTER TABLE "PrAvatarImage" OWNER TO regress_pr_images;
BEGIN;
SELECT privacy.erase('user', pr(3), dry_run => true) -> 'retained' AS dry_retained;
SELECT privacy.erase('user', pr(1)) -> 'retained' AS retained;
ROLLBACK;
ALTER TABLE "PrAvatarImage" OWNER TO CURRENT_USER;
REVOKE USAGE ON SCHEMA privacy FROM regress_pr_images;
DROP ROLE regress_pr_images;
-- in anonymize mode the avatar is rewritten
SELECT privacy.set_erasure_mode('"PrAvatarImage"', 'anonymize');
BEGIN;
SELECT r -> 'retained' AS retained, r -> 'tables' -> 'public."PrAvatarImage"' AS avatars
  FROM privacy.erase('user', pr(3)) r;
SELECT id, bytes FROM "PrAvatarImage" ORDER BY id;
ROLLBACK;

SELECT privacy.drop_subject('user');
DROP FUNCTION pr_erase_diff(), pr_access_diff(), pr_walk(text), pr(int);
DROP TABLE pr_rows, pr_ids, "PrInvite", "PrAttendee", "PrBooking", "_PrUserToEventType", "PrEventType",
	"PrMembership", "PrTeam", "PrUser", "PrAvatarImage";
DROP TYPE "PrRole";
DROP EXTENSION privacy;
