/* Routed sessions, used when the config names services. The client's
 * requests are taken one at a time (a simple Query, or an extended-protocol
 * batch up to Sync or Flush), classified, routed (routing/route.h) and run:
 * on one backend, on every backend taking part in the session, or on the two
 * sides of a service in lock-step.
 *
 * Lock-step, and why it keeps both sides in the same order: a mirrored write
 * runs on the primary first, inside a transaction (an autocommit write is
 * wrapped in BEGIN/COMMIT there), so it holds the primary's row locks. Only
 * then does it run on the secondary, and the secondary commits before the
 * primary does. A second writer of the same rows blocks on the primary's
 * locks until the first has committed on both sides, so the secondary applies
 * conflicting writes in the primary's order. What this does not cover: a
 * failure of the primary's COMMIT after the secondary committed (recorded as
 * a divergence), and writes made by code pgtandem can't see (DO blocks,
 * functions, triggers that write other tables), which run on legacy only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"
#include "proxy/backend.h"
#include "proxy/catalog.h"
#include "proxy/divergence.h"
#include "proxy/log.h"
#include "proxy/row_images.h"
#include "routing/rewrite.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"


/* Messages at least this large may pass to the client before they are complete. */
#define ROUTE_STREAM_THRESHOLD (64u * 1024u)

/* --------------------------------------------------------- taking requests */

static void reject(session *s, const char *sqlstate, const char *msg)
{
    bool in_tx = s->tx_status != PG_TX_IDLE;
    if (in_tx) /* like a server error, it aborts the client's transaction */
        s->tx_poisoned = true;
    rs_reply_error(s, sqlstate, msg, in_tx ? PG_TX_FAILED : PG_TX_IDLE);
}

/* In a transaction pgtandem aborted, only the end of it is accepted. */
static bool poisoned_request(session *s, const classify_stmt *st)
{
    if (st->kind == CLASSIFY_TX_CONTROL &&
        (st->tx == CLASSIFY_TX_COMMIT || st->tx == CLASSIFY_TX_ROLLBACK)) {
        s->op->kind = OP_COMMIT; /* rolls back everywhere, answers ROLLBACK */
        return false;
    }
    rs_reply_error(s, "25P02",
                "current transaction is aborted, commands ignored until end of transaction block",
                PG_TX_FAILED);
    return true;
}

/* The router judges from the text alone; the catalog knows which columns a
 * database fills in itself and which tables have triggers that may stamp
 * values. Either makes a text mirror produce different rows on each side. */
static bool generates_values(session *s, const classify_stmt *st)
{
    if (!st->target.name || st->n_writes > 1)
        return st->n_writes > 0; /* writes through WITH: judge none of them as text */
    const catalog_table *t = catalog_find(s->px->catalog, st->target.schema, st->target.name);
    if (!t)
        return true; /* unknown to the catalog: assume the worst */
    if (st->insert.present) {
        if (t->row_trigger || !st->insert.columns || st->insert.uses_default ||
            st->insert.default_values || st->insert.from_select)
            return true;
        for (size_t i = 0; i < t->n_generated; i++) {
            bool given = false;
            for (size_t j = 0; j < st->insert.n_columns && !given; j++)
                given = strcmp(st->insert.columns[j], t->generated[i]) == 0;
            if (!given)
                return true;
        }
        return false;
    }
    /* UPDATE and MERGE fire BEFORE UPDATE triggers; a DELETE generates nothing;
     * COPY FROM fills defaults like an INSERT without a column list */
    switch (st->dml) {
    case CLASSIFY_DML_DELETE: return false;
    case CLASSIFY_DML_UPDATE: return t->row_trigger;
    default: return true;
    }
}

/* A write whose text would give different rows on each side is mirrored by
 * its row images: the primary returns every column of the rows it changed,
 * the secondary applies those rows by primary key. Refuses (with the reason)
 * what can't be pinned that way. */
