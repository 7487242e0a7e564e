/*-------------------------------------------------------------------------
 * guard.c
 *		Every identity switch of the extension, the row-security bypass of
 *		protect()'s policies, the pseudonym scope, and the log hygiene of
 *		the extension's own statements.
 *
 * The rule: code written by users (functions, operators, casts, domain
 * input and CHECKs, triggers, index expressions, defaults, RLS policies,
 * views) runs only as the owner of the table concerned, in a
 * security-restricted operation (GuardEnterTableOwner), with that owner's
 * own configured search_path; the extension's catalog work runs as the
 * extension owner with search_path = pg_catalog, pg_temp
 * (GuardEnterExtensionOwner) and touches no user code.
 *
 * Frames are a stack.  GuardLeave restores the state saved when a frame
 * was entered (user, security context, GUC nest level).  When an error
 * aborts the (sub)transaction in which frames were entered, PostgreSQL
 * itself restores the user, the security context and the GUCs of the
 * (sub)transaction; the callbacks below drop the frames entered in it,
 * with their row-security bypass and pseudonym scope, so nothing of ours
 * survives a caught error.
 *
 * Pseudonym scope: erasure (and retention's pseudonym step) opens a scope
 * with a random token that its statement passes as a parameter; only that
 * statement can compute pseudonyms or ask about holds.  Not a flag: code
 * that runs during the erasure (a trigger, a CHECK, an index expression)
 * cannot know the token, which never appears in any statement text.
 *
 * Before each statement of the extension's own in a frame, the executor
 * hook checks what it would make user code do as the frame's role: run
 * the row-level security policies of another owner's table it reads
 * (check_read_tables), or fire the AFTER triggers that PostgreSQL's
 * foreign-key actions queue on another owner's table (check_cascades).
 * While a frame is open, current_query() hides the client's statement.
 *
 * Log hygiene: every frame, and every rights call (UtilTextArg), switches
 * off auto_explain for its GUC nest level; an emit_log_hook hides the
 * statement and context of errors raised while a frame is open, in a
 * transaction where a rights call ran, or by a statement that calls the
 * extension, and drops the "duration: ..." lines of those statements.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dlfcn.h>
#include <sodium.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_db_role_setting.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_language.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_statistic_ext.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "parser/parsetree.h"
#include "rewrite/rowsecurity.h"
#include "storage/bufmgr.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "guard.h"
#include "privacy.h"

#define GUARD_MAX_FRAMES 64
/*
 * What current_query() returns while a frame is open: the client's
 * statement can carry an id (privacy.hold('customer', '42', ...)), and a
 * table owner's code that runs in the frame (a trigger, a cast, the
 * constant parts of an index expression the planner evaluates) must not
 * learn from it whose rows the extension is acting on.  The subtransaction
 * callback restores the client's statement when an error drops frames; at
 * a transaction's abort, PostgreSQL has forgotten it already (the top
 * level's error recovery), else the end of the transaction restores it.
 */
static const char hidden_query[] = "-- statement hidden by the privacy extension";
#define GUARD_TOKEN_BYTES 16

typedef struct GuardFrame
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	const char *save_query;		/* debug_query_string before the frame */
	SubTransactionId subid;		/* subtransaction the frame was entered in */
	bool		bypass;			/* protect()'s policies bypassed */
	int			level;			/* executor level of the frame's own statements */
	Oid			role;			/* the frame's role */
	int			bypass_level;	/* ... for statements at this executor level */
	Oid			bypass_role;	/* ... run as this role */
} GuardFrame;

static GuardFrame frames[GUARD_MAX_FRAMES];
static int	depth = 0;

/* pseudonym scope */
static bool scope_open = false;
static SubTransactionId scope_subid = InvalidSubTransactionId;
static char scope_token[GUARD_TOKEN_BYTES * 2 + 1];

static bool callbacks_registered = false;
static bool quiet_xact = false;	/* a frame was entered in this transaction */
static bool rights_xact = false;	/* a rights call ran in this transaction */
/*
 * The extension owner, cached for one command of one transaction: no
 * invalidation message tells us when extowner changes (see
 * UtilExtensionOwner), but a change made by this transaction is visible
 * only after a CommandCounterIncrement, and one made by another
 * transaction only in a later snapshot, that is a later command or
 * transaction.  Within one statement (retention's hold filter enters a
 * frame per row) the lookup runs once.
 */
static Oid	ext_owner = InvalidOid;
static LocalTransactionId ext_owner_lxid = InvalidLocalTransactionId;
static CommandId ext_owner_cid = InvalidCommandId;
static emit_log_hook_type prev_emit_log_hook = NULL;

/*
 * Executor nesting: 1 inside the executor of a top-level statement, 2
 * inside a statement run by a function (or trigger) that statement calls,
 * and so on.  The row-security bypass of a frame holds only at the level of
 * the extension's own statement: user code that statement runs (triggers,
 * functions of policies, defaults, checks) runs its queries one level
 * deeper and sees what its role sees.
 */
static int	exec_level = 0;
static ExecutorRun_hook_type prev_executor_run = NULL;
static ExecutorFinish_hook_type prev_executor_finish = NULL;
static planner_hook_type prev_planner = NULL;

static void register_callbacks(void);

/* per-transaction cache of owners' search paths */
typedef struct OwnerPath
{
	Oid			role;
	char	   *path;
} OwnerPath;
static List *owner_paths = NIL;

static void
close_scope(void)
{
	scope_open = false;
	scope_subid = InvalidSubTransactionId;
	sodium_memzero(scope_token, sizeof(scope_token));
}

/*
 * guard_xact_callback / guard_subxact_callback
 *		The end of a transaction drops every frame; the abort of a
 *		subtransaction drops the frames entered inside it (subtransaction
 *		ids grow within a transaction) and the owners read so far.
 *		Identity and GUCs are restored by PostgreSQL's own abort processing.
 */
