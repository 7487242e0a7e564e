/*-------------------------------------------------------------------------
 * citus.c
 *		Placement awareness: the data map on a Citus cluster.
 *
 * When Citus is installed in the current database, the map knows each
 * table's kind (hash-distributed, single-shard, reference, Citus local),
 * its distribution column and its colocation group, read from Citus's
 * catalog (pg_dist_partition, pg_dist_local_group) by relation scans, so
 * that the extension neither links to Citus nor needs it installed.
 *
 * What it is used for:
 *	- routed statements: when the root is hash-distributed on its key and
 *	  every hop of a table's path carries the distribution column, the
 *	  table's compiled condition also says "t.<dist col> = key", so access,
 *	  export, erase (check, lock, act) and the hold check are router queries
 *	  to the one shard group that holds the subject (CitusRouteCondition);
 *	- row identity: a ctid is unique only inside one shard's heap (and
 *	  differs between the placements of a reference table), so the map never
 *	  identifies rows of a Citus table by ctid (CitusIsCitusTable), and the
 *	  features that still do refuse such tables (CitusRefuseDistributed);
 *	- atomic erasure: the coordinator's records (receipt, ledger, audit)
 *	  commit with the workers' deletes under two-phase commit
 *	  (CitusUseTwoPhaseCommit);
 *	- the routing column of privacy.subject_tables (privacy__routing) and
 *	  define_subject's warning about tables outside the root's colocation
 *	  group;
 *	- linked distributed tables (CitusCheckLink): link()'s lock trigger runs
 *	  on the shards, and erase takes the subject's advisory lock on the
 *	  worker that holds the key's shard group (CitusLinkLockQuery), inside
 *	  the distributed transaction, before anything is read;
 *	- protect() on distributed tables: the restricted keys and the protected
 *	  tables replicated to every node as reference tables
 *	  (CitusMirrorEnsure), read by the policy function on a shard through
 *	  the node's placements (CitusLocalPlacement, CitusIsShardOf), and
 *	  dropped on every node with the extension
 *	  (privacy__citus_on_drop_extension).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/primnodes.h"
#include "nodes/readfuncs.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/ruleutils.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/rel.h"

#include "citus.h"
#include "guard.h"
#include "privacy.h"

PG_FUNCTION_INFO_V1(privacy_routing);
PG_FUNCTION_INFO_V1(privacy_citus_worker);
PG_FUNCTION_INFO_V1(privacy_quiet);

/*
 * CitusLoaded
 *		Citus is installed in the current database.  An erase asks about ten
 *		times: the answer (an index scan of pg_extension) is kept for the
 *		current command of the current transaction, as the extension owner
 *		is (guard.c): a CREATE or DROP EXTENSION citus, by this transaction
 *		or another, is seen from the next command on.
 */
bool
CitusLoaded(void)
{
	static bool loaded = false;
	static LocalTransactionId lxid = InvalidLocalTransactionId;
	static CommandId cid = InvalidCommandId;

	if (lxid != CompatMyLocalXid() || cid != GetCurrentCommandId(false) ||
		lxid == InvalidLocalTransactionId)
	{
		loaded = OidIsValid(get_extension_oid("citus", true));
		lxid = CompatMyLocalXid();
		cid = GetCurrentCommandId(false);
	}
	return loaded;
}

/* a catalog table of Citus in pg_catalog, or InvalidOid */
static Oid
citus_catalog(const char *name)
{
	return get_relname_relid(name, PG_CATALOG_NAMESPACE);
}

/*
 * CitusIsWorker
 *		This node is a Citus worker (its group is not the coordinator's, 0).
 *		Configuration is made on the coordinator; workers only hold shards.
 */
bool
CitusIsWorker(void)
{
	Oid			relid;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		worker = false;

	if (!CitusLoaded() || !OidIsValid(relid = citus_catalog("pg_dist_local_group")))
		return false;
	rel = table_open(relid, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);

		worker = !isnull && DatumGetInt32(d) != 0;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return worker;
}

/* the attribute of Citus catalog relid called name, or an error */
static AttrNumber
catalog_att(Oid relid, const char *name)
{
	AttrNumber	a = get_attnum(relid, name);

	if (a == InvalidAttrNumber)
		elog(ERROR, "citus catalog column %s not found", name);
	return a;
}

/*
 * The answers of CitusTable, by relation: an erasure asks dozens of times
 * per call (routing of every table and of the tables along its paths), and
 * each answer is a scan of pg_dist_partition.  Citus invalidates a table's
 * relcache entry whenever its row of pg_dist_partition changes (a trigger
 * on that catalog), and the entries of relations that are dropped or whose
 * cache is reset go too: the relcache callback drops the matching answers.
 */
typedef struct CitusCacheEntry
{
	Oid			relid;
	CitusTableInfo info;
} CitusCacheEntry;

static HTAB *citus_cache = NULL;

static void
citus_cache_callback(Datum arg, Oid relid)
{
	if (citus_cache == NULL)
		return;
	if (OidIsValid(relid))
		(void) hash_search(citus_cache, &relid, HASH_REMOVE, NULL);
	else
	{
		HASH_SEQ_STATUS st;
		CitusCacheEntry *e;

		hash_seq_init(&st, citus_cache);
		while ((e = hash_seq_search(&st)) != NULL)
			(void) hash_search(citus_cache, &e->relid, HASH_REMOVE, NULL);
	}
}

