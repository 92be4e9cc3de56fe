/* status.c — see status.h. */
#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "config.h"
#include "meta.h"
#include "records.h"
#include "storeread.h"

static int count_task(void *ctx, const task_rec *t)
{
    status_health *h = ctx;
    if (t->status >= 1 && t->status <= PROTO_ST_MAX)
        h->by_status[t->status]++;
    h->store_bytes += t->output_bytes;
    return 0;
}

/* A slot for one more degraded line, or NULL when all are taken. */
static char *degraded(status_health *h)
{
    return h->ndegraded < STATUS_DEGRADED_MAX ? h->degraded[h->ndegraded++] : NULL;
}

int status_collect(cluster *cl, status_health *h)
{
    const config *cfg = cluster_config(cl);
    meta *m = cluster_meta(cl);
    meta_query q;
    struct statvfs vfs;
    int rc;

    memset(h, 0, sizeof *h);
    memset(&q, 0, sizeof q);
    h->backend = meta_backend(m);
    /* A stalled store costs this at most STOREREAD_WAIT_MS (storeread.h). */
    int from_memory = 0;
    rc = storeread_tasks(cl, &q, STOREREAD_WAIT_MS, count_task, h, &from_memory, NULL, 0);
    if (rc < 0 || from_memory) {
        if (rc < 0) {
            memset(h->by_status, 0, sizeof h->by_status);
            h->store_bytes = 0;
        }
        char *d = degraded(h);
        if (d)
            snprintf(d, sizeof h->degraded[0], "metadata store (%s): not answering (%s); task "
                     "counts are the tasks the master holds in memory", h->backend,
                     rc < 0 ? strerror(rc < -1 ? -rc : EIO) : "no answer in time");
    }
    if (statvfs(cfg->files_dir, &vfs) == 0) {
        h->fs_size = (uint64_t)vfs.f_blocks * vfs.f_frsize;
        h->fs_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    }
    if (access(cfg->files_dir, W_OK) != 0) {
        int e = errno;
        char *d = degraded(h);
        if (d)
            snprintf(d, sizeof h->degraded[0], "file store %s: not writable (%s): uploads fail "
                     "and workers keep their outputs", cfg->files_dir, strerror(e));
    }
    return 0;
}

typedef struct put_ctx {
    proto_buf *wb;
    size_t n;
} put_ctx;

static int put_worker(void *ctx, const worker_rec *w)
{
    put_ctx *p = ctx;
    if (p->n++ >= STATUS_WORKERS_MAX)
        return 1;
    size_t mark = proto_rec_begin(p->wb, T_WORKER);
    worker_rec_put(p->wb, w);
    proto_rec_end(p->wb, mark);
    return 0;
}

void status_put(cluster *cl, proto_buf *wb)
{
    status_health h;
    put_ctx p = { wb, 0 };
    status_collect(cl, &h);
    proto_begin(wb, PROTO_CLUSTER_STATUS, 0);
    cluster_workers(cl, put_worker, &p);
    for (int st = 1; st <= PROTO_ST_MAX; st++)
        proto_put_u64(wb, T_COUNT, h.by_status[st]);
    proto_put_u64(wb, T_STORE_BYTES, h.store_bytes);
    proto_put_u64(wb, T_STORAGE, h.fs_size);
    proto_put_u64(wb, T_FREE_STORAGE, h.fs_free);
    proto_put_str(wb, T_BACKEND, h.backend);
    for (int i = 0; i < h.ndegraded; i++)
        proto_put_str(wb, T_DEGRADED, h.degraded[i]);
}
