/* Unit tests for proxy/config_state: the state file the admin console writes
 * beside the config, applied on top of it; an entry made against other file
 * values is dropped (the later config edit wins); admin_users. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/config.h"

static char dir[64];
static char path[128];
static char state_path[160];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/pgt-state-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/p.ini", dir);
    snprintf(state_path, sizeof state_path, "%s.state", path);
}

static void remove_dir(void)
{
    unlink(path);
    unlink(state_path);
    rmdir(dir);
}

TestSuite(config_state, .init = make_dir, .fini = remove_dir);

static void write_config(const char *cart_state)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "[pgtandem]\nadmin_users = alice, bob\tcarol\n"
               "[legacy]\nconninfo = host=127.0.0.1 port=5432 dbname=poc user=poc\n"
               "[service auth]\nconninfo = host=127.0.0.1 port=5433 dbname=a user=a\n"
               "tables = users\nwrites = dual\n"
               "[service cart]\nconninfo = host=127.0.0.1 port=5434 dbname=c user=c\n"
               "tables = carts\n%s\n", cart_state);
    cr_assert_eq(fclose(f), 0);
}

static config *load_ok(void)
{
    char err[512] = "";
    config *c = config_load(path, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    return c;
}

Test(config_state, no_state_file)
{
    write_config("writes = legacy");
    config *c = load_ok();
    cr_assert_str_eq(c->state_path, state_path);
    cr_assert_eq(c->state.n, 0);
    cr_assert_eq(c->services[1].writes, ROUTE_WRITES_LEGACY);
    cr_assert_not(c->services[1].from_state);
    char err[200];
    cr_assert(config_state_save(c, err, sizeof err), "%s", err); /* nothing to keep */
    cr_assert_neq(access(state_path, F_OK), 0);
    config_unref(c);
}

Test(config_state, overlay_saved_and_applied)
{
    write_config("writes = legacy");
    config *c = load_ok();
    config_state o = {0};
    snprintf(o.e[0].name, sizeof o.e[0].name, "cart");
    o.e[0].writes = ROUTE_WRITES_DUAL;
    o.e[0].primary = ROUTE_LEGACY;
    o.e[0].reads = ROUTE_READS_SHADOW;
    o.e[0].file_writes = ROUTE_WRITES_LEGACY; /* what the file says */
    o.n = 1;
    char err[512] = "";
    config *d = config_load_with(path, &o, err, sizeof err);
    cr_assert_not_null(d, "%s", err);
    cr_assert_eq(d->services[1].reads, ROUTE_READS_SHADOW);
    cr_assert(d->services[1].from_state);
    cr_assert_eq(d->services[1].file_writes, ROUTE_WRITES_LEGACY);
    cr_assert(config_state_save(d, err, sizeof err), "%s", err);
    config_unref(d);
    config_unref(c);
    /* a restart reads it back */
    c = load_ok();
    cr_assert_eq(c->services[1].writes, ROUTE_WRITES_DUAL);
    cr_assert_eq(c->services[1].reads, ROUTE_READS_SHADOW);
    cr_assert_eq(c->services[0].writes, ROUTE_WRITES_DUAL, "auth untouched");
    cr_assert_eq(c->state.n, 1);
    config_unref(c);
    /* the file edited for cart since: the file wins, the entry is dropped */
    write_config("writes = dual");
    c = load_ok();
    cr_assert_eq(c->services[1].reads, ROUTE_READS_LEGACY);
    cr_assert_eq(c->state.n, 0);
    cr_assert_eq(c->state_dropped, 1);
    config_unref(c);
}

Test(config_state, overlay_checked_by_route_map)
{
    write_config("writes = legacy");
    config_state o = {0};
    snprintf(o.e[0].name, sizeof o.e[0].name, "cart");
    o.e[0].writes = ROUTE_WRITES_SERVICE; /* needs primary=service */
    o.n = 1;
    char err[512] = "";
    cr_assert_null(config_load_with(path, &o, err, sizeof err));
    cr_assert(strstr(err, "writes=service needs primary=service"), "%s", err);
}

Test(config_state, bad_state_file_named)
{
    write_config("writes = legacy");
    FILE *f = fopen(state_path, "w");
    cr_assert_not_null(f);
    fputs("[service cart]\nwrites = sideways\n", f);
    fclose(f);
    char err[512] = "";
    cr_assert_null(config_load(path, err, sizeof err));
    cr_assert(strstr(err, ".state:2"), "%s", err);
}

Test(config_state, admin_users)
{
    write_config("writes = legacy");
    config *c = load_ok();
    cr_assert(config_is_admin(c, "alice"));
    cr_assert(config_is_admin(c, "bob"));
    cr_assert(config_is_admin(c, "carol"));
    cr_assert_not(config_is_admin(c, "ali"));
    cr_assert_not(config_is_admin(c, "alicex"));
    cr_assert_not(config_is_admin(c, ""));
    cr_assert_eq(c->pause_timeout, 30.0);
    config_unref(c);
}
