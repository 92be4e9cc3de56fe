/* test_meta.c — the metadata store contract (src/master/meta.h), written
 * against meta.h only and run once per backend: the embedded journal always,
 * MongoDB when CLOUDAI_TEST_MONGO_URI is set (each case gets a fresh
 * database named cloudai_test_<pid>_<n>, left behind for inspection). */
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "t.h"
#include "master/meta.h"

static const char *backend;          /* "journal" | "mongodb" */
static char tmpdirs[64][64];
static int ntmp, ndb;

/* A fresh, empty store of the current backend. */
static meta *fresh(void)
{
    char err[256] = "";
    meta *m = NULL;
    if (!strcmp(backend, "journal")) {
        if (ntmp == 64) return NULL;
        char *d = tmpdirs[ntmp];
        snprintf(d, 64, "/tmp/test_meta.XXXXXX");
        if (!mkdtemp(d)) return NULL;
        ntmp++;
        uint64_t dropped = 0;
        m = meta_open_journal(d, 0, &dropped, err, sizeof err);
    } else {
        char db[64];
        snprintf(db, sizeof db, "cloudai_test_%ld_%d", (long)getpid(), ndb++);
        m = meta_open_mongo(getenv("CLOUDAI_TEST_MONGO_URI"), db, 5000, err, sizeof err);
    }
    if (!m) printf("#   open %s: %s\n", backend, err);
    return m;
}

static void mk_task(task_rec *t, const char *id, const char *user, const char *name,
                    uint64_t at, int status)
{
    task_rec_init(t);
    snprintf(t->task_id, sizeof t->task_id, "%s", id);
    snprintf(t->user_id, sizeof t->user_id, "%s", user);
    snprintf(t->task_name, sizeof t->task_name, "%s", name);
    snprintf(t->docker_image, sizeof t->docker_image, "alpine:3.19");
    t->submitted_at = at;
    t->created_at = at;
    t->status = status;
}

static void mk_file(file_rec *f, const char *task, const char *user, const char *name,
                    uint64_t at, const char *fname)
{
    memset(f, 0, sizeof *f);
    snprintf(f->task_id, sizeof f->task_id, "%s", task);
    snprintf(f->user_id, sizeof f->user_id, "%s", user);
    snprintf(f->task_name, sizeof f->task_name, "%s", name);
    snprintf(f->file_name, sizeof f->file_name, "%s", fname);
    snprintf(f->file_path, sizeof f->file_path, "/store/%s/%s/%s", user, task, fname);
    f->submitted_at = at;
    f->file_size = strlen(fname) * 100;
    for (int i = 0; i < 32; i++) f->sha256[i] = (uint8_t)(i * 7 + fname[0]);
    f->mode = 0644;
    f->stored_at = at + 500;
}

/* Collects ids ("a,b,c") of what a find reports. */
struct ids { char s[4096]; int n; };
static int add_id(struct ids *c, const char *id)
{
    size_t l = strlen(c->s);
    snprintf(c->s + l, sizeof c->s - l, "%s%s", l ? "," : "", id);
    c->n++;
    return 0;
}
static int task_cb(void *ctx, const task_rec *t) { return add_id(ctx, t->task_id); }
static int file_cb(void *ctx, const file_rec *f)
{
    char both[4200];
    snprintf(both, sizeof both, "%s/%s", f->task_id, f->file_name);
    return add_id(ctx, both);
}
static int stop_cb(void *ctx, const task_rec *t) { add_id(ctx, t->task_id); return 1; }

static const char *tasks(meta *m, const meta_query *q)
{
    static struct ids c;
    memset(&c, 0, sizeof c);
    if (meta_tasks_find(m, q, task_cb, &c) != 0) return "(error)";
    return c.s;
}

static const char *files(meta *m, const meta_query *q)
{
    static struct ids c;
    memset(&c, 0, sizeof c);
    if (meta_files_find(m, q, file_cb, &c) != 0) return "(error)";
    return c.s;
}

