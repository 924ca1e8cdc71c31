/* Unit tests for proxy/config: INI files written to a fresh folder under /tmp,
 * loaded, and checked for defaults, every key, and errors that name the file,
 * the line and the problem. Hosts are numeric so no test needs DNS. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/config.h"

#include "tests/unit/config_fixture.h"

TestSuite(config, .init = make_dir, .fini = remove_dir);

static config *load_ok(const char *text)
{
    char err[512];
    config *c = load_text(text, err, sizeof err);
    cr_assert_not_null(c, "load failed: %s", err);
    return c;
}

Test(config, defaults)
{
    config *c = load_ok(LEGACY);
    cr_assert_str_eq(c->path, path);
    cr_assert_str_eq(c->listen_host, "127.0.0.1");
    cr_assert_eq(c->listen_port, 6432);
    char want[256];
    snprintf(want, sizeof want, "%s/userlist.txt", dir);
    cr_assert_str_eq(c->auth_file, want, "auth_file resolved beside the config");
    cr_assert_eq(c->auth_type, AUTH_SCRAM);
    cr_assert_eq(c->log_level, LOG_INFO);
    cr_assert_float_eq(c->login_timeout, 15.0, 1e-9);
    cr_assert_eq(c->max_clients, 10000);
    cr_assert_float_eq(c->verify_writes_sample, 0.1, 1e-9);
    cr_assert_eq(c->refs, 1);

    const backend_target *t = &c->legacy;
    cr_assert_str_eq(t->name, "legacy");
    cr_assert_str_eq(t->conninfo, "host=127.0.0.1 port=5432 dbname=poc user=poc");
    cr_assert_str_eq(t->host, "127.0.0.1");
    cr_assert_eq(t->port, 5432);
    cr_assert_str_eq(t->dbname, "poc");
    cr_assert_str_eq(t->user, "poc");
    cr_assert_null(t->password);
    cr_assert_null(t->options);
    cr_assert_eq(t->addr.ss_family, AF_INET);
    cr_assert_eq(t->addr_len, sizeof(struct sockaddr_in));
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&t->addr;
    cr_assert_eq(ntohs(sin->sin_port), 5432);
    cr_assert_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
    config_unref(c);
}

Test(config, every_key)
{
    config *c = load_ok("[pgtandem]\n"
                        "listen = 0.0.0.0:7000\n"
                        "auth_file = /etc/pgtandem/users.txt\n"
                        "auth_type = md5\n"
                        "log_level = debug\n"
                        "login_timeout = 2.5\n"
                        "max_clients = 50\n"
                        "verify_writes_sample = 1\n"
                        "\n"
                        "[legacy]\n"
                        "conninfo = host=127.0.0.2 port=6543 dbname=shop user=app "
                        "password=pw options='-c search_path=s'\n");
    cr_assert_str_eq(c->listen_host, "0.0.0.0");
    cr_assert_eq(c->listen_port, 7000);
    cr_assert_str_eq(c->auth_file, "/etc/pgtandem/users.txt", "absolute paths kept");
    cr_assert_eq(c->auth_type, AUTH_MD5);
    cr_assert_eq(c->log_level, LOG_DEBUG);
    cr_assert_float_eq(c->login_timeout, 2.5, 1e-9);
    cr_assert_eq(c->max_clients, 50);
    cr_assert_float_eq(c->verify_writes_sample, 1.0, 1e-9);
    cr_assert_str_eq(c->legacy.host, "127.0.0.2");
    cr_assert_eq(c->legacy.port, 6543);
    cr_assert_str_eq(c->legacy.dbname, "shop");
    cr_assert_str_eq(c->legacy.user, "app");
    cr_assert_str_eq(c->legacy.password, "pw");
    cr_assert_str_eq(c->legacy.options, "-c search_path=s");
    config_unref(c);
}

Test(config, enumerations)
{
    static const struct {
        const char *text;
        auth_method want;
    } auth[] = {{"scram-sha-256", AUTH_SCRAM}, {"md5", AUTH_MD5}, {"password", AUTH_PASSWORD}};
    for (size_t i = 0; i < sizeof auth / sizeof auth[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "[pgtandem]\nauth_type = %s\n" LEGACY, auth[i].text);
        config *c = load_ok(text);
        cr_expect_eq(c->auth_type, auth[i].want, "%s", auth[i].text);
        cr_expect_str_eq(config_auth_method_name(c->auth_type), auth[i].text);
        config_unref(c);
    }
    static const struct {
        const char *text;
        log_level want;
    } levels[] = {{"error", LOG_ERROR}, {"warn", LOG_WARN}, {"info", LOG_INFO},
                  {"debug", LOG_DEBUG}};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "[pgtandem]\nlog_level = %s\n" LEGACY, levels[i].text);
        config *c = load_ok(text);
        cr_expect_eq(c->log_level, levels[i].want, "%s", levels[i].text);
        config_unref(c);
    }
}

Test(config, listen_forms)
{
    static const struct {
        const char *v;
        const char *host;
        int port;
    } cases[] = {{"127.0.0.1:1", "127.0.0.1", 1},
                 {"localhost:65535", "localhost", 65535},
                 {"[::1]:6432", "::1", 6432}, /* brackets are syntax, not part of the host */
                 {"[::]:5000", "::", 5000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "[pgtandem]\nlisten = %s\n" LEGACY, cases[i].v);
        config *c = load_ok(text);
        cr_expect_str_eq(c->listen_host, cases[i].host);
        cr_expect_eq(c->listen_port, cases[i].port);
        config_unref(c);
    }
}

