/*-------------------------------------------------------------------------
 * retention.c
 *		Retention policies: add_retention, drop_retention, run_retention, the
 *		keyset batch engine the background worker shares, and the erasure
 *		strategy rewrites (RetentionRewriteExpr) that erase reuses.
 *
 * A policy run is a *pass* over the rows whose age column is older than a
 * cutoff fixed when the pass starts (now() - keep).  The pass walks the age
 * column in (age, ctid) order, batch_size candidate rows at a time; the
 * position reached is stored in privacy.retention_state in the same
 * transaction as the batch's changes, so a killed worker resumes exactly
 * where the last committed batch ended: nothing is lost or applied twice.
 *
 * One batch, in one transaction (the worker) or as one step of the
 * caller's transaction (run_retention):
 *	 1. as the extension owner: lock the policy's state row, then
 *		LOCK privacy.holds IN SHARE MODE: holds committed before this point
 *		are visible to the next statement, and none can commit until the
 *		batch ends (hold() waits at most one batch);
 *	 2. as the table owner, security-restricted: pick the next candidates
 *		by keyset and lock those that still need work FOR UPDATE SKIP LOCKED
 *		(locked rows are left for the next pass);
 *	 3. as the extension owner (a new statement, so a new snapshot): drop
 *		the locked rows that belong to a subject under an active hold
 *		(MapHoldFilterSQL) and compute keyed pseudonyms for 'hash' columns;
 *	 4. as the table owner, security-restricted: DELETE / UPDATE the
 *		remaining rows by ctid (user triggers never run as a superuser);
 *	 5. as the extension owner: store the position and the run's counters.
 * TimeZone is pinned to UTC and DateStyle to ISO inside a batch, so
 * positions and cutoffs of date/timestamp columns mean the same thing to
 * every session; lock_timeout bounds every lock wait.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "retention.h"

PG_FUNCTION_INFO_V1(privacy_add_retention);
PG_FUNCTION_INFO_V1(privacy_drop_retention);
PG_FUNCTION_INFO_V1(privacy_run_retention);
PG_FUNCTION_INFO_V1(privacy_pseudonym);
PG_FUNCTION_INFO_V1(privacy_retention_backlog);

#define PSEUDONYM_BYTES 16		/* 32 hex characters */
#define RETENTION_LOCK_TIMEOUT "1s"
#define RETENTION_OPTIMISTIC_WAIT "50ms"
#define BACKLOG_EXACT 100000

/* A column rewritten by an 'anonymize' policy. */
typedef struct RetColumn
{
	char	   *name;
	Oid			typid;
	int32		typmod;
	char	   *strategy;
	bool		hash;			/* new value computed in step 3 */
	char	   *newexpr;		/* on alias t */
	char	   *doneexpr;
} RetColumn;

/* A policy, resolved against the current catalog. */
typedef struct RetPolicy
{
	int64		id;
	Oid			relid;
	Oid			owner;
	char	   *qualname;
	char	   *age;			/* quoted age column */
	char	   *keep;			/* interval, text */
	bool		anonymize;
	List	   *columns;		/* RetColumn * */
	char	   *needs;			/* "row still needs work" (anonymize), or NULL */
	int			nhash;
	bool		partitioned;	/* batches walk the leaf partitions in OID order */
} RetPolicy;

/* Saved user identity around a switch. */
typedef struct RetUser
{
	Oid			userid;
	int			sec_context;
} RetUser;

/*
 * ret_become
 *		Switch the current user to role; restricted adds
 *		SECURITY_RESTRICTED_OPERATION (user code may not change session
 *		state).  Transaction abort restores the identity on error.
 */
static void
ret_become(Oid role, bool restricted, RetUser *save)
{
	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	SetUserIdAndSecContext(role, save->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   (restricted ? SECURITY_RESTRICTED_OPERATION : 0));
	/* work on the table's rows: protect()'s row security must not hide any */
	if (restricted)
		RightsBypassRowSecurity(true);
}

static void
ret_restore(RetUser *save)
{
	SetUserIdAndSecContext(save->userid, save->sec_context);
	RightsBypassRowSecurity(false);
}

/*
 * ret_extension_owner
 *		Owner of the privacy extension: the role that owns the catalog.
 */
static Oid
ret_extension_owner(void)
{
	Oid			extoid = get_extension_oid("privacy", false);
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			owner = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(owner))
		elog(ERROR, "privacy extension owner not found");
	return owner;
}

/*
 * ret_exec
 *		SPI_execute_with_args that checks the result code.
 */
static void
ret_exec(const char *sql, int nargs, Oid *types, Datum *values,
		 const char *nulls, int expected)
{
	int			rc;
	MemoryContext cxt = CurrentMemoryContext;

	/* SPI leaves us in its procedure context: come back to the caller's */
	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	MemoryContextSwitchTo(cxt);
	if (rc != expected)
		elog(ERROR, "retention: SPI returned %d (expected %d)", rc, expected);
}

/* Datum of column col of row 0 of SPI_tuptable, with null flag. */
static Datum
ret_get(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

/*
 * ret_is_admin
 *		Is role a member of privacy_admin (or a superuser)?
 */
static bool
ret_is_admin(Oid role)
{
	Oid			admin = get_role_oid("privacy_admin", true);

	if (superuser_arg(role))
		return true;
	return OidIsValid(admin) && has_privs_of_role(role, admin);
}

/*
 * ret_check_table
 *		The relation must be an ordinary table; returns its owner.
 */
static void ret_record_failure(int64 policy, const char *message, bool own_xacts);

static Oid
ret_check_table(Oid relid)
{
	HeapTuple	tup;
	Form_pg_class cls;
	Oid			owner;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("relation with OID %u does not exist", relid)));
	cls = (Form_pg_class) GETSTRUCT(tup);
	if (cls->relkind != RELKIND_RELATION && cls->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("retention policies apply to tables only"),
						errdetail("\"%s\" is not an ordinary or partitioned table.", NameStr(cls->relname))));
	if (cls->relispartition)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("\"%s\" is a partition", NameStr(cls->relname)),
						errhint("Add the policy to the partitioned table; its partitions are handled with it.")));
	owner = cls->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * ret_column
 *		Attribute number of a live column, or 42703.
 */
static AttrNumber
ret_column(Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);

	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
						errmsg("column \"%s\" of relation \"%s\" does not exist",
							   name, get_rel_name(relid))));
	return attnum;
}

/*-------------------------------------------------------------------------
 * Strategy rewrites
 *-------------------------------------------------------------------------
 */

/*
 * ret_placeholder
 *		Literal (untyped) placeholder that 'redact' writes for a base type,
 *		or NULL when the type has none.
 */
static const char *
ret_placeholder(Oid basetype)
{
	char		category;
	bool		preferred;

	switch (basetype)
	{
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return "'epoch'";
		case TIMEOID:
		case TIMETZOID:
			return "'00:00:00'";
		case UUIDOID:
			return "'00000000-0000-0000-0000-000000000000'";
		case JSONOID:
		case JSONBOID:
			return "'\"[redacted]\"'";
		case BYTEAOID:
			return "'\\x'";
		case MACADDROID:
			return "'00:00:00:00:00:00'";
		case MACADDR8OID:
			return "'00:00:00:00:00:00:00:00'";
		case INETOID:
		case CIDROID:
			return "'0.0.0.0/32'";
		case CHAROID:
			return "'x'";
		default:
			break;
	}
	get_type_category_preferred(basetype, &category, &preferred);
	switch (category)
	{
		case TYPCATEGORY_STRING:
			return "'[redacted]'";
		case TYPCATEGORY_NUMERIC:
			return "'0'";
		case TYPCATEGORY_BOOLEAN:
			return "'false'";
		case TYPCATEGORY_TIMESPAN:
			return "'0'";
		case TYPCATEGORY_ARRAY:
			return "'{}'";
		case TYPCATEGORY_GEOMETRIC:
			return basetype == POINTOID ? "'(0,0)'" : NULL;
		default:
			return NULL;
	}
}

