/* What a shadow read of an extended-protocol statement needs from the client's Bind: its
 * parameters as bound (text or binary, with the types the Parse named) and the one result
 * format its rows came in. Pure; no I/O. */
#ifndef PGT_SHADOW_PARAMS_H
#define PGT_SHADOW_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHADOW_MAX_PARAMS 1024

typedef struct shadow_params {
    int n;
    const char *values[SHADOW_MAX_PARAMS]; /* into the Bind body; NULL for SQL NULL */
    int lengths[SHADOW_MAX_PARAMS];
    int formats[SHADOW_MAX_PARAMS];        /* 0 text, 1 binary */
    unsigned types[SHADOW_MAX_PARAMS];     /* from the Parse; 0: the server infers */
    int result_format;                     /* 0 text, 1 binary, for every column */
} shadow_params;

/* Reads a Bind body (and the Parse's declared types, n_types big-endian OIDs). False when
 * the Bind is malformed, has more than SHADOW_MAX_PARAMS parameters, or asks for rows in
 * mixed formats (libpq fetches every column in one format, so the digests would differ). */
bool shadow_params_from_bind(const uint8_t *bind, size_t len, const uint8_t *types,
                             size_t n_types, shadow_params *out);

#endif
