/*-------------------------------------------------------------------------
 * map.c
 *		The data map: which tables hold a subject's rows, and how each one
 *		joins to the subject's root row.
 *
 * define_subject / link / refresh_subject (and the DDL event trigger) walk
 * pg_constraint from the root: inbound foreign keys at any depth (children,
 * grandchildren...), from the root and from linked tables, plus outbound
 * foreign keys from mapped rows into tables that hold classified columns.
 * Partitions collapse to their partitioned parent (foreign keys declared on
 * partitions count).  Every simple path is kept (a table with two foreign
 * keys to the root belongs to the subject through either), up to
 * MAP_MAX_PATHS per table and MAP_MAX_DEPTH hops; cycles and
 * self-references end a path.  The result goes to privacy.map as
 * (table oid, attnum) hops, so renames do not invalidate it.
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

#include "access/htup_details.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "inttypes.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "citus.h"
#include "guard.h"
#include "privacy.h"

#define MAP_MAX_DEPTH 32
#define MAP_MAX_PATHS 8
#define MAP_MAX_EXPANSIONS 20000

PG_FUNCTION_INFO_V1(privacy_define_subject);
PG_FUNCTION_INFO_V1(privacy_link);
PG_FUNCTION_INFO_V1(privacy_refresh_subject);
PG_FUNCTION_INFO_V1(privacy_refresh_all);
PG_FUNCTION_INFO_V1(privacy_data_map);
PG_FUNCTION_INFO_V1(privacy_invalidate);

/* per-backend cache of compiled subjects */
static MemoryContext map_cache_cxt = NULL;
static List *map_cache = NIL;	/* MapSubject * */
static bool map_cache_stale = false;
static bool map_callback_registered = false;
static Oid	map_relid = InvalidOid;

/* a table found by the walk */
typedef struct WalkEntry
{
	Oid			relid;
	const char *via;
	bool		outbound;
	List	   *paths;			/* List of List of MapHop * */
} WalkEntry;

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
 * free_cache
 *		Drop every compiled subject and its SPI plans.
 */
static void
free_cache(void)
{
	ListCell   *lc,
			   *lc2;

	foreach(lc, map_cache)
	{
		MapSubject *s = lfirst(lc);

		if (s->plan_status)
			SPI_freeplan(s->plan_status);
		if (s->plan_request)
			SPI_freeplan(s->plan_request);
		if (s->plan_canon)
			SPI_freeplan(s->plan_canon);
		foreach(lc2, s->tables)
		{
			MapTable   *t = lfirst(lc2);

			if (t->plan_access)
				SPI_freeplan(t->plan_access);
			if (t->plan_export)
				SPI_freeplan(t->plan_export);
			if (t->plan_extra)
				SPI_freeplan(t->plan_extra);
		}
	}
	map_cache = NIL;
	if (map_cache_cxt)
		MemoryContextReset(map_cache_cxt);
	map_cache_stale = false;
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

/*
 * privacy._invalidate() — called by the SQL configuration functions.
 */
Datum
privacy_invalidate(PG_FUNCTION_ARGS)
{
	MapInvalidate();
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * Small catalog helpers
 * ------------------------------------------------------------------------
 */

static char *
col_name(Oid relid, AttrNumber attnum)
{
	char	   *n = get_attname(relid, attnum, true);

	if (n == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column %d of relation with OID %u does not exist", attnum, relid),
				 errhint("Run privacy.refresh_subject() after changing the schema.")));
	return n;
}

/* "alias"."c1", "alias"."c2" */
static void
append_cols(StringInfo buf, const char *alias, Oid relid, const AttrNumber *cols, int ncols)
{
	int			i;

	for (i = 0; i < ncols; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		appendStringInfo(buf, "%s.%s", alias, quote_identifier(col_name(relid, cols[i])));
	}
}

/* human-readable column list "c1, c2" */
static char *
cols_text(Oid relid, const AttrNumber *cols, int ncols)
{
	StringInfoData b;
	int			i;

	initStringInfo(&b);
	for (i = 0; i < ncols; i++)
	{
		if (i > 0)
			appendStringInfoString(&b, ", ");
		appendStringInfoString(&b, col_name(relid, cols[i]));
	}
	return b.data;
}

static bool
is_partitioned(Oid relid)
{
	return get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE;
}

/*
 * check_table
 *		relid must be an existing ordinary or partitioned table, not a
 *		partition (partitions are mapped under their parent).
 */
static void
check_table(Oid relid, const char *argname)
{
	char		kind = get_rel_relkind(relid);

	if (kind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a table", get_rel_name(relid)),
				 errdetail("Argument \"%s\" must be an ordinary or partitioned table.", argname)));
	if (get_rel_relispartition(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is a partition", get_rel_name(relid)),
				 errhint("Name the partitioned table; its partitions are mapped with it.")));
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is a temporary table", get_rel_name(relid))));
	{
		Oid			nsp = get_rel_namespace(relid);
		char	   *nspname = get_namespace_name(nsp);

		if (IsCatalogNamespace(nsp) || IsToastNamespace(nsp) ||
			strcmp(nspname, "information_schema") == 0 || strcmp(nspname, "privacy") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" is a system table", get_rel_name(relid)),
					 errdetail("Tables of schema %s cannot be mapped.", nspname)));
	}
}

/* ------------------------------------------------------------------------
 * Compiling conditions
 * ------------------------------------------------------------------------
 */

/*
 * hop_is_shortcut
 *		The last hop references exactly the root's key column: the row's own
 *		column can be compared with the key, no join to the root needed.
 */
static bool
hop_is_shortcut(MapSubject *subj, List *path, int idx)
{
	MapHop	   *h = list_nth(path, idx);

	return !h->link && idx == list_length(path) - 1 && h->prel == subj->root &&
		h->ncols == 1 && h->pcols[0] == subj->key_attnum;
}

/*
 * append_cond
 *		Condition "row alias reaches the subject keyexpr along path[idx..]".
 */
