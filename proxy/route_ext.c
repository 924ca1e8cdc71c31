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
#include "protocol/pg_reader.h"
#include "proxy/backend.h"
#include "proxy/divergence.h"
#include "proxy/ext_registry.h"
#include "proxy/log.h"
#include "proxy/row_images.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"

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
    ST_EXEC_ABORTED,   /* COMMIT/ROLLBACK of a transaction pgtandem aborted */
    ST_DUAL_PRIMARY,   /* a mirrored write on the primary */
    ST_DUAL_SECONDARY, /* ... then on the secondary */
    ST_DUAL_RECOVER,   /* continue: the secondary's failed write is undone alone */
    ST_SYNC,           /* Sync, group by group */
    ST_DRAIN,          /* end of a batch without Sync: every reply in */
};

typedef enum msg_result { MSG_DONE, MSG_WAIT, MSG_BUSY } msg_result;

/* ----------------------------------------------------------------- helpers */

static int slot_of(const backend *b)
{
    return b->service < 0 ? 0 : b->service + 1;
}

static uint64_t bit_of(const backend *b)
{
    return (uint64_t)1 << slot_of(b);
}

/* True when no backend other than `b` (NULL: none) is still answering the
 * client directly: replies must reach the client in the order it asked. */
static bool client_turn(session *s, const backend *b)
{
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    for (size_t i = 0; i < n; i++) {
        if (list[i] == b)
            continue;
        for (size_t k = 0; k < list[i]->n_pending; k++)
            if (list[i]->pending[k].mode == REPLY_FORWARD)
                return false;
    }
    return true;
}

/* The backend for `service` (-1: legacy) is connected and has the session's
 * state; starts it or replays that state otherwise. */
static bool usable(session *s, int service)
{
    backend *b = *rs_slot_of(s, service);
    if (b && b->state == BACKEND_READY && b->joined)
        return true;
    return rs_ensure_backend(s, service);
}

