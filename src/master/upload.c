/* upload.c — the master's receiving side of an output stream (upload.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "chunk.h"
#include "extract.h"
#include "fsutil.h"
#include "ids.h"
#include "log.h"
#include "notes.h"
#include "objstore.h"
#include "store.h"
#include "tar.h"
#include "upload.h"

#define SESSION_TTL_MS (15 * 60 * 1000)   /* an abandoned upload is dropped after */
#define INDEX_BATCH 256                   /* file records per store commit */
/* Streams this short are usually an empty output (the two end blocks):
 * they are buffered and get a staging directory only if they hold an
 * entry (one header and one data block fit in 1024 bytes when the end
 * blocks are left out, which GNU tar accepts). */
#define SMALL_ARCHIVE 1024

typedef struct up_file {
    char *name;
    size_t seq;                /* archive order: the later duplicate wins */
    uint64_t size;
    uint32_t mode;
    uint8_t sha[32];
} up_file;

struct upload {
    char task_id[64];
    task_rec task;
    char staging[CONFIG_PATH_MAX + 128];
    char final[CONFIG_PATH_MAX + 512];
    extract *x;                /* NULL while a small stream is buffered: */
    uint8_t small[SMALL_ARCHIVE];
    size_t nsmall;
    tar_reader *zr;            /* ...then checked, creating nothing unless it holds an entry */
    int small_entry;
    chunk_rx rx;
    int version;               /* of the connection that began it */
    uint64_t total;
    up_file *files;
    size_t nfiles, capfiles;
    uint64_t bytes;
    size_t entries;            /* archive entries of any type */
    int dups;                  /* a later file replaced an indexed one */
    notes skipped;             /* entries left out, for the task's notes */
    int attached;
    uint64_t touched;
    int failed;                /* the archive was refused: its TAR_E_* code */
    char why[512];
    uint64_t began;            /* ms, for the upload latency metric */
    int remote;                /* [store] backend = s3: the files went to the bucket */
    struct upload *next;
};

struct uploads {
    pthread_mutex_t mu;
    cluster *cl;
    const config *cfg;
    upload *list;
    int active;
    char staging_root[CONFIG_PATH_MAX + 32];
    /* Directories moved aside under mu, removed after it is released
     * (DESIGN.md invariant 9: no rm -rf under a lock a hot path needs). */
    struct trash { struct trash *next; char path[CONFIG_PATH_MAX + 64]; } *trash;
};

const double upload_lat_bounds_s[UPLOAD_LAT_NB] = {1, 5, 15, 60, 300, 900, 3600, 14400, 86400};
static atomic_uint_least64_t st_bytes, st_count, st_ms_sum, st_hist[UPLOAD_LAT_NB + 1];

void upload_stats_get(upload_stats *out)
{
    out->bytes = atomic_load(&st_bytes);
    out->count = atomic_load(&st_count);
    out->ms_sum = atomic_load(&st_ms_sum);
    for (size_t i = 0; i <= UPLOAD_LAT_NB; i++) out->hist[i] = atomic_load(&st_hist[i]);
}

static void stats_done(uint64_t ms)
{
    size_t i = 0;
    atomic_fetch_add(&st_count, 1);
    atomic_fetch_add(&st_ms_sum, ms);
    while (i < UPLOAD_LAT_NB && (double)ms / 1000.0 > upload_lat_bounds_s[i]) i++;
    atomic_fetch_add(&st_hist[i], 1);
}

/* Called with u->mu held: one rename takes dir out of every name a session
 * may use (store_trash); the removal itself waits for empty_trash. */
static void do_trash(uploads *u, const char *dir)
{
    struct trash *t = malloc(sizeof *t);
    if (!t) { store_remove(dir); return; }
    int rc = store_trash(u->cfg, dir, NULL, 0, t->path, sizeof t->path);
    if (rc < 0) {
        free(t);
        if (rc != -ENOENT) store_remove(dir);
        return;
    }
    t->next = u->trash;
    u->trash = t;
}

/* Called without u->mu. */
static void empty_trash(uploads *u)
{
    pthread_mutex_lock(&u->mu);
    struct trash *t = u->trash;
    u->trash = NULL;
    pthread_mutex_unlock(&u->mu);
    while (t) {
        struct trash *nx = t->next;
        store_remove(t->path);
        free(t);
        t = nx;
    }
}

