-- Kept plans of the rights calls (issue 16): what erase and access keep
-- across calls in one session (the root row lock, the advisory lock of a
-- linked table, the hold check, the recipients, the ledger, the facts of an
-- access) follows every change made between the calls: new holds and
-- recipients, a renamed root table and linked table, a root table moved
-- to another schema.  The request's detail records the reason given, and nothing
-- without one (it used to record the subject type as the reason, always).
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

CREATE TABLE people (id int PRIMARY KEY, email text);
CREATE TABLE notes (id int PRIMARY KEY, person_id int REFERENCES people, body text);
CREATE TABLE trail (id int PRIMARY KEY, who int, what text);
INSERT INTO people SELECT g, 'p' || g || '@example.org' FROM generate_series(1, 8) g;
INSERT INTO notes SELECT g, 1 + g % 8, 'note ' || g FROM generate_series(1, 32) g;
INSERT INTO trail SELECT g, 1 + g % 8, 'did ' || g FROM generate_series(1, 32) g;
SELECT privacy.define_subject('person', 'people');
SELECT privacy.link('person', 'trail', 'who');
SELECT privacy.classify('people', 'email', 'user.contact');
SELECT privacy.classify('notes', 'body', 'user.content');

-- the reason goes into the request's detail; without one, nothing does
SELECT (privacy.erase('person', '1', reason => 'asked by letter')->'tables'->'public.people'->>'deleted') AS deleted;
SELECT privacy.erase('person', '2')->'tables'->'public.notes'->>'deleted' AS deleted;
SELECT kind, status, detail FROM privacy.request_log ORDER BY id;
-- one ledger row per erasure, for the request it answers
SELECT count(*) AS ledger_rows,
       count(*) FILTER (WHERE r.id IS NOT NULL AND r.kind = 'erase') AS matching_requests
  FROM privacy.erasures e LEFT JOIN privacy.request_log r ON r.id = e.request;

-- recipients added after the first call are notified by the next one
SELECT privacy.erase('person', '3')->'notify' AS notify;
SELECT privacy.add_recipient('Mailer', 'marketing', ARRAY['user.contact']);
SELECT privacy.erase('person', '4')->'notify' AS notify;
SELECT privacy.add_recipient('Archive', 'archiving', ARRAY['user']);
SELECT privacy.erase('person', '5')->'notify' AS notify;

-- access: the facts follow the catalogs between calls in one session
SELECT r->'holds' AS holds, r->'recipients'->0->>'name' AS first_recipient,
       jsonb_array_length(r->'data'->'public.notes') AS notes
  FROM (SELECT privacy.access('person', '6') AS r) s;
SELECT privacy.hold('person', '6', 'litigation');
SELECT jsonb_array_length(r->'holds') AS holds, r->'holds'->0->>'reason' AS reason,
       jsonb_array_length(r->'data'->'public.notes') AS notes,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(r) k) AS keys
  FROM (SELECT privacy.access('person', '6') AS r) s;
-- the hold check follows too: 55000, nothing erased
SELECT pg_temp.err($$SELECT privacy.erase('person', '6')$$) AS held;
SELECT count(*) AS notes_of_6 FROM notes WHERE person_id = 6;
SELECT privacy.release_hold('person', '6');

-- a renamed root table (its key column cannot be renamed: the map refuses)
ALTER TABLE people RENAME TO persons;
SELECT r->'tables' AS tables FROM (SELECT privacy.erase('person', '6') AS r) s;
-- a renamed linked table and a root table in another schema
ALTER TABLE trail RENAME TO trail_log;
CREATE SCHEMA elsewhere;
ALTER TABLE persons SET SCHEMA elsewhere;
SELECT r->'tables' AS tables FROM (SELECT privacy.erase('person', '7') AS r) s;
-- an independent check: nothing of 1..7 is left, all of 8 is
SELECT (SELECT count(*) FROM elsewhere.persons WHERE id <= 7) + (SELECT count(*) FROM notes WHERE person_id <= 7)
     + (SELECT count(*) FROM trail_log WHERE who <= 7) AS left_of_1_to_7,
       (SELECT count(*) FROM notes WHERE person_id = 8) + (SELECT count(*) FROM trail_log WHERE who = 8) AS rows_of_8;

DROP TABLE trail_log, notes, elsewhere.persons;
DROP SCHEMA elsewhere;
DROP EXTENSION privacy;
