/* Unit tests for proxy/shadow_digest: what a shadow read counts as the same answer. */
#include <criterion/criterion.h>
#include <string.h>

#include "proxy/shadow_digest.h"

/* A DataRow body from fields given as C strings (NULL: SQL NULL). */
static size_t datarow(uint8_t *out, size_t n, const char *const *vals)
{
    size_t pos = 2;
    out[0] = (uint8_t)(n >> 8);
    out[1] = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        int32_t len = vals[i] ? (int32_t)strlen(vals[i]) : -1;
        uint32_t u = (uint32_t)len;
        out[pos++] = (uint8_t)(u >> 24);
        out[pos++] = (uint8_t)(u >> 16);
        out[pos++] = (uint8_t)(u >> 8);
        out[pos++] = (uint8_t)u;
        if (len > 0) {
            memcpy(out + pos, vals[i], (size_t)len);
            pos += (size_t)len;
        }
    }
    return pos;
}

static void add(row_digest *d, const char *a, const char *b)
{
    const char *vals[2] = {a, b};
    uint8_t buf[256];
    size_t len = datarow(buf, 2, vals);
    cr_assert(row_digest_add_datarow(d, buf, len));
}

static void add_fields(row_digest *d, const char *a, const char *b)
{
    const char *vals[2] = {a, b};
    int lens[2] = {a ? (int)strlen(a) : -1, b ? (int)strlen(b) : -1};
    row_digest_add_fields(d, 2, vals, lens);
}

Test(shadow_digest, same_rows_in_another_order_match_unless_ordered)
{
    row_digest a, b;
    row_digest_init(&a);
    row_digest_init(&b);
    add(&a, "1", "apple");
    add(&a, "2", "pear");
    add(&a, "3", NULL);
    add(&b, "3", NULL);
    add(&b, "1", "apple");
    add(&b, "2", "pear");
    cr_expect(row_digest_equal(&a, &b, false));
    cr_expect_not(row_digest_equal(&a, &b, true));
    cr_expect_eq(a.rows, 3);
}

Test(shadow_digest, datarow_and_libpq_fields_digest_alike)
{
    row_digest a, b;
    row_digest_init(&a);
    row_digest_init(&b);
    add(&a, "7", "x y");
    add(&a, NULL, "");
    add_fields(&b, "7", "x y");
    add_fields(&b, NULL, "");
    cr_expect(row_digest_equal(&a, &b, true));
}

Test(shadow_digest, one_changed_value_or_row_count_mismatches)
{
    row_digest a, b, c;
    row_digest_init(&a);
    row_digest_init(&b);
    row_digest_init(&c);
    add(&a, "1", "apple");
    add(&a, "2", "pear");
    add(&b, "1", "apple");
    add(&b, "2", "peach");
    add(&c, "1", "apple");
    cr_expect_not(row_digest_equal(&a, &b, false));
    cr_expect_not(row_digest_equal(&a, &c, false));
}

Test(shadow_digest, null_empty_and_field_boundaries_are_distinct)
{
    row_digest a, b, c, d;
    row_digest_init(&a);
    row_digest_init(&b);
    row_digest_init(&c);
    row_digest_init(&d);
    add(&a, "1", NULL);
    add(&b, "1", "");
    add(&c, "12", "3");
    add(&d, "1", "23");
    cr_expect_not(row_digest_equal(&a, &b, false));
    cr_expect_not(row_digest_equal(&c, &d, false));
}

Test(shadow_digest, duplicates_count)
{
    row_digest a, b;
    row_digest_init(&a);
    row_digest_init(&b);
    /* {x, x, y} vs {x, y, y}: same count, different multiset */
    add(&a, "x", "1");
    add(&a, "x", "1");
    add(&a, "y", "2");
    add(&b, "x", "1");
    add(&b, "y", "2");
    add(&b, "y", "2");
    cr_expect_not(row_digest_equal(&a, &b, false));
}

Test(shadow_digest, malformed_datarow_is_refused)
{
    row_digest d;
    row_digest_init(&d);
    const uint8_t short_len[] = {0, 1, 0, 0, 0, 9, 'a'};  /* says 9 bytes, has 1 */
    const uint8_t minus2[] = {0, 1, 0xff, 0xff, 0xff, 0xfe};
    const uint8_t trailing[] = {0, 0, 'x'};
    cr_expect_not(row_digest_add_datarow(&d, short_len, sizeof(short_len)));
    cr_expect_not(row_digest_add_datarow(&d, minus2, sizeof(minus2)));
    cr_expect_not(row_digest_add_datarow(&d, trailing, sizeof(trailing)));
    cr_expect_not(row_digest_add_datarow(&d, trailing, 1));
    cr_expect_eq(d.rows, 0);
}
