/* CancelRequest forwarding; see cancel.h. */
#include "proxy/cancel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol/pg_buf.h"
#include "proxy/backend.h"
#include "proxy/log.h"
#include "proxy/net.h"
#include "proxy/session.h"

#define CANCEL_TIMEOUT 5.0

struct cancel_relay {
    proxy *px;
    int fd;
    ev_io io;
    ev_timer timer;
    pg_buf packet;
    size_t sent;
    cancel_relay *next;
    cancel_relay *prev;
};


static void relay_free(cancel_relay *c)
{
    proxy *px = c->px;
    ev_io_stop(px->loop, &c->io);
    ev_timer_stop(px->loop, &c->timer);
    close(c->fd);
    pg_buf_free(&c->packet);
    if (c->prev)
        c->prev->next = c->next;
    else
        px->cancels = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static void relay_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    cancel_relay *c = w->data;
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    while (!soerr && c->sent < c->packet.len) {
        ssize_t n = send(c->fd, c->packet.data + c->sent, c->packet.len - c->sent, MSG_NOSIGNAL);
        if (n > 0)
            c->sent += (size_t)n;
        else if (errno == EAGAIN || errno == EINTR)
            return;
        else
            soerr = errno;
    }
    if (soerr)
        log_warn("cancel request to a server failed: %s", strerror(soerr));
    /* the server answers a cancel by closing; nothing to wait for */
    relay_free(c);
}

static void relay_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    log_warn("cancel request to a server timed out");
    relay_free(w->data);
}

static void send_cancel(proxy *px, const backend *b)
{
    cancel_relay *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->px = px;
    c->fd = net_socket_nonblocking(b->target->addr.ss_family);
    if (c->fd < 0 || (connect(c->fd, (const struct sockaddr *)&b->target->addr,
                              b->target->addr_len) < 0 &&
                      errno != EINPROGRESS)) {
        log_warn("cannot connect to %s to cancel: %s", b->target->name, strerror(errno));
        if (c->fd >= 0)
            close(c->fd);
        free(c);
        return;
    }
    pg_buf_init(&c->packet);
    pg_buf_cancel_request(&c->packet, b->pid, b->key);
    ev_io_init(&c->io, relay_io_cb, c->fd, EV_WRITE);
    c->io.data = c;
    ev_timer_init(&c->timer, relay_timeout_cb, CANCEL_TIMEOUT, 0);
    c->timer.data = c;
    ev_io_start(px->loop, &c->io);
    ev_timer_start(px->loop, &c->timer);
    c->next = px->cancels;
    if (px->cancels)
        px->cancels->prev = c;
    px->cancels = c;
}

/* Whether b is running a request of the client's: a read it serves, or the mirrored half
 * of a write. Not pgtandem's own statements (a joining backend's SETs, a mirror's BEGIN
 * and SET LOCAL, a COMMIT): cancelled, those would break the mirror's guards. Legacy with
 * nothing tracked may be running a Flush-only batch sent untracked, or nothing (an idle
 * server ignores a cancel). */
static bool runs_client_request(const backend *b, bool legacy)
{
    if (b->state != BACKEND_READY)
        return false;
    if (!b->n_pending)
        return legacy;
    return b->rx->pending[0].mode != REPLY_SWALLOW;
}

void cancel_forward(proxy *px, int32_t pid, int32_t key)
{
    session *s = proxy_find_by_cancel_key(px, pid, key);
    if (!s) {
        log_info("cancel request with an unknown key ignored");
        return;
    }
    log_info("session %llu: cancel requested", (unsigned long long)s->id);
    for (size_t i = 0; i <= (s->routed ? s->cfg->n_services : 0); i++) {
        backend *b = i == 0 ? s->legacy : s->services[i - 1];
        if (b && runs_client_request(b, i == 0))
            send_cancel(px, b);
    }
}

void cancel_backend(proxy *px, const backend *b)
{
    if (b->state == BACKEND_READY)
        send_cancel(px, b);
}

void cancel_free_all(proxy *px)
{
    while (px->cancels)
        relay_free(px->cancels);
}
