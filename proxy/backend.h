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

typedef struct backend {
    session *owner;
    const backend_target *target; /* borrowed from the session's config snapshot */
    backend_state state;
    stream s;
    scram_client *scram;
    int32_t pid; /* the server's cancel key */
    int32_t key;
    pg_buf params; /* ParameterStatus messages seen at login, as sent */
    uint8_t tx_status;
    size_t stream_left; /* bytes of a large server message still passing through */
    bool sent_fatal;    /* relayed a FATAL error: the server is about to hang up */
} backend;

/* Starts connecting; extra startup parameters come from the session.
 * Returns NULL (with err) when the socket can't even be created. */
backend *backend_start(session *owner, const backend_target *t, char *err, size_t err_len);
void backend_free(backend *b);
const char *backend_state_name(backend_state st);

#endif
