-- Discovery: a labelled corpus (columns with known categories, and decoys)
-- with the proposals fixed below.
CREATE EXTENSION privacy;
-- the categories the corpus needs (the built-in taxonomy may hold them)
INSERT INTO privacy.categories (name, parent) VALUES
	('user', NULL), ('user.contact', 'user'), ('user.contact.email', 'user.contact'),
	('user.contact.phone_number', 'user.contact'), ('user.contact.address', 'user.contact'),
	('user.name', 'user'), ('user.device', 'user'), ('user.device.ip_address', 'user.device'),
	('user.financial', 'user'), ('user.financial.credit_card', 'user.financial'),
	('user.financial.bank_account', 'user.financial'), ('user.location', 'user'),
	('user.location.precise', 'user.location'), ('user.government_id', 'user'),
	('user.government_id.national_identification_number', 'user.government_id'),
	('user.demographic', 'user'), ('user.demographic.date_of_birth', 'user.demographic')
ON CONFLICT (name) DO NOTHING;

-- generators of valid (and deliberately invalid) identifiers
CREATE FUNCTION pg_temp.luhn(d text) RETURNS text LANGUAGE sql AS $$
	SELECT d || ((10 - (sum(CASE WHEN (length(d) - i) % 2 = 0
		THEN (substr(d, i, 1)::int * 2) % 10 + (substr(d, i, 1)::int * 2) / 10
		ELSE substr(d, i, 1)::int END) % 10)) % 10)::text
	FROM generate_series(1, length(d)) i $$;
CREATE FUNCTION pg_temp.cnid(d text) RETURNS text LANGUAGE sql AS $$
	SELECT d || substr('10X98765432', (sum(substr(d, i, 1)::int *
		(ARRAY[7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2])[i]) % 11)::int + 1, 1)
	FROM generate_series(1, 17) i $$;
CREATE FUNCTION pg_temp.iban_de(bban text) RETURNS text LANGUAGE sql AS $$
	SELECT 'DE' || lpad((98 - (bban || '131400')::numeric % 97)::text, 2, '0') || bban $$;

CREATE SCHEMA disc;
CREATE TABLE disc.customers (
	id			serial PRIMARY KEY,
	email		text,			-- e-mail (name and values)
	contact		text,			-- phone numbers (values only)
	full_name	text,			-- name (name only)
	"firstName"	text,			-- name (camelCase name)
	home_address text,			-- address (name only)
	client_ip	inet,			-- IP (type)
	last_ip		text,			-- IPv4/IPv6 as text (name and values)
	birth_date	date,			-- date of birth (name and range)
	created_at	timestamptz,	-- decoy: a date without a telling name
	payout		text,			-- IBANs (values only)
	card		text,			-- payment cards (values only)
	notes		text			-- decoy: free text
);
INSERT INTO disc.customers (email, contact, full_name, "firstName", home_address, client_ip,
	last_ip, birth_date, created_at, payout, card, notes)
SELECT format('user%s@example.com', i),
	CASE i % 3 WHEN 0 THEN format('+1 415 555 %s', lpad(i::text, 4, '0'))
			   WHEN 1 THEN format('(555) 123-%s', lpad(i::text, 4, '0'))
			   ELSE format('06 12 34 %s %s', lpad((i % 100)::text, 2, '0'), lpad((i / 100 + 10)::text, 2, '0')) END,
	'Person ' || i, 'First' || i, i || ' Main Street',
	format('10.0.%s.%s', i / 256, i % 256)::inet,
	CASE WHEN i % 2 = 0 THEN format('192.168.%s.%s', i / 256, i % 256) ELSE format('2001:db8::%s', to_hex(i)) END,
	date '1950-01-01' + i * 97, timestamptz '2024-01-01' + i * interval '1 day',
	pg_temp.iban_de(lpad((37040044000 + i)::text, 18, '0')),
	pg_temp.luhn(CASE i % 4 WHEN 0 THEN '411111111111' || lpad(i::text, 3, '0')
					WHEN 1 THEN '550000000000' || lpad(i::text, 3, '0')
					WHEN 2 THEN '37828224631' || lpad(i::text, 3, '0')
					ELSE '601100000000' || lpad(i::text, 3, '0') END),
	'Customer asked about delivery #' || i || ', will call back tomorrow'
FROM generate_series(1, 200) i;
-- a few blanks and nulls do not change the picture
UPDATE disc.customers SET email = NULL WHERE id % 10 = 0;
UPDATE disc.customers SET contact = 'n/a' WHERE id % 25 = 0;

CREATE TABLE disc.orders (
	id			serial PRIMARY KEY,
	customer_id	int REFERENCES disc.customers,	-- key column: never proposed
	sku			text,			-- decoy: SKUs
	amount		numeric(10,2),	-- decoy: amounts
	price_text	text,			-- decoy: amounts as text
	ref_number	text,			-- decoy: 16-digit numbers failing Luhn
	checksum	text,			-- decoy: md5 hashes
	digest		text,			-- decoy: sha256 hashes
	shipped_on	date,			-- decoy
	comment		text,			-- decoy: free text
	version		text,			-- decoy: version strings
	order_date	text,			-- decoy: dates as text
	gps			text			-- "lat, lon" pairs (name and values)
);
INSERT INTO disc.orders (customer_id, sku, amount, price_text, ref_number, checksum, digest,
	shipped_on, comment, version, order_date, gps)
