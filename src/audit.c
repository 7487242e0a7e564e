/*-------------------------------------------------------------------------
 * audit.c
 *		The hash-chained, append-only audit log.
 *
 * Every rights call, classification change, hold, consent change,
 * retention run and key operation appends one entry, in the caller's
 * transaction, with subject_ref only (never personal data or key
 * material).  An entry's hash is a keyed BLAKE2b (a MAC) over the previous
 * hash and the entry's canonical content (seq, time in microseconds, actor,
 * action, subject_ref, detail as jsonb text), under a key SQL cannot read:
 * chain version 2, when a root key is loaded, derives it from a data key
 * ("privacy:audit" in privacy.data_keys, random, wrapped under the root
 * key like every data key and re-wrapped by rotate_root_key), whose id the
 * chain head records.  Without a root key (the library not preloaded, no
 * key configured) the chain is version 1, keyed from the per-database
 * secret (privacy.secret, readable by the extension owner, so by a
 * superuser).  Entries written by 0.1.0 (chain IS NULL) were hashed
 * without a key.  Versions only go up along the chain (NULL, 1, 2): an
 * entry of a lower version after a higher one is a break (no downgrade).
 * Once the chain is keyed by the root key, appending and verifying need
 * that key loaded (55000 otherwise).  keys.c provides the key through a
 * hook (AuditSetChainKeySource), so this module calls nothing above it.
 *
 * Anchors: audit_anchor() returns the head (seq, hash) with a MAC under a
 * second key derived the same way ("v": 2 in the anchor when from the root
 * key); a DBA stores it outside the database, and verify_audit(anchor)
 * proves the log still extends it, which also holds against a superuser
 * who can read the root key file.
 *
 * Locking: one chain-head row (privacy.audit_head) holds the last seq and
 * hash.  A transaction's first append locks it (SELECT ... FOR UPDATE, kept
 * to commit), so concurrent writers serialise on it and can never fork the
 * chain; under REPEATABLE READ a concurrent append makes the second writer
 * fail with a serialisation error instead of forking.  The first entry of
 * a transaction also writes the head at once, in the statement that
 * inserts it (a rights call appends one entry: two statements, the lock
 * and the insert, nothing left for commit); later entries are
 * chained in backend memory and only inserted, and the head row is written
 * once more at pre-commit (or pre-prepare, for two-phase commit): N
 * appends in one transaction cost N inserts and two updates, not N updates
 * of the same row (each of which walks the versions left by the previous
 * ones, which made a bulk quadratic).
 * A subtransaction that rolls back takes its entries (rows) with it, and
 * the subtransaction callback takes back its part of the in-memory chain.
 * Guard triggers (sql/15_audit.sql) refuse UPDATE, DELETE and TRUNCATE
 * for everyone; verify_audit() recomputes the chain in one streaming pass
 * (a cursor over the primary key, constant memory).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "guard.h"
#include "privacy.h"

PG_FUNCTION_INFO_V1(privacy_audit_sql);
PG_FUNCTION_INFO_V1(privacy_verify_audit);
PG_FUNCTION_INFO_V1(privacy_audit_guard);
PG_FUNCTION_INFO_V1(privacy_audit_anchor);

#define AUDIT_HASH_BYTES 32
#define AUDIT_CHAIN_SECRET 1	/* keyed from privacy.secret */
#define AUDIT_CHAIN_ROOT 2		/* keyed from a data key under the root key */

static SPIPlanPtr plan_lock = NULL;
static SPIPlanPtr plan_insert = NULL;
static SPIPlanPtr plan_insert_head = NULL;	/* first append: entry and head */
static SPIPlanPtr plan_commit_head = NULL;	/* at pre-commit (pinned path) */

/*
 * The chain of the current transaction: the head row is locked at the
 * first append (FOR UPDATE, kept to commit, so concurrent writers
 * serialise and the chain never forks) and written by it; later entries
 * are chained here, and the head row is written once more, at pre-commit
 * or pre-prepare.
 */
typedef struct AuditChainState
{
	bool		locked;			/* head row locked, fields below valid */
	Oid			headrel;		/* privacy.audit_head when it was locked */
	int64		head_seq;		/* seq of the head row as locked */
	int64		seq;			/* last seq of the chain */
	size_t		hashlen;		/* 0: empty chain, else AUDIT_HASH_BYTES */
	unsigned char hash[AUDIT_HASH_BYTES];
	int16		version;		/* chain version of our entries (chain_key) */
	int64		key_id;			/* AUDIT_CHAIN_ROOT: the data key, else 0 */
} AuditChainState;