static bool plan_row_images(session *s, const classify_stmt *st)
{
    route_op *op = s->op;
    const catalog_table *t =
        st->target.name ? catalog_find(s->px->catalog, st->target.schema, st->target.name) : NULL;
    char m[512], err[256] = "";
    const char *why = NULL;
    if (st->n_writes != 1 || !t)
        why = "it writes through WITH or a table pgtandem does not know";
    else if (st->dml != CLASSIFY_DML_INSERT && st->dml != CLASSIFY_DML_UPDATE &&
             st->dml != CLASSIFY_DML_DELETE)
        why = "only INSERT, UPDATE and DELETE can be mirrored by row images (not MERGE or COPY)";
    else if (t->n_pkey == 0 &&
             (st->dml != CLASSIFY_DML_INSERT || st->insert.on_conflict != CLASSIFY_ON_CONFLICT_NONE))
        /* new rows can be copied as they are; changed ones must be found again */
        why = "the table has no primary key, so the rows it changes can't be pinned";
    else if (!(op->rewritten = rewrite_returning_all((const char *)op->request.data + 5, err,
                                                     sizeof(err))))
        why = err;
    if (why) {
        snprintf(m, sizeof(m),
                 "pgtandem: this write to %s generates values on each database and can't be "
                 "mirrored: %s",
                 st->target.name ? st->target.name : "a dual-written table", why);
        reject(s, "0A000", m);
        return false;
    }
    op->images = true;
    op->table = t;
    return true;
}

static void start_query(session *s, const uint8_t *msg, size_t len)
{
    route_op *op = s->op;
    const char *sql = (const char *)msg + 5;
    op->cls = classify_cache_get(s->px->classify, sql);
    if (!op->cls) {
        session_close(s, "53200", "out of memory");
        return;
    }
    pg_buf_init(&op->request);
    pg_buf_put(&op->request, msg, len);
    const classify_stmt *st = &op->cls->stmts[0];
    if (s->tx_poisoned) {
        if (poisoned_request(s, st))
            rs_op_done(s);
        return;
    }
    route_decide(s->cfg->routes, st, &op->dec);
    for (size_t i = 1; i < op->cls->n_stmts; i++) {
        route_decision other;
        route_decide(s->cfg->routes, &op->cls->stmts[i], &other);
        if (other.action != ROUTE_RUN_LEGACY || op->dec.action != ROUTE_RUN_LEGACY) {
            reject(s, "0A000",
                   "pgtandem: a query string with several statements that touch migrated "
                   "tables is not supported yet; send the statements one at a time");
            rs_op_done(s);
            return;
        }
    }
    switch (op->dec.action) {
    case ROUTE_RUN_LEGACY:
        op->kind = OP_SINGLE;
        op->first = s->legacy;
        break;
    case ROUTE_RUN_SERVICE:
        op->kind = OP_SINGLE;
        op->first = rs_side_backend(s, op->dec.service, ROUTE_SERVICE);
        if (!op->first && !rs_ensure_backend(s, op->dec.service) && s->state == SESSION_CLOSED)
            return;
        op->first = rs_side_backend(s, op->dec.service, ROUTE_SERVICE);
        break;
    case ROUTE_RUN_PRIMARY:
        op->kind = OP_SINGLE;
        if (op->dec.primary == ROUTE_SERVICE && !s->services[op->dec.service] &&
            !rs_ensure_backend(s, op->dec.service) && s->state == SESSION_CLOSED)
            return;
        op->first = rs_side_backend(s, op->dec.service, op->dec.primary);
        break;
    case ROUTE_RUN_EVERYWHERE:
        op->kind = st->kind == CLASSIFY_TX_CONTROL && st->tx == CLASSIFY_TX_COMMIT &&
                           s->tx_status != PG_TX_IDLE
                       ? OP_COMMIT
                       : OP_ALL;
        break;
    case ROUTE_RUN_DUAL:
        if ((op->dec.row_images || generates_values(s, st)) && !plan_row_images(s, st)) {
            rs_op_done(s);
            return;
        }
        if (!s->services[op->dec.service] && !rs_ensure_backend(s, op->dec.service) &&
            s->state == SESSION_CLOSED)
            return;
        op->kind = OP_DUAL;
        op->first = rs_side_backend(s, op->dec.service, op->dec.primary);
        op->second = rs_side_backend(s, op->dec.service,
                                  op->dec.primary == ROUTE_LEGACY ? ROUTE_SERVICE : ROUTE_LEGACY);
        break;
    case ROUTE_REJECT:
        reject(s, op->dec.sqlstate, op->dec.message);
        rs_op_done(s);
        return;
    }
}

/* Extended protocol: until routing of Parse lands, a batch runs on legacy
 * when every statement it parses belongs there, and is refused otherwise. */
