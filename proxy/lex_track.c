/* Lexing settings of each backend, and the refusals they call for; see lex_track.h. */
#include "proxy/lex_track.h"

#include <stdio.h>
#include <strings.h>

#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"
#include "proxy/backend.h"
#include "proxy/log.h"
#include "proxy/session.h"
#include "routing/lex_guard.h"

static void track(backend *b, const char *name, const char *value)
{
    b->lex_risk = (uint8_t)route_lex_param(b->lex_risk, name, value);
    if (b->lex_risk)
        b->owner->lex_was_unsafe = true; /* a ROLLBACK may bring it back */
    if (strcasecmp(name, "client_encoding") == 0)
        snprintf(b->lex_encoding, sizeof(b->lex_encoding), "%s", value);
}

void lex_track_status(backend *b, const uint8_t *body, size_t len)
{
    const char *name, *value;
    if (pg_decode_parameter_status(body, len, &name, &value))
        track(b, name, value);
}

void lex_track_greeting(backend *b)
{
    size_t pos = 0;
    while (pos < b->params.len) { /* framed and checked by backend.c */
        pg_frame f;
        const char *err = NULL;
        if (pg_frame_be(b->params.data + pos, b->params.len - pos, &f, &err) != PG_FRAME_OK ||
            b->params.len - pos < f.hdr_len + f.body_len)
            return;
        lex_track_status(b, b->params.data + pos + f.hdr_len, f.body_len);
        pos += f.hdr_len + f.body_len;
    }
}

static void where_of(const session *s, const backend *b, char *buf, size_t len)
{
    if (b == s->legacy)
        buf[0] = '\0';
    else
        snprintf(buf, len, " on the database of service %s", s->cfg->services[b->service].name);
}

static void refusal(const session *s, const backend *b, route_lex_refused what, char *msg,
                    size_t len)
{
    char where[128];
    where_of(s, b, where, sizeof(where));
    route_lex_refusal(msg, len, b->lex_risk, b->lex_encoding, where, what);
}

bool lex_login_refused(session *s, backend *b)
{
    if (!s->routed || !b->lex_risk)
        return false;
    char msg[512];
    refusal(s, b, ROUTE_LEX_REFUSE_LOGIN, msg, sizeof(msg));
    session_close(s, "0A000", msg);
    return true;
}

bool lex_backend_refused(session *s, backend *b)
{
    if (!b->lex_risk || b->state != BACKEND_READY)
        return false;
    char msg[512];
    refusal(s, b, ROUTE_LEX_REFUSE_BACKEND, msg, sizeof(msg));
    session_backend_failed(s, b, "0A000", msg);
    return true;
}

/* The first ready backend of the session whose settings are unsafe. */
static const backend *unsafe_backend(const session *s)
{
    for (size_t i = 0; i <= s->cfg->n_services; i++) {
        const backend *b = i == 0 ? s->legacy : s->services[i - 1];
        if (b && b->state == BACKEND_READY && b->lex_risk)
            return b;
    }
    return NULL;
}

bool lex_refuses(session *s, const char *sql, const classify_result *cls, char *msg,
                 size_t len)
{
    const backend *b = unsafe_backend(s);
    if (b) {
        if (!route_lex_plain(sql, b->lex_risk) || !route_lex_fixes(cls)) {
            if (msg)
                refusal(s, b, ROUTE_LEX_REFUSE_STATEMENT, msg, len);
            return true;
        }
    }
    if (s->lex_suspect && !route_lex_plain(sql, ROUTE_LEX_SCS_OFF | ROUTE_LEX_ENCODING)) {
        if (msg)
            route_lex_pipeline_refusal(msg, len, false);
        return true;
    }
    return false;
}

void lex_note(session *s, const classify_result *cls)
{
    if (route_lex_may_change(cls, s->lex_was_unsafe))
        s->lex_suspect = true;
}

void lex_window_ended(session *s)
{
    s->lex_suspect = false;
}

bool lex_split_refuses(session *s, const char *sql, const classify_result *cls, char *msg,
                       size_t len)
{
    if (route_lex_plain(sql, ROUTE_LEX_SCS_OFF | ROUTE_LEX_ENCODING))
        return false;
    for (size_t i = 0; i + 1 < cls->n_stmts; i++)
        if (route_lex_stmt_may_change(&cls->stmts[i], s->lex_was_unsafe)) {
            route_lex_pipeline_refusal(msg, len, true);
            return true;
        }
    return false;
}
