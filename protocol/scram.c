/* SCRAM-SHA-256 for PostgreSQL (RFC 5802 / RFC 7677): verifier parsing and
 * formatting, plus both ends of the SASL exchange as pure state machines over
 * byte buffers. Every message is length-capped and parsed strictly in order. */
#include "protocol/scram.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define SCRAM_RAW_NONCE_LEN 18          /* random bytes; 24 characters once base64'd */
#define SCRAM_DEFAULT_SALT_LEN 16
#define SCRAM_VERIFIER_MAX_LEN 512
#define SCRAM_ERRBUF_LEN 160
#define SCRAM_MAX_USER_LEN 256          /* raw bytes, before escaping */

static const char scram_verifier_prefix[] = "SCRAM-SHA-256$";

/* ---------------------------------------------------------------- base64 */

static const char scram_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t scram_b64_encoded_len(size_t n)
{
    return 4 * ((n + 2) / 3);
}

/* Writes scram_b64_encoded_len(n) characters and a NUL. */
static void scram_b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = scram_b64_alphabet[(v >> 18) & 63];
        out[o++] = scram_b64_alphabet[(v >> 12) & 63];
        out[o++] = scram_b64_alphabet[(v >> 6) & 63];
        out[o++] = scram_b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = scram_b64_alphabet[(v >> 18) & 63];
        out[o++] = scram_b64_alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        out[o++] = scram_b64_alphabet[(v >> 18) & 63];
        out[o++] = scram_b64_alphabet[(v >> 12) & 63];
        out[o++] = scram_b64_alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
}

static int scram_b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict decoder: padding required, no whitespace, unused bits must be zero,
 * so that every accepted string is the one our encoder would produce. */
static bool scram_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap,
                             size_t *out_len)
{
    *out_len = 0;
    if (len % 4 != 0)
        return false;
    if (len == 0)
        return true;
    size_t pad = 0;
    if (in[len - 1] == '=')
        pad = (in[len - 2] == '=') ? 2 : 1;
    size_t need = len / 4 * 3 - pad;
    if (need > cap)
        return false;

    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = (i + 4 == len);
        int v0 = scram_b64_value(in[i]);
        int v1 = scram_b64_value(in[i + 1]);
        if (v0 < 0 || v1 < 0)
            return false;
        if (last && pad == 2) {
            if (in[i + 2] != '=' || in[i + 3] != '=' || (v1 & 0x0f) != 0)
                return false;
            out[o++] = (uint8_t)((v0 << 2) | (v1 >> 4));
            break;
        }
        int v2 = scram_b64_value(in[i + 2]);
        if (v2 < 0)
            return false;
        if (last && pad == 1) {
            if (in[i + 3] != '=' || (v2 & 0x03) != 0)
                return false;
            out[o++] = (uint8_t)((v0 << 2) | (v1 >> 4));
            out[o++] = (uint8_t)(((v1 & 0x0f) << 4) | (v2 >> 2));
            break;
        }
        int v3 = scram_b64_value(in[i + 3]);
        if (v3 < 0)
            return false;
        out[o++] = (uint8_t)((v0 << 2) | (v1 >> 4));
        out[o++] = (uint8_t)(((v1 & 0x0f) << 4) | (v2 >> 2));
        out[o++] = (uint8_t)(((v2 & 0x03) << 6) | v3);
    }
    *out_len = o;
    return true;
}

/* ---------------------------------------------------------------- crypto */

static bool scram_hmac(const uint8_t *key, size_t key_len, const void *data, size_t len,
                       uint8_t out[SCRAM_KEY_LEN])
{
    unsigned int n = 0;
    if (key_len > INT_MAX)
        return false;
    if (HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n) == NULL)
        return false;
    return n == SCRAM_KEY_LEN;
}

static bool scram_sha256(const uint8_t *in, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
    unsigned int n = 0;
    if (EVP_Digest(in, len, out, &n, EVP_sha256(), NULL) != 1)
        return false;
    return n == SCRAM_KEY_LEN;
}

/* SaltedPassword -> ClientKey, StoredKey, ServerKey (RFC 5802 section 3). */
static bool scram_keys_from_salted(const uint8_t salted[SCRAM_KEY_LEN],
                                   uint8_t client_key[SCRAM_KEY_LEN],
                                   uint8_t stored_key[SCRAM_KEY_LEN],
                                   uint8_t server_key[SCRAM_KEY_LEN])
{
    static const char ck[] = "Client Key";
    static const char sk[] = "Server Key";
    return scram_hmac(salted, SCRAM_KEY_LEN, ck, sizeof ck - 1, client_key) &&
           scram_sha256(client_key, SCRAM_KEY_LEN, stored_key) &&
           scram_hmac(salted, SCRAM_KEY_LEN, sk, sizeof sk - 1, server_key);
}

