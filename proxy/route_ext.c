/* Routed sessions: the extended query protocol. A batch (the client's
 * messages up to Sync or Flush) is taken one message at a time:
 *
 * - Parse decides the statement's route, once, and keeps it with the
 *   statement (ext_registry.h); the statement is prepared on the backends
 *   that will run it, and later on any other that needs it.
 * - Bind, Describe and Close follow their statement or portal.
 * - Execute runs where the route says; a mirrored write runs on the primary,
 *   then on the secondary while the primary holds its locks (the window up to
 *   Sync is one transaction on each side), the outcomes are compared and the
 *   client gets the primary's replies or the policy's error.
 * - Sync goes to every backend that received messages since the last one,
 *   secondaries first, and the client gets one ReadyForQuery.
 *
 * Replies the client sees are forwarded as they come while one backend is
 * answering; a message for another backend waits until they are all in, so
 * the client gets its replies in the order it asked. An error ends the
 * window as PostgreSQL does: the client's messages are skipped until Sync,
 * and every other backend of the window is made to fail too, so that none of
 * them commits what the window did. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_ext.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_reader.h"
#include "proxy/backend.h"
#include "proxy/divergence.h"
#include "proxy/ext_registry.h"
#include "proxy/log.h"
#include "proxy/row_images.h"
#include "proxy/route_ext_int.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"

/* ----------------------------------------------------------------- helpers */

static int slot_of(const backend *b)
{
    return b->service < 0 ? 0 : b->service + 1;
}

msg_result ext_malformed(session *s, const char *what)
{
    char m[96];
    snprintf(m, sizeof(m), "protocol violation by the client: malformed %s", what);
    session_close(s, "08P01", m);
    return MSG_WAIT;
}

uint64_t ext_bit_of(const backend *b)
{
    return (uint64_t)1 << slot_of(b);
}

/* True when no backend other than `b` (NULL: none) is still answering the
 * client directly: replies must reach the client in the order it asked. */
bool ext_client_turn(session *s, const backend *b)
{
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    for (size_t i = 0; i < n; i++) {
        if (list[i] == b)
            continue;
        for (size_t k = 0; k < list[i]->n_pending; k++)
            if (list[i]->rx->pending[k].mode == REPLY_FORWARD)
                return false;
    }
    return true;
}

/* The backend for `service` (-1: legacy) is connected and has the session's
 * state; starts it or replays that state otherwise. */
bool ext_usable(session *s, int service)
{
    backend *b = *rs_slot_of(s, service);
    if (b && b->state == BACKEND_READY && b->joined)
        return true;
    return rs_ensure_backend(s, service);
}

bool ext_send(session *s, backend *b, const uint8_t *msgs, size_t len, reply_mode mode)
{
    if (!backend_send_ext(b, msgs, len, mode)) {
        session_close(s, "53200", "too many requests in flight");
        return false;
    }
    s->op->x.touched |= ext_bit_of(b);
    return rs_flush_to(s, b);
}

/* One of pgtandem's own statements, on names of its own that are closed at
 * once, so the client's unnamed statement and portal stay as they were. */
static void put_internal(pg_buf *m, const char *sql)
{
    pg_buf_parse(m, INTERNAL_NAME, sql);
    pg_buf_bind_text(m, INTERNAL_NAME, INTERNAL_NAME, NULL, 0);
    pg_buf_execute(m, INTERNAL_NAME, 0);
    pg_buf_close(m, 'P', INTERNAL_NAME);
    pg_buf_close(m, 'S', INTERNAL_NAME);
}

bool ext_send_internal(session *s, backend *b, const char *sql, reply_mode mode)
{
    pg_buf m;
    pg_buf_init(&m);
    put_internal(&m, sql);
    bool ok = !m.failed && ext_send(s, b, m.data, m.len, mode);
    if (m.failed)
        session_close(s, "53200", "out of memory");
    pg_buf_free(&m);
    return ok;
}

/* The backends a statement runs on, the one that answers the client first.
 * False while one of them is still joining. */
