/*-------------------------------------------------------------------------
 * access.c
 *		Rights of access (GDPR Art. 15) and portability (Art. 20), and the
 *		request log every rights call writes.
 *
 * access/export run one cached plan per mapped table ("the rows of this
 * table that belong to subject $1", compiled by map_compile.c), each as the table's
 * owner in a security-restricted context, then one cached plan that adds the
 * catalog facts (categories, purposes, legal bases, recipients, retention,
 * consents, restriction, holds) and assembles the result.  The request row
 * and the audit entry are written in the caller's transaction and hold only
 * subject_ref.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"

#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "citus.h"
#include "crypto.h"
#include "guard.h"
#include "privacy.h"

PG_FUNCTION_INFO_V1(privacy_access);
PG_FUNCTION_INFO_V1(privacy_export);
PG_FUNCTION_INFO_V1(privacy_receive_request);
PG_FUNCTION_INFO_V1(privacy_rows_step);
PG_FUNCTION_INFO_V1(privacy_rows_final);
PG_FUNCTION_INFO_V1(privacy_row);

static SPIPlanPtr plan_request = NULL;

/*
 * CryptoRowOverride
 *		jsonb_build_object of the decrypted encrypted columns of relid, to be
 *		merged over to_jsonb(alias); NULL when the table has none.
 */
static char *
CryptoRowOverride(Oid relid, const char *alias)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	int			ret;
	uint64		i;
	StringInfoData buf;
	int			n = 0;

	values[0] = ObjectIdGetDatum(relid);
	ret = SPI_execute_with_args("SELECT column_name::text FROM privacy.encrypted_columns"
								" WHERE table_name = $1 ORDER BY id", 1, argtypes, values, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "encrypted column lookup failed: %s", SPI_result_code_string(ret));
	initStringInfo(&buf);
	appendStringInfoString(&buf, "pg_catalog.jsonb_build_object(");
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *col = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *expr = CryptoReadExpr(relid, col, alias);

		if (expr == NULL)
			continue;
		appendStringInfo(&buf, "%s%s, %s", n ? ", " : "", quote_literal_cstr(col), expr);
		n++;
	}
	appendStringInfoChar(&buf, ')');
	return n ? buf.data : NULL;
}

/*
 * The catalog facts of an access result, in two statements.  The
 * configuration facts depend only on the tables holding rows ($1 oid[]) and
 * on the configuration: they are cached per subject and per set of tables
 * (assemble), and the cache goes with the map entry, which every
 * configuration change drops (privacy._invalidate(), and the statement
 * triggers on privacy.classifications, privacy.recipients and
 * privacy.retention, so a change made by hand is seen too).  The person's
 * facts ($1 subject type, $2 canonical key, $3 subject_ref, $4 id) are read
 * on every call.  The person's data is not a parameter: it is added in C,
 * so that both plans are generic and the rows are not copied through the
 * executor.
 */
static const char *access_config_sql =
"WITH cols AS (SELECT c.category, c.purposes, c.legal_basis FROM privacy.classifications c"
"               WHERE c.table_name::oid OPERATOR(pg_catalog.=) ANY ($1)),"
" cats AS (SELECT DISTINCT category FROM cols)"
" SELECT pg_catalog.jsonb_build_object("
"  'categories', coalesce((SELECT pg_catalog.jsonb_agg(category ORDER BY category) FROM cats), '[]'),"
"  'purposes', coalesce((SELECT pg_catalog.jsonb_agg(DISTINCT p ORDER BY p) FROM cols, pg_catalog.unnest(cols.purposes) p), '[]'),"
"  'legal_bases', coalesce((SELECT pg_catalog.jsonb_agg(DISTINCT legal_basis ORDER BY legal_basis) FROM cols"
"                           WHERE legal_basis IS NOT NULL), '[]'),"
"  'recipients', coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('name', r.name, 'purpose', r.purpose,"
"       'country', r.country, 'categories', pg_catalog.to_jsonb(r.categories)) ORDER BY r.name)"
"     FROM privacy.recipients r WHERE EXISTS (SELECT 1 FROM cats, pg_catalog.unnest(r.categories) rc"
"       WHERE cats.category OPERATOR(pg_catalog.=) rc"
"          OR pg_catalog.left(cats.category, pg_catalog.length(rc) + 1) OPERATOR(pg_catalog.=) (rc OPERATOR(pg_catalog.||) '.'))), '[]'),"
"  'retention', coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('table', p.table_name::text,"
"       'age_column', p.age_column, 'keep', p.keep::text, 'action', p.action) ORDER BY p.id)"
"     FROM privacy.retention p WHERE p.table_name::oid OPERATOR(pg_catalog.=) ANY ($1)), '[]'))";

static const char *access_person_sql =
"SELECT pg_catalog.jsonb_build_object("
"  'subject', $1, 'id', $4, 'generated_at', pg_catalog.now(),"
"  'consents', coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('purpose', c.purpose,"
"       'granted', c.granted, 'at', c.at, 'source', c.source) ORDER BY c.purpose)"
"     FROM privacy.consents c WHERE c.subject_ref OPERATOR(pg_catalog.=) $3), '[]'),"
"  'restricted', EXISTS (SELECT 1 FROM privacy.restrictions r"
"     WHERE r.subject OPERATOR(pg_catalog.=) $1 AND r.subject_key OPERATOR(pg_catalog.=) $2),"
"  'holds', coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('reason', h.reason,"
"       'placed_at', h.placed_at, 'until', h.until) ORDER BY h.id)"
"     FROM privacy.holds h WHERE h.subject OPERATOR(pg_catalog.=) $1 AND h.subject_key OPERATOR(pg_catalog.=) $2"
"       AND " PRIVACY_HOLD_ACTIVE "), '[]'))";

/* a cached configuration facts object (in the map entry's context) */
typedef struct AccessConfigFacts
{
	char	   *tables;			/* the oids of the tables holding rows, as text */
	Jsonb	   *facts;
} AccessConfigFacts;

/* at most this many sets of tables cached per subject */
#define ACCESS_CONFIG_FACTS_MAX 64

/*
 * AccessRecordRequest
 *		Insert a request row (received now, due after
 *		privacy.request_deadline) and return its id.  completed: the request
 *		is answered in the same call.
 */
