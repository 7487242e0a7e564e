/*-------------------------------------------------------------------------
 * erase.c
 *		Right to erasure (GDPR Art. 17): plan, check, lock, act.
 *
 * 1. Lock: the subject's root row FOR UPDATE (as its owner), so that
 *    foreign-key-linked inserts for this subject wait; for tables linked
 *    without a foreign key, an exclusive transaction advisory lock on the
 *    subject's key, which the trigger installed by link() takes in shared
 *    mode on every insert or update.  A concurrent insert therefore lands
 *    before the erasure sees it (and is erased), or waits and then fails on
 *    its foreign key, or lands after the erasure committed.
 * 2. Holds are checked after the root lock, with the latest snapshot, so a
 *    hold committed while erase waited for the lock is seen even under
 *    REPEATABLE READ; hold() locks the root row FOR KEY SHARE first.
 * 3. Plan: tables in an order where referencing tables come before the
 *    tables they reference (topological over the foreign keys among mapped
 *    tables); per table, delete or anonymize (anonymize mode, or a column
 *    classified 'keep': the row is retained, the other classified columns
 *    rewritten).  Referenced (outbound) rows go only when nothing but this
 *    subject's erased rows references them; shared rows are retained.
 * 4. Check: a row to delete that a staying row references through a NO
 *    ACTION / RESTRICT foreign key is 23503 before anything changes.
 * 5. Act in order, in the caller's transaction; then shred the subject's
 *    keys, write the request, the ledger entry and the audit entry.  A dry
 *    run stops before acting and reports what would happen.
 *
 * Receipts, requests, the ledger and the audit log carry subject_ref only.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

#include "privacy.h"
#include "retention.h"

PG_FUNCTION_INFO_V1(privacy_erase);

/* true while erase rewrites rows (privacy.pseudonym works only then) */
bool		erasure_in_progress = false;

/*
 * KeysShredSubject
 *		Destroy the subject's data keys; returns how many.  This weak default
 *		(no encrypted columns) is replaced by keys.c when linked in.
 */
extern int	KeysShredSubject(const char *subject, const char *subject_ref);
__attribute__((weak)) int
KeysShredSubject(const char *subject, const char *subject_ref)
{
	return 0;
}

/* per-table state of one erasure */
typedef struct EraseTable
{
	MapTable   *mt;
	bool		anonymize;		/* rows stay, classified columns rewritten */
	char	   *set_clause;		/* "col" = expr, ... (anonymize) */
	char	   *changed;		/* condition: a rewritten column would change */
	List	   *keep_cols;		/* names of 'keep' columns */
	int64		deleted;
	int64		anonymized;
	int64		retained;		/* outbound rows kept: referenced by others */
	int64		kept_rows;		/* rows of the subject with 'keep' columns */
	Datum		tids;			/* outbound: tid[] of rows to act on */
	Datum		oids;			/* outbound: their tableoids */
} EraseTable;

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------
 */

