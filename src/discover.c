/*-------------------------------------------------------------------------
 * discover.c
 *		privacy.discover, privacy.discover_all and privacy.apply_discovery:
 *		proposals of classifications from column names and sampled values.
 *
 * For each table in scope, one query samples up to `sample` rows of every
 * candidate column (TABLESAMPLE SYSTEM on big tables, a plain LIMIT on small
 * ones), the pure detectors of detect.c judge each non-null value, and a
 * column gets a proposal when at least half of its sampled values match one
 * detector, or its name says what it holds.  Key columns (primary and
 * foreign keys, link columns, subject key columns) and already classified columns are skipped.
 * An empty or blank string counts as no value, like NULL.
 *
 * Confidence: values alone give matched / sampled.  Name and values that
 * agree give 0.6 + 0.4 * matched / sampled (0.8 .. 1.0).  A name alone gives
 * 0.6 when nothing can be checked (no value detector for the category, or
 * no non-null value sampled) and 0.3 + 0.6 * matched / sampled (< 0.6) when
 * the sampled values do not bear it out.  A date of birth needs both: a
 * telling name and at least half of the dates between 1900 and 13 years ago.
 *
 * Privileges: the functions run as the caller.  The privacy catalog is read
 * as the extension owner (src/guard.c, search_path pinned); discovery
 * never looks at a table the caller cannot SELECT from (an explicit table:
 * 42501; in a scan: skipped, and counted in a WARNING when the scan is of
 * the data map), and samples it as the table's owner in a
 * security-restricted context, so the table's own code (RLS policies,
 * domain casts) runs only with its owner's rights, never the caller's.
 * Only counts leave this file, never a sampled value.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>

#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/timestamp.h"

#include "detect.h"
#include "guard.h"
#include "privacy.h"

PG_FUNCTION_INFO_V1(privacy_discover);
PG_FUNCTION_INFO_V1(privacy_discover_all);
PG_FUNCTION_INFO_V1(privacy_apply_discovery);

#define DISCOVER_MAX_SAMPLE		1000000
#define CONF_NAME_ONLY			0.6

/* what a column is sampled as */
typedef enum ColKind
{
	CK_SKIP,					/* not sampled, no proposal */
	CK_TEXT,					/* string types: every text detector */
	CK_NUM,						/* numbers: card digits, coordinates by name */
	CK_DATE,					/* date / timestamp: date of birth by name */
	CK_INET						/* inet / cidr: an IP address */
} ColKind;

typedef struct DiscColumn
{
	AttrNumber	attnum;
	char	   *name;
	ColKind		kind;
	bool		notnull;
	DetectClass name_cls;		/* what the name says */
	int			axis;			/* 1 latitude, 2 longitude (by name) */
	int			sampled;		/* non-null values seen */
	int			matched[DC_COUNT];
} DiscColumn;

typedef struct Proposal
{
	Oid			relid;
	char	   *column;
	AttrNumber	attnum;
	char	   *category;
	float4		confidence;
	int			matched;
	int			sampled;
} Proposal;

/* what is read from the privacy catalog once per call */
typedef struct DiscCatalog
{
	List	   *categories;		/* char *, names in privacy.categories */
	List	   *classified;		/* "oid/column" strings */
	List	   *linkcols;		/* "oid/column" strings: link and root key
								 * columns */
	int			today_y,
				today_m,
				today_d;
} DiscCatalog;

typedef enum DiscScope
{
	SCOPE_TABLE,
	SCOPE_MAPPED,
	SCOPE_ALL
} DiscScope;

/*
 * ext_owner
 *		Owner of the privacy extension (the owner of the catalog tables).
 */
static Oid
ext_owner(void)
{
	int			rc;
	bool		isnull;
	Datum		d;

	rc = SPI_execute("SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'privacy'",
					 true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("extension \"privacy\" is not installed")));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return DatumGetObjectId(d);
}

