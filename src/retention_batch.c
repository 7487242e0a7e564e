/*-------------------------------------------------------------------------
 * retention_batch.c
 *		One batch of a retention pass (RetentionBatch), shared by
 *		run_retention() and the background worker: a function that never
 *		commits; the driver (retention.c) owns the transactions.
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
 *	 1. as the extension owner: LOCK privacy.holds IN SHARE MODE (holds
 *		committed before this point are visible to the next statement, and
 *		none can commit until the batch ends: hold() waits at most one
 *		batch), then lock the policy's state row;
 *	 2. as the table owner, security-restricted: pick the next candidates
 *		by keyset and lock those that still need work FOR UPDATE SKIP LOCKED
 *		(locked rows are left for the next pass);
 *	 3. as the table owner, security-restricted (a new statement, so a new
 *		snapshot): drop the locked rows that belong to a subject under an
 *		active hold (RetentionHoldFilter: any subject of a shared row) and
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

#include "compat.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "portability/instr_time.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "guard.h"
#include "retention.h"

#define RETENTION_OPTIMISTIC_WAIT "50ms"

static bool ret_row_error(int sqlerrcode);

/*
 * ret_batch_sql
 *		Step 2 of a batch: the next candidates by keyset ($1 cutoff, $2/$3
 *		position, $4 the pseudonym scope's token, $5 batch size), locked
 *		FOR UPDATE SKIP LOCKED ("lk").
 *		With change, the same statement also deletes or rewrites the rows
 *		of src: "lk" (the locked rows) or "cand" (every candidate, waiting
 *		for row locks).  Columns: candidates, last age, last ctid, locked
 *		ctids (without change), rows changed.
 *
 *		The position is a timestamptz (retention_state.pos_age).  A
 *		timestamp (without time zone) age is stored as its wall-clock time
 *		read in UTC, and compared as a timestamp again: read in the policy's
 *		zone, a time in the hour that a DST change skips (02:30 in Berlin)
 *		is a later instant than the 03:00-03:29 that follow it in the
 *		column's order, and a batch that ended on it made the next one skip
 *		them (every pass, while the rows before it stayed).
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
		{
			/* a timestamp age: the position in its own type (above) */
			const char *pos = p->age_local ? "pg_catalog.timezone('UTC', $2)" : "$2";

			appendStringInfo(&sql, " AND t.%s >= %s AND (t.%s > %s OR t.ctid > $3)",
							 p->age, pos, p->age, pos);
		}
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
	appendStringInfo(&sql,
					 " SELECT (SELECT pg_catalog.count(*) FROM cand), "
					 "(SELECT %s FROM last), (SELECT c FROM last), ",
					 p->age_local ? "pg_catalog.timezone('UTC', a)" : "CAST(a AS pg_catalog.timestamptz)");
	appendStringInfoString(&sql, change ?
						   "CAST('{}' AS pg_catalog.tid[]), (SELECT pg_catalog.count(*) FROM chg)" :
						   "ARRAY(SELECT c FROM lk), 0");
	return sql.data;
}


/*
 * ret_try_optimistic
 *		Fast path of a batch on a table no hold can apply to: change every
 *		candidate in one statement, without taking row locks first (a row
 *		lock costs a WAL record per row).  A candidate locked by another
 *		session makes the statement wait; after RETENTION_OPTIMISTIC_WAIT the
 *		attempt is rolled back (subtransaction) and the caller runs the
 *		SKIP LOCKED form instead, as after an error that can be one row's
 *		(ret_row_error: batch_change then changes the rows one by one).
 *		Returns true when the statement ran (its result in SPI_tuptable).
 */
static bool
ret_try_optimistic(RetPolicy *p, const char *sql, Oid *types, Datum *values, const char *nulls,
				   bool *constraint)
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
		RetentionBecome(p->owner, true, &su);
		RetentionExec(sql, 5, types, values, nulls, SPI_OK_SELECT);
		RetentionRestore(&su);
		AtEOXact_GUC(true, level);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata = RetentionSubxactCaught(cxt, owner);

		/* a lock, or one row's error: batch_change changes row by row */
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE && !ret_row_error(edata->sqlerrcode))
			ReThrowError(edata);
		*constraint = edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE;
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
	RetentionExec("SELECT pg_catalog.pg_relation_size($1) / pg_catalog.current_setting('block_size')::int",
			 1, t, v, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1 || DatumGetInt64(RetentionGet(0, 1, &isnull)) < 16)
		return false;
	sql = psprintf("SELECT pg_catalog.count(*) FILTER (WHERE t.%s < $2)::float8"
				   " / GREATEST(pg_catalog.count(*), 1) FROM ONLY %s t TABLESAMPLE SYSTEM ("
				   "LEAST(100, GREATEST(0.5, 300000 / GREATEST((SELECT c.reltuples FROM pg_catalog.pg_class c"
				   " WHERE c.oid = $1), pg_catalog.pg_relation_size($1) / 80, 1))))",
				   p->age, p->qualname);
	v[1] = cutoff;
	RetentionBecome(p->owner, true, &su);
	RetentionExec(sql, 2, t, v, NULL, SPI_OK_SELECT);
	RetentionRestore(&su);
	share = DatumGetFloat8(RetentionGet(0, 1, &isnull));
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
	RetentionExec("SELECT min(t.relid) FROM pg_catalog.pg_partition_tree($1) t "
			 "WHERE t.isleaf AND t.relid::pg_catalog.oid > $2",
			 2, types, values, NULL, SPI_OK_SELECT);
	values[0] = RetentionGet(0, 1, &isnull);
	return isnull ? InvalidOid : DatumGetObjectId(values[0]);
}


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
 * ret_dependents_held
 *		Which of the rows r of dependent table d belong to a subject under
 *		an active legal hold (any of the subjects a shared row belongs to, by
 *		the map of any table of its partition tree: RetentionDepHoldFilter):
 *		sets stays[k] for them.  The hold filter converts keys with the
 *		owner's types and casts, so it runs as d's owner, security-
 *		restricted, asking privacy._held / privacy._held_keys with the
 *		scope's token ($4).
 */
