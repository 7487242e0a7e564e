/*-------------------------------------------------------------------------
 * rights.c
 *		Legal holds, restriction of processing (Art. 18) and its row-level
 *		security, the consent ledger, the erasure ledger and its replay, and
 *		the lock trigger of linked tables.
 *
 * Holds must win every race with erasure: hold() locks the subject's root
 * row FOR KEY SHARE before inserting the hold, and erase() locks it FOR
 * UPDATE and only then checks holds with the latest snapshot.  Retention
 * batches take LOCK privacy.holds IN SHARE MODE, which the hold's insert
 * waits for (or the batch waits for the hold's transaction).
 *
 * Consent: privacy.consent_events is append-only history; privacy.consents
 * keeps the current state per (subject_ref, purpose), so has_consent is one
 * primary-key lookup with a cached plan.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/partition.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

#include "citus.h"
#include "crypto.h"
#include "guard.h"
#include "privacy.h"

char	   *privacy_request_deadline = NULL;	/* an interval */

/* a request's deadline is days or months; this bound keeps now() + it a timestamp */
#define REQUEST_MAX_DEADLINE_YEARS 100

/*
 * check_request_deadline
 *		GUC check hook: the value must read as a positive interval.
 */
static bool
check_request_deadline(char **newval, void **extra, GucSource source)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	bool		ok = true;
	bool		too_long = false;

	if (*newval == NULL)
		return true;
	PG_TRY();
	{
		Datum		d = DirectFunctionCall3(interval_in,
										  CStringGetDatum(*newval),
										  ObjectIdGetDatum(InvalidOid),
										  Int32GetDatum(-1));
		Interval   *iv = DatumGetIntervalP(d);
		Interval	max;

		/*
		 * at most REQUEST_MAX_DEADLINE_YEARS (as breach_report's deadline):
		 * beyond, now() + it left the timestamp range and every rights call
		 * failed (22008), and no request would ever be overdue
		 */
		memset(&max, 0, sizeof(max));
		max.month = REQUEST_MAX_DEADLINE_YEARS * MONTHS_PER_YEAR;
		if (iv->month < 0 || iv->day < 0 || iv->time < 0 ||
			(iv->month == 0 && iv->day == 0 && iv->time == 0))
			ok = false;
		else if (DatumGetInt32(DirectFunctionCall2(interval_cmp, d, IntervalPGetDatum(&max))) > 0)
			too_long = true;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		FlushErrorState();
		ok = false;
	}
	PG_END_TRY();
	if (!ok)
		GUC_check_errdetail("privacy.request_deadline must be a positive interval, such as '30 days'.");
	else if (too_long)
		GUC_check_errdetail("privacy.request_deadline must be at most %d years.", REQUEST_MAX_DEADLINE_YEARS);
	return ok && !too_long;
}

/*
 * RightsInit
 *		The rights' settings (_PG_init, preloaded or not).
 */
void
RightsInit(void)
{
	DefineCustomStringVariable("privacy.request_deadline",
							   "Sets the time within which a data-subject request must be answered.",
							   "An interval, such as '30 days' or '1 month'.",
							   &privacy_request_deadline,
							   "30 days",
							   PGC_USERSET, 0,
							   check_request_deadline, NULL, NULL);
}

PG_FUNCTION_INFO_V1(privacy_hold);
PG_FUNCTION_INFO_V1(privacy_release_hold);
PG_FUNCTION_INFO_V1(privacy_restrict);
PG_FUNCTION_INFO_V1(privacy_unrestrict);
PG_FUNCTION_INFO_V1(privacy_is_restricted);
PG_FUNCTION_INFO_V1(privacy_restricted_key);
PG_FUNCTION_INFO_V1(privacy_held);
PG_FUNCTION_INFO_V1(privacy_held_keys);
PG_FUNCTION_INFO_V1(privacy_protect);
PG_FUNCTION_INFO_V1(privacy_set_consent);
PG_FUNCTION_INFO_V1(privacy_has_consent);
PG_FUNCTION_INFO_V1(privacy_erasure_ledger);
PG_FUNCTION_INFO_V1(privacy_replay_erasures);
PG_FUNCTION_INFO_V1(privacy_link_lock);
PG_FUNCTION_INFO_V1(privacy_link_key_hash);

static SPIPlanPtr plan_has_consent = NULL;
static SPIPlanPtr plan_is_restricted = NULL;