int64
AccessRecordRequest(MapSubject *subj, const char *kind, const char *subject_ref, bool completed)
{
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	char	   *actor = GetUserNameFromId(GetOuterUserId(), true);
	int			ret;
	bool		isnull;
	int64		id;

	GuardRightsCall();

	UtilSpiConnect();
	if (plan_request == NULL)
	{
		Oid			t[5] = {TEXTOID, TEXTOID, TEXTOID, BOOLOID, TEXTOID};

		/*
		 * A request logged on receipt (receive_request) is completed by the
		 * rights call that answers it: the oldest open one of the same kind
		 * for the same subject.  Otherwise the call is a new request.
		 */
		plan_request = SPI_prepare("WITH open AS ("
								   " UPDATE privacy.request_log r SET completed_at = pg_catalog.clock_timestamp(),"
								   "  status = 'completed', actor = $5"
								   " WHERE $4 AND r.id = (SELECT o.id FROM privacy.request_log o"
								   "  WHERE o.subject_ref = $3 AND o.kind = $1 AND o.subject = $2 AND o.completed_at IS NULL"
								   "  ORDER BY o.received_at, o.id LIMIT 1 FOR UPDATE SKIP LOCKED)"
								   " RETURNING r.id),"
								   " ins AS (INSERT INTO privacy.request_log"
								   " (kind, subject, subject_ref, received_at, due_at, completed_at, status, actor)"
								   " SELECT $1, $2, $3, pg_catalog.now(),"
								   "  pg_catalog.now() + pg_catalog.current_setting('privacy.request_deadline')::interval,"
								   "  CASE WHEN $4 THEN pg_catalog.clock_timestamp() END,"
								   "  CASE WHEN $4 THEN 'completed' ELSE 'received' END, $5"
								   " WHERE NOT EXISTS (SELECT FROM open) RETURNING id)"
								   " SELECT id FROM open UNION ALL SELECT id FROM ins", 5, t);
		if (plan_request == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan_request);
	}
	values[0] = CStringGetTextDatum(kind);
	values[1] = CStringGetTextDatum(subj->name);
	values[2] = CStringGetTextDatum(subject_ref);
	values[3] = BoolGetDatum(completed);
	values[4] = CStringGetTextDatum(actor ? actor : "?");
	ret = SPI_execute_plan(plan_request, values, nulls, false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not record the request: %s", SPI_result_code_string(ret));
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return id;
}

/*
 * row_expr
 *		The JSON of one row of mt for access: every column, encrypted ones
 *		decrypted (through the crypto hook when encrypted columns exist).
 */
static char *
row_expr_on(MapTable *mt, bool worker_ok)
{
	char	   *over = CryptoRowOverride(mt->relid, "t");

	/*
	 * to_jsonb's value, faster (on a Citus table, only in a router statement:
	 * one worker runs it, whose extension has it); "t.*", not "t", which
	 * would name a column called t if the table has one
	 */
	const char *row = CitusIsCitusTable(mt->relid) && !worker_ok ?
		"pg_catalog.to_jsonb(t.*)" : "privacy._row(t.*)";

	if (over == NULL)
		return (char *) row;
	return psprintf("(%s OPERATOR(pg_catalog.||) %s)", row, over);
}

static char *
row_expr(MapTable *mt)
{
	return row_expr_on(mt, false);
}

/*
 * export_expr
 *		The JSON of one row of mt for export: portable classified columns
 *		only; NULL when the table has none.
 */
static char *
export_expr(MapTable *mt)
{
	StringInfoData buf;
	ListCell   *lc;
	int			n = 0;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "(pg_catalog.jsonb_build_object(");
	foreach(lc, mt->columns)
	{
		MapColumn  *c = lfirst(lc);
		char	   *rd;

		if (!c->portable)
			continue;
		/* jsonb_build_object takes at most 100 arguments: chain chunks */
		if (n > 0 && n % 40 == 0)
			appendStringInfoString(&buf, ") OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(");
		else if (n > 0)
			appendStringInfoString(&buf, ", ");
		rd = CryptoReadExpr(mt->relid, c->name, "t");
		appendStringInfo(&buf, "%s, %s", quote_literal_cstr(c->name),
						 rd ? rd : psprintf("t.%s", quote_identifier(c->name)));
		n++;
	}
	appendStringInfoString(&buf, "))");
	return n > 0 ? buf.data : NULL;
}

/*
 * prepare_table_plan
 *		"SELECT privacy._rows(<expr>) FROM table t WHERE <belongs to $1>" (jsonb_agg on a Citus table), kept.
 */
static SPIPlanPtr
prepare_table_plan(MapSubject *subj, MapTable *mt, const char *expr)
{
	/* the condition over the call's key sets (MapCallBegin) */
	const char *cond = MapCallCondition(subj, mt);
	char	   *sql = psprintf("SELECT %s(%s) FROM %s t WHERE %s",
							   CitusIsCitusTable(mt->relid) ? "pg_catalog.jsonb_agg" : "privacy._rows",
							   expr, mt->qualname, cond);
	SPIPlanPtr	p;

	/*
	 * One generic plan: a custom plan per call costs more than the query
	 * (CITUS HOOK: Citus plans a distributed table per call).
	 */
	sql = CitusPrivateParams(subj, mt->relid, sql, mt->call_nargs, mt->call_argtypes);
	p = SPI_prepare_cursor(sql, mt->call_nargs, mt->call_argtypes,
						   CitusIsCitusTable(mt->relid) ? 0 : CURSOR_OPT_GENERIC_PLAN);
	if (p == NULL)
		elog(ERROR, "could not prepare the map query of %s: %s", mt->label,
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(p);
	return p;
}

/*
 * run_table_plan
 *		Execute a table plan as the table's owner; returns the jsonb array
 *		(copied into the caller's context) or NULL when no row matched.
 */
static Jsonb *
run_table_plan(MapTable *mt, SPIPlanPtr plan, Datum *values, MemoryContext outer)
{
	PrivacyUserSwitch sw;
	int			ret;
	bool		isnull;
	Datum		d;
	Jsonb	   *result = NULL;

	sw.frame = GuardEnterTableOwner(mt->relid);
	GuardSetRowSecurityBypass(true);
	PG_TRY();
	{
		ret = SPI_execute_plan(plan, values, NULL, true, 1);
	}
	PG_FINALLY();
	{
		GuardSetRowSecurityBypass(false);
	}
	PG_END_TRY();
	GuardLeave(sw.frame);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "map query of %s failed: %s", mt->label, SPI_result_code_string(ret));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
	{
		MemoryContext old = MemoryContextSwitchTo(outer);

		result = DatumGetJsonbPCopy(d);
		MemoryContextSwitchTo(old);
	}
	return result;
}

/*
 * The tables of a subject that Citus routes to the subject's shard group and
 * that the root's owner owns are read in one router statement (one round
 * trip to the worker instead of one per table): "SELECT (SELECT jsonb_agg(..)
 * FROM t1 t WHERE ..), (SELECT ..)".  Its plan is kept in the root's
 * plan_extra slot (freed with the map cache); routed_member says which
 * tables (by position) it reads, valid while routed_plan is that plan.
 */
