/* The migration control plane: a new config snapshot (from a reload or a
 * console change) is checked, then swapped in; whatever is indexed by
 * service slot follows the services by name; sessions are kicked so idle
 * ones adopt it at once. See control.h and README "Migration control". */
#include "proxy/control.h"
#include "proxy/mirror_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/catalog.h"
#include "proxy/type_oids.h"
#include "proxy/log.h"
#include "proxy/proxy.h"
#include "proxy/session.h"

typedef struct paused_service {
    char name[64];
    double since;
} paused_service;

/* A flip of a service's primary or writes: new transactions concerning it
 * wait until every transaction of the old order has ended (README "Migration
 * control", "The flip fence"). */
typedef struct fence {
    char name[64];
    double since;
} fence;

struct control {
    paused_service paused[CONFIG_MAX_SERVICES];
    size_t n_paused;
    fence fences[CONFIG_MAX_SERVICES];
    size_t n_fences;
    ev_timer tick; /* runs while something is paused or fenced: pause_timeout, lifting */
};

double control_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ------------------------------------------------------------- pausing */

static paused_service *find_paused(const proxy *px, const char *name)
{
    control *c = px->control;
    for (size_t i = 0; c && i < c->n_paused; i++)
        if (strcmp(c->paused[i].name, name) == 0)
            return &c->paused[i];
    return NULL;
}

bool control_is_paused(const proxy *px, const char *name)
{
    return find_paused(px, name) != NULL;
}

bool control_any_paused(const proxy *px)
{
    return px->control && px->control->n_paused > 0;
}

double control_paused_for(const proxy *px, const char *name)
{
    const paused_service *p = find_paused(px, name);
    return p ? control_now() - p->since : 0.0;
}

/* Sessions are kicked one at a time; each may end (and be freed) inside. */
static void kick_sessions(proxy *px, bool held_only)
{
    for (session *s = px->sessions, *next; s; s = next) {
        next = s->next;
        if (!s->routed || s->state != SESSION_READY || (held_only && !s->ctl.held))
            continue;
        session_control_kick(s);
    }
}

/* ------------------------------------------------------------- fencing */

bool control_is_fenced(const proxy *px, const char *name)
{
    const control *c = px->control;
    for (size_t i = 0; c && i < c->n_fences; i++)
        if (strcmp(c->fences[i].name, name) == 0)
            return true;
    return false;
}

static bool old_order_open(const proxy *px, const char *name)
{
    for (const session *s = px->sessions; s; s = s->next)
        if (s->routed && s->state == SESSION_READY && session_control_old_order(s, name))
            return true;
    return false;
}

/* Lifts each fence no transaction of the old order holds up any more; true
 * when one was lifted (the sessions waiting for it are then kicked). */
static bool lift_fences(proxy *px)
{
    control *c = px->control;
    bool lifted = false;
    for (size_t i = 0; i < c->n_fences;) {
        if (old_order_open(px, c->fences[i].name)) {
            i++;
            continue;
        }
        log_info("control: service %s: every transaction of its old order has ended after "
                 "%.2f s; new transactions run in the new order", c->fences[i].name,
                 control_now() - c->fences[i].since);
        c->fences[i] = c->fences[--c->n_fences];
        lifted = true;
    }
    return lifted;
}

/* A change of primary or writes between old and fresh fences the service. */
static void fence_flips(proxy *px, const config *old, const config *fresh)
{
    control *c = px->control;
    for (size_t n = 0; n < fresh->n_services; n++) {
        const service_config *f = &fresh->services[n];
        int o = config_service_index(old, f->name);
        if (o < 0 || (old->services[o].writes == f->writes &&
                      old->services[o].primary == f->primary))
            continue;
        fence *e = NULL;
        for (size_t i = 0; i < c->n_fences && !e; i++)
            if (strcmp(c->fences[i].name, f->name) == 0)
                e = &c->fences[i];
        if (!e) {
            e = &c->fences[c->n_fences++];
            snprintf(e->name, sizeof(e->name), "%s", f->name);
        }
        e->since = control_now();
        log_info("control: service %s: its primary or writes changed; new transactions touching "
                 "it wait for those begun in the old order to end (up to pause_timeout, %.0f s)",
                 f->name, fresh->pause_timeout);
    }
    /* fences of services that are gone end with them */
    for (size_t i = 0; i < c->n_fences;)
        if (config_service_index(fresh, c->fences[i].name) < 0)
            c->fences[i] = c->fences[--c->n_fences];
        else
            i++;
}

