/* cluster.c — workers, active tasks, the queue and the scheduler thread.
 * See cluster.h for the locking rules. Active tasks (not yet completed,
 * failed or cancelled) live in memory in a hash table and a FIFO queue;
 * every change is written to the metadata store first. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "cluster.h"
#include "fsutil.h"
#include "ids.h"
#include "log.h"
#include "logbook.h"
#include "schedstate.h"

struct wop;

/* One -after / -after-any dependency of a queued task. */
typedef struct cl_dep {
    char id[64];
    int any;                   /* -after-any: any end will do */
    int met;
} cl_dep;

typedef struct cl_task {
    task_rec rec;
    cl_dep *deps;              /* parsed from rec.after / rec.after_any */
    int ndeps, deps_left;      /* deps_left > 0: not placed yet */
    int dep_failed;            /* a broken -after: the scheduler fails it (rec.error says why) */
    struct wop *queued;        /* its store write not yet taken by the writer */
    int holds;                 /* resources reserved on rec.worker_id */
    struct cl_task *hprev, *hnext;   /* in cl->held while holds */
    int user_ix;               /* schedstate_user(rec.user_id) + 1; 0 = not asked yet */
    int result_status;         /* final status reported, pending upload;
                                * 0 until this master has the worker's
                                * TASK_RESULT (a held output listed at
                                * REGISTER, or a task replayed at start) */
    int upload_noted;          /* rec.error is an upload failure note */
    int cancel_requested;
    char log_note[192];        /* the log was cut at the cap: goes into the notes */
    double predict_s;          /* runtime prediction, refreshed by the scheduler */
    double p_max_s;            /* the pessimistic one it is ordered by (predict_est.p_max) */
    double guess_s;            /* without -timeout: what backfill counts on (predict_guess) */
    uint64_t pred_mem;         /* its kind's largest peak memory (bytes), 0 unknown */
    uint64_t predict_gen;      /* history generation it was made at (0 = never) */
    uint64_t predict_ms;       /* when it was made */
    double passed;             /* CPU-seconds younger tasks ran while it waited */
    struct cl_task *next;      /* hash chain */
} cl_task;

typedef struct cl_worker {
    worker_rec rec;
    sched_node node;
    conn *c;                   /* NULL while disconnected */
    uint64_t last_seen;
    int lost;
    int expected;              /* connected when the master stopped: awaited */
} cl_worker;

typedef struct outmsg {
    conn *c;
    proto_buf b;
} outmsg;

/* A store write, queued under cl->mu and applied by the writer thread
 * after the lock is released (DESIGN.md invariant 9). A task has at most
 * one write waiting in the queue: a later change of the same task updates
 * that record in place (same seq), so per-task order holds and a stalled
 * store costs one record per task, not one per change. */
typedef struct wop {
    struct wop *next;
    uint64_t seq;
    int is_worker;
    int failed;
    int retry;                 /* failed, but the store may come back: write again */
    cl_task *owner;            /* NULL once taken or the task is forgotten */
    task_rec task;
    worker_rec worker;
} wop;

#define WFAIL_RING 64
#define WRITE_LAG_MS 50            /* a write nobody waits for, at most this late */
#define PREDICT_REFRESH_MS 1000   /* a queued task's runtime estimate, at most this stale */

struct cluster {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const config *cfg;
    meta *meta;
    logbook *lb;               /* task logs (thread-safe on its own) */
    schedstate *ss;            /* policy, fair share, history (under mu) */
    uint64_t hist_gen;         /* bumped when the history learns a run */
    uint64_t published_ms;     /* last expected-start projection */
    cl_worker *workers;
    size_t nworkers, capw;
    cl_task **buckets;
    size_t nbuckets, ntasks;
    cl_task **queue;
    size_t nqueue, capq;
    /* The tasks holding resources: a pass reads these, not every task
     * the cluster holds (a deep queue made each pass walk all of it). */
    cl_task *held;
    size_t ncapped;            /* tasks of -array A-B%P arrays held */
    outmsg *out;
    size_t nout, capout;
    int kick, stop, started;
    int recovering;            /* after a restart: no placement until the
                                * workers connected before it are back or
                                * lost (do_recovering) */
    pthread_t thr;
    /* The store writer (DESIGN.md invariant 9): whead..wtail queued under
     * mu, wbatch taken and being written; wdone: every write with seq <=
     * wdone has been tried (its failure, if any, is in wfail); wneed: the
     * highest seq a committer waits for; whead_ns: when the queue last
     * became non-empty (mono_ns; the writer takes it WRITE_LAG_MS later
     * unless a committer needs it sooner). */
    wop *whead, *wtail, *wbatch;
    uint64_t wseq, wdone, wneed, whead_ns;
    uint64_t wfail[WFAIL_RING];
    size_t nwfail;
    char wfail_err[256];
    uint64_t wbusy_since;      /* ms the writer took its batch; 0 = idle */
    pthread_cond_t wcv;        /* the writer waits here for work */
    pthread_cond_t wdone_cv;   /* committers wait here for wdone */
    pthread_cond_t end_cv;     /* broadcast when a task ends (WAIT) */
    /* The ids of the last END_LOG tasks to end, nended in all: a WAIT
     * looks at the ends since its last look, not at all its ids (which
     * cost each end O(ids) under mu: quadratic for a wait on an array). */
    char (*endlog)[64];
    uint64_t nended;
    pthread_t wthr;
    int wstarted, wstop;
    int readers_stuck;         /* abandoned store reads still running */
    cluster_clock_fn clock;    /* ids_now_ms unless a test set one */
    void *clock_ctx;
    cluster_admit_fn admit;    /* quota check, set once before serving */
    void *admit_ctx;
    size_t nblocked;           /* tasks with deps_left > 0 (a task's end looks for them) */
    size_t ndepfail;           /* tasks with dep_failed set, not failed yet */
};

/* ---- small helpers ---------------------------------------------------- */

/* The scheduler's and the writer's clock (cl->cv and cl->wcv wait on it). */
static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Until until_ns (mono_ns) or a signal on cv, which runs on CLOCK_MONOTONIC. */
static void cv_sleep(cluster *cl, pthread_cond_t *cv, uint64_t until_ns)
{
    struct timespec ts = { (time_t)(until_ns / 1000000000ull), (long)(until_ns % 1000000000ull) };
    pthread_cond_timedwait(cv, &cl->mu, &ts);
}

static uint64_t now_ms(cluster *cl)
{
    return cl->clock ? cl->clock(cl->clock_ctx) : ids_now_ms();
}


static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    while (*s) { h ^= (uint8_t)*s++; h *= 1099511628211ull; }
    return h;
}

static cl_task *do_find(cluster *cl, const char *id)
{
    for (cl_task *t = cl->buckets[hash_str(id) % cl->nbuckets]; t; t = t->next)
        if (!strcmp(t->rec.task_id, id))
            return t;
    return NULL;
}

static int do_insert(cluster *cl, cl_task *t)
{
    if (cl->ntasks + 1 > cl->nbuckets) {
        size_t nb = cl->nbuckets * 2;
        cl_task **b = calloc(nb, sizeof *b);
        if (!b) return -ENOMEM;
        for (size_t i = 0; i < cl->nbuckets; i++)
            for (cl_task *x = cl->buckets[i], *nx; x; x = nx) {
                nx = x->next;
                size_t k = hash_str(x->rec.task_id) % nb;
                x->next = b[k];
                b[k] = x;
            }
        free(cl->buckets);
        cl->buckets = b;
        cl->nbuckets = nb;
    }
    size_t k = hash_str(t->rec.task_id) % cl->nbuckets;
    t->next = cl->buckets[k];
    cl->buckets[k] = t;
    cl->ntasks++;
    if (t->rec.array_parallel) cl->ncapped++;
    return 0;
}

static void do_unlink(cluster *cl, cl_task *t)
{
    cl_task **pp = &cl->buckets[hash_str(t->rec.task_id) % cl->nbuckets];
    while (*pp && *pp != t)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = t->next;
        cl->ntasks--;
        if (t->rec.array_parallel) cl->ncapped--;
    }
}

static int do_enqueue(cluster *cl, cl_task *t)
{
    if (cl->nqueue == cl->capq) {
        size_t nc = cl->capq ? cl->capq * 2 : 256;
        cl_task **q = realloc(cl->queue, nc * sizeof *q);
        if (!q) return -ENOMEM;
        cl->queue = q;
        cl->capq = nc;
    }
    cl->queue[cl->nqueue++] = t;
    cl->kick = 1;
    pthread_cond_signal(&cl->cv);
    return 0;
}

static void do_dequeue(cluster *cl, cl_task *t)
{
    for (size_t i = 0; i < cl->nqueue; i++)
        if (cl->queue[i] == t) {
            memmove(cl->queue + i, cl->queue + i + 1, (cl->nqueue - i - 1) * sizeof *cl->queue);
            cl->nqueue--;
            return;
        }
}

static cl_worker *do_worker(cluster *cl, const char *id)
{
    for (size_t i = 0; i < cl->nworkers; i++)
        if (!strcmp(cl->workers[i].rec.worker_id, id))
            return &cl->workers[i];
    return NULL;
}

static cl_worker *do_worker_add(cluster *cl, const char *id)
{
    if (cl->nworkers == cl->capw) {
        size_t nc = cl->capw ? cl->capw * 2 : 16;
        cl_worker *w = realloc(cl->workers, nc * sizeof *w);
        if (!w) return NULL;
        cl->workers = w;
        cl->capw = nc;
    }
    cl_worker *w = &cl->workers[cl->nworkers++];
    memset(w, 0, sizeof *w);
    snprintf(w->rec.worker_id, sizeof w->rec.worker_id, "%s", id);
    snprintf(w->rec.state, sizeof w->rec.state, "unknown");
    w->last_seen = now_ms(cl);
    return w;
}

static wop *do_wop_new(cluster *cl)
{
    wop *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    task_rec_init(&w->task);
    w->seq = ++cl->wseq;
    if (cl->wtail) {
        cl->wtail->next = w;
    } else {
        cl->whead = w;
        cl->whead_ns = mono_ns();
        pthread_cond_signal(&cl->wcv);   /* the lag starts now */
    }
    cl->wtail = w;
    return w;
}

static void wop_free(wop *w)
{
    task_rec_free(&w->task);
    free(w);
}

/* Queues the task's current record for the store and returns the seq a
 * committer waits for (do_commit_wait). No I/O: the writer thread applies
 * it after cl->mu is released. */
static uint64_t do_persist(cluster *cl, cl_task *t)
{
    wop *w = t->queued;
    if (w) {
        /* Still waiting in the queue: write the newest state instead. */
        task_rec_free(&w->task);
        task_rec_init(&w->task);
    } else if (!(w = do_wop_new(cl))) {
        log_error("task %s: out of memory queueing its store write; state kept in memory",
                  t->rec.task_id);
        return cl->wseq;
    }
    if (task_rec_copy(&w->task, &t->rec) < 0) {
        log_error("task %s: out of memory queueing its store write; state kept in memory",
                  t->rec.task_id);
        snprintf(w->task.task_id, sizeof w->task.task_id, "%s", t->rec.task_id);
        w->failed = 1;
    }
    w->owner = t;
    t->queued = w;
    return w->seq;
}

static void do_persist_worker(cluster *cl, const worker_rec *r)
{
    wop *w = do_wop_new(cl);
    if (!w) {
        log_error("worker %s: out of memory queueing its store write", r->worker_id);
        return;
    }
    w->is_worker = 1;
    w->worker = *r;
}

/* The worker's record as it stands (its totals and last contact), for the
 * store: written at REGISTER and when it disconnects or is lost, so that
 * after a restart "ready" names the workers connected at the crash. */
static void do_save_worker(cluster *cl, const cl_worker *w)
{
    worker_rec snap = w->rec;
    snap.cpu = w->node.total.cpu;
    snap.memory = w->node.total.memory;
    snap.storage = w->node.total.storage;
    snap.gpu = w->node.total.gpu;
    snap.last_seen = w->last_seen;
    do_persist_worker(cl, &snap);
}

/* Writes up to seq go to the store without the lag (nobody waits here). */
static void do_write_soon(cluster *cl, uint64_t seq)
{
    if (cl->wdone < seq && cl->wneed < seq) {
        cl->wneed = seq;
        pthread_cond_signal(&cl->wcv);
    }
}

static int seq_failed(cluster *cl, uint64_t seq)
{
    size_t n = cl->nwfail < WFAIL_RING ? cl->nwfail : WFAIL_RING;
    for (size_t i = 0; i < n; i++)
        if (cl->wfail[i] == seq) return 1;
    return 0;
}

/* Waits (cl->mu held; the wait releases it) until write seq was applied
 * and made durable. 0, or CAI_E_WIRE(PROTO_ERR_STORE) with err filled: the change is
 * kept in memory but a restart could lose it, so it must not be
 * acknowledged as stored. */
static int do_commit_wait(cluster *cl, uint64_t seq, char *err, size_t errcap)
{
    do_write_soon(cl, seq);
    while (cl->wdone < seq)
        pthread_cond_wait(&cl->wdone_cv, &cl->mu);
    if (seq_failed(cl, seq)) {
        if (err) snprintf(err, errcap, "metadata store: %s", cl->wfail_err);
        return CAI_E_WIRE(PROTO_ERR_STORE);
    }
    return 0;
}

static int transient_rc(int rc) { return rc == META_E_UNAVAIL || rc == META_E_IO; }