static CitusTableInfo citus_table_scan(Oid relid);

/*
 * CitusTable
 *		Kind, distribution column and colocation group of relid, from
 *		pg_dist_partition (cached until the relation's relcache entry is
 *		invalidated).  CITUS_NONE without Citus or for a plain table.
 */
CitusTableInfo
CitusTable(Oid relid)
{
	CitusCacheEntry *e;
	bool		found;
	CitusTableInfo info;

	if (!CitusLoaded())
	{
		CitusTableInfo none = {CITUS_NONE, InvalidAttrNumber, 0};

		return none;
	}
	if (citus_cache == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CitusCacheEntry);
		ctl.hcxt = CacheMemoryContext;
		citus_cache = hash_create("privacy citus tables", 64, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(citus_cache_callback, (Datum) 0);
	}
	{
		/* Citus re-created (DROP and CREATE EXTENSION): nothing holds */
		static Oid	catalog = InvalidOid;
		Oid			now = citus_catalog("pg_dist_partition");

		if (now != catalog)
		{
			citus_cache_callback((Datum) 0, InvalidOid);
			catalog = now;
		}
	}
	e = hash_search(citus_cache, &relid, HASH_FIND, NULL);
	if (e != NULL)
		return e->info;
	/* the scan may process invalidations: enter the answer afterwards */
	info = citus_table_scan(relid);
	e = hash_search(citus_cache, &relid, HASH_ENTER, &found);
	e->info = info;
	return info;
}

