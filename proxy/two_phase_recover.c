/* Two-phase commit: server checks and the orphan resolver (see the header). */
#include "proxy/two_phase_recover.h"

#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxy/log.h"
#include "proxy/net.h"
#include "proxy/proxy.h"
#include "proxy/two_phase.h"

static PGconn *connect_to(const backend_target *t)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", t->port);
    const char *keys[] = {"host", "port", "dbname", "user", "password", "connect_timeout",
                          "application_name", NET_LIBPQ_KEEPALIVE_KEYS, NULL};
    const char *vals[] = {t->host, port, t->dbname, t->user, t->password, "10",
                          "pgtandem-two-phase", NET_LIBPQ_KEEPALIVE_VALUES, NULL};
    return PQconnectdbParams(keys, vals, 0);
}

static bool writes_here(const config *c, size_t i)
{
    return c->services[i].writes != ROUTE_WRITES_LEGACY;
}

static bool check_one(const backend_target *t, char *err, size_t err_len)
{
    PGconn *conn = connect_to(t);
    bool ok = false;
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, err_len, "two_phase = on: cannot connect to %s: %s", t->name,
                 PQerrorMessage(conn));
    } else {
        PGresult *r = PQexec(conn, "SELECT current_setting('max_prepared_transactions')::int");
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
            snprintf(err, err_len, "two_phase = on: cannot read max_prepared_transactions on %s: %s",
                     t->name, PQresultErrorMessage(r));
        else if (atoi(PQgetvalue(r, 0, 0)) <= 0)
            snprintf(err, err_len,
                     "two_phase = on needs max_prepared_transactions > 0 on %s (it is %s); set "
                     "it in that server's postgresql.conf and restart the server, or set "
                     "two_phase = off",
                     t->name, PQgetvalue(r, 0, 0));
        else
            ok = true;
        PQclear(r);
    }
    err[strcspn(err, "\n")] = '\0';
    PQfinish(conn);
    return ok;
}

bool tpc_check_servers(const config *c, char *err, size_t err_len)
{
    if (!c->two_phase)
        return true;
    if (!check_one(&c->legacy, err, err_len))
        return false;
    for (size_t i = 0; i < c->n_services; i++)
        if (writes_here(c, i) && !check_one(&c->services[i].target, err, err_len))
            return false;
    return true;
}

static const backend_target *target_named(const config *c, const char *name)
{
    if (strcmp(name, "legacy") == 0)
        return &c->legacy;
    for (size_t i = 0; i < c->n_services; i++)
        if (strcmp(c->services[i].name, name) == 0)
            return &c->services[i].target;
    return NULL;
}

/* "committed", "aborted", "in progress", or NULL when the decider can't say. */
static const char *decider_says(const config *c, const char *decider, const char *xid,
                                char *buf, size_t len)
{
    const backend_target *t = target_named(c, decider);
    if (!t)
        return NULL;
    PGconn *conn = connect_to(t);
    const char *answer = NULL;
    if (PQstatus(conn) == CONNECTION_OK) {
        const char *params[] = {xid};
        PGresult *r = PQexecParams(conn, "SELECT pg_catalog.pg_xact_status($1::xid8)", 1, NULL,
                                   params, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
            !PQgetisnull(r, 0, 0)) {
            snprintf(buf, len, "%s", PQgetvalue(r, 0, 0));
            answer = buf;
        }
        PQclear(r);
    }
    PQfinish(conn);
    return answer;
}

