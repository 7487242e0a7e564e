/*-------------------------------------------------------------------------
 * map_api.c
 *		The SQL API of the data map: define_subject, link, refresh_subject,
 *		refresh_all, data_map and _invalidate.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"
#include "utils/typcache.h"

#include "citus.h"
#include "guard.h"
#include "map.h"
#include "privacy.h"

PG_FUNCTION_INFO_V1(privacy_link_key);
PG_FUNCTION_INFO_V1(privacy_define_subject);
PG_FUNCTION_INFO_V1(privacy_link);
PG_FUNCTION_INFO_V1(privacy_lock_maps);
PG_FUNCTION_INFO_V1(privacy_refresh_subject);
PG_FUNCTION_INFO_V1(privacy_refresh_all);
PG_FUNCTION_INFO_V1(privacy_data_map);
PG_FUNCTION_INFO_V1(privacy_invalidate);
PG_FUNCTION_INFO_V1(privacy_config_changed);

/* ------------------------------------------------------------------------
 * SQL-callable functions
 * ------------------------------------------------------------------------
 */

/*
 * privacy._invalidate() — called by the SQL configuration functions.
 */
Datum
privacy_invalidate(PG_FUNCTION_ARGS)
{
	MapInvalidate();
	PG_RETURN_VOID();
}

/*
 * privacy._config_changed() — row (and TRUNCATE) trigger on the
 * configuration tables whose rows the map cache holds facts of
 * (classifications, recipients, retention): any change, by a configuration
 * function or by hand, drops every backend's map cache at commit (this
 * one's at once).
 */
Datum
privacy_config_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy._config_changed() can only be called as a trigger")));
	MapInvalidate();
	return PointerGetDatum(NULL);
}

/*
 * privacy.define_subject(name text, root regclass, key name DEFAULT NULL)
 *		Register (or re-register) a subject type and compute its map.
 */
Datum
privacy_define_subject(PG_FUNCTION_ARGS)
{
	char	   *name = UtilTextArg(fcinfo, 0, "name");
	Oid			root;
	char	   *key = NULL;
	AttrNumber	keyatt;
	int			ret;
	Oid			argtypes[4] = {TEXTOID, OIDOID, TEXTOID, INT2OID};
	Datum		values[4];
	char		detail[256];

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"root\" must not be null")));
	root = PG_GETARG_OID(1);
	if (strlen(name) == 0 || strlen(name) > 63)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subject type name must have 1 to 63 characters")));
	MapCheckTable(root, "root");
	if (!PG_ARGISNULL(2))
	{
		key = pstrdup(NameStr(*PG_GETARG_NAME(2)));
		keyatt = get_attnum(root, key);
		if (keyatt == InvalidAttrNumber || keyatt < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist", key, get_rel_name(root))));
	}

	UtilSpiConnect();
	values[0] = ObjectIdGetDatum(root);
	if (key == NULL)
	{
		/* the root's single-column primary key */
		Oid			t[1] = {OIDOID};

		ret = SPI_execute_with_args("SELECT a.attname::text FROM pg_catalog.pg_index i"
									" JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
									" WHERE i.indrelid = $1 AND i.indisprimary AND i.indnatts = 1",
									1, t, values, NULL, false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "primary key lookup failed: %s", SPI_result_code_string(ret));
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("table \"%s\" has no single-column primary key", get_rel_name(root)),
					 errhint("Name the key column: privacy.define_subject(name, root, key).")));
		key = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		keyatt = get_attnum(root, key);
	}
	else
	{
		/* the key must identify one row: a single-column unique index */
		Oid			t[2] = {OIDOID, INT2OID};
		Datum		v[2];

		v[0] = ObjectIdGetDatum(root);
		v[1] = Int16GetDatum(keyatt);
		ret = SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = $1"
									" AND i.indisunique AND i.indnkeyatts = 1 AND i.indkey[0] = $2"
									" AND i.indpred IS NULL",
									2, t, v, NULL, true, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "unique index lookup failed: %s", SPI_result_code_string(ret));
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" does not identify one row of \"%s\"", key, get_rel_name(root)),
					 errhint("The key column needs a primary key or a unique constraint of its own.")));
	}

	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(root);
	values[2] = CStringGetTextDatum(key);
	values[3] = Int16GetDatum(get_attnum(root, key));
	ret = SPI_execute_with_args("INSERT INTO privacy.subject_types (name, root, key_column, key_attnum) VALUES ($1, $2, $3, $4)"
								" ON CONFLICT (name) DO UPDATE SET root = EXCLUDED.root, key_column = EXCLUDED.key_column,"
								" key_attnum = EXCLUDED.key_attnum",
								4, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not store the subject type: %s", SPI_result_code_string(ret));
	SPI_finish();

	MapRefresh(name);
	MapInvalidate();
	CitusWarnColocation(MapGetSubject(name));	/* CITUS HOOK */
	snprintf(detail, sizeof(detail), "{\"root\":%u}", root);
	AuditAppend("define_subject", NULL, detail);
	PG_RETURN_VOID();
}

