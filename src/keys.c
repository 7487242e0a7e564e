/*-------------------------------------------------------------------------
 * keys.c
 *		The root keyring and the data keys of encrypted columns.
 *
 * Root keyring: up to 16 root keys of 32 bytes, newest first, from
 * privacy.root_key_file (one key of 64 hex characters per line) or from
 * the standard output of privacy.root_key_command (same format, as
 * ssl_passphrase_command; %v in the command is replaced by a version to
 * fetch, empty for the whole keyring).  Each root key has a version: the
 * first 8 bytes of a keyed BLAKE2b of a fixed label under the key (never
 * the key; it cannot be turned back into it).  The newest key wraps new
 * data keys; every key of the ring unwraps.
 *
 * Who reads the keyring: the postmaster, in _PG_init (preload) and again on
 * every reload (the assign hooks of the two settings run in the postmaster
 * during SIGHUP processing, before it signals its children).  It publishes
 * the ring in a small shared-memory block (page aligned, locked, excluded
 * from core dumps) under a sequence counter written by the postmaster only
 * (a seqlock: odd while being written), so the postmaster takes no lock.
 * Each backend copies the ring into its own sodium_malloc'd memory when the
 * counter moved (one atomic read per key operation).  A backend that meets
 * a version its ring lacks re-reads on demand: the shared ring first, then
 * the file itself, or the command with %v set to that version; keys found
 * that way stay local to the backend.  A failing command or an unreadable
 * file is a LOG line with the reason (the exit status, never the output);
 * the previous ring stays in use.  The key never travels through SQL.
 *
 * Data keys: random 32-byte keys (never derived: a derived key cannot be
 * destroyed), stored in privacy.data_keys wrapped under a root key with
 * XChaCha20-Poly1305:
 *		0x01 | root-key version (8) | nonce (24) | AEAD(key) (48)
 * with associated data "privacy-key" | id, so a wrapped key cannot be moved
 * to another id.  (Release 0.1.0 wrote the same bytes: its "fingerprint"
 * is the version, so its keys need no conversion.)  rotate_root_key
 * re-wraps every key under the newest root key, online, in batches; no
 * data is rewritten and cached data keys stay valid.  Destroying a key sets
 * its state to 'destroyed' and drops the wrapped bytes.
 *
 * Cache: unwrapped keys are cached per backend in one sodium_malloc'd arena
 * of 1024 slots; when it is full the oldest slot is reused (the generation
 * counter moves, so holders of key pointers look again).  Every change of
 * key state sends a relcache invalidation of privacy.data_keys; the
 * callback flushes the cache, so a key destroyed by a committed transaction
 * is unusable in every backend from its next transaction (or next lock
 * acquisition) on.  Lookups of a key not cached read privacy.data_keys with
 * a fresh snapshot, so a key created earlier in the same statement (a new
 * subject met by encrypt_column's UPDATE) is found.
 *
 * Catalog access runs as the owner of privacy.data_keys with search_path
 * pinned to pg_catalog, pg_temp (KeysBecomeCatalogOwner).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>
#include <sys/mman.h>
#include <unistd.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "crypto.h"
#include "guard.h"
#include "privacy.h"

#define ROOT_KEY_BYTES		32
#define VERSION_BYTES		8
#define MAX_ROOT_KEYS		16
#define WRAP_VERSION		0x01
#define WRAP_NONCE_BYTES	crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define WRAP_TAG_BYTES		crypto_aead_xchacha20poly1305_ietf_ABYTES
#define WRAPPED_BYTES		(1 + VERSION_BYTES + WRAP_NONCE_BYTES + \
							 KEYS_DATA_KEY_BYTES + WRAP_TAG_BYTES)
#define CACHE_SLOTS			1024
#define SUBJECT_CACHE_MAX	4096
#define ROTATE_BATCH		1000
#define ROTATE_PROGRESS		10000
#define KEYRING_TEXT_MAX	8192

/* a keyring: versions and keys, newest first */
typedef struct Keyring
{
	int			n;
	unsigned char version[MAX_ROOT_KEYS][VERSION_BYTES];
	unsigned char key[MAX_ROOT_KEYS][ROOT_KEY_BYTES];
} Keyring;

/* the ring the postmaster publishes (seq odd while it writes) */
typedef struct KeyringShared
{
	pg_atomic_uint64 seq;
	Keyring		ring;
	/* random at every start of shared memory: keys the subject locks */
	unsigned char lock_salt[crypto_shorthash_KEYBYTES];
} KeyringShared;

/* postmaster: the ring read at start or last reload */
static Keyring *pm_ring = NULL;
static bool keyring_ready = false;
static KeyringShared *keyring_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* backend: its copy of the shared ring, and keys fetched on demand */
static Keyring *local_ring = NULL;
static uint64 local_seq = 0;
static Keyring *extra_ring = NULL;
static unsigned char miss_version[VERSION_BYTES];
static TimestampTz miss_at = 0;

