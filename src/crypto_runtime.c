/*-------------------------------------------------------------------------
 * crypto_runtime.c
 *		The read and write path of encrypted columns: the registration of a
 *		column as the runtime sees it (ColInfo, cached per trigger or call
 *		site), the subject key of a row, the BEFORE INSERT OR UPDATE
 *		trigger privacy.encrypt_trigger, read_encrypted() and the read
 *		expression other modules (access, the _decrypted view) use.
 *
 * Write path: a BEFORE INSERT OR UPDATE row trigger in C per encrypted
 * column (privacy.encrypt_trigger(column id)) replaces plaintext by
 * ciphertext before the row is formed, so plaintext never reaches the heap
 * or WAL.  A value that is already a ciphertext of this row is kept (pg_dump
 * data reloaded with triggers enabled, unchanged columns); one that belongs
 * elsewhere is refused with XX001.  With a subject, each value is encrypted
 * under its subject's own data key (keys.c), found through the data map;
 * a row linked to no subject uses the column's key.
 *
 * Values are bound to their row's primary key in a text no session setting
 * changes (key_canonical; values bound before 0.2.0 in the writer's
 * session text are still opened, open_bound).  The write trigger fires
 * after every user BEFORE trigger (its name, and check_trigger_order).
 *
 * Registrations follow renames (crypto_ddl.c); one that still does not
 * match (event triggers disabled) is a 42703, never a value read as
 * plaintext.  The plan that finds a row's subject is kept per column and
 * backend (subject_plan), not per statement.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/shortest_dec.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "crypto.h"
#include "guard.h"
#include "privacy.h"

/* what an encrypted column is; loaded from privacy.encrypted_columns */
typedef struct ColInfo
{
	int64		colid;
	Oid			relid;
	AttrNumber	attnum;
	bool		is_text;		/* text/varchar: stored as "pv1:" base64 */
	int32		typmod;			/* original varchar(n) typmod, or -1 */
	int64		key_id;			/* the column's key */
	char	   *subject;		/* NULL: no per-subject keys */
	int			nkeys;			/* primary key columns */
	AttrNumber	keyattnums[CRYPTO_MAX_KEY_PARTS];
	FmgrInfo	keyout[CRYPTO_MAX_KEY_PARTS];
	CryptoKeyForm keyform[CRYPTO_MAX_KEY_PARTS];
	bool		canonical;		/* a key part has a canonical form: new values
								 * are bound with CRYPTO_AAD_CANONICAL */
	/* subject key of a row: a direct column, or an SQL expression */
	AttrNumber	subj_attnum;	/* > 0: the row holds the root key */
	char	   *subj_sql;		/* else: SELECT ... FROM (SELECT ($1).*) t */
	Oid			subj_rowtype;
	SPIPlanPtr	subj_plan;
	FmgrInfo	subj_out;
	/* the write trigger's check_trigger_order was done for this statement */
	bool		order_checked_insert;
	bool		order_checked_update;
	/* cached privilege check (read path) */
	Oid			acl_user;
	/* rewrite progress */
	int64		rows;
} ColInfo;

/* encrypt_column in progress: the trigger re-encrypts unchanged values */
static int64 rewrite_colid = 0;

PG_FUNCTION_INFO_V1(privacy_read_encrypted);
PG_FUNCTION_INFO_V1(privacy_encrypt_trigger);

/* ------------------------------------------------------------------------
 * Column metadata
 * ------------------------------------------------------------------------
 */

/*
 * CryptoSetRewriteColumn
 *		encrypt_column is rewriting the values of column colid (0: done):
 *		the trigger then encrypts unchanged values too, and reports its
 *		progress.
 */
void
CryptoSetRewriteColumn(int64 colid)
{
	rewrite_colid = colid;
}

/*
 * CryptoPrimaryKey
 *		Columns of the primary key of rel; 0 if none.
 */
int
CryptoPrimaryKey(Relation rel, AttrNumber *out)
{
	Oid			pkoid;
	HeapTuple	tup;
	Form_pg_index idx;
	int			i,
				n;

	(void) RelationGetIndexList(rel);
	pkoid = rel->rd_pkindex;
	if (!OidIsValid(pkoid))
		return 0;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pkoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", pkoid);
	idx = (Form_pg_index) GETSTRUCT(tup);
	n = idx->indnkeyatts;
	if (n > CRYPTO_MAX_KEY_PARTS)
		n = CRYPTO_MAX_KEY_PARTS;
	for (i = 0; i < n; i++)
		out[i] = idx->indkey.values[i];
	ReleaseSysCache(tup);
	return n;
}

/*
 * load_colinfo
 *		Read an encrypted column's registration into a ColInfo allocated in
 *		mcxt.  missing_ok: NULL if the id is unknown.
 */
static ColInfo *
load_colinfo(int64 colid, MemoryContext mcxt, bool missing_ok)
{
	PrivacyUserSwitch sw;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	int			ret;
	ColInfo    *ci;
	MemoryContext old;
	Oid			relid;
	char	   *colname;
	char	   *subject = NULL;
	int64		key_id;
	int32		typmod;
	bool		isnull;
	Relation	rel;
	int			i;
	Oid			typid;

	values[0] = Int64GetDatum(colid);
	KeysBecomeCatalogOwner(&sw);
	UtilSpiConnect();
	ret = SPI_execute_with_args("SELECT table_name::oid, column_name::text, subject, key_id, "
								"coalesce(typmod, -1) FROM privacy.encrypted_columns WHERE id = $1",
								1, argtypes, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read privacy.encrypted_columns: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		SPI_finish();
		KeysRestoreUser(&sw);
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("encrypted column %lld is not registered", (long long) colid)));
	}
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;

		relid = DatumGetObjectId(SPI_getbinval(t, d, 1, &isnull));
		old = MemoryContextSwitchTo(mcxt);
		colname = SPI_getvalue(t, d, 2);
		subject = SPI_getvalue(t, d, 3);
		MemoryContextSwitchTo(old);
		key_id = DatumGetInt64(SPI_getbinval(t, d, 4, &isnull));
		typmod = DatumGetInt32(SPI_getbinval(t, d, 5, &isnull));
	}
	SPI_finish();
	KeysRestoreUser(&sw);

	ci = MemoryContextAllocZero(mcxt, sizeof(ColInfo));
	ci->colid = colid;
	ci->relid = relid;
	ci->key_id = key_id;
	ci->typmod = typmod;
	ci->subject = subject;
	ci->attnum = get_attnum(relid, colname);
	if (ci->attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("encrypted column \"%s\" no longer exists", colname),
				 errhint("An encrypted column was renamed or dropped; rename it back, or run privacy.decrypt_column before renaming.")));
	typid = get_atttype(relid, ci->attnum);
	ci->is_text = (typid != BYTEAOID);

	rel = table_open(relid, AccessShareLock);
	ci->nkeys = CryptoPrimaryKey(rel, ci->keyattnums);
	for (i = 0; i < ci->nkeys; i++)
	{
		Oid			outfn;
		bool		varlena;

		Oid			keytype = TupleDescAttr(RelationGetDescr(rel), ci->keyattnums[i] - 1)->atttypid;

		getTypeOutputInfo(keytype, &outfn, &varlena);
		fmgr_info_cxt(outfn, &ci->keyout[i], mcxt);
		ci->keyform[i] = CryptoKeyFormOf(keytype);
		if (ci->keyform[i] != KEYFORM_OUTPUT && ci->keyform[i] != KEYFORM_UNSUPPORTED)
			ci->canonical = true;
	}
	ci->subj_rowtype = RelationGetDescr(rel)->tdtypeid;
	table_close(rel, AccessShareLock);
	if (ci->nkeys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table of an encrypted column has no primary key"),
				 errhint("Encrypted values are bound to the primary key of their row; restore the primary key.")));
	return ci;
}