/*
 * check_link_spelling
 *		A text link column is matched on the canonical text of the id (so
 *		that its index is used): a value in another spelling of a key (an
 *		upper-case or braced uuid, '042' or ' 42' for a bigint key) would be
 *		invisible to access and survive erase.  For the built-in key types
 *		whose spellings are known (integers, uuid), refuse the link while
 *		rows hold such values, with their count and the statement that
 *		rewrites them.  Values that are no key at all ('anonymous') belong
 *		to nobody and are left alone.  Counts as the table's owner; runs
 *		inside SPI.
 */
static void
check_link_spelling(MapSubject *subj, Oid relid, AttrNumber att, const char *col, const char *filter)
{
	Oid			coltype,
				collid;
	int32		coltypmod;
	const char *canonical;
	const char *parses;
	PrivacyUserSwitch sw;
	int			ret;
	bool		isnull;
	int64		bad;

	get_atttypetypmodcoll(relid, att, &coltype, &coltypmod, &collid);
	if (coltype != TEXTOID && coltype != VARCHAROID && coltype != BPCHAROID)
		return;
	switch (getBaseType(subj->key_type))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			canonical = "^(0|-?[1-9][0-9]*)$";
			parses = "^\\s*[-+]?[0-9]+\\s*$";
			break;
		case NUMERICOID:
			/* MapParseId's spelling: no trailing zeros, no exponent */
			canonical = "^(0|-?([1-9][0-9]*|0(?=\\.))(\\.[0-9]*[1-9])?)$";
			parses = "^\\s*[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?\\s*$";
			break;
		case UUIDOID:
			/* rights calls match the upper-case spelling too (MapLinkMatch) */
			canonical = "^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
				"|[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12})$";
			parses = "^\\{?[0-9a-fA-F]{4}(-?[0-9a-fA-F]{4}){7}\\}?$";
			break;
		default:
			return;
	}
	sw.frame = GuardEnterTableOwner(relid);
	ret = SPI_execute(psprintf("SELECT pg_catalog.count(*) FROM %s t WHERE %s AND t.%s IS NOT NULL"
							   " AND CAST(t.%s AS pg_catalog.text) OPERATOR(pg_catalog.~) %s"
							   " AND NOT (CAST(t.%s AS pg_catalog.text) OPERATOR(pg_catalog.~) %s)",
							   UtilQualifiedName(relid), filter ? filter : "true", quote_identifier(col),
							   quote_identifier(col), quote_literal_cstr(parses),
							   quote_identifier(col), quote_literal_cstr(canonical)),
					  true, 0);
	GuardLeave(sw.frame);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not check the link column: %s", SPI_result_code_string(ret));
	bad = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (bad > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of \"%s\" holds %s keys in another spelling than their canonical text",
						col, get_rel_name(relid), format_type_be(subj->key_type)),
				 errdetail("%lld rows hold such a value; rights calls would not find them.",
						   (long long) bad),
				 getBaseType(subj->key_type) == NUMERICOID
				 ? errhint("Rewrite them to the canonical text first, e.g. UPDATE %s SET %s = CAST(trim_scale(CAST(%s AS numeric)) AS text) WHERE ...;",
						   UtilQualifiedName(relid), quote_identifier(col), quote_identifier(col))
				 : errhint("Rewrite them to the canonical text first, e.g. UPDATE %s SET %s = CAST(CAST(%s AS %s) AS text) WHERE ...;",
						   UtilQualifiedName(relid), quote_identifier(col), quote_identifier(col),
						   format_type_be(subj->key_type))));
}

/*
 * check_link_type_value
 *		A polymorphic link's type value that no row can hold is a typo that
 *		would make rights calls miss the subject's rows: a value that is not
 *		a label of an enum type column is refused; when the table has rows
 *		with a type value but none with this one, a WARNING says so.  The
 *		table is read as its owner (the column's output function is the
 *		user's).  The caller has connected SPI.
 */
