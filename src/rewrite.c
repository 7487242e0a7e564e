/*-------------------------------------------------------------------------
 * rewrite.c
 *		Erasure strategies as SQL rewrites ('null', 'redact', 'hash'...),
 *		shared by erase and retention, and the keyed pseudonyms that 'hash'
 *		writes: privacy.pseudonym() and privacy.is_pseudonym(), which only
 *		a statement carrying the open pseudonym scope's token (src/guard.c)
 *		or a superuser may call.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compat.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "guard.h"
#include "retention.h"

PG_FUNCTION_INFO_V1(privacy_pseudonym);
PG_FUNCTION_INFO_V1(privacy_is_pseudonym);

#define PSEUDONYM_BYTES 16		/* 32 hex characters */

/*
 * ret_placeholder
 *		Literal (untyped) placeholder that 'redact' writes for a base type,
 *		or NULL when the type has none.
 */
static const char *
ret_placeholder(Oid basetype)
{
	char		category;
	bool		preferred;

	switch (basetype)
	{
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return "'epoch'";
		case TIMEOID:
		case TIMETZOID:
			return "'00:00:00'";
		case UUIDOID:
			return "'00000000-0000-0000-0000-000000000000'";
		case JSONOID:
		case JSONBOID:
			return "'\"[redacted]\"'";
		case BYTEAOID:
			return "'\\x'";
		case MACADDROID:
			return "'00:00:00:00:00:00'";
		case MACADDR8OID:
			return "'00:00:00:00:00:00:00:00'";
		case INETOID:
		case CIDROID:
			return "'0.0.0.0/32'";
		case CHAROID:
			return "'x'";
		default:
			break;
	}
	get_type_category_preferred(basetype, &category, &preferred);
	switch (category)
	{
		case TYPCATEGORY_STRING:
			return "'[redacted]'";
		case TYPCATEGORY_NUMERIC:
			return "'0'";
		case TYPCATEGORY_BOOLEAN:
			return "'false'";
		case TYPCATEGORY_TIMESPAN:
			return "'0'";
		case TYPCATEGORY_ARRAY:
			return "'{}'";
		case TYPCATEGORY_GEOMETRIC:
			return basetype == POINTOID ? "'(0,0)'" : NULL;
		default:
			return NULL;
	}
}

/*
 * ret_scope_arg
 *		The scope argument of the pseudonym functions in generated SQL: in
 *		a pseudonym scope the token, which travels as the statement's
 *		parameter GUARD_SCOPE_PARAM (never in its text, src/guard.h);
 *		outside one a null, which only a superuser may compute with.
 */
static const char *
ret_scope_arg(void)
{
	return GuardPseudonymToken() != NULL ?
		"CAST(" GUARD_SCOPE_PARAM " AS pg_catalog.text)" : "CAST(NULL AS pg_catalog.text)";
}

/*
 * ret_hash_length
 *		Number of pseudonym characters a string column keeps (its length
 *		limit), 0 when the type cannot hold a pseudonym; -1 for bytea.
 */
static int
ret_hash_length(Oid basetype, int32 basetypmod)
{
	char		category;
	bool		preferred;
	int			len = PSEUDONYM_BYTES * 2;

	if (basetype == BYTEAOID)
		return -1;
	get_type_category_preferred(basetype, &category, &preferred);
	if (category != TYPCATEGORY_STRING || basetype == CHAROID || basetype == NAMEOID)
		return 0;
	if ((basetype == VARCHAROID || basetype == BPCHAROID) && basetypmod > VARHDRSZ)
		len = Min(len, basetypmod - VARHDRSZ);
	return len;
}

/*
 * RetentionRewriteExpr
 *		The new value of a column erased by a strategy (see retention.h).
 */
