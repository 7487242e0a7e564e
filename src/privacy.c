/*-------------------------------------------------------------------------
 * privacy.c
 *		Module magic and _PG_init of the privacy extension.
 *
 * Each module defines its own settings in its *Init function (as pgvector's
 * HnswInit does): retention (RetentionInit), the worker (WorkerInit), keys
 * (KeysInit), rights (RightsInit), the guard (GuardInit).  When the library
 * is not in shared_preload_libraries, only those run: the background worker
 * and the root keyring are skipped, and the functions that need them fail
 * with 55000 and a hint.  Nothing is done under binary upgrade.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"

#include "guard.h"
#include "privacy.h"
#include "retention.h"

PG_MODULE_MAGIC;

bool		privacy_preloaded = false;

void		_PG_init(void);

/*
 * _PG_init
 *		Every module's settings; when preloaded, the root keyring and the
 *		retention launcher.
 */
void
_PG_init(void)
{
	RetentionInit();
	WorkerInit();
	KeysInit();
	RightsInit();
	MarkGUCPrefixReserved("privacy");

	GuardInit();

	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;

	privacy_preloaded = true;
	KeysPreload();
	WorkerRegisterLauncher();
}
