/* COPY ... FROM STDIN into a dual-written table, in lock-step like every
 * mirrored write (the argument is at the top of session_route.c):
 *
 *  1. the primary runs the COPY inside a transaction (an autocommit COPY is
 *     wrapped in BEGIN/COMMIT); the client's CopyInResponse comes from it,
 *     and the client's CopyData/CopyDone go to it and into a bounded buffer
 *     (copy_buffer_limit; beyond it the COPY is failed on the primary);
 *  2. once the primary has answered, the secondary runs the same COPY with
 *     the buffered data, under SET LOCAL pgtandem.mirror = on;
 *  3. the outcomes are compared (on_mirror_failure decides on a mismatch),
 *     then the secondary commits before the primary.
 *
 * A COPY that leaves out a column the database fills in (serial, identity,
 * now(), gen_random_uuid()) or whose table has a stamping row trigger would
 * give other rows on each side. It goes through a temporary staging table on
 * the primary (routing/rewrite_copy.h), from which an INSERT ... RETURNING *
 * moves the rows into the table; those rows are mirrored as row images
 * (row_images.h), and the client sees only "COPY n". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_frame.h"
#include "proxy/backend.h"
#include "proxy/catalog.h"
#include "proxy/divergence.h"
#include "proxy/row_images.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"
#include "proxy/two_phase.h"
#include "routing/rewrite_copy.h"

#define STAGE_TABLE "pgtandem_copy_stage"

typedef struct route_copy {
    bool staged;          /* through the staging table, mirrored by row images */
    copy_staging stage;   /* its statements, when staged */
    pg_buf data;          /* the client's COPY messages, kept for the secondary */
    bool receiving;       /* the client got CopyInResponse: its COPY messages are ours */
    bool ended;           /* the client sent CopyDone or CopyFail */
    bool overflow;        /* more than copy_buffer_limit: CopyFail went to the primary */
    char tag[64];         /* the primary's "COPY n" */
} route_copy;

/* COPY's own steps; the commit is route_mirror.c's (MIRROR_*). */
enum copy_step {
    COPY_SEND = 0,
    COPY_PRIMARY = 1,   /* the COPY runs on the primary */
    COPY_STAGED = 2,    /* the staged rows move into the table on the primary */
    COPY_SECONDARY = 3, /* the secondary applies the same rows */
};

void rs_copy_free(route_op *op)
{
    route_copy *c = op->copy;
    if (!c)
        return;
    copy_staging_free(&c->stage);
    pg_buf_free(&c->data);
    free(c);
    op->copy = NULL;
}

/* ------------------------------------------------------------- planning */

static void refuse(session *s, const char *sqlstate, const char *msg)
{
    bool in_tx = s->tx_status != PG_TX_IDLE;
    if (in_tx) /* like a server error, it aborts the client's transaction */
        s->tx_poisoned = true;
    rs_reply_error(s, sqlstate, msg, in_tx ? PG_TX_FAILED : PG_TX_IDLE);
    rs_op_done(s);
}

/* The first column the database would fill in that the COPY leaves out. */
static const char *omitted_generated(const catalog_table *t, const copy_shape *shape)
{
    if (!shape->columns)
        return NULL; /* no list: the data gives every column */
    for (size_t i = 0; i < t->n_generated; i++) {
        bool given = false;
        for (size_t j = 0; j < shape->n_columns && !given; j++)
            given = strcmp(shape->columns[j], t->generated[i]) == 0;
        if (!given)
            return t->generated[i];
    }
    return NULL;
}

