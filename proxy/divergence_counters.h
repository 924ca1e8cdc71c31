/* Divergence counters kept by the proxy (a header of its own so proxy.h
 * need not know about backends), and a bounded ring of the latest records
 * for the admin console's SHOW DIVERGENCES. */
#ifndef PGT_DIVERGENCE_COUNTERS_H
#define PGT_DIVERGENCE_COUNTERS_H

#include <stdint.h>

#define DIVERGENCE_RECENT 200

typedef struct divergence_entry {
    double time; /* wall clock, seconds since the epoch */
    uint64_t session;
    char service[64];
    char what[96];
    char tables[160];
    char fingerprint[40];
    char primary[200];
    char secondary[200];
} divergence_entry;

typedef struct divergence_counters {
    uint64_t total;
    uint64_t by_service[32];
    /* by_service[i] when service i last entered dual writes or an engineer
     * acknowledged its divergences: what lies above is unresolved */
    uint64_t resolved_upto[32];
    divergence_entry *recent; /* DIVERGENCE_RECENT slots, allocated on first use */
    uint64_t n_recorded;      /* records ever made; the ring holds the latest */
} divergence_counters;

#endif