static bool scram_salted_password(const char *password, size_t password_len, const uint8_t *salt,
                                  size_t salt_len, int iterations, uint8_t out[SCRAM_KEY_LEN])
{
    if (password_len > SCRAM_MAX_PASSWORD_LEN || salt_len == 0 ||
        salt_len > SCRAM_MAX_SALT_LEN || iterations < 1)
        return false;
    return PKCS5_PBKDF2_HMAC(password, (int)password_len, salt, (int)salt_len, iterations,
                             EVP_sha256(), SCRAM_KEY_LEN, out) == 1;
}

/* A fresh nonce: 18 random bytes as 24 base64 characters (never contains ','). */
static bool scram_random_nonce(char out[SCRAM_MAX_NONCE_LEN + 1], size_t *out_len)
{
    uint8_t raw[SCRAM_RAW_NONCE_LEN];
    if (RAND_bytes(raw, (int)sizeof raw) != 1)
        return false;
    scram_b64_encode(raw, sizeof raw, out);
    *out_len = scram_b64_encoded_len(sizeof raw);
    return true;
}

/* --------------------------------------------------------------- helpers */

static bool scram_fail(const char **err, const char *msg)
{
    if (err)
        *err = msg;
    return false;
}

/* RFC 5802 "printable": %x21-2B / %x2D-7E, i.e. visible ASCII except ','. */
static bool scram_printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x21 || ch > 0x7e || ch == ',')
            return false;
    }
    return true;
}

static bool scram_nonce_ok(const char *s, size_t len, size_t max)
{
    return len > 0 && len <= max && scram_printable(s, len);
}

/* RFC 5802 posit-number: no sign, no leading zero, fits in an int. */
static bool scram_parse_posint(const char *s, size_t len, int *out)
{
    if (len == 0 || len > 10 || s[0] < '1' || s[0] > '9')
        return false;
    long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v > INT_MAX)
        return false;
    *out = (int)v;
    return true;
}

struct scram_piece {
    const char *p;
    size_t n;
};

/* Concatenate pieces into one malloc'd NUL-terminated string. */
static char *scram_join(const struct scram_piece *pieces, size_t count, size_t *out_len)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (pieces[i].n > SCRAM_MAX_MESSAGE_LEN * 4)
            return NULL;
        total += pieces[i].n;
    }
    char *buf = malloc(total + 1);
    if (!buf)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < count; i++) {
        if (pieces[i].n)
            memcpy(buf + o, pieces[i].p, pieces[i].n);
        o += pieces[i].n;
    }
    buf[o] = '\0';
    if (out_len)
        *out_len = o;
    return buf;
}

static char *scram_dup(const char *p, size_t n)
{
    struct scram_piece one = {p, n};
    return scram_join(&one, 1, NULL);
}

/* Every incoming message: present, capped, and free of NULs (which would
 * otherwise let C-string consumers see a different message than we checked). */
static bool scram_check_message(const uint8_t *in, size_t len, const char **err)
{
    if (!in || len == 0)
        return scram_fail(err, "SCRAM message is empty");
    if (len > SCRAM_MAX_MESSAGE_LEN)
        return scram_fail(err, "SCRAM message is too long");
    if (memchr(in, '\0', len))
        return scram_fail(err, "SCRAM message contains a NUL byte");
    return true;
}

/* ------------------------------------------------------ attribute parser */

struct scram_cursor {
    const char *p;
    size_t len;
    size_t pos;
};

static bool scram_cursor_done(const struct scram_cursor *c)
{
    return c->pos >= c->len;
}

static bool scram_is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Reads "<letter>=<value>" plus the ',' after it. A ',' must be followed by
 * another attribute. The value may be empty here; callers decide. */
static bool scram_next_attr(struct scram_cursor *c, char *name, const char **val, size_t *vlen)
{
    if (c->pos >= c->len || c->len - c->pos < 2)
        return false;
    char n = c->p[c->pos];
    if (!scram_is_alpha(n) || c->p[c->pos + 1] != '=')
        return false;
    size_t start = c->pos + 2;
    size_t end = start;
    while (end < c->len && c->p[end] != ',')
        end++;
    *name = n;
    *val = c->p + start;
    *vlen = end - start;
    if (end < c->len) {
        end++;
        if (end == c->len)
            return false;
    }
    c->pos = end;
    return true;
}

/* Letters RFC 5802 gives a fixed place to; seeing one as an extension means
 * a repeated or misplaced attribute. */
static bool scram_reserved_name(char n)
{
    return n != '\0' && strchr("amnrcspive", n) != NULL;
}

/* Optional extensions at the end of a message: ALPHA "=" 1*value-char, each
 * ignored as RFC 5802 asks, but never a reserved letter. */
static bool scram_skip_extensions(struct scram_cursor *c, const char **err)
{
    while (!scram_cursor_done(c)) {
        char n;
        const char *v;
        size_t vl;
        if (!scram_next_attr(c, &n, &v, &vl) || vl == 0)
            return scram_fail(err, "malformed SCRAM attribute");
        if (scram_reserved_name(n))
            return scram_fail(err, "unexpected or repeated SCRAM attribute");
    }
    return true;
}

