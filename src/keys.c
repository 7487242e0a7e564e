/*-------------------------------------------------------------------------
 * keys.c
 *		The root key and the data keys of encrypted columns.
 *
 * Root key: read once from privacy.root_key_file by _PG_init in the
 * postmaster (preload only) into sodium_malloc'd memory, then made
 * read-only; every backend inherits it by fork and mlocks its copy on first
 * use (locks are not inherited).  A missing or malformed file is LOGged
 * (never the key) and the server starts; functions that need the key fail
 * with 55000 and a hint.
 *
 * Data keys: random 32-byte keys (never derived: a derived key cannot be
 * destroyed), stored in privacy.data_keys wrapped under the root key with
 * XChaCha20-Poly1305:
 *		0x01 | root fingerprint (8) | nonce (24) | AEAD(key) (48)
 * with associated data "privacy-key" | id, so a wrapped key cannot be moved
 * to another id.  The fingerprint (keyed BLAKE2b of the root key) tells a
 * key wrapped under another root key apart from a damaged one.
 * rotate_root_key re-wraps every key; no data is rewritten.  Destroying a
 * key sets its state to 'destroyed' and drops the wrapped bytes.
 *
 * Cache: unwrapped keys are cached per backend in one sodium_malloc'd arena
 * (zeroed when flushed).  Every change of key state sends a relcache
 * invalidation of privacy.data_keys; the callback flushes the cache, so a
 * key destroyed by a committed transaction is unusable in every backend
 * from its next transaction (or next lock acquisition) on.
 *
 * Catalog access runs as the owner of privacy.data_keys with search_path
 * pinned to pg_catalog, pg_temp (KeysBecomeCatalogOwner).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>
#include <unistd.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "crypto.h"
#include "privacy.h"

#define ROOT_KEY_BYTES		32
#define FINGERPRINT_BYTES	8
#define WRAP_VERSION		0x01
#define WRAP_NONCE_BYTES	crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define WRAP_TAG_BYTES		crypto_aead_xchacha20poly1305_ietf_ABYTES
#define WRAPPED_BYTES		(1 + FINGERPRINT_BYTES + WRAP_NONCE_BYTES + \
							 KEYS_DATA_KEY_BYTES + WRAP_TAG_BYTES)
#define CACHE_SLOTS			1024

/* the root key (postmaster memory, inherited by fork) */
static unsigned char *root_key = NULL;
static pid_t root_locked_pid = 0;

/* per-backend cache of unwrapped data keys */
typedef struct KeyCacheEntry
{
	int64		id;				/* hash key */
	bool		destroyed;
	int			slot;			/* index into key_arena, -1 if destroyed */
} KeyCacheEntry;

typedef struct SubjectCacheEntry
{
	char		name[256];		/* subject \x1f subject_ref */
	int64		id;
} SubjectCacheEntry;

static HTAB *key_cache = NULL;
static HTAB *subject_cache = NULL;
static unsigned char *key_arena = NULL;
static int	arena_used = 0;
static uint64 cache_generation = 1;
static Oid	cached_keys_relid = InvalidOid;
static bool callback_registered = false;
static SPIPlanPtr lookup_plan = NULL;

PG_FUNCTION_INFO_V1(privacy_create_key);
PG_FUNCTION_INFO_V1(privacy_destroy_key);
PG_FUNCTION_INFO_V1(privacy_rotate_root_key);

/*
 * read_key_file
 *		Read a file holding 64 hex characters (surrounding whitespace
 *		allowed) into out.  Returns NULL on success, else a message (without
 *		any key material) for the caller to report.  Buffers are zeroed.
 */
static const char *
read_key_file(const char *path, unsigned char *out)
{
	char		buf[256];
	size_t		n;
	FILE	   *f;
	char	   *start;
	char	   *end;
	size_t		binlen = 0;
	const char *err = NULL;

	f = fopen(path, "r");
	if (f == NULL)
		return "could not open the root key file";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	if (ferror(f))
		err = "could not read the root key file";
	fclose(f);
	if (err)
	{
		sodium_memzero(buf, sizeof(buf));
		return err;
	}
	buf[n] = '\0';
	start = buf;
	while (*start && isspace((unsigned char) *start))
		start++;
	end = start + strlen(start);
	while (end > start && isspace((unsigned char) end[-1]))
		end--;
	if (end - start != 2 * ROOT_KEY_BYTES ||
		sodium_hex2bin(out, ROOT_KEY_BYTES, start, end - start,
					   NULL, &binlen, NULL) != 0 ||
		binlen != ROOT_KEY_BYTES)
		err = "the root key file must hold exactly 64 hexadecimal characters";
	sodium_memzero(buf, sizeof(buf));
	return err;
}

