/*-------------------------------------------------------------------------
 * util.c
 *		Small helpers shared by the modules: SPI connection, names, user
 *		switching, argument checks and subject_ref.
 *
 * subject_ref is a keyed BLAKE2b hash (libsodium crypto_generichash) of the
 * subject type and the canonical text of the id, under a per-database
 * secret kept in privacy.secret, a table only the extension owner can read.
 * The secret is loaded once per backend.  Requests, receipts, the audit log,
 * key names and the erasure ledger carry only subject_ref.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "nodes/value.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "guard.h"
#include "privacy.h"

#define SUBJECT_REF_BYTES 16

static unsigned char subject_ref_secret[crypto_generichash_KEYBYTES];
static bool subject_ref_secret_loaded = false;
static Oid	subject_ref_secret_rel = InvalidOid;	/* privacy.secret it came from */

/*
 * UtilGucPush / UtilGucPop
 *		Run the statements in between with one setting changed (a GUC nest
 *		level, like a function's SET clause; unwound by an error too).
 */
int
UtilGucPush(const char *name, const char *value)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

void
UtilGucPop(int nest)
{
	AtEOXact_GUC(true, nest);
}

/*
 * UtilSpiConnect
 *		SPI_connect, raising on failure.
 */
void
UtilSpiConnect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/*
 * UtilFromName
 *		The relation as a statement of the extension names it: ONLY
 *		"schema"."table" for a plain table with inheritance children (their
 *		rows are not its rows: a child has its own foreign keys, or none,
 *		and its own ctids), "schema"."table" otherwise (a partitioned table
 *		with its partitions).
 */
char *
UtilFromName(Oid relid)
{
	char	   *q = UtilQualifiedName(relid);

	if (get_rel_relkind(relid) == RELKIND_RELATION && has_subclass(relid))
		return psprintf("ONLY %s", q);
	return q;
}

/*
 * UtilQualifiedName
 *		"schema"."table" of a relation, quoted as needed; errors if the
 *		relation no longer exists.
 */
char *
UtilQualifiedName(Oid relid)
{
	char	   *rel = get_rel_name(relid);
	Oid			nsp;

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errhint("A table known to privacy was dropped; run privacy.refresh_subject().")));
	nsp = get_rel_namespace(relid);
	return quote_qualified_identifier(get_namespace_name(nsp), rel);
}

/*
 * UtilJsonKey
 *		The key of a table in rights results: format('%I.%I', schema, table).
 */
char *
UtilJsonKey(Oid relid)
{
	return UtilQualifiedName(relid);
}

/*
 * UtilTextArg
 *		Argument argno as a C string; NULL raises 22023 naming the argument.
 */
char *
UtilTextArg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	/* arguments of rights calls are ids: nothing of this call is logged */
	GuardQuietLogging();
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must not be null", argname),
				 errhidestmt(true), errhidecontext(true)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * UtilCheckIndexedLength
 *		A name that the catalog indexes (a consent's purpose, a recipient, a
 *		data key's name, a subject_ref) longer than UTIL_MAX_INDEXED_BYTES:
 *		22023 naming the argument, before an index refuses the entry (54000)
 *		after the other checks.  The limit is that of subject ids.
 */
void
UtilCheckIndexedLength(const char *value, const char *argname)
{
	if (value != NULL && strlen(value) > UTIL_MAX_INDEXED_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" is longer than %d bytes", argname, UTIL_MAX_INDEXED_BYTES),
				 errhint("The catalog indexes it; use a shorter %s.", argname),
				 errhidestmt(true), errhidecontext(true)));
}

/*
 * UtilCatalogRelid
 *		OID of a table in schema privacy.
 */
Oid
UtilCatalogRelid(const char *relname)
{
	Oid			nsp = get_namespace_oid("privacy", false);
	Oid			relid = get_relname_relid(relname, nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "privacy catalog table \"%s\" is missing", relname);
	return relid;
}

/*
 * UtilLockExtension
 *		Share-lock this database's privacy extension until the transaction
 *		ends: DROP EXTENSION and ALTER EXTENSION lock it exclusively before
 *		they touch any of its tables, so a background pass that does this
 *		first queues behind them (or they behind it) instead of deadlocking
 *		on the catalog tables both use in different orders.  False when the
 *		extension is not (or, after the wait, no longer) installed.
 */
