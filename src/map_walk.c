/*-------------------------------------------------------------------------
 * map_walk.c
 *		The walk over the foreign-key graph: computing a subject type's map
 *		into privacy.map (MapRefresh), the foreign keys into a table
 *		(MapForeignKeysInto) and JIT off for internal catalog queries.
 *
 * define_subject / link / refresh_subject (and the DDL event trigger) walk
 * pg_constraint from the root: inbound foreign keys at any depth (children,
 * grandchildren...), from the root and from linked tables, plus outbound
 * foreign keys from mapped rows into tables that hold classified columns.
 * Partitions collapse to their partitioned parent (foreign keys declared on
 * partitions count).  Every foreign key into a mapped table is an edge of
 * the map (no cap on edges or paths: a table's subject rows are found per
 * edge, see map_compile.c).  The result goes to privacy.map as
 * (table oid, attnum) hops, so renames do not invalidate it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/partition.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_partitioned_table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "map.h"
#include "privacy.h"

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
	Oid			decl;			/* a partition the key is declared on, or 0 */
	AttrNumber	dcols[32];		/* its columns there */
	Oid			pdecl;			/* the table the key references, as declared */
	List	   *acton;			/* a key of some leaves only: those leaves */
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
	char	   *qname;			/* memo: schema-qualified name */
	char	   *ptext;			/* memo: text of the shortest path */
} WalkEntry;

/*
 * MapJitOff / MapJitRestore
 *		Run the statements in between with jit = off (a GUC nest level,
 *		like a function's SET clause; unwound by an error too).
 */
int
MapJitOff(void)
{
	return UtilGucPush("jit", "off");
}

void
MapJitRestore(int nest)
{
	UtilGucPop(nest);
}

