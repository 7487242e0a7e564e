/*-------------------------------------------------------------------------
 * citus.h
 *		Placement awareness for Citus clusters (src/citus.c).
 *
 * Everything here works without linking to Citus: the cluster is read
 * through Citus's catalog tables when the extension is installed in the
 * current database, and every function is a no-op otherwise.
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_CITUS_H
#define PRIVACY_CITUS_H

#include "postgres.h"

#include "guard.h"
#include "privacy.h"

typedef enum CitusKind
{
	CITUS_NONE,					/* no Citus, or a plain local table */
	CITUS_DISTRIBUTED,			/* hash-distributed */
	CITUS_SINGLE_SHARD,			/* distributed without a column, one shard */
	CITUS_REFERENCE,			/* replicated to every node */
	CITUS_LOCAL					/* a Citus local table (coordinator only) */
} CitusKind;

typedef struct CitusTableInfo
{
	CitusKind	kind;
	AttrNumber	distcol;		/* CITUS_DISTRIBUTED: the distribution column */
	int32		colocation;		/* colocation group, 0 when none */
} CitusTableInfo;

extern bool CitusLoaded(void);
extern bool CitusIsWorker(void);
extern CitusTableInfo CitusTable(Oid relid);
extern bool CitusIsCitusTable(Oid relid);
extern bool CitusRouted(MapSubject *subj, MapTable *mt);
extern char *CitusRouteCondition(MapSubject *subj, MapTable *mt, const char *alias,
								 const char *keyexpr, char *cond);
/* cond marked as ours (PRIVACY_CITUS_MARK, guard.h) on a Citus table */
extern char *CitusMark(Oid relid, char *cond);
extern bool CitusFansOut(MapSubject *subj, Oid relid);
/* sql with its parameters out of the text of a multi-shard query */
extern char *CitusPrivateParams(MapSubject *subj, Oid relid, const char *sql, int nargs,
								const Oid *types);
extern const char *CitusRouting(MapSubject *subj, MapTable *mt);
extern void CitusRefuseDistributed(Oid relid, const char *what);
extern void CitusRefuseRowIdentity(Oid relid, const char *what);
extern void CitusWarnColocation(MapSubject *subj);
extern void CitusUseTwoPhaseCommit(void);
extern void CitusCheckOwners(MapSubject *subj);
extern bool CitusNeedsKeySets(MapSubject *subj, MapTable *mt);
extern MapCall *CitusKeyOnlyCall(MapSubject *subj, Datum key);
extern bool CitusCheckLink(MapSubject *subj, Oid relid, AttrNumber att, const char *what);
extern int	CitusAllowTriggers(void);
extern void CitusAllowTriggersEnd(int nest);
extern int	CitusSequentialBegin(void);
extern void CitusSequentialEnd(int nest);
extern bool CitusMirrorActive(void);
extern void CitusMirrorEnsure(void);
extern Oid	CitusLocalPlacement(const char *name);
extern bool CitusIsShardOf(Oid part, Oid tbl);
extern char *CitusLinkLockQuery(MapSubject *subj);

#endif							/* PRIVACY_CITUS_H */
