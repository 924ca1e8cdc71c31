/* Growable byte buffer and message builder; see pg_buf.h. */
#include "protocol/pg_buf.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_codes.h"

/* No single buffer grows past this; PostgreSQL's own message cap is 1 GB. */
#define PG_BUF_MAX ((size_t)1 << 30) + 64

void pg_buf_init(pg_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void pg_buf_free(pg_buf *b)
{
    free(b->data);
    pg_buf_init(b);
}

void pg_buf_reset(pg_buf *b)
{
    b->len = 0;
    b->msg_start = 0;
    b->failed = false;
}

bool pg_buf_reserve(pg_buf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (extra > PG_BUF_MAX - b->len) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + extra;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void pg_buf_consume(pg_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void pg_buf_put(pg_buf *b, const void *p, size_t n)
{
    if (!pg_buf_reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

size_t pg_buf_pass(pg_buf *b, const uint8_t *p, size_t avail, size_t *left)
{
    size_t n = avail < *left ? avail : *left;
    if (b)
        pg_buf_put(b, p, n);
    *left -= n;
    return n;
}

void pg_buf_put_byte(pg_buf *b, uint8_t v)
{
    pg_buf_put(b, &v, 1);
}

void pg_buf_put_int16(pg_buf *b, int16_t v)
{
    uint16_t n = htons((uint16_t)v);
    pg_buf_put(b, &n, 2);
}

void pg_buf_put_int32(pg_buf *b, int32_t v)
{
    uint32_t n = htonl((uint32_t)v);
    pg_buf_put(b, &n, 4);
}

void pg_buf_put_cstring(pg_buf *b, const char *s)
{
    pg_buf_put(b, s, strlen(s) + 1);
}

void pg_buf_begin_msg(pg_buf *b, uint8_t type)
{
    if (type)
        pg_buf_put_byte(b, type);
    b->msg_start = b->len;
    pg_buf_put_int32(b, 0);
}

void pg_buf_end_msg(pg_buf *b)
{
    if (b->failed)
        return;
    uint32_t n = htonl((uint32_t)(b->len - b->msg_start));
    memcpy(b->data + b->msg_start, &n, 4);
}

static void put_error_fields(pg_buf *b, const char *severity, const char *sqlstate,
                             const char *message)
{
    pg_buf_put_byte(b, 'S');
    pg_buf_put_cstring(b, severity);
    pg_buf_put_byte(b, 'V');
    pg_buf_put_cstring(b, severity);
    pg_buf_put_byte(b, 'C');
    pg_buf_put_cstring(b, sqlstate);
    pg_buf_put_byte(b, 'M');
    pg_buf_put_cstring(b, message);
    pg_buf_put_byte(b, 0);
}

void pg_buf_error(pg_buf *b, bool fatal, const char *sqlstate, const char *message)
{
    pg_buf_begin_msg(b, PG_BE_ERROR_RESPONSE);
    put_error_fields(b, fatal ? "FATAL" : "ERROR", sqlstate, message);
    pg_buf_end_msg(b);
}

void pg_buf_notice(pg_buf *b, const char *sqlstate, const char *message)
{
    pg_buf_begin_msg(b, PG_BE_NOTICE_RESPONSE);
    put_error_fields(b, "WARNING", sqlstate, message);
    pg_buf_end_msg(b);
}

void pg_buf_ready_for_query(pg_buf *b, uint8_t tx_status)
{
    pg_buf_begin_msg(b, PG_BE_READY_FOR_QUERY);
    pg_buf_put_byte(b, tx_status);
    pg_buf_end_msg(b);
}

void pg_buf_auth_request(pg_buf *b, int32_t code, const void *payload, size_t n)
{
    pg_buf_begin_msg(b, PG_BE_AUTHENTICATION);
    pg_buf_put_int32(b, code);
    pg_buf_put(b, payload, n);
    pg_buf_end_msg(b);
}

void pg_buf_parameter_status(pg_buf *b, const char *name, const char *value)
{
    pg_buf_begin_msg(b, PG_BE_PARAMETER_STATUS);
    pg_buf_put_cstring(b, name);
    pg_buf_put_cstring(b, value);
    pg_buf_end_msg(b);
}

void pg_buf_backend_key(pg_buf *b, int32_t pid, int32_t key)
{
    pg_buf_begin_msg(b, PG_BE_BACKEND_KEY_DATA);
    pg_buf_put_int32(b, pid);
    pg_buf_put_int32(b, key);
    pg_buf_end_msg(b);
}

void pg_buf_startup(pg_buf *b, const char *const *names, const char *const *values, size_t n)
{
    pg_buf_begin_msg(b, 0);
    pg_buf_put_int32(b, (int32_t)PG_PROTOCOL_3_0);
    for (size_t i = 0; i < n; i++) {
        pg_buf_put_cstring(b, names[i]);
        pg_buf_put_cstring(b, values[i]);
    }
    pg_buf_put_byte(b, 0);
    pg_buf_end_msg(b);
}

void pg_buf_password(pg_buf *b, const char *password)
{
    pg_buf_begin_msg(b, PG_FE_PASSWORD);
    pg_buf_put_cstring(b, password);
    pg_buf_end_msg(b);
}

void pg_buf_sasl_initial(pg_buf *b, const char *mechanism, const void *data, size_t n)
{
    pg_buf_begin_msg(b, PG_FE_PASSWORD);
    pg_buf_put_cstring(b, mechanism);
    pg_buf_put_int32(b, (int32_t)n);
    pg_buf_put(b, data, n);
    pg_buf_end_msg(b);
}

void pg_buf_sasl_response(pg_buf *b, const void *data, size_t n)
{
    pg_buf_begin_msg(b, PG_FE_PASSWORD);
    pg_buf_put(b, data, n);
    pg_buf_end_msg(b);
}

void pg_buf_cancel_request(pg_buf *b, int32_t pid, int32_t key)
{
    pg_buf_begin_msg(b, 0);
    pg_buf_put_int32(b, (int32_t)PG_CANCEL_REQUEST_CODE);
    pg_buf_put_int32(b, pid);
    pg_buf_put_int32(b, key);
    pg_buf_end_msg(b);
}

void pg_buf_simple(pg_buf *b, uint8_t type)
{
    pg_buf_begin_msg(b, type);
    pg_buf_end_msg(b);
}

void pg_buf_query(pg_buf *b, const char *sql)
{
    pg_buf_begin_msg(b, PG_FE_QUERY);
    pg_buf_put_cstring(b, sql);
    pg_buf_end_msg(b);
}
