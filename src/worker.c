/*-------------------------------------------------------------------------
 * worker.c
 *		Retention launcher and per-database retention workers.
 *
 * The launcher is a static background worker registered from _PG_init
 * (preload only) with BgWorkerStart_RecoveryFinished, so it never runs on a
 * standby and starts when a standby is promoted.  It connects to no
 * database, reads pg_database every naptime (and whenever one of its
 * workers exits) and starts one dynamic worker per connectable database
 * that has none, passing the database OID in bgw_extra.  A worker whose
 * database lacks the extension exits at once; the launcher then waits one
 * naptime before trying that database again (so a database where the
 * extension is installed later is picked up within a naptime, and none is
 * probed more often than that).  The same back-off applies to a worker that
 * exited for any other reason.
 *
 * A worker loops: run every due policy (retention.c; each batch its own
 * transaction), then sleep naptime in slices of at most one second.  It
 * uses the standard die() handler for SIGTERM and checks interrupts in every
 * wait and between batches, so SIGTERM, DROP DATABASE ... WITH (FORCE) and
 * ProcSignalBarriers are honoured promptly.  A plain DROP DATABASE (or a
 * CREATE DATABASE using this database as template) does not signal
 * background workers: it holds a lock on the database object and waits
 * five seconds for other sessions to leave, so the worker tests that lock
 * between batches and once a second while sleeping, and leaves.
 *
 * A policy that fails is recorded in privacy.retention_runs with its error
 * and retried after naptime * 2^failures (at most an hour); the other
 * policies carry on.  pg_stat_activity shows "retention policy N batch"
 * while a batch runs (policy ids only, never data).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "retention.h"

PGDLLEXPORT void PrivacyRetentionLauncherMain(Datum main_arg);
PGDLLEXPORT void PrivacyRetentionWorkerMain(Datum main_arg);

/* The launcher's view of one database. */
typedef struct LauncherDb
{
	Oid			dboid;			/* hash key */
	BackgroundWorkerHandle *handle;
	TimestampTz next_start;
	bool		seen;
	bool		warned;
} LauncherDb;

/*
 * WorkerRegisterLauncher
 *		Register the static launcher; called from _PG_init when preloaded.
 */
void
WorkerRegisterLauncher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "privacy");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "PrivacyRetentionLauncherMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "privacy retention launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "privacy retention launcher");
	RegisterBackgroundWorker(&worker);
}

/*
 * WorkerDatabaseLeaveRequested
 *		True when a DROP DATABASE (or a CREATE DATABASE copying this one)
 *		holds a conflicting lock on our database and waits for us to leave.
 *		Only meaningful in a retention worker, outside or inside a
 *		transaction.
 */
bool
WorkerDatabaseLeaveRequested(void)
{
	LOCKTAG		tag;

	if (!IsBackgroundWorker || !OidIsValid(MyDatabaseId))
		return false;
	SET_LOCKTAG_OBJECT(tag, InvalidOid, DatabaseRelationId, MyDatabaseId, 0);
	if (LockAcquire(&tag, RowExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, RowExclusiveLock, true);
	return false;
}

/*
 * launcher_databases
 *		OIDs of the connectable, valid databases (pg_database is shared, so
 *		the launcher reads it without being connected to a database).
 */
static List *
launcher_databases(MemoryContext cxt)
{
	List	   *result = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext old;

		if (!db->datallowconn || database_is_invalid_form(db))
			continue;
		old = MemoryContextSwitchTo(cxt);
		result = lappend_oid(result, db->oid);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return result;
}

/*
 * launcher_start_worker
 *		Start the dynamic worker of one database; NULL when no slot is free.
 */
static BackgroundWorkerHandle *
launcher_start_worker(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "privacy");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "PrivacyRetentionWorkerMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "privacy retention worker for database %u", dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "privacy retention worker");
	memcpy(worker.bgw_extra, &dboid, sizeof(Oid));
	worker.bgw_main_arg = (Datum) 0;
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return NULL;
	return handle;
}

/*
 * launcher_tick
 *		Reconcile the databases with their workers.
 */
static void
launcher_tick(HTAB *dbs, MemoryContext cxt)
{
	List	   *oids = launcher_databases(cxt);
	TimestampTz now = GetCurrentTimestamp();
	HASH_SEQ_STATUS seq;
	LauncherDb *db;
	ListCell   *lc;

	hash_seq_init(&seq, dbs);
	while ((db = hash_seq_search(&seq)) != NULL)
		db->seen = false;

	foreach(lc, oids)
	{
		Oid			dboid = lfirst_oid(lc);
		bool		found;

		db = hash_search(dbs, &dboid, HASH_ENTER, &found);
		if (!found)
		{
			db->handle = NULL;
			db->next_start = 0;
			db->warned = false;
		}
		db->seen = true;

		if (db->handle != NULL)
		{
			pid_t		pid;

			if (GetBackgroundWorkerPid(db->handle, &pid) != BGWH_STOPPED)
				continue;
			/* it exited: back off one naptime before the next attempt */
			pfree(db->handle);
			db->handle = NULL;
			db->next_start = TimestampTzPlusMilliseconds(now, privacy_retention_naptime * 1000L);
		}
		if (!privacy_retention_enabled || now < db->next_start)
			continue;
		db->handle = launcher_start_worker(dboid);
		if (db->handle == NULL)
		{
			if (!db->warned)
				ereport(WARNING,
						(errmsg("could not start the retention worker for database %u", dboid),
						 errhint("Raise max_worker_processes.")));
			db->warned = true;
			db->next_start = TimestampTzPlusMilliseconds(now, privacy_retention_naptime * 1000L);
		}
		else
			db->warned = false;
	}

	/* forget dropped databases (their worker leaves by itself) */
	hash_seq_init(&seq, dbs);
	while ((db = hash_seq_search(&seq)) != NULL)
	{
		if (db->seen)
			continue;
		if (db->handle)
			pfree(db->handle);
		hash_search(dbs, &db->dboid, HASH_REMOVE, NULL);
	}
	MemoryContextReset(cxt);
}