bool ext_targets_of(session *s, const ext_stmt *st, backend **list, size_t *n)
{
    const route_decision *d = &st->dec;
    *n = 0;
    switch (d->action) {
    case ROUTE_RUN_LEGACY:
        if (!ext_usable(s, -1))
            return false;
        list[(*n)++] = s->legacy;
        return true;
    case ROUTE_RUN_SERVICE:
    case ROUTE_RUN_PRIMARY: {
        route_side side = d->action == ROUTE_RUN_SERVICE ? ROUTE_SERVICE : d->primary;
        int svc = side == ROUTE_LEGACY ? -1 : d->service;
        if (!ext_usable(s, svc))
            return false;
        list[(*n)++] = *rs_slot_of(s, svc);
        return true;
    }
    case ROUTE_RUN_DUAL:
        if (!ext_usable(s, -1) || !ext_usable(s, d->service))
            return false;
        list[(*n)++] = rs_side_backend(s, d->service, d->primary);
        if (!st->images) /* the secondary of a row-image write only gets the rows */
            list[(*n)++] = rs_side_backend(s, d->service,
                                           d->primary == ROUTE_LEGACY ? ROUTE_SERVICE
                                                                      : ROUTE_LEGACY);
        return true;
    case ROUTE_RUN_EVERYWHERE: {
        backend *all[CONFIG_MAX_SERVICES + 1];
        size_t k = rs_participants(s, all);
        for (size_t i = 0; i < k; i++)
            if (!ext_usable(s, all[i]->service))
                return false;
        memcpy(list, all, k * sizeof(*list));
        *n = k;
        return true;
    }
    case ROUTE_REJECT:
        return true;
    }
    return true;
}

/* Makes every backend of the window fail, so none commits it, and skips the
 * client's messages until Sync. */
void ext_fail_window(session *s)
{
    route_ext_state *x = &s->op->x;
    x->window_failed = true;
    x->client_error = false;
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    pg_buf m;
    pg_buf_init(&m);
    pg_buf_execute(&m, ABORT_PORTAL, 0);
    for (size_t i = 0; i < n && s->state == SESSION_READY; i++)
        if ((x->touched & ext_bit_of(list[i])) && !list[i]->ext_failed &&
            list[i]->state == BACKEND_READY)
            (void)ext_send(s, list[i], m.data, m.len, REPLY_SWALLOW);
    pg_buf_free(&m);
}

void ext_client_error(session *s, const char *sqlstate, const char *text)
{
    pg_buf_error(&s->client.out, false, sqlstate, text);
    ext_fail_window(s);
}


/* Forwards a message about a statement or portal pgtandem does not know to
 * legacy, which answers as PostgreSQL does (usually: it does not exist). */
msg_result ext_to_legacy(session *s, const msg *m)
{
    if (!ext_usable(s, -1) || !ext_client_turn(s, s->legacy))
        return MSG_WAIT;
    ext_send(s, s->legacy, m->whole, m->len, REPLY_FORWARD);
    return MSG_DONE;
}

/* A portal pgtandem did not Bind may be a cursor DECLAREd in SQL (psycopg
 * describes its server-side cursors so): it goes to the backend holding it,
 * anything else to legacy. */
msg_result ext_to_cursor(session *s, const msg *m, const char *portal)
{
    int where;
    if (!portal[0] || !ext_find_cursor(&s->op->x.reg, portal, &where) || where < 0)
        return ext_to_legacy(s, m);
    if (!ext_usable(s, where))
        return MSG_WAIT;
    backend *b = *rs_slot_of(s, where);
    if (!ext_client_turn(s, b))
        return MSG_WAIT;
    ext_send(s, b, m->whole, m->len, REPLY_FORWARD);
    return MSG_DONE;
}

/* Sends `msg` about statement `st` to b, preparing the statement there first
 * when b does not have it yet. */
bool ext_send_stmt_msg(session *s, ext_stmt *st, backend *b, const uint8_t *bytes, size_t len,
                          reply_mode mode)
{
    if (!(st->prepared_on & ext_bit_of(b))) {
        if (!ext_send(s, b, st->parse.data, st->parse.len, REPLY_SWALLOW))
            return false;
        st->prepared_on |= ext_bit_of(b);
    }
    return ext_send(s, b, bytes, len, mode);
}

