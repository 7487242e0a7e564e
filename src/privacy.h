/*-------------------------------------------------------------------------
 * privacy.h
 *		Declarations shared by the modules of the privacy extension.
 *
 * One header for the whole extension: each module (map, access, erase,
 * retention worker, keys, crypto, detect, audit) exports a few functions
 * with its prefix; GUC variables are defined in privacy.c.
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_H
#define PRIVACY_H

#include "postgres.h"

#include "access/attnum.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "storage/lockdefs.h"
#include "utils/jsonb.h"
#include "utils/resowner.h"

#include "compat.h"

/*
 * The one definition of an active legal hold, for a row h of privacy.holds
 * (SQL text; erase, retention, access and the rights functions use it).
 */
#define PRIVACY_HOLD_ACTIVE \
	"h.released_at IS NULL AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())"

/* Settings, each defined by its module's *Init (called by _PG_init) */
extern bool privacy_retention_enabled;	/* retention.c: RetentionInit */
extern bool retention_extension_dropped;	/* retention.c: a worker pass found the extension dropped */
extern int	privacy_retention_naptime;
extern int	privacy_retention_batch_size;
extern int	privacy_retention_runs_max_age;
extern int	privacy_max_workers;	/* worker.c: WorkerInit */
extern char *privacy_root_key_file; /* keys.c: KeysInit */
extern char *privacy_root_key_command;
extern char *privacy_request_deadline;	/* rights.c: RightsInit; an interval */
extern bool privacy_preloaded;	/* privacy.c: in shared_preload_libraries */

/* keys.c: root keyring, loaded in _PG_init when preloaded, re-read on
 * reload by the postmaster (the assign hooks of the two settings) */
extern void KeysInit(void);
extern void KeysPreload(void);
extern void KeysAssignRootKeyFile(const char *newval, void *extra);
extern void KeysAssignRootKeyCommand(const char *newval, void *extra);
extern bool KeysRootKeyAvailable(void);
extern const unsigned char *KeysRootKey(void);
extern int32 KeysLockKey(const void *data, size_t len);

/* worker.c: its settings; registers the retention launcher (preload only) */
extern void WorkerInit(void);
extern void WorkerRegisterLauncher(void);

/* rights.c: its settings */
extern void RightsInit(void);
/* the per-subject lock an erasure takes (exclusive) and hold() (shared) */
extern void RightsLockSubject(const char *subject, const char *canon, bool exclusive);
extern void RightsAllowLinkKeyHash(int n);
extern void RightsForgetKey(const char *subject, const char *canon, bool has_holds);
extern bool RightsHasHolds(const char *subject, const char *canon);

/* util.c */
/* a guard frame (guard.h) kept across a call that switched identity */
typedef struct PrivacyUserSwitch
{
	int			frame;			/* guard frame */
} PrivacyUserSwitch;

extern Oid	UtilRelationOwner(Oid relid);
extern char *UtilQualifiedName(Oid relid);
extern char *UtilFromName(Oid relid);
extern ErrorData *UtilSubxactCaught(MemoryContext cxt, ResourceOwner owner);
/* initially deferred constraints on tables about to change: IMMEDIATE until restored */
extern List *UtilDeferredImmediate(const Oid *relids, const bool *may_update, int n);
extern void UtilDeferredRestore(List *names);
extern bool UtilAttNotNull(Oid relid, AttrNumber attnum);
extern char *UtilJsonKey(Oid relid);
extern char *UtilSubjectRef(const char *subject, const char *canonical_id);
extern void UtilKeyedHash(const char *context, const unsigned char *in, size_t inlen,
						  unsigned char *out, size_t outlen);
