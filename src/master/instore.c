/* instore.c — content-addressed store of task inputs (instore.h). */
#include "instore.h"
#include "zblock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "fsutil.h"
#include "hash.h"
#include "tar.h"

struct instore {
    char root[CONFIG_PATH_MAX + 16];      /* <files>/.inputs */
    uint64_t max_bytes;
    pthread_mutex_t mu;                   /* guards stats and the tmp counter */
    uint64_t tmp_seq;
    instore_stats st;
};

struct instore_put {
    instore *s;
    int fd;
    char tmp[CONFIG_PATH_MAX + 96];
    uint8_t want[32];
    int have_want;
    uint64_t total, written;
    hash_sha256 sha;
    int failed;                           /* a write failed: err below */
    char err[256];
};

instore *instore_open(const char *files_dir, uint64_t max_bytes, char *err, size_t errcap)
{
    instore *s = calloc(1, sizeof *s);
    char path[sizeof s->root + 16];
    int rc;
    if (!s) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->max_bytes = max_bytes;
    snprintf(s->root, sizeof s->root, "%s/.inputs", files_dir);
    /* tmp holds only unfinished writes of a previous run: never blobs. */
    snprintf(path, sizeof path, "%s/tmp", s->root);
    fsutil_rm_rf(path);
    if ((rc = fsutil_mkdir_p(path, 0700)) < 0) {
        snprintf(err, errcap, "cannot create %s: %s", path, cai_strerror(rc));
        instore_free(s);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/sha256", s->root);
    if ((rc = fsutil_mkdir_p(path, 0700)) < 0) {
        snprintf(err, errcap, "cannot create %s: %s", path, cai_strerror(rc));
        instore_free(s);
        return NULL;
    }
    return s;
}

void instore_free(instore *s)
{
    if (!s) return;
    pthread_mutex_destroy(&s->mu);
    free(s);
}

uint64_t instore_max_bytes(const instore *s)
{
    return s->max_bytes;
}

void instore_path(const instore *s, const uint8_t sha[32], char *out, size_t cap)
{
    char hx[65];
    hash_hex(sha, 32, hx);
    snprintf(out, cap, "%s/sha256/%.2s/%s", s->root, hx, hx + 2);
}

int instore_has(instore *s, const uint8_t sha[32], uint64_t *size)
{
    char path[CONFIG_PATH_MAX + 128];
    struct stat st;
    instore_path(s, sha, path, sizeof path);
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) return 0;
    utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW);   /* fresh for the sweep */
    if (size) *size = (uint64_t)st.st_size;
    return 1;
}

static void owner_path(const instore *s, const uint8_t sha[32], const char *user, char *out,
                       size_t cap)
{
    char hx[65], uh[2 * 64 + 1];
    size_t n = strlen(user);
    hash_hex(sha, 32, hx);
    hash_hex((const uint8_t *)user, n > 64 ? 64 : n, uh);
    snprintf(out, cap, "%s/owners/%s/%s", s->root, hx, uh);
}

int instore_owns(instore *s, const uint8_t sha[32], const char *user)
{
    char path[CONFIG_PATH_MAX + 256];
    owner_path(s, sha, user, path, sizeof path);
    return access(path, F_OK) == 0;
}

int instore_own(instore *s, const uint8_t sha[32], const char *user)
{
    char path[CONFIG_PATH_MAX + 256];
    owner_path(s, sha, user, path, sizeof path);
    char dir[sizeof path];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    if (fsutil_mkdir_p(dir, 0700) < 0) return INSTORE_E_IO;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return INSTORE_E_IO;
    close(fd);
    return 0;
}