static void
guard_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/*
			 * frames left open: the statement they hid (the top level's
			 * error recovery has forgotten it already, not a worker's)
			 */
			if (depth > 0 && debug_query_string == hidden_query)
				debug_query_string = frames[0].save_query;
			depth = 0;
			quiet_xact = false;
			rights_xact = false;
			close_scope();
			owner_paths = NIL;	/* allocated in TopTransactionContext */
			ext_owner = InvalidOid;
			break;
		default:
			break;
	}
}

static void
guard_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	while (depth > 0 && frames[depth - 1].subid >= mySubid)
	{
		/* the client's statement again (see hidden_query) */
		debug_query_string = frames[depth - 1].save_query;
		depth--;
	}
	if (scope_open && scope_subid >= mySubid)
		close_scope();
	/*
	 * The owners read may have come from catalog rows the subtransaction
	 * wrote (REASSIGN OWNED, ALTER ROLE ... SET): read them again.  The
	 * command id alone would not notice, a rollback does not take it back.
	 */
	ext_owner = InvalidOid;
	owner_paths = NIL;			/* in TopTransactionContext: freed at its end */
}

/*
 * guard_emit_log_hook
 *		Reports (errors, and the LOG lines of log_lock_waits and
 *		log_temp_files) raised while a frame is open, in a transaction where
 *		a rights call ran, or by a statement that calls the extension keep
 *		their message but lose the statement and context (which may carry
 *		an id the client passed, or a value in the text of a table owner's
 *		statement that runs inside the frame); the "duration: ..." lines of
 *		log_min_duration_statement and auto_explain are not written for
 *		them either (their plans show parameter values).
 */
