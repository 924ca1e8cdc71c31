/* Process-wide context: config and auth file, the listener, accepting
 * clients, signals, the cancel-key registry, and orderly shutdown. */
#define _GNU_SOURCE /* accept4 */
#include "proxy/proxy.h"
#include "proxy/mirror_check.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <malloc.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/cancel.h"
#include "proxy/catalog.h"
#include "proxy/type_oids.h"
#include "proxy/control.h"
#include "proxy/log.h"
#include "proxy/metrics_http.h"
#include "proxy/net.h"
#include "proxy/session.h"
#include "proxy/two_phase_recover.h"
#include "proxy/shadow.h"

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    proxy *px = w->data;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(px->listen_fd, (struct sockaddr *)&ss, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                log_warn("accept failed: %s", strerror(errno));
            return;
        }
        char peer[64];
        net_format_addr((struct sockaddr *)&ss, peer, sizeof(peer));
        if (px->n_sessions >= (size_t)px->cfg->max_clients) {
            log_warn("refusing %s: max_clients (%d) reached", peer, px->cfg->max_clients);
            pg_buf b;
            pg_buf_init(&b);
            pg_buf_error(&b, true, "53300", "sorry, too many clients already");
            if (!b.failed)
                (void)!send(fd, b.data, b.len, MSG_NOSIGNAL);
            pg_buf_free(&b);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (!session_new(px, fd, peer)) {
            log_error("out of memory accepting %s", peer);
            close(fd);
        }
    }
}

static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    proxy *px = w->data;
    log_info("signal %d: shutting down", w->signum);
    px->stopping = true;
    ev_break(loop, EVBREAK_ALL);
}

/* Idle sessions give their buffers back (see session_trim_if_idle). */
#define IDLE_SWEEP_SECONDS 2.0
static void idle_sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    proxy *px = w->data;
    bool freed = false;
    for (session *s = px->sessions; s; s = s->next)
        freed = session_trim_if_idle(s) || freed;
    /* hand the freed pages back to the system, or RSS would not show it */
    if (freed)
        malloc_trim(0);
}

proxy *proxy_new(struct ev_loop *loop, const char *config_path, char *err, size_t err_len)
{
    proxy *px = calloc(1, sizeof(*px));
    if (!px) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    px->loop = loop;
    px->listen_fd = -1;
    px->cfg = config_load(config_path, err, err_len);
    if (!px->cfg)
        goto fail;
    log_current_level = px->cfg->log_level;
    px->users = userlist_load(px->cfg->auth_file, err, err_len);
    if (!px->users)
        goto fail;
    if (px->cfg->n_services) {
        /* mirroring needs to know which columns each database fills in itself */
        px->catalog = catalog_load(&px->cfg->legacy, err, err_len);
        if (!px->catalog || !mirror_check(px->cfg, px->catalog, err, err_len))
            goto fail;
        type_oids_load(px->cfg, NULL);
    }
    if (!tpc_check_servers(px->cfg, err, err_len))
        goto fail;
    px->classify = classify_cache_new(10000);
    px->rewrites = rewrite_cache_new();
    if (!px->classify || !px->rewrites) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    ev_signal_init(&px->sig_term, stop_cb, SIGTERM);
    ev_signal_init(&px->sig_int, stop_cb, SIGINT);
    ev_signal_init(&px->sig_hup, NULL, SIGHUP); /* control_init sets the callback */
    px->sig_term.data = px->sig_int.data = px->sig_hup.data = px;
    if (!control_init(px)) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    ev_timer_init(&px->idle_sweep, idle_sweep_cb, IDLE_SWEEP_SECONDS, IDLE_SWEEP_SECONDS);
    px->idle_sweep.data = px;
    return px;
fail:
    proxy_free(px);
    return NULL;
}

bool proxy_listen(proxy *px, char *err, size_t err_len)
{
    px->listen_fd = net_listen(px->cfg->listen_host, px->cfg->listen_port, err, err_len);
    if (px->listen_fd < 0)
        return false;
    ev_io_init(&px->accept_io, accept_cb, px->listen_fd, EV_READ);
    px->accept_io.data = px;
    return metrics_http_open(px, err, err_len);
}

void proxy_run(proxy *px)
{
    ev_io_start(px->loop, &px->accept_io);
    ev_signal_start(px->loop, &px->sig_term);
    ev_signal_start(px->loop, &px->sig_int);
    ev_signal_start(px->loop, &px->sig_hup);
    ev_timer_start(px->loop, &px->idle_sweep);
    tpc_resolver_start(px);
    log_info("pgtandem listening on %s:%d (legacy %s:%d/%s, %zu users in %s)",
             px->cfg->listen_host, px->cfg->listen_port, px->cfg->legacy.host,
             px->cfg->legacy.port, px->cfg->legacy.dbname, userlist_count(px->users),
             px->cfg->auth_file);
    ev_run(px->loop, 0);
    ev_io_stop(px->loop, &px->accept_io);
    ev_signal_stop(px->loop, &px->sig_term);
    ev_signal_stop(px->loop, &px->sig_int);
    ev_signal_stop(px->loop, &px->sig_hup);
    ev_timer_stop(px->loop, &px->idle_sweep);
    tpc_resolver_stop(px);
}

void proxy_free(proxy *px)
{
    if (!px)
        return;
    while (px->sessions)
        session_free(px->sessions);
    shadow_pool_free(px->shadow); /* after the sessions, which may still hold shadow jobs */
    metrics_http_free(px->metrics);
    cancel_free_all(px);
    control_free(px);
    if (px->listen_fd >= 0)
        close(px->listen_fd);
    userlist_free(px->users);
    classify_cache_free(px->classify);
    rewrite_cache_free(px->rewrites);
    catalog_free(px->catalog);
    config_unref(px->cfg);
    free(px);
}

void proxy_register_cancel_key(proxy *px, session *s, int32_t legacy_pid)
{
    if (s->cancel.pid)
        return;
    /* Legacy's pids are unique among its live backends and a session keeps
     * its legacy backend for life, so pairs rarely meet; when they do (two
     * legacy servers across a reload, a pid reused while a closing session
     * still holds it) the key is drawn again. */
    for (;;) {
        proxy_cancel_id id = {.pid = legacy_pid};
        if ((id.pid <= 0 && RAND_bytes((unsigned char *)&id.pid, sizeof(id.pid)) != 1) ||
            RAND_bytes((unsigned char *)&id.key, sizeof(id.key)) != 1)
            abort();
        id.pid &= 0x7fffffff; /* clients print it as a process id */
        if (id.pid == 0)
            continue;
        session *other = NULL;
        HASH_FIND(hh, px->by_cancel, &id, sizeof(id), other);
        if (other)
            continue;
        s->cancel = id;
        HASH_ADD(hh, px->by_cancel, cancel, sizeof(s->cancel), s);
        return;
    }
}

session *proxy_find_by_cancel_key(proxy *px, int32_t pid, int32_t key)
{
    proxy_cancel_id id = {.pid = pid, .key = key};
    session *s = NULL;
    HASH_FIND(hh, px->by_cancel, &id, sizeof(id), s);
    return s;
}

void proxy_forget_session(proxy *px, session *s)
{
    if (s->cancel.pid) {
        HASH_DEL(px->by_cancel, s);
        s->cancel.pid = 0;
    }
}
