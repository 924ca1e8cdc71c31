/* The admin console: a client that logs in to database "pgtandem" as one of
 * admin_users talks to pgtandem itself (SHOW, RELOAD, SET SERVICE, PAUSE,
 * RESUME, ACKNOWLEDGE) over the simple query protocol. */
#ifndef PGT_ADMIN_CONSOLE_H
#define PGT_ADMIN_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol/pg_buf.h"

typedef struct session session;
typedef struct proxy proxy;
struct admin_tokens;

#define ADMIN_DATABASE "pgtandem"

/* The client has authenticated: let it in or refuse it (28000). */
void admin_console_start(session *s);
void admin_console_input(session *s);

/* admin_show.c: the SHOW commands; false with err for an unknown one. */
bool admin_show(proxy *px, const struct admin_tokens *t, pg_buf *out, char *err, size_t err_len)
    __attribute__((warn_unused_result));
/* A result set of text columns. */
void admin_columns(pg_buf *out, const char *const *names, size_t n);
void admin_row(pg_buf *out, const char *const *values, size_t n);

#endif