static void
ret_dependents_held(RetDep *d, RetDepRows *r, bool *stays)
{
	char	   *filter;
	Oid			types[GUARD_SCOPE_PARAMNO] = {OIDARRAYOID, TIDARRAYOID, TEXTOID, TEXTOID};
	Datum		values[GUARD_SCOPE_PARAMNO];
	RetHoldScope hs;
	Oid			owner;
	RetUser		su;
	int			level;

	if (!d->holds)
		return;
	values[0] = PointerGetDatum(construct_array(r->oids, r->n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	values[1] = PointerGetDatum(ret_tid_array(r->tids, r->n));
	values[2] = CStringGetTextDatum("");
	values[3] = CStringGetTextDatum(GuardPseudonymToken());
	/* locked before its owner is read (batch_lock_table) */
	LockRelationOid(d->relid, AccessShareLock);
	owner = UtilRelationOwner(d->relid);
	/* the tables above of other owners read as their owners, before */
	RetentionHoldScopeInit(&hs, owner, psprintf("%s c", d->qualname),
						   "EXISTS (SELECT 1 FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) u(o, t)"
						   " WHERE c.ctid OPERATOR(pg_catalog.=) u.t AND c.tableoid OPERATOR(pg_catalog.=) u.o)",
						   GUARD_SCOPE_PARAMNO, types, values);
	filter = RetentionDepHoldFilterIn(d, &hs);
	if (filter == NULL)
		return;
	level = ret_pin_nestloop();
	RetentionBecome(owner, true, &su);
	RetentionExec(psprintf("SELECT u.i FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))"
					  " WITH ORDINALITY u(o, t, i)"
					  " JOIN %s c ON c.ctid OPERATOR(pg_catalog.=) u.t AND c.tableoid OPERATOR(pg_catalog.=) u.o"
					  " WHERE COALESCE((%s), false)", d->qualname, filter),
			 hs.nargs, hs.types, hs.values, NULL, SPI_OK_SELECT);
	RetentionRestore(&su);
	AtEOXact_GUC(true, level);
	for (uint64 k = 0; k < SPI_processed; k++)
	{
		bool		isnull;
		int64		idx = DatumGetInt64(RetentionGet(k, 1, &isnull));

		if (!isnull && idx >= 1 && idx <= r->n)
			stays[idx - 1] = true;
	}
}

/*
 * dep_find
 *		The rows of dependent table d that reference the rows pr of its
 *		parent (NULL: the policy rows atids, napply of them, of the leaf
 *		whose OID fills leafoids), into *out.  Returns, per row, whether it
 *		must stay (d->stay, or a subject under a hold).  Each table is read
 *		as its owner, security-restricted, with pg_catalog operators: the
 *		planner runs a table's own code (the constant parts of its index
 *		expressions and predicates, of its statistics' expressions), which
 *		must never run as the extension owner or as another table's owner.
 *		Parent and dependent of one owner: one statement; of two: the
 *		parent's referenced columns first, read by its owner, then the
 *		dependent's rows that hold them, by the dependent's.
 */
static bool *
dep_find(RetPolicy *p, RetDep *d, RetDepRows *pr, Datum *atids, Datum *leafoids, int napply,
		 RetDepRows *out)
{
	Oid			types[3] = {TIDARRAYOID, OIDARRAYOID, TIDARRAYOID};
	Datum		values[3];
	char	   *sql;
	int			pn = pr ? pr->n : napply;
	bool	   *stays;
	int			level = d->indexed ? ret_pin_nestloop() : 0;
	RetDep	   *parent = d->parent >= 0 ? (RetDep *) list_nth(p->deps, d->parent) : NULL;
	const char *pqual = parent ? parent->qualname : psprintf("ONLY %s", p->qualname);
	Oid			powner = parent ? UtilRelationOwner(parent->relid) : p->owner;
	Oid			cowner = UtilRelationOwner(d->relid);
	const char *rows = "ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) u(r, o, t)";
	RetUser		su;

	values[0] = PointerGetDatum(ret_tid_array(pr ? pr->roots : atids, pn));
	values[1] = PointerGetDatum(construct_array(pr ? pr->oids : leafoids, pn, OIDOID,
												sizeof(Oid), true, TYPALIGN_INT));
	values[2] = PointerGetDatum(ret_tid_array(pr ? pr->tids : atids, pn));
	if (powner == cowner)
	{
		sql = psprintf("SELECT u.r, c.tableoid, c.ctid, COALESCE((%s), false) FROM %s "
					   "JOIN %s p ON p.ctid OPERATOR(pg_catalog.=) u.t AND p.tableoid OPERATOR(pg_catalog.=) u.o "
					   "JOIN %s c ON %s",
					   d->stay ? d->stay : "false", rows, pqual, d->qualname, d->join);
		RetentionBecome(cowner, true, &su);
		RetentionExec(sql, 3, types, values, NULL, SPI_OK_SELECT);
		RetentionRestore(&su);
	}
	else
	{
		Oid		   *ktypes = palloc(sizeof(Oid) * (d->ncols + 1));
		Datum	   *kvalues = palloc(sizeof(Datum) * (d->ncols + 1));
		int			n;
		StringInfoData q;

		RetentionBecome(powner, true, &su);
		RetentionExec(psprintf("SELECT u.r, %s FROM %s JOIN %s p ON p.ctid OPERATOR(pg_catalog.=) u.t"
							   " AND p.tableoid OPERATOR(pg_catalog.=) u.o", d->pkeys, rows, pqual),
					  3, types, values, NULL, SPI_OK_SELECT);
		RetentionRestore(&su);
		n = (int) SPI_processed;
		initStringInfo(&q);
		appendStringInfo(&q, "SELECT u.r, c.tableoid, c.ctid, COALESCE((%s), false)"
						 " FROM ROWS FROM (pg_catalog.unnest($1)", d->stay ? d->stay : "false");
		for (int i = 0; i <= d->ncols; i++)
		{
			Oid			elem = getBaseType(SPI_gettypeid(SPI_tuptable->tupdesc, i + 1));
			int16		len;
			bool		byval;
			char		align;
			Datum	   *e = palloc(sizeof(Datum) * (n + 1));
			bool	   *nulls = palloc(sizeof(bool) * (n + 1));
			int			dims[1] = {n};
			int			lbs[1] = {1};

			ktypes[i] = get_array_type(elem);
			if (!OidIsValid(ktypes[i]))
				elog(ERROR, "no array type for type %u", elem);
			get_typlenbyvalalign(elem, &len, &byval, &align);
			for (int k = 0; k < n; k++)
				e[k] = RetentionGet(k, i + 1, &nulls[k]);
			kvalues[i] = PointerGetDatum(construct_md_array(e, nulls, 1, dims, lbs, elem, len, byval, align));
			if (i > 0)
				appendStringInfo(&q, ", pg_catalog.unnest($%d)", i + 1);
		}
		appendStringInfoString(&q, ") u(r");
		for (int i = 1; i <= d->ncols; i++)
			appendStringInfo(&q, ", k%d", i);
		appendStringInfo(&q, ") JOIN %s c ON %s", d->qualname, d->ujoin);
		RetentionBecome(cowner, true, &su);
		RetentionExec(q.data, d->ncols + 1, ktypes, kvalues, NULL, SPI_OK_SELECT);
		RetentionRestore(&su);
	}
	if (level > 0)
		AtEOXact_GUC(true, level);

	out->n = (int) SPI_processed;
	out->roots = palloc(sizeof(Datum) * (SPI_processed + 1));
	out->oids = palloc(sizeof(Datum) * (SPI_processed + 1));
	out->tids = palloc(sizeof(Datum) * (SPI_processed + 1));
	stays = palloc0(sizeof(bool) * (SPI_processed + 1));
	for (uint64 k = 0; k < SPI_processed; k++)
	{
		bool		isnull;
		ItemPointer r = palloc(sizeof(ItemPointerData));
		ItemPointer t = palloc(sizeof(ItemPointerData));

		ItemPointerCopy((ItemPointer) DatumGetPointer(RetentionGet(k, 1, &isnull)), r);
		ItemPointerCopy((ItemPointer) DatumGetPointer(RetentionGet(k, 3, &isnull)), t);
		out->roots[k] = PointerGetDatum(r);
		out->oids[k] = RetentionGet(k, 2, &isnull);
		out->tids[k] = PointerGetDatum(t);
		stays[k] = DatumGetBool(RetentionGet(k, 4, &isnull));
	}
	if (d->holds && out->n > 0)
		ret_dependents_held(d, out, stays);
	return stays;
}

/*
 * tid_sort_unique
 *		Sort tids[0..n) and drop duplicates; returns the new count.
 */
static int
tid_sort_unique(ItemPointerData *tids, int n)
{
	int			u = 1;

	if (n <= 1)
		return n;
	qsort(tids, n, sizeof(ItemPointerData), ret_tid_cmp);
	for (int k = 1; k < n; k++)
		if (ItemPointerCompare(&tids[k], &tids[u - 1]) != 0)
			ItemPointerCopy(&tids[k], &tids[u++]);
	return u;
}

/*
 * dep_delete
 *		Delete the rows r of one dependent table whose policy row is not
 *		blocked (blocked: sorted, nblocked), leaf partition by leaf
 *		partition, each as its table's owner, security-restricted.
 *		Returns the rows deleted.
 */
static int64
dep_delete(RetDepRows *r, ItemPointerData *blocked, int nblocked)
{
	int64		deleted = 0;
	int			k = 0;

	while (k < r->n)
	{
		Oid			oid = DatumGetObjectId(r->oids[k]);
		Datum	   *tids = palloc(sizeof(Datum) * r->n);
		int			nt = 0;
		Oid			types[1] = {TIDARRAYOID};
		Datum		values[1];
		RetUser		su;
		int			level;

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
		level = ret_pin_nestloop();
		/* locked before its owner is read (batch_lock_table) */
		LockRelationOid(oid, RowExclusiveLock);
		RetentionBecome(UtilRelationOwner(oid), true, &su);
		RetentionExec(psprintf("DELETE FROM ONLY %s t USING pg_catalog.unnest($1) u(c) "
							   "WHERE t.ctid OPERATOR(pg_catalog.=) u.c", UtilQualifiedName(oid)),
					  1, types, values, NULL, SPI_OK_DELETE);
		RetentionRestore(&su);
		AtEOXact_GUC(true, level);
		deleted += (int64) SPI_processed;
	}
	return deleted;
}

/*
 * ret_dependents
 *		Delete policy, before the rows of apply (ctids of the leaf table
 *		leaf) are deleted: find, level by level, the rows that reference
 *		them (p->deps).  A policy row with a dependent that must stay is
 *		blocked: it and its dependents are left alone, counted in counts.
 *		The dependents of the other rows are deleted deepest first, each
 *		table as its owner (security-restricted).  Reads run as each
 *		table's owner too, with pg_catalog operators (dep_find), and so do
 *		the hold checks of dependent rows (ret_dependents_held).  In the
 *		batch's pseudonym scope.  Returns the ctids of apply that may now
 *		be deleted.
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
		bool	   *stays;

		if ((pr ? pr->n : napply) == 0)
		{
			i++;
			continue;
		}
		stays = dep_find(p, d, pr, atids, leafoids, napply, &rows[i]);
		for (int k = 0; k < rows[i].n; k++)
		{
			if (!stays[k])
				continue;
			if (nblocked >= maxblocked)
			{
				maxblocked *= 2;
				blocked = repalloc(blocked, sizeof(ItemPointerData) * maxblocked);
			}
			ItemPointerCopy((ItemPointer) DatumGetPointer(rows[i].roots[k]), &blocked[nblocked++]);
			if (counts->blocked_by == NULL)
				counts->blocked_by = pstrdup(d->name);
		}
		i++;
	}
	nblocked = tid_sort_unique(blocked, nblocked);
	counts->blocked += nblocked;

	/* 2. delete the dependents of the rows that go, deepest first */
	for (i = ndeps - 1; i >= 0; i--)
		counts->dependents += dep_delete(&rows[i], blocked, nblocked);

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
 * The state of one batch, as its steps fill it in.
 */
typedef struct RetBatch
{
	RetPolicy  *p;
	int64		run;
	bool		worker;			/* the worker's batch: its own transaction */
	int64		size;			/* privacy.retention_batch_size */
	/* the pass, from privacy.retention_state */
	Datum		cutoff;
	bool		have_pos;
	Datum		pos_age;
	Datum		pos_ctid;
	Oid			leaf;			/* partitioned: the leaf this batch works on */
	List	   *leaf_subjects;	/* subject types whose map holds the leaf itself */
	List	   *leaf_mapped;	/* those tables: the leaf, its partitioned ancestors */
	List	   *leaf_mapsubj;	/* their subject types (a List each) */
	bool		blocks;			/* the pass walks blocks, not the age index */
	int64		end_block;		/* blocks: the window [start, end_block) */
	int64		nblocks;
	ItemPointer start_tid;
	/* what the candidates statement found */
	int64		ncand;
	Datum		last_age;
	Datum		last_ctid;
	bool		last_null;
	ArrayType  *apply;			/* ctids to change */
	int			napply;
	Datum	   *hashvals;		/* 'hash' columns: nhash arrays of napply */
	bool	   *hashnulls;
	/* counters */
	int64		changed;
	int64		held;
} RetBatch;

/*
 * batch_lock_state
 *		Step 1, as the extension owner: LOCK privacy.holds IN SHARE MODE,
 *		then lock the policy's state row (the worker skips a row another
 *		session holds) and read the pass from it.  False when the pass is
 *		not ours any more (another session took it over, or it ended).
 *		The holds first: a session that places a hold (its lock on the
 *		holds table kept to the end of its transaction) and then runs the
 *		policy waits for the state row; a worker that held the row while
 *		it waited for the hold's lock deadlocked with it.  run_retention
 *		locked the state row when its run began.
 */
static bool
batch_lock_state(RetBatch *b, bool worker)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(b->p->id)};
	bool		isnull;
	Datum		d;

	RetentionExec("LOCK TABLE privacy.holds IN SHARE MODE", 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	RetentionExec(worker ?
				  "SELECT cutoff, pos_age, pos_ctid, run, pos_rel, pos_mode FROM privacy.retention_state "
				  "WHERE policy OPERATOR(pg_catalog.=) $1 FOR UPDATE SKIP LOCKED" :
				  "SELECT cutoff, pos_age, pos_ctid, run, pos_rel, pos_mode FROM privacy.retention_state "
				  "WHERE policy OPERATOR(pg_catalog.=) $1 FOR UPDATE",
				  1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return false;
	b->cutoff = RetentionGet(0, 1, &isnull);
	if (isnull || DatumGetInt64(RetentionGet(0, 4, &isnull)) != b->run || isnull)
		return false;
	b->pos_age = RetentionGet(0, 2, &isnull);
	b->have_pos = !isnull;
	b->pos_ctid = RetentionGet(0, 3, &isnull);
	d = RetentionGet(0, 5, &isnull);
	b->leaf = isnull ? InvalidOid : DatumGetObjectId(d);
	d = RetentionGet(0, 6, &isnull);
	b->blocks = !isnull && DatumGetChar(d) == 'b';
	if (b->have_pos)
	{
		ItemPointer ip = palloc(sizeof(ItemPointerData));

		ItemPointerCopy((ItemPointer) DatumGetPointer(b->pos_ctid), ip);
		b->pos_ctid = PointerGetDatum(ip);
	}
	return true;
}

/*
 * batch_policy_renamed
 *		Whether the policy's table, its age column or a column it rewrites
 *		has another name than when the run resolved it.
 */
static bool
batch_policy_renamed(RetPolicy *p)
{
	char	   *age = get_attname(p->relid, p->age_attnum, true);
	ListCell   *lc;

	if (strcmp(quote_qualified_identifier(get_namespace_name(get_rel_namespace(p->relid)),
										  get_rel_name(p->relid)), p->qualname) != 0)
		return true;
	if (age == NULL || strcmp(age, p->agename) != 0)
		return true;
	foreach(lc, p->columns)
		if (get_attnum(p->relid, ((RetColumn *) lfirst(lc))->name) == InvalidAttrNumber)
			return true;
	return false;
}

/*
 * batch_lock_table
 *		Step 1b: lock the policy's table (as its DELETE or UPDATE would),
 *		then read its owner again, and its names.  A pass outlives many
 *		transactions: an ALTER TABLE ... OWNER TO committed during the pass
 *		made the later batches run the table's code (its new owner's
 *		triggers) as its previous owner, and a rename of the table, its
 *		schema, its age column or a rewritten column failed the rest of the
 *		pass (42703, 42P01).  Locked first, what is read here holds until
 *		the batch ends.
 */
static void
batch_lock_table(RetPolicy *p)
{
	LockRelationOid(p->relid, RowExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(p->relid)))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("the table of retention policy %lld no longer exists", (long long) p->id)));
	p->owner = UtilRelationOwner(p->relid);
	if (batch_policy_renamed(p))
		RetentionReloadPolicy(p);
}

