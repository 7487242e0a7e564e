/*-------------------------------------------------------------------------
 * map_cache.c
 *		The per-backend cache of compiled subjects: loading a subject type's
 *		map from privacy.map (and compiling it), pinning, invalidation.
 *
 * Executors read the map through MapGetSubject, a per-backend cache that
 * compiles, per table, the condition "row t belongs to the subject whose
 * key is $1" (joins along the path as nested IN sub-selects, every
 * identifier quoted, the key passed as a parameter of the root key's type).
 * The cache (and the SPI plans hanging off it) is dropped when privacy.map
 * or any mapped table gets a relcache invalidation: every change of the
 * configuration calls MapInvalidate(), which sends one for privacy.map to
 * every backend at commit.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "guard.h"
#include "map.h"
#include "privacy.h"

/* per-backend cache of compiled subjects */
static MemoryContext map_cache_cxt = NULL;
static List *map_cache = NIL;	/* MapSubject * */
static List *map_dead = NIL;	/* invalidated entries still pinned */
static MemoryContext load_cxt = NULL;	/* the entry being loaded */
static bool map_cache_stale = false;
static bool map_callback_registered = false;
static Oid	map_relid = InvalidOid;

/* ------------------------------------------------------------------------
 * Cache invalidation
 * ------------------------------------------------------------------------
 */

/*
 * map_relcache_callback
 *		Mark the cache stale when privacy.map or a mapped table changes.
 *		Only marks: plans may be in use, they are freed at the next lookup.
 */
static void
map_relcache_callback(Datum arg, Oid relid)
{
	ListCell   *lc,
			   *lc2;

	if (map_cache == NIL)
		return;
	if (!OidIsValid(relid) || relid == map_relid)
	{
		map_cache_stale = true;
		return;
	}
	foreach(lc, map_cache)
	{
		MapSubject *s = lfirst(lc);

		foreach(lc2, s->tables)
		{
			MapTable   *t = lfirst(lc2);

			if (t->relid == relid)
			{
				map_cache_stale = true;
				return;
			}
		}
	}
}

/*
 * map_namespace_callback
 *		A schema renamed: the compiled statements name the tables by their
 *		qualified names, so every subject is compiled again (rare DDL).
 */
static void
map_namespace_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	if (map_cache != NIL)
		map_cache_stale = true;
}

/* free one entry: its SPI plans and its memory */
static void
free_entry(MapSubject *s)
{
	ListCell   *lc2;

	if (s->plan_status)
		SPI_freeplan(s->plan_status);
	if (s->plan_config)
		SPI_freeplan(s->plan_config);
	if (s->kept_lock && s->kept_lock->plan)
		SPI_freeplan(s->kept_lock->plan);
	foreach(lc2, s->kept_groups)
	{
		MapKeptPlan *k = lfirst(lc2);

		if (k && k->plan)
			SPI_freeplan(k->plan);
	}
	foreach(lc2, s->tables)
	{
		MapTable   *t = lfirst(lc2);

		if (t->plan_access)
			SPI_freeplan(t->plan_access);
		if (t->plan_export)
			SPI_freeplan(t->plan_export);
		if (t->plan_extra)
			SPI_freeplan(t->plan_extra);
		if (t->plan_keys)
			SPI_freeplan(t->plan_keys);
		if (t->plan_call)
			SPI_freeplan(t->plan_call);
		if (t->plan_lock)
			SPI_freeplan(t->plan_lock);
		if (t->kept_shared && t->kept_shared->plan)
			SPI_freeplan(t->kept_shared->plan);
		if (t->kept_lock && t->kept_lock->plan)
			SPI_freeplan(t->kept_lock->plan);
		if (t->kept_act && t->kept_act->plan)
			SPI_freeplan(t->kept_act->plan);
	}
	MemoryContextDelete(s->cxt);
}

/*
 * free_unpinned
 *		Free the dead entries no transaction pins any more; returns those
 *		still pinned (in map_cache_cxt, the current context).
 */
static List *
free_unpinned(void)
{
	ListCell   *lc;
	List	   *keep = NIL;

	foreach(lc, map_dead)
	{
		MapSubject *s = lfirst(lc);

		if (s->pins > 0)
			keep = lappend(keep, s);
		else
			free_entry(s);
	}
	return keep;
}

