/* meta_journal.c — the embedded metadata backend: every change is one BSON
 * record appended to <dir>/journal and fdatasync'd, then applied to the
 * in-memory indexes; open replays <dir>/snapshot then <dir>/journal;
 * compaction rewrites the live state as a new snapshot.
 *
 * Record bodies (journal.h frames them):
 *   {op: "task",      doc: <TASKS document>}
 *   {op: "files",     docs: [<FILE_METADATA document>, ...]}   one commit
 *   {op: "files_del", task_id: "..."}
 *   {op: "worker",    doc: <WORKERS document>}
 * Every op replaces by key, so replaying a journal over a snapshot that
 * already contains its effects is harmless. On top of that, files carry a
 * generation (journal.h): compaction writes snapshot G+1 and then a fresh
 * journal G+1, and a journal older than the snapshot is known to be fully
 * inside it and is not replayed at all. So a crash at any point of
 * compaction leaves either the old state or the new one.
 *
 * Indexes: tasks by task_id (hash) and by (submitted_at, task_id) (ordered
 * array); file groups (one per task_id, files sorted by file_name, with a
 * per-group file_name hash) by task_id and by (least submitted_at of the
 * group's files, task_id); workers by worker_id. So files are found in the
 * order (their task's submitted_at, task_id, file_name). A change allocates
 * everything it needs *before* the append, so once the record is durable,
 * applying it cannot fail.
 *
 * Locking: one rwlock; finds hold it shared, changes exclusive (the fsync
 * happens under it, serialising writers, which share one file anyway).
 * Callbacks run with the lock held and must not call back into meta. */
#include "master/meta_impl.h"

#include <bson/bson.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ids.h"
#include "master/journal.h"
#include "master/metadoc.h"
#include "master/meta_journal.h"
#include "master/metaidx.h"

#define FILES_PER_SNAP_REC 4096   /* keeps snapshot records far below JOURNAL_REC_MAX */

/* A prepared files change: nodes allocated, room reserved. */
struct pend {
    size_t n, cap;
    struct fnode **node;
    struct fgroup **grp;
    struct fgroup **touched;      /* distinct groups, fresh ones included */
    size_t ntouched;
    metaidx_map fresh;            /* new groups by task_id */
};

static const char *task_key(const void *v) { return ((const struct tnode *)v)->task_id; }
static const char *group_key(const void *v) { return ((const struct fgroup *)v)->task_id; }
static const char *fnode_key(const void *v) { return ((const struct fnode *)v)->file_name; }
static const char *worker_key(const void *v) { return ((const worker_rec *)v)->worker_id; }
static void task_ord(const void *v, uint64_t *t, const char **id)
{
    *t = ((const struct tnode *)v)->submitted_at;
    *id = ((const struct tnode *)v)->task_id;
}
static void group_ord(const void *v, uint64_t *t, const char **id)
{
    *t = ((const struct fgroup *)v)->submitted_at;
    *id = ((const struct fgroup *)v)->task_id;
}

static void group_free(struct fgroup *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->n; i++) free(g->v[i]);
    free(g->v);
    free(g->dir);
    metaidx_map_free(&g->byname);
    free(g);
}

/* Strings of a caller's record must end inside their arrays. */
static int str_ok(const char *s, size_t cap) { return strnlen(s, cap) < cap; }

/* Is path exactly <g->dir>/<name>? */
static int derived_path(const struct fgroup *g, const char *path, const char *name, size_t lname)
{
    return g->dir && strlen(path) == g->dirlen + 1 + lname && !memcmp(path, g->dir, g->dirlen) &&
           path[g->dirlen] == '/' && !memcmp(path + g->dirlen + 1, name, lname);
}

static struct fnode *fnode_new(const struct fgroup *g, const file_rec *f)
{
    int own_user = strcmp(f->user_id, g->user_id) != 0, own_name = strcmp(f->task_name, g->task_name) != 0;
    size_t lf = strlen(f->file_name) + 1;
    int own_path = !derived_path(g, f->file_path, f->file_name, lf - 1);
    size_t lu = own_user ? strlen(f->user_id) + 1 : 0, ln = own_name ? strlen(f->task_name) + 1 : 0;
    size_t lp = own_path ? strlen(f->file_path) + 1 : 0;
    struct fnode *n = malloc(sizeof *n + lu + ln + lf + lp);
    if (!n) return NULL;
    char *p = n->buf;
    n->user_id = own_user ? memcpy(p, f->user_id, lu) : g->user_id, p += lu;
    n->task_name = own_name ? memcpy(p, f->task_name, ln) : g->task_name, p += ln;
    n->file_name = memcpy(p, f->file_name, lf), p += lf;
    n->file_path = own_path ? memcpy(p, f->file_path, lp) : NULL;
    n->idx = 0;
    n->submitted_at = f->submitted_at;
    n->file_size = f->file_size;
    n->stored_at = f->stored_at;
    n->mode = f->mode;
    memcpy(n->sha256, f->sha256, 32);
    return n;
}

static void pend_init(struct pend *p)
{
    memset(p, 0, sizeof *p);
    metaidx_map_init(&p->fresh, group_key);
}

/* Undoes a prepared change that was not applied. */
static void pend_abort(struct pend *p)
{
    for (size_t i = 0; i < p->n; i++) free(p->node[i]);
    for (size_t i = 0; i < p->ntouched; i++) {
        p->touched[i]->pending = 0;
        if (p->touched[i]->fresh) group_free(p->touched[i]);
    }
    free(p->node);
    free(p->grp);
    free(p->touched);
    metaidx_map_free(&p->fresh);
}

