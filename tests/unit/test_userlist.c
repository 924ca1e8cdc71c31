/* Unit tests for proxy/userlist: auth files written with mkstemp under /tmp,
 * holding plaintext passwords, SCRAM verifiers (one made by PostgreSQL 15)
 * and md5 hashes; comments, quoting, and errors with line numbers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol/auth_md5.h"
#include "protocol/scram.h"
#include "proxy/userlist.h"

/* PostgreSQL 15: SET password_encryption='scram-sha-256'; CREATE ROLE x PASSWORD 'pencil'; */
#define PG15_PENCIL                                                                               \
    "SCRAM-SHA-256$4096:syyu31lTs0tjXF9V0M268Q==$Z9PZ8mWvOk5ZttnuMfcCTdhmSZv894e52KpUDydCzes=:" \
    "Q6KdcsNerDXYaMrsCmxdeZpf52TSLzXW4Lj7dt6Zywk="
/* md5-shaped: "md5" and 32 hex digits (not the hash of any password we test) */
#define MD5_SECRET_BOB "md5c4c6a6a7b4d7e9e6f4b4d0e1d0d8f7f1"

static char path[64];

static void make_file(void)
{
    snprintf(path, sizeof path, "/tmp/pgt-userlist-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
}

static void remove_file(void)
{
    unlink(path);
}

TestSuite(userlist, .init = make_file, .fini = remove_file);

static userlist *load_text(const char *text, char *err, size_t err_len)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
    err[0] = '\0';
    return userlist_load(path, err, err_len);
}

static userlist *load_ok(const char *text)
{
    char err[512];
    userlist *u = load_text(text, err, sizeof err);
    cr_assert_not_null(u, "load failed: %s", err);
    return u;
}

static const uint8_t salt[4] = {0x01, 0x02, 0x03, 0x04};

Test(userlist, plaintext_entry)
{
    userlist *u = load_ok("\"alice\" \"secret\"\n");
    cr_assert_eq(userlist_count(u), 1);
    const userlist_entry *e = userlist_find(u, "alice");
    cr_assert_not_null(e);
    cr_assert_eq(userlist_entry_kind(e), SECRET_PLAIN);
    cr_assert_str_eq(userlist_entry_plain(e), "secret");
    cr_assert_null(userlist_entry_md5(e));
    const scram_secret *s = userlist_entry_scram(e);
    cr_assert_not_null(s, "a SCRAM secret is derived for plaintext entries");
    cr_assert_eq(s->iterations, 4096);

    cr_assert(userlist_check_cleartext(e, "secret"));
    cr_assert_not(userlist_check_cleartext(e, "wrong"));
    cr_assert_not(userlist_check_cleartext(e, "secre"));
    cr_assert_not(userlist_check_cleartext(e, "secret2"));
    cr_assert_not(userlist_check_cleartext(e, ""));

    char right[36];
    auth_md5_password("alice", "secret", salt, right);
    cr_assert(userlist_check_md5(e, "alice", salt, right));
    char other_user[36];
    auth_md5_password("bob", "secret", salt, other_user);
    cr_assert_not(userlist_check_md5(e, "alice", salt, other_user));
    static const uint8_t salt2[4] = {9, 9, 9, 9};
    cr_assert_not(userlist_check_md5(e, "alice", salt2, right), "another salt");
    cr_assert_not(userlist_check_md5(e, "alice", salt, "md5"));
    cr_assert_not(userlist_check_md5(e, "alice", salt, "secret"));
    userlist_free(u);
}

Test(userlist, scram_verifier_entry)
{
    userlist *u = load_ok("\"x\" \"" PG15_PENCIL "\"\n");
    const userlist_entry *e = userlist_find(u, "x");
    cr_assert_not_null(e);
    cr_assert_eq(userlist_entry_kind(e), SECRET_SCRAM);
    cr_assert_null(userlist_entry_plain(e));
    cr_assert_null(userlist_entry_md5(e));
    const scram_secret *s = userlist_entry_scram(e);
    cr_assert_not_null(s);
    cr_assert_eq(s->iterations, 4096);
    cr_assert_eq(s->salt_len, 16);

    cr_assert(userlist_check_cleartext(e, "pencil"));
    cr_assert_not(userlist_check_cleartext(e, "Pencil"));
    cr_assert_not(userlist_check_cleartext(e, ""));
    char resp[36];
    auth_md5_password("x", "pencil", salt, resp);
    cr_assert_not(userlist_check_md5(e, "x", salt, resp), "md5 cannot be checked against SCRAM");
    userlist_free(u);
}

