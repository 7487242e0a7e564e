/*-------------------------------------------------------------------------
 * retention_policy.c
 *		Retention policies as the batch engine sees them (a policy resolved
 *		against the current catalog: its age column, the columns an
 *		'anonymize' policy rewrites, the hold filter, the dependent tables),
 *		the helpers the retention files share (identity switches through
 *		guard.c, SPI), and the policy SQL API: add_retention,
 *		drop_retention, retention_backlog, retention_problem.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compat.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "citus.h"
#include "guard.h"
#include "map.h"
#include "privacy.h"
#include "retention.h"

PG_FUNCTION_INFO_V1(privacy_add_retention);
PG_FUNCTION_INFO_V1(privacy_drop_retention);
PG_FUNCTION_INFO_V1(privacy_retention_backlog);
PG_FUNCTION_INFO_V1(privacy_retention_problem);

#define RETENTION_LOCK_TIMEOUT "1s"
#define BACKLOG_EXACT 100000
#define RET_MAX_DEPTH 8

static bool ret_fk_indexed(Oid relid, AttrNumber *cols, int ncols);

/*
 * RetentionBecome
 *		Switch to role through guard.c: restricted (user code of the table,
 *		as its owner, the owner's search_path, protect()'s policies
 *		bypassed), or the extension owner's catalog work (search_path
 *		pinned).  An aborted (sub)transaction drops the frame.
 */
void
RetentionBecome(Oid role, bool restricted, RetUser *save)
{
	if (restricted)
	{
		save->frame = GuardEnterRole(role);
		GuardSetRowSecurityBypass(true);
	}
	else
		save->frame = GuardEnterPinned(role, 0);
}

void
RetentionRestore(RetUser *save)
{
	GuardLeave(save->frame);
}

/*
 * RetentionExec
 *		SPI_execute_with_args that checks the result code.
 */
void
RetentionExec(const char *sql, int nargs, Oid *types, Datum *values,
			  const char *nulls, int expected)
{
	int			rc;
	MemoryContext cxt = CurrentMemoryContext;

	/* SPI leaves us in its procedure context: come back to the caller's */
	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	MemoryContextSwitchTo(cxt);
	if (rc != expected)
		elog(ERROR, "SPI_execute_with_args returned %s instead of %s",
			 SPI_result_code_string(rc), SPI_result_code_string(expected));
}

/* Datum of column col of row 0 of SPI_tuptable, with null flag. */
Datum
RetentionGet(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

/* SPI_connect, staying in the caller's memory context. */
void
RetentionSpiConnect(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	UtilSpiConnect();
	MemoryContextSwitchTo(cxt);
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
	/* another session's temporary table, or one that ends with this session */
	if (cls->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("\"%s\" is a temporary table", NameStr(cls->relname)),
						errhint("Retention policies apply to permanent tables.")));
	if (get_rel_namespace(relid) == get_namespace_oid("privacy", true))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("\"%s\" is a table of the extension", NameStr(cls->relname)),
						errhint("The extension keeps its own records.")));
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

	/* _reconcile_columns() names a dropped column as PostgreSQL does */
	if (strncmp(name, "........pg.dropped.", 19) == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
						errmsg("a column of the retention policy on \"%s\" was dropped", get_rel_name(relid)),
						errhint("Drop the policy and add it again with the columns the table has now.")));
	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
						errmsg("column \"%s\" of relation \"%s\" does not exist",
							   name, get_rel_name(relid))));
	return attnum;
}


/*
 * RetentionSubxactCaught
 *		In a PG_CATCH after BeginInternalSubTransaction: take the error,
 *		roll the subtransaction back, restore the caller's memory context and
 *		resource owner, and turn off the row-security bypass.
 */
ErrorData *
RetentionSubxactCaught(MemoryContext cxt, ResourceOwner owner)
{
	return UtilSubxactCaught(cxt, owner);
}


/*-------------------------------------------------------------------------
 * Policies
 *-------------------------------------------------------------------------
 */

/*
 * ret_check_writable
 *		A column an anonymize policy rewrites: not generated (it follows the
 *		columns it is computed from), not an identity column GENERATED
 *		ALWAYS, not under a unique index with a strategy that gives every
 *		expired row one value (redact; null where NULLs are not distinct):
 *		the second row would collide (23505) at every run.  22023.
 */
static void
ret_check_writable(Oid relid, AttrNumber attnum, const char *name, const char *strategy)
{
	HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	Form_pg_attribute att;
	bool		bad;
	Relation	rel;
	List	   *indexes;
	ListCell   *lc;

	if (!HeapTupleIsValid(tup))
		return;
	att = (Form_pg_attribute) GETSTRUCT(tup);
	bad = att->attgenerated != '\0' || att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS;
	ReleaseSysCache(tup);
	if (bad)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("column \"%s\" is generated and cannot be anonymized", name),
						errhint("Anonymize the columns it is computed from.")));
	rel = table_open(relid, AccessShareLock);
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		HeapTuple	itup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index idx;

		if (!HeapTupleIsValid(itup))
			continue;
		idx = (Form_pg_index) GETSTRUCT(itup);
		bad = false;
		if (idx->indisunique &&
			(strcmp(strategy, "redact") == 0 ||
			 (strcmp(strategy, "null") == 0 && CompatIndexNullsNotDistinct(idx))))
			for (int k = 0; k < idx->indnkeyatts; k++)
				bad = bad || idx->indkey.values[k] == attnum;
		ReleaseSysCache(itup);
		if (bad)
		{
			table_close(rel, AccessShareLock);
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("column \"%s\" is part of a unique index and cannot be anonymized", name),
							errdetail("Expired rows would all get the same value."),
							errhint("Classify it with erasure => 'hash' (a pseudonym per value), or leave it out of columns.")));
		}
	}
	list_free(indexes);
	table_close(rel, AccessShareLock);
}

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
								errmsg("argument \"columns\" must not contain nulls")));
			want = lappend(want, pstrdup(NameStr(*DatumGetName(elems[i]))));
		}
		if (want == NIL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("argument \"columns\" must not be empty")));
	}
	else
	{
		Oid			types[1] = {OIDOID};
		Datum		values[1] = {ObjectIdGetDatum(relid)};

		RetentionExec("SELECT column_name::text FROM privacy.classifications "
				 "WHERE table_name = $1 ORDER BY attnum",
				 1, types, values, NULL, SPI_OK_SELECT);
		for (uint64 i = 0; i < SPI_processed; i++)
			want = lappend(want, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	}

	foreach(lc, want)
	{
		char	   *name = (char *) lfirst(lc);
		AttrNumber	attnum = ret_column(relid, name);
		ListCell   *lc2;
		RetColumn  *col = palloc0(sizeof(RetColumn));
		Oid			types[2] = {OIDOID, NAMEOID};
		Datum		values[2];
		Oid			coll;
		bool		notnull;
		HeapTuple	tup;
		char	   *colexpr;

		/* each column once (and, below, one an erasure can write) */
		for_each_from(lc2, want, foreach_current_index(lc) + 1)
			if (strcmp((char *) lfirst(lc2), name) == 0)
				ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								errmsg("column \"%s\" is named twice in columns", name)));
		values[0] = ObjectIdGetDatum(relid);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(name));
		RetentionExec("SELECT erasure FROM privacy.classifications "
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
		ReleaseSysCache(tup);
		notnull = UtilAttNotNull(relid, attnum);
		if (notnull && strcmp(col->strategy, "null") == 0)
			col->strategy = pstrdup("redact");
		ret_check_writable(relid, attnum, name, col->strategy);

		colexpr = psprintf("t.%s", quote_identifier(name));
		col->newexpr = RetentionRewriteExpr(col->typid, col->typmod, col->strategy, colexpr);
		col->doneexpr = RetentionRewriteDoneExpr(col->typid, col->typmod, col->strategy, colexpr);
		col->hash = strcmp(col->strategy, "hash") == 0;
		result = lappend(result, col);
	}
	return result;
}

