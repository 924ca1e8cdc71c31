/* Shared by the SCRAM files (scram_util.c, scram_server.c, scram_client.c):
 * base64, the crypto steps, the strict attribute parser and limits. Not part
 * of the public API in scram.h. */
#ifndef PGT_PROTOCOL_SCRAM_INTERNAL_H
#define PGT_PROTOCOL_SCRAM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/scram.h"

#define SCRAM_RAW_NONCE_LEN 18          /* random bytes; 24 characters once base64'd */
#define SCRAM_DEFAULT_SALT_LEN 16
#define SCRAM_VERIFIER_MAX_LEN 512
#define SCRAM_ERRBUF_LEN 160
#define SCRAM_MAX_USER_LEN 256          /* raw bytes, before escaping */

struct scram_piece {
    const char *p;
    size_t n;
};

struct scram_cursor {
    const char *p;
    size_t len;
    size_t pos;
};

size_t scram_b64_encoded_len(size_t n);
void scram_b64_encode(const uint8_t *in, size_t n, char *out);
int scram_b64_value(char c);
bool scram_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);
bool scram_hmac(const uint8_t *key, size_t key_len, const void *data, size_t len, uint8_t out[SCRAM_KEY_LEN]);
bool scram_sha256(const uint8_t *in, size_t len, uint8_t out[SCRAM_KEY_LEN]);
bool scram_keys_from_salted(const uint8_t salted[SCRAM_KEY_LEN], uint8_t client_key[SCRAM_KEY_LEN], uint8_t stored_key[SCRAM_KEY_LEN], uint8_t server_key[SCRAM_KEY_LEN]);
bool scram_salted_password(const char *password, size_t password_len, const uint8_t *salt, size_t salt_len, int iterations, uint8_t out[SCRAM_KEY_LEN]);
bool scram_random_nonce(char out[SCRAM_MAX_NONCE_LEN + 1], size_t *out_len);
bool scram_fail(const char **err, const char *msg);
bool scram_printable(const char *s, size_t len);
bool scram_nonce_ok(const char *s, size_t len, size_t max);
bool scram_parse_posint(const char *s, size_t len, int *out);
char *scram_join(const struct scram_piece *pieces, size_t count, size_t *out_len);
char *scram_dup(const char *p, size_t n);
bool scram_check_message(const uint8_t *in, size_t len, const char **err);
bool scram_cursor_done(const struct scram_cursor *c);
bool scram_is_alpha(char ch);
bool scram_next_attr(struct scram_cursor *c, char *name, const char **val, size_t *vlen);
bool scram_reserved_name(char n);
bool scram_skip_extensions(struct scram_cursor *c, const char **err);
char *scram_auth_message(const char *cfb, size_t cfb_len, const char *sf, size_t sf_len, const char *cf, size_t cf_len, size_t *out_len);

#endif