/* The first fenced service a held session waits for, for its error. */
static const char *fenced_name(const session *s)
{
    for (size_t i = 0; i < s->cfg->n_services; i++)
        if ((s->ctl.held_mask & ((uint64_t)1 << i)) &&
            control_is_fenced(s->px, s->cfg->services[i].name))
            return s->cfg->services[i].name;
    return "?";
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    proxy *px = w->data;
    double now = control_now(), limit = px->cfg->pause_timeout;
    for (session *s = px->sessions, *next; s; s = next) {
        next = s->next;
        if (!s->routed || !s->ctl.held || now - s->ctl.held_since < limit)
            continue;
        char why[400];
        if (s->ctl.held_fence)
            snprintf(why, sizeof(why),
                     "pgtandem: the statement waited %.0f s (pause_timeout) for transactions "
                     "begun before the flip of service %s's primary or writes to end (the flip "
                     "fence), and was not run; retry later (SHOW SERVICES: open_transactions)",
                     now - s->ctl.held_since, fenced_name(s));
        else
            snprintf(why, sizeof(why),
                     "pgtandem: the statement waited %.0f s for a paused service (pause_timeout) "
                     "and was not run; the service is still paused, retry later",
                     now - s->ctl.held_since);
        session_control_timeout(s, s->ctl.held_fence ? "55P03" : "57014", why);
    }
    if (px->control->n_fences && lift_fences(px))
        kick_sessions(px, true);
    if (!control_any_paused(px) && !px->control->n_fences)
        ev_timer_stop(loop, w);
}

bool control_pause(proxy *px, const char *name, char *msg, size_t msg_len)
{
    control *c = px->control;
    if (config_service_index(px->cfg, name) < 0) {
        snprintf(msg, msg_len, "unknown service \"%s\"", name);
        return false;
    }
    if (find_paused(px, name)) {
        snprintf(msg, msg_len, "service %s is already paused", name);
        return true;
    }
    paused_service *p = &c->paused[c->n_paused++];
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->since = control_now();
    ev_timer_again(px->loop, &c->tick);
    log_info("control: service %s paused: new transactions touching it wait (up to %.0f s)",
             name, px->cfg->pause_timeout);
    snprintf(msg, msg_len, "service %s paused", name);
    return true;
}

bool control_resume(proxy *px, const char *name, char *msg, size_t msg_len)
{
    control *c = px->control;
    paused_service *p = find_paused(px, name);
    if (!p) {
        snprintf(msg, msg_len, "service %s is not paused", name);
        return config_service_index(px->cfg, name) >= 0;
    }
    double held = control_now() - p->since;
    *p = c->paused[--c->n_paused];
    log_info("control: service %s resumed after %.1f s", name, held);
    snprintf(msg, msg_len, "service %s resumed", name);
    kick_sessions(px, true);
    return true;
}

void control_count_service(const proxy *px, const char *name, size_t *open_tx, size_t *waiting)
{
    *open_tx = *waiting = 0;
    for (const session *s = px->sessions; s; s = s->next) {
        if (!s->routed || s->state != SESSION_READY)
            continue;
        if (session_control_touches(s, name))
            (*open_tx)++;
        if (session_control_waits_for(s, name))
            (*waiting)++;
    }
}

/* --------------------------------------------------------- divergences */

uint64_t control_unresolved(const proxy *px, int idx)
{
    if (idx < 0 || idx >= 32)
        return 0;
    return px->divergences.by_service[idx] - px->divergences.resolved_upto[idx];
}