static void
guard_emit_log_hook(ErrorData *edata)
{
	/* on a Citus worker: a statement the extension sent (CitusMark) */
	bool		marked = debug_query_string != NULL &&
		strstr(debug_query_string, PRIVACY_CITUS_MARK) != NULL;
	bool		ours = depth > 0 || scope_open || quiet_xact || marked ||
		(debug_query_string != NULL && strstr(debug_query_string, "privacy.") != NULL);

	/*
	 * A deadlock reported by any backend (often one that does not call the
	 * extension, cancelled in favour of one that does): its log detail
	 * lists every process's statement as its client sent it
	 * (pg_stat_activity.query), a call with the id written in it.  When
	 * one of them calls the extension, the log gets the client's detail
	 * instead: the cycle, without the statements.
	 */
	if (edata->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED &&
		edata->detail_log != NULL && strstr(edata->detail_log, "privacy.") != NULL)
		edata->detail_log = NULL;
	if (ours)
	{
		/*
		 * log_statement's line of a statement that calls the extension (or
		 * of ours on a worker): its bind parameters are not logged
		 */
		if (edata->elevel == LOG && edata->detail != NULL &&
			pg_strncasecmp(edata->detail, "parameters: ", 12) == 0)
			edata->detail = pstrdup("parameters: hidden by the privacy extension");
		/*
		 * every report, not only errors: log_lock_waits's "still waiting"
		 * and "acquired" lines (LOG) are written with the statement at the
		 * default log_min_error_statement, and with the context: the text
		 * of a table owner's statement that waits (a trigger's EXECUTE of
		 * SQL built with the row's values), the bind parameters of
		 * log_parameter_max_length_on_error; log_temp_files alike
		 */
		edata->hide_stmt = true;
		edata->hide_ctx = true;
		if (edata->elevel == LOG && edata->message != NULL &&
				 strncmp(edata->message, "duration: ", 10) == 0)
			edata->output_to_server = false;
		/*
		 * raised elsewhere while the extension runs user code (its frames
		 * are still counted when an error is reported), or after a rights
		 * call in this transaction (a deferred constraint at commit: its
		 * detail only; the application's own messages after the call, a
		 * RAISE NOTICE of its DO block, are its own); not in every
		 * transaction that read a protected table or wrote a linked one:
		 * the application's own errors keep their detail
		 */
		if ((depth > 0 || scope_open || rights_xact || marked) &&
			edata->elevel >= NOTICE && edata->elevel != LOG_SERVER_ONLY &&
			!GuardRaisedHere(edata))
			GuardSanitize(edata, depth > 0 || scope_open || marked);
		/*
		 * others' debug messages inside our frames are not written at all:
		 * they quote values (Citus: "query has a single distribution
		 * column value: ...", the plans of its subplans with their
		 * constants)
		 */
		if ((depth > 0 || marked) && edata->elevel < LOG && !GuardRaisedHere(edata))
		{
			edata->output_to_server = false;
			edata->output_to_client = false;
		}
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*
 * GuardRightsCall
 *		A rights call (a request) runs in this transaction: from here to
 *		its end, reports raised by others are sanitized (GuardSanitize).
 */
void
GuardRightsCall(void)
{
	register_callbacks();
	rights_xact = true;
}

/* the base address of the object (executable or library) holding addr */
static void *
object_of(const void *addr)
{
	Dl_info		info;

	if (addr == NULL || dladdr(addr, &info) == 0)
		return NULL;
	return info.dli_fbase;
}

/*
 * GuardRaisedHere
 *		The report was raised by the extension's own code: its file name
 *		(__FILE__ at the ereport) lies in this shared object, or it is a
 *		RAISE of one of its PL/pgSQL functions.  Our messages and details
 *		never contain an id or a value.
 */
bool
GuardRaisedHere(const ErrorData *edata)
{
	static void *own_base = NULL;

	/*
	 * a RAISE statement of the extension's own PL/pgSQL functions (not
	 * another error inside them): the innermost context line names the
	 * raising function, schema-qualified (they run with search_path
	 * pg_catalog, pg_temp); nobody else creates functions in the
	 * extension's schema
	 */
	if (edata->funcname != NULL && strcmp(edata->funcname, "exec_stmt_raise") == 0 &&
		edata->context != NULL &&
		strncmp(edata->context, "PL/pgSQL function privacy.", 26) == 0)
		return true;
	/* the message domain of every report of the extension's C code */
	if (edata->domain != NULL && strcmp(edata->domain, PRIVACY_TEXTDOMAIN) == 0)
		return true;
	if (own_base == NULL)
		own_base = object_of((const void *) &GuardInit);
	return own_base != NULL && object_of(edata->filename) == own_base;
}

/*
 * message_may_quote
 *		Reports whose message can quote a value: data exceptions ('invalid
 *		input syntax for type integer: "..."'), PL/pgSQL's RAISE (of any
 *		level), the notices and warnings of the procedural languages (user
 *		code: plpy.notice, elog in PL/Perl and PL/Tcl), and every error
 *		raised elsewhere except those of the classes whose messages name
 *		objects only (integrity constraints, transaction rollback, resources
 *		and limits, object state, operator intervention, system and internal
 *		errors, and "permission denied"): a user's dynamic SQL can put a
 *		value where PostgreSQL quotes a name ('relation "..." does not
 *		exist', 'unrecognized configuration parameter "..."').  The notices
 *		of the server and of other extensions (Citus) name objects, not
 *		values.
 */
static bool
message_may_quote(const ErrorData *edata)
{
	static const char *const pl_files[] = {"pl_exec.c", "plperl.c", "plpy_plpymodule.c",
	"plpy_elog.c", "pltcl.c"};
	int			cat = ERRCODE_TO_CATEGORY(edata->sqlerrcode);
	const char *base = NULL;
	int			i;

	if (cat == ERRCODE_DATA_EXCEPTION || cat == ERRCODE_PLPGSQL_ERROR)
		return true;
	if (edata->filename != NULL)
	{
		base = strrchr(edata->filename, '/');
		base = base ? base + 1 : edata->filename;
		for (i = 0; i < lengthof(pl_files); i++)
			if (strcmp(base, pl_files[i]) == 0)
				return true;
	}
	if (edata->elevel < ERROR)
		return false;
	if (cat == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION || cat == ERRCODE_TRANSACTION_ROLLBACK ||
		cat == ERRCODE_INSUFFICIENT_RESOURCES || cat == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||
		cat == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE || cat == ERRCODE_OPERATOR_INTERVENTION ||
		cat == ERRCODE_SYSTEM_ERROR || cat == ERRCODE_INTERNAL_ERROR ||
		cat == ERRCODE_INVALID_TRANSACTION_STATE ||
		edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE ||
		edata->sqlerrcode == ERRCODE_FEATURE_NOT_SUPPORTED)
		return false;
	return true;
}

#define GUARD_HIDDEN_DETAIL "The detail is hidden: it can contain personal data."
#define GUARD_HIDDEN_HINT "Run the statement that failed as the table's owner, outside the extension, to see it."

/*
 * GuardSafeMessage
 *		The message of a report caught by the extension, fit to be logged
 *		or recorded: its own, or one raised elsewhere (PostgreSQL, a
 *		table owner's trigger, a worker) whose class cannot quote a value;
 *		else a placeholder with the SQLSTATE.
 */
const char *
GuardSafeMessage(const ErrorData *edata)
{
	if (edata->message == NULL || GuardRaisedHere(edata) || !message_may_quote(edata))
		return edata->message ? edata->message : "";
	return psprintf("a message of SQLSTATE %s, hidden: it can contain personal data",
					unpack_sql_state(edata->sqlerrcode));
}

/*
 * GuardSanitize
 *		A report raised elsewhere while the extension runs: its detail (a
 *		constraint's "Failing row contains (...)", "Key (...)=(...)", the
 *		statements of a deadlock's other sessions) is replaced, for the
 *		client and the log, and with messages, so is a message that can
 *		quote a value.
 */
void
GuardSanitize(ErrorData *edata, bool messages)
{
	bool		hidden = false;

	if (edata->detail != NULL || edata->detail_log != NULL)
	{
		edata->detail = pstrdup(GUARD_HIDDEN_DETAIL);
		edata->detail_log = NULL;
		hidden = true;
	}
	if (messages && edata->message != NULL && message_may_quote(edata))
	{
		edata->message = (char *) GuardSafeMessage(edata);
		hidden = true;
	}
	/*
	 * the text of a statement that user code ran (a trigger's EXECUTE of
	 * SQL it built with the row's values): PostgreSQL writes it to the log
	 * as QUERY whatever hide_stmt and hide_ctx say, and sends it to the
	 * client
	 */
	if (messages && edata->internalquery != NULL)
	{
		edata->internalquery = NULL;
		edata->internalpos = 0;
		hidden = true;
	}
	/* a hint of user code can quote a value too (RAISE ... USING HINT) */
	if (edata->hint != NULL)
	{
		edata->hint = NULL;
		hidden = true;
	}
	if (hidden && edata->elevel >= ERROR)
		edata->hint = pstrdup(GUARD_HIDDEN_HINT);
}

/*
 * user_function / policy_user_code_walker
 *		True when the expression calls something that is not PostgreSQL's
 *		own or the extension's (a function, operator, cast or I/O function
 *		of a user, a domain's check, a subquery).
 */
static bool
user_function(Oid funcid, void *context)
{
	if (funcid < FirstNormalObjectId)
		return false;
	return get_func_namespace(funcid) != *(Oid *) context;
}

static bool
policy_user_code_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, SubLink) || IsA(node, CoerceToDomain) || IsA(node, Query))
		return true;
	if (check_functions_in_node(node, user_function, context))
		return true;
	return expression_tree_walker(node, policy_user_code_walker, context);
}

/*
 * check_read_tables
 *		Before a statement the extension runs in a frame (not the user code
 *		it calls): a table it reads that belongs to another role and whose
 *		row-level security applies to the frame's role would run that
 *		role's policies with the frame's rights.  Policies made only of
 *		PostgreSQL's and the extension's functions (protect()'s) are
 *		harmless; any other refuses the statement before it runs.
 */
