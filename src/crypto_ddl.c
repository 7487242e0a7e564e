/*-------------------------------------------------------------------------
 * crypto_ddl.c
 *		The DDL of encrypted columns: encrypt_column, decrypt_column and
 *		migrate_pgcrypto_column, the <table>_decrypted view with its
 *		INSTEAD OF trigger, and the event-trigger helper that makes the
 *		view follow column renames.
 *
 * Registrations follow renames: privacy.encrypted_columns keeps the
 * column's name and attribute number; an event trigger after ALTER TABLE
 * renames the registration whose name is gone to the name now at its
 * number, and the _decrypted view's columns with it.
 *
 * The primary key the values are bound to stays: an event trigger around
 * ALTER TABLE (privacy_crypto_guard_key) refuses a command that drops or
 * replaces it, or changes a key column's text.
 *
 * The view <schema>.<table>_decrypted is security_invoker (it keeps working
 * after the table changes owner), refers to the table by OID (RENAME) and
 * to the column by its stable id (dump/restore); INSTEAD OF triggers in C
 * (privacy.decrypted_view_trigger) send writes to the table.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "citus.h"
#include "crypto.h"
#include "guard.h"
#include "privacy.h"

PG_FUNCTION_INFO_V1(privacy_decrypted_view_trigger);
PG_FUNCTION_INFO_V1(privacy_encrypt_column);
PG_FUNCTION_INFO_V1(privacy_decrypt_column);
PG_FUNCTION_INFO_V1(privacy_migrate_pgcrypto_column);
PG_FUNCTION_INFO_V1(privacy_crypto_follow_renames);
PG_FUNCTION_INFO_V1(privacy_crypto_guard_key);

/* ------------------------------------------------------------------------
 * encrypt_column / decrypt_column and the view
 * ------------------------------------------------------------------------
 */

/*
 * spi_exec
 *		Run a utility or DML statement as the current user; check the code.
 */
static uint64
spi_exec(const char *sql, int expected)
{
	int			ret = SPI_execute(sql, false, 0);

	if (ret != expected)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	return SPI_processed;
}

/*
 * drop_view
 *		DROP VIEW of a _decrypted view, as the view's owner (a view made by
 *		an older version can belong to the role that called encrypt_column).
 */
static void
drop_view(Oid viewid)
{
	int			frame;

	if (!OidIsValid(viewid) || get_rel_relkind(viewid) != RELKIND_VIEW)
		return;
	frame = GuardEnterTableOwner(viewid);
	spi_exec(psprintf("DROP VIEW IF EXISTS %s", UtilQualifiedName(viewid)), SPI_OK_UTILITY);
	GuardLeave(frame);
}

/*
 * enter_table_owner
 *		The table's own statements of encrypt_column and decrypt_column (its
 *		trigger, the rewrite, the view) run as its owner in a
 *		security-restricted operation: the table's triggers, defaults,
 *		checks and index expressions are its owner's code, whoever calls.
 *		protect()'s policies are bypassed for the rewrite; a policy of the
 *		owner's own that FORCE ROW LEVEL SECURITY applies to the owner could
 *		hide rows from it, so such a table is refused.
 */
static int
enter_table_owner(Oid relid)
{
	int			frame;
	Oid			argt[1] = {OIDOID};
	Datum		v[1];
	int			ret;

	v[0] = ObjectIdGetDatum(relid);
	ret = SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_policy p "
								"ON p.polrelid OPERATOR(pg_catalog.=) c.oid "
								"WHERE c.oid OPERATOR(pg_catalog.=) $1 AND c.relrowsecurity AND c.relforcerowsecurity "
								"AND p.polname OPERATOR(pg_catalog.<>) ALL (ARRAY['privacy_allow', 'privacy_restricted']::pg_catalog.name[])",
								1, argt, v, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the policies of the table: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" forces row-level security on its owner", get_rel_name(relid)),
				 errdetail("Its values are rewritten as its owner, whose policies could hide rows."),
				 errhint("Run ALTER TABLE ... NO FORCE ROW LEVEL SECURITY in the same transaction, call the function, then FORCE it again.")));
	frame = GuardEnterTableOwner(relid);
	GuardSetRowSecurityBypass(true);
	return frame;
}

/*
 * catalog_exec
 *		Run a statement on the catalog as its owner, with parameters.
 */
static SPITupleTable *
catalog_exec(const char *sql, int nargs, Oid *argtypes, Datum *values,
			 const char *nulls, int expected, uint64 *processed)
{
	PrivacyUserSwitch sw;
	int			ret;

	KeysBecomeCatalogOwner(&sw);
	ret = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0);
	KeysRestoreUser(&sw);
	if (ret != expected)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (processed)
		*processed = SPI_processed;
	return SPI_tuptable;
}

/*
 * view_select
 *		CREATE VIEW statement of the _decrypted view qualview: every live
 *		column of relid, the encrypted ones (the registrations in tt, n
 *		rows: id, column name, typmod) read through read_encrypted().
 */
static char *
view_select(Oid relid, const char *qualview, const char *qualrel, SPITupleTable *tt, uint64 n)
{
	StringInfoData sql;
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	bool		first = true;
	bool		isnull;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE VIEW %s WITH (security_invoker = true) AS SELECT ", qualview);
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		const char *expr = NULL;

		if (att->attisdropped)
			continue;
		for (uint64 i = 0; i < n; i++)
		{
			char	   *cn = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);

			if (strcmp(cn, NameStr(att->attname)) == 0)
				expr = CryptoColumnReadExpr(DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull)),
											relid, cn,
											DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull)),
											"t");
		}
		appendStringInfo(&sql, "%s%s AS %s", first ? "" : ", ",
						 expr ? expr : psprintf("t.%s", quote_identifier(NameStr(att->attname))),
						 quote_identifier(NameStr(att->attname)));
		first = false;
	}
	table_close(rel, AccessShareLock);
	appendStringInfo(&sql, " FROM %s AS t", qualrel);
	return sql.data;
}

/*
 * view_copy_defaults
 *		The table's column defaults (and identity sequences) on the view
 *		qualview, so that omitted columns behave alike.
 */
static void
view_copy_defaults(Oid relid, const char *qualview, const char *nspname)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (!att->attisdropped && att->atthasdef && !att->attgenerated && !att->attidentity)
		{
			Oid			argt[2] = {OIDOID, INT2OID};
			Datum		v[2];
			int			ret;

			v[0] = ObjectIdGetDatum(relid);
			v[1] = Int16GetDatum(att->attnum);
			ret = SPI_execute_with_args("SELECT pg_catalog.pg_get_expr(adbin, adrelid) FROM pg_catalog.pg_attrdef "
										"WHERE adrelid OPERATOR(pg_catalog.=) $1 AND adnum OPERATOR(pg_catalog.=) $2",
										2, argt, v, NULL, true, 1);
			if (ret != SPI_OK_SELECT)
				elog(ERROR, "could not read column defaults: %s", SPI_result_code_string(ret));
			if (SPI_processed == 1)
				spi_exec(psprintf("ALTER VIEW %s ALTER COLUMN %s SET DEFAULT %s", qualview,
								  quote_identifier(NameStr(att->attname)),
								  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
						 SPI_OK_UTILITY);
		}
		if (!att->attisdropped && att->attidentity)
			spi_exec(psprintf("ALTER VIEW %s ALTER COLUMN %s SET DEFAULT pg_catalog.nextval(%s::pg_catalog.regclass)",
							  qualview, quote_identifier(NameStr(att->attname)),
							  quote_literal_cstr(quote_qualified_identifier(nspname,
																			get_rel_name(CompatIdentitySequence(rel, att->attnum, false))))),
					 SPI_OK_UTILITY);
	}
	table_close(rel, AccessShareLock);
}

/*
 * view_copy_grants
 *		The table's SELECT/INSERT/UPDATE/DELETE grants on the view qualview,
 *		and its columns' SELECT/INSERT/UPDATE grants on the view's columns.
 */