instore_put *instore_put_begin(instore *s, const uint8_t *sha, uint64_t total, char *err,
                               size_t errcap)
{
    instore_put *w;
    if (s->max_bytes && total != UINT64_MAX && total > s->max_bytes) {
        snprintf(err, errcap, "input of %llu bytes is over the limit of %llu ([limits] max_input_bytes)",
                 (unsigned long long)total, (unsigned long long)s->max_bytes);
        return NULL;
    }
    if (!(w = calloc(1, sizeof *w)) || hash_sha256_init(&w->sha) < 0) {
        free(w);
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    w->s = s;
    w->total = total;
    if (sha) {
        memcpy(w->want, sha, 32);
        w->have_want = 1;
    }
    pthread_mutex_lock(&s->mu);
    uint64_t seq = ++s->tmp_seq;
    pthread_mutex_unlock(&s->mu);
    snprintf(w->tmp, sizeof w->tmp, "%s/tmp/%ld.%llu", s->root, (long)getpid(),
             (unsigned long long)seq);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (w->fd < 0) {
        snprintf(err, errcap, "cannot create %s: %s", w->tmp, strerror(errno));
        hash_sha256_free(&w->sha);
        free(w);
        return NULL;
    }
    return w;
}

int instore_put_write(void *ctx, const uint8_t *p, size_t n)
{
    instore_put *w = ctx;
    if (w->failed) return w->failed;
    if ((w->total != UINT64_MAX && w->written + n > w->total) ||
        (w->s->max_bytes && w->written + n > w->s->max_bytes)) {
        snprintf(w->err, sizeof w->err, "input longer than %llu bytes",
                 (unsigned long long)(w->total != UINT64_MAX ? w->total : w->s->max_bytes));
        return w->failed = w->total != UINT64_MAX ? INSTORE_E_SIZE : INSTORE_E_LIMIT;
    }
    hash_sha256_update(&w->sha, p, n);
    while (n > 0) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            snprintf(w->err, sizeof w->err, "writing %s: %s", w->tmp, strerror(errno));
            return w->failed = INSTORE_E_IO;
        }
        p += k;
        n -= (size_t)k;
        w->written += (uint64_t)k;
    }
    return 0;
}

const char *instore_put_error(const instore_put *w)
{
    return w->err;
}

void instore_put_abort(instore_put *w)
{
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    unlink(w->tmp);
    hash_sha256_free(&w->sha);
    free(w);
}

int instore_put_commit(instore_put *w, uint8_t sha_out[32], uint64_t *size, char *err,
                       size_t errcap)
{
    instore *s = w->s;
    uint8_t sha[32];
    char path[CONFIG_PATH_MAX + 128], dir[CONFIG_PATH_MAX + 128];
    int rc = 0;
    if (w->failed) {
        snprintf(err, errcap, "%s", w->err);
        rc = w->failed;
        goto out;
    }
    hash_sha256_final(&w->sha, sha);
    if (w->total != UINT64_MAX && w->written != w->total) {
        snprintf(err, errcap, "input has %llu bytes, %llu announced",
                 (unsigned long long)w->written, (unsigned long long)w->total);
        rc = INSTORE_E_SIZE;
        goto out;
    }
    if (w->have_want && memcmp(sha, w->want, 32) != 0) {
        snprintf(err, errcap, "input bytes do not match their SHA-256");
        rc = INSTORE_E_SHA;
        goto out;
    }
    if (fsync(w->fd) < 0 || close(w->fd) < 0) {
        w->fd = -1;
        snprintf(err, errcap, "fsync %s: %s", w->tmp, strerror(errno));
        rc = INSTORE_E_IO;
        goto out;
    }
    w->fd = -1;
    instore_path(s, sha, path, sizeof path);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    if (fsutil_mkdir_p(dir, 0700) < 0 || rename(w->tmp, path) < 0) {
        snprintf(err, errcap, "cannot publish %s: %s", path, strerror(errno));
        rc = INSTORE_E_IO;
        goto out;
    }
    fsutil_fsync_dir(dir);
    if (sha_out) memcpy(sha_out, sha, 32);
    if (size) *size = w->written;
    pthread_mutex_lock(&s->mu);
    s->st.bytes_received += w->written;
    s->st.blobs_added++;
    pthread_mutex_unlock(&s->mu);
out:
    instore_put_abort(w);
    return rc;
}