/* ---------------------------------------------------------------- secret */

bool scram_secret_parse(const char *verifier, scram_secret *out)
{
    if (!verifier || !out)
        return false;
    memset(out, 0, sizeof *out);
    size_t len = strnlen(verifier, SCRAM_VERIFIER_MAX_LEN + 1);
    size_t plen = sizeof scram_verifier_prefix - 1;
    if (len > SCRAM_VERIFIER_MAX_LEN || len < plen ||
        memcmp(verifier, scram_verifier_prefix, plen) != 0)
        return false;

    const char *p = verifier + plen;
    const char *end = verifier + len;
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (!colon)
        goto bad;
    if (!scram_parse_posint(p, (size_t)(colon - p), &out->iterations))
        goto bad;

    p = colon + 1;
    const char *dollar = memchr(p, '$', (size_t)(end - p));
    if (!dollar)
        goto bad;
    if (!scram_b64_decode(p, (size_t)(dollar - p), out->salt, sizeof out->salt, &out->salt_len) ||
        out->salt_len == 0)
        goto bad;

    p = dollar + 1;
    colon = memchr(p, ':', (size_t)(end - p));
    if (!colon)
        goto bad;
    size_t n = 0;
    if (!scram_b64_decode(p, (size_t)(colon - p), out->stored_key, SCRAM_KEY_LEN, &n) ||
        n != SCRAM_KEY_LEN)
        goto bad;

    p = colon + 1;
    if (!scram_b64_decode(p, (size_t)(end - p), out->server_key, SCRAM_KEY_LEN, &n) ||
        n != SCRAM_KEY_LEN)
        goto bad;
    return true;

bad:
    OPENSSL_cleanse(out, sizeof *out);
    return false;
}

bool scram_secret_from_password(const char *password, const uint8_t *salt, size_t salt_len,
                                int iterations, scram_secret *out)
{
    if (!password || !out || iterations < 1 || iterations > SCRAM_MAX_ITERATIONS)
        return false;
    memset(out, 0, sizeof *out);
    size_t pw_len = strnlen(password, SCRAM_MAX_PASSWORD_LEN + 1);
    if (pw_len > SCRAM_MAX_PASSWORD_LEN)
        return false;

    if (salt) {
        if (salt_len == 0 || salt_len > SCRAM_MAX_SALT_LEN)
            return false;
        memcpy(out->salt, salt, salt_len);
        out->salt_len = salt_len;
    } else {
        if (RAND_bytes(out->salt, SCRAM_DEFAULT_SALT_LEN) != 1)
            return false;
        out->salt_len = SCRAM_DEFAULT_SALT_LEN;
    }
    out->iterations = iterations;

    uint8_t salted[SCRAM_KEY_LEN];
    uint8_t client_key[SCRAM_KEY_LEN];
    bool ok = scram_salted_password(password, pw_len, out->salt, out->salt_len, iterations,
                                    salted) &&
              scram_keys_from_salted(salted, client_key, out->stored_key, out->server_key);
    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(client_key, sizeof client_key);
    if (!ok)
        OPENSSL_cleanse(out, sizeof *out);
    return ok;
}

char *scram_secret_format(const scram_secret *s)
{
    if (!s || s->iterations < 1 || s->salt_len == 0 || s->salt_len > SCRAM_MAX_SALT_LEN)
        return NULL;
    char salt[4 * ((SCRAM_MAX_SALT_LEN + 2) / 3) + 1];
    char stored[4 * ((SCRAM_KEY_LEN + 2) / 3) + 1];
    char server[4 * ((SCRAM_KEY_LEN + 2) / 3) + 1];
    scram_b64_encode(s->salt, s->salt_len, salt);
    scram_b64_encode(s->stored_key, SCRAM_KEY_LEN, stored);
    scram_b64_encode(s->server_key, SCRAM_KEY_LEN, server);

    int n = snprintf(NULL, 0, "%s%d:%s$%s:%s", scram_verifier_prefix, s->iterations, salt,
                     stored, server);
    if (n < 0)
        return NULL;
    char *buf = malloc((size_t)n + 1);
    if (buf)
        snprintf(buf, (size_t)n + 1, "%s%d:%s$%s:%s", scram_verifier_prefix, s->iterations, salt,
                 stored, server);
    return buf;
}

/* ------------------------------------------------- AuthMessage and proof */

/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
static char *scram_auth_message(const char *cfb, size_t cfb_len, const char *sf, size_t sf_len,
                                const char *cf, size_t cf_len, size_t *out_len)
{
    struct scram_piece parts[] = {{cfb, cfb_len}, {",", 1}, {sf, sf_len}, {",", 1}, {cf, cf_len}};
    return scram_join(parts, sizeof parts / sizeof parts[0], out_len);
}

/* ------------------------------------------------------------ server side */