/*
 * batch_pick_leaf
 *		A partitioned table: this batch works on one leaf partition (the
 *		one the stored position is in, or the next one), and the keyset
 *		position is within that leaf; p->qualname names the leaf and
 *		p->owner is its owner until the batch ends.  False when no partition is left: the pass is complete.
 */
static bool
batch_pick_leaf(RetBatch *b)
{
	RetPolicy  *p = b->p;

	if (!p->partitioned)
		return true;
	for (;;)
	{
		/*
		 * the leaf locked first (a DETACH or DROP in progress commits
		 * before the check), then still a leaf of the policy's table: a
		 * partition detached during the pass is a table of its own now,
		 * not the policy's (its rows were deleted after the DETACH)
		 */
		if (OidIsValid(b->leaf))
		{
			LockRelationOid(b->leaf, RowExclusiveLock);
			if (get_rel_relkind(b->leaf) == RELKIND_RELATION && get_rel_relispartition(b->leaf) &&
				list_member_oid(get_partition_ancestors(b->leaf), p->relid))
				break;
		}
		b->leaf = ret_next_leaf(p->relid, b->leaf);
		b->have_pos = false;
		if (!OidIsValid(b->leaf))
			return false;
	}

	/*
	 * A leaf mapped by itself (a foreign key of its own to a subject, the
	 * parent being in no map): its subjects' holds apply to its rows too,
	 * and a policy a table owner added may not run on it (RetentionCheckCreator)
	 */
	b->leaf_subjects = NIL;
	b->leaf_mapped = NIL;
	b->leaf_mapsubj = NIL;
	{
		/*
		 * the leaf and its partitioned ancestors below the policy's table: a
		 * key declared on a sub-partitioned partition maps that partition
		 * by itself, and its subjects' holds apply to its leaves' rows
		 */
		List	   *mine = list_make1_oid(b->leaf);
		ListCell   *lc;

		foreach(lc, get_partition_ancestors(b->leaf))
		{
			if (lfirst_oid(lc) == p->relid)
				break;
			mine = lappend_oid(mine, lfirst_oid(lc));
		}
		foreach(lc, mine)
		{
			List	   *subjects = MapSubjectsOfTable(lfirst_oid(lc));

			if (subjects == NIL)
				continue;
			b->leaf_mapped = lappend_oid(b->leaf_mapped, lfirst_oid(lc));
			b->leaf_mapsubj = lappend(b->leaf_mapsubj, subjects);
			b->leaf_subjects = list_concat_copy(b->leaf_subjects, subjects);
		}
	}
	RetentionCheckCreator(p, b->leaf_subjects);
	p->qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(b->leaf)),
											 get_rel_name(b->leaf));
	/*
	 * and the batch reads and changes the leaf as the leaf's owner (locked
	 * above), who may be another role than the partitioned table's: as
	 * that one, every batch of the leaf failed with 42501
	 */
	p->owner = UtilRelationOwner(b->leaf);
	return true;
}