/* ------------------------------------------------------------------------
 * The associated data: canonical forms of key values
 * ------------------------------------------------------------------------
 */

/*
 * CryptoKeyFormOf
 *		How a primary-key value of type typid (a domain: its base type) is
 *		written into the associated data; see crypto.h.  An array, range,
 *		multirange or composite is KEYFORM_OUTPUT when everything in it is,
 *		else KEYFORM_UNSUPPORTED.
 */
CryptoKeyForm
CryptoKeyFormOf(Oid typid)
{
	Oid			elem;

	check_stack_depth();
	typid = getBaseType(typid);
	switch (typid)
	{
		case TIMESTAMPTZOID:
			return KEYFORM_TIMESTAMPTZ;
		case TIMESTAMPOID:
			return KEYFORM_TIMESTAMP;
		case DATEOID:
			return KEYFORM_DATE;
		case INTERVALOID:
			return KEYFORM_INTERVAL;
		case FLOAT4OID:
			return KEYFORM_FLOAT4;
		case FLOAT8OID:
			return KEYFORM_FLOAT8;
		case BYTEAOID:
			return KEYFORM_BYTEA;
		case CASHOID:
			return KEYFORM_MONEY;
		case REGCLASSOID:
		case REGCOLLATIONOID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
		case REGNAMESPACEOID:
		case REGOPERATOROID:
		case REGOPEROID:
		case REGPROCEDUREOID:
		case REGPROCOID:
		case REGROLEOID:
		case REGTYPEOID:
			return KEYFORM_UNSUPPORTED;
		default:
			break;
	}
	elem = get_element_type(typid);
	if (!OidIsValid(elem) && type_is_range(typid))
		elem = get_range_subtype(typid);
	if (!OidIsValid(elem) && type_is_multirange(typid))
		elem = get_multirange_range(typid);
	if (OidIsValid(elem))
		return CryptoKeyFormOf(elem) == KEYFORM_OUTPUT ? KEYFORM_OUTPUT : KEYFORM_UNSUPPORTED;
	if (get_typtype(typid) == TYPTYPE_COMPOSITE)
	{
		TupleDesc	td = lookup_rowtype_tupdesc(typid, -1);
		CryptoKeyForm form = KEYFORM_OUTPUT;

		for (int i = 0; i < td->natts && form == KEYFORM_OUTPUT; i++)
			if (!TupleDescAttr(td, i)->attisdropped &&
				CryptoKeyFormOf(TupleDescAttr(td, i)->atttypid) != KEYFORM_OUTPUT)
				form = KEYFORM_UNSUPPORTED;
		ReleaseTupleDesc(td);
		return form;
	}
	return KEYFORM_OUTPUT;
}

/* the time zone canonical timestamptz values are written in */
static pg_tz *
utc_zone(void)
{
	static pg_tz *utc = NULL;

	if (utc == NULL)
	{
		utc = pg_tzset("UTC");
		if (utc == NULL)
			elog(ERROR, "could not load time zone \"UTC\"");
	}
	return utc;
}

/* 22008 for a value the output function would refuse too */
static void
key_out_of_range(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("primary key value out of range")));
}

/*
 * key_canonical
 *		The canonical text of key value d of form (KEYFORM_OUTPUT and
 *		KEYFORM_UNSUPPORTED: the output function out).  buf has room for
 *		CRYPTO_KEY_BUF bytes; the result is there or palloc'd.
 */
#define CRYPTO_KEY_BUF	(MAXDATELEN + 1)

static char *
key_canonical(CryptoKeyForm form, Datum d, FmgrInfo *out, char *buf)
{
	struct pg_tm tm;
	fsec_t		fsec;

	switch (form)
	{
		case KEYFORM_TIMESTAMPTZ:
			{
				TimestampTz ts = DatumGetTimestampTz(d);
				int			tz;
				const char *tzn;

				if (TIMESTAMP_IS_NOBEGIN(ts))
					strcpy(buf, "-infinity");
				else if (TIMESTAMP_IS_NOEND(ts))
					strcpy(buf, "infinity");
				else if (timestamp2tm(ts, &tz, &tm, &fsec, &tzn, utc_zone()) == 0)
					EncodeDateTime(&tm, fsec, true, tz, tzn, USE_ISO_DATES, buf);
				else
					key_out_of_range();
				return buf;
			}
		case KEYFORM_TIMESTAMP:
			{
				Timestamp	ts = DatumGetTimestamp(d);

				if (TIMESTAMP_IS_NOBEGIN(ts))
					strcpy(buf, "-infinity");
				else if (TIMESTAMP_IS_NOEND(ts))
					strcpy(buf, "infinity");
				else if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) == 0)
					EncodeDateTime(&tm, fsec, false, 0, NULL, USE_ISO_DATES, buf);
				else
					key_out_of_range();
				return buf;
			}
		case KEYFORM_DATE:
			{
				DateADT		date = DatumGetDateADT(d);

				if (DATE_IS_NOBEGIN(date))
					strcpy(buf, "-infinity");
				else if (DATE_IS_NOEND(date))
					strcpy(buf, "infinity");
				else
				{
					j2date(date + POSTGRES_EPOCH_JDATE, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
					EncodeDateOnly(&tm, USE_ISO_DATES, buf);
				}
				return buf;
			}
		case KEYFORM_INTERVAL:
			{
				Interval   *span = DatumGetIntervalP(d);
				struct pg_itm itm;

#ifdef INTERVAL_NOT_FINITE
				/* 17: infinite intervals */
				if (INTERVAL_IS_NOBEGIN(span))
				{
					strcpy(buf, "-infinity");
					return buf;
				}
				if (INTERVAL_IS_NOEND(span))
				{
					strcpy(buf, "infinity");
					return buf;
				}
#endif
				interval2itm(*span, &itm);
				EncodeInterval(&itm, INTSTYLE_POSTGRES, buf);
				return buf;
			}
		case KEYFORM_FLOAT4:
			float_to_shortest_decimal_buf(DatumGetFloat4(d), buf);
			return buf;
		case KEYFORM_FLOAT8:
			double_to_shortest_decimal_buf(DatumGetFloat8(d), buf);
			return buf;
		case KEYFORM_BYTEA:
			{
				bytea	   *b = DatumGetByteaPP(d);
				size_t		n = VARSIZE_ANY_EXHDR(b);
				char	   *res = palloc(2 * n + 3);

				res[0] = '\\';
				res[1] = 'x';
				hex_encode(VARDATA_ANY(b), n, res + 2);
				res[2 * n + 2] = '\0';
				return res;
			}
		case KEYFORM_MONEY:
			pg_lltoa(DatumGetInt64(d), buf);
			return buf;
		case KEYFORM_OUTPUT:
		case KEYFORM_UNSUPPORTED:
			break;
	}
	return OutputFunctionCall(out, d);
}

