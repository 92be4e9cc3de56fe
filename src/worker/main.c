/* worker — a CloudAI worker: registers its resources with the master,
 * runs tasks in Docker (or as plain processes) and uploads their /output. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "log.h"
#include "net.h"
#include "peer.h"
#include "tls.h"
#include "worker.h"

static volatile int stopping;

static void usage(FILE *f)
{
    fprintf(f,
"usage: worker [-config FILE] [-master HOST:PORT] [-id NAME] [-runtime auto|docker|process]\n"
"              [-outputs DIR] [-cpu N] [-mem SIZE] [-storage SIZE] [-gpu N] [-token T] [-v]\n"
"              [section.key=value ...]\n"
"  Resources not given are detected (CPUs, memory, free disk under -outputs, nvidia-smi).\n"
"  The cluster token may also come from CLOUDAI_CLUSTER_TOKEN.\n"
"  section.key=value sets any key of config.example.ini (worker.cpu=4), applied in\n"
"  command-line order after -config.\n");
}

static void warn_cb(const char *msg) { log_warn("%s", msg); }

static void *signal_main(void *arg)
{
    sigset_t *set = arg;
    int sig = 0;
    sigwait(set, &sig);
    log_info("signal %d: stopping", sig);
    stopping = 1;
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct { const char *flag, *section, *key; } map[] = {
        { "-master", "worker", "master" }, { "-id", "worker", "id" },
        { "-runtime", "worker", "runtime" }, { "-outputs", "worker", "outputs_dir" },
        { "-cpu", "worker", "cpu" }, { "-mem", "worker", "memory" },
        { "-storage", "worker", "storage" }, { "-gpu", "worker", "gpu" },
        { "-token", "auth", "cluster_token" }, { "-heartbeat", "master", "heartbeat_interval_s" },
    };
    config cfg;
    char err[1024];
    int verbose = 0;
    const char *config_path = NULL;
    sigset_t set;
    pthread_t th;

    int reaped = worker_reaper_main(argc, argv);
    if (reaped >= 0)
        return reaped;
    config_defaults(&cfg);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-config") && i + 1 < argc) config_path = argv[i + 1];
    log_init("worker", LOG_INFO);
    if (config_path && config_load(&cfg, config_path, warn_cb, err, sizeof err) < 0) {
        fprintf(stderr, "worker: %s\n", err);
        return 2;
    }
    const char *tok = getenv("CLOUDAI_CLUSTER_TOKEN");
    if (tok) snprintf(cfg.cluster_token, sizeof cfg.cluster_token, "%s", tok);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-') a++;
        if (!strcmp(a, "-h") || !strcmp(a, "-help")) { usage(stdout); return 0; }
        if (!strcmp(a, "-v")) { verbose = 1; continue; }
        if (!strcmp(a, "-config")) { i++; continue; }
        int r = config_override(&cfg, a, err, sizeof err);
        if (r < 0) {
            fprintf(stderr, "worker: %s\n", err);
            return 2;
        }
        if (r == 0) continue;
        size_t k;
        for (k = 0; k < sizeof map / sizeof map[0]; k++)
            if (!strcmp(a, map[k].flag)) break;
        if (k == sizeof map / sizeof map[0] || i + 1 >= argc) {
            fprintf(stderr, "worker: unknown or incomplete argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        if (config_set(&cfg, map[k].section, map[k].key, argv[++i], err, sizeof err) < 0) {
            fprintf(stderr, "worker: %s: %s\n", argv[i - 1], err);
            return 2;
        }
    }
    if (config_check_secrets(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "worker: refusing to start: %s\n", err);
        return 2;
    }
    if (verbose) log_set_level(LOG_DEBUG);
    if (cfg.worker_id[0]) log_init(cfg.worker_id, verbose ? LOG_DEBUG : LOG_INFO);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_create(&th, NULL, signal_main, &set);
    pthread_detach(th);
    if (cfg.tls_ca[0]) {
        tls_ctx *t = tls_client_new(cfg.tls_ca, cfg.tls_cert, cfg.tls_key, err, sizeof err);
        if (!t) {
            fprintf(stderr, "worker: %s\n", err);
            return 2;
        }
        peer_set_tls(t, cfg.tls_server_name);
        log_info("TLS to the master, verified against %s", cfg.tls_ca);
    } else {
        char host[256], port[16];
        if (net_split_hostport(cfg.master_addr, host, sizeof host, port, sizeof port) == 0 &&
            strncmp(host, "127.", 4) && strcmp(host, "::1") && strcmp(host, "localhost"))
            log_warn("connecting to %s without TLS: outputs cross the network in clear; "
                     "set [tls] ca (and the master's [tls] cert and key)", cfg.master_addr);
    }
    worker_detect_resources(&cfg);
    if (worker_run(&cfg, &stopping, err, sizeof err) < 0) {
        fprintf(stderr, "worker: %s\n", err);
        return 1;
    }
    return 0;
}