static void
view_copy_grants(Oid relid, const char *qualview)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	int			ret;
	SPITupleTable *tt;
	uint64		n;

	values[0] = ObjectIdGetDatum(relid);
	/* the table's grants (no column), then its columns' (by attnum) */
	ret = SPI_execute_with_args("SELECT g.privilege_type, g.col, CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 "
								"THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END FROM ("
								"SELECT a.privilege_type, NULL::pg_catalog.text AS col, a.grantee, 0 AS attnum "
								"FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a "
								"WHERE c.oid OPERATOR(pg_catalog.=) $1 AND a.grantee OPERATOR(pg_catalog.<>) c.relowner "
								"AND a.privilege_type OPERATOR(pg_catalog.=) ANY (ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) "
								"UNION ALL "
								"SELECT x.privilege_type, pg_catalog.quote_ident(a.attname), x.grantee, a.attnum "
								"FROM pg_catalog.pg_class c "
								"JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid, "
								"pg_catalog.aclexplode(a.attacl) x "
								"WHERE c.oid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.>) 0 "
								"AND NOT a.attisdropped AND x.grantee OPERATOR(pg_catalog.<>) c.relowner "
								"AND x.privilege_type OPERATOR(pg_catalog.=) ANY (ARRAY['SELECT', 'INSERT', 'UPDATE'])) g "
								"LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) g.grantee "
								"ORDER BY g.attnum",
								1, argtypes, values, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the table's privileges: %s", SPI_result_code_string(ret));
	tt = SPI_tuptable;
	n = SPI_processed;
	for (uint64 g = 0; g < n; g++)
	{
		char	   *col = SPI_getvalue(tt->vals[g], tt->tupdesc, 2);

		spi_exec(psprintf("GRANT %s%s%s%s ON %s TO %s", SPI_getvalue(tt->vals[g], tt->tupdesc, 1),
						  col ? " (" : "", col ? col : "", col ? ")" : "",
						  qualview, SPI_getvalue(tt->vals[g], tt->tupdesc, 3)),
				 SPI_OK_UTILITY);
	}
}

/*
 * view_name
 *		"<relname>_decrypted"; when that is longer than a name can be
 *		(NAMEDATALEN - 1 bytes), relname is cut to fit, at a character
 *		boundary, as PostgreSQL cuts the names it derives (an index's).
 */
static char *
view_name(const char *relname)
{
	const char *suffix = "_decrypted";
	int			room = NAMEDATALEN - 1 - (int) strlen(suffix);
	int			len = (int) strlen(relname);

	if (len > room)
		len = pg_mbcliplen(relname, len, room);
	return psprintf("%.*s%s", len, relname, suffix);
}

/*
 * build_view
 *		(Re)create <schema>.<table>_decrypted from the registrations of
 *		relid, or drop it when none is left.  Runs inside SPI as the table
 *		owner (the caller).
 */
static void
build_view(Oid relid)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	SPITupleTable *tt;
	uint64		n;
	Oid			oldview = InvalidOid;
	char	   *viewname;
	char	   *qualview;
	char	   *nspname = get_namespace_name(get_rel_namespace(relid));
	char	   *relname = get_rel_name(relid);

	/* the registrations, and the view they had */
	values[0] = ObjectIdGetDatum(relid);
	tt = catalog_exec("SELECT id, column_name::text, coalesce(typmod, -1), "
					  "(SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' "
					  "OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname) FROM pg_catalog.pg_class c "
					  "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					  "WHERE c.oid OPERATOR(pg_catalog.=) e.view), e.view::pg_catalog.oid "
					  "FROM privacy.encrypted_columns e WHERE table_name = $1::regclass",
					  1, argtypes, values, NULL, SPI_OK_SELECT, &n);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull);

		if (!isnull && !OidIsValid(oldview))
			oldview = DatumGetObjectId(d);
	}
	drop_view(oldview);
	if (n == 0)
		return;

	viewname = view_name(relname);
	qualview = quote_qualified_identifier(nspname, viewname);
	spi_exec(view_select(relid, qualview, quote_qualified_identifier(nspname, relname), tt, n),
			 SPI_OK_UTILITY);

	/* writes go to the table through INSTEAD OF triggers */
	spi_exec(psprintf("CREATE TRIGGER privacy_write INSTEAD OF INSERT OR UPDATE OR DELETE ON %s "
					  "FOR EACH ROW EXECUTE FUNCTION privacy.decrypted_view_trigger()", qualview),
			 SPI_OK_UTILITY);
	view_copy_defaults(relid, qualview, nspname);
	view_copy_grants(relid, qualview);

	values[1] = CStringGetTextDatum(qualview);
	catalog_exec("UPDATE privacy.encrypted_columns SET view = $2::regclass WHERE table_name = $1::regclass",
				 2, argtypes, values, NULL, SPI_OK_UPDATE, NULL);
}

/*
 * check_table_arg
 *		Common argument checks of encrypt_column / decrypt_column: returns
 *		the attnum of col in tbl; the caller must own tbl.
 */
static AttrNumber
check_table_arg(FunctionCallInfo fcinfo, Oid *relid, char **colname)
{
	AttrNumber	attnum;
	char		relkind;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("argument \"tbl\" must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("argument \"col\" must not be null")));
	*relid = PG_GETARG_OID(0);
	*colname = pstrdup(NameStr(*PG_GETARG_NAME(1)));
	relkind = get_rel_relkind(*relid);
	if (relkind == '\0')
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("relation with OID %u does not exist", *relid)));
	if (relkind != RELKIND_RELATION)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("\"%s\" is not an ordinary table", get_rel_name(*relid)),
						errhint("Encrypt the column of a plain (not partitioned, foreign or view) table.")));
	if (!pg_class_ownercheck(*relid, GetUserId()))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("must be owner of table %s", get_rel_name(*relid))));
	if (get_rel_namespace(*relid) == get_namespace_oid("privacy", true) ||
		IsCatalogRelationOid(*relid))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("\"%s\" is a table of the extension or of the system", get_rel_name(*relid)),
						errhint("Encrypt the columns of the application's tables.")));
	if (get_rel_persistence(*relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("\"%s\" is a temporary table", get_rel_name(*relid))));
	attnum = get_attnum(*relid, *colname);
	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
						errmsg("column \"%s\" of relation \"%s\" does not exist",
							   *colname, get_rel_name(*relid))));
	return attnum;
}

/*
 * json_str
 *		s as a JSON string (quoted and escaped), for audit details.
 */
static char *
json_str(const char *s)
{
	StringInfoData b;

	initStringInfo(&b);
	escape_json(&b, s);
	return b.data;
}

/*
 * privacy_encrypt_column
 *		encrypt_column(tbl regclass, col name, subject text DEFAULT NULL).
 *		Registers the column, installs the write trigger, encrypts the
 *		existing values in place and (re)creates the _decrypted view.
 *		Caller: the table owner.
 */
static Datum encrypt_column_common(FunctionCallInfo fcinfo, const char *pgp_pass);

Datum
privacy_encrypt_column(PG_FUNCTION_ARGS)
{
	return encrypt_column_common(fcinfo, NULL);
}

/*
 * check_column_type
 *		Only text, varchar and bytea columns can be encrypted, and a pgcrypto
 *		migration needs bytea.
 */
static void
check_column_type(const char *colname, Oid typid, bool pgcrypto)
{
	if (pgcrypto && typid != BYTEAOID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("column \"%s\" is not a bytea column holding pgp_sym_encrypt output", colname)));
	if (typid != TEXTOID && typid != VARCHAROID && typid != BYTEAOID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot encrypt column \"%s\" of type %s", colname, format_type_be(typid)),
				 errhint("Only text, varchar and bytea columns can be encrypted; change the column's type first.")));
}

/* a CHECK constraint (PostgreSQL 15 has no get_constraint_type) */
static bool
constraint_is_check(Oid conoid)
{
	HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	bool		check;

	if (!HeapTupleIsValid(tup))
		return false;
	check = ((Form_pg_constraint) GETSTRUCT(tup))->contype == CONSTRAINT_CHECK;
	ReleaseSysCache(tup);
	return check;
}

/*
 * is_ciphertext_check
 *		Is CHECK constraint conoid the one encrypt_column puts on an
 *		encrypted column (named CRYPTO_CHECK_PREFIX<id>)?  encrypt_column on a
 *		column that has it then says "already encrypted".
 */
