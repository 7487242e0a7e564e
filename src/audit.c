/*-------------------------------------------------------------------------
 * audit.c
 *		Hash-chained audit log (stub: filled in with erasure).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "privacy.h"

/*
 * AuditAppend
 *		Append one entry to the audit log in the caller's transaction.
 */
void
AuditAppend(const char *action, const char *subject_ref, const char *detail_json)
{
}