/*
 * ret_hash_length
 *		Number of pseudonym characters a string column keeps (its length
 *		limit), 0 when the type cannot hold a pseudonym; -1 for bytea.
 */
static int
ret_hash_length(Oid basetype, int32 basetypmod)
{
	char		category;
	bool		preferred;
	int			len = PSEUDONYM_BYTES * 2;

	if (basetype == BYTEAOID)
		return -1;
	get_type_category_preferred(basetype, &category, &preferred);
	if (category != TYPCATEGORY_STRING || basetype == CHAROID || basetype == NAMEOID)
		return 0;
	if ((basetype == VARCHAROID || basetype == BPCHAROID) && basetypmod > VARHDRSZ)
		len = Min(len, basetypmod - VARHDRSZ);
	return len;
}

char *
RetentionRewriteExpr(Oid typid, int32 typmod, const char *strategy, const char *colexpr)
{
	int32		basetypmod = typmod;
	Oid			basetype = getBaseTypeAndTypmod(typid, &basetypmod);
	char	   *typname = format_type_with_typemod(typid, typmod);

	if (strcmp(strategy, "keep") == 0 || strcmp(strategy, "shred") == 0)
		return NULL;
	if (strcmp(strategy, "null") == 0 || strcmp(strategy, "delete") == 0)
		return psprintf("CAST(NULL AS %s)", typname);
	if (strcmp(strategy, "redact") == 0)
	{
		const char *ph = ret_placeholder(basetype);

		if (ph == NULL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("strategy \"redact\" has no placeholder for type %s", typname)));
		return psprintf("CAST(%s AS %s)", ph, typname);
	}
	if (strcmp(strategy, "hash") == 0)
	{
		int			len = ret_hash_length(basetype, basetypmod);

		if (len == 0)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("strategy \"hash\" cannot be stored in a column of type %s", typname)));
		if (len < 0)
			return psprintf("CAST(pg_catalog.decode(privacy.pseudonym(pg_catalog.encode(%s, 'hex')), 'hex') AS %s)",
							colexpr, typname);
		return psprintf("CAST(privacy.pseudonym(CAST(%s AS pg_catalog.text)) AS %s)",
						colexpr, typname);
	}
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("unknown erasure strategy \"%s\"", strategy)));
	return NULL;				/* keep compiler quiet */
}

char *
RetentionRewriteDoneExpr(Oid typid, int32 typmod, const char *strategy, const char *colexpr)
{
	int32		basetypmod = typmod;
	Oid			basetype = getBaseTypeAndTypmod(typid, &basetypmod);

	if (strcmp(strategy, "null") == 0 || strcmp(strategy, "delete") == 0)
		return psprintf("(%s IS NULL)", colexpr);
	if (strcmp(strategy, "redact") == 0)
		return psprintf("(%s IS NOT DISTINCT FROM %s)", colexpr,
						RetentionRewriteExpr(typid, typmod, strategy, colexpr));
	if (strcmp(strategy, "hash") == 0)
	{
		int			len = ret_hash_length(basetype, basetypmod);

		if (len < 0)
			return psprintf("(%s IS NULL OR pg_catalog.octet_length(%s) = %d)",
							colexpr, colexpr, PSEUDONYM_BYTES);
		return psprintf("(%s IS NULL OR CAST(%s AS pg_catalog.text) OPERATOR(pg_catalog.~) '^[0-9a-f]{%d}$')",
						colexpr, colexpr, len);
	}
	return NULL;
}

/*
 * privacy_pseudonym
 *		privacy.pseudonym(text) RETURNS text: keyed BLAKE2b (libsodium
 *		crypto_generichash, 16 bytes, hex) of the value under a key derived
 *		from the database's secret.  Equal inputs give equal outputs within
 *		one database.  Not executable by PUBLIC (a pseudonym oracle).
 */
Datum
privacy_pseudonym(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	unsigned char out[PSEUDONYM_BYTES];
	char		hex[PSEUDONYM_BYTES * 2 + 1];

	/*
	 * A pseudonym oracle would let anyone test guesses against stored
	 * pseudonyms: only erasure (running as the table's owner) and the
	 * retention code (running as the extension owner) may compute them.
	 */
	if (!erasure_in_progress && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("privacy.pseudonym can only be used by erasure and retention")));
	UtilKeyedHash("privacy.pseudonym", (const unsigned char *) VARDATA_ANY(in),
				  VARSIZE_ANY_EXHDR(in), out, sizeof(out));
	sodium_bin2hex(hex, sizeof(hex), out, sizeof(out));
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}

/*-------------------------------------------------------------------------
 * Policies
 *-------------------------------------------------------------------------
 */

/*
 * ret_resolve_columns
 *		Columns (and strategies) an 'anonymize' policy rewrites: the named
 *		ones, or the table's classified columns.  A column's strategy is
 *		its classification's, 'null' when unclassified; 'delete'/'shred'
 *		mean 'null' here, and 'null' on a NOT NULL column means 'redact'.
 *		'keep' columns are left alone.  SPI connected, as extension owner.
 */
static List *
ret_resolve_columns(Oid relid, ArrayType *names)
{
	List	   *result = NIL;
	List	   *want = NIL;
	ListCell   *lc;

	if (names != NULL)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(names, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
						  &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			if (nulls[i])
				ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								errmsg("columns must not contain nulls")));
			want = lappend(want, pstrdup(NameStr(*DatumGetName(elems[i]))));
		}
		if (want == NIL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("columns must not be empty")));
	}
	else
	{
		Oid			types[1] = {OIDOID};
		Datum		values[1] = {ObjectIdGetDatum(relid)};

		ret_exec("SELECT column_name::text FROM privacy.classifications "
				 "WHERE table_name = $1 ORDER BY attnum",
				 1, types, values, NULL, SPI_OK_SELECT);
		for (uint64 i = 0; i < SPI_processed; i++)
			want = lappend(want, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	}

	foreach(lc, want)
	{
		char	   *name = (char *) lfirst(lc);
		AttrNumber	attnum = ret_column(relid, name);
		RetColumn  *col = palloc0(sizeof(RetColumn));
		Oid			types[2] = {OIDOID, NAMEOID};
		Datum		values[2];
		Oid			coll;
		bool		notnull;
		HeapTuple	tup;
		char	   *colexpr;

		values[0] = ObjectIdGetDatum(relid);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(name));
		ret_exec("SELECT erasure FROM privacy.classifications "
				 "WHERE table_name = $1 AND column_name = $2",
				 2, types, values, NULL, SPI_OK_SELECT);
		col->strategy = SPI_processed > 0 ?
			SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : pstrdup("null");
		if (strcmp(col->strategy, "keep") == 0)
			continue;
		if (strcmp(col->strategy, "delete") == 0 || strcmp(col->strategy, "shred") == 0)
			col->strategy = pstrdup("null");

		col->name = name;
		get_atttypetypmodcoll(relid, attnum, &col->typid, &col->typmod, &coll);
		tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for column %d of relation %u", attnum, relid);
		notnull = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
		ReleaseSysCache(tup);
		if (notnull && strcmp(col->strategy, "null") == 0)
			col->strategy = pstrdup("redact");

		colexpr = psprintf("t.%s", quote_identifier(name));
		col->newexpr = RetentionRewriteExpr(col->typid, col->typmod, col->strategy, colexpr);
		col->doneexpr = RetentionRewriteDoneExpr(col->typid, col->typmod, col->strategy, colexpr);
		col->hash = strcmp(col->strategy, "hash") == 0;
		result = lappend(result, col);
	}
	return result;
}