/*
 * KeysInit
 *		Called from _PG_init in the postmaster when preloaded: load the root
 *		key.  Never raises an error: a problem is logged and the key stays
 *		unavailable.
 */
void
KeysInit(void)
{
	unsigned char key[ROOT_KEY_BYTES];
	const char *err;

	if (sodium_init() < 0)
	{
		ereport(LOG, (errmsg("privacy: could not initialize libsodium; encrypted columns are unavailable")));
		return;
	}
	if (privacy_root_key_file == NULL || privacy_root_key_file[0] == '\0')
	{
		ereport(LOG, (errmsg("privacy: privacy.root_key_file is not set; encrypted columns are unavailable")));
		return;
	}
	err = read_key_file(privacy_root_key_file, key);
	if (err)
	{
		ereport(LOG,
				(errmsg("privacy: %s \"%s\"; encrypted columns are unavailable",
						err, privacy_root_key_file)));
		sodium_memzero(key, sizeof(key));
		return;
	}
	root_key = sodium_malloc(ROOT_KEY_BYTES);
	if (root_key == NULL)
	{
		sodium_memzero(key, sizeof(key));
		ereport(LOG, (errmsg("privacy: could not allocate secure memory for the root key")));
		return;
	}
	memcpy(root_key, key, ROOT_KEY_BYTES);
	sodium_memzero(key, sizeof(key));
	(void) sodium_mlock(root_key, ROOT_KEY_BYTES);
	root_locked_pid = getpid();
	sodium_mprotect_readonly(root_key);
}

/*
 * KeysRootKeyAvailable
 *		True when the root key was loaded.
 */
bool
KeysRootKeyAvailable(void)
{
	return root_key != NULL;
}

/*
 * KeysRootKey
 *		The 32-byte root key, or NULL.  Locks the page in this process on
 *		first use (memory locks are not inherited by fork).
 */
const unsigned char *
KeysRootKey(void)
{
	if (root_key != NULL && root_locked_pid != getpid())
	{
		(void) sodium_mlock(root_key, ROOT_KEY_BYTES);
		root_locked_pid = getpid();
	}
	return root_key;
}

/*
 * KeysRequireRootKey
 *		Raise 55000 with a hint unless the root key is loaded.
 */
void
KeysRequireRootKey(void)
{
	if (!privacy_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("encrypted columns need the privacy library to be preloaded"),
				 errhint("Add privacy to shared_preload_libraries, set privacy.root_key_file and restart the server.")));
	if (root_key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no root key is configured"),
				 errhint("Set privacy.root_key_file to a file holding 64 hexadecimal characters and restart the server; the server log says why the key was not loaded.")));
}

/*
 * fingerprint
 *		Short keyed hash identifying a root key (not secret-revealing).
 */
static void
fingerprint(const unsigned char *rk, unsigned char *out)
{
	static const char label[] = "privacy root key fingerprint";

	crypto_generichash(out, FINGERPRINT_BYTES, (const unsigned char *) label,
					   sizeof(label) - 1, rk, ROOT_KEY_BYTES);
}

static void
wrap_aad(int64 id, unsigned char *aad)
{
	uint64		u = (uint64) id;
	int			i;

	memcpy(aad, "privacy-key", 11);
	for (i = 0; i < 8; i++)
		aad[11 + i] = (unsigned char) (u >> (56 - 8 * i));
}

/*
 * wrap_key
 *		Wrap a data key under rk; returns a palloc'd bytea.
 */
