/*-------------------------------------------------------------------------
 * erase.c
 *		Right to erasure (GDPR Art. 17): lock, plan, check, act, measure.
 *
 * Every statement of an erasure runs with the latest snapshot (as
 * PostgreSQL's own foreign-key triggers do), never with the transaction's:
 * under REPEATABLE READ or SERIALIZABLE an erasure acts on the rows present
 * when it runs, including rows committed after the transaction's snapshot
 * was taken.
 *
 * 1. Lock: the subject's root row FOR UPDATE (as its owner), so that
 *    foreign-key-linked inserts for this subject wait; for tables linked
 *    without a foreign key, an exclusive transaction advisory lock on the
 *    subject's key, which the trigger installed by link() takes in shared
 *    mode on every insert or update.  Then the subject's rows of every
 *    mapped table FOR UPDATE, parents first, by the statements that read
 *    the key sets of the call (MapCallBeginLocking): a row inserted below
 *    one of them waits for the erasure and then fails on its foreign key,
 *    and each table's set is read once the rows above it are locked.
 *    Every later statement finds the subject's rows through these sets
 *    (values, computed before anything changes, so they stay valid while
 *    the rows below are deleted).
 * 2. Holds are checked after the root lock, with the latest snapshot, so a
 *    hold committed while erase waited for the lock is seen; hold() locks
 *    the root row FOR KEY SHARE first.  Once the rows are known, a row that
 *    changes and belongs to another held subject (a shared row, or a row of
 *    another subject type's map) is 55000 too (check_others_held).
 * 3. Plan: tables in an order where referencing tables come before the
 *    tables they reference; per table, delete or anonymize (anonymize mode,
 *    or a column classified 'keep': the row is retained, the other
 *    classified columns rewritten).  Referenced (outbound) rows go only when
 *    nothing but this subject's erased rows references them.  Shared rows
 *    (rows that also reach another subject of the type through another
 *    path) are counted; with shared => 'keep' those of delete-mode tables
 *    stay and are detached (their references to the erased rows set NULL),
 *    except those that a NOT NULL ON DELETE CASCADE key ties to a row that
 *    goes: they go with it (doomed_cond).  The rows that stay are fixed by
 *    their ctids before acting (freeze_kept).
 * 4. Check, before anything changes, every foreign key into a table whose
 *    rows are deleted, by its ON DELETE action: NO ACTION / RESTRICT from a
 *    row that stays, or CASCADE into a row that must be kept (anonymize
 *    mode, 'keep' column, a shared row kept): 23503.  SET NULL / SET
 *    DEFAULT: the staying rows are counted as detached; SET NULL must fit
 *    their constraints.  The rows that stay and change (rewritten,
 *    detached, set null) are tested against their table's constraints by
 *    one SELECT as its owner (nv_run).  A cycle of keys among the tables
 *    whose rows go that no order and no clearing can satisfy is deleted
 *    by one statement (plan_groups).  The dry run runs every check.
 * 5. Act in order, in the caller's transaction, and measure: the deleted
 *    count of a table is what the transaction's own statistics counters
 *    (pg_stat_get_xact_tuples_deleted) saw disappear, cascades included.
 *    Then shred the subject's keys, write the request, the ledger entry and
 *    the audit entry.  A dry run stops before acting and reports the plan.
 *
 * Receipts, requests, the ledger and the audit log carry subject_ref only.
 *
 * Map changes.  An erasure holds the subject type's map lock in shared mode
 * (MapLockErasures) from before it reads the map to the end of its
 * transaction; everything that changes what the map says takes it
 * exclusively: MapRefresh (link, unlink, refresh_subject, define_subject,
 * the refresh of every map), the DDL event trigger (not for a new table
 * that reaches no subject: map_ddl.c), and classify,
 * declassify and set_erasure_mode (privacy._lock_maps(), every type).  A map
 * change waits for the erasures running; an erasure waits for the map
 * change running and then plans with the map it committed.
 *
 * Lock order (an erasure):
 *   1. the map's tables (ROW EXCLUSIVE; ACCESS SHARE for a dry run);
 *   2. the subject type's map lock, shared, then the tables of the map as
 *      it is once that is held (MapLockForErasure);
 *   3. the subject's lock (exclusive; hold() shared), the root row and the
 *      link keys (lock_subject); privacy.holds in SHARE mode (lock_holds);
 *   4. the subject's rows FOR UPDATE, tables above first (MapCallBeginLocking);
 *   5. the audit chain's head, at the end (AuditAppend).
 * A map change takes its own table locks (the DDL's; link's trigger on the
 * table it links), then the map locks (every subject type in name order,
 * COLLATE "C", or its one type), then the audit chain's head: classify
 * and declassify refresh the maps before they append to the audit log
 * (the other way round a classify that held the head waited for an
 * erasure's map lock while the erasure waited for the head).  Tables come
 * before the map lock because a DDL statement on a mapped table holds it
 * from its start and takes the map locks at its end.  What remains is a
 * cycle that a transaction closes by its own earlier statements (a
 * migration that holds the map locks from its first DDL and then alters a
 * table an erasure has locked; an erasure in a transaction that appended
 * to the audit log before, beside a link() that waits for the head): the
 * deadlock detector ends one of them (40P01), before anything of the
 * erasure is committed.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "rewrite/rewriteHandler.h"
#include "storage/itemptr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "citus.h"
#include "crypto.h"
#include "guard.h"
#include "privacy.h"
#include "retention.h"

PG_FUNCTION_INFO_V1(privacy_erase);

/* the shortest pseudonym of strategy 'hash' in a unique column (privacy._hash_fits) */
#define ERASE_MIN_PSEUDONYM 16

/* per-table state of one erasure */
typedef struct EraseTable
{
	MapTable   *mt;
	bool		anonymize;		/* rows stay, classified columns rewritten */
	char	   *set_clause;		/* "col" = expr, ... (anonymize) */
	char	   *changed;		/* condition: a rewritten column would change */
	List	   *keep_cols;		/* names of 'keep' columns */
	char	   *shared;			/* condition on alias t: the row also reaches
								 * another subject; NULL when it cannot */
	bool		keep_shared;	/* shared rows stay, detached (delete mode) */
	List	   *doom_edges;		/* keep_shared: EraseEdge * of fks_out that
								 * cascade through a column that cannot be
								 * detached (NOT NULL): a shared row that
								 * references a row that goes through one
								 * goes with it (doomed_cond) */
	bool		doom_known;		/* doom_edges computed */
	bool		doom_busy;		/* doomed_cond of this table in progress */
	bool		kept_frozen;	/* keep_shared: the rows that stay are fixed
								 * (kept_oids, kept_tids) before acting */
	Datum		kept_oids;		/* their tableoids, oid[] */
	Datum		kept_tids;		/* their ctids, tid[] */
	List	   *fks_out;		/* EraseEdge *: foreign keys from this table
								 * into tables whose rows are deleted */
	int64		deleted;
	int64		anonymized;
	int64		detached;		/* rows whose references were cleared */
	int64		shared_rows;	/* rows that also reach another subject */
	Datum	   *shared_sets;	/* their needed columns (MapTable.needed), as
								 * arrays; NULL: none (count_shared) */
	int			ngone;			/* rows outside the subject's rows that a
								 * cascade deletes (cascade closure) */
	int			gone_cap;
	Oid		   *gone_oid;		/* their tableoids and ctids */
	ItemPointerData *gone_tid;
	int64		retained;		/* outbound rows kept: referenced by others */
	int64		retained_own;	/* outbound rows kept: referenced only by rows
								 * of this subject that stay */
	int64		kept_rows;		/* rows of the subject with 'keep' columns */
	int64		own_deleted;	/* rows deleted by our own statement */
	int64		stat_deleted;	/* statistics counter before acting */
	Datum		own_leaves;		/* partitioned table: oid[] of its partitions
								 * that are tables of this erasure themselves
								 * (mapped by a key of their own); (Datum) 0:
								 * none */
	struct EraseTable *whole;	/* such a partition: the entry of its
								 * partitioned ancestor (delete mode), whose
								 * rows in it it counts; NULL: none */
	Datum		tids;			/* outbound: tid[] of rows to act on */
	Datum		oids;			/* outbound: their tableoids */
	int			nid;			/* outbound Citus table: its identity columns */
	AttrNumber *idcols;
	Oid		   *idtypes;		/* their array types */
	Datum	   *ids;			/* the rows to act on, one array per column;
								 * NULL: none */
	List	   *chash;			/* Citus table: its 'hash' columns (MapColumn),
								 * pseudonymized here (citus_hash_parts) */
	int			nrw;			/* anonymize: the columns rewritten, */
	AttrNumber *rw_attnums;
	char	  **rw_exprs;		/* their new values (over alias t), */
	bool	   *rw_maynull;		/* and whether one may be null (strategy
								 * null) */
	bool		uq_fix;			/* check_unique found a 'hash' key taken:
								 * act_table disambiguates (uq_resolve) */
	List	   *group;			/* EraseTable *: the tables whose rows are
								 * deleted by one statement with this one's
								 * (a cycle, plan_groups); NIL: alone */
} EraseTable;

/* a foreign key from a table into a table whose erased rows are deleted */
typedef struct EraseEdge
{
	MapHop	   *fk;				/* rel = referencing table, prel = referenced */
	struct EraseTable *parent;
} EraseEdge;

/* parameters of one statement: $1 is the subject's key */
typedef struct EraseParams
{
	MapCall    *call;			/* the erasure's key sets */
	int			n;
	int			cap;
	Oid		   *types;
	Datum	   *values;
} EraseParams;

static EraseParams *
params_new(MapCall *call)
{
	EraseParams *p = palloc(sizeof(EraseParams));
	MapSubject *subj = call->subj;
	Datum		key = call->key;

	p->cap = 8;
	p->types = palloc(sizeof(Oid) * p->cap);
	p->values = palloc(sizeof(Datum) * p->cap);
	p->types[0] = subj->key_type;
	p->values[0] = key;
	p->n = 1;
	p->call = call;
	return p;
}

/* add a parameter; returns its number ($n) */
static int
params_add(EraseParams *p, Oid type, Datum value)
{
	if (p->n == p->cap)
	{
		p->cap *= 2;
		p->types = repalloc(p->types, sizeof(Oid) * p->cap);
		p->values = repalloc(p->values, sizeof(Datum) * p->cap);
	}
	p->types[p->n] = type;
	p->values[p->n] = value;
	return ++p->n;
}

/*
 * call_cond
 *		The condition "row alias of mt is the subject's" over the erasure's
 *		key sets (computed once, before anything changes: they stay valid
 *		while the rows below are deleted), which become parameters of p.
 */
static char *
call_cond(EraseParams *p, MapTable *mt, const char *alias)
{
	Datum	   *args = MapCallArgs(p->call, mt);
	int			first = p->n + 1;
	int			i;

	for (i = 1; i < mt->call_nargs; i++)
		params_add(p, mt->call_argtypes[i], args[i]);
	return MapCallConditionAt(p->call->subj, mt, alias, first);
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------
 */

/*
 * run_as_owner
 *		Run one statement as the owner of relid, with the latest snapshot
 *		(the rows present now, whatever the isolation level).  Parameters
 *		as for SPI_execute_with_args; the SPI result code must be expect.
 */
static int
run_as_owner(MapSubject *subj, Oid relid, const char *sql, int nargs, Oid *argtypes, Datum *values,
			 bool read_only, int expect)
{
	PrivacyUserSwitch sw;
	int			ret;

	sql = CitusPrivateParams(subj, relid, sql, nargs, argtypes);	/* CITUS HOOK */

	sw.frame = GuardEnterTableOwner(relid);
	GuardSetRowSecurityBypass(true);
	PG_TRY();
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "could not prepare an erasure statement: %s",
				 SPI_result_code_string(SPI_result));
		/* our own earlier changes are visible to the new snapshot */
		CommandCounterIncrement();
		ret = SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(), InvalidSnapshot,
								   read_only, true, 0);
		SPI_freeplan(plan);
	}
	PG_FINALLY();
	{
		GuardSetRowSecurityBypass(false);
	}
	PG_END_TRY();
	GuardLeave(sw.frame);
	if (ret != expect)
		elog(ERROR, "erasure statement failed: %s: %s", SPI_result_code_string(ret), sql);
	return ret;
}

/*
 * run_kept_as_owner
 *		run_as_owner for a statement built from the map, with the plan kept
 *		in *slot (allocated in cxt, the map entry's context; map_cache.c frees the
 *		plan with the entry).  The plan is reused while the statement's text
 *		and parameter types are those it was prepared for, and replaced
 *		otherwise, so it can never run a statement other than sql.  It is
 *		prepared as the owner, like every run; the plan cache re-analyses
 *		it after DDL on what it reads, under the identity and search_path of
 *		the run.  Parameters (the pseudonym scope's token among them) are
 *		never part of the text.
 */
static int
run_kept_as_owner(MapSubject *subj, Oid relid, MapKeptPlan **slot, const char *sql,
				  int nargs, Oid *argtypes, Datum *values, bool read_only, int expect)
{
	PrivacyUserSwitch sw;
	MapKeptPlan *k = *slot;
	MemoryContext cxt = subj->cxt;
	int			ret;

	sql = CitusPrivateParams(subj, relid, sql, nargs, argtypes);	/* CITUS HOOK */

	if (k != NULL && k->plan != NULL &&
		(k->nargs != nargs || strcmp(k->sql, sql) != 0 ||
		 (nargs > 0 && memcmp(k->argtypes, argtypes, sizeof(Oid) * nargs) != 0)))
	{
		SPI_freeplan((SPIPlanPtr) k->plan);
		k->plan = NULL;
	}
	if (k == NULL)
		k = *slot = MemoryContextAllocZero(cxt, sizeof(MapKeptPlan));
	sw.frame = GuardEnterTableOwner(relid);
	GuardSetRowSecurityBypass(true);
	PG_TRY();
	{
		if (k->plan == NULL)
		{
			/*
			 * One generic plan: the key sets are parameters, and a custom
			 * plan per call would cost more than the statement itself
			 * (CITUS HOOK: Citus plans a distributed table per call).
			 */
			SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes,
										  CitusIsCitusTable(relid) ? 0 : CURSOR_OPT_GENERIC_PLAN);

			if (plan == NULL)
				elog(ERROR, "could not prepare an erasure statement: %s",
					 SPI_result_code_string(SPI_result));
			if (SPI_keepplan(plan) != 0)
				elog(ERROR, "SPI_keepplan failed");
			if (k->sql)
				pfree(k->sql);
			if (k->argtypes)
				pfree(k->argtypes);
			k->sql = MemoryContextStrdup(cxt, sql);
			k->argtypes = MemoryContextAlloc(cxt, sizeof(Oid) * Max(nargs, 1));
			if (nargs > 0)
				memcpy(k->argtypes, argtypes, sizeof(Oid) * nargs);
			k->nargs = nargs;
			k->plan = plan;
		}
		/* our own earlier changes are visible to the new snapshot */
		CommandCounterIncrement();
		ret = SPI_execute_snapshot((SPIPlanPtr) k->plan, values, NULL, GetLatestSnapshot(),
								   InvalidSnapshot, read_only, true, 0);
	}
	PG_FINALLY();
	{
		GuardSetRowSecurityBypass(false);
	}
	PG_END_TRY();
	GuardLeave(sw.frame);
	if (ret != expect)
		elog(ERROR, "erasure statement failed: %s: %s", SPI_result_code_string(ret), sql);
	return ret;
}

/* first column of the single result row as int8 */
static int64
result_count(void)
{
	bool		isnull;
	Datum		d;

	if (SPI_processed != 1)
		return 0;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

static EraseTable *
find_et(List *ets, Oid relid)
{
	ListCell   *lc;

	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);

		if (et->mt->relid == relid)
			return et;
	}
	return NULL;
}

/* position of et in ets */
static int
list_index_of_et(List *ets, EraseTable *et)
{
	ListCell   *lc;

	foreach(lc, ets)
		if (lfirst(lc) == et)
			return foreach_current_index(lc);
	return -1;
}

/* "c.a, c.b" ("a, b" for an empty alias) */
static char *
cols_list(const char *alias, Oid relid, const AttrNumber *cols, int n)
{
	StringInfoData b;
	int			i;

	initStringInfo(&b);
	for (i = 0; i < n; i++)
		appendStringInfo(&b, "%s%s%s%s", i ? ", " : "", alias, *alias ? "." : "",
						 quote_identifier(get_attname(relid, cols[i], false)));
	return b.data;
}

/* "(c.a, c.b)" */
static char *
cols_of(const char *alias, Oid relid, const AttrNumber *cols, int n)
{
	return psprintf("(%s)", cols_list(alias, relid, cols, n));
}

/*
 * load_fks
 *		The foreign keys into each mapped table, cached with the map.
 */
static void
load_fks(MapTable *mt)
{
	if (!mt->fks_loaded)
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(mt));

		mt->fks_in = MapForeignKeysInto(mt->relid);
		mt->fks_loaded = true;
		MemoryContextSwitchTo(old);
	}
}

/*
 * fk_covered
 *		The foreign key from C into T is an edge of C in the map: then every
 *		row of C that references a row of the subject in T is itself a row
 *		of the subject (and is deleted with it), and the check of this
 *		foreign key can be skipped.  (The map is per edge: each path of a
 *		MapTable is one edge.)
 */
static bool
fk_covered(MapTable *t, MapTable *c, MapHop *fk)
{
	ListCell   *cp;

	/* no paths known: nothing is proven (never skip a check on an empty list) */
	if (t->outbound || c->outbound || t->paths == NIL || c->paths == NIL)
		return false;
	foreach(cp, c->paths)
	{
		List	   *cpath = lfirst(cp);
		MapHop	   *h;

		if (cpath == NIL)
			continue;
		h = linitial(cpath);
		if (!h->link && h->prel == t->relid && h->ncols == fk->ncols &&
			memcmp(h->cols, fk->cols, sizeof(AttrNumber) * fk->ncols) == 0 &&
			memcmp(h->pcols, fk->pcols, sizeof(AttrNumber) * fk->ncols) == 0)
			return true;
	}
	return false;
}

/*
 * plan_order
 *		Order the tables so that referencing tables come first (Kahn's
 *		algorithm over the foreign keys among mapped tables: the first table
 *		in map order that no remaining table references; on a cycle, the
 *		deepest remaining table goes first).  Each table counts the foreign
 *		keys of other remaining tables into it, so the order costs the
 *		number of tables squared plus the number of foreign keys.
 */
static List *
plan_order(List *ets)
{
	int			n = list_length(ets);
	int		   *blockers = palloc0(sizeof(int) * Max(n, 1));
	List	  **blocks = palloc0(sizeof(List *) * Max(n, 1));	/* tables each one blocks */
	bool	   *done = palloc0(sizeof(bool) * Max(n, 1));
	List	   *ordered = NIL;
	HASHCTL		ctl;
	HTAB	   *pos;
	ListCell   *lc;
	int			k;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(Oid) + sizeof(int);
	ctl.hcxt = CurrentMemoryContext;
	pos = hash_create("erase order", Max(n, 16), &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);
		bool		found;
		char	   *e = hash_search(pos, &et->mt->relid, HASH_ENTER, &found);

		if (!found)
			memcpy(e + sizeof(Oid), &foreach_current_index(lc), sizeof(int));
	}
	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);
		int			i = foreach_current_index(lc);
		ListCell   *fc;

		foreach(fc, et->mt->fks_in)
		{
			MapHop	   *fk = lfirst(fc);
			char	   *e = hash_search(pos, &fk->rel, HASH_FIND, NULL);
			int			r;

			if (e == NULL)
				continue;
			memcpy(&r, e + sizeof(Oid), sizeof(int));
			if (r == i)
				continue;
			blockers[i]++;
			blocks[r] = lappend_int(blocks[r], i);
		}
	}
	for (k = 0; k < n; k++)
	{
		int			pick = -1;
		int			i;
		ListCell   *bc;

		for (i = 0; i < n && pick < 0; i++)
			if (!done[i] && blockers[i] == 0)
				pick = i;
		if (pick < 0)
		{
			for (i = 0; i < n; i++)
				if (!done[i] && (pick < 0 ||
								 ((EraseTable *) list_nth(ets, i))->mt->depth >
								 ((EraseTable *) list_nth(ets, pick))->mt->depth))
					pick = i;
		}
		done[pick] = true;
		ordered = lappend(ordered, list_nth(ets, pick));
		foreach(bc, blocks[pick])
			blockers[lfirst_int(bc)]--;
	}
	hash_destroy(pos);
	return ordered;
}

/* ------------------------------------------------------------------------
 * Shared rows
 * ------------------------------------------------------------------------
 */

/* the last hop of a path references the root's key column itself */
static bool
hop_is_shortcut(MapSubject *subj, List *path, int idx)
{
	MapHop	   *h = list_nth(path, idx);

	return !h->link && idx == list_length(path) - 1 && h->prel == subj->root &&
		h->ncols == 1 && h->pcols[0] == subj->key_attnum;
}

/* a link column compared with the key $1, converted as the map does */
static char *
link_match(MapSubject *subj, MapHop *h, const char *alias)
{
	return MapLinkFiltered(h, alias,
						   MapLinkMatch(subj, h->rel, h->cols[0],
										psprintf("%s.%s", alias, quote_identifier(get_attname(h->rel, h->cols[0], false))),
										"$1", "OPERATOR(pg_catalog.=)"));
}

/*
 * The rows a statement judges (append_other across owners, shared_keys):
 * the subject's rows of mt (via NULL), or the rows of relid whose columns
 * via->pcols are among the arrays cand (one per column, of types ctypes,
 * aligned).
 */
typedef struct SharedScope
{
	Oid			relid;
	MapTable   *mt;
	MapHop	   *via;
	Oid		   *ctypes;
	Datum	   *cand;
} SharedScope;

/*
 * shared_one_owner
 *		Every table append_other reads along paths, from their hop at idx
 *		on, is owner's.
 */
static bool
shared_one_owner(MapSubject *subj, List *paths, int idx, Oid owner)
{
	ListCell   *lc;

	foreach(lc, paths)
	{
		List	   *path = lfirst(lc);
		int			i;

		for (i = idx; i < list_length(path); i++)
		{
			MapHop	   *h = list_nth(path, i);

			if (h->link || hop_is_shortcut(subj, path, i))
				continue;
			if (UtilRelationOwner(h->prel) != owner)
				return false;
		}
	}
	return true;
}

static int	run_params(Oid relid, const char *sql, EraseParams *p, bool read_only, int expect);

/* "alias.cols are among the arrays $n.." (one per column, aligned) */
static char *
cols_in_arrays(Oid relid, const AttrNumber *cols, int n, const char *alias, EraseParams *p,
			   const Oid *elemtypes, const Datum *arrays)
{
	StringInfoData b;
	int			i;
	int			first = p->n + 1;

	for (i = 0; i < n; i++)
		params_add(p, get_array_type(elemtypes[i]), arrays[i]);
	initStringInfo(&b);
	if (n == 1)
	{
		appendStringInfo(&b, "%s.%s = ANY ($%d)", alias,
						 quote_identifier(get_attname(relid, cols[0], false)), first);
		return b.data;
	}
	appendStringInfo(&b, "%s IN (SELECT * FROM ROWS FROM (", cols_of(alias, relid, cols, n));
	for (i = 0; i < n; i++)
		appendStringInfo(&b, "%spg_catalog.unnest($%d)", i ? ", " : "", first + i);
	appendStringInfoString(&b, "))");
	return b.data;
}

/*
 * distinct_arrays
 *		Run, as the owner of relid, "SELECT DISTINCT <the columns cols of
 *		relid, alias sh> FROM relid sh WHERE where" (none of them null), and
 *		return the values as arrays, one per column, aligned; NULL when
 *		there is no row.
 */
static Datum *
distinct_arrays(Oid relid, const AttrNumber *cols, int n, const char *where, EraseParams *q)
{
	StringInfoData sql;
	Datum	   *arrays = palloc(sizeof(Datum) * n);
	int			i;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (i = 0; i < n; i++)
		appendStringInfo(&sql, "%spg_catalog.array_agg(x.c%d)", i ? ", " : "", i);
	appendStringInfoString(&sql, " FROM (SELECT DISTINCT ");
	for (i = 0; i < n; i++)
		appendStringInfo(&sql, "%ssh.%s AS c%d", i ? ", " : "",
						 quote_identifier(get_attname(relid, cols[i], false)), i);
	appendStringInfo(&sql, " FROM %s sh WHERE (%s)", UtilFromName(relid), where);
	for (i = 0; i < n; i++)
		appendStringInfo(&sql, " AND sh.%s IS NOT NULL",
						 quote_identifier(get_attname(relid, cols[i], false)));
	appendStringInfoString(&sql, ") x");
	run_params(relid, sql.data, q, true, SPI_OK_SELECT);
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);

		if (isnull)
			return NULL;
		arrays[i] = datumCopy(d, false, -1);
	}
	return arrays;
}

static void append_other(StringInfo buf, MapSubject *subj, List *paths, int idx, const char *alias,
						 int *aliasno, EraseParams *p, const SharedScope *scope);

/*
 * shared_keys
 *		append_other's lookup through hop h, from the statement's main row
 *		alias (scope), when a table it reads along the paths sub is not the
 *		owner's of scope->relid: the values of h's columns in the rows the
 *		statement judges are read first, as the owner of scope->relid; then,
 *		as the owner of the table above, the keys among them of its rows
 *		that reach a subject whose key is not $1 (its own lookups across
 *		owners read the same way, recursively).  The condition compares
 *		alias's columns with those keys, parameters of p: no statement reads
 *		a table as another role than its owner (who may only be allowed to
 *		reference it, and whose policies are its own code).
 */
static char *
shared_keys(MapSubject *subj, MapHop *h, List *sub, int idx, const char *alias,
			EraseParams *p, const SharedScope *scope)
{
	EraseParams *q = params_new(p->call);
	StringInfoData where;
	Oid		   *ctypes = palloc(sizeof(Oid) * h->ncols);
	Oid		   *ktypes = palloc(sizeof(Oid) * h->ncols);
	Datum	   *cand,
			   *keys;
	SharedScope up;
	int			aliasno = 0;
	int			i;

	/* a link to a target of another key type: not across owners yet */
	if (h->tlink && OidIsValid(h->conv))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rows of %s may be shared with other subjects through a link to %s owned by another role",
						UtilQualifiedName(h->rel), UtilQualifiedName(h->prel)),
				 errhint("Give the link column the type of its target's key, or both tables one owner.")));
	for (i = 0; i < h->ncols; i++)
	{
		ctypes[i] = get_atttype(h->rel, h->cols[i]);
		ktypes[i] = get_atttype(h->prel, h->pcols[i]);
	}
	/* the rows judged: the subject's, or those matching what the statement below passed */
	cand = distinct_arrays(h->rel, h->cols, h->ncols,
						   scope->via == NULL ? call_cond(q, scope->mt, "sh")
						   : cols_in_arrays(scope->relid, scope->via->pcols, scope->via->ncols, "sh", q,
											scope->ctypes, scope->cand), q);
	if (cand == NULL)
		return "false";
	q = params_new(p->call);
	up.relid = h->prel;
	up.mt = NULL;
	up.via = h;
	up.ctypes = ctypes;
	up.cand = cand;
	initStringInfo(&where);
	appendStringInfo(&where, "%s AND (", cols_in_arrays(h->prel, h->pcols, h->ncols, "sh", q, ctypes, cand));
	append_other(&where, subj, sub, idx + 1, "sh", &aliasno, q, &up);
	appendStringInfoChar(&where, ')');
	keys = distinct_arrays(h->prel, h->pcols, h->ncols, where.data, q);
	if (keys == NULL)
		return "false";
	return psprintf("coalesce(%s%s, false)", MapLinkFilter(h, alias) ? psprintf("%s AND ", MapLinkFilter(h, alias)) : "",
					cols_in_arrays(h->rel, h->cols, h->ncols, alias, p, ktypes, keys));
}