Test(config, comments)
{
    config *c = load_ok("# a comment\n"
                        "; another\n"
                        "[pgtandem]\n"
                        "log_level = debug ; more logging, please\n"
                        "max_clients = 7 ; inline\n"
                        "   # indented comment\n"
                        "\n" LEGACY);
    cr_assert_eq(c->log_level, LOG_DEBUG);
    cr_assert_eq(c->max_clients, 7);
    config_unref(c);
}

Test(config, relative_auth_file)
{
    config *c = load_ok("[pgtandem]\nauth_file = users/list.txt\n" LEGACY);
    char want[256];
    snprintf(want, sizeof want, "%s/users/list.txt", dir);
    cr_assert_str_eq(c->auth_file, want);
    config_unref(c);
}

Test(config, refcount)
{
    config *c = load_ok(LEGACY);
    cr_assert_eq(config_ref(c), c);
    cr_assert_eq(c->refs, 2);
    config_unref(c);
    cr_assert_eq(c->refs, 1);
    cr_assert_str_eq(c->legacy.user, "poc", "still alive after one unref");
    config_unref(c); /* frees: LeakSanitizer reports anything left */
    config_unref(NULL);
}

typedef struct bad_case {
    const char *what;
    const char *text;
    int line; /* 0: the message names the file without a line */
    const char *has;
} bad_case;