static bytea *
wrap_key(const unsigned char *rk, int64 id, const unsigned char *dk)
{
	bytea	   *res = palloc(VARHDRSZ + WRAPPED_BYTES);
	unsigned char *p = (unsigned char *) VARDATA(res);
	unsigned char aad[19];
	unsigned long long clen;

	SET_VARSIZE(res, VARHDRSZ + WRAPPED_BYTES);
	p[0] = WRAP_VERSION;
	fingerprint(rk, p + 1);
	randombytes_buf(p + 1 + FINGERPRINT_BYTES, WRAP_NONCE_BYTES);
	wrap_aad(id, aad);
	crypto_aead_xchacha20poly1305_ietf_encrypt(p + 1 + FINGERPRINT_BYTES + WRAP_NONCE_BYTES,
											   &clen, dk, KEYS_DATA_KEY_BYTES,
											   aad, sizeof(aad), NULL,
											   p + 1 + FINGERPRINT_BYTES, rk);
	Assert(clen == KEYS_DATA_KEY_BYTES + WRAP_TAG_BYTES);
	return res;
}

/*
 * unwrap_key
 *		Unwrap into out (32 bytes) or raise an error: 55000 when the key was
 *		wrapped under another root key, XX001 when it is damaged.
 */
static void
unwrap_key(const unsigned char *rk, int64 id, bytea *wrapped, unsigned char *out)
{
	unsigned char *p = (unsigned char *) VARDATA_ANY(wrapped);
	unsigned char fp[FINGERPRINT_BYTES];
	unsigned char aad[19];
	unsigned long long mlen;

	if (VARSIZE_ANY_EXHDR(wrapped) != WRAPPED_BYTES || p[0] != WRAP_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("wrapped data key %lld is damaged", (long long) id)));
	fingerprint(rk, fp);
	if (sodium_memcmp(fp, p + 1, FINGERPRINT_BYTES) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("data key %lld is wrapped under another root key", (long long) id),
				 errhint("privacy.rotate_root_key re-wrapped the keys: point privacy.root_key_file at the new key file and restart the server.")));
	wrap_aad(id, aad);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL,
												   p + 1 + FINGERPRINT_BYTES + WRAP_NONCE_BYTES,
												   KEYS_DATA_KEY_BYTES + WRAP_TAG_BYTES,
												   aad, sizeof(aad),
												   p + 1 + FINGERPRINT_BYTES, rk) != 0 ||
		mlen != KEYS_DATA_KEY_BYTES)
	{
		sodium_memzero(out, KEYS_DATA_KEY_BYTES);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("wrapped data key %lld is damaged", (long long) id)));
	}
}

/*
 * cache_flush
 *		Zero and forget every cached key.
 */
static void
cache_flush(void)
{
	if (key_arena != NULL && arena_used > 0)
		sodium_memzero(key_arena, (size_t) arena_used * KEYS_DATA_KEY_BYTES);
	arena_used = 0;
	if (key_cache != NULL)
	{
		hash_destroy(key_cache);
		key_cache = NULL;
	}
	if (subject_cache != NULL)
	{
		hash_destroy(subject_cache);
		subject_cache = NULL;
	}
	cache_generation++;
}

/*
 * keys_relcache_callback
 *		Relcache invalidation of privacy.data_keys (or of everything): flush.
 */
static void
keys_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cached_keys_relid)
		cache_flush();
}