/* run one statement with the key as $1 as the owner of relid */
static int
run_as_owner(Oid relid, const char *sql, int nargs, Oid *argtypes, Datum *values,
			 bool read_only, int expect)
{
	PrivacyUserSwitch sw;
	int			ret;

	UtilBecomeOwner(relid, &sw);
	RightsBypassRowSecurity(true);
	PG_TRY();
	{
		ret = SPI_execute_with_args(sql, nargs, argtypes, values, NULL, read_only, 0);
	}
	PG_FINALLY();
	{
		RightsBypassRowSecurity(false);
	}
	PG_END_TRY();
	UtilRestoreUser(&sw);
	if (ret != expect)
		elog(ERROR, "erasure statement failed: %d: %s", ret, sql);
	return ret;
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

/* "c.a, c.b" */
static char *
cols_list(const char *alias, Oid relid, const AttrNumber *cols, int n)
{
	StringInfoData b;
	int			i;

	initStringInfo(&b);
	for (i = 0; i < n; i++)
		appendStringInfo(&b, "%s%s.%s", i ? ", " : "", alias,
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

	if (t->outbound || c->outbound)
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
 *		algorithm over the foreign keys among mapped tables; on a cycle, the
 *		deepest remaining table goes first).
 */
static List *
plan_order(List *ets)
{
	List	   *remaining = list_copy(ets);
	List	   *ordered = NIL;

	while (remaining != NIL)
	{
		ListCell   *lc;
		EraseTable *pick = NULL;

		foreach(lc, remaining)
		{
			EraseTable *et = lfirst(lc);
			ListCell   *fc;
			bool		blocked = false;

			/* a table waits while a remaining table references it */
			foreach(fc, et->mt->fks_in)
			{
				MapHop	   *fk = lfirst(fc);
				EraseTable *ref = find_et(remaining, fk->rel);

				if (ref && ref != et)
					blocked = true;
			}
			if (!blocked)
			{
				pick = et;
				break;
			}
		}
		if (pick == NULL)
		{
			foreach(lc, remaining)
			{
				EraseTable *et = lfirst(lc);

				if (pick == NULL || et->mt->depth > pick->mt->depth)
					pick = et;
			}
		}
		ordered = lappend(ordered, pick);
		remaining = list_delete_ptr(remaining, pick);
	}
	return ordered;
}

/* ------------------------------------------------------------------------
 * privacy.erase
 * ------------------------------------------------------------------------
 */

/*
 * prepare_tables
 *		Per mapped table: its mode, rewrite clause and foreign keys.
 */
static List *
prepare_tables(MapSubject *subj)
{
	List	   *ets = NIL;
	ListCell   *lc;

	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);
		EraseTable *et = palloc0(sizeof(EraseTable));
		ListCell   *cc;
		StringInfoData set,
					chg;
		bool		first = true;

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
			/* the same rewrites as retention's anonymize action */
			expr = RetentionRewriteExpr(typid, typmod, c->erasure, colexpr);
			if (expr == NULL)
				continue;		/* keep, shred */
			appendStringInfo(&set, "%s%s = %s", first ? "" : ", ", quote_identifier(c->name), expr);
			/* a value already rewritten is not rewritten (nor counted) again */
			appendStringInfo(&chg, "%sNOT coalesce(%s, false)", first ? "" : " OR ",
							 RetentionRewriteDoneExpr(typid, typmod, c->erasure, colexpr));
			first = false;
		}
		if (!first)
		{
			et->set_clause = set.data;
			et->changed = chg.data;
		}
		ets = lappend(ets, et);
	}
	return ets;
}

/*
 * check_references
 *		23503 when a row to be deleted is referenced, through a NO ACTION or
 *		RESTRICT foreign key, by a row that stays.
 */
static void
check_references(MapSubject *subj, List *ets, Datum key)
{
	ListCell   *lc,
			   *fc;
	Oid			t[1];
	Datum		v[1];

	t[0] = subj->key_type;
	v[0] = key;
	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);

		if (et->anonymize || et->mt->outbound)
			continue;
		foreach(fc, et->mt->fks_in)
		{
			MapHop	   *fk = lfirst(fc);
			EraseTable *cet = find_et(ets, fk->rel);
			char	   *sql;

			if (fk->deltype != 'a' && fk->deltype != 'r')
				continue;		/* CASCADE / SET NULL / SET DEFAULT */
			if (cet && !cet->anonymize && fk_covered(et->mt, cet->mt, fk))
				continue;
			sql = psprintf("SELECT 1 FROM %s c WHERE %s IN (SELECT %s FROM %s t WHERE %s)%s%s LIMIT 1",
						   UtilQualifiedName(fk->rel),
						   cols_of("c", fk->rel, fk->cols, fk->ncols),
						   cols_list("t", et->mt->relid, fk->pcols, fk->ncols),
						   et->mt->qualname, et->mt->cond,
						   (cet && !cet->anonymize) ? " AND NOT " : "",
						   (cet && !cet->anonymize) ? MapCondition(subj, cet->mt, "c", "$1") : "");
			run_as_owner(fk->rel, sql, 1, t, v, true, SPI_OK_SELECT);
			if (SPI_processed > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
						 errmsg("erasure would delete rows of %s that rows of %s still reference",
								et->mt->qualname, UtilQualifiedName(fk->rel)),
						 errdetail("Rows of %s %s stay after the erasure, and its foreign key does not cascade.",
								   UtilQualifiedName(fk->rel),
								   cet ? "in erasure mode 'anonymize'" : "outside the data map"),
						 errhint(cet ? "Set the erasure mode of %s to 'delete' with privacy.set_erasure_mode(), or make the foreign key ON DELETE CASCADE or SET NULL."
								 : "Map %s to the subject (a foreign key path or privacy.link()), or make the foreign key ON DELETE CASCADE or SET NULL.",
								 UtilQualifiedName(fk->rel)),
						 errhidestmt(true)));
		}
	}
}

/*
 * materialize_outbound
 *		Rows of a referenced table that this erasure may change, locked FOR
 *		UPDATE: those that no staying row of another subject, or of a table
 *		outside the map, references.  A row of this subject that stays
 *		(anonymize mode) blocks deletion but not anonymization.  The other
 *		rows are retained and counted.
 */