uploads *uploads_new(cluster *cl, char *err, size_t errcap)
{
    uploads *u = calloc(1, sizeof *u);
    int rc;
    if (!u) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&u->mu, NULL);
    u->cl = cl;
    u->cfg = cluster_config(cl);
    store_staging_root(u->cfg, u->staging_root, sizeof u->staging_root);
    if ((rc = store_init(u->cfg, err, errcap)) < 0) {
        uploads_free(u);
        return NULL;
    }
    return u;
}

static void session_free(upload *s)
{
    if (!s) return;
    extract_free(s->x);
    tar_reader_free(s->zr);
    chunk_rx_free(&s->rx);
    for (size_t i = 0; i < s->nfiles; i++)
        free(s->files[i].name);
    free(s->files);
    notes_free(&s->skipped);
    task_rec_free(&s->task);
    free(s);
}

/* Called with u->mu held. */
static void do_drop(uploads *u, upload *s, int remove_staging)
{
    for (upload **pp = &u->list; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    if (s->attached) u->active--;
    if (remove_staging) do_trash(u, s->staging);
    session_free(s);
}

void uploads_free(uploads *u)
{
    if (!u) return;
    while (u->list)
        do_drop(u, u->list, 1);
    empty_trash(u);
    pthread_mutex_destroy(&u->mu);
    free(u);
}

static int on_file(void *ctx, const extract_file *f)
{
    upload *s = ctx;
    s->entries++;
    if (f->type != '0' && f->type != '1')
        return 0;          /* directories and symlinks are not indexed */
    if (s->nfiles == s->capfiles) {
        size_t nc = s->capfiles ? s->capfiles * 2 : 64;
        up_file *nf = realloc(s->files, nc * sizeof *nf);
        if (!nf) return TAR_E_NOMEM;
        s->files = nf;
        s->capfiles = nc;
    }
    up_file *uf = &s->files[s->nfiles];
    if (!(uf->name = strdup(f->name))) return TAR_E_NOMEM;
    uf->seq = s->nfiles;
    if (f->replaced) s->dups = 1;
    uf->size = f->size;
    uf->mode = f->mode;
    memcpy(uf->sha, f->sha256, 32);
    s->nfiles++;
    s->bytes += f->size;
    return 0;
}

/* An entry that cannot be stored safely is left out and named in the
 * task's notes; the rest of the run is stored (issue 10, item 2). */
static int on_skip(void *ctx, const extract_skip *k)
{
    upload *s = ctx;
    log_info("task %s: output entry '%.200s' not stored: %s", s->task_id, k->name, k->reason);
    notes_add(&s->skipped, k->name, k->reason);
    return 0;
}

#define SMALL_HAS_ENTRY -1000   /* private: stops the check of a small stream */

/* A small stream holds an entry: it is extracted like any other. */
static int zr_entry(void *ctx, const tar_entry *e)
{
    (void)e;
    ((upload *)ctx)->small_entry = 1;
    return SMALL_HAS_ENTRY;
}

/* Refusals that every retry would meet again (the stream's content);
 * memory and filesystem errors are worth a retry: a full store
 * (TAR_E_RESOURCE: ENOSPC while extracting, even after the free-space
 * check passed, as concurrent uploads share the space) above all. */
static int archive_permanent(int code)
{
    return code < 0 && !tar_error_retryable(code) && code != TAR_E_IO;
}

static const char *archive_error(const upload *s)
{
    if (s->x) return extract_error(s->x);
    return s->why[0] || !s->zr ? s->why : tar_reader_error(s->zr);
}

static int rx_out(void *ctx, const uint8_t *p, size_t n)
{
    upload *s = ctx;
    int rc;
    if (s->x) {
        /* The frame's own bytes: the session trades its buffer after
         * (upload_swap_buffer); inflated ones are chunk_rx's, reused. */
        rc = s->rx.inflated ? extract_feed(s->x, p, n) : extract_feed_lent(s->x, p, n);
    } else if (n > sizeof s->small - s->nsmall) {
        snprintf(s->why, sizeof s->why, "more bytes than the %zu announced", sizeof s->small);
        rc = TAR_E_LIMIT;
    } else {
        memcpy(s->small + s->nsmall, p, n);
        s->nsmall += n;
        rc = 0;
    }
    if (rc < 0) s->failed = rc;    /* tells upload_chunk whose error it is */
    return rc;
}

/* code: 0, or PROTO_ERR_ARCHIVE when the output is refused for good. */
static void send_ack_code(conn *c, const char *task_id, int ok, uint64_t code, const char *msg)
{
    proto_buf b;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_FILE_ACK, 0);
    proto_put_str(&b, T_TASK_ID, task_id);
    proto_put_u64(&b, T_OK, ok != 0);
    if (code) proto_put_u64(&b, T_CODE, code);
    proto_put_str(&b, T_MESSAGE, msg);
    conn_send(c, &b);
    proto_buf_free(&b);
}