/* run a read-only catalog query as the extension owner */
static void
exec_as_owner(Oid owner, const char *sql, int nargs, Oid *types, Datum *vals,
			  bool readonly)
{
	int			frame;
	int			rc;

	frame = GuardEnterPinned(owner, 0);
	rc = SPI_execute_with_args(sql, nargs, types, vals, NULL, readonly, 0);
	GuardLeave(frame);
	if (rc < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
}

static char *
key_of(Oid relid, const char *col)
{
	return psprintf("%u/%s", relid, col);
}

static bool
list_has_str(List *l, const char *s)
{
	ListCell   *lc;

	foreach(lc, l)
		if (strcmp((char *) lfirst(lc), s) == 0)
			return true;
	return false;
}

/* collect column 1 (text) of the last SPI result into a list */
static List *
spi_text_list(void)
{
	List	   *out = NIL;
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			out = lappend(out, v);
	}
	return out;
}

/*
 * load_catalog
 *		Read categories, classified columns and link columns (as the
 *		extension owner) and today's date.
 */
static void
load_catalog(Oid owner, DiscCatalog *cat)
{
	DateADT		today;

	exec_as_owner(owner, "SELECT name FROM privacy.categories", 0, NULL, NULL, true);
	cat->categories = spi_text_list();
	exec_as_owner(owner,
				  "SELECT table_name::pg_catalog.oid::pg_catalog.text OPERATOR(pg_catalog.||) '/' "
				  "OPERATOR(pg_catalog.||) column_name FROM privacy.classifications",
				  0, NULL, NULL, true);
	cat->classified = spi_text_list();
	exec_as_owner(owner,
				  "SELECT table_name::pg_catalog.oid::pg_catalog.text OPERATOR(pg_catalog.||) '/' "
				  "OPERATOR(pg_catalog.||) key_column FROM privacy.links",
				  0, NULL, NULL, true);
	cat->linkcols = spi_text_list();
	/*
	 * A subject type's key column is a key even when no primary key says so
	 * (define_subject(..., key => 'name') on a UNIQUE column, as Synapse's
	 * users.name): it was proposed as user.name.
	 */
	exec_as_owner(owner,
				  "SELECT root::pg_catalog.oid::pg_catalog.text OPERATOR(pg_catalog.||) '/' "
				  "OPERATOR(pg_catalog.||) key_column FROM privacy.subject_types",
				  0, NULL, NULL, true);
	cat->linkcols = list_concat(cat->linkcols, spi_text_list());

	today = DatumGetDateADT(DirectFunctionCall1(timestamptz_date,
												TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())));
	j2date(today + POSTGRES_EPOCH_JDATE, &cat->today_y, &cat->today_m, &cat->today_d);
}

/*
 * present_category
 *		The class's category if privacy.categories has it, else its nearest
 *		ancestor with at least two components (user.name.first -> user.name);
 *		NULL when none is present.
 */
static char *
present_category(DiscCatalog *cat, DetectClass cls)
{
	const char *c = DetectCategory(cls);
	char	   *s,
			   *dot;

	if (c == NULL)
		return NULL;
	s = pstrdup(c);
	for (;;)
	{
		if (list_has_str(cat->categories, s))
			return s;
		dot = strrchr(s, '.');
		if (dot == NULL || strchr(s, '.') == dot)
			return NULL;
		*dot = '\0';
	}
}

/*
 * column_kind
 *		How a column of this type is sampled.
 */
static ColKind
column_kind(Oid typid)
{
	Oid			base = getBaseType(typid);
	char		cat;
	bool		pref;

	if (base == DATEOID || base == TIMESTAMPOID || base == TIMESTAMPTZOID)
		return CK_DATE;
	if (base == INETOID || base == CIDROID)
		return CK_INET;
	get_type_category_preferred(base, &cat, &pref);
	if (cat == TYPCATEGORY_STRING)
		return CK_TEXT;
	if (cat == TYPCATEGORY_NUMERIC)
		return CK_NUM;
	return CK_SKIP;
}