static void
check_read_table(Oid relid, Oid me)
{
	HeapTuple	tup;
	Form_pg_class cls;
	bool		rls;
	Oid			owner;
	Relation	rel;
	ListCell   *pc;
	bool		bad = false;
	Oid			ours;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		return;
	cls = (Form_pg_class) GETSTRUCT(tup);
	rls = cls->relrowsecurity;
	owner = cls->relowner;
	ReleaseSysCache(tup);
	if (!rls || owner == me || check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED)
		return;
	ours = get_namespace_oid("privacy", true);
	rel = RelationIdGetRelation(relid);
	if (rel == NULL)
		return;
	if (rel->rd_rsdesc)
		foreach(pc, rel->rd_rsdesc->policies)
		{
			RowSecurityPolicy *pol = lfirst(pc);

			if (policy_user_code_walker((Node *) pol->qual, &ours) ||
				policy_user_code_walker((Node *) pol->with_check_qual, &ours))
			{
				bad = true;
				break;
			}
		}
	RelationClose(rel);
	if (bad)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the row-level security policies of table \"%s\" would run as another role",
						get_rel_name(relid)),
				 errdetail("The extension reads it as the owner of another table of the data map, and a policy of its owner calls functions that are not PostgreSQL's."),
				 errhint("Give the tables of the data map one owner, or make the policies of this table apply only to roles that own no table of the map.")));
}

static void
check_read_tables(QueryDesc *qd)
{
	ListCell   *lc;
	Bitmapset  *children = NULL;

	if (qd->plannedstmt == NULL)
		return;
	/*
	 * A partition or inheritance child read through its parent: PostgreSQL
	 * applies only the parent's policies (the table the statement names),
	 * never the child's own, so they cannot run.  (A child of a UNION ALL,
	 * whose parent is a subquery, is read as itself: its policies apply.)
	 */
	foreach(lc, qd->plannedstmt->appendRelations)
	{
		AppendRelInfo *ai = lfirst(lc);
		RangeTblEntry *parent = rt_fetch(ai->parent_relid, qd->plannedstmt->rtable);

		if (parent->rtekind == RTE_RELATION)
			children = bms_add_member(children, ai->child_relid);
	}
	foreach(lc, qd->plannedstmt->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_RELATION && !bms_is_member(foreach_current_index(lc) + 1, children))
			check_read_table(rte->relid, GetUserId());
	}
}

/*
 * Planning a statement evaluates code of the tables it reads: the parts of
 * their index expressions and predicates, of their extended statistics'
 * expressions, partition keys, CHECK constraints (constraint exclusion)
 * and row-level security policies that call a function with constant
 * arguments (eval_const_expressions), as the role that plans.  A
 * statement of the extension in a frame that reads a table of another
 * role (the path of a row to its subject's key, in breach_report and
 * retention's hold filter; a referenced table's rows, in access) would run
 * that role's code as the frame's role: a superuser's, when a superuser
 * owns a table of the map next to a table owner's.
 */

/* the language of function funcid is SQL (its body may be inlined and folded) */
static bool
sql_function(Oid funcid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	bool		sql = false;

	if (HeapTupleIsValid(tup))
	{
		sql = ((Form_pg_proc) GETSTRUCT(tup))->prolang == SQLlanguageId;
		ReleaseSysCache(tup);
	}
	return sql;
}

static bool
user_sql_function(Oid funcid, void *context)
{
	return user_function(funcid, context) && sql_function(funcid);
}

/*
 * folds_user_code
 *		True when the planner may run a user's function found in the
 *		expression: one whose arguments hold no column (folded to a
 *		constant), or an SQL function (inlined, its body folded).
 */
static bool
folds_user_code(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query) || IsA(node, SubLink))
		return true;
	if (check_functions_in_node(node, user_function, context) &&
		(!contain_var_clause(node) || check_functions_in_node(node, user_sql_function, context)))
		return true;
	return expression_tree_walker(node, folds_user_code, context);
}

/* the planned code of one table of another role: refused, or run now as its owner */
static void
prepare_foreign_table(Relation rel, List **opened)
{
	Oid			ours = get_namespace_oid("privacy", true);
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	ListCell   *lc;
	const char *what = NULL;
	int			frame;

	/* evaluated anew by every planning: refused when they would run user code */
	foreach(lc, RelationGetStatExtList(rel))
	{
		HeapTuple	tup = SearchSysCache1(STATEXTOID, ObjectIdGetDatum(lfirst_oid(lc)));
		bool		isnull;
		Datum		d;

		if (!HeapTupleIsValid(tup))
			continue;
		d = SysCacheGetAttr(STATEXTOID, tup, Anum_pg_statistic_ext_stxexprs, &isnull);
		if (!isnull && folds_user_code(stringToNode(TextDatumGetCString(d)), &ours))
			what = "extended statistics";
		ReleaseSysCache(tup);
	}
	for (int i = 0; constr != NULL && i < constr->num_check && what == NULL; i++)
		if (folds_user_code(stringToNode(constr->check[i].ccbin), &ours))
			what = "CHECK constraints";
	if (what != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the %s of table \"%s\" would run a function as another role",
						what, RelationGetRelationName(rel)),
				 errdetail("The extension reads the table as the owner of another table of the data map, and planning the statement calls the functions of those expressions whose arguments are constants."),
				 errhint("Give the tables of the data map one owner, or give the functions a column as argument.")));
	/*
	 * computed once, kept by the relation cache: computed now, as the
	 * table's owner, restricted, and kept (the relations stay open until
	 * the statement is planned, so that no invalidation recomputes them)
	 */
	frame = GuardEnterTableOwner(RelationGetRelid(rel));
	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		(void) RelationGetPartitionKey(rel);
	foreach(lc, RelationGetIndexList(rel))
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);

		*opened = lappend(*opened, idx);
		(void) RelationGetIndexExpressions(idx);
		(void) RelationGetIndexPredicate(idx);
	}
	GuardLeave(frame);
}

