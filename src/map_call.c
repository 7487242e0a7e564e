/*-------------------------------------------------------------------------
 * map_call.c
 *		Per-call key sets: the key columns of the subject's rows in every
 *		mapped table, computed once per rights call (MapCall*), and the kept
 *		group plans (MapKeptGroupPlan).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "citus.h"
#include "guard.h"
#include "map.h"
#include "privacy.h"

/* ------------------------------------------------------------------------
 * Per-call key sets
 * ------------------------------------------------------------------------
 */

/*
 * MapNeededIndex
 *		Position of att among the needed columns of mt (the columns its key
 *		sets carry), or -1.
 */
int
MapNeededIndex(MapTable *mt, AttrNumber att)
{
	int			i;

	for (i = 0; i < mt->nneeded; i++)
		if (mt->needed[i] == att)
			return i;
	return -1;
}

/*
 * MapCallPrepareSubject
 *		At load: the columns each table must provide to the tables below it,
 *		the components of the edge graph (tables above first), and each
 *		table's condition over the key and its parents' key sets.
 */
void
MapCallPrepareSubject(MapSubject *subj)
{
	ListCell   *lc,
			   *ec;
	int			ntab = list_length(subj->tables);
	CondCtx		cx;
	int			i;

	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);

		foreach(ec, MapTableEdges(mt))
		{
			MapHop	   *h = lfirst(ec);
			MapTable   *p;

			if (!MapEdgeNeedsSet(subj, h) || (p = MapFindTable(subj, h->prel)) == NULL)
				continue;
			for (i = 0; i < h->ncols; i++)
			{
				Oid			typid;
				int32		typmod;
				Oid			coll;

				if (MapNeededIndex(p, h->pcols[i]) >= 0 || p->nneeded >= 32)
					continue;
				get_atttypetypmodcoll(p->relid, h->pcols[i], &typid, &typmod, &coll);
				p->needed[p->nneeded] = h->pcols[i];
				p->needed_type[p->nneeded] = getBaseType(typid);
				p->nneeded++;
			}
		}
	}
	memset(&cx, 0, sizeof(cx));
	cx.subj = subj;
	cx.keyexpr = "$1";
	cx.nodes = palloc0(sizeof(CondNode) * Max(ntab, 1));
	for (i = 0; i < ntab; i++)
	{
		cx.nodes[i].mt = list_nth(subj->tables, i);
		cx.nodes[i].idx = i;
	}
	for (i = 0; i < ntab; i++)
		if (cx.nodes[i].index == 0)
			MapCondStrongConnect(&cx, i);
	subj->call_order = NIL;
	foreach(lc, cx.sccs)
	{
		List	   *comp = NIL;
		ListCell   *nc;

		foreach(nc, (List *) lfirst(lc))
			comp = lappend(comp, ((CondNode *) lfirst(nc))->mt);
		subj->call_order = lappend(subj->call_order, comp);
	}
}

/* match of one edge of alias over the key sets ($n: first array) */
static void
append_call_match(StringInfo buf, MapSubject *subj, MapHop *h, const char *alias, int n)
{
	int			i;

	/* an outbound key into one partition: that partition's rows only */
	if (h->nrleaves > 0)
		appendStringInfoChar(buf, '(');
	/* a polymorphic target link: the rows of its type only */
	if (MapLinkFilter(h, alias) != NULL)
		appendStringInfo(buf, "(%s AND ", MapLinkFilter(h, alias));
	if (h->ncols == 1)
		appendStringInfo(buf, "%s = ANY ($%d)", MapHopCol(h, alias, 0), n);
	else
	{
		appendStringInfoString(buf, MapHopCols(h, alias));
		appendStringInfoString(buf, " IN (SELECT * FROM ROWS FROM (");
		for (i = 0; i < h->ncols; i++)
			appendStringInfo(buf, "%spg_catalog.unnest($%d)", i ? ", " : "", n + i);
		appendStringInfoString(buf, "))");
	}
	if (MapLinkFilter(h, alias) != NULL)
		appendStringInfoChar(buf, ')');
	if (h->nrleaves > 0)
		appendStringInfo(buf, "%s)", MapHopRelLeaves(h, alias));
}

/*
 * build_call_cond
 *		The condition of mt on row alias over $1 (the key) and the key sets
 *		of the tables its edges lead to, as parameters $first, $first + 1...
 *		(in the order MapCallArgs gives them).  types (may be NULL) receives
 *		the key's type then the arrays' types, *nargs their count.
 */