static void
check_link_type_value(Oid relid, AttrNumber tatt, const char *tcol, const char *tval,
					  const char *filter)
{
	Oid			base = getBaseType(get_atttype(relid, tatt));
	PrivacyUserSwitch sw;
	int			ret;
	bool		isnull;
	bool		found,
				others;

	if (type_is_enum(base))
	{
		Oid			t[2] = {OIDOID, TEXTOID};
		Datum		v[2];

		v[0] = ObjectIdGetDatum(base);
		v[1] = CStringGetTextDatum(tval);
		ret = SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_enum WHERE enumtypid = $1"
									" AND CAST(enumlabel AS pg_catalog.text) OPERATOR(pg_catalog.=) $2",
									2, t, v, NULL, true, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "enum lookup failed: %s", SPI_result_code_string(ret));
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("type_value is not a label of type %s of column \"%s\"",
							format_type_be(base), tcol),
					 errhint("Labels are compared exactly, case included: SELECT enum_range(NULL::%s);",
							 format_type_be(base))));
		return;
	}
	sw.frame = GuardEnterTableOwner(relid);
	ret = SPI_execute(psprintf("SELECT EXISTS (SELECT 1 FROM %s t WHERE %s),"
							   " EXISTS (SELECT 1 FROM %s t WHERE t.%s IS NOT NULL)",
							   UtilQualifiedName(relid), filter,
							   UtilQualifiedName(relid), quote_identifier(tcol)),
					  true, 1);
	GuardLeave(sw.frame);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not check the type column: %s", SPI_result_code_string(ret));
	found = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	others = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (!found && others)
		ereport(WARNING,
				(errmsg("no row of \"%s\" holds type_value in column \"%s\"", get_rel_name(relid), tcol),
				 errdetail("Rows with other values exist. The link finds the subject's rows only where the column's text equals type_value exactly, case included."),
				 errhint("Check the spelling: SELECT DISTINCT %s FROM %s;", quote_identifier(tcol),
						 UtilQualifiedName(relid))));
}

/*
 * privacy.link(subject text, tbl regclass, key_column name)
 *		Declare a table whose column holds the subject's key value.
 */
