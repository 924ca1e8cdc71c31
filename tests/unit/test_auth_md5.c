/* Unit tests for protocol/auth_md5: vectors computed by PostgreSQL 15 itself
 * (SELECT 'md5' || md5(md5('pencil' || 'user') || 'abcd')) and by Python's
 * hashlib for a binary salt; the stored-hash path must match the plaintext one. */
#include <criterion/criterion.h>
#include <string.h>

#include "protocol/auth_md5.h"

#define STORED_PENCIL_USER "md520c46e3762c864548e296b33c3406aa9"

static const uint8_t salt_abcd[4] = {'a', 'b', 'c', 'd'};
static const uint8_t salt_bin[4] = {0x00, 0xff, 0x10, 0x80};

Test(auth_md5, known_vectors)
{
    char out[36];
    auth_md5_password("user", "pencil", salt_abcd, out);
    cr_assert_str_eq(out, "md5d621238dc9a10c6c869b264c13379ee7");
    auth_md5_password("user", "pencil", salt_bin, out);
    cr_assert_str_eq(out, "md55380635e6a793a51bc824806c2385d91");
}

Test(auth_md5, stored_form)
{
    char out[36];
    cr_assert(auth_md5_stored("user", "pencil", out));
    cr_assert_str_eq(out, STORED_PENCIL_USER);
}

Test(auth_md5, stored_path_equals_plaintext_path)
{
    const char *users[] = {"user", "", "postgres", "a much longer user name with spaces"};
    const char *passwords[] = {"pencil", "", "p@ss,w=rd", "\xc3\xa9t\xc3\xa9"};
    const uint8_t *salts[] = {salt_abcd, salt_bin};
    for (size_t u = 0; u < 4; u++)
        for (size_t p = 0; p < 4; p++)
            for (size_t s = 0; s < 2; s++) {
                char stored[36], a[36], b[36];
                cr_assert(auth_md5_stored(users[u], passwords[p], stored));
                auth_md5_password(users[u], passwords[p], salts[s], a);
                cr_assert(auth_md5_from_stored(stored, salts[s], b));
                cr_assert_eq(strlen(a), 35);
                cr_assert_str_eq(a, b, "user '%s' password '%s'", users[u], passwords[p]);
                cr_assert(auth_md5_check(stored, salts[s], (const uint8_t *)a, strlen(a)));
            }
}

Test(auth_md5, from_stored_vector_and_uppercase)
{
    char out[36];
    cr_assert(auth_md5_from_stored(STORED_PENCIL_USER, salt_abcd, out));
    cr_assert_str_eq(out, "md5d621238dc9a10c6c869b264c13379ee7");
    cr_assert(auth_md5_from_stored("md520C46E3762C864548E296B33C3406AA9", salt_abcd, out));
    cr_assert_str_eq(out, "md5d621238dc9a10c6c869b264c13379ee7");
}

Test(auth_md5, from_stored_rejects_malformed)
{
    const char *bad[] = {
        "",
        "md5",
        "md520c46e3762c864548e296b33c3406aa",   /* 31 hex */
        "md520c46e3762c864548e296b33c3406aa90", /* 33 hex */
        "MD520c46e3762c864548e296b33c3406aa9",
        "sha20c46e3762c864548e296b33c3406aa9",
        "md520c46e3762c864548e296b33c3406aag",
        "md520c46e3762c864548e296b33c3406a a9",
        "SCRAM-SHA-256$4096:syyu31lTs0tjXF9V0M268Q==$x:y",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[36] = "junk";
        cr_expect_not(auth_md5_from_stored(bad[i], salt_abcd, out), "accepted '%s'", bad[i]);
        cr_expect_str_eq(out, "");
    }
    char out[36];
    cr_expect_not(auth_md5_from_stored(NULL, salt_abcd, out));
}

Test(auth_md5, check)
{
    const char *good = "md5d621238dc9a10c6c869b264c13379ee7";
    const uint8_t *g = (const uint8_t *)good;
    cr_assert(auth_md5_check(STORED_PENCIL_USER, salt_abcd, g, 35));
    /* libpq sends the response NUL-terminated */
    cr_assert(auth_md5_check(STORED_PENCIL_USER, salt_abcd, g, 36));
    cr_assert_not(auth_md5_check(STORED_PENCIL_USER, salt_abcd, g, 34));
    cr_assert_not(auth_md5_check(STORED_PENCIL_USER, salt_bin, g, 35));
    const char *wrong = "md5d621238dc9a10c6c869b264c13379ee8";
    cr_assert_not(auth_md5_check(STORED_PENCIL_USER, salt_abcd, (const uint8_t *)wrong, 35));
    const char *longer = "md5d621238dc9a10c6c869b264c13379ee7x";
    cr_assert_not(auth_md5_check(STORED_PENCIL_USER, salt_abcd, (const uint8_t *)longer, 36));
    cr_assert_not(auth_md5_check(STORED_PENCIL_USER, salt_abcd, NULL, 35));
    cr_assert_not(auth_md5_check("bogus", salt_abcd, g, 35));
}

Test(auth_md5, null_inputs_give_empty)
{
    char out[36] = "junk";
    auth_md5_password(NULL, "pencil", salt_abcd, out);
    cr_assert_str_eq(out, "");
    strcpy(out, "junk");
    auth_md5_password("user", NULL, salt_abcd, out);
    cr_assert_str_eq(out, "");
    strcpy(out, "junk");
    cr_assert_not(auth_md5_stored(NULL, "x", out));
    cr_assert_str_eq(out, "");
}
