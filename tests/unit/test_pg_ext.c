/* Unit tests for protocol/pg_ext: the extended-protocol decoders on bodies
 * written out by hand, the builders read back by the decoders, the Bind
 * rewrite that replaces only the result formats, and the reply counting the
 * router relies on to know when a message has its whole answer. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "protocol/pg_buf.h"
#include "protocol/pg_codes.h"
#include "protocol/pg_ext.h"

#define BODY(lit) (const uint8_t *)(lit), (sizeof(lit) - 1)

Test(pg_ext, parse_with_types)
{
    pg_parse_msg p;
    cr_assert(pg_decode_parse(BODY("s1\0SELECT $1\0\0\x01\0\0\0\x17"), &p));
    cr_assert_str_eq(p.name, "s1");
    cr_assert_str_eq(p.query, "SELECT $1");
    cr_assert_eq(p.n_types, 1);
    cr_assert_eq(p.types[3], 0x17); /* int4 */
}

Test(pg_ext, parse_rejects_short_types_and_trailing_bytes)
{
    pg_parse_msg p;
    cr_assert_not(pg_decode_parse(BODY("s1\0SELECT 1\0\0\x02\0\0\0\x17"), &p));
    cr_assert_not(pg_decode_parse(BODY("s1\0SELECT 1\0\0\0x"), &p));
    cr_assert_not(pg_decode_parse(BODY("s1\0SELECT 1\0\xff\xff"), &p));
}

Test(pg_ext, bind_finds_result_formats_after_parameters)
{
    /* portal "", statement "st", 1 param format (binary), 2 params (NULL, "ab"),
     * 2 result formats (text, binary) */
    static const uint8_t body[] = "\0st\0\0\x01\0\x01\0\x02\xff\xff\xff\xff\0\0\0\x02"
                                  "ab\0\x02\0\0\0\x01";
    pg_bind_msg b;
    cr_assert(pg_decode_bind(body, sizeof(body) - 1, &b));
    cr_assert_str_eq(b.portal, "");
    cr_assert_str_eq(b.statement, "st");
    cr_assert_eq(b.n_result_formats, 2);
    cr_assert_eq(b.result_formats[3], 1);
    cr_assert_eq(b.result_formats_at, sizeof(body) - 1 - 6);
}

Test(pg_ext, bind_rejects_bad_lengths)
{
    pg_bind_msg b;
    /* a parameter longer than the body */
    cr_assert_not(pg_decode_bind(BODY("\0st\0\0\0\0\x01\0\0\0\x09ab\0\0"), &b));
    /* a negative length other than -1 */
    cr_assert_not(pg_decode_bind(BODY("\0st\0\0\0\0\x01\xff\xff\xff\xfe\0\0"), &b));
}

Test(pg_ext, bind_formats_keeps_everything_before_them)
{
    static const uint8_t body[] = "p\0st\0\0\0\0\x01\0\0\0\x01x\0\x01\0\x01";
    pg_bind_msg b;
    cr_assert(pg_decode_bind(body, sizeof(body) - 1, &b));
    pg_buf out;
    pg_buf_init(&out);
    const int16_t fmts[3] = {1, 0, 0};
    pg_buf_bind_formats(&out, body, &b, fmts, 3);
    cr_assert_not(out.failed);
    cr_assert_eq(out.data[0], PG_FE_BIND);
    pg_bind_msg again;
    cr_assert(pg_decode_bind(out.data + 5, out.len - 5, &again));
    cr_assert_str_eq(again.portal, "p");
    cr_assert_str_eq(again.statement, "st");
    cr_assert_eq(again.n_result_formats, 3);
    cr_assert_eq(again.result_formats[1], 1);
    cr_assert_eq(again.result_formats[3], 0);
    cr_assert_eq(memcmp(out.data + 5, body, b.result_formats_at), 0);
    pg_buf_free(&out);
}