/* state at the start of a subtransaction that appended, to roll back to */
typedef struct AuditSubSave
{
	SubTransactionId subid;
	AuditChainState state;
	struct AuditSubSave *next;
} AuditSubSave;

static AuditChainState chain;
static AuditSubSave *subsaves = NULL;	/* in TopTransactionContext */
static unsigned char chain_key[crypto_generichash_KEYBYTES];
static bool chain_key_valid = false;	/* derived in this transaction */
static bool callbacks_registered = false;
static AuditChainKeySource chain_key_source = NULL;

/*
 * AuditSetChainKeySource
 *		keys.c, when the library is preloaded: where chain version 2 gets
 *		its key.
 */
void
AuditSetChainKeySource(AuditChainKeySource source)
{
	chain_key_source = source;
}

/*
 * audit_hash
 *		hash = BLAKE2b(prev || seq || at || actor || action || ref || detail)
 *		with a 0 byte after each text field; keyed (key != NULL) for chain
 *		versions 1 and 2, which also hash the version.
 */
static void
audit_hash(unsigned char *out, const unsigned char *key, int16 version,
		   const unsigned char *prev, size_t prevlen,
		   int64 seq, int64 at, const char *actor, const char *action,
		   const char *ref, const char *detail)
{
	crypto_generichash_state st;
	unsigned char zero = 0;
	const char *fields[4];
	int			i;

	fields[0] = actor;
	fields[1] = action;
	fields[2] = ref ? ref : "";
	fields[3] = detail ? detail : "";
	crypto_generichash_init(&st, key, key ? crypto_generichash_KEYBYTES : 0, AUDIT_HASH_BYTES);
	if (key)
	{
		crypto_generichash_update(&st, (const unsigned char *) &version, sizeof(version));
	}
	crypto_generichash_update(&st, prev, prevlen);
	crypto_generichash_update(&st, (const unsigned char *) &seq, sizeof(seq));
	crypto_generichash_update(&st, (const unsigned char *) &at, sizeof(at));
	for (i = 0; i < 4; i++)
	{
		crypto_generichash_update(&st, (const unsigned char *) fields[i], strlen(fields[i]));
		crypto_generichash_update(&st, &zero, 1);
	}
	crypto_generichash_final(&st, out, AUDIT_HASH_BYTES);
}

static SPIPlanPtr
keep(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

	if (p == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(p);
	return p;
}

/* the kept statements of the append path (the caller is connected) */
static void
prepare_plans(void)
{
	Oid			t8[8] = {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, BYTEAOID, INT2OID};
	Oid			t9[9] = {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, BYTEAOID, INT2OID,
						 INT8OID};
	Oid			t2[2] = {INT8OID, BYTEAOID};

	if (plan_lock != NULL)
		return;
	plan_lock = keep("SELECT seq, hash, key_id FROM privacy.audit_head WHERE id OPERATOR(pg_catalog.=) 1 FOR UPDATE", 0, NULL);
	plan_insert = keep("INSERT INTO privacy.audit (seq, at, actor, action, subject_ref, detail, hash, chain)"
					   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", 8, t8);
	/* the first entry of a transaction and the head in one statement */
	plan_insert_head = keep("WITH h AS (UPDATE privacy.audit_head SET seq = $1, hash = $7, key_id = $9"
							" WHERE id OPERATOR(pg_catalog.=) 1 RETURNING 1)"
							" INSERT INTO privacy.audit (seq, at, actor, action, subject_ref, detail, hash, chain)"
							" SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM h", 9, t9);
	plan_commit_head = keep("UPDATE privacy.audit_head SET seq = $1, hash = $2 WHERE id OPERATOR(pg_catalog.=) 1", 2, t2);
}

/* privacy.audit_head now, or InvalidOid (extension dropped) */
static Oid
head_relid(void)
{
	Oid			nsp = get_namespace_oid("privacy", true);

	return OidIsValid(nsp) ? get_relname_relid("audit_head", nsp) : InvalidOid;
}

static void
chain_reset(void)
{
	memset(&chain, 0, sizeof(chain));
	subsaves = NULL;
	if (chain_key_valid)
		sodium_memzero(chain_key, sizeof(chain_key));
	chain_key_valid = false;
}

/*
 * write_head
 *		The one head update of the transaction: the last seq and hash of
 *		the chain, as the owner of privacy.audit_head (the extension's
 *		owner; a syscache lookup, cheaper than GuardEnterExtensionOwner's
 *		per-transaction query), the head row locked by us.
 *		Nothing to do when nothing was appended or every append rolled
 *		back, or when the extension was dropped in this transaction.
 */
static void
write_head(void)
{
	int			frame;
	int			ret;
	Datum		values[2];
	bytea	   *hb;

	if (!chain.locked || chain.seq == chain.head_seq)
		return;
	if (head_relid() != chain.headrel)
		return;
	hb = palloc(VARHDRSZ + AUDIT_HASH_BYTES);
	SET_VARSIZE(hb, VARHDRSZ + AUDIT_HASH_BYTES);
	memcpy(VARDATA(hb), chain.hash, AUDIT_HASH_BYTES);
	values[0] = Int64GetDatum(chain.seq);
	values[1] = PointerGetDatum(hb);
	/* at commit the statement's portal and snapshot are gone */
	PushActiveSnapshot(GetTransactionSnapshot());
	/* as the owner of the head row's table: the extension owner */
	frame = GuardEnterPinned(UtilRelationOwner(chain.headrel), 0);
	UtilSpiConnect();
	prepare_plans();
	ret = SPI_execute_plan(plan_commit_head, values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "could not advance the audit chain head: %s", SPI_result_code_string(ret));
	SPI_finish();
	GuardLeave(frame);
	PopActiveSnapshot();
	chain.head_seq = chain.seq;
}

/*
 * audit_xact_callback
 *		Write the head before commit or prepare; forget the chain at the
 *		end of the transaction (a prepared transaction keeps the row lock
 *		and its head update until COMMIT PREPARED).
 */
static void
audit_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			write_head();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			chain_reset();
			break;
		default:
			break;
	}
}

