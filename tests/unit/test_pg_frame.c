/* Unit tests for protocol/pg_frame: incomplete headers, invalid and oversized
 * lengths, per-type limits in both directions, startup packets, and framing
 * equivalence (a stream framed whole or fed in random chunks gives the same
 * frames). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_buf.h"
#include "protocol/pg_codes.h"
#include "protocol/pg_frame.h"

typedef pg_frame_status (*framer)(const uint8_t *, size_t, pg_frame *, const char **);

static void header(uint8_t out[5], uint8_t type, uint32_t len)
{
    out[0] = type;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

static pg_frame_status frame_typed(framer fn, uint8_t type, uint32_t len, pg_frame *f,
                                   const char **err)
{
    uint8_t h[5];
    header(h, type, len);
    *err = NULL;
    memset(f, 0xaa, sizeof(*f));
    return fn(h, 5, f, err);
}

static pg_frame_status frame_startup_len(uint32_t len, pg_frame *f, const char **err)
{
    uint8_t h[5];
    header(h, 0, len);
    *err = NULL;
    return pg_frame_startup(h + 1, 4, f, err);
}

/* ---- limits tables ---- */

Test(pg_frame, frontend_limits_table)
{
    static const struct {
        uint8_t type;
        uint32_t max;
    } cases[] = {
        {PG_FE_QUERY, PG_LONG_MSG_MAX_LEN},       {PG_FE_PARSE, PG_LONG_MSG_MAX_LEN},
        {PG_FE_BIND, PG_LONG_MSG_MAX_LEN},        {PG_FE_FUNCTION_CALL, PG_LONG_MSG_MAX_LEN},
        {PG_FE_COPY_DATA, PG_LONG_MSG_MAX_LEN},   {PG_FE_PASSWORD, PG_AUTH_MSG_MAX_LEN},
        {PG_FE_CLOSE, PG_SMALL_MSG_MAX_LEN},      {PG_FE_DESCRIBE, PG_SMALL_MSG_MAX_LEN},
        {PG_FE_EXECUTE, PG_SMALL_MSG_MAX_LEN},    {PG_FE_FLUSH, PG_SMALL_MSG_MAX_LEN},
        {PG_FE_SYNC, PG_SMALL_MSG_MAX_LEN},       {PG_FE_TERMINATE, PG_SMALL_MSG_MAX_LEN},
        {PG_FE_COPY_DONE, PG_SMALL_MSG_MAX_LEN},  {PG_FE_COPY_FAIL, PG_SMALL_MSG_MAX_LEN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_expect_eq(pg_frame_fe_max(cases[i].type), cases[i].max, "type '%c'", cases[i].type);
        pg_frame f;
        const char *err;
        /* exactly at the limit: fine; one past: too long */
        cr_expect_eq(frame_typed(pg_frame_fe, cases[i].type, cases[i].max, &f, &err),
                     PG_FRAME_OK, "type '%c' at its limit", cases[i].type);
        cr_expect_eq(f.type, cases[i].type);
        cr_expect_eq(f.hdr_len, 5);
        cr_expect_eq(f.body_len, cases[i].max - 4);
        cr_expect_eq(frame_typed(pg_frame_fe, cases[i].type, cases[i].max + 1, &f, &err),
                     PG_FRAME_INVALID, "type '%c' past its limit", cases[i].type);
        cr_expect_not_null(err);
    }
    /* the whole byte range: only the listed types are valid from a client */
    size_t valid = 0;
    for (int t = 0; t < 256; t++)
        valid += pg_frame_fe_max((uint8_t)t) != 0;
    cr_expect_eq(valid, sizeof cases / sizeof cases[0]);
}

Test(pg_frame, backend_limits_table)
{
    static const uint8_t long_types[] = {
        PG_BE_ROW_DESCRIPTION,     PG_BE_DATA_ROW,          PG_BE_COPY_DATA,
        PG_BE_FUNCTION_CALL_RESPONSE, PG_BE_ERROR_RESPONSE, PG_BE_NOTICE_RESPONSE,
        PG_BE_NOTIFICATION_RESPONSE, PG_BE_PARAMETER_DESCRIPTION,
    };
    static const uint8_t short_types[] = {
        PG_BE_BACKEND_KEY_DATA,  PG_BE_BIND_COMPLETE,       PG_BE_CLOSE_COMPLETE,
        PG_BE_COMMAND_COMPLETE,  PG_BE_COPY_DONE,           PG_BE_COPY_IN_RESPONSE,
        PG_BE_COPY_OUT_RESPONSE, PG_BE_COPY_BOTH_RESPONSE,  PG_BE_EMPTY_QUERY_RESPONSE,
        PG_BE_NEGOTIATE_PROTOCOL_VERSION, PG_BE_NO_DATA,    PG_BE_PARAMETER_STATUS,
        PG_BE_PARSE_COMPLETE,    PG_BE_PORTAL_SUSPENDED,    PG_BE_READY_FOR_QUERY,
    };
    for (size_t i = 0; i < sizeof long_types; i++)
        cr_expect_eq(pg_frame_be_max(long_types[i]), PG_LONG_MSG_MAX_LEN, "'%c'", long_types[i]);
    for (size_t i = 0; i < sizeof short_types; i++) {
        uint32_t max = pg_frame_be_max(short_types[i]);
        cr_expect(max >= 4 && max < PG_LONG_MSG_MAX_LEN, "'%c': %u", short_types[i], max);
    }
    cr_expect_eq(pg_frame_be_max(PG_BE_AUTHENTICATION), PG_AUTH_MSG_MAX_LEN);
    size_t valid = 0;
    for (int t = 0; t < 256; t++)
        valid += pg_frame_be_max((uint8_t)t) != 0;
    cr_expect_eq(valid, sizeof long_types + sizeof short_types + 1);

    /* every valid type at its limit frames, one past does not */
    for (int t = 0; t < 256; t++) {
        uint32_t max = pg_frame_be_max((uint8_t)t);
        if (!max)
            continue;
        pg_frame f;
        const char *err;
        cr_expect_eq(frame_typed(pg_frame_be, (uint8_t)t, max, &f, &err), PG_FRAME_OK);
        cr_expect_eq(f.body_len, max - 4);
        cr_expect_eq(frame_typed(pg_frame_be, (uint8_t)t, max + 1, &f, &err), PG_FRAME_INVALID);
    }
}

/* ---- typed headers ---- */

Test(pg_frame, incomplete_header)
{
    uint8_t h[5];
    header(h, PG_FE_QUERY, 9);
    for (size_t n = 0; n < 5; n++) {
        pg_frame f;
        const char *err = NULL;
        cr_expect_eq(pg_frame_fe(h, n, &f, &err), PG_FRAME_INCOMPLETE, "fe with %zu bytes", n);
        cr_expect_null(err);
    }
    header(h, PG_BE_DATA_ROW, 9);
    for (size_t n = 0; n < 5; n++) {
        pg_frame f;
        const char *err = NULL;
        cr_expect_eq(pg_frame_be(h, n, &f, &err), PG_FRAME_INCOMPLETE, "be with %zu bytes", n);
    }
    /* a NULL buffer with nothing in it */
    pg_frame f;
    const char *err = NULL;
    cr_expect_eq(pg_frame_fe(NULL, 0, &f, &err), PG_FRAME_INCOMPLETE);
    cr_expect_eq(pg_frame_be(NULL, 0, &f, &err), PG_FRAME_INCOMPLETE);
    cr_expect_eq(pg_frame_startup(NULL, 0, &f, &err), PG_FRAME_INCOMPLETE);
}

Test(pg_frame, header_ok_body_pending)
{
    /* the framer looks at the header only; the body may still be on the way */
    uint8_t h[5];
    header(h, PG_FE_QUERY, 100);
    pg_frame f;
    const char *err = NULL;
    cr_assert_eq(pg_frame_fe(h, 5, &f, &err), PG_FRAME_OK);
    cr_assert_eq(f.type, 'Q');
    cr_assert_eq(f.hdr_len, 5);
    cr_assert_eq(f.body_len, 96);
}

Test(pg_frame, length_below_four)
{
    static const uint32_t lens[] = {0, 1, 2, 3};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        pg_frame f;
        const char *err;
        cr_expect_eq(frame_typed(pg_frame_fe, PG_FE_SYNC, lens[i], &f, &err), PG_FRAME_INVALID,
                     "fe length %u", lens[i]);
        cr_expect_not_null(err);
        cr_expect_eq(frame_typed(pg_frame_fe, PG_FE_QUERY, lens[i], &f, &err), PG_FRAME_INVALID);
        cr_expect_eq(frame_typed(pg_frame_be, PG_BE_READY_FOR_QUERY, lens[i], &f, &err),
                     PG_FRAME_INVALID, "be length %u", lens[i]);
        cr_expect_not_null(err);
    }
    pg_frame f;
    const char *err;
    cr_expect_eq(frame_typed(pg_frame_fe, PG_FE_SYNC, 4, &f, &err), PG_FRAME_OK);
    cr_expect_eq(f.body_len, 0);
}

