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
 *	 3. as the table owner, security-restricted (a new statement, so a new
 *		snapshot): drop the locked rows that belong to a subject under an
 *		active hold (ret_hold_filter: any subject of a shared row) and
 *		compute keyed pseudonyms for 'hash' columns; then the dependents
 *		(delete policies: deleted first, or the row is blocked).  Steps 2
 *		and 3 run in a pseudonym scope (src/guard.c): their statements
 *		carry its token as $4, the only way to verify or compute a
 *		pseudonym or to ask privacy._held / privacy._held_keys;
 *	 4. as the table owner, security-restricted: DELETE / UPDATE the
 *		remaining rows by ctid (user triggers never run as a superuser);
 *	 5. as the extension owner: store the position and the run's counters.
 * TimeZone is pinned to the policy's zone and DateStyle to ISO inside a batch, so
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

#include "citus.h"
#include "guard.h"
#include "retention.h"

PG_FUNCTION_INFO_V1(privacy_add_retention);
PG_FUNCTION_INFO_V1(privacy_drop_retention);
PG_FUNCTION_INFO_V1(privacy_run_retention);
PG_FUNCTION_INFO_V1(privacy_pseudonym);
PG_FUNCTION_INFO_V1(privacy_is_pseudonym);
PG_FUNCTION_INFO_V1(privacy_retention_backlog);
PG_FUNCTION_INFO_V1(privacy_retention_problem);

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
	char	   *agename;		/* age column's current name (unquoted) */
	AttrNumber	age_attnum;
	bool		fix_column;		/* the stored name or attnum is out of date */
	bool		cascade;
	char	   *time_zone;		/* NULL: the database's default */
	List	   *deps;			/* RetDep *, breadth first (delete policies) */
	char	   *holdfilter;		/* row t of the table belongs to a held subject */
} RetPolicy;

/*
 * A table that depends on the policy's table through a foreign key (at any
 * depth): its rows referencing an expiring row go first, or, when one of
 * them must stay, make that row blocked.
 */
typedef struct RetDep
{
	int			parent;			/* index in deps of the referenced table, -1: the policy's */
	Oid			relid;
	char	   *qualname;		/* quoted, with ONLY unless partitioned */
	char	   *join;			/* SQL: row c references row p */
	char	   *stay;			/* SQL on alias c: the row must stay, or NULL */
	bool		holds;			/* in a subject map: its held rows stay */
	bool		indexed;		/* an index leads with the referencing columns */
	char	   *name;			/* for the blocked WARNING */
} RetDep;

#define RET_MAX_DEPTH 8

static bool ret_fk_indexed(Oid relid, AttrNumber *cols, int ncols);
static char *ret_needs_sql(RetPolicy *p);

/* Saved user identity around a switch. */
typedef struct RetUser
{
	int			frame;			/* guard frame (src/guard.c) */
} RetUser;

/*
 * ret_become
 *		Switch to role through guard.c: restricted (user code of the table,
 *		as its owner, the owner's search_path, protect()'s policies
 *		bypassed), or the extension owner's catalog work (search_path
 *		pinned).  An aborted (sub)transaction drops the frame.
 */
static void
ret_become(Oid role, bool restricted, RetUser *save)
{
	if (restricted)
	{
		save->frame = GuardEnterRole(role);
		GuardSetRowSecurityBypass(true);
	}
	else
		save->frame = GuardEnterPinned(role, 0);
}

static void
ret_restore(RetUser *save)
{
	GuardLeave(save->frame);
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
	CitusRefuseDistributed(relid, "retention");	/* CITUS HOOK: ctid batches */
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
 * ret_scope_arg
 *		The scope argument of the pseudonym functions in generated SQL: in
 *		a pseudonym scope the token, which travels as the statement's
 *		parameter GUARD_SCOPE_PARAM (never in its text, src/guard.h);
 *		outside one a null, which only a superuser may compute with.
 */
static const char *
ret_scope_arg(void)
{
	return GuardPseudonymToken() != NULL ?
		"CAST(" GUARD_SCOPE_PARAM " AS pg_catalog.text)" : "CAST(NULL AS pg_catalog.text)";
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
			return psprintf("CAST(pg_catalog.decode(privacy.pseudonym(pg_catalog.encode(%s, 'hex'), %d, %s), 'hex') AS %s)",
							colexpr, PSEUDONYM_BYTES * 2, ret_scope_arg(), typname);
		return psprintf("CAST(privacy.pseudonym(CAST(%s AS pg_catalog.text), %d, %s) AS %s)",
						colexpr, len, ret_scope_arg(), typname);
	}
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("unknown erasure strategy \"%s\"", strategy)));
	return NULL;				/* keep compiler quiet */
}

char *
RetentionRewriteDoneExpr(Oid typid, int32 typmod, const char *strategy, const char *colexpr)
{
	if (strcmp(strategy, "null") == 0 || strcmp(strategy, "delete") == 0)
		return psprintf("(%s IS NULL)", colexpr);
	if (strcmp(strategy, "redact") == 0)
		return psprintf("(%s IS NOT DISTINCT FROM %s)", colexpr,
						RetentionRewriteExpr(typid, typmod, strategy, colexpr));
	if (strcmp(strategy, "hash") == 0)
	{
		/*
		 * Never a value's shape (hex of some length, 16 bytes: it may be the
		 * person's data): a pseudonym carries a keyed tag of its body, and
		 * only a value whose tag verifies under this database's secret was
		 * written by the extension.
		 */
		int32		basetypmod = typmod;
		Oid			basetype = getBaseTypeAndTypmod(typid, &basetypmod);
		int			len = ret_hash_length(basetype, basetypmod);

		if (len < 0)
			return psprintf("(%s IS NULL OR privacy.is_pseudonym(pg_catalog.encode(%s, 'hex'), %d, %s))",
							colexpr, colexpr, PSEUDONYM_BYTES * 2, ret_scope_arg());
		return psprintf("(%s IS NULL OR privacy.is_pseudonym(CAST(%s AS pg_catalog.text), %d, %s))",
						colexpr, colexpr, len, ret_scope_arg());
	}
	return NULL;
}

/*
 * ret_pseudonym_hex
 *		The pseudonym of in, len hex characters (1..32): a keyed body (the
 *		first len - len/2 characters) followed by a keyed tag of the body
 *		(len/2 characters), so that the extension recognizes the values it
 *		wrote (ret_is_pseudonym) without judging any value by its shape.
 *		out has room for len + 1 characters.
 */
static void
ret_pseudonym_hex(const unsigned char *in, size_t inlen, int len, char *out)
{
	unsigned char body[PSEUDONYM_BYTES];
	unsigned char tag[PSEUDONYM_BYTES];
	char		hex[PSEUDONYM_BYTES * 2 + 1];
	int			tlen = len / 2;
	int			blen = len - tlen;

	UtilKeyedHash("privacy.pseudonym", in, inlen, body, sizeof(body));
	sodium_bin2hex(hex, sizeof(hex), body, sizeof(body));
	memcpy(out, hex, blen);
	UtilKeyedHash("privacy.pseudonym.tag", (const unsigned char *) out, blen, tag, sizeof(tag));
	sodium_bin2hex(hex, sizeof(hex), tag, sizeof(tag));
	memcpy(out + blen, hex, tlen);
	out[len] = '\0';
}

/*
 * ret_is_pseudonym
 *		Was value (vlen characters) written by ret_pseudonym_hex for length
 *		len?  Its tag must verify under the database's secret: a value that
 *		merely looks like a pseudonym passes with probability 16^-(len/2).
 *		A length of 1 has no tag: never recognized (rewritten again).
 */
