/*-------------------------------------------------------------------------
 * reports.c
 *		Accountability reports derived from the catalog:
 *		privacy.processing_record (GDPR Art. 30), its Markdown rendering,
 *		and privacy.breach_report (Art. 33/34).
 *
 * The functions are SECURITY DEFINER (the catalog is not readable by
 * PUBLIC) with a pinned search_path; EXECUTE is granted to privacy_officer
 * and privacy_admin only.  They return aggregates (categories, purposes,
 * counts of subjects and rows), never a personal value or a subject id.
 *
 * breach_report counts distinct subjects through the data map: for every
 * subject type whose map holds one of the breached tables, the root key of
 * every row of those tables (MapKeyExprs gives one SQL expression per join
 * path) is read as each table's owner in a restricted context (src/guard.c:
 * the casts along the path are the owner's code), and the distinct keys
 * are counted by digest.  Row counts are read the same way.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "guard.h"
#include "privacy.h"

PG_FUNCTION_INFO_V1(privacy_processing_record);
PG_FUNCTION_INFO_V1(privacy_processing_record_markdown);
PG_FUNCTION_INFO_V1(privacy_breach_report);

/*
 * The Art. 30 record as one query.  Purposes come from classifications and
 * recipients; classified columns without a purpose are grouped under a
 * null purpose so that the gap is visible.  Table names are
 * format('%I.%I', schema, table).
 */
