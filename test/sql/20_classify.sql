-- Classification: categories, default and explicit erasure strategies,
-- purposes and legal bases, erasure modes, recipients, coverage views;
-- renamed and dropped columns; then invalid input and privileges.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL, full_name varchar(40),
	phone text, born date, ip inet, score int NOT NULL DEFAULT 0, notes jsonb, pic bytea,
	"Odd ""Col""" text, shape point, spot point NOT NULL DEFAULT '(0,0)');
CREATE TABLE visits (id int PRIMARY KEY, person_id int REFERENCES people, at timestamptz, ua text);
SELECT privacy.define_subject('person', 'people');

-- default strategy: the category's ('null'), 'redact' on a NOT NULL column
SELECT privacy.classify('people', 'email', 'user.contact.email', purposes => ARRAY['support', 'billing'],
	legal_basis => 'contract');
SELECT privacy.classify('people', 'full_name', 'user.name');
SELECT privacy.classify('people', 'phone', 'user.contact.phone_number', 'hash', portable => false);
SELECT privacy.classify('people', 'born', 'user.demographic.date_of_birth', 'redact');
SELECT privacy.classify('people', 'ip', 'user.device.ip_address', 'redact');
SELECT privacy.classify('people', 'notes', 'user.health_and_medical', 'keep', legal_basis => 'legal_obligation');
SELECT privacy.classify('people', 'pic', 'user.content.self_image', 'hash');
SELECT privacy.classify('people', 'Odd "Col"', 'user.contact', 'null');
-- a parent category is allowed
SELECT privacy.classify('visits', 'ua', 'user.device');
SELECT table_name, column_name, category, special, erasure, portable, purposes, legal_basis
  FROM privacy.classified_columns ORDER BY 1, 2;
-- reclassifying replaces
SELECT privacy.classify('people', 'full_name', 'user.name.first', 'redact');
SELECT category, erasure FROM privacy.classified_columns WHERE column_name = 'full_name';
-- the coverage gap: unclassified columns of mapped tables, keys excluded
SELECT * FROM privacy.unclassified;
-- a renamed column keeps its classification
ALTER TABLE people RENAME COLUMN phone TO mobile;
SELECT column_name, category FROM privacy.classified_columns WHERE category = 'user.contact.phone_number';
-- a dropped column loses it
ALTER TABLE people DROP COLUMN pic;
SELECT count(*) FROM privacy.classified_columns WHERE category = 'user.content.self_image';
-- declassify
SELECT privacy.declassify('people', 'Odd "Col"');
SELECT count(*) FROM privacy.classified_columns WHERE column_name = 'Odd "Col"';
-- erasure modes and recipients
SELECT privacy.set_erasure_mode('visits', 'anonymize');
SELECT privacy.set_erasure_mode('visits', 'delete');
SELECT privacy.add_recipient('Payments Inc', 'billing', ARRAY['user.contact.email', 'user.financial'], 'IE');
SELECT privacy.add_recipient('Payments Inc', 'billing', ARRAY['user.contact'], 'DE');
SELECT name, purpose, categories, country FROM privacy.recipients;
-- user-defined categories
INSERT INTO privacy.categories (name, parent, description, special) VALUES
	('user.custom', 'user', 'Our own category', false);
SELECT privacy.classify('visits', 'at', 'user.custom');
-- every change is in the audit log, without personal data
SELECT action, detail->>'table' AS tbl, detail->>'column' AS col FROM privacy.audit_log
 WHERE action IN ('classify', 'declassify', 'set_erasure_mode') ORDER BY seq;
SELECT privacy.verify_audit() > 0 AS chain_ok;

-- invalid input
SELECT pg_temp.err($$SELECT privacy.classify('people', 'email', 'user.nope')$$);
SELECT pg_temp.err($$SELECT privacy.classify('people', 'nope', 'user.name')$$);
SELECT pg_temp.err($$SELECT privacy.classify('nope', 'email', 'user.name')$$);
SELECT pg_temp.err($$SELECT privacy.classify(NULL, 'email', 'user.name')$$);
SELECT pg_temp.err($$SELECT privacy.classify('people', NULL, 'user.name')$$);
SELECT pg_temp.err($$SELECT privacy.classify('people', 'email', NULL)$$);
SELECT pg_temp.err($$SELECT privacy.classify('people', 'email', 'user.name', 'shuffle')$$);
SELECT pg_temp.err($$SELECT privacy.classify('people', 'score', 'user.name', 'hash')$$);
SELECT pg_temp.err($$SELECT privacy.classify('people', 'email', 'user.name', 'null')$$);
SELECT pg_temp.err($$SELECT privacy.classify('people', 'shape', 'user.location', 'redact')$$);
SELECT pg_temp.err($$SELECT privacy.classify('people', 'email', 'user.name', 'shred')$$);
SELECT pg_temp.err($$SELECT privacy.classify('people', 'email', 'user.name', portable => NULL)$$);
SELECT pg_temp.err($$SELECT privacy.classify('people', 'email', 'user.name', purposes => ARRAY[NULL])$$);
SELECT pg_temp.err($$SELECT privacy.classify('pg_catalog.pg_class', 'relname', 'user.name')$$);
SELECT pg_temp.err($$SELECT privacy.declassify('people', 'score')$$);
SELECT pg_temp.err($$SELECT privacy.declassify('people', 'nope')$$);
SELECT pg_temp.err($$SELECT privacy.set_erasure_mode('people', 'shred')$$);
SELECT pg_temp.err($$SELECT privacy.set_erasure_mode('people', NULL)$$);
SELECT pg_temp.err($$SELECT privacy.add_recipient('X', 'p', ARRAY['user.nope'])$$);
SELECT pg_temp.err($$SELECT privacy.add_recipient(NULL, 'p', ARRAY['user'])$$);
SELECT pg_temp.err($$SELECT privacy.add_recipient('X', 'p', NULL)$$);
-- without a strategy: 'null' on a nullable column of any type; a NOT NULL
-- column that cannot be redacted gets 'keep', with a NOTICE
SELECT privacy.classify('people', 'shape', 'user.location.precise');
SELECT privacy.classify('people', 'spot', 'user.location.precise');
SELECT column_name, erasure FROM privacy.classified_columns WHERE column_name IN ('shape', 'spot') ORDER BY 1;
-- nothing changed by the failed calls
SELECT column_name, category, erasure FROM privacy.classified_columns WHERE table_name = 'people'::regclass ORDER BY 1;
-- privileges
CREATE ROLE regress_clerk;
SET ROLE regress_clerk;
SELECT pg_temp.err($$SELECT privacy.classify('people', 'email', 'user.name')$$);
SELECT pg_temp.err($$SELECT * FROM privacy.classified_columns$$);
SELECT count(*) > 0 AS taxonomy_is_public FROM privacy.categories;
RESET ROLE;
GRANT privacy_admin TO regress_clerk;
SET ROLE regress_clerk;
SELECT privacy.classify('people', 'score', 'user.behavior', 'keep');
RESET ROLE;
DROP ROLE regress_clerk;

DROP TABLE visits, people;
SELECT count(*) AS classifications_left FROM privacy.classifications;
DROP EXTENSION privacy;
