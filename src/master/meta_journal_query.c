/* meta_journal_query.c — the read side of the embedded metadata backend:
 * finds over the in-memory indexes under the shared lock, in the orders
 * meta.h promises (tasks by (submitted_at, task_id), files by their task's
 * time, task_id and file_name). Callbacks run with the lock held. */
#include "master/meta_journal.h"

#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "master/metadoc.h"

void meta_journal_fnode_to_rec(const struct fgroup *g, const struct fnode *n, file_rec *f)
{
    /* Only the strings' used parts are copied: a file_rec is 12 KiB. */
    memcpy(f->task_id, g->task_id, strlen(g->task_id) + 1);
    memcpy(f->user_id, n->user_id, strlen(n->user_id) + 1);
    memcpy(f->task_name, n->task_name, strlen(n->task_name) + 1);
    memcpy(f->file_name, n->file_name, strlen(n->file_name) + 1);
    if (n->file_path) {
        memcpy(f->file_path, n->file_path, strlen(n->file_path) + 1);
    } else {
        /* Derived (meta_journal.h); fits: it fitted when it was stored. */
        size_t lf = strlen(n->file_name) + 1;
        memcpy(f->file_path, g->dir, g->dirlen);
        f->file_path[g->dirlen] = '/';
        memcpy(f->file_path + g->dirlen + 1, n->file_name, lf);
    }
    f->submitted_at = n->submitted_at;
    f->file_size = n->file_size;
    f->stored_at = n->stored_at;
    f->mode = n->mode;
    memcpy(f->sha256, n->sha256, 32);
}

int meta_journal_tnode_to_rec(const struct tnode *n, task_rec *t)
{
    bson_t d;
    task_rec_init(t);
    if (!bson_init_static(&d, n->doc, n->doclen)) return META_E_CORRUPT;
    return metadoc_task_from_bson(&d, t, NULL, 0);
}

static int task_match(const struct tnode *t, const meta_query *q)
{
    return (!q->user_id || !strcmp(t->user_id, q->user_id)) &&
           (!q->task_name || !strcmp(t->task_name, q->task_name)) &&
           (!q->pattern || ids_glob(q->pattern, t->task_name)) &&
           (!q->status || t->status == q->status) &&
           t->submitted_at >= q->since && (!q->until || t->submitted_at < q->until);
}

static int file_match(const struct fnode *n, const meta_query *q)
{
    return (!q->user_id || !strcmp(n->user_id, q->user_id)) &&
           (!q->task_name || !strcmp(n->task_name, q->task_name)) &&
           (!q->pattern || ids_glob(q->pattern, n->task_name)) &&
           (!q->file_name || !strcmp(n->file_name, q->file_name)) &&
           n->submitted_at >= q->since && (!q->until || n->submitted_at < q->until);
}

/* Whole-group rejection when all its files agree on user and name. */
static int group_may_match(const struct fgroup *g, const meta_query *q)
{
    if (g->mixed) return 1;
    return (!q->user_id || !strcmp(g->user_id, q->user_id)) &&
           (!q->task_name || !strcmp(g->task_name, q->task_name)) &&
           (!q->pattern || ids_glob(q->pattern, g->task_name));
}

/* The [lo, hi) slice of an ordered index inside since <= t < until. */
static void time_slice(const metaidx_ord *o, const meta_query *q, size_t *lo, size_t *hi)
{
    *lo = q->since ? metaidx_ord_lower(o, q->since, NULL) : 0;
    *hi = q->until ? metaidx_ord_lower(o, q->until, NULL) : o->n;
    if (*hi < *lo) *hi = *lo;
}

/* cb's answer; a task that does not decode (it did when it was stored) is skipped. */
static int emit_task(const struct tnode *n, meta_task_cb cb, void *ctx)
{
    task_rec t;
    int rc = meta_journal_tnode_to_rec(n, &t) == 0 ? cb(ctx, &t) : 0;
    task_rec_free(&t);
    return rc;
}