char *
RetentionRewriteExpr(Oid typid, int32 typmod, const char *strategy, const char *colexpr)
{
	int32		basetypmod = typmod;
	Oid			basetype = getBaseTypeAndTypmod(typid, &basetypmod);
	char	   *typname = format_type_with_typemod(typid, typmod);

	if (strcmp(strategy, "keep") == 0 || strcmp(strategy, "shred") == 0)
		return NULL;
	if (strcmp(strategy, "null") == 0 || strcmp(strategy, "delete") == 0)
		return psprintf("CAST(NULL AS %s)", typname);
	if (strcmp(strategy, "redact") == 0)
	{
		const char *ph = ret_placeholder(basetype);

		if (ph == NULL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("strategy \"redact\" has no placeholder for type %s", typname)));
		return psprintf("CAST(%s AS %s)", ph, typname);
	}
	if (strcmp(strategy, "hash") == 0)
	{
		int			len = ret_hash_length(basetype, basetypmod);

		if (len == 0)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("strategy \"hash\" cannot be stored in a column of type %s", typname)));

		if (len < 0)
			return psprintf("CAST(pg_catalog.decode(privacy.pseudonym(pg_catalog.encode(%s, 'hex'), %d, %s), 'hex') AS %s)",
							colexpr, PSEUDONYM_BYTES * 2, ret_scope_arg(), typname);
		return psprintf("CAST(privacy.pseudonym(CAST(%s AS pg_catalog.text), %d, %s) AS %s)",
						colexpr, len, ret_scope_arg(), typname);
	}
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("unknown erasure strategy \"%s\"", strategy)));
	return NULL;				/* keep compiler quiet */
}

/*
 * RetentionRewriteDoneExpr
 *		True when a column already holds what its strategy writes (see
 *		retention.h).
 */
char *
RetentionRewriteDoneExpr(Oid typid, int32 typmod, const char *strategy, const char *colexpr)
{
	if (strcmp(strategy, "null") == 0 || strcmp(strategy, "delete") == 0)
		return psprintf("(%s IS NULL)", colexpr);
	if (strcmp(strategy, "redact") == 0)
		return psprintf("(%s IS NOT DISTINCT FROM %s)", colexpr,
						RetentionRewriteExpr(typid, typmod, strategy, colexpr));
	if (strcmp(strategy, "hash") == 0)
	{
		/*
		 * Never a value's shape (hex of some length, 16 bytes: it may be the
		 * person's data): a pseudonym carries a keyed tag of its body, and
		 * only a value whose tag verifies under this database's secret was
		 * written by the extension.
		 */
		int32		basetypmod = typmod;
		Oid			basetype = getBaseTypeAndTypmod(typid, &basetypmod);
		int			len = ret_hash_length(basetype, basetypmod);

		if (len < 0)
			return psprintf("(%s IS NULL OR privacy.is_pseudonym(pg_catalog.encode(%s, 'hex'), %d, %s))",
							colexpr, colexpr, PSEUDONYM_BYTES * 2, ret_scope_arg());
		return psprintf("(%s IS NULL OR privacy.is_pseudonym(CAST(%s AS pg_catalog.text), %d, %s))",
						colexpr, colexpr, len, ret_scope_arg());
	}
	return NULL;
}

/*
 * ret_keyed_pseudonym
 *		A pseudonym of len hex characters (1..32) whose body is keyed on
 *		purpose over in: the body (the first len - len/2 characters)
 *		followed by a keyed tag of the body (len/2 characters), so that the
 *		extension recognizes the values it wrote (ret_is_pseudonym) without
 *		judging any value by its shape.  out has room for len + 1
 *		characters.
 */
static void
ret_keyed_pseudonym(const char *purpose, const unsigned char *in, size_t inlen, int len, char *out)
{
	unsigned char body[PSEUDONYM_BYTES];
	unsigned char tag[PSEUDONYM_BYTES];
	char		hex[PSEUDONYM_BYTES * 2 + 1];
	int			tlen = len / 2;
	int			blen = len - tlen;

	UtilKeyedHash(purpose, in, inlen, body, sizeof(body));
	sodium_bin2hex(hex, sizeof(hex), body, sizeof(body));
	memcpy(out, hex, blen);
	UtilKeyedHash("privacy.pseudonym.tag", (const unsigned char *) out, blen, tag, sizeof(tag));
	sodium_bin2hex(hex, sizeof(hex), tag, sizeof(tag));
	memcpy(out + blen, hex, tlen);
	out[len] = '\0';
}

