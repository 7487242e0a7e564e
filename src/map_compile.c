/*-------------------------------------------------------------------------
 * map_compile.c
 *		Compiling a mapped table's conditions: "row t belongs to the subject
 *		whose key is $1" (MapCondition), link key expressions (MapLinkKeyExpr)
 *		and the key expressions along every path (MapKeyExprs).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "common/hashfn.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "citus.h"
#include "map.h"
#include "privacy.h"

/* MapKeyExprs enumerates paths; at most this many per table */
#define MAP_MAX_KEYEXPRS 64

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
bool
MapEdgeIsDirect(MapSubject *subj, MapHop *h)
{
	return h->link || (h->prel == subj->root && h->ncols == 1 &&
					   h->pcols[0] == subj->key_attnum);
}

/*
 * MapKeyColMatch
 *		"lhs <op> rhs": column att of relid compared with the key (one of
 *		lhs and rhs each) as the root's unique key compares keys, when the column is of the
 *		key's base type: with the key type's own equality (MapKeyEqOperator:
 *		citext's, wherever it lives) and, when the column's collation is not
 *		the root key's and one of them is nondeterministic, under the root
 *		key's collation (as the foreign key's own check compares them).
 *		Otherwise, and for integer, uuid and text keys under one collation,
 *		dflt (the SQL is unchanged).  An unqualified "=" resolved under the
 *		owner's search_path, or OPERATOR(pg_catalog.=), compared citext keys
 *		as text when citext's schema was not on that path, and a column
 *		under another collation compared case-sensitively.
 */
char *
MapKeyColMatch(MapSubject *subj, Oid relid, AttrNumber att, const char *lhs, const char *rhs,
			   const char *dflt)
{
	const char *op = dflt;
	char	   *collate = "";
	Oid			typid,
				coll,
				rtyp,
				rcoll;
	int32		typmod,
				rtypmod;

	get_atttypetypmodcoll(relid, att, &typid, &typmod, &coll);
	if (getBaseType(typid) == getBaseType(subj->key_type))
	{
		if (strcmp(subj->key_eq, "OPERATOR(pg_catalog.=)") != 0)
			op = subj->key_eq;
		get_atttypetypmodcoll(subj->root, subj->key_attnum, &rtyp, &rtypmod, &rcoll);
		if (OidIsValid(rcoll) && rcoll != coll &&
			(!get_collation_isdeterministic(rcoll) ||
			 (OidIsValid(coll) && !get_collation_isdeterministic(coll))))
		{
			HeapTuple	tup = SearchSysCache1(COLLOID, ObjectIdGetDatum(rcoll));
			Form_pg_collation c;

			if (!HeapTupleIsValid(tup))
				elog(ERROR, "cache lookup failed for collation %u", rcoll);
			c = (Form_pg_collation) GETSTRUCT(tup);
			collate = psprintf(" COLLATE %s.%s",
							   quote_identifier(get_namespace_name(c->collnamespace)),
							   quote_identifier(NameStr(c->collname)));
			ReleaseSysCache(tup);
		}
	}
	return psprintf("%s %s %s%s", lhs, op, rhs, collate);
}

/* the edge leads to a table whose subject rows come from a WITH item */
bool
MapEdgeNeedsSet(MapSubject *subj, MapHop *h)
{
	return !h->link && !MapEdgeIsDirect(subj, h);
}

/* the edges of a mapped table (each path of the cache is one edge) */
List *
MapTableEdges(MapTable *mt)
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
int
MapTableIndex(MapSubject *subj, Oid relid)
{
	ListCell   *lc;
	int			i = 0;

	if (subj->index_oid != NULL)
	{
		uint32		h = murmurhash32((uint32) relid) & subj->index_mask;

		/* linear probing; the table is at most half full */
		while (OidIsValid(subj->index_oid[h]))
		{
			if (subj->index_oid[h] == relid)
				return subj->index_pos[h];
			h = (h + 1) & subj->index_mask;
		}
		return -1;
	}
	foreach(lc, subj->tables)
	{
		if (((MapTable *) lfirst(lc))->relid == relid)
			return i;
		i++;
	}
	return -1;
}