static void
cache_init(Oid keys_relid)
{
	HASHCTL		ctl;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(keys_relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	if (cached_keys_relid != keys_relid)
	{
		cache_flush();
		cached_keys_relid = keys_relid;
	}
	if (key_arena == NULL)
	{
		key_arena = sodium_malloc((size_t) CACHE_SLOTS * KEYS_DATA_KEY_BYTES);
		if (key_arena == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
							errmsg("could not allocate secure memory for data keys")));
	}
	if (key_cache == NULL)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(KeyCacheEntry);
		ctl.hcxt = TopMemoryContext;
		key_cache = hash_create("privacy data keys", 256, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (subject_cache == NULL)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(((SubjectCacheEntry *) 0)->name);
		ctl.entrysize = sizeof(SubjectCacheEntry);
		ctl.hcxt = TopMemoryContext;
		subject_cache = hash_create("privacy subject keys", 256, &ctl,
									HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
}

/*
 * cache_put
 *		Remember an unwrapped key (or that the id is destroyed).
 */
static const unsigned char *
cache_put(int64 id, const unsigned char *dk, bool destroyed)
{
	KeyCacheEntry *e;
	bool		found;

	if (!destroyed && arena_used >= CACHE_SLOTS)
	{
		Oid			relid = cached_keys_relid;

		cache_flush();
		cache_init(relid);
	}
	e = hash_search(key_cache, &id, HASH_ENTER, &found);
	e->destroyed = destroyed;
	e->slot = -1;
	if (destroyed)
		return NULL;
	e->slot = arena_used++;
	memcpy(key_arena + (size_t) e->slot * KEYS_DATA_KEY_BYTES, dk, KEYS_DATA_KEY_BYTES);
	return key_arena + (size_t) e->slot * KEYS_DATA_KEY_BYTES;
}

/*
 * KeysCacheGeneration
 *		Bumped on every flush: callers holding key pointers must re-fetch
 *		when it changes.
 */
uint64
KeysCacheGeneration(void)
{
	return cache_generation;
}

/*
 * KeysCatalogRelid
 *		OID of privacy.<relname>.
 */
Oid
KeysCatalogRelid(const char *relname, bool missing_ok)
{
	Oid			nsp = get_namespace_oid("privacy", missing_ok);
	Oid			relid = InvalidOid;

	if (OidIsValid(nsp))
		relid = get_relname_relid(relname, nsp);
	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"privacy\" is not installed in this database")));
	return relid;
}

/*
 * KeysBecomeCatalogOwner
 *		Switch to the owner of the catalog (the owner of privacy.data_keys)
 *		with search_path pinned; undo with KeysRestoreUser.
 */
void
KeysBecomeCatalogOwner(PrivacyUserSwitch *sw)
{
	UtilBecomeUser(UtilRelationOwner(KeysCatalogRelid("data_keys", false)),
				   SECURITY_LOCAL_USERID_CHANGE, sw);
}

/*
 * KeysRestoreUser
 *		Undo KeysBecomeCatalogOwner.
 */
void
KeysRestoreUser(PrivacyUserSwitch *sw)
{
	UtilRestoreUser(sw);
}

/*
 * KeysAudit
 *		AuditAppend as the catalog owner (callers here run with the caller's
 *		rights, which cannot write the audit log).
 */
void
KeysAudit(const char *action, const char *subject_ref, const char *detail_json)
{
	PrivacyUserSwitch sw;

	KeysBecomeCatalogOwner(&sw);
	AuditAppend(action, subject_ref, detail_json);
	KeysRestoreUser(&sw);
}

/*
 * KeysSpiConnect
 *		SPI_connect or error.
 */
void
KeysSpiConnect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/*
 * invalidate_keys
 *		After a change of key state: flush here now, and in every other
 *		backend once this transaction commits.
 */
static void
invalidate_keys(Oid keys_relid)
{
	CacheInvalidateRelcacheByRelid(keys_relid);
	cache_flush();
}

/*
 * KeysLookup
 *		Find data key id: KEY_FOUND with *key pointing into the cache (valid
 *		until the cache generation changes), KEY_UNKNOWN or KEY_DESTROYED.
 */