bool control_acknowledge(proxy *px, const char *name, char *msg, size_t msg_len)
{
    int idx = config_service_index(px->cfg, name);
    if (idx < 0) {
        snprintf(msg, msg_len, "unknown service \"%s\"", name);
        return false;
    }
    uint64_t n = control_unresolved(px, idx);
    px->divergences.resolved_upto[idx] = px->divergences.by_service[idx];
    log_info("control: %llu divergence(s) of service %s acknowledged", (unsigned long long)n,
             name);
    snprintf(msg, msg_len, "%llu divergence(s) of service %s acknowledged",
             (unsigned long long)n, name);
    return true;
}

/* ------------------------------------------------------------ swapping */

/* What a reload can't change live: the listening socket and the legacy
 * database (every session's main connection and the catalog depend on it).
 * The new snapshot keeps the running values; the log says so. */
static bool keep_fixed(const config *old, config *fresh, char *err, size_t err_len)
{
    if (strcmp(old->listen_host, fresh->listen_host) != 0 ||
        old->listen_port != fresh->listen_port) {
        log_warn("reload: listen changed to %s:%d; that needs a restart, still listening on %s:%d",
                 fresh->listen_host, fresh->listen_port, old->listen_host, old->listen_port);
        free(fresh->listen_host);
        fresh->listen_host = strdup(old->listen_host);
        fresh->listen_port = old->listen_port;
        if (!fresh->listen_host) {
            snprintf(err, err_len, "out of memory");
            return false;
        }
    }
    if (strcmp(old->legacy.conninfo, fresh->legacy.conninfo) != 0) {
        log_warn("reload: [legacy] conninfo changed; that needs a restart, keeping the running "
                 "legacy database");
        config_target_clear(&fresh->legacy);
        if (!config_parse_conninfo(old->legacy.conninfo, &fresh->legacy, err, err_len) ||
            !(fresh->legacy.name = strdup("legacy")))
            return false;
    }
    return true;
}

static void describe_state(const service_config *s, char *buf, size_t len)
{
    snprintf(buf, len, "writes=%s primary=%s reads=%s", route_writes_name(s->writes),
             route_side_name(s->primary), route_reads_name(s->reads));
}

static void log_changes(const config *old, const config *fresh)
{
    char a[96], b[96];
    for (size_t n = 0; n < fresh->n_services; n++) {
        const service_config *s = &fresh->services[n];
        int o = config_service_index(old, s->name);
        describe_state(s, b, sizeof(b));
        if (o < 0) {
            log_info("reload: service %s added: %s", s->name, b);
            continue;
        }
        describe_state(&old->services[o], a, sizeof(a));
        if (strcmp(a, b) != 0)
            log_info("reload: service %s: %s (was %s)%s", s->name, b, a,
                     s->from_state ? " [from the state file]" : "");
        if (strcmp(old->services[o].target.conninfo, s->target.conninfo) != 0)
            log_info("reload: service %s: conninfo changed; sessions reconnect when idle",
                     s->name);
    }
    for (size_t o = 0; o < old->n_services; o++)
        if (config_service_index(fresh, old->services[o].name) < 0)
            log_info("reload: service %s removed", old->services[o].name);
}

/* Counters indexed by slot follow their service by name. A service that
 * enters dual writes starts with nothing unresolved. */
static void remap_divergences(divergence_counters *d, const config *old, const config *fresh)
{
    uint64_t by[32] = {0}, upto[32] = {0};
    for (size_t n = 0; n < fresh->n_services && n < 32; n++) {
        int o = config_service_index(old, fresh->services[n].name);
        if (o >= 0 && o < 32) {
            by[n] = d->by_service[o];
            upto[n] = d->resolved_upto[o];
        }
        bool was_dual = o >= 0 && old->services[o].writes != ROUTE_WRITES_LEGACY;
        if (!was_dual && fresh->services[n].writes != ROUTE_WRITES_LEGACY)
            upto[n] = by[n];
    }
    memcpy(d->by_service, by, sizeof(by));
    memcpy(d->resolved_upto, upto, sizeof(upto));
}

