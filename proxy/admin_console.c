/* The admin console session: login, reading commands, answering them. See
 * admin_console.h; the SHOW tables are in admin_show.c. */
#include "proxy/admin_console.h"

#include <stdio.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"
#include "proxy/admin_tokens.h"
#include "proxy/control.h"
#include "proxy/log.h"
#include "proxy/pool.h"
#include "proxy/session.h"

void admin_console_start(session *s)
{
    if (!config_is_admin(s->px->cfg, s->user)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "user \"%s\" may not use the pgtandem admin console "
                                   "(not in admin_users)", s->user);
        log_warn("session %llu from %s: %s", (unsigned long long)s->id, s->peer, msg);
        session_close(s, "28000", msg);
        return;
    }
    pg_buf *o = &s->client.out;
    pg_buf_auth_request(o, PG_AUTH_OK, NULL, 0);
    pg_buf_parameter_status(o, "server_version", "15.0 (pgtandem admin console)");
    pg_buf_parameter_status(o, "server_encoding", "UTF8");
    pg_buf_parameter_status(o, "client_encoding", "UTF8");
    pg_buf_parameter_status(o, "DateStyle", "ISO, MDY");
    pg_buf_parameter_status(o, "integer_datetimes", "on");
    pg_buf_parameter_status(o, "standard_conforming_strings", "on");
    pg_buf_parameter_status(o, "application_name", "");
    pg_buf_ready_for_query(o, PG_TX_IDLE);
    ev_timer_stop(s->px->loop, &s->login_timer);
    session_set_state(s, SESSION_READY);
    log_info("session %llu: %s from %s on the admin console", (unsigned long long)s->id, s->user,
             s->peer);
    if (!stream_flush(&s->client))
        session_close(s, NULL, "client went away during login");
}

static void command_done(pg_buf *o, const char *tag, const char *notice)
{
    if (notice)
        pg_buf_notice(o, "00000", notice);
    pg_buf_begin_msg(o, PG_BE_COMMAND_COMPLETE);
    pg_buf_put_cstring(o, tag);
    pg_buf_end_msg(o);
}

static const char usage[] =
    "commands: SHOW SERVICES | CLIENTS | BACKENDS | STATS | DIVERGENCES [n] | CONFIG; "
    "RELOAD; SET SERVICE name WRITES|PRIMARY|READS value [FORCE]; PAUSE name; RESUME name; "
    "ACKNOWLEDGE name";

/* Runs one command; false with the error text in err. */
static bool run_command(session *s, const admin_tokens *t, char *err, size_t err_len)
{
    proxy *px = s->px;
    pg_buf *o = &s->client.out;
    char msg[700];
    if (t->n == 0) {
        pg_buf_simple(o, PG_BE_EMPTY_QUERY_RESPONSE);
        return true;
    }
    if (admin_is(t, 0, "SHOW")) {
        pg_buf scratch;
        pg_buf_init(&scratch);
        bool ok = admin_show(px, t, &scratch, err, err_len);
        if (ok)
            pg_buf_put(o, scratch.data, scratch.len);
        pg_buf_free(&scratch);
        return ok;
    }
    if (admin_is(t, 0, "RELOAD") && t->n == 1) {
        if (!control_reload(px, "RELOAD", msg, sizeof(msg))) {
            snprintf(err, err_len, "configuration not reloaded, the running one stays: %s", msg);
            return false;
        }
        command_done(o, "RELOAD", NULL);
        return true;
    }
    if (admin_is(t, 0, "SET") && admin_is(t, 1, "SERVICE") &&
        (t->n == 5 || (t->n == 6 && admin_is(t, 5, "FORCE")))) {
        char key[16];
        if (!admin_is(t, 3, "WRITES") && !admin_is(t, 3, "PRIMARY") && !admin_is(t, 3, "READS")) {
            snprintf(err, err_len, "SET SERVICE %s: expected WRITES, PRIMARY or READS, not \"%s\"",
                     t->word[2], t->word[3]);
            return false;
        }
        snprintf(key, sizeof(key), "%s", admin_is(t, 3, "WRITES")    ? "writes"
                                         : admin_is(t, 3, "PRIMARY") ? "primary"
                                                                     : "reads");
        char value[ADMIN_MAX_TOKEN];
        size_t i = 0;
        for (; t->word[4][i] && i + 1 < sizeof(value); i++)
            value[i] = (char)(t->word[4][i] >= 'A' && t->word[4][i] <= 'Z' ? t->word[4][i] + 32
                                                                          : t->word[4][i]);
        value[i] = '\0';
        if (!control_set_service(px, t->word[2], key, value, t->n == 6, msg, sizeof(msg))) {
            snprintf(err, err_len, "%s", msg);
            return false;
        }
        command_done(o, "SET", msg);
        return true;
    }
    if ((admin_is(t, 0, "PAUSE") || admin_is(t, 0, "RESUME") || admin_is(t, 0, "ACKNOWLEDGE")) &&
        t->n == 2) {
        bool ok = admin_is(t, 0, "PAUSE")    ? control_pause(px, t->word[1], msg, sizeof(msg))
                  : admin_is(t, 0, "RESUME") ? control_resume(px, t->word[1], msg, sizeof(msg))
                                             : control_acknowledge(px, t->word[1], msg, sizeof(msg));
        if (!ok) {
            snprintf(err, err_len, "%s", msg);
            return false;
        }
        command_done(o, admin_is(t, 0, "PAUSE") ? "PAUSE" : admin_is(t, 0, "RESUME") ? "RESUME"
                                                                                 : "ACKNOWLEDGE",
                     msg);
        return true;
    }
    snprintf(err, err_len, "unknown command \"%s\"; %s", t->word[0], usage);
    return false;
}