int instore_add_fd(instore *s, int fd, const char *name, task_input *in, char *err, size_t errcap)
{
    struct stat st;
    tar_stats ts;
    instore_put *w;
    int rc = 0;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errcap, "cannot read %s: %s", name, strerror(errno));
        return INSTORE_E_IO;
    }
    in->is_dir = S_ISDIR(st.st_mode);
    if (in->is_dir) {
        if (tar_write_dir_fd(fd, NULL, NULL, NULL, &ts, err, errcap) < 0) return INSTORE_E_IO;
        if (!(w = instore_put_begin(s, NULL, ts.archive_bytes, err, errcap)))
            return s->max_bytes && ts.archive_bytes > s->max_bytes ? INSTORE_E_LIMIT : INSTORE_E_IO;
        if ((rc = tar_write_dir_fd(fd, NULL, instore_put_write, w, &ts, err, errcap)) < 0) {
            int failed = w->failed;
            if (failed) snprintf(err, errcap, "%s", w->err);
            instore_put_abort(w);
            return failed ? failed : INSTORE_E_IO;
        }
    } else if (S_ISREG(st.st_mode)) {
        uint8_t buf[65536];
        zblock_reader *zr = NULL;
        uint64_t size = (uint64_t)st.st_size, at = 0;
        /* A file the store packed gives its original bytes (zblock.h);
         * judged by the open fd (st is its fstat), which packing cannot
         * change under us. */
        if (zblock_marked(&st) && zblock_reader_fd(fd, &zr) == 0)
            size = zblock_reader_hdr(zr)->size;
        if (!(w = instore_put_begin(s, NULL, size, err, errcap))) {
            zblock_reader_free(zr);
            return s->max_bytes && size > s->max_bytes ? INSTORE_E_LIMIT : INSTORE_E_IO;
        }
        for (;;) {
            ssize_t k;
            if (zr) {
                k = size - at < sizeof buf ? (ssize_t)(size - at) : (ssize_t)sizeof buf;
                int zrc = k ? zblock_read(zr, at, buf, (size_t)k) : 0;
                if (zrc < 0) {
                    snprintf(err, errcap, "reading %s: %s", name, cai_strerror(zrc));
                    rc = INSTORE_E_IO;
                    break;
                }
            } else {
                k = pread(fd, buf, sizeof buf, (off_t)at);
            }
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) {
                snprintf(err, errcap, "reading %s: %s", name, strerror(errno));
                rc = INSTORE_E_IO;
                break;
            }
            if (k == 0) break;
            at += (uint64_t)k;
            if ((rc = instore_put_write(w, buf, (size_t)k)) < 0) {
                snprintf(err, errcap, "%s", w->err);
                break;
            }
        }
        zblock_reader_free(zr);
        if (rc < 0) {
            instore_put_abort(w);
            return rc;
        }
    } else {
        snprintf(err, errcap, "%s is not a file or a directory", name);
        return INSTORE_E_IO;
    }
    rc = instore_put_commit(w, in->sha256, &in->size, err, errcap);
    if (rc == 0) in->has_sha = 1;
    return rc;
}

int instore_sha_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static int hexpair(const char *p, uint8_t *out)
{
    uint8_t v = 0;
    for (int i = 0; i < 2; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = (uint8_t)(v << 4 | d);
    }
    *out = v;
    return 0;
}

static uint64_t mtime_ms(const struct stat *st)
{
    return (uint64_t)st->st_mtim.tv_sec * 1000u + (uint64_t)st->st_mtim.tv_nsec / 1000000u;
}

long instore_sweep(instore *s, const uint8_t (*keep)[32], size_t n, uint64_t now_ms,
                   uint64_t keep_ms, uint64_t *freed_bytes)
{
    char dir[CONFIG_PATH_MAX + 64], path[CONFIG_PATH_MAX + 160];
    long removed = 0;
    uint64_t freed = 0;
    struct stat st;
    /* The 256 fan-out directories, each flat: a bounded walk. */
    for (int hi = 0; hi < 256; hi++) {
        snprintf(dir, sizeof dir, "%s/sha256/%02x", s->root, hi);
        DIR *d = opendir(dir);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            uint8_t sha[32];
            int ok = strlen(e->d_name) == 62;
            sha[0] = (uint8_t)hi;
            for (int k = 0; ok && k < 31; k++) ok = hexpair(e->d_name + 2 * k, &sha[k + 1]) == 0;
            if (!ok) continue;      /* not a blob name: not ours to judge */
            if (n && bsearch(sha, keep, n, 32, instore_sha_cmp)) continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (lstat(path, &st) < 0 || mtime_ms(&st) + keep_ms > now_ms) continue;
            if (unlink(path) == 0) {
                char od[CONFIG_PATH_MAX + 256];
                removed++;
                freed += (uint64_t)st.st_size;
                snprintf(od, sizeof od, "%s/owners/%02x%s", s->root, hi, e->d_name);
                fsutil_rm_rf(od);
            }
        }
        closedir(d);
    }
    snprintf(dir, sizeof dir, "%s/tmp", s->root);
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && mtime_ms(&st) + keep_ms <= now_ms)
                unlink(path);
        }
        closedir(d);
    }
    pthread_mutex_lock(&s->mu);
    s->st.blobs_removed += (uint64_t)removed;
    pthread_mutex_unlock(&s->mu);
    if (freed_bytes) *freed_bytes = freed;
    return removed;
}

void instore_get_stats(instore *s, instore_stats *st)
{
    pthread_mutex_lock(&s->mu);
    *st = s->st;
    pthread_mutex_unlock(&s->mu);
}

void instore_count_dedup(instore *s, uint64_t n)
{
    pthread_mutex_lock(&s->mu);
    s->st.blobs_deduped += n;
    pthread_mutex_unlock(&s->mu);
}