/* per-backend cache of unwrapped data keys */
typedef struct KeyCacheEntry
{
	int64		id;				/* hash key */
	bool		destroyed;
	bool		reserved;		/* "privacy:audit": the audit chain's only */
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
static int64 slot_owner[CACHE_SLOTS];
static int	arena_used = 0;
static int	arena_next = 0;		/* next slot to reuse when full */
static uint64 cache_generation = 1;
static Oid	cached_keys_relid = InvalidOid;
static bool callback_registered = false;
static SPIPlanPtr lookup_plan = NULL;
static SPIPlanPtr nextval_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr insert_subject_plan = NULL;
static SPIPlanPtr subject_plan = NULL;
static bool defer_subject_audit = false;
static uint64 deferred_subject_keys = 0;

static bool keys_audit_chain_key(int64 key_id, int64 *new_id, unsigned char *out);
static void mark_reserved(int64 id, bool reserved);

PG_FUNCTION_INFO_V1(privacy_create_key);
PG_FUNCTION_INFO_V1(privacy_destroy_key);
PG_FUNCTION_INFO_V1(privacy_rotate_root_key);
PG_FUNCTION_INFO_V1(privacy_root_keyring);

/* ------------------------------------------------------------------------
 * Reading keyrings
 * ------------------------------------------------------------------------
 */

/*
 * root_version
 *		The version of a root key: keyed BLAKE2b of a fixed label, 8 bytes.
 */
static void
root_version(const unsigned char *rk, unsigned char *out)
{
	static const char label[] = "privacy root key fingerprint";

	crypto_generichash(out, VERSION_BYTES, (const unsigned char *) label,
					   sizeof(label) - 1, rk, ROOT_KEY_BYTES);
}

/*
 * version_hex
 *		16 hexadecimal characters of a version (palloc'd unless buf given).
 */
static char *
version_hex(const unsigned char *version, char *buf)
{
	if (buf == NULL)
		buf = palloc(2 * VERSION_BYTES + 1);
	sodium_bin2hex(buf, 2 * VERSION_BYTES + 1, version, VERSION_BYTES);
	return buf;
}

/*
 * keyring_alloc
 *		A zeroed keyring in locked memory (NULL if that failed).
 */
static Keyring *
keyring_alloc(void)
{
	Keyring    *r = sodium_malloc(sizeof(Keyring));

	if (r != NULL)
		sodium_memzero(r, sizeof(Keyring));
	return r;
}

/*
 * keyring_find_in
 *		The key of a version in ring r, or NULL.
 */
static const unsigned char *
keyring_find_in(const Keyring *r, const unsigned char *version)
{
	int			i;

	if (r == NULL)
		return NULL;
	for (i = 0; i < r->n; i++)
		if (memcmp(r->version[i], version, VERSION_BYTES) == 0)
			return r->key[i];
	return NULL;
}

/*
 * keyring_parse
 *		Parse text holding keys of 64 hexadecimal characters, one per line,
 *		newest first (blank lines and lines starting with # are skipped)
 *		into out.  Returns NULL on success, else a message without key
 *		material.  Duplicate keys are kept once.
 */
static const char *
keyring_parse(char *text, size_t len, Keyring *out)
{
	char	   *p = text;
	char	   *end = text + len;
	unsigned char key[ROOT_KEY_BYTES];
	unsigned char version[VERSION_BYTES];

	out->n = 0;
	while (p < end)
	{
		char	   *line = p;
		char	   *eol = memchr(p, '\n', end - p);
		char	   *s,
				   *e;
		size_t		binlen = 0;

		if (eol == NULL)
			eol = end;
		p = eol + 1;
		s = line;
		e = eol;
		while (s < e && isspace((unsigned char) *s))
			s++;
		while (e > s && isspace((unsigned char) e[-1]))
			e--;
		if (s == e || *s == '#')
			continue;
		if (e - s != 2 * ROOT_KEY_BYTES ||
			sodium_hex2bin(key, ROOT_KEY_BYTES, s, e - s, NULL, &binlen, NULL) != 0 ||
			binlen != ROOT_KEY_BYTES)
		{
			sodium_memzero(key, sizeof(key));
			return "every line must hold exactly 64 hexadecimal characters (one key)";
		}
		root_version(key, version);
		if (keyring_find_in(out, version) != NULL)
			continue;
		if (out->n >= MAX_ROOT_KEYS)
		{
			sodium_memzero(key, sizeof(key));
			return "more than 16 root keys";
		}
		memcpy(out->key[out->n], key, ROOT_KEY_BYTES);
		memcpy(out->version[out->n], version, VERSION_BYTES);
		out->n++;
	}
	sodium_memzero(key, sizeof(key));
	if (out->n == 0)
		return "no root key found";
	return NULL;
}

/*
 * keyring_read_file
 *		Read a keyring file into out; NULL or a message (no key material).
 */
static const char *
keyring_read_file(const char *path, Keyring *out)
{
	char	   *buf;
	size_t		n;
	FILE	   *f;
	const char *err = NULL;

	out->n = 0;
	f = fopen(path, "r");
	if (f == NULL)
		return "could not open the root key file";
	buf = sodium_malloc(KEYRING_TEXT_MAX);
	if (buf == NULL)
	{
		fclose(f);
		return "could not allocate secure memory";
	}
	n = fread(buf, 1, KEYRING_TEXT_MAX, f);
	if (ferror(f))
		err = "could not read the root key file";
	else if (n == KEYRING_TEXT_MAX)
		err = "the root key file is too long";
	fclose(f);
	if (err == NULL)
		err = keyring_parse(buf, n, out);
	sodium_free(buf);			/* zeroes */
	return err;
}

/*
 * keyring_run_command
 *		Run cmd (with %v replaced by version, or by nothing) and parse its
 *		standard output into out.  Returns NULL or a message: the exit
 *		status, never the output.  Its standard error is discarded (a
 *		command could print a key there, e.g. under "set -x"): it never
 *		reaches the server log.
 */
static const char *
keyring_run_command(const char *cmd, const char *version, Keyring *out)
{
	StringInfoData c;
	const char *s;
	FILE	   *f;
	char	   *buf;
	size_t		n;
	int			rc;
	const char *err = NULL;

	out->n = 0;
	initStringInfo(&c);
	appendStringInfoString(&c, "exec 2>/dev/null\n");
	for (s = cmd; *s; s++)
	{
		if (s[0] == '%' && s[1] == 'v')
		{
			appendStringInfoString(&c, version ? version : "");
			s++;
		}
		else if (s[0] == '%' && s[1] == '%')
		{
			appendStringInfoChar(&c, '%');
			s++;
		}
		else
			appendStringInfoChar(&c, *s);
	}
	buf = sodium_malloc(KEYRING_TEXT_MAX);
	if (buf == NULL)
		return "could not allocate secure memory";
	f = OpenPipeStream(c.data, "r");
	if (f == NULL)
	{
		sodium_free(buf);
		return psprintf("could not execute the command: %m");
	}
	n = fread(buf, 1, KEYRING_TEXT_MAX, f);
	if (n == KEYRING_TEXT_MAX)
		err = "its output is too long";
	/* read to the end so that the command is not killed by SIGPIPE */
	while (!feof(f) && !ferror(f))
	{
		char		drain[256];

		if (fread(drain, 1, sizeof(drain), f) == 0)
			break;
		sodium_memzero(drain, sizeof(drain));
	}
	rc = ClosePipeStream(f);
	if (rc != 0)
		err = psprintf("the command failed: %s", wait_result_to_str(rc));
	else if (err == NULL)
	{
		err = keyring_parse(buf, n, out);
		if (err)
			err = psprintf("its output is not a keyring: %s", err);
	}
	sodium_free(buf);
	if (err)
		out->n = 0;
	return err;
}

/*
 * keyring_load
 *		Read the configured keyring (the command wins over the file) into
 *		out.  Returns NULL or a message; *what names the source.
 */
static const char *
keyring_load(const char *file, const char *command, Keyring *out, const char **what)
{
	if (command != NULL && command[0] != '\0')
	{
		*what = "privacy.root_key_command";
		return keyring_run_command(command, NULL, out);
	}
	if (file != NULL && file[0] != '\0')
	{
		*what = psprintf("privacy.root_key_file \"%s\"", file);
		return keyring_read_file(file, out);
	}
	*what = "privacy.root_key_file";
	out->n = 0;
	return "neither privacy.root_key_file nor privacy.root_key_command is set";
}

/* ------------------------------------------------------------------------
 * The postmaster's ring and its publication
 * ------------------------------------------------------------------------
 */

/*
 * keyring_publish
 *		Copy pm_ring into shared memory (postmaster only, the one writer).
 */
static void
keyring_publish(void)
{
	if (keyring_shared == NULL || pm_ring == NULL)
		return;
	pg_atomic_fetch_add_u64(&keyring_shared->seq, 1);	/* odd: writing */
	pg_write_barrier();
	memcpy(&keyring_shared->ring, pm_ring, sizeof(Keyring));
	pg_write_barrier();
	pg_atomic_fetch_add_u64(&keyring_shared->seq, 1);	/* even: done */
}

/*
 * keyring_reload
 *		Postmaster: read the keyring from the given settings; on success
 *		replace pm_ring and publish it, else LOG and keep the old one.
 */
static void
keyring_reload(const char *file, const char *command, bool at_start)
{
	Keyring    *fresh = keyring_alloc();
	const char *what;
	const char *err;
	char		hex[2 * VERSION_BYTES + 1];
	bool		changed;

	if (fresh == NULL)
	{
		ereport(LOG, (errmsg("privacy: could not allocate secure memory for the root keyring")));
		return;
	}
	err = keyring_load(file, command, fresh, &what);
	if (err)
	{
		sodium_free(fresh);
		if (at_start)
			ereport(LOG,
					(errmsg("privacy: could not load the root keyring from %s: %s; encrypted columns are unavailable",
							what, err)));
		else
			ereport(LOG,
					(errmsg("privacy: could not reload the root keyring from %s: %s; the keyring in use is unchanged",
							what, err)));
		return;
	}
	changed = (pm_ring == NULL || pm_ring->n != fresh->n ||
			   memcmp(pm_ring->version, fresh->version, sizeof(fresh->version)) != 0);
	if (pm_ring != NULL)
		sodium_free(pm_ring);
	pm_ring = fresh;
	keyring_publish();
	if (changed)
		ereport(LOG,
				(errmsg("privacy: root keyring %s from %s: %d key%s, current version %s",
						at_start ? "loaded" : "reloaded", what, pm_ring->n,
						pm_ring->n == 1 ? "" : "s", version_hex(pm_ring->version[0], hex))));
}

/*
 * KeysAssignRootKeyFile / KeysAssignRootKeyCommand
 *		Assign hooks of the two settings.  In the postmaster after start
 *		(a reload) they re-read the keyring with the new value; elsewhere
 *		they do nothing (backends follow the shared ring).  The file's hook
 *		defers to the command when one is set, so a reload runs the
 *		command once.
 */
void
KeysAssignRootKeyFile(const char *newval, void *extra)
{
	if (!keyring_ready || IsUnderPostmaster)
		return;
	if (privacy_root_key_command != NULL && privacy_root_key_command[0] != '\0')
		return;
	keyring_reload(newval, NULL, false);
}

void
KeysAssignRootKeyCommand(const char *newval, void *extra)
{
	if (!keyring_ready || IsUnderPostmaster)
		return;
	keyring_reload(privacy_root_key_file, newval, false);
}

/*
 * keys_shmem_request / keys_shmem_startup
 *		A page-aligned block for the shared ring; filled by the postmaster
 *		at every (re)initialization of shared memory.
 */
static void
keys_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(sizeof(KeyringShared) + 2 * sysconf(_SC_PAGESIZE));
}

