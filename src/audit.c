/*-------------------------------------------------------------------------
 * audit.c
 *		The hash-chained, append-only audit log.
 *
 * Every rights call, classification change, hold, consent change,
 * retention run and key operation appends one entry, in the caller's
 * transaction, with subject_ref only (never personal data or key
 * material).  An entry's hash is a keyed BLAKE2b over the previous hash and
 * the entry's canonical content (seq, time in microseconds, actor, action,
 * subject_ref, detail as jsonb text).
 *
 * Locking: one chain-head row (privacy.audit_head) is updated by every
 * append, so concurrent writers serialise on its row lock and can never
 * fork the chain; under REPEATABLE READ a concurrent append makes the
 * second writer fail with a serialisation error instead of forking.
 * Appends are one per call, never per row, so this costs nothing that
 * matters.  Guard triggers (sql/40_audit.sql) refuse UPDATE, DELETE and
 * TRUNCATE for everyone; verify_audit() recomputes the chain.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "privacy.h"

PG_FUNCTION_INFO_V1(privacy_audit_sql);
PG_FUNCTION_INFO_V1(privacy_verify_audit);
PG_FUNCTION_INFO_V1(privacy_audit_guard);

#define AUDIT_HASH_BYTES 32

static SPIPlanPtr plan_head = NULL;
static SPIPlanPtr plan_insert = NULL;
static SPIPlanPtr plan_set_head = NULL;

/*
 * audit_hash
 *		hash = BLAKE2b(prev || seq || at || actor || action || ref || detail)
 *		with a 0 byte after each text field.
 */
static void
audit_hash(unsigned char *out, const unsigned char *prev, size_t prevlen,
		   int64 seq, int64 at, const char *actor, const char *action,
		   const char *ref, const char *detail)
{
	crypto_generichash_state st;
	unsigned char zero = 0;
	const char *fields[4];
	int			i;

	fields[0] = actor;
	fields[1] = action;
	fields[2] = ref ? ref : "";
	fields[3] = detail ? detail : "";
	crypto_generichash_init(&st, NULL, 0, AUDIT_HASH_BYTES);
	crypto_generichash_update(&st, prev, prevlen);
	crypto_generichash_update(&st, (const unsigned char *) &seq, sizeof(seq));
	crypto_generichash_update(&st, (const unsigned char *) &at, sizeof(at));
	for (i = 0; i < 4; i++)
	{
		crypto_generichash_update(&st, (const unsigned char *) fields[i], strlen(fields[i]));
		crypto_generichash_update(&st, &zero, 1);
	}
	crypto_generichash_final(&st, out, AUDIT_HASH_BYTES);
}