static const char *const processing_record_sql =
"WITH RECURSIVE tabs AS ("
"  SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname) AS qname"
"  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
"), anc(name, anc) AS ("
"  SELECT c.name, c.name FROM privacy.categories c"
"  UNION SELECT a.name, c.parent FROM anc a JOIN privacy.categories c ON c.name OPERATOR(pg_catalog.=) a.anc"
"  WHERE c.parent IS NOT NULL"
"), cls AS ("
"  SELECT k.table_name::pg_catalog.oid AS relid, k.column_name, k.category, k.legal_basis, p.purpose,"
"    EXISTS (SELECT FROM anc a JOIN privacy.categories s ON s.name OPERATOR(pg_catalog.=) a.anc"
"            WHERE a.name OPERATOR(pg_catalog.=) k.category AND s.special) AS special"
"  FROM privacy.classifications k"
"  LEFT JOIN LATERAL pg_catalog.unnest(k.purposes) AS p(purpose) ON true"
"), purposes AS ("
"  SELECT DISTINCT purpose FROM cls"
"  UNION SELECT purpose FROM privacy.recipients"
"), per_purpose AS ("
"  SELECT pp.purpose,"
"   pg_catalog.jsonb_build_object("
"    'purpose', pp.purpose,"
"    'categories', (SELECT COALESCE(pg_catalog.jsonb_agg(DISTINCT c.category ORDER BY c.category), '[]')"
"                   FROM cls c WHERE c.purpose IS NOT DISTINCT FROM pp.purpose),"
"    'special_categories', (SELECT COALESCE(pg_catalog.jsonb_agg(DISTINCT c.category ORDER BY c.category), '[]')"
"                   FROM cls c WHERE c.purpose IS NOT DISTINCT FROM pp.purpose AND c.special),"
"    'legal_bases', (SELECT COALESCE(pg_catalog.jsonb_agg(DISTINCT c.legal_basis ORDER BY c.legal_basis), '[]')"
"                   FROM cls c WHERE c.purpose IS NOT DISTINCT FROM pp.purpose AND c.legal_basis IS NOT NULL),"
"    'subject_types', (SELECT COALESCE(pg_catalog.jsonb_agg(DISTINCT m.subject ORDER BY m.subject), '[]')"
"                   FROM privacy.map m JOIN cls c ON c.relid OPERATOR(pg_catalog.=) m.table_name::pg_catalog.oid"
"                   WHERE c.purpose IS NOT DISTINCT FROM pp.purpose),"
"    'tables', (SELECT COALESCE(pg_catalog.jsonb_agg(DISTINCT t.qname ORDER BY t.qname), '[]')"
"                   FROM cls c JOIN tabs t ON t.oid OPERATOR(pg_catalog.=) c.relid"
"                   WHERE c.purpose IS NOT DISTINCT FROM pp.purpose),"
"    'recipients', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
"                      'name', r.name, 'country', r.country, 'categories', pg_catalog.to_jsonb(r.categories))"
"                      ORDER BY r.name), '[]')"
"                   FROM privacy.recipients r WHERE r.purpose IS NOT DISTINCT FROM pp.purpose),"
"    'retention', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
"                      'policy', x.id, 'table', t.qname, 'age_column', x.age_column,"
"                      'keep', x.keep::pg_catalog.text, 'action', x.action) ORDER BY x.id), '[]')"
"                   FROM privacy.retention x JOIN tabs t ON t.oid OPERATOR(pg_catalog.=) x.table_name::pg_catalog.oid"
"                   WHERE EXISTS (SELECT FROM cls c WHERE c.relid OPERATOR(pg_catalog.=) x.table_name::pg_catalog.oid"
"                                 AND c.purpose IS NOT DISTINCT FROM pp.purpose))"
"   ) AS obj"
"  FROM purposes pp"
")"
"SELECT pg_catalog.jsonb_build_object("
"  'record', 'gdpr-art30/1',"
"  'controller', pg_catalog.current_database(),"
"  'generated_at', pg_catalog.now(),"
"  'purposes', (SELECT COALESCE(pg_catalog.jsonb_agg(obj ORDER BY purpose NULLS LAST), '[]') FROM per_purpose),"
"  'subject_types', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
"        'name', s.name, 'root', t.qname, 'key_column', s.key_column,"
"        'tables', (SELECT pg_catalog.count(*) FROM privacy.map m WHERE m.subject OPERATOR(pg_catalog.=) s.name))"
"        ORDER BY s.name), '[]')"
"     FROM privacy.subject_types s LEFT JOIN tabs t ON t.oid OPERATOR(pg_catalog.=) s.root::pg_catalog.oid),"
"  'categories', (SELECT COALESCE(pg_catalog.jsonb_agg(DISTINCT category ORDER BY category), '[]') FROM cls),"
"  'special_categories', (SELECT COALESCE(pg_catalog.jsonb_agg(DISTINCT category ORDER BY category), '[]') FROM cls WHERE special),"
"  'recipients', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
"        'name', r.name, 'purpose', r.purpose, 'country', r.country,"
"        'categories', pg_catalog.to_jsonb(r.categories)) ORDER BY r.name), '[]') FROM privacy.recipients r),"
"  'transfers_outside_eea', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
"        'recipient', r.name, 'country', r.country) ORDER BY r.name), '[]') FROM privacy.recipients r"
"      WHERE pg_catalog.upper(r.country) OPERATOR(pg_catalog.~) '^[A-Z]{2}$' AND pg_catalog.upper(r.country) OPERATOR(pg_catalog.<>) ALL"
"        ('{AT,BE,BG,HR,CY,CZ,DK,EE,FI,FR,DE,GR,HU,IE,IT,LV,LT,LU,MT,NL,PL,PT,RO,SK,SI,ES,SE,IS,LI,NO}'::pg_catalog.text[])),"
"  'retention', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
"        'policy', x.id, 'table', t.qname, 'age_column', x.age_column,"
"        'keep', x.keep::pg_catalog.text, 'action', x.action) ORDER BY x.id), '[]')"
"     FROM privacy.retention x JOIN tabs t ON t.oid OPERATOR(pg_catalog.=) x.table_name::pg_catalog.oid),"
"  'security_measures', pg_catalog.jsonb_build_object("
"     'encrypted_columns', (SELECT COALESCE(pg_catalog.jsonb_agg(t.qname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||)"
"          pg_catalog.quote_ident(e.column_name) ORDER BY t.qname, e.column_name), '[]')"
"        FROM privacy.encrypted_columns e JOIN tabs t ON t.oid OPERATOR(pg_catalog.=) e.table_name::pg_catalog.oid),"
"     'audit_log', 'hash-chained, append-only',"
"     'erasure', 'privacy.erase with an erasure ledger replayed after restores')"
")";

/* run a query returning one jsonb value (SPI connected) */
static Datum
one_jsonb(const char *sql, int nargs, Oid *types, Datum *vals)
{
	int			rc;
	bool		isnull;
	Datum		d;

	rc = SPI_execute_with_args(sql, nargs, types, vals, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "report query failed: %s", SPI_result_code_string(rc));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "report query returned null");
	return SPI_datumTransfer(d, false, -1);
}

/*
 * privacy.processing_record() RETURNS jsonb
 *		The record of processing activities (Art. 30) from the catalog.
 */