static void
materialize_outbound(MapSubject *subj, List *ets, EraseTable *et, Datum key, bool dry_run)
{
	StringInfoData sql;
	ListCell   *fc;
	Oid			t[1];
	Datum		v[1];
	bool		isnull;
	int			i = 0;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT pg_catalog.array_agg(s.tableoid) FILTER (WHERE s.free),"
						   " pg_catalog.array_agg(s.ctid) FILTER (WHERE s.free),"
						   " pg_catalog.count(*) FILTER (WHERE NOT s.free)"
						   " FROM (SELECT t.tableoid, t.ctid, true");
	foreach(fc, et->mt->fks_in)
	{
		MapHop	   *fk = lfirst(fc);
		EraseTable *cet = find_et(ets, fk->rel);
		char		alias[16];
		bool		mine;

		/* a row of this subject that is deleted, or stays while we only rewrite */
		mine = cet && !cet->mt->outbound && (!cet->anonymize || et->anonymize);
		snprintf(alias, sizeof(alias), "r%d", ++i);
		appendStringInfo(&sql, " AND NOT EXISTS (SELECT 1 FROM %s %s WHERE %s = %s%s%s)",
						 UtilQualifiedName(fk->rel), alias,
						 cols_of(alias, fk->rel, fk->cols, fk->ncols),
						 cols_of("t", et->mt->relid, fk->pcols, fk->ncols),
						 mine ? " AND NOT " : "",
						 mine ? MapCondition(subj, cet->mt, alias, "$1") : "");
	}
	appendStringInfo(&sql, " AS free FROM %s t WHERE %s) s", et->mt->qualname, et->mt->cond);
	t[0] = subj->key_type;
	v[0] = key;
	/*
	 * Lock the candidate rows first; the statement that decides which are
	 * free runs after it with a new snapshot, so an erasure of another
	 * subject that shared them and committed meanwhile is seen.
	 */
	if (!dry_run)
		run_as_owner(et->mt->relid,
					 psprintf("SELECT 1 FROM %s t WHERE %s FOR UPDATE OF t", et->mt->qualname, et->mt->cond),
					 1, t, v, false, SPI_OK_SELECT);
	run_as_owner(et->mt->relid, sql.data, 1, t, v, false, SPI_OK_SELECT);
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(et));
		Datum		d;

		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		et->oids = isnull ? (Datum) 0 : datumCopy(d, false, -1);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		et->tids = isnull ? (Datum) 0 : datumCopy(d, false, -1);
		et->retained = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		MemoryContextSwitchTo(old);
	}
}

/*
 * act_table
 *		Delete or rewrite the subject's rows of one table (or count them in
 *		a dry run).
 */
