-- Encrypted columns with per-subject keys (crypto-shredding).
-- Self-contained: a small "members" schema of its own.
CREATE SCHEMA crypto_demo;
CREATE TABLE crypto_demo.members (id int PRIMARY KEY, email text, phone varchar(20));
CREATE TABLE crypto_demo.messages (id int PRIMARY KEY, member_id int REFERENCES crypto_demo.members, body text);
INSERT INTO crypto_demo.members VALUES (1, 'ada@example.com', '+44 20 7946 0001'),
	(2, 'grace@example.com', '+1 202 555 0102');
INSERT INTO crypto_demo.messages VALUES (10, 1, 'Please update my address'), (11, 2, 'Where is my order?');
SELECT privacy.define_subject('member', 'crypto_demo.members');

-- Encrypt: existing values are rewritten in place; each member gets a key.
SELECT privacy.encrypt_column('crypto_demo.members', 'email', 'member');
SELECT privacy.encrypt_column('crypto_demo.members', 'phone', 'member');
SELECT privacy.encrypt_column('crypto_demo.messages', 'body', 'member');

-- The table holds ciphertext only (text stays text) ...
SELECT members.id, left(email, 40) || '…' AS email, left(body, 40) || '…' AS body
  FROM crypto_demo.members JOIN crypto_demo.messages m ON m.member_id = members.id;
-- ... the _decrypted views show plaintext, and take writes.
INSERT INTO crypto_demo.messages_decrypted VALUES (12, 1, 'Thanks!');
UPDATE crypto_demo.members_decrypted SET phone = '+44 20 7946 0999' WHERE id = 1;
SELECT * FROM crypto_demo.members_decrypted ORDER BY id;
SELECT * FROM crypto_demo.messages_decrypted ORDER BY id;

-- Keys: wrapped under the root key, one per member, named by subject_ref.
SELECT id, name, subject, state FROM privacy.keys ORDER BY id;

-- Shred member 2: destroying the key makes every copy of the ciphertext
-- unreadable (old row versions, WAL, replicas).  privacy.erase with the
-- shred strategy does this through the same code (KeysShredSubject).
SELECT privacy.destroy_key(k.id)
  FROM privacy.keys k
 WHERE k.subject = 'member' AND k.state = 'active'
   AND k.id = (SELECT ('x' || encode(substr(decode(rpad(substr(email, 5), (length(email) + 3 - 4) / 4 * 4, '='),
		'base64'), 1, 8), 'hex'))::bit(64)::bigint FROM crypto_demo.members WHERE id = 2);
SELECT * FROM crypto_demo.members_decrypted ORDER BY id;
SELECT * FROM crypto_demo.messages_decrypted ORDER BY id;
SELECT id, name, subject, state FROM privacy.keys ORDER BY id;
