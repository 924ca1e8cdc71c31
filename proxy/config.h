/* The running configuration: an immutable snapshot built from an INI file.
 * A reload builds a new snapshot and swaps the pointer; sessions keep a
 * reference to the one they started a transaction with. */
#ifndef PGT_CONFIG_H
#define PGT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "protocol/scram.h"
#include "routing/route.h"
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
    /* pgtandem's role may SET session_replication_role here (mirror_check.c,
     * filled before the snapshot is used) */
    bool replica_role;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    /* The one mutable part of a snapshot: a cache of the SCRAM derivation for
     * this target's password, so each backend login skips PBKDF2. */
    scram_salt_cache *scram_cache;
} backend_target;

typedef enum mirror_failure { MIRROR_FAIL = 0, MIRROR_CONTINUE } mirror_failure;

#define CONFIG_MAX_SERVICES 32
#define CONFIG_MAX_TABLE_PATTERNS 256

/* One [service NAME] section: where its database is, which tables it owns,
 * and where the migration stands for it. */
typedef struct service_config {
    char *name;
    backend_target target;
    char **tables; /* patterns as written, trimmed */
    size_t n_tables;
    route_writes writes;
    route_side primary;
    route_reads reads;
    double shadow_sample; /* reads=shadow: the share of reads also run on the other side */
    /* what the config file itself says, before the state file's overlay
     * (config_state.c): a console change remembers it, so a later edit of
     * the file wins over the older console change */
    route_writes file_writes;
    route_side file_primary;
    route_reads file_reads;
    bool from_state; /* the state file set this service's state */
    struct type_oids *oids; /* its OIDs -> legacy's (type_oids.c); NULL: none differ or unknown */
} service_config;

/* One service's migration state set from the admin console, kept in the
 * state file beside the config (<config>.state). */
typedef struct state_entry {
    char name[64];
    route_writes writes;
    route_side primary;
    route_reads reads;
    /* the config file's values when the change was made */
    route_writes file_writes;
    route_side file_primary;
    route_reads file_reads;
} state_entry;

typedef struct config_state {
    state_entry e[CONFIG_MAX_SERVICES];
    size_t n;
} config_state;

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
    mirror_failure on_mirror_failure;
    route_cross cross_service_writes;
    bool two_phase; /* commit transactions spanning databases with PREPARE TRANSACTION */
    int copy_buffer_limit; /* bytes of a dual-written COPY held to replay on the secondary */
    char *metrics_host; /* metrics_listen; NULL: no metrics endpoint */
    int metrics_port;
    int shadow_max_inflight; /* shadow reads running at once, proxy-wide */
    double shadow_timeout;   /* seconds a shadow read may take on the other side */
    service_config services[CONFIG_MAX_SERVICES];
    size_t n_services;
    route_map *routes; /* compiled from services */
    char *admin_users;    /* users allowed into the admin console, "a, b" */
    double pause_timeout; /* seconds a request waits for a paused service, or a flip's fence */
    double connect_timeout; /* seconds a backend has to connect and log in */
    double mirror_timeout;  /* seconds a secondary has to answer a mirrored write or commit */
    double verify_writes_sample; /* share of writes mirrored by row images whose rows are compared */
    char *state_path;     /* <path>.state */
    config_state state;   /* the state file's entries this snapshot applied */
    size_t state_dropped; /* entries read but not applied (the file changed) */
} config;

/* Reads and validates path. On failure returns NULL and writes
 * "file:line: problem" into err. */
config *config_load(const char *path, char *err, size_t err_len)
    __attribute__((warn_unused_result));
/* As config_load, with `overlay` in place of the state file's contents
 * (NULL: read the state file). */
config *config_load_with(const char *path, const config_state *overlay, char *err,
                         size_t err_len) __attribute__((warn_unused_result));
config *config_ref(config *c);
/* Whether user is listed in admin_users. */
bool config_is_admin(const config *c, const char *user);
/* The service's index, -1 when none has that name. */
int config_service_index(const config *c, const char *name);

/* config_state.c: the state file. */
bool config_state_read(const char *path, config_state *out, char *err, size_t err_len)
    __attribute__((warn_unused_result));
/* Applies the entries whose recorded file values still match the config
 * file; fills c->state with those and counts the others. */
void config_state_apply(config *c, const config_state *st);
/* Writes c->state to c->state_path atomically (temporary file, rename). */
bool config_state_save(const config *c, char *err, size_t err_len)
    __attribute__((warn_unused_result));
bool config_parse_writes(const char *v, route_writes *out);
bool config_parse_side(const char *v, route_side *out);
bool config_parse_reads(const char *v, route_reads *out);
void config_unref(config *c);

/* Fills t from a libpq conninfo string; resolves the host. */
bool config_parse_conninfo(const char *conninfo, backend_target *t, char *err, size_t err_len)
    __attribute__((warn_unused_result));
void config_target_clear(backend_target *t);
const char *config_auth_method_name(auth_method m);
/* The target a client's database name stands for: legacy or a service;
 * NULL when no configured database has that name. */
const backend_target *config_find_database(const config *c, const char *dbname);

/* config_service.c: one key of a [service NAME] section. */
bool config_service_key(config *c, const char *service, const char *key, const char *value,
                        char *err, size_t err_len) __attribute__((warn_unused_result));
/* After the whole file: every service complete, ownership unambiguous. */
bool config_services_finish(config *c, char *err, size_t err_len)
    __attribute__((warn_unused_result));
void config_services_free(config *c);

#endif