static bool
is_ciphertext_check(Oid conoid)
{
	char	   *name = get_constraint_name(conoid);

	return name != NULL && strncmp(name, CRYPTO_CHECK_PREFIX, strlen(CRYPTO_CHECK_PREFIX)) == 0;
}

/* the column whose default (or generation expression) pg_attrdef row adoid is */
static AttrNumber
attrdef_column(Oid adoid)
{
	Relation	rel = table_open(AttrDefaultRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	AttrNumber	adnum = InvalidAttrNumber;

	ScanKeyInit(&key, Anum_pg_attrdef_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(adoid));
	scan = systable_beginscan(rel, AttrDefaultOidIndexId, true, NULL, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
		adnum = ((Form_pg_attrdef) GETSTRUCT(tup))->adnum;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return adnum;
}

/*
 * check_dependents
 *		The column must hold what its readers expect: a generated column
 *		(its own value is computed, a trigger may not set it), a generated
 *		column computed from it, or a CHECK constraint on it would see the
 *		ciphertext instead of the value (a generated column silently
 *		recomputed from "PV1:..."; a CHECK failing, or passing, on it):
 *		22023 before anything changes.
 */
static void
check_dependents(Oid relid, AttrNumber attnum, const char *colname)
{
	Relation	dep;
	ScanKeyData key[3];
	SysScanDesc scan;
	HeapTuple	tup;

	if (get_attgenerated(relid, attnum) != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot encrypt generated column \"%s\"", colname)));
	dep = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	ScanKeyInit(&key[2], Anum_pg_depend_refobjsubid, BTEqualStrategyNumber, F_INT4EQ,
				Int32GetDatum((int32) attnum));
	scan = systable_beginscan(dep, DependReferenceIndexId, true, NULL, 3, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

		if (d->classid == RelationRelationId && d->objid == relid && d->objsubid > 0 &&
			d->objsubid != attnum && get_attgenerated(relid, (AttrNumber) d->objsubid) != '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("generated column \"%s\" is computed from column \"%s\"",
							get_attname(relid, (AttrNumber) d->objsubid, false), colname),
					 errhint("It would be computed from the ciphertext; drop its expression or the column first.")));
		if (d->classid == AttrDefaultRelationId)
		{
			AttrNumber	gen = attrdef_column(d->objid);

			if (gen > 0 && gen != attnum && get_attgenerated(relid, gen) != '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("generated column \"%s\" is computed from column \"%s\"",
								get_attname(relid, gen, false), colname),
						 errhint("It would be computed from the ciphertext; drop its expression or the column first.")));
		}
		if (d->classid == ConstraintRelationId && constraint_is_check(d->objid) &&
			!is_ciphertext_check(d->objid))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("check constraint \"%s\" reads column \"%s\"", get_constraint_name(d->objid), colname),
					 errhint("It would check the ciphertext; drop the constraint first.")));
	}
	systable_endscan(scan);
	table_close(dep, AccessShareLock);
}

/*
 * check_binding
 *		The column attnum of relid can be bound to its row: the table has a
 *		primary key and the column is not part of it; with a subject, the
 *		table is in the subject's data map.  The caller holds the table's
 *		lock.
 */
static void
check_binding(Oid relid, AttrNumber attnum, const char *colname, const char *subject)
{
	Relation	rel;
	AttrNumber	keys[CRYPTO_MAX_KEY_PARTS];
	int			nkeys;

	if (get_rel_relispartition(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is a partition", get_rel_name(relid)),
				 errhint("Its rows can move to another partition, whose column is not encrypted; encrypt the columns of a plain table.")));
	check_dependents(relid, attnum, colname);
	rel = table_open(relid, NoLock);
	nkeys = CryptoPrimaryKey(rel, keys);
	table_close(rel, NoLock);
	if (nkeys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" has no primary key", get_rel_name(relid)),
				 errhint("Encrypted values are bound to their row's primary key; add one first.")));
	for (int i = 0; i < nkeys; i++)
	{
		Oid			keytype = get_atttype(relid, keys[i]);

		if (keys[i] == attnum)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot encrypt primary key column \"%s\"", colname)));
		if (CryptoKeyFormOf(keytype) == KEYFORM_UNSUPPORTED)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot bind encrypted values to primary key column \"%s\" of type %s",
							get_attname(relid, keys[i], false), format_type_be(keytype)),
					 errdetail("Its text form depends on session settings, and values are bound to their row's key."),
					 errhint("Use a primary key of scalar types (integers, text, uuid, timestamps, dates...).")));
		if (get_attgenerated(relid, keys[i]) != '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("primary key column \"%s\" is generated", get_attname(relid, keys[i], false)),
					 errdetail("Its value is computed after the write trigger, which binds values to the key."),
					 errhint("Use a primary key whose values are written, not generated.")));
	}
	if (subject)
	{
		PrivacyUserSwitch sw;
		MapSubject *subj;
		MapTable   *mt;
		ListCell   *lc;
		AttrNumber	generated = InvalidAttrNumber;

		bool		direct;

		KeysBecomeCatalogOwner(&sw);
		subj = MapGetSubject(subject);	/* 42704 */
		mt = MapFindTable(subj, relid);
		direct = mt != NULL && (subj->root == relid || MapKeyExprIsDirect(subj, mt));
		KeysRestoreUser(&sw);
		if (mt == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("table \"%s\" is not in the data map of subject type \"%s\"",
							get_rel_name(relid), subject),
					 errhint("Link the table to the subject type (privacy.link or a foreign key), then retry.")));

		/*
		 * The write trigger finds the row's subject when the row is
		 * written.  Through another table (two hops away, or a foreign key
		 * to another column of the root), the subject can change without
		 * the row being written: its value stayed under the former
		 * subject's key, which that subject's erasure destroyed (and the
		 * new subject's left readable).
		 */
		if (!direct)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("table \"%s\" reaches the root of subject type \"%s\" through another table",
							get_rel_name(relid), subject),
					 errdetail("A row's subject could change without the row being written, leaving its values under the former subject's key."),
					 errhint("Give the table a column that holds the subject's key (a foreign key to the root's key, or privacy.link), or encrypt the column without a subject.")));

		/*
		 * The row's subject is read by the write trigger, before generated
		 * columns are computed: a generated column that leads to the
		 * subject (a foreign key or link column, the root's key) would
		 * put every value under the column's key, out of reach of the
		 * subject's erasure.
		 */
		if (subj->root == relid && get_attgenerated(relid, subj->key_attnum) != '\0')
			generated = subj->key_attnum;
		foreach(lc, mt->paths)
		{
			ListCell   *lh;

			foreach(lh, (List *) lfirst(lc))
			{
				MapHop	   *h = (MapHop *) lfirst(lh);

				for (int i = 0; h->rel == relid && i < h->ncols; i++)
					if (get_attgenerated(relid, h->cols[i]) != '\0')
						generated = h->cols[i];
			}
		}
		if (generated != InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\", which leads to the subject, is generated",
							get_attname(relid, generated, false)),
					 errdetail("It is computed after the write trigger, which finds each value's subject key."),
					 errhint("Encrypt the column without a subject, or make the column a written one.")));
	}
}

/*
 * register_column
 *		Create the column's key and its registration in
 *		privacy.encrypted_columns; returns the registration's id and the
 *		key in *key_id.  Already encrypted: 22023.  Inside SPI.
 */