extern void UtilDerivedKey(const char *context, unsigned char *key);
extern void UtilSpiConnect(void);
/* one setting changed until UtilGucPop (or an error) */
extern int	UtilGucPush(const char *name, const char *value);
extern void UtilGucPop(int nest);
extern char *UtilTextArg(FunctionCallInfo fcinfo, int argno, const char *argname);
/* the longest name an index of the catalog is asked to hold (as subject ids) */
#define UTIL_MAX_INDEXED_BYTES 2000
extern void UtilCheckIndexedLength(const char *value, const char *argname);
extern Oid	UtilCatalogRelid(const char *relname);
extern Oid	UtilExtensionOwner(void);
extern bool UtilLockExtension(void);
extern Oid	UtilOuterUser(void);
/* jsonb_build.c: an object of values already serialized, copied as they are */
extern Jsonb *UtilJsonbObject(JsonbPair *pairs, int n);
extern Jsonb *UtilJsonbArray(const JsonbValue *elems, int n);
extern void UtilJsonbPairs(Jsonb *object, JsonbPair *pairs, int *n);
extern JsonbValue UtilJsonbBinary(Jsonb *jb);
extern JsonbValue UtilJsonbString(const char *s);

/* the data map (src/map_*.c; internals in src/map.h) */
typedef struct MapTable
{
	Oid			relid;
	char	   *via;			/* root, fk, link */
	int			depth;
	char	   *jsonkey;		/* format('%I.%I', schema, table) */
	char	   *cond;			/* WHERE condition on alias t, $1 = key: read it
								 * with MapTableCond (compiled on first use) */
	char	   *classified;		/* categories of the table's classified columns */
	bool		outbound;		/* referenced (not referencing) table */
	bool		anonymize;		/* erasure mode of the table */
	void	   *plan_access;	/* cached SPI plans, built on demand */
	void	   *plan_export;
	void	   *plan_extra;
	List	   *columns;		/* classified columns (MapColumn *) */
	List	   *paths;			/* the table's edges, each as a one-hop List of
								 * MapHop * (links first); NIL path: the root */
	char	   *qualname;		/* in statements: UtilFromName (ONLY when it has children) */
	char	   *label;			/* in messages: quoted schema.table */
	bool		partitioned;
	List	   *fks_in;			/* MapHop *: foreign keys into this table */
	bool		fks_loaded;
	int			order;			/* erasure order: referencing tables first */
	/* per-call key sets (map_call.c: MapCallBegin) */
	int			nneeded;		/* columns the tables below compare with */
	AttrNumber	needed[32];
	Oid			needed_type[32];	/* their base types */
	char	   *call_cond;		/* condition over $1 and key-set arrays */
	int			call_nargs;
	Oid		   *call_argtypes;
	void	   *plan_keys;		/* the table's key-set query */
	void	   *plan_call;		/* access: rows by call_cond */
	void	   *plan_lock;		/* erase: key set, rows locked FOR UPDATE */
	char	   *row_json[2];	/* access.c: a row's JSON (access, export);
								 * "" when the table has none */
	struct MapKeptPlan *kept_shared;	/* erase: count of shared rows */
	struct MapKeptPlan *kept_lock;	/* erase: advisory lock (linked table) */
	struct MapKeptPlan *kept_act;	/* erase: the DELETE or UPDATE */
} MapTable;

/*
 * One edge of the map (a foreign key, a link): the rows of rel whose cols
 * equal the pcols of a row of prel that belongs to the subject.  A link hop says that
 * rel.cols[0] holds the subject's key value.  Outbound hops (a referenced
 * table) have the same shape with the roles of the columns swapped.
 */
