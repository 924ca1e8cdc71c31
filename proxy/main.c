/* pgtandem entry point: command line, then the event loop until a
 * termination signal. */
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/scram.h"
#include "proxy/log.h"
#include "proxy/proxy.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: pgtandem [-c CONFIG]          run the proxy (default conf/pgtandem.conf)\n"
            "       pgtandem --scram-secret PASS  print a SCRAM-SHA-256 verifier for the auth file\n"
            "       pgtandem --check -c CONFIG    validate the config and auth file, then exit\n");
}

static int print_secret(const char *password)
{
    scram_secret sec;
    if (!scram_secret_from_password(password, NULL, 0, 4096, &sec)) {
        fprintf(stderr, "pgtandem: cannot derive a secret\n");
        return 1;
    }
    char *text = scram_secret_format(&sec);
    if (!text)
        return 1;
    printf("%s\n", text);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    const char *config_path = "conf/pgtandem.conf";
    bool check_only = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "--scram-secret") == 0 && i + 1 < argc) {
            return print_secret(argv[++i]);
        } else if (strcmp(argv[i], "--check") == 0) {
            check_only = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    char err[1024];
    proxy *px = proxy_new(loop, config_path, err, sizeof(err));
    if (!px) {
        fprintf(stderr, "pgtandem: %s\n", err);
        return 1;
    }
    if (check_only) {
        printf("%s: ok\n", config_path);
        proxy_free(px);
        return 0;
    }
    if (!proxy_listen(px, err, sizeof(err))) {
        fprintf(stderr, "pgtandem: %s\n", err);
        proxy_free(px);
        return 1;
    }
    proxy_run(px);
    proxy_free(px);
    ev_loop_destroy(loop);
    log_info("pgtandem stopped");
    return 0;
}