static void test_task_put_get_replace(void)
{
    meta *m = fresh();
    T_CHECK(m != NULL);
    if (!m) return;
    T_EQ_STR(meta_backend(m), backend);
    task_rec t, g;
    char *argv[] = { "sh", "-c", "echo hi > /output/x", NULL };
    mk_task(&t, "task-1-aaa", "alice", "job", 1000, PROTO_ST_QUEUED);
    T_EQ_INT(task_rec_set_argv(&t, 3, argv), 0);
    T_EQ_INT(task_rec_set_command(&t, "echo hi"), 0);
    t.req_cpu = 1.5;
    t.req_memory = 1 << 20;
    t.req_gpu = 1;
    t.timeout_s = 60;
    T_EQ_INT(task_rec_set_notes(&t, "'pipe': FIFO ('6')"), 0);
    snprintf(t.want_worker, sizeof t.want_worker, "w1");
    T_EQ_INT(meta_task_put(m, &t, NULL, 0), 0);
    T_EQ_INT(meta_task_get(m, "task-1-aaa", &g), 0);
    T_EQ_STR(g.user_id, "alice");
    T_EQ_STR(g.task_name, "job");
    T_EQ_STR(g.docker_image, "alpine:3.19");
    T_EQ_STR(g.want_worker, "w1");
    T_EQ_STR(g.command, "echo hi");
    T_EQ_INT(g.argc, 3);
    if (g.argc == 3) T_EQ_STR(g.argv[2], "echo hi > /output/x");
    T_CHECK(g.argv && g.argv[3] == NULL);
    T_CHECK(g.req_cpu == 1.5);
    T_EQ_INT(g.req_memory, 1 << 20);
    T_EQ_INT(g.status, PROTO_ST_QUEUED);
    T_EQ_INT(g.exit_code, -1);
    T_EQ_INT(g.timeout_s, 60);
    T_EQ_STR(g.notes, "'pipe': FIFO ('6')");
    task_rec_free(&g);

    t.status = PROTO_ST_COMPLETED;
    t.exit_code = 3;
    t.completed_at = 5000;
    t.output_files = 7;
    snprintf(t.error, sizeof t.error, "exit 3");
    T_EQ_INT(meta_task_put(m, &t, NULL, 0), 0);
    T_EQ_INT(meta_task_get(m, "task-1-aaa", &g), 0);
    T_EQ_INT(g.status, PROTO_ST_COMPLETED);
    T_EQ_INT(g.exit_code, 3);
    T_EQ_INT(g.completed_at, 5000);
    T_EQ_INT(g.output_files, 7);
    T_EQ_STR(g.error, "exit 3");
    task_rec_free(&g);
    meta_query q = { 0 };
    T_EQ_STR(tasks(m, &q), "task-1-aaa");   /* replaced, not duplicated */
    T_EQ_INT(meta_task_get(m, "task-nope", &g), META_E_NOTFOUND);
    task_rec_free(&t);
    T_EQ_INT(meta_task_put(m, NULL, NULL, 0), META_E_ARG);
    meta_close(m);
}

/* a..f: user, name, submitted_at, status. */
static void put_six(meta *m)
{
    static const struct { const char *id, *user, *name; uint64_t at; int st; } v[] = {
        { "t-a", "alice", "train-1", 1000, PROTO_ST_QUEUED },
        { "t-b", "bob", "train-2", 2000, PROTO_ST_RUNNING },
        { "t-c", "alice", "eval", 3000, PROTO_ST_COMPLETED },
        { "t-d", "alice", "train-1", 4000, PROTO_ST_FAILED },
        { "t-e", "bob", "eval", 4000, PROTO_ST_COMPLETED },
        { "t-f", "carol", "x", 6000, PROTO_ST_QUEUED },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        task_rec t;
        mk_task(&t, v[i].id, v[i].user, v[i].name, v[i].at, v[i].st);
        T_EQ_INT(meta_task_put(m, &t, NULL, 0), 0);
        task_rec_free(&t);
    }
}