/* One write (the MongoDB backend retries a lost server itself). Runs
 * without cl->mu. */
static int write_one(cluster *cl, wop *w, char *err, size_t errcap)
{
    if (w->failed) {
        snprintf(err, errcap, "out of memory");
        return META_E_NOMEM;
    }
    return w->is_worker ? meta_worker_put_nosync(cl->meta, &w->worker, err, errcap)
                        : meta_task_put_nosync(cl->meta, &w->task, err, errcap);
}

/* After a batch (cl->mu held): a task write that failed because the store
 * was away is queued again, unless a newer record of the task is already
 * queued, so the store catches up once it is back. Its committers were
 * told it failed; later readers see the pending record. Returns how many
 * were queued again. */
static int do_requeue_failed(cluster *cl, wop *batch, int sync_failed)
{
    int n = 0;
    for (wop *w = batch; w; w = w->next) {
        if (w->is_worker || !(w->retry || (sync_failed && !w->failed))) continue;
        cl_task *t = do_find(cl, w->task.task_id);
        if (t) {
            if (!t->queued) { do_persist(cl, t); n++; }
            continue;
        }
        int newer = 0;
        for (wop *x = cl->whead; x && !newer; x = x->next)
            newer = !x->is_worker && !strcmp(x->task.task_id, w->task.task_id);
        wop *nw = newer ? NULL : do_wop_new(cl);
        if (!nw) continue;
        nw->task = w->task;              /* moved: w gives up its strings */
        task_rec_init(&w->task);
        n++;
    }
    return n;
}

#define WRITE_LAG_NS (WRITE_LAG_MS * 1000000ull)

/* Is the queue due: a committer waits for some of it, or it is old enough? */
static int writes_due(const cluster *cl)
{
    return cl->whead && (cl->wneed >= cl->whead->seq || cl->wstop ||
                         mono_ns() >= cl->whead_ns + WRITE_LAG_NS);
}

/* The writer thread: takes everything queued, writes it in order without
 * cl->mu, makes it durable with one sync (group commit), then wakes the
 * committers. A write nobody waits for (an assignment, a RUNNING, a
 * reason) waits up to WRITE_LAG_MS for one that somebody does: a task's
 * next states replace it in the queue (do_persist) and one sync covers
 * them all, where each used to cost a sync of its own (~3 a trivial
 * task). Drains the queue before it stops. */
static void *writer_main(void *arg)
{
    cluster *cl = arg;
    char err[256];
    pthread_mutex_lock(&cl->mu);
    for (;;) {
        while (!cl->wstop && !writes_due(cl)) {
            if (cl->whead) cv_sleep(cl, &cl->wcv, cl->whead_ns + WRITE_LAG_NS);
            else pthread_cond_wait(&cl->wcv, &cl->mu);
        }
        if (!cl->whead) break;
        wop *batch = cl->whead;
        cl->whead = cl->wtail = NULL;
        for (wop *w = batch; w; w = w->next)
            if (w->owner) {
                w->owner->queued = NULL;
                w->owner = NULL;
            }
        uint64_t hi = cl->wseq;
        cl->wbatch = batch;
        cl->wbusy_since = now_ms(cl);
        pthread_mutex_unlock(&cl->mu);

        int nfail = 0, sync_rc;
        for (wop *w = batch; w; w = w->next) {
            err[0] = 0;
            int rc = write_one(cl, w, err, sizeof err);
            if (rc < 0) {
                w->retry = transient_rc(rc);
                w->failed = 1;
                nfail++;
                log_error("%s %s: metadata store write failed (%s); state kept in memory",
                          w->is_worker ? "worker" : "task",
                          w->is_worker ? w->worker.worker_id : w->task.task_id, err);
                pthread_mutex_lock(&cl->mu);
                snprintf(cl->wfail_err, sizeof cl->wfail_err, "%s", err);
                pthread_mutex_unlock(&cl->mu);
            }
        }
        err[0] = 0;
        if ((sync_rc = meta_sync(cl->meta, err, sizeof err)) < 0)
            log_error("metadata store: sync failed: %s", err);

        pthread_mutex_lock(&cl->mu);
        if (sync_rc < 0)
            snprintf(cl->wfail_err, sizeof cl->wfail_err, "%s", err);
        for (wop *w = batch; w; w = w->next)
            if (w->failed || sync_rc < 0)
                cl->wfail[cl->nwfail++ % WFAIL_RING] = w->seq;
        cl->wdone = hi;
        cl->wbatch = NULL;
        cl->wbusy_since = 0;
        pthread_cond_broadcast(&cl->wdone_cv);
        int again = cl->wstop ? 0 : do_requeue_failed(cl, batch, sync_rc < 0 && transient_rc(sync_rc));
        pthread_mutex_unlock(&cl->mu);
        for (wop *w = batch, *nx; w; w = nx) {
            nx = w->next;
            wop_free(w);
        }
        pthread_mutex_lock(&cl->mu);
        if (again) {
            /* The store is away: try again in a second, not in a loop. */
            log_warn("metadata store: %d task records to write again in 1 s", again);
            uint64_t until = mono_ns() + 1000000000ull;
            while (!cl->wstop && mono_ns() < until)
                cv_sleep(cl, &cl->wcv, until);
        }
    }
    pthread_mutex_unlock(&cl->mu);
    return NULL;
}

/* The newest record of a task the cluster no longer holds but whose final
 * write has not reached the store yet (a listing must not lose it). */
static const task_rec *do_pending(cluster *cl, const char *task_id)
{
    const task_rec *r = NULL;
    for (wop *w = cl->wbatch; w; w = w->next)
        if (!w->is_worker && !strcmp(w->task.task_id, task_id)) r = &w->task;
    for (wop *w = cl->whead; w; w = w->next)
        if (!w->is_worker && !strcmp(w->task.task_id, task_id)) r = &w->task;
    return r;
}

static outmsg *do_out(cluster *cl, conn *c)
{
    if (!c) return NULL;
    if (cl->nout == cl->capout) {
        size_t nc = cl->capout ? cl->capout * 2 : 16;
        outmsg *o = realloc(cl->out, nc * sizeof *o);
        if (!o) return NULL;
        cl->out = o;
        cl->capout = nc;
    }
    outmsg *o = &cl->out[cl->nout++];
    o->c = c;
    conn_ref(c);
    proto_buf_init(&o->b);
    return o;
}

/* Sends what do_* functions queued. Called with cl->mu held: the list is
 * taken, the lock dropped for the sends, then retaken. */
static void flush_out(cluster *cl)
{
    while (cl->nout) {
        outmsg *list = cl->out;
        size_t n = cl->nout;
        cl->out = NULL;
        cl->nout = cl->capout = 0;
        pthread_mutex_unlock(&cl->mu);
        for (size_t i = 0; i < n; i++) {
            conn_send(list[i].c, &list[i].b);
            proto_buf_free(&list[i].b);
            conn_unref(list[i].c);
        }
        free(list);
        pthread_mutex_lock(&cl->mu);
    }
}

static void held_link(cluster *cl, cl_task *t)
{
    if (t->holds) return;
    t->holds = 1;
    t->hprev = NULL;
    t->hnext = cl->held;
    if (cl->held) cl->held->hprev = t;
    cl->held = t;
}

/* Forgets the reservation without giving it back (the caller does, or
 * the worker's totals were reset). */
static void held_unlink(cluster *cl, cl_task *t)
{
    if (!t->holds) return;
    t->holds = 0;
    if (t->hprev) t->hprev->hnext = t->hnext;
    else cl->held = t->hnext;
    if (t->hnext) t->hnext->hprev = t->hprev;
    t->hprev = t->hnext = NULL;
}

static void do_release(cluster *cl, cl_task *t)
{
    if (!t->holds) return;
    cl_worker *w = do_worker(cl, t->rec.worker_id);
    if (w) {
        w->node.free.cpu += t->rec.req_cpu;
        w->node.free.memory += t->rec.req_memory;
        w->node.free.storage += t->rec.req_storage;
        w->node.free.gpu += t->rec.req_gpu;
        if (w->rec.running) w->rec.running--;
    }
    held_unlink(cl, t);
    cl->kick = 1;
    pthread_cond_signal(&cl->cv);
}

static void do_reserve(cluster *cl, cl_worker *w, cl_task *t)
{
    w->node.free.cpu -= t->rec.req_cpu;
    w->node.free.memory -= t->rec.req_memory;
    w->node.free.storage -= t->rec.req_storage;
    w->node.free.gpu -= t->rec.req_gpu;
    w->rec.running++;
    held_link(cl, t);
}

/* The task reached completed/failed/cancelled: persist, forget. Returns
 * the seq of its final write. */
static void do_deps_ended(cluster *cl, const char *id, int status, int64_t exit_code,
                          const char *error);

static void task_free(cl_task *t)
{
    task_rec_free(&t->rec);
    free(t->deps);
    free(t);
}

#define END_LOG 4096

static uint64_t do_finish(cluster *cl, cl_task *t, int status)
{
    if (t->deps_left) {
        t->deps_left = 0;
        cl->nblocked--;
    }
    if (t->dep_failed) {
        t->dep_failed = 0;
        cl->ndepfail--;
    }
    /* Only a queued task has a queue slot; a completing task has none, so
     * completions never scan the queue. */
    if (t->rec.status == PROTO_ST_QUEUED)
        do_dequeue(cl, t);
    do_release(cl, t);
    t->rec.status = status;
    t->rec.completed_at = now_ms(cl);
    uint64_t seq = do_persist(cl, t);
    log_info("task %s %s%s%s", t->rec.task_id, proto_status_name((uint64_t)status),
             t->rec.error[0] ? ": " : "", t->rec.error);
    do_unlink(cl, t);
    if (cl->endlog)
        snprintf(cl->endlog[cl->nended % END_LOG], sizeof cl->endlog[0], "%s", t->rec.task_id);
    cl->nended++;
    pthread_cond_broadcast(&cl->end_cv);
    if (t->queued) t->queued->owner = NULL;   /* the write outlives the task */
    char id[sizeof t->rec.task_id], error[sizeof t->rec.error];
    int64_t code = t->rec.exit_code;
    snprintf(id, sizeof id, "%s", t->rec.task_id);
    snprintf(error, sizeof error, "%s", t->rec.error);
    task_free(t);
    if (cl->nblocked) do_deps_ended(cl, id, status, code, error);
    return seq;
}

/* ---- dependencies (-after, -after-any) ------------------------------------ */

/* Splits "ID,ID..." into deps; duplicates kept once. 0, or -1 with err. */
static int deps_parse(const char *list, int any, cl_dep **v, int *n, char *err, size_t errcap)
{
    int count = 0, len;
    size_t pos = 0, start = 0;
    while ((len = task_after_next(list, &pos, &start)) != 0) {
        const char *p = list + start;
        if (len < 0 || (size_t)len >= sizeof (*v)->id) {
            if (len < 0) len = 0;
            snprintf(err, errcap, "-after%s: '%.*s' is not a task id", any ? "-any" : "",
                     (int)(len > 40 ? 40 : len), p);
            return -1;
        }
        if (++count > TASK_AFTER_MAX) {
            snprintf(err, errcap, "-after%s: more than %d tasks", any ? "-any" : "", TASK_AFTER_MAX);
            return -1;
        }
        char id[64];
        memcpy(id, p, (size_t)len);
        id[len] = 0;
        int dup = 0;
        for (int i = 0; i < *n && !dup; i++) dup = !strcmp((*v)[i].id, id) && (*v)[i].any == any;
        if (!dup) {
            cl_dep *nv = realloc(*v, (size_t)(*n + 1) * sizeof **v);
            if (!nv) { snprintf(err, errcap, "out of memory"); return -1; }
            *v = nv;
            memset(&nv[*n], 0, sizeof nv[*n]);
            snprintf(nv[*n].id, sizeof nv[*n].id, "%s", id);
            nv[*n].any = any;
            (*n)++;
        }
    }
    return 0;
}

/* A dependency ended with status: met, or the reason the dependent fails
 * (returns 1, why filled). */
static int dep_broken(const cl_dep *d, int status, int64_t exit_code, const char *error,
                      char *why, size_t cap)
{
    if (d->any || status == PROTO_ST_COMPLETED) return 0;
    char code[32] = "";
    if (exit_code >= 0 && !strstr(error, "exit code"))
        snprintf(code, sizeof code, ", exit %lld", (long long)exit_code);
    snprintf(why, cap, "dependency %s %s%s%s%s; not run", d->id,
             proto_status_name((uint64_t)status), code, error[0] ? ": " : "", error);
    return 1;
}

/* Task id ended: its dependents learn it. A broken -after marks the
 * dependent, which the scheduler fails on its next pass (do_fail_broken):
 * never here, since do_finish runs inside loops over the task table. */
static void do_deps_ended(cluster *cl, const char *id, int status, int64_t exit_code,
                          const char *error)
{
    for (size_t b = 0; b < cl->nbuckets; b++)
        for (cl_task *t = cl->buckets[b]; t; t = t->next) {
            if (!t->deps_left || t->dep_failed) continue;
            for (int i = 0; i < t->ndeps; i++) {
                cl_dep *d = &t->deps[i];
                if (d->met || strcmp(d->id, id)) continue;
                if (dep_broken(d, status, exit_code, error, t->rec.error, sizeof t->rec.error)) {
                    t->dep_failed = 1;
                    cl->ndepfail++;
                    break;
                }
                d->met = 1;
                if (!--t->deps_left) {
                    cl->nblocked--;
                    t->rec.error[0] = 0;
                }
            }
        }
    cl->kick = 1;
    pthread_cond_signal(&cl->cv);
}