Datum
privacy_processing_record(PG_FUNCTION_ARGS)
{
	Datum		d;

	int			jitnest;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* catalog queries planned above jit_above_cost: JIT costs 0.5 s a call */
	jitnest = MapJitOff();
	d = one_jsonb(processing_record_sql, 0, NULL, NULL);
	MapJitRestore(jitnest);
	SPI_finish();
	PG_RETURN_DATUM(d);
}

/*
 * The Markdown rendering of the record: a heading per purpose and a
 * two-column table, '|' escaped in every value.
 */
static const char *const markdown_sql =
"WITH r AS (SELECT $1::pg_catalog.jsonb AS j),"
" p AS (SELECT e.o, e.n FROM r, pg_catalog.jsonb_array_elements(r.j->'purposes') WITH ORDINALITY AS e(o, n))"
"SELECT "
" '# Record of processing activities (GDPR Art. 30)' OPERATOR(pg_catalog.||) E'\\n\\n'"
" OPERATOR(pg_catalog.||) '- Controller (database): ' OPERATOR(pg_catalog.||) (r.j->>'controller') OPERATOR(pg_catalog.||) E'\\n'"
" OPERATOR(pg_catalog.||) '- Generated: ' OPERATOR(pg_catalog.||) (r.j->>'generated_at') OPERATOR(pg_catalog.||) E'\\n'"
" OPERATOR(pg_catalog.||) '- Categories of data subjects: ' OPERATOR(pg_catalog.||) COALESCE((SELECT pg_catalog.string_agg(s->>'name', ', ' ORDER BY s->>'name')"
"      FROM pg_catalog.jsonb_array_elements(r.j->'subject_types') s), 'none') OPERATOR(pg_catalog.||) E'\\n'"
" OPERATOR(pg_catalog.||) '- Special categories (Art. 9/10): ' OPERATOR(pg_catalog.||) COALESCE((SELECT pg_catalog.string_agg(x, ', ')"
"      FROM pg_catalog.jsonb_array_elements_text(r.j->'special_categories') x), 'none') OPERATOR(pg_catalog.||) E'\\n'"
" OPERATOR(pg_catalog.||) '- Transfers outside the EEA: ' OPERATOR(pg_catalog.||) COALESCE((SELECT pg_catalog.string_agg((t->>'recipient') OPERATOR(pg_catalog.||) ' (' OPERATOR(pg_catalog.||) (t->>'country') OPERATOR(pg_catalog.||) ')', ', ')"
"      FROM pg_catalog.jsonb_array_elements(r.j->'transfers_outside_eea') t), 'none') OPERATOR(pg_catalog.||) E'\\n'"
" OPERATOR(pg_catalog.||) COALESCE((SELECT pg_catalog.string_agg("
"   E'\\n## Purpose: ' OPERATOR(pg_catalog.||) COALESCE(p.o->>'purpose', '(no purpose recorded)') OPERATOR(pg_catalog.||) E'\\n\\n'"
"   OPERATOR(pg_catalog.||) E'| Item | Value |\\n|---|---|\\n'"
"   OPERATOR(pg_catalog.||) '| Categories of personal data | ' OPERATOR(pg_catalog.||) privacy._md_list(p.o->'categories') OPERATOR(pg_catalog.||) E' |\\n'"
"   OPERATOR(pg_catalog.||) '| Special categories | ' OPERATOR(pg_catalog.||) privacy._md_list(p.o->'special_categories') OPERATOR(pg_catalog.||) E' |\\n'"
"   OPERATOR(pg_catalog.||) '| Legal bases | ' OPERATOR(pg_catalog.||) privacy._md_list(p.o->'legal_bases') OPERATOR(pg_catalog.||) E' |\\n'"
"   OPERATOR(pg_catalog.||) '| Categories of data subjects | ' OPERATOR(pg_catalog.||) privacy._md_list(p.o->'subject_types') OPERATOR(pg_catalog.||) E' |\\n'"
"   OPERATOR(pg_catalog.||) '| Recipients | ' OPERATOR(pg_catalog.||) COALESCE((SELECT pg_catalog.string_agg("
"        pg_catalog.replace(x->>'name', '|', '\\|') OPERATOR(pg_catalog.||) COALESCE(' (' OPERATOR(pg_catalog.||) pg_catalog.replace(x->>'country', '|', '\\|') OPERATOR(pg_catalog.||) ')', ''), ', ')"
"        FROM pg_catalog.jsonb_array_elements(p.o->'recipients') x), 'none') OPERATOR(pg_catalog.||) E' |\\n'"
"   OPERATOR(pg_catalog.||) '| Retention | ' OPERATOR(pg_catalog.||) COALESCE((SELECT pg_catalog.string_agg("
"        pg_catalog.replace(x->>'table', '|', '\\|') OPERATOR(pg_catalog.||) ': ' OPERATOR(pg_catalog.||) (x->>'action') OPERATOR(pg_catalog.||) ' after '"
"        OPERATOR(pg_catalog.||) (x->>'keep') OPERATOR(pg_catalog.||) ' (' OPERATOR(pg_catalog.||) pg_catalog.replace(x->>'age_column', '|', '\\|') OPERATOR(pg_catalog.||) ')', '; ')"
"        FROM pg_catalog.jsonb_array_elements(p.o->'retention') x), 'not defined') OPERATOR(pg_catalog.||) E' |\\n'"
"   OPERATOR(pg_catalog.||) '| Tables | ' OPERATOR(pg_catalog.||) privacy._md_list(p.o->'tables') OPERATOR(pg_catalog.||) E' |\\n'"
"   , '' ORDER BY p.n) FROM p), E'\\nNo personal data is classified yet.\\n')"
" FROM r";