/*
 * ret_load_policy
 *		Read and resolve a policy.  SPI connected, as extension owner.
 *		Unknown policy: 42704.
 */
static RetPolicy *
ret_load_policy(int64 id)
{
	RetPolicy  *p = palloc0(sizeof(RetPolicy));
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	bool		isnull;
	Datum		cols;
	char	   *agename;
	AttrNumber	attnum;
	ArrayType  *names = NULL;

	ret_exec("SELECT table_name::oid, age_column::text, keep::text, action, columns "
			 "FROM privacy.retention WHERE id = $1",
			 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("retention policy %lld does not exist", (long long) id)));
	p->id = id;
	p->relid = DatumGetObjectId(ret_get(0, 1, &isnull));
	agename = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	p->keep = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	p->anonymize = strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4),
						  "anonymize") == 0;
	cols = ret_get(0, 5, &isnull);
	if (!isnull)
		names = DatumGetArrayTypePCopy(cols);

	if (get_rel_name(p->relid) == NULL)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("the table of retention policy %lld no longer exists", (long long) id)));
	p->owner = ret_check_table(p->relid);
	p->partitioned = get_rel_relkind(p->relid) == RELKIND_PARTITIONED_TABLE;
	p->qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(p->relid)),
											 get_rel_name(p->relid));
	attnum = ret_column(p->relid, agename);
	(void) attnum;
	p->age = pstrdup(quote_identifier(agename));

	if (p->anonymize)
	{
		ListCell   *lc;
		StringInfoData buf;

		p->columns = ret_resolve_columns(p->relid, names);
		initStringInfo(&buf);
		foreach(lc, p->columns)
		{
			RetColumn  *c = lfirst(lc);

			appendStringInfo(&buf, "%s%s", buf.len > 0 ? " AND " : "", c->doneexpr);
			if (c->hash)
				p->nhash++;
		}
		p->needs = buf.len > 0 ? psprintf("NOT (%s)", buf.data) : "false";
	}
	return p;
}

/*
 * ret_pin_settings
 *		Pin TimeZone, DateStyle and lock_timeout for one batch; returns the
 *		GUC nest level to pass to AtEOXact_GUC.
 */
