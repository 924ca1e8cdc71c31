/* The running configuration: an immutable snapshot built from an INI file.
 * A reload builds a new snapshot and swaps the pointer; sessions keep a
 * reference to the one they started a transaction with. */
#ifndef PGT_CONFIG_H
#define PGT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "protocol/scram.h"
#include "proxy/log.h"

typedef enum auth_method { AUTH_SCRAM, AUTH_MD5, AUTH_PASSWORD } auth_method;

/* Where and as whom pgtandem connects to one database. */
typedef struct backend_target {
    char *name;     /* "legacy" or the service name */
    char *conninfo; /* as written, for messages (never logged: it may hold a password) */
    char *host;
    int port;
    char *dbname;
    char *user;
    char *password; /* NULL when the server trusts us */
    char *options;  /* extra startup "options", may be NULL */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    /* The one mutable part of a snapshot: a cache of the SCRAM derivation for
     * this target's password, so each backend login skips PBKDF2. */
    scram_salt_cache *scram_cache;
} backend_target;

typedef struct config {
    int refs;
    char *path;
    char *listen_host;
    int listen_port;
    char *auth_file; /* resolved against the config file's folder */
    auth_method auth_type;
    log_level log_level;
    double login_timeout;   /* seconds from connect to ready */
    int max_clients;
    backend_target legacy;
} config;

/* Reads and validates path. On failure returns NULL and writes
 * "file:line: problem" into err. */
config *config_load(const char *path, char *err, size_t err_len)
    __attribute__((warn_unused_result));
config *config_ref(config *c);
void config_unref(config *c);

/* Fills t from a libpq conninfo string; resolves the host. */
bool config_parse_conninfo(const char *conninfo, backend_target *t, char *err, size_t err_len)
    __attribute__((warn_unused_result));
void config_target_clear(backend_target *t);
const char *config_auth_method_name(auth_method m);

#endif
