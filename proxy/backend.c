/* Backend connection: non-blocking connect and login; see backend.h. */
#include "proxy/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol/auth_md5.h"
#include "protocol/pg_codes.h"
#include "protocol/pg_ext.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"
#include "proxy/log.h"
#include "proxy/net.h"
#include "proxy/pool.h"
#include "proxy/session.h"

static void backend_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void backend_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents);

const char *backend_state_name(backend_state st)
{
    switch (st) {
    case BACKEND_CONNECTING: return "connecting";
    case BACKEND_LOGIN: return "login";
    case BACKEND_READY: return "ready";
    case BACKEND_CLOSED: return "closed";
    }
    return "?";
}

static void set_state(backend *b, backend_state st)
{
    log_debug("session %llu backend %s: %s -> %s", (unsigned long long)b->owner->id,
              b->target->name, backend_state_name(b->state), backend_state_name(st));
    b->state = st;
}

backend *backend_start(session *owner, const backend_target *t, char *err, size_t err_len)
{
    backend *b = pool_alloc(sizeof(*b));
    if (!b) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    b->owner = owner;
    b->target = t;
    b->state = BACKEND_CONNECTING;
    b->service = -1;
    if (owner->routed && !backend_replies_ensure(b)) {
        snprintf(err, err_len, "out of memory");
        pool_free(b, sizeof(*b));
        return NULL;
    }
    pg_buf_init(&b->params);
    pg_buf_init(&b->captured);
    stream_init(&b->s, owner->px->loop, -1, b, backend_read_cb, backend_write_cb);
    int fd = net_socket_nonblocking(t->addr.ss_family);
    if (fd < 0) {
        snprintf(err, err_len, "cannot create socket: %s", strerror(errno));
        free(b->rx);
        pool_free(b, sizeof(*b));
        return NULL;
    }
    if (connect(fd, (const struct sockaddr *)&t->addr, t->addr_len) < 0 &&
        errno != EINPROGRESS) {
        snprintf(err, err_len, "cannot connect to %s (%s:%d): %s", t->name, t->host, t->port,
                 strerror(errno));
        close(fd);
        free(b->rx);
        pool_free(b, sizeof(*b));
        return NULL;
    }
    net_keepalive(fd);
    b->s.fd = fd;
    ev_init(&b->deadline, deadline_cb);
    b->deadline.data = b;
    ev_timer_set(&b->deadline, owner->cfg->connect_timeout, 0);
    ev_timer_start(b->s.loop, &b->deadline);
    ev_io_set(&b->s.rio, fd, EV_READ);
    ev_io_set(&b->s.wio, fd, EV_WRITE);
    ev_io_start(b->s.loop, &b->s.wio); /* writable = connected (or failed) */
    return b;
}

void backend_free(backend *b)
{
    if (!b)
        return;
    ev_timer_stop(b->s.loop, &b->deadline);
    stream_close(&b->s);
    pg_buf_free(&b->params);
    pg_buf_free(&b->captured);
    scram_client_free(b->scram);
    free(b->rx);
    pool_free(b, sizeof(*b));
}

bool backend_replies_ensure(backend *b)
{
    return b->rx || (b->rx = calloc(1, sizeof(*b->rx)));
}

void backend_replies_release_if_idle(backend *b)
{
    if (b->rx && !b->n_pending && !b->ext_failed && b->state != BACKEND_CLOSED) {
        free(b->rx);
        b->rx = NULL;
    }
}