/*
 * column_aad
 *		hdr | colid | (len | text) per key part, palloc'd.
 */
static unsigned char *
column_aad(ColInfo *ci, unsigned char hdrbyte, char **parts, size_t *len)
{
	StringInfoData buf;
	unsigned char hdr[9];
	int			i;

	initStringInfo(&buf);
	hdr[0] = hdrbyte;
	CryptoPutBe64(hdr + 1, (uint64) ci->colid);
	appendBinaryStringInfo(&buf, (char *) hdr, 9);
	for (i = 0; i < ci->nkeys; i++)
	{
		uint32		n = (uint32) strlen(parts[i]);
		unsigned char l[4];

		l[0] = n >> 24;
		l[1] = n >> 16;
		l[2] = n >> 8;
		l[3] = n;
		appendBinaryStringInfo(&buf, (char *) l, 4);
		appendBinaryStringInfo(&buf, parts[i], n);
	}
	*len = buf.len;
	return (unsigned char *) buf.data;
}

/*
 * tuple_key_parts
 *		The primary-key values of a row as text: canonical forms, or (not
 *		canonical) the session's output, as values written before 0.2.0 were
 *		bound.
 */
static char **
tuple_key_parts(ColInfo *ci, HeapTuple tup, TupleDesc desc, bool canonical)
{
	char	  **parts = palloc(sizeof(char *) * ci->nkeys);
	int			i;

	for (i = 0; i < ci->nkeys; i++)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, ci->keyattnums[i], desc, &isnull);

		if (isnull)
			parts[i] = "";
		else if (canonical && ci->keyform[i] != KEYFORM_OUTPUT &&
				 ci->keyform[i] != KEYFORM_UNSUPPORTED)
			parts[i] = key_canonical(ci->keyform[i], d, &ci->keyout[i], palloc(CRYPTO_KEY_BUF));
		else
			parts[i] = OutputFunctionCall(&ci->keyout[i], d);
	}
	return parts;
}

/*
 * row_aad
 *		The associated data new values of row tup are bound with: canonical
 *		key parts, under CRYPTO_AAD_CANONICAL when the key has a canonical
 *		form, else CRYPTO_AAD_COLUMN (the same bytes as before 0.2.0).
 */
static unsigned char *
row_aad(ColInfo *ci, HeapTuple tup, TupleDesc desc, size_t *len)
{
	return column_aad(ci, ci->canonical ? CRYPTO_AAD_CANONICAL : CRYPTO_AAD_COLUMN,
					  tuple_key_parts(ci, tup, desc, true), len);
}

/*
 * open_bound
 *		Open the raw ciphertext of a value of row tup, whose associated data
 *		for new values is aad (row_aad).  When the key has a canonical form,
 *		a value written before it (CRYPTO_AAD_COLUMN) is tried too, with the
 *		key parts in this session's output and in the canonical text (the
 *		output under the reference settings).  *legacy: it opened only so.
 *		CryptoOpen's result otherwise.
 */
static bool
open_bound(ColInfo *ci, HeapTuple tup, TupleDesc desc, const unsigned char *aad, size_t aadlen,
		   const unsigned char *raw, size_t rawlen, unsigned char **pt, size_t *ptlen,
		   bool *destroyed, bool *legacy)
{
	unsigned char *old;
	size_t		oldlen;
	unsigned char *canon;
	size_t		canonlen;

	*legacy = false;
	if (CryptoOpen(raw, rawlen, aad, aadlen, pt, ptlen, destroyed))
		return true;
	if (!ci->canonical)
		return false;
	*legacy = true;
	old = column_aad(ci, CRYPTO_AAD_COLUMN, tuple_key_parts(ci, tup, desc, false), &oldlen);
	if (CryptoOpen(raw, rawlen, old, oldlen, pt, ptlen, destroyed))
		return true;
	canon = column_aad(ci, CRYPTO_AAD_COLUMN, tuple_key_parts(ci, tup, desc, true), &canonlen);
	if ((canonlen != oldlen || memcmp(canon, old, oldlen) != 0) &&
		CryptoOpen(raw, rawlen, canon, canonlen, pt, ptlen, destroyed))
		return true;
	*legacy = false;
	return false;
}

/* ------------------------------------------------------------------------
 * Subject keys
 * ------------------------------------------------------------------------
 */

/*
 * prepare_subject
 *		Work out how to find the root key of a row of ci's table.
 */
static void
prepare_subject(ColInfo *ci, MemoryContext mcxt)
{
	MapSubject *subj;
	MapTable   *mt;
	List	   *exprs;
	char	   *expr;
	MemoryContext old;
	Oid			outfn;
	bool		varlena;
	PrivacyUserSwitch sw;

	/* the map lives in the catalog */
	KeysBecomeCatalogOwner(&sw);
	subj = MapGetSubject(ci->subject);
	mt = MapFindTable(subj, ci->relid);
	exprs = mt ? MapKeyExprs(subj, mt, "t") : NIL;
	KeysRestoreUser(&sw);

	if (mt == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" is not in the data map of subject type \"%s\"",
						get_rel_name(ci->relid), ci->subject)));
	getTypeOutputInfo(subj->key_type, &outfn, &varlena);
	fmgr_info_cxt(outfn, &ci->subj_out, mcxt);
	if (subj->root == ci->relid)
	{
		ci->subj_attnum = get_attnum(ci->relid, subj->key_column);
		if (ci->subj_attnum != InvalidAttrNumber)
			return;
	}
	if (exprs == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no path from table \"%s\" to the root of subject type \"%s\"",
						get_rel_name(ci->relid), ci->subject)));
	expr = (char *) linitial(exprs);
	/* "CAST((t.<column>) AS <key type>)": the row holds the key itself */
	{
		int			natts;
		int			i;
		Relation	rel = table_open(ci->relid, AccessShareLock);
		char	   *keytype = format_type_with_typemod(subj->key_type, subj->key_typmod);

		natts = RelationGetDescr(rel)->natts;
		for (i = 0; i < natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(RelationGetDescr(rel), i);

			if (!a->attisdropped && a->atttypid == subj->key_type &&
				strcmp(expr, psprintf("CAST((t.%s) AS %s)", quote_identifier(NameStr(a->attname)),
									  keytype)) == 0)
			{
				ci->subj_attnum = a->attnum;
				break;
			}
		}
		table_close(rel, AccessShareLock);
		if (ci->subj_attnum > 0)
			return;
	}
	old = MemoryContextSwitchTo(mcxt);
	ci->subj_sql = psprintf("SELECT (%s) FROM (SELECT ($1).*) AS t", expr);
	MemoryContextSwitchTo(old);
}

/*
 * The plans that find a row's subject, one per encrypted column and
 * backend (a ColInfo lives only as long as its statement's trigger
 * FmgrInfo; a plan kept per statement would leak).  A plan is replaced, and
 * the old one freed, when the column's SQL changes (the map changed).
 */
typedef struct SubjectPlanEntry
{
	int64		colid;			/* hash key */
	Oid			rowtype;
	char	   *sql;			/* in TopMemoryContext */
	SPIPlanPtr	plan;
} SubjectPlanEntry;

static HTAB *subject_plans = NULL;

/*
 * subject_plan
 *		The kept plan of ci->subj_sql, prepared on first use.  Inside SPI.
 */