static void test_tasks_query(void)
{
    meta *m = fresh();
    T_CHECK(m != NULL);
    if (!m) return;
    put_six(m);
    meta_query q = { 0 };
    T_EQ_STR(tasks(m, &q), "t-a,t-b,t-c,t-d,t-e,t-f");
    q.newest_first = 1;
    T_EQ_STR(tasks(m, &q), "t-f,t-e,t-d,t-c,t-b,t-a");
    q = (meta_query){ .task_id = "t-c" };
    T_EQ_STR(tasks(m, &q), "t-c");
    q = (meta_query){ .task_id = "t-c", .user_id = "bob" };
    T_EQ_STR(tasks(m, &q), "");
    q = (meta_query){ .user_id = "alice" };
    T_EQ_STR(tasks(m, &q), "t-a,t-c,t-d");
    q = (meta_query){ .task_name = "eval" };
    T_EQ_STR(tasks(m, &q), "t-c,t-e");
    q = (meta_query){ .pattern = "train-*" };
    T_EQ_STR(tasks(m, &q), "t-a,t-b,t-d");
    q = (meta_query){ .pattern = "train-?", .user_id = "bob" };
    T_EQ_STR(tasks(m, &q), "t-b");
    q = (meta_query){ .status = PROTO_ST_COMPLETED };
    T_EQ_STR(tasks(m, &q), "t-c,t-e");
    q = (meta_query){ .since = 2000, .until = 4000 };
    T_EQ_STR(tasks(m, &q), "t-b,t-c");
    q = (meta_query){ .since = 4000 };
    T_EQ_STR(tasks(m, &q), "t-d,t-e,t-f");
    q = (meta_query){ .until = 1000 };
    T_EQ_STR(tasks(m, &q), "");
    q = (meta_query){ .limit = 2 };
    T_EQ_STR(tasks(m, &q), "t-a,t-b");
    q = (meta_query){ .limit = 2, .newest_first = 1, .user_id = "alice" };
    T_EQ_STR(tasks(m, &q), "t-d,t-c");
    q = (meta_query){ .task_name = "eval", .since = 3500, .newest_first = 1 };
    T_EQ_STR(tasks(m, &q), "t-e");
    /* file_name does not filter tasks; a callback's non-zero stops early. */
    struct ids c = { "", 0 };
    q = (meta_query){ 0 };
    T_EQ_INT(meta_tasks_find(m, &q, stop_cb, &c), 0);
    T_EQ_STR(c.s, "t-a");
    meta_close(m);
}

static void put_files(meta *m)
{
    /* task, user, name, time, files */
    file_rec *f = calloc(8, sizeof *f);
    T_CHECK(f != NULL);
    if (!f) return;
    mk_file(&f[0], "t-a", "alice", "train", 1000, "model.bin");
    mk_file(&f[1], "t-a", "alice", "train", 1000, "logs/out.txt");
    mk_file(&f[2], "t-a", "alice", "train", 1000, "a.txt");
    T_EQ_INT(meta_files_put(m, f, 3, NULL, 0), 0);
    mk_file(&f[0], "t-b", "alice", "eval", 2000, "score.json");
    mk_file(&f[1], "t-b", "alice", "eval", 2000, "model.bin");
    T_EQ_INT(meta_files_put(m, f, 2, NULL, 0), 0);
    mk_file(&f[0], "t-c", "bob", "train", 3000, "model.bin");
    T_EQ_INT(meta_files_put(m, f, 1, NULL, 0), 0);
    free(f);
}

static void test_files_queries(void)
{
    meta *m = fresh();
    T_CHECK(m != NULL);
    if (!m) return;
    put_files(m);
    meta_query q = { .task_id = "t-a" };
    T_EQ_STR(files(m, &q), "t-a/a.txt,t-a/logs/out.txt,t-a/model.bin");
    q = (meta_query){ .user_id = "alice" };
    T_EQ_STR(files(m, &q), "t-a/a.txt,t-a/logs/out.txt,t-a/model.bin,t-b/model.bin,t-b/score.json");
    q = (meta_query){ .user_id = "alice", .task_name = "eval" };
    T_EQ_STR(files(m, &q), "t-b/model.bin,t-b/score.json");
    q = (meta_query){ .task_name = "train", .newest_first = 1 };
    T_EQ_STR(files(m, &q), "t-c/model.bin,t-a/a.txt,t-a/logs/out.txt,t-a/model.bin");
    q = (meta_query){ .since = 2000, .until = 3001 };
    T_EQ_STR(files(m, &q), "t-b/model.bin,t-b/score.json,t-c/model.bin");
    q = (meta_query){ .file_name = "model.bin" };
    T_EQ_STR(files(m, &q), "t-a/model.bin,t-b/model.bin,t-c/model.bin");
    q = (meta_query){ .pattern = "ev*" };
    T_EQ_STR(files(m, &q), "t-b/model.bin,t-b/score.json");
    q = (meta_query){ .user_id = "alice", .limit = 4 };
    T_EQ_STR(files(m, &q), "t-a/a.txt,t-a/logs/out.txt,t-a/model.bin,t-b/model.bin");
    q = (meta_query){ .task_id = "t-zzz" };
    T_EQ_STR(files(m, &q), "");

    T_EQ_INT(meta_files_find(m, &q, NULL, NULL), META_E_ARG);
    meta_close(m);
}

