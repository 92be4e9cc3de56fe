/* compress.c — packing inactive runs on the disk (compress.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "compress.h"
#include "hash.h"
#include "ids.h"
#include "log.h"
#include "objstore.h"
#include "retention.h"
#include "store.h"
#include "tar.h"
#include "zblock.h"

/* Below one filesystem block nothing is saved; a packed copy that does
 * not save a block is not worth a read through zlib. */
#define MIN_SAVING 4096u
#define LEVEL 6
/* A file whose first MiB does not shrink is left after that MiB. */
#define PROBE (1024u * 1024u)

static pthread_mutex_t last_mu = PTHREAD_MUTEX_INITIALIZER;
static compress_stats last;
static uint64_t kill_at, packed_total;

void compress_set_kill_at(uint64_t n) { kill_at = n; }

void compress_last(compress_stats *out)
{
    pthread_mutex_lock(&last_mu);
    *out = last;
    pthread_mutex_unlock(&last_mu);
}

int compress_days(const config *cfg, const task_rec *t)
{
    for (int i = 0; i < cfg->ncompress_rules; i++)
        if (ids_glob(cfg->compress_rules[i].pattern, t->task_name))
            return cfg->compress_rules[i].max_age_days;
    return cfg->compress_after_days;
}

typedef struct cfile {
    char *name;
    uint64_t size;
    uint8_t sha[32];
} cfile;

typedef struct cfiles {
    cfile *v;
    size_t n, cap;
    int oom;
} cfiles;

static int keep(void *ctx, const file_rec *f)
{
    cfiles *l = ctx;
    if (objstore_is_remote(f->file_path)) return 0;     /* in the bucket: not ours */
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        cfile *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) { l->oom = 1; return 1; }
        l->v = nv;
        l->cap = nc;
    }
    cfile *x = &l->v[l->n];
    if (!(x->name = strdup(f->file_name))) { l->oom = 1; return 1; }
    x->size = f->file_size;
    memcpy(x->sha, f->sha256, 32);
    l->n++;
    return 0;
}

/* Packs one file. 1 packed, 0 left as it is (counted in st), -1 with
 * err (the original is untouched). sfd: .staging; tmp: the temp name. */
