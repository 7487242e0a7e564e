-- demo step 30: a customer asks "what do you hold about me?" (GDPR Art. 15)
-- and "give me my data" (Art. 20).  Customer 42 lives with customer 4042.
\pset footer off
\set QUIET on
\set ECHO none
-- Display helper, not part of privacy: at most `n` rows per table, long
-- values (messages, attachment bytes) cut to 60 characters.
CREATE FUNCTION pg_temp.cut(v jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN jsonb_typeof(v) = 'string' AND length(v #>> '{}') > 60
				THEN to_jsonb(left(v #>> '{}', 57) || '...') ELSE v END
$$;
CREATE FUNCTION pg_temp.trimmed(tables jsonb, n int) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_object_agg(t.key,
		CASE WHEN jsonb_typeof(t.value) <> 'array' THEN t.value ELSE (
			SELECT coalesce(jsonb_agg(
				CASE WHEN jsonb_typeof(e.r) <> 'object' THEN e.r ELSE
					(SELECT jsonb_object_agg(f.key, pg_temp.cut(f.value)) FROM jsonb_each(e.r) f)
				END ORDER BY e.o), '[]')
			FROM jsonb_array_elements(t.value) WITH ORDINALITY AS e(r, o)
			WHERE e.o <= n)
		END), '{}')
	FROM jsonb_each(tables) t
$$;
\set ECHO queries

\echo
\echo '== 1. Right of access (Art. 15): one call returns every row of every mapped'
\echo '      table for customer 42, plus categories, purposes, legal bases,'
\echo '      recipients, retention, consents, restriction and holds.'
CREATE TEMP TABLE report AS SELECT privacy.access('customer', '42') AS r;

\echo
\echo '   Rows found per table:'
SELECT t.key AS "table", jsonb_array_length(t.value) AS rows
FROM report, jsonb_each(r -> 'data') t
ORDER BY 1;

\echo
\echo '   The report without its data section:'
\pset format unaligned
SELECT jsonb_pretty(r - 'data') AS "access report (envelope)" FROM report;
\pset format aligned

\echo
\echo '   The data section, two rows per table, long values cut for display:'
\pset format unaligned
SELECT jsonb_pretty(pg_temp.trimmed(r -> 'data', 2)) AS "access report (data, trimmed)" FROM report;
\pset format aligned

\echo
\echo '== 2. An id that matches nobody gives an empty data section, not an error.'
SELECT privacy.access('customer', '999999') -> 'data' AS "data for an unknown id";

\echo
\echo '== 3. Data portability (Art. 20): only portable classified columns, in a'
\echo '      documented machine-readable format.  Device ids and IP addresses are'
\echo '      not portable (see step 20); keys and unclassified columns are left out.'
CREATE TEMP TABLE export AS SELECT privacy.export('customer', '42') AS e;
\pset format unaligned
SELECT jsonb_pretty(e - 'tables') AS "export (envelope)" FROM export;
\pset format aligned
SELECT t.key AS "table", jsonb_array_length(t.value) AS rows,
	(SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(t.value -> 0) k) AS columns
FROM export, jsonb_each(e -> 'tables') t
ORDER BY 1;
\pset format unaligned
SELECT jsonb_pretty(pg_temp.trimmed(e -> 'tables', 1)) AS "export (tables, one row each)" FROM export;
\pset format aligned

\echo
\echo '== 4. Every rights call is a request with a deadline (privacy.request_deadline,'
\echo '      30 days by default).  subject_ref is a keyed hash: no personal data here.'
SELECT id, kind, subject, left(subject_ref::text, 16) || '...' AS subject_ref,
	received_at::timestamp(0) AS received_at, due_at::timestamp(0) AS due_at, status, actor
FROM privacy.requests
ORDER BY id;
