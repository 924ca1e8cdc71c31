/* The admin console's SHOW commands: each builds one result set of text
 * columns from the running config, the sessions and the counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol/pg_codes.h"
#include "proxy/admin_console.h"
#include "proxy/admin_tokens.h"
#include "proxy/backend.h"
#include "proxy/control.h"
#include "proxy/service_stats.h"
#include "proxy/session.h"

#define TEXT_OID 25

void admin_columns(pg_buf *out, const char *const *names, size_t n)
{
    pg_buf_begin_msg(out, PG_BE_ROW_DESCRIPTION);
    pg_buf_put_int16(out, (int16_t)n);
    for (size_t i = 0; i < n; i++) {
        pg_buf_put_cstring(out, names[i]);
        pg_buf_put_int32(out, 0);  /* no table */
        pg_buf_put_int16(out, 0);  /* no column */
        pg_buf_put_int32(out, TEXT_OID);
        pg_buf_put_int16(out, -1); /* variable width */
        pg_buf_put_int32(out, -1); /* no type modifier */
        pg_buf_put_int16(out, 0);  /* text */
    }
    pg_buf_end_msg(out);
}

void admin_row(pg_buf *out, const char *const *values, size_t n)
{
    pg_buf_begin_msg(out, PG_BE_DATA_ROW);
    pg_buf_put_int16(out, (int16_t)n);
    for (size_t i = 0; i < n; i++) {
        if (!values[i]) {
            pg_buf_put_int32(out, -1);
            continue;
        }
        size_t len = strlen(values[i]);
        pg_buf_put_int32(out, (int32_t)len);
        pg_buf_put(out, values[i], len);
    }
    pg_buf_end_msg(out);
}

