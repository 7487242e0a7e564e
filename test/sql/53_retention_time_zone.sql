-- A timestamp without time zone is read in the policy's time zone (issue 11
-- item 3): west and east of UTC, the database default, and a year of rows
-- across both DST changes checked by an independent query.
CREATE EXTENSION privacy;
SET client_min_messages = warning;
CREATE TABLE events_west (id int PRIMARY KEY, at timestamp NOT NULL);
CREATE TABLE events_east (id int PRIMARY KEY, at timestamp NOT NULL);
CREATE TABLE events_db (id int PRIMARY KEY, at timestamp NOT NULL);
-- written by applications in New York and Tokyo: local wall-clock times
INSERT INTO events_west VALUES
	(1, (now() AT TIME ZONE 'America/New_York') - interval '10 minutes'),
	(2, (now() AT TIME ZONE 'America/New_York') - interval '5 hours');
INSERT INTO events_east VALUES
	(1, (now() AT TIME ZONE 'Asia/Tokyo') - interval '10 minutes'),
	(2, (now() AT TIME ZONE 'Asia/Tokyo') - interval '5 hours');
INSERT INTO events_db VALUES
	(1, (now() AT TIME ZONE 'Asia/Tokyo') - interval '10 minutes'),
	(2, (now() AT TIME ZONE 'Asia/Tokyo') - interval '5 hours');
BEGIN;
SELECT privacy.add_retention('events_west', 'at', '4 hours', time_zone => 'America/New_York') AS pw \gset
SELECT privacy.add_retention('events_east', 'at', '4 hours', time_zone => 'Asia/Tokyo') AS pe \gset
SELECT privacy.run_retention(:pw) AS west_deleted, privacy.run_retention(:pe) AS east_deleted;
COMMIT;
SELECT 'west' AS t, array_agg(id) AS kept FROM events_west UNION ALL
SELECT 'east', array_agg(id) FROM events_east;
SELECT policy = :pw AS west, time_zone FROM privacy.retention_policies ORDER BY policy;

-- NULL: the database's default TimeZone at run time
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone = %L', current_database(), 'Asia/Tokyo'); END $$;
BEGIN;
SELECT privacy.add_retention('events_db', 'at', '4 hours') AS pd \gset
SELECT privacy.run_retention(:pd) AS db_default_deleted;
COMMIT;
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET timezone', current_database()); END $$;
SELECT array_agg(id) AS kept FROM events_db;

-- a year of Berlin wall-clock times every 20 minutes (both DST changes,
-- the hour that does not exist and the hour that exists twice)
CREATE TABLE events_berlin (id serial PRIMARY KEY, at timestamp NOT NULL);
CREATE INDEX ON events_berlin (at);
INSERT INTO events_berlin (at)
SELECT g FROM generate_series(date_trunc('hour', now() AT TIME ZONE 'Europe/Berlin') - interval '1 year',
                              date_trunc('hour', now() AT TIME ZONE 'Europe/Berlin'), interval '20 minutes') g;
CREATE TABLE berlin_before AS SELECT * FROM events_berlin;
BEGIN;
SELECT privacy.add_retention('events_berlin', 'at', '200 days', time_zone => 'Europe/Berlin') AS pb \gset
SELECT privacy.run_retention(:pb) > 0 AS deleted_some;
COMMIT;
SET TimeZone = 'Europe/Berlin';
-- independent: exactly the rows whose Berlin time is older than 200 calendar days are gone
SELECT count(*) FILTER (WHERE e.id IS NULL AND (b.at AT TIME ZONE 'Europe/Berlin') >= now() - interval '200 days') AS deleted_early,
       count(*) FILTER (WHERE e.id IS NOT NULL AND (b.at AT TIME ZONE 'Europe/Berlin') < now() - interval '200 days' - interval '1 minute') AS left_behind
  FROM berlin_before b LEFT JOIN events_berlin e USING (id);
RESET TimeZone;

-- cleanup
SELECT count(privacy.drop_retention(policy)) AS dropped FROM privacy.retention_policies;
DROP TABLE events_west, events_east, events_db, events_berlin, berlin_before;
DROP EXTENSION privacy CASCADE;
