/* meta_journal_index.c — the snapshot index (<dir>/snapshot.idx): the
 * in-memory state of the embedded store as it stood when the snapshot was
 * written (tasks' key fields and document offsets, file groups with the
 * offsets of their documents, interned strings, workers), so that a start
 * loads a few bytes per record instead of decoding every document of the
 * snapshot. It is only an accelerator: the snapshot stays the truth, and an
 * index that is missing, damaged, of another generation or size, or
 * inconsistent in any way is ignored (the snapshot is then replayed).
 *
 * File: the journal framing (journal.h: header with the snapshot's
 * generation, then length + CRC32 records). Record bodies, integers
 * little-endian, strings without NUL:
 *   'I' u32 version (1), u64 snapshot size, u64 tasks, groups, files,
 *       strings, workers                                  first, once
 *   'S' { u16 len, bytes }...                             strings, numbered from 0
 *   'T' { u64 submitted_at, u64 offset, u32 status, u32 user, u32 name,
 *         u8 len, task_id }...                            tasks in (time, id) order
 *   'G' { u64 least time, u32 user, u32 name, u8 flags (1 mixed, 2 mixed
 *         time), u8 len, task_id, u32 n, n x u64 offset }... file groups
 *   'W' <WORKERS BSON document>                           one worker
 *   'E' u64 tasks, groups, files, strings, workers        last: all there
 * Offsets are of BSON documents inside the snapshot.
 *
 * Ordering with the snapshot (meta_journal.c do_compact): the old index is
 * removed (and the directory synced) before a new snapshot is renamed into
 * place, and the new index is written only after, so an index on disk
 * always describes the snapshot beside it; the generation and size it
 * records check that once more. */
#include "master/meta_journal.h"

#include <bson/bson.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "master/metadoc.h"

#define IDX_VERSION 1u
#define IDX_REC (1u << 20)      /* records are cut near this size */

/* ---- writing ---- */

struct wbuf {
    journal *j;
    uint8_t *p;
    size_t len, cap;
    int rc;
    char *err;
    size_t errcap;
};

static void w_bytes(struct wbuf *w, const void *b, size_t n)
{
    if (w->rc) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : IDX_REC + 4096;
        while (cap < w->len + n) cap *= 2;
        uint8_t *np = realloc(w->p, cap);
        if (!np) { w->rc = META_E_NOMEM; return; }
        w->p = np;
        w->cap = cap;
    }
    memcpy(w->p + w->len, b, n);
    w->len += n;
}

static void w_u8(struct wbuf *w, uint8_t v) { w_bytes(w, &v, 1); }
static void w_u16(struct wbuf *w, uint16_t v) { uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) }; w_bytes(w, b, 2); }
static void w_u32(struct wbuf *w, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
    w_bytes(w, b, 4);
}
static void w_u64(struct wbuf *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    w_bytes(w, b, 8);
}

/* Ends the current record (if it has more than its type byte). */
static void w_end(struct wbuf *w)
{
    if (!w->rc && w->len > 1) w->rc = journal_append(w->j, w->p, w->len, 0, w->err, w->errcap);
    w->len = 0;
}

/* Starts a record of type t, ending the current one when it is large
 * (always when force). */
static void w_rec(struct wbuf *w, uint8_t t, int force)
{
    if (force || w->len >= IDX_REC || (w->len && w->p[0] != t)) w_end(w);
    if (w->len == 0) w_u8(w, t);
}

static void w_counts(struct wbuf *w, const struct mj *mj, size_t nstr)
{
    w_u64(w, mj->tasks.n);
    w_u64(w, mj->groups.n);
    w_u64(w, mj->nfiles);
    w_u64(w, nstr);
    w_u64(w, mj->workers.n);
}

int meta_journal_index_write(struct mj *mj, const char *tmp, const char *path, uint64_t snap_size,
                             char *err, size_t errcap)
{
    journal *j = NULL;
    int rc = meta_journal_index_build(mj, tmp, snap_size, &j, err, errcap);
    return rc ? rc : meta_journal_index_finish(j, tmp, path, mj->dir, err, errcap);
}