/* the worker's TimeZone before it connected: the server's setting */
static char *server_zone = NULL;

/*
 * RetentionSetServerZone
 *		The worker, before it connects (and so before the settings of the
 *		role it runs as apply: ALTER ROLE postgres SET timezone is a DBA's
 *		own preference, not the database's), records the server's zone.
 */
void
RetentionSetServerZone(const char *zone)
{
	server_zone = MemoryContextStrdup(TopMemoryContext, zone);
}

/*
 * ret_default_zone
 *		The database's default TimeZone: ALTER DATABASE ... SET timezone when
 *		there is one, else the server's (the worker: recorded before it
 *		connected; a session: its reset value).  SPI connected.
 */
static char *
ret_default_zone(void)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(MyDatabaseId)};

	RetentionExec("SELECT pg_catalog.substr(x, pg_catalog.strpos(x, '=') OPERATOR(pg_catalog.+) 1)"
			 " FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) x"
			 " WHERE s.setdatabase OPERATOR(pg_catalog.=) $1 AND s.setrole OPERATOR(pg_catalog.=) 0"
			 " AND pg_catalog.lower(pg_catalog.split_part(x, '=', 1)) OPERATOR(pg_catalog.=) 'timezone'",
			 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (server_zone != NULL)
		return pstrdup(server_zone);
	return pstrdup(GetConfigOptionResetString("TimeZone"));
}

/*
 * RetentionCheckCreator
 *		A policy that a table's owner added without being a member of
 *		privacy_admin must not run on a table of a subject's data map: the
 *		rows it leaves would show that role which subjects are under a
 *		legal hold (a probe: a table of its own referencing the customers,
 *		one backdated row per id, a policy).  42501 before anything
 *		changes; its dependents in a map block for the same reason
 *		(RetentionLoadDeps).
 */
void
RetentionCheckCreator(RetPolicy *p, List *subjects)
{
	if (p->by_admin || subjects == NIL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("retention policy %lld is in the data map of subject type \"%s\" but was not added by a member of privacy_admin",
					(long long) p->id, (char *) linitial(subjects)),
			 errdetail("The rows it would leave could show its author which subjects are under a legal hold."),
			 errhint("A member of privacy_admin may add it again (drop_retention, then add_retention).")));
}

/*
 * ret_check_subjects
 *		The subject types of the policy's table now (p->subjects) must include
 *		every one recorded for it (privacy.retention.subjects, NULL: none
 *		recorded yet): a type whose map no longer holds the table means its
 *		foreign keys or links are gone — dropped, or not created yet by a
 *		restore in progress — and a run would no longer see that type's holds.
 *		55000 before anything changes.  p->record_subjects: some types are
 *		not recorded yet (RetentionRecordSubjects).
 */
static void
ret_check_subjects(RetPolicy *p, ArrayType *recorded)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n = 0;
	int			i;
	ListCell   *lc;

	p->subjects = MapSubjectsOfTable(p->relid);
	if (recorded != NULL)
		deconstruct_array(recorded, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		char	   *name;
		bool		found = false;

		if (nulls[i])
			continue;
		name = TextDatumGetCString(elems[i]);
		foreach(lc, p->subjects)
			if (strcmp(lfirst(lc), name) == 0)
				found = true;
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table %s of retention policy %lld no longer belongs to subject type \"%s\"",
							p->qualname, (long long) p->id, name),
					 errdetail("Its rows may belong to subjects under a legal hold that the policy can no "
							   "longer see; nothing was deleted."),
					 errhint("Restore the table's foreign keys or links (or wait for the restore that creates "
							 "them). If the table no longer holds data of that subject type, drop the policy "
							 "and add it again.")));
	}
	p->record_subjects = recorded == NULL;
	foreach(lc, p->subjects)
	{
		bool		found = false;

		for (i = 0; i < n; i++)
			if (!nulls[i] && strcmp(TextDatumGetCString(elems[i]), lfirst(lc)) == 0)
				found = true;
		if (!found)
			p->record_subjects = true;
	}
}

/*
 * RetentionRecordSubjects
 *		Record the policy's current subject types (a run; as the extension
 *		owner, SPI connected), when some are not recorded yet.
 */
void
RetentionRecordSubjects(RetPolicy *p)
{
	Oid			types[2] = {INT8OID, TEXTARRAYOID};
	Datum		values[2];
	Datum	   *elems;
	int			n = list_length(p->subjects);
	ListCell   *lc;

	if (!p->record_subjects)
		return;
	elems = palloc(sizeof(Datum) * Max(n, 1));
	foreach(lc, p->subjects)
		elems[foreach_current_index(lc)] = CStringGetTextDatum(lfirst(lc));
	values[0] = Int64GetDatum(p->id);
	values[1] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	RetentionExec("UPDATE privacy.retention SET subjects = $2 WHERE id OPERATOR(pg_catalog.=) $1",
				  2, types, values, NULL, SPI_OK_UPDATE);
	p->record_subjects = false;
}

/*
 * RetentionLoadPolicy
 *		Read and resolve a policy.  SPI connected, as extension owner.
 *		Unknown policy: 42704.
 */
