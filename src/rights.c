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

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "access/xact.h"

#include "citus.h"
#include "privacy.h"

PG_FUNCTION_INFO_V1(privacy_hold);
PG_FUNCTION_INFO_V1(privacy_release_hold);
PG_FUNCTION_INFO_V1(privacy_restrict);
PG_FUNCTION_INFO_V1(privacy_unrestrict);
PG_FUNCTION_INFO_V1(privacy_is_restricted);
PG_FUNCTION_INFO_V1(privacy_restricted_key);
PG_FUNCTION_INFO_V1(privacy_protect);
PG_FUNCTION_INFO_V1(privacy_set_consent);
PG_FUNCTION_INFO_V1(privacy_has_consent);
PG_FUNCTION_INFO_V1(privacy_erasure_ledger);
PG_FUNCTION_INFO_V1(privacy_replay_erasures);
PG_FUNCTION_INFO_V1(privacy_link_lock);

extern int	KeysShredSubject(const char *subject, const char *subject_ref);

bool		privacy_rls_bypass = false;
static bool rls_callback_registered = false;

/* a transaction that ends (commit or abort) never leaves the bypass on */
static void
rls_xact_callback(XactEvent event, void *arg)
{
	privacy_rls_bypass = false;
}

/*
 * RightsBypassRowSecurity
 *		Turn on (or off) the bypass of protect()'s policies for the
 *		extension's own work on subject rows.  Callers turn it off in their
 *		error paths; the end of the transaction always does.
 */
void
RightsBypassRowSecurity(bool on)
{
	if (on && !rls_callback_registered)
	{
		RegisterXactCallback(rls_xact_callback, NULL);
		rls_callback_registered = true;
	}
	privacy_rls_bypass = on;
}

static SPIPlanPtr plan_has_consent = NULL;
static SPIPlanPtr plan_is_restricted = NULL;

static int
exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, bool ro)
{
	int			ret = SPI_execute_with_args(sql, nargs, types, values, nulls, ro, 0);

	if (ret < 0)
		elog(ERROR, "SPI_execute_with_args failed: %d", ret);
	return ret;
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
	UtilSpiConnect();
	/* the root row FOR KEY SHARE: an erasure holding it FOR UPDATE finishes first */
	kt[0] = a.subj->key_type;
	UtilBecomeOwner(a.subj->root, &sw);
	exec(psprintf("SELECT 1 FROM %s t WHERE t.%s OPERATOR(pg_catalog.=) $1 FOR KEY SHARE",
				  UtilQualifiedName(a.subj->root), quote_identifier(a.subj->key_column)),
		 1, kt, &a.key, NULL, false);
	UtilRestoreUser(&sw);
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
 * privacy._restricted(subject text, key text) RETURNS boolean — for the
 * row-level security policies of protect(); NULL key: not restricted.  The
 * extension's own reads and writes (access, export, erase, retention) see
 * every row: restriction limits processing by others, not the rights.
 */
Datum
privacy_restricted_key(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || privacy_rls_bypass)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(restricted(text_to_cstring(PG_GETARG_TEXT_PP(0)),
							  text_to_cstring(PG_GETARG_TEXT_PP(1))));
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
	ListCell   *lc,
			   *kc;
	StringInfoData cond;
	char	   *qual;
	const char *alias;
	bool		first = true;
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
	CitusRefuseDistributed(relid, "privacy.protect()");	/* CITUS HOOK */
	subjects = MapSubjectsOfTable(relid);
	if (subjects == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" is not in the data map of any subject type", get_rel_name(relid)),
				 errhint("Map it with a foreign key path or privacy.link() first.")));
	qual = UtilQualifiedName(relid);
	alias = quote_identifier(get_rel_name(relid));
	initStringInfo(&cond);
	foreach(lc, subjects)
	{
		MapSubject *subj = MapGetSubject(lfirst(lc));
		MapTable   *mt = MapFindTable(subj, relid);

		if (mt == NULL)
			continue;
		foreach(kc, MapKeyExprs(subj, mt, alias))
		{
			appendStringInfo(&cond, "%sprivacy._restricted(%s, CAST((%s) AS text))",
							 first ? "" : " OR ", quote_literal_cstr(subj->name), (char *) lfirst(kc));
			first = false;
		}
	}
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
				  " USING (pg_catalog.pg_has_role('privacy_officer', 'MEMBER') OR NOT (%s))", qual, cond.data),
		 0, NULL, NULL, NULL, false);
	SPI_finish();
	{
		StringInfoData d;

		initStringInfo(&d);
		appendStringInfoString(&d, "{\"table\":");
		escape_json(&d, qual);
		appendStringInfo(&d, ",\"force\":%s}", force ? "true" : "false");
		AuditAppend("protect", NULL, d.data);
	}
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
 * privacy.replay_erasures(ledger jsonb) RETURNS jsonb
 *		After a restore from an older backup: find the subjects of the
 *		ledger in the restored data (by computing subject_ref for every key
 *		of the root and of the linked tables) and erase them again; destroy
 *		their keys in any case.
 */
