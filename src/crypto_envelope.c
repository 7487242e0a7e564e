/*-------------------------------------------------------------------------
 * crypto_envelope.c
 *		The AEAD envelope of encrypted values: sealing and opening, the
 *		nonces, the stored formats, and the SQL functions encrypt(),
 *		decrypt() and blind_index().
 *
 * Ciphertext (XChaCha20-Poly1305, libsodium):
 *		key id (8, big-endian) | nonce (24) | AEAD output (plaintext + 16)
 * stored as
 *		bytea:	 "pv" 0x01 | the above						(51 bytes + plaintext)
 *		text:	 "pv1:" | base64 (no padding) of the above	(~4/3, + 4)
 * so text and varchar columns stay text and bytea stays bytea.  Nonces are a
 * random 16-byte per-process prefix and a 64-bit counter (unique per key
 * without a system call per value).
 *
 * Associated data separates low-level calls from column values:
 *		encrypt()/decrypt():	0x00 | aad
 *		column values:			0x01 | column id (8) | for each primary-key
 *								column: length (4) | its text output,
 *								or 0x02 | ... | its canonical text when
 *								the key has a session-dependent type
 *								(built by crypto_runtime.c)
 * A value copied to another row or column fails authentication (XX001).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>
#include <unistd.h>

#include "fmgr.h"
#include "utils/builtins.h"

#include "crypto.h"
#include "privacy.h"

static unsigned char nonce_prefix[16];
static uint64 nonce_counter = 0;
static pid_t nonce_pid = 0;

PG_FUNCTION_INFO_V1(privacy_encrypt);
PG_FUNCTION_INFO_V1(privacy_decrypt);
PG_FUNCTION_INFO_V1(privacy_blind_index);
PG_FUNCTION_INFO_V1(privacy_is_ciphertext_text);
PG_FUNCTION_INFO_V1(privacy_is_ciphertext_bytea);

/*
 * make_nonce
 *		Per-process random prefix + counter.  The prefix is drawn again
 *		after fork, so backends never share one.
 */
static void
make_nonce(unsigned char *nonce)
{
	int			i;

	if (nonce_pid != getpid())
	{
		randombytes_buf(nonce_prefix, sizeof(nonce_prefix));
		nonce_counter = 0;
		nonce_pid = getpid();
	}
	memcpy(nonce, nonce_prefix, sizeof(nonce_prefix));
	nonce_counter++;
	for (i = 0; i < 8; i++)
		nonce[16 + i] = (unsigned char) (nonce_counter >> (56 - 8 * i));
}

StaticAssertDecl(CRYPTO_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES &&
				 CRYPTO_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES,
				 "crypto.h's envelope sizes must match libsodium's");

/*
 * CryptoPutBe64 / CryptoGetBe64
 *		A 64-bit integer in 8 big-endian bytes (the key id of a ciphertext,
 *		the column id of an associated data).
 */
void
CryptoPutBe64(unsigned char *p, uint64 v)
{
	int			i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char) (v >> (56 - 8 * i));
}

uint64
CryptoGetBe64(const unsigned char *p)
{
	uint64		v = 0;
	int			i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * CryptoSeal
 *		Encrypt pt under key_id into out (CRYPTO_MIN_BYTES + ptlen bytes).
 */
void
CryptoSeal(int64 key_id, const unsigned char *key, const unsigned char *pt, size_t ptlen,
		   const unsigned char *aad, size_t aadlen, unsigned char *out)
{
	unsigned long long clen;

	CryptoPutBe64(out, (uint64) key_id);
	make_nonce(out + 8);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + CRYPTO_HEADER_BYTES, &clen, pt, ptlen,
											   aad, aadlen, NULL, out + 8, key);
}

/*
 * CryptoOpen
 *		Decrypt ct (the raw form) into a palloc'd buffer.  Returns false when
 *		authentication fails; *out NULL with *destroyed set when the key is
 *		destroyed.  Unknown key: XX001 (the stored value names a key that
 *		was never created here: it was altered).
 */
