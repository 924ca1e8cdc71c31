/* Bounds-checked message body reader; see pg_reader.h. */
#include "protocol/pg_reader.h"

#include <string.h>

void pg_reader_init(pg_reader *r, const uint8_t *body, size_t len)
{
    r->p = body;
    r->len = len;
    r->pos = 0;
    r->bad = false;
}

const uint8_t *pg_read_bytes(pg_reader *r, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = true;
        return NULL;
    }
    if (n == 0)
        return r->p ? r->p + r->pos : (const uint8_t *)"";
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

uint8_t pg_read_byte(pg_reader *r)
{
    const uint8_t *p = pg_read_bytes(r, 1);
    return p ? p[0] : 0;
}

int16_t pg_read_int16(pg_reader *r)
{
    const uint8_t *p = pg_read_bytes(r, 2);
    return p ? (int16_t)(((uint16_t)p[0] << 8) | p[1]) : 0;
}

int32_t pg_read_int32(pg_reader *r)
{
    const uint8_t *p = pg_read_bytes(r, 4);
    if (!p)
        return 0;
    return (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
                     p[3]);
}

const char *pg_read_cstring(pg_reader *r)
{
    if (r->bad || r->pos == r->len) {
        r->bad = true;
        return "";
    }
    const uint8_t *start = r->p + r->pos;
    const uint8_t *nul = memchr(start, 0, r->len - r->pos);
    if (!nul) {
        r->bad = true;
        return "";
    }
    r->pos += (size_t)(nul - start) + 1;
    return (const char *)start;
}

size_t pg_reader_remaining(const pg_reader *r)
{
    return r->bad ? 0 : r->len - r->pos;
}

bool pg_reader_end(const pg_reader *r)
{
    return !r->bad && r->pos == r->len;
}
