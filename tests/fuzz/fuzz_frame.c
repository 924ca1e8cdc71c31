/* libFuzzer target for protocol/pg_frame: a byte stream framed whole must give
 * the same frames, the same final status and the same error as the same stream
 * fed in chunks through a pg_buf, the way a connection receives it.
 * Input: byte 0 = direction (0 frontend, 1 backend, 2 startup packet then
 * frontend), bytes 1-4 = seed for the chunk sizes, byte 5 = largest chunk,
 * the rest = the stream. Complete bodies also go through the checkers. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_buf.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MODE_FE, MODE_BE, MODE_STARTUP, N_MODES };

typedef struct rec {
    uint8_t type;
    size_t offset;
    size_t body_len;
} rec;

typedef struct run {
    rec *frames;
    size_t n, cap;
    pg_frame_status last;
    const char *err;
    size_t consumed;
} run;

static void fail(const char *what, size_t i)
{
    fprintf(stderr, "fuzz_frame: whole and chunked framing differ: %s (frame %zu)\n", what, i);
    abort();
}

/* The framer for the n-th message of the stream. */
static pg_frame_status frame_nth(int mode, size_t n, const uint8_t *p, size_t avail, pg_frame *f,
                                 const char **err)
{
    if (mode == MODE_BE)
        return pg_frame_be(p, avail, f, err);
    if (mode == MODE_STARTUP && n == 0)
        return pg_frame_startup(p, avail, f, err);
    return pg_frame_fe(p, avail, f, err);
}

static void add(run *r, uint8_t type, size_t offset, size_t body_len)
{
    if (r->n == r->cap)
        fail("more frames than the stream can hold", r->n);
    r->frames[r->n++] = (rec){type, offset, body_len};
}

/* Each complete body in its own exact-size allocation, so ASan sees overreads. */
static void check_body(int mode, size_t n, uint8_t type, const uint8_t *body, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, body, len);
    const char *err = NULL;
    if (mode == MODE_STARTUP && n == 0) {
        pg_startup st;
        if (!pg_decode_startup(copy, len, &st, &err) && !err)
            abort();
    } else if (mode == MODE_BE) {
        if (!pg_be_check(type, copy, len, &err) && !err)
            abort();
    } else {
        if (!pg_fe_check(type, copy, len, &err) && !err)
            abort();
    }
    free(copy);
}

static void frame_whole(int mode, const uint8_t *s, size_t len, run *r)
{
    size_t pos = 0;
    for (;;) {
        pg_frame f;
        const char *err = NULL;
        pg_frame_status st = frame_nth(mode, r->n, s + pos, len - pos, &f, &err);
        if (st == PG_FRAME_OK && f.hdr_len + f.body_len > len - pos)
            st = PG_FRAME_INCOMPLETE;
        if (st != PG_FRAME_OK) {
            if (st == PG_FRAME_INVALID && !err)
                fail("invalid without an error text", r->n);
            r->last = st;
            r->err = err;
            break;
        }
        check_body(mode, r->n, f.type, s + pos + f.hdr_len, f.body_len);
        add(r, f.type, pos, f.body_len);
        pos += f.hdr_len + f.body_len;
    }
    r->consumed = pos;
}

static void frame_chunked(int mode, const uint8_t *s, size_t len, uint32_t seed,
                          size_t max_chunk, run *r)
{
    pg_buf acc;
    pg_buf_init(&acc);
    size_t fed = 0, consumed = 0;
    bool broken = false;
    r->last = PG_FRAME_INCOMPLETE;
    while (!broken && fed < len) {
        seed = seed * 1103515245u + 12345u;
        size_t chunk = 1 + (seed >> 16) % max_chunk;
        if (chunk > len - fed)
            chunk = len - fed;
        pg_buf_put(&acc, s + fed, chunk);
        if (acc.failed)
            abort();
        fed += chunk;
        for (;;) {
            pg_frame f;
            const char *err = NULL;
            pg_frame_status st = frame_nth(mode, r->n, acc.data, acc.len, &f, &err);
            if (st == PG_FRAME_INVALID) {
                r->last = st;
                r->err = err;
                broken = true;
                break;
            }
            if (st == PG_FRAME_INCOMPLETE || f.hdr_len + f.body_len > acc.len)
                break;
            if (memcmp(acc.data, s + consumed, f.hdr_len + f.body_len) != 0)
                fail("buffered bytes differ from the stream", r->n);
            add(r, f.type, consumed, f.body_len);
            consumed += f.hdr_len + f.body_len;
            pg_buf_consume(&acc, f.hdr_len + f.body_len);
        }
    }
    r->consumed = consumed;
    pg_buf_free(&acc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    int mode = data[0] % N_MODES;
    uint32_t seed = ((uint32_t)data[1] << 24) | ((uint32_t)data[2] << 16) |
                    ((uint32_t)data[3] << 8) | data[4];
    size_t max_chunk = (size_t)data[5] + 1;
    const uint8_t *s = data + 6;
    size_t len = size - 6;

    /* every frame but a startup packet takes at least 5 bytes */
    size_t cap = len / 4 + 2;
    run whole = {.frames = calloc(cap, sizeof(rec)), .cap = cap};
    run chunked = {.frames = calloc(cap, sizeof(rec)), .cap = cap};
    if (!whole.frames || !chunked.frames)
        abort();
    frame_whole(mode, s, len, &whole);
    frame_chunked(mode, s, len, seed, max_chunk, &chunked);

    if (whole.n != chunked.n)
        fail("frame count", whole.n < chunked.n ? whole.n : chunked.n);
    for (size_t i = 0; i < whole.n; i++) {
        if (whole.frames[i].type != chunked.frames[i].type)
            fail("type", i);
        if (whole.frames[i].offset != chunked.frames[i].offset)
            fail("offset", i);
        if (whole.frames[i].body_len != chunked.frames[i].body_len)
            fail("body length", i);
    }
    if (whole.last != chunked.last)
        fail("final status", whole.n);
    if (whole.err != chunked.err)
        fail("error text", whole.n);
    if (whole.consumed != chunked.consumed)
        fail("bytes consumed", whole.n);
    free(whole.frames);
    free(chunked.frames);
    return 0;
}