/*
 * free_cache
 *		Drop every compiled subject.  An entry pinned by the running
 *		transaction is only marked dead (it stays readable); it is freed by
 *		the first call after its transaction ended.
 */
static void
free_cache(void)
{
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(map_cache_cxt);
	List	   *keep = free_unpinned();

	foreach(lc, map_cache)
	{
		MapSubject *s = lfirst(lc);

		s->dead = true;
		if (s->pins > 0)
			keep = lappend(keep, s);
		else
			free_entry(s);
	}
	list_free(map_dead);
	list_free(map_cache);
	map_dead = keep;
	map_cache = NIL;
	map_cache_stale = false;
	MemoryContextSwitchTo(old);
}

/*
 * map_xact_callback
 *		The end of a transaction unpins every entry (dead ones are freed at
 *		the next lookup, outside of the callback).
 */
static void
map_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	foreach(lc, map_cache)
		((MapSubject *) lfirst(lc))->pins = 0;
	foreach(lc, map_dead)
		((MapSubject *) lfirst(lc))->pins = 0;
}

/*
 * MapInvalidate
 *		Tell every backend (at commit) that the map or the configuration
 *		changed; this backend forgets its cache at once.
 */
void
MapInvalidate(void)
{
	/* looked up each time: the extension may have been dropped and re-created */
	map_relid = UtilCatalogRelid("map");
	CacheInvalidateRelcacheByRelid(map_relid);
	map_cache_stale = true;
}

/* ------------------------------------------------------------------------
 * Loading the cache
 * ------------------------------------------------------------------------
 */

/*
 * MapLatestQuery
 *		A read of the configuration tables behind an entry (SPI connected)
 *		under the latest snapshot, not the transaction's: the cache is
 *		shared by the backend's transactions and dropped only by an
 *		invalidation, so an entry that a REPEATABLE READ transaction loaded
 *		after a map change committed (its invalidation read) held the map as
 *		the transaction's snapshot saw it, before the change, and served it
 *		to the next transactions: an erasure in READ COMMITTED after it left
 *		a table linked meanwhile out (its rows stayed, its receipt did not
 *		name it).  Inside a parallel operation (no new snapshot there): the
 *		transaction's.
 */
int
MapLatestQuery(const char *sql, int nargs, Oid *argtypes, Datum *values, long count)
{
	SPIPlanPtr	plan;
	int			ret;

	if (IsInParallelMode())
		return SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, count);
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare a map query: %s", SPI_result_code_string(SPI_result));
	ret = SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(), InvalidSnapshot, false, false, count);
	SPI_freeplan(plan);
	return ret;
}

/*
 * A table's erasure mode and classified columns are its own or, for a
 * partition, its nearest ancestor's that has them (set_erasure_mode and
 * classify refuse a partition: "its partitions are handled with it"), by
 * column name: a partition mapped by a key of its own whose partitioned
 * table is not in the map (its other leaves reference another table) was
 * deleted in the table's anonymize mode, its classified columns unknown.
 * pg_partition_ancestors(t) is t, then its ancestors upwards (nothing for a
 * table outside a partition tree: t is added first).
 */
static const char *load_tables_sql =
"SELECT m.table_name::oid, m.via, m.depth, m.outbound,"
" coalesce((SELECT tm.mode OPERATOR(pg_catalog.=) 'anonymize'"
"  FROM (SELECT m.table_name, 0 UNION ALL SELECT * FROM"
"   pg_catalog.pg_partition_ancestors(m.table_name) WITH ORDINALITY) an(relid, o)"
"  JOIN privacy.table_modes tm ON tm.table_name OPERATOR(pg_catalog.=) an.relid"
"  ORDER BY an.o LIMIT 1), false)"
" FROM privacy.map m WHERE m.subject OPERATOR(pg_catalog.=) $1"
" ORDER BY m.depth, m.via OPERATOR(pg_catalog.<>) 'root', m.table_name::oid";

static const char *load_hops_sql =
"SELECT m.table_name::oid, m.paths FROM privacy.map m WHERE m.subject OPERATOR(pg_catalog.=) $1";