static void *routed_plan = NULL;
static bool *routed_member = NULL;

/*
 * read_routed
 *		Run the one statement of the routed tables of subj (access only);
 *		returns the member flags (by table position) and fills vals with
 *		each member's rows (NULL: none), or returns NULL when fewer than two
 *		tables route (the per-table plans are used then).
 */
static bool *
read_routed(MapSubject *subj, Datum key, MemoryContext outer, Jsonb ***vals)
{
	MapTable   *root = linitial(subj->tables);
	int			n = list_length(subj->tables);
	int			i = 0,
				col = 0;
	ListCell   *lc;
	PrivacyUserSwitch sw;
	Datum		values[1];
	int			ret;

	if (root->relid != subj->root || !CitusLoaded())
		return NULL;
	if (root->plan_extra == NULL || routed_plan != root->plan_extra)
	{
		Oid			owner = UtilRelationOwner(subj->root);
		StringInfoData sql;
		int			members = 0;
		Oid			argtypes[1];
		SPIPlanPtr	p;

		if (root->plan_extra != NULL)
		{
			/* another subject's statement was built since: rebuild this one */
			SPI_freeplan((SPIPlanPtr) root->plan_extra);
			root->plan_extra = NULL;
		}
		if (routed_member)
			pfree(routed_member);
		routed_member = MemoryContextAllocZero(TopMemoryContext, sizeof(bool) * n);
		routed_plan = NULL;
		initStringInfo(&sql);
		appendStringInfoString(&sql, "SELECT ");
		foreach(lc, subj->tables)
		{
			MapTable   *mt = lfirst(lc);
			const char *r = CitusRouting(subj, mt);

			if (r != NULL && strcmp(r, "one shard") == 0 && !mt->outbound &&
				UtilRelationOwner(mt->relid) == owner)
			{
				/* a router statement: the worker runs privacy._row and _rows */
				appendStringInfo(&sql, "%s(SELECT privacy._rows(%s) FROM %s t WHERE %s)",
								 members > 0 ? ", " : "", row_expr_on(mt, true), mt->qualname, MapTableCond(subj, mt));
				routed_member[i] = true;
				members++;
			}
			i++;
		}
		if (members < 2)
			return NULL;
		argtypes[0] = subj->key_type;
		p = SPI_prepare(sql.data, 1, argtypes);
		if (p == NULL)
			elog(ERROR, "could not prepare the routed map query: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		root->plan_extra = p;
		routed_plan = p;
	}
	values[0] = key;
	sw.frame = GuardEnterTableOwner(subj->root);
	GuardSetRowSecurityBypass(true);
	PG_TRY();
	{
		ret = SPI_execute_plan((SPIPlanPtr) root->plan_extra, values, NULL, true, 1);
	}
	PG_FINALLY();
	{
		GuardSetRowSecurityBypass(false);
	}
	PG_END_TRY();
	GuardLeave(sw.frame);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "routed map query failed: %s", SPI_result_code_string(ret));
	*vals = MemoryContextAllocZero(outer, sizeof(Jsonb *) * n);
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		d;

		if (!routed_member[i])
			continue;
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, ++col, &isnull);
		if (!isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(outer);

			(*vals)[i] = DatumGetJsonbPCopy(d);
			MemoryContextSwitchTo(old);
		}
	}
	return routed_member;
}

/*
 * table_json
 *		The JSON of a row of mt (alias t) for access or export, NULL when
 *		export has no column of it; computed once per map entry.
 */
static const char *
table_json(MapTable *mt, bool export)
{
	if (mt->row_json[export] == NULL)
	{
		char	   *e = export ? export_expr(mt) : row_expr(mt);

		mt->row_json[export] = MemoryContextStrdup(GetMemoryChunkContext(mt), e ? e : "");
	}
	return mt->row_json[export][0] ? mt->row_json[export] : NULL;
}

/*
 * Partitions mapped twice: a partition mapped by a key of its own (a foreign
 * key declared on that partition only) while a partitioned ancestor is in
 * the map too (a link, a key declared on it) - the ancestor's condition
 * reaches rows of the partition as well.  As erase counts them
 * (mark_partition_overlap in erase.c), each row is listed once, under the
 * partition: the partition's rows are those its own condition or a mapped
 * ancestor's condition (evaluated on the partition alone) finds, and the
 * ancestor's list leaves out the rows of such partitions (their tableoid).
 * Key sets are not changed.  Both kinds of tables are read by read_grouped.
 */
typedef struct Overlap
{
	List	  **anc;			/* per table: int, positions of its mapped
								 * ancestors (nearest first); NIL: none */
	Datum	   *excl;			/* per table: oid[] of the partitions (all
								 * levels) listed by themselves; 0: none */
	const char **json;			/* per table: its row's JSON (table_json; an
								 * export of a partition, whose columns are
								 * classified on the partitioned table: the
								 * nearest mapped ancestor's) */
	bool		any;
} Overlap;

/*
 * overlap_find
 *		The overlapping partitions of subj and their ancestors (Overlap), for
 *		the tables listed by this call (a partition without a row JSON of
 *		its own or of an ancestor lists nothing: its rows stay with the
 *		ancestor).
 */
static void
overlap_find(MapSubject *subj, bool export, Overlap *ov)
{
	int			n = list_length(subj->tables);
	List	  **leaves = palloc0(sizeof(List *) * Max(n, 1));
	ListCell   *lc;
	int			i;

	ov->anc = palloc0(sizeof(List *) * Max(n, 1));
	ov->excl = palloc0(sizeof(Datum) * Max(n, 1));
	ov->json = palloc0(sizeof(char *) * Max(n, 1));
	ov->any = false;
	foreach(lc, subj->tables)
		ov->json[foreach_current_index(lc)] = table_json(lfirst(lc), export);
	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);
		int			p = foreach_current_index(lc);
		List	   *anc = NIL;
		ListCell   *ac;

		if (!get_rel_relispartition(mt->relid))
			continue;
		foreach(ac, get_partition_ancestors(mt->relid))
		{
			int			a = MapTableIndex(subj, lfirst_oid(ac));

			if (a >= 0)
				anc = lappend_int(anc, a);
		}
		if (anc != NIL && ov->json[p] == NULL)
			ov->json[p] = ov->json[linitial_int(anc)];
		if (ov->json[p] == NULL)
			continue;
		foreach(ac, anc)
		{
			int			a = lfirst_int(ac);

			ov->anc[p] = lappend_int(ov->anc[p], a);
			leaves[a] = list_concat(leaves[a], find_all_inheritors(mt->relid, NoLock, NULL));
			ov->any = true;
		}
	}
	for (i = 0; i < n; i++)
	{
		Datum	   *o;
		ListCell   *oc;

		if (leaves[i] == NIL)
			continue;
		o = palloc(sizeof(Datum) * list_length(leaves[i]));
		foreach(oc, leaves[i])
			o[foreach_current_index(oc)] = ObjectIdGetDatum(lfirst_oid(oc));
		ov->excl[i] = PointerGetDatum(construct_array(o, list_length(leaves[i]), OIDOID,
													  sizeof(Oid), true, TYPALIGN_INT));
	}
}

