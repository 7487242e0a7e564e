/*-------------------------------------------------------------------------
 * map.h
 *		Internal declarations shared by the files of the data map (the
 *		exported API is in privacy.h):
 *		map_catalog.c	small catalog helpers
 *		map_compile.c	compiling conditions and key expressions
 *		map_call.c		per-call key sets and kept group plans
 *		map_walk.c		the walk over the foreign-key graph, MapRefresh
 *		map_cache.c		loading the cache, pinning, invalidation
 *		map_api.c		the SQL-callable functions
 *-------------------------------------------------------------------------
 */
#ifndef MAP_H
#define MAP_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"

#include "privacy.h"

/* ---- map_catalog.c ---- */

/* name of column attnum of relid; 42703 with a hint when it is gone */
extern char *MapColName(Oid relid, AttrNumber attnum);
/* "alias"."c1", "alias"."c2" */
extern void MapAppendCols(StringInfo buf, const char *alias, Oid relid,
						  const AttrNumber *cols, int ncols);
/* human-readable column list "c1, c2" */
extern void MapAppendColNames(StringInfo buf, Oid relid, const AttrNumber *cols, int ncols);
extern char *MapColsText(Oid relid, const AttrNumber *cols, int ncols);
extern bool MapIsPartitioned(Oid relid);
/* relid must be an ordinary or partitioned table that can be mapped */
extern void MapCheckTable(Oid relid, const char *argname);
/* copy an int2[] datum into an AttrNumber array (at most 32); the count */
extern int	MapInt2Array(Datum d, AttrNumber *out);

/*
 * An entry of a hash table keyed by OID (MapOidHash): the walk's entries by
 * table, the graph's edges by table, the loaded tables of a subject.
 */
typedef struct OidEntry
{
	Oid			key;
	void	   *ptr;			/* WalkEntry *, List * of FkEdge *, MapTable * */
} OidEntry;

/* a hash table of OidEntry, in the current memory context */
extern HTAB *MapOidHash(const char *name);
/* a subject type's root and key, inside SPI, in cxt; NULL when unknown */
extern MapSubject *MapLoadSubjectRow(const char *name, MemoryContext cxt);

/* ---- map_compile.c ---- */

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

/* a direct edge: compared with the key itself, no table above needed */
extern bool MapEdgeIsDirect(MapSubject *subj, MapHop *h);
/* the edge leads to a table whose subject rows come from a WITH item */
extern bool MapEdgeNeedsSet(MapSubject *subj, MapHop *h);
/* the edges of a mapped table (each path of the cache is one edge) */
extern List *MapTableEdges(MapTable *mt);
/* index of relid in subj->tables, or -1 */
extern void MapBuildTableIndex(MapSubject *subj);
/* Tarjan over the edges "child -> parent" of the closure */
extern void MapCondStrongConnect(CondCtx *cx, int v);
/* condition: row alias of h->rel points along edge h at a subject row */
extern void MapAppendMatch(StringInfo buf, CondCtx *cx, MapHop *h, const char *alias);

/* ---- map_call.c ---- */

/* at load: the needed columns, components and per-call conditions */
extern void MapCallPrepareSubject(MapSubject *subj);

#endif							/* MAP_H */