/*
 * md_one_line
 *		The record with every line break and tab in its strings turned into
 *		a space: a value (a purpose, a recipient's name, a database name)
 *		is one line of the Markdown, where a line break in it ended the
 *		table row or started a heading of its own.  On the JSON text: an
 *		escape \n, \r or \t inside a string (not the n of an escaped
 *		backslash) becomes a space.
 */
static Datum
md_one_line(Datum rec)
{
	Jsonb	   *j = DatumGetJsonbP(rec);
	char	   *in = JsonbToCString(NULL, &j->root, VARSIZE(j));
	StringInfoData out;
	bool		in_string = false;

	initStringInfo(&out);
	for (char *p = in; *p; p++)
	{
		if (in_string && *p == '\\' && p[1] != '\0')
		{
			if (p[1] == 'n' || p[1] == 'r' || p[1] == 't')
				appendStringInfoChar(&out, ' ');
			else
			{
				appendStringInfoChar(&out, p[0]);
				appendStringInfoChar(&out, p[1]);
			}
			p++;
			continue;
		}
		if (*p == '"')
			in_string = !in_string;
		appendStringInfoChar(&out, *p);
	}
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
}

/*
 * privacy.processing_record_markdown() RETURNS text
 *		The Art. 30 record as Markdown a DPO can paste into a document.
 */
Datum
privacy_processing_record_markdown(PG_FUNCTION_ARGS)
{
	Datum		rec;
	Oid			types[1] = {JSONBOID};
	Datum		vals[1];
	bool		isnull;
	Datum		d;
	int			rc;
	int			jitnest;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	jitnest = MapJitOff();
	rec = one_jsonb(processing_record_sql, 0, NULL, NULL);
	vals[0] = md_one_line(rec);
	rc = SPI_execute_with_args(markdown_sql, 1, types, vals, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "report query failed: %s", SPI_result_code_string(rc));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "report query returned null");
	d = SPI_datumTransfer(d, false, -1);
	MapJitRestore(jitnest);
	SPI_finish();
	PG_RETURN_DATUM(d);
}

/* append a JSON string to buf */
static void
append_json_str(StringInfo buf, const char *s)
{
	escape_json(buf, s);
}

/* one statement of count_subjects: the key expressions of mt's rows (of relid), filtered */
typedef struct BreachRead
{
	Oid			relid;
	MapTable   *mt;
	char	   *where;			/* on alias t, or NULL */
} BreachRead;

/*
 * outbound_reads
 *		A referenced table (an address that the customers reference) belongs
 *		to the subjects of every row that references it, several of them when
 *		it is shared: its subjects are read from the referencing tables, rows
 *		whose foreign key columns are all set (the key makes them point at a
 *		row of the breached table), as the referencing table's owner.  The
 *		breached table itself is not read.  NIL when a referencing table is a
 *		referenced one too (a chain): then the table's own key expressions.
 */
static List *
outbound_reads(MapSubject *subj, MapTable *mt)
{
	List	   *reads = NIL;
	ListCell   *lc;

	foreach(lc, mt->paths)
	{
		MapHop	   *h = lfirst(lc) ? linitial((List *) lfirst(lc)) : NULL;	/* an edge */
		MapTable   *pt = h ? MapFindTable(subj, h->prel) : NULL;
		BreachRead *r;
		StringInfoData w;
		int			k;

		if (h == NULL || h->link || pt == NULL || pt->outbound)
			return NIL;
		initStringInfo(&w);
		for (k = 0; k < h->ncols; k++)
			appendStringInfo(&w, "%st.%s IS NOT NULL", k ? " AND " : "",
							 quote_identifier(get_attname(h->prel, h->pcols[k], false)));
		r = palloc0(sizeof(BreachRead));
		r->relid = h->prel;
		r->mt = pt;
		r->where = w.data;
		reads = lappend(reads, r);
	}
	return reads;
}

