/*-------------------------------------------------------------------------
 * detect.c
 *		Pure detectors of personal data in values and column names.
 *
 * Each detector judges one whole value (surrounding blanks ignored) and
 * returns true only when the value has the shape AND passes the checks that
 * real identifiers carry: Luhn and issuer prefixes for payment cards, the
 * country length table and mod-97 for IBANs, ISO 7064 mod 11-2 for Chinese
 * resident ids, the SSA rules for US SSNs, the HMRC prefix rules for UK
 * NINOs, inet_pton for IP addresses.  They allocate nothing and touch no
 * PostgreSQL state, so they are safe anywhere and cheap enough to run on
 * every sampled value.
 *
 * The column-name dictionary normalises a name into lowercase tokens (split
 * on '_', '-', '.', blanks, camelCase and letter/digit boundaries) and looks
 * tokens, and adjacent tokens joined ("first"+"name"), up in a word list
 * covering English, Spanish, French, German, Italian, Portuguese and
 * Chinese.  Modifier words ("verified", "hash", "count", ...) veto a match:
 * email_verified is a flag, not an address.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compat.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"

static const char *const class_category[DC_COUNT] = {
	[DC_NONE] = NULL,
	[DC_EMAIL] = "user.contact.email",
	[DC_PHONE] = "user.contact.phone_number",
	[DC_IP] = "user.device.ip_address",
	[DC_CARD] = "user.financial.credit_card",
	[DC_BANK] = "user.financial.bank_account",
	[DC_LOCATION] = "user.location.precise",
	[DC_NATIONAL_ID] = "user.government_id.national_identification_number",
	[DC_BIRTH] = "user.demographic.date_of_birth",
	[DC_NAME] = "user.name",
	[DC_NAME_FIRST] = "user.name.first",
	[DC_NAME_LAST] = "user.name.last",
	[DC_ADDRESS] = "user.contact.address",
	[DC_POSTAL_CODE] = "user.contact.address.postal_code",
	[DC_CITY] = "user.contact.address.city",
	[DC_PASSPORT] = "user.government_id.passport_number",
	[DC_CREDENTIALS] = "user.authorization.credentials",
	[DC_USERNAME] = "user.account.username",
	[DC_URL] = "user.contact.url",
	[DC_GENDER] = "user.demographic.gender",
	[DC_LOCATION_AREA] = "user.location.imprecise",
	[DC_COOKIE] = "user.device.cookie_id",
};

/*
 * DetectCategory
 *		The fideslang category key of a class (NULL for DC_NONE).
 */
const char *
DetectCategory(DetectClass c)
{
	if (c <= DC_NONE || c >= DC_COUNT)
		return NULL;
	return class_category[c];
}

/*
 * DetectHasValueDetector
 *		True for the classes DetectText can recognise from a text value.
 */
bool
DetectHasValueDetector(DetectClass c)
{
	switch (c)
	{
		case DC_EMAIL:
		case DC_PHONE:
		case DC_IP:
		case DC_CARD:
		case DC_BANK:
		case DC_LOCATION:
		case DC_NATIONAL_ID:
			return true;
		default:
			return false;
	}
}

/* trim ASCII blanks from both ends */
static void
trim(const char **s, int *len)
{
	while (*len > 0 && isspace((unsigned char) (*s)[0]))
	{
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && isspace((unsigned char) (*s)[*len - 1]))
		(*len)--;
}

/*
 * DetectEmail
 *		local@domain: an RFC 5322 dot-atom local part of 1..64 bytes (no
 *		leading, trailing or doubled dots), a domain of at least two labels
 *		(letters, digits, hyphens not at either end, 1..63 bytes), a top-level
 *		label of two or more letters (or an xn-- label).  Bytes >= 0x80 are
 *		accepted in both parts (internationalised addresses).
 */
bool
DetectEmail(const char *s, int len)
{
	int			at = -1;
	int			i,
				labels = 0,
				lablen = 0,
				tld_start;
	bool		tld_alpha = true;

	trim(&s, &len);
	if (len < 6 || len > 254)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] == '@')
		{
			if (at >= 0)
				return false;
			at = i;
		}
	if (at < 1 || at > 64 || at > len - 4)
		return false;
	/* local part */
	if (s[0] == '.' || s[at - 1] == '.')
		return false;
	for (i = 0; i < at; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '.' && s[i + 1] == '.')
			return false;
		if (!(isalnum(c) || c >= 0x80 || (c != 0 && strchr(".!#$%&'*+/=?^_`{|}~-", c))))
			return false;
	}
	/* domain */
	tld_start = at + 1;
	for (i = at + 1; i <= len; i++)
	{
		unsigned char c = (i < len) ? (unsigned char) s[i] : '.';

		if (c == '.')
		{
			if (lablen == 0 || lablen > 63 || s[i - 1] == '-')
				return false;
			labels++;
			lablen = 0;
			if (i < len)
			{
				tld_start = i + 1;
				tld_alpha = true;
			}
			continue;
		}
		if (!(isalnum(c) || c == '-' || c >= 0x80))
			return false;
		if (c == '-' && lablen == 0)
			return false;
		if (!(isalpha(c) || c >= 0x80))
			tld_alpha = false;
		lablen++;
	}
	if (labels < 2)
		return false;
	if (len - tld_start < 2)
		return false;
	if (!tld_alpha && !(len - tld_start > 4 && strncmp(s + tld_start, "xn--", 4) == 0))
		return false;
	return true;
}

/* copy a trimmed value into a NUL-terminated buffer; false when too long */
static bool
to_cstring(const char *s, int len, char *buf, int bufsize)
{
	trim(&s, &len);
	if (len <= 0 || len >= bufsize)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return true;
}