void rs_copy_start(session *s, const classify_stmt *st)
{
    route_op *op = s->op;
    const char *sql = (const char *)op->request.data + 5;
    const char *table = st->target.name ? st->target.name : "a dual-written table";
    char msg[600], err[256] = "";
    copy_shape shape;
    if (!copy_shape_read(sql, &shape, err, sizeof(err))) {
        snprintf(msg, sizeof(msg), "pgtandem: can't read this COPY into %s: %s", table, err);
        refuse(s, "0A000", msg);
        return;
    }
    const catalog_table *t = catalog_find(s->px->catalog, st->target.schema, st->target.name);
    bool from_stdin = shape.from_stdin;
    bool staged = t && (op->dec.row_images || t->row_trigger || omitted_generated(t, &shape));
    copy_shape_free(&shape);
    if (!from_stdin) {
        snprintf(msg, sizeof(msg),
                 "pgtandem: COPY into %s from a server file or program is not supported: %s is "
                 "written on both databases and the file is on one server only; send the data "
                 "with COPY ... FROM STDIN (psql's \\copy)",
                 table, table);
        refuse(s, "0A000", msg);
        return;
    }
    if (!t) {
        snprintf(msg, sizeof(msg),
                 "pgtandem: COPY into %s is not supported: the table is not in the catalog "
                 "pgtandem read at start, so the values its database fills in are unknown",
                 table);
        refuse(s, "0A000", msg);
        return;
    }
    route_copy *c = calloc(1, sizeof(*c));
    if (!c) {
        session_close(s, "53200", "out of memory");
        return;
    }
    op->copy = c;
    pg_buf_init(&c->data);
    c->staged = staged;
    if (staged && !copy_staging_build(sql, STAGE_TABLE, &c->stage, err, sizeof(err))) {
        snprintf(msg, sizeof(msg), "pgtandem: this COPY into %s can't be mirrored: %s", table,
                 err);
        refuse(s, "0A000", msg);
        return;
    }
    op->images = staged;
    op->table = t;
    if (!s->services[op->dec.service] && !rs_ensure_backend(s, op->dec.service) &&
        s->state == SESSION_CLOSED)
        return;
    op->kind = OP_COPY_DUAL;
    op->first = rs_side_backend(s, op->dec.service, op->dec.primary);
    op->second = rs_side_backend(s, op->dec.service,
                                 op->dec.primary == ROUTE_LEGACY ? ROUTE_SERVICE : ROUTE_LEGACY);
}

/* ------------------------------------------------------ the client's data */

static bool is_copy_message(uint8_t type)
{
    return type == PG_FE_COPY_DATA || type == PG_FE_COPY_DONE || type == PG_FE_COPY_FAIL;
}

/* Past the limit the COPY fails on the primary (nothing is written) and the
 * rest of the client's data is dropped. */
static void overflow(session *s, route_copy *c, pg_buf *to_primary)
{
    char why[200];
    snprintf(why, sizeof(why), "pgtandem: more than copy_buffer_limit (%d bytes) of COPY data",
             s->cfg->copy_buffer_limit);
    pg_buf_begin_msg(to_primary, PG_FE_COPY_FAIL);
    pg_buf_put_cstring(to_primary, why);
    pg_buf_end_msg(to_primary);
    pg_buf_free(&c->data);
    c->overflow = true;
}

/* Moves the client's COPY messages that have arrived to the primary (and
 * into the buffer for the secondary); false when the session closed. */
static bool take_client_data(session *s)
{
    route_op *op = s->op;
    route_copy *c = op->copy;
    pg_buf *in = &s->client.in, *out = &op->first->s.out;
    size_t pos = 0, limit = (size_t)s->cfg->copy_buffer_limit;
    while (c->receiving && !c->ended && pos < in->len) {
        pg_frame f;
        const char *err = NULL;
        if (pg_frame_fe(in->data + pos, in->len - pos, &f, &err) != PG_FRAME_OK)
            break; /* incomplete, or invalid: take_request reports it later */
        size_t whole = f.hdr_len + f.body_len;
        if (in->len - pos < whole) {
            if (!pg_buf_reserve(in, whole - (in->len - pos)))
                session_close(s, "53200", "out of memory");
            break;
        }
        const uint8_t *m = in->data + pos;
        if (!is_copy_message(f.type)) {
            /* the server ignores Sync and Flush during COPY and fails it on anything else */
            pg_buf_put(out, m, whole);
            c->ended = f.type != PG_FE_SYNC && f.type != PG_FE_FLUSH;
        } else if (!c->overflow && c->data.len + whole > limit) {
            overflow(s, c, out);
        } else if (!c->overflow) {
            pg_buf_put(out, m, whole);
            pg_buf_put(&c->data, m, whole);
        }
        if (f.type == PG_FE_COPY_DONE || f.type == PG_FE_COPY_FAIL)
            c->ended = true;
        pos += whole;
    }
    if (s->state != SESSION_READY)
        return false;
    if (c->data.failed || out->failed) {
        session_close(s, "53200", "out of memory");
        return false;
    }
    if (pos) {
        pg_buf_consume(in, pos);
        if (!rs_flush_to(s, op->first))
            return false;
        if (stream_pending(&op->first->s) > STREAM_HIGH_WATER)
            stream_pause_read(&s->client);
    }
    return s->state == SESSION_READY;
}