static void
keys_shmem_startup(void)
{
	bool		found;
	char	   *raw;
	long		page = sysconf(_SC_PAGESIZE);
	size_t		len = sizeof(KeyringShared) + 2 * page;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	raw = ShmemInitStruct("privacy root keyring", len, &found);
	keyring_shared = (KeyringShared *) TYPEALIGN(page, raw);
	if (!found)
	{
		memset(raw, 0, len);
		pg_atomic_init_u64(&keyring_shared->seq, 0);
		randombytes_buf(keyring_shared->lock_salt, sizeof(keyring_shared->lock_salt));
		/* keep it out of swap and core dumps (best effort) */
		(void) mlock(keyring_shared, page);
#ifdef MADV_DONTDUMP
		(void) madvise(keyring_shared, page, MADV_DONTDUMP);
#endif
	}
	LWLockRelease(AddinShmemInitLock);
	if (!IsUnderPostmaster)
		keyring_publish();
}

char	   *privacy_root_key_file = NULL;
char	   *privacy_root_key_command = NULL;

/*
 * KeysInit
 *		The keyring's settings (_PG_init, preloaded or not); their assign
 *		hooks re-read the keyring in the postmaster on reload.
 */
void
KeysInit(void)
{
	DefineCustomStringVariable("privacy.root_key_file",
							   "Sets the file holding the root keyring (keys of 64 hex characters, newest first).",
							   "Re-read on reload; the keys never reach SQL.",
							   &privacy_root_key_file,
							   NULL,
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, KeysAssignRootKeyFile, NULL);

	DefineCustomStringVariable("privacy.root_key_command",
							   "Sets a shell command whose standard output is the root keyring.",
							   "Run by the postmaster at start and on reload, instead of reading privacy.root_key_file; %v is replaced by a version to fetch, empty for the whole keyring.",
							   &privacy_root_key_command,
							   NULL,
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, KeysAssignRootKeyCommand, NULL);
}

/*
 * KeysPreload
 *		Called from _PG_init in the postmaster when preloaded: load the
 *		keyring and arrange its publication.  Never raises an error: a
 *		problem is logged and encrypted columns stay unavailable until a
 *		reload succeeds.
 */
void
KeysPreload(void)
{
	if (sodium_init() < 0)
	{
		ereport(LOG, (errmsg("privacy: could not initialize libsodium; encrypted columns are unavailable")));
		return;
	}
	StaticAssertStmt(sizeof(KeyringShared) <= 4096, "keyring must fit in one page");
	StaticAssertStmt(KEYS_DATA_KEY_BYTES == 32, "the audit chain key is 32 bytes");
	AuditSetChainKeySource(keys_audit_chain_key);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = keys_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = keys_shmem_startup;
	if ((privacy_root_key_file == NULL || privacy_root_key_file[0] == '\0') &&
		(privacy_root_key_command == NULL || privacy_root_key_command[0] == '\0'))
		ereport(LOG, (errmsg("privacy: neither privacy.root_key_file nor privacy.root_key_command is set; encrypted columns are unavailable")));
	else
		keyring_reload(privacy_root_key_file, privacy_root_key_command, true);
	keyring_ready = true;
}

