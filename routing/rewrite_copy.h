/* COPY ... FROM STDIN into a dual-written table, read from libpg_query's
 * parse tree: its source and column list, and the statements that run it
 * through a staging table when the database would fill in values the COPY
 * leaves out (the rows are then mirrored by row images). Pure: no I/O. */
#ifndef PGT_ROUTING_REWRITE_COPY_H
#define PGT_ROUTING_REWRITE_COPY_H

#include <stdbool.h>
#include <stddef.h>

typedef struct copy_shape {
    bool from_stdin; /* COPY table FROM STDIN: not a server file or program, not COPY TO */
    char **columns;  /* the column list as parsed; NULL when the COPY gives none */
    size_t n_columns;
} copy_shape;

/* Reads a single COPY statement. false with err when sql is not one. */
bool copy_shape_read(const char *sql, copy_shape *out, char *err, size_t err_len)
    __attribute__((warn_unused_result));
void copy_shape_free(copy_shape *c);

/* The statements of a COPY FROM STDIN through the temporary table `stage`
 * (a plain name, created in pg_temp), each malloc'd:
 *   create: the staging table, with the COPY's columns and the target's types,
 *           dropped at commit at the latest;
 *   copy:   the client's COPY with only its target changed to the staging table;
 *   insert: the staged rows into the target, RETURNING every column;
 *   drop:   the staging table, so a later COPY in the same transaction can make it again. */
typedef struct copy_staging {
    char *create;
    char *copy;
    char *insert;
    char *drop;
} copy_staging;

bool copy_staging_build(const char *sql, const char *stage, copy_staging *out, char *err,
                        size_t err_len) __attribute__((warn_unused_result));
void copy_staging_free(copy_staging *c);

#endif
