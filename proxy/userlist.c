/* Loads the auth file into a hash table; see userlist.h. */
#include "proxy/userlist.h"

#include "protocol/auth_md5.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define SCRAM_DEFAULT_ITERATIONS 4096

struct userlist_entry {
    char *user;
    char *secret;
    secret_kind kind;
    scram_secret scram;
    bool has_scram;
    UT_hash_handle hh;
};

struct userlist {
    userlist_entry *by_name;
    size_t count;
    scram_secret mock;
};

/* Reads one double-quoted token; "" inside is a literal quote. */
static bool read_quoted(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '"')
        return false;
    s++;
    size_t n = 0;
    for (;;) {
        if (*s == '\0' || *s == '\n')
            return false;
        if (*s == '"') {
            if (s[1] != '"')
                break;
            s++;
        }
        if (n + 1 >= cap)
            return false;
        out[n++] = *s++;
    }
    out[n] = '\0';
    *p = s + 1;
    return true;
}

static bool looks_md5(const char *s)
{
    if (strncmp(s, "md5", 3) != 0 || strlen(s) != 35)
        return false;
    for (int i = 3; i < 35; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

static void entry_free(userlist_entry *e)
{
    OPENSSL_cleanse(e->secret, strlen(e->secret));
    OPENSSL_cleanse(&e->scram, sizeof(e->scram));
    free(e->secret);
    free(e->user);
    free(e);
}

static bool add_entry(userlist *u, const char *user, const char *secret, char *why,
                      size_t why_len)
{
    userlist_entry *e = NULL;
    HASH_FIND_STR(u->by_name, user, e);
    if (e) {
        snprintf(why, why_len, "user \"%.64s\" is listed twice", user);
        return false;
    }
    e = calloc(1, sizeof(*e));
    if (!e || !(e->user = strdup(user)) || !(e->secret = strdup(secret))) {
        if (e) {
            free(e->user);
            free(e);
        }
        snprintf(why, why_len, "out of memory");
        return false;
    }
    if (strncmp(secret, "SCRAM-SHA-256$", 14) == 0) {
        e->kind = SECRET_SCRAM;
        e->has_scram = scram_secret_parse(secret, &e->scram);
        if (!e->has_scram) {
            snprintf(why, why_len, "malformed SCRAM-SHA-256 verifier for user \"%.64s\"", user);
            entry_free(e);
            return false;
        }
    } else if (looks_md5(secret)) {
        e->kind = SECRET_MD5;
    } else {
        e->kind = SECRET_PLAIN;
        e->has_scram = scram_secret_from_password(secret, NULL, 0, SCRAM_DEFAULT_ITERATIONS,
                                                  &e->scram);
        if (!e->has_scram) {
            snprintf(why, why_len, "cannot derive a SCRAM secret for user \"%.64s\"", user);
            entry_free(e);
            return false;
        }
    }
    HASH_ADD_KEYPTR(hh, u->by_name, e->user, strlen(e->user), e);
    u->count++;
    return true;
}

userlist *userlist_load(const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    userlist *u = calloc(1, sizeof(*u));
    if (!u || !scram_secret_from_password("pgtandem-mock", NULL, 0, SCRAM_DEFAULT_ITERATIONS,
                                          &u->mock)) {
        snprintf(err, err_len, "%s: out of memory", path);
        free(u);
        fclose(f);
        return NULL;
    }
    char line[4096], user[512], secret[1024], why[256];
    int lineno = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof(line), f)) {
        lineno++;
        const char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0' || *p == '#' || *p == ';')
            continue;
        if (!read_quoted(&p, user, sizeof(user)) || !read_quoted(&p, secret, sizeof(secret))) {
            snprintf(err, err_len, "%s:%d: expected \"user\" \"password-or-verifier\"", path,
                     lineno);
            ok = false;
        } else if (!add_entry(u, user, secret, why, sizeof(why))) {
            snprintf(err, err_len, "%s:%d: %s", path, lineno, why);
            ok = false;
        }
        OPENSSL_cleanse(secret, sizeof(secret));
        OPENSSL_cleanse(line, sizeof(line));
    }
    fclose(f);
    if (!ok) {
        userlist_free(u);
        return NULL;
    }
    return u;
}

void userlist_free(userlist *u)
{
    if (!u)
        return;
    userlist_entry *e, *tmp;
    HASH_ITER(hh, u->by_name, e, tmp) {
        HASH_DEL(u->by_name, e);
        entry_free(e);
    }
    free(u);
}

size_t userlist_count(const userlist *u)
{
    return u->count;
}

const userlist_entry *userlist_find(const userlist *u, const char *user)
{
    userlist_entry *e = NULL;
    HASH_FIND_STR(u->by_name, user, e);
    return e;
}

secret_kind userlist_entry_kind(const userlist_entry *e)
{
    return e->kind;
}

const scram_secret *userlist_entry_scram(const userlist_entry *e)
{
    return e->has_scram ? &e->scram : NULL;
}

const char *userlist_entry_plain(const userlist_entry *e)
{
    return e->kind == SECRET_PLAIN ? e->secret : NULL;
}

const char *userlist_entry_md5(const userlist_entry *e)
{
    return e->kind == SECRET_MD5 ? e->secret : NULL;
}

const scram_secret *userlist_mock_secret(const userlist *u)
{
    return &u->mock;
}

bool userlist_check_cleartext(const userlist_entry *e, const char *given)
{
    if (e->kind == SECRET_PLAIN) {
        size_t n = strlen(e->secret);
        return strlen(given) == n && CRYPTO_memcmp(e->secret, given, n) == 0;
    }
    if (e->kind == SECRET_SCRAM) {
        /* derive with the verifier's salt and count, compare the stored key */
        scram_secret probe;
        bool ok = scram_secret_from_password(given, e->scram.salt, e->scram.salt_len,
                                             e->scram.iterations, &probe) &&
                  CRYPTO_memcmp(probe.stored_key, e->scram.stored_key, SCRAM_KEY_LEN) == 0;
        OPENSSL_cleanse(&probe, sizeof(probe));
        return ok;
    }
    return false; /* an md5 hash can't check a cleartext password without the user */
}

bool userlist_check_md5(const userlist_entry *e, const char *user, const uint8_t salt[4],
                        const char *given)
{
    char expect[36];
    bool ok;
    if (e->kind == SECRET_PLAIN) {
        auth_md5_password(user, e->secret, salt, expect);
        ok = true;
    } else if (e->kind == SECRET_MD5) {
        ok = auth_md5_from_stored(e->secret, salt, expect);
    } else {
        return false;
    }
    ok = ok && strlen(given) == 35 && CRYPTO_memcmp(given, expect, 35) == 0;
    OPENSSL_cleanse(expect, sizeof(expect));
    return ok;
}
