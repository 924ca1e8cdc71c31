/* libFuzzer target for startup packets: pg_frame_startup on the input, then
 * pg_decode_startup on the framed body (and on the raw input, for reach).
 * A decoded packet must re-encode with pg_buf to the same bytes: StartupMessage
 * (apart from its minor version), CancelRequest, SSLRequest, GSSENCRequest. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_buf.h"
#include "protocol/pg_codes.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(bool cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_startup: %s\n", what);
        abort();
    }
}

static void inside(const char *s, const uint8_t *body, size_t len, const char *what)
{
    const uint8_t *p = (const uint8_t *)s;
    must(p >= body && p < body + len, what);
    must(memchr(p, 0, (size_t)(body + len - p)) != NULL, what);
}

/* Decodes body (an exact-size copy); when packet is given (the whole framed
 * packet, length word included), checks the re-encoding against it. */
static void decode(const uint8_t *body, size_t len, const uint8_t *packet)
{
    pg_startup st;
    const char *err = NULL;
    if (!pg_decode_startup(body, len, &st, &err)) {
        must(err != NULL, "refused without an error text");
        return;
    }
    pg_buf b;
    pg_buf_init(&b);
    switch (st.code) {
    case PG_SSL_REQUEST_CODE:
    case PG_GSSENC_REQUEST_CODE:
        must(len == 4 && st.n_params == 0, "encryption request with more than its code");
        break;
    case PG_CANCEL_REQUEST_CODE:
        must(len == 12 && st.n_params == 0, "cancel request of the wrong length");
        pg_buf_cancel_request(&b, st.cancel_pid, st.cancel_key);
        must(!b.failed && b.len == 16, "cancel request rebuilt wrong");
        if (packet)
            must(memcmp(b.data, packet, 16) == 0, "CancelRequest re-encodes differently");
        break;
    default:
        must(st.code >> 16 == 3, "accepted a protocol other than 3.x");
        must(st.n_params <= PG_STARTUP_MAX_PARAMS, "too many parameters kept");
        for (size_t i = 0; i < st.n_params; i++) {
            inside(st.names[i], body, len, "parameter name outside the body");
            inside(st.values[i], body, len, "parameter value outside the body");
            must(st.names[i][0] != '\0', "empty parameter name kept");
            must(pg_startup_get(&st, st.names[i]) != NULL, "a kept name is not found");
        }
        pg_buf_startup(&b, st.names, st.values, st.n_params);
        must(!b.failed && b.len == len + 4, "StartupMessage rebuilt to another length");
        if (packet) {
            /* pg_buf_startup always writes 3.0; the rest must be identical */
            must(memcmp(b.data, packet, 6) == 0, "StartupMessage header re-encodes differently");
            must(memcmp(b.data + 8, packet + 8, len - 4) == 0,
                 "StartupMessage parameters re-encode differently");
        }
        break;
    }
    pg_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pg_frame f;
    const char *err = NULL;
    pg_frame_status st = pg_frame_startup(data, size, &f, &err);
    if (st == PG_FRAME_INCOMPLETE) {
        must(size < 4, "incomplete with a whole length word");
    } else if (st == PG_FRAME_INVALID) {
        must(err != NULL, "invalid without an error text");
        uint32_t n = ((uint32_t)data[0] << 24) | ((uint32_t)data[1] << 16) |
                     ((uint32_t)data[2] << 8) | data[3];
        must(n < 8 || n > PG_STARTUP_MAX_LEN, "refused a length within limits");
    } else {
        must(f.type == 0 && f.hdr_len == 4 && f.body_len >= 4 &&
                 f.body_len + 4 <= PG_STARTUP_MAX_LEN,
             "framed a startup packet out of limits");
        if (f.hdr_len + f.body_len <= size) {
            uint8_t *body = malloc(f.body_len);
            if (body) {
                memcpy(body, data + 4, f.body_len);
                decode(body, f.body_len, data);
                free(body);
            }
        }
    }

    /* the decoder on the raw input too, as if it were a body */
    uint8_t *raw = malloc(size ? size : 1);
    if (raw) {
        memcpy(raw, data, size);
        decode(raw, size, NULL);
        free(raw);
    }
    return 0;
}
