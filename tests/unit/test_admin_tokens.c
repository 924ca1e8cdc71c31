/* Unit tests for proxy/admin_tokens: how an admin console line splits into
 * words, keyword comparison, and the lines it refuses. */
#include <criterion/criterion.h>
#include <string.h>

#include "proxy/admin_tokens.h"

static admin_tokens split_ok(const char *line)
{
    admin_tokens t;
    char err[200] = "";
    cr_assert(admin_tokenize(line, &t, err, sizeof err), "\"%s\": %s", line, err);
    return t;
}

Test(admin_tokens, words_and_case)
{
    admin_tokens t = split_ok("  set Service cart_2 READS shadow FORCE ;  ");
    cr_assert_eq(t.n, 6);
    cr_assert_str_eq(t.word[0], "set");
    cr_assert_str_eq(t.word[2], "cart_2");
    cr_assert(admin_is(&t, 0, "SET"));
    cr_assert(admin_is(&t, 1, "SERVICE"));
    cr_assert(admin_is(&t, 5, "force"));
    cr_assert_not(admin_is(&t, 6, "force"), "past the end");
    cr_assert_not(admin_is(&t, 2, "cart"));
}

Test(admin_tokens, empty_and_semicolon_only)
{
    cr_assert_eq(split_ok("").n, 0);
    cr_assert_eq(split_ok(" ;").n, 0);
    cr_assert_eq(split_ok("\n\tRELOAD\n").n, 1);
}

Test(admin_tokens, quoted_words)
{
    admin_tokens t = split_ok("PAUSE \"my service\"");
    cr_assert_eq(t.n, 2);
    cr_assert_str_eq(t.word[1], "my service");
    t = split_ok("show divergences '5'");
    cr_assert_str_eq(t.word[2], "5");
}

Test(admin_tokens, refused)
{
    static const char *const bad[] = {
        "SHOW SERVICES; SHOW STATS", /* one command at a time */
        "PAUSE 'cart",               /* unterminated */
        "SHOW SERVICES()",           /* not a word */
        "a b c d e f g h i",         /* too many words */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        admin_tokens t;
        char err[200] = "";
        cr_assert_not(admin_tokenize(bad[i], &t, err, sizeof err), "accepted \"%s\"", bad[i]);
        cr_assert_neq(err[0], '\0', "no reason for \"%s\"", bad[i]);
    }
    char long_word[300];
    memset(long_word, 'x', sizeof long_word - 1);
    long_word[sizeof long_word - 1] = '\0';
    admin_tokens t;
    char err[200];
    cr_assert_not(admin_tokenize(long_word, &t, err, sizeof err));
}
