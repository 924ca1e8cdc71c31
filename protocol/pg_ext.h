/* The extended-query messages a routing proxy must look inside (Parse, Bind,
 * Describe, Execute, Close) and the ones it writes itself. Decoders borrow
 * from the body; they assume pg_fe_check() accepted it and still check
 * every field. Nothing here does I/O. */
#ifndef PGT_PG_EXT_H
#define PGT_PG_EXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/pg_buf.h"

typedef struct pg_parse_msg {
    const char *name;
    const char *query;
    const uint8_t *types; /* n_types big-endian type OIDs, as sent */
    size_t n_types;
} pg_parse_msg;

typedef struct pg_bind_msg {
    const char *portal;
    const char *statement;
    size_t result_formats_at; /* offset in the body of the result-format count */
    size_t n_result_formats;
    const uint8_t *result_formats; /* n_result_formats big-endian int16 */
} pg_bind_msg;

/* Describe and Close: 'S' for a statement, 'P' for a portal. */
typedef struct pg_target_msg {
    uint8_t kind;
    const char *name;
} pg_target_msg;

typedef struct pg_execute_msg {
    const char *portal;
    int32_t max_rows;
} pg_execute_msg;

bool pg_decode_parse(const uint8_t *body, size_t len, pg_parse_msg *out)
    __attribute__((warn_unused_result));
bool pg_decode_bind(const uint8_t *body, size_t len, pg_bind_msg *out)
    __attribute__((warn_unused_result));
bool pg_decode_target(const uint8_t *body, size_t len, pg_target_msg *out)
    __attribute__((warn_unused_result));
bool pg_decode_execute(const uint8_t *body, size_t len, pg_execute_msg *out)
    __attribute__((warn_unused_result));

/* The same Bind with its result-format list replaced by `formats`. */
void pg_buf_bind_formats(pg_buf *b, const uint8_t *body, const pg_bind_msg *m,
                         const int16_t *formats, size_t n_formats);
/* Parse without parameter types. */
void pg_buf_parse(pg_buf *b, const char *name, const char *sql);
/* Bind with text parameters (NULL for SQL NULL) and text results. */
void pg_buf_bind_text(pg_buf *b, const char *portal, const char *statement,
                      const char *const *params, size_t n_params);
void pg_buf_execute(pg_buf *b, const char *portal, int32_t max_rows);
void pg_buf_describe(pg_buf *b, uint8_t kind, const char *name);
void pg_buf_close(pg_buf *b, uint8_t kind, const char *name);
/* One parameterless statement run once on a statement and portal both named
 * `name`, closed right after: Parse, Bind, Execute, Close portal, Close
 * statement. The client's unnamed statement and portal stay as they were. */
void pg_buf_run_once(pg_buf *b, const char *name, const char *sql);

/* How many of the messages in msgs (whole frontend messages) the server
 * answers with a message that ends its reply: Parse, Bind, Describe,
 * Execute and Close each count one; Sync, Flush and the rest none. */
size_t pg_count_replies(const uint8_t *msgs, size_t len);

/* Whether a server message ends the reply to one extended-protocol message:
 * ParseComplete, BindComplete, CloseComplete, NoData, RowDescription (the
 * end of a Describe), CommandComplete, EmptyQueryResponse, PortalSuspended.
 * An ErrorResponse ends it too, and every message after it until Sync. */
bool pg_ends_reply(uint8_t type);

#endif