/* Fails the tasks a broken -after marked, and so on down their own
 * dependents, until none is marked (each round finishes at least one). */
static void do_fail_broken(cluster *cl)
{
    while (cl->ndepfail) {
        cl_task *t = NULL;
        for (size_t i = 0; i < cl->nqueue && !t; i++)
            if (cl->queue[i]->dep_failed) t = cl->queue[i];
        if (!t) { cl->ndepfail = 0; break; }
        (void)do_finish(cl, t, PROTO_ST_FAILED);
    }
}

/* t's deps parsed and checked against what the cluster holds: an active
 * dependency is waited for; an ended one is judged from *ended (the
 * record read from the store, by the caller, without cl->mu), or the
 * pending write. Returns 0, 1 with why set when a broken -after fails t
 * at once, or 2 when an ended dependency's record must be read again. */
static int do_deps_bind(cluster *cl, cl_task *t, const task_rec *ended, int nended,
                        char *why, size_t cap)
{
    t->deps_left = 0;
    for (int i = 0; i < t->ndeps; i++) {
        cl_dep *d = &t->deps[i];
        d->met = 0;
        if (do_find(cl, d->id)) {
            t->deps_left++;
            continue;
        }
        const task_rec *r = do_pending(cl, d->id);
        for (int k = 0; !r && k < nended; k++)
            if (!strcmp(ended[k].task_id, d->id)) r = &ended[k];
        if (!r || (r->status != PROTO_ST_COMPLETED && r->status != PROTO_ST_FAILED &&
                   r->status != PROTO_ST_CANCELLED))
            return 2;      /* it ended between the read and now */
        if (dep_broken(d, r->status, r->exit_code, r->error, why, cap)) return 1;
        d->met = 1;
    }
    if (t->deps_left) cl->nblocked++;
    return 0;
}

/* "waiting for task-a to complete, task-b to end" (at most 3 named). */
static void deps_reason(const cl_task *t, char *out, size_t cap)
{
    size_t len = (size_t)snprintf(out, cap, "waiting for");
    int shown = 0;
    for (int i = 0; i < t->ndeps && len < cap; i++) {
        if (t->deps[i].met) continue;
        if (shown == 3) {
            snprintf(out + len, cap - len, " and %d more", t->deps_left - 3);
            return;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s %s to %s", shown ? "," : "",
                                t->deps[i].id, t->deps[i].any ? "end" : "complete");
        shown++;
    }
}

/* Worker lost or task interrupted: back to the queue, or failed after
 * max_attempts. */
static void do_requeue(cluster *cl, cl_task *t, const char *why)
{
    do_release(cl, t);
    if ((int)t->rec.attempts >= cl->cfg->max_attempts) {
        snprintf(t->rec.error, sizeof t->rec.error, "%s; gave up after %llu attempts", why,
                 (unsigned long long)t->rec.attempts);
        (void)do_finish(cl, t, PROTO_ST_FAILED);
        return;
    }
    snprintf(t->rec.error, sizeof t->rec.error, "%s; re-queued (attempt %llu of %d)", why,
             (unsigned long long)t->rec.attempts + 1, cl->cfg->max_attempts);
    log_warn("task %s: %s", t->rec.task_id, t->rec.error);
    t->rec.status = PROTO_ST_QUEUED;
    t->rec.worker_id[0] = 0;
    t->rec.started_at = 0;
    do_persist(cl, t);
    do_enqueue(cl, t);
}

/* ---- scheduler ----------------------------------------------------------- */

/* The task's next attempt, on w, in status (stored, nothing sent). */
static void do_place(cluster *cl, cl_task *t, cl_worker *w, int status)
{
    do_reserve(cl, w, t);
    t->rec.status = status;
    t->rec.attempts++;
    t->rec.error[0] = 0;
    t->rec.retry_at = 0;
    snprintf(t->rec.worker_id, sizeof t->rec.worker_id, "%s", w->rec.worker_id);
    do_persist(cl, t);
}

static void do_assign(cluster *cl, cl_task *t, cl_worker *w)
{
    do_place(cl, t, w, PROTO_ST_ASSIGNED);
    outmsg *o = do_out(cl, w->c);
    if (o) {
        proto_begin(&o->b, PROTO_ASSIGN, 0);
        size_t mark = proto_rec_begin(&o->b, T_TASK);
        task_rec_put(&o->b, &t->rec);
        proto_rec_end(&o->b, mark);
    }
    log_info("task %s assigned to %s (attempt %llu)", t->rec.task_id, w->rec.worker_id,
             (unsigned long long)t->rec.attempts);
}

/* Why a task that did not start waits: the scarcest resource when it fits
 * nowhere now, else the policy holding it back. */
static void do_reason(cluster *cl, cl_task *t, const sched_node *nodes, size_t n,
                      const char *const *names, int explain, char *reason, size_t cap)
{
    sched_res req = { t->rec.req_cpu, t->rec.req_memory, t->rec.req_storage, t->rec.req_gpu };
    if (t->rec.want_worker[0]) {
        int pick = -1;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(names[i], t->rec.want_worker)) pick = (int)i;
        if (pick < 0 || !nodes[pick].usable)
            snprintf(reason, cap, "waiting for worker %s (not connected)", t->rec.want_worker);
        else
            snprintf(reason, cap, "waiting for free resources on worker %s", t->rec.want_worker);
        return;
    }
    if (!explain) {
        snprintf(reason, cap, "waiting for free resources");
        return;
    }
    if (sched_pick(nodes, n, &req, SCHED_BEST_FIT, names, reason, cap) >= 0)
        snprintf(reason, cap, "waiting its turn (scheduler policy %s)",
                 policy_name(schedstate_kind(cl->ss)));
}

/* -array A-B%P: members of each capped array that hold a slot now
 * (assigned or running), counted once per pass. */
typedef struct arr_slot { const char *id; uint64_t n; } arr_slot;

/* The task's index in the scheduler's users (kept: a pass asks for every
 * queued task, and the lookup is a scan of the users by name). */
static int task_user(cluster *cl, cl_task *t)
{
    if (!t->user_ix) {
        int u = schedstate_user(cl->ss, t->rec.user_id);
        if (u < 0) return -1;
        t->user_ix = u + 1;
    }
    return t->user_ix - 1;
}

static arr_slot *arr_find(arr_slot *v, size_t *n, size_t cap, const char *id)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(v[i].id, id)) return &v[i];
    if (*n == cap) return NULL;
    v[*n] = (arr_slot){ id, 0 };
    return &v[(*n)++];
}

/* After a restart an assignment sent just before it may not have been
 * stored (the store lags writes nobody waits for): its task comes back
 * queued while its worker still runs it. Placing it elsewhere before that
 * worker is back would run it twice; so nothing is placed until every
 * worker connected at the crash has registered (and had such a run
 * adopted, cluster_worker_register) or been lost (heartbeat_timeout_s).
 * It also keeps the queue from landing on whichever worker is back first. */
static int do_recovering(cluster *cl)
{
    if (!cl->recovering) return 0;
    char names[256] = "";
    size_t len = 0, waiting = 0;
    for (size_t i = 0; i < cl->nworkers; i++) {
        const cl_worker *w = &cl->workers[i];
        if (!w->expected || w->c || w->lost) continue;
        if (waiting++ < 4 && len + strlen(w->rec.worker_id) + 3 < sizeof names)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "", w->rec.worker_id);
    }
    if (waiting) {
        if (cl->recovering == 1 && cl->nqueue) {
            log_info("placing no task until the workers connected before the restart are back or lost "
                     "(at most %d s): %s%s", cl->cfg->heartbeat_timeout_s, names, waiting > 4 ? ", ..." : "");
            cl->recovering = 2;
        }
        return 1;
    }
    if (cl->recovering == 2)
        log_info("the workers connected before the restart are back or lost: placing tasks");
    cl->recovering = 0;
    for (size_t i = 0; i < cl->nworkers; i++) cl->workers[i].expected = 0;
    return 0;
}

static void do_schedule(cluster *cl)
{
    do_fail_broken(cl);
    if (do_recovering(cl)) return;
    arr_slot *arrs = NULL;
    size_t narrs = 0, caparrs = 0;
    size_t n = cl->nworkers, nq = 0, nr = 0, cap = cl->ntasks + 1;
    sched_node *nodes = n ? calloc(n, sizeof *nodes) : NULL;
    const char **names = n ? calloc(n, sizeof *names) : NULL;
    /* Sized by every task held, filled before use: not zeroed (that
     * memset was a fifth of a pass; a pass runs about twice per task). */
    policy_job *q = malloc(cap * sizeof *q);
    policy_run *run = malloc(cap * sizeof *run);
    int *start = malloc(cap * sizeof *start);
    cl_task **qt = malloc(cap * sizeof *qt);
    const char **ids = malloc(cap * sizeof *ids);
    uint64_t *pmem = malloc(cap * sizeof *pmem);
    uint64_t nowms = now_ms(cl);
    double now = (double)nowms / 1000.0;

    if ((n && (!nodes || !names)) || !q || !run || !start || !qt || !ids || !pmem)
        goto out;
    for (size_t i = 0; i < n; i++) {
        cl_worker *w = &cl->workers[i];
        w->node.usable = w->c != NULL && !w->lost;
        nodes[i] = w->node;
        names[i] = w->rec.worker_id;
    }
    /* Running tasks: where, since when, for how long at most / likely. */
    for (cl_task *t = cl->held; t; t = t->hnext) {
        if (nr >= cap) break;
        int node = -1;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(names[i], t->rec.worker_id)) { node = (int)i; break; }
        if (node < 0) continue;
        double st = t->rec.started_at ? (double)t->rec.started_at / 1000.0 : now;
        run[nr++] = (policy_run){ node, task_user(cl, t),
                                  { t->rec.req_cpu, t->rec.req_memory, t->rec.req_storage,
                                    t->rec.req_gpu },
                                  st, schedstate_limit(cl->ss, &t->rec), t->predict_s,
                                  (double)t->rec.submitted_at / 1000.0 };
    }
    /* Only capped arrays need every task looked at (an assigned or
     * running member holds a slot, also one replayed at start that holds
     * no resources until its worker is back). */
    caparrs = cl->ncapped;
    if (caparrs && (arrs = calloc(caparrs, sizeof *arrs)))
        for (size_t b = 0; b < cl->nbuckets; b++)
            for (cl_task *t = cl->buckets[b]; t; t = t->next)
                if (t->rec.array_parallel && (t->rec.status == PROTO_ST_ASSIGNED ||
                                              t->rec.status == PROTO_ST_RUNNING)) {
                    arr_slot *a = arr_find(arrs, &narrs, caparrs, t->rec.array_id);
                    if (a) a->n++;
                }
    for (size_t qi = 0; qi < cl->nqueue; qi++) {
        cl_task *t = cl->queue[qi];
        if (t->rec.status != PROTO_ST_QUEUED)
            continue;
        if (t->rec.array_parallel && arrs && !t->deps_left && t->rec.retry_at <= nowms) {
            /* At most P members run at once: the rest are not candidates. */
            arr_slot *a = arr_find(arrs, &narrs, caparrs, t->rec.array_id);
            if (a && a->n >= t->rec.array_parallel) {
                char reason[256];
                snprintf(reason, sizeof reason, "waiting: %llu tasks of %s run (-array %%%llu)",
                         (unsigned long long)a->n, t->rec.array_id,
                         (unsigned long long)t->rec.array_parallel);
                if (strcmp(t->rec.error, reason)) {
                    snprintf(t->rec.error, sizeof t->rec.error, "%s", reason);
                    do_persist(cl, t);
                }
                continue;
            }
            if (a) a->n++;
        }
        if (t->rec.retry_at > nowms)
            continue;          /* a -retries backoff: rec.error says until when */
        if (t->deps_left) {
            /* Not placed, not projected: `tasks` says what it waits for. */
            char reason[256];
            deps_reason(t, reason, sizeof reason);
            if (strcmp(t->rec.error, reason)) {
                snprintf(t->rec.error, sizeof t->rec.error, "%s", reason);
                do_persist(cl, t);
            }
            continue;
        }
        /* Every ended run changes the history, and a pass follows nearly
         * every end: re-predicting the whole queue each time made a pass
         * O(queue) in keys and sorts, the run O(tasks x queue) (a deep
         * queue of trivial tasks: most of the master's time). A queued
         * task's estimate is refreshed at most every PREDICT_REFRESH_MS. */
        if (t->predict_gen == 0 ||
            (t->predict_gen != cl->hist_gen + 1 && nowms - t->predict_ms >= PREDICT_REFRESH_MS)) {
            predict_est e;
            schedstate_predict(cl->ss, &t->rec, &e);
            t->predict_s = e.level >= 0 ? e.runtime : 0;
            t->p_max_s = e.p_max;            /* 0 without history */
            t->guess_s = t->rec.timeout_s ? 0 : predict_guess(&e);
            t->pred_mem = e.level >= 0 && e.mem_peak > 0 ? (uint64_t)e.mem_peak : 0;
            t->predict_gen = cl->hist_gen + 1;
            t->predict_ms = nowms;
        }
        int node = -1;
        if (t->rec.want_worker[0]) {
            node = -2;       /* a worker not (yet) known: never placed */
            for (size_t i = 0; i < n; i++)
                if (!strcmp(names[i], t->rec.want_worker)) { node = (int)i; break; }
        }
        q[nq] = (policy_job){ { t->rec.req_cpu, t->rec.req_memory, t->rec.req_storage,
                                t->rec.req_gpu },
                              (double)t->rec.submitted_at / 1000.0,
                              schedstate_limit(cl->ss, &t->rec), t->predict_s,
                              (int)t->rec.priority, task_user(cl, t),
                              node == -2 ? (int)n : node, t->passed, t->p_max_s,
                              t->guess_s };
        qt[nq] = t;
        ids[nq] = t->rec.task_id;
        pmem[nq] = t->pred_mem;
        nq++;
    }
    /* learned: what younger tasks ran while each waited (kept per task) */
    schedstate_account(cl->ss, now, run, nr, q, nq);
    for (size_t i = 0; i < nq; i++)
        if (qt[i]->passed != q[i].passed) qt[i]->passed = q[i].passed;
    /* Expected starts for `tasks`, from the state before this pass's
     * starts, at most every 2 s and for queues a projection can afford. */
    if (nq && nq <= 2000 && nowms - cl->published_ms >= 2000) {
        schedstate_publish(cl->ss, now, nodes, n, run, nr, q, nq, ids, pmem);
        cl->published_ms = nowms;
    }
    int k = nq ? schedstate_pass(cl->ss, now, nodes, n, run, nr, q, nq, start) : 0;
    if (k < 0) goto out;
    size_t keep = 0, explained = 0;
    for (size_t i = 0; i < nq; i++) {
        cl_task *t = qt[i];
        if (start[i] >= 0) {
            do_assign(cl, t, &cl->workers[start[i]]);
            continue;
        }
        char reason[256];
        reason[0] = 0;
        do_reason(cl, t, nodes, n, names, explained++ < 64, reason, sizeof reason);
        /* Persist the reason only when it changes: `tasks` shows it. */
        if (strcmp(t->rec.error, reason)) {
            snprintf(t->rec.error, sizeof t->rec.error, "%s", reason);
            do_persist(cl, t);
        }
    }
    /* The queue keeps arrival order, minus what started (nothing else
     * leaves it without do_dequeue, so a pass that started nothing keeps
     * it as it is). */
    if (k > 0) {
        for (size_t qi = 0; qi < cl->nqueue; qi++)
            if (cl->queue[qi]->rec.status == PROTO_ST_QUEUED)
                cl->queue[keep++] = cl->queue[qi];
        cl->nqueue = keep;
    }