enum scram_server_state { SCRAM_SRV_START, SCRAM_SRV_FIRST_SENT, SCRAM_SRV_DONE, SCRAM_SRV_FAILED };

struct scram_server {
    enum scram_server_state state;
    scram_secret secret;
    char server_nonce[SCRAM_MAX_NONCE_LEN + 1];
    size_t server_nonce_len;
    char gs2_header[3];  /* "n,," or "y,,": what c= must echo back */
    char *client_first_bare;
    size_t client_first_bare_len;
    char *server_first;
    size_t server_first_len;
    char *nonce;         /* client nonce + server nonce */
    size_t nonce_len;
};

scram_server *scram_server_new(const scram_secret *secret, const char *nonce)
{
    if (!secret || secret->iterations < 1 || secret->salt_len == 0 ||
        secret->salt_len > SCRAM_MAX_SALT_LEN)
        return NULL;
    scram_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->secret = *secret;
    if (nonce) {
        size_t n = strnlen(nonce, SCRAM_MAX_NONCE_LEN + 1);
        if (!scram_nonce_ok(nonce, n, SCRAM_MAX_NONCE_LEN)) {
            scram_server_free(s);
            return NULL;
        }
        memcpy(s->server_nonce, nonce, n);
        s->server_nonce_len = n;
    } else if (!scram_random_nonce(s->server_nonce, &s->server_nonce_len)) {
        scram_server_free(s);
        return NULL;
    }
    s->state = SCRAM_SRV_START;
    return s;
}

void scram_server_free(scram_server *s)
{
    if (!s)
        return;
    free(s->client_first_bare);
    free(s->server_first);
    free(s->nonce);
    OPENSSL_cleanse(s, sizeof *s);
    free(s);
}

static bool scram_server_first_impl(scram_server *s, const char *in, size_t len, char **out,
                                    size_t *out_len, const char **err)
{
    /* gs2-header: we never offer SCRAM-SHA-256-PLUS, so "y" (client could bind
     * but believes we cannot) is as acceptable as "n". */
    if (len < 3)
        return scram_fail(err, "SCRAM client-first-message is truncated");
    if (in[0] == 'p')
        return scram_fail(err, "client requires SCRAM channel binding (p=...), "
                               "which is not offered on this connection");
    if ((in[0] != 'n' && in[0] != 'y') || in[1] != ',')
        return scram_fail(err, "malformed SCRAM gs2 header");
    if (in[2] != ',') {
        if (in[2] == 'a' && len > 3 && in[3] == '=')
            return scram_fail(err, "SCRAM authorization identity (a=) is not supported");
        return scram_fail(err, "malformed SCRAM gs2 header");
    }
    memcpy(s->gs2_header, in, 3);

    const char *bare = in + 3;
    size_t bare_len = len - 3;
    struct scram_cursor c = {bare, bare_len, 0};
    char name;
    const char *val;
    size_t vlen;

    /* PostgreSQL clients send "n=" empty (the startup packet names the user)
     * and others send "n=*" or a real name: any value is fine, it is unused. */
    if (!scram_next_attr(&c, &name, &val, &vlen))
        return scram_fail(err, "SCRAM client-first-message is missing the username (n=)");
    if (name == 'm')
        return scram_fail(err, "unsupported mandatory SCRAM extension (m=)");
    if (name != 'n')
        return scram_fail(err, "SCRAM client-first-message is missing the username (n=)");

    if (!scram_next_attr(&c, &name, &val, &vlen) || name != 'r')
        return scram_fail(err, "SCRAM client-first-message is missing the nonce (r=)");
    if (!scram_nonce_ok(val, vlen, SCRAM_MAX_NONCE_LEN))
        return scram_fail(err, "SCRAM client nonce is empty, too long or not printable");
    const char *cnonce = val;
    size_t cnonce_len = vlen;

    if (!scram_skip_extensions(&c, err))
        return false;

    char salt_b64[4 * ((SCRAM_MAX_SALT_LEN + 2) / 3) + 1];
    scram_b64_encode(s->secret.salt, s->secret.salt_len, salt_b64);
    char iter[16];
    int iter_len = snprintf(iter, sizeof iter, "%d", s->secret.iterations);
    if (iter_len < 0 || (size_t)iter_len >= sizeof iter)
        return scram_fail(err, "internal error formatting SCRAM iterations");

    struct scram_piece nonce_parts[] = {{cnonce, cnonce_len},
                                        {s->server_nonce, s->server_nonce_len}};
    s->nonce = scram_join(nonce_parts, 2, &s->nonce_len);
    s->client_first_bare = scram_dup(bare, bare_len);
    s->client_first_bare_len = bare_len;
    if (!s->nonce || !s->client_first_bare)
        return scram_fail(err, "out of memory");

    struct scram_piece sf[] = {{"r=", 2},    {s->nonce, s->nonce_len},
                               {",s=", 3},   {salt_b64, strlen(salt_b64)},
                               {",i=", 3},   {iter, (size_t)iter_len}};
    s->server_first = scram_join(sf, sizeof sf / sizeof sf[0], &s->server_first_len);
    if (!s->server_first)
        return scram_fail(err, "out of memory");
    *out = scram_dup(s->server_first, s->server_first_len);
    if (!*out)
        return scram_fail(err, "out of memory");
    *out_len = s->server_first_len;
    return true;
}