RetPolicy *
RetentionLoadPolicy(int64 id)
{
	RetPolicy  *p = palloc0(sizeof(RetPolicy));
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	bool		isnull;
	Datum		d;
	char	   *agename;
	AttrNumber	stored_attnum = InvalidAttrNumber;
	ArrayType  *names = NULL;
	ArrayType  *recorded;

	RetentionExec("SELECT table_name::pg_catalog.oid, age_column::pg_catalog.text, keep::pg_catalog.text, "
			 "action, columns, age_attnum, cascade, time_zone, subjects, created_by::pg_catalog.text, "
			 "created_by_admin "
			 "FROM privacy.retention WHERE id OPERATOR(pg_catalog.=) $1",
			 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("retention policy %lld does not exist", (long long) id)));
	p->id = id;
	p->relid = DatumGetObjectId(RetentionGet(0, 1, &isnull));
	agename = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	p->keep = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	p->anonymize = strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4),
						  "anonymize") == 0;
	d = RetentionGet(0, 5, &isnull);
	if (!isnull)
		names = DatumGetArrayTypePCopy(d);
	d = RetentionGet(0, 6, &isnull);
	if (!isnull)
		stored_attnum = DatumGetInt16(d);
	d = RetentionGet(0, 7, &isnull);
	p->cascade = isnull || DatumGetBool(d);
	p->time_zone = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 8);
	d = RetentionGet(0, 9, &isnull);
	recorded = isnull ? NULL : DatumGetArrayTypePCopy(d);
	{
		char	   *by = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 10);
		Oid			byrole = by ? get_role_oid(by, true) : InvalidOid;

		/*
		 * a role that no longer exists (dropped, renamed by a superuser,
		 * or a restore into another cluster) is judged as it was when it
		 * added the policy (created_by_admin).  It used to count as an
		 * admin ("a table's owner cannot be dropped"): but its tables may
		 * have been reassigned first, and the policy of a table owner
		 * without privacy_admin then ran on a mapped table, whose new owner
		 * read the held subjects off the rows it left.
		 */
		if (OidIsValid(byrole))
			p->by_admin = ret_is_admin(byrole);
		else
		{
			d = RetentionGet(0, 11, &isnull);
			p->by_admin = !isnull && DatumGetBool(d);
		}
	}

	if (get_rel_name(p->relid) == NULL)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("the table of retention policy %lld no longer exists", (long long) id)));
	p->owner = ret_check_table(p->relid);
	p->partitioned = get_rel_relkind(p->relid) == RELKIND_PARTITIONED_TABLE;
	p->qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(p->relid)),
											 get_rel_name(p->relid));
	ret_check_subjects(p, recorded);
	RetentionCheckCreator(p, p->subjects);

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
		p->age_local = agetype == TIMESTAMPOID;
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
		p->needs = RetentionNeedsSql(p);
	}
	return p;
}

/*
 * RetentionReloadPolicy
 *		Resolve p against the catalog again, in place and in the memory
 *		context that holds it, with its hold filter and dependents: a pass
 *		outlives many transactions, and its table or columns may have been
 *		renamed since the run resolved them (the DDL trigger has recorded
 *		the new names).  SPI connected, as the extension owner.
 */
void
RetentionReloadPolicy(RetPolicy *p)
{
	MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(p));
	RetPolicy  *n = RetentionLoadPolicy(p->id);

	n->holdfilter = RetentionHoldFilter(n->relid, "t", n->subjects);
	if (!n->anonymize)
		n->deps = RetentionLoadDeps(n);
	*p = *n;
	MemoryContextSwitchTo(old);
}

/*
 * RetentionNeedsSql
 *		Anonymize policy: SQL condition "row t still needs work" (a column
 *		does not hold what its strategy writes).  Built in the pseudonym
 *		scope of the statement that runs it: a hashed column's test
 *		verifies the pseudonym's tag with the scope's token ($4).
 */
char *
RetentionNeedsSql(RetPolicy *p)
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
 * RetentionHoldFilter
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
/* ------------------------------------------------------------------------
 * The hold filter across owners (RetentionHoldFilterIn)
 * ------------------------------------------------------------------------
 */

#define RET_HOLD_TOKEN "CAST(" GUARD_SCOPE_PARAM " AS pg_catalog.text)"
/* the most referenced tables one condition follows up */
#define RET_HOLD_MAX_DEPTH 32

/* parameter $n of scope s: type and value, returns n */
static int
hold_param(RetHoldScope *s, Oid type, Datum value)
{
	if (s->nargs >= s->cap)
	{
		s->cap = Max(8, 2 * s->cap);
		s->types = s->types ? repalloc(s->types, sizeof(Oid) * s->cap) : palloc(sizeof(Oid) * s->cap);
		s->values = s->values ? repalloc(s->values, sizeof(Datum) * s->cap) : palloc(sizeof(Datum) * s->cap);
	}
	s->types[s->nargs] = type;
	s->values[s->nargs] = value;
	return ++s->nargs;
}

/*
 * RetentionHoldScopeInit
 *		A scope for the statement of owner that judges the rows of from
 *		(a FROM item with the filter's alias) that rowsel selects, over
 *		nargs parameters (types, values; $4 the pseudonym scope's token),
 *		copied: the filter adds its own after them.
 */
void
RetentionHoldScopeInit(RetHoldScope *s, Oid owner, const char *from, const char *rowsel,
					   int nargs, const Oid *types, const Datum *values)
{
	memset(s, 0, sizeof(RetHoldScope));
	s->owner = owner;
	s->from = from;
	s->rowsel = rowsel;
	for (int i = 0; i < nargs; i++)
		(void) hold_param(s, types[i], values[i]);
}

/* a scope of a statement on the rows of relid (alias sh) of its owner */
static RetHoldScope *
hold_sub_scope(Oid relid, bool latest)
{
	RetHoldScope *s = palloc(sizeof(RetHoldScope));
	Datum		empty = CStringGetTextDatum("");
	Oid			t[GUARD_SCOPE_PARAMNO] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		v[GUARD_SCOPE_PARAMNO] = {empty, empty, empty,
	CStringGetTextDatum(GuardPseudonymToken())};

	/* locked before its owner is read */
	LockRelationOid(relid, AccessShareLock);
	RetentionHoldScopeInit(s, UtilRelationOwner(relid), psprintf("%s sh", UtilFromName(relid)),
						   "true", GUARD_SCOPE_PARAMNO, t, v);
	s->latest = latest;
	return s;
}

/* "alias.cols are among the arrays" (one per column, aligned), parameters of s */
static char *
hold_cols_in(RetHoldScope *s, const char *alias, Oid relid, const AttrNumber *cols, int n,
			 const Oid *arrtypes, const Datum *arrays)
{
	StringInfoData b;
	int			first = s->nargs + 1;

	for (int i = 0; i < n; i++)
		(void) hold_param(s, arrtypes[i], arrays[i]);
	initStringInfo(&b);
	if (n == 1)
	{
		appendStringInfo(&b, "%s.%s = ANY ($%d)", alias,
						 quote_identifier(MapColName(relid, cols[0])), first);
		return b.data;
	}
	appendStringInfoChar(&b, '(');
	MapAppendCols(&b, alias, relid, cols, n);
	appendStringInfoString(&b, ") IN (SELECT * FROM ROWS FROM (");
	for (int i = 0; i < n; i++)
		appendStringInfo(&b, "%spg_catalog.unnest($%d)", i ? ", " : "", first + i);
	appendStringInfoString(&b, "))");
	return b.data;
}

/*
 * hold_distinct
 *		As the owner of scope s, security-restricted: the distinct values
 *		(none null) of the columns cols of relid in the rows of s (alias)
 *		that meet cond, as arrays (one per column, aligned; their types in
 *		arrtypes); NULL when there is none.
 */
