/*-------------------------------------------------------------------------
 * discover_links.c
 *		privacy.discover_links(subject, sample): columns of tables outside a
 *		subject type's data map that look as if they hold its key (the
 *		candidates for privacy.link), for schemas with few or no foreign
 *		keys (an application that keeps its references in code, a log).
 *
 * A column is a candidate when its name says it holds the subject's key
 * (the subject type's name or the root table's name in the singular, with
 * nothing or an id suffix: user, user_id, userId, user_ref, user_uuid,
 * author_user_id, user1_id, featured_user2_id) and its type can hold the
 * key (the key's own type, a number for a numeric key, text for an integer
 * or uuid key); or, at half the confidence, when its name says a person did
 * something without saying who (created_by_id, deleted_by, author_id,
 * last_editor_id: Rails' belongs_to :created_by, class_name: 'User').  The
 * values cannot tell: where ids overlap (user 5, post 5, topic 5), a
 * post_id column matches root keys as well as a user_id column, so no
 * column is proposed for its values alone.  A
 * polymorphic pair (x_id beside x_type, Rails and Laravel) is a candidate
 * whatever x is: each value of x_type whose last name segment is the
 * subject's ('User', 'App\Models\User') is proposed with that value.
 * A Django generic relation (object_id or object_pk beside content_type_id,
 * or P_object_id beside P_content_type_id, the type column a foreign key
 * to a table of content types: app_label and model columns) is a
 * candidate with the content type of the root's model: its key as text,
 * found in the content types as app_label_model = the root table's name
 * (Django's db_table), else as model = the subject's or the root's name.
 *
 * Values decide the confidence: up to `sample` non-null values are read (as
 * the table's owner, in a security-restricted context, as discover does)
 * and the share of them that are keys of existing root rows (looked up as
 * the root's owner) gives 0.5 + 0.5 * matched / sampled; a name alone,
 * with no value to check, gives 0.5 (halved for a person who did
 * something).  Only counts leave this file.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"

#include "guard.h"
#include "map.h"
#include "privacy.h"

PG_FUNCTION_INFO_V1(privacy_discover_links);

/* lower-case copy */
static char *
lower_copy(const char *s)
{
	char	   *r = pstrdup(s);
	char	   *p;

	for (p = r; *p; p++)
		*p = (char) tolower((unsigned char) *p);
	return r;
}

/* a table name in the singular: users, people, addresses, categories */
static char *
singular(const char *name)
{
	char	   *s = lower_copy(name);
	size_t		n = strlen(s);

	if (strcmp(s, "people") == 0)
		return pstrdup("person");
	if (n > 3 && strcmp(s + n - 3, "ies") == 0)
	{
		s[n - 3] = 'y';
		s[n - 2] = '\0';
	}
	else if (n > 4 && (strcmp(s + n - 4, "sses") == 0 || strcmp(s + n - 4, "ches") == 0 ||
					   strcmp(s + n - 4, "shes") == 0))
		s[n - 2] = '\0';
	else if (n > 1 && s[n - 1] == 's' && s[n - 2] != 's')
		s[n - 1] = '\0';
	return s;
}

/* does the column's name (lower case) say it holds word's key? */
static bool
name_says(const char *col, const char *word)
{
	static const char *const suffixes[] = {"_id", "id", "_ref", "_uuid", "uuid", "_key", ""};
	size_t		n = strlen(col);
	size_t		w = strlen(word);
	int			i;

	if (w == 0)
		return false;
	for (i = 0; i < lengthof(suffixes); i++)
	{
		size_t		k = strlen(suffixes[i]);
		size_t		stem;

		if (n < k || strcmp(col + n - k, suffixes[i]) != 0)
			continue;
		stem = n - k;
		/*
		 * a number after the word, with an id suffix: the two people of a
		 * pair (user1_id, user2_id), Discourse's topics.featured_user1_id
		 * ... featured_user4_id
		 */
		if (k > 0)
			while (stem > w && isdigit((unsigned char) col[stem - 1]))
				stem--;
		if (stem == w && strncmp(col, word, w) == 0)
			return true;
		/* author_user_id, created_by_user_id */
		if (stem > w + 1 && col[stem - w - 1] == '_' && strncmp(col + stem - w, word, w) == 0 && k > 0)
			return true;
	}
	return false;
}