/*
 * append_other
 *		Condition: row alias, followed along one of paths (lists of hops,
 *		which all share their hops before idx), reaches a subject whose key
 *		is not $1 (written here from the paths' hops, independent of how
 *		the map compiles its own conditions).  The paths that share the hop
 *		at idx are followed together, through one correlated lookup of the
 *		row that hop references (a foreign key references a unique key): a
 *		row costs one index probe per node of the tree of its paths, at
 *		most, and the first disjunct found true ends the search.  With p
 *		(alias is then the statement's main row, of scope), a lookup that
 *		would read a table of another owner than scope's is shared_keys'
 *		instead, whose keys become parameters of p; without, the lookups
 *		read every table above as the statement's role.
 */
static void
append_other(StringInfo buf, MapSubject *subj, List *paths, int idx, const char *alias,
			 int *aliasno, EraseParams *p, const SharedScope *scope)
{
	List	   *done = NIL;
	ListCell   *lc;
	bool		first = true;
	bool		root_done = false;

	foreach(lc, paths)
	{
		List	   *path = lfirst(lc);
		MapHop	   *h;
		char		next[32];
		List	   *sub = NIL;
		ListCell   *sc;

		if (idx >= list_length(path))
		{
			if (root_done)
				continue;
			root_done = true;
			appendStringInfo(buf, "%sNOT (%s.%s %s $1)", first ? "" : " OR ",
							 alias, quote_identifier(subj->key_column), subj->key_eq);
			first = false;
			continue;
		}
		h = list_nth(path, idx);
		if (list_member_ptr(done, h))
			continue;
		done = lappend(done, h);
		if (!first)
			appendStringInfoString(buf, " OR ");
		first = false;
		if (h->link)
		{
			char	   *f = MapLinkFilter(h, alias);

			/*
			 * a polymorphic link reaches another subject only from a row of
			 * its type: a follow of organization 1 is no other user's
			 */
			if (f != NULL)
				appendStringInfo(buf, "(%s AND NOT (%s))", f,
								 MapLinkMatch(subj, h->rel, h->cols[0],
											  psprintf("%s.%s", alias, quote_identifier(get_attname(h->rel, h->cols[0], false))),
											  "$1", "OPERATOR(pg_catalog.=)"));
			else
				appendStringInfo(buf, "NOT (%s)", link_match(subj, h, alias));
			continue;
		}
		if (hop_is_shortcut(subj, path, idx))
		{
			appendStringInfo(buf, "NOT (%s)",
							 MapKeyColMatch(subj, h->rel, h->cols[0],
											psprintf("%s.%s", alias, quote_identifier(get_attname(h->rel, h->cols[0], false))),
											"$1", subj->key_eq));
			continue;
		}
		foreach(sc, paths)
		{
			List	   *other = lfirst(sc);

			if (idx < list_length(other) && list_nth(other, idx) == h)
				sub = lappend(sub, other);
		}
		if (p != NULL && !shared_one_owner(subj, sub, idx, UtilRelationOwner(scope->relid)))
		{
			appendStringInfoString(buf, shared_keys(subj, h, sub, idx, alias, p, scope));
			continue;
		}
		snprintf(next, sizeof(next), "o%d", ++(*aliasno));
		/* a link to a target: from a row of its type, its value converted */
		if (MapLinkFilter(h, alias) != NULL)
			appendStringInfo(buf, "(%s AND ", MapLinkFilter(h, alias));
		appendStringInfo(buf, "EXISTS (SELECT 1 FROM %s %s WHERE %s = %s AND (",
						 UtilFromName(h->prel), next,
						 cols_of(next, h->prel, h->pcols, h->ncols),
						 MapHopCols(h, alias));
		append_other(buf, subj, sub, idx + 1, next, aliasno, NULL, NULL);
		appendStringInfoString(buf, "))");
		if (MapLinkFilter(h, alias) != NULL)
			appendStringInfoChar(buf, ')');
	}
	if (first)
		appendStringInfoString(buf, "false");
}

/*
 * shared_cond
 *		Condition on row alias of mt: it also reaches another subject of the
 *		type through one of its paths.  NULL when it cannot (the root, a
 *		referenced table, a table with one path: along one path a row
 *		reaches exactly one subject).  With p, for a statement that judges
 *		the subject's rows of mt as mt's owner: the tables above of other
 *		owners are read first, as their owners (shared_keys), whose keys
 *		become parameters of p; the same text as without p when every table
 *		above is mt's owner's.
 */
/* at most this many simple paths tell whether a row is shared */
#define ERASE_MAX_SHARED_PATHS 256

/*
 * collect_paths
 *		Simple paths (lists of hops, the row's table first) from mt to the
 *		root or to a link, over the map's edges (each MapTable path is one
 *		edge; the root's is NIL).  Self-references and cycles end a path.
 */
static void
collect_paths(MapSubject *subj, MapTable *mt, List *prefix, List *seen, List **out,
			  bool *skipped)
{
	ListCell   *lc;

	seen = lappend_oid(list_copy(seen), mt->relid);
	foreach(lc, mt->paths)
	{
		List	   *edge = lfirst(lc);
		MapHop	   *h;
		MapTable   *up;

		if (list_length(*out) >= ERASE_MAX_SHARED_PATHS)
			return;
		if (edge == NIL)
		{
			*out = lappend(*out, prefix);	/* the root */
			continue;
		}
		h = linitial(edge);
		if (h->link)
		{
			*out = lappend(*out, lappend(list_copy(prefix), h));
			continue;
		}
		if (list_member_oid(seen, h->prel))
		{
			*skipped = true;	/* a self-reference or a cycle */
			continue;
		}
		if ((up = MapFindTable(subj, h->prel)) == NULL)
			continue;
		collect_paths(subj, up, lappend(list_copy(prefix), h), seen, out, skipped);
	}
}

static char *
shared_cond(MapSubject *subj, MapTable *mt, const char *alias, EraseParams *p)
{
	StringInfoData buf;
	ListCell   *lc;
	int			aliasno = 0;
	List	   *paths = NIL;
	List	   *nonempty = NIL;
	bool		skipped = false;
	SharedScope scope = {mt->relid, mt, NULL, NULL, NULL};

	if (mt->outbound || mt->relid == subj->root)
		return NULL;
	/* CITUS HOOK: every path of a routed table leads to this subject */
	if (CitusRouted(subj, mt))
		return NULL;
	collect_paths(subj, mt, NIL, NIL, &paths, &skipped);

	/*
	 * Along one simple path a row reaches exactly one subject, which is this
	 * one when the row is the subject's; but a row that is the subject's
	 * through a self-reference or a cycle may reach another subject along
	 * its one simple path.
	 */
	if (paths == NIL || (list_length(paths) < 2 && !skipped))
		return NULL;
	if (list_length(paths) >= ERASE_MAX_SHARED_PATHS)
		ereport(WARNING,
				(errmsg("table \"%s\" has more than %d foreign key paths to the root of subject type \"%s\"",
						get_rel_name(mt->relid), ERASE_MAX_SHARED_PATHS, subj->name),
				 errdetail("Only the first %d are used to tell whether a row is shared.",
						   ERASE_MAX_SHARED_PATHS)));
	foreach(lc, paths)
		if (lfirst(lc) != NIL)
			nonempty = lappend(nonempty, lfirst(lc));
	if (nonempty == NIL)
		return NULL;
	/* with p: the tables above of other owners are read as their owners */
	if (p != NULL && shared_one_owner(subj, nonempty, 0, UtilRelationOwner(mt->relid)))
		p = NULL;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	append_other(&buf, subj, nonempty, 0, alias, &aliasno, p, &scope);
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

static char *doomed_cond(MapSubject *subj, EraseTable *et, const char *alias, EraseParams *p);

/*
 * in_kept
 *		Condition: row alias of et is one of the kept shared rows fixed by
 *		freeze_kept ("false" when there is none).
 */
static char *
in_kept(EraseTable *et, const char *alias, EraseParams *p)
{
	int			po,
				pt;

	if (et->kept_oids == (Datum) 0)
		return "false";
	po = params_add(p, OIDARRAYOID, et->kept_oids);
	pt = params_add(p, TIDARRAYOID, et->kept_tids);
	return psprintf("(%s.ctid OPERATOR(pg_catalog.=) ANY ($%d) AND (%s.tableoid, %s.ctid) IN"
					" (SELECT u.o, u.c FROM ROWS FROM (pg_catalog.unnest($%d::pg_catalog.oid[]),"
					" pg_catalog.unnest($%d::pg_catalog.tid[])) u(o, c)))",
					alias, pt, alias, alias, po, pt);
}

/*
 * the subject's rows of et (alias) that this erasure deletes: with
 * shared => 'keep', those that are not shared, and the shared ones that a
 * NOT NULL ON DELETE CASCADE key ties to a row that goes (doomed_cond)
 */
static char *
delete_cond(MapSubject *subj, EraseTable *et, const char *alias, EraseParams *p)
{
	char	   *cond = call_cond(p, et->mt, alias);

	if (et->keep_shared && et->kept_frozen)
		return psprintf("(%s) AND NOT %s", cond, in_kept(et, alias, p));
	if (et->keep_shared)
	{
		char	   *doomed = doomed_cond(subj, et, alias, p);

		if (doomed != NULL)
			return psprintf("(%s) AND (NOT coalesce(%s, false) OR coalesce(%s, false))", cond,
							shared_cond(subj, et->mt, alias, p), doomed);
		return psprintf("(%s) AND NOT coalesce(%s, false)", cond, shared_cond(subj, et->mt, alias, p));
	}
	return cond;
}

/* rows of et (alias) that are the subject's and stay: NULL when none */
static char *
stay_cond(MapSubject *subj, EraseTable *et, const char *alias, EraseParams *p)
{
	if (et->anonymize)
		return call_cond(p, et->mt, alias);
	if (et->keep_shared && et->kept_frozen)
		return in_kept(et, alias, p);
	if (et->keep_shared)
	{
		char	   *doomed = doomed_cond(subj, et, alias, p);

		if (doomed != NULL)
			return psprintf("(%s) AND coalesce(%s, false) AND NOT coalesce(%s, false)",
							call_cond(p, et->mt, alias), shared_cond(subj, et->mt, alias, p), doomed);
		return psprintf("(%s) AND coalesce(%s, false)", call_cond(p, et->mt, alias),
						shared_cond(subj, et->mt, alias, p));
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * privacy.erase
 * ------------------------------------------------------------------------
 */

/*
 * hash_fits
 *		Column attnum of relid (of type typid, typmod) can hold a pseudonym,
 *		as classify decides (privacy._hash_fits): bytea, or a string type
 *		other than name; under a unique index, with room for 16 characters
 *		at least (a shorter pseudonym repeats soon: 23505).
 */
static bool
hash_fits(Oid relid, AttrNumber attnum, Oid typid, int32 typmod)
{
	Oid			base = getBaseTypeAndTypmod(typid, &typmod);
	char		category;
	bool		preferred;
	bool		fits = true;
	Relation	rel;
	ListCell   *lc;

	if (base == BYTEAOID)
		return true;
	get_type_category_preferred(base, &category, &preferred);
	if (category != TYPCATEGORY_STRING || base == NAMEOID || base == CHAROID)
		return false;
	if (!((base == VARCHAROID || base == BPCHAROID) && typmod >= VARHDRSZ &&
		  typmod - VARHDRSZ < ERASE_MIN_PSEUDONYM))
		return true;
	rel = table_open(relid, AccessShareLock);
	foreach(lc, RelationGetIndexList(rel))
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index ix;

		if (!HeapTupleIsValid(tup))
			continue;
		ix = (Form_pg_index) GETSTRUCT(tup);
		if (ix->indisunique || ix->indisexclusion)
		{
			bool		isnull;
			Datum		exprs = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indexprs, &isnull);

			for (int i = 0; i < ix->indnkeyatts; i++)
				fits = fits && ix->indkey.values[i] != attnum;
			/* a unique expression (lower(code)), an exclusion constraint */
			if (!isnull)
			{
				Bitmapset  *vars = NULL;

				pull_varattnos(stringToNode(TextDatumGetCString(exprs)), 1, &vars);
				fits = fits && !bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, vars);
			}
		}
		ReleaseSysCache(tup);
	}
	table_close(rel, AccessShareLock);
	return fits;
}

/*
 * prepare_tables
 *		Per mapped table: its mode, rewrite clause, shared-row condition and
 *		foreign keys.
 */
static List *
prepare_tables(MapSubject *subj, bool keep_shared)
{
	List	   *ets = NIL;
	ListCell   *lc;

	MapForeignKeysIntoAll(subj);	/* one catalog query for the tables not loaded yet */
	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);
		EraseTable *et = palloc0(sizeof(EraseTable));
		ListCell   *cc;
		StringInfoData set,
					chg;
		bool		first = true;
		MapColumn  *shorthash = NULL;

		et->mt = mt;
		load_fks(mt);
		et->anonymize = mt->anonymize;
		initStringInfo(&set);
		initStringInfo(&chg);
		foreach(cc, mt->columns)
		{
			MapColumn  *c = lfirst(cc);
			char	   *expr;
			char	   *colexpr;
			Oid			typid;
			int32		typmod;
			Oid			coll;

			if (strcmp(c->erasure, "keep") == 0)
			{
				et->keep_cols = lappend(et->keep_cols, c->name);
				et->anonymize = true;	/* kept under a legal obligation */
				continue;
			}
			get_atttypetypmodcoll(mt->relid, c->attnum, &typid, &typmod, &coll);
			colexpr = psprintf("t.%s", quote_identifier(c->name));
			if (strcmp(c->erasure, "hash") == 0 && !hash_fits(mt->relid, c->attnum, typid, typmod) && shorthash == NULL)
				shorthash = c;
			if (strcmp(c->erasure, "hash") == 0 && CitusIsCitusTable(mt->relid))
			{
				int			len;
				bool		bytea;

				/* CITUS HOOK: computed here, at act time (22023: a type without room) */
				(void) RetentionHashedColumn(typid, typmod, colexpr, &len, &bytea);
				if (CitusFansOut(subj, mt->relid))
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("erasure strategy \"hash\" of column \"%s\" is not supported on Citus table \"%s\", which is queried through every shard",
									c->name, get_rel_name(mt->relid)),
							 errdetail("The pseudonyms are computed on the coordinator and passed to the rewrite; Citus cannot pass them to an UPDATE through every shard."),
							 errhint("Distribute the table by the subject's key, colocated with the root, or classify the column with strategy 'null' or 'redact'.")));
				et->chash = lappend(et->chash, c);
				continue;
			}
			/* the same rewrites as retention's anonymize action */
			expr = RetentionRewriteExpr(typid, typmod, c->erasure, colexpr);
			if (expr == NULL)
				continue;		/* keep, shred */
			if (et->rw_attnums == NULL)
			{
				et->rw_attnums = palloc(sizeof(AttrNumber) * list_length(mt->columns));
				et->rw_exprs = palloc(sizeof(char *) * list_length(mt->columns));
				et->rw_maynull = palloc(sizeof(bool) * list_length(mt->columns));
			}
			/* redact writes a constant, hash a value of a value */
			et->rw_maynull[et->nrw] = strcmp(c->erasure, "null") == 0 || strcmp(c->erasure, "delete") == 0;
			et->rw_attnums[et->nrw] = c->attnum;
			et->rw_exprs[et->nrw++] = expr;
			appendStringInfo(&set, "%s%s = %s", first ? "" : ", ", quote_identifier(c->name), expr);
			/* a value already rewritten is not rewritten (nor counted) again */
			appendStringInfo(&chg, "%sNOT coalesce(%s, false)", first ? "" : " OR ",
							 RetentionRewriteDoneExpr(typid, typmod, c->erasure, colexpr));
			first = false;
		}
		if (!first || et->chash != NIL)
		{
			et->set_clause = set.data;
			et->changed = chg.data;
		}
		/* a column altered since it was classified (classify refuses it) */
		if (shorthash != NULL && et->anonymize)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("erasure strategy \"hash\" does not fit column %s of table %s",
							quote_identifier(shorthash->name), mt->label),
					 errdetail("A pseudonym needs a string type other than name, with room for 16 characters under a unique index. Nothing was erased."),
					 errhint("Classify the column again with privacy.classify(), with another erasure strategy or after widening it."),
					 errhidestmt(true)));
		et->shared = shared_cond(subj, mt, "t", NULL);
		et->keep_shared = keep_shared && et->shared != NULL && !et->anonymize;
		ets = lappend(ets, et);
	}
	/* the foreign keys out of each table into tables whose rows are deleted */
	foreach(lc, ets)
	{
		EraseTable *p = lfirst(lc);
		ListCell   *fc;

		if (p->anonymize || p->mt->outbound)
			continue;
		foreach(fc, p->mt->fks_in)
		{
			MapHop	   *fk = lfirst(fc);
			EraseTable *c = find_et(ets, fk->rel);
			EraseEdge  *e;

			if (c == NULL)
				continue;
			e = palloc(sizeof(EraseEdge));
			e->fk = fk;
			e->parent = p;
			c->fks_out = lappend(c->fks_out, e);
		}
	}
	return ets;
}

pg_noreturn static void refuse(const char *msg, const char *detail, const char *hint);

/* the column is NOT NULL */
static bool
att_notnull(Oid relid, AttrNumber attnum)
{
	HeapTuple	tp = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	bool		result = false;

	if (HeapTupleIsValid(tp))
	{
		result = ((Form_pg_attribute) GETSTRUCT(tp))->attnotnull;
		ReleaseSysCache(tp);
	}
	return result;
}

/* run a statement with these parameters */
static int
run_params(Oid relid, const char *sql, EraseParams *p, bool read_only, int expect)
{
	return run_as_owner(p->call->subj, relid, sql, p->n, p->types, p->values, read_only, expect);
}

/*
 * in_gone
 *		Condition: row alias of et is one that a cascade deletes (outside
 *		the subject's rows); "false" when there is none.
 */
static char *
in_gone(EraseTable *et, const char *alias, EraseParams *p)
{
	Datum	   *o,
			   *t;
	int			i,
				po,
				pt;

	if (et->ngone == 0)
		return "false";
	o = palloc(sizeof(Datum) * et->ngone);
	t = palloc(sizeof(Datum) * et->ngone);
	for (i = 0; i < et->ngone; i++)
	{
		o[i] = ObjectIdGetDatum(et->gone_oid[i]);
		t[i] = PointerGetDatum(&et->gone_tid[i]);
	}
	po = params_add(p, OIDARRAYOID,
					PointerGetDatum(construct_array(o, et->ngone, OIDOID, sizeof(Oid), true, TYPALIGN_INT)));
	pt = params_add(p, TIDARRAYOID,
					PointerGetDatum(construct_array(t, et->ngone, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT)));
	return psprintf("(%s.ctid OPERATOR(pg_catalog.=) ANY ($%d) AND (%s.tableoid, %s.ctid) IN"
					" (SELECT u.o, u.c FROM ROWS FROM (pg_catalog.unnest($%d::pg_catalog.oid[]),"
					" pg_catalog.unnest($%d::pg_catalog.tid[])) u(o, c)))",
					alias, pt, alias, alias, po, pt);
}

/*
 * refs_deleted
 *		Condition: row alias references, through the edge's foreign key, a
 *		row that disappears (the subject's row deleted, or a row a cascade
 *		deletes).
 */
static char *in_arrays(MapHop *h, const char *alias, EraseParams *p, Oid *elemtypes, Datum *arrays);
static Datum empty_array(Oid elem);

/*
 * refs_deleted_keys
 *		refs_deleted when the referencing table has another owner than the
 *		referenced one: the keys of the referenced rows that go are read
 *		first, as the referenced table's owner, and passed as arrays, so the
 *		referencing table's owner never reads the referenced table (which it
 *		may not be allowed to, and whose policies are its owner's code).
 */
static char *
refs_deleted_keys(MapSubject *subj, EraseEdge *e, const char *alias, EraseParams *p)
{
	EraseTable *pt = e->parent;
	MapHop	   *fk = e->fk;
	EraseParams *pp = params_new(p->call);
	StringInfoData q;
	Oid		   *types = palloc(sizeof(Oid) * fk->ncols);
	Datum	   *arrays = palloc(sizeof(Datum) * fk->ncols);
	int			i;

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT ");
	for (i = 0; i < fk->ncols; i++)
	{
		types[i] = get_atttype(pt->mt->relid, fk->pcols[i]);
		appendStringInfo(&q, "%spg_catalog.array_agg(k.%s)", i ? ", " : "",
						 quote_identifier(get_attname(pt->mt->relid, fk->pcols[i], false)));
	}
	appendStringInfo(&q, " FROM %s k WHERE (%s%s%s)%s", pt->mt->qualname, delete_cond(subj, pt, "k", pp),
					 pt->ngone > 0 ? " OR " : "", pt->ngone > 0 ? in_gone(pt, "k", pp) : "",
					 MapHopParentLeaves(fk, "k"));
	run_params(pt->mt->relid, q.data, pp, true, SPI_OK_SELECT);
	for (i = 0; i < fk->ncols; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);

		arrays[i] = isnull ? empty_array(types[i]) : datumCopy(d, false, -1);
	}
	return in_arrays(fk, alias, p, types, arrays);
}

static char *
refs_deleted(MapSubject *subj, EraseEdge *e, const char *alias, EraseParams *p)
{
	char		palias[32];
	EraseTable *pt = e->parent;

	if (UtilRelationOwner(e->fk->rel) != UtilRelationOwner(pt->mt->relid))
		return refs_deleted_keys(subj, e, alias, p);
	snprintf(palias, sizeof(palias), "%s_p", alias);
	/*
	 * the subject's condition stays bare, so that its index plans are kept;
	 * a key into one partition references that partition's rows only
	 */
	if (e->fk->npleaves > 0)
		return psprintf("%s IN (SELECT %s FROM %s %s WHERE (%s%s%s)%s)",
						cols_of(alias, e->fk->rel, e->fk->cols, e->fk->ncols),
						cols_list(palias, pt->mt->relid, e->fk->pcols, e->fk->ncols),
						pt->mt->qualname, palias, delete_cond(subj, pt, palias, p),
						pt->ngone > 0 ? " OR " : "", pt->ngone > 0 ? in_gone(pt, palias, p) : "",
						MapHopParentLeaves(e->fk, palias));
	return psprintf("%s IN (SELECT %s FROM %s %s WHERE %s%s%s)",
					cols_of(alias, e->fk->rel, e->fk->cols, e->fk->ncols),
					cols_list(palias, pt->mt->relid, e->fk->pcols, e->fk->ncols),
					pt->mt->qualname, palias, delete_cond(subj, pt, palias, p),
					pt->ngone > 0 ? " OR " : "", pt->ngone > 0 ? in_gone(pt, palias, p) : "");
}

/*
 * acted_on
 *		" AND alias.tableoid = ANY (...)" when fk's ON DELETE action applies
 *		to some leaves of its partitioned table only (a key declared on some
 *		partitions, taken for the table's: map_walk.c), else "": the rows of
 *		the other leaves have no key, PostgreSQL neither cascades to them,
 *		sets them NULL nor refuses the deletion for them.
 */
static char *
acted_on(MapHop *fk, const char *alias)
{
	StringInfoData b;
	int			i;

	if (fk->nacton == 0)
		return "";
	initStringInfo(&b);
	appendStringInfo(&b, " AND %s.tableoid OPERATOR(pg_catalog.=) ANY ('{", alias);
	for (i = 0; i < fk->nacton; i++)
		appendStringInfo(&b, "%s%u", i ? "," : "", fk->acton[i]);
	appendStringInfoString(&b, "}'::pg_catalog.oid[])");
	return b.data;
}

/* remember rows (oid[], tid[] datums) that a cascade deletes */
static void
add_gone(EraseTable *et, Datum oids, Datum tids)
{
	Datum	   *o,
			   *t;
	bool	   *on,
			   *tn;
	int			no,
				nt,
				i;
	MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(et));

	deconstruct_array(DatumGetArrayTypeP(oids), OIDOID, sizeof(Oid), true, TYPALIGN_INT, &o, &on, &no);
	deconstruct_array(DatumGetArrayTypeP(tids), TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT,
					  &t, &tn, &nt);
	if (et->gone_cap < et->ngone + no)
	{
		et->gone_cap = Max(16, 2 * (et->ngone + no));
		et->gone_oid = et->gone_oid ? repalloc(et->gone_oid, sizeof(Oid) * et->gone_cap)
			: palloc(sizeof(Oid) * et->gone_cap);
		et->gone_tid = et->gone_tid ? repalloc(et->gone_tid, sizeof(ItemPointerData) * et->gone_cap)
			: palloc(sizeof(ItemPointerData) * et->gone_cap);
	}
	for (i = 0; i < no && i < nt; i++)
	{
		et->gone_oid[et->ngone] = DatumGetObjectId(o[i]);
		ItemPointerCopy((ItemPointer) DatumGetPointer(t[i]), &et->gone_tid[et->ngone]);
		et->ngone++;
	}
	MemoryContextSwitchTo(old);
}

/*
 * compute_gone
 *		The cascade closure: rows outside the subject's rows that ON DELETE
 *		CASCADE foreign keys delete with the subject's rows (a reply to the
 *		subject's comment through a self-reference, its own children...), to
 *		a fixed point.  A row that must be kept (an anonymize-mode table or a
 *		'keep' column) among them is 23503 before anything changes.  Outside
 *		a dry run the rows found are locked.
 */
static void
compute_gone(MapSubject *subj, List *ets, MapCall *call, bool dry_run)
{
	bool		changed = true;

	while (changed)
	{
		ListCell   *lc;

		changed = false;
		foreach(lc, ets)
		{
			EraseTable *pt = lfirst(lc);
			ListCell   *fc;

			if (pt->anonymize || pt->mt->outbound)
				continue;
			foreach(fc, pt->mt->fks_in)
			{
				MapHop	   *fk = lfirst(fc);
				EraseTable *ct = find_et(ets, fk->rel);
				EraseParams *p;
				EraseEdge	e;
				char	   *sql;
				bool		isnull;
				Datum		d;

				CHECK_FOR_INTERRUPTS();
				if (fk->deltype != 'c' || ct == NULL || ct->mt->outbound)
					continue;
				/* every referencing row is the subject's (and deleted or detached) */
				if (pt->ngone == 0 && !ct->anonymize && fk_covered(pt->mt, ct->mt, fk))
					continue;
				p = params_new(call);
				e.fk = fk;
				e.parent = pt;
				sql = psprintf("SELECT pg_catalog.array_agg(c.tableoid), pg_catalog.array_agg(c.ctid)"
							   " FROM %s c WHERE %s%s%s AND NOT %s",
							   ct->mt->qualname, refs_deleted(subj, &e, "c", p), acted_on(fk, "c"),
							   ct->anonymize ? "" : psprintf(" AND NOT coalesce(%s, false)",
															 call_cond(p, ct->mt, "c")),
							   in_gone(ct, "c", p));
				run_params(ct->mt->relid, sql, p, true, SPI_OK_SELECT);
				d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
				if (isnull)
					continue;
				if (ct->anonymize)
					refuse(psprintf("erasure would remove kept rows of %s through an ON DELETE CASCADE foreign key",
									ct->mt->label),
						   psprintf("Rows of %s stay after an erasure (erasure mode 'anonymize' or a column classified 'keep'); rows of %s that the erasure deletes are referenced by them through a foreign key that would delete them. Nothing was erased.",
									ct->mt->label, pt->mt->label),
						   psprintf("Make the foreign key ON DELETE SET NULL, or set the erasure mode of %s to 'anonymize' with privacy.set_erasure_mode() so its rows stay.",
									pt->mt->label));
				add_gone(ct, d, SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
				changed = true;
			}
		}
	}
	if (!dry_run)
	{
		ListCell   *lc;

		foreach(lc, ets)
		{
			EraseTable *et = lfirst(lc);
			EraseParams *p;

			if (et->ngone == 0)
				continue;
			p = params_new(call);
			run_params(et->mt->relid, psprintf("SELECT 1 FROM %s t WHERE %s FOR UPDATE OF t",
											   et->mt->qualname, in_gone(et, "t", p)),
					   p, false, SPI_OK_SELECT);
		}
	}
}

/* the link hops of a table (its own column holds the key) */
static List *
link_hops(MapTable *mt)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, mt->paths)
	{
		List	   *path = lfirst(lc);
		MapHop	   *h;
		ListCell   *rc;
		bool		dup = false;

		if (path == NIL || list_length(path) != 1)
			continue;
		h = linitial(path);
		if (!h->link || h->rel != mt->relid)
			continue;
		foreach(rc, result)
			if (((MapHop *) lfirst(rc))->cols[0] == h->cols[0])
				dup = true;
		if (!dup)
			result = lappend(result, h);
	}
	return result;
}