/* the relations a query reads, sub-queries included */
static bool
query_relations(Node *node, List **rels)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION)
			*rels = list_append_unique_oid(*rels, rte->relid);
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, query_relations, rels, QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, query_relations, rels);
}

/*
 * prepare_foreign_reads
 *		Before the planner plans a statement the extension runs in a frame:
 *		the tables of other roles it reads (their partitions included) are
 *		checked (row-level security, check_read_table) and prepared
 *		(prepare_foreign_table).  Returns the relations to close once the
 *		statement is planned.
 */
static List *
prepare_foreign_reads(Query *parse)
{
	List	   *rels = NIL;
	List	   *opened = NIL;
	ListCell   *lc;
	Oid			me = GetUserId();
	Oid			ours = get_namespace_oid("privacy", true);

	(void) query_relations((Node *) parse, &rels);
	foreach(lc, rels)
	{
		Oid			relid = lfirst_oid(lc);
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		Form_pg_class cls;
		bool		foreign;
		List	   *members;
		ListCell   *mc;

		if (!HeapTupleIsValid(tup))
			continue;
		cls = (Form_pg_class) GETSTRUCT(tup);
		foreign = cls->relowner != me && cls->relnamespace != PG_CATALOG_NAMESPACE &&
			cls->relnamespace != ours;
		ReleaseSysCache(tup);
		if (!foreign)
			continue;
		check_read_table(relid, me);
		members = has_subclass(relid) ? find_all_inheritors(relid, AccessShareLock, NULL)
			: list_make1_oid(relid);
		foreach(mc, members)
		{
			Relation	rel = try_relation_open(lfirst_oid(mc), AccessShareLock);

			if (rel == NULL)
				continue;
			opened = lappend(opened, rel);
			if (rel->rd_rel->relowner != me)
				prepare_foreign_table(rel, &opened);
		}
	}
	return opened;
}

static PlannedStmt *
guard_planner(Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams)
{
	List	   *opened = NIL;
	PlannedStmt *result;

	/* a statement of the extension's own, in the innermost frame */
	if (depth > 0 && frames[depth - 1].level == exec_level + 1 &&
		frames[depth - 1].role == GetUserId())
		opened = prepare_foreign_reads(parse);
	if (prev_planner)
		result = prev_planner(parse, query_string, cursorOptions, boundParams);
	else
		result = standard_planner(parse, query_string, cursorOptions, boundParams);
	/* (on an error, the end of the (sub)transaction closes them) */
	for (int i = list_length(opened) - 1; i >= 0; i--)
		relation_close(list_nth(opened, i), NoLock);
	return result;
}

/* one table a statement changes, directly or through a foreign-key action */
typedef struct CascadeStep
{
	Oid			relid;
	bool		del;			/* DELETE, else UPDATE */
	Bitmapset  *cols;			/* UPDATE: attnums changed (NULL: any) */
} CascadeStep;

/*
 * action_of
 *		The foreign-key action of trigger function foid that a DELETE (del)
 *		or an UPDATE of rel runs on the referencing table: 'd' (its rows
 *		deleted), 'u' (updated), 0 (none: a check, or the other event).
 */
static char
action_of(Oid foid, bool del)
{
	switch (foid)
	{
		case F_RI_FKEY_CASCADE_DEL:
			return del ? 'd' : 0;
		case F_RI_FKEY_SETNULL_DEL:
		case F_RI_FKEY_SETDEFAULT_DEL:
			return del ? 'u' : 0;
		case F_RI_FKEY_CASCADE_UPD:
		case F_RI_FKEY_SETNULL_UPD:
		case F_RI_FKEY_SETDEFAULT_UPD:
			return del ? 0 : 'u';
		default:
			return 0;
	}
}

/* attnums of an int2[] column of pg_constraint (conkey, confkey) */
static Bitmapset *
constraint_cols(HeapTuple tup, AttrNumber attnum)
{
	bool		isnull;
	Datum		d = SysCacheGetAttr(CONSTROID, tup, attnum, &isnull);
	Bitmapset  *cols = NULL;
	Datum	   *elems;
	int			n;

	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(d), INT2OID, 2, true, TYPALIGN_SHORT,
					  &elems, NULL, &n);
	for (int i = 0; i < n; i++)
		cols = bms_add_member(cols, DatumGetInt16(elems[i]));
	return cols;
}

/*
 * check_cascades
 *		Before a DELETE or UPDATE the extension runs in a frame (not the user
 *		code it calls).  PostgreSQL's foreign-key actions (ON DELETE CASCADE,
 *		SET NULL, SET DEFAULT; ON UPDATE ...) change the referencing tables
 *		as their owners, but they queue those tables' AFTER triggers, row
 *		and statement level, to the end of the statement that set them off,
 *		which fires them as that statement's role: an AFTER STATEMENT trigger
 *		even when the action changed no row (the extension deletes the
 *		referencing rows first).  A table of another role with a trigger of
 *		a user's function that would so run as the frame's role, at any
 *		depth of the actions, refuses the statement (42501) before it runs.
 */
static void cascade_walk(List *work, int nseeds, Oid me);

static void
check_cascades(QueryDesc *qd)
{
	List	   *work = NIL;
	ListCell   *lc;

	if ((qd->operation != CMD_DELETE && qd->operation != CMD_UPDATE) || qd->estate == NULL)
		return;
	foreach(lc, qd->estate->es_opened_result_relations)
	{
		ResultRelInfo *rri = lfirst(lc);
		CascadeStep *s = palloc0(sizeof(CascadeStep));

		s->relid = RelationGetRelid(rri->ri_RelationDesc);
		s->del = qd->operation == CMD_DELETE;
		if (!s->del)
		{
			Bitmapset  *upd = ExecGetUpdatedCols(rri, qd->estate);
			int			x = -1;

			while ((x = bms_next_member(upd, x)) >= 0)
				s->cols = bms_add_member(s->cols, x + FirstLowInvalidHeapAttributeNumber);
		}
		work = lappend(work, s);
	}
	cascade_walk(work, list_length(work), GetUserId());
}

