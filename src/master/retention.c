/* retention.c — expiry, pins, quotas, the sweeper and atomic run removal
 * (retention.h). */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>
#include "compress.h"
#include "fsutil.h"
#include "ids.h"
#include "log.h"
#include "instore.h"
#include "objstore.h"
#include "tier.h"
#include "retention.h"
#include "store.h"

#define DAY_MS (86400ull * 1000ull)
#define PINS_MAX 100000

struct retention {
    const config *cfg;
    meta *m;
    pthread_mutex_t mu;
    pthread_mutex_t save_mu;   /* one pins file writer at a time, without mu */
    pthread_cond_t cv;
    char (*pins)[64];
    size_t npins, cappins;
    pthread_t thr;
    int running, stop;
    instore *ins;              /* NULL: no input sweep */
    uint64_t ahead_ms;         /* test hook: the sweeper's clock runs this far ahead */
};

static int finished(int status)
{
    return status == PROTO_ST_COMPLETED || status == PROTO_ST_FAILED ||
           status == PROTO_ST_CANCELLED;
}

/* ---- pins --------------------------------------------------------------- */

static void pins_path(const retention *r, char *out, size_t cap)
{
    snprintf(out, cap, "%s/pins", r->cfg->meta_dir);
}

static ssize_t do_pin_index(retention *r, const char *id)
{
    for (size_t i = 0; i < r->npins; i++)
        if (!strcmp(r->pins[i], id))
            return (ssize_t)i;
    return -1;
}

static int do_pin_add(retention *r, const char *id)
{
    if (do_pin_index(r, id) >= 0) return 0;
    if (r->npins == r->cappins) {
        size_t nc = r->cappins ? r->cappins * 2 : 64;
        void *p = realloc(r->pins, nc * sizeof r->pins[0]);
        if (!p) return RETENTION_E_NOMEM;
        r->pins = p;
        r->cappins = nc;
    }
    snprintf(r->pins[r->npins++], sizeof r->pins[0], "%s", id);
    return 0;
}

static int load_pins(retention *r, char *err, size_t errcap)
{
    char path[CONFIG_PATH_MAX + 16], *text = NULL;
    size_t len = 0;
    pins_path(r, path, sizeof path);
    int rc = fsutil_read_file(path, &text, &len, (size_t)PINS_MAX * 64);
    if (rc == -ENOENT) return 0;
    if (rc < 0) {
        snprintf(err, errcap, "cannot read %s: %s", path, cai_strerror(rc));
        return RETENTION_E_IO;
    }
    rc = 0;
    for (char *line = strtok(text, "\n"); line && rc == 0; line = strtok(NULL, "\n"))
        if (*line && strlen(line) < sizeof r->pins[0])
            rc = do_pin_add(r, line);
    free(text);
    if (rc < 0) snprintf(err, errcap, "out of memory");
    return rc;
}

/* Whole file rewritten through temp + fsync + rename: a crash keeps the
 * old or the new set, never half of one. The write runs outside r->mu,
 * which listings take for every task they show (DESIGN.md invariant 9):
 * save_mu lets one writer at a time write the newest set. */