/* the topmost partitioned parent of relid (relid when not a partition) */
Oid
MapPartitionRoot(Oid relid)
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
 * The inheritance graph of one walk: every row of pg_inherits read by one
 * scan into memory (child -> its parent, parent -> its children), and the
 * partitioned tables by one scan of pg_partitioned_table (a table is
 * partitioned exactly when it has a row there; a child is a partition
 * exactly when its parent is partitioned), so that the walk finds a
 * partition's root and a table's leaves without a catalog lookup per
 * partition: a scan of pg_inherits per partition key dominated a refresh on
 * 2,500 partitions, and in a new session (a deploy's migration) every
 * pg_class lookup is a cold catalog read.  Built by load_fk_graph; without
 * it (NULL: the erasure's foreign keys into one table) the catalog is read
 * as before.
 */
typedef struct InhEntry
{
	Oid			relid;
	Oid			parent;			/* as get_partition_parent: the parent of
								 * inhseqno 1 unless its detach is pending;
								 * or 0 */
	List	   *children;		/* sorted by OID, as find_inheritance_children */
	bool		partitioned;	/* relkind RELKIND_PARTITIONED_TABLE */
} InhEntry;

/* the entry of relid, created empty when new */
static InhEntry *
inh_entry(HTAB *h, Oid relid)
{
	bool		found;
	InhEntry   *e = hash_search(h, &relid, HASH_ENTER, &found);

	if (!found)
	{
		e->parent = InvalidOid;
		e->children = NIL;
		e->partitioned = false;
	}
	return e;
}

static HTAB *
inheritance_graph(void)
{
	HASHCTL		ctl;
	HTAB	   *h;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	HASH_SEQ_STATUS hs;
	InhEntry   *e;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(InhEntry);
	ctl.hcxt = CurrentMemoryContext;
	h = hash_create("privacy inheritance graph", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	rel = table_open(InheritsRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_inherits inh = (Form_pg_inherits) GETSTRUCT(tup);

		e = inh_entry(h, inh->inhrelid);
		if (inh->inhseqno == 1 && !inh->inhdetachpending)
			e->parent = inh->inhparent;
		e = inh_entry(h, inh->inhparent);
		e->children = lappend_oid(e->children, inh->inhrelid);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	rel = table_open(PartitionedRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		inh_entry(h, ((Form_pg_partitioned_table) GETSTRUCT(tup))->partrelid)->partitioned = true;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	hash_seq_init(&hs, h);
	while ((e = hash_seq_search(&hs)) != NULL)
		list_sort(e->children, list_oid_cmp);
	return h;
}

/*
 * graph_root
 *		MapPartitionRoot, from the inheritance graph: a table that is no
 *		child is its own root; a partition's ancestors are partitions up to
 *		a partitioned table that is no child.
 */
static Oid
graph_root(HTAB *inh, Oid relid)
{
	InhEntry   *e = hash_search(inh, &relid, HASH_FIND, NULL);
	Oid			up;

	if (e == NULL || !OidIsValid(e->parent))
		return relid;
	up = e->parent;
	e = hash_search(inh, &up, HASH_FIND, NULL);
	if (e == NULL || !e->partitioned)
		return relid;			/* an inheritance child, not a partition */
	while (OidIsValid(e->parent))
	{
		up = e->parent;
		e = hash_search(inh, &up, HASH_FIND, NULL);
	}
	return up;
}

/* find_all_inheritors(relid), from the inheritance graph when there is one */
static List *
all_inheritors(HTAB *inh, Oid relid)
{
	List	   *out;
	ListCell   *lc;

	if (inh == NULL)
		return find_all_inheritors(relid, NoLock, NULL);
	out = list_make1_oid(relid);
	foreach(lc, out)
	{
		Oid			x = lfirst_oid(lc);
		InhEntry   *e = hash_search(inh, &x, HASH_FIND, NULL);

		if (e != NULL)
			out = list_concat_unique_oid(out, e->children);
	}
	return out;
}

/* the leaf partitions (tables) under relid, relid itself when it is one */
static List *
leaves_of(HTAB *inh, Oid relid)
{
	List	   *out = NIL;
	ListCell   *lc;

	foreach(lc, all_inheritors(inh, relid))
	{
		Oid			x = lfirst_oid(lc);
		InhEntry   *e = inh ? hash_search(inh, &x, HASH_FIND, NULL) : NULL;

		if (inh ? (e == NULL || !e->partitioned) : get_rel_relkind(x) != RELKIND_PARTITIONED_TABLE)
			out = lappend_oid(out, x);
	}
	return out;
}

/*
 * leaf_has_key_on
 *		Whether the leaf partition has a foreign key (its own or inherited)
 *		on exactly the columns COLS of ROOT (by name, in any order).  Read
 *		from the catalog, not from the caller's list: the erasure's
 *		reference check passes only the keys into one table.
 */
static bool
leaf_has_key_on(Oid leaf, Oid root, const AttrNumber *cols, int n)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	ScanKeyData key;
	bool		found = false;

	rel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(leaf));
	scan = systable_beginscan(rel, ConstraintRelidTypidNameIndexId, true, NULL, 1, &key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);
		AttrNumber	k[32];
		bool		isnull;
		Datum		d;
		int			m,
					i,
					j;

		if (con->contype != CONSTRAINT_FOREIGN)
			continue;
		d = heap_getattr(tup, Anum_pg_constraint_conkey, RelationGetDescr(rel), &isnull);
		if (isnull || (m = MapInt2Array(d, k)) != n)
			continue;
		if (!translate_cols(leaf, root, k, m))
			continue;
		found = true;
		for (i = 0; i < n && found; i++)
		{
			bool		hit = false;

			for (j = 0; j < m; j++)
				if (k[j] == cols[i])
					hit = true;
			found = hit;
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * same_pairs
 *		Whether two keys pair the same columns with the same referenced
 *		columns, in any order: (x, y) -> (a, b) on one partition and
 *		(y, x) -> (b, a) on another are one key.
 */
static bool
same_pairs(const FkEdge *f, const FkEdge *g)
{
	int			i,
				j;

	for (i = 0; i < f->ncols; i++)
	{
		for (j = 0; j < g->ncols; j++)
			if (g->ccols[j] == f->ccols[i] && g->pcols[j] == f->pcols[i])
				break;
		if (j == g->ncols)
			return false;
	}
	return true;
}

/*
 * partition_keys
 *		Foreign keys declared on partitions (not inherited from their
 *		parent): when the same key (columns by name, referenced table, and
 *		action) is declared on some leaves of the partitioned table and no
 *		other leaf has a key of its own on those columns, it is the table's
 *		key (one edge, as if declared on it: partitions created one by one
 *		with their keys, Pagila's payment whose last monthly partition has
 *		none, a partition added later without it).  When another leaf keys
 *		the same columns otherwise (notes of users in one partition, of
 *		agents in another; another action), each stays on its partition,
 *		which is then mapped by itself, since the key says nothing of its
 *		siblings' rows.  INH: the inheritance graph of the walk, or NULL
 *		(read from the catalog).
 */
static List *
partition_keys(List *partfks, HTAB *inh)
{
	List	   *out = NIL;
	ListCell   *lc;
	bool	   *done = palloc0(sizeof(bool) * Max(list_length(partfks), 1));

	foreach(lc, partfks)
	{
		FkEdge	   *f = lfirst(lc);
		int			i = foreach_current_index(lc);
		List	   *covered = NIL;
		List	   *group = NIL;
		List	   *all;
		ListCell   *lc2;
		bool		whole = OidIsValid(f->child);

		if (done[i])
			continue;
		for_each_from(lc2, partfks, i)
		{
			FkEdge	   *g = lfirst(lc2);

			if (done[foreach_current_index(lc2)] || g->child != f->child || g->parent != f->parent ||
				g->ncols != f->ncols || g->deltype != f->deltype || !same_pairs(f, g))
				continue;
			done[foreach_current_index(lc2)] = true;
			group = lappend(group, g);
			covered = list_concat_unique_oid(covered, leaves_of(inh, g->decl));
		}
		if (whole)
		{
			bool		some = false;

			all = leaves_of(inh, f->child);
			foreach(lc2, all)
			{
				if (list_member_oid(covered, lfirst_oid(lc2)))
					continue;
				some = true;
				if (leaf_has_key_on(lfirst_oid(lc2), f->child, f->ccols, f->ncols))
					whole = false;
			}
			/* the key's ON DELETE action applies to the keyed leaves only */
			if (some)
				f->acton = covered;
		}
		if (whole)
		{
			f->decl = InvalidOid;
			out = lappend(out, f);
			continue;
		}
		foreach(lc2, group)
		{
			FkEdge	   *g = lfirst(lc2);

			g->child = g->decl;
			memcpy(g->ccols, g->dcols, sizeof(g->ccols));
			g->decl = InvalidOid;
			out = lappend(out, g);
		}
	}
	return out;
}

/*
 * load_fk_graph
 *		The whole foreign-key graph: every foreign key between permanent
 *		tables, referenced partitions collapsed to their topmost parent,
 *		column numbers translated to that parent by name (the referencing
 *		side is the table the key is declared on).  One scan of pg_constraint (no
 *		query to plan: a large catalog would otherwise dominate the DDL's
 *		added cost) and one of pg_inherits; a temporary table is known by
 *		its constraint's namespace (a foreign key of a temporary table can
 *		only reference temporary tables, and the reverse).
 */
static List *
load_fk_graph(void)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *fks = NIL;
	List	   *partfks = NIL;
	HTAB	   *inh = inheritance_graph();
	Oid			last_ns = InvalidOid;
	bool		last_temp = false;

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
		if (con->connamespace != last_ns)
		{
			last_ns = con->connamespace;
			last_temp = isAnyTempNamespace(last_ns);
		}
		if (last_temp)
			continue;
		f = palloc0(sizeof(FkEdge));
		d = heap_getattr(tup, Anum_pg_constraint_conkey, RelationGetDescr(rel), &isnull);
		if (isnull)
			continue;
		n1 = MapInt2Array(d, f->ccols);
		d = heap_getattr(tup, Anum_pg_constraint_confkey, RelationGetDescr(rel), &isnull);
		if (isnull)
			continue;
		n2 = MapInt2Array(d, f->pcols);
		if (n1 != n2 || n1 == 0)
			continue;
		f->ncols = n1;
		f->child = graph_root(inh, con->conrelid);
		f->parent = graph_root(inh, con->confrelid);
		f->pdecl = con->confrelid;
		if (!translate_cols(con->confrelid, f->parent, f->pcols, n1))
			continue;			/* a column could not be translated */
		f->deltype = con->confdeltype;
		f->conname = con->conname;
		if (f->child != con->conrelid)
		{
			/* declared on a partition: decided below */
			f->decl = con->conrelid;
			memcpy(f->dcols, f->ccols, sizeof(f->dcols));
			if (!translate_cols(con->conrelid, f->child, f->ccols, n1))
				f->child = InvalidOid;	/* kept on the partition only */
			partfks = lappend(partfks, f);
			continue;
		}
		fks = lappend(fks, f);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	fks = list_concat(fks, partition_keys(partfks, inh));
	hash_destroy(inh);
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
		elog(ERROR, "classification lookup failed: %s", SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		oids = lappend_oid(oids, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																SPI_tuptable->tupdesc, 1, &isnull)));
	}
	return oids;
}

/*
 * Foreign keys into tables, partitions collapsed to their topmost parent
 * and column numbers translated to that parent by name; TARGET is the SQL
 * of the (collapsed) referenced table a key is reported for.  decl and
 * dcols: the table the key is declared on and its columns there (a key
 * declared on a partition is kept on it unless the same key covers every
 * leaf: partition_keys).
 */
#define FK_INBOUND_COLS(target) \
" SELECT " target " AS target, coalesce(pg_catalog.pg_partition_root(c.conrelid), c.conrelid) AS other," \
"  ARRAY(SELECT ra.attnum FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(n, o)" \
"   JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid AND a.attnum OPERATOR(pg_catalog.=) k.n" \
"   JOIN pg_catalog.pg_attribute ra" \
"    ON ra.attrelid OPERATOR(pg_catalog.=) coalesce(pg_catalog.pg_partition_root(c.conrelid), c.conrelid)" \
"    AND ra.attname OPERATOR(pg_catalog.=) a.attname ORDER BY k.o) AS ocols," \
"  ARRAY(SELECT ra.attnum FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY k(n, o)" \
"   JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.confrelid AND a.attnum OPERATOR(pg_catalog.=) k.n" \
"   JOIN pg_catalog.pg_attribute ra ON ra.attrelid OPERATOR(pg_catalog.=) " target \
"    AND ra.attname OPERATOR(pg_catalog.=) a.attname ORDER BY k.o) AS mcols," \
"  c.conname, c.confdeltype, c.conrelid AS decl, c.conkey::pg_catalog.int2[] AS dcols," \
"  c.confrelid AS pdecl" \
" FROM pg_catalog.pg_constraint c"
#define FK_INBOUND_WHERE \
" WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.conparentid OPERATOR(pg_catalog.=) 0" \
"  AND (SELECT k.relpersistence FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) c.conrelid)" \
"  OPERATOR(pg_catalog.<>) 't'"

/* $1 = one table (a partition tree's root, or any table) */
static const char *fk_inbound_sql =
"SELECT r.target, r.other, r.ocols, r.mcols, r.confdeltype, r.decl, r.dcols, r.pdecl FROM ("
FK_INBOUND_COLS("$1")
FK_INBOUND_WHERE
"  AND (c.confrelid OPERATOR(pg_catalog.=) $1"
"   OR c.confrelid IN (SELECT t.relid FROM pg_catalog.pg_partition_tree($1) t)"
/* a partition (mapped by itself): keys into its partitioned ancestors */
"   OR c.confrelid IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors($1) a))"
") r ORDER BY r.other, r.conname";

/* $1 = several tables, each the root of its partition tree (mapped tables) */
static const char *fk_inbound_many_sql =
"WITH pa AS (SELECT p.p AS part, a.relid AS anc FROM pg_catalog.unnest($1) p(p),"
"  pg_catalog.pg_partition_ancestors(p.p) a"
"  UNION SELECT p.p, t.relid FROM pg_catalog.unnest($1) p(p), pg_catalog.pg_partition_tree(p.p) t)"
"SELECT r.target, r.other, r.ocols, r.mcols, r.confdeltype, r.decl, r.dcols, r.pdecl FROM ("
FK_INBOUND_COLS("x.target")
" CROSS JOIN LATERAL (SELECT coalesce(pg_catalog.pg_partition_root(c.confrelid), c.confrelid) AS target"
/* a partition (mapped by itself): keys into it, its partitions, its ancestors */
"  UNION SELECT pa.part FROM pa WHERE pa.anc OPERATOR(pg_catalog.=) c.confrelid) x"
FK_INBOUND_WHERE
"  AND x.target OPERATOR(pg_catalog.=) ANY ($1)"
") r ORDER BY r.target, r.other, r.conname";

static SPIPlanPtr fk_inbound_plan = NULL;
static SPIPlanPtr fk_inbound_many_plan = NULL;

/*
 * fk_inbound_run
 *		Run one of the queries above (kept: an erasure's first call asks for
 *		every mapped table), SPI connected, JIT off.
 */
static void
fk_inbound_run(SPIPlanPtr *plan, const char *sql, Oid argtype, Datum arg)
{
	int			ret;

	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare_cursor(sql, 1, &argtype, CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare the foreign key lookup: %s", SPI_result_code_string(SPI_result));
		*plan = p;
	}
	ret = SPI_execute_plan(*plan, &arg, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "foreign key lookup failed: %s", SPI_result_code_string(ret));
}

/*
 * fk_inbound_edges
 *		The result as foreign key edges (child = the referencing table,
 *		parent = the referenced one), the keys declared on partitions
 *		decided by partition_keys; a key whose columns could not be
 *		translated is left out.
 */
static List *
fk_inbound_edges(void)
{
	TupleDesc	td = SPI_tuptable->tupdesc;
	List	   *out = NIL;
	List	   *partfks = NIL;
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		FkEdge	   *f = palloc0(sizeof(FkEdge));
		int			n1,
					n2,
					n3;

		f->parent = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
		f->child = DatumGetObjectId(SPI_getbinval(tup, td, 2, &isnull));
		n1 = MapInt2Array(SPI_getbinval(tup, td, 3, &isnull), f->ccols);
		n2 = MapInt2Array(SPI_getbinval(tup, td, 4, &isnull), f->pcols);
		f->deltype = DatumGetChar(SPI_getbinval(tup, td, 5, &isnull));
		f->decl = DatumGetObjectId(SPI_getbinval(tup, td, 6, &isnull));
		n3 = MapInt2Array(SPI_getbinval(tup, td, 7, &isnull), f->dcols);
		f->pdecl = DatumGetObjectId(SPI_getbinval(tup, td, 8, &isnull));
		if (n2 == 0 || n3 != n2)
			continue;
		f->ncols = n2;
		if (f->decl == f->child)
		{
			f->decl = InvalidOid;
			if (n1 == n2)
				out = lappend(out, f);
			continue;
		}
		if (n1 != n2)
			f->child = InvalidOid;	/* kept on the partition only */
		partfks = lappend(partfks, f);
	}
	return list_concat(out, partition_keys(partfks, NULL));
}

static bool unique_on(Oid rel, const AttrNumber *cols, int n);

/*
 * MapHopParentLeaves
 *		" AND alias.tableoid = ANY ('{..}')": the rows of h->prel (alias)
 *		that h's key can reference, when it is declared into one partition
 *		by columns that are not unique on h->prel (h->pleaves); else "".
 */
static char *
leaves_cond(const char *alias, const Oid *leaves, int n)
{
	StringInfoData b;
	int			i;

	if (n == 0)
		return "";
	initStringInfo(&b);
	appendStringInfo(&b, " AND %s.tableoid OPERATOR(pg_catalog.=) ANY ('{", alias);
	for (i = 0; i < n; i++)
		appendStringInfo(&b, "%s%u", i ? "," : "", leaves[i]);
	appendStringInfoString(&b, "}'::pg_catalog.oid[])");
	return b.data;
}

char *
MapHopParentLeaves(MapHop *h, const char *alias)
{
	return leaves_cond(alias, h->pleaves, h->npleaves);
}

/*
 * MapHopRelLeaves
 *		The same for the rel side of an outbound map hop into one partition
 *		(h->rpart): the rows of h->rel (alias) the key can reference.
 */
char *
MapHopRelLeaves(MapHop *h, const char *alias)
{
	return leaves_cond(alias, h->rleaves, h->nrleaves);
}

/*
 * an edge as an inbound hop into its parent, allocated in cxt; referenced:
 * a key declared into one partition of the parent by columns not unique on
 * the parent records that partition's leaves (pleaves)
 */
static MapHop *
fk_inbound_hop(FkEdge *f, MemoryContext cxt, bool referenced)
{
	MapHop	   *h = MemoryContextAllocZero(cxt, sizeof(MapHop));

	h->rel = f->child;
	h->prel = f->parent;
	h->ncols = f->ncols;
	memcpy(h->cols, f->ccols, sizeof(h->cols));
	memcpy(h->pcols, f->pcols, sizeof(h->pcols));
	h->deltype = f->deltype;
	if (f->acton != NIL)
	{
		ListCell   *lc;

		h->nacton = list_length(f->acton);
		h->acton = MemoryContextAlloc(cxt, sizeof(Oid) * h->nacton);
		foreach(lc, f->acton)
			h->acton[foreach_current_index(lc)] = lfirst_oid(lc);
	}
	if (referenced && OidIsValid(f->pdecl) && f->pdecl != f->parent &&
		get_rel_relispartition(f->pdecl) &&
		list_member_oid(get_partition_ancestors(f->pdecl), f->parent) &&
		!unique_on(f->parent, f->pcols, f->ncols))
	{
		List	   *leaves = leaves_of(NULL, f->pdecl);
		ListCell   *lc;

		h->npleaves = list_length(leaves);
		h->pleaves = MemoryContextAlloc(cxt, sizeof(Oid) * Max(h->npleaves, 1));
		foreach(lc, leaves)
			h->pleaves[foreach_current_index(lc)] = lfirst_oid(lc);
		if (h->npleaves == 0)
		{
			/* a partitioned partition without leaves: no row */
			h->npleaves = 1;
			h->pleaves[0] = InvalidOid;
		}
	}
	return h;
}

/*
 * MapForeignKeysInto
 *		Every foreign key into relid, partitions collapsed, with its ON
 *		DELETE action, as inbound hops (rel = the referencing table);
 *		allocated in the caller's context.
 */
List *
MapForeignKeysInto(Oid relid)
{
	ListCell   *lc;
	List	   *result = NIL;
	MemoryContext outer = CurrentMemoryContext;
	int			nest;

	UtilSpiConnect();
	nest = MapJitOff();
	fk_inbound_run(&fk_inbound_plan, fk_inbound_sql, OIDOID, ObjectIdGetDatum(relid));
	foreach(lc, fk_inbound_edges())
	{
		MapHop	   *h = fk_inbound_hop(lfirst(lc), outer, true);
		MemoryContext old = MemoryContextSwitchTo(outer);

		h->prel = relid;
		result = lappend(result, h);
		MemoryContextSwitchTo(old);
	}
	MapJitRestore(nest);
	SPI_finish();
	return result;
}

/*
 * MapForeignKeysIntoAll
 *		MapForeignKeysInto for every table of subj whose list is not loaded
 *		yet (mt->fks_in, in the map entry's context), in one catalog query
 *		instead of one per table: an erasure's first call in a session.
 */
void
MapForeignKeysIntoAll(MapSubject *subj)
{
	Datum	   *oids;
	int			n = 0;
	int			nest;
	ListCell   *lc;
	ListCell   *ec;

	oids = palloc(sizeof(Datum) * Max(list_length(subj->tables), 1));
	foreach(lc, subj->tables)
		if (!((MapTable *) lfirst(lc))->fks_loaded)
			oids[n++] = ObjectIdGetDatum(((MapTable *) lfirst(lc))->relid);
	if (n == 0)
		return;
	UtilSpiConnect();
	nest = MapJitOff();
	fk_inbound_run(&fk_inbound_many_plan, fk_inbound_many_sql, OIDARRAYOID,
				   PointerGetDatum(construct_array(oids, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT)));
	foreach(ec, fk_inbound_edges())
	{
		FkEdge	   *f = lfirst(ec);
		MapTable   *mt = MapFindTable(subj, f->parent);
		MapHop	   *h;

		if (mt == NULL || mt->fks_loaded)
			continue;
		h = fk_inbound_hop(f, GetMemoryChunkContext(mt), true);
		{
			MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(mt));

			mt->fks_in = lappend(mt->fks_in, h);
			MemoryContextSwitchTo(old);
		}
	}
	MapJitRestore(nest);
	SPI_finish();
	foreach(lc, subj->tables)
		((MapTable *) lfirst(lc))->fks_loaded = true;
}