static bool
ret_is_pseudonym(const char *value, size_t vlen, int len)
{
	unsigned char tag[PSEUDONYM_BYTES];
	char		hex[PSEUDONYM_BYTES * 2 + 1];
	int			tlen = len / 2;
	int			blen = len - tlen;

	if (tlen == 0 || vlen != (size_t) len)
		return false;
	UtilKeyedHash("privacy.pseudonym.tag", (const unsigned char *) value, blen, tag, sizeof(tag));
	sodium_bin2hex(hex, sizeof(hex), tag, sizeof(tag));
	return sodium_memcmp(hex, value + blen, tlen) == 0;
}

/*
 * ret_check_pseudonym_caller
 *		The pseudonym functions compute nothing outside erasure and
 *		retention: a pseudonym oracle would let anyone test guesses against
 *		stored pseudonyms.  Only a statement that carries the token of the
 *		open pseudonym scope (argument scopearg: erase's rewrite, retention's
 *		batch statements, built by the C code that knows the token, which no
 *		trigger, CHECK, operator or policy running meanwhile can read) or a
 *		superuser may.
 */
static void
ret_check_pseudonym_caller(FunctionCallInfo fcinfo, int scopearg)
{
	bool		scoped = PG_NARGS() > scopearg && !PG_ARGISNULL(scopearg) &&
		GuardPseudonymTokenValid(text_to_cstring(PG_GETARG_TEXT_PP(scopearg)));

	if (!scoped && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("privacy.pseudonym can only be used by erasure and retention"),
				 errhidestmt(true)));
}

/* length argument of the pseudonym functions: 1..32 */
static int
ret_pseudonym_len(FunctionCallInfo fcinfo, int argno)
{
	int			len = PG_NARGS() > argno ? PG_GETARG_INT32(argno) : PSEUDONYM_BYTES * 2;

	if (len < 1 || len > PSEUDONYM_BYTES * 2)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("pseudonym length must be between 1 and %d", PSEUDONYM_BYTES * 2)));
	return len;
}

/*
 * privacy_pseudonym
 *		privacy.pseudonym(value text, len int DEFAULT 32, scope text DEFAULT
 *		NULL) RETURNS text: the keyed pseudonym of the value (libsodium
 *		crypto_generichash under keys derived from the database's secret),
 *		len hex characters: a body and a tag of the body.  Equal inputs give
 *		equal outputs within one database.  Null value or len: null.
 */
Datum
privacy_pseudonym(PG_FUNCTION_ARGS)
{
	text	   *in;
	int			len;
	char		out[PSEUDONYM_BYTES * 2 + 1];

	ret_check_pseudonym_caller(fcinfo, 2);
	if (PG_ARGISNULL(0) || (PG_NARGS() > 1 && PG_ARGISNULL(1)))
		PG_RETURN_NULL();
	in = PG_GETARG_TEXT_PP(0);
	len = ret_pseudonym_len(fcinfo, 1);
	ret_pseudonym_hex((const unsigned char *) VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), len, out);
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

/*
 * privacy_is_pseudonym
 *		privacy.is_pseudonym(value text, len int, scope text DEFAULT NULL)
 *		RETURNS boolean: true when the value is a pseudonym of length len
 *		that this database wrote (its keyed tag verifies).  Same callers as
 *		privacy.pseudonym (it is an oracle of the tag key too).
 */
Datum
privacy_is_pseudonym(PG_FUNCTION_ARGS)
{
	text	   *in;
	int			len;

	ret_check_pseudonym_caller(fcinfo, 2);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	in = PG_GETARG_TEXT_PP(0);
	len = ret_pseudonym_len(fcinfo, 1);
	PG_RETURN_BOOL(ret_is_pseudonym(VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), len));
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
 * ret_default_zone
 *		The database's default TimeZone: ALTER DATABASE ... SET timezone when
 *		there is one, else the server's (the reset value: postgresql.conf for
 *		the worker).  SPI connected.
 */
static char *
ret_default_zone(void)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(MyDatabaseId)};

	ret_exec("SELECT pg_catalog.substr(x, pg_catalog.strpos(x, '=') OPERATOR(pg_catalog.+) 1)"
			 " FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) x"
			 " WHERE s.setdatabase OPERATOR(pg_catalog.=) $1 AND s.setrole OPERATOR(pg_catalog.=) 0"
			 " AND pg_catalog.lower(pg_catalog.split_part(x, '=', 1)) OPERATOR(pg_catalog.=) 'timezone'",
			 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return pstrdup(GetConfigOptionResetString("TimeZone"));
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
	Datum		d;
	char	   *agename;
	AttrNumber	stored_attnum = InvalidAttrNumber;
	ArrayType  *names = NULL;

	ret_exec("SELECT table_name::pg_catalog.oid, age_column::pg_catalog.text, keep::pg_catalog.text, "
			 "action, columns, age_attnum, cascade, time_zone "
			 "FROM privacy.retention WHERE id OPERATOR(pg_catalog.=) $1",
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
	d = ret_get(0, 5, &isnull);
	if (!isnull)
		names = DatumGetArrayTypePCopy(d);
	d = ret_get(0, 6, &isnull);
	if (!isnull)
		stored_attnum = DatumGetInt16(d);
	d = ret_get(0, 7, &isnull);
	p->cascade = isnull || DatumGetBool(d);
	p->time_zone = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 8);

	if (get_rel_name(p->relid) == NULL)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("the table of retention policy %lld no longer exists", (long long) id)));
	p->owner = ret_check_table(p->relid);
	p->partitioned = get_rel_relkind(p->relid) == RELKIND_PARTITIONED_TABLE;
	p->qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(p->relid)),
											 get_rel_name(p->relid));

	/*
	 * The age column: by name first (a restored dump renumbers columns),
	 * then by attribute number (a rename).
	 */
	p->age_attnum = get_attnum(p->relid, agename);
	if (p->age_attnum == InvalidAttrNumber && stored_attnum > 0)
	{
		HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(p->relid),
										  Int16GetDatum(stored_attnum));

		if (HeapTupleIsValid(tup))
		{
			Form_pg_attribute att = (Form_pg_attribute) GETSTRUCT(tup);

			if (!att->attisdropped)
			{
				agename = pstrdup(NameStr(att->attname));
				p->age_attnum = stored_attnum;
			}
			ReleaseSysCache(tup);
		}
	}
	if (p->age_attnum <= 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
						errmsg("the age column of retention policy %lld no longer exists", (long long) id),
						errhint("Drop the policy and add it again on an existing column.")));
	{
		Oid			agetype = getBaseType(get_atttype(p->relid, p->age_attnum));

		if (agetype != DATEOID && agetype != TIMESTAMPOID && agetype != TIMESTAMPTZOID)
			ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
							errmsg("the age column of retention policy %lld is no longer a date or timestamp",
								   (long long) id)));
	}
	p->fix_column = stored_attnum != p->age_attnum ||
		strcmp(agename, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)) != 0;
	p->agename = agename;
	p->age = pstrdup(quote_identifier(agename));
	if (p->time_zone == NULL)
		p->time_zone = ret_default_zone();

	if (p->anonymize)
	{
		ListCell   *lc;

		p->columns = ret_resolve_columns(p->relid, names);
		foreach(lc, p->columns)
		{
			RetColumn  *c = lfirst(lc);

			if (c->hash)
				p->nhash++;
		}
		p->needs = ret_needs_sql(p);
	}
	return p;
}

/*
 * ret_needs_sql
 *		Anonymize policy: SQL condition "row t still needs work" (a column
 *		does not hold what its strategy writes).  Built in the pseudonym
 *		scope of the statement that runs it: a hashed column's test
 *		verifies the pseudonym's tag with the scope's token ($4).
 */
