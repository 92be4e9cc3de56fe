/* test_cluster.c — the cluster's state machine with a fake clock and a
 * real journal store: submit, assign (the ASSIGN frame read from the
 * worker's end of a socketpair), running, a lost worker's task re-queued,
 * max attempts, cancel (queued and running), upload begin / done / failed
 * (transient and permanent), every acknowledged change in the store; and
 * a failed write (journal write hook: disk full) written again by the
 * store writer once the disk works, without another change; and
 * a stalled fsync (journal sync hook held shut) that blocks neither
 * heartbeats, nor listings, nor a worker's registration. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "fsutil.h"
#include "ids.h"
#include "log.h"
#include "master/cluster.h"
#include "master/journal.h"
#include "master/storeread.h"
#include "net.h"
#include "t.h"

#define T0 1700000000000ull

static char root[256];
static config cfg;
static meta *m;
static cluster *cl;
static uint64_t fake_now;

static uint64_t fake_clock(void *ctx) { return fake_now; }

typedef struct wk {
    conn *c;
    int peer;           /* the worker's end */
    frame_reader rd;
} wk;

static void setup(int max_attempts)
{
    char err[256];
    snprintf(root, sizeof root, "/tmp/test_cluster.XXXXXX");
    if (!mkdtemp(root)) abort();
    config_defaults(&cfg);
    snprintf(cfg.files_dir, sizeof cfg.files_dir, "%s/files", root);
    snprintf(cfg.meta_dir, sizeof cfg.meta_dir, "%s/meta", root);
    cfg.heartbeat_timeout_s = 10;
    cfg.max_attempts = max_attempts;
    fsutil_mkdir_p(cfg.meta_dir, 0700);
    uint64_t dropped = 0;
    if (!(m = meta_open_journal(cfg.meta_dir, 0, &dropped, err, sizeof err))) {
        printf("# %s\n", err);
        abort();
    }
    if (!(cl = cluster_new(&cfg, m, err, sizeof err))) {
        printf("# %s\n", err);
        abort();
    }
    fake_now = T0;
    cluster_set_clock(cl, fake_clock, NULL);
}

static void teardown(void)
{
    storeread_drain();
    cluster_free(cl);
    meta_close(m);
    fsutil_rm_rf(root);
}

/* A worker connection that registers as id with cpu cores, reporting the
 * running ids (their attempts: att, or NULL for an older worker). */
static void wk_open_running(wk *w, const char *id, double cpu, char **running, const uint64_t *att, size_t n)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) abort();
    w->c = conn_new(sv[0], id, 1000);
    w->peer = sv[1];
    frame_reader_init(&w->rd, PROTO_PAYLOAD_MAX);
    worker_rec r;
    memset(&r, 0, sizeof r);
    snprintf(r.worker_id, sizeof r.worker_id, "%s", id);
    r.cpu = cpu;
    r.memory = 4ull << 30;
    r.storage = 4ull << 30;
    if (cluster_worker_register(cl, w->c, &r, running, att, n, NULL, 0) != 0) abort();
}

static void wk_open(wk *w, const char *id, double cpu) { wk_open_running(w, id, cpu, NULL, NULL, 0); }

static void wk_close(wk *w)
{
    cluster_worker_gone(cl, w->c->node_id[0] ? w->c->node_id : w->c->peer, w->c);
    conn_unref(w->c);
    close(w->peer);
    frame_reader_free(&w->rd);
}

static uint64_t last_attempts;    /* ATTEMPTS of the last frame wk_recv read (0: none) */

/* The next frame the master sent this worker: its type and TASK_ID. */
static int wk_recv(wk *w, char *task_id, size_t cap)
{
    proto_msg msg;
    if (frame_read(w->peer, &w->rd, &msg, 2000, 2000) < 0) return -1;
    task_id[0] = 0;
    last_attempts = 0;
    if (msg.type == PROTO_ASSIGN) {
        proto_field f;
        size_t it = 0;
        if (proto_next(&msg, T_TASK, &it, &f)) {
            proto_msg sub;
            proto_rec_open(&f, &sub);
            proto_str(&sub, T_TASK_ID, task_id, cap);
            proto_u64(&sub, T_ATTEMPTS, &last_attempts);
        }
    } else {
        proto_str(&msg, T_TASK_ID, task_id, cap);
        proto_u64(&msg, T_ATTEMPTS, &last_attempts);
    }
    return msg.type;
}

static int submit(const char *name, double cpu, task_rec *out)
{
    task_rec t;
    char err[256] = "";
    task_rec_init(&t);
    task_rec_init(out);
    snprintf(t.docker_image, sizeof t.docker_image, "img");
    snprintf(t.task_name, sizeof t.task_name, "%s", name);
    t.req_cpu = cpu;
    t.req_memory = 1 << 20;
    int rc = cluster_submit(cl, &t, "alice", err, sizeof err, out);
    if (rc) printf("# submit: %d %s\n", rc, err);
    task_rec_free(&t);
    return rc;
}

/* The task's record in the store once every queued write has landed. */
static int stored(const char *id, task_rec *r)
{
    char err[256] = "";
    task_rec_init(r);
    if (cluster_store_wait(cl, err, sizeof err) != 0) printf("# store wait: %s\n", err);
    return meta_task_get(m, id, r);
}

static int stored_status(const char *id)
{
    task_rec r;
    int st = stored(id, &r) == 0 ? r.status : -1;
    task_rec_free(&r);
    return st;
}

/* A run's end as its worker reports it: the result, then an empty upload.
 * The task's status in the store after. */
static int end_run(const char *id, uint64_t attempt, int status, int64_t code, const char *error)
{
    task_rec r;
    char err[256];
    cluster_task_result(cl, "w1", id, attempt, status, code, 0, 0, error, NULL);
    task_rec_init(&r);
    T_EQ_INT(cluster_upload_begin(cl, "w1", id, attempt, &r, err, sizeof err), 0);
    task_rec_free(&r);
    T_EQ_INT(cluster_upload_done(cl, id, 0, 0, NULL, err, sizeof err), 0);
    return stored_status(id);
}