/* CitusTable's answer from a scan of pg_dist_partition */
static CitusTableInfo
citus_table_scan(Oid relid)
{
	CitusTableInfo info = {CITUS_NONE, InvalidAttrNumber, 0};
	Oid			catid;
	Relation	rel;
	TupleDesc	desc;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	if (!CitusLoaded() || !OidIsValid(catid = citus_catalog("pg_dist_partition")))
		return info;
	rel = table_open(catid, AccessShareLock);
	desc = RelationGetDescr(rel);
	ScanKeyInit(&key, catalog_att(catid, "logicalrelid"), BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		char		method;
		char		repmodel;
		Datum		d;

		method = DatumGetChar(heap_getattr(tup, catalog_att(catid, "partmethod"), desc, &isnull));
		repmodel = DatumGetChar(heap_getattr(tup, catalog_att(catid, "repmodel"), desc, &isnull));
		d = heap_getattr(tup, catalog_att(catid, "colocationid"), desc, &isnull);
		info.colocation = isnull ? 0 : DatumGetInt32(d);
		if (method == 'h')
		{
			info.kind = CITUS_DISTRIBUTED;
			d = heap_getattr(tup, catalog_att(catid, "partkey"), desc, &isnull);
			if (!isnull)
			{
				Node	   *n = stringToNode(TextDatumGetCString(d));

				if (n && IsA(n, Var))
					info.distcol = ((Var *) n)->varattno;
			}
		}
		else if (repmodel == 't')
			info.kind = CITUS_REFERENCE;
		else if (info.colocation == 0)
			info.kind = CITUS_LOCAL;
		else
			info.kind = CITUS_SINGLE_SHARD;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return info;
}

/*
 * CitusIsCitusTable
 *		relid has shards or placements on other nodes, so that its ctid does
 *		not identify a row (every kind but plain and Citus local tables).
 */
bool
CitusIsCitusTable(Oid relid)
{
	CitusKind	k = CitusTable(relid).kind;

	return k == CITUS_DISTRIBUTED || k == CITUS_SINGLE_SHARD || k == CITUS_REFERENCE;
}

/*
 * routed_col
 *		The column of mt that holds the subject's key in every row of the
 *		subject, or InvalidAttrNumber.  The map is per edge (each path of a
 *		MapTable is one foreign key or link; the root's is NIL): mt routes
 *		when it is hash-distributed in the root's colocation group and every
 *		one of its edges carries its distribution column to the routed
 *		column of the table it references (a link: holds the key itself).
 *		Self-references and cycles are consistent when they map the
 *		distribution column onto itself.
 */
static AttrNumber
routed_col(MapSubject *subj, MapTable *mt, CitusTableInfo *root, List *visiting)
{
	CitusTableInfo self;
	ListCell   *lc;

	if (mt->relid == subj->root)
		return root->distcol;
	self = CitusTable(mt->relid);
	if (self.kind != CITUS_DISTRIBUTED || self.distcol == InvalidAttrNumber ||
		self.colocation != root->colocation || mt->paths == NIL || mt->outbound)
		return InvalidAttrNumber;
	visiting = lappend_oid(list_copy(visiting), mt->relid);
	foreach(lc, mt->paths)
	{
		List	   *edge = lfirst(lc);
		MapHop	   *h;
		MapTable   *up;
		AttrNumber	pcol;
		int			i;

		if (edge == NIL)
			return InvalidAttrNumber;
		h = linitial(edge);
		if (h->rel != mt->relid)
			return InvalidAttrNumber;
		if (h->link)
		{
			/* the link column holds the key itself, of the key's type */
			if (h->cols[0] != self.distcol || get_atttype(h->rel, h->cols[0]) != subj->key_type)
				return InvalidAttrNumber;
			continue;
		}
		for (i = 0; i < h->ncols; i++)
			if (h->cols[i] == self.distcol)
				break;
		if (i == h->ncols)
			return InvalidAttrNumber;
		if (list_member_oid(visiting, h->prel))
		{
			/* a self-reference or a cycle: the column must map onto itself */
			CitusTableInfo p = CitusTable(h->prel);

			if (p.distcol != h->pcols[i])
				return InvalidAttrNumber;
			continue;
		}
		up = MapFindTable(subj, h->prel);
		if (up == NULL)
			return InvalidAttrNumber;
		pcol = routed_col(subj, up, root, visiting);
		if (pcol == InvalidAttrNumber || pcol != h->pcols[i])
			return InvalidAttrNumber;
	}
	return self.distcol;
}

/*
 * routed_column
 *		The distribution column of mt when every row of the subject in mt
 *		has <column> = key (routed_col), with the root hash-distributed on
 *		its key: then the condition may say so.  InvalidAttrNumber
 *		otherwise.
 */
static AttrNumber
routed_column(MapSubject *subj, MapTable *mt)
{
	CitusTableInfo root = CitusTable(subj->root);

	if (root.kind != CITUS_DISTRIBUTED || root.distcol != subj->key_attnum || mt->outbound)
		return InvalidAttrNumber;
	return routed_col(subj, mt, &root, NIL);
}

/*
 * CitusRouted
 *		Every row of the subject in mt holds the key in mt's distribution
 *		column (and every path carries it there): such a row reaches no
 *		other subject, and statements over it are router queries.
 */
bool
CitusRouted(MapSubject *subj, MapTable *mt)
{
	return CitusLoaded() && routed_column(subj, mt) != InvalidAttrNumber;
}

/*
 * direct_key
 *		One of mt's paths is a single foreign key from its distribution
 *		column to the root's key ("t.<col> = key").
 */
static bool
direct_key(MapSubject *subj, MapTable *mt, AttrNumber col)
{
	ListCell   *lc;

	foreach(lc, mt->paths)
	{
		List	   *path = lfirst(lc);
		MapHop	   *h;

		if (list_length(path) != 1)
			continue;
		h = linitial(path);
		if (!h->link && h->prel == subj->root && h->ncols == 1 &&
			h->cols[0] == col && h->pcols[0] == subj->key_attnum)
			return true;
	}
	return false;
}

/*
 * CitusRouteCondition
 *		cond (MapCondition's text for row alias of mt), with
 *		"alias.<distribution column> = keyexpr" in front when the rows of mt
 *		that belong to the subject all live in the shard group of its key
 *		(or instead of it, when that equality alone is equivalent): Citus
 *		then plans every statement over mt as a router query.  Without
 *		Citus, or when the table does not route, cond unchanged.
 */
char *
CitusRouteCondition(MapSubject *subj, MapTable *mt, const char *alias,
					const char *keyexpr, char *cond)
{
	AttrNumber	col;
	char	   *name;

	if (!CitusLoaded())
		return cond;
	col = routed_column(subj, mt);
	if (col == InvalidAttrNumber || mt->relid == subj->root)
		return CitusMark(mt->relid, cond);
	name = get_attname(mt->relid, col, false);

	/*
	 * With a direct path (t.<col> = key), the condition is exactly that: a
	 * row reached by any other path has <col> = key too (routed_column),
	 * and every row with <col> = key is reached by the direct path: a
	 * router statement for Citus (no subquery, the column once).
	 */
	if (direct_key(subj, mt, col))
		return CitusMark(mt->relid, psprintf("%s.%s OPERATOR(pg_catalog.=) (%s)", alias,
											 quote_identifier(name), keyexpr));
	return CitusMark(mt->relid, psprintf("(%s.%s OPERATOR(pg_catalog.=) (%s) AND %s)", alias,
										 quote_identifier(name), keyexpr, cond));
}

/*
 * CitusMark
 *		cond, marked as the extension's when relid is a Citus table:
 *		"(privacy._quiet() AND cond)".  The planner folds the mark away;
 *		Citus keeps it in the text it sends, where the worker's log hook
 *		finds it (guard.c: no statement, parameters or others' details of
 *		ours in the worker's log).  Equivalent to cond, negated too.
 */
char *
CitusMark(Oid relid, char *cond)
{
	if (!CitusLoaded() || !CitusIsCitusTable(relid))
		return cond;
	return psprintf("(" PRIVACY_CITUS_MARK " AND %s)", cond);
}

/*
 * CitusFansOut
 *		A statement over relid is a multi-shard query: a hash-distributed
 *		table whose rows of the subject are not all in the key's shard group
 *		(not mapped, or not routed).  Without Citus, false.
 */
bool
CitusFansOut(MapSubject *subj, Oid relid)
{
	MapTable   *mt;

	if (!CitusLoaded() || CitusTable(relid).kind != CITUS_DISTRIBUTED)
		return false;
	mt = subj ? MapFindTable(subj, relid) : NULL;
	return mt == NULL || routed_column(subj, mt) == InvalidAttrNumber;
}

/*
 * CitusPrivateParams
 *		sql (a statement over relid with nargs parameters of these types),
 *		with every parameter out of the text Citus sends to the workers.
 *
 *		Citus plans a multi-shard query by replacing its bound parameters
 *		with constants (ResolveExternalParams), so the subject's key and
 *		the key sets would stand in each shard's statement text (the
 *		workers' pg_stat_activity and logs).  A router query keeps them as
 *		parameters and is returned unchanged, as every statement is without
 *		Citus.  Otherwise each $n becomes "(WITH privacy_p AS MATERIALIZED
 *		(SELECT $n AS v) SELECT privacy_p.v FROM privacy_p)::<type>": Citus
 *		plans the CTE on the coordinator and ships its one row to the
 *		workers as COPY data (an intermediate result), which the shard
 *		statements read by name.  The cast keeps "= ANY (...)" an array
 *		comparison.  Quoted literals and identifiers, and identifiers
 *		containing "$", are copied as they are.
 */
char *
CitusPrivateParams(MapSubject *subj, Oid relid, const char *sql, int nargs, const Oid *types)
{
	StringInfoData out;
	const char *s;
	char		quote = 0;

	if (!CitusFansOut(subj, relid))
		return (char *) sql;
	initStringInfo(&out);
	for (s = sql; *s; s++)
	{
		char		prev = s > sql ? s[-1] : ' ';

		if (quote)
		{
			if (*s == quote)
				quote = 0;		/* a doubled quote reopens on the next char */
		}
		else if (*s == '\'' || *s == '"')
			quote = *s;
		else if (*s == '$' && isdigit((unsigned char) s[1]) &&
				 !(isalnum((unsigned char) prev) || prev == '_' || prev == '$' || IS_HIGHBIT_SET(prev)))
		{
			const char *d = s + 1;
			int			n = 0;

			while (isdigit((unsigned char) *d) && n < 100000)
				n = n * 10 + (*d++ - '0');
			if (n >= 1 && n <= nargs)
			{
				appendStringInfo(&out, "(WITH privacy_p AS MATERIALIZED (SELECT $%d AS v)"
								 " SELECT privacy_p.v FROM privacy_p)::%s",
								 n, format_type_be_qualified(types[n - 1]));
				s = d - 1;
				continue;
			}
		}
		appendStringInfoChar(&out, *s);
	}
	return out.data;
}

/*
 * CitusRouting
 *		The routing of a mapped table: "one shard", "all shards",
 *		"reference" or "local"; NULL without Citus.
 */
const char *
CitusRouting(MapSubject *subj, MapTable *mt)
{
	CitusTableInfo info;

	if (!CitusLoaded())
		return NULL;
	info = CitusTable(mt->relid);
	switch (info.kind)
	{
		case CITUS_REFERENCE:
			return "reference";
		case CITUS_SINGLE_SHARD:
			return "one shard";
		case CITUS_DISTRIBUTED:
			return routed_column(subj, mt) != InvalidAttrNumber ? "one shard" : "all shards";
		default:
			return "local";
	}
}

/*
 * privacy._routing(subject text, tbl regclass) RETURNS text — the routing
 * column of privacy.subject_tables.
 */
Datum
privacy_routing(PG_FUNCTION_ARGS)
{
	MapSubject *subj;
	MapTable   *mt;
	const char *r;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || !CitusLoaded())
		PG_RETURN_NULL();
	subj = MapGetSubject(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	mt = MapFindTable(subj, PG_GETARG_OID(1));
	if (mt == NULL || (r = CitusRouting(subj, mt)) == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(r));
}

/*
 * privacy._quiet() RETURNS boolean — true: the mark of the extension's
 * statements on Citus tables (CitusMark).
 */
Datum
privacy_quiet(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(true);
}

/*
 * privacy._citus_worker() RETURNS boolean — this node is a Citus worker
 * (the DDL event triggers do nothing there).
 */
Datum
privacy_citus_worker(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(CitusIsWorker());
}

/*
 * CitusRefuseDistributed
 *		0A000 when relid is a distributed or reference table: what (a
 *		function name) identifies rows by ctid or installs triggers, which
 *		are wrong on shards and placements.
 */
void
CitusRefuseDistributed(Oid relid, const char *what)
{
	CitusTableInfo info = CitusTable(relid);

	if (info.kind == CITUS_DISTRIBUTED || info.kind == CITUS_SINGLE_SHARD ||
		info.kind == CITUS_REFERENCE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s does not support %s table \"%s\"", what,
						info.kind == CITUS_REFERENCE ? "Citus reference" : "Citus distributed",
						get_rel_name(relid)),
				 errdetail("Its rows live in shards on other nodes, where row identities and triggers of the coordinator do not apply."),
				 errhint("Keep the table local to the coordinator for this feature, or see \"Scale-out with Citus\" in the README for what works on distributed tables.")));
}

