/* Session lifecycle: creation on accept, the client socket's callbacks, the
 * login timeout, reacting to backends becoming ready or failing, and the
 * deferred free. */
#include "proxy/session.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "proxy/admin_console.h"
#include "proxy/backend.h"
#include "proxy/lex_track.h"
#include "proxy/log.h"
#include "proxy/pool.h"

static void client_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void client_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void login_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents);

const char *session_state_name(session_state st)
{
    switch (st) {
    case SESSION_STARTUP: return "startup";
    case SESSION_AUTH: return "auth";
    case SESSION_CONNECTING: return "connecting";
    case SESSION_READY: return "ready";
    case SESSION_CLOSED: return "closed";
    }
    return "?";
}

void session_set_state(session *s, session_state st)
{
    log_debug("session %llu: %s -> %s", (unsigned long long)s->id, session_state_name(s->state),
              session_state_name(st));
    s->state = st;
}

session *session_new(proxy *px, int fd, const char *peer)
{
    session *s = pool_alloc(sizeof(*s));
    if (!s)
        return NULL;
    s->id = ++px->next_session_id;
    s->px = px;
    s->cfg = config_ref(px->cfg);
    s->state = SESSION_STARTUP;
    s->tx_status = PG_TX_IDLE;
    s->routed = s->cfg->n_services > 0; /* s->op: see session_route_op_ensure */
    if (s->routed && !(s->services = pool_alloc(s->cfg->n_services * sizeof(backend *)))) {
        config_unref(s->cfg);
        pool_free(s, sizeof(*s));
        return NULL;
    }
    snprintf(s->peer, sizeof(s->peer), "%s", peer);
    stream_init(&s->client, px->loop, fd, s, client_read_cb, client_write_cb);
    ev_timer_init(&s->login_timer, login_timeout_cb, s->cfg->login_timeout, 0);
    s->login_timer.data = s;
    ev_timer_start(px->loop, &s->login_timer);

    s->next = px->sessions;
    if (px->sessions)
        px->sessions->prev = s;
    px->sessions = s;
    px->n_sessions++;
    log_debug("session %llu: connection from %s", (unsigned long long)s->id, peer);
    return s;
}

void session_close(session *s, const char *sqlstate, const char *why)
{
    if (s->state == SESSION_CLOSED)
        return;
    if (sqlstate && s->client.fd >= 0) {
        /* best effort: one try to tell the client why, then close */
        pg_buf_error(&s->client.out, true, sqlstate, why);
        stream_try_flush(&s->client);
    }
    if (s->state == SESSION_READY || s->state == SESSION_CONNECTING || sqlstate)
        log_info("session %llu closed (%s@%s from %s): %s", (unsigned long long)s->id,
                 s->user ? s->user : "-", s->database ? s->database : "-", s->peer, why);
    else
        log_debug("session %llu closed: %s", (unsigned long long)s->id, why);
    session_set_state(s, SESSION_CLOSED);
    ev_timer_stop(s->px->loop, &s->login_timer);
    stream_close(&s->client);
    /* Terminate lets each server end cleanly; an open transaction rolls back */
    for (size_t i = 0; i <= s->cfg->n_services; i++) {
        backend *b = i == 0 ? s->legacy : s->services[i - 1];
        if (!b)
            continue;
        if (b->state == BACKEND_READY) {
            pg_buf_simple(&b->s.out, PG_FE_TERMINATE);
            stream_try_flush(&b->s);
        }
        stream_close(&b->s);
    }
    proxy_forget_session(s->px, s);
}

void session_free(session *s)
{
    stats_session_end(s);
    proxy *px = s->px;
    if (s->state != SESSION_CLOSED)
        session_close(s, NULL, "shutting down");
    if (s->prev)
        s->prev->next = s->next;
    else
        px->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    px->n_sessions--;
    backend_free(s->legacy);
    for (size_t i = 0; s->services && i < s->cfg->n_services; i++)
        backend_free(s->services[i]);
    pool_free(s->services, s->cfg->n_services * sizeof(backend *));
    session_route_op_free(s);
    session_control_free(s);
    pg_buf_free(&s->session_log);
    pg_buf_free(&s->tx_log);
    pg_buf_free(&s->tx_session_log);
    scram_server_free(s->scram);
    for (size_t i = 0; i < s->n_params; i++) {
        pool_free_str(s->param_names[i]);
        pool_free_str(s->param_values[i]);
    }
    pool_free(s->param_names, s->params_cap * sizeof(char *));
    pool_free(s->param_values, s->params_cap * sizeof(char *));
    pool_free_str(s->user);
    pool_free_str(s->database);
    config_unref(s->cfg);
    pool_free(s, sizeof(*s));
}

bool session_route_op_ensure(session *s)
{
    bool ok = s->op || (s->op = calloc(1, sizeof(*s->op)));
    for (size_t i = 0; ok && i <= s->cfg->n_services; i++) {
        backend *b = i == 0 ? s->legacy : s->services[i - 1];
        ok = !b || backend_replies_ensure(b);
    }
    if (!ok)
        session_close(s, "53200", "out of memory");
    return ok;
}

/* The route state holds nothing between requests once rs_op_done has
 * cleared it, unless the extended protocol left statements, portals or a
 * failed window behind: then it stays. */
static void route_op_release_if_idle(session *s)
{
    const route_op *op = s->op;
    static const uint8_t zero[offsetof(route_op, x)];
    const route_ext_state *x = &op->x;
    if (memcmp(op, zero, sizeof(zero)) != 0 || x->reg.stmts || x->reg.portals ||
        x->reg.sql_prepared || x->touched || x->window_failed || x->client_error ||
        x->copy_to || x->lost_service)
        return;
    free(s->op);
    s->op = NULL;
    for (size_t i = 0; i <= s->cfg->n_services; i++) {
        backend *b = i == 0 ? s->legacy : s->services[i - 1];
        if (b)
            backend_replies_release_if_idle(b);
    }
}