static Datum *
hold_distinct(RetHoldScope *s, const char *alias, Oid relid, const AttrNumber *cols, int n,
			  const char *cond, Oid *arrtypes)
{
	StringInfoData sql;
	Datum	   *arrays = palloc(sizeof(Datum) * n);
	RetUser		su;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int i = 0; i < n; i++)
		appendStringInfo(&sql, "%spg_catalog.array_agg(x.c%d)", i ? ", " : "", i);
	appendStringInfoString(&sql, " FROM (SELECT DISTINCT ");
	for (int i = 0; i < n; i++)
		appendStringInfo(&sql, "%s%s.%s AS c%d", i ? ", " : "", alias,
						 quote_identifier(MapColName(relid, cols[i])), i);
	appendStringInfo(&sql, " FROM %s WHERE (%s) AND (%s)", s->from, s->rowsel, cond);
	for (int i = 0; i < n; i++)
		appendStringInfo(&sql, " AND %s.%s IS NOT NULL", alias,
						 quote_identifier(MapColName(relid, cols[i])));
	appendStringInfoString(&sql, ") x");
	RetentionBecome(s->owner, true, &su);
	if (s->latest)
	{
		SPIPlanPtr	plan = SPI_prepare(sql.data, s->nargs, s->types);
		int			ret;

		if (plan == NULL)
			elog(ERROR, "could not prepare a hold lookup: %s", SPI_result_code_string(SPI_result));
		/* our own earlier changes are visible to the new snapshot */
		CommandCounterIncrement();
		ret = SPI_execute_snapshot(plan, s->values, NULL, GetLatestSnapshot(), InvalidSnapshot,
								   true, false, 0);
		SPI_freeplan(plan);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "hold lookup failed: %s", SPI_result_code_string(ret));
	}
	else
		RetentionExec(sql.data, s->nargs, s->types, s->values, NULL, SPI_OK_SELECT);
	RetentionRestore(&su);
	if (SPI_processed != 1)
		return NULL;
	for (int i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		d = RetentionGet(0, i + 1, &isnull);

		if (isnull)
			return NULL;
		arrtypes[i] = SPI_gettypeid(SPI_tuptable->tupdesc, i + 1);
		arrays[i] = PointerGetDatum(DatumGetArrayTypePCopy(d));
	}
	return arrays;
}

/*
 * hold_path_owned
 *		Every table that MapKeyExprs' expression of path reads from its hop
 *		idx on is owner's (the tables above through each foreign key; the
 *		root, for a key the root spells, key_via_root).
 */
static bool
hold_path_owned(MapSubject *subj, List *path, int idx, Oid owner)
{
	int			len = list_length(path);

	for (int i = idx; i < len; i++)
	{
		MapHop	   *h = list_nth(path, i);

		if (h->link && getBaseType(get_atttype(h->rel, h->cols[0])) != getBaseType(subj->key_type))
			return true;
		if (h->link || (i == len - 1 && MapEdgeIsDirect(subj, h)))
			return !subj->key_via_root || UtilRelationOwner(subj->root) == owner;
		if (UtilRelationOwner(h->prel) != owner)
			return false;
	}
	return true;
}

/*
 * hold_table_owned
 *		Every table that the hold filter of mt reads is owner's: the tables
 *		above along its paths, or, for a referenced table, every table its
 *		condition reads (MapCondition: the tables its edges lead to, and
 *		theirs).
 */
static bool
hold_table_owned(MapSubject *subj, MapTable *mt, Oid owner)
{
	List	   *todo = list_make1(mt);
	List	   *seen = list_make1_oid(mt->relid);
	ListCell   *lc;

	if (!mt->outbound)
	{
		foreach(lc, MapKeyPaths(subj, mt))
			if (!hold_path_owned(subj, lfirst(lc), 0, owner))
				return false;
		return true;
	}
	while (todo != NIL)
	{
		MapTable   *t = linitial(todo);

		todo = list_delete_first(todo);
		foreach(lc, MapTableEdges(t))
		{
			MapHop	   *h = lfirst(lc);
			MapTable   *up;

			if (!MapEdgeNeedsSet(subj, h))
				continue;
			if (UtilRelationOwner(h->prel) != owner)
				return false;
			if (list_member_oid(seen, h->prel) || (up = MapFindTable(subj, h->prel)) == NULL)
				continue;
			seen = lappend_oid(seen, h->prel);
			todo = lappend(todo, up);
		}
	}
	return true;
}

static char *hold_table_cond(MapSubject *subj, MapTable *mt, const char *alias, RetHoldScope *s,
							 List *stack);
static char *hold_path_cond(MapSubject *subj, List *path, int idx, const char *alias,
							RetHoldScope *s, List *stack);

/*
 * hold_cross
 *		Condition on row alias of s (a row of h->rel): the row above it
 *		through hop h (a row of h->prel) belongs to a held subject, along
 *		path from hop idx + 1 on (path not NIL) or by the whole hold
 *		condition of h->prel's table up (a referenced table's edge).  The
 *		values of h's columns in the rows of s are read first, as s's owner;
 *		then, as the owner of h->prel, the keys among them of its rows that
 *		belong to a held subject (its own tables above of other owners the
 *		same way); the condition compares alias's columns with those keys,
 *		parameters of s.  NULL when it cannot be followed.  stack: the
 *		referenced tables whose conditions are being built (a cycle).
 */
static char *
hold_cross(MapSubject *subj, MapHop *h, const char *alias, RetHoldScope *s, List *path, int idx,
		   MapTable *up, List *stack)
{
	Oid		   *ctypes = palloc(sizeof(Oid) * h->ncols);
	Oid		   *ktypes = palloc(sizeof(Oid) * h->ncols);
	Datum	   *cand,
			   *keys;
	RetHoldScope *sub;
	char	   *inner;

	if (list_length(stack) >= RET_HOLD_MAX_DEPTH)
		return NULL;
	/* a link to a target with a filter or a conversion: read as before */
	if (h->tlink && (OidIsValid(h->conv) || MapLinkFilter(h, alias) != NULL))
		return NULL;
	cand = hold_distinct(s, alias, h->rel, h->cols, h->ncols,
						 psprintf("true%s", MapHopRelLeaves(h, alias)), ctypes);
	if (cand == NULL)
		return "false";
	sub = hold_sub_scope(h->prel, s->latest);
	sub->rowsel = hold_cols_in(sub, "sh", h->prel, h->pcols, h->ncols, ctypes, cand);
	inner = path != NIL ? hold_path_cond(subj, path, idx + 1, "sh", sub, stack)
		: hold_table_cond(subj, up, "sh", sub, stack);
	if (inner == NULL)
		return NULL;
	keys = hold_distinct(sub, "sh", h->prel, h->pcols, h->ncols, inner, ktypes);
	if (keys == NULL)
		return "false";
	return psprintf("(%s%s)", hold_cols_in(s, alias, h->rel, h->cols, h->ncols, ktypes, keys),
					MapHopRelLeaves(h, alias));
}

