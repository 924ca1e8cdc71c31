/* Texts the server may read differently from pgtandem. libpg_query lexes SQL as a server
 * with standard_conforming_strings = on and a UTF-8 client encoding does. With
 * standard_conforming_strings = off a backslash escapes a quote inside '...', and in the
 * client-only encodings (SJIS, SHIFT_JIS_2004, BIG5, GBK, GB18030, UHC, JOHAB) the second
 * byte of a character can be a backslash or other ASCII: the server then sees different
 * string boundaries, so `SELECT 'a\'' ; DELETE ...; --'` is one SELECT to pgtandem and a
 * SELECT and a DELETE to the server. pgtandem does not lex with the session's settings: it
 * refuses them (the decisions below; the session code tracks the settings).
 * backslash_quote needs nothing: it can only make the server refuse \' in a literal,
 * never read it another way. Pure: no I/O. */
#ifndef PGT_ROUTING_LEX_GUARD_H
#define PGT_ROUTING_LEX_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "routing/classify.h"

/* What makes a backend read text differently (bits). */
#define ROUTE_LEX_SCS_OFF 1u  /* standard_conforming_strings = off */
#define ROUTE_LEX_ENCODING 2u /* a client encoding whose characters can hold ASCII bytes */

/* SJIS, SHIFT_JIS_2004, BIG5, GBK, GB18030, UHC, JOHAB (any case, as reported). */
bool route_lex_encoding_unsafe(const char *client_encoding);

/* The risk after one ParameterStatus (name, value); other parameters leave it. */
unsigned route_lex_param(unsigned risk, const char *name, const char *value);

/* True when the server reads `sql` as pgtandem does under `risk`: no quote when
 * standard_conforming_strings is off (only quoted literals lex differently), only ASCII
 * bytes under an unsafe encoding. */
bool route_lex_plain(const char *sql, unsigned risk);

/* True when every statement of cls can only restore the settings or end the transaction:
 * SET, RESET, DISCARD, transaction control, or nothing at all; no function calls. What a
 * session whose settings are unsafe still accepts (written plain). */
bool route_lex_fixes(const classify_result *cls);

/* True when running cls may make the settings unsafe before the server reports it (the
 * next ReadyForQuery): SET of standard_conforming_strings or client_encoding, a
 * set_config() call, DO, CALL, SQL EXECUTE, and, once the session has been unsafe, a
 * ROLLBACK (TO SAVEPOINT) that may undo the SET that made it safe. Later statements of
 * the same pipeline are then judged as if the settings were unsafe. */
bool route_lex_may_change(const classify_result *cls, bool was_unsafe);
/* The same for one statement. */
bool route_lex_stmt_may_change(const classify_stmt *st, bool was_unsafe);

/* What is refused. */
typedef enum route_lex_refused {
    ROUTE_LEX_REFUSE_STATEMENT, /* a statement of a session whose settings are unsafe */
    ROUTE_LEX_REFUSE_LOGIN,     /* a client whose login gave it such settings */
    ROUTE_LEX_REFUSE_BACKEND,   /* a service database connection with such defaults */
} route_lex_refused;

/* The refusal: which setting, what pgtandem does meanwhile, how to fix it. `where` is ""
 * or e.g. " on the database of service cart"; `encoding` is the client encoding's name
 * under ROUTE_LEX_ENCODING. */
void route_lex_refusal(char *buf, size_t len, unsigned risk, const char *encoding,
                       const char *where, route_lex_refused what);

/* A text that is not plain after a statement route_lex_may_change flagged: later in the
 * same pipeline (before Sync), or later in the same query string (query_string), which
 * pgtandem may send on as separate statements. */
void route_lex_pipeline_refusal(char *buf, size_t len, bool query_string);

#endif