bool
UtilLockExtension(void)
{
	Oid			ext = get_extension_oid("privacy", true);

	if (!OidIsValid(ext))
		return false;
	LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
	return OidIsValid(get_extension_oid("privacy", true));
}

/*
 * UtilExtensionOwner
 *		Owner of the privacy extension, read from its pg_extension row by
 *		one index scan (no SPI): PostgreSQL 15 has no syscache on
 *		pg_extension, and no invalidation message is sent when extowner
 *		changes (REASSIGN OWNED), so callers may cache the result only
 *		while nothing else can have changed it (guard.c: one command).
 */
Oid
UtilExtensionOwner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			owner = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("privacy"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"privacy\" does not exist")));
	return owner;
}

/*
 * UtilOuterUser
 *		The role that called us (outside SECURITY DEFINER), for "actor".
 */
Oid
UtilOuterUser(void)
{
	return GetOuterUserId();
}

/*
 * UtilRelationOwner
 *		Owner of a relation; 42P01 if it no longer exists.
 */
Oid
UtilRelationOwner(Oid relid)
{
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* the secret's row under the latest snapshot (outside parallel mode) */
static int
read_secret(SPIPlanPtr plan)
{
	if (IsInParallelMode())
		return SPI_execute_plan(plan, NULL, NULL, true, 1);
	return SPI_execute_snapshot(plan, NULL, NULL, GetLatestSnapshot(), InvalidSnapshot, true, false, 1);
}

/*
 * load_secret
 *		Read the per-database subject_ref secret, as the owner of
 *		privacy.secret (the extension owner) with the path pinned, whoever
 *		calls: pseudonym() runs inside a table owner's statement.  Read with
 *		the latest snapshot, so a REPEATABLE READ transaction whose snapshot
 *		predates the secret's creation by another session uses that secret
 *		instead of trying to create a second one (a serialisation failure).
 *		Cached for the backend only once it is committed: a secret created
 *		(or read) in a transaction that then rolls back would exist nowhere
 *		else, so a row written by the current transaction is used but not
 *		cached.
 */
static void
load_secret(void)
{
	int			ret;
	bool		isnull;
	bytea	   *val;
	TransactionId xmin;
	Oid			relid;
	int			frame;
	SPIPlanPtr	plan;

	/* a dropped and re-created extension has a new secret table */
	relid = UtilCatalogRelid("secret");
	if (subject_ref_secret_loaded && subject_ref_secret_rel == relid)
		return;
	subject_ref_secret_loaded = false;
	if (sodium_init() < 0)
		elog(ERROR, "libsodium could not be initialised");
	frame = GuardEnterPinned(UtilRelationOwner(relid), 0);
	UtilSpiConnect();
	plan = SPI_prepare("SELECT value, xmin FROM privacy.secret WHERE id OPERATOR(pg_catalog.=) 1", 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	ret = read_secret(plan);
	if (ret == SPI_OK_SELECT && SPI_processed == 0)
	{
		/* first use in this database: a fresh random secret */
		unsigned char fresh[32];
		bytea	   *b = palloc(VARHDRSZ + sizeof(fresh));
		Oid			t[1] = {BYTEAOID};
		Datum		v[1];

		randombytes_buf(fresh, sizeof(fresh));
		SET_VARSIZE(b, VARHDRSZ + sizeof(fresh));
		memcpy(VARDATA(b), fresh, sizeof(fresh));
		sodium_memzero(fresh, sizeof(fresh));
		v[0] = PointerGetDatum(b);
		ret = SPI_execute_with_args("INSERT INTO privacy.secret (id, value) VALUES (1, $1) ON CONFLICT DO NOTHING",
									1, t, v, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not create the subject reference secret");
		ret = read_secret(plan);
	}
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the subject reference secret is missing")));
	val = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	/* reduce any stored length to a key of the right size */
	crypto_generichash(subject_ref_secret, sizeof(subject_ref_secret),
					   (unsigned char *) VARDATA_ANY(val), VARSIZE_ANY_EXHDR(val),
					   NULL, 0);
	SPI_freeplan(plan);
	SPI_finish();
	GuardLeave(frame);
	subject_ref_secret_loaded = !TransactionIdIsCurrentTransactionId(xmin);
	subject_ref_secret_rel = relid;
}

/*
 * UtilSubjectRef
 *		Keyed hash of (subject type, canonical id), as 32 hex characters.
 */
char *
UtilSubjectRef(const char *subject, const char *canonical_id)
{
	crypto_generichash_state st;
	unsigned char out[SUBJECT_REF_BYTES];
	unsigned char zero = 0;
	char	   *hex = palloc(SUBJECT_REF_BYTES * 2 + 1);

	load_secret();
	crypto_generichash_init(&st, subject_ref_secret, sizeof(subject_ref_secret), sizeof(out));
	crypto_generichash_update(&st, (const unsigned char *) subject, strlen(subject));
	crypto_generichash_update(&st, &zero, 1);
	crypto_generichash_update(&st, (const unsigned char *) canonical_id, strlen(canonical_id));
	crypto_generichash_final(&st, out, sizeof(out));
	sodium_bin2hex(hex, SUBJECT_REF_BYTES * 2 + 1, out, sizeof(out));
	return hex;
}

/*
 * UtilDerivedKey
 *		A 32-byte key for a named purpose, derived from the per-database
 *		secret (never stored, never returned to SQL).  Zero it after use.
 */
void
UtilDerivedKey(const char *context, unsigned char *key)
{
	load_secret();
	crypto_generichash(key, crypto_generichash_KEYBYTES, (const unsigned char *) context,
					   strlen(context), subject_ref_secret, sizeof(subject_ref_secret));
}

/*
 * UtilKeyedHash
 *		Keyed BLAKE2b of in under a key derived from the per-database secret
 *		for a named purpose (so pseudonyms and subject_ref never share a
 *		key).
 */
void
UtilKeyedHash(const char *context, const unsigned char *in, size_t inlen,
			  unsigned char *out, size_t outlen)
{
	unsigned char key[crypto_generichash_KEYBYTES];

	load_secret();
	crypto_generichash(key, sizeof(key), (const unsigned char *) context, strlen(context),
					   subject_ref_secret, sizeof(subject_ref_secret));
	crypto_generichash(out, outlen, in, inlen, key, sizeof(key));
	sodium_memzero(key, sizeof(key));
}

/*
 * UtilSubxactCaught
 *		In the PG_CATCH of an internal subtransaction begun in memory context
 *		cxt under resource owner owner: the error, copied into cxt, and the
 *		subtransaction rolled back, cxt and owner current again.
 */
ErrorData *
UtilSubxactCaught(MemoryContext cxt, ResourceOwner owner)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return edata;
}

/*
 * set_constraints
 *		SET CONSTRAINTS names mode (NIL: nothing), as the role that called
 *		the extension, restricted: setting them IMMEDIATE runs the checks of
 *		events that role's transaction queued (a constraint trigger of a
 *		table it wrote), which its commit would have run as that role; never
 *		as the extension owner (erase is SECURITY DEFINER).
 */
static void
set_constraints(List *names, const char *mode)
{
	StringInfoData sql;
	ListCell   *lc;
	int			frame;

	if (names == NIL)
		return;
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SET CONSTRAINTS ");
	foreach(lc, names)
		appendStringInfo(&sql, "%s%s", foreach_current_index(lc) > 0 ? ", " : "", strVal(lfirst(lc)));
	appendStringInfo(&sql, " %s", mode);
	frame = GuardEnterRole(UtilOuterUser());
	if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not set the constraints %s", mode);
	GuardLeave(frame);
}

/*
 * UtilDeferredImmediate
 *		PostgreSQL refuses to queue a deferred trigger event inside a
 *		security-restricted operation (42501 "cannot fire deferred trigger
 *		within security-restricted operation"), and the extension changes
 *		rows there, as each table's owner.  A foreign key or constraint
 *		trigger declared DEFERRABLE INITIALLY DEFERRED (Django declares
 *		every foreign key so) on a table it changes would fail every
 *		erasure and retention batch.  So the initially deferred constraints
 *		whose triggers sit on the n tables about to change (their
 *		partitions and children included; a foreign key's triggers sit on
 *		both of its tables) are set IMMEDIATE, by name, in the caller's
 *		transaction: their checks run at the end of each statement, which
 *		change rows in an order that keeps them (referencing rows first).
 *		With may_update (the erasure; NULL: retention), a table whose rows
 *		the caller only deletes needs only the constraints of its DELETE
 *		triggers (the foreign keys that reference it: a key's own check
 *		triggers fire on INSERT and UPDATE), when no user's trigger or rule
 *		sits on any of the tables and no foreign key action of theirs
 *		updates it (SET NULL, SET DEFAULT, ON UPDATE): SET CONSTRAINTS costs
 *		time quadratic in the number of triggers it names (PostgreSQL's
 *		AfterTriggerSetState), 8-13 ms for Django's 480 initially deferred
 *		keys of a 200-table schema, 2.5-5 ms for the 200 an erasure there
 *		needs (bench/75_django.sh).
 *		As SET CONSTRAINTS does, this also runs now the checks of those
 *		constraints that the transaction deferred so far, as the role
 *		that called the extension, in a security-restricted operation
 *		(never as the extension owner).  A name that another constraint of
 *		its schema shares, unless it is initially deferred too, is left out
 *		(SET CONSTRAINTS would refuse it, or leave it deferred after).
 *		A user's trigger on a changed table may change a table outside them
 *		(MusicBrainz's raw tags keep the aggregate artist_tag, whose
 *		constraint trigger delete_unused_tag is initially deferred): the
 *		event of such a constraint is refused as well, and which tables a
 *		trigger writes cannot be known, so (with a user's trigger or rule
 *		on one of the tables, or without may_update) every other initially deferred
 *		constraint of a schema the calling role may use (USAGE, which SET
 *		CONSTRAINTS needs to name it) is set IMMEDIATE too; the extension's
 *		own schema, the system schemas and other sessions' temporary schemas
 *		are left out.  An event of a constraint of a schema the role may not
 *		use is still refused (42501, nothing changed).  Returns the names
 *		for UtilDeferredRestore (NIL: none).  The caller holds locks on the
 *		tables, is connected to SPI and is in no guard frame.
 */
/*
 * The initially deferred constraints of the database outside the system
 * schemas, each with its qualified name and whether another constraint of
 * its schema shares the name without being initially deferred too: read by
 * one scan of pg_constraint, kept until pg_constraint or pg_namespace
 * changes (syscache callbacks).  Scanning pg_constraint on every erasure
 * cost a full read of the catalog per call (thousands of rows in a schema
 * of a few hundred tables).  What depends on the caller (the role's USAGE,
 * another session's temporary schema, the extension's schema) is checked
 * per call.
 */
typedef struct DeferredCon
{
	Oid			oid;
	Oid			nsp;
	char	   *name;			/* schema-qualified, quoted */
	bool		shared;
} DeferredCon;

static MemoryContext deferred_cxt = NULL;
static DeferredCon *deferred_cons = NULL;
static int	deferred_n = 0;
static bool deferred_valid = false;

static void
deferred_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	deferred_valid = false;
}

/* fill e for the constraint tuple con (name, shared) */
static void
deferred_describe(Relation crel, Form_pg_constraint con, DeferredCon *e)
{
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	other;

	e->oid = con->oid;
	e->nsp = con->connamespace;
	e->shared = false;
	ScanKeyInit(&key[0], Anum_pg_constraint_conname, BTEqualStrategyNumber, F_NAMEEQ,
				NameGetDatum(&con->conname));
	ScanKeyInit(&key[1], Anum_pg_constraint_connamespace, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(con->connamespace));
	scan = systable_beginscan(crel, ConstraintNameNspIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(other = systable_getnext(scan)))
		if (!((Form_pg_constraint) GETSTRUCT(other))->condeferrable ||
			!((Form_pg_constraint) GETSTRUCT(other))->condeferred)
			e->shared = true;	/* SET CONSTRAINTS would refuse it, or defer it after */
	systable_endscan(scan);
	e->name = quote_qualified_identifier(get_namespace_name(con->connamespace), NameStr(con->conname));
}

static void
deferred_load(void)
{
	Relation	crel;
	SysScanDesc scan;
	HeapTuple	tup;
	MemoryContext old;
	int			cap = 16;

	if (deferred_cxt == NULL)
	{
		deferred_cxt = AllocSetContextCreate(CacheMemoryContext, "privacy deferred constraints",
											 ALLOCSET_SMALL_SIZES);
		CacheRegisterSyscacheCallback(CONSTROID, deferred_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, deferred_callback, (Datum) 0);
	}
	MemoryContextReset(deferred_cxt);
	deferred_cons = NULL;
	deferred_n = 0;
	/* an invalidation read while this loads makes the next call load again */
	deferred_valid = true;
	old = MemoryContextSwitchTo(deferred_cxt);
	deferred_cons = palloc(sizeof(DeferredCon) * cap);
	crel = table_open(ConstraintRelationId, AccessShareLock);
	scan = systable_beginscan(crel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

		if (!con->condeferrable || !con->condeferred ||
			IsCatalogNamespace(con->connamespace) || IsToastNamespace(con->connamespace))
			continue;
		if (deferred_n == cap)
		{
			cap *= 2;
			deferred_cons = repalloc(deferred_cons, sizeof(DeferredCon) * cap);
		}
		deferred_describe(crel, con, &deferred_cons[deferred_n++]);
	}
	systable_endscan(scan);
	table_close(crel, AccessShareLock);
	MemoryContextSwitchTo(old);
}

/*
 * user_code_or_updated
 *		Whether the relation has a user's trigger or a rule (code that may
 *		write any table; the extension's own triggers do not), and whether
 *		a foreign key action of another table may update its rows (ON
 *		DELETE SET NULL / SET DEFAULT, an ON UPDATE action).
 */
static void
user_code_or_updated(Relation rel, Oid ours, bool *user_code, bool *updated)
{
	ListCell   *lc;

	if (rel->rd_rules != NULL)
		*user_code = true;
	/* the extension's own triggers (links, encrypted columns) write none */
	if (rel->trigdesc != NULL)
		for (int t = 0; t < rel->trigdesc->numtriggers; t++)
			if (!rel->trigdesc->triggers[t].tgisinternal &&
				get_func_namespace(rel->trigdesc->triggers[t].tgfoid) != ours)
				*user_code = true;
	foreach(lc, RelationGetFKeyList(rel))
	{
		Oid			conoid = ((ForeignKeyCacheInfo *) lfirst(lc))->conoid;
		HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
		Form_pg_constraint con;

		if (!HeapTupleIsValid(tup))
			continue;
		con = (Form_pg_constraint) GETSTRUCT(tup);
		if (con->confdeltype == FKCONSTR_ACTION_SETNULL || con->confdeltype == FKCONSTR_ACTION_SETDEFAULT ||
			(con->confupdtype != FKCONSTR_ACTION_NOACTION && con->confupdtype != FKCONSTR_ACTION_RESTRICT))
			*updated = true;
		ReleaseSysCache(tup);
	}
}

List *
UtilDeferredImmediate(const Oid *relids, const bool *may_update, int n)
{
	List	   *cons = NIL;
	List	   *names = NIL;
	ListCell   *lc;
	Oid			ours = get_namespace_oid("privacy", true);
	Oid			role = UtilOuterUser();
	DeferredCon *all;
	int			nall;
	List	  **rels = palloc(sizeof(List *) * Max(n, 1));
	bool	   *updated = palloc0(sizeof(bool) * Max(n, 1));
	bool		full = may_update == NULL;

	for (int i = 0; i < n; i++)
	{
		ListCell   *lr;

		rels[i] = has_subclass(relids[i]) ? find_all_inheritors(relids[i], NoLock, NULL)
			: list_make1_oid(relids[i]);
		updated[i] = full || may_update[i];
		if (full)
			continue;
		foreach(lr, rels[i])
		{
			Relation	rel = try_relation_open(lfirst_oid(lr), NoLock);

			if (rel == NULL)
				continue;
			user_code_or_updated(rel, ours, &full, &updated[i]);
			relation_close(rel, NoLock);
		}
	}
	for (int i = 0; i < n; i++)
	{
		ListCell   *lr;

		foreach(lr, rels[i])
		{
			Relation	rel = try_relation_open(lfirst_oid(lr), NoLock);

			if (rel == NULL)
				continue;
			if (rel->trigdesc != NULL)
				for (int t = 0; t < rel->trigdesc->numtriggers; t++)
				{
					Trigger    *tg = &rel->trigdesc->triggers[t];

					/*
					 * A table whose rows are only deleted queues the events
					 * of its DELETE triggers alone (a foreign key's check
					 * triggers on the referencing table fire on INSERT and
					 * UPDATE)
					 */
					if (tg->tgdeferrable && tg->tginitdeferred && OidIsValid(tg->tgconstraint) &&
						(full || updated[i] || TRIGGER_FOR_DELETE(tg->tgtype)))
						cons = list_append_unique_oid(cons, tg->tgconstraint);
				}
			relation_close(rel, NoLock);
		}
	}
	if (!deferred_valid)
		deferred_load();
	/* a copy: an invalidation read below (a lock, a syscache miss) may reload */
	nall = deferred_n;
	all = palloc(sizeof(DeferredCon) * Max(nall, 1));
	for (int i = 0; i < nall; i++)
	{
		all[i] = deferred_cons[i];
		all[i].name = pstrdup(deferred_cons[i].name);
	}
	/*
	 * every other initially deferred constraint the role may name, when a
	 * user's trigger or rule on a table may write another table
	 */
	for (int i = 0; i < nall && full; i++)
		if (all[i].nsp != ours && !isOtherTempNamespace(all[i].nsp) &&
			pg_namespace_aclcheck(all[i].nsp, role, ACL_USAGE) == ACLCHECK_OK)
			cons = list_append_unique_oid(cons, all[i].oid);
	foreach(lc, cons)
	{
		Oid			oid = lfirst_oid(lc);
		DeferredCon *e = NULL;
		DeferredCon one;

		for (int i = 0; i < nall && e == NULL; i++)
			if (all[i].oid == oid)
				e = &all[i];
		if (e == NULL)
		{
			/* not among them (a system schema's): read it now */
			HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(oid));
			Relation	crel;

			if (!HeapTupleIsValid(tup))
				continue;
			crel = table_open(ConstraintRelationId, AccessShareLock);
			deferred_describe(crel, (Form_pg_constraint) GETSTRUCT(tup), &one);
			table_close(crel, AccessShareLock);
			ReleaseSysCache(tup);
			e = &one;
		}
		if (!e->shared && !list_member(names, makeString(e->name)))
			names = lappend(names, makeString(e->name));
	}
	set_constraints(names, "IMMEDIATE");
	return names;
}

