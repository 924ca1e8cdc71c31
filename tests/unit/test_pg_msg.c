/* Unit tests for protocol/pg_msg: startup packets, structural checks of every
 * frontend message type, the backend decoders, and round trips (build with
 * pg_buf, frame, decode: the same fields come back). Bodies are written out
 * by hand so each case shows the bytes on the wire. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_buf.h"
#include "protocol/pg_codes.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"

/* A string literal as a body: pointer and length without the literal's own NUL. */
#define BODY(lit) (const uint8_t *)(lit), (sizeof(lit) - 1)

/* ---- startup packets (body = after the length word) ---- */

typedef struct startup_case {
    const char *what;
    const uint8_t *body;
    size_t len;
    bool ok;
    uint32_t code;       /* when ok */
    const char *err_has; /* when not ok */
} startup_case;

static const startup_case startup_cases[] = {
    {"3.0 with parameters",
     BODY("\0\x03\0\0user\0bob\0database\0db1\0application_name\0psql\0\0"), true,
     PG_PROTOCOL_3_0, NULL},
    {"3.0 without parameters", BODY("\0\x03\0\0\0"), true, PG_PROTOCOL_3_0, NULL},
    {"3.0 with an empty value", BODY("\0\x03\0\0user\0\0\0"), true, PG_PROTOCOL_3_0, NULL},
    {"3.2 accepted", BODY("\0\x03\0\x02user\0bob\0\0"), true, PG_PROTOCOL_3_2, NULL},
    {"SSLRequest", BODY("\x04\xd2\x16\x2f"), true, PG_SSL_REQUEST_CODE, NULL},
    {"GSSENCRequest", BODY("\x04\xd2\x16\x30"), true, PG_GSSENC_REQUEST_CODE, NULL},
    {"CancelRequest", BODY("\x04\xd2\x16\x2e\0\0\x04\xd2\0\0\x16\x2e"), true,
     PG_CANCEL_REQUEST_CODE, NULL},
    {"SSLRequest with a trailing byte", BODY("\x04\xd2\x16\x2f" "Q"), false, 0,
     "encryption request"},
    {"SSLRequest with a whole message behind it", BODY("\x04\xd2\x16\x2fQ\0\0\0\x05\0"), false, 0,
     "encryption request"},
    {"GSSENCRequest with trailing bytes", BODY("\x04\xd2\x16\x30\0\0"), false, 0,
     "encryption request"},
    {"CancelRequest one byte short", BODY("\x04\xd2\x16\x2e\0\0\x04\xd2\0\0\x16"), false, 0,
     "cancel request"},
    {"CancelRequest one byte long", BODY("\x04\xd2\x16\x2e\0\0\x04\xd2\0\0\x16\x2e\0"), false, 0,
     "cancel request"},
    {"CancelRequest with a long (3.2-style) key, never issued by us",
     BODY("\x04\xd2\x16\x2e\0\0\0\x01" "0123456789abcdef0123456789abcdef"), false, 0,
     "cancel request"},
    {"CancelRequest without a key", BODY("\x04\xd2\x16\x2e"), false, 0, "cancel request"},
    {"protocol 2.0", BODY("\0\x02\0\0user\0bob\0\0"), false, 0, "unsupported"},
    {"protocol 4.0", BODY("\0\x04\0\0user\0bob\0\0"), false, 0, "unsupported"},
    {"protocol 0.0", BODY("\0\0\0\0\0"), false, 0, "unsupported"},
    {"protocol 1234.5677", BODY("\x04\xd2\x16\x2d\0"), false, 0, "unsupported"},
    {"body of 3 bytes", BODY("\0\x03\0"), false, 0, "too short"},
    {"empty body", BODY(""), false, 0, "too short"},
    {"missing terminator", BODY("\0\x03\0\0user\0bob\0"), false, 0, "not terminated"},
    {"no terminator and no parameters", BODY("\0\x03\0\0"), false, 0, "not terminated"},
    {"name without its NUL", BODY("\0\x03\0\0user"), false, 0, "not terminated"},
    {"parameter without value", BODY("\0\x03\0\0user\0"), false, 0, "no value"},
    {"value without its NUL", BODY("\0\x03\0\0user\0bob"), false, 0, "no value"},
    {"bytes after the terminator", BODY("\0\x03\0\0user\0bob\0\0x"), false, 0, "trailing"},
    {"two terminators", BODY("\0\x03\0\0user\0bob\0\0\0"), false, 0, "trailing"},
};

Test(pg_msg, startup_table)
{
    for (size_t i = 0; i < sizeof startup_cases / sizeof startup_cases[0]; i++) {
        const startup_case *c = &startup_cases[i];
        pg_startup st;
        const char *err = NULL;
        bool ok = pg_decode_startup(c->body, c->len, &st, &err);
        cr_expect_eq(ok, c->ok, "%s: decode gave %d (%s)", c->what, ok, err ? err : "");
        if (ok && c->ok) {
            cr_expect_eq(st.code, c->code, "%s: code %u", c->what, st.code);
        } else if (!ok && !c->ok) {
            cr_expect_not_null(err, "%s: no error text", c->what);
            if (err)
                cr_expect(strstr(err, c->err_has), "%s: error \"%s\" lacks \"%s\"", c->what, err,
                          c->err_has);
        }
    }
}