/*
 * audit_subxact_callback
 *		A subtransaction that appended saved the chain as it was when it
 *		started: on abort its entries (rows) are gone, and so is its part of
 *		the chain, and its head row lock; on commit the parent inherits the
 *		saved state unless it has an older one of its own.
 */
static void
audit_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (subsaves == NULL || subsaves->subid != mySubid)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		chain = subsaves->state;
		subsaves = subsaves->next;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		if (parentSubid == TopSubTransactionId ||
			(subsaves->next != NULL && subsaves->next->subid == parentSubid))
			subsaves = subsaves->next;
		else
			subsaves->subid = parentSubid;
	}
}

/*
 * chain_keys
 *		The MAC keys of the chain whose head records key_id (0: none yet):
 *		the entries' key into chain_out, the anchors' key into anchor_out
 *		(either may be NULL); returns the chain version they belong to.
 *		With a data key recorded, version 2 from it: 55000 when no root key
 *		is loaded, XX001 when the key is gone.  Without one: version 2 from
 *		a key found or created now when create and a root key is loaded
 *		(*used_id set), else version 1 from the secret.
 */
static int16
chain_keys(int64 key_id, int64 *used_id, unsigned char *chain_out, unsigned char *anchor_out,
		   bool create)
{
	unsigned char dk[32];
	int64		id = key_id;
	int16		version = AUDIT_CHAIN_SECRET;

	if (key_id != 0 && chain_key_source == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the audit log is keyed under the root key, and no root key is loaded"),
				 errhint("Add privacy to shared_preload_libraries and load the root keyring that wraps the audit chain key.")));
	if (key_id != 0 || (create && chain_key_source != NULL))
	{
		if (chain_key_source(key_id, &id, dk))
			version = AUDIT_CHAIN_ROOT;
		else if (key_id != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the key of the audit chain is missing"),
					 errdetail("The data key recorded in the chain head is unknown or destroyed.")));
	}
	if (used_id)
		*used_id = version == AUDIT_CHAIN_ROOT ? id : 0;
	if (version == AUDIT_CHAIN_ROOT)
	{
		if (chain_out)
			crypto_generichash(chain_out, crypto_generichash_KEYBYTES,
							   (const unsigned char *) "privacy.audit.chain.root", 24, dk, sizeof(dk));
		if (anchor_out)
			crypto_generichash(anchor_out, crypto_generichash_KEYBYTES,
							   (const unsigned char *) "privacy.audit.anchor.root", 25, dk, sizeof(dk));
		sodium_memzero(dk, sizeof(dk));
	}
	else
	{
		if (chain_out)
			UtilDerivedKey("privacy.audit.chain", chain_out);
		if (anchor_out)
			UtilDerivedKey("privacy.audit.anchor", anchor_out);
	}
	return version;
}