out:
    free(arrs);
    free(nodes);
    free(names);
    free(q);
    free(run);
    free(start);
    free(qt);
    free(ids);
    free(pmem);
}

static void do_reap(cluster *cl)
{
    uint64_t now = now_ms(cl), limit = (uint64_t)cl->cfg->heartbeat_timeout_s * 1000;
    for (size_t i = 0; i < cl->nworkers; i++) {
        cl_worker *w = &cl->workers[i];
        if (w->lost || now - w->last_seen < limit)
            continue;
        w->lost = 1;
        snprintf(w->rec.state, sizeof w->rec.state, "lost");
        log_warn("worker %s lost: silent for %llu s", w->rec.worker_id,
                 (unsigned long long)((now - w->last_seen) / 1000));
        do_save_worker(cl, w);
        if (w->c) {
            shutdown(w->c->fd, SHUT_RDWR);   /* its thread will call worker_gone */
            conn_unref(w->c);
            w->c = NULL;
        }
        char why[128];
        snprintf(why, sizeof why, "worker %s lost", w->rec.worker_id);
        for (size_t b = 0; b < cl->nbuckets; b++)
            for (cl_task *t = cl->buckets[b], *nx; t; t = nx) {
                nx = t->next;
                if (strcmp(t->rec.worker_id, w->rec.worker_id))
                    continue;
                if (t->rec.status == PROTO_ST_ASSIGNED || t->rec.status == PROTO_ST_RUNNING)
                    do_requeue(cl, t, why);
            }
    }
}

/* After a pass that took d, the next waits until 2d have passed: a pass
 * is O(queue), an end or a submission kicks one, so with a deep queue
 * back-to-back passes held the lock most of the time (submissions,
 * results and uploads waited on it) and cost O(tasks x queue) in all.
 * Paced, the scheduler keeps at most a third of a core and the lock,
 * and each pass places what the pause freed; a short queue's pass takes
 * microseconds, so it waits microseconds. */
#define PASS_PAUSE 2

static void *sched_main(void *arg)
{
    cluster *cl = arg;
    uint64_t next = 0;         /* no kicked pass before this (mono_ns) */
    pthread_mutex_lock(&cl->mu);
    while (!cl->stop) {
        uint64_t now = mono_ns();
        if (!cl->kick) {
            cv_sleep(cl, &cl->cv, now + 1000000000ull);   /* then a pass: at least one a second */
        } else if (now < next) {
            cv_sleep(cl, &cl->cv, next);
            continue;
        }
        cl->kick = 0;
        uint64_t t0 = mono_ns();
        do_reap(cl);
        do_schedule(cl);
        /* The sends after it are not the pass: a peer slow to read must
         * not hold the next pass back. */
        uint64_t t1 = mono_ns();
        next = t1 + PASS_PAUSE * (t1 - t0);
        flush_out(cl);
    }
    pthread_mutex_unlock(&cl->mu);
    return NULL;
}

void cluster_tick(cluster *cl)
{
    pthread_mutex_lock(&cl->mu);
    do_reap(cl);
    do_schedule(cl);
    flush_out(cl);
    pthread_mutex_unlock(&cl->mu);
}

/* ---- lifecycle ------------------------------------------------------------ */

/* A worker connected when the master stopped (it held a running task, or
 * its record says so): listed as disconnected and awaited before anything
 * is placed (do_recovering). NULL without memory. */
static cl_worker *do_expect(cluster *cl, const char *id)
{
    cl_worker *w = do_worker(cl, id);
    if (!w && !(w = do_worker_add(cl, id))) return NULL;
    snprintf(w->rec.state, sizeof w->rec.state, "disconnected");
    w->expected = 1;
    cl->recovering = 1;
    return w;
}

static int load_active(void *ctx, const task_rec *r)
{
    cluster *cl = ctx;
    if (r->status == PROTO_ST_COMPLETED || r->status == PROTO_ST_FAILED ||
        r->status == PROTO_ST_CANCELLED) {
        /* History for predictions: wall time from start to the stored
         * output (the upload included; the result time is not kept). */
        if (r->status != PROTO_ST_CANCELLED && r->started_at && r->completed_at > r->started_at)
            schedstate_learn(cl->ss, r, (double)(r->completed_at - r->started_at) / 1000.0,
                             (double)r->completed_at / 1000.0);
        return 0;
    }
    cl_task *t = calloc(1, sizeof *t);
    if (!t || task_rec_copy(&t->rec, r) < 0 || do_insert(cl, t) < 0) {
        if (t) task_rec_free(&t->rec);
        free(t);
        return -1;
    }
    if (t->rec.status == PROTO_ST_QUEUED) {
        do_enqueue(cl, t);
    } else if (t->rec.worker_id[0]) {
        /* Running somewhere before the restart: hold its resources until
         * the worker reconnects and says what it still runs, or is lost. */
        do_expect(cl, t->rec.worker_id);
        /* An uploading task's result (status, exit code, error) comes
         * again in the TASK_RESULT that opens each upload attempt; until
         * then result_status stays 0 and no upload is taken. */
    }
    return 0;
}

/* A worker stored as connected (the master stopped while it was): awaited
 * (do_expect) until it registers or is lost after heartbeat_timeout_s like
 * any silent worker. */
static int load_worker(void *ctx, const worker_rec *r)
{
    cluster *cl = ctx;
    if (strcmp(r->state, "ready") && strcmp(r->state, "draining")) return 0;
    cl_worker *w = do_expect(cl, r->worker_id);
    if (w) snprintf(w->rec.address, sizeof w->rec.address, "%s", r->address);
    return 0;
}

/* After a restart: the queued tasks' dependencies are bound again, an
 * ended dependency judged from its stored record (before any thread
 * runs, so these reads take no lock); a broken -after is failed by the
 * scheduler's first pass. */
static void deps_restore(cluster *cl)
{
    for (size_t b = 0; b < cl->nbuckets; b++)
        for (cl_task *t = cl->buckets[b]; t; t = t->next) {
            char err[256];
            if (t->rec.status != PROTO_ST_QUEUED || (!t->rec.after && !t->rec.after_any)) continue;
            if (deps_parse(t->rec.after, 0, &t->deps, &t->ndeps, err, sizeof err) < 0 ||
                deps_parse(t->rec.after_any, 1, &t->deps, &t->ndeps, err, sizeof err) < 0) {
                snprintf(t->rec.error, sizeof t->rec.error, "its dependencies cannot be read: %s", err);
                t->dep_failed = 1;
                cl->ndepfail++;
                continue;
            }
            task_rec *recs = calloc((size_t)t->ndeps + 1, sizeof *recs);
            int n = 0;
            for (int i = 0; recs && i < t->ndeps; i++) {
                task_rec_init(&recs[n]);
                if (do_find(cl, t->deps[i].id) || meta_task_get(cl->meta, t->deps[i].id, &recs[n]) < 0) {
                    task_rec_free(&recs[n]);
                    continue;
                }
                n++;
            }
            int rc = recs ? do_deps_bind(cl, t, recs, n, t->rec.error, sizeof t->rec.error) : 2;
            if (rc == 2)
                snprintf(t->rec.error, sizeof t->rec.error,
                         "a dependency's record is missing from the store; not run");
            if (rc) {
                t->dep_failed = 1;
                cl->ndepfail++;
            }
            for (int i = 0; i < n; i++) task_rec_free(&recs[i]);
            free(recs);
        }
}

/* Finished tasks the predictions learn from at start: the newest, as a
 * store of millions would otherwise be read and decoded whole. */
#define LEARN_AT_START 20000

struct oldest { uint64_t at; size_t n; };
static int note_oldest(void *ctx, const task_rec *r)
{
    struct oldest *o = ctx;
    o->at = r->submitted_at;
    o->n++;
    return 0;
}

/* Learns from a finished task (load_active's first half); others skipped. */
static int learn_done(void *ctx, const task_rec *r)
{
    if (r->status != PROTO_ST_COMPLETED && r->status != PROTO_ST_FAILED) return 0;
    return load_active(ctx, r);
}

/* The active tasks (found by status, which the store filters without
 * reading documents), then, in time order, the finished ones from the
 * oldest of the newest LEARN_AT_START completed and failed. Caller holds
 * cl->mu (nothing else runs yet). */
static int load_store(cluster *cl, meta *m, meta_query *q)
{
    static const int done[] = { PROTO_ST_COMPLETED, PROTO_ST_FAILED };
    uint64_t since = UINT64_MAX;
    int rc = 0;
    for (int st = 1; st <= PROTO_ST_MAX && rc >= 0; st++) {
        if (st == PROTO_ST_COMPLETED || st == PROTO_ST_FAILED || st == PROTO_ST_CANCELLED) continue;
        q->status = st;
        rc = meta_tasks_find(m, q, load_active, cl);
    }
    for (size_t i = 0; i < sizeof done / sizeof done[0] && rc >= 0; i++) {
        struct oldest o = { 0, 0 };
        memset(q, 0, sizeof *q);
        q->status = done[i];
        q->newest_first = 1;
        q->limit = LEARN_AT_START;
        if ((rc = meta_tasks_find(m, q, note_oldest, &o)) >= 0 && o.n && o.at < since) since = o.at;
    }
    if (rc < 0 || since == UINT64_MAX) return rc;
    memset(q, 0, sizeof *q);
    q->since = since;
    return meta_tasks_find(m, q, learn_done, cl);
}

cluster *cluster_new(const config *cfg, meta *m, char *err, size_t errcap)
{
    cluster *cl = calloc(1, sizeof *cl);
    meta_query q = { 0 };
    if (!cl) goto nomem;
    pthread_mutex_init(&cl->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cl->cv, &ca);
    pthread_cond_init(&cl->wcv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&cl->wdone_cv, NULL);
    pthread_cond_init(&cl->end_cv, NULL);
    /* Without it (no memory) every WAIT looks at all its ids each time. */
    cl->endlog = malloc(END_LOG * sizeof *cl->endlog);
    cl->cfg = cfg;
    cl->meta = m;
    {
        char dir[CONFIG_PATH_MAX + 16];
        snprintf(dir, sizeof dir, "%s/logs", cfg->meta_dir);
        if (!(cl->lb = logbook_new(dir, cfg->max_log_bytes))) goto nomem;
    }
    if (!(cl->ss = schedstate_new(cfg))) goto nomem;
    cl->nbuckets = 1024;
    if (!(cl->buckets = calloc(cl->nbuckets, sizeof *cl->buckets))) goto nomem;
    pthread_mutex_lock(&cl->mu);
    int rc = load_store(cl, m, &q);
    if (rc >= 0) meta_workers_list(m, load_worker, cl);
    pthread_mutex_unlock(&cl->mu);
    if (rc < 0) {
        snprintf(err, errcap, "loading tasks from the metadata store failed (%d)", rc);
        cluster_free(cl);
        return NULL;
    }
    deps_restore(cl);
    if (cl->ntasks)
        log_info("recovered %zu active tasks (%zu queued, %zu waiting for dependencies)",
                 cl->ntasks, cl->nqueue, cl->nblocked);
    if (pthread_create(&cl->wthr, NULL, writer_main, cl) != 0) {
        snprintf(err, errcap, "cannot start the metadata writer thread");
        cluster_free(cl);
        return NULL;
    }
    cl->wstarted = 1;
    return cl;
nomem:
    snprintf(err, errcap, "out of memory");
    cluster_free(cl);
    return NULL;
}