KeyLookup
KeysLookup(int64 id, const unsigned char **key)
{
	Oid			relid;
	KeyCacheEntry *e;
	PrivacyUserSwitch sw;
	KeyLookup	result;
	unsigned char dk[KEYS_DATA_KEY_BYTES];
	Datum		arg = Int64GetDatum(id);
	int			ret;

	KeysRequireRootKey();
	*key = NULL;
	if (key_cache != NULL && OidIsValid(cached_keys_relid))
	{
		e = hash_search(key_cache, &id, HASH_FIND, NULL);
		if (e)
		{
			if (e->destroyed)
				return KEY_DESTROYED;
			*key = key_arena + (size_t) e->slot * KEYS_DATA_KEY_BYTES;
			return KEY_FOUND;
		}
	}

	relid = KeysCatalogRelid("data_keys", false);
	cache_init(relid);

	KeysBecomeCatalogOwner(&sw);
	KeysSpiConnect();
	if (lookup_plan == NULL)
	{
		Oid			argtypes[1] = {INT8OID};
		SPIPlanPtr	p;

		p = SPI_prepare("SELECT state, wrapped FROM privacy.data_keys "
						"WHERE id OPERATOR(pg_catalog.=) $1", 1, argtypes);
		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		lookup_plan = p;
	}
	ret = SPI_execute_plan(lookup_plan, &arg, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "key lookup failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		result = KEY_UNKNOWN;
	else
	{
		bool		isnull;
		char	   *state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		Datum		w = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

		if (strcmp(state, "active") != 0 || isnull)
		{
			cache_put(id, NULL, true);
			result = KEY_DESTROYED;
		}
		else
		{
			unwrap_key(KeysRootKey(), id, DatumGetByteaPP(w), dk);
			*key = cache_put(id, dk, false);
			sodium_memzero(dk, sizeof(dk));
			result = KEY_FOUND;
		}
	}
	SPI_finish();
	KeysRestoreUser(&sw);
	return result;
}

/*
 * KeysGet
 *		The data key id, or an error: 42704 unknown, 55000 destroyed.
 */
const unsigned char *
KeysGet(int64 id)
{
	const unsigned char *key;

	switch (KeysLookup(id, &key))
	{
		case KEY_FOUND:
			return key;
		case KEY_UNKNOWN:
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("data key %lld does not exist", (long long) id)));
			break;
		case KEY_DESTROYED:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("data key %lld has been destroyed", (long long) id),
					 errdetail("Values encrypted under a destroyed key cannot be recovered.")));
			break;
	}
	return NULL;
}

/*
 * KeysCreate
 *		Create a random data key, store it wrapped, cache it; returns its
 *		id.  subject/subject_ref NULL for a plain key.  When a subject's key
 *		already exists (a concurrent first write), returns 0.
 */