SELECT 1 + i % 200, format('SKU-%s-XL', lpad(i::text, 6, '0')), i * 1.25, (i * 3.5)::text,
	overlay(pg_temp.luhn('411111111111' || lpad(i::text, 3, '0')) placing
		((right(pg_temp.luhn('411111111111' || lpad(i::text, 3, '0')), 1)::int + 1) % 10)::text from 16),
	md5(i::text), encode(sha256(i::text::bytea), 'hex'),
	date '2024-01-01' + i, 'Left at the door, signed by reception ' || i, format('1.%s.%s', i % 10, i),
	to_char(date '2024-01-01' + i, 'YYYY-MM-DD'),
	format('%s, %s', round(48.8 + i / 1000.0, 5), round(2.3 + i / 1000.0, 5))
FROM generate_series(1, 200) i;

CREATE TABLE disc.people_ids (
	k			bigint PRIMARY KEY,
	cn			text,			-- Chinese resident ids (values)
	us			text,			-- US SSNs (values)
	uk			text,			-- UK NINOs (values)
	legacy_code	text,			-- decoy: SSN shapes with forbidden areas
	lat			double precision,	-- latitude (name and range)
	lon			double precision,	-- longitude (name and range)
	correo		text,			-- e-mail (Spanish name and values)
	"手机"		text,			-- phone (Chinese name, Chinese mobile numbers)
	qty			int,			-- decoy: small integers
	email_verified boolean,		-- decoy: a flag about an e-mail
	tel_count	int				-- decoy: a count about phones
);
INSERT INTO disc.people_ids
SELECT i,
	pg_temp.cnid('110105' || to_char(date '1960-01-01' + i * 50, 'YYYYMMDD') || lpad(i::text, 3, '0')),
	format('%s-%s-%s', lpad((100 + i)::text, 3, '0'), lpad((1 + i % 98)::text, 2, '0'), lpad((1000 + i)::text, 4, '0')),
	format('AB %s %s %s C', lpad((i % 100)::text, 2, '0'), lpad((i % 97)::text, 2, '0'), lpad((i % 89)::text, 2, '0')),
	CASE WHEN i % 2 = 0 THEN format('000-%s-1234', lpad((10 + i % 89)::text, 2, '0'))
		 ELSE format('666-%s-1234', lpad((10 + i % 89)::text, 2, '0')) END,
	51.5 + i / 10000.0, -0.12 - i / 10000.0,
	format('cliente%s@correo.es', i), '138' || lpad((10000000 + i)::text, 8, '0'),
	i % 7, i % 2 = 0, i % 3
FROM generate_series(1, 200) i;

-- a hostile table name and column name
CREATE TABLE disc."Weird ""Table""; DROP TABLE x" (
	"Id" int PRIMARY KEY,
	"E-Mail Address" text,
	"Telefono; --" text
);
INSERT INTO disc."Weird ""Table""; DROP TABLE x"
SELECT i, format('x%s@weird.example.org', i), format('+34 612 345 %s', lpad(i::text, 3, '0'))
FROM generate_series(1, 50) i;

-- an empty table: names only
CREATE TABLE disc.empty_contacts (
	id			int PRIMARY KEY,
	phone_number text,
	e_mail		varchar(200),
	surname		text,
	"date_of_birth" date
);

-- the proposals
SELECT * FROM privacy.discover('disc.customers') ORDER BY column_name;
SELECT * FROM privacy.discover('disc.orders') ORDER BY column_name;
SELECT * FROM privacy.discover('disc.people_ids') ORDER BY column_name;
SELECT * FROM privacy.discover('disc."Weird ""Table""; DROP TABLE x"') ORDER BY column_name;
SELECT * FROM privacy.discover('disc.empty_contacts') ORDER BY column_name;
-- a small sample is enough
SELECT column_name, category, sampled FROM privacy.discover('disc.customers', 10) ORDER BY column_name;

-- the whole database
SELECT table_name, count(*) FROM privacy.discover_all() GROUP BY 1 ORDER BY table_name::text;
-- no subject defined: nothing mapped, nothing to propose
SELECT count(*) FROM privacy.discover();
-- with a subject: every mapped table (customers and the orders that reference it)
SELECT privacy.define_subject('customer', 'disc.customers');
SELECT table_name, column_name, category FROM privacy.discover() ORDER BY table_name::text, column_name;

-- apply at 0.8: classifies the confident proposals, returns them
SELECT * FROM privacy.apply_discovery(0.8, 'disc.customers') ORDER BY column_name;
-- classified columns are no longer proposed
SELECT column_name, category, confidence FROM privacy.discover('disc.customers') ORDER BY column_name;
SELECT column_name, category, erasure FROM privacy.classified_columns
 WHERE table_name = 'disc.customers'::regclass ORDER BY column_name;