static const char *load_columns_sql =
"SELECT m.table_name::oid, c.column_name::text, a.attnum, a.atttypid, c.category, c.erasure, c.portable, a.attnotnull"
" FROM privacy.map m"
" CROSS JOIN LATERAL (SELECT an.relid FROM (SELECT m.table_name, 0 UNION ALL SELECT * FROM"
"   pg_catalog.pg_partition_ancestors(m.table_name) WITH ORDINALITY) an(relid, o)"
"  WHERE EXISTS (SELECT FROM privacy.classifications c2"
"   WHERE c2.table_name OPERATOR(pg_catalog.=) an.relid) ORDER BY an.o LIMIT 1) src"
" JOIN privacy.classifications c ON c.table_name OPERATOR(pg_catalog.=) src.relid"
" JOIN pg_catalog.pg_attribute a"
"  ON a.attrelid OPERATOR(pg_catalog.=) m.table_name::oid AND a.attname OPERATOR(pg_catalog.=) c.column_name"
"  AND NOT a.attisdropped"
" WHERE m.subject OPERATOR(pg_catalog.=) $1"
" ORDER BY m.table_name::oid, a.attnum";

/* a number of a path's JSON (written as a number; a string is read too) */
static int64
hop_number(JsonbValue *v)
{
	if (v != NULL && v->type == jbvNumeric)
		return DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
	if (v != NULL && v->type == jbvString)
		return DatumGetInt64(DirectFunctionCall1(int8in,
												 CStringGetDatum(pnstrdup(v->val.string.val,
																		  v->val.string.len))));
	elog(ERROR, "malformed path in privacy.map");
	return 0;
}

/* a JSON array of attribute numbers into out (at most 32); its length */
static int
hop_columns(JsonbContainer *hop, const char *key, AttrNumber *out)
{
	JsonbValue	v;
	JsonbContainer *arr;
	uint32		n,
				i;

	if (getKeyJsonValueFromContainer(hop, key, strlen(key), &v) == NULL ||
		v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		elog(ERROR, "malformed path in privacy.map");
	arr = v.val.binary.data;
	n = Min(JsonContainerSize(arr), 32);
	for (i = 0; i < n; i++)
		out[i] = (AttrNumber) hop_number(getIthJsonbValueFromContainer(arr, i));
	return (int) n;
}

/*
 * load_paths
 *		mt's paths from its row of privacy.map (an array of paths, each an
 *		array of hops {"t", "p", "c", "pc", "link"}), read in C: the same
 *		hops as the SQL that expanded them with jsonb_array_elements, at a
 *		tenth of the cost on a map of hundreds of tables.  An empty path is
 *		skipped, as there.  The hops are allocated in cxt.
 */
static void
load_paths(MapTable *mt, Jsonb *paths, MemoryContext cxt)
{
	JsonbContainer *root = &paths->root;
	uint32		np,
				p;

	if (!JsonContainerIsArray(root) || JsonContainerIsScalar(root))
		elog(ERROR, "malformed paths in privacy.map");
	np = JsonContainerSize(root);
	for (p = 0; p < np; p++)
	{
		JsonbValue *pv = getIthJsonbValueFromContainer(root, p);
		JsonbContainer *pc;
		uint32		nh,
					k;
		List	   *path = NIL;

		if (pv == NULL || pv->type != jbvBinary || !JsonContainerIsArray(pv->val.binary.data))
			elog(ERROR, "malformed path in privacy.map");
		pc = pv->val.binary.data;
		nh = JsonContainerSize(pc);
		for (k = 0; k < nh; k++)
		{
			JsonbValue *hv = getIthJsonbValueFromContainer(pc, k);
			JsonbContainer *hc;
			JsonbValue	v;
			MapHop	   *h;
			MemoryContext old;

			if (hv == NULL || hv->type != jbvBinary || !JsonContainerIsObject(hv->val.binary.data))
				elog(ERROR, "malformed path in privacy.map");
			hc = hv->val.binary.data;
			h = MemoryContextAllocZero(cxt, sizeof(MapHop));
			h->rel = (Oid) hop_number(getKeyJsonValueFromContainer(hc, "t", 1, &v));
			h->prel = (Oid) hop_number(getKeyJsonValueFromContainer(hc, "p", 1, &v));
			h->link = getKeyJsonValueFromContainer(hc, "link", 4, &v) != NULL &&
				v.type == jbvBool && v.val.boolean;
			h->ncols = hop_columns(hc, "c", h->cols);
			(void) hop_columns(hc, "pc", h->pcols);
			/* an outbound key into one partition: its tables (map_walk.c) */
			if (getKeyJsonValueFromContainer(hc, "rp", 2, &v) != NULL && v.type == jbvNumeric)
			{
				List	   *leaves;
				ListCell   *lc;

				h->rpart = (Oid) hop_number(&v);
				leaves = find_all_inheritors(h->rpart, NoLock, NULL);
				h->rleaves = MemoryContextAlloc(cxt, sizeof(Oid) * Max(list_length(leaves), 1));
				foreach(lc, leaves)
					h->rleaves[h->nrleaves++] = lfirst_oid(lc);
				if (h->nrleaves == 0)
					h->rleaves[h->nrleaves++] = InvalidOid;
			}
			/* a polymorphic link's type column and value */
			if (getKeyJsonValueFromContainer(hc, "tc", 2, &v) != NULL && v.type == jbvNumeric)
			{
				h->tcol = (AttrNumber) hop_number(&v);
				if (getKeyJsonValueFromContainer(hc, "tv", 2, &v) != NULL && v.type == jbvString)
					h->tval = MemoryContextStrdup(cxt, pnstrdup(v.val.string.val, v.val.string.len));
				else
					h->tcol = InvalidAttrNumber;
			}
			/* a link to another table of the map (link(..., target)) */
			if (getKeyJsonValueFromContainer(hc, "ty", 2, &v) != NULL && v.type == jbvBool &&
				v.val.boolean && h->ncols == 1)
			{
				Oid			ct = get_atttype(h->rel, h->cols[0]);
				Oid			pt = get_atttype(h->prel, h->pcols[0]);

				/* (a table dropped in this statement: no conversion) */
				h->tlink = true;
				h->deltype = 'a';
				h->conv = OidIsValid(ct) && OidIsValid(pt) && getBaseType(ct) != getBaseType(pt)
					? getBaseType(pt) : InvalidOid;
			}
			old = MemoryContextSwitchTo(cxt);
			path = lappend(path, h);
			MemoryContextSwitchTo(old);
		}
		if (path != NIL)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			mt->paths = lappend(mt->paths, path);
			MemoryContextSwitchTo(old);
		}
	}
}