static void send_ack(conn *c, const char *task_id, int ok, const char *msg)
{
    send_ack_code(c, task_id, ok, 0, msg);
}

/* A file's piece whose CRC32C the extractor took: the chunk's check
 * reuses it (chunk_rx_defer_crc). */
static void rx_known(void *ctx, const uint8_t *p, size_t n, uint32_t crc)
{
    chunk_rx_known(&((upload *)ctx)->rx, p, n, crc);
}

/* The extractor of a session: unsafe entries are skipped into the notes,
 * absolute links into /output (the task's view) made relative. */
static extract *new_extract(uploads *u, upload *s)
{
    extract_limits lim = { u->cfg->max_output_bytes, u->cfg->max_output_files, 0 };
    extract *x = extract_new(s->staging, &lim, on_file, s);
    if (x && extract_set_link_root(x, "/output") < 0) {
        extract_free(x);
        return NULL;
    }
    if (x) extract_set_skip(x, on_skip, s);
    if (x && s->version >= 3) {
        extract_want_crc(x);
        extract_set_crc_report(x, rx_known, s);
    }
    return x;
}

/* id: the task as the worker names it (frames, acks); t->task_id: the
 * run the output is stored and indexed as (an attempt to be retried is
 * stored as its own run, <id>.attempt-<k>: cluster_upload_begin). */
static upload *session_new(uploads *u, const char *id, const task_rec *t, uint64_t total,
                           const char *wnotes, int version, char *err, size_t errcap)
{
    upload *s = calloc(1, sizeof *s);
    int rc;
    if (!s || task_rec_copy(&s->task, t) < 0) {
        snprintf(err, errcap, "out of memory");
        goto fail;
    }
    snprintf(s->task_id, sizeof s->task_id, "%s", id);
    s->version = version;     /* new_extract reads it */
    /* What the worker already left out of the archive comes first. */
    if (notes_add_text(&s->skipped, wnotes) < 0) {
        snprintf(err, errcap, "out of memory");
        goto fail;
    }
    snprintf(s->staging, sizeof s->staging, "%s/%s", u->staging_root, t->task_id);
    if (store_run_dir(u->cfg, t, s->final, sizeof s->final) < 0) {
        snprintf(err, errcap, "store path too long");
        goto fail;
    }
    do_trash(u, s->staging);    /* a leftover of the same task id */
    if (total <= SMALL_ARCHIVE) {
        /* An empty output (the common case of small tasks) gets no
         * staging directory and, stored, no task directory: on ext4 each
         * new directory inode was the master's largest per-task cost.
         * small_end decides once the stream is whole. */
    } else if ((rc = mkdir(s->staging, 0700)) < 0) {
        snprintf(err, errcap, "cannot create staging directory %s: %s", s->staging, strerror(errno));
        goto fail;
    } else if (!(s->x = new_extract(u, s))) {
        snprintf(err, errcap, "out of memory");
        goto fail;
    }
    if (chunk_rx_init(&s->rx, id, rx_out, s) < 0) {
        snprintf(err, errcap, "out of memory");
        goto fail;
    }
    /* Version 2: the worker hashes each file as it reads it and sends the
     * digest of those hashes; the extractor hashes each file as it writes
     * it, so the stream needs no hash of its own (proto.txt 9). Version 3
     * does the same with a CRC32C per file: the SHA-256 the store indexes
     * is computed once, here, and the worker's pass costs ~1/10 of one. */
    if (version >= 3) {
        chunk_rx_expect_files_crc(&s->rx);
        chunk_rx_defer_crc(&s->rx);
    } else if (version >= 2)
        chunk_rx_expect_files(&s->rx);
    s->total = total;
    s->began = ids_now_ms();
    return s;
fail:
    if (s) do_trash(u, s->staging);
    session_free(s);
    return NULL;
}