void rs_copy_client_input(session *s)
{
    if (take_client_data(s))
        rs_pump(s);
}

bool rs_copy_in_response(session *s, backend *b, const uint8_t *msg, size_t len)
{
    route_op *op = s->op;
    if (op->kind != OP_COPY_DUAL || b != op->first || op->step != COPY_PRIMARY ||
        op->copy->receiving)
        return false;
    pg_buf_put(&s->client.out, msg, len);
    op->copy->receiving = true;
    /* a client may send its data without waiting for this (asyncpg does):
     * what came before it is waiting in the client's buffer, which may have
     * filled up and stopped reading from the client */
    if (take_client_data(s) && s->client.in.len <= STREAM_HIGH_WATER)
        stream_resume_read(&s->client);
    return true;
}

/* ------------------------------------------------------------------ steps */

static const char *copy_tables(session *s, char *buf, size_t len)
{
    return rs_stmt_tables(&s->op->cls->stmts[0], buf, len);
}

/* The primary refused the COPY (or pgtandem failed it): the secondary never
 * sees it; the client gets the error as after any failed write. */
static void primary_refused(session *s)
{
    route_op *op = s->op;
    if (op->copy->overflow) {
        char tables[256], m[400];
        snprintf(m, sizeof(m),
                 "pgtandem: the COPY into %s sent more than copy_buffer_limit (%d bytes), the "
                 "most pgtandem holds to replay a COPY on the other database; nothing was "
                 "written. Split the data into smaller COPYs or raise copy_buffer_limit",
                 copy_tables(s, tables, sizeof(tables)), s->cfg->copy_buffer_limit);
        pg_buf_reset(&op->first->captured);
        pg_buf_error(&op->first->captured, false, "54000", m);
    }
    if (op->wrapped) {
        if (rs_send_query(s, op->first, "ROLLBACK", REPLY_SWALLOW))
            rs_flush_to(s, op->first);
        op->step = MIRROR_REFUSED;
        return;
    }
    /* the client's transaction is aborted on every backend, not only on the
     * primary: a later statement routed elsewhere must not run in it */
    s->tx_poisoned = true;
    rs_deliver_captured(s, op->first, op->first->rx->capture_outcome.tx_status);
    rs_op_done(s);
}

static void start_primary(session *s)
{
    route_op *op = s->op;
    route_copy *c = op->copy;
    op->wrapped = s->tx_status == PG_TX_IDLE;
    if (op->wrapped && !rs_send_query(s, op->first, "BEGIN", REPLY_SWALLOW))
        return;
    if (c->staged ? !rs_send_query(s, op->first, c->stage.create, REPLY_SWALLOW) ||
                        !rs_send_query(s, op->first, c->stage.copy, REPLY_CAPTURE)
                  : !backend_send_raw(op->first, op->request.data, op->request.len,
                                      REPLY_CAPTURE))
        return;
    op->step = COPY_PRIMARY;
    rs_flush_to(s, op->first);
}

