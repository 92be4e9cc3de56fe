/* meta_bench.c — file-record insert rate of the metadata store: one task
 * with N output files (default 10,000) put as one meta_files_put of N
 * ("bulk"), as N calls of one ("single"), and the bulk again over existing
 * records ("rebulk", an idempotent re-upload). Journal in a temp dir always;
 * MongoDB when a URI is given (-mongo URI, or CLOUDAI_TEST_MONGO_URI), in a
 * fresh database that is dropped afterwards.
 * Prints one JSON line per figure: {"name":...,"value":...,"unit":"records/s"}.
 *
 * -scale T -files-per-task K: the embedded store's cost at size. Builds a
 * store of T tasks (then T*K file records, 256 tasks' files per commit) in
 * a temp dir (/dev/shm for small stores, /var/tmp for big ones, or
 * META_BENCH_DIR: building is not what is measured), compacts it, and
 * opens it in a fresh process (this program re-run with -open DIR), which
 * reports the start time (wall and CPU), the RSS the store adds and the
 * peak, and the latency of paged listings at random places (p50/p99 of 200,
 * and the p99 of their own CPU time), then a compaction. Costs per task and
 * per file record come from the two sizes (tasks only, then with files).
 * META_BENCH_KEEP=1 keeps the store.
 * usage: meta_bench [-n N] [-mongo URI] [-single-max M]
 *        meta_bench -scale T [-files-per-task K] */
#include <dirent.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <mongoc/mongoc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "master/meta.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void mk_files(file_rec *f, size_t n, const char *task)
{
    for (size_t i = 0; i < n; i++) {
        memset(&f[i], 0, sizeof f[i]);
        snprintf(f[i].task_id, sizeof f[i].task_id, "%s", task);
        snprintf(f[i].user_id, sizeof f[i].user_id, "alice");
        snprintf(f[i].task_name, sizeof f[i].task_name, "bench");
        snprintf(f[i].file_name, sizeof f[i].file_name, "out/part-%06zu.dat", i);
        snprintf(f[i].file_path, sizeof f[i].file_path, "/data/files/alice/bench/1/%s/%s", task,
                 f[i].file_name);
        f[i].submitted_at = 1700000000000ull;
        f[i].stored_at = f[i].submitted_at + 1000;
        f[i].file_size = 4096 + i;
        f[i].mode = 0644;
        for (int k = 0; k < 32; k++) f[i].sha256[k] = (uint8_t)(i * 31 + (size_t)k);
    }
}

static void emit(const char *what, const char *backend, size_t n, double dt)
{
    printf("{\"name\":\"meta_files_put_%s_%s\",\"value\":%.0f,\"unit\":\"records/s\"}\n", what,
           backend, dt > 0 ? (double)n / dt : 0.0);
    fflush(stdout);
}

static int run(meta *m, const char *backend, file_rec *f, size_t n, size_t single_max)
{
    char err[512] = "";
    mk_files(f, n, "t-bulk");
    double t0 = now_s();
    if (meta_files_put(m, f, n, err, sizeof err) != 0) goto fail;
    emit("bulk", backend, n, now_s() - t0);
    t0 = now_s();
    if (meta_files_put(m, f, n, err, sizeof err) != 0) goto fail;
    emit("rebulk", backend, n, now_s() - t0);
    size_t ns = single_max && single_max < n ? single_max : n;
    mk_files(f, ns, "t-single");
    t0 = now_s();
    for (size_t i = 0; i < ns; i++)
        if (meta_files_put(m, &f[i], 1, err, sizeof err) != 0) goto fail;
    emit("single", backend, ns, now_s() - t0);
    return 0;
fail:
    fprintf(stderr, "meta_bench: %s: %s\n", backend, err);
    return 1;
}

static void rm_flat(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < sizeof p) unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

static void drop_db(const char *uri, const char *db)
{
    mongoc_client_t *c = mongoc_client_new(uri);
    if (!c) return;
    mongoc_database_t *d = mongoc_client_get_database(c, db);
    mongoc_database_drop(d, NULL);
    mongoc_database_destroy(d);
    mongoc_client_destroy(c);
}