static char *
ret_needs_sql(RetPolicy *p)
{
	ListCell   *lc;
	StringInfoData buf;

	if (!p->anonymize)
		return NULL;
	initStringInfo(&buf);
	foreach(lc, p->columns)
	{
		RetColumn  *c = lfirst(lc);

		appendStringInfo(&buf, "%s%s", buf.len > 0 ? " AND " : "",
						 RetentionRewriteDoneExpr(c->typid, c->typmod, c->strategy,
												  psprintf("t.%s", quote_identifier(c->name))));
	}
	return buf.len > 0 ? psprintf("NOT (%s)", buf.data) : "false";
}

/*
 * ret_hold_filter
 *		SQL condition true when row alias of relid belongs to a subject under
 *		an active legal hold, NULL when relid is in no map.  A referenced
 *		(outbound) row shared by several subjects is held when ANY of them
 *		is: the condition asks, per held key, whether the row belongs to
 *		that subject, instead of computing one key per row.
 *
 *		The condition converts keys with the types (and casts, domain
 *		CHECKs) of the tables concerned: it runs as the table's owner,
 *		never as the extension owner.  The owner cannot read privacy.holds:
 *		in a pseudonym scope (the only place it is executed) it asks
 *		privacy._held(subject, key, $4) and privacy._held_keys(subject, $4),
 *		which answer only with the scope's token.  Outside a scope the
 *		condition reads privacy.holds directly: only to know whether the
 *		table has a filter at all, never executed.
 */