static int save_pins(retention *r, char *err, size_t errcap)
{
    char path[CONFIG_PATH_MAX + 16];
    int rc;
    pthread_mutex_lock(&r->save_mu);
    pthread_mutex_lock(&r->mu);
    size_t cap = r->npins * 65 + 1, off = 0;
    char *buf = malloc(cap);
    for (size_t i = 0; buf && i < r->npins; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s\n", r->pins[i]);
    pthread_mutex_unlock(&r->mu);
    if (!buf) {
        snprintf(err, errcap, "out of memory");
        rc = RETENTION_E_NOMEM;
        goto out;
    }
    pins_path(r, path, sizeof path);
    if ((rc = fsutil_write_atomic(path, buf, off)) < 0) {
        snprintf(err, errcap, "cannot write %s: %s", path, cai_strerror(rc));
        rc = RETENTION_E_IO;
    }
out:
    pthread_mutex_unlock(&r->save_mu);
    free(buf);
    return rc;
}

static void do_pin_del(retention *r, ssize_t i)
{
    memcpy(r->pins[i], r->pins[r->npins - 1], sizeof r->pins[0]);
    r->npins--;
}

int retention_pin(retention *r, const char *task_id, int pin, char *err, size_t errcap)
{
    int rc = 0, changed = 0;
    pthread_mutex_lock(&r->mu);
    ssize_t i = do_pin_index(r, task_id);
    if (pin && i < 0) {
        if ((rc = do_pin_add(r, task_id)) == RETENTION_E_NOMEM) snprintf(err, errcap, "out of memory");
        changed = rc == 0;
    } else if (!pin && i >= 0) {
        do_pin_del(r, i);
        changed = 1;
    }
    pthread_mutex_unlock(&r->mu);
    if (!changed || (rc = save_pins(r, err, errcap)) == 0)
        return rc;
    /* Not saved: undo the change in memory, so a restart agrees. */
    pthread_mutex_lock(&r->mu);
    i = do_pin_index(r, task_id);
    if (pin && i >= 0) do_pin_del(r, i);
    else if (!pin && i < 0) do_pin_add(r, task_id);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int retention_is_pinned(retention *r, const char *task_id)
{
    pthread_mutex_lock(&r->mu);
    int yes = do_pin_index(r, task_id) >= 0;
    pthread_mutex_unlock(&r->mu);
    return yes;
}

/* ---- expiry and quota ------------------------------------------------------ */

uint64_t retention_expires_at(retention *r, const task_rec *t)
{
    int days = r->cfg->retention_max_age_days;
    if (!finished(t->status) || retention_is_pinned(r, t->task_id))
        return 0;
    for (int i = 0; i < r->cfg->nrules; i++)
        if (ids_glob(r->cfg->rules[i].pattern, t->task_name)) {
            days = r->cfg->rules[i].max_age_days;
            break;
        }
    if (days <= 0) return 0;
    /* Age counts from when the run finished: a week-long training run is
     * not due the moment it is stored. */
    uint64_t base = t->completed_at ? t->completed_at : t->submitted_at;
    return base + (uint64_t)days * DAY_MS;
}

typedef struct usage_ctx {
    uint64_t bytes;
} usage_ctx;

static int add_usage(void *ctx, const task_rec *t)
{
    ((usage_ctx *)ctx)->bytes += t->output_bytes;
    return 0;
}

uint64_t retention_usage(retention *r, const char *user)
{
    meta_query q = {0};
    usage_ctx u = {0};
    q.user_id = user;
    meta_tasks_find(r->m, &q, add_usage, &u);
    return u.bytes;
}

int retention_quota_check(retention *r, const char *user, char *msg, size_t msgcap)
{
    uint64_t soft = r->cfg->quota_soft, hard = r->cfg->quota_hard;
    for (int i = 0; i < r->cfg->nquotas; i++)
        if (!strcmp(r->cfg->quotas[i].user, user)) {
            soft = r->cfg->quotas[i].soft;
            hard = r->cfg->quotas[i].hard;
        }
    if (!soft && !hard) return 0;
    uint64_t used = retention_usage(r, user);
    double gib = 1024.0 * 1024.0 * 1024.0;
    if (hard && used >= hard) {
        snprintf(msg, msgcap, "user %s stores %.2f GiB of outputs, at or over the hard quota of "
                 "%.2f GiB: new tasks are refused until runs are deleted or expire "
                 "(DELETE /api/tasks/ID/files)", user, used / gib, hard / gib);
        return 2;
    }
    if (soft && used >= soft) {
        snprintf(msg, msgcap, "warning: user %s stores %.2f GiB of outputs, over the soft quota "
                 "of %.2f GiB (hard limit %.2f GiB)", user, used / gib, soft / gib, hard / gib);
        return 1;
    }
    return 0;
}

/* ---- removal ------------------------------------------------------------------ */

/* The keys of a run's objects, NUL-separated (a key may hold any byte
 * but NUL), written durably. 0 or -1 (errno). */
static int write_keys(const char *path, const objstore_keys *k)
{
    size_t n = 0, o = 0;
    for (size_t i = 0; i < k->n; i++) n += strlen(k->v[i]) + 1;
    char *buf = malloc(n ? n : 1);
    if (!buf) { errno = ENOMEM; return -1; }
    for (size_t i = 0; i < k->n; i++) {
        size_t l = strlen(k->v[i]) + 1;
        memcpy(buf + o, k->v[i], l);
        o += l;
    }
    int rc = fsutil_write_atomic(path, buf, n);
    free(buf);
    if (rc < 0) { errno = -rc; return -1; }
    return 0;
}

int retention_remove_run(const config *cfg, meta *m, const task_rec *t, char *err,
                         size_t errcap)
{
    char dir[CONFIG_PATH_MAX + 512], trash[CONFIG_PATH_MAX + 128];
    char merr[256] = "";
    int rc;
    task_rec upd;

    if (!finished(t->status)) {
        snprintf(err, errcap, "task %s is %s: its files are not stored yet", t->task_id,
                 proto_status_name((uint64_t)t->status));
        return RETENTION_E_STATE;
    }
    if (store_run_dir(cfg, t, dir, sizeof dir) < 0) {
        snprintf(err, errcap, "store path too long");
        return RETENTION_E_IO;
    }
    /* Step 1: one rename takes every file out of the store at once, on
     * disk before the records go (a crash could otherwise bring the files
     * back without their records). */
    if ((rc = store_trash(cfg, dir, t->task_id, 1, trash, sizeof trash)) < 0 && rc != -ENOENT) {
        snprintf(err, errcap, "cannot move %s aside: %s", dir, cai_strerror(rc));
        return RETENTION_E_IO;
    }
    /* Objects in the bucket go after their records (step 4): no reader
     * ever sees a record whose object is gone. */
    objstore_keys keys;
    if (objstore_run_keys(m, t->task_id, &keys) < 0) {
        objstore_keys_free(&keys);
        snprintf(err, errcap, "out of memory");
        return RETENTION_E_IO;
    }
    /* Objects to delete are written down first (.trash/.s3-<task_id>,
     * synced): a crash before they are all gone leaves the list for the
     * next start, which finishes the removal (records, then objects). */
    char marker[CONFIG_PATH_MAX + 128], root[CONFIG_PATH_MAX + 32];
    store_trash_root(cfg, root, sizeof root);
    snprintf(marker, sizeof marker, "%s/.s3-%s", root, t->task_id);
    if (keys.n && write_keys(marker, &keys) < 0) {
        objstore_keys_free(&keys);
        snprintf(err, errcap, "cannot write %s: %s", marker, strerror(errno));
        return RETENTION_E_IO;
    }
    /* Step 2: the records, in one commit. A crash before it: recovery
     * sees the trash entry and deletes them. */
    if (meta_files_delete(m, t->task_id, merr, sizeof merr) < 0) {
        objstore_keys_free(&keys);
        snprintf(err, errcap, "cannot delete the file records of %s: %s (the files are in %s; "
                 "the next start finishes the removal)", t->task_id, merr, trash);
        return RETENTION_E_IO;
    }
    task_rec_init(&upd);
    if (task_rec_copy(&upd, t) == 0) {
        upd.output_files = 0;
        upd.output_bytes = 0;
        meta_task_put(m, &upd, merr, sizeof merr);
    }
    task_rec_free(&upd);
    /* Step 4 (backend s3): the objects. */
    if (keys.n && (rc = objstore_delete_run(cfg, t, &keys, merr, sizeof merr)) != 0) {
        objstore_keys_free(&keys);
        snprintf(err, errcap, "removed the records of %s but not all its objects: %s (the "
                 "next start deletes them)", t->task_id, merr);
        return RETENTION_E_IO;
    }
    if (keys.n) unlink(marker);
    objstore_keys_free(&keys);
    /* Step 3: nothing refers to the trash any more. */
    if ((rc = store_remove(trash)) < 0) {
        snprintf(err, errcap, "removed the records of %s but not %s: %s", t->task_id, trash,
                 cai_strerror(rc));
        return RETENTION_E_IO;
    }
    return 0;
}

/* A removal interrupted after its objects were listed (.s3-<task_id>):
 * the records go (if they had not), then the objects. 1 done, 0 left for
 * a later start (no object store configured, or it failed), -1 on a
 * metadata error. */
static int recover_objects(const config *cfg, meta *m, const char *root, const char *name,
                           char *err, size_t errcap)
{
    char path[CONFIG_PATH_MAX + 128], merr[256];
    const char *id = name + 4;
    char *text = NULL;
    size_t len = 0;
    task_rec t;
    int rc = 1;
    snprintf(path, sizeof path, "%s/%s", root, name);
    if (meta_files_delete(m, id, merr, sizeof merr) < 0) {
        snprintf(err, errcap, "cannot delete the file records of %s: %s", id, merr);
        return -1;
    }
    task_rec_init(&t);
    if (meta_task_get(m, id, &t) == 0 && (t.output_files || t.output_bytes)) {
        t.output_files = t.output_bytes = 0;
        meta_task_put(m, &t, merr, sizeof merr);
    }
    if (!objstore_s3()) {
        log_warn("retention: the objects of removed run %s are still in the bucket (%s lists "
                 "them); configure [store] to delete them", id, path);
        rc = 0;
        goto out;
    }
    if (fsutil_read_file(path, &text, &len, 256u << 20) < 0) {
        rc = 0;
        goto out;
    }
    objstore_keys k = {0};
    for (size_t o = 0; o < len;) {
        size_t l = strnlen(text + o, len - o);
        if (l && k.n == k.cap) {
            size_t nc = k.cap ? k.cap * 2 : 64;
            char **nv = realloc(k.v, nc * sizeof *nv);
            if (!nv) break;
            k.v = nv;
            k.cap = nc;
        }
        if (l && !(k.v[k.n] = strndup(text + o, l))) break;
        if (l) k.n++;
        o += l + 1;
    }
    char e2[512] = "";
    int dr = 0;
    if (t.task_id[0]) {
        dr = objstore_delete_run(cfg, &t, &k, e2, sizeof e2);
    } else {
        for (size_t i = 0; i < k.n && dr == 0; i++)
            dr = s3_delete(objstore_s3(), k.v[i], e2, sizeof e2);
    }
    if (dr == 0) {
        unlink(path);
        log_info("retention: finished removing run %s: %zu objects deleted", id, k.n);
    } else {
        log_warn("retention: the objects of removed run %s: %s (retried at the next start)", id,
                 e2);
        rc = 0;
    }
    objstore_keys_free(&k);
out:
    free(text);
    task_rec_free(&t);
    return rc;
}

int retention_recover(const config *cfg, meta *m, char *err, size_t errcap)
{
    char root[CONFIG_PATH_MAX + 16], path[CONFIG_PATH_MAX + 128], merr[256];
    int done = 0;
    store_trash_root(cfg, root, sizeof root);
    DIR *d = opendir(root);
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strncmp(e->d_name, ".s3-", 4) && strlen(e->d_name) < 68) {
            int r = recover_objects(cfg, m, root, e->d_name, err, errcap);
            if (r < 0) { closedir(d); return RETENTION_E_IO; }
            done += r;
            continue;
        }
        if (e->d_name[0] == '.' || strlen(e->d_name) >= 64) continue;
        if (meta_files_delete(m, e->d_name, merr, sizeof merr) < 0) {
            snprintf(err, errcap, "cannot delete the file records of %s: %s", e->d_name, merr);
            closedir(d);
            return RETENTION_E_IO;
        }
        task_rec t;
        task_rec_init(&t);
        if (meta_task_get(m, e->d_name, &t) == 0 && (t.output_files || t.output_bytes)) {
            t.output_files = t.output_bytes = 0;
            meta_task_put(m, &t, merr, sizeof merr);
        }
        task_rec_free(&t);
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        store_remove(path);
        done++;
    }
    closedir(d);
    return done;
}