static int pend_add(struct mj *mj, struct pend *p, const file_rec *f)
{
    if (!str_ok(f->task_id, sizeof f->task_id) || !f->task_id[0] || !f->file_name[0] ||
        !str_ok(f->user_id, sizeof f->user_id) || !str_ok(f->task_name, sizeof f->task_name) ||
        !str_ok(f->file_name, sizeof f->file_name) || !str_ok(f->file_path, sizeof f->file_path))
        return META_E_ARG;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct fnode **nn = realloc(p->node, cap * sizeof *nn);
        if (nn) p->node = nn;
        struct fgroup **ng = realloc(p->grp, cap * sizeof *ng);
        if (ng) p->grp = ng;
        struct fgroup **nt = realloc(p->touched, cap * sizeof *nt);
        if (nt) p->touched = nt;
        if (!nn || !ng || !nt) return META_E_NOMEM;
        p->cap = cap;
    }
    struct fgroup *g = metaidx_map_get(&mj->groups, f->task_id);
    if (!g) g = metaidx_map_get(&p->fresh, f->task_id);
    if (!g) {
        int e;
        g = calloc(1, sizeof *g);
        if (!g) return META_E_NOMEM;
        memcpy(g->task_id, f->task_id, sizeof g->task_id);
        memcpy(g->user_id, f->user_id, sizeof g->user_id);
        memcpy(g->task_name, f->task_name, sizeof g->task_name);
        g->submitted_at = f->submitted_at;
        g->fresh = 1;
        size_t lp = strlen(f->file_path), lf = strlen(f->file_name);
        if (lp > lf + 1 && f->file_path[lp - lf - 1] == '/' && !strcmp(f->file_path + lp - lf, f->file_name)) {
            g->dirlen = lp - lf - 1;
            if (!(g->dir = strndup(f->file_path, g->dirlen))) { free(g); return META_E_NOMEM; }
        }
        metaidx_map_init(&g->byname, fnode_key);
        metaidx_map_put(&p->fresh, g, &e);
        if (e) { free(g->dir); free(g); return META_E_NOMEM; }
    }
    struct fnode *n = fnode_new(g, f);
    if (!n) return META_E_NOMEM;
    if (g->pending++ == 0) p->touched[p->ntouched++] = g;
    p->node[p->n] = n;
    p->grp[p->n++] = g;
    return 0;
}

static int pend_reserve(struct mj *mj, struct pend *p)
{
    if (metaidx_map_reserve(&mj->groups, p->fresh.n) < 0 ||
        metaidx_ord_reserve(&mj->gord, p->fresh.n) < 0)
        return META_E_NOMEM;
    for (size_t i = 0; i < p->ntouched; i++) {
        struct fgroup *g = p->touched[i];
        if (metaidx_map_reserve(&g->byname, g->pending) < 0) return META_E_NOMEM;
        if (g->n + g->pending > g->cap) {
            struct fnode **nv = realloc(g->v, (g->n + g->pending) * sizeof *nv);
            if (!nv) return META_E_NOMEM;
            g->v = nv;
            g->cap = g->n + g->pending;
        }
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(struct fnode *const *)a)->file_name, (*(struct fnode *const *)b)->file_name);
}

/* Cannot fail: everything was reserved. Consumes p. */
static void pend_apply(struct mj *mj, struct pend *p)
{
    int e;
    for (size_t i = 0; i < p->n; i++) {
        struct fgroup *g = p->grp[i];
        struct fnode *n = p->node[i];
        if (g->fresh) {
            g->fresh = 0;
            metaidx_map_put(&mj->groups, g, &e);
            metaidx_ord_insert(&mj->gord, g);
        }
        if (strcmp(n->user_id, g->user_id) || strcmp(n->task_name, g->task_name)) g->mixed = 1;
        struct fnode *old = metaidx_map_put(&g->byname, n, &e);
        if (old) {
            n->idx = old->idx;
            g->v[n->idx] = n;
            free(old);
        } else {
            n->idx = g->n;
            g->v[g->n++] = n;
        }
    }
    for (size_t i = 0; i < p->ntouched; i++) {
        struct fgroup *g = p->touched[i];
        int sorted = 1, mixed_time = 0;
        uint64_t least = g->v[0]->submitted_at;
        g->pending = 0;
        /* The order key is a function of the files alone (not of the order
         * they came in), so a snapshot replays to the same order. */
        for (size_t k = 1; k < g->n; k++) {
            if (g->v[k]->submitted_at != least) mixed_time = 1;
            if (g->v[k]->submitted_at < least) least = g->v[k]->submitted_at;
        }
        if (mixed_time != g->mixed_time) {
            g->mixed_time = mixed_time;
            if (mixed_time) mj->mixed_time++;
            else mj->mixed_time--;
        }
        if (least != g->submitted_at) {
            /* Same count, so the re-insert cannot need memory. */
            metaidx_ord_remove_at(&mj->gord, metaidx_ord_find(&mj->gord, g));
            g->submitted_at = least;
            metaidx_ord_insert(&mj->gord, g);
        }
        for (size_t k = 1; k < g->n && sorted; k++)
            if (strcmp(g->v[k - 1]->file_name, g->v[k]->file_name) > 0) sorted = 0;
        if (!sorted) {
            qsort(g->v, g->n, sizeof *g->v, by_name);
            for (size_t k = 0; k < g->n; k++) g->v[k]->idx = k;
        }
    }
    p->n = p->ntouched = 0;
    pend_abort(p);
}

/* Durably appends rec (no-op while replaying). */
static int swap_journal(struct mj *mj, char *err, size_t errcap);
static int commit(struct mj *mj, const bson_t *rec, char *err, size_t errcap)
{
    if (!mj->j) return 0;
    if (mj->stale) {
        int rc = swap_journal(mj, err, errcap);
        if (rc && mj->stale) return rc;
    }
    return journal_append(mj->j, bson_get_data(rec), rec->len, !mj->nosync, err, errcap);
}

static int do_compact(struct mj *mj, char *err, size_t errcap);

/* After a successful change: compaction failures do not undo it; they only
 * push the next attempt further out. */
static void maybe_compact(struct mj *mj)
{
    if (!mj->j || !mj->compact_bytes) return;
    uint64_t size = journal_size(mj->j);
    if (size < mj->compact_bytes || size < mj->compact_next) return;
    if (do_compact(mj, NULL, 0) != 0) mj->compact_next = size + mj->compact_bytes;
}

static struct tnode *tnode_new(const task_rec *t, const bson_t *doc)
{
    size_t li = strlen(t->task_id) + 1, lu = strlen(t->user_id) + 1, ln = strlen(t->task_name) + 1;
    struct tnode *n = malloc(sizeof *n + li + lu + ln + doc->len);
    if (!n) return NULL;
    char *p = n->buf;
    n->submitted_at = t->submitted_at;
    n->status = t->status;
    n->doclen = doc->len;
    n->task_id = memcpy(p, t->task_id, li), p += li;
    n->user_id = memcpy(p, t->user_id, lu), p += lu;
    n->task_name = memcpy(p, t->task_name, ln), p += ln;
    n->doc = memcpy(p, bson_get_data(doc), doc->len);
    return n;
}