static int
exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, bool ro)
{
	int			ret = SPI_execute_with_args(sql, nargs, types, values, nulls, ro, 0);

	if (ret < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	return ret;
}

/*
 * RightsHasHolds
 *		Whether privacy.holds has a row (active, released or expired) of
 *		the subject under this canonical id.
 */
bool
RightsHasHolds(const char *subject, const char *canon)
{
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		v[2];
	bool		found;

	v[0] = CStringGetTextDatum(subject);
	v[1] = CStringGetTextDatum(canon);
	UtilSpiConnect();
	exec("SELECT 1 FROM privacy.holds h WHERE h.subject OPERATOR(pg_catalog.=) $1"
		 " AND h.subject_key OPERATOR(pg_catalog.=) $2 LIMIT 1", 2, t, v, NULL, true);
	found = SPI_processed > 0;
	SPI_finish();
	return found;
}

/*
 * RightsForgetKey
 *		After an erasure: the subject's id no longer stays in clear in the
 *		holds and restrictions kept of it.  Its holds (released or expired:
 *		an active one fails the erasure before) stay as records, under the
 *		subject_ref in place of the id (as the audit log and the ledger
 *		know the subject), an expired one closed at its end; its
 *		restriction goes.  Before, an erased person's id (an e-mail
 *		address, say) stayed in privacy.holds and privacy.restrictions for
 *		good.
 */
void
RightsForgetKey(const char *subject, const char *canon, bool has_holds)
{
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		v[2];

	v[0] = CStringGetTextDatum(subject);
	v[1] = CStringGetTextDatum(canon);
	/*
	 * only when it has some: an UPDATE locks the table ROW EXCLUSIVE, and
	 * the erasure took SHARE ROW EXCLUSIVE for it then (erase.c lock_holds)
	 */
	if (has_holds)
	{
		UtilSpiConnect();
		exec("UPDATE privacy.holds h SET subject_key = h.subject_ref,"
			 " released_at = coalesce(h.released_at, LEAST(h.until, pg_catalog.now()))"
			 " WHERE h.subject OPERATOR(pg_catalog.=) $1 AND h.subject_key OPERATOR(pg_catalog.=) $2",
			 2, t, v, NULL, false);
		SPI_finish();
	}
	UtilSpiConnect();
	/*
	 * a restriction has nothing left to restrict: it goes (the audit log
	 * keeps its restrict entry, by subject_ref); under another key it could
	 * only ever match a subject whose id is that text
	 */
	exec("DELETE FROM privacy.restrictions r WHERE r.subject OPERATOR(pg_catalog.=) $1"
		 " AND r.subject_key OPERATOR(pg_catalog.=) $2", 2, t, v, NULL, false);
	if (CitusMirrorActive())
		exec("DELETE FROM privacy.citus_restrictions r WHERE r.subject OPERATOR(pg_catalog.=) $1"
			 " AND r.subject_key OPERATOR(pg_catalog.=) $2", 2, t, v, NULL, false);
	SPI_finish();
}

/*
 * RightsLockSubject
 *		A transaction advisory lock on one subject (type and canonical id):
 *		an erasure takes it exclusively before it checks the holds, hold()
 *		in shared mode before it records one, so a hold placed while an
 *		erasure of the subject runs waits for it, whether or not the
 *		subject has a root row (whose lock serializes them too).
 */
void
RightsLockSubject(const char *subject, const char *canon, bool exclusive)
{
	char	   *tag = psprintf("privacy.subject %s", subject);
	int32		k1 = DatumGetInt32(hash_any((const unsigned char *) tag, strlen(tag)));
	int32		k2 = KeysLockKey(canon, strlen(canon));

	if (exclusive)
		DirectFunctionCall2(pg_advisory_xact_lock_int4, Int32GetDatum(k1), Int32GetDatum(k2));
	else
		DirectFunctionCall2(pg_advisory_xact_lock_shared_int4, Int32GetDatum(k1), Int32GetDatum(k2));
}

/*
 * privacy.hold(subject text, id text, reason text, until timestamptz DEFAULT NULL)
 */
Datum
privacy_hold(PG_FUNCTION_ARGS)
{
	SubjectArg	a = MapSubjectArg(fcinfo, 0, 1);
	char	   *reason = UtilTextArg(fcinfo, 2, "reason");
	Oid			t[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		v[5];
	char		n[5] = {' ', ' ', ' ', ' ', ' '};
	PrivacyUserSwitch sw;
	Oid			kt[1];

	if (strlen(reason) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a legal hold needs a reason")));
	if (!PG_ARGISNULL(3) && PG_GETARG_TIMESTAMPTZ(3) <= GetCurrentTransactionStartTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a legal hold must end in the future")));
	RightsLockSubject(a.subj->name, a.canon, false);
	UtilSpiConnect();
	/* the root row FOR KEY SHARE: an erasure holding it FOR UPDATE finishes first */
	kt[0] = a.subj->key_type;
	sw.frame = GuardEnterTableOwner(a.subj->root);
	exec(CitusPrivateParams(a.subj, a.subj->root,
							psprintf("SELECT 1 FROM %s t WHERE %s FOR KEY SHARE", UtilFromName(a.subj->root),
									 CitusMark(a.subj->root, psprintf("t.%s %s $1",
																	  quote_identifier(a.subj->key_column), a.subj->key_eq))),
							1, kt),
		 1, kt, &a.key, NULL, false);
	GuardLeave(sw.frame);
	v[0] = CStringGetTextDatum(a.subj->name);
	v[1] = CStringGetTextDatum(a.canon);
	v[2] = CStringGetTextDatum(a.ref);
	v[3] = CStringGetTextDatum(reason);
	if (PG_ARGISNULL(3))
		n[4] = 'n';
	else
		v[4] = PG_GETARG_DATUM(3);
	exec("INSERT INTO privacy.holds (subject, subject_key, subject_ref, reason, until) VALUES ($1, $2, $3, $4, $5)"
		 " ON CONFLICT (subject, subject_key) WHERE released_at IS NULL"
		 " DO UPDATE SET reason = EXCLUDED.reason, until = EXCLUDED.until, placed_at = pg_catalog.now()",
		 5, t, v, n, false);
	SPI_finish();
	AuditAppend("hold", a.ref, PG_ARGISNULL(3) ? NULL : "{\"until\":true}");
	PG_RETURN_VOID();
}

/*
 * privacy.release_hold(subject text, id text)
 */
Datum
privacy_release_hold(PG_FUNCTION_ARGS)
{
	SubjectArg	a = MapSubjectArg(fcinfo, 0, 1);
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		v[2];

	v[0] = CStringGetTextDatum(a.subj->name);
	v[1] = CStringGetTextDatum(a.canon);
	UtilSpiConnect();
	exec("UPDATE privacy.holds SET released_at = pg_catalog.now()"
		 " WHERE subject = $1 AND subject_key = $2 AND released_at IS NULL", 2, t, v, NULL, false);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the subject has no legal hold"),
				 errhidestmt(true)));
	SPI_finish();
	AuditAppend("release_hold", a.ref, NULL);
	PG_RETURN_VOID();
}

/*
 * privacy.restrict(subject text, id text, reason text) — Art. 18.
 */
Datum
privacy_restrict(PG_FUNCTION_ARGS)
{
	SubjectArg	a = MapSubjectArg(fcinfo, 0, 1);
	char	   *reason = UtilTextArg(fcinfo, 2, "reason");
	Oid			t[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		v[4];
	int64		req;

	if (strlen(reason) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a restriction needs a reason")));
	v[0] = CStringGetTextDatum(a.subj->name);
	v[1] = CStringGetTextDatum(a.canon);
	v[2] = CStringGetTextDatum(a.ref);
	v[3] = CStringGetTextDatum(reason);
	UtilSpiConnect();
	exec("INSERT INTO privacy.restrictions (subject, subject_key, subject_ref, reason) VALUES ($1, $2, $3, $4)"
		 " ON CONFLICT (subject, subject_key) DO UPDATE SET reason = EXCLUDED.reason",
		 4, t, v, NULL, false);
	/*
	 * protected distributed tables: the shards' nodes learn it in this
	 * transaction.  INSERT ... SELECT, not VALUES: Citus writes the VALUES
	 * of a reference-table INSERT into the statement text it sends to every
	 * node (pg_stat_activity, logs); the rows of an INSERT ... SELECT travel
	 * as COPY data.
	 */
	if (CitusMirrorActive())
		exec("INSERT INTO privacy.citus_restrictions (subject, subject_key) SELECT $1, $2"
			 " ON CONFLICT (subject, subject_key) DO NOTHING", 2, t, v, NULL, false);
	SPI_finish();
	req = AccessRecordRequest(a.subj, "restrict", a.ref, true);
	AuditAppend("restrict", a.ref, psprintf("{\"request\":" INT64_FORMAT "}", req));
	PG_RETURN_VOID();
}

/*
 * privacy.unrestrict(subject text, id text)
 */
Datum
privacy_unrestrict(PG_FUNCTION_ARGS)
{
	SubjectArg	a = MapSubjectArg(fcinfo, 0, 1);
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		v[2];
	int64		req;

	v[0] = CStringGetTextDatum(a.subj->name);
	v[1] = CStringGetTextDatum(a.canon);
	UtilSpiConnect();
	exec("DELETE FROM privacy.restrictions WHERE subject = $1 AND subject_key = $2", 2, t, v, NULL, false);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the subject is not restricted"),
				 errhidestmt(true)));
	if (CitusMirrorActive())
		exec("DELETE FROM privacy.citus_restrictions r WHERE r.subject OPERATOR(pg_catalog.=) $1"
			 " AND r.subject_key OPERATOR(pg_catalog.=) $2", 2, t, v, NULL, false);
	SPI_finish();
	req = AccessRecordRequest(a.subj, "unrestrict", a.ref, true);
	AuditAppend("unrestrict", a.ref, psprintf("{\"request\":" INT64_FORMAT "}", req));
	PG_RETURN_VOID();
}

static bool
restricted(const char *subject, const char *canon)
{
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		v[2];
	bool		result;

	UtilSpiConnect();
	if (plan_is_restricted == NULL)
	{
		plan_is_restricted = SPI_prepare("SELECT 1 FROM privacy.restrictions WHERE subject = $1 AND subject_key = $2",
										 2, t);
		if (plan_is_restricted == NULL)
			elog(ERROR, "SPI_prepare failed");
		SPI_keepplan(plan_is_restricted);
	}
	v[0] = CStringGetTextDatum(subject);
	v[1] = CStringGetTextDatum(canon);
	if (SPI_execute_plan(plan_is_restricted, v, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "restriction lookup failed");
	result = SPI_processed > 0;
	SPI_finish();
	return result;
}

/*
 * privacy.is_restricted(subject text, id text) RETURNS boolean
 */
Datum
privacy_is_restricted(PG_FUNCTION_ARGS)
{
	SubjectArg	a = MapSubjectArg(fcinfo, 0, 1);

	PG_RETURN_BOOL(restricted(a.subj->name, a.canon));
}

/*
 * Per-statement cache of protect()'s policy function.  Within one
 * statement (local transaction id and command id), the restrictions a
 * STABLE function sees cannot change: the restricted keys of a subject type
 * are read once (none, the common case: every row is visible at once), and
 * the query that reads a row's keys is planned once per (subject type,
 * table, partition).
 */
typedef struct RestrictEntry
{
	char	   *subject;
	Oid			tbl;
	Oid			part;
	HTAB	   *keys;			/* restricted canonical keys, NULL: none */
	HTAB	   *tids;			/* or: the restricted rows themselves */
	SPIPlanPtr	plan;			/* keys of the row at $1, as tbl's owner */
	int			nexprs;
} RestrictEntry;

/* up to this many restricted subjects, their rows are found once per
 * statement (index-friendly); beyond, each row's keys are read */
#define RESTRICT_MAX_SET 64

#define RESTRICT_KEY_LEN 256

static MemoryContext restrict_cxt = NULL;
static List *restrict_cache = NIL;
static LocalTransactionId restrict_lxid = InvalidLocalTransactionId;
static CommandId restrict_cid = InvalidCommandId;

static void
restrict_cache_reset(void)
{
	ListCell   *lc;

	foreach(lc, restrict_cache)
	{
		RestrictEntry *e = lfirst(lc);

		if (e->plan)
			SPI_freeplan(e->plan);
	}
	restrict_cache = NIL;
	if (restrict_cxt == NULL)
		restrict_cxt = AllocSetContextCreate(TopMemoryContext, "privacy restriction cache",
											 ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(restrict_cxt);
}

/*
 * restrict_lookup
 *		The cache entry of (subject, tbl, part) for the current statement,
 *		or NULL (the cache of another statement is dropped).
 */
static RestrictEntry *
restrict_lookup(const char *subject, Oid tbl, Oid part)
{
	ListCell   *lc;

	if (restrict_lxid != CompatMyLocalXid() || restrict_cid != GetCurrentCommandId(false))
	{
		restrict_cache_reset();
		restrict_lxid = CompatMyLocalXid();
		restrict_cid = GetCurrentCommandId(false);
		return NULL;
	}
	foreach(lc, restrict_cache)
	{
		RestrictEntry *e = lfirst(lc);

		if (e->tbl == tbl && e->part == part && strcmp(e->subject, subject) == 0)
			return e;
	}
	return NULL;
}

/* privacy._restricted() answers only about rows of a table the caller may read */
pg_noreturn static void
restricted_denied(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for privacy._restricted"),
			 errdetail("It answers only for rows of a table the caller may read."),
			 errhidestmt(true)));
}

/* a new, empty cache entry of (subject, tbl, part) */
static RestrictEntry *
restrict_new(const char *subject, Oid tbl, Oid part)
{
	RestrictEntry *e = MemoryContextAllocZero(restrict_cxt, sizeof(RestrictEntry));

	e->subject = MemoryContextStrdup(restrict_cxt, subject);
	e->tbl = tbl;
	e->part = part;
	return e;
}

/* entry e joins the current statement's cache */
static RestrictEntry *
restrict_keep(RestrictEntry *e)
{
	MemoryContext old = MemoryContextSwitchTo(restrict_cxt);

	restrict_cache = lappend(restrict_cache, e);
	MemoryContextSwitchTo(old);
	return e;
}

/* the tids the last SPI statement returned (column 1) into e->tids */
static void
restrict_add_tids(RestrictEntry *e)
{
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			(void) hash_search(e->tids, DatumGetPointer(d), HASH_ENTER, NULL);
	}
}

/*
 * restrict_entry
 *		A new cache entry of (subject, tbl, part) for the current statement
 *		(restrict_lookup found none), filled as the extension owner
 *		(restricted keys) and as tbl's owner (the plan).  Runs inside an
 *		extension-owner frame, SPI connected.
 */
static RestrictEntry *
restrict_entry(MapSubject *subj, MapTable *mt, Oid part)
{
	ListCell   *lc;
	RestrictEntry *e;
	Oid			t[1] = {TEXTOID};
	Datum		v[1];
	uint64		i;
	StringInfoData q;
	int			frame;

	e = restrict_new(subj->name, mt->relid, part);

	v[0] = CStringGetTextDatum(subj->name);
	exec("SELECT r.subject_key FROM privacy.restrictions r WHERE r.subject OPERATOR(pg_catalog.=) $1",
		 1, t, v, NULL, true);
	if (SPI_processed > 0)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = RESTRICT_KEY_LEN;
		ctl.entrysize = RESTRICT_KEY_LEN;
		ctl.hcxt = restrict_cxt;
		e->keys = hash_create("privacy restricted keys", 16, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		for (i = 0; i < SPI_processed; i++)
		{
			char	   *k = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

			/* a longer key is kept by its digest (see row_restricted) */
			if (k != NULL)
				(void) hash_search(e->keys, strlen(k) < RESTRICT_KEY_LEN ? k :
								   psprintf("#%u", DatumGetUInt32(hash_any((unsigned char *) k, strlen(k)))),
								   HASH_ENTER, NULL);
		}

		/*
		 * Few restricted subjects (the usual case) on a table that is not
		 * partitioned: find their rows once, as the table's owner, with the
		 * map's index-friendly condition; each row is then a hash lookup.
		 */
		if (SPI_processed <= RESTRICT_MAX_SET && part == mt->relid)
		{
			List	   *keys = NIL;
			ListCell   *kc;
			char	   *sql;
			Oid			kt[1];

			for (i = 0; i < SPI_processed; i++)
			{
				char	   *k = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

				if (k != NULL)
					keys = lappend(keys, k);
			}
			memset(&ctl, 0, sizeof(ctl));
			ctl.keysize = sizeof(ItemPointerData);
			ctl.entrysize = sizeof(ItemPointerData);
			ctl.hcxt = restrict_cxt;
			e->tids = hash_create("privacy restricted rows", 64, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
			sql = psprintf("SELECT t.ctid FROM ONLY %s t WHERE %s", UtilQualifiedName(part),
						   MapCondition(subj, mt, "t", "$1"));
			kt[0] = subj->key_type;
			foreach(kc, keys)
			{
				Datum		kv[1];
				int			ret;

				/* the conversion to the key's type is the root owner's code */
				kv[0] = MapParseId(subj, lfirst(kc), NULL);
				frame = GuardEnterTableOwner(mt->relid);
				GuardSetRowSecurityBypass(true);
				ret = SPI_execute_with_args(sql, 1, kt, kv, NULL, true, 0);
				GuardLeave(frame);
				if (ret != SPI_OK_SELECT)
					elog(ERROR, "restricted rows lookup failed: %s", SPI_result_code_string(ret));
				restrict_add_tids(e);
			}
			return restrict_keep(e);
		}

		/* the row's keys, read as the table's owner (its casts, its domains) */
		initStringInfo(&q);
		appendStringInfoString(&q, "SELECT ");
		foreach(lc, MapKeyExprs(subj, mt, "t"))
		{
			appendStringInfo(&q, "%s%s", e->nexprs > 0 ? ", " : "",
							 MapCanonText(subj, (char *) lfirst(lc)));
			e->nexprs++;
		}
		if (e->nexprs > 0)
		{
			Oid			tt[1] = {TIDOID};

			appendStringInfo(&q, " FROM ONLY %s t WHERE t.ctid OPERATOR(pg_catalog.=) $1",
							 UtilQualifiedName(part));
			frame = GuardEnterTableOwner(mt->relid);
			GuardSetRowSecurityBypass(true);
			e->plan = SPI_prepare(q.data, 1, tt);
			if (e->plan == NULL)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
			SPI_keepplan(e->plan);
			GuardLeave(frame);
		}
	}
	return restrict_keep(e);
}

/*
 * restrict_entry_citus
 *		A new cache entry of (subject, tbl, part) for the current statement
 *		when tbl is a Citus distributed table protected by protect(): the
 *		policy runs on the node that holds the shard part, where the map
 *		and the coordinator's restrictions are not.  What it needs comes
 *		from this node's placements of privacy.citus_protected (tbl must be
 *		protected for subject, by name) and privacy.citus_restrictions (the
 *		restricted keys); the table routes by its distribution column, which
 *		holds the subject's key in every row of the subject (protect()
 *		checked it), so the restricted rows of the shard are found once per
 *		statement, as the table's owner, by that column.  Fails closed (an
 *		error, never a visible row) when this node does not know the table
 *		as protected.  Inside an extension-owner frame, SPI connected.
 */
static RestrictEntry *
restrict_entry_citus(const char *subject, Oid tbl, Oid part)
{
	RestrictEntry *e;
	Oid			prot;
	Oid			restr;
	Oid			t[3] = {NAMEOID, NAMEOID, TEXTOID};
	Datum		v[3];
	Datum		keys;
	bool		keys_null;
	bool		protected_here;
	char	   *col;
	Oid			coltype;
	char	   *sql;
	int			frame;
	int			ret;
	HASHCTL		ctl;

	if (part != tbl && !CitusIsShardOf(part, tbl))
		restricted_denied();
	prot = CitusLocalPlacement("citus_protected");
	restr = CitusLocalPlacement("citus_restrictions");
	if (!OidIsValid(prot) || !OidIsValid(restr))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the restrictions of protected table \"%s\" are not on this node", get_rel_name(tbl)),
				 errhint("Replicate the reference tables to this node (replicate_reference_tables()), or run privacy.protect() again on the coordinator."),
				 errhidestmt(true)));
	v[0] = CStringGetDatum(get_namespace_name(get_rel_namespace(tbl)));
	v[1] = CStringGetDatum(get_rel_name(tbl));
	v[2] = CStringGetTextDatum(subject);
	/* protected here for subject, and the subject type's restricted keys */
	exec(psprintf("SELECT EXISTS (SELECT FROM %s p WHERE p.nspname OPERATOR(pg_catalog.=) $1"
				  " AND p.relname OPERATOR(pg_catalog.=) $2 AND p.subject OPERATOR(pg_catalog.=) $3),"
				  " (SELECT pg_catalog.array_agg(r.subject_key) FROM %s r WHERE r.subject OPERATOR(pg_catalog.=) $3)",
				  UtilQualifiedName(prot), UtilQualifiedName(restr)), 3, t, v, NULL, true);
	{
		bool		isnull;

		protected_here = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		keys = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &keys_null);
	}
	if (!protected_here)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not protected for subject type \"%s\" on this node",
						get_rel_name(tbl), subject),
				 errhint("A protected distributed table that was renamed or moved to another schema needs privacy.protect() again."),
				 errhidestmt(true)));

	e = restrict_new(subject, tbl, part);

	if (keys_null)
	{
		/* nobody of this subject type restricted */
		return restrict_keep(e);
	}

	/* the restricted rows of this shard, by the distribution column */
	col = get_attname(tbl, CitusTable(tbl).distcol, false);
	coltype = get_atttype(part, get_attnum(part, col));
	if (coltype < FirstNormalObjectId)
		sql = psprintf("SELECT t.ctid FROM ONLY %s t WHERE t.%s OPERATOR(pg_catalog.=) ANY (CAST($1 AS %s[]))",
					   UtilQualifiedName(part), quote_identifier(col), format_type_be(coltype));
	else
		/* a type of its own: compared by its text, as canonical keys are */
		sql = psprintf("SELECT t.ctid FROM ONLY %s t WHERE CAST(t.%s AS pg_catalog.text) OPERATOR(pg_catalog.=) ANY ($1)",
					   UtilQualifiedName(part), quote_identifier(col));
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(ItemPointerData);
	ctl.entrysize = sizeof(ItemPointerData);
	ctl.hcxt = restrict_cxt;
	e->tids = hash_create("privacy restricted rows", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	/* e->keys only says "someone is restricted"; the rows decide */
	e->keys = e->tids;
	{
		Oid			at[1] = {TEXTARRAYOID};
		Datum		av[1];

		av[0] = keys;
		frame = GuardEnterTableOwner(part);
		GuardSetRowSecurityBypass(true);
		ret = SPI_execute_with_args(sql, 1, at, av, NULL, true, 0);
		GuardLeave(frame);
	}
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "restricted rows lookup failed: %s", SPI_result_code_string(ret));
	restrict_add_tids(e);
	return restrict_keep(e);
}