static SPIPlanPtr
subject_plan(ColInfo *ci)
{
	SubjectPlanEntry *e;
	bool		found;
	SPIPlanPtr	p;

	if (subject_plans == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(SubjectPlanEntry);
		ctl.hcxt = TopMemoryContext;
		subject_plans = hash_create("privacy subject plans", 64, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(subject_plans, &ci->colid, HASH_ENTER, &found);
	if (found && e->plan != NULL && e->rowtype == ci->subj_rowtype &&
		strcmp(e->sql, ci->subj_sql) == 0)
		return e->plan;
	if (!found)
	{
		e->sql = NULL;
		e->plan = NULL;
	}
	if (e->plan != NULL)
		SPI_freeplan(e->plan);
	if (e->sql != NULL)
		pfree(e->sql);
	e->plan = NULL;
	e->sql = NULL;
	p = SPI_prepare(ci->subj_sql, 1, &ci->subj_rowtype);
	if (p == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(p) != 0)
		elog(ERROR, "SPI_keepplan failed");
	e->sql = MemoryContextStrdup(TopMemoryContext, ci->subj_sql);
	e->rowtype = ci->subj_rowtype;
	e->plan = p;
	return p;
}

/*
 * row_subject
 *		Canonical id of the subject row tup belongs to (in the caller's
 *		memory context), NULL when it belongs to none.  The path may cross
 *		tables the writer cannot read: it is followed as the table's owner.
 */
static char *
row_subject(ColInfo *ci, HeapTuple tup, TupleDesc desc)
{
	MemoryContext cxt = CurrentMemoryContext;
	Datum		arg;
	Datum		root;
	bool		isnull = true;
	char	   *canonical = NULL;
	PrivacyUserSwitch sw;
	int			ret;

	if (ci->subj_attnum > 0)
	{
		root = heap_getattr(tup, ci->subj_attnum, desc, &isnull);
		return isnull ? NULL : OutputFunctionCall(&ci->subj_out, root);
	}
	arg = heap_copy_tuple_as_datum(tup, desc);
	sw.frame = GuardEnterTableOwner(ci->relid);
	UtilSpiConnect();
	if (ci->subj_plan == NULL)
		ci->subj_plan = subject_plan(ci);
	ret = SPI_execute_plan(ci->subj_plan, &arg, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not find the subject of a row: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		root = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			canonical = OutputFunctionCall(&ci->subj_out, root);
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	GuardLeave(sw.frame);
	return canonical;
}

/*
 * row_key_id
 *		The data key for a value of row tup: its subject's key (created on
 *		first use), or the column key when there is no subject.
 */
static int64
row_key_id(ColInfo *ci, HeapTuple tup, TupleDesc desc, MemoryContext mcxt)
{
	char	   *canonical;
	char	   *ref;
	PrivacyUserSwitch sw;

	if (ci->subject == NULL)
		return ci->key_id;
	if (ci->subj_attnum == 0 && ci->subj_sql == NULL)
		prepare_subject(ci, mcxt);
	canonical = row_subject(ci, tup, desc);
	if (canonical == NULL)
		return ci->key_id;
	KeysBecomeCatalogOwner(&sw);
	ref = UtilSubjectRef(ci->subject, canonical);
	KeysRestoreUser(&sw);
	return KeysSubjectKey(ci->subject, ref);
}

/* ------------------------------------------------------------------------
 * The write trigger
 * ------------------------------------------------------------------------
 */

/*
 * datum_bytes
 *		Body of a varlena datum (detoasted).
 */
static void
datum_bytes(Datum d, char **data, size_t *len)
{
	struct varlena *v = PG_DETOAST_DATUM_PACKED(d);

	*data = VARDATA_ANY(v);
	*len = VARSIZE_ANY_EXHDR(v);
}

/*
 * check_length
 *		varchar(n): the plaintext must fit, as the column did before: a
 *		value longer than n characters is 22001, unless the characters
 *		beyond n are all spaces, which are cut off (as varchar(n) does on
 *		assignment).  Returns the length to store.
 */
static size_t
check_length(ColInfo *ci, const char *pt, size_t len)
{
	int			maxlen;
	size_t		cut;

	if (!ci->is_text || ci->typmod < (int32) VARHDRSZ)
		return len;
	maxlen = ci->typmod - VARHDRSZ;
	if (len <= (size_t) maxlen)
		return len;
	cut = (size_t) pg_mbcharcliplen(pt, (int) len, maxlen);
	for (size_t j = cut; j < len; j++)
		if (pt[j] != ' ')
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("value too long for type character varying(%d)", maxlen),
					 errhidestmt(true)));
	return cut;
}

/*
 * encrypt_value
 *		Stored datum for plaintext pt of a row.
 */
static Datum
encrypt_value(ColInfo *ci, int64 key_id, const char *pt, size_t ptlen,
			  const unsigned char *aad, size_t aadlen)
{
	const unsigned char *key = KeysGet(key_id);
	unsigned char *raw = palloc(CRYPTO_MIN_BYTES + ptlen);
	Datum		res;

	CryptoSeal(key_id, key, (const unsigned char *) pt, ptlen, aad, aadlen, raw);
	res = CryptoRawToStored(ci->is_text, raw, CRYPTO_MIN_BYTES + ptlen);
	pfree(raw);
	return res;
}

/*
 * with_value
 *		tup with the encrypted column set to newval.
 */
static HeapTuple
with_value(ColInfo *ci, HeapTuple tup, TupleDesc desc, Datum newval)
{
	int			attnum = ci->attnum;
	bool		newnull = false;

	return heap_modify_tuple_by_cols(tup, desc, 1, &attnum, &newval, &newnull);
}

/*
 * check_trigger_order
 *		No user trigger may fire after the encryption trigger: BEFORE ROW
 *		triggers fire in the order of their names, and one that fired later
 *		could put plaintext into the column, or change the key or the
 *		subject the value was just bound to.  The trigger's name sorts after
 *		every ASCII name (CRYPTO_TRIGGER_PREFIX) and an event trigger refuses
 *		DDL that would put a trigger after it; this is the check that holds
 *		when event triggers did not run (or the trigger was renamed): a
 *		BEFORE ROW trigger after it for the same event (INSERT or UPDATE)
 *		that fires in this session's replication role, other than the
 *		extension's own, is 55000 before anything is written.  Once per
 *		statement and event.
 */
static void
check_trigger_order(TriggerData *td, ColInfo *ci)
{
	TriggerDesc *trigdesc = td->tg_relation->trigdesc;
	bool		update = TRIGGER_FIRED_BY_UPDATE(td->tg_event);
	Oid			nsp;
	bool		after = false;

	if (update ? ci->order_checked_update : ci->order_checked_insert)
		return;
	nsp = get_namespace_oid("privacy", false);

	for (int i = 0; trigdesc != NULL && i < trigdesc->numtriggers; i++)
	{
		Trigger    *t = &trigdesc->triggers[i];
		bool		fires;

		if (t->tgoid == td->tg_trigger->tgoid)
		{
			after = true;
			continue;
		}
		if (!after || !TRIGGER_FOR_ROW(t->tgtype) || !TRIGGER_FOR_BEFORE(t->tgtype) ||
			!(update ? TRIGGER_FOR_UPDATE(t->tgtype) : TRIGGER_FOR_INSERT(t->tgtype)))
			continue;
		if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
			fires = t->tgenabled == TRIGGER_FIRES_ON_REPLICA || t->tgenabled == TRIGGER_FIRES_ALWAYS;
		else
			fires = t->tgenabled == TRIGGER_FIRES_ON_ORIGIN || t->tgenabled == TRIGGER_FIRES_ALWAYS;
		if (!fires || get_func_namespace(t->tgfoid) == nsp)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trigger \"%s\" on table \"%s\" fires after the encryption trigger \"%s\"",
						t->tgname, RelationGetRelationName(td->tg_relation), td->tg_trigger->tgname),
				 errdetail("BEFORE triggers fire in the order of their names; one that fires after the encryption could store plaintext in the encrypted column or change the key the value is bound to."),
				 errhint("Rename the trigger so that its name sorts before \"%s\".",
						 td->tg_trigger->tgname)));
	}
	if (update)
		ci->order_checked_update = true;
	else
		ci->order_checked_insert = true;
}