/* the pseudonym of in, len hex characters (ret_keyed_pseudonym) */
static void
ret_pseudonym_hex(const unsigned char *in, size_t inlen, int len, char *out)
{
	ret_keyed_pseudonym("privacy.pseudonym", in, inlen, len, out);
}

/*
 * ret_pseudonym_nth_hex
 *		The n-th disambiguated pseudonym of in (n >= 1): the body is keyed
 *		on its own purpose over (n, in), so it equals no plain pseudonym's
 *		input, and carries the same tag (ret_is_pseudonym recognizes it).
 *		Written only when the plain pseudonym (or a lower n) would give a
 *		row the key of another under a unique index (see retention.h).
 */
static void
ret_pseudonym_nth_hex(const unsigned char *in, size_t inlen, int n, int len, char *out)
{
	unsigned char *buf = palloc(inlen + 4);

	buf[0] = (unsigned char) (n >> 24);
	buf[1] = (unsigned char) (n >> 16);
	buf[2] = (unsigned char) (n >> 8);
	buf[3] = (unsigned char) n;
	memcpy(buf + 4, in, inlen);
	ret_keyed_pseudonym("privacy.pseudonym.nth", buf, inlen + 4, len, out);
	sodium_memzero(buf, inlen + 4);
	pfree(buf);
}

/*
 * ret_is_pseudonym
 *		Was value (vlen characters) written by ret_pseudonym_hex for length
 *		len?  Its tag must verify under the database's secret: a value that
 *		merely looks like a pseudonym passes with probability 16^-(len/2).
 *		A length of 1 has no tag: never recognized (rewritten again).
 */
static bool
ret_is_pseudonym(const char *value, size_t vlen, int len)
{
	unsigned char tag[PSEUDONYM_BYTES];
	char		hex[PSEUDONYM_BYTES * 2 + 1];
	int			tlen = len / 2;
	int			blen = len - tlen;

	if (tlen == 0 || vlen != (size_t) len)
		return false;
	UtilKeyedHash("privacy.pseudonym.tag", (const unsigned char *) value, blen, tag, sizeof(tag));
	sodium_bin2hex(hex, sizeof(hex), tag, sizeof(tag));
	return sodium_memcmp(hex, value + blen, tlen) == 0;
}

/*
 * ret_check_pseudonym_caller
 *		The pseudonym functions compute nothing outside erasure and
 *		retention: a pseudonym oracle would let anyone test guesses against
 *		stored pseudonyms.  Only a statement that carries the token of the
 *		open pseudonym scope (argument scopearg: erase's rewrite, retention's
 *		batch statements, built by the C code that knows the token, which no
 *		trigger, CHECK, operator or policy running meanwhile can read) or a
 *		superuser may.
 */
static void
ret_check_pseudonym_caller(FunctionCallInfo fcinfo, int scopearg)
{
	bool		scoped = PG_NARGS() > scopearg && !PG_ARGISNULL(scopearg) &&
		GuardPseudonymTokenValid(text_to_cstring(PG_GETARG_TEXT_PP(scopearg)));

	if (!scoped && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("privacy.pseudonym can only be used by erasure and retention"),
				 errhidestmt(true)));
}

/* length argument of the pseudonym functions: 1..32 */
static int
ret_pseudonym_len(FunctionCallInfo fcinfo, int argno)
{
	int			len = PG_NARGS() > argno ? PG_GETARG_INT32(argno) : PSEUDONYM_BYTES * 2;

	if (len < 1 || len > PSEUDONYM_BYTES * 2)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("pseudonym length must be between 1 and %d", PSEUDONYM_BYTES * 2)));
	return len;
}