Test(userlist, md5_entry)
{
    char stored[36];
    cr_assert(auth_md5_stored("bob", "secret", stored));
    char text[128];
    snprintf(text, sizeof text, "\"bob\" \"%s\"\n", stored);
    userlist *u = load_ok(text);
    const userlist_entry *e = userlist_find(u, "bob");
    cr_assert_not_null(e);
    cr_assert_eq(userlist_entry_kind(e), SECRET_MD5);
    cr_assert_str_eq(userlist_entry_md5(e), stored);
    cr_assert_null(userlist_entry_plain(e));
    cr_assert_null(userlist_entry_scram(e));

    char right[36];
    auth_md5_password("bob", "secret", salt, right);
    cr_assert(userlist_check_md5(e, "bob", salt, right));
    char wrong[36];
    auth_md5_password("bob", "Secret", salt, wrong);
    cr_assert_not(userlist_check_md5(e, "bob", salt, wrong));
    cr_assert_not(userlist_check_md5(e, "bob", salt, ""));
    cr_assert_not(userlist_check_cleartext(e, "secret"), "md5 entries take md5 responses only");
    cr_assert_not(userlist_check_cleartext(e, stored));
    userlist_free(u);
}

Test(userlist, md5_lookalikes_are_plaintext)
{
    /* 31 hex digits, a non-hex digit, upper-case prefix: plaintext passwords */
    userlist *u = load_ok("\"a\" \"md5c4c6a6a7b4d7e9e6f4b4d0e1d0d8f7f\"\n"
                          "\"b\" \"md5c4c6a6a7b4d7e9e6f4b4d0e1d0d8f7fz\"\n"
                          "\"c\" \"MD5c4c6a6a7b4d7e9e6f4b4d0e1d0d8f7f1\"\n"
                          "\"d\" \"" MD5_SECRET_BOB "\"\n");
    cr_assert_eq(userlist_entry_kind(userlist_find(u, "a")), SECRET_PLAIN);
    cr_assert_eq(userlist_entry_kind(userlist_find(u, "b")), SECRET_PLAIN);
    cr_assert_eq(userlist_entry_kind(userlist_find(u, "c")), SECRET_PLAIN);
    cr_assert_eq(userlist_entry_kind(userlist_find(u, "d")), SECRET_MD5);
    userlist_free(u);
}

Test(userlist, comments_blank_lines_and_spacing)
{
    userlist *u = load_ok("# users of the shop\n"
                          "\n"
                          "   \n"
                          "; also a comment\n"
                          "  # indented comment\n"
                          "\"alice\"\t\"a-pass\"\n"
                          "   \"bob\"    \"b-pass\"\r\n"
                          "\"carol\" \"c-pass\"");
    cr_assert_eq(userlist_count(u), 3);
    cr_assert_str_eq(userlist_entry_plain(userlist_find(u, "alice")), "a-pass");
    cr_assert_str_eq(userlist_entry_plain(userlist_find(u, "bob")), "b-pass");
    cr_assert_str_eq(userlist_entry_plain(userlist_find(u, "carol")), "c-pass",
                     "last line without newline");
    userlist_free(u);
}

Test(userlist, quoted_quotes_and_specials)
{
    userlist *u = load_ok("\"o\"\"brien\" \"pa\"\"ss\"\n"
                          "\"with space\" \"a b#c;d\"\n"
                          "\"\"\"\" \"\"\"\"\"\"\n");
    cr_assert_eq(userlist_count(u), 3);
    const userlist_entry *e = userlist_find(u, "o\"brien");
    cr_assert_not_null(e);
    cr_assert_str_eq(userlist_entry_plain(e), "pa\"ss");
    cr_assert(userlist_check_cleartext(e, "pa\"ss"));
    cr_assert_str_eq(userlist_entry_plain(userlist_find(u, "with space")), "a b#c;d");
    e = userlist_find(u, "\"");
    cr_assert_not_null(e, "a user named by one quote");
    cr_assert_str_eq(userlist_entry_plain(e), "\"\"");
    userlist_free(u);
}