/*
 * UtilDeferredRestore
 *		Give the constraints UtilDeferredImmediate set IMMEDIATE their
 *		declared timing back (DEFERRED) for the rest of the transaction.
 */
void
UtilDeferredRestore(List *names)
{
	set_constraints(names, "DEFERRED");
}

/*
 * UtilAttNotNull
 *		The column can hold no NULL: NOT NULL, or a CHECK constraint that
 *		says so alone, CHECK (col IS NOT NULL), as Rails schemas declare it
 *		(add_check_constraint ... validate: false, then validated; Forem's
 *		users.username).  A constraint NOT VALID yet counts: it refuses
 *		every NULL written now, an erasure's or retention's too.
 */
bool
UtilAttNotNull(Oid relid, AttrNumber attnum)
{
	HeapTuple	tp = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	bool		result = false;
	Relation	crel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	if (HeapTupleIsValid(tp))
	{
		result = ((Form_pg_attribute) GETSTRUCT(tp))->attnotnull;
		ReleaseSysCache(tp);
	}
	if (result)
		return true;
	crel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(crel, ConstraintRelidTypidNameIndexId, true, NULL, 1, &key);
	while (!result && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);
		bool		isnull;
		Datum		bin;
		Node	   *expr;

		if (con->contype != CONSTRAINT_CHECK)
			continue;
		bin = heap_getattr(tup, Anum_pg_constraint_conbin, RelationGetDescr(crel), &isnull);
		if (isnull)
			continue;
		expr = stringToNode(TextDatumGetCString(bin));
		if (IsA(expr, NullTest) && ((NullTest *) expr)->nulltesttype == IS_NOT_NULL &&
			!((NullTest *) expr)->argisrow && IsA(((NullTest *) expr)->arg, Var) &&
			((Var *) ((NullTest *) expr)->arg)->varattno == attnum)
			result = true;
	}
	systable_endscan(scan);
	table_close(crel, AccessShareLock);
	return result;
}