static void finish(pg_buf *out, size_t rows)
{
    char tag[32];
    snprintf(tag, sizeof(tag), "SHOW %zu", rows);
    pg_buf_begin_msg(out, PG_BE_COMMAND_COMPLETE);
    pg_buf_put_cstring(out, tag);
    pg_buf_end_msg(out);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define U64(buf, v) (snprintf(buf, sizeof(buf), "%llu", (unsigned long long)(v)), buf)

static void show_services(proxy *px, pg_buf *out)
{
    static const char *const cols[] = {
        "service", "writes", "primary", "reads", "divergences", "unresolved_divergences",
        "shadow_mismatches", "paused", "paused_seconds", "open_transactions", "waiting"};
    admin_columns(out, cols, N(cols));
    const config *c = px->cfg;
    for (size_t i = 0; i < c->n_services; i++) {
        const service_config *sv = &c->services[i];
        const service_stats *st = &px->stats.by_service[i];
        size_t open_tx, waiting;
        control_count_service(px, sv->name, &open_tx, &waiting);
        char d[24], u[24], m[24], ps[24], o[24], w[24];
        bool paused = control_is_paused(px, sv->name);
        snprintf(ps, sizeof(ps), "%.1f", control_paused_for(px, sv->name));
        const char *row[] = {sv->name,
                             route_writes_name(sv->writes),
                             route_side_name(sv->primary),
                             route_reads_name(sv->reads),
                             U64(d, i < 32 ? px->divergences.by_service[i] : 0),
                             U64(u, control_unresolved(px, (int)i)),
                             U64(m, st->shadow_mismatches),
                             paused ? "yes" : "no",
                             paused ? ps : "0",
                             U64(o, open_tx),
                             U64(w, waiting)};
        admin_row(out, row, N(row));
    }
    finish(out, c->n_services);
}

static const char *tx_name(uint8_t t)
{
    return t == PG_TX_IDLE ? "idle" : t == PG_TX_IN_BLOCK ? "in transaction" : "failed";
}

static void show_clients(proxy *px, pg_buf *out)
{
    static const char *const cols[] = {"session", "user", "database", "peer", "state",
                                       "transaction", "services_joined", "config", "waiting"};
    admin_columns(out, cols, N(cols));
    size_t rows = 0;
    for (const session *s = px->sessions; s; s = s->next) {
        char id[24], joined[512] = "";
        size_t used = 0;
        for (size_t i = 0; s->routed && i < s->cfg->n_services; i++)
            if (s->services[i] && used < sizeof(joined))
                used += (size_t)snprintf(joined + used, sizeof(joined) - used, "%s%s",
                                         used ? "," : "", s->cfg->services[i].name);
        const char *row[] = {U64(id, s->id),
                             s->user ? s->user : "",
                             s->database ? s->database : "",
                             s->peer,
                             s->admin ? "admin" : session_state_name(s->state),
                             tx_name(s->tx_status),
                             joined,
                             s->cfg == px->cfg ? "current" : "previous",
                             s->ctl.held ? "yes" : "no"};
        admin_row(out, row, N(row));
        rows++;
    }
    finish(out, rows);
}

static void show_backends(proxy *px, pg_buf *out)
{
    static const char *const cols[] = {"session", "database", "address", "pid", "state",
                                       "transaction", "in_flight"};
    admin_columns(out, cols, N(cols));
    size_t rows = 0;
    for (const session *s = px->sessions; s; s = s->next) {
        for (size_t i = 0; i <= (s->routed ? s->cfg->n_services : 0); i++) {
            const backend *b = i == 0 ? s->legacy : s->services[i - 1];
            if (!b)
                continue;
            char id[24], addr[300], pid[24], fl[24];
            snprintf(addr, sizeof(addr), "%s:%d/%s", b->target->host, b->target->port,
                     b->target->dbname);
            snprintf(pid, sizeof(pid), "%d", (int)b->pid);
            const char *row[] = {U64(id, s->id), b->target->name,  addr, pid,
                                 backend_state_name(b->state), tx_name(b->tx_status),
                                 U64(fl, b->n_pending)};
            admin_row(out, row, N(row));
            rows++;
        }
    }
    finish(out, rows);
}

static void show_stats(proxy *px, pg_buf *out)
{
    static const char *const cols[] = {
        "service", "statements", "writes_mirrored", "reads_legacy", "reads_service",
        "latency_mean_us", "latency_p99_us", "divergences", "shadow_reads", "shadow_mismatches",
        "shadow_dropped"};
    admin_columns(out, cols, N(cols));
    const config *c = px->cfg;
    for (size_t i = 0; i <= c->n_services; i++) {
        bool unowned = i == c->n_services;
        const service_stats *st = &px->stats.by_service[unowned ? STATS_UNOWNED : i];
        char a[24], b[24], d[24], e[24], mean[32], p99[32], dv[24], sr[24], sm[24], sd[24];
        snprintf(mean, sizeof(mean), "%.0f", stats_latency_mean_us(&st->latency));
        snprintf(p99, sizeof(p99), "%.0f", stats_latency_quantile_us(&st->latency, 0.99));
        const char *row[] = {unowned ? "(no single service)" : c->services[i].name,
                             U64(a, st->statements),
                             U64(b, st->writes_mirrored),
                             U64(d, st->reads_legacy),
                             U64(e, st->reads_service),
                             mean,
                             p99,
                             unowned ? "" : U64(dv, i < 32 ? px->divergences.by_service[i] : 0),
                             U64(sr, st->shadow_reads),
                             U64(sm, st->shadow_mismatches),
                             U64(sd, st->shadow_dropped)};
        admin_row(out, row, N(row));
    }
    finish(out, c->n_services + 1);
}

static void show_divergences(proxy *px, size_t limit, pg_buf *out)
{
    static const char *const cols[] = {"time", "session", "service", "what", "tables",
                                       "fingerprint", "primary", "secondary"};
    admin_columns(out, cols, N(cols));
    const divergence_counters *d = &px->divergences;
    size_t have = d->n_recorded < DIVERGENCE_RECENT ? (size_t)d->n_recorded : DIVERGENCE_RECENT;
    if (limit > have)
        limit = have;
    for (size_t k = 0; k < limit && d->recent; k++) {
        const divergence_entry *e = &d->recent[(d->n_recorded - 1 - k) % DIVERGENCE_RECENT];
        char when[64], id[24];
        time_t secs = (time_t)e->time;
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t n = strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(when + n, sizeof(when) - n, ".%03d UTC",
                 (int)((e->time - (double)secs) * 1000.0));
        const char *row[] = {when,      U64(id, e->session), e->service, e->what,
                             e->tables, e->fingerprint,      e->primary, e->secondary};
        admin_row(out, row, N(row));
    }
    finish(out, limit);
}

static void config_row(pg_buf *out, const char *key, const char *value, const char *reload)
{
    const char *row[] = {key, value, reload};
    admin_row(out, row, 3);
}

/* Addresses, never passwords. */
static void target_text(const backend_target *t, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%d/%s user=%s", t->host, t->port, t->dbname, t->user);
}

static size_t show_config(proxy *px, pg_buf *out)
{
    static const char *const cols[] = {"key", "value", "changes_on_reload"};
    admin_columns(out, cols, N(cols));
    const config *c = px->cfg;
    char v[600], k[128];
    size_t rows = 0;
    snprintf(v, sizeof(v), "%s", c->path);
    config_row(out, "config_file", v, "-"), rows++;
    config_row(out, "state_file", c->state_path, "-"), rows++;
    snprintf(v, sizeof(v), "%s:%d", c->listen_host, c->listen_port);
    config_row(out, "listen", v, "no (restart)"), rows++;
    target_text(&c->legacy, v, sizeof(v));
    config_row(out, "legacy", v, "no (restart)"), rows++;
    config_row(out, "auth_file", c->auth_file, "yes (re-read)"), rows++;
    config_row(out, "auth_type", config_auth_method_name(c->auth_type), "yes"), rows++;
    config_row(out, "log_level", log_level_name(c->log_level), "yes"), rows++;
    snprintf(v, sizeof(v), "%g", c->login_timeout);
    config_row(out, "login_timeout", v, "yes (new connections)"), rows++;
    snprintf(v, sizeof(v), "%d", c->max_clients);
    config_row(out, "max_clients", v, "yes"), rows++;
    config_row(out, "on_mirror_failure", c->on_mirror_failure == MIRROR_FAIL ? "fail" : "continue",
               "yes"), rows++;
    config_row(out, "cross_service_writes",
               c->cross_service_writes == ROUTE_CROSS_REJECT ? "reject" : "legacy", "yes"), rows++;
    config_row(out, "admin_users", c->admin_users, "yes"), rows++;
    snprintf(v, sizeof(v), "%g", c->pause_timeout);
    config_row(out, "pause_timeout", v, "yes"), rows++;
    snprintf(v, sizeof(v), "%g", c->connect_timeout);
    config_row(out, "connect_timeout", v, "yes (new connections)"), rows++;
    snprintf(v, sizeof(v), "%g", c->mirror_timeout);
    config_row(out, "mirror_timeout", v, "yes"), rows++;
    for (size_t i = 0; i < c->n_services; i++) {
        const service_config *s = &c->services[i];
        snprintf(k, sizeof(k), "service.%s.conninfo", s->name);
        target_text(&s->target, v, sizeof(v));
        config_row(out, k, v, "yes (idle sessions reconnect)"), rows++;
        size_t used = 0;
        v[0] = '\0';
        for (size_t t = 0; t < s->n_tables && used < sizeof(v); t++)
            used += (size_t)snprintf(v + used, sizeof(v) - used, "%s%s", t ? ", " : "",
                                     s->tables[t]);
        snprintf(k, sizeof(k), "service.%s.tables", s->name);
        config_row(out, k, v, "yes"), rows++;
        snprintf(k, sizeof(k), "service.%s.state", s->name);
        snprintf(v, sizeof(v), "writes=%s primary=%s reads=%s (%s)", route_writes_name(s->writes),
                 route_side_name(s->primary), route_reads_name(s->reads),
                 s->from_state ? "set from the console: state file" : "config file");
        config_row(out, k, v, "yes"), rows++;
    }
    return rows;
}

bool admin_show(proxy *px, const admin_tokens *t, pg_buf *out, char *err, size_t err_len)
{
    if (admin_is(t, 1, "SERVICES") && t->n == 2)
        show_services(px, out);
    else if (admin_is(t, 1, "CLIENTS") && t->n == 2)
        show_clients(px, out);
    else if (admin_is(t, 1, "BACKENDS") && t->n == 2)
        show_backends(px, out);
    else if (admin_is(t, 1, "STATS") && t->n == 2)
        show_stats(px, out);
    else if (admin_is(t, 1, "CONFIG") && t->n == 2)
        finish(out, show_config(px, out));
    else if (admin_is(t, 1, "DIVERGENCES") && (t->n == 2 || t->n == 3)) {
        char *end = NULL;
        long n = t->n == 3 ? strtol(t->word[2], &end, 10) : 20;
        if (t->n == 3 && (!end || *end || n < 1)) {
            snprintf(err, err_len, "SHOW DIVERGENCES takes a positive count, not \"%s\"",
                     t->word[2]);
            return false;
        }
        show_divergences(px, (size_t)n, out);
    } else {
        snprintf(err, err_len, "unknown SHOW \"%s\": SERVICES, CLIENTS, BACKENDS, STATS, "
                               "DIVERGENCES [n] or CONFIG", t->n > 1 ? t->word[1] : "");
        return false;
    }
    return true;
}