bool
CryptoOpen(const unsigned char *ct, size_t ctlen, const unsigned char *aad, size_t aadlen,
		   unsigned char **out, size_t *outlen, bool *destroyed)
{
	int64		key_id;
	const unsigned char *key;
	unsigned char *pt;

	*out = NULL;
	*destroyed = false;
	if (ctlen < CRYPTO_MIN_BYTES)
		return false;
	key_id = (int64) CryptoGetBe64(ct);
	switch (KeysLookup(key_id, &key))
	{
		case KEY_FOUND:
			break;
		case KEY_DESTROYED:
			*destroyed = true;
			return true;
		case KEY_UNKNOWN:
			CryptoTampered();
	}
	pt = palloc(ctlen - CRYPTO_MIN_BYTES + 1);
	if (!CryptoOpenInto(ct, ctlen, aad, aadlen, key, pt, outlen))
	{
		pfree(pt);
		return false;
	}
	*out = pt;
	return true;
}

/*
 * CryptoOpenInto
 *		Decrypt the raw ciphertext (at least CRYPTO_MIN_BYTES) with key
 *		into out (room for rawlen - CRYPTO_MIN_BYTES bytes); false when
 *		authentication fails.
 */
bool
CryptoOpenInto(const unsigned char *raw, size_t rawlen, const unsigned char *aad,
			   size_t aadlen, const unsigned char *key, unsigned char *out, size_t *outlen)
{
	unsigned long long mlen;

	Assert(rawlen >= CRYPTO_MIN_BYTES);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL,
												   raw + CRYPTO_HEADER_BYTES, rawlen - CRYPTO_HEADER_BYTES,
												   aad, aadlen, raw + 8, key) != 0)
		return false;
	*outlen = (size_t) mlen;
	return true;
}

/*
 * CryptoTampered
 *		XX001 for a value that failed authentication or is malformed.
 */
void
CryptoTampered(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("ciphertext failed authentication"),
			 errdetail("The value was altered, or belongs to another row, column or associated data."),
			 errhidestmt(true)));
}

/*
 * low_aad
 *		0x00 | user aad (palloc'd).
 */
static unsigned char *
low_aad(bytea *aad, size_t *len)
{
	size_t		n = aad ? VARSIZE_ANY_EXHDR(aad) : 0;
	unsigned char *buf = palloc(n + 1);

	buf[0] = 0x00;
	if (n)
		memcpy(buf + 1, VARDATA_ANY(aad), n);
	*len = n + 1;
	return buf;
}

/*
 * CryptoStoredToRaw
 *		Parse a stored value (text or bytea datum body) into its raw form.
 *		Returns false when it does not have the ciphertext format.
 */
