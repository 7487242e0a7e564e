/*-------------------------------------------------------------------------
 * jsonb_build.c
 *		A jsonb object built from values that are already jsonb, without
 *		unpacking them.
 *
 * access() and export() put one array per table (thousands of row objects
 * on a large map) under "data", then "data" under the answer.  Pushed
 * through pushJsonbValue, every such array is unpacked token by token into
 * a JsonbValue tree and serialized again, at each of the two levels: a
 * quarter of a warm access() on a 350-table map.  Here the serialized
 * containers are copied as they are.  A jsonb container is position
 * independent (its children are addressed by lengths and offsets relative
 * to its own data) once it starts on a 4-byte boundary, which is how
 * PostgreSQL itself lays out nested containers (jsonb_util.c,
 * convertJsonbObject): the keys are sorted by length then bytes, the
 * JEntries of the keys come first, then those of the values, every
 * JB_OFFSET_STRIDE-th JEntry holds an end offset instead of a length, and a
 * container's length includes the padding before it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "privacy.h"

/* order of object keys in jsonb: shorter first, then bytewise */
static int
key_cmp(const void *a, const void *b)
{
	const JsonbPair *pa = a;
	const JsonbPair *pb = b;
	int			la = pa->key.val.string.len;
	int			lb = pb->key.val.string.len;
	int			r;

	if (la != lb)
		return la < lb ? -1 : 1;
	r = memcmp(pa->key.val.string.val, pb->key.val.string.val, la);
	if (r != 0)
		return r;
	/* equal keys: the later pair first, the one that is kept (as jsonb does) */
	return pa->order > pb->order ? -1 : (pa->order < pb->order ? 1 : 0);
}

/* zero bytes up to the next 4-byte boundary; how many */
static int
pad_int(StringInfo buf)
{
	int			pad = INTALIGN(buf->len) - buf->len;
	int			i;

	for (i = 0; i < pad; i++)
		appendStringInfoCharMacro(buf, '\0');
	return pad;
}

/* append v's data (a scalar, or an already serialized container); its JEntry */
static JEntry
put_value(StringInfo buf, const JsonbValue *v)
{
	int			pad;

	switch (v->type)
	{
		case jbvNull:
			return JENTRY_ISNULL;
		case jbvBool:
			return v->val.boolean ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
		case jbvString:
			appendBinaryStringInfo(buf, v->val.string.val, v->val.string.len);
			return (JEntry) v->val.string.len;
		case jbvNumeric:
			if (numeric_is_nan(v->val.numeric))
			{
				appendBinaryStringInfo(buf, "NaN", 3);
				return 3;
			}
			pad = pad_int(buf);
			appendBinaryStringInfo(buf, (char *) v->val.numeric, VARSIZE_ANY(v->val.numeric));
			return JENTRY_ISNUMERIC | (pad + VARSIZE_ANY(v->val.numeric));
		case jbvBinary:
			pad = pad_int(buf);
			appendBinaryStringInfo(buf, (char *) v->val.binary.data, v->val.binary.len);
			return JENTRY_ISCONTAINER | (pad + v->val.binary.len);
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
	return 0;					/* keep the compiler quiet */
}

/*
 * serialize
 *		A jsonb datum whose root container has header (count and kind) and
 *		the n entries vals (an object's keys, then its values; an array's
 *		elements), each serialized by put_value.
 */
static Jsonb *
serialize(uint32 header, const JsonbValue **vals, int n, const char *kind)
{
	StringInfoData buf;
	int			jentries;
	int			base;
	int			i;
	uint32		total = 0;
	Jsonb	   *res;

	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	base = buf.len;				/* 4: aligned */
	appendBinaryStringInfo(&buf, (char *) &header, sizeof(uint32));
	jentries = buf.len;
	appendStringInfoSpaces(&buf, sizeof(JEntry) * n);
	for (i = 0; i < n; i++)
	{
		JEntry		meta = put_value(&buf, vals[i]);

		total += JBE_OFFLENFLD(meta);
		if (total > JENTRY_OFFLENMASK || (uint32) (buf.len - base) > JENTRY_OFFLENMASK)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("total size of jsonb %s elements exceeds the maximum of %u bytes",
							kind, JENTRY_OFFLENMASK)));
		/* every JB_OFFSET_STRIDE-th entry: the end offset, not the length */
		if (i % JB_OFFSET_STRIDE == 0)
			meta = (meta & JENTRY_TYPEMASK) | total | JENTRY_HAS_OFF;
		memcpy(buf.data + jentries + i * sizeof(JEntry), &meta, sizeof(JEntry));
	}
	res = (Jsonb *) buf.data;
	SET_VARSIZE(res, buf.len);
	return res;
}

