/* The Prometheus endpoint: a minimal HTTP server on the proxy's loop (metrics_listen),
 * GET /metrics only. Each connection gets one answer and is closed; reads and writes are
 * non-blocking with bounded buffers and a deadline, so a slow or silent client costs a
 * socket and a timer, never the loop. */
#ifndef PGT_METRICS_HTTP_H
#define PGT_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct proxy proxy;
typedef struct metrics_http metrics_http;

/* Listens on the config's metrics_listen (nothing to do when it is not set); false with
 * err when the address can't be had. Sets px->metrics. */
bool metrics_http_open(proxy *px, char *err, size_t err_len) __attribute__((warn_unused_result));
void metrics_http_free(metrics_http *m);

#endif
