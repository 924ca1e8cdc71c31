/* Per-service traffic figures the admin console (SHOW STATS, SHOW SERVICES) and the
 * metrics endpoint read: statements, mirrored writes, reads by source, shadow reads and
 * a latency histogram. Recording is a few additions; readers compute means and
 * percentiles from the histogram. Slot i is service i of the running config; the last
 * slot counts statements that touch no single service (unowned tables, several services). */
#ifndef PGT_SERVICE_STATS_H
#define PGT_SERVICE_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/config.h"

/* Upper bounds of the latency buckets in microseconds, 1-2-5 steps from 50 µs to 10 s;
 * a last bucket catches everything slower. */
#define STATS_LATENCY_BUCKETS 18
extern const uint64_t stats_latency_bounds_us[STATS_LATENCY_BUCKETS - 1];

typedef struct latency_histogram {
    uint64_t count;
    uint64_t sum_us;
    uint64_t buckets[STATS_LATENCY_BUCKETS]; /* not cumulative */
} latency_histogram;

typedef struct service_stats {
    uint64_t statements;      /* statements routed with this service concerned */
    uint64_t writes_mirrored; /* writes run on both sides */
    uint64_t reads_legacy;    /* reads served by legacy */
    uint64_t reads_service;   /* reads served by the service's database */
    uint64_t shadow_reads;    /* reads also run on the other side to compare */
    uint64_t shadow_mismatches;
    uint64_t shadow_dropped;  /* sampled, but skipped rather than delay anyone */
    latency_histogram latency; /* request in to last reply out, as the client sees it */
} service_stats;

#define STATS_UNOWNED CONFIG_MAX_SERVICES
typedef struct proxy_stats {
    service_stats by_service[CONFIG_MAX_SERVICES + 1];
} proxy_stats;

/* The slot for service index `service` (-1: none or several). */
service_stats *stats_slot(proxy_stats *st, int service);
void stats_latency_add(latency_histogram *h, uint64_t us);
/* Mean in microseconds, 0 when empty. */
double stats_latency_mean_us(const latency_histogram *h);
/* The q-quantile (0 < q <= 1), interpolated within its bucket; 0 when empty. For the
 * open last bucket the answer is its lower bound. */
double stats_latency_quantile_us(const latency_histogram *h, double q);
/* A reload may reorder, add or drop services: carry each surviving service's figures to
 * its new slot by name, start new ones at zero. */
void stats_remap(proxy_stats *st, const config *old_cfg, const config *new_cfg);

#endif
