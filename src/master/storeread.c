/* storeread.c — a store read with a deadline on its first record
 * (storeread.h). The reader thread owns a copy of the query; the state it
 * shares with the caller is reference counted, so whichever of the two
 * finishes last frees it. Once the first record arrives in time the caller
 * is committed to the store's answer and waits for all of it (a store
 * that answers is streamed, however long the list); if the deadline
 * passes first, the reader is told to stop and the caller answers from
 * memory. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "log.h"
#include "storeread.h"

enum { RD_WAITING, RD_STREAMING, RD_ABANDONED };

typedef struct rd {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs, state, done, rc;
    meta *m;
    meta_query q;
    char task_id[64], user_id[64], task_name[129], pattern[129];
    meta_task_cb cb;
    void *ctx;
} rd;

/* Abandoned readers still blocked in the store: while there is one, the
 * store is known to stall and nobody else waits for it. */
static pthread_mutex_t stuck_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stuck_cv = PTHREAD_COND_INITIALIZER;
static int stuck;

/* How fast the store has been answering lately (the first record of each
 * recent listing, ms): a listing waits a few times the slowest of them,
 * so a store that answers in 5 ms is taken as stalled after ~50 ms, not
 * after the whole deadline, while a slow one (a loaded FerretDB) keeps
 * the whole deadline. Guarded by stuck_mu. */
#define LAT_N 16
static uint32_t lat_ms[LAT_N];
static unsigned lat_n;

static void lat_note(uint64_t ms)
{
    pthread_mutex_lock(&stuck_mu);
    lat_ms[lat_n++ % LAT_N] = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
    pthread_mutex_unlock(&stuck_mu);
}

/* The wait for the next listing: 4x the slowest recent answer + 20 ms,
 * within [STOREREAD_MIN_WAIT_MS, cap]; the cap until LAT_N / 2 answers. */
static int lat_wait(int cap)
{
    uint32_t worst = 0;
    pthread_mutex_lock(&stuck_mu);
    unsigned n = lat_n < LAT_N ? lat_n : LAT_N;
    for (unsigned i = 0; i < n; i++)
        if (lat_ms[i] > worst) worst = lat_ms[i];
    pthread_mutex_unlock(&stuck_mu);
    if (n < LAT_N / 2) return cap;
    uint64_t w = (uint64_t)worst * 4 + 20;
    if (w < STOREREAD_MIN_WAIT_MS) w = STOREREAD_MIN_WAIT_MS;
    return w < (uint64_t)cap ? (int)w : cap;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void storeread_drain(void)
{
    pthread_mutex_lock(&stuck_mu);
    while (stuck > 0)
        pthread_cond_wait(&stuck_cv, &stuck_mu);
    pthread_mutex_unlock(&stuck_mu);
}

static void rd_unref(rd *r)
{
    pthread_mutex_lock(&r->mu);
    int last = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (!last) return;
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static int rd_record(void *ctx, const task_rec *t)
{
    rd *r = ctx;
    pthread_mutex_lock(&r->mu);
    if (r->state == RD_WAITING) {
        r->state = RD_STREAMING;
        pthread_cond_broadcast(&r->cv);
    }
    int abandoned = r->state == RD_ABANDONED;
    pthread_mutex_unlock(&r->mu);
    /* Streaming: the caller waits for done, so its ctx is alive. */
    return abandoned ? 1 : r->cb(r->ctx, t);
}

static void *rd_main(void *arg)
{
    rd *r = arg;
    int rc = meta_tasks_find(r->m, &r->q, rd_record, r);
    pthread_mutex_lock(&r->mu);
    r->done = 1;
    r->rc = rc;
    int abandoned = r->state == RD_ABANDONED;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (abandoned) {
        log_info("metadata store: a listing abandoned after its deadline finished (%d)", rc);
    }
    int last_use_of_store = abandoned;
    rd_unref(r);
    if (last_use_of_store) {
        pthread_mutex_lock(&stuck_mu);
        stuck--;
        pthread_cond_broadcast(&stuck_cv);
        pthread_mutex_unlock(&stuck_mu);
    }
    return NULL;
}

static int copy_q(rd *r, const meta_query *q)
{
    r->q = *q;
#define COPY(f) do { if (q->f) { if (strlen(q->f) >= sizeof r->f) return -1; \
        snprintf(r->f, sizeof r->f, "%s", q->f); r->q.f = r->f; } } while (0)
    COPY(task_id);
    COPY(user_id);
    COPY(task_name);
    COPY(pattern);
#undef COPY
    r->q.file_name = NULL;
    return 0;
}

