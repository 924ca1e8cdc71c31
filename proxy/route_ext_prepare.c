/* Extended protocol, the messages about statements and portals: Parse
 * (the route is decided here and kept), Bind, Describe, Close. See
 * route_ext.c for the engine that calls them. */
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
#include "proxy/lex_track.h"
#include "proxy/log.h"
#include "proxy/row_images.h"
#include "proxy/route_ext_int.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"

/* ------------------------------------------------------------------- Parse */

static bool decide(session *s, ext_stmt *st, char *why, size_t why_len, const char **sqlstate)
{
    const classify_stmt *c = &st->cls->stmts[0];
    /* before the count: several statements to pgtandem may be one to the server */
    if (lex_refuses(s, st->sql, st->cls, why, why_len)) {
        *sqlstate = "0A000";
        return false;
    }
    if (st->cls->n_stmts != 1) {
        /* empty, or several statements: legacy refuses or answers it */
        memset(&st->dec, 0, sizeof(st->dec));
        st->dec.action = ROUTE_RUN_LEGACY;
        st->dec.service = -1;
        return true;
    }
    if (rs_tx_aborted(s) && !rs_aborted_takes(s, c)) {
        *sqlstate = "25P02";
        snprintf(why, why_len, "%s", rs_aborted_text(s));
        return false;
    }
    route_decide(s->cfg->routes, c, &st->dec);
    rs_route_cursor(s, c, &st->dec);
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

msg_result ext_on_parse(session *s, const msg *m)
{
    route_op *op = s->op;
    pg_parse_msg p;
    if (!pg_decode_parse(m->body, m->body_len, &p)) {
        return ext_malformed(s, "Parse");
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
        if (!ext_client_turn(s, NULL))
            return MSG_WAIT;
        char m2[200];
        snprintf(m2, sizeof(m2), "prepared statement \"%.100s\" already exists", p.name);
        ext_client_error(s, "42P05", m2);
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
        if (!ext_client_turn(s, NULL))
            return MSG_WAIT;
        ext_client_error(s, sqlstate, why);
        return MSG_DONE;
    }
    if (!ext_targets_of(s, st, list, &n) || !ext_client_turn(s, list[0])) {
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
                  ext_send(s, list[0], out.data, out.len, REPLY_CAPTURE);
        pg_buf_free(&out);
        if (!ok) {
            if (s->state == SESSION_READY)
                session_close(s, "53200", "out of memory");
            return MSG_WAIT;
        }
        st->prepared_on |= ext_bit_of(list[0]);
        op->target = list[0];
        op->step = ST_PARSE_IMAGES;
        return MSG_BUSY;
    }
    for (size_t i = 0; i < n; i++) {
        if (!ext_send(s, list[i], m->whole, m->len, i == 0 ? REPLY_FORWARD : REPLY_SWALLOW))
            return MSG_WAIT;
        st->prepared_on |= ext_bit_of(list[i]);
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
msg_result ext_parse_images_done(session *s)
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
        size_t len = pg_frame_whole_len(cap->data + pos);
        const uint8_t *whole = cap->data + pos;
        if ((type == PG_BE_PARSE_COMPLETE && !op->split) || type == PG_BE_ERROR_RESPONSE ||
            type == PG_BE_NOTICE_RESPONSE)
            pg_buf_put(&s->client.out, whole, len);
        if (type == PG_BE_PARSE_COMPLETE)
            parsed = true;
        if (type == PG_BE_ROW_DESCRIPTION) {
            pg_buf_reset(&st->row_desc);
            pg_buf_put(&st->row_desc, whole, len);
            pg_reader r;
            pg_reader_init(&r, whole + 5, len - 5);
            int16_t cols = pg_read_int16(&r);
            if (cols >= 0 && (size_t)cols >= st->table->n_columns)
                st->client_cols = (size_t)cols - st->table->n_columns;
        }
        pos += len;
    }
    pg_buf_reset(&b->captured);
    if (!parsed || b->rx->capture_outcome.error || st->row_desc.len == 0) {
        ext_drop_stmt(&op->x.reg, st->name);
        if (!b->rx->capture_outcome.error)
            pg_buf_error(&s->client.out, false, "XX000",
                         "pgtandem: the rewritten statement did not describe its rows");
        ext_fail_window(s);
    }
    return MSG_DONE;
}

/* A named Parse (or Close) has its answer: undo what the server refused. */
msg_result ext_confirm_done(session *s)
{
    route_op *op = s->op;
    if (!rs_all_idle(s))
        return MSG_WAIT;
    ext_stmt *st = op->unit;
    if (st && op->target->rx->last.error) {
        ext_drop_stmt(&op->x.reg, st->name);
    } else if (st) {
        /* a backend that could not prepare it will be sent it again */
        backend *list[CONFIG_MAX_SERVICES + 1];
        size_t n = rs_participants(s, list);
        for (size_t i = 0; i < n; i++)
            if (list[i]->rx->last.error)
                st->prepared_on &= ~ext_bit_of(list[i]);
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

msg_result ext_on_bind(session *s, const msg *m)
{
    route_op *op = s->op;
    pg_bind_msg b;
    if (!pg_decode_bind(m->body, m->body_len, &b)) {
        return ext_malformed(s, "Bind");
    }
    ext_stmt *st = ext_find_stmt(&op->x.reg, b.statement);
    if (!st)
        return ext_to_legacy(s, m);
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n;
    if (!ext_targets_of(s, st, list, &n) || n == 0 || !ext_client_turn(s, list[0]))
        return MSG_WAIT;
    if (!ext_put_portal(&op->x.reg, b.portal, st)) {
        session_close(s, "53200", "out of memory");
        return MSG_WAIT;
    }
    if (st->images) {
        pg_buf out;
        pg_buf_init(&out);
        bool ok = put_images_bind(&out, st, m, &b) &&
                  ext_send_to_targets(s, st, list, 1, out.data, out.len);
        pg_buf_free(&out);
        if (!ok && s->state == SESSION_READY)
            session_close(s, "53200", "out of memory");
        return ok ? MSG_DONE : MSG_WAIT;
    }
    return ext_send_to_targets(s, st, list, n, m->whole, m->len) ? MSG_DONE : MSG_WAIT;
}

/* ---------------------------------------------------------------- Describe */

static ext_stmt *stmt_of_target(session *s, uint8_t kind, const char *name)
{
    if (kind == 'S')
        return ext_find_stmt(&s->op->x.reg, name);
    ext_portal *p = ext_find_portal(&s->op->x.reg, name);
    return p ? p->stmt : NULL;
}

msg_result ext_on_describe(session *s, const msg *m)
{
    route_op *op = s->op;
    pg_target_msg t;
    if (!pg_decode_target(m->body, m->body_len, &t)) {
        return ext_malformed(s, "Describe");
    }
    ext_stmt *st = stmt_of_target(s, t.kind, t.name);
    if (!st)
        return t.kind == 'P' ? ext_to_cursor(s, m, t.name) : ext_to_legacy(s, m);
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n;
    if (!ext_targets_of(s, st, list, &n) || n == 0 || !ext_client_turn(s, list[0]))
        return MSG_WAIT;
    if (!st->images)
        return ext_send_to_targets(s, st, list, 1, m->whole, m->len) ? MSG_DONE : MSG_WAIT;
    if (!ext_send(s, list[0], m->whole, m->len, REPLY_CAPTURE))
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

msg_result ext_describe_images_done(session *s)
{
    route_op *op = s->op;
    backend *b = op->target;
    if (!backend_idle(b))
        return MSG_WAIT;
    const pg_buf *cap = &b->captured;
    size_t pos = 0;
    while (pos + 5 <= cap->len) {
        size_t len = pg_frame_whole_len(cap->data + pos);
        if (cap->data[pos] == PG_BE_ROW_DESCRIPTION && !(op->split && !op->unit->client_cols))
            put_cut_row_description(&s->client.out, cap->data + pos, len,
                                    op->unit->client_cols);
        else if (cap->data[pos] == PG_BE_ROW_DESCRIPTION)
            ; /* NoData, which a simple query does not have */
        else
            pg_buf_put(&s->client.out, cap->data + pos, len);
        pos += len;
    }
    pg_buf_reset(&b->captured);
    return MSG_DONE;
}

/* ------------------------------------------------------------------- Close */

msg_result ext_on_close(session *s, const msg *m)
{
    route_op *op = s->op;
    pg_target_msg t;
    if (!pg_decode_target(m->body, m->body_len, &t)) {
        return ext_malformed(s, "Close");
    }
    if (t.kind == 'S' && t.name[0] && !rs_all_idle(s))
        return MSG_WAIT; /* the registry must not run ahead of a failed window */
    if (op->x.client_error)
        return MSG_DONE;
    ext_stmt *st = stmt_of_target(s, t.kind, t.name);
    int where;
    if (!st && t.kind == 'P' && t.name[0] && ext_find_cursor(&op->x.reg, t.name, &where)) {
        msg_result r = ext_to_cursor(s, m, t.name);
        if (r == MSG_DONE)
            ext_drop_cursor(&op->x.reg, t.name);
        return r;
    }
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list), k = 0;
    backend *on[CONFIG_MAX_SERVICES + 1];
    for (size_t i = 0; st && i < n; i++)
        if (st->prepared_on & ext_bit_of(list[i]))
            on[k++] = list[i];
    if (!ext_client_turn(s, k ? on[0] : NULL))
        return MSG_WAIT;
    for (size_t i = 0; i < k; i++)
        if (!ext_send(s, on[i], m->whole, m->len, i == 0 ? REPLY_FORWARD : REPLY_SWALLOW))
            return MSG_WAIT;
    if (k == 0) /* nowhere to close: PostgreSQL answers the same */
        pg_buf_simple(&s->client.out, PG_BE_CLOSE_COMPLETE);
    if (t.kind == 'S')
        ext_drop_stmt(&op->x.reg, t.name);
    else
        ext_drop_portal(&op->x.reg, t.name);
    return MSG_DONE;
}