/* one table of a group statement of collect() */
typedef struct GroupMember
{
	int			pos;			/* in subj->tables */
	int			first;			/* the number of its first key set */
	List	   *anc;			/* int: mapped ancestors (Overlap) */
	int		   *anc_first;		/* their first key sets */
	int			excl;			/* the oid[] parameter (Overlap), 0: none */
} GroupMember;

/* what a group statement of collect() is built from */
typedef struct GroupRows
{
	MapSubject *subj;
	GroupMember *members;
	int			nmembers;
	const char *const *json;	/* per table: its row's JSON */
} GroupRows;

/*
 * "SELECT (SELECT privacy._rows(..) FROM t1 t WHERE ..), ..": MapKeptGroupSigned.
 * An overlapping partition adds its ancestors' conditions, evaluated on the
 * partition alone; their ancestor leaves its partitions out (Overlap).
 */
static char *
group_rows_sql(void *arg)
{
	GroupRows  *gr = arg;
	StringInfoData sql;
	int			m;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (m = 0; m < gr->nmembers; m++)
	{
		GroupMember *gm = &gr->members[m];
		MapTable   *mt = list_nth(gr->subj->tables, gm->pos);
		char	   *cond = MapCallConditionAt(gr->subj, mt, "t", gm->first);
		ListCell   *ac;

		if (gm->anc != NIL)
		{
			StringInfoData c;

			initStringInfo(&c);
			appendStringInfo(&c, "((%s)", cond);
			foreach(ac, gm->anc)
			{
				/* the ancestor's condition with every statement on the partition */
				MapTable	as_part = *(MapTable *) list_nth(gr->subj->tables, lfirst_int(ac));

				as_part.qualname = mt->qualname;
				as_part.partitioned = mt->partitioned;
				appendStringInfo(&c, " OR (%s)",
								 MapCallConditionAt(gr->subj, &as_part, "t",
													gm->anc_first[foreach_current_index(ac)]));
			}
			appendStringInfoChar(&c, ')');
			cond = c.data;
		}
		if (gm->excl > 0)
			cond = psprintf("(%s) AND t.tableoid OPERATOR(pg_catalog.<>) ALL ($%d)", cond, gm->excl);
		appendStringInfo(&sql, "%s(SELECT privacy._rows(%s) FROM %s t WHERE %s)",
						 m ? ", " : "", gr->json[gm->pos], mt->qualname, cond);
	}
	return sql.data;
}

/*
 * read_grouped
 *		The rows of every table in one statement per table owner, "SELECT
 *		(SELECT privacy._rows(..) FROM t1 t WHERE <t1's condition>), (..)", run
 *		as that owner (the tables of one owner run under the same identity
 *		one by one as well), over the call's key sets; its plan kept with
 *		the map (one generic plan).  Fills vals (by table position; NULL:
 *		none) for the tables that MapCallBeginReading did not read (done).
 *		ov: the partitions mapped twice (Overlap), or NULL.
 */
static void
read_grouped(MapSubject *subj, MapCall *call, bool export, const bool *done, Jsonb **vals,
			 MemoryContext outer, const Overlap *ov)
{
	List	   *owners = NIL;
	List	   *groups = NIL;	/* List of int (table positions), per owner */
	ListCell   *lc,
			   *gc;
	const char **json = palloc(sizeof(char *) * Max(list_length(subj->tables), 1));

	foreach(lc, subj->tables)
		json[foreach_current_index(lc)] = ov != NULL ? ov->json[foreach_current_index(lc)]
			: table_json(lfirst(lc), export);
	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);
		Oid			owner;
		int			g = -1;

		if (json[foreach_current_index(lc)] == NULL || done[foreach_current_index(lc)])
			continue;
		owner = UtilRelationOwner(mt->relid);
		foreach(gc, owners)
			if (lfirst_oid(gc) == owner)
				g = foreach_current_index(gc);
		if (g < 0)
		{
			owners = lappend_oid(owners, owner);
			groups = lappend(groups, list_make1_int(foreach_current_index(lc)));
		}
		else
			list_nth_cell(groups, g)->ptr_value =
				lappend_int(list_nth(groups, g), foreach_current_index(lc));
	}
	foreach(gc, groups)
	{
		List	   *members = lfirst(gc);
		int			nargs = 1;
		int			cap = 64;
		Oid		   *types = palloc(sizeof(Oid) * cap);
		Datum	   *values = palloc(sizeof(Datum) * cap);
		int			nmembers = list_length(members);
		int			nsig = 0;
		uintptr_t  *sig = palloc(sizeof(uintptr_t) * Max(nmembers, 1));
		GroupMember *gms = palloc0(sizeof(GroupMember) * Max(nmembers, 1));
		int			slot = 6 * foreach_current_index(gc) + (export ? 5 : 4);
		ListCell   *mc;
		PrivacyUserSwitch sw;
		SPIPlanPtr	plan;
		int			ret;

		types[0] = subj->key_type;
		values[0] = call->key;
		foreach(mc, members)
		{
			int			pos = lfirst_int(mc);
			MapTable   *mt = list_nth(subj->tables, pos);
			GroupMember *gm = &gms[foreach_current_index(mc)];
			List	   *anc = ov != NULL ? ov->anc[pos] : NIL;
			bool		excl = ov != NULL && ov->excl[pos] != (Datum) 0;
			ListCell   *ac;

			/* the statement's text: its tables in order, with their roles */
			sig = repalloc(sig, sizeof(uintptr_t) * (nsig + 1 + list_length(anc)));
			sig[nsig++] = MapGroupSig(mt, (anc != NIL ? 1 : 0) | (excl ? 2 : 0));
			gm->pos = pos;
			gm->first = nargs + 1;
			MapCallGroupValues(call, mt, &types, &values, &nargs, &cap);
			gm->anc = anc;
			gm->anc_first = palloc(sizeof(int) * Max(list_length(anc), 1));
			foreach(ac, anc)
			{
				MapTable   *at = list_nth(subj->tables, lfirst_int(ac));

				sig[nsig++] = MapGroupSig(at, 4);
				gm->anc_first[foreach_current_index(ac)] = nargs + 1;
				MapCallGroupValues(call, at, &types, &values, &nargs, &cap);
			}
			if (excl)
			{
				if (nargs + 1 > cap)
				{
					cap = 2 * (nargs + 1);
					types = repalloc(types, sizeof(Oid) * cap);
					values = repalloc(values, sizeof(Datum) * cap);
				}
				types[nargs] = OIDARRAYOID;
				values[nargs++] = ov->excl[pos];
				gm->excl = nargs;
			}
		}
		sw.frame = GuardEnterTableOwner(((MapTable *) list_nth(subj->tables, linitial_int(members)))->relid);
		GuardSetRowSecurityBypass(true);
		PG_TRY();
		{
			/* kept plans of the map entry: 6n + 4 access, 6n + 5 export (map_cache.c) */
			GroupRows	gr = {subj, gms, nmembers, json};

			plan = MapKeptGroupSigned(subj, slot, sig, nsig, nargs, types, group_rows_sql, &gr);
			ret = SPI_execute_plan(plan, values, NULL, true, 1);
		}
		PG_FINALLY();
		{
			GuardSetRowSecurityBypass(false);
		}
		PG_END_TRY();
		GuardLeave(sw.frame);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "map query of %d tables failed: %s", list_length(members), SPI_result_code_string(ret));
		foreach(mc, members)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										  foreach_current_index(mc) + 1, &isnull);

			if (!isnull)
			{
				MemoryContext old = MemoryContextSwitchTo(outer);

				vals[lfirst_int(mc)] = DatumGetJsonbPCopy(d);
				MemoryContextSwitchTo(old);
			}
		}
	}
}