int64
KeysCreate(const char *name, const char *subject, const char *subject_ref)
{
	Oid			relid;
	PrivacyUserSwitch sw;
	unsigned char dk[KEYS_DATA_KEY_BYTES];
	int64		id;
	bytea	   *wrapped;
	int			ret;
	Oid			argtypes[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, BYTEAOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;

	KeysRequireRootKey();
	relid = KeysCatalogRelid("data_keys", false);
	cache_init(relid);

	KeysBecomeCatalogOwner(&sw);
	KeysSpiConnect();
	ret = SPI_execute("SELECT pg_catalog.nextval('privacy.data_keys_id_seq')", false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not allocate a data key id");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	randombytes_buf(dk, sizeof(dk));
	wrapped = wrap_key(KeysRootKey(), id, dk);

	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(name);
	values[2] = subject ? CStringGetTextDatum(subject) : (Datum) 0;
	nulls[2] = subject ? ' ' : 'n';
	values[3] = subject_ref ? CStringGetTextDatum(subject_ref) : (Datum) 0;
	nulls[3] = subject_ref ? ' ' : 'n';
	values[4] = PointerGetDatum(wrapped);
	ret = SPI_execute_with_args(subject
								? "INSERT INTO privacy.data_keys (id, name, subject, subject_ref, wrapped) "
								"VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
								: "INSERT INTO privacy.data_keys (id, name, subject, subject_ref, wrapped) "
								"VALUES ($1, $2, $3, $4, $5)",
								5, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not store the data key: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
		cache_put(id, dk, false);
	else
		id = 0;
	sodium_memzero(dk, sizeof(dk));
	SPI_finish();
	KeysRestoreUser(&sw);
	return id;
}

/*
 * subject_cache_key
 *		Hash key for (subject, subject_ref); false if too long to cache.
 */
static bool
subject_cache_key(const char *subject, const char *subject_ref, char *out)
{
	size_t		a = strlen(subject),
				b = strlen(subject_ref);

	if (a + b + 2 > sizeof(((SubjectCacheEntry *) 0)->name))
		return false;
	memset(out, 0, sizeof(((SubjectCacheEntry *) 0)->name));
	memcpy(out, subject, a);
	out[a] = '\x1f';
	memcpy(out + a + 1, subject_ref, b);
	return true;
}

/*
 * KeysSubjectKey
 *		Id of the active data key of one subject, created on first use
 *		(named by subject type and subject_ref, never by id).
 */
int64
KeysSubjectKey(const char *subject, const char *subject_ref)
{
	char		ckey[sizeof(((SubjectCacheEntry *) 0)->name)];
	bool		cacheable;
	SubjectCacheEntry *e;
	PrivacyUserSwitch sw;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	int64		id = 0;
	int			attempt;

	KeysRequireRootKey();
	cacheable = subject_cache_key(subject, subject_ref, ckey);
	if (cacheable && subject_cache != NULL && OidIsValid(cached_keys_relid))
	{
		e = hash_search(subject_cache, ckey, HASH_FIND, NULL);
		if (e)
			return e->id;
	}
	cache_init(KeysCatalogRelid("data_keys", false));

	values[0] = CStringGetTextDatum(subject);
	values[1] = CStringGetTextDatum(subject_ref);
	for (attempt = 0; attempt < 2 && id == 0; attempt++)
	{
		int			ret;
		bool		isnull;

		KeysBecomeCatalogOwner(&sw);
		KeysSpiConnect();
		ret = SPI_execute_with_args("SELECT id FROM privacy.data_keys WHERE subject = $1 "
									"AND subject_ref = $2 AND state = 'active'",
									2, argtypes, values, NULL, false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "subject key lookup failed: %s", SPI_result_code_string(ret));
		if (SPI_processed == 1)
			id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();
		KeysRestoreUser(&sw);
		if (id == 0)
		{
			char	   *name = psprintf("subject:%s:%s", subject, subject_ref);

			id = KeysCreate(name, subject, subject_ref);
			if (id != 0)
			{
				StringInfoData d;

				initStringInfo(&d);
				appendStringInfo(&d, "{\"key_id\": %lld, \"subject\": ", (long long) id);
				escape_json(&d, subject);
				appendStringInfoChar(&d, '}');
				KeysAudit("create_key", subject_ref, d.data);
			}
		}
	}
	if (id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not create the data key of a subject concurrently"),
				 errhint("Retry the transaction.")));
	/* cache_init may have been flushed by an invalidation meanwhile */
	cache_init(KeysCatalogRelid("data_keys", false));
	if (cacheable)
	{
		e = hash_search(subject_cache, ckey, HASH_ENTER, NULL);
		e->id = id;
	}
	return id;
}

/*
 * KeysShredSubject
 *		Destroy every active data key of one subject in the caller's
 *		transaction; returns how many.  Values encrypted under them become
 *		unreadable everywhere once this commits (other backends drop their
 *		cached copies through the relcache invalidation).
 */
int
KeysShredSubject(const char *subject, const char *subject_ref)
{
	Oid			relid = KeysCatalogRelid("data_keys", false);
	PrivacyUserSwitch sw;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	int			ret;
	int			n;

	values[0] = CStringGetTextDatum(subject);
	values[1] = CStringGetTextDatum(subject_ref);
	KeysBecomeCatalogOwner(&sw);
	KeysSpiConnect();
	ret = SPI_execute_with_args("UPDATE privacy.data_keys SET state = 'destroyed', wrapped = NULL, "
								"destroyed_at = pg_catalog.now() WHERE subject = $1 "
								"AND subject_ref = $2 AND state = 'active'",
								2, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not destroy subject keys: %s", SPI_result_code_string(ret));
	n = (int) SPI_processed;
	SPI_finish();
	KeysRestoreUser(&sw);
	invalidate_keys(relid);
	return n;
}

/*
 * privacy_create_key
 *		create_key(name text) RETURNS bigint.
 */
Datum
privacy_create_key(PG_FUNCTION_ARGS)
{
	char	   *name;
	int64		id;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("key name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (name[0] == '\0')
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("key name must not be empty")));
	if (strncmp(name, "subject:", 8) == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("key names starting with \"subject:\" are reserved for subject keys")));
	id = KeysCreate(name, NULL, NULL);
	KeysAudit("create_key", NULL, psprintf("{\"key_id\": %lld}", (long long) id));
	PG_RETURN_INT64(id);
}

/*
 * privacy_destroy_key
 *		destroy_key(key_id bigint) RETURNS boolean: destroys a data key
 *		(crypto-shredding of everything encrypted under it).  False if it was
 *		destroyed already; 42704 if unknown.
 */
Datum
privacy_destroy_key(PG_FUNCTION_ARGS)
{
	int64		id;
	Oid			relid;
	PrivacyUserSwitch sw;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	int			ret;
	bool		exists;
	bool		done;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("key id must not be null")));
	id = PG_GETARG_INT64(0);
	relid = KeysCatalogRelid("data_keys", false);
	values[0] = Int64GetDatum(id);
	KeysBecomeCatalogOwner(&sw);
	KeysSpiConnect();
	ret = SPI_execute_with_args("SELECT 1 FROM privacy.data_keys WHERE id = $1 FOR UPDATE",
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "key lookup failed: %s", SPI_result_code_string(ret));
	exists = SPI_processed > 0;
	ret = SPI_execute_with_args("UPDATE privacy.data_keys SET state = 'destroyed', wrapped = NULL, "
								"destroyed_at = pg_catalog.now() WHERE id = $1 AND state = 'active'",
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not destroy the key: %s", SPI_result_code_string(ret));
	done = SPI_processed > 0;
	SPI_finish();
	KeysRestoreUser(&sw);
	if (!exists)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("data key %lld does not exist", (long long) id)));
	invalidate_keys(relid);
	if (done)
		KeysAudit("destroy_key", NULL, psprintf("{\"key_id\": %lld}", (long long) id));
	PG_RETURN_BOOL(done);
}

