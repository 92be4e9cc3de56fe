/* meta_impl.h — private to the metadata store: the backend vtable behind
 * meta.h. A backend embeds `struct meta` as the first member of its own
 * state and points ops at its table; meta.c checks arguments and
 * dispatches, so a backend may assume non-NULL pointers, n > 0 for
 * files_put and a NUL-terminated task_id. Not for use outside src/master. */
#ifndef CLOUDAI_META_IMPL_H
#define CLOUDAI_META_IMPL_H
#include "master/meta.h"

struct meta_ops {
    const char *name;   /* meta_backend() */
    void (*close)(meta *m);
    int (*task_put)(meta *m, const task_rec *t, char *err, size_t errcap);
    int (*task_get)(meta *m, const char *task_id, task_rec *out);
    int (*files_put)(meta *m, const file_rec *files, size_t n, char *err, size_t errcap);
    int (*files_delete)(meta *m, const char *task_id, char *err, size_t errcap);
    int (*worker_put)(meta *m, const worker_rec *w, char *err, size_t errcap);
    int (*tasks_find)(meta *m, const meta_query *q, meta_task_cb cb, void *ctx);
    int (*files_find)(meta *m, const meta_query *q, meta_file_cb cb, void *ctx);
    int (*workers_list)(meta *m, meta_worker_cb cb, void *ctx);
    int (*compact)(meta *m, char *err, size_t errcap);   /* NULL: not supported */
    void (*compact_wait)(meta *m);                       /* NULL: nothing runs in the background */
    int (*compact_start)(meta *m, char *err, size_t errcap);   /* NULL: no background compaction */
    /* NULL: task_put is used (every write already durable). */
    int (*task_put_nosync)(meta *m, const task_rec *t, char *err, size_t errcap);
    int (*sync)(meta *m, char *err, size_t errcap);      /* NULL: nothing to do */
    /* NULL: worker_put is used. */
    int (*worker_put_nosync)(meta *m, const worker_rec *w, char *err, size_t errcap);
    /* NULL: files_put is used. */
    int (*files_put_nosync)(meta *m, const file_rec *files, size_t n, char *err, size_t errcap);
    uint64_t (*files_cuts)(meta *m);                    /* NULL: 0 */
    int (*check_wait)(meta *m, char *text, size_t cap);   /* NULL: nothing to wait for */
};

struct meta {
    const struct meta_ops *ops;
};

/* snprintf into an optional error buffer (err may be NULL). */
void meta_errf(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#endif