static void
append_cond(StringInfo buf, MapSubject *subj, List *path, int idx,
			const char *alias, const char *keyexpr, int *aliasno)
{
	MapHop	   *h;
	char		next[32];

	if (idx >= list_length(path))
	{
		appendStringInfo(buf, "%s.%s OPERATOR(pg_catalog.=) (%s)", alias,
						 quote_identifier(subj->key_column), keyexpr);
		return;
	}
	h = list_nth(path, idx);
	if (h->link)
	{
		Oid			typid;
		int32		typmod;
		Oid			collid;

		get_atttypetypmodcoll(h->rel, h->cols[0], &typid, &typmod, &collid);
		appendStringInfo(buf, "%s.%s = CAST((%s) AS %s)", alias,
						 quote_identifier(col_name(h->rel, h->cols[0])), keyexpr,
						 format_type_with_typemod(typid, typmod));
		return;
	}
	if (hop_is_shortcut(subj, path, idx))
	{
		appendStringInfo(buf, "%s.%s = (%s)", alias,
						 quote_identifier(col_name(h->rel, h->cols[0])), keyexpr);
		return;
	}
	snprintf(next, sizeof(next), "p%d", ++(*aliasno));
	appendStringInfoChar(buf, '(');
	append_cols(buf, alias, h->rel, h->cols, h->ncols);
	appendStringInfoString(buf, ") IN (SELECT ");
	append_cols(buf, next, h->prel, h->pcols, h->ncols);
	appendStringInfo(buf, " FROM %s %s WHERE ", UtilQualifiedName(h->prel), next);
	append_cond(buf, subj, path, idx + 1, next, keyexpr, aliasno);
	appendStringInfoChar(buf, ')');
}

/*
 * MapCondition
 *		SQL condition: row alias of mt belongs to the subject whose root key
 *		is keyexpr (an expression of the root key's type).  Several paths:
 *		plain ORs when every path is a direct column comparison (bitmap-OR
 *		of index scans), otherwise a TID list built from one sub-select per
 *		path, so each path keeps its own index plan.
 */
static char *map_condition(MapSubject *subj, MapTable *mt, const char *alias, const char *keyexpr);

char *
MapCondition(MapSubject *subj, MapTable *mt, const char *alias, const char *keyexpr)
{
	/* CITUS HOOK (src/citus.c): routed to the subject's shard group */
	return CitusRouteCondition(subj, mt, alias, keyexpr, map_condition(subj, mt, alias, keyexpr));
}

static char *
map_condition(MapSubject *subj, MapTable *mt, const char *alias, const char *keyexpr)
{
	StringInfoData buf;
	ListCell   *lc;
	int			aliasno = 0;
	bool		simple = true;
	bool		first = true;

	initStringInfo(&buf);
	if (list_length(mt->paths) == 1)
	{
		append_cond(&buf, subj, linitial(mt->paths), 0, alias, keyexpr, &aliasno);
		return buf.data;
	}
	foreach(lc, mt->paths)
	{
		List	   *path = lfirst(lc);

		if (list_length(path) > 1 ||
			(list_length(path) == 1 && !((MapHop *) linitial(path))->link &&
			 !hop_is_shortcut(subj, path, 0)))
			simple = false;
	}
	/* CITUS HOOK: never ctid row identity on a table with shards */
	if (simple || mt->partitioned || CitusIsCitusTable(mt->relid))
	{
		appendStringInfoChar(&buf, '(');
		foreach(lc, mt->paths)
		{
			if (!first)
				appendStringInfoString(&buf, " OR ");
			first = false;
			appendStringInfoChar(&buf, '(');
			append_cond(&buf, subj, lfirst(lc), 0, alias, keyexpr, &aliasno);
			appendStringInfoChar(&buf, ')');
		}
		appendStringInfoChar(&buf, ')');
		return buf.data;
	}
	appendStringInfo(&buf, "%s.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(", alias);
	foreach(lc, mt->paths)
	{
		char		x[32];

		snprintf(x, sizeof(x), "x%d", ++aliasno);
		if (!first)
			appendStringInfoString(&buf, " UNION ");
		first = false;
		appendStringInfo(&buf, "SELECT %s.ctid FROM %s %s WHERE ", x, mt->qualname, x);
		append_cond(&buf, subj, lfirst(lc), 0, x, keyexpr, &aliasno);
	}
	appendStringInfoString(&buf, "))");
	return buf.data;
}

/*
 * append_keyexpr
 *		Scalar expression: the root key reached from row alias along
 *		path[idx..].
 */
static void
append_keyexpr(StringInfo buf, MapSubject *subj, List *path, int idx,
			   const char *alias, int *aliasno)
{
	MapHop	   *h;
	char		next[32];
	int			i;

	if (idx >= list_length(path))
	{
		appendStringInfo(buf, "%s.%s", alias, quote_identifier(subj->key_column));
		return;
	}
	h = list_nth(path, idx);
	if (h->link || hop_is_shortcut(subj, path, idx))
	{
		appendStringInfo(buf, "%s.%s", alias, quote_identifier(col_name(h->rel, h->cols[0])));
		return;
	}
	snprintf(next, sizeof(next), "k%d", ++(*aliasno));
	appendStringInfoString(buf, "(SELECT ");
	append_keyexpr(buf, subj, path, idx + 1, next, aliasno);
	appendStringInfo(buf, " FROM %s %s WHERE ", UtilQualifiedName(h->prel), next);
	for (i = 0; i < h->ncols; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, " AND ");
		appendStringInfo(buf, "%s.%s = %s.%s", next,
						 quote_identifier(col_name(h->prel, h->pcols[i])), alias,
						 quote_identifier(col_name(h->rel, h->cols[i])));
	}
	appendStringInfoString(buf, " LIMIT 1)");
}

/*
 * MapKeyExprs
 *		One SQL expression per path giving the root key (as the root key's
 *		type) of row alias of mt.
 */
List *
MapKeyExprs(MapSubject *subj, MapTable *mt, const char *alias)
{
	List	   *result = NIL;
	ListCell   *lc;
	int			aliasno = 0;

	foreach(lc, mt->paths)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfoString(&buf, "CAST((");
		append_keyexpr(&buf, subj, lfirst(lc), 0, alias, &aliasno);
		appendStringInfo(&buf, ") AS %s)",
						 format_type_with_typemod(subj->key_type, subj->key_typmod));
		result = lappend(result, buf.data);
	}
	return result;
}

/* ------------------------------------------------------------------------
 * The walk
 * ------------------------------------------------------------------------
 */

static WalkEntry *
find_entry(List *entries, Oid relid)
{
	ListCell   *lc;

	foreach(lc, entries)
	{
		WalkEntry  *e = lfirst(lc);

		if (e->relid == relid)
			return e;
	}
	return NULL;
}

static bool
path_has(List *path, Oid relid, Oid root)
{
	ListCell   *lc;

	if (relid == root)
		return true;
	foreach(lc, path)
	{
		MapHop	   *h = lfirst(lc);

		if (h->rel == relid || h->prel == relid)
			return true;
	}
	return false;
}