Datum
privacy_link(PG_FUNCTION_ARGS)
{
	char	   *name = UtilTextArg(fcinfo, 0, "subject");
	Oid			relid;
	char	   *col;
	AttrNumber	att;
	MapSubject *subj;
	Oid			coltype,
				collid;
	int32		coltypmod;
	CoercionPathType path;
	Oid			funcid;
	int			ret;
	Oid			argtypes[6] = {TEXTOID, OIDOID, TEXTOID, TEXTOID, TEXTOID, OIDOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', 'n', 'n', 'n'};
	bool		distributed;
	char	   *tcol = NULL;
	char	   *tval = NULL;
	MapHop		th;
	Oid			target = InvalidOid;
	bool		settarget = false;	/* the 4-, 5- and 6-argument forms */
	Oid			keytype;
	bool		relink = false;	/* the 3-argument form on a linked column */

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("arguments \"tbl\" and \"key_column\" must not be null")));
	relid = PG_GETARG_OID(1);
	col = pstrdup(NameStr(*PG_GETARG_NAME(2)));
	subj = MapGetSubject(name);
	MapCheckTable(relid, "tbl");
	if (relid == subj->root)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" is the root of subject type \"%s\"", get_rel_name(relid), name)));
	att = get_attnum(relid, col);
	if (att == InvalidAttrNumber || att < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist", col, get_rel_name(relid))));

	/*
	 * link(subject, tbl, key_column, type_column, type_value): a polymorphic
	 * column (Rails' commentable_type/commentable_id, Django's content_type
	 * and object_id), whose rows are the subject's only where the type
	 * column holds type_value (compared as text)
	 */
	memset(&th, 0, sizeof(th));
	/*
	 * link(subject, tbl, key_column, target) and link(subject, tbl,
	 * key_column, type_column, type_value, target): key_column holds the key
	 * of a row of target, another table of the map (NULL: the root)
	 */
	if (PG_NARGS() == 4 || PG_NARGS() == 6)
	{
		int			ta = PG_NARGS() - 1;

		settarget = true;
		if (!PG_ARGISNULL(ta) && PG_GETARG_OID(ta) != subj->root)
			target = PG_GETARG_OID(ta);
	}
	if (PG_NARGS() == 5)
		settarget = true;
	if (PG_NARGS() >= 5 && !(PG_NARGS() == 6 && PG_ARGISNULL(3) && PG_ARGISNULL(4)))
	{
		AttrNumber	tatt;

		if (PG_ARGISNULL(3) || PG_ARGISNULL(4))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("arguments \"type_column\" and \"type_value\" must not be null"),
					 errhint("Use privacy.link(subject, tbl, key_column) for a column that holds only the subject's keys.")));
		tcol = pstrdup(NameStr(*PG_GETARG_NAME(3)));
		tval = text_to_cstring(PG_GETARG_TEXT_PP(4));
		tatt = get_attnum(relid, tcol);
		if (tatt == InvalidAttrNumber || tatt < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist", tcol, get_rel_name(relid))));
		if (tatt == att)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the type column of a link must be another column than its key column")));
		th.link = true;
		th.rel = relid;
		th.tcol = tatt;
		th.tval = tval;
	}
	/* the 3-argument form again on a link to a target (Citus's conversions) */
	if (!settarget)
	{
		Oid			tt[3] = {TEXTOID, OIDOID, TEXTOID};
		Datum		tv[3];

		tv[0] = CStringGetTextDatum(name);
		tv[1] = ObjectIdGetDatum(relid);
		tv[2] = CStringGetTextDatum(col);
		UtilSpiConnect();
		if (SPI_execute_with_args("SELECT pg_catalog.bool_or(target IS NOT NULL) FROM privacy.links"
								  " WHERE subject = $1 AND table_name = $2 AND key_column = $3",
								  3, tt, tv, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		{
			bool		isnull;
			bool		any = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

			relink = !isnull;
			if (relink && any && CitusIsCitusTable(relid))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("a link to another table than the root is not supported on Citus tables yet"),
						 errhint("Unlink the column with privacy.unlink() before distributing the table.")));
		}
		SPI_finish();
	}
	keytype = subj->key_type;
	if (OidIsValid(target))
	{
		bool		mapped;
		AttrNumber	tkey;

		if (get_rel_relkind(target) == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("the target of the link does not exist")));
		mapped = MapFindTable(subj, target) != NULL && !MapFindTable(subj, target)->outbound;
		if (!mapped)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("table \"%s\" is not in the map of subject type \"%s\"",
							get_rel_name(target), name),
					 errhint("A link's target is a table whose rows are the subject's already (the root, a table reached by a foreign key or a link): see privacy.subject_tables.")));
		if (target == relid)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("table \"%s\" cannot be linked to itself", get_rel_name(relid)),
					 errhint("Declare a foreign key for a table that references its own rows.")));
		tkey = MapTargetKey(target);
		if (tkey == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("table \"%s\" has no one-column primary or unique key", get_rel_name(target)),
					 errhint("A link's target is matched on its one-column primary key (or its only one-column unique key).")));
		/* CITUS HOOK: erase's locks and the lock trigger would not route */
		if (CitusIsCitusTable(relid) || CitusIsCitusTable(target))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a link to another table than the root is not supported on Citus tables yet"),
					 errhint("Declare a foreign key, or link the table to the subject's key with privacy.link(subject, tbl, key_column).")));
		keytype = get_atttype(target, tkey);
		th.tlink = true;
		th.link = false;
		th.rel = relid;
		th.prel = target;
		th.cols[0] = att;
		th.pcols[0] = tkey;
		th.ncols = 1;
		distributed = false;
	}
	else
		/* CITUS HOOK: a distributed table only where erase's lock reaches its rows */
		distributed = CitusCheckLink(subj, relid, att, "privacy.link()");
	get_atttypetypmodcoll(relid, att, &coltype, &coltypmod, &collid);
	path = find_coercion_pathway(coltype, keytype, COERCION_EXPLICIT, &funcid);
	/* (a linked column linked again: its links passed their checks) */
	if (path == COERCION_PATH_NONE && !relink)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of type %s cannot hold a key of type %s",
						col, format_type_be(coltype), format_type_be(keytype))));
	/* converted as the built-in types convert (privacy._link_key) */
	if (OidIsValid(target) && getBaseType(coltype) != getBaseType(keytype) &&
		(getBaseType(coltype) >= FirstNormalObjectId || getBaseType(keytype) >= FirstNormalObjectId))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("column \"%s\" of type %s cannot be linked to a key of type %s",
						col, format_type_be(coltype), format_type_be(keytype)),
				 errhint("A link to another table than the root converts between built-in types only: give the column the key's type.")));

	UtilSpiConnect();
	if (!OidIsValid(target) && !relink)
		check_link_spelling(subj, relid, att, col, MapLinkFilter(&th, "t"));
	if (tcol != NULL)
		check_link_type_value(relid, th.tcol, tcol, tval, MapLinkFilter(&th, "t"));
	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(relid);
	values[2] = CStringGetTextDatum(col);
	if (tcol != NULL)
	{
		values[3] = CStringGetTextDatum(tcol);
		values[4] = CStringGetTextDatum(tval);
		nulls[3] = nulls[4] = ' ';
	}
	if (OidIsValid(target))
	{
		values[5] = ObjectIdGetDatum(target);
		nulls[5] = ' ';
	}
	/*
	 * the 3-argument form keeps a link's filter and target (Citus's
	 * conversions link again); the others set both (the 5-argument form:
	 * target NULL, the root)
	 */
	ret = relink ? SPI_OK_INSERT
		: SPI_execute_with_args("INSERT INTO privacy.links (subject, table_name, key_column, type_column, type_value, target)"
								" VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subject, table_name, key_column, target)"
								" DO UPDATE SET type_column = excluded.type_column, type_value = excluded.type_value",
								6, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not store the link: %s", SPI_result_code_string(ret));
	/* an index whose first column is the link column keeps rights calls fast */
	{
		Oid			t[3] = {OIDOID, INT2OID, INT2OID};
		Datum		v[3];

		/* (a polymorphic link's (type, id) index serves as well) */
		v[0] = ObjectIdGetDatum(relid);
		v[1] = Int16GetDatum(att);
		v[2] = Int16GetDatum(th.tcol);
		ret = SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = $1"
									" AND (i.indkey[0] = $2 OR (i.indkey[0] = $3 AND i.indkey[1] = $2))"
									" UNION ALL SELECT 1 FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_index i"
									" ON i.indrelid = h.inhrelid WHERE h.inhparent = $1"
									" AND (i.indkey[0] = $2 OR (i.indkey[0] = $3 AND i.indkey[1] = $2)) LIMIT 1",
									3, t, v, NULL, true, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "index lookup failed: %s", SPI_result_code_string(ret));
		/* (a column converted to its target's key type uses no index) */
		if (SPI_processed == 0 && get_rel_relkind(relid) == RELKIND_RELATION && !relink &&
			!(OidIsValid(target) && getBaseType(coltype) != getBaseType(keytype)))
			ereport(NOTICE,
					(errmsg("column \"%s\" of \"%s\" has no index", col, get_rel_name(relid)),
					 errdetail("Rights calls for subject type \"%s\" will scan the table.", name),
					 errhint("CREATE INDEX ON %s (%s);", UtilQualifiedName(relid), quote_identifier(col))));
	}
	/*
	 * Inserts and updates of the link column take a shared advisory lock on
	 * the subject's key, which erase() takes exclusively: a row inserted
	 * during an erasure waits for it, and is not left behind by it.  One
	 * trigger per linked column (named by its attribute number): a second
	 * link on the same table keeps the first one's protection.  On a
	 * distributed table Citus creates the trigger on every shard (and on
	 * the shards it makes later), where the rows are written; it asks for
	 * citus.enable_unsafe_triggers, set for this statement only.
	 */
	{
		char	   *trg = psprintf("privacy_link_%d_%s", att, name);
		int			nest = distributed ? CitusAllowTriggers() : -1;

		/*
		 * the trigger knows every link of the column (from the catalog): one
		 * link as (type column, type value)? and target?; several as
		 * triples (type column, type value, target; '' for none)
		 */
		char	   *targs = quote_literal_cstr(col);
		StringInfoData tcolsb;
		const char *tcols;
		Oid			tt[3] = {TEXTOID, OIDOID, TEXTOID};
		Datum		tv[3];
		uint64		nl,
					l;

		if (strlen(trg) >= NAMEDATALEN)
			trg[NAMEDATALEN - 1] = '\0';
		initStringInfo(&tcolsb);
		appendStringInfoString(&tcolsb, quote_identifier(col));
		tv[0] = CStringGetTextDatum(name);
		tv[1] = ObjectIdGetDatum(relid);
		tv[2] = CStringGetTextDatum(col);
		if (SPI_execute_with_args("SELECT type_column::pg_catalog.text, type_value, target::pg_catalog.oid::pg_catalog.text"
								  " FROM privacy.links WHERE subject = $1 AND table_name = $2 AND key_column = $3"
								  " ORDER BY target::pg_catalog.oid NULLS FIRST", 3, tt, tv, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "link lookup failed");
		nl = SPI_processed;
		for (l = 0; l < nl; l++)
		{
			char	   *c = SPI_getvalue(SPI_tuptable->vals[l], SPI_tuptable->tupdesc, 1);
			char	   *v = SPI_getvalue(SPI_tuptable->vals[l], SPI_tuptable->tupdesc, 2);
			char	   *g = SPI_getvalue(SPI_tuptable->vals[l], SPI_tuptable->tupdesc, 3);

			if (nl == 1)
			{
				if (c != NULL)
					targs = psprintf("%s, %s, %s", targs, quote_literal_cstr(c), quote_literal_cstr(v));
				if (g != NULL)
					targs = psprintf("%s, %s", targs, quote_literal_cstr(g));
			}
			else
				targs = psprintf("%s, %s, %s, %s", targs, quote_literal_cstr(c ? c : ""),
								 quote_literal_cstr(v ? v : ""), quote_literal_cstr(g ? g : ""));
			if (c != NULL && strcmp(c, col) != 0)
			{
				bool		dup = false;

				for (uint64 m = 0; m < l; m++)
				{
					char	   *o = SPI_getvalue(SPI_tuptable->vals[m], SPI_tuptable->tupdesc, 1);

					dup = dup || (o != NULL && strcmp(o, c) == 0);
				}
				if (!dup)
					appendStringInfo(&tcolsb, ", %s", quote_identifier(c));
			}
		}
		tcols = tcolsb.data;
		ret = SPI_execute(psprintf("CREATE OR REPLACE TRIGGER %s BEFORE INSERT OR UPDATE OF %s ON %s"
								   " FOR EACH ROW EXECUTE FUNCTION privacy._link_lock(%s, %s)",
								   quote_identifier(trg), tcols, UtilQualifiedName(relid),
								   quote_literal_cstr(name), targs),
						  false, 0);
		if (ret != SPI_OK_UTILITY)
			elog(ERROR, "could not create the link trigger: %s", SPI_result_code_string(ret));
		if (distributed)
			CitusAllowTriggersEnd(nest);
	}
	SPI_finish();
	MapRefresh(name);
	MapInvalidate();
	AuditAppend("link", NULL, NULL);
	PG_RETURN_VOID();
}