/*
 * does the column's name (lower case) say it holds a person who did
 * something, without saying which table: created_by_id, deleted_by,
 * approved_by_id (Rails' belongs_to :created_by, class_name: 'User'), or
 * a person's role with an id suffix (author_id, last_editor_id)?  Not
 * owner_id: an owner is as often an organization, a group, a namespace.
 * A weaker sign than the subject's own name: half its confidence.
 */
static bool
name_says_agent(const char *col)
{
	static const char *const roles[] = {"author", "creator", "editor", "actor", "sender",
		"recipient", "reporter", "reviewer", "assignee", "approver", "requester", "inviter", "invitee"};
	size_t		n = strlen(col);
	size_t		stem;
	int			i;

	if (n > 6 && strcmp(col + n - 6, "_by_id") == 0)
		return true;
	if (n > 3 && strcmp(col + n - 3, "_by") == 0)
		return true;
	if (n > 3 && strcmp(col + n - 3, "_id") == 0)
		stem = n - 3;
	else if (n > 2 && strcmp(col + n - 2, "id") == 0)
		stem = n - 2;
	else
		return false;
	for (i = 0; i < lengthof(roles); i++)
	{
		size_t		r = strlen(roles[i]);

		if (stem >= r && strncmp(col + stem - r, roles[i], r) == 0 &&
			(stem == r || col[stem - r - 1] == '_'))
			return true;
	}
	return false;
}

/* the last segment of a type value names word: 'User', 'App\Models\User' */
static bool
type_value_says(const char *value, const char *word, const char *word2)
{
	const char *p = value;
	const char *seg = value;
	char	   *s;

	for (; *p; p++)
		if (*p == '\\' || *p == ':' || *p == '.' || *p == '/')
			seg = p + 1;
	s = lower_copy(seg);
	return strcmp(s, word) == 0 || strcmp(s, word2) == 0;
}

/* may a column of base type cb hold keys of base type kb? */
static bool
type_fits(Oid kb, Oid cb)
{
	bool		ktext = (kb == TEXTOID || kb == VARCHAROID || kb == BPCHAROID);
	bool		ctext = (cb == TEXTOID || cb == VARCHAROID || cb == BPCHAROID);
	bool		knum = (kb == INT2OID || kb == INT4OID || kb == INT8OID || kb == NUMERICOID);
	bool		cnum = (cb == INT2OID || cb == INT4OID || cb == INT8OID || cb == NUMERICOID);

	if (cb >= FirstNormalObjectId)
		return false;
	if (cb == kb)
		return true;
	if (knum)
		return cnum || ctext;
	if (kb == UUIDOID)
		return ctext;
	return ktext && ctext;
}

/* one candidate (a plain column, or a polymorphic pair's type value) */
typedef struct LinkCandidate
{
	Oid			relid;
	char	   *column;
	char	   *tcolumn;
	char	   *tvalue;
	bool		agent;			/* named for a person who did something only */
	int			matched;
	int			sampled;
} LinkCandidate;

/*
 * keys_found
 *		For each text value of vals (n of them), whether it is the key of a
 *		root row (read as the root's owner, in a restricted context: a key
 *		of a user type compares with its owner's operator).
 */
static bool *
keys_found(MapSubject *subj, Datum *vals, int n)
{
	bool	   *found = palloc0(sizeof(bool) * Max(n, 1));
	Oid			t[1] = {TEXTARRAYOID};
	Datum		v[1];
	int			frame;
	int			rc;
	uint64		i;

	if (n == 0)
		return found;
	v[0] = PointerGetDatum(construct_array(vals, n, TEXTOID, -1, false, TYPALIGN_INT));
	frame = GuardEnterTableOwner(subj->root);
	rc = SPI_execute_with_args(psprintf("SELECT x.i FROM pg_catalog.unnest($1) WITH ORDINALITY x(v, i)"
										" WHERE EXISTS (SELECT FROM %s r WHERE r.%s %s"
										" privacy._link_key(CAST(NULL AS %s), x.v))",
										UtilFromName(subj->root), quote_identifier(subj->key_column),
										subj->key_eq, format_type_be_qualified(subj->key_type)),
							   1, t, v, NULL, true, 0);
	GuardLeave(frame);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "key lookup failed: %s", SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		k = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		if (!isnull && k >= 1 && k <= n)
			found[k - 1] = true;
	}
	return found;
}

