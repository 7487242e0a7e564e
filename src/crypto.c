/*-------------------------------------------------------------------------
 * crypto.c
 *		Encrypted columns: encrypt/decrypt/blind_index, encrypt_column and
 *		decrypt_column, the write trigger, the <table>_decrypted view.
 *
 * Ciphertext (XChaCha20-Poly1305, libsodium):
 *		key id (8, big-endian) | nonce (24) | AEAD output (plaintext + 16)
 * stored as
 *		bytea:	 "pv" 0x01 | the above						(51 bytes + plaintext)
 *		text:	 "pv1:" | base64 (no padding) of the above	(~4/3, + 4)
 * so text and varchar columns stay text and bytea stays bytea.  Nonces are a
 * random 16-byte per-process prefix and a 64-bit counter (unique per key
 * without a system call per value).
 *
 * Associated data separates low-level calls from column values:
 *		encrypt()/decrypt():	0x00 | aad
 *		column values:			0x01 | column id (8) | for each primary-key
 *								column: length (4) | its text output
 * A value copied to another row or column fails authentication (XX001).
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
 * Registrations follow renames: privacy.encrypted_columns keeps the
 * column's name and attribute number; an event trigger after ALTER TABLE
 * renames the registration whose name is gone to the name now at its
 * number, and the _decrypted view's columns with it.  A registration that
 * still does not match (event triggers disabled) is a 42703, never a value
 * read as plaintext.  The plan that finds a row's subject is kept per
 * column and backend (subject_plan), not per statement.
 *
 * The view <schema>.<table>_decrypted is security_invoker (it keeps working
 * after the table changes owner), refers to the table by OID (RENAME) and
 * to the column by its stable id (dump/restore); INSTEAD OF triggers in C
 * (privacy.decrypted_view_trigger) send writes to the table.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "citus.h"
#include "crypto.h"
#include "privacy.h"

#define CT_NONCE_BYTES	crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define CT_TAG_BYTES	crypto_aead_xchacha20poly1305_ietf_ABYTES
#define CT_HEADER_BYTES (8 + CT_NONCE_BYTES)
#define CT_MIN_BYTES	(CT_HEADER_BYTES + CT_TAG_BYTES)
#define TEXT_PREFIX		"pv1:"
#define TEXT_PREFIX_LEN 4
#define BYTEA_PREFIX	"pv\001"
#define BYTEA_PREFIX_LEN 3
#define MAX_KEY_PARTS	32
#define PROGRESS_ROWS	100000

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
	AttrNumber	keyattnums[MAX_KEY_PARTS];
	FmgrInfo	keyout[MAX_KEY_PARTS];
	/* subject key of a row: a direct column, or an SQL expression */
	AttrNumber	subj_attnum;	/* > 0: the row holds the root key */
	char	   *subj_sql;		/* else: SELECT ... FROM (SELECT ($1).*) t */
	Oid			subj_rowtype;
	SPIPlanPtr	subj_plan;
	FmgrInfo	subj_out;
	/* cached privilege check (read path) */
	Oid			acl_user;
	/* rewrite progress */
	int64		rows;
} ColInfo;

/* encrypt_column in progress: the trigger re-encrypts unchanged values */
static int64 rewrite_colid = 0;

static unsigned char nonce_prefix[16];
static uint64 nonce_counter = 0;
static pid_t nonce_pid = 0;

PG_FUNCTION_INFO_V1(privacy_encrypt);
PG_FUNCTION_INFO_V1(privacy_decrypt);
PG_FUNCTION_INFO_V1(privacy_blind_index);
PG_FUNCTION_INFO_V1(privacy_read_encrypted);
PG_FUNCTION_INFO_V1(privacy_encrypt_trigger);
PG_FUNCTION_INFO_V1(privacy_decrypted_view_trigger);
PG_FUNCTION_INFO_V1(privacy_encrypt_column);
PG_FUNCTION_INFO_V1(privacy_decrypt_column);
PG_FUNCTION_INFO_V1(privacy_migrate_pgcrypto_column);
PG_FUNCTION_INFO_V1(privacy_crypto_follow_renames);

/* ------------------------------------------------------------------------
 * Primitives
 * ------------------------------------------------------------------------
 */

/*
 * make_nonce
 *		Per-process random prefix + counter.  The prefix is drawn again
 *		after fork, so backends never share one.
 */
static void
make_nonce(unsigned char *nonce)
{
	int			i;

	if (nonce_pid != getpid())
	{
		randombytes_buf(nonce_prefix, sizeof(nonce_prefix));
		nonce_counter = 0;
		nonce_pid = getpid();
	}
	memcpy(nonce, nonce_prefix, sizeof(nonce_prefix));
	nonce_counter++;
	for (i = 0; i < 8; i++)
		nonce[16 + i] = (unsigned char) (nonce_counter >> (56 - 8 * i));
}

static void
put_be64(unsigned char *p, uint64 v)
{
	int			i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char) (v >> (56 - 8 * i));
}

static uint64
get_be64(const unsigned char *p)
{
	uint64		v = 0;
	int			i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * seal
 *		Encrypt pt under key_id into out (CT_MIN_BYTES + ptlen bytes).
 */
static void
seal(int64 key_id, const unsigned char *key, const unsigned char *pt, size_t ptlen,
	 const unsigned char *aad, size_t aadlen, unsigned char *out)
{
	unsigned long long clen;

	put_be64(out, (uint64) key_id);
	make_nonce(out + 8);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + CT_HEADER_BYTES, &clen, pt, ptlen,
											   aad, aadlen, NULL, out + 8, key);
}

/*
 * open_ct
 *		Decrypt ct (the raw form) into a palloc'd buffer.  Returns false when
 *		authentication fails; *out NULL with *destroyed set when the key is
 *		destroyed.  Unknown key: XX001 (the stored value names a key that
 *		was never created here: it was altered).
 */
static void tampered(void);

static bool
open_ct(const unsigned char *ct, size_t ctlen, const unsigned char *aad, size_t aadlen,
		unsigned char **out, size_t *outlen, bool *destroyed)
{
	int64		key_id;
	const unsigned char *key;
	unsigned char *pt;
	unsigned long long mlen;

	*out = NULL;
	*destroyed = false;
	if (ctlen < CT_MIN_BYTES)
		return false;
	key_id = (int64) get_be64(ct);
	switch (KeysLookup(key_id, &key))
	{
		case KEY_FOUND:
			break;
		case KEY_DESTROYED:
			*destroyed = true;
			return true;
		case KEY_UNKNOWN:
			tampered();
	}
	pt = palloc(ctlen - CT_MIN_BYTES + 1);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &mlen, NULL,
												   ct + CT_HEADER_BYTES, ctlen - CT_HEADER_BYTES,
												   aad, aadlen, ct + 8, key) != 0)
	{
		pfree(pt);
		return false;
	}
	*out = pt;
	*outlen = (size_t) mlen;
	return true;
}

