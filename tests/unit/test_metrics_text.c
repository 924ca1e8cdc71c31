/* Unit tests for proxy/metrics_text: which requests the metrics endpoint answers how, and
 * the histogram lines Prometheus reads. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proxy/metrics_text.h"

static http_verdict verdict(const char *req)
{
    return metrics_http_verdict(req, strlen(req), 8192);
}

Test(metrics_text, requests)
{
    cr_expect_eq(verdict("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), HTTP_METRICS);
    cr_expect_eq(verdict("GET /metrics HTTP/1.0\n\n"), HTTP_METRICS);
    cr_expect_eq(verdict("GET /metrics?x=1 HTTP/1.1\r\n\r\n"), HTTP_METRICS);
    cr_expect_eq(verdict("GET /other HTTP/1.1\r\n\r\n"), HTTP_NOT_FOUND);
    cr_expect_eq(verdict("GET /metricsx HTTP/1.1\r\n\r\n"), HTTP_NOT_FOUND);
    cr_expect_eq(verdict("POST /metrics HTTP/1.1\r\n\r\n"), HTTP_BAD_METHOD);
    cr_expect_eq(verdict("GET /metrics HTTP/1.1\r\nHost: x\r\n"), HTTP_INCOMPLETE);
    cr_expect_eq(verdict("GET /metr"), HTTP_INCOMPLETE);
    cr_expect_eq(verdict("hello there\r\n\r\n"), HTTP_BAD_REQUEST);
    cr_expect_eq(verdict("GET metrics HTTP/1.1\r\n\r\n"), HTTP_BAD_REQUEST);
    cr_expect_eq(verdict("GET /metrics HTTP/2.0\r\n\r\n"), HTTP_BAD_REQUEST);
    cr_expect_eq(verdict("GET /metrics\r\n\r\n"), HTTP_BAD_REQUEST);
    cr_expect_eq(verdict("get /metrics HTTP/1.1\r\n\r\n"), HTTP_BAD_REQUEST);
    cr_expect_eq(metrics_http_verdict("GET /metrics HTTP/1.1\r\n\0\r\n\r\n", 27, 8192),
                 HTTP_BAD_REQUEST);
    /* no end of headers within the limit */
    char big[9000];
    memset(big, 'A', sizeof(big));
    cr_expect_eq(metrics_http_verdict(big, sizeof(big), 8192), HTTP_BAD_REQUEST);
    cr_expect_eq(metrics_http_verdict(big, 100, 8192), HTTP_INCOMPLETE);
}

Test(metrics_text, histogram_is_cumulative_and_count_equals_inf_bucket)
{
    latency_histogram h = {0};
    stats_latency_add(&h, 40);      /* <= 50 µs */
    stats_latency_add(&h, 150);     /* <= 200 µs */
    stats_latency_add(&h, 30000000); /* beyond the last bound */
    pg_buf out;
    pg_buf_init(&out);
    metrics_put_histogram(&out, "d", "service=\"a\"", &h);
    pg_buf_put_byte(&out, 0);
    const char *text = (const char *)out.data;
    cr_expect(strstr(text, "d_bucket{service=\"a\",le=\"5e-05\"} 1\n"), "%s", text);
    cr_expect(strstr(text, "d_bucket{service=\"a\",le=\"0.0001\"} 1\n"), "%s", text);
    cr_expect(strstr(text, "d_bucket{service=\"a\",le=\"0.0002\"} 2\n"), "%s", text);
    cr_expect(strstr(text, "d_bucket{service=\"a\",le=\"10\"} 2\n"), "%s", text);
    cr_expect(strstr(text, "d_bucket{service=\"a\",le=\"+Inf\"} 3\n"), "%s", text);
    cr_expect(strstr(text, "d_count{service=\"a\"} 3\n"), "%s", text);
    cr_expect(strstr(text, "d_sum{service=\"a\"} 30.000190\n"), "%s", text);
    pg_buf_free(&out);
}

Test(metrics_text, label_escaping)
{
    char out[64];
    metrics_escape_label(out, sizeof(out), "a\"b\\c\nd");
    cr_expect_str_eq(out, "a\\\"b\\\\c\\nd");
}
