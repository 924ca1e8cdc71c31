/* Loads the INI configuration into an immutable snapshot. Every key lives in
 * one table with its type and default, so adding a setting is one line. */
#include "proxy/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <libpq-fe.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum key_type { KEY_STRING, KEY_INT, KEY_SECONDS, KEY_LISTEN, KEY_LOG_LEVEL,
                        KEY_AUTH_TYPE, KEY_CONNINFO, KEY_MIRROR_FAILURE, KEY_CROSS, KEY_BOOL,
                        KEY_METRICS_LISTEN, KEY_SHARE } key_type;

typedef struct key_spec {
    const char *section;
    const char *name;
    key_type type;
    size_t offset;
    const char *default_value; /* NULL: required */
} key_spec;

#define OFF(field) offsetof(config, field)
static const key_spec keys[] = {
    {"pgtandem", "listen", KEY_LISTEN, OFF(listen_host), "127.0.0.1:6432"},
    {"pgtandem", "auth_file", KEY_STRING, OFF(auth_file), "userlist.txt"},
    {"pgtandem", "auth_type", KEY_AUTH_TYPE, OFF(auth_type), "scram-sha-256"},
    {"pgtandem", "log_level", KEY_LOG_LEVEL, OFF(log_level), "info"},
    {"pgtandem", "login_timeout", KEY_SECONDS, OFF(login_timeout), "15"},
    {"pgtandem", "max_clients", KEY_INT, OFF(max_clients), "10000"},
    {"pgtandem", "on_mirror_failure", KEY_MIRROR_FAILURE, OFF(on_mirror_failure), "fail"},
    {"pgtandem", "cross_service_writes", KEY_CROSS, OFF(cross_service_writes), "reject"},
    {"pgtandem", "two_phase", KEY_BOOL, OFF(two_phase), "off"},
    {"pgtandem", "copy_buffer_limit", KEY_INT, OFF(copy_buffer_limit), "67108864"},
    {"pgtandem", "metrics_listen", KEY_METRICS_LISTEN, OFF(metrics_host), ""},
    {"pgtandem", "shadow_max_inflight", KEY_INT, OFF(shadow_max_inflight), "64"},
    {"pgtandem", "shadow_timeout", KEY_SECONDS, OFF(shadow_timeout), "5"},
    {"pgtandem", "admin_users", KEY_STRING, OFF(admin_users), ""},
    {"pgtandem", "pause_timeout", KEY_SECONDS, OFF(pause_timeout), "30"},
    {"pgtandem", "connect_timeout", KEY_SECONDS, OFF(connect_timeout), "5"},
    {"pgtandem", "mirror_timeout", KEY_SECONDS, OFF(mirror_timeout), "10"},
    {"pgtandem", "verify_writes_sample", KEY_SHARE, OFF(verify_writes_sample), "0.1"},
    {"legacy", "conninfo", KEY_CONNINFO, OFF(legacy), NULL},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

typedef struct load_state {
    config *cfg;
    bool seen[N_KEYS];
    char *err;
    size_t err_len;
} load_state;

static void set_err(load_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(load_state *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, st->err_len, fmt, ap);
    va_end(ap);
}

static bool parse_int(const char *v, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max)
        return false;
    *out = n;
    return true;
}

/* host:port, or [ipv6]:port */
static bool parse_listen(const char *v, char **host_out, int *port_out)
{
    const char *host = v, *host_end, *colon;
    long port;
    if (*v == '[') {
        host = v + 1;
        host_end = strchr(host, ']');
        if (!host_end || host_end[1] != ':')
            return false;
        colon = host_end + 1;
    } else {
        colon = strrchr(v, ':');
        host_end = colon;
        if (!colon || memchr(v, ':', (size_t)(colon - v))) /* bare IPv6 is ambiguous */
            return false;
    }
    if (host_end == host || !parse_int(colon + 1, 1, 65535, &port))
        return false;
    free(*host_out);
    *host_out = strndup(host, (size_t)(host_end - host));
    *port_out = (int)port;
    return *host_out != NULL;
}