static bool any_service_joined(const session *s)
{
    for (size_t i = 0; i < s->cfg->n_services; i++)
        if (s->services[i])
            return true;
    return false;
}

static bool batch_routes_to_legacy(session *s, const uint8_t *p, size_t len, char *why,
                                   size_t why_len)
{
    size_t pos = 0;
    while (pos < len) {
        uint8_t type = p[pos];
        size_t mlen = ((size_t)p[pos + 1] << 24) | ((size_t)p[pos + 2] << 16) |
                      ((size_t)p[pos + 3] << 8) | p[pos + 4];
        if (type == PG_FE_PARSE) {
            const char *name = (const char *)p + pos + 5;
            const char *sql = name + strlen(name) + 1;
            const classify_result *r = classify_cache_get(s->px->classify, sql);
            if (!r)
                return false;
            bool ok = true;
            for (size_t i = 0; ok && i < r->n_stmts; i++) {
                route_decision d;
                route_decide(s->cfg->routes, &r->stmts[i], &d);
                /* session and transaction commands may run on legacy alone
                 * while no service database takes part in the session */
                ok = d.action == ROUTE_RUN_LEGACY ||
                     (d.action == ROUTE_RUN_EVERYWHERE && !any_service_joined(s));
            }
            classify_result_free(r);
            if (!ok) {
                snprintf(why, why_len,
                         "pgtandem: the extended query protocol is not supported yet for "
                         "statements that must run on a service database (\"%.80s\")",
                         sql);
                return false;
            }
        }
        pos += 1 + mlen;
    }
    return true;
}

/* Takes the next whole request from the client, if there is one. */
static void take_request(session *s)
{
    pg_buf *in = &s->client.in;
    size_t pos = 0;
    bool batch = false;
    while (pos < in->len) {
        pg_frame f;
        const char *err = NULL;
        pg_frame_status st = pg_frame_fe(in->data + pos, in->len - pos, &f, &err);
        if (st == PG_FRAME_INCOMPLETE)
            break;
        if (st == PG_FRAME_INVALID) {
            session_close(s, "08P01", err);
            return;
        }
        size_t whole = f.hdr_len + f.body_len;
        if (in->len - pos < whole) {
            if (!pg_buf_reserve(in, whole - (in->len - pos)))
                session_close(s, "53200", "out of memory");
            return;
        }
        if (!pg_fe_check(f.type, in->data + pos + f.hdr_len, f.body_len, &err)) {
            char m[160];
            snprintf(m, sizeof(m), "protocol violation by the client: %s", err);
            session_close(s, "08P01", m);
            return;
        }
        if (f.type == PG_FE_TERMINATE) {
            session_close(s, NULL, "client terminated the session");
            return;
        }
        if (s->skip_to_sync) {
            pg_buf_consume(in, pos + whole);
            pos = 0;
            if (f.type == PG_FE_SYNC) {
                s->skip_to_sync = false;
                pg_buf_ready_for_query(&s->client.out, s->tx_status);
            }
            continue;
        }
        if (f.type == PG_FE_QUERY && !batch) {
            uint8_t *copy = malloc(whole);
            if (!copy) {
                session_close(s, "53200", "out of memory");
                return;
            }
            memcpy(copy, in->data, whole);
            pg_buf_consume(in, whole);
            start_query(s, copy, whole);
            free(copy);
            return;
        }
        if (f.type == PG_FE_COPY_DATA || f.type == PG_FE_COPY_DONE || f.type == PG_FE_COPY_FAIL) {
            /* stray COPY messages: the server ignores them after a failed COPY */
            pg_buf_put(&s->legacy->s.out, in->data, whole);
            pg_buf_consume(in, whole);
            pos = 0;
            rs_flush_to(s, s->legacy);
            continue;
        }
        batch = true;
        pos += whole;
        if (f.type == PG_FE_SYNC || f.type == PG_FE_FLUSH || f.type == PG_FE_FUNCTION_CALL) {
            char why[256];
            bool synced = f.type != PG_FE_FLUSH;
            const char *state = "0A000";
            if (s->tx_poisoned) {
                state = "25P02";
                snprintf(why, sizeof(why), "current transaction is aborted, commands ignored "
                                           "until end of transaction block");
            }
            if (s->tx_poisoned || !batch_routes_to_legacy(s, in->data, pos, why, sizeof(why))) {
                /* like a server error, a refusal aborts the client's transaction */
                if (s->tx_status != PG_TX_IDLE) {
                    s->tx_poisoned = true;
                    s->tx_status = PG_TX_FAILED;
                }
                pg_buf_error(&s->client.out, false, state, why);
                if (synced)
                    pg_buf_ready_for_query(&s->client.out, s->tx_status);
                else
                    s->skip_to_sync = true;
                pg_buf_consume(in, pos);
                return;
            }
            if (synced) {
                route_op *op = s->op;
                op->kind = OP_SINGLE;
                op->first = s->legacy;
                op->step = 0;
                pg_buf_init(&op->request);
                pg_buf_put(&op->request, in->data, pos);
            } else {
                /* replies to a Flush come without a ReadyForQuery */
                pg_buf_put(&s->legacy->s.out, in->data, pos);
                rs_flush_to(s, s->legacy);
            }
            pg_buf_consume(in, pos);
            return;
        }
    }
}

