/* Shape keys for classify_cache: the query text with numeric constants replaced, the
 * constants found by libpg_query's scanner. The scanner's answer is protobuf; the few
 * fields needed here are read straight from the wire bytes, which costs a fraction of
 * unpacking every token into its own allocated struct (measured: see classify_cache.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include "routing/classify_internal.h"
#include "routing/classify_shape.h"

/* Field numbers of pg_query.proto's ScanResult and ScanToken. */
enum {
    SCAN_RESULT_TOKENS = 2,
    SCAN_TOKEN_START = 1,
    SCAN_TOKEN_END = 2,
    SCAN_TOKEN_TOKEN = 4,
};

typedef struct scan_token {
    uint64_t start, end;
    PgQuery__Token token;
} scan_token;

/* Reads one ScanToken message occupying buf[pos, end). */
static bool read_token(const unsigned char *buf, size_t pos, size_t end, scan_token *t)
{
    *t = (scan_token){0}; /* proto3 leaves zero-valued fields out */
    while (pos < end) {
        uint64_t tag, v;
        if (!classify_read_varint(buf, end, &pos, &tag) || (tag & 7) != 0 ||
            !classify_read_varint(buf, end, &pos, &v))
            return false; /* every ScanToken field is a varint */
        switch (tag >> 3) {
        case SCAN_TOKEN_START: t->start = v; break;
        case SCAN_TOKEN_END: t->end = v; break;
        case SCAN_TOKEN_TOKEN: t->token = (PgQuery__Token)v; break;
        default: break;
        }
    }
    return true;
}

static bool is_comment(PgQuery__Token t)
{
    return t == PG_QUERY__TOKEN__SQL_COMMENT || t == PG_QUERY__TOKEN__C_COMMENT;
}

/* prev1 is the token just before this one, prev2 the one before it (comments skipped). */
static bool value_matters(PgQuery__Token prev2, PgQuery__Token prev1)
{
    if (prev1 == PG_QUERY__TOKEN__ASCII_91) /* '[': array bound or subscript */
        return true;
    return prev2 == PG_QUERY__TOKEN__FLOAT_P && prev1 == PG_QUERY__TOKEN__ASCII_40;
}

static bool append(classify_shape_buf *out, const char *s, size_t n)
{
    if (out->cap - out->len < n + 1) {
        size_t cap = out->cap ? out->cap : 256;
        while (cap - out->len < n + 1)
            cap *= 2;
        char *p = realloc(out->data, cap);
        if (!p)
            return false;
        out->data = p;
        out->cap = cap;
    }
    memcpy(out->data + out->len, s, n);
    out->len += n;
    out->data[out->len] = '\0';
    return true;
}

/* Walks the packed ScanResult; false when the bytes are not what libpg_query writes. */
static bool build(const char *sql, size_t len, const unsigned char *buf, size_t n,
                  classify_shape_buf *out, size_t *replaced)
{
    PgQuery__Token prev1 = 0, prev2 = 0;
    size_t copied = 0, pos = 0;
    while (pos < n) {
        uint64_t tag, v;
        if (!classify_read_varint(buf, n, &pos, &tag) || !classify_read_varint(buf, n, &pos, &v))
            return false;
        if ((tag & 7) == 0)
            continue; /* the version number */
        if ((tag & 7) != 2 || v > n - pos)
            return false;
        size_t end = pos + (size_t)v;
        scan_token t;
        if (tag >> 3 != SCAN_RESULT_TOKENS || !read_token(buf, pos, end, &t))
            return false;
        pos = end;
        if (is_comment(t.token))
            continue;
        bool numeric = t.token == PG_QUERY__TOKEN__ICONST || t.token == PG_QUERY__TOKEN__FCONST;
        if (numeric && !value_matters(prev2, prev1)) {
            if (t.start < copied || t.end <= t.start || t.end > len)
                return false;
            char mark[2] = {CLASSIFY_SHAPE_MARK, t.token == PG_QUERY__TOKEN__ICONST ? 'i' : 'f'};
            if (!append(out, sql + copied, (size_t)t.start - copied) || !append(out, mark, 2))
                return false;
            copied = (size_t)t.end;
            (*replaced)++;
        }
        prev2 = prev1;
        prev1 = t.token;
    }
    return *replaced == 0 || append(out, sql + copied, len - copied);
}

size_t classify_shape_of(const char *sql, size_t len, classify_shape_buf *out)
{
    out->len = 0;
    PgQueryScanResult r = pg_query_scan(sql);
    size_t replaced = 0;
    if (r.error || !build(sql, len, (const unsigned char *)r.pbuf.data, r.pbuf.len, out,
                          &replaced))
        replaced = 0;
    pg_query_free_scan_result(r);
    if (replaced == 0)
        out->len = 0;
    return replaced;
}

void classify_shape_buf_free(classify_shape_buf *b)
{
    free(b->data);
    *b = (classify_shape_buf){0};
}