static int copy_file_cb(void *ctx, const file_rec *f) { memcpy(ctx, f, sizeof *f); return 1; }

static void test_files_fields(void)
{
    meta *m = fresh();
    T_CHECK(m != NULL);
    if (!m) return;
    file_rec *f = calloc(2, sizeof *f);
    T_CHECK(f != NULL);
    if (f) {
        mk_file(&f[0], "t-x", "dora", "render", 77777, "deep/dir/frame 001.png");
        f[0].file_size = 1ull << 40;
        f[0].mode = 0755;
        T_EQ_INT(meta_files_put(m, f, 1, NULL, 0), 0);
        meta_query q = { .task_id = "t-x" };
        T_EQ_INT(meta_files_find(m, &q, copy_file_cb, &f[1]), 0);
        T_EQ_STR(f[1].task_id, "t-x");
        T_EQ_STR(f[1].user_id, "dora");
        T_EQ_STR(f[1].task_name, "render");
        T_EQ_STR(f[1].file_name, "deep/dir/frame 001.png");
        T_EQ_STR(f[1].file_path, f[0].file_path);
        T_EQ_INT(f[1].submitted_at, 77777);
        T_EQ_INT(f[1].stored_at, 78277);
        T_CHECK(f[1].file_size == 1ull << 40);
        T_EQ_INT(f[1].mode, 0755);
        T_CHECK(memcmp(f[1].sha256, f[0].sha256, 32) == 0);
    }
    free(f);
    meta_close(m);
}

/* Files of one task that disagree on submitted_at are each filtered and
 * ordered by their own time; the order survives a reopen (journal). */
static void test_files_mixed_time(void)
{
    meta *m = fresh();
    T_CHECK(m != NULL);
    if (!m) return;
    file_rec *f = calloc(3, sizeof *f);
    T_CHECK(f != NULL);
    if (f) {
        mk_file(&f[0], "t-m", "eve", "mix", 5000, "late");
        mk_file(&f[1], "t-m", "eve", "mix", 1000, "early");
        mk_file(&f[2], "t-n", "eve", "other", 3000, "mid");
        T_EQ_INT(meta_files_put(m, f, 3, NULL, 0), 0);
        meta_query q = { .since = 4000 };
        T_EQ_STR(files(m, &q), "t-m/late");
        q = (meta_query){ .until = 2000 };
        T_EQ_STR(files(m, &q), "t-m/early");
        q = (meta_query){ .since = 2000, .until = 4000 };
        T_EQ_STR(files(m, &q), "t-n/mid");
        q = (meta_query){ .user_id = "eve" };
        T_EQ_INT(strlen(files(m, &q)) > 0, 1);
    }
    free(f);
    meta_close(m);
}

