/* Builds the service -> legacy OID maps; see type_oids.h. */
#include "proxy/type_oids.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "proxy/config.h"
#include "proxy/log.h"

/* Objects made by users (oid >= FirstNormalObjectId, 16384): built-in ones
 * are numbered alike everywhere. Array types (_name) and tables' row types
 * are pg_type rows of their own, so they come with the rest. Keys are
 * quoted names, unambiguous whatever the names hold. */
static const char types_sql[] =
    "SELECT t.oid, format('%I.%I', n.nspname, t.typname) FROM pg_catalog.pg_type t"
    " JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace"
    " WHERE t.oid >= 16384 AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'";
static const char tables_sql[] =
    "SELECT c.oid, format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.oid >= 16384 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
    "   AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'";

typedef struct named {
    char *key;
    uint32_t oid;
    UT_hash_handle hh;
} named;

/* One database's objects by name, both kinds. */
typedef struct names {
    named *types;
    named *tables;
} names;

static void names_free(names *n)
{
    named *e, *tmp;
    named **sets[] = {&n->types, &n->tables};
    for (size_t i = 0; i < 2; i++)
        HASH_ITER(hh, *sets[i], e, tmp) {
            HASH_DEL(*sets[i], e);
            free(e->key);
            free(e);
        }
}

static bool read_set(PGconn *conn, const char *sql, named **set)
{
    PGresult *r = PQexec(conn, sql);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    for (int i = 0; ok && i < PQntuples(r); i++) {
        named *e = calloc(1, sizeof(*e));
        ok = e && (e->key = strdup(PQgetvalue(r, i, 1)));
        if (!ok) {
            free(e);
            break;
        }
        e->oid = (uint32_t)strtoul(PQgetvalue(r, i, 0), NULL, 10);
        HASH_ADD_KEYPTR(hh, *set, e->key, strlen(e->key), e);
    }
    PQclear(r);
    return ok;
}

static bool names_read(const backend_target *t, names *out)
{
    memset(out, 0, sizeof(*out));
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {t->conninfo, "pgtandem-type-oids", "5", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    bool ok = PQstatus(conn) == CONNECTION_OK && read_set(conn, types_sql, &out->types) &&
              read_set(conn, tables_sql, &out->tables);
    if (!ok) {
        char why[300];
        snprintf(why, sizeof(why), "%s", PQerrorMessage(conn));
        why[strcspn(why, "\n")] = '\0';
        log_warn("type oids: cannot read the types of database %s (%s): %s; its OIDs reach "
                 "clients as they are", t->dbname, t->name, why[0] ? why : "out of memory");
        names_free(out);
    }
    PQfinish(conn);
    return ok;
}

/* Pairs every service object whose OID differs from legacy's. Objects legacy
 * lacks keep their OID; one warning names a few of them. */
static bool pair_up(named *svc, named *legacy, pg_oid_map *m, const char *what,
                    const char *service)
{
    size_t want = HASH_COUNT(svc);
    m->pairs = want ? calloc(want, sizeof(m->pairs[0])) : NULL;
    if (want && !m->pairs)
        return false;
    size_t missing = 0;
    char some[200] = "";
    for (named *e = svc; e; e = e->hh.next) {
        named *l = NULL;
        HASH_FIND_STR(legacy, e->key, l);
        if (!l) {
            if (missing++ < 3)
                snprintf(some + strlen(some), sizeof(some) - strlen(some), "%s%s",
                         missing > 1 ? ", " : "", e->key);
            continue;
        }
        if (l->oid != e->oid)
            m->pairs[m->n++] = (pg_oid_pair){e->oid, l->oid};
    }
    if (missing)
        log_warn("type oids: service %s has %zu %s legacy lacks (%s%s): their OIDs reach "
                 "clients as they are", service, missing, what, some, missing > 3 ? ", ..." : "");
    if (!pg_oid_map_sort(m)) /* names are unique in a database: can't happen */
        log_warn("type oids: service %s: one %s OID paired twice", service, what);
    return true;
}

static type_oids *build(const service_config *s, const names *legacy)
{
    names svc;
    if (!names_read(&s->target, &svc))
        return NULL;
    type_oids *m = calloc(1, sizeof(*m));
    bool ok = m && pair_up(svc.types, legacy->types, &m->types, "type(s)", s->name) &&
              pair_up(svc.tables, legacy->tables, &m->tables, "relation(s)", s->name);
    names_free(&svc);
    if (!ok) {
        log_warn("type oids: out of memory mapping service %s", s->name);
        if (m)
            m->refs = 1;
        type_oids_unref(m);
        return NULL;
    }
    m->refs = 1;
    log_info("type oids: service %s: %zu type(s) and %zu relation(s) numbered apart from legacy",
             s->name, m->types.n, m->tables.n);
    return m;
}

void type_oids_load(config *cfg, const config *reuse)
{
    names legacy;
    bool have_legacy = false;
    for (size_t i = 0; i < cfg->n_services; i++) {
        service_config *s = &cfg->services[i];
        int o = reuse ? config_service_index(reuse, s->name) : -1;
        if (o >= 0 && reuse->services[o].oids &&
            strcmp(reuse->services[o].target.conninfo, s->target.conninfo) == 0) {
            s->oids = type_oids_ref(reuse->services[o].oids);
            continue;
        }
        if (!have_legacy && !(have_legacy = names_read(&cfg->legacy, &legacy)))
            return; /* nothing to map to */
        s->oids = build(s, &legacy);
    }
    if (have_legacy)
        names_free(&legacy);
}

type_oids *type_oids_ref(type_oids *m)
{
    m->refs++;
    return m;
}

void type_oids_unref(type_oids *m)
{
    if (!m || --m->refs > 0)
        return;
    free(m->types.pairs);
    free(m->tables.pairs);
    free(m);
}