/*
 * CitusRefuseRowIdentity
 *		0A000 for the erasure of rows that a subject's rows reference in a
 *		Citus table that is not a reference table with a primary key (or a
 *		replica identity index): a ctid is not unique across shards and
 *		placements, and a distributed table's rows could be found only
 *		through every shard.
 */
void
CitusRefuseRowIdentity(Oid relid, const char *what)
{
	CitusKind	k = CitusTable(relid).kind;

	if (k == CITUS_REFERENCE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s of referenced Citus reference table \"%s\" needs a primary key", what, get_rel_name(relid)),
				 errdetail("Rows that a subject's rows reference are identified by their primary key (or replica identity index) on Citus; a ctid differs between the placements of a reference table."),
				 errhint("Add a primary key to the table, or declassify its columns so that it leaves the map.")));
	if (k != CITUS_NONE && k != CITUS_LOCAL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s of referenced Citus table \"%s\" is not supported", what, get_rel_name(relid)),
				 errdetail("Rows that a subject's rows reference are found on Citus only in reference tables; a distributed table's would have to be searched through every shard."),
				 errhint("Make the table a reference table, keep it local to the coordinator, or declassify its columns so that it leaves the map.")));
}

/*
 * CitusWarnColocation
 *		WARNING for each distributed table of the map that is not in the
 *		root's colocation group (or whose root is not distributed), or does
 *		not carry the distribution column to the root: rights calls reach it
 *		through every shard.
 */
