/* Unit tests for the keys that bound waits on a database: connect_timeout (connecting and
 * logging in to a backend) and mirror_timeout (a secondary answering a mirrored write or
 * commit): defaults, values, refusals. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/config.h"

#include "tests/unit/config_fixture.h"

TestSuite(config_timeouts, .init = make_dir, .fini = remove_dir);

Test(config_timeouts, defaults)
{
    char err[512];
    config *c = load_text(LEGACY, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    cr_expect_eq(c->connect_timeout, 5.0);
    cr_expect_eq(c->mirror_timeout, 10.0);
    config_unref(c);
}

Test(config_timeouts, values)
{
    char err[512];
    config *c = load_text("[pgtandem]\nconnect_timeout = 1.5\nmirror_timeout = 2\n" LEGACY, err,
                     sizeof err);
    cr_assert_not_null(c, "%s", err);
    cr_expect_eq(c->connect_timeout, 1.5);
    cr_expect_eq(c->mirror_timeout, 2.0);
    config_unref(c);
}

Test(config_timeouts, refusals)
{
    static const char *cases[] = {
        "[pgtandem]\nconnect_timeout = 0\n" LEGACY,
        "[pgtandem]\nconnect_timeout = soon\n" LEGACY,
        "[pgtandem]\nmirror_timeout = -1\n" LEGACY,
        "[pgtandem]\nmirror_timeout = 10s\n" LEGACY,
        "[pgtandem]\nmirror_timeout = 90000\n" LEGACY,
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[512];
        config *c = load_text(cases[i], err, sizeof err);
        cr_expect_null(c, "case %zu loaded", i);
        cr_expect(strstr(err, "timeout") && strstr(err, "seconds"), "case %zu: %s", i, err);
        config_unref(c);
    }
}