static int resolve_on(const config *c, const backend_target *t, int min_age_s)
{
    PGconn *conn = connect_to(t);
    int resolved = 0;
    if (PQstatus(conn) != CONNECTION_OK) {
        log_warn("two-phase resolver: cannot connect to %s: %.200s", t->name,
                 PQerrorMessage(conn));
        PQfinish(conn);
        return 0;
    }
    char age[16];
    snprintf(age, sizeof(age), "%d", min_age_s);
    const char *params[] = {age};
    PGresult *r = PQexecParams(conn,
                               "SELECT gid FROM pg_catalog.pg_prepared_xacts "
                               "WHERE database = current_database() AND gid LIKE 'pgtandem:%' "
                               "AND prepared <= now() - make_interval(secs => $1::int)",
                               1, NULL, params, NULL, NULL, 0);
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
        const char *gid = PQgetvalue(r, i, 0);
        char decider[128], xid[32], status[32];
        if (!tpc_parse_gid(gid, decider, sizeof(decider), xid, sizeof(xid)))
            continue;
        const char *says = decider_says(c, decider, xid, status, sizeof(status));
        const char *verb = !says                            ? NULL
                           : strcmp(says, "committed") == 0 ? "COMMIT PREPARED"
                           : strcmp(says, "aborted") == 0   ? "ROLLBACK PREPARED"
                                                            : NULL;
        if (!verb) {
            if (!says || strcmp(says, "in progress") != 0)
                log_error("two-phase resolver: %s on %s: %s can't say whether xid %s "
                          "committed; resolve it by hand (COMMIT PREPARED or ROLLBACK PREPARED)",
                          gid, t->name, decider, xid);
            continue;
        }
        char *lit = PQescapeLiteral(conn, gid, strlen(gid));
        char sql[320];
        snprintf(sql, sizeof(sql), "%s %s", verb, lit ? lit : "''");
        PQfreemem(lit);
        PGresult *done = PQexec(conn, sql);
        if (PQresultStatus(done) == PGRES_COMMAND_OK) {
            log_warn("two-phase resolver: %s on %s: %s (the decider %s %s)", gid, t->name, verb,
                     decider, says);
            resolved++;
        } else {
            log_error("two-phase resolver: %s %s on %s failed: %.200s", verb, gid, t->name,
                      PQresultErrorMessage(done));
        }
        PQclear(done);
    }
    PQclear(r);
    PQfinish(conn);
    return resolved;
}

int tpc_resolve_orphans(const config *c, int min_age_s)
{
    int n = resolve_on(c, &c->legacy, min_age_s);
    /* every service: one back at writes=legacy may still hold an orphan */
    for (size_t i = 0; i < c->n_services; i++)
        n += resolve_on(c, &c->services[i].target, min_age_s);
    return n;
}

#define RESOLVE_EVERY_SECONDS 30.0

static void resolve_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    proxy *px = w->data;
    if (px->tpc_child > 0) {
        if (waitpid(px->tpc_child, NULL, WNOHANG) == 0)
            return; /* the last round is still working */
        px->tpc_child = 0;
    }
    pid_t pid = fork();
    if (pid == 0) {
        /* the child shares the parent's sockets but touches none of them */
        tpc_resolve_orphans(px->cfg, (int)RESOLVE_EVERY_SECONDS);
        _exit(0);
    }
    if (pid < 0)
        log_warn("two-phase resolver: fork failed; retrying in %.0f s", RESOLVE_EVERY_SECONDS);
    else
        px->tpc_child = pid;
}

void tpc_resolver_start(proxy *px)
{
    if (!px->cfg->two_phase)
        return;
    int n = tpc_resolve_orphans(px->cfg, 0);
    if (n)
        log_warn("two-phase resolver: resolved %d prepared transaction(s) left from before", n);
    ev_timer_init(&px->tpc_timer, resolve_tick, RESOLVE_EVERY_SECONDS, RESOLVE_EVERY_SECONDS);
    px->tpc_timer.data = px;
    ev_timer_start(px->loop, &px->tpc_timer);
}

void tpc_resolver_stop(proxy *px)
{
    if (ev_is_active(&px->tpc_timer))
        ev_timer_stop(px->loop, &px->tpc_timer);
    if (px->tpc_child > 0) {
        waitpid(px->tpc_child, NULL, 0);
        px->tpc_child = 0;
    }
}