Test(pg_frame, huge_lengths)
{
    static const uint32_t lens[] = {0x7fffffffu, 0x80000000u, 0xfffffffcu, 0xffffffffu,
                                    PG_LONG_MSG_MAX_LEN + 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        pg_frame f;
        const char *err;
        cr_expect_eq(frame_typed(pg_frame_fe, PG_FE_QUERY, lens[i], &f, &err), PG_FRAME_INVALID,
                     "Query length 0x%x", lens[i]);
        cr_expect_not_null(err);
        cr_expect_eq(frame_typed(pg_frame_fe, PG_FE_COPY_DATA, lens[i], &f, &err),
                     PG_FRAME_INVALID);
        cr_expect_eq(frame_typed(pg_frame_be, PG_BE_DATA_ROW, lens[i], &f, &err),
                     PG_FRAME_INVALID, "DataRow length 0x%x", lens[i]);
    }
}

Test(pg_frame, per_type_limits_examples)
{
    pg_frame f;
    const char *err;
    cr_expect_eq(frame_typed(pg_frame_fe, PG_FE_SYNC, 10005, &f, &err), PG_FRAME_INVALID,
                 "Sync of 10,005 bytes");
    cr_expect_not_null(err);
    cr_expect_eq(frame_typed(pg_frame_fe, PG_FE_EXECUTE, 10001, &f, &err), PG_FRAME_INVALID);
    cr_expect_eq(frame_typed(pg_frame_fe, PG_FE_QUERY, 1u << 20, &f, &err), PG_FRAME_OK,
                 "Query of 1 MB");
    cr_expect_eq(f.body_len, (1u << 20) - 4);
    cr_expect_eq(frame_typed(pg_frame_fe, PG_FE_BIND, 100u << 20, &f, &err), PG_FRAME_OK);
    cr_expect_eq(frame_typed(pg_frame_fe, PG_FE_PASSWORD, 65536, &f, &err), PG_FRAME_INVALID);
    cr_expect_eq(frame_typed(pg_frame_be, PG_BE_DATA_ROW, 1u << 20, &f, &err), PG_FRAME_OK);
    cr_expect_eq(frame_typed(pg_frame_be, PG_BE_AUTHENTICATION, 65536, &f, &err),
                 PG_FRAME_INVALID);
    cr_expect_eq(frame_typed(pg_frame_be, PG_BE_READY_FOR_QUERY, 1u << 20, &f, &err),
                 PG_FRAME_INVALID);
}