/*
 * count_read
 *		Digests of the subject keys of one BreachRead's rows into seen, read
 *		as the table's owner.  False when the table has no key expression.
 */
static bool
count_read(MapSubject *subj, BreachRead *r, HTAB *seen)
{
	char	   *from;
	StringInfoData q;
	Portal		portal;
	int			frame;
	ListCell   *lc;

	from = psprintf("%s.%s",
					quote_identifier(get_namespace_name(get_rel_namespace(r->relid))),
					quote_identifier(get_rel_name(r->relid)));
	initStringInfo(&q);
	foreach(lc, MapKeyExprs(subj, r->mt, "t"))
	{
		if (q.len > 0)
			appendStringInfoString(&q, " UNION ");
		appendStringInfo(&q, "SELECT %s AS k FROM %s t%s%s", MapCanonText(subj, (char *) lfirst(lc)),
						 from, r->where ? " WHERE " : "", r->where ? r->where : "");
	}
	if (q.len == 0)
		return false;

	/*
	 * The key expressions (casts, joins along the path) are the table
	 * owner's code: read as the owner, restricted; only a digest of each key
	 * is kept, to count distinct subjects over all tables.
	 */
	frame = GuardEnterTableOwner(r->relid);
	GuardSetRowSecurityBypass(true);
	portal = SPI_cursor_open_with_args(NULL, q.data, 0, NULL, NULL, NULL, true, 0);
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			char	   *k = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			unsigned char digest[16];

			if (k == NULL)
				continue;
			crypto_generichash(digest, sizeof(digest), (unsigned char *) k, strlen(k), NULL, 0);
			(void) hash_search(seen, digest, HASH_ENTER, NULL);
			pfree(k);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	GuardLeave(frame);
	return true;
}

/*
 * count_subjects
 *		Distinct subjects of one type among the rows of the given tables
 *		(only those in the type's map).  Returns -1 when none of the tables
 *		is in its map.
 */