static void
act_table(MapSubject *subj, EraseTable *et, Datum key, bool dry_run)
{
	MapTable   *mt = et->mt;
	char	   *where;
	Oid			t[3];
	Datum		v[3];
	int			nargs = 1;

	t[0] = subj->key_type;
	v[0] = key;
	if (mt->outbound)
	{
		if (et->tids == (Datum) 0)
			return;
		where = "t.ctid OPERATOR(pg_catalog.=) ANY ($3) AND (t.tableoid, t.ctid) IN"
			" (SELECT u.o, u.c FROM ROWS FROM (pg_catalog.unnest($2::oid[]), pg_catalog.unnest($3::tid[])) u(o, c))";
		t[1] = OIDARRAYOID;
		t[2] = TIDARRAYOID;
		v[1] = et->oids;
		v[2] = et->tids;
		nargs = 3;
	}
	else
		where = mt->cond;

	if (!et->anonymize)
	{
		if (dry_run)
		{
			run_as_owner(mt->relid, psprintf("SELECT pg_catalog.count(*) FROM %s t WHERE %s", mt->qualname, where),
						 nargs, t, v, true, SPI_OK_SELECT);
			{
				bool		isnull;

				et->deleted = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			}
			return;
		}
		run_as_owner(mt->relid, psprintf("DELETE FROM %s t WHERE %s", mt->qualname, where),
					 nargs, t, v, false, SPI_OK_DELETE);
		et->deleted = SPI_processed;
		return;
	}
	if (et->keep_cols != NIL)
	{
		bool		isnull;

		run_as_owner(mt->relid, psprintf("SELECT pg_catalog.count(*) FROM %s t WHERE %s", mt->qualname, where),
					 nargs, t, v, true, SPI_OK_SELECT);
		et->kept_rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	if (et->set_clause == NULL)
		return;
	if (dry_run)
	{
		bool		isnull;

		run_as_owner(mt->relid, psprintf("SELECT pg_catalog.count(*) FROM %s t WHERE (%s) AND (%s)",
										 mt->qualname, where, et->changed),
					 nargs, t, v, true, SPI_OK_SELECT);
		et->anonymized = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		return;
	}
	run_as_owner(mt->relid, psprintf("UPDATE %s t SET %s WHERE (%s) AND (%s)",
									 mt->qualname, et->set_clause, where, et->changed),
				 nargs, t, v, false, SPI_OK_UPDATE);
	et->anonymized = SPI_processed;
}

/*
 * lock_subject
 *		The root row FOR UPDATE, and the advisory lock that link() triggers
 *		take in shared mode.
 */
static void
lock_subject(MapSubject *subj, Datum key, const char *canon)
{
	Oid			t[2];
	Datum		v[2];
	ListCell   *lc;

	t[0] = subj->key_type;
	v[0] = key;
	run_as_owner(subj->root,
				 psprintf("SELECT 1 FROM %s t WHERE t.%s OPERATOR(pg_catalog.=) $1 FOR UPDATE",
						  UtilQualifiedName(subj->root), quote_identifier(subj->key_column)),
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
		get_atttypetypmodcoll(h->rel, h->cols[0], &typid, &typmod, &coll);
		t[1] = TEXTOID;
		v[1] = CStringGetTextDatum(subj->name);
		if (SPI_execute_with_args(psprintf("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext($2 COLLATE \"C\"),"
										   " pg_catalog.hashtext(CAST(CAST($1 AS %s) AS text) COLLATE \"C\"))",
										   format_type_with_typemod(typid, typmod)),
								  2, t, v, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not take the erasure lock");
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
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		v[2];
	int			ret;

	v[0] = CStringGetTextDatum(subj->name);
	v[1] = CStringGetTextDatum(canon);
	CommandCounterIncrement();
	PushActiveSnapshot(GetLatestSnapshot());
	ret = SPI_execute_with_args("SELECT 1 FROM privacy.holds h WHERE h.subject = $1 AND h.subject_key = $2"
								" AND h.released_at IS NULL AND (h.until IS NULL OR h.until > pg_catalog.now())",
								2, t, v, NULL, true, 1);
	PopActiveSnapshot();
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "hold lookup failed: %d", ret);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the subject is under a legal hold"),
				 errdetail("Nothing was erased."),
				 errhint("Release the hold with privacy.release_hold() once it no longer applies."),
				 errhidestmt(true)));
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
	if (SPI_execute_with_args("SELECT r.name FROM privacy.recipients r WHERE EXISTS ("
							  " SELECT 1 FROM pg_catalog.unnest(r.categories) rc, pg_catalog.unnest($1) c"
							  " WHERE c = rc OR pg_catalog.left(c, pg_catalog.length(rc) + 1) = rc || '.')"
							  " ORDER BY r.name", 1, t, v, NULL, true, 0) != SPI_OK_SELECT)
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
 *		by privacy.erase and privacy.replay_erasures.
 */
Jsonb *
EraseSubject(MapSubject *subj, Datum key, const char *canon, const char *ref,
			 const char *reason, bool dry_run, const char *kind)
{
	List	   *ets;
	List	   *ordered;
	List	   *notify;
	ListCell   *lc;
	int			shredded = 0;
	int64		request;
	int64		total_deleted = 0,
				total_anonymized = 0;
	JsonbParseState *st = NULL;
	JsonbValue *res;
	char	   *detail;
	MemoryContext outer = CurrentMemoryContext;
	int			jitnest = MapJitOff();	/* per-edge map queries: no JIT */

	UtilSpiConnect();
	MemoryContextSwitchTo(outer);

	/* lock, then holds (a hold placed meanwhile has committed or waits) */
	if (!dry_run)
		lock_subject(subj, key, canon);
	check_holds(subj, canon);
	MemoryContextSwitchTo(outer);

	/* plan */
	ets = prepare_tables(subj);
	ordered = plan_order(ets);

	/* check, before anything changes */
	check_references(subj, ets, key);
	foreach(lc, ordered)
	{
		EraseTable *et = lfirst(lc);

		if (et->mt->outbound)
			materialize_outbound(subj, ets, et, key, dry_run);
	}
	MemoryContextSwitchTo(outer);

	/* act */
	erasure_in_progress = true;
	PG_TRY();
	{
		foreach(lc, ordered)
		{
			EraseTable *et = lfirst(lc);

			act_table(subj, et, key, dry_run);
			total_deleted += et->deleted;
			total_anonymized += et->anonymized;
		}
	}
	PG_FINALLY();
	{
		erasure_in_progress = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(outer);
	if (!dry_run)
		shredded = KeysShredSubject(subj->name, ref);
	notify = notify_recipients(ets);
	MemoryContextSwitchTo(outer);
	SPI_finish();

	request = AccessRecordRequest(subj, kind, ref, !dry_run);
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
	if (!dry_run)
	{
		Oid			t[4] = {INT8OID, TEXTOID, TEXTOID, INT4OID};
		Datum		v[4];

		v[0] = Int64GetDatum(request);
		v[1] = CStringGetTextDatum(subj->name);
		v[2] = CStringGetTextDatum(ref);
		v[3] = Int32GetDatum(shredded);
		UtilSpiConnect();
		if (SPI_execute_with_args("INSERT INTO privacy.erasures (request, subject, subject_ref, keys_shredded)"
								  " VALUES ($1, $2, $3, $4)", 4, t, v, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not write the erasure ledger");
		if (SPI_execute_with_args("UPDATE privacy.request_log SET detail = pg_catalog.jsonb_build_object('reason', $2::text)"
								  " WHERE id = $1 AND $2 IS NOT NULL", 2, t, v, NULL, false, 0) < 0)
			elog(ERROR, "could not record the reason");
		SPI_finish();
	}
	MemoryContextSwitchTo(outer);

	/* the receipt */
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	jb_key(&st, "request");
	jb_num(&st, request, WJB_VALUE);
	jb_key(&st, "subject");
	jb_str(&st, subj->name, WJB_VALUE);
	jb_key(&st, "subject_ref");
	jb_str(&st, ref, WJB_VALUE);
	jb_key(&st, "dry_run");
	jb_bool(&st, dry_run, WJB_VALUE);
	jb_key(&st, "tables");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);

		jb_key(&st, et->mt->jsonkey);
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		jb_key(&st, "deleted");
		jb_num(&st, et->deleted, WJB_VALUE);
		jb_key(&st, "anonymized");
		jb_num(&st, et->anonymized, WJB_VALUE);
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	jb_key(&st, "retained");
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, ets)
	{
		EraseTable *et = lfirst(lc);
		ListCell   *kc;

		if (et->retained > 0)
		{
			pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
			jb_key(&st, "table");
			jb_str(&st, et->mt->jsonkey, WJB_VALUE);
			jb_key(&st, "rows");
			jb_num(&st, et->retained, WJB_VALUE);
			jb_key(&st, "reason");
			jb_str(&st, "referenced by rows of other subjects", WJB_VALUE);
			pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		}
		foreach(kc, et->keep_cols)
		{
			if (et->kept_rows == 0)
				break;
			pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
			jb_key(&st, "table");
			jb_str(&st, et->mt->jsonkey, WJB_VALUE);
			jb_key(&st, "column");
			jb_str(&st, lfirst(kc), WJB_VALUE);
			jb_key(&st, "rows");
			jb_num(&st, et->kept_rows, WJB_VALUE);
			jb_key(&st, "reason");
			jb_str(&st, "kept under a legal obligation (erasure strategy keep)", WJB_VALUE);
			pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		}
	}
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	jb_key(&st, "keys_shredded");
	jb_num(&st, shredded, WJB_VALUE);
	jb_key(&st, "notify");
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, notify)
		jb_str(&st, lfirst(lc), WJB_ELEM);
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);

	detail = psprintf("{\"request\":" INT64_FORMAT ",\"dry_run\":%s,\"deleted\":" INT64_FORMAT
					  ",\"anonymized\":" INT64_FORMAT ",\"keys_shredded\":%d}",
					  request, dry_run ? "true" : "false", total_deleted, total_anonymized, shredded);
	AuditAppend(kind, ref, detail);
	MapJitRestore(jitnest);
	return JsonbValueToJsonb(res);
}

/*
 * privacy.erase(subject text, id text, reason text DEFAULT NULL,
 *				 dry_run boolean DEFAULT false) RETURNS jsonb
 */
Datum
privacy_erase(PG_FUNCTION_ARGS)
{
	char	   *reason = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	SubjectArg	a;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"dry_run\" must not be null")));
	a = MapSubjectArg(fcinfo, 0, 1);
	PG_RETURN_JSONB_P(EraseSubject(a.subj, a.key, a.canon, a.ref, reason, PG_GETARG_BOOL(3), "erase"));
}
