/* The state file (<config>.state): migration states set from the admin
 * console, applied on top of the config file at start and at every reload,
 * so a restart keeps them. Each entry remembers what the config file said
 * when it was made; once the file says something else for that service, the
 * file wins and the entry is dropped (see README, "Migration control"). */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/config.h"

bool config_parse_writes(const char *v, route_writes *out)
{
    for (int i = ROUTE_WRITES_LEGACY; i <= ROUTE_WRITES_SERVICE; i++)
        if (strcmp(v, route_writes_name((route_writes)i)) == 0) {
            *out = (route_writes)i;
            return true;
        }
    return false;
}

bool config_parse_side(const char *v, route_side *out)
{
    for (int i = ROUTE_LEGACY; i <= ROUTE_SERVICE; i++)
        if (strcmp(v, route_side_name((route_side)i)) == 0) {
            *out = (route_side)i;
            return true;
        }
    return false;
}

bool config_parse_reads(const char *v, route_reads *out)
{
    for (int i = ROUTE_READS_LEGACY; i <= ROUTE_READS_SHADOW; i++)
        if (strcmp(v, route_reads_name((route_reads)i)) == 0) {
            *out = (route_reads)i;
            return true;
        }
    return false;
}

typedef struct read_ctx {
    config_state *st;
    char why[200];
} read_ctx;

static state_entry *entry_for(config_state *st, const char *name)
{
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->e[i].name, name) == 0)
            return &st->e[i];
    if (st->n == CONFIG_MAX_SERVICES || strlen(name) >= sizeof(st->e[0].name))
        return NULL;
    state_entry *e = &st->e[st->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", name);
    return e;
}

static int on_state_key(void *user, const char *section, const char *key, const char *value)
{
    read_ctx *ctx = user;
    if (!key)
        return 1;
    if (strncmp(section, "service ", 8) != 0) {
        snprintf(ctx->why, sizeof(ctx->why), "unexpected section [%s]", section);
        return 0;
    }
    state_entry *e = entry_for(ctx->st, section + 8);
    bool ok = e != NULL;
    if (!ok)
        snprintf(ctx->why, sizeof(ctx->why), "too many services or a name too long");
    else if (strcmp(key, "writes") == 0)
        ok = config_parse_writes(value, &e->writes);
    else if (strcmp(key, "primary") == 0)
        ok = config_parse_side(value, &e->primary);
    else if (strcmp(key, "reads") == 0)
        ok = config_parse_reads(value, &e->reads);
    else if (strcmp(key, "config_writes") == 0)
        ok = config_parse_writes(value, &e->file_writes);
    else if (strcmp(key, "config_primary") == 0)
        ok = config_parse_side(value, &e->file_primary);
    else if (strcmp(key, "config_reads") == 0)
        ok = config_parse_reads(value, &e->file_reads);
    else
        ok = false;
    if (!ok && !ctx->why[0])
        snprintf(ctx->why, sizeof(ctx->why), "bad setting %s = %s in [%s]", key, value, section);
    return ok ? 1 : 0;
}

bool config_state_read(const char *path, config_state *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    if (access(path, F_OK) != 0)
        return true; /* no console change yet */
    read_ctx ctx = {.st = out};
    int rc = ini_parse(path, on_state_key, &ctx);
    if (rc < 0) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return false;
    }
    if (rc > 0) {
        snprintf(err, err_len, "%s:%d: %s", path, rc, ctx.why[0] ? ctx.why : "syntax error");
        return false;
    }
    return true;
}

void config_state_apply(config *c, const config_state *st)
{
    memset(&c->state, 0, sizeof(c->state));
    c->state_dropped = 0;
    for (size_t i = 0; i < st->n; i++) {
        const state_entry *e = &st->e[i];
        int idx = config_service_index(c, e->name);
        if (idx < 0) {
            c->state_dropped++;
            continue;
        }
        service_config *s = &c->services[idx];
        if (s->file_writes != e->file_writes || s->file_primary != e->file_primary ||
            s->file_reads != e->file_reads) {
            c->state_dropped++; /* the config file was edited since: it wins */
            continue;
        }
        s->writes = e->writes;
        s->primary = e->primary;
        s->reads = e->reads;
        s->from_state = true;
        c->state.e[c->state.n++] = *e;
    }
}

bool config_state_save(const config *c, char *err, size_t err_len)
{
    if (c->state.n == 0) {
        if (unlink(c->state_path) != 0 && errno != ENOENT) {
            snprintf(err, err_len, "cannot remove %s: %s", c->state_path, strerror(errno));
            return false;
        }
        return true;
    }
    size_t n = strlen(c->state_path) + 8;
    char *tmp = malloc(n);
    if (!tmp) {
        snprintf(err, err_len, "out of memory");
        return false;
    }
    snprintf(tmp, n, "%s.tmp", c->state_path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, err_len, "cannot write %s: %s", tmp, strerror(errno));
        free(tmp);
        return false;
    }
    fprintf(f, "; written by pgtandem: migration states set from the admin console, applied\n"
               "; on top of the config file. config_* record what the config file said when\n"
               "; the change was made: once the file says otherwise, the file wins.\n");
    for (size_t i = 0; i < c->state.n; i++) {
        const state_entry *e = &c->state.e[i];
        fprintf(f, "\n[service %s]\nwrites = %s\nprimary = %s\nreads = %s\n", e->name,
                route_writes_name(e->writes), route_side_name(e->primary),
                route_reads_name(e->reads));
        fprintf(f, "config_writes = %s\nconfig_primary = %s\nconfig_reads = %s\n",
                route_writes_name(e->file_writes), route_side_name(e->file_primary),
                route_reads_name(e->file_reads));
    }
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, c->state_path) != 0) {
        snprintf(err, err_len, "cannot write %s: %s", c->state_path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return false;
    }
    free(tmp);
    return true;
}