/* copy int2[] datum into an AttrNumber array; returns the count */
static int
int2_array(Datum d, AttrNumber *out)
{
	ArrayType  *arr = DatumGetArrayTypeP(d);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	deconstruct_array(arr, INT2OID, 2, true, TYPALIGN_SHORT, &elems, &nulls, &n);
	if (n > 32)
		n = 32;
	for (i = 0; i < n; i++)
		out[i] = nulls[i] ? 0 : DatumGetInt16(elems[i]);
	return n;
}

/*
 * Foreign keys into (inbound) or out of (outbound) a table, with
 * partitions collapsed to their topmost parent and column numbers
 * translated to that parent by name.  $1 = the (collapsed) table.
 */
static const char *fk_inbound_sql =
"SELECT r.other, r.ocols, r.mcols, r.confdeltype FROM ("
" SELECT coalesce(pg_catalog.pg_partition_root(c.conrelid), c.conrelid) AS other,"
"  ARRAY(SELECT ra.attnum FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(n, o)"
"   JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n"
"   JOIN pg_catalog.pg_attribute ra ON ra.attrelid = coalesce(pg_catalog.pg_partition_root(c.conrelid), c.conrelid)"
"    AND ra.attname = a.attname ORDER BY k.o) AS ocols,"
"  ARRAY(SELECT ra.attnum FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY k(n, o)"
"   JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n"
"   JOIN pg_catalog.pg_attribute ra ON ra.attrelid = $1 AND ra.attname = a.attname ORDER BY k.o) AS mcols,"
"  c.conname, c.confdeltype"
" FROM pg_catalog.pg_constraint c"
" WHERE c.contype = 'f' AND c.conparentid = 0"
"  AND (c.confrelid = $1 OR c.confrelid IN (SELECT t.relid FROM pg_catalog.pg_partition_tree($1) t))"
"  AND (SELECT k.relpersistence FROM pg_catalog.pg_class k WHERE k.oid = c.conrelid) <> 't'"
") r ORDER BY r.other, r.conname";

static const char *fk_outbound_sql =
"SELECT r.other, r.ocols, r.mcols FROM ("
" SELECT coalesce(pg_catalog.pg_partition_root(c.confrelid), c.confrelid) AS other,"
"  ARRAY(SELECT ra.attnum FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY k(n, o)"
"   JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n"
"   JOIN pg_catalog.pg_attribute ra ON ra.attrelid = coalesce(pg_catalog.pg_partition_root(c.confrelid), c.confrelid)"
"    AND ra.attname = a.attname ORDER BY k.o) AS ocols,"
"  ARRAY(SELECT ra.attnum FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(n, o)"
"   JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n"
"   JOIN pg_catalog.pg_attribute ra ON ra.attrelid = $1 AND ra.attname = a.attname ORDER BY k.o) AS mcols,"
"  c.conname"
" FROM pg_catalog.pg_constraint c"
" WHERE c.contype = 'f' AND c.conparentid = 0"
"  AND (c.conrelid = $1 OR c.conrelid IN (SELECT t.relid FROM pg_catalog.pg_partition_tree($1) t))"
"  AND (SELECT k.relpersistence FROM pg_catalog.pg_class k WHERE k.oid = c.confrelid) <> 't'"
"  AND EXISTS (SELECT 1 FROM privacy.classifications cl"
"   WHERE cl.table_name = coalesce(pg_catalog.pg_partition_root(c.confrelid), c.confrelid))"
") r ORDER BY r.other, r.conname";

/*
 * fk_hops
 *		The foreign-key hops into (inbound) or out of (outbound) relid.
 *		Inbound hop: rel = referencing table; outbound hop: rel = the
 *		referenced table.  Either way prel = relid.
 */
static List *
fk_hops(Oid relid, bool outbound)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	int			ret;
	uint64		i;
	List	   *hops = NIL;

	values[0] = ObjectIdGetDatum(relid);
	ret = SPI_execute_with_args(outbound ? fk_outbound_sql : fk_inbound_sql,
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "foreign key lookup failed: %d", ret);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		MapHop	   *h = palloc0(sizeof(MapHop));
		int			n1,
					n2;

		h->rel = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
		h->prel = relid;
		n1 = int2_array(SPI_getbinval(tup, td, 2, &isnull), h->cols);
		n2 = int2_array(SPI_getbinval(tup, td, 3, &isnull), h->pcols);
		if (n1 != n2 || n1 == 0)
			continue;			/* a column could not be translated */
		h->ncols = n1;
		if (!outbound)
			h->deltype = DatumGetChar(SPI_getbinval(tup, td, 4, &isnull));
		hops = lappend(hops, h);
	}
	return hops;
}

/*
 * MapForeignKeysInto
 *		Every foreign key into relid, partitions collapsed, with its ON
 *		DELETE action; allocated in the caller's context.
 */
List *
MapForeignKeysInto(Oid relid)
{
	List	   *hops;
	List	   *result = NIL;
	ListCell   *lc;
	MemoryContext outer = CurrentMemoryContext;

	UtilSpiConnect();
	hops = fk_hops(relid, false);
	MemoryContextSwitchTo(outer);
	foreach(lc, hops)
	{
		MapHop	   *h = palloc(sizeof(MapHop));

		memcpy(h, lfirst(lc), sizeof(MapHop));
		result = lappend(result, h);
	}
	SPI_finish();
	return result;
}

static void
add_path(List **entries, Oid relid, const char *via, bool outbound, List *path, bool *capped)
{
	WalkEntry  *e = find_entry(*entries, relid);

	if (e == NULL)
	{
		e = palloc0(sizeof(WalkEntry));
		e->relid = relid;
		e->via = via;
		e->outbound = outbound;
		*entries = lappend(*entries, e);
	}
	if (list_length(e->paths) >= MAP_MAX_PATHS)
	{
		*capped = true;
		return;
	}
	e->paths = lappend(e->paths, path);
}

typedef struct WalkItem
{
	Oid			relid;
	List	   *path;
} WalkItem;

/*
 * walk
 *		Breadth-first over simple paths from the root and the linked tables.
 *		Runs inside SPI.
 */
