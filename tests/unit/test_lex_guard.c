/* Tests for routing/lex_guard: which settings make the server read SQL otherwise, which
 * texts read the same anyway, what an unsafe session still accepts, what may change the
 * settings mid-pipeline, and the wording of the refusals. */
#include <criterion/criterion.h>
#include <string.h>

#include "routing/classify.h"
#include "routing/lex_guard.h"

#define ALL (ROUTE_LEX_SCS_OFF | ROUTE_LEX_ENCODING)

Test(lex_guard, unsafe_encodings)
{
    const char *unsafe[] = {"SJIS", "sjis", "SHIFT_JIS_2004", "BIG5", "GBK", "GB18030", "UHC",
                            "JOHAB"};
    const char *safe[] = {"UTF8", "LATIN1", "EUC_JP", "SQL_ASCII", "WIN1252", "EUC_CN", ""};
    for (size_t i = 0; i < sizeof(unsafe) / sizeof(*unsafe); i++)
        cr_expect(route_lex_encoding_unsafe(unsafe[i]), "%s", unsafe[i]);
    for (size_t i = 0; i < sizeof(safe) / sizeof(*safe); i++)
        cr_expect(!route_lex_encoding_unsafe(safe[i]), "%s", safe[i]);
}

Test(lex_guard, parameter_status_updates_the_risk)
{
    unsigned r = route_lex_param(0, "standard_conforming_strings", "off");
    cr_expect_eq(r, ROUTE_LEX_SCS_OFF);
    r = route_lex_param(r, "client_encoding", "SJIS");
    cr_expect_eq(r, ALL);
    r = route_lex_param(r, "TimeZone", "UTC");
    cr_expect_eq(r, ALL, "other parameters leave it");
    r = route_lex_param(r, "standard_conforming_strings", "on");
    cr_expect_eq(r, ROUTE_LEX_ENCODING);
    r = route_lex_param(r, "client_encoding", "UTF8");
    cr_expect_eq(r, 0u);
}

typedef struct plain_case {
    const char *sql;
    unsigned risk;
    bool plain;
} plain_case;

