/* Unit tests for proxy/service_stats: latency buckets, mean and percentiles that
 * SHOW STATS and /metrics report. */
#include <criterion/criterion.h>

#include "proxy/service_stats.h"

Test(stats, empty_histogram_reports_zero)
{
    latency_histogram h = {0};
    cr_expect_eq(stats_latency_mean_us(&h), 0.0);
    cr_expect_eq(stats_latency_quantile_us(&h, 0.99), 0.0);
}

Test(stats, values_land_in_the_bucket_whose_bound_covers_them)
{
    latency_histogram h = {0};
    stats_latency_add(&h, 50);  /* bound inclusive: first bucket */
    stats_latency_add(&h, 51);  /* second */
    stats_latency_add(&h, 20000000); /* beyond 10 s: last */
    cr_expect_eq(h.buckets[0], 1);
    cr_expect_eq(h.buckets[1], 1);
    cr_expect_eq(h.buckets[STATS_LATENCY_BUCKETS - 1], 1);
    cr_expect_eq(h.count, 3);
    cr_expect_eq(h.sum_us, 50 + 51 + 20000000);
}

Test(stats, p99_of_a_slow_tail_falls_in_the_tail_bucket)
{
    latency_histogram h = {0};
    for (int i = 0; i < 980; i++)
        stats_latency_add(&h, 150); /* (100, 200] */
    for (int i = 0; i < 20; i++)
        stats_latency_add(&h, 40000); /* (20000, 50000] */
    double p50 = stats_latency_quantile_us(&h, 0.5);
    double p99 = stats_latency_quantile_us(&h, 0.99);
    cr_expect(p50 > 100 && p50 <= 200, "p50 %f", p50);
    cr_expect(p99 > 20000 && p99 <= 50000, "p99 %f", p99);
    cr_expect_float_eq(stats_latency_mean_us(&h), (980.0 * 150 + 20.0 * 40000) / 1000, 1e-9);
}

Test(stats, remap_follows_services_by_name)
{
    config a = {0}, b = {0};
    a.n_services = 2;
    a.services[0].name = "auth";
    a.services[1].name = "cart";
    b.n_services = 2;
    b.services[0].name = "cart";
    b.services[1].name = "promotion";
    proxy_stats st = {0};
    st.by_service[0].statements = 7;  /* auth */
    st.by_service[1].statements = 11; /* cart */
    st.by_service[STATS_UNOWNED].statements = 3;
    stats_remap(&st, &a, &b);
    cr_expect_eq(st.by_service[0].statements, 11, "cart moved to slot 0");
    cr_expect_eq(st.by_service[1].statements, 0, "promotion is new");
    cr_expect_eq(st.by_service[STATS_UNOWNED].statements, 3, "unowned kept");
}