/*
 * chain_lock
 *		First append of the transaction (or after the subtransaction that
 *		took it rolled back): lock the head row, creating it on the very
 *		first entry in this database, and read where the chain stands.
 *		Under REPEATABLE READ a concurrent append that committed makes
 *		this fail with a serialisation error instead of forking.
 */
static void
chain_lock(void)
{
	int			ret;
	bool		isnull;
	bytea	   *prev;
	int64		key_id;

	ret = SPI_execute_plan(plan_lock, NULL, NULL, false, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 0)
	{
		ret = SPI_execute("INSERT INTO privacy.audit_head (id, seq, hash) VALUES (1, 0, '\\x')"
						  " ON CONFLICT DO NOTHING", false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not create the audit chain head: %s", SPI_result_code_string(ret));
		ret = SPI_execute_plan(plan_lock, NULL, NULL, false, 1);
	}
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "the audit chain head is missing");
	chain.seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	prev = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	chain.hashlen = Min(VARSIZE_ANY_EXHDR(prev), AUDIT_HASH_BYTES);
	memcpy(chain.hash, VARDATA_ANY(prev), chain.hashlen);
	key_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	if (isnull)
		key_id = 0;
	chain.head_seq = chain.seq;
	chain.headrel = head_relid();
	SPI_freetuptable(SPI_tuptable);
	/* this head's key (the extension may have been re-created) */
	chain.version = chain_keys(key_id, &chain.key_id, chain_key, NULL, true);
	chain_key_valid = true;
	chain.locked = true;
}

/*
 * audit_append_jsonb
 *		Append one entry in the caller's transaction; detail is a jsonb
 *		object or NULL.  Runs with the caller's privileges on the catalog:
 *		callers are SECURITY DEFINER functions or the worker.  The
 *		transaction's first entry locks, then inserts and writes the head
 *		in one statement; every later one only inserts, and
 *		pre-commit writes the head once: N appends cost O(N).
 */
static void
audit_append_jsonb(const char *action, const char *subject_ref, Jsonb *detail)
{
	int			ret;
	int64		seq;
	unsigned char hash[AUDIT_HASH_BYTES];
	TimestampTz at;
	char	   *actor = GetUserNameFromId(GetOuterUserId(), true);
	char	   *detail_text = NULL;
	Datum		values[9];
	char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bytea	   *hb;
	SubTransactionId subid = GetCurrentSubTransactionId();
	bool		first = false;

	if (actor == NULL)
		actor = "?";
	if (sodium_init() < 0)
		elog(ERROR, "libsodium could not be initialised");
	if (!callbacks_registered)
	{
		RegisterXactCallback(audit_xact_callback, NULL);
		RegisterSubXactCallback(audit_subxact_callback, NULL);
		callbacks_registered = true;
	}
	/* the verifier hashes detail::text: the same canonical text */
	if (detail)
		detail_text = JsonbToCString(NULL, &detail->root, VARSIZE(detail));

	/* the state to return to if this subtransaction rolls back */
	if (subid != TopSubTransactionId && (subsaves == NULL || subsaves->subid != subid))
	{
		AuditSubSave *s = MemoryContextAlloc(TopTransactionContext, sizeof(AuditSubSave));

		s->subid = subid;
		s->state = chain;
		s->next = subsaves;
		subsaves = s;
	}

	UtilSpiConnect();
	prepare_plans();
	/* a head locked before the extension was dropped and re-created is stale */
	if (chain.locked && chain.headrel != head_relid())
		chain.locked = false;
	if (!chain.locked)
	{
		chain_lock();
		first = true;
	}

	/*
	 * the time once the head is ours: read before a wait for the lock, it
	 * was older than the entries of the transaction we waited for, and
	 * "at" went backwards along seq
	 */
	at = GetCurrentTimestamp();
	seq = chain.seq + 1;
	audit_hash(hash, chain_key, chain.version, chain.hash, chain.hashlen,
			   seq, at, actor, action, subject_ref, detail_text);
	hb = palloc(VARHDRSZ + AUDIT_HASH_BYTES);
	SET_VARSIZE(hb, VARHDRSZ + AUDIT_HASH_BYTES);
	memcpy(VARDATA(hb), hash, AUDIT_HASH_BYTES);

	values[0] = Int64GetDatum(seq);
	values[1] = TimestampTzGetDatum(at);
	values[2] = CStringGetTextDatum(actor);
	values[3] = CStringGetTextDatum(action);
	if (subject_ref)
		values[4] = CStringGetTextDatum(subject_ref);
	else
		nulls[4] = 'n';
	if (detail)
		values[5] = JsonbPGetDatum(detail);
	else
		nulls[5] = 'n';
	values[6] = PointerGetDatum(hb);
	values[7] = Int16GetDatum(chain.version);
	values[8] = Int64GetDatum(chain.key_id);
	nulls[8] = chain.key_id != 0 ? ' ' : 'n';
	/*
	 * The transaction's first entry writes the head at once, in the same
	 * statement: a transaction with one entry (most rights calls) then has
	 * nothing to do at commit.  Later entries only insert; pre-commit
	 * writes the head once more.
	 */
	ret = SPI_execute_plan(first ? plan_insert_head : plan_insert, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT || SPI_processed != 1)
		elog(ERROR, "could not append to the audit log: %s", SPI_result_code_string(ret));
	SPI_finish();

	/* the row is in: the chain moves on (rolled back with it, see above) */
	chain.seq = seq;
	memcpy(chain.hash, hash, AUDIT_HASH_BYTES);
	chain.hashlen = AUDIT_HASH_BYTES;
	if (first)
		chain.head_seq = seq;
}

