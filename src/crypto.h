/*-------------------------------------------------------------------------
 * crypto.h
 *		Data keys (keys.c) and encrypted columns (crypto.c).
 *
 * Exported for the rights executors (erase, access, export):
 *	KeysShredSubject	destroys every data key of one subject, in the
 *						caller's transaction; returns how many.
 *	CryptoReadExpr		SQL expression yielding the plaintext of an encrypted
 *						column for a row alias (NULL: column not encrypted).
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_CRYPTO_H
#define PRIVACY_CRYPTO_H

#include "privacy.h"

#define KEYS_DATA_KEY_BYTES 32

/* for the rights executors */
extern int	KeysShredSubject(const char *subject, const char *subject_ref);
extern char *CryptoReadExpr(Oid relid, const char *colname, const char *alias);

/* keys.c, used by crypto.c */
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
extern void KeysSpiConnect(void);
extern void KeysAudit(const char *action, const char *subject_ref,
					  const char *detail_json);
extern uint64 KeysCacheGeneration(void);
extern uint64 KeysDeferSubjectAudit(bool on);

#endif							/* PRIVACY_CRYPTO_H */
