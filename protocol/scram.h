/* SCRAM-SHA-256 (RFC 5802 / RFC 7677) as PostgreSQL speaks it, both sides:
 * the proxy verifying its clients and the proxy logging in to a backend.
 * Pure functions over buffers; crypto from OpenSSL libcrypto; no I/O. */
#ifndef PGT_PROTOCOL_SCRAM_H
#define PGT_PROTOCOL_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRAM_MUST_CHECK __attribute__((warn_unused_result))

#define SCRAM_KEY_LEN 32
#define SCRAM_MAX_SALT_LEN 64
#define SCRAM_MAX_ITERATIONS 100000   /* a backend asking for more is refused: bounded CPU */
#define SCRAM_MAX_NONCE_LEN 256       /* per side; a combined nonce may be twice this */
#define SCRAM_MAX_MESSAGE_LEN 4096    /* any single SCRAM message, in bytes */
#define SCRAM_MAX_PASSWORD_LEN 1024
#define SCRAM_DEFAULT_ITERATIONS 4096 /* what PostgreSQL uses by default */

typedef struct scram_secret {
    int iterations;
    uint8_t salt[SCRAM_MAX_SALT_LEN];
    size_t salt_len;
    uint8_t stored_key[SCRAM_KEY_LEN];
    uint8_t server_key[SCRAM_KEY_LEN];
} scram_secret;

/* Parse a PostgreSQL verifier "SCRAM-SHA-256$<iter>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>".
 * Any iteration count 1..INT_MAX is accepted: only the client pays for it. */
SCRAM_MUST_CHECK bool scram_secret_parse(const char *verifier, scram_secret *out);
/* Derive a secret from a plaintext password; salt NULL = random 16 bytes.
 * iterations must be 1..SCRAM_MAX_ITERATIONS, salt_len 1..SCRAM_MAX_SALT_LEN.
 * The password is used as raw bytes (no SASLprep): ASCII passwords match
 * PostgreSQL exactly, non-ASCII ones only when already NFKC-normalised. */
SCRAM_MUST_CHECK bool scram_secret_from_password(const char *password, const uint8_t *salt,
                                                 size_t salt_len, int iterations,
                                                 scram_secret *out);
/* Format a secret back to verifier text (for a `pgtandem --scram-secret` helper).
 * Caller frees. NULL on bad input or out of memory. */
SCRAM_MUST_CHECK char *scram_secret_format(const scram_secret *s);

/* Server side: the proxy authenticating a client. */
typedef struct scram_server scram_server; /* opaque */
/* nonce NULL = 18 random bytes, base64; otherwise 1..SCRAM_MAX_NONCE_LEN printable
 * ASCII characters other than ','. NULL on bad secret/nonce or out of memory. */
SCRAM_MUST_CHECK scram_server *scram_server_new(const scram_secret *secret, const char *nonce);
/* client-first-message in, server-first-message out (malloc'd, *out_len set).
 * false + *err (static string) on bad input. */
SCRAM_MUST_CHECK bool scram_server_first(scram_server *s, const uint8_t *in, size_t len, char **out,
                                         size_t *out_len, const char **err);
/* client-final-message in; verifies channel binding "biws"/"eSws" and the proof;
 * server-final-message ("v=...") out. false + *err when the proof is wrong or input bad.
 * true means the client is authenticated. */
SCRAM_MUST_CHECK bool scram_server_final(scram_server *s, const uint8_t *in, size_t len, char **out,
                                         size_t *out_len, const char **err);
void scram_server_free(scram_server *s);

/* Client side: the proxy authenticating to a PostgreSQL backend.
 * After a failure, *err is a static string or, for a server "e=" error, text
 * held inside the scram_client (valid until scram_client_free). Any failure
 * ends the exchange: later calls fail too. */
typedef struct scram_client scram_client;
/* Same as scram_client_new_user(NULL, password, nonce): sends "n=" like libpq. */
SCRAM_MUST_CHECK scram_client *scram_client_new(const char *password, const char *nonce);
/* user NULL or "" sends an empty "n="; otherwise it is sent escaped as RFC 5802 asks.
 * nonce NULL = 18 random bytes, base64; else as for scram_server_new. */
SCRAM_MUST_CHECK scram_client *scram_client_new_user(const char *user, const char *password,
                                                     const char *nonce);
/* Lower the iteration cap for this exchange (clamped to 1..SCRAM_MAX_ITERATIONS). */
void scram_client_set_max_iterations(scram_client *c, int max_iterations);
/* The costly part of a login is PBKDF2 over the password. A server keeps one
 * salt and iteration count per role, so a caller that logs in with the same
 * password again and again keeps one cache per password; the client reuses
 * the derived value when salt and count match. The cache holds key material:
 * scram_salt_cache_clear() it before freeing. */
typedef struct scram_salt_cache {
    bool valid;
    int iterations;
    size_t salt_len;
    uint8_t salt[SCRAM_MAX_SALT_LEN];
    uint8_t salted[SCRAM_KEY_LEN];
} scram_salt_cache;
void scram_client_set_cache(scram_client *c, scram_salt_cache *cache);
void scram_salt_cache_clear(scram_salt_cache *cache);
/* "n,,n=,r=<nonce>" */
SCRAM_MUST_CHECK bool scram_client_first(scram_client *c, char **out, size_t *out_len);
SCRAM_MUST_CHECK bool scram_client_continue(scram_client *c, const uint8_t *server_first,
                                            size_t len, char **out, size_t *out_len,
                                            const char **err);
/* verifies server signature */
SCRAM_MUST_CHECK bool scram_client_final(scram_client *c, const uint8_t *server_final, size_t len,
                                         const char **err);
void scram_client_free(scram_client *c);

#endif
