/* master — the CloudAI master: TCP server for workers and clients,
 * scheduler, file store, metadata index, console. `master --dev` also runs
 * one in-process worker, so one command gives a working cluster. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cluster.h"
#include "config.h"
#include "fsutil.h"
#include "http.h"
#include "log.h"
#include "meta.h"
#include "objstore.h"
#include "meta_copy.h"
#include "metarepair.h"
#include "http_metrics.h"
#include "instore.h"
#include "retention.h"
#include "server.h"
#include "peer.h"
#include "tls.h"
#include "upload.h"
#include "worker/worker.h"

/* --dev serves the web browser here unless http.listen says otherwise. */
#define DEV_HTTP_LISTEN "127.0.0.1:8080"
#define MAX_OVERRIDES 64

static volatile int stopping;
static server *the_server;
static char bound[256];

static void usage(FILE *f)
{
    fprintf(f,
"usage: master [--dev] [--console] [-config FILE] [-listen HOST:PORT]\n"
"              [-files DIR] [-meta DIR] [-v] [section.key=value ...]\n"
"  --dev          also run one worker in this process (data under ./data) and\n"
"                 serve the web browser on http://" DEV_HTTP_LISTEN "/ (http.listen= turns it off)\n"
"  --console      read commands on stdin even when it is not a terminal\n"
"  -config FILE   INI configuration (see config.example.ini)\n"
"  -listen ADDR   address for workers and clients (default 127.0.0.1:7070)\n"
"  -files DIR     where task outputs are stored (default ./data/files)\n"
"  -meta DIR      embedded metadata journal (default ./data/meta)\n"
"  -v             debug logging\n"
"  section.key=value  set any key of config.example.ini, after -config and the flags\n"
"                 (e.g. http.listen=127.0.0.1:8081 scheduler.policy=spread)\n"
"  --migrate-to-mongo  copy the embedded journal (-meta) into [mongodb] uri, then exit;\n"
"                 idempotent: running it again resumes or re-copies\n"
"  --check        report on the embedded store (-meta) and the files (-files): what is\n"
"                 intact, what is damaged and where, what would be lost; changes nothing;\n"
"                 exit 0 if all is well, 1 if not (--records: one line per record too)\n"
"  --repair       salvage every intact record (damaged files kept aside), write a clean\n"
"                 snapshot, and rebuild missing TASK/FILE records from the files; run it\n"
"                 with the master stopped\n");
}

static void say_line(void *ctx, const char *line)
{
    fprintf(ctx, "  %s\n", line);
}

static int count_cb(void *ctx, const void *rec)
{
    (void)rec;
    ++*(uint64_t *)ctx;
    return 0;
}

/* Prints the report's lines, indented. */
static void print_lines(FILE *f, const char *text)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        fprintf(f, "  %.*s\n", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}

/* `master --check` (fix 0) and `master --repair` (fix 1): see usage. */
static int check_or_repair(const config *cfg, int fix, int records)
{
    meta_open_report rep;
    metarepair_stats st;
    char err[1024] = "";
    uint64_t ntasks = 0, nfiles = 0;
    meta_query q = { 0 };
    memset(&rep, 0, sizeof rep);
    if (records) rep.listing = stdout;
    if (cfg->mongo_uri[0]) {
        fprintf(stderr, "master: --check/--repair are for the embedded store; this configuration uses MongoDB\n");
        return 2;
    }
    printf("%s of the metadata store %s\n", fix ? "repair" : "check", cfg->meta_dir);
    meta *m = meta_open_journal_ex(cfg->meta_dir, 0, fix ? META_OPEN_REPAIR : META_OPEN_CHECK, &rep,
                                   err, sizeof err);
    print_lines(stdout, rep.text);
    if (!m) {
        printf("  cannot read the store: %s\n", err);
        printf("RESULT: %s\n", fix ? "repair failed" : "DAMAGED (unreadable)");
        return 1;
    }
    meta_tasks_find(m, &q, (meta_task_cb)count_cb, &ntasks);
    meta_files_find(m, &q, (meta_file_cb)count_cb, &nfiles);
    printf("  %llu intact records read: %llu tasks, %llu file records%s\n",
           (unsigned long long)rep.records, (unsigned long long)ntasks, (unsigned long long)nfiles,
           rep.lost_bytes ? "" : "; no damaged bytes");
    if (rep.lost_bytes)
        printf("  %llu damaged bytes skipped: the records in them are lost%s\n",
               (unsigned long long)rep.lost_bytes, fix ? "" : " unless --repair can rebuild them from the files");
    printf("files %s\n", cfg->files_dir);
    int rc = metarepair_scan(m, cfg->files_dir, fix, say_line, stdout, &st);
    printf("  %llu output directories, %llu files; %llu directories without a TASK record, %llu files "
           "without a FILE record, %llu FILE records without their file, %llu entries outside the "
           "layout, %llu unreadable\n", (unsigned long long)st.task_dirs, (unsigned long long)st.files_seen,
           (unsigned long long)st.tasks_missing, (unsigned long long)st.files_missing,
           (unsigned long long)st.records_orphan, (unsigned long long)st.unexpected,
           (unsigned long long)st.errors);
    if (fix) {
        printf("  rebuilt %llu TASK records and %llu FILE records\n", (unsigned long long)st.tasks_added,
               (unsigned long long)st.files_added);
        if (rc == 0 && (st.tasks_added || st.files_added) && meta_compact(m, err, sizeof err) != 0) {
            printf("  compaction failed: %s\n", err);
            rc = -1;
        }
        meta_close(m);
        printf("RESULT: %s\n", rc ? "repair incomplete" : "repaired");
        return rc ? 1 : 0;
    }
    meta_close(m);
    int bad = rep.damaged || rep.dropped || st.tasks_missing || st.files_missing;
    printf("RESULT: %s\n", bad ? "DAMAGED (run master --repair with the master stopped)" :
           st.records_orphan || st.errors ? "intact metadata; see the notes on files" : "intact");
    return bad ? 1 : 0;
}

