/* route_decide: one classified statement -> where it runs, by the owners of the tables it
 * touches and their services' migration states. The rules are spelled out in route.h;
 * this file follows them kind by kind. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "routing/route.h"

#define SQLSTATE_NOT_SUPPORTED "0A000"

/* What the tables of one or two lists have in common, gathered in one pass so the rules
 * below read as plain conditions. */
typedef struct tally {
    size_t n;        /* tables counted */
    int owner;       /* the first owning service seen, -1 when none */
    bool several;    /* tables of two or more services */
    bool unowned;    /* a table no service owns */
    int cutover;     /* a service in writes=service, -1 when none */
    int svc_primary; /* a service whose primary is its own database, -1 when none */
    bool nonlegacy;  /* a service not in writes=legacy */
} tally;

static const tally TALLY_EMPTY = {0, -1, false, false, -1, -1, false};

static void tally_add(const route_map *m, tally *t, const classify_name *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!list[i].name)
            continue;
        t->n++;
        int o = route_map_owner(m, list[i].schema, list[i].name);
        if (o < 0) {
            t->unowned = true;
            continue;
        }
        if (t->owner < 0)
            t->owner = o;
        else if (t->owner != o)
            t->several = true;
        const route_service *s = route_map_service(m, o);
        if (s->writes == ROUTE_WRITES_SERVICE && t->cutover < 0)
            t->cutover = o;
        if (s->primary == ROUTE_SERVICE && t->svc_primary < 0)
            t->svc_primary = o;
        if (s->writes != ROUTE_WRITES_LEGACY)
            t->nonlegacy = true;
    }
}

/* Every table belongs to one service. */
static bool tally_single(const tally *t)
{
    return t->owner >= 0 && !t->several && !t->unowned;
}

/* A table not owned by svc is among them. */
static bool tally_foreign_to(const tally *t, int svc)
{
    return t->unowned || t->several || (t->owner >= 0 && t->owner != svc);
}

/* ---- messages */

typedef struct msg {
    char *buf;
    size_t cap, len;
} msg;