static int64
register_column(Oid relid, const char *qualrel, const char *colname, AttrNumber attnum,
				Oid typid, int32 typmod, const char *subject, int64 *key_id)
{
	Oid			argt[6] = {OIDOID, TEXTOID, TEXTOID, INT8OID, INT4OID, INT2OID};
	Datum		v[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	SPITupleTable *tt;
	uint64		n;
	bool		isnull;

	v[0] = ObjectIdGetDatum(relid);
	v[1] = CStringGetTextDatum(colname);
	catalog_exec("SELECT 1 FROM privacy.encrypted_columns WHERE table_name = $1::regclass "
				 "AND column_name = $2::name", 2, argt, v, NULL, SPI_OK_SELECT, &n);
	if (n > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" is already encrypted", colname)));

	/*
	 * The column's key (subject values get their subjects' keys): the
	 * active key of the column's name when the column was encrypted before
	 * (decrypt_column keeps it, for the backups made under it).
	 */
	{
		char	   *keyname = psprintf("column:%s.%s", qualrel, quote_identifier(colname));
		Oid			kt[1] = {TEXTOID};
		Datum		kv[1];

		kv[0] = CStringGetTextDatum(keyname);
		tt = catalog_exec("SELECT id FROM privacy.data_keys WHERE name OPERATOR(pg_catalog.=) $1 "
						  "AND state OPERATOR(pg_catalog.=) 'active'", 1, kt, kv, NULL, SPI_OK_SELECT, &n);
		if (n == 1)
			*key_id = DatumGetInt64(SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull));
		else
			*key_id = KeysCreate(keyname, NULL, NULL);
	}
	v[2] = subject ? CStringGetTextDatum(subject) : (Datum) 0;
	nulls[2] = subject ? ' ' : 'n';
	v[3] = Int64GetDatum(*key_id);
	v[4] = Int32GetDatum(typid == VARCHAROID ? typmod : -1);
	v[5] = Int16GetDatum(attnum);
	tt = catalog_exec("INSERT INTO privacy.encrypted_columns (table_name, column_name, subject, key_id, typmod, attnum) "
					  "VALUES ($1::regclass, $2::name, $3, $4, $5, $6) RETURNING id",
					  6, argt, v, nulls, SPI_OK_INSERT_RETURNING, NULL);
	return DatumGetInt64(SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull));
}

/*
 * prepare_table
 *		Before the rewrite: drop the table's _decrypted view (rebuilt after;
 *		it must not pin the column's type), widen varchar(n) to varchar (the
 *		ciphertext is longer; the trigger checks n instead) and create the
 *		column's write trigger.  Inside SPI, as the table owner.
 */
static void
prepare_table(Oid relid, const char *qualrel, const char *colname, Oid typid, int32 typmod,
			  int64 colid)
{
	Oid			argt[1] = {OIDOID};
	Datum		v[1];
	SPITupleTable *tt;
	uint64		n;

	v[0] = ObjectIdGetDatum(relid);
	tt = catalog_exec("SELECT view::pg_catalog.oid FROM privacy.encrypted_columns "
					  "WHERE table_name = $1::regclass AND view IS NOT NULL LIMIT 1",
					  1, argt, v, NULL, SPI_OK_SELECT, &n);
	if (n == 1)
	{
		bool		isnull;

		drop_view(DatumGetObjectId(SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull)));
	}
	if (typid == VARCHAROID && typmod >= 0)
		spi_exec(psprintf("ALTER TABLE %s ALTER COLUMN %s TYPE pg_catalog.varchar",
						  qualrel, quote_identifier(colname)), SPI_OK_UTILITY);
	spi_exec(psprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s FOR EACH ROW "
					  "EXECUTE FUNCTION privacy.encrypt_trigger('%lld')",
					  quote_identifier(psprintf(CRYPTO_TRIGGER_PREFIX "%lld", (long long) colid)),
					  qualrel, (long long) colid),
			 SPI_OK_UTILITY);
}

/*
 * pgcrypto_schema
 *		The schema pgcrypto is installed in; 55000 when it is not.
 */
static char *
pgcrypto_schema(void)
{
	int			ret;

	ret = SPI_execute("SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n "
					  "ON n.oid OPERATOR(pg_catalog.=) e.extnamespace WHERE e.extname OPERATOR(pg_catalog.=) 'pgcrypto'",
					  true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up extension \"pgcrypto\": %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pgcrypto\" is not installed"),
				 errhint("Run CREATE EXTENSION pgcrypto in this database first.")));
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * rewrite_values
 *		Encrypt the values already in the column: an UPDATE of every
 *		non-null value, which the write trigger encrypts (with progress);
 *		with pgp_pass each value is first decrypted by pgcrypto (the
 *		passphrase only ever travels as a parameter).  Returns the rows
 *		rewritten; *subject_keys the subject keys the rewrite created.
 */
static uint64
rewrite_values(const char *qualrel, const char *colname, int64 colid, const char *pgp_pass,
			   uint64 *subject_keys)
{
	const char *col = quote_identifier(colname);
	volatile uint64 n = 0;

	CryptoSetRewriteColumn(colid);
	KeysDeferSubjectAudit(true);
	PG_TRY();
	{
		if (pgp_pass == NULL)
			n = spi_exec(psprintf("UPDATE %s SET %s = %s WHERE %s IS NOT NULL",
								  qualrel, col, col, col), SPI_OK_UPDATE);
		else
		{
			Oid			argt[1] = {TEXTOID};
			Datum		v[1];
			int			ret;

			v[0] = CStringGetTextDatum(pgp_pass);
			ret = SPI_execute_with_args(psprintf("UPDATE %s SET %s = %s.pgp_sym_decrypt_bytea(%s, $1) WHERE %s IS NOT NULL",
												 qualrel, col, quote_identifier(pgcrypto_schema()),
												 col, col),
										1, argt, v, NULL, false, 0);
			if (ret != SPI_OK_UPDATE)
				elog(ERROR, "could not decrypt the pgcrypto values: %s", SPI_result_code_string(ret));
			n = SPI_processed;
		}
	}
	PG_FINALLY();
	{
		CryptoSetRewriteColumn(0);
		*subject_keys = KeysDeferSubjectAudit(false);
	}
	PG_END_TRY();
	return n;
}

/*
 * add_ciphertext_check, drop_ciphertext_check
 *		The column's CHECK constraint CRYPTO_CHECK_PREFIX<id>: every stored
 *		value has the form of a ciphertext (privacy._is_ciphertext, no key
 *		needed), so that a write that no trigger sees (ALTER TABLE ...
 *		DISABLE TRIGGER, session_replication_role = replica) cannot store
 *		plaintext.  Added after the rewrite (its check then finds only
 *		ciphertext), NO INHERIT (inheritance children are other tables,
 *		whose columns are not encrypted).  Inside SPI, as the table owner.
 */
static void
add_ciphertext_check(const char *qualrel, const char *colname, int64 colid)
{
	spi_exec(psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (privacy._is_ciphertext(%s)) NO INHERIT",
					  qualrel, quote_identifier(psprintf(CRYPTO_CHECK_PREFIX "%lld", (long long) colid)),
					  quote_identifier(colname)),
			 SPI_OK_UTILITY);
}

static void
drop_ciphertext_check(const char *qualrel, int64 colid)
{
	spi_exec(psprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", qualrel,
					  quote_identifier(psprintf(CRYPTO_CHECK_PREFIX "%lld", (long long) colid))),
			 SPI_OK_UTILITY);
}

/*
 * encrypt_column_common
 *		encrypt_column, and migrate_pgcrypto_column when pgp_pass is set (the
 *		rewrite then decrypts each value with pgcrypto first; the trigger
 *		encrypts the result before it is stored).
 */
static Datum
encrypt_column_common(FunctionCallInfo fcinfo, const char *pgp_pass)
{
	Oid			relid;
	char	   *colname;
	AttrNumber	attnum;
	Oid			typid;
	int32		typmod;
	Oid			coll;
	char	   *subject = NULL;
	int64		colid;
	int64		key_id;
	char	   *qualrel;
	uint64		n;
	uint64		subject_keys = 0;
	int			frame;

	KeysRequireRootKey();
	attnum = check_table_arg(fcinfo, &relid, &colname);
	if (!PG_ARGISNULL(2))
		subject = text_to_cstring(PG_GETARG_TEXT_PP(2));
	get_atttypetypmodcoll(relid, attnum, &typid, &typmod, &coll);
	check_column_type(colname, typid, pgp_pass != NULL);
	CitusRefuseDistributed(relid, "privacy.encrypt_column()");	/* CITUS HOOK */
	LockRelationOid(relid, typmod >= 0 && typid == VARCHAROID ? AccessExclusiveLock : ShareRowExclusiveLock);
	check_binding(relid, attnum, colname, subject);

	UtilSpiConnect();
	qualrel = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
	colid = register_column(relid, qualrel, colname, attnum, typid, typmod, subject, &key_id);
	frame = enter_table_owner(relid);
	prepare_table(relid, qualrel, colname, typid, typmod, colid);
	n = rewrite_values(qualrel, colname, colid, pgp_pass, &subject_keys);
	add_ciphertext_check(qualrel, colname, colid);
	build_view(relid);
	GuardLeave(frame);
	SPI_finish();
	if (n >= CRYPTO_PROGRESS_ROWS)
		ereport(NOTICE, (errmsg("%llu rows encrypted", (unsigned long long) n)));

	KeysAudit(pgp_pass ? "migrate_pgcrypto_column" : "encrypt_column", NULL,
			  psprintf("{\"table\": %s, \"column\": %s, \"subject\": %s, \"key_id\": %lld, \"rows\": %llu, \"subject_keys_created\": %llu}",
					   json_str(qualrel), json_str(colname), subject ? json_str(subject) : "null",
					   (long long) key_id, (unsigned long long) n, (unsigned long long) subject_keys));
	PG_RETURN_VOID();
}