/*
 * AuditAppend
 *		audit_append_jsonb with the detail as JSON text (an object), or NULL.
 */
void
AuditAppend(const char *action, const char *subject_ref, const char *detail_json)
{
	Jsonb	   *detail = NULL;

	if (detail_json)
		detail = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(detail_json)));
	audit_append_jsonb(action, subject_ref, detail);
}

/*
 * chain_pending
 *		This transaction's own chain head when it appended entries not yet
 *		in the head row (verify and anchor inside the appending transaction).
 */
static bool
chain_pending(int64 *seq, unsigned char *hash)
{
	if (!chain.locked || chain.seq == chain.head_seq || chain.headrel != head_relid())
		return false;
	*seq = chain.seq;
	memcpy(hash, chain.hash, AUDIT_HASH_BYTES);
	return true;
}

/*
 * privacy._audit(action text, subject_ref text, detail jsonb) — for the
 * SQL configuration functions.
 */
Datum
privacy_audit_sql(PG_FUNCTION_ARGS)
{
	char	   *action = UtilTextArg(fcinfo, 0, "action");
	char	   *ref = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));

	UtilCheckIndexedLength(ref, "subject_ref");
	audit_append_jsonb(action, ref, PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2));
	PG_RETURN_VOID();
}

/*
 * anchor_mac
 *		MAC of an anchor (seq, head hash) under the anchor key of its
 *		chain version (chain_keys).
 */
static void
anchor_mac(unsigned char *out, const unsigned char *key, int64 seq, const unsigned char *hash)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, key, crypto_generichash_KEYBYTES, AUDIT_HASH_BYTES);
	crypto_generichash_update(&st, (const unsigned char *) &seq, sizeof(seq));
	crypto_generichash_update(&st, hash, AUDIT_HASH_BYTES);
	crypto_generichash_final(&st, out, AUDIT_HASH_BYTES);
}

/*
 * read_head
 *		The committed chain head: seq, hash (zeros when empty) and the data
 *		key id (0: none); false when there is no head row yet.
 */
static bool
read_head(int64 *seq, unsigned char *hash, bool *hash_ok, int64 *key_id)
{
	int			ret;
	bool		isnull;
	bytea	   *h;

	*seq = 0;
	*key_id = 0;
	*hash_ok = false;
	memset(hash, 0, AUDIT_HASH_BYTES);
	ret = SPI_execute("SELECT seq, hash, key_id FROM privacy.audit_head WHERE id OPERATOR(pg_catalog.=) 1",
					  true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the audit chain head: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return false;
	*seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	h = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (VARSIZE_ANY_EXHDR(h) == AUDIT_HASH_BYTES)
	{
		memcpy(hash, VARDATA_ANY(h), AUDIT_HASH_BYTES);
		*hash_ok = true;
	}
	*key_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	if (isnull)
		*key_id = 0;
	SPI_freetuptable(SPI_tuptable);
	return true;
}

static void
broken(int64 seq, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("audit log chain is broken at seq " INT64_FORMAT, seq),
			 errdetail("%s", detail)));
}

/* an anchor's fields: seq, hash and mac (hex), version (absent: 1);
 * false when malformed */
