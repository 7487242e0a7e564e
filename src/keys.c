/*-------------------------------------------------------------------------
 * keys.c
 *		Root key loading (stub until encrypted columns land).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "privacy.h"

/*
 * KeysInit
 *		Called from _PG_init in the postmaster when preloaded.
 */
void
KeysInit(void)
{
}

bool
KeysRootKeyAvailable(void)
{
	return false;
}

const unsigned char *
KeysRootKey(void)
{
	return NULL;
}
