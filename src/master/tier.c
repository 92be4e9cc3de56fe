/* tier.c — moving old runs from the local disk to the bucket (tier.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fsutil.h"
#include "ids.h"
#include "log.h"
#include "objstore.h"
#include "retention.h"
#include "store.h"
#include "tier.h"
#include "upload.h"
#include "zblock.h"

#define BATCH 256

typedef struct tfile {
    char *name;
    uint64_t size, stored_at;
    uint32_t mode;
    uint8_t sha[32];
    int remote;
} tfile;

typedef struct tfiles {
    tfile *v;
    size_t n, cap;
    int oom;
} tfiles;

static int keep(void *ctx, const file_rec *f)
{
    tfiles *l = ctx;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        tfile *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) { l->oom = 1; return 1; }
        l->v = nv;
        l->cap = nc;
    }
    tfile *x = &l->v[l->n];
    if (!(x->name = strdup(f->file_name))) { l->oom = 1; return 1; }
    x->size = f->file_size;
    x->stored_at = f->stored_at;
    x->mode = f->mode;
    memcpy(x->sha, f->sha256, 32);
    x->remote = objstore_is_remote(f->file_path);
    l->n++;
    return 0;
}

/* A packed file (compress.c) goes to the bucket as its original bytes:
 * inflated into .staging/u-<task_id> (emptied at every start), which
 * tmp names. 1 when it did, 0 when the file is not packed, -1 with err. */
static int unpacked_copy(const config *cfg, const task_rec *t, const char *name, char *tmp,
                         size_t cap, char *err, size_t errcap)
{
    struct stat sb;
    zblock_reader *zr = NULL;
    char root[CONFIG_PATH_MAX + 32];
    uint8_t *buf = NULL;
    int rc = -1, out = -1, fd = store_open(cfg, t, name, FSUTIL_FILE);
    if (fd < 0) return 0;     /* objstore_put says why */
    if (fstat(fd, &sb) < 0 || !zblock_marked(&sb) || zblock_reader_fd(fd, &zr) < 0) {
        close(fd);
        return 0;
    }
    store_staging_root(cfg, root, sizeof root);
    snprintf(tmp, cap, "%s/u-%s", root, t->task_id);
    unlink(tmp);
    const zblock_hdr *h = zblock_reader_hdr(zr);
    if ((out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
        !(buf = malloc(h->block_size))) {
        snprintf(err, errcap, "%s: cannot unpack into %s: %s", name, tmp, strerror(errno));
        goto out;
    }
    for (uint64_t off = 0; off < h->size;) {
        size_t n = h->size - off < h->block_size ? (size_t)(h->size - off) : h->block_size;
        int zrc = zblock_read(zr, off, buf, n);
        if (zrc < 0 || write(out, buf, n) != (ssize_t)n) {
            snprintf(err, errcap, "%s: unpacking: %s", name,
                     zrc < 0 ? cai_strerror(zrc) : strerror(errno));
            goto out;
        }
        off += n;
    }
    rc = 1;
out:
    if (out >= 0) close(out);
    if (rc < 0 && out >= 0) unlink(tmp);
    free(buf);
    zblock_reader_free(zr);
    close(fd);
    return rc;
}

static int some_remote(const tfiles *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].remote) return 1;
    return 0;
}