/*
 * GuardCheckCascades
 *		What check_cascades would say of a DELETE of relid (its partitions
 *		included) by its owner: erase's dry run predicts the refusal of the
 *		statement it does not run.
 */
void
GuardCheckCascades(Oid relid)
{
	List	   *work = NIL;
	List	   *rels = find_all_inheritors(relid, AccessShareLock, NULL);
	ListCell   *lc;
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		return;
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	foreach(lc, rels)
	{
		CascadeStep *s = palloc0(sizeof(CascadeStep));

		s->relid = lfirst_oid(lc);
		s->del = true;
		work = lappend(work, s);
	}
	cascade_walk(work, list_length(work), owner);
}

/* breadth first over the actions from the first nseeds steps of work; a table counts once per event */
static void
cascade_walk(List *work, int nseeds, Oid me)
{
	Oid			ours = InvalidOid;
	List	   *deleted = NIL;	/* tables seen deleted from */
	List	   *updated = NIL;	/* CascadeStep: tables seen updated, their columns */
	ListCell   *lc;

	foreach(lc, work)
	{
		CascadeStep *s = lfirst(lc);
		Relation	rel;
		TriggerDesc *td;
		bool		again = false;
		ListCell   *uc;

		if (s->del)
		{
			if (list_member_oid(deleted, s->relid))
				continue;
			deleted = lappend_oid(deleted, s->relid);
		}
		else
		{
			/* seen: again only with columns not seen (they only grow) */
			foreach(uc, updated)
			{
				CascadeStep *u = lfirst(uc);

				if (u->relid != s->relid)
					continue;
				again = true;
				if (u->cols == NULL || (s->cols != NULL && bms_is_subset(s->cols, u->cols)))
					s = NULL;
				else if (s->cols == NULL)
					u->cols = NULL;
				else
				{
					u->cols = bms_union(u->cols, s->cols);
					s->cols = u->cols;
				}
				break;
			}
			if (s == NULL)
				continue;
			if (!again)
				updated = lappend(updated, s);
		}
		rel = try_relation_open(s->relid, AccessShareLock);
		if (rel == NULL)
			continue;
		td = rel->trigdesc;
		/* a table an action changes: its AFTER triggers run as me */
		if (foreach_current_index(lc) >= nseeds &&
			td != NULL && rel->rd_rel->relowner != me)
		{
			if (!OidIsValid(ours))
				ours = get_namespace_oid("privacy", true);
			for (int i = 0; i < td->numtriggers; i++)
			{
				Trigger    *tg = &td->triggers[i];

				if (tg->tgenabled == TRIGGER_DISABLED || !TRIGGER_FOR_AFTER(tg->tgtype) ||
					!(s->del ? TRIGGER_FOR_DELETE(tg->tgtype) : TRIGGER_FOR_UPDATE(tg->tgtype)) ||
					tg->tgfoid < FirstNormalObjectId || get_func_namespace(tg->tgfoid) == ours)
					continue;
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("trigger \"%s\" of table \"%s\" would run as another role",
								tg->tgname, RelationGetRelationName(rel)),
						 errdetail("A foreign-key action changes this table while the extension changes a table of another owner, and PostgreSQL fires the trigger at the end of that statement as the other table's owner, not as this table's."),
						 errhint("Give the tables one owner, or make the trigger a BEFORE trigger (those run as their table's owner).")));
			}
		}
		/* the actions of the foreign keys into it */
		for (int i = 0; td != NULL && i < td->numtriggers; i++)
		{
			Trigger    *tg = &td->triggers[i];
			char		act = action_of(tg->tgfoid, s->del);
			HeapTuple	con;
			Bitmapset  *fkcols = NULL;
			bool		fires = true;
			List	   *rels;
			ListCell   *rc;

			if (act == 0 || tg->tgenabled == TRIGGER_DISABLED || !OidIsValid(tg->tgconstrrelid))
				continue;
			con = SearchSysCache1(CONSTROID, ObjectIdGetDatum(tg->tgconstraint));
			if (HeapTupleIsValid(con))
			{
				/* an UPDATE sets the action off only when it changes a referenced column */
				if (!s->del && s->cols != NULL)
				{
					Bitmapset  *refd = constraint_cols(con, Anum_pg_constraint_confkey);

					fires = refd == NULL || bms_overlap(refd, s->cols);
				}
				fkcols = constraint_cols(con, Anum_pg_constraint_conkey);
				ReleaseSysCache(con);
			}
			if (!fires)
				continue;
			rels = find_all_inheritors(tg->tgconstrrelid, AccessShareLock, NULL);
			foreach(rc, rels)
			{
				CascadeStep *n = palloc0(sizeof(CascadeStep));

				n->relid = lfirst_oid(rc);
				n->del = act == 'd';
				n->cols = act == 'd' ? NULL : fkcols;
				work = lappend(work, n);
			}
		}
		relation_close(rel, AccessShareLock);
	}
}

