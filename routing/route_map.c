/* route_map: the services' table patterns compiled for lookup (exact names in a sorted
 * array, wildcards in config order) and checked for conflicts and inconsistent states,
 * so that a bad config is refused at load time rather than discovered by a statement. */
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routing/route.h"

/* PostgreSQL truncates identifiers to NAMEDATALEN-1 bytes, so a longer name can't occur. */
#define ROUTE_IDENT_MAX 63

typedef struct route_pat {
    const char *schema;
    const char *table; /* may hold '*' */
    const char *text;  /* as configured, for messages */
    int svc;
    bool wild;
} route_pat;

struct route_map {
    route_service *svcs; /* deep copies */
    size_t n_svcs;
    route_cross cross;
    route_pat *exact; /* sorted by (schema, table) */
    size_t n_exact;
    route_pat *wild; /* config order: the first match wins */
    size_t n_wild;
    const char **texts; /* the copies' table arrays, one allocation */
    char *strings;      /* every string above points in here */
};

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || err_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* '*' matches any run of characters, everything else itself. Backtracks to the last star
 * only, which is enough for '*'-only globs and keeps it linear in practice. */
static bool glob_match(const char *pat, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == *s) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

static int pat_cmp(const route_pat *a, const route_pat *b)
{
    int c = strcmp(a->schema, b->schema);
    return c ? c : strcmp(a->table, b->table);
}

static int pat_qsort_cmp(const void *a, const void *b)
{
    return pat_cmp(a, b);
}

/* A bump allocator over one block sized up front, so the map frees in one call. */
typedef struct strbuf {
    char *base;
    size_t used;
} strbuf;

static const char *sb_dup(strbuf *sb, const char *s, size_t n)
{
    char *p = sb->base + sb->used;
    memcpy(p, s, n);
    p[n] = '\0';
    sb->used += n + 1;
    return p;
}

static bool system_schema(const char *s, size_t n)
{
    return (n >= 3 && memcmp(s, "pg_", 3) == 0) ||
           (n == 18 && memcmp(s, "information_schema", 18) == 0);
}

/* Checks one pattern's spelling; on success gives the split point (dot, or NULL). */
static bool pattern_ok(const char *p, const char **dot, const char **why)
{
    size_t len = strlen(p);
    if (len == 0) {
        *why = "the pattern is empty";
        return false;
    }
    *dot = NULL;
    for (const char *c = p; *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (u <= ' ' || u == 0x7f) {
            *why = "it contains whitespace or a control character";
            return false;
        }
        if (u == '"') {
            *why = "double quotes are not supported; write the name as stored";
            return false;
        }
        if (u == '.') {
            if (*dot) {
                *why = "it has more than one dot (write schema.table)";
                return false;
            }
            *dot = c;
        }
    }
    const char *table = *dot ? *dot + 1 : p;
    size_t schema_len = *dot ? (size_t)(*dot - p) : 0;
    size_t table_len = strlen(table);
    if (*dot && schema_len == 0) {
        *why = "the schema part is empty";
        return false;
    }
    if (table_len == 0) {
        *why = "the table part is empty";
        return false;
    }
    if (*dot && memchr(p, '*', schema_len)) {
        *why = "a wildcard is allowed in the table part only";
        return false;
    }
    if (schema_len > ROUTE_IDENT_MAX || table_len > ROUTE_IDENT_MAX) {
        *why = "a part is longer than PostgreSQL's 63-byte identifier limit";
        return false;
    }
    if (*dot && system_schema(p, schema_len)) {
        *why = "system schemas can't be owned by a service";
        return false;
    }
    return true;
}

static bool state_ok(const route_service *s, const char **why)
{
    if ((unsigned)s->writes > ROUTE_WRITES_SERVICE || (unsigned)s->primary > ROUTE_SERVICE ||
        (unsigned)s->reads > ROUTE_READS_SHADOW) {
        *why = "a state value is out of range";
        return false;
    }
    if (s->writes == ROUTE_WRITES_SERVICE && s->primary == ROUTE_LEGACY) {
        *why = "writes=service needs primary=service (legacy is no longer written)";
        return false;
    }
    if (s->primary == ROUTE_SERVICE && s->writes == ROUTE_WRITES_LEGACY) {
        *why = "primary=service needs writes=dual or writes=service";
        return false;
    }
    if (s->reads != ROUTE_READS_LEGACY && s->writes == ROUTE_WRITES_LEGACY) {
        *why = "reads=service or reads=shadow needs writes=dual or writes=service "
               "(the service database would not be kept current)";
        return false;
    }
    if (s->writes == ROUTE_WRITES_SERVICE && s->reads != ROUTE_READS_SERVICE) {
        *why = "writes=service needs reads=service (legacy's copy is no longer written)";
        return false;
    }
    return true;
}