/* ------------------------------------------------------------------------
 * Constraints of the rows that stay and change
 * ------------------------------------------------------------------------
 */

/* a constraint that changed rows would violate (nv_run) */
typedef struct NewValueViolation
{
	char		kind;			/* 'n': a NOT NULL column; 'c': a CHECK
								 * constraint; 'f': a MATCH FULL foreign key;
								 * 'd': the domain of a column */
	int			sqlstate;		/* of the error the change would raise */
	char	   *name;			/* the constraint ('d': the domain), or NULL */
	char	   *columns;		/* the changed columns concerned, quoted */
} NewValueViolation;

/* reports a violation: raises an error, never returns */
typedef void (*NewValueReport) (void *arg, NewValueViolation *v);

/* one test of nv_run */
typedef struct NewValueTest
{
	NewValueViolation v;
	Node	   *expr;			/* a CHECK: its expression, of relation exprrel */
	Oid			exprrel;
	char	   *tableoids;		/* a partition's own CHECK: '{...}' of its leaves */
	char	   *cond;			/* the violation, over alias t */
} NewValueTest;

/* "a", "b" of the columns of relid in vars (pull_varattnos) that names holds */
static char *
vars_named(Oid relid, Bitmapset *vars, List *names)
{
	StringInfoData b;
	int			x = -1;

	initStringInfo(&b);
	while ((x = bms_next_member(vars, x)) >= 0)
	{
		AttrNumber	a = x + FirstLowInvalidHeapAttributeNumber;
		char	   *name;

		if (a <= 0 || (name = get_attname(relid, a, true)) == NULL ||
			!list_member(names, makeString(name)))
			continue;
		appendStringInfo(&b, "%s%s", b.len ? ", " : "", quote_identifier(name));
	}
	return b.len ? b.data : NULL;
}

/*
 * whole_row_expand
 *		expr (of rel, varno 1) with its whole-row references written as
 *		COALESCE(ROW(col, ...)::rowtype) over the columns by name: nv_run's new values
 *		are a subquery of the table's columns (and tableoid), which has no
 *		row of the table's type of its own.  A CHECK (tbl IS NOT NULL) was
 *		not tested, and the rewrite failed with 23514 while acting.
 */
static Node *
whole_row_mutator(Node *node, void *context)
{
	Relation	rel = context;

	if (node == NULL)
		return NULL;
	if (IsA(node, Var) && ((Var *) node)->varno == 1 && ((Var *) node)->varattno == 0 &&
		((Var *) node)->varlevelsup == 0)
	{
		TupleDesc	td = RelationGetDescr(rel);
		RowExpr    *r = makeNode(RowExpr);
		CoalesceExpr *c = makeNode(CoalesceExpr);
		int			i;

		for (i = 0; i < td->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(td, i);

			r->args = lappend(r->args, a->attisdropped ? (Node *) makeNullConst(INT4OID, -1, InvalidOid)
							  : (Node *) makeVar(1, a->attnum, a->atttypid, a->atttypmod, a->attcollation, 0));
			r->colnames = lappend(r->colnames, makeString(pstrdup(NameStr(a->attname))));
		}
		r->row_typeid = RelationGetForm(rel)->reltype;
		r->row_format = COERCE_EXPLICIT_CAST;
		r->location = -1;
		/*
		 * COALESCE(ROW(...)::tbl): a composite computed at run time, as the
		 * whole-row reference is; the planner splits a bare ROW() IS NULL
		 * into its fields, the null of a dropped column included
		 */
		c->coalescetype = r->row_typeid;
		c->args = list_make1(r);
		c->location = -1;
		return (Node *) c;
	}
	return expression_tree_mutator(node, whole_row_mutator, context);
}

static Node *
whole_row_expand(Node *expr, Relation rel)
{
	return whole_row_mutator(expr, rel);
}

/*
 * add_check_tests
 *		The CHECK constraints of rel that read a column of names (by name:
 *		a partition's columns may have other numbers), as tests; skip: names
 *		of constraints it inherits (checked with its parent); tableoids: the
 *		rows they apply to, NULL for all.
 */
static List *
add_check_tests(List *tests, Relation rel, List *names, List *skip, char *tableoids)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	int			i;

	if (constr == NULL)
		return tests;
	for (i = 0; i < constr->num_check; i++)
	{
		ConstrCheck *cc = &constr->check[i];
		Node	   *expr;
		Bitmapset  *vars = NULL;
		char	   *cols;
		NewValueTest *t;

		if (list_member(skip, makeString(cc->ccname)))
			continue;
		expr = stringToNode(cc->ccbin);
		pull_varattnos(expr, 1, &vars);
		/* a whole-row reference reads every column: the row of the new values */
		if (bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, vars))
		{
			StringInfoData b;
			ListCell   *nc;

			initStringInfo(&b);
			foreach(nc, names)
				appendStringInfo(&b, "%s%s", b.len ? ", " : "", quote_identifier(strVal(lfirst(nc))));
			cols = b.data;
			expr = whole_row_expand(expr, rel);
		}
		else if ((cols = vars_named(RelationGetRelid(rel), vars, names)) == NULL)
			continue;
		t = palloc0(sizeof(NewValueTest));
		t->v.kind = 'c';
		t->v.sqlstate = ERRCODE_CHECK_VIOLATION;
		t->v.name = pstrdup(cc->ccname);
		t->v.columns = cols;
		t->expr = expr;
		t->exprrel = RelationGetRelid(rel);
		t->tableoids = tableoids;
		tests = lappend(tests, t);
	}
	return tests;
}

/* the names of rel's CHECK constraints */
static List *
check_names(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	List	   *names = NIL;

	for (int i = 0; constr != NULL && i < constr->num_check; i++)
		names = lappend(names, makeString(pstrdup(constr->check[i].ccname)));
	table_close(rel, AccessShareLock);
	return names;
}

/* '{oid,...}' of the tables of relid's partition tree that hold rows */
static char *
leaf_oids(Oid relid)
{
	StringInfoData b;
	ListCell   *lc;

	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
		if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_RELATION)
			appendStringInfo(&b, "%s%u", b.len > 1 ? "," : "", lfirst_oid(lc));
	appendStringInfoChar(&b, '}');
	return b.data;
}

/* the tests of the changed columns of a table (nv_prepare) */
typedef struct NewValueCheck
{
	Oid			relid;
	int			n;
	AttrNumber *attnums;		/* the changed columns */
	List	   *tests;			/* NewValueTest * */
	Node	  **genexpr;		/* by attnum: the expression of a stored
								 * generated column computed from them */
	bool		gen;
	char	   *domains;		/* changed columns of a domain type, quoted */
	char	   *all;			/* all of them, quoted */
} NewValueCheck;

/*
 * nv_prepare
 *		What nv_run tests when the columns attnums[] of relid change, from
 *		the catalog: NOT NULL (of the columns that maynull[] says may become
 *		null, all of them when it is NULL), the CHECK constraints that read
 *		them (a partition's own as well, and through the stored generated
 *		columns computed from them), the domains of their types, the MATCH
 *		FULL foreign keys that contain them.  NULL when nothing applies (no
 *		statement then).
 */
static NewValueCheck *
nv_prepare(Oid relid, int n, const AttrNumber *attnums, const bool *maynull)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	td = RelationGetDescr(rel);
	NewValueCheck *c = palloc0(sizeof(NewValueCheck));
	List	   *names = NIL;
	Bitmapset  *changed = NULL;
	StringInfoData domains,
				all;
	ListCell   *lc;
	int			i;

	c->relid = relid;
	c->n = n;
	c->attnums = palloc(sizeof(AttrNumber) * Max(n, 1));
	memcpy(c->attnums, attnums, sizeof(AttrNumber) * n);
	c->genexpr = palloc0(sizeof(Node *) * (td->natts + 1));
	initStringInfo(&domains);
	initStringInfo(&all);
	for (i = 0; i < n; i++)
	{
		Form_pg_attribute a = TupleDescAttr(td, attnums[i] - 1);
		const char *col = quote_identifier(NameStr(a->attname));

		changed = bms_add_member(changed, attnums[i]);
		names = lappend(names, makeString(pstrdup(NameStr(a->attname))));
		appendStringInfo(&all, "%s%s", all.len ? ", " : "", col);
		if (get_typtype(a->atttypid) == TYPTYPE_DOMAIN)
			appendStringInfo(&domains, "%s%s", domains.len ? ", " : "", col);
		if (a->attnotnull && (maynull == NULL || maynull[i]))
		{
			NewValueTest *t = palloc0(sizeof(NewValueTest));

			t->v.kind = 'n';
			t->v.sqlstate = ERRCODE_NOT_NULL_VIOLATION;
			t->v.columns = pstrdup(col);
			t->cond = psprintf("t.%s IS NULL", col);
			c->tests = lappend(c->tests, t);
		}
	}
	c->all = all.data;
	c->domains = domains.len ? domains.data : NULL;
	/* stored generated columns computed from a changed column change too */
	if (td->constr != NULL && td->constr->has_generated_stored)
		for (i = 0; i < td->constr->num_defval; i++)
		{
			AttrDefault *d = &td->constr->defval[i];
			Bitmapset  *vars = NULL;

			if (TupleDescAttr(td, d->adnum - 1)->attgenerated != ATTRIBUTE_GENERATED_STORED)
				continue;
			c->genexpr[d->adnum] = stringToNode(d->adbin);
			pull_varattnos(c->genexpr[d->adnum], 1, &vars);
			if (vars_named(relid, vars, names) == NULL)
				c->genexpr[d->adnum] = NULL;
			else
				c->gen = true;
		}
	for (i = 1; i <= td->natts; i++)
		if (c->genexpr[i] != NULL)
			names = lappend(names, makeString(pstrdup(NameStr(TupleDescAttr(td, i - 1)->attname))));
	c->tests = add_check_tests(c->tests, rel, names, NIL, NULL);
	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
		{
			Oid			part = lfirst_oid(lc);
			Relation	prel;

			if (part == relid)
				continue;
			prel = table_open(part, AccessShareLock);
			c->tests = add_check_tests(c->tests, prel, names,
									   check_names(get_partition_parent(part, true)), leaf_oids(part));
			table_close(prel, AccessShareLock);
		}
	/* MATCH FULL foreign keys: all of their columns null, or none */
	foreach(lc, RelationGetFKeyList(rel))
	{
		ForeignKeyCacheInfo *fk = lfirst(lc);
		HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(fk->conoid));
		Form_pg_constraint con;
		bool		touched = false;
		char	   *cols;
		NewValueTest *t;

		if (!HeapTupleIsValid(tup))
			continue;
		con = (Form_pg_constraint) GETSTRUCT(tup);
		for (i = 0; i < fk->nkeys; i++)
			touched = touched || bms_is_member(fk->conkey[i], changed);
		if (con->confmatchtype != FKCONSTR_MATCH_FULL || !touched ||
			OidIsValid(con->conparentid))
		{
			ReleaseSysCache(tup);
			continue;
		}
		cols = cols_list("t", relid, fk->conkey, fk->nkeys);
		t = palloc0(sizeof(NewValueTest));
		t->v.kind = 'f';
		t->v.sqlstate = ERRCODE_FOREIGN_KEY_VIOLATION;
		t->v.name = pstrdup(NameStr(con->conname));
		t->v.columns = cols_list("", relid, fk->conkey, fk->nkeys);
		t->cond = psprintf("pg_catalog.num_nulls(%s) OPERATOR(pg_catalog.<>) 0"
						   " AND pg_catalog.num_nulls(%s) OPERATOR(pg_catalog.<>) %d",
						   cols, cols, fk->nkeys);
		c->tests = lappend(c->tests, t);
		ReleaseSysCache(tup);
	}
	table_close(rel, AccessShareLock);
	if (c->tests == NIL && c->domains == NULL)
		return NULL;
	return c;
}

/*
 * nv_run
 *		Before anything changes: would the rows of c's table (alias t) that
 *		where selects (over p) still satisfy the constraints of nv_prepare
 *		once the changed columns hold exprs[] (SQL over alias t)?  One
 *		SELECT as the table's owner, in a security-restricted operation
 *		(CHECK expressions and domains are user code), which writes
 *		nothing; the CHECK and generation expressions are written out as
 *		the owner too, so that they name what the owner's search_path
 *		finds, as the table's own statements do.  A violation is passed to
 *		report, which raises an error (never a value of the rows in it).
 */
static void
nv_run(NewValueCheck *c, const char *qualname, char **exprs, const char *where, EraseParams *p,
	   NewValueReport report, void *arg)
{
	Relation	rel = table_open(c->relid, AccessShareLock);
	TupleDesc	td = RelationGetDescr(rel);
	char	  **newval = palloc0(sizeof(char *) * (td->natts + 1));
	StringInfoData l1,
				sql;
	ListCell   *lc;
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool caught = false;
	NewValueViolation dv;
	int			i,
				frame;

	for (i = 0; i < c->n; i++)
		newval[c->attnums[i]] = exprs[i];
	/* user code written out as the owner (what the owner's search_path finds) */
	frame = GuardEnterTableOwner(c->relid);
	foreach(lc, c->tests)
	{
		NewValueTest *t = lfirst(lc);
		char	   *e;

		if (t->expr == NULL)
			continue;
		e = deparse_expression(t->expr, deparse_context_for(get_rel_name(t->exprrel), t->exprrel),
							   false, false);
		t->cond = t->tableoids == NULL ? psprintf("(%s) IS FALSE", e)
			: psprintf("CASE WHEN t.tableoid OPERATOR(pg_catalog.=) ANY ('%s'::pg_catalog.oid[])"
					   " THEN (%s) IS FALSE ELSE false END", t->tableoids, e);
	}
	initStringInfo(&l1);
	appendStringInfoString(&l1, "SELECT ");
	for (i = 1; i <= td->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(td, i - 1);
		const char *col = quote_identifier(NameStr(a->attname));

		if (a->attisdropped)
			continue;
		if (newval[i] != NULL)
			appendStringInfo(&l1, "CAST((%s) AS %s) AS %s, ", newval[i],
							 format_type_extended(a->atttypid, a->atttypmod,
												  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY),
							 col);
		else
			appendStringInfo(&l1, "t.%s, ", col);
	}
	appendStringInfo(&l1, "t.tableoid AS tableoid FROM %s t WHERE %s", qualname, where);
	if (c->gen)
	{
		StringInfoData l2;

		initStringInfo(&l2);
		appendStringInfoString(&l2, "SELECT ");
		for (i = 1; i <= td->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(td, i - 1);
			const char *col = quote_identifier(NameStr(a->attname));

			if (a->attisdropped)
				continue;
			if (c->genexpr[i] != NULL)
				appendStringInfo(&l2, "(%s) AS %s, ",
								 deparse_expression(c->genexpr[i],
													deparse_context_for(RelationGetRelationName(rel), c->relid),
													false, false), col);
			else
				appendStringInfo(&l2, "t.%s, ", col);
		}
		appendStringInfo(&l2, "t.tableoid FROM (%s) t", l1.data);
		l1 = l2;
	}
	GuardLeave(frame);
	table_close(rel, AccessShareLock);

	/* the new values first (a domain of their types), then each test */
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT s.k FROM (SELECT CASE WHEN pg_catalog.num_nulls(%s) OPERATOR(pg_catalog.<) 0 THEN -1",
					 c->all);
	foreach(lc, c->tests)
		appendStringInfo(&sql, " WHEN %s THEN %d", ((NewValueTest *) lfirst(lc))->cond,
						 foreach_current_index(lc) + 1);
	appendStringInfo(&sql, " ELSE 0 END AS k FROM (%s) t) s WHERE s.k OPERATOR(pg_catalog.<>) 0 LIMIT 1", l1.data);

	PG_TRY();
	{
		run_params(c->relid, sql.data, p, true, SPI_OK_SELECT);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		/* a domain's CHECK or NOT NULL: a constraint's class, no value in it */
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
			PG_RE_THROW();
		FlushErrorState();
		dv.kind = 'd';
		dv.sqlstate = edata->sqlerrcode;
		dv.name = edata->datatype_name ? pstrdup(edata->datatype_name) : NULL;
		dv.columns = c->domains ? c->domains : c->all;
		caught = true;
	}
	PG_END_TRY();

	/*
	 * report raises; after a caught error it must (the statement's error
	 * was flushed without a subtransaction: only an error may follow, which
	 * rolls back what the failed statement left)
	 */
	if (caught)
		report(arg, &dv);
	else if (SPI_processed > 0)
	{
		bool		isnull;
		int			k = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

		if (k > 0)
			report(arg, &((NewValueTest *) list_nth(c->tests, k - 1))->v);
	}
	if (caught)
		elog(ERROR, "a constraint violation was not reported");
}

/* foreign-key violation: the erasure would change nothing and stops */
static void
refuse(const char *msg, const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg_internal("%s", msg),
			 errdetail_internal("%s", detail),
			 errhint("%s", hint),
			 errhidestmt(true)));
}

/*
 * check_references
 *		Every foreign key into a table whose rows disappear (the subject's
 *		deleted rows, and the rows cascades delete: compute_gone), by its ON
 *		DELETE action, before anything changes:
 *		- NO ACTION / RESTRICT from a row that is not deleted as the
 *		  subject's (anonymize mode, outside the map, a row a cascade
 *		  deletes): 23503;
 *		- CASCADE: compute_gone (23503 when a kept row would go);
 *		- SET NULL / SET DEFAULT: the staying rows are counted as detached.
 *		Shared rows kept (shared => 'keep') must be detachable: nullable
 *		referencing columns, or 23503.
 */
/*
 * hop_fk
 *		The foreign key constraint of hop fk (the one declared on fk->rel,
 *		the partitioned table itself for a partition tree): whether it is
 *		MATCH FULL, and the columns its ON DELETE SET NULL sets (its column
 *		list, else all of its columns).  False when it is not found (a key
 *		declared on a partition): then MATCH SIMPLE and all columns.
 */
static bool
hop_fk(MapHop *fk, bool *full, int *nset, AttrNumber *setcols)
{
	Relation	rel = table_open(fk->rel, AccessShareLock);
	ListCell   *lc;
	bool		found = false;

	*full = false;
	*nset = fk->ncols;
	memcpy(setcols, fk->cols, sizeof(AttrNumber) * fk->ncols);
	foreach(lc, RelationGetFKeyList(rel))
	{
		ForeignKeyCacheInfo *f = lfirst(lc);
		HeapTuple	tup;
		Form_pg_constraint con;
		List	   *anc;

		if (f->nkeys != fk->ncols ||
			memcmp(f->conkey, fk->cols, sizeof(AttrNumber) * fk->ncols) != 0)
			continue;
		if (f->confrelid != fk->prel &&
			((anc = get_partition_ancestors(f->confrelid)) == NIL || llast_oid(anc) != fk->prel))
			continue;
		tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(f->conoid));
		if (!HeapTupleIsValid(tup))
			continue;
		con = (Form_pg_constraint) GETSTRUCT(tup);
		if (!OidIsValid(con->conparentid))
		{
			int			numfks,
						ndel;
			AttrNumber	conkey[INDEX_MAX_KEYS],
						confkey[INDEX_MAX_KEYS],
						delcols[INDEX_MAX_KEYS];

			*full = con->confmatchtype == FKCONSTR_MATCH_FULL;
			DeconstructFkConstraintRow(tup, &numfks, conkey, confkey, NULL, NULL, NULL, &ndel, delcols);
			if (ndel > 0)
			{
				*nset = ndel;
				memcpy(setcols, delcols, sizeof(AttrNumber) * ndel);
			}
			found = true;
		}
		ReleaseSysCache(tup);
		if (found)
			break;
	}
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * detach_cols
 *		The columns of e's foreign key that shared => 'keep' sets NULL to
 *		detach a kept row from a row that goes: those no other foreign key
 *		(or link) of the row uses, so that a column shared by composite
 *		keys (the tenant of (tenant, sender) and (tenant, recipient)) keeps
 *		the row's other references whole (MATCH SIMPLE: one NULL column
 *		suffices); all of them when each is shared, or when the key is
 *		MATCH FULL (a null in some of its columns only is a violation).
 */
static Bitmapset *
detach_cols(EraseTable *et, EraseEdge *e)
{
	Bitmapset  *own = NULL;
	int			i;
	bool		full;
	int			nset;
	AttrNumber	setcols[INDEX_MAX_KEYS];

	/* MATCH FULL: a key is detached only with all of its columns null */
	if (hop_fk(e->fk, &full, &nset, setcols) && full)
	{
		for (i = 0; i < e->fk->ncols; i++)
			own = bms_add_member(own, e->fk->cols[i]);
		return own;
	}
	for (i = 0; i < e->fk->ncols; i++)
	{
		AttrNumber	a = e->fk->cols[i];
		bool		shared = false;
		ListCell   *ec;

		foreach(ec, et->fks_out)
		{
			EraseEdge  *e2 = lfirst(ec);
			int			j;

			if (e2 == e || e2->fk == e->fk)
				continue;
			for (j = 0; j < e2->fk->ncols && !shared; j++)
				shared = e2->fk->cols[j] == a;
		}
		foreach(ec, link_hops(et->mt))
			shared = shared || ((MapHop *) lfirst(ec))->cols[0] == a;
		if (!shared)
			own = bms_add_member(own, a);
	}
	if (own == NULL)
		for (i = 0; i < e->fk->ncols; i++)
			own = bms_add_member(own, e->fk->cols[i]);
	return own;
}

/*
 * doomed_cond
 *		shared => 'keep': condition on row alias of et (a delete-mode table
 *		whose shared rows are kept): the row references a row that goes
 *		through a foreign key that is ON DELETE CASCADE and cannot be
 *		detached (a column that detach_cols would clear is NOT NULL).  Such
 *		a shared row cannot outlive the row it references (PostgreSQL would
 *		delete it with that row), so the erasure deletes it itself, counted
 *		under "deleted" and under "shared"; its own rows below it are judged
 *		the same way against it.  NULL when et has no such key.  A table
 *		whose condition is being written (a cycle of such keys, a
 *		self-reference) counts its shared rows as kept inside it: a row that
 *		still references one that goes is then 23503 before anything changes
 *		(the detach check), never deleted unannounced.
 */
static char *
doomed_cond(MapSubject *subj, EraseTable *et, const char *alias, EraseParams *p)
{
	StringInfoData buf;
	ListCell   *ec;

	if (!et->keep_shared)
		return NULL;
	if (!et->doom_known)
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(et));

		foreach(ec, et->fks_out)
		{
			EraseEdge  *e = lfirst(ec);
			Bitmapset  *cols;
			int			i;

			if (e->fk->deltype != 'c')
				continue;
			cols = detach_cols(et, e);
			for (i = 0; i < e->fk->ncols; i++)
				if (bms_is_member(e->fk->cols[i], cols) && att_notnull(et->mt->relid, e->fk->cols[i]))
				{
					et->doom_edges = lappend(et->doom_edges, e);
					break;
				}
		}
		et->doom_known = true;
		MemoryContextSwitchTo(old);
	}
	if (et->doom_edges == NIL || et->doom_busy)
		return NULL;
	et->doom_busy = true;
	initStringInfo(&buf);
	foreach(ec, et->doom_edges)
		appendStringInfo(&buf, "%s(%s%s)", buf.len ? " OR " : "",
						 refs_deleted(subj, lfirst(ec), alias, p),
						 acted_on(((EraseEdge *) lfirst(ec))->fk, alias));
	et->doom_busy = false;
	return psprintf("(%s)", buf.data);
}

static int	detach_plan(MapSubject *subj, EraseTable *et, MapCall *call, EraseParams **pp,
						AttrNumber **attnums, char ***exprs, char **where);
static void freeze_rows(EraseTable *et, MapCall *call, const char *sql, EraseParams *p);

/* a kept shared row cannot be detached (nv_run's report; arg: its EraseTable) */
static void
report_detach(void *arg, NewValueViolation *v)
{
	EraseTable *et = arg;
	const char *label = et->mt->label;

	refuse(psprintf("shared rows of %s cannot be kept", label),
		   v->kind == 'f'
		   ? psprintf("Rows of %s that also belong to another subject cannot be detached from the erased subject: the nulls that detach them would leave MATCH FULL foreign key \"%s\" (%s) partly null. Nothing was erased.",
					  label, v->name, v->columns)
		   : v->kind == 'c'
		   ? psprintf("Rows of %s that also belong to another subject would be detached from the erased subject by setting %s to null, which check constraint \"%s\" does not accept. Nothing was erased.",
					  label, v->columns, v->name)
		   : v->kind == 'd'
		   ? psprintf("Rows of %s that also belong to another subject would be detached from the erased subject by setting %s to null, which the type%s%s%s does not accept. Nothing was erased.",
					  label, v->columns, v->name ? " \"" : "", v->name ? v->name : "", v->name ? "\"" : "")
		   : psprintf("Rows of %s that also belong to another subject reference the erased subject through a NOT NULL column, so they cannot be detached. Nothing was erased.",
					  label),
		   "Erase with shared => 'delete', or let the referencing columns be null on their own (MATCH SIMPLE, nullable, accepted by the table's constraints).");
}

/*
 * report_fk_action
 *		A row that stays would be set null (or to its defaults) by an ON
 *		DELETE SET NULL (SET DEFAULT) foreign key into a row that goes, and
 *		cannot hold the new values (nv_run's report; names: the two tables).
 */
static void
report_fk_action(char **names, NewValueViolation *v, bool set_default)
{
	refuse(psprintf("erasure would delete rows of %s that rows of %s still reference", names[0], names[1]),
		   psprintf("Rows of %s stay after the erasure, and its ON DELETE %s foreign key would set column %s %s, which %s. Nothing was erased.",
					names[1], set_default ? "SET DEFAULT" : "SET NULL", v->columns,
					set_default ? "to its default" : "null",
					v->kind == 'n' ? (set_default ? "is null in a NOT NULL column" : "is NOT NULL")
					: v->kind == 'f' ? psprintf("leaves MATCH FULL foreign key \"%s\" partly null", v->name)
					: v->kind == 'c' ? psprintf("check constraint \"%s\" does not accept", v->name)
					: "its type does not accept"),
		   set_default ?
		   psprintf("Give column %s of %s a default that the table accepts, or make the foreign key ON DELETE SET NULL or CASCADE.",
					v->columns, names[1]) :
		   psprintf("Make the foreign key ON DELETE CASCADE, or let column %s of %s be null.", v->columns, names[1]));
}

/* nv_run's report of an ON DELETE SET NULL key (arg: the names of the two tables) */
static void
report_set_null(void *arg, NewValueViolation *v)
{
	report_fk_action(arg, v, false);
}

/*
 * staying_refs
 *		Condition on alias t of table C (fk's, cet when it is mapped): a row
 *		that stays after the erasure (not the subject's, or in anonymize
 *		mode) and references through fk a row of et that goes.
 */