/* [storage] snapshot_check_sync_max: the background check's outcome, from its thread. */
static void snapshot_checked(void *ctx, int damaged, const char *text)
{
    (void)ctx;
    if (damaged) log_error("metadata store: %s; `master --check` tells what is affected", text);
    else log_info("metadata store: snapshot checked after the start: intact");
}

/* The embedded store at start: every finding logged, damage loudly. */
static meta *open_embedded(const config *cfg, char *err, size_t errcap)
{
    meta_open_report rep;
    char note[CONFIG_PATH_MAX + 32];
    memset(&rep, 0, sizeof rep);
    struct stat sst;
    snprintf(note, sizeof note, "%s/snapshot", cfg->meta_dir);
    rep.check_later = stat(note, &sst) == 0 && (uint64_t)sst.st_size > cfg->snapshot_check_sync_max;
    rep.on_check = snapshot_checked;
    snprintf(note, sizeof note, "%s/damage.log", cfg->meta_dir);
    int earlier = access(note, F_OK) == 0;
    meta *m = meta_open_journal_ex(cfg->meta_dir, cfg->journal_compact_bytes, META_OPEN_NORMAL, &rep,
                                   err, errcap);
    for (const char *p = rep.text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (rep.damaged) log_error("metadata store: %.*s", (int)n, p);
        else log_warn("metadata store: %.*s", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
    if (m && rep.damaged)
        log_error("metadata store DAMAGED: %llu intact records kept, %llu damaged bytes skipped; the "
                  "findings are in %s; `master --check` shows what is missing, `master --repair` "
                  "rebuilds task and file records from the stored files", (unsigned long long)rep.records,
                  (unsigned long long)rep.lost_bytes, note);
    else if (m && earlier)
        log_warn("metadata store: damage found at an earlier start is recorded in %s; "
                 "`master --check` / `master --repair`", note);
    if (m) {
        /* A store that looks new over a file store with outputs: its
         * journal was probably deleted. */
        uint64_t n = 0;
        meta_query q = { 0 };
        q.limit = 1;
        meta_tasks_find(m, &q, (meta_task_cb)count_cb, &n);
        DIR *d = n ? NULL : opendir(cfg->files_dir);
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (e->d_name[0] != '.') {
                log_error("metadata store: EMPTY, but %s holds stored outputs (%s/...): was the "
                          "journal in %s deleted? `master --repair` rebuilds the records from the files",
                          cfg->files_dir, e->d_name, cfg->meta_dir);
                break;
            }
        if (d) closedir(d);
    }
    return m;
}

/* 127.0.0.0/8, ::1 or localhost: the only places plain TCP is fine. */
static int loopback(const char *hostport)
{
    char host[256], port[16];
    if (net_split_hostport(hostport, host, sizeof host, port, sizeof port) < 0) return 0;
    return !strncmp(host, "127.", 4) || !strcmp(host, "::1") || !strcmp(host, "localhost");
}

static void warn_cb(const char *msg)
{
    log_warn("%s", msg);
}

/* Quotas are checked at submission: 0 accept, 1 accept with a warning,
 * 2 refuse (cluster.h). */
static int admit_quota(void *ctx, const char *user, char *msg, size_t cap)
{
    return retention_quota_check(ctx, user, msg, cap);
}

static void *signal_main(void *arg)
{
    sigset_t *set = arg;
    int sig = 0;
    sigwait(set, &sig);
    log_info("signal %d: shutting down", sig);
    stopping = 1;
    if (the_server) server_stop(the_server);
    return NULL;
}

typedef struct dev_worker {
    config cfg;
    pthread_t th;
} dev_worker;

static void *dev_worker_main(void *arg)
{
    dev_worker *d = arg;
    char err[512];
    if (worker_run(&d->cfg, &stopping, err, sizeof err) < 0)
        log_error("in-process worker failed: %s", err);
    return NULL;
}

static void *console_main(void *arg)
{
    char line[4096], *argv[64];
    (void)arg;
    fprintf(stdout, "CloudAI console: task, dispatch, tasks, workers, files, get, logs, cancel, help, quit\n");
    while (!stopping) {
        fprintf(stdout, "cloudai> ");
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin)) break;
        int argc = cli_split(line, argv, 63);
        if (argc <= 0) continue;
        if (!strcmp(argv[0], "quit") || !strcmp(argv[0], "exit")) break;
        cli_main(argc, argv, bound);
    }
    if (!stopping) {
        stopping = 1;
        if (the_server) server_stop(the_server);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    config cfg;
    int dev = 0, console = isatty(0), verbose = 0, rc = 1, migrate = 0, check = 0, repair = 0, records = 0;
    const char *config_path = NULL, *listen = NULL, *files = NULL, *metadir = NULL;
    const char *overrides[MAX_OVERRIDES];
    int noverrides = 0;
    char err[1024] = "";
    meta *m = NULL;
    cluster *cl = NULL;
    /* `master --dev` runs a worker in-process; its reaper is this binary
     * exec'd again (worker.c reaper_start). */
    meta_mongo_forget_shm();
    int reaped = worker_reaper_main(argc, argv);
    if (reaped >= 0)
        return reaped;
    uploads *up = NULL;
    retention *rt = NULL;
    instore *ins = NULL;
    http_server *hs = NULL;
    dev_worker *dw = NULL;
    pthread_t sigth, conth;
    int have_console = 0;
    sigset_t set;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-') a++;
        if (!strcmp(a, "-dev")) dev = 1;
        else if (!strcmp(a, "-console")) console = 1;
        else if (!strcmp(a, "-no-console")) console = 0;
        else if (!strcmp(a, "-v")) verbose = 1;
        else if (!strcmp(a, "-migrate-to-mongo")) migrate = 1;
        else if (!strcmp(a, "-check")) check = 1;
        else if (!strcmp(a, "-repair")) repair = 1;
        else if (!strcmp(a, "-records")) records = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "-help")) { usage(stdout); return 0; }
        else if (i + 1 < argc && !strcmp(a, "-config")) config_path = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "-listen")) listen = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "-files")) files = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "-meta")) metadir = argv[++i];
        else if (a[0] != '-' && strchr(a, '=') && noverrides < MAX_OVERRIDES) overrides[noverrides++] = a;
        else { fprintf(stderr, "master: unknown argument '%s'\n", argv[i]); usage(stderr); return 2; }
    }
    log_init("master", verbose ? LOG_DEBUG : LOG_INFO);
    config_defaults(&cfg);
    if (dev)
        snprintf(cfg.http_listen, sizeof cfg.http_listen, "%s", DEV_HTTP_LISTEN);
    if (config_path && config_load(&cfg, config_path, warn_cb, err, sizeof err) < 0) {
        fprintf(stderr, "master: %s\n", err);
        return 2;
    }
    if ((listen && config_set(&cfg, "master", "listen", listen, err, sizeof err) < 0) ||
        (files && config_set(&cfg, "storage", "files_dir", files, err, sizeof err) < 0) ||
        (metadir && config_set(&cfg, "storage", "meta_dir", metadir, err, sizeof err) < 0)) {
        fprintf(stderr, "master: %s\n", err);
        return 2;
    }
    for (int i = 0; i < noverrides; i++) {
        int r = config_override(&cfg, overrides[i], err, sizeof err);
        if (r != 0) {
            fprintf(stderr, "master: %s\n", r > 0 ? "override is section.key=value" : err);
            if (r > 0) usage(stderr);
            return 2;
        }
    }
    if (config_check_secrets(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "master: refusing to start: %s\n", err);
        return 2;
    }

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (check || repair) {
        char *abs = realpath(cfg.files_dir, NULL);
        if (abs) { snprintf(cfg.files_dir, sizeof cfg.files_dir, "%s", abs); free(abs); }
        return check_or_repair(&cfg, repair, records);
    }
    if ((rc = fsutil_mkdir_p(cfg.files_dir, 0755)) < 0 || (rc = fsutil_mkdir_p(cfg.meta_dir, 0700)) < 0) {
        fprintf(stderr, "master: cannot create %s / %s: %s\n", cfg.files_dir, cfg.meta_dir, cai_strerror(rc));
        return 1;
    }
    if (migrate) {
        uint64_t dropped = 0, ntasks = 0, nfiles = 0;
        meta *from, *to;
        if (!cfg.mongo_uri[0]) {
            fprintf(stderr, "master: --migrate-to-mongo needs [mongodb] uri in the -config file\n");
            return 2;
        }
        if (!(from = meta_open_journal(cfg.meta_dir, 0, &dropped, err, sizeof err))) {
            fprintf(stderr, "master: embedded store %s: %s\n", cfg.meta_dir, err);
            return 1;
        }
        if (!(to = meta_open_mongo_ex(cfg.mongo_uri, cfg.mongo_database, cfg.mongo_timeout_ms,
                                      cfg.mongo_socket_timeout_ms, err, sizeof err))) {
            fprintf(stderr, "master: MongoDB: %s\n", err);
            meta_close(from);
            return 1;
        }
        rc = meta_copy(from, to, &ntasks, &nfiles, err, sizeof err);
        fprintf(rc ? stderr : stdout, "%s: %llu tasks and %llu file records copied from %s to database %s\n",
                rc ? "migration failed" : "migrated", (unsigned long long)ntasks,
                (unsigned long long)nfiles, cfg.meta_dir, cfg.mongo_database);
        if (rc) fprintf(stderr, "master: %s\n", err);
        meta_close(to);
        meta_close(from);
        return rc ? 1 : 0;
    }
    rc = 1;
    /* Stored file paths are absolute (FILE_METADATA.file_path). */
    char *abs = realpath(cfg.files_dir, NULL);
    if (abs) { snprintf(cfg.files_dir, sizeof cfg.files_dir, "%s", abs); free(abs); }
    if (cfg.mongo_uri[0]) {
        m = meta_open_mongo_ex(cfg.mongo_uri, cfg.mongo_database, cfg.mongo_timeout_ms,
                               cfg.mongo_socket_timeout_ms, err, sizeof err);
    } else {
        m = open_embedded(&cfg, err, sizeof err);
    }
    if (!m) {
        log_error("metadata store: %s", err);
        goto out;
    }
    log_info("metadata store: %s", meta_backend(m));
    /* Outputs in an object store: a bucket that is missing or refuses our
     * key is a configuration error, said now; an unreachable one is not
     * (uploads retry, workers keep their copies). */
    if ((rc = objstore_open(&cfg, err, sizeof err)) < 0) {
        log_error("[store] object store: %s", err);
        rc = 1;
        goto out;
    }
    if (rc > 0)
        log_warn("[store] backend = s3: %s; uploads are retried until it answers", err);
    else if (objstore_backend())
        log_info("outputs go to the object store %s, bucket %s%s%s", cfg.s3_endpoint,
                 cfg.s3_bucket, cfg.s3_prefix[0] ? ", prefix " : "", cfg.s3_prefix);
    else if (objstore_s3() && cfg.archive_after_days > 0)
        log_info("runs older than %d days move to the object store %s, bucket %s%s",
                 cfg.archive_after_days, cfg.s3_endpoint, cfg.s3_bucket,
                 cfg.narchive_rules ? " (archive.* rules first)" : "");
    else if (objstore_s3())
        log_info("runs whose name has an archive.* rule move to the object store %s, bucket %s",
                 cfg.s3_endpoint, cfg.s3_bucket);
    if (cfg.compress_after_days > 0 || cfg.ncompress_rules > 0)
        log_info("runs older than %d days are packed on the disk (zlib, %d per-name rules)",
                 cfg.compress_after_days, cfg.ncompress_rules);
    rc = 1;
    if (!(cl = cluster_new(&cfg, m, err, sizeof err)) || !(up = uploads_new(cl, err, sizeof err))) {
        log_error("%s", err);
        goto out;
    }
    /* Before anything is served: finishes removals a crash interrupted. */
    if (!(rt = retention_new(&cfg, m, err, sizeof err))) {
        log_error("retention: %s", err);
        goto out;
    }
    cluster_set_admit(cl, admit_quota, rt);
    if (!(the_server = server_new(&cfg, cl, up, bound, sizeof bound, err, sizeof err))) {
        log_error("%s", err);
        goto out;
    }
    server_set_retention(the_server, rt);
    if (!(ins = instore_open(cfg.files_dir, cfg.max_input_bytes, err, sizeof err))) {
        log_error("input store: %s", err);
        goto out;
    }
    server_set_instore(the_server, ins);
    retention_set_instore(rt, ins);
    http_metrics_set_instore(ins);
    if (!cfg.tls_cert[0] && !loopback(cfg.listen))
        log_warn("listening on %s without TLS: tokens stay secret, but outputs and listings "
                 "cross the network in clear and can be altered on the way; set [tls] cert and "
                 "key (cloudai-certs makes them)", cfg.listen);
    else if (cfg.tls_cert[0])
        log_info("TLS on %s (certificate %s%s)", cfg.listen, cfg.tls_cert,
                 cfg.tls_require_client_cert ? ", client certificates required" : "");
    /* The console and the --dev worker connect to this master like any peer. */
    if (cfg.tls_cert[0] && cfg.tls_ca[0] && (dev || console)) {
        tls_ctx *ct = tls_client_new(cfg.tls_ca, cfg.tls_require_client_cert ? cfg.tls_cert : "",
                                     cfg.tls_key, err, sizeof err);
        if (!ct) {
            log_error("%s", err);
            goto out;
        }
        peer_set_tls(ct, cfg.tls_server_name);
    }
    if (cfg.nusers == 0 && !cfg.cluster_token[0])
        log_warn("no [auth] tokens configured: any local user and worker may connect (dev mode)");
    if (cfg.http_listen[0]) {
        char hbound[300];
        hs = http_start(&cfg, cl, rt, hbound, sizeof hbound, err, sizeof err);
        if (!hs && dev && !strcmp(cfg.http_listen, DEV_HTTP_LISTEN)) {
            /* Only the --dev default falls back: an address the user chose is kept. */
            log_warn("web browser: %s; using another free port", err);
            snprintf(cfg.http_listen, sizeof cfg.http_listen, "127.0.0.1:0");
            hs = http_start(&cfg, cl, rt, hbound, sizeof hbound, err, sizeof err);
        }
        if (!hs) {
            log_error("%s", err);
            goto out;
        }
        log_info("HTTP API and web browser on http://%s/", hbound);
        fprintf(stdout, "master http on %s\n", hbound);
        fprintf(stdout, "web browser: http://%s/\n", hbound);
        fflush(stdout);
    }
    log_info("listening on %s; files in %s", bound, cfg.files_dir);
    /* Tests and scripts read the bound address from this line. */
    fprintf(stdout, "master listening on %s\n", bound);
    fflush(stdout);
    cluster_start(cl);
    retention_start(rt);
    pthread_create(&sigth, NULL, signal_main, &set);
    pthread_detach(sigth);
    if (dev) {
        if (!(dw = calloc(1, sizeof *dw))) goto out;
        dw->cfg = cfg;
        snprintf(dw->cfg.master_addr, sizeof dw->cfg.master_addr, "%s", bound);
        if (!dw->cfg.worker_id[0]) snprintf(dw->cfg.worker_id, sizeof dw->cfg.worker_id, "dev-worker");
        worker_detect_resources(&dw->cfg);
        pthread_create(&dw->th, NULL, dev_worker_main, dw);
    }
    if (console) {
        setenv("CLOUDAI_MASTER", bound, 1);
        have_console = pthread_create(&conth, NULL, console_main, NULL) == 0;
        if (have_console) pthread_detach(conth);
    }
    server_run(the_server);
    rc = 0;
    if (dw) pthread_join(dw->th, NULL);
out:
    stopping = 1;
    http_stop(hs);
    retention_stop(rt);
    cluster_stop(cl);
    fflush(stdout);
    /* Every record was fsync'd when it was written: nothing to flush. */
    _exit(rc);
}