/* No backend borrows from the console's snapshot: it lets an old one go. Its
 * (empty) service slots are sized for its snapshot, as session.c expects;
 * out of memory, it keeps the old snapshot until the next command. */
static void take_snapshot(session *s)
{
    config *fresh = s->px->cfg;
    backend **slots = NULL;
    if (fresh->n_services && !(slots = pool_alloc(fresh->n_services * sizeof(*slots))))
        return;
    pool_free(s->services, s->cfg->n_services * sizeof(*slots));
    s->services = slots;
    config_unref(s->cfg);
    s->cfg = config_ref(fresh);
}

static void query(session *s, const char *text)
{
    admin_tokens t;
    char err[800];
    if (s->cfg != s->px->cfg)
        take_snapshot(s);
    log_info("session %llu: admin %s: %.200s", (unsigned long long)s->id, s->user, text);
    if (!admin_tokenize(text, &t, err, sizeof(err)) || !run_command(s, &t, err, sizeof(err))) {
        pg_buf_error(&s->client.out, false, "42601", err);
        log_info("session %llu: admin command refused: %s", (unsigned long long)s->id, err);
    }
    pg_buf_ready_for_query(&s->client.out, PG_TX_IDLE);
}

void admin_console_input(session *s)
{
    pg_buf *in = &s->client.in;
    size_t pos = 0;
    while (s->state == SESSION_READY && pos < in->len) {
        pg_frame f;
        const char *err = NULL;
        pg_frame_status st = pg_frame_fe(in->data + pos, in->len - pos, &f, &err);
        if (st == PG_FRAME_INCOMPLETE)
            break;
        if (st == PG_FRAME_INVALID) {
            session_close(s, "08P01", err);
            return;
        }
        size_t whole = f.hdr_len + f.body_len;
        if (in->len - pos < whole) {
            if (!pg_buf_reserve(in, whole - (in->len - pos)))
                session_close(s, "53200", "out of memory");
            break;
        }
        const uint8_t *body = in->data + pos + f.hdr_len;
        pos += whole;
        if (!pg_fe_check(f.type, body, f.body_len, &err)) {
            session_close(s, "08P01", err);
            return;
        }
        if (f.type == PG_FE_TERMINATE) {
            session_close(s, NULL, "admin client terminated the session");
            return;
        }
        if (f.type == PG_FE_QUERY) {
            query(s, (const char *)body);
        } else if (f.type == PG_FE_SYNC) {
            pg_buf_error(&s->client.out, false, "0A000",
                         "the admin console speaks the simple query protocol only");
            pg_buf_ready_for_query(&s->client.out, PG_TX_IDLE);
        } else if (f.type != PG_FE_FLUSH && f.type != PG_FE_PARSE && f.type != PG_FE_BIND &&
                   f.type != PG_FE_DESCRIBE && f.type != PG_FE_EXECUTE && f.type != PG_FE_CLOSE) {
            session_close(s, "08P01", "unexpected message on the admin console");
            return;
        }
    }
    if (s->state != SESSION_READY)
        return;
    pg_buf_consume(in, pos);
    if (s->client.out.failed) {
        session_close(s, "53200", "out of memory");
        return;
    }
    if (!stream_flush(&s->client))
        session_close(s, NULL, "client connection lost");
}