/*
 * row_restricted
 *		Does the row at tid belong to a restricted subject of entry e
 *		(one with more restricted keys than RESTRICT_MAX_SET, or a
 *		partition)?  Reads the row's keys as the table's owner.  A key that is too long
 *		for the set is looked up by its hash; a collision could only hide
 *		a row, never show a restricted one.
 */
static bool
row_restricted(RestrictEntry *e, ItemPointer tid)
{
	Datum		v[1];
	int			frame;
	int			ret;
	int			i;
	bool		result = false;

	v[0] = PointerGetDatum(tid);
	frame = GuardEnterTableOwner(e->tbl);
	GuardSetRowSecurityBypass(true);
	ret = SPI_execute_plan(e->plan, v, NULL, true, 1);
	GuardLeave(frame);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "restriction key lookup failed: %s", SPI_result_code_string(ret));
	for (i = 1; SPI_processed == 1 && i <= e->nexprs && !result; i++)
	{
		char	   *k = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i);

		if (k == NULL)
			continue;
		if (strlen(k) >= RESTRICT_KEY_LEN)
			k = psprintf("#%u", DatumGetUInt32(hash_any((unsigned char *) k, strlen(k))));
		if (hash_search(e->keys, k, HASH_FIND, NULL) != NULL)
			result = true;
	}
	return result;
}

