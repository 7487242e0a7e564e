/*-------------------------------------------------------------------------
 * map.c
 *		The data map (stub: being written on main).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "privacy.h"

MapSubject *
MapGetSubject(const char *name)
{
	ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
					errmsg("subject type \"%s\" does not exist", name)));
	return NULL;
}

char *
MapCondition(MapSubject *subj, MapTable *mt, const char *alias, const char *keyexpr)
{
	return NULL;
}

List *
MapKeyExprs(MapSubject *subj, MapTable *mt, const char *alias)
{
	return NIL;
}

MapTable *
MapFindTable(MapSubject *subj, Oid relid)
{
	return NULL;
}

List *
MapSubjectsOfTable(Oid relid)
{
	return NIL;
}

char *
MapHoldFilterSQL(Oid relid, const char *alias)
{
	return NULL;
}
