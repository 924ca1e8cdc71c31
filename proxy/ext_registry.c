/* Statement and portal registry; see ext_registry.h. */
#include "proxy/ext_registry.h"

#include <stdlib.h>
#include <string.h>

ext_stmt *ext_stmt_new(const char *name, const uint8_t *parse, size_t len)
{
    ext_stmt *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->refs = 1;
    st->name = strdup(name);
    pg_buf_init(&st->parse);
    pg_buf_init(&st->row_desc);
    pg_buf_put(&st->parse, parse, len);
    if (!st->name || st->parse.failed) {
        ext_stmt_unref(st);
        return NULL;
    }
    /* type byte, length word, then the statement name and the query */
    const char *p = (const char *)st->parse.data + 5;
    st->sql = p + strlen(p) + 1;
    return st;
}

void ext_stmt_unref(ext_stmt *st)
{
    if (!st || --st->refs > 0)
        return;
    free(st->name);
    pg_buf_free(&st->parse);
    pg_buf_free(&st->row_desc);
    classify_result_free(st->cls);
    free(st->rewritten);
    free(st);
}

ext_stmt *ext_find_stmt(ext_registry *r, const char *name)
{
    ext_stmt *st = NULL;
    HASH_FIND_STR(r->stmts, name, st);
    return st;
}

void ext_drop_stmt(ext_registry *r, const char *name)
{
    ext_stmt *st = ext_find_stmt(r, name);
    if (st) {
        HASH_DEL(r->stmts, st);
        ext_stmt_unref(st);
    }
}

void ext_put_stmt(ext_registry *r, ext_stmt *st)
{
    ext_drop_stmt(r, st->name);
    HASH_ADD_KEYPTR(hh, r->stmts, st->name, strlen(st->name), st);
}

ext_portal *ext_find_portal(ext_registry *r, const char *name)
{
    ext_portal *p = NULL;
    HASH_FIND_STR(r->portals, name, p);
    return p;
}

void ext_drop_portal(ext_registry *r, const char *name)
{
    ext_portal *p = ext_find_portal(r, name);
    if (p) {
        HASH_DEL(r->portals, p);
        ext_stmt_unref(p->stmt);
        free(p->name);
        free(p);
    }
}

bool ext_put_portal(ext_registry *r, const char *name, ext_stmt *st)
{
    ext_drop_portal(r, name);
    ext_portal *p = calloc(1, sizeof(*p));
    if (!p || !(p->name = strdup(name))) {
        free(p);
        return false;
    }
    p->stmt = st;
    st->refs++;
    HASH_ADD_KEYPTR(hh, r->portals, p->name, strlen(p->name), p);
    return true;
}

void ext_drop_portals(ext_registry *r)
{
    ext_portal *p, *tmp;
    HASH_ITER(hh, r->portals, p, tmp)
    {
        HASH_DEL(r->portals, p);
        ext_stmt_unref(p->stmt);
        free(p->name);
        free(p);
    }
}

void ext_drop_stmts(ext_registry *r)
{
    ext_stmt *st, *tmp;
    HASH_ITER(hh, r->stmts, st, tmp)
    {
        HASH_DEL(r->stmts, st);
        ext_stmt_unref(st);
    }
}

bool ext_put_sql_prepared(ext_registry *r, const char *name, const classify_result *cls)
{
    ext_drop_sql_prepared(r, name);
    ext_sql_prepared *p = calloc(1, sizeof(*p));
    if (!p || !(p->name = strdup(name))) {
        free(p);
        return false;
    }
    p->cls = classify_result_retain(cls);
    HASH_ADD_KEYPTR(hh, r->sql_prepared, p->name, strlen(p->name), p);
    return true;
}

const classify_result *ext_find_sql_prepared(ext_registry *r, const char *name)
{
    ext_sql_prepared *p = NULL;
    HASH_FIND_STR(r->sql_prepared, name, p);
    return p ? p->cls : NULL;
}

void ext_drop_sql_prepared(ext_registry *r, const char *name)
{
    ext_sql_prepared *p, *tmp;
    HASH_ITER(hh, r->sql_prepared, p, tmp)
    {
        if (name && strcmp(p->name, name) != 0)
            continue;
        HASH_DEL(r->sql_prepared, p);
        classify_result_free(p->cls);
        free(p->name);
        free(p);
    }
}

bool ext_put_cursor(ext_registry *r, const char *name, int service)
{
    ext_drop_cursor(r, name);
    ext_cursor *c = calloc(1, sizeof(*c));
    if (!c || !(c->name = strdup(name))) {
        free(c);
        return false;
    }
    c->service = service;
    HASH_ADD_KEYPTR(hh, r->cursors, c->name, strlen(c->name), c);
    return true;
}

bool ext_find_cursor(ext_registry *r, const char *name, int *service)
{
    ext_cursor *c = NULL;
    HASH_FIND_STR(r->cursors, name, c);
    if (c)
        *service = c->service;
    return c != NULL;
}

void ext_drop_cursor(ext_registry *r, const char *name)
{
    ext_cursor *c, *tmp;
    HASH_ITER(hh, r->cursors, c, tmp)
    {
        if (name && strcmp(c->name, name) != 0)
            continue;
        HASH_DEL(r->cursors, c);
        free(c->name);
        free(c);
    }
}

void ext_registry_free(ext_registry *r)
{
    ext_drop_portals(r);
    ext_drop_stmts(r);
    ext_drop_sql_prepared(r, NULL);
    ext_drop_cursor(r, NULL);
}