/* may a name-only proposal of this class be made on this kind of column? */
static bool
name_fits_kind(DetectClass cls, ColKind kind)
{
	switch (kind)
	{
		case CK_TEXT:
			return cls != DC_BIRTH;
		case CK_NUM:
			return cls == DC_PHONE || cls == DC_CARD || cls == DC_LOCATION ||
				cls == DC_POSTAL_CODE || cls == DC_NATIONAL_ID || cls == DC_BANK ||
				cls == DC_GENDER;
		case CK_DATE:
			return cls == DC_BIRTH;
		case CK_INET:
			return cls == DC_IP;
		default:
			return false;
	}
}

/*
 * key_columns
 *		attnums of primary-key and foreign-key columns of relid (as a
 *		Bitmapset).
 */
static Bitmapset *
key_columns(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		vals[1] = {ObjectIdGetDatum(relid)};
	Bitmapset  *out = NULL;
	uint64		i;
	int			rc;

	rc = SPI_execute_with_args("SELECT DISTINCT pg_catalog.unnest(conkey) FROM pg_catalog.pg_constraint "
							   "WHERE conrelid = $1 AND contype IN ('p', 'f')",
							   1, types, vals, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			out = bms_add_member(out, DatumGetInt16(d));
	}
	return out;
}

/*
 * sample_clause
 *		"" for a small table, or " TABLESAMPLE SYSTEM (p)" with p chosen to
 *		return about three times `sample` rows from a big one.
 */