static int
ret_pin_settings(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("TimeZone", "UTC", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("DateStyle", "ISO, YMD", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("lock_timeout", RETENTION_LOCK_TIMEOUT, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/*
 * ret_xact_begin / ret_xact_end
 *		Bracket one step: its own transaction when own_xacts (the worker),
 *		SPI connected, allocations in cxt (SPI_connect would otherwise leave
 *		us in its procedure context, freed by SPI_finish).
 */
static void
ret_xact_begin(bool own_xacts, MemoryContext cxt)
{
	if (own_xacts)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(cxt);
}

static void
ret_xact_end(bool own_xacts, MemoryContext cxt)
{
	SPI_finish();
	if (own_xacts)
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	MemoryContextSwitchTo(cxt);
}

/* SPI_connect, staying in the caller's memory context. */
static void
ret_spi_connect(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(cxt);
}

/*
 * ret_batch_sql
 *		Step 2 of a batch: the next candidates by keyset ($1 cutoff, $2/$3
 *		position, $4 batch size), locked FOR UPDATE SKIP LOCKED ("lk").
 *		With change, the same statement also deletes or rewrites the rows
 *		of src: "lk" (the locked rows) or "cand" (every candidate, waiting
 *		for row locks).  Columns: candidates, last age, last ctid, locked
 *		ctids (without change), rows changed.
 */
static char *
ret_batch_sql(RetPolicy *p, bool have_pos, bool change, const char *src, bool blocks)
{
	StringInfoData sql;
	char	   *recheck = psprintf("t.%s < $1%s%s", p->age,
								   p->needs ? " AND " : "", p->needs ? p->needs : "");

	initStringInfo(&sql);
	if (blocks)
	{
		/*
		 * Block mode: every row of blocks [$3, $4) in physical order (a TID
		 * range scan) that the policy applies to; $2 is unused.
		 */
		appendStringInfo(&sql,
						 "WITH cand AS MATERIALIZED ("
						 "SELECT t.ctid AS c, t.%s AS a FROM ONLY %s t "
						 "WHERE t.ctid >= $3 AND t.ctid < CAST('(' || $4 || ',0)' AS pg_catalog.tid) AND %s), ",
						 p->age, p->qualname, recheck);
	}
	else
	{
		appendStringInfo(&sql,
						 "WITH cand AS MATERIALIZED ("
						 "SELECT t.ctid AS c, t.%s AS a FROM ONLY %s t WHERE t.%s < $1",
						 p->age, p->qualname, p->age);
		if (have_pos)
			appendStringInfo(&sql, " AND t.%s >= $2 AND (t.%s > $2 OR t.ctid > $3)", p->age, p->age);
		appendStringInfo(&sql, " ORDER BY t.%s, t.ctid LIMIT $4), ", p->age);
	}
	if (strcmp(src, "lk") == 0)
		appendStringInfo(&sql,
						 "lk AS (SELECT t.ctid AS c FROM ONLY %s t "
						 "WHERE t.ctid = ANY (ARRAY(SELECT c FROM cand)) AND %s "
						 "FOR UPDATE OF t SKIP LOCKED), ",
						 p->qualname, recheck);
	appendStringInfoString(&sql, "last AS (SELECT a, c FROM cand ORDER BY a DESC, c DESC LIMIT 1)");
	if (change && !p->anonymize)
		appendStringInfo(&sql, ", chg AS (DELETE FROM ONLY %s t "
						 "WHERE t.ctid = ANY (ARRAY(SELECT c FROM %s)) AND %s RETURNING 1)",
						 p->qualname, src, recheck);
	else if (change)
	{
		ListCell   *lc;
		bool		first = true;

		appendStringInfo(&sql, ", chg AS (UPDATE ONLY %s t SET ", p->qualname);
		foreach(lc, p->columns)
		{
			RetColumn  *c = lfirst(lc);

			appendStringInfo(&sql, "%s%s = %s", first ? "" : ", ",
							 quote_identifier(c->name), c->newexpr);
			first = false;
		}
		appendStringInfo(&sql, " WHERE t.ctid = ANY (ARRAY(SELECT c FROM %s)) AND %s RETURNING 1)",
						 src, recheck);
	}
	appendStringInfoString(&sql,
						   " SELECT (SELECT pg_catalog.count(*) FROM cand), "
						   "(SELECT CAST(a AS pg_catalog.timestamptz) FROM last), (SELECT c FROM last), ");
	appendStringInfoString(&sql, change ?
						   "CAST('{}' AS pg_catalog.tid[]), (SELECT pg_catalog.count(*) FROM chg)" :
						   "ARRAY(SELECT c FROM lk), 0");
	return sql.data;
}

/*
 * ret_subxact_caught
 *		In a PG_CATCH after BeginInternalSubTransaction: take the error,
 *		roll the subtransaction back, restore the caller's memory context and
 *		resource owner, and turn off the row-security bypass.
 */
static ErrorData *
ret_subxact_caught(MemoryContext cxt, ResourceOwner owner)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	RightsBypassRowSecurity(false);
	return edata;
}

/*
 * ret_try_optimistic
 *		Fast path of a batch on a table no hold can apply to: change every
 *		candidate in one statement, without taking row locks first (a row
 *		lock costs a WAL record per row).  A candidate locked by another
 *		session makes the statement wait; after RETENTION_OPTIMISTIC_WAIT the
 *		attempt is rolled back (subtransaction) and the caller runs the
 *		SKIP LOCKED form instead.  Returns true when the statement ran (its
 *		result in SPI_tuptable).
 */
static bool
ret_try_optimistic(RetPolicy *p, const char *sql, Oid *types, Datum *values, const char *nulls)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		RetUser		su;
		int			level = NewGUCNestLevel();

		(void) set_config_option("lock_timeout", RETENTION_OPTIMISTIC_WAIT, PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		ret_become(p->owner, true, &su);
		ret_exec(sql, 4, types, values, nulls, SPI_OK_SELECT);
		ret_restore(&su);
		AtEOXact_GUC(true, level);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata = ret_subxact_caught(cxt, owner);

		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			ReThrowError(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * ret_choose_blocks
 *		Whether a pass should walk blocks rather than the age index: an
 *		ordinary table of at least 16 pages where a block sample finds at
 *		least a fifth of the rows due.  Runs as the table's owner.
 */
static bool
ret_choose_blocks(RetPolicy *p, Datum cutoff)
{
	Oid			t[2] = {OIDOID, TIMESTAMPTZOID};
	Datum		v[2];
	bool		isnull;
	RetUser		su;
	double		share;
	char	   *sql;

	v[0] = ObjectIdGetDatum(p->relid);
	/* the real size: pg_class.relpages is 0 until the table is analyzed */
	ret_exec("SELECT pg_catalog.pg_relation_size($1) / pg_catalog.current_setting('block_size')::int",
			 1, t, v, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1 || DatumGetInt64(ret_get(0, 1, &isnull)) < 16)
		return false;
	sql = psprintf("SELECT pg_catalog.count(*) FILTER (WHERE t.%s < $2)::float8"
				   " / GREATEST(pg_catalog.count(*), 1) FROM ONLY %s t TABLESAMPLE SYSTEM ("
				   "LEAST(100, GREATEST(0.5, 300000 / GREATEST((SELECT c.reltuples FROM pg_catalog.pg_class c"
				   " WHERE c.oid = $1), pg_catalog.pg_relation_size($1) / 80, 1))))",
				   p->age, p->qualname);
	v[1] = cutoff;
	ret_become(p->owner, true, &su);
	ret_exec(sql, 2, t, v, NULL, SPI_OK_SELECT);
	ret_restore(&su);
	share = DatumGetFloat8(ret_get(0, 1, &isnull));
	elog(DEBUG1, "retention policy " INT64_FORMAT ": %.0f%% of a sample due, the pass walks %s",
		 p->id, isnull ? 0.0 : share * 100, !isnull && share >= 0.2 ? "blocks" : "the age index");
	return !isnull && share >= 0.2;
}

/*
 * ret_next_leaf
 *		The leaf partition of a partitioned policy table that comes after
 *		"after" in OID order (InvalidOid: the first), or InvalidOid when there
 *		is none.  Partitions created or dropped during a pass are handled:
 *		the walk only ever moves to a larger OID.
 */
static Oid
ret_next_leaf(Oid relid, Oid after)
{
	Oid			types[2] = {OIDOID, OIDOID};
	Datum		values[2];
	bool		isnull;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = ObjectIdGetDatum(after);
	ret_exec("SELECT min(t.relid) FROM pg_catalog.pg_partition_tree($1) t "
			 "WHERE t.isleaf AND t.relid::pg_catalog.oid > $2",
			 2, types, values, NULL, SPI_OK_SELECT);
	values[0] = ret_get(0, 1, &isnull);
	return isnull ? InvalidOid : DatumGetObjectId(values[0]);
}

/*
 * ret_batch
 *		One batch of a pass (see the file banner).  SPI connected; the
 *		caller is the extension owner.  Returns rows changed; sets *done when
 *		the pass is complete, *lost when another session took the pass over.
 */
static int64
ret_batch(RetPolicy *p, int64 run, Oid extowner, bool worker, bool *done, bool *lost)
{
	Oid			types[4];
	Datum		values[4];
	char		nulls[4];
	bool		isnull;
	Datum		cutoff,
				pos_age,
				pos_ctid;
	bool		have_pos;
	int64		batch = privacy_retention_batch_size;
	int64		ncand;
	Datum		last_age = (Datum) 0,
				last_ctid = (Datum) 0;
	bool		last_null = true;
	ArrayType  *locked;
	ArrayType  *apply;
	int			nlocked;
	int64		nheld = 0;
	int64		changed = 0;
	StringInfoData sql;
	RetUser		su;
	int			level;
	Datum	   *hashvals = NULL;
	bool	   *hashnulls = NULL;
	instr_time	t0,
				t1;
	char	   *holdfilter;
	bool		fast;
	char	   *optimistic = NULL;
	char	   *stepsql;
	Oid			leaf = InvalidOid;
	Oid			next_leaf;
	char	   *parent_qualname;
	bool		blocks = false;
	int64		end_block = 0;
	int64		nblocks = 0;
	ItemPointer start_tid = NULL;

	INSTR_TIME_SET_CURRENT(t0);
	*done = false;
	*lost = false;
	level = ret_pin_settings();
	initStringInfo(&sql);

	/* 1. state row and holds, as the extension owner */
	types[0] = INT8OID;
	values[0] = Int64GetDatum(p->id);
	ret_exec(worker ?
			 "SELECT cutoff, pos_age, pos_ctid, run, pos_rel, pos_mode FROM privacy.retention_state "
			 "WHERE policy = $1 FOR UPDATE SKIP LOCKED" :
			 "SELECT cutoff, pos_age, pos_ctid, run, pos_rel, pos_mode FROM privacy.retention_state "
			 "WHERE policy = $1 FOR UPDATE",
			 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
	{
		*lost = true;
		AtEOXact_GUC(true, level);
		return 0;
	}
	cutoff = ret_get(0, 1, &isnull);
	if (isnull || DatumGetInt64(ret_get(0, 4, &isnull)) != run || isnull)
	{
		*lost = true;
		AtEOXact_GUC(true, level);
		return 0;
	}
	pos_age = ret_get(0, 2, &isnull);
	have_pos = !isnull;
	pos_ctid = ret_get(0, 3, &isnull);
	{
		Datum		r = ret_get(0, 5, &isnull);

		leaf = isnull ? InvalidOid : DatumGetObjectId(r);
		r = ret_get(0, 6, &isnull);
		blocks = !isnull && DatumGetChar(r) == 'b';
	}
	if (have_pos)
	{
		ItemPointer ip = palloc(sizeof(ItemPointerData));

		ItemPointerCopy((ItemPointer) DatumGetPointer(pos_ctid), ip);
		pos_ctid = PointerGetDatum(ip);
	}
	ret_exec("LOCK TABLE privacy.holds IN SHARE MODE", 0, NULL, NULL, NULL, SPI_OK_UTILITY);

	/*
	 * A partitioned table: this batch works on one leaf partition (the one
	 * the stored position is in, or the first); the keyset position is
	 * within that leaf.
	 */
	parent_qualname = p->qualname;
	if (p->partitioned)
	{
		if (!OidIsValid(leaf) || get_rel_relkind(leaf) != RELKIND_RELATION)
		{
			leaf = ret_next_leaf(p->relid, leaf);
			have_pos = false;
		}
		if (!OidIsValid(leaf))
		{
			/* no partition (left): the pass is complete */
			ncand = 0;
			goto finish;
		}
		p->qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(leaf)),
												 get_rel_name(leaf));
	}

	/*
	 * 2. candidates and row locks, as the table owner.  When no hold can
	 * apply to the table (it is in no subject map) and no value needs the
	 * secret, the change is made by the same statement (fast path).
	 */
	holdfilter = MapHoldFilterSQL(p->relid, "t");
	fast = holdfilter == NULL && p->nhash == 0;

	/*
	 * The walk of a pass.  By age (the age index, a keyset on (age, ctid))
	 * when few rows are expired; by blocks (a TID range, a keyset on the
	 * block number, each page read once) when a large share is, which the
	 * age walk would visit one random page per row for.  Chosen at the
	 * start of a pass from a small sample, kept for the whole pass.
	 */
	if (p->partitioned)
		blocks = false;
	else if (!have_pos)
		blocks = ret_choose_blocks(p, cutoff);
	if (blocks)
	{
		Oid			bt[1] = {OIDOID};
		Datum		bv[1];
		BlockNumber start = have_pos ? ItemPointerGetBlockNumberNoCheck((ItemPointer) DatumGetPointer(pos_ctid)) : 0;
		double		per_block;

		bv[0] = ObjectIdGetDatum(p->relid);
		ret_exec("SELECT pg_catalog.pg_relation_size($1) / pg_catalog.current_setting('block_size')::int,"
				 " CASE WHEN c.relpages > 0 AND c.reltuples > 0 THEN (c.reltuples / c.relpages)::float8 ELSE 100::float8 END"
				 " FROM pg_catalog.pg_class c WHERE c.oid = $1", 1, bt, bv, NULL, SPI_OK_SELECT);
		nblocks = DatumGetInt64(ret_get(0, 1, &isnull));
		per_block = DatumGetFloat8(ret_get(0, 2, &isnull));
		/*
		 * Block mode runs when at least a fifth of the rows are due: a
		 * window of twice the batch size in rows changes about one batch
		 * of rows when half are due, at most twice that.
		 */
		end_block = (int64) start + Max(1, (int64) (2.0 * batch / Max(per_block, 1.0)));
		start_tid = palloc(sizeof(ItemPointerData));
		ItemPointerSet(start_tid, start, 0);
	}
	if (fast)
		optimistic = ret_batch_sql(p, have_pos, true, "cand", blocks);
	stepsql = ret_batch_sql(p, have_pos, fast, "lk", blocks);
	types[0] = TIMESTAMPTZOID;
	values[0] = cutoff;
	types[1] = TIMESTAMPTZOID;
	values[1] = have_pos ? pos_age : (Datum) 0;
	types[2] = TIDOID;
	values[2] = have_pos ? pos_ctid : (Datum) 0;
	types[3] = INT8OID;
	values[3] = Int64GetDatum(batch);
	memset(nulls, ' ', sizeof(nulls));
	if (!have_pos)
		nulls[1] = nulls[2] = 'n';
	if (blocks)
	{
		values[2] = PointerGetDatum(start_tid);
		values[3] = Int64GetDatum(end_block);
		nulls[2] = ' ';
	}
	if (!fast || !ret_try_optimistic(p, optimistic, types, values, nulls))
	{
		ret_become(p->owner, true, &su);
		ret_exec(stepsql, 4, types, values, nulls, SPI_OK_SELECT);
		ret_restore(&su);
	}
	ncand = DatumGetInt64(ret_get(0, 1, &isnull));
	if (blocks)
	{
		/* the position is the next block, whatever the window held */
		ItemPointer ip = palloc(sizeof(ItemPointerData));

		ItemPointerSet(ip, (BlockNumber) end_block, 0);
		last_ctid = PointerGetDatum(ip);
		last_age = cutoff;
		last_null = false;
	}
	else if (ncand > 0)
	{
		ItemPointer ip = palloc(sizeof(ItemPointerData));

		last_age = ret_get(0, 2, &last_null);
		ItemPointerCopy((ItemPointer) DatumGetPointer(ret_get(0, 3, &isnull)), ip);
		last_ctid = PointerGetDatum(ip);
	}
	changed = DatumGetInt64(ret_get(0, 5, &isnull));
	locked = DatumGetArrayTypePCopy(ret_get(0, 4, &isnull));
	nlocked = ArrayGetNItems(ARR_NDIM(locked), ARR_DIMS(locked));
	apply = locked;

	/* 3. holds and pseudonyms, as the extension owner, in a new statement */
	if (nlocked > 0)
	{
		if (holdfilter != NULL || p->nhash > 0)
		{
			ListCell   *lc;
			Datum	   *ctids;
			int			k;

			resetStringInfo(&sql);
			appendStringInfoString(&sql, "SELECT t.ctid");
			foreach(lc, p->columns)
			{
				RetColumn  *c = lfirst(lc);

				if (c->hash)
					appendStringInfo(&sql, ", CAST(%s AS pg_catalog.text)", c->newexpr);
			}
			appendStringInfo(&sql, " FROM ONLY %s t WHERE t.ctid = ANY ($1)", p->qualname);
			if (holdfilter != NULL)
				appendStringInfo(&sql, " AND NOT COALESCE((%s), false)", holdfilter);
			types[0] = TIDARRAYOID;
			values[0] = PointerGetDatum(locked);
			ret_exec(sql.data, 1, types, values, NULL, SPI_OK_SELECT);
			nheld = nlocked - (int64) SPI_processed;
			ctids = palloc(sizeof(Datum) * (SPI_processed + 1));
			if (p->nhash > 0)
			{
				hashvals = palloc(sizeof(Datum) * p->nhash * (SPI_processed + 1));
				hashnulls = palloc(sizeof(bool) * p->nhash * (SPI_processed + 1));
			}
			for (uint64 i = 0; i < SPI_processed; i++)
			{
				ItemPointer ip = palloc(sizeof(ItemPointerData));

				ItemPointerCopy((ItemPointer) DatumGetPointer(ret_get(i, 1, &isnull)), ip);
				ctids[i] = PointerGetDatum(ip);
				for (k = 0; k < p->nhash; k++)
				{
					Datum		v = ret_get(i, k + 2, &hashnulls[k * SPI_processed + i]);

					hashvals[k * SPI_processed + i] =
						hashnulls[k * SPI_processed + i] ? (Datum) 0 : PointerGetDatum(DatumGetTextPCopy(v));
				}
			}
			nlocked = (int) SPI_processed;
			apply = construct_array(ctids, nlocked, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT);
		}
	}

	/* 4. the change itself, as the table owner, security-restricted */
	if (nlocked > 0)
	{
		int			nargs = 1;
		Oid			dtypes[1 + 64];
		Datum		dvalues[1 + 64];
		ListCell   *lc;

		resetStringInfo(&sql);
		dtypes[0] = TIDARRAYOID;
		dvalues[0] = PointerGetDatum(apply);
		if (!p->anonymize)
			appendStringInfo(&sql, "DELETE FROM ONLY %s t WHERE t.ctid = ANY ($1)", p->qualname);
		else
		{
			int			k = 0;
			bool		first = true;

			if (p->nhash > 64)
				ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
								errmsg("a retention policy may hash at most 64 columns")));
			appendStringInfo(&sql, "UPDATE ONLY %s t SET ", p->qualname);
			foreach(lc, p->columns)
			{
				RetColumn  *c = lfirst(lc);

				if (c->hash)
				{
					appendStringInfo(&sql, "%s%s = CAST(v.h%d AS %s)", first ? "" : ", ",
									 quote_identifier(c->name), k,
									 format_type_with_typemod(c->typid, c->typmod));
					dtypes[1 + k] = TEXTARRAYOID;
					dvalues[1 + k] = PointerGetDatum(construct_md_array(&hashvals[k * nlocked],
																	   &hashnulls[k * nlocked], 1,
																	   &nlocked, (int[]) {1},
																	   TEXTOID, -1, false, TYPALIGN_INT));
					k++;
				}
				else
					appendStringInfo(&sql, "%s%s = %s", first ? "" : ", ",
									 quote_identifier(c->name), c->newexpr);
				first = false;
			}
			nargs = 1 + k;
			if (k > 0)
			{
				appendStringInfoString(&sql, " FROM ROWS FROM (pg_catalog.unnest($1)");
				for (int j = 0; j < k; j++)
					appendStringInfo(&sql, ", pg_catalog.unnest($%d)", j + 2);
				appendStringInfoString(&sql, ") AS v(c");
				for (int j = 0; j < k; j++)
					appendStringInfo(&sql, ", h%d", j);
				appendStringInfoString(&sql, ") WHERE t.ctid = v.c");
			}
			else
				appendStringInfoString(&sql, " WHERE t.ctid = ANY ($1)");
		}
		ret_become(p->owner, true, &su);
		ret_exec(sql.data, nargs, dtypes, dvalues, NULL,
				 p->anonymize ? SPI_OK_UPDATE : SPI_OK_DELETE);
		ret_restore(&su);
		changed = (int64) SPI_processed;
	}

	/* 5. position and counters, as the extension owner */
finish:
	p->qualname = parent_qualname;
	*done = blocks ? end_block >= nblocks : ncand < batch;
	if (p->partitioned && *done && OidIsValid(leaf))
	{
		/* this leaf is finished: move on to the next one, if any */
		Oid			next = ret_next_leaf(p->relid, leaf);

		if (OidIsValid(next))
		{
			*done = false;
			leaf = next;
			last_null = true;
		}
	}
	next_leaf = leaf;
	INSTR_TIME_SET_CURRENT(t1);
	INSTR_TIME_SUBTRACT(t1, t0);
	types[0] = INT8OID;
	values[0] = Int64GetDatum(p->id);
	types[1] = TIMESTAMPTZOID;
	values[1] = last_age;
	types[2] = TIDOID;
	values[2] = last_ctid;
	memset(nulls, ' ', sizeof(nulls));
	types[3] = OIDOID;
	values[3] = ObjectIdGetDatum(next_leaf);
	if (!blocks && (last_null || ncand == 0))
		nulls[1] = nulls[2] = 'n';
	if (!OidIsValid(next_leaf))
		nulls[3] = 'n';
	if (*done)
		ret_exec("UPDATE privacy.retention_state SET cutoff = NULL, pos_age = NULL, "
				 "pos_ctid = NULL, pos_rel = NULL, pos_mode = NULL, run = NULL, failures = 0, last_error = NULL, "
				 "next_try = '-infinity' WHERE policy = $1",
				 1, types, values, NULL, SPI_OK_UPDATE);
	else
	{
		/* the position, the leaf and the mode of the pass, all in this batch's transaction */
		Oid			ut[5];
		Datum		uv[5];
		char		un[5];

		memcpy(ut, types, sizeof(Oid) * 4);
		memcpy(uv, values, sizeof(Datum) * 4);
		memcpy(un, nulls, 4);
		ut[4] = CHAROID;
		uv[4] = CharGetDatum(blocks ? 'b' : 'a');
		un[4] = ' ';
		ret_exec("UPDATE privacy.retention_state SET pos_age = $2, pos_ctid = $3, pos_rel = $4, pos_mode = $5"
				 " WHERE policy = $1", 5, ut, uv, un, SPI_OK_UPDATE);
	}

	types[0] = INT8OID;
	values[0] = Int64GetDatum(run);
	types[1] = INT8OID;
	values[1] = Int64GetDatum(changed);
	types[2] = INT8OID;
	values[2] = Int64GetDatum(nheld);
	types[3] = FLOAT8OID;
	values[3] = Float8GetDatum(INSTR_TIME_GET_MILLISEC(t1));
	ret_exec(*done ?
			 "UPDATE privacy.retention_runs SET rows = rows + $2, held = held + $3, "
			 "batches = batches + 1, longest_batch_ms = GREATEST(longest_batch_ms, $4), "
			 "finished = pg_catalog.clock_timestamp() WHERE id = $1" :
			 "UPDATE privacy.retention_runs SET rows = rows + $2, held = held + $3, "
			 "batches = batches + 1, longest_batch_ms = GREATEST(longest_batch_ms, $4) "
			 "WHERE id = $1",
			 4, types, values, NULL, SPI_OK_UPDATE);
	AtEOXact_GUC(true, level);
	return changed;
}

/*
 * ret_begin_run
 *		Start (or resume) the pass of a policy and open a run row.  Returns
 *		the run id, 0 when the worker finds the policy busy.
 */
static int64
ret_begin_run(RetPolicy *p, bool worker)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(p->id)};
	bool		isnull;
	Datum		old;
	int			level = ret_pin_settings();
	int64		run;

	/* runtime state is not dumped: a restored policy gets its row here */
	ret_exec("INSERT INTO privacy.retention_state (policy) VALUES ($1) ON CONFLICT DO NOTHING",
			 1, types, values, NULL, SPI_OK_INSERT);
	ret_exec(worker ?
			 "SELECT run FROM privacy.retention_state WHERE policy = $1 FOR UPDATE SKIP LOCKED" :
			 "SELECT run FROM privacy.retention_state WHERE policy = $1 FOR UPDATE",
			 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
	{
		AtEOXact_GUC(true, level);
		return 0;
	}
	old = ret_get(0, 1, &isnull);
	if (!isnull)
	{
		/* a run that was interrupted (worker killed): close it, resume its pass */
		types[0] = INT8OID;
		values[0] = old;
		ret_exec("UPDATE privacy.retention_runs SET finished = pg_catalog.clock_timestamp(), "
				 "error = 'interrupted' WHERE id = $1 AND finished IS NULL",
				 1, types, values, NULL, SPI_OK_UPDATE);
	}
	values[0] = Int64GetDatum(p->id);
	ret_exec("INSERT INTO privacy.retention_runs (policy) VALUES ($1) RETURNING id",
			 1, types, values, NULL, SPI_OK_INSERT_RETURNING);
	run = DatumGetInt64(ret_get(0, 1, &isnull));
	{
		Oid			t2[3] = {INT8OID, INT8OID, TEXTOID};
		Datum		v2[3];

		v2[0] = Int64GetDatum(p->id);
		v2[1] = Int64GetDatum(run);
		v2[2] = CStringGetTextDatum(p->keep);
		ret_exec("UPDATE privacy.retention_state SET run = $2, "
				 "cutoff = COALESCE(cutoff, pg_catalog.now() - CAST($3 AS pg_catalog.interval)) "
				 "WHERE policy = $1",
				 3, t2, v2, NULL, SPI_OK_UPDATE);
	}
	AtEOXact_GUC(true, level);
	return run;
}

int64
RetentionRunPolicy(int64 policy, bool own_xacts, bool *busy)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "retention run",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext batchcxt = AllocSetContextCreate(cxt, "retention batch",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	RetPolicy  *p;
	Oid			extowner;
	RetUser		su;
	int64		run;
	int64		total = 0;
	char		label[64];
	bool		done = false;
	bool		lost = false;

	if (busy)
		*busy = false;
	snprintf(label, sizeof(label), "retention policy " INT64_FORMAT " batch", policy);

	/* begin: resolve the policy, open the run */
	ret_xact_begin(own_xacts, cxt);
	extowner = ret_extension_owner();
	ret_become(extowner, false, &su);
	p = ret_load_policy(policy);
	run = ret_begin_run(p, own_xacts);
	ret_restore(&su);
	ret_xact_end(own_xacts, cxt);
	if (run == 0)
	{
		if (busy)
			*busy = true;
		MemoryContextSwitchTo(oldcxt);
		MemoryContextDelete(cxt);
		return 0;
	}

	while (!done && !lost)
	{
		CHECK_FOR_INTERRUPTS();
		if (own_xacts)
		{
			if (ConfigReloadPending)
			{
				ConfigReloadPending = false;
				ProcessConfigFile(PGC_SIGHUP);
			}
			if (WorkerDatabaseLeaveRequested())
				proc_exit(0);
			pgstat_report_activity(STATE_RUNNING, label);
		}
		ret_xact_begin(own_xacts, batchcxt);
		ret_become(extowner, false, &su);
		total += ret_batch(p, run, extowner, own_xacts, &done, &lost);
		if (done)
		{
			char	   *detail = psprintf("{\"policy\": " INT64_FORMAT ", \"rows\": " INT64_FORMAT "}",
										  policy, total);

			AuditAppend("run_retention", NULL, detail);
		}
		ret_restore(&su);
		ret_xact_end(own_xacts, cxt);
		MemoryContextReset(batchcxt);
	}
	if (lost && busy)
		*busy = true;
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
	return total;
}

int64 *
RetentionDuePolicies(int *npolicies)
{
	int64	   *ids;
	bool		isnull;
	RetUser		su;

	ret_become(ret_extension_owner(), false, &su);
	ret_exec("SELECT r.id FROM privacy.retention r "
			 "LEFT JOIN privacy.retention_state s ON s.policy OPERATOR(pg_catalog.=) r.id "
			 "WHERE s.next_try IS NULL OR s.next_try OPERATOR(pg_catalog.<=) pg_catalog.now() ORDER BY r.id",
			 0, NULL, NULL, NULL, SPI_OK_SELECT);
	ret_restore(&su);
	*npolicies = (int) SPI_processed;
	ids = palloc(sizeof(int64) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
		ids[i] = DatumGetInt64(ret_get(i, 1, &isnull));
	return ids;
}

void
RetentionRecordFailure(int64 policy, const char *message)
{
	ret_record_failure(policy, message, true);
}

/*
 * ret_record_failure
 *		Record a failed run of a policy and schedule its retry; in a
 *		transaction of its own (the worker) or in the caller's.
 */
static void
ret_record_failure(int64 policy, const char *message, bool own_xacts)
{
	Oid			types[3] = {INT8OID, TEXTOID, INT4OID};
	Datum		values[3];
	RetUser		su;
	MemoryContext cxt = CurrentMemoryContext;

	ret_xact_begin(own_xacts, cxt);
	ret_become(ret_extension_owner(), false, &su);
	values[0] = Int64GetDatum(policy);
	values[1] = CStringGetTextDatum(message);
	values[2] = Int32GetDatum(privacy_retention_naptime);
	ret_exec("WITH s AS (SELECT run FROM privacy.retention_state WHERE policy = $1), "
			 "u AS (UPDATE privacy.retention_runs SET finished = pg_catalog.clock_timestamp(), "
			 "error = $2 WHERE id = (SELECT run FROM s) AND finished IS NULL RETURNING 1) "
			 "INSERT INTO privacy.retention_runs (policy, finished, error) "
			 "SELECT $1, pg_catalog.clock_timestamp(), $2 "
			 "WHERE NOT EXISTS (SELECT FROM u) AND EXISTS (SELECT FROM privacy.retention WHERE id = $1)",
			 2, types, values, NULL, SPI_OK_INSERT);
	/* retry after naptime * 2^failures, at most an hour */
	ret_exec("UPDATE privacy.retention_state SET run = NULL, failures = failures + 1, "
			 "last_error = $2, next_try = pg_catalog.clock_timestamp() + "
			 "pg_catalog.make_interval(secs => LEAST(3600, $3 * pg_catalog.power(2, LEAST(failures, 12)))) "
			 "WHERE policy = $1",
			 3, types, values, NULL, SPI_OK_UPDATE);
	ret_restore(&su);
	ret_xact_end(own_xacts, cxt);
}

/*-------------------------------------------------------------------------
 * SQL-callable functions
 *-------------------------------------------------------------------------
 */

/*
 * privacy_add_retention
 *		add_retention(tbl, age_column, keep, action, columns) RETURNS bigint.
 *		The caller must own the table or be a member of privacy_admin.
 */
Datum
privacy_add_retention(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *agecol;
	Interval   *keep;
	char	   *action;
	ArrayType  *columns = PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4);
	Oid			caller = GetUserId();
	Oid			extowner;
	AttrNumber	attnum;
	Oid			agetype;
	int32		agetypmod;
	Oid			coll;
	RetUser		su;
	int64		id;
	bool		isnull;
	Oid			types[6] = {OIDOID, NAMEOID, INTERVALOID, TEXTOID, NAMEARRAYOID, NAMEOID};
	Datum		values[6];
	char		nulls[6] = "      ";

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("tbl, age_column, keep and action must not be null")));
	relid = PG_GETARG_OID(0);
	agecol = NameStr(*PG_GETARG_NAME(1));
	keep = PG_GETARG_INTERVAL_P(2);
	action = text_to_cstring(PG_GETARG_TEXT_PP(3));

	(void) ret_check_table(relid);
	if (!pg_class_ownercheck(relid, caller) && !ret_is_admin(caller))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("permission denied to add a retention policy on table %s",
							   get_rel_name(relid)),
						errhint("Only the table's owner or a member of privacy_admin may.")));

	attnum = ret_column(relid, agecol);
	get_atttypetypmodcoll(relid, attnum, &agetype, &agetypmod, &coll);
	agetype = getBaseType(agetype);
	if (agetype != DATEOID && agetype != TIMESTAMPOID && agetype != TIMESTAMPTZOID)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("age column \"%s\" must be of type date, timestamp or timestamptz", agecol)));
	if (keep->month < 0 || keep->day < 0 || keep->time < 0 ||
		(keep->month == 0 && keep->day == 0 && keep->time == 0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("keep must be a positive interval")));
	if (strcmp(action, "delete") != 0 && strcmp(action, "anonymize") != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("unknown retention action \"%s\"", action),
						errhint("The action is \"delete\" or \"anonymize\".")));
	if (strcmp(action, "delete") == 0 && columns != NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("columns apply to action \"anonymize\" only")));

	extowner = ret_extension_owner();
	ret_spi_connect();
	ret_become(extowner, false, &su);
	if (strcmp(action, "anonymize") == 0)
	{
		List	   *cols = ret_resolve_columns(relid, columns);

		if (cols == NIL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("table %s has no columns to anonymize", get_rel_name(relid)),
							errhint("Classify its personal columns or name them in columns.")));
	}
	values[0] = ObjectIdGetDatum(relid);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = PointerGetDatum(keep);
	values[3] = CStringGetTextDatum(action);
	values[4] = columns ? PointerGetDatum(columns) : (Datum) 0;
	if (columns == NULL)
		nulls[4] = 'n';
	values[5] = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(caller, false)));
	ret_exec("INSERT INTO privacy.retention (table_name, age_column, keep, action, columns, created_by) "
			 "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
			 6, types, values, nulls, SPI_OK_INSERT_RETURNING);
	id = DatumGetInt64(ret_get(0, 1, &isnull));
	types[0] = INT8OID;
	values[0] = Int64GetDatum(id);
	ret_exec("INSERT INTO privacy.retention_state (policy) VALUES ($1)",
			 1, types, values, NULL, SPI_OK_INSERT);
	types[0] = OIDOID;
	values[0] = ObjectIdGetDatum(relid);
	types[1] = INT2OID;
	values[1] = Int16GetDatum(attnum);
	ret_exec("SELECT 1 FROM pg_catalog.pg_index WHERE indrelid = $1 AND indkey[0] = $2 "
			 "AND indpred IS NULL AND indisvalid",
			 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(NOTICE, (errmsg("no index on column \"%s\" of table %s", agecol, get_rel_name(relid)),
						 errhint("Retention batches walk the age column; create an index on it.")));
	AuditAppend("add_retention", NULL,
				psprintf("{\"policy\": " INT64_FORMAT "}", id));
	ret_restore(&su);
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * privacy_drop_retention
 *		drop_retention(policy bigint): the table's owner or privacy_admin.
 */
Datum
privacy_drop_retention(PG_FUNCTION_ARGS)
{
	int64		id;
	Oid			caller = GetUserId();
	RetUser		su;
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	bool		isnull;
	Oid			relid;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("policy must not be null")));
	id = PG_GETARG_INT64(0);
	values[0] = Int64GetDatum(id);
	ret_spi_connect();
	ret_become(ret_extension_owner(), false, &su);
	ret_exec("SELECT table_name::oid FROM privacy.retention WHERE id = $1 FOR UPDATE",
			 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("retention policy %lld does not exist", (long long) id)));
	relid = DatumGetObjectId(ret_get(0, 1, &isnull));
	if (!ret_is_admin(caller) &&
		!(get_rel_name(relid) != NULL && pg_class_ownercheck(relid, caller)))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("permission denied to drop retention policy %lld", (long long) id),
						errhint("Only the table's owner or a member of privacy_admin may.")));
	ret_exec("DELETE FROM privacy.retention WHERE id = $1", 1, types, values, NULL, SPI_OK_DELETE);
	AuditAppend("drop_retention", NULL, psprintf("{\"policy\": " INT64_FORMAT "}", id));
	ret_restore(&su);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * privacy_run_retention
 *		run_retention(policy bigint DEFAULT NULL) RETURNS bigint: enforce one
 *		or every policy of this database now, in the caller's transaction.
 */
