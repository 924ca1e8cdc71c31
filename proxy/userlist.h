/* The auth file: which client users may log in, and their secrets.
 * Each line is `"user" "secret"`, where secret is a plaintext password, a
 * SCRAM-SHA-256 verifier or an md5 hash ("md5" + 32 hex digits). */
#ifndef PGT_USERLIST_H
#define PGT_USERLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/scram.h"

typedef enum secret_kind { SECRET_PLAIN, SECRET_SCRAM, SECRET_MD5 } secret_kind;

typedef struct userlist_entry userlist_entry;
typedef struct userlist userlist;

/* NULL on failure with "file:line: problem" in err. */
userlist *userlist_load(const char *path, char *err, size_t err_len)
    __attribute__((warn_unused_result));
void userlist_free(userlist *u);
size_t userlist_count(const userlist *u);

/* Borrowed; NULL for an unknown user. */
const userlist_entry *userlist_find(const userlist *u, const char *user);
secret_kind userlist_entry_kind(const userlist_entry *e);
/* The SCRAM secret for this entry (derived once for plaintext entries);
 * NULL for md5 entries. */
const scram_secret *userlist_entry_scram(const userlist_entry *e);
/* Plaintext password, or NULL. */
const char *userlist_entry_plain(const userlist_entry *e);
/* "md5..." stored hash, or NULL. */
const char *userlist_entry_md5(const userlist_entry *e);
/* Constant-time checks of what a client sent. */
bool userlist_check_cleartext(const userlist_entry *e, const char *given);
bool userlist_check_md5(const userlist_entry *e, const char *user, const uint8_t salt[4],
                        const char *given);
/* A stable fake secret used for unknown users so that their failure looks
 * like a wrong password and takes as long. */
const scram_secret *userlist_mock_secret(const userlist *u);

#endif