/* Two services' patterns collide when one covers the other entirely: matching the other's
 * text with its stars taken as plain characters proves that every name it matches is
 * matched too (each of its stars lands inside one of ours). Identical patterns and exact
 * names are the special cases. */
static bool covers(const route_pat *a, const route_pat *b)
{
    return strcmp(a->schema, b->schema) == 0 && glob_match(a->table, b->table);
}

static bool check_conflicts(const route_map *m, const route_pat *all, size_t n, char *err,
                            size_t err_len)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            const route_pat *a = &all[i], *b = &all[j];
            if (a->svc == b->svc)
                continue;
            if (!covers(a, b) && !covers(b, a))
                continue;
            const char *what = !a->wild && !b->wild ? "names the same table as"
                               : pat_cmp(a, b) == 0 ? "is the same pattern as"
                               : covers(a, b)       ? "is covered by"
                                                    : "covers";
            set_err(err, err_len,
                    "service %s, table pattern \"%s\": %s pattern \"%s\" of service %s; a table "
                    "can belong to one service only",
                    m->svcs[b->svc].name, b->text, what, a->text, m->svcs[a->svc].name);
            return false;
        }
    }
    return true;
}

static bool check_services(const route_service *svcs, size_t n, char *err, size_t err_len)
{
    for (size_t i = 0; i < n; i++) {
        const route_service *s = &svcs[i];
        const char *why;
        if (!s->name || !s->name[0]) {
            set_err(err, err_len, "service #%zu has no name", i + 1);
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(svcs[j].name, s->name) == 0) {
                set_err(err, err_len, "service %s is configured twice", s->name);
                return false;
            }
        }
        if (!state_ok(s, &why)) {
            set_err(err, err_len, "service %s: writes=%s, primary=%s, reads=%s: %s", s->name,
                    route_writes_name(s->writes), route_side_name(s->primary),
                    route_reads_name(s->reads), why);
            return false;
        }
        if (s->n_tables > 0 && !s->tables) {
            set_err(err, err_len, "service %s: table list missing", s->name);
            return false;
        }
        for (size_t t = 0; t < s->n_tables; t++) {
            const char *dot;
            if (!s->tables[t]) {
                set_err(err, err_len, "service %s, table pattern #%zu: missing", s->name, t + 1);
                return false;
            }
            if (!pattern_ok(s->tables[t], &dot, &why)) {
                set_err(err, err_len, "service %s, table pattern \"%s\": %s", s->name,
                        s->tables[t], why);
                return false;
            }
        }
    }
    return true;
}

/* Copies the services and splits their patterns; every string goes to one block. */
static bool build(route_map *m, const route_service *svcs, size_t n, route_pat **all_out,
                  size_t *n_all_out)
{
    size_t bytes = 0, n_pats = 0, n_names = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += strlen(svcs[i].name) + 1;
        n_names += svcs[i].n_tables;
        for (size_t t = 0; t < svcs[i].n_tables; t++) {
            /* the text, then schema and table, plus "public" when unqualified */
            bytes += 2 * (strlen(svcs[i].tables[t]) + 1) + sizeof "public";
            n_pats++;
        }
    }
    m->strings = malloc(bytes ? bytes : 1);
    m->svcs = calloc(n ? n : 1, sizeof *m->svcs);
    const char **names = m->texts = calloc(n_names ? n_names : 1, sizeof *names);
    route_pat *all = calloc(n_pats ? n_pats : 1, sizeof *all);
    m->exact = calloc(n_pats ? n_pats : 1, sizeof *m->exact);
    m->wild = calloc(n_pats ? n_pats : 1, sizeof *m->wild);
    if (!m->strings || !m->svcs || !names || !all || !m->exact || !m->wild) {
        free(all);
        return false;
    }
    strbuf sb = {m->strings, 0};
    size_t k = 0, at = 0;
    for (size_t i = 0; i < n; i++) {
        route_service *c = &m->svcs[i];
        *c = svcs[i];
        c->name = sb_dup(&sb, svcs[i].name, strlen(svcs[i].name));
        c->tables = names + at;
        for (size_t t = 0; t < svcs[i].n_tables; t++) {
            const char *p = svcs[i].tables[t];
            const char *dot = strchr(p, '.');
            route_pat *rp = &all[k++];
            rp->text = names[at++] = sb_dup(&sb, p, strlen(p));
            rp->schema = dot ? sb_dup(&sb, p, (size_t)(dot - p)) : sb_dup(&sb, "public", 6);
            rp->table = sb_dup(&sb, dot ? dot + 1 : p, strlen(dot ? dot + 1 : p));
            rp->svc = (int)i;
            rp->wild = strchr(rp->table, '*') != NULL;
        }
    }
    m->n_svcs = n;
    *all_out = all;
    *n_all_out = k;
    return true;
}