-- every mapped table, at the default threshold
SELECT * FROM privacy.apply_discovery() ORDER BY table_name::text, column_name;
-- nothing left above the threshold
SELECT count(*) FROM privacy.apply_discovery(0.8, 'disc.customers');

-- invalid input
SELECT * FROM privacy.discover('disc.customers', 0);
SELECT * FROM privacy.discover('disc.customers', -5);
SELECT * FROM privacy.discover('disc.customers', NULL);
SELECT * FROM privacy.discover_all(0);
SELECT * FROM privacy.discover('disc.no_such_table');
CREATE VIEW disc.v AS SELECT * FROM disc.customers;
SELECT * FROM privacy.discover('disc.v');
CREATE SEQUENCE disc.s;
SELECT * FROM privacy.discover('disc.s');
SELECT * FROM privacy.apply_discovery(1.5);
SELECT * FROM privacy.apply_discovery(-0.1);
SELECT * FROM privacy.apply_discovery(NULL);
DO $$
BEGIN
	PERFORM privacy.discover('disc.customers', 0);
EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'sqlstate %', SQLSTATE;
END $$;
-- compressed IPv6 addresses, the shortest ones too, are IP addresses
CREATE TABLE disc.hosts (id int PRIMARY KEY, peer text);
INSERT INTO disc.hosts VALUES (1, '::1'), (2, 'fe80::1'), (3, '::ffff:1.2.3.4'), (4, '::'),
	(5, ' ::1 '), (6, '2001:db8::'), (7, 'a::b');
SELECT * FROM privacy.discover('disc.hosts');
-- short values with colons that are no address stay unmatched
CREATE TABLE disc.clocks (id int PRIMARY KEY, hhmm text);
INSERT INTO disc.clocks VALUES (1, '12:30'), (2, '1:2'), (3, ':'), (4, 'x::y'), (5, ':::');
SELECT * FROM privacy.discover('disc.clocks');
-- what classify refuses gets no proposal: system tables, temporary tables
-- (this session's; another session's: isolation spec discover_temp): 22023
SELECT * FROM privacy.discover('pg_class');
SELECT * FROM privacy.discover('privacy.subject_types');
SELECT * FROM privacy.discover('information_schema.sql_features');
CREATE TEMP TABLE disc_temp (id int, email text);
INSERT INTO disc_temp VALUES (1, 'a@example.org');
SELECT * FROM privacy.discover('disc_temp');
SELECT * FROM privacy.apply_discovery(0, 'disc_temp');
DROP TABLE disc_temp;
-- a materialized view is sampled (its proposals tell what it copies);
-- apply_discovery refuses it (0A000); one never refreshed: 55000
CREATE MATERIALIZED VIEW disc.mv AS SELECT id, email FROM disc.customers;
SELECT * FROM privacy.discover('disc.mv');
SELECT * FROM privacy.apply_discovery(0, 'disc.mv');
CREATE MATERIALIZED VIEW disc.mv_empty AS SELECT id, email FROM disc.customers WITH NO DATA;
SELECT * FROM privacy.discover('disc.mv_empty');

-- privileges
CREATE ROLE regress_disc_nobody;
CREATE ROLE regress_disc_admin IN ROLE privacy_admin;
SET ROLE regress_disc_nobody;
SELECT * FROM privacy.discover();
SELECT * FROM privacy.discover_all();
SELECT * FROM privacy.apply_discovery();
RESET ROLE;
-- an admin samples only what it may read
GRANT USAGE ON SCHEMA disc TO regress_disc_admin;
SET ROLE regress_disc_admin;
SELECT * FROM privacy.discover('disc.orders');
SELECT count(*) FROM privacy.discover_all();
RESET ROLE;
GRANT SELECT ON disc.orders TO regress_disc_admin;
SET ROLE regress_disc_admin;
SELECT table_name, column_name, category FROM privacy.discover_all() ORDER BY table_name::text, 2;
RESET ROLE;
DO $$
BEGIN
	SET LOCAL ROLE regress_disc_nobody;
	PERFORM privacy.discover();
EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'sqlstate %', SQLSTATE;
END $$;

-- credentials by name (Rails/Devise, Django, API keys): their hashes and
-- tokens too, but not the columns about them (when it changed, how often)
CREATE TABLE disc.logins (id int PRIMARY KEY, encrypted_password text, password_hash text,
	reset_password_token text, otp_secret text, api_key text, "authToken" text, pwd text,
	password_changed_at text, reset_password_sent_at text, failed_password_attempts text,
	token_id text, api_key_name text, email_token text);
INSERT INTO disc.logins SELECT g, md5(g::text), md5(g::text), md5(g::text), md5(g::text), md5(g::text),
	md5(g::text), md5(g::text), '2024-01-01', '2024-01-01', '1', g::text, 'key', md5(g::text)
  FROM generate_series(1, 20) g;
SELECT column_name, category, confidence FROM privacy.discover('disc.logins') ORDER BY 1;

-- cleanup
DROP SCHEMA disc CASCADE;
DROP ROLE regress_disc_nobody;
DROP ROLE regress_disc_admin;
DROP EXTENSION privacy CASCADE;