/*
 * load_tables
 *		Fill in the edges and classified columns of every mapped table (two
 *		queries for the whole subject).  Runs inside SPI, in the entry's
 *		context.
 */
static void
load_tables(MapSubject *subj)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	int			ret;
	uint64		i;
	SPITupleTable *tt;
	uint64		n;
	HTAB	   *byrel = MapOidHash("privacy map load");
	ListCell   *lc;

	foreach(lc, subj->tables)
	{
		MapTable   *t = lfirst(lc);
		OidEntry   *he = hash_search(byrel, &t->relid, HASH_ENTER, NULL);

		he->ptr = t;
	}
	values[0] = CStringGetTextDatum(subj->name);
	ret = MapLatestQuery(load_hops_sql, 1, argtypes, values, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "map lookup failed: %s", SPI_result_code_string(ret));
	tt = SPI_tuptable;
	n = SPI_processed;
	{
		/* the JSON's scratch values go with this context */
		MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "privacy map paths",
													  ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(scratch);

		for (i = 0; i < n; i++)
		{
			bool		isnull;
			Oid			rel = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			Datum		d = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull);
			OidEntry   *he = hash_search(byrel, &rel, HASH_FIND, NULL);

			if (he == NULL || isnull)
				continue;		/* a table dropped since */
			load_paths(he->ptr, DatumGetJsonbP(d), load_cxt);
		}
		MemoryContextSwitchTo(old);
		MemoryContextDelete(scratch);
	}
	MemoryContextSwitchTo(load_cxt);
	foreach(lc, subj->tables)
	{
		MapTable   *t = lfirst(lc);

		if (t->paths == NIL)
			t->paths = list_make1(NIL);	/* the root */
	}

	ret = MapLatestQuery(load_columns_sql, 1, argtypes, values, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "classification lookup failed: %s", SPI_result_code_string(ret));
	MemoryContextSwitchTo(load_cxt);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			rel = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
		OidEntry   *he = hash_search(byrel, &rel, HASH_FIND, NULL);
		MapColumn  *c;

		if (he == NULL)
			continue;
		c = palloc0(sizeof(MapColumn));
		c->name = SPI_getvalue(tup, td, 2);
		c->attnum = DatumGetInt16(SPI_getbinval(tup, td, 3, &isnull));
		c->typid = DatumGetObjectId(SPI_getbinval(tup, td, 4, &isnull));
		c->category = SPI_getvalue(tup, td, 5);
		c->erasure = SPI_getvalue(tup, td, 6);
		c->portable = DatumGetBool(SPI_getbinval(tup, td, 7, &isnull));
		c->notnull = DatumGetBool(SPI_getbinval(tup, td, 8, &isnull));
		((MapTable *) he->ptr)->columns = lappend(((MapTable *) he->ptr)->columns, c);
	}
	hash_destroy(byrel);
}