static char *
build_call_cond(MapSubject *subj, MapTable *mt, const char *alias, int first,
				Oid *types, int maxtypes, int *nargs_out)
{
	StringInfoData buf;
	List	   *edges;
	ListCell   *lc;
	int			nargs = 1;
	bool		simple = true;
	CondCtx		cx;
	List	   *matches = NIL;

	edges = MapTableEdges(mt);
	memset(&cx, 0, sizeof(cx));
	cx.subj = subj;
	cx.keyexpr = "$1";
	if (types)
		types[0] = subj->key_type;
	initStringInfo(&buf);
	if (edges == NIL)
		appendStringInfo(&buf, "%s.%s %s $1", alias,
						 quote_identifier(subj->key_column), subj->key_eq);
	else
	{
		foreach(lc, edges)
		{
			MapHop	   *h = lfirst(lc);
			StringInfoData m;

			initStringInfo(&m);
			if (MapEdgeNeedsSet(subj, h) && MapFindTable(subj, h->prel) == NULL)
				appendStringInfoString(&m, "false");	/* a table dropped since */
			else if (MapEdgeNeedsSet(subj, h))
			{
				MapTable   *p = MapFindTable(subj, h->prel);
				int			i;

				if (nargs + h->ncols > maxtypes)
					elog(ERROR, "table %s has too many foreign keys for a map query", mt->label);
				append_call_match(&m, subj, h, alias, first + nargs - 1);
				for (i = 0; i < h->ncols; i++)
				{
					Oid			arr = get_array_type(p->needed_type[MapNeededIndex(p, h->pcols[i])]);

					if (!OidIsValid(arr))
						elog(ERROR, "no array type for a key column of %s", p->qualname);
					if (types)
						types[nargs] = arr;
					nargs++;
				}
				if (h->ncols > 1)
					simple = false;
			}
			else
			{
				MapAppendMatch(&m, &cx, h, alias);
				if (!MapEdgeIsDirect(subj, h))
					simple = false;
			}
			matches = lappend(matches, m.data);
		}
		if (list_length(matches) == 1)
			appendStringInfoString(&buf, linitial(matches));
		else if (simple || CitusIsCitusTable(mt->relid))	/* CITUS HOOK: no ctid */
		{
			foreach(lc, matches)
				appendStringInfo(&buf, "%s(%s)", foreach_current_index(lc) ? " OR " : "(",
								 (char *) lfirst(lc));
			appendStringInfoChar(&buf, ')');
		}
		else
		{
			/* one branch per edge, each with its own index plan */
			if (mt->partitioned)
				appendStringInfo(&buf, "(%s.tableoid, %s.ctid) IN (", alias, alias);
			else
				appendStringInfo(&buf, "%s.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(", alias);
			foreach(lc, matches)
				appendStringInfo(&buf, "%sSELECT %s%s.ctid FROM %s %s WHERE %s",
								 foreach_current_index(lc) ? " UNION " : "",
								 mt->partitioned ? psprintf("%s.tableoid, ", alias) : "", alias,
								 mt->qualname, alias, (char *) lfirst(lc));
			appendStringInfoString(&buf, mt->partitioned ? ")" : "))");
		}
	}
	*nargs_out = nargs;
	/* CITUS HOOK (src/citus.c): routed to the subject's shard group */
	return CitusRouteCondition(subj, mt, alias, "$1", buf.data);
}

/*
 * MapCallGroupArgs
 *		For one table of a statement over several tables: its condition on
 *		alias t over its key sets, numbered from *nargs + 1, with its
 *		arguments (the key sets; the key itself is $1 of the statement)
 *		appended to *types and *values, which grow as needed (*cap).
 */
char *
MapCallGroupArgs(MapSubject *subj, MapCall *call, MapTable *mt, Oid **types, Datum **values,
				 int *nargs, int *cap)
{
	char	   *cond = MapCallConditionAt(subj, mt, "t", *nargs + 1);

	MapCallGroupValues(call, mt, types, values, nargs, cap);
	return cond;
}

/*
 * MapCallGroupValues
 *		The arguments of MapCallGroupArgs without its condition (a statement
 *		whose text is kept: MapKeptGroupSigned).
 */
void
MapCallGroupValues(MapCall *call, MapTable *mt, Oid **types, Datum **values, int *nargs,
				   int *cap)
{
	Datum	   *args = MapCallArgs(call, mt);
	int			i;

	if (*nargs + mt->call_nargs > *cap)
	{
		*cap = 2 * (*nargs + mt->call_nargs);
		*types = repalloc(*types, sizeof(Oid) * *cap);
		*values = repalloc(*values, sizeof(Datum) * *cap);
	}
	for (i = 1; i < mt->call_nargs; i++)
	{
		(*types)[*nargs] = mt->call_argtypes[i];
		(*values)[(*nargs)++] = args[i];
	}
	pfree(args);
}

