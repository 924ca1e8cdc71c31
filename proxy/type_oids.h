/* Each service database's user-defined type OIDs mapped to legacy's. A
 * client's catalog reads (drivers looking up pg_type) go to legacy, so the
 * OIDs a service's answers carry must be legacy's, or asyncpg, psycopg and
 * JDBC decode by the wrong type. Built with blocking libpq at start and at
 * RELOAD (pairing types and relations by schema and name), kept in the config
 * snapshot; types created later are mapped from the next RELOAD on. */
#ifndef PGT_TYPE_OIDS_H
#define PGT_TYPE_OIDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_oids.h"

struct config;

typedef struct type_oids {
    int refs;
    pg_oid_map types;  /* service pg_type oid -> legacy's */
    pg_oid_map tables; /* service pg_class oid -> legacy's (RowDescription's table oid) */
} type_oids;

/* Fills every service's `oids` in `cfg`. A service whose map `reuse` (an
 * older snapshot, may be NULL) already has for the same conninfo shares it;
 * the others are read from their database and legacy's. Never fails: a
 * database that can't be read leaves its service without a map, with a
 * warning. */
void type_oids_load(struct config *cfg, const struct config *reuse);
type_oids *type_oids_ref(type_oids *m);
void type_oids_unref(type_oids *m);

/* A message from a service backend on its way to the client or to
 * pgtandem's capture: its OIDs become legacy's, in place. m may be NULL. */
static inline void type_oids_to_legacy(const type_oids *m, uint8_t type, uint8_t *body,
                                       size_t len)
{
    if (!m || (!m->types.n && !m->tables.n))
        return;
    if (type == PG_BE_ROW_DESCRIPTION)
        pg_oids_row_description(body, len, &m->types, &m->tables);
    else if (type == PG_BE_PARAMETER_DESCRIPTION)
        pg_oids_parameter_description(body, len, &m->types);
    else if (type == PG_BE_DATA_ROW)
        pg_oids_data_row(body, len, &m->types);
}

#endif