static bool apply_key(load_state *st, const key_spec *k, const char *v)
{
    void *field = (char *)st->cfg + k->offset;
    long n;
    switch (k->type) {
    case KEY_STRING:
        free(*(char **)field);
        *(char **)field = strdup(v);
        return true;
    case KEY_INT:
        if (!parse_int(v, 1, INT_MAX, &n)) {
            set_err(st, "%s must be a positive integer, not \"%s\"", k->name, v);
            return false;
        }
        *(int *)field = (int)n;
        return true;
    case KEY_SECONDS: {
        char *end;
        double d = strtod(v, &end);
        if (end == v || *end || !(d > 0) || d > 86400) {
            set_err(st, "%s must be a number of seconds, not \"%s\"", k->name, v);
            return false;
        }
        *(double *)field = d;
        return true;
    }
    case KEY_SHARE: {
        char *end;
        double d = strtod(v, &end);
        if (end == v || *end || !(d >= 0 && d <= 1)) {
            set_err(st, "%s must be a number from 0 to 1, not \"%s\"", k->name, v);
            return false;
        }
        *(double *)field = d;
        return true;
    }
    case KEY_LISTEN:
        if (!parse_listen(v, &st->cfg->listen_host, &st->cfg->listen_port)) {
            set_err(st, "listen must be host:port, not \"%s\"", v);
            return false;
        }
        return true;
    case KEY_METRICS_LISTEN: /* empty: no metrics endpoint */
        if (*v && !parse_listen(v, &st->cfg->metrics_host, &st->cfg->metrics_port)) {
            set_err(st, "metrics_listen must be host:port, not \"%s\"", v);
            return false;
        }
        return true;
    case KEY_LOG_LEVEL:
        if (!log_level_parse(v, (log_level *)field)) {
            set_err(st, "log_level must be error, warn, info or debug, not \"%s\"", v);
            return false;
        }
        return true;
    case KEY_AUTH_TYPE:
        if (strcmp(v, "scram-sha-256") == 0)
            *(auth_method *)field = AUTH_SCRAM;
        else if (strcmp(v, "md5") == 0)
            *(auth_method *)field = AUTH_MD5;
        else if (strcmp(v, "password") == 0)
            *(auth_method *)field = AUTH_PASSWORD;
        else {
            set_err(st, "auth_type must be scram-sha-256, md5 or password, not \"%s\"", v);
            return false;
        }
        return true;
    case KEY_MIRROR_FAILURE:
        if (strcmp(v, "fail") == 0)
            *(mirror_failure *)field = MIRROR_FAIL;
        else if (strcmp(v, "continue") == 0)
            *(mirror_failure *)field = MIRROR_CONTINUE;
        else {
            set_err(st, "on_mirror_failure must be fail or continue, not \"%s\"", v);
            return false;
        }
        return true;
    case KEY_CROSS:
        if (strcmp(v, "reject") == 0)
            *(route_cross *)field = ROUTE_CROSS_REJECT;
        else if (strcmp(v, "legacy") == 0)
            *(route_cross *)field = ROUTE_CROSS_LEGACY;
        else {
            set_err(st, "cross_service_writes must be reject or legacy, not \"%s\"", v);
            return false;
        }
        return true;
    case KEY_BOOL:
        if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0)
            *(bool *)field = true;
        else if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0)
            *(bool *)field = false;
        else {
            set_err(st, "%s must be on or off, not \"%s\"", k->name, v);
            return false;
        }
        return true;
    case KEY_CONNINFO: {
        char why[256];
        backend_target *t = field;
        config_target_clear(t);
        if (!config_parse_conninfo(v, t, why, sizeof(why))) {
            set_err(st, "[%s] conninfo: %s", k->section, why);
            return false;
        }
        t->name = strdup(k->section);
        return true;
    }
    }
    return false;
}

