/* Statement rewrites for mirroring by row images: the primary runs a write
 * with RETURNING of every column of the affected rows, so the secondary can
 * apply exactly those rows. Works on libpg_query's parse tree, never on text.
 * Pure: no I/O. */
#ifndef PGT_ROUTING_REWRITE_H
#define PGT_ROUTING_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

/* For a single INSERT, UPDATE or DELETE: the same statement with `*` added at
 * the end of its RETURNING list (the client's own RETURNING items, if any,
 * stay first). Returns malloc'd SQL, or NULL with err filled. */
char *rewrite_returning_all(const char *sql, char *err, size_t err_len)
    __attribute__((warn_unused_result));

#endif
