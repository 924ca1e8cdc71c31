/* SCRAM-SHA-256, the client side: pgtandem logging in to a PostgreSQL
 * server. Bounds the work a server can ask for (iterations, lengths). */
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
