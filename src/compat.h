/*-------------------------------------------------------------------------
 * compat.h
 *		The PostgreSQL API differences between the supported majors (15-18).
 *
 * The code is written against 15's names; each guard below maps one of them
 * to its successor in a later major, so call sites stay the same.  Included
 * by privacy.h.
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_COMPAT_H
#define PRIVACY_COMPAT_H

#include "postgres.h"

/*
 * The extension's reports carry its own message domain, which survives
 * CopyErrorData: GuardRaisedHere recognises them by it.
 */
#undef TEXTDOMAIN
#define TEXTDOMAIN PG_TEXTDOMAIN("privacy")
#define PRIVACY_TEXTDOMAIN PG_TEXTDOMAIN("privacy")

#include "catalog/dependency.h"
#include "utils/rel.h"

/* 16: the per-class ownership checks became one object_ownercheck() */
#if PG_VERSION_NUM >= 160000
#include "catalog/pg_class.h"
#include "utils/acl.h"
#define pg_class_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
/* ... and the per-class ACL checks one object_aclcheck() */
#include "catalog/pg_namespace.h"
#define pg_namespace_aclcheck(nspid, roleid, mode) \
	object_aclcheck(NamespaceRelationId, (nspid), (roleid), (mode))
#endif

/* 17: the IsBackgroundWorker flag became a test of MyBackendType */
#if PG_VERSION_NUM >= 170000
#include "miscadmin.h"
#define IsBackgroundWorker AmBackgroundWorkerProcess()
#endif

/*
 * 17: getIdentitySequence() takes the open relation instead of its OID.
 * CompatIdentitySequence takes the open relation on every major.
 */
#if PG_VERSION_NUM >= 170000
#define CompatIdentitySequence(rel, attnum, missing_ok) \
	getIdentitySequence((rel), (attnum), (missing_ok))
#else
#define CompatIdentitySequence(rel, attnum, missing_ok) \
	getIdentitySequence(RelationGetRelid(rel), (attnum), (missing_ok))
#endif

/* 18: pg_noreturn (a prefix) replaces pg_attribute_noreturn() */
#ifndef pg_noreturn
#define pg_noreturn __attribute__((noreturn))
#endif

/* 17: the local backend status array is read by index under a new name */
#if PG_VERSION_NUM >= 170000
#define CompatLocalBackendStatus(i) pgstat_get_local_beentry_by_index(i)
#else
#define CompatLocalBackendStatus(i) pgstat_fetch_stat_local_beentry(i)
#endif

/* 17: PGPROC's local transaction id moved into vxid (storage/proc.h) */
#if PG_VERSION_NUM >= 170000
#define CompatMyLocalXid() (MyProc->vxid.lxid)
#else
#define CompatMyLocalXid() (MyProc->lxid)
#endif

/* 15: unique indexes may treat NULLs as equal (indnullsnotdistinct) */
#define CompatIndexNullsNotDistinct(idx) ((idx)->indnullsnotdistinct)

#endif							/* PRIVACY_COMPAT_H */