static List *
walk(MapSubject *subj, List *links)
{
	List	   *entries = NIL;
	List	   *queue = NIL;
	ListCell   *lc;
	int			expansions = 0;
	bool		capped = false;
	WalkItem   *it;
	List	   *mapped;

	add_path(&entries, subj->root, "root", false, NIL, &capped);
	it = palloc(sizeof(WalkItem));
	it->relid = subj->root;
	it->path = NIL;
	queue = lappend(queue, it);
	foreach(lc, links)
	{
		MapHop	   *h = lfirst(lc);
		List	   *p = list_make1(h);

		add_path(&entries, h->rel, "link", false, p, &capped);
		it = palloc(sizeof(WalkItem));
		it->relid = h->rel;
		it->path = p;
		queue = lappend(queue, it);
	}

	while (queue != NIL)
	{
		List	   *hops;
		ListCell   *hc;

		it = linitial(queue);
		queue = list_delete_first(queue);
		CHECK_FOR_INTERRUPTS();
		if (++expansions > MAP_MAX_EXPANSIONS)
		{
			capped = true;
			break;
		}
		if (list_length(it->path) >= MAP_MAX_DEPTH)
		{
			capped = true;
			continue;
		}
		hops = fk_hops(it->relid, false);
		foreach(hc, hops)
		{
			MapHop	   *h = lfirst(hc);
			List	   *np;
			WalkEntry  *e;
			WalkItem   *ni;

			if (path_has(it->path, h->rel, subj->root) || h->rel == it->relid)
				continue;		/* cycle or self-reference */
			e = find_entry(entries, h->rel);
			if (e && (strcmp(e->via, "root") == 0))
				continue;
			if (e && list_length(e->paths) >= MAP_MAX_PATHS)
			{
				capped = true;
				continue;
			}
			np = lcons(h, list_copy(it->path));
			add_path(&entries, h->rel, e ? e->via : "fk", false, np, &capped);
			ni = palloc(sizeof(WalkItem));
			ni->relid = h->rel;
			ni->path = np;
			queue = lappend(queue, ni);
		}
	}

	/* outbound: tables with classified columns that mapped rows point to */
	mapped = list_copy(entries);
	foreach(lc, mapped)
	{
		WalkEntry  *m = lfirst(lc);
		List	   *hops = fk_hops(m->relid, true);
		ListCell   *hc;

		foreach(hc, hops)
		{
			MapHop	   *h = lfirst(hc);
			WalkEntry  *e = find_entry(entries, h->rel);
			ListCell   *pc;

			if (e && !e->outbound)
				continue;		/* already mapped as a referencing table */
			foreach(pc, m->paths)
			{
				List	   *mp = lfirst(pc);

				if (path_has(mp, h->rel, subj->root))
					continue;
				add_path(&entries, h->rel, "fk", true, lcons(h, list_copy(mp)), &capped);
			}
		}
	}

	if (capped)
		ereport(NOTICE,
				(errmsg("the data map of subject type \"%s\" was cut short", subj->name),
				 errdetail("At most %d paths per table and %d hops per path are followed.",
						   MAP_MAX_PATHS, MAP_MAX_DEPTH)));
	return entries;
}

/* JSON of the paths of an entry */
static char *
paths_json(List *paths)
{
	StringInfoData b;
	ListCell   *lc,
			   *hc;
	int			i;
	bool		firstp = true;

	initStringInfo(&b);
	appendStringInfoChar(&b, '[');
	foreach(lc, paths)
	{
		bool		firsth = true;

		if (!firstp)
			appendStringInfoChar(&b, ',');
		firstp = false;
		appendStringInfoChar(&b, '[');
		foreach(hc, (List *) lfirst(lc))
		{
			MapHop	   *h = lfirst(hc);

			if (!firsth)
				appendStringInfoChar(&b, ',');
			firsth = false;
			appendStringInfo(&b, "{\"t\":%u,\"p\":%u,\"link\":%s,\"c\":[", h->rel, h->prel,
							 h->link ? "true" : "false");
			for (i = 0; i < h->ncols; i++)
				appendStringInfo(&b, "%s%d", i ? "," : "", h->cols[i]);
			appendStringInfoString(&b, "],\"pc\":[");
			for (i = 0; i < (h->link ? 0 : h->ncols); i++)
				appendStringInfo(&b, "%s%d", i ? "," : "", h->pcols[i]);
			appendStringInfoString(&b, "]}");
		}
		appendStringInfoChar(&b, ']');
	}
	appendStringInfoChar(&b, ']');
	return b.data;
}

/* readable text of one path: t(c) -> p(pc) -> ... */
static char *
path_text(MapSubject *subj, Oid relid, List *path)
{
	StringInfoData b;
	ListCell   *hc;

	initStringInfo(&b);
	if (path == NIL)
	{
		appendStringInfo(&b, "%s(%s)", UtilQualifiedName(relid), subj->key_column);
		return b.data;
	}
	foreach(hc, path)
	{
		MapHop	   *h = lfirst(hc);

		if (h->link)
		{
			if (b.len > 0)
				appendStringInfoString(&b, " / ");
			appendStringInfo(&b, "%s(%s) = %s(%s)", UtilQualifiedName(h->rel),
							 col_name(h->rel, h->cols[0]),
							 UtilQualifiedName(subj->root), subj->key_column);
			break;
		}
		if (b.len > 0)
			appendStringInfoString(&b, " / ");
		appendStringInfo(&b, "%s(%s) -> %s(%s)", UtilQualifiedName(h->rel),
						 cols_text(h->rel, h->cols, h->ncols),
						 UtilQualifiedName(h->prel), cols_text(h->prel, h->pcols, h->ncols));
	}
	return b.data;
}

/*
 * load_subject_row
 *		Read a subject type's root and key; runs inside SPI.  Returns NULL
 *		when the subject type does not exist.
 */
static MapSubject *
load_subject_row(const char *name, MemoryContext cxt)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	int			ret;
	bool		isnull;
	MapSubject *s;
	HeapTuple	tup;
	TupleDesc	td;

	values[0] = CStringGetTextDatum(name);
	ret = SPI_execute_with_args("SELECT root::oid, key_column::text FROM privacy.subject_types WHERE name = $1",
								1, argtypes, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "subject type lookup failed: %d", ret);
	if (SPI_processed == 0)
		return NULL;
	MemoryContextSwitchTo(cxt);	/* SPI left us in its own context */
	tup = SPI_tuptable->vals[0];
	td = SPI_tuptable->tupdesc;
	s = palloc0(sizeof(MapSubject));
	s->name = pstrdup(name);
	s->root = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
	s->key_column = SPI_getvalue(tup, td, 2);
	if (get_rel_relkind(s->root) == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the root table of subject type \"%s\" no longer exists", name)));
	s->key_attnum = get_attnum(s->root, s->key_column);
	if (s->key_attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("key column \"%s\" of subject type \"%s\" no longer exists",
						s->key_column, name),
				 errhint("Define the subject type again with privacy.define_subject().")));
	{
		Oid			collid;

		get_atttypetypmodcoll(s->root, s->key_attnum, &s->key_type, &s->key_typmod, &collid);
	}
	return s;
}