/*
 * MapBuildTableIndex
 *		The relid -> position index of subj->tables that MapTableIndex uses
 *		(a call on a map of n tables looks positions up O(n) times), in
 *		subj->cxt.  Called once the table list is complete.
 */
void
MapBuildTableIndex(MapSubject *subj)
{
	uint32		size = 16;
	ListCell   *lc;

	while (size < 2 * (uint32) list_length(subj->tables) + 1)
		size <<= 1;
	subj->index_oid = MemoryContextAllocZero(subj->cxt, sizeof(Oid) * size);
	subj->index_pos = MemoryContextAllocZero(subj->cxt, sizeof(int) * size);
	subj->index_mask = size - 1;
	foreach(lc, subj->tables)
	{
		Oid			relid = ((MapTable *) lfirst(lc))->relid;
		uint32		h = murmurhash32((uint32) relid) & subj->index_mask;

		while (OidIsValid(subj->index_oid[h]) && subj->index_oid[h] != relid)
			h = (h + 1) & subj->index_mask;
		if (subj->index_oid[h] == relid)
			continue;			/* the first position, as the list search */
		subj->index_oid[h] = relid;
		subj->index_pos[h] = foreach_current_index(lc);
	}
}

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
void
MapCondStrongConnect(CondCtx *cx, int v)
{
	CondNode   *n = &cx->nodes[v];
	ListCell   *lc;

	n->index = n->lowlink = ++cx->counter;
	cx->stack = lcons_int(v, cx->stack);
	n->onstack = true;
	foreach(lc, MapTableEdges(n->mt))
	{
		MapHop	   *h = lfirst(lc);
		int			w;

		if (!MapEdgeNeedsSet(cx->subj, h))
			continue;
		w = MapTableIndex(cx->subj, h->prel);
		if (w < 0)
			elog(ERROR, "map edge to a table outside the map");
		if (w == v)
			n->selfloop = true;
		if (cx->nodes[w].index == 0)
		{
			MapCondStrongConnect(cx, w);
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
 * MapAppendMatch
 *		Condition: row alias of h->rel points along edge h at a row of the
 *		subject (keyexpr).
 */
/*
 * MapKeysPrivate
 *		While on, the conditions MapCondition builds compare a link column
 *		of a type of a user's (a domain, an enum or composite with its
 *		owner's casts) with the key the other way round: the column's value
 *		converted to the key's type, not the key to the column's.  On for
 *		retention's hold filter of a referenced (outbound) table, whose
 *		keys are every held key of the subject type (privacy._held_keys):
 *		converted to the column's type, each went through the domain's
 *		CHECK or the cast function of the type's owner, who could log them
 *		(erase's check of other held subjects ran it on every erasure).
 *		Returns the previous setting.
 */
static bool map_keys_private = false;

bool
MapKeysPrivate(bool on)
{
	bool		was = map_keys_private;

	map_keys_private = on;
	return was;
}

static void append_match(StringInfo buf, CondCtx *cx, MapHop *h, const char *alias);

void
MapAppendMatch(StringInfo buf, CondCtx *cx, MapHop *h, const char *alias)
{
	/* an outbound key into one partition: that partition's rows only */
	if (h->nrleaves > 0)
		appendStringInfoChar(buf, '(');
	append_match(buf, cx, h, alias);
	if (h->nrleaves > 0)
		appendStringInfo(buf, "%s)", MapHopRelLeaves(h, alias));
}

static void
append_match(StringInfo buf, CondCtx *cx, MapHop *h, const char *alias)
{
	MapSubject *subj = cx->subj;

	if (h->link && map_keys_private)
	{
		Oid			typid = get_atttype(h->rel, h->cols[0]);

		if (typid != subj->key_type && typid >= FirstNormalObjectId)
		{
			/*
			 * the keys never pass through the column type's code: a domain
			 * over the key's type compared as it (no CHECK runs on a
			 * comparison), another type's value as text converted to the
			 * key's type (its own value through its owner's code)
			 */
			char	   *col = psprintf("%s.%s", alias, quote_identifier(MapColName(h->rel, h->cols[0])));

			if (getBaseType(typid) == getBaseType(subj->key_type))
				appendStringInfoString(buf, MapLinkFiltered(h, alias,
															MapKeyColMatch(subj, h->rel, h->cols[0], col,
																		   psprintf("(%s)", cx->keyexpr), "=")));
			else
				appendStringInfoString(buf, MapLinkFiltered(h, alias,
															psprintf("privacy._link_key(CAST(NULL AS %s), CAST(%s AS pg_catalog.text)) %s (%s)",
																	 format_type_be_qualified(getBaseType(subj->key_type)), col,
																	 subj->key_eq, cx->keyexpr)));
			return;
		}
	}
	if (h->link)
	{
		appendStringInfoString(buf, MapLinkFiltered(h, alias,
													MapLinkMatch(subj, h->rel, h->cols[0],
																 psprintf("%s.%s", alias, quote_identifier(MapColName(h->rel, h->cols[0]))),
																 cx->keyexpr, "=")));
		return;
	}
	if (MapEdgeIsDirect(subj, h))
	{
		appendStringInfoString(buf, MapKeyColMatch(subj, h->rel, h->cols[0],
												   psprintf("%s.%s", alias, quote_identifier(MapColName(h->rel, h->cols[0]))),
												   psprintf("(%s)", cx->keyexpr), "="));
		return;
	}
	if (MapLinkFilter(h, alias) != NULL)
		appendStringInfo(buf, "(%s AND ", MapLinkFilter(h, alias));
	appendStringInfo(buf, "%s IN (SELECT ", MapHopCols(h, alias));
	if (h->prel == subj->root)
	{
		MapAppendCols(buf, "r", h->prel, h->pcols, h->ncols);
		appendStringInfo(buf, " FROM %s r WHERE r.%s %s (%s))",
						 UtilFromName(subj->root), quote_identifier(subj->key_column),
						 subj->key_eq, cx->keyexpr);
	}
	else
	{
		append_set_cols(buf, "s", h->pcols, h->ncols);
		appendStringInfo(buf, " FROM s%d s)", MapTableIndex(subj, h->prel));
	}
	if (MapLinkFilter(h, alias) != NULL)
		appendStringInfoChar(buf, ')');
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
								 quote_identifier(MapColName(m->mt->relid, att)), ty);
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
			if (n0->mt->relid == cx->subj->root)
			{
				/* the root row's columns that a non-key edge points at */
				appendStringInfoString(buf, "SELECT ");
				foreach(ac, n0->needed)
					appendStringInfo(buf, "%sp.%s AS a%d", foreach_current_index(ac) ? ", " : "",
									 quote_identifier(MapColName(n0->mt->relid, lfirst_int(ac))),
									 lfirst_int(ac));
				appendStringInfo(buf, " FROM %s p WHERE p.%s %s (%s))", n0->mt->qualname,
								 quote_identifier(cx->subj->key_column), cx->subj->key_eq,
								 cx->keyexpr);
				continue;
			}
			foreach(ec, MapTableEdges(n0->mt))
			{
				MapHop	   *h = lfirst(ec);

				appendStringInfo(buf, "%sSELECT ", firstb ? "" : " UNION ");
				firstb = false;
				foreach(ac, n0->needed)
					appendStringInfo(buf, "%sp.%s AS a%d", foreach_current_index(ac) ? ", " : "",
									 quote_identifier(MapColName(n0->mt->relid, lfirst_int(ac))),
									 lfirst_int(ac));
				appendStringInfo(buf, " FROM %s p WHERE ", n0->mt->qualname);
				MapAppendMatch(buf, cx, h, "p");
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

				foreach(ec, MapTableEdges(n->mt))
				{
					MapHop	   *h = lfirst(ec);
					int			w = MapEdgeNeedsSet(cx->subj, h) ? MapTableIndex(cx->subj, h->prel) : -1;

					if (w >= 0 && cx->nodes[w].scc == n->scc && cx->in[w])
						continue;	/* inside the cycle: the recursive part */
					if (!firstb)
						appendStringInfoString(buf, " UNION ");
					firstb = false;
					append_scc_row(buf, comp, n, "p");
					appendStringInfo(buf, " FROM %s p WHERE ", n->mt->qualname);
					MapAppendMatch(buf, cx, h, "p");
				}
			}
			if (firstb)
				elog(ERROR, "a cycle of the map has no way to the root");
			appendStringInfo(buf, " UNION SELECT x.* FROM r%d r CROSS JOIN LATERAL (", n0->scc);
			foreach(lc, comp)
			{
				CondNode   *n = lfirst(lc);

				foreach(ec, MapTableEdges(n->mt))
				{
					MapHop	   *h = lfirst(ec);
					int			w = MapEdgeNeedsSet(cx->subj, h) ? MapTableIndex(cx->subj, h->prel) : -1;
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
										 quote_identifier(MapColName(h->rel, h->cols[i])),
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
	int			t = MapTableIndex(subj, mt->relid);
	int			i;
	ListCell   *lc;
	bool		any = false;

	memset(cx, 0, sizeof(CondCtx));
	cx->subj = subj;
	cx->keyexpr = keyexpr;
	foreach(lc, MapTableEdges(mt))
		if (MapEdgeNeedsSet(subj, lfirst(lc)))
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
	MapCondStrongConnect(cx, t);
	for (i = 0; i < ntab; i++)
		cx->in[i] = cx->nodes[i].index > 0;
	/* the columns each table must provide to the tables below it */
	for (i = 0; i < ntab; i++)
	{
		if (!cx->in[i])
			continue;
		foreach(lc, MapTableEdges(cx->nodes[i].mt))
		{
			MapHop	   *h = lfirst(lc);

			if (MapEdgeNeedsSet(subj, h))
				add_needed(&cx->nodes[MapTableIndex(subj, h->prel)], h);
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
	if (MapLinkFilter(h, alias) != NULL)
		appendStringInfo(buf, "(%s AND ", MapLinkFilter(h, alias));
	appendStringInfo(buf, "%s IN (", MapHopCols(h, alias));
	append_with(buf, cx);
	appendStringInfoString(buf, "SELECT ");
	append_set_cols(buf, "s", h->pcols, h->ncols);
	appendStringInfo(buf, " FROM s%d s)", MapTableIndex(subj, h->prel));
	if (MapLinkFilter(h, alias) != NULL)
		appendStringInfoChar(buf, ')');
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
	List	   *edges = MapTableEdges(mt);
	CondCtx		cx;
	bool		with;
	bool		first = true;

	initStringInfo(&buf);
	if (edges == NIL)
	{
		/* the root */
		appendStringInfo(&buf, "%s.%s %s (%s)", alias,
						 quote_identifier(subj->key_column), subj->key_eq, keyexpr);
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
			MapAppendMatch(&buf, &cx, h, alias);
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
			if (with && !MapEdgeIsDirect(subj, lfirst(lc)))
				append_edge_in(&buf, &cx, subj, lfirst(lc), alias);
			else
				MapAppendMatch(&buf, &cx, lfirst(lc), alias);
			appendStringInfoChar(&buf, ')');
		}
		appendStringInfoChar(&buf, ')');
		return buf.data;
	}
	if (!with && !mt->partitioned)
	{
		bool		simple = true;

		foreach(lc, edges)
			if (!MapEdgeIsDirect(subj, lfirst(lc)))
				simple = false;
		if (simple)
		{
			appendStringInfoChar(&buf, '(');
			foreach(lc, edges)
			{
				appendStringInfoString(&buf, first ? "(" : " OR (");
				first = false;
				MapAppendMatch(&buf, &cx, lfirst(lc), alias);
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
		MapAppendMatch(&buf, &cx, lfirst(lc), "x");
	}
	appendStringInfoString(&buf, mt->partitioned ? ")" : "))");
	return buf.data;
}

/*
 * MapLinkKeyExpr
 *		The subject's key (keyexpr, of the root key's type keytype) as the
 *		type of link column att of relid.  The one place where an id is
 *		converted to a link column's type, and never lossily
 *		(privacy._link_key): to the column's type without its typmod
 *		(varchar(2) would cut '123' to '12'), between numeric types only
 *		when the value survives the way back (1.5 is no integer key), and a
 *		key the type cannot hold (70000 for a smallint, 'alice' for a uuid)
 *		is NULL, which matches no row, where a cast would fail the call.
 */
char *
MapLinkKeyExpr(Oid relid, AttrNumber att, const char *keyexpr, Oid keytype)
{
	Oid			typid;
	int32		typmod;
	Oid			collid;

	get_atttypetypmodcoll(relid, att, &typid, &typmod, &collid);
	if (typid == keytype)
		return psprintf("(%s)", keyexpr);
	return psprintf("privacy._link_key(CAST(NULL AS %s), (%s))", format_type_with_typemod(typid, -1), keyexpr);
}

/*
 * MapLinkUpperToo
 *		A text link column of a uuid key: matched on the id's canonical text
 *		and on the same in upper case (what SQL Server, .NET's "D" format in
 *		upper case and many logs write), each with the column's index.
 */
bool
MapLinkUpperToo(MapSubject *subj, Oid relid, AttrNumber att)
{
	Oid			base;

	if (getBaseType(subj->key_type) != UUIDOID)
		return false;
	base = getBaseType(get_atttype(relid, att));
	return base == TEXTOID || base == VARCHAROID || base == BPCHAROID;
}

/*
 * MapLinkFilter
 *		A polymorphic link's condition on row alias ("its type column holds
 *		the value", compared as text: a varchar type column keeps the index
 *		of Rails' (type, id) pair), or NULL for a plain link.  The value is
 *		configuration (a class or content type name), never a subject's.
 */
char *
MapLinkFilter(MapHop *h, const char *alias)
{
	if ((!h->link && !h->tlink) || h->tcol == InvalidAttrNumber || h->tval == NULL)
		return NULL;
	return psprintf("CAST(%s.%s AS pg_catalog.text) OPERATOR(pg_catalog.=) %s", alias,
					quote_identifier(MapColName(h->rel, h->tcol)), quote_literal_cstr(h->tval));
}

/*
 * MapHopCol
 *		Column i of edge h's table (row alias): for a link to a target whose
 *		key is of another type (Django's text object_pk for an integer
 *		key), its value converted to the key's type as links convert keys
 *		(privacy._link_key: a value that is no key is NULL, nobody's).
 */
char *
MapHopCol(MapHop *h, const char *alias, int i)
{
	char	   *col = psprintf("%s.%s", alias, quote_identifier(MapColName(h->rel, h->cols[i])));

	if (h->tlink && OidIsValid(h->conv))
		return psprintf("privacy._link_key(CAST(NULL AS %s), %s)", format_type_be_qualified(h->conv), col);
	return col;
}

/* "(c1, c2)" of edge h's table, each as MapHopCol */
char *
MapHopCols(MapHop *h, const char *alias)
{
	StringInfoData b;
	int			i;

	initStringInfo(&b);
	appendStringInfoChar(&b, '(');
	for (i = 0; i < h->ncols; i++)
		appendStringInfo(&b, "%s%s", i ? ", " : "", MapHopCol(h, alias, i));
	appendStringInfoChar(&b, ')');
	return b.data;
}

/* cond, and the link's filter when it has one */
char *
MapLinkFiltered(MapHop *h, const char *alias, char *cond)
{
	char	   *f = MapLinkFilter(h, alias);

	return f ? psprintf("(%s AND %s)", cond, f) : cond;
}

/*
 * MapLinkMatch
 *		"col op key" for link column att of relid (col: its qualified name),
 *		the key keyexpr converted as MapLinkKeyExpr does; for a text column
 *		of a uuid key, the upper-case spelling matches too (MapLinkUpperToo).
 */
char *
MapLinkMatch(MapSubject *subj, Oid relid, AttrNumber att, const char *col, const char *keyexpr,
			 const char *op)
{
	char	   *m = MapKeyColMatch(subj, relid, att, col,
								   MapLinkKeyExpr(relid, att, keyexpr, subj->key_type), op);
	char	   *upper;

	if (!MapLinkUpperToo(subj, relid, att))
		return m;
	upper = psprintf("pg_catalog.upper(privacy._link_key(CAST(NULL AS pg_catalog.text), (%s)))", keyexpr);
	return psprintf("(%s OR %s)", m,
					MapKeyColMatch(subj, relid, att, col, MapLinkKeyExpr(relid, att, upper, TEXTOID), op));
}

/*
 * link_key_exact
 *		x (a link column's value, or its conversion to the key's type) when
 *		the key's type with its modifier (varchar(36), numeric(10,0)) holds
 *		it exactly, else NULL: the cast to the key type that MapKeyExprs
 *		applies would cut or round it into another value, a key that is
 *		someone else's (as MapCondition, which compares the column with the
 *		id, never matches it).  x itself when the key has no modifier.
 */
static char *
link_key_exact(MapSubject *subj, const char *x)
{
	if (subj->key_typmod < 0)
		return pstrdup(x);
	return psprintf("CASE WHEN CAST((%s) AS %s) OPERATOR(pg_catalog.=) (%s) THEN (%s) END",
					x, format_type_with_typemod(subj->key_type, subj->key_typmod), x, x);
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
	if (h->link && getBaseType(get_atttype(h->rel, h->cols[0])) != getBaseType(subj->key_type))
	{
		/*
		 * a link column of another type (a text column holding ids): a
		 * value that is no key ('anonymous', a number out of range) belongs
		 * to nobody (NULL), where a cast would fail the whole statement
		 */
		char	   *x = psprintf("privacy._link_key(CAST(NULL AS %s), %s.%s)",
								 format_type_be_qualified(subj->key_type), alias,
								 quote_identifier(MapColName(h->rel, h->cols[0])));
		char	   *f = MapLinkFilter(h, alias);

		/* a row of another type of a polymorphic link: nobody's (NULL) */
		if (f)
			appendStringInfo(buf, "CASE WHEN %s THEN %s END", f, link_key_exact(subj, x));
		else
			appendStringInfoString(buf, link_key_exact(subj, x));
		return;
	}
	if (h->link || (idx == list_length(path) - 1 && MapEdgeIsDirect(subj, h)))
	{
		char	   *col = psprintf("%s.%s", alias, quote_identifier(MapColName(h->rel, h->cols[0])));

		/*
		 * a link column of the key's type with another modifier (Keycloak's
		 * varchar(255) user_id for a varchar(36) key): the key's cast would
		 * cut a longer value to a key that is someone else's, or merge the
		 * values that share their first characters into one subject
		 */
		if (h->link && subj->key_typmod >= 0)
		{
			Oid			ltype;
			int32		ltypmod;
			Oid			lcoll;

			get_atttypetypmodcoll(h->rel, h->cols[0], &ltype, &ltypmod, &lcoll);
			if (ltypmod != subj->key_typmod)
				col = link_key_exact(subj, col);
		}
		if (MapLinkFilter(h, alias) != NULL)
			col = psprintf("CASE WHEN %s THEN %s END", MapLinkFilter(h, alias), col);
		/* an outbound key into one partition: that partition's rows only */
		if (h->nrleaves > 0)
			col = psprintf("CASE WHEN true%s THEN %s END", MapHopRelLeaves(h, alias), col);

		if (subj->key_via_root)
		{
			/*
			 * the root row's spelling of the key ('bob' for a row's 'BOB'
			 * under a case-insensitive collation): holds, restrictions and
			 * subject keys know a subject by it
			 */
			char		ra[32];

			snprintf(ra, sizeof(ra), "k%d", ++(*aliasno));
			appendStringInfo(buf, "COALESCE((SELECT %s.%s FROM %s %s WHERE %s LIMIT 1), %s)",
							 ra, quote_identifier(subj->key_column), UtilFromName(subj->root), ra,
							 MapKeyColMatch(subj, h->rel, h->cols[0],
											psprintf("%s.%s", ra, quote_identifier(subj->key_column)),
											col, subj->key_eq),
							 col);
		}
		else
			appendStringInfoString(buf, col);
		return;
	}
	snprintf(next, sizeof(next), "k%d", ++(*aliasno));
	appendStringInfoString(buf, "(SELECT ");
	append_keyexpr(buf, subj, path, idx + 1, next, aliasno);
	appendStringInfo(buf, " FROM %s %s WHERE ", UtilFromName(h->prel), next);
	for (i = 0; i < h->ncols; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, " AND ");
		appendStringInfo(buf, "%s.%s = %s", next,
						 quote_identifier(MapColName(h->prel, h->pcols[i])), MapHopCol(h, alias, i));
	}
	/* a row of another type of a polymorphic target link: nobody's */
	if (MapLinkFilter(h, alias) != NULL)
		appendStringInfo(buf, " AND %s", MapLinkFilter(h, alias));
	/* an outbound key into one partition: that partition's rows only */
	appendStringInfo(buf, "%s LIMIT 1)", MapHopRelLeaves(h, alias));
}

/* simple paths from mt to the root over the map's edges, depth first */
static void
enum_paths(MapSubject *subj, MapTable *mt, List *prefix, List **out, int *count)
{
	ListCell   *lc;

	foreach(lc, MapTableEdges(mt))
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
 * MapKeyExprIsDirect
 *		Does the first of MapKeyExprs(subj, mt) read the root key from the
 *		row itself (the root's key column, a link column, or a foreign key
 *		straight to the root's key), so that it changes only when the row
 *		does?  False when it goes through another table (a row two hops
 *		away, a foreign key to another column of the root), whose rows can
 *		move the row to another subject without touching it.
 */
bool
MapKeyExprIsDirect(MapSubject *subj, MapTable *mt)
{
	List	   *paths = NIL;
	List	   *first;
	MapHop	   *h;
	int			count = 0;

	if (MapTableEdges(mt) == NIL)
		return true;
	enum_paths(subj, mt, NIL, &paths, &count);
	if (paths == NIL)
		return false;
	first = (List *) linitial(paths);
	if (first == NIL)
		return true;
	h = (MapHop *) linitial(first);
	return h->link || (list_length(first) == 1 && MapEdgeIsDirect(subj, h));
}

/*
 * MapKeyPaths
 *		The simple paths MapKeyExprs gives an expression for, in its order
 *		(each a List of MapHop *, the row's table first; NIL: the root).
 */
List *
MapKeyPaths(MapSubject *subj, MapTable *mt)
{
	List	   *paths = NIL;
	int			count = 0;

	if (MapTableEdges(mt) == NIL)
		return list_make1(NIL);
	enum_paths(subj, mt, NIL, &paths, &count);
	return paths;
}

/*
 * MapKeyExprAt
 *		MapKeyExprs' expression of path (one of MapKeyPaths) from its hop idx
 *		on, for row alias of that hop's table (of the root when idx is the
 *		path's length): with idx 0, the path's expression of MapKeyExprs.
 */
char *
MapKeyExprAt(MapSubject *subj, List *path, int idx, const char *alias)
{
	StringInfoData buf;
	int			aliasno = 0;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "CAST((");
	append_keyexpr(&buf, subj, path, idx, alias, &aliasno);
	appendStringInfo(&buf, ") AS %s)", format_type_with_typemod(subj->key_type, subj->key_typmod));
	return buf.data;
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

	if (MapTableEdges(mt) == NIL)
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