static void test_files_idempotent(void)
{
    meta *m = fresh();
    T_CHECK(m != NULL);
    if (!m) return;
    put_files(m);
    put_files(m);
    meta_query q = { 0 };
    T_EQ_STR(files(m, &q), "t-a/a.txt,t-a/logs/out.txt,t-a/model.bin,t-b/model.bin,t-b/score.json,t-c/model.bin");
    /* A replacement changes the record, not the count. */
    file_rec *f = calloc(2, sizeof *f);
    T_CHECK(f != NULL);
    if (f) {
        mk_file(&f[0], "t-a", "alice", "train", 1000, "a.txt");
        f[0].file_size = 4242;
        mk_file(&f[1], "t-a", "alice", "train", 1000, "b.txt");
        T_EQ_INT(meta_files_put(m, f, 2, NULL, 0), 0);
        q = (meta_query){ .task_id = "t-a", .file_name = "a.txt" };
        memset(&f[1], 0, sizeof f[1]);
        T_EQ_INT(meta_files_find(m, &q, copy_file_cb, &f[1]), 0);
        T_EQ_INT(f[1].file_size, 4242);
        q = (meta_query){ .task_id = "t-a" };
        T_EQ_STR(files(m, &q), "t-a/a.txt,t-a/b.txt,t-a/logs/out.txt,t-a/model.bin");
    }
    free(f);
    T_EQ_INT(meta_files_put(m, NULL, 0, NULL, 0), 0);
    meta_close(m);
}

static void test_files_delete(void)
{
    meta *m = fresh();
    T_CHECK(m != NULL);
    if (!m) return;
    put_files(m);
    T_EQ_INT(meta_files_delete(m, "t-a", NULL, 0), 0);
    meta_query q = { 0 };
    T_EQ_STR(files(m, &q), "t-b/model.bin,t-b/score.json,t-c/model.bin");
    T_EQ_INT(meta_files_delete(m, "t-a", NULL, 0), 0);    /* nothing left: still fine */
    T_EQ_INT(meta_files_delete(m, "t-none", NULL, 0), 0);
    q = (meta_query){ .task_id = "t-a" };
    T_EQ_STR(files(m, &q), "");
    put_files(m);                                          /* and back */
    q = (meta_query){ .user_id = "alice" };
    T_EQ_STR(files(m, &q), "t-a/a.txt,t-a/logs/out.txt,t-a/model.bin,t-b/model.bin,t-b/score.json");
    meta_close(m);
}

static int worker_cb(void *ctx, const worker_rec *w)
{
    char s[400];
    snprintf(s, sizeof s, "%s@%s:%s:%llu", w->worker_id, w->address, w->state,
             (unsigned long long)w->free_memory);
    return add_id(ctx, s);
}

static void test_workers(void)
{
    meta *m = fresh();
    T_CHECK(m != NULL);
    if (!m) return;
    worker_rec w;
    memset(&w, 0, sizeof w);
    snprintf(w.worker_id, sizeof w.worker_id, "w2");
    snprintf(w.address, sizeof w.address, "10.0.0.2:7001");
    snprintf(w.state, sizeof w.state, "ready");
    w.cpu = 8; w.memory = 1000; w.free_memory = 900; w.last_seen = 12345;
    T_EQ_INT(meta_worker_put(m, &w, NULL, 0), 0);
    snprintf(w.worker_id, sizeof w.worker_id, "w1");
    snprintf(w.address, sizeof w.address, "10.0.0.1:7001");
    T_EQ_INT(meta_worker_put(m, &w, NULL, 0), 0);
    snprintf(w.state, sizeof w.state, "lost");
    w.free_memory = 5;
    T_EQ_INT(meta_worker_put(m, &w, NULL, 0), 0);
    struct ids c = { "", 0 };
    T_EQ_INT(meta_workers_list(m, worker_cb, &c), 0);
    T_EQ_STR(c.s, "w1@10.0.0.1:7001:lost:5,w2@10.0.0.2:7001:ready:900");
    meta_close(m);
}