/* ------------------------------------------------------------------------
 * The backend's ring
 * ------------------------------------------------------------------------
 */

/*
 * keyring_sync
 *		Copy the shared ring when the postmaster published a new one.
 */
static void
keyring_sync(void)
{
	uint64		s1,
				s2;

	if (keyring_shared == NULL)
		return;
	s1 = pg_atomic_read_u64(&keyring_shared->seq);
	if (local_ring != NULL && s1 == local_seq)
		return;
	if (local_ring == NULL)
	{
		local_ring = keyring_alloc();
		if (local_ring == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
							errmsg("could not allocate secure memory for the root keyring")));
	}
	for (;;)
	{
		s1 = pg_atomic_read_u64(&keyring_shared->seq);
		if (s1 & 1)
		{
			pg_usleep(100);
			continue;
		}
		pg_read_barrier();
		memcpy(local_ring, &keyring_shared->ring, sizeof(Keyring));
		pg_read_barrier();
		s2 = pg_atomic_read_u64(&keyring_shared->seq);
		if (s1 == s2)
			break;
	}
	local_seq = s1;
}

/*
 * keyring_current
 *		The newest root key and its version, or NULL when the ring is empty.
 */
static const unsigned char *
keyring_current(const unsigned char **version)
{
	keyring_sync();
	if (local_ring == NULL || local_ring->n == 0)
		return NULL;
	*version = local_ring->version[0];
	return local_ring->key[0];
}

/*
 * keyring_find
 *		The root key of a version: the shared ring, keys fetched before, and
 *		on a miss the configured source read again by this backend (the file,
 *		or the command with %v set to the version).  NULL if none has it.
 */
static const unsigned char *
keyring_find(const unsigned char *version)
{
	const unsigned char *k;
	Keyring    *fetched;
	const char *err = NULL;
	char		hex[2 * VERSION_BYTES + 1];
	int			i;

	keyring_sync();
	if ((k = keyring_find_in(local_ring, version)) != NULL ||
		(k = keyring_find_in(extra_ring, version)) != NULL)
		return k;
	if (!privacy_preloaded)
		return NULL;
	/* one fetch per missing version every few seconds, not one per row */
	if (memcmp(miss_version, version, VERSION_BYTES) == 0 &&
		!TimestampDifferenceExceeds(miss_at, GetCurrentTimestamp(), 5000))
		return NULL;
	memcpy(miss_version, version, VERSION_BYTES);
	miss_at = GetCurrentTimestamp();
	fetched = keyring_alloc();
	if (fetched == NULL)
		return NULL;
	version_hex(version, hex);
	if (privacy_root_key_command != NULL && privacy_root_key_command[0] != '\0')
	{
		if (strstr(privacy_root_key_command, "%v") != NULL)
			err = keyring_run_command(privacy_root_key_command, hex, fetched);
	}
	else if (privacy_root_key_file != NULL && privacy_root_key_file[0] != '\0')
		err = keyring_read_file(privacy_root_key_file, fetched);
	if (err)
		ereport(LOG,
				(errmsg("privacy: could not fetch root key version %s: %s", hex, err)));
	if (keyring_find_in(fetched, version) != NULL)
	{
		if (extra_ring == NULL)
			extra_ring = keyring_alloc();
		for (i = 0; extra_ring != NULL && i < fetched->n && extra_ring->n < MAX_ROOT_KEYS; i++)
		{
			if (keyring_find_in(extra_ring, fetched->version[i]) != NULL)
				continue;
			memcpy(extra_ring->version[extra_ring->n], fetched->version[i], VERSION_BYTES);
			memcpy(extra_ring->key[extra_ring->n], fetched->key[i], ROOT_KEY_BYTES);
			extra_ring->n++;
		}
	}
	sodium_free(fetched);
	return keyring_find_in(extra_ring, version);
}

/*
 * KeysRootKeyAvailable
 *		True when the keyring holds at least one key.
 */
bool
KeysRootKeyAvailable(void)
{
	const unsigned char *v;

	return keyring_current(&v) != NULL;
}

/*
 * KeysRootKey
 *		The newest root key, or NULL.
 */
const unsigned char *
KeysRootKey(void)
{
	const unsigned char *v;

	return keyring_current(&v);
}

/*
 * KeysLockKey
 *		The second key of an advisory lock on a subject (its canonical id,
 *		or the hash of a link column's value): data keyed with this
 *		server's lock salt (SipHash-2-4, random at every start of shared
 *		memory), never the data's plain hash.  pg_locks shows advisory lock
 *		keys to every role, and an unkeyed hash of an id is the id to
 *		whoever hashes the candidates (hashtext('42')).  The salt is the
 *		same in every backend of the server and lives no longer than the
 *		locks; without preload (no shared memory) the plain hash.
 */
int32
KeysLockKey(const void *data, size_t len)
{
	unsigned char out[crypto_shorthash_BYTES];
	int32		k;

	if (keyring_shared == NULL)
		return DatumGetInt32(hash_any((const unsigned char *) data, (int) len));
	crypto_shorthash(out, (const unsigned char *) data, (unsigned long long) len,
					 keyring_shared->lock_salt);
	memcpy(&k, out, sizeof(k));
	sodium_memzero(out, sizeof(out));
	return k;
}

/*
 * KeysRequireRootKey
 *		Raise 55000 with a hint unless the keyring holds a key.
 */
void
KeysRequireRootKey(void)
{
	if (!privacy_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("encrypted columns need the privacy library to be preloaded"),
				 errhint("Add privacy to shared_preload_libraries, set privacy.root_key_file and restart the server.")));
	if (!KeysRootKeyAvailable())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no root key is configured"),
				 errhint("Set privacy.root_key_file to a file holding a key of 64 hexadecimal characters (or privacy.root_key_command to a command printing one) and reload the configuration; the server log says why no key was loaded.")));
}

/* ------------------------------------------------------------------------
 * Wrapping
 * ------------------------------------------------------------------------
 */

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
 *		Wrap a data key under root key rk of the given version; returns a
 *		palloc'd bytea.
 */
