/* meta_copy.c — store-to-store copy through the meta.h interface only, so
 * it works for every pair of backends. Never nests a find inside a find on
 * the same store (the journal holds its read lock during a find): task ids
 * are collected first, then each task and its files are copied. */
#include "master/meta_copy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/meta_impl.h"

typedef char task_id_t[sizeof ((task_rec *)0)->task_id];

struct ids {
    task_id_t *v;
    size_t n, cap;
    int nomem;
};

static int collect_id(void *ctx, const task_rec *t)
{
    struct ids *s = ctx;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        task_id_t *v = realloc(s->v, cap * sizeof *v);
        if (!v) { s->nomem = 1; return 1; }
        s->v = v;
        s->cap = cap;
    }
    memcpy(s->v[s->n++], t->task_id, sizeof(task_id_t));
    return 0;
}

struct batch {
    meta *to;
    file_rec *v;
    size_t n;
    uint64_t *files;
    int rc;
    char *err;
    size_t errcap;
};

static int flush(struct batch *b)
{
    if (!b->n) return 0;
    b->rc = meta_files_put(b->to, b->v, b->n, b->err, b->errcap);
    if (b->rc == 0) *b->files += b->n;
    b->n = 0;
    return b->rc;
}

static int add_file(void *ctx, const file_rec *f)
{
    struct batch *b = ctx;
    b->v[b->n++] = *f;
    return b->n == META_COPY_CHUNK ? flush(b) != 0 : 0;
}

struct workers { meta *to; uint64_t n; int rc; char *err; size_t errcap; };

static int put_worker(void *ctx, const worker_rec *w)
{
    struct workers *s = ctx;
    s->rc = meta_worker_put(s->to, w, s->err, s->errcap);
    return s->rc != 0;
}

int meta_copy(meta *from, meta *to, uint64_t *tasks, uint64_t *files, char *err, size_t errcap)
{
    uint64_t nt = 0, nf = 0;
    struct ids ids = { 0 };
    struct batch b = { to, NULL, 0, &nf, 0, err, errcap };
    task_rec t;
    int rc;
    if (!from || !to || from == to) {
        meta_errf(err, errcap, "copy: need two different stores");
        rc = META_E_ARG;
        goto out;
    }
    if (!(b.v = malloc(META_COPY_CHUNK * sizeof *b.v))) {
        rc = META_E_NOMEM;
        meta_errf(err, errcap, "copy: out of memory");
        goto out;
    }
    if ((rc = meta_tasks_find(from, NULL, collect_id, &ids)) != 0 || ids.nomem) {
        if (!rc) rc = META_E_NOMEM;
        meta_errf(err, errcap, "copy: listing the %s store's tasks failed (%d)", meta_backend(from), rc);
        goto out;
    }
    for (size_t i = 0; i < ids.n; i++) {
        task_rec_init(&t);
        rc = meta_task_get(from, ids.v[i], &t);
        if (rc == META_E_NOTFOUND) { task_rec_free(&t); continue; }   /* deleted meanwhile */
        if (rc == 0) rc = meta_task_put(to, &t, err, errcap);
        else meta_errf(err, errcap, "copy: reading task %s failed (%d)", ids.v[i], rc);
        task_rec_free(&t);
        if (rc) goto out;
        nt++;
        meta_query q = { .task_id = ids.v[i] };
        rc = meta_files_find(from, &q, add_file, &b);
        if (rc == 0 && b.rc == 0) flush(&b);
        if (rc || b.rc) {
            if (!rc) rc = b.rc;
            else meta_errf(err, errcap, "copy: reading files of %s failed (%d)", ids.v[i], rc);
            goto out;
        }
    }
    struct workers w = { to, 0, 0, err, errcap };
    if ((rc = meta_workers_list(from, put_worker, &w)) != 0 || (rc = w.rc) != 0) {
        if (!w.rc) meta_errf(err, errcap, "copy: listing workers failed (%d)", rc);
        goto out;
    }
out:
    free(b.v);
    free(ids.v);
    if (tasks) *tasks = nt;
    if (files) *files = nf;
    return rc;
}
