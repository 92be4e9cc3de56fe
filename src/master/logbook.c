/* logbook.c — task logs at the master (logbook.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "fsutil.h"
#include "logbook.h"

/* What is known of one attempt's log; absent = read it from the file. */
typedef struct lb_entry {
    char task_id[64];
    uint64_t attempt;
    uint64_t held;          /* log bytes accounted for (kept + dropped) */
    uint64_t kept;          /* log bytes in the file (without the marker) */
    int cut;                /* the cap was reached: the marker is written */
    struct lb_entry *next;
} lb_entry;

typedef struct lb_final {
    char task_id[64];
    uint64_t h;             /* id_hash(task_id) */
    int next;               /* the next slot in its bucket's chain, -1 = end */
    uint64_t attempt, size;
} lb_final;

/* FNV-1a. The ring is looked up per result and per upload end: a scan
 * with a strcmp per slot (ids share their first dozen bytes) cost more
 * than the rest of a result, so slots are chained per hash bucket. */
static uint64_t id_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s) { h ^= (uint8_t)*s++; h *= 1099511628211ull; }
    return h;
}

struct logbook {
    char dir[4096];
    uint64_t cap;
    pthread_mutex_t mu;     /* entries, and the appends themselves */
    pthread_mutex_t wmu;    /* gen and cv: waiters never wait behind a disk write */
    pthread_cond_t cv;
    uint64_t gen;
    lb_entry *entries;
    lb_final *finals;       /* ring of LOGBOOK_FINALS, under mu */
    int *bucket;            /* LOGBOOK_FINALS chain heads (slot or -1), under mu */
    size_t nfinal;          /* next slot */
};

logbook *logbook_new(const char *dir, uint64_t cap)
{
    logbook *lb = calloc(1, sizeof *lb);
    if (!lb) return NULL;
    if (!(lb->finals = calloc(LOGBOOK_FINALS, sizeof *lb->finals)) ||
        !(lb->bucket = malloc(LOGBOOK_FINALS * sizeof *lb->bucket))) {
        free(lb->finals);
        free(lb);
        return NULL;
    }
    for (size_t i = 0; i < LOGBOOK_FINALS; i++)
        lb->bucket[i] = -1;
    snprintf(lb->dir, sizeof lb->dir, "%s", dir);
    lb->cap = cap;
    pthread_mutex_init(&lb->mu, NULL);
    pthread_mutex_init(&lb->wmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lb->cv, &ca);
    pthread_condattr_destroy(&ca);
    fsutil_mkdir_p(dir, 0755);
    return lb;
}

void logbook_free(logbook *lb)
{
    if (!lb) return;
    for (lb_entry *e = lb->entries, *n; e; e = n) {
        n = e->next;
        free(e);
    }
    free(lb->finals);
    free(lb->bucket);
    pthread_mutex_destroy(&lb->mu);
    pthread_mutex_destroy(&lb->wmu);
    pthread_cond_destroy(&lb->cv);
    free(lb);
}

uint64_t logbook_cap(const logbook *lb)
{
    return lb->cap;
}

void logbook_path(const logbook *lb, const char *task_id, uint64_t attempt, char *out, size_t cap)
{
    if (attempt)
        snprintf(out, cap, "%s/%s.%llu.log", lb->dir, task_id, (unsigned long long)attempt);
    else
        snprintf(out, cap, "%s/%s.log", lb->dir, task_id);
}

void logbook_read_path(const logbook *lb, const char *task_id, uint64_t attempt, char *out,
                       size_t cap)
{
    struct stat st;
    logbook_path(lb, task_id, attempt, out, cap);
    if (attempt && stat(out, &st) < 0)
        logbook_path(lb, task_id, 0, out, cap);
}

static void bump(logbook *lb)
{
    pthread_mutex_lock(&lb->wmu);
    lb->gen++;
    pthread_cond_broadcast(&lb->cv);
    pthread_mutex_unlock(&lb->wmu);
}