Test(pg_ext, builders_round_trip)
{
    pg_buf m;
    pg_buf_init(&m);
    const char *params[2] = {"on", NULL};
    pg_buf_parse(&m, "n", "SELECT set_config('a', $1, true)");
    pg_buf_bind_text(&m, "p", "n", params, 2);
    pg_buf_describe(&m, 'P', "p");
    pg_buf_execute(&m, "p", 7);
    pg_buf_close(&m, 'S', "n");
    pg_buf_simple(&m, PG_FE_SYNC);
    cr_assert_not(m.failed);
    cr_assert_eq(pg_count_replies(m.data, m.len), 5, "Sync has no reply of its own");

    size_t pos = 0;
    pg_parse_msg p;
    size_t len = 1 + ((size_t)m.data[pos + 3] << 8 | m.data[pos + 4]);
    cr_assert(pg_decode_parse(m.data + pos + 5, len - 5, &p));
    cr_assert_str_eq(p.query, "SELECT set_config('a', $1, true)");
    pos += len;
    pg_bind_msg b;
    len = 1 + ((size_t)m.data[pos + 3] << 8 | m.data[pos + 4]);
    cr_assert(pg_decode_bind(m.data + pos + 5, len - 5, &b));
    cr_assert_str_eq(b.portal, "p");
    cr_assert_eq(b.n_result_formats, 0);
    pos += len;
    pg_target_msg t;
    len = 1 + ((size_t)m.data[pos + 3] << 8 | m.data[pos + 4]);
    cr_assert(pg_decode_target(m.data + pos + 5, len - 5, &t));
    cr_assert_eq(t.kind, 'P');
    pos += len;
    pg_execute_msg e;
    len = 1 + ((size_t)m.data[pos + 3] << 8 | m.data[pos + 4]);
    cr_assert(pg_decode_execute(m.data + pos + 5, len - 5, &e));
    cr_assert_str_eq(e.portal, "p");
    cr_assert_eq(e.max_rows, 7);
    pg_buf_free(&m);
}

Test(pg_ext, target_kind_must_be_statement_or_portal)
{
    pg_target_msg t;
    cr_assert(pg_decode_target(BODY("Sname\0"), &t));
    cr_assert_not(pg_decode_target(BODY("Xname\0"), &t));
    cr_assert_not(pg_decode_target(BODY("S"), &t));
}

Test(pg_ext, which_replies_end_a_message)
{
    const uint8_t ends[] = {PG_BE_PARSE_COMPLETE, PG_BE_BIND_COMPLETE, PG_BE_CLOSE_COMPLETE,
                            PG_BE_NO_DATA, PG_BE_ROW_DESCRIPTION, PG_BE_COMMAND_COMPLETE,
                            PG_BE_EMPTY_QUERY_RESPONSE, PG_BE_PORTAL_SUSPENDED};
    for (size_t i = 0; i < sizeof(ends); i++)
        cr_assert(pg_ends_reply(ends[i]), "%c ends a reply", ends[i]);
    /* a Describe of a statement sends ParameterDescription before its end */
    const uint8_t not_ends[] = {PG_BE_PARAMETER_DESCRIPTION, PG_BE_DATA_ROW,
                                PG_BE_NOTICE_RESPONSE, PG_BE_COPY_IN_RESPONSE,
                                PG_BE_READY_FOR_QUERY, PG_BE_ERROR_RESPONSE};
    for (size_t i = 0; i < sizeof(not_ends); i++)
        cr_assert_not(pg_ends_reply(not_ends[i]), "%c does not end a reply", not_ends[i]);
}

Test(pg_ext, run_once_is_parse_bind_execute_and_two_closes)
{
    pg_buf m, want;
    pg_buf_init(&m);
    pg_buf_init(&want);
    pg_buf_run_once(&m, "x", "SET LOCAL a = b");
    pg_buf_parse(&want, "x", "SET LOCAL a = b");
    pg_buf_bind_text(&want, "x", "x", NULL, 0);
    pg_buf_execute(&want, "x", 0);
    pg_buf_close(&want, 'P', "x");
    pg_buf_close(&want, 'S', "x");
    cr_assert_not(m.failed);
    cr_assert_eq(pg_count_replies(m.data, m.len), 5);
    cr_assert_eq(m.len, want.len);
    cr_assert_eq(memcmp(m.data, want.data, m.len), 0);
    pg_buf_free(&m);
    pg_buf_free(&want);
}