/* parse an optional "/prefix" suffix no larger than max; strips it */
static bool
strip_prefix_len(char *buf, int max)
{
	char	   *slash = strchr(buf, '/');
	char	   *p;
	int			n = 0;

	if (slash == NULL)
		return true;
	p = slash + 1;
	if (*p == '\0' || strlen(p) > 3)
		return false;
	for (; *p; p++)
	{
		if (!isdigit((unsigned char) *p))
			return false;
		n = n * 10 + (*p - '0');
	}
	if (n > max)
		return false;
	*slash = '\0';
	return true;
}

/*
 * DetectIPv4
 *		Dotted-quad IPv4 address (inet_pton rules: four decimal parts 0..255,
 *		no leading zeros), with an optional /prefix length.
 */
bool
DetectIPv4(const char *s, int len)
{
	char		buf[32];
	unsigned char out[4];

	if (!to_cstring(s, len, buf, sizeof(buf)) || !strip_prefix_len(buf, 32))
		return false;
	return inet_pton(AF_INET, buf, out) == 1;
}

/*
 * DetectIPv6
 *		IPv6 address as inet_pton parses it (with "::" compression and an
 *		embedded IPv4 tail), with an optional %zone and /prefix length.
 */
bool
DetectIPv6(const char *s, int len)
{
	char		buf[64];
	unsigned char out[16];
	char	   *pct;

	if (!to_cstring(s, len, buf, sizeof(buf)) || !strip_prefix_len(buf, 128))
		return false;
	if (strchr(buf, ':') == NULL)
		return false;
	pct = strchr(buf, '%');
	if (pct != NULL)
	{
		if (pct[1] == '\0')
			return false;
		*pct = '\0';
	}
	return inet_pton(AF_INET6, buf, out) == 1;
}

/*
 * DetectLuhn
 *		Luhn (mod 10) check over a string of ASCII digits.
 */
bool
DetectLuhn(const char *digits, int ndigits)
{
	int			sum = 0;
	int			i;
	bool		dbl = false;

	for (i = ndigits - 1; i >= 0; i--)
	{
		int			d = digits[i] - '0';

		if (dbl)
		{
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
		dbl = !dbl;
	}
	return sum % 10 == 0;
}

/* issuer identification ranges: prefix range on the first `width` digits */
typedef struct CardRange
{
	int			width;
	int			lo;
	int			hi;
	int			minlen;
	int			maxlen;
} CardRange;

static const CardRange card_ranges[] = {
	{1, 4, 4, 13, 19},			/* Visa */
	{2, 51, 55, 16, 16},		/* Mastercard */
	{4, 2221, 2720, 16, 16},	/* Mastercard 2-series */
	{2, 34, 34, 15, 15},		/* American Express */
	{2, 37, 37, 15, 15},
	{4, 6011, 6011, 16, 19},	/* Discover */
	{3, 644, 649, 16, 19},
	{2, 65, 65, 16, 19},
	{2, 62, 62, 16, 19},		/* UnionPay */
	{4, 3528, 3589, 16, 19},	/* JCB */
	{3, 300, 305, 14, 19},		/* Diners Club */
	{2, 36, 36, 14, 19},
	{2, 38, 39, 14, 19},
	{4, 2200, 2204, 16, 19},	/* Mir */
	{2, 50, 50, 13, 19},		/* Maestro */
	{2, 56, 69, 13, 19},
	{2, 60, 60, 16, 16},		/* RuPay */
	{2, 81, 82, 16, 16},
};

/*
 * DetectCard
 *		A payment card number: 13..19 digits, optionally grouped by single
 *		blanks or hyphens, with a known issuer prefix for its length, passing
 *		the Luhn check.  A Luhn-failing number is not a card.
 */
bool
DetectCard(const char *s, int len)
{
	char		digits[20];
	int			n = 0,
				i;
	char		sep = 0;

	trim(&s, &len);
	if (len < 13 || len > 23)
		return false;
	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c >= '0' && c <= '9')
		{
			if (n >= 19)
				return false;
			digits[n++] = c;
		}
		else if (c == ' ' || c == '-')
		{
			/* one separator kind, never doubled, never first */
			if ((sep && c != sep) || i == 0 || !isdigit((unsigned char) s[i - 1]))
				return false;
			sep = c;
		}
		else
			return false;
	}
	if (n < 13 || !isdigit((unsigned char) s[len - 1]))
		return false;
	/* all-same digits (0000 0000 0000 0000) pass Luhn but are placeholders */
	for (i = 1; i < n && digits[i] == digits[0]; i++)
		;
	if (i == n)
		return false;
	for (i = 0; i < (int) lengthof(card_ranges); i++)
	{
		const CardRange *r = &card_ranges[i];
		int			p = 0,
					k;

		for (k = 0; k < r->width; k++)
			p = p * 10 + (digits[k] - '0');
		if (p >= r->lo && p <= r->hi && n >= r->minlen && n <= r->maxlen)
			return DetectLuhn(digits, n);
	}
	return false;
}

