/* Divergence counters kept by the proxy (a header of its own so proxy.h
 * need not know about backends). */
#ifndef PGT_DIVERGENCE_COUNTERS_H
#define PGT_DIVERGENCE_COUNTERS_H

#include <stdint.h>

typedef struct divergence_counters {
    uint64_t total;
    uint64_t by_service[32];
} divergence_counters;

#endif