/* A fresh cluster (3 attempts), worker w1 with cpu cores, and one task
 * of 1 core submitted by alice and assigned there. */
static void start_one(wk *w, double cpu, const char *name, task_rec *t)
{
    char id[64];
    setup(3);
    wk_open(w, "w1", cpu);
    T_EQ_INT(submit(name, 1, t), 0);
    T_EQ_INT(wk_recv(w, id, sizeof id), PROTO_ASSIGN);
    T_EQ_STR(id, t->task_id);
}

struct find { const char *id; task_rec r; int found; };
static int find_cb(void *ctx, const task_rec *t)
{
    struct find *f = ctx;
    if (strcmp(t->task_id, f->id)) return 0;
    f->found = 1;
    task_rec_copy(&f->r, t);
    return 1;
}

typedef struct recs_count_ctx { const char *array_id; int assigned, queued; } recs_count_ctx;
static int arr_count_cb(void *ctx, const task_rec *t)
{
    recs_count_ctx *c = ctx;
    if (strcmp(t->array_id, c->array_id)) return 0;
    if (t->status == PROTO_ST_ASSIGNED || t->status == PROTO_ST_RUNNING) c->assigned++;
    if (t->status == PROTO_ST_QUEUED) c->queued++;
    return 0;
}

/* The task as the cluster holds it in memory. */
static int active(const char *id, task_rec *r)
{
    meta_query q;
    struct find f;
    memset(&q, 0, sizeof q);
    memset(&f, 0, sizeof f);
    f.id = id;
    task_rec_init(&f.r);
    cluster_tasks_active(cl, &q, find_cb, &f);
    *r = f.r;
    return f.found ? 0 : -1;
}

struct wfind { const char *id; worker_rec w; int found; };
static int wfind_cb(void *ctx, const worker_rec *w)
{
    struct wfind *f = ctx;
    if (!strcmp(w->worker_id, f->id)) { f->w = *w; f->found = 1; }
    return 0;
}

static void worker_state(const char *id, char *state, size_t cap)
{
    struct wfind f;
    memset(&f, 0, sizeof f);
    f.id = id;
    cluster_workers(cl, wfind_cb, &f);
    snprintf(state, cap, "%s", f.found ? f.w.state : "(none)");
}

