-- Encrypted columns at scale (issue #12):
--  * encrypt_column over 100,000 subjects whose rows are interleaved: the
--    1,024-slot key cache turns over many times inside one UPDATE and keys
--    created earlier in that statement must still be found (was 42704);
--  * 10,000 single-row INSERTs into a table two foreign-key hops from the
--    subject: the session's memory stays flat (a plan was kept per statement).
CREATE EXTENSION privacy;
CREATE SCHEMA scale;
SET search_path = scale, public;
-- the data key id at the start of a stored text value
CREATE FUNCTION pg_temp.key_of(v text) RETURNS bigint LANGUAGE sql AS $$
	SELECT ('x' || encode(substr(decode(rpad(substr(v, 5), (length(v) - 4 + 3) / 4 * 4, '='),
		'base64'), 1, 8), 'hex'))::bit(64)::bigint $$;

CREATE TABLE scale.person (id int PRIMARY KEY);
CREATE TABLE scale.visit (id int PRIMARY KEY, person_id int NOT NULL REFERENCES scale.person, note text);
CREATE TABLE scale.remark (id int PRIMARY KEY, person_id int NOT NULL REFERENCES scale.person, body text);
SELECT privacy.define_subject('scale_person', 'scale.person');
INSERT INTO scale.person SELECT i FROM generate_series(1, 100000) i;
-- two rows per person, far apart: person i at rows i and 100000 + i
INSERT INTO scale.visit SELECT g, (g - 1) % 100000 + 1, 'note ' || g FROM generate_series(1, 200000) g;
CREATE TABLE scale.visit_plain AS SELECT id, note FROM scale.visit;
SELECT privacy.encrypt_column('scale.visit', 'note', 'scale_person');
-- independent checks: every value is ciphertext, decrypts to what it was,
-- and is under its own person's key (one key per person)
SELECT count(*) FILTER (WHERE note LIKE 'pv1:%') AS encrypted, count(*) AS rows FROM scale.visit;
SELECT count(*) AS same FROM scale.visit_decrypted d JOIN scale.visit_plain p USING (id) WHERE d.note = p.note;
SELECT count(DISTINCT pg_temp.key_of(note)) AS keys FROM scale.visit;
SELECT count(*) AS split_persons FROM (
	SELECT person_id FROM scale.visit GROUP BY person_id HAVING count(DISTINCT pg_temp.key_of(note)) <> 1) s;
SELECT count(*) AS subject_keys FROM privacy.keys WHERE subject = 'scale_person' AND state = 'active';

-- the write path of per-subject keys: 10,000 statements, memory stays flat
-- (a plan kept per statement grew the session by about 17 KB per INSERT,
-- 160 MB here; what may grow is bounded: 1,024 cached keys and at most
-- 4,096 cached subject ids, about 1 MB).  The remarks reference the person
-- directly: a table two hops away (remark -> visit -> person) is refused
-- since the fourth review (66_crypto_review4).
SELECT privacy.encrypt_column('scale.remark', 'body', 'scale_person');
CREATE FUNCTION pg_temp.session_bytes() RETURNS bigint LANGUAGE sql AS $$
	SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts $$;
-- warm up (caches, first keys); the statements are not echoed
\set ECHO none
\o /dev/null
SELECT format('INSERT INTO scale.remark VALUES (%s, %s, %L)', g, g, 'remark ' || g)
  FROM generate_series(1, 500) g \gexec
\o
SELECT pg_temp.session_bytes() AS before \gset
\o /dev/null
SELECT format('INSERT INTO scale.remark VALUES (%s, %s, %L)', g, g, 'remark ' || g)
  FROM generate_series(501, 10500) g \gexec
\o
\set ECHO all
SELECT pg_temp.session_bytes() - :before < 4 * 1024 * 1024 AS memory_flat;
SELECT count(*) FILTER (WHERE body LIKE 'pv1:%') AS encrypted, count(*) AS rows FROM scale.remark;
SELECT count(*) AS readable FROM scale.remark_decrypted WHERE body = 'remark ' || id;
-- each remark is under its person's key
SELECT count(*) AS wrong_key FROM scale.remark r JOIN scale.visit v ON v.person_id = r.person_id
 WHERE pg_temp.key_of(r.body) <> pg_temp.key_of(v.note);

DROP SCHEMA scale CASCADE;
RESET search_path;
DROP EXTENSION privacy CASCADE;