/* doc: t's document when the caller has it (replay), else NULL. */
static int task_put_locked(struct mj *mj, const task_rec *t, const bson_t *doc, char *err, size_t errcap)
{
    int rc = 0, e;
    bson_t rec = BSON_INITIALIZER, own = BSON_INITIALIZER;
    struct tnode *n = NULL;
    if (!doc) {
        if ((rc = metadoc_task_to_bson(t, &own)) != 0) {
            meta_errf(err, errcap, "task %s: bad or oversized record", t->task_id);
            goto out;
        }
        doc = &own;
    }
    if (!(n = tnode_new(t, doc))) { rc = META_E_NOMEM; goto out; }
    if (metaidx_map_reserve(&mj->tasks, 1) < 0 || metaidx_ord_reserve(&mj->tord, 1) < 0) {
        rc = META_E_NOMEM;
        goto out;
    }
    if (mj->j) {
        BSON_APPEND_UTF8(&rec, "op", "task");
        if (!BSON_APPEND_DOCUMENT(&rec, "doc", doc)) {
            meta_errf(err, errcap, "task %s: bad or oversized record", t->task_id);
            rc = META_E_NOMEM;
            goto out;
        }
        if ((rc = commit(mj, &rec, err, errcap)) != 0) goto out;
    }
    struct tnode *old = metaidx_map_put(&mj->tasks, n, &e);
    if (old) {
        size_t i = metaidx_ord_find(&mj->tord, old);
        if (old->submitted_at == n->submitted_at && i != (size_t)-1) {
            mj->tord.v[i] = n;
        } else {
            metaidx_ord_remove_at(&mj->tord, i);
            metaidx_ord_insert(&mj->tord, n);
        }
        free(old);
    } else {
        metaidx_ord_insert(&mj->tord, n);
    }
    n = NULL;
    rc = 0;
out:
    free(n);
    bson_destroy(&own);
    bson_destroy(&rec);
    return rc;
}

/* The i-th record of a files commit: from a caller's array, or rebuilt
 * into one scratch record from the index (snapshots). */
typedef const file_rec *(*file_at_fn)(void *ctx, size_t i);

static const file_rec *array_at(void *ctx, size_t i) { return (const file_rec *)ctx + i; }

struct group_src { const struct fgroup *g; size_t base; file_rec *scratch; };
static const file_rec *group_at(void *ctx, size_t i)
{
    struct group_src *s = ctx;
    meta_journal_fnode_to_rec(s->g, s->g->v[s->base + i], s->scratch);
    return s->scratch;
}

static int build_files_rec(bson_t *rec, size_t n, file_at_fn at, void *ctx)
{
    bson_t arr, doc;
    char key[16];
    const char *k;
    int rc = 0;
    BSON_APPEND_UTF8(rec, "op", "files");
    BSON_APPEND_ARRAY_BEGIN(rec, "docs", &arr);
    for (size_t i = 0; i < n && !rc; i++) {
        bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
        if (!bson_append_document_begin(&arr, k, -1, &doc)) { rc = META_E_NOMEM; break; }
        rc = metadoc_file_to_bson(at(ctx, i), &doc);
        if (!bson_append_document_end(&arr, &doc) && !rc) rc = META_E_NOMEM;
    }
    if (!bson_append_array_end(rec, &arr) && !rc) rc = META_E_NOMEM;
    return rc;
}

static int files_put_locked(struct mj *mj, const file_rec *files, size_t n, char *err, size_t errcap)
{
    struct pend p;
    bson_t rec = BSON_INITIALIZER;
    int rc = 0;
    pend_init(&p);
    for (size_t i = 0; i < n && !rc; i++) rc = pend_add(mj, &p, &files[i]);
    if (!rc) rc = pend_reserve(mj, &p);
    if (rc) { meta_errf(err, errcap, rc == META_E_ARG ? "files_put: bad record" : "out of memory"); goto out; }
    if (mj->j) {
        if ((rc = build_files_rec(&rec, n, array_at, (void *)files)) != 0) {
            meta_errf(err, errcap, "files_put: bad or oversized records");
            goto out;
        }
        if ((rc = commit(mj, &rec, err, errcap)) != 0) goto out;
    }
    pend_apply(mj, &p);
    bson_destroy(&rec);
    return 0;
out:
    pend_abort(&p);
    bson_destroy(&rec);
    return rc;
}

static int files_del_locked(struct mj *mj, const char *task_id, char *err, size_t errcap)
{
    bson_t rec = BSON_INITIALIZER;
    int rc = 0;
    struct fgroup *g = metaidx_map_get(&mj->groups, task_id);
    if (!g) goto out;   /* nothing to delete is not an error, and needs no record */
    BSON_APPEND_UTF8(&rec, "op", "files_del");
    BSON_APPEND_UTF8(&rec, "task_id", task_id);
    if ((rc = commit(mj, &rec, err, errcap)) != 0) goto out;
    metaidx_map_del(&mj->groups, task_id);
    metaidx_ord_remove_at(&mj->gord, metaidx_ord_find(&mj->gord, g));
    if (g->mixed_time) mj->mixed_time--;
    group_free(g);
out:
    bson_destroy(&rec);
    return rc;
}

static int worker_put_locked(struct mj *mj, const worker_rec *w, char *err, size_t errcap)
{
    bson_t rec = BSON_INITIALIZER, doc;
    int rc = 0, e;
    worker_rec *n = malloc(sizeof *n);
    if (!n || metaidx_map_reserve(&mj->workers, 1) < 0) { rc = META_E_NOMEM; goto out; }
    *n = *w;
    if (mj->j) {
        BSON_APPEND_UTF8(&rec, "op", "worker");
        BSON_APPEND_DOCUMENT_BEGIN(&rec, "doc", &doc);
        rc = metadoc_worker_to_bson(w, &doc);
        if (!bson_append_document_end(&rec, &doc) && !rc) rc = META_E_NOMEM;
        if (rc) { meta_errf(err, errcap, "worker %s: bad record", w->worker_id); goto out; }
        if ((rc = commit(mj, &rec, err, errcap)) != 0) goto out;
    }
    free(metaidx_map_put(&mj->workers, n, &e));
    n = NULL;
out:
    free(n);
    bson_destroy(&rec);
    return rc;
}