/* IBAN lengths by country (SWIFT registry) */
static const struct
{
	char		cc[3];
	int			len;
}			iban_lengths[] = {
	{"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20},
	{"BE", 16}, {"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28},
	{"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27},
	{"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
	{"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23},
	{"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22},
	{"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30},
	{"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
	{"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19},
	{"MN", 20}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18},
	{"NO", 15}, {"OM", 23}, {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25},
	{"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24}, {"SC", 31},
	{"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23},
	{"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29},
	{"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30},
};

/*
 * DetectIban
 *		An IBAN: country code with its registered length, two check digits
 *		(02..98), alphanumeric BBAN, optionally grouped by blanks; the whole
 *		passes ISO 7064 mod 97-10 (remainder 1).
 */
bool
DetectIban(const char *s, int len)
{
	char		buf[40];
	int			n = 0,
				i,
				want = 0,
				rem = 0;

	trim(&s, &len);
	if (len < 15 || len > 42)
		return false;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == ' ')
		{
			if (i == 0 || s[i - 1] == ' ')
				return false;
			continue;
		}
		if (!isalnum(c) || n >= 34)
			return false;
		buf[n++] = toupper(c);
	}
	if (!isalpha((unsigned char) buf[0]) || !isalpha((unsigned char) buf[1]) ||
		!isdigit((unsigned char) buf[2]) || !isdigit((unsigned char) buf[3]))
		return false;
	for (i = 0; i < (int) lengthof(iban_lengths); i++)
		if (buf[0] == iban_lengths[i].cc[0] && buf[1] == iban_lengths[i].cc[1])
		{
			want = iban_lengths[i].len;
			break;
		}
	if (want == 0 || n != want)
		return false;
	i = (buf[2] - '0') * 10 + (buf[3] - '0');
	if (i < 2 || i > 98)
		return false;
	/* move the first four characters to the end, letters as 10..35 */
	for (i = 0; i < n; i++)
	{
		char		c = buf[(i + 4) % n];

		if (isdigit((unsigned char) c))
			rem = (rem * 10 + (c - '0')) % 97;
		else
			rem = (rem * 100 + (c - 'A' + 10)) % 97;
	}
	return rem == 1;
}

/*
 * parse a decimal coordinate: optional sign, 1..3 integer digits, '.', at
 * least 3 fractional digits (amounts have two)
 */
static bool
parse_coord(const char **p, const char *end, double *out)
{
	const char *q = *p;
	const char *start = q;
	int			idig = 0,
				fdig = 0;
	char		buf[32];

	if (q < end && (*q == '-' || *q == '+'))
		q++;
	while (q < end && isdigit((unsigned char) *q))
		q++, idig++;
	if (idig < 1 || idig > 3 || q >= end || *q != '.')
		return false;
	q++;
	while (q < end && isdigit((unsigned char) *q))
		q++, fdig++;
	if (fdig < 3 || fdig > 15 || q - start >= (int) sizeof(buf))
		return false;
	memcpy(buf, start, q - start);
	buf[q - start] = '\0';
	*out = strtod(buf, NULL);
	*p = q;
	return true;
}

/*
 * DetectGpsPair
 *		"lat, lon" text (optionally in parentheses or brackets): two decimal
 *		numbers with at least three fractional digits, latitude within
 *		[-90, 90], longitude within [-180, 180].
 */
bool
DetectGpsPair(const char *s, int len)
{
	const char *p,
			   *end;
	double		lat,
				lon;
	char		close = 0;

	trim(&s, &len);
	if (len < 11 || len > 64)
		return false;
	p = s;
	end = s + len;
	if (*p == '(' || *p == '[')
	{
		close = (*p == '(') ? ')' : ']';
		if (end[-1] != close)
			return false;
		p++;
		end--;
	}
	if (!parse_coord(&p, end, &lat))
		return false;
	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p != ',')
		return false;
	p++;
	while (p < end && *p == ' ')
		p++;
	if (!parse_coord(&p, end, &lon) || p != end)
		return false;
	return DetectLatitude(lat) && DetectLongitude(lon);
}

/*
 * DetectLatitude / DetectLongitude
 *		In range and not a whole number (whole degrees are not a precise
 *		location, and integer columns are rarely coordinates).
 */
bool
DetectLatitude(double v)
{
	return v >= -90.0 && v <= 90.0 && v != (double) (long) v;
}

bool
DetectLongitude(double v)
{
	return v >= -180.0 && v <= 180.0 && v != (double) (long) v;
}

static bool
valid_ymd(int y, int m, int d)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			max;

	if (m < 1 || m > 12 || d < 1)
		return false;
	max = mdays[m - 1];
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		max = 29;
	return d <= max;
}

/*
 * DetectCnResidentId
 *		18-character resident identity card number of the PRC (GB 11643):
 *		region code (first digit 1..8), a valid birth date 1900..2099, a
 *		sequence number and the ISO 7064 mod 11-2 check character (0-9, X).
 */
bool
DetectCnResidentId(const char *s, int len)
{
	static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	static const char check[] = "10X98765432";
	int			i,
				sum = 0,
				y,
				m,
				d;
	char		last;

	trim(&s, &len);
	if (len != 18)
		return false;
	for (i = 0; i < 17; i++)
	{
		if (!isdigit((unsigned char) s[i]))
			return false;
		sum += (s[i] - '0') * w[i];
	}
	if (s[0] < '1' || s[0] > '8')
		return false;
	y = (s[6] - '0') * 1000 + (s[7] - '0') * 100 + (s[8] - '0') * 10 + (s[9] - '0');
	m = (s[10] - '0') * 10 + (s[11] - '0');
	d = (s[12] - '0') * 10 + (s[13] - '0');
	if (y < 1900 || y > 2099 || !valid_ymd(y, m, d))
		return false;
	last = toupper((unsigned char) s[17]);
	return last == check[sum % 11];
}

/*
 * DetectUsSsn
 *		US social security number written AAA-GG-SSSS (hyphens or blanks):
 *		area not 000, 666 or 900-999; group not 00; serial not 0000; not the
 *		famous advertising number 078-05-1120.  Nine bare digits are not
 *		accepted: too many other numbers look like that.
 */
bool
DetectUsSsn(const char *s, int len)
{
	int			area,
				group,
				serial,
				i;

	trim(&s, &len);
	if (len != 11 || (s[3] != '-' && s[3] != ' ') || s[6] != s[3])
		return false;
	for (i = 0; i < 11; i++)
		if (i != 3 && i != 6 && !isdigit((unsigned char) s[i]))
			return false;
	area = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	group = (s[4] - '0') * 10 + (s[5] - '0');
	serial = (s[7] - '0') * 1000 + (s[8] - '0') * 100 +
		(s[9] - '0') * 10 + (s[10] - '0');
	if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0)
		return false;
	if (area == 78 && group == 5 && serial == 1120)
		return false;
	return true;
}

/*
 * DetectUkNino
 *		UK National Insurance number: two prefix letters (first not D F I Q U
 *		V, second not D F I O Q U V, not BG GB KN NK NT TN ZZ), six digits
 *		(optionally in pairs separated by blanks), suffix A-D.
 */
bool
DetectUkNino(const char *s, int len)
{
	char		b[9];
	int			n = 0,
				i;
	static const char *const bad[] = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"};

	trim(&s, &len);
	if (len < 9 || len > 13)
		return false;
	for (i = 0; i < len; i++)
	{
		if (s[i] == ' ')
			continue;
		if (n >= 9)
			return false;
		b[n++] = toupper((unsigned char) s[i]);
	}
	if (n != 9)
		return false;
	if (!isalpha((unsigned char) b[0]) || !isalpha((unsigned char) b[1]) ||
		strchr("DFIQUV", b[0]) || strchr("DFIOQUV", b[1]))
		return false;
	for (i = 0; i < (int) lengthof(bad); i++)
		if (b[0] == bad[i][0] && b[1] == bad[i][1])
			return false;
	for (i = 2; i < 8; i++)
		if (!isdigit((unsigned char) b[i]))
			return false;
	return b[8] >= 'A' && b[8] <= 'D';
}

/*
 * DetectPhone
 *		A telephone number.  International: '+', a non-zero country code and
 *		8..15 digits in all (E.164), grouped by blanks, hyphens, dots or
 *		parentheses ("+44 (0)20 7946 0958").  National: 8..12 digits grouped
 *		by those separators ("(555) 123-4567", "06 12 34 56 78",
 *		"010-12345678"), or ungrouped with a trunk prefix 0 (10..11 digits)
 *		or as a Chinese mobile number (1[3-9] + 9 digits).  Plain short
 *		integers, decimals, dates (4-2-2 / 2-2-4 groups), SSN shapes (3-2-4)
 *		and IPv4 addresses are not phone numbers.
 */
bool
DetectPhone(const char *s, int len)
{
	int			groups[16];
	int			ng = 0,
				digits = 0,
				i,
				nsep = 0,
				ndots = 0,
				parens = 0;
	bool		intl = false,
				in_paren = false,
				prev_sep = true;
	char		sep_kind = 0;
	bool		mixed_sep = false;

	trim(&s, &len);
	if (len < 8 || len > 24)
		return false;
	i = 0;
	if (s[0] == '+')
	{
		intl = true;
		i = 1;
		if (len < 2 || s[1] < '1' || s[1] > '9')
			return false;
	}
	groups[0] = 0;
	for (; i < len; i++)
	{
		char		c = s[i];

		if (c >= '0' && c <= '9')
		{
			if (prev_sep)
			{
				if (ng >= 16)
					return false;
				groups[ng++] = 0;
			}
			groups[ng - 1]++;
			digits++;
			prev_sep = false;
		}
		else if (c == '(')
		{
			if (in_paren || parens > 0)
				return false;
			in_paren = true;
			parens++;
			prev_sep = true;
		}
		else if (c == ')')
		{
			if (!in_paren || (i > 0 && s[i - 1] == '('))
				return false;
			in_paren = false;
			prev_sep = true;
		}
		else if (c == ' ' || c == '-' || c == '.')
		{
			/* no doubled separators except after ')' */
			if (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '-' || s[i - 1] == '.'))
				return false;
			if (sep_kind && sep_kind != c)
				mixed_sep = true;
			sep_kind = c;
			if (c == '.')
				ndots++;
			nsep++;
			prev_sep = true;
		}
		else
			return false;
	}
	if (in_paren || ng == 0)
		return false;
	if (intl)
		return digits >= 8 && digits <= 15;

	if (digits < 8 || digits > 12)
		return false;
	if (ng == 1)
	{
		/* ungrouped: trunk prefix 0 or a Chinese mobile number */
		if (parens > 0 || nsep > 0)
			return false;
		if (s[0] == '0' && s[1] != '0' && (digits == 10 || digits == 11))
			return true;
		if (s[0] == '1' && s[1] >= '3' && s[1] <= '9' && digits == 11)
			return true;
		return false;
	}
	/* decimals and IPv4 addresses */
	if (ndots > 0 && !mixed_sep && (ndots == 1 || DetectIPv4(s, len)))
		return false;
	/* dates and SSN shapes */
	if (ng == 3 && !mixed_sep && parens == 0)
	{
		if ((groups[0] == 4 && groups[1] == 2 && groups[2] == 2) ||
			(groups[0] == 2 && groups[1] == 2 && groups[2] == 4) ||
			(groups[0] == 3 && groups[1] == 2 && groups[2] == 4))
			return false;
	}
	/* only the first group may be a single digit (the "1" of 1-800-...) */
	for (i = 1; i < ng; i++)
		if (groups[i] < 2)
			return false;
	return true;
}

/*
 * DetectPhoneDigits
 *		An E.164 number stored without its '+': 8..15 digits, the first
 *		1..9, nothing else ("4915112345678", "14155552671"), as Supabase
 *		Auth (GoTrue) and Twilio keep them.  Any account number or id has
 *		that shape too, so discovery counts it as a phone number only in a
 *		column whose name says phone; DetectText does not call it.
 */
bool
DetectPhoneDigits(const char *s, int len)
{
	int			i;

	trim(&s, &len);
	if (len < 8 || len > 15 || s[0] < '1' || s[0] > '9')
		return false;
	for (i = 1; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/*
 * DetectText
 *		Runs every text detector on a value; returns the mask of classes it
 *		matched.
 */
uint32
DetectText(const char *s, int len)
{
	uint32		mask = 0;

	trim(&s, &len);
	/* compressed IPv6 addresses ("::1", "a::") are shorter than any other value */
	if (len < 6)
		return len >= 2 && memchr(s, ':', len) != NULL && DetectIPv6(s, len) ? DETECT_BIT(DC_IP) : 0;
	if (len > DETECT_MAX_LEN)
		return 0;
	if (memchr(s, '@', len) != NULL)
		return DetectEmail(s, len) ? DETECT_BIT(DC_EMAIL) : 0;
	if (DetectCard(s, len))
		mask |= DETECT_BIT(DC_CARD);
	if (DetectIban(s, len))
		mask |= DETECT_BIT(DC_BANK);
	if (DetectCnResidentId(s, len) || DetectUsSsn(s, len) || DetectUkNino(s, len))
		mask |= DETECT_BIT(DC_NATIONAL_ID);
	if (DetectIPv4(s, len) || DetectIPv6(s, len))
		mask |= DETECT_BIT(DC_IP);
	if (DetectGpsPair(s, len))
		mask |= DETECT_BIT(DC_LOCATION);
	if (DetectPhone(s, len))
		mask |= DETECT_BIT(DC_PHONE);
	return mask;
}

/*
 * DetectBirthDate
 *		A plausible date of birth: from 1900-01-01 up to 13 years before
 *		today (ty-tm-td), the usual minimum age of a data subject online.
 */
bool
DetectBirthDate(int y, int m, int d, int ty, int tm, int td)
{
	if (y < 1900)
		return false;
	if (y != ty - 13)
		return y < ty - 13;
	if (m != tm)
		return m < tm;
	return d <= td;
}

/* ---------------------------------------------------------------------
 * Column-name dictionary
 * ---------------------------------------------------------------------
 */

typedef struct NameWord
{
	const char *word;
	DetectClass cls;
	int			axis;			/* 1 latitude, 2 longitude */
} NameWord;

/* words and joined word pairs/triples (after lowercasing and splitting) */
static const NameWord name_words[] = {
	/* e-mail */
	{"email", DC_EMAIL}, {"emailaddress", DC_EMAIL}, {"emailaddr", DC_EMAIL},
	{"mail", DC_EMAIL}, {"correo", DC_EMAIL}, {"correoelectronico", DC_EMAIL},
	{"courriel", DC_EMAIL}, {"epost", DC_EMAIL}, {"emailadresse", DC_EMAIL},
	{"mailadresse", DC_EMAIL},
	/* phone */
	{"phone", DC_PHONE}, {"phonenumber", DC_PHONE}, {"phoneno", DC_PHONE},
	{"tel", DC_PHONE}, {"telephone", DC_PHONE}, {"telefon", DC_PHONE},
	{"telefono", DC_PHONE}, {"telefone", DC_PHONE}, {"mobile", DC_PHONE},
	{"mobil", DC_PHONE}, {"mobilenumber", DC_PHONE}, {"cell", DC_PHONE},
	{"cellphone", DC_PHONE}, {"msisdn", DC_PHONE}, {"handy", DC_PHONE},
	{"celular", DC_PHONE}, {"movil", DC_PHONE}, {"fax", DC_PHONE},
	{"telefonnummer", DC_PHONE}, {"cellulare", DC_PHONE},
	/* names */
	{"firstname", DC_NAME_FIRST}, {"givenname", DC_NAME_FIRST},
	{"forename", DC_NAME_FIRST}, {"vorname", DC_NAME_FIRST},
	{"prenom", DC_NAME_FIRST},
	{"lastname", DC_NAME_LAST}, {"surname", DC_NAME_LAST},
	{"familyname", DC_NAME_LAST}, {"nachname", DC_NAME_LAST},
	{"apellido", DC_NAME_LAST}, {"apellidos", DC_NAME_LAST},
	{"cognome", DC_NAME_LAST}, {"sobrenome", DC_NAME_LAST},
	{"fullname", DC_NAME}, {"middlename", DC_NAME},
	{"nomecompleto", DC_NAME}, {"nombrecompleto", DC_NAME},
	/* postal address */
	{"address", DC_ADDRESS}, {"addr", DC_ADDRESS}, {"street", DC_ADDRESS},
	{"streetaddress", DC_ADDRESS}, {"addressline", DC_ADDRESS},
	{"direccion", DC_ADDRESS}, {"adresse", DC_ADDRESS}, {"anschrift", DC_ADDRESS},
	{"strasse", DC_ADDRESS}, {"indirizzo", DC_ADDRESS}, {"endereco", DC_ADDRESS},
	{"calle", DC_ADDRESS}, {"rue", DC_ADDRESS},
	{"postcode", DC_POSTAL_CODE}, {"postalcode", DC_POSTAL_CODE},
	{"zip", DC_POSTAL_CODE}, {"zipcode", DC_POSTAL_CODE}, {"plz", DC_POSTAL_CODE},
	{"codigopostal", DC_POSTAL_CODE}, {"codepostal", DC_POSTAL_CODE},
	{"city", DC_CITY}, {"ciudad", DC_CITY}, {"ville", DC_CITY}, {"stadt", DC_CITY},
	{"town", DC_CITY},
	/* date of birth */
	{"birth", DC_BIRTH}, {"birthday", DC_BIRTH}, {"birthdate", DC_BIRTH},
	{"dateofbirth", DC_BIRTH}, {"dob", DC_BIRTH}, {"born", DC_BIRTH},
	{"geburtsdatum", DC_BIRTH}, {"geburtstag", DC_BIRTH},
	{"fechanacimiento", DC_BIRTH}, {"fechadenacimiento", DC_BIRTH},
	{"nacimiento", DC_BIRTH}, {"naissance", DC_BIRTH},
	{"datenaissance", DC_BIRTH}, {"datedenaissance", DC_BIRTH},
	{"datanascita", DC_BIRTH}, {"nascimento", DC_BIRTH},
	/* network */
	{"ip", DC_IP}, {"ipaddress", DC_IP}, {"ipaddr", DC_IP}, {"ipv4", DC_IP},
	{"ipv6", DC_IP}, {"remoteaddr", DC_IP}, {"remoteaddress", DC_IP},
	/* financial */
	{"iban", DC_BANK}, {"bankaccount", DC_BANK}, {"kontonummer", DC_BANK},
	{"creditcard", DC_CARD}, {"cardnumber", DC_CARD}, {"ccnumber", DC_CARD},
	{"ccnum", DC_CARD}, {"cardno", DC_CARD}, {"pan", DC_CARD},
	{"creditcardnumber", DC_CARD}, {"tarjeta", DC_CARD},
	/* government ids */
	{"ssn", DC_NATIONAL_ID}, {"socialsecurity", DC_NATIONAL_ID},
	{"socialsecuritynumber", DC_NATIONAL_ID}, {"nino", DC_NATIONAL_ID},
	{"nationalinsurance", DC_NATIONAL_ID}, {"nationalinsurancenumber", DC_NATIONAL_ID},
	{"nationalid", DC_NATIONAL_ID}, {"idcard", DC_NATIONAL_ID},
	{"dni", DC_NATIONAL_ID}, {"nif", DC_NATIONAL_ID}, {"nir", DC_NATIONAL_ID},
	{"sfz", DC_NATIONAL_ID}, {"personalausweis", DC_NATIONAL_ID},
	{"passport", DC_PASSPORT}, {"passportnumber", DC_PASSPORT},
	{"pasaporte", DC_PASSPORT}, {"reisepass", DC_PASSPORT},
	/* coordinates */
	{"latitude", DC_LOCATION, 1}, {"lat", DC_LOCATION, 1},
	{"breitengrad", DC_LOCATION, 1}, {"latitud", DC_LOCATION, 1},
	{"longitude", DC_LOCATION, 2}, {"lng", DC_LOCATION, 2},
	{"lon", DC_LOCATION, 2}, {"laengengrad", DC_LOCATION, 2},
	{"longitud", DC_LOCATION, 2},
	{"gps", DC_LOCATION}, {"coordinates", DC_LOCATION}, {"coords", DC_LOCATION},
	{"latlng", DC_LOCATION}, {"latlon", DC_LOCATION}, {"geolocation", DC_LOCATION},
	{"geoloc", DC_LOCATION},
};

/* names in scripts without word separators: matched as substrings */
static const NameWord name_substrings[] = {
	{"邮箱", DC_EMAIL}, {"电子邮件", DC_EMAIL}, {"电邮", DC_EMAIL},
	{"手机", DC_PHONE}, {"电话", DC_PHONE}, {"電話", DC_PHONE},
	{"姓名", DC_NAME}, {"名字", DC_NAME},
	{"地址", DC_ADDRESS}, {"住址", DC_ADDRESS}, {"住所", DC_ADDRESS},
	{"邮编", DC_POSTAL_CODE},
	{"出生", DC_BIRTH}, {"生日", DC_BIRTH},
	{"身份证", DC_NATIONAL_ID}, {"护照", DC_PASSPORT},
	{"纬度", DC_LOCATION, 1}, {"经度", DC_LOCATION, 2}, {"坐标", DC_LOCATION},
	{"téléphone", DC_PHONE}, {"prénom", DC_NAME_FIRST},
	{"dirección", DC_ADDRESS}, {"straße", DC_ADDRESS},
	{"teléfono", DC_PHONE}, {"längengrad", DC_LOCATION, 2},
};

/*
 * Credentials: passwords (their hashes too: a password hash can be attacked
 * offline), secrets and tokens that authenticate someone, as Rails, Django
 * and Devise name them (encrypted_password, reset_password_token,
 * otp_secret, api_key).  Matched before the veto words, which include
 * "hash", "digest" and "token" (an e-mail hash is not an e-mail); words of
 * their own say when the column is about the credential, not the credential.
 */
static const char *const credential_words[] = {
	"password", "passwd", "pwd", "passphrase", "passcode", "secret", "token",
	"apikey", "apisecret", "accesstoken", "authtoken", "privatekey", "otpsecret",
	"clientsecret", "refreshtoken", "sessiontoken", "bearertoken",
	/* an OAuth grant's code (MusicBrainz's editor_oauth_token) */
	"authorizationcode", "authcode",
	"passwort", "contrasena", "motdepasse", "senha",
};

static const char *const credential_veto_words[] = {
	"count", "cnt", "type", "status", "flag", "is", "has", "enabled", "changed",
	"updated", "sent", "expires", "expiry", "exp", "expired", "at", "date",
	"time", "length", "len", "version", "required", "policy", "strength",
	"hint", "attempts", "failed", "last", "id", "name", "kind", "scope",
	"scopes", "created", "used", "question",
};

/* modifier words: the column is about the thing, not the thing itself */
static const char *const veto_words[] = {
	"verified", "confirmed", "valid", "validated", "count", "cnt", "hash",
	"hashed", "md5", "sha", "sha1", "sha256", "digest", "type", "status",
	"flag", "is", "has", "enabled", "optin", "optout", "opt", "consent",
	"sent", "opened", "bounced", "length", "len", "format", "template",
	"domain", "provider", "prefix", "ext", "extension", "last4", "brand",
	"expiry", "exp", "expires", "token", "mask", "masked", "country",
	"allowed", "blocked", "pref", "preference", "preferences", "changed",
	"updated", "version", "server", "host", "range", "subnet", "gateway",
	"pattern", "regex", "label", "column", "field", "file", "uuid",
	/* a realm's e-mail theme (Keycloak), a newsletter's layout */
	"theme", "layout",
};

/* words that qualify a bare "name" as a person's name */
static const char *const person_words[] = {
	"customer", "user", "person", "people", "member", "employee", "staff",
	"client", "contact", "patient", "subscriber", "student", "guest",
	"passenger", "author", "owner", "holder", "cardholder", "applicant",
	"candidate", "recipient", "sender", "buyer", "seller", "driver",
	"traveler", "traveller", "visitor", "kunde", "kunden", "cliente",
	"usuario", "account", "profile", "father", "mother", "parent",
	"spouse", "child", "emergency", "beneficiary", "debtor", "payer",
	/* the people of scheduling, signing and survey schemas (cal.com's
	 * Attendee, an invite's invitee, a document's signer) */
	"attendee", "invitee", "invite", "invitation", "participant", "signer",
	"signatory", "respondent", "organizer", "organiser", "assignee",
	/* the people of wikis and community databases (MusicBrainz's editor) */
	"editor", "contributor",
};

/*
 * What a person's profile says of them, but a product's or a company's
 * too (a product's gender, a company's website, an event's location): a
 * person's only in a table of persons or after a person word
 * ("user_website"), as a bare "name" is.
 */
typedef struct PersonWord
{
	const char *word;
	DetectClass cls;
} PersonWord;

static const PersonWord person_attr_words[] = {
	{"website", DC_URL}, {"homepage", DC_URL}, {"webpage", DC_URL},
	{"webseite", DC_URL}, {"blog", DC_URL},
	{"gender", DC_GENDER}, {"sex", DC_GENDER}, {"geschlecht", DC_GENDER},
	{"sexo", DC_GENDER}, {"genero", DC_GENDER}, {"sexe", DC_GENDER},
	{"location", DC_LOCATION_AREA}, {"hometown", DC_LOCATION_AREA},
	{"residence", DC_LOCATION_AREA}, {"wohnort", DC_LOCATION_AREA},
};

/*
 * A visit's or a visitor's token (Ahoy's visit_token and visitor_token,
 * as Forem keeps them): a cookie that follows a browser, no credential.
 */
static const char *const visit_words[] = {
	"visit", "visitor", "visits", "visitors",
};

/* words that mean "name" of anything: a person's name only in context */
static const char *const bare_name_words[] = {
	"name", "names", "nombre", "nom", "nome",
};

/*
 * A person's account name (Keycloak's user_entity.username, a session's
 * login_username, a broker's broker_username).  Matched as one token only:
 * "user_name" and "userName" stay a bare "name" qualified by a person word.
 */
static const char *const username_words[] = {
	"username", "usernames", "loginname", "screenname", "nickname",
	"benutzername", "nomutilisateur",
};

/*
 * Head nouns of tables that hold things a person has, not persons: in
 * "user_attribute", "client_scope" or "user_federation_mapper" a bare "name"
 * names the attribute, the scope, the mapper (Keycloak).  A table is one of
 * persons when a person word is in its name and none of these follows it.
 */
static const char *const thing_words[] = {
	"attribute", "attr", "property", "properties", "prop", "setting", "config",
	"configuration", "option", "preference", "pref", "param", "parameter",
	"meta", "metadata", "field", "tag", "label", "note", "claim", "feature",
	"role", "permission", "privilege", "group", "scope", "mapper", "mapping",
	"policy", "policies", "template", "type", "category", "categories", "kind",
	"event", "action", "provider", "flow", "session", "token", "key",
	"credential", "device", "file", "document", "upload", "attachment",
	"image", "avatar", "list", "segment", "channel", "app", "application",
	"integration", "plan", "product", "project", "team", "organization",
	"organisation", "org", "company", "companies", "tenant", "workspace",
	"theme", "locale", "status", "level", "tier", "badge", "skill",
	"interest", "topic", "folder", "view", "filter", "report", "webhook",
	"collection", "subscription",
};

#define MAX_TOKENS 16
#define MAX_TOKLEN 48

/*
 * tokenise a name: lowercase ASCII, split on non-alphanumerics, camelCase
 * and letter/digit boundaries.  Bytes >= 0x80 stay inside tokens.
 */
static int
tokenise(const char *s, char tok[MAX_TOKENS][MAX_TOKLEN])
{
	int			n = 0,
				l = 0,
				i,
				slen = (int) strlen(s);

	for (i = 0; i <= slen; i++)
	{
		unsigned char c = (i < slen) ? (unsigned char) s[i] : 0;
		unsigned char prev = (i > 0) ? (unsigned char) s[i - 1] : 0;
		unsigned char next = (i + 1 < slen) ? (unsigned char) s[i + 1] : 0;
		bool		boundary = false,
					skip = false;

		if (c == 0 || !(isalnum(c) || c >= 0x80))
			boundary = skip = true;
		else if (l > 0)
		{
			if (isupper(c) && islower(prev))
				boundary = true;	/* firstName */
			else if (isupper(c) && isupper(prev) && islower(next))
				boundary = true;	/* IPAddress */
			else if ((isdigit(c) != 0) != (isdigit(prev) != 0) && prev < 0x80)
				boundary = true;	/* line1, ipv4 handled below */
		}
		if (boundary && l > 0)
		{
			tok[n][l] = '\0';
			/* keep "ipv4"/"ipv6"/"sha1"/"sha256" as one token */
			if (n > 0 && isdigit((unsigned char) tok[n][0]) &&
				(strcmp(tok[n - 1], "ipv") == 0 || strcmp(tok[n - 1], "sha") == 0 ||
				 strcmp(tok[n - 1], "md") == 0 || strcmp(tok[n - 1], "last") == 0))
			{
				size_t		a = strlen(tok[n - 1]),
							b = strlen(tok[n]);

				if (a + b < MAX_TOKLEN)
				{
					memmove(tok[n - 1] + a, tok[n], b);
					tok[n - 1][a + b] = '\0';
				}
			}
			else if (isdigit((unsigned char) tok[n][0]))
				;				/* drop bare numbers (address_line1) */
			else if (n < MAX_TOKENS - 1)
				n++;
			l = 0;
		}
		if (skip)
			continue;
		if (l < MAX_TOKLEN - 1)
			tok[n][l++] = (c < 0x80) ? tolower(c) : c;
	}
	return n;
}

static bool
in_list(const char *w, const char *const *list, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (strcmp(w, list[i]) == 0)
			return true;
	return false;
}

static const NameWord *
lookup_word(const char *w)
{
	int			i;

	for (i = 0; i < (int) lengthof(name_words); i++)
		if (strcmp(w, name_words[i].word) == 0)
			return &name_words[i];
	return NULL;
}

/* does a token name persons ("customers" -> "customer")? */
static bool
person_token(const char *t)
{
	char		b[MAX_TOKLEN];
	size_t		l = strlen(t);

	if (in_list(t, person_words, lengthof(person_words)))
		return true;
	if (l > 1 && t[l - 1] == 's')
	{
		memcpy(b, t, l - 1);
		b[l - 1] = '\0';
		return in_list(b, person_words, lengthof(person_words));
	}
	return false;
}

/* does a token name a thing persons have ("attributes" -> "attribute")? */
static bool
thing_token(const char *t)
{
	char		b[MAX_TOKLEN];
	size_t		l = strlen(t);

	if (in_list(t, thing_words, lengthof(thing_words)))
		return true;
	if (l > 1 && t[l - 1] == 's')
	{
		memcpy(b, t, l - 1);
		b[l - 1] = '\0';
		return in_list(b, thing_words, lengthof(thing_words));
	}
	return false;
}

/*
 * person_table
 *		A table of persons: a person word in its name and no thing word
 *		after it ("users", "user_entity", "group_members", not
 *		"user_attribute" nor "client_scope").
 */
static bool
person_table(const char *table)
{
	char		ttok[MAX_TOKENS][MAX_TOKLEN];
	int			tn,
				j;
	bool		person = false;

	if (table == NULL)
		return false;
	tn = tokenise(table, ttok);
	for (j = 0; j < tn; j++)
	{
		if (person_token(ttok[j]))
			person = true;
		else if (thing_token(ttok[j]))
			person = false;
	}
	return person || strstr(table, "用户") || strstr(table, "客户");
}

/*
 * DetectColumnName
 *		The class a column name announces, or DC_NONE.  Longest joined match
 *		first ("ip_address" is an IP address, not a postal address); a veto
 *		word anywhere cancels the match; an account name ("username") is one
 *		token of its own; a bare "name" counts only with a person qualifier
 *		("customer_name") or in a table of persons: a person word in the
 *		table's name with no thing word after it ("users", "user_entity",
 *		"group_members", not "user_attribute" nor "client_scope").
 */
DetectClass
DetectColumnName(const char *column, const char *table, int *axis)
{
	char		tok[MAX_TOKENS][MAX_TOKLEN];
	char		joined[3 * MAX_TOKLEN];
	int			n,
				i,
				k;
	const NameWord *found = NULL;

	if (axis)
		*axis = 0;
	if (column == NULL)
		return DC_NONE;
	n = tokenise(column, tok);

	/* a visit's or visitor's token or cookie: a cookie id (visitor_token) */
	for (i = 0; i + 1 < n; i++)
		if (in_list(tok[i], visit_words, lengthof(visit_words)) &&
			(strcmp(tok[i + 1], "token") == 0 || strcmp(tok[i + 1], "cookie") == 0))
			return DC_COOKIE;

	/* credentials, before the veto words (password_hash, auth_token) */
	{
		bool		cred = false,
					veto = false;

		for (i = 0; i < n; i++)
		{
			if (in_list(tok[i], credential_veto_words, lengthof(credential_veto_words)))
				veto = true;
			if (in_list(tok[i], credential_words, lengthof(credential_words)))
				cred = true;
			else if (i + 1 < n && strlen(tok[i]) + strlen(tok[i + 1]) < sizeof(joined))
			{
				snprintf(joined, sizeof(joined), "%s%s", tok[i], tok[i + 1]);
				if (in_list(joined, credential_words, lengthof(credential_words)))
					cred = true;
			}
		}
		if (cred && !veto)
			return DC_CREDENTIALS;
	}
	for (i = 0; i < n; i++)
		if (in_list(tok[i], veto_words, lengthof(veto_words)))
			return DC_NONE;

	for (i = 0; i < n && found == NULL; i++)
	{
		for (k = Min(3, n - i); k >= 1 && found == NULL; k--)
		{
			int			j;

			size_t		jl = 0;

			for (j = 0; j < k; j++)
			{
				size_t		tl = strlen(tok[i + j]);

				memcpy(joined + jl, tok[i + j], tl);
				jl += tl;
			}
			joined[jl] = '\0';
			found = lookup_word(joined);
		}
	}
	if (found == NULL)
	{
		for (i = 0; i < (int) lengthof(name_substrings); i++)
			if (strstr(column, name_substrings[i].word) != NULL)
			{
				found = &name_substrings[i];
				break;
			}
	}
	if (found != NULL)
	{
		if (axis)
			*axis = found->axis;
		return found->cls;
	}

	/* a person's website, gender, location: in a table of persons or after a person word */
	for (i = 0; i < n; i++)
		for (k = 0; k < (int) lengthof(person_attr_words); k++)
			if (strcmp(tok[i], person_attr_words[k].word) == 0 &&
				((i > 0 && person_token(tok[i - 1])) || person_table(table)))
				return person_attr_words[k].cls;

	/* an account name: one token of its own ("login_username") */
	for (i = 0; i < n; i++)
		if (in_list(tok[i], username_words, lengthof(username_words)))
			return DC_USERNAME;

	/* a bare "name": qualified by a person word, or in a table of persons */
	for (i = 0; i < n; i++)
	{
		if (!in_list(tok[i], bare_name_words, lengthof(bare_name_words)))
			continue;
		if (i > 0 && person_token(tok[i - 1]))
			return DC_NAME;
		if (n == 1 && person_table(table))
			return DC_NAME;
	}
	return DC_NONE;
}