/*
 * sample_column
 *		Candidates of one column (tcol NULL: a plain column; else a
 *		polymorphic pair, one candidate per type value that names the
 *		subject), appended to *out.
 */
static void
sample_column(MapSubject *subj, Oid relid, const char *from, const char *col, const char *tcol,
			  const char *word, const char *word2, int sample, bool agent, List **out)
{
	char	   *sql;
	int			frame;
	int			rc;
	int			n;
	Datum	   *vals;
	char	  **types;
	bool	   *found;
	uint64		i;
	List	   *tvalues = NIL;
	ListCell   *lc;

	sql = psprintf("SELECT CAST(t.%s AS pg_catalog.text)%s%s FROM %s t%s WHERE t.%s IS NOT NULL LIMIT %d",
				   quote_identifier(col), tcol ? ", CAST(t." : "", tcol ? psprintf("%s AS pg_catalog.text)", quote_identifier(tcol)) : "",
				   from, DiscoverSampleClause(relid, sample), quote_identifier(col), sample);
	/* as the table's owner, restricted: its policies and types are its code */
	frame = GuardEnterTableOwner(relid);
	rc = SPI_execute(sql, true, 0);
	GuardLeave(frame);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "sampling failed: %s", SPI_result_code_string(rc));
	n = (int) SPI_processed;
	vals = palloc(sizeof(Datum) * Max(n, 1));
	types = palloc0(sizeof(char *) * Max(n, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		vals[i] = CStringGetTextDatum(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		if (tcol)
			types[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	if (tcol == NULL)
	{
		LinkCandidate *c = palloc0(sizeof(LinkCandidate));

		found = keys_found(subj, vals, n);
		c->relid = relid;
		c->column = pstrdup(col);
		c->agent = agent;
		c->sampled = n;
		for (i = 0; i < (uint64) n; i++)
			c->matched += found[i] ? 1 : 0;
		*out = lappend(*out, c);
		return;
	}
	/* a polymorphic pair: the type values that name the subject */
	for (i = 0; i < (uint64) n; i++)
		if (types[i] != NULL && type_value_says(types[i], word, word2))
		{
			bool		seen = false;

			foreach(lc, tvalues)
				if (strcmp(lfirst(lc), types[i]) == 0)
					seen = true;
			if (!seen)
				tvalues = lappend(tvalues, types[i]);
		}
	if (tvalues == NIL)
		return;
	found = keys_found(subj, vals, n);
	foreach(lc, tvalues)
	{
		LinkCandidate *c = palloc0(sizeof(LinkCandidate));

		c->relid = relid;
		c->column = pstrdup(col);
		c->tcolumn = pstrdup(tcol);
		c->tvalue = pstrdup(lfirst(lc));
		for (i = 0; i < (uint64) n; i++)
			if (types[i] != NULL && strcmp(types[i], c->tvalue) == 0)
			{
				c->sampled++;
				c->matched += found[i] ? 1 : 0;
			}
		*out = lappend(*out, c);
	}
}

/* a text-like column of relid named name? */
static bool
text_column(Oid relid, const char *name)
{
	AttrNumber	att = get_attnum(relid, name);
	Oid			t;

	if (att == InvalidAttrNumber)
		return false;
	t = getBaseType(get_atttype(relid, att));
	return t == TEXTOID || t == VARCHAROID || t == BPCHAROID;
}

/*
 * content_types
 *		The keys (as text) of the content types that name the root's model
 *		in the content type table ct (key column ctkey): app_label_model
 *		equal to the root table's name (Django's db_table), else model equal
 *		to word or word2.  Read as ct's owner, restricted; NIL when the
 *		caller may not read ct whole.
 */
static List *
content_types(MapSubject *subj, Oid ct, AttrNumber ctkey, const char *word, const char *word2)
{
	Oid			t[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		v[3];
	List	   *keys = NIL;
	int			frame;
	int			rc;
	uint64		i;
	char	   *keycol = get_attname(ct, ctkey, true);

	if (keycol == NULL || pg_class_aclcheck(ct, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
		check_enable_rls(ct, InvalidOid, true) == RLS_ENABLED)
		return NIL;
	v[0] = CStringGetTextDatum(lower_copy(get_rel_name(subj->root)));
	v[1] = CStringGetTextDatum(word);
	v[2] = CStringGetTextDatum(word2);
	frame = GuardEnterTableOwner(ct);
	rc = SPI_execute_with_args(psprintf("SELECT DISTINCT CAST(t.%s AS pg_catalog.text), x.exact FROM %s t,"
										" LATERAL (SELECT pg_catalog.lower(pg_catalog.concat(CAST(t.app_label AS pg_catalog.text),"
										" '_', CAST(t.model AS pg_catalog.text))) OPERATOR(pg_catalog.=) $1 AS exact) x"
										" WHERE t.%s IS NOT NULL AND (x.exact"
										" OR pg_catalog.lower(CAST(t.model AS pg_catalog.text)) OPERATOR(pg_catalog.=) ANY (ARRAY[$2, $3]))"
										" ORDER BY 2 DESC, 1",
										quote_identifier(keycol), UtilFromName(ct), quote_identifier(keycol)),
							   3, t, v, NULL, true, 0);
	GuardLeave(frame);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "content type lookup failed: %s", SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		bool		exact = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

		/* the root's own content type, when there is one, alone */
		if (i > 0 && exact != DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
			break;
		keys = lappend(keys, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	}
	return keys;
}

/*
 * sample_generic
 *		A Django generic relation's candidate for one content type: the
 *		rows of that type (compared as text, as link() does), appended to
 *		*out when the sample holds any.
 */
static void
sample_generic(MapSubject *subj, Oid relid, const char *from, const char *col, const char *tcol,
			   const char *tvalue, int sample, List **out)
{
	Oid			t[1] = {TEXTOID};
	Datum		v[1];
	int			frame;
	int			rc;
	int			n;
	Datum	   *vals;
	bool	   *found;
	uint64		i;
	LinkCandidate *c;

	v[0] = CStringGetTextDatum(tvalue);
	/* as the table's owner, restricted: its policies and types are its code */
	frame = GuardEnterTableOwner(relid);
	rc = SPI_execute_with_args(psprintf("SELECT CAST(t.%s AS pg_catalog.text) FROM %s t%s WHERE t.%s IS NOT NULL"
										" AND CAST(t.%s AS pg_catalog.text) OPERATOR(pg_catalog.=) $1 LIMIT %d",
										quote_identifier(col), from, DiscoverSampleClause(relid, sample),
										quote_identifier(col), quote_identifier(tcol), sample),
							   1, t, v, NULL, true, 0);
	GuardLeave(frame);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "sampling failed: %s", SPI_result_code_string(rc));
	n = (int) SPI_processed;
	if (n == 0)
		return;
	vals = palloc(sizeof(Datum) * n);
	for (i = 0; i < SPI_processed; i++)
		vals[i] = CStringGetTextDatum(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	found = keys_found(subj, vals, n);
	c = palloc0(sizeof(LinkCandidate));
	c->relid = relid;
	c->column = pstrdup(col);
	c->tcolumn = pstrdup(tcol);
	c->tvalue = pstrdup(tvalue);
	c->sampled = n;
	for (i = 0; i < (uint64) n; i++)
		c->matched += found[i] ? 1 : 0;
	*out = lappend(*out, c);
}

/*
 * candidates_of
 *		The candidates of one table, appended to *out.  A table in the map
 *		(mt) may hold the key in another column too (Forem's reactions,
 *		the subject's by user_id, hold a flagged user in reactable_id with
 *		reactable_type 'User'): its columns that no link of the subject
 *		type uses yet are candidates.  A column of a foreign key never is:
 *		it holds the key of the table it references.
 */
static void
candidates_of(MapSubject *subj, Oid relid, MapTable *mt, const char *word, const char *word2,
			  int sample, List **out)
{
	Bitmapset  *used = NULL;
	Relation	rel;
	TupleDesc	td;
	char	   *from;
	Oid			kb = getBaseType(subj->key_type);
	int			i,
				j;
	List	   *plain = NIL;
	List	   *agents = NIL;
	List	   *pairs = NIL;	/* id column, type column, alternately */
	List	   *generic = NIL;	/* Django: object column, content type column, alternately */
	List	   *generic_ct = NIL;	/* its content type table */
	List	   *generic_key = NIL;	/* the content type table's key column */
	ListCell   *lc;

	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
		check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		return;					/* as discover: only what the caller sees whole */
	rel = table_open(relid, AccessShareLock);
	td = RelationGetDescr(rel);
	from = UtilQualifiedName(relid);
	/*
	 * a column of a foreign key holds the referenced table's key, whichever
	 * it is: blog_entry.author_id, a key to auth_user, is not a site's
	 */
	foreach(lc, RelationGetFKeyList(rel))
	{
		ForeignKeyCacheInfo *fk = lfirst(lc);

		for (j = 0; j < fk->nkeys; j++)
			used = bms_add_member(used, fk->conkey[j]);
	}
	if (mt != NULL)
	{
		foreach(lc, mt->paths)
		{
			List	   *edge = lfirst(lc);
			MapHop	   *h = edge != NIL ? linitial(edge) : NULL;

			if (h != NULL && (h->link || h->tlink) && h->rel == relid)
				used = bms_add_member(used, h->cols[0]);
		}
	}
	for (i = 0; i < td->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(td, i);
		char	   *lname;
		size_t		n;

		if (a->attisdropped || !type_fits(kb, getBaseType(a->atttypid)) ||
			bms_is_member(a->attnum, used))
			continue;
		lname = lower_copy(NameStr(a->attname));
		n = strlen(lname);
		/* P_object_id or P_object_pk beside P_content_type_id: Django */
		if (n >= 9 && (strcmp(lname + n - 9, "object_id") == 0 || strcmp(lname + n - 9, "object_pk") == 0) &&
			(n == 9 || lname[n - 10] == '_'))
		{
			char	   *tname = psprintf("%.*scontent_type_id", (int) (n - 9), lname);
			bool		paired = false;

			foreach(lc, RelationGetFKeyList(rel))
			{
				ForeignKeyCacheInfo *fk = lfirst(lc);
				Form_pg_attribute b;

				if (fk->nkeys != 1 || paired)
					continue;
				b = TupleDescAttr(td, fk->conkey[0] - 1);
				if (strcmp(lower_copy(NameStr(b->attname)), tname) != 0 ||
					!text_column(fk->confrelid, "app_label") || !text_column(fk->confrelid, "model"))
					continue;
				generic = lappend(generic, pstrdup(NameStr(a->attname)));
				generic = lappend(generic, pstrdup(NameStr(b->attname)));
				generic_ct = lappend_oid(generic_ct, fk->confrelid);
				generic_key = lappend_int(generic_key, fk->confkey[0]);
				paired = true;
			}
			if (paired)
				continue;
		}
		/* x_id beside x_type: a polymorphic pair */
		if (n > 3 && strcmp(lname + n - 3, "_id") == 0)
		{
			char	   *tname = psprintf("%.*s_type", (int) (n - 3), lname);
			bool		paired = false;

			for (j = 0; j < td->natts; j++)
			{
				Form_pg_attribute b = TupleDescAttr(td, j);

				if (!b->attisdropped && j != i && strcmp(lower_copy(NameStr(b->attname)), tname) == 0)
				{
					pairs = lappend(pairs, pstrdup(NameStr(a->attname)));
					pairs = lappend(pairs, pstrdup(NameStr(b->attname)));
					paired = true;
					break;
				}
			}
			if (paired)
				continue;
		}
		if (name_says(lname, word) || name_says(lname, word2))
			plain = lappend(plain, pstrdup(NameStr(a->attname)));
		else if (name_says_agent(lname))
			agents = lappend(agents, pstrdup(NameStr(a->attname)));
	}
	table_close(rel, AccessShareLock);
	foreach(lc, plain)
		sample_column(subj, relid, from, lfirst(lc), NULL, word, word2, sample, false, out);
	foreach(lc, agents)
		sample_column(subj, relid, from, lfirst(lc), NULL, word, word2, sample, true, out);
	for (i = 0; i + 1 < list_length(pairs); i += 2)
		sample_column(subj, relid, from, list_nth(pairs, i), list_nth(pairs, i + 1), word, word2,
					  sample, false, out);
	for (i = 0; i + 1 < list_length(generic); i += 2)
		foreach(lc, content_types(subj, list_nth_oid(generic_ct, i / 2), (AttrNumber) list_nth_int(generic_key, i / 2),
								  word, word2))
			sample_generic(subj, relid, from, list_nth(generic, i), list_nth(generic, i + 1), lfirst(lc),
						   sample, out);
}

/*
 * privacy.discover_links(subject text, sample int DEFAULT 1000)
 *		RETURNS TABLE (table_name regclass, column_name name, type_column
 *		name, type_value text, confidence real, matched int, sampled int)
 */
Datum
privacy_discover_links(PG_FUNCTION_ARGS)
{
	char	   *name = UtilTextArg(fcinfo, 0, "subject");
	int			sample = DiscoverCheckSample(fcinfo, 1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MapSubject *subj;
	char	   *word;
	char	   *word2;
	List	   *tables = NIL;
	List	   *found = NIL;
	ListCell   *lc;
	uint64		i;
	int			rc;
	int			frame;

	InitMaterializedSRF(fcinfo, 0);
	/* the catalog is read as the extension owner (the caller runs this) */
	frame = GuardEnterExtensionOwner();
	subj = MapGetSubject(name);
	GuardLeave(frame);
	word = lower_copy(subj->name);
	word2 = singular(get_rel_name(subj->root));
	UtilSpiConnect();
	/* user tables (partitions by their partitioned table), in a stable order */
	rc = SPI_execute("SELECT c.oid FROM pg_catalog.pg_class c"
					 " JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
					 " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition"
					 " AND c.relpersistence OPERATOR(pg_catalog.=) 'p'"
					 " AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'privacy')"
					 " AND n.nspname NOT LIKE 'pg\\_%'"
					 " AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d"
					 "  WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
					 "  AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.deptype OPERATOR(pg_catalog.=) 'e')"
					 " ORDER BY n.nspname, c.relname", true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "table lookup failed: %s", SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		tables = lappend_oid(tables, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																	SPI_tuptable->tupdesc, 1, &isnull)));
	}
	foreach(lc, tables)
	{
		Oid			relid = lfirst_oid(lc);

		CHECK_FOR_INTERRUPTS();
		if (relid == subj->root)
			continue;
		candidates_of(subj, relid, MapFindTable(subj, relid), word, word2, sample, &found);
	}
	foreach(lc, found)
	{
		LinkCandidate *c = lfirst(lc);
		Datum		values[7];
		bool		nulls[7] = {false};
		double		conf = c->sampled > 0 ? 0.5 + 0.5 * (double) c->matched / c->sampled : 0.5;

		if (c->agent)
			conf /= 2.0;

		values[0] = ObjectIdGetDatum(c->relid);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(c->column));
		if (c->tcolumn)
		{
			values[2] = DirectFunctionCall1(namein, CStringGetDatum(c->tcolumn));
			values[3] = CStringGetTextDatum(c->tvalue);
		}
		else
			nulls[2] = nulls[3] = true;
		values[4] = Float4GetDatum((float4) (floor(conf * 1000.0 + 0.5) / 1000.0));
		values[5] = Int32GetDatum(c->matched);
		values[6] = Int32GetDatum(c->sampled);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
