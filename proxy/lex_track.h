/* Standard_conforming_strings and client_encoding, per backend, from its ParameterStatus,
 * and the refusals of routed sessions that follow from them (routing/lex_guard.h): a
 * text the server could read differently from pgtandem is never routed. Pass-through
 * sessions make no decision from SQL text and are left alone. */
#ifndef PGT_LEX_TRACK_H
#define PGT_LEX_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "routing/classify.h"

typedef struct session session;
typedef struct backend backend;

/* One ParameterStatus body from b. */
void lex_track_status(backend *b, const uint8_t *body, size_t len);
/* The ParameterStatus messages b sent while logging in (b->params). */
void lex_track_greeting(backend *b);
/* Legacy logged in with unsafe settings (startup options, role or database defaults):
 * closes the routed session with the reason; true when it did. */
bool lex_login_refused(session *s, backend *b);
/* A service backend that logged in with settings that make it read texts differently
 * (its role or database defaults) is failed: lost, with the reason. True when it was. */
bool lex_backend_refused(session *s, backend *b);
/* Whether the client's text `sql` (classified as cls; a Query or a Parse) must be
 * refused: the session's settings are unsafe and it is not a plain SET, RESET, DISCARD or
 * transaction control; or it is not plain and follows, in the same pipeline, a statement
 * that may have made them unsafe. The reason goes to msg (may be NULL). */
bool lex_refuses(session *s, const char *sql, const classify_result *cls, char *msg,
                 size_t len);
/* A statement classified as cls is executed (or, in a batch judged whole, may be): when
 * it may change the settings, the rest of the pipeline is suspect until lex_window_ended
 * (Sync, or a Query, which the server answers with its ReadyForQuery). */
void lex_note(session *s, const classify_result *cls);
void lex_window_ended(session *s);
/* A Query whose statements pgtandem sends on one by one (each then read by the server
 * with what the ones before it set), refused when a statement that may change the
 * settings comes before a text that is not plain. */
bool lex_split_refuses(session *s, const char *sql, const classify_result *cls, char *msg,
                       size_t len);

#endif
