/* What the metrics endpoint says: the request it accepts (a pure parser) and the
 * Prometheus text exposition (format 0.0.4) of px->stats and the proxy's gauges. */
#ifndef PGT_METRICS_TEXT_H
#define PGT_METRICS_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol/pg_buf.h"
#include "proxy/service_stats.h"

typedef struct proxy proxy;

typedef enum http_verdict {
    HTTP_INCOMPLETE,   /* no end of headers yet: read on */
    HTTP_METRICS,      /* GET /metrics: 200 */
    HTTP_NOT_FOUND,    /* a well-formed GET of another path: 404 */
    HTTP_BAD_METHOD,   /* a well-formed request with another method: 405 */
    HTTP_BAD_REQUEST,  /* anything else: 400 */
} http_verdict;

/* Judges the first `len` bytes a client sent (HTTP/1.0 or 1.1 request line and headers,
 * ending with an empty line). More than `max` bytes without the end is a bad request. */
http_verdict metrics_http_verdict(const char *buf, size_t len, size_t max);

/* One histogram in seconds: cumulative _bucket lines for each bound and +Inf, _sum and
 * _count. `labels` is `name="value"` pairs without braces (may be ""). */
void metrics_put_histogram(pg_buf *out, const char *name, const char *labels,
                           const latency_histogram *h);
/* Label values escaped as the format wants (backslash, quote, newline). */
void metrics_escape_label(char *out, size_t len, const char *value);
/* Everything /metrics reports. */
void metrics_render(proxy *px, pg_buf *out);

#endif
