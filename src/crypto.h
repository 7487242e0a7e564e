/*-------------------------------------------------------------------------
 * crypto.h
 *		Data keys (keys.c) and encrypted columns: the AEAD envelope
 *		(crypto_envelope.c), the read/write path (crypto_runtime.c) and the
 *		DDL (crypto_ddl.c).
 *
 * Exported for the rights executors (erase, access, export):
 *	KeysShredSubject	destroys every data key of one subject, in the
 *						caller's transaction; returns how many.
 *	KeysCountSubject	how many KeysShredSubject would destroy now.
 *	CryptoReadExpr		SQL expression yielding the plaintext of an encrypted
 *						column for a row alias (NULL: column not encrypted).
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_CRYPTO_H
#define PRIVACY_CRYPTO_H

#include "utils/relcache.h"

#include "privacy.h"

#define KEYS_DATA_KEY_BYTES 32

/* for the rights executors */
extern int	KeysShredSubject(const char *subject, const char *subject_ref);
extern int	KeysCountSubject(const char *subject, const char *subject_ref);
extern char *CryptoReadExpr(Oid relid, const char *colname, const char *alias);

/* keys.c, used by the crypto_*.c files */
typedef enum KeyLookup
{
	KEY_FOUND,
	KEY_UNKNOWN,
	KEY_DESTROYED
} KeyLookup;

extern void KeysRequireRootKey(void);
extern KeyLookup KeysLookup(int64 id, const unsigned char **key);
extern const unsigned char *KeysGet(int64 id);
extern int64 KeysCreate(const char *name, const char *subject,
						const char *subject_ref);
extern int64 KeysSubjectKey(const char *subject, const char *subject_ref);
extern Oid	KeysCatalogRelid(const char *relname, bool missing_ok);
extern void KeysBecomeCatalogOwner(PrivacyUserSwitch *sw);
extern void KeysRestoreUser(PrivacyUserSwitch *sw);
extern void KeysAudit(const char *action, const char *subject_ref,
					  const char *detail_json);
extern uint64 KeysCacheGeneration(void);
extern uint64 KeysDeferSubjectAudit(bool on);

/*
 * The AEAD envelope (crypto_envelope.c).  Raw form of a ciphertext:
 *		key id (8, big-endian) | nonce (24) | AEAD output (plaintext + 16);
 * stored as "pv" 0x01 | raw (bytea) or "pv1:" | base64(raw) (text).
 */
#define CRYPTO_NONCE_BYTES	24		/* crypto_aead_xchacha20poly1305_ietf_NPUBBYTES */
#define CRYPTO_TAG_BYTES	16		/* crypto_aead_xchacha20poly1305_ietf_ABYTES */
#define CRYPTO_HEADER_BYTES (8 + CRYPTO_NONCE_BYTES)
#define CRYPTO_MIN_BYTES	(CRYPTO_HEADER_BYTES + CRYPTO_TAG_BYTES)
#define CRYPTO_TEXT_PREFIX		"pv1:"
#define CRYPTO_TEXT_PREFIX_LEN	4
#define CRYPTO_BYTEA_PREFIX		"pv\001"
#define CRYPTO_BYTEA_PREFIX_LEN 3

/*
 * The first byte of the associated data of a column value (crypto_runtime.c):
 * the primary-key parts as their types' text output (0.1.0 and every table
 * whose key types print alike in every session), or in a canonical form that
 * no session setting changes (tables whose key has a timestamptz, date,
 * bytea, float... column).
 */
#define CRYPTO_AAD_COLUMN		0x01
#define CRYPTO_AAD_CANONICAL	0x02

/*
 * How a primary-key value enters the associated data.  KEYFORM_OUTPUT: its
 * type's output function, the same in every session; the others: the text
 * the output function gives under TimeZone 'UTC', DateStyle 'ISO',
 * IntervalStyle 'postgres', extra_float_digits 1, bytea_output 'hex' (money:
 * the amount in cents), written without reading those settings.
 * KEYFORM_UNSUPPORTED: the output depends on the session and no canonical
 * form is known (search_path for reg* types; arrays, ranges and composites
 * of the types above): encrypt_column refuses such keys.
 */
typedef enum CryptoKeyForm
{
	KEYFORM_OUTPUT,
	KEYFORM_TIMESTAMPTZ,
	KEYFORM_TIMESTAMP,
	KEYFORM_DATE,
	KEYFORM_INTERVAL,
	KEYFORM_FLOAT4,
	KEYFORM_FLOAT8,
	KEYFORM_BYTEA,
	KEYFORM_MONEY,
	KEYFORM_UNSUPPORTED
} CryptoKeyForm;

extern CryptoKeyForm CryptoKeyFormOf(Oid typid);

/*
 * The write trigger of encrypted column <id> is CRYPTO_TRIGGER_PREFIX<id>:
 * "~" sorts after every ASCII letter, digit and "_", so the usual trigger
 * names fire before it (PostgreSQL fires BEFORE triggers in name order);
 * others are refused (crypto_runtime.c, check_trigger_order).
 */
#define CRYPTO_TRIGGER_PREFIX	"~privacy_encrypt_"

/*
 * The CHECK constraint of encrypted column <id>, CRYPTO_CHECK_PREFIX<id>:
 * privacy._is_ciphertext(column), so that a write with the triggers
 * disabled cannot store plaintext (crypto_ddl.c).
 */
#define CRYPTO_CHECK_PREFIX	"privacy_ciphertext_"

/* most primary-key columns an encrypted value is bound to */
#define CRYPTO_MAX_KEY_PARTS	32
/* encrypt_column reports its progress every this many rows */
#define CRYPTO_PROGRESS_ROWS	100000

extern void CryptoPutBe64(unsigned char *p, uint64 v);
extern uint64 CryptoGetBe64(const unsigned char *p);
extern void CryptoSeal(int64 key_id, const unsigned char *key,
					   const unsigned char *pt, size_t ptlen,
					   const unsigned char *aad, size_t aadlen, unsigned char *out);
extern bool CryptoOpen(const unsigned char *ct, size_t ctlen,
					   const unsigned char *aad, size_t aadlen,
					   unsigned char **out, size_t *outlen, bool *destroyed);
extern bool CryptoOpenInto(const unsigned char *raw, size_t rawlen,
						   const unsigned char *aad, size_t aadlen,
						   const unsigned char *key, unsigned char *out, size_t *outlen);
extern void CryptoTampered(void) pg_attribute_noreturn();
extern bool CryptoStoredToRaw(bool is_text, const char *data, size_t len,
							  unsigned char **raw, size_t *rawlen);
extern const unsigned char *CryptoParseStored(bool is_text, const char *data, size_t len,
											  unsigned char *buf, size_t bufsize,
											  size_t *rawlen);
extern Datum CryptoRawToStored(bool is_text, const unsigned char *raw, size_t rawlen);

/* the read/write path (crypto_runtime.c), for the DDL */
extern int	CryptoPrimaryKey(Relation rel, AttrNumber *out);
extern char *CryptoColumnReadExpr(int64 colid, Oid relid, const char *colname,
								  int32 typmod, const char *alias);
extern void CryptoSetRewriteColumn(int64 colid);

#endif							/* PRIVACY_CRYPTO_H */