static void fail(backend *b, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(backend *b, const char *sqlstate, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    set_state(b, BACKEND_CLOSED);
    ev_timer_stop(b->s.loop, &b->deadline);
    stream_close(&b->s);
    session_backend_failed(b->owner, b, sqlstate, why);
}

static void send_startup(backend *b)
{
    session *s = b->owner;
    const char *names[SESSION_MAX_PARAMS + 3];
    const char *values[SESSION_MAX_PARAMS + 3];
    size_t n = 0;
    names[n] = "user";
    values[n++] = b->target->user;
    names[n] = "database";
    values[n++] = b->target->dbname;
    char *options = NULL;
    for (size_t i = 0; i < s->n_params; i++) {
        if (strcmp(s->param_names[i], "options") == 0 && b->target->options) {
            /* the target's own options first; the client's may override them */
            size_t len = strlen(b->target->options) + strlen(s->param_values[i]) + 2;
            options = malloc(len);
            if (options)
                snprintf(options, len, "%s %s", b->target->options, s->param_values[i]);
            continue;
        }
        names[n] = s->param_names[i];
        values[n++] = s->param_values[i];
    }
    if (options || b->target->options) {
        names[n] = "options";
        values[n++] = options ? options : b->target->options;
    }
    pg_buf_startup(&b->s.out, names, values, n);
    free(options);
}

static void on_connected(backend *b)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(b->s.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr) {
        fail(b, "08006", "cannot connect to %s (%s:%d): %s", b->target->name, b->target->host,
             b->target->port, strerror(soerr));
        return;
    }
    set_state(b, BACKEND_LOGIN);
    ev_io_start(b->s.loop, &b->s.rio);
    send_startup(b);
    if (!stream_flush(&b->s))
        fail(b, "08006", "cannot send startup to %s: %s", b->target->name, strerror(errno));
}

/* Answers one AuthenticationRequest with the target's credentials. */
static bool answer_auth(backend *b, const uint8_t *body, size_t len)
{
    pg_auth_request req;
    const char *err = NULL;
    const backend_target *t = b->target;
    if (!pg_decode_auth_request(body, len, &req)) {
        fail(b, "08P01", "malformed authentication request from %s", t->name);
        return false;
    }
    switch (req.code) {
    case PG_AUTH_OK:
        if (b->scram) {
            /* a server that skips SASLFinal has not proven it knows the secret */
            fail(b, "28000", "%s ended SCRAM authentication without its final message", t->name);
            return false;
        }
        return true;
    case PG_AUTH_CLEARTEXT:
    case PG_AUTH_MD5:
        if (!t->password) {
            fail(b, "28000", "%s asks for a password but its conninfo has none", t->name);
            return false;
        }
        if (req.code == PG_AUTH_CLEARTEXT) {
            pg_buf_password(&b->s.out, t->password);
        } else {
            char hashed[36];
            if (req.data_len != 4) {
                fail(b, "08P01", "malformed md5 request from %s", t->name);
                return false;
            }
            auth_md5_password(t->user, t->password, req.data, hashed);
            pg_buf_password(&b->s.out, hashed);
        }
        return true;
    case PG_AUTH_SASL: {
        char *out = NULL;
        size_t out_len = 0;
        if (!pg_sasl_offers(req.data, req.data_len, "SCRAM-SHA-256")) {
            fail(b, "28000", "%s offers no SASL mechanism pgtandem supports", t->name);
            return false;
        }
        if (!t->password) {
            fail(b, "28000", "%s asks for SCRAM but its conninfo has no password", t->name);
            return false;
        }
        scram_client_free(b->scram);
        b->scram = scram_client_new(t->password, NULL);
        scram_client_set_cache(b->scram, t->scram_cache);
        if (!b->scram || !scram_client_first(b->scram, &out, &out_len)) {
            fail(b, "53200", "cannot start SCRAM with %s", t->name);
            return false;
        }
        pg_buf_sasl_initial(&b->s.out, "SCRAM-SHA-256", out, out_len);
        free(out);
        return true;
    }
    case PG_AUTH_SASL_CONTINUE: {
        char *out = NULL;
        size_t out_len = 0;
        if (!b->scram ||
            !scram_client_continue(b->scram, req.data, req.data_len, &out, &out_len, &err)) {
            fail(b, "28000", "SCRAM with %s failed: %s", t->name, err ? err : "out of order");
            return false;
        }
        pg_buf_sasl_response(&b->s.out, out, out_len);
        OPENSSL_cleanse(out, out_len);
        free(out);
        return true;
    }
    case PG_AUTH_SASL_FINAL:
        if (!b->scram || !scram_client_final(b->scram, req.data, req.data_len, &err)) {
            fail(b, "28000", "SCRAM with %s failed: %s", t->name, err ? err : "out of order");
            return false;
        }
        scram_client_free(b->scram);
        b->scram = NULL;
        return true;
    default:
        fail(b, "28000", "%s asks for an authentication method pgtandem does not support (%d)",
             t->name, (int)req.code);
        return false;
    }
}

