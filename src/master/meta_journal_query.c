/* meta_journal_query.c — the read side of the embedded metadata backend:
 * finds over the in-memory indexes under the shared lock, in the orders
 * meta.h promises (tasks by (submitted_at, task_id), files by their task's
 * time, task_id and file_name), reading the documents back from the
 * store's files (metaref.h). Callbacks run with the lock held. */
#include "master/meta_journal.h"

#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "master/metadoc.h"

int meta_journal_file_decode(const uint8_t *doc, uint32_t len, file_rec *f)
{
    bson_t d;
    /* Only what a document may leave unset is cleared: a file_rec is 12 KiB. */
    f->task_id[0] = f->user_id[0] = f->task_name[0] = f->file_name[0] = f->file_path[0] = 0;
    f->submitted_at = f->file_size = f->stored_at = 0;
    f->mode = 0;
    memset(f->sha256, 0, sizeof f->sha256);
    if (!bson_init_static(&d, doc, len)) return META_E_CORRUPT;
    return metadoc_file_from_bson(&d, f, NULL, 0) == 0 ? 0 : META_E_CORRUPT;
}

int meta_journal_task_doc(struct mj *mj, const struct tnode *n, metaref_reader *r,
                          const uint8_t **doc, uint32_t *len)
{
    (void)mj;
    if (n->doc) {
        *doc = n->doc;
        *len = (uint32_t)n->doc[0] | (uint32_t)n->doc[1] << 8 | (uint32_t)n->doc[2] << 16 |
               (uint32_t)n->doc[3] << 24;
        return 0;
    }
    return metaref_read(r, n->ref, doc, len);
}

/* Decodes n's document into t (task_rec_init'ed here; the caller frees). */
static int tnode_to_rec(struct mj *mj, const struct tnode *n, metaref_reader *r, task_rec *t)
{
    const uint8_t *doc;
    uint32_t len;
    bson_t d;
    int rc;
    task_rec_init(t);
    if ((rc = meta_journal_task_doc(mj, n, r, &doc, &len)) != 0) return rc;
    if (!bson_init_static(&d, doc, len)) return META_E_CORRUPT;
    rc = metadoc_task_from_bson(&d, t, NULL, 0);
    /* The record must be the one the index points at. */
    if (rc == 0 && strcmp(t->task_id, n->task_id) != 0) rc = META_E_CORRUPT;
    return rc;
}

static int task_match(const struct tnode *t, const meta_query *q)
{
    return (!q->user_id || !strcmp(t->user_id, q->user_id)) &&
           (!q->task_name || !strcmp(t->task_name, q->task_name)) &&
           (!q->pattern || ids_glob(q->pattern, t->task_name)) &&
           (!q->status || t->status == q->status) &&
           t->submitted_at >= q->since && (!q->until || t->submitted_at < q->until);
}

static int file_match(const file_rec *f, const meta_query *q)
{
    return (!q->user_id || !strcmp(f->user_id, q->user_id)) &&
           (!q->task_name || !strcmp(f->task_name, q->task_name)) &&
           (!q->pattern || ids_glob(q->pattern, f->task_name)) &&
           (!q->file_name || !strcmp(f->file_name, q->file_name)) &&
           f->submitted_at >= q->since && (!q->until || f->submitted_at < q->until);
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

/* cb's answer; a task whose document does not read back (it did when it
 * was stored) is skipped. */
static int emit_task(struct mj *mj, const struct tnode *n, metaref_reader *r, meta_task_cb cb, void *ctx)
{
    task_rec t;
    int rc = tnode_to_rec(mj, n, r, &t) == 0 ? cb(ctx, &t) : 0;
    task_rec_free(&t);
    return rc;
}

int meta_journal_tasks_find(meta *m, const meta_query *q, meta_task_cb cb, void *ctx)
{
    struct mj *mj = (struct mj *)m;
    size_t lo, hi, sent = 0;
    metaref_reader r;
    metaref_reader_init(&r, &mj->src);
    pthread_rwlock_rdlock(&mj->lock);
    if (q->task_id) {
        const struct tnode *n = metaidx_map_get(&mj->tasks, q->task_id);
        if (n && task_match(n, q)) emit_task(mj, n, &r, cb, ctx);
        goto out;
    }
    time_slice(&mj->tord, q, &lo, &hi);
    for (size_t k = 0; k < hi - lo; k++) {
        const struct tnode *n = mj->tord.v[q->newest_first ? hi - 1 - k : lo + k];
        if (!task_match(n, q)) continue;
        if (emit_task(mj, n, &r, cb, ctx) != 0 || (q->limit && ++sent >= q->limit)) break;
    }
out:
    pthread_rwlock_unlock(&mj->lock);
    metaref_reader_free(&r);
    return 0;
}

/* Index of the file named name in g, or g->n. */
static uint32_t group_lookup(const struct fgroup *g, metaref_reader *r, const char *name)
{
    uint32_t lo = 0, hi = g->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const uint8_t *doc;
        uint32_t len;
        bson_t b;
        bson_iter_t it;
        if (metaref_read(r, g->ref[mid], &doc, &len) != 0 || !bson_init_static(&b, doc, len) ||
            !bson_iter_init_find(&it, &b, "file_name") || !BSON_ITER_HOLDS_UTF8(&it))
            return g->n;
        int c = strcmp(bson_iter_utf8(&it, NULL), name);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return g->n;
}

/* Returns 1 to stop. A document that does not read back is skipped. */
static int group_emit(const struct fgroup *g, const meta_query *q, metaref_reader *r, file_rec *f,
                      meta_file_cb cb, void *ctx, size_t *sent)
{
    uint32_t from = 0, to = g->n;
    if (q->file_name) {
        from = group_lookup(g, r, q->file_name);
        to = from < g->n ? from + 1 : from;
    }
    for (uint32_t i = from; i < to; i++) {
        const uint8_t *doc;
        uint32_t len;
        if (metaref_read(r, g->ref[i], &doc, &len) != 0 || meta_journal_file_decode(doc, len, f) != 0 ||
            strcmp(f->task_id, g->task_id) != 0 || !file_match(f, q))
            continue;
        if (cb(ctx, f) != 0 || (q->limit && ++*sent >= q->limit)) return 1;
    }
    return 0;
}

int meta_journal_files_find(meta *m, const meta_query *q, meta_file_cb cb, void *ctx)
{
    struct mj *mj = (struct mj *)m;
    size_t lo, hi, sent = 0;
    metaref_reader r;
    file_rec *f = malloc(sizeof *f);
    if (!f) return META_E_NOMEM;
    metaref_reader_init(&r, &mj->src);
    pthread_rwlock_rdlock(&mj->lock);
    if (q->task_id) {
        const struct fgroup *g = metaidx_map_get(&mj->groups, q->task_id);
        if (g) group_emit(g, q, &r, f, cb, ctx, &sent);
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
        if (group_may_match(g, q) && group_emit(g, q, &r, f, cb, ctx, &sent)) break;
    }
out:
    pthread_rwlock_unlock(&mj->lock);
    metaref_reader_free(&r);
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
    metaref_reader r;
    metaref_reader_init(&r, &mj->src);
    pthread_rwlock_rdlock(&mj->lock);
    const struct tnode *n = metaidx_map_get(&mj->tasks, task_id);
    if (n && (rc = tnode_to_rec(mj, n, &r, out)) != 0) {
        task_rec_free(out);
        rc = rc == META_E_NOMEM ? META_E_NOMEM : META_E_CORRUPT;
    }
    pthread_rwlock_unlock(&mj->lock);
    metaref_reader_free(&r);
    return rc;
}