/*
 * rights_common
 *		Shared by access and export: resolve the subject and id, run every
 *		table plan, return the data object and the tables that held rows.
 */
static Jsonb *
collect(MapSubject *subj, Datum key, bool export, Datum *tables_arr)
{
	JsonbPair  *pairs = palloc(sizeof(JsonbPair) * (list_length(subj->tables) + 1));
	Jsonb	   *result;
	ListCell   *lc;
	Datum	   *oids = palloc(sizeof(Datum) * (list_length(subj->tables) + 1));
	int			noids = 0;
	MemoryContext outer = CurrentMemoryContext;
	bool	   *routed = NULL;
	Jsonb	  **routed_rows = NULL;
	Jsonb	  **grouped = NULL;
	int			pos = -1;
	int			jitnest;
	MapCall    *call;
	int			n = list_length(subj->tables);
	bool	   *read = palloc0(sizeof(bool) * Max(n, 1));
	Overlap		ov = {NULL, NULL, false};
	int			ti;

	if (!CitusLoaded())
	{
		/* every key set once; the rows of most tables in the same scans */
		const char **json = palloc0(sizeof(char *) * Max(n, 1));

		UtilSpiConnect();
		foreach(lc, subj->tables)
			json[foreach_current_index(lc)] = table_json(lfirst(lc), export);
		MemoryContextSwitchTo(outer);
		overlap_find(subj, export, &ov);
		/* the partitions mapped twice and their ancestors: read_grouped */
		for (ti = 0; ov.any && ti < n; ti++)
			if (ov.anc[ti] != NIL || ov.excl[ti] != (Datum) 0)
				json[ti] = NULL;
		SPI_finish();
		MemoryContextSwitchTo(outer);
		grouped = palloc0(sizeof(Jsonb *) * Max(n, 1));
		call = MapCallBeginReading(subj, key, export, json, grouped, read, outer);
	}
	else
		call = NULL;			/* Citus: after the routed statement, if needed */

	UtilSpiConnect();
	/* the per-edge map queries are planned with large estimates: no JIT */
	jitnest = MapJitOff();
	if (grouped)
		read_grouped(subj, call, export, read, grouped, outer, ov.any ? &ov : NULL);	/* the others */
	else if (!export)
		routed = read_routed(subj, key, outer, &routed_rows);	/* Citus: one round trip */
	if (call == NULL)
	{
		/*
		 * Citus: the key sets only for tables the routed statement did not
		 * read (every key set, once); none when it read them all, which
		 * saves a round trip per level.
		 */
		bool		need = false;
		bool		left = routed == NULL;
		int			i;

		for (i = 0; i < n; i++)
			if (routed == NULL || !routed[i])
			{
				left = true;
				need |= CitusNeedsKeySets(subj, list_nth(subj->tables, i));
			}
		if (left)
		{
			MemoryContext old = MemoryContextSwitchTo(outer);

			/* only the key when no table left needs a set (a linked table) */
			call = need ? MapCallBegin(subj, key) : CitusKeyOnlyCall(subj, key);
			MemoryContextSwitchTo(old);
		}
	}
	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);
		SPIPlanPtr	plan;
		Jsonb	   *rows;

		pos++;
		if (grouped)
			rows = grouped[pos];
		else if (routed && routed[pos])
			rows = routed_rows[pos];
		else if (export)
		{
			if (mt->plan_export == NULL)
			{
				char	   *expr = export_expr(mt);

				if (expr == NULL)
					continue;
				mt->plan_export = prepare_table_plan(subj, mt, expr);
			}
			plan = mt->plan_export;
			rows = run_table_plan(mt, plan, MapCallArgs(call, mt), outer);
		}
		else
		{
			if (mt->plan_access == NULL)
				mt->plan_access = prepare_table_plan(subj, mt, row_expr(mt));
			plan = mt->plan_access;
			rows = run_table_plan(mt, plan, MapCallArgs(call, mt), outer);
		}
		if (rows == NULL)
			continue;
		/* rows (in outer) are copied into the object as they are, below */
		pairs[noids].key = UtilJsonbString(mt->jsonkey);
		pairs[noids].value = UtilJsonbBinary(rows);
		oids[noids++] = ObjectIdGetDatum(mt->relid);
	}
	MapJitRestore(jitnest);
	SPI_finish();
	if (call)
		MapCallEnd(call);
	result = UtilJsonbObject(pairs, noids);
	*tables_arr = PointerGetDatum(construct_array(oids, noids, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	return result;
}

/*
 * finish_request
 *		Record the completed request and its audit entry.
 */
static void
finish_request(MapSubject *subj, const char *kind, const char *ref, int ntables)
{
	int64		req = AccessRecordRequest(subj, kind, ref, true);
	char		detail[128];

	snprintf(detail, sizeof(detail), "{\"request\":" INT64_FORMAT ",\"tables\":%d}", req, ntables);
	AuditAppend(kind, ref, detail);
}

/* a kept generic plan of sql, prepared on first use into *slot */
static SPIPlanPtr
kept_plan(void **slot, const char *sql, int nargs, Oid *types)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = p;
	}
	return (SPIPlanPtr) *slot;
}