static long rss_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl)) v = strtol(line + fl + 1, NULL, 10);
    if (f) fclose(f);
    return v;
}

static int count_cb(void *ctx, const void *r) { (void)r; ++*(size_t *)ctx; return 0; }

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define REPS 200
static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

#define NUSERS 100
static void task_of(task_rec *t, size_t i)
{
    snprintf(t->task_id, sizeof t->task_id, "task-%010zu-%08zx", 1700000000 + i, i * 2654435761u);
    snprintf(t->user_id, sizeof t->user_id, "user%03zu", i % NUSERS);
    snprintf(t->task_name, sizeof t->task_name, "train-resnet-%zu", i % 1000);
    snprintf(t->docker_image, sizeof t->docker_image, "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime");
    t->submitted_at = 1700000000000ull + i * 1000;
    t->created_at = t->submitted_at;
    t->started_at = t->submitted_at + 100;
    t->completed_at = t->submitted_at + 60000;
    t->status = PROTO_ST_COMPLETED;
    t->exit_code = 0;
    t->req_cpu = 4;
    t->req_memory = 8ull << 30;
    t->attempts = 1;
    snprintf(t->worker_id, sizeof t->worker_id, "worker-%02zu", i % 16);
}

/* One kind of paged listing, REPS times at random places (a cursor page
 * of 100 from a random time, or a random task): p50 and p99 in ms. */
enum kind { K_TASKS, K_TASKS_USER, K_FILES, K_FILES_USER, K_FILES_OF_TASK, K_TASK_GET };
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wall p50/p99 and the p99 of the CPU time the listing itself took (on a
 * loaded machine the wall p99 is mostly time spent descheduled). */
static void latency(meta *m, enum kind k, size_t ntasks, double *p50, double *p99, double *cpu99, size_t *rows)
{
    double t[REPS], c[REPS];
    task_rec tr;
    task_rec_init(&tr);
    *rows = 0;
    for (int i = 0; i < REPS; i++) {
        meta_query q = { 0 };
        size_t n = 0, at = (size_t)(rnd() % (ntasks ? ntasks : 1));
        char user[16];
        snprintf(user, sizeof user, "user%03zu", at % NUSERS);
        q.limit = 100;
        q.newest_first = 1;
        q.until = 1700000000000ull + (uint64_t)at * 1000 + 1;
        if (k == K_TASKS_USER || k == K_FILES_USER) q.user_id = user;
        task_of(&tr, at);
        double t0 = now_s(), c0 = cpu_now();
        switch (k) {
        case K_TASKS: case K_TASKS_USER: meta_tasks_find(m, &q, (meta_task_cb)count_cb, &n); break;
        case K_FILES: case K_FILES_USER: meta_files_find(m, &q, (meta_file_cb)count_cb, &n); break;
        case K_FILES_OF_TASK: {
            meta_query qt = { 0 };
            qt.task_id = tr.task_id;
            meta_files_find(m, &qt, (meta_file_cb)count_cb, &n);
            break;
        }
        case K_TASK_GET: {
            task_rec o;
            n = meta_task_get(m, tr.task_id, &o) == 0;
            if (n) task_rec_free(&o);
            break;
        }
        }
        t[i] = (now_s() - t0) * 1000;
        c[i] = (cpu_now() - c0) * 1000;
        *rows += n;
    }
    task_rec_free(&tr);
    qsort(t, REPS, sizeof t[0], cmp_d);
    qsort(c, REPS, sizeof c[0], cmp_d);
    *p50 = t[REPS / 2];
    *p99 = t[REPS * 99 / 100];
    *cpu99 = c[REPS * 99 / 100];
    *rows /= REPS;
}

/* A start with the snapshot's check in the background
 * ([storage] snapshot_check_background): the open, then the check. */