static bytea *
wrap_key(const unsigned char *rk, const unsigned char *version, int64 id,
		 const unsigned char *dk)
{
	bytea	   *res = palloc(VARHDRSZ + WRAPPED_BYTES);
	unsigned char *p = (unsigned char *) VARDATA(res);
	unsigned char aad[19];
	unsigned long long clen;

	SET_VARSIZE(res, VARHDRSZ + WRAPPED_BYTES);
	p[0] = WRAP_VERSION;
	memcpy(p + 1, version, VERSION_BYTES);
	randombytes_buf(p + 1 + VERSION_BYTES, WRAP_NONCE_BYTES);
	wrap_aad(id, aad);
	crypto_aead_xchacha20poly1305_ietf_encrypt(p + 1 + VERSION_BYTES + WRAP_NONCE_BYTES,
											   &clen, dk, KEYS_DATA_KEY_BYTES,
											   aad, sizeof(aad), NULL,
											   p + 1 + VERSION_BYTES, rk);
	Assert(clen == KEYS_DATA_KEY_BYTES + WRAP_TAG_BYTES);
	return res;
}

/*
 * wrapped_version
 *		The root-key version a wrapped key names; NULL if malformed.
 */
static const unsigned char *
wrapped_version(bytea *wrapped)
{
	unsigned char *p = (unsigned char *) VARDATA_ANY(wrapped);

	if (VARSIZE_ANY_EXHDR(wrapped) != WRAPPED_BYTES || p[0] != WRAP_VERSION)
		return NULL;
	return p + 1;
}

/*
 * unwrap_key
 *		Unwrap into out (32 bytes) with the root key of the version it names,
 *		or raise an error: 55000 when the keyring lacks that version, XX001
 *		when the wrapped key is damaged.
 */
static void
unwrap_key(int64 id, bytea *wrapped, unsigned char *out)
{
	unsigned char *p = (unsigned char *) VARDATA_ANY(wrapped);
	const unsigned char *version = wrapped_version(wrapped);
	const unsigned char *rk;
	unsigned char aad[19];
	unsigned long long mlen;

	if (version == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("wrapped data key %lld is damaged", (long long) id)));
	rk = keyring_find(version);
	if (rk == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("data key %lld is wrapped under another root key (version %s), which this server's keyring does not hold",
						(long long) id, version_hex(version, NULL)),
				 errhint("Add that root key to privacy.root_key_file (or to the output of privacy.root_key_command) and reload the configuration; privacy.root_keys lists the versions the data keys need.")));
	wrap_aad(id, aad);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL,
												   p + 1 + VERSION_BYTES + WRAP_NONCE_BYTES,
												   KEYS_DATA_KEY_BYTES + WRAP_TAG_BYTES,
												   aad, sizeof(aad),
												   p + 1 + VERSION_BYTES, rk) != 0 ||
		mlen != KEYS_DATA_KEY_BYTES)
	{
		sodium_memzero(out, KEYS_DATA_KEY_BYTES);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("wrapped data key %lld is damaged", (long long) id)));
	}
}

/* ------------------------------------------------------------------------
 * The cache of unwrapped data keys
 * ------------------------------------------------------------------------
 */

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
	arena_next = 0;
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
 *		Remember an unwrapped key (or that the id is destroyed).  When the
 *		arena is full, the oldest slot is reused: only that key is forgotten,
 *		and the generation moves so that holders of key pointers look again.
 */
static const unsigned char *
cache_put(int64 id, const unsigned char *dk, bool destroyed)
{
	KeyCacheEntry *e;
	bool		found;
	int			slot;

	e = hash_search(key_cache, &id, HASH_ENTER, &found);
	if (!found)
		e->reserved = false;
	if (found && !e->destroyed && e->slot >= 0 && !destroyed)
	{
		memcpy(key_arena + (size_t) e->slot * KEYS_DATA_KEY_BYTES, dk, KEYS_DATA_KEY_BYTES);
		return key_arena + (size_t) e->slot * KEYS_DATA_KEY_BYTES;
	}
	e->destroyed = destroyed;
	e->slot = -1;
	if (destroyed)
		return NULL;
	if (arena_used < CACHE_SLOTS)
		slot = arena_used++;
	else
	{
		int64		victim;

		slot = arena_next;
		arena_next = (arena_next + 1) % CACHE_SLOTS;
		victim = slot_owner[slot];
		if (victim != id)
			(void) hash_search(key_cache, &victim, HASH_REMOVE, NULL);
		cache_generation++;
	}
	slot_owner[slot] = id;
	e->slot = slot;
	memcpy(key_arena + (size_t) slot * KEYS_DATA_KEY_BYTES, dk, KEYS_DATA_KEY_BYTES);
	return key_arena + (size_t) slot * KEYS_DATA_KEY_BYTES;
}

/*
 * KeysCacheGeneration
 *		Moves on every flush or reuse of a slot: callers holding key
 *		pointers must re-fetch when it changes.
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
	sw->frame = GuardEnterPinned(UtilRelationOwner(KeysCatalogRelid("data_keys", false)), SECURITY_LOCAL_USERID_CHANGE);
}

/*
 * KeysRestoreUser
 *		Undo KeysBecomeCatalogOwner.
 */
