/* The metrics endpoint's sockets; see metrics_http.h. A connection goes
 * READING (at most REQUEST_MAX bytes) -> WRITING (the whole answer) -> DRAINING (our side
 * shut, reading what the client still sends so the close does not reset the answer away)
 * and is freed after the callback that ends it returns. */
#define _GNU_SOURCE /* accept4 */
#include "proxy/metrics_http.h"

#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol/pg_buf.h"
#include "proxy/log.h"
#include "proxy/metrics_text.h"
#include "proxy/net.h"
#include "proxy/proxy.h"

#define REQUEST_MAX 8192
#define MAX_CONNECTIONS 32
#define DEADLINE_SECONDS 5.0

typedef enum mconn_state { MC_READING, MC_WRITING, MC_DRAINING } mconn_state;

typedef struct mconn {
    metrics_http *server;
    int fd;
    mconn_state state;
    ev_io io;
    ev_timer deadline;
    char in[REQUEST_MAX];
    size_t in_len;
    pg_buf out;
    size_t sent;
    struct mconn *next;
} mconn;

struct metrics_http {
    proxy *px;
    int fd;
    ev_io accept_io;
    mconn *conns;
    size_t n_conns;
};

static void mconn_free(mconn *c)
{
    metrics_http *m = c->server;
    for (mconn **pp = &m->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    m->n_conns--;
    ev_io_stop(m->px->loop, &c->io);
    ev_timer_stop(m->px->loop, &c->deadline);
    close(c->fd);
    pg_buf_free(&c->out);
    free(c);
}

static void set_watch(mconn *c, int events)
{
    struct ev_loop *loop = c->server->px->loop;
    ev_io_stop(loop, &c->io);
    ev_io_set(&c->io, c->fd, events);
    ev_io_start(loop, &c->io);
}

static void respond(mconn *c, int code, const char *reason, const char *type, const pg_buf *body)
{
    char head[256];
    size_t body_len = body ? body->len : strlen(reason) + 1;
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     code, reason, type, body_len);
    pg_buf_put(&c->out, head, (size_t)n);
    if (body)
        pg_buf_put(&c->out, body->data, body->len);
    else {
        pg_buf_put(&c->out, reason, strlen(reason));
        pg_buf_put(&c->out, "\n", 1);
    }
    c->state = MC_WRITING;
    set_watch(c, EV_WRITE);
}

static void judge(mconn *c)
{
    switch (metrics_http_verdict(c->in, c->in_len, REQUEST_MAX)) {
    case HTTP_INCOMPLETE:
        return;
    case HTTP_METRICS: {
        pg_buf body;
        pg_buf_init(&body);
        metrics_render(c->server->px, &body);
        if (body.failed)
            respond(c, 500, "Internal Server Error", "text/plain", NULL);
        else
            respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", &body);
        pg_buf_free(&body);
        return;
    }
    case HTTP_NOT_FOUND: respond(c, 404, "Not Found", "text/plain", NULL); return;
    case HTTP_BAD_METHOD: respond(c, 405, "Method Not Allowed", "text/plain", NULL); return;
    case HTTP_BAD_REQUEST: respond(c, 400, "Bad Request", "text/plain", NULL); return;
    }
}

/* Returns false when the connection is done with. */
static bool on_readable(mconn *c)
{
    char scratch[4096];
    char *dst = c->state == MC_READING ? c->in + c->in_len : scratch;
    size_t room = c->state == MC_READING ? sizeof(c->in) - c->in_len : sizeof(scratch);
    ssize_t n = recv(c->fd, dst, room, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (n == 0)
        return false; /* closed: before a whole request, or after our answer */
    if (c->state == MC_READING) {
        c->in_len += (size_t)n;
        judge(c);
    }
    return true;
}

static bool on_writable(mconn *c)
{
    while (c->sent < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->sent, c->out.len - c->sent, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        c->sent += (size_t)n;
    }
    shutdown(c->fd, SHUT_WR);
    c->state = MC_DRAINING;
    set_watch(c, EV_READ);
    return true;
}

static void mconn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    mconn *c = w->data;
    mconn_state before = c->state;
    bool keep = before == MC_WRITING ? on_writable(c) : on_readable(c);
    if (keep && before == MC_READING && c->state == MC_WRITING)
        keep = on_writable(c); /* the answer was just made: try it at once */
    if (!keep)
        mconn_free(c);
}

static void mconn_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    mconn_free(w->data); /* silent, slow, or never closing: enough */
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    metrics_http *m = w->data;
    for (int i = 0; i < 16; i++) {
        int fd = accept4(m->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        mconn *c = m->n_conns < MAX_CONNECTIONS ? calloc(1, sizeof(*c)) : NULL;
        if (!c) { /* too many scrapers at once: the next attempt will do */
            close(fd);
            continue;
        }
        c->server = m;
        c->fd = fd;
        pg_buf_init(&c->out);
        ev_io_init(&c->io, mconn_io_cb, fd, EV_READ);
        c->io.data = c;
        ev_timer_init(&c->deadline, mconn_deadline_cb, DEADLINE_SECONDS, 0.0);
        c->deadline.data = c;
        ev_io_start(loop, &c->io);
        ev_timer_start(loop, &c->deadline);
        c->next = m->conns;
        m->conns = c;
        m->n_conns++;
    }
}

bool metrics_http_open(proxy *px, char *err, size_t err_len)
{
    const config *cfg = px->cfg;
    if (!cfg->metrics_host)
        return true;
    metrics_http *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, err_len, "out of memory");
        return false;
    }
    char why[200];
    m->px = px;
    m->fd = net_listen(cfg->metrics_host, cfg->metrics_port, why, sizeof(why));
    if (m->fd < 0) {
        snprintf(err, err_len, "metrics_listen: %s", why);
        free(m);
        return false;
    }
    ev_io_init(&m->accept_io, accept_cb, m->fd, EV_READ);
    m->accept_io.data = m;
    ev_io_start(px->loop, &m->accept_io);
    px->metrics = m;
    log_info("metrics on http://%s:%d/metrics", cfg->metrics_host, cfg->metrics_port);
    return true;
}

void metrics_http_free(metrics_http *m)
{
    if (!m)
        return;
    while (m->conns)
        mconn_free(m->conns);
    ev_io_stop(m->px->loop, &m->accept_io);
    close(m->fd);
    free(m);
}
