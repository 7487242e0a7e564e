-- demo step 10: install the extension, define who the data subject is, and
-- look at the data map privacy discovers from the foreign keys.
-- (Functions returning void are run with \g /dev/null: no empty result.)
\pset footer off
\set QUIET on
\echo
\echo '== 1. Install the extension (needs shared_preload_libraries = ''privacy'' for'
\echo '      the retention worker and privacy.root_key_file for encryption).'
CREATE EXTENSION IF NOT EXISTS privacy;
SELECT extversion AS "privacy version" FROM pg_extension WHERE extname = 'privacy';

\echo
\echo '== 2. A customer is a row of app.end_users (key: its primary key, id).'
\echo '      privacy walks every foreign key that leads to end_users, at any depth:'
\echo '      devices, conversations, messages (two paths: conversation and sender),'
\echo '      attachments (through messages), invoices, consents_import.'
SELECT privacy.define_subject('customer', 'app.end_users') \g /dev/null

\echo
\echo '== 3. app.event_log has no foreign key: user_ref holds the user id as text.'
\echo '      Declare it as a link so that access and erase find those rows too'
\echo '      (the id is cast to text once, so the index on user_ref is used).'
SELECT privacy.link('customer', 'app.event_log', 'user_ref') \g /dev/null

\echo
\echo '== 4. The data map: every table holding customers'' rows, how it is reached.'
SELECT table_name, via, depth, path
FROM privacy.subject_tables
WHERE subject = 'customer'
ORDER BY depth, table_name::text;

\echo
\echo '== 5. Tables of schema app that are NOT in the map: tenants and agents are'
\echo '      the platform''s own data; addresses has no classified column yet (it'
\echo '      joins the map in step 20, when it has).'
SELECT c.oid::regclass AS "not a customer's data"
FROM pg_class c
WHERE c.relnamespace = 'app'::regnamespace AND c.relkind IN ('r', 'p')
  AND c.oid NOT IN (SELECT table_name FROM privacy.subject_tables WHERE subject = 'customer')
ORDER BY 1;

\echo
\echo '== 6. The same map as a Graphviz picture (privacy.data_map returns DOT).'
\getenv demo_out PRIVACY_WORK
\if :{?demo_out}
\else
\set demo_out '.'
\endif
\set dot_file :demo_out/customer_map.dot
\pset format unaligned
\pset tuples_only on
\echo '   (the DOT text goes to' :dot_file ')'
\o :dot_file
SELECT privacy.data_map('customer');
\o
\pset tuples_only off
\pset format aligned
SELECT line AS "customer_map.dot (first lines)"
FROM regexp_split_to_table(privacy.data_map('customer'), E'\n') WITH ORDINALITY AS t(line, n)
WHERE n <= 15 ORDER BY n;
\setenv DEMO_DOT_FILE :dot_file
\! if command -v dot >/dev/null 2>&1; then dot -Tsvg "$DEMO_DOT_FILE" -o "${DEMO_DOT_FILE%.dot}.svg" && echo "rendered ${DEMO_DOT_FILE%.dot}.svg (keep it with PRIVACY_KEEP=1 make demo)"; else echo "graphviz 'dot' not installed: apt-get install graphviz to render $DEMO_DOT_FILE"; fi
