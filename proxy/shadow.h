/* Shadow reads: a read served by a service's primary side is also run on the other side,
 * off the client's path, and the two answers compared (row count and a digest of the rows,
 * shadow_digest.h). The other side's queries run on a small pool of pgtandem's own
 * connections (libpq, non-blocking, on the proxy's loop), read-only and under a
 * statement_timeout; at most shadow_max_inflight run at once, proxy-wide, and a read that
 * would need one more is dropped (counted) instead of waiting. A mismatch is logged like a
 * write divergence and counted in px->stats. */
#ifndef PGT_SHADOW_H
#define PGT_SHADOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "routing/route.h"

typedef struct proxy proxy;
typedef struct config config;
typedef struct shadow_pool shadow_pool;
typedef struct shadow_job shadow_job;

void shadow_pool_free(shadow_pool *p);
/* Shadow reads whose other side is still running, and the pool's connections. */
size_t shadow_inflight(const shadow_pool *p);
size_t shadow_connections(const shadow_pool *p);

/* Samples (the service's shadow_sample), applies the cap, and starts running `sql` on the
 * side of service `service` other than `served_by`. Returns the job the session feeds the
 * primary's answer into, or NULL: not sampled, or dropped. `cfg` is the session's
 * snapshot. For an extended-protocol statement, `bind` is the client's Bind body and
 * `types` the n_types parameter types of its Parse (copied); NULL for a simple query. */
shadow_job *shadow_start(proxy *px, const config *cfg, uint64_t session_id, int service,
                         route_side served_by, const classify_stmt *st, const char *sql,
                         const uint8_t *bind, size_t bind_len, const uint8_t *types,
                         size_t n_types);
/* A DataRow the client got from the primary. */
void shadow_primary_row(shadow_job *j, const uint8_t *body, size_t len);
/* An ErrorResponse the client got from the primary (its SQLSTATE). */
void shadow_primary_error(shadow_job *j, const char *sqlstate);
/* The primary's answer is complete (comparable false: it could not be digested whole).
 * The session lets go of the job; it is compared now or when the other side ends. */
void shadow_primary_end(shadow_job *j, bool comparable);

#endif
