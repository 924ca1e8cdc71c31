/* Checks of the databases pgtandem mirrors into; see mirror_check.h. */
#include "proxy/mirror_check.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "proxy/log.h"
#include "routing/route.h"

/* tgtype bits: 1 row, 2 before, 4 insert, 16 update. ENABLE ALWAYS and
 * ENABLE REPLICA triggers fire under the replica role too; they are listed
 * like the others (the grant can't quiet them: verify_writes_sample shows
 * what they change). */
static const char triggers_sql[] =
    "SELECT n.nspname, c.relname, t.tgname, p.prosrc LIKE '%pgtandem.mirror%'"
    " FROM pg_catalog.pg_trigger t"
    " JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid"
    " WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND (t.tgtype & 3) = 3"
    "   AND (t.tgtype & 20) <> 0"
    " ORDER BY 1, 2, 3";

static const char grant_sql[] =
    "SELECT pg_catalog.has_parameter_privilege('session_replication_role', 'SET')";

/* Whether service i, as the database's table owner, mirrors into `t`. */
static bool mirrors_into(const config *c, int i, const backend_target *t)
{
    if (i < 0 || (size_t)i >= c->n_services || c->services[i].writes != ROUTE_WRITES_DUAL)
        return false;
    const service_config *svc = &c->services[i];
    return svc->primary == ROUTE_LEGACY ? t == &svc->target : t == &c->legacy;
}

static bool check_target(config *c, catalog *cat, backend_target *t, char *err, size_t err_len)
{
    PGconn *conn = catalog_connect(t, "pgtandem-check");
    if (PQstatus(conn) != CONNECTION_OK) {
        log_warn("cannot check the triggers of %s, which pgtandem mirrors into: %.200s", t->name,
                 PQerrorMessage(conn));
        PQfinish(conn);
        t->replica_role = false;
        return true;
    }
    bool ok = true;
    PGresult *g = PQexec(conn, grant_sql);
    t->replica_role = PQresultStatus(g) == PGRES_TUPLES_OK && PQntuples(g) == 1 &&
                      PQgetvalue(g, 0, 0)[0] == 't';
    PQclear(g);
    PGresult *r = PQexec(conn, triggers_sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, err_len, "cannot read the triggers of %s: %s", t->name,
                 PQresultErrorMessage(r));
        err[strcspn(err, "\n")] = '\0';
        ok = false;
    }
    for (int i = 0; ok && i < PQntuples(r); i++) {
        const char *schema = PQgetvalue(r, i, 0), *table = PQgetvalue(r, i, 1);
        int owner = route_map_owner(c->routes, strcmp(schema, "public") == 0 ? NULL : schema,
                                    table);
        if (!mirrors_into(c, owner, t))
            continue;
        catalog_mark_trigger(cat, schema, table);
        if (PQgetvalue(r, i, 3)[0] == 't' || t->replica_role)
            continue;
        snprintf(err, err_len,
                 "service %s is mirrored into %s (database %s), where table %s.%s "
                 "has the BEFORE ROW trigger %s, which does not skip when pgtandem.mirror is "
                 "on, and role %s may not set session_replication_role there: the trigger "
                 "would re-stamp every row pgtandem copies. As a superuser on that database: "
                 "GRANT SET ON PARAMETER session_replication_role TO %s; (or guard the "
                 "trigger: IF current_setting('pgtandem.mirror', true) = 'on' THEN RETURN NEW; "
                 "END IF;)",
                 c->services[owner].name, t->name, t->dbname, schema, table, PQgetvalue(r, i, 2),
                 t->user, t->user);
        ok = false;
    }
    PQclear(r);
    PQfinish(conn);
    return ok;
}

/* The target of `old` that is `t` (same name and conninfo) and that `old`
 * mirrored into; NULL when there is none. */
static const backend_target *checked_before(const config *old, const backend_target *t)
{
    for (size_t i = 0; old && i < old->n_services; i++) {
        const service_config *svc = &old->services[i];
        if (svc->writes != ROUTE_WRITES_DUAL)
            continue;
        const backend_target *o = svc->primary == ROUTE_LEGACY ? &svc->target : &old->legacy;
        if (strcmp(o->name, t->name) == 0 && strcmp(o->conninfo, t->conninfo) == 0)
            return o;
    }
    return NULL;
}

bool mirror_check_since(config *c, const config *old, catalog *cat, char *err, size_t err_len)
{
    bool legacy_checked = false;
    for (size_t i = 0; i < c->n_services; i++) {
        service_config *svc = &c->services[i];
        if (svc->writes != ROUTE_WRITES_DUAL)
            continue;
        backend_target *t = svc->primary == ROUTE_LEGACY ? &svc->target : &c->legacy;
        if (t == &c->legacy) {
            if (legacy_checked)
                continue;
            legacy_checked = true;
        }
        const backend_target *before = checked_before(old, t);
        if (before) {
            t->replica_role = before->replica_role;
            continue;
        }
        if (!check_target(c, cat, t, err, err_len))
            return false;
    }
    return true;
}

bool mirror_check(config *c, catalog *cat, char *err, size_t err_len)
{
    return mirror_check_since(c, NULL, cat, err, err_len);
}