/*
 * trigger_colinfo
 *		The ColInfo of the trigger's column, cached in its FmgrInfo; NULL
 *		when the column was dropped (its registration went with it).
 */
static ColInfo *
trigger_colinfo(FunctionCallInfo fcinfo, TriggerData *td)
{
	ColInfo    *ci = (ColInfo *) fcinfo->flinfo->fn_extra;

	if (ci != NULL)
		return ci;
	ci = load_colinfo(pg_strtoint64(td->tg_trigger->tgargs[0]),
					  fcinfo->flinfo->fn_mcxt, true);
	if (ci == NULL)
		return NULL;
	if (ci->relid != RelationGetRelid(td->tg_relation))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("encrypted column %lld belongs to another table", (long long) ci->colid)));
	fcinfo->flinfo->fn_extra = ci;
	return ci;
}

/*
 * value_unchanged
 *		UPDATE: does the new row hold the very bytes the old row held?
 */
static bool
value_unchanged(TriggerData *td, ColInfo *ci, const char *data, size_t len)
{
	bool		oldnull;
	Datum		oldval = heap_getattr(td->tg_trigtuple, ci->attnum,
									  RelationGetDescr(td->tg_relation), &oldnull);
	char	   *odata;
	size_t		olen;

	if (oldnull)
		return false;
	datum_bytes(oldval, &odata, &olen);
	return olen == len && memcmp(odata, data, len) == 0;
}

/*
 * rebind_unchanged
 *		An UPDATE left the stored value as it was: keep it while its binding
 *		holds, else (the row key or the subject changed) decrypt it under
 *		the old row's binding and encrypt it for the new row (aad); XX001
 *		when it does not open under the old row's binding.  Returns the row
 *		to store.
 */
static HeapTuple
rebind_unchanged(FunctionCallInfo fcinfo, TriggerData *td, ColInfo *ci,
				 const char *data, size_t len, const unsigned char *aad, size_t aadlen)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	HeapTuple	newtup = td->tg_newtuple;
	size_t		oaadlen;
	unsigned char *oaad = row_aad(ci, td->tg_trigtuple, desc, &oaadlen);
	int64		key_id = row_key_id(ci, newtup, desc, fcinfo->flinfo->fn_mcxt);
	unsigned char *raw;
	size_t		rawlen;
	unsigned char *pt;
	size_t		ptlen;
	bool		destroyed;
	bool		legacy;
	Datum		newval;

	if (oaadlen == aadlen && memcmp(oaad, aad, aadlen) == 0)
	{
		/*
		 * Same place.  A row that lost its subject (a foreign key set to
		 * NULL, as when the subject is erased) keeps its value under that
		 * subject's key, so the subject's erasure still shreds it.
		 */
		if (!CryptoStoredToRaw(ci->is_text, data, len, &raw, &rawlen) ||
			(int64) CryptoGetBe64(raw) == key_id || ci->subject == NULL ||
			key_id == ci->key_id)
			return newtup;
	}
	/* re-bind: the row key or the subject changed */
	if (!CryptoStoredToRaw(ci->is_text, data, len, &raw, &rawlen))
		return newtup;
	if (!open_bound(ci, td->tg_trigtuple, desc, oaad, oaadlen, raw, rawlen, &pt, &ptlen,
					&destroyed, &legacy))
	{
		/*
		 * Not a value of the old row: it was put there behind the
		 * trigger's back, or (bound before 0.2.0 in another session's
		 * text of the key) it reads only under the writer's settings.
		 * Bound to the new row it would be lost for good: refused.
		 */
		CryptoTampered();
	}
	if (destroyed)
		return newtup;
	newval = encrypt_value(ci, key_id, (char *) pt, ptlen, aad, aadlen);
	sodium_memzero(pt, ptlen);
	return with_value(ci, newtup, desc, newval);
}

/*
 * The values this backend encrypted last, one per column, in this
 * statement (its command id: the insert and the update of an upsert are one
 * command, a later UPDATE is another): INSERT ... ON CONFLICT DO UPDATE SET col = EXCLUDED.col hands
 * the UPDATE the ciphertext the INSERT's trigger made, bound to the proposed
 * row's key, not to the row being updated.  The UPDATE's trigger recognizes
 * it here and encrypts the same plaintext for its own row (the caller gave
 * that plaintext: nothing is learnt).  Zeroed when replaced and at the end
 * of the transaction.
 */
#define LAST_SLOTS 64
typedef struct LastEncrypted
{
	int64		colid;			/* 0: free */
	CommandId	cid;			/* the statement that encrypted it */
	char	   *stored;			/* the stored form (datum_bytes) */
	size_t		storedlen;
	unsigned char *pt;
	size_t		ptlen;
	size_t		cap;			/* of both buffers, kept between rows */
} LastEncrypted;

static LastEncrypted last_encrypted[LAST_SLOTS];
static int	last_next = 0;
static bool last_callback = false;

/* free the slot: the plaintext zeroed, the buffers kept for the next row */
static void
last_clear(LastEncrypted *l)
{
	if (l->pt)
		sodium_memzero(l->pt, l->ptlen);
	l->colid = 0;
	l->ptlen = 0;
	l->storedlen = 0;
}

static void
last_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		for (int i = 0; i < LAST_SLOTS; i++)
			if (last_encrypted[i].colid != 0)
				last_clear(&last_encrypted[i]);
}

static void
last_remember(int64 colid, Datum stored, const char *pt, size_t ptlen)
{
	LastEncrypted *l = NULL;
	char	   *data;
	size_t		len;

	if (!last_callback)
	{
		RegisterXactCallback(last_xact_callback, NULL);
		last_callback = true;
	}
	for (int i = 0; i < LAST_SLOTS && l == NULL; i++)
		if (last_encrypted[i].colid == colid)
			l = &last_encrypted[i];
	if (l == NULL)
	{
		l = &last_encrypted[last_next];
		last_next = (last_next + 1) % LAST_SLOTS;
	}
	last_clear(l);
	datum_bytes(stored, &data, &len);
	if (l->cap < Max(len, ptlen))
	{
		/* grown as needed, reused by the next rows (a bulk insert) */
		if (l->pt)
		{
			pfree(l->pt);
			pfree(l->stored);
		}
		l->cap = Max(Max(len, ptlen), 64);
		l->pt = MemoryContextAlloc(TopMemoryContext, l->cap);
		l->stored = MemoryContextAlloc(TopMemoryContext, l->cap);
	}
	l->colid = colid;
	l->cid = GetCurrentCommandId(false);
	memcpy(l->stored, data, len);
	l->storedlen = len;
	memcpy(l->pt, pt, ptlen);
	l->ptlen = ptlen;
}