static HTAB *walk_entries = NULL;

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
	return a->rel == b->rel && a->prel == b->prel && a->link == b->link && a->tlink == b->tlink &&
		a->ncols == b->ncols &&
		a->rpart == b->rpart &&
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
 * unique_on
 *		Whether a unique index of rel (no expression, no predicate) has all
 *		its key columns among cols: then rows of rel are told apart by cols.
 */
static bool
unique_on(Oid rel, const AttrNumber *cols, int n)
{
	Relation	r = table_open(rel, AccessShareLock);
	List	   *idx = RelationGetIndexList(r);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, idx)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index ix;
		int			i,
					j;
		bool		all = true;

		if (!HeapTupleIsValid(tup))
			continue;
		ix = (Form_pg_index) GETSTRUCT(tup);
		if (ix->indisunique && heap_attisnull(tup, Anum_pg_index_indexprs, NULL) &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL))
		{
			for (i = 0; i < ix->indnkeyatts && all; i++)
			{
				bool		hit = false;

				for (j = 0; j < n; j++)
					if (cols[j] == ix->indkey.values[i])
						hit = true;
				all = hit;
			}
			if (all)
				found = true;
		}
		ReleaseSysCache(tup);
		if (found)
			break;
	}
	list_free(idx);
	table_close(r, AccessShareLock);
	return found;
}

