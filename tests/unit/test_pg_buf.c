/* Unit tests for protocol/pg_buf: every ready-made builder must produce the
 * exact bytes PostgreSQL sends or expects (written out by hand below), the
 * length word must be patched per message, and failures must be sticky. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_buf.h"
#include "protocol/pg_codes.h"

/* A string literal as expected bytes; the literal's own trailing NUL is not part of it. */
#define BYTES(lit) (const uint8_t *)(lit), (sizeof(lit) - 1)

static void expect_bytes(const pg_buf *b, const uint8_t *want, size_t n, const char *what)
{
    cr_assert_not(b->failed, "%s: builder failed", what);
    cr_assert_eq(b->len, n, "%s: %zu bytes, expected %zu", what, b->len, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(b->data[i], want[i], "%s: byte %zu is 0x%02x, expected 0x%02x", what, i,
                     b->data[i], want[i]);
}

Test(pg_buf, ready_for_query)
{
    static const struct {
        uint8_t status;
        const char *want;
    } cases[] = {{'I', "Z\0\0\0\5I"}, {'T', "Z\0\0\0\5T"}, {'E', "Z\0\0\0\5E"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pg_buf b;
        pg_buf_init(&b);
        pg_buf_ready_for_query(&b, cases[i].status);
        expect_bytes(&b, (const uint8_t *)cases[i].want, 6, "ReadyForQuery");
        pg_buf_free(&b);
    }
}

Test(pg_buf, error_response_fields_s_v_c_m)
{
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_error(&b, false, "42P01", "no such table");
    /* body: 7 + 7 + 7 + 15 + 1 = 37, length word 41 */
    expect_bytes(&b,
                 BYTES("E\0\0\0\x29"
                       "SERROR\0"
                       "VERROR\0"
                       "C42P01\0"
                       "Mno such table\0"
                       "\0"),
                 "ErrorResponse");
    pg_buf_free(&b);
}

Test(pg_buf, fatal_error_response)
{
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_error(&b, true, "28P01", "bad");
    expect_bytes(&b,
                 BYTES("E\0\0\0\x1f"
                       "SFATAL\0"
                       "VFATAL\0"
                       "C28P01\0"
                       "Mbad\0"
                       "\0"),
                 "FATAL ErrorResponse");
    pg_buf_free(&b);
}

Test(pg_buf, notice_response)
{
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_notice(&b, "01000", "hm");
    /* body: 9 + 9 + 7 + 4 + 1 = 30, length 34 */
    expect_bytes(&b,
                 BYTES("N\0\0\0\x22"
                       "SWARNING\0"
                       "VWARNING\0"
                       "C01000\0"
                       "Mhm\0"
                       "\0"),
                 "NoticeResponse");
    pg_buf_free(&b);
}

Test(pg_buf, authentication_requests)
{
    static const uint8_t salt[4] = {0xde, 0xad, 0xbe, 0xef};
    static const char mechs[] = "SCRAM-SHA-256\0"; /* list ends with an empty string */
    pg_buf b;
    pg_buf_init(&b);

    pg_buf_auth_request(&b, PG_AUTH_OK, NULL, 0);
    expect_bytes(&b, BYTES("R\0\0\0\x08\0\0\0\0"), "AuthenticationOk");
    pg_buf_reset(&b);

    pg_buf_auth_request(&b, PG_AUTH_CLEARTEXT, NULL, 0);
    expect_bytes(&b, BYTES("R\0\0\0\x08\0\0\0\x03"), "AuthenticationCleartextPassword");
    pg_buf_reset(&b);

    pg_buf_auth_request(&b, PG_AUTH_MD5, salt, 4);
    expect_bytes(&b, BYTES("R\0\0\0\x0c\0\0\0\x05\xde\xad\xbe\xef"), "AuthenticationMD5Password");
    pg_buf_reset(&b);

    pg_buf_auth_request(&b, PG_AUTH_SASL, mechs, sizeof mechs);
    expect_bytes(&b, BYTES("R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0"), "AuthenticationSASL");
    pg_buf_reset(&b);

    pg_buf_auth_request(&b, PG_AUTH_SASL_FINAL, "v=xyz", 5);
    expect_bytes(&b, BYTES("R\0\0\0\x0d\0\0\0\x0cv=xyz"), "AuthenticationSASLFinal");
    pg_buf_free(&b);
}

Test(pg_buf, parameter_status_and_backend_key)
{
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_parameter_status(&b, "client_encoding", "UTF8");
    expect_bytes(&b, BYTES("S\0\0\0\x19" "client_encoding\0UTF8\0"), "ParameterStatus");
    pg_buf_reset(&b);

    pg_buf_backend_key(&b, 1234, -1);
    expect_bytes(&b, BYTES("K\0\0\0\x0c\0\0\x04\xd2\xff\xff\xff\xff"), "BackendKeyData");
    pg_buf_free(&b);
}

Test(pg_buf, startup_packet)
{
    static const char *const names[] = {"user", "database"};
    static const char *const values[] = {"bob", "db1"};
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_startup(&b, names, values, 2);
    /* no type byte; length 31 counts itself; 3.0 = 0x00030000 */
    expect_bytes(&b, BYTES("\0\0\0\x1f\0\x03\0\0user\0bob\0database\0db1\0\0"), "StartupMessage");
    pg_buf_reset(&b);

    pg_buf_startup(&b, NULL, NULL, 0);
    expect_bytes(&b, BYTES("\0\0\0\x09\0\x03\0\0\0"), "StartupMessage without parameters");
    pg_buf_free(&b);
}

Test(pg_buf, cancel_request_is_16_bytes)
{
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_cancel_request(&b, 0x01020304, 0x0a0b0c0d);
    /* 80877102 = 0x04d2162e */
    expect_bytes(&b, BYTES("\0\0\0\x10\x04\xd2\x16\x2e\x01\x02\x03\x04\x0a\x0b\x0c\x0d"),
                 "CancelRequest");
    cr_assert_eq(b.len, 16);
    pg_buf_free(&b);
}

Test(pg_buf, password_and_sasl_messages)
{
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_password(&b, "secret");
    expect_bytes(&b, BYTES("p\0\0\0\x0bsecret\0"), "PasswordMessage");
    pg_buf_reset(&b);

    pg_buf_sasl_initial(&b, "SCRAM-SHA-256", "n,,n=,r=abc", 11);
    /* 14 (mechanism) + 4 (data length) + 11 (data) + 4 = 33 */
    expect_bytes(&b, BYTES("p\0\0\0\x21SCRAM-SHA-256\0\0\0\0\x0bn,,n=,r=abc"),
                 "SASLInitialResponse");
    pg_buf_reset(&b);

    pg_buf_sasl_initial(&b, "SCRAM-SHA-256", NULL, 0);
    expect_bytes(&b, BYTES("p\0\0\0\x16SCRAM-SHA-256\0\0\0\0\0"), "SASLInitialResponse empty");
    pg_buf_reset(&b);

    pg_buf_sasl_response(&b, "c=biws", 6);
    expect_bytes(&b, BYTES("p\0\0\0\x0a" "c=biws"), "SASLResponse");
    pg_buf_free(&b);
}

Test(pg_buf, simple_messages_and_query)
{
    static const uint8_t types[] = {PG_FE_SYNC, PG_FE_FLUSH, PG_FE_TERMINATE, PG_FE_COPY_DONE};
    pg_buf b;
    pg_buf_init(&b);
    for (size_t i = 0; i < sizeof types; i++) {
        uint8_t want[5] = {types[i], 0, 0, 0, 4};
        pg_buf_simple(&b, types[i]);
        expect_bytes(&b, want, 5, "bodyless message");
        pg_buf_reset(&b);
    }
    pg_buf_query(&b, "SELECT 1");
    expect_bytes(&b, BYTES("Q\0\0\0\x0dSELECT 1\0"), "Query");
    pg_buf_reset(&b);
    pg_buf_query(&b, "");
    expect_bytes(&b, BYTES("Q\0\0\0\x05\0"), "empty Query");
    pg_buf_free(&b);
}

Test(pg_buf, typed_fields_are_big_endian)
{
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_put_byte(&b, 0xab);
    pg_buf_put_int16(&b, -2);
    pg_buf_put_int16(&b, 0x1234);
    pg_buf_put_int32(&b, INT32_MIN);
    pg_buf_put_int32(&b, -1);
    pg_buf_put_int32(&b, 0x01020304);
    pg_buf_put_cstring(&b, "hi");
    pg_buf_put(&b, "xyz", 3);
    pg_buf_put(&b, NULL, 0);
    expect_bytes(&b,
                 BYTES("\xab\xff\xfe\x12\x34\x80\0\0\0\xff\xff\xff\xff\x01\x02\x03\x04"
                       "hi\0xyz"),
                 "typed fields");
    pg_buf_free(&b);
}

/* Several messages in one buffer: each length word covers its own message only. */
Test(pg_buf, length_patched_per_message)
{
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_query(&b, "BEGIN");
    pg_buf_begin_msg(&b, PG_FE_EXECUTE);
    pg_buf_put_cstring(&b, "");
    pg_buf_put_int32(&b, 0);
    pg_buf_end_msg(&b);
    pg_buf_simple(&b, PG_FE_SYNC);
    pg_buf_ready_for_query(&b, 'T');
    expect_bytes(&b,
                 BYTES("Q\0\0\0\x0a" "BEGIN\0"
                       "E\0\0\0\x09\0\0\0\0\0"
                       "S\0\0\0\x04"
                       "Z\0\0\0\x05T"),
                 "four messages");
    pg_buf_free(&b);
}

Test(pg_buf, long_message_length_word)
{
    /* 1 MB query: the length word is 4 + 1 MB + 1 */
    size_t n = 1u << 20;
    char *sql = malloc(n + 1);
    cr_assert_not_null(sql);
    memset(sql, 'x', n);
    sql[n] = '\0';
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_query(&b, sql);
    cr_assert_not(b.failed);
    cr_assert_eq(b.len, 5 + n + 1);
    uint32_t want = (uint32_t)(4 + n + 1);
    cr_assert_eq(b.data[0], 'Q');
    cr_assert_eq(b.data[1], (uint8_t)(want >> 24));
    cr_assert_eq(b.data[2], (uint8_t)(want >> 16));
    cr_assert_eq(b.data[3], (uint8_t)(want >> 8));
    cr_assert_eq(b.data[4], (uint8_t)want);
    cr_assert_eq(b.data[b.len - 1], 0);
    pg_buf_free(&b);
    free(sql);
}

Test(pg_buf, grows_in_small_steps)
{
    pg_buf b;
    pg_buf_init(&b);
    for (int i = 0; i < 5000; i++)
        pg_buf_put_byte(&b, (uint8_t)(i * 7));
    cr_assert_not(b.failed);
    cr_assert_eq(b.len, 5000);
    cr_assert_geq(b.cap, 5000);
    for (int i = 0; i < 5000; i++)
        cr_assert_eq(b.data[i], (uint8_t)(i * 7));
    pg_buf_free(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
}

Test(pg_buf, reservation_over_cap_is_sticky)
{
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_put(&b, "abc", 3);
    cr_assert(pg_buf_reserve(&b, 10));
    cr_assert_not(pg_buf_reserve(&b, ((size_t)1 << 30) + 65)); /* past the cap */
    cr_assert(b.failed);
    /* every later write is a no-op, even one that would fit */
    cr_assert_not(pg_buf_reserve(&b, 1));
    pg_buf_put_byte(&b, 'x');
    pg_buf_put_int32(&b, 7);
    pg_buf_put_cstring(&b, "more");
    cr_assert_eq(b.len, 3);
    cr_assert(b.failed);
    /* reset clears the flag and keeps storage */
    uint8_t *storage = b.data;
    size_t cap = b.cap;
    pg_buf_reset(&b);
    cr_assert_not(b.failed);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.data, storage);
    cr_assert_eq(b.cap, cap);
    pg_buf_put_byte(&b, 'y');
    cr_assert_eq(b.len, 1);
    cr_assert_eq(b.data[0], 'y');
    pg_buf_free(&b);
}

Test(pg_buf, huge_reservation_does_not_wrap)
{
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_put(&b, "abc", 3);
    cr_assert_not(pg_buf_reserve(&b, SIZE_MAX));
    cr_assert(b.failed);
    pg_buf_reset(&b);
    pg_buf_put(&b, "abc", 3);
    cr_assert_not(pg_buf_reserve(&b, SIZE_MAX - 2)); /* len + extra would wrap to 0 */
    cr_assert(b.failed);
    cr_assert_eq(b.len, 3);
    pg_buf_free(&b);
}

/* A message whose body fails half-way: end_msg leaves the buffer alone and the
 * flag stays set for the caller's single check. */
Test(pg_buf, failed_message_stays_failed)
{
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_begin_msg(&b, PG_FE_QUERY);
    cr_assert_not(pg_buf_reserve(&b, SIZE_MAX / 2));
    pg_buf_put_cstring(&b, "SELECT 1");
    pg_buf_end_msg(&b);
    cr_assert(b.failed);
    cr_assert_eq(b.len, 5);
    cr_assert_eq(b.data[0], 'Q');
    cr_assert_eq(b.data[1] | b.data[2] | b.data[3] | b.data[4], 0, "length word left unpatched");
    pg_buf_ready_for_query(&b, 'I');
    cr_assert(b.failed);
    cr_assert_eq(b.len, 5);
    pg_buf_free(&b);
    cr_assert_not(b.failed);
}

Test(pg_buf, consume)
{
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_put(&b, "abcdefgh", 8);
    pg_buf_consume(&b, 0);
    cr_assert_eq(b.len, 8);
    pg_buf_consume(&b, 3);
    cr_assert_eq(b.len, 5);
    cr_assert_eq(memcmp(b.data, "defgh", 5), 0);
    pg_buf_put(&b, "ij", 2);
    cr_assert_eq(memcmp(b.data, "defghij", 7), 0);
    pg_buf_consume(&b, 7); /* exactly all */
    cr_assert_eq(b.len, 0);
    pg_buf_put(&b, "k", 1);
    pg_buf_consume(&b, 100); /* more than there is */
    cr_assert_eq(b.len, 0);
    pg_buf_consume(&b, 1); /* on empty */
    cr_assert_eq(b.len, 0);
    pg_buf_free(&b);
}

/* consume() then build: the new message's length is measured from its own start. */
Test(pg_buf, build_after_consume)
{
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_query(&b, "SELECT 1");
    pg_buf_simple(&b, PG_FE_SYNC);
    pg_buf_consume(&b, 14); /* drop the Query */
    pg_buf_ready_for_query(&b, 'I');
    expect_bytes(&b, BYTES("S\0\0\0\x04Z\0\0\0\x05I"), "after consume");
    pg_buf_free(&b);
}

Test(pg_buf, free_twice_and_init_state)
{
    pg_buf b;
    pg_buf_init(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_not(b.failed);
    pg_buf_free(&b); /* on an empty buffer */
    pg_buf_put(&b, "x", 1);
    pg_buf_free(&b);
    pg_buf_free(&b);
    cr_assert_null(b.data);
}

/* A streamed message passes in pieces; the count never runs past what is left. */
Test(pg_buf, pass_streams_in_pieces)
{
    pg_buf b;
    pg_buf_init(&b);
    const uint8_t data[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    size_t left = 7;
    cr_assert_eq(pg_buf_pass(&b, data, 4, &left), 4);
    cr_assert_eq(left, 3);
    cr_assert_eq(pg_buf_pass(&b, data + 4, 6, &left), 3);
    cr_assert_eq(left, 0);
    cr_assert_eq(b.len, 7);
    cr_assert_arr_eq(b.data, data, 7);
    left = 5;
    cr_assert_eq(pg_buf_pass(NULL, data, 10, &left), 5, "dropping still counts");
    cr_assert_eq(left, 0);
    pg_buf_free(&b);
}