int uploads_resume(uploads *u, conn *c, const proto_msg *m, upload **out)
{
    char id[64], err[512] = "", wnotes[TASK_NOTES_MAX + 1] = "";
    uint64_t total = 0, now = ids_now_ms(), free_bytes = 0, attempt = 0;
    task_rec t;
    upload *s = NULL;
    int rc, redo = 0;

    *out = NULL;
    task_rec_init(&t);
    proto_str(m, T_TASK_ID, id, sizeof id);
    proto_u64(m, T_TOTAL_SIZE, &total);
    proto_str(m, T_NOTES, wnotes, sizeof wnotes);
    proto_u64(m, T_ATTEMPTS, &attempt);
    rc = cluster_upload_begin(u->cl, c->node_id, id, attempt, &t, err, sizeof err);
    if (rc == CLUSTER_STORED) {
        send_ack(c, id, 1, "already stored");
        goto out;
    }
    if (rc < 0) {
        conn_send_error(c, (uint64_t)cai_wire_code(rc), "%s", err);
        goto out;
    }
    if (u->cfg->max_output_bytes && total > u->cfg->max_output_bytes + u->cfg->max_output_bytes / 8 + (1u << 20)) {
        /* The same output is as big on every retry: final. */
        snprintf(err, sizeof err, "archive refused: output of %llu bytes exceeds the limit of %llu bytes",
                 (unsigned long long)total, (unsigned long long)u->cfg->max_output_bytes);
        cluster_upload_failed(u->cl, id, err, 1);
        send_ack_code(c, id, 0, PROTO_ERR_ARCHIVE, err);
        goto out;
    }
    if (fsutil_free_bytes(u->cfg->files_dir, &free_bytes) == 0 && free_bytes < total) {
        snprintf(err, sizeof err, "store full: %llu bytes free, output needs %llu",
                 (unsigned long long)free_bytes, (unsigned long long)total);
        cluster_upload_failed(u->cl, id, err, 0);
        conn_send_error(c, PROTO_ERR_STORE, "%s", err);
        goto out;
    }

    pthread_mutex_lock(&u->mu);
    for (upload **pp = &u->list, *x; (x = *pp);) {   /* expire abandoned sessions */
        if (!x->attached && now - x->touched > SESSION_TTL_MS) {
            do_drop(u, x, 1);
            continue;
        }
        pp = &x->next;
    }
    for (s = u->list; s && strcmp(s->task_id, id); s = s->next)
        ;
    if (s && (s->attached || s->total != total || s->version != c->version)) {
        if (s->attached) {
            pthread_mutex_unlock(&u->mu);
            conn_send_error(c, PROTO_ERR_STATE, "an upload of %s is already in progress", id);
            s = NULL;
            goto out;
        }
        do_drop(u, s, 1);      /* a different stream: start over */
        s = NULL;
    }
    if (!s && u->active >= u->cfg->max_uploads) {
        pthread_mutex_unlock(&u->mu);
        conn_send_error(c, PROTO_ERR_LIMIT, "too many uploads in progress (%d); retry later",
                        u->cfg->max_uploads);
        goto out;
    }
    if (!s) {
        /* A final directory without a completed task is the remains of an
         * ingest interrupted by a crash: redo it from scratch. */
        char fin[CONFIG_PATH_MAX + 512];
        if (store_run_exists(u->cfg, &t) && store_run_dir(u->cfg, &t, fin, sizeof fin) == 0) {
            do_trash(u, fin);
            redo = 1;
        }
        if (!(s = session_new(u, id, &t, total, wnotes, c->version, err, sizeof err))) {
            pthread_mutex_unlock(&u->mu);
            if (redo) meta_files_delete(cluster_meta(u->cl), id, NULL, 0);
            conn_send_error(c, PROTO_ERR_STORE, "%s", err);
            goto out;
        }
        s->next = u->list;
        u->list = s;
    }
    s->attached = 1;
    s->touched = now;
    u->active++;
    pthread_mutex_unlock(&u->mu);
    /* The crash's records go before the new upload can index anything. */
    if (redo) meta_files_delete(cluster_meta(u->cl), id, NULL, 0);

    proto_buf b;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_UPLOAD_RESUME, 0);
    proto_put_str(&b, T_TASK_ID, id);
    proto_put_u64(&b, T_OFFSET, s->rx.offset);
    rc = conn_send(c, &b);
    proto_buf_free(&b);
    if (s->rx.offset)
        log_info("task %s: upload resumes at byte %llu of %llu", id,
                 (unsigned long long)s->rx.offset, (unsigned long long)total);
    *out = s;