static SPIPlanPtr
keep(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

	if (p == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(p);
	return p;
}

/*
 * AuditAppend
 *		Append one entry in the caller's transaction.  detail_json is a JSON
 *		object as text, or NULL.  Runs with the caller's privileges on the
 *		catalog: callers are SECURITY DEFINER functions or the worker.
 */
void
AuditAppend(const char *action, const char *subject_ref, const char *detail_json)
{
	int			ret;
	bool		isnull;
	int64		seq;
	bytea	   *prev;
	unsigned char hash[AUDIT_HASH_BYTES];
	TimestampTz at = GetCurrentTimestamp();
	char	   *actor = GetUserNameFromId(GetOuterUserId(), true);
	char	   *detail = NULL;
	Datum		detail_jsonb = (Datum) 0;
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bytea	   *hb;

	if (actor == NULL)
		actor = "?";
	if (sodium_init() < 0)
		elog(ERROR, "libsodium could not be initialised");
	UtilSpiConnect();
	if (plan_head == NULL)
	{
		Oid			t7[7] = {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, BYTEAOID};
		Oid			t2[2] = {INT8OID, BYTEAOID};

		plan_head = keep("UPDATE privacy.audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash", 0, NULL);
		plan_insert = keep("INSERT INTO privacy.audit (seq, at, actor, action, subject_ref, detail, hash)"
						   " VALUES ($1, $2, $3, $4, $5, $6, $7)", 7, t7);
		plan_set_head = keep("UPDATE privacy.audit_head SET hash = $2 WHERE id = 1 AND seq = $1", 2, t2);
	}
	/* normalise the detail through jsonb so verification sees the same text */
	if (detail_json)
	{
		detail_jsonb = DirectFunctionCall1(jsonb_in, CStringGetDatum(detail_json));
		detail = JsonbToCString(NULL, &DatumGetJsonbP(detail_jsonb)->root, -1);
	}

	ret = SPI_execute_plan(plan_head, NULL, NULL, false, 1);
	if (ret == SPI_OK_UPDATE_RETURNING && SPI_processed == 0)
	{
		/* first entry in this database: create the chain head */
		ret = SPI_execute("INSERT INTO privacy.audit_head (id, seq, hash) VALUES (1, 0, '\\x')"
						  " ON CONFLICT DO NOTHING", false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not create the audit chain head");
		ret = SPI_execute_plan(plan_head, NULL, NULL, false, 1);
	}
	if (ret != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
		elog(ERROR, "the audit chain head is missing");
	seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	prev = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

	audit_hash(hash, (unsigned char *) VARDATA_ANY(prev), VARSIZE_ANY_EXHDR(prev),
			   seq, at, actor, action, subject_ref, detail);
	hb = palloc(VARHDRSZ + AUDIT_HASH_BYTES);
	SET_VARSIZE(hb, VARHDRSZ + AUDIT_HASH_BYTES);
	memcpy(VARDATA(hb), hash, AUDIT_HASH_BYTES);

	values[0] = Int64GetDatum(seq);
	values[1] = TimestampTzGetDatum(at);
	values[2] = CStringGetTextDatum(actor);
	values[3] = CStringGetTextDatum(action);
	if (subject_ref)
		values[4] = CStringGetTextDatum(subject_ref);
	else
		nulls[4] = 'n';
	if (detail)
		values[5] = detail_jsonb;
	else
		nulls[5] = 'n';
	values[6] = PointerGetDatum(hb);
	ret = SPI_execute_plan(plan_insert, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not append to the audit log: %d", ret);

	values[0] = Int64GetDatum(seq);
	values[1] = PointerGetDatum(hb);
	ret = SPI_execute_plan(plan_set_head, values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "could not advance the audit chain head");
	SPI_finish();
}

/*
 * privacy._audit(action text, subject_ref text, detail jsonb) — for the
 * SQL configuration functions.
 */
Datum
privacy_audit_sql(PG_FUNCTION_ARGS)
{
	char	   *action = UtilTextArg(fcinfo, 0, "action");
	char	   *ref = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *detail = NULL;

	if (!PG_ARGISNULL(2))
		detail = JsonbToCString(NULL, &PG_GETARG_JSONB_P(2)->root, -1);
	AuditAppend(action, ref, detail);
	PG_RETURN_VOID();
}

/*
 * privacy.verify_audit() RETURNS bigint
 *		Recompute the chain from the first entry; XX001 names the first bad
 *		seq (a changed, deleted, inserted or reordered entry, or a head that
 *		does not match the last entry).
 */
Datum
privacy_verify_audit(PG_FUNCTION_ARGS)
{
	Portal		portal;
	SPIPlanPtr	plan;
	unsigned char prev[AUDIT_HASH_BYTES];
	size_t		prevlen = 0;
	int64		expect = 1;
	int64		count = 0;
	int			ret;
	bool		isnull;
	int64		head_seq;
	bytea	   *head_hash;

	if (sodium_init() < 0)
		elog(ERROR, "libsodium could not be initialised");
	UtilSpiConnect();
	plan = SPI_prepare("SELECT seq, at, actor::text, action, subject_ref, detail::text, hash"
					   " FROM privacy.audit ORDER BY seq", 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed");
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	td = SPI_tuptable->tupdesc;
			int64		seq = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
			int64		at = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
			char	   *actor = SPI_getvalue(tup, td, 3);
			char	   *action = SPI_getvalue(tup, td, 4);
			char	   *ref = SPI_getvalue(tup, td, 5);
			char	   *detail = SPI_getvalue(tup, td, 6);
			Datum		hd = SPI_getbinval(tup, td, 7, &isnull);
			unsigned char h[AUDIT_HASH_BYTES];
			bytea	   *stored = isnull ? NULL : DatumGetByteaPP(hd);

			audit_hash(h, prev, prevlen, seq, at, actor ? actor : "", action ? action : "", ref, detail);
			if (seq != expect || stored == NULL ||
				VARSIZE_ANY_EXHDR(stored) != AUDIT_HASH_BYTES ||
				memcmp(VARDATA_ANY(stored), h, AUDIT_HASH_BYTES) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("audit log chain is broken at seq " INT64_FORMAT,
								seq != expect && seq > expect ? expect : seq),
						 errdetail("The entry was changed, removed, inserted or reordered after it was written.")));
			memcpy(prev, h, AUDIT_HASH_BYTES);
			prevlen = AUDIT_HASH_BYTES;
			expect++;
			count++;
		}
	}
	SPI_cursor_close(portal);

	ret = SPI_execute("SELECT seq, hash FROM privacy.audit_head WHERE id = 1", true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the audit chain head");
	if (SPI_processed == 0)
	{
		if (count > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("audit log chain is broken at seq " INT64_FORMAT, count),
					 errdetail("The chain head is missing.")));
		SPI_finish();
		PG_RETURN_INT64(0);
	}
	head_seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	head_hash = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (head_seq != count ||
		(count > 0 && (VARSIZE_ANY_EXHDR(head_hash) != AUDIT_HASH_BYTES ||
					   memcmp(VARDATA_ANY(head_hash), prev, AUDIT_HASH_BYTES) != 0)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("audit log chain is broken at seq " INT64_FORMAT, count + 1 > head_seq ? head_seq : count + 1),
				 errdetail("The last entries of the log were removed.")));
	SPI_finish();
	PG_RETURN_INT64(count);
}

/*
 * privacy._audit_guard() — trigger refusing UPDATE, DELETE and TRUNCATE on
 * the audit log, for everyone.
 */
Datum
privacy_audit_guard(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("the privacy audit log is append-only"),
			 errdetail("UPDATE, DELETE and TRUNCATE are refused on privacy.audit.")));
	PG_RETURN_NULL();
}