static bool send_ext(session *s, backend *b, const uint8_t *msgs, size_t len, reply_mode mode)
{
    if (!backend_send_ext(b, msgs, len, mode)) {
        session_close(s, "53200", "too many requests in flight");
        return false;
    }
    s->op->x.touched |= bit_of(b);
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

static bool send_internal(session *s, backend *b, const char *sql, reply_mode mode)
{
    pg_buf m;
    pg_buf_init(&m);
    put_internal(&m, sql);
    bool ok = !m.failed && send_ext(s, b, m.data, m.len, mode);
    if (m.failed)
        session_close(s, "53200", "out of memory");
    pg_buf_free(&m);
    return ok;
}

/* The backends a statement runs on, the one that answers the client first.
 * False while one of them is still joining. */
static bool targets_of(session *s, const ext_stmt *st, backend **list, size_t *n)
{
    const route_decision *d = &st->dec;
    *n = 0;
    switch (d->action) {
    case ROUTE_RUN_LEGACY:
        if (!usable(s, -1))
            return false;
        list[(*n)++] = s->legacy;
        return true;
    case ROUTE_RUN_SERVICE:
    case ROUTE_RUN_PRIMARY: {
        route_side side = d->action == ROUTE_RUN_SERVICE ? ROUTE_SERVICE : d->primary;
        int svc = side == ROUTE_LEGACY ? -1 : d->service;
        if (!usable(s, svc))
            return false;
        list[(*n)++] = *rs_slot_of(s, svc);
        return true;
    }
    case ROUTE_RUN_DUAL:
        if (!usable(s, -1) || !usable(s, d->service))
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
            if (!usable(s, all[i]->service))
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
static void fail_window(session *s)
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
        if ((x->touched & bit_of(list[i])) && !list[i]->ext_failed &&
            list[i]->state == BACKEND_READY)
            (void)send_ext(s, list[i], m.data, m.len, REPLY_SWALLOW);
    pg_buf_free(&m);
}

static void client_error(session *s, const char *sqlstate, const char *msg)
{
    pg_buf_error(&s->client.out, false, sqlstate, msg);
    fail_window(s);
}

/* The raw message at op->pos. */
typedef struct msg {
    uint8_t type;
    const uint8_t *whole;
    size_t len; /* whole message */
    const uint8_t *body;
    size_t body_len;
} msg;

/* Forwards a message about a statement or portal pgtandem does not know to
 * legacy, which answers as PostgreSQL does (usually: it does not exist). */
static msg_result to_legacy(session *s, const msg *m)
{
    if (!usable(s, -1) || !client_turn(s, s->legacy))
        return MSG_WAIT;
    send_ext(s, s->legacy, m->whole, m->len, REPLY_FORWARD);
    return MSG_DONE;
}

/* Sends `msg` about statement `st` to b, preparing the statement there first
 * when b does not have it yet. */
static bool send_stmt_msg(session *s, ext_stmt *st, backend *b, const uint8_t *bytes, size_t len,
                          reply_mode mode)
{
    if (!(st->prepared_on & bit_of(b))) {
        if (!send_ext(s, b, st->parse.data, st->parse.len, REPLY_SWALLOW))
            return false;
        st->prepared_on |= bit_of(b);
    }
    return send_ext(s, b, bytes, len, mode);
}

/* Sends `msg` to every target, the first answering the client. */
static bool send_to_targets(session *s, ext_stmt *st, backend **list, size_t n,
                            const uint8_t *bytes, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (!send_stmt_msg(s, st, list[i], bytes, len, i == 0 ? REPLY_FORWARD : REPLY_SWALLOW))
            return false;
    return true;
}

bool rs_split_hides(uint8_t type)
{
    return type == PG_BE_PARSE_COMPLETE || type == PG_BE_BIND_COMPLETE || type == PG_BE_NO_DATA;
}

/* ------------------------------------------------------------------- Parse */

static bool decide(session *s, ext_stmt *st, char *why, size_t why_len, const char **sqlstate)
{
    const classify_stmt *c = &st->cls->stmts[0];
    if (st->cls->n_stmts != 1) {
        /* empty, or several statements: legacy refuses or answers it */
        memset(&st->dec, 0, sizeof(st->dec));
        st->dec.action = ROUTE_RUN_LEGACY;
        st->dec.service = -1;
        return true;
    }
    if (s->tx_poisoned && !(c->kind == CLASSIFY_TX_CONTROL &&
                            (c->tx == CLASSIFY_TX_COMMIT || c->tx == CLASSIFY_TX_ROLLBACK))) {
        *sqlstate = "25P02";
        snprintf(why, why_len, "%s", rs_aborted_text(s));
        return false;
    }
    route_decide(s->cfg->routes, c, &st->dec);
    if (st->dec.needs_prepared_lookup && !rs_route_execute(s, c, &st->dec, why, why_len)) {
        *sqlstate = "0A000";
        return false;
    }
    if (st->dec.action == ROUTE_REJECT) {
        *sqlstate = st->dec.sqlstate;
        snprintf(why, why_len, "%s", st->dec.message);
        return false;
    }
    if (st->dec.action == ROUTE_RUN_DUAL && (st->dec.row_images || rs_generates_values(s, c))) {
        *sqlstate = "0A000";
        if (!rs_plan_images(s, c, st->sql, &st->rewritten, &st->table, why, why_len))
            return false;
        st->images = true;
    }
    return true;
}

/* The client's Parse with the rewritten text, same name and parameter types. */
static bool put_rewritten_parse(pg_buf *out, const ext_stmt *st)
{
    pg_parse_msg p;
    if (!pg_decode_parse(st->parse.data + 5, st->parse.len - 5, &p))
        return false;
    pg_buf_begin_msg(out, PG_FE_PARSE);
    pg_buf_put_cstring(out, p.name);
    pg_buf_put_cstring(out, st->rewritten);
    pg_buf_put_int16(out, (int16_t)p.n_types);
    pg_buf_put(out, p.types, p.n_types * 4);
    pg_buf_end_msg(out);
    pg_buf_describe(out, 'S', p.name);
    return !out->failed;
}

static msg_result on_parse(session *s, const msg *m)
{
    route_op *op = s->op;
    pg_parse_msg p;
    if (!pg_decode_parse(m->body, m->body_len, &p)) {
        session_close(s, "08P01", "protocol violation by the client: malformed Parse");
        return MSG_WAIT;
    }
    bool named = p.name[0] != '\0';
    /* a named statement outlives the window: know the window's fate first */
    if (named && !rs_all_idle(s))
        return MSG_WAIT;
    if (s->op->x.client_error)
        return MSG_DONE; /* the loop fails the window */
    if (named && ext_find_stmt(&op->x.reg, p.name)) {
        /* the session's names are pgtandem's to keep: the old statement may
         * live on a backend this Parse would not reach */
        if (!client_turn(s, NULL))
            return MSG_WAIT;
        char m2[200];
        snprintf(m2, sizeof(m2), "prepared statement \"%.100s\" already exists", p.name);
        client_error(s, "42P05", m2);
        return MSG_DONE;
    }
    ext_stmt *st = ext_stmt_new(p.name, m->whole, m->len);
    if (!st || !(st->cls = classify_cache_get(s->px->classify, st->sql))) {
        ext_stmt_unref(st);
        session_close(s, "53200", "out of memory");
        return MSG_WAIT;
    }
    char why[512];
    const char *sqlstate = "0A000";
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = 0;
    if (!decide(s, st, why, sizeof(why), &sqlstate)) {
        ext_stmt_unref(st);
        if (!client_turn(s, NULL))
            return MSG_WAIT;
        client_error(s, sqlstate, why);
        return MSG_DONE;
    }
    if (!targets_of(s, st, list, &n) || !client_turn(s, list[0])) {
        ext_stmt_unref(st);
        return MSG_WAIT;
    }
    st->refs++; /* the registry's and ours */
    ext_put_stmt(&op->x.reg, st);
    op->unit = st;
    if (st->images) {
        pg_buf out;
        pg_buf_init(&out);
        bool ok = put_rewritten_parse(&out, st) &&
                  send_ext(s, list[0], out.data, out.len, REPLY_CAPTURE);
        pg_buf_free(&out);
        if (!ok) {
            if (s->state == SESSION_READY)
                session_close(s, "53200", "out of memory");
            return MSG_WAIT;
        }
        st->prepared_on |= bit_of(list[0]);
        op->target = list[0];
        op->step = ST_PARSE_IMAGES;
        return MSG_BUSY;
    }
    for (size_t i = 0; i < n; i++) {
        if (!send_ext(s, list[i], m->whole, m->len, i == 0 ? REPLY_FORWARD : REPLY_SWALLOW))
            return MSG_WAIT;
        st->prepared_on |= bit_of(list[i]);
    }
    if (!named) {
        ext_stmt_unref(op->unit);
        op->unit = NULL;
        return MSG_DONE;
    }
    op->target = list[0];
    op->step = ST_CONFIRM;
    return MSG_BUSY;
}

/* The rewritten statement is prepared (or refused): learn its columns, tell
 * the client only that its Parse went through. */
static msg_result parse_images_done(session *s)
{
    route_op *op = s->op;
    backend *b = op->target;
    if (!backend_idle(b))
        return MSG_WAIT;
    ext_stmt *st = op->unit;
    const pg_buf *cap = &b->captured;
    size_t pos = 0;
    bool parsed = false;
    while (pos + 5 <= cap->len) {
        uint8_t type = cap->data[pos];
        size_t mlen = ((size_t)cap->data[pos + 1] << 24) | ((size_t)cap->data[pos + 2] << 16) |
                      ((size_t)cap->data[pos + 3] << 8) | cap->data[pos + 4];
        const uint8_t *whole = cap->data + pos;
        if ((type == PG_BE_PARSE_COMPLETE && !op->split) || type == PG_BE_ERROR_RESPONSE ||
            type == PG_BE_NOTICE_RESPONSE)
            pg_buf_put(&s->client.out, whole, 1 + mlen);
        if (type == PG_BE_PARSE_COMPLETE)
            parsed = true;
        if (type == PG_BE_ROW_DESCRIPTION) {
            pg_buf_reset(&st->row_desc);
            pg_buf_put(&st->row_desc, whole, 1 + mlen);
            pg_reader r;
            pg_reader_init(&r, whole + 5, mlen - 4);
            int16_t cols = pg_read_int16(&r);
            if (cols >= 0 && (size_t)cols >= st->table->n_columns)
                st->client_cols = (size_t)cols - st->table->n_columns;
        }
        pos += 1 + mlen;
    }
    pg_buf_reset(&b->captured);
    if (!parsed || b->capture_outcome.error || st->row_desc.len == 0) {
        ext_drop_stmt(&op->x.reg, st->name);
        if (!b->capture_outcome.error)
            pg_buf_error(&s->client.out, false, "XX000",
                         "pgtandem: the rewritten statement did not describe its rows");
        fail_window(s);
    }
    return MSG_DONE;
}

/* A named Parse (or Close) has its answer: undo what the server refused. */
static msg_result confirm_done(session *s)
{
    route_op *op = s->op;
    if (!rs_all_idle(s))
        return MSG_WAIT;
    ext_stmt *st = op->unit;
    if (st && op->target->last.error) {
        ext_drop_stmt(&op->x.reg, st->name);
    } else if (st) {
        /* a backend that could not prepare it will be sent it again */
        backend *list[CONFIG_MAX_SERVICES + 1];
        size_t n = rs_participants(s, list);
        for (size_t i = 0; i < n; i++)
            if (list[i]->last.error)
                st->prepared_on &= ~bit_of(list[i]);
    }
    return MSG_DONE;
}

/* -------------------------------------------------------------------- Bind */

/* Result formats for a row-image statement: the client's for its own
 * columns, text for pgtandem's (it reads them to build the rows). */
static bool put_images_bind(pg_buf *out, const ext_stmt *st, const msg *m, const pg_bind_msg *b)
{
    size_t own = st->client_cols, all = st->client_cols + st->table->n_columns;
    int16_t *fmts = calloc(all ? all : 1, sizeof(*fmts));
    if (!fmts)
        return false;
    bool rewrite = false;
    if (b->n_result_formats == 1 && b->result_formats[0] == 0 && b->result_formats[1] == 1) {
        for (size_t i = 0; i < own; i++)
            fmts[i] = 1;
        rewrite = true;
    } else if (b->n_result_formats == own && own > 0) {
        for (size_t i = 0; i < own; i++)
            fmts[i] = (int16_t)((b->result_formats[2 * i] << 8) | b->result_formats[2 * i + 1]);
        rewrite = true;
    }
    if (rewrite)
        pg_buf_bind_formats(out, m->body, b, fmts, all);
    else
        pg_buf_put(out, m->whole, m->len);
    free(fmts);
    return !out->failed;
}

static msg_result on_bind(session *s, const msg *m)
{
    route_op *op = s->op;
    pg_bind_msg b;
    if (!pg_decode_bind(m->body, m->body_len, &b)) {
        session_close(s, "08P01", "protocol violation by the client: malformed Bind");
        return MSG_WAIT;
    }
    ext_stmt *st = ext_find_stmt(&op->x.reg, b.statement);
    if (!st)
        return to_legacy(s, m);
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n;
    if (!targets_of(s, st, list, &n) || n == 0 || !client_turn(s, list[0]))
        return MSG_WAIT;
    if (!ext_put_portal(&op->x.reg, b.portal, st)) {
        session_close(s, "53200", "out of memory");
        return MSG_WAIT;
    }
    if (st->images) {
        pg_buf out;
        pg_buf_init(&out);
        bool ok = put_images_bind(&out, st, m, &b) &&
                  send_to_targets(s, st, list, 1, out.data, out.len);
        pg_buf_free(&out);
        if (!ok && s->state == SESSION_READY)
            session_close(s, "53200", "out of memory");
        return ok ? MSG_DONE : MSG_WAIT;
    }
    return send_to_targets(s, st, list, n, m->whole, m->len) ? MSG_DONE : MSG_WAIT;
}

/* ---------------------------------------------------------------- Describe */

static ext_stmt *stmt_of_target(session *s, uint8_t kind, const char *name)
{
    if (kind == 'S')
        return ext_find_stmt(&s->op->x.reg, name);
    ext_portal *p = ext_find_portal(&s->op->x.reg, name);
    return p ? p->stmt : NULL;
}

static msg_result on_describe(session *s, const msg *m)
{
    route_op *op = s->op;
    pg_target_msg t;
    if (!pg_decode_target(m->body, m->body_len, &t)) {
        session_close(s, "08P01", "protocol violation by the client: malformed Describe");
        return MSG_WAIT;
    }
    ext_stmt *st = stmt_of_target(s, t.kind, t.name);
    if (!st)
        return to_legacy(s, m);
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n;
    if (!targets_of(s, st, list, &n) || n == 0 || !client_turn(s, list[0]))
        return MSG_WAIT;
    if (!st->images)
        return send_to_targets(s, st, list, 1, m->whole, m->len) ? MSG_DONE : MSG_WAIT;
    if (!send_ext(s, list[0], m->whole, m->len, REPLY_CAPTURE))
        return MSG_WAIT;
    st->refs++;
    op->unit = st;
    op->target = list[0];
    op->step = ST_DESCRIBE_IMAGES;
    return MSG_BUSY;
}

/* The client's columns of a RowDescription; NoData when it has none. */
static void put_cut_row_description(pg_buf *out, const uint8_t *whole, size_t len, size_t keep)
{
    if (keep == 0) {
        pg_buf_simple(out, PG_BE_NO_DATA);
        return;
    }
    pg_reader r;
    pg_reader_init(&r, whole + 5, len - 5);
    (void)pg_read_int16(&r);
    for (size_t i = 0; i < keep; i++) {
        (void)pg_read_cstring(&r);
        (void)pg_read_bytes(&r, 18);
    }
    pg_buf_begin_msg(out, PG_BE_ROW_DESCRIPTION);
    pg_buf_put_int16(out, (int16_t)keep);
    pg_buf_put(out, whole + 7, r.pos - 2);
    pg_buf_end_msg(out);
}

static msg_result describe_images_done(session *s)
{
    route_op *op = s->op;
    backend *b = op->target;
    if (!backend_idle(b))
        return MSG_WAIT;
    const pg_buf *cap = &b->captured;
    size_t pos = 0;
    while (pos + 5 <= cap->len) {
        size_t mlen = ((size_t)cap->data[pos + 1] << 24) | ((size_t)cap->data[pos + 2] << 16) |
                      ((size_t)cap->data[pos + 3] << 8) | cap->data[pos + 4];
        if (cap->data[pos] == PG_BE_ROW_DESCRIPTION && !(op->split && !op->unit->client_cols))
            put_cut_row_description(&s->client.out, cap->data + pos, 1 + mlen,
                                    op->unit->client_cols);
        else if (cap->data[pos] == PG_BE_ROW_DESCRIPTION)
            ; /* NoData, which a simple query does not have */
        else
            pg_buf_put(&s->client.out, cap->data + pos, 1 + mlen);
        pos += 1 + mlen;
    }
    pg_buf_reset(&b->captured);
    return MSG_DONE;
}

/* ------------------------------------------------------------------- Close */

static msg_result on_close(session *s, const msg *m)
{
    route_op *op = s->op;
    pg_target_msg t;
    if (!pg_decode_target(m->body, m->body_len, &t)) {
        session_close(s, "08P01", "protocol violation by the client: malformed Close");
        return MSG_WAIT;
    }
    if (t.kind == 'S' && t.name[0] && !rs_all_idle(s))
        return MSG_WAIT; /* the registry must not run ahead of a failed window */
    if (op->x.client_error)
        return MSG_DONE;
    ext_stmt *st = stmt_of_target(s, t.kind, t.name);
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list), k = 0;
    backend *on[CONFIG_MAX_SERVICES + 1];
    for (size_t i = 0; st && i < n; i++)
        if (st->prepared_on & bit_of(list[i]))
            on[k++] = list[i];
    if (!client_turn(s, k ? on[0] : NULL))
        return MSG_WAIT;
    for (size_t i = 0; i < k; i++)
        if (!send_ext(s, on[i], m->whole, m->len, i == 0 ? REPLY_FORWARD : REPLY_SWALLOW))
            return MSG_WAIT;
    if (k == 0) /* nowhere to close: PostgreSQL answers the same */
        pg_buf_simple(&s->client.out, PG_BE_CLOSE_COMPLETE);
    if (t.kind == 'S')
        ext_drop_stmt(&op->x.reg, t.name);
    else
        ext_drop_portal(&op->x.reg, t.name);
    return MSG_DONE;
}

/* ----------------------------------------------------------------- Execute */

static msg_result exec_everywhere(session *s, const msg *m, ext_stmt *st)
{
    route_op *op = s->op;
    const classify_stmt *c = &st->cls->stmts[0];
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n;
    if (!targets_of(s, st, list, &n) || !client_turn(s, NULL) || !rs_all_idle(s))
        return MSG_WAIT;
    st->refs++;
    op->unit = st;
    bool ends_tx = c->kind == CLASSIFY_TX_CONTROL &&
                   (c->tx == CLASSIFY_TX_COMMIT || c->tx == CLASSIFY_TX_ROLLBACK);
    if (ends_tx && (s->tx_poisoned || s->tx_status == PG_TX_FAILED)) {
        /* every backend rolls back; the client hears ROLLBACK, as from PostgreSQL */
        for (size_t i = 0; i < n; i++)
            if (!send_internal(s, list[i], "ROLLBACK", REPLY_SWALLOW))
                return MSG_WAIT;
        op->step = ST_EXEC_ABORTED;
        return MSG_BUSY;
    }
    if (c->kind == CLASSIFY_TX_CONTROL && c->tx == CLASSIFY_TX_COMMIT && n > 1 &&
        s->tx_status != PG_TX_IDLE) {
        op->phase = -1;
        op->step = ST_EXEC_COMMIT;
        return MSG_BUSY;
    }
    if (!send_to_targets(s, st, list, n, m->whole, m->len))
        return MSG_WAIT;
    op->step = ST_EXEC_ALL;
    return MSG_BUSY;
}

/* The client's picture of the transaction moves with the commands it runs,
 * before its ReadyForQuery: a backend joining in the same window must start
 * with the same BEGIN. */
static void after_session_command(session *s, const ext_stmt *st, bool ok)
{
    const classify_stmt *c = &st->cls->stmts[0];
    if (!ok)
        return;
    if (c->kind == CLASSIFY_TX_CONTROL) {
        if (c->tx == CLASSIFY_TX_BEGIN)
            s->tx_status = PG_TX_IN_BLOCK;
        else if (c->tx == CLASSIFY_TX_COMMIT || c->tx == CLASSIFY_TX_ROLLBACK)
            s->tx_status = PG_TX_IDLE;
    }
    rs_track_session_state(s, c, st->sql, s->tx_status);
    rs_note_prepared(s, c, st->cls);
}

static msg_result exec_all_done(session *s)
{
    if (!rs_all_idle(s))
        return MSG_WAIT;
    after_session_command(s, s->op->unit, !s->legacy->last.error);
    return MSG_DONE;
}

static msg_result exec_aborted_done(session *s)
{
    if (!rs_all_idle(s))
        return MSG_WAIT;
    s->tx_poisoned = false;
    s->op->x.lost_service = 0;
    pg_buf_begin_msg(&s->client.out, PG_BE_COMMAND_COMPLETE);
    pg_buf_put_cstring(&s->client.out, "ROLLBACK");
    pg_buf_end_msg(&s->client.out);
    after_session_command(s, s->op->unit, true);
    return MSG_DONE;
}

/* COMMIT in groups: each secondary before its primary (see rs_commit_group). */
static msg_result exec_commit_step(session *s, const msg *m)
{
    route_op *op = s->op;
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    if (!rs_all_idle(s))
        return MSG_WAIT;
    if (op->phase >= 0) {
        for (size_t i = 0; i < n; i++) {
            const backend_outcome *o = &list[i]->last;
            if (rs_commit_group(s, list[i]) != op->phase || list[i] == s->legacy)
                continue;
            if (o->error || strcmp(o->tag, "COMMIT") != 0) {
                divergence_record(s, list[i]->service, "secondary commit failed",
                                  op->unit->cls->stmts[0].fingerprint, "", NULL, o);
                if (s->cfg->on_mirror_failure == MIRROR_FAIL && op->phase == 0)
                    op->failed = true;
            }
        }
    }
    if (op->failed) {
        /* the rest rolls back instead; the client hears why */
        for (size_t i = 0; i < n; i++)
            if (rs_commit_group(s, list[i]) > op->phase &&
                !send_internal(s, list[i], "ROLLBACK", REPLY_SWALLOW))
                return MSG_WAIT;
        pg_buf_error(&s->client.out, false, "40000",
                     "pgtandem: a service database could not commit; the transaction was "
                     "rolled back on both sides");
        s->tx_status = PG_TX_IDLE;
        pg_buf_reset(&s->tx_log);
        pg_buf_reset(&s->tx_session_log);
        op->failed = false;
        s->op->x.window_failed = true;
        return MSG_DONE;
    }
    while (++op->phase <= 2) {
        bool sent = false;
        for (size_t i = 0; i < n; i++) {
            if (rs_commit_group(s, list[i]) != op->phase)
                continue;
            /* only legacy's answer reaches the client */
            if (!send_stmt_msg(s, op->unit, list[i], m->whole, m->len,
                               list[i] == s->legacy ? REPLY_FORWARD : REPLY_SWALLOW))
                return MSG_WAIT;
            sent = true;
        }
        if (sent)
            return MSG_BUSY;
    }
    after_session_command(s, op->unit, !s->legacy->last.error);
    return MSG_DONE;
}

static backend *secondary_of(session *s, const route_decision *d)
{
    return rs_side_backend(s, d->service, d->primary == ROUTE_LEGACY ? ROUTE_SERVICE : ROUTE_LEGACY);
}

/* Under `continue` a failed mirror must cost the secondary that one write,
 * not the window's others: each write runs under a savepoint, inside a
 * transaction pgtandem begins there when the client has none (committed or
 * rolled back with the client's at Sync). */
#define CONTINUE_SAVEPOINT "pgtandem_continue"

static bool open_savepoint(session *s, backend *b)
{
    if (!b->own_tx && s->tx_status == PG_TX_IDLE) {
        if (!send_internal(s, b, "BEGIN", REPLY_SWALLOW))
            return false;
        b->own_tx = true;
    }
    return send_internal(s, b, "SAVEPOINT " CONTINUE_SAVEPOINT, REPLY_SWALLOW);
}

/* The secondary failed: Sync ends its skipping (its transaction is now
 * aborted), then back to the savepoint. */
static msg_result dual_recover(session *s)
{
    route_op *op = s->op;
    backend *b = op->second;
    if (op->phase == 0) {
        pg_buf sync;
        pg_buf_init(&sync);
        pg_buf_simple(&sync, PG_FE_SYNC);
        bool ok = !sync.failed && backend_send_raw(b, sync.data, sync.len, REPLY_SWALLOW);
        pg_buf_free(&sync);
        if (!ok) {
            session_close(s, "53200", "too many requests in flight");
            return MSG_WAIT;
        }
        op->phase = 1;
        (void)rs_flush_to(s, b);
        return MSG_WAIT;
    }
    if (!backend_idle(b))
        return MSG_WAIT;
    if (b->state == BACKEND_READY &&
        (!send_internal(s, b, "ROLLBACK TO SAVEPOINT " CONTINUE_SAVEPOINT, REPLY_SWALLOW) ||
         !send_internal(s, b, "RELEASE SAVEPOINT " CONTINUE_SAVEPOINT, REPLY_SWALLOW)))
        return MSG_WAIT;
    pg_buf_put(&s->client.out, op->first->captured.data, op->first->captured.len);
    pg_buf_reset(&op->first->captured);
    return MSG_DONE;
}

static msg_result exec_dual(session *s, const msg *m, ext_stmt *st)
{
    route_op *op = s->op;
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n;
    if (!targets_of(s, st, list, &n) || !client_turn(s, NULL))
        return MSG_WAIT;
    pg_execute_msg e;
    if (!pg_decode_execute(m->body, m->body_len, &e)) {
        session_close(s, "08P01", "protocol violation by the client: malformed Execute");
        return MSG_WAIT;
    }
    pg_buf out;
    pg_buf_init(&out);
    if (st->images) {
        /* every row the write touched is needed: no row limit */
        pg_buf_execute(&out, e.portal, 0);
    } else {
        pg_buf_put(&out, m->whole, m->len);
    }
    bool ok = !out.failed && send_ext(s, list[0], out.data, out.len, REPLY_CAPTURE);
    pg_buf_free(&out);
    if (!ok) {
        if (s->state == SESSION_READY)
            session_close(s, "53200", "out of memory");
        return MSG_WAIT;
    }
    st->refs++;
    op->unit = st;
    op->first = list[0];
    op->second = secondary_of(s, &st->dec);
    op->step = ST_DUAL_PRIMARY;
    return MSG_BUSY;
}

/* The primary has run the write: now the secondary, between pgtandem's own
 * statements that mark its connection as applying a mirror. */
static msg_result dual_primary_done(session *s, const msg *m)
{
    route_op *op = s->op;
    ext_stmt *st = op->unit;
    if (!backend_idle(op->first))
        return MSG_WAIT;
    if (op->first->capture_outcome.error) {
        /* refused on the primary: the secondary never sees it */
        pg_buf_put(&s->client.out, op->first->captured.data, op->first->captured.len);
        pg_buf_reset(&op->first->captured);
        fail_window(s);
        return MSG_DONE;
    }
    const pg_buf *run = NULL;
    if (st->images) {
        pg_buf in, client;
        char err[160];
        size_t rows = 0;
        pg_buf_init(&in);
        pg_buf_init(&client);
        pg_buf_init(&op->apply);
        pg_buf_put(&in, st->row_desc.data, st->row_desc.len);
        pg_buf_put(&in, op->first->captured.data, op->first->captured.len);
        bool ok = !in.failed && row_images_build(st->table, st->cls->stmts[0].dml, in.data,
                                                 in.len, false, &client, &op->apply, &rows, err,
                                                 sizeof(err));
        pg_buf_free(&in);
        if (!ok) {
            pg_buf_free(&client);
            session_close(s, "XX000", err);
            return MSG_WAIT;
        }
        /* the client asked for no RowDescription here: drop the rebuilt one */
        size_t skip = 0;
        if (client.len >= 5 && client.data[0] == PG_BE_ROW_DESCRIPTION)
            skip = 1 + (((size_t)client.data[1] << 24) | ((size_t)client.data[2] << 16) |
                        ((size_t)client.data[3] << 8) | client.data[4]);
        pg_buf_reset(&op->first->captured);
        pg_buf_put(&op->first->captured, client.data + skip, client.len - skip);
        pg_buf_free(&client);
        op->primary_rows = rows;
        if (op->apply.len == 0) /* no row changed: nothing to mirror */
            goto deliver;
        run = &op->apply;
    }
    if (s->cfg->on_mirror_failure == MIRROR_CONTINUE && !open_savepoint(s, op->second))
        return MSG_WAIT;
    if (!send_internal(s, op->second, "SELECT pg_catalog.set_config('pgtandem.mirror', 'on', true)",
                       REPLY_SWALLOW) ||
        !(run ? send_ext(s, op->second, run->data, run->len, REPLY_CAPTURE)
              : send_ext(s, op->second, m->whole, m->len, REPLY_CAPTURE)) ||
        !send_internal(s, op->second,
                       "SELECT pg_catalog.set_config('pgtandem.mirror', 'off', true)",
                       REPLY_SWALLOW) ||
        (s->cfg->on_mirror_failure == MIRROR_CONTINUE &&
         !send_internal(s, op->second, "RELEASE SAVEPOINT " CONTINUE_SAVEPOINT, REPLY_SWALLOW)))
        return MSG_WAIT;
    op->step = ST_DUAL_SECONDARY;
    return MSG_BUSY;
deliver:
    pg_buf_put(&s->client.out, op->first->captured.data, op->first->captured.len);
    pg_buf_reset(&op->first->captured);
    return MSG_DONE;
}

/* The secondary's SQLSTATE for the client, except a lost connection: the
 * client's own connection is fine, and 08xxx would tell it otherwise. */
static const char *mirror_sqlstate(const backend_outcome *q)
{
    if (!q->error || strncmp(q->sqlstate, "08", 2) == 0)
        return "XX000";
    return q->sqlstate;
}

static msg_result dual_secondary_done(session *s)
{
    route_op *op = s->op;
    ext_stmt *st = op->unit;
    const classify_stmt *c = &st->cls->stmts[0];
    if (!backend_idle(op->second))
        return MSG_WAIT;
    const backend_outcome *p = &op->first->capture_outcome, *q = &op->second->capture_outcome;
    bool match = st->images ? !q->error && q->rows == op->primary_rows : rs_same_outcome(p, q);
    pg_buf_reset(&op->second->captured);
    if (!match) {
        char tables[256];
        divergence_record(s, st->dec.service, "outcome differs", c->fingerprint,
                          rs_stmt_tables(c, tables, sizeof(tables)), p, q);
        if (s->cfg->on_mirror_failure == MIRROR_FAIL) {
            char qdesc[96], text[700];
            if (st->images && !q->error)
                snprintf(qdesc, sizeof(qdesc), "%llu of %llu rows applied",
                         (unsigned long long)q->rows, (unsigned long long)op->primary_rows);
            snprintf(text, sizeof(text),
                     "pgtandem: the write to %s could not be mirrored to the %s side of service "
                     "%s (%s); it was rolled back on both databases",
                     rs_stmt_tables(c, tables, sizeof(tables)),
                     op->second->service < 0 ? "legacy" : "service",
                     s->cfg->services[st->dec.service].name,
                     q->error ? q->message : st->images ? qdesc : q->tag);
            pg_buf_reset(&op->first->captured);
            client_error(s, mirror_sqlstate(q), text);
            return MSG_DONE;
        }
    }
    if (q->error && s->cfg->on_mirror_failure == MIRROR_CONTINUE &&
        op->second->state == BACKEND_READY) {
        op->phase = 0;
        op->step = ST_DUAL_RECOVER;
        return MSG_BUSY;
    }
    pg_buf_put(&s->client.out, op->first->captured.data, op->first->captured.len);
    pg_buf_reset(&op->first->captured);
    return MSG_DONE;
}

static msg_result on_execute(session *s, const msg *m)
{
    pg_execute_msg e;
    if (!pg_decode_execute(m->body, m->body_len, &e)) {
        session_close(s, "08P01", "protocol violation by the client: malformed Execute");
        return MSG_WAIT;
    }
    ext_portal *p = ext_find_portal(&s->op->x.reg, e.portal);
    if (!p)
        return to_legacy(s, m);
    ext_stmt *st = p->stmt;
    switch (st->dec.action) {
    case ROUTE_RUN_EVERYWHERE:
        return exec_everywhere(s, m, st);
    case ROUTE_RUN_DUAL:
        return exec_dual(s, m, st);
    default: {
        backend *list[CONFIG_MAX_SERVICES + 1];
        size_t n;
        if (!targets_of(s, st, list, &n) || n == 0 || !client_turn(s, list[0]))
            return MSG_WAIT;
        return send_ext(s, list[0], m->whole, m->len, REPLY_FORWARD) ? MSG_DONE : MSG_WAIT;
    }
    }
}

/* -------------------------------------------------------------------- Sync */

static msg_result sync_step(session *s)
{
    route_op *op = s->op;
    route_ext_state *x = &op->x;
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    if (!rs_all_idle(s))
        return MSG_WAIT;
    if (op->step != ST_SYNC) {
        if (x->client_error)
            fail_window(s);
        if (!rs_all_idle(s))
            return MSG_WAIT;
        op->step = ST_SYNC;
        op->phase = -1;
    } else {
        /* the group that just synced: a secondary that could not commit */
        for (size_t i = 0; i < n; i++) {
            backend *b = list[i];
            bool failed = b->last.error || strcmp(b->last.tag, "ROLLBACK") == 0;
            if (!(x->touched & bit_of(b)) || rs_commit_group(s, b) != op->phase ||
                b == s->legacy || !failed || x->window_failed)
                continue;
            divergence_record(s, b->service, "secondary commit failed", "", "", NULL, &b->last);
            if (s->cfg->on_mirror_failure == MIRROR_FAIL && op->phase == 0) {
                pg_buf_error(&s->client.out, false, "40000",
                             "pgtandem: a service database could not commit; the transaction "
                             "was rolled back on both sides");
                fail_window(s);
                return MSG_WAIT; /* the abort goes out before the next group's Sync */
            }
        }
    }
    while (++op->phase <= 2) {
        bool sent = false;
        for (size_t i = 0; i < n; i++) {
            backend *b = list[i];
            if (!(x->touched & bit_of(b)) || rs_commit_group(s, b) != op->phase)
                continue;
            if (b->ext_failed && !x->window_failed && b != s->legacy)
                /* continue policy: the backend's transaction fails with this window */
                divergence_record(s, b->service,
                                  "secondary rolled back the batch it failed in", "", "", NULL,
                                  &b->ext_error);
            pg_buf sync;
            pg_buf_init(&sync);
            pg_buf_simple(&sync, PG_FE_SYNC);
            bool ok = !sync.failed && backend_send_raw(b, sync.data, sync.len, REPLY_SWALLOW);
            pg_buf_free(&sync);
            if (ok && b->own_tx) /* the transaction pgtandem began ends with the client's */
                ok = backend_send_query(b, x->window_failed ? "ROLLBACK" : "COMMIT",
                                        REPLY_SWALLOW);
            b->own_tx = false;
            if (!ok) {
                session_close(s, "53200", "too many requests in flight");
                return MSG_WAIT;
            }
            if (!rs_flush_to(s, b))
                return MSG_WAIT;
            sent = true;
        }
        if (sent)
            return MSG_WAIT;
    }
    /* every backend answered: one ReadyForQuery for the client */
    uint8_t status = s->tx_status;
    for (size_t i = n; i-- > 0;) /* legacy's status wins */
        if (x->touched & bit_of(list[i]))
            status = list[i]->tx_status;
    if (x->window_failed && status != PG_TX_IDLE) {
        /* some backends may still be in a good transaction: end it everywhere */
        s->tx_poisoned = true;
        status = PG_TX_FAILED;
    }
    if (x->window_failed)
        ext_drop_stmt(&x->reg, ""); /* the server may not have it */
    s->tx_status = status;
    if (status == PG_TX_IDLE) {
        ext_drop_portals(&x->reg);
        pg_buf_reset(&s->tx_log);
        pg_buf_reset(&s->tx_session_log);
    }
    pg_buf_ready_for_query(&s->client.out, status);
    x->touched = 0;
    x->window_failed = false;
    x->client_error = false;
    return MSG_DONE;
}

/* ------------------------------------------------------------------ engine */

static bool read_msg(const route_op *op, msg *m)
{
    if (op->pos + 5 > op->request.len)
        return false;
    const uint8_t *p = op->request.data + op->pos;
    size_t len = 1 + (((size_t)p[1] << 24) | ((size_t)p[2] << 16) | ((size_t)p[3] << 8) | p[4]);
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
    case ST_PARSE_IMAGES: return parse_images_done(s);
    case ST_CONFIRM: return confirm_done(s);
    case ST_DESCRIBE_IMAGES: return describe_images_done(s);
    case ST_EXEC_ALL: return exec_all_done(s);
    case ST_EXEC_COMMIT: return exec_commit_step(s, m);
    case ST_EXEC_ABORTED: return exec_aborted_done(s);
    case ST_DUAL_PRIMARY: return dual_primary_done(s, m);
    case ST_DUAL_SECONDARY: return dual_secondary_done(s);
    case ST_DUAL_RECOVER: return dual_recover(s);
    case ST_SYNC: return sync_step(s);
    default: return MSG_DONE;
    }
}

static msg_result start_msg(session *s, const msg *m)
{
    route_ext_state *x = &s->op->x;
    if (m->type == PG_FE_SYNC)
        return sync_step(s);
    if (x->window_failed)
        return MSG_DONE; /* skipped until Sync, as the server does */
    switch (m->type) {
    case PG_FE_PARSE: return on_parse(s, m);
    case PG_FE_BIND: return on_bind(s, m);
    case PG_FE_DESCRIBE: return on_describe(s, m);
    case PG_FE_EXECUTE: return on_execute(s, m);
    case PG_FE_CLOSE: return on_close(s, m);
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
            fail_window(s);
        msg m;
        if (!read_msg(op, &m)) {
            /* a batch that ended with Flush: done when every reply is in */
            if (!rs_all_idle(s))
                return;
            rs_op_done(s);
            return;
        }
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
