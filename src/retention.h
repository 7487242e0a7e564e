/*-------------------------------------------------------------------------
 * retention.h
 *		Retention policies: the erasure-strategy rewrites (rewrite.c), the
 *		policies (retention_policy.c), the batch engine shared by
 *		run_retention() and the background worker (retention_batch.c) and
 *		the run driver (retention.c).
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_H
#define RETENTION_H

#include "datatype/timestamp.h"
#include "utils/resowner.h"

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
 * RetentionHashedColumn / RetentionPseudonyms
 *		'hash' computed here rather than in the statement (Citus: the
 *		rewrite runs on a worker, which has neither the scope nor this
 *		database's secret).  RetentionHashedColumn: the text expression of
 *		colexpr that is pseudonymized (bytea as hex) and the pseudonym's
 *		length; 22023 when the type cannot hold one.  RetentionPseudonyms:
 *		for each element of in (text[], no nulls), its pseudonym (*out,
 *		text[]) and whether it is one already (*done, boolean[]).
 */
extern char *RetentionHashedColumn(Oid typid, int32 typmod, const char *colexpr, int *len, bool *bytea);
extern void RetentionPseudonyms(Datum in, int len, Datum *out, Datum *done);

/*
 * RetentionPseudonymNth
 *		The n-th (n >= 1) disambiguated pseudonym of in (the text that
 *		RetentionHashedColumn pseudonymizes), len characters, as text: the
 *		value a 'hash' column takes instead of its pseudonym when that
 *		would give its row the key of another row under a unique index (a
 *		value that came back after an erasure).  Recognized by
 *		privacy.is_pseudonym like any pseudonym; computed only here.
 */
extern Datum RetentionPseudonymNth(text *in, int n, int len);

/*
 * RetentionRunPolicy
 *		Enforce one policy.  own_xacts: each batch is its own transaction
 *		(background worker; the caller must not be in a transaction) and a
 *		failure is recorded in retention_runs and rethrown to the caller;
 *		otherwise everything runs in the caller's transaction
 *		(run_retention).  Returns the rows deleted or anonymized, in the
 *		policy's table and its dependents; *busy (may be NULL) is set when
 *		the worker found the policy busy.
 */
extern int64 RetentionRunPolicy(int64 policy, bool own_xacts, bool *busy);

/* List of policy ids (int64 in a palloc'd array) due now; worker only, in a
 * transaction with SPI connected. */
extern int64 *RetentionDuePolicies(int *npolicies);

/* Prune retention_runs by privacy.retention_runs_max_age; in a transaction
 * with SPI connected. */
extern void RetentionPruneRuns(void);

/* The retention settings (privacy.retention_*), defined by _PG_init. */
extern void RetentionInit(void);

/* Record a failure of a policy run (own transaction); worker only. */
extern void RetentionRecordFailure(int64 policy, const char *message);

/* True when a DROP DATABASE or CREATE DATABASE (from this template) waits
 * for us to leave the current database (worker.c). */
extern bool WorkerDatabaseLeaveRequested(void);

/*
 * Internal to the retention files (retention_policy.c, retention_batch.c,
 * retention.c).
 */

/* A column rewritten by an 'anonymize' policy. */
typedef struct RetColumn
{
	char	   *name;
	Oid			typid;
	int32		typmod;
	char	   *strategy;
	bool		hash;			/* new value computed in step 3 */
	char	   *newexpr;		/* on alias t */
	char	   *doneexpr;
} RetColumn;

/* A policy, resolved against the current catalog. */
typedef struct RetPolicy
{
	int64		id;
	Oid			relid;
	Oid			owner;
	char	   *qualname;
	char	   *age;			/* quoted age column */
	char	   *keep;			/* interval, text */
	bool		anonymize;
	List	   *columns;		/* RetColumn * */
	char	   *needs;			/* "row still needs work" (anonymize), or NULL */
	int			nhash;
	bool		partitioned;	/* batches walk the leaf partitions in OID order */
	char	   *agename;		/* age column's current name (unquoted) */
	bool		age_local;		/* a timestamp without time zone (ret_batch_sql) */
	AttrNumber	age_attnum;
	bool		fix_column;		/* the stored name or attnum is out of date */
	bool		cascade;
	char	   *time_zone;		/* NULL: the database's default */
	List	   *deps;			/* RetDep *, breadth first (delete policies) */
	char	   *holdfilter;		/* row t of the table belongs to a held subject */
	List	   *subjects;		/* char *: the subject types whose map holds it now */
	bool		record_subjects;	/* privacy.retention.subjects lacks some of them */
	bool		by_admin;		/* added by a member of privacy_admin (or a superuser) */
} RetPolicy;

/*
 * A table that depends on the policy's table through a foreign key (at any
 * depth): its rows referencing an expiring row go first, or, when one of
 * them must stay, make that row blocked.
 */