out:
    empty_trash(u);
    task_rec_free(&t);
    return 0;
}

void uploads_detach(uploads *u, upload *s)
{
    pthread_mutex_lock(&u->mu);
    if (s->failed) {
        do_drop(u, s, 1);
    } else {
        s->attached = 0;
        s->touched = ids_now_ms();
        u->active--;
    }
    pthread_mutex_unlock(&u->mu);
    empty_trash(u);
}

void uploads_abort(uploads *u, upload *s, const char *why)
{
    log_warn("task %s: upload abandoned: %s", s->task_id, why);
    cluster_upload_failed(u->cl, s->task_id, why, 0);
    pthread_mutex_lock(&u->mu);
    do_drop(u, s, 1);
    pthread_mutex_unlock(&u->mu);
    empty_trash(u);
}

static int fail(uploads *u, upload *s, conn *c, const char *why)
{
    /* A refused archive fails the same way on every retry: end the task. */
    int permanent = archive_permanent(s->failed);
    log_warn("task %s: upload from %s refused: %s", s->task_id, c->node_id, why);
    cluster_upload_failed(u->cl, s->task_id, why, permanent);
    send_ack_code(c, s->task_id, 0, permanent ? PROTO_ERR_ARCHIVE : 0, why);
    pthread_mutex_lock(&u->mu);
    do_drop(u, s, 1);
    pthread_mutex_unlock(&u->mu);
    empty_trash(u);
    return -1;
}

uint8_t *upload_swap_buffer(upload *s, uint8_t *buf, size_t cap)
{
    return s && s->x ? extract_swap_buffer(s->x, buf, cap) : buf;
}

int upload_chunk(uploads *u, upload *s, conn *c, const proto_msg *m)
{
    char why[600];
    int rc = chunk_rx_chunk(&s->rx, m);
    if (rc == 0) {
        atomic_fetch_add(&st_bytes, m->len);
        s->touched = ids_now_ms();
        return 0;
    }
    /* Bytes damaged on the way (a deferred check: the extractor saw them
     * first) say nothing of the archive: a retry, not a refusal. */
    if (rc == CHUNK_E_CRC)
        s->failed = 0;
    if (s->failed && !archive_permanent(s->failed))
        snprintf(why, sizeof why, "store: %s", archive_error(s));
    else if (s->failed)
        snprintf(why, sizeof why, "archive refused: %s", archive_error(s));
    else
        snprintf(why, sizeof why, "%s", s->rx.err[0] ? s->rx.err : "out of memory");
    return fail(u, s, c, why);
}

/* Puts every indexed file of the verified staging tree into the bucket,
 * each with its SHA-256 as the object checksum, PUT_THREADS at a time
 * (an output of many small files is bound by round trips, not bytes);
 * memory is at most one part buffer per thread. */
#define PUT_THREADS 4

typedef struct put_job {
    uploads *u;
    upload *s;
    pthread_mutex_t mu;
    size_t next;
    int failed;
    char why[600];
} put_job;

static void *put_main(void *arg)
{
    put_job *j = arg;
    char fp[8448], err[512];
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next++;
        int stop = j->failed || i >= j->s->nfiles;
        pthread_mutex_unlock(&j->mu);
        if (stop) break;
        const up_file *f = &j->s->files[i];
        int rc = objstore_put(j->u->cfg, &j->s->task, j->s->staging, f->name, f->sha, fp,
                              sizeof fp, err, sizeof err);
        if (rc) {
            pthread_mutex_lock(&j->mu);
            if (!j->failed)
                snprintf(j->why, sizeof j->why, "object store: %s: %s", f->name, err);
            j->failed = 1;
            pthread_mutex_unlock(&j->mu);
            break;
        }
    }
    return NULL;
}

