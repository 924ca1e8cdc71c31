/* The extended-protocol statements and portals of one routed session: the
 * route each statement was given at Parse (kept with it, as the server keeps
 * the plan), the backends that have it prepared, and for writes mirrored by
 * row images the rewritten text and the shape of its rows. A portal keeps
 * its statement alive: closing or replacing a statement does not end the
 * portals bound to it, in PostgreSQL either. */
#ifndef PGT_EXT_REGISTRY_H
#define PGT_EXT_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>

#include "protocol/pg_buf.h"
#include "proxy/catalog.h"
#include "routing/classify.h"
#include "routing/route.h"

typedef struct ext_stmt {
    char *name;
    int refs;
    pg_buf parse; /* the client's Parse, framed: sent again to a backend that lacks it */
    const char *sql; /* inside `parse` */
    const classify_result *cls;
    route_decision dec;
    bool images;      /* mirrored by row images: prepared on the primary as `rewritten` */
    char *rewritten;
    const catalog_table *table;
    pg_buf row_desc;    /* RowDescription of `rewritten`, learned at Parse */
    size_t client_cols; /* the first client_cols of its columns are the client's */
    uint64_t prepared_on; /* bit 0: legacy; bit 1 + i: service i */
    bool fast_batch;      /* parsed by a fast-path batch not yet answered */
    UT_hash_handle hh;
} ext_stmt;

typedef struct ext_portal {
    char *name;
    ext_stmt *stmt;
    UT_hash_handle hh;
} ext_portal;

/* A statement prepared with SQL's PREPARE: EXECUTE runs where its query would. */
typedef struct ext_sql_prepared {
    char *name;
    const classify_result *cls; /* of the PREPARE: its tables are the query's */
    UT_hash_handle hh;
} ext_sql_prepared;

/* A cursor DECLAREd in SQL: the backend it lives on, where its FETCH, MOVE
 * and CLOSE must go. */
typedef struct ext_cursor {
    char *name;
    int service; /* -1: legacy */
    UT_hash_handle hh;
} ext_cursor;

typedef struct ext_registry {
    ext_stmt *stmts;
    ext_portal *portals;
    ext_sql_prepared *sql_prepared;
    ext_cursor *cursors;
} ext_registry;

/* A statement for `parse` (a whole, framed Parse message); NULL when out of memory. */
ext_stmt *ext_stmt_new(const char *name, const uint8_t *parse, size_t len);
void ext_stmt_unref(ext_stmt *st);

ext_stmt *ext_find_stmt(ext_registry *r, const char *name);
/* Takes over the caller's reference; replaces a statement of the same name. */
void ext_put_stmt(ext_registry *r, ext_stmt *st);
void ext_drop_stmt(ext_registry *r, const char *name);

ext_portal *ext_find_portal(ext_registry *r, const char *name);
/* Binds `name` to `st` (taking a reference); false when out of memory. */
bool ext_put_portal(ext_registry *r, const char *name, ext_stmt *st);
void ext_drop_portal(ext_registry *r, const char *name);
/* Portals end with their transaction. */
void ext_drop_portals(ext_registry *r);
/* DEALLOCATE ALL, DISCARD ALL. */
void ext_drop_stmts(ext_registry *r);
/* SQL-level PREPARE / EXECUTE / DEALLOCATE. put takes a reference to cls. */
bool ext_put_sql_prepared(ext_registry *r, const char *name, const classify_result *cls);
const classify_result *ext_find_sql_prepared(ext_registry *r, const char *name);
void ext_drop_sql_prepared(ext_registry *r, const char *name); /* NULL: all */
bool ext_put_cursor(ext_registry *r, const char *name, int service);
/* False when no cursor of that name was declared. */
bool ext_find_cursor(ext_registry *r, const char *name, int *service);
void ext_drop_cursor(ext_registry *r, const char *name); /* NULL: all */
void ext_registry_free(ext_registry *r);

#endif