static char *
staying_refs(MapSubject *subj, EraseTable *et, MapHop *fk, EraseTable *cet, EraseParams *p)
{
	EraseEdge	e;
	char	   *where;

	e.fk = fk;
	e.parent = et;
	where = psprintf("%s%s", refs_deleted(subj, &e, "t", p), acted_on(fk, "t"));
	if (cet != NULL && !cet->anonymize)
		where = psprintf("%s AND NOT coalesce(%s, false) AND NOT %s", where,
						 call_cond(p, cet->mt, "t"), in_gone(cet, "t", p));
	return where;
}

/*
 * check_set_null
 *		An ON DELETE SET NULL foreign key fk from table C (cet when it is
 *		mapped) into et, whose rows are deleted: the rows of C that stay
 *		(not the subject's, or in anonymize mode) and reference a row that
 *		goes must be able to hold the nulls (NOT NULL, CHECK, MATCH FULL,
 *		domains: nv_prepare), else 23503 before anything changes.  The
 *		subject's own rows of C are deleted, or detached when kept shared
 *		(checked with the detachment).
 */
static void
check_set_null(MapSubject *subj, EraseTable *et, MapHop *fk, EraseTable *cet, MapCall *call)
{
	bool		full;
	int			nset;
	AttrNumber	setcols[INDEX_MAX_KEYS];
	NewValueCheck *c;
	EraseParams *p;
	char	   *where;
	char	  **exprs;
	char	   *names[2];
	int			i;

	(void) hop_fk(fk, &full, &nset, setcols);
	if ((c = nv_prepare(fk->rel, nset, setcols, NULL)) == NULL)
		return;
	p = params_new(call);
	where = staying_refs(subj, et, fk, cet, p);
	exprs = palloc(sizeof(char *) * nset);
	for (i = 0; i < nset; i++)
		exprs[i] = "NULL";
	names[0] = et->mt->label;
	names[1] = UtilQualifiedName(fk->rel);
	nv_run(c, UtilFromName(fk->rel), exprs, where, p, report_set_null, names);
}

/* a row that stays cannot take the defaults of an ON DELETE SET DEFAULT key (nv_run's report) */
static void
report_set_default(void *arg, NewValueViolation *v)
{
	report_fk_action(arg, v, true);
}

/*
 * check_set_default
 *		An ON DELETE SET DEFAULT foreign key fk from table C (cet when it is
 *		mapped) into et, whose rows are deleted: the rows of C that stay and
 *		reference a row that goes take the defaults of the columns the key
 *		sets.  Those must satisfy C's constraints (nv_run) and, unless one
 *		of them is null (MATCH SIMPLE; MATCH FULL: all of them, nv_run),
 *		reference a row of et's table that stays: else PostgreSQL's action
 *		fails with 23503 while acting (a default that no row has), or the
 *		erasure fails when it deletes the row the default names (the
 *		subject's own).  Now 23503 before anything changes, in a dry run
 *		too.  Two statements, only for such a key and only when a row that
 *		stays references a row that goes: the defaults, as C's owner (they
 *		are its code), then the referenced row, as et's owner.  Not tested:
 *		a volatile default (nextval(): a dry run must not advance it), a
 *		key that sets some of its columns only (a column list).
 */
static void
check_set_default(MapSubject *subj, EraseTable *et, MapHop *fk, EraseTable *cet, MapCall *call)
{
	bool		full;
	int			nset;
	AttrNumber	setcols[INDEX_MAX_KEYS];
	Relation	rel;
	NewValueCheck *c;
	EraseParams *p;
	char	   *where;
	char	  **exprs;
	char	   *names[2];
	StringInfoData sel,
				sub;
	Datum	   *vals;
	Oid		   *types;
	bool		anynull = false;
	int			frame;
	int			i;

	(void) hop_fk(fk, &full, &nset, setcols);
	if (nset != fk->ncols)
		return;
	exprs = palloc(sizeof(char *) * nset);
	types = palloc(sizeof(Oid) * nset);
	rel = table_open(fk->rel, AccessShareLock);
	frame = GuardEnterTableOwner(fk->rel);
	initStringInfo(&sel);
	for (i = 0; i < nset; i++)
	{
		Node	   *d = build_column_default(rel, setcols[i]);
		int32		typmod;
		Oid			coll;

		if (d != NULL && contain_volatile_functions(d))
		{
			GuardLeave(frame);
			table_close(rel, AccessShareLock);
			return;
		}
		exprs[i] = d == NULL ? "NULL" : deparse_expression(d, NIL, false, false);
		/* typed as the referenced column, compared with it by the key */
		get_atttypetypmodcoll(fk->prel, fk->pcols[i], &types[i], &typmod, &coll);
		appendStringInfo(&sel, "%sCAST((%s) AS %s)", i ? ", " : "", exprs[i],
						 format_type_extended(types[i], typmod, FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
	}
	GuardLeave(frame);
	table_close(rel, AccessShareLock);

	p = params_new(call);
	where = staying_refs(subj, et, fk, cet, p);
	names[0] = et->mt->label;
	names[1] = UtilQualifiedName(fk->rel);
	if ((c = nv_prepare(fk->rel, nset, setcols, NULL)) != NULL)
		nv_run(c, UtilFromName(fk->rel), exprs, where, p, report_set_default, names);
	/* the defaults, if a row that stays takes them */
	run_params(fk->rel, psprintf("SELECT %s FROM %s t WHERE %s LIMIT 1", sel.data, UtilFromName(fk->rel), where),
			   p, true, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return;
	vals = palloc(sizeof(Datum) * nset);
	for (i = 0; i < nset; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);

		anynull = anynull || isnull;
		if (!isnull)
			vals[i] = SPI_datumTransfer(d, get_typbyval(types[i]), get_typlen(types[i]));
	}
	if (anynull)
		return;					/* no reference (MATCH FULL: nv_run) */
	/* a row of et's table that stays holds them */
	p = params_new(call);
	initStringInfo(&sub);
	for (i = 0; i < nset; i++)
		appendStringInfo(&sub, "%s$%d", i ? ", " : "SELECT ", params_add(p, types[i], vals[i]));
	run_params(et->mt->relid,
			   psprintf("SELECT 1 FROM %s k WHERE %s IN (%s) AND NOT (%s%s%s)%s LIMIT 1", et->mt->qualname,
						cols_of("k", et->mt->relid, fk->pcols, nset), sub.data, delete_cond(subj, et, "k", p),
						et->ngone > 0 ? " OR " : "", et->ngone > 0 ? in_gone(et, "k", p) : "",
						MapHopParentLeaves(fk, "k")),
			   p, true, SPI_OK_SELECT);
	if (SPI_processed > 0)
		return;
	refuse(psprintf("erasure would delete rows of %s that rows of %s still reference", names[0], names[1]),
		   psprintf("Rows of %s stay after the erasure, and its ON DELETE SET DEFAULT foreign key would set column %s to its default, which no row of %s that stays holds. Nothing was erased.",
					names[1], cols_list("", fk->rel, setcols, nset), names[0]),
		   psprintf("Give column %s of %s a default that names a row the erasure keeps (or NULL), or make the foreign key ON DELETE SET NULL or CASCADE.",
					cols_list("", fk->rel, setcols, nset), names[1]));
}

static void
check_references(MapSubject *subj, List *ets, MapCall *call)
{
	ListCell   *lc,
			   *fc;

	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);

		if (et->anonymize || et->mt->outbound)
			continue;
		foreach(fc, et->mt->fks_in)
		{
			MapHop	   *fk = lfirst(fc);
			EraseTable *cet = find_et(ets, fk->rel);
			bool		inmap = cet && !cet->mt->outbound;
			EraseParams *p;
			EraseEdge	e;
			char	   *sql;
			const char *extra = "";

			if (fk->deltype == 'n')
				check_set_null(subj, et, fk, inmap ? cet : NULL, call);
			if (fk->deltype == 'd')
				check_set_default(subj, et, fk, inmap ? cet : NULL, call);
			if (fk->deltype != 'a' && fk->deltype != 'r')
				continue;
			if (inmap && !cet->anonymize &&
				et->ngone == 0 && !et->keep_shared && fk_covered(et->mt, cet->mt, fk))
				continue;
			p = params_new(call);
			/* the subject's rows of C are deleted, or detached when kept shared */
			if (inmap && !cet->anonymize)
				extra = psprintf(" AND NOT coalesce(%s, false)", call_cond(p, cet->mt, "c"));
			e.fk = fk;
			e.parent = et;
			sql = psprintf("SELECT 1 FROM %s c WHERE %s%s%s LIMIT 1", UtilFromName(fk->rel),
						   refs_deleted(subj, &e, "c", p), acted_on(fk, "c"), extra);
			run_params(fk->rel, sql, p, true, SPI_OK_SELECT);
			if (SPI_processed == 0)
				continue;
			refuse(psprintf("erasure would delete rows of %s that rows of %s still reference",
							et->mt->label, UtilQualifiedName(fk->rel)),
				   psprintf("Rows of %s %s stay after the erasure, and its foreign key does not cascade.",
							UtilQualifiedName(fk->rel),
							!cet ? "outside the data map" : cet->anonymize ? "in erasure mode 'anonymize'"
							: "that are not the subject's"),
				   cet && !cet->anonymize
				   ? psprintf("Those rows belong to others: clear their reference first, or make the foreign key ON DELETE SET NULL.")
				   : cet ? psprintf("Set the erasure mode of %s to 'delete' with privacy.set_erasure_mode(), or make the foreign key ON DELETE CASCADE or SET NULL.",
									/* a partition's mode is its partitioned table's */
									UtilQualifiedName(get_rel_relispartition(fk->rel)
													  ? MapPartitionRoot(fk->rel) : fk->rel))
				   : psprintf("Map %s to the subject (a foreign key path or privacy.link()), or make the foreign key ON DELETE CASCADE or SET NULL.",
							  UtilQualifiedName(fk->rel)));
		}
	}

	/* kept shared rows must be detachable */
	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);
		ListCell   *ec;
		bool		stuck = false;

		if (!et->keep_shared)
			continue;
		foreach(ec, et->fks_out)
		{
			EraseEdge  *e = lfirst(ec);
			Bitmapset  *cols = detach_cols(et, e);
			int			i;

			for (i = 0; i < e->fk->ncols && !stuck; i++)
				if (bms_is_member(e->fk->cols[i], cols) && att_notnull(et->mt->relid, e->fk->cols[i]))
				{
					EraseParams *p = params_new(call);

					run_params(et->mt->relid,
							   psprintf("SELECT 1 FROM %s t WHERE %s AND %s LIMIT 1", et->mt->qualname,
										stay_cond(subj, et, "t", p), refs_deleted(subj, e, "t", p)),
							   p, true, SPI_OK_SELECT);
					stuck = SPI_processed > 0;
					break;
				}
		}
		foreach(ec, link_hops(et->mt))
		{
			MapHop	   *h = lfirst(ec);
			EraseParams *p = params_new(call);

			if (stuck || !att_notnull(et->mt->relid, h->cols[0]))
				continue;
			run_params(et->mt->relid,
					   psprintf("SELECT 1 FROM %s t WHERE %s AND %s LIMIT 1", et->mt->qualname,
								stay_cond(subj, et, "t", p), link_match(subj, h, "t")),
					   p, true, SPI_OK_SELECT);
			stuck = SPI_processed > 0;
		}
		if (stuck)
			refuse(psprintf("shared rows of %s cannot be kept", et->mt->label),
				   psprintf("Rows of %s that also belong to another subject reference the erased subject through a NOT NULL column, so they cannot be detached. Nothing was erased.",
							et->mt->label),
				   "Erase with shared => 'delete', or allow NULL in the referencing columns (a foreign key ON DELETE CASCADE instead takes the shared row with the row it references).");
		/* the other constraints of the detached rows: MATCH FULL keys, CHECKs, domains */
		{
			AttrNumber *attnums;
			char	  **exprs;
			char	   *where;
			EraseParams *p;
			int			n = detach_plan(subj, et, call, NULL, &attnums, NULL, NULL);
			NewValueCheck *c = n > 0 ? nv_prepare(et->mt->relid, n, attnums, NULL) : NULL;

			if (c == NULL)
				continue;
			(void) detach_plan(subj, et, call, &p, &attnums, &exprs, &where);
			nv_run(c, et->mt->qualname, exprs, where, p, report_detach, et);
		}
	}
}

/*
 * count_detached
 *		Rows of et that stay and lose a reference: through an ON DELETE SET
 *		NULL / SET DEFAULT foreign key into a row that disappears, and kept
 *		shared rows detached by the erasure itself.
 */
static void
count_detached(MapSubject *subj, EraseTable *et, MapCall *call)
{
	StringInfoData nd,
				kept,
				where;
	ListCell   *ec;
	EraseParams *p = params_new(call);

	if (et->mt->outbound)
		return;
	initStringInfo(&nd);
	initStringInfo(&kept);
	initStringInfo(&where);
	foreach(ec, et->fks_out)
	{
		EraseEdge  *e = lfirst(ec);
		char	   *r;

		/* only SET NULL / SET DEFAULT keys, and kept shared rows, count */
		if (!et->keep_shared && e->fk->deltype != 'n' && e->fk->deltype != 'd')
			continue;
		r = refs_deleted(subj, e, "t", p);
		if (e->fk->deltype == 'n' || e->fk->deltype == 'd')
			appendStringInfo(&nd, "%s(%s%s)", nd.len ? " OR " : "", r, acted_on(e->fk, "t"));
		appendStringInfo(&kept, "%s(%s)", kept.len ? " OR " : "", r);
	}
	foreach(ec, link_hops(et->mt))
		appendStringInfo(&kept, "%s(%s)", kept.len ? " OR " : "", link_match(subj, lfirst(ec), "t"));
	if (nd.len > 0)
	{
		if (et->anonymize)
			appendStringInfo(&where, "(%s)", nd.data);
		else
			appendStringInfo(&where, "((%s) AND NOT coalesce(%s, false) AND NOT %s)", nd.data,
							 delete_cond(subj, et, "t", p), in_gone(et, "t", p));
	}
	if (et->keep_shared && kept.len > 0)
		appendStringInfo(&where, "%s((%s) AND (%s))", where.len ? " OR " : "",
						 stay_cond(subj, et, "t", p), kept.data);
	if (where.len == 0)
		return;
	run_params(et->mt->relid, psprintf("SELECT pg_catalog.count(*) FROM %s t WHERE %s", et->mt->qualname, where.data),
			   p, true, SPI_OK_SELECT);
	et->detached = result_count();
}

/*
 * detach_plan
 *		What detach_shared sets in the kept shared rows of et: the columns
 *		(*attnums), their new values (*exprs, over alias t: null where a
 *		foreign key detached by the column, or a link column, references
 *		the subject's rows that go) and the rows (*where), all over *pp;
 *		with exprs NULL, the columns only (no statement).  Returns the
 *		number of columns (0: nothing to set).
 */
static int
detach_plan(MapSubject *subj, EraseTable *et, MapCall *call, EraseParams **pp,
			AttrNumber **attnums, char ***exprs, char **where)
{
	StringInfoData any;
	ListCell   *ec;
	Bitmapset  *done = NULL;
	EraseParams *p = params_new(call);
	int			nedges = list_length(et->fks_out);
	char	  **refs = palloc(sizeof(char *) * Max(nedges, 1));
	Bitmapset **cols = palloc(sizeof(Bitmapset *) * Max(nedges, 1));
	List	   *links = link_hops(et->mt);
	int			cap = 1 + list_length(links);
	int			n = 0;

	foreach(ec, et->fks_out)
		cap += ((EraseEdge *) lfirst(ec))->fk->ncols;
	if (pp)
		*pp = p;
	*attnums = palloc(sizeof(AttrNumber) * cap);
	if (exprs)
		*exprs = palloc(sizeof(char *) * cap);
	initStringInfo(&any);
	/* each edge's condition once (of another owner: a statement) and its columns */
	foreach(ec, et->fks_out)
	{
		int			k = foreach_current_index(ec);

		cols[k] = detach_cols(et, lfirst(ec));
		if (exprs == NULL)
			continue;
		refs[k] = refs_deleted(subj, lfirst(ec), "t", p);
		appendStringInfo(&any, "%s(%s)", any.len ? " OR " : "", refs[k]);
	}
	foreach(ec, et->fks_out)
	{
		EraseEdge  *e = lfirst(ec);
		int			i;

		for (i = 0; i < e->fk->ncols; i++)
		{
			AttrNumber	a = e->fk->cols[i];
			StringInfoData cond;

			if (bms_is_member(a, done) || !bms_is_member(a, cols[foreach_current_index(ec)]))
				continue;
			done = bms_add_member(done, a);
			(*attnums)[n] = a;
			if (exprs == NULL)
			{
				n++;
				continue;
			}
			/* NULL when any foreign key detached by this column references a row that goes */
			initStringInfo(&cond);
			for (int k = 0; k < nedges; k++)
				if (bms_is_member(a, cols[k]))
					appendStringInfo(&cond, "%s(%s)", cond.len ? " OR " : "", refs[k]);
			(*exprs)[n++] = psprintf("CASE WHEN %s THEN NULL ELSE t.%s END", cond.data,
									 quote_identifier(get_attname(et->mt->relid, a, false)));
		}
	}
	foreach(ec, links)
	{
		MapHop	   *h = lfirst(ec);
		char	   *m = exprs ? link_match(subj, h, "t") : NULL;

		if (exprs)
			appendStringInfo(&any, "%s(%s)", any.len ? " OR " : "", m);
		if (bms_is_member(h->cols[0], done))
			continue;
		done = bms_add_member(done, h->cols[0]);
		(*attnums)[n] = h->cols[0];
		if (exprs == NULL)
		{
			n++;
			continue;
		}
		(*exprs)[n++] = psprintf("CASE WHEN %s THEN NULL ELSE t.%s END", m,
								 quote_identifier(get_attname(et->mt->relid, h->cols[0], false)));
	}
	if (n > 0 && exprs)
		*where = psprintf("(%s) AND (%s)", stay_cond(subj, et, "t", p), any.data);
	return n;
}

/*
 * detach_shared
 *		shared => 'keep': the kept shared rows of a delete-mode table lose
 *		their references to the rows that disappear (foreign-key columns and
 *		link columns set NULL), so that nothing of theirs is deleted with
 *		the subject and nothing of the subject stays in them.  Runs before
 *		any row is deleted, referencing tables first.
 */
static void
detach_shared(MapSubject *subj, EraseTable *et, MapCall *call)
{
	EraseParams *p;
	AttrNumber *attnums;
	char	  **exprs;
	char	   *where;
	StringInfoData set;
	int			n = detach_plan(subj, et, call, &p, &attnums, &exprs, &where);
	int			i;
	bool		isnull;
	Datum		o,
				t;

	if (n == 0)
		return;
	initStringInfo(&set);
	for (i = 0; i < n; i++)
		appendStringInfo(&set, "%s%s = %s", i ? ", " : "",
						 quote_identifier(get_attname(et->mt->relid, attnums[i], false)), exprs[i]);
	if (!et->kept_frozen)
	{
		run_params(et->mt->relid, psprintf("UPDATE %s t SET %s WHERE %s", et->mt->qualname, set.data, where),
				   p, false, SPI_OK_UPDATE);
		return;
	}
	/* the detached rows' new versions stay kept, with those not detached */
	run_params(et->mt->relid,
			   psprintf("WITH u AS (UPDATE %s t SET %s WHERE %s RETURNING t.tableoid AS o, t.ctid AS c)"
						" SELECT pg_catalog.array_agg(u.o), pg_catalog.array_agg(u.c) FROM u",
						et->mt->qualname, set.data, where),
			   p, false, SPI_OK_SELECT);
	o = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return;
	t = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	p = params_new(call);
	{
		int			po = params_add(p, OIDARRAYOID, o);
		int			pt = params_add(p, TIDARRAYOID, t);

		/* our own new snapshot: the old versions of the detached rows are gone */
		freeze_rows(et, call, psprintf("SELECT pg_catalog.array_agg(k.o), pg_catalog.array_agg(k.c) FROM"
									   " (SELECT t.tableoid AS o, t.ctid AS c FROM %s t WHERE %s"
									   " UNION ALL SELECT u.o, u.c FROM ROWS FROM (pg_catalog.unnest($%d::pg_catalog.oid[]),"
									   " pg_catalog.unnest($%d::pg_catalog.tid[])) u(o, c)) k",
									   et->mt->qualname, in_kept(et, "t", p), po, pt), p);
	}
}

/*
 * freeze_rows
 *		Run sql (two columns: oid[] and tid[]) as et's owner and keep the
 *		result as et's kept shared rows, in et's memory.
 */
static void
freeze_rows(EraseTable *et, MapCall *call, const char *sql, EraseParams *p)
{
	bool		isnull;
	Datum		o,
				t;
	MemoryContext old;

	run_params(et->mt->relid, sql, p, true, SPI_OK_SELECT);
	o = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	t = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	old = MemoryContextSwitchTo(GetMemoryChunkContext(et));
	et->kept_oids = isnull ? (Datum) 0 : datumCopy(o, false, -1);
	et->kept_tids = isnull ? (Datum) 0 : datumCopy(t, false, -1);
	et->kept_frozen = true;
	MemoryContextSwitchTo(old);
}

/*
 * freeze_kept
 *		shared => 'keep', before anything changes: the shared rows of et
 *		that stay (stay_cond: shared and not doomed) are fixed by their
 *		tableoids and ctids, so that every later statement (detach, delete,
 *		the check that none is left) acts on the rows the plan counted.
 *		Whether a row is shared is read from the rows above it, which the
 *		erasure changes: a row shared only through a doomed row it is
 *		detached from (a notification of another account's favourite of the
 *		subject's status, also on the subject's anonymized profile) would
 *		otherwise be the subject's alone after the detach, and deleted while
 *		the receipt counted it kept.  Not for Citus tables (no ctids across
 *		shards): their condition is read as before.
 */
static void
freeze_kept(MapSubject *subj, EraseTable *et, MapCall *call)
{
	EraseParams *p;

	if (!et->keep_shared || et->kept_frozen || CitusTable(et->mt->relid).kind != CITUS_NONE)
		return;
	p = params_new(call);
	freeze_rows(et, call, psprintf("SELECT pg_catalog.array_agg(t.tableoid), pg_catalog.array_agg(t.ctid) FROM %s t WHERE %s",
								   et->mt->qualname, stay_cond(subj, et, "t", p)), p);
}

/* "alias.cols match the arrays $n.." (one array per column) */
static char *
in_arrays(MapHop *h, const char *alias, EraseParams *p, Oid *elemtypes, Datum *arrays)
{
	StringInfoData b;
	int			i;
	int			first = p->n + 1;

	for (i = 0; i < h->ncols; i++)
		params_add(p, get_array_type(elemtypes[i]), arrays[i]);
	initStringInfo(&b);
	if (h->ncols == 1)
		appendStringInfo(&b, "%s = ANY ($%d)", MapHopCol(h, alias, 0), first);
	else
	{
		appendStringInfo(&b, "%s IN (SELECT * FROM ROWS FROM (", MapHopCols(h, alias));
		for (i = 0; i < h->ncols; i++)
			appendStringInfo(&b, "%spg_catalog.unnest($%d)", i ? ", " : "", first + i);
		appendStringInfoString(&b, "))");
	}
	/* a link to a target: the rows of its type only */
	if (MapLinkFilter(h, alias) != NULL)
		return psprintf("(%s AND %s)", MapLinkFilter(h, alias), b.data);
	return b.data;
}

/* every component of the map is one table without a self-reference */
static bool
map_acyclic(MapSubject *subj)
{
	ListCell   *cc,
			   *pc;

	foreach(cc, subj->call_order)
	{
		List	   *comp = lfirst(cc);
		MapTable   *mt;

		if (list_length(comp) != 1)
			return false;
		mt = linitial(comp);
		foreach(pc, mt->paths)
		{
			List	   *path = lfirst(pc);

			if (path != NIL && !((MapHop *) linitial(path))->link &&
				((MapHop *) linitial(path))->prel == mt->relid)
				return false;
		}
	}
	return true;
}

/*
 * shared_memo
 *		shared_cond of et on alias t, per edge instead of per path, over
 *		what count_shared found for the tables above (an acyclic map, in
 *		which every path of a table is one of its edges followed by a path
 *		of the table it references): a row also reaches another subject
 *		when one of its edges points directly at another subject's key, or
 *		at a row of the table above that is the subject's and shared (its
 *		shared set), or at a row that is not the subject's and reaches any
 *		subject (that table's own paths, as shared_cond writes them).  The
 *		same rows as shared_cond, so the same counts; each row costs one
 *		test per edge.  NULL when a table has too many paths to tell
 *		(shared_cond's limit): then shared_cond is used.
 */
static char *
shared_memo(MapSubject *subj, List *ets, EraseTable *et, EraseParams *p)
{
	StringInfoData buf;
	ListCell   *lc;
	int			aliasno = 0;
	bool		first = true;
	List	   *own = NIL;
	bool		own_skipped = false;

	/* shared_cond reads at most its limit of paths: then the same */
	collect_paths(subj, et->mt, NIL, NIL, &own, &own_skipped);
	if (list_length(own) >= ERASE_MAX_SHARED_PATHS || own_skipped)
		return NULL;
	/* a table above of another owner: shared_cond reads it as its owner */
	if (!shared_one_owner(subj, own, 0, UtilRelationOwner(et->mt->relid)))
		return NULL;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	foreach(lc, et->mt->paths)
	{
		List	   *edge = lfirst(lc);
		MapHop	   *h;
		EraseTable *pt;
		List	   *ppaths = NIL;
		bool		skipped = false;
		Oid			types[32];
		Datum		sets[32];
		int			i,
					pidx;
		char		next[32];

		if (edge == NIL)
			continue;
		h = linitial(edge);
		if (!first)
			appendStringInfoString(&buf, " OR ");
		first = false;
		if (h->link || h->prel == subj->root)
		{
			/* a terminal hop: written as shared_cond writes it */
			append_other(&buf, subj, list_make1(list_make1(h)), 0, "t", &aliasno, NULL, NULL);
			continue;
		}
		pt = find_et(ets, h->prel);
		if (pt == NULL)
		{
			appendStringInfoString(&buf, "false");	/* a table dropped since */
			continue;
		}
		collect_paths(subj, pt->mt, NIL, NIL, &ppaths, &skipped);
		if (list_length(ppaths) >= ERASE_MAX_SHARED_PATHS || skipped)
			return NULL;
		pidx = list_index_of_et(ets, pt);
		for (i = 0; i < h->ncols; i++)
		{
			int			k = MapNeededIndex(pt->mt, h->pcols[i]);

			if (k < 0)
				return NULL;
			types[i] = pt->mt->needed_type[k];
			sets[i] = p->call->sets[pidx][k];
		}
		appendStringInfo(&buf, "CASE WHEN %s THEN ", in_arrays(h, "t", p, types, sets));
		if (pt->shared_sets == NULL)
			appendStringInfoString(&buf, "false");
		else
		{
			for (i = 0; i < h->ncols; i++)
				sets[i] = pt->shared_sets[MapNeededIndex(pt->mt, h->pcols[i])];
			appendStringInfoString(&buf, in_arrays(h, "t", p, types, sets));
		}
		snprintf(next, sizeof(next), "o%d", ++aliasno);
		appendStringInfo(&buf, " ELSE %sEXISTS (SELECT 1 FROM %s %s WHERE %s = %s AND (",
						 MapLinkFilter(h, "t") ? psprintf("%s AND ", MapLinkFilter(h, "t")) : "",
						 pt->mt->qualname, next,
						 cols_of(next, h->prel, h->pcols, h->ncols),
						 MapHopCols(h, "t"));
		if (ppaths == NIL || linitial(ppaths) == NIL)
			appendStringInfoString(&buf, "false");
		else
			append_other(&buf, subj, ppaths, 0, next, &aliasno, NULL, NULL);
		appendStringInfoString(&buf, ")) END");
	}
	appendStringInfoChar(&buf, ')');
	return first ? NULL : buf.data;
}

/*
 * count_shared
 *		How many of the subject's rows of et also reach another subject;
 *		their needed columns go to et->shared_sets (for the tables below).
 *		Called for the tables above first.
 */