/*
 * MapTableCond
 *		mt's condition on alias t over the key $1 (MapCondition), compiled
 *		on first use and kept with the subject's cache entry: only Citus's
 *		routed access reads it, so a first call of a session does not
 *		compile the conditions of every table of a large map.
 */
const char *
MapTableCond(MapSubject *subj, MapTable *mt)
{
	if (mt->cond == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(subj->cxt);

		mt->cond = MapCondition(subj, mt, "t", "$1");
		MemoryContextSwitchTo(old);
	}
	return mt->cond;
}

/*
 * load_subject
 *		Build the cache entry of a subject type in its own memory context;
 *		computes the map first when it was never computed (after a restore
 *		or an upgrade).  NULL when unknown.
 */
static MapSubject *
load_subject(const char *name)
{
	MemoryContext old;
	MemoryContext cxt;
	MapSubject *subj;
	int			ret;
	uint64		i,
				n;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	SPITupleTable *tt;
	int			nest;

	cxt = AllocSetContextCreate(map_cache_cxt, "privacy map entry", ALLOCSET_DEFAULT_SIZES);
	load_cxt = cxt;
	UtilSpiConnect();
	nest = MapJitOff();
	old = MemoryContextSwitchTo(cxt);
	subj = MapLoadSubjectRow(name, cxt);
	if (subj == NULL)
	{
		MapJitRestore(nest);
		MemoryContextSwitchTo(old);
		SPI_finish();
		MemoryContextDelete(cxt);
		load_cxt = NULL;
		return NULL;
	}
	subj->cxt = cxt;
	values[0] = CStringGetTextDatum(name);
	ret = MapLatestQuery(load_tables_sql, 1, argtypes, values, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "map lookup failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		/* never computed (a restored dump): compute it now */
		MapJitRestore(nest);
		MemoryContextSwitchTo(old);
		SPI_finish();
		MemoryContextDelete(cxt);
		load_cxt = NULL;
		MapRefresh(name);
		map_cache_stale = false;
		return load_subject(name);
	}
	tt = SPI_tuptable;
	n = SPI_processed;
	MemoryContextSwitchTo(cxt);
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = tt->vals[i];
		TupleDesc	td = tt->tupdesc;
		bool		isnull;
		MapTable   *mt = palloc0(sizeof(MapTable));

		mt->relid = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
		mt->via = SPI_getvalue(tup, td, 2);
		mt->depth = DatumGetInt32(SPI_getbinval(tup, td, 3, &isnull));
		mt->outbound = DatumGetBool(SPI_getbinval(tup, td, 4, &isnull));
		mt->anonymize = DatumGetBool(SPI_getbinval(tup, td, 5, &isnull));
		if (get_rel_relkind(mt->relid) == '\0')
			continue;			/* dropped since; the event trigger cleans up */
		mt->label = UtilQualifiedName(mt->relid);
		mt->qualname = UtilFromName(mt->relid);
		mt->jsonkey = mt->label;
		mt->partitioned = MapIsPartitioned(mt->relid);
		subj->tables = lappend(subj->tables, mt);
	}
	MapBuildTableIndex(subj);
	load_tables(subj);
	/* (each table's MapCondition is compiled when first asked for) */
	MapCallPrepareSubject(subj);
	MapJitRestore(nest);
	MemoryContextSwitchTo(old);
	SPI_finish();
	return subj;
}

