/*-------------------------------------------------------------------------
 * map_ddl.c
 *		The DDL event trigger privacy._on_ddl (ddl_command_end of CREATE
 *		TABLE, ALTER TABLE, CREATE TABLE AS, SELECT INTO): the classified
 *		columns of the touched tables follow renames and drops, and the maps
 *		the touched tables can affect are recomputed inside the DDL's
 *		transaction, so a table that reaches a subject once the DDL commits is
 *		in its map.
 *
 * Written in C because it runs after every table DDL of a deploy, often in
 * a new session: each SQL statement it would plan there costs a cold
 * catalog read.  So the affected subject types come from syscache lookups
 * (the touched tables' partition roots and foreign keys) and one read of
 * privacy.map, and the classifications are reconciled only when a touched
 * table, or a table inheriting from one, has some.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "citus.h"
#include "privacy.h"

PG_FUNCTION_INFO_V1(privacy_on_ddl);

/* an oid[] of a list of oids */
static Datum
oid_array(List *oids)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(list_length(oids), 1));
	ListCell   *lc;

	foreach(lc, oids)
		d[foreach_current_index(lc)] = ObjectIdGetDatum(lfirst_oid(lc));
	return PointerGetDatum(construct_array(d, list_length(oids), OIDOID, sizeof(Oid), true,
										   TYPALIGN_INT));
}

/* one boolean of a one-row result */
static bool
spi_bool(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return !isnull && DatumGetBool(d);
}

/* the tables a foreign key of relid references, partitions collapsed */
static List *
referenced_roots(Oid relid, List *out)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;

	rel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, ConstraintRelidTypidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

		if (con->contype == CONSTRAINT_FOREIGN)
		{
			Oid			top = MapPartitionRoot(con->confrelid);

			out = list_append_unique_oid(out, top);
			/* a partition mapped by itself is reached through its root's keys */
			if (get_rel_relkind(top) == RELKIND_PARTITIONED_TABLE)
				out = list_concat_unique_oid(out, find_all_inheritors(top, NoLock, NULL));
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return out;
}

/*
 * privacy._on_ddl() RETURNS event_trigger
 */