/*
 * privacy.refresh_subject(name text)
 */
Datum
privacy_refresh_subject(PG_FUNCTION_ARGS)
{
	char	   *name = UtilTextArg(fcinfo, 0, "name");

	MapRefresh(name);
	PG_RETURN_VOID();
}

/*
 * privacy._refresh_all() — every subject type (the DDL event trigger).
 */
Datum
privacy_refresh_all(PG_FUNCTION_ARGS)
{
	List	   *names = NIL;
	ListCell   *lc;
	uint64		i;
	MemoryContext outer = CurrentMemoryContext;

	UtilSpiConnect();
	/* a subject type whose root was dropped keeps its records, not a map */
	if (SPI_execute("SELECT s.name FROM privacy.subject_types s WHERE EXISTS (SELECT FROM pg_catalog.pg_class k"
					" WHERE k.oid OPERATOR(pg_catalog.=) s.root::oid) ORDER BY s.name COLLATE \"C\"", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "subject type lookup failed");
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(outer);

		names = lappend(names, pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	foreach(lc, names)
		MapRefresh(lfirst(lc));
	PG_RETURN_VOID();
}

/* DOT string escape */
static void
append_dot(StringInfo buf, const char *s)
{
	appendStringInfoChar(buf, '"');
	for (; *s; s++)
	{
		if (*s == '"' || *s == '\\')
			appendStringInfoChar(buf, '\\');
		if (*s == '\n')
		{
			appendStringInfoString(buf, "\\l");
			continue;
		}
		appendStringInfoChar(buf, *s);
	}
	appendStringInfoChar(buf, '"');
}

/*
 * privacy.data_map(subject text) RETURNS text
 *		The map as Graphviz DOT: tables (with classified columns and their
 *		categories), foreign-key edges, link edges dashed.
 */
Datum
privacy_data_map(PG_FUNCTION_ARGS)
{
	char	   *name = UtilTextArg(fcinfo, 0, "subject");
	MapSubject *subj = MapGetSubject(name);
	StringInfoData buf;
	ListCell   *lc,
			   *pc,
			   *hc;
	List	   *edges = NIL;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "digraph ");
	append_dot(&buf, subj->name);
	appendStringInfoString(&buf, " {\n  rankdir=RL;\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n"
						   "  edge [fontname=\"Helvetica\", fontsize=9];\n");
	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);
		StringInfoData label;
		ListCell   *cc;

		initStringInfo(&label);
		appendStringInfo(&label, "%s [%s%s]\n", mt->label, mt->via, mt->outbound ? ", referenced" : "");
		foreach(cc, mt->columns)
		{
			MapColumn  *c = lfirst(cc);

			appendStringInfo(&label, "%s: %s (%s)\n", c->name, c->category, c->erasure);
		}
		appendStringInfoString(&buf, "  ");
		append_dot(&buf, mt->label);
		appendStringInfoString(&buf, " [label=");
		append_dot(&buf, label.data);
		if (strcmp(mt->via, "root") == 0)
			appendStringInfoString(&buf, ", style=bold");
		appendStringInfoString(&buf, "];\n");
	}
	foreach(lc, subj->tables)
	{
		MapTable   *mt = lfirst(lc);

		foreach(pc, mt->paths)
		{
			foreach(hc, (List *) lfirst(pc))
			{
				MapHop	   *h = lfirst(hc);
				StringInfoData e;
				ListCell   *ec;
				bool		seen = false;

				initStringInfo(&e);
				if (h->link)
				{
					appendStringInfoString(&e, "  ");
					append_dot(&e, UtilQualifiedName(h->rel));
					appendStringInfoString(&e, " -> ");
					append_dot(&e, UtilQualifiedName(subj->root));
					appendStringInfoString(&e, " [style=dashed, label=");
					append_dot(&e, h->tcol != InvalidAttrNumber && h->tval != NULL
							   ? psprintf("%s (link where %s = %s)", MapColName(h->rel, h->cols[0]),
										  MapColName(h->rel, h->tcol), quote_literal_cstr(h->tval))
							   : psprintf("%s (link)", MapColName(h->rel, h->cols[0])));
				}
				else if (mt->outbound && h->rel == mt->relid)
				{
					/* a referenced table: the foreign key runs from prel to rel */
					appendStringInfoString(&e, "  ");
					append_dot(&e, UtilQualifiedName(h->prel));
					appendStringInfoString(&e, " -> ");
					append_dot(&e, UtilQualifiedName(h->rel));
					appendStringInfoString(&e, " [label=");
					append_dot(&e, MapColsText(h->prel, h->pcols, h->ncols));
				}
				else
				{
					appendStringInfoString(&e, "  ");
					append_dot(&e, UtilQualifiedName(h->rel));
					appendStringInfoString(&e, " -> ");
					append_dot(&e, UtilQualifiedName(h->prel));
					appendStringInfoString(&e, " [label=");
					append_dot(&e, MapColsText(h->rel, h->cols, h->ncols));
				}
				appendStringInfoString(&e, "];\n");
				foreach(ec, edges)
				{
					if (strcmp(lfirst(ec), e.data) == 0)
						seen = true;
				}
				if (!seen)
					edges = lappend(edges, e.data);
			}
		}
	}
	foreach(lc, edges)
		appendStringInfoString(&buf, lfirst(lc));
	appendStringInfoString(&buf, "}\n");
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}

