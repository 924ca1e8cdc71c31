/* Texts the server may read differently from pgtandem; see lex_guard.h. */
#include "routing/lex_guard.h"

#include <stdio.h>
#include <strings.h>

/* PostgreSQL's client-only encodings (PG_ENCODING_IS_CLIENT_ONLY): their multibyte
 * characters may end in 0x5C, and JOHAB's even in ';' or digits. */
static const char *const unsafe_encodings[] = {"SJIS", "SHIFT_JIS_2004", "BIG5", "GBK",
                                               "GB18030", "UHC", "JOHAB"};

bool route_lex_encoding_unsafe(const char *client_encoding)
{
    for (size_t i = 0; i < sizeof(unsafe_encodings) / sizeof(unsafe_encodings[0]); i++)
        if (strcasecmp(client_encoding, unsafe_encodings[i]) == 0)
            return true;
    return false;
}

unsigned route_lex_param(unsigned risk, const char *name, const char *value)
{
    if (strcasecmp(name, "standard_conforming_strings") == 0)
        return strcasecmp(value, "on") == 0 ? risk & ~ROUTE_LEX_SCS_OFF : risk | ROUTE_LEX_SCS_OFF;
    if (strcasecmp(name, "client_encoding") == 0)
        return route_lex_encoding_unsafe(value) ? risk | ROUTE_LEX_ENCODING
                                                : risk & ~ROUTE_LEX_ENCODING;
    return risk;
}

bool route_lex_plain(const char *sql, unsigned risk)
{
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
        if ((risk & ROUTE_LEX_SCS_OFF) && *p == '\'')
            return false;
        if ((risk & ROUTE_LEX_ENCODING) && *p >= 0x80)
            return false;
    }
    return true;
}

bool route_lex_fixes(const classify_result *cls)
{
    if (cls->error)
        return false;
    for (size_t i = 0; i < cls->n_stmts; i++) {
        const classify_stmt *st = &cls->stmts[i];
        bool ok = st->kind == CLASSIFY_EMPTY || st->kind == CLASSIFY_TX_CONTROL ||
                  (st->kind == CLASSIFY_SESSION &&
                   (st->session == CLASSIFY_SESSION_SET || st->session == CLASSIFY_SESSION_RESET ||
                    st->session == CLASSIFY_SESSION_DISCARD));
        if (!ok || st->n_functions || st->opaque)
            return false;
    }
    return true;
}

static bool names_setting(const char *name)
{
    return name && (strcasecmp(name, "standard_conforming_strings") == 0 ||
                    strcasecmp(name, "client_encoding") == 0);
}

static bool calls_set_config(const classify_stmt *st)
{
    for (size_t k = 0; k < st->n_functions; k++) {
        const classify_name *f = &st->functions[k];
        if (strcasecmp(f->name, "set_config") == 0 &&
            (!f->schema || strcasecmp(f->schema, "pg_catalog") == 0))
            return true;
    }
    return false;
}

bool route_lex_stmt_may_change(const classify_stmt *st, bool was_unsafe)
{
    /* RESET and DISCARD go back to the login values, which were safe */
    if (st->kind == CLASSIFY_SESSION && st->session == CLASSIFY_SESSION_SET &&
        names_setting(st->name))
        return true;
    if (st->kind == CLASSIFY_SESSION && st->session == CLASSIFY_SESSION_EXECUTE)
        return true;
    if (st->opaque || calls_set_config(st))
        return true;
    return was_unsafe && st->kind == CLASSIFY_TX_CONTROL &&
           (st->tx == CLASSIFY_TX_ROLLBACK || st->tx == CLASSIFY_TX_ROLLBACK_TO);
}

bool route_lex_may_change(const classify_result *cls, bool was_unsafe)
{
    for (size_t i = 0; i < cls->n_stmts; i++)
        if (route_lex_stmt_may_change(&cls->stmts[i], was_unsafe))
            return true;
    return false;
}

void route_lex_refusal(char *buf, size_t len, unsigned risk, const char *encoding,
                       const char *where, route_lex_refused what)
{
    bool scs = risk & ROUTE_LEX_SCS_OFF;
    const char *does, *fix;
    switch (what) {
    case ROUTE_LEX_REFUSE_LOGIN:
        does = "so it does not serve such a connection";
        fix = scs ? "connect with it on (check options=-c and role and database defaults)"
                  : "connect with another client_encoding such as UTF8";
        break;
    case ROUTE_LEX_REFUSE_BACKEND:
        does = "so it does not use that connection";
        fix = "remove the setting from the role and database defaults of that database";
        break;
    default:
        does = scs ? "so until then it refuses every statement but SET, RESET, DISCARD and "
                     "transaction control written without quotes"
                   : "so until then it refuses every statement but SET, RESET, DISCARD and "
                     "transaction control written in plain ASCII";
        fix = scs ? "run SET standard_conforming_strings = on" : "run SET client_encoding = UTF8";
        break;
    }
    if (scs)
        snprintf(buf, len,
                 "pgtandem: standard_conforming_strings is off%s; pgtandem reads SQL as "
                 "PostgreSQL does with it on and could misjudge what a statement does "
                 "(a backslash before a quote), %s: %s",
                 where, does, fix);
    else
        snprintf(buf, len,
                 "pgtandem: client_encoding %s is not supported%s; in it a multibyte character "
                 "can hold the byte of a backslash, and pgtandem could misjudge what a "
                 "statement does, %s: %s",
                 encoding && encoding[0] ? encoding : "(unsafe)", where, does, fix);
}

void route_lex_pipeline_refusal(char *buf, size_t len, bool query_string)
{
    snprintf(buf, len,
             "pgtandem: %s, one that may change standard_conforming_strings or "
             "client_encoding (SET, set_config, DO, CALL, EXECUTE), and pgtandem can't tell "
             "how the server will read the quotes of what follows it: %s",
             query_string ? "this query string has, before its last statement"
                          : "this statement follows, in the same pipeline",
             query_string ? "send that statement in a query of its own"
                          : "send a Sync before this statement");
}