/*
 * batch_choose_walk
 *		The walk of a pass.  By age (the age index, a keyset on (age, ctid))
 *		when few rows are expired; by blocks (a TID range, a keyset on the
 *		block number, each page read once) when a large share is, which the
 *		age walk would visit one random page per row for.  Chosen at the
 *		start of a pass from a small sample, kept for the whole pass.  In
 *		block mode, sets this batch's window of blocks.
 */
static void
batch_choose_walk(RetBatch *b)
{
	RetPolicy  *p = b->p;
	Oid			bt[1] = {OIDOID};
	Datum		bv[1];
	BlockNumber start;
	double		per_block;
	bool		isnull;

	if (p->partitioned)
		b->blocks = false;
	else if (!b->have_pos)
		b->blocks = ret_choose_blocks(p, b->cutoff);
	if (!b->blocks)
		return;
	start = b->have_pos ? ItemPointerGetBlockNumberNoCheck((ItemPointer) DatumGetPointer(b->pos_ctid)) : 0;
	bv[0] = ObjectIdGetDatum(p->relid);
	RetentionExec("SELECT pg_catalog.pg_relation_size($1) OPERATOR(pg_catalog./) pg_catalog.current_setting('block_size')::pg_catalog.int4,"
				  " CASE WHEN c.relpages OPERATOR(pg_catalog.>) 0 AND c.reltuples OPERATOR(pg_catalog.>) 0"
				  " THEN (c.reltuples OPERATOR(pg_catalog./) c.relpages)::pg_catalog.float8 ELSE 100::pg_catalog.float8 END"
				  " FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1", 1, bt, bv, NULL, SPI_OK_SELECT);
	b->nblocks = DatumGetInt64(RetentionGet(0, 1, &isnull));
	per_block = DatumGetFloat8(RetentionGet(0, 2, &isnull));

	/*
	 * Block mode runs when at least a fifth of the rows are due: a window
	 * of twice the batch size in rows changes about one batch of rows when
	 * half are due, at most twice that.
	 */
	b->end_block = (int64) start + Max(1, (int64) (2.0 * b->size / Max(per_block, 1.0)));
	b->start_tid = palloc(sizeof(ItemPointerData));
	ItemPointerSet(b->start_tid, start, 0);
}

/*
 * batch_candidates
 *		Step 2, as the table owner, in the batch's pseudonym scope: the next
 *		candidates, and row locks on those that still need work.  When no
 *		hold can apply to the table (it is in no subject map), no value
 *		needs the secret and no table depends on it, the same statement
 *		makes the change (fast path), optimistically first
 *		(ret_try_optimistic).  Sets the candidates' count, the position
 *		reached, the locked rows (b->apply) and what the fast path changed.
 */
static void
batch_candidates(RetBatch *b)
{
	RetPolicy  *p = b->p;
	bool		fast = p->holdfilter == NULL && b->leaf_subjects == NIL && p->nhash == 0 && p->deps == NIL;
	char	   *needs = RetentionNeedsSql(p);
	char	   *optimistic = fast ? ret_batch_sql(p, b->have_pos, true, "cand", b->blocks, needs) : NULL;
	char	   *stepsql = ret_batch_sql(p, b->have_pos, fast, "lk", b->blocks, needs);
	Oid			types[5] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TIDOID, TEXTOID, INT8OID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	bool		constraint = false;
	RetUser		su;

	values[0] = b->cutoff;
	values[1] = b->have_pos ? b->pos_age : (Datum) 0;
	values[2] = b->have_pos ? b->pos_ctid : (Datum) 0;
	values[3] = CStringGetTextDatum(GuardPseudonymToken());
	values[4] = Int64GetDatum(b->size);
	if (!b->have_pos)
		nulls[1] = nulls[2] = 'n';
	if (b->blocks)
	{
		values[2] = PointerGetDatum(b->start_tid);
		values[4] = Int64GetDatum(b->end_block);
		nulls[2] = ' ';
	}
	if (!fast || !ret_try_optimistic(p, optimistic, types, values, nulls, &constraint))
	{
		/* after one row's error: lock only, batch_change changes them */
		if (constraint)
			stepsql = ret_batch_sql(p, b->have_pos, false, "lk", b->blocks, needs);
		RetentionBecome(p->owner, true, &su);
		RetentionExec(stepsql, 5, types, values, nulls, SPI_OK_SELECT);
		RetentionRestore(&su);
	}

	b->ncand = DatumGetInt64(RetentionGet(0, 1, &isnull));
	if (b->blocks)
	{
		/* the position is the next block, whatever the window held */
		ItemPointer ip = palloc(sizeof(ItemPointerData));

		ItemPointerSet(ip, (BlockNumber) b->end_block, 0);
		b->last_ctid = PointerGetDatum(ip);
		b->last_age = b->cutoff;
		b->last_null = false;
	}
	else if (b->ncand > 0)
	{
		ItemPointer ip = palloc(sizeof(ItemPointerData));

		b->last_age = RetentionGet(0, 2, &b->last_null);
		ItemPointerCopy((ItemPointer) DatumGetPointer(RetentionGet(0, 3, &isnull)), ip);
		b->last_ctid = PointerGetDatum(ip);
	}
	b->changed = DatumGetInt64(RetentionGet(0, 5, &isnull));
	b->apply = DatumGetArrayTypePCopy(RetentionGet(0, 4, &isnull));
	b->napply = ArrayGetNItems(ARR_NDIM(b->apply), ARR_DIMS(b->apply));
}

/*
 * batch_filter_held
 *		Step 3, in a new statement, as the table owner (the key conversions
 *		of the hold filter are the owner's casts), in the scope whose token
 *		($4) lets this statement alone compute pseudonyms and ask
 *		privacy._held / privacy._held_keys (src/guard.c): drop the locked
 *		rows of a held subject (a row is held when ANY subject it belongs
 *		to is held) and compute the pseudonyms of 'hash' columns.
 */