#if PG_VERSION_NUM >= 180000
static void
guard_executor_run(QueryDesc *queryDesc, ScanDirection direction, uint64 count)
#else
static void
guard_executor_run(QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once)
#endif
{
	/* a statement of the extension's own, in the innermost frame */
	if (depth > 0 && frames[depth - 1].level == exec_level + 1 &&
		frames[depth - 1].role == GetUserId())
	{
		check_read_tables(queryDesc);
		check_cascades(queryDesc);
	}
	exec_level++;
	PG_TRY();
	{
#if PG_VERSION_NUM >= 180000
		if (prev_executor_run)
			prev_executor_run(queryDesc, direction, count);
		else
			standard_ExecutorRun(queryDesc, direction, count);
#else
		if (prev_executor_run)
			prev_executor_run(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
#endif
	}
	PG_FINALLY();
	{
		exec_level--;
	}
	PG_END_TRY();
}

static void
guard_executor_finish(QueryDesc *queryDesc)
{
	exec_level++;
	PG_TRY();
	{
		if (prev_executor_finish)
			prev_executor_finish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		exec_level--;
	}
	PG_END_TRY();
}

/*
 * GuardInit
 *		Install the log hook (_PG_init).  The transaction callbacks are
 *		registered on first use.
 */
void
GuardInit(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = guard_emit_log_hook;
	prev_executor_run = ExecutorRun_hook;
	ExecutorRun_hook = guard_executor_run;
	prev_executor_finish = ExecutorFinish_hook;
	ExecutorFinish_hook = guard_executor_finish;
	prev_planner = planner_hook;
	planner_hook = guard_planner;
}

static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(guard_xact_callback, NULL);
	RegisterSubXactCallback(guard_subxact_callback, NULL);
	callbacks_registered = true;
}

/*
 * GuardQuietLogging
 *		For the current GUC nest level (a SECURITY DEFINER function's own
 *		level: undone when it returns; otherwise the transaction's):
 *		auto_explain logs none of our statements (their plans show
 *		parameter values).  For the rest of the transaction, errors are
 *		logged without statement or context (see the log hook).
 *		With Citus: its fast-path router planner is off for our statements,
 *		because it writes the value of a parameter compared with the
 *		distribution column (the subject's key) into the statement text
 *		it sends to the worker (pg_stat_activity, the worker's log); the
 *		router planner sends it as a parameter.
 */
void
GuardQuietLogging(void)
{
	const char *fast_path;

	register_callbacks();
	quiet_xact = true;
	if (GetConfigOption("auto_explain.log_min_duration", true, false) != NULL)
		(void) set_config_option("auto_explain.log_min_duration", "-1",
								 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, DEBUG1, false);
	/* set once: nested frames (one per row in places) find it off */
	fast_path = GetConfigOption("citus.enable_fast_path_router_planner", true, false);
	if (fast_path != NULL && strcmp(fast_path, "off") != 0)
		(void) set_config_option("citus.enable_fast_path_router_planner", "off",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, DEBUG1, false);
}

/*
 * path_of
 *		search_path from one pg_db_role_setting row, or NULL.
 */
static char *
path_of(Relation rel, HeapTuple tup)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, Anum_pg_db_role_setting_setconfig,
								 RelationGetDescr(rel), &isnull);
	char	   *result = NULL;
	ArrayType  *a;
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	if (isnull)
		return NULL;
	a = DatumGetArrayTypeP(d);
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		char	   *s;

		if (nulls[i])
			continue;
		s = TextDatumGetCString(elems[i]);
		if (pg_strncasecmp(s, "search_path=", 12) == 0)
			result = pstrdup(s + 12);
	}
	return result;
}

/*
 * setting_from
 *		search_path from the pg_db_role_setting row of (dbid, role), or
 *		NULL (one index lookup).
 */
static char *
setting_from(Relation rel, Oid dbid, Oid role)
{
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *result = NULL;

	ScanKeyInit(&keys[0], Anum_pg_db_role_setting_setdatabase, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(dbid));
	ScanKeyInit(&keys[1], Anum_pg_db_role_setting_setrole, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(role));
	scan = systable_beginscan(rel, DbRoleSettingDatidRolidIndexId, true, NULL, 2, keys);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		result = path_of(rel, tup);
	systable_endscan(scan);
	return result;
}

/*
 * role_paths
 *		The search_path settings that apply to role in this database:
 *		found[0] ALTER ROLE ... IN DATABASE, found[1] ALTER ROLE,
 *		found[2] ALTER DATABASE (NULL: not set).  pg_db_role_setting
 *		usually fits in one block: then one heap scan reads it, instead of
 *		three index lookups (each opens the index and descends it); a
 *		larger catalog is read by the three lookups.
 */
static void
role_paths(Relation rel, Oid role, char **found)
{
	SysScanDesc scan;
	HeapTuple	tup;

	found[0] = found[1] = found[2] = NULL;
	if (RelationGetNumberOfBlocks(rel) > 1)
	{
		found[0] = setting_from(rel, MyDatabaseId, role);
		found[1] = setting_from(rel, InvalidOid, role);
		found[2] = setting_from(rel, MyDatabaseId, InvalidOid);
		return;
	}
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_db_role_setting s = (Form_pg_db_role_setting) GETSTRUCT(tup);

		if (s->setdatabase == MyDatabaseId && s->setrole == role)
			found[0] = path_of(rel, tup);
		else if (s->setdatabase == InvalidOid && s->setrole == role)
			found[1] = path_of(rel, tup);
		else if (s->setdatabase == MyDatabaseId && s->setrole == InvalidOid)
			found[2] = path_of(rel, tup);
	}
	systable_endscan(scan);
}

/*
 * owner_search_path
 *		The search_path a session of role in this database starts with:
 *		ALTER ROLE ... IN DATABASE, then ALTER ROLE, then ALTER DATABASE,
 *		else the built-in default.  pg_temp goes last unless named, so a
 *		caller's temporary objects never shadow the owner's.
 */