void
KeysRestoreUser(PrivacyUserSwitch *sw)
{
	GuardLeave(sw->frame);
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
 * keep_plan
 *		Prepare and keep a catalog statement (inside SPI, as the catalog
 *		owner: the plans are always run as that owner).
 */
static SPIPlanPtr
keep_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

	if (p == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(p) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return p;
}

/*
 * KeysLookup
 *		Find data key id: KEY_FOUND with *key pointing into the cache (valid
 *		until the cache generation changes), KEY_UNKNOWN or KEY_DESTROYED.
 *		A key not cached is read with the latest snapshot (outside parallel
 *		mode), so keys created by this transaction, even earlier in the
 *		running statement, and keys committed since are seen.
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
	UtilSpiConnect();
	if (lookup_plan == NULL)
	{
		Oid			argtypes[1] = {INT8OID};
		SPIPlanPtr	p;

		p = SPI_prepare("SELECT state, wrapped, name OPERATOR(pg_catalog.=) 'privacy:audit'"
						" FROM privacy.data_keys WHERE id OPERATOR(pg_catalog.=) $1", 1, argtypes);
		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		lookup_plan = p;
	}
	if (IsInParallelMode())
		ret = SPI_execute_plan(lookup_plan, &arg, NULL, true, 1);
	else
		ret = SPI_execute_snapshot(lookup_plan, &arg, NULL, GetLatestSnapshot(),
								   InvalidSnapshot, true, false, 1);
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
			unwrap_key(id, DatumGetByteaPP(w), dk);
			*key = cache_put(id, dk, false);
			sodium_memzero(dk, sizeof(dk));
			mark_reserved(id, DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 3, &isnull)));
			result = KEY_FOUND;
		}
	}
	SPI_finish();
	KeysRestoreUser(&sw);
	return result;
}

/* remember whether cached key id is the audit chain's */
static void
mark_reserved(int64 id, bool reserved)
{
	KeyCacheEntry *e = key_cache ? hash_search(key_cache, &id, HASH_FIND, NULL) : NULL;

	if (e)
		e->reserved = reserved;
}

/*
 * KeysGet
 *		The data key id, or an error: 42704 unknown, 55000 destroyed, 42501
 *		the audit chain's key ("privacy:audit" keys nothing else: data
 *		encrypted under it could never be shredded, as it is never
 *		destroyed).
 */
const unsigned char *
KeysGet(int64 id)
{
	const unsigned char *key;
	KeyCacheEntry *e;

	switch (KeysLookup(id, &key))
	{
		case KEY_FOUND:
			e = hash_search(key_cache, &id, HASH_FIND, NULL);
			if (e && e->reserved)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("data key %lld keys the audit log and is reserved to it", (long long) id),
						 errhint("Create a key of your own with privacy.create_key().")));
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
 *		Create a random data key, store it wrapped under the newest root key,
 *		cache it; returns its id.  subject/subject_ref NULL for a plain key.
 *		When a subject's key already exists (a concurrent first write),
 *		returns 0.
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
	const unsigned char *rk;
	const unsigned char *version = NULL;

	KeysRequireRootKey();
	relid = KeysCatalogRelid("data_keys", false);
	cache_init(relid);

	KeysBecomeCatalogOwner(&sw);
	UtilSpiConnect();
	if (nextval_plan == NULL)
		nextval_plan = keep_plan("SELECT pg_catalog.nextval('privacy.data_keys_id_seq')", 0, NULL);
	ret = SPI_execute_plan(nextval_plan, NULL, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not allocate a data key id");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	randombytes_buf(dk, sizeof(dk));
	rk = keyring_current(&version);
	if (rk == NULL || version == NULL)
		KeysRequireRootKey();
	wrapped = wrap_key(rk, version, id, dk);

	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(name);
	values[2] = subject ? CStringGetTextDatum(subject) : (Datum) 0;
	nulls[2] = subject ? ' ' : 'n';
	values[3] = subject_ref ? CStringGetTextDatum(subject_ref) : (Datum) 0;
	nulls[3] = subject_ref ? ' ' : 'n';
	values[4] = PointerGetDatum(wrapped);
	if (subject && insert_subject_plan == NULL)
		insert_subject_plan = keep_plan("INSERT INTO privacy.data_keys (id, name, subject, subject_ref, wrapped) "
										"VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING", 5, argtypes);
	if (!subject && insert_plan == NULL)
		insert_plan = keep_plan("INSERT INTO privacy.data_keys (id, name, subject, subject_ref, wrapped) "
								"VALUES ($1, $2, $3, $4, $5)", 5, argtypes);
	ret = SPI_execute_plan(subject ? insert_subject_plan : insert_plan, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not store the data key: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		cache_put(id, dk, false);
		mark_reserved(id, strcmp(name, "privacy:audit") == 0);
	}
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
 * KeysDeferSubjectAudit
 *		While on, subject keys created are counted instead of audited one
 *		by one (encrypt_column meets thousands of subjects in one statement
 *		and audits the count once); turning it off returns the count.
 */
uint64
KeysDeferSubjectAudit(bool on)
{
	uint64		n = deferred_subject_keys;

	defer_subject_audit = on;
	deferred_subject_keys = 0;
	return n;
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
		UtilSpiConnect();
		if (subject_plan == NULL)
			subject_plan = keep_plan("SELECT id FROM privacy.data_keys WHERE subject OPERATOR(pg_catalog.=) $1 "
									 "AND subject_ref OPERATOR(pg_catalog.=) $2 "
									 "AND state OPERATOR(pg_catalog.=) 'active'", 2, argtypes);
		ret = SPI_execute_plan(subject_plan, values, NULL, false, 1);
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
			if (id != 0 && defer_subject_audit)
				deferred_subject_keys++;
			else if (id != 0)
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
		/* ids only (no material), but bounded all the same */
		if (hash_get_num_entries(subject_cache) >= SUBJECT_CACHE_MAX)
		{
			hash_destroy(subject_cache);
			subject_cache = NULL;
			cache_init(cached_keys_relid);
		}
		e = hash_search(subject_cache, ckey, HASH_ENTER, NULL);
		e->id = id;
	}
	return id;
}

/*
 * KeysCountSubject
 *		How many active data keys one subject has: what KeysShredSubject
 *		would destroy now (an erasure's dry run reports it).
 */
int
KeysCountSubject(const char *subject, const char *subject_ref)
{
	static SPIPlanPtr plan = NULL;
	PrivacyUserSwitch sw;
	Datum		values[2];
	bool		isnull;
	int			ret;
	int			n;

	values[0] = CStringGetTextDatum(subject);
	values[1] = CStringGetTextDatum(subject_ref);
	KeysBecomeCatalogOwner(&sw);
	UtilSpiConnect();
	if (plan == NULL)
	{
		Oid			argtypes[2] = {TEXTOID, TEXTOID};

		/* kept for the backend: the plan cache replans it after DDL */
		plan = keep_plan("SELECT pg_catalog.count(*)::pg_catalog.int4 FROM privacy.data_keys "
						 "WHERE subject OPERATOR(pg_catalog.=) $1 "
						 "AND subject_ref OPERATOR(pg_catalog.=) $2 "
						 "AND state OPERATOR(pg_catalog.=) 'active'",
						 2, argtypes);
	}
	ret = SPI_execute_plan(plan, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count subject keys: %s", SPI_result_code_string(ret));
	n = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	KeysRestoreUser(&sw);
	return n;
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
	static SPIPlanPtr plan = NULL;
	Oid			relid = KeysCatalogRelid("data_keys", false);
	PrivacyUserSwitch sw;
	Datum		values[2];
	int			ret;
	int			n;

	values[0] = CStringGetTextDatum(subject);
	values[1] = CStringGetTextDatum(subject_ref);
	KeysBecomeCatalogOwner(&sw);
	UtilSpiConnect();
	if (plan == NULL)
	{
		Oid			argtypes[2] = {TEXTOID, TEXTOID};

		/* kept for the backend: the plan cache replans it after DDL */
		plan = keep_plan("UPDATE privacy.data_keys SET state = 'destroyed', wrapped = NULL, "
						 "destroyed_at = pg_catalog.now() WHERE subject = $1 "
						 "AND subject_ref = $2 AND state = 'active'",
						 2, argtypes);
	}
	ret = SPI_execute_plan(plan, values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not destroy subject keys: %s", SPI_result_code_string(ret));
	n = (int) SPI_processed;
	SPI_finish();
	KeysRestoreUser(&sw);
	/*
	 * Other backends drop their cached copies through the invalidation; when
	 * nothing was destroyed there is nothing to drop, and sending one would
	 * make every backend (this one included) rebuild data_keys' relcache
	 * entry for nothing.
	 */
	if (n > 0)
		invalidate_keys(relid);
	return n;
}

/*
 * keys_audit_chain_key
 *		The key of the audit chain (audit.c calls it through the hook set in
 *		KeysInit): a data key named "privacy:audit", wrapped under the root
 *		key like every data key (so rotate_root_key re-wraps it and SQL never
 *		sees it in clear), from which audit.c derives its MAC keys.
 *		key_id > 0: that key into out; false if it is unknown or destroyed;
 *		55000 when no root key is loaded (the chain cannot be extended or
 *		verified without it).  key_id == 0: the active "privacy:audit" key,
 *		created when there is none; *new_id is set; false (and *new_id 0)
 *		when no root key is loaded, so the chain stays keyed by the secret.
 */
static bool
keys_audit_chain_key(int64 key_id, int64 *new_id, unsigned char *out)
{
	const unsigned char *dk;

	*new_id = key_id;
	if (key_id == 0)
	{
		PrivacyUserSwitch sw;
		int			ret;
		bool		isnull;

		if (!KeysRootKeyAvailable())
			return false;
		KeysCatalogRelid("data_keys", false);
		KeysBecomeCatalogOwner(&sw);
		UtilSpiConnect();
		ret = SPI_execute("SELECT id FROM privacy.data_keys WHERE name OPERATOR(pg_catalog.=) 'privacy:audit'"
						  " AND state OPERATOR(pg_catalog.=) 'active'", true, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not look up the audit chain key: %s", SPI_result_code_string(ret));
		if (SPI_processed == 1)
			key_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();
		KeysRestoreUser(&sw);
		if (key_id == 0)
			key_id = KeysCreate("privacy:audit", NULL, NULL);
		*new_id = key_id;
	}
	else if (!privacy_preloaded || !KeysRootKeyAvailable())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the audit log is keyed under the root key, and no root key is loaded"),
				 errhint("Load the root keyring (privacy.root_key_file or privacy.root_key_command, with the library preloaded) that wraps the audit chain key.")));
	if (KeysLookup(key_id, &dk) != KEY_FOUND)
		return false;
	memcpy(out, dk, KEYS_DATA_KEY_BYTES);
	return true;
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
						errmsg("argument \"name\" must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (name[0] == '\0')
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("key name must not be empty")));
	if (strncmp(name, "subject:", 8) == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("key names starting with \"subject:\" are reserved for subject keys")));
	if (strncmp(name, "privacy:", 8) == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("key names starting with \"privacy:\" are reserved for the extension")));
	UtilCheckIndexedLength(name, "name");
	{
		MemoryContext cxt = CurrentMemoryContext;

		PG_TRY();
		{
			id = KeysCreate(name, NULL, NULL);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
				PG_RE_THROW();
			FlushErrorState();
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("a data key with this name exists already"),
							errhint("Choose another name, or use the key's id (privacy.keys).")));
		}
		PG_END_TRY();
	}
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
						errmsg("argument \"key_id\" must not be null")));
	id = PG_GETARG_INT64(0);
	relid = KeysCatalogRelid("data_keys", false);
	values[0] = Int64GetDatum(id);
	KeysBecomeCatalogOwner(&sw);
	UtilSpiConnect();
	ret = SPI_execute_with_args("SELECT name OPERATOR(pg_catalog.=) 'privacy:audit' FROM privacy.data_keys"
								" WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "key lookup failed: %s", SPI_result_code_string(ret));
	exists = SPI_processed > 0;
	if (exists)
	{
		bool		isnull;

		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("data key %lld keys the audit log and cannot be destroyed", (long long) id),
					 errdetail("Without it the audit chain could no longer be verified."),
					 errhint("rotate_root_key() re-wraps it under a new root key.")));
	}
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
 * rotation_target
 *		The root key rotate_root_key wraps under: the newest of the ring.
 *		With new_key_file, the (first) key in that file must be that key:
 *		waits a few seconds for a reload that is still under way.
 */
