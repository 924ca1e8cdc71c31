/* Type OIDs inside backend messages, rewritten in place. A service database
 * numbers its user-defined types differently from legacy, while a client's
 * catalog lookups go to legacy; so what a service answers must carry legacy's
 * OIDs. Every OID is a fixed-width field, so the rewrite never changes a
 * message's length. Pure: no I/O. */
#ifndef PGT_PG_OIDS_H
#define PGT_PG_OIDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pg_oid_pair {
    uint32_t from;
    uint32_t to;
} pg_oid_pair;

/* OID -> OID, sorted by `from` (pg_oid_map_sort), each `from` once. */
typedef struct pg_oid_map {
    pg_oid_pair *pairs;
    size_t n;
} pg_oid_map;

/* Sorts the pairs; false when a `from` appears twice with different `to`s
 * (the duplicate pairs are dropped either way, the first kept). */
bool pg_oid_map_sort(pg_oid_map *m) __attribute__((warn_unused_result));
/* The mapped OID; `oid` itself when the map does not have it. */
uint32_t pg_oid_map_get(const pg_oid_map *m, uint32_t oid);

/* RowDescription body: each field's type OID through `types`, its table OID
 * through `tables` (either may be NULL or empty). False, and the body left
 * as it was, when the body is not a well-formed RowDescription (nothing to
 * undo, so callers may ignore it). */
bool pg_oids_row_description(uint8_t *body, size_t len, const pg_oid_map *types,
                             const pg_oid_map *tables);
/* ParameterDescription body: each parameter's type OID. False, body
 * untouched, when malformed. */
bool pg_oids_parameter_description(uint8_t *body, size_t len, const pg_oid_map *types);

/* Binary values that carry OIDs: a composite (field count, then per field
 * its type OID, length, bytes) and an array (dimensions, null flag, element
 * type OID, sizes, elements). The column and parameter types are not known
 * here, so a value counts as one of these only when it is exactly that
 * shape, to its last byte, and an OID at its top carries one the map has:
 * a user type's (>= 16384; text-format values never hold a NUL byte, so
 * they never match). Then those OIDs are mapped, and fields or elements of
 * mapped types are looked into the same way (a few levels deep). Returns
 * whether the value was rewritten. */
bool pg_oids_binary_value(uint8_t *v, size_t len, const pg_oid_map *types);
/* DataRow body: every value through pg_oids_binary_value. (Binary values a
 * client sends need no mapping: a server reads a user type's OID inside an
 * array or composite as the type it expects, PostgreSQL complains only when
 * both are built-in.) */
void pg_oids_data_row(uint8_t *body, size_t len, const pg_oid_map *types);

#endif
