/* Routed sessions, the backends' side: each reply is noted (outcome, tag,
 * rows), passed to the client, held or swallowed as its request says
 * (backend.h reply_mode), and the request that waited on it moves on
 * (rs_pump). Also a backend lost or ready. The client's side is
 * session_route.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_ext.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"
#include "proxy/backend.h"
#include "proxy/divergence.h"
#include "proxy/lex_track.h"
#include "proxy/log.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"
#include "proxy/type_oids.h"

/* Messages at least this large may pass to the client before they are complete. */
#define ROUTE_STREAM_THRESHOLD (64u * 1024u)

/* The first column of the first row of one of pgtandem's own queries (a
 * transaction id for two-phase commit); other replies pass untouched. */
static void note_value(backend *b, const uint8_t *body, size_t len)
{
    if (b->rx->cur.value[0] || len < 6 || ((body[0] << 8) | body[1]) < 1)
        return;
    int32_t n = (int32_t)((uint32_t)body[2] << 24 | (uint32_t)body[3] << 16 |
                          (uint32_t)body[4] << 8 | body[5]);
    if (n < 0 || (size_t)n > len - 6 || (size_t)n >= sizeof(b->rx->cur.value))
        return;
    memcpy(b->rx->cur.value, body + 6, (size_t)n);
    b->rx->cur.value[n] = '\0';
}

static void note_reply(backend *b, uint8_t type, const uint8_t *body, size_t len)
{
    if (type == PG_BE_ERROR_RESPONSE) {
        pg_error_fields e;
        if (pg_decode_error(body, len, &e) && !b->rx->cur.error) {
            b->rx->cur.error = true;
            snprintf(b->rx->cur.sqlstate, sizeof(b->rx->cur.sqlstate), "%s", e.sqlstate);
            snprintf(b->rx->cur.message, sizeof(b->rx->cur.message), "%s", e.message);
        }
    } else if (type == PG_BE_COMMAND_COMPLETE) {
        snprintf(b->rx->cur.tag, sizeof(b->rx->cur.tag), "%.*s", (int)(len ? len - 1 : 0),
                 (const char *)body);
        const char *last = strrchr(b->rx->cur.tag, ' ');
        /* rows written; pgtandem's own SELECTs (sequence upkeep) don't count */
        if (last && strncmp(b->rx->cur.tag, "SELECT", 6) != 0)
            b->rx->cur.rows += strtoull(last + 1, NULL, 10);
    }
}

/* The request at the head of b's queue has all its replies. */
static void finish_request(backend *b)
{
    if (b->rx->pending[0].mode == REPLY_CAPTURE)
        b->rx->capture_outcome = b->rx->cur;
    b->rx->last = b->rx->cur;
    memset(&b->rx->cur, 0, sizeof(b->rx->cur));
    memmove(b->rx->pending, b->rx->pending + 1, (b->n_pending - 1) * sizeof(b->rx->pending[0]));
    b->n_pending--;
}

/* An ErrorResponse to extended messages: the server now skips everything
 * until Sync, so the requests queued behind it end with it, unanswered. */
static void extended_failure(session *s, backend *b)
{
    b->ext_failed = true;
    b->rx->ext_error = b->rx->cur;
    if (b->rx->pending[0].mode == REPLY_FORWARD)
        s->op->x.client_error = true;
    finish_request(b);
    while (b->n_pending && b->rx->pending[0].replies) {
        b->rx->cur = b->rx->ext_error;
        finish_request(b);
    }
}