/* the link hops of a subject; runs inside SPI */
static List *
load_links(MapSubject *subj)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	int			ret;
	uint64		i;
	List	   *links = NIL;

	values[0] = CStringGetTextDatum(subj->name);
	ret = SPI_execute_with_args("SELECT table_name::oid, key_column::text FROM privacy.links"
								" WHERE subject = $1 ORDER BY table_name::oid, key_column",
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "link lookup failed: %d", ret);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		MapHop	   *h = palloc0(sizeof(MapHop));
		char	   *col = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		h->rel = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		if (get_rel_relkind(h->rel) == '\0')
			continue;
		h->link = true;
		h->ncols = 1;
		h->cols[0] = get_attnum(h->rel, col);
		h->prel = subj->root;
		if (h->cols[0] == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("link column \"%s\" of table \"%s\" no longer exists",
							col, get_rel_name(h->rel))));
		links = lappend(links, h);
	}
	return links;
}

/*
 * MapRefresh
 *		Recompute the map of one subject type into privacy.map.
 */
void
MapRefresh(const char *name)
{
	MapSubject *subj;
	List	   *entries;
	ListCell   *lc;
	Oid			argtypes[7] = {TEXTOID, OIDOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, BOOLOID};
	int			ret;

	UtilSpiConnect();
	subj = load_subject_row(name, CurrentMemoryContext);
	if (subj == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subject type \"%s\" does not exist", name)));
	entries = walk(subj, load_links(subj));

	{
		Datum		v[1];
		Oid			t[1] = {TEXTOID};

		v[0] = CStringGetTextDatum(name);
		ret = SPI_execute_with_args("DELETE FROM privacy.map WHERE subject = $1", 1, t, v, NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "could not clear the map: %d", ret);
	}
	foreach(lc, entries)
	{
		WalkEntry  *e = lfirst(lc);
		Datum		values[7];
		int			depth = INT_MAX;
		List	   *best = NIL;
		ListCell   *pc;
		StringInfoData txt;

		initStringInfo(&txt);
		foreach(pc, e->paths)
		{
			List	   *p = lfirst(pc);

			if (list_length(p) < depth)
			{
				depth = list_length(p);
				best = p;
			}
		}
		appendStringInfoString(&txt, path_text(subj, e->relid, best));
		if (list_length(e->paths) > 1)
			appendStringInfo(&txt, " (+%d more path%s)", list_length(e->paths) - 1,
							 list_length(e->paths) > 2 ? "s" : "");
		values[0] = CStringGetTextDatum(name);
		values[1] = ObjectIdGetDatum(e->relid);
		values[2] = CStringGetTextDatum(e->via);
		values[3] = Int32GetDatum(depth);
		values[4] = CStringGetTextDatum(txt.data);
		values[5] = CStringGetTextDatum(paths_json(e->paths));
		values[6] = BoolGetDatum(e->outbound);
		ret = SPI_execute_with_args("INSERT INTO privacy.map (subject, table_name, via, depth, path, paths, outbound)"
									" VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)",
									7, argtypes, values, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not store the map: %d", ret);
	}
	SPI_finish();
	MapInvalidate();
}

/* ------------------------------------------------------------------------
 * Loading the cache
 * ------------------------------------------------------------------------
 */

static const char *load_tables_sql =
"SELECT m.table_name::oid, m.via, m.depth, m.outbound,"
" coalesce((SELECT tm.mode = 'anonymize' FROM privacy.table_modes tm WHERE tm.table_name = m.table_name), false)"
" FROM privacy.map m WHERE m.subject = $1"
" ORDER BY m.depth, m.via <> 'root', m.table_name::oid";

static const char *load_hops_sql =
"SELECT p.o, (h.v->>'t')::oid, (h.v->>'p')::oid, (h.v->>'link')::boolean,"
" ARRAY(SELECT pg_catalog.jsonb_array_elements_text(h.v->'c')::int2),"
" ARRAY(SELECT pg_catalog.jsonb_array_elements_text(h.v->'pc')::int2)"
" FROM privacy.map m, pg_catalog.jsonb_array_elements(m.paths) WITH ORDINALITY p(path, o),"
" pg_catalog.jsonb_array_elements(p.path) WITH ORDINALITY h(v, ho)"
" WHERE m.subject = $1 AND m.table_name = $2 ORDER BY p.o, h.ho";

static const char *load_columns_sql =
"SELECT c.column_name::text, a.attnum, a.atttypid, c.category, c.erasure, c.portable, a.attnotnull"
" FROM privacy.classifications c JOIN pg_catalog.pg_attribute a"
"  ON a.attrelid = c.table_name AND a.attname = c.column_name AND NOT a.attisdropped"
" WHERE c.table_name = $1 ORDER BY a.attnum";

/*
 * load_table
 *		Fill in the paths and classified columns of one mapped table and
 *		compile its condition.  Runs inside SPI, in the cache context.
 */