/* Sends `msg` to every target, the first answering the client. */
bool ext_send_to_targets(session *s, ext_stmt *st, backend **list, size_t n,
                            const uint8_t *bytes, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (!ext_send_stmt_msg(s, st, list[i], bytes, len, i == 0 ? REPLY_FORWARD : REPLY_SWALLOW))
            return false;
    return true;
}

bool rs_split_hides(uint8_t type)
{
    return type == PG_BE_PARSE_COMPLETE || type == PG_BE_BIND_COMPLETE || type == PG_BE_NO_DATA;
}

/* ------------------------------------------------------------------ engine */

static bool read_msg(const route_op *op, msg *m)
{
    if (op->pos + 5 > op->request.len)
        return false;
    const uint8_t *p = op->request.data + op->pos;
    size_t len = pg_frame_whole_len(p);
    m->type = p[0];
    m->whole = p;
    m->len = len;
    m->body = p + 5;
    m->body_len = len - 5;
    return true;
}

static msg_result continue_msg(session *s, const msg *m)
{
    switch (s->op->step) {
    case ST_PARSE_IMAGES: return ext_parse_images_done(s);
    case ST_CONFIRM: return ext_confirm_done(s);
    case ST_DESCRIBE_IMAGES: return ext_describe_images_done(s);
    case ST_EXEC_ALL: return ext_exec_all_done(s);
    case ST_EXEC_COMMIT: return ext_exec_commit_step(s, m);
    case ST_EXEC_TPC: return ext_exec_tpc_step(s);
    case ST_EXEC_ABORTED: return ext_exec_aborted_done(s);
    case ST_DUAL_PRIMARY: return ext_dual_primary_done(s, m);
    case ST_DUAL_SECONDARY: return ext_dual_secondary_done(s);
    case ST_DUAL_RECOVER: return ext_dual_recover(s);
    case ST_SYNC: return ext_sync_step(s);
    default: return MSG_DONE;
    }
}

static msg_result start_msg(session *s, const msg *m)
{
    route_ext_state *x = &s->op->x;
    if (m->type == PG_FE_SYNC)
        return ext_sync_step(s);
    if (x->window_failed)
        return MSG_DONE; /* skipped until Sync, as the server does */
    switch (m->type) {
    case PG_FE_PARSE: return ext_on_parse(s, m);
    case PG_FE_BIND: return ext_on_bind(s, m);
    case PG_FE_DESCRIBE: return ext_on_describe(s, m);
    case PG_FE_EXECUTE: return ext_on_execute(s, m);
    case PG_FE_CLOSE: return ext_on_close(s, m);
    case PG_FE_FLUSH: return MSG_DONE; /* every message goes out with a Flush already */
    default:
        session_close(s, "08P01", "protocol violation by the client: unexpected message in "
                                  "an extended-protocol batch");
        return MSG_WAIT;
    }
}

void rs_step_ext(session *s)
{
    route_op *op = s->op;
    for (;;) {
        if (s->state != SESSION_READY)
            return;
        if (op->x.client_error && !op->x.window_failed && op->step != ST_SYNC)
            ext_fail_window(s);
        msg m;
        if (!read_msg(op, &m)) {
            /* a batch that ended with Flush: done when every reply is in */
            if (!rs_all_idle(s))
                return;
            rs_op_done(s);
            return;
        }
        if (m.type == PG_FE_EXECUTE && op->step == ST_NONE)
            stats_ext_execute(s, m.whole, m.len, op->pos);
        msg_result r = op->step != ST_NONE ? continue_msg(s, &m) : start_msg(s, &m);
        if (s->state != SESSION_READY || r == MSG_WAIT)
            return;
        if (r == MSG_BUSY)
            continue;
        op->step = ST_NONE;
        ext_stmt_unref(op->unit);
        op->unit = NULL;
        op->target = NULL;
        op->pos += m.len;
        if (m.type == PG_FE_SYNC) {
            rs_op_done(s);
            return;
        }
    }
}
