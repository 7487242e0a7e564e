/*-------------------------------------------------------------------------
 * worker.c
 *		Retention launcher and per-database retention workers.
 *
 * The launcher is a static background worker registered from _PG_init
 * (preload only) with BgWorkerStart_RecoveryFinished, so it never runs on a
 * standby and starts when a standby is promoted.  It connects to no
 * database and schedules the databases onto at most privacy.max_workers
 * dynamic workers at a time, as autovacuum's launcher does: every
 * connectable database is due once per naptime; the launcher starts a
 * worker for the database that has waited longest whenever fewer than
 * max_workers run.  A worker connects to its database (OID in bgw_extra),
 * runs every due policy there to the end of its pass (each batch its own
 * transaction), reports in a small dynamic shared memory segment whether
 * the extension is installed, and exits; the launcher then moves on to the
 * next database.  A database without the extension is remembered and
 * re-checked only every ten naptimes, or at once when CREATE EXTENSION
 * privacy wakes the launcher (SIGUSR2, privacy._wake_launcher()).  So the extension never holds more
 * than max_workers + 1 background worker slots, whatever the number of
 * databases.
 *
 * Workers use the standard die() handler for SIGTERM and check interrupts
 * between batches, so SIGTERM, DROP DATABASE ... WITH (FORCE) and
 * ProcSignalBarriers are honoured promptly.  A plain DROP DATABASE (or a
 * CREATE DATABASE using this database as template) does not signal
 * background workers: it holds a lock on the database object and waits
 * five seconds for other sessions to leave, so the worker tests that lock
 * between batches and leaves.
 *
 * A policy that fails is recorded in privacy.retention_runs with its error
 * and retried after naptime * 2^failures (at most an hour); the other
 * policies carry on.  pg_stat_activity shows "retention policy N batch"
 * while a batch runs (policy ids only, never data).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compat.h"

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
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "guard.h"
#include "retention.h"

int			privacy_max_workers = 2;

/*
 * WorkerInit
 *		The worker's settings (_PG_init, preloaded or not).
 */
void
WorkerInit(void)
{
	DefineCustomIntVariable("privacy.max_workers",
							"Sets how many per-database retention workers may run at once.",
							"The launcher schedules the databases with due policies onto them.",
							&privacy_max_workers,
							2, 1, 64,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
}

PG_FUNCTION_INFO_V1(privacy_wake_launcher);

PGDLLEXPORT void PrivacyRetentionLauncherMain(Datum main_arg);

/* set by SIGUSR2: a CREATE EXTENSION asks to re-check every database */
static volatile sig_atomic_t launcher_recheck = false;
PGDLLEXPORT void PrivacyRetentionWorkerMain(Datum main_arg);

/* What a worker reports to the launcher (dynamic shared memory). */
typedef struct WorkerResult
{
	int			status;			/* WORKER_* */
} WorkerResult;

#define WORKER_RUNNING		0	/* not finished (or died) */
#define WORKER_DONE			1	/* the extension is installed; policies ran */
#define WORKER_NO_EXTENSION	2

/* The launcher's view of one database. */
typedef struct LauncherDb
{
	Oid			dboid;			/* hash key */
	BackgroundWorkerHandle *handle; /* its worker, while one runs */
	dsm_segment *seg;			/* the worker's WorkerResult */
	TimestampTz next_start;		/* due again at */
	bool		no_extension;
	bool		seen;
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
 *		Start a worker for one database; false when no slot is free.
 */
static bool
launcher_start_worker(LauncherDb *db)
{
	BackgroundWorker worker;
	dsm_segment *seg;
	WorkerResult *res;

	seg = dsm_create(sizeof(WorkerResult), 0);
	dsm_pin_mapping(seg);
	res = dsm_segment_address(seg);
	res->status = WORKER_RUNNING;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "privacy");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "PrivacyRetentionWorkerMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "privacy retention worker for database %u", db->dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "privacy retention worker");
	memcpy(worker.bgw_extra, &db->dboid, sizeof(Oid));
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &db->handle))
	{
		dsm_detach(seg);
		db->handle = NULL;
		return false;
	}
	db->seg = seg;
	return true;
}