/* the plaintext of a value this backend just encrypted for the column, or NULL */
static LastEncrypted *
last_find(int64 colid, const char *data, size_t len)
{
	for (int i = 0; i < LAST_SLOTS; i++)
		if (last_encrypted[i].colid == colid && last_encrypted[i].cid == GetCurrentCommandId(false) &&
			last_encrypted[i].storedlen == len && memcmp(last_encrypted[i].stored, data, len) == 0)
			return &last_encrypted[i];
	return NULL;
}

/*
 * keep_ciphertext
 *		The new value has the ciphertext format (raw): keep it if it
 *		belongs here (this row's binding, or a destroyed key), re-encrypt
 *		it when it is valid here but under another subject's key or bound
 *		as before 0.2.0 (open_bound), XX001 when it belongs elsewhere.
 *		NULL when its key id is unknown: an ordinary value that looks
 *		alike, to be encrypted.
 */
static HeapTuple
keep_ciphertext(ColInfo *ci, HeapTuple newtup, TupleDesc desc, int64 key_id,
				const unsigned char *raw, size_t rawlen,
				const unsigned char *aad, size_t aadlen)
{
	const unsigned char *k;
	KeyLookup	kl = KeysLookup((int64) CryptoGetBe64(raw), &k);
	unsigned char *pt = NULL;
	size_t		ptlen = 0;
	bool		destroyed;
	bool		legacy;
	Datum		newval;

	if (kl == KEY_DESTROYED)
		return newtup;
	if (kl != KEY_FOUND)
		return NULL;
	if (!open_bound(ci, newtup, desc, aad, aadlen, raw, rawlen, &pt, &ptlen, &destroyed, &legacy))
		CryptoTampered();
	if (destroyed || (!legacy && ((int64) CryptoGetBe64(raw) == key_id || ci->subject == NULL)))
	{
		if (pt)
			sodium_memzero(pt, ptlen);
		return newtup;
	}
	/* valid, but under another subject's key or bound the old way: re-encrypt */
	newval = encrypt_value(ci, key_id, (char *) pt, ptlen, aad, aadlen);
	sodium_memzero(pt, ptlen);
	return with_value(ci, newtup, desc, newval);
}

/*
 * privacy_encrypt_trigger
 *		BEFORE INSERT OR UPDATE FOR EACH ROW; argument: the column id.
 *		Replaces plaintext with ciphertext before the row is stored.
 */
Datum
privacy_encrypt_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	ColInfo    *ci;
	HeapTuple	newtup;
	HeapTuple	kept;
	TupleDesc	desc;
	Datum		val;
	bool		isnull;
	char	   *data;
	size_t		len;
	unsigned char *aad;
	size_t		aadlen;
	int64		key_id;
	unsigned char *raw;
	size_t		rawlen;
	bool		rewriting;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || TRIGGER_FIRED_BY_DELETE(td->tg_event) ||
		td->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"privacy.encrypt_trigger\" must be fired BEFORE INSERT OR UPDATE FOR EACH ROW with a column id")));
	KeysRequireRootKey();
	newtup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	ci = trigger_colinfo(fcinfo, td);
	if (ci == NULL)
		return PointerGetDatum(newtup);
	check_trigger_order(td, ci);

	/* the new value and its binding (column, row key) */
	desc = RelationGetDescr(td->tg_relation);
	val = heap_getattr(newtup, ci->attnum, desc, &isnull);
	if (isnull)
		return PointerGetDatum(newtup);
	datum_bytes(val, &data, &len);
	aad = row_aad(ci, newtup, desc, &aadlen);
	rewriting = (rewrite_colid == ci->colid);
	if (rewriting && ++ci->rows % CRYPTO_PROGRESS_ROWS == 0)
		ereport(NOTICE, (errmsg("%lld rows encrypted so far", (long long) ci->rows)));

	/* an unchanged value, a ciphertext, or plaintext to encrypt */
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event) && !rewriting &&
		value_unchanged(td, ci, data, len))
		return PointerGetDatum(rebind_unchanged(fcinfo, td, ci, data, len, aad, aadlen));
	key_id = row_key_id(ci, newtup, desc, fcinfo->flinfo->fn_mcxt);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event) && !rewriting)
	{
		/* an upsert's EXCLUDED value: encrypted again for this row */
		LastEncrypted *l = last_find(ci->colid, data, len);

		if (l != NULL)
			return PointerGetDatum(with_value(ci, newtup, desc,
											  encrypt_value(ci, key_id, (char *) l->pt, l->ptlen,
															aad, aadlen)));
	}
	if (CryptoStoredToRaw(ci->is_text, data, len, &raw, &rawlen) &&
		(kept = keep_ciphertext(ci, newtup, desc, key_id, raw, rawlen, aad, aadlen)) != NULL)
		return PointerGetDatum(kept);
	len = check_length(ci, data, len);
	{
		Datum		stored = encrypt_value(ci, key_id, data, len, aad, aadlen);

		if (TRIGGER_FIRED_BY_INSERT(td->tg_event) && !rewriting)
			last_remember(ci->colid, stored, data, len);
		return PointerGetDatum(with_value(ci, newtup, desc, stored));
	}
}

/* ------------------------------------------------------------------------
 * The read path
 * ------------------------------------------------------------------------
 */

typedef struct ReadCache
{
	ColInfo    *ci;
	int			nargs;
	Oid			argtype[CRYPTO_MAX_KEY_PARTS];
	FmgrInfo	out[CRYPTO_MAX_KEY_PARTS];
	CryptoKeyForm form[CRYPTO_MAX_KEY_PARTS];
	/* the last key used, valid while the key cache generation holds */
	int64		key_id;
	const unsigned char *key;
	uint64		generation;
	/* row security of the table for rls_user: the row must be visible */
	Oid			rls_user;
	bool		rls;
	SPIPlanPtr	rls_plan;
} ReadCache;

/*
 * read_cache
 *		The ReadCache of a read_encrypted() call site: the column's
 *		registration and the output functions of the key arguments, kept in
 *		the FmgrInfo while the column id stays the same.
 */
static ReadCache *
read_cache(FunctionCallInfo fcinfo, int64 colid)
{
	ReadCache  *rc = (ReadCache *) fcinfo->flinfo->fn_extra;
	int			i;

	if (rc != NULL && rc->ci->colid == colid)
		return rc;
	rc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ReadCache));
	rc->ci = load_colinfo(colid, fcinfo->flinfo->fn_mcxt, false);
	rc->nargs = PG_NARGS() - 2;
	if (rc->nargs != rc->ci->nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("read_encrypted needs the %d primary key values of the row", rc->ci->nkeys)));
	for (i = 0; i < rc->nargs; i++)
	{
		Oid			t = get_fn_expr_argtype(fcinfo->flinfo, i + 2);
		Oid			outfn;
		bool		varlena;

		if (!OidIsValid(t))
			ereport(ERROR,
					(errcode(ERRCODE_INDETERMINATE_DATATYPE),
					 errmsg("could not determine the types of the primary key values")));
		rc->argtype[i] = t;
		rc->form[i] = CryptoKeyFormOf(t);
		getTypeOutputInfo(t, &outfn, &varlena);
		fmgr_info_cxt(outfn, &rc->out[i], fcinfo->flinfo->fn_mcxt);
	}
	fcinfo->flinfo->fn_extra = rc;
	return rc;
}