Test(pg_msg, startup_parameters)
{
    pg_startup st;
    const char *err = NULL;
    cr_assert(pg_decode_startup(startup_cases[0].body, startup_cases[0].len, &st, &err));
    cr_assert_eq(st.n_params, 3);
    cr_assert_str_eq(st.names[0], "user");
    cr_assert_str_eq(st.values[0], "bob");
    cr_assert_str_eq(pg_startup_get(&st, "database"), "db1");
    cr_assert_str_eq(pg_startup_get(&st, "application_name"), "psql");
    cr_assert_null(pg_startup_get(&st, "options"));
    cr_assert_null(pg_startup_get(&st, "User"), "names are case-sensitive");

    cr_assert(pg_decode_startup(BODY("\x04\xd2\x16\x2e\0\0\x04\xd2\xff\xff\xff\xfe"), &st, &err));
    cr_assert_eq(st.cancel_pid, 1234);
    cr_assert_eq(st.cancel_key, -2);
    cr_assert_eq(st.n_params, 0);
}

/* PostgreSQL applies startup parameters in order, so the last of two with the
 * same name wins. The proxy must see what the server will see: either refuse
 * the packet, or answer pg_startup_get() with the last value. Otherwise
 * "replication=no" then "replication=database" passes the proxy's check
 * (which reads the first) and reaches the server (which uses the last). */
