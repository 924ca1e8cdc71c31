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

/* Checked messages sit back to back at the front of `in`, so they go out in one write
 * straight from there (stream_send copies only what the socket does not take). */
static bool forward(stream *dst, const pg_buf *in, size_t pos)
{
    return stream_send(dst, in->data, pos);
}

void session_relay_client_input(session *s)
{
    backend *b = s->legacy;
    pg_buf *in = &s->client.in;
    size_t pos = 0, need_whole = 0;
    const char *violation = NULL;
    bool terminate = false;
    uint32_t requests = 0, statements = 0; /* for the figures: counted, never timed, here */
    while (pos < in->len) {
        size_t avail = in->len - pos;
        if (s->client_stream_left) {
            pos += pg_buf_pass(NULL, in->data + pos, avail, &s->client_stream_left);
            continue;
        }
        pg_frame f;
        const char *err = NULL; /* the checks may set it before they know */
        pg_frame_status st = pg_frame_fe(in->data + pos, avail, &f, &err);
        if (st == PG_FRAME_INVALID)
            violation = err;
        if (st != PG_FRAME_OK)
            break;
        size_t whole = f.hdr_len + f.body_len;
        if (avail < whole) {
            if (f.type == PG_FE_COPY_DATA && whole >= STREAM_THRESHOLD) {
                s->client_stream_left = whole - avail;
                pos = in->len;
            } else {
                need_whole = whole;
            }
            break;
        }
        if (!pg_fe_check(f.type, in->data + pos + f.hdr_len, f.body_len, &err)) {
            violation = err;
            break;
        }
        if (f.type == PG_FE_TERMINATE) {
            terminate = true;
            break;
        }
        /* each of these gets one ReadyForQuery; Query, Execute and FunctionCall run one */
        requests += f.type == PG_FE_QUERY || f.type == PG_FE_SYNC || f.type == PG_FE_FUNCTION_CALL;
        statements += f.type == PG_FE_QUERY || f.type == PG_FE_EXECUTE ||
                      f.type == PG_FE_FUNCTION_CALL;
        pos += whole;
    }
    if (requests | statements)
        stats_pt_requests(s, requests, statements);
    /* What came before a bad or final message still reaches the server, as it would
     * have without the proxy. */
    bool sent = forward(&b->s, in, pos);
    if (violation) {
        protocol_violation(s, "client", violation);
    } else if (terminate) {
        session_close(s, NULL, "client terminated the session");
    } else if (!sent && errno != ENOMEM) {
        char why[160];
        snprintf(why, sizeof(why), "lost connection to %s: %s", b->target->name,
                 strerror(errno));
        session_backend_failed(s, b, "08006", why);
    } else if (!sent || !finish_input(in, pos, need_whole)) {
        session_close(s, "53200", "out of memory");
    } else if (stream_pending(&b->s) > STREAM_HIGH_WATER) {
        stream_pause_read(&s->client);
    }
}

/* Looks at the server messages the session must track; false for one it must refuse,
 * with the reason in `err`. */
static bool inspect_backend_msg(session *s, backend *b, uint8_t type, const uint8_t *body,
                                size_t len, const char **err)
{
    if (!pg_be_check(type, body, len, err))
        return false;
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
    size_t pos = 0, need_whole = 0;
    const char *invalid = NULL;
    uint32_t answered = 0;
    while (pos < in->len) {
        size_t avail = in->len - pos;
        if (b->stream_left) {
            pos += pg_buf_pass(NULL, in->data + pos, avail, &b->stream_left);
            continue;
        }
        pg_frame f;
        const char *err = NULL; /* the checks may set it before they know */
        pg_frame_status st = pg_frame_be(in->data + pos, avail, &f, &err);
        if (st == PG_FRAME_INVALID)
            invalid = err;
        if (st != PG_FRAME_OK)
            break;
        size_t whole = f.hdr_len + f.body_len;
        if (avail < whole) {
            if ((f.type == PG_BE_DATA_ROW || f.type == PG_BE_COPY_DATA) &&
                whole >= STREAM_THRESHOLD) {
                b->stream_left = whole - avail;
                pos = in->len;
            } else {
                need_whole = whole;
            }
            break;
        }
        if (!inspect_backend_msg(s, b, f.type, in->data + pos + f.hdr_len, f.body_len, &err)) {
            invalid = err;
            break;
        }
        answered += f.type == PG_BE_READY_FOR_QUERY;
        pos += whole;
    }
    if (answered)
        stats_pt_answered(s, answered);
    bool sent = forward(&s->client, in, pos);
    if (invalid) {
        char msg[256];
        snprintf(msg, sizeof(msg), "invalid message from %s: %s", b->target->name, invalid);
        log_warn("session %llu: %s", (unsigned long long)s->id, msg);
        session_close(s, "08P01", msg);
    } else if (!sent && errno != ENOMEM) {
        session_close(s, NULL, "client connection lost");
    } else if (!sent || !finish_input(in, pos, need_whole)) {
        session_close(s, "53200", "out of memory");
    } else if (stream_pending(&s->client) > STREAM_HIGH_WATER) {
        stream_pause_read(&b->s);
    }
}

void session_relay_client_drained(session *s)
{
    if (stream_pending(&s->client) >= STREAM_HIGH_WATER / 2)
        return;
    if (s->legacy)
        stream_resume_read(&s->legacy->s);
    /* a routed session pauses a service backend answering the client the same way */
    for (size_t i = 0; s->routed && s->services && i < s->cfg->n_services; i++)
        if (s->services[i])
            stream_resume_read(&s->services[i]->s);
}

void session_relay_backend_drained(session *s, backend *b)
{
    if (stream_pending(&b->s) < STREAM_HIGH_WATER / 2)
        stream_resume_read(&s->client);
}