static void open_later(const char *dir)
{
    char err[512] = "";
    meta_open_report rep;
    memset(&rep, 0, sizeof rep);
    rep.check_later = 1;
    double t0 = now_s(), c0 = cpu_now();
    meta *m = meta_open_journal_ex(dir, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
    double dt = now_s() - t0, dc = cpu_now() - c0;
    if (!m) return;
    t0 = now_s();
    int rc = meta_check_wait(m, err, sizeof err);
    printf("open_later_s %.3f\nopen_later_cpu_s %.3f\ncheck_s %.3f\ncheck_rc %d\n", dt, dc, now_s() - t0, rc);
    meta_close(m);
}

/* Changes during a compaction: a writer puts durable task records
 * while it runs (on its own thread since the compaction left the write
 * path) and, before it, for as long with none; the latencies of both. */
struct writer {
    meta *m;
    volatile int stop;
    double *lat;
    size_t n, cap;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    task_rec t;
    task_rec_init(&t);
    snprintf(t.user_id, sizeof t.user_id, "bench");
    snprintf(t.task_name, sizeof t.task_name, "during-compaction");
    task_rec_set_command(&t, "true");
    while (!w->stop && w->n < w->cap) {
        snprintf(t.task_id, sizeof t.task_id, "cw-%zu-%ld", w->n, (long)getpid());
        t.submitted_at = 4000000000000ull + w->n;
        double t0 = now_s();
        if (meta_task_put(w->m, &t, NULL, 0) != 0) break;
        w->lat[w->n++] = (now_s() - t0) * 1e3;
    }
    task_rec_free(&t);
    return NULL;
}

static void lat_print(const char *k, struct writer *w)
{
    if (!w->n) return;
    qsort(w->lat, w->n, sizeof *w->lat, cmp_d);
    printf("%s_p50_ms %.3f\n%s_p99_ms %.3f\n%s_max_ms %.3f\n%s_n %zu\n", k, w->lat[w->n / 2], k,
           w->lat[(size_t)((double)(w->n - 1) * 0.99)], k, w->lat[w->n - 1], k, w->n);
}

static void compact_under_writes(meta *m)
{
    char err[512] = "";
    struct writer w = { .m = m, .cap = 1u << 20 };
    pthread_t th;
    if (!(w.lat = malloc(w.cap * sizeof *w.lat))) return;
    double t0 = now_s();
    if (pthread_create(&th, NULL, writer_main, &w) != 0) goto out;
    if (meta_compact_start(m, err, sizeof err) != 0) {
        w.stop = 1;
        pthread_join(th, NULL);
        fprintf(stderr, "meta_bench: compaction: %s\n", err);
        goto out;
    }
    meta_compact_wait(m);
    double dt = now_s() - t0;
    w.stop = 1;
    pthread_join(th, NULL);
    printf("compact_s %.3f\n", dt);
    lat_print("write_during_compact", &w);
    /* The same writer as long again with no compaction: its own baseline. */
    w.n = 0;
    w.stop = 0;
    if (pthread_create(&th, NULL, writer_main, &w) != 0) goto out;
    struct timespec ts = { (time_t)dt, (long)((dt - (double)(time_t)dt) * 1e9) };
    nanosleep(&ts, NULL);
    w.stop = 1;
    pthread_join(th, NULL);
    lat_print("write_idle", &w);
out:
    free(w.lat);
}

/* The child: opens dir, prints its figures as "key value" lines. */
static int open_child(const char *dir, size_t ntasks)
{
    char err[512] = "";
    long base = rss_kib("VmRSS:");
    struct rusage r0, r1;
    meta_open_report rep;
    memset(&rep, 0, sizeof rep);
    getrusage(RUSAGE_SELF, &r0);
    double t0 = now_s();
    meta *m = meta_open_journal_ex(dir, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
    double dt = now_s() - t0;
    getrusage(RUSAGE_SELF, &r1);
    if (!m) { fprintf(stderr, "meta_bench: open: %s\n", err); return 1; }
    double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                 (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    printf("open_s %.3f\nopen_cpu_s %.3f\nrss_kib %ld\nhwm_kib %ld\nfrom_index %d\n", dt, cpu,
           rss_kib("VmRSS:") - base, rss_kib("VmHWM:"), rep.from_index);
    static const char *names[] = { "tasks_page", "tasks_page_user", "files_page", "files_page_user",
                                   "files_of_task", "task_get" };
    for (int k = 0; k <= K_TASK_GET; k++) {
        double p50, p99, c99;
        size_t rows;
        latency(m, (enum kind)k, ntasks, &p50, &p99, &c99, &rows);
        printf("%s_p50_ms %.4f\n%s_p99_ms %.4f\n%s_cpu99_ms %.4f\n%s_rows %zu\n", names[k], p50, names[k], p99,
               names[k], c99, names[k], rows);
    }
    if (!getenv("META_BENCH_NO_COMPACT")) compact_under_writes(m);
    meta_close(m);
    /* Last, so its memory does not blur the RSS figures above. */
    if (!getenv("META_BENCH_NO_LATER")) open_later(dir);
    fflush(stdout);
    return 0;
}

/* Runs `self -open dir ntasks`; fills the figures it printed. */
static int run_child(const char *self, const char *dir, size_t ntasks, double *open_s, double *rss,
                     char *out, size_t cap)
{
    char cmd[1024], line[256];
    (void)0;
    snprintf(cmd, sizeof cmd, "'%s' -open '%s' %zu", self, dir, ntasks);
    FILE *p = popen(cmd, "r");
    size_t l = 0;
    if (!p) return -1;
    out[0] = 0;
    while (fgets(line, sizeof line, p)) {
        double v = 0;
        char k[64];
        if (sscanf(line, "%63s %lf", k, &v) != 2) continue;
        if (!strcmp(k, "open_cpu_s")) *open_s = v;
        if (!strcmp(k, "rss_kib")) *rss = v;
        if (l < cap) l += (size_t)snprintf(out + l, cap - l, "%s %.4g\n", k, v);
    }
    return pclose(p) == 0 ? 0 : -1;
}

static void emitv(const char *name, double v, const char *unit)
{
    printf("{\"name\":\"%s\",\"value\":%.3f,\"unit\":\"%s\"}\n", name, v, unit);
    fflush(stdout);
}

static double loadavg1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf", &l) != 1) l = -1;
    if (f) fclose(f);
    return l;
}

/* The fallback generation is not what is measured, and costs space. */
static void drop_prev(const char *dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s/snapshot.prev", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/journal.prev", dir);
    unlink(p);
}

#define TASKS_PER_PUT 256   /* file records of this many tasks per commit while building */

static int scale(const char *self, size_t ntasks, size_t per_task)
{
    char dir[64], err[512] = "", a[4096], b[4096];
    uint64_t dropped = 0;
    double open_a = 0, rss_a = 0, open_b = 0, rss_b = 0;
    int rc = 1;
    /* Small stores in /dev/shm (building is not what is measured); a big
     * one (gigabytes of snapshot) on disk, or META_BENCH_DIR. */
    const char *base = getenv("META_BENCH_DIR");
    if (!base) base = ntasks * per_task > 2000000 ? "/var/tmp" : "/dev/shm";
    snprintf(dir, sizeof dir, "%s/meta_scale.XXXXXX", base);
    if (!mkdtemp(dir)) {
        snprintf(dir, sizeof dir, "/tmp/meta_scale.XXXXXX");
        if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    }
    fprintf(stderr, "meta_bench: store in %s (load %.1f)\n", dir, loadavg1());
    meta *m = meta_open_journal(dir, 0, &dropped, err, sizeof err);
    size_t batch = per_task * TASKS_PER_PUT;
    file_rec *f = calloc(batch ? batch : 1, sizeof *f);
    task_rec t;
    task_rec_init(&t);
    if (!m || !f || task_rec_set_command(&t, "python train.py --epochs 10 --out /output") != 0) goto out;
    double t0 = now_s();
    for (size_t i = 0; i < ntasks; i++) {
        task_of(&t, i);
        if (meta_task_put_nosync(m, &t, err, sizeof err) != 0) goto out;
        if (i % 10000 == 9999 && meta_sync(m, err, sizeof err) != 0) goto out;
    }
    if (meta_sync(m, err, sizeof err) != 0 || meta_compact(m, err, sizeof err) != 0) goto out;
    fprintf(stderr, "meta_bench: %zu tasks built in %.1f s\n", ntasks, now_s() - t0);
    meta_close(m);
    m = NULL;
    drop_prev(dir);
    if (run_child(self, dir, ntasks, &open_a, &rss_a, a, sizeof a) != 0) goto out;
    if (!(m = meta_open_journal(dir, 0, &dropped, err, sizeof err))) goto out;
    t0 = now_s();
    size_t nf = 0;
    for (size_t i = 0; i < ntasks && per_task; i++) {
        task_of(&t, i);
        for (size_t k = 0; k < per_task; k++) {
            file_rec *r = &f[nf++];
            snprintf(r->task_id, sizeof r->task_id, "%s", t.task_id);
            snprintf(r->user_id, sizeof r->user_id, "%s", t.user_id);
            snprintf(r->task_name, sizeof r->task_name, "%s", t.task_name);
            r->submitted_at = t.submitted_at;
            snprintf(r->file_name, sizeof r->file_name, "checkpoints/epoch-%03zu.pt", k);
            snprintf(r->file_path, sizeof r->file_path, "/var/lib/cloudai/files/%s/%s/20231114T221320Z/%s/%s",
                     t.user_id, t.task_name, t.task_id, r->file_name);
            r->file_size = 1000000 + k;
            r->mode = 0644;
            r->stored_at = t.completed_at;
            for (int x = 0; x < 32; x++) r->sha256[x] = (uint8_t)(i * 7 + k * 13 + (size_t)x);
        }
        if (nf == batch || i + 1 == ntasks) {
            if (meta_files_put(m, f, nf, err, sizeof err) != 0) goto out;
            nf = 0;
        }
    }
    fprintf(stderr, "meta_bench: %zu file records put in %.1f s (load %.1f)\n", ntasks * per_task,
            now_s() - t0, loadavg1());
    t0 = now_s();
    if (meta_compact(m, err, sizeof err) != 0) goto out;
    fprintf(stderr, "meta_bench: compacted in %.1f s\n", now_s() - t0);
    meta_close(m);
    m = NULL;
    drop_prev(dir);
    double load0 = loadavg1();
    if (run_child(self, dir, ntasks, &open_b, &rss_b, b, sizeof b) != 0) goto out;
    fprintf(stderr, "meta_bench: %zu tasks only:\n%s", ntasks, a);
    fprintf(stderr, "meta_bench: %zu tasks, %zu file records:\n%s", ntasks, ntasks * per_task, b);
    double per_t = rss_a * 1024 / (double)ntasks;
    double per_f = per_task ? (rss_b - rss_a) * 1024 / (double)(ntasks * per_task) : 0;
    emitv("meta_scale_loadavg", (load0 + loadavg1()) / 2, "load");
    emitv("meta_scale_rss_per_task", per_t, "bytes");
    emitv("meta_scale_rss_per_file", per_f, "bytes");
    emitv("meta_scale_rss", rss_b / 1024, "MiB");
    emitv("meta_scale_open_cpu", open_b, "s");
    /* Linear projections to 1M tasks / 10M file records (the quick size). */
    emitv("meta_scale_rss_at_10M_files", (per_t * 1e6 + per_f * 1e7) / 1048576.0, "MiB");
    double per_rec_s = open_b / (double)(ntasks + ntasks * per_task);
    emitv("meta_scale_open_cpu_at_10M_files", per_rec_s * 11e6, "s");
    const char *keys[] = { "open_s", "hwm_kib", "from_index", "tasks_page_p50_ms", "tasks_page_p99_ms",
                           "tasks_page_user_p50_ms", "tasks_page_user_p99_ms", "files_page_p50_ms",
                           "files_page_p99_ms", "files_page_user_p50_ms", "files_page_user_p99_ms",
                           "files_of_task_p50_ms", "files_of_task_p99_ms", "task_get_p50_ms",
                           "task_get_p99_ms", "compact_s", "write_during_compact_p50_ms",
                           "write_during_compact_p99_ms", "write_during_compact_max_ms", "write_idle_p50_ms",
                           "write_idle_p99_ms", "write_idle_max_ms", "tasks_page_cpu99_ms", "tasks_page_user_cpu99_ms",
                           "files_page_cpu99_ms", "files_page_user_cpu99_ms", "files_of_task_cpu99_ms",
                           "task_get_cpu99_ms", "open_later_s", "open_later_cpu_s", "check_s" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *p = strstr(b, keys[i]);
        char name[96];
        if (!p) continue;
        if (i == 0 && p > b && p[-1] != '\n') p = strstr(p + 1, keys[i]);
        if (!p) continue;
        snprintf(name, sizeof name, "meta_scale_%s", keys[i]);
        double v = strtod(p + strlen(keys[i]) + 1, NULL);
        emitv(name, v, strstr(keys[i], "_ms") ? "ms" : strstr(keys[i], "kib") ? "KiB" : i == 2 ? "bool" : "s");
        if (!strcmp(keys[i], "open_later_s"))
            emitv("meta_scale_open_later_wall_at_10M_files", v / (double)(ntasks + ntasks * per_task) * 11e6, "s");
        if (i == 0) emitv("meta_scale_open_wall_at_10M_files", v / (double)(ntasks + ntasks * per_task) * 11e6, "s");
    }
    rc = 0;
out:
    if (rc) fprintf(stderr, "meta_bench: scale: %s\n", err);
    meta_close(m);
    task_rec_free(&t);
    free(f);
    if (getenv("META_BENCH_KEEP")) fprintf(stderr, "meta_bench: store kept in %s\n", dir);
    else rm_flat(dir);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "-open")) return open_child(argv[2], strtoul(argv[3], NULL, 10));
    if (argc >= 3 && !strcmp(argv[1], "-scale"))
        return scale(argv[0], strtoul(argv[2], NULL, 10),
                     argc >= 5 && !strcmp(argv[3], "-files-per-task") ? strtoul(argv[4], NULL, 10) : 10);

    size_t n = 10000, single_max = 0;
    const char *uri = getenv("CLOUDAI_TEST_MONGO_URI");
    char err[512] = "", dir[] = "/tmp/meta_bench.XXXXXX";
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) n = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-mongo") && i + 1 < argc) uri = argv[++i];
        else if (!strcmp(argv[i], "-single-max") && i + 1 < argc) single_max = strtoul(argv[++i], NULL, 10);
        else { fprintf(stderr, "usage: meta_bench [-n N] [-mongo URI] [-single-max M]\n"); return 2; }
    }
    file_rec *f = n ? malloc(n * sizeof *f) : NULL;
    if (!f) { fprintf(stderr, "meta_bench: need -n > 0 and memory\n"); return 2; }

    if (!mkdtemp(dir)) { perror("mkdtemp"); free(f); return 1; }
    uint64_t dropped = 0;
    meta *m = meta_open_journal(dir, 0, &dropped, err, sizeof err);
    if (!m) { fprintf(stderr, "meta_bench: journal: %s\n", err); rc = 1; }
    else { rc |= run(m, "journal", f, n, single_max); meta_close(m); }
    rm_flat(dir);

    if (uri && *uri) {
        char db[64];
        snprintf(db, sizeof db, "cloudai_bench_%ld", (long)getpid());
        m = meta_open_mongo(uri, db, 5000, err, sizeof err);
        if (!m) { fprintf(stderr, "meta_bench: mongodb: %s\n", err); rc = 1; }
        else { rc |= run(m, "mongodb", f, n, single_max); meta_close(m); drop_db(uri, db); }
    } else {
        fprintf(stderr, "meta_bench: no MongoDB URI; journal only\n");
    }
    free(f);
    return rc;
}