/* Processes login-phase messages; returns false once the backend failed. */
static bool login_input(backend *b)
{
    pg_buf *in = &b->s.in;
    size_t pos = 0;
    bool ok = true;
    while (ok && b->state == BACKEND_LOGIN) {
        pg_frame f;
        const char *err = NULL;
        pg_frame_status st = pg_frame_be(in->data + pos, in->len - pos, &f, &err);
        if (st == PG_FRAME_INCOMPLETE)
            break;
        if (st == PG_FRAME_INVALID) {
            fail(b, "08P01", "invalid message from %s during login: %s", b->target->name, err);
            return false;
        }
        if (in->len - pos < f.hdr_len + f.body_len)
            break;
        const uint8_t *body = in->data + pos + f.hdr_len;
        size_t whole = f.hdr_len + f.body_len;
        switch (f.type) {
        case PG_BE_AUTHENTICATION:
            ok = answer_auth(b, body, f.body_len);
            break;
        case PG_BE_PARAMETER_STATUS: {
            const char *name, *value;
            if (!pg_decode_parameter_status(body, f.body_len, &name, &value)) {
                fail(b, "08P01", "malformed ParameterStatus from %s", b->target->name);
                return false;
            }
            pg_buf_put(&b->params, in->data + pos, whole);
            break;
        }
        case PG_BE_BACKEND_KEY_DATA:
            if (!pg_decode_backend_key(body, f.body_len, &b->pid, &b->key)) {
                fail(b, "08P01", "malformed BackendKeyData from %s", b->target->name);
                return false;
            }
            break;
        case PG_BE_ERROR_RESPONSE: {
            pg_error_fields e;
            if (!pg_decode_error(body, f.body_len, &e)) {
                fail(b, "08P01", "malformed error from %s during login", b->target->name);
                return false;
            }
            fail(b, e.sqlstate, "%s refused the connection: %s", b->target->name, e.message);
            return false;
        }
        case PG_BE_NOTICE_RESPONSE:
        case PG_BE_NEGOTIATE_PROTOCOL_VERSION:
            break;
        case PG_BE_READY_FOR_QUERY:
            if (!pg_decode_ready_for_query(body, f.body_len, &b->tx_status)) {
                fail(b, "08P01", "malformed ReadyForQuery from %s", b->target->name);
                return false;
            }
            set_state(b, BACKEND_READY);
            ev_timer_stop(b->s.loop, &b->deadline);
            break;
        default:
            fail(b, "08P01", "unexpected %s from %s during login", pg_be_msg_name(f.type),
                 b->target->name);
            return false;
        }
        pos += whole;
    }
    if (!ok)
        return false;
    pg_buf_consume(in, pos);
    if (!stream_flush(&b->s)) {
        fail(b, "08006", "lost connection to %s during login: %s", b->target->name,
             strerror(errno));
        return false;
    }
    if (b->params.failed) {
        fail(b, "53200", "out of memory");
        return false;
    }
    if (b->state == BACKEND_READY)
        session_backend_ready(b->owner, b);
    return true;
}

static void backend_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    backend *b = w->data;
    session *s = b->owner;
    s->processing = true;
    stream_io r = stream_read(&b->s);
    if (r == STREAM_IO_EOF || r == STREAM_IO_ERROR) {
        fail(b, "08006",
             r == STREAM_IO_EOF ? "%s closed the connection%s" : "lost connection to %s: %s",
             b->target->name, r == STREAM_IO_EOF ? "" : strerror(errno));
    } else if (r == STREAM_IO_OK) {
        if (b->state == BACKEND_LOGIN)
            (void)login_input(b);
        else if (b->state == BACKEND_READY && s->routed) {
            if (session_route_op_ensure(s))
                session_route_backend_input(s, b);
        }
        else if (b->state == BACKEND_READY)
            session_relay_backend_input(s, b);
    }
    s->processing = false;
    session_release_if_closed(s);
}