static const bad_case bad_cases[] = {
    {"unknown key", "[pgtandem]\nbogus = 1\n" LEGACY, 2, "unknown setting \"bogus\" in [pgtandem]"},
    {"unknown section", LEGACY "[mirror]\nconninfo = x\n", 4, "unknown setting \"conninfo\""},
    {"key before any section", "listen = 1.2.3.4:5\n" LEGACY, 1, "unknown setting \"listen\""},
    {"duplicate key", "[pgtandem]\nlisten = a:1\nlisten = b:2\n" LEGACY, 3, "set twice"},
    {"duplicate key across repeated section", "[pgtandem]\nmax_clients = 1\n[pgtandem]\n"
     "max_clients = 2\n" LEGACY, 4, "set twice"},
    {"duplicate conninfo", LEGACY "conninfo = host=127.0.0.1 dbname=a user=b\n", 3, "set twice"},
    {"listen without port", "[pgtandem]\nlisten = 127.0.0.1\n" LEGACY, 2, "listen must be"},
    {"listen without host", "[pgtandem]\nlisten = :6432\n" LEGACY, 2, "listen must be"},
    {"listen port 0", "[pgtandem]\nlisten = h:0\n" LEGACY, 2, "listen must be"},
    {"listen port 65536", "[pgtandem]\nlisten = h:65536\n" LEGACY, 2, "listen must be"},
    {"listen port text", "[pgtandem]\nlisten = h:pg\n" LEGACY, 2, "listen must be"},
    {"listen port with junk", "[pgtandem]\nlisten = h:64x\n" LEGACY, 2, "listen must be"},
    /* a bare IPv6 address has colons but no port: not host "::" port 1 */
    {"listen bare IPv6", "[pgtandem]\nlisten = ::1\n" LEGACY, 2, "listen must be"},
    {"bad log_level", "[pgtandem]\nlog_level = loud\n" LEGACY, 2, "log_level must be"},
    {"log_level case", "[pgtandem]\nlog_level = DEBUG\n" LEGACY, 2, "log_level must be"},
    {"bad auth_type", "[pgtandem]\nauth_type = trust\n" LEGACY, 2, "auth_type must be"},
    {"max_clients 0", "[pgtandem]\nmax_clients = 0\n" LEGACY, 2, "positive integer"},
    {"max_clients negative", "[pgtandem]\nmax_clients = -5\n" LEGACY, 2, "positive integer"},
    {"max_clients text", "[pgtandem]\nmax_clients = many\n" LEGACY, 2, "positive integer"},
    {"max_clients too big", "[pgtandem]\nmax_clients = 99999999999\n" LEGACY, 2,
     "positive integer"},
    {"login_timeout 0", "[pgtandem]\nlogin_timeout = 0\n" LEGACY, 2, "seconds"},
    {"login_timeout text", "[pgtandem]\nlogin_timeout = soon\n" LEGACY, 2, "seconds"},
    {"login_timeout nan", "[pgtandem]\nlogin_timeout = nan\n" LEGACY, 2, "seconds"},
    {"login_timeout over a day", "[pgtandem]\nlogin_timeout = 86401\n" LEGACY, 2, "seconds"},
    {"login_timeout with unit", "[pgtandem]\nlogin_timeout = 5s\n" LEGACY, 2, "seconds"},
    {"verify_writes_sample over 1", "[pgtandem]\nverify_writes_sample = 1.5\n" LEGACY, 2,
     "verify_writes_sample must be a number from 0 to 1"},
    {"verify_writes_sample negative", "[pgtandem]\nverify_writes_sample = -0.1\n" LEGACY, 2,
     "from 0 to 1"},
    {"verify_writes_sample text", "[pgtandem]\nverify_writes_sample = all\n" LEGACY, 2,
     "from 0 to 1"},
    {"no [legacy] conninfo", "[pgtandem]\nlisten = 127.0.0.1:6432\n", 0,
     "[legacy] conninfo is required"},
    {"empty file", "", 0, "[legacy] conninfo is required"},
    {"bad conninfo option", "[legacy]\nconninfo = host=127.0.0.1 dbname=a user=b bogus=1\n", 2,
     "[legacy] conninfo: "},
    {"unparsable conninfo", "[legacy]\nconninfo = host='127.0.0.1 dbname=a user=b\n", 2,
     "[legacy] conninfo: "},
    {"conninfo without user", "[legacy]\nconninfo = host=127.0.0.1 dbname=a\n", 2,
     "must name user and dbname"},
    {"conninfo without dbname", "[legacy]\nconninfo = host=127.0.0.1 user=a\n", 2,
     "must name user and dbname"},
    {"conninfo without host", "[legacy]\nconninfo = dbname=a user=b\n", 2, "TCP host"},
    {"Unix-socket host", "[legacy]\nconninfo = host=/var/run/postgresql dbname=a user=b\n", 2,
     "Unix sockets are not supported"},
    {"conninfo port 0", "[legacy]\nconninfo = host=127.0.0.1 port=0 dbname=a user=b\n", 2,
     "invalid port"},
    {"conninfo port text", "[legacy]\nconninfo = host=127.0.0.1 port=pg dbname=a user=b\n", 2,
     "invalid port"},
    {"conninfo sslmode=require", "[legacy]\nconninfo = host=127.0.0.1 dbname=a user=b "
     "sslmode=require\n", 2, "sslmode=require"},
    {"syntax error", "[pgtandem]\njust some words\n" LEGACY, 2, "syntax error"},
    {"unclosed section", "[pgtandem\n" LEGACY, 1, "syntax error"},
};

Test(config, errors_name_file_line_and_problem)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *b = &bad_cases[i];
        char err[512];
        config *c = load_text(b->text, err, sizeof err);
        cr_expect_null(c, "%s: loaded", b->what);
        if (c) {
            config_unref(c);
            continue;
        }
        char prefix[256];
        if (b->line)
            snprintf(prefix, sizeof prefix, "%s:%d: ", path, b->line);
        else
            snprintf(prefix, sizeof prefix, "%s: ", path);
        cr_expect_eq(strncmp(err, prefix, strlen(prefix)), 0, "%s: \"%s\" does not start \"%s\"",
                     b->what, err, prefix);
        cr_expect(strstr(err, b->has), "%s: \"%s\" lacks \"%s\"", b->what, err, b->has);
    }
}

Test(config, missing_file)
{
    char err[512];
    config *c = config_load("/tmp/pgt-no-such-dir/none.ini", err, sizeof err);
    cr_assert_null(c);
    cr_assert(strstr(err, "/tmp/pgt-no-such-dir/none.ini: cannot open"), "%s", err);
}

Test(config, error_text_fits_small_buffer)
{
    char err[16];
    memset(err, 'x', sizeof err);
    config *c = load_text("[pgtandem]\nbogus = 1\n" LEGACY, err, sizeof err);
    cr_assert_null(c);
    cr_assert_lt(strlen(err), sizeof err, "truncated and terminated");
}

/* With two bad lines, the message must describe the line it names. inih goes
 * on parsing after a handler error and reports the first bad line; the text
 * must not come from a later line. */
Test(config, error_text_matches_first_bad_line)
{
    char err[512];
    config *c = load_text("[pgtandem]\n"
                          "bogus = 1\n"
                          "log_level = loud\n" LEGACY,
                          err, sizeof err);
    cr_assert_null(c);
    char want[256];
    snprintf(want, sizeof want, "%s:2: unknown setting \"bogus\" in [pgtandem]", path);
    cr_expect_str_eq(err, want);
}