/*
 * privacy._restricted(subject text, tbl regclass, part oid, row tid)
 *		RETURNS boolean — for the row-level security policy of protect():
 *		does the row at tid of part (tbl or one of its partitions) belong to
 *		a restricted subject?  Not an oracle: it answers only about rows of
 *		a table the caller may read (42501 otherwise), takes a row, never a
 *		key, and reads the row's path to the root as the table's owner, so
 *		that a reader of the table needs no right on the tables between it
 *		and the root.  Inside the extension's own work (access, export,
 *		erase, retention) every row is visible: restriction limits
 *		processing by others, not the rights.
 */
Datum
privacy_restricted_key(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	Oid			tbl;
	Oid			part;
	ItemPointer tid;
	MapSubject *subj;
	MapTable   *mt;
	RestrictEntry *e;
	char	   *subject;
	bool		result = false;
	int			frame;

	/* the key-based 0.1.0 signature: refuse rather than answer as an oracle */
	if (PG_NARGS() != 4)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("privacy._restricted of version 0.1.0 is no longer supported"),
				 errhint("Run ALTER EXTENSION privacy UPDATE."),
				 errhidestmt(true)));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_BOOL(false);
	if (GuardRowSecurityBypassed())
		PG_RETURN_BOOL(false);
	tbl = PG_GETARG_OID(1);
	part = PG_GETARG_OID(2);
	tid = (ItemPointer) PG_GETARG_POINTER(3);
	subject = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (pg_class_aclcheck(tbl, caller, ACL_SELECT) != ACLCHECK_OK)
		restricted_denied();
	/*
	 * Only where row-level security applies to the caller (the policy's
	 * own case): to the table's owner (without FORCE), a superuser or a
	 * BYPASSRLS role, who see every row anyway, it answers "not
	 * restricted", and so tells nobody who is restricted.
	 */
	if (check_enable_rls(tbl, InvalidOid, true) != RLS_ENABLED)
		PG_RETURN_BOOL(false);
	/* what the statement needs, once per (subject type, table, partition or shard) */
	e = restrict_lookup(subject, tbl, part);
	if (e == NULL)
	{
		frame = GuardEnterExtensionOwner();
		UtilSpiConnect();
		if (CitusTable(tbl).kind == CITUS_DISTRIBUTED)
			/* a distributed table: the row is a shard's, on the node that holds it */
			e = restrict_entry_citus(subject, tbl, part);
		else if (part != tbl && !list_member_oid(get_partition_ancestors(part), tbl))
			restricted_denied();
		else if ((mt = MapFindTable(subj = MapGetSubject(subject), tbl)) == NULL)
			/* not in the subject type's map: nothing of it is restricted */
			e = restrict_keep(restrict_new(subject, tbl, part));
		else
			e = restrict_entry(subj, mt, part);
		SPI_finish();
		GuardLeave(frame);
	}
	/* the statement's restricted rows (a hash lookup), or the row's keys */
	if (e->tids != NULL)
		PG_RETURN_BOOL(hash_search(e->tids, tid, HASH_FIND, NULL) != NULL);
	/* nobody of this subject type restricted: nothing to read */
	if (e->keys == NULL || e->plan == NULL)
		PG_RETURN_BOOL(false);
	UtilSpiConnect();
	result = row_restricted(e, tid);
	SPI_finish();
	PG_RETURN_BOOL(result);
}

/*
 * privacy._held(subject text, key text, scope text) RETURNS boolean
 *		Is key (canonical text) under an active legal hold?  For retention's
 *		hold filter, which runs as the table's owner: answers only inside
 *		the pseudonym scope whose token the statement carries (42501
 *		otherwise), so no user code can use it as an oracle.
 */
Datum
privacy_held(PG_FUNCTION_ARGS)
{
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		v[2];
	bool		result;
	int			frame;

	if (PG_ARGISNULL(2) || !GuardPseudonymTokenValid(text_to_cstring(PG_GETARG_TEXT_PP(2))))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("privacy._held can only be used by retention"),
				 errhidestmt(true)));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	UtilSpiConnect();
	frame = GuardEnterExtensionOwner();
	exec("SELECT 1 FROM privacy.holds h WHERE h.subject OPERATOR(pg_catalog.=) $1"
		 " AND h.subject_key OPERATOR(pg_catalog.=) $2 AND " PRIVACY_HOLD_ACTIVE,
		 2, t, v, NULL, true);
	result = SPI_processed > 0;
	GuardLeave(frame);
	SPI_finish();
	PG_RETURN_BOOL(result);
}

/*
 * privacy._held_keys(subject text, scope text) RETURNS SETOF text
 *		The keys (canonical text) of subject under an active legal hold.
 *		For retention's hold filter on a shared (outbound) table, which runs
 *		as the table's owner and asks, per held key, whether a row belongs
 *		to that subject (held when ANY of its subjects is): answers only
 *		inside the pseudonym scope whose token the statement carries (42501
 *		otherwise).  The keys are converted to the key type by the caller,
 *		as the table's owner, never here.
 */
Datum
privacy_held_keys(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			t[1] = {TEXTOID};
	Datum		v[1];
	TupleDesc	desc;
	Tuplestorestate *store;
	MemoryContext old;
	int			frame;

	if (PG_ARGISNULL(1) || !GuardPseudonymTokenValid(text_to_cstring(PG_GETARG_TEXT_PP(1))))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("privacy._held_keys can only be used by retention"),
				 errhidestmt(true)));
	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	desc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(desc, (AttrNumber) 1, "key", TEXTOID, -1, 0);
	store = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = desc;
	MemoryContextSwitchTo(old);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	v[0] = PG_GETARG_DATUM(0);
	UtilSpiConnect();
	frame = GuardEnterExtensionOwner();
	exec("SELECT h.subject_key FROM privacy.holds h WHERE h.subject OPERATOR(pg_catalog.=) $1"
		 " AND " PRIVACY_HOLD_ACTIVE,
		 1, t, v, NULL, true);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		key = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			tuplestore_putvalues(store, desc, &key, &isnull);
	}
	GuardLeave(frame);
	SPI_finish();
	return (Datum) 0;
}

/* protect()'s policy condition on relid (qualified name qual): one call per subject type */
static char *
protect_condition(Oid relid, const char *qual, List *subjects, List **mapped)
{
	StringInfoData cond;
	ListCell   *lc;

	initStringInfo(&cond);
	foreach(lc, subjects)
	{
		MapSubject *subj = MapGetSubject(lfirst(lc));
		MapTable   *mt = MapFindTable(subj, relid);

		if (mt == NULL)
			continue;
		/* the row, never a key, is passed */
		appendStringInfo(&cond, "%sprivacy._restricted(%s, %s::pg_catalog.regclass, tableoid, ctid)",
						 cond.len == 0 ? "" : " OR ", quote_literal_cstr(subj->name), quote_literal_cstr(qual));
		if (mapped)
			*mapped = lappend(*mapped, subj);
	}
	return cond.data;
}

/* protect()'s audit entry */
static void
protect_audit(const char *qual, bool force)
{
	StringInfoData d;

	initStringInfo(&d);
	appendStringInfoString(&d, "{\"table\":");
	escape_json(&d, qual);
	appendStringInfo(&d, ",\"force\":%s}", force ? "true" : "false");
	AuditAppend("protect", NULL, d.data);
}

/*
 * protect_distributed
 *		protect() on a Citus distributed table.  The policy is evaluated on
 *		the shards, and Citus re-creates every policy there as permissive
 *		(it drops AS RESTRICTIVE, on creation and on every shard created
 *		later): so the table gets one policy, PERMISSIVE FOR ALL, hiding
 *		the restricted subjects' rows and nothing else, and can have no
 *		other policy (refused here and by the privacy_policy event trigger),
 *		since permissive policies are OR-ed.  The nodes learn the protected
 *		table and the restricted keys through two reference tables
 *		(CitusMirrorEnsure).  The table must route by the subject's key
 *		(its distribution column holds the key in every row of a subject),
 *		so a shard's restricted rows are found by that column where they
 *		are.  No FORCE: erase and access run on the workers as the table's
 *		owner, outside the extension's bypass, and must see every row.
 */
