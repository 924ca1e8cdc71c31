/* What pgtandem must know of the tables it mirrors, learned from the legacy
 * database's catalog at start: which columns the database fills in itself
 * (non-constant defaults, identity columns) and which tables have BEFORE ROW
 * triggers that may stamp values. A write that lets the database generate a
 * value can't be mirrored as text: each side would generate its own. */
#ifndef PGT_CATALOG_H
#define PGT_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/config.h"

typedef struct pg_conn PGconn;

typedef struct catalog_table {
    char *schema;
    char *name;
    char **generated; /* columns the database fills in when not given */
    size_t n_generated;
    bool row_trigger; /* a BEFORE ROW INSERT/UPDATE trigger */
    char **pkey;      /* primary key columns, in key order; none when n_pkey is 0 */
    size_t n_pkey;
    size_t n_columns; /* live columns: what RETURNING * yields */
    char **sequenced; /* columns fed by a sequence (serial, identity) */
    size_t n_sequenced;
    char **stored; /* GENERATED ALWAYS AS (...) STORED: each side computes its own */
    size_t n_stored;
    char **always; /* GENERATED ALWAYS AS IDENTITY: set only with OVERRIDING SYSTEM VALUE */
    size_t n_always;
} catalog_table;

typedef struct catalog catalog;

/* Connects to `t` with libpq (blocking: called at start, before serving). */
catalog *catalog_load(const backend_target *t, char *err, size_t err_len)
    __attribute__((warn_unused_result));
void catalog_free(catalog *c);
/* A blocking libpq connection to t (check PQstatus), for start-time reads. */
PGconn *catalog_connect(const backend_target *t, const char *application_name);
/* Another database mirrored into has a BEFORE ROW trigger on schema.name:
 * writes to it go by row images too (see mirror_check.h). */
void catalog_mark_trigger(catalog *c, const char *schema, const char *name);
/* schema NULL means public. NULL when the table is unknown. */
const catalog_table *catalog_find(const catalog *c, const char *schema, const char *name);
size_t catalog_count(const catalog *c);
/* Whether `column` of t is a stored generated column / an identity ALWAYS one. */
bool catalog_is_stored(const catalog_table *t, const char *column);
bool catalog_is_always(const catalog_table *t, const char *column);

#endif