/* the one jsonb object a kept plan returns */
static Jsonb *
facts_object(SPIPlanPtr plan, Datum *values)
{
	int			ret = SPI_execute_plan(plan, values, NULL, true, 1);
	bool		isnull;
	Jsonb	   *facts;

	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not assemble the result: %s", SPI_result_code_string(ret));
	facts = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull || !JB_ROOT_IS_OBJECT(facts))
		elog(ERROR, "could not assemble the result");
	return facts;
}

/*
 * config_facts
 *		The configuration facts for the tables holding rows: from the
 *		subject's cache, else read and cached (in the map entry's context,
 *		freed with it).
 */
static Jsonb *
config_facts(MapSubject *subj, Datum tables)
{
	ArrayType  *a = DatumGetArrayTypeP(tables);
	int			n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	Oid		   *oids = (Oid *) ARR_DATA_PTR(a);
	StringInfoData key;
	ListCell   *lc;
	Oid			types[1] = {OIDARRAYOID};
	Jsonb	   *facts;
	AccessConfigFacts *e;
	int			i;

	initStringInfo(&key);
	for (i = 0; i < n; i++)
		appendStringInfo(&key, "%u,", oids[i]);
	foreach(lc, subj->config_facts)
	{
		e = lfirst(lc);
		if (strcmp(e->tables, key.data) == 0)
			return e->facts;
	}
	facts = facts_object(kept_plan(&subj->plan_config, access_config_sql, 1, types), &tables);
	if (list_length(subj->config_facts) >= ACCESS_CONFIG_FACTS_MAX)
		return facts;
	{
		MemoryContext old = MemoryContextSwitchTo(subj->cxt);

		e = palloc(sizeof(AccessConfigFacts));
		e->tables = pstrdup(key.data);
		e->facts = (Jsonb *) pg_detoast_datum_copy((struct varlena *) facts);
		subj->config_facts = lappend(subj->config_facts, e);
		MemoryContextSwitchTo(old);
	}
	return e->facts;
}

/*
 * assemble
 *		The configuration facts (cached, config_facts) and the person's facts
 *		(a kept generic plan, subj->plan_status), with "data" added, built
 *		in one pass (jsonb sorts an object's keys, so the result is the same
 *		as one jsonb_build_object with every key).  values: $1 the tables
 *		holding rows, $2 subject type, $3 canonical key, $4 subject_ref, $5
 *		id.
 */
static Jsonb *
assemble(MapSubject *subj, Datum *values, Jsonb *data)
{
	MemoryContext outer = CurrentMemoryContext;
	Jsonb	   *config;
	Jsonb	   *person;
	Jsonb	   *result;
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};

	UtilSpiConnect();
	config = config_facts(subj, values[0]);
	person = facts_object(kept_plan(&subj->plan_status, access_person_sql, 4, types), values + 1);
	{
		MemoryContext old = MemoryContextSwitchTo(outer);
		JsonbPair  *pairs = palloc(sizeof(JsonbPair) *
								   (JB_ROOT_COUNT(config) + JB_ROOT_COUNT(person) + 1));
		int			n = 0;

		/* data's arrays are copied as they are, not unpacked (jsonb_build.c) */
		UtilJsonbPairs(config, pairs, &n);
		UtilJsonbPairs(person, pairs, &n);
		pairs[n].key = UtilJsonbString("data");
		pairs[n++].value = UtilJsonbBinary(data);
		result = UtilJsonbObject(pairs, n);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

static int
count_tables(Datum tables)
{
	ArrayType  *a = DatumGetArrayTypeP(tables);

	return ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
}

/*
 * lock_map
 *		The map's tables share-locked before the statements are built
 *		(MapLockTables): a rename or a new foreign key committed while the
 *		call waited is part of what it reads.
 */
static void
lock_map(SubjectArg *a)
{
	MapSubject *now = MapLockTables(a->subj, AccessShareLock);

	if (now != a->subj)
	{
		a->subj = now;
		a->key = MapParseId(now, a->canon, NULL);
	}
}

/*
 * privacy.access(subject text, id text) RETURNS jsonb — GDPR Art. 15.
 */
Datum
privacy_access(PG_FUNCTION_ARGS)
{
	SubjectArg	a = MapSubjectArg(fcinfo, 0, 1);
	Datum		tables;
	Jsonb	   *data;
	Jsonb	   *result;
	Datum		values[5];

	lock_map(&a);
	data = collect(a.subj, a.key, false, &tables);
	values[0] = tables;
	values[1] = CStringGetTextDatum(a.subj->name);
	values[2] = CStringGetTextDatum(a.canon);
	values[3] = CStringGetTextDatum(a.ref);
	values[4] = CStringGetTextDatum(a.canon);
	result = assemble(a.subj, values, data);
	finish_request(a.subj, "access", a.ref, count_tables(tables));
	PG_RETURN_JSONB_P(result);
}

/*
 * privacy.export(subject text, id text) RETURNS jsonb — GDPR Art. 20:
 * portable classified columns only.  The envelope is built in C: the same
 * object as jsonb_build_object('format', 'privacy-export/1', 'subject', ...,
 * 'id', ..., 'exported_at', now(), 'tables', data).
 */
Datum
privacy_export(PG_FUNCTION_ARGS)
{
	SubjectArg	a = MapSubjectArg(fcinfo, 0, 1);
	Datum		tables;
	Jsonb	   *data;
	JsonbPair	pairs[5];
	Jsonb	   *result;

	lock_map(&a);
	data = collect(a.subj, a.key, true, &tables);
	pairs[0].key = UtilJsonbString("format");
	pairs[0].value = UtilJsonbString("privacy-export/1");
	pairs[1].key = UtilJsonbString("subject");
	pairs[1].value = UtilJsonbString(a.subj->name);
	pairs[2].key = UtilJsonbString("id");
	pairs[2].value = UtilJsonbString(a.canon);
	/* now() as jsonb renders it: ISO 8601 in the session's time zone */
	pairs[3].key = UtilJsonbString("exported_at");
	pairs[3].value = UtilJsonbString(JsonEncodeDateTime(NULL,
														TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
														TIMESTAMPTZOID, NULL));
	pairs[4].key = UtilJsonbString("tables");
	pairs[4].value = UtilJsonbBinary(data);
	result = UtilJsonbObject(pairs, 5);
	finish_request(a.subj, "export", a.ref, count_tables(tables));
	PG_RETURN_JSONB_P(result);
}

/*
 * privacy._rows(jsonb) — the aggregate that gathers a table's row objects
 * into the array of access() and export(): the same value as jsonb_agg,
 * but each row's jsonb is kept as it is and copied once into the array
 * (UtilJsonbArray), where jsonb_agg unpacks every row token by token and
 * serializes it again (14 % of a warm access() on a 350-table map).  Not
 * used on Citus tables: a worker would need it for a statement through
 * every shard, and Citus cannot combine it.
 */
typedef struct RowsState
{
	int			n;
	int			cap;
	Jsonb	  **rows;			/* NULL: an SQL NULL (a JSON null, as jsonb_agg) */
} RowsState;

Datum
privacy_rows_step(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	MemoryContext old;
	RowsState  *st;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "privacy._rows_step called in a non-aggregate context");
	old = MemoryContextSwitchTo(aggcxt);
	if (PG_ARGISNULL(0))
	{
		st = palloc(sizeof(RowsState));
		st->n = 0;
		st->cap = 16;
		st->rows = palloc(sizeof(Jsonb *) * st->cap);
	}
	else
		st = (RowsState *) PG_GETARG_POINTER(0);
	if (st->n == st->cap)
	{
		if (st->cap >= (int) (MaxAllocSize / sizeof(Jsonb *) / 2))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many rows for one jsonb array")));
		st->cap *= 2;
		st->rows = repalloc(st->rows, sizeof(Jsonb *) * st->cap);
	}
	st->rows[st->n++] = PG_ARGISNULL(1) ? NULL : DatumGetJsonbPCopy(PG_GETARG_DATUM(1));
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(st);
}

