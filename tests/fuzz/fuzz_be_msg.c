/* libFuzzer target for the backend side of protocol/pg_msg. Input: byte 0 =
 * message type, the rest = body in an exact-size allocation. Runs pg_be_check
 * and every backend decoder on it; whatever decodes must point inside the
 * body and re-encode with pg_buf to the same bytes (or, for errors, to a
 * message that decodes to the same fields). RowDescription and
 * ParameterDescription also go through the OID rewrite (pg_oids): a refused
 * body is left as it was, an accepted one keeps its length and maps back;
 * DataRow through the binary value rewrite (in bounds, under the sanitizers). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_buf.h"
#include "protocol/pg_codes.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"
#include "protocol/pg_oids.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(bool cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_be_msg: %s\n", what);
        abort();
    }
}

static void inside(const char *s, const uint8_t *body, size_t len, const char *what)
{
    const uint8_t *p = (const uint8_t *)s;
    must(p >= body && p < body + len, what);
    must(memchr(p, 0, (size_t)(body + len - p)) != NULL, what);
}

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

/* Frames the one message in b and returns its body. */
static const uint8_t *reframe(const pg_buf *b, size_t *len)
{
    pg_frame f;
    const char *err = NULL;
    must(pg_frame_be(b->data, b->len, &f, &err) == PG_FRAME_OK, "framer refuses a built message");
    must(f.hdr_len + f.body_len == b->len, "built message length word is wrong");
    *len = f.body_len;
    return b->data + f.hdr_len;
}

static void error_fields(const uint8_t *body, size_t len, pg_buf *b)
{
    pg_error_fields e;
    if (!pg_decode_error(body, len, &e))
        return;
    inside(e.severity, body, len, "severity outside the body");
    inside(e.sqlstate, body, len, "sqlstate outside the body");
    inside(e.message, body, len, "message outside the body");
    if (e.detail)
        inside(e.detail, body, len, "detail outside the body");
    must(strlen(e.sqlstate) == 5, "accepted a SQLSTATE that is not 5 characters");
    const char *err = NULL;
    must(pg_be_check(PG_BE_ERROR_RESPONSE, body, len, &err), "decodes but fails the check");
    must(pg_be_check(PG_BE_NOTICE_RESPONSE, body, len, &err), "decodes but fails the check");

    /* encode the decoded fields, decode again: the same fields */
    pg_buf_reset(b);
    pg_buf_error(b, true, e.sqlstate, e.message);
    size_t n;
    const uint8_t *again = reframe(b, &n);
    pg_error_fields e2;
    must(pg_decode_error(again, n, &e2), "a rebuilt ErrorResponse does not decode");
    must(strcmp(e2.sqlstate, e.sqlstate) == 0, "SQLSTATE changed in a round trip");
    must(strcmp(e2.message, e.message) == 0, "message changed in a round trip");
    must(strcmp(e2.severity, "FATAL") == 0, "severity not FATAL");
}

static void other_decoders(const uint8_t *body, size_t len, pg_buf *b)
{
    pg_auth_request a;
    if (pg_decode_auth_request(body, len, &a)) {
        must(a.data == body + 4 && a.data_len == len - 4, "auth data is not the rest of the body");
        pg_buf_reset(b);
        pg_buf_auth_request(b, a.code, a.data, a.data_len);
        same_message(b, PG_BE_AUTHENTICATION, body, len, "Authentication re-encodes differently");
    } else {
        must(len < 4, "refused an authentication request of 4+ bytes");
    }

    static const char *const mechs[] = {"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"};
    for (size_t i = 0; i < 2; i++) {
        if (!pg_sasl_offers(body, len, mechs[i]))
            continue;
        /* the name must be in the list as a whole, NUL-terminated string */
        size_t m = strlen(mechs[i]) + 1;
        bool found = false;
        for (size_t at = 0; at + m <= len && !found; at++)
            found = (at == 0 || body[at - 1] == 0) && memcmp(body + at, mechs[i], m) == 0;
        must(found, "offers a mechanism that is not in the list");
    }

    const char *name, *value;
    if (pg_decode_parameter_status(body, len, &name, &value)) {
        inside(name, body, len, "parameter name outside the body");
        inside(value, body, len, "parameter value outside the body");
        pg_buf_reset(b);
        pg_buf_parameter_status(b, name, value);
        same_message(b, PG_BE_PARAMETER_STATUS, body, len, "ParameterStatus re-encodes differently");
    }

    int32_t pid, key;
    if (pg_decode_backend_key(body, len, &pid, &key)) {
        pg_buf_reset(b);
        pg_buf_backend_key(b, pid, key);
        same_message(b, PG_BE_BACKEND_KEY_DATA, body, len, "BackendKeyData re-encodes differently");
    }

    uint8_t st;
    if (pg_decode_ready_for_query(body, len, &st)) {
        must(st == 'I' || st == 'T' || st == 'E', "accepted a bad transaction status");
        pg_buf_reset(b);
        pg_buf_ready_for_query(b, st);
        same_message(b, PG_BE_READY_FOR_QUERY, body, len, "ReadyForQuery re-encodes differently");
    }
}

static bool holds(const uint8_t *body, size_t len, const uint8_t four[4])
{
    for (size_t i = 0; i + 4 <= len; i++)
        if (memcmp(body + i, four, 4) == 0)
            return true;
    return false;
}

static void oid_rewrite(uint8_t type, const uint8_t *body, size_t len)
{
    pg_oid_pair fwd_p[] = {{0x41414141, 0x42424242}, {0x00004081, 0x000041bf}};
    pg_oid_pair back_p[] = {{0x42424242, 0x41414141}, {0x000041bf, 0x00004081}};
    pg_oid_map fwd = {fwd_p, 2}, back = {back_p, 2};
    must(pg_oid_map_sort(&fwd) && pg_oid_map_sort(&back), "a clean map does not sort");
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, body, len);
    if (type == PG_BE_DATA_ROW) {
        /* binary arrays and composites in a row: stays in bounds */
        pg_oids_data_row(copy, len, &fwd);
        memcpy(copy, body, len);
        (void)pg_oids_binary_value(copy, len, &fwd);
        free(copy);
        return;
    }
    if (type != PG_BE_ROW_DESCRIPTION && type != PG_BE_PARAMETER_DESCRIPTION) {
        free(copy);
        return;
    }
    bool row = type == PG_BE_ROW_DESCRIPTION;
    bool ok = row ? pg_oids_row_description(copy, len, &fwd, &fwd)
                  : pg_oids_parameter_description(copy, len, &fwd);
    if (!ok) {
        must(memcmp(copy, body, len) == 0, "a refused body was changed");
    } else {
        /* unless the body already held a target OID, the inverse map restores it */
        bool clean = !holds(body, len, (const uint8_t *)"\x42\x42\x42\x42") &&
                     !holds(body, len, (const uint8_t *)"\0\0\x41\xbf");
        must(row ? pg_oids_row_description(copy, len, &back, &back)
                 : pg_oids_parameter_description(copy, len, &back),
             "a rewritten body is refused");
        if (clean)
            must(memcmp(copy, body, len) == 0, "the inverse map does not restore the body");
    }
    free(copy);
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

    const char *err = NULL;
    if (!pg_be_check(type, body, len, &err))
        must(err != NULL, "check failed without an error text");

    pg_buf b;
    pg_buf_init(&b);
    error_fields(body, len, &b);
    other_decoders(body, len, &b);
    oid_rewrite(type, body, len);
    pg_buf_free(&b);
    free(body);
    return 0;
}