/* ---- the sweeper -------------------------------------------------------------- */

typedef struct due_ctx {
    retention *r;                 /* expiry; or: */
    const config *cfg;            /* days_of for a move by age */
    retention_days_fn days_of;
    uint64_t now;
    task_vec due;
    int oom;
} due_ctx;

static int collect_due(void *ctx, const task_rec *t)
{
    due_ctx *d = ctx;
    if (!t->output_files && !t->output_bytes) return 0;    /* nothing stored */
    if (d->r) {
        uint64_t exp = retention_expires_at(d->r, t);
        if (!exp || exp > d->now) return 0;
    } else {
        if (t->status != PROTO_ST_COMPLETED && t->status != PROTO_ST_FAILED &&
            t->status != PROTO_ST_CANCELLED)
            return 0;
        if (!t->output_files) return 0;
        int days = d->days_of(d->cfg, t);
        /* Age counts from when the run finished, as for expiry. */
        uint64_t base = t->completed_at ? t->completed_at : t->submitted_at;
        if (days <= 0 || base + (uint64_t)days * DAY_MS > d->now) return 0;
    }
    if (task_vec_push(&d->due, t) < 0) {
        d->oom = 1;
        return 1;
    }
    return 0;
}

int retention_due_runs(meta *m, const config *cfg, uint64_t now_ms, retention_days_fn days_of,
                       task_vec *out)
{
    meta_query q = {0};
    due_ctx d = { NULL, cfg, days_of, now_ms, {0}, 0 };
    int rc = meta_tasks_find(m, &q, collect_due, &d);
    if (rc < 0 || d.oom) {
        task_vec_free(&d.due);
        return d.oom ? RETENTION_E_NOMEM : RETENTION_E_IO;
    }
    *out = d.due;
    return 0;
}