/*
 * MapCallCondition
 *		The condition of mt on alias "t" over $1 (the key) and the key sets
 *		of the tables its edges lead to ($2...), built once and cached with
 *		the map; the parameter types go to mt->call_argtypes.
 */
const char *
MapCallCondition(MapSubject *subj, MapTable *mt)
{
	Oid			types[1 + 32 * 64];
	int			nargs;
	MemoryContext old;

	if (mt->call_cond)
		return mt->call_cond;
	old = MemoryContextSwitchTo(GetMemoryChunkContext(mt));
	mt->call_cond = build_call_cond(subj, mt, "t", 2, types, lengthof(types), &nargs);
	mt->call_nargs = nargs;
	mt->call_argtypes = palloc(sizeof(Oid) * nargs);
	memcpy(mt->call_argtypes, types, sizeof(Oid) * nargs);
	MemoryContextSwitchTo(old);
	return mt->call_cond;
}

/*
 * MapCallConditionAt
 *		MapCallCondition for another row alias, its key sets numbered from
 *		$first (the caller adds MapCallArgs(call, mt)[1..] as those
 *		parameters; $1 stays the key).  Not cached.
 */
char *
MapCallConditionAt(MapSubject *subj, MapTable *mt, const char *alias, int first)
{
	int			nargs;

	(void) MapCallCondition(subj, mt);
	return build_call_cond(subj, mt, alias, first, NULL, PG_INT32_MAX, &nargs);
}

/*
 * MapCallArgs
 *		The parameter values of MapCallCondition(mt) for this call.
 */
Datum *
MapCallArgs(MapCall *call, MapTable *mt)
{
	MapSubject *subj = call->subj;
	Datum	   *values;
	ListCell   *lc;
	int			n = 1;

	(void) MapCallCondition(subj, mt);
	values = palloc(sizeof(Datum) * mt->call_nargs);
	values[0] = call->key;
	foreach(lc, MapTableEdges(mt))
	{
		MapHop	   *h = lfirst(lc);
		int			p,
					i;

		if (!MapEdgeNeedsSet(subj, h) || (p = MapTableIndex(subj, h->prel)) < 0)
			continue;
		for (i = 0; i < h->ncols; i++)
		{
			MapTable   *pt = list_nth(subj->tables, p);

			values[n++] = call->sets[p][MapNeededIndex(pt, h->pcols[i])];
		}
	}
	return values;
}

/*
 * keys_as_rows
 *		A locked key-set query of the rows form (call_run_keys): its columns
 *		are named k0, k1...; the arrays form's are array_agg or count.  Told
 *		by the result, so that a kept plan is read in the form it was
 *		prepared in.
 */
static bool
keys_as_rows(TupleDesc desc)
{
	const char *name;

	if (desc->natts < 1)
		return false;
	name = NameStr(TupleDescAttr(desc, 0)->attname);
	return strcmp(name, "k0") == 0;
}

/*
 * call_run_keys
 *		Run the key-set query of mt; new arrays into cxt; true when they
 *		grew.  lock: the erasure's form, which also locks the rows FOR
 *		UPDATE (and runs for a table whose sets nobody needs, only to lock
 *		it).  latest: with the latest snapshot, as every erasure statement.
 *
 *		CITUS HOOK: the key set of a table that Citus routes to the key's
 *		shard group (CitusRouted) returns the rows' key columns ("SELECT
 *		CAST(t.a AS type) AS k0, ... FROM tbl t WHERE <cond>", with "FOR
 *		UPDATE OF t" when locked: erase; without: export and dry runs) and
 *		the arrays are built here: one table and no
 *		subquery, the cheapest statement for Citus's router planner, which
 *		plans it on every call (its fast path, which would keep a generic
 *		plan, is off for our statements: it writes the key into the text
 *		sent to the worker, GuardQuietLogging).  The same rows are locked.  Without DISTINCT a
 *		value can repeat (a nullable referenced column); every reader of a
 *		set matches against it with = ANY or IN, where a repeat changes
 *		nothing.  A table locked without a needed column keeps the count(*)
 *		form (one row back, not one per locked row).
 */