bool
CryptoStoredToRaw(bool is_text, const char *data, size_t len, unsigned char **raw, size_t *rawlen)
{
	if (is_text)
	{
		size_t		binlen;
		unsigned char *buf;

		if (len < CRYPTO_TEXT_PREFIX_LEN || memcmp(data, CRYPTO_TEXT_PREFIX, CRYPTO_TEXT_PREFIX_LEN) != 0)
			return false;
		buf = palloc(len);
		if (sodium_base642bin(buf, len, data + CRYPTO_TEXT_PREFIX_LEN, len - CRYPTO_TEXT_PREFIX_LEN,
							  NULL, &binlen, NULL,
							  sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
			binlen < CRYPTO_MIN_BYTES)
		{
			pfree(buf);
			return false;
		}
		*raw = buf;
		*rawlen = binlen;
		return true;
	}
	if (len < CRYPTO_BYTEA_PREFIX_LEN + CRYPTO_MIN_BYTES ||
		memcmp(data, CRYPTO_BYTEA_PREFIX, CRYPTO_BYTEA_PREFIX_LEN) != 0)
		return false;
	*raw = (unsigned char *) data + CRYPTO_BYTEA_PREFIX_LEN;
	*rawlen = len - CRYPTO_BYTEA_PREFIX_LEN;
	return true;
}

/*
 * CryptoRawToStored
 *		Build the stored datum (text or bytea) from a raw ciphertext.
 */
Datum
CryptoRawToStored(bool is_text, const unsigned char *raw, size_t rawlen)
{
	if (is_text)
	{
		size_t		b64len = sodium_base64_ENCODED_LEN(rawlen, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
		text	   *t = palloc(VARHDRSZ + CRYPTO_TEXT_PREFIX_LEN + b64len);

		memcpy(VARDATA(t), CRYPTO_TEXT_PREFIX, CRYPTO_TEXT_PREFIX_LEN);
		sodium_bin2base64(VARDATA(t) + CRYPTO_TEXT_PREFIX_LEN, b64len, raw, rawlen,
						  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
		/* b64len counts the terminating NUL */
		SET_VARSIZE(t, VARHDRSZ + CRYPTO_TEXT_PREFIX_LEN + b64len - 1);
		return PointerGetDatum(t);
	}
	else
	{
		bytea	   *b = palloc(VARHDRSZ + CRYPTO_BYTEA_PREFIX_LEN + rawlen);

		memcpy(VARDATA(b), CRYPTO_BYTEA_PREFIX, CRYPTO_BYTEA_PREFIX_LEN);
		memcpy(VARDATA(b) + CRYPTO_BYTEA_PREFIX_LEN, raw, rawlen);
		SET_VARSIZE(b, VARHDRSZ + CRYPTO_BYTEA_PREFIX_LEN + rawlen);
		return PointerGetDatum(b);
	}
}

static int8 b64_table[256];
static bool b64_table_ready = false;

/*
 * b64_decode
 *		Decode unpadded standard base64 (the stored text format) into out;
 *		-1 if malformed.  Ciphertext is public: no constant-time need, and
 *		this is the hot loop of every read through a _decrypted view.
 */
static int
b64_decode(const char *in, size_t len, unsigned char *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32		acc = 0;
	int			bits = 0;
	int			n = 0;
	size_t		i;

	if (!b64_table_ready)
	{
		memset(b64_table, -1, sizeof(b64_table));
		for (i = 0; i < 64; i++)
			b64_table[(unsigned char) alphabet[i]] = (int8) i;
		b64_table_ready = true;
	}
	if (len % 4 == 1)
		return -1;
	/* four characters, three bytes at a time, one check for all four */
	for (i = 0; i + 4 <= len; i += 4)
	{
		int8		a = b64_table[(unsigned char) in[i]];
		int8		b = b64_table[(unsigned char) in[i + 1]];
		int8		c = b64_table[(unsigned char) in[i + 2]];
		int8		d = b64_table[(unsigned char) in[i + 3]];
		uint32		w;

		if ((a | b | c | d) < 0)
			return -1;
		w = ((uint32) a << 18) | ((uint32) b << 12) | ((uint32) c << 6) | (uint32) d;
		out[n++] = (unsigned char) (w >> 16);
		out[n++] = (unsigned char) (w >> 8);
		out[n++] = (unsigned char) w;
	}
	for (; i < len; i++)
	{
		int8		v = b64_table[(unsigned char) in[i]];

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[n++] = (unsigned char) (acc >> bits);
		}
	}
	/* leftover bits must be zero, as the encoder writes them */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return n;
}

/*
 * CryptoParseStored
 *		The raw ciphertext of a stored value of a column (text or bytea
 *		datum body): bytea values are used in place, text values decoded
 *		into buf when it is large enough (bufsize), else into palloc'd
 *		memory.  A value without the stored format or shorter than a
 *		ciphertext: XX001.  The hot path of every read through a
 *		_decrypted view.
 */
const unsigned char *
CryptoParseStored(bool is_text, const char *data, size_t len,
				  unsigned char *buf, size_t bufsize, size_t *rawlen)
{
	const unsigned char *raw;

	if (is_text)
	{
		size_t		need;
		unsigned char *out;
		int			n;

		if (len < CRYPTO_TEXT_PREFIX_LEN ||
			memcmp(data, CRYPTO_TEXT_PREFIX, CRYPTO_TEXT_PREFIX_LEN) != 0)
			CryptoTampered();
		need = (len - CRYPTO_TEXT_PREFIX_LEN) * 3 / 4 + 3;
		out = need <= bufsize ? buf : palloc(need);
		n = b64_decode(data + CRYPTO_TEXT_PREFIX_LEN, len - CRYPTO_TEXT_PREFIX_LEN, out);
		if (n < 0)
			CryptoTampered();
		raw = out;
		*rawlen = (size_t) n;
	}
	else
	{
		if (len < CRYPTO_BYTEA_PREFIX_LEN ||
			memcmp(data, CRYPTO_BYTEA_PREFIX, CRYPTO_BYTEA_PREFIX_LEN) != 0)
			CryptoTampered();
		raw = (const unsigned char *) data + CRYPTO_BYTEA_PREFIX_LEN;
		*rawlen = len - CRYPTO_BYTEA_PREFIX_LEN;
	}
	if (*rawlen < CRYPTO_MIN_BYTES)
		CryptoTampered();
	return raw;
}

/* ------------------------------------------------------------------------
 * Low-level functions
 * ------------------------------------------------------------------------
 */

/*
 * key_id_arg
 *		The key id, argument 1 of the SQL functions below (null: 22023).
 */
static int64
key_id_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("argument \"key_id\" must not be null")));
	return PG_GETARG_INT64(1);
}