int meta_journal_tasks_find(meta *m, const meta_query *q, meta_task_cb cb, void *ctx)
{
    struct mj *mj = (struct mj *)m;
    size_t lo, hi, sent = 0;
    pthread_rwlock_rdlock(&mj->lock);
    if (q->task_id) {
        const struct tnode *n = metaidx_map_get(&mj->tasks, q->task_id);
        if (n && task_match(n, q)) emit_task(n, cb, ctx);
        goto out;
    }
    time_slice(&mj->tord, q, &lo, &hi);
    for (size_t k = 0; k < hi - lo; k++) {
        const struct tnode *n = mj->tord.v[q->newest_first ? hi - 1 - k : lo + k];
        if (!task_match(n, q)) continue;
        if (emit_task(n, cb, ctx) != 0 || (q->limit && ++sent >= q->limit)) break;
    }
out:
    pthread_rwlock_unlock(&mj->lock);
    return 0;
}

/* Returns 1 to stop. */
static int group_emit(const struct fgroup *g, const meta_query *q, file_rec *f,
                      meta_file_cb cb, void *ctx, size_t *sent)
{
    for (size_t i = 0; i < g->n; i++) {
        const struct fnode *n = g->v[i];
        if (!file_match(n, q)) continue;
        meta_journal_fnode_to_rec(g, n, f);
        if (cb(ctx, f) != 0 || (q->limit && ++*sent >= q->limit)) return 1;
    }
    return 0;
}

int meta_journal_files_find(meta *m, const meta_query *q, meta_file_cb cb, void *ctx)
{
    struct mj *mj = (struct mj *)m;
    size_t lo, hi, sent = 0;
    file_rec *f = malloc(sizeof *f);
    if (!f) return META_E_NOMEM;
    pthread_rwlock_rdlock(&mj->lock);
    if (q->task_id) {
        const struct fgroup *g = metaidx_map_get(&mj->groups, q->task_id);
        if (g) group_emit(g, q, f, cb, ctx, &sent);
        goto out;
    }
    time_slice(&mj->gord, q, &lo, &hi);
    if (mj->mixed_time) {
        /* Some group spans several times: its key cannot bound it. */
        lo = 0;
        hi = mj->gord.n;
    }
    for (size_t k = 0; k < hi - lo; k++) {
        const struct fgroup *g = mj->gord.v[q->newest_first ? hi - 1 - k : lo + k];
        if (group_may_match(g, q) && group_emit(g, q, f, cb, ctx, &sent)) break;
    }
out:
    pthread_rwlock_unlock(&mj->lock);
    free(f);
    return 0;
}

static int by_worker_id(const void *a, const void *b)
{
    return strcmp((*(worker_rec *const *)a)->worker_id, (*(worker_rec *const *)b)->worker_id);
}

int meta_journal_workers_list(meta *m, meta_worker_cb cb, void *ctx)
{
    struct mj *mj = (struct mj *)m;
    int rc = 0;
    pthread_rwlock_rdlock(&mj->lock);
    size_t n = 0;
    worker_rec **v = malloc((mj->workers.n + 1) * sizeof *v);
    if (!v) { rc = META_E_NOMEM; goto out; }
    for (size_t i = 0; i < mj->workers.cap; i++)
        if (mj->workers.slot[i].val) v[n++] = mj->workers.slot[i].val;
    qsort(v, n, sizeof *v, by_worker_id);
    for (size_t i = 0; i < n; i++)
        if (cb(ctx, v[i]) != 0) break;
out:
    pthread_rwlock_unlock(&mj->lock);
    free(v);
    return rc;
}

int meta_journal_task_get(meta *m, const char *task_id, task_rec *out)
{
    struct mj *mj = (struct mj *)m;
    int rc = META_E_NOTFOUND;
    pthread_rwlock_rdlock(&mj->lock);
    const struct tnode *n = metaidx_map_get(&mj->tasks, task_id);
    if (n && (rc = meta_journal_tnode_to_rec(n, out)) != 0) {
        task_rec_free(out);
        rc = rc == META_E_NOMEM ? META_E_NOMEM : META_E_CORRUPT;
    }
    pthread_rwlock_unlock(&mj->lock);
    return rc;
}
