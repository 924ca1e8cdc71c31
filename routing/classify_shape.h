/* The "shape" of a query text: the text with its numeric constants blanked out, found with
 * libpg_query's scanner. classify_cache keys single statements by shape, so that
 * `... WHERE aid = 17` and `... WHERE aid = 42` share one classification. Internal to
 * routing/. */
#ifndef PGT_ROUTING_CLASSIFY_SHAPE_H
#define PGT_ROUTING_CLASSIFY_SHAPE_H

#include <stdbool.h>
#include <stddef.h>

/* Each replaced constant becomes a NUL byte followed by 'i' (integer token) or 'f' (float
 * token). A query text never holds a NUL, so a shape with replacements can't equal any
 * real text, and keeping the token type keeps apart texts the grammar tells apart (an
 * integer too large for int4 is scanned as a float). */
#define CLASSIFY_SHAPE_MARK '\0'

/* Grows as needed; reused between calls to spare a malloc per query. */
typedef struct classify_shape_buf {
    char *data;
    size_t len, cap;
} classify_shape_buf;

/* Writes the shape of `sql` (len bytes, NUL-terminated) into `out` and returns how many
 * constants it replaced: 0 means the shape is the text itself (no numeric constant, or
 * the scanner refused the text, or memory ran out), and `out` is then left empty.
 * Constants whose value the grammar itself looks at are kept: an array bound (`int[3]`,
 * and so also subscripts `a[1]`) and float(p)'s precision, which picks float4 or float8 or
 * an error. */
size_t classify_shape_of(const char *sql, size_t len, classify_shape_buf *out);

void classify_shape_buf_free(classify_shape_buf *b);

#endif