Test(userlist, unknown_user_and_mock)
{
    userlist *u = load_ok("\"alice\" \"secret\"\n");
    cr_assert_null(userlist_find(u, "bob"));
    cr_assert_null(userlist_find(u, "Alice"), "names are case-sensitive");
    cr_assert_null(userlist_find(u, "alice "));
    cr_assert_null(userlist_find(u, ""));
    const scram_secret *m = userlist_mock_secret(u);
    cr_assert_not_null(m);
    cr_assert_eq(m->iterations, 4096);
    userlist_free(u);
    userlist_free(NULL);
}

Test(userlist, empty_file)
{
    userlist *u = load_ok("");
    cr_assert_eq(userlist_count(u), 0);
    cr_assert_null(userlist_find(u, "anyone"));
    userlist_free(u);
}

typedef struct bad_case {
    const char *what;
    const char *text;
    int line;
    const char *has;
} bad_case;

static const bad_case bad_cases[] = {
    {"duplicate user", "# c\n\"alice\" \"one\"\n\"alice\" \"two\"\n", 3,
     "user \"alice\" is listed twice"},
    {"duplicate after other kinds", "\"a\" \"x\"\n\n\"b\" \"" MD5_SECRET_BOB "\"\n\"b\" \"y\"\n", 4,
     "listed twice"},
    {"no quotes", "alice secret\n", 1, "expected \"user\" \"password-or-verifier\""},
    {"only a user", "\"ok\" \"fine\"\n\"alice\"\n", 2, "expected"},
    {"unterminated secret", "\"alice\" \"secret\n", 1, "expected"},
    {"unterminated user", "\"alice\n", 1, "expected"},
    {"unquoted secret", "\"alice\" secret\n", 1, "expected"},
    {"malformed SCRAM verifier", "\"a\" \"b\"\n\"x\" \"SCRAM-SHA-256$bogus\"\n", 2,
     "malformed SCRAM-SHA-256 verifier for user \"x\""},
    {"SCRAM verifier with bad base64",
     "\"x\" \"SCRAM-SHA-256$4096:!!!$Z9PZ8mWvOk5ZttnuMfcCTdhmSZv894e52KpUDydCzes=:"
     "Q6KdcsNerDXYaMrsCmxdeZpf52TSLzXW4Lj7dt6Zywk=\"\n",
     1, "malformed SCRAM"},
};

Test(userlist, errors_name_file_and_line)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *b = &bad_cases[i];
        char err[512];
        userlist *u = load_text(b->text, err, sizeof err);
        cr_expect_null(u, "%s: loaded", b->what);
        if (u) {
            userlist_free(u);
            continue;
        }
        char prefix[128];
        snprintf(prefix, sizeof prefix, "%s:%d: ", path, b->line);
        cr_expect_eq(strncmp(err, prefix, strlen(prefix)), 0, "%s: \"%s\" does not start \"%s\"",
                     b->what, err, prefix);
        cr_expect(strstr(err, b->has), "%s: \"%s\" lacks \"%s\"", b->what, err, b->has);
    }
}

Test(userlist, errors_never_show_secrets)
{
    char err[512];
    userlist *u = load_text("\"alice\" \"hunter2\"\n\"alice\" \"hunter3\"\n", err, sizeof err);
    cr_assert_null(u);
    cr_assert_null(strstr(err, "hunter"), "%s", err);
    u = load_text("\"x\" \"SCRAM-SHA-256$bogus-hunter2\"\n", err, sizeof err);
    cr_assert_null(u);
    cr_assert_null(strstr(err, "hunter"), "%s", err);
}

Test(userlist, missing_file)
{
    char err[256];
    userlist *u = userlist_load("/tmp/pgt-no-such-dir/users.txt", err, sizeof err);
    cr_assert_null(u);
    cr_assert(strstr(err, "/tmp/pgt-no-such-dir/users.txt: cannot open"), "%s", err);
}

Test(userlist, many_users)
{
    char *text = malloc(200 * 64);
    cr_assert_not_null(text);
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        n += (size_t)sprintf(text + n, "\"user%d\" \"" MD5_SECRET_BOB "\"\n", i);
    userlist *u = load_ok(text);
    free(text);
    cr_assert_eq(userlist_count(u), 200);
    cr_assert_not_null(userlist_find(u, "user0"));
    cr_assert_not_null(userlist_find(u, "user199"));
    cr_assert_null(userlist_find(u, "user200"));
    userlist_free(u);
}