/* ---- replay ---- */

struct replay {
    struct mj *mj;
    int fatal;          /* out of memory: do not mistake for a torn record */
    file_rec *scratch;
    FILE *listing;      /* `master --check -v`: one line per record */
    const char *name;
    const journal_report *rep;
};

static void list_rec(struct replay *r, const char *op, bson_t *b)
{
    bson_iter_t it;
    const char *key = "";
    if (bson_iter_init(&it, b) && (bson_iter_find_descendant(&it, "doc.task_id", &it) ||
        (bson_iter_init(&it, b) && bson_iter_find_descendant(&it, "doc.worker_id", &it)) ||
        (bson_iter_init(&it, b) && bson_iter_find_descendant(&it, "docs.0.task_id", &it)) ||
        (bson_iter_init(&it, b) && bson_iter_find(&it, "task_id"))) && BSON_ITER_HOLDS_UTF8(&it))
        key = bson_iter_utf8(&it, NULL);
    fprintf(r->listing, "record %s %llu %s %s\n", r->name, (unsigned long long)r->rep->cur_off, op, key);
}

static int sub_doc(bson_iter_t *it, bson_t *sub)
{
    const uint8_t *data;
    uint32_t len;
    if (!BSON_ITER_HOLDS_DOCUMENT(it)) return -1;
    bson_iter_document(it, &len, &data);
    return bson_init_static(sub, data, len) ? 0 : -1;
}

static int replay_files(struct replay *r, bson_iter_t *it)
{
    struct pend p;
    bson_iter_t arr;
    int rc = 0;
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &arr)) return META_E_CORRUPT;
    pend_init(&p);
    while (!rc && bson_iter_next(&arr)) {
        bson_t d;
        file_rec *f = r->scratch;
        f->task_id[0] = f->user_id[0] = f->task_name[0] = f->file_name[0] = f->file_path[0] = 0;
        f->submitted_at = f->file_size = f->stored_at = 0;
        f->mode = 0;
        memset(f->sha256, 0, sizeof f->sha256);
        rc = sub_doc(&arr, &d) ? META_E_CORRUPT : metadoc_file_from_bson(&d, f, NULL, 0);
        if (!rc) rc = pend_add(r->mj, &p, f);
        if (rc == META_E_ARG) rc = META_E_CORRUPT;
    }
    if (!rc) rc = pend_reserve(r->mj, &p);
    if (rc) { pend_abort(&p); return rc; }
    pend_apply(r->mj, &p);
    return 0;
}

static int replay_rec(void *ctx, const uint8_t *body, size_t len)
{
    struct replay *r = ctx;
    bson_t b, d;
    bson_iter_t it;
    int rc = META_E_CORRUPT;
    if (!bson_init_static(&b, body, len) || !bson_validate(&b, BSON_VALIDATE_NONE, NULL)) return -1;
    if (!bson_iter_init_find(&it, &b, "op") || !BSON_ITER_HOLDS_UTF8(&it)) return -1;
    const char *op = bson_iter_utf8(&it, NULL);
    if (r->listing) list_rec(r, op, &b);
    if (!strcmp(op, "task")) {
        task_rec t;
        task_rec_init(&t);
        if (bson_iter_init_find(&it, &b, "doc") && sub_doc(&it, &d) == 0 &&
            (rc = metadoc_task_from_bson(&d, &t, NULL, 0)) == 0) {
            rc = t.task_id[0] ? task_put_locked(r->mj, &t, &d, NULL, 0) : META_E_CORRUPT;
        }
        task_rec_free(&t);
    } else if (!strcmp(op, "files")) {
        if (bson_iter_init_find(&it, &b, "docs")) rc = replay_files(r, &it);
    } else if (!strcmp(op, "files_del")) {
        if (bson_iter_init_find(&it, &b, "task_id") && BSON_ITER_HOLDS_UTF8(&it))
            rc = files_del_locked(r->mj, bson_iter_utf8(&it, NULL), NULL, 0);
    } else if (!strcmp(op, "worker")) {
        worker_rec w;
        memset(&w, 0, sizeof w);
        if (bson_iter_init_find(&it, &b, "doc") && sub_doc(&it, &d) == 0 &&
            (rc = metadoc_worker_from_bson(&d, &w, NULL, 0)) == 0)
            rc = w.worker_id[0] ? worker_put_locked(r->mj, &w, NULL, 0) : META_E_CORRUPT;
    }
    if (rc == META_E_NOMEM) r->fatal = 1;
    return rc ? -1 : 0;
}

/* ---- snapshot / compaction ---- */

static int snap_append(journal *s, bson_t *rec, char *err, size_t errcap)
{
    int rc = journal_append(s, bson_get_data(rec), rec->len, 0, err, errcap);
    bson_reinit(rec);
    return rc;
}

static int write_snapshot(struct mj *mj, journal *s, char *err, size_t errcap)
{
    bson_t rec = BSON_INITIALIZER, doc;
    int rc = 0;
    file_rec *scratch = malloc(sizeof *scratch);
    if (!scratch) { meta_errf(err, errcap, "out of memory"); rc = META_E_NOMEM; goto out; }
    for (size_t i = 0; i < mj->tord.n && !rc; i++) {
        const struct tnode *n = mj->tord.v[i];
        bson_t d;
        BSON_APPEND_UTF8(&rec, "op", "task");
        if (!bson_init_static(&d, n->doc, n->doclen) || !BSON_APPEND_DOCUMENT(&rec, "doc", &d)) {
            meta_errf(err, errcap, "snapshot: task %s: bad record", n->task_id);
            rc = META_E_NOMEM;
        }
        if (!rc) rc = snap_append(s, &rec, err, errcap);
    }
    for (size_t i = 0; i < mj->gord.n && !rc; i++) {
        struct fgroup *g = mj->gord.v[i];
        for (size_t k = 0; k < g->n && !rc; k += FILES_PER_SNAP_REC) {
            size_t m = g->n - k < FILES_PER_SNAP_REC ? g->n - k : FILES_PER_SNAP_REC;
            struct group_src src = { g, k, scratch };
            rc = build_files_rec(&rec, m, group_at, &src);
            if (!rc) rc = snap_append(s, &rec, err, errcap);
        }
    }
    for (size_t i = 0; i < mj->workers.cap && !rc; i++) {
        if (!mj->workers.slot[i].val) continue;
        BSON_APPEND_UTF8(&rec, "op", "worker");
        BSON_APPEND_DOCUMENT_BEGIN(&rec, "doc", &doc);
        rc = metadoc_worker_to_bson(mj->workers.slot[i].val, &doc);
        bson_append_document_end(&rec, &doc);
        if (!rc) rc = snap_append(s, &rec, err, errcap);
    }
    if (!rc) rc = journal_sync(s, err, errcap);
out:
    free(scratch);
    bson_destroy(&rec);
    return rc;
}

