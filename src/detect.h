/*-------------------------------------------------------------------------
 * detect.h
 *		Personal-data detectors used by privacy.discover (detect.c).
 *
 * Every detector is a pure function of its input: no catalog access, no
 * allocation, no PostgreSQL state, so they can be unit-tested and reused
 * anywhere.  Values are judged whole (a free-text column that mentions an
 * e-mail address does not make the column an e-mail column).
 *-------------------------------------------------------------------------
 */
#ifndef PRIVACY_DETECT_H
#define PRIVACY_DETECT_H

#include "privacy.h"

/*
 * What a detector or the column-name dictionary recognised.  Each class maps
 * to one fideslang category key (DetectCategory); discover falls back to the
 * nearest ancestor present in privacy.categories.
 */
typedef enum DetectClass
{
	DC_NONE = 0,
	DC_EMAIL,
	DC_PHONE,
	DC_IP,
	DC_CARD,
	DC_BANK,
	DC_LOCATION,
	DC_NATIONAL_ID,
	DC_BIRTH,
	DC_NAME,
	DC_NAME_FIRST,
	DC_NAME_LAST,
	DC_ADDRESS,
	DC_POSTAL_CODE,
	DC_CITY,
	DC_PASSPORT,
	DC_CREDENTIALS,
	DC_USERNAME,
	DC_URL,
	DC_GENDER,
	DC_LOCATION_AREA,
	DC_COOKIE,
	DC_COUNT
} DetectClass;

/* bit of a class in the mask returned by DetectText */
#define DETECT_BIT(c)	(1u << (c))

/* values longer than this are never personal data of a detected kind */
#define DETECT_MAX_LEN	256

extern const char *DetectCategory(DetectClass c);

/* value detectors on text (s need not be NUL-terminated) */
extern bool DetectEmail(const char *s, int len);
extern bool DetectPhone(const char *s, int len);
extern bool DetectPhoneDigits(const char *s, int len);
extern bool DetectIPv4(const char *s, int len);
extern bool DetectIPv6(const char *s, int len);
extern bool DetectCard(const char *s, int len);
extern bool DetectIban(const char *s, int len);
extern bool DetectGpsPair(const char *s, int len);
extern bool DetectCnResidentId(const char *s, int len);
extern bool DetectUsSsn(const char *s, int len);
extern bool DetectUkNino(const char *s, int len);
extern bool DetectLuhn(const char *digits, int ndigits);

/* every detector at once: a mask of DETECT_BIT(class) */
extern uint32 DetectText(const char *s, int len);

/* numeric coordinates (a column the name calls latitude / longitude) */
extern bool DetectLatitude(double v);
extern bool DetectLongitude(double v);

/* a birth date: year >= 1900 and at least 13 years before today */
extern bool DetectBirthDate(int y, int m, int d, int ty, int tm, int td);

/*
 * Column-name dictionary (several languages), matched on normalised tokens.
 * table: the table's name (a bare "name" column is a person's name only in a
 * table whose name says it holds persons).  *axis is set to 1 for a latitude
 * name, 2 for a longitude name, 0 otherwise (may be NULL).
 */
extern DetectClass DetectColumnName(const char *column, const char *table,
									int *axis);

/* classes that have a value detector on text */
extern bool DetectHasValueDetector(DetectClass c);

#endif							/* PRIVACY_DETECT_H */