static int64
count_subjects(const char *subject, Oid *relids, int n)
{
	MapSubject *subj = MapGetSubject(subject);
	bool		any = false;
	int			i;
	HASHCTL		ctl;
	HTAB	   *seen;
	int64		result;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = 16;
	ctl.entrysize = 16;
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("privacy breach subjects", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (i = 0; i < n; i++)
	{
		MapTable   *mt = MapFindTable(subj, relids[i]);
		List	   *reads = NIL;	/* of BreachRead */
		ListCell   *lc;

		if (mt == NULL)
			continue;
		if (mt->outbound)
			reads = outbound_reads(subj, mt);
		if (reads == NIL)
		{
			BreachRead *r = palloc0(sizeof(BreachRead));

			r->relid = relids[i];
			r->mt = mt;
			r->where = NULL;
			reads = list_make1(r);
		}
		foreach(lc, reads)
		{
			BreachRead *r = lfirst(lc);

			if (count_read(subj, r, seen))
				any = true;
		}
	}
	if (!any)
		return -1;
	result = hash_get_num_entries(seen);
	hash_destroy(seen);
	return result;
}

/*
 * The catalog part of the breach report: classified columns of the
 * breached tables, whether each is encrypted, and the derived lists.
 * $1 oid[] tables, $2 interval deadline, $3 keys compromised, $4 jsonb
 * subjects, $5 jsonb row counts, $6 jsonb tables in no map, $7 timestamptz
 * when the controller became aware of the breach (the deadline runs from
 * then).
 */
static const char *const breach_sql =
"WITH RECURSIVE tabs AS ("
"  SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname) AS qname"
"  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
"  WHERE c.oid OPERATOR(pg_catalog.=) ANY ($1)"
"), anc(name, anc) AS ("
"  SELECT c.name, c.name FROM privacy.categories c"
"  UNION SELECT a.name, c.parent FROM anc a JOIN privacy.categories c ON c.name OPERATOR(pg_catalog.=) a.anc"
"  WHERE c.parent IS NOT NULL"
"), cols AS ("
"  SELECT t.qname, k.column_name, k.category,"
"    EXISTS (SELECT FROM anc a JOIN privacy.categories s ON s.name OPERATOR(pg_catalog.=) a.anc"
"            WHERE a.name OPERATOR(pg_catalog.=) k.category AND s.special) AS special,"
"    EXISTS (SELECT FROM anc a WHERE a.name OPERATOR(pg_catalog.=) k.category AND a.anc OPERATOR(pg_catalog.~)"
"            '^user\\.(financial|government_id|authorization|biometric|health_and_medical|genetic)') AS sensitive,"
"    (e.id IS NOT NULL AND NOT $3) AS protected, e.id IS NOT NULL AS encrypted"
"  FROM privacy.classifications k"
"  JOIN tabs t ON t.oid OPERATOR(pg_catalog.=) k.table_name::pg_catalog.oid"
"  LEFT JOIN privacy.encrypted_columns e ON e.table_name OPERATOR(pg_catalog.=) k.table_name"
"    AND e.column_name OPERATOR(pg_catalog.=) k.column_name"
"), cats AS ("
"  SELECT category, pg_catalog.bool_or(special) AS special, pg_catalog.bool_or(sensitive) AS sensitive,"
"    pg_catalog.bool_and(protected) AS protected"
"  FROM cols GROUP BY category"
")"
"SELECT pg_catalog.jsonb_build_object("
"  'report', 'breach/1',"
"  'generated_at', pg_catalog.now(),"
"  'aware_at', $7,"
"  'notification_deadline', $7 OPERATOR(pg_catalog.+) $2,"
"  'deadline_passed', pg_catalog.now() OPERATOR(pg_catalog.>) ($7 OPERATOR(pg_catalog.+) $2),"
"  'deadline', $2::pg_catalog.text,"
"  'tables', (SELECT pg_catalog.jsonb_object_agg(t.qname, pg_catalog.jsonb_build_object("
"      'rows', $5->(t.oid::pg_catalog.text),"
"      'columns', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
"          'column', c.column_name, 'category', c.category, 'special', c.special, 'encrypted', c.encrypted)"
"          ORDER BY c.column_name), '[]') FROM cols c WHERE c.qname OPERATOR(pg_catalog.=) t.qname)))"
"    FROM tabs t),"
"  'subjects', $4,"
"  'unmapped_tables', $6,"
"  'categories', (SELECT COALESCE(pg_catalog.jsonb_agg(category ORDER BY category), '[]') FROM cats),"
"  'special_categories', (SELECT COALESCE(pg_catalog.jsonb_agg(category ORDER BY category), '[]') FROM cats WHERE special),"
"  'encryption', pg_catalog.jsonb_build_object("
"     'keys_compromised', $3,"
"     'protected_categories', (SELECT COALESCE(pg_catalog.jsonb_agg(category ORDER BY category), '[]') FROM cats WHERE protected),"
"     'exposed_categories', (SELECT COALESCE(pg_catalog.jsonb_agg(category ORDER BY category), '[]') FROM cats WHERE NOT protected),"
"     'all_protected', (SELECT COALESCE(pg_catalog.bool_and(protected), true) FROM cats)),"
"  'high_risk', (SELECT COALESCE(pg_catalog.bool_or(NOT protected AND (special OR sensitive)), false) FROM cats),"
"  'notify_authority', (SELECT COALESCE(pg_catalog.bool_or(NOT protected), false) FROM cats)"
")";

/*
 * breach_tables
 *		The tables argument: one dimension, not empty, no nulls, every
 *		relation existing; duplicates dropped.  Returns how many.
 */
static int
breach_tables(ArrayType *arr, Oid **relids_out)
{
	Datum	   *elems;
	bool	   *enulls;
	int			nelems,
				n = 0,
				i,
				j;
	Oid		   *relids;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("tables must be a one-dimensional array")));
	deconstruct_array(arr, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &enulls, &nelems);
	if (nelems == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("tables must not be empty")));
	relids = palloc(sizeof(Oid) * nelems);
	for (i = 0; i < nelems; i++)
	{
		Oid			r;

		if (enulls[i])
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("tables must not contain nulls")));
		r = DatumGetObjectId(elems[i]);
		if (get_rel_relkind(r) == '\0')
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
							errmsg("relation with OID %u does not exist", r)));
		/*
		 * a partition is reported as its partitioned table (its
		 * classifications and map entry are the parent's), unless a map
		 * holds the partition itself (a foreign key of its own): the scope
		 * can only grow, never miss a subject
		 */
		if (get_rel_relispartition(r) && MapSubjectsOfTable(r) == NIL)
		{
			/* the nearest partitioned ancestor a map holds by itself */
			Oid			top = MapPartitionRoot(r);
			ListCell   *lc;

			foreach(lc, get_partition_ancestors(r))
				if (lfirst_oid(lc) == top || MapSubjectsOfTable(lfirst_oid(lc)) != NIL)
					break;
			r = lc != NULL ? lfirst_oid(lc) : top;
		}
		for (j = 0; j < n; j++)
			if (relids[j] == r)
				break;
		if (j == n)
			relids[n++] = r;
	}
	*relids_out = relids;
	return n;
}