/*
 * read_check_acl
 *		The caller needs SELECT on the table or the column (as the executor
 *		would ask); the answer is kept for the current user.
 */
static void
read_check_acl(ColInfo *ci)
{
	if (ci->acl_user == GetUserId())
		return;
	if (pg_class_aclcheck(ci->relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		pg_attribute_aclcheck(ci->relid, ci->attnum, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for encrypted column \"%s\" of table \"%s\"",
						get_attname(ci->relid, ci->attnum, false), get_rel_name(ci->relid))));
	ci->acl_user = GetUserId();
}

/* the schema of an operator */
static Oid
opr_namespace(Oid opr)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opr));
	Oid			nsp;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", opr);
	nsp = ((Form_pg_operator) GETSTRUCT(tup))->oprnamespace;
	ReleaseSysCache(tup);
	return nsp;
}

/*
 * read_check_row
 *		Where row security applies to the current user, read_encrypted()
 *		answers only for a row the user can see (SPEC §7: no oracle): a
 *		ciphertext copied from a row its policy hides (a backup table, an
 *		export) is refused with 42501.  The row is looked up by its primary
 *		key as the current user, as its own query would (the _decrypted view
 *		is security_invoker), with the key types' own equality operators,
 *		named by schema.  Costs one index lookup per value on such tables,
 *		nothing elsewhere.
 */
static void
read_check_row(FunctionCallInfo fcinfo, ReadCache *rc)
{
	Datum		values[CRYPTO_MAX_KEY_PARTS];
	char		nulls[CRYPTO_MAX_KEY_PARTS];
	int			ret;
	int			i;

	if (rc->rls_user != GetUserId())
	{
		rc->rls = check_enable_rls(rc->ci->relid, InvalidOid, true) == RLS_ENABLED;
		rc->rls_user = GetUserId();
	}
	if (!rc->rls)
		return;
	if (rc->rls_plan == NULL)
	{
		StringInfoData sql;
		SPIPlanPtr	plan;

		initStringInfo(&sql);
		appendStringInfo(&sql, "SELECT 1 FROM %s t WHERE ", UtilQualifiedName(rc->ci->relid));
		for (i = 0; i < rc->nargs; i++)
		{
			Oid			coltype = get_atttype(rc->ci->relid, rc->ci->keyattnums[i]);
			TypeCacheEntry *tc = lookup_type_cache(coltype, TYPECACHE_EQ_OPR);

			if (rc->argtype[i] != coltype || !OidIsValid(tc->eq_opr))
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("read_encrypted needs the primary key values of the row in their own types")));
			appendStringInfo(&sql, "%st.%s OPERATOR(%s.%s) $%d", i > 0 ? " AND " : "",
							 quote_identifier(get_attname(rc->ci->relid, rc->ci->keyattnums[i], false)),
							 quote_identifier(get_namespace_name(opr_namespace(tc->eq_opr))),
							 get_opname(tc->eq_opr), i + 1);
		}
		UtilSpiConnect();
		plan = SPI_prepare(sql.data, rc->nargs, rc->argtype);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the row check: %s", SPI_result_code_string(SPI_result));
		SPI_finish();
		rc->rls_plan = plan;
	}
	for (i = 0; i < rc->nargs; i++)
	{
		values[i] = PG_GETARG_DATUM(i + 2);
		nulls[i] = PG_ARGISNULL(i + 2) ? 'n' : ' ';
	}
	UtilSpiConnect();
	ret = SPI_execute_plan(rc->rls_plan, values, nulls, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "row check failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for encrypted column \"%s\" of table \"%s\"",
						get_attname(rc->ci->relid, rc->ci->attnum, false), get_rel_name(rc->ci->relid)),
				 errdetail("Row-level security hides the row of this value from the current user.")));
	SPI_finish();
}

/* the associated data read_aad builds: see open_bound */
typedef enum ReadAad
{
	READ_AAD_NEW,				/* canonical parts, the table's header byte */
	READ_AAD_SESSION,			/* before 0.2.0: this session's output */
	READ_AAD_REFERENCE			/* before 0.2.0: the canonical text */
} ReadAad;

/*
 * read_aad
 *		The associated data of the value (column_aad's format) from the
 *		primary key arguments, rendered as the write trigger renders them
 *		(canonical forms; integers without a detour through fmgr), or as
 *		values written before 0.2.0 were bound (which).  Written into buf
 *		when it fits (bufsize), else into palloc'd memory.
 */
static unsigned char *
read_aad(FunctionCallInfo fcinfo, ReadCache *rc, ReadAad which, unsigned char *buf,
		 size_t bufsize, size_t *aadlen)
{
	char		numbuf[CRYPTO_MAX_KEY_PARTS][24];
	char	   *parts[CRYPTO_MAX_KEY_PARTS];
	size_t		partlen[CRYPTO_MAX_KEY_PARTS];
	size_t		aadmax = 9;
	unsigned char *aad = buf;
	size_t		n;
	int			i;

	for (i = 0; i < rc->nargs; i++)
	{
		Datum		d = PG_GETARG_DATUM(i + 2);

		if (PG_ARGISNULL(i + 2))
		{
			parts[i] = "";
			partlen[i] = 0;
		}
		else if (rc->argtype[i] == INT4OID)
		{
			partlen[i] = pg_ltoa(DatumGetInt32(d), numbuf[i]);
			parts[i] = numbuf[i];
		}
		else if (rc->argtype[i] == INT8OID)
		{
			partlen[i] = pg_lltoa(DatumGetInt64(d), numbuf[i]);
			parts[i] = numbuf[i];
		}
		else
		{
			if (which == READ_AAD_SESSION || rc->form[i] == KEYFORM_OUTPUT ||
				rc->form[i] == KEYFORM_UNSUPPORTED)
				parts[i] = OutputFunctionCall(&rc->out[i], d);
			else
				parts[i] = key_canonical(rc->form[i], d, &rc->out[i], palloc(CRYPTO_KEY_BUF));
			partlen[i] = strlen(parts[i]);
		}
		aadmax += 4 + partlen[i];
	}
	if (aadmax > bufsize)
		aad = palloc(aadmax);
	aad[0] = (which == READ_AAD_NEW && rc->ci->canonical) ? CRYPTO_AAD_CANONICAL : CRYPTO_AAD_COLUMN;
	CryptoPutBe64(aad + 1, (uint64) rc->ci->colid);
	n = 9;
	for (i = 0; i < rc->nargs; i++)
	{
		uint32		l = (uint32) partlen[i];

		aad[n++] = l >> 24;
		aad[n++] = l >> 16;
		aad[n++] = l >> 8;
		aad[n++] = l;
		memcpy(aad + n, parts[i], l);
		n += l;
	}
	*aadlen = n;
	return aad;
}

/*
 * read_key
 *		The data key of a ciphertext under key_id, in rc->key (the last one
 *		is kept while the key cache generation holds: a column key serves
 *		every row).  False when the key was destroyed (shredded); unknown:
 *		XX001.
 */