static char *
sample_clause(Oid relid, int sample)
{
	Oid			types[1] = {OIDOID};
	Datum		vals[1] = {ObjectIdGetDatum(relid)};
	bool		isnull;
	double		blocks,
				tuples,
				tpp,
				pct;
	int			rc;

	rc = SPI_execute_with_args("SELECT COALESCE(pg_catalog.sum(pg_catalog.pg_relation_size(c.oid)), 0)::float8 "
							   "  OPERATOR(pg_catalog./) pg_catalog.current_setting('block_size')::float8, "
							   " COALESCE(pg_catalog.sum(c.reltuples) FILTER (WHERE c.reltuples OPERATOR(pg_catalog.>) 0), 0)::float8 "
							   "FROM pg_catalog.pg_partition_tree($1) p "
							   "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.relid "
							   "WHERE p.isleaf",
							   1, types, vals, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the size of relation %u", relid);
	blocks = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	tuples = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (blocks < 64)
		return "";
	tpp = (tuples > 0) ? tuples / blocks : 20.0;
	if (tpp < 1)
		tpp = 1;
	pct = 100.0 * (3.0 * sample / tpp + 1.0) / blocks;
	if (pct >= 50.0)
		return "";
	if (pct < 0.0001)
		pct = 0.0001;
	return psprintf(" TABLESAMPLE SYSTEM (%.6f)", pct);
}

/*
 * run_sample
 *		Execute the sampling query; returns the number of rows.
 */
static uint64
run_sample(const char *select, const char *from, const char *clause, int sample)
{
	int			rc;
	char	   *sql = psprintf("SELECT %s FROM %s%s LIMIT %d", select, from, clause, sample);

	rc = SPI_execute(sql, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * text_is_blank
 *		True for '' and a value of ASCII blanks only.
 */
static bool
text_is_blank(text *t)
{
	const char *p = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	int			i;

	for (i = 0; i < len; i++)
		if (!isspace((unsigned char) p[i]))
			return false;
	return true;
}

/*
 * count_values
 *		Run the detectors over the sampled rows (the last SPI result): one
 *		result column per DiscColumn, in order.
 */
static void
count_values(DiscColumn *cols, int ncols, DiscCatalog *cat)
{
	uint64		r;
	int			k;

	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];

		for (k = 0; k < ncols; k++)
		{
			DiscColumn *c = &cols[k];
			bool		isnull;
			Datum		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, k + 1, &isnull);

			if (isnull)
				continue;
			/*
			 * An empty or blank string holds nothing to judge: counted as
			 * no value, as NULL is (Supabase Auth writes '' into the
			 * e-mail, phone and token columns a user has not used; they
			 * made a telling name look disproved by its values).
			 */
			if (c->kind == CK_TEXT && text_is_blank(DatumGetTextPP(d)))
				continue;
			c->sampled++;
			switch (c->kind)
			{
				case CK_TEXT:
					{
						text	   *t = DatumGetTextPP(d);
						uint32		mask = DetectText(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
						int			b;

						/*
						 * Under a name that says phone, an E.164 number
						 * without its '+' is one (GoTrue's auth.users.phone);
						 * elsewhere those digits could be any number.
						 */
						if (c->name_cls == DC_PHONE && !(mask & DETECT_BIT(DC_PHONE)) &&
							DetectPhoneDigits(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)))
							mask |= DETECT_BIT(DC_PHONE);
						for (b = 1; b < DC_COUNT; b++)
							if (mask & DETECT_BIT(b))
								c->matched[b]++;
						break;
					}
				case CK_NUM:
					{
						text	   *t = DatumGetTextPP(d);
						int			len = VARSIZE_ANY_EXHDR(t);
						char		buf[64];

						if (len <= 0 || len >= (int) sizeof(buf))
							break;
						memcpy(buf, VARDATA_ANY(t), len);
						buf[len] = '\0';
						if (DetectCard(buf, len))
							c->matched[DC_CARD]++;
						if (c->axis != 0)
						{
							double		v = strtod(buf, NULL);

							if (c->axis == 1 ? DetectLatitude(v) : DetectLongitude(v))
								c->matched[DC_LOCATION]++;
						}
						break;
					}
				case CK_DATE:
					{
						DateADT		dt = DatumGetDateADT(d);
						int			y,
									m,
									dd;

						if (DATE_NOT_FINITE(dt))
							break;
						j2date(dt + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
						if (DetectBirthDate(y, m, dd, cat->today_y, cat->today_m, cat->today_d))
							c->matched[DC_BIRTH]++;
						break;
					}
				case CK_INET:
					c->matched[DC_IP]++;
					break;
				default:
					break;
			}
		}
	}
}

/*
 * decide
 *		Turn a column's counts into at most one proposal (see the banner for
 *		the confidence rules).
 */
static Proposal *
decide(Oid relid, DiscColumn *c, DiscCatalog *cat)
{
	DetectClass vcls = DC_NONE;
	DetectClass pcls;
	double		best = 0.0,
				conf;
	int			b,
				matched;
	char	   *category;
	Proposal   *p;

	/* best value class: at least half of the sampled values */
	if (c->sampled > 0)
		for (b = 1; b < DC_COUNT; b++)
		{
			double		ratio = (double) c->matched[b] / c->sampled;

			/* coordinates and birth dates in numbers / dates need the name */
			if ((b == DC_LOCATION && c->kind == CK_NUM) || b == DC_BIRTH)
				continue;
			if (ratio >= 0.5 && ratio > best)
			{
				best = ratio;
				vcls = b;
			}
		}

	if (c->name_cls != DC_NONE && !name_fits_kind(c->name_cls, c->kind))
		c->name_cls = DC_NONE;

	if (vcls != DC_NONE && (c->name_cls == DC_NONE || c->name_cls != vcls))
	{
		/* values alone (a disagreeing name loses to the values) */
		pcls = vcls;
		matched = c->matched[vcls];
		conf = best;
	}
	else if (c->name_cls != DC_NONE)
	{
		bool		checkable;
		double		ratio;

		pcls = c->name_cls;
		matched = c->matched[pcls];
		ratio = (c->sampled > 0) ? (double) matched / c->sampled : 0.0;
		checkable = c->sampled > 0 &&
			(DetectHasValueDetector(pcls) || c->kind == CK_INET ||
			 (pcls == DC_LOCATION && c->axis != 0) || pcls == DC_BIRTH) &&
			!(c->kind == CK_NUM && pcls != DC_CARD && pcls != DC_LOCATION);
		if (!checkable)
		{
			/* a birth date needs dates to check */
			if (pcls == DC_BIRTH && c->sampled > 0)
				return NULL;
			conf = CONF_NAME_ONLY;
		}
		else if (ratio >= 0.5)
			conf = 0.6 + 0.4 * ratio;
		else if (pcls == DC_BIRTH)
			return NULL;
		else
			conf = 0.3 + 0.6 * ratio;
	}
	else
		return NULL;

	category = present_category(cat, pcls);
	if (category == NULL)
		return NULL;
	p = palloc0(sizeof(Proposal));
	p->relid = relid;
	p->column = c->name;
	p->attnum = c->attnum;
	p->category = category;
	p->confidence = (float4) (floor(conf * 1000.0 + 0.5) / 1000.0);
	p->matched = matched;
	p->sampled = c->sampled;
	return p;
}

/* why a scan left a table out (discover_table's result) */
typedef enum DiscSkip
{
	DS_NONE,					/* sampled, or nothing to sample */
	DS_NO_SELECT,				/* the caller may not SELECT from it */
	DS_RLS						/* row security applies to the caller */
} DiscSkip;

/*
 * discover_table
 *		Proposals for one table, appended to *out.  explicit: the caller
 *		named this table (errors instead of silent skips).  Returns why a
 *		readable-by-others table was left out of a scan, so that the scan of
 *		the data map can say so.
 */
static DiscSkip
discover_table(Oid relid, int sample, DiscCatalog *cat, bool explicit, List **out)
{
	Relation	rel;
	TupleDesc	tupdesc;
	char		relkind;
	Oid			nsp;
	char	   *nspname;
	char	   *relname;
	char	   *from;
	Bitmapset  *keys;
	DiscColumn *cols;
	int			ncols = 0,
				i;
	StringInfoData sel;
	char	   *clause;
	uint64		got;
	int			frame;

	relkind = get_rel_relkind(relid);
	if (relkind == '\0')
	{
		if (explicit)
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
							errmsg("relation with OID %u does not exist", relid)));
		return DS_NONE;
	}
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_MATVIEW)
	{
		if (explicit)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("\"%s\" is not a table", get_rel_name(relid))));
		return DS_NONE;
	}
	/*
	 * What classify refuses (system tables, temporary tables, this
	 * session's or another's) gets no proposal: 22023 when named, as at
	 * classify.  A materialized view is sampled: its proposals tell what it
	 * copies (apply_discovery refuses it, 0A000).
	 */
	nsp = get_rel_namespace(relid);
	nspname = get_namespace_name(nsp);
	if (IsCatalogNamespace(nsp) || IsToastNamespace(nsp) || nspname == NULL ||
		strcmp(nspname, "information_schema") == 0 || strcmp(nspname, "privacy") == 0)
	{
		if (explicit)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("\"%s\" is a system table", get_rel_name(relid)),
							errhint("Discovery proposes classifications for user tables only.")));
		return DS_NONE;
	}
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
	{
		if (explicit)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("\"%s\" is a temporary table", get_rel_name(relid)),
							errhint("Only permanent tables can be classified; discovery proposes classifications for them only.")));
		return DS_NONE;
	}
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
	{
		if (explicit)
			ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							errmsg("permission denied for table %s", get_rel_name(relid)),
							errhint("Discovery samples values as the calling role, which needs SELECT on the table.")));
		return DS_NO_SELECT;
	}
	/*
	 * The sample reads every row (as the table's owner: its policies are
	 * user code); where row security hides rows from the caller, the
	 * counts would tell about rows it cannot see.  Left to a role that
	 * sees them all (the owner, a BYPASSRLS role).
	 */
	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
	{
		if (explicit)
			ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							errmsg("row-level security applies to table %s for the calling role", get_rel_name(relid)),
							errdetail("Discovery samples every row; its counts would tell about rows a policy may hide."),
							errhint("Run discovery on it as its owner or as a role with BYPASSRLS.")));
		return DS_RLS;
	}

	keys = key_columns(relid);
	rel = table_open(relid, AccessShareLock);
	if (!RelationIsPopulated(rel))
	{
		table_close(rel, AccessShareLock);
		if (explicit)
			ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							errmsg("materialized view \"%s\" has not been populated", get_rel_name(relid)),
							errhint("Run REFRESH MATERIALIZED VIEW first.")));
		return DS_NONE;
	}
	tupdesc = RelationGetDescr(rel);
	relname = pstrdup(RelationGetRelationName(rel));
	from = psprintf("%s.%s",
					quote_identifier(get_namespace_name(RelationGetNamespace(rel))),
					quote_identifier(relname));
	cols = palloc0(sizeof(DiscColumn) * Max(tupdesc->natts, 1));
	initStringInfo(&sel);
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		DiscColumn *c;
		const char *q;
		char	   *name = NameStr(att->attname);

		if (att->attisdropped)
			continue;
		/*
		 * a key holds ids, except a person's gender kept as a key into a
		 * table of genders (MusicBrainz's editor.gender): the id says it
		 */
		if (bms_is_member(att->attnum, keys) &&
			DetectColumnName(name, relname, NULL) != DC_GENDER)
			continue;
		if (list_has_str(cat->classified, key_of(relid, name)) ||
			list_has_str(cat->linkcols, key_of(relid, name)))
			continue;
		c = &cols[ncols];
		c->kind = column_kind(att->atttypid);
		if (c->kind == CK_SKIP)
			continue;
		c->attnum = att->attnum;
		c->name = pstrdup(name);
		c->notnull = att->attnotnull;
		c->name_cls = DetectColumnName(name, relname, &c->axis);
		/* dates are only sampled for a birth-date name */
		if (c->kind == CK_DATE && c->name_cls != DC_BIRTH)
			continue;
		q = quote_identifier(name);
		if (ncols > 0)
			appendStringInfoString(&sel, ", ");
		switch (c->kind)
		{
			case CK_TEXT:
				appendStringInfo(&sel, "pg_catalog.\"left\"(%s::pg_catalog.text, %d)", q,
								 DETECT_MAX_LEN + 1);
				break;
			case CK_NUM:
				appendStringInfo(&sel, "%s::pg_catalog.text", q);
				break;
			case CK_DATE:
				appendStringInfo(&sel, "%s::pg_catalog.date", q);
				break;
			default:
				appendStringInfo(&sel, "%s::pg_catalog.text", q);
				break;
		}
		ncols++;
	}
	table_close(rel, NoLock);
	if (ncols == 0)
		return DS_NONE;

	clause = sample_clause(relid, sample);
	/*
	 * Sampled as the table's owner in a restricted context: the table's
	 * code (RLS policies, casts of its domains) never runs as the caller.
	 */
	frame = GuardEnterTableOwner(relid);
	got = run_sample(sel.data, from, clause, sample);
	/* a block sample that came back thin: read the first rows instead */
	if (clause[0] != '\0' && got < (uint64) sample / 2)
		run_sample(sel.data, from, "", sample);
	GuardLeave(frame);

	count_values(cols, ncols, cat);
	for (i = 0; i < ncols; i++)
	{
		Proposal   *p = decide(relid, &cols[i], cat);

		if (p != NULL)
			*out = lappend(*out, p);
	}
	return DS_NONE;
}

