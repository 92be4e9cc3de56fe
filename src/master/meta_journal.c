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
 * The documents are not copied into memory: a task or file record is a
 * reference to its document inside the record that stored it (metaref.h),
 * in the snapshot or a journal, read back when a find needs it. A
 * compaction writes every live document into the new snapshot and moves
 * the references there, so older files can go. A task change made without
 * a sync keeps a copy of its document until the journal is synced (a failed
 * sync cuts the unsynced records, and a reference must never point at
 * bytes that may be overwritten).
 *
 * Indexes: tasks by task_id (hash) and by (submitted_at, task_id) (ordered
 * array); file groups (one per task_id, references sorted by file_name) by
 * task_id and by (least submitted_at of the group's files, task_id);
 * workers by worker_id. So files are found in the order (their task's
 * submitted_at, task_id, file_name). A change allocates everything it
 * needs and does every read it needs *before* the append, so once the
 * record is durable, applying it cannot fail.
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
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "ids.h"
#include "master/journal.h"
#include "master/metadoc.h"
#include "master/meta_journal.h"
#include "master/metaidx.h"
#include "master/metaref.h"

#define FILES_PER_SNAP_REC 4096   /* keeps snapshot records far below JOURNAL_REC_MAX */

static const char *task_key(const void *v) { return ((const struct tnode *)v)->task_id; }
static const char *group_key(const void *v) { return ((const struct fgroup *)v)->task_id; }
static const char *str_key(const void *v) { return ((const struct istr *)v)->s; }
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

const char *meta_journal_intern(struct mj *mj, const char *s)
{
    const struct istr *have = metaidx_map_get(&mj->strings, s);
    int e;
    if (have) return have->s;
    size_t l = strlen(s) + 1;
    struct istr *c = malloc(sizeof *c + l);
    if (!c) return NULL;
    c->id = 0;
    memcpy(c->s, s, l);
    metaidx_map_put(&mj->strings, c, &e);
    if (e) { free(c); return NULL; }
    return c->s;
}

static void group_free(struct fgroup *g)
{
    if (!g) return;
    free(g->ref);
    free(g);
}

/* Strings of a caller's record must end inside their arrays. */
static int str_ok(const char *s, size_t cap) { return strnlen(s, cap) < cap; }

/* Offset of the sub-document `key` inside rec's bytes. */
static uint64_t doc_offset(const bson_t *rec, const char *key)
{
    bson_iter_t it;
    const uint8_t *data = NULL;
    uint32_t len = 0;
    if (!bson_iter_init_find(&it, rec, key)) return 0;
    bson_iter_document(&it, &len, &data);
    return data ? (uint64_t)(data - bson_get_data(rec)) : 0;
}

/* ---- tasks not yet durable ---- */

static void dirty_drop(struct mj *mj, struct tnode *n)
{
    if (!n->dirty) return;
    size_t i = n->dirty - 1;
    mj->dirty[i] = mj->dirty[--mj->ndirty];
    mj->dirty[i]->dirty = (uint32_t)i + 1;
    n->dirty = 0;
    free(n->doc);
    n->doc = NULL;
}

/* Documents now on disk for good no longer need their copies. */
static void dirty_clean(struct mj *mj)
{
    if (!mj->j) return;
    uint64_t synced = journal_synced(mj->j);
    if (synced >= mj->files_dirty_to) {
        mj->files_dirty_to = 0;
        mj->nfundo = 0;
    }
    for (size_t i = mj->ndirty; i-- > 0;) {
        struct tnode *n = mj->dirty[i];
        if (n->ref != METAREF_NONE && metaref_src(n->ref) == mj->jsrc && metaref_off(n->ref) < synced)
            dirty_drop(mj, n);
    }
}

static void drop_unreadable_files(struct mj *mj);

static int fundo_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct fundo *)a)->now, y = ((const struct fundo *)b)->now;
    return x < y ? -1 : x > y;
}

/* ref is a live-journal record past the last sync. */
static int cut_off(const struct mj *mj, uint64_t ref, uint64_t synced)
{
    return metaref_src(ref) == mj->jsrc && metaref_off(ref) >= synced;
}

/* After a failed append or sync the journal may have been cut back to its
 * last sync: the copies are all that is left of the records past it. */
static void dirty_fail(struct mj *mj)
{
    if (!mj->j) return;
    uint64_t synced = journal_synced(mj->j);
    for (size_t i = 0; i < mj->ndirty; i++) {
        struct tnode *n = mj->dirty[i];
        if (n->ref != METAREF_NONE && cut_off(mj, n->ref, synced)) n->ref = METAREF_NONE;
    }
    /* File records past the sync have no copy: out of the index, and the
     * uploads that put them find it out (meta_files_cuts) and fail. A rare
     * error path, so a walk over every group is fine. */
    if (!mj->files_dirty_to) return;
    if (mj->nfundo) qsort(mj->fundo, mj->nfundo, sizeof *mj->fundo, fundo_cmp);
    for (size_t i = 0; i < mj->gord.n; i++) {
        struct fgroup *g = mj->gord.v[i];
        for (uint32_t k = 0; k < g->n; k++) {
            uint64_t r = g->ref[k];
            if (r == METAREF_NONE || !cut_off(mj, r, synced)) continue;
            /* A replaced record comes back (through replacements also cut). */
            do {
                struct fundo key = { 0, r }, *u = mj->nfundo ?
                    bsearch(&key, mj->fundo, mj->nfundo, sizeof *mj->fundo, fundo_cmp) : NULL;
                r = u ? u->old : METAREF_NONE;
            } while (r != METAREF_NONE && cut_off(mj, r, synced));
            g->ref[k] = r;
            g->cflags |= CGROUP_TOUCHED;   /* a compaction's copy of its refs is old */
        }
    }
    drop_unreadable_files(mj);
    mj->files_dirty_to = 0;
    mj->nfundo = 0;
    mj->files_cuts++;
}

/* Durably appends rec (no-op while replaying); *body_off gets where its
 * body starts in the live journal. */
static int swap_journal(struct mj *mj, char *err, size_t errcap);
static int commit(struct mj *mj, const bson_t *rec, uint64_t *body_off, char *err, size_t errcap)
{
    if (!mj->j) return 0;
    if (mj->stale) {
        int rc = swap_journal(mj, err, errcap);
        if (rc && mj->stale) return rc;
    }
    uint64_t off = journal_size(mj->j);
    int rc = journal_append(mj->j, bson_get_data(rec), rec->len, !mj->nosync, err, errcap);
    if (rc) {
        dirty_fail(mj);
        return rc;
    }
    *body_off = off + JOURNAL_REC_HDR_SIZE;
    if (!mj->nosync) dirty_clean(mj);
    return 0;
}

static void maybe_compact(struct mj *mj);
static void tnode_retire(struct mj *mj, struct tnode *n);
static void group_retire(struct mj *mj, struct fgroup *g);

/* ---- tasks ---- */

/* A task change: t's key fields, its document (doc, len) and, when
 * replaying, ref = where that document is stored (else METAREF_NONE: the
 * record is appended here). */
static int task_put_locked(struct mj *mj, const task_rec *t, const uint8_t *doc, uint32_t len,
                           uint64_t ref, char *err, size_t errcap)
{
    int rc = 0, e;
    bson_t rec = BSON_INITIALIZER, d;
    size_t li = strlen(t->task_id) + 1;
    struct tnode *n = malloc(sizeof *n + li);
    if (!n) { rc = META_E_NOMEM; goto out; }
    memset(n, 0, sizeof *n);
    memcpy(n->task_id, t->task_id, li);
    n->submitted_at = t->submitted_at;
    n->status = t->status;
    n->ref = ref;
    n->user_id = meta_journal_intern(mj, t->user_id);
    n->task_name = meta_journal_intern(mj, t->task_name);
    if (!n->user_id || !n->task_name || metaidx_map_reserve(&mj->tasks, 1) < 0 ||
        metaidx_ord_reserve(&mj->tord, 1) < 0) {
        rc = META_E_NOMEM;
        goto out;
    }
    if (mj->j) {
        uint64_t body = 0;
        if (mj->ndirty == mj->capdirty) {
            size_t cap = mj->capdirty ? mj->capdirty * 2 : 64;
            struct tnode **nd = realloc(mj->dirty, cap * sizeof *nd);
            if (!nd) { rc = META_E_NOMEM; goto out; }
            mj->dirty = nd;
            mj->capdirty = cap;
        }
        if (!(n->doc = malloc(len))) { rc = META_E_NOMEM; goto out; }
        memcpy(n->doc, doc, len);
        BSON_APPEND_UTF8(&rec, "op", "task");
        if (!bson_init_static(&d, doc, len) || !BSON_APPEND_DOCUMENT(&rec, "doc", &d)) {
            meta_errf(err, errcap, "task %s: bad or oversized record", t->task_id);
            rc = META_E_NOMEM;
            goto out;
        }
        if ((rc = commit(mj, &rec, &body, err, errcap)) != 0) goto out;
        n->ref = metaref_make(mj->jsrc, body + doc_offset(&rec, "doc"));
        if (!mj->nosync) {
            free(n->doc);
            n->doc = NULL;
        } else {
            mj->dirty[mj->ndirty++] = n;
            n->dirty = (uint32_t)mj->ndirty;
        }
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
        tnode_retire(mj, old);
    } else {
        metaidx_ord_insert(&mj->tord, n);
    }
    n = NULL;
    rc = 0;
out:
    if (n) free(n->doc);
    free(n);
    bson_destroy(&rec);
    return rc;
}

