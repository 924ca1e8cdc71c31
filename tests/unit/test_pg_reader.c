/* Unit tests for protocol/pg_reader: each getter at exactly its size, one byte
 * short, strings without their NUL, sticky failure, and pg_reader_end()
 * refusing trailing bytes. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "protocol/pg_reader.h"

static pg_reader over(const void *p, size_t n)
{
    pg_reader r;
    pg_reader_init(&r, p, n);
    return r;
}

Test(pg_reader, byte_exact_and_short)
{
    pg_reader r = over("\xfe", 1);
    cr_assert_eq(pg_read_byte(&r), 0xfe);
    cr_assert(pg_reader_end(&r));
    cr_assert_eq(pg_reader_remaining(&r), 0);

    cr_assert_eq(pg_read_byte(&r), 0, "reading past the end gives 0");
    cr_assert(r.bad);
    cr_assert_not(pg_reader_end(&r));

    r = over("", 0);
    cr_assert_eq(pg_read_byte(&r), 0);
    cr_assert_not(pg_reader_end(&r));
}

Test(pg_reader, int16_exact_and_short)
{
    static const struct {
        const char *bytes;
        int16_t want;
    } cases[] = {
        {"\x00\x00", 0},       {"\x00\x01", 1},      {"\x12\x34", 0x1234}, {"\x7f\xff", INT16_MAX},
        {"\x80\x00", INT16_MIN}, {"\xff\xfe", -2}, {"\xff\xff", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pg_reader r = over(cases[i].bytes, 2);
        cr_assert_eq(pg_read_int16(&r), cases[i].want, "case %zu", i);
        cr_assert(pg_reader_end(&r));
    }
    pg_reader r = over("\x12", 1);
    cr_assert_eq(pg_read_int16(&r), 0);
    cr_assert(r.bad);
    cr_assert_not(pg_reader_end(&r));
}

Test(pg_reader, int32_exact_and_short)
{
    static const struct {
        const char *bytes;
        int32_t want;
    } cases[] = {
        {"\x00\x00\x00\x00", 0},          {"\x00\x00\x00\x05", 5},
        {"\x01\x02\x03\x04", 0x01020304}, {"\x7f\xff\xff\xff", INT32_MAX},
        {"\x80\x00\x00\x00", INT32_MIN},  {"\xff\xff\xff\xfe", -2},
        {"\x04\xd2\x16\x2f", 80877103},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pg_reader r = over(cases[i].bytes, 4);
        cr_assert_eq(pg_read_int32(&r), cases[i].want, "case %zu", i);
        cr_assert(pg_reader_end(&r));
    }
    for (size_t n = 0; n < 4; n++) {
        pg_reader r = over("\x01\x02\x03", n);
        cr_assert_eq(pg_read_int32(&r), 0, "%zu bytes", n);
        cr_assert(r.bad);
        cr_assert_not(pg_reader_end(&r));
    }
}

Test(pg_reader, cstring)
{
    pg_reader r = over("abc\0\0x\0", 7);
    cr_assert_str_eq(pg_read_cstring(&r), "abc");
    cr_assert_str_eq(pg_read_cstring(&r), "");
    cr_assert_str_eq(pg_read_cstring(&r), "x");
    cr_assert(pg_reader_end(&r));

    /* at the very end of the body, there is no string to read */
    cr_assert_str_eq(pg_read_cstring(&r), "");
    cr_assert(r.bad);
}

Test(pg_reader, cstring_without_nul)
{
    /* the NUL that follows in memory is outside the body and must not be used */
    static const char mem[] = "abc";
    pg_reader r = over(mem, 3);
    const char *s = pg_read_cstring(&r);
    cr_assert_str_eq(s, "");
    cr_assert(r.bad);
    cr_assert_not(pg_reader_end(&r));
    cr_assert_eq(pg_reader_remaining(&r), 0);

    /* one string fine, the second unterminated */
    r = over("ab\0cd", 5);
    cr_assert_str_eq(pg_read_cstring(&r), "ab");
    cr_assert_str_eq(pg_read_cstring(&r), "");
    cr_assert(r.bad);
}

Test(pg_reader, bytes)
{
    pg_reader r = over("abcdef", 6);
    const uint8_t *p = pg_read_bytes(&r, 0);
    cr_assert_not_null(p);
    p = pg_read_bytes(&r, 4);
    cr_assert_not_null(p);
    cr_assert_eq(memcmp(p, "abcd", 4), 0);
    cr_assert_eq(pg_reader_remaining(&r), 2);
    cr_assert_null(pg_read_bytes(&r, 3), "one byte short");
    cr_assert(r.bad);
    cr_assert_not(pg_reader_end(&r));

    r = over("abcdef", 6);
    p = pg_read_bytes(&r, 6);
    cr_assert_not_null(p);
    cr_assert(pg_reader_end(&r));
    cr_assert_not_null(pg_read_bytes(&r, 0), "zero bytes at the end is fine");
    cr_assert(pg_reader_end(&r));

    r = over("abcdef", 6);
    (void)pg_read_byte(&r);
    cr_assert_null(pg_read_bytes(&r, SIZE_MAX), "a huge count must not wrap");
    cr_assert(r.bad);
}

Test(pg_reader, failure_is_sticky)
{
    pg_reader r = over("\x01\x02\x03\x04\x05\0", 6);
    cr_assert_null(pg_read_bytes(&r, 7));
    /* everything fits now, but the reader already failed */
    cr_assert_eq(pg_read_byte(&r), 0);
    cr_assert_eq(pg_read_int16(&r), 0);
    cr_assert_eq(pg_read_int32(&r), 0);
    cr_assert_str_eq(pg_read_cstring(&r), "");
    cr_assert_null(pg_read_bytes(&r, 1));
    cr_assert_eq(pg_reader_remaining(&r), 0);
    cr_assert_not(pg_reader_end(&r));
}

Test(pg_reader, end_refuses_trailing_bytes)
{
    pg_reader r = over("\0\x01\xff", 3);
    cr_assert_eq(pg_read_int16(&r), 1);
    cr_assert_not(pg_reader_end(&r), "one byte left over");
    cr_assert_eq(pg_reader_remaining(&r), 1);
    cr_assert_not(r.bad, "trailing bytes are not a read failure");
    (void)pg_read_byte(&r);
    cr_assert(pg_reader_end(&r));

    r = over("x", 1);
    cr_assert_not(pg_reader_end(&r), "nothing read yet");
    r = over("", 0);
    cr_assert(pg_reader_end(&r), "empty body, nothing to read");
}

/* An empty body may come as (NULL, 0), as pg_frame accepts (NULL, 0): reading
 * from it must fail cleanly, without pointer arithmetic on NULL or passing
 * NULL to memchr (both undefined behaviour, caught by UBSan). */
Test(pg_reader, null_empty_body)
{
    pg_reader r = over(NULL, 0);
    cr_assert(pg_reader_end(&r));
    cr_assert_eq(pg_read_byte(&r), 0);
    cr_assert(r.bad);
    r = over(NULL, 0);
    cr_assert_str_eq(pg_read_cstring(&r), "");
    cr_assert(r.bad);
    r = over(NULL, 0);
    (void)pg_read_bytes(&r, 0);
    cr_assert(pg_reader_end(&r));
}

Test(pg_reader, mixed_fields_walk)
{
    /* an Execute body: portal name, max rows */
    pg_reader r = over("portal\0\0\0\0\x0a", 11);
    cr_assert_str_eq(pg_read_cstring(&r), "portal");
    cr_assert_eq(pg_read_int32(&r), 10);
    cr_assert(pg_reader_end(&r));
}