Datum
privacy_replay_erasures(PG_FUNCTION_ARGS)
{
	Jsonb	   *ledger;
	HTAB	   *refs;
	HASHCTL		ctl;
	Oid			t[1] = {JSONBOID};
	Datum		v[1];
	uint64		i,
				nentries;
	List	   *subjects = NIL;
	ListCell   *lc;
	StringInfoData out;
	int			matched = 0;
	int			shredded = 0;
	bool		first = true;
	MemoryContext outer = CurrentMemoryContext;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"ledger\" must not be null")));
	ledger = PG_GETARG_JSONB_P(0);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = 64;
	ctl.entrysize = sizeof(ReplayEntry);
	refs = hash_create("privacy replay", 256, &ctl, HASH_ELEM | HASH_STRINGS);

	v[0] = JsonbPGetDatum(ledger);
	UtilSpiConnect();
	exec("SELECT e->>'subject', e->>'subject_ref' FROM pg_catalog.jsonb_array_elements("
		 " CASE WHEN pg_catalog.jsonb_typeof($1) = 'object' AND pg_catalog.jsonb_typeof($1->'entries') = 'array'"
		 " THEN $1->'entries' END) e", 1, t, v, NULL, true);
	if (SPI_processed == 0 &&
		!DatumGetBool(DirectFunctionCall2(jsonb_exists, JsonbPGetDatum(ledger), CStringGetTextDatum("entries"))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("not an erasure ledger"),
				 errdetail("Pass the result of privacy.erasure_ledger().")));
	nentries = SPI_processed;
	for (i = 0; i < nentries; i++)
	{
		char	   *s = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *r = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		ReplayEntry *e;
		bool		found;

		if (s == NULL || r == NULL || strlen(r) >= 64 || strlen(s) >= 64)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("erasure ledger entry %d is malformed", (int) i + 1)));
		e = hash_search(refs, r, HASH_ENTER, &found);
		strlcpy(e->subject, s, sizeof(e->subject));
		e->matched = false;
		if (!found)
		{
			MemoryContext old = MemoryContextSwitchTo(outer);
			bool		seen = false;

			foreach(lc, subjects)
				if (strcmp(lfirst(lc), s) == 0)
					seen = true;
			if (!seen)
				subjects = lappend(subjects, pstrdup(s));
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();

	initStringInfo(&out);
	appendStringInfoString(&out, "[");
	foreach(lc, subjects)
	{
		char	   *name = lfirst(lc);
		MapSubject *subj;
		List	   *keys = NIL;
		ListCell   *kc;
		ListCell   *tc;
		Portal		portal;
		StringInfoData q;

		/* an unknown subject type in the ledger: nothing can match here */
		UtilSpiConnect();
		{
			Oid			tt[1] = {TEXTOID};
			Datum		vv[1];

			vv[0] = CStringGetTextDatum(name);
			exec("SELECT 1 FROM privacy.subject_types WHERE name = $1", 1, tt, vv, NULL, false);
			if (SPI_processed == 0)
			{
				SPI_finish();
				continue;
			}
		}
		SPI_finish();
		subj = MapGetSubject(name);

		/* every key present now: the root, and the values of linked tables */
		initStringInfo(&q);
		appendStringInfo(&q, "SELECT CAST(t.%s AS text) FROM %s t",
						 quote_identifier(subj->key_column), UtilQualifiedName(subj->root));
		foreach(tc, subj->tables)
		{
			MapTable   *mt = lfirst(tc);
			MapHop	   *h;

			if (strcmp(mt->via, "link") != 0 || linitial(mt->paths) == NIL)
				continue;
			h = linitial((List *) linitial(mt->paths));
			if (h->link)
				appendStringInfo(&q, " UNION SELECT CAST(l.%s AS text) FROM %s l",
								 quote_identifier(get_attname(h->rel, h->cols[0], false)),
								 UtilQualifiedName(h->rel));
		}
		UtilSpiConnect();
		portal = SPI_cursor_open_with_args(NULL, q.data, 0, NULL, NULL, NULL, true, 0);
		for (;;)
		{
			SPI_cursor_fetch(portal, true, 10000);
			if (SPI_processed == 0)
				break;
			for (i = 0; i < SPI_processed; i++)
			{
				char	   *k = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
				char	   *r;
				ReplayEntry *e;

				if (k == NULL)
					continue;
				r = UtilSubjectRef(name, k);
				e = hash_search(refs, r, HASH_FIND, NULL);
				if (e && strcmp(e->subject, name) == 0 && !e->matched)
				{
					MemoryContext old = MemoryContextSwitchTo(outer);

					e->matched = true;
					keys = lappend(keys, pstrdup(k));
					MemoryContextSwitchTo(old);
				}
			}
		}
		SPI_cursor_close(portal);
		SPI_finish();

		foreach(kc, keys)
		{
			char	   *canon;
			Datum		key;
			char	   *ref;
			Jsonb	   *receipt;

			key = MapParseId(subj, lfirst(kc), &canon);
			ref = UtilSubjectRef(name, canon);
			receipt = EraseSubject(subj, key, canon, ref, "replay of the erasure ledger", false,
								   "replay_erasures");
			appendStringInfo(&out, "%s%s", first ? "" : ",",
							 JsonbToCString(NULL, &receipt->root, VARSIZE(receipt)));
			first = false;
			matched++;
		}
	}
	appendStringInfoString(&out, "]");

	/* keys of every ledger subject go, found in the data or not */
	{
		HASH_SEQ_STATUS hs;
		ReplayEntry *e;

		hash_seq_init(&hs, refs);
		while ((e = hash_seq_search(&hs)) != NULL)
			if (!e->matched)
				shredded += KeysShredSubject(e->subject, e->ref);
	}
	hash_destroy(refs);
	AuditAppend("replay_erasures", NULL,
				psprintf("{\"entries\":" UINT64_FORMAT ",\"matched\":%d}", nentries, matched));
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(
		psprintf("{\"entries\":" UINT64_FORMAT ",\"matched\":%d,\"keys_shredded\":%d,\"receipts\":%s}",
				 nentries, matched, shredded, out.data))));
}