/* A store opened for `master --check` is read-only. */
static int writable(const struct mj *mj, char *err, size_t errcap)
{
    if (mj->j) return 0;
    meta_errf(err, errcap, "the store is open read-only");
    return META_E_ARG;
}

static int task_put_rec(struct mj *mj, const task_rec *t, char *err, size_t errcap)
{
    bson_t doc = BSON_INITIALIZER;
    int rc = writable(mj, err, errcap);
    if (rc) return rc;
    rc = metadoc_task_to_bson(t, &doc);
    if (rc) meta_errf(err, errcap, "task %s: bad or oversized record", t->task_id);
    else rc = task_put_locked(mj, t, bson_get_data(&doc), doc.len, METAREF_NONE, err, errcap);
    bson_destroy(&doc);
    return rc;
}

/* ---- files ---- */

/* One file of a prepared change. */
struct pitem {
    struct fgroup *g;
    size_t name;             /* offset of its file_name in the change's arena */
    const char *nm;          /* the same as a pointer, once the arena is complete */
    uint64_t submitted_at;
    uint64_t ref;            /* its document, once the record's place is known */
    uint32_t seq;            /* order in the change: the later of two same names wins */
    uint32_t pos;            /* where it goes among g's files (before the change) */
    uint8_t differs;         /* user or task name differ from the group's */
    uint8_t replace;         /* pos holds a file of the same name */
    uint8_t drop;            /* a later item has the same name */
};

/* What a change does to one group. */
struct gprep {
    struct fgroup *g;
    size_t a, b;             /* its items, [a, b) after sorting */
    uint32_t ins;            /* files added */
    uint64_t least;
    uint8_t mixed, mixed_time;
};

/* A prepared files change: groups created, reads done, room reserved. */
struct pend {
    struct pitem *it;
    size_t n, cap;
    char *arena;
    size_t alen, acap;
    struct gprep *gp;
    size_t ngp;
    metaidx_map fresh;            /* new groups by task_id */
};

static void pend_init(struct pend *p)
{
    memset(p, 0, sizeof *p);
    metaidx_map_init(&p->fresh, group_key);
}

/* Undoes a prepared change that was not applied (or frees an applied one). */
static void pend_abort(struct pend *p)
{
    for (size_t i = 0; i < p->fresh.cap; i++)
        if (p->fresh.slot && p->fresh.slot[i].val) {
            struct fgroup *g = p->fresh.slot[i].val;
            if (g->fresh) group_free(g);
        }
    free(p->it);
    free(p->arena);
    free(p->gp);
    metaidx_map_free(&p->fresh);
}

static const char *pname(const struct pend *p, const struct pitem *it) { (void)p; return it->nm; }

/* Adds one file; ref: where its document is (replay) or 0 (set after commit). */
static int pend_add(struct mj *mj, struct pend *p, const file_rec *f, uint64_t ref)
{
    if (!str_ok(f->task_id, sizeof f->task_id) || !f->task_id[0] || !f->file_name[0] ||
        !str_ok(f->user_id, sizeof f->user_id) || !str_ok(f->task_name, sizeof f->task_name) ||
        !str_ok(f->file_name, sizeof f->file_name) || !str_ok(f->file_path, sizeof f->file_path))
        return META_E_ARG;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct pitem *ni = realloc(p->it, cap * sizeof *ni);
        if (!ni) return META_E_NOMEM;
        p->it = ni;
        p->cap = cap;
    }
    size_t ln = strlen(f->file_name) + 1;
    if (p->alen + ln > p->acap) {
        size_t cap = p->acap ? p->acap : 4096;
        while (cap < p->alen + ln) cap *= 2;
        char *na = realloc(p->arena, cap);
        if (!na) return META_E_NOMEM;
        p->arena = na;
        p->acap = cap;
    }
    struct fgroup *g = metaidx_map_get(&mj->groups, f->task_id);
    if (!g) g = metaidx_map_get(&p->fresh, f->task_id);
    if (!g) {
        int e = 0;
        size_t li = strlen(f->task_id) + 1;
        g = calloc(1, sizeof *g + li);
        if (!g) return META_E_NOMEM;
        memcpy(g->task_id, f->task_id, li);
        g->user_id = meta_journal_intern(mj, f->user_id);
        g->task_name = meta_journal_intern(mj, f->task_name);
        g->submitted_at = f->submitted_at;
        g->fresh = 1;
        if (g->user_id && g->task_name) metaidx_map_put(&p->fresh, g, &e);
        if (!g->user_id || !g->task_name || e) { free(g); return META_E_NOMEM; }
    }
    struct pitem *it = &p->it[p->n];
    memset(it, 0, sizeof *it);
    it->g = g;
    it->name = p->alen;
    memcpy(p->arena + p->alen, f->file_name, ln);
    p->alen += ln;
    it->submitted_at = f->submitted_at;
    it->ref = ref;
    it->seq = (uint32_t)p->n++;
    it->differs = strcmp(f->user_id, g->user_id) || strcmp(f->task_name, g->task_name);
    return 0;
}