static void
tampered(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("ciphertext failed authentication"),
			 errdetail("The value was altered, or belongs to another row, column or associated data."),
			 errhidestmt(true)));
}

/*
 * low_aad
 *		0x00 | user aad (palloc'd).
 */
static unsigned char *
low_aad(bytea *aad, size_t *len)
{
	size_t		n = aad ? VARSIZE_ANY_EXHDR(aad) : 0;
	unsigned char *buf = palloc(n + 1);

	buf[0] = 0x00;
	if (n)
		memcpy(buf + 1, VARDATA_ANY(aad), n);
	*len = n + 1;
	return buf;
}

/*
 * stored_to_raw
 *		Parse a stored value (text or bytea datum body) into its raw form.
 *		Returns false when it does not have the ciphertext format.
 */
static bool
stored_to_raw(bool is_text, const char *data, size_t len, unsigned char **raw, size_t *rawlen)
{
	if (is_text)
	{
		size_t		binlen;
		unsigned char *buf;

		if (len < TEXT_PREFIX_LEN || memcmp(data, TEXT_PREFIX, TEXT_PREFIX_LEN) != 0)
			return false;
		buf = palloc(len);
		if (sodium_base642bin(buf, len, data + TEXT_PREFIX_LEN, len - TEXT_PREFIX_LEN,
							  NULL, &binlen, NULL,
							  sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
			binlen < CT_MIN_BYTES)
		{
			pfree(buf);
			return false;
		}
		*raw = buf;
		*rawlen = binlen;
		return true;
	}
	if (len < BYTEA_PREFIX_LEN + CT_MIN_BYTES ||
		memcmp(data, BYTEA_PREFIX, BYTEA_PREFIX_LEN) != 0)
		return false;
	*raw = (unsigned char *) data + BYTEA_PREFIX_LEN;
	*rawlen = len - BYTEA_PREFIX_LEN;
	return true;
}

/*
 * raw_to_stored
 *		Build the stored datum (text or bytea) from a raw ciphertext.
 */
static Datum
raw_to_stored(bool is_text, const unsigned char *raw, size_t rawlen)
{
	if (is_text)
	{
		size_t		b64len = sodium_base64_ENCODED_LEN(rawlen, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
		text	   *t = palloc(VARHDRSZ + TEXT_PREFIX_LEN + b64len);

		memcpy(VARDATA(t), TEXT_PREFIX, TEXT_PREFIX_LEN);
		sodium_bin2base64(VARDATA(t) + TEXT_PREFIX_LEN, b64len, raw, rawlen,
						  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
		/* b64len counts the terminating NUL */
		SET_VARSIZE(t, VARHDRSZ + TEXT_PREFIX_LEN + b64len - 1);
		return PointerGetDatum(t);
	}
	else
	{
		bytea	   *b = palloc(VARHDRSZ + BYTEA_PREFIX_LEN + rawlen);

		memcpy(VARDATA(b), BYTEA_PREFIX, BYTEA_PREFIX_LEN);
		memcpy(VARDATA(b) + BYTEA_PREFIX_LEN, raw, rawlen);
		SET_VARSIZE(b, VARHDRSZ + BYTEA_PREFIX_LEN + rawlen);
		return PointerGetDatum(b);
	}
}

/* ------------------------------------------------------------------------
 * Low-level functions
 * ------------------------------------------------------------------------
 */

/*
 * privacy_encrypt
 *		encrypt(plaintext bytea, key_id bigint, aad bytea DEFAULT NULL)
 *		RETURNS bytea.
 */
Datum
privacy_encrypt(PG_FUNCTION_ARGS)
{
	bytea	   *pt;
	int64		key_id;
	const unsigned char *key;
	unsigned char *aad;
	size_t		aadlen;
	size_t		ptlen;
	bytea	   *res;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("key id must not be null")));
	pt = PG_GETARG_BYTEA_PP(0);
	key_id = PG_GETARG_INT64(1);
	key = KeysGet(key_id);
	aad = low_aad(PG_ARGISNULL(2) ? NULL : PG_GETARG_BYTEA_PP(2), &aadlen);
	ptlen = VARSIZE_ANY_EXHDR(pt);
	res = palloc(VARHDRSZ + BYTEA_PREFIX_LEN + CT_MIN_BYTES + ptlen);
	SET_VARSIZE(res, VARHDRSZ + BYTEA_PREFIX_LEN + CT_MIN_BYTES + ptlen);
	memcpy(VARDATA(res), BYTEA_PREFIX, BYTEA_PREFIX_LEN);
	seal(key_id, key, (unsigned char *) VARDATA_ANY(pt), ptlen, aad, aadlen,
		 (unsigned char *) VARDATA(res) + BYTEA_PREFIX_LEN);
	PG_RETURN_BYTEA_P(res);
}

/*
 * privacy_decrypt
 *		decrypt(ciphertext bytea, key_id bigint, aad bytea DEFAULT NULL)
 *		RETURNS bytea.  Tampered or wrong key/aad: XX001.  Destroyed key:
 *		55000.
 */
Datum
privacy_decrypt(PG_FUNCTION_ARGS)
{
	bytea	   *ct;
	int64		key_id;
	unsigned char *raw;
	size_t		rawlen;
	unsigned char *aad;
	size_t		aadlen;
	unsigned char *pt;
	size_t		ptlen;
	bool		destroyed;
	bytea	   *res;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("key id must not be null")));
	ct = PG_GETARG_BYTEA_PP(0);
	key_id = PG_GETARG_INT64(1);
	(void) KeysGet(key_id);		/* unknown 42704, destroyed 55000 */
	if (!stored_to_raw(false, VARDATA_ANY(ct), VARSIZE_ANY_EXHDR(ct), &raw, &rawlen) ||
		(int64) get_be64(raw) != key_id)
		tampered();
	aad = low_aad(PG_ARGISNULL(2) ? NULL : PG_GETARG_BYTEA_PP(2), &aadlen);
	if (!open_ct(raw, rawlen, aad, aadlen, &pt, &ptlen, &destroyed) || destroyed)
		tampered();
	res = palloc(VARHDRSZ + ptlen);
	SET_VARSIZE(res, VARHDRSZ + ptlen);
	memcpy(VARDATA(res), pt, ptlen);
	sodium_memzero(pt, ptlen);
	PG_RETURN_BYTEA_P(res);
}