/*
 * MapGetSubject
 *		The compiled map of a subject type, from the per-backend cache,
 *		pinned until the end of the transaction; 42704 when the subject
 *		type does not exist.
 */
MapSubject *
MapGetSubject(const char *name)
{
	ListCell   *lc;
	MapSubject *subj = NULL;

	if (!map_callback_registered)
	{
		CacheRegisterRelcacheCallback(map_relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, map_namespace_callback, (Datum) 0);
		RegisterXactCallback(map_xact_callback, NULL);
		map_callback_registered = true;
	}
	if (map_cache_cxt == NULL)
		map_cache_cxt = AllocSetContextCreate(TopMemoryContext, "privacy map cache",
											  ALLOCSET_DEFAULT_SIZES);
	{
		Oid			current = UtilCatalogRelid("map");

		/* a re-created extension: everything cached is stale */
		if (current != map_relid)
			map_cache_stale = true;
		map_relid = current;
	}
	if (map_cache_stale || map_dead != NIL)
	{
		if (map_cache_stale)
			free_cache();
		else
		{
			/* free the dead entries no transaction pins any more */
			MemoryContext old = MemoryContextSwitchTo(map_cache_cxt);
			List	   *keep = free_unpinned();

			list_free(map_dead);
			map_dead = keep;
			MemoryContextSwitchTo(old);
		}
	}
	foreach(lc, map_cache)
	{
		MapSubject *s = lfirst(lc);

		if (strcmp(s->name, name) == 0)
		{
			s->pins++;
			return s;
		}
	}
	PG_TRY();
	{
		subj = load_subject(name);
	}
	PG_CATCH();
	{
		/* a half-built entry stays out of the cache */
		if (load_cxt && MemoryContextIsValid(load_cxt))
			MemoryContextDelete(load_cxt);
		load_cxt = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();
	load_cxt = NULL;
	if (subj == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subject type \"%s\" does not exist", name),
				 errhint("Define it with privacy.define_subject()."),
				 errhidestmt(true), errhidecontext(true)));
	{
		MemoryContext old = MemoryContextSwitchTo(map_cache_cxt);

		map_cache = lappend(map_cache, subj);
		MemoryContextSwitchTo(old);
	}
	subj->pins++;
	return subj;
}

/*
 * MapLockTables
 *		Lock every table of the subject's map in mode (the lock its
 *		statements take anyway) before anything of the map is used.  A
 *		migration that holds one of them (a new foreign key or action, a
 *		renamed column, a new table referencing one) commits first, and the
 *		call then sees what it changed: the map, loaded again when it
 *		changed meanwhile (and its new tables locked too), and the foreign
 *		keys.  Without this, an erasure planned before the wait acted after
 *		it on the old plan: a new ON DELETE CASCADE removed a row it meant to
 *		keep.  Returns the subject, possibly a new entry.
 */
MapSubject *
MapLockTables(MapSubject *subj, LOCKMODE mode)
{
	for (;;)
	{
		ListCell   *lc;
		MapSubject *now;

		foreach(lc, subj->tables)
			LockRelationOid(((MapTable *) lfirst(lc))->relid, mode);
		now = MapGetSubject(subj->name);
		if (now == subj)
			return subj;
		subj = now;
	}
}

/*
 * MapLockErasures
 *		The subject type's map lock: a transaction advisory lock on
 *		(hashtext('privacy.map'), KeysLockKey(name)), shared by an erasure
 *		(MapLockForErasure) from before it reads the map to the end of its
 *		transaction, exclusive by every change of the map (MapRefresh: link,
 *		unlink, refresh_subject, define_subject, the DDL event trigger;
 *		privacy._lock_maps(): classify, declassify, set_erasure_mode).  A map
 *		change waits for the erasures running, an erasure for the map change
 *		running.  The invalidations pending once it is held are read, so a
 *		change committed while it waited is seen by the next MapGetSubject.
 */