/*
 * A partition mapped as part of its table: a foreign key references it (a
 * leaf or a partitioned partition) by columns that are unique in it but not
 * on its mapped partitioned ancestor (GitLab's ci_runner_projects (runner_id)
 * -> project_type_ci_runners (id), ci_runners' key being (id, runner_type)).
 * Joined to the ancestor by those columns, a row pointing at the runner 7 of
 * one partition would be taken as the subject's of the runner 7 of another.
 * So the partition is mapped by itself, with its ancestor's edges (its rows
 * are the subject's exactly when they are as rows of the ancestor), and the
 * key joins the partition: its rows are then listed and erased once, under
 * the partition (as a partition mapped by a key of its own, 18b), with the
 * ancestor's classification (map_cache.c).
 */
typedef struct DerivedPart
{
	Oid			part;
	Oid			from;			/* the mapped ancestor whose edges it takes */
} DerivedPart;

/* h, a hop of table from, as a hop of its partition part; NULL when a
 * column is missing there */
static MapHop *
hop_of_partition(MapHop *h, Oid from, Oid part)
{
	MapHop	   *t = palloc(sizeof(MapHop));

	*t = *h;
	t->rel = part;
	if (!translate_cols(from, part, t->cols, t->ncols))
		return NULL;
	if (t->tcol != InvalidAttrNumber && !translate_cols(from, part, &t->tcol, 1))
		return NULL;
	t->nacton = 0;				/* inbound map hops carry no action */
	t->acton = NULL;
	t->npleaves = 0;
	t->pleaves = NULL;
	return t;
}