int retention_sweep(retention *r, uint64_t now_ms, char *err, size_t errcap)
{
    meta_query q = {0};
    due_ctx d = { r, NULL, NULL, now_ms, {0}, 0 };
    int rc, removed = 0;
    char why[512], when[32];
    /* Collected first, removed after: the store's find must not be
     * re-entered from its own callback. */
    if ((rc = meta_tasks_find(r->m, &q, collect_due, &d)) < 0 || d.oom) {
        snprintf(err, errcap, d.oom ? "out of memory" : "metadata store unavailable (%d)", rc);
        rc = d.oom ? RETENTION_E_NOMEM : RETENTION_E_IO;
        goto out;
    }
    for (size_t i = 0; i < d.due.n; i++) {
        task_rec *t = &d.due.v[i];
        if (retention_is_pinned(r, t->task_id)) continue;   /* pinned meanwhile */
        if (retention_remove_run(r->cfg, r->m, t, why, sizeof why) < 0) {
            snprintf(err, errcap, "%s", why);
            rc = RETENTION_E_IO;
            goto out;
        }
        ids_time_human(t->submitted_at, when, sizeof when);
        log_info("retention: removed run %s (%s of %s, submitted %s UTC, %llu files, %llu bytes)",
                 t->task_id, t->task_name, t->user_id, when,
                 (unsigned long long)t->output_files, (unsigned long long)t->output_bytes);
        removed++;
    }
    rc = removed;
    /* Tiering: runs old enough leave the local disk for the bucket. */
    if (objstore_s3() && config_archives(r->cfg)) {
        int moved = tier_sweep(r->cfg, r->m, now_ms, why, sizeof why);
        if (why[0]) log_warn("tiering: %s (retried at the next sweep)", why);
        if (moved > 0) log_info("tiering: %d runs moved to the object store", moved);
    }
    /* Packing after tiering: a run about to leave the disk is not packed
     * first. */
    int packed = compress_sweep(r->cfg, r->m, now_ms, why, sizeof why);
    if (why[0]) log_warn("compress: %s (retried at the next sweep)", why);
    if (packed > 0) log_info("compress: %d files packed", packed);
out:
    task_vec_free(&d.due);
    return rc;
}

