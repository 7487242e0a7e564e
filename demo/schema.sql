-- demo/schema.sql — a customer-service platform, the kind of database
-- `privacy` is for.
--
-- Several tenants (companies) run their customer support on the platform.
-- Their customers (app.end_users) open conversations with agents, send
-- messages and attachments, use devices (IP addresses, GPS), receive invoices
-- (kept for tax law) and leave traces in an event log that has no foreign key
-- (user_ref holds the user's id as text).  Some addresses are shared by
-- several users (households).
--
-- Generated data, deterministic: setseed() before the first random() and no
-- parallel query, so two runs build the same rows (timestamps are relative to
-- now(), so that retention has old rows to find).  About 5,000 users, 20
-- agents, 10,000 devices, 20,000 conversations, 100,000 messages, 5,700
-- attachments, 15,000 invoices, 60,000 events.  Runs in a few seconds.
--
-- The demo person used by demo/steps is user 42; user 42 shares address 42
-- with user 4042 (so erasing 42 must keep the address).

SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;	-- deterministic row order for random()
DROP SCHEMA IF EXISTS app CASCADE;
CREATE SCHEMA app;
RESET client_min_messages;

---------------------------------------------------------------------------
-- Tables
---------------------------------------------------------------------------

CREATE TABLE app.tenants (
	id			int PRIMARY KEY,
	name		text NOT NULL,
	country		char(2) NOT NULL
);

CREATE TABLE app.addresses (
	id			bigint PRIMARY KEY,
	street		text NOT NULL,
	city		text NOT NULL,
	postal_code	text NOT NULL,
	country		char(2) NOT NULL
);

CREATE TABLE app.end_users (
	id			bigint PRIMARY KEY,
	tenant_id	int NOT NULL REFERENCES app.tenants,
	email		text NOT NULL,
	full_name	text,
	phone		text,
	date_of_birth date,
	address_id	bigint REFERENCES app.addresses,
	created_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE app.agents (
	id			int PRIMARY KEY,
	tenant_id	int NOT NULL REFERENCES app.tenants,
	full_name	text NOT NULL,
	email		text NOT NULL
);

CREATE TABLE app.devices (
	id			bigint PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES app.end_users,
	device_uid	text NOT NULL,
	ip_address	inet,
	lat			double precision,
	lon			double precision,
	last_seen	timestamptz NOT NULL
);

CREATE TABLE app.conversations (
	id			bigint PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES app.end_users,
	agent_id	int REFERENCES app.agents,
	subject		text NOT NULL,
	opened_at	timestamptz NOT NULL
);

-- Two paths to end_users: through the conversation, and through the sender.
CREATE TABLE app.messages (
	id				bigint PRIMARY KEY,
	conversation_id	bigint NOT NULL REFERENCES app.conversations,
	sender_user_id	bigint REFERENCES app.end_users,
	sender_agent_id	int REFERENCES app.agents,
	body			text NOT NULL,
	sent_at			timestamptz NOT NULL,
	CHECK ((sender_user_id IS NULL) <> (sender_agent_id IS NULL))
);

CREATE TABLE app.attachments (
	id			bigint PRIMARY KEY,
	message_id	bigint NOT NULL REFERENCES app.messages,
	file_name	text NOT NULL,
	mime_type	text NOT NULL,
	content		bytea NOT NULL
);

-- Invoices are kept for tax law (10 years): erasure anonymizes them instead
-- of deleting them, and the link to the user is dropped (ON DELETE SET NULL),
-- so the user's row can go while the invoice stays.
CREATE TABLE app.invoices (
	id				bigint PRIMARY KEY,
	user_id			bigint REFERENCES app.end_users ON DELETE SET NULL,
	number			text NOT NULL UNIQUE,
	amount			numeric(10,2) NOT NULL,
	currency		char(3) NOT NULL,
	billing_name	text,
	billing_address	text,
	issued_at		date NOT NULL
);

-- No foreign key: user_ref holds end_users.id as text (a linked table).
CREATE TABLE app.event_log (
	id			bigint PRIMARY KEY,
	user_ref	text,
	event		text NOT NULL,
	at			timestamptz NOT NULL
);

-- Consents collected by the old sign-up form, to be imported into the ledger.
CREATE TABLE app.consents_import (
	user_id		bigint NOT NULL REFERENCES app.end_users,
	purpose		text NOT NULL,
	granted		boolean NOT NULL,
	at			timestamptz NOT NULL,
	PRIMARY KEY (user_id, purpose)
);

---------------------------------------------------------------------------
-- Generated data
---------------------------------------------------------------------------

SELECT setseed(0.4242) \gset

-- pick(arr): a pseudo-random element of an array
CREATE FUNCTION pg_temp.pick(arr text[]) RETURNS text
LANGUAGE sql VOLATILE AS
$$ SELECT arr[1 + floor(random() * array_length(arr, 1))::int] $$;

-- digits(n): n pseudo-random decimal digits
CREATE FUNCTION pg_temp.digits(n int) RETURNS text
LANGUAGE sql VOLATILE AS
$$ SELECT string_agg(floor(random() * 10)::int::text, '') FROM generate_series(1, n) $$;

INSERT INTO app.tenants VALUES
	(1, 'Northwind Support Ltd', 'GB'),
	(2, 'Bergmann Versand GmbH', 'DE'),
	(3, 'Maison Lumière SAS', 'FR'),
	(4, 'Tulip Telecom B.V.', 'NL');

-- Address a belongs to the tenant country of user a (tenant 1 + a % 4).
INSERT INTO app.addresses
SELECT a,
	CASE c
	WHEN 'GB' THEN (1 + floor(random() * 180))::int || ' ' || pg_temp.pick('{High Street,Station Road,Church Lane,Victoria Road,Green Lane,Manor Road,Park Avenue,Queen''s Road}')
	WHEN 'DE' THEN pg_temp.pick('{Hauptstraße,Schulstraße,Gartenweg,Bahnhofstraße,Lindenallee,Bergstraße,Am Markt}') || ' ' || (1 + floor(random() * 120))::int
	WHEN 'FR' THEN (1 + floor(random() * 90))::int || ' ' || pg_temp.pick('{rue de la Paix,avenue Victor Hugo,rue du Moulin,boulevard Voltaire,rue des Écoles,place de la République}')
	ELSE pg_temp.pick('{Kerkstraat,Dorpsstraat,Molenweg,Stationsplein,Prinsengracht,Julianalaan}') || ' ' || (1 + floor(random() * 200))::int
	END,
	CASE c
	WHEN 'GB' THEN pg_temp.pick('{London,Manchester,Leeds,Bristol,Glasgow}')
	WHEN 'DE' THEN pg_temp.pick('{Berlin,Hamburg,München,Köln,Leipzig}')
	WHEN 'FR' THEN pg_temp.pick('{Paris,Lyon,Marseille,Toulouse,Nantes}')
	ELSE pg_temp.pick('{Amsterdam,Rotterdam,Utrecht,Den Haag,Eindhoven}')
	END,
	CASE c
	WHEN 'GB' THEN pg_temp.pick('{SW1A,M1,LS2,BS1,G1,EC2A,N7}') || ' ' || floor(random() * 10)::int || chr(65 + floor(random() * 26)::int) || chr(65 + floor(random() * 26)::int)
	WHEN 'NL' THEN (1000 + floor(random() * 8999))::int || ' ' || chr(65 + floor(random() * 26)::int) || chr(65 + floor(random() * 26)::int)
	ELSE lpad((1000 + floor(random() * 94000))::int::text, 5, '0')
	END,
	c
FROM (SELECT a, (ARRAY['GB','DE','FR','NL'])[1 + a % 4] AS c
	  FROM generate_series(1, 4000) a) s
ORDER BY 1;

-- Users 4001..5000 live at the address of user (id - 4000): households.
-- Every 23rd user gave no address.
INSERT INTO app.end_users
SELECT u, 1 + u % 4,
	lower(translate(f || '.' || l, 'äöüéèçëï ''', 'aoueeceia')) || u || '@' ||
		pg_temp.pick(CASE 1 + u % 4
			WHEN 1 THEN '{gmail.com,outlook.com,btinternet.com,yahoo.co.uk}'::text[]
			WHEN 2 THEN '{gmail.com,web.de,gmx.de,t-online.de}'::text[]
			WHEN 3 THEN '{gmail.com,orange.fr,free.fr,laposte.net}'::text[]
			ELSE '{gmail.com,ziggo.nl,kpnmail.nl,proton.me}'::text[] END),
	f || ' ' || l,
	CASE WHEN random() < 0.1 THEN NULL ELSE
		CASE 1 + u % 4
		WHEN 1 THEN '+44 7' || pg_temp.digits(3) || ' ' || pg_temp.digits(6)
		WHEN 2 THEN '+49 15' || pg_temp.digits(1) || ' ' || pg_temp.digits(8)
		WHEN 3 THEN '+33 6 ' || pg_temp.digits(2) || ' ' || pg_temp.digits(2) || ' ' || pg_temp.digits(2) || ' ' || pg_temp.digits(2)
		ELSE '+31 6 ' || pg_temp.digits(8) END
	END,
	CASE WHEN random() < 0.15 THEN NULL ELSE date '1950-01-01' + floor(random() * 20000)::int END,
	CASE WHEN u % 23 = 0 THEN NULL WHEN u > 4000 THEN u - 4000 ELSE u END,
	now() - random() * interval '5 years'
FROM (SELECT u,
		CASE 1 + u % 4
		WHEN 1 THEN pg_temp.pick('{Oliver,Amelia,Harry,Isla,George,Ava,Jack,Emily,Noah,Sophie,Charlie,Grace}')
		WHEN 2 THEN pg_temp.pick('{Lukas,Mia,Leon,Emma,Finn,Hannah,Jonas,Lea,Paul,Sophia,Felix,Marie}')
		WHEN 3 THEN pg_temp.pick('{Lucas,Louise,Hugo,Chloé,Louis,Inès,Jules,Camille,Léo,Manon,Arthur,Léa}')
		ELSE pg_temp.pick('{Daan,Julia,Sem,Tess,Lucas,Sophie,Milan,Fleur,Levi,Anna,Bram,Noor}') END AS f,
		CASE 1 + u % 4
		WHEN 1 THEN pg_temp.pick('{Smith,Jones,Taylor,Brown,Williams,Wilson,Evans,Thomas,Roberts,Walker}')
		WHEN 2 THEN pg_temp.pick('{Müller,Schmidt,Schneider,Fischer,Weber,Meyer,Wagner,Becker,Hoffmann,Schulz}')
		WHEN 3 THEN pg_temp.pick('{Martin,Bernard,Dubois,Thomas,Robert,Richard,Petit,Durand,Leroy,Moreau}')
		ELSE pg_temp.pick('{de Jong,Jansen,de Vries,van den Berg,Bakker,Visser,Smit,Meijer,de Boer,Mulder}') END AS l
	  FROM generate_series(1, 5000) u) s
ORDER BY 1;

INSERT INTO app.agents
SELECT a, 1 + a % 4, f || ' ' || l,
	lower(translate(f || '.' || l, 'äöüéè ', 'aoue')) || '@' ||
		(ARRAY['northwind.example','bergmann.example','lumiere.example','tulip.example'])[1 + a % 4]
FROM (SELECT a,
		pg_temp.pick('{Sam,Alex,Robin,Kim,Charlie,Jamie,Sascha,Noa,Eli,Maxime}') AS f,
		pg_temp.pick('{Carter,Keller,Lambert,Visser,Hughes,Braun,Fontaine,Kok,Price,Wolf}') AS l
	  FROM generate_series(1, 20) a) s
ORDER BY 1;

-- Two devices per user; one in seven seen over IPv6.  GPS near the tenant's
-- capital.
INSERT INTO app.devices
SELECT d, u,
	md5(random()::text)::uuid::text,
	CASE WHEN random() < 0.15
		THEN format('2a02:%s:%s:%s::%s', to_hex(floor(random() * 65535)::int), to_hex(floor(random() * 65535)::int),
					to_hex(floor(random() * 65535)::int), to_hex(1 + floor(random() * 65534)::int))::inet
		ELSE format('%s.%s.%s.%s', 2 + floor(random() * 220)::int, floor(random() * 256)::int,
					floor(random() * 256)::int, 1 + floor(random() * 254)::int)::inet
	END,
	round(((ARRAY[51.5072, 52.5200, 48.8566, 52.3676])[1 + u % 4] + (random() - 0.5) * 0.3)::numeric, 6)::float8,
	round(((ARRAY[-0.1276, 13.4050, 2.3522, 4.9041])[1 + u % 4] + (random() - 0.5) * 0.5)::numeric, 6)::float8,
	now() - random() * interval '2 years'
FROM (SELECT d, 1 + (d - 1) % 5000 AS u FROM generate_series(1, 10000) d) s
ORDER BY 1;

-- Four conversations per user, with an agent of the user's tenant
-- (agent a works for tenant 1 + a % 4).
INSERT INTO app.conversations
SELECT c, u, u % 4 + 4 * (1 + floor(random() * 4)::int),
	pg_temp.pick('{Cannot log in,Refund for my order,Change my delivery address,Question about my invoice,The app crashes on start,Cancel my subscription,Wrong item received,Update my payment method,Parcel never arrived,Delete my account}'),
	now() - random() * interval '3 years'
FROM (SELECT c, 1 + (c - 1) % 5000 AS u FROM generate_series(1, 20000) c) s
ORDER BY 1;

-- Five messages per conversation, alternating user and agent; bodies quote
-- personal data now and then, as real messages do.
INSERT INTO app.messages
SELECT c.id * 5 + k - 4, c.id,
	CASE WHEN k % 2 = 0 THEN c.user_id END,
	CASE WHEN k % 2 = 1 THEN c.agent_id END,
	CASE WHEN k % 2 = 0 THEN
		replace(replace(replace(pg_temp.pick(ARRAY[
			'Hello, about "' || c.subject || '": can you help?',
			'Hi, I have a problem: ' || lower(c.subject) || '. My email is {email}.',
			'Please call me back on {phone}.',
			'Still not solved, this is the third time I write.',
			'Thank you, that worked!',
			'I attached a screenshot.',
			'My name is {name}, customer since years.']),
			'{email}', u.email), '{phone}', coalesce(u.phone, 'my mobile')), '{name}', u.full_name)
	ELSE
		pg_temp.pick(ARRAY[
			'Thanks for reaching out, ' || split_part(u.full_name, ' ', 1) || '. I am looking into it.',
			'I have reset your password; please check your inbox.',
			'I have issued a refund, it will show within 5 working days.',
			'Could you send us a screenshot of the error?',
			'Is there anything else I can help you with?'])
	END,
	c.opened_at + k * interval '3 hours' + random() * interval '2 hours'
FROM app.conversations c
JOIN app.end_users u ON u.id = c.user_id
CROSS JOIN generate_series(0, 4) k
ORDER BY c.id, k;

-- A screenshot or a PDF on two conversations in seven (the user's first
-- message).
INSERT INTO app.attachments
SELECT row_number() OVER (ORDER BY m.id), m.id, f.name,
	CASE WHEN f.name LIKE '%.pdf' THEN 'application/pdf'
		 WHEN f.name LIKE '%.png' THEN 'image/png' ELSE 'image/jpeg' END,
	decode(repeat(md5(random()::text), 8 + (m.id % 57)::int), 'hex')
FROM app.messages m
CROSS JOIN LATERAL (SELECT (ARRAY['screenshot.png','IMG_2041.jpg','receipt.pdf','error.png','contract.pdf'])
						[1 + (m.id / 5 + m.conversation_id) % 5] AS name) f
WHERE m.id % 5 = 1 AND m.conversation_id % 7 IN (0, 3)
ORDER BY m.id;

-- Three invoices per user over twelve years (tax law keeps ten).
INSERT INTO app.invoices
SELECT i, u.id,
	'INV-' || (1000000 + i),
	round((5 + random() * 495)::numeric, 2),
	CASE WHEN u.tenant_id = 1 THEN 'GBP' ELSE 'EUR' END,
	u.full_name,
	CASE WHEN a.id IS NOT NULL THEN a.street || ', ' || a.postal_code || ' ' || a.city || ', ' || a.country END,
	current_date - floor(random() * 365 * 12)::int
FROM generate_series(1, 15000) i
JOIN app.end_users u ON u.id = 1 + (i - 1) % 5000
LEFT JOIN app.addresses a ON a.id = u.address_id
ORDER BY 1;

-- Twelve events per user over three years, plus anonymous system events.
INSERT INTO app.event_log
SELECT e,
	CASE WHEN e > 60000 THEN NULL ELSE (1 + (e - 1) % 5000)::text END,
	CASE WHEN e > 60000 THEN pg_temp.pick('{deploy,backup_ok,cert_renewed}')
		 ELSE pg_temp.pick('{login,logout,login,app_start,password_reset,view_invoice,open_conversation,push_opt_in}') END,
	now() - random() * interval '3 years'
FROM generate_series(1, 60200) e
ORDER BY 1;

INSERT INTO app.consents_import
SELECT u, p, random() < CASE p WHEN 'marketing_email' THEN 0.35 ELSE 0.7 END,
	now() - random() * interval '4 years'
FROM generate_series(1, 5000) u
CROSS JOIN unnest('{marketing_email,product_analytics}'::text[]) p
WHERE u % 3 <> 0
ORDER BY 1, 2;

---------------------------------------------------------------------------
-- Indexes on every foreign-key column and on the event log's user_ref
-- (privacy.access and privacy.erase find a person's rows through them).
---------------------------------------------------------------------------

CREATE INDEX ON app.end_users (tenant_id);
CREATE INDEX ON app.end_users (address_id);
CREATE INDEX ON app.agents (tenant_id);
CREATE INDEX ON app.devices (user_id);
CREATE INDEX ON app.conversations (user_id);
CREATE INDEX ON app.conversations (agent_id);
CREATE INDEX ON app.messages (conversation_id);
CREATE INDEX ON app.messages (sender_user_id);
CREATE INDEX ON app.messages (sender_agent_id);
CREATE INDEX ON app.attachments (message_id);
CREATE INDEX ON app.invoices (user_id);
CREATE INDEX ON app.event_log (user_ref);
-- consents_import: its primary key starts with user_id

ANALYZE app.tenants, app.addresses, app.end_users, app.agents, app.devices,
	app.conversations, app.messages, app.attachments, app.invoices,
	app.event_log, app.consents_import;

\echo demo schema app: tenants, addresses, end_users, agents, devices, conversations, messages, attachments, invoices, event_log, consents_import
SELECT format('%-20s %8s rows', c.oid::regclass, c.reltuples::bigint) AS "table"
FROM pg_class c
WHERE c.relnamespace = 'app'::regnamespace AND c.relkind = 'r'
ORDER BY c.relname;
