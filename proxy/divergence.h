/* Recording divergences: whenever the two sides of a mirrored statement end
 * differently, one structured log line and a counter per service. */
#ifndef PGT_DIVERGENCE_H
#define PGT_DIVERGENCE_H

#include <stdint.h>

#include "proxy/backend.h"
#include "proxy/divergence_counters.h"

typedef struct session session;

/* what: short reason ("outcome differs", "secondary commit failed", ...) */
void divergence_record(session *s, int service, const char *what, const char *fingerprint,
                       const char *tables, const backend_outcome *primary,
                       const backend_outcome *secondary);

#endif