static void
batch_filter_held(RetBatch *b)
{
	RetPolicy  *p = b->p;
	StringInfoData sql;
	ListCell   *lc;
	Datum	   *ctids;
	char	   *scoped_filter;
	Oid			types[GUARD_SCOPE_PARAMNO] = {TIDARRAYOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[GUARD_SCOPE_PARAMNO];
	RetHoldScope hs;
	RetUser		so;
	int			nlevel;
	bool		isnull;

	/* $2, $3 unused; $4 the scope's token (src/guard.h) */
	values[0] = PointerGetDatum(b->apply);
	values[1] = values[2] = CStringGetTextDatum("");
	values[3] = CStringGetTextDatum(GuardPseudonymToken());
	/* the tables above of other owners read as their owners, before */
	RetentionHoldScopeInit(&hs, p->owner, psprintf("ONLY %s t", p->qualname),
						   "t.ctid OPERATOR(pg_catalog.=) ANY ($1)", GUARD_SCOPE_PARAMNO, types, values);
	scoped_filter = RetentionHoldFilterIn(p->relid, "t", p->subjects, &hs);
	foreach(lc, b->leaf_mapped)
	{
		/* the leaf's own subjects, and its ancestors' (batch_pick_leaf) */
		char	   *leaf_filter = RetentionHoldFilterIn(lfirst_oid(lc), "t",
													   list_nth(b->leaf_mapsubj, foreach_current_index(lc)),
													   &hs);

		if (leaf_filter == NULL)
			continue;
		scoped_filter = scoped_filter == NULL ? leaf_filter
			: psprintf("(%s) OR (%s)", scoped_filter, leaf_filter);
	}

	initStringInfo(&sql);
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
	nlevel = ret_pin_nestloop();
	RetentionBecome(p->owner, true, &so);
	RetentionExec(sql.data, hs.nargs, hs.types, hs.values, NULL, SPI_OK_SELECT);
	RetentionRestore(&so);
	AtEOXact_GUC(true, nlevel);

	b->held = b->napply - (int64) SPI_processed;
	ctids = palloc(sizeof(Datum) * (SPI_processed + 1));
	if (p->nhash > 0)
	{
		b->hashvals = palloc(sizeof(Datum) * p->nhash * (SPI_processed + 1));
		b->hashnulls = palloc(sizeof(bool) * p->nhash * (SPI_processed + 1));
	}
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		ItemPointer ip = palloc(sizeof(ItemPointerData));

		ItemPointerCopy((ItemPointer) DatumGetPointer(RetentionGet(i, 1, &isnull)), ip);
		ctids[i] = PointerGetDatum(ip);
		for (int k = 0; k < p->nhash; k++)
		{
			Datum		v = RetentionGet(i, k + 2, &b->hashnulls[k * SPI_processed + i]);

			b->hashvals[k * SPI_processed + i] =
				b->hashnulls[k * SPI_processed + i] ? (Datum) 0 : PointerGetDatum(DatumGetTextPCopy(v));
		}
	}
	b->napply = (int) SPI_processed;
	b->apply = ret_tid_array(ctids, b->napply);
}

/*
 * ret_row_error
 *		Whether an error raised while a batch changed its rows can belong to
 *		one row: a constraint (class 23: an ON DELETE SET NULL into a NOT
 *		NULL column, a SET DEFAULT whose default row is missing, a CHECK), a
 *		data exception (22), an error that a table's trigger or a function
 *		it calls raised (P0, 09, 27, 2F, 38, 39, and every SQLSTATE of a
 *		class that PostgreSQL does not define: an application's own code,
 *		which only user code raises), a check option (44), a cardinality
 *		violation (21).  The batch then changes its rows one by one.  Any
 *		other error (a lock or statement timeout, a map that changed, a
 *		permission, a serialization failure, resources) fails the policy,
 *		which is retried with back-off.  (Before, a trigger that refused one
 *		row with an application's SQLSTATE, 'LK001', failed the policy on
 *		every retry: its pass never moved past that row.)
 */
static bool
ret_row_error(int sqlerrcode)
{
	/* the classes of PostgreSQL's SQLSTATEs (utils/errcodes.txt) */
	static const char *const pg_classes[] = {
		"00", "01", "02", "03", "08", "09", "0A", "0B", "0F", "0L", "0P", "0Z",
		"20", "21", "22", "23", "24", "25", "26", "27", "28", "2B", "2D", "2F",
		"34", "38", "39", "3B", "3D", "3F", "40", "42", "44", "53", "54", "55",
		"57", "58", "72", "F0", "HV", "P0", "XX"
	};
	const char *state = unpack_sql_state(sqlerrcode);

	switch (ERRCODE_TO_CATEGORY(sqlerrcode))
	{
		case ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION:
		case ERRCODE_DATA_EXCEPTION:
		case ERRCODE_PLPGSQL_ERROR:
		case ERRCODE_TRIGGERED_ACTION_EXCEPTION:
		case ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION:
		case ERRCODE_SQL_ROUTINE_EXCEPTION:
		case ERRCODE_EXTERNAL_ROUTINE_EXCEPTION:
		case ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION:
		case ERRCODE_WITH_CHECK_OPTION_VIOLATION:
		case ERRCODE_CARDINALITY_VIOLATION:
			return true;
	}
	for (int i = 0; i < lengthof(pg_classes); i++)
		if (strncmp(state, pg_classes[i], 2) == 0)
			return false;
	return true;
}

/*
 * batch_change_sub
 *		One unit of step 4, in a subtransaction: sql (batch_change's DELETE
 *		or UPDATE; values[0] the ctids, then the pseudonyms of 'hash'
 *		columns) as the table's owner, after, for a delete policy with
 *		dependents, the dependents of those ctids (3b: in a pseudonym scope
 *		of its own, which ends before the DELETE fires the table's triggers;
 *		the rows they block drop out).  True and *n the rows changed, or
 *		false and *err the error: the subtransaction is rolled back with
 *		whatever the unit changed, its dependents too, and *bc as it was.
 */