Test(lex_guard, plain_texts)
{
    static const plain_case cases[] = {
        {"SELECT 'a\\'' ; DELETE FROM t; --'", 0, true},
        {"SELECT 'a\\'' ; DELETE FROM t; --'", ROUTE_LEX_SCS_OFF, false},
        {"SELECT 'a\\'' ; DELETE FROM t; --'", ROUTE_LEX_ENCODING, true},
        {"SET standard_conforming_strings = on", ALL, true},
        {"SET standard_conforming_strings = 'on'", ROUTE_LEX_SCS_OFF, false},
        {"SELECT E'\x83\\' ; DELETE FROM t; --'", ROUTE_LEX_ENCODING, false},
        {"SELECT 1 -- \xc3\xa9", ROUTE_LEX_ENCODING, false},
        {"SELECT 1 -- \xc3\xa9", ROUTE_LEX_SCS_OFF, true},
        {"SELECT $$a\\$$", ALL, true},
        {"", ALL, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
        cr_expect_eq(route_lex_plain(cases[i].sql, cases[i].risk), cases[i].plain,
                     "[%s] risk %u", cases[i].sql, cases[i].risk);
}

typedef struct cls_case {
    const char *sql;
    bool yes;
} cls_case;

static void expect_each(const cls_case *cases, size_t n, bool (*fn)(const classify_result *))
{
    for (size_t i = 0; i < n; i++) {
        classify_result *r = classify_sql(cases[i].sql);
        cr_assert_not_null(r);
        cr_expect_eq(fn(r), cases[i].yes, "[%s]", cases[i].sql);
        classify_result_free(r);
    }
}

Test(lex_guard, what_an_unsafe_session_accepts)
{
    static const cls_case cases[] = {
        {"SET standard_conforming_strings = on", true},
        {"SET client_encoding = UTF8", true},
        {"SET NAMES 'UTF8'", true},
        {"RESET standard_conforming_strings", true},
        {"RESET ALL", true},
        {"DISCARD ALL", true},
        {"ROLLBACK", true},
        {"COMMIT", true},
        {"ROLLBACK TO SAVEPOINT a", true},
        {"SET search_path = public; SET standard_conforming_strings = on", true},
        {"", true},
        {";", true},
        {"SELECT 1", false},
        {"SHOW standard_conforming_strings", false},
        {"SELECT set_config('standard_conforming_strings', 'on', false)", false},
        {"SET standard_conforming_strings = on; SELECT 1", false},
        {"DELETE FROM t", false},
        {"DO $$ BEGIN END $$", false},
        {"SET standard_conforming_strings = on; DELETE", false}, /* a syntax error */
    };
    expect_each(cases, sizeof(cases) / sizeof(*cases), route_lex_fixes);
}

static bool may_change_safe(const classify_result *r)
{
    return route_lex_may_change(r, false);
}

static bool may_change_once_unsafe(const classify_result *r)
{
    return route_lex_may_change(r, true);
}

Test(lex_guard, what_may_change_the_settings)
{
    static const cls_case cases[] = {
        {"SET standard_conforming_strings = off", true},
        {"SET standard_conforming_strings TO on", true},
        {"SET LOCAL client_encoding = SJIS", true},
        {"SET NAMES 'SJIS'", true},
        {"SET Standard_Conforming_Strings = off", true},
        {"SELECT set_config('standard_conforming_strings', 'off', false)", true},
        {"SELECT pg_catalog.set_config($1, $2, false)", true},
        {"SELECT 1; SELECT set_config('a.b', 'c', true)", true},
        {"DO $$ BEGIN PERFORM 1; END $$", true},
        {"CALL some_proc()", true},
        {"EXECUTE some_statement", true},
        {"SET search_path = public", false},
        {"RESET standard_conforming_strings", false},
        {"RESET ALL", false},
        {"DISCARD ALL", false},
        {"SELECT now(), nextval('s')", false},
        {"SELECT other.set_config(1)", false},
        {"ROLLBACK", false},
        {"UPDATE t SET a = 'x\\y' WHERE id = 1", false},
    };
    expect_each(cases, sizeof(cases) / sizeof(*cases), may_change_safe);
    static const cls_case once_unsafe[] = {
        {"ROLLBACK", true},
        {"ROLLBACK TO SAVEPOINT a", true},
        {"COMMIT", false},
        {"SELECT 1", false},
    };
    expect_each(once_unsafe, sizeof(once_unsafe) / sizeof(*once_unsafe), may_change_once_unsafe);
}

/* The case of issue 10: one SELECT to libpg_query, a SELECT and a DELETE to a server with
 * standard_conforming_strings off. The guard never lets it through such a session. */
Test(lex_guard, the_hidden_delete_is_refused)
{
    const char *sql = "SELECT 'a\\'' ; DELETE FROM products WHERE id = 1; --'";
    classify_result *r = classify_sql(sql);
    cr_assert_not_null(r);
    cr_expect_eq(r->n_stmts, 1);
    cr_expect_eq(r->stmts[0].kind, CLASSIFY_READ, "pgtandem reads one SELECT");
    cr_expect(!route_lex_plain(sql, ROUTE_LEX_SCS_OFF));
    cr_expect(!route_lex_fixes(r));
    classify_result_free(r);
}

Test(lex_guard, refusals_name_the_setting_and_the_fix)
{
    char buf[512];
    route_lex_refusal(buf, sizeof(buf), ROUTE_LEX_SCS_OFF, "", "", ROUTE_LEX_REFUSE_STATEMENT);
    cr_expect(strstr(buf, "standard_conforming_strings is off") != NULL, "%s", buf);
    cr_expect(strstr(buf, "run SET standard_conforming_strings = on") != NULL, "%s", buf);
    route_lex_refusal(buf, sizeof(buf), ALL, "SJIS", " on the database of service cart",
                      ROUTE_LEX_REFUSE_BACKEND);
    cr_expect(strstr(buf, "standard_conforming_strings is off on the database of service cart"),
              "%s", buf);
    cr_expect(strstr(buf, "does not use that connection") != NULL, "%s", buf);
    route_lex_refusal(buf, sizeof(buf), ROUTE_LEX_ENCODING, "BIG5", "", ROUTE_LEX_REFUSE_STATEMENT);
    cr_expect(strstr(buf, "client_encoding BIG5 is not supported") != NULL, "%s", buf);
    cr_expect(strstr(buf, "run SET client_encoding = UTF8") != NULL, "%s", buf);
    route_lex_refusal(buf, sizeof(buf), ROUTE_LEX_ENCODING, "GBK", "", ROUTE_LEX_REFUSE_LOGIN);
    cr_expect(strstr(buf, "does not serve such a connection") != NULL, "%s", buf);
    cr_expect(strstr(buf, "connect with another client_encoding") != NULL, "%s", buf);
    route_lex_pipeline_refusal(buf, sizeof(buf), false);
    cr_expect(strstr(buf, "send a Sync before this statement") != NULL, "%s", buf);
    route_lex_pipeline_refusal(buf, sizeof(buf), true);
    cr_expect(strstr(buf, "in a query of its own") != NULL, "%s", buf);
}