/* Runs the current request as far as it can go, then takes the next. */
void rs_pump(session *s)
{
    for (;;) {
        if (s->state != SESSION_READY)
            return;
        route_op *op = s->op;
        switch (op->kind) {
        case OP_SINGLE: rs_step_single(s); break;
        case OP_ALL: rs_step_all(s); break;
        case OP_COMMIT: rs_step_commit(s); break;
        case OP_DUAL: rs_step_dual(s); break;
        default: break;
        }
        if (s->state != SESSION_READY)
            return;
        if (op->kind != OP_NONE)
            break;
        size_t before = s->client.in.len;
        take_request(s);
        if (s->state != SESSION_READY)
            return;
        if (op->kind == OP_NONE && s->client.in.len == before)
            break; /* nothing whole to take */
    }
    if (!stream_flush(&s->client)) {
        session_close(s, NULL, "client connection lost");
        return;
    }
    /* a client that pipelines faster than we answer waits for us */
    if (s->client.in.len > STREAM_HIGH_WATER)
        stream_pause_read(&s->client);
    else
        stream_resume_read(&s->client);
}

void session_route_client_input(session *s)
{
    /* COPY data from the client belongs to the request in flight */
    route_op *op = s->op;
    if (op->kind == OP_SINGLE && op->step == 1) {
        pg_buf *in = &s->client.in;
        size_t pos = 0;
        while (pos < in->len) {
            pg_frame f;
            const char *err = NULL;
            if (pg_frame_fe(in->data + pos, in->len - pos, &f, &err) != PG_FRAME_OK)
                break;
            if (f.type != PG_FE_COPY_DATA && f.type != PG_FE_COPY_DONE &&
                f.type != PG_FE_COPY_FAIL)
                break;
            size_t whole = f.hdr_len + f.body_len;
            if (in->len - pos < whole) {
                if (!pg_buf_reserve(in, whole))
                    session_close(s, "53200", "out of memory");
                break;
            }
            pos += whole;
        }
        if (pos) {
            pg_buf_put(&op->first->s.out, in->data, pos);
            pg_buf_consume(in, pos);
            if (!rs_flush_to(s, op->first))
                return;
            if (stream_pending(&op->first->s) > STREAM_HIGH_WATER)
                stream_pause_read(&s->client);
        }
    }
    rs_pump(s);
}

/* ------------------------------------------------------- backend replies */

static void note_reply(backend *b, uint8_t type, const uint8_t *body, size_t len)
{
    if (type == PG_BE_ERROR_RESPONSE) {
        pg_error_fields e;
        if (pg_decode_error(body, len, &e) && !b->cur.error) {
            b->cur.error = true;
            snprintf(b->cur.sqlstate, sizeof(b->cur.sqlstate), "%s", e.sqlstate);
            snprintf(b->cur.message, sizeof(b->cur.message), "%s", e.message);
        }
    } else if (type == PG_BE_COMMAND_COMPLETE) {
        snprintf(b->cur.tag, sizeof(b->cur.tag), "%.*s", (int)(len ? len - 1 : 0),
                 (const char *)body);
        const char *last = strrchr(b->cur.tag, ' ');
        /* rows written; pgtandem's own SELECTs (sequence upkeep) don't count */
        if (last && strncmp(b->cur.tag, "SELECT", 6) != 0)
            b->cur.rows += strtoull(last + 1, NULL, 10);
    }
}