static void
count_shared(MapSubject *subj, List *ets, EraseTable *et, MapCall *call, bool memo)
{
	EraseParams *p;
	StringInfoData sql;
	const char *cond;
	const char *shared = NULL;
	MapTable   *mt = et->mt;
	int			i;

	if (et->shared == NULL)
		return;
	p = params_new(call);
	cond = call_cond(p, mt, "t");
	if (memo)
		shared = shared_memo(subj, ets, et, p);
	if (shared == NULL)
		shared = shared_cond(subj, mt, "t", p);
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT pg_catalog.count(*) FILTER (WHERE x.s)");
	for (i = 0; i < mt->nneeded; i++)
		appendStringInfo(&sql, ", pg_catalog.array_agg(x.a%d) FILTER (WHERE x.s)", i);
	appendStringInfo(&sql, " FROM (SELECT coalesce(%s, false) AS s", shared);
	for (i = 0; i < mt->nneeded; i++)
		appendStringInfo(&sql, ", CAST(t.%s AS %s) AS a%d",
						 quote_identifier(get_attname(mt->relid, mt->needed[i], false)),
						 format_type_be(mt->needed_type[i]), i);
	appendStringInfo(&sql, " FROM %s t WHERE %s) x", mt->qualname, cond);
	run_kept_as_owner(subj, mt->relid, &mt->kept_shared, sql.data,
					  p->n, p->types, p->values, true, SPI_OK_SELECT);
	et->shared_rows = result_count();
	if (mt->nneeded > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(et));

		et->shared_sets = palloc(sizeof(Datum) * mt->nneeded);
		for (i = 0; i < mt->nneeded; i++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 2, &isnull);

			et->shared_sets[i] = isnull ? PointerGetDatum(construct_empty_array(mt->needed_type[i]))
				: datumCopy(d, false, -1);
		}
		MemoryContextSwitchTo(old);
	}
}

/*
 * lock_flags
 *		The tables whose subject's rows MapCallBeginLocking locks FOR UPDATE
 *		(subj->tables order): a row inserted or changed below them (a kept
 *		row a cascade would reach, a row that would block the deletion)
 *		waits for the erasure.  Not the root (locked first), not referenced
 *		tables (materialize_outbound), not tables that no foreign key
 *		references (their rows are deleted or rewritten by one statement
 *		each, nothing can be written below them).
 */
static bool *
lock_flags(MapSubject *subj, List *ets)
{
	bool	   *lock = palloc0(sizeof(bool) * Max(list_length(ets), 1));
	ListCell   *lc;

	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);

		/*
		 * CITUS HOOK: Citus locks rows of router queries only; a table
		 * queried through every shard is not locked, and a row written
		 * below its rows meanwhile makes the erasure fail (23503) instead
		 * of waiting, before anything is committed
		 */
		lock[foreach_current_index(lc)] = !(et->mt->outbound || et->mt->relid == subj->root ||
											et->mt->fks_in == NIL ||
											CitusFansOut(subj, et->mt->relid));
	}
	return lock;
}

/*
 * identity_columns
 *		The columns of relid's primary key, or of its replica identity
 *		index: a row's identity on every node.  0 when it has neither.
 */
static int
identity_columns(Oid relid, AttrNumber **cols)
{
	Relation	rel = table_open(relid, AccessShareLock);
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	int			n = 0;

	*cols = NULL;
	for (int pass = 0; pass < 2 && n == 0; pass++)
		foreach(lc, indexes)
		{
			HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
			Form_pg_index ix;

			if (!HeapTupleIsValid(tup))
				continue;
			ix = (Form_pg_index) GETSTRUCT(tup);
			if ((pass == 0 ? ix->indisprimary : ix->indisreplident) && ix->indnkeyatts > 0)
			{
				n = ix->indnkeyatts;
				*cols = palloc(sizeof(AttrNumber) * n);
				for (int i = 0; i < n; i++)
					(*cols)[i] = ix->indkey.values[i];
				ReleaseSysCache(tup);
				break;
			}
			ReleaseSysCache(tup);
		}
	list_free(indexes);
	table_close(rel, AccessShareLock);
	return n;
}

/* an empty array of elements of type elem */
static Datum
empty_array(Oid elem)
{
	return PointerGetDatum(construct_empty_array(elem));
}

/*
 * materialize_outbound_split
 *		materialize_outbound for a table referenced by a table of another
 *		owner (each referencing table is read as its own owner, with its
 *		privileges and under the policies that apply to it, never as the
 *		referenced table's owner), and for a Citus reference table, whose
 *		rows differ in ctid between its placements: they are identified by
 *		their primary key (or replica identity; a local table's by tableoid
 *		and ctid).  Three statements instead of one (Citus cannot join a
 *		reference table to a distributed table that references it in a
 *		correlated subquery):
 *		- the candidates' referenced columns, per foreign key into the
 *		  table, read on the table (locked first, outside a dry run);
 *		- per foreign key, the values among them that a staying row of the
 *		  referencing table still holds (a distributed table: through every
 *		  shard, in sequential mode so that the reference table can still
 *		  be changed in this transaction, with the parameters out of the
 *		  text);
 *		- the free candidates' identities, and the count of the others,
 *		  read on the table with those values as parameters.
 *		A distributed table referenced by the subject's rows is refused
 *		(0A000): its rows could be found only through every shard.
 */
static void
materialize_outbound_split(MapSubject *subj, List *ets, EraseTable *et, MapCall *call, bool dry_run)
{
	MapTable   *mt = et->mt;
	EraseParams *p = params_new(call);
	char	   *own = call_cond(p, mt, "t");
	int			nfk = list_length(mt->fks_in);
	int			ncand = 0;
	int		   *first = palloc(sizeof(int) * Max(nfk, 1));	/* per fk: its first result column */
	Datum	   *cand;
	Datum	  **held = palloc0(sizeof(Datum *) * Max(nfk, 1));
	Datum	  **held_others = palloc0(sizeof(Datum *) * Max(nfk, 1));
	StringInfoData sql,
				others;
	ListCell   *fc;
	bool		isnull;
	EraseParams *fp;
	int			i;
	bool		citus = CitusIsCitusTable(mt->relid);

	if (citus && (CitusTable(mt->relid).kind != CITUS_REFERENCE ||
				  (et->nid = identity_columns(mt->relid, &et->idcols)) == 0))
		CitusRefuseRowIdentity(mt->relid, "erasure");
	/* 1: lock the candidates, read their referenced columns */
	if (!dry_run)
		run_params(mt->relid, psprintf("SELECT 1 FROM %s t WHERE %s FOR UPDATE OF t", mt->qualname, own),
				   p, false, SPI_OK_SELECT);
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT true");
	foreach(fc, mt->fks_in)
	{
		MapHop	   *fk = lfirst(fc);

		first[foreach_current_index(fc)] = ncand + 2;
		for (i = 0; i < fk->ncols; i++, ncand++)
			appendStringInfo(&sql, ", pg_catalog.array_agg(DISTINCT t.%s)",
							 quote_identifier(get_attname(mt->relid, fk->pcols[i], false)));
	}
	appendStringInfo(&sql, " FROM %s t WHERE %s", mt->qualname, own);
	run_params(mt->relid, sql.data, p, true, SPI_OK_SELECT);
	cand = palloc(sizeof(Datum) * Max(ncand, 1));
	for (i = 0; i < ncand; i++)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 2, &isnull);

		cand[i] = isnull ? (Datum) 0 : datumCopy(d, false, -1);
	}

	/*
	 * 2: per foreign key, the candidates' values that others still hold;
	 * for the receipt's reason also, where rows of this subject that stay
	 * (anonymize mode) hold them, the values that rows beyond this subject's
	 * hold (held_others; the same as held for the other keys).
	 */
	foreach(fc, mt->fks_in)
	{
		MapHop	   *fk = lfirst(fc);
		EraseTable *cet = find_et(ets, fk->rel);
		int			k = foreach_current_index(fc);
		bool		mine0 = cet && !cet->mt->outbound && (!cet->anonymize || et->anonymize);
		bool		ownpass = cet && !cet->mt->outbound && !mine0;
		int			pass;

		held[k] = palloc0(sizeof(Datum) * fk->ncols);
		held_others[k] = held[k];
		if (cand[first[k] - 2] == (Datum) 0)
			continue;			/* no candidate: nothing is held */
		for (pass = 0; pass < (ownpass ? 2 : 1); pass++)
		{
			bool		mine = pass == 1 || mine0;
			Datum	   *into = pass == 1 ? (held_others[k] = palloc0(sizeof(Datum) * fk->ncols)) : held[k];
			StringInfoData q,
						w;
			int			nest;

			fp = params_new(call);
			initStringInfo(&q);
			initStringInfo(&w);
			for (i = 0; i < fk->ncols; i++)
			{
				const char *c = quote_identifier(get_attname(fk->rel, fk->cols[i], false));
				Oid			at = get_array_type(get_atttype(mt->relid, fk->pcols[i]));

				appendStringInfo(&q, "%spg_catalog.array_agg(r.%s)", i ? ", " : "", c);
				appendStringInfo(&w, "%sr.%s = ANY ($%d)", i ? " AND " : "", c,
								 params_add(fp, at, cand[first[k] - 2 + i]));
			}
			appendStringInfo(&q, " FROM (SELECT DISTINCT %s FROM %s r WHERE %s%s%s) r",
							 cols_list("r", fk->rel, fk->cols, fk->ncols), UtilFromName(fk->rel),
							 w.data, mine ? " AND NOT " : "",
							 mine ? psprintf("coalesce(%s, false)",
											 cet->anonymize ? call_cond(fp, cet->mt, "r")
											 : delete_cond(subj, cet, "r", fp)) : "");
			nest = CitusSequentialBegin();
			/* no subject: a distributed table's parameters out of the text */
			run_as_owner(NULL, fk->rel, psprintf("SELECT %s", q.data),
						 fp->n, fp->types, fp->values, true, SPI_OK_SELECT);
			CitusSequentialEnd(nest);
			for (i = 0; i < fk->ncols; i++)
			{
				Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);

				into[i] = isnull ? (Datum) 0 : datumCopy(d, false, -1);
			}
		}
	}

	/* 3: the free candidates' identities (a local table: tableoid and ctid) */
	fp = params_new(call);
	own = call_cond(fp, mt, "t");
	resetStringInfo(&sql);
	initStringInfo(&others);
	appendStringInfoString(&others, "true");
	appendStringInfoString(&sql, "SELECT pg_catalog.count(*) FILTER (WHERE NOT s.free AND NOT s.own)");
	if (!citus)
		appendStringInfoString(&sql, ", pg_catalog.array_agg(s.tableoid) FILTER (WHERE s.free),"
							   " pg_catalog.array_agg(s.ctid) FILTER (WHERE s.free)");
	for (i = 0; citus && i < et->nid; i++)
		appendStringInfo(&sql, ", pg_catalog.array_agg(s.i%d) FILTER (WHERE s.free)", i);
	appendStringInfoString(&sql, ", pg_catalog.count(*) FILTER (WHERE NOT s.free AND s.own)");
	appendStringInfoString(&sql, " FROM (SELECT true");
	if (!citus)
		appendStringInfoString(&sql, ", t.tableoid, t.ctid");
	for (i = 0; citus && i < et->nid; i++)
		appendStringInfo(&sql, ", t.%s AS i%d", quote_identifier(get_attname(mt->relid, et->idcols[i], false)), i);
	appendStringInfoString(&sql, ", true");
	foreach(fc, mt->fks_in)
	{
		MapHop	   *fk = lfirst(fc);
		int			k = foreach_current_index(fc);
		StringInfoData u,
					n;

		initStringInfo(&u);
		initStringInfo(&n);
		for (i = 0; i < fk->ncols; i++)
		{
			Oid			ct = get_atttype(fk->rel, fk->cols[i]);
			Oid			at = get_array_type(ct);

			appendStringInfo(&u, "%spg_catalog.unnest($%d::%s)", i ? ", " : "",
							 params_add(fp, at, held[k][i] ? held[k][i] : empty_array(ct)),
							 format_type_be_qualified(at));
			appendStringInfo(&n, "%su%d", i ? ", " : "", i);
		}
		appendStringInfo(&sql, " AND NOT (EXISTS (SELECT 1 FROM ROWS FROM (%s) u(%s) WHERE (%s) = %s)%s)",
						 u.data, n.data, n.data, cols_of("t", mt->relid, fk->pcols, fk->ncols),
							 MapHopParentLeaves(fk, "t"));
		if (held_others[k] == held[k])
			appendStringInfo(&others, " AND NOT (EXISTS (SELECT 1 FROM ROWS FROM (%s) u(%s) WHERE (%s) = %s)%s)",
							 u.data, n.data, n.data, cols_of("t", mt->relid, fk->pcols, fk->ncols),
							 MapHopParentLeaves(fk, "t"));
		else
		{
			resetStringInfo(&u);
			for (i = 0; i < fk->ncols; i++)
			{
				Oid			ct = get_atttype(fk->rel, fk->cols[i]);
				Oid			at = get_array_type(ct);

				appendStringInfo(&u, "%spg_catalog.unnest($%d::%s)", i ? ", " : "",
								 params_add(fp, at, held_others[k][i] ? held_others[k][i] : empty_array(ct)),
								 format_type_be_qualified(at));
			}
			appendStringInfo(&others, " AND NOT (EXISTS (SELECT 1 FROM ROWS FROM (%s) u(%s) WHERE (%s) = %s)%s)",
							 u.data, n.data, n.data, cols_of("t", mt->relid, fk->pcols, fk->ncols),
							 MapHopParentLeaves(fk, "t"));
		}
	}
	appendStringInfo(&sql, " AS free, %s AS own FROM %s t WHERE %s) s", others.data, mt->qualname, own);
	run_params(mt->relid, sql.data, fp, true, SPI_OK_SELECT);
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(et));

		et->retained = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		et->retained_own = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
													   SPI_tuptable->tupdesc->natts, &isnull));
		if (!citus)
		{
			Datum		d;

			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
			et->oids = isnull ? (Datum) 0 : datumCopy(d, false, -1);
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
			et->tids = isnull ? (Datum) 0 : datumCopy(d, false, -1);
			MemoryContextSwitchTo(old);
			return;
		}
		et->idtypes = palloc(sizeof(Oid) * et->nid);
		et->ids = NULL;
		for (i = 0; i < et->nid; i++)
		{
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 2, &isnull);

			et->idtypes[i] = get_array_type(get_atttype(mt->relid, et->idcols[i]));
			if (isnull)
				break;
			if (et->ids == NULL)
				et->ids = palloc(sizeof(Datum) * et->nid);
			et->ids[i] = datumCopy(d, false, -1);
		}
		MemoryContextSwitchTo(old);
	}
}

/*
 * materialize_outbound
 *		Rows of a referenced table that this erasure may change, locked FOR
 *		UPDATE: those that no staying row of another subject, or of a table
 *		outside the map, references.  A row of this subject that stays
 *		(anonymize mode) blocks deletion but not anonymization.  The other
 *		rows are retained and counted: those that only such staying rows of
 *		this subject reference apart (retained_own), for the receipt's
 *		reason.
 */
static void
materialize_outbound(MapSubject *subj, List *ets, EraseTable *et, MapCall *call, bool dry_run)
{
	StringInfoData sql,
				others;
	ListCell   *fc;
	bool		isnull;
	int			i = 0;
	EraseParams *p = params_new(call);
	char	   *own;

	/*
	 * A Citus reference table, or a table referenced by a table of another
	 * owner: the referencing tables are read each as its own owner (whose
	 * privileges and policies are the ones that apply to it), in three
	 * statements.
	 */
	if (CitusIsCitusTable(et->mt->relid))
	{
		materialize_outbound_split(subj, ets, et, call, dry_run);	/* CITUS HOOK */
		return;
	}
	foreach(fc, et->mt->fks_in)
	{
		if (UtilRelationOwner(((MapHop *) lfirst(fc))->rel) != UtilRelationOwner(et->mt->relid))
		{
			materialize_outbound_split(subj, ets, et, call, dry_run);
			return;
		}
	}
	initStringInfo(&sql);
	initStringInfo(&others);
	appendStringInfoString(&sql, "SELECT pg_catalog.array_agg(s.tableoid) FILTER (WHERE s.free),"
						   " pg_catalog.array_agg(s.ctid) FILTER (WHERE s.free),"
						   " pg_catalog.count(*) FILTER (WHERE NOT s.free AND NOT s.own),"
						   " pg_catalog.count(*) FILTER (WHERE NOT s.free AND s.own)"
						   " FROM (SELECT t.tableoid, t.ctid, true");
	appendStringInfoString(&others, "true");
	foreach(fc, et->mt->fks_in)
	{
		MapHop	   *fk = lfirst(fc);
		EraseTable *cet = find_et(ets, fk->rel);
		char		alias[16];
		bool		mine;
		char	   *cond;

		/* a row of this subject that is deleted, or stays while we only rewrite */
		mine = cet && !cet->mt->outbound && (!cet->anonymize || et->anonymize);
		snprintf(alias, sizeof(alias), "r%d", ++i);
		cond = psprintf("SELECT 1 FROM %s %s WHERE %s = %s%s",
						UtilFromName(fk->rel), alias,
						cols_of(alias, fk->rel, fk->cols, fk->ncols),
						cols_of("t", et->mt->relid, fk->pcols, fk->ncols),
						MapHopParentLeaves(fk, "t"));
		appendStringInfo(&sql, " AND NOT EXISTS (%s%s%s)", cond,
						 mine ? " AND NOT " : "",
						 mine ? psprintf("coalesce(%s, false)",
										 cet->anonymize ? call_cond(p, cet->mt, alias)
										 : delete_cond(subj, cet, alias, p)) : "");
		/*
		 * For the receipt: rows that only rows of this subject that stay
		 * (anonymize mode, a keep column) reference are kept for that reason,
		 * not because another subject's rows reference them.
		 */
		if (mine)
			appendStringInfo(&others, " AND NOT EXISTS (%s AND NOT coalesce(%s, false))", cond,
							 cet->anonymize ? call_cond(p, cet->mt, alias)
							 : delete_cond(subj, cet, alias, p));
		else if (cet && !cet->mt->outbound)
			appendStringInfo(&others, " AND NOT EXISTS (%s AND NOT coalesce(%s, false))", cond,
							 call_cond(p, cet->mt, alias));
		else
			appendStringInfo(&others, " AND NOT EXISTS (%s)", cond);
	}
	own = call_cond(p, et->mt, "t");
	appendStringInfo(&sql, " AS free, %s AS own FROM %s t WHERE %s) s", others.data, et->mt->qualname, own);
	/*
	 * Lock the candidate rows first; the statement that decides which are
	 * free runs after it with a new snapshot, so an erasure of another
	 * subject that shared them and committed meanwhile is seen.
	 */
	if (!dry_run)
		run_params(et->mt->relid,
				   psprintf("SELECT 1 FROM %s t WHERE %s FOR UPDATE OF t", et->mt->qualname, own),
				   p, false, SPI_OK_SELECT);
	run_params(et->mt->relid, sql.data, p, false, SPI_OK_SELECT);
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(et));
		Datum		d;

		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		et->oids = isnull ? (Datum) 0 : datumCopy(d, false, -1);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		et->tids = isnull ? (Datum) 0 : datumCopy(d, false, -1);
		et->retained = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		et->retained_own = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
		MemoryContextSwitchTo(old);
	}
}

/*
 * mark_partition_overlap
 *		A partition mapped by a key of its own (a foreign key declared on
 *		that partition only), or as part of its table (a key into it by
 *		columns unique only there: map_walk.c), while its partitioned
 *		ancestor is in the map too: the ancestor's statements reach rows of
 *		the partition as well.  Each row is counted once, by the partition's
 *		entry (the nearest to the row: a partition of a partition is
 *		counted by itself): the ancestor's counts leave such partitions out,
 *		leaves at every level, the partition's count includes the ancestor's
 *		rows in it.  Both have the same erasure mode (the partition's is
 *		its table's: map_cache.c); in anonymize mode the ancestor's rewrite
 *		leaves them out as well.
 */
static void
mark_partition_overlap(List *ets)
{
	ListCell   *lc;

	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);
		ListCell   *la;

		et->own_leaves = (Datum) 0;
		et->whole = NULL;
		if (!get_rel_relispartition(et->mt->relid))
			continue;
		foreach(la, get_partition_ancestors(et->mt->relid))
		{
			EraseTable *pt = find_et(ets, lfirst_oid(la));

			if (pt != NULL && pt->anonymize == et->anonymize && !pt->mt->outbound)
			{
				et->whole = pt;
				break;
			}
		}
	}
	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);
		Datum	   *o;
		int			n = 0;
		ListCell   *lf;

		if (get_rel_relkind(et->mt->relid) != RELKIND_PARTITIONED_TABLE)
			continue;
		o = NULL;
		foreach(lf, ets)
		{
			EraseTable *lt = lfirst(lf);
			ListCell   *lk;
			List	   *all;

			if (lt->whole != et)
				continue;
			/* its partitions at every level: a row's tableoid is its leaf's */
			all = find_all_inheritors(lt->mt->relid, NoLock, NULL);
			o = o ? repalloc(o, sizeof(Datum) * (n + list_length(all)))
				: palloc(sizeof(Datum) * list_length(all));
			foreach(lk, all)
				o[n++] = ObjectIdGetDatum(lfirst_oid(lk));
		}
		if (n > 0)
			et->own_leaves = PointerGetDatum(construct_array(o, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	}
}

/*
 * stat_deleted
 *		Rows of relid (all its partitions) deleted so far by this
 *		transaction, from its own statistics counters; -1 when the server
 *		does not count (track_counts = off).
 */
static int64
stat_deleted(Oid relid, List *ets)
{
	List	   *rels;
	ListCell   *lc;
	int64		n = 0;

	if (!pgstat_track_counts)
		return -1;
	rels = get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE
		? find_all_inheritors(relid, NoLock, NULL) : list_make1_oid(relid);
	foreach(lc, rels)
	{
		Oid			r = lfirst_oid(lc);

		if (get_rel_relkind(r) != RELKIND_RELATION)
			continue;
		/*
		 * a partition that is a table of the erasure counts its own rows,
		 * at every level (a leaf of a partitioned partition that is one)
		 */
		if (r != relid)
		{
			bool		own = find_et(ets, r) != NULL;
			ListCell   *la;

			foreach(la, own ? NIL : get_partition_ancestors(r))
			{
				if (lfirst_oid(la) == relid)
					break;
				if (find_et(ets, lfirst_oid(la)) != NULL)
				{
					own = true;
					break;
				}
			}
			if (own)
				continue;
		}
		n += DatumGetInt64(DirectFunctionCall1(pg_stat_get_xact_tuples_deleted, ObjectIdGetDatum(r)));
	}
	return n;
}

/*
 * citus_hash_parts
 *		The 'hash' columns of a Citus table (et->chash) appended to *set and
 *		*changed: Citus runs the UPDATE on a worker, which has neither the
 *		pseudonym scope nor this database's secret, so the pseudonyms are
 *		computed here.  Per column, the distinct values of the rows to
 *		rewrite (where, over p) are read, their pseudonyms computed, and
 *		the three arrays (values, pseudonyms, already a pseudonym) become
 *		parameters: the column's new value is the pseudonym at the
 *		position of its value (pg_catalog.array_position), a value written
 *		meanwhile by someone else becomes null.
 */
static void
citus_hash_parts(EraseTable *et, const char *where, EraseParams *p, char **set, char **changed)
{
	StringInfoData s,
				c;
	ListCell   *lc;

	initStringInfo(&s);
	initStringInfo(&c);
	appendStringInfoString(&s, *set);
	appendStringInfoString(&c, *changed);
	foreach(lc, et->chash)
	{
		MapColumn  *col = lfirst(lc);
		Oid			typid;
		int32		typmod;
		Oid			coll;
		int			len;
		bool		bytea;
		char	   *colexpr = psprintf("t.%s", quote_identifier(col->name));
		char	   *txt;
		char	   *pos;
		char	   *elem;
		Datum		vals,
					out,
					done;
		bool		isnull;
		int			pv,
					po,
					pd;

		get_atttypetypmodcoll(et->mt->relid, col->attnum, &typid, &typmod, &coll);
		txt = RetentionHashedColumn(typid, typmod, colexpr, &len, &bytea);
		run_params(et->mt->relid,
				   psprintf("SELECT pg_catalog.array_agg(DISTINCT %s) FROM %s t WHERE (%s) AND %s IS NOT NULL",
							txt, et->mt->qualname, where, colexpr),
				   p, true, SPI_OK_SELECT);
		vals = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			vals = PointerGetDatum(construct_empty_array(TEXTOID));
		RetentionPseudonyms(vals, len, &out, &done);
		pv = params_add(p, TEXTARRAYOID, vals);
		po = params_add(p, TEXTARRAYOID, out);
		pd = params_add(p, BOOLARRAYOID, done);
		pos = psprintf("pg_catalog.array_position($%d, %s)", pv, txt);
		/*
		 * the element inside an immutable function call: Citus's deparser
		 * takes a subscript at the top of an UPDATE's SET expression for an
		 * element assignment (and crashes on it), and refuses stable
		 * functions of the row's columns there
		 */
		elem = psprintf("pg_catalog.textcat(($%d)[%s], '')", po, pos);
		appendStringInfo(&s, "%s%s = CAST(%s AS %s)", s.len ? ", " : "", quote_identifier(col->name),
						 bytea ? psprintf("pg_catalog.decode(%s, 'hex')", elem) : elem,
						 format_type_with_typemod(typid, typmod));
		/* (IS NOT TRUE, not coalesce: Citus refuses subqueries in a COALESCE) */
		appendStringInfo(&c, "%s(%s IS NULL OR ($%d)[%s]) IS NOT TRUE", c.len ? " OR " : "",
						 colexpr, pd, pos);
	}
	*set = s.data;
	*changed = c.data;
}

/*
 * ids_match
 *		Condition: row t of an outbound Citus table is one of et->ids (its
 *		identity columns' values, parameters of p).
 */
static char *
ids_match(EraseTable *et, EraseParams *p)
{
	StringInfoData u,
				n,
				sel;
	int			i;

	if (et->nid == 1)
		return psprintf("t.%s = ANY ($%d)", quote_identifier(get_attname(et->mt->relid, et->idcols[0], false)),
						params_add(p, et->idtypes[0], et->ids[0]));
	initStringInfo(&u);
	initStringInfo(&n);
	initStringInfo(&sel);
	for (i = 0; i < et->nid; i++)
	{
		appendStringInfo(&u, "%spg_catalog.unnest($%d)", i ? ", " : "",
						 params_add(p, et->idtypes[i], et->ids[i]));
		appendStringInfo(&n, "%si%d", i ? ", " : "", i);
		appendStringInfo(&sel, "%su.i%d", i ? ", " : "", i);
	}
	return psprintf("%s IN (SELECT %s FROM ROWS FROM (%s) u(%s))",
					cols_of("t", et->mt->relid, et->idcols, et->nid), sel.data, u.data, n.data);
}

/*
 * may_skip
 *		A row trigger BEFORE cmd (CMD_DELETE or CMD_UPDATE) on relid or one
 *		of its partitions, which can skip a row by returning NULL; a rule on
 *		cmd (DO INSTEAD replaces the statement, DO ALSO adds one) is refused
 *		outright (0A000).  With rules_only, only the rules are looked at
 *		(check_rules, before anything changes, in a dry run too).
 */