static char *
ret_hold_filter(Oid relid, const char *alias)
{
	List	   *subjects = MapSubjectsOfTable(relid);
	ListCell   *lc,
			   *kc;
	StringInfoData buf;
	bool		first = true;
	bool		scoped = GuardPseudonymToken() != NULL;
	const char *token = "CAST(" GUARD_SCOPE_PARAM " AS pg_catalog.text)";
	const char *active = "h.released_at IS NULL AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())";

	if (subjects == NIL)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	foreach(lc, subjects)
	{
		MapSubject *subj = MapGetSubject(lfirst(lc));
		MapTable   *mt = MapFindTable(subj, relid);
		const char *keytype;

		if (mt == NULL)
			continue;
		keytype = format_type_with_typemod(subj->key_type, subj->key_typmod);
		if (mt->outbound)
		{
			if (scoped)
				appendStringInfo(&buf,
								 "%sEXISTS (SELECT 1 FROM privacy._held_keys(%s, %s) hk(k) WHERE (%s))",
								 first ? "" : " OR ", quote_literal_cstr(subj->name), token,
								 MapCondition(subj, mt, alias, psprintf("CAST(hk.k AS %s)", keytype)));
			else
				appendStringInfo(&buf,
								 "%sEXISTS (SELECT 1 FROM privacy.holds h WHERE h.subject OPERATOR(pg_catalog.=) %s"
								 " AND %s AND (%s))",
								 first ? "" : " OR ", quote_literal_cstr(subj->name), active,
								 MapCondition(subj, mt, alias, psprintf("CAST(h.subject_key AS %s)", keytype)));
			first = false;
			continue;
		}
		foreach(kc, MapKeyExprs(subj, mt, alias))
		{
			if (scoped)
				appendStringInfo(&buf,
								 "%sprivacy._held(%s, CAST((%s) AS pg_catalog.text), %s)",
								 first ? "" : " OR ", quote_literal_cstr(subj->name),
								 (char *) lfirst(kc), token);
			else
				appendStringInfo(&buf,
								 "%sEXISTS (SELECT 1 FROM privacy.holds h WHERE h.subject OPERATOR(pg_catalog.=) %s"
								 " AND %s AND h.subject_key OPERATOR(pg_catalog.=) CAST((%s) AS pg_catalog.text))",
								 first ? "" : " OR ", quote_literal_cstr(subj->name), active,
								 (char *) lfirst(kc));
			first = false;
		}
	}
	if (first)
		return NULL;
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * ret_table_must_stay
 *		Rows of relid must never be deleted by retention's cascade: the table
 *		is in anonymize mode or has a 'keep' column.  SPI connected, as the
 *		extension owner.
 */
static bool
ret_table_must_stay(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	ret_exec("SELECT 1 WHERE EXISTS (SELECT FROM privacy.table_modes m"
			 " WHERE m.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) $1"
			 " AND m.mode OPERATOR(pg_catalog.=) 'anonymize')"
			 " OR EXISTS (SELECT FROM privacy.classifications c"
			 " WHERE c.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) $1"
			 " AND c.erasure OPERATOR(pg_catalog.=) 'keep')",
			 1, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/*
 * ret_load_deps
 *		The tables that depend on the policy's table through foreign keys,
 *		breadth first, at most RET_MAX_DEPTH deep.  Keys with ON DELETE SET
 *		NULL / SET DEFAULT keep the referencing row: not followed.  A
 *		dependent that must stay (anonymize mode, a 'keep' column, no
 *		cascade through a NO ACTION/RESTRICT key) is a leaf whose every row
 *		blocks; otherwise its held rows block and its own dependents follow.
 *		Beyond the depth limit any dependent row blocks.
 */
static List *
ret_load_deps(RetPolicy *p)
{
	List	   *deps = NIL;
	List	   *level = list_make1_int(-1);
	int			depth;

	for (depth = 1; depth <= RET_MAX_DEPTH + 1 && level != NIL; depth++)
	{
		List	   *next = NIL;
		ListCell   *lc;

		foreach(lc, level)
		{
			int			pi = lfirst_int(lc);
			Oid			prel = pi < 0 ? p->relid : ((RetDep *) list_nth(deps, pi))->relid;
			ListCell   *hc;

			foreach(hc, MapForeignKeysInto(prel))
			{
				MapHop	   *h = lfirst(hc);
				RetDep	   *d;
				StringInfoData join;
				bool		leaf;

				if (h->deltype == 'n' || h->deltype == 'd')
					continue;	/* the row stays, its key is reset by PostgreSQL */
				d = palloc0(sizeof(RetDep));
				d->parent = pi;
				d->relid = h->rel;
				d->name = UtilQualifiedName(h->rel);
				d->qualname = psprintf("%s%s",
									   get_rel_relkind(h->rel) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
									   d->name);
				initStringInfo(&join);
				for (int i = 0; i < h->ncols; i++)
					appendStringInfo(&join, "%sc.%s OPERATOR(pg_catalog.=) p.%s", i > 0 ? " AND " : "",
									 quote_identifier(get_attname(h->rel, h->cols[i], false)),
									 quote_identifier(get_attname(prel, h->pcols[i], false)));
				d->join = join.data;
				d->indexed = ret_fk_indexed(h->rel, h->cols, h->ncols);
				leaf = true;
				if (depth > RET_MAX_DEPTH)
					d->stay = "true";	/* nested too deep to follow */
				else if (ret_table_must_stay(h->rel))
					d->stay = "true";
				else if (!p->cascade && h->deltype != 'c')
					d->stay = "true";
				else
				{
					/* its held rows stay: asked per batch, in the scope */
					d->holds = ret_hold_filter(h->rel, "c") != NULL;
					leaf = false;
				}
				deps = lappend(deps, d);
				if (!leaf)
					next = lappend_int(next, list_length(deps) - 1);
			}
		}
		level = next;
	}
	return deps;
}

/*
 * ret_pin_settings
 *		Pin TimeZone (the policy's zone: a timestamp without time zone is
 *		read in it, and the cutoff's calendar arithmetic follows its DST
 *		rules), DateStyle and lock_timeout for one batch;
 *		returns the GUC nest level to pass to AtEOXact_GUC.
 */
static int
ret_pin_settings(RetPolicy *p)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("TimeZone", p && p->time_zone ? p->time_zone : "UTC",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

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
 *		position, $4 the pseudonym scope's token, $5 batch size), locked
 *		FOR UPDATE SKIP LOCKED ("lk").
 *		With change, the same statement also deletes or rewrites the rows
 *		of src: "lk" (the locked rows) or "cand" (every candidate, waiting
 *		for row locks).  Columns: candidates, last age, last ctid, locked
 *		ctids (without change), rows changed.
 */
static char *
ret_batch_sql(RetPolicy *p, bool have_pos, bool change, const char *src, bool blocks,
			  const char *needs)
{
	StringInfoData sql;
	char	   *recheck = psprintf("t.%s < $1%s%s", p->age,
								   needs ? " AND " : "", needs ? needs : "");

	initStringInfo(&sql);
	if (blocks)
	{
		/*
		 * Block mode: every row of blocks [$3, $5) in physical order (a TID
		 * range scan) that the policy applies to; $2 is unused.
		 */
		appendStringInfo(&sql,
						 "WITH cand AS MATERIALIZED ("
						 "SELECT t.ctid AS c, t.%s AS a FROM ONLY %s t "
						 "WHERE t.ctid >= $3 AND t.ctid < CAST('(' || $5 || ',0)' AS pg_catalog.tid) AND %s), ",
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
		appendStringInfo(&sql, " ORDER BY t.%s, t.ctid LIMIT $5), ", p->age);
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
		ret_exec(sql, 5, types, values, nulls, SPI_OK_SELECT);
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

/* What one batch did, for the run's counters. */
typedef struct RetCounts
{
	int64		changed;
	int64		held;
	int64		blocked;
	int64		dependents;		/* dependent rows deleted with their parents */
	char	   *blocked_by;		/* first blocking table, or NULL */
} RetCounts;

/* The rows one dependent table contributes to a batch. */
typedef struct RetDepRows
{
	int			n;
	Datum	   *roots;			/* tid of the policy row each one depends on */
	Datum	   *oids;			/* tableoid */
	Datum	   *tids;			/* ctid */
} RetDepRows;

static int
ret_tid_cmp(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) a, (ItemPointer) b);
}

static ArrayType *
ret_tid_array(Datum *tids, int n)
{
	return construct_array(tids, n, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT);
}

/*
 * ret_pin_nestloop / AtEOXact_GUC
 *		Statements driven by a list of ctids join it to the table by a
 *		parameterized TID scan (one page access per row).  The planner
 *		prices a TID scan at a random page per row and, on a table of a few
 *		hundred thousand rows, would rather read the whole table (or index)
 *		for every batch: hash and merge joins are switched off for such a
 *		statement (single-table lookups, such as PostgreSQL's foreign-key
 *		checks, are unaffected).  Returns the GUC nest level to restore.
 */
static int
ret_pin_nestloop(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("enable_hashjoin", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_mergejoin", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/*
 * ret_fk_indexed
 *		Does an index of relid start with the columns cols (in any order)?
 *		Without one, a nested loop would scan relid once per parent row.
 */
static bool
ret_fk_indexed(Oid relid, AttrNumber *cols, int ncols)
{
	Oid			types[2] = {OIDOID, INT2ARRAYOID};
	Datum		values[2];
	Datum	   *elems = palloc(sizeof(Datum) * ncols);

	for (int i = 0; i < ncols; i++)
		elems[i] = Int16GetDatum(cols[i]);
	values[0] = ObjectIdGetDatum(relid);
	values[1] = PointerGetDatum(construct_array(elems, ncols, INT2OID, 2, true, TYPALIGN_SHORT));
	ret_exec("SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid OPERATOR(pg_catalog.=) $1"
			 " AND i.indisvalid AND i.indnkeyatts OPERATOR(pg_catalog.>=) pg_catalog.cardinality($2)"
			 " AND (i.indkey::pg_catalog.int2[])[0:pg_catalog.cardinality($2) OPERATOR(pg_catalog.-) 1]"
			 " OPERATOR(pg_catalog.@>) $2"
			 " AND $2 OPERATOR(pg_catalog.@>) (i.indkey::pg_catalog.int2[])[0:pg_catalog.cardinality($2) OPERATOR(pg_catalog.-) 1]",
			 2, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/*
 * ret_dependents_held
 *		Which of the rows r of dependent table d belong to a subject under
 *		an active legal hold (any of the subjects a shared row belongs to):
 *		sets stays[k] for them.  The hold filter converts keys with the
 *		owner's types and casts, so it runs as d's owner, security-
 *		restricted, asking privacy._held / privacy._held_keys with the
 *		scope's token ($4).
 */
static void
ret_dependents_held(RetDep *d, RetDepRows *r, bool *stays)
{
	char	   *filter = ret_hold_filter(d->relid, "c");
	Oid			types[GUARD_SCOPE_PARAMNO] = {OIDARRAYOID, TIDARRAYOID, TEXTOID, TEXTOID};
	Datum		values[GUARD_SCOPE_PARAMNO];
	RetUser		su;
	int			level;

	if (filter == NULL)
		return;
	values[0] = PointerGetDatum(construct_array(r->oids, r->n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	values[1] = PointerGetDatum(ret_tid_array(r->tids, r->n));
	values[2] = CStringGetTextDatum("");
	values[3] = CStringGetTextDatum(GuardPseudonymToken());
	level = ret_pin_nestloop();
	ret_become(UtilRelationOwner(d->relid), true, &su);
	ret_exec(psprintf("SELECT u.i FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))"
					  " WITH ORDINALITY u(o, t, i)"
					  " JOIN %s c ON c.ctid OPERATOR(pg_catalog.=) u.t AND c.tableoid OPERATOR(pg_catalog.=) u.o"
					  " WHERE COALESCE((%s), false)", d->qualname, filter),
			 GUARD_SCOPE_PARAMNO, types, values, NULL, SPI_OK_SELECT);
	ret_restore(&su);
	AtEOXact_GUC(true, level);
	for (uint64 k = 0; k < SPI_processed; k++)
	{
		bool		isnull;
		int64		idx = DatumGetInt64(ret_get(k, 1, &isnull));

		if (!isnull && idx >= 1 && idx <= r->n)
			stays[idx - 1] = true;
	}
}

/*
 * ret_dependents
 *		Delete policy, before the rows of apply (ctids of the leaf table
 *		leaf) are deleted: find, level by level, the rows that reference
 *		them (p->deps).  A policy row with a dependent that must stay is
 *		blocked: it and its dependents are left alone, counted in counts.
 *		The dependents of the other rows are deleted deepest first, each
 *		table as its owner (security-restricted).  Reads run as the
 *		extension owner with pg_catalog operators only (no user code);
 *		the hold checks of dependent rows run as their table's owner
 *		(ret_dependents_held).  In the batch's pseudonym scope.  Returns
 *		the ctids of apply that may now be deleted.
 */
static ArrayType *
ret_dependents(RetPolicy *p, Oid leaf, ArrayType *apply, RetCounts *counts)
{
	int			ndeps = list_length(p->deps);
	RetDepRows *rows = palloc0(sizeof(RetDepRows) * ndeps);
	Datum	   *atids;
	bool	   *anulls;
	int			napply;
	ItemPointerData *blocked;
	int			nblocked = 0;
	int			maxblocked;
	Datum	   *leafoids;
	Datum	   *keep;
	int			nkeep = 0;
	ListCell   *lc;
	int			i;
	bool	   *stays;

	deconstruct_array(apply, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT,
					  &atids, &anulls, &napply);
	if (napply == 0 || ndeps == 0)
		return apply;
	leafoids = palloc(sizeof(Datum) * napply);
	for (i = 0; i < napply; i++)
		leafoids[i] = ObjectIdGetDatum(leaf);
	maxblocked = napply;
	blocked = palloc(sizeof(ItemPointerData) * maxblocked);

	/* 1. the dependent rows, breadth first; which policy rows they block */
	i = 0;
	foreach(lc, p->deps)
	{
		RetDep	   *d = lfirst(lc);
		RetDepRows *pr = d->parent >= 0 ? &rows[d->parent] : NULL;
		Oid			types[3] = {TIDARRAYOID, OIDARRAYOID, TIDARRAYOID};
		Datum		values[3];
		char	   *sql;
		int			pn = pr ? pr->n : napply;

		if (pn == 0)
		{
			i++;
			continue;
		}
		values[0] = PointerGetDatum(ret_tid_array(pr ? pr->roots : atids, pn));
		values[1] = PointerGetDatum(construct_array(pr ? pr->oids : leafoids, pn, OIDOID,
													sizeof(Oid), true, TYPALIGN_INT));
		values[2] = PointerGetDatum(ret_tid_array(pr ? pr->tids : atids, pn));
		sql = psprintf("SELECT u.r, c.tableoid, c.ctid, COALESCE((%s), false) "
					   "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) u(r, o, t) "
					   "JOIN %s p ON p.ctid OPERATOR(pg_catalog.=) u.t AND p.tableoid OPERATOR(pg_catalog.=) u.o "
					   "JOIN %s c ON %s",
					   d->stay ? d->stay : "false",
					   d->parent >= 0 ? ((RetDep *) list_nth(p->deps, d->parent))->qualname :
					   psprintf("ONLY %s", p->qualname),
					   d->qualname, d->join);
		{
			int			level = d->indexed ? ret_pin_nestloop() : 0;

			ret_exec(sql, 3, types, values, NULL, SPI_OK_SELECT);
			if (level > 0)
				AtEOXact_GUC(true, level);
		}
		rows[i].n = (int) SPI_processed;
		rows[i].roots = palloc(sizeof(Datum) * (SPI_processed + 1));
		rows[i].oids = palloc(sizeof(Datum) * (SPI_processed + 1));
		rows[i].tids = palloc(sizeof(Datum) * (SPI_processed + 1));
		stays = palloc0(sizeof(bool) * (SPI_processed + 1));
		for (uint64 k = 0; k < SPI_processed; k++)
		{
			bool		isnull;
			ItemPointer r = palloc(sizeof(ItemPointerData));
			ItemPointer t = palloc(sizeof(ItemPointerData));

			ItemPointerCopy((ItemPointer) DatumGetPointer(ret_get(k, 1, &isnull)), r);
			ItemPointerCopy((ItemPointer) DatumGetPointer(ret_get(k, 3, &isnull)), t);
			rows[i].roots[k] = PointerGetDatum(r);
			rows[i].oids[k] = ret_get(k, 2, &isnull);
			rows[i].tids[k] = PointerGetDatum(t);
			stays[k] = DatumGetBool(ret_get(k, 4, &isnull));
		}
		if (d->holds && rows[i].n > 0)
			ret_dependents_held(d, &rows[i], stays);
		for (int k = 0; k < rows[i].n; k++)
		{
			ItemPointer r = (ItemPointer) DatumGetPointer(rows[i].roots[k]);

			if (stays[k])
			{
				if (nblocked >= maxblocked)
				{
					maxblocked *= 2;
					blocked = repalloc(blocked, sizeof(ItemPointerData) * maxblocked);
				}
				ItemPointerCopy(r, &blocked[nblocked++]);
				if (counts->blocked_by == NULL)
					counts->blocked_by = pstrdup(d->name);
			}
		}
		i++;
	}
	if (nblocked > 1)
	{
		int			u = 1;

		qsort(blocked, nblocked, sizeof(ItemPointerData), ret_tid_cmp);
		for (int k = 1; k < nblocked; k++)
			if (ItemPointerCompare(&blocked[k], &blocked[u - 1]) != 0)
				ItemPointerCopy(&blocked[k], &blocked[u++]);
		nblocked = u;
	}
	counts->blocked += nblocked;

	/* 2. delete the dependents of the rows that go, deepest first */
	for (i = ndeps - 1; i >= 0; i--)
	{
		RetDepRows *r = &rows[i];
		int			k = 0;

		while (k < r->n)
		{
			Oid			oid = DatumGetObjectId(r->oids[k]);
			Datum	   *tids = palloc(sizeof(Datum) * r->n);
			int			nt = 0;
			Oid			types[1] = {TIDARRAYOID};
			Datum		values[1];
			RetUser		su;

			/* the rows of this leaf (oid), in any order */
			for (int m = k; m < r->n; m++)
			{
				if (DatumGetObjectId(r->oids[m]) != oid)
					continue;
				if (nblocked == 0 ||
					bsearch(DatumGetPointer(r->roots[m]), blocked, nblocked,
							sizeof(ItemPointerData), ret_tid_cmp) == NULL)
					tids[nt++] = r->tids[m];
				r->oids[m] = ObjectIdGetDatum(InvalidOid);
			}
			while (k < r->n && !OidIsValid(DatumGetObjectId(r->oids[k])))
				k++;
			if (nt == 0)
				continue;
			values[0] = PointerGetDatum(ret_tid_array(tids, nt));
			{
				int			level = ret_pin_nestloop();

				ret_become(UtilRelationOwner(oid), true, &su);
				ret_exec(psprintf("DELETE FROM ONLY %s t USING pg_catalog.unnest($1) u(c) "
								  "WHERE t.ctid OPERATOR(pg_catalog.=) u.c", UtilQualifiedName(oid)),
						 1, types, values, NULL, SPI_OK_DELETE);
				ret_restore(&su);
				AtEOXact_GUC(true, level);
			}
			counts->dependents += (int64) SPI_processed;
		}
	}

	/* 3. the policy rows that may go */
	if (nblocked == 0)
		return apply;
	keep = palloc(sizeof(Datum) * napply);
	for (i = 0; i < napply; i++)
		if (bsearch(DatumGetPointer(atids[i]), blocked, nblocked,
					sizeof(ItemPointerData), ret_tid_cmp) == NULL)
			keep[nkeep++] = atids[i];
	return ret_tid_array(keep, nkeep);
}

/*
 * ret_batch
 *		One batch of a pass (see the file banner): a function that never
 *		commits; the caller (the worker's or run_retention's driver) owns
 *		the transaction.  SPI connected; the caller is the extension owner.
 *		Adds what it did to *counts; sets *done when the pass is complete,
 *		*lost when another session took the pass over.
 */
static void
ret_batch(RetPolicy *p, int64 run, bool worker, RetCounts *counts, bool *done, bool *lost)
{
	Oid			types[5];
	Datum		values[5];
	char		nulls[5];
	char	   *needs;
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
	char	   *holdfilter = p->holdfilter;
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
	RetCounts	bc;

	memset(&bc, 0, sizeof(bc));
	INSTR_TIME_SET_CURRENT(t0);
	*done = false;
	*lost = false;
	level = ret_pin_settings(p);
	initStringInfo(&sql);

	/* 1. state row and holds, as the extension owner */
	types[0] = INT8OID;
	values[0] = Int64GetDatum(p->id);
	ret_exec(worker ?
			 "SELECT cutoff, pos_age, pos_ctid, run, pos_rel, pos_mode FROM privacy.retention_state "
			 "WHERE policy OPERATOR(pg_catalog.=) $1 FOR UPDATE SKIP LOCKED" :
			 "SELECT cutoff, pos_age, pos_ctid, run, pos_rel, pos_mode FROM privacy.retention_state "
			 "WHERE policy OPERATOR(pg_catalog.=) $1 FOR UPDATE",
			 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
	{
		*lost = true;
		AtEOXact_GUC(true, level);
		return;
	}
	cutoff = ret_get(0, 1, &isnull);
	if (isnull || DatumGetInt64(ret_get(0, 4, &isnull)) != run || isnull)
	{
		*lost = true;
		AtEOXact_GUC(true, level);
		return;
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
	 * apply to the table (it is in no subject map), no value needs the
	 * secret and no table depends on it, the change is made by the same
	 * statement (fast path).
	 */
	fast = holdfilter == NULL && p->nhash == 0 && p->deps == NIL;

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
		ret_exec("SELECT pg_catalog.pg_relation_size($1) OPERATOR(pg_catalog./) pg_catalog.current_setting('block_size')::pg_catalog.int4,"
				 " CASE WHEN c.relpages OPERATOR(pg_catalog.>) 0 AND c.reltuples OPERATOR(pg_catalog.>) 0"
				 " THEN (c.reltuples OPERATOR(pg_catalog./) c.relpages)::pg_catalog.float8 ELSE 100::pg_catalog.float8 END"
				 " FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1", 1, bt, bv, NULL, SPI_OK_SELECT);
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
	/*
	 * Steps 2 and 3 run in a pseudonym scope (src/guard.c): their
	 * statements carry its token as $4, so that they alone verify and
	 * compute pseudonyms and ask about holds; the scope ends before step 4
	 * fires the table's triggers.
	 */
	(void) GuardPseudonymScopeBegin();
	needs = ret_needs_sql(p);
	if (fast)
		optimistic = ret_batch_sql(p, have_pos, true, "cand", blocks, needs);
	stepsql = ret_batch_sql(p, have_pos, fast, "lk", blocks, needs);
	types[0] = TIMESTAMPTZOID;
	values[0] = cutoff;
	types[1] = TIMESTAMPTZOID;
	values[1] = have_pos ? pos_age : (Datum) 0;
	types[2] = TIDOID;
	values[2] = have_pos ? pos_ctid : (Datum) 0;
	types[3] = TEXTOID;
	values[3] = CStringGetTextDatum(GuardPseudonymToken());
	types[4] = INT8OID;
	values[4] = Int64GetDatum(batch);
	memset(nulls, ' ', sizeof(nulls));
	if (!have_pos)
		nulls[1] = nulls[2] = 'n';
	if (blocks)
	{
		values[2] = PointerGetDatum(start_tid);
		values[4] = Int64GetDatum(end_block);
		nulls[2] = ' ';
	}
	if (!fast || !ret_try_optimistic(p, optimistic, types, values, nulls))
	{
		ret_become(p->owner, true, &su);
		ret_exec(stepsql, 5, types, values, nulls, SPI_OK_SELECT);
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

	/*
	 * 3. holds and pseudonyms, in a new statement, as the table owner
	 * (the key conversions of the hold filter are the owner's casts), in
	 * the scope whose token ($4) lets this statement alone compute
	 * pseudonyms and ask privacy._held / privacy._held_keys (src/guard.c).
	 * A row is held when ANY subject it belongs to is held.
	 */
	if (nlocked > 0)
	{
		if (holdfilter != NULL || p->nhash > 0)
		{
			ListCell   *lc;
			Datum	   *ctids;
			int			k;
			char	   *scoped_filter = ret_hold_filter(p->relid, "t");
			RetUser		so;

			resetStringInfo(&sql);
			appendStringInfoString(&sql, "SELECT t.ctid");
			foreach(lc, p->columns)
			{
				RetColumn  *c = lfirst(lc);

				if (c->hash)
					appendStringInfo(&sql, ", CAST(%s AS pg_catalog.text)",
									 RetentionRewriteExpr(c->typid, c->typmod, c->strategy,
														  psprintf("t.%s", quote_identifier(c->name))));
			}
			appendStringInfo(&sql, " FROM pg_catalog.unnest($1) u(c) JOIN ONLY %s t"
							 " ON t.ctid OPERATOR(pg_catalog.=) u.c", p->qualname);
			if (scoped_filter != NULL)
				appendStringInfo(&sql, " WHERE NOT COALESCE((%s), false)", scoped_filter);
			types[0] = TIDARRAYOID;
			values[0] = PointerGetDatum(locked);
			/* $2, $3 unused; $4 the scope's token (src/guard.h) */
			types[1] = types[2] = types[3] = TEXTOID;
			values[1] = values[2] = CStringGetTextDatum("");
			values[3] = CStringGetTextDatum(GuardPseudonymToken());
			{
				int			nlevel = ret_pin_nestloop();

				ret_become(p->owner, true, &so);
				ret_exec(sql.data, GUARD_SCOPE_PARAMNO, types, values, NULL, SPI_OK_SELECT);
				ret_restore(&so);
				AtEOXact_GUC(true, nlevel);
			}
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
			apply = ret_tid_array(ctids, nlocked);
		}
	}

	/* 3b. dependents: deleted first, or the row is blocked */
	if (nlocked > 0 && !p->anonymize && p->deps != NIL)
	{
		apply = ret_dependents(p, p->partitioned ? leaf : p->relid, apply, &bc);
		nlocked = ArrayGetNItems(ARR_NDIM(apply), ARR_DIMS(apply));
	}
	GuardPseudonymScopeEnd();

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
			appendStringInfo(&sql, "DELETE FROM ONLY %s t USING pg_catalog.unnest($1) u(c) "
							 "WHERE t.ctid OPERATOR(pg_catalog.=) u.c", p->qualname);
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
				appendStringInfoString(&sql, ") WHERE t.ctid OPERATOR(pg_catalog.=) v.c");
			}
			else
				appendStringInfoString(&sql, " FROM pg_catalog.unnest($1) u(c) WHERE t.ctid OPERATOR(pg_catalog.=) u.c");
		}
		{
			int			nlevel = ret_pin_nestloop();

			ret_become(p->owner, true, &su);
			ret_exec(sql.data, nargs, dtypes, dvalues, NULL,
					 p->anonymize ? SPI_OK_UPDATE : SPI_OK_DELETE);
			ret_restore(&su);
			AtEOXact_GUC(true, nlevel);
		}
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
				 "next_try = '-infinity', last_checked = pg_catalog.now() "
				 "WHERE policy OPERATOR(pg_catalog.=) $1",
				 1, types, values, nulls, SPI_OK_UPDATE);
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
				 " WHERE policy OPERATOR(pg_catalog.=) $1", 5, ut, uv, un, SPI_OK_UPDATE);
	}

	/*
	 * The run's row: written only by a batch that changed, skipped or
	 * blocked something (an idle pass leaves no record, only the
	 * last_checked heartbeat).
	 */
	bc.changed = changed;
	bc.held = nheld;
	if (bc.changed > 0 || bc.held > 0 || bc.blocked > 0)
	{
		Oid			rt[8] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, FLOAT8OID, TEXTOID, INT8OID};
		Datum		rv[8];
		char		rn[8] = "        ";

		rv[0] = Int64GetDatum(run);
		rv[1] = Int64GetDatum(p->id);
		rv[2] = Int64GetDatum(bc.changed);
		rv[3] = Int64GetDatum(bc.held);
		rv[4] = Int64GetDatum(bc.blocked);
		rv[5] = Float8GetDatum(INSTR_TIME_GET_MILLISEC(t1));
		rv[6] = bc.blocked_by ? CStringGetTextDatum(bc.blocked_by) : (Datum) 0;
		if (!bc.blocked_by)
			rn[6] = 'n';
		rv[7] = Int64GetDatum(bc.dependents);
		ret_exec("INSERT INTO privacy.retention_runs AS r (id, policy, rows, held, blocked, batches, "
				 "longest_batch_ms, blocked_by) VALUES ($1, $2, $3, $4, $5, 1, $6, $7) "
				 "ON CONFLICT (id) DO UPDATE SET rows = r.rows OPERATOR(pg_catalog.+) excluded.rows, "
				 "held = r.held OPERATOR(pg_catalog.+) excluded.held, "
				 "blocked = r.blocked OPERATOR(pg_catalog.+) excluded.blocked, "
				 "batches = r.batches OPERATOR(pg_catalog.+) 1, "
				 "longest_batch_ms = GREATEST(r.longest_batch_ms, excluded.longest_batch_ms), "
				 "blocked_by = COALESCE(r.blocked_by, excluded.blocked_by)",
				 7, rt, rv, rn, SPI_OK_INSERT);
	}
	if (*done)
	{
		types[0] = INT8OID;
		values[0] = Int64GetDatum(run);
		ret_exec("UPDATE privacy.retention_runs SET finished = pg_catalog.clock_timestamp() "
				 "WHERE id OPERATOR(pg_catalog.=) $1 RETURNING rows, held, blocked",
				 1, types, values, NULL, SPI_OK_UPDATE_RETURNING);
		if (SPI_processed == 1)
		{
			int64		r = DatumGetInt64(ret_get(0, 1, &isnull));
			int64		h = DatumGetInt64(ret_get(0, 2, &isnull));
			int64		b = DatumGetInt64(ret_get(0, 3, &isnull));

			AuditAppend("run_retention", NULL,
						psprintf("{\"policy\": " INT64_FORMAT ", \"rows\": " INT64_FORMAT
								 ", \"held\": " INT64_FORMAT ", \"blocked\": " INT64_FORMAT "}",
								 p->id, r, h, b));
		}
	}
	AtEOXact_GUC(true, level);
	counts->changed += bc.changed;
	counts->held += bc.held;
	counts->blocked += bc.blocked;
	counts->dependents += bc.dependents;
	if (counts->blocked_by == NULL && bc.blocked_by != NULL)
		counts->blocked_by = bc.blocked_by;
}

/*
 * ret_begin_run
 *		Start (or resume) the pass of a policy; creates its runtime state
 *		when missing (a restored dump has the policies, not their state).
 *		Returns the run id (the retention_runs row the pass writes once it
 *		has something to record), 0 when the worker finds the policy busy.
 */
static int64
ret_begin_run(RetPolicy *p, bool worker)
{
	Oid			types[3] = {INT8OID, INT2OID, NAMEOID};
	Datum		values[3] = {Int64GetDatum(p->id)};
	bool		isnull;
	Datum		old;
	int			level = ret_pin_settings(p);
	int64		run;

	ret_exec("INSERT INTO privacy.retention_state (policy) VALUES ($1) ON CONFLICT DO NOTHING",
			 1, types, values, NULL, SPI_OK_INSERT);
	if (p->fix_column)
	{
		/* the column was renamed (or renumbered by a restore): follow it */
		values[1] = Int16GetDatum(p->age_attnum);
		values[2] = DirectFunctionCall1(namein, CStringGetDatum(p->agename));
		ret_exec("UPDATE privacy.retention SET age_attnum = $2, age_column = $3 "
				 "WHERE id OPERATOR(pg_catalog.=) $1",
				 3, types, values, NULL, SPI_OK_UPDATE);
	}
	ret_exec(worker ?
			 "SELECT run FROM privacy.retention_state WHERE policy OPERATOR(pg_catalog.=) $1 FOR UPDATE SKIP LOCKED" :
			 "SELECT run FROM privacy.retention_state WHERE policy OPERATOR(pg_catalog.=) $1 FOR UPDATE",
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
				 "error = 'interrupted' WHERE id OPERATOR(pg_catalog.=) $1 AND finished IS NULL",
				 1, types, values, NULL, SPI_OK_UPDATE);
	}
	ret_exec("SELECT pg_catalog.nextval('privacy.retention_runs_id_seq')",
			 0, NULL, NULL, NULL, SPI_OK_SELECT);
	run = DatumGetInt64(ret_get(0, 1, &isnull));
	{
		Oid			t2[3] = {INT8OID, INT8OID, TEXTOID};
		Datum		v2[3];

		v2[0] = Int64GetDatum(p->id);
		v2[1] = Int64GetDatum(run);
		v2[2] = CStringGetTextDatum(p->keep);
		ret_exec("UPDATE privacy.retention_state SET run = $2, "
				 "cutoff = COALESCE(cutoff, pg_catalog.now() OPERATOR(pg_catalog.-) CAST($3 AS pg_catalog.interval)) "
				 "WHERE policy OPERATOR(pg_catalog.=) $1",
				 3, t2, v2, NULL, SPI_OK_UPDATE);
	}
	AtEOXact_GUC(true, level);
	return run;
}

/*
 * RetentionRunPolicy
 *		The driver of one policy: it owns every transaction (own_xacts, the
 *		worker: one per batch, then pgstat is told what the batch did, so
 *		autovacuum hears of retention's deletes) or runs every batch in the
 *		caller's transaction (run_retention).  The batch itself (ret_batch)
 *		never commits.  A pass that blocked rows logs one WARNING naming the
 *		first blocking table.
 */
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
	RetCounts	counts;
	char		label[64];
	bool		done = false;
	bool		lost = false;
	char	   *blocked_by = NULL;

	memset(&counts, 0, sizeof(counts));
	if (busy)
		*busy = false;
	snprintf(label, sizeof(label), "retention policy " INT64_FORMAT " batch", policy);

	/* begin: resolve the policy, open the run */
	ret_xact_begin(own_xacts, cxt);
	extowner = ret_extension_owner();
	ret_become(extowner, false, &su);
	p = ret_load_policy(policy);
	p->holdfilter = ret_hold_filter(p->relid, "t");
	if (!p->anonymize)
		p->deps = ret_load_deps(p);
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
		ret_batch(p, run, own_xacts, &counts, &done, &lost);
		ret_restore(&su);
		if (counts.blocked_by != NULL && blocked_by == NULL)
			blocked_by = MemoryContextStrdup(cxt, counts.blocked_by);
		counts.blocked_by = blocked_by;
		ret_xact_end(own_xacts, cxt);
		if (own_xacts)
			pgstat_report_stat(false);
		MemoryContextReset(batchcxt);
	}
	if (own_xacts)
		pgstat_report_stat(true);
	if (counts.blocked > 0)
		ereport(WARNING,
				(errmsg("retention policy " INT64_FORMAT " skipped " INT64_FORMAT " expired rows that a row of %s depends on",
						policy, counts.blocked, blocked_by ? blocked_by : "another table"),
				 errdetail("A dependent row that must stay (a table in anonymize mode, a kept column, a held subject, or cascade => false) blocks the row it references."),
				 errhint("The rows are counted in privacy.retention_runs.blocked and retried by every pass.")));
	if (lost && busy)
		*busy = true;
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
	return counts.changed;
}

/*
 * RetentionDuePolicies
 *		Policy ids due now (a policy without runtime state is due: it is
 *		created on demand).  In a transaction with SPI connected.
 */
int64 *
RetentionDuePolicies(int *npolicies)
{
	int64	   *ids;
	bool		isnull;
	RetUser		su;

	ret_become(ret_extension_owner(), false, &su);
	ret_exec("SELECT r.id FROM privacy.retention r "
			 "LEFT JOIN privacy.retention_state s ON s.policy OPERATOR(pg_catalog.=) r.id "
			 "WHERE COALESCE(s.next_try, '-infinity') OPERATOR(pg_catalog.<=) pg_catalog.now() ORDER BY r.id",
			 0, NULL, NULL, NULL, SPI_OK_SELECT);
	ret_restore(&su);
	*npolicies = (int) SPI_processed;
	ids = palloc(sizeof(int64) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
		ids[i] = DatumGetInt64(ret_get(i, 1, &isnull));
	return ids;
}

/*
 * RetentionPruneRuns
 *		Delete retention_runs rows older than privacy.retention_runs_max_age
 *		(the latest row of each policy stays).  In a transaction with SPI
 *		connected.
 */
void
RetentionPruneRuns(void)
{
	RetUser		su;
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(privacy_retention_runs_max_age)};

	if (privacy_retention_runs_max_age <= 0)
		return;
	ret_become(ret_extension_owner(), false, &su);
	ret_exec("DELETE FROM privacy.retention_runs x "
			 "WHERE x.finished OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) "
			 "pg_catalog.make_interval(secs => $1)) "
			 "AND x.id OPERATOR(pg_catalog.<>) (SELECT pg_catalog.max(y.id) FROM privacy.retention_runs y "
			 "WHERE y.policy OPERATOR(pg_catalog.=) x.policy)",
			 1, types, values, NULL, SPI_OK_DELETE);
	ret_restore(&su);
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
	ret_exec("INSERT INTO privacy.retention_state (policy) SELECT $1 "
			 "WHERE EXISTS (SELECT FROM privacy.retention WHERE id OPERATOR(pg_catalog.=) $1) ON CONFLICT DO NOTHING",
			 1, types, values, NULL, SPI_OK_INSERT);
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
 *		add_retention(tbl, age_column, keep, action, columns, cascade,
 *		time_zone) RETURNS bigint.  The caller must own the table or be a
 *		member of privacy_admin.  The policy stores the age column's
 *		attribute number too (it follows renames).
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
	Oid			types[9] = {OIDOID, NAMEOID, INTERVALOID, TEXTOID, NAMEARRAYOID, NAMEOID,
	INT2OID, BOOLOID, TEXTOID};
	Datum		values[9];
	char		nulls[9] = "         ";
	bool		cascade = PG_NARGS() > 5 && !PG_ARGISNULL(5) ? PG_GETARG_BOOL(5) : true;
	char	   *time_zone = PG_NARGS() > 6 && !PG_ARGISNULL(6) ? text_to_cstring(PG_GETARG_TEXT_PP(6)) : NULL;

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
	if (time_zone != NULL)
	{
		/* a zone TimeZone accepts (22023 otherwise), checked without keeping it */
		int			level = NewGUCNestLevel();

		(void) set_config_option("TimeZone", time_zone, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		AtEOXact_GUC(false, level);
	}

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
	values[6] = Int16GetDatum(attnum);
	values[7] = BoolGetDatum(cascade);
	values[8] = time_zone ? CStringGetTextDatum(time_zone) : (Datum) 0;
	if (time_zone == NULL)
		nulls[8] = 'n';
	ret_exec("INSERT INTO privacy.retention (table_name, age_column, keep, action, columns, created_by, "
			 "age_attnum, cascade, time_zone) "
			 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
			 9, types, values, nulls, SPI_OK_INSERT_RETURNING);
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
	/*
	 * Lock order of a pass: the policy's state row, then (by the foreign
	 * keys of the runs) the policy row.  Take them in that order, so a
	 * worker in the middle of a batch is waited for instead of deadlocked
	 * with; its next batch then finds the state row locked and stops.
	 */
	ret_exec("SELECT 1 FROM privacy.retention_state WHERE policy OPERATOR(pg_catalog.=) $1 FOR UPDATE",
			 1, types, values, NULL, SPI_OK_SELECT);
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
	char	   *needs;
	Oid			types[GUARD_SCOPE_PARAMNO];
	Datum		values[GUARD_SCOPE_PARAMNO];

	ret_spi_connect();
	ret_become(extowner, false, &su);
	p = ret_load_policy(id);
	ret_restore(&su);
	/*
	 * Exact up to BACKLOG_EXACT rows (an index range scan), then the
	 * planner's estimate.  In a pseudonym scope: the "still needs work"
	 * test verifies pseudonyms with its token ($4; $1-$3 unused).
	 */
	(void) GuardPseudonymScopeBegin();
	needs = ret_needs_sql(p);
	cond = psprintf("t.%s < pg_catalog.now() - CAST(%s AS pg_catalog.interval)%s%s",
					p->age, quote_literal_cstr(p->keep),
					needs ? " AND " : "", needs ? needs : "");
	sql = psprintf("SELECT pg_catalog.count(*) FROM (SELECT 1 FROM %s%s t WHERE %s LIMIT %d) s",
				   p->partitioned ? "" : "ONLY ", p->qualname, cond, BACKLOG_EXACT + 1);
	for (int i = 0; i < GUARD_SCOPE_PARAMNO; i++)
	{
		types[i] = TEXTOID;
		values[i] = CStringGetTextDatum("");
	}
	values[GUARD_SCOPE_PARAMNO - 1] = CStringGetTextDatum(GuardPseudonymToken());
	ret_become(p->owner, true, &su);
	ret_exec(sql, GUARD_SCOPE_PARAMNO, types, values, NULL, SPI_OK_SELECT);
	estimate = DatumGetInt64(ret_get(0, 1, &isnull));
	if (estimate > BACKLOG_EXACT)
	{
		ret_exec(psprintf("EXPLAIN (FORMAT JSON) SELECT 1 FROM %s%s t WHERE %s",
						  p->partitioned ? "" : "ONLY ", p->qualname, cond),
				 GUARD_SCOPE_PARAMNO, types, values, NULL, SPI_OK_UTILITY);
		plan = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		rows = plan ? strstr(plan, "\"Plan Rows\":") : NULL;
		if (rows)
			estimate = Max(estimate, strtoll(rows + strlen("\"Plan Rows\":"), NULL, 10));
	}
	ret_restore(&su);
	GuardPseudonymScopeEnd();
	SPI_finish();
	PG_RETURN_INT64(estimate);
}

/*
 * ret_policy_problem
 *		NULL when the policy resolves against the current catalog, else the
 *		error that running it would raise (its table or age column gone, a
 *		column to anonymize dropped...).  Caught in a subtransaction, so one
 *		broken policy never fails a query over all of them.
 */
static char *
ret_policy_problem(int64 id)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *problem = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		RetUser		su;

		ret_spi_connect();
		ret_become(ret_extension_owner(), false, &su);
		(void) ret_load_policy(id);
		ret_restore(&su);
		SPI_finish();
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata = ret_subxact_caught(cxt, owner);

		problem = psprintf("%s: %s", unpack_sql_state(edata->sqlerrcode), edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return problem;
}

/*
 * privacy_retention_problem
 *		retention_problem(policy bigint) RETURNS text: why the policy cannot
 *		run now, NULL when it can (the status view's error column).
 */
Datum
privacy_retention_problem(PG_FUNCTION_ARGS)
{
	char	   *problem = ret_policy_problem(PG_GETARG_INT64(0));

	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}