/*
 * hold_path_cond
 *		Row alias of s (of path's hop idx's table, the root past its end)
 *		reaches a held subject along path: MapKeyExprs' expression where s's
 *		owner owns every table it reads, else across owners (hold_cross).
 */
static char *
hold_path_cond(MapSubject *subj, List *path, int idx, const char *alias, RetHoldScope *s,
			   List *stack)
{
	MapHop	   *h;

	if (hold_path_owned(subj, path, idx, s->owner))
		return psprintf("privacy._held(%s, %s, %s)", quote_literal_cstr(subj->name),
						MapCanonText(subj, MapKeyExprAt(subj, path, idx, alias)), RET_HOLD_TOKEN);
	h = list_nth(path, idx);
	/* the root read for its spelling of a link's or a direct key's value */
	if (h->link || (idx == list_length(path) - 1 && MapEdgeIsDirect(subj, h)))
		return NULL;
	return hold_cross(subj, h, alias, s, path, idx, NULL, stack);
}

/*
 * hold_table_cond
 *		The hold condition of one subject type on row alias of mt (a row of
 *		s), each table read as its owner: its paths (hold_path_cond), or, for
 *		a referenced table, its edges: the key itself for an edge that
 *		compares a column with it, the tables its other edges lead to across
 *		owners.  NULL when a part cannot be followed, or when a referenced
 *		table's edges lead back to it (on stack): MapCondition follows such a
 *		cycle to a fixed point, which this does not.
 */