typedef struct MapHop
{
	Oid			rel;
	Oid			prel;
	int			ncols;
	bool		link;
	AttrNumber	cols[32];
	AttrNumber	pcols[32];
	char		deltype;		/* inbound FKs: pg_constraint.confdeltype */

	/*
	 * inbound FKs declared on some leaves of a partitioned table only (the
	 * table's key, map_walk.c): the leaves whose rows the ON DELETE action
	 * applies to (nacton of them); the other leaves have no key, their rows
	 * keep their reference.  nacton = 0: every row.
	 */
	int			nacton;
	Oid		   *acton;

	/*
	 * a link of a polymorphic column (Rails' commentable_type/_id, Django's
	 * content_type/object_id): only the rows whose column tcol holds tval
	 * (as text) are the subject's; tcol = 0: every row
	 */
	AttrNumber	tcol;
	char	   *tval;

	/*
	 * a link to another table of the map (link(..., target)): an edge of
	 * the shape of a foreign key (NO ACTION) from rel's link column to
	 * prel's one-column key, which no constraint declares; conv: the base
	 * type of that key when the link column is of another one (its value
	 * is converted to it, privacy._link_key: a value that is no key
	 * matches nothing), else 0
	 */
	bool		tlink;
	Oid			conv;

	/*
	 * inbound FKs (MapForeignKeysInto) declared into one partition of prel
	 * by columns that are not unique on prel: the leaves of that partition,
	 * whose rows are the only ones the key references (npleaves of them;
	 * 0: every row of prel).  MapHopParentLeaves restricts the parent side.
	 */
	int			npleaves;
	Oid		   *pleaves;

	/*
	 * outbound map hops into one partition of rel by columns that are not
	 * unique on rel (map_walk.c): that partition (0: none), and its tables
	 * at every level (read at load), whose rows are the only ones of rel the
	 * key references.  MapHopRelLeaves restricts the rel side.
	 */
	Oid			rpart;
	int			nrleaves;
	Oid		   *rleaves;
} MapHop;

/* " AND alias.tableoid = ANY ('{..}')" for h's pleaves / rleaves, or "" */
extern char *MapHopParentLeaves(MapHop *h, const char *alias);
extern char *MapHopRelLeaves(MapHop *h, const char *alias);

/* every foreign key into relid (partitions collapsed), as inbound hops */
extern List *MapForeignKeysInto(Oid relid);

typedef struct MapColumn
{
	char	   *name;
	AttrNumber	attnum;
	Oid			typid;
	char	   *category;
	char	   *erasure;
	bool		portable;
	bool		notnull;
} MapColumn;

/*
 * A kept SPI plan of a statement that erase builds from the map: reused
 * while the statement's text and parameter types are the same, replaced
 * otherwise; lives in the map entry's context, freed with it (map_cache.c).
 */
typedef struct MapKeptPlan
{
	char	   *sql;
	int			nargs;
	Oid		   *argtypes;
	void	   *plan;
	uintptr_t  *sig;			/* group statements: what the text was built
								 * from (MapKeptGroupSigned), or NULL */
	int			nsig;
} MapKeptPlan;

typedef struct MapSubject
{
	char	   *name;
	Oid			root;
	char	   *key_column;
	AttrNumber	key_attnum;
	Oid			key_type;
	int32		key_typmod;
	char	   *key_eq;			/* OPERATOR(schema.=): the key type's equality */
	bool		key_via_root;	/* equal keys may have other texts (a
								 * nondeterministic collation, citext, ...):
								 * the canonical text is the root row's */
	List	   *tables;			/* MapTable *, root first */
	Oid		   *index_oid;		/* MapTableIndex: open addressing, relid -> */
	int		   *index_pos;		/* position in tables (index_mask + 1 slots) */
	uint32		index_mask;
	void	   *plan_status;	/* access: the person's facts (kept plan) */
	void	   *plan_config;	/* access: the configuration facts */
	List	   *config_facts;	/* access: AccessConfigFacts *, per set of
								 * tables holding rows (in cxt) */
	struct MapKeptPlan *kept_lock;	/* erase: the root row FOR UPDATE */
	List	   *kept_groups;	/* MapKeptPlan *: statements over several
								 * tables of one owner (MapKeptGroupPlan) */
	List	   *call_order;		/* List of List of MapTable *: components of
								 * the edge graph, tables above first */
	/* cache bookkeeping (map_cache.c) */
	MemoryContext cxt;			/* everything of this entry */
	int			pins;			/* in use by the running transaction */
	bool		dead;			/* invalidated: freed once unpinned */
} MapSubject;

/*
 * MapGetSubject: the compiled map, from the per-backend cache.  The entry
 * returned is pinned until the end of the transaction: an invalidation
 * (DDL, a trigger fired by the operation's own writes) makes the next call
 * load a new entry but never frees one still in use.
 */