/* <name>.prev becomes a second name of the file about to be replaced, so
 * the generation before stays readable (the fallback for a damaged
 * snapshot). Best effort: without it there is just no fallback. */
static void keep_prev(const char *path, const char *prev)
{
    if (access(path, F_OK) != 0) return;
    unlink(prev);
    if (link(path, prev) < 0) { /* no hard links here: no previous generation */ }
}

/* Puts a fresh journal of the current generation in place of the
 * superseded one (kept as journal.prev): temp -> fsync -> rename ->
 * fsync(dir). */
static int swap_journal(struct mj *mj, char *err, size_t errcap)
{
    journal *nj = NULL;
    int rc = journal_create(mj->jtmp, mj->gen, &nj, err, errcap);
    keep_prev(mj->jpath, mj->jprev);
    if (!rc && rename(mj->jtmp, mj->jpath) < 0) {
        meta_errf(err, errcap, "rename %s: %s", mj->jtmp, strerror(errno));
        rc = META_E_IO;
    }
    if (rc) {
        journal_close(nj);
        unlink(mj->jtmp);
        return rc;
    }
    journal_close(mj->j);
    mj->j = nj;
    mj->stale = 0;
    mj->compact_next = 0;
    return journal_fsync_dir(mj->dir, err, errcap);
}

/* Snapshot G+1 via temp -> fsync -> rename -> fsync(dir), then a fresh
 * journal G+1; snapshot G and journal G stay as snapshot.prev and
 * journal.prev (together they equal snapshot G+1). A crash before the snapshot's rename leaves the old state;
 * after it, the snapshot holds everything and the old journal (generation
 * G) is skipped at open. */
static int do_compact(struct mj *mj, char *err, size_t errcap)
{
    journal *s = NULL;
    int rc = journal_create(mj->stmp, mj->gen + 1, &s, err, errcap);
    if (!rc) rc = write_snapshot(mj, s, err, errcap);
    journal_close(s);
    if (!rc) keep_prev(mj->spath, mj->sprev);
    if (!rc && rename(mj->stmp, mj->spath) < 0) {
        meta_errf(err, errcap, "rename %s: %s", mj->stmp, strerror(errno));
        rc = META_E_IO;
    }
    if (rc) {
        unlink(mj->stmp);
        return rc;
    }
    /* From here the live journal is superseded: appending to it would be
     * lost at the next open, so until a fresh one is in place (here, or
     * retried by the next change) changes fail instead. */
    mj->gen++;
    mj->stale = 1;
    if ((rc = journal_fsync_dir(mj->dir, err, errcap)) != 0) return rc;
    return swap_journal(mj, err, errcap);
}

#define LOCKED_CHANGE(call) do { \
    pthread_rwlock_wrlock(&mj->lock); \
    int rc_ = (call); \
    if (rc_ == 0) maybe_compact(mj); \
    pthread_rwlock_unlock(&mj->lock); \
    return rc_; } while (0)

static int j_task_put(meta *m, const task_rec *t, char *err, size_t errcap)
{
    struct mj *mj = (struct mj *)m;
    LOCKED_CHANGE(task_put_locked(mj, t, NULL, err, errcap));
}

static int j_task_put_nosync(meta *m, const task_rec *t, char *err, size_t errcap)
{
    struct mj *mj = (struct mj *)m;
    pthread_rwlock_wrlock(&mj->lock);
    mj->nosync = 1;
    int rc = task_put_locked(mj, t, NULL, err, errcap);
    mj->nosync = 0;
    if (rc == 0) maybe_compact(mj);
    pthread_rwlock_unlock(&mj->lock);
    return rc;
}

/* Group commit: whoever holds sync_mu flushes everything appended so far
 * and fdatasyncs it without the store lock, so appenders go on meanwhile
 * and the next syncer's one flush covers all of them. */
static int j_sync(meta *m, char *err, size_t errcap)
{
    struct mj *mj = (struct mj *)m;
    uint64_t upto = 0;
    int fd = -1, rc = 0;
    journal *j;
    uint32_t gen;

    pthread_mutex_lock(&mj->sync_mu);
    pthread_rwlock_wrlock(&mj->lock);
    j = mj->j;
    gen = mj->gen;
    if (j) rc = journal_flush(j, &upto, &fd, err, errcap);
    pthread_rwlock_unlock(&mj->lock);
    if (rc == 0 && fd >= 0) {
        if (journal_datasync(fd) < 0) {
            meta_errf(err, errcap, "journal: fdatasync: %s", strerror(errno));
            rc = META_E_IO;
        }
        close(fd);
        pthread_rwlock_wrlock(&mj->lock);
        if (rc == 0 && mj->j == j && mj->gen == gen) journal_mark_synced(j, upto);
        pthread_rwlock_unlock(&mj->lock);
    }
    pthread_mutex_unlock(&mj->sync_mu);
    return rc;
}

static int j_files_put(meta *m, const file_rec *files, size_t n, char *err, size_t errcap)
{
    struct mj *mj = (struct mj *)m;
    LOCKED_CHANGE(files_put_locked(mj, files, n, err, errcap));
}

static int j_files_delete(meta *m, const char *task_id, char *err, size_t errcap)
{
    struct mj *mj = (struct mj *)m;
    LOCKED_CHANGE(files_del_locked(mj, task_id, err, errcap));
}

static int j_worker_put(meta *m, const worker_rec *w, char *err, size_t errcap)
{
    struct mj *mj = (struct mj *)m;
    LOCKED_CHANGE(worker_put_locked(mj, w, err, errcap));
}

static int j_worker_put_nosync(meta *m, const worker_rec *w, char *err, size_t errcap)
{
    struct mj *mj = (struct mj *)m;
    pthread_rwlock_wrlock(&mj->lock);
    mj->nosync = 1;
    int rc = worker_put_locked(mj, w, err, errcap);
    mj->nosync = 0;
    if (rc == 0) maybe_compact(mj);
    pthread_rwlock_unlock(&mj->lock);
    return rc;
}

