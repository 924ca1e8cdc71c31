/* The metrics endpoint's request parser and text exposition; see metrics_text.h. */
#include "proxy/metrics_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proxy/proxy.h"
#include "proxy/session.h"
#include "proxy/shadow.h"

/* ------------------------------------------------------------------ request */

static bool is_token_char(char c)
{
    return c >= 'A' && c <= 'Z';
}

http_verdict metrics_http_verdict(const char *buf, size_t len, size_t max)
{
    const char *end = NULL;
    for (size_t i = 0; i + 1 < len && !end; i++) {
        if (buf[i] == '\n' && buf[i + 1] == '\n')
            end = buf + i;
        else if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0)
            end = buf + i;
    }
    for (size_t i = 0; i < len && (!end || buf + i < end); i++)
        if (buf[i] == '\0')
            return HTTP_BAD_REQUEST; /* not text */
    if (!end)
        return len >= max ? HTTP_BAD_REQUEST : HTTP_INCOMPLETE;
    /* request line: METHOD SP target SP HTTP/1.x */
    const char *line_end = memchr(buf, '\n', len); /* there is one: headers ended */
    size_t line_len = (size_t)(line_end - buf);
    if (line_len && buf[line_len - 1] == '\r')
        line_len--;
    const char *sp1 = memchr(buf, ' ', line_len);
    if (!sp1 || sp1 == buf)
        return HTTP_BAD_REQUEST;
    for (const char *p = buf; p < sp1; p++)
        if (!is_token_char(*p))
            return HTTP_BAD_REQUEST;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', line_len - (size_t)(target - buf));
    if (!sp2 || sp2 == target || *target != '/')
        return HTTP_BAD_REQUEST;
    size_t version_len = line_len - (size_t)(sp2 + 1 - buf);
    if (version_len != 8 || (memcmp(sp2 + 1, "HTTP/1.0", 8) != 0 &&
                             memcmp(sp2 + 1, "HTTP/1.1", 8) != 0))
        return HTTP_BAD_REQUEST;
    for (const char *p = target; p < sp2; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
            return HTTP_BAD_REQUEST;
    if ((size_t)(sp1 - buf) != 3 || memcmp(buf, "GET", 3) != 0)
        return HTTP_BAD_METHOD;
    size_t path_len = (size_t)(sp2 - target);
    const char *query = memchr(target, '?', path_len);
    if (query)
        path_len = (size_t)(query - target);
    if (path_len == 8 && memcmp(target, "/metrics", 8) == 0)
        return HTTP_METRICS;
    return HTTP_NOT_FOUND;
}

/* ------------------------------------------------------------------- output */