bool scram_server_first(scram_server *s, const uint8_t *in, size_t len, char **out,
                        size_t *out_len, const char **err)
{
    if (!out || !out_len)
        return scram_fail(err, "invalid arguments");
    *out = NULL;
    *out_len = 0;
    if (!s)
        return scram_fail(err, "invalid arguments");
    if (s->state != SCRAM_SRV_START) {
        s->state = SCRAM_SRV_FAILED;
        return scram_fail(err, "SCRAM client-first-message out of sequence");
    }
    if (!scram_check_message(in, len, err) ||
        !scram_server_first_impl(s, (const char *)in, len, out, out_len, err)) {
        s->state = SCRAM_SRV_FAILED;
        return false;
    }
    s->state = SCRAM_SRV_FIRST_SENT;
    return true;
}

static bool scram_server_final_impl(scram_server *s, const char *in, size_t len, char **out,
                                    size_t *out_len, const char **err)
{
    struct scram_cursor c = {in, len, 0};
    char name;
    const char *val;
    size_t vlen;

    if (!scram_next_attr(&c, &name, &val, &vlen) || name != 'c')
        return scram_fail(err, "SCRAM client-final-message is missing channel binding (c=)");
    uint8_t cbind[16];
    size_t cbind_len = 0;
    if (!scram_b64_decode(val, vlen, cbind, sizeof cbind, &cbind_len))
        return scram_fail(err, "SCRAM channel binding is not valid base64");
    if (cbind_len != sizeof s->gs2_header || memcmp(cbind, s->gs2_header, cbind_len) != 0)
        return scram_fail(err, "SCRAM channel binding does not match the gs2 header");

    if (!scram_next_attr(&c, &name, &val, &vlen) || name != 'r')
        return scram_fail(err, "SCRAM client-final-message is missing the nonce (r=)");
    if (vlen != s->nonce_len || memcmp(val, s->nonce, vlen) != 0)
        return scram_fail(err, "SCRAM nonce does not match");

    /* Extensions may sit between r= and p=; the proof must come last. */
    size_t proof_attr_start = 0;
    const char *proof_b64 = NULL;
    size_t proof_b64_len = 0;
    while (!scram_cursor_done(&c)) {
        size_t start = c.pos;
        if (!scram_next_attr(&c, &name, &val, &vlen) || vlen == 0)
            return scram_fail(err, "malformed SCRAM attribute");
        if (name == 'p') {
            if (!scram_cursor_done(&c))
                return scram_fail(err, "SCRAM proof (p=) must be the last attribute");
            proof_attr_start = start;
            proof_b64 = val;
            proof_b64_len = vlen;
        } else if (scram_reserved_name(name)) {
            return scram_fail(err, "unexpected or repeated SCRAM attribute");
        }
    }
    if (!proof_b64)
        return scram_fail(err, "SCRAM client-final-message is missing the proof (p=)");

    uint8_t proof[SCRAM_KEY_LEN];
    size_t proof_len = 0;
    if (!scram_b64_decode(proof_b64, proof_b64_len, proof, sizeof proof, &proof_len) ||
        proof_len != SCRAM_KEY_LEN)
        return scram_fail(err, "SCRAM proof is not 32 bytes of valid base64");

    size_t am_len = 0;
    char *am = scram_auth_message(s->client_first_bare, s->client_first_bare_len,
                                  s->server_first, s->server_first_len, in,
                                  proof_attr_start - 1, &am_len);
    if (!am)
        return scram_fail(err, "out of memory");

    /* ClientKey = proof XOR HMAC(StoredKey, AuthMessage); accept iff H(ClientKey) == StoredKey. */
    uint8_t client_sig[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN], check[SCRAM_KEY_LEN];
    uint8_t server_sig[SCRAM_KEY_LEN];
    bool ok = scram_hmac(s->secret.stored_key, SCRAM_KEY_LEN, am, am_len, client_sig);
    if (ok) {
        for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
            client_key[i] = proof[i] ^ client_sig[i];
        ok = scram_sha256(client_key, SCRAM_KEY_LEN, check);
    }
    bool match = ok && CRYPTO_memcmp(check, s->secret.stored_key, SCRAM_KEY_LEN) == 0;
    bool sig_ok = match && scram_hmac(s->secret.server_key, SCRAM_KEY_LEN, am, am_len, server_sig);
    OPENSSL_cleanse(client_key, sizeof client_key);
    OPENSSL_cleanse(client_sig, sizeof client_sig);
    OPENSSL_cleanse(check, sizeof check);
    free(am);
    if (!ok)
        return scram_fail(err, "internal error computing SCRAM proof");
    if (!match)
        return scram_fail(err, "SCRAM proof is invalid (wrong password)");
    if (!sig_ok)
        return scram_fail(err, "internal error computing SCRAM server signature");

    char sig_b64[4 * ((SCRAM_KEY_LEN + 2) / 3) + 1];
    scram_b64_encode(server_sig, SCRAM_KEY_LEN, sig_b64);
    struct scram_piece sfin[] = {{"v=", 2}, {sig_b64, strlen(sig_b64)}};
    *out = scram_join(sfin, 2, out_len);
    if (!*out)
        return scram_fail(err, "out of memory");
    return true;
}