static void backend_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    backend *b = w->data;
    session *s = b->owner;
    s->processing = true;
    if (b->state == BACKEND_CONNECTING) {
        ev_io_stop(loop, w);
        on_connected(b);
    } else if (!stream_flush(&b->s)) {
        fail(b, "08006", "lost connection to %s: %s", b->target->name, strerror(errno));
    } else if (b->state == BACKEND_READY) {
        session_relay_backend_drained(s, b);
    }
    s->processing = false;
    session_release_if_closed(s);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    backend *b = w->data;
    session *s = b->owner;
    s->processing = true;
    if (b->state == BACKEND_CONNECTING || b->state == BACKEND_LOGIN)
        fail(b, "08006", "%s (%s:%d) did not accept the connection within connect_timeout "
                         "(%g s)", b->target->name, b->target->host, b->target->port,
             s->cfg->connect_timeout);
    else if (b->state == BACKEND_READY && b->n_pending && s->state == SESSION_READY)
        session_backend_timed_out(s, b);
    s->processing = false;
    session_release_if_closed(s);
}

void backend_arm_deadline(backend *b, double seconds)
{
    if (b->state != BACKEND_READY)
        return;
    ev_timer_stop(b->s.loop, &b->deadline);
    ev_timer_set(&b->deadline, seconds, 0);
    ev_timer_start(b->s.loop, &b->deadline);
}

void backend_disarm_deadline(backend *b)
{
    if (b->state == BACKEND_READY)
        ev_timer_stop(b->s.loop, &b->deadline);
    b->deadline_cancelled = false;
}

bool backend_deadline_armed(const backend *b)
{
    return b->state == BACKEND_READY && ev_is_active(&b->deadline);
}

static bool push_pending(backend *b, reply_mode mode, uint32_t replies)
{
    if (b->n_pending == BACKEND_MAX_PENDING)
        return false;
    b->rx->pending[b->n_pending++] = (reply_wait){.mode = mode, .replies = replies};
    return true;
}

/* A request for a backend whose connection is gone ends at once with that
 * failure; a mirror's caller sees it as the secondary's error. Nothing can
 * answer the client in its place, so a forwarded request is refused. */
/* A request that ends the moment it is made, with `outcome`. */
static void end_at_once(backend *b, backend_outcome outcome, reply_mode mode)
{
    b->rx->last = outcome;
    if (mode == REPLY_CAPTURE)
        b->rx->capture_outcome = outcome;
}

static bool send_to_closed(backend *b, reply_mode mode)
{
    end_at_once(b, b->rx->ext_error, mode);
    return mode != REPLY_FORWARD;
}

void backend_mark_lost(backend *b, const char *why)
{
    set_state(b, BACKEND_CLOSED);
    ev_timer_stop(b->s.loop, &b->deadline);
    stream_close(&b->s);
    b->ext_failed = true;
    memset(&b->rx->ext_error, 0, sizeof(b->rx->ext_error));
    b->rx->ext_error.error = true;
    snprintf(b->rx->ext_error.sqlstate, sizeof(b->rx->ext_error.sqlstate), "08006");
    snprintf(b->rx->ext_error.message, sizeof(b->rx->ext_error.message), "%s", why);
}

bool backend_send_query(backend *b, const char *sql, reply_mode mode)
{
    if (b->state == BACKEND_CLOSED)
        return send_to_closed(b, mode);
    if (!push_pending(b, mode, 0))
        return false;
    pg_buf_query(&b->s.out, sql);
    return !b->s.out.failed;
}

bool backend_send_raw(backend *b, const uint8_t *msgs, size_t len, reply_mode mode)
{
    if (b->state == BACKEND_CLOSED)
        return send_to_closed(b, mode);
    if (!push_pending(b, mode, 0))
        return false;
    pg_buf_put(&b->s.out, msgs, len);
    return !b->s.out.failed;
}

bool backend_send_ext(backend *b, const uint8_t *msgs, size_t len, reply_mode mode)
{
    if (b->state == BACKEND_CLOSED)
        return send_to_closed(b, mode);
    size_t replies = pg_count_replies(msgs, len);
    if (b->ext_failed || replies == 0) {
        end_at_once(b, b->ext_failed ? b->rx->ext_error : (backend_outcome){0}, mode);
        return true;
    }
    if (!push_pending(b, mode, (uint32_t)replies))
        return false;
    pg_buf_put(&b->s.out, msgs, len);
    pg_buf_simple(&b->s.out, PG_FE_FLUSH);
    return !b->s.out.failed;
}

bool backend_idle(const backend *b)
{
    return (b->state == BACKEND_READY || b->state == BACKEND_CLOSED) && b->n_pending == 0;
}