static bool
call_run_keys(MapCall *call, MapTable *mt, int idx, MemoryContext cxt, bool lock, bool latest)
{
	MapSubject *subj = call->subj;
	PrivacyUserSwitch sw;
	int			ret;
	int			i;
	bool		grew = false;
	bool		rows;
	Datum	   *values;
	void	  **slot = lock ? &mt->plan_lock : &mt->plan_keys;

	if (*slot == NULL)
	{
		StringInfoData q;
		SPIPlanPtr	plan;
		const char *cond = MapCallCondition(subj, mt);
		/* the rows form (CITUS HOOK): a routed table's key set */
		bool		as_rows = mt->nneeded > 0 && CitusRouted(subj, mt);

		initStringInfo(&q);
		appendStringInfoString(&q, "SELECT ");
		for (i = 0; !as_rows && i < mt->nneeded; i++)
			appendStringInfo(&q, "%spg_catalog.array_agg(x.a%d)", i ? ", " : "", i);
		if (mt->nneeded == 0)
			appendStringInfoString(&q, "pg_catalog.count(*)");
		if (!as_rows)
			appendStringInfoString(&q, " FROM (SELECT DISTINCT ");
		for (i = 0; i < mt->nneeded; i++)
			appendStringInfo(&q, "%sCAST(t.%s AS %s) AS %c%d", i ? ", " : "",
							 quote_identifier(MapColName(mt->relid, mt->needed[i])),
							 format_type_be(mt->needed_type[i]), as_rows ? 'k' : 'a', i);
		if (mt->nneeded == 0)
			appendStringInfoString(&q, "1");
		if (as_rows)
			appendStringInfo(&q, " FROM %s t WHERE %s%s", mt->qualname, cond, lock ? " FOR UPDATE OF t" : "");
		else if (lock)
			appendStringInfo(&q, " FROM (SELECT * FROM %s t WHERE %s FOR UPDATE OF t) t) x",
							 mt->qualname, cond);
		else
			appendStringInfo(&q, " FROM %s t WHERE %s) x", mt->qualname, cond);
		/*
		 * One generic plan: a custom plan per call costs more than the query
		 * (CITUS HOOK: Citus's router planner plans a distributed table per
		 * call).
		 */
		plan = SPI_prepare_cursor(CitusPrivateParams(subj, mt->relid, q.data, mt->call_nargs,
													 mt->call_argtypes),
								  mt->call_nargs, mt->call_argtypes,
								  CitusIsCitusTable(mt->relid) ? 0 : CURSOR_OPT_GENERIC_PLAN);
		if (plan == NULL)
			elog(ERROR, "could not prepare the key query of %s: %s", mt->label,
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		*slot = plan;
	}
	values = MapCallArgs(call, mt);
	sw.frame = GuardEnterTableOwner(mt->relid);
	GuardSetRowSecurityBypass(true);
	PG_TRY();
	{
		if (latest)
		{
			/* our own earlier changes are visible to the new snapshot */
			CommandCounterIncrement();
			/* every row: the rows form returns (and locks) all of them */
			ret = SPI_execute_snapshot(*slot, values, NULL, GetLatestSnapshot(),
									   InvalidSnapshot, !lock, true, 0);
		}
		else
			ret = SPI_execute_plan(*slot, values, NULL, true, 0);
	}
	PG_FINALLY();
	{
		GuardSetRowSecurityBypass(false);
	}
	PG_END_TRY();
	GuardLeave(sw.frame);
	rows = ret == SPI_OK_SELECT && keys_as_rows(SPI_tuptable->tupdesc);
	if (ret != SPI_OK_SELECT || (!rows && SPI_processed != 1) ||
		(rows && SPI_tuptable->tupdesc->natts != mt->nneeded))
		elog(ERROR, "key query of %s failed: %s", mt->label, SPI_result_code_string(ret));
	for (i = 0; i < mt->nneeded; i++)
	{
		bool		isnull = false;
		Datum		d = (Datum) 0;
		MemoryContext old;
		ArrayType  *a;
		ArrayType  *prev = DatumGetArrayTypeP(call->sets[idx][i]);

		if (rows)
		{
			/* the rows form (CITUS HOOK): the column's values as an array */
			uint64		n = SPI_processed;
			Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
			bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
			int16		typlen;
			bool		typbyval;
			char		typalign;
			int			dims[1];
			int			lbs[1];
			uint64		r;

			if (SPI_gettypeid(SPI_tuptable->tupdesc, i + 1) != mt->needed_type[i])
				elog(ERROR, "key query of %s returned another type", mt->label);
			if (n > (uint64) MaxArraySize)
				elog(ERROR, "key set of %s too large", mt->label);
			for (r = 0; r < n; r++)
				elems[r] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, i + 1,
										 &nulls[r]);
			get_typlenbyvalalign(mt->needed_type[i], &typlen, &typbyval, &typalign);
			dims[0] = (int) n;
			lbs[0] = 1;
			old = MemoryContextSwitchTo(cxt);
			a = n == 0 ? construct_empty_array(mt->needed_type[i]) :
				construct_md_array(elems, nulls, 1, dims, lbs, mt->needed_type[i], typlen,
								   typbyval, typalign);
		}
		else
		{
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);
			old = MemoryContextSwitchTo(cxt);
			a = isnull ? construct_empty_array(mt->needed_type[i]) : DatumGetArrayTypePCopy(d);
		}
		if (ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) > ArrayGetNItems(ARR_NDIM(prev), ARR_DIMS(prev)))
			grew = true;
		call->sets[idx][i] = PointerGetDatum(a);
		MemoryContextSwitchTo(old);
	}
	return grew;
}