int cluster_start(cluster *cl)
{
    int rc = pthread_create(&cl->thr, NULL, sched_main, cl);
    if (rc == 0) cl->started = 1;
    return -rc;
}

void cluster_stop(cluster *cl)
{
    if (!cl) return;
    if (cl->started) {
        pthread_mutex_lock(&cl->mu);
        cl->stop = 1;
        pthread_cond_signal(&cl->cv);
        pthread_mutex_unlock(&cl->mu);
        pthread_join(cl->thr, NULL);
        cl->started = 0;
    }
    if (cl->wstarted) {
        /* The writer drains what is queued first: intermediate statuses
         * reach the store before the process exits. */
        pthread_mutex_lock(&cl->mu);
        cl->wstop = 1;
        pthread_cond_signal(&cl->wcv);
        pthread_mutex_unlock(&cl->mu);
        pthread_join(cl->wthr, NULL);
        cl->wstarted = 0;
    }
}

void cluster_free(cluster *cl)
{
    if (!cl) return;
    cluster_stop(cl);
    for (size_t i = 0; i < cl->nbuckets && cl->buckets; i++)
        for (cl_task *t = cl->buckets[i], *nx; t; t = nx) {
            nx = t->next;
            task_free(t);
        }
    for (size_t i = 0; i < cl->nworkers; i++)
        conn_unref(cl->workers[i].c);
    for (size_t i = 0; i < cl->nout; i++) {
        proto_buf_free(&cl->out[i].b);
        conn_unref(cl->out[i].c);
    }
    for (wop *w = cl->whead, *nx; w; w = nx) {   /* only after a failed start */
        nx = w->next;
        wop_free(w);
    }
    free(cl->out);
    free(cl->workers);
    free(cl->buckets);
    free(cl->queue);
    free(cl->endlog);
    schedstate_free(cl->ss);
    logbook_free(cl->lb);
    pthread_cond_destroy(&cl->cv);
    pthread_cond_destroy(&cl->wcv);
    pthread_cond_destroy(&cl->wdone_cv);
    pthread_cond_destroy(&cl->end_cv);
    pthread_mutex_destroy(&cl->mu);
    free(cl);
}

meta *cluster_meta(cluster *cl) { return cl->meta; }

int cluster_expected(cluster *cl, const char *task_id, uint64_t *start_ms, uint64_t *predicted_s,
                     uint64_t *predicted_mem)
{
    return schedstate_expected(cl->ss, task_id, start_ms, predicted_s, predicted_mem);
}
void cluster_set_admit(cluster *cl, cluster_admit_fn fn, void *ctx)
{
    cl->admit = fn;
    cl->admit_ctx = ctx;
}
const config *cluster_config(cluster *cl) { return cl->cfg; }
void cluster_set_clock(cluster *cl, cluster_clock_fn fn, void *ctx)
{
    pthread_mutex_lock(&cl->mu);
    cl->clock = fn;
    cl->clock_ctx = ctx;
    pthread_mutex_unlock(&cl->mu);
}

void cluster_log_path(cluster *cl, const char *task_id, char *out, size_t cap)
{
    logbook_path(cl->lb, task_id, 0, out, cap);
}

logbook *cluster_logbook(cluster *cl)
{
    return cl->lb;
}

int cluster_log_attempt(cluster *cl, const char *worker_id, const char *task_id,
                        uint64_t *attempt)
{
    int rc = -1;
    pthread_mutex_lock(&cl->mu);
    cl_task *t = do_find(cl, task_id);
    if (t && !strcmp(t->rec.worker_id, worker_id) &&
        (t->rec.status == PROTO_ST_ASSIGNED || t->rec.status == PROTO_ST_RUNNING ||
         t->rec.status == PROTO_ST_UPLOADING)) {
        *attempt = t->rec.attempts;
        rc = 0;
    }
    pthread_mutex_unlock(&cl->mu);
    return rc;
}

void cluster_log_note(cluster *cl, const char *task_id, const char *note)
{
    pthread_mutex_lock(&cl->mu);
    cl_task *t = do_find(cl, task_id);
    if (t) snprintf(t->log_note, sizeof t->log_note, "%s", note);
    pthread_mutex_unlock(&cl->mu);
}

/* ---- client requests -------------------------------------------------------- */

/* A request no registered worker could ever run, even idle: refused at
 * submit (Slurm does the same) unless [scheduler] queue_unsatisfiable, so
 * `-cpu_cores 64` or a GPU on a GPU-less cluster does not wait forever.
 * Workers known only from stored tasks (no totals yet) do not count; with
 * none registered the task waits. 1 with err set when it never fits. */
static int do_never_fits(cluster *cl, const task_rec *t, char *err, size_t errcap)
{
    sched_res req = { t->req_cpu, t->req_memory, t->req_storage, t->req_gpu };
    cl_worker *big = NULL;
    int known = 0, anygpu = 0;
    for (size_t i = 0; i < cl->nworkers; i++) {
        cl_worker *w = &cl->workers[i];
        const sched_res *tot = &w->node.total;
        if (tot->cpu <= 0 && !tot->memory) continue;
        known = 1;
        if (sched_fits(tot, &req)) return 0;
        anygpu |= tot->gpu > 0;
        /* The largest: most CPUs, then memory, then GPUs. */
        if (!big || tot->cpu > big->node.total.cpu ||
            (tot->cpu == big->node.total.cpu && (tot->memory > big->node.total.memory ||
             (tot->memory == big->node.total.memory && tot->gpu > big->node.total.gpu))))
            big = w;
    }
    if (!known) return 0;
    const sched_res *b = &big->node.total;
    char need[96];
    if (req.gpu > 0 && !anygpu)
        snprintf(need, sizeof need, "no worker has any GPU (it asks for %llu)",
                 (unsigned long long)req.gpu);
    else
        snprintf(need, sizeof need, "it asks for %.3g CPUs, %.3g GiB memory, %.3g GiB storage, %llu GPUs",
                 req.cpu, req.memory / 1073741824.0, req.storage / 1073741824.0,
                 (unsigned long long)req.gpu);
    snprintf(err, errcap,
             "no registered worker could ever run this task: %s; the largest, %s, has %.3g CPUs, "
             "%.3g GiB memory, %.3g GiB storage, %llu GPUs in total "
             "(the master's [scheduler] queue_unsatisfiable = true queues such tasks)",
             need, big->rec.worker_id, b->cpu, b->memory / 1073741824.0,
             b->storage / 1073741824.0, (unsigned long long)b->gpu);
    return 1;
}

/* The records of a new task's dependencies, read without cl->mu (an
 * ended one is judged from it): each must exist and be the user's own. */
static int deps_read(cluster *cl, const cl_dep *deps, int n, const char *user, task_rec *out,
                     char *err, size_t errcap)
{
    for (int i = 0; i < n; i++) {
        task_rec_free(&out[i]);
        task_rec_init(&out[i]);
        if (cluster_task_for_user(cl, deps[i].id, user, 0, &out[i])) {
            snprintf(err, errcap, "-after%s: no task %s", deps[i].any ? "-any" : "", deps[i].id);
            return CAI_E_WIRE(PROTO_ERR_NOT_FOUND);
        }
    }
    return 0;
}

/* member: t is one task of an -array (its array fields are the master's). */
static int submit(cluster *cl, task_rec *t, const char *user, char *err, size_t errcap,
                  task_rec *out, int sync, int member)
{
    uint64_t now = now_ms(cl);
    int rc = 0, ndeps = 0;
    cl_task *ct = NULL;
    cl_dep *deps = NULL;
    task_rec *dep_recs = NULL;
    char name[sizeof t->task_name];

    if (!t->docker_image[0]) {
        snprintf(err, errcap, "a docker image is required");
        return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
    }
    if (t->req_cpu < 0 || t->req_cpu > 1e6) {
        snprintf(err, errcap, "cpu request out of range");
        return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
    }
    /* Docker refuses NanoCpus under 0.01 CPU when the container starts;
     * say so now, not as a failed run later (one rule for both runtimes). */
    if (t->req_cpu > 0 && t->req_cpu < 0.01) {
        snprintf(err, errcap, "-cpu_cores %g is below 0.01, the least the runtime accepts",
                 t->req_cpu);
        return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
    }
    if (t->envc > TASK_ENV_MAX) {
        snprintf(err, errcap, "more than %d -env entries", TASK_ENV_MAX);
        return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
    }
    for (int i = 0; i < t->envc; i++) {
        const char *why = task_env_invalid(t->env[i]);
        if (why) {
            snprintf(err, errcap, "-env '%.60s': %s", t->env[i], why);
            return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
        }
    }
    /* One cap for names everywhere: a longer name is refused, not cut, so
     * two long names can never meet on one stored prefix. */
    if (strlen(t->task_name) > IDS_NAME_MAX) {
        snprintf(err, errcap, "-name: at most %d bytes (%zu given)", IDS_NAME_MAX,
                 strlen(t->task_name));
        return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
    }
    if (t->ninputs > TASK_INPUTS_MAX) {
        snprintf(err, errcap, "more than %d inputs", TASK_INPUTS_MAX);
        return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
    }
    if (t->ninputs && task_inputs_conflict(t->inputs, t->ninputs, err, errcap))
        return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
    /* Unresolved: only a task: reference to a dependency still running
     * (inxfer_resolve checked it); it is bound when a worker fetches it. */
    for (int i = 0; i < t->ninputs; i++)
        if (!t->inputs[i].has_sha && strncmp(t->inputs[i].source, "task:", 5) != 0) {
            snprintf(err, errcap, "input '%.200s' was not resolved", t->inputs[i].source);
            return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
        }
    if (t->priority < -1000 || t->priority > 1000) {
        snprintf(err, errcap, "priority must be from -1000 to 1000");
        return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
    }
    if (t->retries > TASK_RETRIES_MAX) {
        snprintf(err, errcap, "-retries must be from 0 to %d", TASK_RETRIES_MAX);
        return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
    }
    t->retried = 0;
    if (!member) {                 /* set by the master's array path only */
        t->array_id[0] = 0;
        t->array_index = t->array_parallel = 0;
    }
    /* Dependencies name tasks that exist already: no cycle can form. */
    if (deps_parse(t->after, 0, &deps, &ndeps, err, errcap) < 0 ||
        deps_parse(t->after_any, 1, &deps, &ndeps, err, errcap) < 0) {
        free(deps);
        return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
    }
    if (ndeps) {
        if (!(dep_recs = calloc((size_t)ndeps, sizeof *dep_recs))) {
            free(deps);
            snprintf(err, errcap, "out of memory");
            return CAI_E_WIRE(PROTO_ERR_INTERNAL);
        }
        for (int i = 0; i < ndeps; i++) task_rec_init(&dep_recs[i]);
        if ((rc = deps_read(cl, deps, ndeps, user, dep_recs, err, errcap))) goto out;
    }
    /* Quota: only this user's submissions are refused; the check reads
     * the store, so it runs before the cluster lock is taken. */
    if (cl->admit) {
        int a = cl->admit(cl->admit_ctx, user, err, errcap);
        if (a == 2) { rc = CAI_E_WIRE(PROTO_ERR_LIMIT); goto out; }
        if (a == 1) log_warn("%s", err);
        else if (errcap) err[0] = 0;
    }
    if (ids_task_id(now, t->task_id, sizeof t->task_id) < 0) {
        snprintf(err, errcap, "cannot draw a random task id");
        rc = CAI_E_WIRE(PROTO_ERR_INTERNAL);
        goto out;
    }
    snprintf(t->user_id, sizeof t->user_id, "%s", user);
    if (!t->task_name[0])
        ids_auto_name(t->docker_image, now, name, sizeof name);
    else
        ids_sanitize(t->task_name, name, sizeof name);
    snprintf(t->task_name, sizeof t->task_name, "%s", name);
    t->submitted_at = t->created_at = now;
    t->status = PROTO_ST_QUEUED;
    t->exit_code = -1;
    t->attempts = 0;
    if (!t->timeout_s && cl->cfg->task_timeout_s > 0)
        t->timeout_s = (uint64_t)cl->cfg->task_timeout_s;

    pthread_mutex_lock(&cl->mu);
    if (t->want_worker[0]) {
        cl_worker *w = do_worker(cl, t->want_worker);
        sched_res req = { t->req_cpu, t->req_memory, t->req_storage, t->req_gpu };
        if (!w) {
            snprintf(err, errcap, "no worker named '%s' (see `cloudai workers`)", t->want_worker);
            rc = CAI_E_WIRE(PROTO_ERR_NOT_FOUND);
        } else if (!sched_fits(&w->node.total, &req)) {
            snprintf(err, errcap, "task does not fit on worker %s (it has %.3g CPUs, %.3g GiB memory, %.3g GiB storage, %llu GPUs in total)",
                     t->want_worker, w->node.total.cpu, w->node.total.memory / 1073741824.0,
                     w->node.total.storage / 1073741824.0, (unsigned long long)w->node.total.gpu);
            rc = CAI_E_WIRE(PROTO_ERR_NO_FIT);
        }
    } else if (!cl->cfg->queue_unsatisfiable && do_never_fits(cl, t, err, errcap)) {
        rc = CAI_E_WIRE(PROTO_ERR_NO_FIT);
    }
    pthread_mutex_unlock(&cl->mu);
    if (rc) goto out;
    if (!(ct = calloc(1, sizeof *ct)) || task_rec_copy(&ct->rec, t) < 0) {
        snprintf(err, errcap, "out of memory");
        rc = CAI_E_WIRE(PROTO_ERR_INTERNAL);
        goto out;
    }
    /* The submission's own record is written here, by the submitting
     * thread and before the task exists in memory, so no other change of
     * it can overtake it, and a slow store delays only this request
     * (DESIGN.md invariant 9). Never acknowledge (or run) a task that a
     * restart would forget: with sync, it is durable before it is queued;
     * without, the caller syncs before it acknowledges. */
    char serr[256] = "";
    if (meta_task_put_nosync(cl->meta, &ct->rec, serr, sizeof serr) < 0 ||
        (sync && meta_sync(cl->meta, serr, sizeof serr) < 0)) {
        log_error("task %s: metadata store: %s", ct->rec.task_id, serr);
        snprintf(err, errcap, "metadata store: %s", serr);
        rc = CAI_E_WIRE(PROTO_ERR_STORE);
        goto out;
    }
    pthread_mutex_lock(&cl->mu);
    char broken[512] = "";
    if (ndeps) {
        ct->deps = deps;
        ct->ndeps = ndeps;
        deps = NULL;
        /* A dependency that ended after deps_read and whose final write
         * has landed since: read it again (bounded). */
        int b;
        for (int tries = 0; (b = do_deps_bind(cl, ct, dep_recs, ndeps, broken, sizeof broken)) == 2 &&
                            tries < 5; tries++) {
            pthread_mutex_unlock(&cl->mu);
            deps_read(cl, ct->deps, ct->ndeps, user, dep_recs, serr, sizeof serr);
            pthread_mutex_lock(&cl->mu);
        }
        if (b == 2) snprintf(broken, sizeof broken, "a dependency's record could not be read");
        else if (b == 0) broken[0] = 0;
    }
    if (do_insert(cl, ct) < 0 || do_enqueue(cl, ct) < 0) {
        do_unlink(cl, ct);
        if (ct->deps_left) cl->nblocked--;
        pthread_mutex_unlock(&cl->mu);
        snprintf(err, errcap, "out of memory");
        rc = CAI_E_WIRE(PROTO_ERR_INTERNAL);
        goto out;
    }
    log_info("task %s submitted by %s: %s (%s)", ct->rec.task_id, user, ct->rec.task_name,
             ct->rec.docker_image);
    if (broken[0]) {
        /* A dependency failed already: the task fails now, with why. */
        snprintf(ct->rec.error, sizeof ct->rec.error, "%s", broken);
        if (out && task_rec_copy(out, &ct->rec) < 0) rc = CAI_E_WIRE(PROTO_ERR_INTERNAL);
        if (out) { out->status = PROTO_ST_FAILED; out->completed_at = now_ms(cl); }
        (void)do_finish(cl, ct, PROTO_ST_FAILED);
        ct = NULL;
        flush_out(cl);
        pthread_mutex_unlock(&cl->mu);
        goto out;
    }
    if (ct->deps_left) {
        deps_reason(ct, ct->rec.error, sizeof ct->rec.error);
        do_persist(cl, ct);
    }
    /* A request far above what such tasks used: say so (after a quota
     * warning, which matters more). */
    if (errcap && !err[0])
        schedstate_warn(cl->ss, &ct->rec, err, errcap);
    /* With nothing else waiting, place it now so the reply can say where
     * it went or why it waits; behind a queue, the scheduler thread keeps
     * FIFO order (and a long queue is not rescanned per submission). */
    if (cl->nqueue == 1)
        do_schedule(cl);
    if (out && task_rec_copy(out, &ct->rec) < 0) rc = CAI_E_WIRE(PROTO_ERR_INTERNAL);
    ct = NULL;
    flush_out(cl);
    pthread_mutex_unlock(&cl->mu);
out:
    if (ct) task_free(ct);
    free(deps);
    for (int i = 0; dep_recs && i < ndeps; i++) task_rec_free(&dep_recs[i]);
    free(dep_recs);
    return rc;
}

