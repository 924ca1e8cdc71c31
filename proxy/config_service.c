/* The [service NAME] sections of the config: each service's database, the
 * tables it owns and its migration state, compiled into a route_map. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/config.h"
#include "proxy/type_oids.h"

static service_config *find_or_add(config *c, const char *name, char *err, size_t err_len)
{
    for (size_t i = 0; i < c->n_services; i++)
        if (strcmp(c->services[i].name, name) == 0)
            return &c->services[i];
    if (!*name || strchr(name, ' ')) {
        snprintf(err, err_len, "[service %s]: a service name is one word", name);
        return NULL;
    }
    if (c->n_services == CONFIG_MAX_SERVICES) {
        snprintf(err, err_len, "more than %d services", CONFIG_MAX_SERVICES);
        return NULL;
    }
    service_config *s = &c->services[c->n_services];
    memset(s, 0, sizeof(*s));
    s->name = strdup(name);
    s->shadow_sample = 1.0;
    if (!s->name) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    c->n_services++;
    return s;
}

/* "a, b ,c" -> trimmed patterns */
static bool parse_tables(service_config *s, const char *v, char *err, size_t err_len)
{
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
            last--;
        if (s->n_tables == CONFIG_MAX_TABLE_PATTERNS) {
            snprintf(err, err_len, "[service %s]: more than %d table patterns", s->name,
                     CONFIG_MAX_TABLE_PATTERNS);
            return false;
        }
        char **grown = realloc(s->tables, (s->n_tables + 1) * sizeof(*grown));
        if (!grown || !(grown[s->n_tables] = strndup(p, (size_t)(last - p)))) {
            if (grown)
                s->tables = grown;
            snprintf(err, err_len, "out of memory");
            return false;
        }
        s->tables = grown;
        s->n_tables++;
        p = end;
    }
    return true;
}

static bool parse_enum(const char *v, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return true;
        }
    return false;
}

bool config_service_key(config *c, const char *service, const char *key, const char *value,
                        char *err, size_t err_len)
{
    static const char *const writes_names[] = {"legacy", "dual", "service"};
    static const char *const side_names[] = {"legacy", "service"};
    static const char *const reads_names[] = {"legacy", "service", "shadow"};
    service_config *s = find_or_add(c, service, err, err_len);
    if (!s)
        return false;
    int v;
    if (strcmp(key, "conninfo") == 0) {
        char why[256];
        if (s->target.conninfo) {
            snprintf(err, err_len, "conninfo is set twice in [service %s]", s->name);
            return false;
        }
        if (!config_parse_conninfo(value, &s->target, why, sizeof(why))) {
            snprintf(err, err_len, "[service %s] conninfo: %s", s->name, why);
            return false;
        }
        s->target.name = strdup(s->name);
        return s->target.name != NULL;
    }
    if (strcmp(key, "tables") == 0)
        return parse_tables(s, value, err, err_len);
    if (strcmp(key, "shadow_sample") == 0) {
        char *end;
        double d = strtod(value, &end);
        if (end == value || *end || !(d >= 0.0 && d <= 1.0)) {
            snprintf(err, err_len, "[service %s] shadow_sample must be a number from 0 to 1, "
                     "not \"%s\"", s->name, value);
            return false;
        }
        s->shadow_sample = d;
        return true;
    }
    if (strcmp(key, "writes") == 0 && parse_enum(value, writes_names, 3, &v)) {
        s->writes = (route_writes)v;
        return true;
    }
    if (strcmp(key, "primary") == 0 && parse_enum(value, side_names, 2, &v)) {
        s->primary = (route_side)v;
        return true;
    }
    if (strcmp(key, "reads") == 0 && parse_enum(value, reads_names, 3, &v)) {
        s->reads = (route_reads)v;
        return true;
    }
    if (strcmp(key, "writes") == 0 || strcmp(key, "primary") == 0 || strcmp(key, "reads") == 0)
        snprintf(err, err_len, "[service %s] %s: \"%s\" is not one of %s", s->name, key, value,
                 key[0] == 'w' ? "legacy, dual, service"
                 : key[0] == 'p' ? "legacy, service"
                                 : "legacy, service, shadow");
    else
        snprintf(err, err_len, "unknown setting \"%s\" in [service %s]", key, s->name);
    return false;
}

bool config_services_finish(config *c, char *err, size_t err_len)
{
    route_service svcs[CONFIG_MAX_SERVICES];
    for (size_t i = 0; i < c->n_services; i++) {
        service_config *s = &c->services[i];
        if (!s->target.conninfo || !s->n_tables) {
            snprintf(err, err_len, "[service %s] needs %s", s->name,
                     !s->target.conninfo ? "conninfo" : "tables");
            return false;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->services[j].target.dbname, s->target.dbname) == 0 &&
                strcmp(c->services[j].target.host, s->target.host) == 0 &&
                c->services[j].target.port == s->target.port) {
                snprintf(err, err_len, "[service %s] and [service %s] use the same database",
                         c->services[j].name, s->name);
                return false;
            }
        svcs[i] = (route_service){.name = s->name,
                                  .tables = (const char *const *)s->tables,
                                  .n_tables = s->n_tables,
                                  .writes = s->writes,
                                  .primary = s->primary,
                                  .reads = s->reads};
    }
    c->routes = route_map_new(svcs, c->n_services, c->cross_service_writes, err, err_len);
    return c->routes != NULL;
}

void config_services_free(config *c)
{
    for (size_t i = 0; i < c->n_services; i++) {
        service_config *s = &c->services[i];
        free(s->name);
        config_target_clear(&s->target);
        for (size_t j = 0; j < s->n_tables; j++)
            free(s->tables[j]);
        free(s->tables);
        type_oids_unref(s->oids);
        s->oids = NULL;
    }
    c->n_services = 0;
    route_map_free(c->routes);
    c->routes = NULL;
}