/*
 * privacy_encrypt
 *		encrypt(plaintext bytea, key_id bigint, aad bytea DEFAULT NULL)
 *		RETURNS bytea.
 */
Datum
privacy_encrypt(PG_FUNCTION_ARGS)
{
	bytea	   *pt;
	int64		key_id;
	const unsigned char *key;
	unsigned char *aad;
	size_t		aadlen;
	size_t		ptlen;
	bytea	   *res;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	pt = PG_GETARG_BYTEA_PP(0);
	key_id = key_id_arg(fcinfo);
	key = KeysGet(key_id);
	aad = low_aad(PG_ARGISNULL(2) ? NULL : PG_GETARG_BYTEA_PP(2), &aadlen);
	ptlen = VARSIZE_ANY_EXHDR(pt);
	res = palloc(VARHDRSZ + CRYPTO_BYTEA_PREFIX_LEN + CRYPTO_MIN_BYTES + ptlen);
	SET_VARSIZE(res, VARHDRSZ + CRYPTO_BYTEA_PREFIX_LEN + CRYPTO_MIN_BYTES + ptlen);
	memcpy(VARDATA(res), CRYPTO_BYTEA_PREFIX, CRYPTO_BYTEA_PREFIX_LEN);
	CryptoSeal(key_id, key, (unsigned char *) VARDATA_ANY(pt), ptlen, aad, aadlen,
		 (unsigned char *) VARDATA(res) + CRYPTO_BYTEA_PREFIX_LEN);
	PG_RETURN_BYTEA_P(res);
}

/*
 * privacy_decrypt
 *		decrypt(ciphertext bytea, key_id bigint, aad bytea DEFAULT NULL)
 *		RETURNS bytea.  Tampered or wrong key/aad: XX001.  Destroyed key:
 *		55000.
 */
Datum
privacy_decrypt(PG_FUNCTION_ARGS)
{
	bytea	   *ct;
	int64		key_id;
	unsigned char *raw;
	size_t		rawlen;
	unsigned char *aad;
	size_t		aadlen;
	unsigned char *pt;
	size_t		ptlen;
	bool		destroyed;
	bytea	   *res;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	ct = PG_GETARG_BYTEA_PP(0);
	key_id = key_id_arg(fcinfo);
	(void) KeysGet(key_id);		/* unknown 42704, destroyed 55000 */
	if (!CryptoStoredToRaw(false, VARDATA_ANY(ct), VARSIZE_ANY_EXHDR(ct), &raw, &rawlen) ||
		(int64) CryptoGetBe64(raw) != key_id)
		CryptoTampered();
	aad = low_aad(PG_ARGISNULL(2) ? NULL : PG_GETARG_BYTEA_PP(2), &aadlen);
	if (!CryptoOpen(raw, rawlen, aad, aadlen, &pt, &ptlen, &destroyed) || destroyed)
		CryptoTampered();
	res = palloc(VARHDRSZ + ptlen);
	SET_VARSIZE(res, VARHDRSZ + ptlen);
	memcpy(VARDATA(res), pt, ptlen);
	sodium_memzero(pt, ptlen);
	PG_RETURN_BYTEA_P(res);
}