int cluster_submit(cluster *cl, task_rec *t, const char *user, char *err, size_t errcap,
                   task_rec *out)
{
    return submit(cl, t, user, err, errcap, out, 1, 0);
}

int cluster_submit_nosync(cluster *cl, task_rec *t, const char *user, char *err, size_t errcap,
                          task_rec *out)
{
    return submit(cl, t, user, err, errcap, out, 0, 0);
}

int cluster_submit_array(cluster *cl, task_rec *t, const char *spec, const char *user,
                         char *err, size_t errcap, task_rec *out)
{
    uint64_t a = 0, b = 0, p = 0;
    int rc = 0;
    char id[64], **env = NULL, idx[48];
    if (task_array_parse(spec, CLUSTER_ARRAY_MAX, &a, &b, &p) < 0) {
        snprintf(err, errcap, "-array '%.32s': want A-B or A-B%%P with 0 <= A <= B, at most %d "
                 "tasks, P >= 1", spec, CLUSTER_ARRAY_MAX);
        return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
    }
    if (ids_task_id(now_ms(cl), id, sizeof id) < 0) {
        snprintf(err, errcap, "cannot draw a random array id");
        return CAI_E_WIRE(PROTO_ERR_INTERNAL);
    }
    char array_id[64];
    snprintf(array_id, sizeof array_id, "array-%s", strncmp(id, "task-", 5) ? id : id + 5);
    /* The member's environment: the task's, CLOUDAI_ARRAY_INDEX last (a
     * value given with -env is replaced). */
    int n = 0;
    if (!(env = calloc((size_t)t->envc + 2, sizeof *env))) {
        snprintf(err, errcap, "out of memory");
        return CAI_E_WIRE(PROTO_ERR_INTERNAL);
    }
    for (int i = 0; i < t->envc; i++)
        if (strncmp(t->env[i], "CLOUDAI_ARRAY_INDEX=", 20)) env[n++] = t->env[i];
    env[n++] = idx;
    char (*made)[64] = calloc((size_t)(b - a + 1), sizeof *made);
    size_t nmade = 0;
    if (!made) {
        free(env);
        snprintf(err, errcap, "out of memory");
        return CAI_E_WIRE(PROTO_ERR_INTERNAL);
    }
    for (uint64_t i = a; i <= b && rc == 0; i++) {
        task_rec m, o;
        task_rec_init(&o);
        if (task_rec_copy(&m, t) < 0) { rc = CAI_E_WIRE(PROTO_ERR_INTERNAL); snprintf(err, errcap, "out of memory"); break; }
        snprintf(idx, sizeof idx, "CLOUDAI_ARRAY_INDEX=%llu", (unsigned long long)i);
        if (task_rec_set_env(&m, n, env) < 0) {
            task_rec_free(&m);
            rc = CAI_E_WIRE(PROTO_ERR_INTERNAL);
            snprintf(err, errcap, "out of memory");
            break;
        }
        char warn[1024] = "";
        snprintf(m.array_id, sizeof m.array_id, "%s", array_id);
        m.array_index = i;
        m.array_parallel = p;
        rc = submit(cl, &m, user, i == a ? err : warn, i == a ? errcap : sizeof warn, &o, 0, 1);
        if (rc && i != a) snprintf(err, errcap, "task %llu of the array: %s", (unsigned long long)i, warn);
        if (rc == 0) {
            snprintf(made[nmade++], sizeof made[0], "%s", o.task_id);
            if (i == a && out) { task_rec_free(out); if (task_rec_copy(out, &o) < 0) rc = CAI_E_WIRE(PROTO_ERR_INTERNAL); }
        }
        task_rec_free(&o);
        task_rec_free(&m);
    }
    if (rc) {
        /* All or none: those made are withdrawn. */
        char cerr[256];
        for (size_t i = 0; i < nmade; i++)
            cluster_cancel(cl, made[i], user, 1, cerr, sizeof cerr);
    } else {
        log_info("array %s submitted by %s: %zu tasks (%s)", array_id, user, nmade, spec);
    }
    free(made);
    free(env);
    return rc;
}

/* Read from the store without cl->mu: a task the cluster does not hold
 * (finished, or never existed). A finished task whose final write is
 * still queued is answered from the queue. */
static int stored_task(cluster *cl, const char *task_id, task_rec *out)
{
    pthread_mutex_lock(&cl->mu);
    const task_rec *p = do_pending(cl, task_id);
    int rc = p ? (task_rec_copy(out, p) < 0 ? META_E_NOMEM : 0) : 1;
    pthread_mutex_unlock(&cl->mu);
    return rc == 1 ? meta_task_get(cl->meta, task_id, out) : rc;
}

int cluster_cancel(cluster *cl, const char *task_id, const char *user, int admin,
                   char *err, size_t errcap)
{
    int rc = 0;
    uint64_t seq = 0;
    pthread_mutex_lock(&cl->mu);
    cl_task *t = do_find(cl, task_id);
    if (!t) {
        pthread_mutex_unlock(&cl->mu);
        task_rec r;
        task_rec_init(&r);
        if (stored_task(cl, task_id, &r) == 0 && (admin || !strcmp(r.user_id, user))) {
            snprintf(err, errcap, "task %s is already %s", task_id,
                     proto_status_name((uint64_t)r.status));
            rc = CAI_E_WIRE(PROTO_ERR_STATE);
        } else {
            snprintf(err, errcap, "no task %s", task_id);
            rc = CAI_E_WIRE(PROTO_ERR_NOT_FOUND);
        }
        task_rec_free(&r);
        return rc;
    }
    if (!admin && strcmp(t->rec.user_id, user)) {
        snprintf(err, errcap, "no task %s", task_id);   /* do not reveal others' ids */
        rc = CAI_E_WIRE(PROTO_ERR_NOT_FOUND);
        goto out;
    }
    switch (t->rec.status) {
    case PROTO_ST_QUEUED:
        snprintf(t->rec.error, sizeof t->rec.error, "cancelled by %s", user);
        seq = do_finish(cl, t, PROTO_ST_CANCELLED);
        break;
    case PROTO_ST_ASSIGNED:
    case PROTO_ST_RUNNING: {
        cl_worker *w = do_worker(cl, t->rec.worker_id);
        t->cancel_requested = 1;
        snprintf(t->rec.error, sizeof t->rec.error, "cancelled by %s", user);
        outmsg *o = w ? do_out(cl, w->c) : NULL;
        if (o) {
            proto_begin(&o->b, PROTO_CANCEL, 0);
            proto_put_str(&o->b, T_TASK_ID, task_id);
            proto_put_u64(&o->b, T_ATTEMPTS, t->rec.attempts);   /* this attempt only */
            seq = do_persist(cl, t);   /* `tasks` shows who cancelled it */
        } else {
            seq = do_finish(cl, t, PROTO_ST_CANCELLED);
        }
        break;
    }
    default:
        snprintf(err, errcap, "task %s has finished running; its output is being stored", task_id);
        rc = CAI_E_WIRE(PROTO_ERR_STATE);
    }
    flush_out(cl);
    /* The reply says it is done: only once the store has it. */
    if (rc == 0 && seq) rc = do_commit_wait(cl, seq, err, errcap);
out:
    pthread_mutex_unlock(&cl->mu);
    return rc;
}

int cluster_workers(cluster *cl, meta_worker_cb cb, void *ctx)
{
    pthread_mutex_lock(&cl->mu);
    for (size_t i = 0; i < cl->nworkers; i++) {
        cl_worker *w = &cl->workers[i];
        worker_rec r = w->rec;
        r.cpu = w->node.total.cpu;
        r.memory = w->node.total.memory;
        r.storage = w->node.total.storage;
        r.gpu = w->node.total.gpu;
        r.free_cpu = w->node.free.cpu;
        r.free_memory = w->node.free.memory;
        r.free_storage = w->node.free.storage;
        r.free_gpu = w->node.free.gpu;
        r.last_seen = w->last_seen;
        if (cb(ctx, &r)) break;
    }
    pthread_mutex_unlock(&cl->mu);
    return 0;
}

int cluster_query_match(const meta_query *q, const task_rec *r)
{
    return !((q->task_id && strcmp(q->task_id, r->task_id)) ||
             (q->user_id && strcmp(q->user_id, r->user_id)) ||
             (q->task_name && strcmp(q->task_name, r->task_name)) ||
             (q->pattern && !ids_glob(q->pattern, r->task_name)) ||
             (q->status && q->status != r->status) ||
             r->submitted_at < q->since || (q->until && r->submitted_at >= q->until));
}

typedef struct recs {
    task_rec *v;
    size_t n, cap;
    int oom;
} recs;

static void recs_add(recs *rs, const task_rec *r)
{
    if (rs->oom) return;
    if (rs->n == rs->cap) {
        size_t nc = rs->cap ? rs->cap * 2 : 64;
        task_rec *nv = realloc(rs->v, nc * sizeof *nv);
        if (!nv) { rs->oom = 1; return; }
        rs->v = nv;
        rs->cap = nc;
    }
    task_rec_init(&rs->v[rs->n]);
    if (task_rec_copy(&rs->v[rs->n], r) < 0) { task_rec_free(&rs->v[rs->n]); rs->oom = 1; return; }
    rs->n++;
}