bool scram_server_final(scram_server *s, const uint8_t *in, size_t len, char **out,
                        size_t *out_len, const char **err)
{
    if (!out || !out_len)
        return scram_fail(err, "invalid arguments");
    *out = NULL;
    *out_len = 0;
    if (!s)
        return scram_fail(err, "invalid arguments");
    if (s->state != SCRAM_SRV_FIRST_SENT) {
        s->state = SCRAM_SRV_FAILED;
        return scram_fail(err, "SCRAM client-final-message out of sequence");
    }
    if (!scram_check_message(in, len, err) ||
        !scram_server_final_impl(s, (const char *)in, len, out, out_len, err)) {
        s->state = SCRAM_SRV_FAILED;
        return false;
    }
    s->state = SCRAM_SRV_DONE;
    return true;
}

/* ------------------------------------------------------------ client side */

enum scram_client_state {
    SCRAM_CLI_START,
    SCRAM_CLI_FIRST_SENT,
    SCRAM_CLI_FINAL_SENT,
    SCRAM_CLI_DONE,
    SCRAM_CLI_FAILED
};

struct scram_client {
    enum scram_client_state state;
    int max_iterations;
    char *password;
    size_t password_len;
    char *user;          /* already escaped for n= */
    size_t user_len;
    char nonce[SCRAM_MAX_NONCE_LEN + 1];
    size_t nonce_len;
    char *client_first_bare;
    size_t client_first_bare_len;
    uint8_t server_signature[SCRAM_KEY_LEN];  /* what the server must prove */
    scram_salt_cache *cache;                  /* borrowed; may be NULL */
    char errbuf[SCRAM_ERRBUF_LEN];            /* a server "e=" text, sanitised */
};

/* saslname escaping: ',' and '=' are the only characters RFC 5802 reserves. */
static char *scram_escape_user(const char *user, size_t *out_len)
{
    size_t n = strnlen(user, SCRAM_MAX_USER_LEN + 1);
    if (n > SCRAM_MAX_USER_LEN)
        return NULL;
    char *buf = malloc(3 * n + 1);
    if (!buf)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (user[i] == ',') {
            memcpy(buf + o, "=2C", 3);
            o += 3;
        } else if (user[i] == '=') {
            memcpy(buf + o, "=3D", 3);
            o += 3;
        } else {
            buf[o++] = user[i];
        }
    }
    buf[o] = '\0';
    *out_len = o;
    return buf;
}

scram_client *scram_client_new_user(const char *user, const char *password, const char *nonce)
{
    if (!password)
        return NULL;
    size_t pw_len = strnlen(password, SCRAM_MAX_PASSWORD_LEN + 1);
    if (pw_len > SCRAM_MAX_PASSWORD_LEN)
        return NULL;
    scram_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->state = SCRAM_CLI_START;
    c->max_iterations = SCRAM_MAX_ITERATIONS;
    c->password = scram_dup(password, pw_len);
    c->password_len = pw_len;
    c->user = scram_escape_user(user ? user : "", &c->user_len);
    if (!c->password || !c->user)
        goto bad;
    if (nonce) {
        size_t n = strnlen(nonce, SCRAM_MAX_NONCE_LEN + 1);
        if (!scram_nonce_ok(nonce, n, SCRAM_MAX_NONCE_LEN))
            goto bad;
        memcpy(c->nonce, nonce, n);
        c->nonce_len = n;
    } else if (!scram_random_nonce(c->nonce, &c->nonce_len)) {
        goto bad;
    }
    return c;
bad:
    scram_client_free(c);
    return NULL;
}

scram_client *scram_client_new(const char *password, const char *nonce)
{
    return scram_client_new_user(NULL, password, nonce);
}

void scram_client_set_max_iterations(scram_client *c, int max_iterations)
{
    if (!c)
        return;
    if (max_iterations < 1)
        max_iterations = 1;
    if (max_iterations > SCRAM_MAX_ITERATIONS)
        max_iterations = SCRAM_MAX_ITERATIONS;
    c->max_iterations = max_iterations;
}

void scram_client_free(scram_client *c)
{
    if (!c)
        return;
    if (c->password) {
        OPENSSL_cleanse(c->password, c->password_len);
        free(c->password);
    }
    free(c->user);
    free(c->client_first_bare);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
}

