/*-------------------------------------------------------------------------
 * worker.c
 *		Retention launcher and per-database workers (stub until retention
 *		lands).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "privacy.h"

/*
 * WorkerRegisterLauncher
 *		Called from _PG_init when preloaded.
 */
void
WorkerRegisterLauncher(void)
{
}