route_map *route_map_new(const route_service *svcs, size_t n, route_cross cross, char *err,
                         size_t err_len)
{
    set_err(err, err_len, "%s", "");
    if (n > 0 && !svcs) {
        set_err(err, err_len, "no services given");
        return NULL;
    }
    if ((unsigned)cross > ROUTE_CROSS_LEGACY) {
        set_err(err, err_len, "cross_service_writes value out of range");
        return NULL;
    }
    if (n > (size_t)INT_MAX) {
        set_err(err, err_len, "too many services");
        return NULL;
    }
    if (!check_services(svcs, n, err, err_len))
        return NULL;
    route_map *m = calloc(1, sizeof *m);
    if (!m) {
        set_err(err, err_len, "out of memory building the routing map");
        return NULL;
    }
    m->cross = cross;
    route_pat *all = NULL;
    size_t n_all = 0;
    if (!build(m, svcs, n, &all, &n_all)) {
        set_err(err, err_len, "out of memory building the routing map");
        route_map_free(m);
        return NULL;
    }
    if (!check_conflicts(m, all, n_all, err, err_len)) {
        free(all);
        route_map_free(m);
        return NULL;
    }
    for (size_t i = 0; i < n_all; i++) {
        if (all[i].wild)
            m->wild[m->n_wild++] = all[i];
        else
            m->exact[m->n_exact++] = all[i];
    }
    free(all);
    /* Duplicates left in `exact` belong to one service (others were refused above), so
     * whichever bsearch finds answers the same. */
    qsort(m->exact, m->n_exact, sizeof *m->exact, pat_qsort_cmp);
    return m;
}

void route_map_free(route_map *m)
{
    if (!m)
        return;
    free(m->svcs);
    free(m->texts);
    free(m->exact);
    free(m->wild);
    free(m->strings);
    free(m);
}

int route_map_owner(const route_map *m, const char *schema, const char *name)
{
    if (!m || !name)
        return -1;
    route_pat key = {.schema = schema ? schema : "public", .table = name};
    const route_pat *hit = bsearch(&key, m->exact, m->n_exact, sizeof *m->exact, pat_qsort_cmp);
    if (hit)
        return hit->svc;
    for (size_t i = 0; i < m->n_wild; i++) {
        const route_pat *p = &m->wild[i];
        if (strcmp(p->schema, key.schema) == 0 && glob_match(p->table, name))
            return p->svc;
    }
    return -1;
}

const route_service *route_map_service(const route_map *m, int idx)
{
    if (!m || idx < 0 || (size_t)idx >= m->n_svcs)
        return NULL;
    return &m->svcs[idx];
}

size_t route_map_count(const route_map *m)
{
    return m ? m->n_svcs : 0;
}

route_cross route_map_cross(const route_map *m)
{
    return m ? m->cross : ROUTE_CROSS_REJECT;
}

const char *route_side_name(route_side s)
{
    return s == ROUTE_SERVICE ? "service" : s == ROUTE_LEGACY ? "legacy" : "?";
}

const char *route_writes_name(route_writes w)
{
    switch (w) {
    case ROUTE_WRITES_LEGACY:
        return "legacy";
    case ROUTE_WRITES_DUAL:
        return "dual";
    case ROUTE_WRITES_SERVICE:
        return "service";
    }
    return "?";
}

const char *route_reads_name(route_reads r)
{
    switch (r) {
    case ROUTE_READS_LEGACY:
        return "legacy";
    case ROUTE_READS_SERVICE:
        return "service";
    case ROUTE_READS_SHADOW:
        return "shadow";
    }
    return "?";
}