static void
protect_distributed(Oid relid, bool force, List *subjects)
{
	char	   *qual = UtilQualifiedName(relid);
	List	   *mapped = NIL;
	char	   *cond;
	ListCell   *lc;
	Oid			t[3] = {OIDOID, NAMEOID, NAMEOID};
	Datum		v[3];
	bool		rls;
	bool		ours;
	int			seq;
	int			frame;

	if (force)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("privacy.protect() cannot force row security on distributed table \"%s\"", get_rel_name(relid)),
				 errdetail("Access and erasure read the shards as the table's owner, who must see every row."),
				 errhint("Protect it without force.")));
	cond = protect_condition(relid, qual, subjects, &mapped);
	foreach(lc, mapped)
	{
		MapSubject *subj = lfirst(lc);

		if (!CitusRouted(subj, MapFindTable(subj, relid)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("privacy.protect() does not support distributed table \"%s\": it does not route by the key of subject type \"%s\"",
							get_rel_name(relid), subj->name),
					 errdetail("Its restricted rows are hidden on the shards, which find them by the distribution column."),
					 errhint("Distribute it by the subject's key, colocated with the root table, with foreign keys that include that column.")));
	}
	UtilSpiConnect();
	v[0] = ObjectIdGetDatum(relid);
	exec("SELECT c.relrowsecurity, (SELECT pg_catalog.count(*) FROM pg_catalog.pg_policy p"
		 "  WHERE p.polrelid OPERATOR(pg_catalog.=) c.oid AND p.polname OPERATOR(pg_catalog.<>) 'privacy_restricted'),"
		 " EXISTS (SELECT FROM pg_catalog.pg_policy p WHERE p.polrelid OPERATOR(pg_catalog.=) c.oid"
		 "  AND p.polname OPERATOR(pg_catalog.=) 'privacy_restricted')"
		 " FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1", 1, t, v, NULL, true);
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	td = SPI_tuptable->tupdesc;
		int64		others;

		rls = DatumGetBool(SPI_getbinval(tup, td, 1, &isnull));
		others = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
		ours = DatumGetBool(SPI_getbinval(tup, td, 3, &isnull));
		if (others > 0 || (rls && !ours))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("privacy.protect() does not support distributed table \"%s\" with row security of its own",
							get_rel_name(relid)),
					 errdetail("Citus makes every policy permissive on the shards, and permissive policies are OR-ed: another policy would show restricted rows."),
					 errhint("Drop its policies and disable its row security first, or keep the table local.")));
	}
	/*
	 * One connection per node for the rest of protect(): the reference
	 * tables' rows, then the DDL on every shard and on the workers' copies
	 * of the table.  In parallel, Citus opened more connections to a worker
	 * than the one that wrote the reference tables, and one of the
	 * transaction's own connections could wait for another's lock there,
	 * which Citus's deadlock detection cancels ("involved in a distributed
	 * deadlock", now and then under load).
	 */
	seq = UtilGucPush("citus.multi_shard_modify_mode", "sequential");
	/* the nodes learn the restricted keys and this table, in this transaction */
	frame = GuardEnterExtensionOwner();
	CitusMirrorEnsure();
	foreach(lc, mapped)
	{
		Oid			pt[3] = {NAMEOID, NAMEOID, TEXTOID};
		Datum		pv[3];

		pv[0] = CStringGetDatum(get_namespace_name(get_rel_namespace(relid)));
		pv[1] = CStringGetDatum(get_rel_name(relid));
		pv[2] = CStringGetTextDatum(((MapSubject *) lfirst(lc))->name);
		exec("INSERT INTO privacy.citus_protected (nspname, relname, subject) VALUES ($1, $2, $3)"
			 " ON CONFLICT DO NOTHING", 3, pt, pv, NULL, false);
	}
	GuardLeave(frame);
	if (!rls)
		exec(psprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", qual), 0, NULL, NULL, NULL, false);
	if (ours)
		exec(psprintf("DROP POLICY privacy_restricted ON %s", qual), 0, NULL, NULL, NULL, false);
	exec(psprintf("CREATE POLICY privacy_restricted ON %s AS PERMISSIVE FOR ALL"
				  " USING (pg_catalog.pg_has_role('privacy_officer', 'MEMBER') OR NOT (%s)) WITH CHECK (true)",
				  qual, cond), 0, NULL, NULL, NULL, false);
	UtilGucPop(seq);
	SPI_finish();
	protect_audit(qual, false);
}

/*
 * privacy.protect(tbl regclass, force boolean DEFAULT false)
 *		Row-level security on a mapped table: rows of restricted subjects
 *		are invisible to roles that are not members of privacy_officer.
 *		When the table had no row security yet, a permissive policy keeps
 *		every other row visible.  force: FORCE ROW LEVEL SECURITY, so the
 *		owner is filtered too (superusers and BYPASSRLS roles always bypass).
 */
Datum
privacy_protect(PG_FUNCTION_ARGS)
{
	Oid			relid;
	bool		force = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	List	   *subjects;
	char	   *cond;
	char	   *qual;
	bool		rls;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"tbl\" must not be null")));
	relid = PG_GETARG_OID(0);
	if (get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (CitusTable(relid).kind != CITUS_DISTRIBUTED)
		CitusRefuseDistributed(relid, "privacy.protect()");	/* CITUS HOOK */
	subjects = MapSubjectsOfTable(relid);
	if (subjects == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" is not in the data map of any subject type", get_rel_name(relid)),
				 errhint("Map it with a foreign key path or privacy.link() first.")));
	if (CitusTable(relid).kind == CITUS_DISTRIBUTED)
	{
		protect_distributed(relid, force, subjects);
		PG_RETURN_VOID();
	}
	qual = UtilQualifiedName(relid);
	cond = protect_condition(relid, qual, subjects, NULL);
	UtilSpiConnect();
	{
		Oid			t[1] = {OIDOID};
		Datum		v[1];
		bool		isnull;

		v[0] = ObjectIdGetDatum(relid);
		exec("SELECT relrowsecurity FROM pg_catalog.pg_class WHERE oid = $1", 1, t, v, NULL, false);
		rls = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	if (!rls)
	{
		exec(psprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", qual), 0, NULL, NULL, NULL, false);
		exec(psprintf("CREATE POLICY privacy_allow ON %s AS PERMISSIVE FOR ALL USING (true) WITH CHECK (true)", qual),
			 0, NULL, NULL, NULL, false);
	}
	if (force)
		exec(psprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY", qual), 0, NULL, NULL, NULL, false);
	{
		Oid			t[1] = {OIDOID};
		Datum		v[1];

		v[0] = ObjectIdGetDatum(relid);
		exec("SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = $1 AND polname = 'privacy_restricted'",
			 1, t, v, NULL, false);
		if (SPI_processed > 0)
			exec(psprintf("DROP POLICY privacy_restricted ON %s", qual), 0, NULL, NULL, NULL, false);
	}
	exec(psprintf("CREATE POLICY privacy_restricted ON %s AS RESTRICTIVE FOR SELECT"
				  " USING (pg_catalog.pg_has_role('privacy_officer', 'MEMBER') OR NOT (%s))", qual, cond),
		 0, NULL, NULL, NULL, false);
	SPI_finish();
	protect_audit(qual, force);
	PG_RETURN_VOID();
}

/*
 * privacy.set_consent(subject text, id text, purpose text, granted boolean,
 *					   source text DEFAULT NULL)
 *		Append to the history; the current state follows the latest event.
 */
Datum
privacy_set_consent(PG_FUNCTION_ARGS)
{
	SubjectArg	a = MapSubjectArg(fcinfo, 0, 1);
	char	   *purpose = UtilTextArg(fcinfo, 2, "purpose");
	Oid			t[5] = {TEXTOID, TEXTOID, TEXTOID, BOOLOID, TEXTOID};
	Datum		v[5];
	char		n[5] = {' ', ' ', ' ', ' ', ' '};

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"granted\" must not be null")));
	if (strlen(purpose) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a consent needs a purpose")));
	UtilCheckIndexedLength(purpose, "purpose");
	v[0] = CStringGetTextDatum(a.subj->name);
	v[1] = CStringGetTextDatum(a.ref);
	v[2] = CStringGetTextDatum(purpose);
	v[3] = PG_GETARG_DATUM(3);
	if (PG_ARGISNULL(4))
		n[4] = 'n';
	else
		v[4] = PG_GETARG_DATUM(4);
	UtilSpiConnect();
	exec("WITH e AS (INSERT INTO privacy.consent_events (subject, subject_ref, purpose, granted, source)"
		 "  VALUES ($1, $2, $3, $4, $5) RETURNING subject, subject_ref, purpose, granted, source, at)"
		 " INSERT INTO privacy.consents AS c (subject, subject_ref, purpose, granted, source, at)"
		 "  SELECT * FROM e ON CONFLICT (subject_ref, purpose) DO UPDATE"
		 "  SET granted = EXCLUDED.granted, source = EXCLUDED.source, at = EXCLUDED.at"
		 "  WHERE c.at <= EXCLUDED.at",
		 5, t, v, n, false);
	SPI_finish();
	{
		StringInfoData d;

		initStringInfo(&d);
		appendStringInfoString(&d, "{\"purpose\":");
		escape_json(&d, purpose);
		appendStringInfo(&d, ",\"granted\":%s}", PG_GETARG_BOOL(3) ? "true" : "false");
		AuditAppend("set_consent", a.ref, d.data);
	}
	PG_RETURN_VOID();
}

/*
 * privacy.has_consent(subject text, id text, purpose text) RETURNS boolean
 *		One primary-key lookup; no consent recorded means false.
 */