/*
 * drop_write_triggers
 *		Drop the write triggers of column colid of relid: its trigger, under
 *		its name or the one it had before 0.2.0 (privacy_encrypt_<id>, from
 *		a dump restored while event triggers were off).  Inside SPI, as the
 *		table owner.
 */
static void
drop_write_triggers(Oid relid, const char *qualrel, int64 colid)
{
	Oid			argt[2] = {OIDOID, TEXTOID};
	Datum		v[2];
	int			ret;
	SPITupleTable *tt;
	uint64		n;

	v[0] = ObjectIdGetDatum(relid);
	v[1] = CStringGetTextDatum(psprintf("%lld", (long long) colid));
	ret = SPI_execute_with_args("SELECT t.tgname::pg_catalog.text FROM pg_catalog.pg_trigger t "
								"WHERE t.tgrelid OPERATOR(pg_catalog.=) $1 "
								"AND t.tgfoid OPERATOR(pg_catalog.=) 'privacy.encrypt_trigger()'::pg_catalog.regprocedure "
								"AND t.tgargs OPERATOR(pg_catalog.=) (pg_catalog.convert_to($2, 'SQL_ASCII') "
								"OPERATOR(pg_catalog.||) '\\x00'::pg_catalog.bytea)",
								2, argt, v, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the table's triggers: %s", SPI_result_code_string(ret));
	tt = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
		spi_exec(psprintf("DROP TRIGGER %s ON %s",
						  quote_identifier(SPI_getvalue(tt->vals[i], tt->tupdesc, 1)), qualrel),
				 SPI_OK_UTILITY);
}

/*
 * privacy_decrypt_column
 *		decrypt_column(tbl regclass, col name): writes the plaintext back
 *		(values under destroyed keys become NULL), removes the trigger and the
 *		registration, restores varchar(n), rebuilds or drops the view.
 */
Datum
privacy_decrypt_column(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *colname;
	int64		colid;
	int32		typmod;
	char	   *qualrel;
	SPITupleTable *tt;
	uint64		n;
	bool		isnull;
	Oid			argt[2] = {OIDOID, TEXTOID};
	Datum		v[2];
	char	   *expr;
	Oid			viewid;
	int			frame;

	KeysRequireRootKey();
	(void) check_table_arg(fcinfo, &relid, &colname);
	LockRelationOid(relid, AccessExclusiveLock);
	UtilSpiConnect();
	v[0] = ObjectIdGetDatum(relid);
	v[1] = CStringGetTextDatum(colname);
	tt = catalog_exec("SELECT id, coalesce(typmod, -1), view::pg_catalog.oid FROM privacy.encrypted_columns "
					  "WHERE table_name = $1::regclass AND column_name = $2::name",
					  2, argt, v, NULL, SPI_OK_SELECT, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" is not encrypted", colname)));
	colid = DatumGetInt64(SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull));
	typmod = DatumGetInt32(SPI_getbinval(tt->vals[0], tt->tupdesc, 2, &isnull));
	viewid = DatumGetObjectId(SPI_getbinval(tt->vals[0], tt->tupdesc, 3, &isnull));
	if (isnull)
		viewid = InvalidOid;
	frame = enter_table_owner(relid);
	qualrel = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
	/* before the view goes: the ALTER TABLE would give it back */
	drop_ciphertext_check(qualrel, colid);
	drop_view(viewid);
	drop_write_triggers(relid, qualrel, colid);
	expr = CryptoColumnReadExpr(colid, relid, colname, -1, "t");
	n = spi_exec(psprintf("UPDATE %s AS t SET %s = %s WHERE t.%s IS NOT NULL", qualrel,
						  quote_identifier(colname), expr, quote_identifier(colname)),
				 SPI_OK_UPDATE);
	if (typmod >= 0)
		spi_exec(psprintf("ALTER TABLE %s ALTER COLUMN %s TYPE %s", qualrel, quote_identifier(colname),
						  format_type_with_typemod(VARCHAROID, typmod)), SPI_OK_UTILITY);
	catalog_exec("DELETE FROM privacy.encrypted_columns WHERE table_name = $1::regclass "
				 "AND column_name = $2::name", 2, argt, v, NULL, SPI_OK_DELETE, NULL);
	build_view(relid);
	GuardLeave(frame);
	SPI_finish();
	KeysAudit("decrypt_column", NULL,
				psprintf("{\"table\": %s, \"column\": %s, \"rows\": %llu}",
						 json_str(qualrel), json_str(colname), (unsigned long long) n));
	PG_RETURN_VOID();
}

/*
 * eq_operator
 *		"OPERATOR(schema.=)" of the default equality of typid.
 */
static char *
eq_operator(Oid typid)
{
	TypeCacheEntry *tc = lookup_type_cache(typid, TYPECACHE_EQ_OPR);
	HeapTuple	tup;
	Form_pg_operator op;
	char	   *res;

	if (!OidIsValid(tc->eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("no equality operator for type %s", format_type_be(typid))));
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(tc->eq_opr));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", tc->eq_opr);
	op = (Form_pg_operator) GETSTRUCT(tup);
	res = psprintf("OPERATOR(%s.%s)", quote_identifier(get_namespace_name(op->oprnamespace)),
				   NameStr(op->oprname));
	ReleaseSysCache(tup);
	return res;
}

/*
 * A write through a _decrypted view, as one statement on the table: its
 * SQL and parameters.
 */
typedef struct ViewWrite
{
	StringInfoData sql;
	Oid		   *argtypes;
	Datum	   *values;
	char	   *nulls;
	int			nargs;
} ViewWrite;

/* add a parameter; returns its number */
static int
view_write_arg(ViewWrite *w, Oid type, Datum value, bool isnull)
{
	w->argtypes[w->nargs] = type;
	w->values[w->nargs] = value;
	w->nulls[w->nargs] = isnull ? 'n' : ' ';
	return ++w->nargs;
}

/*
 * view_base_table
 *		The table whose _decrypted view viewrel is, found through
 *		privacy.encrypted_columns.view (RENAME and dump/restore keep it);
 *		42704 for any other view.
 */
static Oid
view_base_table(Relation viewrel)
{
	Oid			argt[1] = {OIDOID};
	Datum		v[1];
	uint64		n;
	SPITupleTable *tt;
	bool		isnull;

	v[0] = ObjectIdGetDatum(RelationGetRelid(viewrel));
	tt = catalog_exec("SELECT table_name::oid FROM privacy.encrypted_columns "
					  "WHERE view = $1::regclass LIMIT 1", 1, argt, v, NULL, SPI_OK_SELECT, &n);
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("view \"%s\" is not the decrypted view of an encrypted table",
						RelationGetRelationName(viewrel))));
	return DatumGetObjectId(SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull));
}

/*
 * view_insert
 *		INSERT INTO the table the view row tup's columns that the table
 *		has and does not generate.
 */
