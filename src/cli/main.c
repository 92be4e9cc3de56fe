/* main.c — the `cloudai` program: global flags, then one verb. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "peer.h"
#include "tls.h"

/* Global flags come before the verb; afterwards every word belongs to the
 * verb (so `tasks -user bob` filters while `-user bob tasks` is identity). */
static int global_flag(const char *a, const char **name, const char **val)
{
    const char *n = a + 1 + (a[1] == '-');
    static const char *const known[] = {"master", "user", "token"};
    const char *eq = strchr(n, '=');
    size_t len = eq ? (size_t)(eq - n) : strlen(n);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strlen(known[i]) == len && !strncmp(known[i], n, len)) {
            *name = known[i];
            *val = eq ? eq + 1 : NULL;
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    cli_opts o = {CLI_DEFAULT_MASTER, NULL, NULL, NULL};
    int i = 1;
    while (i < argc && argv[i][0] == '-' && argv[i][1] != '\0') {
        const char *name, *val;
        if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-version")) {
            printf("cloudai %s (protocol %d)\n", CLOUDAI_VERSION, PROTO_VERSION_MAX);
            return CLI_EXIT_OK;
        }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "-help")) {
            cli_usage(stdout);
            return CLI_EXIT_OK;
        }
        if (!global_flag(argv[i], &name, &val)) {
            fprintf(stderr, "cloudai: unknown global flag '%s'\nRun 'cloudai help' for usage.\n",
                    argv[i]);
            return CLI_EXIT_USAGE;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "cloudai: -%s needs a value\n", name);
                return CLI_EXIT_USAGE;
            }
            val = argv[++i];
        }
        if (!strcmp(name, "master"))
            o.master = val;
        else if (!strcmp(name, "user"))
            o.user = val;
        else
            o.token = val;
        i++;
    }
    if (i >= argc) {
        cli_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    /* TLS from the environment: the CA the master's certificate must chain
     * to, and optionally a client certificate. */
    const char *ca = getenv("CLOUDAI_TLS_CA");
    if (ca && ca[0]) {
        char err[512];
        const char *cert = getenv("CLOUDAI_TLS_CERT"), *key = getenv("CLOUDAI_TLS_KEY");
        tls_ctx *t = tls_client_new(ca, cert ? cert : "", key ? key : "", err, sizeof err);
        if (!t) {
            fprintf(stderr, "cloudai: %s\n", err);
            return CLI_EXIT_ERROR;
        }
        signal(SIGPIPE, SIG_IGN);    /* OpenSSL writes with write(), not MSG_NOSIGNAL */
        peer_set_tls(t, getenv("CLOUDAI_TLS_SERVER_NAME"));
    }
    return cli_run(argc - i, argv + i, &o);
}