static int by_submitted(const void *a, const void *b)
{
    const task_rec *x = a, *y = b;
    if (x->submitted_at != y->submitted_at) return x->submitted_at < y->submitted_at ? -1 : 1;
    return strcmp(x->task_id, y->task_id);
}

/* A pending write of a task the cluster no longer holds, newest only
 * (the batch being written is older than the queue). */
static int do_pending_shown(cluster *cl, const wop *w, int in_batch)
{
    if (w->is_worker || w->owner || do_find(cl, w->task.task_id)) return 0;
    for (const wop *x = w->next; x; x = x->next)
        if (!x->is_worker && !strcmp(x->task.task_id, w->task.task_id)) return 0;
    if (in_batch)
        for (const wop *x = cl->whead; x; x = x->next)
            if (!x->is_worker && !strcmp(x->task.task_id, w->task.task_id)) return 0;
    return 1;
}

int cluster_tasks_active(cluster *cl, const meta_query *q, meta_task_cb cb, void *ctx)
{
    recs rs = { NULL, 0, 0, 0 };
    pthread_mutex_lock(&cl->mu);
    for (size_t b = 0; b < cl->nbuckets; b++)
        for (cl_task *t = cl->buckets[b]; t; t = t->next)
            if (cluster_query_match(q, &t->rec)) recs_add(&rs, &t->rec);
    for (int pass = 0; pass < 2; pass++)
        for (wop *w = pass ? cl->whead : cl->wbatch; w; w = w->next)
            if (do_pending_shown(cl, w, !pass) && cluster_query_match(q, &w->task)) recs_add(&rs, &w->task);
    pthread_mutex_unlock(&cl->mu);
    /* The callback (a socket write) runs without the lock. */
    if (rs.n) qsort(rs.v, rs.n, sizeof *rs.v, by_submitted);
    size_t lim = q->limit && q->limit < rs.n ? q->limit : rs.n;
    for (size_t i = 0; i < lim; i++) {
        size_t k = q->newest_first ? rs.n - 1 - i : i;
        if (cb(ctx, &rs.v[k])) break;
    }
    for (size_t i = 0; i < rs.n; i++) task_rec_free(&rs.v[i]);
    free(rs.v);
    return rs.oom ? META_E_NOMEM : 0;
}

int cluster_task_fresh(cluster *cl, const char *task_id, task_rec *out)
{
    int rc = 0;
    pthread_mutex_lock(&cl->mu);
    cl_task *t = do_find(cl, task_id);
    const task_rec *r = t ? &t->rec : do_pending(cl, task_id);
    if (r) rc = task_rec_copy(out, r) < 0 ? META_E_NOMEM : 1;
    pthread_mutex_unlock(&cl->mu);
    return rc;
}

/* ---- WAIT ---- */

/* Slot of id in w's table: where it is, or the empty one it would go in. */
static size_t wait_slot(const cluster_wait *w, const char *id)
{
    size_t mask = w->nslot - 1, i = (size_t)hash_str(id) & mask;
    while (w->slot[i] && strcmp(w->ids[w->slot[i] - 1], id))
        i = (i + 1) & mask;
    return i;
}

int cluster_wait_init(cluster_wait *w, char *const *ids, char *done, size_t n)
{
    memset(w, 0, sizeof *w);
    w->ids = ids;
    w->done = done;
    w->n = n;
    for (w->nslot = 16; w->nslot < 2 * n; w->nslot *= 2)
        ;
    if (!(w->slot = calloc(w->nslot, sizeof *w->slot)) || !(w->fresh = malloc((n ? n : 1) * sizeof *w->fresh))) {
        cluster_wait_free(w);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = wait_slot(w, ids[i]);
        if (w->slot[k]) done[i] = 2;           /* a repeat: reported once */
        else w->slot[k] = (uint32_t)(i + 1);
    }
    return 0;
}

void cluster_wait_free(cluster_wait *w)
{
    free(w->slot);
    free(w->fresh);
    w->slot = NULL;
    w->fresh = NULL;
}

static void wait_mark(cluster_wait *w, size_t i)
{
    if (w->done[i]) return;
    w->done[i] = 1;
    w->fresh[w->nfresh++] = i;
}

/* Marks what ended since w's last look: at the first look (or when more
 * than the log holds ended meanwhile) every id not active; after it, the
 * logged ends only. */
static void do_mark_ended(cluster *cl, cluster_wait *w)
{
    if (!w->looked || !cl->endlog || cl->nended - w->seen > END_LOG) {
        for (size_t i = 0; i < w->n; i++)
            if (!w->done[i] && !do_find(cl, w->ids[i])) wait_mark(w, i);
    } else {
        for (uint64_t e = w->seen; e < cl->nended; e++) {
            size_t k = wait_slot(w, cl->endlog[e % END_LOG]);
            if (w->slot[k]) wait_mark(w, w->slot[k] - 1);
        }
    }
    w->looked = 1;
    w->seen = cl->nended;
}

size_t cluster_wait_ended(cluster *cl, cluster_wait *w, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    w->nfresh = 0;
    pthread_mutex_lock(&cl->mu);
    do_mark_ended(cl, w);
    while (!w->nfresh && pthread_cond_timedwait(&cl->end_cv, &cl->mu, &ts) != ETIMEDOUT)
        do_mark_ended(cl, w);
    if (!w->nfresh) do_mark_ended(cl, w);
    pthread_mutex_unlock(&cl->mu);
    return w->nfresh;
}

int cluster_store_wait(cluster *cl, char *err, size_t errcap)
{
    pthread_mutex_lock(&cl->mu);
    int rc = do_commit_wait(cl, cl->wseq, err, errcap);
    pthread_mutex_unlock(&cl->mu);
    return rc;
}

int cluster_store_busy_ms(cluster *cl)
{
    pthread_mutex_lock(&cl->mu);
    uint64_t since = cl->wbusy_since, now = now_ms(cl);
    pthread_mutex_unlock(&cl->mu);
    return since && now > since ? (int)(now - since > 1000000 ? 1000000 : now - since) : 0;
}

int cluster_task_bind_input(cluster *cl, const char *task_id, const task_input *in)
{
    int rc = CAI_E_WIRE(PROTO_ERR_NOT_FOUND);
    pthread_mutex_lock(&cl->mu);
    cl_task *t = do_find(cl, task_id);
    for (int i = 0; t && i < t->rec.ninputs; i++) {
        task_input *x = &t->rec.inputs[i];
        if (x->has_sha || strcmp(x->source, in->source)) continue;
        memcpy(x->sha256, in->sha256, 32);
        x->size = in->size;
        x->is_dir = in->is_dir;
        x->has_sha = 1;
        rc = 0;
    }
    if (rc == 0) do_persist(cl, t);
    pthread_mutex_unlock(&cl->mu);
    return rc;
}

int cluster_task_for_user(cluster *cl, const char *task_id, const char *user, int admin,
                          task_rec *out)
{
    int rc = 0, found;
    pthread_mutex_lock(&cl->mu);
    cl_task *t = do_find(cl, task_id);
    if ((found = t != NULL) && task_rec_copy(out, &t->rec) < 0) rc = CAI_E_WIRE(PROTO_ERR_INTERNAL);
    pthread_mutex_unlock(&cl->mu);
    if (!found && stored_task(cl, task_id, out) < 0) {
        /* <id>.attempt-<k>: an attempt re-run by -retries, kept as a run
         * of its own (the task's record, under that id). */
        const char *dot = strstr(task_id, ".attempt-");
        char *end = NULL;
        unsigned long long k = dot ? strtoull(dot + 9, &end, 10) : 0;
        char base[64];
        if (k && end && !*end && (size_t)(dot - task_id) < sizeof base) {
            snprintf(base, sizeof base, "%.*s", (int)(dot - task_id), task_id);
            task_rec_free(out);
            task_rec_init(out);
            rc = cluster_task_for_user(cl, base, user, admin, out);
            if (rc == 0 && (!out->retried || k > out->attempts)) rc = CAI_E_WIRE(PROTO_ERR_NOT_FOUND);
            if (rc == 0) {
                snprintf(out->task_id, sizeof out->task_id, "%s", task_id);
                out->status = PROTO_ST_FAILED;
                snprintf(out->error, sizeof out->error,
                         "attempt %llu of task %s, run again by -retries", k, base);
            }
            return rc;
        }
        rc = CAI_E_WIRE(PROTO_ERR_NOT_FOUND);
    }
    if (rc == 0 && !admin && strcmp(out->user_id, user))
        rc = CAI_E_WIRE(PROTO_ERR_NOT_FOUND);
    return rc;
}

/* ---- worker events ------------------------------------------------------------ */

static int in_list(char **ids, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ids[i], id)) return 1;
    return 0;
}

/* Does the worker run this attempt of id (any attempt, when it did not say)? */
static int runs_attempt(char **ids, const uint64_t *att, size_t n, const char *id, uint64_t attempt)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ids[i], id) && (!att || att[i] == attempt)) return 1;
    return 0;
}

int cluster_worker_register(cluster *cl, conn *c, const worker_rec *wr, char **running,
                            const uint64_t *run_att, size_t nrunning, char **held, size_t nheld)
{
    pthread_mutex_lock(&cl->mu);
    cl_worker *w = do_worker(cl, wr->worker_id);
    if (!w && !(w = do_worker_add(cl, wr->worker_id))) {
        pthread_mutex_unlock(&cl->mu);
        return -ENOMEM;
    }
    if (w->c && w->c != c) {
        /* The same worker reconnected: its old connection is stale. */
        shutdown(w->c->fd, SHUT_RDWR);
        conn_unref(w->c);
    }
    conn_ref(c);
    w->c = c;
    w->lost = 0;
    w->last_seen = now_ms(cl);
    snprintf(w->rec.address, sizeof w->rec.address, "%s", c->peer);
    snprintf(w->rec.state, sizeof w->rec.state, "ready");
    w->node.total = (sched_res){ wr->cpu, wr->memory, wr->storage, wr->gpu };
    w->node.free = w->node.total;
    w->rec.running = 0;

    /* Reconcile: what the master thinks runs there against what the
     * worker says it runs or holds. */
    for (size_t b = 0; b < cl->nbuckets; b++)
        for (cl_task *t = cl->buckets[b], *nx; t; t = nx) {
            nx = t->next;
            if (strcmp(t->rec.worker_id, w->rec.worker_id)) continue;
            if (t->rec.status == PROTO_ST_ASSIGNED || t->rec.status == PROTO_ST_RUNNING) {
                if (runs_attempt(running, run_att, nrunning, t->rec.task_id, t->rec.attempts)) {
                    held_unlink(cl, t);
                    do_reserve(cl, w, t);
                } else if (in_list(held, nheld, t->rec.task_id)) {
                    /* It ended while this master was away: the output is
                     * held, but the result is not known yet. It comes in
                     * the TASK_RESULT that opens the upload, which
                     * cluster_task_result takes (result_status == 0). */
                    held_unlink(cl, t);
                    t->result_status = 0;
                    t->rec.status = PROTO_ST_UPLOADING;
                    do_persist(cl, t);
                } else {
                    held_unlink(cl, t);
                    do_requeue(cl, t, "its worker restarted without it");
                }
            }
        }
    /* Anything it runs that the master gave to someone else (or finished)
     * must stop: a task never runs twice at once. */
    for (size_t i = 0; i < nrunning; i++) {
        cl_task *t = do_find(cl, running[i]);
        if (t && !strcmp(t->rec.worker_id, w->rec.worker_id) &&
            (t->rec.status == PROTO_ST_ASSIGNED || t->rec.status == PROTO_ST_RUNNING) &&
            (!run_att || run_att[i] == t->rec.attempts))
            continue;
        /* Queued here one attempt behind what the worker runs: the
         * assignment reached the worker but not the store before this
         * master stopped (an assignment is stored without waiting for it).
         * The run is the record: adopted. Cancelling it instead, the next
         * assignment would reuse its attempt number, and the cancelled
         * run's result would end the new one. */
        if (t && run_att && t->rec.status == PROTO_ST_QUEUED && run_att[i] == t->rec.attempts + 1 &&
            !t->deps_left) {
            do_dequeue(cl, t);
            if (!t->rec.started_at) t->rec.started_at = now_ms(cl);
            do_place(cl, t, w, PROTO_ST_RUNNING);   /* attempts + 1: the worker's */
            log_warn("task %s: worker %s runs attempt %llu, an assignment this master had not stored: "
                     "taken as running", t->rec.task_id, w->rec.worker_id, (unsigned long long)run_att[i]);
            continue;
        }
        /* With the attempt the worker named, only that one stops. Without
         * (an older worker): whichever attempt it runs now (the master
         * gave it none on this connection yet); an ASSIGN that follows on
         * this connection, even of the same task, is not affected. */
        outmsg *o = do_out(cl, c);
        if (o) {
            proto_begin(&o->b, PROTO_CANCEL, 0);
            proto_put_str(&o->b, T_TASK_ID, running[i]);
            if (run_att) proto_put_u64(&o->b, T_ATTEMPTS, run_att[i]);
        }
        int mine = t && !strcmp(t->rec.worker_id, w->rec.worker_id) &&
                   (t->rec.status == PROTO_ST_ASSIGNED || t->rec.status == PROTO_ST_RUNNING);
        if (mine)
            log_warn("worker %s still runs task %s attempt %llu, an attempt before its current one (%llu): "
                     "cancelling it", w->rec.worker_id, running[i], (unsigned long long)run_att[i],
                     (unsigned long long)t->rec.attempts);
        else if (run_att)
            log_warn("worker %s still runs task %s, which now belongs elsewhere: cancelling it there (attempt %llu)",
                     w->rec.worker_id, running[i], (unsigned long long)run_att[i]);
        else
            log_warn("worker %s still runs task %s, which now belongs elsewhere: cancelling it there",
                     w->rec.worker_id, running[i]);
    }
    log_info("worker %s registered from %s: %.3g CPUs, %.1f GiB memory, %.1f GiB storage, %llu GPUs; %zu running, %zu held",
             wr->worker_id, c->peer, wr->cpu, wr->memory / 1073741824.0,
             wr->storage / 1073741824.0, (unsigned long long)wr->gpu, nrunning, nheld);
    /* No fsync under the lock: the writer thread does it, without the
     * lag (the record says the worker is connected: see do_recovering). */
    do_save_worker(cl, w);
    do_write_soon(cl, cl->wseq);
    cl->kick = 1;
    pthread_cond_signal(&cl->cv);
    flush_out(cl);
    pthread_mutex_unlock(&cl->mu);
    return 0;
}