/*
 * check_sample
 *		sample must be in 1 .. DISCOVER_MAX_SAMPLE.
 */
static int
check_sample(FunctionCallInfo fcinfo, int argno)
{
	int			sample;

	if (PG_ARGISNULL(argno))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("argument \"sample\" must not be null")));
	sample = PG_GETARG_INT32(argno);
	if (sample <= 0 || sample > DISCOVER_MAX_SAMPLE)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("sample must be between 1 and %d", DISCOVER_MAX_SAMPLE)));
	return sample;
}

/*
 * DiscoverRun
 *		All proposals in scope (SPI connected by the caller).  Tables in a
 *		stable order: schema, then table name.
 */
static List *
DiscoverRun(DiscScope scope, Oid relid, int sample, Oid owner)
{
	DiscCatalog cat;
	List	   *tables = NIL;
	List	   *out = NIL;
	ListCell   *lc;
	uint64		i;
	int			no_select = 0,
				under_rls = 0;

	memset(&cat, 0, sizeof(cat));
	load_catalog(owner, &cat);

	if (scope == SCOPE_TABLE)
		tables = list_make1_oid(relid);
	else
	{
		if (scope == SCOPE_MAPPED)
			exec_as_owner(owner,
						  "SELECT DISTINCT m.table_name::pg_catalog.oid, n.nspname, c.relname "
						  "FROM privacy.map m "
						  "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) m.table_name "
						  "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
						  "ORDER BY 2, 3",
						  0, NULL, NULL, true);
		else
			exec_as_owner(owner,
						  "SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c "
						  "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
						  "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
						  "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'privacy', 'pg_toast') "
						  "AND n.nspname !~ '^pg_(temp|toast_temp)_' "
						  "AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d "
						  "  WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
						  "  AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.deptype OPERATOR(pg_catalog.=) 'e') "
						  "ORDER BY 2, 3",
						  0, NULL, NULL, true);
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

			tables = lappend_oid(tables, DatumGetObjectId(d));
		}
	}

	foreach(lc, tables)
	{
		CHECK_FOR_INTERRUPTS();
		switch (discover_table(lfirst_oid(lc), sample, &cat, scope == SCOPE_TABLE, &out))
		{
			case DS_NO_SELECT:
				no_select++;
				break;
			case DS_RLS:
				under_rls++;
				break;
			default:
				break;
		}
	}

	/*
	 * The tables of the data map hold personal data by definition: one the
	 * caller cannot read is a gap in the proposals, not a table to ignore
	 * quietly (Supabase enables row security on every table of its auth
	 * schema, so a role that is not their owner got no proposal at all and
	 * no word why).  discover_all skips unreadable tables by design.
	 */
	if (scope == SCOPE_MAPPED && no_select + under_rls > 0)
		ereport(WARNING,
				(errmsg_plural("discovery skipped %d table of the data map that the calling role cannot read",
							   "discovery skipped %d tables of the data map that the calling role cannot read",
							   no_select + under_rls, no_select + under_rls),
				 errdetail("%d without SELECT privilege, %d with row-level security that applies to the calling role; no column of them was proposed.",
						   no_select, under_rls),
				 errhint("Run discovery as the tables' owner, or as a role with SELECT on them and BYPASSRLS.")));
	return out;
}