/*
 * privacy_blind_index
 *		blind_index(value text, key_id bigint) RETURNS bytea: keyed BLAKE2b
 *		(32 bytes) under a subkey derived from the data key, so equal values
 *		give equal outputs and an index on it serves equality lookups.
 */
Datum
privacy_blind_index(PG_FUNCTION_ARGS)
{
	text	   *v;
	const unsigned char *key;
	unsigned char subkey[crypto_generichash_KEYBYTES];
	bytea	   *res;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("key id must not be null")));
	v = PG_GETARG_TEXT_PP(0);
	key = KeysGet(PG_GETARG_INT64(1));
	crypto_kdf_derive_from_key(subkey, sizeof(subkey), 1, "pvblind_", key);
	res = palloc(VARHDRSZ + 32);
	SET_VARSIZE(res, VARHDRSZ + 32);
	crypto_generichash((unsigned char *) VARDATA(res), 32,
					   (unsigned char *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v),
					   subkey, sizeof(subkey));
	sodium_memzero(subkey, sizeof(subkey));
	PG_RETURN_BYTEA_P(res);
}

/* ------------------------------------------------------------------------
 * Column metadata
 * ------------------------------------------------------------------------
 */

/*
 * primary_key_attnums
 *		Columns of the primary key of rel; 0 if none.
 */
static int
primary_key_attnums(Relation rel, AttrNumber *out)
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
	if (n > MAX_KEY_PARTS)
		n = MAX_KEY_PARTS;
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
	KeysSpiConnect();
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
	ci->nkeys = primary_key_attnums(rel, ci->keyattnums);
	for (i = 0; i < ci->nkeys; i++)
	{
		Oid			outfn;
		bool		varlena;

		getTypeOutputInfo(TupleDescAttr(RelationGetDescr(rel), ci->keyattnums[i] - 1)->atttypid,
						  &outfn, &varlena);
		fmgr_info_cxt(outfn, &ci->keyout[i], mcxt);
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

/*
 * column_aad
 *		0x01 | colid | (len | text) per key part, palloc'd.
 */
static unsigned char *
column_aad(ColInfo *ci, char **parts, size_t *len)
{
	StringInfoData buf;
	unsigned char hdr[9];
	int			i;

	initStringInfo(&buf);
	hdr[0] = 0x01;
	put_be64(hdr + 1, (uint64) ci->colid);
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
 *		Text output of the primary-key columns of a row.
 */
static char **
tuple_key_parts(ColInfo *ci, HeapTuple tup, TupleDesc desc)
{
	char	  **parts = palloc(sizeof(char *) * ci->nkeys);
	int			i;

	for (i = 0; i < ci->nkeys; i++)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, ci->keyattnums[i], desc, &isnull);

		parts[i] = isnull ? "" : OutputFunctionCall(&ci->keyout[i], d);
	}
	return parts;
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
 * become_table_owner
 *		Switch to the owner of relid in a security-restricted context with
 *		search_path pinned; undo with KeysRestoreUser.
 */
static void
become_table_owner(Oid relid, PrivacyUserSwitch *sw)
{
	UtilBecomeOwner(relid, sw);
}

/*
 * row_key_id
 *		The data key for a value of row tup: its subject's key (created on
 *		first use), or the column key when there is no subject.
 */
static int64
row_key_id(ColInfo *ci, HeapTuple tup, TupleDesc desc, MemoryContext mcxt)
{
	Datum		root;
	bool		isnull = true;
	char	   *canonical = NULL;
	char	   *ref;
	PrivacyUserSwitch sw;

	if (ci->subject == NULL)
		return ci->key_id;
	if (ci->subj_attnum == 0 && ci->subj_sql == NULL)
		prepare_subject(ci, mcxt);
	if (ci->subj_attnum > 0)
		root = heap_getattr(tup, ci->subj_attnum, desc, &isnull);
	else
	{
		Datum		arg = heap_copy_tuple_as_datum(tup, desc);
		int			ret;

		/* the path may cross tables the writer cannot read: run as owner */
		become_table_owner(ci->relid, &sw);
		KeysSpiConnect();
		if (ci->subj_plan == NULL)
			ci->subj_plan = subject_plan(ci);
		ret = SPI_execute_plan(ci->subj_plan, &arg, NULL, true, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "subject key lookup failed: %s", SPI_result_code_string(ret));
		root = (Datum) 0;
		if (SPI_processed == 1)
		{
			root = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			if (!isnull)
				canonical = OutputFunctionCall(&ci->subj_out, root);
		}
		SPI_finish();
		KeysRestoreUser(&sw);
		if (isnull)
			return ci->key_id;
		goto have_canonical;
	}
	if (isnull)
		return ci->key_id;
	canonical = OutputFunctionCall(&ci->subj_out, root);
have_canonical:
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
 *		varchar(n): the plaintext must fit, as the column did before.
 */
static void
check_length(ColInfo *ci, const char *pt, size_t len)
{
	int			maxlen;

	if (!ci->is_text || ci->typmod < (int32) VARHDRSZ)
		return;
	maxlen = ci->typmod - VARHDRSZ;
	if (len > (size_t) maxlen && pg_mbstrlen_with_len(pt, (int) len) > maxlen)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("value too long for type character varying(%d)", maxlen),
				 errhidestmt(true)));
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
	unsigned char *raw = palloc(CT_MIN_BYTES + ptlen);
	Datum		res;

	seal(key_id, key, (const unsigned char *) pt, ptlen, aad, aadlen, raw);
	res = raw_to_stored(ci->is_text, raw, CT_MIN_BYTES + ptlen);
	pfree(raw);
	return res;
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
	TupleDesc	desc;
	Datum		val;
	bool		isnull;
	char	   *data;
	size_t		len;
	char	  **parts;
	unsigned char *aad;
	size_t		aadlen;
	int64		key_id;
	unsigned char *raw;
	size_t		rawlen;
	unsigned char *pt = NULL;
	size_t		ptlen = 0;
	bool		destroyed;
	bool		rewriting;
	Datum		newval;
	bool		newnull = false;
	int			attnum;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || TRIGGER_FIRED_BY_DELETE(td->tg_event) ||
		td->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy.encrypt_trigger must run BEFORE INSERT OR UPDATE FOR EACH ROW with a column id")));
	KeysRequireRootKey();

	ci = (ColInfo *) fcinfo->flinfo->fn_extra;
	if (ci == NULL)
	{
		ci = load_colinfo(pg_strtoint64(td->tg_trigger->tgargs[0]),
						  fcinfo->flinfo->fn_mcxt, true);
		/* the column was dropped (its registration went with it): nothing to do */
		if (ci == NULL)
			return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ?
								   td->tg_newtuple : td->tg_trigtuple);
		if (ci->relid != RelationGetRelid(td->tg_relation))
			elog(ERROR, "encrypted column %lld belongs to another table", (long long) ci->colid);
		fcinfo->flinfo->fn_extra = ci;
	}
	desc = RelationGetDescr(td->tg_relation);
	newtup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	attnum = ci->attnum;
	val = heap_getattr(newtup, attnum, desc, &isnull);
	if (isnull)
		return PointerGetDatum(newtup);
	datum_bytes(val, &data, &len);
	parts = tuple_key_parts(ci, newtup, desc);
	aad = column_aad(ci, parts, &aadlen);
	rewriting = (rewrite_colid == ci->colid);
	if (rewriting && ++ci->rows % PROGRESS_ROWS == 0)
		ereport(NOTICE, (errmsg("encrypt_column: %lld rows encrypted", (long long) ci->rows)));

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event) && !rewriting)
	{
		bool		oldnull;
		Datum		oldval = heap_getattr(td->tg_trigtuple, attnum, desc, &oldnull);
		char	   *odata;
		size_t		olen;

		if (!oldnull)
		{
			datum_bytes(oldval, &odata, &olen);
			if (olen == len && memcmp(odata, data, len) == 0)
			{
				/* unchanged value: keep it unless its binding changed */
				char	  **oparts = tuple_key_parts(ci, td->tg_trigtuple, desc);
				size_t		oaadlen;
				unsigned char *oaad = column_aad(ci, oparts, &oaadlen);

				key_id = row_key_id(ci, newtup, desc, fcinfo->flinfo->fn_mcxt);
				if (oaadlen == aadlen && memcmp(oaad, aad, aadlen) == 0)
				{
					/*
					 * Same place.  A row that lost its subject (a foreign key
					 * set to NULL, as when the subject is erased) keeps its
					 * value under that subject's key, so the subject's
					 * erasure still shreds it.
					 */
					if (!stored_to_raw(ci->is_text, data, len, &raw, &rawlen) ||
						(int64) get_be64(raw) == key_id || ci->subject == NULL ||
						key_id == ci->key_id)
						return PointerGetDatum(newtup);
				}
				/* re-bind: the row key or the subject changed */
				if (!stored_to_raw(ci->is_text, data, len, &raw, &rawlen))
					return PointerGetDatum(newtup);
				if (!open_ct(raw, rawlen, oaad, oaadlen, &pt, &ptlen, &destroyed) || destroyed)
					return PointerGetDatum(newtup);
				newval = encrypt_value(ci, key_id, (char *) pt, ptlen, aad, aadlen);
				sodium_memzero(pt, ptlen);
				return PointerGetDatum(heap_modify_tuple_by_cols(newtup, desc, 1, &attnum,
																 &newval, &newnull));
			}
		}
	}

	key_id = row_key_id(ci, newtup, desc, fcinfo->flinfo->fn_mcxt);
	if (stored_to_raw(ci->is_text, data, len, &raw, &rawlen))
	{
		/* already a ciphertext: keep it if it belongs here */
		const unsigned char *k;
		KeyLookup	kl = KeysLookup((int64) get_be64(raw), &k);

		if (kl == KEY_DESTROYED)
			return PointerGetDatum(newtup);
		if (kl == KEY_FOUND)
		{
			if (!open_ct(raw, rawlen, aad, aadlen, &pt, &ptlen, &destroyed))
				tampered();
			if (destroyed || (int64) get_be64(raw) == key_id || ci->subject == NULL)
			{
				if (pt)
					sodium_memzero(pt, ptlen);
				return PointerGetDatum(newtup);
			}
			/* valid, but under another subject's key: re-encrypt */
			newval = encrypt_value(ci, key_id, (char *) pt, ptlen, aad, aadlen);
			sodium_memzero(pt, ptlen);
			return PointerGetDatum(heap_modify_tuple_by_cols(newtup, desc, 1, &attnum,
															 &newval, &newnull));
		}
		/* unknown key id: an ordinary value that looks alike */
	}
	check_length(ci, data, len);
	newval = encrypt_value(ci, key_id, data, len, aad, aadlen);
	return PointerGetDatum(heap_modify_tuple_by_cols(newtup, desc, 1, &attnum,
													 &newval, &newnull));
}