/*
 * privacy_blind_index
 *		blind_index(value text, key_id bigint) RETURNS bytea: keyed BLAKE2b
 *		(32 bytes) under a subkey derived from the data key, so equal values
 *		give equal outputs and an index on it serves equality lookups.
 */
Datum
privacy_blind_index(PG_FUNCTION_ARGS)
{
	text	   *v;
	const unsigned char *key;
	unsigned char subkey[crypto_generichash_KEYBYTES];
	bytea	   *res;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	v = PG_GETARG_TEXT_PP(0);
	key = KeysGet(key_id_arg(fcinfo));
	crypto_kdf_derive_from_key(subkey, sizeof(subkey), 1, "pvblind_", key);
	res = palloc(VARHDRSZ + 32);
	SET_VARSIZE(res, VARHDRSZ + 32);
	crypto_generichash((unsigned char *) VARDATA(res), 32,
					   (unsigned char *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v),
					   subkey, sizeof(subkey));
	sodium_memzero(subkey, sizeof(subkey));
	PG_RETURN_BYTEA_P(res);
}

/*
 * privacy_is_ciphertext_text, privacy_is_ciphertext_bytea
 *		privacy._is_ciphertext(text|bytea) RETURNS boolean: true when a
 *		stored value has the form of a column ciphertext of this extension
 *		(prefix, at least CRYPTO_MIN_BYTES of raw form, base64 alphabet and
 *		length for text), else 23514 itself.  No key, no decryption: the
 *		CHECK constraint encrypt_column puts on the column, so that a write
 *		with the triggers disabled (ALTER TABLE ... DISABLE TRIGGER,
 *		session_replication_role = replica) cannot store plaintext.  It
 *		fails rather than return false, because PostgreSQL's own CHECK
 *		violation would print the row, plaintext included, and the statement
 *		is hidden from the log.  Whether the value opens under its row is
 *		the read path's business (XX001).
 */
static Datum
ciphertext_or_fail(bool ok)
{
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("a value of an encrypted column is not a ciphertext"),
				 errdetail("The column's write trigger did not run (disabled triggers, or session_replication_role = replica)."),
				 errhint("Enable the table's triggers and write the value again: the write trigger encrypts it."),
				 errhidestmt(true)));
	PG_RETURN_BOOL(true);
}

static bool
b64_wellformed(const char *in, size_t len)
{
	if (len % 4 == 1)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) in[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	return true;
}

Datum
privacy_is_ciphertext_text(PG_FUNCTION_ARGS)
{
	text	   *v = PG_GETARG_TEXT_PP(0);
	const char *data = VARDATA_ANY(v);
	size_t		len = VARSIZE_ANY_EXHDR(v);
	size_t		b64len;

	if (len < CRYPTO_TEXT_PREFIX_LEN || memcmp(data, CRYPTO_TEXT_PREFIX, CRYPTO_TEXT_PREFIX_LEN) != 0)
		return ciphertext_or_fail(false);
	b64len = len - CRYPTO_TEXT_PREFIX_LEN;
	/* unpadded base64 of n bytes is floor(3 * characters / 4) bytes */
	return ciphertext_or_fail((b64len * 3) / 4 >= CRYPTO_MIN_BYTES &&
							  b64_wellformed(data + CRYPTO_TEXT_PREFIX_LEN, b64len));
}

Datum
privacy_is_ciphertext_bytea(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_BYTEA_PP(0);

	return ciphertext_or_fail(VARSIZE_ANY_EXHDR(v) >= CRYPTO_BYTEA_PREFIX_LEN + CRYPTO_MIN_BYTES &&
							  memcmp(VARDATA_ANY(v), CRYPTO_BYTEA_PREFIX, CRYPTO_BYTEA_PREFIX_LEN) == 0);
}