Datum
privacy_rows_final(PG_FUNCTION_ARGS)
{
	RowsState  *st;
	JsonbValue *elems;
	int			i;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "privacy._rows_final called in a non-aggregate context");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();		/* no rows: NULL, as jsonb_agg */
	st = (RowsState *) PG_GETARG_POINTER(0);
	elems = palloc(sizeof(JsonbValue) * Max(st->n, 1));
	for (i = 0; i < st->n; i++)
	{
		if (st->rows[i] == NULL)
			elems[i].type = jbvNull;
		else
			elems[i] = UtilJsonbBinary(st->rows[i]);
	}
	PG_RETURN_JSONB_P(UtilJsonbArray(elems, st->n));
}

/*
 * privacy._row(record) — one row of a table as access() shows it: the value
 * of to_jsonb(t), byte for byte, built with less work.  to_jsonb looks up
 * every column's type on every row, turns integers into text and parses
 * the text back as numeric, and builds a token tree that is serialized
 * again; here each column's way is decided once per statement (kept in
 * fn_extra), integers become numeric directly, text is copied, and the
 * object is written at once (UtilJsonbObject, keys sorted once).  Columns
 * of any other type go through to_jsonb itself, one value at a time, so
 * their JSON is to_jsonb's (domains, arrays, composites, json, casts to
 * json of a type of the owner's, output functions).  Runs in the
 * statement of the table's owner, like to_jsonb; not on Citus tables.
 */
typedef enum RowWay
{
	ROW_DROPPED,
	ROW_INT2,
	ROW_INT4,
	ROW_INT8,
	ROW_TEXT,					/* text, varchar: the string as stored */
	ROW_NUMBER_OUT,				/* float4/8, numeric: printed, then a number
								 * unless the text has an N (NaN, Infinity) */
	ROW_STRING_OUT,				/* any other built-in scalar: printed */
	ROW_BOOL,
	ROW_DATE,
	ROW_TIMESTAMP,
	ROW_TIMESTAMPTZ,
	ROW_OTHER					/* to_jsonb of the value */
} RowWay;

typedef struct RowCol
{
	RowWay		way;
	int			attno;			/* 0-based */
	char	   *key;
	FmgrInfo	fn;				/* ROW_OTHER: to_jsonb; *_OUT: the output
								 * function */
} RowCol;

typedef struct RowPlan
{
	Oid			typid;
	int32		typmod;
	TupleDesc	desc;
	int			ncols;			/* not dropped, sorted as jsonb sorts keys */
	RowCol	   *cols;
	Datum	   *values;
	bool	   *nulls;
	JsonbPair  *pairs;
} RowPlan;

static int
rowcol_cmp(const void *a, const void *b)
{
	const RowCol *x = a;
	const RowCol *y = b;
	int			lx = strlen(x->key);
	int			ly = strlen(y->key);
	int			r;

	if (lx != ly)
		return lx < ly ? -1 : 1;
	r = memcmp(x->key, y->key, lx);
	if (r != 0)
		return r;
	/* equal names (a record's): in column order, the last one is kept */
	return x->attno - y->attno;
}

