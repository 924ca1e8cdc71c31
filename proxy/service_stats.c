/* Per-service traffic figures; see service_stats.h. */
#include "proxy/service_stats.h"

#include <string.h>

const uint64_t stats_latency_bounds_us[STATS_LATENCY_BUCKETS - 1] = {
    50,     100,    200,    500,     1000,    2000,    5000,    10000,  20000,
    50000,  100000, 200000, 500000,  1000000, 2000000, 5000000, 10000000,
};

service_stats *stats_slot(proxy_stats *st, int service)
{
    if (service < 0 || service >= CONFIG_MAX_SERVICES)
        return &st->by_service[STATS_UNOWNED];
    return &st->by_service[service];
}

void stats_latency_add(latency_histogram *h, uint64_t us)
{
    size_t i = 0;
    while (i < STATS_LATENCY_BUCKETS - 1 && us > stats_latency_bounds_us[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->sum_us += us;
}

double stats_latency_mean_us(const latency_histogram *h)
{
    return h->count ? (double)h->sum_us / (double)h->count : 0.0;
}

double stats_latency_quantile_us(const latency_histogram *h, double q)
{
    if (!h->count || q <= 0.0)
        return 0.0;
    if (q > 1.0)
        q = 1.0;
    double want = q * (double)h->count, seen = 0.0;
    for (size_t i = 0; i < STATS_LATENCY_BUCKETS; i++) {
        double n = (double)h->buckets[i];
        if (n > 0 && seen + n >= want) {
            double lo = i ? (double)stats_latency_bounds_us[i - 1] : 0.0;
            if (i == STATS_LATENCY_BUCKETS - 1)
                return lo;
            double hi = (double)stats_latency_bounds_us[i];
            return lo + (hi - lo) * ((want - seen) / n);
        }
        seen += n;
    }
    return (double)stats_latency_bounds_us[STATS_LATENCY_BUCKETS - 2];
}

void stats_remap(proxy_stats *st, const config *old_cfg, const config *new_cfg)
{
    proxy_stats old = *st;
    memset(st->by_service, 0, sizeof(service_stats) * CONFIG_MAX_SERVICES);
    for (size_t n = 0; n < new_cfg->n_services; n++)
        for (size_t o = 0; o < old_cfg->n_services; o++)
            if (strcmp(new_cfg->services[n].name, old_cfg->services[o].name) == 0) {
                st->by_service[n] = old.by_service[o];
                break;
            }
}