/*
 * privacy_rotate_root_key
 *		rotate_root_key(new_key_file text) RETURNS bigint: re-wrap every
 *		active data key of this database under the key in new_key_file, in
 *		the caller's transaction; returns the number of keys re-wrapped.
 *		Reading a server-side file needs superuser or pg_read_server_files.
 */
Datum
privacy_rotate_root_key(PG_FUNCTION_ARGS)
{
	char	   *path;
	unsigned char *newkey;
	const char *err;
	PrivacyUserSwitch sw;
	int			ret;
	uint64		i,
				n;
	SPITupleTable *tt;
	Oid			argtypes[2] = {INT8OID, BYTEAOID};

	KeysRequireRootKey();
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read a root key file"),
				 errhint("Only superusers and members of pg_read_server_files can rotate the root key.")));
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("new_key_file must not be null")));
	path = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!is_absolute_path(path))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("new_key_file must be an absolute path")));

	newkey = sodium_malloc(ROOT_KEY_BYTES);
	if (newkey == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("could not allocate secure memory")));
	err = read_key_file(path, newkey);
	if (err)
	{
		sodium_free(newkey);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\"", err, path)));
	}
	if (sodium_memcmp(newkey, KeysRootKey(), ROOT_KEY_BYTES) == 0)
	{
		sodium_free(newkey);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the new root key is the current root key")));
	}

	PG_TRY();
	{
		KeysBecomeCatalogOwner(&sw);
		KeysSpiConnect();
		ret = SPI_execute("SELECT id, wrapped FROM privacy.data_keys WHERE state = 'active' "
						  "ORDER BY id FOR UPDATE", false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read the data keys: %s", SPI_result_code_string(ret));
		tt = SPI_tuptable;
		n = SPI_processed;
		for (i = 0; i < n; i++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			Datum		w = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull);
			unsigned char dk[KEYS_DATA_KEY_BYTES];
			Datum		values[2];

			if (isnull)
				continue;
			unwrap_key(KeysRootKey(), id, DatumGetByteaPP(w), dk);
			values[0] = Int64GetDatum(id);
			values[1] = PointerGetDatum(wrap_key(newkey, id, dk));
			sodium_memzero(dk, sizeof(dk));
			ret = SPI_execute_with_args("UPDATE privacy.data_keys SET wrapped = $2 WHERE id = $1",
										2, argtypes, values, NULL, false, 0);
			if (ret != SPI_OK_UPDATE)
				elog(ERROR, "could not re-wrap a data key: %s", SPI_result_code_string(ret));
		}
		SPI_finish();
		KeysRestoreUser(&sw);
	}
	PG_FINALLY();
	{
		sodium_free(newkey);
	}
	PG_END_TRY();
	/* data keys are unchanged: cached copies stay valid */
	KeysAudit("rotate_root_key", NULL, psprintf("{\"keys\": %llu}", (unsigned long long) n));
	PG_RETURN_INT64((int64) n);
}