/* Takes `fresh`; on failure frees it and the running config stays. */
static bool swap_in(proxy *px, config *fresh, const char *origin, char *err, size_t err_len)
{
    config *old = px->cfg;
    if (!keep_fixed(old, fresh, err, err_len)) {
        config_unref(fresh);
        return false;
    }
    userlist *users = userlist_load(fresh->auth_file, err, err_len);
    if (!users) {
        config_unref(fresh);
        return false;
    }
    if (!px->catalog && fresh->n_services) {
        /* the first services: mirroring needs the legacy catalog (a blocking read) */
        px->catalog = catalog_load(&fresh->legacy, err, err_len);
        if (!px->catalog) {
            userlist_free(users);
            config_unref(fresh);
            return false;
        }
    }
    bool console = strcmp(origin, "SET SERVICE") == 0;
    if (px->catalog && !mirror_check_since(fresh, console ? old : NULL, px->catalog, err, err_len)) {
        userlist_free(users);
        config_unref(fresh);
        return false;
    }
    userlist_free(px->users);
    px->users = users;
    stats_remap(&px->stats, old, fresh);
    remap_divergences(&px->divergences, old, fresh);
    /* pauses of services that are gone end with them */
    control *c = px->control;
    for (size_t i = 0; i < c->n_paused;)
        if (config_service_index(fresh, c->paused[i].name) < 0)
            c->paused[i] = c->paused[--c->n_paused];
        else
            i++;
    log_changes(old, fresh);
    fence_flips(px, old, fresh);
    if (fresh->state_dropped)
        log_info("%s: %zu console setting(s) in %s dropped: the config file changed those "
                 "services since", origin, fresh->state_dropped, fresh->state_path);
    px->cfg = fresh;
    log_current_level = fresh->log_level;
    config_unref(old);
    log_info("%s: configuration %s loaded (%zu services); sessions switch at their next "
             "transaction boundary", origin, fresh->path, fresh->n_services);
    if (c->n_fences) {
        lift_fences(px); /* none of the old order open: nobody need wait */
        if (c->n_fences)
            ev_timer_again(px->loop, &c->tick);
    }
    kick_sessions(px, false);
    return true;
}

bool control_reload(proxy *px, const char *origin, char *err, size_t err_len)
{
    config *fresh = config_load(px->cfg->path, err, err_len);
    if (fresh && fresh->state_dropped) {
        char why[300];
        if (!config_state_save(fresh, why, sizeof(why)))
            log_warn("%s: %s", origin, why);
    }
    if (fresh)
        type_oids_load(fresh, NULL); /* a reload reads the types afresh */
    if (!fresh || !swap_in(px, fresh, origin, err, err_len)) {
        log_error("%s: configuration not reloaded, the running one stays: %s", origin, err);
        return false;
    }
    return true;
}

/* ------------------------------------------------------- console changes */

static const char *unsafe_move(const proxy *px, int idx, const service_config *cur,
                               const service_config *want, char *buf, size_t len)
{
    if (want->reads == ROUTE_READS_SERVICE && cur->reads != ROUTE_READS_SERVICE) {
        uint64_t n = control_unresolved(px, idx);
        if (n) {
            snprintf(buf, len,
                     "service %s has %llu unresolved divergence(s) since it entered dual writes "
                     "(SHOW DIVERGENCES); compare its tables, then ACKNOWLEDGE %s",
                     cur->name, (unsigned long long)n, cur->name);
            return buf;
        }
    }
    if (want->writes == ROUTE_WRITES_SERVICE && cur->writes != ROUTE_WRITES_SERVICE &&
        cur->primary == ROUTE_LEGACY) {
        snprintf(buf, len, "legacy is still the primary of service %s; set PRIMARY service first",
                 cur->name);
        return buf;
    }
    if (want->primary == ROUTE_SERVICE && cur->primary != ROUTE_SERVICE &&
        cur->writes != ROUTE_WRITES_DUAL) {
        snprintf(buf, len, "writes of service %s are not dual, so its database is not known to "
                           "be current; set WRITES dual first", cur->name);
        return buf;
    }
    return NULL;
}

