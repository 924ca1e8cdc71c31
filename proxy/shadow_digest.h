/* The digest of a result set that shadow reads compare: a row count, an order-insensitive
 * part (sums of a 128-bit hash of each row, so the same rows in any order, duplicates
 * included, give the same sums) and an order-sensitive chain for statements whose ORDER BY
 * makes order part of the answer. Rows are hashed field by field as their text or binary
 * bytes with each field's length (NULL distinct from empty), so a row given as a DataRow
 * body and the same row given as libpq fields digest alike. Pure; no I/O. */
#ifndef PGT_SHADOW_DIGEST_H
#define PGT_SHADOW_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct row_digest {
    uint64_t rows;
    uint64_t sum_lo, sum_hi; /* order-insensitive */
    uint64_t chain;          /* order-sensitive */
} row_digest;

void row_digest_init(row_digest *d);
/* One row from a DataRow message body; false (digest unchanged) when the body is
 * malformed. */
bool row_digest_add_datarow(row_digest *d, const uint8_t *body, size_t len);
/* One row of n fields; lens[i] < 0 is NULL. */
void row_digest_add_fields(row_digest *d, size_t n, const char *const *vals, const int *lens);
/* Same rows: count and sums, and when `ordered`, the same order too. */
bool row_digest_equal(const row_digest *a, const row_digest *b, bool ordered);
/* 16 hex digits summing up the digest, for log lines. */
void row_digest_format(const row_digest *d, bool ordered, char out[17]);

#endif