/*
 * MapKeptGroupPlan
 *		The kept plan of slot (a number the caller keeps stable, per
 *		statement) among subj->kept_groups for sql: reused while the text and
 *		parameter types are the same, replaced otherwise; one generic plan;
 *		prepared under the identity of the caller (inside the guard frame
 *		that runs it); freed with the map entry.
 */
static void *
MapKeptGroupPlan(MapSubject *subj, int slot, const char *sql, int nargs, const Oid *argtypes)
{
	MapKeptPlan *k;
	MemoryContext old = MemoryContextSwitchTo(subj->cxt);

	while (list_length(subj->kept_groups) <= slot)
		subj->kept_groups = lappend(subj->kept_groups, palloc0(sizeof(MapKeptPlan)));
	MemoryContextSwitchTo(old);
	k = list_nth(subj->kept_groups, slot);
	if (k->plan != NULL &&
		(k->nargs != nargs || strcmp(k->sql, sql) != 0 ||
		 (nargs > 0 && memcmp(k->argtypes, argtypes, sizeof(Oid) * nargs) != 0)))
	{
		SPI_freeplan((SPIPlanPtr) k->plan);
		k->plan = NULL;
	}
	if (k->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, (Oid *) argtypes, CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "could not prepare a map statement: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		if (k->sql)
			pfree(k->sql);
		if (k->argtypes)
			pfree(k->argtypes);
		k->sql = MemoryContextStrdup(subj->cxt, sql);
		k->argtypes = MemoryContextAlloc(subj->cxt, sizeof(Oid) * Max(nargs, 1));
		if (nargs > 0)
			memcpy(k->argtypes, argtypes, sizeof(Oid) * nargs);
		k->nargs = nargs;
		k->plan = plan;
		if (k->sig)
			pfree(k->sig);
		k->sig = NULL;
	}
	return k->plan;
}

/* the kept plan of slot, if any, without creating it */
static MapKeptPlan *
kept_group(MapSubject *subj, int slot)
{
	return slot < list_length(subj->kept_groups) ? list_nth(subj->kept_groups, slot) : NULL;
}

/*
 * MapKeptGroupSigned
 *		See privacy.h.
 */
void *
MapKeptGroupSigned(MapSubject *subj, int slot, const uintptr_t *sig, int nsig, int nargs,
				   const Oid *argtypes, char *(*build) (void *arg), void *arg)
{
	MapKeptPlan *k = kept_group(subj, slot);
	void	   *plan;

	if (k != NULL && k->plan != NULL && k->sig != NULL && k->nsig == nsig &&
		memcmp(k->sig, sig, sizeof(uintptr_t) * nsig) == 0)
		return k->plan;
	plan = MapKeptGroupPlan(subj, slot, build(arg), nargs, argtypes);
	k = kept_group(subj, slot);
	k->sig = MemoryContextAlloc(subj->cxt, sizeof(uintptr_t) * Max(nsig, 1));
	memcpy(k->sig, sig, sizeof(uintptr_t) * nsig);
	k->nsig = nsig;
	return plan;
}

/*
 * call_levels
 *		The level of each table (subj->tables order) in the edge graph: 0
 *		for a table whose edges need no key set, else one more than the
 *		highest level among the tables its edges lead to (outside its own
 *		component).  The tables of one level depend only on lower levels.
 */
static int *
call_levels(MapSubject *subj, int *maxlevel)
{
	int			ntab = list_length(subj->tables);
	int		   *level = palloc0(sizeof(int) * Max(ntab, 1));
	ListCell   *cc,
			   *lc,
			   *ec;

	*maxlevel = 0;
	foreach(cc, subj->call_order)
	{
		List	   *comp = lfirst(cc);
		int			l = 0;

		foreach(lc, comp)
			foreach(ec, MapTableEdges((MapTable *) lfirst(lc)))
		{
			MapHop	   *h = lfirst(ec);
			int			p;

			if (!MapEdgeNeedsSet(subj, h) || list_member_ptr(comp, MapFindTable(subj, h->prel)) ||
				(p = MapTableIndex(subj, h->prel)) < 0)
				continue;
			l = Max(l, level[p] + 1);
		}
		foreach(lc, comp)
			level[MapTableIndex(subj, ((MapTable *) lfirst(lc))->relid)] = l;
		*maxlevel = Max(*maxlevel, l);
	}
	return level;
}