/*
 * privacy._link_key(target anyelement, key "any") RETURNS anyelement
 *		key converted to target's type (target: a typed NULL) as an explicit
 *		cast would, without the type's typmod; NULL when the conversion
 *		fails on the value (a data exception, a domain's CHECK) and, between
 *		numeric types, when the value does not come back the same (1.5 is
 *		no integer key).  The last key and its result are kept for the
 *		call site: a condition evaluated per row converts once.
 */
typedef struct LinkKeyCache
{
	Oid			src;
	Oid			dst;
	bool		valid;
	Datum		in;
	Datum		out;
	bool		outnull;
	int16		srclen;
	bool		srcbyval;
	int16		dstlen;
	bool		dstbyval;
	char		fast;			/* 'i' text to integer, 'u' text to uuid, 0 */
} LinkKeyCache;

/*
 * link_key_fast
 *		The conversions of a text value to an integer or a uuid, parsed here
 *		as PostgreSQL 15's int8in/int4in/int2in and uuid_in parse them, but
 *		answering "no value of that type" (false) instead of raising: no
 *		subtransaction per row where a text link column is read as keys
 *		(retention's hold filter, breach scope, per-subject encryption).
 */
static bool
link_key_fast(char kind, Oid dst, text *t, Datum *out)
{
	const char *p = VARDATA_ANY(t);
	const char *end = p + VARSIZE_ANY_EXHDR(t);

	if (kind == 'i')
	{
		bool		neg = false;
		uint64		v = 0;
		int			digits = 0;
		uint64		limit = dst == INT8OID ? (uint64) PG_INT64_MAX : dst == INT4OID ? (uint64) PG_INT32_MAX : (uint64) PG_INT16_MAX;

		while (p < end && isspace((unsigned char) *p))
			p++;
		if (p < end && (*p == '-' || *p == '+'))
			neg = (*p++ == '-');
		while (p < end && isdigit((unsigned char) *p))
		{
			if (v > (limit + 1) / 10)
				return false;
			v = v * 10 + (*p++ - '0');
			digits++;
		}
		while (p < end && isspace((unsigned char) *p))
			p++;
		if (digits == 0 || p != end || v > limit + (neg ? 1 : 0))
			return false;
		if (dst == INT8OID)
			*out = Int64GetDatum(neg ? (int64) (0 - v) : (int64) v);
		else if (dst == INT4OID)
			*out = Int32GetDatum(neg ? (int32) (0 - (int64) v) : (int32) v);
		else
			*out = Int16GetDatum(neg ? (int16) (0 - (int64) v) : (int16) v);
		return true;
	}
	else
	{
		pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));
		bool		braces = false;

		if (p < end && *p == '{')
		{
			p++;
			braces = true;
		}
		for (int i = 0; i < UUID_LEN; i++)
		{
			char		buf[3];

			if (end - p < 2 || !isxdigit((unsigned char) p[0]) || !isxdigit((unsigned char) p[1]))
				return false;
			buf[0] = p[0];
			buf[1] = p[1];
			buf[2] = '\0';
			u->data[i] = (unsigned char) strtoul(buf, NULL, 16);
			p += 2;
			if (p < end && *p == '-' && (i % 2) == 1 && i < UUID_LEN - 1)
				p++;
		}
		if (braces)
		{
			if (p >= end || *p != '}')
				return false;
			p++;
		}
		if (p != end)
			return false;
		*out = UUIDPGetDatum(u);
		return true;
	}
}

