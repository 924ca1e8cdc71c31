/* Unit tests for the config keys of metrics and shadow reads: metrics_listen, shadow_max_inflight,
 * shadow_timeout and a service's shadow_sample (defaults, values, refusals). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/config.h"

#include "tests/unit/config_fixture.h"

#define SERVICE "[service cart]\nconninfo = host=127.0.0.1 port=5435 dbname=cart_db user=c\n" \
                "tables = carts\nwrites = dual\nreads = shadow\n"

TestSuite(config_observe, .init = make_dir, .fini = remove_dir);

Test(config_observe, defaults)
{
    char err[512];
    config *c = load_text(LEGACY SERVICE, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    cr_expect_null(c->metrics_host);
    cr_expect_eq(c->shadow_max_inflight, 64);
    cr_expect_eq(c->shadow_timeout, 5.0);
    cr_expect_eq(c->services[0].shadow_sample, 1.0);
    config_unref(c);
}

Test(config_observe, values)
{
    char err[512];
    config *c = load_text("[pgtandem]\nmetrics_listen = 127.0.0.1:9187\nshadow_max_inflight = 8\n"
                     "shadow_timeout = 0.5\n" LEGACY SERVICE "shadow_sample = 0.25\n",
                     err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    cr_expect_str_eq(c->metrics_host, "127.0.0.1");
    cr_expect_eq(c->metrics_port, 9187);
    cr_expect_eq(c->shadow_max_inflight, 8);
    cr_expect_eq(c->shadow_timeout, 0.5);
    cr_expect_eq(c->services[0].shadow_sample, 0.25);
    config_unref(c);
}

Test(config_observe, refusals)
{
    static const struct {
        const char *text;
        const char *says;
    } cases[] = {
        {"[pgtandem]\nmetrics_listen = 9187\n" LEGACY, "metrics_listen must be host:port"},
        {"[pgtandem]\nshadow_max_inflight = 0\n" LEGACY, "shadow_max_inflight"},
        {"[pgtandem]\nshadow_timeout = -1\n" LEGACY, "shadow_timeout"},
        {LEGACY SERVICE "shadow_sample = 1.5\n", "shadow_sample must be a number from 0 to 1"},
        {LEGACY SERVICE "shadow_sample = lots\n", "shadow_sample must be a number from 0 to 1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[512];
        config *c = load_text(cases[i].text, err, sizeof err);
        cr_expect_null(c, "case %zu loaded", i);
        cr_expect(strstr(err, cases[i].says), "case %zu: %s", i, err);
        config_unref(c);
    }
}
