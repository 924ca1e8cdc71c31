/* Divergence records: one structured line per event, and counters the admin
 * console and metrics will read. */
#include "proxy/divergence.h"

#include <stdio.h>

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
    if (service >= 0 && service < (int)(sizeof(px->divergences.by_service) /
                                        sizeof(px->divergences.by_service[0])))
        px->divergences.by_service[service]++;
    char p[320], q[320];
    describe(primary, p, sizeof(p));
    describe(secondary, q, sizeof(q));
    /* key=value so the line can be grepped and parsed */
    log_warn("divergence session=%llu service=%s what=\"%s\" tables=%s fingerprint=%s "
             "primary=%s secondary=%s",
             (unsigned long long)s->id, service >= 0 ? s->cfg->services[service].name : "-",
             what, tables && *tables ? tables : "-", fingerprint && *fingerprint ? fingerprint : "-",
             p, q);
}