void
MapLockErasures(const char *name, bool exclusive)
{
	Datum		k1 = DirectFunctionCall1Coll(hashtext, C_COLLATION_OID, CStringGetTextDatum("privacy.map"));
	/* keyed (KeysLockKey): a role that may take any advisory lock cannot
	 * compute it to hold erasures off */
	Datum		k2 = Int32GetDatum(KeysLockKey(name, strlen(name)));

	if (exclusive)
		DirectFunctionCall2(pg_advisory_xact_lock_int4, k1, k2);
	else
		DirectFunctionCall2(pg_advisory_xact_lock_shared_int4, k1, k2);
	AcceptInvalidationMessages();
}

/*
 * MapLockForErasure
 *		MapLockTables, then the subject type's map lock in shared mode, then
 *		the tables of the map as it is once that is held.  The tables come
 *		first: a DDL statement on a mapped table, which takes the map lock
 *		exclusively at its end (event trigger), holds its table from its
 *		start, so the erasure waits for it before it holds the map lock
 *		(in the other order the two deadlocked).  Before, an erasure read
 *		the map while a link(), a classify() or an unlink() was uncommitted,
 *		waited for the audit chain's head that it held, and committed after
 *		it on the old map: a newly linked table's rows, a newly classified
 *		column, were left behind (test/isolation/specs/erase_map_change).
 */
MapSubject *
MapLockForErasure(MapSubject *subj, LOCKMODE mode)
{
	subj = MapLockTables(subj, mode);
	MapLockErasures(subj->name, false);
	return MapLockTables(subj, mode);
}

/*
 * MapFindTable
 *		The mapped table relid of a subject, or NULL.
 */
MapTable *
MapFindTable(MapSubject *subj, Oid relid)
{
	ListCell   *lc;

	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);

		if (mt->relid == relid)
			return mt;
	}
	return NULL;
}

/*
 * MapSubjectsOfTable
 *		Names of the subject types whose map contains relid.  A subject type
 *		whose map was never computed (a restored dump: privacy.map is not
 *		dumped) is computed first: retention's hold filter depends on this
 *		answer, and an empty map would say that no subject's rows are there.
 */
/* the first column of sql's rows (SPI connected; not read-only: a map computed
 * just before, in this command, must be seen), as strings allocated in cxt */
static List *
subject_names(const char *sql, int nargs, Oid *argtypes, Datum *values, MemoryContext cxt)
{
	int			ret = SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 0);
	List	   *names = NIL;
	uint64		i;

	if (ret != SPI_OK_SELECT)
		elog(ERROR, "map lookup failed: %s", SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		MemoryContextSwitchTo(old);
	}
	return names;
}

List *
MapSubjectsOfTable(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	List	   *result;
	List	   *missing = NIL;
	ListCell   *lc;
	MemoryContext outer = CurrentMemoryContext;

	UtilSpiConnect();
	/* (not in a read-only transaction, which could not store it) */
	if (!RecoveryInProgress() && !XactReadOnly)
		missing = subject_names("SELECT s.name FROM privacy.subject_types s WHERE NOT EXISTS "
								"(SELECT FROM privacy.map m WHERE m.subject OPERATOR(pg_catalog.=) s.name)"
								/* a dropped root keeps its records, not a map: not this table's */
								" AND EXISTS (SELECT FROM pg_catalog.pg_attribute a"
								" WHERE a.attrelid OPERATOR(pg_catalog.=) s.root::pg_catalog.oid"
								" AND a.attname OPERATOR(pg_catalog.=) s.key_column AND NOT a.attisdropped)",
								0, NULL, NULL, outer);
	SPI_finish();
	foreach(lc, missing)
		(void) MapGetSubject(lfirst(lc));	/* computes and stores the map */
	values[0] = ObjectIdGetDatum(relid);
	UtilSpiConnect();
	result = subject_names("SELECT DISTINCT subject FROM privacy.map"
						   " WHERE table_name OPERATOR(pg_catalog.=) $1 ORDER BY 1",
						   1, argtypes, values, outer);
	SPI_finish();
	return result;
}

/*
 * root_spelling
 *		The text of the root row's key equal to key (a key whose equal values
 *		may be spelled otherwise: MapKeyTextNotCanonical), or given when no
 *		row has it.  Runs in the caller's frame, as the root's owner (the
 *		type's equality may be user code).
 */