static int count_cb(void *ctx, const file_rec *f) { (*(size_t *)ctx)++; return 0; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_files_put_rate(void)
{
    enum { N = 10000 };
    meta *m = fresh();
    T_CHECK(m != NULL);
    if (!m) return;
    file_rec *f = malloc(N * sizeof *f);
    T_CHECK(f != NULL);
    if (f) {
        for (int i = 0; i < N; i++) {
            char name[64];
            snprintf(name, sizeof name, "out/part-%05d.dat", i);
            mk_file(&f[i], "t-big", "alice", "big", 9000, name);
        }
        double t0 = now_s();
        T_EQ_INT(meta_files_put(m, f, N, NULL, 0), 0);
        double dt = now_s() - t0;
        printf("# files_put (%s): %.0f records/s (%d in %.3f s)\n", backend,
               dt > 0 ? N / dt : 0.0, N, dt);
        T_EQ_INT(meta_files_put(m, f, N, NULL, 0), 0);     /* idempotent at scale too */
        size_t n = 0;
        meta_query q = { .user_id = "alice" };
        T_EQ_INT(meta_files_find(m, &q, count_cb, &n), 0);
        T_EQ_INT(n, N);
    }
    free(f);
    meta_close(m);
}

/* Writers and readers at once: nothing lost, nothing torn. */
struct worker_arg { meta *m; int id, bad; };

static int count_task_cb(void *ctx, const task_rec *t)
{
    (*(size_t *)ctx)++;
    return strncmp(t->task_id, "c-", 2) != 0;   /* a torn record would stop */
}

static void *writer(void *p)
{
    struct worker_arg *a = p;
    file_rec *f = calloc(2, sizeof *f);
    for (int i = 0; f && i < 50; i++) {
        task_rec t;
        char id[32], name[32];
        snprintf(id, sizeof id, "c-%d-%02d", a->id, i);
        snprintf(name, sizeof name, "n%d", i);
        mk_task(&t, id, "conc", name, (uint64_t)(i * 10 + a->id), PROTO_ST_QUEUED);
        if (meta_task_put(a->m, &t, NULL, 0) != 0) a->bad++;
        task_rec_free(&t);
        mk_file(&f[0], id, "conc", name, (uint64_t)(i * 10 + a->id), "a");
        mk_file(&f[1], id, "conc", name, (uint64_t)(i * 10 + a->id), "b");
        if (meta_files_put(a->m, f, 2, NULL, 0) != 0) a->bad++;
    }
    free(f);
    return NULL;
}

static void *reader(void *p)
{
    struct worker_arg *a = p;
    for (int i = 0; i < 100; i++) {
        size_t n = 0, nf = 0;
        meta_query q = { .user_id = "conc", .newest_first = i & 1 };
        if (meta_tasks_find(a->m, &q, count_task_cb, &n) != 0) a->bad++;
        if (meta_files_find(a->m, &q, count_cb, &nf) != 0) a->bad++;
    }
    return NULL;
}

static void test_concurrent(void)
{
    meta *m = fresh();
    T_CHECK(m != NULL);
    if (!m) return;
    pthread_t th[6];
    struct worker_arg a[6];
    for (int i = 0; i < 6; i++) {
        a[i] = (struct worker_arg){ m, i, 0 };
        T_EQ_INT(pthread_create(&th[i], NULL, i < 4 ? writer : reader, &a[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        T_EQ_INT(a[i].bad, 0);
    }
    size_t n = 0, nf = 0;
    meta_query q = { .user_id = "conc" };
    T_EQ_INT(meta_tasks_find(m, &q, count_task_cb, &n), 0);
    T_EQ_INT(meta_files_find(m, &q, count_cb, &nf), 0);
    T_EQ_INT(n, 200);
    T_EQ_INT(nf, 400);
    meta_close(m);
}

static void test_restart(void)
{
    char err[256] = "";
    uint64_t dropped = 99;
    meta *m = fresh();
    T_CHECK(m != NULL);
    if (!m) return;
    const char *dir = tmpdirs[ntmp - 1];
    put_six(m);
    put_files(m);
    T_EQ_INT(meta_files_delete(m, "t-c", NULL, 0), 0);
    worker_rec w;
    memset(&w, 0, sizeof w);
    snprintf(w.worker_id, sizeof w.worker_id, "w1");
    snprintf(w.state, sizeof w.state, "ready");
    T_EQ_INT(meta_worker_put(m, &w, NULL, 0), 0);
    task_rec t;
    mk_task(&t, "t-b", "bob", "train-2", 2000, PROTO_ST_CANCELLED);
    T_EQ_INT(meta_task_put(m, &t, NULL, 0), 0);
    task_rec_free(&t);
    meta_close(m);

    m = meta_open_journal(dir, 0, &dropped, err, sizeof err);
    T_CHECK(m != NULL);
    if (!m) { printf("#   reopen: %s\n", err); return; }
    T_EQ_INT(dropped, 0);
    meta_query q = { 0 };
    T_EQ_STR(tasks(m, &q), "t-a,t-b,t-c,t-d,t-e,t-f");
    q.status = PROTO_ST_CANCELLED;
    T_EQ_STR(tasks(m, &q), "t-b");
    q = (meta_query){ 0 };
    T_EQ_STR(files(m, &q), "t-a/a.txt,t-a/logs/out.txt,t-a/model.bin,t-b/model.bin,t-b/score.json");
    struct ids c = { "", 0 };
    T_EQ_INT(meta_workers_list(m, worker_cb, &c), 0);
    T_EQ_STR(c.s, "w1@:ready:0");
    meta_close(m);
}

struct gc_arg { meta *m; int id; int bad; };

static void *gc_writer(void *p)
{
    struct gc_arg *a = p;
    for (int i = 0; i < 50; i++) {
        task_rec t;
        char id[32];
        snprintf(id, sizeof id, "c-gc-%d-%02d", a->id, i);
        mk_task(&t, id, "gc", "group", 5000 + (uint64_t)i, PROTO_ST_RUNNING);
        if (meta_task_put_nosync(a->m, &t, NULL, 0) != 0) a->bad++;
        if (meta_sync(a->m, NULL, 0) != 0) a->bad++;
        task_rec_free(&t);
    }
    return NULL;
}

/* Group commit: changes appended without sync by four threads, each
 * followed by meta_sync, are on disk without a close: a copy of the files
 * taken while the store is still open (a crash) replays all of them. */
static void test_group_commit(void)
{
    char err[256] = "", cmd[1024];
    uint64_t dropped = 0;
    meta *m = fresh();
    T_CHECK(m != NULL);
    if (!m) return;
    const char *dir = tmpdirs[ntmp - 1];
    pthread_t th[4];
    struct gc_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct gc_arg){ m, i, 0 };
        T_EQ_INT(pthread_create(&th[i], NULL, gc_writer, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        T_EQ_INT(a[i].bad, 0);
    }
    char copy[] = "/tmp/test_meta_gc.XXXXXX";
    T_CHECK(mkdtemp(copy) != NULL);
    snprintf(cmd, sizeof cmd, "cp -a %s/. %s/", dir, copy);
    T_EQ_INT(system(cmd), 0);
    meta *c = meta_open_journal(copy, 0, &dropped, err, sizeof err);
    T_CHECK(c != NULL);
    if (c) {
        size_t n = 0;
        meta_query q = { .user_id = "gc" };
        T_EQ_INT(meta_tasks_find(c, &q, count_task_cb, &n), 0);
        T_EQ_INT(n, 200);
        meta_close(c);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", copy);
    T_EQ_INT(system(cmd), 0);
    meta_close(m);
}

/* The store's directory is flat: its files, then itself. */
static void rm_flat(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[256];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < sizeof p) unlink(p);
    }
    if (d) closedir(d);
    if (rmdir(dir) < 0) printf("#   cleanup of %s failed\n", dir);
}

static void run_all(void)
{
    printf("# backend: %s\n", backend);
    T_RUN(test_task_put_get_replace);
    T_RUN(test_tasks_query);
    T_RUN(test_files_queries);
    T_RUN(test_files_fields);
    T_RUN(test_files_mixed_time);
    T_RUN(test_files_idempotent);
    T_RUN(test_files_delete);
    T_RUN(test_workers);
    T_RUN(test_files_put_rate);
    T_RUN(test_concurrent);
    if (!strcmp(backend, "journal")) T_RUN(test_restart);
    if (!strcmp(backend, "journal")) T_RUN(test_group_commit);
}

int main(void)
{
    backend = "journal";
    run_all();
    /* Before the MongoDB run, so a hang or crash there leaves no dirs. */
    for (int i = 0; i < ntmp; i++) rm_flat(tmpdirs[i]);
    ntmp = 0;
    if (getenv("CLOUDAI_TEST_MONGO_URI") && *getenv("CLOUDAI_TEST_MONGO_URI")) {
        backend = "mongodb";
        run_all();
    } else {
        printf("skip - mongo: CLOUDAI_TEST_MONGO_URI not set\n");
    }
    return T_DONE();
}