static int item_cmp(const void *a, const void *b)
{
    const struct pitem *x = a, *y = b;
    if (x->g != y->g) return (uintptr_t)x->g < (uintptr_t)y->g ? -1 : 1;
    int c = strcmp(x->nm, y->nm);
    if (c) return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The file_name of a stored document (into r's window), or NULL. */
static const char *stored_name(metaref_reader *r, uint64_t ref, int *rc)
{
    const uint8_t *doc;
    uint32_t len;
    bson_t b;
    bson_iter_t it;
    if ((*rc = metaref_read(r, ref, &doc, &len)) != 0) return NULL;
    if (bson_init_static(&b, doc, len) && bson_iter_init_find(&it, &b, "file_name") &&
        BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    *rc = META_E_CORRUPT;
    return NULL;
}

/* Exact group statistics when files are replaced by ones that differ in
 * user, name or time: every remaining stored file is read. */
static int recompute(struct pend *p, struct gprep *gp, metaref_reader *r, file_rec *scratch)
{
    struct fgroup *g = gp->g;
    int first = 1, rc;
    uint64_t t0 = 0;
    gp->mixed = gp->mixed_time = 0;
    gp->least = UINT64_MAX;
    size_t k = gp->a;
    for (uint32_t i = 0; i < g->n; i++) {
        /* Replaced positions ascend with the (sorted) names. */
        while (k < gp->b && (p->it[k].drop || !p->it[k].replace || p->it[k].pos < i)) k++;
        if (k < gp->b && p->it[k].pos == i) continue;
        const uint8_t *doc;
        uint32_t len;
        if ((rc = metaref_read(r, g->ref[i], &doc, &len)) != 0 ||
            (rc = meta_journal_file_decode(doc, len, scratch)) != 0)
            return rc;
        if (strcmp(scratch->user_id, g->user_id) || strcmp(scratch->task_name, g->task_name)) gp->mixed = 1;
        if (first) t0 = scratch->submitted_at, first = 0;
        else if (scratch->submitted_at != t0) gp->mixed_time = 1;
        if (scratch->submitted_at < gp->least) gp->least = scratch->submitted_at;
    }
    for (size_t j = gp->a; j < gp->b; j++) {
        const struct pitem *it = &p->it[j];
        if (it->drop) continue;
        if (it->differs) gp->mixed = 1;
        if (first) t0 = it->submitted_at, first = 0;
        else if (it->submitted_at != t0) gp->mixed_time = 1;
        if (it->submitted_at < gp->least) gp->least = it->submitted_at;
    }
    return 0;
}

/* Orders the items, finds where each goes (reading stored names where the
 * group has files already), computes the groups' new statistics and
 * reserves every byte the apply needs. I/O errors fail the change. */
static int pend_prepare(struct mj *mj, struct pend *p)
{
    metaref_reader r;
    file_rec *scratch = NULL;
    int rc = 0, sorted = 1;
    size_t ngroups = 0;
    metaref_reader_init(&r, &mj->src);
    for (size_t i = 0; i < p->n; i++) p->it[i].nm = p->arena + p->it[i].name;
    for (size_t i = 1; i < p->n && sorted; i++)
        if (item_cmp(&p->it[i - 1], &p->it[i]) > 0) sorted = 0;
    if (!sorted) qsort(p->it, p->n, sizeof *p->it, item_cmp);
    for (size_t i = 0; i < p->n; i++) {
        if (i == 0 || p->it[i].g != p->it[i - 1].g) ngroups++;
        if (i + 1 < p->n && p->it[i + 1].g == p->it[i].g && !strcmp(pname(p, &p->it[i]), pname(p, &p->it[i + 1])))
            p->it[i].drop = 1;
    }
    if (!(p->gp = calloc(ngroups ? ngroups : 1, sizeof *p->gp))) { rc = META_E_NOMEM; goto out; }
    for (size_t a = 0; a < p->n;) {
        struct fgroup *g = p->it[a].g;
        size_t b = a;
        while (b < p->n && p->it[b].g == g) b++;
        struct gprep *gp = &p->gp[p->ngp++];
        int need_exact = 0;
        gp->g = g;
        gp->a = a;
        gp->b = b;
        gp->mixed = g->mixed;
        gp->mixed_time = g->mixed_time;
        gp->least = g->n ? g->submitted_at : p->it[a].submitted_at;
        uint64_t t0 = g->n ? g->submitted_at : p->it[a].submitted_at;
        /* Appending past the last stored name needs one read, not a search. */
        const char *last = NULL;
        if (g->n && !(last = stored_name(&r, g->ref[g->n - 1], &rc))) goto out;
        int append = !g->n || strcmp(pname(p, &p->it[a]), last) > 0;
        /* Many files into a group (a re-upload): one pass over its stored
         * names beats a binary search per file. */
        unsigned lg = 0;
        while ((1ull << lg) < g->n) lg++;
        int walk = !append && (uint64_t)(b - a) * lg > g->n;
        uint32_t at = 0;
        for (size_t k = a; k < b; k++) {
            struct pitem *it = &p->it[k];
            if (it->drop) continue;
            if (append) {
                it->pos = g->n;
            } else if (walk) {
                int c = 1;
                while (at < g->n) {
                    const char *s = stored_name(&r, g->ref[at], &rc);
                    if (!s) goto out;
                    if ((c = strcmp(s, pname(p, it))) >= 0) break;
                    at++;
                }
                it->pos = at;
                if (at < g->n && c == 0) {
                    it->replace = 1;
                    need_exact = 1;
                }
            } else {
                uint32_t lo = 0, hi = g->n;
                while (lo < hi) {
                    uint32_t mid = lo + (hi - lo) / 2;
                    const char *s = stored_name(&r, g->ref[mid], &rc);
                    if (!s) goto out;
                    int c = strcmp(s, pname(p, it));
                    if (c == 0) { lo = mid; it->replace = 1; break; }
                    if (c < 0) lo = mid + 1;
                    else hi = mid;
                }
                it->pos = lo;
                if (it->replace) need_exact = 1;
            }
            if (!it->replace) gp->ins++;
            if (it->differs) gp->mixed = 1;
            if (it->submitted_at != t0) gp->mixed_time = 1;
            if (it->submitted_at < gp->least) gp->least = it->submitted_at;
        }
        /* A replaced file may have been the one that made the group mixed
         * or set its least time: only a full look tells. */
        if (need_exact && (g->mixed || g->mixed_time || gp->mixed || gp->mixed_time)) {
            if (!scratch && !(scratch = malloc(sizeof *scratch))) { rc = META_E_NOMEM; goto out; }
            if ((rc = recompute(p, gp, &r, scratch)) != 0) goto out;
        }
        if (g->n + gp->ins > g->cap) {
            uint64_t *nr = realloc(g->ref, (g->n + gp->ins) * sizeof *nr);
            if (!nr) { rc = META_E_NOMEM; goto out; }
            g->ref = nr;
            g->cap = g->n + gp->ins;
        }
        a = b;
    }
    if (metaidx_map_reserve(&mj->groups, p->fresh.n) < 0 || metaidx_ord_reserve(&mj->gord, p->fresh.n) < 0)
        rc = META_E_NOMEM;
out:
    free(scratch);
    metaref_reader_free(&r);
    return rc;
}

/* Cannot fail: everything was read and reserved. */
static void pend_apply(struct mj *mj, struct pend *p)
{
    int e;
    for (size_t gi = 0; gi < p->ngp; gi++) {
        struct gprep *gp = &p->gp[gi];
        struct fgroup *g = gp->g;
        g->cflags |= CGROUP_TOUCHED;   /* a compaction's copy of its refs is old */
        if (g->fresh) {
            g->fresh = 0;
            metaidx_map_put(&mj->groups, g, &e);
            metaidx_ord_insert(&mj->gord, g);
        }
        for (size_t k = gp->a; k < gp->b; k++) {
            if (p->it[k].drop || !p->it[k].replace) continue;
            if (mj->j && mj->nosync)   /* reserved by files_put_locked */
                mj->fundo[mj->nfundo++] = (struct fundo){ g->ref[p->it[k].pos], p->it[k].ref };
            g->ref[p->it[k].pos] = p->it[k].ref;
        }
        /* Inserts merged in from the back, so each stored ref moves once. */
        size_t src = g->n, dst = g->n + gp->ins;
        for (size_t k = gp->b; k-- > gp->a;) {
            const struct pitem *it = &p->it[k];
            if (it->drop || it->replace) continue;
            while (src > it->pos) g->ref[--dst] = g->ref[--src];
            g->ref[--dst] = it->ref;
        }
        g->n += gp->ins;
        mj->nfiles += gp->ins;
        g->mixed = gp->mixed;
        if (gp->mixed_time != g->mixed_time) {
            g->mixed_time = gp->mixed_time;
            if (gp->mixed_time) mj->mixed_time++;
            else mj->mixed_time--;
        }
        if (gp->least != g->submitted_at) {
            /* Same count, so the re-insert cannot need memory. */
            metaidx_ord_remove_at(&mj->gord, metaidx_ord_find(&mj->gord, g));
            g->submitted_at = gp->least;
            metaidx_ord_insert(&mj->gord, g);
        }
    }
}

/* The i-th record of a files commit. */
static int build_files_rec(bson_t *rec, const file_rec *files, size_t n)
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
        rc = metadoc_file_to_bson(&files[i], &doc);
        if (!bson_append_document_end(&arr, &doc) && !rc) rc = META_E_NOMEM;
    }
    if (!bson_append_array_end(rec, &arr) && !rc) rc = META_E_NOMEM;
    return rc;
}

/* Offsets of the documents of rec's "docs" array inside rec: off[0..n). */
static int docs_offsets(const bson_t *rec, uint64_t *off, size_t n)
{
    bson_iter_t it, arr;
    size_t i = 0;
    if (!bson_iter_init_find(&it, rec, "docs") || !bson_iter_recurse(&it, &arr)) return -1;
    while (i < n && bson_iter_next(&arr)) {
        const uint8_t *data = NULL;
        uint32_t len = 0;
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr)) return -1;
        bson_iter_document(&arr, &len, &data);
        off[i++] = (uint64_t)(data - bson_get_data(rec));
    }
    return i == n ? 0 : -1;
}

/* Room for every replacement p makes (pend_apply records them). */
static int fundo_reserve(struct mj *mj, const struct pend *p)
{
    size_t need = mj->nfundo;
    for (size_t i = 0; i < p->n; i++) need += !p->it[i].drop && p->it[i].replace;
    if (need <= mj->capfundo) return 0;
    size_t cap = mj->capfundo ? mj->capfundo : 64;
    while (cap < need) cap *= 2;
    struct fundo *nu = realloc(mj->fundo, cap * sizeof *nu);
    if (!nu) return META_E_NOMEM;
    mj->fundo = nu;
    mj->capfundo = cap;
    return 0;
}

static int files_put_locked(struct mj *mj, const file_rec *files, size_t n, char *err, size_t errcap)
{
    struct pend p;
    bson_t rec = BSON_INITIALIZER;
    uint64_t *off = NULL, body = 0;
    int rc = writable(mj, err, errcap);
    if (rc) return rc;
    pend_init(&p);
    for (size_t i = 0; i < n && !rc; i++) rc = pend_add(mj, &p, &files[i], 0);
    if (rc) { meta_errf(err, errcap, rc == META_E_ARG ? "files_put: bad record" : "out of memory"); goto out; }
    if ((rc = build_files_rec(&rec, files, n)) != 0) {
        meta_errf(err, errcap, "files_put: bad or oversized records");
        goto out;
    }
    if (!(off = malloc(n * sizeof *off)) || docs_offsets(&rec, off, n) != 0) {
        rc = META_E_NOMEM;
        meta_errf(err, errcap, "out of memory");
        goto out;
    }
    if ((rc = pend_prepare(mj, &p)) != 0) {
        meta_errf(err, errcap, rc == META_E_NOMEM ? "out of memory" : "files_put: reading the task's stored "
                  "file records failed");
        goto out;
    }
    if (mj->j && mj->nosync && (rc = fundo_reserve(mj, &p)) != 0) {
        meta_errf(err, errcap, "out of memory");
        goto out;
    }
    if (mj->j && (rc = commit(mj, &rec, &body, err, errcap)) != 0) goto out;
    if (mj->j && mj->nosync) {
        /* No copy is kept: the finds read the record from the file. */
        if ((rc = journal_write_out(mj->j, err, errcap)) != 0) {
            dirty_fail(mj);
            goto out;
        }
        mj->files_dirty_to = journal_size(mj->j);
    }
    for (size_t i = 0; i < p.n; i++) p.it[i].ref = metaref_make(mj->jsrc, body + off[p.it[i].seq]);
    pend_apply(mj, &p);
out:
    pend_abort(&p);
    free(off);
    bson_destroy(&rec);
    return rc;
}