static bool
parse_anchor(Jsonb *anchor, int64 *seq, unsigned char *hash, unsigned char *mac, int *version)
{
	int			ret;
	Oid			t[1] = {JSONBOID};
	Datum		v[1];
	char	   *s,
			   *h,
			   *m,
			   *ver;
	size_t		len;

	v[0] = JsonbPGetDatum(anchor);
	ret = SPI_execute_with_args("SELECT CASE WHEN pg_catalog.jsonb_typeof($1) OPERATOR(pg_catalog.=) 'object'"
								" THEN $1 OPERATOR(pg_catalog.->>) 'seq' END,"
								" $1 OPERATOR(pg_catalog.->>) 'hash', $1 OPERATOR(pg_catalog.->>) 'mac',"
								" $1 OPERATOR(pg_catalog.->>) 'v'", 1, t, v, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		return false;
	s = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	h = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	m = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	ver = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
	if (ver == NULL)
		*version = AUDIT_CHAIN_SECRET;
	else if (strcmp(ver, "2") == 0)
		*version = AUDIT_CHAIN_ROOT;
	else
		return false;
	if (s == NULL || h == NULL || m == NULL || strspn(s, "0123456789") != strlen(s) ||
		strlen(s) == 0 || strlen(s) > 18)
		return false;
	*seq = strtoll(s, NULL, 10);
	if (sodium_hex2bin(hash, AUDIT_HASH_BYTES, h, strlen(h), NULL, &len, NULL) != 0 ||
		len != AUDIT_HASH_BYTES)
		return false;
	if (sodium_hex2bin(mac, AUDIT_HASH_BYTES, m, strlen(m), NULL, &len, NULL) != 0 ||
		len != AUDIT_HASH_BYTES)
		return false;
	return true;
}

/* column attno of tup as a C string in the current context, or NULL */
static char *
text_or_null(HeapTuple tup, TupleDesc td, int attno)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, td, attno, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* what verify_audit knows while it walks the chain */
typedef struct VerifyState
{
	unsigned char secret_key[crypto_generichash_KEYBYTES];	/* version 1 */
	unsigned char secret_anchor[crypto_generichash_KEYBYTES];
	unsigned char root_key[crypto_generichash_KEYBYTES];	/* version 2 */
	unsigned char root_anchor[crypto_generichash_KEYBYTES];
	bool		have_root;
	bool		anchored;
	int64		anchor_seq;
	unsigned char anchor_hash[AUDIT_HASH_BYTES];
	bool		anchor_found;
	int16		highest;		/* highest chain version seen (NULL: 0) */
	unsigned char prev[AUDIT_HASH_BYTES];	/* hash of the last entry */
	size_t		prevlen;
	int64		count;			/* entries verified */
} VerifyState;

/*
 * verify_anchor
 *		The anchor must be well formed and genuine (its MAC, under the key
 *		of the chain version it names).
 */
static void
verify_anchor(VerifyState *vs, Jsonb *anchor)
{
	unsigned char mac[AUDIT_HASH_BYTES];
	unsigned char given_mac[AUDIT_HASH_BYTES];
	int			version = 0;

	if (!parse_anchor(anchor, &vs->anchor_seq, vs->anchor_hash, given_mac, &version))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("not an audit anchor"),
				 errdetail("Pass the result of privacy.audit_anchor().")));
	if (version == AUDIT_CHAIN_ROOT && !vs->have_root)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the audit anchor is not genuine"),
				 errdetail("It was made under a root-keyed chain, and the chain head records no key.")));
	anchor_mac(mac, version == AUDIT_CHAIN_ROOT ? vs->root_anchor : vs->secret_anchor,
			   vs->anchor_seq, vs->anchor_hash);
	if (sodium_memcmp(mac, given_mac, AUDIT_HASH_BYTES) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the audit anchor is not genuine"),
				 errdetail("Its MAC does not match: it was not made by privacy.audit_anchor() in this database, or it was changed.")));
	vs->anchored = true;
}

/*
 * verify_entry
 *		One entry, in seq order: its chain version may only go up, its hash
 *		must be the MAC of its content chained to the previous one, and at
 *		the anchor's seq it must be the anchor's hash.
 */