/*
 * privacy._link_lock() — BEFORE INSERT OR UPDATE trigger installed by
 * link(): a shared transaction advisory lock on the subject's key value,
 * which erase() takes exclusively (args: subject type, link column).  A
 * write that has to wait for an erasure of the same subject fails with
 * 40001 once the erasure ends, so it can never survive an erasure that was
 * running when it arrived.
 */
Datum
privacy_link_lock(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HeapTuple	tup;
	TupleDesc	desc;
	int			attno;
	char	   *val;
	int32		k1,
				k2;

	if (!CALLED_AS_TRIGGER(fcinfo) || td->tg_trigger->tgnargs != 2)
		elog(ERROR, "privacy._link_lock must be called as a trigger with two arguments");
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	desc = RelationGetDescr(td->tg_relation);
	attno = SPI_fnumber(desc, td->tg_trigger->tgargs[1]);
	if (attno > 0)
	{
		val = SPI_getvalue(tup, desc, attno);
		if (val != NULL)
		{
			k1 = DatumGetInt32(DirectFunctionCall1Coll(hashtext, C_COLLATION_OID,
													   CStringGetTextDatum(td->tg_trigger->tgargs[0])));
			k2 = DatumGetInt32(DirectFunctionCall1Coll(hashtext, C_COLLATION_OID, CStringGetTextDatum(val)));
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
