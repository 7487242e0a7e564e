-- demo step 20: say which columns are personal data (fideslang categories),
-- how each is erased, for which purposes and on which legal basis; who
-- receives the data; and what is still unclassified.
\pset footer off
\set QUIET on
\echo
\echo '== 1. The category taxonomy is built in (fideslang).  Special categories'
\echo '      (GDPR Art. 9 and 10) are flagged.'
SELECT count(*) AS categories, count(*) FILTER (WHERE special) AS special
FROM privacy.categories;
SELECT name, special, erasure AS default_erasure
FROM privacy.categories
WHERE name LIKE 'user.contact%' OR name IN ('user.health_and_medical', 'user.biometric')
ORDER BY name;

\echo
\echo '== 2. Classify the customer''s own record.  Erasure strategy: default of the'
\echo '      category (null; redact on a NOT NULL column such as email).'
SELECT privacy.classify('app.end_users', 'email', 'user.contact.email',
	purposes => '{customer_support,billing}', legal_basis => 'contract') \g /dev/null
SELECT privacy.classify('app.end_users', 'full_name', 'user.name',
	purposes => '{customer_support,billing}', legal_basis => 'contract') \g /dev/null
SELECT privacy.classify('app.end_users', 'phone', 'user.contact.phone_number',
	purposes => '{customer_support}', legal_basis => 'contract') \g /dev/null
SELECT privacy.classify('app.end_users', 'date_of_birth', 'user.demographic.date_of_birth',
	purposes => '{age_verification}', legal_basis => 'legal_obligation') \g /dev/null

\echo
\echo '== 3. Addresses: a table the customer points to (end_users.address_id).'
\echo '      Once it holds classified columns it joins the map; a household''s'
\echo '      shared address is kept when only one of its people is erased.'
SELECT privacy.classify('app.addresses', 'street', 'user.contact.address.street',
	purposes => '{billing,delivery}', legal_basis => 'contract') \g /dev/null
SELECT privacy.classify('app.addresses', 'city', 'user.contact.address.city',
	purposes => '{billing,delivery}', legal_basis => 'contract') \g /dev/null
SELECT privacy.classify('app.addresses', 'postal_code', 'user.contact.address.postal_code',
	purposes => '{billing,delivery}', legal_basis => 'contract') \g /dev/null
SELECT privacy.classify('app.addresses', 'country', 'user.contact.address.country',
	purposes => '{billing,delivery}', legal_basis => 'contract') \g /dev/null

\echo
\echo '== 4. Devices: identifiers, IP addresses (v4 and v6) and GPS positions.'
\echo '      Technical identifiers are observed, not provided by the customer:'
\echo '      portable => false keeps them out of the Art. 20 export (access shows them).'
SELECT privacy.classify('app.devices', 'device_uid', 'user.device.device_id', portable => false,
	purposes => '{security}', legal_basis => 'legitimate_interests') \g /dev/null
SELECT privacy.classify('app.devices', 'ip_address', 'user.device.ip_address', portable => false,
	purposes => '{security,fraud_prevention}', legal_basis => 'legitimate_interests') \g /dev/null
SELECT privacy.classify('app.devices', 'lat', 'user.location.precise',
	purposes => '{fraud_prevention}', legal_basis => 'consent') \g /dev/null
SELECT privacy.classify('app.devices', 'lon', 'user.location.precise',
	purposes => '{fraud_prevention}', legal_basis => 'consent') \g /dev/null

\echo
\echo '== 5. What the customer wrote: conversation subjects, messages, attachments.'
SELECT privacy.classify('app.conversations', 'subject', 'user.content.private',
	purposes => '{customer_support}', legal_basis => 'contract') \g /dev/null
SELECT privacy.classify('app.messages', 'body', 'user.content.private',
	purposes => '{customer_support}', legal_basis => 'contract') \g /dev/null
SELECT privacy.classify('app.attachments', 'file_name', 'user.content.private',
	purposes => '{customer_support}', legal_basis => 'contract') \g /dev/null
SELECT privacy.classify('app.attachments', 'content', 'user.content.private',
	purposes => '{customer_support}', legal_basis => 'contract') \g /dev/null
SELECT privacy.classify('app.event_log', 'event', 'user.behavior',
	purposes => '{product_analytics}', legal_basis => 'legitimate_interests') \g /dev/null

\echo
\echo '== 6. Invoices are kept ten years for tax law: erasure anonymizes them'
\echo '      instead of deleting them.  The billing name and address stay (keep:'
\echo '      retained under a legal obligation, listed in the erasure receipt);'
\echo '      the link to the user goes (invoices.user_id is ON DELETE SET NULL).'
SELECT privacy.set_erasure_mode('app.invoices', 'anonymize') \g /dev/null
SELECT privacy.classify('app.invoices', 'billing_name', 'user.name', erasure => 'keep',
	purposes => '{billing,tax_compliance}', legal_basis => 'legal_obligation') \g /dev/null
SELECT privacy.classify('app.invoices', 'billing_address', 'user.contact.address', erasure => 'keep',
	purposes => '{billing,tax_compliance}', legal_basis => 'legal_obligation') \g /dev/null
SELECT privacy.classify('app.invoices', 'amount', 'user.behavior.purchase_history', erasure => 'keep',
	purposes => '{billing,tax_compliance}', legal_basis => 'legal_obligation') \g /dev/null

\echo
\echo '== 7. Recipients: third parties that receive some categories (Art. 15(1)(c)).'
\echo '      Erasure names the ones to notify (Art. 19).'
SELECT privacy.add_recipient('Stripe Payments Europe', 'billing',
	'{user.name,user.contact.email,user.contact.address}', 'IE') \g /dev/null
SELECT privacy.add_recipient('Insightly Support Analytics', 'product_analytics',
	'{user.content.private,user.behavior,user.device.ip_address}', 'US') \g /dev/null

\echo
\echo '== 8. The classification, as the DPO sees it.'
SELECT table_name, column_name, category, special, erasure, portable,
	array_to_string(purposes, ',') AS purposes, legal_basis
FROM privacy.classified_columns
ORDER BY table_name::text, column_name;

\echo
\echo '== 9. The map now includes app.addresses (referenced, holds classified columns).'
SELECT table_name, via, depth, path
FROM privacy.subject_tables
WHERE subject = 'customer'
ORDER BY depth, table_name::text;

\echo
\echo '== 10. Coverage gap: columns of mapped tables neither classified nor keys.'
\echo '       Each one is a decision to make (personal data or not?).'
SELECT table_name, column_name, data_type
FROM privacy.unclassified
ORDER BY table_name::text, column_name;

\echo
\echo '== 11. The picture again, now with the classified columns and their'
\echo '       categories in each table''s box.'
\getenv demo_out PRIVACY_WORK
\if :{?demo_out}
\else
\set demo_out '.'
\endif
\set dot_file :demo_out/customer_map_classified.dot
\echo '   (the DOT text goes to' :dot_file ')'
\pset format unaligned
\pset tuples_only on
\o :dot_file
SELECT privacy.data_map('customer');
\o
\pset tuples_only off
\pset format aligned
\setenv DEMO_DOT_FILE :dot_file
\! if command -v dot >/dev/null 2>&1; then dot -Tsvg "$DEMO_DOT_FILE" -o "${DEMO_DOT_FILE%.dot}.svg" && echo "rendered ${DEMO_DOT_FILE%.dot}.svg"; else echo "graphviz 'dot' not installed: apt-get install graphviz to render $DEMO_DOT_FILE"; fi
