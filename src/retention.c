/*-------------------------------------------------------------------------
 * retention.c
 *		The driver of retention runs: RetentionRunPolicy owns every
 *		transaction of a run in the worker (one per batch) or runs every
 *		batch in the caller's transaction (run_retention()); the worker's
 *		entry points (due policies, pruning, failures).
 *
 * The module: rewrite.c (strategies and pseudonyms, shared with erase),
 * retention_policy.c (a policy resolved against the catalog, the policy
 * SQL API), retention_batch.c (one batch, never commits), this file (runs).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compat.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "guard.h"
#include "retention.h"

bool		privacy_retention_enabled = true;
bool		retention_extension_dropped = false;	/* ret_xact_begin found it gone */
int			privacy_retention_naptime = 60;
int			privacy_retention_batch_size = 10000;
int			privacy_retention_runs_max_age = 30 * 86400;
int			privacy_retention_batch_timeout = 300000;

/*
 * RetentionInit
 *		The retention settings (_PG_init, preloaded or not).
 */
void
RetentionInit(void)
{
	DefineCustomBoolVariable("privacy.retention_enabled",
							 "Sets whether the background worker enforces retention policies.",
							 NULL,
							 &privacy_retention_enabled,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("privacy.retention_naptime",
							"Sets the time the retention worker sleeps between runs.",
							NULL,
							&privacy_retention_naptime,
							60, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("privacy.retention_batch_size",
							"Sets the number of rows one retention batch changes.",
							NULL,
							&privacy_retention_batch_size,
							10000, 1, 1000000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("privacy.retention_batch_timeout",
							"Sets the longest time one batch of the retention worker may take.",
							"A batch that takes longer (a table's trigger that waits) fails its policy, "
							"which is retried with back-off, and the worker goes on with the others; 0 waits forever.",
							&privacy_retention_batch_timeout,
							300000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("privacy.retention_runs_max_age",
							"Sets how long privacy.retention_runs keeps the record of a run.",
							"The latest run of each policy is always kept; 0 keeps every run.",
							&privacy_retention_runs_max_age,
							30 * 86400, 0, 10 * 365 * 86400,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
}

PG_FUNCTION_INFO_V1(privacy_run_retention);

/*
 * When the latest run (RetentionRunPolicy) began: the started time of its
 * failure's record (ret_record_failure), which may come after the run
 * threw.
 */
static TimestampTz ret_run_started = 0;

static void ret_record_failure(int64 policy, const char *message, bool own_xacts);

/*
 * ret_xact_begin / ret_xact_end
 *		Bracket one step: its own transaction when own_xacts (the worker),
 *		SPI connected, allocations in cxt (SPI_connect would otherwise leave
 *		us in its procedure context, freed by SPI_finish).
 */
static void
ret_xact_begin(bool own_xacts, MemoryContext cxt)
{
	if (own_xacts)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		/* first of all: a DROP EXTENSION running now waits, or we wait for it */
		if (!UtilLockExtension())
		{
			retention_extension_dropped = true;
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("extension \"privacy\" was dropped during a retention pass")));
		}
		PushActiveSnapshot(GetTransactionSnapshot());
	}
	UtilSpiConnect();
	MemoryContextSwitchTo(cxt);
}

static void
ret_xact_end(bool own_xacts, MemoryContext cxt)
{
	SPI_finish();
	if (own_xacts)
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	MemoryContextSwitchTo(cxt);
}


/*
 * ret_audit_closed
 *		The audit entry of a run closed without completing its pass (a
 *		killed or stopped worker, a pass taken over, a failure after some
 *		batches committed): the rows its committed batches changed are
 *		accounted for like a finished run's; nothing when no row changed.
 *		how NULL: a run whose pass completed (every recorded run has an
 *		entry).  The last SPI result holds the run's rows, held, blocked,
 *		dependents.
 */
static void
ret_audit_closed(int64 policy, const char *how)
{
	bool		isnull;
	int64		r,
				h,
				bl,
				dp;

	if (SPI_processed != 1)
		return;
	r = DatumGetInt64(RetentionGet(0, 1, &isnull));
	h = DatumGetInt64(RetentionGet(0, 2, &isnull));
	bl = DatumGetInt64(RetentionGet(0, 3, &isnull));
	dp = DatumGetInt64(RetentionGet(0, 4, &isnull));
	if (how == NULL)
		AuditAppend("run_retention", NULL,
					psprintf("{\"policy\": " INT64_FORMAT ", \"rows\": " INT64_FORMAT
							 ", \"dependents\": " INT64_FORMAT
							 ", \"held\": " INT64_FORMAT ", \"blocked\": " INT64_FORMAT "}",
							 policy, r, dp, h, bl));
	else if (r > 0)
		AuditAppend("run_retention", NULL,
					psprintf("{\"policy\": " INT64_FORMAT ", \"rows\": " INT64_FORMAT
							 ", \"dependents\": " INT64_FORMAT
							 ", \"held\": " INT64_FORMAT ", \"blocked\": " INT64_FORMAT ", \"ended\": \"%s\"}",
							 policy, r, dp, h, bl, how));
}

/*
 * ret_head_free
 *		The worker's audit entries wait for no session: lock the audit
 *		chain's head if no other transaction holds it (a session that made
 *		any audited call holds it until it ends, for as long as it stays
 *		idle in its transaction); false when one does.  The worker then
 *		leaves the run for later (ret_close_run, ret_begin_run): the wait
 *		had no timeout, and held the worker, and the databases waiting for
 *		it, for as long as the session stayed open.
 */
static bool
ret_head_free(void)
{
	RetentionExec("SELECT 1 FROM privacy.audit_head FOR UPDATE SKIP LOCKED", 0, NULL, NULL, NULL, SPI_OK_SELECT);
	return SPI_processed == 1;
}

/*
 * ret_close_run
 *		The worker, after the last batch of a pass committed: close its run
 *		(finished, the audit entry) and clear it from the state, in a
 *		transaction of its own.  The audit chain's head is locked first: a
 *		session that appended to the chain (any audited call earlier in its
 *		transaction) and then waits for the policy's state row (its
 *		run_retention) must not find the worker holding that row while it
 *		waits for the head (a deadlock, which the last batch met when it
 *		audited the run itself).  Nothing here waits: when another session
 *		holds the head (ret_head_free), the run stays in the state for the
 *		next pass (ret_begin_run) or a run_retention to close; the run's row
 *		and the state row are skipped when another session holds them (a
 *		run_retention that takes the policy over closes the run itself).
 */
static void
ret_close_run(int64 policy, int64 run, bool recorded, MemoryContext cxt)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(policy), Int64GetDatum(run)};
	RetUser		su;

	ret_xact_begin(true, cxt);
	RetentionBecome(UtilExtensionOwner(), false, &su);
	if (recorded && !ret_head_free())
	{
		/* the run stays in the state: the next pass, or a run_retention, closes it */
		RetentionRestore(&su);
		ret_xact_end(true, cxt);
		return;
	}
	if (recorded)
	{
		RetentionExec("UPDATE privacy.retention_runs r SET finished = pg_catalog.clock_timestamp() "
					  "WHERE r.id OPERATOR(pg_catalog.=) $2 AND r.finished IS NULL AND r.id IN "
					  "(SELECT x.id FROM privacy.retention_runs x WHERE x.id OPERATOR(pg_catalog.=) $2 "
					  "FOR UPDATE SKIP LOCKED) RETURNING r.rows, r.held, r.blocked, r.dependents",
					  2, types, values, NULL, SPI_OK_UPDATE_RETURNING);
		if (SPI_processed == 1)
			ret_audit_closed(policy, NULL);
	}
	RetentionExec("UPDATE privacy.retention_state s SET run = NULL "
				  "WHERE s.policy OPERATOR(pg_catalog.=) $1 AND s.run OPERATOR(pg_catalog.=) $2 AND s.policy IN "
				  "(SELECT x.policy FROM privacy.retention_state x WHERE x.policy OPERATOR(pg_catalog.=) $1 "
				  "FOR UPDATE SKIP LOCKED)",
				  2, types, values, NULL, SPI_OK_UPDATE);
	RetentionRestore(&su);
	ret_xact_end(true, cxt);
}