static Datum
link_key_cast(Oid src, Oid dst, Datum value, bool *isnull)
{
	Oid			sbase = getBaseType(src);
	Oid			dbase = getBaseType(dst);
	Oid			funcid;
	CoercionPathType path;

	*isnull = false;
	if (sbase == dbase)
		return value;
	path = find_coercion_pathway(dbase, sbase, COERCION_EXPLICIT, &funcid);
	switch (path)
	{
		case COERCION_PATH_RELABELTYPE:
			return value;
		case COERCION_PATH_FUNC:
			return OidFunctionCall3(funcid, value, Int32GetDatum(-1), BoolGetDatum(true));
		case COERCION_PATH_COERCEVIAIO:
			{
				Oid			outfn,
							infn,
							ioparam;
				bool		varlena;

				getTypeOutputInfo(sbase, &outfn, &varlena);
				getTypeInputInfo(dbase, &infn, &ioparam);
				return OidInputFunctionCall(infn, OidOutputFunctionCall(outfn, value), ioparam, -1);
			}
		default:
			*isnull = true;
			return (Datum) 0;
	}
}

static Datum
link_key_convert(Oid src, Oid dst, Datum value, bool *isnull)
{
	Datum		out = link_key_cast(src, dst, value, isnull);
	char		scat,
				dcat;
	bool		pref;

	if (*isnull)
		return out;
	get_type_category_preferred(getBaseType(src), &scat, &pref);
	get_type_category_preferred(getBaseType(dst), &dcat, &pref);
	if (scat == TYPCATEGORY_NUMERIC && dcat == TYPCATEGORY_NUMERIC && getBaseType(src) != getBaseType(dst))
	{
		bool		backnull;
		Datum		back = link_key_cast(dst, src, out, &backnull);
		TypeCacheEntry *tc = lookup_type_cache(getBaseType(src), TYPECACHE_EQ_OPR_FINFO);

		if (backnull || !OidIsValid(tc->eq_opr_finfo.fn_oid) ||
			!DatumGetBool(FunctionCall2Coll(&tc->eq_opr_finfo, InvalidOid, back, value)))
		{
			*isnull = true;
			return (Datum) 0;
		}
	}
	if (getBaseType(dst) != dst)
		domain_check(out, false, dst, NULL, NULL);
	return out;
}