static const unsigned char *
rotation_target(const char *path, const unsigned char **version)
{
	const unsigned char *rk;
	Keyring    *fromfile;
	const char *err;
	int			waited;

	rk = keyring_current(version);
	if (path == NULL)
		return rk;

	fromfile = keyring_alloc();
	if (fromfile == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("could not allocate secure memory")));
	err = keyring_read_file(path, fromfile);
	if (err)
	{
		sodium_free(fromfile);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\"", err, path)));
	}
	/* pg_reload_conf() returns before the postmaster has re-read the ring */
	for (waited = 0; waited < 50; waited++)
	{
		if (keyring_find_in(local_ring, fromfile->version[0]) != NULL)
			break;
		CHECK_FOR_INTERRUPTS();
		pg_usleep(100000L);
		keyring_sync();
	}
	rk = keyring_current(version);
	if (keyring_find_in(local_ring, fromfile->version[0]) == NULL)
	{
		char	   *hex = version_hex(fromfile->version[0], NULL);

		sodium_free(fromfile);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the key in \"%s\" (version %s) is not in the server's root keyring", path, hex),
				 errhint("Add it as the first line of privacy.root_key_file (or to the output of privacy.root_key_command), reload the configuration, then rotate.")));
	}
	if (rk == NULL || memcmp(*version, fromfile->version[0], VERSION_BYTES) != 0)
	{
		char	   *hex = version_hex(fromfile->version[0], NULL);

		sodium_free(fromfile);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the key in \"%s\" (version %s) is not the newest key of the root keyring", path, hex),
				 errhint("New data keys are wrapped under the first key of the keyring; put this key first and reload the configuration.")));
	}
	sodium_free(fromfile);
	return rk;
}

/*
 * privacy_rotate_root_key
 *		rotate_root_key(new_key_file text DEFAULT NULL) RETURNS bigint:
 *		re-wrap every active data key of this database under the newest root
 *		key of the keyring; returns how many were re-wrapped.  Batches of
 *		1000 keys in key order, each locked FOR UPDATE (a key destroyed
 *		meanwhile is skipped, never revived), with a NOTICE every 10,000.
 *		Sessions keep reading and writing: a data key is the same before and
 *		after, and every key of the ring unwraps.  A last pass under a SHARE
 *		lock catches keys that sessions created meanwhile under an older
 *		root key.  Keys under versions the ring lacks are left and counted
 *		in a WARNING.  With new_key_file (superuser or pg_read_server_files)
 *		the key in that file must be the newest of the ring.
 */