void
CitusWarnColocation(MapSubject *subj)
{
	CitusTableInfo root;
	ListCell   *lc;

	if (subj == NULL || !CitusLoaded())
		return;
	root = CitusTable(subj->root);
	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);
		CitusTableInfo info;

		if (mt->relid == subj->root)
			continue;
		info = CitusTable(mt->relid);
		if (info.kind != CITUS_DISTRIBUTED)
			continue;
		if (root.kind != CITUS_DISTRIBUTED || info.colocation != root.colocation)
			ereport(WARNING,
					(errmsg("table \"%s\" is not colocated with \"%s\", the root of subject type \"%s\"",
							get_rel_name(mt->relid), get_rel_name(subj->root), subj->name),
					 errdetail("Rights calls for this subject type query every shard of the table."),
					 errhint("Distribute it by the subject's key with colocate_with => '%s'.",
							 get_rel_name(subj->root))));
		else if (routed_column(subj, mt) == InvalidAttrNumber)
			ereport(WARNING,
					(errmsg("table \"%s\" does not reach \"%s\" through its distribution column",
							get_rel_name(mt->relid), get_rel_name(subj->root)),
					 errdetail("Rights calls for subject type \"%s\" query every shard of the table.", subj->name),
					 errhint("Include the distribution column in the foreign keys of the table's path to the root.")));
	}
}

/*
 * CitusUseTwoPhaseCommit
 *		When this transaction has written through Citus connections, commit
 *		it with two-phase commit even if only one worker was written: the
 *		coordinator's records then commit with the workers' changes (Citus
 *		resolves the prepared transactions from its commit record).  Citus's
 *		functions are looked up in its already loaded library; no link.
 */
void
CitusUseTwoPhaseCommit(void)
{
	bool		(*in_coordinated) (void);
	void		(*use_2pc) (void);

	if (!CitusLoaded())
		return;
	in_coordinated = (bool (*) (void)) load_external_function("citus", "InCoordinatedTransaction", false, NULL);
	use_2pc = (void (*) (void)) load_external_function("citus", "Use2PCForCoordinatedTransaction", false, NULL);
	if (in_coordinated == NULL || use_2pc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("this version of Citus cannot commit an erasure with two-phase commit"),
				 errhint("Use the Citus version named in the README.")));
	if (in_coordinated())
		use_2pc();
}

/*
 * CitusNeedsKeySets
 *		mt's per-call condition (MapCallCondition) takes key sets of other
 *		tables besides the key ($1): access on Citus then reads the key
 *		sets (MapCallBegin, a round trip per level to the workers) for the
 *		tables its routed statement did not read; a table linked by the key
 *		itself needs none.
 */
bool
CitusNeedsKeySets(MapSubject *subj, MapTable *mt)
{
	(void) MapCallCondition(subj, mt);
	return mt->call_nargs > 1;
}

/*
 * CitusKeyOnlyCall
 *		A call without key sets, for tables whose condition takes the key
 *		only (CitusNeedsKeySets false): MapCallArgs gives them the key, and
 *		nothing is read on the workers.  Ended by MapCallEnd.
 */
MapCall *
CitusKeyOnlyCall(MapSubject *subj, Datum key)
{
	MapCall    *call = palloc0(sizeof(MapCall));

	call->subj = subj;
	call->key = key;
	call->sets = palloc0(sizeof(Datum *) * Max(list_length(subj->tables), 1));
	return call;
}

/*
 * CitusCheckOwners
 *		0A000 before an erasure sends anything, when a distributed table of
 *		the map in the root's colocation group has another owner than the
 *		root.  Every statement of an erasure runs as its table's owner
 *		(guard.c), and once a transaction has changed a shard group's
 *		placements (the root row lock is the first such change) Citus lets
 *		no other role use them ("cannot perform query on placements that
 *		were modified in this transaction by a different user").
 */