/* the edges of entry from, translated to the derived entry of part */
static bool
derive_edges(List **entries, WalkEntry *from, Oid part)
{
	ListCell   *lc;
	bool		any = false;

	foreach(lc, list_copy(from->edges))
	{
		MapHop	   *t = hop_of_partition(lfirst(lc), from->relid, part);

		if (t == NULL)
			return false;
		add_edge(entries, t, "fk", false, from->depth);
		any = true;
	}
	return any;
}

/*
 * derive_partition
 *		Map partition part as part of the mapped table x (see DerivedPart);
 *		false when it cannot be (an outbound entry, a column missing).
 */
static bool
derive_partition(List **entries, List **derived, WalkEntry *x, Oid part)
{
	WalkEntry  *e = find_entry(*entries, part);
	ListCell   *lc;
	DerivedPart *d;

	foreach(lc, *derived)
		if (((DerivedPart *) lfirst(lc))->part == part)
			return true;
	if ((e && e->outbound) || x->edges == NIL)
		return false;
	if (!derive_edges(entries, x, part))
		return false;
	d = palloc(sizeof(DerivedPart));
	d->part = part;
	d->from = x->relid;
	*derived = lappend(*derived, d);
	return true;
}

/* whether part is mapped as part of a mapped ancestor (DerivedPart) */
static bool
is_derived(List *derived, Oid part)
{
	ListCell   *lc;

	foreach(lc, derived)
		if (((DerivedPart *) lfirst(lc))->part == part)
			return true;
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
	HTAB	   *byparent = MapOidHash("privacy map edges by parent");
	HTAB	   *bychild = MapOidHash("privacy map edges by child");
	List	   *derived = NIL;	/* DerivedPart * */

	foreach(fc, fks)
	{
		FkEdge	   *f = lfirst(fc);

		index_edge(byparent, f->parent, f);
		index_edge(bychild, f->child, f);
	}
	walk_entries = MapOidHash("privacy map walk");
	root = palloc0(sizeof(WalkEntry));
	root->relid = subj->root;
	root->via = "root";
	entries = lappend(entries, root);
	{
		OidEntry   *he = hash_search(walk_entries, &root->relid, HASH_ENTER, NULL);

		he->ptr = root;
	}
	foreach(lc, links)
		if (!((MapHop *) lfirst(lc))->tlink)
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
			if (f->pdecl != x->relid && OidIsValid(f->pdecl) &&
				!unique_on(x->relid, f->pcols, f->ncols))
			{
				/* the key joins its partition, mapped as part of x */
				if (x->relid != subj->root && derive_partition(&entries, &derived, x, f->pdecl))
					continue;
				ereport(WARNING,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("foreign key \"%s\" of table %s references partition %s by columns that are not unique on %s",
								NameStr(f->conname), UtilQualifiedName(f->child), UtilQualifiedName(f->pdecl),
								UtilQualifiedName(x->relid)),
						 errdetail("Its rows are matched with the rows of every partition that have the same key values: access and erase can take a row that points at another partition's row of another subject."),
						 errhint("Reference the partitioned table by unique columns (the partition key included), or make the referenced columns unique on the partitioned table.")));
			}
			h = fk_inbound_hop(f, CurrentMemoryContext, false);
			add_edge(&entries, h, "fk", false, x->depth + 1);
		}

		/*
		 * links to x (link(..., target)): edges of the shape of a foreign
		 * key into x, which no constraint declares
		 */
		foreach(fc, links)
		{
			MapHop	   *h = lfirst(fc);
			WalkEntry  *e;

			if (!h->tlink || h->prel != x->relid || h->rel == subj->root)
				continue;
			e = find_entry(entries, h->rel);
			if (e && e->outbound)
				continue;
			add_edge(&entries, h, "link", false, x->depth + 1);
		}

		/*
		 * A partition mapped by itself (a foreign key of its own to the
		 * subject): a key into its partitioned table also points at its
		 * rows, so the referencing rows of those rows are the subject's
		 * too (attachments of a user's notes, where the notes' key to the
		 * users is declared on the users' partition only).  The graph
		 * knows such a key as one into the partition root: followed here
		 * into the partition, its columns translated by name.
		 */
		if (x->via != NULL && strcmp(x->via, "root") != 0 && get_rel_relispartition(x->relid))
		{
			Oid			top = MapPartitionRoot(x->relid);
			List	   *above = get_partition_ancestors(x->relid);

			foreach(fc, edges_of(byparent, top))
			{
				FkEdge	   *f = lfirst(fc);
				MapHop	   *h;
				WalkEntry  *e;

				if (f->child == subj->root || f->child == x->relid || f->child == top)
					continue;

				/*
				 * only keys into the partition itself, its own partitions
				 * or its ancestors: a key into a sibling partition points
				 * at other rows
				 */
				if (f->pdecl != x->relid && !list_member_oid(above, f->pdecl) &&
					!list_member_oid(get_partition_ancestors(f->pdecl), x->relid))
					continue;

				/*
				 * a partition mapped as part of its ancestor: a key into a
				 * mapped ancestor is an edge of that ancestor already
				 */
				if (f->pdecl != x->relid && list_member_oid(above, f->pdecl) &&
					is_derived(derived, x->relid) && find_entry(entries, f->pdecl) != NULL)
					continue;
				e = find_entry(entries, f->child);
				if (e && e->outbound)
					continue;
				h = fk_inbound_hop(f, CurrentMemoryContext, false);
				h->prel = x->relid;
				if (!translate_cols(top, x->relid, h->pcols, h->ncols))
					continue;
				/* a key into a partition of x by columns not unique on x */
				if (f->pdecl != x->relid && !list_member_oid(above, f->pdecl) &&
					!unique_on(x->relid, h->pcols, h->ncols) &&
					derive_partition(&entries, &derived, x, f->pdecl))
					continue;
				add_edge(&entries, h, "fk", false, x->depth + 1);
			}
		}
	}

	/*
	 * the partitions mapped as part of an ancestor take the edges it gained
	 * after them (in the order they were derived: a partition of a derived
	 * partition after it)
	 */
	foreach(lc, derived)
	{
		DerivedPart *d = lfirst(lc);

		(void) derive_edges(&entries, find_entry(entries, d->from), d->part);
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
				/* a key into one partition by columns not unique on the table */
				if (OidIsValid(f->pdecl) && f->pdecl != f->parent &&
					list_member_oid(get_partition_ancestors(f->pdecl), f->parent) &&
					!unique_on(f->parent, f->pcols, f->ncols))
					h->rpart = f->pdecl;
				add_edge(&entries, h, "fk", true, m->depth + 1);
			}
		}
	}
	return entries;
}