Test(pg_msg, startup_duplicate_parameter)
{
    static const struct {
        const char *name;
        const uint8_t *body;
        size_t len;
        const char *last;
    } cases[] = {
        {"replication", BODY("\0\x03\0\0user\0bob\0replication\0no\0replication\0database\0\0"),
         "database"},
        {"user", BODY("\0\x03\0\0user\0bob\0user\0postgres\0\0"), "postgres"},
        {"database", BODY("\0\x03\0\0user\0bob\0database\0a\0database\0b\0\0"), "b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pg_startup st;
        const char *err = NULL;
        if (!pg_decode_startup(cases[i].body, cases[i].len, &st, &err))
            continue; /* refused: fine */
        const char *v = pg_startup_get(&st, cases[i].name);
        cr_expect(v && strcmp(v, cases[i].last) == 0,
                  "two \"%s\" parameters: the proxy sees \"%s\", PostgreSQL uses \"%s\"",
                  cases[i].name, v ? v : "(null)", cases[i].last);
    }
}

/* Writes a startup body with n parameters p0=v0 ... into out. */
static size_t startup_with_params(uint8_t *out, size_t cap, size_t n)
{
    size_t len = 4;
    memcpy(out, "\0\x03\0\0", 4);
    for (size_t i = 0; i < n; i++) {
        int w = snprintf((char *)out + len, cap - len, "p%zu", i);
        len += (size_t)w + 1;
        w = snprintf((char *)out + len, cap - len, "v%zu", i);
        len += (size_t)w + 1;
    }
    out[len++] = 0;
    cr_assert_leq(len, cap);
    return len;
}

Test(pg_msg, startup_parameter_count_limit)
{
    uint8_t body[2048];
    pg_startup st;
    const char *err = NULL;
    size_t len = startup_with_params(body, sizeof body, PG_STARTUP_MAX_PARAMS);
    cr_assert(pg_decode_startup(body, len, &st, &err), "%d parameters", PG_STARTUP_MAX_PARAMS);
    cr_assert_eq(st.n_params, PG_STARTUP_MAX_PARAMS);
    cr_assert_str_eq(st.names[PG_STARTUP_MAX_PARAMS - 1], "p63");
    cr_assert_str_eq(st.values[PG_STARTUP_MAX_PARAMS - 1], "v63");

    len = startup_with_params(body, sizeof body, PG_STARTUP_MAX_PARAMS + 1);
    cr_assert_not(pg_decode_startup(body, len, &st, &err));
    cr_assert(strstr(err, "too many"), "%s", err);
}

/* ---- frontend messages after startup ---- */

typedef struct fe_case {
    const char *what;
    uint8_t type;
    const uint8_t *body;
    size_t len;
    bool ok;
    const char *err_has; /* NULL: any error text */
} fe_case;

static const fe_case fe_cases[] = {
    /* Query */
    {"Query", 'Q', BODY("SELECT 1\0"), true, NULL},
    {"empty Query", 'Q', BODY("\0"), true, NULL},
    {"Query without NUL", 'Q', BODY("SELECT 1"), false, NULL},
    {"Query with trailing bytes", 'Q', BODY("SELECT 1\0x"), false, "malformed"},
    {"Query with two NULs", 'Q', BODY("SELECT 1\0\0"), false, NULL},
    {"Query with no body", 'Q', BODY(""), false, NULL},
    /* Parse */
    {"Parse without parameters", 'P', BODY("\0SELECT 1\0\0\0"), true, NULL},
    {"Parse with one parameter type", 'P', BODY("s1\0SELECT $1\0\0\x01\0\0\0\x17"), true, NULL},
    {"Parse with negative parameter count", 'P', BODY("\0SELECT 1\0\xff\xff"), false,
     "parameter count"},
    {"Parse with parameter count -32768", 'P', BODY("\0SELECT 1\0\x80\0"), false,
     "parameter count"},
    {"Parse with fewer types than counted", 'P', BODY("\0SELECT 1\0\0\x02\0\0\0\x17"), false,
     NULL},
    {"Parse with trailing bytes", 'P', BODY("\0SELECT 1\0\0\0x"), false, NULL},
    {"Parse without parameter count", 'P', BODY("\0SELECT 1\0"), false, NULL},
    {"Parse with unterminated query", 'P', BODY("\0SELECT 1"), false, NULL},
    /* Bind */
    {"Bind, nothing bound", 'B', BODY("\0\0" "\0\0" "\0\0" "\0\0"), true, NULL},
    {"Bind with formats, NULL and a value", 'B',
     BODY("p1\0s1\0" "\0\x01\0\x01" "\0\x02" "\xff\xff\xff\xff" "\0\0\0\x02" "ab"
          "\0\x01\0\0"),
     true, NULL},
    {"Bind with an empty value", 'B', BODY("\0\0" "\0\0" "\0\x01\0\0\0\0" "\0\0"), true, NULL},
    {"Bind with negative format count", 'B', BODY("\0\0" "\xff\xff" "\0\0" "\0\0"), false,
     "parameter format"},
    {"Bind with format code 2", 'B', BODY("\0\0" "\0\x01\0\x02" "\0\0" "\0\0"), false,
     "parameter format"},
    {"Bind with format code -1", 'B', BODY("\0\0" "\0\x01\xff\xff" "\0\0" "\0\0"), false,
     "parameter format"},
    {"Bind with negative value count", 'B', BODY("\0\0" "\0\0" "\xff\xfe" "\0\0"), false,
     "parameter values"},
    {"Bind with parameter length -2", 'B', BODY("\0\0" "\0\0" "\0\x01\xff\xff\xff\xfe" "\0\0"),
     false, "parameter values"},
    {"Bind with parameter length INT32_MIN", 'B',
     BODY("\0\0" "\0\0" "\0\x01\x80\0\0\0" "\0\0"), false, "parameter values"},
    {"Bind with value longer than the body", 'B',
     BODY("\0\0" "\0\0" "\0\x01\0\0\0\x10" "abc" "\0\0"), false, NULL},
    {"Bind with value length INT32_MAX", 'B', BODY("\0\0" "\0\0" "\0\x01\x7f\xff\xff\xff"),
     false, NULL},
    {"Bind with more values counted than sent", 'B',
     BODY("\0\0" "\0\0" "\0\x03\0\0\0\x01x"), false, NULL},
    {"Bind with negative result format count", 'B', BODY("\0\0" "\0\0" "\0\0" "\xff\xff"),
     false, "result format"},
    {"Bind with result format code 2", 'B', BODY("\0\0" "\0\0" "\0\0" "\0\x01\0\x02"), false,
     "result format"},
    {"Bind without result formats", 'B', BODY("\0\0" "\0\0" "\0\0"), false, NULL},
    {"Bind with trailing bytes", 'B', BODY("\0\0" "\0\0" "\0\0" "\0\0" "x"), false,
     "malformed"},
    {"Bind with unterminated portal", 'B', BODY("portal"), false, NULL},
    /* Describe / Close */
    {"Describe statement", 'D', BODY("Ss1\0"), true, NULL},
    {"Describe unnamed portal", 'D', BODY("P\0"), true, NULL},
    {"Describe 'X' target", 'D', BODY("Xs1\0"), false, "Describe target"},
    {"Describe lowercase target", 'D', BODY("s\0"), false, "Describe target"},
    {"Describe without name", 'D', BODY("S"), false, NULL},
    {"Describe with no body", 'D', BODY(""), false, NULL},
    {"Describe with trailing bytes", 'D', BODY("S\0\0"), false, NULL},
    {"Close statement", 'C', BODY("Ss1\0"), true, NULL},
    {"Close portal", 'C', BODY("Pp1\0"), true, NULL},
    {"Close 'X' target", 'C', BODY("X\0"), false, "Close target"},
    {"Close target NUL", 'C', BODY("\0\0"), false, "Close target"},
    {"Close without name", 'C', BODY("Ss1"), false, NULL},
    {"Close with no body", 'C', BODY(""), false, NULL},
    /* Execute */
    {"Execute unnamed, all rows", 'E', BODY("\0\0\0\0\0"), true, NULL},
    {"Execute named, 10 rows", 'E', BODY("p1\0\0\0\0\x0a"), true, NULL},
    {"Execute with negative max rows", 'E', BODY("\0\xff\xff\xff\xff"), true, NULL},
    {"Execute without max rows", 'E', BODY("p1\0"), false, NULL},
    {"Execute with short max rows", 'E', BODY("p1\0\0\0\0"), false, NULL},
    {"Execute with trailing bytes", 'E', BODY("\0\0\0\0\0!"), false, NULL},
    /* bodyless */
    {"Sync", 'S', BODY(""), true, NULL},
    {"Flush", 'H', BODY(""), true, NULL},
    {"Terminate", 'X', BODY(""), true, NULL},
    {"CopyDone", 'c', BODY(""), true, NULL},
    {"Sync with a body", 'S', BODY("x"), false, "malformed"},
    {"Flush with a body", 'H', BODY("\0"), false, NULL},
    {"Terminate with a body", 'X', BODY("\0\0\0\0"), false, NULL},
    {"CopyDone with a body", 'c', BODY("done"), false, NULL},
    /* FunctionCall */
    {"FunctionCall", 'F',
     BODY("\0\0\x04\xd2" "\0\x01\0\x01" "\0\x01\0\0\0\x04" "abcd" "\0\x01"), true, NULL},
    {"FunctionCall, no arguments", 'F', BODY("\0\0\0\0" "\0\0" "\0\0" "\0\0"), true, NULL},
    {"FunctionCall with NULL argument", 'F',
     BODY("\0\0\0\x01" "\0\0" "\0\x01\xff\xff\xff\xff" "\0\0"), true, NULL},
    {"FunctionCall with result format 2", 'F', BODY("\0\0\0\0" "\0\0" "\0\0" "\0\x02"), false,
     "result format"},
    {"FunctionCall with negative argument count", 'F',
     BODY("\0\0\x04\xd2" "\0\0" "\xff\xff" "\0\0"), false, "arguments"},
    {"FunctionCall with argument length -2", 'F',
     BODY("\0\0\x04\xd2" "\0\0" "\0\x01\xff\xff\xff\xfe" "\0\0"), false, "arguments"},
    {"FunctionCall with format code 7", 'F', BODY("\0\0\x04\xd2" "\0\x01\0\x07" "\0\0" "\0\0"),
     false, "arguments"},
    {"FunctionCall without result format", 'F', BODY("\0\0\0\0" "\0\0" "\0\0"), false, NULL},
    {"FunctionCall with trailing bytes", 'F', BODY("\0\0\0\0" "\0\0" "\0\0" "\0\0" "x"), false,
     NULL},
    {"FunctionCall of 2 bytes", 'F', BODY("\0\0"), false, NULL},
    /* COPY and password messages */
    {"CopyData", 'd', BODY("1\tfoo\n"), true, NULL},
    {"empty CopyData", 'd', BODY(""), true, NULL},
    {"CopyFail", 'f', BODY("client gave up\0"), true, NULL},
    {"CopyFail without NUL", 'f', BODY("client gave up"), false, NULL},
    {"CopyFail with trailing bytes", 'f', BODY("x\0y"), false, NULL},
    {"PasswordMessage", 'p', BODY("secret\0"), true, NULL},
    {"SASLResponse bytes", 'p', BODY("c=biws,r=abc"), true, NULL},
    /* not frontend types */
    {"ReadyForQuery from a client", 'Z', BODY("I"), false, "unknown"},
    {"Authentication from a client", 'R', BODY("\0\0\0\0"), false, "unknown"},
    {"type 0", 0, BODY(""), false, "unknown"},
    {"type 0xff", 0xff, BODY(""), false, "unknown"},
    {"lowercase q", 'q', BODY("SELECT 1\0"), false, "unknown"},
};

Test(pg_msg, fe_check_table)
{
    for (size_t i = 0; i < sizeof fe_cases / sizeof fe_cases[0]; i++) {
        const fe_case *c = &fe_cases[i];
        const char *err = "unset";
        bool ok = pg_fe_check(c->type, c->body, c->len, &err);
        cr_expect_eq(ok, c->ok, "%s: check gave %d (%s)", c->what, ok, err ? err : "");
        if (ok) {
            cr_expect_null(err, "%s: error text on success", c->what);
        } else {
            cr_expect_not_null(err, "%s: no error text", c->what);
            if (err && c->err_has)
                cr_expect(strstr(err, c->err_has), "%s: error \"%s\" lacks \"%s\"", c->what, err,
                          c->err_has);
        }
    }
}

/* A body in its own exact-size allocation, so ASan sees any read past its end. */
Test(pg_msg, fe_check_reads_stay_in_bounds)
{
    for (size_t i = 0; i < sizeof fe_cases / sizeof fe_cases[0]; i++) {
        const fe_case *c = &fe_cases[i];
        for (size_t cut = 0; cut <= c->len; cut++) {
            uint8_t *copy = malloc(cut ? cut : 1);
            cr_assert_not_null(copy);
            memcpy(copy, c->body, cut);
            const char *err = NULL;
            bool ok = pg_fe_check(c->type, copy, cut, &err);
            cr_expect(ok || err, "%s cut to %zu: failure without text", c->what, cut);
            free(copy);
        }
    }
}

Test(pg_msg, sasl_initial)
{
    pg_sasl_initial s;
    cr_assert(pg_decode_sasl_initial(BODY("SCRAM-SHA-256\0\0\0\0\x03" "abc"), &s));
    cr_assert_str_eq(s.mechanism, "SCRAM-SHA-256");
    cr_assert_eq(s.data_len, 3);
    cr_assert_eq(memcmp(s.data, "abc", 3), 0);

    cr_assert(pg_decode_sasl_initial(BODY("SCRAM-SHA-256\0\xff\xff\xff\xff"), &s), "length -1");
    cr_assert_null(s.data);
    cr_assert_eq(s.data_len, 0);

    cr_assert(pg_decode_sasl_initial(BODY("M\0\0\0\0\0"), &s), "empty data");
    cr_assert_not_null(s.data);
    cr_assert_eq(s.data_len, 0);

    cr_assert_not(pg_decode_sasl_initial(BODY("M\0\xff\xff\xff\xfe"), &s), "length -2");
    cr_assert_not(pg_decode_sasl_initial(BODY("M\0\0\0\0\x04" "abc"), &s), "data short");
    cr_assert_not(pg_decode_sasl_initial(BODY("M\0\0\0\0\x02" "abc"), &s), "trailing byte");
    cr_assert_not(pg_decode_sasl_initial(BODY("M\0\0\0"), &s), "length short");
    cr_assert_not(pg_decode_sasl_initial(BODY("SCRAM-SHA-256"), &s), "no NUL");
    cr_assert_not(pg_decode_sasl_initial(BODY(""), &s), "empty");
    cr_assert_not(pg_decode_sasl_initial(BODY("M\0\x7f\xff\xff\xff"), &s), "INT32_MAX");
}

Test(pg_msg, password)
{
    const char *pw = NULL;
    cr_assert(pg_decode_password(BODY("secret\0"), &pw));
    cr_assert_str_eq(pw, "secret");
    cr_assert(pg_decode_password(BODY("\0"), &pw));
    cr_assert_str_eq(pw, "");
    cr_assert_not(pg_decode_password(BODY("secret"), &pw));
    cr_assert_not(pg_decode_password(BODY("secret\0x"), &pw));
    cr_assert_not(pg_decode_password(BODY(""), &pw));
}

/* ---- backend messages ---- */

typedef struct error_case {
    const char *what;
    const uint8_t *body;
    size_t len;
    bool ok;
    const char *severity, *sqlstate, *message, *detail;
} error_case;

static const error_case error_cases[] = {
    {"S V C M", BODY("SERROR\0VERROR\0C42P01\0Mno table\0\0"), true, "ERROR", "42P01", "no table",
     NULL},
    {"localized S, plain V", BODY("SFEHLER\0VERROR\0C23505\0Mdoppelt\0Dkey (id)=(1)\0\0"), true,
     "ERROR", "23505", "doppelt", "key (id)=(1)"},
    {"V before S", BODY("VFATAL\0SFATAL\0C57P01\0Mbye\0\0"), true, "FATAL", "57P01", "bye", NULL},
    {"S only (pre-9.6 server)", BODY("SERROR\0C42601\0Msyntax\0\0"), true, "ERROR", "42601",
     "syntax", NULL},
    {"extra fields ignored", BODY("SERROR\0VERROR\0C22012\0Mdiv\0Hhint\0P12\0Ffile.c\0L1\0\0"),
     true, "ERROR", "22012", "div", NULL},
    {"empty message text", BODY("SNOTICE\0VNOTICE\0C00000\0M\0\0"), true, "NOTICE", "00000", "",
     NULL},
    {"no SQLSTATE", BODY("SERROR\0VERROR\0Mno code\0\0"), false, 0, 0, 0, 0},
    {"short SQLSTATE", BODY("SERROR\0VERROR\0C4200\0Mx\0\0"), false, 0, 0, 0, 0},
    {"long SQLSTATE", BODY("SERROR\0VERROR\0C420011\0Mx\0\0"), false, 0, 0, 0, 0},
    {"empty SQLSTATE", BODY("SERROR\0VERROR\0C\0Mx\0\0"), false, 0, 0, 0, 0},
    {"no message", BODY("SERROR\0VERROR\0C42P01\0\0"), false, 0, 0, 0, 0},
    {"no severity", BODY("C42P01\0Mx\0\0"), false, 0, 0, 0, 0},
    {"missing terminator", BODY("SERROR\0VERROR\0C42P01\0Mx\0"), false, 0, 0, 0, 0},
    {"unterminated field", BODY("SERROR\0VERROR\0C42P01\0Mx"), false, 0, 0, 0, 0},
    {"bytes after terminator", BODY("SERROR\0VERROR\0C42P01\0Mx\0\0\0"), false, 0, 0, 0, 0},
    {"field code without value", BODY("SERROR\0C42P01\0Mx\0D"), false, 0, 0, 0, 0},
    {"only the terminator", BODY("\0"), false, 0, 0, 0, 0},
    {"empty", BODY(""), false, 0, 0, 0, 0},
};

Test(pg_msg, decode_error_table)
{
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        const error_case *c = &error_cases[i];
        pg_error_fields f;
        bool ok = pg_decode_error(c->body, c->len, &f);
        cr_expect_eq(ok, c->ok, "%s: decode gave %d", c->what, ok);
        const char *err = NULL;
        cr_expect_eq(pg_be_check('E', c->body, c->len, &err), c->ok, "%s as ErrorResponse",
                     c->what);
        cr_expect_eq(pg_be_check('N', c->body, c->len, &err), c->ok, "%s as NoticeResponse",
                     c->what);
        if (!ok || !c->ok)
            continue;
        cr_expect_str_eq(f.severity, c->severity, "%s", c->what);
        cr_expect_str_eq(f.sqlstate, c->sqlstate, "%s", c->what);
        cr_expect_str_eq(f.message, c->message, "%s", c->what);
        if (c->detail)
            cr_expect_str_eq(f.detail, c->detail, "%s", c->what);
        else
            cr_expect_null(f.detail, "%s", c->what);
    }
}

