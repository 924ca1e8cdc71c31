/* What the config unit tests share: a fresh folder under /tmp per test (the
 * suite's .init and .fini), an INI file in it, and loading a text from there.
 * Header-only: each test program includes it once. */
#ifndef PGT_TEST_CONFIG_FIXTURE_H
#define PGT_TEST_CONFIG_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proxy/config.h"

#define LEGACY "[legacy]\nconninfo = host=127.0.0.1 port=5432 dbname=poc user=poc\n"

static char dir[64];
static char path[128];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/pgt-config-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/pgtandem.ini", dir);
}

static void remove_dir(void)
{
    unlink(path);
    rmdir(dir);
}

/* Writes `text` as the config file. */
static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fputs(text, f) >= 0, true);
    cr_assert_eq(fclose(f), 0);
}

/* Writes `text` and loads it: the config, or NULL with the reason in err. */
static config *load_text(const char *text, char *err, size_t err_len)
{
    write_file(text);
    err[0] = '\0';
    return config_load(path, err, err_len);
}

#endif