static RowPlan *
row_plan(FmgrInfo *flinfo, Oid typid, int32 typmod)
{
	MemoryContext old = MemoryContextSwitchTo(flinfo->fn_mcxt);
	TupleDesc	desc = lookup_rowtype_tupdesc(typid, typmod);
	RowPlan    *rp = palloc0(sizeof(RowPlan));
	int			i;
	Oid			base;

	rp->typid = typid;
	rp->typmod = typmod;
	rp->desc = CreateTupleDescCopy(desc);
	ReleaseTupleDesc(desc);
	rp->cols = palloc0(sizeof(RowCol) * Max(rp->desc->natts, 1));
	for (i = 0; i < rp->desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(rp->desc, i);
		RowCol	   *c = &rp->cols[rp->ncols];

		if (att->attisdropped)
			continue;
		c->attno = i;
		c->key = pstrdup(NameStr(att->attname));
		/* to_jsonb's categories (jsonb_categorize_type): domains as their base */
		base = getBaseType(att->atttypid);
		switch (base)
		{
			case INT2OID:
				c->way = ROW_INT2;
				break;
			case INT4OID:
				c->way = ROW_INT4;
				break;
			case INT8OID:
				c->way = ROW_INT8;
				break;
			case TEXTOID:
			case VARCHAROID:
				c->way = ROW_TEXT;
				break;
			case BOOLOID:
				c->way = ROW_BOOL;
				break;
			case DATEOID:
				c->way = ROW_DATE;
				break;
			case TIMESTAMPOID:
				c->way = ROW_TIMESTAMP;
				break;
			case TIMESTAMPTZOID:
				c->way = ROW_TIMESTAMPTZ;
				break;
			case FLOAT4OID:
			case FLOAT8OID:
			case NUMERICOID:
				c->way = ROW_NUMBER_OUT;
				break;
			case JSONOID:
			case JSONBOID:
				c->way = ROW_OTHER;
				break;
			default:
				/*
				 * A built-in scalar type is printed by its output function;
				 * arrays, composites and types of users' (which may have a
				 * cast to json) go through to_jsonb
				 */
				if (base >= FirstNormalObjectId || OidIsValid(get_element_type(base)) ||
					type_is_rowtype(base) || get_typtype(base) == TYPTYPE_PSEUDO)
					c->way = ROW_OTHER;
				else
					c->way = ROW_STRING_OUT;
				break;
		}
		if (c->way == ROW_NUMBER_OUT || c->way == ROW_STRING_OUT)
		{
			Oid			out;
			bool		varlena;

			getTypeOutputInfo(base, &out, &varlena);
			fmgr_info_cxt(out, &c->fn, flinfo->fn_mcxt);
		}
		else if (c->way == ROW_OTHER)
		{
			fmgr_info_cxt(F_TO_JSONB, &c->fn, flinfo->fn_mcxt);
			/* to_jsonb learns the value's type from its call expression */
			c->fn.fn_expr = (Node *) makeFuncExpr(F_TO_JSONB, JSONBOID,
												  list_make1(makeNullConst(att->atttypid, att->atttypmod,
																		   att->attcollation)),
												  InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		}
		rp->ncols++;
	}
	if (rp->ncols > 1)
		qsort(rp->cols, rp->ncols, sizeof(RowCol), rowcol_cmp);
	rp->values = palloc(sizeof(Datum) * Max(rp->desc->natts, 1));
	rp->nulls = palloc(sizeof(bool) * Max(rp->desc->natts, 1));
	rp->pairs = palloc(sizeof(JsonbPair) * Max(rp->ncols, 1));
	MemoryContextSwitchTo(old);
	return rp;
}

Datum
privacy_row(PG_FUNCTION_ARGS)
{
	HeapTupleHeader td = PG_GETARG_HEAPTUPLEHEADER(0);
	Oid			typid = HeapTupleHeaderGetTypeId(td);
	int32		typmod = HeapTupleHeaderGetTypMod(td);
	RowPlan    *rp = fcinfo->flinfo->fn_extra;
	HeapTupleData tuple;
	int			i;

	if (rp == NULL || rp->typid != typid || rp->typmod != typmod)
		fcinfo->flinfo->fn_extra = rp = row_plan(fcinfo->flinfo, typid, typmod);
	tuple.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = td;
	heap_deform_tuple(&tuple, rp->desc, rp->values, rp->nulls);
	for (i = 0; i < rp->ncols; i++)
	{
		RowCol	   *c = &rp->cols[i];
		JsonbValue *v = &rp->pairs[i].value;
		Datum		d = rp->values[c->attno];

		rp->pairs[i].key.type = jbvString;
		rp->pairs[i].key.val.string.val = c->key;
		rp->pairs[i].key.val.string.len = strlen(c->key);
		if (rp->nulls[c->attno])
		{
			v->type = jbvNull;
			continue;
		}
		switch (c->way)
		{
			case ROW_INT2:
				v->type = jbvNumeric;
				v->val.numeric = int64_to_numeric(DatumGetInt16(d));
				break;
			case ROW_INT4:
				v->type = jbvNumeric;
				v->val.numeric = int64_to_numeric(DatumGetInt32(d));
				break;
			case ROW_INT8:
				v->type = jbvNumeric;
				v->val.numeric = int64_to_numeric(DatumGetInt64(d));
				break;
			case ROW_TEXT:
				{
					text	   *t = DatumGetTextPP(d);

					v->type = jbvString;
					v->val.string.val = VARDATA_ANY(t);
					v->val.string.len = VARSIZE_ANY_EXHDR(t);
				}
				break;
			case ROW_BOOL:
				v->type = jbvBool;
				v->val.boolean = DatumGetBool(d);
				break;
			case ROW_DATE:
				*v = UtilJsonbString(JsonEncodeDateTime(NULL, d, DATEOID, NULL));
				break;
			case ROW_TIMESTAMP:
				*v = UtilJsonbString(JsonEncodeDateTime(NULL, d, TIMESTAMPOID, NULL));
				break;
			case ROW_TIMESTAMPTZ:
				*v = UtilJsonbString(JsonEncodeDateTime(NULL, d, TIMESTAMPTZOID, NULL));
				break;
			case ROW_NUMBER_OUT:
				{
					char	   *out = OutputFunctionCall(&c->fn, d);

					if (strchr(out, 'N') != NULL || strchr(out, 'n') != NULL)
						*v = UtilJsonbString(out);
					else
					{
						v->type = jbvNumeric;
						v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(out),
																			 ObjectIdGetDatum(InvalidOid),
																			 Int32GetDatum(-1)));
					}
				}
				break;
			case ROW_STRING_OUT:
				*v = UtilJsonbString(OutputFunctionCall(&c->fn, d));
				break;
			case ROW_OTHER:
				*v = UtilJsonbBinary(DatumGetJsonbP(FunctionCall1Coll(&c->fn, InvalidOid, d)));
				break;
			case ROW_DROPPED:
				elog(ERROR, "dropped column in a row plan");
		}
	}
	PG_RETURN_JSONB_P(UtilJsonbObject(rp->pairs, rp->ncols));
}

/*
 * privacy.receive_request(kind text, subject text, id text,
 *						   received_at timestamptz DEFAULT now()) RETURNS bigint
 *		Log a request when it arrives (the deadline runs from received_at);
 *		the rights call that answers it completes it.
 */
Datum
privacy_receive_request(PG_FUNCTION_ARGS)
{
	char	   *kind = UtilTextArg(fcinfo, 0, "kind");
	SubjectArg	a;
	int64		req;
	Oid			t[2] = {INT8OID, TIMESTAMPTZOID};
	Datum		v[2];
	static const char *kinds[] = {"access", "export", "erase", "restrict", "unrestrict", NULL};
	bool		known = false;

	for (int i = 0; kinds[i]; i++)
		if (strcmp(kinds[i], kind) == 0)
			known = true;
	if (!known)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown request kind \"%s\"", kind),
				 errhint("Use access, export, erase, restrict or unrestrict.")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"received_at\" must not be null")));
	if (PG_GETARG_TIMESTAMPTZ(3) > GetCurrentTransactionStartTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a request cannot be received in the future")));
	if (TIMESTAMP_NOT_FINITE(PG_GETARG_TIMESTAMPTZ(3)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a request must be received at a finite time")));
	a = MapSubjectArg(fcinfo, 1, 2);
	req = AccessRecordRequest(a.subj, kind, a.ref, false);
	/* the deadline runs from the day the request arrived */
	v[0] = Int64GetDatum(req);
	v[1] = PG_GETARG_DATUM(3);
	UtilSpiConnect();
	if (SPI_execute_with_args("UPDATE privacy.request_log SET received_at = $2,"
							  " due_at = $2 + pg_catalog.current_setting('privacy.request_deadline')::interval"
							  " WHERE id = $1", 2, t, v, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not date the request");
	SPI_finish();
	AuditAppend("receive_request", a.ref, psprintf("{\"request\":" INT64_FORMAT ",\"kind\":\"%s\"}", req, kind));
	PG_RETURN_INT64(req);
}