static bool
read_key(ReadCache *rc, int64 key_id)
{
	if (rc->key != NULL && rc->key_id == key_id && rc->generation == KeysCacheGeneration())
		return true;
	switch (KeysLookup(key_id, &rc->key))
	{
		case KEY_FOUND:
			break;
		case KEY_DESTROYED:
			rc->key = NULL;
			return false;
		case KEY_UNKNOWN:
			rc->key = NULL;
			CryptoTampered();
	}
	rc->key_id = key_id;
	rc->generation = KeysCacheGeneration();
	return true;
}

/*
 * privacy_read_encrypted
 *		read_encrypted(value text|bytea, column_id bigint, VARIADIC "any"
 *		primary key values): the plaintext of a stored value of that column
 *		and row.  The caller needs SELECT on the column (42501).  Tampered or
 *		moved: XX001.  Key destroyed (shredded): NULL.
 */
Datum
privacy_read_encrypted(PG_FUNCTION_ARGS)
{
	ReadCache  *rc;
	struct varlena *v;
	unsigned char rawbuf[512];
	const unsigned char *raw;
	size_t		rawlen;
	unsigned char aadbuf[512];
	unsigned char *aad;
	size_t		aadlen;
	size_t		ptlen;
	struct varlena *res;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("argument \"column_id\" must not be null")));
	KeysRequireRootKey();
	rc = read_cache(fcinfo, PG_GETARG_INT64(1));
	read_check_acl(rc->ci);
	read_check_row(fcinfo, rc);
	aad = read_aad(fcinfo, rc, READ_AAD_NEW, aadbuf, sizeof(aadbuf), &aadlen);

	v = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	raw = CryptoParseStored(rc->ci->is_text, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v),
							rawbuf, sizeof(rawbuf), &rawlen);
	if (!read_key(rc, (int64) CryptoGetBe64(raw)))
		PG_RETURN_NULL();

	/* decrypt straight into the result */
	res = palloc(VARHDRSZ + rawlen - CRYPTO_MIN_BYTES + 1);
	if (!CryptoOpenInto(raw, rawlen, aad, aadlen, rc->key, (unsigned char *) VARDATA(res), &ptlen))
	{
		/* a value written before its key had a canonical form (open_bound) */
		unsigned char *old;
		size_t		oldlen;
		unsigned char *ref;
		size_t		reflen;

		if (!rc->ci->canonical)
			CryptoTampered();
		old = read_aad(fcinfo, rc, READ_AAD_SESSION, aadbuf, sizeof(aadbuf), &oldlen);
		if (!CryptoOpenInto(raw, rawlen, old, oldlen, rc->key, (unsigned char *) VARDATA(res), &ptlen))
		{
			old = old == aadbuf ? memcpy(palloc(oldlen), old, oldlen) : old;
			ref = read_aad(fcinfo, rc, READ_AAD_REFERENCE, aadbuf, sizeof(aadbuf), &reflen);
			if ((reflen == oldlen && memcmp(ref, old, oldlen) == 0) ||
				!CryptoOpenInto(raw, rawlen, ref, reflen, rc->key, (unsigned char *) VARDATA(res), &ptlen))
				CryptoTampered();
		}
	}
	SET_VARSIZE(res, VARHDRSZ + ptlen);
	/* text: authenticated, so exactly the bytes of a valid text value */
	PG_RETURN_POINTER(res);
}

/*
 * stale_registration
 *		42703 for an encrypted column whose registration no longer matches
 *		the table (renamed while the event trigger that follows renames did
 *		not run): never read such a column as if it were plaintext.
 */
static void
stale_registration(Oid relid, const char *colname)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("encrypted column \"%s\" of table \"%s\" no longer matches its registration",
					colname, get_rel_name(relid)),
			 errdetail("The column was renamed or dropped while privacy's event triggers were disabled."),
			 errhint("Rename the column back to its registered name, or run privacy.decrypt_column before renaming it.")));
}

/*
 * read_expr
 *		SQL expression for the plaintext of column ci->colid of row alias
 *		(quoted names), cast to the column's declared type.
 */
char *
CryptoColumnReadExpr(int64 colid, Oid relid, const char *colname, int32 typmod, const char *alias)
{
	StringInfoData buf;
	Relation	rel;
	AttrNumber	keys[CRYPTO_MAX_KEY_PARTS];
	int			nkeys,
				i;
	AttrNumber	attnum = get_attnum(relid, colname);
	Oid			typid;

	if (attnum == InvalidAttrNumber)
		stale_registration(relid, colname);
	typid = get_atttype(relid, attnum);
	rel = table_open(relid, AccessShareLock);
	nkeys = CryptoPrimaryKey(rel, keys);
	initStringInfo(&buf);
	appendStringInfo(&buf, "privacy.read_encrypted(%s.%s, %lld", alias,
					 quote_identifier(colname), (long long) colid);
	for (i = 0; i < nkeys; i++)
		appendStringInfo(&buf, ", %s.%s", alias,
						 quote_identifier(NameStr(TupleDescAttr(RelationGetDescr(rel), keys[i] - 1)->attname)));
	appendStringInfo(&buf, ")::%s", format_type_with_typemod(typid, typid == VARCHAROID ? typmod : -1));
	table_close(rel, AccessShareLock);
	return buf.data;
}

/*
 * CryptoReadExpr
 *		SQL expression yielding the plaintext of relid.colname for the row
 *		aliased alias (already quoted if needed), as the column's type; NULL
 *		if that column is not encrypted.  Destroyed keys give NULL values.
 */
char *
CryptoReadExpr(Oid relid, const char *colname, const char *alias)
{
	PrivacyUserSwitch sw;
	Oid			argtypes[3] = {OIDOID, TEXTOID, INT2OID};
	Datum		values[3];
	int			ret;
	int64		colid = 0;
	int32		typmod = -1;
	bool		isnull;
	bool		byname = true;

	if (!OidIsValid(KeysCatalogRelid("encrypted_columns", true)))
		return NULL;
	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(colname);
	KeysBecomeCatalogOwner(&sw);
	UtilSpiConnect();
	values[2] = Int16GetDatum(get_attnum(relid, colname));
	ret = SPI_execute_with_args("SELECT id, coalesce(typmod, -1), column_name OPERATOR(pg_catalog.=) $2::name "
								"FROM privacy.encrypted_columns "
								"WHERE table_name OPERATOR(pg_catalog.=) $1::oid::regclass "
								"AND (column_name OPERATOR(pg_catalog.=) $2::name "
								"     OR (attnum OPERATOR(pg_catalog.=) $3 AND NOT EXISTS "
								"         (SELECT 1 FROM pg_catalog.pg_attribute a "
								"           WHERE a.attrelid OPERATOR(pg_catalog.=) $1 "
								"             AND a.attname OPERATOR(pg_catalog.=) column_name "
								"             AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped))) "
								"ORDER BY 3 DESC",
								3, argtypes, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read privacy.encrypted_columns: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		colid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		typmod = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		byname = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	}
	SPI_finish();
	KeysRestoreUser(&sw);
	if (colid == 0)
		return NULL;
	/* the column's number is registered under a name that is gone: stale */
	if (!byname)
		stale_registration(relid, colname);
	return CryptoColumnReadExpr(colid, relid, colname, typmod, alias);
}