static char *
root_spelling(MapSubject *subj, Datum key, char *given)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			argtypes[1];
	Datum		values[1];
	char	   *result = given;
	int			ret;

	argtypes[0] = subj->key_type;
	values[0] = key;
	UtilSpiConnect();
	ret = SPI_execute_with_args(psprintf("SELECT CAST(r.%s AS pg_catalog.text) FROM %s r"
										 " WHERE r.%s %s $1 LIMIT 1",
										 quote_identifier(subj->key_column),
										 UtilFromName(subj->root),
										 quote_identifier(subj->key_column), subj->key_eq),
								1, argtypes, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "subject key lookup failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			result = MemoryContextStrdup(cxt, v);
	}
	SPI_finish();
	return result;
}

/*
 * MapParseId
 *		Convert a subject id given as text to the root key's type.  A value
 *		that does not parse is 22P02; the message never repeats the value.
 *		canonical (if not NULL) receives the type's output text (the root
 *		row's, for a key whose equal values may be spelled otherwise).
 */
Datum
MapParseId(MapSubject *subj, const char *id, char **canonical)
{
	Oid			typinput,
				typioparam,
				typoutput;
	bool		isvarlena;
	Datum		d = (Datum) 0;
	MemoryContext cxt = CurrentMemoryContext;
	int			frame;

	getTypeInputInfo(subj->key_type, &typinput, &typioparam);
	/* the key type's input (a domain's CHECK) is user code: its owner's */
	frame = GuardEnterTableOwner(subj->root);
	PG_TRY();
	{
		d = OidInputFunctionCall(typinput, (char *) id, typioparam, subj->key_typmod);
	}
	PG_CATCH();
	{
		/* re-raised at once: the transaction aborts, nothing continues */
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		GuardLeave(frame);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid id for subject type \"%s\"", subj->name),
				 errdetail("The id must be a valid value of type %s.",
						   format_type_be(subj->key_type)),
				 errhidestmt(true)));
	}
	PG_END_TRY();
	/* one numeric key, one spelling: 1, 1.0 and 1.00 are one subject */
	if (getBaseType(subj->key_type) == NUMERICOID)
		d = DirectFunctionCall1(numeric_trim_scale, d);
	if (canonical)
	{
		getTypeOutputInfo(subj->key_type, &typoutput, &isvarlena);
		*canonical = OidOutputFunctionCall(typoutput, d);
		if (subj->key_via_root)
			*canonical = root_spelling(subj, d, *canonical);
	}
	GuardLeave(frame);
	return d;
}

/*
 * MapCanonText
 *		SQL: the canonical text of a key expression of the subject's key
 *		type, as MapParseId writes an id's (holds, restrictions, consents
 *		and subject_ref are keyed by it): its text, a numeric key's without
 *		trailing zeros.
 */
char *
MapCanonText(MapSubject *subj, const char *expr)
{
	if (getBaseType(subj->key_type) == NUMERICOID)
		return psprintf("CAST(pg_catalog.trim_scale(CAST((%s) AS pg_catalog.numeric)) AS pg_catalog.text)", expr);
	return psprintf("CAST((%s) AS pg_catalog.text)", expr);
}

/*
 * MapSubjectArg
 *		Resolve the subject type (argument subjarg) and id (idarg) of a
 *		rights call: NULL 22023, unknown type 42704, bad id 22P02.
 */
#define MAP_MAX_ID_BYTES 2000

SubjectArg
MapSubjectArg(FunctionCallInfo fcinfo, int subjarg, int idarg)
{
	SubjectArg	a;
	char	   *name = UtilTextArg(fcinfo, subjarg, "subject");
	char	   *id = UtilTextArg(fcinfo, idarg, "id");

	a.subj = MapGetSubject(name);
	a.key = MapParseId(a.subj, id, &a.canon);
	/*
	 * holds, restrictions and consents index the id: a key longer than an
	 * index entry can hold would fail there (54000) after the checks
	 */
	if (strlen(a.canon) > MAP_MAX_ID_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the id is longer than %d bytes", MAP_MAX_ID_BYTES),
				 errhint("Subject ids are keys: identify the subject by a shorter key.")));
	a.ref = UtilSubjectRef(name, a.canon);
	return a;
}