/* ------------------------------------------------------------------------
 * The read path
 * ------------------------------------------------------------------------
 */

typedef struct ReadCache
{
	ColInfo    *ci;
	int			nargs;
	Oid			argtype[MAX_KEY_PARTS];
	FmgrInfo	out[MAX_KEY_PARTS];
	/* the last key used, valid while the key cache generation holds */
	int64		key_id;
	const unsigned char *key;
	uint64		generation;
} ReadCache;

static int8 b64_table[256];
static bool b64_table_ready = false;

/*
 * b64_decode
 *		Decode unpadded standard base64 (the stored text format) into out;
 *		-1 if malformed.  Ciphertext is public: no constant-time need, and
 *		this is the hot loop of every read through a _decrypted view.
 */
static int
b64_decode(const char *in, size_t len, unsigned char *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32		acc = 0;
	int			bits = 0;
	int			n = 0;
	size_t		i;

	if (!b64_table_ready)
	{
		memset(b64_table, -1, sizeof(b64_table));
		for (i = 0; i < 64; i++)
			b64_table[(unsigned char) alphabet[i]] = (int8) i;
		b64_table_ready = true;
	}
	if (len % 4 == 1)
		return -1;
	/* four characters, three bytes at a time, one check for all four */
	for (i = 0; i + 4 <= len; i += 4)
	{
		int8		a = b64_table[(unsigned char) in[i]];
		int8		b = b64_table[(unsigned char) in[i + 1]];
		int8		c = b64_table[(unsigned char) in[i + 2]];
		int8		d = b64_table[(unsigned char) in[i + 3]];
		uint32		w;

		if ((a | b | c | d) < 0)
			return -1;
		w = ((uint32) a << 18) | ((uint32) b << 12) | ((uint32) c << 6) | (uint32) d;
		out[n++] = (unsigned char) (w >> 16);
		out[n++] = (unsigned char) (w >> 8);
		out[n++] = (unsigned char) w;
	}
	for (; i < len; i++)
	{
		int8		v = b64_table[(unsigned char) in[i]];

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[n++] = (unsigned char) (acc >> bits);
		}
	}
	/* leftover bits must be zero, as the encoder writes them */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return n;
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
	ReadCache  *rc = (ReadCache *) fcinfo->flinfo->fn_extra;
	ColInfo    *ci;
	struct varlena *v;
	char	   *data;
	size_t		len;
	unsigned char rawbuf[512];
	unsigned char *raw;
	size_t		rawlen;
	unsigned char aadbuf[512];
	unsigned char *aad = aadbuf;
	size_t		aadlen;
	size_t		aadmax;
	char		numbuf[MAX_KEY_PARTS][24];
	char	   *parts[MAX_KEY_PARTS];
	size_t		partlen[MAX_KEY_PARTS];
	int64		key_id;
	unsigned long long mlen;
	struct varlena *res;
	int			i;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("column id must not be null")));
	KeysRequireRootKey();
	if (rc == NULL || rc->ci->colid != PG_GETARG_INT64(1))
	{
		rc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ReadCache));
		rc->ci = load_colinfo(PG_GETARG_INT64(1), fcinfo->flinfo->fn_mcxt, false);
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
				elog(ERROR, "could not determine the argument types");
			rc->argtype[i] = t;
			getTypeOutputInfo(t, &outfn, &varlena);
			fmgr_info_cxt(outfn, &rc->out[i], fcinfo->flinfo->fn_mcxt);
		}
		fcinfo->flinfo->fn_extra = rc;
	}
	ci = rc->ci;
	if (ci->acl_user != GetUserId())
	{
		/* the table grant, or a grant on the column (as the executor) */
		if (pg_class_aclcheck(ci->relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
			pg_attribute_aclcheck(ci->relid, ci->attnum, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for encrypted column \"%s\" of table \"%s\"",
							get_attname(ci->relid, ci->attnum, false), get_rel_name(ci->relid))));
		ci->acl_user = GetUserId();
	}

	/* the row key, as the write trigger renders it (type output) */
	aadmax = 9;
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
			parts[i] = OutputFunctionCall(&rc->out[i], d);
			partlen[i] = strlen(parts[i]);
		}
		aadmax += 4 + partlen[i];
	}
	if (aadmax > sizeof(aadbuf))
		aad = palloc(aadmax);
	aad[0] = 0x01;
	put_be64(aad + 1, (uint64) ci->colid);
	aadlen = 9;
	for (i = 0; i < rc->nargs; i++)
	{
		uint32		n = (uint32) partlen[i];

		aad[aadlen++] = n >> 24;
		aad[aadlen++] = n >> 16;
		aad[aadlen++] = n >> 8;
		aad[aadlen++] = n;
		memcpy(aad + aadlen, parts[i], n);
		aadlen += n;
	}

	/* the raw ciphertext */
	v = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	data = VARDATA_ANY(v);
	len = VARSIZE_ANY_EXHDR(v);
	if (ci->is_text)
	{
		int			n;

		if (len < TEXT_PREFIX_LEN || memcmp(data, TEXT_PREFIX, TEXT_PREFIX_LEN) != 0)
			tampered();
		raw = (len - TEXT_PREFIX_LEN) * 3 / 4 + 3 <= sizeof(rawbuf) ? rawbuf
			: palloc((len - TEXT_PREFIX_LEN) * 3 / 4 + 3);
		n = b64_decode(data + TEXT_PREFIX_LEN, len - TEXT_PREFIX_LEN, raw);
		if (n < 0)
			tampered();
		rawlen = (size_t) n;
	}
	else
	{
		if (len < BYTEA_PREFIX_LEN || memcmp(data, BYTEA_PREFIX, BYTEA_PREFIX_LEN) != 0)
			tampered();
		raw = (unsigned char *) data + BYTEA_PREFIX_LEN;
		rawlen = len - BYTEA_PREFIX_LEN;
	}
	if (rawlen < CT_MIN_BYTES)
		tampered();

	/* the key (the last one is kept: a column key serves every row) */
	key_id = (int64) get_be64(raw);
	if (rc->key == NULL || rc->key_id != key_id || rc->generation != KeysCacheGeneration())
	{
		switch (KeysLookup(key_id, &rc->key))
		{
			case KEY_FOUND:
				break;
			case KEY_DESTROYED:
				rc->key = NULL;
				PG_RETURN_NULL();
			case KEY_UNKNOWN:
				rc->key = NULL;
				tampered();
		}
		rc->key_id = key_id;
		rc->generation = KeysCacheGeneration();
	}

	/* decrypt straight into the result */
	res = palloc(VARHDRSZ + rawlen - CT_MIN_BYTES + 1);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *) VARDATA(res), &mlen, NULL,
												   raw + CT_HEADER_BYTES, rawlen - CT_HEADER_BYTES,
												   aad, aadlen, raw + 8, rc->key) != 0)
		tampered();
	SET_VARSIZE(res, VARHDRSZ + mlen);
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
static char *
read_expr(int64 colid, Oid relid, const char *colname, int32 typmod, const char *alias)
{
	StringInfoData buf;
	Relation	rel;
	AttrNumber	keys[MAX_KEY_PARTS];
	int			nkeys,
				i;
	AttrNumber	attnum = get_attnum(relid, colname);
	Oid			typid;

	if (attnum == InvalidAttrNumber)
		stale_registration(relid, colname);
	typid = get_atttype(relid, attnum);
	rel = table_open(relid, AccessShareLock);
	nkeys = primary_key_attnums(rel, keys);
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
	KeysSpiConnect();
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
	return read_expr(colid, relid, colname, typmod, alias);
}

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
		elog(ERROR, "statement failed (%s)", SPI_result_code_string(ret));
	return SPI_processed;
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
		elog(ERROR, "catalog statement failed (%s)", SPI_result_code_string(ret));
	if (processed)
		*processed = SPI_processed;
	return SPI_tuptable;
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
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	SPITupleTable *tt;
	uint64		n,
				i;
	char	   *oldview = NULL;
	char	   *viewname;
	char	   *qualview;
	char	   *nspname = get_namespace_name(get_rel_namespace(relid));
	char	   *relname = get_rel_name(relid);
	char	   *qualrel = quote_qualified_identifier(nspname, relname);
	StringInfoData sql;
	Relation	rel;
	TupleDesc	desc;
	int			a;
	bool		isnull;

	values[0] = ObjectIdGetDatum(relid);
	tt = catalog_exec("SELECT id, column_name::text, coalesce(typmod, -1), "
					  "(SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' "
					  "OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname) FROM pg_catalog.pg_class c "
					  "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					  "WHERE c.oid OPERATOR(pg_catalog.=) e.view) "
					  "FROM privacy.encrypted_columns e WHERE table_name = $1::regclass",
					  1, argtypes, values, NULL, SPI_OK_SELECT, &n);
	for (i = 0; i < n; i++)
		if (oldview == NULL)
			oldview = SPI_getvalue(tt->vals[i], tt->tupdesc, 4);
	if (oldview)
		spi_exec(psprintf("DROP VIEW IF EXISTS %s", oldview), SPI_OK_UTILITY);
	if (n == 0)
		return;

	viewname = psprintf("%s_decrypted", relname);
	if (strlen(viewname) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("view name \"%s\" would be too long", viewname)));
	qualview = quote_qualified_identifier(nspname, viewname);

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE VIEW %s WITH (security_invoker = true) AS SELECT ", qualview);
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	{
		bool		first = true;

		for (a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, a);
			const char *expr = NULL;

			if (att->attisdropped)
				continue;
			for (i = 0; i < n; i++)
			{
				char	   *cn = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);

				if (strcmp(cn, NameStr(att->attname)) == 0)
					expr = read_expr(DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull)),
									 relid, cn,
									 DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull)),
									 "t");
			}
			appendStringInfo(&sql, "%s%s AS %s", first ? "" : ", ",
							 expr ? expr : psprintf("t.%s", quote_identifier(NameStr(att->attname))),
							 quote_identifier(NameStr(att->attname)));
			first = false;
		}
	}
	table_close(rel, AccessShareLock);
	appendStringInfo(&sql, " FROM %s AS t", qualrel);
	spi_exec(sql.data, SPI_OK_UTILITY);

	/* writes go to the table through INSTEAD OF triggers */
	spi_exec(psprintf("CREATE TRIGGER privacy_write INSTEAD OF INSERT OR UPDATE OR DELETE ON %s "
					  "FOR EACH ROW EXECUTE FUNCTION privacy.decrypted_view_trigger()", qualview),
			 SPI_OK_UTILITY);

	/* the table's column defaults, so that omitted columns behave alike */
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	for (a = 0; a < desc->natts; a++)
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
				elog(ERROR, "could not read column defaults");
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

	/* the same grants as the table */
	{
		int			ret;
		uint64		g;

		ret = SPI_execute_with_args("SELECT a.privilege_type, CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 "
									"THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END "
									"FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a "
									"LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee "
									"WHERE c.oid OPERATOR(pg_catalog.=) $1 AND a.grantee OPERATOR(pg_catalog.<>) c.relowner "
									"AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')",
									1, argtypes, values, NULL, true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read the table's privileges");
		tt = SPI_tuptable;
		n = SPI_processed;
		for (g = 0; g < n; g++)
			spi_exec(psprintf("GRANT %s ON %s TO %s", SPI_getvalue(tt->vals[g], tt->tupdesc, 1),
							  qualview, SPI_getvalue(tt->vals[g], tt->tupdesc, 2)),
					 SPI_OK_UTILITY);
	}

	{
		Oid			argt[2] = {OIDOID, TEXTOID};
		Datum		v[2];

		v[0] = ObjectIdGetDatum(relid);
		v[1] = CStringGetTextDatum(qualview);
		catalog_exec("UPDATE privacy.encrypted_columns SET view = $2::regclass WHERE table_name = $1::regclass",
					 2, argt, v, NULL, SPI_OK_UPDATE, NULL);
	}
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
	attnum = get_attnum(*relid, *colname);
	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
						errmsg("column \"%s\" of relation \"%s\" does not exist",
							   *colname, get_rel_name(*relid))));
	return attnum;
}

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
	char	   *subject = NULL;
	Relation	rel;
	AttrNumber	keys[MAX_KEY_PARTS];
	int			nkeys,
				i;
	int64		colid;
	int64		key_id;
	char	   *qualrel;
	uint64		n;
	SPITupleTable *tt;
	bool		isnull;
	volatile uint64 subject_keys = 0;

	KeysRequireRootKey();
	attnum = check_table_arg(fcinfo, &relid, &colname);
	if (!PG_ARGISNULL(2))
		subject = text_to_cstring(PG_GETARG_TEXT_PP(2));

	{
		Oid			coll;

		get_atttypetypmodcoll(relid, attnum, &typid, &typmod, &coll);
	}
	if (pgp_pass && typid != BYTEAOID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("column \"%s\" is not a bytea column holding pgp_sym_encrypt output", colname)));
	if (typid != TEXTOID && typid != VARCHAROID && typid != BYTEAOID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot encrypt column \"%s\" of type %s", colname, format_type_be(typid)),
				 errhint("Only text, varchar and bytea columns can be encrypted; change the column's type first.")));

	CitusRefuseDistributed(relid, "privacy.encrypt_column()");	/* CITUS HOOK */
	LockRelationOid(relid, typmod >= 0 && typid == VARCHAROID ? AccessExclusiveLock : ShareRowExclusiveLock);
	rel = table_open(relid, NoLock);
	nkeys = primary_key_attnums(rel, keys);
	table_close(rel, NoLock);
	if (nkeys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" has no primary key", get_rel_name(relid)),
				 errhint("Encrypted values are bound to their row's primary key; add one first.")));
	for (i = 0; i < nkeys; i++)
		if (keys[i] == attnum)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot encrypt primary key column \"%s\"", colname)));
	if (subject)
	{
		PrivacyUserSwitch sw;
		MapTable   *mt;

		KeysBecomeCatalogOwner(&sw);
		mt = MapFindTable(MapGetSubject(subject), relid);	/* 42704 */
		KeysRestoreUser(&sw);
		if (mt == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("table \"%s\" is not in the data map of subject type \"%s\"",
							get_rel_name(relid), subject),
					 errhint("Link the table to the subject type (privacy.link or a foreign key), then retry.")));
	}

	KeysSpiConnect();
	{
		Oid			argt[2] = {OIDOID, TEXTOID};
		Datum		v[2];

		v[0] = ObjectIdGetDatum(relid);
		v[1] = CStringGetTextDatum(colname);
		catalog_exec("SELECT 1 FROM privacy.encrypted_columns WHERE table_name = $1::regclass "
					 "AND column_name = $2::name", 2, argt, v, NULL, SPI_OK_SELECT, &n);
		if (n > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" is already encrypted", colname)));
	}

	/* the column's key; subject values get their subjects' keys */
	qualrel = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
	key_id = KeysCreate(psprintf("column:%s.%s", qualrel, quote_identifier(colname)), NULL, NULL);
	{
		Oid			argt[6] = {OIDOID, TEXTOID, TEXTOID, INT8OID, INT4OID, INT2OID};
		Datum		v[6];
		char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

		v[0] = ObjectIdGetDatum(relid);
		v[1] = CStringGetTextDatum(colname);
		v[2] = subject ? CStringGetTextDatum(subject) : (Datum) 0;
		nulls[2] = subject ? ' ' : 'n';
		v[3] = Int64GetDatum(key_id);
		v[4] = Int32GetDatum(typid == VARCHAROID ? typmod : -1);
		v[5] = Int16GetDatum(attnum);
		tt = catalog_exec("INSERT INTO privacy.encrypted_columns (table_name, column_name, subject, key_id, typmod, attnum) "
						  "VALUES ($1::regclass, $2::name, $3, $4, $5, $6) RETURNING id",
						  6, argt, v, nulls, SPI_OK_INSERT_RETURNING, NULL);
		colid = DatumGetInt64(SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull));
	}

	/* the view is rebuilt below; it must not pin the column's type */
	{
		Oid			argt[1] = {OIDOID};
		Datum		v[1];

		v[0] = ObjectIdGetDatum(relid);
		tt = catalog_exec("SELECT view::text FROM privacy.encrypted_columns "
						  "WHERE table_name = $1::regclass AND view IS NOT NULL LIMIT 1",
						  1, argt, v, NULL, SPI_OK_SELECT, &n);
		if (n == 1)
			spi_exec(psprintf("DROP VIEW IF EXISTS %s", SPI_getvalue(tt->vals[0], tt->tupdesc, 1)),
					 SPI_OK_UTILITY);
	}
	/* varchar(n): the ciphertext is longer; the trigger checks n instead */
	if (typid == VARCHAROID && typmod >= 0)
		spi_exec(psprintf("ALTER TABLE %s ALTER COLUMN %s TYPE pg_catalog.varchar",
						  qualrel, quote_identifier(colname)), SPI_OK_UTILITY);

	spi_exec(psprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s FOR EACH ROW "
					  "EXECUTE FUNCTION privacy.encrypt_trigger('%lld')",
					  quote_identifier(psprintf("privacy_encrypt_%lld", (long long) colid)),
					  qualrel, (long long) colid),
			 SPI_OK_UTILITY);

	/* encrypt what is there (the trigger does it, with progress) */
	rewrite_colid = colid;
	KeysDeferSubjectAudit(true);
	PG_TRY();
	{
		if (pgp_pass == NULL)
			n = spi_exec(psprintf("UPDATE %s SET %s = %s WHERE %s IS NOT NULL", qualrel,
								  quote_identifier(colname), quote_identifier(colname),
								  quote_identifier(colname)), SPI_OK_UPDATE);
		else
		{
			/* the passphrase only ever travels as a parameter */
			Oid			argt[1] = {TEXTOID};
			Datum		v[1];
			int			ret;
			char	   *nsp;

			ret = SPI_execute("SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n "
							  "ON n.oid OPERATOR(pg_catalog.=) e.extnamespace WHERE e.extname OPERATOR(pg_catalog.=) 'pgcrypto'",
							  true, 1);
			if (ret != SPI_OK_SELECT)
				elog(ERROR, "could not look up pgcrypto");
			if (SPI_processed == 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("extension \"pgcrypto\" is not installed"),
						 errhint("Run CREATE EXTENSION pgcrypto in this database first.")));
			nsp = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			v[0] = CStringGetTextDatum(pgp_pass);
			ret = SPI_execute_with_args(psprintf("UPDATE %s SET %s = %s.pgp_sym_decrypt_bytea(%s, $1) WHERE %s IS NOT NULL",
												 qualrel, quote_identifier(colname), quote_identifier(nsp),
												 quote_identifier(colname), quote_identifier(colname)),
										1, argt, v, NULL, false, 0);
			if (ret != SPI_OK_UPDATE)
				elog(ERROR, "statement failed (%s)", SPI_result_code_string(ret));
			n = SPI_processed;
		}
	}
	PG_FINALLY();
	{
		rewrite_colid = 0;
		subject_keys = KeysDeferSubjectAudit(false);
	}
	PG_END_TRY();
	if (n >= PROGRESS_ROWS)
		ereport(NOTICE, (errmsg("encrypt_column: %llu rows encrypted", (unsigned long long) n)));

	build_view(relid);
	SPI_finish();

	KeysAudit(pgp_pass ? "migrate_pgcrypto_column" : "encrypt_column", NULL,
			  psprintf("{\"table\": %s, \"column\": %s, \"subject\": %s, \"key_id\": %lld, \"rows\": %llu, \"subject_keys_created\": %llu}",
					   json_str(qualrel), json_str(colname), subject ? json_str(subject) : "null",
					   (long long) key_id, (unsigned long long) n, (unsigned long long) subject_keys));
	PG_RETURN_VOID();
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

	KeysRequireRootKey();
	(void) check_table_arg(fcinfo, &relid, &colname);
	LockRelationOid(relid, AccessExclusiveLock);
	KeysSpiConnect();
	v[0] = ObjectIdGetDatum(relid);
	v[1] = CStringGetTextDatum(colname);
	tt = catalog_exec("SELECT id, coalesce(typmod, -1), view::text FROM privacy.encrypted_columns "
					  "WHERE table_name = $1::regclass AND column_name = $2::name",
					  2, argt, v, NULL, SPI_OK_SELECT, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" is not encrypted", colname)));
	colid = DatumGetInt64(SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull));
	typmod = DatumGetInt32(SPI_getbinval(tt->vals[0], tt->tupdesc, 2, &isnull));
	if (SPI_getvalue(tt->vals[0], tt->tupdesc, 3))
		spi_exec(psprintf("DROP VIEW IF EXISTS %s", SPI_getvalue(tt->vals[0], tt->tupdesc, 3)),
				 SPI_OK_UTILITY);
	qualrel = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
	spi_exec(psprintf("DROP TRIGGER IF EXISTS %s ON %s",
					  quote_identifier(psprintf("privacy_encrypt_%lld", (long long) colid)), qualrel),
			 SPI_OK_UTILITY);
	expr = read_expr(colid, relid, colname, -1, "t");
	n = spi_exec(psprintf("UPDATE %s AS t SET %s = %s WHERE t.%s IS NOT NULL", qualrel,
						  quote_identifier(colname), expr, quote_identifier(colname)),
				 SPI_OK_UPDATE);
	if (typmod >= 0)
		spi_exec(psprintf("ALTER TABLE %s ALTER COLUMN %s TYPE %s", qualrel, quote_identifier(colname),
						  format_type_with_typemod(VARCHAROID, typmod)), SPI_OK_UTILITY);
	catalog_exec("DELETE FROM privacy.encrypted_columns WHERE table_name = $1::regclass "
				 "AND column_name = $2::name", 2, argt, v, NULL, SPI_OK_DELETE, NULL);
	build_view(relid);
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
	Oid			viewid;
	Oid			relid = InvalidOid;
	TupleDesc	vdesc;
	Relation	rel;
	TupleDesc	bdesc;
	AttrNumber	keys[MAX_KEY_PARTS];
	int			nkeys;
	StringInfoData sql;
	Oid		   *argtypes;
	Datum	   *values;
	char	   *nulls;
	int			nargs = 0;
	int			a,
				i;
	HeapTuple	newtup = td->tg_newtuple;
	HeapTuple	oldtup = td->tg_trigtuple;
	char	   *qualrel;
	int			ret;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_INSTEAD(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy.decrypted_view_trigger must run INSTEAD OF ... FOR EACH ROW")));
	viewid = RelationGetRelid(td->tg_relation);
	vdesc = RelationGetDescr(td->tg_relation);

	KeysSpiConnect();
	{
		Oid			argt[1] = {OIDOID};
		Datum		v[1];
		uint64		n;
		SPITupleTable *tt;
		bool		isnull;

		v[0] = ObjectIdGetDatum(viewid);
		tt = catalog_exec("SELECT table_name::oid FROM privacy.encrypted_columns "
						  "WHERE view = $1::regclass LIMIT 1", 1, argt, v, NULL, SPI_OK_SELECT, &n);
		if (n == 1)
			relid = DatumGetObjectId(SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull));
	}
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("view \"%s\" is not the decrypted view of an encrypted table",
						RelationGetRelationName(td->tg_relation))));
	qualrel = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
	rel = table_open(relid, AccessShareLock);
	bdesc = RelationGetDescr(rel);
	nkeys = primary_key_attnums(rel, keys);

	argtypes = palloc(sizeof(Oid) * (vdesc->natts + MAX_KEY_PARTS));
	values = palloc(sizeof(Datum) * (vdesc->natts + MAX_KEY_PARTS));
	nulls = palloc(vdesc->natts + MAX_KEY_PARTS);
	initStringInfo(&sql);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		StringInfoData vals;

		initStringInfo(&vals);
		appendStringInfo(&sql, "INSERT INTO %s (", qualrel);
		for (a = 0; a < vdesc->natts; a++)
		{
			Form_pg_attribute va = TupleDescAttr(vdesc, a);
			AttrNumber	ba = get_attnum(relid, NameStr(va->attname));
			bool		isnull;

			if (va->attisdropped || ba == InvalidAttrNumber ||
				TupleDescAttr(bdesc, ba - 1)->attgenerated)
				continue;
			values[nargs] = heap_getattr(oldtup, a + 1, vdesc, &isnull);
			nulls[nargs] = isnull ? 'n' : ' ';
			argtypes[nargs] = va->atttypid;
			nargs++;
			appendStringInfo(&sql, "%s%s", nargs > 1 ? ", " : "", quote_identifier(NameStr(va->attname)));
			appendStringInfo(&vals, "%s$%d", nargs > 1 ? ", " : "", nargs);
		}
		appendStringInfo(&sql, ") VALUES (%s)", vals.data);
		newtup = oldtup;
	}
	else
	{
		bool		update = TRIGGER_FIRED_BY_UPDATE(td->tg_event);

		if (update)
		{
			appendStringInfo(&sql, "UPDATE %s SET ", qualrel);
			for (a = 0; a < vdesc->natts; a++)
			{
				Form_pg_attribute va = TupleDescAttr(vdesc, a);
				bool		n1,
							n2;
				Datum		d1,
							d2;

				if (va->attisdropped)
					continue;
				d1 = heap_getattr(oldtup, a + 1, vdesc, &n1);
				d2 = heap_getattr(newtup, a + 1, vdesc, &n2);
				if (n1 == n2 && (n1 || datumIsEqual(d1, d2, va->attbyval, va->attlen)))
					continue;
				values[nargs] = d2;
				nulls[nargs] = n2 ? 'n' : ' ';
				argtypes[nargs] = va->atttypid;
				nargs++;
				appendStringInfo(&sql, "%s%s = $%d", nargs > 1 ? ", " : "",
								 quote_identifier(NameStr(va->attname)), nargs);
			}
			if (nargs == 0)
			{
				table_close(rel, AccessShareLock);
				SPI_finish();
				return PointerGetDatum(newtup);
			}
		}
		else
		{
			appendStringInfo(&sql, "DELETE FROM %s", qualrel);
			newtup = oldtup;
		}
		appendStringInfoString(&sql, " WHERE ");
		for (i = 0; i < nkeys; i++)
		{
			Form_pg_attribute ka = TupleDescAttr(bdesc, keys[i] - 1);
			int			va = -1;
			bool		isnull;

			for (a = 0; a < vdesc->natts; a++)
				if (!TupleDescAttr(vdesc, a)->attisdropped &&
					strcmp(NameStr(TupleDescAttr(vdesc, a)->attname), NameStr(ka->attname)) == 0)
					va = a;
			if (va < 0)
				elog(ERROR, "the view lacks primary key column \"%s\"", NameStr(ka->attname));
			values[nargs] = heap_getattr(oldtup, va + 1, vdesc, &isnull);
			nulls[nargs] = isnull ? 'n' : ' ';
			argtypes[nargs] = ka->atttypid;
			nargs++;
			appendStringInfo(&sql, "%s%s %s $%d", i > 0 ? " AND " : "",
							 quote_identifier(NameStr(ka->attname)), eq_operator(ka->atttypid), nargs);
		}
	}
	table_close(rel, AccessShareLock);
	ret = SPI_execute_with_args(sql.data, nargs, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT && ret != SPI_OK_UPDATE && ret != SPI_OK_DELETE)
		elog(ERROR, "write through the decrypted view failed (%s)", SPI_result_code_string(ret));
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

	KeysSpiConnect();
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
		UtilBecomeOwner(viewid, &sw);
		foreach(lc, renames)
			spi_exec(psprintf("ALTER VIEW %s %s", qualview, (char *) lfirst(lc)), SPI_OK_UTILITY);
		UtilRestoreUser(&sw);
	}
	SPI_finish();
	PG_RETURN_VOID();
}