/* Caller holds mu. */
static lb_entry *find_or_load(logbook *lb, const char *task_id, uint64_t attempt)
{
    lb_entry **pp = &lb->entries, *e;
    for (; (e = *pp); pp = &e->next)
        if (!strcmp(e->task_id, task_id)) break;
    if (e && e->attempt != attempt) {     /* a new attempt replaces the old state */
        *pp = e->next;
        free(e);
        e = NULL;
    }
    if (e) return e;
    if (!(e = calloc(1, sizeof *e))) return NULL;
    snprintf(e->task_id, sizeof e->task_id, "%s", task_id);
    e->attempt = attempt;
    char path[4200];
    struct stat st;
    logbook_path(lb, task_id, attempt, path, sizeof path);
    if (stat(path, &st) == 0) {
        uint64_t size = (uint64_t)st.st_size;
        if (lb->cap && size > lb->cap) {
            e->cut = 1;
            e->kept = lb->cap;
            e->held = lb->cap;     /* the dropped count died with the old master */
        } else {
            e->kept = e->held = size;
        }
    }
    e->next = lb->entries;
    lb->entries = e;
    return e;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int logbook_append(logbook *lb, const char *task_id, uint64_t attempt, uint64_t off,
                   const void *data, size_t len, uint64_t *held)
{
    int rc = 0, fd = -1;
    char path[4200];
    pthread_mutex_lock(&lb->mu);
    lb_entry *e = find_or_load(lb, task_id, attempt);
    if (!e) {
        rc = -ENOMEM;
        goto out;
    }
    if (e->cut) {
        /* Past the cap nothing is written: every offset is taken as
         * delivered, so the worker moves on. */
        if (off + len > e->held) e->held = off + len;
        goto out;
    }
    if (off > e->held || off + len <= e->held) goto out;     /* gap, or all held */
    const char *p = (const char *)data + (e->held - off);
    size_t n = (size_t)(off + len - e->held);
    size_t keep = n;
    if (lb->cap && e->kept + n > lb->cap) keep = (size_t)(lb->cap - e->kept);
    logbook_path(lb, task_id, attempt, path, sizeof path);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0) {
        rc = -errno;
        goto out;
    }
    if (keep && (rc = write_all(fd, p, keep)) < 0) goto out;
    if (keep < n) {
        char mark[256];
        int m = snprintf(mark, sizeof mark,
                         "\n[cloudai: log cut at %llu bytes ([storage] max_log_bytes); "
                         "the rest was dropped]\n", (unsigned long long)lb->cap);
        if ((rc = write_all(fd, mark, (size_t)m)) < 0) goto out;
        e->cut = 1;
    }
    e->kept += keep;
    e->held += n;
out:
    if (fd >= 0) close(fd);
    /* Cut: the worker need not send, nor keep, any more of it. */
    if (held) *held = e ? (e->cut ? UINT64_MAX : e->held) : 0;
    pthread_mutex_unlock(&lb->mu);
    if (rc == 0) bump(lb);
    return rc;
}

void logbook_forget(logbook *lb, const char *task_id)
{
    pthread_mutex_lock(&lb->mu);
    for (lb_entry **pp = &lb->entries, *e; (e = *pp); pp = &e->next)
        if (!strcmp(e->task_id, task_id)) {
            *pp = e->next;
            free(e);
            break;
        }
    pthread_mutex_unlock(&lb->mu);
    bump(lb);
}

/* The slot of task_id, or NULL. mu held. */
static lb_final *final_find(logbook *lb, const char *task_id)
{
    uint64_t h = id_hash(task_id);
    for (int i = lb->bucket[h % LOGBOOK_FINALS]; i >= 0; i = lb->finals[i].next)
        if (lb->finals[i].h == h && !strcmp(lb->finals[i].task_id, task_id))
            return &lb->finals[i];
    return NULL;
}

void logbook_set_final(logbook *lb, const char *task_id, uint64_t attempt, uint64_t size)
{
    pthread_mutex_lock(&lb->mu);
    lb_final *f = final_find(lb, task_id);
    if (!f) {
        int s = (int)lb->nfinal;
        f = &lb->finals[s];
        lb->nfinal = (lb->nfinal + 1) % LOGBOOK_FINALS;
        if (f->task_id[0]) {        /* the oldest gives way: out of its chain */
            int *pp = &lb->bucket[f->h % LOGBOOK_FINALS];
            while (*pp >= 0 && *pp != s)
                pp = &lb->finals[*pp].next;
            if (*pp == s) *pp = f->next;
        }
        snprintf(f->task_id, sizeof f->task_id, "%s", task_id);
        f->h = id_hash(f->task_id);
        f->next = lb->bucket[f->h % LOGBOOK_FINALS];
        lb->bucket[f->h % LOGBOOK_FINALS] = s;
    }
    f->attempt = attempt;
    f->size = size;
    pthread_mutex_unlock(&lb->mu);
    bump(lb);
}

int logbook_complete(logbook *lb, const char *task_id, uint64_t attempt, uint64_t file_bytes)
{
    int done = 1;
    pthread_mutex_lock(&lb->mu);
    const lb_final *f = final_find(lb, task_id);
    if (f && f->attempt == attempt) {
        if (lb->cap && f->size > lb->cap) done = file_bytes > lb->cap;   /* the marker is there */
        else done = file_bytes >= f->size;
    }
    pthread_mutex_unlock(&lb->mu);
    return done;
}

uint64_t logbook_gen(logbook *lb)
{
    pthread_mutex_lock(&lb->wmu);
    uint64_t g = lb->gen;
    pthread_mutex_unlock(&lb->wmu);
    return g;
}

uint64_t logbook_wait(logbook *lb, uint64_t gen, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&lb->wmu);
    while (lb->gen == gen)
        if (pthread_cond_timedwait(&lb->cv, &lb->wmu, &ts) != 0) break;
    uint64_t g = lb->gen;
    pthread_mutex_unlock(&lb->wmu);
    return g;
}

void logbook_kick(logbook *lb)
{
    bump(lb);
}

void logbook_cut_note(const logbook *lb, uint64_t log_size, char *out, size_t cap)
{
    out[0] = 0;
    if (lb->cap && log_size > lb->cap)
        snprintf(out, cap, "log: %llu bytes written, the first %llu kept ([storage] max_log_bytes); "
                 "%llu dropped", (unsigned long long)log_size, (unsigned long long)lb->cap,
                 (unsigned long long)(log_size - lb->cap));
}