static bool
may_skip_rules(Oid relid, CmdType cmd, bool rules_only)
{
	List	   *rels = get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE
		? find_all_inheritors(relid, NoLock, NULL) : list_make1_oid(relid);
	ListCell   *lc;
	bool		skip = false;

	foreach(lc, rels)
	{
		Relation	rel = table_open(lfirst_oid(lc), NoLock);

		if (rel->rd_rules != NULL)
			for (int i = 0; i < rel->rd_rules->numLocks; i++)
				if (rel->rd_rules->rules[i]->event == cmd)
				{
					char	   *name = pstrdup(RelationGetRelationName(rel));

					table_close(rel, NoLock);
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("table \"%s\" has a rule on %s", name, cmd == CMD_DELETE ? "DELETE" : "UPDATE"),
							 errdetail("An erasure must change the rows themselves. Nothing was erased."),
							 errhint("Drop the rule, or replace it with a trigger.")));
				}
		if (!rules_only && rel->trigdesc != NULL &&
			(cmd == CMD_DELETE ? rel->trigdesc->trig_delete_before_row : rel->trigdesc->trig_update_before_row))
			skip = true;
		table_close(rel, NoLock);
	}
	return skip;
}

static bool
may_skip(Oid relid, CmdType cmd)
{
	return may_skip_rules(relid, cmd, false);
}

/*
 * check_rules
 *		Before anything changes, in a dry run too: a rule on the command the
 *		erasure runs on a table (DELETE in delete mode, UPDATE for a rewrite
 *		or a detachment) is 0A000.  It was seen only while acting, so the dry
 *		run succeeded where the erasure failed.  Catalog only (relcache), no
 *		statement.
 */
static void
check_rules(List *ets)
{
	ListCell   *lc;

	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);

		if (!et->anonymize)
			(void) may_skip_rules(et->mt->relid, CMD_DELETE, true);
		if ((et->anonymize && et->set_clause != NULL) || et->keep_shared)
			(void) may_skip_rules(et->mt->relid, CMD_UPDATE, true);
	}
}

/*
 * check_none_skipped
 *		After the DELETE (or rewrite) of et's rows: none of them may remain
 *		(a BEFORE trigger that returned NULL keeps its row); else the whole
 *		erasure fails (27000), so that it never commits in part.
 */
static void
check_none_skipped(EraseTable *et, const char *cond, EraseParams *p, bool anonymize)
{
	int64		left;

	run_params(et->mt->relid, psprintf("SELECT pg_catalog.count(*) FROM %s t WHERE %s", et->mt->qualname, cond),
			   p, true, SPI_OK_SELECT);
	left = result_count();
	if (left > 0)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION),
				 errmsg("a trigger of table %s kept %lld of the subject's rows from being %s",
						et->mt->label, (long long) left, anonymize ? "anonymized" : "deleted"),
				 errdetail("An erasure changes every row of the subject or none. Nothing was erased."),
				 errhint("Make the table's BEFORE %s trigger let the extension's statements through.",
						 anonymize ? "UPDATE" : "DELETE")));
}

/*
 * act_where
 *		The rows of et (alias t) that the erasure acts on, as a condition
 *		over new parameters: $2 oid[] and $3 tid[], a referenced table's
 *		rows to act on; $4, the pseudonym scope's token (src/guard.h), set
 *		by the statements that rewrite (or test a rewrite: et->changed
 *		verifies pseudonyms' tags) and empty otherwise; then the key sets.
 *		NULL when a referenced table has no row to act on.
 */
static char *
act_where(MapSubject *subj, EraseTable *et, MapCall *call, EraseParams **pp)
{
	MapTable   *mt = et->mt;
	EraseParams *p = params_new(call);
	bool		outbound = mt->outbound && (et->tids != (Datum) 0 || et->ids != NULL);

	*pp = p;
	if (mt->outbound && !outbound)
		return NULL;
	params_add(p, OIDARRAYOID, outbound && et->tids ? et->oids : PointerGetDatum(construct_empty_array(OIDOID)));
	params_add(p, TIDARRAYOID, outbound && et->tids ? et->tids : PointerGetDatum(construct_empty_array(TIDOID)));
	params_add(p, TEXTOID, CStringGetTextDatum(""));
	if (outbound && et->ids != NULL)
		return ids_match(et, p);
	if (outbound)
		return "t.ctid OPERATOR(pg_catalog.=) ANY ($3) AND (t.tableoid, t.ctid) IN"
			" (SELECT u.o, u.c FROM ROWS FROM (pg_catalog.unnest($2::oid[]), pg_catalog.unnest($3::tid[])) u(o, c))";
	return et->anonymize ? call_cond(p, mt, "t") : delete_cond(subj, et, "t", p);
}

static char *uq_set_clause(MapSubject *subj, EraseTable *et, MapCall *call, EraseParams *p);

/*
 * act_table
 *		Delete or rewrite the subject's rows of one table (or count them in
 *		a dry run).
 */
static void
act_table(MapSubject *subj, EraseTable *et, MapCall *call, bool dry_run)
{
	MapTable   *mt = et->mt;
	EraseParams *p;
	char	   *where = act_where(subj, et, call, &p);
	const char *token = GuardPseudonymToken();
	char	   *set = et->set_clause;
	char	   *changed = et->changed;

	if (where == NULL)
		return;

	if (!et->anonymize)
	{
		if (dry_run)
		{
			/*
			 * each row once: see mark_partition_overlap (the rows of its
			 * own partitions are left out whichever condition finds them)
			 */
			if (et->whole != NULL)
				where = psprintf("(%s) OR (%s)", where, delete_cond(subj, et->whole, "t", p));
			if (et->own_leaves != (Datum) 0)
				where = psprintf("(%s) AND t.tableoid OPERATOR(pg_catalog.<>) ALL ($%d)", where,
								 params_add(p, OIDARRAYOID, et->own_leaves));
			run_params(mt->relid, psprintf("SELECT pg_catalog.count(*) FROM %s t WHERE %s", mt->qualname, where),
					   p, true, SPI_OK_SELECT);
			et->own_deleted = result_count();
			/* the DELETE's refusal of its foreign-key actions (guard.c) */
			GuardCheckCascades(mt->relid);
			return;
		}
		{
			bool		skip = may_skip(mt->relid, CMD_DELETE);

			run_kept_as_owner(subj, mt->relid, &mt->kept_act,
							  psprintf("DELETE FROM %s t WHERE %s", mt->qualname, where),
							  p->n, p->types, p->values, false, SPI_OK_DELETE);
			et->own_deleted = SPI_processed;
			if (skip)
				check_none_skipped(et, where, p, false);
		}
		return;
	}
	/* each row once, in anonymize mode too: see mark_partition_overlap */
	if (et->whole != NULL)
		where = psprintf("(%s) OR (%s)", where, call_cond(p, et->whole->mt, "t"));
	if (et->own_leaves != (Datum) 0)
		where = psprintf("(%s) AND t.tableoid OPERATOR(pg_catalog.<>) ALL ($%d)", where,
						 params_add(p, OIDARRAYOID, et->own_leaves));
	if (et->keep_cols != NIL)
	{
		run_params(mt->relid, psprintf("SELECT pg_catalog.count(*) FROM %s t WHERE %s", mt->qualname, where),
				   p, true, SPI_OK_SELECT);
		et->kept_rows = result_count();
	}
	if (et->set_clause == NULL)
		return;
	p->values[GUARD_SCOPE_PARAMNO - 1] = CStringGetTextDatum(token ? token : "");
	if (et->chash != NIL)
		citus_hash_parts(et, where, p, &set, &changed);
	/* rows whose pseudonym another row holds (check_unique): after it */
	if (et->uq_fix && !dry_run)
		set = uq_set_clause(subj, et, call, p);
	if (dry_run)
	{
		run_params(mt->relid, psprintf("SELECT pg_catalog.count(*) FROM %s t WHERE (%s) AND (%s)",
									   mt->qualname, where, changed),
				   p, true, SPI_OK_SELECT);
		et->anonymized = result_count();
		return;
	}
	{
		bool		skip = may_skip(mt->relid, CMD_UPDATE);

		run_kept_as_owner(subj, mt->relid, &mt->kept_act,
						  psprintf("UPDATE %s t SET %s WHERE (%s) AND (%s)",
								   mt->qualname, set, where, changed),
						  p->n, p->types, p->values, false, SPI_OK_UPDATE);
		et->anonymized = SPI_processed;
		if (skip)
			check_none_skipped(et, psprintf("(%s) AND (%s)", where, changed), p, true);
	}
}

/* ------------------------------------------------------------------------
 * Citus: the deletes of the routed tables in one router statement
 * ------------------------------------------------------------------------
 */

/*
 * citus_batchable
 *		et's rows go by a plain DELETE of the subject's rows of a table that
 *		Citus routes to the subject's shard group (hash-distributed,
 *		colocated with the root, the distribution column carried along every
 *		path): such DELETEs of one table owner can share one statement.  Not
 *		anonymize mode (rewrites), not shared rows kept, not referenced
 *		(outbound) tables.
 */
static bool
citus_batchable(MapSubject *subj, EraseTable *et)
{
	return !et->anonymize && !et->keep_shared && !et->mt->outbound &&
		CitusTable(et->mt->relid).kind == CITUS_DISTRIBUTED && CitusRouted(subj, et->mt);
}

/*
 * citus_delete_batch
 *		The DELETEs of batch (routed tables of one owner, in erasure order:
 *		referencing tables first) as one statement, data-modifying CTEs, so
 *		that Citus sends one router statement to the shard group of the key
 *		instead of one per table:
 *
 *		WITH d1 AS (DELETE FROM t1 t WHERE <t1's rows> RETURNING 1), ...
 *		SELECT (SELECT count(*) FROM d1), ...
 *
 *		Every CTE sees the statement's snapshot and the foreign keys' checks
 *		and actions run at its end, when all the rows are gone, so the order
 *		does not matter within it; a violation fails the whole statement.
 *		Each table's own count comes from its RETURNING rows, as a DELETE's
 *		row count would.  Runs as the tables' owner, its plan kept in the
 *		first table's act slot (replaced when the text changes).
 */
static void
citus_delete_batch(MapSubject *subj, List *batch, MapCall *call)
{
	EraseParams *p;
	StringInfoData sql;
	ListCell   *lc;
	EraseTable *first;

	if (batch == NIL)
		return;
	first = linitial(batch);
	if (list_length(batch) == 1)
	{
		act_table(subj, first, call, false);	/* one router statement */
		return;
	}
	p = params_new(call);
	initStringInfo(&sql);
	foreach(lc, batch)
	{
		EraseTable *et = lfirst(lc);

		appendStringInfo(&sql, "%s d%d AS (DELETE FROM %s t WHERE %s RETURNING 1)",
						 foreach_current_index(lc) == 0 ? "WITH" : ",",
						 foreach_current_index(lc) + 1, et->mt->qualname,
						 delete_cond(subj, et, "t", p));
	}
	foreach(lc, batch)
		appendStringInfo(&sql, "%s(SELECT pg_catalog.count(*) FROM d%d)",
						 foreach_current_index(lc) == 0 ? " SELECT " : ", ",
						 foreach_current_index(lc) + 1);
	run_kept_as_owner(subj, first->mt->relid, &first->mt->kept_act, sql.data,
					  p->n, p->types, p->values, false, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "routed erasure statement returned " UINT64_FORMAT " rows", SPI_processed);
	foreach(lc, batch)
	{
		EraseTable *et = lfirst(lc);
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									  foreach_current_index(lc) + 1, &isnull);

		et->own_deleted = isnull ? 0 : DatumGetInt64(d);
	}
}

static void delete_table(MapSubject *subj, EraseTable *et, MapCall *call);

/*
 * citus_delete
 *		The deletions of an erasure on a Citus cluster (CITUS HOOK, the
 *		last step of erase_act): in erasure order, the routed tables'
 *		DELETEs gathered into one statement per run of consecutive tables of
 *		the same owner (citus_delete_batch; all of them when one role owns
 *		the routed tables); every other table as before, one statement
 *		each.  Another Citus table (reference, not routed) ends the run
 *		first, so the order between Citus tables is kept; a table that is
 *		not a Citus table cannot have a foreign key to or from a distributed
 *		table, so it may run before the pending run.
 */
static void
citus_delete(MapSubject *subj, List *ordered, MapCall *call)
{
	List	   *batch = NIL;
	Oid			owner = InvalidOid;
	ListCell   *lc;

	foreach(lc, ordered)
	{
		EraseTable *et = lfirst(lc);

		if (et->anonymize)
			continue;
		if (citus_batchable(subj, et))
		{
			Oid			o = UtilRelationOwner(et->mt->relid);

			if (batch != NIL && o != owner)
			{
				citus_delete_batch(subj, batch, call);
				batch = NIL;
			}
			owner = o;
			batch = lappend(batch, et);
			continue;
		}
		if (CitusIsCitusTable(et->mt->relid))
		{
			citus_delete_batch(subj, batch, call);
			batch = NIL;
		}
		delete_table(subj, et, call);	/* a group: local tables only */
	}
	citus_delete_batch(subj, batch, call);
}


/*
 * lock_statement
 *		Run erase's statement that takes link()'s lock (2 parameters), as
 *		relid's owner, allowing it the calls of privacy._link_key_hash it
 *		makes (ncalls) and no more, error or not.
 */
static void
lock_statement(MapSubject *subj, Oid relid, MapKeptPlan **kept, const char *sql, int ncalls,
			   Oid *t, Datum *v)
{
	RightsAllowLinkKeyHash(ncalls);
	PG_TRY();
	{
		run_kept_as_owner(subj, relid, kept, sql, 2, t, v, false, SPI_OK_SELECT);
	}
	PG_FINALLY();
	{
		RightsAllowLinkKeyHash(0);
	}
	PG_END_TRY();
}

/*
 * lock_subject
 *		The root row FOR UPDATE, and the advisory lock that link() triggers
 *		take in shared mode: here for a table local to this node, on the
 *		worker of the key's shard group for a distributed linked table
 *		(CITUS HOOK: once, whatever the number of such tables; a linked
 *		table distributed since it was linked is checked again and refused
 *		when erase's lock would not reach its rows).
 */
static void
lock_subject(MapSubject *subj, Datum key, const char *canon)
{
	Oid			t[2];
	Datum		v[2];
	ListCell   *lc;
	bool		routed_lock = false;

	RightsLockSubject(subj->name, canon, true);
	t[0] = subj->key_type;
	v[0] = key;
	run_kept_as_owner(subj, subj->root, &subj->kept_lock,
					  psprintf("SELECT 1 FROM %s t WHERE %s FOR UPDATE",
							   UtilFromName(subj->root),
							   CitusMark(subj->root, psprintf("t.%s %s $1",
															  quote_identifier(subj->key_column), subj->key_eq))),
					  1, t, v, false, SPI_OK_SELECT);
	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);
		MapHop	   *h;
		Oid			typid;
		int32		typmod;
		Oid			coll;

		if (strcmp(mt->via, "link") != 0 || list_length(mt->paths) == 0 ||
			linitial(mt->paths) == NIL)
			continue;
		h = linitial((List *) linitial(mt->paths));
		if (!h->link)
			continue;
		t[1] = TEXTOID;
		v[1] = CStringGetTextDatum(subj->name);
		if (CitusCheckLink(subj, h->rel, h->cols[0], "privacy.erase()"))
		{
			/* a router statement on the root, as the root's owner */
			if (!routed_lock)
				lock_statement(subj, subj->root, &mt->kept_lock, CitusLinkLockQuery(subj), 1, t, v);
			routed_lock = true;
			continue;
		}
		get_atttypetypmodcoll(h->rel, h->cols[0], &typid, &typmod, &coll);
		/*
		 * the key as the trigger hashes a row's value (the link column's
		 * type and collation); the conversion runs as the table's owner
		 */
		{
			const char *collate = OidIsValid(coll) ? psprintf(" COLLATE %s", generate_collation_name(coll)) : "";
			char	   *sql = psprintf("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext($2 COLLATE \"C\"),"
									   " privacy._link_key_hash(%s%s))",
									   MapLinkKeyExpr(h->rel, h->cols[0], "$1", subj->key_type), collate);

			/* a uuid's upper-case spelling is the subject's too: its lock as well */
			if (MapLinkUpperToo(subj, h->rel, h->cols[0]))
				sql = psprintf("%s, pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext($2 COLLATE \"C\"),"
							   " privacy._link_key_hash(%s%s))", sql,
							   MapLinkKeyExpr(h->rel, h->cols[0],
											  "pg_catalog.upper(privacy._link_key(CAST(NULL AS pg_catalog.text), $1))",
											  TEXTOID), collate);
			lock_statement(subj, h->rel, &mt->kept_lock, sql,
						   MapLinkUpperToo(subj, h->rel, h->cols[0]) ? 2 : 1, t, v);
		}
	}
}

/*
 * check_holds
 *		55000 when the subject is under an active legal hold.  Runs with the
 *		latest snapshot, after the root row lock.
 */
static void
check_holds(MapSubject *subj, const char *canon)
{
	static SPIPlanPtr plan = NULL;
	Datum		v[2];
	int			ret;

	v[0] = CStringGetTextDatum(subj->name);
	v[1] = CStringGetTextDatum(canon);
	if (plan == NULL)
	{
		Oid			t[2] = {TEXTOID, TEXTOID};
		SPIPlanPtr	p = SPI_prepare("SELECT 1 FROM privacy.holds h WHERE h.subject OPERATOR(pg_catalog.=) $1"
									" AND h.subject_key OPERATOR(pg_catalog.=) $2 AND " PRIVACY_HOLD_ACTIVE,
									2, t);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		plan = p;
	}
	CommandCounterIncrement();
	ret = SPI_execute_snapshot(plan, v, NULL, GetLatestSnapshot(), InvalidSnapshot, true, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "hold lookup failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the subject is under a legal hold"),
				 errdetail("Nothing was erased."),
				 errhint("Release the hold with privacy.release_hold() once it no longer applies."),
				 errhidestmt(true)));
}

/*
 * check_others_held
 *		55000 when a row that this erasure deletes or rewrites (the
 *		subject's rows, the rows a cascade takes, the referenced rows that
 *		go) also belongs to another subject under an active legal hold, of
 *		this subject type (a shared row: an order of the erased customer
 *		that a held salesperson sold) or of another type whose map holds the
 *		table (the erased person's customer row, held as a customer).
 *		Retention keeps such rows (RetentionHoldFilter: held when any of a
 *		row's subjects is); an erasure deleted them.  One SELECT per table
 *		as its owner, with the hold filter retention uses (the pseudonym
 *		scope's token as $4), and none when no hold is active at all.
 *		Before anything changes, the dry run too.
 */
/*
 * lock_holds
 *		Not in a dry run, before any row is locked: privacy.holds in SHARE
 *		mode, as retention's batches take it, so that a hold placed on
 *		another subject after check_others_held waits for this erasure's
 *		transaction instead of committing before the rows the subjects share
 *		are deleted (holds win every race).  The erasure rewrites its own
 *		subject's released holds at the end (RightsForgetKey): when it has
 *		some, SHARE ROW EXCLUSIVE from the start, since two erasures that
 *		both hold SHARE and then both write to the table would deadlock; when
 *		it has none, RightsForgetKey writes nothing (told by the result).  No hold of this subject
 *		can appear meanwhile: hold() takes the subject's lock, which
 *		lock_subject holds.
 */
static bool
lock_holds(MapSubject *subj, const char *canon)
{
	int			ret;
	bool		has_holds;

	ret = SPI_connect();
	if (ret != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(ret));
	has_holds = RightsHasHolds(subj->name, canon);
	ret = SPI_execute(has_holds
					  ? "LOCK TABLE privacy.holds IN SHARE ROW EXCLUSIVE MODE"
					  : "LOCK TABLE privacy.holds IN SHARE MODE", false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "could not lock privacy.holds: %s", SPI_result_code_string(ret));
	SPI_finish();
	return has_holds;
}

/*
 * others_held: set by EraseSubject for privacy.replay_erasures: another
 * held subject's rows make check_others_held set *others_held and return,
 * and the erasure ends before acting (NULL receipt) instead of failing the
 * replay.  A parameter of this erasure only: a dry run that a trigger or
 * function calls while the replay's erasure runs (privacy.erase) has its
 * own, NULL (it was a static that the nested call took for its own, then
 * returned a NULL receipt to SQL and crashed the backend, or made the
 * replay count as held a subject it had erased).
 *
 * Not in a dry run, LOCK privacy.holds IN SHARE MODE first, as retention's
 * batches do (holds win every race): a hold of another subject placed after
 * this check waits for the erasure's transaction instead of committing
 * before the rows it shares are deleted.
 */
static void
check_others_held(MapSubject *subj, List *ets, MapCall *call, bool dry_run, bool *others_held)
{
	static SPIPlanPtr plan = NULL;
	const char *token = GuardPseudonymToken();
	ListCell   *lc;
	int			ret;

	if (plan == NULL)
	{
		SPIPlanPtr	q = SPI_prepare("SELECT 1 FROM privacy.holds h WHERE " PRIVACY_HOLD_ACTIVE " LIMIT 1",
									0, NULL);

		if (q == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(q) != 0)
			elog(ERROR, "SPI_keepplan failed");
		plan = q;
	}
	/* not in a dry run, privacy.holds is locked already (lock_holds) */
	CommandCounterIncrement();
	ret = SPI_execute_snapshot(plan, NULL, NULL, GetLatestSnapshot(), InvalidSnapshot, true, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "hold lookup failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0 || token == NULL)
		return;
	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);
		EraseParams *p;
		char	   *where;
		char	   *held;

		CHECK_FOR_INTERRUPTS();
		if (et->anonymize && et->set_clause == NULL)
			continue;			/* its rows stay unchanged */
		/*
		 * CITUS HOOK: not on a Citus table: the hold filter's
		 * privacy._held() answers only in this backend (retention, which
		 * refuses Citus tables), not on a worker.  A routed table has no
		 * row shared with another subject of the type (every path carries
		 * the key); another subject type's hold on it is not checked.
		 */
		if (CitusIsCitusTable(et->mt->relid))
			continue;
		where = act_where(subj, et, call, &p);
		if (where == NULL)
			continue;
		if (et->anonymize)
			where = psprintf("(%s) AND (%s)", where, et->changed);
		else if (et->ngone > 0)
			where = psprintf("(%s) OR %s", where, in_gone(et, "t", p));
		p->values[GUARD_SCOPE_PARAMNO - 1] = CStringGetTextDatum(token);
		/*
		 * the tables above of other owners read as their owners, before
		 * (RetentionHoldFilterIn), their keys parameters of p
		 */
		{
			RetHoldScope hs;

			RetentionHoldScopeInit(&hs, UtilRelationOwner(et->mt->relid),
								   psprintf("%s t", et->mt->qualname), where, p->n, p->types, p->values);
			hs.latest = true;
			held = RetentionHoldFilterIn(et->mt->relid, "t", NIL, &hs);
			if (held == NULL)
				continue;
			for (int i = p->n; i < hs.nargs; i++)
				params_add(p, hs.types[i], hs.values[i]);
		}
		run_params(et->mt->relid, psprintf("SELECT 1 FROM %s t WHERE (%s) AND (%s) LIMIT 1",
										   et->mt->qualname, where, held),
				   p, true, SPI_OK_SELECT);
		if (SPI_processed > 0 && others_held != NULL)
		{
			*others_held = true;
			return;
		}
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("erasure would %s rows of %s that belong to another subject under a legal hold",
							et->anonymize ? "rewrite" : "delete", et->mt->label),
					 errdetail("Rows of %s that this erasure %s are also rows of a subject under an active legal hold (of this subject type or another whose data map holds the table). Nothing was erased.",
							   et->mt->label, et->anonymize ? "rewrites" : "deletes"),
					 et->keep_shared ?
					 errhint("Erase once the hold is released: shared => 'keep' keeps only the shared rows that can outlive the erased subject's rows, and these go with them (a NOT NULL ON DELETE CASCADE key) or belong to another subject type.") :
					 errhint("Erase once the hold is released, or with shared => 'keep' so that the rows the subjects share stay."),
					 errhidestmt(true)));
	}
}

/* push "key": value pairs */
static void
jb_key(JsonbParseState **st, const char *k)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) k;
	v.val.string.len = strlen(k);
	pushJsonbValue(st, WJB_KEY, &v);
}

static void
jb_str(JsonbParseState **st, const char *s, int tok)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	pushJsonbValue(st, tok, &v);
}

static void
jb_num(JsonbParseState **st, int64 n, int tok)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(n)));
	pushJsonbValue(st, tok, &v);
}

static void
jb_bool(JsonbParseState **st, bool b, int tok)
{
	JsonbValue	v;

	v.type = jbvBool;
	v.val.boolean = b;
	pushJsonbValue(st, tok, &v);
}

/*
 * notify_recipients
 *		Names of recipients whose categories equal, or are parents of, a
 *		category of the erased data.
 */
static List *
notify_recipients(List *ets)
{
	static SPIPlanPtr plan = NULL;
	ListCell   *lc,
			   *cc;
	List	   *cats = NIL;
	List	   *result = NIL;
	Datum	   *elems;
	int			n = 0;
	uint64		i;
	Oid			t[1] = {TEXTARRAYOID};
	Datum		v[1];
	MemoryContext outer = CurrentMemoryContext;

	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);

		if (et->deleted == 0 && et->anonymized == 0)
			continue;
		foreach(cc, et->mt->columns)
		{
			MapColumn  *c = lfirst(cc);

			/* a kept column was not erased (its row stays) */
			if (et->anonymize && strcmp(c->erasure, "keep") == 0)
				continue;
			cats = lappend(cats, c->category);
		}
	}
	if (cats == NIL)
		return NIL;
	elems = palloc(sizeof(Datum) * list_length(cats));
	foreach(lc, cats)
		elems[n++] = CStringGetTextDatum(lfirst(lc));
	v[0] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	/* kept for the backend, one generic plan (the plan cache replans after DDL) */
	if (plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare_cursor("SELECT r.name FROM privacy.recipients r WHERE EXISTS ("
										   " SELECT 1 FROM pg_catalog.unnest(r.categories) rc, pg_catalog.unnest($1) c"
										   " WHERE c = rc OR pg_catalog.left(c, pg_catalog.length(rc) + 1) = rc || '.')"
										   " ORDER BY r.name", 1, t, CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		plan = p;
	}
	if (SPI_execute_plan(plan, v, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "recipient lookup failed");
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		MemoryContext old = MemoryContextSwitchTo(outer);

		result = lappend(result, pstrdup(name));
		MemoryContextSwitchTo(old);
	}
	return result;
}

/*
 * EraseSubject
 *		Erase one subject (see the file banner); returns the receipt.  Used
 *		by privacy.replay_erasures.  Shared rows go with the subject
 *		(shared => 'delete').  With others_held, a row of another subject
 *		under a legal hold among the rows that would change sets
 *		*others_held and returns NULL, nothing changed (the hold wins, as
 *		the subject's own hold does), instead of 55000.
 */
static Jsonb *erase_subject(MapSubject *subj, Datum key, const char *canon, const char *ref,
							const char *reason, bool dry_run, bool keep_shared, const char *kind,
							bool *others_held);

Jsonb *
EraseSubject(MapSubject *subj, Datum key, const char *canon, const char *ref,
			 const char *reason, bool dry_run, const char *kind, bool *others_held)
{
	if (others_held != NULL)
		*others_held = false;
	return erase_subject(subj, key, canon, ref, reason, dry_run, false, kind, others_held);
}

static void plan_groups(MapSubject *subj, List *ordered, MapCall *call);