static bool
batch_change_sub(RetBatch *b, const char *sql, int nargs, Oid *types, Datum *values,
				 RetCounts *bc, int64 *n, ErrorData **err)
{
	RetPolicy  *p = b->p;
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;
	RetCounts	saved = *bc;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		RetUser		su;
		ArrayType  *apply = DatumGetArrayTypeP(values[0]);
		Datum		v[1 + 64];

		*n = 0;
		memcpy(v, values, sizeof(Datum) * nargs);
		if (!p->anonymize && p->deps != NIL)
		{
			(void) GuardPseudonymScopeBegin();
			apply = ret_dependents(p, p->partitioned ? b->leaf : p->relid, apply, bc);
			GuardPseudonymScopeEnd();
			v[0] = PointerGetDatum(apply);
		}
		if (ArrayGetNItems(ARR_NDIM(apply), ARR_DIMS(apply)) > 0)
		{
			RetentionBecome(p->owner, true, &su);
			RetentionExec(sql, nargs, types, v, NULL, p->anonymize ? SPI_OK_UPDATE : SPI_OK_DELETE);
			RetentionRestore(&su);
			*n = (int64) SPI_processed;
		}
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		*err = RetentionSubxactCaught(cxt, owner);
		*bc = saved;
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * batch_unit_args
 *		The arguments of batch_change's statement for its rows [lo, hi)
 *		only: the ctids, then the pseudonyms of 'hash' columns.
 */
static void
batch_unit_args(RetBatch *b, int nargs, Datum *tids, int lo, int hi, Datum *out)
{
	int			n = hi - lo;

	out[0] = PointerGetDatum(construct_array(&tids[lo], n, TIDOID, sizeof(ItemPointerData),
											 false, TYPALIGN_SHORT));
	for (int k = 0; k < nargs - 1; k++)
	{
		int			at = k * b->napply + lo;

		out[1 + k] = PointerGetDatum(construct_md_array(&b->hashvals[at], &b->hashnulls[at], 1,
														&n, (int[]) {1},
														TEXTOID, -1, false, TYPALIGN_INT));
	}
}

/* the disambiguated pseudonyms one row may try (batch_retry_nth) */
#define RET_MAX_PSEUDONYM_NTH 64

/*
 * batch_retry_nth
 *		A row of batch_change whose UPDATE failed with 23505 on a unique
 *		index that reads one of its 'hash' columns: its pseudonym is
 *		another row's (a value that came back after an earlier pass or an
 *		erasure).  Before, the row stayed blocked on every pass.  Its
 *		'hash' columns under that index take their n-th disambiguated
 *		pseudonym (RetentionPseudonymNth, same format, recognized by the
 *		"still needs work" test), n = 1, 2, ... until the UPDATE succeeds
 *		(true, *n), fails otherwise (false, *err that error) or
 *		RET_MAX_PSEUDONYM_NTH tries.  The row's values are read by ctid as
 *		the table's owner (it is locked); only this row's rare path runs
 *		these statements.  values: batch_unit_args's arguments for the row.
 */
static bool
batch_retry_nth(RetBatch *b, const char *sql, int nargs, Oid *types, Datum *values, Datum tid,
				RetCounts *bc, int64 *n, ErrorData **err)
{
	RetPolicy  *p = b->p;
	Oid			nsp;
	Oid			ixoid;
	HeapTuple	tup;
	Form_pg_index ix;
	Bitmapset  *vars = NULL;
	Datum		d;
	bool		isnull;
	StringInfoData q;
	ListCell   *lc;
	int			k = 0;
	int			nfix = 0;
	bool		fix[64];
	int			len[64];
	Datum		old[64];
	bool		oldnull[64];
	char	   *iname;
	RetUser		su;
	Oid			qtypes[1] = {TIDOID};
	Datum		qvalues[1];

	if ((*err)->constraint_name == NULL || (*err)->schema_name == NULL ||
		!OidIsValid(nsp = get_namespace_oid((*err)->schema_name, true)) ||
		!OidIsValid(ixoid = get_relname_relid((*err)->constraint_name, nsp)))
		return false;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(ixoid));
	if (!HeapTupleIsValid(tup))
		return false;
	ix = (Form_pg_index) GETSTRUCT(tup);
	/* an index of the table updated (a trigger may raise any 23505) */
	if (ix->indrelid != (p->partitioned ? b->leaf : p->relid))
	{
		ReleaseSysCache(tup);
		return false;
	}
	for (int i = 0; i < ix->indnkeyatts; i++)
		if (ix->indkey.values[i] != 0)
			vars = bms_add_member(vars, ix->indkey.values[i] - FirstLowInvalidHeapAttributeNumber);
	d = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indexprs, &isnull);
	if (!isnull)
		pull_varattnos(stringToNode(TextDatumGetCString(d)), 1, &vars);
	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT ");
	foreach(lc, p->columns)
	{
		RetColumn  *c = lfirst(lc);
		AttrNumber	att;
		bool		bytea;

		if (!c->hash)
			continue;
		att = get_attnum(ix->indrelid, c->name);
		fix[k] = att != InvalidAttrNumber &&
			bms_is_member(att - FirstLowInvalidHeapAttributeNumber, vars);
		nfix += fix[k];
		appendStringInfo(&q, "%s%s", k ? ", " : "",
						 RetentionHashedColumn(c->typid, c->typmod, psprintf("t.%s", quote_identifier(c->name)),
											   &len[k], &bytea));
		k++;
	}
	ReleaseSysCache(tup);
	if (nfix == 0)
		return false;
	iname = pstrdup((*err)->constraint_name);
	appendStringInfo(&q, " FROM ONLY %s t WHERE t.ctid OPERATOR(pg_catalog.=) $1", p->qualname);
	qvalues[0] = tid;
	RetentionBecome(p->owner, true, &su);
	RetentionExec(q.data, 1, qtypes, qvalues, NULL, SPI_OK_SELECT);
	RetentionRestore(&su);
	if (SPI_processed != 1)
		return false;
	for (int j = 0; j < k; j++)
	{
		Datum		v = RetentionGet(0, j + 1, &oldnull[j]);

		old[j] = oldnull[j] ? (Datum) 0 : PointerGetDatum(DatumGetTextPCopy(v));
	}
	for (int nth = 1; nth <= RET_MAX_PSEUDONYM_NTH; nth++)
	{
		Datum		v[1 + 64];

		CHECK_FOR_INTERRUPTS();
		memcpy(v, values, sizeof(Datum) * nargs);
		for (int j = 0; j < k && j + 1 < nargs; j++)
		{
			Datum		e;

			if (!fix[j] || oldnull[j])
				continue;
			e = RetentionPseudonymNth(DatumGetTextPP(old[j]), nth, len[j]);
			v[1 + j] = PointerGetDatum(construct_array(&e, 1, TEXTOID, -1, false, TYPALIGN_INT));
		}
		*err = NULL;
		if (batch_change_sub(b, sql, nargs, types, v, bc, n, err))
			return true;
		if ((*err)->sqlerrcode != ERRCODE_UNIQUE_VIOLATION || (*err)->constraint_name == NULL ||
			strcmp((*err)->constraint_name, iname) != 0)
			return false;
	}
	return false;
}

/*
 * batch_unit_error
 *		Whether an error of one unit of step 4 may be one row's: an error
 *		ret_row_error says can be, or a lock wait past lock_timeout (55P03):
 *		a row whose dependent, or a row that its triggers or foreign keys
 *		change, is locked by another session (an idle transaction) is left
 *		for the next pass instead of failing the policy at that row on
 *		every retry.  The batch's first statement waits its full
 *		lock_timeout (1s), the split units a short while only
 *		(RETENTION_OPTIMISTIC_WAIT, batch_bisect).  At most
 *		RETENTION_LOCKED_UNITS units of a batch fail so; after that the
 *		lock error fails the policy, as any other error: a lock on a whole
 *		table that the batch's statements need makes every unit wait, and
 *		the batch must not split down to each row and wait for each (the
 *		dependent tables are locked before, batch_change).
 */
#define RETENTION_LOCKED_UNITS 64

static bool
batch_unit_error(int sqlerrcode, int *locked)
{
	if (ret_row_error(sqlerrcode))
		return true;
	if (sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE && *locked < RETENTION_LOCKED_UNITS)
	{
		(*locked)++;
		return true;
	}
	return false;
}

/*
 * batch_bisect
 *		Step 4 over the rows [lo, hi) of b->apply, in a subtransaction
 *		(batch_change_sub).  When the unit fails on an error that can be
 *		one row's (batch_unit_error), it is split in halves, each tried in
 *		a subtransaction of its own, recursively, until the failing rows
 *		are alone: those stay (their dependents too), counted as blocked
 *		and, for the WARNING, as failed (blocked_by: the table of the
 *		failing constraint, else the policy's table).  k failing rows of n
 *		cost about 2 k log2(n / k) statements, where changing the rows one
 *		by one cost n (bench/55_retention_bisect.sh).
 *		The halves run in order, left first, so the first failure recorded
 *		is the first failing row, as one by one.  When the left half goes
 *		as a whole, the right one is split without being tried (known_bad:
 *		the failure is there); a split only costs statements, it never
 *		changes which rows go, since every row is tried in some unit.  Any
 *		other error is rethrown: the batch fails, and with it the policy
 *		(retried with back-off).  True when the unit went as a whole.
 */