/*
 * JSON of the edges of an entry: one one-hop path per edge, written exactly
 * as jsonb prints it (keys ordered by length then bytes, ", " and ": "), so
 * that MapRefresh compares it with the stored paths as text and parses only
 * the rows that changed.
 */
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
			appendStringInfoString(&b, ", ");
		appendStringInfoString(&b, "[{\"c\": [");
		for (i = 0; i < h->ncols; i++)
			appendStringInfo(&b, "%s%d", i ? ", " : "", h->cols[i]);
		appendStringInfo(&b, "], \"p\": %u, \"t\": %u, \"pc\": [", h->prel, h->rel);
		for (i = 0; i < (h->link ? 0 : h->ncols); i++)
			appendStringInfo(&b, "%s%d", i ? ", " : "", h->pcols[i]);
		appendStringInfoChar(&b, ']');
		if (OidIsValid(h->rpart))
			appendStringInfo(&b, ", \"rp\": %u", h->rpart);
		if ((h->link || h->tlink) && h->tcol != InvalidAttrNumber && h->tval != NULL)
		{
			/* jsonb's order of keys: by length, then bytes */
			appendStringInfo(&b, ", \"tc\": %d, \"tv\": ", h->tcol);
			escape_json(&b, h->tval);
		}
		if (h->tlink)
			appendStringInfoString(&b, ", \"ty\": true");
		appendStringInfo(&b, ", \"link\": %s}]", h->link ? "true" : "false");
	}
	appendStringInfoChar(&b, ']');
	return b.data;
}

