/* One server connection owned by a session: connect, log in with the
 * target's own credentials (trust, cleartext, md5, SCRAM-SHA-256), collect
 * its ParameterStatus and BackendKeyData, then hand its bytes to the relay. */
#ifndef PGT_BACKEND_H
#define PGT_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/pg_buf.h"
#include "protocol/scram.h"
#include "proxy/config.h"
#include "proxy/stream.h"

typedef struct session session;

typedef enum backend_state {
    BACKEND_CONNECTING, /* TCP connect in progress */
    BACKEND_LOGIN,      /* startup sent; authenticating; waiting for ReadyForQuery */
    BACKEND_READY,      /* relaying */
    BACKEND_CLOSED,
} backend_state;

/* What happens to the replies of one request (a Query, or a batch up to Sync)
 * in a routed session. */
typedef enum reply_mode {
    REPLY_FORWARD, /* straight to the client, ReadyForQuery included */
    REPLY_CAPTURE, /* held in `captured` until the session decides */
    REPLY_SWALLOW, /* pgtandem's own statements: only the outcome is kept */
} reply_mode;

#define BACKEND_MAX_PENDING 32

/* One request in flight: a Query or a batch ending in Sync (replies = 0:
 * it ends at ReadyForQuery), or extended-protocol messages sent with a
 * Flush (it ends after `replies` messages that end a reply, pg_ends_reply). */
typedef struct reply_wait {
    reply_mode mode;
    uint32_t replies;
} reply_wait;

/* How one request ended on this backend. */
typedef struct backend_outcome {
    bool error;
    char sqlstate[6];
    char message[256];
    char tag[64]; /* the last CommandComplete */
    uint64_t rows; /* rows counted by every CommandComplete of the request */
    uint8_t tx_status;
    char value[32]; /* pgtandem's own queries: the first column of the first row, as text */
} backend_outcome;

/* Reply tracking of a routed session's backend. Allocated with the backend,
 * freed by the idle sweep while nothing is in flight (session.c) and made
 * again before any route code runs (session_route_op_ensure): an idle client
 * then costs ~1.6 KiB less. From malloc, not pool.h: it comes and goes, and
 * the pool never hands memory back. */
typedef struct backend_replies {
    reply_wait pending[BACKEND_MAX_PENDING]; /* one entry per request sent, oldest first */
    backend_outcome ext_error;       /* the failure that set ext_failed */
    backend_outcome cur;             /* of the request being answered */
    backend_outcome last;            /* of the last request answered */
    backend_outcome capture_outcome; /* of the last REPLY_CAPTURE request */
} backend_replies;

typedef struct backend {
    session *owner;
    const backend_target *target; /* borrowed from the session's config snapshot */
    backend_state state;
    stream s;
    scram_client *scram;
    int32_t pid; /* the server's cancel key */
    int32_t key;
    pg_buf params; /* ParameterStatus messages seen at login, as sent */
    /* until READY: connect_timeout; then, while armed, a mirror's deadline
     * (backend_arm_deadline, mirror_deadline.c) */
    ev_timer deadline;
    bool deadline_cancelled; /* the mirror's deadline passed once: a cancel was sent */
    uint8_t tx_status;
    uint8_t lex_risk;      /* ROUTE_LEX_* of its settings, from ParameterStatus (lex_track.c) */
    char lex_encoding[16]; /* its client_encoding, for the refusal's message */
    size_t stream_left; /* bytes of a large server message still passing through */
    bool sent_fatal;    /* relayed a FATAL error: the server is about to hang up */

    /* routed sessions only */
    int service;                          /* index in the config, -1 for legacy */
    bool joined;                          /* session state replayed onto it */
    uint32_t replayed;   /* entries of that state sent so far */
    backend_replies *rx; /* pending requests and their outcomes: rx->pending, rx->cur... */
    size_t n_pending;    /* entries in rx->pending */
    bool ext_failed;     /* an extended message failed: the server skips to Sync (rx->ext_error) */
    bool own_tx;         /* in a transaction pgtandem began for the Sync window */
    pg_buf captured;     /* replies of REPLY_CAPTURE requests */
} backend;

/* Starts connecting; extra startup parameters come from the session.
 * Returns NULL (with err) when the socket can't even be created. */
backend *backend_start(session *owner, const backend_target *t, char *err, size_t err_len);
/* Queues a Query for `sql` whose replies are handled per `mode`. */
bool backend_send_query(backend *b, const char *sql, reply_mode mode)
    __attribute__((warn_unused_result));
/* Queues raw, already framed client messages as one request. */
bool backend_send_raw(backend *b, const uint8_t *msgs, size_t len, reply_mode mode)
    __attribute__((warn_unused_result));
/* Queues extended-protocol messages (no Sync) and a Flush, as one request
 * that ends with their replies. After a failure the server ignores them
 * until Sync, so they are not sent and end at once with that failure. */
bool backend_send_ext(backend *b, const uint8_t *msgs, size_t len, reply_mode mode)
    __attribute__((warn_unused_result));
/* Ready with nothing in flight, or lost with nothing left to wait for. */
bool backend_idle(const backend *b);
/* The connection is gone: closes it; every later request ends at once with
 * an 08006 failure (see send_to_closed). */
void backend_mark_lost(backend *b, const char *why);
void backend_free(backend *b);
/* A ready backend that must answer its requests in flight within `seconds`;
 * when it does not, session_backend_timed_out is called. Disarmed by
 * backend_disarm_deadline and when the backend closes. */
void backend_arm_deadline(backend *b, double seconds);
void backend_disarm_deadline(backend *b);
bool backend_deadline_armed(const backend *b);
/* b->rx: made when missing (false when out of memory); dropped when nothing
 * waits on it (no request in flight, no failure to remember). */
bool backend_replies_ensure(backend *b) __attribute__((warn_unused_result));
void backend_replies_release_if_idle(backend *b);
const char *backend_state_name(backend_state st);

#endif