static int on_ini_key(void *user, const char *section, const char *name, const char *value)
{
    load_state *st = user;
    if (!name) /* a section header with no key yet */
        return 1;
    if (strncmp(section, "service ", 8) == 0)
        return config_service_key(st->cfg, section + 8, name, value, st->err, st->err_len) ? 1
                                                                                          : 0;
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strcmp(keys[i].section, section) != 0 || strcmp(keys[i].name, name) != 0)
            continue;
        if (st->seen[i]) {
            set_err(st, "%s is set twice in [%s]", name, section);
            return 0;
        }
        st->seen[i] = true;
        return apply_key(st, &keys[i], value) ? 1 : 0;
    }
    set_err(st, "unknown setting \"%s\" in [%s]", name, section);
    return 0;
}

/* Relative paths in the file are relative to the file's own folder, so the
 * daemon behaves the same whatever directory it is started from. */
static char *resolve_beside(const char *config_path, const char *p)
{
    if (p[0] == '/')
        return strdup(p);
    const char *slash = strrchr(config_path, '/');
    if (!slash)
        return strdup(p);
    size_t dir_len = (size_t)(slash - config_path);
    char *out = malloc(dir_len + 1 + strlen(p) + 1);
    if (out)
        sprintf(out, "%.*s/%s", (int)dir_len, config_path, p);
    return out;
}

config *config_load(const char *path, char *err, size_t err_len)
{
    return config_load_with(path, NULL, err, err_len);
}

config *config_load_with(const char *path, const config_state *overlay, char *err,
                         size_t err_len)
{
    config *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, err_len, "%s: out of memory", path);
        return NULL;
    }
    c->refs = 1;
    c->path = strdup(path);
    char why[512] = "";
    load_state st = {.cfg = c, .err = why, .err_len = sizeof(why)};

    /* Debian's inih makes its limits settable: long lines (a conninfo can be
     * long) instead of silent truncation, and the first error is the one shown */
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_max_line = 64 * 1024;
    ini_stop_on_first_error = true;
    ini_allow_multiline = false; /* an indented key is a key, not a continuation */
    int rc = ini_parse(path, on_ini_key, &st);
    if (rc < 0) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (rc > 0) {
        snprintf(err, err_len, "%s:%d: %s", path, rc, why[0] ? why : "syntax error");
        goto fail;
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        if (st.seen[i])
            continue;
        if (!keys[i].default_value) {
            snprintf(err, err_len, "%s: [%s] %s is required", path, keys[i].section,
                     keys[i].name);
            goto fail;
        }
        if (!apply_key(&st, &keys[i], keys[i].default_value)) {
            snprintf(err, err_len, "%s: default of %s: %s", path, keys[i].name, why);
            goto fail;
        }
    }
    /* the console's changes (the state file) go on top of the file's states */
    size_t plen = strlen(path);
    c->state_path = malloc(plen + sizeof(".state"));
    if (!c->state_path) {
        snprintf(err, err_len, "%s: out of memory", path);
        goto fail;
    }
    memcpy(c->state_path, path, plen);
    memcpy(c->state_path + plen, ".state", sizeof(".state"));
    for (size_t i = 0; i < c->n_services; i++) {
        service_config *s = &c->services[i];
        s->file_writes = s->writes;
        s->file_primary = s->primary;
        s->file_reads = s->reads;
    }
    config_state from_file;
    if (!overlay) {
        if (!config_state_read(c->state_path, &from_file, why, sizeof(why))) {
            snprintf(err, err_len, "%s", why);
            goto fail;
        }
        overlay = &from_file;
    }
    config_state_apply(c, overlay);
    if (!config_services_finish(c, why, sizeof(why))) {
        snprintf(err, err_len, "%s: %s", path, why);
        goto fail;
    }
    char *resolved = resolve_beside(path, c->auth_file);
    free(c->auth_file);
    c->auth_file = resolved;
    return c;
fail:
    config_unref(c);
    return NULL;
}

static bool resolve_host(backend_target *t, char *err, size_t err_len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", t->port);
    int rc = getaddrinfo(t->host, port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, err_len, "cannot resolve host \"%s\": %s", t->host, gai_strerror(rc));
        return false;
    }
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return true;
}