/* an entry's schema-qualified name, once per walk */
static const char *
entry_qname(WalkEntry *e)
{
	if (e->qname == NULL)
		e->qname = UtilQualifiedName(e->relid);
	return e->qname;
}

/*
 * readable text of a shortest path: t(c) -> p(pc) / ..., each entry's
 * computed once (an entry's text ends with its parent's), so a deep map
 * costs one catalog lookup per name, not one per hop of every path
 */
static const char *
path_text(MapSubject *subj, List *entries, WalkEntry *e, int guard)
{
	StringInfoData b;
	MapHop	   *h = e->tree;
	WalkEntry  *up;

	if (e->ptext != NULL)
		return e->ptext;
	initStringInfo(&b);
	if (h == NULL)
		appendStringInfo(&b, "%s(%s)", entry_qname(e), subj->key_column);
	else if (h->link)
	{
		appendStringInfo(&b, "%s(%s) = %s(%s)", entry_qname(e), MapColName(h->rel, h->cols[0]),
						 UtilQualifiedName(subj->root), subj->key_column);
		if (h->tcol != InvalidAttrNumber && h->tval != NULL)
			appendStringInfo(&b, " WHERE %s = %s", quote_identifier(MapColName(h->rel, h->tcol)),
							 quote_literal_cstr(h->tval));
	}
	else
	{
		up = find_entry(entries, h->prel);
		appendStringInfo(&b, "%s(", entry_qname(e));
		MapAppendColNames(&b, h->rel, h->cols, h->ncols);
		appendStringInfo(&b, ") -> %s(", up ? entry_qname(up) : UtilQualifiedName(h->prel));
		MapAppendColNames(&b, h->prel, h->pcols, h->ncols);
		appendStringInfoChar(&b, ')');
		if (up != NULL && up->tree != NULL && guard > 0)
			appendStringInfo(&b, " / %s", path_text(subj, entries, up, guard - 1));
	}
	e->ptext = b.data;
	return e->ptext;
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
	ret = SPI_execute_with_args("SELECT table_name::oid, key_column::text, type_column::text, type_value,"
								" target::oid FROM privacy.links"
								" WHERE subject = $1 ORDER BY table_name::oid, key_column, target::oid NULLS FIRST",
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "link lookup failed: %s", SPI_result_code_string(ret));
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
		/* a polymorphic link: its type column and value */
		{
			char	   *tcol = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);

			if (tcol != NULL)
			{
				h->tcol = get_attnum(h->rel, tcol);
				h->tval = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4);
				if (h->tcol == InvalidAttrNumber || h->tcol < 0 || h->tval == NULL)
					ereport(ERROR,
							(errcode(ERRCODE_UNDEFINED_COLUMN),
							 errmsg("type column \"%s\" of the link of table \"%s\" no longer exists",
									tcol, get_rel_name(h->rel)),
							 errhint("Remove the link with privacy.unlink() before dropping or renaming its column.")));
			}
		}
		/* a link to another table of the map: to its one-column key */
		{
			Oid			target = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 5, &isnull));

			if (!isnull)
			{
				if (get_rel_relkind(target) == '\0')
					continue;	/* dropped: _forget_tables removes the link */
				h->tlink = true;
				h->link = false;
				h->prel = target;
				h->deltype = 'a';
				h->pcols[0] = MapTargetKey(target);
				if (h->pcols[0] == InvalidAttrNumber)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
							 errmsg("the target %s of the link of table \"%s\" has no one-column primary or unique key",
									UtilQualifiedName(target), get_rel_name(h->rel)),
							 errhint("Remove the link with privacy.unlink() before dropping the key of its target.")));
			}
		}
		links = lappend(links, h);
	}
	return links;
}

/*
 * MapTargetKey
 *		The key a link to relid (link(..., target)) compares with: its
 *		primary key when that is one column, else its one unique index of
 *		one plain column (no expression, no predicate); 0 when there is
 *		none or several (which one the link holds would be a guess).
 */
AttrNumber
MapTargetKey(Oid relid)
{
	Relation	r = table_open(relid, AccessShareLock);
	List	   *idx = RelationGetIndexList(r);
	ListCell   *lc;
	AttrNumber	pk = InvalidAttrNumber;
	AttrNumber	uniq = InvalidAttrNumber;
	int			nuniq = 0;

	foreach(lc, idx)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index ix;

		if (!HeapTupleIsValid(tup))
			continue;
		ix = (Form_pg_index) GETSTRUCT(tup);
		if (ix->indisunique && ix->indnkeyatts == 1 && ix->indkey.values[0] > 0 &&
			heap_attisnull(tup, Anum_pg_index_indexprs, NULL) &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL))
		{
			if (ix->indisprimary)
				pk = ix->indkey.values[0];
			else if (uniq != ix->indkey.values[0])
			{
				uniq = ix->indkey.values[0];
				nuniq++;
			}
		}
		ReleaseSysCache(tup);
	}
	list_free(idx);
	table_close(r, AccessShareLock);
	if (pk != InvalidAttrNumber)
		return pk;
	return nuniq == 1 ? uniq : InvalidAttrNumber;
}

/* a stored row of privacy.map, as text, for the comparison */
typedef struct StoredRow
{
	Oid			key;
	char	   *via;
	int			depth;
	char	   *path;
	char	   *paths;
	bool		outbound;
	bool		seen;
} StoredRow;