int meta_journal_index_build(struct mj *mj, const char *tmp, uint64_t snap_size, journal **out,
                             char *err, size_t errcap)
{
    struct wbuf w = { 0 };
    size_t nstr = 0;
    w.err = err;
    w.errcap = errcap;
    int rc = journal_create(tmp, mj->gen, &w.j, err, errcap);
    if (rc) return rc;
    for (size_t i = 0; i < mj->strings.cap; i++)
        if (mj->strings.slot[i].val) ((struct istr *)mj->strings.slot[i].val)->id = (uint32_t)nstr++;
    w_rec(&w, 'I', 1);
    w_u32(&w, IDX_VERSION);
    w_u64(&w, snap_size);
    w_counts(&w, mj, nstr);
    w_rec(&w, 'S', 1);
    for (size_t i = 0; i < mj->strings.cap; i++) {
        const struct istr *s = mj->strings.slot[i].val;
        if (!s) continue;
        size_t l = strlen(s->s);
        w_rec(&w, 'S', 0);
        w_u16(&w, (uint16_t)l);
        w_bytes(&w, s->s, l);
    }
    for (size_t i = 0; i < mj->tord.n; i++) {
        const struct tnode *n = mj->tord.v[i];
        size_t l = strlen(n->task_id);
        w_rec(&w, 'T', 0);
        w_u64(&w, n->submitted_at);
        w_u64(&w, metaref_off(n->ref));
        w_u32(&w, (uint32_t)n->status);
        w_u32(&w, META_ISTR(n->user_id)->id);
        w_u32(&w, META_ISTR(n->task_name)->id);
        w_u8(&w, (uint8_t)l);
        w_bytes(&w, n->task_id, l);
    }
    for (size_t i = 0; i < mj->gord.n; i++) {
        const struct fgroup *g = mj->gord.v[i];
        size_t l = strlen(g->task_id);
        w_rec(&w, 'G', 0);
        w_u64(&w, g->submitted_at);
        w_u32(&w, META_ISTR(g->user_id)->id);
        w_u32(&w, META_ISTR(g->task_name)->id);
        w_u8(&w, (uint8_t)((g->mixed ? 1 : 0) | (g->mixed_time ? 2 : 0)));
        w_u8(&w, (uint8_t)l);
        w_bytes(&w, g->task_id, l);
        w_u32(&w, g->n);
        for (uint32_t k = 0; k < g->n; k++) w_u64(&w, metaref_off(g->ref[k]));
    }
    for (size_t i = 0; i < mj->workers.cap; i++) {
        if (!mj->workers.slot[i].val) continue;
        bson_t doc = BSON_INITIALIZER;
        w_rec(&w, 'W', 1);
        if (metadoc_worker_to_bson(mj->workers.slot[i].val, &doc) != 0) w.rc = META_E_NOMEM;
        w_bytes(&w, bson_get_data(&doc), doc.len);
        bson_destroy(&doc);
    }
    w_rec(&w, 'E', 1);
    w_counts(&w, mj, nstr);
    w_end(&w);
    rc = w.rc;
    free(w.p);
    if (rc) {
        journal_close(w.j);
        unlink(tmp);
        return rc;
    }
    *out = w.j;
    return 0;
}

int meta_journal_index_finish(journal *j, const char *tmp, const char *path, const char *dir,
                              char *err, size_t errcap)
{
    int rc = journal_sync(j, err, errcap);
    journal_close(j);
    if (!rc && rename(tmp, path) < 0) {
        meta_errf(err, errcap, "rename %s: %s", tmp, strerror(errno));
        rc = META_E_IO;
    }
    if (rc) unlink(tmp);
    else rc = journal_fsync_dir(dir, err, errcap);
    return rc;
}

/* ---- loading ---- */

struct rd {
    const uint8_t *p;
    size_t len, pos;
    int bad;
};

static const uint8_t *r_bytes(struct rd *r, size_t n)
{
    if (r->bad || n > r->len - r->pos) { r->bad = 1; return NULL; }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}