/* An idle session keeps no buffers: a thousand idle clients then cost
 * little more than their structs. Buffers come back on the next read. The
 * proxy calls this from a periodic sweep, so busy sessions never pay for
 * freeing and reallocating on every message. */
bool session_trim_if_idle(session *s)
{
    bool busy = s->recently_active;
    s->recently_active = false;
    if (busy || s->state != SESSION_READY || s->client.in.len || stream_pending(&s->client))
        return false;
    for (size_t i = 0; i <= s->cfg->n_services; i++) {
        backend *b = i == 0 ? s->legacy : s->services[i - 1];
        if (b && (b->s.in.len || stream_pending(&b->s) || b->n_pending || b->captured.len))
            return false;
    }
    bool had = s->client.in.cap || s->client.out.cap;
    stream_trim(&s->client);
    for (size_t i = 0; i <= s->cfg->n_services; i++) {
        backend *b = i == 0 ? s->legacy : s->services[i - 1];
        if (b) {
            had = had || b->s.in.cap || b->s.out.cap;
            stream_trim(&b->s);
        }
    }
    if (s->op) {
        route_op_release_if_idle(s);
        had = had || !s->op;
    }
    return had;
}

void session_release_if_closed(session *s)
{
    if (s->state == SESSION_CLOSED && !s->processing)
        session_free(s);
}

static void client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    session *s = w->data;
    s->processing = true;
    s->recently_active = true;
    stream_io r = stream_read(&s->client);
    if (r == STREAM_IO_EOF) {
        session_close(s, NULL, "client disconnected");
    } else if (r == STREAM_IO_ERROR) {
        char why[128];
        snprintf(why, sizeof(why), "client connection error: %s", strerror(errno));
        session_close(s, NULL, why);
    } else if (r == STREAM_IO_OK) {
        switch (s->state) {
        case SESSION_STARTUP:
        case SESSION_AUTH:
            session_login_input(s);
            break;
        case SESSION_READY:
            if (s->admin)
                admin_console_input(s);
            else if (!s->routed)
                session_relay_client_input(s);
            else if (session_route_op_ensure(s))
                session_route_client_input(s);
            break;
        case SESSION_CONNECTING:
            /* hold what the client sends until the backend is ready */
            stream_pause_read(&s->client);
            break;
        case SESSION_CLOSED:
            break;
        }
    }
    s->processing = false;
    session_release_if_closed(s);
}

static void client_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    session *s = w->data;
    s->processing = true;
    if (!stream_flush(&s->client)) {
        char why[128];
        snprintf(why, sizeof(why), "client connection error: %s", strerror(errno));
        session_close(s, NULL, why);
    } else if (s->state == SESSION_READY) {
        session_relay_client_drained(s);
    }
    s->processing = false;
    session_release_if_closed(s);
}

static void login_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    session *s = w->data;
    if (s->state == SESSION_READY)
        return;
    s->processing = true;
    if (s->state == SESSION_CONNECTING)
        /* the client did its part; the server did not answer in time */
        session_close(s, "08006", "login timeout: the database server did not accept the "
                                  "connection in time");
    else
        session_close(s, s->state == SESSION_STARTUP ? NULL : "08006",
                      "login timeout: the client did not finish logging in");
    s->processing = false;
    session_release_if_closed(s);
}

void session_backend_ready(session *s, backend *b)
{
    lex_track_greeting(b);
    if (s->state == SESSION_READY && s->routed) {
        /* a service database whose own defaults make it read texts otherwise */
        if (lex_backend_refused(s, b))
            return;
        if (session_route_op_ensure(s))
            session_route_backend_ready(s, b);
        return;
    }
    if (s->state != SESSION_CONNECTING || lex_login_refused(s, b))
        return;
    /* the server's parameters, its pid with our own cancel key, then ready */
    pg_buf_put(&s->client.out, b->params.data, b->params.len);
    pg_buf_free(&b->params);
    proxy_register_cancel_key(s->px, s, b->pid);
    pg_buf_backend_key(&s->client.out, s->cancel.pid, s->cancel.key);
    s->tx_status = b->tx_status;
    pg_buf_ready_for_query(&s->client.out, s->tx_status);
    ev_timer_stop(s->px->loop, &s->login_timer);
    session_set_state(s, SESSION_READY);
    log_info("session %llu: %s@%s from %s ready (%s pid %d)", (unsigned long long)s->id,
             s->user, s->database, s->peer, b->target->name, (int)b->pid);
    if (!stream_flush(&s->client)) {
        session_close(s, NULL, "client went away during login");
        return;
    }
    stream_resume_read(&s->client);
    /* the client may have pipelined messages behind its login */
    if (s->client.in.len) {
        if (!s->routed)
            session_relay_client_input(s);
        else if (session_route_op_ensure(s))
            session_route_client_input(s);
    }
}

void session_backend_failed(session *s, backend *b, const char *sqlstate, const char *why)
{
    log_warn("session %llu backend %s: %s", (unsigned long long)s->id, b->target->name, why);
    if (s->routed && b != s->legacy && s->state == SESSION_READY) {
        /* a service database is not the session: its writes fail, policy decides */
        if (session_route_op_ensure(s))
            session_route_backend_lost(s, b, why);
        return;
    }
    /* the client sees the server's failure as the reason its session ends,
     * unless the server already told it (a FATAL error it relayed) */
    session_close(s, b->sent_fatal ? NULL : sqlstate ? sqlstate : "08006", why);
}
