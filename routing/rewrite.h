/* Statement rewrites for mirroring by row images: the primary runs a write
 * with RETURNING of every column of the affected rows, so the secondary can
 * apply exactly those rows. libpg_query's parser decides what the statement
 * is; its scanner finds where it ends. Pure: no I/O. */
#ifndef PGT_ROUTING_REWRITE_H
#define PGT_ROUTING_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

/* For a single INSERT, UPDATE or DELETE: the same statement with `*` added at
 * the end of its RETURNING list (the client's own RETURNING items, if any,
 * stay first). The client's text is kept as it is (comments, case, spacing,
 * a trailing semicolon); only the RETURNING text is inserted after the
 * statement's last token. Returns malloc'd SQL, or NULL with err filled. */
char *rewrite_returning_all(const char *sql, char *err, size_t err_len)
    __attribute__((warn_unused_result));

/* The two halves of rewrite_returning_all, for rewrite_cache: where the text
 * goes (counted from the end of the text, which stays the same for all texts
 * of one shape, see classify_shape.h) and whether a RETURNING list is there. */
typedef struct rewrite_plan {
    size_t tail; /* bytes after the statement's last token: comments, ';', spaces */
    bool has_list;
} rewrite_plan;

bool rewrite_returning_plan(const char *sql, rewrite_plan *plan, char *err, size_t err_len)
    __attribute__((warn_unused_result));

/* sql is len bytes and NUL-terminated; plan->tail <= len. NULL when out of memory. */
char *rewrite_returning_apply(const char *sql, size_t len, const rewrite_plan *plan)
    __attribute__((warn_unused_result));

#endif