/* ---- inputs: a blob lives as long as a run that used it ----------------- */

typedef struct refs_ctx {
    retention *r;
    uint64_t now;
    uint8_t (*sha)[32];
    size_t n, cap;
    int oom;
} refs_ctx;

static int collect_refs(void *ctx, const task_rec *t)
{
    refs_ctx *c = ctx;
    if (!t->ninputs) return 0;
    uint64_t exp = retention_expires_at(c->r, t);
    if (finished(t->status) && exp && exp <= c->now) return 0;   /* the run is gone */
    for (int i = 0; i < t->ninputs; i++) {
        if (!t->inputs[i].has_sha) continue;
        if (c->n == c->cap) {
            size_t nc = c->cap ? c->cap * 2 : 64;
            void *p = realloc(c->sha, nc * 32);
            if (!p) { c->oom = 1; return 1; }
            c->sha = p;
            c->cap = nc;
        }
        memcpy(c->sha[c->n++], t->inputs[i].sha256, 32);
    }
    return 0;
}

void retention_set_instore(retention *r, instore *ins)
{
    r->ins = ins;
}

int retention_sweep_inputs(retention *r, uint64_t now_ms, char *err, size_t errcap)
{
    meta_query q = {0};
    refs_ctx c = {r, now_ms, NULL, 0, 0, 0};
    uint64_t freed = 0;
    long removed;
    int rc;
    if (!r->ins) return 0;
    /* A store that does not answer keeps every blob: never sweep blind. */
    if ((rc = meta_tasks_find(r->m, &q, collect_refs, &c)) < 0 || c.oom) {
        snprintf(err, errcap, c.oom ? "out of memory" : "metadata store unavailable (%d)", rc);
        free(c.sha);
        return c.oom ? RETENTION_E_NOMEM : RETENTION_E_IO;
    }
    if (c.n) qsort(c.sha, c.n, 32, instore_sha_cmp);
    removed = instore_sweep(r->ins, (const uint8_t (*)[32])c.sha, c.n, now_ms,
                            (uint64_t)r->cfg->input_keep_s * 1000u, &freed);
    free(c.sha);
    if (removed > 0)
        log_info("retention: removed %ld input(s) no run refers to (%llu bytes)", removed,
                 (unsigned long long)freed);
    return (int)removed;
}

