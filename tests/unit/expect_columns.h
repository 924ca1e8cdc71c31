/* Shared by the classifier tests: compares a classified column list with the expected one,
 * written as "a,b,c" (NULL when the statement gives no list). */
#ifndef PGT_TESTS_UNIT_EXPECT_COLUMNS_H
#define PGT_TESTS_UNIT_EXPECT_COLUMNS_H

#include <criterion/criterion.h>
#include <stddef.h>
#include <string.h>

static inline void expect_columns(const char *sql, const char *const *got, size_t n_got,
                                  const char *want)
{
    if (!want) {
        cr_expect_eq(n_got, 0, "[%s]: %zu columns", sql, n_got);
        cr_expect_null(got, "[%s]: columns array", sql);
        return;
    }
    size_t i = 0;
    for (const char *p = want; *p; i++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        cr_assert_lt(i, n_got, "[%s]: %zu columns, wanted more", sql, n_got);
        cr_expect(strlen(got[i]) == len && memcmp(got[i], p, len) == 0,
                  "[%s]: column %zu is %s, wanted %.*s", sql, i, got[i], (int)len, p);
        p += len + (end ? 1 : 0);
    }
    cr_expect_eq(i, n_got, "[%s]: %zu columns, wanted %zu", sql, n_got, i);
}

#endif