/* A real conninfo (host, port, dbname, user, password, options) easily passes
 * inih's default 200-byte line buffer: it must load whole, or fail saying the
 * line is too long, never be split into a second "line". */
Test(config, long_conninfo_line)
{
    char options[256];
    memset(options, 'a', 200);
    options[200] = '\0';
    char text[1024];
    snprintf(text, sizeof text,
             "[legacy]\nconninfo = host=127.0.0.1 port=5432 dbname=poc user=poc "
             "options='-c application_name=%s'\n",
             options);
    char err[512];
    config *c = load_text(text, err, sizeof err);
    if (c) {
        char want[300];
        snprintf(want, sizeof want, "-c application_name=%s", options);
        cr_expect_str_eq(c->legacy.options, want);
        config_unref(c);
    } else {
        cr_expect(strstr(err, "too long"), "long line refused with: %s", err);
    }
}

/* An indented key must not be taken as the continuation of the key above it
 * (inih's multi-line values), which reports "listen is set twice" for a line
 * that sets log_level. */
Test(config, indented_key_is_its_own_key)
{
    char err[512];
    config *c = load_text("[pgtandem]\n"
                          "    listen = 127.0.0.1:7001\n"
                          "    log_level = debug\n" LEGACY,
                          err, sizeof err);
    if (c) {
        cr_expect_eq(c->listen_port, 7001);
        cr_expect_eq(c->log_level, LOG_DEBUG);
        config_unref(c);
    } else {
        cr_expect_null(strstr(err, "listen"), "error blames the wrong key: %s", err);
    }
}

/* libpq's error texts end in a newline; an error line for logs should not. */
Test(config, error_text_has_no_newline)
{
    char err[512];
    config *c =
        load_text("[legacy]\nconninfo = host=127.0.0.1 dbname=a user=b bogus=1\n", err, sizeof err);
    cr_assert_null(c);
    cr_expect_null(strchr(err, '\n'), "error ends with a newline: \"%s\"", err);
}

/* ---- config_parse_conninfo on its own ---- */

Test(config, parse_conninfo_keywords_and_uri)
{
    char err[256];
    backend_target t = {0};
    cr_assert(config_parse_conninfo("hostaddr=127.0.0.1 port=15432 dbname=d user=u password='p w'",
                                    &t, err, sizeof err),
              "%s", err);
    cr_assert_str_eq(t.host, "127.0.0.1");
    cr_assert_eq(t.port, 15432);
    cr_assert_str_eq(t.password, "p w");
    config_target_clear(&t);
    cr_assert_null(t.host);
    cr_assert_null(t.password);

    cr_assert(config_parse_conninfo("postgresql://u:secret@127.0.0.1:5555/d?options=-c%20x%3Dy",
                                    &t, err, sizeof err),
              "%s", err);
    cr_assert_str_eq(t.user, "u");
    cr_assert_str_eq(t.password, "secret");
    cr_assert_str_eq(t.dbname, "d");
    cr_assert_eq(t.port, 5555);
    cr_assert_str_eq(t.options, "-c x=y");
    config_target_clear(&t);

    cr_assert(config_parse_conninfo("host=::1 dbname=d user=u", &t, err, sizeof err), "%s", err);
    cr_assert_eq(t.addr.ss_family, AF_INET6);
    cr_assert_eq(t.port, 5432, "default port");
    config_target_clear(&t);

    static const char *const ssl_ok[] = {"disable", "allow", "prefer"};
    for (size_t i = 0; i < 3; i++) {
        char ci[128];
        snprintf(ci, sizeof ci, "host=127.0.0.1 dbname=d user=u sslmode=%s", ssl_ok[i]);
        cr_expect(config_parse_conninfo(ci, &t, err, sizeof err), "%s: %s", ci, err);
        config_target_clear(&t);
    }
}

Test(config, parse_conninfo_failures_leave_nothing_behind)
{
    static const char *const bad[] = {
        "host=127.0.0.1 dbname=d user=u nosuchkey=1",
        "host=127.0.0.1 dbname=d user=u password=pw sslmode=verify-full",
        "host=127.0.0.1 port=70000 dbname=d user=u",
        "host=/tmp dbname=d user=u password=pw",
        "dbname=d user=u",
        "host=127.0.0.1 user=u",
        "'unterminated",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        backend_target t = {0};
        cr_expect_not(config_parse_conninfo(bad[i], &t, err, sizeof err), "%s", bad[i]);
        cr_expect_neq(err[0], '\0', "%s: no error text", bad[i]);
        config_target_clear(&t); /* frees whatever was filled: LeakSanitizer checks */
    }
}