void
CitusCheckOwners(MapSubject *subj)
{
	CitusTableInfo root;
	Oid			owner;
	ListCell   *lc;

	if (!CitusLoaded())
		return;
	root = CitusTable(subj->root);
	if (root.kind != CITUS_DISTRIBUTED)
		return;
	owner = UtilRelationOwner(subj->root);
	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);
		CitusTableInfo info;

		if (mt->relid == subj->root)
			continue;
		info = CitusTable(mt->relid);
		if (info.kind == CITUS_DISTRIBUTED && info.colocation == root.colocation &&
			UtilRelationOwner(mt->relid) != owner)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("erasure on Citus needs the tables colocated with \"%s\" to have its owner",
							get_rel_name(subj->root)),
					 errdetail("Table \"%s\" has another owner; each statement of an erasure runs as its table's owner, and Citus lets only one role use a shard group that the transaction has changed.",
							   get_rel_name(mt->relid)),
					 errhint("Give the tables of subject type \"%s\" that are colocated with its root one owner (ALTER TABLE ... OWNER TO).",
							 subj->name)));
	}
}

/*
 * CitusCheckLink
 *		Whether link()'s race guard can work for relid linked by column att:
 *		false for a table local to this node (the trigger and erase's lock
 *		are both here), true for a hash-distributed table colocated with the
 *		root, which is distributed by its key, when att is the distribution
 *		column: every row of a key then lives in the shard group of the key,
 *		on the worker that erase's routed lock reaches (CitusLinkLockQuery),
 *		where Citus runs the trigger of each shard.  0A000 for every other
 *		Citus table (reference and single-shard tables, other colocation
 *		groups, other columns): its rows would be written on nodes where
 *		erase takes no lock.  what names the caller in the message.
 */
bool
CitusCheckLink(MapSubject *subj, Oid relid, AttrNumber att, const char *what)
{
	CitusTableInfo info;
	CitusTableInfo root;

	if (!CitusLoaded())
		return false;
	info = CitusTable(relid);
	if (info.kind == CITUS_NONE || info.kind == CITUS_LOCAL)
		return false;
	if (info.kind != CITUS_DISTRIBUTED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s does not support %s table \"%s\"", what,
						info.kind == CITUS_REFERENCE ? "Citus reference" : "Citus single-shard",
						get_rel_name(relid)),
				 errdetail("Its rows are written on nodes where an erasure of subject type \"%s\" takes no lock.",
						   subj->name),
				 errhint("Distribute the table by the link column with colocate_with => '%s', or keep it local to the coordinator.",
						 get_rel_name(subj->root))));
	root = CitusTable(subj->root);
	if (root.kind != CITUS_DISTRIBUTED || root.distcol != subj->key_attnum ||
		info.colocation != root.colocation || info.distcol != att)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s supports Citus distributed table \"%s\" only by its distribution column, colocated with \"%s\"",
						what, get_rel_name(relid), get_rel_name(subj->root)),
				 errdetail("An erasure of subject type \"%s\" locks the key on the node of the root's shard group; rows of this table can be written on other nodes.",
						   subj->name),
				 errhint("Distribute the root by its key and the table by the link column with colocate_with => '%s', or keep the table local to the coordinator.",
						 get_rel_name(subj->root))));
	return true;
}

/*
 * CitusAllowTriggers / CitusAllowTriggersEnd
 *		Run the statements in between with citus.enable_unsafe_triggers on
 *		(a GUC nest level, like a function's SET clause; unwound by an error
 *		too): Citus refuses CREATE and DROP TRIGGER on distributed tables
 *		otherwise.  It copies a table's triggers to new shards (moves,
 *		splits, rebalancing) without asking for the setting.
 */
int
CitusAllowTriggers(void)
{
	return UtilGucPush("citus.enable_unsafe_triggers", "on");
}

void
CitusAllowTriggersEnd(int nest)
{
	UtilGucPop(nest);
}

/*
 * CitusSequentialBegin / CitusSequentialEnd
 *		citus.multi_shard_modify_mode = 'sequential' for the statements in
 *		between: a multi-shard read of a distributed table that references
 *		a reference table, after which the reference table is changed in
 *		the same transaction (Citus refuses that after a parallel access).
 *		-1 and a no-op without Citus.
 */
int
CitusSequentialBegin(void)
{
	if (!CitusLoaded())
		return -1;
	return UtilGucPush("citus.multi_shard_modify_mode", "sequential");
}

void
CitusSequentialEnd(int nest)
{
	if (nest >= 0)
		UtilGucPop(nest);
}

/*
 * CitusLinkLockQuery
 *		The statement that takes the advisory lock of link()'s trigger
 *		exclusively ($1 the key, of the key's type; $2 the subject type's
 *		name) on the node that holds the key's shard group: a router query
 *		on the root (distributed by its key, CitusCheckLink) that yields one
 *		row whether the root row exists or not (an aggregate), so that Citus
 *		sends the whole statement, the lock with it, to that node, in the
 *		distributed transaction.  The lock's key is the trigger's: the
 *		subject type and the text of the link column's value, whose type is
 *		the key's (colocated tables share the distribution column's type).
 *		Runs as the root's owner.
 */