Datum
privacy_rotate_root_key(PG_FUNCTION_ARGS)
{
	char	   *path = NULL;
	const unsigned char *rk;
	const unsigned char *cur = NULL;
	unsigned char target_version[VERSION_BYTES];
	unsigned char *target;
	PrivacyUserSwitch sw;
	SPIPlanPtr	batch_plan;
	SPIPlanPtr	update_plan;
	uint64		rewrapped = 0;
	uint64		seen = 0;
	uint64		missing = 0;
	uint64		next_notice = ROTATE_PROGRESS;
	int			pass;
	char		hex[2 * VERSION_BYTES + 1];

	KeysRequireRootKey();
	if (!PG_ARGISNULL(0))
	{
		if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to read a root key file"),
					 errhint("Only superusers and members of pg_read_server_files can name a key file; call privacy.rotate_root_key() without one to rotate to the newest key of the keyring.")));
		path = text_to_cstring(PG_GETARG_TEXT_PP(0));
		if (!is_absolute_path(path))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("new_key_file must be an absolute path")));
	}
	rk = rotation_target(path, &cur);
	if (rk == NULL || cur == NULL)
		KeysRequireRootKey();
	memcpy(target_version, cur, VERSION_BYTES);
	/* the ring may be replaced by a reload while we work: keep a copy */
	target = sodium_malloc(ROOT_KEY_BYTES);
	if (target == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("could not allocate secure memory")));
	memcpy(target, rk, ROOT_KEY_BYTES);
	version_hex(target_version, hex);

	PG_TRY();
	{
		Oid			bt[1] = {INT8OID};
		Oid			ut[2] = {INT8OID, BYTEAOID};

		KeysBecomeCatalogOwner(&sw);
		UtilSpiConnect();

		/*
		 * One rotation at a time: a second one waits here for the first to
		 * commit (they deadlocked: the second waited for a row the first
		 * had locked while holding that row's tuple lock, which the first's
		 * last pass needed).  This lock lets key reads, writes, creations
		 * and destructions go on.
		 */
		if (SPI_execute("LOCK TABLE privacy.data_keys IN SHARE UPDATE EXCLUSIVE MODE", false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not lock privacy.data_keys");
		batch_plan = SPI_prepare("SELECT id, wrapped FROM privacy.data_keys "
								 "WHERE state OPERATOR(pg_catalog.=) 'active' "
								 "AND id OPERATOR(pg_catalog.>) $1 ORDER BY id LIMIT 1000 FOR UPDATE",
								 1, bt);
		update_plan = SPI_prepare("UPDATE privacy.data_keys SET wrapped = $2 "
								  "WHERE id OPERATOR(pg_catalog.=) $1 "
								  "AND state OPERATOR(pg_catalog.=) 'active'", 2, ut);
		if (batch_plan == NULL || update_plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));

		/* pass 0: everything, online; pass 1: what appeared meanwhile */
		for (pass = 0; pass < 2; pass++)
		{
			int64		last = 0;

			if (pass == 1)
			{
				int			ret = SPI_execute("LOCK TABLE privacy.data_keys IN SHARE MODE", false, 0);

				if (ret != SPI_OK_UTILITY)
					elog(ERROR, "could not lock privacy.data_keys: %s", SPI_result_code_string(ret));
				missing = 0;
			}
			for (;;)
			{
				Datum		arg = Int64GetDatum(last);
				int			ret;
				uint64		i,
							n;
				SPITupleTable *tt;

				CHECK_FOR_INTERRUPTS();
				ret = SPI_execute_plan(batch_plan, &arg, NULL, false, 0);
				if (ret != SPI_OK_SELECT)
					elog(ERROR, "could not read the data keys: %s", SPI_result_code_string(ret));
				tt = SPI_tuptable;
				n = SPI_processed;
				if (n == 0)
					break;
				for (i = 0; i < n; i++)
				{
					bool		isnull;
					int64		id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
					Datum		w = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull);
					const unsigned char *v;
					unsigned char dk[KEYS_DATA_KEY_BYTES];
					Datum		values[2];

					last = id;
					if (pass == 0)
						seen++;
					if (isnull)
						continue;
					v = wrapped_version(DatumGetByteaPP(w));
					if (v != NULL && memcmp(v, target_version, VERSION_BYTES) == 0)
						continue;
					if (v != NULL && keyring_find(v) == NULL)
					{
						missing++;
						continue;
					}
					unwrap_key(id, DatumGetByteaPP(w), dk);
					values[0] = Int64GetDatum(id);
					values[1] = PointerGetDatum(wrap_key(target, target_version, id, dk));
					sodium_memzero(dk, sizeof(dk));
					ret = SPI_execute_plan(update_plan, values, NULL, false, 0);
					if (ret != SPI_OK_UPDATE)
						elog(ERROR, "could not re-wrap a data key: %s", SPI_result_code_string(ret));
					rewrapped += SPI_processed;
				}
				SPI_freetuptable(tt);
				if (pass == 0 && seen >= next_notice)
				{
					ereport(NOTICE,
							(errmsg("rotate_root_key: %llu data keys done, %llu re-wrapped",
									(unsigned long long) seen, (unsigned long long) rewrapped)));
					next_notice += ROTATE_PROGRESS;
				}
			}
		}
		SPI_finish();
		KeysRestoreUser(&sw);
	}
	PG_FINALLY();
	{
		sodium_free(target);
	}
	PG_END_TRY();

	if (missing > 0)
		ereport(WARNING,
				(errmsg("%llu data keys are wrapped under root keys this server's keyring does not hold; they were left as they are",
						(unsigned long long) missing),
				 errhint("privacy.root_keys lists the versions they need.")));
	/* data keys are unchanged: cached copies stay valid */
	KeysAudit("rotate_root_key", NULL,
			  psprintf("{\"keys\": %llu, \"version\": \"%s\", \"left\": %llu}",
					   (unsigned long long) rewrapped, hex, (unsigned long long) missing));
	PG_RETURN_INT64((int64) rewrapped);
}

/*
 * privacy_root_keyring
 *		_root_keyring() RETURNS TABLE(version text, "position" int): the
 *		versions of the server's keyring, newest first (never material).
 */
Datum
privacy_root_keyring(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	keyring_sync();
	for (i = 0; local_ring != NULL && i < local_ring->n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(version_hex(local_ring->version[i], NULL));
		values[1] = Int32GetDatum(i + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