static void
load_table(MapSubject *subj, MapTable *mt)
{
	Oid			argtypes[2] = {TEXTOID, OIDOID};
	Datum		values[2];
	int			ret;
	uint64		i;
	int			curpath = -1;
	List	   *path = NIL;
	SPITupleTable *tt;
	uint64		n;

	values[0] = CStringGetTextDatum(subj->name);
	values[1] = ObjectIdGetDatum(mt->relid);
	ret = SPI_execute_with_args(load_hops_sql, 2, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "map lookup failed: %d", ret);
	tt = SPI_tuptable;
	n = SPI_processed;
	MemoryContextSwitchTo(map_cache_cxt);
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = tt->vals[i];
		TupleDesc	td = tt->tupdesc;
		bool		isnull;
		int			o = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
		MapHop	   *h = palloc0(sizeof(MapHop));

		h->rel = DatumGetObjectId(SPI_getbinval(tup, td, 2, &isnull));
		h->prel = DatumGetObjectId(SPI_getbinval(tup, td, 3, &isnull));
		h->link = DatumGetBool(SPI_getbinval(tup, td, 4, &isnull));
		h->ncols = int2_array(SPI_getbinval(tup, td, 5, &isnull), h->cols);
		(void) int2_array(SPI_getbinval(tup, td, 6, &isnull), h->pcols);
		if (o != curpath)
		{
			if (curpath != -1)
				mt->paths = lappend(mt->paths, path);
			path = NIL;
			curpath = o;
		}
		path = lappend(path, h);
	}
	if (curpath != -1)
		mt->paths = lappend(mt->paths, path);
	if (mt->paths == NIL)
		mt->paths = list_make1(NIL);	/* the root */

	values[0] = ObjectIdGetDatum(mt->relid);
	argtypes[0] = OIDOID;
	ret = SPI_execute_with_args(load_columns_sql, 1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "classification lookup failed: %d", ret);
	MemoryContextSwitchTo(map_cache_cxt);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		MapColumn  *c = palloc0(sizeof(MapColumn));

		c->name = SPI_getvalue(tup, td, 1);
		c->attnum = DatumGetInt16(SPI_getbinval(tup, td, 2, &isnull));
		c->typid = DatumGetObjectId(SPI_getbinval(tup, td, 3, &isnull));
		c->category = SPI_getvalue(tup, td, 4);
		c->erasure = SPI_getvalue(tup, td, 5);
		c->portable = DatumGetBool(SPI_getbinval(tup, td, 6, &isnull));
		c->notnull = DatumGetBool(SPI_getbinval(tup, td, 7, &isnull));
		mt->columns = lappend(mt->columns, c);
	}
	mt->cond = MapCondition(subj, mt, "t", "$1");
}

/*
 * load_subject
 *		Build the cache entry of a subject type; computes the map first when
 *		it was never computed (after a restore).  NULL when unknown.
 */
static MapSubject *
load_subject(const char *name)
{
	MemoryContext old;
	MapSubject *subj;
	int			ret;
	uint64		i,
				n;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	SPITupleTable *tt;

	UtilSpiConnect();
	old = MemoryContextSwitchTo(map_cache_cxt);
	subj = load_subject_row(name, map_cache_cxt);
	if (subj == NULL)
	{
		MemoryContextSwitchTo(old);
		SPI_finish();
		return NULL;
	}
	values[0] = CStringGetTextDatum(name);
	ret = SPI_execute_with_args(load_tables_sql, 1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "map lookup failed: %d", ret);
	if (SPI_processed == 0)
	{
		/* never computed (a restored dump): compute it now */
		MemoryContextSwitchTo(old);
		SPI_finish();
		MapRefresh(name);
		map_cache_stale = false;
		return load_subject(name);
	}
	tt = SPI_tuptable;
	n = SPI_processed;
	MemoryContextSwitchTo(map_cache_cxt);
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
		mt->qualname = UtilQualifiedName(mt->relid);
		mt->jsonkey = mt->qualname;
		mt->partitioned = is_partitioned(mt->relid);
		subj->tables = lappend(subj->tables, mt);
	}
	{
		ListCell   *lc;

		foreach(lc, subj->tables)
			load_table(subj, lfirst(lc));
	}
	MemoryContextSwitchTo(old);
	SPI_finish();
	return subj;
}

/*
 * MapGetSubject
 *		The compiled map of a subject type, from the per-backend cache;
 *		42704 when the subject type does not exist.
 */