char *
CitusLinkLockQuery(MapSubject *subj)
{
	Oid			typid;
	int32		typmod;
	Oid			coll;

	get_atttypetypmodcoll(subj->root, subj->key_attnum, &typid, &typmod, &coll);

	/* the key in the collation of the key column, which colocated tables share */
	return psprintf("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext($2 COLLATE \"C\"),"
					" privacy._link_key_hash($1%s%s))"
					" FROM (SELECT pg_catalog.count(*) FROM %s t WHERE %s) s",
					OidIsValid(coll) ? " COLLATE " : "", OidIsValid(coll) ? generate_collation_name(coll) : "",
					UtilQualifiedName(subj->root),
					CitusMark(subj->root, psprintf("t.%s %s $1",
												   quote_identifier(subj->key_column), subj->key_eq)));
}

/*
 * protect() on distributed tables.  The policy of a protected distributed
 * table is evaluated on the shards, by privacy._restricted() on the node
 * that holds the shard; what it needs there, the restricted keys and the
 * protected tables, is kept in two tables of the extension that protect()
 * makes Citus reference tables (sql/06_citus.sql).
 */

/* the relation of privacy.<name>, or InvalidOid */
static Oid
privacy_relid(const char *name)
{
	Oid			nsp = get_namespace_oid("privacy", true);

	return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
}

/*
 * CitusMirrorActive
 *		The restricted keys are replicated to every node (protect() has
 *		protected a distributed table): restrict() and unrestrict() write
 *		them there too.
 */
bool
CitusMirrorActive(void)
{
	Oid			r;

	if (!CitusLoaded())
		return false;
	r = privacy_relid("citus_restrictions");
	return OidIsValid(r) && CitusTable(r).kind == CITUS_REFERENCE;
}

/*
 * CitusMirrorEnsure
 *		Make privacy.citus_restrictions (filled with every restriction) and
 *		privacy.citus_protected Citus reference tables, once.  As the
 *		extension owner, SPI connected.
 */