Datum
privacy_run_retention(PG_FUNCTION_ARGS)
{
	int64		total = 0;

	if (!PG_ARGISNULL(0))
		total = RetentionRunPolicy(PG_GETARG_INT64(0), false, NULL);
	else
	{
		RetUser		su;
		int64	   *ids;
		int			n;
		bool		isnull;

		ret_spi_connect();
		ret_become(ret_extension_owner(), false, &su);
		ret_exec("SELECT id FROM privacy.retention ORDER BY id", 0, NULL, NULL, NULL, SPI_OK_SELECT);
		ret_restore(&su);
		n = (int) SPI_processed;
		ids = palloc(sizeof(int64) * (n + 1));
		for (int i = 0; i < n; i++)
			ids[i] = DatumGetInt64(ret_get(i, 1, &isnull));
		SPI_finish();

		/*
		 * Every policy in a subtransaction of its own: a failing policy is
		 * rolled back, recorded (retention_runs.error, retry later) and
		 * reported as a WARNING, and does not stop the others.
		 */
		for (int i = 0; i < n; i++)
		{
			MemoryContext cxt = CurrentMemoryContext;
			ResourceOwner owner = CurrentResourceOwner;

			BeginInternalSubTransaction(NULL);
			MemoryContextSwitchTo(cxt);
			PG_TRY();
			{
				total += RetentionRunPolicy(ids[i], false, NULL);
				ReleaseCurrentSubTransaction();
				MemoryContextSwitchTo(cxt);
				CurrentResourceOwner = owner;
			}
			PG_CATCH();
			{
				ErrorData  *edata = ret_subxact_caught(cxt, owner);

				ret_record_failure(ids[i], edata->message, false);
				ereport(WARNING,
						(errcode(edata->sqlerrcode),
						 errmsg("retention policy " INT64_FORMAT " failed; the other policies ran", ids[i]),
						 errdetail("The error is recorded in privacy.retention_runs.")));
				FreeErrorData(edata);
			}
			PG_END_TRY();
		}
	}
	PG_RETURN_INT64(total);
}