struct counting { meta_task_cb cb; void *ctx; size_t n; cluster *cl; const meta_query *q; };

static int count_cb(void *ctx, const task_rec *t)
{
    struct counting *c = ctx;
    c->n++;
    return c->cb(c->ctx, t);
}

/* A store record, replaced by the cluster's newer one while the store
 * writer has not caught up: a listing never goes back in time when it
 * flips between the store and memory. */
static int fresh_cb(void *ctx, const task_rec *t)
{
    struct counting *c = ctx;
    task_rec m;
    task_rec_init(&m);
    int rc, got = cluster_task_fresh(c->cl, t->task_id, &m);
    if (got == 1)
        rc = cluster_query_match(c->q, &m) ? count_cb(ctx, &m) : 0;
    else
        rc = count_cb(ctx, t);
    task_rec_free(&m);
    return rc;
}

/* From the store: 0 / negative, or 1 when it did not answer in time
 * (nothing was sent). With adapt, how long this one took is noted for
 * lat_wait. */
static int from_store(cluster *cl, const meta_query *q, int wait_ms, int adapt, meta_task_cb cb, void *ctx)
{
    pthread_attr_t at;
    pthread_t th;
    int rc;
    uint64_t t0 = mono_ms();
    rd *r = calloc(1, sizeof *r);
    if (!r) return 1;
    if (copy_q(r, q) < 0) { free(r); return meta_tasks_find(cluster_meta(cl), q, cb, ctx); }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->refs = 2;
    r->m = cluster_meta(cl);
    r->cb = cb;
    r->ctx = ctx;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&th, &at, rd_main, r);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        r->refs = 1;
        rd_unref(r);
        return meta_tasks_find(cluster_meta(cl), q, cb, ctx);
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    dl.tv_sec += wait_ms / 1000 + dl.tv_nsec / 1000000000L;
    dl.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&r->mu);
    while (r->state == RD_WAITING && !r->done)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &dl) == ETIMEDOUT) break;
    if (r->state == RD_WAITING && !r->done) {
        r->state = RD_ABANDONED;
        pthread_mutex_lock(&stuck_mu);
        stuck++;
        pthread_mutex_unlock(&stuck_mu);
        rc = 1;
    } else {
        if (adapt) lat_note(mono_ms() - t0);
        while (!r->done)
            pthread_cond_wait(&r->cv, &r->mu);
        rc = r->rc;
    }
    pthread_mutex_unlock(&r->mu);
    rd_unref(r);
    return rc;
}

int storeread_tasks(cluster *cl, const meta_query *q, int wait_ms, meta_task_cb cb, void *ctx,
                    int *degraded, char *note, size_t notecap)
{
    struct counting c = { cb, ctx, 0, cl, q };
    int rc = 1, busy = cluster_store_busy_ms(cl);
    *degraded = 0;
    /* The embedded journal is read from this machine's disk: its writer's
     * fdatasync runs outside the store's lock (group commit), so a busy
     * writer does not hold a read up, and a read can only wait on the disk
     * itself (a files commit's fsync, a loaded machine). The memory answer
     * lacks every finished task, so it is worth a longer wait than a
     * server that may be stopped. */
    int local = !strcmp(meta_backend(cluster_meta(cl)), "journal");
    if (local) {
        busy = 0;
        if (wait_ms < STOREREAD_LOCAL_WAIT_MS) wait_ms = STOREREAD_LOCAL_WAIT_MS;
    } else {
        wait_ms = lat_wait(wait_ms);
    }
    pthread_mutex_lock(&stuck_mu);
    int known_stalled = stuck > 0;
    pthread_mutex_unlock(&stuck_mu);
    if (!known_stalled && busy <= wait_ms) {
        rc = from_store(cl, q, wait_ms, !local, fresh_cb, &c);
        if (rc <= 0 && (rc == 0 || c.n > 0)) return rc;
    }
    /* Not in time, or failed before sending anything: from memory. */
    if (rc < 0)
        log_warn("metadata store degraded (%d): listing tasks from memory", rc);
    else
        log_warn("metadata store degraded (not answering within %d ms%s): listing tasks from memory",
                 wait_ms, known_stalled ? ", a previous read still waits" :
                 busy > wait_ms ? ", its writer is stalled" : "");
    c.n = 0;
    int mrc = cluster_tasks_active(cl, q, count_cb, &c);
    *degraded = 1;
    if (note) snprintf(note, notecap, STOREREAD_NOTE_FMT, c.n);
    return mrc;
}