static int files_del_locked(struct mj *mj, const char *task_id, char *err, size_t errcap)
{
    bson_t rec = BSON_INITIALIZER;
    uint64_t body;
    int rc = 0;
    struct fgroup *g = metaidx_map_get(&mj->groups, task_id);
    if (!g) goto out;   /* nothing to delete is not an error, and needs no record */
    BSON_APPEND_UTF8(&rec, "op", "files_del");
    BSON_APPEND_UTF8(&rec, "task_id", task_id);
    if ((rc = commit(mj, &rec, &body, err, errcap)) != 0) goto out;
    metaidx_map_del(&mj->groups, task_id);
    metaidx_ord_remove_at(&mj->gord, metaidx_ord_find(&mj->gord, g));
    if (g->mixed_time) mj->mixed_time--;
    mj->nfiles -= g->n;
    group_retire(mj, g);
out:
    bson_destroy(&rec);
    return rc;
}

static int worker_put_locked(struct mj *mj, const worker_rec *w, char *err, size_t errcap)
{
    bson_t rec = BSON_INITIALIZER, doc;
    uint64_t body;
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
        if ((rc = commit(mj, &rec, &body, err, errcap)) != 0) goto out;
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
    int src;            /* the file as a metaref source */
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

/* Where a document inside the record being replayed is stored. */
static uint64_t replay_ref(const struct replay *r, const uint8_t *body, const bson_t *d)
{
    return metaref_make(r->src, r->rep->cur_off + JOURNAL_REC_HDR_SIZE + (uint64_t)(bson_get_data(d) - body));
}

static int replay_files(struct replay *r, const uint8_t *body, bson_iter_t *it)
{
    struct pend p;
    bson_iter_t arr;
    int rc = 0;
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &arr)) return META_E_CORRUPT;
    pend_init(&p);
    while (!rc && bson_iter_next(&arr)) {
        bson_t d;
        file_rec *f = r->scratch;
        if (sub_doc(&arr, &d)) { rc = META_E_CORRUPT; break; }
        rc = meta_journal_file_decode(bson_get_data(&d), d.len, f);
        if (!rc) rc = pend_add(r->mj, &p, f, replay_ref(r, body, &d));
        if (rc == META_E_ARG) rc = META_E_CORRUPT;
    }
    if (!rc) rc = pend_prepare(r->mj, &p);
    if (!rc) pend_apply(r->mj, &p);
    pend_abort(&p);
    return rc;
}

static int replay_rec(void *ctx, const uint8_t *body, size_t len)
{
    struct replay *r = ctx;
    bson_t b, d;
    bson_iter_t it;
    int rc = META_E_CORRUPT;
    if (!bson_init_static(&b, body, len) || !metadoc_sane(&b))
        return META_E_CORRUPT;
    if (!bson_iter_init_find(&it, &b, "op") || !BSON_ITER_HOLDS_UTF8(&it)) return META_E_CORRUPT;
    const char *op = bson_iter_utf8(&it, NULL);
    if (r->listing) list_rec(r, op, &b);
    if (!strcmp(op, "task")) {
        task_rec t;
        task_rec_init(&t);
        if (bson_iter_init_find(&it, &b, "doc") && sub_doc(&it, &d) == 0 &&
            (rc = metadoc_task_from_bson(&d, &t, NULL, 0)) == 0) {
            rc = t.task_id[0] ? task_put_locked(r->mj, &t, bson_get_data(&d), d.len, replay_ref(r, body, &d),
                                                NULL, 0)
                              : META_E_CORRUPT;
        }
        task_rec_free(&t);
    } else if (!strcmp(op, "files")) {
        if (bson_iter_init_find(&it, &b, "docs")) rc = replay_files(r, body, &it);
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
    return rc;
}

/* ---- snapshot / compaction ---- */

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
    int src = -1;
    int rc = journal_create(mj->jtmp, mj->gen, &nj, err, errcap);
    if (!rc && (src = metaref_open(&mj->src, mj->jtmp)) < 0) {
        meta_errf(err, errcap, "%s: %s", mj->jtmp, strerror(errno));
        rc = META_E_IO;
    }
    if (!rc) keep_prev(mj->jpath, mj->jprev);
    if (!rc && rename(mj->jtmp, mj->jpath) < 0) {
        meta_errf(err, errcap, "rename %s: %s", mj->jtmp, strerror(errno));
        rc = META_E_IO;
    }
    if (rc) {
        metaref_close(&mj->src, src);
        journal_close(nj);
        unlink(mj->jtmp);
        return rc;
    }
    journal_close(mj->j);
    mj->j = nj;
    /* Nothing refers to the superseded journal: compaction moved it all. */
    metaref_close(&mj->src, mj->jsrc);
    mj->jsrc = src;
    mj->stale = 0;
    mj->compact_next = 0;
    mj->files_dirty_to = 0;   /* the old journal was synced before the snapshot */
    mj->nfundo = 0;
    return journal_fsync_dir(mj->dir, err, errcap);
}


/* A compaction in three steps, so that a big store is rewritten without
 * holding the lock: cp_capture (locked, milliseconds) syncs the journal and
 * copies the references of every live record; cp_write (unlocked, the long
 * part) writes those documents into a new snapshot, reading them from files
 * whose bytes below the captured journal size never change; cp_finish
 * (locked) appends to the snapshot the journal records written meanwhile,
 * byte for byte (replaying them over the rest gives the live state, as a
 * journal does over a snapshot), renames it into place and moves every
 * reference: a record unchanged since the capture to its copy, a newer one
 * to its place in the copied tail. Nodes retired meanwhile are kept (the
 * capture names them) and freed at the end. A live store runs cp_write on
 * its own thread; open and meta_compact run all three in a row. */
struct ctask {
    struct tnode *n;
    uint64_t ref;            /* n->ref at the capture */
    uint8_t *doc;            /* a copy of a document with no durable record (dirty_fail) */
};
struct cgroup {
    struct fgroup *g;
    size_t at;               /* its refs: fref[at .. at + n) */
    uint32_t n;
};
struct ptrvec {
    void **v;
    size_t n, cap;
};
struct compaction {
    int tail;                /* a live journal to take the tail from */
    uint64_t p;              /* its size at the capture (synced) */
    int jsrc;                /* and its source */
    struct ctask *t;
    size_t nt;
    struct cgroup *g;
    size_t ng;
    uint64_t *fref, *nfile, *ntask;   /* captured file refs; the new places */
    size_t nf;
    bson_t **w;              /* worker records, built at the capture (bson_new: aligned) */
    size_t nw;
    journal *s;
    int ssrc;
    uint64_t s_p;            /* the snapshot's size before the tail */
    int renamed;             /* step 3 put the snapshot in place: no way back */
    size_t skipped;
    struct ptrvec tgrave, ggrave;     /* retired meanwhile: freed at the end */
};

static int ptrvec_push(struct ptrvec *v, void *p)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        void **nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) return -1;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = p;
    return 0;
}

/* A task record replaced while a compaction may still read it. Cannot fail
 * (it follows a durable commit): without memory to remember it, it leaks. */
static void tnode_retire(struct mj *mj, struct tnode *n)
{
    dirty_drop(mj, n);
    if (!mj->cp) {
        free(n);
        return;
    }
    n->ref = METAREF_DEAD;
    if (ptrvec_push(&mj->cp->tgrave, n) != 0) { /* leaked: the capture still names it */ }
}

static void group_retire(struct mj *mj, struct fgroup *g)
{
    if (!mj->cp) {
        group_free(g);
        return;
    }
    g->cflags |= CGROUP_DEAD;
    if (ptrvec_push(&mj->cp->ggrave, g) != 0) { /* leaked, as above */ }
}

static void cp_free(struct compaction *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->nt; i++) free(c->t[i].doc);
    for (size_t i = 0; i < c->nw; i++) bson_destroy(c->w[i]);
    for (size_t i = 0; i < c->tgrave.n; i++) free(c->tgrave.v[i]);
    for (size_t i = 0; i < c->ggrave.n; i++) group_free(c->ggrave.v[i]);
    free(c->tgrave.v);
    free(c->ggrave.v);
    free(c->t);
    free(c->g);
    free(c->w);
    free(c->fref);
    free(c->nfile);
    free(c->ntask);
    free(c);
}

/* Undoes a compaction that did not finish (under the lock). */
static void cp_abort(struct mj *mj, struct compaction *c)
{
    if (c->s) journal_close(c->s);
    if (c->ssrc >= 0) metaref_close(&mj->src, c->ssrc);
    if (!c->renamed) unlink(mj->stmp);
    if (mj->cp == c) mj->cp = NULL;
    cp_free(c);
}

/* Appends rec to the snapshot; *body_off gets where its body starts. */
static int snap_append(journal *s, const bson_t *rec, uint64_t *body_off, char *err, size_t errcap)
{
    *body_off = journal_size(s) + JOURNAL_REC_HDR_SIZE;
    return journal_append(s, bson_get_data(rec), rec->len, 0, err, errcap);
}

/* Is doc (framed and validated by the reader) a record of task_id? */
static int doc_is(const uint8_t *doc, uint32_t len, const char *task_id)
{
    bson_t b;
    bson_iter_t it;
    return bson_init_static(&b, doc, len) && bson_iter_init_find(&it, &b, "task_id") &&
           BSON_ITER_HOLDS_UTF8(&it) && !strcmp(bson_iter_utf8(&it, NULL), task_id);
}

/* Drops what a compaction left out (ref METAREF_NONE): tasks, files,
 * emptied groups. Cannot fail. */