Test(pg_frame, unknown_types)
{
    /* bytes that are no message type in that direction (some are valid in the other) */
    static const uint8_t fe_bad[] = {0, 'A', 'Z', 'R', 'K', 'T', 'I', 'N', 'G', 'W', 'n', 'q',
                                     '1', 0xff, 'x', ' '};
    static const uint8_t be_bad[] = {0, 'B', 'Q', 'P', 'X', 'F', 'f', 'p', 'q', 'z', 0xff, '0',
                                     '4', 'M', ' '};
    for (size_t i = 0; i < sizeof fe_bad; i++) {
        pg_frame f;
        const char *err;
        cr_expect_eq(frame_typed(pg_frame_fe, fe_bad[i], 5, &f, &err), PG_FRAME_INVALID,
                     "fe type 0x%02x", fe_bad[i]);
        cr_expect_not_null(err);
        cr_expect_eq(pg_frame_fe_max(fe_bad[i]), 0);
    }
    for (size_t i = 0; i < sizeof be_bad; i++) {
        pg_frame f;
        const char *err;
        cr_expect_eq(frame_typed(pg_frame_be, be_bad[i], 5, &f, &err), PG_FRAME_INVALID,
                     "be type 0x%02x", be_bad[i]);
        cr_expect_not_null(err);
        cr_expect_eq(pg_frame_be_max(be_bad[i]), 0);
    }
}