static bool
batch_bisect(RetBatch *b, const char *sql, int nargs, Oid *types, Datum *tids,
			 int lo, int hi, bool known_bad, RetCounts *bc, int *locked)
{
	RetPolicy  *p = b->p;
	Datum		args[1 + 64];
	ErrorData  *err = NULL;
	int64		n = 0;
	bool		split = lo != 0 || hi != b->napply;
	int			mid;

	CHECK_FOR_INTERRUPTS();
	if (!known_bad || hi - lo == 1)
	{
		batch_unit_args(b, nargs, tids, lo, hi, args);
		if (batch_change_sub(b, sql, nargs, types, args, bc, &n, &err))
		{
			b->changed += n;
			return true;
		}
		if (!batch_unit_error(err->sqlerrcode, locked))
			ReThrowError(err);
		/* one row whose pseudonym another row holds: its n-th one */
		if (hi - lo == 1 && err->sqlerrcode == ERRCODE_UNIQUE_VIOLATION && nargs > 1)
		{
			ErrorData  *first = err;

			if (batch_retry_nth(b, sql, nargs, types, args, tids[lo], bc, &n, &err))
			{
				b->changed += n;
				FreeErrorData(first);
				return true;
			}
			if (err != first)
				FreeErrorData(first);
		}
		if (hi - lo == 1)
		{
			bc->blocked++;
			bc->failed++;
			if (bc->blocked_by == NULL)
				bc->blocked_by = err->table_name && err->schema_name ?
					pstrdup(quote_qualified_identifier(err->schema_name, err->table_name)) :
					pstrdup(UtilQualifiedName(p->partitioned ? b->leaf : p->relid));
			if (bc->failed_state == 0)
				bc->failed_state = err->sqlerrcode;
			FreeErrorData(err);
			return false;
		}
		FreeErrorData(err);
		pfree(DatumGetPointer(args[0]));
		for (int k = 1; k < nargs; k++)
			pfree(DatumGetPointer(args[k]));
	}
	mid = lo + (hi - lo) / 2;
	if (!split)
	{
		/*
		 * splitting: the units wait a short while for row locks (see
		 * batch_unit_error); to the end of the batch's step 4
		 */
		(void) set_config_option("lock_timeout", RETENTION_OPTIMISTIC_WAIT, PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	}

	/*
	 * when the left half goes as a whole, the failure is in the right one:
	 * it is split at once (its own statement would fail again)
	 */
	if (batch_bisect(b, sql, nargs, types, tids, lo, mid, false, bc, locked))
		(void) batch_bisect(b, sql, nargs, types, tids, mid, hi, true, bc, locked);
	else
		(void) batch_bisect(b, sql, nargs, types, tids, mid, hi, false, bc, locked);
	return false;
}

/*
 * batch_change
 *		Step 4, as the table owner, security-restricted, out of the
 *		pseudonym scope: DELETE or UPDATE the rows b->apply by ctid ('hash'
 *		columns take the pseudonyms of step 3, as arrays parallel to the
 *		ctids).
 *
 *		One row must not stall the policy: when the batch's statement fails
 *		on an error that can be one row's (ret_row_error: a constraint, a
 *		table's trigger that refuses a row), the batch is split in halves
 *		until the failing rows are isolated (batch_bisect); those stay.
 */
static void
batch_change(RetBatch *b, RetCounts *bc)
{
	RetPolicy  *p = b->p;
	StringInfoData sql;
	int			nargs = 1;
	Oid			dtypes[1 + 64];
	ListCell   *lc;
	int			nlevel;
	Datum	   *tids;
	bool	   *tnulls;
	int			ntids;
	int			locked = 0;

	initStringInfo(&sql);
	dtypes[0] = TIDARRAYOID;
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
	/*
	 * the dependent tables locked here, under the batch's lock_timeout: a
	 * session that holds one of them locked fails the batch now, not each
	 * unit of its split (batch_unit_error)
	 */
	foreach(lc, p->deps)
		LockRelationOid(((RetDep *) lfirst(lc))->relid, AccessShareLock);
	deconstruct_array(b->apply, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT,
					  &tids, &tnulls, &ntids);
	Assert(ntids == b->napply);
	nlevel = ret_pin_nestloop();
	b->changed = 0;
	(void) batch_bisect(b, sql.data, nargs, dtypes, tids, 0, ntids, false, bc, &locked);
	AtEOXact_GUC(true, nlevel);
}

/*
 * batch_store_position
 *		Step 5a, as the extension owner: the position, the leaf and the mode
 *		of the pass, in this batch's transaction; or, when the pass is
 *		complete (returns true), the state row reset for the next pass.  A
 *		partitioned table's pass moves on to the next leaf, if any.
 */
static bool
batch_store_position(RetBatch *b)
{
	RetPolicy  *p = b->p;
	bool		done = b->blocks ? b->end_block >= b->nblocks : b->ncand < b->size;
	Oid			types[5] = {INT8OID, TIMESTAMPTZOID, TIDOID, OIDOID, CHAROID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	if (p->partitioned && done && OidIsValid(b->leaf))
	{
		/* this leaf is finished: move on to the next one, if any */
		Oid			next = ret_next_leaf(p->relid, b->leaf);

		if (OidIsValid(next))
		{
			done = false;
			b->leaf = next;
			b->last_null = true;
		}
	}
	values[0] = Int64GetDatum(p->id);
	if (done)
	{
		/*
		 * the worker's run stays in the state until RetentionRunPolicy has
		 * closed it in a transaction of its own (retention.c, ret_close_run)
		 */
		RetentionExec(b->worker ?
					  "UPDATE privacy.retention_state SET cutoff = NULL, pos_age = NULL, "
					  "pos_ctid = NULL, pos_rel = NULL, pos_mode = NULL, failures = 0, last_error = NULL, "
					  "next_try = '-infinity', last_checked = pg_catalog.now() "
					  "WHERE policy OPERATOR(pg_catalog.=) $1" :
					  "UPDATE privacy.retention_state SET cutoff = NULL, pos_age = NULL, "
					  "pos_ctid = NULL, pos_rel = NULL, pos_mode = NULL, run = NULL, failures = 0, last_error = NULL, "
					  "next_try = '-infinity', last_checked = pg_catalog.now() "
					  "WHERE policy OPERATOR(pg_catalog.=) $1",
					  1, types, values, nulls, SPI_OK_UPDATE);
		return true;
	}
	values[1] = b->last_age;
	values[2] = b->last_ctid;
	values[3] = ObjectIdGetDatum(b->leaf);
	values[4] = CharGetDatum(b->blocks ? 'b' : 'a');
	if (!b->blocks && (b->last_null || b->ncand == 0))
		nulls[1] = nulls[2] = 'n';
	if (!OidIsValid(b->leaf))
		nulls[3] = 'n';
	RetentionExec("UPDATE privacy.retention_state SET pos_age = $2, pos_ctid = $3, pos_rel = $4, pos_mode = $5"
				  " WHERE policy OPERATOR(pg_catalog.=) $1", 5, types, values, nulls, SPI_OK_UPDATE);
	return false;
}

/*
 * ret_situation_changed
 *		Whether a run that changed no row still has something to record:
 *		its held or blocked rows differ from those of the policy's last
 *		recorded run, or that run failed or was interrupted (its error is
 *		over).  A pass whose only findings are the held or blocked rows of
 *		before has nothing to do: it leaves no run row and no audit entry,
 *		and retention_status keeps showing the last run's counts, which are
 *		still the current ones.  As the extension owner.
 */
static bool
ret_situation_changed(RetPolicy *p, RetRun *run, int64 held, int64 blocked)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2];
	bool		isnull;
	int64		last_held;
	int64		last_blocked;

	values[0] = Int64GetDatum(p->id);
	values[1] = Int64GetDatum(run->id);
	RetentionExec("SELECT x.held, x.blocked, x.error IS NOT NULL FROM privacy.retention_runs x "
				  "WHERE x.policy OPERATOR(pg_catalog.=) $1 AND x.id OPERATOR(pg_catalog.<>) $2 "
				  "ORDER BY x.started DESC, x.id DESC LIMIT 1",
				  2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return held > 0 || blocked > 0;
	last_held = DatumGetInt64(RetentionGet(0, 1, &isnull));
	last_blocked = DatumGetInt64(RetentionGet(0, 2, &isnull));
	return held != last_held || blocked != last_blocked ||
		DatumGetBool(RetentionGet(0, 3, &isnull));
}

/*
 * batch_record_run
 *		Step 5b, as the extension owner: the run's row.  A run that changes
 *		rows is recorded from its first such batch on (each batch adds to
 *		its row in its own transaction, so a killed worker's run keeps its
 *		counts); a run that changes none only at the end of its pass, and
 *		only when ret_situation_changed says so.  When the pass is done, a
 *		recorded run is closed and audited, by this batch in run_retention,
 *		by a transaction of its own in the worker (retention.c,
 *		ret_close_run: the chain head's lock is taken there first, never
 *		while the batch holds the state row).  rows counts every row deleted
 *		or anonymized, in the policy's table and its dependents (the
 *		dependents column says how many of them were dependents).
 */
static void
batch_record_run(RetBatch *b, RetRun *run, RetCounts *bc, double ms, bool done)
{
	RetCounts  *t = &run->counts;
	int64		rows = bc->changed + bc->dependents;
	bool		first = false;

	if (!run->recorded)
	{
		/* the row starts with every batch of the run so far */
		int64		all_rows = t->changed + t->dependents + rows;

		if (all_rows > 0 ||
			(done && ret_situation_changed(b->p, run, t->held + bc->held, t->blocked + bc->blocked)))
			first = true;
	}
	if (run->recorded || first)
	{
		Oid			rt[10] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, FLOAT8OID, TEXTOID,
		INT8OID, TIMESTAMPTZOID, INT4OID};
		Datum		rv[10];
		char		rn[10] = "          ";
		const char *blocked_by = bc->blocked_by;

		rv[0] = Int64GetDatum(run->id);
		rv[1] = Int64GetDatum(b->p->id);
		if (first)
		{
			rv[2] = Int64GetDatum(t->changed + t->dependents + rows);
			rv[3] = Int64GetDatum(t->held + bc->held);
			rv[4] = Int64GetDatum(t->blocked + bc->blocked);
			rv[5] = Float8GetDatum(Max(run->longest_ms, ms));
			rv[7] = Int64GetDatum(t->dependents + bc->dependents);
			rv[9] = Int32GetDatum(run->batches + 1);
			if (t->blocked_by != NULL)
				blocked_by = t->blocked_by;
		}
		else
		{
			rv[2] = Int64GetDatum(rows);
			rv[3] = Int64GetDatum(bc->held);
			rv[4] = Int64GetDatum(bc->blocked);
			rv[5] = Float8GetDatum(ms);
			rv[7] = Int64GetDatum(bc->dependents);
			rv[9] = Int32GetDatum(1);
		}
		rv[6] = blocked_by ? CStringGetTextDatum(blocked_by) : (Datum) 0;
		if (!blocked_by)
			rn[6] = 'n';
		rv[8] = TimestampTzGetDatum(run->started);
		RetentionExec("INSERT INTO privacy.retention_runs AS r (id, policy, rows, held, blocked, batches, "
					  "longest_batch_ms, blocked_by, dependents, started) "
					  "VALUES ($1, $2, $3, $4, $5, $10, $6, $7, $8, $9) "
					  "ON CONFLICT (id) DO UPDATE SET rows = r.rows OPERATOR(pg_catalog.+) excluded.rows, "
					  "held = r.held OPERATOR(pg_catalog.+) excluded.held, "
					  "blocked = r.blocked OPERATOR(pg_catalog.+) excluded.blocked, "
					  "dependents = r.dependents OPERATOR(pg_catalog.+) excluded.dependents, "
					  "batches = r.batches OPERATOR(pg_catalog.+) excluded.batches, "
					  "longest_batch_ms = GREATEST(r.longest_batch_ms, excluded.longest_batch_ms), "
					  "blocked_by = COALESCE(r.blocked_by, excluded.blocked_by)",
					  10, rt, rv, rn, SPI_OK_INSERT);
		run->recorded = true;
	}
	if (done && run->recorded && !b->worker)
	{
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(run->id)};
		bool		isnull;

		RetentionExec("UPDATE privacy.retention_runs SET finished = pg_catalog.clock_timestamp() "
					  "WHERE id OPERATOR(pg_catalog.=) $1 RETURNING rows, held, blocked, dependents",
					  1, types, values, NULL, SPI_OK_UPDATE_RETURNING);
		if (SPI_processed == 1)
		{
			int64		r = DatumGetInt64(RetentionGet(0, 1, &isnull));
			int64		h = DatumGetInt64(RetentionGet(0, 2, &isnull));
			int64		bl = DatumGetInt64(RetentionGet(0, 3, &isnull));
			int64		dp = DatumGetInt64(RetentionGet(0, 4, &isnull));

			AuditAppend("run_retention", NULL,
						psprintf("{\"policy\": " INT64_FORMAT ", \"rows\": " INT64_FORMAT
								 ", \"dependents\": " INT64_FORMAT
								 ", \"held\": " INT64_FORMAT ", \"blocked\": " INT64_FORMAT "}",
								 b->p->id, r, dp, h, bl));
		}
	}
	run->batches++;
	run->longest_ms = Max(run->longest_ms, ms);
}