MapSubject *
MapGetSubject(const char *name)
{
	ListCell   *lc;
	MapSubject *subj;

	if (!map_callback_registered)
	{
		CacheRegisterRelcacheCallback(map_relcache_callback, (Datum) 0);
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
	if (map_cache_stale)
		free_cache();
	foreach(lc, map_cache)
	{
		subj = lfirst(lc);
		if (strcmp(subj->name, name) == 0)
			return subj;
	}
	PG_TRY();
	{
		subj = load_subject(name);
	}
	PG_CATCH();
	{
		/* a half-built entry stays out of the cache */
		map_cache = NIL;
		MemoryContextReset(map_cache_cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
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
	return subj;
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
 *		Names of the subject types whose map contains relid.
 */
List *
MapSubjectsOfTable(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	int			ret;
	uint64		i;
	List	   *result = NIL;
	MemoryContext outer = CurrentMemoryContext;

	values[0] = ObjectIdGetDatum(relid);
	UtilSpiConnect();
	ret = SPI_execute_with_args("SELECT DISTINCT subject FROM privacy.map WHERE table_name = $1 ORDER BY 1",
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "map lookup failed: %d", ret);
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *s = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		MemoryContext old = MemoryContextSwitchTo(outer);

		result = lappend(result, pstrdup(s));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

/*
 * MapHoldFilterSQL
 *		Condition true when row alias of relid belongs to a subject under an
 *		active legal hold; NULL when relid is in no map.
 */
char *
MapHoldFilterSQL(Oid relid, const char *alias)
{
	List	   *subjects = MapSubjectsOfTable(relid);
	ListCell   *lc,
			   *kc;
	StringInfoData buf;
	bool		first = true;

	if (subjects == NIL)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	foreach(lc, subjects)
	{
		MapSubject *subj = MapGetSubject(lfirst(lc));
		MapTable   *mt = MapFindTable(subj, relid);

		if (mt == NULL)
			continue;
		foreach(kc, MapKeyExprs(subj, mt, alias))
		{
			if (!first)
				appendStringInfoString(&buf, " OR ");
			first = false;
			/*
			 * In a pseudonym scope the filter runs as the table's owner
			 * (src/guard.c): it asks privacy._held with the scope's token,
			 * the statement's parameter GUARD_SCOPE_PARAM.
			 */
			if (GuardPseudonymToken() != NULL)
				appendStringInfo(&buf, "privacy._held(%s, CAST((%s) AS pg_catalog.text), CAST(%s AS pg_catalog.text))",
								 quote_literal_cstr(subj->name), (char *) lfirst(kc), GUARD_SCOPE_PARAM);
			else
				appendStringInfo(&buf,
								 "EXISTS (SELECT 1 FROM privacy.holds h WHERE h.subject = %s"
								 " AND h.released_at IS NULL AND (h.until IS NULL OR h.until > pg_catalog.now())"
								 " AND h.subject_key = CAST((%s) AS text))",
								 quote_literal_cstr(subj->name), (char *) lfirst(kc));
		}
	}
	if (first)
		return NULL;
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * MapParseId
 *		Convert a subject id given as text to the root key's type.  A value
 *		that does not parse is 22P02; the message never repeats the value.
 *		canonical (if not NULL) receives the type's output text.
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
	if (canonical)
	{
		getTypeOutputInfo(subj->key_type, &typoutput, &isvarlena);
		*canonical = OidOutputFunctionCall(typoutput, d);
	}
	GuardLeave(frame);
	return d;
}

/*
 * MapSubjectArg
 *		Resolve the subject type (argument subjarg) and id (idarg) of a
 *		rights call: NULL 22023, unknown type 42704, bad id 22P02.
 */
SubjectArg
MapSubjectArg(FunctionCallInfo fcinfo, int subjarg, int idarg)
{
	SubjectArg	a;
	char	   *name = UtilTextArg(fcinfo, subjarg, "subject");
	char	   *id = UtilTextArg(fcinfo, idarg, "id");

	a.subj = MapGetSubject(name);
	a.key = MapParseId(a.subj, id, &a.canon);
	a.ref = UtilSubjectRef(name, a.canon);
	return a;
}

/* ------------------------------------------------------------------------
 * SQL-callable functions
 * ------------------------------------------------------------------------
 */

/*
 * privacy.define_subject(name text, root regclass, key name DEFAULT NULL)
 *		Register (or re-register) a subject type and compute its map.
 */
Datum
privacy_define_subject(PG_FUNCTION_ARGS)
{
	char	   *name = UtilTextArg(fcinfo, 0, "name");
	Oid			root;
	char	   *key = NULL;
	AttrNumber	keyatt;
	int			ret;
	Oid			argtypes[3] = {TEXTOID, OIDOID, TEXTOID};
	Datum		values[3];
	char		detail[256];

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"root\" must not be null")));
	root = PG_GETARG_OID(1);
	if (strlen(name) == 0 || strlen(name) > 63)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subject type name must have 1 to 63 characters")));
	check_table(root, "root");
	if (!PG_ARGISNULL(2))
	{
		key = pstrdup(NameStr(*PG_GETARG_NAME(2)));
		keyatt = get_attnum(root, key);
		if (keyatt == InvalidAttrNumber || keyatt < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist", key, get_rel_name(root))));
	}

	UtilSpiConnect();
	values[0] = ObjectIdGetDatum(root);
	if (key == NULL)
	{
		/* the root's single-column primary key */
		Oid			t[1] = {OIDOID};

		ret = SPI_execute_with_args("SELECT a.attname::text FROM pg_catalog.pg_index i"
									" JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
									" WHERE i.indrelid = $1 AND i.indisprimary AND i.indnatts = 1",
									1, t, values, NULL, false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "primary key lookup failed: %d", ret);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("table \"%s\" has no single-column primary key", get_rel_name(root)),
					 errhint("Name the key column: privacy.define_subject(name, root, key).")));
		key = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		keyatt = get_attnum(root, key);
	}
	else
	{
		/* the key must identify one row: a single-column unique index */
		Oid			t[2] = {OIDOID, INT2OID};
		Datum		v[2];

		v[0] = ObjectIdGetDatum(root);
		v[1] = Int16GetDatum(keyatt);
		ret = SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = $1"
									" AND i.indisunique AND i.indnkeyatts = 1 AND i.indkey[0] = $2"
									" AND i.indpred IS NULL",
									2, t, v, NULL, true, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "unique index lookup failed: %d", ret);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" does not identify one row of \"%s\"", key, get_rel_name(root)),
					 errhint("The key column needs a primary key or a unique constraint of its own.")));
	}

	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(root);
	values[2] = CStringGetTextDatum(key);
	ret = SPI_execute_with_args("INSERT INTO privacy.subject_types (name, root, key_column) VALUES ($1, $2, $3)"
								" ON CONFLICT (name) DO UPDATE SET root = EXCLUDED.root, key_column = EXCLUDED.key_column",
								3, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not store the subject type: %d", ret);
	SPI_finish();

	MapRefresh(name);
	CitusWarnColocation(MapGetSubject(name));	/* CITUS HOOK */
	snprintf(detail, sizeof(detail), "{\"root\":%u}", root);
	AuditAppend("define_subject", NULL, detail);
	PG_RETURN_VOID();
}

/*
 * privacy.link(subject text, tbl regclass, key_column name)
 *		Declare a table whose column holds the subject's key value.
 */
Datum
privacy_link(PG_FUNCTION_ARGS)
{
	char	   *name = UtilTextArg(fcinfo, 0, "subject");
	Oid			relid;
	char	   *col;
	AttrNumber	att;
	MapSubject *subj;
	Oid			coltype,
				collid;
	int32		coltypmod;
	CoercionPathType path;
	Oid			funcid;
	int			ret;
	Oid			argtypes[3] = {TEXTOID, OIDOID, TEXTOID};
	Datum		values[3];

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("arguments \"tbl\" and \"key_column\" must not be null")));
	relid = PG_GETARG_OID(1);
	col = pstrdup(NameStr(*PG_GETARG_NAME(2)));
	subj = MapGetSubject(name);
	check_table(relid, "tbl");
	CitusRefuseDistributed(relid, "privacy.link()");	/* CITUS HOOK */
	if (relid == subj->root)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" is the root of subject type \"%s\"", get_rel_name(relid), name)));
	att = get_attnum(relid, col);
	if (att == InvalidAttrNumber || att < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist", col, get_rel_name(relid))));
	get_atttypetypmodcoll(relid, att, &coltype, &coltypmod, &collid);
	path = find_coercion_pathway(coltype, subj->key_type, COERCION_EXPLICIT, &funcid);
	if (path == COERCION_PATH_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of type %s cannot hold a key of type %s",
						col, format_type_be(coltype), format_type_be(subj->key_type))));

	UtilSpiConnect();
	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(relid);
	values[2] = CStringGetTextDatum(col);
	ret = SPI_execute_with_args("INSERT INTO privacy.links (subject, table_name, key_column) VALUES ($1, $2, $3)"
								" ON CONFLICT DO NOTHING", 3, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not store the link: %d", ret);
	/* an index whose first column is the link column keeps rights calls fast */
	{
		Oid			t[2] = {OIDOID, INT2OID};
		Datum		v[2];

		v[0] = ObjectIdGetDatum(relid);
		v[1] = Int16GetDatum(att);
		ret = SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = $1 AND i.indkey[0] = $2"
									" UNION ALL SELECT 1 FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_index i"
									" ON i.indrelid = h.inhrelid WHERE h.inhparent = $1 AND i.indkey[0] = $2 LIMIT 1",
									2, t, v, NULL, true, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "index lookup failed: %d", ret);
		if (SPI_processed == 0 && get_rel_relkind(relid) == RELKIND_RELATION)
			ereport(NOTICE,
					(errmsg("column \"%s\" of \"%s\" has no index", col, get_rel_name(relid)),
					 errdetail("Rights calls for subject type \"%s\" will scan the table.", name),
					 errhint("CREATE INDEX ON %s (%s);", UtilQualifiedName(relid), quote_identifier(col))));
	}
	/*
	 * Inserts and updates of the link column take a shared advisory lock on
	 * the subject's key, which erase() takes exclusively: a row inserted
	 * during an erasure waits for it, and is not left behind by it.
	 */
	{
		char	   *trg = psprintf("privacy_link_%s", name);

		if (strlen(trg) >= NAMEDATALEN)
			trg[NAMEDATALEN - 1] = '\0';
		ret = SPI_execute(psprintf("CREATE OR REPLACE TRIGGER %s BEFORE INSERT OR UPDATE OF %s ON %s"
								   " FOR EACH ROW EXECUTE FUNCTION privacy._link_lock(%s, %s)",
								   quote_identifier(trg), quote_identifier(col), UtilQualifiedName(relid),
								   quote_literal_cstr(name), quote_literal_cstr(col)),
						  false, 0);
		if (ret != SPI_OK_UTILITY)
			elog(ERROR, "could not create the link trigger: %d", ret);
	}
	SPI_finish();
	MapRefresh(name);
	AuditAppend("link", NULL, NULL);
	PG_RETURN_VOID();
}