Test(pg_msg, auth_request)
{
    pg_auth_request a;
    cr_assert(pg_decode_auth_request(BODY("\0\0\0\0"), &a));
    cr_assert_eq(a.code, PG_AUTH_OK);
    cr_assert_eq(a.data_len, 0);

    cr_assert(pg_decode_auth_request(BODY("\0\0\0\x05\x01\x02\x03\x04"), &a));
    cr_assert_eq(a.code, PG_AUTH_MD5);
    cr_assert_eq(a.data_len, 4);
    cr_assert_eq(memcmp(a.data, "\x01\x02\x03\x04", 4), 0);

    cr_assert(pg_decode_auth_request(BODY("\0\0\0\x0aSCRAM-SHA-256\0\0"), &a));
    cr_assert_eq(a.code, PG_AUTH_SASL);
    cr_assert_eq(a.data_len, 15);
    cr_assert(pg_sasl_offers(a.data, a.data_len, "SCRAM-SHA-256"));

    cr_assert(pg_decode_auth_request(BODY("\xff\xff\xff\xff"), &a), "codes are not judged here");
    cr_assert_eq(a.code, -1);

    for (size_t n = 0; n < 4; n++)
        cr_expect_not(pg_decode_auth_request((const uint8_t *)"\0\0\0\0", n, &a), "%zu bytes", n);
}