typedef struct RetDep
{
	int			parent;			/* index in deps of the referenced table, -1: the policy's */
	Oid			relid;
	char	   *qualname;		/* quoted, with ONLY unless partitioned */
	char	   *join;			/* SQL: row c references row p */
	char	   *pkeys;			/* SQL: p's referenced columns */
	char	   *ujoin;			/* SQL: row c references the keys u.k1, ... */
	int			ncols;
	char	   *stay;			/* SQL on alias c: the row must stay, or NULL */
	bool		holds;			/* in a subject map: its held rows stay */
	List	   *holdrels;		/* Oid: the mapped tables of its partition tree
								 * (itself, its partitioned ancestors, its
								 * partitions mapped by themselves) */
	List	   *holdsubj;		/* per holdrels: List of char *, its subject
								 * types when the pass began */
	List	   *holdleaves;		/* per holdrels: NULL (every row of the
								 * table) or SQL '{oid,...}' of the leaves it
								 * holds (a partition of the table) */
	bool		indexed;		/* an index leads with the referencing columns */
	char	   *name;			/* for the blocked WARNING */
} RetDep;

/* Saved user identity around a switch. */
typedef struct RetUser
{
	int			frame;			/* guard frame (src/guard.c) */
} RetUser;

/* What one batch did, for the run's counters. */
typedef struct RetCounts
{
	int64		changed;		/* rows of the policy's table */
	int64		held;
	int64		blocked;
	int64		failed;			/* of blocked: their change failed (a constraint, a trigger) */
	int			failed_state;	/* the first failure's SQLSTATE */
	int64		dependents;		/* dependent rows deleted with their parents */
	char	   *blocked_by;		/* first blocking table, or NULL */
} RetCounts;

/*
 * A run: one call of RetentionRunPolicy, over a pass or the rest of an
 * interrupted one.  Its retention_runs row is written by the first batch
 * that changes rows, or at the end of the pass when the held or blocked
 * rows differ from the policy's last recorded run (batch_record_run).
 */
typedef struct RetRun
{
	int64		id;				/* the retention_runs id reserved for it */
	TimestampTz started;		/* when the run began */
	bool		recorded;		/* its retention_runs row is written */
	RetCounts	counts;			/* every batch so far */
	int			batches;
	double		longest_ms;
} RetRun;

/*
 * The statement a hold filter is built for (RetentionHoldFilterIn): its
 * role, the rows it judges (a FROM item with the filter's alias, and the
 * condition that selects them) and its parameters ($4: the pseudonym
 * scope's token), to which the filter adds the keys it read across owners.
 * latest (set after RetentionHoldScopeInit): those reads take the latest
 * snapshot, as every statement of an erasure does.
 */
typedef struct RetHoldScope
{
	Oid			owner;
	bool		latest;			/* read with the latest snapshot (an erasure) */
	const char *from;
	const char *rowsel;
	int			nargs;
	int			cap;
	Oid		   *types;
	Datum	   *values;
} RetHoldScope;

/* retention_policy.c: identity switches, SPI */
extern void RetentionBecome(Oid role, bool restricted, RetUser *save);
extern void RetentionRestore(RetUser *save);
extern void RetentionExec(const char *sql, int nargs, Oid *types, Datum *values,
						  const char *nulls, int expected);
extern Datum RetentionGet(int row, int col, bool *isnull);
extern char *RetentionDepHoldFilter(RetDep *d);
extern char *RetentionDepHoldFilterIn(RetDep *d, RetHoldScope *scope);
extern void RetentionHoldScopeInit(RetHoldScope *s, Oid owner, const char *from, const char *rowsel,
								   int nargs, const Oid *types, const Datum *values);
extern void RetentionSpiConnect(void);
extern ErrorData *RetentionSubxactCaught(MemoryContext cxt, ResourceOwner owner);
extern int	RetentionPinSettings(RetPolicy *p);
extern void RetentionSetServerZone(const char *zone);
extern void RetentionCheckCreator(RetPolicy *p, List *subjects);
extern void RetentionRecordSubjects(RetPolicy *p);

/* retention_policy.c: a policy resolved against the catalog */
extern RetPolicy *RetentionLoadPolicy(int64 id);
extern char *RetentionNeedsSql(RetPolicy *p);
extern char *RetentionHoldFilter(Oid relid, const char *alias, List *required);
extern char *RetentionHoldFilterIn(Oid relid, const char *alias, List *required,
								   RetHoldScope *scope);
extern List *RetentionLoadDeps(RetPolicy *p);
extern void RetentionReloadPolicy(RetPolicy *p);

/* retention_batch.c */
extern void RetentionBatch(RetPolicy *p, RetRun *run, bool worker, bool *done, bool *lost);

#endif							/* RETENTION_H */
