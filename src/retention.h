/*-------------------------------------------------------------------------
 * retention.h
 *		Retention policies: the batch engine shared by run_retention() and the
 *		background worker, and the erasure-strategy rewrites.
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_H
#define RETENTION_H

#include "privacy.h"

/*
 * RetentionRewriteExpr
 *		SQL expression of the new value of a column of type typid/typmod
 *		erased by strategy ('null', 'delete' (= null), 'redact', 'hash';
 *		'keep' and 'shred' return NULL: leave the column alone, a shredded
 *		column is made unreadable by destroying keys).  colexpr is the SQL
 *		expression of the current value (e.g. "t.\"ip\"").  The 'hash'
 *		expression calls privacy.pseudonym(value, len, scope): built while
 *		a pseudonym scope is open (src/guard.h) it passes the scope's token
 *		as CAST($4 AS text), and the statement that runs it must pass the
 *		token as parameter GUARD_SCOPE_PARAMNO; outside a scope only a
 *		superuser can evaluate it.
 *		Unknown strategy or a type the strategy cannot hold: 22023.
 */
extern char *RetentionRewriteExpr(Oid typid, int32 typmod, const char *strategy,
								  const char *colexpr);

/*
 * RetentionRewriteDoneExpr
 *		SQL boolean expression true when colexpr already holds what the
 *		strategy would write (so a row is not rewritten or counted twice).
 *		NULL for 'keep'/'shred'.  Never judged by a value's shape: for
 *		'hash' a value counts as done when its keyed tag verifies
 *		(privacy.is_pseudonym(value, len, scope), same scope rule as
 *		RetentionRewriteExpr).
 */
extern char *RetentionRewriteDoneExpr(Oid typid, int32 typmod, const char *strategy,
									  const char *colexpr);

/*
 * RetentionRunPolicy
 *		Enforce one policy.  own_xacts: each batch is its own transaction
 *		(background worker; the caller must not be in a transaction) and a
 *		failure is recorded in retention_runs and rethrown to the caller;
 *		otherwise everything runs in the caller's transaction
 *		(run_retention).  Returns the rows deleted or anonymized; *skipped
 *		(may be NULL) is set when the worker found the policy busy.
 */
extern int64 RetentionRunPolicy(int64 policy, bool own_xacts, bool *busy);

/* List of policy ids (int64 in a palloc'd array) due now; worker only, in a
 * transaction with SPI connected. */
extern int64 *RetentionDuePolicies(int *npolicies);

/* Prune retention_runs by privacy.retention_runs_max_age; in a transaction
 * with SPI connected. */
extern void RetentionPruneRuns(void);

/* Record a failure of a policy run (own transaction); worker only. */
extern void RetentionRecordFailure(int64 policy, const char *message);

/* True when a DROP DATABASE or CREATE DATABASE (from this template) waits
 * for us to leave the current database (worker.c). */
extern bool WorkerDatabaseLeaveRequested(void);

#endif							/* RETENTION_H */