/*
 * privacy_pseudonym
 *		privacy.pseudonym(value text, len int DEFAULT 32, scope text DEFAULT
 *		NULL) RETURNS text: the keyed pseudonym of the value (libsodium
 *		crypto_generichash under keys derived from the database's secret),
 *		len hex characters: a body and a tag of the body.  Equal inputs give
 *		equal outputs within one database.  Null value or len: null.
 */
Datum
privacy_pseudonym(PG_FUNCTION_ARGS)
{
	text	   *in;
	int			len;
	char		out[PSEUDONYM_BYTES * 2 + 1];

	ret_check_pseudonym_caller(fcinfo, 2);
	if (PG_ARGISNULL(0) || (PG_NARGS() > 1 && PG_ARGISNULL(1)))
		PG_RETURN_NULL();
	in = PG_GETARG_TEXT_PP(0);
	len = ret_pseudonym_len(fcinfo, 1);
	ret_pseudonym_hex((const unsigned char *) VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), len, out);
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

/*
 * privacy_is_pseudonym
 *		privacy.is_pseudonym(value text, len int, scope text DEFAULT NULL)
 *		RETURNS boolean: true when the value is a pseudonym of length len
 *		that this database wrote (its keyed tag verifies).  Same callers as
 *		privacy.pseudonym (it is an oracle of the tag key too).
 */
Datum
privacy_is_pseudonym(PG_FUNCTION_ARGS)
{
	text	   *in;
	int			len;

	ret_check_pseudonym_caller(fcinfo, 2);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	in = PG_GETARG_TEXT_PP(0);
	len = ret_pseudonym_len(fcinfo, 1);
	PG_RETURN_BOOL(ret_is_pseudonym(VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), len));
}

char *
RetentionHashedColumn(Oid typid, int32 typmod, const char *colexpr, int *len, bool *bytea)
{
	int32		basetypmod = typmod;
	Oid			basetype = getBaseTypeAndTypmod(typid, &basetypmod);
	int			n = ret_hash_length(basetype, basetypmod);

	if (n == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("strategy \"hash\" cannot be stored in a column of type %s",
							   format_type_with_typemod(typid, typmod))));
	*bytea = n < 0;
	*len = n < 0 ? PSEUDONYM_BYTES * 2 : n;
	return n < 0 ? psprintf("pg_catalog.encode(%s, 'hex')", colexpr)
		: psprintf("CAST(%s AS pg_catalog.text)", colexpr);
}

void
RetentionPseudonyms(Datum in, int len, Datum *out, Datum *done)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	Datum	   *o,
			   *d;

	deconstruct_array(DatumGetArrayTypeP(in), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	o = palloc(sizeof(Datum) * Max(n, 1));
	d = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		text	   *t = DatumGetTextPP(elems[i]);
		char		buf[PSEUDONYM_BYTES * 2 + 1];

		if (nulls[i])
			elog(ERROR, "a null value to pseudonymize");
		ret_pseudonym_hex((const unsigned char *) VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), len, buf);
		o[i] = CStringGetTextDatum(buf);
		d[i] = BoolGetDatum(ret_is_pseudonym(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), len));
	}
	*out = PointerGetDatum(construct_array(o, n, TEXTOID, -1, false, TYPALIGN_INT));
	*done = PointerGetDatum(construct_array(d, n, BOOLOID, 1, true, TYPALIGN_CHAR));
}

Datum
RetentionPseudonymNth(text *in, int n, int len)
{
	char		buf[PSEUDONYM_BYTES * 2 + 1];

	Assert(n >= 1 && len >= 1 && len <= PSEUDONYM_BYTES * 2);
	ret_pseudonym_nth_hex((const unsigned char *) VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), n, len, buf);
	return CStringGetTextDatum(buf);
}