static void
view_insert(ViewWrite *w, Relation rel, const char *qualrel, TupleDesc vdesc, HeapTuple tup)
{
	TupleDesc	bdesc = RelationGetDescr(rel);
	StringInfoData vals;

	initStringInfo(&vals);
	appendStringInfo(&w->sql, "INSERT INTO %s (", qualrel);
	for (int a = 0; a < vdesc->natts; a++)
	{
		Form_pg_attribute va = TupleDescAttr(vdesc, a);
		AttrNumber	ba = get_attnum(RelationGetRelid(rel), NameStr(va->attname));
		bool		isnull;
		Datum		d;
		int			argno;

		if (va->attisdropped || ba == InvalidAttrNumber ||
			TupleDescAttr(bdesc, ba - 1)->attgenerated)
			continue;
		d = heap_getattr(tup, a + 1, vdesc, &isnull);
		argno = view_write_arg(w, va->atttypid, d, isnull);
		appendStringInfo(&w->sql, "%s%s", argno > 1 ? ", " : "", quote_identifier(NameStr(va->attname)));
		appendStringInfo(&vals, "%s$%d", argno > 1 ? ", " : "", argno);
	}
	appendStringInfo(&w->sql, ") VALUES (%s)", vals.data);
}

/*
 * view_update_set
 *		UPDATE the table SET the columns whose value differs between the
 *		view rows oldtup and newtup; false when none does.
 */
static bool
view_update_set(ViewWrite *w, const char *qualrel, TupleDesc vdesc, HeapTuple oldtup,
				HeapTuple newtup)
{
	appendStringInfo(&w->sql, "UPDATE %s SET ", qualrel);
	for (int a = 0; a < vdesc->natts; a++)
	{
		Form_pg_attribute va = TupleDescAttr(vdesc, a);
		bool		n1,
					n2;
		Datum		d1,
					d2;
		int			argno;

		if (va->attisdropped)
			continue;
		d1 = heap_getattr(oldtup, a + 1, vdesc, &n1);
		d2 = heap_getattr(newtup, a + 1, vdesc, &n2);
		if (n1 == n2 && (n1 || datumIsEqual(d1, d2, va->attbyval, va->attlen)))
			continue;
		argno = view_write_arg(w, va->atttypid, d2, n2);
		appendStringInfo(&w->sql, "%s%s = $%d", argno > 1 ? ", " : "",
						 quote_identifier(NameStr(va->attname)), argno);
	}
	return w->nargs > 0;
}

/*
 * view_key_where
 *		WHERE clause matching the table's row of the view row tup by primary
 *		key (the type's default equality, schema-qualified).
 */
static void
view_key_where(ViewWrite *w, Relation rel, TupleDesc vdesc, HeapTuple tup)
{
	TupleDesc	bdesc = RelationGetDescr(rel);
	AttrNumber	keys[CRYPTO_MAX_KEY_PARTS];
	int			nkeys = CryptoPrimaryKey(rel, keys);

	appendStringInfoString(&w->sql, " WHERE ");
	for (int i = 0; i < nkeys; i++)
	{
		Form_pg_attribute ka = TupleDescAttr(bdesc, keys[i] - 1);
		int			va = -1;
		bool		isnull;
		Datum		d;
		int			argno;

		for (int a = 0; a < vdesc->natts; a++)
			if (!TupleDescAttr(vdesc, a)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(vdesc, a)->attname), NameStr(ka->attname)) == 0)
				va = a;
		if (va < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("the decrypted view lacks primary key column \"%s\"", NameStr(ka->attname))));
		d = heap_getattr(tup, va + 1, vdesc, &isnull);
		argno = view_write_arg(w, ka->atttypid, d, isnull);
		appendStringInfo(&w->sql, "%s%s %s $%d", i > 0 ? " AND " : "",
						 quote_identifier(NameStr(ka->attname)), eq_operator(ka->atttypid), argno);
	}
}

/*
 * privacy_decrypted_view_trigger
 *		INSTEAD OF INSERT OR UPDATE OR DELETE on a _decrypted view: apply the
 *		write to the table (as the current user; the table's trigger
 *		encrypts).  The table is found through privacy.encrypted_columns.view,
 *		so RENAME and dump/restore keep working.
 */
Datum
privacy_decrypted_view_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Oid			relid;
	TupleDesc	vdesc;
	Relation	rel;
	ViewWrite	w;
	HeapTuple	newtup;
	HeapTuple	oldtup;
	char	   *qualrel;
	int			ret;

	/* nothing of td is read before it is known to be a trigger call */
	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_INSTEAD(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"privacy.decrypted_view_trigger\" must be fired INSTEAD OF ... FOR EACH ROW")));
	newtup = td->tg_newtuple;
	oldtup = td->tg_trigtuple;
	vdesc = RelationGetDescr(td->tg_relation);
	UtilSpiConnect();
	relid = view_base_table(td->tg_relation);
	qualrel = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
	rel = table_open(relid, AccessShareLock);

	memset(&w, 0, sizeof(w));
	w.argtypes = palloc(sizeof(Oid) * (vdesc->natts + CRYPTO_MAX_KEY_PARTS));
	w.values = palloc(sizeof(Datum) * (vdesc->natts + CRYPTO_MAX_KEY_PARTS));
	w.nulls = palloc(vdesc->natts + CRYPTO_MAX_KEY_PARTS);
	initStringInfo(&w.sql);
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		view_insert(&w, rel, qualrel, vdesc, oldtup);
		newtup = oldtup;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		if (!view_update_set(&w, qualrel, vdesc, oldtup, newtup))
		{
			table_close(rel, AccessShareLock);
			SPI_finish();
			return PointerGetDatum(newtup);
		}
		view_key_where(&w, rel, vdesc, oldtup);
	}
	else
	{
		appendStringInfo(&w.sql, "DELETE FROM %s", qualrel);
		view_key_where(&w, rel, vdesc, oldtup);
		newtup = oldtup;
	}
	table_close(rel, AccessShareLock);

	ret = SPI_execute_with_args(w.sql.data, w.nargs, w.argtypes, w.values, w.nulls, false, 0);
	if (ret != SPI_OK_INSERT && ret != SPI_OK_UPDATE && ret != SPI_OK_DELETE)
		elog(ERROR, "could not write through the decrypted view: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		newtup = NULL;
	SPI_finish();
	return PointerGetDatum(newtup);
}

/*
 * privacy_migrate_pgcrypto_column
 *		migrate_pgcrypto_column(tbl regclass, col name, passphrase_file text,
 *		subject text DEFAULT NULL): a bytea column holding pgp_sym_encrypt
 *		output becomes an encrypted column of ours, in place.  The passphrase
 *		is read from a server-side file (superuser only), never from SQL.
 */
Datum
privacy_migrate_pgcrypto_column(PG_FUNCTION_ARGS)
{
	char	   *path;
	char		buf[1024];
	size_t		n;
	FILE	   *f;
	Datum		result;
	LOCAL_FCINFO(sub, 3);

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers can migrate pgcrypto columns"),
				 errhint("It reads the passphrase from a server-side file.")));
	if (PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("argument \"passphrase_file\" must not be null")));
	path = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (!is_absolute_path(path))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("passphrase_file must be an absolute path")));
	f = fopen(path, "r");
	if (f == NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("could not open the passphrase file \"%s\"", path)));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n == 0)
	{
		sodium_memzero(buf, sizeof(buf));
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("the passphrase file is empty")));
	}

	/* tbl, col, subject as encrypt_column takes them */
	InitFunctionCallInfoData(*sub, fcinfo->flinfo, 3, InvalidOid, NULL, NULL);
	sub->args[0] = fcinfo->args[0];
	sub->args[1] = fcinfo->args[1];
	sub->args[2] = fcinfo->args[3];
	PG_TRY();
	{
		result = encrypt_column_common(sub, buf);
	}
	PG_FINALLY();
	{
		sodium_memzero(buf, sizeof(buf));
	}
	PG_END_TRY();
	return result;
}

/*
 * privacy_crypto_follow_renames
 *		_crypto_follow_renames(tbl regclass), called by the event trigger
 *		after ALTER TABLE on a table with encrypted columns (the
 *		registrations already follow): the columns of its _decrypted view
 *		take the new names, so that writes through the view, which match
 *		columns by name, keep reaching them.  The view lists the table's
 *		columns in order and pins them (a column cannot be dropped without
 *		dropping the view), so the k-th column of the view is the k-th
 *		column of the table.  Runs as the view's owner.
 */