/* the rewrite of anonymize mode cannot be stored (nv_run's report; arg: the EraseTable) */
static void
report_rewrite(void *arg, NewValueViolation *v)
{
	EraseTable *et = arg;
	const char *label = et->mt->label;
	const char *stays = "The subject's rows of %s stay after the erasure (erasure mode 'anonymize' or a column classified 'keep'), and their rewrite %s. Nothing was erased.";

	switch (v->kind)
	{
		case 'n':
			ereport(ERROR,
					(errcode(v->sqlstate),
					 errmsg("erasure would write a null into NOT NULL column %s of table %s", v->columns, label),
					 errdetail_internal(stays, label, "by the column's erasure strategy writes a null"),
					 errhint("Classify column %s with erasure strategy 'redact', 'hash' or 'keep' (privacy.classify()).",
							 v->columns),
					 errhidestmt(true)));
			break;
		case 'f':
			ereport(ERROR,
					(errcode(v->sqlstate),
					 errmsg("erasure would leave MATCH FULL foreign key \"%s\" of table %s partly null", v->name, label),
					 errdetail_internal(stays, label, psprintf("writes a null into some of the key's columns (%s) but not into all of them", v->columns)),
					 errhint("Classify every column of the key with the same erasure strategy, or none of them."),
					 errhidestmt(true)));
			break;
		case 'c':
			ereport(ERROR,
					(errcode(v->sqlstate),
					 errmsg("erasure would violate check constraint \"%s\" of table %s", v->name, label),
					 errdetail_internal(stays, label, psprintf("by the erasure strategy of column %s writes a value that the constraint does not accept", v->columns)),
					 errhint("Classify column %s with an erasure strategy whose value the constraint accepts (privacy.classify()), change the constraint, or erase the rows in delete mode (privacy.set_erasure_mode()).",
							 v->columns),
					 errhidestmt(true)));
			break;
		default:
			ereport(ERROR,
					(errcode(v->sqlstate),
					 errmsg("erasure would write a value that the type of column %s of table %s does not accept", v->columns, label),
					 errdetail_internal(stays, label, v->name ? psprintf("by the erasure strategy of the column writes a value that domain \"%s\" does not accept", v->name)
										: "by the erasure strategy of the column writes a value that its domain does not accept"),
					 errhint("Classify column %s with an erasure strategy whose value the domain accepts (privacy.classify()), or erase the rows in delete mode (privacy.set_erasure_mode()).",
							 v->columns),
					 errhidestmt(true)));
	}
}

/*
 * check_rewrite
 *		Anonymize mode: the subject's rows of et, rewritten by the columns'
 *		strategies, must still satisfy the table's constraints (nv_run: NOT
 *		NULL, CHECK, MATCH FULL keys, domains); else the error of the
 *		rewrite (23502, 23514, 23503), before anything changes, in a dry
 *		run too.  The same rows and values as the rewrite (act_table).  Not
 *		on Citus tables (their pseudonyms are computed while acting).
 */
static void
check_rewrite(MapSubject *subj, EraseTable *et, MapCall *call)
{
	NewValueCheck *c;
	EraseParams *p;
	char	   *where;
	const char *token = GuardPseudonymToken();

	if (!et->anonymize || et->nrw == 0 || CitusIsCitusTable(et->mt->relid))
		return;
	if ((c = nv_prepare(et->mt->relid, et->nrw, et->rw_attnums, et->rw_maynull)) == NULL)
		return;
	if ((where = act_where(subj, et, call, &p)) == NULL)
		return;
	p->values[GUARD_SCOPE_PARAMNO - 1] = CStringGetTextDatum(token ? token : "");
	nv_run(c, et->mt->qualname, et->rw_exprs, psprintf("(%s) AND (%s)", where, et->changed), p,
		   report_rewrite, et);
}

/*
 * unique_keys
 *		The key of unique index ix (its pg_index tuple) over alias a:
 *		"a.col" for a column, the expression written with a's columns;
 *		*pred, its predicate (a partial index) or NULL.  As the table's
 *		owner (the expressions are the owner's code).
 */
static List *
unique_keys(HeapTuple tup, Oid relid, const char *a, char **pred)
{
	Form_pg_index ix = (Form_pg_index) GETSTRUCT(tup);
	List	   *ctx = deparse_context_for(a, relid);
	List	   *keys = NIL;
	ListCell   *ec = NULL;
	List	   *exprs = NIL;
	bool		isnull;
	Datum		d;
	int			i;

	d = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indexprs, &isnull);
	if (!isnull)
	{
		exprs = (List *) stringToNode(TextDatumGetCString(d));
		ec = list_head(exprs);
	}
	for (i = 0; i < ix->indnkeyatts; i++)
	{
		AttrNumber	k = ix->indkey.values[i];

		if (k != 0)
			keys = lappend(keys, psprintf("%s.%s", a, quote_identifier(get_attname(relid, k, false))));
		else
		{
			keys = lappend(keys, psprintf("(%s)", deparse_expression(lfirst(ec), ctx, true, false)));
			ec = lnext(exprs, ec);
		}
	}
	d = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indpred, &isnull);
	*pred = isnull ? NULL
		: deparse_expression(stringToNode(TextDatumGetCString(d)), ctx, true, false);
	return keys;
}

/* the disambiguated pseudonyms one row may try (uq_resolve) */
#define ERASE_MAX_PSEUDONYM_NTH 64

/*
 * UniquePlan
 *		The unique indexes over et's rewritten columns (uq_plan): one
 *		condition per index on row n of the rewritten rows ("n"), and the
 *		'hash' columns that one of them reads, which uq_resolve may give a
 *		disambiguated pseudonym.
 */
typedef struct UniquePlan
{
	List	   *probes;			/* per index: n takes a key held by another */
	List	   *inames;
	bool	   *fixable;		/* per index: it reads a 'hash' column */
	int			nh;				/* those 'hash' columns: */
	int		   *h_rw;			/* their positions in et->rw_*, */
	char	  **h_txt;			/* the text pseudonymized, over t, */
	int		   *h_len;			/* the pseudonym's length, */
	bool	   *h_bytea;
	char	  **h_type;			/* the column's type */
	int			natts;
	char	  **a_col;			/* per attribute: quoted name (NULL: dropped), */
	char	  **a_type;			/* qualified type, */
	int		   *a_rw;			/* position in et->rw_* or -1 */
} UniquePlan;

/*
 * uq_plan
 *		The UniquePlan of et, NULL when no valid unique index reads a
 *		rewritten column (then nothing is run).  Catalog only; the index
 *		expressions are deparsed as the table's owner.
 */
static UniquePlan *
uq_plan(EraseTable *et)
{
	Relation	rel;
	TupleDesc	td;
	ListCell   *lc;
	UniquePlan *u;
	Bitmapset  *rw = NULL;
	Bitmapset  *hashed = NULL;
	Bitmapset  *hread = NULL;
	List	   *fix = NIL;
	int			i;

	for (i = 0; i < et->nrw; i++)
		rw = bms_add_member(rw, et->rw_attnums[i] - FirstLowInvalidHeapAttributeNumber);
	foreach(lc, et->mt->columns)
	{
		MapColumn  *c = lfirst(lc);

		if (strcmp(c->erasure, "hash") == 0)
			hashed = bms_add_member(hashed, c->attnum - FirstLowInvalidHeapAttributeNumber);
	}
	hashed = bms_int_members(hashed, rw);
	u = palloc0(sizeof(UniquePlan));
	rel = table_open(et->mt->relid, AccessShareLock);
	td = RelationGetDescr(rel);
	foreach(lc, RelationGetIndexList(rel))
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index ix;
		Bitmapset  *vars = NULL;
		bool		isnull;
		Datum		d;
		List	   *kn,
				   *ko,
				   *kn2;
		char	   *pn,
				   *po,
				   *pn2;
		const char *eq;
		StringInfoData mo,
					mn;
		int			frame;

		if (!HeapTupleIsValid(tup))
			continue;
		ix = (Form_pg_index) GETSTRUCT(tup);
		if (!ix->indisunique || !ix->indisvalid)
		{
			ReleaseSysCache(tup);
			continue;
		}
		for (i = 0; i < ix->indnkeyatts; i++)
			if (ix->indkey.values[i] != 0)
				vars = bms_add_member(vars, ix->indkey.values[i] - FirstLowInvalidHeapAttributeNumber);
		d = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indexprs, &isnull);
		if (!isnull)
			pull_varattnos(stringToNode(TextDatumGetCString(d)), 1, &vars);
		if (!bms_overlap(vars, rw))
		{
			ReleaseSysCache(tup);
			continue;
		}
		frame = GuardEnterTableOwner(et->mt->relid);
		kn = unique_keys(tup, et->mt->relid, "n", &pn);
		ko = unique_keys(tup, et->mt->relid, "o", &po);
		kn2 = unique_keys(tup, et->mt->relid, "n2", &pn2);
		GuardLeave(frame);
		eq = ix->indnullsnotdistinct ? "IS NOT DISTINCT FROM" : "=";
		initStringInfo(&mo);
		initStringInfo(&mn);
		for (i = 0; i < list_length(kn); i++)
		{
			appendStringInfo(&mo, "%s%s %s %s", i ? " AND " : "", (char *) list_nth(ko, i), eq,
							 (char *) list_nth(kn, i));
			appendStringInfo(&mn, "%s%s %s %s", i ? " AND " : "", (char *) list_nth(kn2, i), eq,
							 (char *) list_nth(kn, i));
		}
		/*
		 * another row that keeps its key, or an earlier one of the rewritten
		 * rows (the later of two takes another pseudonym)
		 */
		u->probes = lappend(u->probes,
							psprintf("(%s%s%s) AND (EXISTS (SELECT 1 FROM %s o WHERE %s%s%s AND (o.tableoid, o.ctid)"
									 " NOT IN (SELECT m.nv_oid, m.nv_ctid FROM n m)) OR EXISTS (SELECT 1 FROM n n2 WHERE %s%s%s"
									 " AND (n2.nv_oid, n2.nv_ctid) OPERATOR(pg_catalog.<) (n.nv_oid, n.nv_ctid)))",
									 pn ? "(" : "true", pn ? pn : "", pn ? ") IS TRUE" : "",
									 et->mt->qualname, mo.data, po ? " AND " : "", po ? psprintf("(%s) IS TRUE", po) : "",
									 mn.data, pn2 ? " AND " : "", pn2 ? psprintf("(%s) IS TRUE", pn2) : ""));
		u->inames = lappend(u->inames, get_rel_name(lfirst_oid(lc)));
		fix = lappend_int(fix, bms_overlap(vars, hashed));
		if (bms_overlap(vars, hashed))
			hread = bms_add_members(hread, bms_intersect(vars, hashed));
		ReleaseSysCache(tup);
	}
	if (u->probes == NIL)
	{
		table_close(rel, AccessShareLock);
		return NULL;
	}
	u->fixable = palloc(sizeof(bool) * list_length(fix));
	foreach(lc, fix)
		u->fixable[foreach_current_index(lc)] = lfirst_int(lc) != 0;
	u->h_rw = palloc(sizeof(int) * Max(et->nrw, 1));
	u->h_txt = palloc(sizeof(char *) * Max(et->nrw, 1));
	u->h_len = palloc(sizeof(int) * Max(et->nrw, 1));
	u->h_bytea = palloc(sizeof(bool) * Max(et->nrw, 1));
	u->h_type = palloc(sizeof(char *) * Max(et->nrw, 1));
	u->natts = td->natts;
	u->a_col = palloc0(sizeof(char *) * (td->natts + 1));
	u->a_type = palloc0(sizeof(char *) * (td->natts + 1));
	u->a_rw = palloc(sizeof(int) * (td->natts + 1));
	for (i = 1; i <= td->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(td, i - 1);

		u->a_rw[i] = -1;
		if (a->attisdropped)
			continue;
		u->a_col[i] = pstrdup(quote_identifier(NameStr(a->attname)));
		u->a_type[i] = format_type_extended(a->atttypid, a->atttypmod,
											FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
	}
	for (i = 0; i < et->nrw; i++)
	{
		AttrNumber	att = et->rw_attnums[i];

		u->a_rw[att] = i;
		if (bms_is_member(att - FirstLowInvalidHeapAttributeNumber, hread))
		{
			Form_pg_attribute a = TupleDescAttr(td, att - 1);

			u->h_rw[u->nh] = i;
			u->h_txt[u->nh] = RetentionHashedColumn(a->atttypid, a->atttypmod,
													psprintf("t.%s", u->a_col[att]),
													&u->h_len[u->nh], &u->h_bytea[u->nh]);
			u->h_type[u->nh] = u->a_type[att];
			u->nh++;
		}
	}
	table_close(rel, AccessShareLock);
	return u;
}

/*
 * uq_refuse
 *		23505: the rewrite would give a row of et the key of another row
 *		under unique index iname, and no disambiguated pseudonym helps.
 */
static void
uq_refuse(EraseTable *et, const char *iname)
{
	char	   *cols = NULL;
	int			i;

	for (i = 0; i < et->nrw; i++)
		cols = psprintf("%s%s%s", cols ? cols : "", cols ? ", " : "",
						quote_identifier(get_attname(et->mt->relid, et->rw_attnums[i], false)));
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("erasure would write a key that unique index \"%s\" of table %s already holds",
					iname, et->mt->label),
			 errdetail_internal("The subject's rows of %s stay after the erasure (erasure mode 'anonymize' or a column classified 'keep'), and the erasure strategies of their columns (%s) would give one of them the key of another row: 'redact' writes one placeholder for every row, and no disambiguated pseudonym of a 'hash' column makes the keys distinct. Nothing was erased.",
								et->mt->label, cols),
			 errhint("Classify the indexed columns with an erasure strategy that keeps the keys distinct ('hash', or 'null' under an index whose nulls are distinct), or erase the rows of %s in delete mode (privacy.set_erasure_mode()).",
					 et->mt->label),
			 errhidestmt(true)));
}

/* oid[], tid[] and text[] (nulls allowed) of n elements */
static Datum
oid_array(Oid *o, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = ObjectIdGetDatum(o[i]);
	return PointerGetDatum(construct_array(d, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
}

static Datum
tid_array(ItemPointerData *t, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = PointerGetDatum(&t[i]);
	return PointerGetDatum(construct_array(d, n, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT));
}

static Datum
text_array(Datum *v, bool *nulls, int n)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};

	return PointerGetDatum(construct_md_array(v, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * uq_override
 *		The new value of 'hash' column j of u over alias t: its
 *		disambiguated pseudonym when the row is one of the arrays $pa
 *		(tableoids), $pb (ctids), parallel to $pv (the values), else (and
 *		for a null value) the column's rewrite.
 */
static char *
uq_override(EraseTable *et, UniquePlan *u, int j, int pa, int pb, int pv)
{
	char	   *v = psprintf("(SELECT u.v FROM ROWS FROM (pg_catalog.unnest($%d::pg_catalog.oid[]),"
							 " pg_catalog.unnest($%d::pg_catalog.tid[]), pg_catalog.unnest($%d::pg_catalog.text[])) u(o, c, v)"
							 " WHERE u.o OPERATOR(pg_catalog.=) t.tableoid AND u.c OPERATOR(pg_catalog.=) t.ctid)",
							 pa, pb, pv);

	return psprintf("COALESCE(CAST(%s AS %s), %s)",
					u->h_bytea[j] ? psprintf("pg_catalog.decode(%s, 'hex')", v) : v,
					u->h_type[j], et->rw_exprs[u->h_rw[j]]);
}

/*
 * uq_resolve
 *		The rows of et whose rewrite would take a key of a unique index
 *		that another row holds (or an earlier row of the rewrite takes),
 *		and the disambiguated pseudonyms that make every key distinct: such
 *		a row's 'hash' columns read by a unique index take their n-th
 *		disambiguated pseudonym (RetentionPseudonymNth), n the least that
 *		collides with nothing (rows in (tableoid, ctid) order).  One SELECT
 *		as the table's owner, in the call's pseudonym scope, then one per
 *		round of disambiguation (a value erased n times before: n rounds);
 *		23505 (uq_refuse) when an index that collides reads no 'hash'
 *		column, or after ERASE_MAX_PSEUDONYM_NTH rounds.  Returns the rows
 *		disambiguated (0: none, nothing else set), *oids and *tids (oid[],
 *		tid[]) and, per column of u->h_*, (*vals)[j] (text[], parallel).
 */
static int
uq_resolve(MapSubject *subj, EraseTable *et, MapCall *call, UniquePlan *u,
		   Datum *oids, Datum *tids, Datum **vals)
{
	const char *token = GuardPseudonymToken();
	int			nrow = 0;
	int			cap = 8;
	Oid		   *roid = palloc(sizeof(Oid) * cap);
	ItemPointerData *rtid = palloc(sizeof(ItemPointerData) * cap);
	int		   *rn = palloc(sizeof(int) * cap);
	Datum	   *rval = palloc(sizeof(Datum) * cap * Max(u->nh, 1));
	bool	   *rnull = palloc(sizeof(bool) * cap * Max(u->nh, 1));
	int			nprobe = list_length(u->probes);
	int			round;
	int			i,
				j,
				k;

	for (round = 0;; round++)
	{
		EraseParams *p;
		char	   *where;
		StringInfoData sql;
		char	  **over = palloc0(sizeof(char *) * Max(u->nh, 1));
		ListCell   *lc;
		uint64		nres;
		SPITupleTable *tt;

		if ((where = act_where(subj, et, call, &p)) == NULL)
			return 0;
		p->values[GUARD_SCOPE_PARAMNO - 1] = CStringGetTextDatum(token ? token : "");
		if (nrow > 0)
		{
			int			pa = params_add(p, OIDARRAYOID, oid_array(roid, nrow));
			int			pb = params_add(p, TIDARRAYOID, tid_array(rtid, nrow));

			for (j = 0; j < u->nh; j++)
			{
				int			pv = params_add(p, TEXTARRAYOID, text_array(&rval[j * cap], &rnull[j * cap], nrow));

				over[j] = uq_override(et, u, j, pa, pb, pv);
			}
		}
		initStringInfo(&sql);
		appendStringInfoString(&sql, "WITH n AS MATERIALIZED (SELECT ");
		for (i = 1; i <= u->natts; i++)
		{
			if (u->a_col[i] == NULL)
				continue;
			if (u->a_rw[i] >= 0)
			{
				const char *e = et->rw_exprs[u->a_rw[i]];

				for (j = 0; j < u->nh; j++)
					if (u->h_rw[j] == u->a_rw[i] && over[j] != NULL)
						e = over[j];
				appendStringInfo(&sql, "CAST((%s) AS %s) AS %s, ", e, u->a_type[i], u->a_col[i]);
			}
			else
				appendStringInfo(&sql, "t.%s, ", u->a_col[i]);
		}
		for (j = 0; j < u->nh; j++)
			appendStringInfo(&sql, "%s AS nv_h%d, ", u->h_txt[j], j);
		appendStringInfo(&sql, "t.tableoid AS nv_oid, t.ctid AS nv_ctid FROM %s t WHERE (%s) AND (%s))"
						 " SELECT * FROM (SELECT n.nv_oid, n.nv_ctid", et->mt->qualname, where, et->changed);
		foreach(lc, u->probes)
			appendStringInfo(&sql, ", (%s) AS nv_q%d", (char *) lfirst(lc), foreach_current_index(lc));
		for (j = 0; j < u->nh; j++)
			appendStringInfo(&sql, ", n.nv_h%d", j);
		appendStringInfoString(&sql, " FROM n) q WHERE ");
		for (k = 0; k < nprobe; k++)
			appendStringInfo(&sql, "%sq.nv_q%d", k ? " OR " : "", k);
		appendStringInfoString(&sql, " ORDER BY q.nv_oid, q.nv_ctid");
		run_params(et->mt->relid, sql.data, p, true, SPI_OK_SELECT);
		nres = SPI_processed;
		tt = SPI_tuptable;
		if (nres == 0)
			break;
		for (uint64 r = 0; r < nres; r++)
		{
			bool		isnull;
			Oid			o = DatumGetObjectId(SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull));
			ItemPointer c = (ItemPointer) DatumGetPointer(SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &isnull));
			int			at;

			for (k = 0; k < nprobe; k++)
			{
				Datum		q = SPI_getbinval(tt->vals[r], tt->tupdesc, 3 + k, &isnull);

				if (!isnull && DatumGetBool(q) && (!u->fixable[k] || round >= ERASE_MAX_PSEUDONYM_NTH))
					uq_refuse(et, list_nth(u->inames, k));
			}
			for (at = 0; at < nrow; at++)
				if (roid[at] == o && ItemPointerEquals(&rtid[at], c))
					break;
			if (at == nrow)
			{
				if (nrow == cap)
				{
					Datum	   *nv = palloc(sizeof(Datum) * cap * 2 * Max(u->nh, 1));
					bool	   *nn = palloc(sizeof(bool) * cap * 2 * Max(u->nh, 1));

					for (j = 0; j < u->nh; j++)
					{
						memcpy(&nv[j * cap * 2], &rval[j * cap], sizeof(Datum) * nrow);
						memcpy(&nn[j * cap * 2], &rnull[j * cap], sizeof(bool) * nrow);
					}
					cap *= 2;
					rval = nv;
					rnull = nn;
					roid = repalloc(roid, sizeof(Oid) * cap);
					rtid = repalloc(rtid, sizeof(ItemPointerData) * cap);
					rn = repalloc(rn, sizeof(int) * cap);
				}
				roid[nrow] = o;
				ItemPointerCopy(c, &rtid[nrow]);
				rn[nrow] = 0;
				nrow++;
			}
			rn[at]++;
			for (j = 0; j < u->nh; j++)
			{
				Datum		old = SPI_getbinval(tt->vals[r], tt->tupdesc, 3 + nprobe + j, &isnull);

				rnull[j * cap + at] = isnull;
				rval[j * cap + at] = isnull ? (Datum) 0
					: RetentionPseudonymNth(DatumGetTextPP(old), rn[at], u->h_len[j]);
			}
		}
	}
	if (nrow == 0)
		return 0;
	*oids = oid_array(roid, nrow);
	*tids = tid_array(rtid, nrow);
	*vals = palloc(sizeof(Datum) * Max(u->nh, 1));
	for (j = 0; j < u->nh; j++)
		(*vals)[j] = text_array(&rval[j * cap], &rnull[j * cap], nrow);
	return nrow;
}

/*
 * uq_set_clause
 *		act_table's SET for et when check_unique found rows to
 *		disambiguate: uq_resolve again, just before the UPDATE (the rows
 *		are locked, but an earlier statement of the erasure may have moved
 *		one), its arrays new parameters of p.
 */
static char *
uq_set_clause(MapSubject *subj, EraseTable *et, MapCall *call, EraseParams *p)
{
	UniquePlan *u = uq_plan(et);
	Datum		oids,
				tids,
			   *vals;
	StringInfoData s;
	int			pa,
				pb;

	if (u == NULL || uq_resolve(subj, et, call, u, &oids, &tids, &vals) == 0)
		return et->set_clause;
	pa = params_add(p, OIDARRAYOID, oids);
	pb = params_add(p, TIDARRAYOID, tids);
	initStringInfo(&s);
	for (int i = 0; i < et->nrw; i++)
	{
		const char *e = et->rw_exprs[i];

		for (int j = 0; j < u->nh; j++)
			if (u->h_rw[j] == i)
				e = uq_override(et, u, j, pa, pb, params_add(p, TEXTARRAYOID, vals[j]));
		appendStringInfo(&s, "%s%s = %s", i ? ", " : "",
						 quote_identifier(get_attname(et->mt->relid, et->rw_attnums[i], false)), e);
	}
	return s.data;
}

/*
 * check_unique
 *		Anonymize mode: the subject's rows of et, rewritten, must not take a
 *		key of a unique index that another row holds or that two of them
 *		take: 'redact' writes one placeholder for every row (the second
 *		subject's erasure failed with 23505 while acting, its dry run
 *		succeeded), and a composite key or an expression (lower(email)) may
 *		make distinct rows equal: 23505 before anything changes, in a dry
 *		run too.  'hash' writes the same pseudonym for the same value, and
 *		a value can come back after its erasure (a second sign-up with the
 *		erased e-mail): such a row takes a disambiguated pseudonym instead
 *		(uq_resolve, again while acting: et->uq_fix), so erasure is never
 *		refused for it.  Only when a unique index (partial ones by their
 *		predicate) reads a rewritten column, as the table's owner.  Not
 *		seen: an exclusion constraint, a stored generated column computed
 *		from a rewritten one, a partition's own unique index.
 */
static void
check_unique(MapSubject *subj, EraseTable *et, MapCall *call)
{
	UniquePlan *u;
	Datum		oids,
				tids,
			   *vals;

	if (!et->anonymize || et->nrw == 0 || CitusIsCitusTable(et->mt->relid))
		return;
	if ((u = uq_plan(et)) == NULL)
		return;
	et->uq_fix = uq_resolve(subj, et, call, u, &oids, &tids, &vals) > 0;
}

/*
 * erase_inspect
 *		The key sets of the subject's rows, tables above first, each table's
 *		rows locked as its set is read (not in a dry run); then the checks
 *		with them locked: rows that go by cascade, rows a kept row still
 *		references (23503), outbound rows, detached and shared counts.
 *		Every later statement finds the subject's rows of a table through
 *		these sets, which stay valid while rows are deleted.
 */
static MapCall *
erase_inspect(MapSubject *subj, Datum key, List *ets, List *ordered, bool dry_run,
			  MemoryContext outer, bool *others_held)
{
	MapCall    *call;
	ListCell   *lc;
	bool		memo;
	int			i;

	call = MapCallBeginLocking(subj, key, dry_run ? palloc0(sizeof(bool) * Max(list_length(ets), 1))
							   : lock_flags(subj, ets));
	MemoryContextSwitchTo(outer);
	check_rules(ets);
	compute_gone(subj, ets, call, dry_run);
	check_references(subj, ets, call);
	plan_groups(subj, ordered, call);
	foreach(lc, ordered)
	{
		EraseTable *et = lfirst(lc);

		if (et->mt->outbound)
			materialize_outbound(subj, ets, et, call, dry_run);
		count_detached(subj, et, call);
	}
	foreach(lc, ordered)
	{
		check_rewrite(subj, lfirst(lc), call);
		check_unique(subj, lfirst(lc), call);
	}
	/* tables above first: each uses the shared rows of those above */
	memo = map_acyclic(subj) && !CitusLoaded();
	for (i = list_length(ordered) - 1; i >= 0; i--)
		count_shared(subj, ets, list_nth(ordered, i), call, memo);
	/* rows of other held subjects among those that change */
	check_others_held(subj, ets, call, dry_run, others_held);
	MemoryContextSwitchTo(outer);
	return call;
}

/*
 * is_map_edge
 *		The foreign key fk (from mt) is one of mt's own edges in the map:
 *		rows of mt are the subject's through it, so clearing it would take
 *		them out of the erasure's reach (plan_groups deletes such a cycle
 *		by one statement instead).
 */
static bool
is_map_edge(MapTable *mt, MapHop *fk)
{
	ListCell   *lc;

	foreach(lc, mt->paths)
	{
		List	   *path = lfirst(lc);
		MapHop	   *h;

		if (path == NIL)
			continue;
		h = linitial(path);
		if (!h->link && h->prel == fk->prel && h->ncols == fk->ncols &&
			memcmp(h->cols, fk->cols, sizeof(AttrNumber) * fk->ncols) == 0)
			return true;
	}
	return false;
}

/*
 * break_back_references
 *		A subject's row that references another of its rows deleted before
 *		it, through a NO ACTION or RESTRICT key (the root's users.avatar_id
 *		-> uploads, where uploads.user_id -> users: a cycle through the
 *		root, which the order breaks at the root), would make that earlier
 *		DELETE fail.  Its nullable key columns are cleared first, in the
 *		rows that are themselves about to be deleted (never another row):
 *		as the table's owner, its UPDATE triggers fire as for any change.
 *		A NOT NULL column, or a key the table is mapped through: the tables
 *		of the cycle are deleted by one statement (plan_groups).
 */
static void
break_back_references(MapSubject *subj, List *ordered, MapCall *call)
{
	ListCell   *lc;

	foreach(lc, ordered)
	{
		EraseTable *c = lfirst(lc);
		int			ci = foreach_current_index(lc);
		ListCell   *fc;

		if (c->anonymize || c->mt->outbound)
			continue;
		foreach(fc, c->fks_out)
		{
			EraseEdge  *e = lfirst(fc);
			MapHop	   *fk = e->fk;
			int			pi;
			StringInfoData set;
			StringInfoData any;
			EraseParams *p;
			bool		nullable = true;
			int			i;

			if (fk->deltype != 'a' && fk->deltype != 'r')
				continue;		/* PostgreSQL's own action handles it */
			pi = list_index_of_et(ordered, e->parent);
			if (e->parent == c || pi < 0 || pi > ci)
				continue;		/* deleted after this table: the normal order */
			if (is_map_edge(c->mt, fk))
				continue;		/* its rows are the subject's through it: kept */
			for (i = 0; i < fk->ncols; i++)
				if (att_notnull(fk->rel, fk->cols[i]))
					nullable = false;
			if (!nullable)
				continue;
			initStringInfo(&set);
			initStringInfo(&any);
			for (i = 0; i < fk->ncols; i++)
			{
				const char *col = quote_identifier(get_attname(fk->rel, fk->cols[i], false));

				appendStringInfo(&set, "%s%s = NULL", i ? ", " : "", col);
				appendStringInfo(&any, "%st.%s IS NOT NULL", i ? " OR " : "", col);
			}
			p = params_new(call);
			run_params(c->mt->relid,
					   psprintf("UPDATE %s t SET %s WHERE (%s) AND (%s)", c->mt->qualname, set.data,
								delete_cond(subj, c, "t", p), any.data),
					   p, false, SPI_OK_UPDATE);
		}
	}
}

/*
 * back_edge_cleared
 *		break_back_references clears fk (from c) in the rows of c about to be
 *		deleted: its columns are nullable and it is not a key c is mapped
 *		through (not on Citus, where the deletes of routed tables run as
 *		one statement each).
 */
static bool
back_edge_cleared(EraseTable *c, MapHop *fk)
{
	int			i;

	if (CitusLoaded() || is_map_edge(c->mt, fk))
		return false;
	for (i = 0; i < fk->ncols; i++)
		if (att_notnull(fk->rel, fk->cols[i]))
			return false;
	return true;
}

/*
 * plan_groups
 *		A cycle of NO ACTION or RESTRICT foreign keys among the tables whose
 *		rows are deleted (e_x.y_id -> e_y and e_y.x_id -> e_x, each table
 *		mapped through both): whichever table goes first, rows of the other
 *		still reference its deleted rows when its DELETE ends, and the key
 *		cannot be cleared (a NOT NULL column, or a key the table is mapped
 *		through: clearing it would take rows out of the erasure).  Then the
 *		tables from the referenced one to the referencing one, in the
 *		erasure's order, are deleted by one statement (group_delete): its
 *		foreign-key checks run when all of its rows are gone.  Decided here,
 *		before anything changes, from the rows present (a key that no
 *		deleted row uses back needs nothing), so that a dry run sees what
 *		the erasure will do.  One statement runs as one role: such a group
 *		across tables of different owners, or with a Citus table, is 23503.
 */
static void
plan_groups(MapSubject *subj, List *ordered, MapCall *call)
{
	int			n = list_length(ordered);
	bool	   *link = palloc0(sizeof(bool) * Max(n, 1));	/* i and i + 1 together */
	bool	   *setnull = palloc0(sizeof(bool) * Max(n, 1));	/* by a SET NULL key */
	bool		any = false;
	ListCell   *lc;
	int			i;

	foreach(lc, ordered)
	{
		EraseTable *c = lfirst(lc);
		int			ci = foreach_current_index(lc);
		ListCell   *fc;

		if (c->anonymize || c->mt->outbound)
			continue;
		foreach(fc, c->fks_out)
		{
			EraseEdge  *e = lfirst(fc);
			int			pi = list_index_of_et(ordered, e->parent);
			EraseParams *p;

			/*
			 * A SET NULL / SET DEFAULT key that the table is mapped through
			 * (users.invite_id -> invites, where invites.user_id -> users):
			 * deleting the parent first would rewrite the subject's rows of
			 * c through it, which the DELETE of c then no longer finds (they
			 * stayed, changed and uncounted, while the dry run counted them
			 * deleted).  One statement too.
			 */
			if (e->fk->deltype != 'a' && e->fk->deltype != 'r' &&
				!((e->fk->deltype == 'n' || e->fk->deltype == 'd') && is_map_edge(c->mt, e->fk)))
				continue;
			if (e->parent == c || pi < 0 || pi > ci)
				continue;		/* one statement, or the normal order */
			if ((e->fk->deltype == 'a' || e->fk->deltype == 'r') && back_edge_cleared(c, e->fk))
				continue;
			p = params_new(call);
			run_params(c->mt->relid,
					   psprintf("SELECT 1 FROM %s t WHERE (%s) AND %s LIMIT 1", c->mt->qualname,
								delete_cond(subj, c, "t", p), refs_deleted(subj, e, "t", p)),
					   p, true, SPI_OK_SELECT);
			if (SPI_processed == 0)
				continue;
			for (i = pi; i < ci; i++)
			{
				link[i] = true;
				if (e->fk->deltype == 'n' || e->fk->deltype == 'd')
					setnull[i] = true;
			}
			any = true;
		}
	}
	if (!any)
		return;
	for (i = 0; i < n; i++)
	{
		List	   *group = NIL;
		Oid			owner = InvalidOid;
		EraseTable *other = NULL;
		ListCell   *gc;
		bool		by_setnull = false;
		int			j;

		if (!link[i])
			continue;
		for (j = i; j < n; j++)
		{
			EraseTable *et = list_nth(ordered, j);

			by_setnull |= setnull[j];

			if (!et->anonymize)
			{
				Oid			o = UtilRelationOwner(et->mt->relid);

				if (group == NIL)
					owner = o;
				else if (o != owner && other == NULL)
					other = et;
				if (CitusIsCitusTable(et->mt->relid) && other == NULL)
					other = et;
				group = lappend(group, et);
			}
			if (!link[j])
				break;
		}
		if (other != NULL)
			refuse(psprintf("erasure cannot delete the rows of %s and %s that reference each other",
							((EraseTable *) linitial(group))->mt->label, other->mt->label),
				   by_setnull
				   ? "The subject's rows of these tables reference each other, and a foreign key that sets NULL would take some of them out of the erasure if the rows it references went first, so they can only be deleted by one statement, which runs as one role on local tables. Nothing was erased."
				   : "The subject's rows of these tables reference each other through foreign keys that do not cascade, so they can only be deleted by one statement, which runs as one role on local tables. Nothing was erased.",
				   by_setnull ? "Give the tables one owner, or make one of the foreign keys ON DELETE CASCADE."
				   : "Give the tables one owner, or make one of the foreign keys ON DELETE CASCADE or SET NULL.");
		foreach(gc, group)
			((EraseTable *) lfirst(gc))->group = group;
		i = j;
	}
}

/*
 * group_delete
 *		The rows of the tables of one group (plan_groups) deleted by one
 *		statement, data-modifying WITH queries, as their owner:
 *
 *		WITH d1 AS (DELETE FROM t1 t WHERE <t1's rows> RETURNING 1), ...
 *		SELECT (SELECT count(*) FROM d1), ...
 *
 *		Every part sees the statement's snapshot (the rows as the checks saw
 *		them); the foreign keys' checks and actions run at its end.  Each
 *		table's own count comes from its RETURNING rows.
 */
static void
group_delete(MapSubject *subj, List *group, MapCall *call)
{
	EraseParams *p = params_new(call);
	StringInfoData sql;
	ListCell   *lc;
	int			n = list_length(group);
	char	  **where = palloc(sizeof(char *) * n);
	bool	   *skip = palloc(sizeof(bool) * n);

	initStringInfo(&sql);
	foreach(lc, group)
	{
		EraseTable *et = lfirst(lc);
		int			k = foreach_current_index(lc);

		if (et->mt->outbound)
		{
			int			po,
						pt;

			if (et->tids == (Datum) 0)
				where[k] = "false";
			else
			{
				po = params_add(p, OIDARRAYOID, et->oids);
				pt = params_add(p, TIDARRAYOID, et->tids);
				where[k] = psprintf("t.ctid OPERATOR(pg_catalog.=) ANY ($%d) AND (t.tableoid, t.ctid) IN"
									" (SELECT u.o, u.c FROM ROWS FROM (pg_catalog.unnest($%d::pg_catalog.oid[]),"
									" pg_catalog.unnest($%d::pg_catalog.tid[])) u(o, c))", pt, po, pt);
			}
		}
		else
			where[k] = delete_cond(subj, et, "t", p);
		skip[k] = may_skip(et->mt->relid, CMD_DELETE);
		appendStringInfo(&sql, "%s d%d AS (DELETE FROM %s t WHERE %s RETURNING 1)",
						 k == 0 ? "WITH" : ",", k + 1, et->mt->qualname, where[k]);
	}
	foreach(lc, group)
		appendStringInfo(&sql, "%s(SELECT pg_catalog.count(*) FROM d%d)",
						 foreach_current_index(lc) == 0 ? " SELECT " : ", ",
						 foreach_current_index(lc) + 1);
	run_params(((EraseTable *) linitial(group))->mt->relid, sql.data, p, false, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "erasure statement returned " UINT64_FORMAT " rows", SPI_processed);
	foreach(lc, group)
	{
		EraseTable *et = lfirst(lc);
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									  foreach_current_index(lc) + 1, &isnull);

		et->own_deleted = isnull ? 0 : DatumGetInt64(d);
	}
	foreach(lc, group)
		if (skip[foreach_current_index(lc)])
			check_none_skipped(lfirst(lc), where[foreach_current_index(lc)], p, false);
}