/* emit proposals into a materialized SRF result */
static void
emit_proposals(FunctionCallInfo fcinfo, List *props)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	foreach(lc, props)
	{
		Proposal   *p = lfirst(lc);
		Datum		values[6];
		bool		nulls[6] = {false};

		values[0] = ObjectIdGetDatum(p->relid);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(p->column));
		values[2] = CStringGetTextDatum(p->category);
		values[3] = Float4GetDatum(p->confidence);
		values[4] = Int32GetDatum(p->matched);
		values[5] = Int32GetDatum(p->sampled);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * discover_common
 *		Shared body of privacy.discover and privacy.discover_all.
 */
static Datum
discover_common(FunctionCallInfo fcinfo, DiscScope scope, Oid relid, int sample)
{
	List	   *props;
	Oid			owner;

	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	owner = ext_owner();
	props = DiscoverRun(scope, relid, sample, owner);
	/* SPI's memory goes away at SPI_finish: store the rows first */
	emit_proposals(fcinfo, props);
	SPI_finish();
	return (Datum) 0;
}

/*
 * privacy.discover(tbl regclass DEFAULT NULL, sample int DEFAULT 1000)
 *		Proposals for one table, or for every table of every mapped subject.
 */
Datum
privacy_discover(PG_FUNCTION_ARGS)
{
	int			sample = check_sample(fcinfo, 1);

	if (PG_ARGISNULL(0))
		return discover_common(fcinfo, SCOPE_MAPPED, InvalidOid, sample);
	return discover_common(fcinfo, SCOPE_TABLE, PG_GETARG_OID(0), sample);
}