extern MapSubject *MapGetSubject(const char *name);
extern MapSubject *MapLockTables(MapSubject *subj, LOCKMODE mode);
/* the subject type's map lock: erasures shared, map changes exclusive */
extern void MapLockErasures(const char *name, bool exclusive);
extern MapSubject *MapLockForErasure(MapSubject *subj, LOCKMODE mode);
/* a read of the map's configuration under the latest snapshot (SPI connected) */
extern int	MapLatestQuery(const char *sql, int nargs, Oid *argtypes, Datum *values, long count);

/* a subject type and id taken from two text arguments of a rights call */
typedef struct SubjectArg
{
	MapSubject *subj;
	Datum		key;			/* the id as the root key's type */
	char	   *canon;			/* its canonical text */
	char	   *ref;			/* subject_ref */
} SubjectArg;

extern SubjectArg MapSubjectArg(FunctionCallInfo fcinfo, int subjarg, int idarg);
extern bool MapKeyTextNotCanonical(Oid type, Oid collid);
extern char *MapKeyEqOperator(Oid type);
extern Datum MapParseId(MapSubject *subj, const char *id, char **canonical);
extern void MapRefresh(const char *subject);
extern Oid	MapPartitionRoot(Oid relid);
extern void MapInvalidate(void);

/*
 * Map queries used by other modules (map_*.c).
 *
 * MapCondition: SQL boolean condition "row of alias belongs to the subject
 * whose root key is keyexpr" (keyexpr: an SQL expression of the root key's
 * type, e.g. "$1" or "h.key"); found per edge, to a fixed point, without
 * any cap.  MapKeyExprs: one scalar SQL expression per simple path giving
 * the root key of the row "alias" (several paths: a row may belong to
 * several subjects; at most 64 paths, rows reached only through a cycle
 * have none).  MapSubjectsOfTable: names of the subject types whose map
 * contains relid.
 */
extern bool MapKeysPrivate(bool on);
extern char *MapCondition(MapSubject *subj, MapTable *mt, const char *alias,
						  const char *keyexpr);
extern const char *MapTableCond(MapSubject *subj, MapTable *mt);
extern List *MapKeyExprs(MapSubject *subj, MapTable *mt, const char *alias);
extern List *MapKeyPaths(MapSubject *subj, MapTable *mt);
extern char *MapKeyExprAt(MapSubject *subj, List *path, int idx, const char *alias);
extern bool MapKeyExprIsDirect(MapSubject *subj, MapTable *mt);
extern char *MapCanonText(MapSubject *subj, const char *expr);
extern MapTable *MapFindTable(MapSubject *subj, Oid relid);
extern int	MapTableIndex(MapSubject *subj, Oid relid);	/* position in subj->tables, or -1 */
extern void MapForeignKeysIntoAll(MapSubject *subj);
extern List *MapSubjectsOfTable(Oid relid);

/*
 * Per-call key sets: MapCallBegin computes, once per rights call and top
 * down, the key columns of the subject's rows of every table that others
 * reference (cycles to a fixed point), as arrays; MapCallCondition(mt) is
 * a condition on alias "t" over $1 (the key) and those arrays, whose
 * parameters MapCallArgs gives (types in mt->call_argtypes).  Each table
 * then costs one indexed statement, whatever the depth and the number of
 * paths.  Queries run as each table's owner, row security bypassed; the
 * sets of one level of the graph are read in one statement per owner.
 * MapCallBeginLocking (erase): with the latest snapshot, the rows of the
 * tables flagged locked FOR UPDATE as their sets are read, tables above
 * first.  MapCallConditionAt: the condition on another alias, the arrays
 * numbered from $first (the caller passes MapCallArgs(call, mt)[1..]).
 */
typedef struct MapCall
{
	MapSubject *subj;
	Datum		key;
	Datum	  **sets;			/* per table (subj->tables order): one array
								 * per needed column */
} MapCall;

extern MapCall *MapCallBegin(MapSubject *subj, Datum key);
extern MapCall *MapCallBeginLocking(MapSubject *subj, Datum key, const bool *lock);
extern MapCall *MapCallBeginReading(MapSubject *subj, Datum key, bool export,
									const char *const *json, Jsonb **rows, bool *read,
									MemoryContext outer);
