/* SCRAM-SHA-256 building blocks: base64, HMAC/PBKDF2 steps, the attribute
 * parser, and verifier parsing and formatting. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "protocol/scram.h"
#include "protocol/scram_internal.h"

static const char scram_verifier_prefix[] = "SCRAM-SHA-256$";

/* ---------------------------------------------------------------- base64 */

static const char scram_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t scram_b64_encoded_len(size_t n)
{
    return 4 * ((n + 2) / 3);
}

/* Writes scram_b64_encoded_len(n) characters and a NUL. */
void scram_b64_encode(const uint8_t *in, size_t n, char *out)
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

int scram_b64_value(char c)
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
bool scram_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap,
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

bool scram_hmac(const uint8_t *key, size_t key_len, const void *data, size_t len,
                       uint8_t out[SCRAM_KEY_LEN])
{
    unsigned int n = 0;
    if (key_len > INT_MAX)
        return false;
    if (HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n) == NULL)
        return false;
    return n == SCRAM_KEY_LEN;
}

bool scram_sha256(const uint8_t *in, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
    unsigned int n = 0;
    if (EVP_Digest(in, len, out, &n, EVP_sha256(), NULL) != 1)
        return false;
    return n == SCRAM_KEY_LEN;
}

/* SaltedPassword -> ClientKey, StoredKey, ServerKey (RFC 5802 section 3). */
bool scram_keys_from_salted(const uint8_t salted[SCRAM_KEY_LEN],
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

bool scram_salted_password(const char *password, size_t password_len, const uint8_t *salt,
                                  size_t salt_len, int iterations, uint8_t out[SCRAM_KEY_LEN])
{
    if (password_len > SCRAM_MAX_PASSWORD_LEN || salt_len == 0 ||
        salt_len > SCRAM_MAX_SALT_LEN || iterations < 1)
        return false;
    return PKCS5_PBKDF2_HMAC(password, (int)password_len, salt, (int)salt_len, iterations,
                             EVP_sha256(), SCRAM_KEY_LEN, out) == 1;
}

/* A fresh nonce: 18 random bytes as 24 base64 characters (never contains ','). */
bool scram_random_nonce(char out[SCRAM_MAX_NONCE_LEN + 1], size_t *out_len)
{
    uint8_t raw[SCRAM_RAW_NONCE_LEN];
    if (RAND_bytes(raw, (int)sizeof raw) != 1)
        return false;
    scram_b64_encode(raw, sizeof raw, out);
    *out_len = scram_b64_encoded_len(sizeof raw);
    return true;
}

/* --------------------------------------------------------------- helpers */

bool scram_fail(const char **err, const char *msg)
{
    if (err)
        *err = msg;
    return false;
}

/* RFC 5802 "printable": %x21-2B / %x2D-7E, i.e. visible ASCII except ','. */
bool scram_printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x21 || ch > 0x7e || ch == ',')
            return false;
    }
    return true;
}

bool scram_nonce_ok(const char *s, size_t len, size_t max)
{
    return len > 0 && len <= max && scram_printable(s, len);
}

/* RFC 5802 posit-number: no sign, no leading zero, fits in an int. */
bool scram_parse_posint(const char *s, size_t len, int *out)
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


/* Concatenate pieces into one malloc'd NUL-terminated string. */
char *scram_join(const struct scram_piece *pieces, size_t count, size_t *out_len)
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

char *scram_dup(const char *p, size_t n)
{
    struct scram_piece one = {p, n};
    return scram_join(&one, 1, NULL);
}

/* Every incoming message: present, capped, and free of NULs (which would
 * otherwise let C-string consumers see a different message than we checked). */
bool scram_check_message(const uint8_t *in, size_t len, const char **err)
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


bool scram_cursor_done(const struct scram_cursor *c)
{
    return c->pos >= c->len;
}

bool scram_is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Reads "<letter>=<value>" plus the ',' after it. A ',' must be followed by
 * another attribute. The value may be empty here; callers decide. */
bool scram_next_attr(struct scram_cursor *c, char *name, const char **val, size_t *vlen)
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
bool scram_reserved_name(char n)
{
    return n != '\0' && strchr("amnrcspive", n) != NULL;
}

/* Optional extensions at the end of a message: ALPHA "=" 1*value-char, each
 * ignored as RFC 5802 asks, but never a reserved letter. */
bool scram_skip_extensions(struct scram_cursor *c, const char **err)
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
char *scram_auth_message(const char *cfb, size_t cfb_len, const char *sf, size_t sf_len,
                                const char *cf, size_t cf_len, size_t *out_len)
{
    struct scram_piece parts[] = {{cfb, cfb_len}, {",", 1}, {sf, sf_len}, {",", 1}, {cf, cf_len}};
    return scram_join(parts, sizeof parts / sizeof parts[0], out_len);
}
