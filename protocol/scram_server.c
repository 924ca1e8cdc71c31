/* SCRAM-SHA-256, the server side: pgtandem verifying a client against a
 * stored secret. A state machine over byte buffers; no I/O. */
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
