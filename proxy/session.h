/* One client connection and the backend connections that serve it.
 * Shared by the session_*.c files and backend.c; nothing else looks inside.
 * Lifetime rule: a session is never freed inside a function that may still
 * touch it; session_close() marks it, and the libev callback that was
 * running frees it on its way out (session_release_if_closed). */
#ifndef PGT_SESSION_H
#define PGT_SESSION_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <uthash.h>

#include "protocol/scram.h"
#include "routing/classify_cache.h"
#include "routing/route.h"
#include "proxy/shadow_digest.h"
#include "proxy/ext_registry.h"
#include "proxy/proxy.h"
#include "proxy/stats_record.h"
#include "proxy/session_control.h"
#include "proxy/stream.h"

typedef struct backend backend;

typedef enum session_state {
    SESSION_STARTUP,    /* waiting for a startup packet */
    SESSION_AUTH,       /* exchanging authentication messages with the client */
    SESSION_CONNECTING, /* client authenticated; backends logging in */
    SESSION_READY,      /* relaying */
    SESSION_CLOSED,     /* sockets closed; to be freed by the running callback */
} session_state;

typedef enum auth_step { AUTH_STEP_NONE, AUTH_STEP_SASL_INITIAL, AUTH_STEP_SASL_FINAL,
                         AUTH_STEP_PASSWORD } auth_step;

#define SESSION_MAX_PARAMS 64

/* Extended-protocol state of a routed session that lives across requests
 * (route_ext.c). */
typedef struct route_ext_state {
    ext_registry reg;
    uint64_t touched;    /* backends sent extended messages since the last Sync (bit per slot) */
    bool window_failed;  /* an error since the last Sync: the rest is skipped until it */
    bool client_error;   /* a forwarded reply was an ErrorResponse */
    struct backend *copy_to; /* a COPY FROM STDIN in progress on this backend */
    int lost_service;        /* 1 + the service whose loss aborted the transaction; 0: none */
} route_ext_state;

/* The request a routed session is working on (session_route.c). */
typedef struct route_op {
    int kind; /* 0 = none */
    int step;
    pg_buf request; /* the client's message(s), framed */
    const classify_result *cls;
    route_decision dec;
    backend *first;  /* the one target, or the primary of a mirrored write */
    backend *second; /* the secondary of a mirrored write */
    bool wrapped;    /* an autocommit write wrapped in BEGIN/COMMIT */
    int phase;       /* COMMIT: the group committing */
    bool failed;
    bool images;        /* mirrored by row images rather than text */
    char *rewritten;    /* the primary's statement with RETURNING of every column */
    const struct catalog_table *table;
    pg_buf apply;       /* the secondary's batch that applies the rows */
    uint64_t primary_rows;
    bool pinned;               /* the primary printed the images under ROW_IMAGES_PIN */
    bool verify;               /* verify_writes_sample picked this write */
    row_digest primary_digest; /* of the images, when verify */
    char error_state[6];
    char error_text[512];
    /* extended batches (route_ext.c) */
    size_t pos;                /* the next message of `request` to take */
    struct ext_stmt *unit;     /* the statement of the message in progress */
    struct backend *target;    /* the backend answering the message in progress */
    bool fast_ext;             /* an extended batch sent to legacy whole */
    struct two_phase *tpc;     /* a two-phase commit in progress (two_phase.h) */
    bool split;                /* a simple query run as an extended batch */
    struct route_copy *copy;   /* a COPY FROM STDIN into a dual-written table (route_copy.c) */
    route_ext_state x;         /* kept by rs_op_done */
} route_op;

struct session {
    uint64_t id;
    proxy *px;
    config *cfg; /* the snapshot this session runs on */
    session_state state;
    stream client;
    char peer[64];
    char *user;
    char *database;
    /* startup parameters passed on to every backend (not user/database) */
    size_t n_params;
    char **param_names; /* n_params each, allocated at startup (pool.h) */
    size_t params_cap;  /* the arrays' length */
    char **param_values;

    auth_step auth;
    bool user_known;
    scram_server *scram;
    uint8_t md5_salt[4];

    proxy_cancel_id cancel; /* what the client got in BackendKeyData; pid 0 until then */
    ev_timer login_timer;

    backend *legacy;
    uint8_t tx_status;

    /* routed sessions: the config names services */
    bool routed;
    backend **services; /* cfg->n_services of them, connected when first needed (pool.h) */
    route_op *op; /* routed sessions only, while in use (the idle sweep frees it); malloc'd */
    pg_buf session_log;    /* SET/PREPARE... a joining backend replays */
    pg_buf tx_log;         /* BEGIN, SET LOCAL, SAVEPOINT of the open transaction */
    pg_buf tx_session_log; /* session-level SETs made in the open transaction */
    bool tx_poisoned;      /* pgtandem aborted the client's transaction */
    bool lex_was_unsafe;   /* a backend has read texts differently at some point (lex_track.c) */
    bool lex_suspect;      /* the pipeline since the last Sync may have changed that */
    bool skip_to_sync;     /* a refused extended batch: ignore messages until Sync */
    size_t client_stream_left; /* bytes of a large client message still passing through */
    bool processing;           /* inside a callback: defer freeing */
    bool recently_active;      /* the client sent something since the last idle sweep */
    session_obs obs;           /* traffic figures being recorded (stats_record.h) */
    bool admin;                /* an admin console session (database "pgtandem") */
    session_ctl ctl;           /* reload and pause (session_control.c) */

    session *next;
    session *prev;
    UT_hash_handle hh; /* proxy->by_cancel */
};

session *session_new(proxy *px, int fd, const char *peer);
/* Sends a final ErrorResponse (when sqlstate is set), closes every socket,
 * logs why. Safe to call more than once. */
void session_close(session *s, const char *sqlstate, const char *why);
void session_release_if_closed(session *s);
/* Frees immediately; only for shutdown and for callers outside callbacks. */
void session_free(session *s);
void session_set_state(session *s, session_state st);
/* Frees the buffers of a session that has been idle since the last call;
 * true when it freed any. */
bool session_trim_if_idle(session *s);

/* Allocates s->op before any route code runs (the idle sweep frees it);
 * false, with the session closed, when memory ran out. */
bool session_route_op_ensure(session *s) __attribute__((warn_unused_result));
/* Frees s->op and all it holds, a request in progress included (route_common.c). */
void session_route_op_free(session *s);

/* "startup", "auth", "connecting", "ready" or "closed" */
const char *session_state_name(session_state st);

/* session_login.c */
void session_login_input(session *s);
/* session_relay.c */
void session_relay_client_input(session *s);
void session_relay_backend_input(session *s, backend *b);
void session_relay_client_drained(session *s);
void session_relay_backend_drained(session *s, backend *b);

/* session_route.c */
void session_route_client_input(session *s);
void session_route_backend_input(session *s, backend *b);
void session_route_backend_ready(session *s, backend *b);
void session_route_backend_lost(session *s, backend *b, const char *why);

/* called by backend.c */
void session_backend_ready(session *s, backend *b);
void session_backend_failed(session *s, backend *b, const char *sqlstate, const char *why);
/* b's mirror deadline passed (mirror_deadline.c) */
void session_backend_timed_out(session *s, backend *b);

#endif
