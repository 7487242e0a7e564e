/*-------------------------------------------------------------------------
 * guard.h
 *		The one module that switches identity: every piece of code of the
 *		extension that runs SQL as another role goes through it.
 *
 * A frame is entered with one of the GuardEnter* functions and left with
 * GuardLeave(frame).  Frames form a stack; an error that aborts the
 * (sub)transaction in which frames were entered pops them, together with
 * their row-security bypass, so a plpgsql EXCEPTION block that catches an
 * error finds the identity, security context, GUC nest level and bypass
 * of the moment the block was entered.
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_GUARD_H
#define PRIVACY_GUARD_H

#include "postgres.h"

/* install the callbacks and the log hook (_PG_init) */
extern void GuardInit(void);

/*
 * Reports raised while the extension runs: by its own code (whose
 * messages never hold an id or a value), or elsewhere, whose detail, and
 * a message of a class that can quote a value, are hidden from the client
 * and the log (the log hook; GuardSafeMessage for a caught error that is
 * recorded or logged again).
 */
extern bool GuardRaisedHere(const ErrorData *edata);
extern void GuardRightsCall(void);

/*
 * The mark of the extension's statements on Citus tables (CitusMark): a
 * worker's log hook treats a statement whose text holds it as ours.
 */
#define PRIVACY_CITUS_MARK "privacy._quiet()"
extern const char *GuardSafeMessage(const ErrorData *edata);
extern void GuardSanitize(ErrorData *edata, bool messages);

/*
 * User code of a table: the owner of relid (or role), in a
 * security-restricted operation, with the owner's own configured
 * search_path (role and database settings, else the built-in default),
 * pg_temp last.
 */
extern int	GuardEnterTableOwner(Oid relid);
extern void GuardCheckCascades(Oid relid);
extern int	GuardEnterRole(Oid role);

/*
 * The extension's own catalog work: the extension owner (or role, for
 * catalog tables with another owner), search_path pinned to
 * pg_catalog, pg_temp.  secflags are added to the security context.
 */
extern int	GuardEnterExtensionOwner(void);
extern int	GuardEnterPinned(Oid role, int secflags);

/* leave frame (and every frame entered after it) */
extern void GuardLeave(int frame);

/* number of frames entered (0: none) */
extern int	GuardDepth(void);

/*
 * Row-security bypass of protect()'s policies: belongs to the innermost
 * frame and goes with it.
 */
extern void GuardSetRowSecurityBypass(bool on);
extern bool GuardRowSecurityBypassed(void);

/*
 * Pseudonym scope: the rewrite statement of an erasure computes
 * pseudonyms with privacy.pseudonym(value, $4); the token is random,
 * known only to the C code that runs the statement, and valid only until
 * GuardPseudonymScopeEnd (or the end of the (sub)transaction).  It travels
 * as parameter GUARD_SCOPE_PARAM (text), never in the statement's text:
 * a trigger can read the text of the statements around it (GET
 * DIAGNOSTICS ... PG_CONTEXT), not their parameters.  Statements built
 * while a scope is open declare four parameters and pass the token as the
 * fourth.  GuardPseudonymToken returns the token of the open scope, or
 * NULL.
 */
#define GUARD_SCOPE_PARAM "$4"
#define GUARD_SCOPE_PARAMNO 4
extern const char *GuardPseudonymScopeBegin(void);
extern void GuardPseudonymScopeEnd(void);
extern const char *GuardPseudonymToken(void);
extern bool GuardPseudonymTokenValid(const char *token);

/*
 * Switch off nested statement logging (auto_explain, log_min_duration_*)
 * for the current GUC nest level: called by every frame and by the entry
 * of the rights calls.
 */
extern void GuardQuietLogging(void);

#endif							/* PRIVACY_GUARD_H */