static int j_compact(meta *m, char *err, size_t errcap)
{
    struct mj *mj = (struct mj *)m;
    pthread_rwlock_wrlock(&mj->lock);
    int rc = do_compact(mj, err, errcap);
    pthread_rwlock_unlock(&mj->lock);
    return rc;
}

/* Forgets every record (a replay that must start over from another base). */
static void clear_state(struct mj *mj)
{
    for (size_t i = 0; i < mj->tasks.cap; i++) free(mj->tasks.slot[i].val);
    for (size_t i = 0; i < mj->groups.cap; i++) group_free(mj->groups.slot[i].val);
    for (size_t i = 0; i < mj->workers.cap; i++) free(mj->workers.slot[i].val);
    metaidx_map_free(&mj->tasks);
    metaidx_map_free(&mj->groups);
    metaidx_map_free(&mj->workers);
    metaidx_ord_free(&mj->tord);
    metaidx_ord_free(&mj->gord);
    metaidx_map_init(&mj->tasks, task_key);
    metaidx_map_init(&mj->groups, group_key);
    metaidx_map_init(&mj->workers, worker_key);
    metaidx_ord_init(&mj->tord, task_ord);
    metaidx_ord_init(&mj->gord, group_ord);
    mj->mixed_time = 0;
}

static void j_close(meta *m)
{
    struct mj *mj = (struct mj *)m;
    clear_state(mj);
    metaidx_map_free(&mj->tasks);
    metaidx_map_free(&mj->groups);
    metaidx_map_free(&mj->workers);
    metaidx_ord_free(&mj->tord);
    metaidx_ord_free(&mj->gord);
    journal_close(mj->j);
    pthread_rwlock_destroy(&mj->lock);
    pthread_mutex_destroy(&mj->sync_mu);
    free(mj->dir);
    free(mj->jpath);
    free(mj->spath);
    free(mj->jtmp);
    free(mj->stmp);
    free(mj->jprev);
    free(mj->sprev);
    free(mj);
}

static const struct meta_ops journal_ops = {
    .name = "journal",
    .close = j_close,
    .task_put = j_task_put,
    .task_get = meta_journal_task_get,
    .files_put = j_files_put,
    .files_delete = j_files_delete,
    .worker_put = j_worker_put,
    .tasks_find = meta_journal_tasks_find,
    .files_find = meta_journal_files_find,
    .workers_list = meta_journal_workers_list,
    .compact = j_compact,
    .task_put_nosync = j_task_put_nosync,
    .sync = j_sync,
    .worker_put_nosync = j_worker_put_nosync,
};

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}