static int pack_one(const config *cfg, const task_rec *t, const cfile *f, int sfd,
                    const char *tmp, compress_stats *st, char *err, size_t errcap)
{
    struct stat sb, now, pst;
    zblock_reader *zr = NULL;
    uint8_t sha[32];
    uint64_t packed = 0;
    int rc = -1, fd = -1, tfd = -1, pfd = -1, zrc;
    char parent[TAR_PATH_MAX + 1];
    const char *base;

    if ((fd = store_open(cfg, t, f->name, FSUTIL_FILE)) < 0) {
        snprintf(err, errcap, "%s: %s", f->name, cai_strerror(fd));
        fd = -1;
        goto out;
    }
    if (fstat(fd, &sb) < 0) {
        snprintf(err, errcap, "%s: %s", f->name, strerror(errno));
        goto out;
    }
    if (zblock_marked(&sb) && zblock_reader_fd(fd, &zr) == 0) {
        st->files_packed++;
        st->bytes_original += zblock_reader_hdr(zr)->size;
        st->bytes_stored += (uint64_t)sb.st_size;
        rc = 0;
        goto out;
    }
    if (zblock_marked(&sb) || (uint64_t)sb.st_size != f->size || f->size < MIN_SAVING) {
        st->skipped++;      /* small, or not what its record says: as it is */
        rc = 0;
        goto out;
    }
    unlinkat(sfd, tmp, 0);
    if ((tfd = openat(sfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        snprintf(err, errcap, "%s: cannot create a packed copy in .staging: %s", f->name,
                 strerror(errno));
        goto out;
    }
    zrc = zblock_pack(fd, f->size, tfd, ZBLOCK_DEFAULT_BLOCK, LEVEL, PROBE, sha, &packed);
    if (zrc == 1) {           /* its first MiB did not shrink: already compressed */
        st->skipped++;
        rc = 0;
        goto out;
    }
    if (zrc == ZCHUNK_E_SIZE || (zrc == 0 && !hash_equal(sha, f->sha, 32))) {
        log_warn("compress: run %s: %s does not match its record: left as it is", t->task_id,
                 f->name);
        st->skipped++;
        rc = 0;
        goto out;
    }
    if (zrc < 0) {
        snprintf(err, errcap, "%s: packing: %s", f->name, cai_strerror(zrc));
        goto out;
    }
    if (packed + MIN_SAVING > f->size) {    /* already compressed data */
        st->skipped++;
        rc = 0;
        goto out;
    }
    /* What goes in place of the original must give the original back. */
    if ((zrc = zblock_verify(tfd, f->sha)) < 0) {
        snprintf(err, errcap, "%s: the packed copy does not read back: %s", f->name,
                 cai_strerror(zrc));
        goto out;
    }
    struct timespec ts[2] = { sb.st_atim, sb.st_mtim };
    if (fchmod(tfd, (sb.st_mode & 0777) | S_ISVTX) < 0 || futimens(tfd, ts) < 0 ||
        fsync(tfd) < 0) {
        snprintf(err, errcap, "%s: the packed copy: %s", f->name, strerror(errno));
        goto out;
    }
    if (kill_at && packed_total + 1 >= kill_at) {
        log_warn("compress: test hook: killed before renaming the packed %s", f->name);
        raise(SIGKILL);
    }
    snprintf(parent, sizeof parent, "%s", f->name);
    char *slash = strrchr(parent, '/');
    if (slash) {
        *slash = 0;
        base = f->name + (slash - parent) + 1;
    } else {
        parent[0] = 0;
        base = f->name;
    }
    if ((pfd = store_open(cfg, t, parent, FSUTIL_DIR)) < 0) {
        snprintf(err, errcap, "%s: %s", f->name, cai_strerror(pfd));
        pfd = -1;
        goto out;
    }
    /* Still the file that was read (not replaced meanwhile)? */
    if (fstatat(pfd, base, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_ino != sb.st_ino ||
        now.st_dev != sb.st_dev || fstat(pfd, &pst) < 0) {
        snprintf(err, errcap, "%s changed while being packed", f->name);
        goto out;
    }
    if (renameat(sfd, tmp, pfd, base) < 0) {
        snprintf(err, errcap, "%s: cannot put the packed copy in place: %s", f->name,
                 strerror(errno));
        goto out;
    }
    close(tfd);
    tfd = -1;
    /* The directory keeps the mtime the task gave it (the rename set it
     * to now): an archive of the run stays byte for byte the same. */
    struct timespec dts[2] = { { 0, UTIME_OMIT }, pst.st_mtim };
    futimens(pfd, dts);
    fsync(pfd);       /* the rename is durable before the next file */
    packed_total++;
    st->packed_now++;
    st->files_packed++;
    st->bytes_original += f->size;
    st->bytes_stored += packed;
    rc = 1;
out:
    zblock_reader_free(zr);
    if (tfd >= 0) {
        close(tfd);
        unlinkat(sfd, tmp, 0);
    }
    if (fd >= 0) close(fd);
    if (pfd >= 0) close(pfd);
    return rc;
}

int compress_run(const config *cfg, meta *m, const task_rec *t, compress_stats *st, char *err,
                 size_t errcap)
{
    cfiles l = {0};
    meta_query q = {0};
    char root[CONFIG_PATH_MAX + 32], tmp[96];
    uint64_t before = st->packed_now, t0 = ids_now_ms();
    int rc = -1, sfd = -1;

    if (!store_run_exists(cfg, t)) return 0;
    q.task_id = t->task_id;
    if (meta_files_find(m, &q, keep, &l) < 0 || l.oom) {
        snprintf(err, errcap, l.oom ? "out of memory" : "metadata store unavailable");
        goto out;
    }
    store_staging_root(cfg, root, sizeof root);
    if ((sfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errcap, "cannot open %s: %s", root, strerror(errno));
        goto out;
    }
    /* .staging is emptied at every start: a copy a crash left is gone. */
    snprintf(tmp, sizeof tmp, "z-%s", t->task_id);
    st->runs++;
    for (size_t i = 0; i < l.n; i++)
        if (pack_one(cfg, t, &l.v[i], sfd, tmp, st, err, errcap) < 0) goto out;
    if (st->packed_now > before)
        log_info("compress: run %s (%s of %s): %llu files packed in %llu ms", t->task_id,
                 t->task_name, t->user_id, (unsigned long long)(st->packed_now - before),
                 (unsigned long long)(ids_now_ms() - t0));
    rc = 0;
out:
    if (sfd >= 0) close(sfd);
    for (size_t i = 0; i < l.n; i++) free(l.v[i].name);
    free(l.v);
    return rc;
}

/* Runs a pass left settled (every file packed or left for good): later
 * sweeps count them from here instead of opening every file again, so
 * a sweep costs one stat per old run plus the work on new ones. Rebuilt
 * by each sweep from the runs it saw (a removed or moved run drops
 * out); the sweeper's thread only. */
typedef struct settled {
    char id[64];
    compress_stats s;
} settled;
static settled *done_v;
static size_t done_n;
static char done_dir[CONFIG_PATH_MAX];

static int settled_cmp(const void *a, const void *b)
{
    return strcmp(((const settled *)a)->id, ((const settled *)b)->id);
}

static void add_stats(compress_stats *to, const compress_stats *s)
{
    to->runs += s->runs;
    to->files_packed += s->files_packed;
    to->bytes_original += s->bytes_original;
    to->bytes_stored += s->bytes_stored;
    to->packed_now += s->packed_now;
    to->skipped += s->skipped;
}

int compress_sweep(const config *cfg, meta *m, uint64_t now_ms, char *err, size_t errcap)
{
    compress_stats st = {0};
    task_vec d = {0};
    settled *cur = NULL, key;
    size_t ncur = 0;
    int failed = 0, rc;
    err[0] = 0;
    if (cfg->compress_after_days <= 0 && cfg->ncompress_rules == 0) return 0;
    if (strcmp(done_dir, cfg->files_dir)) {        /* another store: nothing known */
        free(done_v);
        done_v = NULL;
        done_n = 0;
        snprintf(done_dir, sizeof done_dir, "%s", cfg->files_dir);
    }
    if ((rc = retention_due_runs(m, cfg, now_ms, compress_days, &d)) < 0) {
        snprintf(err, errcap, "%s", rc == RETENTION_E_NOMEM ? "out of memory" : "metadata store unavailable");
        rc = -1;
        goto out;
    }
    cur = d.n ? malloc(d.n * sizeof *cur) : NULL;     /* NULL: nothing cached next time */
    for (size_t i = 0; i < d.n; i++) {
        char why[768];
        compress_stats rs = {0};
        const task_rec *t = &d.v[i];
        snprintf(key.id, sizeof key.id, "%s", t->task_id);
        settled *known = done_n ? bsearch(&key, done_v, done_n, sizeof *done_v, settled_cmp) : NULL;
        if (known) {
            if (!store_run_exists(cfg, t)) continue;
            rs = known->s;
        } else if (compress_run(cfg, m, t, &rs, why, sizeof why) < 0) {
            /* one run's failure does not hold the others back */
            if (!err[0]) snprintf(err, errcap, "run %s: %s", t->task_id, why);
            failed++;
            add_stats(&st, &rs);
            continue;
        }
        add_stats(&st, &rs);
        if (cur && rs.runs) {
            cur[ncur] = key;
            cur[ncur].s = rs;
            cur[ncur++].s.packed_now = 0;
        }
    }
    if (failed > 1)
        snprintf(err + strlen(err), errcap - strlen(err), " (and %d more runs)", failed - 1);
    if (ncur) qsort(cur, ncur, sizeof *cur, settled_cmp);
    free(done_v);
    done_v = cur;
    done_n = ncur;
    cur = NULL;
    pthread_mutex_lock(&last_mu);
    last = st;
    pthread_mutex_unlock(&last_mu);
    rc = (int)st.packed_now;
out:
    free(cur);
    task_vec_free(&d);
    return rc;
}

void compress_forget(void)
{
    free(done_v);
    done_v = NULL;
    done_n = 0;
    done_dir[0] = 0;
}