Datum
privacy_has_consent(PG_FUNCTION_ARGS)
{
	SubjectArg	a = MapSubjectArg(fcinfo, 0, 1);
	char	   *purpose = UtilTextArg(fcinfo, 2, "purpose");
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		v[2];
	bool		result = false;
	bool		isnull;

	UtilSpiConnect();
	if (plan_has_consent == NULL)
	{
		plan_has_consent = SPI_prepare("SELECT granted FROM privacy.consents WHERE subject_ref = $1 AND purpose = $2",
									   2, t);
		if (plan_has_consent == NULL)
			elog(ERROR, "SPI_prepare failed");
		SPI_keepplan(plan_has_consent);
	}
	v[0] = CStringGetTextDatum(a.ref);
	v[1] = CStringGetTextDatum(purpose);
	if (SPI_execute_plan(plan_has_consent, v, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "consent lookup failed");
	if (SPI_processed > 0)
		result = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_BOOL(result);
}

/*
 * privacy.erasure_ledger(since timestamptz DEFAULT NULL) RETURNS jsonb
 *		Erased subjects by reference only.
 */
Datum
privacy_erasure_ledger(PG_FUNCTION_ARGS)
{
	Oid			t[1] = {TIMESTAMPTZOID};
	Datum		v[1];
	char		n[1] = {' '};
	bool		isnull;
	Jsonb	   *result;

	if (PG_ARGISNULL(0))
		n[0] = 'n';
	else
		v[0] = PG_GETARG_DATUM(0);
	UtilSpiConnect();
	exec("SELECT pg_catalog.jsonb_build_object('format', 'privacy-ledger/1', 'generated_at', pg_catalog.now(),"
		 " 'entries', coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('subject', e.subject,"
		 "  'subject_ref', e.subject_ref, 'erased_at', e.erased_at, 'request', e.request) ORDER BY e.id), '[]'))"
		 " FROM privacy.erasures e WHERE $1 IS NULL OR e.erased_at >= $1",
		 1, t, v, n, true);
	result = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	result = (Jsonb *) SPI_datumTransfer(JsonbPGetDatum(result), false, -1);
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}

/* an entry of the replay hash: subject_ref -> subject type */
typedef struct ReplayEntry
{
	char		ref[64];
	char		subject[64];
	bool		matched;
} ReplayEntry;

/*
 * replay_read_ledger
 *		The ledger's entries into refs (subject_ref -> subject type); the
 *		distinct subject types, in order of first appearance, into
 *		*subjects (allocated in outer).  Returns the number of entries.
 */
static uint64
replay_read_ledger(Jsonb *ledger, HTAB *refs, List **subjects, MemoryContext outer)
{
	Oid			t[1] = {JSONBOID};
	Datum		v[1];
	uint64		i,
				nentries;
	ListCell   *lc;

	v[0] = JsonbPGetDatum(ledger);
	UtilSpiConnect();
	/* an object whose "entries" is an array, else it is no ledger */
	exec("SELECT 1 WHERE pg_catalog.jsonb_typeof($1) OPERATOR(pg_catalog.=) 'object'"
		 " AND pg_catalog.jsonb_typeof($1 OPERATOR(pg_catalog.->) 'entries') OPERATOR(pg_catalog.=) 'array'",
		 1, t, v, NULL, true);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("not an erasure ledger"),
				 errdetail("Pass the result of privacy.erasure_ledger().")));
	exec("SELECT e OPERATOR(pg_catalog.->>) 'subject', e OPERATOR(pg_catalog.->>) 'subject_ref',"
		 " pg_catalog.jsonb_typeof(e) OPERATOR(pg_catalog.=) 'object'"
		 " AND pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'subject') OPERATOR(pg_catalog.=) 'string'"
		 " AND pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'subject_ref') OPERATOR(pg_catalog.=) 'string'"
		 " FROM pg_catalog.jsonb_array_elements($1 OPERATOR(pg_catalog.->) 'entries') e", 1, t, v, NULL, true);
	nentries = SPI_processed;
	for (i = 0; i < nentries; i++)
	{
		char	   *s = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *r = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *ok = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
		ReplayEntry *e;
		bool		found;

		if (s == NULL || r == NULL || ok == NULL || strcmp(ok, "t") != 0 ||
			strlen(r) >= 64 || strlen(s) >= 64)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("erasure ledger entry %d is malformed", (int) i + 1)));
		e = hash_search(refs, r, HASH_ENTER, &found);
		/*
		 * a subject_ref is of one subject type (the type is in its HMAC):
		 * the same ref under another type is a damaged ledger, where the
		 * later entry replaced the earlier and that subject was silently
		 * left restored
		 */
		if (found && strcmp(e->subject, s) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("erasure ledger entry %d is malformed", (int) i + 1),
					 errdetail("Its subject_ref is listed before under another subject type."),
					 errhint("Pass the result of privacy.erasure_ledger(), unchanged.")));
		strlcpy(e->subject, s, sizeof(e->subject));
		e->matched = false;
		if (!found)
		{
			MemoryContext old = MemoryContextSwitchTo(outer);
			bool		seen = false;

			foreach(lc, *subjects)
				if (strcmp(lfirst(lc), s) == 0)
					seen = true;
			if (!seen)
				*subjects = lappend(*subjects, pstrdup(s));
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	return nentries;
}

/* the subject type is defined in this database */
static bool
replay_subject_known(const char *name)
{
	Oid			tt[1] = {TEXTOID};
	Datum		vv[1];
	bool		known;

	UtilSpiConnect();
	vv[0] = CStringGetTextDatum(name);
	exec("SELECT 1 FROM privacy.subject_types WHERE name = $1", 1, tt, vv, NULL, false);
	known = SPI_processed > 0;
	SPI_finish();
	return known;
}

/*
 * replay_key_sources
 *		Where the keys of subj are now: the root's key column and the
 *		columns of linked tables, as parallel lists of relations and the
 *		statements that read them as text.
 */
static void
replay_key_sources(MapSubject *subj, List **rels, List **sqls)
{
	ListCell   *tc;

	*rels = list_make1_oid(subj->root);
	*sqls = list_make1(psprintf("SELECT %s FROM %s t WHERE %s",
								MapCanonText(subj, psprintf("t.%s", quote_identifier(subj->key_column))),
								UtilFromName(subj->root), CitusMark(subj->root, pstrdup("true"))));
	/*
	 * a numeric key's own spelling too: a ledger written before ids had
	 * one canonical spelling (0.1.0) names '1.0' by the ref of '1.0'
	 */
	if (getBaseType(subj->key_type) == NUMERICOID)
	{
		*rels = lappend_oid(*rels, subj->root);
		*sqls = lappend(*sqls, psprintf("SELECT CAST(t.%s AS pg_catalog.text) FROM %s t WHERE %s",
										quote_identifier(subj->key_column),
										UtilFromName(subj->root), CitusMark(subj->root, pstrdup("true"))));
	}
	foreach(tc, subj->tables)
	{
		MapTable   *mt = lfirst(tc);
		MapHop	   *h;

		if (strcmp(mt->via, "link") != 0 || linitial(mt->paths) == NIL)
			continue;
		h = linitial((List *) linitial(mt->paths));
		if (h->link)
		{
			const char *col = quote_identifier(get_attname(h->rel, h->cols[0], false));

			*rels = lappend_oid(*rels, h->rel);
			*sqls = lappend(*sqls, psprintf("SELECT %s FROM %s l WHERE %s",
											getBaseType(get_atttype(h->rel, h->cols[0])) == NUMERICOID
											? psprintf("CAST(pg_catalog.trim_scale(l.%s) AS pg_catalog.text)", col)
											: MapLinkUpperToo(subj, h->rel, h->cols[0])
											? psprintf("pg_catalog.lower(CAST(l.%s AS pg_catalog.text))", col)
											: psprintf("CAST(l.%s AS pg_catalog.text)", col),
											UtilFromName(h->rel),
											CitusMark(h->rel, MapLinkFilter(h, "l") ? MapLinkFilter(h, "l") : pstrdup("true"))));
		}
	}
}

/*
 * replay_match_keys
 *		Every key of relid read by sql, as the table's owner (a user type's
 *		cast to text is the owner's code, never run with the extension
 *		owner's rights; rows are computed while fetching, so the fetch runs
 *		as the owner too), whose subject_ref is in the ledger for this
 *		subject type and not matched yet: appended to *keys (in outer).
 */
static void
replay_match_keys(const char *name, Oid relid, const char *sql, HTAB *refs, List **keys,
				  MemoryContext outer)
{
	Portal		portal;
	int			frame;
	uint64		i;

	UtilSpiConnect();
	frame = GuardEnterTableOwner(relid);
	GuardSetRowSecurityBypass(true);
	portal = SPI_cursor_open_with_args(NULL, sql, 0, NULL, NULL, NULL, true, 0);
	GuardLeave(frame);
	for (;;)
	{
		List	   *batch = NIL;
		ListCell   *bc;

		frame = GuardEnterTableOwner(relid);
		GuardSetRowSecurityBypass(true);
		SPI_cursor_fetch(portal, true, 10000);
		GuardLeave(frame);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			char	   *k = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

			if (k != NULL)
				batch = lappend(batch, k);
		}
		/* subject_ref needs the secret: as the extension owner */
		foreach(bc, batch)
		{
			char	   *k = lfirst(bc);
			char	   *r = UtilSubjectRef(name, k);
			ReplayEntry *e = hash_search(refs, r, HASH_FIND, NULL);

			if (e && strcmp(e->subject, name) == 0 && !e->matched)
			{
				MemoryContext old = MemoryContextSwitchTo(outer);

				e->matched = true;
				*keys = lappend(*keys, pstrdup(k));
				MemoryContextSwitchTo(old);
			}
		}
	}
	SPI_cursor_close(portal);
	SPI_finish();
}

/*
 * receipt_keys_shredded
 *		The "keys_shredded" count of an erasure receipt (0 if absent).
 */
static int
receipt_keys_shredded(Jsonb *receipt)
{
	JsonbValue	v;

	if (getKeyJsonValueFromContainer(&receipt->root, "keys_shredded", strlen("keys_shredded"), &v) == NULL ||
		v.type != jbvNumeric)
		return 0;
	return DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(v.val.numeric)));
}

/*
 * replay_held
 *		The subject (type name, canonical id) is under an active legal hold.
 */
static bool
replay_held(const char *name, const char *canon)
{
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		v[2];
	bool		held;

	v[0] = CStringGetTextDatum(name);
	v[1] = CStringGetTextDatum(canon);
	UtilSpiConnect();
	exec("SELECT 1 FROM privacy.holds h WHERE h.subject OPERATOR(pg_catalog.=) $1"
		 " AND h.subject_key OPERATOR(pg_catalog.=) $2 AND " PRIVACY_HOLD_ACTIVE,
		 2, t, v, NULL, false);
	held = SPI_processed > 0;
	SPI_finish();
	return held;
}

/*
 * replay_subject
 *		Erase again every subject of type name that the ledger lists and
 *		the restored data holds; their receipts appended to out, the keys
 *		they shredded added to *shredded.  A subject under a legal hold is
 *		left as it is (the hold wins, as over erase; its keys stay too):
 *		counted in *held, where one hold failed the whole replay (55000)
 *		and left every other erased subject restored.  Returns how many
 *		were erased.
 */
