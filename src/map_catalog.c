/*-------------------------------------------------------------------------
 * map_catalog.c
 *		Small catalog helpers shared by the map's files: column names and
 *		lists, table checks, int2[] arrays, OID hash tables, the subject
 *		type row.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/catalog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_namespace.h"

#include "map.h"
#include "privacy.h"

/* ------------------------------------------------------------------------
 * Small catalog helpers
 * ------------------------------------------------------------------------
 */

char *
MapColName(Oid relid, AttrNumber attnum)
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
void
MapAppendCols(StringInfo buf, const char *alias, Oid relid, const AttrNumber *cols, int ncols)
{
	int			i;

	for (i = 0; i < ncols; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		appendStringInfo(buf, "%s.%s", alias, quote_identifier(MapColName(relid, cols[i])));
	}
}

/* human-readable column list "c1, c2", appended */
void
MapAppendColNames(StringInfo buf, Oid relid, const AttrNumber *cols, int ncols)
{
	int			i;

	for (i = 0; i < ncols; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		appendStringInfoString(buf, MapColName(relid, cols[i]));
	}
}

/* the same, as a new string */
char *
MapColsText(Oid relid, const AttrNumber *cols, int ncols)
{
	StringInfoData b;

	initStringInfo(&b);
	MapAppendColNames(&b, relid, cols, ncols);
	return b.data;
}

bool
MapIsPartitioned(Oid relid)
{
	return get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE;
}

/*
 * MapCheckTable
 *		relid must be an existing ordinary or partitioned table, not a
 *		partition (partitions are mapped under their parent).
 */
void
MapCheckTable(Oid relid, const char *argname)
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

/* copy int2[] datum into an AttrNumber array; returns the count */
int
MapInt2Array(Datum d, AttrNumber *out)
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

/* a hash table keyed by OID (OidEntry), in the current memory context */
HTAB *
MapOidHash(const char *name)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(OidEntry);
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(name, 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * MapLoadSubjectRow
 *		Read a subject type's root and key; runs inside SPI.  Returns NULL
 *		when the subject type does not exist.
 */
/*
 * MapKeyTextNotCanonical
 *		Can two equal keys of this type and collation have different texts?
 *		Integers, uuids, numerics (written without trailing zeros) and
 *		strings under a deterministic collation cannot; strings under a
 *		nondeterministic collation ('Bob' = 'BOB'), citext, floats (0 =
 *		-0) and every other type may.  Holds, restrictions, consents and
 *		subject_ref know a subject by its text, so such a subject's text is
 *		its root row's (MapParseId, MapKeyExprs).
 */
bool
MapKeyTextNotCanonical(Oid type, Oid collid)
{
	switch (getBaseType(type))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case NUMERICOID:
		case UUIDOID:
			return false;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return OidIsValid(collid) && !get_collation_isdeterministic(collid);
		default:
			return true;
	}
}

/*
 * MapKeyEqOperator
 *		The equality of the key type's default B-tree operator class, as
 *		SQL: OPERATOR(schema.=).  Keys are compared with the type's own
 *		equality (citext's, not text's after the implicit cast that
 *		OPERATOR(pg_catalog.=) would pick), as its unique index compares
 *		them; the statements that compare them run as a table's owner.
 */
char *
MapKeyEqOperator(Oid type)
{
	TypeCacheEntry *tc = lookup_type_cache(type, TYPECACHE_EQ_OPR);
	HeapTuple	tup;
	char	   *result = "OPERATOR(pg_catalog.=)";

	if (!OidIsValid(tc->eq_opr))
		return result;
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(tc->eq_opr));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_operator op = (Form_pg_operator) GETSTRUCT(tup);

		if (op->oprnamespace != PG_CATALOG_NAMESPACE)
			result = psprintf("OPERATOR(%s.%s)",
							  quote_identifier(get_namespace_name(op->oprnamespace)),
							  NameStr(op->oprname));
		ReleaseSysCache(tup);
	}
	return result;
}

MapSubject *
MapLoadSubjectRow(const char *name, MemoryContext cxt)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	int			ret;
	bool		isnull;
	MapSubject *s;
	HeapTuple	tup;
	TupleDesc	td;

	values[0] = CStringGetTextDatum(name);
	ret = MapLatestQuery("SELECT root::oid, key_column::text FROM privacy.subject_types WHERE name = $1",
						 1, argtypes, values, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "subject type lookup failed: %s", SPI_result_code_string(ret));
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
		s->key_via_root = MapKeyTextNotCanonical(s->key_type, collid);
		s->key_eq = MapKeyEqOperator(s->key_type);
	}
	return s;
}
