/* Unit tests for proxy/shadow_params: reading a Bind's parameters for a shadow read. */
#include <criterion/criterion.h>
#include <string.h>

#include "protocol/pg_buf.h"
#include "protocol/pg_ext.h"
#include "proxy/shadow_params.h"

/* pg_buf_bind_text's body, without the 5-byte header */
static const uint8_t *body(const pg_buf *b, size_t *len)
{
    *len = b->len - 5;
    return b->data + 5;
}

static void put16(pg_buf *b, int v)
{
    pg_buf_put_int16(b, (int16_t)v);
}

Test(shadow_params, text_params_and_types)
{
    pg_buf b;
    pg_buf_init(&b);
    const char *vals[] = {"42", NULL};
    pg_buf_bind_text(&b, "p", "s", vals, 2);
    size_t len;
    const uint8_t *p = body(&b, &len);
    const uint8_t types[] = {0, 0, 0, 23}; /* int4 for $1, nothing said of $2 */
    shadow_params sp;
    cr_assert(shadow_params_from_bind(p, len, types, 1, &sp));
    cr_expect_eq(sp.n, 2);
    cr_expect_eq(sp.lengths[0], 2);
    cr_expect(memcmp(sp.values[0], "42", 2) == 0);
    cr_expect_null(sp.values[1]);
    cr_expect_eq(sp.types[0], 23);
    cr_expect_eq(sp.types[1], 0);
    cr_expect_eq(sp.formats[0], 0);
    cr_expect_eq(sp.result_format, 0);
    pg_buf_free(&b);
}

static pg_buf bind_with(int n_formats, const int *formats, int n_results, const int *results)
{
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_begin_msg(&b, 'B');
    pg_buf_put_cstring(&b, "");
    pg_buf_put_cstring(&b, "");
    put16(&b, n_formats);
    for (int i = 0; i < n_formats; i++)
        put16(&b, formats[i]);
    put16(&b, 1);
    pg_buf_put_int32(&b, 4);
    pg_buf_put(&b, "\0\0\0\7", 4);
    put16(&b, n_results);
    for (int i = 0; i < n_results; i++)
        put16(&b, results[i]);
    pg_buf_end_msg(&b);
    return b;
}

Test(shadow_params, binary_params_and_one_result_format)
{
    int bin[] = {1}, res[] = {1, 1};
    pg_buf b = bind_with(1, bin, 2, res);
    size_t len;
    const uint8_t *p = body(&b, &len);
    shadow_params sp;
    cr_assert(shadow_params_from_bind(p, len, NULL, 0, &sp));
    cr_expect_eq(sp.formats[0], 1);
    cr_expect_eq(sp.lengths[0], 4);
    cr_expect_eq(sp.result_format, 1);
    pg_buf_free(&b);
}

Test(shadow_params, refused)
{
    int bin[] = {1}, mixed[] = {0, 1}, bad[] = {2};
    shadow_params sp;
    size_t len;
    const uint8_t *p;
    pg_buf b = bind_with(1, bin, 2, mixed); /* rows in mixed formats */
    p = body(&b, &len);
    cr_expect_not(shadow_params_from_bind(p, len, NULL, 0, &sp));
    pg_buf_free(&b);
    b = bind_with(1, bad, 0, NULL); /* format code 2 */
    p = body(&b, &len);
    cr_expect_not(shadow_params_from_bind(p, len, NULL, 0, &sp));
    pg_buf_free(&b);
    b = bind_with(0, NULL, 0, NULL);
    p = body(&b, &len);
    cr_expect(shadow_params_from_bind(p, len, NULL, 0, &sp));
    cr_expect_not(shadow_params_from_bind(p, len - 1, NULL, 0, &sp)); /* cut */
    pg_buf_free(&b);
}