Test(pg_msg, sasl_offers)
{
    static const struct {
        const uint8_t *list;
        size_t len;
        const char *mech;
        bool want;
    } cases[] = {
        {BODY("SCRAM-SHA-256\0\0"), "SCRAM-SHA-256", true},
        {BODY("SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"), "SCRAM-SHA-256", true},
        {BODY("SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"), "SCRAM-SHA-256-PLUS", true},
        {BODY("SCRAM-SHA-256-PLUS\0\0"), "SCRAM-SHA-256", false},
        {BODY("SCRAM-SHA-25\0\0"), "SCRAM-SHA-256", false},
        {BODY("scram-sha-256\0\0"), "SCRAM-SHA-256", false},
        {BODY("\0"), "SCRAM-SHA-256", false},
        {BODY(""), "SCRAM-SHA-256", false},
        {BODY("SCRAM-SHA-256"), "SCRAM-SHA-256", false}, /* no NUL inside the payload */
        {BODY("\0SCRAM-SHA-256\0\0"), "SCRAM-SHA-256", false}, /* listed after the end */
        {BODY("X\0Y\0"), "SCRAM-SHA-256", false},             /* unterminated list */
        {BODY("SCRAM-SHA-256\0\0"), "", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(pg_sasl_offers(cases[i].list, cases[i].len, cases[i].mech), cases[i].want,
                     "case %zu", i);
}

Test(pg_msg, parameter_status)
{
    const char *name, *value;
    cr_assert(pg_decode_parameter_status(BODY("TimeZone\0UTC\0"), &name, &value));
    cr_assert_str_eq(name, "TimeZone");
    cr_assert_str_eq(value, "UTC");
    cr_assert(pg_decode_parameter_status(BODY("application_name\0\0"), &name, &value));
    cr_assert_str_eq(value, "");
    cr_assert_not(pg_decode_parameter_status(BODY("TimeZone\0"), &name, &value), "no value");
    cr_assert_not(pg_decode_parameter_status(BODY("TimeZone\0UTC"), &name, &value), "no NUL");
    cr_assert_not(pg_decode_parameter_status(BODY("TimeZone"), &name, &value));
    cr_assert_not(pg_decode_parameter_status(BODY("a\0b\0c"), &name, &value), "trailing");
    cr_assert_not(pg_decode_parameter_status(BODY(""), &name, &value));
}

Test(pg_msg, backend_key)
{
    int32_t pid, key;
    cr_assert(pg_decode_backend_key(BODY("\0\0\x30\x39\xde\xad\xbe\xef"), &pid, &key));
    cr_assert_eq(pid, 12345);
    cr_assert_eq(key, (int32_t)0xdeadbeef);
    cr_assert_not(pg_decode_backend_key(BODY("\0\0\x30\x39\xde\xad\xbe"), &pid, &key), "7 bytes");
    cr_assert_not(pg_decode_backend_key(BODY("\0\0\x30\x39\xde\xad\xbe\xef\0"), &pid, &key),
                  "9 bytes");
    /* a 3.2 server may send a longer key; we speak 3.0 to servers and refuse it */
    cr_assert_not(pg_decode_backend_key(BODY("\0\0\x30\x39" "0123456789abcdef0123456789abcdef"),
                                        &pid, &key));
    cr_assert_not(pg_decode_backend_key(BODY(""), &pid, &key));
}

Test(pg_msg, ready_for_query_status_byte)
{
    for (int b = 0; b < 256; b++) {
        uint8_t body[1] = {(uint8_t)b};
        uint8_t st = 0;
        bool want = b == 'I' || b == 'T' || b == 'E';
        cr_expect_eq(pg_decode_ready_for_query(body, 1, &st), want, "status 0x%02x", b);
        if (want)
            cr_expect_eq(st, b);
        const char *err = NULL;
        cr_expect_eq(pg_be_check('Z', body, 1, &err), want, "be_check status 0x%02x", b);
    }
    uint8_t st;
    cr_assert_not(pg_decode_ready_for_query(BODY(""), &st));
    cr_assert_not(pg_decode_ready_for_query(BODY("II"), &st));
}

typedef struct be_case {
    const char *what;
    uint8_t type;
    const uint8_t *body;
    size_t len;
    bool ok;
} be_case;

static const be_case be_cases[] = {
    {"DataRow, no columns", 'D', BODY("\0\0"), true},
    {"DataRow NULL and text", 'D', BODY("\0\x02\xff\xff\xff\xff\0\0\0\x03" "abc"), true},
    {"DataRow empty field", 'D', BODY("\0\x01\0\0\0\0"), true},
    {"DataRow field length -2", 'D', BODY("\0\x01\xff\xff\xff\xfe"), false},
    {"DataRow field length INT32_MIN", 'D', BODY("\0\x01\x80\0\0\0"), false},
    {"DataRow truncated field", 'D', BODY("\0\x01\0\0\0\x0a" "abc"), false},
    {"DataRow missing second field", 'D', BODY("\0\x02\0\0\0\x01x"), false},
    {"DataRow truncated length", 'D', BODY("\0\x01\0\0"), false},
    {"DataRow negative count", 'D', BODY("\xff\xff"), false},
    {"DataRow trailing bytes", 'D', BODY("\0\x01\0\0\0\x01xy"), false},
    {"DataRow empty body", 'D', BODY(""), false},
    {"DataRow field length INT32_MAX", 'D', BODY("\0\x01\x7f\xff\xff\xff" "abc"), false},
    {"CommandComplete", 'C', BODY("INSERT 0 1\0"), true},
    {"CommandComplete without NUL", 'C', BODY("INSERT 0 1"), false},
    {"CommandComplete trailing", 'C', BODY("SELECT 1\0x"), false},
    {"CommandComplete empty", 'C', BODY(""), false},
    {"ParseComplete", '1', BODY(""), true},
    {"BindComplete", '2', BODY(""), true},
    {"CloseComplete", '3', BODY(""), true},
    {"NoData", 'n', BODY(""), true},
    {"EmptyQueryResponse", 'I', BODY(""), true},
    {"PortalSuspended", 's', BODY(""), true},
    {"CopyDone", 'c', BODY(""), true},
    {"ParseComplete with a body", '1', BODY("x"), false},
    {"BindComplete with a body", '2', BODY("\0"), false},
    {"CloseComplete with a body", '3', BODY("\0\0\0\0"), false},
    {"NoData with a body", 'n', BODY("x"), false},
    {"EmptyQueryResponse with a body", 'I', BODY("x"), false},
    {"PortalSuspended with a body", 's', BODY("x"), false},
    {"CopyDone with a body", 'c', BODY("x"), false},
    {"ReadyForQuery", 'Z', BODY("T"), true},
    {"ReadyForQuery bad status", 'Z', BODY("X"), false},
    {"ReadyForQuery two bytes", 'Z', BODY("IT"), false},
    {"ErrorResponse", 'E', BODY("SERROR\0VERROR\0C42P01\0Mx\0\0"), true},
    {"ErrorResponse without SQLSTATE", 'E', BODY("SERROR\0VERROR\0Mx\0\0"), false},
    {"NoticeResponse", 'N', BODY("SNOTICE\0VNOTICE\0C00000\0Mx\0\0"), true},
    {"NoticeResponse without terminator", 'N', BODY("SNOTICE\0VNOTICE\0C00000\0Mx\0"), false},
    {"CopyData", 'd', BODY("anything"), true},
};

Test(pg_msg, be_check_table)
{
    for (size_t i = 0; i < sizeof be_cases / sizeof be_cases[0]; i++) {
        const be_case *c = &be_cases[i];
        const char *err = NULL;
        bool ok = pg_be_check(c->type, c->body, c->len, &err);
        cr_expect_eq(ok, c->ok, "%s: check gave %d", c->what, ok);
        if (!ok)
            cr_expect_not_null(err, "%s: no error text", c->what);
    }
    const char *err = NULL;
    cr_assert_not(pg_be_check('D', BODY("\0\x01\xff\xff\xff\xfe"), &err));
    cr_assert(strstr(err, "DataRow"), "%s", err);
}

Test(pg_msg, be_check_reads_stay_in_bounds)
{
    for (size_t i = 0; i < sizeof be_cases / sizeof be_cases[0]; i++) {
        const be_case *c = &be_cases[i];
        for (size_t cut = 0; cut <= c->len; cut++) {
            uint8_t *copy = malloc(cut ? cut : 1);
            cr_assert_not_null(copy);
            memcpy(copy, c->body, cut);
            const char *err = NULL;
            bool ok = pg_be_check(c->type, copy, cut, &err);
            cr_expect(ok || err, "%s cut to %zu", c->what, cut);
            free(copy);
        }
    }
}

/* ---- round trips: pg_buf builds, pg_frame frames, pg_msg decodes ---- */

typedef pg_frame_status (*framer)(const uint8_t *, size_t, pg_frame *, const char **);

/* Frames the single message in b; returns its body. */
static const uint8_t *framed(framer fn, const pg_buf *b, uint8_t want_type, size_t *body_len)
{
    cr_assert_not(b->failed);
    pg_frame f;
    const char *err = NULL;
    cr_assert_eq(fn(b->data, b->len, &f, &err), PG_FRAME_OK, "%s", err ? err : "");
    cr_assert_eq(f.type, want_type, "type 0x%02x", f.type);
    cr_assert_eq(f.hdr_len + f.body_len, b->len, "length word covers the whole message");
    *body_len = f.body_len;
    return b->data + f.hdr_len;
}

Test(pg_msg, round_trip_startup_and_cancel)
{
    static const char *const names[] = {"user", "database", "options", "application_name"};
    static const char *const values[] = {"alice", "shop", "-c search_path=x", ""};
    pg_buf b;
    pg_buf_init(&b);
    pg_buf_startup(&b, names, values, 4);
    size_t len;
    const uint8_t *body = framed(pg_frame_startup, &b, 0, &len);
    pg_startup st;
    const char *err = NULL;
    cr_assert(pg_decode_startup(body, len, &st, &err), "%s", err);
    cr_assert_eq(st.code, PG_PROTOCOL_3_0);
    cr_assert_eq(st.n_params, 4);
    for (size_t i = 0; i < 4; i++) {
        cr_assert_str_eq(st.names[i], names[i]);
        cr_assert_str_eq(st.values[i], values[i]);
    }

    pg_buf_reset(&b);
    pg_buf_cancel_request(&b, INT32_MAX, INT32_MIN);
    body = framed(pg_frame_startup, &b, 0, &len);
    cr_assert(pg_decode_startup(body, len, &st, &err), "%s", err);
    cr_assert_eq(st.code, PG_CANCEL_REQUEST_CODE);
    cr_assert_eq(st.cancel_pid, INT32_MAX);
    cr_assert_eq(st.cancel_key, INT32_MIN);
    pg_buf_free(&b);
}

Test(pg_msg, round_trip_frontend_messages)
{
    pg_buf b;
    pg_buf_init(&b);
    size_t len;
    const uint8_t *body;
    const char *err;

    pg_buf_query(&b, "SELECT 'a;b'");
    body = framed(pg_frame_fe, &b, 'Q', &len);
    cr_assert(pg_fe_check('Q', body, len, &err), "%s", err);
    cr_assert_str_eq((const char *)body, "SELECT 'a;b'");

    static const uint8_t simple[] = {PG_FE_SYNC, PG_FE_FLUSH, PG_FE_TERMINATE, PG_FE_COPY_DONE};
    for (size_t i = 0; i < sizeof simple; i++) {
        pg_buf_reset(&b);
        pg_buf_simple(&b, simple[i]);
        body = framed(pg_frame_fe, &b, simple[i], &len);
        cr_assert(pg_fe_check(simple[i], body, len, &err), "%s", err);
    }

    pg_buf_reset(&b);
    pg_buf_password(&b, "s3cret");
    body = framed(pg_frame_fe, &b, 'p', &len);
    const char *pw;
    cr_assert(pg_decode_password(body, len, &pw));
    cr_assert_str_eq(pw, "s3cret");

    pg_buf_reset(&b);
    pg_buf_sasl_initial(&b, "SCRAM-SHA-256", "n,,n=,r=nonce", 13);
    body = framed(pg_frame_fe, &b, 'p', &len);
    pg_sasl_initial si;
    cr_assert(pg_decode_sasl_initial(body, len, &si));
    cr_assert_str_eq(si.mechanism, "SCRAM-SHA-256");
    cr_assert_eq(si.data_len, 13);
    cr_assert_eq(memcmp(si.data, "n,,n=,r=nonce", 13), 0);

    pg_buf_reset(&b);
    pg_buf_sasl_response(&b, "c=biws,r=x,p=y", 14);
    body = framed(pg_frame_fe, &b, 'p', &len);
    cr_assert_eq(len, 14);
    cr_assert_eq(memcmp(body, "c=biws,r=x,p=y", 14), 0);
    cr_assert(pg_fe_check('p', body, len, &err));
    pg_buf_free(&b);
}

Test(pg_msg, round_trip_backend_messages)
{
    pg_buf b;
    pg_buf_init(&b);
    size_t len;
    const uint8_t *body;
    const char *err;

    pg_buf_error(&b, true, "28P01", "password authentication failed for user \"x\"");
    body = framed(pg_frame_be, &b, 'E', &len);
    pg_error_fields ef;
    cr_assert(pg_decode_error(body, len, &ef));
    cr_assert_str_eq(ef.severity, "FATAL");
    cr_assert_str_eq(ef.sqlstate, "28P01");
    cr_assert_str_eq(ef.message, "password authentication failed for user \"x\"");
    cr_assert_null(ef.detail);
    cr_assert(pg_be_check('E', body, len, &err));

    pg_buf_reset(&b);
    pg_buf_notice(&b, "01000", "mirror lagging");
    body = framed(pg_frame_be, &b, 'N', &len);
    cr_assert(pg_decode_error(body, len, &ef));
    cr_assert_str_eq(ef.severity, "WARNING");
    cr_assert_str_eq(ef.sqlstate, "01000");
    cr_assert_str_eq(ef.message, "mirror lagging");

    static const int32_t codes[] = {PG_AUTH_OK, PG_AUTH_CLEARTEXT, PG_AUTH_MD5, PG_AUTH_SASL,
                                    PG_AUTH_SASL_CONTINUE, PG_AUTH_SASL_FINAL};
    static const char payload[] = "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0";
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        size_t n = codes[i] == PG_AUTH_OK || codes[i] == PG_AUTH_CLEARTEXT ? 0
                   : codes[i] == PG_AUTH_MD5                               ? 4
                                                                           : sizeof payload;
        pg_buf_reset(&b);
        pg_buf_auth_request(&b, codes[i], payload, n);
        body = framed(pg_frame_be, &b, 'R', &len);
        pg_auth_request ar;
        cr_assert(pg_decode_auth_request(body, len, &ar));
        cr_assert_eq(ar.code, codes[i]);
        cr_assert_eq(ar.data_len, n);
        cr_assert_eq(memcmp(ar.data, payload, n), 0);
        if (codes[i] == PG_AUTH_SASL) {
            cr_assert(pg_sasl_offers(ar.data, ar.data_len, "SCRAM-SHA-256"));
            cr_assert(pg_sasl_offers(ar.data, ar.data_len, "SCRAM-SHA-256-PLUS"));
        }
    }

    pg_buf_reset(&b);
    pg_buf_parameter_status(&b, "is_superuser", "off");
    body = framed(pg_frame_be, &b, 'S', &len);
    const char *name, *value;
    cr_assert(pg_decode_parameter_status(body, len, &name, &value));
    cr_assert_str_eq(name, "is_superuser");
    cr_assert_str_eq(value, "off");

    pg_buf_reset(&b);
    pg_buf_backend_key(&b, 777, -123456789);
    body = framed(pg_frame_be, &b, 'K', &len);
    int32_t pid, key;
    cr_assert(pg_decode_backend_key(body, len, &pid, &key));
    cr_assert_eq(pid, 777);
    cr_assert_eq(key, -123456789);

    static const uint8_t statuses[] = {'I', 'T', 'E'};
    for (size_t i = 0; i < sizeof statuses; i++) {
        pg_buf_reset(&b);
        pg_buf_ready_for_query(&b, statuses[i]);
        body = framed(pg_frame_be, &b, 'Z', &len);
        uint8_t st;
        cr_assert(pg_decode_ready_for_query(body, len, &st));
        cr_assert_eq(st, statuses[i]);
        cr_assert(pg_be_check('Z', body, len, &err));
    }
    pg_buf_free(&b);
}

Test(pg_msg, message_names)
{
    cr_assert_str_eq(pg_fe_msg_name('Q'), "Query");
    cr_assert_str_eq(pg_fe_msg_name('p'), "PasswordMessage");
    cr_assert_str_eq(pg_fe_msg_name('Z'), "unknown");
    cr_assert_str_eq(pg_be_msg_name('Z'), "ReadyForQuery");
    cr_assert_str_eq(pg_be_msg_name('v'), "NegotiateProtocolVersion");
    cr_assert_str_eq(pg_be_msg_name('Q'), "unknown");
    /* every type the framer accepts has a name */
    for (int t = 0; t < 256; t++) {
        if (pg_frame_fe_max((uint8_t)t))
            cr_expect_str_neq(pg_fe_msg_name((uint8_t)t), "unknown", "fe '%c'", t);
        if (pg_frame_be_max((uint8_t)t))
            cr_expect_str_neq(pg_be_msg_name((uint8_t)t), "unknown", "be '%c'", t);
    }
}