static char *
hold_table_cond(MapSubject *subj, MapTable *mt, const char *alias, RetHoldScope *s, List *stack)
{
	StringInfoData buf;
	ListCell   *lc,
			   *ec;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	if (!mt->outbound)
	{
		List	   *paths = MapKeyPaths(subj, mt);
		List	   *exprs = MapKeyExprs(subj, mt, alias);

		forboth(lc, paths, ec, exprs)
		{
			char	   *c;

			if (hold_path_owned(subj, lfirst(lc), 0, s->owner))
				c = psprintf("privacy._held(%s, %s, %s)", quote_literal_cstr(subj->name),
							 MapCanonText(subj, lfirst(ec)), RET_HOLD_TOKEN);
			else if ((c = hold_path_cond(subj, lfirst(lc), 0, alias, s, stack)) == NULL)
				return NULL;
			appendStringInfo(&buf, "%s%s", first ? "" : " OR ", c);
			first = false;
		}
	}
	else
	{
		if (list_member_oid(stack, mt->relid))
			return NULL;
		stack = lappend_oid(list_copy(stack), mt->relid);
		foreach(ec, MapTableEdges(mt))
		{
			MapHop	   *h = lfirst(ec);
			char	   *c;

			if (!MapEdgeNeedsSet(subj, h))
			{
				/* a column compared with the key: every held key of the type (as RetentionHoldFilter) */
				int32		basemod = subj->key_typmod;
				Oid			base = getBaseTypeAndTypmod(subj->key_type, &basemod);
				bool		was = MapKeysPrivate(true);
				CondCtx		cx;
				StringInfoData m;

				memset(&cx, 0, sizeof(cx));
				cx.subj = subj;
				cx.keyexpr = psprintf("CAST(hk.k AS %s)", format_type_with_typemod(base, basemod));
				initStringInfo(&m);
				PG_TRY();
				{
					MapAppendMatch(&m, &cx, h, alias);
				}
				PG_FINALLY();
				{
					MapKeysPrivate(was);
				}
				PG_END_TRY();
				c = psprintf("EXISTS (SELECT 1 FROM privacy._held_keys(%s, %s) hk(k) WHERE (%s))",
							 quote_literal_cstr(subj->name), RET_HOLD_TOKEN, m.data);
			}
			else
			{
				MapTable   *up = MapFindTable(subj, h->prel);

				if (up == NULL)
					c = "false";	/* a table dropped since */
				else if ((c = hold_cross(subj, h, alias, s, NIL, 0, up, stack)) == NULL)
					return NULL;
			}
			appendStringInfo(&buf, "%s%s", first ? "" : " OR ", c);
			first = false;
		}
	}
	if (first)
		return "false";
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

char *
RetentionHoldFilter(Oid relid, const char *alias, List *required)
{
	return RetentionHoldFilterIn(relid, alias, required, NULL);
}

/*
 * RetentionHoldFilterIn
 *		RetentionHoldFilter for a statement that runs in the pseudonym scope
 *		as scope->owner (NULL: as RetentionHoldFilter): a subject type whose
 *		condition would read a table of another owner is asked across
 *		owners instead, each table read as its owner, security-restricted,
 *		before the statement (hold_table_cond), the keys passed as
 *		parameters added to scope.  Where every table the condition reads is
 *		scope->owner's, the text is RetentionHoldFilter's.
 */
char *
RetentionHoldFilterIn(Oid relid, const char *alias, List *required, RetHoldScope *scope)
{
	List	   *subjects = MapSubjectsOfTable(relid);
	ListCell   *lc,
			   *kc;
	StringInfoData buf;
	bool		first = true;
	bool		scoped = GuardPseudonymToken() != NULL;
	const char *token = "CAST(" GUARD_SCOPE_PARAM " AS pg_catalog.text)";
	const char *active = PRIVACY_HOLD_ACTIVE;

	/*
	 * Fail closed: a subject type the pass began with that no longer
	 * reaches the table (a foreign key dropped meanwhile) would take its
	 * holds out of the filter; the batch stops before it changes anything.
	 */
	foreach(lc, required)
	{
		ListCell   *sc;
		bool		found = false;

		foreach(sc, subjects)
			if (strcmp(lfirst(sc), lfirst(lc)) == 0)
				found = true;
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table %s no longer belongs to subject type \"%s\"",
							get_rel_name(relid), (char *) lfirst(lc)),
					 errdetail("The map changed during the retention pass; this batch changed nothing."),
					 errhint("The policy is retried; restore the table's foreign keys or links if they were dropped.")));
	}
	if (subjects == NIL)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	foreach(lc, subjects)
	{
		MapSubject *subj = MapGetSubject(lfirst(lc));
		MapTable   *mt = subj ? MapFindTable(subj, relid) : NULL;
		const char *keytype;

		/* privacy.map says the table is there: the compiled map must agree */
		if (mt == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the map of subject type \"%s\" changed during the retention pass",
							(char *) lfirst(lc)),
					 errhint("The policy is retried.")));
		keytype = format_type_with_typemod(subj->key_type, subj->key_typmod);
		if (scoped && scope != NULL && !hold_table_owned(subj, mt, scope->owner))
		{
			char	   *c = hold_table_cond(subj, mt, alias, scope, NIL);

			/* NULL: a table above that cannot be followed: read as before */
			if (c != NULL)
			{
				appendStringInfo(&buf, "%s%s", first ? "" : " OR ", c);
				first = false;
				continue;
			}
		}
		if (mt->outbound)
		{
			/*
			 * every held key of the type meets the condition: as the key's
			 * base type (a domain's CHECK is its owner's code), and a link
			 * column of a user's type converted to the key's type rather
			 * than the keys to its type (MapKeysPrivate)
			 */
			int32		basemod = subj->key_typmod;
			Oid			base = getBaseTypeAndTypmod(subj->key_type, &basemod);
			bool		was = MapKeysPrivate(true);
			char	   *volatile cond = NULL;

			keytype = format_type_with_typemod(base, basemod);
			PG_TRY();
			{
				cond = MapCondition(subj, mt, alias,
									psprintf(scoped ? "CAST(hk.k AS %s)" : "CAST(h.subject_key AS %s)", keytype));
			}
			PG_FINALLY();
			{
				MapKeysPrivate(was);
			}
			PG_END_TRY();
			if (scoped)
				appendStringInfo(&buf,
								 "%sEXISTS (SELECT 1 FROM privacy._held_keys(%s, %s) hk(k) WHERE (%s))",
								 first ? "" : " OR ", quote_literal_cstr(subj->name), token, cond);
			else
				appendStringInfo(&buf,
								 "%sEXISTS (SELECT 1 FROM privacy.holds h WHERE h.subject OPERATOR(pg_catalog.=) %s"
								 " AND %s AND (%s))",
								 first ? "" : " OR ", quote_literal_cstr(subj->name), active, cond);
			first = false;
			continue;
		}
		foreach(kc, MapKeyExprs(subj, mt, alias))
		{
			if (scoped)
				appendStringInfo(&buf,
								 "%sprivacy._held(%s, %s, %s)",
								 first ? "" : " OR ", quote_literal_cstr(subj->name),
								 MapCanonText(subj, (char *) lfirst(kc)), token);
			else
				appendStringInfo(&buf,
								 "%sEXISTS (SELECT 1 FROM privacy.holds h WHERE h.subject OPERATOR(pg_catalog.=) %s"
								 " AND %s AND h.subject_key OPERATOR(pg_catalog.=) %s)",
								 first ? "" : " OR ", quote_literal_cstr(subj->name), active,
								 MapCanonText(subj, (char *) lfirst(kc)));
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
 *		is in anonymize mode or has a 'keep' column, or so is a table of its
 *		partition tree: a partitioned ancestor (a partition is a dependent
 *		by itself when its key is its own; its mode and classifications are
 *		its partitioned table's, as set_erasure_mode and classify name only
 *		that one) or a partition (one attached after it was set, which
 *		blocks the whole table: never less than its own rows).  SPI
 *		connected, as the extension owner.
 */
static bool
ret_table_must_stay(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	RetentionExec("WITH tree AS (SELECT a.relid FROM pg_catalog.pg_partition_ancestors($1) a"
				  " UNION SELECT t.relid FROM pg_catalog.pg_partition_tree($1) t"
				  " UNION SELECT $1)"
				  " SELECT 1 WHERE EXISTS (SELECT FROM privacy.table_modes m"
				  " WHERE m.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (SELECT relid FROM tree)"
				  " AND m.mode OPERATOR(pg_catalog.=) 'anonymize')"
				  " OR EXISTS (SELECT FROM privacy.classifications c"
				  " WHERE c.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (SELECT relid FROM tree)"
				  " AND c.erasure OPERATOR(pg_catalog.=) 'keep')",
				  1, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/*
 * ret_dep_holds
 *		The mapped tables of dependent d's partition tree, whose subjects'
 *		holds apply to d's rows: d itself, its partitioned ancestors (a
 *		partition is a dependent by itself when its key is its own, while
 *		its partitioned table is the one in the map) and its partitions
 *		mapped by themselves (a key of their own to a subject), each of
 *		those for the rows of its own leaves only.  Before, only d's own
 *		map was read: a held subject's row reached through a leaf was
 *		deleted with an expiring row.  Returns whether any is mapped.
 *		SPI connected, as the extension owner.
 */
static bool
ret_dep_holds(RetDep *d)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(d->relid)};
	int			n;
	Oid		   *rels;
	char	  **leaves;

	RetentionExec("SELECT a.relid, NULL::pg_catalog.text FROM pg_catalog.pg_partition_ancestors($1) a"
				  " UNION ALL SELECT $1, NULL WHERE NOT EXISTS"
				  "  (SELECT FROM pg_catalog.pg_partition_ancestors($1))"
				  " UNION ALL SELECT t.relid, (SELECT pg_catalog.array_agg(l.relid::pg_catalog.oid ORDER BY l.relid)::pg_catalog.text"
				  "  FROM pg_catalog.pg_partition_tree(t.relid) l WHERE l.isleaf)"
				  " FROM pg_catalog.pg_partition_tree($1) t WHERE t.relid OPERATOR(pg_catalog.<>) $1",
				  1, types, values, NULL, SPI_OK_SELECT);
	n = (int) SPI_processed;
	rels = palloc(sizeof(Oid) * (n + 1));
	leaves = palloc0(sizeof(char *) * (n + 1));
	for (int k = 0; k < n; k++)
	{
		bool		isnull;
		Datum		v;

		rels[k] = DatumGetObjectId(RetentionGet(k, 1, &isnull));
		v = RetentionGet(k, 2, &isnull);
		if (!isnull)
			leaves[k] = TextDatumGetCString(v);
	}
	d->holdrels = d->holdsubj = d->holdleaves = NIL;
	for (int k = 0; k < n; k++)
	{
		List	   *subjects = MapSubjectsOfTable(rels[k]);

		if (subjects == NIL)
			continue;
		d->holdrels = lappend_oid(d->holdrels, rels[k]);
		d->holdsubj = lappend(d->holdsubj, subjects);
		d->holdleaves = lappend(d->holdleaves, leaves[k]);
	}
	return d->holdrels != NIL;
}

/*
 * RetentionDepHoldFilter
 *		SQL condition on alias c (a row of dependent d, read through d's
 *		qualname): the row belongs to a subject under an active legal hold,
 *		by the map of any table of d's partition tree (ret_dep_holds); NULL
 *		when none is mapped.  Fails closed as RetentionHoldFilter does when
 *		a table no longer belongs to a subject type the pass began with.
 */
char *
RetentionDepHoldFilter(RetDep *d)
{
	return RetentionDepHoldFilterIn(d, NULL);
}

/* RetentionDepHoldFilter for a statement of scope (RetentionHoldFilterIn) */
char *
RetentionDepHoldFilterIn(RetDep *d, RetHoldScope *scope)
{
	ListCell   *lc;
	char	   *out = NULL;

	foreach(lc, d->holdrels)
	{
		int			i = foreach_current_index(lc);
		char	   *f = RetentionHoldFilterIn(lfirst_oid(lc), "c", list_nth(d->holdsubj, i), scope);
		char	   *leaves = list_nth(d->holdleaves, i);

		if (f == NULL)
			continue;
		if (leaves != NULL)
			f = psprintf("(c.tableoid OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.oid[]) AND %s)",
						 quote_literal_cstr(leaves), f);
		out = out == NULL ? f : psprintf("(%s OR %s)", out, f);
	}
	return out;
}

/*
 * RetentionLoadDeps
 *		The tables that depend on the policy's table through foreign keys,
 *		breadth first, at most RET_MAX_DEPTH deep.  Keys with ON DELETE SET
 *		NULL / SET DEFAULT keep the referencing row: not followed.  A
 *		dependent that must stay (anonymize mode, a 'keep' column, any
 *		dependent of a policy with cascade => false, another role's table
 *		behind a NO ACTION/RESTRICT key) is a leaf whose every row blocks;
 *		otherwise its held rows block and its own dependents follow.
 *		Beyond the depth limit any dependent row blocks.
 */
List *
RetentionLoadDeps(RetPolicy *p)
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
				StringInfoData join,
							pkeys,
							ujoin;
				bool		leaf;

				if ((h->deltype == 'n' || h->deltype == 'd') && p->cascade)
					continue;	/* the row stays, its key is reset by PostgreSQL */
				d = palloc0(sizeof(RetDep));
				d->parent = pi;
				d->relid = h->rel;
				d->name = UtilQualifiedName(h->rel);
				d->qualname = psprintf("%s%s",
									   get_rel_relkind(h->rel) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
									   d->name);
				initStringInfo(&join);
				initStringInfo(&pkeys);
				initStringInfo(&ujoin);
				for (int i = 0; i < h->ncols; i++)
				{
					const char *ccol = quote_identifier(get_attname(h->rel, h->cols[i], false));
					const char *pcol = quote_identifier(get_attname(prel, h->pcols[i], false));

					appendStringInfo(&join, "%sc.%s OPERATOR(pg_catalog.=) p.%s", i > 0 ? " AND " : "",
									 ccol, pcol);
					/*
					 * a key into one partition by columns not unique on the
					 * table: only the rows of that partition are referenced
					 * (a row of another partition with the same key values
					 * has no dependent through it)
					 */
					if (h->npleaves > 0)
						appendStringInfo(&pkeys, "%sCASE WHEN TRUE%s THEN p.%s END", i > 0 ? ", " : "",
										 MapHopParentLeaves(h, "p"), pcol);
					else
						appendStringInfo(&pkeys, "%sp.%s", i > 0 ? ", " : "", pcol);
					appendStringInfo(&ujoin, "%sc.%s OPERATOR(pg_catalog.=) u.k%d", i > 0 ? " AND " : "",
									 ccol, i + 1);
				}
				if (h->nacton > 0)
				{
					/*
					 * a key of some leaves only: the rows of the other leaves
					 * hold no reference, whatever their values (they were
					 * deleted as dependents)
					 */
					StringInfoData leaves;

					initStringInfo(&leaves);
					for (int i = 0; i < h->nacton; i++)
						appendStringInfo(&leaves, "%s%u", i > 0 ? "," : "", h->acton[i]);
					appendStringInfo(&join, " AND c.tableoid OPERATOR(pg_catalog.=) ANY ('{%s}'::pg_catalog.oid[])",
									 leaves.data);
					appendStringInfo(&ujoin, " AND c.tableoid OPERATOR(pg_catalog.=) ANY ('{%s}'::pg_catalog.oid[])",
									 leaves.data);
				}
				appendStringInfoString(&join, MapHopParentLeaves(h, "p"));
				d->join = join.data;
				d->pkeys = pkeys.data;
				d->ujoin = ujoin.data;
				d->ncols = h->ncols;
				d->indexed = ret_fk_indexed(h->rel, h->cols, h->ncols);
				leaf = true;
				if (depth > RET_MAX_DEPTH)
					d->stay = "true";	/* nested too deep to follow */
				else if (ret_table_must_stay(h->rel))
					d->stay = "true";
				else if (!p->cascade)
					d->stay = "true";	/* SPEC: any dependent blocks */
				else if (h->deltype != 'c' && UtilRelationOwner(h->rel) != p->owner)
				{
					/*
					 * another role's rows that its NO ACTION / RESTRICT key
					 * protects: the policy table's owner could not delete
					 * them, nor may its policy (each dependent is deleted
					 * as its own table's owner)
					 */
					d->stay = "true";
				}
				else if (ret_dep_holds(d) && !p->by_admin)
					d->stay = "true";	/* no hold oracle (RetentionCheckCreator) */
				else
				{
					/* its held rows stay: asked per batch, in the scope */
					d->holds = RetentionDepHoldFilter(d) != NULL;
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
 * RetentionPinSettings
 *		Pin TimeZone (the policy's zone: a timestamp without time zone is
 *		read in it, and the cutoff's calendar arithmetic follows its DST
 *		rules), DateStyle and lock_timeout for one batch;
 *		returns the GUC nest level to pass to AtEOXact_GUC.
 */
int
RetentionPinSettings(RetPolicy *p)
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
	RetentionExec("SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid OPERATOR(pg_catalog.=) $1"
			 " AND i.indisvalid AND i.indnkeyatts OPERATOR(pg_catalog.>=) pg_catalog.cardinality($2)"
			 " AND (i.indkey::pg_catalog.int2[])[0:pg_catalog.cardinality($2) OPERATOR(pg_catalog.-) 1]"
			 " OPERATOR(pg_catalog.@>) $2"
			 " AND $2 OPERATOR(pg_catalog.@>) (i.indkey::pg_catalog.int2[])[0:pg_catalog.cardinality($2) OPERATOR(pg_catalog.-) 1]",
			 2, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0;
}


/*-------------------------------------------------------------------------
 * SQL-callable functions
 *-------------------------------------------------------------------------
 */

/*
 * ret_check_add_args
 *		The arguments of add_retention: the age column (returns its number)
 *		is a date or timestamp, keep a positive interval, action "delete"
 *		or "anonymize" (columns only with "anonymize"), time_zone (may be
 *		NULL) one TimeZone accepts.  22023 otherwise.
 */
static AttrNumber
ret_check_add_args(Oid relid, const char *agecol, Interval *keep, const char *action,
				   bool has_columns, const char *time_zone)
{
	AttrNumber	attnum = ret_column(relid, agecol);
	Oid			agetype;
	int32		agetypmod;
	Oid			coll;

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
	if (strcmp(action, "delete") == 0 && has_columns)
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
	return attnum;
}

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
	RetUser		su;
	int64		id;
	bool		isnull;
	Oid			types[11] = {OIDOID, NAMEOID, INTERVALOID, TEXTOID, NAMEARRAYOID, NAMEOID,
	INT2OID, BOOLOID, TEXTOID, TEXTARRAYOID, BOOLOID};
	Datum		values[11];
	char		nulls[11] = "           ";
	List	   *subjects;
	Datum	   *selems;
	ListCell   *lc;
	bool		cascade = PG_NARGS() > 5 && !PG_ARGISNULL(5) ? PG_GETARG_BOOL(5) : true;
	char	   *time_zone = PG_NARGS() > 6 && !PG_ARGISNULL(6) ? text_to_cstring(PG_GETARG_TEXT_PP(6)) : NULL;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("arguments \"tbl\", \"age_column\", \"keep\" and \"action\" must not be null")));
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

	attnum = ret_check_add_args(relid, agecol, keep, action, columns != NULL, time_zone);

	extowner = UtilExtensionOwner();
	RetentionSpiConnect();
	RetentionBecome(extowner, false, &su);
	if (!ret_is_admin(caller))
	{
		/* a table owner's own policy: not on a mapped table (RetentionCheckCreator) */
		List	   *mapped = MapSubjectsOfTable(relid);

		if (mapped != NIL)
			ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							errmsg("permission denied to add a retention policy on table %s", get_rel_name(relid)),
							errdetail("The table is in the data map of subject type \"%s\": the rows a policy leaves show which subjects are under a legal hold.",
									  (char *) linitial(mapped)),
							errhint("Only a member of privacy_admin may add a policy on a mapped table.")));
	}
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
	/* the subject types whose holds its runs must see (ret_check_subjects) */
	subjects = MapSubjectsOfTable(relid);
	selems = palloc(sizeof(Datum) * Max(list_length(subjects), 1));
	foreach(lc, subjects)
		selems[foreach_current_index(lc)] = CStringGetTextDatum(lfirst(lc));
	values[9] = PointerGetDatum(construct_array(selems, list_length(subjects), TEXTOID, -1, false,
												TYPALIGN_INT));
	/* the author's standing now, for the day it no longer exists (RetentionLoadPolicy) */
	values[10] = BoolGetDatum(ret_is_admin(caller));
	RetentionExec("INSERT INTO privacy.retention (table_name, age_column, keep, action, columns, created_by, "
			 "age_attnum, cascade, time_zone, subjects, created_by_admin, column_attnums) "
			 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $5 IS NOT NULL THEN "
			 "ARRAY(SELECT a.attnum FROM pg_catalog.unnest($5) WITH ORDINALITY c(name, o) "
			 "JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) $1 "
			 "AND a.attname OPERATOR(pg_catalog.=) c.name AND NOT a.attisdropped ORDER BY c.o) END) RETURNING id",
			 11, types, values, nulls, SPI_OK_INSERT_RETURNING);
	id = DatumGetInt64(RetentionGet(0, 1, &isnull));
	types[0] = INT8OID;
	values[0] = Int64GetDatum(id);
	RetentionExec("INSERT INTO privacy.retention_state (policy) VALUES ($1)",
			 1, types, values, NULL, SPI_OK_INSERT);
	types[0] = OIDOID;
	values[0] = ObjectIdGetDatum(relid);
	types[1] = INT2OID;
	values[1] = Int16GetDatum(attnum);
	RetentionExec("SELECT 1 FROM pg_catalog.pg_index WHERE indrelid = $1 AND indkey[0] = $2 "
			 "AND indpred IS NULL AND indisvalid",
			 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(NOTICE, (errmsg("no index on column \"%s\" of table %s", agecol, get_rel_name(relid)),
						 errhint("Retention batches walk the age column; create an index on it.")));
	AuditAppend("add_retention", NULL,
				psprintf("{\"policy\": " INT64_FORMAT "}", id));
	RetentionRestore(&su);
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
						errmsg("argument \"policy\" must not be null")));
	id = PG_GETARG_INT64(0);
	values[0] = Int64GetDatum(id);
	RetentionSpiConnect();
	RetentionBecome(UtilExtensionOwner(), false, &su);
	/*
	 * Lock order of a pass: the policy's state row, then (by the foreign
	 * keys of the runs) the policy row.  Take them in that order, so a
	 * worker in the middle of a batch is waited for instead of deadlocked
	 * with; its next batch then finds the state row locked and stops.
	 */
	RetentionExec("SELECT 1 FROM privacy.retention_state WHERE policy OPERATOR(pg_catalog.=) $1 FOR UPDATE",
				  1, types, values, NULL, SPI_OK_SELECT);
	RetentionExec("SELECT table_name::oid FROM privacy.retention WHERE id = $1 FOR UPDATE",
			 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("retention policy %lld does not exist", (long long) id)));
	relid = DatumGetObjectId(RetentionGet(0, 1, &isnull));
	if (!ret_is_admin(caller) &&
		!(get_rel_name(relid) != NULL && pg_class_ownercheck(relid, caller)))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("permission denied to drop retention policy %lld", (long long) id),
						errhint("Only the table's owner or a member of privacy_admin may.")));
	RetentionExec("DELETE FROM privacy.retention WHERE id = $1", 1, types, values, NULL, SPI_OK_DELETE);
	AuditAppend("drop_retention", NULL, psprintf("{\"policy\": " INT64_FORMAT "}", id));
	RetentionRestore(&su);
	SPI_finish();
	PG_RETURN_VOID();
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
	Oid			extowner = UtilExtensionOwner();
	char	   *needs;
	Oid			types[GUARD_SCOPE_PARAMNO];
	Datum		values[GUARD_SCOPE_PARAMNO];

	RetentionSpiConnect();
	RetentionBecome(extowner, false, &su);
	p = RetentionLoadPolicy(id);
	RetentionRestore(&su);
	/*
	 * Exact up to BACKLOG_EXACT rows (an index range scan), then the
	 * planner's estimate.  In a pseudonym scope: the "still needs work"
	 * test verifies pseudonyms with its token ($4; $1-$3 unused).
	 */
	(void) GuardPseudonymScopeBegin();
	needs = RetentionNeedsSql(p);
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
	RetentionBecome(p->owner, true, &su);
	RetentionExec(sql, GUARD_SCOPE_PARAMNO, types, values, NULL, SPI_OK_SELECT);
	estimate = DatumGetInt64(RetentionGet(0, 1, &isnull));
	if (estimate > BACKLOG_EXACT)
	{
		RetentionExec(psprintf("EXPLAIN (FORMAT JSON) SELECT 1 FROM %s%s t WHERE %s",
						  p->partitioned ? "" : "ONLY ", p->qualname, cond),
				 GUARD_SCOPE_PARAMNO, types, values, NULL, SPI_OK_UTILITY);
		plan = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		rows = plan ? strstr(plan, "\"Plan Rows\":") : NULL;
		if (rows)
			estimate = Max(estimate, strtoll(rows + strlen("\"Plan Rows\":"), NULL, 10));
	}
	RetentionRestore(&su);
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

		RetentionSpiConnect();
		RetentionBecome(UtilExtensionOwner(), false, &su);
		(void) RetentionLoadPolicy(id);
		RetentionRestore(&su);
		SPI_finish();
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata = RetentionSubxactCaught(cxt, owner);

		problem = psprintf("%s: %s", unpack_sql_state(edata->sqlerrcode), GuardSafeMessage(edata));
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