static int put_remote(uploads *u, upload *s, char *why, size_t cap)
{
    put_job j;
    pthread_t th[PUT_THREADS];
    int n = 0;
    uint64_t t0 = ids_now_ms();
    memset(&j, 0, sizeof j);
    j.u = u;
    j.s = s;
    pthread_mutex_init(&j.mu, NULL);
    for (; n < PUT_THREADS && (size_t)n < s->nfiles; n++)
        if (pthread_create(&th[n], NULL, put_main, &j) != 0) break;
    if (n == 0 && s->nfiles) put_main(&j);     /* no thread: this one */
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&j.mu);
    if (j.failed) {
        snprintf(why, cap, "%s", j.why);
        return -1;
    }
    if (s->nfiles)
        log_info("task %s: %zu files, %llu bytes put in the object store in %llu ms", s->task_id,
                 s->nfiles, (unsigned long long)s->bytes, (unsigned long long)(ids_now_ms() - t0));
    return 0;
}

static int index_files(uploads *u, upload *s, char *why, size_t cap)
{
    /* A file_rec is ~12 KiB: size the batch to the output, so the many
     * small uploads do not each clear megabytes they never use. */
    size_t nb = s->nfiles < INDEX_BATCH ? s->nfiles : INDEX_BATCH;
    file_rec *batch;
    uint64_t now = ids_now_ms();
    meta *m = cluster_meta(u->cl);
    uint64_t cuts = meta_files_cuts(m);
    char err[256] = "";
    int rc = 0;
    if (nb == 0) return 0;
    if (!(batch = calloc(nb, sizeof *batch))) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < s->nfiles && rc == 0; i += INDEX_BATCH) {
        size_t n = s->nfiles - i < INDEX_BATCH ? s->nfiles - i : INDEX_BATCH;
        for (size_t k = 0; k < n; k++) {
            file_rec *f = &batch[k];
            const up_file *uf = &s->files[i + k];
            store_file_rec(&s->task, s->final, uf->name, f);
            if (s->remote)
                objstore_file_path(u->cfg, &s->task, uf->name, f->file_path, sizeof f->file_path);
            f->file_size = uf->size;
            memcpy(f->sha256, uf->sha, 32);
            f->mode = uf->mode;
            f->stored_at = now;
        }
        /* The batches share one sync at the end: one disk flush for the
         * output instead of one per batch (10,000 files: 40). */
        if (meta_files_put_nosync(m, batch, n, err, sizeof err) < 0) {
            snprintf(why, cap, "metadata store: %s", err);
            rc = -1;
        }
    }
    free(batch);
    if (rc == 0 && meta_sync(m, err, sizeof err) < 0) {
        snprintf(why, cap, "metadata store: %s", err);
        rc = -1;
    }
    if (rc == 0 && meta_files_cuts(m) != cuts) {
        snprintf(why, cap, "metadata store: a failed write dropped file records not yet durable");
        rc = -1;
    }
    return rc;
}

/* A buffered small stream is whole: without an entry it is an empty
 * output (no directory); with one, it is extracted as usual. 0 or a
 * TAR_E_* code (s->failed set, archive_error says why). */
static int small_end(uploads *u, upload *s)
{
    static const tar_reader_ops zops = { zr_entry, NULL, NULL, NULL };
    int rc;
    if (!(s->zr = tar_reader_new(&zops, s, TAR_PATH_MAX)))
        return s->failed = TAR_E_NOMEM;
    rc = tar_reader_feed(s->zr, s->small, s->nsmall);
    if (rc == 0) rc = tar_reader_finish(s->zr);
    if (!s->small_entry)
        return rc < 0 ? (s->failed = rc) : 0;
    if (mkdir(s->staging, 0700) < 0) {
        snprintf(s->why, sizeof s->why, "cannot create staging directory %s: %s", s->staging,
                 strerror(errno));
        return s->failed = TAR_E_IO;
    }
    if (!(s->x = new_extract(u, s))) {
        snprintf(s->why, sizeof s->why, "out of memory");
        return s->failed = TAR_E_NOMEM;
    }
    if ((rc = extract_feed(s->x, s->small, s->nsmall)) < 0)
        s->failed = rc;
    return rc;
}