static void drop_unreadable(struct mj *mj)
{
    for (size_t i = mj->tord.n; i-- > 0;) {
        struct tnode *n = mj->tord.v[i];
        if (n->ref != METAREF_NONE) continue;
        metaidx_map_del(&mj->tasks, n->task_id);
        metaidx_ord_remove_at(&mj->tord, i);
        dirty_drop(mj, n);
        free(n);
    }
    drop_unreadable_files(mj);
}

static void drop_unreadable_files(struct mj *mj)
{
    for (size_t i = mj->gord.n; i-- > 0;) {
        struct fgroup *g = mj->gord.v[i];
        uint32_t k = 0;
        for (uint32_t x = 0; x < g->n; x++)
            if (g->ref[x] != METAREF_NONE) g->ref[k++] = g->ref[x];
        mj->nfiles -= g->n - k;
        g->n = k;
        if (k) continue;
        metaidx_map_del(&mj->groups, g->task_id);
        metaidx_ord_remove_at(&mj->gord, i);
        if (g->mixed_time) mj->mixed_time--;
        group_retire(mj, g);   /* a compaction's capture may point at it */
    }
}

/* Step 1, locked: a synced journal and a copy of every live reference. */
static int cp_capture(struct mj *mj, struct compaction **out, char *err, size_t errcap)
{
    /* A snapshot being checked, or found damaged, must stay as it is:
     * the next start recovers from it and the generation before. */
    if (mj->chk_running || mj->hold_compact) {
        meta_errf(err, errcap, mj->hold_compact ? "compaction held: the snapshot was found damaged after the "
                  "start; restart the master to recover it from the previous generation" :
                  "compaction waits for the snapshot's check to end");
        return META_E_IO;
    }
    if (mj->stale) {
        int rc = swap_journal(mj, err, errcap);
        if (rc) return rc;
    }
    struct compaction *c = calloc(1, sizeof *c);
    int rc = 0;
    if (!c) goto nomem;
    c->ssrc = -1;
    c->jsrc = -1;
    if (mj->j) {
        if ((rc = journal_sync(mj->j, err, errcap)) != 0) {
            dirty_fail(mj);
            goto fail;
        }
        dirty_clean(mj);
        c->tail = 1;
        c->p = journal_size(mj->j);
        c->jsrc = mj->jsrc;
    }
    c->nt = mj->tord.n;
    c->ng = mj->gord.n;
    c->nf = mj->nfiles;
    if (!(c->t = calloc(c->nt + 1, sizeof *c->t)) || !(c->g = calloc(c->ng + 1, sizeof *c->g)) ||
        !(c->fref = malloc((c->nf + 1) * sizeof *c->fref)) || !(c->nfile = malloc((c->nf + 1) * sizeof *c->nfile)) ||
        !(c->ntask = malloc((c->nt + 1) * sizeof *c->ntask)) || !(c->w = calloc(mj->workers.n + 1, sizeof *c->w)))
        goto nomem;
    for (size_t i = 0; i < c->nt; i++) {
        struct tnode *n = mj->tord.v[i];
        c->t[i].n = n;
        c->t[i].ref = n->ref;
        /* Still in memory only after a failed sync: the copy is the record. */
        if (n->doc && n->ref == METAREF_NONE) {
            uint32_t len = (uint32_t)n->doc[0] | (uint32_t)n->doc[1] << 8 | (uint32_t)n->doc[2] << 16 |
                           (uint32_t)n->doc[3] << 24;
            if (!(c->t[i].doc = malloc(len))) goto nomem;
            memcpy(c->t[i].doc, n->doc, len);
        }
    }
    for (size_t i = 0, at = 0; i < c->ng; i++) {
        struct fgroup *g = mj->gord.v[i];
        g->cflags = 0;
        c->g[i] = (struct cgroup){ g, at, g->n };
        memcpy(c->fref + at, g->ref, g->n * sizeof *g->ref);
        at += g->n;
    }
    for (size_t i = 0; i < mj->workers.cap; i++) {
        if (!mj->workers.slot[i].val) continue;
        bson_t *rec = bson_new(), doc;
        if (!rec) goto nomem;
        c->w[c->nw++] = rec;
        BSON_APPEND_UTF8(rec, "op", "worker");
        BSON_APPEND_DOCUMENT_BEGIN(rec, "doc", &doc);
        int wrc = metadoc_worker_to_bson(mj->workers.slot[i].val, &doc);
        if (!bson_append_document_end(rec, &doc) || wrc) goto nomem;
    }
    if ((rc = journal_create(mj->stmp, mj->gen + 1, &c->s, err, errcap)) != 0) goto fail;
    if ((c->ssrc = metaref_open(&mj->src, mj->stmp)) < 0) {
        meta_errf(err, errcap, "%s: %s", mj->stmp, strerror(errno));
        rc = META_E_IO;
        goto fail;
    }
    mj->cp = c;
    *out = c;
    return 0;
nomem:
    rc = META_E_NOMEM;
    meta_errf(err, errcap, "compaction: out of memory");
fail:
    if (c) cp_abort(mj, c);
    return rc;
}

static int cp_stopped(struct mj *mj) { return __atomic_load_n(&mj->cp_stop, __ATOMIC_RELAXED); }

/* Step 2, unlocked on a live store: every captured document into the
 * snapshot; c->ntask[i] and c->nfile[] get their places there. */
static int cp_write(struct mj *mj, struct compaction *c, char *err, size_t errcap)
{
    bson_t rec = BSON_INITIALIZER, d;
    metaref_reader r;
    uint64_t body = 0, *off = NULL;
    uint8_t *keep = NULL;
    size_t fi = 0;
    int rc = 0;
    metaref_reader_init(&r, &mj->src);
    if (!(off = malloc(FILES_PER_SNAP_REC * sizeof *off)) || !(keep = malloc(FILES_PER_SNAP_REC))) {
        rc = META_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < c->nt && !rc; i++) {
        const struct ctask *ct = &c->t[i];
        const uint8_t *dp = ct->doc;
        uint32_t dl = dp ? (uint32_t)dp[0] | (uint32_t)dp[1] << 8 | (uint32_t)dp[2] << 16 | (uint32_t)dp[3] << 24 : 0;
        c->ntask[i] = METAREF_NONE;
        if (cp_stopped(mj)) { rc = META_E_IO; meta_errf(err, errcap, "compaction stopped"); break; }
        /* A document that no longer reads back as this task's (the disk
         * changed under us) is left out: finds already skip it, and the
         * snapshot must hold only records a replay accepts. */
        if ((!dp && metaref_read(&r, ct->ref, &dp, &dl) != 0) || !doc_is(dp, dl, ct->n->task_id)) {
            c->skipped++;
            continue;
        }
        bson_reinit(&rec);
        BSON_APPEND_UTF8(&rec, "op", "task");
        if (!bson_init_static(&d, dp, dl) || !BSON_APPEND_DOCUMENT(&rec, "doc", &d)) {
            meta_errf(err, errcap, "snapshot: task %s: bad record", ct->n->task_id);
            rc = META_E_NOMEM;
        }
        if (!rc) rc = snap_append(c->s, &rec, &body, err, errcap);
        c->ntask[i] = metaref_make(c->ssrc, body + doc_offset(&rec, "doc"));
    }
    for (size_t i = 0; i < c->ng && !rc; i++) {
        const struct cgroup *cg = &c->g[i];
        if (cp_stopped(mj)) { rc = META_E_IO; meta_errf(err, errcap, "compaction stopped"); break; }
        for (size_t k = 0; k < cg->n && !rc; k += FILES_PER_SNAP_REC) {
            size_t m = cg->n - k < FILES_PER_SNAP_REC ? cg->n - k : FILES_PER_SNAP_REC, kept = 0;
            bson_t arr;
            char key[16];
            const char *kk;
            bson_reinit(&rec);
            BSON_APPEND_UTF8(&rec, "op", "files");
            BSON_APPEND_ARRAY_BEGIN(&rec, "docs", &arr);
            for (size_t x = 0; x < m && !rc; x++) {
                const uint8_t *dp;
                uint32_t dl;
                keep[x] = 0;
                if (metaref_read(&r, c->fref[cg->at + k + x], &dp, &dl) != 0 || !doc_is(dp, dl, cg->g->task_id)) {
                    c->skipped++;
                    continue;
                }
                bson_uint32_to_string((uint32_t)kept, &kk, key, sizeof key);
                if (!bson_init_static(&d, dp, dl) || !bson_append_document(&arr, kk, -1, &d)) rc = META_E_NOMEM;
                keep[x] = 1;
                kept++;
            }
            if (!bson_append_array_end(&rec, &arr) && !rc) rc = META_E_NOMEM;
            if (!rc && docs_offsets(&rec, off, kept) != 0) rc = META_E_NOMEM;
            if (!rc && kept) rc = snap_append(c->s, &rec, &body, err, errcap);
            for (size_t x = 0, y = 0; x < m && !rc; x++)
                c->nfile[fi + x] = keep[x] ? metaref_make(c->ssrc, body + off[y++]) : METAREF_NONE;
            fi += m;
        }
    }
    for (size_t i = 0; i < c->nw && !rc; i++) rc = snap_append(c->s, c->w[i], &body, err, errcap);
    if (!rc) rc = journal_sync(c->s, err, errcap);
out:
    if (rc == META_E_NOMEM) meta_errf(err, errcap, "snapshot: out of memory");
    free(off);
    free(keep);
    metaref_reader_free(&r);
    bson_destroy(&rec);
    return rc;
}