Datum
privacy_crypto_follow_renames(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			viewid = InvalidOid;
	List	   *renames = NIL;
	ListCell   *lc;
	Relation	rel,
				view;
	TupleDesc	bdesc,
				vdesc;
	int			b = 0,
				v = 0;
	PrivacyUserSwitch sw;
	char	   *qualview;

	UtilSpiConnect();
	{
		Oid			argt[1] = {OIDOID};
		Datum		vals[1];
		uint64		n;
		SPITupleTable *tt;
		bool		isnull;

		vals[0] = ObjectIdGetDatum(relid);
		tt = catalog_exec("SELECT view::oid FROM privacy.encrypted_columns "
						  "WHERE table_name OPERATOR(pg_catalog.=) $1::regclass AND view IS NOT NULL LIMIT 1",
						  1, argt, vals, NULL, SPI_OK_SELECT, &n);
		if (n == 1)
			viewid = DatumGetObjectId(SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull));
	}
	if (!OidIsValid(viewid) || get_rel_relkind(viewid) != RELKIND_VIEW)
	{
		/*
		 * The view went with a column (DROP COLUMN ... CASCADE of an
		 * encrypted column, which takes its registration too): the table's
		 * other encrypted columns get it back, built as the table's owner
		 */
		Oid			argt[1] = {OIDOID};
		Datum		vals[1];
		uint64		n;

		vals[0] = ObjectIdGetDatum(relid);
		(void) catalog_exec("SELECT 1 FROM privacy.encrypted_columns WHERE table_name OPERATOR(pg_catalog.=) $1::regclass",
							1, argt, vals, NULL, SPI_OK_SELECT, &n);
		if (n > 0)
		{
			sw.frame = GuardEnterTableOwner(relid);
			build_view(relid);
			GuardLeave(sw.frame);
		}
		SPI_finish();
		PG_RETURN_VOID();
	}
	rel = table_open(relid, AccessShareLock);
	view = table_open(viewid, AccessShareLock);
	bdesc = RelationGetDescr(rel);
	vdesc = RelationGetDescr(view);
	while (b < bdesc->natts && v < vdesc->natts)
	{
		Form_pg_attribute ba = TupleDescAttr(bdesc, b);
		Form_pg_attribute va = TupleDescAttr(vdesc, v);

		if (ba->attisdropped)
		{
			b++;
			continue;
		}
		if (va->attisdropped)
		{
			v++;
			continue;
		}
		if (strcmp(NameStr(ba->attname), NameStr(va->attname)) != 0)
			renames = lappend(renames,
							  psprintf("RENAME COLUMN %s TO %s", quote_identifier(NameStr(va->attname)),
									   quote_identifier(NameStr(ba->attname))));
		b++;
		v++;
	}
	qualview = quote_qualified_identifier(get_namespace_name(get_rel_namespace(viewid)),
										  get_rel_name(viewid));
	table_close(view, AccessShareLock);
	table_close(rel, AccessShareLock);
	if (renames != NIL)
	{
		sw.frame = GuardEnterTableOwner(viewid);
		foreach(lc, renames)
			spi_exec(psprintf("ALTER VIEW %s %s", qualview, (char *) lfirst(lc)), SPI_OK_UTILITY);
		GuardLeave(sw.frame);
	}
	SPI_finish();
	PG_RETURN_VOID();
}
/* ------------------------------------------------------------------------
 * The primary key of a table with encrypted columns
 * ------------------------------------------------------------------------
 */

/*
 * An ALTER TABLE under way on a table with encrypted columns: its primary
 * key when the command started (ddl_command_start), compared with the key
 * at its end (ddl_command_end).  A stack, for ALTER TABLE run from inside
 * another; entries of an aborted subtransaction are dropped with it.
 */
typedef struct KeyGuardTable
{
	Oid			relid;
	int			nkeys;
	AttrNumber	keys[CRYPTO_MAX_KEY_PARTS];
} KeyGuardTable;

/*
 * The tables with encrypted columns an ALTER TABLE can reach: its table,
 * and the partitions and inheritance children it recurses to (an encrypted
 * table attached as a partition loses its key with the parent's, and a
 * type change of the parent's column changes the children's).
 */
typedef struct KeyGuard
{
	SubTransactionId subid;
	int			ntables;		/* 0: none with encrypted columns */
	KeyGuardTable tables[FLEXIBLE_ARRAY_MEMBER];
} KeyGuard;

static List *key_guards = NIL;	/* KeyGuard *, in TopMemoryContext, top last */
static bool key_guard_callbacks = false;

static void
key_guard_xact(XactEvent event, void *arg)
{
	if (key_guards != NIL)
	{
		list_free_deep(key_guards);
		key_guards = NIL;
	}
}

static void
key_guard_subxact(SubXactEvent event, SubTransactionId mySubid,
				  SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	while (key_guards != NIL && ((KeyGuard *) llast(key_guards))->subid >= mySubid)
	{
		KeyGuard   *g = llast(key_guards);

		key_guards = list_delete_last(key_guards);
		pfree(g);
	}
}

/*
 * table_key
 *		The primary-key columns of relid as pg_index has them now (a new
 *		snapshot; no lock on the table: ddl_command_start comes before the
 *		command's own); 0 when it has none.  Inside SPI.
 */
static int
table_key(Oid relid, AttrNumber *keys)
{
	Oid			argt[1] = {OIDOID};
	Datum		v[1];
	int			ret;
	int			n = 0;
	bool		isnull;
	Datum		d;

	v[0] = ObjectIdGetDatum(relid);
	ret = SPI_execute_with_args("SELECT i.indkey::pg_catalog.int2[] FROM pg_catalog.pg_index i "
								"WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisprimary",
								1, argt, v, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the primary key: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return 0;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
	{
		ArrayType  *a = DatumGetArrayTypeP(d);
		int16	   *vals = (int16 *) ARR_DATA_PTR(a);

		n = Min(ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)), CRYPTO_MAX_KEY_PARTS);
		for (int i = 0; i < n; i++)
			keys[i] = vals[i];
	}
	return n;
}

/*
 * has relid encrypted columns, and still a write trigger?  A table whose
 * write triggers were dropped (pg_restore --clean drops a table's triggers,
 * then its constraints, then the table) stores what it is given: its key
 * is no longer guarded.  Inside SPI.
 */
static bool
has_encrypted_columns(Oid relid)
{
	Oid			argt[1] = {OIDOID};
	Datum		v[1];
	uint64		n;

	v[0] = ObjectIdGetDatum(relid);
	(void) catalog_exec("SELECT 1 FROM privacy.encrypted_columns "
						"WHERE table_name OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
						"AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t "
						"WHERE t.tgrelid OPERATOR(pg_catalog.=) $1 "
						"AND t.tgfoid OPERATOR(pg_catalog.=) 'privacy.encrypt_trigger()'::pg_catalog.regprocedure) "
						"LIMIT 1",
						1, argt, v, NULL, SPI_OK_SELECT, &n);
	return n > 0;
}

/* integer types print a value alike; so do text and varchar */
static int
type_family(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return 1;
		case TEXTOID:
		case VARCHAROID:
			return 2;
		default:
			return 0;
	}
}

/*
 * check_key_type_change
 *		ALTER COLUMN ... TYPE of primary-key column attnum of relid, to
 *		def's type: the values' text in the associated data must stay the
 *		same, so only a change within the integers or within text/varchar,
 *		without USING, is allowed; anything else is 0A000 before the table
 *		is rewritten (the rewrite fires no trigger: every value would be
 *		left bound to the old text).
 */
static void
check_key_type_change(Oid relid, AttrNumber attnum, ColumnDef *def)
{
	Oid			oldtype;
	int32		oldtypmod;
	Oid			oldcoll;
	Oid			newtype;
	int32		newtypmod;
	Type		tup;
	bool		same = false;

	get_atttypetypmodcoll(relid, attnum, &oldtype, &oldtypmod, &oldcoll);
	tup = LookupTypeName(NULL, def->typeName, &newtypmod, true);
	if (tup == NULL)
		return;					/* the command reports it */
	newtype = typeTypeId(tup);
	ReleaseSysCache(tup);
	if (def->raw_default == NULL)
		same = (newtype == oldtype && newtypmod == oldtypmod) ||
			(type_family(oldtype) != 0 && type_family(oldtype) == type_family(newtype));
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot change the type of primary key column \"%s\" of table \"%s\"",
						get_attname(relid, attnum, false), get_rel_name(relid)),
				 errdetail("The values of the table's encrypted columns are bound to the text of its primary key; a type change%s could change that text.",
						   def->raw_default != NULL ? " with USING" : ""),
				 errhint("Run privacy.decrypt_column on the encrypted columns, change the key, then run privacy.encrypt_column again; changes between integer types, or between text and varchar, are allowed.")));
}