extern const char *MapCallCondition(MapSubject *subj, MapTable *mt);
extern char *MapCallConditionAt(MapSubject *subj, MapTable *mt, const char *alias, int first);
extern Datum *MapCallArgs(MapCall *call, MapTable *mt);
extern void MapCallEnd(MapCall *call);

/*
 * MapKeptGroupSigned: the kept plan of slot when it was built from the same
 * signature (sig[0..nsig): the statement's tables, MapGroupSig, in order;
 * everything else in its text is fixed for the life of the map entry), so
 * that a warm call builds no text; otherwise MapKeptGroupPlan of the text
 * build(arg) returns, recorded under sig.
 */
extern void *MapKeptGroupSigned(MapSubject *subj, int slot, const uintptr_t *sig, int nsig,
								int nargs, const Oid *argtypes, char *(*build) (void *arg),
								void *arg);
#define MapGroupSig(mt, flags)	((uintptr_t) (mt) | (uintptr_t) (flags))	/* flags < 8 */

/* the subject's key (keyexpr, of the root key's type) converted to the type
 * of link column att of relid: the one place ids are converted for links */
extern char *MapLinkKeyExpr(Oid relid, AttrNumber att, const char *keyexpr, Oid keytype);
extern bool MapLinkUpperToo(MapSubject *subj, Oid relid, AttrNumber att);
extern char *MapLinkFilter(MapHop *h, const char *alias);
/* column i of edge h's table, alias.col, converted for a target link */
extern char *MapHopCol(MapHop *h, const char *alias, int i);
/* "(c1, c2)" of edge h's table, each as MapHopCol */
extern char *MapHopCols(MapHop *h, const char *alias);
/* the one-column key of a link's target table (primary, else unique), or 0 */
extern AttrNumber MapTargetKey(Oid relid);
extern char *MapLinkFiltered(MapHop *h, const char *alias, char *cond);
extern char *MapLinkMatch(MapSubject *subj, Oid relid, AttrNumber att, const char *col,
						  const char *keyexpr, const char *op);
extern char *MapKeyColMatch(MapSubject *subj, Oid relid, AttrNumber att, const char *lhs,
							 const char *rhs, const char *dflt);

/* run the statements in between with jit = off (internal catalog queries) */
extern int	MapJitOff(void);
extern char *MapCallGroupArgs(MapSubject *subj, MapCall *call, MapTable *mt, Oid **types,
							  Datum **values, int *nargs, int *cap);
extern void MapCallGroupValues(MapCall *call, MapTable *mt, Oid **types, Datum **values,
							   int *nargs, int *cap);
extern int	MapNeededIndex(MapTable *mt, AttrNumber att);
extern void MapJitRestore(int nest);

/* audit.c: append one entry to the hash-chained audit log, in the caller's
 * transaction.  detail_json: a JSON object as text, or NULL.  Never pass
 * personal data or key material. */
extern void AuditAppend(const char *action, const char *subject_ref,
						const char *detail_json);

/* Where the audit chain's key comes from when a root key is loaded: keys.c
 * sets it in KeysInit (preload), so audit.c calls nothing above it.
 * key_id > 0: that key into out (false: unknown or destroyed); key_id 0:
 * find or create the key, *new_id its id (false: no root key loaded). */
typedef bool (*AuditChainKeySource) (int64 key_id, int64 *new_id, unsigned char *out);
extern void AuditSetChainKeySource(AuditChainKeySource source);

/* erase.c */
extern Jsonb *EraseSubject(MapSubject *subj, Datum key, const char *canon, const char *ref,
						   const char *reason, bool dry_run, const char *kind, bool *others_held);
extern Jsonb *EraseSubjectShared(MapSubject *subj, Datum key, const char *canon, const char *ref,
								 const char *reason, bool dry_run, bool keep_shared,
								 const char *kind);

/* access.c */
extern int64 AccessRecordRequest(MapSubject *subj, const char *kind,
								 const char *subject_ref, bool completed);

/* discover.c: sampling, shared with discover_links.c */
extern char *DiscoverSampleClause(Oid relid, int sample);
extern int	DiscoverCheckSample(FunctionCallInfo fcinfo, int argno);

#endif							/* PRIVACY_H */