static void *sweeper_main(void *arg)
{
    retention *r = arg;
    char err[512];
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        int rc = retention_sweep(r, ids_now_ms() + r->ahead_ms, err, sizeof err);
        if (rc < 0) log_warn("retention sweep: %s", err);
        if (retention_sweep_inputs(r, ids_now_ms(), err, sizeof err) < 0)
            log_warn("retention sweep of inputs: %s", err);
        pthread_mutex_lock(&r->mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += r->cfg->sweep_interval_s > 0 ? r->cfg->sweep_interval_s : 3600;
        while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

retention *retention_new(const config *cfg, meta *m, char *err, size_t errcap)
{
    retention *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    r->cfg = cfg;
    r->m = m;
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->save_mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    /* Test hooks for tests/integration/test_compress.sh: runs look days
     * older to the sweeper; the compressor dies at its n-th file. */
    const char *ahead = getenv("CLOUDAI_TEST_SWEEP_AHEAD_DAYS");
    const char *kill_at = getenv("CLOUDAI_TEST_COMPRESS_KILL");
    if (ahead && *ahead) {
        r->ahead_ms = strtoull(ahead, NULL, 10) * DAY_MS;
        log_warn("test hook: the retention sweeper's clock runs %s days ahead", ahead);
    }
    if (kill_at && *kill_at) {
        compress_set_kill_at(strtoull(kill_at, NULL, 10));
        log_warn("test hook: the compressor kills the master at its file %s", kill_at);
    }
    if (load_pins(r, err, errcap) < 0 || retention_recover(cfg, m, err, errcap) < 0) {
        retention_free(r);
        return NULL;
    }
    return r;
}

int retention_start(retention *r)
{
    if (r->running) return 0;
    if (pthread_create(&r->thr, NULL, sweeper_main, r) != 0) return RETENTION_E_NOMEM;
    r->running = 1;
    return 0;
}

void retention_stop(retention *r)
{
    if (!r || !r->running) return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thr, NULL);
    r->running = 0;
}

void retention_free(retention *r)
{
    if (!r) return;
    retention_stop(r);
    compress_forget();        /* the sweeper's, and it has stopped */
    free(r->pins);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->save_mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
