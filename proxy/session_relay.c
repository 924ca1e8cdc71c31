/* Relaying once a session is ready: client messages are checked and passed
 * to the backend, server messages are checked and passed to the client.
 * Large CopyData and DataRow messages stream through without being held
 * whole; everything else is checked whole. Each direction stops reading its
 * source while the destination has more than STREAM_HIGH_WATER unsent, so a
 * slow reader never makes pgtandem buffer without bound. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"
#include "proxy/backend.h"
#include "proxy/log.h"
#include "proxy/session.h"

/* Messages at least this large may pass through before they are complete. */
#define STREAM_THRESHOLD (64u * 1024u)

static void protocol_violation(session *s, const char *who, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "protocol violation by the %s: %s", who, what);
    log_warn("session %llu: %s", (unsigned long long)s->id, msg);
    session_close(s, "08P01", msg);
}

/* Moves the processed prefix out of `in`, and makes room for a message
 * that must be held whole. */
static bool finish_input(pg_buf *in, size_t pos, size_t need_whole)
{
    pg_buf_consume(in, pos);
    if (need_whole > in->len)
        return pg_buf_reserve(in, need_whole - in->len);
    return true;
}

static void flush_backend(session *s, backend *b)
{
    if (!stream_flush(&b->s)) {
        char why[160];
        snprintf(why, sizeof(why), "lost connection to %s: %s", b->target->name,
                 strerror(errno));
        session_backend_failed(s, b, "08006", why);
        return;
    }
    if (stream_pending(&b->s) > STREAM_HIGH_WATER)
        stream_pause_read(&s->client);
}

void session_relay_client_input(session *s)
{
    backend *b = s->legacy;
    pg_buf *in = &s->client.in;
    pg_buf *out = &b->s.out;
    size_t pos = 0, need_whole = 0;
    while (pos < in->len) {
        size_t avail = in->len - pos;
        if (s->client_stream_left) {
            pos += pg_buf_pass(out, in->data + pos, avail, &s->client_stream_left);
            continue;
        }
        pg_frame f;
        const char *err = NULL;
        pg_frame_status st = pg_frame_fe(in->data + pos, avail, &f, &err);
        if (st == PG_FRAME_INCOMPLETE)
            break;
        if (st == PG_FRAME_INVALID) {
            protocol_violation(s, "client", err);
            return;
        }
        size_t whole = f.hdr_len + f.body_len;
        if (avail < whole) {
            if (f.type == PG_FE_COPY_DATA && whole >= STREAM_THRESHOLD) {
                pg_buf_put(out, in->data + pos, avail);
                s->client_stream_left = whole - avail;
                pos = in->len;
            } else {
                need_whole = whole;
            }
            break;
        }
        if (!pg_fe_check(f.type, in->data + pos + f.hdr_len, f.body_len, &err)) {
            protocol_violation(s, "client", err);
            return;
        }
        if (f.type == PG_FE_TERMINATE) {
            session_close(s, NULL, "client terminated the session");
            return;
        }
        pg_buf_put(out, in->data + pos, whole);
        pos += whole;
    }
    if (!finish_input(in, pos, need_whole) || out->failed) {
        session_close(s, "53200", "out of memory");
        return;
    }
    flush_backend(s, b);
}

/* Looks at the server messages the session must track or refuse. */
static bool inspect_backend_msg(session *s, backend *b, uint8_t type, const uint8_t *body,
                                size_t len)
{
    const char *err = NULL;
    if (!pg_be_check(type, body, len, &err)) {
        char msg[256];
        snprintf(msg, sizeof(msg), "invalid message from %s: %s", b->target->name, err);
        log_warn("session %llu: %s", (unsigned long long)s->id, msg);
        session_close(s, "08P01", msg);
        return false;
    }
    if (type == PG_BE_READY_FOR_QUERY) {
        b->tx_status = s->tx_status = body[0];
    } else if (type == PG_BE_ERROR_RESPONSE) {
        pg_error_fields e;
        if (pg_decode_error(body, len, &e) &&
            (strcmp(e.severity, "FATAL") == 0 || strcmp(e.severity, "PANIC") == 0)) {
            b->sent_fatal = true;
            log_warn("session %llu: %s ends the session: %s (%s)", (unsigned long long)s->id,
                     b->target->name, e.message, e.sqlstate);
        }
    }
    return true;
}

void session_relay_backend_input(session *s, backend *b)
{
    pg_buf *in = &b->s.in;
    pg_buf *out = &s->client.out;
    size_t pos = 0, need_whole = 0;
    while (pos < in->len) {
        size_t avail = in->len - pos;
        if (b->stream_left) {
            pos += pg_buf_pass(out, in->data + pos, avail, &b->stream_left);
            continue;
        }
        pg_frame f;
        const char *err = NULL;
        pg_frame_status st = pg_frame_be(in->data + pos, avail, &f, &err);
        if (st == PG_FRAME_INCOMPLETE)
            break;
        if (st == PG_FRAME_INVALID) {
            char msg[256];
            snprintf(msg, sizeof(msg), "invalid message from %s: %s", b->target->name, err);
            session_close(s, "08P01", msg);
            return;
        }
        size_t whole = f.hdr_len + f.body_len;
        if (avail < whole) {
            if ((f.type == PG_BE_DATA_ROW || f.type == PG_BE_COPY_DATA) &&
                whole >= STREAM_THRESHOLD) {
                pg_buf_put(out, in->data + pos, avail);
                b->stream_left = whole - avail;
                pos = in->len;
            } else {
                need_whole = whole;
            }
            break;
        }
        if (!inspect_backend_msg(s, b, f.type, in->data + pos + f.hdr_len, f.body_len))
            return;
        pg_buf_put(out, in->data + pos, whole);
        pos += whole;
    }
    if (!finish_input(in, pos, need_whole) || out->failed) {
        session_close(s, "53200", "out of memory");
        return;
    }
    if (!stream_flush(&s->client)) {
        session_close(s, NULL, "client connection lost");
        return;
    }
    if (stream_pending(&s->client) > STREAM_HIGH_WATER)
        stream_pause_read(&b->s);
}

void session_relay_client_drained(session *s)
{
    if (s->legacy && stream_pending(&s->client) < STREAM_HIGH_WATER / 2)
        stream_resume_read(&s->legacy->s);
}

void session_relay_backend_drained(session *s, backend *b)
{
    if (stream_pending(&b->s) < STREAM_HIGH_WATER / 2)
        stream_resume_read(&s->client);
}