/* access: the rows of each table read with its key set (MapCallBeginReading) */
typedef struct CallRows
{
	const char *const *json;	/* per table: a row's JSON on alias t, or NULL */
	Jsonb	  **rows;			/* out: per table, NULL when none */
	bool	   *read;			/* out: the table was read */
	MemoryContext outer;
	int			family;			/* kept plans: 0 access, 1 export */
} CallRows;

/* what call_run_group's statement text is built from */
typedef struct GroupSql
{
	MapCall    *call;
	List	   *members;
	const bool *lock;
	CallRows   *cr;
	const int  *first;			/* per member: the number of its first key set */
} GroupSql;

/* the group statement's text: one sub-select per member (call_run_group) */
static char *
group_sql(void *arg)
{
	GroupSql   *gs = arg;
	MapSubject *subj = gs->call->subj;
	List	   *members = gs->members;
	const bool *lock = gs->lock;
	CallRows   *cr = gs->cr;
	const int  *first = gs->first;
	StringInfoData q;
	ListCell   *lc;

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT ");
	foreach(lc, members)
	{
		MapTable   *mt = lfirst(lc);
		int			idx = MapTableIndex(subj, mt->relid);
		bool		lk = lock != NULL && lock[idx];
		char	   *cond = MapCallConditionAt(subj, mt, "t", first[foreach_current_index(lc)]);
		const char *key = mt->nneeded > 0 ? quote_identifier(MapColName(mt->relid, mt->needed[0])) : NULL;
		char	   *type = mt->nneeded > 0 ? format_type_be(mt->needed_type[0]) : NULL;

		if (foreach_current_index(lc) > 0)
			appendStringInfoString(&q, ", ");
		/*
		 * A key set needs no DISTINCT: it is only ever compared with = ANY
		 * (btree drops duplicate array keys), and the referenced column of a
		 * foreign key is unique anyway.
		 */
		if (cr != NULL && cr->json[idx] != NULL && mt->nneeded == 1)
			appendStringInfo(&q, "(SELECT ROW(privacy._rows(%s), pg_catalog.array_agg(CAST(t.%s AS %s)))"
							 " FROM %s t WHERE %s)", cr->json[idx], key, type, mt->qualname, cond);
		else if (cr != NULL && cr->json[idx] != NULL)
			appendStringInfo(&q, "(SELECT privacy._rows(%s) FROM %s t WHERE %s)",
							 cr->json[idx], mt->qualname, cond);
		else if (mt->nneeded == 0)
			appendStringInfo(&q, "(SELECT pg_catalog.count(*) FROM (SELECT 1 FROM %s t WHERE %s FOR UPDATE OF t) x)",
							 mt->qualname, cond);
		else if (lk)
			appendStringInfo(&q, "(SELECT pg_catalog.array_agg(CAST(t.%s AS %s))"
							 " FROM (SELECT * FROM %s t WHERE %s FOR UPDATE OF t) t)",
							 key, type, mt->qualname, cond);
		else
			appendStringInfo(&q, "(SELECT pg_catalog.array_agg(CAST(t.%s AS %s)) FROM %s t WHERE %s)",
							 key, type, mt->qualname, cond);
	}
	return q.data;
}

/*
 * call_run_group
 *		The key sets of several tables of one owner and one level in one
 *		statement, "SELECT (<key query of t1>), (<key query of t2>)...":
 *		tables with one needed column, or none when the table is only
 *		locked.  Same queries, identity and snapshot as call_run_keys, one
 *		round trip.  slot: the statement's kept plan, whose text is built
 *		only when its signature changed (a warm call builds no SQL).
 */