static uint64_t r_le(struct rd *r, size_t n)
{
    const uint8_t *p = r_bytes(r, n);
    uint64_t v = 0;
    for (size_t i = 0; p && i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

struct ld {
    struct mj *mj;
    int ssrc;
    uint64_t snap_size;
    uint64_t want[5];          /* tasks, groups, files, strings, workers from 'I' */
    const char **str;
    size_t nstr, capstr;
    int state;                 /* 0 before 'I', 1 inside, 2 after 'E' */
};

/* A string of the table usable in a field of cap bytes, or NULL. */
static const char *ld_str(struct ld *l, uint32_t id, size_t cap)
{
    if (id >= l->nstr || strlen(l->str[id]) >= cap) return NULL;
    return l->str[id];
}

/* A task_id of len bytes at p, NUL-terminated into out[64]; 0 or -1. */
static int ld_id(struct rd *r, char out[64])
{
    size_t n = (size_t)r_le(r, 1);
    const uint8_t *p = r_bytes(r, n);
    if (!p || n == 0 || n >= 64 || memchr(p, 0, n)) return -1;
    memcpy(out, p, n);
    out[n] = 0;
    return 0;
}

static int ld_ref(const struct ld *l, uint64_t off, uint64_t *ref)
{
    /* A document takes at least 5 bytes and lies past the file header. */
    if (off < JOURNAL_HDR_SIZE + JOURNAL_REC_HDR_SIZE || off > l->snap_size - 5) return -1;
    *ref = metaref_make(l->ssrc, off);
    return 0;
}

static int ld_strings(struct ld *l, struct rd *r)
{
    while (r->pos < r->len) {
        size_t n = (size_t)r_le(r, 2);
        const uint8_t *p = r_bytes(r, n);
        if (!p || memchr(p, 0, n) || n >= 128) return META_E_CORRUPT;
        char s[128];
        memcpy(s, p, n);
        s[n] = 0;
        if (l->nstr == l->capstr) {
            size_t cap = l->capstr ? l->capstr * 2 : 256;
            const char **ns = realloc(l->str, cap * sizeof *ns);
            if (!ns) return META_E_NOMEM;
            l->str = ns;
            l->capstr = cap;
        }
        if (!(l->str[l->nstr++] = meta_journal_intern(l->mj, s))) return META_E_NOMEM;
    }
    return 0;
}

static int ld_tasks(struct ld *l, struct rd *r)
{
    struct mj *mj = l->mj;
    while (r->pos < r->len) {
        char id[64];
        int e;
        uint64_t at = r_le(r, 8), off = r_le(r, 8), ref;
        uint32_t status = (uint32_t)r_le(r, 4), uid = (uint32_t)r_le(r, 4), nid = (uint32_t)r_le(r, 4);
        if (ld_id(r, id) || r->bad || ld_ref(l, off, &ref) || status > 1000) return META_E_CORRUPT;
        const char *u = ld_str(l, uid, 64), *nm = ld_str(l, nid, 128);
        if (!u || !nm) return META_E_CORRUPT;
        size_t li = strlen(id) + 1;
        struct tnode *n = malloc(sizeof *n + li);
        if (!n) return META_E_NOMEM;
        memset(n, 0, sizeof *n);
        memcpy(n->task_id, id, li);
        n->submitted_at = at;
        n->ref = ref;
        n->status = (int)status;
        n->user_id = u;
        n->task_name = nm;
        if (metaidx_map_reserve(&mj->tasks, 1) < 0 || metaidx_ord_reserve(&mj->tord, 1) < 0) {
            free(n);
            return META_E_NOMEM;
        }
        if (metaidx_map_get(&mj->tasks, id)) { free(n); return META_E_CORRUPT; }
        metaidx_map_put(&mj->tasks, n, &e);
        metaidx_ord_insert(&mj->tord, n);
    }
    return 0;
}

static int ld_groups(struct ld *l, struct rd *r)
{
    struct mj *mj = l->mj;
    while (r->pos < r->len) {
        char id[64];
        int e;
        uint64_t least = r_le(r, 8);
        uint32_t uid = (uint32_t)r_le(r, 4), nid = (uint32_t)r_le(r, 4);
        unsigned flags = (unsigned)r_le(r, 1);
        if (ld_id(r, id) || r->bad || flags > 3) return META_E_CORRUPT;
        uint32_t n = (uint32_t)r_le(r, 4);
        const char *u = ld_str(l, uid, 64), *nm = ld_str(l, nid, 128);
        if (!u || !nm || r->bad || n == 0 || n > (r->len - r->pos) / 8) return META_E_CORRUPT;
        if (metaidx_map_get(&mj->groups, id)) return META_E_CORRUPT;
        size_t li = strlen(id) + 1;
        struct fgroup *g = calloc(1, sizeof *g + li);
        if (!g || !(g->ref = malloc(n * sizeof *g->ref))) { free(g); return META_E_NOMEM; }
        memcpy(g->task_id, id, li);
        g->submitted_at = least;
        g->user_id = u;
        g->task_name = nm;
        g->mixed = flags & 1;
        g->mixed_time = (flags >> 1) & 1;
        g->n = g->cap = n;
        for (uint32_t k = 0; k < n; k++)
            if (ld_ref(l, r_le(r, 8), &g->ref[k])) { free(g->ref); free(g); return META_E_CORRUPT; }
        if (metaidx_map_reserve(&mj->groups, 1) < 0 || metaidx_ord_reserve(&mj->gord, 1) < 0) {
            free(g->ref);
            free(g);
            return META_E_NOMEM;
        }
        metaidx_map_put(&mj->groups, g, &e);
        metaidx_ord_insert(&mj->gord, g);
        mj->nfiles += n;
        if (g->mixed_time) mj->mixed_time++;
    }
    return 0;
}

static int ld_worker(struct ld *l, struct rd *r)
{
    bson_t d;
    int e;
    if (!bson_init_static(&d, r->p + r->pos, r->len - r->pos) || d.len != r->len - r->pos ||
        !metadoc_sane(&d))
        return META_E_CORRUPT;
    worker_rec *w = calloc(1, sizeof *w);
    if (!w) return META_E_NOMEM;
    if (metadoc_worker_from_bson(&d, w, NULL, 0) != 0 || !w->worker_id[0] ||
        metaidx_map_get(&l->mj->workers, w->worker_id)) {
        free(w);
        return META_E_CORRUPT;
    }
    metaidx_map_put(&l->mj->workers, w, &e);
    if (e) { free(w); return META_E_NOMEM; }
    r->pos = r->len;
    return 0;
}

static int ld_counts(struct rd *r, uint64_t v[5])
{
    for (int i = 0; i < 5; i++) v[i] = r_le(r, 8);
    return r->bad ? META_E_CORRUPT : 0;
}

/* journal_rec_cb: a non-zero return makes the strict replay fail. */
static int ld_rec(void *ctx, const uint8_t *body, size_t len)
{
    struct ld *l = ctx;
    struct rd r = { body, len, 1, 0 };
    int rc = META_E_CORRUPT;
    if (l->state == 2) return META_E_CORRUPT;     /* nothing after the end */
    if (l->state == 0) {
        uint64_t ver = r_le(&r, 4), size = r_le(&r, 8);
        if (body[0] != 'I' || ver != IDX_VERSION || size != l->snap_size || ld_counts(&r, l->want) ||
            r.pos != len)
            return META_E_CORRUPT;
        l->state = 1;
        return 0;
    }
    switch (body[0]) {
    case 'S': rc = ld_strings(l, &r); break;
    case 'T': rc = ld_tasks(l, &r); break;
    case 'G': rc = ld_groups(l, &r); break;
    case 'W': rc = ld_worker(l, &r); break;
    case 'E': {
        uint64_t v[5];
        struct mj *mj = l->mj;
        if (ld_counts(&r, v) || r.pos != len || memcmp(v, l->want, sizeof v) || v[0] != mj->tasks.n ||
            v[1] != mj->groups.n || v[2] != mj->nfiles || v[3] != l->nstr || v[4] != mj->workers.n)
            return META_E_CORRUPT;
        l->state = 2;
        return 0;
    }
    }
    if (rc) return rc;
    return r.bad || r.pos != len ? META_E_CORRUPT : 0;
}

int meta_journal_index_load(struct mj *mj, const char *path, uint32_t gen, uint64_t snap_size, int ssrc,
                            char *err, size_t errcap)
{
    struct ld l = { .mj = mj, .ssrc = ssrc, .snap_size = snap_size };
    journal_report jr;
    int rc;
    if (snap_size < JOURNAL_HDR_SIZE + JOURNAL_REC_HDR_SIZE + 5) return META_E_CORRUPT;
    rc = journal_replay(path, 1, ld_rec, &l, &jr, err, errcap);
    free(l.str);
    if (rc == 0 && (jr.gen != gen || l.state != 2)) {
        meta_errf(err, errcap, "%s: %s", path, jr.gen != gen ? "of another generation" : "incomplete");
        rc = META_E_CORRUPT;
    }
    return rc;
}