void session_route_backend_input(session *s, backend *b)
{
    pg_buf *in = &b->s.in;
    size_t pos = 0, need = 0;
    bool done_any = false;
    while (pos < in->len && s->state == SESSION_READY) {
        size_t avail = in->len - pos;
        reply_mode mode = b->n_pending ? b->pending[0] : REPLY_FORWARD;
        bool to_client = mode == REPLY_FORWARD && (b->n_pending || b == s->legacy);
        if (b->stream_left) {
            pos += pg_buf_pass(to_client ? &s->client.out : NULL, in->data + pos, avail,
                               &b->stream_left);
            continue;
        }
        pg_frame f;
        const char *err = NULL;
        pg_frame_status st = pg_frame_be(in->data + pos, avail, &f, &err);
        if (st == PG_FRAME_INCOMPLETE)
            break;
        if (st == PG_FRAME_INVALID) {
            session_backend_failed(s, b, "08P01", err);
            return;
        }
        size_t whole = f.hdr_len + f.body_len;
        if (avail < whole) {
            if (to_client && (f.type == PG_BE_DATA_ROW || f.type == PG_BE_COPY_DATA) &&
                whole >= ROUTE_STREAM_THRESHOLD) {
                pg_buf_put(&s->client.out, in->data + pos, avail);
                b->stream_left = whole - avail;
                pos = in->len;
            } else {
                need = whole;
            }
            break;
        }
        const uint8_t *body = in->data + pos + f.hdr_len;
        if (!pg_be_check(f.type, body, f.body_len, &err)) {
            session_backend_failed(s, b, "08P01", err);
            return;
        }
        bool from_legacy = b == s->legacy;
        switch (f.type) {
        case PG_BE_NOTIFICATION_RESPONSE:
        case PG_BE_PARAMETER_STATUS:
            /* the client hears only legacy's: it is the server it believes it talks to */
            if (from_legacy)
                pg_buf_put(&s->client.out, in->data + pos, whole);
            break;
        case PG_BE_NOTICE_RESPONSE:
            if (to_client || (mode == REPLY_CAPTURE && b->n_pending))
                pg_buf_put(to_client ? &s->client.out : &b->captured, in->data + pos, whole);
            break;
        case PG_BE_READY_FOR_QUERY:
            b->tx_status = body[0];
            if (!b->n_pending)
                break; /* answers a Sync we did not count; nothing to do */
            b->cur.tx_status = body[0];
            if (mode == REPLY_FORWARD) {
                pg_buf_put(&s->client.out, in->data + pos, whole);
                s->tx_status = body[0];
            }
            if (mode == REPLY_CAPTURE)
                b->capture_outcome = b->cur;
            b->last = b->cur;
            memset(&b->cur, 0, sizeof(b->cur));
            memmove(b->pending, b->pending + 1, (b->n_pending - 1) * sizeof(b->pending[0]));
            b->n_pending--;
            done_any = true;
            break;
        default:
            note_reply(b, f.type, body, f.body_len);
            if (f.type == PG_BE_ERROR_RESPONSE && !b->n_pending && !from_legacy)
                break;
            if (to_client)
                pg_buf_put(&s->client.out, in->data + pos, whole);
            else if (mode == REPLY_CAPTURE && b->n_pending)
                pg_buf_put(&b->captured, in->data + pos, whole);
            break;
        }
        pos += whole;
    }
    if (s->state != SESSION_READY)
        return;
    pg_buf_consume(in, pos);
    if (need > in->len && !pg_buf_reserve(in, need - in->len)) {
        session_close(s, "53200", "out of memory");
        return;
    }
    if (s->client.out.failed || b->captured.failed) {
        session_close(s, "53200", "out of memory");
        return;
    }
    if (done_any)
        rs_pump(s);
    else if (!stream_flush(&s->client))
        session_close(s, NULL, "client connection lost");
    else if (stream_pending(&s->client) > STREAM_HIGH_WATER)
        stream_pause_read(&b->s);
}

void session_route_backend_ready(session *s, backend *b)
{
    /* a service backend finished logging in: drop its greeting, carry on */
    pg_buf_free(&b->params);
    rs_pump(s);
}