/*
 * privacy.discover_all(sample int DEFAULT 1000)
 *		Proposals for every user table of the database (outside system
 *		schemas, the privacy schema and extension members).
 */
Datum
privacy_discover_all(PG_FUNCTION_ARGS)
{
	int			sample = check_sample(fcinfo, 0);

	return discover_common(fcinfo, SCOPE_ALL, InvalidOid, sample);
}

/*
 * classify_one
 *		Classify one column through privacy.classify when it exists (so its
 *		validation, map refresh and audit apply).
 *
 *		FALLBACK (until privacy.classify lands on main): insert into
 *		privacy.classifications directly, as the extension owner, with the
 *		category's default erasure ('redact' instead of 'null' on a NOT NULL
 *		column, as SPEC section 2 says).
 */
static void
classify_one(Oid owner, bool have_classify, Proposal *p)
{
	Oid			types[3] = {REGCLASSOID, NAMEOID, TEXTOID};
	Datum		vals[3];
	int			rc;

	vals[0] = ObjectIdGetDatum(p->relid);
	vals[1] = DirectFunctionCall1(namein, CStringGetDatum(p->column));
	vals[2] = CStringGetTextDatum(p->category);
	if (have_classify)
	{
		rc = SPI_execute_with_args("SELECT privacy.classify($1, $2, $3)",
								   3, types, vals, NULL, false, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
		return;
	}
	/* --- FALLBACK: direct insert while privacy.classify is missing --- */
	exec_as_owner(owner,
				  "INSERT INTO privacy.classifications (table_name, column_name, attnum, category, erasure) "
				  "SELECT $1, $2, a.attnum, c.name, "
				  "  CASE WHEN c.erasure OPERATOR(pg_catalog.=) 'null' AND a.attnotnull "
				  "       THEN 'redact' ELSE c.erasure END "
				  "FROM privacy.categories c, pg_catalog.pg_attribute a "
				  "WHERE c.name OPERATOR(pg_catalog.=) $3 AND a.attrelid OPERATOR(pg_catalog.=) $1 "
				  "AND a.attname OPERATOR(pg_catalog.=) $2",
				  3, types, vals, false);
}

/*
 * privacy.apply_discovery(min_confidence real DEFAULT 0.8, tbl regclass
 * DEFAULT NULL)
 *		Classifies every proposal of discover(tbl) at or above the threshold;
 *		returns what it classified.
 */
Datum
privacy_apply_discovery(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo;
	float4		min_conf;
	List	   *props;
	ListCell   *lc;
	Oid			owner;
	bool		have_classify;
	int			n = 0;
	int			rc;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("argument \"min_confidence\" must not be null")));
	min_conf = PG_GETARG_FLOAT4(0);
	if (isnan(min_conf) || min_conf < 0.0 || min_conf > 1.0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("min_confidence must be between 0 and 1")));

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	owner = ext_owner();
	if (PG_NARGS() > 1 && !PG_ARGISNULL(1) && get_rel_relkind(PG_GETARG_OID(1)) == RELKIND_MATVIEW)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("cannot classify materialized view \"%s\"", get_rel_name(PG_GETARG_OID(1))),
						errhint("Classify the tables it is computed from; privacy.discover() shows what it holds.")));
	if (PG_NARGS() > 1 && !PG_ARGISNULL(1))
		props = DiscoverRun(SCOPE_TABLE, PG_GETARG_OID(1), 1000, owner);
	else
		props = DiscoverRun(SCOPE_MAPPED, InvalidOid, 1000, owner);

	rc = SPI_execute("SELECT pg_catalog.to_regprocedure("
					 "'privacy.classify(regclass, name, text, text, boolean, text[], text)') IS NOT NULL",
					 true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	{
		bool		isnull;

		have_classify = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
	}

	foreach(lc, props)
	{
		Proposal   *p = lfirst(lc);
		Datum		values[3];
		bool		nulls[3] = {false};

		if (p->confidence < min_conf)
			continue;
		classify_one(owner, have_classify, p);
		values[0] = ObjectIdGetDatum(p->relid);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(p->column));
		values[2] = CStringGetTextDatum(p->category);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		n++;
	}
	if (n > 0)
	{
		char	   *detail = psprintf("{\"classified\": %d, \"min_confidence\": %g}",
									  n, (double) min_conf);

		AuditAppend("apply_discovery", NULL, detail);
	}
	SPI_finish();
	return (Datum) 0;
}

/* sampling, shared with discover_links.c */
char *
DiscoverSampleClause(Oid relid, int sample)
{
	return sample_clause(relid, sample);
}

int
DiscoverCheckSample(FunctionCallInfo fcinfo, int argno)
{
	return check_sample(fcinfo, argno);
}