/* The staged rows, as the primary returned them: what the secondary applies. */
static bool take_row_images(session *s)
{
    route_op *op = s->op;
    pg_buf client;
    char err[160];
    size_t rows = 0;
    pg_buf_init(&client);
    pg_buf_init(&op->apply);
    row_images_opts o;
    rs_apply_opts(s, true, &o);
    op->pinned = true; /* the staged INSERT ran under ROW_IMAGES_PIN */
    bool ok = row_images_build(op->table, CLASSIFY_DML_INSERT, op->first->captured.data,
                               op->first->captured.len, &o, &client, &op->apply, &rows,
                               &op->primary_digest, err, sizeof(err));
    pg_buf_free(&client); /* the client asked for no rows: it gets "COPY n" */
    if (!ok) {
        session_close(s, "XX000", err);
        return false;
    }
    op->primary_rows = rows;
    pg_buf_reset(&op->first->captured);
    pg_buf_begin_msg(&op->first->captured, PG_BE_COMMAND_COMPLETE);
    pg_buf_put_cstring(&op->first->captured, op->copy->tag);
    pg_buf_end_msg(&op->first->captured);
    return true;
}

/* Step 2 of lock-step: the secondary gets the same rows while the primary
 * holds their locks. Under continue, inside the client's transaction, a
 * savepoint lets a failed mirror cost the secondary only this COPY. */
static void start_secondary(session *s)
{
    route_op *op = s->op;
    route_copy *c = op->copy;
    const char *pre, *post;
    rs_mirror_guards(s, &pre, &post);
    if (!rs_send_query(s, op->second, pre, REPLY_SWALLOW))
        return;
    if (c->staged) {
        if ((op->verify && !rs_send_query(s, op->second, ROW_IMAGES_PIN, REPLY_SWALLOW)) ||
            !backend_send_raw(op->second, op->apply.data, op->apply.len, REPLY_CAPTURE) ||
            (op->verify && !rs_send_query(s, op->second, ROW_IMAGES_UNPIN, REPLY_SWALLOW)))
            return;
    } else {
        /* the client's COPY, then its data and CopyDone right behind it */
        if (!backend_send_raw(op->second, op->request.data, op->request.len, REPLY_CAPTURE))
            return;
        if (op->second->state != BACKEND_CLOSED)
            pg_buf_put(&op->second->s.out, c->data.data, c->data.len);
        pg_buf_free(&c->data);
        if (op->second->s.out.failed) {
            session_close(s, "53200", "out of memory");
            return;
        }
    }
    if (!rs_send_query(s, op->second, post, REPLY_SWALLOW))
        return;
    op->step = COPY_SECONDARY;
    rs_flush_to(s, op->second);
}

/* The primary's COPY (or its staged INSERT) is done: on to the secondary. */
static void primary_done(session *s)
{
    route_op *op = s->op;
    if (op->images && op->apply.len == 0) { /* no row: nothing to mirror */
        rs_mirror_nothing(s);
        return;
    }
    start_secondary(s);
}

void rs_step_copy(session *s)
{
    route_op *op = s->op;
    route_copy *c = op->copy;
    switch (op->step) {
    case COPY_SEND:
        if (!rs_ensure_backend(s, -1) || !rs_ensure_backend(s, op->dec.service))
            return;
        start_primary(s);
        return;
    case COPY_PRIMARY:
        if (!backend_idle(op->first))
            return;
        if (op->first->rx->capture_outcome.error || c->overflow) {
            primary_refused(s);
            return;
        }
        snprintf(c->tag, sizeof(c->tag), "%s", op->first->rx->capture_outcome.tag);
        if (!c->staged) {
            primary_done(s);
            return;
        }
        pg_buf_reset(&op->first->captured); /* the client gets "COPY n" alone */
        if (!rs_send_query(s, op->first, ROW_IMAGES_PIN, REPLY_SWALLOW) ||
            !rs_send_query(s, op->first, c->stage.insert, REPLY_CAPTURE) ||
            !rs_send_query(s, op->first, ROW_IMAGES_UNPIN, REPLY_SWALLOW) ||
            !rs_send_query(s, op->first, c->stage.drop, REPLY_SWALLOW))
            return;
        op->step = COPY_STAGED;
        rs_flush_to(s, op->first);
        return;
    case COPY_STAGED:
        if (!backend_idle(op->first))
            return;
        if (op->first->rx->capture_outcome.error) {
            primary_refused(s);
            return;
        }
        if (!take_row_images(s))
            return;
        primary_done(s);
        return;
    case COPY_SECONDARY:
        if (backend_idle(op->second))
            rs_mirror_compare(s);
        return;
    default:
        rs_mirror_step(s);
        return;
    }
}