/*
 * check_kept_intact
 *		The kept shared rows of et are fixed by row identity (freeze_kept);
 *		a user trigger that updated one of them since (Lemmy's
 *		report_combined follows its report's resolver_id, which the detach
 *		of the report cleared) gave it a new ctid, and the DELETE, which
 *		spares only the frozen ctids, took it: another subject's row gone,
 *		the dry run's receipt not the erasure's.  Fail whole instead (27000),
 *		right before et's DELETE.
 */
static void
check_kept_intact(EraseTable *et, MapCall *call)
{
	EraseParams *p;
	ArrayType  *a;
	int64		kept;
	int64		found;

	if (!et->keep_shared || !et->kept_frozen || et->kept_tids == (Datum) 0)
		return;
	a = DatumGetArrayTypeP(et->kept_tids);
	kept = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	p = params_new(call);
	run_params(et->mt->relid, psprintf("SELECT pg_catalog.count(*) FROM %s t WHERE %s", et->mt->qualname,
									   in_kept(et, "t", p)),
			   p, true, SPI_OK_SELECT);
	found = result_count();
	if (found < kept)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION),
				 errmsg("a trigger changed %lld shared rows of table %s that the erasure keeps",
						(long long) (kept - found), et->mt->label),
				 errdetail("With shared => 'keep', the rows that stay are fixed before anything changes; a trigger that updates one of them (when another row is detached or deleted) makes it unrecognisable, and the erasure would delete it. Nothing was erased."),
				 errhint("Erase with shared => 'delete', or disable the trigger in the erasing transaction.")));
}

/* delete et's rows: alone, or with its group when et is the group's first */
static void
delete_table(MapSubject *subj, EraseTable *et, MapCall *call)
{
	if (et->group == NIL)
		check_kept_intact(et, call);
	else if (linitial(et->group) == et)
	{
		ListCell   *lc;

		foreach(lc, et->group)
			check_kept_intact(lfirst(lc), call);
	}
	if (et->group == NIL)
		act_table(subj, et, call, false);
	else if (linitial(et->group) == et)
		group_delete(subj, et->group, call);
}

/*
 * erase_act
 *		Change the data, measuring what really disappears (cascades
 *		included).  Rows that stay are rewritten first, while every one of
 *		them still reaches the subject; then kept shared rows are detached;
 *		then the deletions, referencing tables first.  Fills each table's
 *		deleted count.
 */
static void
erase_act(MapSubject *subj, List *ets, List *ordered, MapCall *call, bool dry_run)
{
	ListCell   *lc;
	List	   *deferred = NIL;

	mark_partition_overlap(ets);
	/*
	 * initially deferred constraints: checked by each statement (util.c),
	 * those of the tables whose rows the statements may update (rewritten,
	 * detached, a key cleared before a row deleted earlier) with their
	 * UPDATE triggers, the others with their DELETE triggers only
	 */
	if (!dry_run)
	{
		Oid		   *relids = palloc(sizeof(Oid) * Max(list_length(ets), 1));
		bool	   *may_update = palloc0(sizeof(bool) * Max(list_length(ets), 1));

		foreach(lc, ets)
		{
			EraseTable *et = lfirst(lc);
			int			i = foreach_current_index(lc);
			int			ci = list_index_of_et(ordered, et);
			ListCell   *fc;

			relids[i] = et->mt->relid;
			may_update[i] = et->anonymize || et->keep_shared || et->mt->outbound ||
				et->keep_cols != NIL || et->set_clause != NULL || ci < 0;
			/* break_back_references: a parent deleted before it */
			foreach(fc, et->fks_out)
			{
				EraseEdge  *e = lfirst(fc);
				int			pi = list_index_of_et(ordered, e->parent);

				if (e->parent != et && pi >= 0 && pi <= ci)
					may_update[i] = true;
			}
		}
		deferred = UtilDeferredImmediate(relids, may_update, list_length(ets));
	}

	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);

		/*
		 * CITUS HOOK: the deletes of a table in Citus's metadata are counted
		 * on its shards, a Citus local table's too (one shard on this node)
		 */
		et->stat_deleted = dry_run || CitusTable(et->mt->relid).kind != CITUS_NONE ? -1
			: stat_deleted(et->mt->relid, ets);
	}
	/* the kept shared rows, fixed before anything changes */
	foreach(lc, ordered)
		freeze_kept(subj, lfirst(lc), call);
	foreach(lc, ordered)
	{
		EraseTable *et = lfirst(lc);

		if (et->anonymize)
			act_table(subj, et, call, dry_run);
	}
	if (!dry_run)
		foreach(lc, ordered)
		{
			EraseTable *et = lfirst(lc);

			if (et->keep_shared)
				detach_shared(subj, et, call);
		}
	if (!dry_run && !CitusLoaded())
		break_back_references(subj, ordered, call);
	if (!dry_run && CitusLoaded())
		citus_delete(subj, ordered, call);	/* CITUS HOOK: one routed statement */
	else
		foreach(lc, ordered)
		{
			EraseTable *et = lfirst(lc);

			if (et->anonymize)
				continue;
			if (dry_run)
				act_table(subj, et, call, true);
			else
				delete_table(subj, et, call);
		}
	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);
		int64		after = et->stat_deleted < 0 ? -1 : stat_deleted(et->mt->relid, ets);

		if (et->anonymize)
			et->deleted = 0;	/* a cascade into its rows was refused */
		else if (after >= 0 && et->stat_deleted >= 0)
			et->deleted = after - et->stat_deleted;
		else
			et->deleted = et->own_deleted + et->ngone;
	}
	UtilDeferredRestore(deferred);
}

/*
 * erase_record
 *		The request row (a dry run is recorded and marked as such); for a
 *		real erasure the ledger row and the reason, in one kept statement.
 *		Returns the request's id.
 */
static int64
erase_record(MapSubject *subj, const char *kind, const char *ref, const char *reason,
			 bool dry_run, int shredded)
{
	int64		request = AccessRecordRequest(subj, kind, ref, !dry_run);

	if (dry_run)
	{
		/* a dry run answers nothing: recorded, and marked as such */
		Oid			t[1] = {INT8OID};
		Datum		v[1];

		v[0] = Int64GetDatum(request);
		UtilSpiConnect();
		if (SPI_execute_with_args("UPDATE privacy.request_log SET status = 'dry_run',"
								  " completed_at = pg_catalog.clock_timestamp() WHERE id = $1 AND completed_at IS NULL",
								  1, t, v, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record the dry run");
		SPI_finish();
	}
	else
	{
		static SPIPlanPtr plan_ledger = NULL;
		Datum		v[5];
		char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

		v[0] = Int64GetDatum(request);
		v[1] = CStringGetTextDatum(subj->name);
		v[2] = CStringGetTextDatum(ref);
		v[3] = Int32GetDatum(shredded);
		if (reason != NULL)
			v[4] = CStringGetTextDatum(reason);
		else
		{
			v[4] = (Datum) 0;
			nulls[4] = 'n';
		}
		UtilSpiConnect();
		/*
		 * The ledger row, and the reason (when given) in the request's
		 * detail: one kept statement (the insert runs whether or not the
		 * update finds a row to change).
		 */
		if (plan_ledger == NULL)
		{
			Oid			t[5] = {INT8OID, TEXTOID, TEXTOID, INT4OID, TEXTOID};
			SPIPlanPtr	p = SPI_prepare("WITH ledger AS (INSERT INTO privacy.erasures"
										" (request, subject, subject_ref, keys_shredded)"
										" VALUES ($1, $2, $3, $4) RETURNING 1)"
										" UPDATE privacy.request_log SET detail = pg_catalog.jsonb_build_object('reason', $5)"
										" WHERE id = $1 AND $5 IS NOT NULL", 5, t);

			if (p == NULL)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
			if (SPI_keepplan(p) != 0)
				elog(ERROR, "SPI_keepplan failed");
			plan_ledger = p;
		}
		if (SPI_execute_plan(plan_ledger, v, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not write the erasure ledger");
		SPI_finish();
	}
	return request;
}

/* the receipt's "tables": per table deleted, anonymized (and detached) */
static void
receipt_tables(JsonbParseState **st, List *ets)
{
	ListCell   *lc;

	jb_key(st, "tables");
	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);

		jb_key(st, et->mt->jsonkey);
		pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
		jb_key(st, "deleted");
		jb_num(st, et->deleted, WJB_VALUE);
		jb_key(st, "anonymized");
		jb_num(st, et->anonymized, WJB_VALUE);
		/* rows that stay but lost a reference (present when there are some) */
		if (et->detached > 0)
		{
			jb_key(st, "detached");
			jb_num(st, et->detached, WJB_VALUE);
		}
		pushJsonbValue(st, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(st, WJB_END_OBJECT, NULL);
	/* rows that also reach another subject: deleted, or kept (shared => 'keep') */
	jb_key(st, "shared");
	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);

		if (et->shared_rows == 0)
			continue;
		jb_key(st, et->mt->jsonkey);
		jb_num(st, et->shared_rows, WJB_VALUE);
	}
	pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/* the receipt's "retained": rows referenced by others, kept columns */
static void
receipt_retained(JsonbParseState **st, List *ets)
{
	ListCell   *lc;

	jb_key(st, "retained");
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);
		ListCell   *kc;

		if (et->retained > 0)
		{
			pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
			jb_key(st, "table");
			jb_str(st, et->mt->jsonkey, WJB_VALUE);
			jb_key(st, "rows");
			jb_num(st, et->retained, WJB_VALUE);
			jb_key(st, "reason");
			jb_str(st, "referenced by rows of other subjects", WJB_VALUE);
			pushJsonbValue(st, WJB_END_OBJECT, NULL);
		}
		if (et->retained_own > 0)
		{
			pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
			jb_key(st, "table");
			jb_str(st, et->mt->jsonkey, WJB_VALUE);
			jb_key(st, "rows");
			jb_num(st, et->retained_own, WJB_VALUE);
			jb_key(st, "reason");
			jb_str(st, "referenced by rows of this subject that stay (erasure mode anonymize of the referencing table)", WJB_VALUE);
			pushJsonbValue(st, WJB_END_OBJECT, NULL);
		}
		foreach(kc, et->keep_cols)
		{
			if (et->kept_rows == 0)
				break;
			pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
			jb_key(st, "table");
			jb_str(st, et->mt->jsonkey, WJB_VALUE);
			jb_key(st, "column");
			jb_str(st, lfirst(kc), WJB_VALUE);
			jb_key(st, "rows");
			jb_num(st, et->kept_rows, WJB_VALUE);
			jb_key(st, "reason");
			jb_str(st, "kept under a legal obligation (erasure strategy keep)", WJB_VALUE);
			pushJsonbValue(st, WJB_END_OBJECT, NULL);
		}
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
}

/*
 * erase_receipt
 *		{"request", "subject", "subject_ref", "dry_run", "tables", "shared",
 *		 ["shared_kept"], "retained", "keys_shredded", "notify"}: counts
 *		and names only, never personal data.
 */
static Jsonb *
erase_receipt(MapSubject *subj, List *ets, int64 request, const char *ref, bool dry_run,
			  bool keep_shared, int shredded, List *notify)
{
	JsonbParseState *st = NULL;
	JsonbValue *res;
	ListCell   *lc;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	jb_key(&st, "request");
	jb_num(&st, request, WJB_VALUE);
	jb_key(&st, "subject");
	jb_str(&st, subj->name, WJB_VALUE);
	jb_key(&st, "subject_ref");
	jb_str(&st, ref, WJB_VALUE);
	jb_key(&st, "dry_run");
	jb_bool(&st, dry_run, WJB_VALUE);
	receipt_tables(&st, ets);
	if (keep_shared)
	{
		jb_key(&st, "shared_kept");
		jb_bool(&st, true, WJB_VALUE);
	}
	receipt_retained(&st, ets);
	jb_key(&st, "keys_shredded");
	jb_num(&st, shredded, WJB_VALUE);
	jb_key(&st, "notify");
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, notify)
		jb_str(&st, lfirst(lc), WJB_ELEM);
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* the audit entry of an erasure: totals only */
static void
erase_audit(List *ets, const char *kind, const char *ref, int64 request, bool dry_run,
			bool keep_shared, int shredded)
{
	int64		total_deleted = 0,
				total_anonymized = 0,
				total_detached = 0;
	ListCell   *lc;

	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);

		total_deleted += et->deleted;
		total_anonymized += et->anonymized;
		total_detached += et->detached;
	}
	AuditAppend(kind, ref,
				psprintf("{\"request\":" INT64_FORMAT ",\"dry_run\":%s,\"deleted\":" INT64_FORMAT
						 ",\"anonymized\":" INT64_FORMAT ",\"keys_shredded\":%d%s}",
						 request, dry_run ? "true" : "false", total_deleted, total_anonymized, shredded,
						 keep_shared ? psprintf(",\"detached\":" INT64_FORMAT ",\"shared\":\"keep\"",
												total_detached) : ""));
}

/*
 * EraseSubjectShared
 *		EraseSubject with the choice for shared rows: keep_shared keeps the
 *		rows of delete-mode tables that also reach another subject
 *		(detached), instead of deleting them.  The steps: lock the subject
 *		and check holds; plan the tables; inspect (key sets, locks,
 *		checks); act; shred keys; record (request, ledger); receipt; audit.
 */
/* an erasure (not a dry run) is inspecting or changing rows (EraseSubjectShared) */
static bool erase_acting = false;

Jsonb *
EraseSubjectShared(MapSubject *subj, Datum key, const char *canon, const char *ref,
				   const char *reason, bool dry_run, bool keep_shared, const char *kind)
{
	return erase_subject(subj, key, canon, ref, reason, dry_run, keep_shared, kind, NULL);
}

/* EraseSubjectShared; others_held as for EraseSubject */
static Jsonb *
erase_subject(MapSubject *subj, Datum key, const char *canon, const char *ref,
			  const char *reason, bool dry_run, bool keep_shared, const char *kind,
			  bool *others_held)
{
	List	   *ets;
	List	   *ordered;
	List	   *notify;
	int			shredded = 0;
	int64		request;
	Jsonb	   *receipt;
	bool		has_holds = false;	/* hold rows of this subject to rewrite */
	MemoryContext outer = CurrentMemoryContext;
	int			jitnest = MapJitOff();	/* per-edge map queries: no JIT */

	UtilSpiConnect();
	MemoryContextSwitchTo(outer);

	/* the map's tables first: a migration in progress commits before the plan */
	{
		MapSubject *now = MapLockForErasure(subj, dry_run ? AccessShareLock : RowExclusiveLock);

		if (now != subj)
		{
			char	   *c;

			subj = now;
			key = MapParseId(subj, canon, &c);
			MemoryContextSwitchTo(outer);
		}
	}
	/* lock, then holds (a hold placed meanwhile has committed or waits) */
	if (!dry_run)
	{
		CitusCheckOwners(subj);	/* CITUS HOOK: before anything is sent */
		lock_subject(subj, key, canon);
		has_holds = lock_holds(subj, canon);
	}
	check_holds(subj, canon);
	MemoryContextSwitchTo(outer);

	/* plan; pseudonyms are computable only by the rewrite statements */
	(void) GuardPseudonymScopeBegin();
	ets = prepare_tables(subj, keep_shared);
	ordered = plan_order(ets);
	/*
	 * A trigger of a mapped table that erases again (any subject, not in a
	 * dry run) while this erasure changes rows: its deletions were measured
	 * as this erasure's (the receipt counted the other subject's rows) and
	 * its ledger entry and audit entry came in the middle.  Refused (55000),
	 * which fails the outer erasure as a whole.
	 */
	if (!dry_run && erase_acting)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("erasure cannot run while another erasure changes rows"),
				 errdetail("A trigger or constraint of a table the outer erasure changes called an erasure. Nothing was erased."),
				 errhint("Erase the subjects one after the other, not from a trigger; a dry run may be called from a trigger.")));
	if (!dry_run)
		erase_acting = true;
	PG_TRY();
	{
		MapCall    *call = erase_inspect(subj, key, ets, ordered, dry_run, outer, others_held);

		if (others_held == NULL || !*others_held)
			erase_act(subj, ets, ordered, call, dry_run);
	}
	PG_FINALLY();
	{
		if (!dry_run)
			erase_acting = false;
	}
	PG_END_TRY();
	/* an error ends the scope with its (sub)transaction (guard.c) */
	GuardPseudonymScopeEnd();
	MemoryContextSwitchTo(outer);
	/* replay: another subject's hold wins, nothing changed (EraseSubject) */
	if (others_held != NULL && *others_held)
	{
		SPI_finish();
		MapJitRestore(jitnest);
		return NULL;
	}
	if (!dry_run)
	{
		shredded = KeysShredSubject(subj->name, ref);
		RightsForgetKey(subj->name, canon, has_holds);	/* its id out of holds and restrictions */
	}
	else
		shredded = KeysCountSubject(subj->name, ref);	/* the receipt the erasure will give */
	if (!dry_run)
		CitusUseTwoPhaseCommit();	/* CITUS HOOK: records commit with the workers' deletes */
	notify = notify_recipients(ets);
	MemoryContextSwitchTo(outer);
	SPI_finish();

	request = erase_record(subj, kind, ref, reason, dry_run, shredded);
	MemoryContextSwitchTo(outer);
	receipt = erase_receipt(subj, ets, request, ref, dry_run, keep_shared, shredded, notify);
	erase_audit(ets, kind, ref, request, dry_run, keep_shared, shredded);
	MapJitRestore(jitnest);
	return receipt;
}

/*
 * privacy.erase(subject text, id text, reason text DEFAULT NULL,
 *				 dry_run boolean DEFAULT false, shared text DEFAULT 'delete')
 *				 RETURNS jsonb
 */
Datum
privacy_erase(PG_FUNCTION_ARGS)
{
	char	   *reason = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	bool		keep_shared = false;
	SubjectArg	a;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"dry_run\" must not be null")));
	/* the 0.1.0 signature had four arguments */
	if (PG_NARGS() > 4)
	{
		char	   *shared;

		if (PG_ARGISNULL(4))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"shared\" must not be null"),
					 errhint("Use 'delete' or 'keep'.")));
		shared = text_to_cstring(PG_GETARG_TEXT_PP(4));
		if (strcmp(shared, "keep") == 0)
			keep_shared = true;
		else if (strcmp(shared, "delete") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown value for argument \"shared\""),
					 errhint("Use 'delete' or 'keep'.")));
	}
	a = MapSubjectArg(fcinfo, 0, 1);
	PG_RETURN_JSONB_P(EraseSubjectShared(a.subj, a.key, a.canon, a.ref, reason, PG_GETARG_BOOL(3),
										 keep_shared, "erase"));
}