/*
 * privacy_retention_backlog
 *		retention_backlog(policy bigint) RETURNS bigint: rows the policy
 *		would change now, counted exactly up to BACKLOG_EXACT (a bounded
 *		index range scan), above that the planner's estimate; run as the
 *		table's owner, security-restricted.
 */
Datum
privacy_retention_backlog(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	RetUser		su;
	RetPolicy  *p;
	char	   *sql;
	char	   *cond;
	char	   *plan;
	char	   *rows;
	bool		isnull;
	int64		estimate = 0;
	Oid			extowner = ret_extension_owner();

	ret_spi_connect();
	ret_become(extowner, false, &su);
	p = ret_load_policy(id);
	ret_restore(&su);
	/* exact up to BACKLOG_EXACT rows (an index range scan), then the planner's estimate */
	cond = psprintf("t.%s < pg_catalog.now() - CAST(%s AS pg_catalog.interval)%s%s",
					p->age, quote_literal_cstr(p->keep),
					p->needs ? " AND " : "", p->needs ? p->needs : "");
	sql = psprintf("SELECT pg_catalog.count(*) FROM (SELECT 1 FROM %s%s t WHERE %s LIMIT %d) s",
				   p->partitioned ? "" : "ONLY ", p->qualname, cond, BACKLOG_EXACT + 1);
	ret_become(p->owner, true, &su);
	ret_exec(sql, 0, NULL, NULL, NULL, SPI_OK_SELECT);
	estimate = DatumGetInt64(ret_get(0, 1, &isnull));
	if (estimate > BACKLOG_EXACT)
	{
		ret_exec(psprintf("EXPLAIN (FORMAT JSON) SELECT 1 FROM %s%s t WHERE %s",
						  p->partitioned ? "" : "ONLY ", p->qualname, cond),
				 0, NULL, NULL, NULL, SPI_OK_UTILITY);
		plan = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		rows = plan ? strstr(plan, "\"Plan Rows\":") : NULL;
		if (rows)
			estimate = Max(estimate, strtoll(rows + strlen("\"Plan Rows\":"), NULL, 10));
	}
	ret_restore(&su);
	SPI_finish();
	PG_RETURN_INT64(estimate);
}