static int
replay_subject(const char *name, HTAB *refs, StringInfo out, bool *first, int *shredded,
			   int *held, MemoryContext outer)
{
	MapSubject *subj;
	List	   *keys = NIL;
	List	   *rels;
	List	   *sqls;
	ListCell   *rc,
			   *sc,
			   *kc;
	int			matched = 0;

	/* an unknown subject type in the ledger: nothing can match here */
	if (!replay_subject_known(name))
		return 0;
	subj = MapGetSubject(name);
	replay_key_sources(subj, &rels, &sqls);
	forboth(rc, rels, sc, sqls)
		replay_match_keys(name, lfirst_oid(rc), lfirst(sc), refs, &keys, outer);
	foreach(kc, keys)
	{
		char	   *canon;
		Datum		key;
		char	   *ref;
		Jsonb	   *receipt;
		bool		others_held;

		key = MapParseId(subj, lfirst(kc), &canon);
		ref = UtilSubjectRef(name, canon);
		if (replay_held(name, canon))
		{
			(*held)++;
			continue;
		}
		receipt = EraseSubject(subj, key, canon, ref, "replay of the erasure ledger", false,
							   "replay_erasures", &others_held);
		/* rows it shares with another held subject: held too, left as they are */
		if (receipt == NULL)
		{
			(*held)++;
			continue;
		}
		appendStringInfo(out, "%s%s", *first ? "" : ",",
						 JsonbToCString(NULL, &receipt->root, VARSIZE(receipt)));
		*shredded += receipt_keys_shredded(receipt);
		*first = false;
		matched++;
	}
	return matched;
}

/*
 * privacy.replay_erasures(ledger jsonb) RETURNS jsonb
 *		After a restore from an older backup: find the subjects of the
 *		ledger in the restored data (by computing subject_ref for every key
 *		of the root and of the linked tables) and erase them again; destroy
 *		their keys in any case.
 */
Datum
privacy_replay_erasures(PG_FUNCTION_ARGS)
{
	HTAB	   *refs;
	HASHCTL		ctl;
	uint64		nentries;
	List	   *subjects = NIL;
	ListCell   *lc;
	StringInfoData out;
	int			matched = 0;
	int			shredded = 0;
	int			held = 0;
	bool		first = true;
	HASH_SEQ_STATUS hs;
	ReplayEntry *e;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"ledger\" must not be null")));
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = 64;
	ctl.entrysize = sizeof(ReplayEntry);
	refs = hash_create("privacy replay", 256, &ctl, HASH_ELEM | HASH_STRINGS);
	nentries = replay_read_ledger(PG_GETARG_JSONB_P(0), refs, &subjects, CurrentMemoryContext);

	initStringInfo(&out);
	appendStringInfoString(&out, "[");
	foreach(lc, subjects)
		matched += replay_subject(lfirst(lc), refs, &out, &first, &shredded, &held, CurrentMemoryContext);
	appendStringInfoString(&out, "]");

	/*
	 * keys of every ledger subject go, found in the data or not: the total
	 * is the receipts' keys_shredded plus those of subjects not found
	 */
	hash_seq_init(&hs, refs);
	while ((e = hash_seq_search(&hs)) != NULL)
		if (!e->matched)
			shredded += KeysShredSubject(e->subject, e->ref);
	hash_destroy(refs);
	/* "held" only when a held subject was left */
	AuditAppend("replay_erasures", NULL,
				held > 0 ? psprintf("{\"entries\":" UINT64_FORMAT ",\"matched\":%d,\"held\":%d}",
									nentries, matched, held)
				: psprintf("{\"entries\":" UINT64_FORMAT ",\"matched\":%d}", nentries, matched));
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(
		psprintf("{\"entries\":" UINT64_FORMAT ",\"matched\":%d,%s\"keys_shredded\":%d,\"receipts\":%s}",
				 nentries, matched, held > 0 ? psprintf("\"held\":%d,", held) : "",
				 shredded, out.data))));
}

/*
 * link_key_hash
 *		The second key of link()'s advisory lock for a value of a link column
 *		(collation coll, InvalidOid for the type's): the type's hash function,
 *		the one of its default hash operator class (the base type's for a
 *		domain), which hashes values as the type's equality sees them, so the
 *		writers' trigger and the erasure agree whatever their sessions'
 *		TimeZone, DateStyle or float settings (a timestamptz key written in
 *		one time zone and erased from another), and 1.0 and 1.00 are one
 *		numeric key.  A type without one falls back to its output text.
 */
static int32
link_key_hash(Oid typid, Oid coll, Datum value)
{
	Oid			base = getBaseType(typid);
	TypeCacheEntry *tc = lookup_type_cache(base, TYPECACHE_HASH_PROC_FINFO);
	Oid			outfn;
	bool		varlena;
	int32		h;

	if (!OidIsValid(coll))
		coll = tc->typcollation;
	if (OidIsValid(tc->hash_proc))
		h = DatumGetInt32(FunctionCall1Coll(&tc->hash_proc_finfo, coll, value));
	else
	{
		getTypeOutputInfo(base, &outfn, &varlena);
		h = DatumGetInt32(DirectFunctionCall1Coll(hashtext, C_COLLATION_OID,
												  CStringGetTextDatum(OidOutputFunctionCall(outfn, value))));
	}
	/* keyed: pg_locks shows the lock's key to every role (KeysLockKey) */
	return KeysLockKey(&h, sizeof(h));
}

/*
 * The calls of privacy._link_key_hash that the statement erase is about to
 * run may make (RightsAllowLinkKeyHash); 0 outside it.
 */
static int	link_key_hash_calls = 0;

/*
 * RightsAllowLinkKeyHash
 *		Allow the next n calls of privacy._link_key_hash in this backend
 *		(erase's lock statement, which runs as a table's owner); 0 closes.
 *		The caller resets it to 0 after the statement, error or not.
 */
void
RightsAllowLinkKeyHash(int n)
{
	link_key_hash_calls = n;
}

/*
 * privacy._link_key_hash(anyelement) RETURNS int4 — link_key_hash of a
 * value, in the call's collation: erase's side of link()'s lock.  Only
 * inside erase's lock statement (as many calls as it makes) or on a Citus
 * worker (where the routed lock statement runs, sent by the coordinator's
 * erase): elsewhere it would tell anyone the lock key of a candidate id,
 * which pg_locks shows for the subject being erased (42501).
 */
Datum
privacy_link_key_hash(PG_FUNCTION_ARGS)
{
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 0);

	if (!OidIsValid(typid))
		elog(ERROR, "privacy._link_key_hash: argument type unknown");
	if (link_key_hash_calls > 0)
		link_key_hash_calls--;
	else if (!CitusIsWorker())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("privacy._link_key_hash() may only be called by privacy.erase()")));
	PG_RETURN_INT32(link_key_hash(typid, PG_GET_COLLATION(), PG_GETARG_DATUM(0)));
}

/*
 * The statements of the lock trigger of links to a target, kept per
 * backend: for each linked column (table, column, subject type, type
 * filter), the targets its links name in privacy.links and, per target, a
 * kept plan of the lock statement.  An insert of many rows reads
 * privacy.links and plans the statement once, not per row.  Dropped when a
 * relation involved (the linked table, a target) or the map changes:
 * link() and unlink() invalidate the map.
 */
typedef struct TargetLinks
{
	Oid			relid;
	AttrNumber	attno;
	Oid			coltype;
	char	   *subject;
	char	   *tcol;			/* NULL: no type filter */
	char	   *tval;
	List	   *targets;		/* Oid */
	List	   *plans;			/* SPIPlanPtr per target, NULL: takes no lock */
} TargetLinks;

static List *target_links = NIL;
static MemoryContext target_links_cxt = NULL;
static bool target_links_stale = false;
static bool target_links_callback = false;
static Oid	target_links_map = InvalidOid;	/* privacy.map, whose invalidation drops it */

static void
target_links_relcache(Datum arg, Oid relid)
{
	ListCell   *lc;

	if (target_links == NIL || target_links_stale)
		return;
	if (!OidIsValid(relid) || relid == target_links_map)
	{
		target_links_stale = true;
		return;
	}
	foreach(lc, target_links)
	{
		TargetLinks *t = lfirst(lc);

		if (t->relid == relid || list_member_oid(t->targets, relid))
		{
			target_links_stale = true;
			return;
		}
	}
}

/* drop the cache (not from the callback: plans are freed here) */
static void
target_links_reset(void)
{
	ListCell   *lc,
			   *pc;

	foreach(lc, target_links)
	{
		TargetLinks *t = lfirst(lc);

		foreach(pc, t->plans)
			if (lfirst(pc) != NULL)
				SPI_freeplan(lfirst(pc));
	}
	target_links = NIL;
	MemoryContextReset(target_links_cxt);
	target_links_stale = false;
}

/*
 * target_lock_plan
 *		The kept plan that locks the row of target whose key the value (of
 *		type coltype) holds, prepared as the target's owner (SPI connected,
 *		in the owner's frame), or NULL when target has no usable key: it
 *		yields whether the row exists under the statement's snapshot and
 *		whether the KEY SHARE lock found it (after waiting for a writer).
 */