int tier_move_run(const config *cfg, meta *m, const task_rec *t, char *err, size_t errcap)
{
    tfiles l = {0};
    meta_query q = {0};
    file_rec *batch = NULL;
    char dir[CONFIG_PATH_MAX + 512], aside[CONFIG_PATH_MAX + 128], perr[512];
    size_t moved = 0;
    uint64_t bytes = 0, t0 = ids_now_ms();
    int rc = -1;

    if (!objstore_s3()) {
        snprintf(err, errcap, "no object store configured ([store] backend = s3)");
        return -1;
    }
    if (store_run_dir(cfg, t, dir, sizeof dir) < 0) {
        snprintf(err, errcap, "store path too long");
        return -1;
    }
    if (!store_run_exists(cfg, t)) return 0;   /* nothing local */
    q.task_id = t->task_id;
    if (meta_files_find(m, &q, keep, &l) < 0 || l.oom) {
        snprintf(err, errcap, l.oom ? "out of memory" : "metadata store unavailable");
        goto out;
    }
    /* 1: every local file into the bucket, verified against its record. */
    for (size_t i = 0; i < l.n; i++) {
        if (l.v[i].remote) continue;           /* moved by an interrupted sweep */
        char fp[8448], tmp[CONFIG_PATH_MAX + 128];
        int u = unpacked_copy(cfg, t, l.v[i].name, tmp, sizeof tmp, perr, sizeof perr);
        if (u < 0) {
            snprintf(err, errcap, "%s", perr);
            goto out;
        }
        /* The bytes sent are checked against the record's SHA-256 as
         * they are read, packed or not. */
        int r = objstore_put_from(cfg, t, dir, l.v[i].name, u ? tmp : NULL, l.v[i].sha, fp,
                                  sizeof fp, perr, sizeof perr);
        if (u) unlink(tmp);
        if (r) {
            snprintf(err, errcap, "%s: %s%s", l.v[i].name, perr,
                     r == S3_E_LOCAL ? " (the local copy does not match its record: kept where "
                                       "it is)" : "");
            /* The store answers (a damaged local copy, a full bucket): the
             * objects put so far are nobody's (every record is local), and
             * a run that never moves (or expires first) would leave them
             * there for good, counted against the quota. A store that does
             * not answer keeps them: the next sweep overwrites them. */
            if (moved && !some_remote(&l) && r != S3_E_UNAVAILABLE && r != S3_E_NOMEM &&
                objstore_delete_run(cfg, t, NULL, perr, sizeof perr) != 0)
                snprintf(err + strlen(err), errcap - strlen(err),
                         "; the %zu objects put before it are left: %s", moved, perr);
            goto out;
        }
        moved++;
        bytes += l.v[i].size;
    }
    /* 2: the records name the objects now. */
    if (!(batch = calloc(BATCH, sizeof *batch))) {
        snprintf(err, errcap, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < l.n;) {
        size_t n = 0;
        for (; i < l.n && n < BATCH; i++) {
            if (l.v[i].remote) continue;
            file_rec *f = &batch[n];
            if (store_file_rec(t, dir, l.v[i].name, f) < 0 ||
                objstore_file_path(cfg, t, l.v[i].name, f->file_path, sizeof f->file_path) < 0) {
                snprintf(err, errcap, "%s: object path too long", l.v[i].name);
                goto out;
            }
            f->file_size = l.v[i].size;
            memcpy(f->sha256, l.v[i].sha, 32);
            f->mode = l.v[i].mode;
            f->stored_at = l.v[i].stored_at;
            n++;
        }
        if (n && meta_files_put(m, batch, n, perr, sizeof perr) < 0) {
            snprintf(err, errcap, "metadata store: %s (the local copy stays)", perr);
            goto out;
        }
    }
    /* 3: nothing refers to the local copy: out of the tree with one rename
     * (into the trash, which a restart empties), then removed. */
    if ((rc = store_trash(cfg, dir, NULL, 0, aside, sizeof aside)) < 0) {
        snprintf(err, errcap, "moved to the bucket, but cannot remove %s: %s", dir, cai_strerror(rc));
        rc = -1;
        goto out;
    }
    store_remove(aside);
    log_info("tiering: run %s (%s of %s) moved to the object store: %zu files, %llu bytes in %llu ms",
             t->task_id, t->task_name, t->user_id, moved, (unsigned long long)bytes,
             (unsigned long long)(ids_now_ms() - t0));
    rc = 0;
out:
    for (size_t i = 0; i < l.n; i++) free(l.v[i].name);
    free(l.v);
    free(batch);
    return rc;
}

static int archive_days(const config *cfg, const task_rec *t) { return config_archive_days(cfg, t->task_name); }

int tier_sweep(const config *cfg, meta *m, uint64_t now_ms, char *err, size_t errcap)
{
    int moved = 0, failed = 0;
    err[0] = 0;
    if (!objstore_s3() || !config_archives(cfg)) return 0;
    task_vec d = {0};
    int rc = retention_due_runs(m, cfg, now_ms, archive_days, &d);
    if (rc < 0) {
        snprintf(err, errcap, "%s", rc == RETENTION_E_NOMEM ? "out of memory" : "metadata store unavailable");
        moved = -1;
        goto out;
    }
    for (size_t i = 0; i < d.n; i++) {
        if (!store_run_exists(cfg, &d.v[i])) continue;
        char why[768];
        if (tier_move_run(cfg, m, &d.v[i], why, sizeof why) < 0) {
            /* one run's failure does not hold the others back */
            if (!err[0]) snprintf(err, errcap, "run %s: %s", d.v[i].task_id, why);
            failed++;
            continue;
        }
        moved++;
    }
out:
    task_vec_free(&d);
    if (failed && err[0] && failed > 1)
        snprintf(err + strlen(err), errcap - strlen(err), " (and %d more runs)", failed - 1);
    return moved;
}