void cluster_worker_heartbeat(cluster *cl, const char *worker_id, const worker_rec *fr)
{
    pthread_mutex_lock(&cl->mu);
    cl_worker *w = do_worker(cl, worker_id);
    if (w && !w->lost)
        w->last_seen = now_ms(cl);
    pthread_mutex_unlock(&cl->mu);
}

void cluster_worker_gone(cluster *cl, const char *worker_id, conn *c)
{
    pthread_mutex_lock(&cl->mu);
    cl_worker *w = do_worker(cl, worker_id);
    if (w && w->c == c) {
        conn_unref(w->c);
        w->c = NULL;
        if (!w->lost) {
            snprintf(w->rec.state, sizeof w->rec.state, "disconnected");
            do_save_worker(cl, w);
        }
        log_warn("worker %s disconnected; lost unless it is back within %d s", worker_id,
                 cl->cfg->heartbeat_timeout_s);
    }
    pthread_mutex_unlock(&cl->mu);
}

/* A report of another attempt than the current one (the worker was lost,
 * the task placed again, maybe on the same worker): never taken. */
static int do_superseded(const cl_task *t, uint64_t attempt)
{
    return attempt && attempt != t->rec.attempts;
}

void cluster_task_status(cluster *cl, const char *worker_id, const char *task_id,
                         uint64_t attempt, int status, const char *message)
{
    pthread_mutex_lock(&cl->mu);
    cl_task *t = do_find(cl, task_id);
    if (!t || strcmp(t->rec.worker_id, worker_id)) {
        log_warn("worker %s reports task %s %s, which is not assigned to it", worker_id, task_id,
                 proto_status_name((uint64_t)status));
        goto out;
    }
    if (do_superseded(t, attempt)) {
        log_warn("worker %s reports task %s attempt %llu %s, which is superseded by attempt %llu",
                 worker_id, task_id, (unsigned long long)attempt,
                 proto_status_name((uint64_t)status), (unsigned long long)t->rec.attempts);
        goto out;
    }
    if (status == PROTO_ST_RUNNING && t->rec.status == PROTO_ST_ASSIGNED) {
        t->rec.status = PROTO_ST_RUNNING;
        t->rec.started_at = now_ms(cl);
        do_persist(cl, t);
        log_info("task %s running on %s", task_id, worker_id);
    }
out:
    pthread_mutex_unlock(&cl->mu);
}

void cluster_task_result(cluster *cl, const char *worker_id, const char *task_id,
                         uint64_t attempt, int status, int64_t exit_code, double cpu_s,
                         uint64_t mem_peak, const char *error, const char *log_tail)
{
    int save_log = 0;
    pthread_mutex_lock(&cl->mu);
    cl_task *t = do_find(cl, task_id);
    if (!t || strcmp(t->rec.worker_id, worker_id)) {
        log_warn("worker %s reports a result for task %s, which is not assigned to it",
                 worker_id, task_id);
        goto out;
    }
    if (do_superseded(t, attempt)) {
        log_warn("worker %s reports a result for task %s attempt %llu, which is superseded by attempt %llu",
                 worker_id, task_id, (unsigned long long)attempt,
                 (unsigned long long)t->rec.attempts);
        goto out;
    }
    /* Every upload attempt restates the result. Taken when this master
     * does not have it yet (the task ended while it was down) and after
     * an upload failure note, which it replaces: a retry that completes
     * shows the task's own result, not the old failure. */
    if (t->rec.status == PROTO_ST_UPLOADING && t->result_status && !t->upload_noted)
        goto out;      /* a repeated report after a reconnect */
    if (status != PROTO_ST_COMPLETED && status != PROTO_ST_FAILED && status != PROTO_ST_CANCELLED) {
        log_warn("worker %s reports task %s ended with status %d; taken as failed", worker_id,
                 task_id, status);
        status = PROTO_ST_FAILED;
    }
    save_log = log_tail && log_tail[0];
    uint64_t now = now_ms(cl);
    if (!t->rec.started_at) t->rec.started_at = now;
    t->rec.cpu_s = cpu_s > 0 ? cpu_s : 0;      /* finite: the wire's F64 check */
    t->rec.mem_peak = mem_peak;
    /* What it used, for predictions and fair share (a cancelled run says
     * little about how long such tasks take). */
    if (status != PROTO_ST_CANCELLED && !t->cancel_requested) {
        schedstate_learn(cl->ss, &t->rec, (double)(now - t->rec.started_at) / 1000.0,
                         (double)now / 1000.0);
        cl->hist_gen++;
    }
    t->rec.exit_code = exit_code;
    if (t->cancel_requested) status = PROTO_ST_CANCELLED;
    t->result_status = status;
    t->upload_noted = 0;
    if (!t->cancel_requested)
        snprintf(t->rec.error, sizeof t->rec.error, "%s", error ? error : "");
    do_release(cl, t);
    t->rec.status = PROTO_ST_UPLOADING;
    do_persist(cl, t);
out:
    pthread_mutex_unlock(&cl->mu);
    if (save_log) {
        /* Its fsyncs run in the reporting connection's thread, never
         * under the cluster lock. */
        char path[CONFIG_PATH_MAX + 128];
        cluster_log_path(cl, task_id, path, sizeof path);
        if (fsutil_write_atomic(path, log_tail, strlen(log_tail)) < 0)
            log_warn("task %s: cannot save its log tail to %s", task_id, path);
    }
}

/* ---- uploads ------------------------------------------------------------------------ */

/* The run ended with a non-zero exit of its own and has -retries left:
 * it is run again instead of finishing. */
static int do_will_retry(const cl_task *t)
{
    return t->result_status == PROTO_ST_FAILED && !t->cancel_requested && t->rec.exit_code > 0 &&
           t->rec.retried < t->rec.retries;
}

int cluster_upload_begin(cluster *cl, const char *worker_id, const char *task_id,
                         uint64_t attempt, task_rec *out, char *err, size_t errcap)
{
    int rc = 0;
    pthread_mutex_lock(&cl->mu);
    cl_task *t = do_find(cl, task_id);
    if (!t) {
        pthread_mutex_unlock(&cl->mu);
        task_rec r;
        task_rec_init(&r);
        if (stored_task(cl, task_id, &r) == 0 && strcmp(r.worker_id, worker_id)) {
            snprintf(err, errcap, "task %s belongs to worker %s", task_id,
                     r.worker_id[0] ? r.worker_id : "(none)");
            rc = CAI_E_WIRE(PROTO_ERR_FORBIDDEN);
        } else if (r.task_id[0]) {
            rc = CLUSTER_STORED;   /* finished and stored before: the worker may let go */
        } else {
            snprintf(err, errcap, "no task %s", task_id);
            rc = CAI_E_WIRE(PROTO_ERR_NOT_FOUND);
        }
        task_rec_free(&r);
        return rc;
    }
    if (strcmp(t->rec.worker_id, worker_id)) {
        snprintf(err, errcap, "task %s belongs to worker %s", task_id,
                 t->rec.worker_id[0] ? t->rec.worker_id : "(none)");
        rc = CAI_E_WIRE(PROTO_ERR_FORBIDDEN);
        goto out;
    }
    if (do_superseded(t, attempt)) {
        /* The worker lets this copy go: it will never be taken. */
        snprintf(err, errcap, "task %s attempt %llu is superseded by attempt %llu", task_id,
                 (unsigned long long)attempt, (unsigned long long)t->rec.attempts);
        rc = CAI_E_WIRE(PROTO_ERR_FORBIDDEN);
        goto out;
    }
    if (t->rec.status != PROTO_ST_UPLOADING || !t->result_status) {
        /* Never store an output without its result: the final status
         * and exit code come only from the worker's TASK_RESULT. */
        snprintf(err, errcap, "task %s is %s without a result here (send TASK_RESULT first)",
                 task_id, proto_status_name((uint64_t)t->rec.status));
        rc = CAI_E_WIRE(PROTO_ERR_STATE);
        goto out;
    }
    if (task_rec_copy(out, &t->rec) < 0) {
        snprintf(err, errcap, "out of memory");
        rc = CAI_E_WIRE(PROTO_ERR_INTERNAL);
    } else if (do_will_retry(t)) {
        /* This attempt's output is kept as a run of its own. */
        snprintf(out->task_id, sizeof out->task_id, "%s.attempt-%llu", t->rec.task_id,
                 (unsigned long long)t->rec.attempts);
    }
out:
    pthread_mutex_unlock(&cl->mu);
    return rc;
}

int cluster_upload_done(cluster *cl, const char *task_id, uint64_t files, uint64_t bytes,
                        const char *notes, char *err, size_t errcap)
{
    int rc = 0;
    pthread_mutex_lock(&cl->mu);
    cl_task *t = do_find(cl, task_id);
    if (!t) {
        snprintf(err, errcap, "task %s is no longer active", task_id);
        rc = CAI_E_WIRE(PROTO_ERR_STATE);
        goto out;
    }
    t->rec.output_files = files;
    t->rec.output_bytes = bytes;
    /* On -ENOMEM the notes stay as they were: the files are stored. */
    if (t->log_note[0]) {
        size_t n = (notes ? strlen(notes) : 0) + sizeof t->log_note + 2;
        char *both = malloc(n);
        if (both) {
            snprintf(both, n, "%s%s%s", notes && notes[0] ? notes : "",
                     notes && notes[0] ? "\n" : "", t->log_note);
            task_rec_set_notes(&t->rec, both);
            free(both);
        }
    } else if (notes) {
        task_rec_set_notes(&t->rec, notes);
    }
    int st = t->result_status;    /* set: cluster_upload_begin checked */
    if (t->upload_noted)
        t->rec.error[0] = 0;      /* the upload did succeed in the end */
    if (do_will_retry(t)) {
        /* Stored as <id>.attempt-<k>; run again after the backoff. */
        uint64_t k = ++t->rec.retried, wait_s = (uint64_t)cl->cfg->retry_backoff_s;
        for (uint64_t i = 1; i < k && wait_s < 300; i++) wait_s *= 2;
        if (wait_s > 300) wait_s = 300;
        snprintf(t->rec.error, sizeof t->rec.error,
                 "attempt %llu: exit code %lld (output: task %s.attempt-%llu); retry %llu of %llu in %llu s",
                 (unsigned long long)t->rec.attempts, (long long)t->rec.exit_code, task_id,
                 (unsigned long long)t->rec.attempts, (unsigned long long)k,
                 (unsigned long long)t->rec.retries, (unsigned long long)wait_s);
        log_info("task %s: %s", task_id, t->rec.error);
        t->rec.retry_at = now_ms(cl) + wait_s * 1000;
        t->result_status = 0;
        t->upload_noted = 0;
        t->rec.status = PROTO_ST_QUEUED;
        t->rec.worker_id[0] = 0;
        t->rec.started_at = 0;
        t->rec.exit_code = -1;
        uint64_t seq = do_persist(cl, t);
        do_enqueue(cl, t);
        rc = do_commit_wait(cl, seq, err, errcap);
        goto out;
    }
    if (st == PROTO_ST_FAILED && !t->rec.error[0])
        snprintf(t->rec.error, sizeof t->rec.error, "exit code %lld", (long long)t->rec.exit_code);
    uint64_t seq = do_finish(cl, t, st);
    /* FILE_ACK lets the worker delete its copy: the record must be on disk. */
    rc = do_commit_wait(cl, seq, err, errcap);
out:
    pthread_mutex_unlock(&cl->mu);
    return rc;
}

void cluster_upload_failed(cluster *cl, const char *task_id, const char *why, int permanent)
{
    pthread_mutex_lock(&cl->mu);
    cl_task *t = do_find(cl, task_id);
    if (t && permanent) {
        snprintf(t->rec.error, sizeof t->rec.error,
                 "upload failed: %s (output refused; the worker keeps its copy)", why);
        uint64_t seq = do_finish(cl, t, PROTO_ST_FAILED);
        (void)do_commit_wait(cl, seq, NULL, 0);   /* the verdict is final: stored first */
        pthread_mutex_unlock(&cl->mu);
        return;
    }
    if (t) {
        /* The worker keeps the output and retries; the task says why. */
        snprintf(t->rec.error, sizeof t->rec.error, "upload failed: %s (the worker keeps the output and retries)", why);
        t->upload_noted = 1;
        do_persist(cl, t);
    }
    pthread_mutex_unlock(&cl->mu);
}
