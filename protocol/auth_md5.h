/* PostgreSQL's md5 password scheme: "md5" + hex(md5(hex(md5(password || user)) || salt)).
 * Computes client responses from a plaintext or a stored "md5..." hash, and
 * checks a response in constant time. Pure functions; no I/O. */
#ifndef PGT_PROTOCOL_AUTH_MD5_H
#define PGT_PROTOCOL_AUTH_MD5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_MD5_MUST_CHECK __attribute__((warn_unused_result))
#define AUTH_MD5_LEN 35 /* "md5" + 32 hex digits, without the NUL */

/* out NUL-terminated "md5"+32 lowercase hex. On an internal digest failure
 * (e.g. MD5 disabled by a FIPS provider) or NULL input, out is set to "",
 * which never matches any response. */
void auth_md5_password(const char *user, const char *password, const uint8_t salt[4],
                       char out[36]);
/* The stored form "md5"+hex(md5(password || user)), as in pg_authid. */
AUTH_MD5_MUST_CHECK bool auth_md5_stored(const char *user, const char *password, char out[36]);
/* from a stored "md5<32hex>" (=md5(password||user)) compute the expected response for salt.
 * Hex digits may be in either case. false (out = "") if stored is malformed. */
AUTH_MD5_MUST_CHECK bool auth_md5_from_stored(const char *stored_md5, const uint8_t salt[4],
                                              char out[36]);
/* Does a client's password-message payload (len bytes; one trailing NUL is
 * ignored) equal the expected response for this stored hash and salt?
 * Constant-time compare. */
AUTH_MD5_MUST_CHECK bool auth_md5_check(const char *stored_md5, const uint8_t salt[4],
                                        const uint8_t *response, size_t len);

#endif
