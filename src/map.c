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

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "inttypes.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "citus.h"
#include "guard.h"
#include "privacy.h"

/* MapKeyExprs enumerates paths; at most this many per table */
#define MAP_MAX_KEYEXPRS 64

PG_FUNCTION_INFO_V1(privacy_define_subject);
PG_FUNCTION_INFO_V1(privacy_link);
PG_FUNCTION_INFO_V1(privacy_refresh_subject);
PG_FUNCTION_INFO_V1(privacy_refresh_all);
PG_FUNCTION_INFO_V1(privacy_data_map);
PG_FUNCTION_INFO_V1(privacy_invalidate);

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

/* free one entry: its SPI plans and its memory */
static void
free_entry(MapSubject *s)
{
	ListCell   *lc2;

	if (s->plan_status)
		SPI_freeplan(s->plan_status);
	if (s->plan_request)
		SPI_freeplan(s->plan_request);
	if (s->plan_canon)
		SPI_freeplan(s->plan_canon);
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
 * free_cache
 *		Drop every compiled subject.  An entry pinned by the running
 *		transaction is only marked dead (it stays readable); it is freed by
 *		the first call after its transaction ended.
 */
static void
free_cache(void)
{
	ListCell   *lc;
	List	   *keep = NIL;
	MemoryContext old = MemoryContextSwitchTo(map_cache_cxt);

	foreach(lc, map_dead)
	{
		MapSubject *s = lfirst(lc);

		if (s->pins > 0)
			keep = lappend(keep, s);
		else
			free_entry(s);
	}
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
 *
 * A table's rows of the subject are found per foreign key (edge), not per
 * path: a row belongs to the subject when one of its map edges points at a
 * row of the subject in the table it references (the root's being the one
 * row whose key is given, a link's the rows whose column holds the key).
 * The condition of a table T is compiled into one statement whose WITH
 * list holds, for every table above T (the tables T's edges lead to,
 * transitively), the key columns of its subject rows, computed once, top
 * down; the tables of a cycle (and a table that references itself) are
 * computed together by one recursive query, to a fixed point.  So the SQL
 * and the work grow with the number of foreign keys, never with the number
 * of paths, and nothing is capped.
 * ------------------------------------------------------------------------
 */

/* a direct edge: compared with the key itself, no table above needed */
static bool
edge_is_direct(MapSubject *subj, MapHop *h)
{
	return h->link || (h->prel == subj->root && h->ncols == 1 &&
					   h->pcols[0] == subj->key_attnum);
}

/* the edge leads to a table whose subject rows come from a WITH item */
static bool
edge_needs_set(MapSubject *subj, MapHop *h)
{
	return !h->link && h->prel != subj->root;
}

/* the edges of a mapped table (each path of the cache is one edge) */
static List *
table_edges(MapTable *mt)
{
	List	   *edges = NIL;
	ListCell   *lc;

	foreach(lc, mt->paths)
	{
		List	   *p = lfirst(lc);

		if (p != NIL)
			edges = lappend(edges, linitial(p));
	}
	return edges;
}

/* index of relid in subj->tables, or -1 */
static int
table_index(MapSubject *subj, Oid relid)
{
	ListCell   *lc;
	int			i = 0;

	foreach(lc, subj->tables)
	{
		if (((MapTable *) lfirst(lc))->relid == relid)
			return i;
		i++;
	}
	return -1;
}

/* one table above the condition's table (a node of the WITH list) */
typedef struct CondNode
{
	MapTable   *mt;
	int			idx;			/* in subj->tables: names the WITH items */
	int			index;			/* Tarjan */
	int			lowlink;
	bool		onstack;
	int			scc;			/* component number, parents first */
	int			member;			/* position inside its component */
	bool		selfloop;
	List	   *needed;			/* int: attnums its children compare with */
} CondNode;

typedef struct CondCtx
{
	MapSubject *subj;
	const char *keyexpr;
	CondNode   *nodes;			/* indexed like subj->tables */
	bool	   *in;				/* node in the closure */
	int			counter;
	List	   *stack;
	int			nscc;
	List	   *sccs;			/* List of List of CondNode *, parents first */
} CondCtx;

/* the needed column list of a node gains pcols */
static void
add_needed(CondNode *n, MapHop *h)
{
	int			i;

	for (i = 0; i < h->ncols; i++)
		if (!list_member_int(n->needed, h->pcols[i]))
			n->needed = lappend_int(n->needed, h->pcols[i]);
}

/* Tarjan over the edges "child -> parent" of the closure */
static void
cond_strongconnect(CondCtx *cx, int v)
{
	CondNode   *n = &cx->nodes[v];
	ListCell   *lc;

	n->index = n->lowlink = ++cx->counter;
	cx->stack = lcons_int(v, cx->stack);
	n->onstack = true;
	foreach(lc, table_edges(n->mt))
	{
		MapHop	   *h = lfirst(lc);
		int			w;

		if (!edge_needs_set(cx->subj, h))
			continue;
		w = table_index(cx->subj, h->prel);
		if (w < 0)
			elog(ERROR, "map edge to a table outside the map");
		if (w == v)
			n->selfloop = true;
		if (cx->nodes[w].index == 0)
		{
			cond_strongconnect(cx, w);
			n->lowlink = Min(n->lowlink, cx->nodes[w].lowlink);
		}
		else if (cx->nodes[w].onstack)
			n->lowlink = Min(n->lowlink, cx->nodes[w].index);
	}
	if (n->lowlink == n->index)
	{
		List	   *comp = NIL;
		int			w;

		do
		{
			w = linitial_int(cx->stack);
			cx->stack = list_delete_first(cx->stack);
			cx->nodes[w].onstack = false;
			cx->nodes[w].scc = cx->nscc;
			cx->nodes[w].member = list_length(comp) + 1;
			comp = lappend(comp, &cx->nodes[w]);
		} while (w != v);
		cx->nscc++;
		cx->sccs = lappend(cx->sccs, comp);
	}
}

/* "a3, a7" or "s.a3, s.a7": the WITH item's columns for pcols */
static void
append_set_cols(StringInfo buf, const char *alias, const AttrNumber *pcols, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		appendStringInfo(buf, "%s%s%sa%d", i ? ", " : "", alias ? alias : "", alias ? "." : "",
						 pcols[i]);
}

/*
 * append_match
 *		Condition: row alias of h->rel points along edge h at a row of the
 *		subject (keyexpr).
 */
static void
append_match(StringInfo buf, CondCtx *cx, MapHop *h, const char *alias)
{
	MapSubject *subj = cx->subj;

	if (h->link)
	{
		appendStringInfo(buf, "%s.%s = %s", alias,
						 quote_identifier(col_name(h->rel, h->cols[0])),
						 MapLinkKeyExpr(h->rel, h->cols[0], cx->keyexpr));
		return;
	}
	if (edge_is_direct(subj, h))
	{
		appendStringInfo(buf, "%s.%s = (%s)", alias,
						 quote_identifier(col_name(h->rel, h->cols[0])), cx->keyexpr);
		return;
	}
	appendStringInfoChar(buf, '(');
	append_cols(buf, alias, h->rel, h->cols, h->ncols);
	appendStringInfoString(buf, ") IN (SELECT ");
	if (h->prel == subj->root)
	{
		append_cols(buf, "r", h->prel, h->pcols, h->ncols);
		appendStringInfo(buf, " FROM %s r WHERE r.%s OPERATOR(pg_catalog.=) (%s))",
						 UtilQualifiedName(subj->root), quote_identifier(subj->key_column),
						 cx->keyexpr);
		return;
	}
	append_set_cols(buf, "s", h->pcols, h->ncols);
	appendStringInfo(buf, " FROM s%d s)", table_index(subj, h->prel));
}

/* the type of a column, without typmod or domain, for the recursive rows */
static char *
col_base_type(Oid relid, AttrNumber att)
{
	Oid			typid;
	int32		typmod;
	Oid			coll;

	get_atttypetypmodcoll(relid, att, &typid, &typmod, &coll);
	return format_type_be(getBaseType(typid));
}

/* the select list of a row of member n (alias p) in component comp */
static void
append_scc_row(StringInfo buf, List *comp, CondNode *n, const char *alias)
{
	ListCell   *lc,
			   *ac;

	appendStringInfo(buf, "SELECT %d", n->member);
	foreach(lc, comp)
	{
		CondNode   *m = lfirst(lc);

		foreach(ac, m->needed)
		{
			AttrNumber	att = lfirst_int(ac);
			char	   *ty = col_base_type(m->mt->relid, att);

			if (m == n)
				appendStringInfo(buf, ", CAST(%s.%s AS %s)", alias,
								 quote_identifier(col_name(m->mt->relid, att)), ty);
			else
				appendStringInfo(buf, ", CAST(NULL AS %s)", ty);
		}
	}
}

/*
 * append_with
 *		The WITH list of every component above (and, when it is in a cycle,
 *		including) the condition's table.
 */
static void
append_with(StringInfo buf, CondCtx *cx)
{
	ListCell   *cc,
			   *lc,
			   *ec,
			   *ac;
	bool		first = true;
	bool		recursive = false;

	foreach(cc, cx->sccs)
	{
		List	   *comp = lfirst(cc);

		if (list_length(comp) > 1 || ((CondNode *) linitial(comp))->selfloop)
			recursive = true;
	}
	appendStringInfoString(buf, recursive ? "WITH RECURSIVE " : "WITH ");
	foreach(cc, cx->sccs)
	{
		List	   *comp = lfirst(cc);
		CondNode   *n0 = linitial(comp);

		if (list_length(comp) == 1 && !n0->selfloop)
		{
			bool		firstb = true;

			if (n0->needed == NIL)
				continue;		/* the condition's own table */
			appendStringInfo(buf, "%ss%d AS (", first ? "" : ", ", n0->idx);
			first = false;
			foreach(ec, table_edges(n0->mt))
			{
				MapHop	   *h = lfirst(ec);

				appendStringInfo(buf, "%sSELECT ", firstb ? "" : " UNION ");
				firstb = false;
				foreach(ac, n0->needed)
					appendStringInfo(buf, "%sp.%s AS a%d", foreach_current_index(ac) ? ", " : "",
									 quote_identifier(col_name(n0->mt->relid, lfirst_int(ac))),
									 lfirst_int(ac));
				appendStringInfo(buf, " FROM %s p WHERE ", n0->mt->qualname);
				append_match(buf, cx, h, "p");
			}
			appendStringInfoChar(buf, ')');
			continue;
		}

		/* a cycle: one recursive item, then one item per member */
		{
			bool		firstb = true;
			bool		firstr = true;

			{
				StringInfoData names;

				initStringInfo(&names);
				appendStringInfo(&names, "m%d", n0->scc);
				foreach(lc, comp)
				{
					CondNode   *m = lfirst(lc);

					foreach(ac, m->needed)
						appendStringInfo(&names, ", m%d_%d_a%d", n0->scc, m->member, lfirst_int(ac));
				}
				appendStringInfo(buf, "%sr%d(%s) AS (", first ? "" : ", ", n0->scc, names.data);
			}
			first = false;
			foreach(lc, comp)
			{
				CondNode   *n = lfirst(lc);

				foreach(ec, table_edges(n->mt))
				{
					MapHop	   *h = lfirst(ec);
					int			w = edge_needs_set(cx->subj, h) ? table_index(cx->subj, h->prel) : -1;

					if (w >= 0 && cx->nodes[w].scc == n->scc && cx->in[w])
						continue;	/* inside the cycle: the recursive part */
					if (!firstb)
						appendStringInfoString(buf, " UNION ");
					firstb = false;
					append_scc_row(buf, comp, n, "p");
					appendStringInfo(buf, " FROM %s p WHERE ", n->mt->qualname);
					append_match(buf, cx, h, "p");
				}
			}
			if (firstb)
				elog(ERROR, "a cycle of the map has no way to the root");
			appendStringInfo(buf, " UNION SELECT x.* FROM r%d r CROSS JOIN LATERAL (", n0->scc);
			foreach(lc, comp)
			{
				CondNode   *n = lfirst(lc);

				foreach(ec, table_edges(n->mt))
				{
					MapHop	   *h = lfirst(ec);
					int			w = edge_needs_set(cx->subj, h) ? table_index(cx->subj, h->prel) : -1;
					CondNode   *pn;
					int			i;

					if (w < 0 || cx->nodes[w].scc != n->scc || !cx->in[w])
						continue;
					pn = &cx->nodes[w];
					if (!firstr)
						appendStringInfoString(buf, " UNION ALL ");
					firstr = false;
					append_scc_row(buf, comp, n, "p");
					appendStringInfo(buf, " FROM %s p WHERE r.m%d = %d", n->mt->qualname,
									 n0->scc, pn->member);
					for (i = 0; i < h->ncols; i++)
						appendStringInfo(buf, " AND p.%s = r.m%d_%d_a%d",
										 quote_identifier(col_name(h->rel, h->cols[i])),
										 n0->scc, pn->member, h->pcols[i]);
				}
			}
			appendStringInfoString(buf, ") x)");
			foreach(lc, comp)
			{
				CondNode   *m = lfirst(lc);

				if (m->needed == NIL)
					continue;
				appendStringInfo(buf, ", s%d AS (SELECT ", m->idx);
				foreach(ac, m->needed)
					appendStringInfo(buf, "%sr.m%d_%d_a%d AS a%d", foreach_current_index(ac) ? ", " : "",
									 n0->scc, m->member, lfirst_int(ac), lfirst_int(ac));
				appendStringInfo(buf, " FROM r%d r WHERE r.m%d = %d)", n0->scc, n0->scc, m->member);
			}
		}
	}
	appendStringInfoChar(buf, ' ');
}

/*
 * cond_prepare
 *		The closure of mt (every table its edges lead to, transitively), its
 *		components, and the columns each one must provide.  False when mt
 *		needs no WITH list.
 */
static bool
cond_prepare(CondCtx *cx, MapSubject *subj, MapTable *mt, const char *keyexpr)
{
	int			ntab = list_length(subj->tables);
	int			t = table_index(subj, mt->relid);
	int			i;
	ListCell   *lc;
	bool		any = false;

	memset(cx, 0, sizeof(CondCtx));
	cx->subj = subj;
	cx->keyexpr = keyexpr;
	foreach(lc, table_edges(mt))
		if (edge_needs_set(subj, lfirst(lc)))
			any = true;
	if (!any)
		return false;
	cx->nodes = palloc0(sizeof(CondNode) * ntab);
	cx->in = palloc0(sizeof(bool) * ntab);
	for (i = 0; i < ntab; i++)
	{
		cx->nodes[i].mt = list_nth(subj->tables, i);
		cx->nodes[i].idx = i;
	}
	cond_strongconnect(cx, t);
	for (i = 0; i < ntab; i++)
		cx->in[i] = cx->nodes[i].index > 0;
	/* the columns each table must provide to the tables below it */
	for (i = 0; i < ntab; i++)
	{
		if (!cx->in[i])
			continue;
		foreach(lc, table_edges(cx->nodes[i].mt))
		{
			MapHop	   *h = lfirst(lc);

			if (edge_needs_set(subj, h))
				add_needed(&cx->nodes[table_index(subj, h->prel)], h);
		}
	}
	return true;
}

/*
 * MapCondition
 *		SQL condition: row alias of mt belongs to the subject whose root key
 *		is keyexpr (an expression of the root key's type).  One edge: a
 *		comparison or a semi-join; several: a TID list built by one branch
 *		per edge (each keeps its own index plan), or plain ORs when every
 *		edge compares a column with the key (bitmap-OR of index scans).
 */
/*
 * append_edge_in
 *		Row alias of edge h's table matches a key of the referenced table's
 *		key set: "(cols) IN (WITH ... SELECT pcols FROM sN s)".
 */
static void
append_edge_in(StringInfo buf, CondCtx *cx, MapSubject *subj, MapHop *h, const char *alias)
{
	appendStringInfoChar(buf, '(');
	append_cols(buf, alias, h->rel, h->cols, h->ncols);
	appendStringInfoString(buf, ") IN (");
	append_with(buf, cx);
	appendStringInfoString(buf, "SELECT ");
	append_set_cols(buf, "s", h->pcols, h->ncols);
	appendStringInfo(buf, " FROM s%d s)", table_index(subj, h->prel));
}

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
	List	   *edges = table_edges(mt);
	CondCtx		cx;
	bool		with;
	bool		first = true;

	initStringInfo(&buf);
	if (edges == NIL)
	{
		/* the root */
		appendStringInfo(&buf, "%s.%s OPERATOR(pg_catalog.=) (%s)", alias,
						 quote_identifier(subj->key_column), keyexpr);
		return buf.data;
	}
	with = cond_prepare(&cx, subj, mt, keyexpr);
	if (!with)
		cx.subj = subj, cx.keyexpr = keyexpr;
	if (list_length(edges) == 1)
	{
		MapHop	   *h = linitial(edges);

		if (!with)
		{
			append_match(&buf, &cx, h, alias);
			return buf.data;
		}
		append_edge_in(&buf, &cx, subj, h, alias);
		return buf.data;
	}
	/* CITUS HOOK: never ctid row identity on a table with shards */
	if (CitusIsCitusTable(mt->relid))
	{
		appendStringInfoChar(&buf, '(');
		foreach(lc, edges)
		{
			appendStringInfoString(&buf, first ? "(" : " OR (");
			first = false;
			if (with && !edge_is_direct(subj, lfirst(lc)))
				append_edge_in(&buf, &cx, subj, lfirst(lc), alias);
			else
				append_match(&buf, &cx, lfirst(lc), alias);
			appendStringInfoChar(&buf, ')');
		}
		appendStringInfoChar(&buf, ')');
		return buf.data;
	}
	if (!with && !mt->partitioned)
	{
		bool		simple = true;

		foreach(lc, edges)
			if (!edge_is_direct(subj, lfirst(lc)))
				simple = false;
		if (simple)
		{
			appendStringInfoChar(&buf, '(');
			foreach(lc, edges)
			{
				appendStringInfoString(&buf, first ? "(" : " OR (");
				first = false;
				append_match(&buf, &cx, lfirst(lc), alias);
				appendStringInfoChar(&buf, ')');
			}
			appendStringInfoChar(&buf, ')');
			return buf.data;
		}
	}
	if (mt->partitioned)
		appendStringInfo(&buf, "(%s.tableoid, %s.ctid) IN (", alias, alias);
	else
		appendStringInfo(&buf, "%s.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(", alias);
	if (with)
		append_with(&buf, &cx);
	foreach(lc, edges)
	{
		if (!first)
			appendStringInfoString(&buf, " UNION ");
		first = false;
		appendStringInfo(&buf, "SELECT %sx.ctid FROM %s x WHERE ",
						 mt->partitioned ? "x.tableoid, " : "", mt->qualname);
		append_match(&buf, &cx, lfirst(lc), "x");
	}
	appendStringInfoString(&buf, mt->partitioned ? ")" : "))");
	return buf.data;
}

/*
 * MapLinkKeyExpr
 *		The subject's key (keyexpr, of the root key's type) as the type of
 *		link column att of relid.  The one place where an id is converted
 *		to a link column's type.
 */
char *
MapLinkKeyExpr(Oid relid, AttrNumber att, const char *keyexpr)
{
	Oid			typid;
	int32		typmod;
	Oid			collid;

	get_atttypetypmodcoll(relid, att, &typid, &typmod, &collid);
	return psprintf("CAST((%s) AS %s)", keyexpr, format_type_with_typemod(typid, typmod));
}

/*
 * append_keyexpr
 *		Scalar expression: the root key reached from row alias along
 *		path[idx..] (a path: a list of edges ending at the root or a link).
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
	if (h->link || (idx == list_length(path) - 1 && edge_is_direct(subj, h)))
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

/* simple paths from mt to the root over the map's edges, depth first */
static void
enum_paths(MapSubject *subj, MapTable *mt, List *prefix, List **out, int *count)
{
	ListCell   *lc;

	foreach(lc, table_edges(mt))
	{
		MapHop	   *h = lfirst(lc);
		List	   *np;
		ListCell   *pc;
		bool		seen = false;
		MapTable   *up;

		if (*count >= MAP_MAX_KEYEXPRS)
			return;
		if (h->prel == mt->relid)
			continue;			/* a self-reference ends a path */
		foreach(pc, prefix)
			if (((MapHop *) lfirst(pc))->rel == h->prel)
				seen = true;
		if (seen)
			continue;			/* a cycle ends a path */
		np = lappend(list_copy(prefix), h);
		if (h->link || h->prel == subj->root)
		{
			*out = lappend(*out, np);
			(*count)++;
			continue;
		}
		up = MapFindTable(subj, h->prel);
		if (up)
			enum_paths(subj, up, np, out, count);
	}
}

/*
 * MapKeyExprs
 *		One SQL expression per simple path giving the root key (as the root
 *		key's type) of row alias of mt.  Paths are enumerated from the
 *		map's edges, at most MAP_MAX_KEYEXPRS of them (a WARNING says when
 *		a table has more).  Rows reached only through a cycle or a
 *		self-reference have no simple path: callers that must see every
 *		row of the subject use MapCondition.
 */
List *
MapKeyExprs(MapSubject *subj, MapTable *mt, const char *alias)
{
	List	   *result = NIL;
	List	   *paths = NIL;
	ListCell   *lc;
	int			aliasno = 0;
	int			count = 0;

	if (table_edges(mt) == NIL)
		paths = list_make1(NIL);
	else
		enum_paths(subj, mt, NIL, &paths, &count);
	if (count >= MAP_MAX_KEYEXPRS)
		ereport(WARNING,
				(errmsg("table \"%s\" has more than %d foreign key paths to the root of subject type \"%s\"",
						get_rel_name(mt->relid), MAP_MAX_KEYEXPRS, subj->name),
				 errdetail("Only the first %d are used to tell whose a row is.", MAP_MAX_KEYEXPRS)));
	foreach(lc, paths)
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
 * Per-call key sets
 * ------------------------------------------------------------------------
 */

/* position of att among the needed columns of mt, or -1 */
static int
needed_index(MapTable *mt, AttrNumber att)
{
	int			i;

	for (i = 0; i < mt->nneeded; i++)
		if (mt->needed[i] == att)
			return i;
	return -1;
}

/*
 * call_prepare_subject
 *		At load: the columns each table must provide to the tables below it,
 *		the components of the edge graph (tables above first), and each
 *		table's condition over the key and its parents' key sets.
 */
static void
call_prepare_subject(MapSubject *subj)
{
	ListCell   *lc,
			   *ec;
	int			ntab = list_length(subj->tables);
	CondCtx		cx;
	int			i;

	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);

		foreach(ec, table_edges(mt))
		{
			MapHop	   *h = lfirst(ec);
			MapTable   *p;

			if (!edge_needs_set(subj, h) || (p = MapFindTable(subj, h->prel)) == NULL)
				continue;
			for (i = 0; i < h->ncols; i++)
			{
				Oid			typid;
				int32		typmod;
				Oid			coll;

				if (needed_index(p, h->pcols[i]) >= 0 || p->nneeded >= 32)
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
			cond_strongconnect(&cx, i);
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

	if (h->ncols == 1)
	{
		appendStringInfo(buf, "%s.%s = ANY ($%d)", alias,
						 quote_identifier(col_name(h->rel, h->cols[0])), n);
		return;
	}
	appendStringInfoChar(buf, '(');
	append_cols(buf, alias, h->rel, h->cols, h->ncols);
	appendStringInfoString(buf, ") IN (SELECT * FROM ROWS FROM (");
	for (i = 0; i < h->ncols; i++)
		appendStringInfo(buf, "%spg_catalog.unnest($%d)", i ? ", " : "", n + i);
	appendStringInfoString(buf, "))");
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

	edges = table_edges(mt);
	memset(&cx, 0, sizeof(cx));
	cx.subj = subj;
	cx.keyexpr = "$1";
	if (types)
		types[0] = subj->key_type;
	initStringInfo(&buf);
	if (edges == NIL)
		appendStringInfo(&buf, "%s.%s OPERATOR(pg_catalog.=) $1", alias,
						 quote_identifier(subj->key_column));
	else
	{
		foreach(lc, edges)
		{
			MapHop	   *h = lfirst(lc);
			StringInfoData m;

			initStringInfo(&m);
			if (edge_needs_set(subj, h) && MapFindTable(subj, h->prel) == NULL)
				appendStringInfoString(&m, "false");	/* a table dropped since */
			else if (edge_needs_set(subj, h))
			{
				MapTable   *p = MapFindTable(subj, h->prel);
				int			i;

				if (nargs + h->ncols > maxtypes)
					elog(ERROR, "table %s has too many foreign keys for a map query", mt->qualname);
				append_call_match(&m, subj, h, alias, first + nargs - 1);
				for (i = 0; i < h->ncols; i++)
				{
					Oid			arr = get_array_type(p->needed_type[needed_index(p, h->pcols[i])]);

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
				append_match(&m, &cx, h, alias);
				if (!edge_is_direct(subj, h))
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
	foreach(lc, table_edges(mt))
	{
		MapHop	   *h = lfirst(lc);
		int			p,
					i;

		if (!edge_needs_set(subj, h) || (p = table_index(subj, h->prel)) < 0)
			continue;
		for (i = 0; i < h->ncols; i++)
		{
			MapTable   *pt = list_nth(subj->tables, p);

			values[n++] = call->sets[p][needed_index(pt, h->pcols[i])];
		}
	}
	return values;
}

/*
 * call_run_keys
 *		Run the key-set query of mt; new arrays into cxt; true when they
 *		grew.  lock: the erasure's form, which also locks the rows FOR
 *		UPDATE (and runs for a table whose sets nobody needs, only to lock
 *		it).  latest: with the latest snapshot, as every erasure statement.
 */
static bool
call_run_keys(MapCall *call, MapTable *mt, int idx, MemoryContext cxt, bool lock, bool latest)
{
	MapSubject *subj = call->subj;
	PrivacyUserSwitch sw;
	int			ret;
	int			i;
	bool		grew = false;
	Datum	   *values;
	void	  **slot = lock ? &mt->plan_lock : &mt->plan_keys;

	if (*slot == NULL)
	{
		StringInfoData q;
		SPIPlanPtr	plan;
		const char *cond = MapCallCondition(subj, mt);

		initStringInfo(&q);
		appendStringInfoString(&q, "SELECT ");
		for (i = 0; i < mt->nneeded; i++)
			appendStringInfo(&q, "%spg_catalog.array_agg(x.a%d)", i ? ", " : "", i);
		if (mt->nneeded == 0)
			appendStringInfoString(&q, "pg_catalog.count(*)");
		appendStringInfoString(&q, " FROM (SELECT DISTINCT ");
		for (i = 0; i < mt->nneeded; i++)
			appendStringInfo(&q, "%sCAST(t.%s AS %s) AS a%d", i ? ", " : "",
							 quote_identifier(col_name(mt->relid, mt->needed[i])),
							 format_type_be(mt->needed_type[i]), i);
		if (mt->nneeded == 0)
			appendStringInfoString(&q, "1");
		if (lock)
			appendStringInfo(&q, " FROM (SELECT * FROM %s t WHERE %s FOR UPDATE OF t) t) x",
							 mt->qualname, cond);
		else
			appendStringInfo(&q, " FROM %s t WHERE %s) x", mt->qualname, cond);
		/*
		 * One generic plan: a custom plan per call costs more than the query
		 * (CITUS HOOK: Citus plans a distributed table per call).
		 */
		plan = SPI_prepare_cursor(q.data, mt->call_nargs, mt->call_argtypes,
								  CitusIsCitusTable(mt->relid) ? 0 : CURSOR_OPT_GENERIC_PLAN);
		if (plan == NULL)
			elog(ERROR, "could not prepare the key query of %s: %s", mt->qualname,
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
			ret = SPI_execute_snapshot(*slot, values, NULL, GetLatestSnapshot(),
									   InvalidSnapshot, !lock, true, 1);
		}
		else
			ret = SPI_execute_plan(*slot, values, NULL, true, 1);
	}
	PG_FINALLY();
	{
		GuardSetRowSecurityBypass(false);
	}
	PG_END_TRY();
	GuardLeave(sw.frame);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "key query of %s failed: %d", mt->qualname, ret);
	for (i = 0; i < mt->nneeded; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);
		MemoryContext old = MemoryContextSwitchTo(cxt);
		ArrayType  *a;
		ArrayType  *prev = DatumGetArrayTypeP(call->sets[idx][i]);

		a = isnull ? construct_empty_array(mt->needed_type[i]) : DatumGetArrayTypePCopy(d);
		if (ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) > ArrayGetNItems(ARR_NDIM(prev), ARR_DIMS(prev)))
			grew = true;
		call->sets[idx][i] = PointerGetDatum(a);
		MemoryContextSwitchTo(old);
	}
	return grew;
}

/*
 * MapKeptGroupPlan
 *		See privacy.h.
 */
void *
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
	}
	return k->plan;
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
			foreach(ec, table_edges((MapTable *) lfirst(lc)))
		{
			MapHop	   *h = lfirst(ec);
			int			p;

			if (!edge_needs_set(subj, h) || list_member_ptr(comp, MapFindTable(subj, h->prel)) ||
				(p = table_index(subj, h->prel)) < 0)
				continue;
			l = Max(l, level[p] + 1);
		}
		foreach(lc, comp)
			level[table_index(subj, ((MapTable *) lfirst(lc))->relid)] = l;
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

/*
 * call_run_group
 *		The key sets of several tables of one owner and one level in one
 *		statement, "SELECT (<key query of t1>), (<key query of t2>)...":
 *		tables with one needed column, or none when the table is only
 *		locked.  Same queries, identity and snapshot as call_run_keys, one
 *		round trip.  slot: the statement's kept plan.
 */
static void
call_run_group(MapCall *call, List *members, const bool *lock, int slot, MemoryContext cxt,
			   CallRows *cr)
{
	MapSubject *subj = call->subj;
	StringInfoData q;
	ListCell   *lc;
	int			nargs = 1;
	int			cap = 64;
	Oid		   *types = palloc(sizeof(Oid) * cap);
	Datum	   *values = palloc(sizeof(Datum) * cap);
	bool		locking = false;
	PrivacyUserSwitch sw;
	SPIPlanPtr	plan;
	int			ret;

	types[0] = subj->key_type;
	values[0] = call->key;
	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT ");
	foreach(lc, members)
	{
		MapTable   *mt = lfirst(lc);
		int			idx = table_index(subj, mt->relid);
		bool		lk = lock != NULL && lock[idx];
		Datum	   *args = MapCallArgs(call, mt);
		char	   *cond;
		int			i;

		if (nargs + mt->call_nargs > cap)
		{
			cap = 2 * (nargs + mt->call_nargs);
			types = repalloc(types, sizeof(Oid) * cap);
			values = repalloc(values, sizeof(Datum) * cap);
		}
		cond = MapCallConditionAt(subj, mt, "t", nargs + 1);
		for (i = 1; i < mt->call_nargs; i++)
		{
			types[nargs] = mt->call_argtypes[i];
			values[nargs++] = args[i];
		}
		locking |= lk;
		if (foreach_current_index(lc) > 0)
			appendStringInfoString(&q, ", ");
		if (cr != NULL && cr->json[idx] != NULL && mt->nneeded == 1)
			appendStringInfo(&q, "(SELECT ROW(pg_catalog.jsonb_agg(%s), pg_catalog.array_agg(DISTINCT CAST(t.%s AS %s)))"
							 " FROM %s t WHERE %s)", cr->json[idx],
							 quote_identifier(col_name(mt->relid, mt->needed[0])),
							 format_type_be(mt->needed_type[0]), mt->qualname, cond);
		else if (cr != NULL && cr->json[idx] != NULL)
			appendStringInfo(&q, "(SELECT pg_catalog.jsonb_agg(%s) FROM %s t WHERE %s)",
							 cr->json[idx], mt->qualname, cond);
		else if (mt->nneeded == 0)
			appendStringInfo(&q, "(SELECT pg_catalog.count(*) FROM (SELECT 1 FROM %s t WHERE %s FOR UPDATE OF t) x)",
							 mt->qualname, cond);
		else if (lk)
			appendStringInfo(&q, "(SELECT pg_catalog.array_agg(x.a0) FROM (SELECT DISTINCT CAST(t.%s AS %s) AS a0"
							 " FROM (SELECT * FROM %s t WHERE %s FOR UPDATE OF t) t) x)",
							 quote_identifier(col_name(mt->relid, mt->needed[0])),
							 format_type_be(mt->needed_type[0]), mt->qualname, cond);
		else
			appendStringInfo(&q, "(SELECT pg_catalog.array_agg(x.a0) FROM (SELECT DISTINCT CAST(t.%s AS %s) AS a0"
							 " FROM %s t WHERE %s) x)",
							 quote_identifier(col_name(mt->relid, mt->needed[0])),
							 format_type_be(mt->needed_type[0]), mt->qualname, cond);
	}
	sw.frame = GuardEnterTableOwner(((MapTable *) linitial(members))->relid);
	GuardSetRowSecurityBypass(true);
	PG_TRY();
	{
		plan = MapKeptGroupPlan(subj, slot, q.data, nargs, types);
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
		elog(ERROR, "key query of %d tables failed: %d", list_length(members), ret);
	foreach(lc, members)
	{
		MapTable   *mt = lfirst(lc);
		int			idx = table_index(subj, mt->relid);
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
 *		jsonb_agg(json[i]) over alias t (json[i] NULL: not wanted), from the
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

			if (level[table_index(subj, first->relid)] != l)
				continue;
			foreach(lc, comp)
			{
				MapTable   *mt = lfirst(lc);
				ListCell   *ec;

				foreach(ec, table_edges(mt))
					if (((MapHop *) lfirst(ec))->prel == mt->relid && !((MapHop *) lfirst(ec))->link)
						cyclic = true;
			}
			locking = lock != NULL && lock[table_index(subj, first->relid)];
			if (!cyclic && !citus &&
				(first->nneeded == 1 || (first->nneeded == 0 && locking) ||
				 (first->nneeded == 0 && cr != NULL && cr->json[table_index(subj, first->relid)] != NULL)))
			{
				Oid			owner = UtilRelationOwner(first->relid);
				int			g = list_member_oid(owners, owner) ? 0 : -1;

				if (g == 0)
				{
					foreach(gc, owners)
						if (lfirst_oid(gc) == owner)
							g = foreach_current_index(gc);
					list_nth_cell(groups, g)->ptr_value =
						lappend(list_nth(groups, g), first);
				}
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
					int			idx = table_index(subj, mt->relid);
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

/* ------------------------------------------------------------------------
 * The walk
 *
 * One catalog query reads the whole foreign-key graph (partitions
 * collapsed); the walk itself runs in memory, breadth first from the root
 * and the linked tables, to a fixed point: every foreign key into a mapped
 * table (the root included, a referenced table excluded) is an edge of the
 * map and maps the referencing table.  Then the referenced tables with
 * classified columns that mapped rows point to.  Internal catalog queries
 * run with JIT off (they are planned above jit_above_cost on a large
 * catalog and would compile at every call).
 * ------------------------------------------------------------------------
 */

/* a foreign key of the graph, partitions collapsed to their root */
typedef struct FkEdge
{
	Oid			child;
	Oid			parent;
	int			ncols;
	AttrNumber	ccols[32];
	AttrNumber	pcols[32];
	char		deltype;
	NameData	conname;
} FkEdge;

/* order of the graph: by referencing table, then constraint name */
static int
fk_cmp(const ListCell *a, const ListCell *b)
{
	FkEdge	   *x = lfirst(a);
	FkEdge	   *y = lfirst(b);

	if (x->child != y->child)
		return x->child < y->child ? -1 : 1;
	return strcmp(NameStr(x->conname), NameStr(y->conname));
}

/* a table found by the walk */
typedef struct WalkEntry
{
	Oid			relid;
	const char *via;
	bool		outbound;
	int			depth;
	List	   *edges;			/* MapHop *, links first */
	MapHop	   *tree;			/* the edge of a shortest path */
} WalkEntry;

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
 * MapJitOff / MapJitRestore
 *		Run the statements in between with jit = off (a GUC nest level,
 *		like a function's SET clause; unwound by an error too).
 */
int
MapJitOff(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

void
MapJitRestore(int nest)
{
	AtEOXact_GUC(true, nest);
}

/* the topmost partitioned parent of relid (relid when not a partition) */
static Oid
partition_root(Oid relid)
{
	List	   *anc;

	if (!get_rel_relispartition(relid))
		return relid;
	anc = get_partition_ancestors(relid);
	return anc == NIL ? relid : llast_oid(anc);
}

/*
 * translate_cols
 *		Column numbers of a partition translated to its root, by name;
 *		false when one is missing.
 */
static bool
translate_cols(Oid rel, Oid root, AttrNumber *cols, int n)
{
	int			i;

	if (rel == root)
		return true;
	for (i = 0; i < n; i++)
	{
		char	   *name = get_attname(rel, cols[i], true);

		if (name == NULL || (cols[i] = get_attnum(root, name)) == InvalidAttrNumber)
			return false;
	}
	return true;
}

/*
 * load_fk_graph
 *		The whole foreign-key graph: every foreign key between permanent
 *		tables, partitions collapsed to their topmost parent, column numbers
 *		translated to that parent by name.  One scan of pg_constraint (no
 *		query to plan: a large catalog would otherwise dominate the DDL's
 *		added cost).
 */
static List *
load_fk_graph(void)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *fks = NIL;

	rel = table_open(ConstraintRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);
		FkEdge	   *f;
		bool		isnull;
		Datum		d;
		int			n1,
					n2;

		if (con->contype != CONSTRAINT_FOREIGN || OidIsValid(con->conparentid))
			continue;
		if (get_rel_persistence(con->conrelid) == RELPERSISTENCE_TEMP ||
			get_rel_persistence(con->confrelid) == RELPERSISTENCE_TEMP)
			continue;
		f = palloc0(sizeof(FkEdge));
		d = heap_getattr(tup, Anum_pg_constraint_conkey, RelationGetDescr(rel), &isnull);
		if (isnull)
			continue;
		n1 = int2_array(d, f->ccols);
		d = heap_getattr(tup, Anum_pg_constraint_confkey, RelationGetDescr(rel), &isnull);
		if (isnull)
			continue;
		n2 = int2_array(d, f->pcols);
		if (n1 != n2 || n1 == 0)
			continue;
		f->ncols = n1;
		f->child = partition_root(con->conrelid);
		f->parent = partition_root(con->confrelid);
		if (!translate_cols(con->conrelid, f->child, f->ccols, n1) ||
			!translate_cols(con->confrelid, f->parent, f->pcols, n1))
			continue;			/* a column could not be translated */
		f->deltype = con->confdeltype;
		f->conname = con->conname;
		fks = lappend(fks, f);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	list_sort(fks, fk_cmp);
	return fks;
}

/* tables with classified columns (referenced ones join the map); in SPI */
static List *
load_classified(void)
{
	int			ret;
	uint64		i;
	List	   *oids = NIL;

	ret = SPI_execute("SELECT DISTINCT table_name::oid FROM privacy.classifications", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "classification lookup failed: %d", ret);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		oids = lappend_oid(oids, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																SPI_tuptable->tupdesc, 1, &isnull)));
	}
	return oids;
}

/*
 * Foreign keys into a table, with partitions collapsed to their topmost
 * parent and column numbers translated to that parent by name.  $1 = the
 * (collapsed) table.
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

/*
 * MapForeignKeysInto
 *		Every foreign key into relid, partitions collapsed, with its ON
 *		DELETE action, as inbound hops (rel = the referencing table);
 *		allocated in the caller's context.
 */
List *
MapForeignKeysInto(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	int			ret;
	uint64		i;
	List	   *result = NIL;
	MemoryContext outer = CurrentMemoryContext;
	int			nest;

	UtilSpiConnect();
	nest = MapJitOff();
	values[0] = ObjectIdGetDatum(relid);
	ret = SPI_execute_with_args(fk_inbound_sql, 1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "foreign key lookup failed: %d", ret);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		MapHop	   *h = MemoryContextAllocZero(outer, sizeof(MapHop));
		int			n1,
					n2;

		h->rel = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
		h->prel = relid;
		n1 = int2_array(SPI_getbinval(tup, td, 2, &isnull), h->cols);
		n2 = int2_array(SPI_getbinval(tup, td, 3, &isnull), h->pcols);
		if (n1 != n2 || n1 == 0)
			continue;			/* a column could not be translated */
		h->ncols = n1;
		h->deltype = DatumGetChar(SPI_getbinval(tup, td, 4, &isnull));
		{
			MemoryContext old = MemoryContextSwitchTo(outer);

			result = lappend(result, h);
			MemoryContextSwitchTo(old);
		}
	}
	MapJitRestore(nest);
	SPI_finish();
	return result;
}

/* hash of the walk's entries by table, and of the graph's edges (walk) */
typedef struct OidEntry
{
	Oid			key;
	void	   *ptr;			/* WalkEntry *, or List * of FkEdge * */
} OidEntry;

static HTAB *walk_entries = NULL;

static HTAB *
oid_hash(const char *name)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(OidEntry);
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(name, 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static WalkEntry *
find_entry(List *entries, Oid relid)
{
	OidEntry   *h;

	if (walk_entries == NULL)
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
	h = hash_search(walk_entries, &relid, HASH_FIND, NULL);
	return h ? h->ptr : NULL;
}

/* the list of edges of the graph keyed by relid (NIL when none) */
static List *
edges_of(HTAB *idx, Oid relid)
{
	OidEntry   *h = hash_search(idx, &relid, HASH_FIND, NULL);

	return h ? h->ptr : NIL;
}

static void
index_edge(HTAB *idx, Oid relid, FkEdge *f)
{
	bool		found;
	OidEntry   *h = hash_search(idx, &relid, HASH_ENTER, &found);

	if (!found)
		h->ptr = NIL;
	h->ptr = lappend((List *) h->ptr, f);
}

static bool
hop_same(MapHop *a, MapHop *b)
{
	return a->rel == b->rel && a->prel == b->prel && a->link == b->link && a->ncols == b->ncols &&
		memcmp(a->cols, b->cols, sizeof(AttrNumber) * a->ncols) == 0 &&
		memcmp(a->pcols, b->pcols, sizeof(AttrNumber) * a->ncols) == 0;
}

/* add edge h to the entry of h->rel (created when new); true when new */
static bool
add_edge(List **entries, MapHop *h, const char *via, bool outbound, int depth)
{
	WalkEntry  *e = find_entry(*entries, h->rel);
	ListCell   *lc;

	if (e == NULL)
	{
		e = palloc0(sizeof(WalkEntry));
		e->relid = h->rel;
		e->via = via;
		e->outbound = outbound;
		e->depth = depth;
		e->tree = h;
		e->edges = list_make1(h);
		*entries = lappend(*entries, e);
		if (walk_entries)
		{
			OidEntry   *he = hash_search(walk_entries, &e->relid, HASH_ENTER, NULL);

			he->ptr = e;
		}
		return true;
	}
	foreach(lc, e->edges)
		if (hop_same(lfirst(lc), h))
			return false;
	e->edges = lappend(e->edges, h);
	return false;
}

/*
 * walk
 *		The tables of the subject and their edges.  Runs inside SPI.
 */
static List *
walk(MapSubject *subj, List *links)
{
	List	   *entries = NIL;
	List	   *fks = load_fk_graph();
	List	   *classified = load_classified();
	WalkEntry  *root;
	ListCell   *lc,
			   *fc;
	int			pos;
	HTAB	   *byparent = oid_hash("privacy map edges by parent");
	HTAB	   *bychild = oid_hash("privacy map edges by child");

	foreach(fc, fks)
	{
		FkEdge	   *f = lfirst(fc);

		index_edge(byparent, f->parent, f);
		index_edge(bychild, f->child, f);
	}
	walk_entries = oid_hash("privacy map walk");
	root = palloc0(sizeof(WalkEntry));
	root->relid = subj->root;
	root->via = "root";
	entries = lappend(entries, root);
	{
		OidEntry   *he = hash_search(walk_entries, &root->relid, HASH_ENTER, NULL);

		he->ptr = root;
	}
	foreach(lc, links)
		add_edge(&entries, lfirst(lc), "link", false, 1);

	/* breadth first: entries is also the queue */
	for (pos = 0; pos < list_length(entries); pos++)
	{
		WalkEntry  *x = list_nth(entries, pos);

		CHECK_FOR_INTERRUPTS();
		foreach(fc, edges_of(byparent, x->relid))
		{
			FkEdge	   *f = lfirst(fc);
			MapHop	   *h;
			WalkEntry  *e;

			if (f->child == subj->root)
				continue;
			e = find_entry(entries, f->child);
			if (e && e->outbound)
				continue;
			h = palloc0(sizeof(MapHop));
			h->rel = f->child;
			h->prel = f->parent;
			h->ncols = f->ncols;
			memcpy(h->cols, f->ccols, sizeof(h->cols));
			memcpy(h->pcols, f->pcols, sizeof(h->pcols));
			h->deltype = f->deltype;
			add_edge(&entries, h, "fk", false, x->depth + 1);
		}
	}

	/* outbound: tables with classified columns that mapped rows point to */
	{
		List	   *mapped = list_copy(entries);

		foreach(lc, mapped)
		{
			WalkEntry  *m = lfirst(lc);

			foreach(fc, edges_of(bychild, m->relid))
			{
				FkEdge	   *f = lfirst(fc);
				WalkEntry  *e;
				MapHop	   *h;

				if (!list_member_oid(classified, f->parent))
					continue;
				e = find_entry(entries, f->parent);
				if (e && !e->outbound)
					continue;	/* mapped as a referencing table */
				h = palloc0(sizeof(MapHop));
				h->rel = f->parent;
				h->prel = f->child;
				h->ncols = f->ncols;
				memcpy(h->cols, f->pcols, sizeof(h->cols));
				memcpy(h->pcols, f->ccols, sizeof(h->pcols));
				add_edge(&entries, h, "fk", true, m->depth + 1);
			}
		}
	}
	return entries;
}

/* JSON of the edges of an entry: one one-hop path per edge */
static char *
edges_json(List *edges)
{
	StringInfoData b;
	ListCell   *hc;
	int			i;

	initStringInfo(&b);
	appendStringInfoChar(&b, '[');
	foreach(hc, edges)
	{
		MapHop	   *h = lfirst(hc);

		if (foreach_current_index(hc) > 0)
			appendStringInfoChar(&b, ',');
		appendStringInfo(&b, "[{\"t\":%u,\"p\":%u,\"link\":%s,\"c\":[", h->rel, h->prel,
						 h->link ? "true" : "false");
		for (i = 0; i < h->ncols; i++)
			appendStringInfo(&b, "%s%d", i ? "," : "", h->cols[i]);
		appendStringInfoString(&b, "],\"pc\":[");
		for (i = 0; i < (h->link ? 0 : h->ncols); i++)
			appendStringInfo(&b, "%s%d", i ? "," : "", h->pcols[i]);
		appendStringInfoString(&b, "]}]");
	}
	appendStringInfoChar(&b, ']');
	return b.data;
}

/* readable text of a shortest path: t(c) -> p(pc) / ... */
static char *
path_text(MapSubject *subj, List *entries, WalkEntry *e)
{
	StringInfoData b;
	int			guard = list_length(entries) + 1;

	initStringInfo(&b);
	if (e->tree == NULL)
	{
		appendStringInfo(&b, "%s(%s)", UtilQualifiedName(e->relid), subj->key_column);
		return b.data;
	}
	while (e && e->tree && guard-- > 0)
	{
		MapHop	   *h = e->tree;

		if (b.len > 0)
			appendStringInfoString(&b, " / ");
		if (h->link)
		{
			appendStringInfo(&b, "%s(%s) = %s(%s)", UtilQualifiedName(h->rel),
							 col_name(h->rel, h->cols[0]),
							 UtilQualifiedName(subj->root), subj->key_column);
			break;
		}
		appendStringInfo(&b, "%s(%s) -> %s(%s)", UtilQualifiedName(h->rel),
						 cols_text(h->rel, h->cols, h->ncols),
						 UtilQualifiedName(h->prel), cols_text(h->prel, h->pcols, h->ncols));
		e = find_entry(entries, h->prel);
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
				 errmsg("the root table of subject type \"%s\" no longer exists", name),
				 errdetail("Its holds, restrictions and consents are kept."),
				 errhint("Define the subject type again with privacy.define_subject().")));
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
							col, get_rel_name(h->rel)),
					 errhint("Remove the link with privacy.unlink() before dropping or renaming its column.")));
		links = lappend(links, h);
	}
	return links;
}

/*
 * MapRefresh
 *		Recompute the map of one subject type into privacy.map (writing
 *		only what changed; caches are invalidated when something did).  Refreshes
 *		of one subject type are serialized (a transaction-level advisory
 *		lock taken before anything is read): two migrations that each add a
 *		table both end up in the map, the second one seeing the first's
 *		table once it committed.
 */
void
MapRefresh(const char *name)
{
	MapSubject *subj;
	List	   *entries;
	ListCell   *lc;
	int			ret;
	int			nest;
	int			n,
				i;
	Datum	   *oids,
			   *vias,
			   *depths,
			   *texts,
			   *jsons,
			   *outs;
	Oid			argtypes[7] = {TEXTOID, OIDARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, BOOLARRAYOID};
	Datum		values[7];
	bool		changed;

	UtilSpiConnect();
	nest = MapJitOff();
	{
		Datum		v[1];
		Oid			t[1] = {TEXTOID};

		v[0] = CStringGetTextDatum(name);
		ret = SPI_execute_with_args("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('privacy.map'),"
									" pg_catalog.hashtext($1 COLLATE \"C\"))", 1, t, v, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not lock the map: %d", ret);
	}
	subj = load_subject_row(name, CurrentMemoryContext);
	if (subj == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subject type \"%s\" does not exist", name)));
	walk_entries = NULL;		/* a previous walk's, freed with its context */
	entries = walk(subj, load_links(subj));

	n = list_length(entries);
	oids = palloc(sizeof(Datum) * n);
	vias = palloc(sizeof(Datum) * n);
	depths = palloc(sizeof(Datum) * n);
	texts = palloc(sizeof(Datum) * n);
	jsons = palloc(sizeof(Datum) * n);
	outs = palloc(sizeof(Datum) * n);
	i = 0;
	foreach(lc, entries)
	{
		WalkEntry  *e = lfirst(lc);
		StringInfoData txt;
		int			more = list_length(e->edges) - 1;

		initStringInfo(&txt);
		appendStringInfoString(&txt, path_text(subj, entries, e));
		if (more > 0)
			appendStringInfo(&txt, " (+%d more foreign key%s)", more, more > 1 ? "s" : "");
		oids[i] = ObjectIdGetDatum(e->relid);
		vias[i] = CStringGetTextDatum(e->via);
		depths[i] = Int32GetDatum(e->depth);
		texts[i] = CStringGetTextDatum(txt.data);
		jsons[i] = CStringGetTextDatum(edges_json(e->edges));
		outs[i] = BoolGetDatum(e->outbound);
		i++;
	}
	values[0] = CStringGetTextDatum(name);
	values[1] = PointerGetDatum(construct_array(oids, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(vias, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(depths, n, INT4OID, 4, true, TYPALIGN_INT));
	values[4] = PointerGetDatum(construct_array(texts, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[5] = PointerGetDatum(construct_array(jsons, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[6] = PointerGetDatum(construct_array(outs, n, BOOLOID, 1, true, TYPALIGN_CHAR));

	/*
	 * Only the rows that differ are written (a DDL that changes nothing in
	 * the map writes nothing, a new table one row), and only a change
	 * invalidates the backends' caches.
	 */
	ret = SPI_execute_with_args("WITH n AS (SELECT u.t, u.v, u.d, u.p, u.j::jsonb AS j, u.o"
								"  FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4),"
								"  pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7)) u(t, v, d, p, j, o)),"
								" del AS (DELETE FROM privacy.map m WHERE m.subject OPERATOR(pg_catalog.=) $1"
								"  AND NOT EXISTS (SELECT FROM n WHERE n.t OPERATOR(pg_catalog.=) m.table_name::oid) RETURNING 1),"
								" upd AS (UPDATE privacy.map m SET via = n.v, depth = n.d, path = n.p, paths = n.j, outbound = n.o"
								"  FROM n WHERE m.subject OPERATOR(pg_catalog.=) $1 AND m.table_name::oid OPERATOR(pg_catalog.=) n.t"
								"  AND (m.via, m.depth, m.path, m.paths, m.outbound) IS DISTINCT FROM (n.v, n.d, n.p, n.j, n.o)"
								"  RETURNING 1),"
								" ins AS (INSERT INTO privacy.map (subject, table_name, via, depth, path, paths, outbound)"
								"  SELECT $1, n.t, n.v, n.d, n.p, n.j, n.o FROM n WHERE NOT EXISTS (SELECT FROM privacy.map m"
								"   WHERE m.subject OPERATOR(pg_catalog.=) $1 AND m.table_name::oid OPERATOR(pg_catalog.=) n.t)"
								"  RETURNING 1)"
								" SELECT (SELECT pg_catalog.count(*) FROM del) + (SELECT pg_catalog.count(*) FROM upd)"
								"  + (SELECT pg_catalog.count(*) FROM ins)",
								7, argtypes, values, NULL, false, 0);
	walk_entries = NULL;
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not store the map: %d", ret);
	{
		bool		isnull;

		changed = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) > 0;
	}
	MapJitRestore(nest);
	SPI_finish();
	if (changed)
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
"SELECT m.table_name::oid, p.o, (h.v->>'t')::oid, (h.v->>'p')::oid, (h.v->>'link')::boolean,"
" ARRAY(SELECT pg_catalog.jsonb_array_elements_text(h.v->'c')::int2),"
" ARRAY(SELECT pg_catalog.jsonb_array_elements_text(h.v->'pc')::int2)"
" FROM privacy.map m, pg_catalog.jsonb_array_elements(m.paths) WITH ORDINALITY p(path, o),"
" pg_catalog.jsonb_array_elements(p.path) WITH ORDINALITY h(v, ho)"
" WHERE m.subject = $1 ORDER BY m.table_name::oid, p.o, h.ho";

static const char *load_columns_sql =
"SELECT c.table_name::oid, c.column_name::text, a.attnum, a.atttypid, c.category, c.erasure, c.portable, a.attnotnull"
" FROM privacy.classifications c JOIN pg_catalog.pg_attribute a"
"  ON a.attrelid = c.table_name AND a.attname = c.column_name AND NOT a.attisdropped"
" WHERE c.table_name IN (SELECT m.table_name FROM privacy.map m WHERE m.subject = $1)"
" ORDER BY c.table_name::oid, a.attnum";

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
	HTAB	   *byrel = oid_hash("privacy map load");
	ListCell   *lc;
	MapTable   *mt = NULL;
	Oid			currel = InvalidOid;
	int			curpath = -1;
	List	   *path = NIL;

	foreach(lc, subj->tables)
	{
		MapTable   *t = lfirst(lc);
		OidEntry   *he = hash_search(byrel, &t->relid, HASH_ENTER, NULL);

		he->ptr = t;
	}
	values[0] = CStringGetTextDatum(subj->name);
	ret = SPI_execute_with_args(load_hops_sql, 1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "map lookup failed: %d", ret);
	tt = SPI_tuptable;
	n = SPI_processed;
	MemoryContextSwitchTo(load_cxt);
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = tt->vals[i];
		TupleDesc	td = tt->tupdesc;
		bool		isnull;
		Oid			rel = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
		int			o = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
		MapHop	   *h;

		if (rel != currel)
		{
			OidEntry   *he;

			if (mt && curpath != -1)
				mt->paths = lappend(mt->paths, path);
			he = hash_search(byrel, &rel, HASH_FIND, NULL);
			mt = he ? he->ptr : NULL;
			currel = rel;
			curpath = -1;
			path = NIL;
		}
		if (mt == NULL)
			continue;			/* a table dropped since */
		h = palloc0(sizeof(MapHop));
		h->rel = DatumGetObjectId(SPI_getbinval(tup, td, 3, &isnull));
		h->prel = DatumGetObjectId(SPI_getbinval(tup, td, 4, &isnull));
		h->link = DatumGetBool(SPI_getbinval(tup, td, 5, &isnull));
		h->ncols = int2_array(SPI_getbinval(tup, td, 6, &isnull), h->cols);
		(void) int2_array(SPI_getbinval(tup, td, 7, &isnull), h->pcols);
		if (o != curpath)
		{
			if (curpath != -1)
				mt->paths = lappend(mt->paths, path);
			path = NIL;
			curpath = o;
		}
		path = lappend(path, h);
	}
	if (mt && curpath != -1)
		mt->paths = lappend(mt->paths, path);
	foreach(lc, subj->tables)
	{
		MapTable   *t = lfirst(lc);

		if (t->paths == NIL)
			t->paths = list_make1(NIL);	/* the root */
	}

	ret = SPI_execute_with_args(load_columns_sql, 1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "classification lookup failed: %d", ret);
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
	subj = load_subject_row(name, cxt);
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
	ret = SPI_execute_with_args(load_tables_sql, 1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "map lookup failed: %d", ret);
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
		mt->qualname = UtilQualifiedName(mt->relid);
		mt->jsonkey = mt->qualname;
		mt->partitioned = is_partitioned(mt->relid);
		subj->tables = lappend(subj->tables, mt);
	}
	{
		ListCell   *lc;

		load_tables(subj);
		/* conditions need every table's edges */
		foreach(lc, subj->tables)
		{
			MapTable   *mt = lfirst(lc);

			mt->cond = MapCondition(subj, mt, "t", "$1");
		}
		call_prepare_subject(subj);
	}
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
			List	   *keep = NIL;
			MemoryContext old = MemoryContextSwitchTo(map_cache_cxt);

			foreach(lc, map_dead)
			{
				MapSubject *s = lfirst(lc);

				if (s->pins > 0)
					keep = lappend(keep, s);
				else
					free_entry(s);
			}
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
	MapInvalidate();
	CitusWarnColocation(MapGetSubject(name));	/* CITUS HOOK */
	snprintf(detail, sizeof(detail), "{\"root\":%u}", root);
	AuditAppend("define_subject", NULL, detail);
	PG_RETURN_VOID();
}

/*
 * check_link_spelling
 *		A text link column is matched on the canonical text of the id (so
 *		that its index is used): a value in another spelling of a key (an
 *		upper-case or braced uuid, '042' or ' 42' for a bigint key) would be
 *		invisible to access and survive erase.  For the built-in key types
 *		whose spellings are known (integers, uuid), refuse the link while
 *		rows hold such values, with their count and the statement that
 *		rewrites them.  Values that are no key at all ('anonymous') belong
 *		to nobody and are left alone.  Counts as the table's owner; runs
 *		inside SPI.
 */
static void
check_link_spelling(MapSubject *subj, Oid relid, AttrNumber att, const char *col)
{
	Oid			coltype,
				collid;
	int32		coltypmod;
	const char *canonical;
	const char *parses;
	PrivacyUserSwitch sw;
	int			ret;
	bool		isnull;
	int64		bad;

	get_atttypetypmodcoll(relid, att, &coltype, &coltypmod, &collid);
	if (coltype != TEXTOID && coltype != VARCHAROID && coltype != BPCHAROID)
		return;
	switch (subj->key_type)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			canonical = "^(0|-?[1-9][0-9]*)$";
			parses = "^\\s*[-+]?[0-9]+\\s*$";
			break;
		case UUIDOID:
			canonical = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
			parses = "^\\{?[0-9a-fA-F]{4}(-?[0-9a-fA-F]{4}){7}\\}?$";
			break;
		default:
			return;
	}
	sw.frame = GuardEnterTableOwner(relid);
	ret = SPI_execute(psprintf("SELECT pg_catalog.count(*) FROM %s t WHERE t.%s IS NOT NULL"
							   " AND CAST(t.%s AS pg_catalog.text) OPERATOR(pg_catalog.~) %s"
							   " AND NOT (CAST(t.%s AS pg_catalog.text) OPERATOR(pg_catalog.~) %s)",
							   UtilQualifiedName(relid), quote_identifier(col),
							   quote_identifier(col), quote_literal_cstr(parses),
							   quote_identifier(col), quote_literal_cstr(canonical)),
					  true, 0);
	GuardLeave(sw.frame);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not check the link column: %d", ret);
	bad = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (bad > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of \"%s\" holds %s keys in another spelling than their canonical text",
						col, get_rel_name(relid), format_type_be(subj->key_type)),
				 errdetail("%lld rows hold such a value; rights calls would not find them.",
						   (long long) bad),
				 errhint("Rewrite them to the canonical text first, e.g. UPDATE %s SET %s = CAST(CAST(%s AS %s) AS text) WHERE ...;",
						 UtilQualifiedName(relid), quote_identifier(col), quote_identifier(col),
						 format_type_be(subj->key_type))));
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
	check_link_spelling(subj, relid, att, col);
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
	 * during an erasure waits for it, and is not left behind by it.  One
	 * trigger per linked column (named by its attribute number): a second
	 * link on the same table keeps the first one's protection.
	 */
	{
		char	   *trg = psprintf("privacy_link_%d_%s", att, name);

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
	MapInvalidate();
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
	/* a subject type whose root was dropped keeps its records, not a map */
	if (SPI_execute("SELECT s.name FROM privacy.subject_types s WHERE EXISTS (SELECT FROM pg_catalog.pg_class k"
					" WHERE k.oid OPERATOR(pg_catalog.=) s.root::oid) ORDER BY s.name", false, 0) != SPI_OK_SELECT)
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