static void
call_run_group(MapCall *call, List *members, const bool *lock, int slot, MemoryContext cxt,
			   CallRows *cr)
{
	MapSubject *subj = call->subj;
	ListCell   *lc;
	int			nargs = 1;
	int			cap = 64;
	Oid		   *types = palloc(sizeof(Oid) * cap);
	Datum	   *values = palloc(sizeof(Datum) * cap);
	int			nsig = list_length(members);
	uintptr_t  *sig = palloc(sizeof(uintptr_t) * nsig);
	int		   *first = palloc(sizeof(int) * nsig);
	bool		locking = false;
	PrivacyUserSwitch sw;
	SPIPlanPtr	plan;
	int			ret;

	types[0] = subj->key_type;
	values[0] = call->key;
	foreach(lc, members)
	{
		MapTable   *mt = lfirst(lc);
		int			idx = MapTableIndex(subj, mt->relid);
		bool		lk = lock != NULL && lock[idx];

		locking |= lk;
		sig[foreach_current_index(lc)] = MapGroupSig(mt, (lk ? 1 : 0) |
													 (cr != NULL && cr->json[idx] != NULL ? 2 : 0));
		first[foreach_current_index(lc)] = nargs + 1;
		MapCallGroupValues(call, mt, &types, &values, &nargs, &cap);
	}
	sw.frame = GuardEnterTableOwner(((MapTable *) linitial(members))->relid);
	GuardSetRowSecurityBypass(true);
	PG_TRY();
	{
		GroupSql	gs = {call, members, lock, cr, first};

		plan = MapKeptGroupSigned(subj, slot, sig, nsig, nargs, types, group_sql, &gs);
		if (lock != NULL)
		{
			/* an erasure: our own earlier changes are visible to the new snapshot */
			CommandCounterIncrement();
			ret = SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(),
									   InvalidSnapshot, !locking, true, 1);
		}
		else
			ret = SPI_execute_plan(plan, values, NULL, true, 1);
	}
	PG_FINALLY();
	{
		GuardSetRowSecurityBypass(false);
	}
	PG_END_TRY();
	GuardLeave(sw.frame);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "key query of %d tables failed: %s", list_length(members), SPI_result_code_string(ret));
	foreach(lc, members)
	{
		MapTable   *mt = lfirst(lc);
		int			idx = MapTableIndex(subj, mt->relid);
		bool		isnull;
		Datum		d;
		MemoryContext old;

		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
						  foreach_current_index(lc) + 1, &isnull);
		if (cr != NULL && cr->json[idx] != NULL)
		{
			/* the rows (and the key set): one scan of the table */
			Datum		j = d;
			bool		jnull = isnull;

			cr->read[idx] = true;
			if (mt->nneeded == 1 && !isnull)
			{
				HeapTupleHeader th = DatumGetHeapTupleHeader(d);

				j = GetAttributeByNum(th, 1, &jnull);
				d = GetAttributeByNum(th, 2, &isnull);
			}
			if (!jnull)
			{
				old = MemoryContextSwitchTo(cr->outer);
				cr->rows[idx] = DatumGetJsonbPCopy(j);
				MemoryContextSwitchTo(old);
			}
		}
		if (mt->nneeded == 0)
			continue;
		old = MemoryContextSwitchTo(cxt);
		call->sets[idx][0] = isnull ? PointerGetDatum(construct_empty_array(mt->needed_type[0]))
			: PointerGetDatum(DatumGetArrayTypePCopy(d));
		MemoryContextSwitchTo(old);
	}
}

static MapCall *call_begin(MapSubject *subj, Datum key, const bool *lock, CallRows *cr);

/*
 * MapCallBegin
 *		Compute the key sets of one call: components of the edge graph top
 *		down, a cycle (or a self-reference) repeated until no set grows.
 *		Allocated in the caller's memory context.
 */
MapCall *
MapCallBegin(MapSubject *subj, Datum key)
{
	return MapCallBeginLocking(subj, key, NULL);
}

/*
 * MapCallBeginLocking
 *		MapCallBegin for an erasure: every statement runs with the latest
 *		snapshot, and the subject's rows of each table with lock[i] set
 *		(subj->tables order) are locked FOR UPDATE by the statement that
 *		computes its key set, tables above first, so the set of a table is
 *		read once the rows it references are locked (a row added below them
 *		afterwards waits for the erasure).  A dry run passes no flag set.
 *		lock NULL: as MapCallBegin (the transaction's snapshot).
 *
 *		Level by level (call_levels): the tables of a level outside a cycle
 *		with one needed column (or none, only locked) are read in one
 *		statement per owner (call_run_group); the others (cycles, composite
 *		keys, Citus) one by one.
 */
MapCall *
MapCallBeginLocking(MapSubject *subj, Datum key, const bool *lock)
{
	return call_begin(subj, key, lock, NULL);
}

/*
 * MapCallBeginReading
 *		MapCallBegin for access and export: the tables read in the grouped
 *		statements (call_levels) also return their rows there, as
 *		privacy._rows(json[i]) (jsonb_agg) over alias t (json[i] NULL: not wanted), from the
 *		same scan as their key set; rows[i] gets them (NULL: none, allocated
 *		in outer) and read[i] tells which tables were read.  The caller
 *		reads the others.
 */
MapCall *
MapCallBeginReading(MapSubject *subj, Datum key, bool export, const char *const *json,
					Jsonb **rows, bool *read, MemoryContext outer)
{
	CallRows	cr;

	cr.family = export ? 1 : 0;
	cr.json = json;
	cr.rows = rows;
	cr.read = read;
	cr.outer = outer;
	return call_begin(subj, key, NULL, &cr);
}

