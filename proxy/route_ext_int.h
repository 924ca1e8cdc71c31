/* Shared by the files of the extended-protocol engine (route_ext.c takes
 * messages and keeps the helpers, route_ext_prepare.c handles Parse, Bind,
 * Describe and Close, route_ext_exec.c Execute and Sync). Not for use
 * outside them. */
#ifndef PGT_ROUTE_EXT_INT_H
#define PGT_ROUTE_EXT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/backend.h"
#include "proxy/ext_registry.h"
#include "proxy/session.h"

/* A portal no one binds: executing it fails, which aborts the window. */
#define ABORT_PORTAL "pgtandem.abort"
#define INTERNAL_NAME "pgtandem_internal"

enum {
    ST_NONE = 0,
    ST_PARSE_IMAGES,   /* the rewritten statement's Describe is on its way */
    ST_CONFIRM,        /* a named Parse or Close: wait for the server's verdict */
    ST_DESCRIBE_IMAGES, /* a Describe whose columns pgtandem must cut */
    ST_EXEC_ALL,       /* a session or transaction command on every backend */
    ST_EXEC_COMMIT,    /* COMMIT on several backends, group by group */
    ST_EXEC_TPC,       /* ... or by two-phase commit */
    ST_EXEC_ABORTED,   /* COMMIT/ROLLBACK of a transaction pgtandem aborted */
    ST_DUAL_PRIMARY,   /* a mirrored write on the primary */
    ST_DUAL_SECONDARY, /* ... then on the secondary */
    ST_DUAL_RECOVER,   /* continue: the secondary's failed write is undone alone */
    ST_SYNC,           /* Sync, group by group */
    ST_DRAIN,          /* end of a batch without Sync: every reply in */
};

typedef enum msg_result { MSG_DONE, MSG_WAIT, MSG_BUSY } msg_result;

/* The raw message at op->pos. */
typedef struct msg {
    uint8_t type;
    const uint8_t *whole;
    size_t len; /* whole message */
    const uint8_t *body;
    size_t body_len;
} msg;

/* helpers (route_ext.c) */
/* A message pg_fe_check let through that its decoder refuses: the session ends. */
msg_result ext_malformed(session *s, const char *what);
uint64_t ext_bit_of(const backend *b);
bool ext_client_turn(session *s, const backend *b);
bool ext_usable(session *s, int service);
bool ext_send(session *s, backend *b, const uint8_t *msgs, size_t len, reply_mode mode);
bool ext_send_internal(session *s, backend *b, const char *sql, reply_mode mode);
bool ext_targets_of(session *s, const ext_stmt *st, backend **list, size_t *n);
void ext_fail_window(session *s);
void ext_client_error(session *s, const char *sqlstate, const char *text);
msg_result ext_to_legacy(session *s, const msg *m);
msg_result ext_to_cursor(session *s, const msg *m, const char *portal);
bool ext_send_stmt_msg(session *s, ext_stmt *st, backend *b, const uint8_t *bytes, size_t len,
                       reply_mode mode);
bool ext_send_to_targets(session *s, ext_stmt *st, backend **list, size_t n,
                         const uint8_t *bytes, size_t len);

/* Parse, Bind, Describe, Close (route_ext_prepare.c) */
msg_result ext_on_parse(session *s, const msg *m);
msg_result ext_parse_images_done(session *s);
msg_result ext_confirm_done(session *s);
msg_result ext_on_bind(session *s, const msg *m);
msg_result ext_on_describe(session *s, const msg *m);
msg_result ext_describe_images_done(session *s);
msg_result ext_on_close(session *s, const msg *m);

/* Execute and Sync (route_ext_exec.c) */
msg_result ext_on_execute(session *s, const msg *m);
msg_result ext_exec_all_done(session *s);
msg_result ext_exec_aborted_done(session *s);
msg_result ext_exec_commit_step(session *s, const msg *m);
msg_result ext_exec_tpc_step(session *s);
msg_result ext_dual_primary_done(session *s, const msg *m);
msg_result ext_dual_secondary_done(session *s);
msg_result ext_dual_recover(session *s);
msg_result ext_sync_step(session *s);

#endif