/*
 * launcher_reap
 *		If the worker of db has exited, read its result and schedule the
 *		database's next turn.  Returns true while the worker still runs.
 */
static bool
launcher_reap(LauncherDb *db, TimestampTz now)
{
	pid_t		pid;
	int			status;

	if (db->handle == NULL)
		return false;
	if (GetBackgroundWorkerPid(db->handle, &pid) != BGWH_STOPPED)
		return true;
	status = ((WorkerResult *) dsm_segment_address(db->seg))->status;
	dsm_detach(db->seg);
	db->seg = NULL;
	pfree(db->handle);
	db->handle = NULL;
	db->no_extension = status == WORKER_NO_EXTENSION;
	db->next_start = TimestampTzPlusMilliseconds(now, privacy_retention_naptime * 1000L *
												 (db->no_extension ? 10 : 1));
	return false;
}

/*
 * launcher_tick
 *		Reap finished workers, then start workers for the databases that
 *		have waited longest, up to privacy.max_workers running.  Returns the
 *		milliseconds until the next database is due.
 */
static long
launcher_tick(HTAB *dbs, MemoryContext cxt)
{
	List	   *oids = launcher_databases(cxt);
	TimestampTz now = GetCurrentTimestamp();
	HASH_SEQ_STATUS seq;
	LauncherDb *db;
	ListCell   *lc;
	int			running = 0;
	long		wait = privacy_retention_naptime * 1000L;
	static bool warned = false;

	hash_seq_init(&seq, dbs);
	while ((db = hash_seq_search(&seq)) != NULL)
	{
		db->seen = false;
		if (launcher_recheck && db->no_extension)
		{
			db->no_extension = false;
			db->next_start = now;
		}
	}
	launcher_recheck = false;
	foreach(lc, oids)
	{
		Oid			dboid = lfirst_oid(lc);
		bool		found;

		db = hash_search(dbs, &dboid, HASH_ENTER, &found);
		if (!found)
		{
			db->handle = NULL;
			db->seg = NULL;
			db->next_start = 0;
			db->no_extension = false;
		}
		db->seen = true;
	}

	/* reap; forget dropped databases once their worker is gone */
	hash_seq_init(&seq, dbs);
	while ((db = hash_seq_search(&seq)) != NULL)
	{
		if (launcher_reap(db, now))
			running++;
		else if (!db->seen)
			hash_search(dbs, &db->dboid, HASH_REMOVE, NULL);
	}

	/* start: the databases due longest ago first */
	while (privacy_retention_enabled && running < privacy_max_workers)
	{
		LauncherDb *next = NULL;

		hash_seq_init(&seq, dbs);
		while ((db = hash_seq_search(&seq)) != NULL)
			if (db->handle == NULL && db->seen && db->next_start <= now &&
				(next == NULL || db->next_start < next->next_start))
				next = db;
		if (next == NULL)
			break;
		if (!launcher_start_worker(next))
		{
			if (!warned)
				ereport(WARNING,
						(errmsg("could not start a retention worker"),
						 errhint("Raise max_worker_processes, or lower privacy.max_workers.")));
			warned = true;
			wait = 1000L;
			break;
		}
		warned = false;
		running++;
	}

	/* sleep until the next database is due (a worker's exit wakes us too) */
	hash_seq_init(&seq, dbs);
	while ((db = hash_seq_search(&seq)) != NULL)
	{
		if (db->handle == NULL && db->seen)
		{
			long		ms = TimestampDifferenceMilliseconds(now, db->next_start);

			wait = Min(wait, Max(ms, 100L));
		}
	}
	MemoryContextReset(cxt);
	return wait;
}