static void
verify_entry(VerifyState *vs, HeapTuple tup, TupleDesc td)
{
	bool		isnull;
	int64		seq = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
	int64		at = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
	char	   *actor = text_or_null(tup, td, 3);
	char	   *action = text_or_null(tup, td, 4);
	char	   *ref = text_or_null(tup, td, 5);
	char	   *detail = text_or_null(tup, td, 6);
	Datum		hd = SPI_getbinval(tup, td, 7, &isnull);
	bytea	   *stored = isnull ? NULL : DatumGetByteaPP(hd);
	bool		chain_null;
	int16		version = DatumGetInt16(SPI_getbinval(tup, td, 8, &chain_null));
	const unsigned char *key = NULL;
	unsigned char h[AUDIT_HASH_BYTES];
	int64		expect = vs->count + 1;

	if (chain_null)
		version = 0;
	if (version != 0 && version != AUDIT_CHAIN_SECRET && version != AUDIT_CHAIN_ROOT)
		broken(seq, "The entry names an unknown chain version.");
	if (version < vs->highest)
		broken(seq, "An entry of a weaker chain version follows entries of a stronger one.");
	vs->highest = version;
	if (version == AUDIT_CHAIN_ROOT)
	{
		if (!vs->have_root)
			broken(seq, "The entry is keyed under the root key, and the chain head records no key.");
		key = vs->root_key;
	}
	else if (version == AUDIT_CHAIN_SECRET)
		key = vs->secret_key;
	audit_hash(h, key, version, vs->prev, vs->prevlen, seq, at,
			   actor ? actor : "", action ? action : "", ref, detail);
	if (seq != expect || stored == NULL ||
		VARSIZE_ANY_EXHDR(stored) != AUDIT_HASH_BYTES ||
		memcmp(VARDATA_ANY(stored), h, AUDIT_HASH_BYTES) != 0)
		broken(seq != expect && seq > expect ? expect : seq,
			   "The entry was changed, removed, inserted or reordered after it was written.");
	if (vs->anchored && seq == vs->anchor_seq)
	{
		if (sodium_memcmp(h, vs->anchor_hash, AUDIT_HASH_BYTES) != 0)
			broken(seq, "The log no longer extends the anchor: history up to the anchor was rewritten.");
		vs->anchor_found = true;
	}
	memcpy(vs->prev, h, AUDIT_HASH_BYTES);
	vs->prevlen = AUDIT_HASH_BYTES;
	vs->count++;
}

/*
 * verify_entries
 *		Every entry in one streaming pass over the primary key: no sort,
 *		nothing materialised, a per-row memory context reset after each.
 */