/*
 * ret_begin_run
 *		Start (or resume) the pass of a policy; creates its runtime state
 *		when missing (a restored dump has the policies, not their state).
 *		Returns the run id (the retention_runs row the pass writes once it
 *		has something to record), 0 when the worker finds the policy busy.
 */
static int64
ret_begin_run(RetPolicy *p, bool worker)
{
	Oid			types[3] = {INT8OID, INT2OID, NAMEOID};
	Datum		values[3] = {Int64GetDatum(p->id)};
	bool		isnull;
	bool		complete;
	Datum		old;
	int			level;
	int64		run;

	RetentionExec("INSERT INTO privacy.retention_state (policy) VALUES ($1) ON CONFLICT DO NOTHING",
			 1, types, values, NULL, SPI_OK_INSERT);
	/*
	 * The state row before the batch's settings (lock_timeout = 1s): a
	 * run_retention waits for a worker's batch that holds it (bounded by
	 * privacy.retention_batch_timeout and the caller's own timeouts), where
	 * it failed after a second, and over every policy recorded a failure
	 * that ended the worker's pass.  The worker skips a locked row.
	 */
	RetentionExec(worker ?
			 "SELECT run, cutoff IS NULL FROM privacy.retention_state WHERE policy OPERATOR(pg_catalog.=) $1 FOR UPDATE SKIP LOCKED" :
			 "SELECT run, cutoff IS NULL FROM privacy.retention_state WHERE policy OPERATOR(pg_catalog.=) $1 FOR UPDATE",
			 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return 0;
	complete = DatumGetBool(RetentionGet(0, 2, &isnull));
	old = RetentionGet(0, 1, &isnull);
	/* a run to close and audit first: the worker waits for no session (ret_head_free) */
	if (!isnull && worker && !ret_head_free())
		return 0;
	level = RetentionPinSettings(p);
	if (p->fix_column)
	{
		/* the column was renamed (or renumbered by a restore): follow it */
		values[1] = Int16GetDatum(p->age_attnum);
		values[2] = DirectFunctionCall1(namein, CStringGetDatum(p->agename));
		RetentionExec("UPDATE privacy.retention SET age_attnum = $2, age_column = $3 "
				 "WHERE id OPERATOR(pg_catalog.=) $1",
				 3, types, values, NULL, SPI_OK_UPDATE);
	}
	if (!isnull && complete)
	{
		/* a worker's run whose pass completed, not closed yet (ret_close_run) */
		types[0] = INT8OID;
		values[0] = old;
		RetentionExec("UPDATE privacy.retention_runs SET finished = pg_catalog.clock_timestamp() "
				 "WHERE id OPERATOR(pg_catalog.=) $1 AND finished IS NULL "
				 "RETURNING rows, held, blocked, dependents",
				 1, types, values, NULL, SPI_OK_UPDATE_RETURNING);
		if (SPI_processed == 1)
			ret_audit_closed(p->id, NULL);
	}
	else if (!isnull)
	{
		/* a run that was interrupted (worker killed): close it, resume its pass */
		types[0] = INT8OID;
		values[0] = old;
		RetentionExec("UPDATE privacy.retention_runs SET finished = pg_catalog.clock_timestamp(), "
				 "error = 'interrupted' WHERE id OPERATOR(pg_catalog.=) $1 AND finished IS NULL "
				 "RETURNING rows, held, blocked, dependents",
				 1, types, values, NULL, SPI_OK_UPDATE_RETURNING);
		ret_audit_closed(p->id, "interrupted");
	}
	RetentionExec("SELECT pg_catalog.nextval('privacy.retention_runs_id_seq')",
			 0, NULL, NULL, NULL, SPI_OK_SELECT);
	run = DatumGetInt64(RetentionGet(0, 1, &isnull));
	{
		Oid			t2[3] = {INT8OID, INT8OID, TEXTOID};
		Datum		v2[3];

		v2[0] = Int64GetDatum(p->id);
		v2[1] = Int64GetDatum(run);
		v2[2] = CStringGetTextDatum(p->keep);
		RetentionExec("UPDATE privacy.retention_state SET run = $2, "
				 "cutoff = COALESCE(cutoff, pg_catalog.now() OPERATOR(pg_catalog.-) CAST($3 AS pg_catalog.interval)) "
				 "WHERE policy OPERATOR(pg_catalog.=) $1",
				 3, t2, v2, NULL, SPI_OK_UPDATE);
	}
	AtEOXact_GUC(true, level);
	return run;
}

/*
 * ret_warn_blocked
 *		The WARNINGs of a pass that left expired rows alone: because rows
 *		that must stay depend on them (blocked_by names the first blocking
 *		table), and because changing them failed (failed of them; the
 *		first failure's SQLSTATE, never its message, which may quote the
 *		row).
 */
static void
ret_warn_blocked(int64 policy, RetCounts *c, const char *blocked_by, bool anonymize)
{
	int64		blocked = c->blocked - c->failed;

	if (blocked > 0)
		ereport(WARNING,
				(blocked_by != NULL && c->failed == 0 ?
				 errmsg_plural("retention policy " INT64_FORMAT " skipped " INT64_FORMAT " expired row that a row of %s depends on",
							   "retention policy " INT64_FORMAT " skipped " INT64_FORMAT " expired rows that a row of %s depends on",
							   blocked, policy, blocked, blocked_by) :
				 errmsg_plural("retention policy " INT64_FORMAT " skipped " INT64_FORMAT " expired row that other rows depend on",
							   "retention policy " INT64_FORMAT " skipped " INT64_FORMAT " expired rows that other rows depend on",
							   blocked, policy, blocked),
				 errdetail("A dependent row that must stay (a table in anonymize mode, a kept column, a held subject, another role's row behind a NO ACTION or RESTRICT key, or cascade => false) blocks the row it references."),
				 errhint("The rows are counted in privacy.retention_runs.blocked and retried by every pass.")));
	if (c->failed > 0)
		ereport(WARNING,
				(anonymize ?
				 errmsg_plural("retention policy " INT64_FORMAT " could not rewrite " INT64_FORMAT " expired row",
							   "retention policy " INT64_FORMAT " could not rewrite " INT64_FORMAT " expired rows",
							   c->failed, policy, c->failed) :
				 errmsg_plural("retention policy " INT64_FORMAT " could not delete " INT64_FORMAT " expired row",
							   "retention policy " INT64_FORMAT " could not delete " INT64_FORMAT " expired rows",
							   c->failed, policy, c->failed),
				 c->failed_state == ERRCODE_LOCK_NOT_AVAILABLE ?
				 (c->changed + c->dependents > 0 ?
				  errdetail("The first failure was an error of SQLSTATE %s (a row that the change needed was locked by another session); the other rows were changed.",
							unpack_sql_state(c->failed_state)) :
				  errdetail("The first failure was an error of SQLSTATE %s (a row that the change needed was locked by another session); no row was changed.",
							unpack_sql_state(c->failed_state))) :
				 c->changed + c->dependents > 0 ?
				 errdetail("The first failure was an error of SQLSTATE %s (a constraint, or a table's trigger); the other rows were changed.",
						   unpack_sql_state(c->failed_state)) :
				 errdetail("The first failure was an error of SQLSTATE %s (a constraint, or a table's trigger); no row was changed.",
						   unpack_sql_state(c->failed_state)),
				 errhint("The rows are counted in privacy.retention_runs.blocked and retried by every pass.")));
}

/*
 * RetentionRunPolicy
 *		The driver of one policy: it owns every transaction (own_xacts, the
 *		worker: one per batch, then pgstat is told what the batch did, so
 *		autovacuum hears of retention's deletes) or runs every batch in the
 *		caller's transaction (run_retention).  The batch itself (RetentionBatch)
 *		never commits.  A pass that blocked rows logs one WARNING naming the
 *		first blocking table.  Returns the rows deleted or anonymized, the
 *		dependents deleted with them included.
 */
int64
RetentionRunPolicy(int64 policy, bool own_xacts, bool *busy)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "retention run",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext batchcxt = AllocSetContextCreate(cxt, "retention batch",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	RetPolicy  *p;
	Oid			extowner;
	RetUser		su;
	RetRun		run;
	char		label[64];
	bool		done = false;
	bool		lost = false;
	char	   *blocked_by = NULL;
	int64		total;

	memset(&run, 0, sizeof(run));
	run.started = ret_run_started = GetCurrentTimestamp();
	if (busy)
		*busy = false;
	snprintf(label, sizeof(label), "retention policy " INT64_FORMAT " batch", policy);

	/* begin: resolve the policy, open the run */
	ret_xact_begin(own_xacts, cxt);
	extowner = UtilExtensionOwner();
	RetentionBecome(extowner, false, &su);
	p = RetentionLoadPolicy(policy);
	p->holdfilter = RetentionHoldFilter(p->relid, "t", p->subjects);
	if (!p->anonymize)
		p->deps = RetentionLoadDeps(p);
	run.id = ret_begin_run(p, own_xacts);
	/* after the state row's lock: drop_retention locks the state row, then the policy's */
	if (run.id != 0)
		RetentionRecordSubjects(p);
	RetentionRestore(&su);
	ret_xact_end(own_xacts, cxt);
	if (run.id == 0)
	{
		if (busy)
			*busy = true;
		MemoryContextSwitchTo(oldcxt);
		MemoryContextDelete(cxt);
		return 0;
	}

	while (!done && !lost)
	{
		CHECK_FOR_INTERRUPTS();
		if (own_xacts)
		{
			if (ConfigReloadPending)
			{
				ConfigReloadPending = false;
				ProcessConfigFile(PGC_SIGHUP);
			}
			if (WorkerDatabaseLeaveRequested())
				proc_exit(0);
			pgstat_report_activity(STATE_RUNNING, label);
		}
		ret_xact_begin(own_xacts, batchcxt);
		/*
		 * the worker's batches are no client statements: statement_timeout
		 * is not armed for them, so a table's trigger that waits would hold
		 * the worker, and every database behind it, forever
		 */
		if (own_xacts && privacy_retention_batch_timeout > 0)
			enable_timeout_after(STATEMENT_TIMEOUT, privacy_retention_batch_timeout);
		RetentionBecome(extowner, false, &su);
		RetentionBatch(p, &run, own_xacts, &done, &lost);
		RetentionRestore(&su);
		if (own_xacts && privacy_retention_batch_timeout > 0)
			disable_timeout(STATEMENT_TIMEOUT, false);
		if (run.counts.blocked_by != NULL && blocked_by == NULL)
			blocked_by = MemoryContextStrdup(cxt, run.counts.blocked_by);
		run.counts.blocked_by = blocked_by;
		ret_xact_end(own_xacts, cxt);
		if (own_xacts)
			pgstat_report_stat(false);
		MemoryContextReset(batchcxt);
	}
	if (own_xacts)
		pgstat_report_stat(true);
	if (own_xacts && done)
		ret_close_run(policy, run.id, run.recorded, cxt);

	/*
	 * Blocked rows: one WARNING per run_retention call; from the worker
	 * only for a run it recorded (the same blocked rows pass after pass
	 * would log the same WARNING every naptime).
	 */
	if (run.counts.blocked > 0 && (!own_xacts || run.recorded))
		ret_warn_blocked(policy, &run.counts, blocked_by, p->anonymize);
	if (lost && busy)
		*busy = true;
	total = run.counts.changed + run.counts.dependents;
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
	return total;
}

/*
 * RetentionDuePolicies
 *		Policy ids due now (a policy without runtime state is due: it is
 *		created on demand).  In a transaction with SPI connected.
 */
int64 *
RetentionDuePolicies(int *npolicies)
{
	int64	   *ids;
	bool		isnull;
	RetUser		su;

	RetentionBecome(UtilExtensionOwner(), false, &su);
	RetentionExec("SELECT r.id FROM privacy.retention r "
			 "LEFT JOIN privacy.retention_state s ON s.policy OPERATOR(pg_catalog.=) r.id "
			 "WHERE COALESCE(s.next_try, '-infinity') OPERATOR(pg_catalog.<=) pg_catalog.now() ORDER BY r.id",
			 0, NULL, NULL, NULL, SPI_OK_SELECT);
	RetentionRestore(&su);
	*npolicies = (int) SPI_processed;
	ids = palloc(sizeof(int64) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
		ids[i] = DatumGetInt64(RetentionGet(i, 1, &isnull));
	return ids;
}

/*
 * RetentionPruneRuns
 *		Delete retention_runs rows older than privacy.retention_runs_max_age
 *		(the latest row of each policy stays).  In a transaction with SPI
 *		connected.
 */
void
RetentionPruneRuns(void)
{
	RetUser		su;
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(privacy_retention_runs_max_age)};

	if (privacy_retention_runs_max_age <= 0)
		return;
	RetentionBecome(UtilExtensionOwner(), false, &su);
	RetentionExec("DELETE FROM privacy.retention_runs x "
			 "WHERE x.finished OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) "
			 "pg_catalog.make_interval(secs => $1)) "
			 "AND x.id OPERATOR(pg_catalog.<>) (SELECT pg_catalog.max(y.id) FROM privacy.retention_runs y "
			 "WHERE y.policy OPERATOR(pg_catalog.=) x.policy)",
			 1, types, values, NULL, SPI_OK_DELETE);
	RetentionRestore(&su);
}

void
RetentionRecordFailure(int64 policy, const char *message)
{
	ret_record_failure(policy, message, true);
}

/*
 * ret_record_failure
 *		Record a failed run of a policy and schedule its retry; in a
 *		transaction of its own (the worker) or in the caller's.
 */
static void
ret_record_failure(int64 policy, const char *message, bool own_xacts)
{
	Oid			types[3] = {INT8OID, TEXTOID, INT4OID};
	Datum		values[3];
	RetUser		su;
	MemoryContext cxt = CurrentMemoryContext;
	bool		deferred = false;

	ret_xact_begin(own_xacts, cxt);
	RetentionBecome(UtilExtensionOwner(), false, &su);
	values[0] = Int64GetDatum(policy);
	values[1] = CStringGetTextDatum(message);
	values[2] = Int32GetDatum(privacy_retention_naptime);
	if (own_xacts)
	{
		/*
		 * the worker: a run that changed rows is audited when it is closed,
		 * which waits for no session (ret_head_free); while one holds the
		 * chain's head, the run stays in the state, and the next pass
		 * closes it as interrupted (the failure is in last_error)
		 */
		RetentionExec("SELECT 1 FROM privacy.retention_runs WHERE id OPERATOR(pg_catalog.=) "
					  "(SELECT run FROM privacy.retention_state WHERE policy OPERATOR(pg_catalog.=) $1) "
					  "AND finished IS NULL AND rows OPERATOR(pg_catalog.>) 0",
					  1, types, values, NULL, SPI_OK_SELECT);
		deferred = SPI_processed > 0 && !ret_head_free();
	}
	if (!deferred)
		RetentionExec("UPDATE privacy.retention_runs SET finished = pg_catalog.clock_timestamp(), error = $2 "
					  "WHERE id = (SELECT run FROM privacy.retention_state WHERE policy = $1) AND finished IS NULL "
					  "RETURNING rows, held, blocked, dependents",
					  2, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	if (deferred)
		;
	else if (SPI_processed == 1)
		ret_audit_closed(policy, "failed");
	else
	{
		Oid			ft[3] = {INT8OID, TEXTOID, TIMESTAMPTZOID};
		Datum		fv[3];

		/* started: when the run that failed began (its batches may have taken a while) */
		fv[0] = values[0];
		fv[1] = values[1];
		fv[2] = TimestampTzGetDatum(ret_run_started != 0 ? ret_run_started : GetCurrentTimestamp());
		RetentionExec("INSERT INTO privacy.retention_runs (policy, started, finished, error) "
					  "SELECT $1, LEAST($3, pg_catalog.clock_timestamp()), pg_catalog.clock_timestamp(), $2 "
					  "WHERE EXISTS (SELECT FROM privacy.retention WHERE id OPERATOR(pg_catalog.=) $1)",
					  3, ft, fv, NULL, SPI_OK_INSERT);
	}
	/* retry after naptime * 2^failures, at most an hour */
	RetentionExec("INSERT INTO privacy.retention_state (policy) SELECT $1 "
			 "WHERE EXISTS (SELECT FROM privacy.retention WHERE id OPERATOR(pg_catalog.=) $1) ON CONFLICT DO NOTHING",
			 1, types, values, NULL, SPI_OK_INSERT);
	RetentionExec(deferred ?
			 "UPDATE privacy.retention_state SET failures = failures + 1, "
			 "last_error = $2, next_try = pg_catalog.clock_timestamp() + "
			 "pg_catalog.make_interval(secs => LEAST(3600, $3 * pg_catalog.power(2, LEAST(failures, 12)))) "
			 "WHERE policy = $1" :
			 "UPDATE privacy.retention_state SET run = NULL, failures = failures + 1, "
			 "last_error = $2, next_try = pg_catalog.clock_timestamp() + "
			 "pg_catalog.make_interval(secs => LEAST(3600, $3 * pg_catalog.power(2, LEAST(failures, 12)))) "
			 "WHERE policy = $1",
			 3, types, values, NULL, SPI_OK_UPDATE);
	RetentionRestore(&su);
	ret_xact_end(own_xacts, cxt);
}


/*-------------------------------------------------------------------------
 * SQL-callable functions
 *-------------------------------------------------------------------------
 */

/*
 * privacy_run_retention
 *		run_retention(policy bigint DEFAULT NULL) RETURNS bigint: enforce one
 *		or every policy of this database now, in the caller's transaction.
 */
Datum
privacy_run_retention(PG_FUNCTION_ARGS)
{
	int64		total = 0;

	if (!PG_ARGISNULL(0))
		total = RetentionRunPolicy(PG_GETARG_INT64(0), false, NULL);
	else
	{
		RetUser		su;
		int64	   *ids;
		int			n;
		bool		isnull;

		RetentionSpiConnect();
		RetentionBecome(UtilExtensionOwner(), false, &su);
		RetentionExec("SELECT id FROM privacy.retention ORDER BY id", 0, NULL, NULL, NULL, SPI_OK_SELECT);
		RetentionRestore(&su);
		n = (int) SPI_processed;
		ids = palloc(sizeof(int64) * (n + 1));
		for (int i = 0; i < n; i++)
			ids[i] = DatumGetInt64(RetentionGet(i, 1, &isnull));
		SPI_finish();

		/*
		 * Every policy in a subtransaction of its own: a failing policy is
		 * rolled back, recorded (retention_runs.error, retry later) and
		 * reported as a WARNING, and does not stop the others.
		 */
		for (int i = 0; i < n; i++)
		{
			MemoryContext cxt = CurrentMemoryContext;
			ResourceOwner owner = CurrentResourceOwner;

			BeginInternalSubTransaction(NULL);
			MemoryContextSwitchTo(cxt);
			PG_TRY();
			{
				total += RetentionRunPolicy(ids[i], false, NULL);
				ReleaseCurrentSubTransaction();
				MemoryContextSwitchTo(cxt);
				CurrentResourceOwner = owner;
			}
			PG_CATCH();
			{
				ErrorData  *edata = RetentionSubxactCaught(cxt, owner);

				ret_record_failure(ids[i], GuardSafeMessage(edata), false);
				ereport(WARNING,
						(errcode(edata->sqlerrcode),
						 errmsg("retention policy " INT64_FORMAT " failed; the other policies ran", ids[i]),
						 errdetail("The error is recorded in privacy.retention_runs.")));
				FreeErrorData(edata);
			}
			PG_END_TRY();
		}
	}
	PG_RETURN_INT64(total);
}