bool scram_client_first(scram_client *c, char **out, size_t *out_len)
{
    if (!c || !out || !out_len)
        return false;
    *out = NULL;
    *out_len = 0;
    if (c->state != SCRAM_CLI_START) {
        c->state = SCRAM_CLI_FAILED;
        return false;
    }
    struct scram_piece bare[] = {
        {"n=", 2}, {c->user, c->user_len}, {",r=", 3}, {c->nonce, c->nonce_len}};
    c->client_first_bare = scram_join(bare, sizeof bare / sizeof bare[0],
                                      &c->client_first_bare_len);
    if (!c->client_first_bare) {
        c->state = SCRAM_CLI_FAILED;
        return false;
    }
    struct scram_piece msg[] = {{"n,,", 3}, {c->client_first_bare, c->client_first_bare_len}};
    *out = scram_join(msg, 2, out_len);
    if (!*out) {
        c->state = SCRAM_CLI_FAILED;
        return false;
    }
    c->state = SCRAM_CLI_FIRST_SENT;
    return true;
}

/* Keep a server "e=" text for *err: prefixed, truncated, non-printables replaced. */
static bool scram_client_server_error(scram_client *c, const char *v, size_t vlen,
                                      const char **err)
{
    static const char prefix[] = "SCRAM server error: ";
    size_t o = sizeof prefix - 1;
    memcpy(c->errbuf, prefix, o);
    if (vlen == 0) {
        memcpy(c->errbuf + o, "(empty)", 8);
        return scram_fail(err, c->errbuf);
    }
    for (size_t i = 0; i < vlen && o < sizeof c->errbuf - 1; i++) {
        unsigned char ch = (unsigned char)v[i];
        c->errbuf[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    c->errbuf[o] = '\0';
    return scram_fail(err, c->errbuf);
}

static bool scram_client_continue_impl(scram_client *c, const char *in, size_t len, char **out,
                                       size_t *out_len, const char **err)
{
    struct scram_cursor cur = {in, len, 0};
    char name;
    const char *val;
    size_t vlen;

    if (len >= 2 && in[0] == 'e' && in[1] == '=') {
        const char *comma = memchr(in, ',', len);
        return scram_client_server_error(c, in + 2, (comma ? (size_t)(comma - in) : len) - 2, err);
    }
    if (!scram_next_attr(&cur, &name, &val, &vlen))
        return scram_fail(err, "SCRAM server-first-message is missing the nonce (r=)");
    if (name == 'm')
        return scram_fail(err, "unsupported mandatory SCRAM extension (m=)");
    if (name != 'r')
        return scram_fail(err, "SCRAM server-first-message is missing the nonce (r=)");
    if (!scram_nonce_ok(val, vlen, 2 * SCRAM_MAX_NONCE_LEN))
        return scram_fail(err, "SCRAM server nonce is empty, too long or not printable");
    if (vlen <= c->nonce_len || memcmp(val, c->nonce, c->nonce_len) != 0)
        return scram_fail(err, "SCRAM server nonce does not extend the client nonce");
    const char *nonce = val;
    size_t nonce_len = vlen;

    if (!scram_next_attr(&cur, &name, &val, &vlen) || name != 's')
        return scram_fail(err, "SCRAM server-first-message is missing the salt (s=)");
    uint8_t salt[SCRAM_MAX_SALT_LEN];
    size_t salt_len = 0;
    if (!scram_b64_decode(val, vlen, salt, sizeof salt, &salt_len) || salt_len == 0)
        return scram_fail(err, "SCRAM salt is empty, too long or not valid base64");

    if (!scram_next_attr(&cur, &name, &val, &vlen) || name != 'i')
        return scram_fail(err, "SCRAM server-first-message is missing the iteration count (i=)");
    int iterations = 0;
    if (!scram_parse_posint(val, vlen, &iterations) || iterations > c->max_iterations)
        return scram_fail(err, "SCRAM iteration count is invalid or above the allowed maximum");

    if (!scram_skip_extensions(&cur, err))
        return false;

    /* c=biws: base64 of our own gs2 header "n,,". */
    struct scram_piece wp[] = {{"c=biws,r=", 9}, {nonce, nonce_len}};
    size_t without_proof_len = 0;
    char *without_proof = scram_join(wp, 2, &without_proof_len);
    size_t am_len = 0;
    char *am = without_proof ? scram_auth_message(c->client_first_bare, c->client_first_bare_len,
                                                  in, len, without_proof, without_proof_len,
                                                  &am_len)
                             : NULL;
    if (!am) {
        free(without_proof);
        return scram_fail(err, "out of memory");
    }

    uint8_t salted[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN], stored_key[SCRAM_KEY_LEN];
    uint8_t server_key[SCRAM_KEY_LEN], client_sig[SCRAM_KEY_LEN], proof[SCRAM_KEY_LEN];
    scram_salt_cache *cache = c->cache;
    bool cached = cache && cache->valid && cache->iterations == iterations &&
                  cache->salt_len == salt_len && memcmp(cache->salt, salt, salt_len) == 0;
    bool ok = true;
    if (cached) {
        memcpy(salted, cache->salted, SCRAM_KEY_LEN);
    } else {
        ok = scram_salted_password(c->password, c->password_len, salt, salt_len, iterations,
                                   salted);
        if (ok && cache && salt_len <= SCRAM_MAX_SALT_LEN) {
            cache->valid = true;
            cache->iterations = iterations;
            cache->salt_len = salt_len;
            memcpy(cache->salt, salt, salt_len);
            memcpy(cache->salted, salted, SCRAM_KEY_LEN);
        }
    }
    ok = ok && scram_keys_from_salted(salted, client_key, stored_key, server_key) &&
              scram_hmac(stored_key, SCRAM_KEY_LEN, am, am_len, client_sig) &&
              scram_hmac(server_key, SCRAM_KEY_LEN, am, am_len, c->server_signature);
    if (ok)
        for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
            proof[i] = client_key[i] ^ client_sig[i];
    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(client_key, sizeof client_key);
    OPENSSL_cleanse(stored_key, sizeof stored_key);
    OPENSSL_cleanse(server_key, sizeof server_key);
    OPENSSL_cleanse(client_sig, sizeof client_sig);
    free(am);
    if (!ok) {
        free(without_proof);
        return scram_fail(err, "internal error computing SCRAM proof");
    }

    char proof_b64[4 * ((SCRAM_KEY_LEN + 2) / 3) + 1];
    scram_b64_encode(proof, SCRAM_KEY_LEN, proof_b64);
    OPENSSL_cleanse(proof, sizeof proof);
    struct scram_piece fin[] = {
        {without_proof, without_proof_len}, {",p=", 3}, {proof_b64, strlen(proof_b64)}};
    *out = scram_join(fin, sizeof fin / sizeof fin[0], out_len);
    free(without_proof);
    if (!*out)
        return scram_fail(err, "out of memory");
    return true;
}

bool scram_client_continue(scram_client *c, const uint8_t *server_first, size_t len, char **out,
                           size_t *out_len, const char **err)
{
    if (!out || !out_len)
        return scram_fail(err, "invalid arguments");
    *out = NULL;
    *out_len = 0;
    if (!c)
        return scram_fail(err, "invalid arguments");
    if (c->state != SCRAM_CLI_FIRST_SENT) {
        c->state = SCRAM_CLI_FAILED;
        return scram_fail(err, "SCRAM server-first-message out of sequence");
    }
    if (!scram_check_message(server_first, len, err) ||
        !scram_client_continue_impl(c, (const char *)server_first, len, out, out_len, err)) {
        c->state = SCRAM_CLI_FAILED;
        return false;
    }
    c->state = SCRAM_CLI_FINAL_SENT;
    return true;
}

static bool scram_client_final_impl(scram_client *c, const char *in, size_t len, const char **err)
{
    struct scram_cursor cur = {in, len, 0};
    char name;
    const char *val;
    size_t vlen;

    if (len >= 2 && in[0] == 'e' && in[1] == '=') {
        const char *comma = memchr(in, ',', len);
        return scram_client_server_error(c, in + 2, (comma ? (size_t)(comma - in) : len) - 2, err);
    }
    if (!scram_next_attr(&cur, &name, &val, &vlen) || name != 'v')
        return scram_fail(err, "SCRAM server-final-message is missing the verifier (v=)");
    uint8_t sig[SCRAM_KEY_LEN];
    size_t sig_len = 0;
    if (!scram_b64_decode(val, vlen, sig, sizeof sig, &sig_len) || sig_len != SCRAM_KEY_LEN)
        return scram_fail(err, "SCRAM server signature is not 32 bytes of valid base64");
    if (!scram_skip_extensions(&cur, err))
        return false;
    if (CRYPTO_memcmp(sig, c->server_signature, SCRAM_KEY_LEN) != 0)
        return scram_fail(err, "SCRAM server signature is invalid "
                               "(the server does not know the password)");
    return true;
}

bool scram_client_final(scram_client *c, const uint8_t *server_final, size_t len,
                        const char **err)
{
    if (!c)
        return scram_fail(err, "invalid arguments");
    if (c->state != SCRAM_CLI_FINAL_SENT) {
        c->state = SCRAM_CLI_FAILED;
        return scram_fail(err, "SCRAM server-final-message out of sequence");
    }
    if (!scram_check_message(server_final, len, err) ||
        !scram_client_final_impl(c, (const char *)server_final, len, err)) {
        c->state = SCRAM_CLI_FAILED;
        return false;
    }
    c->state = SCRAM_CLI_DONE;
    return true;
}

void scram_client_set_cache(scram_client *c, scram_salt_cache *cache)
{
    if (c)
        c->cache = cache;
}

void scram_salt_cache_clear(scram_salt_cache *cache)
{
    OPENSSL_cleanse(cache, sizeof(*cache));
}