Datum
privacy_link_key(PG_FUNCTION_ARGS)
{
	LinkKeyCache *c = (LinkKeyCache *) fcinfo->flinfo->fn_extra;
	Oid			dst = get_fn_expr_argtype(fcinfo->flinfo, 0);
	Oid			src = get_fn_expr_argtype(fcinfo->flinfo, 1);
	Datum		value;
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile Datum out = (Datum) 0;
	volatile bool outnull = false;

	if (!OidIsValid(dst) || !OidIsValid(src) || src == UNKNOWNOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("privacy._link_key() needs typed arguments"),
				 errhint("Cast the key, e.g. privacy._link_key(NULL::integer, $1::bigint).")));
	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	value = PG_GETARG_DATUM(1);
	if (c == NULL || c->src != src || c->dst != dst)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(LinkKeyCache));
		c->src = src;
		c->dst = dst;
		get_typlenbyval(src, &c->srclen, &c->srcbyval);
		get_typlenbyval(dst, &c->dstlen, &c->dstbyval);
		if (src == TEXTOID || src == VARCHAROID)
			c->fast = (dst == INT2OID || dst == INT4OID || dst == INT8OID) ? 'i' : dst == UUIDOID ? 'u' : 0;
		fcinfo->flinfo->fn_extra = c;
	}
	if (c->fast)
	{
		Datum		fast;

		if (!link_key_fast(c->fast, dst, DatumGetTextPP(PG_GETARG_DATUM(1)), &fast))
			PG_RETURN_NULL();
		return fast;
	}
	if (c->valid && datumIsEqual(value, c->in, c->srcbyval, c->srclen))
	{
		if (c->outnull)
			PG_RETURN_NULL();
		return c->dstbyval ? c->out : datumCopy(c->out, false, c->dstlen);
	}

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		bool		isnull;

		out = link_key_convert(src, dst, value, &isnull);
		outnull = isnull;
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata = UtilSubxactCaught(cxt, owner);

		/*
		 * a value of no such type: a data exception, a domain's CHECK, or a
		 * value the type cannot hold (numeric NaN or infinity to an integer)
		 */
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION &&
			edata->sqlerrcode != ERRCODE_CHECK_VIOLATION &&
			edata->sqlerrcode != ERRCODE_NOT_NULL_VIOLATION &&
			edata->sqlerrcode != ERRCODE_FEATURE_NOT_SUPPORTED)
			ReThrowError(edata);
		FreeErrorData(edata);
		outnull = true;
	}
	PG_END_TRY();

	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (c->valid && !c->srcbyval)
			pfree(DatumGetPointer(c->in));
		if (c->valid && !c->outnull && !c->dstbyval)
			pfree(DatumGetPointer(c->out));
		c->in = datumCopy(value, c->srcbyval, c->srclen);
		c->outnull = outnull;
		c->out = outnull ? (Datum) 0 : datumCopy(out, c->dstbyval, c->dstlen);
		c->valid = true;
		MemoryContextSwitchTo(old);
	}
	if (outnull)
		PG_RETURN_NULL();
	return out;
}

/*
 * privacy._lock_maps() — the map lock of every subject type, exclusive, in
 * name order (C collation): classify, declassify, set_erasure_mode and the
 * drop handler change what every map compiles to.  SECURITY DEFINER, not
 * for PUBLIC.
 */
Datum
privacy_lock_maps(PG_FUNCTION_ARGS)
{
	uint64		i;

	UtilSpiConnect();
	if (SPI_execute("SELECT st.name FROM privacy.subject_types st ORDER BY st.name COLLATE \"C\"",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the subject types");
	for (i = 0; i < SPI_processed; i++)
		MapLockErasures(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1), true);
	SPI_finish();
	PG_RETURN_VOID();
}
