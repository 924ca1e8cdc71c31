/* A growable byte buffer and a message builder on top of it.
 * Builders reserve the length word, write typed fields, and patch the length
 * at pg_buf_end_msg(). Any failure (allocation, size cap) sets a sticky error
 * flag that the caller checks once, after building. */
#ifndef PGT_PG_BUF_H
#define PGT_PG_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pg_buf {
    uint8_t *data;
    size_t len;       /* bytes written */
    size_t cap;       /* bytes allocated */
    size_t msg_start; /* offset of the length word of the message being built */
    bool failed;      /* sticky: an append or a message failed */
} pg_buf;

void pg_buf_init(pg_buf *b);
void pg_buf_free(pg_buf *b);                      /* releases storage, back to empty */
void pg_buf_reset(pg_buf *b);                     /* keeps storage, drops contents */
bool pg_buf_reserve(pg_buf *b, size_t extra) __attribute__((warn_unused_result));
void pg_buf_consume(pg_buf *b, size_t n);         /* drop n bytes from the front */

void pg_buf_put(pg_buf *b, const void *p, size_t n);
/* For a message that streams through: appends up to *left of the avail
 * bytes at p (drops them when b is NULL), lowers *left, returns the count. */
size_t pg_buf_pass(pg_buf *b, const uint8_t *p, size_t avail, size_t *left);
void pg_buf_put_byte(pg_buf *b, uint8_t v);
void pg_buf_put_int16(pg_buf *b, int16_t v);
void pg_buf_put_int32(pg_buf *b, int32_t v);
void pg_buf_put_cstring(pg_buf *b, const char *s);

/* type 0 starts a startup-style packet without a type byte. */
void pg_buf_begin_msg(pg_buf *b, uint8_t type);
void pg_buf_end_msg(pg_buf *b);

/* Ready-made messages used by the proxy. */
void pg_buf_error(pg_buf *b, bool fatal, const char *sqlstate, const char *message);
void pg_buf_notice(pg_buf *b, const char *sqlstate, const char *message);
void pg_buf_ready_for_query(pg_buf *b, uint8_t tx_status);
void pg_buf_auth_request(pg_buf *b, int32_t code, const void *payload, size_t n);
void pg_buf_parameter_status(pg_buf *b, const char *name, const char *value);
void pg_buf_backend_key(pg_buf *b, int32_t pid, int32_t key);
void pg_buf_startup(pg_buf *b, const char *const *names, const char *const *values, size_t n);
void pg_buf_password(pg_buf *b, const char *password);
void pg_buf_sasl_initial(pg_buf *b, const char *mechanism, const void *data, size_t n);
void pg_buf_sasl_response(pg_buf *b, const void *data, size_t n);
void pg_buf_cancel_request(pg_buf *b, int32_t pid, int32_t key);
void pg_buf_simple(pg_buf *b, uint8_t type); /* bodyless: Sync, Flush, Terminate, CopyDone */
void pg_buf_query(pg_buf *b, const char *sql);

#endif