static void test_submit_assign_run_complete(void)
{
    wk w;
    task_rec t, r;
    char id[64], err[256];
    setup(3);
    wk_open(&w, "w1", 2);
    T_EQ_INT(submit("job", 1, &t), 0);
    T_EQ_INT(t.status, PROTO_ST_ASSIGNED);
    T_EQ_STR(t.worker_id, "w1");
    T_EQ_INT(t.submitted_at, T0);
    T_EQ_INT(wk_recv(&w, id, sizeof id), PROTO_ASSIGN);
    T_EQ_STR(id, t.task_id);
    T_EQ_INT(stored_status(t.task_id), PROTO_ST_ASSIGNED);

    fake_now += 1000;
    cluster_task_status(cl, "w1", t.task_id, 0, PROTO_ST_RUNNING, "");
    T_EQ_INT(active(t.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_RUNNING);
    T_EQ_INT(r.started_at, T0 + 1000);
    task_rec_free(&r);
    /* Another worker's report is ignored. */
    cluster_task_status(cl, "w2", t.task_id, 0, PROTO_ST_QUEUED, "");
    T_EQ_INT(stored_status(t.task_id), PROTO_ST_RUNNING);

    fake_now += 1000;
    cluster_task_result(cl, "w1", t.task_id, 0, PROTO_ST_COMPLETED, 0, 0, 0, "", NULL);
    T_EQ_INT(stored_status(t.task_id), PROTO_ST_UPLOADING);
    T_EQ_INT(cluster_upload_begin(cl, "w2", t.task_id, 0, &r, err, sizeof err), CAI_E_WIRE(PROTO_ERR_FORBIDDEN));
    task_rec_init(&r);
    T_EQ_INT(cluster_upload_begin(cl, "w1", t.task_id, 0, &r, err, sizeof err), 0);
    task_rec_free(&r);
    /* A transient failure keeps it uploading, and says why. */
    cluster_upload_failed(cl, t.task_id, "store full", 0);
    T_EQ_INT(stored(t.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_UPLOADING);
    T_CHECK(strstr(r.error, "store full") != NULL);
    task_rec_free(&r);
    fake_now += 1000;
    /* FILE_ACK may follow: the final record is in the store on return. */
    T_EQ_INT(cluster_upload_done(cl, t.task_id, 3, 300, NULL, err, sizeof err), 0);
    T_EQ_INT(meta_task_get(m, t.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_COMPLETED);
    T_EQ_INT(r.output_files, 3);
    T_EQ_INT(r.completed_at, T0 + 3000);
    task_rec_free(&r);
    task_rec_init(&r);
    T_EQ_INT(cluster_upload_begin(cl, "w1", t.task_id, 0, &r, err, sizeof err), CLUSTER_STORED);
    task_rec_free(&r);
    T_CHECK(active(t.task_id, &r) < 0);
    task_rec_free(&r);
    task_rec_free(&t);
    wk_close(&w);
    teardown();
}

/* A write nobody waits for (here a RUNNING) still reaches the store on
 * its own, a lag later (WRITE_LAG_MS), with no committer to hurry it. */
static void test_unwaited_write_lands(void)
{
    wk w;
    task_rec t, r;
    start_one(&w, 2, "job", &t);
    cluster_task_status(cl, "w1", t.task_id, 0, PROTO_ST_RUNNING, "");
    int st = -1;
    for (int i = 0; i < 300 && st != PROTO_ST_RUNNING; i++) {   /* 3 s at most */
        task_rec_init(&r);
        if (meta_task_get(m, t.task_id, &r) == 0) st = r.status;
        task_rec_free(&r);
        if (st != PROTO_ST_RUNNING) usleep(10000);
    }
    T_EQ_INT(st, PROTO_ST_RUNNING);
    task_rec_free(&t);
    wk_close(&w);
    teardown();
}

static void test_lost_worker_requeue_and_max_attempts(void)
{
    wk w1, w2;
    task_rec t, r;
    char id[64], st[32];
    setup(2);
    wk_open(&w1, "w1", 1);
    T_EQ_INT(submit("job", 1, &t), 0);
    T_EQ_INT(wk_recv(&w1, id, sizeof id), PROTO_ASSIGN);
    /* Heartbeats keep it: 9 s silent, a heartbeat, 9 s more. */
    fake_now += 9000;
    cluster_worker_heartbeat(cl, "w1", NULL);
    fake_now += 9000;
    cluster_tick(cl);
    worker_state("w1", st, sizeof st);
    T_EQ_STR(st, "ready");
    /* 11 s silent: lost, its task back in the queue (attempt 1 of 2). */
    fake_now += 11000;
    cluster_tick(cl);
    worker_state("w1", st, sizeof st);
    T_EQ_STR(st, "lost");
    T_EQ_INT(active(t.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_QUEUED);
    T_EQ_INT(r.attempts, 1);
    T_EQ_STR(r.error, "waiting for a worker (none connected)");
    task_rec_free(&r);
    T_EQ_INT(stored_status(t.task_id), PROTO_ST_QUEUED);
    /* A late heartbeat does not revive a lost worker. */
    cluster_worker_heartbeat(cl, "w1", NULL);
    worker_state("w1", st, sizeof st);
    T_EQ_STR(st, "lost");

    wk_open(&w2, "w2", 1);
    cluster_tick(cl);
    T_EQ_INT(wk_recv(&w2, id, sizeof id), PROTO_ASSIGN);
    T_EQ_STR(id, t.task_id);
    fake_now += 11000;
    cluster_tick(cl);
    T_EQ_INT(stored(t.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_FAILED);
    T_EQ_INT(r.attempts, 2);
    T_CHECK(strstr(r.error, "gave up after 2 attempts") != NULL);
    task_rec_free(&r);
    task_rec_free(&t);
    wk_close(&w1);
    wk_close(&w2);
    teardown();
}

static void test_cancel(void)
{
    wk w;
    task_rec a, b, r;
    char id[64], err[256];
    setup(3);
    wk_open(&w, "w1", 1);
    T_EQ_INT(submit("a", 1, &a), 0);
    T_EQ_INT(wk_recv(&w, id, sizeof id), PROTO_ASSIGN);
    T_EQ_INT(submit("b", 1, &b), 0);          /* no room: stays queued */
    T_EQ_INT(b.status, PROTO_ST_QUEUED);
    /* Another user cannot see it; the owner cancels it from the queue. */
    T_EQ_INT(cluster_cancel(cl, b.task_id, "mallory", 0, err, sizeof err), CAI_E_WIRE(PROTO_ERR_NOT_FOUND));
    T_EQ_INT(cluster_cancel(cl, b.task_id, "alice", 0, err, sizeof err), 0);
    T_EQ_INT(meta_task_get(m, b.task_id, &r), 0);      /* durable on return */
    T_EQ_INT(r.status, PROTO_ST_CANCELLED);
    task_rec_free(&r);
    T_EQ_INT(cluster_cancel(cl, b.task_id, "alice", 0, err, sizeof err), CAI_E_WIRE(PROTO_ERR_STATE));
    /* A running task: CANCEL goes to its worker; its result is "cancelled". */
    cluster_task_status(cl, "w1", a.task_id, 0, PROTO_ST_RUNNING, "");
    T_EQ_INT(cluster_cancel(cl, a.task_id, "alice", 0, err, sizeof err), 0);
    T_EQ_INT(wk_recv(&w, id, sizeof id), PROTO_CANCEL);
    T_EQ_STR(id, a.task_id);
    cluster_task_result(cl, "w1", a.task_id, 0, PROTO_ST_FAILED, 137, 0, 0, "killed", NULL);
    T_EQ_INT(cluster_upload_done(cl, a.task_id, 0, 0, NULL, err, sizeof err), 0);
    T_EQ_INT(meta_task_get(m, a.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_CANCELLED);
    T_CHECK(strstr(r.error, "cancelled by alice") != NULL);
    task_rec_free(&r);
    task_rec_free(&a);
    task_rec_free(&b);
    wk_close(&w);
    teardown();
}

/* A worker lost mid-run comes back still running attempt 1, and gets
 * attempt 2 of the same task: the reconciliation CANCEL names no attempt
 * (whatever runs there now), everything after names its attempt, and
 * attempt 1's late reports (result, upload) change nothing. */
static void test_superseded_attempt(void)
{
    wk w, w2;
    task_rec t, r;
    char id[64], err[256], *running[1];
    setup(3);
    wk_open(&w, "w1", 1);
    T_EQ_INT(submit("job", 1, &t), 0);
    T_EQ_INT(wk_recv(&w, id, sizeof id), PROTO_ASSIGN);
    T_EQ_INT(last_attempts, 1);
    cluster_task_status(cl, "w1", t.task_id, 1, PROTO_ST_RUNNING, "");
    fake_now += 11000;
    cluster_tick(cl);                       /* lost: queued again */
    T_EQ_INT(stored_status(t.task_id), PROTO_ST_QUEUED);
    wk_close(&w);
    /* Back, with attempt 1 still running. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) abort();
    w2.c = conn_new(sv[0], "w1", 1000);
    w2.peer = sv[1];
    frame_reader_init(&w2.rd, PROTO_PAYLOAD_MAX);
    worker_rec wr;
    memset(&wr, 0, sizeof wr);
    snprintf(wr.worker_id, sizeof wr.worker_id, "w1");
    wr.cpu = 1;
    wr.memory = wr.storage = 4ull << 30;
    running[0] = t.task_id;
    T_EQ_INT(cluster_worker_register(cl, w2.c, &wr, running, NULL, 1, NULL, 0), 0);
    T_EQ_INT(wk_recv(&w2, id, sizeof id), PROTO_CANCEL);
    T_EQ_STR(id, t.task_id);
    T_EQ_INT(last_attempts, 0);             /* any attempt running there now */
    cluster_tick(cl);
    T_EQ_INT(wk_recv(&w2, id, sizeof id), PROTO_ASSIGN);
    T_EQ_INT(last_attempts, 2);
    /* Attempt 1's late reports are ignored. */
    cluster_task_status(cl, "w1", t.task_id, 1, PROTO_ST_RUNNING, "");
    cluster_task_result(cl, "w1", t.task_id, 1, PROTO_ST_CANCELLED, 143, 0, 0, "cancelled", NULL);
    T_EQ_INT(active(t.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_ASSIGNED);
    T_EQ_INT(r.attempts, 2);
    task_rec_free(&r);
    task_rec_init(&r);
    T_EQ_INT(cluster_upload_begin(cl, "w1", t.task_id, 1, &r, err, sizeof err), CAI_E_WIRE(PROTO_ERR_FORBIDDEN));
    T_CHECK(strstr(err, "superseded by attempt 2") != NULL);
    task_rec_free(&r);
    /* A cancel now names attempt 2. */
    cluster_task_status(cl, "w1", t.task_id, 2, PROTO_ST_RUNNING, "");
    T_EQ_INT(cluster_cancel(cl, t.task_id, "alice", 0, err, sizeof err), 0);
    T_EQ_INT(wk_recv(&w2, id, sizeof id), PROTO_CANCEL);
    T_EQ_INT(last_attempts, 2);
    /* Attempt 2's own result is taken. */
    T_EQ_INT(end_run(t.task_id, 2, PROTO_ST_CANCELLED, 143, "cancelled"), PROTO_ST_CANCELLED);
    task_rec_free(&t);
    wk_close(&w2);
    teardown();
}

/* A worker back with two attempts of one task, the current one and an
 * older one still stopping there, says which is which (RUNNING_ATTEMPT):
 * only the older one is cancelled, by its number; the current one stays. */
static int wk_quiet(wk *w, int ms)
{
    struct pollfd p = { .fd = w->peer, .events = POLLIN };
    return poll(&p, 1, ms) == 0;
}

static void test_register_attempts(void)
{
    wk w, w2, w3;
    task_rec t, r;
    char id[64], *running[2];
    uint64_t att[2];
    setup(3);
    wk_open(&w, "w1", 1);
    T_EQ_INT(submit("job", 1, &t), 0);
    T_EQ_INT(wk_recv(&w, id, sizeof id), PROTO_ASSIGN);
    cluster_task_status(cl, "w1", t.task_id, 1, PROTO_ST_RUNNING, "");
    fake_now += 11000;
    cluster_tick(cl);                       /* lost: queued again */
    wk_close(&w);
    running[0] = t.task_id;
    att[0] = 1;
    wk_open_running(&w2, "w1", 1, running, att, 1);
    T_EQ_INT(wk_recv(&w2, id, sizeof id), PROTO_CANCEL);
    T_EQ_INT(last_attempts, 1);             /* named: only attempt 1 stops */
    cluster_tick(cl);
    T_EQ_INT(wk_recv(&w2, id, sizeof id), PROTO_ASSIGN);
    T_EQ_INT(last_attempts, 2);
    cluster_task_status(cl, "w1", t.task_id, 2, PROTO_ST_RUNNING, "");
    /* The connection drops (not lost) and the worker comes back running
     * both: attempt 1 still stopping, attempt 2 the current one. */
    wk_close(&w2);
    running[1] = t.task_id;
    att[1] = 2;
    wk_open_running(&w3, "w1", 1, running, att, 2);
    T_EQ_INT(wk_recv(&w3, id, sizeof id), PROTO_CANCEL);
    T_EQ_STR(id, t.task_id);
    T_EQ_INT(last_attempts, 1);
    T_CHECK(wk_quiet(&w3, 300));            /* nothing for attempt 2 */
    T_EQ_INT(active(t.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_RUNNING);
    T_EQ_INT(r.attempts, 2);
    task_rec_free(&r);
    /* Back again with attempt 2 alone: kept, nothing sent. */
    wk_close(&w3);
    wk_open_running(&w3, "w1", 1, running + 1, att + 1, 1);
    T_CHECK(wk_quiet(&w3, 300));
    T_EQ_INT(active(t.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_RUNNING);
    task_rec_free(&r);
    /* Back with attempt 1 alone (attempt 2 died with the worker): 1 is
     * cancelled and the task placed again, not taken as still running. */
    wk_close(&w3);
    wk_open_running(&w3, "w1", 1, running, att, 1);
    T_EQ_INT(wk_recv(&w3, id, sizeof id), PROTO_CANCEL);
    T_EQ_INT(last_attempts, 1);
    T_EQ_INT(active(t.task_id, &r), 0);
    T_CHECK(r.status == PROTO_ST_QUEUED || r.attempts == 3);
    task_rec_free(&r);
    task_rec_free(&t);
    wk_close(&w3);
    teardown();
}

/* WAIT's core: an ended task is marked at once, an active one only when
 * it ends (the wait wakes on the end, not at its deadline). */
static void *cancel_later(void *arg)
{
    char err[256];
    usleep(200000);
    cluster_cancel(cl, arg, "alice", 0, err, sizeof err);
    return NULL;
}

static void test_wait_ended(void)
{
    task_rec a, b, c;
    char err[256], done[5] = { 0 };
    cluster_wait w;
    setup(3);
    T_EQ_INT(submit("a", 1, &a), 0);       /* no worker: all stay queued */
    T_EQ_INT(submit("b", 1, &b), 0);
    T_EQ_INT(submit("c", 1, &c), 0);
    T_EQ_INT(cluster_cancel(cl, c.task_id, "alice", 0, err, sizeof err), 0);   /* ended before */
    char *ids[5] = { a.task_id, b.task_id, "task-never", a.task_id, c.task_id };
    T_EQ_INT(cluster_wait_init(&w, ids, done, 5), 0);
    T_EQ_INT(done[3], 2);                  /* a repeat, reported once */
    T_EQ_INT(cluster_wait_ended(cl, &w, 0), 2);   /* the unknown one, the ended one */
    T_EQ_INT(done[2], 1);
    T_EQ_INT(done[4], 1);
    T_EQ_INT(cluster_wait_ended(cl, &w, 50), 0);
    T_EQ_INT(cluster_cancel(cl, a.task_id, "alice", 0, err, sizeof err), 0);
    T_EQ_INT(cluster_wait_ended(cl, &w, 0), 1);   /* from the ends logged since */
    T_EQ_INT(done[0], 1);
    T_EQ_INT(w.fresh[0], 0);
    T_EQ_INT(done[1], 0);
    T_EQ_INT(done[3], 2);
    pthread_t th;
    pthread_create(&th, NULL, cancel_later, b.task_id);
    T_EQ_INT(cluster_wait_ended(cl, &w, 20000), 1);   /* woken by the end */
    T_EQ_INT(done[1], 1);
    T_EQ_INT(w.fresh[0], 1);
    pthread_join(th, NULL);
    cluster_wait_free(&w);
    task_rec_free(&a);
    task_rec_free(&b);
    task_rec_free(&c);
    teardown();
}

static int submit_after(const char *name, const char *after, const char *after_any, task_rec *out)
{
    task_rec t;
    char err[256] = "";
    task_rec_init(&t);
    task_rec_init(out);
    snprintf(t.docker_image, sizeof t.docker_image, "img");
    snprintf(t.task_name, sizeof t.task_name, "%s", name);
    t.req_cpu = 1;
    t.req_memory = 1 << 20;
    task_rec_set_str(&t.after, after);
    task_rec_set_str(&t.after_any, after_any);
    int rc = cluster_submit(cl, &t, "alice", err, sizeof err, out);
    task_rec_free(&t);
    return rc;
}

/* -after / -after-any: a dependent waits with its reason, a broken -after
 * fails it (and its dependents, one scheduler pass each), -after-any is
 * freed by any end, an unknown id is refused, a dependency ended before
 * the submit is judged at once. */
static void test_dependencies(void)
{
    task_rec a, b, c, d, e, r;
    char err[256];
    setup(3);
    T_EQ_INT(submit("a", 1, &a), 0);                  /* no worker: queued */
    T_EQ_INT(submit_after("b", a.task_id, NULL, &b), 0);
    T_EQ_INT(submit_after("c", NULL, a.task_id, &c), 0);
    T_EQ_INT(submit_after("d", b.task_id, NULL, &d), 0);
    T_CHECK(strstr(b.error, "waiting for") && strstr(b.error, "to complete"));
    T_CHECK(strstr(c.error, "to end") != NULL);
    T_EQ_INT(submit_after("x", "task-nope", NULL, &e), CAI_E_WIRE(PROTO_ERR_NOT_FOUND));
    task_rec_free(&e);
    T_EQ_INT(submit_after("x", ",", NULL, &e), CAI_E_WIRE(PROTO_ERR_BAD_REQUEST));
    task_rec_free(&e);
    T_EQ_INT(cluster_cancel(cl, a.task_id, "alice", 0, err, sizeof err), 0);
    cluster_tick(cl);                                  /* fails b */
    cluster_tick(cl);                                  /* then d */
    T_EQ_INT(stored(b.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_FAILED);
    T_CHECK(strstr(r.error, "cancelled") && strstr(r.error, "not run"));
    T_EQ_INT(r.attempts, 0);
    task_rec_free(&r);
    T_EQ_INT(stored_status(d.task_id), PROTO_ST_FAILED);
    T_EQ_INT(active(c.task_id, &r), 0);               /* -after-any: free to run */
    T_EQ_INT(r.status, PROTO_ST_QUEUED);
    T_CHECK(strstr(r.error, "waiting for task-") == NULL);
    task_rec_free(&r);
    /* A dependency that ended before the submit. */
    T_EQ_INT(submit_after("late", a.task_id, NULL, &e), 0);
    T_EQ_INT(e.status, PROTO_ST_FAILED);
    T_EQ_INT(stored_status(e.task_id), PROTO_ST_FAILED);
    task_rec_free(&e);
    T_EQ_INT(submit_after("late-any", NULL, a.task_id, &e), 0);
    T_EQ_INT(e.status, PROTO_ST_QUEUED);
    task_rec_free(&e);
    task_rec_free(&a); task_rec_free(&b); task_rec_free(&c); task_rec_free(&d);
    teardown();
}

/* -retries: a non-zero exit stores the attempt as <id>.attempt-<k> and
 * queues the task again after the backoff (fake clock); the last attempt
 * is stored as the task itself and ends it. */
static void test_retries(void)
{
    wk w;
    task_rec t, in, r;
    char id[64], err[256], want[96];
    setup(3);
    wk_open(&w, "w1", 1);
    task_rec_init(&in);
    snprintf(in.docker_image, sizeof in.docker_image, "img");
    in.req_cpu = 1;
    in.req_memory = 1 << 20;
    in.retries = 1;
    T_EQ_INT(cluster_submit(cl, &in, "alice", err, sizeof err, &t), 0);
    task_rec_free(&in);
    T_EQ_INT(wk_recv(&w, id, sizeof id), PROTO_ASSIGN);
    cluster_task_result(cl, "w1", t.task_id, 1, PROTO_ST_FAILED, 3, 0, 0, "exit code 3", NULL);
    task_rec_init(&r);
    T_EQ_INT(cluster_upload_begin(cl, "w1", t.task_id, 1, &r, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s.attempt-1", t.task_id);
    T_EQ_STR(r.task_id, want);                 /* stored as a run of its own */
    task_rec_free(&r);
    T_EQ_INT(cluster_upload_done(cl, t.task_id, 1, 10, NULL, err, sizeof err), 0);
    T_EQ_INT(stored(t.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_QUEUED);
    T_EQ_INT(r.retried, 1);
    T_CHECK(strstr(r.error, "retry 1 of 1 in 5 s") != NULL);
    T_CHECK(r.retry_at == fake_now + 5000);    /* stored: the backoff outlives a restart */
    task_rec_free(&r);
    fake_now += 4000;
    /* The master restarts during the backoff: the task still waits. */
    wk_close(&w);
    cluster_free(cl);
    if (!(cl = cluster_new(&cfg, m, err, sizeof err))) abort();
    cluster_set_clock(cl, fake_clock, NULL);
    wk_open(&w, "w1", 1);
    cluster_tick(cl);                          /* backoff: not yet */
    T_EQ_INT(active(t.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_QUEUED);
    task_rec_free(&r);
    fake_now += 1500;
    cluster_tick(cl);
    T_EQ_INT(wk_recv(&w, id, sizeof id), PROTO_ASSIGN);
    T_EQ_INT(last_attempts, 2);
    cluster_task_result(cl, "w1", t.task_id, 2, PROTO_ST_FAILED, 3, 0, 0, "exit code 3", NULL);
    task_rec_init(&r);
    T_EQ_INT(cluster_upload_begin(cl, "w1", t.task_id, 2, &r, err, sizeof err), 0);
    T_EQ_STR(r.task_id, t.task_id);            /* no retry left: the task's own run */
    task_rec_free(&r);
    T_EQ_INT(cluster_upload_done(cl, t.task_id, 1, 10, NULL, err, sizeof err), 0);
    T_EQ_INT(stored(t.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_FAILED);
    T_EQ_INT(r.attempts, 2);
    task_rec_free(&r);
    /* The kept attempt answers under its own id. */
    task_rec_init(&r);
    T_EQ_INT(cluster_task_for_user(cl, want, "alice", 0, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_FAILED);
    task_rec_free(&r);
    task_rec_init(&r);
    T_EQ_INT(cluster_task_for_user(cl, want, "mallory", 0, &r), CAI_E_WIRE(PROTO_ERR_NOT_FOUND));
    task_rec_free(&r);
    task_rec_free(&t);
    wk_close(&w);
    teardown();
}

/* -array A-B%P: one task per index with CLOUDAI_ARRAY_INDEX, and never
 * more than P of them assigned or running at once. */
static void test_array_cap(void)
{
    wk w;
    task_rec in, first, r;
    char id[64], err[256];
    setup(3);
    wk_open(&w, "w1", 4);
    task_rec_init(&in);
    snprintf(in.docker_image, sizeof in.docker_image, "img");
    in.req_cpu = 1;
    in.req_memory = 1 << 20;
    task_rec_init(&first);
    T_EQ_INT(cluster_submit_array(cl, &in, "1-3%1", "alice", err, sizeof err, &first), 0);
    T_CHECK(!strncmp(first.array_id, "array-", 6));
    T_EQ_INT(first.array_index, 1);
    T_EQ_STR(first.env[first.envc - 1], "CLOUDAI_ARRAY_INDEX=1");
    cluster_tick(cl);
    T_EQ_INT(wk_recv(&w, id, sizeof id), PROTO_ASSIGN);
    cluster_tick(cl);
    /* Room for 4, but the cap is 1: nothing else was sent. */
    meta_query q;
    memset(&q, 0, sizeof q);
    recs_count_ctx cc = { first.array_id, 0, 0 };
    cluster_tasks_active(cl, &q, arr_count_cb, &cc);
    T_EQ_INT(cc.assigned, 1);
    T_EQ_INT(cc.queued, 2);
    /* The first ends: the next one goes. */
    cluster_task_result(cl, "w1", id, 1, PROTO_ST_COMPLETED, 0, 0, 0, "", NULL);
    task_rec_init(&r);
    T_EQ_INT(cluster_upload_begin(cl, "w1", id, 1, &r, err, sizeof err), 0);
    task_rec_free(&r);
    T_EQ_INT(cluster_upload_done(cl, id, 0, 0, NULL, err, sizeof err), 0);
    cluster_tick(cl);
    T_EQ_INT(wk_recv(&w, id, sizeof id), PROTO_ASSIGN);
    cluster_task_status(cl, "w1", id, last_attempts, PROTO_ST_RUNNING, "");
    /* The master restarts while the second runs: replayed as running, it
     * holds no resources until its worker is back, yet still holds the
     * array's one slot, so another worker gets nothing. */
    wk_close(&w);
    cluster_free(cl);
    if (!(cl = cluster_new(&cfg, m, err, sizeof err))) abort();
    /* The replay timed its worker's absence by the real clock. */
    fake_now = ids_now_ms();
    cluster_set_clock(cl, fake_clock, NULL);
    wk w2;
    wk_open(&w2, "w2", 4);
    cluster_tick(cl);
    T_CHECK(wk_quiet(&w2, 300));
    cc = (recs_count_ctx){ first.array_id, 0, 0 };
    cluster_tasks_active(cl, &q, arr_count_cb, &cc);
    T_EQ_INT(cc.assigned, 1);
    T_EQ_INT(cc.queued, 1);
    /* Its worker comes back without it: re-queued, and one member goes. */
    wk_open(&w, "w1", 4);
    cluster_tick(cl);
    char id2[64];
    T_CHECK(wk_recv(&w, id2, sizeof id2) == PROTO_ASSIGN || wk_recv(&w2, id2, sizeof id2) == PROTO_ASSIGN);
    cc = (recs_count_ctx){ first.array_id, 0, 0 };
    cluster_tasks_active(cl, &q, arr_count_cb, &cc);
    T_EQ_INT(cc.assigned, 1);
    T_EQ_INT(cc.queued, 1);
    wk_close(&w2);
    T_EQ_INT(cluster_submit_array(cl, &in, "3-1", "alice", err, sizeof err, &r), CAI_E_WIRE(PROTO_ERR_BAD_REQUEST));
    T_EQ_INT(cluster_submit_array(cl, &in, "1-2%0", "alice", err, sizeof err, &r), CAI_E_WIRE(PROTO_ERR_BAD_REQUEST));
    task_rec_free(&in);
    task_rec_free(&first);
    wk_close(&w);
    teardown();
}

/* As if the master died just after sending w1 an assignment that did
 * not reach the store: the store holds the task queued (the submission),
 * and workers w1..wN "ready" (connected at the crash) for nready = N. */
static void crash_with_unstored_assignment(wk *w1, task_rec *t, int nready)
{
    char id[64], err[256];
    setup(3);
    wk_open(w1, "w1", 2);
    T_EQ_INT(submit("job", 1, t), 0);
    T_EQ_INT(wk_recv(w1, id, sizeof id), PROTO_ASSIGN);
    T_EQ_INT(last_attempts, 1);
    wk_close(w1);
    cluster_free(cl);
    task_rec q;
    task_rec_init(&q);
    T_EQ_INT(meta_task_get(m, t->task_id, &q), 0);
    q.status = PROTO_ST_QUEUED;
    q.attempts = 0;
    q.worker_id[0] = 0;
    q.started_at = 0;
    T_EQ_INT(meta_task_put(m, &q, err, sizeof err), 0);
    task_rec_free(&q);
    for (int i = 1; i <= nready; i++) {
        worker_rec wr = { .cpu = 2, .memory = 1ull << 30, .storage = 1ull << 30, .state = "ready" };
        snprintf(wr.worker_id, sizeof wr.worker_id, "w%d", i);
        T_EQ_INT(meta_worker_put(m, &wr, err, sizeof err), 0);
    }
    if (!(cl = cluster_new(&cfg, m, err, sizeof err))) abort();
    fake_now = ids_now_ms();
    cluster_set_clock(cl, fake_clock, NULL);
}

/* The master stops after an assignment reached the worker but not the
 * store (assignments are stored without waiting): the task replays as
 * queued, one attempt behind the worker's run. At REGISTER that run is
 * taken as the task's, not cancelled; cancelled, the next assignment
 * reused its attempt number and the cancelled run's result ended the new
 * one (chaos test: a task "cancelled" that nobody cancelled). */
static void test_unstored_assignment(void)
{
    wk w;
    task_rec t, r;
    char *running[1];
    uint64_t att[1] = { 1 };
    crash_with_unstored_assignment(&w, &t, 0);
    running[0] = t.task_id;
    wk_open_running(&w, "w1", 2, running, att, 1);
    cluster_tick(cl);
    T_CHECK(wk_quiet(&w, 300));             /* no CANCEL, no second ASSIGN */
    T_EQ_INT(active(t.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_RUNNING);
    T_EQ_INT(r.attempts, 1);
    T_EQ_STR(r.worker_id, "w1");
    task_rec_free(&r);
    T_EQ_INT(stored_status(t.task_id), PROTO_ST_RUNNING);
    /* Its result and upload end it as the run's own. */
    T_EQ_INT(end_run(t.task_id, 1, PROTO_ST_COMPLETED, 0, ""), PROTO_ST_COMPLETED);
    task_rec_free(&t);
    wk_close(&w);
    teardown();
}

/* After a restart nothing is placed until the workers connected before it
 * are back: the other worker, back first, does not get the task whose
 * run the first still has (it would run twice); the first's run is
 * adopted when it registers. */
static void test_restart_awaits_workers(void)
{
    wk w1, w2;
    task_rec t, r;
    char *running[1];
    uint64_t att[1] = { 1 };
    crash_with_unstored_assignment(&w1, &t, 2);
    wk_open(&w2, "w2", 2);
    cluster_tick(cl);
    T_CHECK(wk_quiet(&w2, 300));           /* w1 may still run it: not placed */
    T_EQ_INT(active(t.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_QUEUED);
    task_rec_free(&r);
    running[0] = t.task_id;
    wk_open_running(&w1, "w1", 2, running, att, 1);
    cluster_tick(cl);
    T_CHECK(wk_quiet(&w1, 300));           /* adopted: no CANCEL, no ASSIGN */
    T_CHECK(wk_quiet(&w2, 100));
    T_EQ_INT(active(t.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_RUNNING);
    T_EQ_INT(r.attempts, 1);
    T_EQ_STR(r.worker_id, "w1");
    task_rec_free(&r);
    /* Placing goes on once everyone is back. */
    task_rec t2;
    char id[64];
    T_EQ_INT(submit("next", 1, &t2), 0);
    wk *to = wk_quiet(&w1, 1000) ? &w2 : &w1;
    T_EQ_INT(wk_recv(to, id, sizeof id), PROTO_ASSIGN);
    T_EQ_STR(id, t2.task_id);
    task_rec_free(&t2);
    task_rec_free(&t);
    wk_close(&w1);
    wk_close(&w2);
    teardown();
}

/* ... but a worker that does not come back is waited for only until it
 * counts as lost (heartbeat_timeout_s): then the task goes elsewhere. */
static void test_restart_wait_bounded(void)
{
    wk w1, w2;
    task_rec t;
    char id[64];
    crash_with_unstored_assignment(&w1, &t, 2);
    wk_open(&w2, "w2", 2);
    cluster_tick(cl);
    T_CHECK(wk_quiet(&w2, 300));
    fake_now += (uint64_t)cfg.heartbeat_timeout_s * 1000 + 1000;
    cluster_worker_heartbeat(cl, "w2", NULL);   /* w2 keeps in touch, w1 does not */
    cluster_tick(cl);
    T_EQ_INT(wk_recv(&w2, id, sizeof id), PROTO_ASSIGN);
    T_EQ_STR(id, t.task_id);
    T_EQ_INT(last_attempts, 1);
    task_rec_free(&t);
    wk_close(&w2);
    teardown();
}

static void test_upload_refused_for_good(void)
{
    wk w;
    task_rec t, r;
    start_one(&w, 1, "x", &t);
    cluster_task_result(cl, "w1", t.task_id, 0, PROTO_ST_COMPLETED, 0, 0, 0, "", NULL);
    cluster_upload_failed(cl, t.task_id, "archive refused: ../escape", 1);
    T_EQ_INT(meta_task_get(m, t.task_id, &r), 0);     /* durable on return */
    T_EQ_INT(r.status, PROTO_ST_FAILED);
    T_CHECK(strstr(r.error, "output refused") != NULL);
    task_rec_free(&r);
    task_rec_free(&t);
    wk_close(&w);
    teardown();
}

/* ---- a failing disk: the change is written again once it works ---- */

static ssize_t full_disk(int fd, const void *buf, size_t len, off_t off)
{
    errno = ENOSPC;
    return -1;
}

static void test_failed_write_lands_later(void)
{
    wk w;
    task_rec t, r;
    char id[64], err[256] = "";
    setup(3);
    wk_open(&w, "w1", 1);
    T_EQ_INT(submit("job", 1, &t), 0);
    T_EQ_INT(wk_recv(&w, id, sizeof id), PROTO_ASSIGN);
    T_EQ_INT(stored_status(t.task_id), PROTO_ST_ASSIGNED);
    journal_set_write_hook(full_disk);
    cluster_task_status(cl, "w1", t.task_id, 0, PROTO_ST_RUNNING, "");
    T_EQ_INT(cluster_store_wait(cl, err, sizeof err), CAI_E_WIRE(PROTO_ERR_STORE));
    T_CHECK(strstr(err, "metadata store") != NULL);
    journal_set_write_hook(NULL);
    /* Queued again by the writer: it lands without another change. */
    T_EQ_INT(cluster_store_wait(cl, err, sizeof err), 0);
    T_EQ_INT(meta_task_get(m, t.task_id, &r), 0);
    T_EQ_INT(r.status, PROTO_ST_RUNNING);
    task_rec_free(&r);
    task_rec_free(&t);
    wk_close(&w);
    teardown();
}

/* ---- a stalled disk ---- */

static pthread_mutex_t hook_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hook_cv = PTHREAD_COND_INITIALIZER;
static int hook_entered, hook_open;

static int slow_sync(int fd)
{
    pthread_mutex_lock(&hook_mu);
    hook_entered++;
    pthread_cond_broadcast(&hook_cv);
    while (!hook_open)
        pthread_cond_wait(&hook_cv, &hook_mu);
    pthread_mutex_unlock(&hook_mu);
    return fdatasync(fd);
}

struct sub_arg { task_rec out; int rc, done; };

static void *submit_thread(void *arg)
{
    struct sub_arg *a = arg;
    a->rc = submit("slow", 1, &a->out);
    pthread_mutex_lock(&hook_mu);
    a->done = 1;
    pthread_mutex_unlock(&hook_mu);
    return NULL;
}

static int count_cb(void *ctx, const task_rec *t)
{
    (*(int *)ctx)++;
    return 0;
}

static void test_slow_fsync_blocks_no_heartbeat(void)
{
    wk w, w2;
    pthread_t th;
    struct sub_arg a;
    char st[32], note[256] = "";
    int n = 0, degraded = 0;
    meta_query q;
    setup(3);
    wk_open(&w, "w1", 1);
    memset(&a, 0, sizeof a);
    journal_set_sync_hook(slow_sync);
    pthread_create(&th, NULL, submit_thread, &a);
    /* The submission is stuck in its fdatasync... */
    pthread_mutex_lock(&hook_mu);
    while (!hook_entered)
        pthread_cond_wait(&hook_cv, &hook_mu);
    pthread_mutex_unlock(&hook_mu);
    /* ...while heartbeats, listings, a registration and the reaper go on. */
    fake_now += 9000;
    cluster_worker_heartbeat(cl, "w1", NULL);
    fake_now += 9000;
    cluster_tick(cl);
    worker_state("w1", st, sizeof st);
    T_EQ_STR(st, "ready");
    wk_open(&w2, "w2", 1);
    worker_state("w2", st, sizeof st);
    T_EQ_STR(st, "ready");
    memset(&q, 0, sizeof q);
    T_EQ_INT(storeread_tasks(cl, &q, STOREREAD_WAIT_MS, count_cb, &n, &degraded, note,
                             sizeof note), 0);
    pthread_mutex_lock(&hook_mu);
    T_EQ_INT(a.done, 0);           /* all of that while the disk was stalled */
    hook_open = 1;
    pthread_cond_broadcast(&hook_cv);
    pthread_mutex_unlock(&hook_mu);
    pthread_join(th, NULL);
    T_EQ_INT(a.rc, 0);
    T_EQ_INT(stored_status(a.out.task_id) > 0, 1);
    journal_set_sync_hook(NULL);
    task_rec_free(&a.out);
    wk_close(&w);
    wk_close(&w2);
    teardown();
}

/* Names: UTF-8 letters kept, the rest normalised, over 64 bytes refused. */
static void test_name_rules(void)
{
    task_rec t;
    char name[80];
    setup(3);
    T_EQ_INT(submit("\xe6\xa8\xa1\xe5\x9e\x8b-\xe8\xae\xad\xe7\xbb\x83", 1, &t), 0);
    T_EQ_STR(t.task_name, "\xe6\xa8\xa1\xe5\x9e\x8b-\xe8\xae\xad\xe7\xbb\x83");
    task_rec_free(&t);
    T_EQ_INT(submit("a b/c", 1, &t), 0);
    T_EQ_STR(t.task_name, "a_b_c");
    task_rec_free(&t);
    memset(name, 'x', 65);
    name[65] = 0;
    T_EQ_INT(submit(name, 1, &t), CAI_E_WIRE(PROTO_ERR_BAD_REQUEST));
    task_rec_free(&t);
    name[64] = 0;
    T_EQ_INT(submit(name, 1, &t), 0);
    T_EQ_STR(t.task_name, name);
    task_rec_free(&t);
    teardown();
}

int main(void)
{
    log_set_level(LOG_ERROR);
    T_RUN(test_submit_assign_run_complete);
    T_RUN(test_unwaited_write_lands);
    T_RUN(test_lost_worker_requeue_and_max_attempts);
    T_RUN(test_cancel);
    T_RUN(test_superseded_attempt);
    T_RUN(test_register_attempts);
    T_RUN(test_wait_ended);
    T_RUN(test_dependencies);
    T_RUN(test_retries);
    T_RUN(test_array_cap);
    T_RUN(test_unstored_assignment);
    T_RUN(test_restart_awaits_workers);
    T_RUN(test_restart_wait_bounded);
    T_RUN(test_upload_refused_for_good);
    T_RUN(test_failed_write_lands_later);
    T_RUN(test_slow_fsync_blocks_no_heartbeat);
    T_RUN(test_name_rules);
    return T_DONE();
}