/*
 * The most tables in one grouped statement.  A statement over a whole level
 * (120 tables here) is planned and started at once: its planner's working
 * memory and executor state (an index scan holds about 27 kB) peaked at
 * 45 MB in a new session, all of it pages touched for the first time, which
 * made a session's first call six times a warm one on a 351-table map.
 * Groups of this size keep that peak a few MB, for a few more statements.
 */
static int	map_group_max = 24;

/* MapCallBeginLocking and MapCallBeginReading */
static MapCall *
call_begin(MapSubject *subj, Datum key, const bool *lock, CallRows *cr)
{
	MapCall    *call = palloc0(sizeof(MapCall));
	MemoryContext cxt = CurrentMemoryContext;
	ListCell   *cc,
			   *lc;
	int			ntab = list_length(subj->tables);
	int			nest;
	int		   *level;
	int			maxlevel;
	int			l;
	/*
	 * Kept plans (MapKeptGroupPlan), six per group: 6n access (or plain),
	 * 6n + 1 export, 6n + 2 erasure, 6n + 3 dry run (6n + 4, 6n + 5:
	 * access.c), so that calls of each kind keep their own.
	 */
	int			slot;
	bool		citus = CitusLoaded();
	bool		dry = true;		/* no table locked (an erasure's dry run) */

	call->subj = subj;
	call->key = key;
	call->sets = palloc0(sizeof(Datum *) * Max(ntab, 1));
	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);
		int			i;

		call->sets[foreach_current_index(lc)] = palloc0(sizeof(Datum) * Max(mt->nneeded, 1));
		for (i = 0; i < mt->nneeded; i++)
			call->sets[foreach_current_index(lc)][i] =
				PointerGetDatum(construct_empty_array(mt->needed_type[i]));
	}
	for (l = 0; lock != NULL && l < ntab; l++)
		if (lock[l])
			dry = false;
	slot = cr ? cr->family : lock == NULL ? 0 : dry ? 3 : 2;
	level = call_levels(subj, &maxlevel);
	UtilSpiConnect();
	nest = MapJitOff();
	for (l = 0; l <= maxlevel; l++)
	{
		List	   *owners = NIL;	/* Oid */
		List	   *groups = NIL;	/* List of MapTable *, per owner */
		ListCell   *gc;

		foreach(cc, subj->call_order)
		{
			List	   *comp = lfirst(cc);
			bool		cyclic = list_length(comp) > 1;
			bool		grew;
			MapTable   *first = linitial(comp);
			bool		locking;

			if (level[MapTableIndex(subj, first->relid)] != l)
				continue;
			foreach(lc, comp)
			{
				MapTable   *mt = lfirst(lc);
				ListCell   *ec;

				foreach(ec, MapTableEdges(mt))
					if (((MapHop *) lfirst(ec))->prel == mt->relid && !((MapHop *) lfirst(ec))->link)
						cyclic = true;
			}
			locking = lock != NULL && lock[MapTableIndex(subj, first->relid)];
			if (!cyclic && !citus &&
				(first->nneeded == 1 || (first->nneeded == 0 && locking) ||
				 (first->nneeded == 0 && cr != NULL && cr->json[MapTableIndex(subj, first->relid)] != NULL)))
			{
				Oid			owner = UtilRelationOwner(first->relid);
				int			g = -1;

				/* the owner's last group, unless it is full */
				foreach(gc, owners)
					if (lfirst_oid(gc) == owner)
						g = foreach_current_index(gc);
				if (g >= 0 && list_length(list_nth(groups, g)) < map_group_max)
					list_nth_cell(groups, g)->ptr_value =
						lappend(list_nth(groups, g), first);
				else
				{
					owners = lappend_oid(owners, owner);
					groups = lappend(groups, list_make1(first));
				}
				continue;
			}
			do
			{
				grew = false;
				CHECK_FOR_INTERRUPTS();
				foreach(lc, comp)
				{
					MapTable   *mt = lfirst(lc);
					int			idx = MapTableIndex(subj, mt->relid);
					bool		lk = lock != NULL && lock[idx];

					if (mt->nneeded == 0 && !lk)
						continue;
					if (call_run_keys(call, mt, idx, cxt, lk, lock != NULL))
						grew = true;
				}
			} while (cyclic && grew);
		}
		foreach(gc, groups)
		{
			CHECK_FOR_INTERRUPTS();
			call_run_group(call, lfirst(gc), lock, slot, cxt, cr);
			slot += 6;
		}
	}
	MapJitRestore(nest);
	SPI_finish();
	MemoryContextSwitchTo(cxt);
	return call;
}

/* MapCallEnd: the key sets are freed with the caller's memory context */
void
MapCallEnd(MapCall *call)
{
	pfree(call->sets);
	pfree(call);
}