static char *
owner_search_path(Oid role)
{
	ListCell   *lc;
	Relation	rel;
	char	   *path;
	char	   *found[3];
	MemoryContext old;
	OwnerPath  *op;

	foreach(lc, owner_paths)
	{
		op = lfirst(lc);
		if (op->role == role)
			return op->path;
	}
	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	role_paths(rel, role, found);
	table_close(rel, AccessShareLock);
	path = found[0] ? found[0] : found[1] ? found[1] : found[2];
	if (path == NULL)
		path = "\"$user\", public";
	old = MemoryContextSwitchTo(TopTransactionContext);
	op = palloc(sizeof(OwnerPath));
	op->role = role;
	if (strstr(path, "pg_temp") != NULL)
		op->path = pstrdup(path);
	else if (path[0] == '\0' || strcmp(path, "\"\"") == 0)
		op->path = pstrdup("pg_temp");
	else
		op->path = psprintf("%s, pg_temp", path);
	owner_paths = lappend(owner_paths, op);
	MemoryContextSwitchTo(old);
	return op->path;
}

/*
 * enter
 *		Push a frame: save identity and GUC level, switch, set the path.
 */
static int
enter(Oid role, int secflags, const char *path)
{
	GuardFrame *f;
	int			frame;

	register_callbacks();
	if (depth >= GUARD_MAX_FRAMES)
		elog(ERROR, "privacy guard frames nested too deeply");
	frame = depth;
	f = &frames[depth++];
	GetUserIdAndSecContext(&f->save_userid, &f->save_sec_context);
	f->subid = GetCurrentSubTransactionId();
	f->bypass = false;
	f->level = exec_level + 1;
	f->role = role;
	f->save_nestlevel = NewGUCNestLevel();
	f->save_query = debug_query_string;
	SetUserIdAndSecContext(role, f->save_sec_context | secflags);
	debug_query_string = hidden_query;
	(void) set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	GuardQuietLogging();
	return frame;
}

/*
 * GuardEnterRole / GuardEnterTableOwner
 *		Run user code as role (the owner of relid), restricted, with the
 *		owner's own search_path.
 */
int
GuardEnterRole(Oid role)
{
	char	   *path = owner_search_path(role);

	/*
	 * SECURITY_NOFORCE_RLS, as PostgreSQL's own foreign-key checks: the
	 * owner's FORCE ROW LEVEL SECURITY (a tenant isolation policy keyed on
	 * a setting) does not hide the subject's rows from the extension's
	 * statements, which act for the subject on every row of the table.
	 * The owner's code sees no more than the owner would without FORCE.
	 */
	return enter(role, SECURITY_RESTRICTED_OPERATION | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS,
				 path);
}

int
GuardEnterTableOwner(Oid relid)
{
	return GuardEnterRole(UtilRelationOwner(relid));
}

/*
 * GuardEnterPinned / GuardEnterExtensionOwner
 *		Catalog work as role (the extension owner), search_path pinned.
 */
int
GuardEnterPinned(Oid role, int secflags)
{
	return enter(role, secflags | SECURITY_LOCAL_USERID_CHANGE, "pg_catalog, pg_temp");
}

int
GuardEnterExtensionOwner(void)
{
	register_callbacks();
	if (!OidIsValid(ext_owner) || ext_owner_lxid != CompatMyLocalXid() ||
		ext_owner_cid != GetCurrentCommandId(false))
	{
		ext_owner = InvalidOid;
		ext_owner = UtilExtensionOwner();
		ext_owner_lxid = CompatMyLocalXid();
		ext_owner_cid = GetCurrentCommandId(false);
	}
	return GuardEnterPinned(ext_owner, 0);
}

/*
 * GuardLeave
 *		Pop frame and every frame above it, restoring what frame saved.  A
 *		frame already dropped by an aborted subtransaction is ignored.
 */
void
GuardLeave(int frame)
{
	GuardFrame *f;

	if (frame < 0 || frame >= depth)
		return;
	f = &frames[frame];
	AtEOXact_GUC(false, f->save_nestlevel);
	SetUserIdAndSecContext(f->save_userid, f->save_sec_context);
	debug_query_string = f->save_query;
	depth = frame;
}

int
GuardDepth(void)
{
	return depth;
}

/*
 * GuardSetRowSecurityBypass / GuardRowSecurityBypassed
 *		The bypass belongs to the innermost frame (none: nothing to set) and
 *		holds only for the statements the extension runs next, at the
 *		executor level one below the current one, as the frame's role: not
 *		for the user code those statements call (a trigger's query, a
 *		function of a policy, a SECURITY DEFINER function of another role),
 *		which runs deeper or as another role.
 */
void
GuardSetRowSecurityBypass(bool on)
{
	if (depth > 0)
	{
		frames[depth - 1].bypass = on;
		frames[depth - 1].bypass_level = exec_level + 1;
		frames[depth - 1].bypass_role = GetUserId();
	}
}

bool
GuardRowSecurityBypassed(void)
{
	GuardFrame *f;

	if (depth == 0)
		return false;
	f = &frames[depth - 1];
	return f->bypass && exec_level == f->bypass_level && GetUserId() == f->bypass_role;
}

/*
 * GuardPseudonymScopeBegin
 *		Open the scope of one erasure's rewrite; returns its token (32 hex
 *		characters), to be written into the rewrite statement only.
 */
const char *
GuardPseudonymScopeBegin(void)
{
	unsigned char raw[GUARD_TOKEN_BYTES];

	register_callbacks();
	if (sodium_init() < 0)
		elog(ERROR, "libsodium could not be initialised");
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(scope_token, sizeof(scope_token), raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	scope_open = true;
	scope_subid = GetCurrentSubTransactionId();
	return scope_token;
}

void
GuardPseudonymScopeEnd(void)
{
	close_scope();
}

const char *
GuardPseudonymToken(void)
{
	return scope_open ? scope_token : NULL;
}

/*
 * GuardPseudonymTokenValid
 *		True when a scope is open and token is its token (constant time).
 */
bool
GuardPseudonymTokenValid(const char *token)
{
	if (!scope_open || token == NULL || strlen(token) != GUARD_TOKEN_BYTES * 2)
		return false;
	return sodium_memcmp(token, scope_token, GUARD_TOKEN_BYTES * 2) == 0;
}