static void putf(pg_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(pg_buf *out, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        pg_buf_put(out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void metrics_escape_label(char *out, size_t len, const char *value)
{
    size_t o = 0;
    for (const char *p = value; *p && o + 3 < len; p++) {
        if (*p == '\\' || *p == '"') {
            out[o++] = '\\';
            out[o++] = *p;
        } else if (*p == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

void metrics_put_histogram(pg_buf *out, const char *name, const char *labels,
                           const latency_histogram *h)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < STATS_LATENCY_BUCKETS - 1; i++) {
        cumulative += h->buckets[i];
        putf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
             (double)stats_latency_bounds_us[i] / 1e6, (unsigned long long)cumulative);
    }
    cumulative += h->buckets[STATS_LATENCY_BUCKETS - 1];
    putf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
         (unsigned long long)cumulative);
    putf(out, "%s_sum{%s} %.6f\n", name, labels, (double)h->sum_us / 1e6);
    putf(out, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->count);
}

#define UNOWNED_LABEL "(unowned)"

/* The slots to report: every configured service, then the unowned one. */
static size_t slots(const proxy *px, size_t *idx, const char **names)
{
    size_t n = 0;
    for (size_t i = 0; i < px->cfg->n_services; i++) {
        idx[n] = i;
        names[n++] = px->cfg->services[i].name;
    }
    idx[n] = STATS_UNOWNED;
    names[n++] = UNOWNED_LABEL;
    return n;
}

typedef uint64_t (*field_fn)(const service_stats *);
static uint64_t f_statements(const service_stats *s) { return s->statements; }
static uint64_t f_mirrored(const service_stats *s) { return s->writes_mirrored; }
static uint64_t f_shadow(const service_stats *s) { return s->shadow_reads; }
static uint64_t f_mismatch(const service_stats *s) { return s->shadow_mismatches; }
static uint64_t f_dropped(const service_stats *s) { return s->shadow_dropped; }

static void counter(pg_buf *out, proxy *px, const char *name, const char *help, field_fn f)
{
    size_t idx[CONFIG_MAX_SERVICES + 1];
    const char *names[CONFIG_MAX_SERVICES + 1];
    size_t n = slots(px, idx, names);
    putf(out, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (size_t i = 0; i < n; i++) {
        char label[160];
        metrics_escape_label(label, sizeof(label), names[i]);
        putf(out, "%s{service=\"%s\"} %llu\n", name, label,
             (unsigned long long)f(&px->stats.by_service[idx[i]]));
    }
}

void metrics_render(proxy *px, pg_buf *out)
{
    size_t idx[CONFIG_MAX_SERVICES + 1];
    const char *names[CONFIG_MAX_SERVICES + 1];
    size_t n = slots(px, idx, names);
    char label[160];

    counter(out, px, "pgtandem_statements_total",
            "Statements routed, by the service they concern", f_statements);
    counter(out, px, "pgtandem_writes_mirrored_total",
            "Writes run on both databases of a service", f_mirrored);

    putf(out, "# HELP pgtandem_reads_total Reads, by the side that served them\n"
              "# TYPE pgtandem_reads_total counter\n");
    for (size_t i = 0; i < n; i++) {
        const service_stats *st = &px->stats.by_service[idx[i]];
        metrics_escape_label(label, sizeof(label), names[i]);
        putf(out, "pgtandem_reads_total{service=\"%s\",source=\"legacy\"} %llu\n", label,
             (unsigned long long)st->reads_legacy);
        putf(out, "pgtandem_reads_total{service=\"%s\",source=\"service\"} %llu\n", label,
             (unsigned long long)st->reads_service);
    }

    putf(out, "# HELP pgtandem_divergences_total Times the two databases of a service ended a "
              "mirrored statement differently\n# TYPE pgtandem_divergences_total counter\n");
    for (size_t i = 0; i + 1 < n; i++) {
        metrics_escape_label(label, sizeof(label), names[i]);
        putf(out, "pgtandem_divergences_total{service=\"%s\"} %llu\n", label,
             (unsigned long long)px->divergences.by_service[idx[i]]);
    }

    counter(out, px, "pgtandem_shadow_reads_total",
            "Reads also run on the other side to compare", f_shadow);
    counter(out, px, "pgtandem_shadow_mismatches_total",
            "Shadow reads whose answer differed from the primary's", f_mismatch);
    counter(out, px, "pgtandem_shadow_dropped_total",
            "Sampled shadow reads not compared (cap reached, other side slow or failing)",
            f_dropped);

    size_t backends = 0;
    for (session *s = px->sessions; s; s = s->next) {
        backends += s->legacy != NULL;
        for (size_t i = 0; s->routed && i < s->cfg->n_services; i++)
            backends += s->services[i] != NULL;
    }
    putf(out, "# HELP pgtandem_clients Client connections\n# TYPE pgtandem_clients gauge\n"
              "pgtandem_clients %zu\n", px->n_sessions);
    putf(out, "# HELP pgtandem_backends Server connections of client sessions\n"
              "# TYPE pgtandem_backends gauge\npgtandem_backends %zu\n", backends);
    putf(out, "# HELP pgtandem_shadow_connections Connections kept for shadow reads\n"
              "# TYPE pgtandem_shadow_connections gauge\npgtandem_shadow_connections %zu\n",
         shadow_connections(px->shadow));
    putf(out, "# HELP pgtandem_shadow_inflight Shadow reads running on the other side\n"
              "# TYPE pgtandem_shadow_inflight gauge\npgtandem_shadow_inflight %zu\n",
         shadow_inflight(px->shadow));

    putf(out, "# HELP pgtandem_request_duration_seconds From a client's request arriving to "
              "its last reply, by the service it concerned\n"
              "# TYPE pgtandem_request_duration_seconds histogram\n");
    for (size_t i = 0; i < n; i++) {
        char labels[200];
        metrics_escape_label(label, sizeof(label), names[i]);
        snprintf(labels, sizeof(labels), "service=\"%s\"", label);
        metrics_put_histogram(out, "pgtandem_request_duration_seconds", labels,
                              &px->stats.by_service[idx[i]].latency);
    }
}