/* The journal records written since the capture, appended to the snapshot
 * as they are (checked against their CRCs on the way). */
static int copy_tail(struct mj *mj, struct compaction *c, uint64_t q, char *err, size_t errcap)
{
    int fd = mj->src.fd[c->jsrc];
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    for (uint64_t o = c->p; o < q && !rc;) {
        uint8_t h[JOURNAL_REC_HDR_SIZE];
        if (pread(fd, h, sizeof h, (off_t)o) != (ssize_t)sizeof h) goto bad;
        uint32_t len = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
        uint32_t crc = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 24;
        if (!len || len > JOURNAL_REC_MAX || o + sizeof h + len > q) goto bad;
        if (len > cap) {
            uint8_t *nb = realloc(buf, len);
            if (!nb) { rc = META_E_NOMEM; meta_errf(err, errcap, "compaction: out of memory"); break; }
            buf = nb;
            cap = len;
        }
        if (pread(fd, buf, len, (off_t)(o + sizeof h)) != (ssize_t)len ||
            (uint32_t)crc32(0, buf, len) != crc)
            goto bad;
        rc = journal_append(c->s, buf, len, 0, err, errcap);
        o += sizeof h + len;
    }
    free(buf);
    return rc;
bad:
    free(buf);
    meta_errf(err, errcap, "compaction: the journal's records since the capture do not read back");
    return META_E_IO;
}

/* Where a reference taken before step 3 lives after it, for a record that
 * changed since the capture: in the copied tail. */
static uint64_t tail_ref(const struct compaction *c, uint64_t ref)
{
    if (!c->tail || ref == METAREF_NONE || metaref_src(ref) != c->jsrc || metaref_off(ref) < c->p)
        return METAREF_NONE;
    return metaref_make(c->ssrc, metaref_off(ref) - c->p + c->s_p);
}

struct refpair {
    uint64_t old, now;
};

static int refpair_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct refpair *)a)->old, y = ((const struct refpair *)b)->old;
    return x < y ? -1 : x > y;
}

/* A group changed since the capture: each reference to the tail, or to the
 * copy of the same captured reference (pairs sorted by old: n log n). */
static int group_moved(const struct compaction *c, const struct cgroup *cg, struct fgroup *g)
{
    struct refpair *p = cg && cg->n ? malloc(cg->n * sizeof *p) : NULL;
    if (cg && cg->n && !p) return META_E_NOMEM;
    for (uint32_t k = 0; cg && k < cg->n; k++) p[k] = (struct refpair){ c->fref[cg->at + k], c->nfile[cg->at + k] };
    if (p) qsort(p, cg->n, sizeof *p, refpair_cmp);
    for (uint32_t k = 0; k < g->n; k++) {
        uint64_t t = tail_ref(c, g->ref[k]);
        struct refpair key = { g->ref[k], 0 }, *hit;
        if (t == METAREF_NONE && p && (hit = bsearch(&key, p, cg->n, sizeof *p, refpair_cmp))) t = hit->now;
        g->ref[k] = t;
    }
    free(p);
    return 0;
}

/* Step 3, locked: the tail, the renames, every reference moved. On an
 * error before the snapshot's rename nothing changed (the caller aborts). */
static int cp_finish(struct mj *mj, struct compaction *c, journal **idx, char *err, size_t errcap)
{
    struct ctask *lost = NULL;
    size_t nlost = 0, caplost = 0;
    int rc = 0;
    if (mj->hold_compact || mj->chk_running) {
        meta_errf(err, errcap, "compaction held: the snapshot is being checked or was found damaged");
        return META_E_IO;
    }
    c->s_p = journal_size(c->s);
    if (c->tail) {
        if ((rc = journal_sync(mj->j, err, errcap)) != 0) {
            dirty_fail(mj);
            return rc;
        }
        if ((rc = copy_tail(mj, c, journal_size(mj->j), err, errcap)) != 0) return rc;
    }
    /* Tasks whose last record a failed sync cut live only in memory: into
     * the snapshot too (a captured one twice: replay keeps the later). */
    for (size_t i = 0; i < mj->tord.n && !rc; i++) {
        struct tnode *n = mj->tord.v[i];
        bson_t rec = BSON_INITIALIZER, d;
        uint64_t body = 0;
        if (!n->doc || n->ref != METAREF_NONE) continue;
        if (nlost == caplost) {
            size_t cap = caplost ? caplost * 2 : 16;
            struct ctask *nl = realloc(lost, cap * sizeof *nl);
            if (!nl) rc = META_E_NOMEM;
            else lost = nl, caplost = cap;
        }
        uint32_t dl = (uint32_t)n->doc[0] | (uint32_t)n->doc[1] << 8 | (uint32_t)n->doc[2] << 16 |
                      (uint32_t)n->doc[3] << 24;
        BSON_APPEND_UTF8(&rec, "op", "task");
        if (!rc && (!bson_init_static(&d, n->doc, dl) || !BSON_APPEND_DOCUMENT(&rec, "doc", &d))) rc = META_E_NOMEM;
        if (!rc) rc = snap_append(c->s, &rec, &body, err, errcap);
        if (!rc) lost[nlost++] = (struct ctask){ n, metaref_make(c->ssrc, body + doc_offset(&rec, "doc")), NULL };
        bson_destroy(&rec);
    }
    if (rc) goto out;
    uint64_t snap_size = journal_size(c->s);
    if ((rc = journal_sync(c->s, err, errcap)) != 0) goto out;
    journal_close(c->s);
    c->s = NULL;
    /* The index of the old snapshot must be gone before the new one is
     * in place (meta_journal_index.c). */
    if (access(mj->ipath, F_OK) == 0 && (unlink(mj->ipath) < 0 || journal_fsync_dir(mj->dir, err, errcap) != 0)) {
        if (!err || !err[0]) meta_errf(err, errcap, "unlink %s: %s", mj->ipath, strerror(errno));
        rc = META_E_IO;
        goto out;
    }
    keep_prev(mj->spath, mj->sprev);
    if (rename(mj->stmp, mj->spath) < 0) {
        meta_errf(err, errcap, "rename %s: %s", mj->stmp, strerror(errno));
        rc = META_E_IO;
        goto out;
    }
    c->renamed = 1;
    mj->snap_bytes = snap_size;
    /* Tasks: unchanged since the capture -> their copy; newer -> the tail. */
    for (size_t i = 0; i < c->nt; i++)
        if (c->t[i].n->ref == c->t[i].ref) c->t[i].n->ref = c->ntask[i];
    for (size_t i = 0; i < nlost; i++) lost[i].n->ref = lost[i].ref;
    /* The new snapshot's source is a number no older reference uses. */
    for (size_t i = 0; i < mj->tord.n; i++) {
        struct tnode *n = mj->tord.v[i];
        if (n->ref == METAREF_NONE || metaref_src(n->ref) != c->ssrc) n->ref = tail_ref(c, n->ref);
        if (n->ref == METAREF_NONE) c->skipped++;
        if (n->dirty) dirty_drop(mj, n);
    }
    /* Groups: untouched since the capture -> their copies as they are. */
    for (size_t i = 0; i < c->ng; i++) {
        struct cgroup *cg = &c->g[i];
        struct fgroup *g = cg->g;
        if (g->cflags & CGROUP_DEAD) continue;
        if (!(g->cflags & CGROUP_TOUCHED)) memcpy(g->ref, c->nfile + cg->at, g->n * sizeof *g->ref);
        else if (group_moved(c, cg, g) != 0)
            for (uint32_t k = 0; k < g->n; k++) g->ref[k] = METAREF_NONE;   /* no memory: dropped, as unreadable */
        g->cflags = CGROUP_DONE;
    }
    for (size_t i = 0; i < mj->gord.n; i++) {
        struct fgroup *g = mj->gord.v[i];
        if (!(g->cflags & CGROUP_DONE)) group_moved(c, NULL, g);
        g->cflags = 0;
        for (uint32_t k = 0; k < g->n; k++) c->skipped += g->ref[k] == METAREF_NONE;
    }
    if (c->skipped) drop_unreadable(mj);
    /* Only the new snapshot and the live journal (until it is swapped) are
     * still referred to... and the live journal no longer is either. */
    metaref_close_except(&mj->src, c->ssrc, mj->jsrc);
    mj->ssrc = c->ssrc;
    c->ssrc = -1;
    /* From here the live journal is superseded: appending to it would be
     * lost at the next open, so until a fresh one is in place (here, or
     * retried by the next change) changes fail instead. */
    mj->gen++;
    mj->stale = 1;
    if ((rc = journal_fsync_dir(mj->dir, err, errcap)) != 0) goto out;
    /* Without an index the next start replays the snapshot: slower, no less
     * right. With idx, the caller finishes it once the lock is released. */
    if (idx) {
        if (meta_journal_index_build(mj, mj->itmp, snap_size, idx, NULL, 0) != 0) *idx = NULL;
    } else if (meta_journal_index_write(mj, mj->itmp, mj->ipath, snap_size, NULL, 0) != 0) {
        unlink(mj->itmp);
    }
    rc = swap_journal(mj, err, errcap);
out:
    free(lost);
    return rc;
}