Datum
privacy_on_ddl(PG_FUNCTION_ARGS)
{
	List	   *touched = NIL;
	List	   *schemas = NIL;
	bool		new_only = true;	/* every object of the command is new */
	List	   *family = NIL;
	List	   *roots = NIL;
	List	   *referenced = NIL;
	List	   *names = NIL;
	List	   *affected = NIL;
	ListCell   *lc;
	Oid			t[3] = {OIDARRAYOID, OIDARRAYOID, OIDARRAYOID};
	Datum		v[3];
	uint64		i;
	int			nest;
	MemoryContext outer = CurrentMemoryContext;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy._on_ddl() can only be called as an event trigger")));

	UtilSpiConnect();
	nest = MapJitOff();
	/*
	 * Nothing configured; a Citus worker (shards are configured on the
	 * coordinator); a Citus conversion under way (refreshed at commit).
	 */
	if (SPI_execute("SELECT EXISTS (SELECT FROM privacy.subject_types) OR EXISTS (SELECT FROM privacy.classifications)"
					" OR EXISTS (SELECT FROM privacy.retention),"
					" privacy._citus_worker(), EXISTS (SELECT FROM privacy.pending_drops)",
					false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "configuration lookup failed");
	if (!spi_bool(1) || spi_bool(2) || spi_bool(3))
		goto done;

	/*
	 * The tables (temporary ones, ETL scratch space, never join a map) and
	 * the schemas (CREATE SCHEMA ... CREATE TABLE, a renamed schema whose
	 * name the maps' path texts show) of the command.
	 */
	if (SPI_execute("SELECT DISTINCT c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass, c.objid,"
					" c.command_tag OPERATOR(pg_catalog.=) ANY (ARRAY['CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO',"
					"  'CREATE INDEX', 'CREATE SEQUENCE', 'ALTER SEQUENCE'])"
					" FROM pg_catalog.pg_event_trigger_ddl_commands() c"
					" WHERE c.classid OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.pg_class'::pg_catalog.regclass,"
					"                                  'pg_catalog.pg_namespace'::pg_catalog.regclass])"
					"   AND (c.schema_name IS NULL OR c.schema_name OPERATOR(pg_catalog.!~~) 'pg\\_temp\\_%')",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "DDL command lookup failed");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull,
					isnull2;
		bool		schema = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull2);
		bool		isnull3;
		Datum		created = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull3);

		if (isnull || isnull2)
			continue;
		if (isnull3 || !DatumGetBool(created))
			new_only = false;
		if (schema)
			schemas = list_append_unique_oid(schemas, DatumGetObjectId(d));
		else
			touched = list_append_unique_oid(touched, DatumGetObjectId(d));
	}
	if (touched == NIL && schemas == NIL)
		goto done;

	/* protected distributed tables: the nodes know them by name */
	if (CitusMirrorActive())
	{
		v[0] = oid_array(touched);
		v[1] = oid_array(schemas);
		if (SPI_execute_with_args("SELECT privacy._citus_sync_protected($1, $2)", 2, t, v, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not update the protected tables");
	}

	foreach(lc, touched)
	{
		Oid			relid = lfirst_oid(lc);

		if (get_rel_relkind(relid) == '\0')
			continue;
		/* renames and drops of a parent's columns recurse to its children */
		family = list_concat_unique_oid(family, find_all_inheritors(relid, NoLock, NULL));
		roots = list_append_unique_oid(roots, MapPartitionRoot(relid));
		/* a partition with a foreign key of its own is mapped by itself */
		roots = list_append_unique_oid(roots, relid);

		/*
		 * whether the keys declared on partitions are the partitioned
		 * table's or each partition's depends on every leaf (map_walk.c,
		 * partition_keys): an ATTACH, DETACH or a leaf's key changes the
		 * map of a subject that holds any partition of the tree
		 */
		if (get_rel_relispartition(relid) || get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
			roots = list_concat_unique_oid(roots, find_all_inheritors(MapPartitionRoot(relid), NoLock, NULL));
		/* a plain table that gains a child: its statements name it ONLY */
		if (get_rel_relkind(relid) == RELKIND_RELATION && !get_rel_relispartition(relid) &&
			has_superclass(relid))
			MapInvalidate();
		if (get_rel_relispartition(relid) || has_superclass(relid))
			new_only = false;
		referenced = referenced_roots(relid, referenced);
	}

	v[0] = oid_array(family);
	if (SPI_execute_with_args("SELECT EXISTS (SELECT FROM privacy.classifications c"
							  " WHERE c.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1))"
							  " OR EXISTS (SELECT FROM privacy.retention r"
							  " WHERE r.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1))"
							  " OR EXISTS (SELECT FROM privacy.subject_types st"
							  " WHERE st.root::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1))",
							  1, t, v, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "classification lookup failed");
	if (spi_bool(1) &&
		SPI_execute("SELECT privacy._reconcile_columns()", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not reconcile the classified columns");

	/*
	 * Only new tables, with no foreign key, no parent, no partition of a
	 * tree (CREATE TABLE, CREATE TABLE AS, SELECT INTO, with their indexes
	 * and sequences): in no map (nothing else can see them yet), and they
	 * reach no subject, so no map changes.  They do not take the maps'
	 * locks, which erasures hold shared to their commit: an unrelated
	 * CREATE TABLE waited for every erasure running, and an erasure for
	 * every migration transaction that had created a table.
	 */
	if (new_only && schemas == NIL && referenced == NIL)
		goto done;

	/*
	 * The serialization point of map refreshes (privacy._lock_maps(): every
	 * subject type, in name order), then the subject types to refresh: those
	 * whose map holds a touched table, or a table a touched table's foreign
	 * key references (not as an outbound table); a subject type whose root
	 * was dropped keeps its records, not a map.
	 */
	if (SPI_execute("SELECT st.name, st.root::pg_catalog.oid FROM privacy.subject_types st"
					" ORDER BY st.name COLLATE \"C\"", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not lock the maps");
	for (i = 0; i < SPI_processed; i++)
		MapLockErasures(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1), true);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			root = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		MemoryContext old;

		if (isnull || get_rel_relkind(root) == '\0')
			continue;
		old = MemoryContextSwitchTo(outer);
		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		MemoryContextSwitchTo(old);
	}
	v[0] = oid_array(roots);
	v[1] = oid_array(referenced);
	v[2] = oid_array(schemas);
	if (names != NIL &&
		SPI_execute_with_args("SELECT DISTINCT m.subject FROM privacy.map m"
							  " WHERE m.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1)"
							  "    OR (NOT m.outbound AND m.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($2))"
							  "    OR (pg_catalog.cardinality($3) OPERATOR(pg_catalog.>) 0 AND EXISTS (SELECT FROM pg_catalog.pg_class k"
							  "         WHERE k.oid OPERATOR(pg_catalog.=) m.table_name::pg_catalog.oid"
							  "           AND k.relnamespace OPERATOR(pg_catalog.=) ANY ($3)))",
							  3, t, v, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "map lookup failed");
	for (i = 0; names != NIL && i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(outer);

		affected = lappend(affected, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		MemoryContextSwitchTo(old);
	}
	foreach(lc, names)
	{
		ListCell   *ac;

		foreach(ac, affected)
		{
			if (strcmp(lfirst(lc), lfirst(ac)) == 0)
			{
				MapRefresh(lfirst(lc));
				break;
			}
		}
	}

done:
	MapJitRestore(nest);
	SPI_finish();
	PG_RETURN_NULL();
}

/*
 * Names a table had earlier in the transaction.  A migration that rebuilds
 * a table often renames the old one out of the way before it drops it
 * (ALTER TABLE t RENAME TO t_old; CREATE TABLE t ...; DROP TABLE t_old):
 * the drop's decision at commit (privacy._citus_resolve_drops) looks for a
 * table under each name the dropped one had, so the rebuilt table keeps its
 * configuration.  Kept in TopTransactionContext, forgotten at the end of
 * the transaction.
 */
typedef struct RenamedTable
{
	Oid			relid;
	char	   *qualname;		/* quoted schema.name before the rename */
} RenamedTable;

static List *renamed_tables = NIL;
static bool renamed_callback = false;

static void
renamed_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			renamed_tables = NIL;	/* its memory goes with the transaction */
			break;
		default:
			break;
	}
}

/*
 * privacy._on_rename() RETURNS event_trigger
 *		ddl_command_start of ALTER TABLE: before a table is renamed or moved
 *		to another schema, note the name it has now (a name lookup only, as
 *		the command will do it; nothing is locked or read).
 */
PG_FUNCTION_INFO_V1(privacy_on_rename);

Datum
privacy_on_rename(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Node	   *pt;
	RangeVar   *rv = NULL;
	Oid			relid;
	char	   *nsp;
	char	   *rel;
	MemoryContext old;
	RenamedTable *r;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy._on_rename() can only be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	pt = trigdata->parsetree;
	if (IsA(pt, RenameStmt) && ((RenameStmt *) pt)->renameType == OBJECT_TABLE)
		rv = ((RenameStmt *) pt)->relation;
	else if (IsA(pt, AlterObjectSchemaStmt) && ((AlterObjectSchemaStmt *) pt)->objectType == OBJECT_TABLE)
		rv = ((AlterObjectSchemaStmt *) pt)->relation;
	if (rv == NULL || rv->relpersistence == RELPERSISTENCE_TEMP)
		PG_RETURN_NULL();
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid) || (nsp = get_namespace_name(get_rel_namespace(relid))) == NULL ||
		(rel = get_rel_name(relid)) == NULL || isTempNamespace(get_rel_namespace(relid)))
		PG_RETURN_NULL();
	if (!renamed_callback)
	{
		RegisterXactCallback(renamed_xact_callback, NULL);
		renamed_callback = true;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	r = palloc(sizeof(RenamedTable));
	r->relid = relid;
	r->qualname = quote_qualified_identifier(nsp, rel);
	renamed_tables = lappend(renamed_tables, r);
	MemoryContextSwitchTo(old);
	PG_RETURN_NULL();
}

/*
 * privacy._renamed_from(relid oid) RETURNS text[]
 *		The quoted names relid had earlier in this transaction, the latest
 *		first (empty when it was not renamed).
 */
PG_FUNCTION_INFO_V1(privacy_renamed_from);

Datum
privacy_renamed_from(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	List	   *names = NIL;
	ListCell   *lc;
	Datum	   *d;
	int			n = 0;

	foreach(lc, renamed_tables)
	{
		RenamedTable *r = lfirst(lc);

		if (r->relid == relid)
			names = lcons(r->qualname, names);
	}
	d = palloc(sizeof(Datum) * Max(list_length(names), 1));
	foreach(lc, names)
		d[n++] = CStringGetTextDatum(lfirst(lc));
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}