/*
 * privacy.refresh_subject(name text)
 */
Datum
privacy_refresh_subject(PG_FUNCTION_ARGS)
{
	char	   *name = UtilTextArg(fcinfo, 0, "name");

	MapRefresh(name);
	PG_RETURN_VOID();
}

/*
 * privacy._refresh_all() — every subject type (the DDL event trigger).
 */
Datum
privacy_refresh_all(PG_FUNCTION_ARGS)
{
	List	   *names = NIL;
	ListCell   *lc;
	uint64		i;
	MemoryContext outer = CurrentMemoryContext;

	UtilSpiConnect();
	if (SPI_execute("SELECT name FROM privacy.subject_types ORDER BY name", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "subject type lookup failed");
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(outer);

		names = lappend(names, pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	foreach(lc, names)
		MapRefresh(lfirst(lc));
	PG_RETURN_VOID();
}

/* DOT string escape */
static void
append_dot(StringInfo buf, const char *s)
{
	appendStringInfoChar(buf, '"');
	for (; *s; s++)
	{
		if (*s == '"' || *s == '\\')
			appendStringInfoChar(buf, '\\');
		if (*s == '\n')
		{
			appendStringInfoString(buf, "\\l");
			continue;
		}
		appendStringInfoChar(buf, *s);
	}
	appendStringInfoChar(buf, '"');
}

/*
 * privacy.data_map(subject text) RETURNS text
 *		The map as Graphviz DOT: tables (with classified columns and their
 *		categories), foreign-key edges, link edges dashed.
 */
Datum
privacy_data_map(PG_FUNCTION_ARGS)
{
	char	   *name = UtilTextArg(fcinfo, 0, "subject");
	MapSubject *subj = MapGetSubject(name);
	StringInfoData buf;
	ListCell   *lc,
			   *pc,
			   *hc;
	List	   *edges = NIL;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "digraph ");
	append_dot(&buf, subj->name);
	appendStringInfoString(&buf, " {\n  rankdir=RL;\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n"
						   "  edge [fontname=\"Helvetica\", fontsize=9];\n");
	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);
		StringInfoData label;
		ListCell   *cc;

		initStringInfo(&label);
		appendStringInfo(&label, "%s [%s%s]\n", mt->qualname, mt->via, mt->outbound ? ", referenced" : "");
		foreach(cc, mt->columns)
		{
			MapColumn  *c = lfirst(cc);

			appendStringInfo(&label, "%s: %s (%s)\n", c->name, c->category, c->erasure);
		}
		appendStringInfoString(&buf, "  ");
		append_dot(&buf, mt->qualname);
		appendStringInfoString(&buf, " [label=");
		append_dot(&buf, label.data);
		if (strcmp(mt->via, "root") == 0)
			appendStringInfoString(&buf, ", style=bold");
		appendStringInfoString(&buf, "];\n");
	}
	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);

		foreach(pc, mt->paths)
		{
			foreach(hc, (List *) lfirst(pc))
			{
				MapHop	   *h = lfirst(hc);
				StringInfoData e;
				ListCell   *ec;
				bool		seen = false;

				initStringInfo(&e);
				if (h->link)
				{
					appendStringInfoString(&e, "  ");
					append_dot(&e, UtilQualifiedName(h->rel));
					appendStringInfoString(&e, " -> ");
					append_dot(&e, UtilQualifiedName(subj->root));
					appendStringInfoString(&e, " [style=dashed, label=");
					append_dot(&e, psprintf("%s (link)", col_name(h->rel, h->cols[0])));
				}
				else if (mt->outbound && h->rel == mt->relid)
				{
					/* a referenced table: the foreign key runs from prel to rel */
					appendStringInfoString(&e, "  ");
					append_dot(&e, UtilQualifiedName(h->prel));
					appendStringInfoString(&e, " -> ");
					append_dot(&e, UtilQualifiedName(h->rel));
					appendStringInfoString(&e, " [label=");
					append_dot(&e, cols_text(h->prel, h->pcols, h->ncols));
				}
				else
				{
					appendStringInfoString(&e, "  ");
					append_dot(&e, UtilQualifiedName(h->rel));
					appendStringInfoString(&e, " -> ");
					append_dot(&e, UtilQualifiedName(h->prel));
					appendStringInfoString(&e, " [label=");
					append_dot(&e, cols_text(h->rel, h->cols, h->ncols));
				}
				appendStringInfoString(&e, "];\n");
				foreach(ec, edges)
				{
					if (strcmp(lfirst(ec), e.data) == 0)
						seen = true;
				}
				if (!seen)
					edges = lappend(edges, e.data);
			}
		}
	}
	foreach(lc, edges)
		appendStringInfoString(&buf, lfirst(lc));
	appendStringInfoString(&buf, "}\n");
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}