static void rep_add(meta_open_report *rep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rep_add(meta_open_report *rep, const char *fmt, ...)
{
    size_t l = strlen(rep->text);
    va_list ap;
    if (l + 2 >= sizeof rep->text) return;
    va_start(ap, fmt);
    vsnprintf(rep->text + l, sizeof rep->text - l - 1, fmt, ap);
    va_end(ap);
    l = strlen(rep->text);
    rep->text[l] = '\n';
    rep->text[l + 1] = 0;
}

/* One of the four files of a store, as its header describes it. */
struct sfile {
    const char *path, *name;
    int exists, hdr_ok;
    uint32_t gen;
    uint64_t size;
    char why[256];
};

static void probe(struct sfile *f, const char *path, const char *name)
{
    struct stat st;
    memset(f, 0, sizeof *f);
    f->path = path;
    f->name = name;
    if (stat(path, &st) != 0) return;
    f->exists = 1;
    f->hdr_ok = journal_header(path, &f->gen, &f->size, f->why, sizeof f->why) == 0;
}

/* Replays one file into mj; maps journal codes onto META_E_* (equal values). */
static int replay_one(struct mj *mj, const struct sfile *f, int strict, int salvage,
                      journal_report *jr, meta_open_report *rep, char *err, size_t errcap)
{
    struct replay r = { mj, 0, malloc(sizeof(file_rec)), rep->listing, f->name, jr };
    int rc;
    if (!r.scratch) { meta_errf(err, errcap, "out of memory"); return META_E_NOMEM; }
    if (salvage) rc = journal_salvage(f->path, replay_rec, &r, jr, err, errcap);
    else rc = journal_replay(f->path, strict, replay_rec, &r, jr, err, errcap);
    free(r.scratch);
    if (r.fatal) {
        meta_errf(err, errcap, "%s: out of memory during replay", f->path);
        return META_E_NOMEM;
    }
    if (rc == 0) rep->records += jr->records;
    return rc;
}

/* The text of a replay's findings, for the report. */
static void describe(meta_open_report *rep, const struct sfile *f, const journal_report *jr)
{
    if (!jr->bad_regions) {
        rep_add(rep, "%s: generation %u, %llu bytes, %llu records: intact", f->name, (unsigned)jr->gen,
                (unsigned long long)jr->file_size, (unsigned long long)jr->records);
        return;
    }
    rep_add(rep, "%s: generation %u, %llu bytes, %llu intact records; %llu damaged stretch(es), %llu "
            "bytes (%llu in the middle with intact records after them%s): %s", f->name, (unsigned)jr->gen,
            (unsigned long long)jr->file_size, (unsigned long long)jr->records,
            (unsigned long long)jr->bad_regions, (unsigned long long)jr->bad_bytes,
            (unsigned long long)jr->mid_regions,
            jr->tail == JOURNAL_TAIL_TORN ? ", then a torn tail" :
            jr->tail == JOURNAL_TAIL_DAMAGED ? ", then a damaged tail" : "", jr->detail);
}

/* Keeps a damaged file: path -> <path>.damaged-<time>[-k], by copy (the
 * live journal) or by rename (a snapshot about to be replaced). */
static int keep_damaged(const char *path, int by_rename, meta_open_report *rep, char *err, size_t errcap)
{
    char ts[32], dst[4096];
    int rc = META_E_IO;
    ids_time_component(ids_now_ms(), ts, sizeof ts);
    for (int k = 0; k < 100; k++) {
        if (k) snprintf(dst, sizeof dst, "%s.damaged-%s-%d", path, ts, k);
        else snprintf(dst, sizeof dst, "%s.damaged-%s", path, ts);
        if (access(dst, F_OK) == 0) continue;
        if (by_rename) rc = rename(path, dst) == 0 ? 0 : META_E_IO;
        else rc = journal_copy_file(path, dst, err, errcap);
        if (rc == 0) {
            rep_add(rep, "%s kept as %s", path, dst);
            return 0;
        }
        if (by_rename) meta_errf(err, errcap, "rename %s: %s", path, strerror(errno));
        break;
    }
    return rc;
}

static void damage_log(struct mj *mj, const meta_open_report *rep)
{
    char *p = path_join(mj->dir, "damage.log"), ts[32];
    FILE *f = p ? fopen(p, "a") : NULL;
    if (f) {
        ids_time_component(ids_now_ms(), ts, sizeof ts);
        fprintf(f, "== %s: opening the store found damage\n%s", ts, rep->text);
        fflush(f);
        fsync(fileno(f));
        fclose(f);
    }
    free(p);
}

/* Replays snapshot (or its fallback) + journals, records what it finds
 * and puts a live journal in place (not in CHECK). See meta.h. */
static int load(struct mj *mj, int mode, meta_open_report *rep, char *err, size_t errcap)
{
    struct sfile S, SP, J, JP;
    journal_report jr, jlive;
    int rc = 0, have_base = 0, s_bad = 0, need_compact = 0, used_prev = 0, j_replayed = 0;
    uint32_t base = 0;

    memset(&jlive, 0, sizeof jlive);
    probe(&S, mj->spath, "snapshot");
    probe(&SP, mj->sprev, "snapshot.prev");
    probe(&J, mj->jpath, "journal");
    probe(&JP, mj->jprev, "journal.prev");

    if (J.exists && !J.hdr_ok && mode == META_OPEN_NORMAL) {
        meta_errf(err, errcap, "%s; it may not be a CloudAI journal: nothing was changed. "
                  "`master --check` tells what is readable, `master --repair` salvages it", J.why);
        return META_E_CORRUPT;
    }
    /* 1. The base: the snapshot, else the generation before, else what
     * can be read of a damaged snapshot. */
    if (S.exists) {
        rc = replay_one(mj, &S, 1, 0, &jr, rep, err, errcap);
        if (rc == 0) {
            have_base = 1;
            base = jr.gen;
            if (mode == META_OPEN_CHECK) describe(rep, &S, &jr);
        } else if (rc == META_E_CORRUPT) {
            rep->damaged = 1;
            rep_add(rep, "snapshot: DAMAGED (%llu bytes): %s", (unsigned long long)S.size,
                    jr.detail[0] ? jr.detail : err);
            clear_state(mj);
            s_bad = 1;
        } else {
            return rc;
        }
    } else if ((J.exists && J.hdr_ok && J.gen > 0) || SP.exists) {
        rep->damaged = 1;
        rep_add(rep, "snapshot: MISSING (the journal is generation %u, so snapshot %u should exist)",
                (unsigned)J.gen, (unsigned)J.gen);
        s_bad = 1;
    }
    if (s_bad) {
        if (SP.exists) {
            rc = replay_one(mj, &SP, 1, 0, &jr, rep, err, errcap);
            if (rc == 0) {
                have_base = used_prev = 1;
                base = jr.gen;
                rep_add(rep, "falling back to snapshot.prev (generation %u, %llu records) and the "
                        "journals after it", (unsigned)base, (unsigned long long)jr.records);
            } else if (rc == META_E_CORRUPT) {
                rep_add(rep, "snapshot.prev: DAMAGED too: %s", jr.detail[0] ? jr.detail : err);
                clear_state(mj);
            } else {
                return rc;
            }
        } else {
            rep_add(rep, "no snapshot.prev to fall back to");
        }
        if (!have_base && S.exists) {
            if ((rc = replay_one(mj, &S, 0, 1, &jr, rep, err, errcap)) != 0) return rc;
            have_base = 1;
            base = jr.gen ? jr.gen : (J.hdr_ok ? J.gen : 0);
            rep_add(rep, "snapshot: salvaged %llu intact records; %llu bytes unreadable (their records "
                    "are lost: `master --repair` rebuilds task and file records from the files)",
                    (unsigned long long)jr.records, (unsigned long long)jr.bad_bytes);
        }
        need_compact = 1;
    }
    /* 2. The journals of generations >= base, in order. */
    uint32_t expect = base;
    int use_jp = JP.exists && JP.hdr_ok && JP.gen >= base && (used_prev || !have_base) &&
                 !(J.exists && J.hdr_ok && JP.gen >= J.gen);
    if (use_jp) {
        if (have_base && JP.gen > expect) {
            rep->damaged = 1;
            rep_add(rep, "GAP: journal generation %u missing (journal.prev is %u): its changes are lost",
                    (unsigned)expect, (unsigned)JP.gen);
        }
        if ((rc = replay_one(mj, &JP, 0, 0, &jr, rep, err, errcap)) != 0) return rc;
        if (jr.bad_regions) rep->damaged = 1;
        if (jr.bad_regions || mode == META_OPEN_CHECK || used_prev) describe(rep, &JP, &jr);
        rep->lost_bytes += jr.bad_bytes;
        expect = JP.gen + 1;
        have_base = 1;
    }
    if (J.exists && (!J.hdr_ok || J.gen >= base || !have_base)) {
        if (J.hdr_ok && have_base && J.gen > expect) {
            rep->damaged = 1;
            rep_add(rep, "GAP: the journal is generation %u but the newest readable state before it is "
                    "generation %u: the changes of generations %u..%u are lost", (unsigned)J.gen,
                    (unsigned)expect, (unsigned)expect, (unsigned)J.gen - 1);
        }
        if ((rc = replay_one(mj, &J, 0, !J.hdr_ok, &jlive, rep, err, errcap)) != 0) return rc;
        if (!J.hdr_ok) rep_add(rep, "journal: bad file header (%s): salvaged", J.why);
        j_replayed = 1;
        rep->lost_bytes += jlive.bad_bytes;
        if (jlive.mid_regions || jlive.tail == JOURNAL_TAIL_DAMAGED || !J.hdr_ok) {
            rep->damaged = 1;
            need_compact = 1;
        }
        if (jlive.tail != JOURNAL_TAIL_OK) rep->dropped = jlive.file_size - jlive.valid_end;
        if (jlive.bad_regions || mode == META_OPEN_CHECK) describe(rep, &J, &jlive);
        if (jlive.tail == JOURNAL_TAIL_TORN && !jlive.mid_regions)
            rep_add(rep, "journal: torn tail at offset %llu: %llu bytes of an interrupted write %s",
                    (unsigned long long)jlive.tail_off, (unsigned long long)rep->dropped,
                    mode == META_OPEN_CHECK ? "would be cut" : "cut");
        if (J.hdr_ok && J.gen > base) base = J.gen;
    } else if (J.exists) {
        if (mode == META_OPEN_CHECK)
            rep_add(rep, "journal: generation %u, superseded by snapshot %u (a compaction was "
                    "interrupted): not replayed", (unsigned)J.gen, (unsigned)base);
    } else if (have_base || SP.exists || JP.exists) {
        rep->damaged = 1;
        rep_add(rep, "journal: MISSING (deleted?): every change made after snapshot generation %u "
                "is lost; `master --repair` rebuilds records of stored outputs from the files",
                (unsigned)base);
    }
    mj->gen = base;
    if (mode == META_OPEN_CHECK) {
        /* The fallback generation too: is it there if it is needed? */
        const struct sfile *prev[2] = { &SP, &JP };
        int used[2] = { used_prev, use_jp };
        for (int i = 0; i < 2; i++) {
            char e2[256];
            if (!prev[i]->exists || used[i]) continue;
            if (journal_replay(prev[i]->path, 0, NULL, NULL, &jr, e2, sizeof e2) != 0) {
                rep_add(rep, "%s (the fallback): unreadable: %s", prev[i]->name, e2);
                continue;
            }
            describe(rep, prev[i], &jr);
        }
        return 0;
    }

    /* 3. A live journal. Damage beyond a torn tail: keep the damaged
     * files aside and write a clean snapshot of what was read. */
    if (j_replayed && (need_compact || mode == META_OPEN_REPAIR) && jlive.bad_regions &&
        (rc = keep_damaged(mj->jpath, 0, rep, err, errcap)) != 0)
        return rc;
    if (s_bad && S.exists && (rc = keep_damaged(mj->spath, 1, rep, err, errcap)) != 0) return rc;
    if (need_compact || mode == META_OPEN_REPAIR) {
        /* Nothing may be appended to the damaged journal: compaction
         * replaces it (it stays readable as journal.prev). */
        if ((rc = do_compact(mj, err, errcap)) != 0) return rc;
        rep_add(rep, "wrote a clean snapshot (generation %u) of the %llu records read", (unsigned)mj->gen,
                (unsigned long long)rep->records);
    } else if (j_replayed && J.gen == mj->gen) {
        if ((rc = journal_open(mj->jpath, jlive.valid_end, mj->gen, &mj->j, err, errcap)) != 0) return rc;
    } else {
        /* No journal yet, or one the snapshot supersedes (a compaction
         * stopped between its two renames). */
        mj->stale = 1;
        if ((rc = swap_journal(mj, err, errcap)) != 0) return rc;
    }
    if (mode == META_OPEN_REPAIR) {
        char *p = path_join(mj->dir, "damage.log"), *q = path_join(mj->dir, "damage.log.repaired");
        if (p && q && access(p, F_OK) == 0 && rename(p, q) == 0)
            rep_add(rep, "damage.log renamed damage.log.repaired");
        free(p);
        free(q);
    } else if (rep->damaged) {
        damage_log(mj, rep);
    }
    return 0;
}

meta *meta_open_journal_ex(const char *dir, uint64_t compact_bytes, int mode,
                           meta_open_report *rep, char *err, size_t errcap)
{
    struct mj *mj = NULL;
    meta_open_report tmp;
    int rc = 0;

    if (!rep) { memset(&tmp, 0, sizeof tmp); rep = &tmp; }
    rep->dropped = rep->lost_bytes = rep->records = 0;
    rep->damaged = 0;
    rep->text[0] = 0;
    if (!dir || !dir[0]) { meta_errf(err, errcap, "journal: no directory"); return NULL; }
    if (mode != META_OPEN_CHECK && mkdir(dir, 0700) < 0 && errno != EEXIST) {
        meta_errf(err, errcap, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    mj = calloc(1, sizeof *mj);
    if (!mj || pthread_rwlock_init(&mj->lock, NULL) != 0 ||
        pthread_mutex_init(&mj->sync_mu, NULL) != 0) {
        free(mj);
        meta_errf(err, errcap, "out of memory");
        return NULL;
    }
    mj->base.ops = &journal_ops;
    mj->compact_bytes = compact_bytes;
    metaidx_map_init(&mj->tasks, task_key);
    metaidx_map_init(&mj->groups, group_key);
    metaidx_map_init(&mj->workers, worker_key);
    metaidx_ord_init(&mj->tord, task_ord);
    metaidx_ord_init(&mj->gord, group_ord);
    mj->dir = strdup(dir);
    mj->jpath = path_join(dir, "journal");
    mj->spath = path_join(dir, "snapshot");
    mj->jtmp = path_join(dir, "journal.tmp");
    mj->stmp = path_join(dir, "snapshot.tmp");
    mj->jprev = path_join(dir, "journal.prev");
    mj->sprev = path_join(dir, "snapshot.prev");
    if (!mj->dir || !mj->jpath || !mj->spath || !mj->jtmp || !mj->stmp || !mj->jprev || !mj->sprev) {
        meta_errf(err, errcap, "out of memory");
        rc = META_E_NOMEM;
        goto out;
    }
    if (mode != META_OPEN_CHECK) {
        /* Leftovers of an interrupted compaction were never renamed: not state. */
        unlink(mj->stmp);
        unlink(mj->jtmp);
    }
    rc = load(mj, mode, rep, err, errcap);
out:
    if (rc) {
        j_close(&mj->base);
        return NULL;
    }
    return &mj->base;
}

meta *meta_open_journal(const char *dir, uint64_t compact_bytes, uint64_t *dropped,
                        char *err, size_t errcap)
{
    meta_open_report rep;
    memset(&rep, 0, sizeof rep);
    meta *m = meta_open_journal_ex(dir, compact_bytes, META_OPEN_NORMAL, &rep, err, errcap);
    if (dropped) *dropped = rep.dropped;
    return m;
}
