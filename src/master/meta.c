/* meta.c — the metadata store's front: argument checks and dispatch through
 * the backend vtable (meta_impl.h). The backends live in meta_journal.c
 * (embedded, default) and meta_mongo.c; each opens with its own
 * meta_open_* and fills in struct meta. */
#include "master/meta_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void meta_errf(char *err, size_t errcap, const char *fmt, ...)
{
    if (!err || !errcap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

/* A task id must be a non-empty string that fits task_rec.task_id. */
static int bad_id(const char *id, size_t cap)
{
    return !id || !id[0] || strnlen(id, cap) == cap;
}

void meta_close(meta *m)
{
    if (m) m->ops->close(m);
}

const char *meta_backend(const meta *m)
{
    return m ? m->ops->name : "none";
}

int meta_task_put(meta *m, const task_rec *t, char *err, size_t errcap)
{
    if (!m || !t || bad_id(t->task_id, sizeof t->task_id)) {
        meta_errf(err, errcap, "task_put: missing store, task or task_id");
        return META_E_ARG;
    }
    return m->ops->task_put(m, t, err, errcap);
}

int meta_task_put_nosync(meta *m, const task_rec *t, char *err, size_t errcap)
{
    if (!m || !t || bad_id(t->task_id, sizeof t->task_id)) {
        meta_errf(err, errcap, "task_put: missing store, task or task_id");
        return META_E_ARG;
    }
    if (!m->ops->task_put_nosync) return m->ops->task_put(m, t, err, errcap);
    return m->ops->task_put_nosync(m, t, err, errcap);
}

int meta_sync(meta *m, char *err, size_t errcap)
{
    if (!m) return META_E_ARG;
    return m->ops->sync ? m->ops->sync(m, err, errcap) : 0;
}

int meta_task_get(meta *m, const char *task_id, task_rec *out)
{
    if (!m || !out || bad_id(task_id, sizeof out->task_id)) return META_E_ARG;
    return m->ops->task_get(m, task_id, out);
}

static int files_bad(meta *m, const file_rec *files, size_t n, char *err, size_t errcap)
{
    if (!m || (n && !files)) {
        meta_errf(err, errcap, "files_put: missing store or records");
        return META_E_ARG;
    }
    for (size_t i = 0; i < n; i++) {
        if (bad_id(files[i].task_id, sizeof files[i].task_id) || !files[i].file_name[0]) {
            meta_errf(err, errcap, "files_put: record %zu has no task_id or file_name", i);
            return META_E_ARG;
        }
    }
    return 0;
}

int meta_files_put(meta *m, const file_rec *files, size_t n, char *err, size_t errcap)
{
    int rc = files_bad(m, files, n, err, errcap);
    if (rc || !n) return rc;
    return m->ops->files_put(m, files, n, err, errcap);
}

int meta_files_put_nosync(meta *m, const file_rec *files, size_t n, char *err, size_t errcap)
{
    int rc = files_bad(m, files, n, err, errcap);
    if (rc || !n) return rc;
    if (!m->ops->files_put_nosync) return m->ops->files_put(m, files, n, err, errcap);
    return m->ops->files_put_nosync(m, files, n, err, errcap);
}

uint64_t meta_files_cuts(meta *m)
{
    return m && m->ops->files_cuts ? m->ops->files_cuts(m) : 0;
}

int meta_files_delete(meta *m, const char *task_id, char *err, size_t errcap)
{
    if (!m || bad_id(task_id, sizeof ((task_rec *)0)->task_id)) {
        meta_errf(err, errcap, "files_delete: missing store or task_id");
        return META_E_ARG;
    }
    return m->ops->files_delete(m, task_id, err, errcap);
}

int meta_worker_put(meta *m, const worker_rec *w, char *err, size_t errcap)
{
    if (!m || !w || bad_id(w->worker_id, sizeof w->worker_id)) {
        meta_errf(err, errcap, "worker_put: missing store, worker or worker_id");
        return META_E_ARG;
    }
    return m->ops->worker_put(m, w, err, errcap);
}

int meta_worker_put_nosync(meta *m, const worker_rec *w, char *err, size_t errcap)
{
    if (!m || !w || bad_id(w->worker_id, sizeof w->worker_id)) {
        meta_errf(err, errcap, "worker_put: missing store, worker or worker_id");
        return META_E_ARG;
    }
    if (!m->ops->worker_put_nosync) return m->ops->worker_put(m, w, err, errcap);
    return m->ops->worker_put_nosync(m, w, err, errcap);
}

static const meta_query no_filter;

int meta_tasks_find(meta *m, const meta_query *q, meta_task_cb cb, void *ctx)
{
    if (!m || !cb) return META_E_ARG;
    return m->ops->tasks_find(m, q ? q : &no_filter, cb, ctx);
}

int meta_files_find(meta *m, const meta_query *q, meta_file_cb cb, void *ctx)
{
    if (!m || !cb) return META_E_ARG;
    return m->ops->files_find(m, q ? q : &no_filter, cb, ctx);
}

int meta_workers_list(meta *m, meta_worker_cb cb, void *ctx)
{
    if (!m || !cb) return META_E_ARG;
    return m->ops->workers_list(m, cb, ctx);
}

int meta_check_wait(meta *m, char *text, size_t cap)
{
    if (text && cap) text[0] = 0;
    if (!m) return META_E_ARG;
    return m->ops->check_wait ? m->ops->check_wait(m, text, cap) : 0;
}

int meta_compact_start(meta *m, char *err, size_t errcap)
{
    if (!m->ops->compact_start) {
        meta_errf(err, errcap, "compaction is not supported by the %s backend", m->ops->name);
        return META_E_ARG;
    }
    return m->ops->compact_start(m, err, errcap);
}

void meta_compact_wait(meta *m)
{
    if (m && m->ops->compact_wait) m->ops->compact_wait(m);
}

int meta_compact(meta *m, char *err, size_t errcap)
{
    if (!m) return META_E_ARG;
    if (!m->ops->compact) {
        meta_errf(err, errcap, "compaction is not supported by the %s backend", m->ops->name);
        return META_E_ARG;
    }
    return m->ops->compact(m, err, errcap);
}