/* ---- startup packets ---- */

Test(pg_frame, startup_lengths)
{
    static const struct {
        uint32_t len;
        pg_frame_status want;
    } cases[] = {
        {0, PG_FRAME_INVALID},      {4, PG_FRAME_INVALID},      {7, PG_FRAME_INVALID},
        {8, PG_FRAME_OK},           {16, PG_FRAME_OK},          {9999, PG_FRAME_OK},
        {10000, PG_FRAME_OK},       {10001, PG_FRAME_INVALID},  {65536, PG_FRAME_INVALID},
        {0x7fffffff, PG_FRAME_INVALID}, {0xffffffff, PG_FRAME_INVALID},
        {0x04d2162f, PG_FRAME_INVALID}, /* an SSLRequest code where the length goes */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pg_frame f;
        const char *err;
        pg_frame_status st = frame_startup_len(cases[i].len, &f, &err);
        cr_expect_eq(st, cases[i].want, "startup length %u", cases[i].len);
        if (st == PG_FRAME_OK) {
            cr_expect_eq(f.type, 0);
            cr_expect_eq(f.hdr_len, 4);
            cr_expect_eq(f.body_len, cases[i].len - 4);
        } else {
            cr_expect_not_null(err);
        }
    }
    uint8_t h[4] = {0, 0, 0, 8};
    for (size_t n = 0; n < 4; n++) {
        pg_frame f;
        const char *err = NULL;
        cr_expect_eq(pg_frame_startup(h, n, &f, &err), PG_FRAME_INCOMPLETE, "%zu bytes", n);
    }
}

Test(pg_frame, startup_built_packets)
{
    static const char *const names[] = {"user", "database"};
    static const char *const values[] = {"u", "d"};
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_startup(&b, names, values, 2);
    pg_frame f;
    const char *err = NULL;
    cr_assert_eq(pg_frame_startup(b.data, b.len, &f, &err), PG_FRAME_OK);
    cr_assert_eq(f.hdr_len + f.body_len, b.len);
    pg_buf_reset(&b);
    pg_buf_cancel_request(&b, 1, 2);
    cr_assert_eq(pg_frame_startup(b.data, b.len, &f, &err), PG_FRAME_OK);
    cr_assert_eq(f.body_len, 12);
    pg_buf_free(&b);
}

/* ---- framing equivalence ---- */

typedef struct frame_rec {
    uint8_t type;
    size_t offset; /* of the header, in the stream */
    size_t body_len;
} frame_rec;

typedef struct frame_run {
    frame_rec frames[64];
    size_t n;
    pg_frame_status last; /* INVALID when the stream broke, else INCOMPLETE */
    const char *err;
    size_t consumed;
} frame_run;

/* Frames the whole stream in one go. */
static void frame_whole(framer fn, const uint8_t *s, size_t len, frame_run *out)
{
    memset(out, 0, sizeof(*out));
    size_t pos = 0;
    for (;;) {
        pg_frame f;
        const char *err = NULL;
        pg_frame_status st = fn(s + pos, len - pos, &f, &err);
        if (st == PG_FRAME_OK && f.hdr_len + f.body_len > len - pos)
            st = PG_FRAME_INCOMPLETE;
        if (st != PG_FRAME_OK) {
            out->last = st;
            out->err = err;
            break;
        }
        cr_assert_lt(out->n, 64);
        out->frames[out->n++] = (frame_rec){f.type, pos, f.body_len};
        pos += f.hdr_len + f.body_len;
    }
    out->consumed = pos;
}

/* Feeds the stream into a pg_buf in chunks, framing after each chunk as a
 * connection would, and checks each body against the stream bytes. */