/* SIGUSR2: re-check the databases without the extension now */
static void
launcher_sigusr2(SIGNAL_ARGS)
{
	int			save_errno = errno;

	launcher_recheck = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/* a CREATE EXTENSION of this transaction wants the launcher woken at commit */
static bool wake_pending = false;

/*
 * wake_launcher_now
 *		Find the launcher among the background workers and send it SIGUSR2;
 *		nothing when it is absent (not preloaded, a standby).
 */
static void
wake_launcher_now(void)
{
	int			n = pgstat_fetch_stat_numbackends();

	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *l = CompatLocalBackendStatus(i);
		const char *type;

		if (l == NULL || l->backendStatus.st_backendType != B_BG_WORKER)
			continue;
		type = GetBackgroundWorkerTypeByPid(l->backendStatus.st_procpid);
		if (type != NULL && strcmp(type, "privacy retention launcher") == 0)
			(void) kill(l->backendStatus.st_procpid, SIGUSR2);
	}
}

/* at commit (the extension is then visible to a worker), wake the launcher */
static void
wake_launcher_xact(XactEvent event, void *arg)
{
	if (!wake_pending)
		return;
	if (event == XACT_EVENT_COMMIT)
	{
		wake_pending = false;
		wake_launcher_now();
	}
	else if (event == XACT_EVENT_ABORT)
		wake_pending = false;
}

/*
 * privacy_wake_launcher
 *		privacy._wake_launcher(): called by the install script, so that the
 *		launcher re-checks the databases it found without the extension as
 *		soon as this transaction commits, instead of ten naptimes later.
 */
Datum
privacy_wake_launcher(PG_FUNCTION_ARGS)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterXactCallback(wake_launcher_xact, NULL);
		registered = true;
	}
	wake_pending = true;
	PG_RETURN_VOID();
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
	pqsignal(SIGUSR2, launcher_sigusr2);
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
		long		wait;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		pgstat_report_activity(STATE_RUNNING, "retention launcher scan");
		wait = launcher_tick(dbs, cxt);
		pgstat_report_activity(STATE_IDLE, NULL);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
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
	installed = UtilLockExtension();
	if (installed && privacy_retention_enabled)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		MemoryContextSwitchTo(roundcxt);
		ids = RetentionDuePolicies(&n);
		RetentionPruneRuns();
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
			/* a batch's timeout (RetentionRunPolicy) must not outlive it */
			disable_timeout(STATEMENT_TIMEOUT, false);
			edata = CopyErrorData();
			FlushErrorState();
			AbortCurrentTransaction();
			if (!retention_extension_dropped)
			{
				msg = psprintf("%s: %s", unpack_sql_state(edata->sqlerrcode), GuardSafeMessage(edata));
				ereport(LOG,
						(errmsg("retention policy " INT64_FORMAT " failed, will retry", ids[i]),
						 errdetail("%s", msg)));
				RetentionRecordFailure(ids[i], msg);
			}
		}
		PG_END_TRY();
		if (retention_extension_dropped)
			return false;		/* dropped while the pass waited: nothing to record */
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
 *		Entry point of a per-database worker (database OID in bgw_extra, the
 *		launcher's result segment in main_arg): one round of the database's
 *		due policies, then exit.
 */
void
PrivacyRetentionWorkerMain(Datum main_arg)
{
	Oid			dboid;
	MemoryContext roundcxt;
	MemoryContext runcxt;
	dsm_segment *seg;
	WorkerResult *res;
	bool		installed;

	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		proc_exit(0);			/* the launcher is gone */
	res = dsm_segment_address(seg);
	/* the server's zone, before the bootstrap role's own settings apply */
	RetentionSetServerZone(GetConfigOption("TimeZone", false, false));
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
	if (WorkerDatabaseLeaveRequested())
		proc_exit(0);
	MemoryContextSwitchTo(roundcxt);
	pgstat_report_activity(STATE_RUNNING, "retention round");
	installed = worker_run_policies(roundcxt, runcxt);
	res->status = installed ? WORKER_DONE : WORKER_NO_EXTENSION;
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
}