static void msg_add(msg *mb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends, truncating with "..." rather than failing: the message is advice for a person. */
static void msg_add(msg *mb, const char *fmt, ...)
{
    if (mb->len + 1 >= mb->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(mb->buf + mb->len, mb->cap - mb->len, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    if ((size_t)w >= mb->cap - mb->len) {
        mb->len = mb->cap - 1;
        if (mb->cap >= 4)
            memcpy(mb->buf + mb->cap - 4, "...", 4);
        return;
    }
    mb->len += (size_t)w;
}

static bool name_eq(const classify_name *a, const classify_name *b)
{
    if (!a->name || !b->name)
        return false;
    const char *sa = a->schema ? a->schema : "public", *sb = b->schema ? b->schema : "public";
    return strcmp(sa, sb) == 0 && strcmp(a->name, b->name) == 0;
}

static bool listed_before(const classify_name *list, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (name_eq(&list[j], &list[i]))
            return true;
    return false;
}

/* Which tables of a list to name in a message. */
typedef enum pick { PICK_ALL, PICK_OWNED, PICK_NOT_OWNED_BY } pick;

/* "t1: owner, t2: legacy" for the tables of `list` chosen by `how`, skipping names already
 * given in `skip` (the other list of the same statement). Returns how many were named. */
static size_t msg_tables(msg *mb, const route_map *m, const classify_name *list, size_t n,
                         const classify_name *skip, size_t n_skip, pick how, int svc,
                         size_t already)
{
    size_t named = 0;
    for (size_t i = 0; i < n; i++) {
        if (!list[i].name || listed_before(list, i))
            continue;
        bool dup = false;
        for (size_t j = 0; j < n_skip && !dup; j++)
            dup = name_eq(&skip[j], &list[i]);
        if (dup)
            continue;
        int o = route_map_owner(m, list[i].schema, list[i].name);
        if ((how == PICK_OWNED && o < 0) || (how == PICK_NOT_OWNED_BY && o == svc))
            continue;
        msg_add(mb, "%s", already + named ? ", " : "");
        if (list[i].schema)
            msg_add(mb, "%s.", list[i].schema);
        msg_add(mb, "%s: %s", list[i].name, o < 0 ? "legacy" : route_map_service(m, o)->name);
        named++;
    }
    return named;
}

/* Names the tables of both lists, writes first. */
static void msg_stmt_tables(msg *mb, const route_map *m, const classify_stmt *st, pick how,
                            int svc)
{
    size_t k = msg_tables(mb, m, st->writes, st->n_writes, NULL, 0, how, svc, 0);
    msg_tables(mb, m, st->reads, st->n_reads, st->writes, st->n_writes, how, svc, k);
}

/* The message has been written through msg_start's builder. */
static void reject(route_decision *out)
{
    out->action = ROUTE_REJECT;
    out->sqlstate = SQLSTATE_NOT_SUPPORTED;
    out->shadow = out->row_images = out->legacy_only_recorded = false;
}

static msg msg_start(route_decision *out)
{
    msg mb = {out->message, sizeof out->message, 0};
    out->message[0] = '\0';
    msg_add(&mb, "pgtandem: ");
    return mb;
}

/* A statement that can only run on legacy touches tables of a service whose legacy copy is
 * no longer written. */
static void reject_stale(const route_map *m, const classify_stmt *st, int cutover,
                         route_decision *out)
{
    msg mb = msg_start(out);
    msg_add(&mb,
            "service %s has moved to its own database, so its tables can no longer be used "
            "in one statement with tables it does not own (",
            route_map_service(m, cutover)->name);
    msg_stmt_tables(&mb, m, st, PICK_ALL, -1);
    msg_add(&mb, "); query them separately");
    reject(out);
}

/* ---- the rules, by kind */

static void set_service(const route_map *m, route_decision *out, int svc)
{
    out->service = svc;
    out->primary = svc >= 0 ? route_map_service(m, svc)->primary : ROUTE_LEGACY;
}

/* The one service a tally involves, whether or not unowned tables come with it. */
static int tally_service(const tally *t)
{
    return t->owner >= 0 && !t->several ? t->owner : -1;
}

static bool calls_set_config(const classify_stmt *st)
{
    for (size_t i = 0; i < st->n_functions; i++) {
        const classify_name *f = &st->functions[i];
        if (strcmp(f->name, "set_config") == 0 &&
            (!f->schema || strcmp(f->schema, "pg_catalog") == 0))
            return true;
    }
    return false;
}

/* DECLARE is classified as the query it declares, with that query's kind kept aside. */
static bool declares_cursor(const classify_stmt *st)
{
    return !st->explain && st->inner_kind != CLASSIFY_UNKNOWN;
}

static void decide_read(const route_map *m, const classify_stmt *st, route_decision *out)
{
    tally t = TALLY_EMPTY;
    tally_add(m, &t, st->reads, st->n_reads);
    tally_add(m, &t, st->writes, st->n_writes); /* EXPLAIN of a write: planned, not run */
    set_service(m, out, tally_service(&t));
    if (t.n == 0) {
        out->action = calls_set_config(st) ? ROUTE_RUN_EVERYWHERE : ROUTE_RUN_LEGACY;
        return;
    }
    if (!tally_single(&t)) {
        if (t.cutover >= 0)
            reject_stale(m, st, t.cutover, out);
        else
            out->action = ROUTE_RUN_LEGACY;
        return;
    }
    const route_service *s = route_map_service(m, t.owner);
    if (s->writes == ROUTE_WRITES_SERVICE) {
        out->action = ROUTE_RUN_SERVICE;
        return;
    }
    switch (s->reads) {
    case ROUTE_READS_LEGACY:
        out->action = ROUTE_RUN_LEGACY;
        break;
    case ROUTE_READS_SERVICE:
        out->action = ROUTE_RUN_SERVICE;
        break;
    case ROUTE_READS_SHADOW:
        out->action = s->primary == ROUTE_SERVICE ? ROUTE_RUN_SERVICE : ROUTE_RUN_LEGACY;
        /* Two plans never match, and a cursor lives on one backend only (its FETCHes
         * follow it there), so neither is worth comparing. */
        out->shadow = !st->explain && !declares_cursor(st);
        break;
    }
}

/* SELECT ... FOR UPDATE/SHARE and LOCK TABLE: the locked tables are in `writes`. */
static void decide_lock(const route_map *m, const classify_stmt *st, route_decision *out)
{
    tally all = TALLY_EMPTY, locked = TALLY_EMPTY;
    tally_add(m, &all, st->reads, st->n_reads);
    tally_add(m, &all, st->writes, st->n_writes);
    tally_add(m, &locked, st->writes, st->n_writes);
    set_service(m, out, tally_service(&all));
    if (all.owner < 0) {
        out->action = ROUTE_RUN_LEGACY;
        return;
    }
    if (tally_single(&all)) {
        switch (route_map_service(m, all.owner)->writes) {
        case ROUTE_WRITES_LEGACY:
            out->action = ROUTE_RUN_LEGACY;
            break;
        case ROUTE_WRITES_DUAL:
            out->action = ROUTE_RUN_PRIMARY;
            break;
        case ROUTE_WRITES_SERVICE:
            out->action = ROUTE_RUN_SERVICE;
            break;
        }
        return;
    }
    if (all.cutover >= 0) {
        reject_stale(m, st, all.cutover, out);
        return;
    }
    if (locked.svc_primary >= 0) {
        msg mb = msg_start(out);
        msg_add(&mb,
                "this statement locks tables whose writers lock them on different databases "
                "(service %s's primary is its own database): ",
                route_map_service(m, locked.svc_primary)->name);
        msg_stmt_tables(&mb, m, st, PICK_ALL, -1);
        msg_add(&mb, "; lock each service's tables in a statement of their own");
        reject(out);
        return;
    }
    out->action = ROUTE_RUN_LEGACY;
}

/* INSERT shapes whose text leaves values to the table's defaults. */
static bool insert_uses_defaults(const classify_stmt *st)
{
    const classify_insert *in = &st->insert;
    return in->present && (!in->columns || in->default_values || in->uses_default);
}

static bool calls_unknown_function(const classify_stmt *st)
{
    for (size_t i = 0; i < st->n_functions; i++)
        if (!route_fn_deterministic(&st->functions[i]))
            return true;
    return false;
}

static void decide_dual(const route_map *m, const classify_stmt *st, const tally *r, int svc,
                        route_decision *out)
{
    const route_service *s = route_map_service(m, svc);
    if (tally_foreign_to(r, svc)) {
        if (s->primary == ROUTE_SERVICE) {
            msg mb = msg_start(out);
            msg_add(&mb,
                    "this statement writes tables of service %s, whose primary is its own "
                    "database, but reads tables that database does not have (",
                    s->name);
            msg_tables(&mb, m, st->reads, st->n_reads, NULL, 0, PICK_NOT_OWNED_BY, svc, 0);
            msg_add(&mb, "); read them in a separate statement and pass the values in");
            reject(out);
            return;
        }
        if (r->cutover >= 0) {
            reject_stale(m, st, r->cutover, out);
            return;
        }
        out->row_images = true;
    }
    /* Without a statement-level target the write is TRUNCATE or a data-modifying WITH;
     * TRUNCATE neither reads nor calls anything, so anything more is the WITH, whose
     * INSERT shapes are not described: assume they generate values. */
    bool undescribed = !st->target.name && (st->n_reads > 0 || st->n_functions > 0);
    if (st->volatile_calls || insert_uses_defaults(st) || calls_unknown_function(st) ||
        undescribed)
        out->row_images = true;
    if (st->explain && out->row_images) {
        msg mb = msg_start(out);
        msg_add(&mb,
                "EXPLAIN ANALYZE of this write to tables of service %s (dual writes) can't be "
                "mirrored: its values are generated at run time and EXPLAIN returns no rows "
                "to copy; run EXPLAIN without ANALYZE, or the write itself",
                s->name);
        reject(out);
        return;
    }
    out->action = ROUTE_RUN_DUAL;
}

static void decide_write(const route_map *m, const classify_stmt *st, route_decision *out)
{
    tally w = TALLY_EMPTY, r = TALLY_EMPTY;
    tally_add(m, &w, st->writes, st->n_writes);
    tally_add(m, &r, st->reads, st->n_reads);
    if (w.owner < 0) {
        set_service(m, out, -1);
        if (r.cutover >= 0)
            reject_stale(m, st, r.cutover, out);
        else
            out->action = ROUTE_RUN_LEGACY;
        return;
    }
    if (!tally_single(&w)) {
        set_service(m, out, tally_service(&w));
        if (!w.nonlegacy) {
            /* every service written is still legacy-only: legacy is the whole truth, so
             * there is nothing to split or to record */
            if (r.cutover >= 0)
                reject_stale(m, st, r.cutover, out);
            else
                out->action = ROUTE_RUN_LEGACY;
            return;
        }
        int cutover = w.cutover >= 0 ? w.cutover : r.cutover;
        if (route_map_cross(m) == ROUTE_CROSS_REJECT) {
            msg mb = msg_start(out);
            msg_add(&mb, "this statement writes tables of several services (");
            msg_tables(&mb, m, st->writes, st->n_writes, NULL, 0, PICK_ALL, -1, 0);
            msg_add(&mb, "); split it into one statement per service");
            reject(out);
        } else if (cutover >= 0) {
            reject_stale(m, st, cutover, out);
        } else {
            out->action = ROUTE_RUN_LEGACY;
            out->legacy_only_recorded = true;
        }
        return;
    }
    int svc = w.owner;
    const route_service *s = route_map_service(m, svc);
    set_service(m, out, svc);
    switch (s->writes) {
    case ROUTE_WRITES_LEGACY:
        if (r.cutover >= 0)
            reject_stale(m, st, r.cutover, out);
        else
            out->action = ROUTE_RUN_LEGACY;
        break;
    case ROUTE_WRITES_SERVICE:
        if (tally_foreign_to(&r, svc)) {
            msg mb = msg_start(out);
            msg_add(&mb,
                    "service %s has moved to its own database, which does not have tables "
                    "this statement reads (",
                    s->name);
            msg_tables(&mb, m, st->reads, st->n_reads, NULL, 0, PICK_NOT_OWNED_BY, svc, 0);
            msg_add(&mb, "); read them in a separate statement and pass the values in");
            reject(out);
        } else {
            out->action = ROUTE_RUN_SERVICE;
        }
        break;
    case ROUTE_WRITES_DUAL:
        decide_dual(m, st, &r, svc, out);
        break;
    }
}

static void decide_ddl(const route_map *m, const classify_stmt *st, route_decision *out)
{
    tally t = TALLY_EMPTY;
    tally_add(m, &t, st->writes, st->n_writes);
    tally_add(m, &t, st->reads, st->n_reads);
    set_service(m, out, tally_service(&t));
    if (!t.nonlegacy) {
        out->action = ROUTE_RUN_LEGACY;
        return;
    }
    msg mb = msg_start(out);
    msg_add(&mb, "schema changes that involve migrated tables (");
    msg_stmt_tables(&mb, m, st, PICK_OWNED, -1);
    msg_add(&mb, ") must be applied to both databases by the migration team, not through the "
                 "proxy");
    reject(out);
}

static void decide_maintenance(const route_map *m, const classify_stmt *st,
                               route_decision *out)
{
    tally t = TALLY_EMPTY;
    tally_add(m, &t, st->writes, st->n_writes);
    tally_add(m, &t, st->reads, st->n_reads);
    set_service(m, out, tally_service(&t));
    out->action = ROUTE_RUN_LEGACY;
    if (t.cutover < 0)
        return;
    if (tally_single(&t)) {
        out->action = ROUTE_RUN_SERVICE;
        return;
    }
    msg mb = msg_start(out);
    msg_add(&mb, "this command names tables that live on different databases (");
    msg_stmt_tables(&mb, m, st, PICK_ALL, -1);
    msg_add(&mb, "); run it once per service");
    reject(out);
}

static void decide_utility(const route_map *m, const classify_stmt *st, route_decision *out)
{
    switch (st->utility) {
    case CLASSIFY_UTILITY_LOCK:
        decide_lock(m, st, out);
        break;
    case CLASSIFY_UTILITY_VACUUM:
    case CLASSIFY_UTILITY_ANALYZE:
    case CLASSIFY_UTILITY_CHECKPOINT:
    case CLASSIFY_UTILITY_CLUSTER:
    case CLASSIFY_UTILITY_REINDEX:
    case CLASSIFY_UTILITY_REFRESH_MATVIEW:
        decide_maintenance(m, st, out);
        break;
    case CLASSIFY_UTILITY_DO:
    case CLASSIFY_UTILITY_CALL:
    case CLASSIFY_UTILITY_NONE:
        out->action = ROUTE_RUN_LEGACY;
        break;
    }
}

static void decide_session(const classify_stmt *st, route_decision *out)
{
    switch (st->session) {
    case CLASSIFY_SESSION_LISTEN:
    case CLASSIFY_SESSION_UNLISTEN:
    case CLASSIFY_SESSION_NOTIFY:
        out->action = ROUTE_RUN_LEGACY;
        break;
    case CLASSIFY_SESSION_EXECUTE:
        out->action = ROUTE_RUN_LEGACY;
        out->needs_prepared_lookup = true;
        break;
    case CLASSIFY_SESSION_FETCH:
    case CLASSIFY_SESSION_MOVE:
        out->action = ROUTE_RUN_LEGACY;
        out->needs_cursor_lookup = true;
        break;
    case CLASSIFY_SESSION_CLOSE:
        out->action = st->name ? ROUTE_RUN_LEGACY : ROUTE_RUN_EVERYWHERE;
        out->needs_cursor_lookup = st->name != NULL;
        break;
    case CLASSIFY_SESSION_NONE:
    case CLASSIFY_SESSION_SET:
    case CLASSIFY_SESSION_RESET:
    case CLASSIFY_SESSION_DISCARD:
    case CLASSIFY_SESSION_PREPARE:
    case CLASSIFY_SESSION_DEALLOCATE:
    case CLASSIFY_SESSION_LOAD:
    case CLASSIFY_SESSION_SET_CONSTRAINTS:
        out->action = ROUTE_RUN_EVERYWHERE;
        break;
    }
}

void route_decide(const route_map *m, const classify_stmt *st, route_decision *out)
{
    memset(out, 0, sizeof *out);
    out->action = ROUTE_RUN_LEGACY;
    out->service = -1;
    out->primary = ROUTE_LEGACY;
    if (!st)
        return;
    switch (st->kind) {
    case CLASSIFY_UNKNOWN:
    case CLASSIFY_EMPTY:
    case CLASSIFY_ERROR:
        break;
    case CLASSIFY_READ:
        decide_read(m, st, out);
        break;
    case CLASSIFY_LOCKING_READ:
        decide_lock(m, st, out);
        break;
    case CLASSIFY_WRITE:
        decide_write(m, st, out);
        break;
    case CLASSIFY_DDL:
        decide_ddl(m, st, out);
        break;
    case CLASSIFY_TX_CONTROL:
        out->action = ROUTE_RUN_EVERYWHERE;
        break;
    case CLASSIFY_SESSION:
        decide_session(st, out);
        break;
    case CLASSIFY_UTILITY:
        decide_utility(m, st, out);
        break;
    }
    /* Code we can't see can't be mirrored as text nor as rows we know of. */
    if (st->opaque && out->action == ROUTE_RUN_DUAL) {
        out->action = ROUTE_RUN_LEGACY;
        out->row_images = false;
    }
}

/* Built-ins that give the same result for the same arguments on both servers, assuming the
 * two databases share encoding and locale (lower/upper follow LC_CTYPE). Kept short on
 * purpose: an unknown function costs row images, a wrong entry costs divergence. sum and
 * avg are left out (float sums depend on row order), extract too (it follows TimeZone);
 * coalesce, greatest, least and nullif are syntax the parser never reports as calls,
 * listed for whoever reads this. */
static const char *const deterministic_fns[] = {
    "abs",       "array_append",      "array_remove",       "btrim",     "char_length",
    "coalesce",  "concat",            "concat_ws",          "count",     "greatest",
    "jsonb_set", "jsonb_build_array", "jsonb_build_object", "least",     "length",
    "lower",     "ltrim",             "max",                "min",       "nullif",
    "position",  "replace",           "round",              "rtrim",     "substr",
    "substring", "to_jsonb",          "trim",               "upper",
};

bool route_fn_deterministic(const classify_name *fn)
{
    if (!fn || !fn->name || (fn->schema && strcmp(fn->schema, "pg_catalog") != 0))
        return false;
    for (size_t i = 0; i < sizeof deterministic_fns / sizeof deterministic_fns[0]; i++)
        if (strcmp(fn->name, deterministic_fns[i]) == 0)
            return true;
    return false;
}

const char *route_action_name(route_action a)
{
    switch (a) {
    case ROUTE_RUN_LEGACY:
        return "legacy";
    case ROUTE_RUN_SERVICE:
        return "service";
    case ROUTE_RUN_PRIMARY:
        return "primary";
    case ROUTE_RUN_DUAL:
        return "dual";
    case ROUTE_RUN_EVERYWHERE:
        return "everywhere";
    case ROUTE_REJECT:
        return "reject";
    }
    return "?";
}