static int by_name_seq(const void *a, const void *b)
{
    const up_file *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A later regular file replaced an earlier one of the same name (as in
 * GNU tar): only the last of each name stays indexed. */
static void drop_replaced(upload *s)
{
    size_t k = 0;
    qsort(s->files, s->nfiles, sizeof *s->files, by_name_seq);
    s->bytes = 0;
    for (size_t i = 0; i < s->nfiles; i++) {
        if (i + 1 < s->nfiles && !strcmp(s->files[i].name, s->files[i + 1].name)) {
            free(s->files[i].name);
            continue;
        }
        s->files[k++] = s->files[i];
        s->bytes += s->files[i].size;
    }
    s->nfiles = k;
}

int upload_end(uploads *u, upload *s, conn *c, const proto_msg *m)
{
    char why[600] = "", err[256] = "";
    int rc;
    if ((rc = chunk_rx_end(&s->rx, m)) < 0) {
        snprintf(why, sizeof why, "%s", s->rx.err);
        return fail(u, s, c, why);
    }
    if ((!s->x && (rc = small_end(u, s)) < 0) || (s->x && (rc = extract_finish(s->x)) < 0)) {
        s->failed = rc;
        snprintf(why, sizeof why, "%s: %s", archive_permanent(rc) ? "archive refused" : "store",
                 archive_error(s));
        return fail(u, s, c, why);
    }
    if (s->version >= 3) {
        if (extract_files_crc32c(s->x) != s->rx.files_crc32c) {
            /* Not the content the worker read: a retry may fare better. */
            snprintf(why, sizeof why, "output files CRC32C mismatch (FILES_CRC32C)");
            return fail(u, s, c, why);
        }
    } else if (s->version >= 2) {
        uint8_t got[32];
        extract_files_sha256(s->x, got);
        if (!hash_equal(got, s->rx.files_sha256, 32)) {
            /* Not the content the worker read: a retry may fare better. */
            snprintf(why, sizeof why, "output files SHA-256 mismatch (FILES_SHA256)");
            return fail(u, s, c, why);
        }
    }
    if (s->dups)
        drop_replaced(s);
    /* backend = s3: the verified staging tree goes to the bucket instead
     * of into the local tree; the worker keeps its copy until FILE_ACK,
     * so an object store that fails costs a retry, never the output. */
    s->remote = s->x && objstore_backend();
    if (s->remote && put_remote(u, s, why, sizeof why) < 0)
        return fail(u, s, c, why);
    /* An archive without entries leaves an empty directory: a crash that
     * forgets it loses no byte (the worker's copy was empty as well) and
     * the task record, synced before FILE_ACK, still says 0 files; so it
     * costs no directory sync (one journal commit each on ext4). */
    if ((s->x && !s->remote &&
         store_publish(u->cfg, &s->task, s->staging, s->entries != 0, why, sizeof why) < 0) ||
        index_files(u, s, why, sizeof why) < 0)
        return fail(u, s, c, why);
    char *nt = notes_render(&s->skipped, TASK_NOTES_MAX);
    rc = cluster_upload_done(u->cl, s->task_id, s->nfiles, s->bytes, nt, err, sizeof err);
    free(nt);
    if (rc == CAI_E_WIRE(PROTO_ERR_STORE)) {
        /* Stored but not durably indexed: the worker keeps its copy and
         * retries; the retry is answered "already stored" once the
         * record is on disk. */
        send_ack(c, s->task_id, 0, err);
        pthread_mutex_lock(&u->mu);
        do_drop(u, s, s->remote);
        pthread_mutex_unlock(&u->mu);
        empty_trash(u);
        return -1;
    }
    log_info("task %s: stored %zu files, %llu bytes in %s%s%s", s->task_id, s->nfiles,
             (unsigned long long)s->bytes, s->remote ? "the object store, " : "",
             s->x ? s->final : "(empty output: no directory)",
             s->skipped.total ? " (some entries left out: see the task's notes)" : "");
    send_ack(c, s->task_id, 1, "stored");
    stats_done(ids_now_ms() - s->began);
    pthread_mutex_lock(&u->mu);
    do_drop(u, s, s->remote);     /* the staging copy of what is in the bucket */
    pthread_mutex_unlock(&u->mu);
    empty_trash(u);
    return 0;
}