/*
 * refuse_encrypted_partition
 *		ALTER TABLE ... ATTACH PARTITION of a table with encrypted columns:
 *		0A000, as encrypt_column refuses a partition.  Its rows could move
 *		to a sibling partition (an UPDATE of the partition key), whose
 *		column has neither the write trigger nor the ciphertext check, and
 *		rows written through the parent to a sibling are stored as given;
 *		partitioned tables have no encrypted columns.  A dump restores: its
 *		registrations are loaded after its ATTACH PARTITION.
 */
static void
refuse_encrypted_partition(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		Oid			part;
		bool		encrypted;

		if (cmd->subtype != AT_AttachPartition || cmd->def == NULL ||
			!IsA(cmd->def, PartitionCmd))
			continue;
		part = RangeVarGetRelid(((PartitionCmd *) cmd->def)->name, NoLock, true);
		if (!OidIsValid(part))
			continue;			/* the command reports it */
		UtilSpiConnect();
		encrypted = has_encrypted_columns(part);
		SPI_finish();
		if (encrypted)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot attach table \"%s\" as a partition: it has encrypted columns",
							get_rel_name(part)),
					 errdetail("Its rows could move to another partition, whose column is not encrypted."),
					 errhint("Run privacy.decrypt_column on its encrypted columns first; a partition's columns cannot be encrypted.")));
	}
}

/*
 * key_guard_start
 *		ddl_command_start of ALTER TABLE: remember the table's primary key
 *		when it has encrypted columns, and refuse a type change of a key
 *		column that could change the values' binding.
 */
static void
key_guard_start(Node *parsetree)
{
	KeyGuard   *g;
	MemoryContext old;
	Oid			relid = InvalidOid;
	List	   *members = NIL;
	List	   *encrypted = NIL;
	ListCell   *mc;
	char		relkind;

	if (parsetree != NULL && IsA(parsetree, AlterTableStmt) &&
		((AlterTableStmt *) parsetree)->relation != NULL &&
		OidIsValid(KeysCatalogRelid("encrypted_columns", true)))
		relid = RangeVarGetRelid(((AlterTableStmt *) parsetree)->relation, NoLock, true);
	relkind = OidIsValid(relid) ? get_rel_relkind(relid) : '\0';
	if (relkind == RELKIND_PARTITIONED_TABLE)
		refuse_encrypted_partition((AlterTableStmt *) parsetree);
	if (relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE)
		members = has_subclass(relid) ? find_all_inheritors(relid, NoLock, NULL)
			: list_make1_oid(relid);
	g = MemoryContextAllocZero(TopMemoryContext, offsetof(KeyGuard, tables) +
							   sizeof(KeyGuardTable) * Max(list_length(members), 1));

	if (!key_guard_callbacks)
	{
		RegisterXactCallback(key_guard_xact, NULL);
		RegisterSubXactCallback(key_guard_subxact, NULL);
		key_guard_callbacks = true;
	}
	g->subid = GetCurrentSubTransactionId();
	old = MemoryContextSwitchTo(TopMemoryContext);
	key_guards = lappend(key_guards, g);
	MemoryContextSwitchTo(old);

	if (members == NIL)
		return;
	UtilSpiConnect();
	if (list_length(members) == 1)
		encrypted = has_encrypted_columns(relid) ? members : NIL;
	else
	{
		/* one query for a table of many partitions */
		Oid			argt[1] = {OIDARRAYOID};
		Datum	   *elems = palloc(sizeof(Datum) * list_length(members));
		Datum		v[1];
		uint64		n;
		SPITupleTable *tt;

		foreach(mc, members)
			elems[foreach_current_index(mc)] = ObjectIdGetDatum(lfirst_oid(mc));
		v[0] = PointerGetDatum(construct_array(elems, list_length(members), OIDOID,
											   sizeof(Oid), true, TYPALIGN_INT));
		tt = catalog_exec("SELECT DISTINCT e.table_name::pg_catalog.oid FROM privacy.encrypted_columns e "
						  "WHERE e.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1) "
						  "AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t "
						  "WHERE t.tgrelid OPERATOR(pg_catalog.=) e.table_name::pg_catalog.oid "
						  "AND t.tgfoid OPERATOR(pg_catalog.=) 'privacy.encrypt_trigger()'::pg_catalog.regprocedure)",
						  1, argt, v, NULL, SPI_OK_SELECT, &n);
		for (uint64 i = 0; i < n; i++)
		{
			bool		isnull;

			encrypted = lappend_oid(encrypted,
									DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull)));
		}
	}
	foreach(mc, encrypted)
	{
		Oid			member = lfirst_oid(mc);
		KeyGuardTable *t = &g->tables[g->ntables];

		if (get_rel_relkind(member) != RELKIND_RELATION)
			continue;
		t->relid = member;
		t->nkeys = table_key(member, t->keys);
		g->ntables++;
	}
	SPI_finish();
	for (int m = 0; m < g->ntables; m++)
	{
		KeyGuardTable *t = &g->tables[m];
		ListCell   *lc;

		foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
			AttrNumber	attnum;

			if (cmd->subtype != AT_AlterColumnType || cmd->name == NULL)
				continue;
			attnum = get_attnum(t->relid, cmd->name);
			for (int i = 0; i < t->nkeys; i++)
				if (t->keys[i] == attnum && attnum != InvalidAttrNumber)
					check_key_type_change(t->relid, attnum, castNode(ColumnDef, cmd->def));
		}
	}
}

/*
 * key_guard_end
 *		ddl_command_end of ALTER TABLE: a table with encrypted columns keeps
 *		the primary key its values are bound to (the same columns, in the
 *		same order), else 55000 and the command is undone.  A table that
 *		had none when the command started (a dump being restored adds it
 *		after loading the data) may get one.
 */
static void
key_guard_end(void)
{
	KeyGuard   *g;
	AttrNumber	keys[CRYPTO_MAX_KEY_PARTS];
	int			nkeys;
	bool		same = true;
	Oid			changed = InvalidOid;

	if (key_guards == NIL)
		return;
	g = llast(key_guards);
	key_guards = list_delete_last(key_guards);
	for (int m = 0; m < g->ntables && same; m++)
	{
		KeyGuardTable *t = &g->tables[m];

		if (t->nkeys == 0 || get_rel_relkind(t->relid) != RELKIND_RELATION)
			continue;
		UtilSpiConnect();
		nkeys = table_key(t->relid, keys);
		same = has_encrypted_columns(t->relid) ? nkeys == t->nkeys : true;
		SPI_finish();
		for (int i = 0; same && i < nkeys; i++)
			same = keys[i] == t->keys[i];
		if (!same)
			changed = t->relid;
	}
	if (!same)
	{
		char	   *relname = get_rel_name(changed);

		pfree(g);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot change the primary key of table \"%s\"", relname),
				 errdetail("The values of its encrypted columns are bound to its primary key."),
				 errhint("Run privacy.decrypt_column on its encrypted columns, change the key, then run privacy.encrypt_column again.  To rebuild the key's index, drop the constraint and add it on the same columns in one ALTER TABLE.")));
	}
	pfree(g);
}

/*
 * privacy_crypto_guard_key
 *		_crypto_guard_key() RETURNS event_trigger, on ddl_command_start and
 *		ddl_command_end of ALTER TABLE: values of encrypted columns are bound
 *		to their row's primary key, which must therefore stay (see
 *		key_guard_start and key_guard_end).  Reads the catalog as its owner;
 *		runs no user code.
 */
Datum
privacy_crypto_guard_key(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy._crypto_guard_key() can only be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (strcmp(trigdata->event, "ddl_command_start") == 0)
		key_guard_start(trigdata->parsetree);
	else
		key_guard_end();
	PG_RETURN_VOID();
}