void
CitusMirrorEnsure(void)
{
	int			nest;

	if (CitusMirrorActive())
		return;
	nest = UtilGucPush("client_min_messages", "warning");
	if (SPI_execute("DELETE FROM privacy.citus_restrictions", false, 0) != SPI_OK_DELETE ||
		SPI_execute("INSERT INTO privacy.citus_restrictions (subject, subject_key)"
					" SELECT r.subject, r.subject_key FROM privacy.restrictions r", false, 0) != SPI_OK_INSERT ||
		SPI_execute("DELETE FROM privacy.citus_protected", false, 0) != SPI_OK_DELETE ||
		SPI_execute("SELECT pg_catalog.create_reference_table('privacy.citus_restrictions'),"
					" pg_catalog.create_reference_table('privacy.citus_protected')", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not replicate the restrictions to the Citus nodes");
	UtilGucPop(nest);
}

/*
 * CitusLocalPlacement
 *		The relation of this node's placement of the reference table
 *		privacy.<name>, or InvalidOid (none here).  SPI connected, as the
 *		extension owner.
 */
Oid
CitusLocalPlacement(const char *name)
{
	/* kept per backend (a placement of each of the two tables) while valid */
	static Oid	cached[2] = {InvalidOid, InvalidOid};
	int			slot = strcmp(name, "citus_restrictions") == 0 ? 0 : 1;
	Oid			r = privacy_relid(name);
	Oid			t[1] = {OIDOID};
	Datum		v[1];
	bool		isnull;
	Datum		d;
	char	   *have;

	if (!OidIsValid(r) || CitusTable(r).kind != CITUS_REFERENCE)
		return InvalidOid;
	/* still a relation of that table's in the schema (a placement's name is <name>_<shard>) */
	if (OidIsValid(cached[slot]) && (have = get_rel_name(cached[slot])) != NULL &&
		get_rel_namespace(cached[slot]) == get_rel_namespace(r) &&
		strncmp(have, name, strlen(name)) == 0 && have[strlen(name)] == '_')
		return cached[slot];
	v[0] = ObjectIdGetDatum(r);
	if (SPI_execute_with_args("SELECT pg_catalog.to_regclass(pg_catalog.shard_name(s.logicalrelid, s.shardid))::pg_catalog.oid"
							  " FROM pg_catalog.pg_dist_shard s WHERE s.logicalrelid OPERATOR(pg_catalog.=) $1",
							  1, t, v, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "placement lookup failed");
	if (SPI_processed == 0)
		return InvalidOid;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	cached[slot] = isnull ? InvalidOid : DatumGetObjectId(d);
	return cached[slot];
}

typedef struct ShardCacheEntry
{
	Oid			part;			/* the shard's relation (key) */
	NameData	name;			/* its name when cached */
	Oid			logical;		/* its table in pg_dist_shard */
} ShardCacheEntry;

static HTAB *shard_cache = NULL;

/*
 * CitusIsShardOf
 *		part is, on this node, a shard of the distributed table tbl or of
 *		one of its partitions: its name ends in the number of a shard whose
 *		table (pg_dist_shard) is tbl or a partition of tbl, Citus names that
 *		shard so, in that table's schema, and the shard has that table's
 *		owner.  SPI connected.
 */
bool
CitusIsShardOf(Oid part, Oid tbl)
{
	char	   *name = get_rel_name(part);
	char	   *us;
	char	   *end;
	int64		shardid;
	Oid			t[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		v[3];
	Oid			logical;
	bool		isnull;

	if (name == NULL || CitusTable(tbl).kind != CITUS_DISTRIBUTED ||
		(us = strrchr(name, '_')) == NULL || us[1] == '\0')
		return false;
	/* the table of a shard, kept per backend: shard numbers are never reused */
	if (shard_cache == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ShardCacheEntry);
		ctl.hcxt = CacheMemoryContext;
		shard_cache = hash_create("privacy citus shards", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	{
		ShardCacheEntry *c = hash_search(shard_cache, &part, HASH_FIND, NULL);

		if (c != NULL && strcmp(NameStr(c->name), name) == 0)
		{
			logical = c->logical;
			goto check;
		}
	}
	errno = 0;
	shardid = strtoll(us + 1, &end, 10);
	if (*end != '\0' || errno != 0 || shardid <= 0)
		return false;
	/* shard_name() qualifies the name unless the schema is public */
	v[0] = Int64GetDatum(shardid);
	v[1] = CStringGetTextDatum(quote_identifier(name));
	v[2] = CStringGetTextDatum(quote_qualified_identifier(get_namespace_name(get_rel_namespace(part)), name));
	if (SPI_execute_with_args("SELECT s.logicalrelid::pg_catalog.oid FROM pg_catalog.pg_dist_shard s"
							  " WHERE s.shardid OPERATOR(pg_catalog.=) $1"
							  " AND pg_catalog.shard_name(s.logicalrelid, $1) OPERATOR(pg_catalog.=) ANY (ARRAY[$2, $3])",
							  3, t, v, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "shard lookup failed");
	if (SPI_processed != 1)
		return false;
	logical = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		return false;
	{
		ShardCacheEntry *c = hash_search(shard_cache, &part, HASH_ENTER, NULL);

		namestrcpy(&c->name, name);
		c->logical = logical;
	}
check:
	if (get_rel_namespace(part) != get_rel_namespace(logical) ||
		UtilRelationOwner(part) != UtilRelationOwner(logical))
		return false;
	return logical == tbl ||
		(get_rel_relispartition(logical) && list_member_oid(get_partition_ancestors(logical), tbl));
}

/*
 * flush_pending_drops
 *		Tables dropped earlier in this transaction wait for its commit in
 *		deferred triggers on two of the extension's tables (a table created
 *		again under the name keeps its configuration: sql/10_map.sql,
 *		sql/06_citus.sql); a table with pending trigger events cannot be
 *		dropped, so DROP EXTENSION in that transaction failed.  Decide them
 *		now.
 */
static void
flush_pending_drops(void)
{
	StringInfoData sql;

	initStringInfo(&sql);
	if (OidIsValid(privacy_relid("dropped_config")))
		appendStringInfoString(&sql, "privacy.dropped_config_restore");
	if (OidIsValid(privacy_relid("pending_drops")))
		appendStringInfo(&sql, "%sprivacy.pending_drops_resolve", sql.len > 0 ? ", " : "");
	if (sql.len == 0)
		return;
	UtilSpiConnect();
	if (SPI_execute(psprintf("SET CONSTRAINTS %s IMMEDIATE", sql.data), false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not decide the pending drops");
	SPI_finish();
}

/*
 * privacy._citus_on_drop_extension() RETURNS event_trigger
 *		ddl_command_start of DROP EXTENSION: when privacy is dropped, the
 *		drops this transaction made wait no longer (flush_pending_drops);
 *		with Citus, the shards of its two reference tables (the restricted
 *		keys on every node) are dropped first, on every node.  Citus leaves
 *		them behind otherwise: its drop trigger forgets an extension's
 *		distributed tables without dropping their placements.
 */
PG_FUNCTION_INFO_V1(privacy_citus_on_drop_extension);

Datum
privacy_citus_on_drop_extension(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	DropStmt   *stmt;
	ListCell   *lc;
	bool		ours = false;
	int			frame;
	static const char *const tables[] = {"citus_restrictions", "citus_protected"};

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy._citus_on_drop_extension() can only be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!IsA(trigdata->parsetree, DropStmt))
		PG_RETURN_NULL();
	stmt = (DropStmt *) trigdata->parsetree;
	if (stmt->removeType != OBJECT_EXTENSION)
		PG_RETURN_NULL();
	foreach(lc, stmt->objects)
	{
		if (IsA(lfirst(lc), String) && strcmp(strVal(lfirst(lc)), "privacy") == 0)
			ours = true;
	}
	if (!ours)
		PG_RETURN_NULL();
	flush_pending_drops();
	if (!CitusLoaded() || CitusIsWorker())
		PG_RETURN_NULL();
	frame = GuardEnterExtensionOwner();
	UtilSpiConnect();
	for (int i = 0; i < lengthof(tables); i++)
	{
		Oid			r = privacy_relid(tables[i]);
		Oid			t[2] = {OIDOID, TEXTOID};
		Datum		v[2];

		if (!OidIsValid(r) || CitusTable(r).kind != CITUS_REFERENCE)
			continue;
		v[0] = ObjectIdGetDatum(r);
		v[1] = CStringGetTextDatum(tables[i]);
		if (SPI_execute_with_args("SELECT pg_catalog.citus_drop_all_shards($1, 'privacy', $2, false)",
								  2, t, v, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not drop the shards of the restrictions");
	}
	SPI_finish();
	GuardLeave(frame);
	PG_RETURN_NULL();
}