/* Steps 2 and 3 after a capture, here and under the lock; the capture is
 * freed either way. */
static int cp_rest(struct mj *mj, struct compaction *c, char *err, size_t errcap)
{
    int rc = cp_write(mj, c, err, errcap);
    if (rc == 0) rc = cp_finish(mj, c, NULL, err, errcap);
    cp_abort(mj, c);
    return rc;
}

/* All three steps in a row, under the lock (open, meta_compact). */
static int do_compact(struct mj *mj, char *err, size_t errcap)
{
    struct compaction *c = NULL;
    int rc = cp_capture(mj, &c, err, errcap);
    return rc ? rc : cp_rest(mj, c, err, errcap);
}

void (*meta_journal_compact_hook)(void);

/* The compaction thread: step 2 without the lock, then step 3 with it. */
static void *cp_main(void *arg)
{
    struct mj *mj = arg;
    struct compaction *c = mj->cp;   /* set before the thread was created */
    char err[256] = "";
    if (meta_journal_compact_hook) meta_journal_compact_hook();
    int rc = cp_write(mj, c, err, sizeof err);
    pthread_rwlock_wrlock(&mj->lock);
    if (rc == 0 && cp_stopped(mj)) rc = META_E_IO;
    journal *idx = NULL;
    if (rc == 0) rc = cp_finish(mj, c, &idx, err, sizeof err);
    if (rc && mj->j) mj->compact_next = journal_size(mj->j) + mj->compact_bytes;
    cp_abort(mj, c);
    pthread_rwlock_unlock(&mj->lock);
    /* No other compaction starts before this thread ends (cp_busy), so the
     * snapshot this index describes is still the one in place. */
    if (idx && meta_journal_index_finish(idx, mj->itmp, mj->ipath, mj->dir, NULL, 0) != 0) unlink(mj->itmp);
    __atomic_store_n(&mj->cp_busy, 0, __ATOMIC_RELEASE);
    return NULL;
}

/* Under the lock: reaps a compaction thread that has ended. */
static void cp_reap(struct mj *mj)
{
    if (mj->cp_started && !__atomic_load_n(&mj->cp_busy, __ATOMIC_ACQUIRE)) {
        pthread_join(mj->cp_th, NULL);
        mj->cp_started = 0;
    }
}

/* Under the lock: captures and hands steps 2-3 to a thread (or, without
 * one, does them here). */
static int cp_start(struct mj *mj, char *err, size_t errcap)
{
    struct compaction *c = NULL;
    cp_reap(mj);
    if (mj->cp || mj->cp_started) {
        meta_errf(err, errcap, "a compaction is already running");
        return META_E_ARG;
    }
    int rc = cp_capture(mj, &c, err, errcap);
    if (rc) return rc;
    __atomic_store_n(&mj->cp_busy, 1, __ATOMIC_RELEASE);
    if (pthread_create(&mj->cp_th, NULL, cp_main, mj) == 0) {
        mj->cp_started = 1;
        return 0;
    }
    __atomic_store_n(&mj->cp_busy, 0, __ATOMIC_RELEASE);
    return cp_rest(mj, c, err, errcap);
}

/* After a successful change: compaction failures do not undo it; they only
 * push the next attempt further out. */
static void maybe_compact(struct mj *mj)
{
    if (!mj->j || !mj->compact_bytes || mj->cp) return;
    cp_reap(mj);
    if (mj->cp_started) return;   /* still writing its index */
    uint64_t size = journal_size(mj->j);
    /* A compaction rewrites the whole store: with a big one, wait for a
     * journal of an eighth of the snapshot, so a change is rewritten at
     * most ~8 times over and a start replays at most that much. */
    if (size < mj->compact_bytes || size < mj->snap_bytes / 8 || size < mj->compact_next) return;
    if (cp_start(mj, NULL, 0) != 0) mj->compact_next = size + mj->compact_bytes;
}

static int j_compact_start(meta *m, char *err, size_t errcap)
{
    struct mj *mj = (struct mj *)m;
    pthread_rwlock_wrlock(&mj->lock);
    int rc = mj->j ? cp_start(mj, err, errcap) : writable(mj, err, errcap);
    pthread_rwlock_unlock(&mj->lock);
    return rc;
}

/* Waits (unlocked) for a compaction thread to end, then takes the lock. */
static void lock_idle(struct mj *mj)
{
    for (;;) {
        pthread_rwlock_wrlock(&mj->lock);
        cp_reap(mj);
        if (!mj->cp_started) return;
        pthread_rwlock_unlock(&mj->lock);
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

static void j_compact_wait(meta *m)
{
    struct mj *mj = (struct mj *)m;
    lock_idle(mj);
    pthread_rwlock_unlock(&mj->lock);
}

#define LOCKED_CHANGE(call) do { \
    pthread_rwlock_wrlock(&mj->lock); \
    int rc_ = (call); \
    if (rc_ == 0) maybe_compact(mj); \
    pthread_rwlock_unlock(&mj->lock); \
    return rc_; } while (0)

/* The same, appended without a sync (a later sync makes it durable). */
#define LOCKED_NOSYNC(call) do { \
    pthread_rwlock_wrlock(&mj->lock); \
    mj->nosync = 1; \
    int rc_ = (call); \
    mj->nosync = 0; \
    if (rc_ == 0) maybe_compact(mj); \
    pthread_rwlock_unlock(&mj->lock); \
    return rc_; } while (0)

static int j_task_put(meta *m, const task_rec *t, char *err, size_t errcap)
{
    struct mj *mj = (struct mj *)m;
    LOCKED_CHANGE(task_put_rec(mj, t, err, errcap));
}