/*
 * UtilJsonbObject
 *		The jsonb object of the n pairs (keys: jbvString; values: scalars or
 *		jbvBinary containers, e.g. another jsonb's root or a container met
 *		by JsonbIteratorNext with skipNested), the same bytes as
 *		jsonb_build_object over the same pairs would give; of equal keys
 *		the last is kept, as in jsonb.  The pairs array is sorted in place.
 */
Jsonb *
UtilJsonbObject(JsonbPair *pairs, int n)
{
	const JsonbValue **vals;
	int			i,
				m;
	bool		sorted = true;

	for (i = 0; i < n; i++)
	{
		pairs[i].order = i;
		if (i > 0 && sorted && key_cmp(&pairs[i - 1], &pairs[i]) >= 0)
			sorted = false;
	}
	if (!sorted)
		qsort(pairs, n, sizeof(JsonbPair), key_cmp);
	/* of equal keys, keep the first of the sorted run (the last given) */
	for (i = 0, m = 0; i < n; i++)
		if (m == 0 || pairs[i].key.val.string.len != pairs[m - 1].key.val.string.len ||
			memcmp(pairs[i].key.val.string.val, pairs[m - 1].key.val.string.val,
				   pairs[i].key.val.string.len) != 0)
			pairs[m++] = pairs[i];
	n = m;

	vals = palloc(sizeof(JsonbValue *) * Max(2 * n, 1));
	for (i = 0; i < n; i++)
	{
		vals[i] = &pairs[i].key;
		vals[n + i] = &pairs[i].value;
	}
	return serialize((uint32) n | JB_FOBJECT, vals, 2 * n, "object");
}

/*
 * UtilJsonbArray
 *		The jsonb array of the n elements (scalars or jbvBinary containers),
 *		the same bytes as jsonb_agg over the same values would give.
 */
Jsonb *
UtilJsonbArray(const JsonbValue *elems, int n)
{
	const JsonbValue **vals = palloc(sizeof(JsonbValue *) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		vals[i] = &elems[i];
	return serialize((uint32) n | JB_FARRAY, vals, n, "array");
}

/*
 * UtilJsonbPairs
 *		Append the top-level pairs of object (a jsonb object) to pairs[*n]
 *		(room for them is the caller's), nested containers as jbvBinary
 *		pointing into object.
 */
void
UtilJsonbPairs(Jsonb *object, JsonbPair *pairs, int *n)
{
	JsonbIterator *it = JsonbIteratorInit(&object->root);
	JsonbIteratorToken tok;
	JsonbValue	v;

	tok = JsonbIteratorNext(&it, &v, true);
	if (tok != WJB_BEGIN_OBJECT)
		elog(ERROR, "jsonb object expected");
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			pairs[*n].key = v;
		else if (tok == WJB_VALUE)
			pairs[(*n)++].value = v;
	}
}

/*
 * UtilJsonbBinary
 *		A jsonb datum (detoasted, as DatumGetJsonbP gives it) as a value for
 *		UtilJsonbObject: its container as jbvBinary, or its scalar.
 */
JsonbValue
UtilJsonbBinary(Jsonb *jb)
{
	JsonbValue	v;

	if (JB_ROOT_IS_SCALAR(jb))
	{
		if (!JsonbExtractScalar(&jb->root, &v))
			elog(ERROR, "jsonb scalar expected");
		return v;
	}
	v.type = jbvBinary;
	v.val.binary.data = &jb->root;
	v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	return v;
}

/* a C string as a jbvString JsonbValue */
JsonbValue
UtilJsonbString(const char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	return v;
}