bool control_set_service(proxy *px, const char *name, const char *key, const char *value,
                         bool force, char *msg, size_t msg_len)
{
    const config *cfg = px->cfg;
    int idx = config_service_index(cfg, name);
    if (idx < 0) {
        snprintf(msg, msg_len, "unknown service \"%s\"", name);
        return false;
    }
    const service_config *cur = &cfg->services[idx];
    service_config want = *cur;
    bool ok = strcmp(key, "writes") == 0   ? config_parse_writes(value, &want.writes)
              : strcmp(key, "primary") == 0 ? config_parse_side(value, &want.primary)
              : strcmp(key, "reads") == 0   ? config_parse_reads(value, &want.reads)
                                            : false;
    if (!ok) {
        snprintf(msg, msg_len, "invalid value \"%s\" for %s (%s)", value, key,
                 key[0] == 'w'   ? "legacy, dual or service"
                 : key[0] == 'p' ? "legacy or service"
                                 : "legacy, service or shadow");
        return false;
    }
    if (want.writes == cur->writes && want.primary == cur->primary && want.reads == cur->reads) {
        snprintf(msg, msg_len, "service %s is already %s=%s", name, key, value);
        return true;
    }
    char why[400];
    if (!force && unsafe_move(px, idx, cur, &want, why, sizeof(why))) {
        snprintf(msg, msg_len, "refused: %s (add FORCE to do it anyway)", why);
        return false;
    }
    config_state overlay = cfg->state;
    state_entry *e = NULL;
    for (size_t i = 0; i < overlay.n && !e; i++)
        if (strcmp(overlay.e[i].name, name) == 0)
            e = &overlay.e[i];
    if (!e)
        e = &overlay.e[overlay.n++];
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->writes = want.writes;
    e->primary = want.primary;
    e->reads = want.reads;
    e->file_writes = cur->file_writes;
    e->file_primary = cur->file_primary;
    e->file_reads = cur->file_reads;
    char err[600];
    config *fresh = config_load_with(cfg->path, &overlay, err, sizeof(err));
    if (!fresh) {
        snprintf(msg, msg_len, "refused: %s", err);
        return false;
    }
    int n = config_service_index(fresh, name);
    if (n < 0 || fresh->services[n].writes != want.writes ||
        fresh->services[n].primary != want.primary || fresh->services[n].reads != want.reads) {
        config_unref(fresh);
        snprintf(msg, msg_len, "refused: the config file changed service %s since it was last "
                               "loaded; RELOAD, then try again", name);
        return false;
    }
    if (!config_state_save(fresh, err, sizeof(err))) {
        config_unref(fresh);
        snprintf(msg, msg_len, "refused: the state file can't be written: %s", err);
        return false;
    }
    char before[96], after[96];
    describe_state(cur, before, sizeof(before));
    describe_state(&fresh->services[n], after, sizeof(after));
    log_info("control: SET SERVICE %s %s %s%s: %s (was %s)", name, key, value,
             force ? " FORCE" : "", after, before);
    type_oids_load(fresh, cfg); /* same databases: the running maps */
    if (!swap_in(px, fresh, "SET SERVICE", err, sizeof(err))) {
        snprintf(msg, msg_len, "refused: %s", err);
        return false;
    }
    snprintf(msg, msg_len, "service %s: %s", name, after);
    return true;
}

/* -------------------------------------------------------------- lifecycle */

static void hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    proxy *px = w->data;
    char err[700];
    log_info("SIGHUP: reloading %s", px->cfg->path);
    if (!control_reload(px, "SIGHUP", err, sizeof(err)))
        return; /* logged, and the running config stays */
}

bool control_init(proxy *px)
{
    px->control = calloc(1, sizeof(*px->control));
    if (!px->control)
        return false;
    ev_init(&px->control->tick, tick_cb);
    px->control->tick.repeat = 0.05; /* a fence lifts within this of its last transaction */
    px->control->tick.data = px;
    ev_set_cb(&px->sig_hup, hup_cb);
    return true;
}

void control_free(proxy *px)
{
    if (!px->control)
        return;
    ev_timer_stop(px->loop, &px->control->tick);
    free(px->control);
    px->control = NULL;
    free(px->divergences.recent);
    px->divergences.recent = NULL;
}
