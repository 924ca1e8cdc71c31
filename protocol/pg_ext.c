/* Extended-query messages; see pg_ext.h. */
#include "protocol/pg_ext.h"

#include <string.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_reader.h"

bool pg_decode_parse(const uint8_t *body, size_t len, pg_parse_msg *out)
{
    pg_reader r;
    pg_reader_init(&r, body, len);
    out->name = pg_read_cstring(&r);
    out->query = pg_read_cstring(&r);
    int16_t n = pg_read_int16(&r);
    if (n < 0)
        return false;
    out->n_types = (size_t)n;
    out->types = pg_read_bytes(&r, out->n_types * 4);
    return pg_reader_end(&r);
}

bool pg_decode_bind(const uint8_t *body, size_t len, pg_bind_msg *out)
{
    pg_reader r;
    pg_reader_init(&r, body, len);
    out->portal = pg_read_cstring(&r);
    out->statement = pg_read_cstring(&r);
    int16_t n = pg_read_int16(&r);
    if (n < 0)
        return false;
    (void)pg_read_bytes(&r, (size_t)n * 2);
    n = pg_read_int16(&r);
    if (n < 0)
        return false;
    for (int16_t i = 0; i < n && !r.bad; i++) {
        int32_t vlen = pg_read_int32(&r);
        if (vlen > 0)
            (void)pg_read_bytes(&r, (size_t)vlen);
        else if (vlen < -1)
            return false;
    }
    out->result_formats_at = r.pos;
    n = pg_read_int16(&r);
    if (n < 0)
        return false;
    out->n_result_formats = (size_t)n;
    out->result_formats = pg_read_bytes(&r, out->n_result_formats * 2);
    return pg_reader_end(&r);
}

bool pg_decode_target(const uint8_t *body, size_t len, pg_target_msg *out)
{
    pg_reader r;
    pg_reader_init(&r, body, len);
    out->kind = pg_read_byte(&r);
    out->name = pg_read_cstring(&r);
    return pg_reader_end(&r) && (out->kind == 'S' || out->kind == 'P');
}

bool pg_decode_execute(const uint8_t *body, size_t len, pg_execute_msg *out)
{
    pg_reader r;
    pg_reader_init(&r, body, len);
    out->portal = pg_read_cstring(&r);
    out->max_rows = pg_read_int32(&r);
    return pg_reader_end(&r);
}

void pg_buf_bind_formats(pg_buf *b, const uint8_t *body, const pg_bind_msg *m,
                         const int16_t *formats, size_t n_formats)
{
    pg_buf_begin_msg(b, PG_FE_BIND);
    pg_buf_put(b, body, m->result_formats_at);
    pg_buf_put_int16(b, (int16_t)n_formats);
    for (size_t i = 0; i < n_formats; i++)
        pg_buf_put_int16(b, formats[i]);
    pg_buf_end_msg(b);
}

void pg_buf_parse(pg_buf *b, const char *name, const char *sql)
{
    pg_buf_begin_msg(b, PG_FE_PARSE);
    pg_buf_put_cstring(b, name);
    pg_buf_put_cstring(b, sql);
    pg_buf_put_int16(b, 0);
    pg_buf_end_msg(b);
}

void pg_buf_bind_text(pg_buf *b, const char *portal, const char *statement,
                      const char *const *params, size_t n_params)
{
    pg_buf_begin_msg(b, PG_FE_BIND);
    pg_buf_put_cstring(b, portal);
    pg_buf_put_cstring(b, statement);
    pg_buf_put_int16(b, 0);
    pg_buf_put_int16(b, (int16_t)n_params);
    for (size_t i = 0; i < n_params; i++) {
        if (!params[i]) {
            pg_buf_put_int32(b, -1);
            continue;
        }
        size_t n = strlen(params[i]);
        pg_buf_put_int32(b, (int32_t)n);
        pg_buf_put(b, params[i], n);
    }
    pg_buf_put_int16(b, 0);
    pg_buf_end_msg(b);
}

void pg_buf_execute(pg_buf *b, const char *portal, int32_t max_rows)
{
    pg_buf_begin_msg(b, PG_FE_EXECUTE);
    pg_buf_put_cstring(b, portal);
    pg_buf_put_int32(b, max_rows);
    pg_buf_end_msg(b);
}

static void put_target(pg_buf *b, uint8_t type, uint8_t kind, const char *name)
{
    pg_buf_begin_msg(b, type);
    pg_buf_put_byte(b, kind);
    pg_buf_put_cstring(b, name);
    pg_buf_end_msg(b);
}

void pg_buf_describe(pg_buf *b, uint8_t kind, const char *name)
{
    put_target(b, PG_FE_DESCRIBE, kind, name);
}

void pg_buf_close(pg_buf *b, uint8_t kind, const char *name)
{
    put_target(b, PG_FE_CLOSE, kind, name);
}

void pg_buf_run_once(pg_buf *b, const char *name, const char *sql)
{
    pg_buf_parse(b, name, sql);
    pg_buf_bind_text(b, name, name, NULL, 0);
    pg_buf_execute(b, name, 0);
    pg_buf_close(b, 'P', name);
    pg_buf_close(b, 'S', name);
}

size_t pg_count_replies(const uint8_t *msgs, size_t len)
{
    size_t n = 0, pos = 0;
    while (pos + 5 <= len) {
        uint8_t t = msgs[pos];
        if (t == PG_FE_PARSE || t == PG_FE_BIND || t == PG_FE_DESCRIBE || t == PG_FE_EXECUTE ||
            t == PG_FE_CLOSE)
            n++;
        pos += pg_frame_whole_len(msgs + pos);
    }
    return n;
}

bool pg_ends_reply(uint8_t type)
{
    switch (type) {
    case PG_BE_PARSE_COMPLETE:
    case PG_BE_BIND_COMPLETE:
    case PG_BE_CLOSE_COMPLETE:
    case PG_BE_NO_DATA:
    case PG_BE_ROW_DESCRIPTION:
    case PG_BE_COMMAND_COMPLETE:
    case PG_BE_EMPTY_QUERY_RESPONSE:
    case PG_BE_PORTAL_SUSPENDED:
        return true;
    default:
        return false;
    }
}