/* the number of rows of relid, counted as its owner (its RLS bypassed) */
static int64
breach_count_rows(Oid relid)
{
	char	   *sql = psprintf("SELECT pg_catalog.count(*) FROM %s.%s",
							   quote_identifier(get_namespace_name(get_rel_namespace(relid))),
							   quote_identifier(get_rel_name(relid)));
	int			frame = GuardEnterTableOwner(relid);
	int			rc;
	bool		isnull;

	GuardSetRowSecurityBypass(true);
	rc = SPI_execute(sql, true, 1);
	GuardLeave(frame);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * breach_scan
 *		Per table: its row count (tables and materialized views) into
 *		rows_json {"oid": n}, the tables no subject type maps into
 *		unmapped_json [...], and the subject types touched into *subjects.
 */
static void
breach_scan(Oid *relids, int n, StringInfo rows_json, StringInfo unmapped_json, List **subjects)
{
	bool		first = true,
				firstrow = true;
	int			i;

	appendStringInfoChar(rows_json, '{');
	appendStringInfoChar(unmapped_json, '[');
	for (i = 0; i < n; i++)
	{
		List	   *names = MapSubjectsOfTable(relids[i]);
		char		relkind = get_rel_relkind(relids[i]);
		ListCell   *lc;

		if (relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE ||
			relkind == RELKIND_MATVIEW)
		{
			appendStringInfo(rows_json, "%s\"%u\": " INT64_FORMAT,
							 firstrow ? "" : ", ", relids[i], breach_count_rows(relids[i]));
			firstrow = false;
		}
		if (names == NIL)
		{
			char	   *key = psprintf("%s.%s",
									   quote_identifier(get_namespace_name(get_rel_namespace(relids[i]))),
									   quote_identifier(get_rel_name(relids[i])));

			if (!first)
				appendStringInfoString(unmapped_json, ", ");
			append_json_str(unmapped_json, key);
			first = false;
		}
		foreach(lc, names)
		{
			char	   *s = (char *) lfirst(lc);
			ListCell   *lc2;
			bool		seen = false;

			foreach(lc2, *subjects)
				if (strcmp((char *) lfirst(lc2), s) == 0)
					seen = true;
			if (!seen)
				*subjects = lappend(*subjects, pstrdup(s));
		}
	}
	appendStringInfoChar(rows_json, '}');
	appendStringInfoChar(unmapped_json, ']');
}

/* {"type": distinct subjects} for the subject types touched */
static void
breach_subjects(List *subjects, Oid *relids, int n, StringInfo subj_json)
{
	ListCell   *lc;
	bool		first = true;

	appendStringInfoChar(subj_json, '{');
	foreach(lc, subjects)
	{
		char	   *s = (char *) lfirst(lc);
		int64		cnt = count_subjects(s, relids, n);

		if (cnt < 0)
			continue;
		if (!first)
			appendStringInfoString(subj_json, ", ");
		append_json_str(subj_json, s);
		appendStringInfo(subj_json, ": " INT64_FORMAT, cnt);
		first = false;
	}
	appendStringInfoChar(subj_json, '}');
}

/* a notification deadline is days or weeks; this bound keeps now() + it a timestamp */
#define BREACH_MAX_DEADLINE_YEARS 100

/*
 * privacy.breach_report(tables regclass[], deadline interval DEFAULT
 * '72 hours', keys_compromised boolean DEFAULT false, aware_at timestamptz
 * DEFAULT NULL) RETURNS jsonb
 *		Art. 33/34 facts for a breach of the given tables: distinct subjects
 *		per subject type, rows, categories and special categories, which
 *		categories encryption protects (not when its keys are compromised),
 *		and the notification deadline.
 */
Datum
privacy_breach_report(PG_FUNCTION_ARGS)
{
	int			n,
				i;
	Oid		   *relids;
	Interval   *deadline;
	bool		compromised;
	List	   *subjects = NIL;
	StringInfoData subj_json,
				rows_json,
				unmapped_json;
	Oid			types[7] = {OIDARRAYOID, INTERVALOID, BOOLOID, JSONBOID, JSONBOID, JSONBOID,
	TIMESTAMPTZOID};
	Datum		vals[7];
	TimestampTz aware;
	Datum		result;
	Datum	   *od;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("argument \"tables\" must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("argument \"deadline\" must not be null")));
	deadline = PG_GETARG_INTERVAL_P(1);
	compromised = PG_ARGISNULL(2) ? false : PG_GETARG_BOOL(2);
	if (deadline->month < 0 || deadline->day < 0 || deadline->time < 0 ||
		(deadline->month == 0 && deadline->day == 0 && deadline->time == 0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("deadline must be a positive interval")));
	/* now() + deadline must be a timestamp (22008 otherwise, after the scan) */
	if ((double) deadline->month / MONTHS_PER_YEAR +
		((double) deadline->day + (double) deadline->time / USECS_PER_DAY) / DAYS_PER_YEAR >
		BREACH_MAX_DEADLINE_YEARS)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("deadline must be at most %d years", BREACH_MAX_DEADLINE_YEARS)));
	/* when the controller became aware: not in the future, finite */
	aware = (PG_NARGS() < 4 || PG_ARGISNULL(3)) ? GetCurrentTransactionStartTimestamp()
		: PG_GETARG_TIMESTAMPTZ(3);
	if (TIMESTAMP_NOT_FINITE(aware))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("aware_at must be a finite time")));
	if (aware > GetCurrentTimestamp())
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("aware_at must not be in the future"),
						errhint("Give the time the breach became known, or NULL for now.")));
	n = breach_tables(PG_GETARG_ARRAYTYPE_P(0), &relids);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	initStringInfo(&rows_json);
	initStringInfo(&unmapped_json);
	breach_scan(relids, n, &rows_json, &unmapped_json, &subjects);
	initStringInfo(&subj_json);
	{
		/*
		 * the subjects of a partitioned table's rows include those of its
		 * partitions that a map holds by themselves (a foreign key declared
		 * on them: map_walk.c); counted, not listed as breached tables
		 */
		List	   *all = NIL;
		Oid		   *allids;
		ListCell   *lc;
		int			k = 0;

		for (i = 0; i < n; i++)
		{
			all = list_append_unique_oid(all, relids[i]);
			if (get_rel_relkind(relids[i]) != RELKIND_PARTITIONED_TABLE)
				continue;
			foreach(lc, find_all_inheritors(relids[i], AccessShareLock, NULL))
			{
				List	   *names;
				ListCell   *nc;

				if (list_member_oid(all, lfirst_oid(lc)) ||
					(names = MapSubjectsOfTable(lfirst_oid(lc))) == NIL)
					continue;
				all = lappend_oid(all, lfirst_oid(lc));
				foreach(nc, names)
				{
					ListCell   *sc;
					bool		seen = false;

					foreach(sc, subjects)
						if (strcmp((char *) lfirst(sc), (char *) lfirst(nc)) == 0)
							seen = true;
					if (!seen)
						subjects = lappend(subjects, pstrdup(lfirst(nc)));
				}
			}
		}
		allids = palloc(sizeof(Oid) * Max(list_length(all), 1));
		foreach(lc, all)
			allids[k++] = lfirst_oid(lc);
		breach_subjects(subjects, allids, k, &subj_json);
	}

	od = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		od[i] = ObjectIdGetDatum(relids[i]);
	vals[0] = PointerGetDatum(construct_array(od, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	vals[1] = IntervalPGetDatum(deadline);
	vals[2] = BoolGetDatum(compromised);
	vals[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(subj_json.data));
	vals[4] = DirectFunctionCall1(jsonb_in, CStringGetDatum(rows_json.data));
	vals[5] = DirectFunctionCall1(jsonb_in, CStringGetDatum(unmapped_json.data));
	{
		/* the report's catalog query: no JIT (the scans above keep it) */
		int			jitnest = MapJitOff();

		vals[6] = TimestampTzGetDatum(aware);
		result = one_jsonb(breach_sql, 7, types, vals);
		MapJitRestore(jitnest);
	}
	SPI_finish();
	PG_RETURN_DATUM(result);
}
