/* Divergence records: one structured line per event, and counters the admin
 * console and metrics will read. */
#include "proxy/divergence.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "proxy/log.h"
#include "proxy/session.h"

static void describe(const backend_outcome *o, char *buf, size_t len)
{
    if (!o)
        snprintf(buf, len, "ok");
    else if (o->error)
        snprintf(buf, len, "error %s \"%s\"", o->sqlstate, o->message);
    else
        snprintf(buf, len, "\"%s\"", o->tag);
}

void divergence_record(session *s, int service, const char *what, const char *fingerprint,
                       const char *tables, const backend_outcome *primary,
                       const backend_outcome *secondary)
{
    proxy *px = s->px;
    px->divergences.total++;
    /* service is a slot of the session's snapshot; the counters follow the running
     * one, which a reload may have reordered */
    int slot = service >= 0 && (size_t)service < s->cfg->n_services
                   ? config_service_index(px->cfg, s->cfg->services[service].name)
                   : -1;
    if (slot >= 0 && slot < (int)(sizeof(px->divergences.by_service) /
                                  sizeof(px->divergences.by_service[0])))
        px->divergences.by_service[slot]++;
    char p[320], q[320];
    describe(primary, p, sizeof(p));
    describe(secondary, q, sizeof(q));
    const char *svc = service >= 0 ? s->cfg->services[service].name : "-";
    if (!px->divergences.recent)
        px->divergences.recent = calloc(DIVERGENCE_RECENT, sizeof(divergence_entry));
    if (px->divergences.recent) {
        divergence_entry *e =
            &px->divergences.recent[px->divergences.n_recorded % DIVERGENCE_RECENT];
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        e->time = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
        e->session = s->id;
        snprintf(e->service, sizeof(e->service), "%s", svc);
        snprintf(e->what, sizeof(e->what), "%s", what);
        snprintf(e->tables, sizeof(e->tables), "%s", tables && *tables ? tables : "-");
        snprintf(e->fingerprint, sizeof(e->fingerprint), "%s",
                 fingerprint && *fingerprint ? fingerprint : "-");
        snprintf(e->primary, sizeof(e->primary), "%.199s", p);
        snprintf(e->secondary, sizeof(e->secondary), "%.199s", q);
        px->divergences.n_recorded++;
    }
    /* key=value so the line can be grepped and parsed */
    log_warn("divergence session=%llu service=%s what=\"%s\" tables=%s fingerprint=%s "
             "primary=%s secondary=%s",
             (unsigned long long)s->id, svc,
             what, tables && *tables ? tables : "-", fingerprint && *fingerprint ? fingerprint : "-",
             p, q);
}