static void
verify_entries(VerifyState *vs)
{
	SPIPlanPtr	plan;
	Portal		portal;
	MemoryContext rowcxt;

	plan = SPI_prepare_cursor("SELECT seq, at, actor::text, action, subject_ref, detail::text, hash, chain"
							  " FROM privacy.audit ORDER BY seq", 0, NULL,
							  CURSOR_OPT_FAST_PLAN | CURSOR_OPT_NO_SCROLL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	if (portal == NULL)
		elog(ERROR, "SPI_cursor_open failed: %s", SPI_result_code_string(SPI_result));
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "privacy verify_audit row",
								   ALLOCSET_SMALL_SIZES);
	for (;;)
	{
		uint64		i;
		uint64		n;
		SPITupleTable *tt;

		SPI_cursor_fetch(portal, true, 1000);
		n = SPI_processed;
		tt = SPI_tuptable;
		if (n == 0)
			break;
		for (i = 0; i < n; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(rowcxt);

			verify_entry(vs, tt->vals[i], tt->tupdesc);
			MemoryContextSwitchTo(old);
			MemoryContextReset(rowcxt);
		}
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
	MemoryContextDelete(rowcxt);
}

/*
 * verify_head
 *		The chain head (this transaction's own, not yet written, or the
 *		committed row) must name the last entry: entries removed from the
 *		end of the log are found here.
 */
static void
verify_head(VerifyState *vs, bool have_head, int64 head_seq, const unsigned char *head_hash,
			bool head_hash_ok)
{
	int64		pending_seq;
	unsigned char pending_hash[AUDIT_HASH_BYTES];
	int64		count = vs->count;

	if (chain_pending(&pending_seq, pending_hash))
	{
		if (pending_seq != count || memcmp(pending_hash, vs->prev, AUDIT_HASH_BYTES) != 0)
			broken(count + 1 > pending_seq ? pending_seq : count + 1,
				   "The last entries of the log were removed.");
		return;
	}
	if (!have_head)
	{
		if (count > 0)
			broken(count, "The chain head is missing.");
		return;
	}
	if (head_seq != count ||
		(count > 0 && (!head_hash_ok || memcmp(head_hash, vs->prev, AUDIT_HASH_BYTES) != 0)))
		broken(count + 1 > head_seq ? head_seq : count + 1, "The last entries of the log were removed.");
}

/*
 * privacy.verify_audit(anchor jsonb DEFAULT NULL) RETURNS bigint
 *		Recompute the chain from the first entry; XX001 names the first bad
 *		seq (a changed, deleted, inserted or reordered entry, an entry of a
 *		lower chain version after a higher one, or a head that does not
 *		match the last entry).  With an anchor from audit_anchor(): the
 *		anchor must be genuine and the log must still hold, at the anchor's
 *		seq, the hash the anchor recorded.  The head and the entries are
 *		read under the calling statement's snapshot (read-only SPI), so a
 *		concurrent append is either wholly seen or not at all.
 */
Datum
privacy_verify_audit(PG_FUNCTION_ARGS)
{
	VerifyState *vs = palloc0(sizeof(VerifyState));
	bool		have_head;
	int64		head_seq;
	unsigned char head_hash[AUDIT_HASH_BYTES];
	bool		head_hash_ok;
	int64		head_key_id;

	if (sodium_init() < 0)
		elog(ERROR, "libsodium could not be initialised");
	UtilSpiConnect();
	have_head = read_head(&head_seq, head_hash, &head_hash_ok, &head_key_id);
	if (chain.locked && chain.headrel == head_relid() && chain.key_id != 0)
		head_key_id = chain.key_id; /* this transaction keyed the chain */
	chain_keys(0, NULL, vs->secret_key, vs->secret_anchor, false);
	if (head_key_id != 0)
	{
		chain_keys(head_key_id, NULL, vs->root_key, vs->root_anchor, false);
		vs->have_root = true;
	}
	if (PG_NARGS() > 0 && !PG_ARGISNULL(0))
		verify_anchor(vs, PG_GETARG_JSONB_P(0));
	verify_entries(vs);
	sodium_memzero(vs, offsetof(VerifyState, have_root));
	if (vs->anchored && !vs->anchor_found && vs->anchor_seq > 0)
		broken(vs->count + 1, "The log is shorter than the anchor: entries were removed.");
	verify_head(vs, have_head, head_seq, head_hash, head_hash_ok);
	SPI_finish();
	PG_RETURN_INT64(vs->count);
}

/*
 * privacy.audit_anchor() RETURNS jsonb
 *		{"seq", "hash", "mac", "at"}, and "v": 2 when the chain is keyed by
 *		the root key: the current head of the chain and a MAC over it, for
 *		the DBA to store outside the database and pass to
 *		verify_audit(anchor) later.  Holds no personal data.
 */
Datum
privacy_audit_anchor(PG_FUNCTION_ARGS)
{
	int64		seq = 0;
	unsigned char hash[AUDIT_HASH_BYTES];
	unsigned char mac[AUDIT_HASH_BYTES];
	unsigned char key[crypto_generichash_KEYBYTES];
	char		hhex[AUDIT_HASH_BYTES * 2 + 1];
	char		mhex[AUDIT_HASH_BYTES * 2 + 1];
	bool		hash_ok;
	int64		key_id;
	int16		version;

	if (sodium_init() < 0)
		elog(ERROR, "libsodium could not be initialised");
	UtilSpiConnect();
	read_head(&seq, hash, &hash_ok, &key_id);
	if (chain_pending(&seq, hash))
		key_id = chain.key_id;	/* this transaction's own head, not yet written */
	else if (seq <= 0 || !hash_ok)
	{
		seq = 0;
		memset(hash, 0, sizeof(hash));
	}
	version = chain_keys(key_id, NULL, NULL, key, false);
	anchor_mac(mac, key, seq, hash);
	sodium_memzero(key, sizeof(key));
	SPI_finish();
	sodium_bin2hex(hhex, sizeof(hhex), hash, sizeof(hash));
	sodium_bin2hex(mhex, sizeof(mhex), mac, sizeof(mac));
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(
		psprintf("{\"seq\":" INT64_FORMAT ",\"hash\":\"%s\",\"mac\":\"%s\",\"at\":\"%s\"%s}",
				 seq, hhex, mhex, timestamptz_to_str(GetCurrentTimestamp()),
				 version == AUDIT_CHAIN_ROOT ? ",\"v\":2" : ""))));
}

/*
 * privacy._audit_guard() — trigger refusing UPDATE, DELETE and TRUNCATE on
 * the audit log, for everyone.
 */
Datum
privacy_audit_guard(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("the privacy audit log is append-only"),
			 errdetail("UPDATE, DELETE and TRUNCATE are refused on privacy.audit.")));
	PG_RETURN_NULL();
}