static void frame_chunked(framer fn, const uint8_t *s, size_t len, uint32_t seed, size_t max_chunk,
                          frame_run *out)
{
    memset(out, 0, sizeof(*out));
    pg_buf acc;
    pg_buf_init(&acc);
    size_t fed = 0, consumed = 0;
    bool broken = false;
    while (!broken && fed < len) {
        seed = seed * 1103515245u + 12345u;
        size_t chunk = 1 + (seed >> 8) % max_chunk;
        if (chunk > len - fed)
            chunk = len - fed;
        pg_buf_put(&acc, s + fed, chunk);
        cr_assert_not(acc.failed);
        fed += chunk;
        for (;;) {
            pg_frame f;
            const char *err = NULL;
            pg_frame_status st = fn(acc.data, acc.len, &f, &err);
            if (st == PG_FRAME_INVALID) {
                out->last = st;
                out->err = err;
                broken = true;
                break;
            }
            if (st == PG_FRAME_INCOMPLETE || f.hdr_len + f.body_len > acc.len)
                break;
            cr_assert_lt(out->n, 64);
            cr_assert_eq(memcmp(acc.data, s + consumed, f.hdr_len + f.body_len), 0);
            out->frames[out->n++] = (frame_rec){f.type, consumed, f.body_len};
            consumed += f.hdr_len + f.body_len;
            pg_buf_consume(&acc, f.hdr_len + f.body_len);
        }
    }
    if (!broken)
        out->last = PG_FRAME_INCOMPLETE;
    out->consumed = consumed;
    pg_buf_free(&acc);
}

static void expect_same_runs(const frame_run *a, const frame_run *b, const char *what)
{
    cr_assert_eq(a->n, b->n, "%s: %zu frames whole, %zu chunked", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        cr_assert_eq(a->frames[i].type, b->frames[i].type, "%s: frame %zu type", what, i);
        cr_assert_eq(a->frames[i].offset, b->frames[i].offset, "%s: frame %zu offset", what, i);
        cr_assert_eq(a->frames[i].body_len, b->frames[i].body_len, "%s: frame %zu", what, i);
    }
    cr_assert_eq(a->last, b->last, "%s: final status", what);
    cr_assert_eq(a->err, b->err, "%s: error", what);
    cr_assert_eq(a->consumed, b->consumed, "%s: bytes consumed", what);
}

static void build_fe_stream(pg_buf *b)
{
    pg_buf_query(b, "SELECT 1; SELECT 2");
    pg_buf_begin_msg(b, PG_FE_PARSE);
    pg_buf_put_cstring(b, "s1");
    pg_buf_put_cstring(b, "SELECT $1::int");
    pg_buf_put_int16(b, 1);
    pg_buf_put_int32(b, 23);
    pg_buf_end_msg(b);
    pg_buf_begin_msg(b, PG_FE_BIND);
    pg_buf_put_cstring(b, "");
    pg_buf_put_cstring(b, "s1");
    pg_buf_put_int16(b, 0);
    pg_buf_put_int16(b, 1);
    pg_buf_put_int32(b, 2);
    pg_buf_put(b, "42", 2);
    pg_buf_put_int16(b, 0);
    pg_buf_end_msg(b);
    pg_buf_begin_msg(b, PG_FE_EXECUTE);
    pg_buf_put_cstring(b, "");
    pg_buf_put_int32(b, 0);
    pg_buf_end_msg(b);
    pg_buf_simple(b, PG_FE_SYNC);
    /* a CopyData bigger than any chunk */
    pg_buf_begin_msg(b, PG_FE_COPY_DATA);
    for (int i = 0; i < 70000; i++)
        pg_buf_put_byte(b, (uint8_t)(i % 251));
    pg_buf_end_msg(b);
    pg_buf_simple(b, PG_FE_COPY_DONE);
    pg_buf_simple(b, PG_FE_FLUSH);
    pg_buf_simple(b, PG_FE_TERMINATE);
}