/*
 * RetentionBatch
 *		One batch of a pass (see the file banner): a function that never
 *		commits; the caller (the worker's or run_retention's driver) owns
 *		the transaction.  SPI connected; the caller is the extension owner.
 *		Adds what it did to run's counters; sets *done when the pass is
 *		complete, *lost when another session took the pass over.
 */
void
RetentionBatch(RetPolicy *p, RetRun *run, bool worker, bool *done, bool *lost)
{
	RetCounts  *counts = &run->counts;
	RetBatch	b;
	RetCounts	bc;
	instr_time	t0,
				t1;
	char	   *parent_qualname;
	int			level;

	memset(&b, 0, sizeof(b));
	memset(&bc, 0, sizeof(bc));
	b.p = p;
	b.run = run->id;
	b.worker = worker;
	b.size = privacy_retention_batch_size;
	b.last_null = true;
	INSTR_TIME_SET_CURRENT(t0);
	*done = false;
	*lost = false;
	level = RetentionPinSettings(p);

	if (!batch_lock_state(&b, worker))
	{
		*lost = true;
		AtEOXact_GUC(true, level);
		return;
	}
	batch_lock_table(p);
	parent_qualname = p->qualname;
	if (batch_pick_leaf(&b))
	{
		List	   *deferred;

		/*
		 * initially deferred constraints: checked by each statement of the
		 * batch, the fast path's too (util.c)
		 */
		{
			Oid		   *relids = palloc(sizeof(Oid) * (1 + list_length(p->deps)));
			ListCell   *lc;

			relids[0] = p->partitioned ? b.leaf : p->relid;
			foreach(lc, p->deps)
				relids[1 + foreach_current_index(lc)] = ((RetDep *) lfirst(lc))->relid;
			deferred = UtilDeferredImmediate(relids, NULL, 1 + list_length(p->deps));
		}
		batch_choose_walk(&b);

		/*
		 * Steps 2 and 3 run in a pseudonym scope (src/guard.c): their
		 * statements carry its token as $4, so that they alone verify and
		 * compute pseudonyms and ask about holds; the scope ends before
		 * step 4 fires the table's triggers.
		 */
		(void) GuardPseudonymScopeBegin();
		batch_candidates(&b);
		if (b.napply > 0 && (p->holdfilter != NULL || b.leaf_subjects != NIL || p->nhash > 0))
			batch_filter_held(&b);
		GuardPseudonymScopeEnd();
		/*
		 * 3b and 4: a delete policy's dependents (deleted first, or the row
		 * is blocked) and the rows, in one subtransaction (batch_change)
		 */
		if (b.napply > 0)
			batch_change(&b, &bc);
		UtilDeferredRestore(deferred);
	}
	p->qualname = parent_qualname;

	INSTR_TIME_SET_CURRENT(t1);
	INSTR_TIME_SUBTRACT(t1, t0);
	*done = batch_store_position(&b);
	bc.changed = b.changed;
	bc.held = b.held;
	batch_record_run(&b, run, &bc, INSTR_TIME_GET_MILLISEC(t1), *done);
	AtEOXact_GUC(true, level);
	counts->changed += bc.changed;
	counts->held += bc.held;
	counts->blocked += bc.blocked;
	counts->failed += bc.failed;
	if (counts->failed_state == 0)
		counts->failed_state = bc.failed_state;
	counts->dependents += bc.dependents;
	if (counts->blocked_by == NULL && bc.blocked_by != NULL)
		counts->blocked_by = bc.blocked_by;
}
