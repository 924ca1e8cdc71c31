/* The process-wide context: the event loop, the current config snapshot and
 * auth file, the listening socket, and the registry of live sessions. */
#ifndef PGT_PROXY_H
#define PGT_PROXY_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "proxy/config.h"
#include "proxy/divergence_counters.h"
#include "proxy/service_stats.h"
#include "routing/classify_cache.h"
#include "routing/rewrite_cache.h"
#include "proxy/userlist.h"

typedef struct session session;
typedef struct cancel_relay cancel_relay;

typedef struct proxy {
    struct ev_loop *loop;
    config *cfg;
    userlist *users;
    int listen_fd;
    ev_io accept_io;
    ev_signal sig_term;
    ev_signal sig_int;
    ev_signal sig_hup;
    ev_timer idle_sweep;
    session *sessions;        /* doubly linked list of live sessions */
    size_t n_sessions;
    session *by_cancel;       /* uthash on the (pid, key) pair clients were given */
    cancel_relay *cancels;    /* CancelRequests being forwarded to servers */
    uint64_t next_session_id;
    struct catalog *catalog;        /* table facts, when services are configured */
    classify_cache *classify;       /* statement classifications, shared by all sessions */
    rewrite_cache *rewrites;        /* RETURNING rewrites for row images, by shape */
    divergence_counters divergences;
    proxy_stats stats;              /* per-service traffic figures */
    ev_timer tpc_timer;             /* two-phase orphan resolver (two_phase_recover.c) */
    int tpc_child;                  /* its running child process, 0 when none */
    struct shadow_pool *shadow;     /* shadow reads' connections (shadow.c), made when needed */
    struct metrics_http *metrics;   /* the Prometheus endpoint (metrics_http.c), when configured */
    struct control *control;        /* reload, console changes, pauses (control.c) */
    bool stopping;
} proxy;

/* Loads config and auth file. */
proxy *proxy_new(struct ev_loop *loop, const char *config_path, char *err, size_t err_len)
    __attribute__((warn_unused_result));
/* Opens the listening socket. */
bool proxy_listen(proxy *px, char *err, size_t err_len) __attribute__((warn_unused_result));
/* Runs until SIGTERM/SIGINT, then closes every session. */
void proxy_run(proxy *px);
void proxy_free(proxy *px);

/* Cancel-key registry (proxy.c). A client is told its legacy backend's pid
 * (the one pg_backend_pid() and NotificationResponse show) with a secret key
 * of pgtandem's own, drawn so that the pair is unique among live sessions;
 * lookups go by both. */
typedef struct proxy_cancel_id {
    int32_t pid;
    int32_t key;
} proxy_cancel_id;

/* legacy_pid 0 (a server that sent no BackendKeyData): a random pid */
void proxy_register_cancel_key(proxy *px, session *s, int32_t legacy_pid);
session *proxy_find_by_cancel_key(proxy *px, int32_t pid, int32_t key);
void proxy_forget_session(proxy *px, session *s);

#endif