static void check_equivalence(framer fn, const uint8_t *s, size_t len, size_t want_frames,
                              pg_frame_status want_last)
{
    frame_run whole;
    frame_whole(fn, s, len, &whole);
    cr_assert_eq(whole.n, want_frames, "whole stream gave %zu frames", whole.n);
    cr_assert_eq(whole.last, want_last);
    static const size_t max_chunks[] = {1, 2, 3, 5, 7, 64, 1000, 100000};
    for (size_t m = 0; m < sizeof max_chunks / sizeof max_chunks[0]; m++) {
        for (uint32_t seed = 1; seed <= 4; seed++) {
            frame_run chunked;
            frame_chunked(fn, s, len, seed * 2654435761u, max_chunks[m], &chunked);
            expect_same_runs(&whole, &chunked, "chunked");
        }
    }
}

Test(pg_frame, equivalence_frontend_stream)
{
    pg_buf b;
    pg_buf_init(&b);
    build_fe_stream(&b);
    cr_assert_not(b.failed);
    check_equivalence(pg_frame_fe, b.data, b.len, 9, PG_FRAME_INCOMPLETE);
    /* cut short in the middle of the big CopyData */
    check_equivalence(pg_frame_fe, b.data, b.len - 50000, 5, PG_FRAME_INCOMPLETE);
    pg_buf_free(&b);
}

Test(pg_frame, equivalence_frontend_stream_with_garbage)
{
    pg_buf b;
    pg_buf_init(&b);
    build_fe_stream(&b);
    size_t good = b.len;
    /* an unknown type byte after nine good messages */
    pg_buf_put(&b, "Z\0\0\0\x05I", 6);
    pg_buf_simple(&b, PG_FE_SYNC);
    check_equivalence(pg_frame_fe, b.data, b.len, 9, PG_FRAME_INVALID);
    /* a Sync claiming 10,005 bytes */
    b.len = good;
    pg_buf_put(&b, "S\0\0\x27\x15", 5);
    check_equivalence(pg_frame_fe, b.data, b.len, 9, PG_FRAME_INVALID);
    /* length 3 */
    b.len = good;
    pg_buf_put(&b, "Q\0\0\0\x03", 5);
    check_equivalence(pg_frame_fe, b.data, b.len, 9, PG_FRAME_INVALID);
    pg_buf_free(&b);
}

Test(pg_frame, equivalence_backend_stream)
{
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_auth_request(&b, PG_AUTH_OK, NULL, 0);
    pg_buf_parameter_status(&b, "server_version", "15.4");
    pg_buf_backend_key(&b, 42, 4242);
    pg_buf_ready_for_query(&b, 'I');
    pg_buf_begin_msg(&b, PG_BE_ROW_DESCRIPTION);
    pg_buf_put_int16(&b, 1);
    pg_buf_put_cstring(&b, "x");
    pg_buf_put_int32(&b, 0);
    pg_buf_put_int16(&b, 0);
    pg_buf_put_int32(&b, 23);
    pg_buf_put_int16(&b, 4);
    pg_buf_put_int32(&b, -1);
    pg_buf_put_int16(&b, 0);
    pg_buf_end_msg(&b);
    for (int row = 0; row < 20; row++) {
        pg_buf_begin_msg(&b, PG_BE_DATA_ROW);
        pg_buf_put_int16(&b, 1);
        pg_buf_put_int32(&b, row * 100);
        for (int i = 0; i < row * 100; i++)
            pg_buf_put_byte(&b, 'a');
        pg_buf_end_msg(&b);
    }
    pg_buf_begin_msg(&b, PG_BE_COMMAND_COMPLETE);
    pg_buf_put_cstring(&b, "SELECT 20");
    pg_buf_end_msg(&b);
    pg_buf_error(&b, false, "42601", "syntax error");
    pg_buf_ready_for_query(&b, 'E');
    cr_assert_not(b.failed);
    check_equivalence(pg_frame_be, b.data, b.len, 28, PG_FRAME_INCOMPLETE);
    pg_buf_put(&b, "R\0\x01\0\0", 5); /* Authentication of 65,536 bytes */
    check_equivalence(pg_frame_be, b.data, b.len, 28, PG_FRAME_INVALID);
    pg_buf_free(&b);
}

Test(pg_frame, whole_len_counts_type_byte_and_length_word)
{
    static const uint8_t sync[] = {'S', 0, 0, 0, 4};
    static const uint8_t query[] = {'Q', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0};
    cr_assert_eq(pg_frame_whole_len(sync), 5);
    cr_assert_eq(pg_frame_whole_len(query), sizeof(query));
}