/*
 * PrivacyRetentionLauncherMain
 *		Entry point of the launcher.
 */
void
PrivacyRetentionLauncherMain(Datum main_arg)
{
	HASHCTL		ctl;
	HTAB	   *dbs;
	MemoryContext cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(LauncherDb);
	dbs = hash_create("privacy retention databases", 16, &ctl, HASH_ELEM | HASH_BLOBS);
	cxt = AllocSetContextCreate(TopMemoryContext, "privacy retention launcher",
								ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		pgstat_report_activity(STATE_RUNNING, "retention launcher scan");
		launcher_tick(dbs, cxt);
		pgstat_report_activity(STATE_IDLE, NULL);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 privacy_retention_naptime * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * worker_sleep
 *		Sleep naptime, waking each second to honour interrupts, reloads and
 *		a pending DROP DATABASE.
 */
static void
worker_sleep(void)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		long		remaining;

		remaining = privacy_retention_naptime * 1000L -
			TimestampDifferenceMilliseconds(start, GetCurrentTimestamp());
		if (remaining <= 0)
			return;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(remaining, 1000L), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (WorkerDatabaseLeaveRequested())
			proc_exit(0);
	}
}

/*
 * worker_run_policies
 *		One round: every due policy of this database.  Returns false when the
 *		extension is not installed here.
 */
static bool
worker_run_policies(MemoryContext roundcxt, MemoryContext runcxt)
{
	int64	   *ids = NULL;
	int			n = 0;
	bool		installed;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	installed = OidIsValid(get_extension_oid("privacy", true));
	if (installed && privacy_retention_enabled)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		MemoryContextSwitchTo(roundcxt);
		ids = RetentionDuePolicies(&n);
		PopActiveSnapshot();
		SPI_finish();
	}
	CommitTransactionCommand();
	if (!installed)
		return false;

	for (int i = 0; i < n && privacy_retention_enabled; i++)
	{
		MemoryContextSwitchTo(runcxt);
		PG_TRY();
		{
			(void) RetentionRunPolicy(ids[i], true, NULL);
		}
		PG_CATCH();
		{
			ErrorData  *edata;
			char	   *msg;

			MemoryContextSwitchTo(runcxt);
			edata = CopyErrorData();
			FlushErrorState();
			AbortCurrentTransaction();
			msg = psprintf("%s: %s", unpack_sql_state(edata->sqlerrcode), edata->message);
			ereport(LOG,
					(errmsg("retention policy " INT64_FORMAT " failed, will retry", ids[i]),
					 errdetail("%s", msg)));
			RetentionRecordFailure(ids[i], msg);
		}
		PG_END_TRY();
		MemoryContextSwitchTo(roundcxt);
		MemoryContextReset(runcxt);
		CHECK_FOR_INTERRUPTS();
		if (WorkerDatabaseLeaveRequested())
			proc_exit(0);
	}
	return true;
}

/*
 * PrivacyRetentionWorkerMain
 *		Entry point of a per-database worker (database OID in bgw_extra).
 */
void
PrivacyRetentionWorkerMain(Datum main_arg)
{
	Oid			dboid;
	MemoryContext roundcxt;
	MemoryContext runcxt;

	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("privacy retention worker");
	/*
	 * The worker runs as a superuser: an ALTER DATABASE ... SET search_path
	 * by the database's owner must not reach it (src/guard.c pins it again
	 * for every catalog step; table owners' code gets their own path).
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);

	roundcxt = AllocSetContextCreate(TopMemoryContext, "privacy retention round",
									 ALLOCSET_DEFAULT_SIZES);
	runcxt = AllocSetContextCreate(TopMemoryContext, "privacy retention policy run",
								   ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (WorkerDatabaseLeaveRequested())
			proc_exit(0);
		MemoryContextSwitchTo(roundcxt);
		pgstat_report_activity(STATE_RUNNING, "retention round");
		if (!worker_run_policies(roundcxt, runcxt))
			proc_exit(0);		/* no extension here: the launcher backs off */
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(roundcxt);
		pgstat_report_activity(STATE_IDLE, NULL);
		worker_sleep();
	}
}
