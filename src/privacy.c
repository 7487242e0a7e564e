/*-------------------------------------------------------------------------
 * privacy.c
 *		Module magic, _PG_init and the GUCs of the privacy extension.
 *
 * Everything else lives in its own module.  When the library is not in
 * shared_preload_libraries, _PG_init only defines the GUCs: the background
 * worker and the root key are skipped, and the functions that need them
 * fail with 55000 and a hint.  Nothing is done under binary upgrade.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "guard.h"
#include "privacy.h"

PG_MODULE_MAGIC;

bool		privacy_retention_enabled = true;
int			privacy_retention_naptime = 60;
int			privacy_retention_batch_size = 10000;
int			privacy_retention_runs_max_age = 30 * 86400;
int			privacy_max_workers = 2;
char	   *privacy_root_key_file = NULL;
char	   *privacy_root_key_command = NULL;
char	   *privacy_request_deadline = NULL;
bool		privacy_preloaded = false;

void		_PG_init(void);

/*
 * check_request_deadline
 *		GUC check hook: the value must read as a positive interval.
 */
static bool
check_request_deadline(char **newval, void **extra, GucSource source)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	bool		ok = true;

	if (*newval == NULL)
		return true;
	PG_TRY();
	{
		Datum		d = DirectFunctionCall3(interval_in,
										  CStringGetDatum(*newval),
										  ObjectIdGetDatum(InvalidOid),
										  Int32GetDatum(-1));
		Interval   *iv = DatumGetIntervalP(d);

		if (iv->month < 0 || iv->day < 0 || iv->time < 0 ||
			(iv->month == 0 && iv->day == 0 && iv->time == 0))
			ok = false;
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
	return ok;
}

/*
 * _PG_init
 *		Define the GUCs; when preloaded, load the root key and register the
 *		retention launcher.
 */
void
_PG_init(void)
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

	DefineCustomIntVariable("privacy.retention_runs_max_age",
							"Sets how long privacy.retention_runs keeps the record of a run.",
							"The latest run of each policy is always kept; 0 keeps every run.",
							&privacy_retention_runs_max_age,
							30 * 86400, 0, 10 * 365 * 86400,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("privacy.max_workers",
							"Sets how many per-database retention workers may run at once.",
							"The launcher schedules the databases with due policies onto them.",
							&privacy_max_workers,
							2, 1, 64,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("privacy.root_key_file",
							   "Sets the file holding the root keyring (keys of 64 hex characters, newest first).",
							   "Re-read on reload; the keys never reach SQL.",
							   &privacy_root_key_file,
							   NULL,
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, KeysAssignRootKeyFile, NULL);

	DefineCustomStringVariable("privacy.root_key_command",
							   "Sets a shell command whose standard output is the root keyring.",
							   "Run by the postmaster at start and on reload, instead of reading privacy.root_key_file; %v is replaced by a version to fetch, empty for the whole keyring.",
							   &privacy_root_key_command,
							   NULL,
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, KeysAssignRootKeyCommand, NULL);

	DefineCustomStringVariable("privacy.request_deadline",
							   "Sets the time within which a data-subject request must be answered.",
							   "An interval, such as '30 days' or '1 month'.",
							   &privacy_request_deadline,
							   "30 days",
							   PGC_USERSET, 0,
							   check_request_deadline, NULL, NULL);

	MarkGUCPrefixReserved("privacy");

	GuardInit();

	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;

	privacy_preloaded = true;
	KeysInit();
	WorkerRegisterLauncher();
}