static SPIPlanPtr
target_lock_plan(Oid target, Oid coltype)
{
	AttrNumber	tkey;
	Oid			keytype;
	TypeCacheEntry *tc;
	char	   *cond;
	char	   *from;
	SPIPlanPtr	plan;

	if (get_rel_relkind(target) == '\0' || (tkey = MapTargetKey(target)) == InvalidAttrNumber)
		return NULL;
	keytype = getBaseType(get_atttype(target, tkey));
	tc = lookup_type_cache(keytype, TYPECACHE_EQ_OPR);
	if (!OidIsValid(tc->eq_opr))
		return NULL;
	cond = psprintf("t.%s %s %s", quote_identifier(get_attname(target, tkey, false)), MapKeyEqOperator(keytype),
					getBaseType(coltype) == keytype ? "$1"
					: psprintf("privacy._link_key(CAST(NULL AS %s), $1)", format_type_be_qualified(keytype)));
	from = UtilQualifiedName(target);
	plan = SPI_prepare(psprintf("SELECT EXISTS (SELECT FROM %s t WHERE %s),"
								" EXISTS (SELECT FROM %s t WHERE %s FOR KEY SHARE OF t)",
								from, cond, from, cond), 1, &coltype);
	if (plan == NULL)
		elog(ERROR, "could not prepare the lock of a link's target: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/*
 * target_links_of
 *		The cache entry of a linked column: its targets read from
 *		privacy.links as the extension's owner (not from the trigger's
 *		arguments, whose OID a dump and restore would leave stale), and a
 *		lock plan per target.
 */
static TargetLinks *
target_links_of(const char *subject, Relation rel, AttrNumber attno, const char *tcol, const char *tval)
{
	Oid			relid = RelationGetRelid(rel);
	Oid			coltype = TupleDescAttr(RelationGetDescr(rel), attno - 1)->atttypid;
	ListCell   *lc;
	TargetLinks *t;
	MemoryContext old;
	Oid			argt[5] = {TEXTOID, OIDOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		v[5];
	char		n[5] = {' ', ' ', ' ', ' ', ' '};
	int			frame;
	uint64		i;

	if (!target_links_callback)
	{
		target_links_cxt = AllocSetContextCreate(TopMemoryContext, "privacy link targets",
												 ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(target_links_relcache, (Datum) 0);
		target_links_callback = true;
	}
	if (target_links_stale)
		target_links_reset();
	if (target_links == NIL)
		target_links_map = UtilCatalogRelid("map");
	foreach(lc, target_links)
	{
		t = lfirst(lc);
		if (t->relid == relid && t->attno == attno && t->coltype == coltype &&
			strcmp(t->subject, subject) == 0 && (t->tcol == NULL) == (tcol == NULL) &&
			(tcol == NULL || (strcmp(t->tcol, tcol) == 0 && strcmp(t->tval, tval) == 0)))
			return t;
	}
	old = MemoryContextSwitchTo(target_links_cxt);
	t = palloc0(sizeof(TargetLinks));
	t->relid = relid;
	t->attno = attno;
	t->coltype = coltype;
	t->subject = pstrdup(subject);
	t->tcol = tcol != NULL ? pstrdup(tcol) : NULL;
	t->tval = tcol != NULL ? pstrdup(tval) : NULL;
	MemoryContextSwitchTo(old);

	v[0] = CStringGetTextDatum(subject);
	v[1] = ObjectIdGetDatum(relid);
	v[2] = CStringGetTextDatum(NameStr(TupleDescAttr(RelationGetDescr(rel), attno - 1)->attname));
	v[3] = tcol != NULL ? CStringGetTextDatum(tcol) : (Datum) 0;
	v[4] = tcol != NULL ? CStringGetTextDatum(tval) : (Datum) 0;
	if (tcol == NULL)
		n[3] = n[4] = 'n';
	UtilSpiConnect();
	frame = GuardEnterExtensionOwner();
	if (SPI_execute_with_args("SELECT l.target::pg_catalog.oid FROM privacy.links l"
							  " WHERE l.subject OPERATOR(pg_catalog.=) $1"
							  " AND l.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) $2"
							  " AND l.key_column::pg_catalog.text OPERATOR(pg_catalog.=) $3"
							  " AND l.type_column::pg_catalog.text IS NOT DISTINCT FROM $4"
							  " AND l.type_value IS NOT DISTINCT FROM $5 AND l.target IS NOT NULL",
							  5, argt, v, n, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the targets of a link");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			old = MemoryContextSwitchTo(target_links_cxt);
			t->targets = lappend_oid(t->targets, DatumGetObjectId(d));
			MemoryContextSwitchTo(old);
		}
	}
	GuardLeave(frame);
	foreach(lc, t->targets)
	{
		SPIPlanPtr	plan;

		frame = GuardEnterTableOwner(lfirst_oid(lc));
		plan = target_lock_plan(lfirst_oid(lc), coltype);
		GuardLeave(frame);
		old = MemoryContextSwitchTo(target_links_cxt);
		t->plans = lappend(t->plans, plan);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	old = MemoryContextSwitchTo(target_links_cxt);
	target_links = lappend(target_links, t);
	MemoryContextSwitchTo(old);
	return t;
}

/*
 * link_lock_targets
 *		The lock trigger of a link to a target (link(..., target)) cannot
 *		know the subject: it takes a KEY SHARE lock on the target row that
 *		the value references, as a foreign key's check would, as the
 *		target's owner.  An erasure locks its subject's target rows FOR
 *		UPDATE before it reads the linked table's rows, so either the
 *		write waits for the erasure, or the erasure for the write (and then
 *		sees its row).  A row that existed when the write started and that
 *		is gone once the lock is granted was deleted by a concurrent
 *		transaction (an erasure): 40001, as the link of the root does.  A
 *		value that references no row (no foreign key keeps it) is left
 *		alone: it is nobody's.
 */
static void
link_lock_targets(TargetLinks *t, Datum val)
{
	ListCell   *tc,
			   *pc;

	forboth(tc, t->targets, pc, t->plans)
	{
		SPIPlanPtr	plan = lfirst(pc);
		bool		existed,
					locked,
					isnull;
		int			frame;

		if (plan == NULL)
			continue;
		UtilSpiConnect();
		frame = GuardEnterTableOwner(lfirst_oid(tc));
		if (SPI_execute_plan(plan, &val, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not lock the target of a link");
		existed = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		locked = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		GuardLeave(frame);
		SPI_finish();
		if (existed && !locked)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not write a row of a subject that was being erased"),
					 errdetail("The row it references was deleted concurrently."),
					 errhint("Retry the transaction."),
					 errhidestmt(true)));
	}
}

/*
 * privacy._link_lock() — BEFORE INSERT OR UPDATE trigger installed by
 * link(): a shared transaction advisory lock on the subject's key value,
 * which erase() takes exclusively (args: subject type, link column; the
 * value's key is link_key_hash in the column's collation, as erase's
 * privacy._link_key_hash).  A write that has to wait for an erasure of the
 * same subject fails with 40001 once the erasure ends, so it can never
 * survive an erasure that was running when it arrived.
 */
Datum
privacy_link_lock(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HeapTuple	tup;
	TupleDesc	desc;
	int			attno;
	int32		k1,
				k2;

	if (!CALLED_AS_TRIGGER(fcinfo) || td->tg_trigger->tgnargs < 2 ||
		(td->tg_trigger->tgnargs > 5 && (td->tg_trigger->tgnargs - 2) % 3 != 0))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy._link_lock() can only be called as the trigger privacy.link() creates")));
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	desc = RelationGetDescr(td->tg_relation);
	attno = SPI_fnumber(desc, td->tg_trigger->tgargs[1]);
	if (attno <= 0)
		return PointerGetDatum(tup);

	/*
	 * the links of the column: one as (type column, type value)? and
	 * target? (2 to 5 arguments); several as triples (type column, type
	 * value, target; '' for none)
	 */
	{
		char	  **a = td->tg_trigger->tgargs;
		int			n = td->tg_trigger->tgnargs;
		int			nlinks = n > 5 ? (n - 2) / 3 : 1;
		bool		isnull;
		Datum		val = heap_getattr(tup, attno, desc, &isnull);
		bool		rootlock = false;

		if (isnull)
			return PointerGetDatum(tup);
		for (int l = 0; l < nlinks; l++)
		{
			const char *tc = NULL,
					   *tv = NULL,
					   *tg = NULL;

			if (n > 5)
			{
				tc = a[2 + 3 * l][0] ? a[2 + 3 * l] : NULL;
				tv = a[3 + 3 * l];
				tg = a[4 + 3 * l][0] ? a[4 + 3 * l] : NULL;
			}
			else
			{
				if (n >= 4)
				{
					tc = a[2];
					tv = a[3];
				}
				if (n == 3 || n == 5)
					tg = a[n - 1];
			}

			/*
			 * a polymorphic link (type column, value): a row of another type
			 * is no subject's through it, and waits for no erasure
			 */
			if (tc != NULL)
			{
				int			tatt = SPI_fnumber(desc, tc);
				char	   *cur = tatt > 0 ? SPI_getvalue(tup, desc, tatt) : NULL;

				if (tatt > 0 && (cur == NULL || strcmp(cur, tv) != 0))
					continue;
			}
			/* a link to a target: a KEY SHARE lock on the row referenced */
			if (tg != NULL)
				link_lock_targets(target_links_of(a[0], td->tg_relation, attno, tc, tv), val);
			else
				rootlock = true;
		}
		if (rootlock)
		{
			Form_pg_attribute att = TupleDescAttr(desc, attno - 1);

			k1 = DatumGetInt32(DirectFunctionCall1Coll(hashtext, C_COLLATION_OID,
													   CStringGetTextDatum(a[0])));
			k2 = link_key_hash(att->atttypid, att->attcollation, val);
			if (!DatumGetBool(DirectFunctionCall2(pg_try_advisory_xact_lock_shared_int4,
												  Int32GetDatum(k1), Int32GetDatum(k2))))
			{
				/* an erasure of this subject is running: wait for it, then fail */
				DirectFunctionCall2(pg_advisory_xact_lock_shared_int4, Int32GetDatum(k1), Int32GetDatum(k2));
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not write a row of a subject that was being erased"),
						 errdetail("An erasure of the same subject ran concurrently."),
						 errhint("Retry the transaction."),
						 errhidestmt(true)));
			}
		}
	}
	return PointerGetDatum(tup);
}