bool config_parse_conninfo(const char *conninfo, backend_target *t, char *err, size_t err_len)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &why);
    if (!opts) {
        snprintf(err, err_len, "%s", why ? why : "out of memory");
        err[strcspn(err, "\n")] = '\0'; /* libpq ends its messages with a newline */
        PQfreemem(why);
        return false;
    }
    bool ok = true;
    char port[16] = "5432";
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0) {
            free(t->host);
            t->host = strdup(o->val);
        } else if (strcmp(o->keyword, "port") == 0)
            snprintf(port, sizeof(port), "%s", o->val);
        else if (strcmp(o->keyword, "dbname") == 0)
            t->dbname = strdup(o->val);
        else if (strcmp(o->keyword, "user") == 0)
            t->user = strdup(o->val);
        else if (strcmp(o->keyword, "password") == 0)
            t->password = strdup(o->val);
        else if (strcmp(o->keyword, "options") == 0)
            t->options = strdup(o->val);
        else if (strcmp(o->keyword, "sslmode") == 0 && strcmp(o->val, "disable") != 0 &&
                 strcmp(o->val, "prefer") != 0 && strcmp(o->val, "allow") != 0) {
            snprintf(err, err_len, "sslmode=%s is not supported yet (TLS to backends)", o->val);
            ok = false;
        }
    }
    PQconninfoFree(opts);
    long p;
    if (ok && !parse_int(port, 1, 65535, &p)) {
        snprintf(err, err_len, "invalid port \"%s\"", port);
        ok = false;
    }
    if (ok && (!t->user || !t->dbname)) {
        snprintf(err, err_len, "conninfo must name user and dbname");
        ok = false;
    }
    if (ok && (!t->host || t->host[0] == '/')) {
        snprintf(err, err_len, "conninfo must name a TCP host (Unix sockets are not supported)");
        ok = false;
    }
    if (ok) {
        t->port = (int)p;
        t->conninfo = strdup(conninfo);
        t->scram_cache = calloc(1, sizeof(*t->scram_cache));
        ok = resolve_host(t, err, err_len);
    }
    return ok;
}

void config_target_clear(backend_target *t)
{
    free(t->name);
    free(t->conninfo);
    free(t->host);
    free(t->dbname);
    free(t->user);
    if (t->password)
        memset(t->password, 0, strlen(t->password));
    free(t->password);
    free(t->options);
    if (t->scram_cache)
        scram_salt_cache_clear(t->scram_cache);
    free(t->scram_cache);
    memset(t, 0, sizeof(*t));
}

config *config_ref(config *c)
{
    c->refs++;
    return c;
}

void config_unref(config *c)
{
    if (!c || --c->refs > 0)
        return;
    free(c->path);
    free(c->listen_host);
    free(c->metrics_host);
    free(c->auth_file);
    free(c->admin_users);
    free(c->state_path);
    config_target_clear(&c->legacy);
    config_services_free(c);
    free(c);
}

const char *config_auth_method_name(auth_method m)
{
    switch (m) {
    case AUTH_SCRAM: return "scram-sha-256";
    case AUTH_MD5: return "md5";
    case AUTH_PASSWORD: return "password";
    }
    return "?";
}

const backend_target *config_find_database(const config *c, const char *dbname)
{
    if (strcmp(dbname, c->legacy.dbname) == 0)
        return &c->legacy;
    for (size_t i = 0; i < c->n_services; i++)
        if (strcmp(dbname, c->services[i].target.dbname) == 0)
            return &c->services[i].target;
    return NULL;
}

bool config_is_admin(const config *c, const char *user)
{
    const char *p = c->admin_users ? c->admin_users : "";
    size_t n = strlen(user);
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t len = strcspn(p, " \t,");
        if (len && len == n && memcmp(p, user, n) == 0)
            return true;
        p += len;
    }
    return false;
}

int config_service_index(const config *c, const char *name)
{
    for (size_t i = 0; i < c->n_services; i++)
        if (strcmp(c->services[i].name, name) == 0)
            return (int)i;
    return -1;
}
