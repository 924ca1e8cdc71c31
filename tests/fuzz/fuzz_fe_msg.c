/* libFuzzer target for the frontend side of protocol/pg_msg. Input: byte 0 =
 * message type, the rest = body, held in an exact-size allocation so ASan
 * catches any read past it. pg_fe_check must never read out of bounds, must
 * give an error text exactly when it fails, must refuse what the framer
 * refuses, and what it accepts must re-encode with pg_buf to the same bytes.
 * The extended-protocol decoders (pg_ext) must accept whatever the checker
 * accepts, since the router decodes only checked messages. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_buf.h"
#include "protocol/pg_codes.h"
#include "protocol/pg_ext.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(bool cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_fe_msg: %s\n", what);
        abort();
    }
}

/* A string the decoder returned must lie, with its NUL, inside the body. */
static void inside(const char *s, const uint8_t *body, size_t len, const char *what)
{
    const uint8_t *p = (const uint8_t *)s;
    must(p >= body && p < body + len, what);
    must(memchr(p, 0, (size_t)(body + len - p)) != NULL, what);
}

/* b must hold exactly one message: type, length word, then body. */
static void same_message(const pg_buf *b, uint8_t type, const uint8_t *body, size_t len,
                         const char *what)
{
    must(!b->failed, what);
    must(b->len == 5 + len, what);
    must(b->data[0] == type, what);
    uint32_t n = ((uint32_t)b->data[1] << 24) | ((uint32_t)b->data[2] << 16) |
                 ((uint32_t)b->data[3] << 8) | b->data[4];
    must(n == len + 4, what);
    must(memcmp(b->data + 5, body, len) == 0, what);
}

static void password_messages(const uint8_t *body, size_t len)
{
    pg_buf b;
    pg_buf_init(&b);
    const char *pw;
    if (pg_decode_password(body, len, &pw)) {
        inside(pw, body, len, "password outside the body");
        must(strlen(pw) + 1 == len, "password does not fill the body");
        pg_buf_password(&b, pw);
        same_message(&b, PG_FE_PASSWORD, body, len, "PasswordMessage re-encodes differently");
    }
    pg_sasl_initial si;
    if (pg_decode_sasl_initial(body, len, &si)) {
        inside(si.mechanism, body, len, "mechanism outside the body");
        if (si.data) {
            must(si.data >= body && si.data + si.data_len == body + len,
                 "SASL data not at the end of the body");
            pg_buf_reset(&b);
            pg_buf_sasl_initial(&b, si.mechanism, si.data, si.data_len);
            same_message(&b, PG_FE_PASSWORD, body, len, "SASLInitialResponse re-encodes differently");
        } else {
            must(si.data_len == 0, "no SASL data but a length");
        }
    }
    pg_buf_free(&b);
}

static void extended_messages(uint8_t type, const uint8_t *body, size_t len, bool checked)
{
    pg_parse_msg p;
    pg_bind_msg b;
    pg_target_msg t;
    pg_execute_msg e;
    switch (type) {
    case PG_FE_PARSE:
        if (pg_decode_parse(body, len, &p)) {
            inside(p.name, body, len, "Parse name outside the body");
            inside(p.query, body, len, "Parse query outside the body");
            must(p.types + p.n_types * 4 == body + len, "Parse types do not end the body");
        } else {
            must(!checked, "pg_ext refuses a checked Parse");
        }
        break;
    case PG_FE_BIND:
        if (pg_decode_bind(body, len, &b)) {
            inside(b.portal, body, len, "Bind portal outside the body");
            inside(b.statement, body, len, "Bind statement outside the body");
            must(b.result_formats_at + 2 + b.n_result_formats * 2 == len,
                 "Bind result formats do not end the body");
            int16_t *fmts = malloc(b.n_result_formats * sizeof(*fmts) + 1);
            if (fmts) {
                for (size_t i = 0; i < b.n_result_formats; i++)
                    fmts[i] = (int16_t)((b.result_formats[2 * i] << 8) |
                                        b.result_formats[2 * i + 1]);
                pg_buf out;
                pg_buf_init(&out);
                pg_buf_bind_formats(&out, body, &b, fmts, b.n_result_formats);
                same_message(&out, PG_FE_BIND, body, len, "Bind re-encodes differently");
                pg_buf_free(&out);
                free(fmts);
            }
        } else {
            must(!checked, "pg_ext refuses a checked Bind");
        }
        break;
    case PG_FE_DESCRIBE:
    case PG_FE_CLOSE:
        if (pg_decode_target(body, len, &t))
            inside(t.name, body, len, "target name outside the body");
        else
            must(!checked, "pg_ext refuses a checked Describe/Close");
        break;
    case PG_FE_EXECUTE:
        if (pg_decode_execute(body, len, &e))
            inside(e.portal, body, len, "Execute portal outside the body");
        else
            must(!checked, "pg_ext refuses a checked Execute");
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t type = data[0];
    size_t len = size - 1;
    uint8_t *body = malloc(len ? len : 1);
    if (!body)
        return 0;
    memcpy(body, data + 1, len);

    const char *err = "unset";
    bool ok = pg_fe_check(type, body, len, &err);
    must(ok == (err == NULL), "error text does not match the result");
    if (pg_frame_fe_max(type) == 0)
        must(!ok, "accepted a type the framer refuses");
    if (ok && len + 4 <= pg_frame_fe_max(type)) {
        /* the framer accepts the header of what the checker accepts */
        uint8_t hdr[5] = {type, (uint8_t)((len + 4) >> 24), (uint8_t)((len + 4) >> 16),
                          (uint8_t)((len + 4) >> 8), (uint8_t)(len + 4)};
        pg_frame f;
        const char *ferr = NULL;
        must(pg_frame_fe(hdr, 5, &f, &ferr) == PG_FRAME_OK && f.body_len == len,
             "framer refuses a checked message");
    }

    if (ok && (type == PG_FE_QUERY || type == PG_FE_COPY_FAIL)) {
        must(len > 0 && body[len - 1] == 0 && memchr(body, 0, len) == body + len - 1,
             "accepted a string body that is not one string");
        if (type == PG_FE_QUERY) {
            pg_buf b;
            pg_buf_init(&b);
            pg_buf_query(&b, (const char *)body);
            same_message(&b, PG_FE_QUERY, body, len, "Query re-encodes differently");
            pg_buf_free(&b);
        }
    }
    if (ok && (type == PG_FE_SYNC || type == PG_FE_FLUSH || type == PG_FE_TERMINATE ||
               type == PG_FE_COPY_DONE)) {
        must(len == 0, "accepted a body on a bodyless message");
        pg_buf b;
        pg_buf_init(&b);
        pg_buf_simple(&b, type);
        same_message(&b, type, body, 0, "bodyless message re-encodes differently");
        pg_buf_free(&b);
    }
    if (type == PG_FE_PASSWORD)
        password_messages(body, len);
    extended_messages(type, body, len, ok);

    free(body);
    return 0;
}