static int j_task_put_nosync(meta *m, const task_rec *t, char *err, size_t errcap)
{
    struct mj *mj = (struct mj *)m;
    LOCKED_NOSYNC(task_put_rec(mj, t, err, errcap));
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
    if (j && (rc = journal_flush(j, &upto, &fd, err, errcap)) != 0) dirty_fail(mj);
    pthread_rwlock_unlock(&mj->lock);
    if (rc == 0 && fd >= 0) {
        if (journal_datasync(fd) < 0) {
            meta_errf(err, errcap, "journal: fdatasync: %s", strerror(errno));
            rc = META_E_IO;
        }
        close(fd);
        pthread_rwlock_wrlock(&mj->lock);
        if (rc == 0 && mj->j == j && mj->gen == gen) {
            journal_mark_synced(j, upto);
            dirty_clean(mj);
        }
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

static int j_files_put_nosync(meta *m, const file_rec *files, size_t n, char *err, size_t errcap)
{
    struct mj *mj = (struct mj *)m;
    LOCKED_NOSYNC(files_put_locked(mj, files, n, err, errcap));
}

static uint64_t j_files_cuts(meta *m)
{
    struct mj *mj = (struct mj *)m;
    pthread_rwlock_rdlock(&mj->lock);
    uint64_t n = mj->files_cuts;
    pthread_rwlock_unlock(&mj->lock);
    return n;
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
    LOCKED_NOSYNC(worker_put_locked(mj, w, err, errcap));
}

static int j_compact(meta *m, char *err, size_t errcap)
{
    struct mj *mj = (struct mj *)m;
    lock_idle(mj);
    int rc = do_compact(mj, err, errcap);
    pthread_rwlock_unlock(&mj->lock);
    return rc;
}

static void init_state(struct mj *mj)
{
    metaidx_map_init(&mj->tasks, task_key);
    metaidx_map_init(&mj->groups, group_key);
    metaidx_map_init(&mj->workers, worker_key);
    metaidx_map_init(&mj->strings, str_key);
    metaidx_ord_init(&mj->tord, task_ord);
    metaidx_ord_init(&mj->gord, group_ord);
    mj->mixed_time = mj->nfiles = mj->ndirty = 0;
}

/* Forgets every record and closes every source (a replay that must start
 * over from another base). */
static void clear_state(struct mj *mj)
{
    for (size_t i = 0; i < mj->tasks.cap; i++) {
        struct tnode *n = mj->tasks.slot[i].val;
        if (n) free(n->doc);
        free(n);
    }
    for (size_t i = 0; i < mj->groups.cap; i++) group_free(mj->groups.slot[i].val);
    for (size_t i = 0; i < mj->workers.cap; i++) free(mj->workers.slot[i].val);
    for (size_t i = 0; i < mj->strings.cap; i++) free(mj->strings.slot[i].val);
    metaidx_map_free(&mj->tasks);
    metaidx_map_free(&mj->groups);
    metaidx_map_free(&mj->workers);
    metaidx_map_free(&mj->strings);
    metaidx_ord_free(&mj->tord);
    metaidx_ord_free(&mj->gord);
    free(mj->dirty);
    free(mj->fundo);
    mj->dirty = NULL;
    mj->capdirty = 0;
    metaref_close_except(&mj->src, -1, -1);
    mj->jsrc = mj->ssrc = -1;
    init_state(mj);
}

static void j_close(meta *m)
{
    struct mj *mj = (struct mj *)m;
    if (mj->chk_started) {
        mj->chk_stop = 1;
        pthread_join(mj->chk, NULL);
    }
    if (mj->chk_fd >= 0) close(mj->chk_fd);
    /* A compaction in flight stops; its half-written snapshot is removed. */
    __atomic_store_n(&mj->cp_stop, 1, __ATOMIC_RELAXED);
    if (mj->cp_started) pthread_join(mj->cp_th, NULL);
    clear_state(mj);
    metaidx_map_free(&mj->tasks);
    metaidx_map_free(&mj->groups);
    metaidx_map_free(&mj->workers);
    metaidx_map_free(&mj->strings);
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
    free(mj->ipath);
    free(mj->itmp);
    free(mj);
}

static int j_check_wait(meta *m, char *text, size_t cap);

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
    .compact_wait = j_compact_wait,
    .compact_start = j_compact_start,
    .task_put_nosync = j_task_put_nosync,
    .sync = j_sync,
    .worker_put_nosync = j_worker_put_nosync,
    .files_put_nosync = j_files_put_nosync,
    .files_cuts = j_files_cuts,
    .check_wait = j_check_wait,
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
                      journal_report *jr, meta_open_report *rep, int *src, char *err, size_t errcap)
{
    struct replay r = { mj, 0, malloc(sizeof(file_rec)), rep->listing, f->name, jr, -1 };
    int rc;
    if (!r.scratch) { meta_errf(err, errcap, "out of memory"); return META_E_NOMEM; }
    /* Its documents stay where they are: the file is kept open to read them. */
    if ((r.src = metaref_open(&mj->src, f->path)) < 0) {
        meta_errf(err, errcap, "%s: %s", f->path, strerror(errno));
        free(r.scratch);
        return META_E_IO;
    }
    if (src) *src = r.src;
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

#define LOAD_AGAIN 1   /* load(): start over without the index */

/* The fast start: the snapshot's records are checked (framing and CRC,
 * as a strict replay would) but not decoded; its index supplies the
 * state. Any trouble leaves an empty state for the full replay. */
static int load_index(struct mj *mj, int later, journal_report *jr)
{
    char e2[256];
    int src = -1, rc = META_E_CORRUPT;
    if (access(mj->ipath, F_OK) != 0) return rc;
    memset(jr, 0, sizeof *jr);
    if ((src = metaref_open(&mj->src, mj->spath)) < 0) return rc;
    if (later) {
        /* Only the header now; the records are checked by check_thread. */
        if (journal_header(mj->spath, &jr->gen, &jr->file_size, e2, sizeof e2) == 0 && jr->gen > 0 &&
            (mj->chk_fd = dup(mj->src.fd[src])) >= 0) {
            mj->chk_size = jr->file_size;
            rc = meta_journal_index_load(mj, mj->ipath, jr->gen, jr->file_size, src, e2, sizeof e2);
        }
    } else if (journal_replay(mj->spath, 1, NULL, NULL, jr, e2, sizeof e2) == 0 && jr->gen > 0) {
        rc = meta_journal_index_load(mj, mj->ipath, jr->gen, jr->file_size, src, e2, sizeof e2);
    }
    if (rc && mj->chk_fd >= 0) {
        close(mj->chk_fd);
        mj->chk_fd = -1;
    }
    if (rc) {
        clear_state(mj);
        return rc;
    }
    mj->ssrc = src;
    return 0;
}

/* The snapshot's records checked after a start from its index: damage
 * is recorded (damage.log), the index removed and compactions held, so
 * the next start finds it and recovers from the previous generation. */
static void *check_thread(void *arg)
{
    struct mj *mj = arg;
    journal_report jr;
    char e2[512] = "";
    int rc = journal_check_fd(mj->chk_fd, mj->chk_size, &mj->chk_stop, &jr, e2, sizeof e2);
    pthread_rwlock_wrlock(&mj->lock);
    mj->chk_running = 0;
    mj->chk_rc = rc == 1 ? 0 : rc;
    if (rc == JOURNAL_E_CORRUPT || rc == JOURNAL_E_IO) {
        meta_open_report r;
        memset(&r, 0, sizeof r);
        mj->hold_compact = 1;
        unlink(mj->ipath);
        snprintf(mj->chk_text, sizeof mj->chk_text, "snapshot: DAMAGED (found by the check after the start, "
                 "%llu intact records before it): %s; the records there are unreadable until a restart "
                 "recovers them from the previous generation (snapshot.idx removed, compactions held)",
                 (unsigned long long)jr.records, e2);
        rep_add(&r, "%s", mj->chk_text);
        damage_log(mj, &r);
    }
    void (*cb)(void *, int, const char *) = mj->on_check;
    void *ctx = mj->on_check_ctx;
    int damaged = mj->chk_rc != 0;
    char text[sizeof mj->chk_text];
    memcpy(text, mj->chk_text, sizeof text);
    pthread_rwlock_unlock(&mj->lock);
    close(mj->chk_fd);
    mj->chk_fd = -1;
    if (cb && rc != 1) cb(ctx, damaged, text);
    return NULL;
}

static int j_check_wait(meta *m, char *text, size_t cap)
{
    struct mj *mj = (struct mj *)m;
    if (mj->chk_started) {
        pthread_join(mj->chk, NULL);
        mj->chk_started = 0;
    }
    if (text && cap) snprintf(text, cap, "%s", mj->chk_text);
    return mj->chk_rc;
}

/* Replays snapshot (or its fallback) + journals, records what it finds
 * and puts a live journal in place (not in CHECK). See meta.h. */
static int load(struct mj *mj, int mode, meta_open_report *rep, char *err, size_t errcap)
{
    struct sfile S, SP, J, JP;
    journal_report jr, jlive;
    int rc = 0, have_base = 0, s_bad = 0, need_compact = 0, used_prev = 0, j_replayed = 0, jsrc = -1;
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
    if (S.exists && mode == META_OPEN_NORMAL && load_index(mj, rep->check_later, &jr) == 0) {
        have_base = rep->from_index = 1;
        base = jr.gen;
        rep->records += jr.records;
    } else if (S.exists) {
        rc = replay_one(mj, &S, 1, 0, &jr, rep, &mj->ssrc, err, errcap);
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
            rc = replay_one(mj, &SP, 1, 0, &jr, rep, &mj->ssrc, err, errcap);
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
            if ((rc = replay_one(mj, &S, 0, 1, &jr, rep, &mj->ssrc, err, errcap)) != 0) return rc;
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
        if ((rc = replay_one(mj, &JP, 0, 0, &jr, rep, NULL, err, errcap)) != 0) return rc;
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
        if ((rc = replay_one(mj, &J, 0, !J.hdr_ok, &jlive, rep, &jsrc, err, errcap)) != 0) return rc;
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
    {
        struct stat st;
        mj->snap_bytes = stat(mj->spath, &st) == 0 ? (uint64_t)st.st_size : 0;
    }
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

    /* A compaction is about to copy the snapshot's documents: one not yet
     * checked (check_later) is checked first, and if damaged, the start
     * begins again without the index (so the previous generation can
     * take over). */
    if (mj->chk_fd >= 0 && (need_compact || mode == META_OPEN_REPAIR)) {
        journal_report cr;
        char e2[256];
        int crc = journal_check_fd(mj->chk_fd, mj->chk_size, NULL, &cr, e2, sizeof e2);
        close(mj->chk_fd);
        mj->chk_fd = -1;
        if (crc != 0) return LOAD_AGAIN;
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
        mj->jsrc = jsrc;
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
    rep->damaged = rep->from_index = 0;
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
    mj->chk_fd = -1;
    init_state(mj);
    metaref_set_init(&mj->src);
    mj->jsrc = mj->ssrc = -1;
    mj->dir = strdup(dir);
    mj->jpath = path_join(dir, "journal");
    mj->spath = path_join(dir, "snapshot");
    mj->jtmp = path_join(dir, "journal.tmp");
    mj->stmp = path_join(dir, "snapshot.tmp");
    mj->jprev = path_join(dir, "journal.prev");
    mj->sprev = path_join(dir, "snapshot.prev");
    mj->ipath = path_join(dir, "snapshot.idx");
    mj->itmp = path_join(dir, "snapshot.idx.tmp");
    if (!mj->dir || !mj->jpath || !mj->spath || !mj->jtmp || !mj->stmp || !mj->jprev || !mj->sprev ||
        !mj->ipath || !mj->itmp) {
        meta_errf(err, errcap, "out of memory");
        rc = META_E_NOMEM;
        goto out;
    }
    if (mode != META_OPEN_CHECK) {
        /* Leftovers of an interrupted compaction were never renamed: not state. */
        unlink(mj->stmp);
        unlink(mj->jtmp);
        unlink(mj->itmp);
    }
    rc = load(mj, mode, rep, err, errcap);
    if (rc == LOAD_AGAIN) {
        clear_state(mj);
        rep->dropped = rep->lost_bytes = rep->records = 0;
        rep->damaged = rep->from_index = 0;
        rep->text[0] = 0;
        rep->check_later = 0;
        unlink(mj->ipath);
        rc = load(mj, mode, rep, err, errcap);
    }
    if (rc == 0 && mj->chk_fd >= 0) {
        mj->on_check = rep->on_check;
        mj->on_check_ctx = rep->on_check_ctx;
        mj->chk_running = 1;
        if (pthread_create(&mj->chk, NULL, check_thread, mj) == 0) {
            mj->chk_started = 1;
        } else {
            /* No thread: check now, as a start without check_later would. */
            mj->chk_running = 0;
            check_thread(mj);
        }
    }
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