void session_route_backend_input(session *s, backend *b)
{
    pg_buf *in = &b->s.in;
    size_t pos = 0, need = 0;
    bool done_any = false;
    while (pos < in->len && s->state == SESSION_READY) {
        size_t avail = in->len - pos;
        reply_wait *head = b->n_pending ? &b->rx->pending[0] : NULL;
        reply_mode mode = head ? head->mode : REPLY_FORWARD;
        bool to_client = mode == REPLY_FORWARD && (head || b == s->legacy);
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
                stats_reply_streamed(s);
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
        case PG_BE_PARAMETER_STATUS:
            lex_track_status(b, body, f.body_len);
            /* fall through */
        case PG_BE_NOTIFICATION_RESPONSE:
            /* the client hears only legacy's: it is the server it believes it talks to */
            if (from_legacy)
                pg_buf_put(&s->client.out, in->data + pos, whole);
            break;
        case PG_BE_NOTICE_RESPONSE:
            if (to_client || (mode == REPLY_CAPTURE && head))
                pg_buf_put(to_client ? &s->client.out : &b->captured, in->data + pos, whole);
            break;
        case PG_BE_READY_FOR_QUERY:
            b->tx_status = body[0];
            b->ext_failed = false;
            if (!head && from_legacy && s->ctl.window_open) {
                /* a FunctionCall inside a window of the fast path ran: it ends the window */
                pg_buf_put(&s->client.out, in->data + pos, whole);
                s->tx_status = body[0];
                s->ctl.window_open = false;
                s->op->x.window_failed = false;
                break;
            }
            if (!head)
                break; /* answers a Sync we did not count; nothing to do */
            b->rx->cur.tx_status = body[0];
            if (mode == REPLY_FORWARD) {
                pg_buf_put(&s->client.out, in->data + pos, whole);
                s->tx_status = body[0];
            }
            finish_request(b);
            done_any = true;
            break;
        default:
            if (f.type == PG_BE_COPY_IN_RESPONSE && rs_copy_in_response(s, b, in->data + pos, whole))
                break; /* the primary's, for the client: route_copy.c */
            note_reply(b, f.type, body, f.body_len);
            if (!from_legacy && b->service >= 0 && (size_t)b->service < s->cfg->n_services)
                /* clients know legacy's OIDs only */
                type_oids_to_legacy(s->cfg->services[b->service].oids, f.type,
                                    in->data + pos + f.hdr_len, f.body_len);
            if (f.type == PG_BE_DATA_ROW && mode == REPLY_SWALLOW)
                note_value(b, body, f.body_len);
            if (f.type == PG_BE_ERROR_RESPONSE && !head && !from_legacy)
                break;
            if (f.type == PG_BE_ERROR_RESPONSE && !head && s->ctl.window_open) {
                /* a batch of the fast path ended by Flush failed: legacy skips the
                 * client's messages until Sync, and so does the window */
                b->ext_failed = true;
                b->rx->ext_error = b->rx->cur;
                memset(&b->rx->cur, 0, sizeof(b->rx->cur));
                s->op->x.window_failed = true;
            }
            if (to_client && !(s->op->split && head && head->replies && rs_split_hides(f.type))) {
                pg_buf_put(&s->client.out, in->data + pos, whole);
                stats_reply(s, b, f.type, body, f.body_len);
            }
            else if (mode == REPLY_CAPTURE && head)
                pg_buf_put(&b->captured, in->data + pos, whole);
            if (!head || !head->replies)
                break;
            /* extended messages sent with a Flush: count the ends of their replies */
            if (f.type == PG_BE_COPY_IN_RESPONSE && to_client)
                s->op->x.copy_to = b;
            bool ended = false; /* this message ended a request (a COPY's, maybe) */
            if (f.type == PG_BE_ERROR_RESPONSE) {
                extended_failure(s, b);
                ended = true;
            } else if (pg_ends_reply(f.type) && --head->replies == 0) {
                finish_request(b);
                ended = true;
            }
            done_any = done_any || ended;
            if (ended && s->op->x.copy_to == b)
                s->op->x.copy_to = NULL;
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
    if (s->op->kind == OP_EXT && s->op->x.copy_to && s->client.in.len)
        session_route_client_input(s); /* COPY data the client sent with its batch */
    else if (done_any)
        rs_pump(s);
    else if (!stream_flush(&s->client))
        session_close(s, NULL, "client connection lost");
    else if (stream_pending(&s->client) > STREAM_HIGH_WATER)
        stream_pause_read(&b->s);
}

/* A service backend's connection is gone. What it owed the client becomes an
 * error; what it owed pgtandem becomes a failed outcome, which the request in
 * progress handles like any secondary failure (on_mirror_failure). The
 * backend is dropped when that request ends; the next statement for the
 * service connects afresh. */
void session_route_backend_lost(session *s, backend *b, const char *why)
{
    char m[400];
    snprintf(m, sizeof(m), "pgtandem: lost the connection to the database of service %s: %s",
             s->cfg->services[b->service].name, why);
    backend_mark_lost(b, m);
    bool in_tx = s->tx_status != PG_TX_IDLE;
    for (size_t i = 0; i < b->n_pending; i++) {
        if (b->rx->pending[i].mode == REPLY_FORWARD) {
            pg_buf_error(&s->client.out, false, "08006", m);
            if (b->rx->pending[i].replies == 0)
                pg_buf_ready_for_query(&s->client.out, in_tx ? PG_TX_FAILED : PG_TX_IDLE);
            else
                s->op->x.client_error = true;
            s->tx_poisoned = s->tx_poisoned || in_tx;
        }
        b->rx->last = b->rx->ext_error;
        if (b->rx->pending[i].mode == REPLY_CAPTURE)
            b->rx->capture_outcome = b->rx->last;
    }
    b->n_pending = 0;
    if (in_tx) { /* what it wrote earlier in this transaction died with it */
        divergence_record(s, b->service, "secondary connection lost inside a transaction", "",
                          "", NULL, &b->rx->ext_error);
        if (s->cfg->on_mirror_failure == MIRROR_FAIL) {
            /* the client's transaction can't commit on both sides any more */
            s->tx_poisoned = true;
            s->op->x.lost_service = b->service + 1;
        }
    }
    rs_pump(s);
}

void session_route_backend_ready(session *s, backend *b)
{
    /* a service backend finished logging in: drop its greeting, carry on */
    pg_buf_free(&b->params);
    rs_pump(s);
}