/* the subject's stored map rows by table oid; inside SPI */
static HTAB *
load_stored(const char *name, Datum namearg)
{
	HASHCTL		ctl;
	HTAB	   *h;
	Oid			t[1] = {TEXTOID};
	Datum		v[1];
	uint64		i;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(StoredRow);
	ctl.hcxt = CurrentMemoryContext;
	h = hash_create("privacy stored map", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	v[0] = namearg;
	if (SPI_execute_with_args("SELECT m.table_name::pg_catalog.oid, m.via, m.depth, m.path,"
							  " m.paths::pg_catalog.text, m.outbound FROM privacy.map m"
							  " WHERE m.subject OPERATOR(pg_catalog.=) $1",
							  1, t, v, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the map of \"%s\"", name);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
		StoredRow  *r = hash_search(h, &relid, HASH_ENTER, NULL);

		r->via = SPI_getvalue(tup, td, 2);
		r->depth = DatumGetInt32(SPI_getbinval(tup, td, 3, &isnull));
		r->path = SPI_getvalue(tup, td, 4);
		r->paths = SPI_getvalue(tup, td, 5);
		r->outbound = DatumGetBool(SPI_getbinval(tup, td, 6, &isnull));
		r->seen = false;
	}
	return h;
}

/*
 * MapRefresh
 *		Recompute the map of one subject type into privacy.map, writing only
 *		the rows that differ from the stored ones (compared here, as text:
 *		a DDL that changes nothing in the map writes nothing, a new table one
 *		row); caches are invalidated when something changed.  Refreshes of
 *		one subject type are serialized (the subject type's map lock,
 *		MapLockErasures, exclusive, taken before anything is read): two
 *		migrations that each add a table both end up in the map, the second
 *		one seeing the first's table once it committed; and a refresh waits
 *		for the erasures running (they hold it shared), which wait for it.
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
				nw = 0,
				nd = 0;
	Datum	   *oids,
			   *vias,
			   *depths,
			   *texts,
			   *jsons,
			   *outs,
			   *gone;
	Oid			argtypes[7] = {TEXTOID, OIDARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, BOOLARRAYOID};
	Datum		values[7];
	HTAB	   *stored;
	HASH_SEQ_STATUS hs;
	StoredRow  *r;

	UtilSpiConnect();
	nest = MapJitOff();
	values[0] = CStringGetTextDatum(name);
	MapLockErasures(name, true);	/* waits for the erasures running */
	subj = MapLoadSubjectRow(name, CurrentMemoryContext);
	if (subj == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subject type \"%s\" does not exist", name)));
	walk_entries = NULL;		/* a previous walk's, freed with its context */
	entries = walk(subj, load_links(subj));
	stored = load_stored(name, values[0]);

	n = list_length(entries);
	oids = palloc(sizeof(Datum) * n);
	vias = palloc(sizeof(Datum) * n);
	depths = palloc(sizeof(Datum) * n);
	texts = palloc(sizeof(Datum) * n);
	jsons = palloc(sizeof(Datum) * n);
	outs = palloc(sizeof(Datum) * n);
	foreach(lc, entries)
	{
		WalkEntry  *e = lfirst(lc);
		StringInfoData txt;
		int			more = list_length(e->edges) - 1;
		char	   *json = edges_json(e->edges);

		initStringInfo(&txt);
		appendStringInfoString(&txt, path_text(subj, entries, e, n));
		if (more > 0)
			appendStringInfo(&txt, " (+%d more foreign key%s)", more, more > 1 ? "s" : "");
		r = hash_search(stored, &e->relid, HASH_FIND, NULL);
		if (r != NULL)
		{
			r->seen = true;
			if (strcmp(r->via, e->via) == 0 && r->depth == e->depth && r->outbound == e->outbound &&
				strcmp(r->path, txt.data) == 0 && strcmp(r->paths, json) == 0)
				continue;		/* unchanged */
		}
		oids[nw] = ObjectIdGetDatum(e->relid);
		vias[nw] = CStringGetTextDatum(e->via);
		depths[nw] = Int32GetDatum(e->depth);
		texts[nw] = CStringGetTextDatum(txt.data);
		jsons[nw] = CStringGetTextDatum(json);
		outs[nw] = BoolGetDatum(e->outbound);
		nw++;
	}
	gone = palloc(sizeof(Datum) * Max(hash_get_num_entries(stored), 1));
	hash_seq_init(&hs, stored);
	while ((r = hash_seq_search(&hs)) != NULL)
		if (!r->seen)
			gone[nd++] = ObjectIdGetDatum(r->key);
	walk_entries = NULL;

	if (nd > 0)
	{
		values[1] = PointerGetDatum(construct_array(gone, nd, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
		ret = SPI_execute_with_args("DELETE FROM privacy.map m WHERE m.subject OPERATOR(pg_catalog.=) $1"
									" AND m.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($2)",
									2, argtypes, values, NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "could not store the map: %s", SPI_result_code_string(ret));
	}
	if (nw > 0)
	{
		values[1] = PointerGetDatum(construct_array(oids, nw, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
		values[2] = PointerGetDatum(construct_array(vias, nw, TEXTOID, -1, false, TYPALIGN_INT));
		values[3] = PointerGetDatum(construct_array(depths, nw, INT4OID, 4, true, TYPALIGN_INT));
		values[4] = PointerGetDatum(construct_array(texts, nw, TEXTOID, -1, false, TYPALIGN_INT));
		values[5] = PointerGetDatum(construct_array(jsons, nw, TEXTOID, -1, false, TYPALIGN_INT));
		values[6] = PointerGetDatum(construct_array(outs, nw, BOOLOID, 1, true, TYPALIGN_CHAR));
		ret = SPI_execute_with_args("INSERT INTO privacy.map AS m (subject, table_name, via, depth, path, paths, outbound)"
									" SELECT $1, u.t, u.v, u.d, u.p, u.j::pg_catalog.jsonb, u.o"
									"  FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4),"
									"  pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7)) u(t, v, d, p, j, o)"
									" ON CONFLICT (subject, table_name) DO UPDATE SET via = excluded.via, depth = excluded.depth,"
									"  path = excluded.path, paths = excluded.paths, outbound = excluded.outbound",
									7, argtypes, values, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not store the map: %s", SPI_result_code_string(ret));
	}
	MapJitRestore(nest);
	SPI_finish();
	if (nw > 0 || nd > 0)
		MapInvalidate();
}
