/* incache.c — fetch, cache and lay out a task's inputs (incache.h). */
#include "incache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "chunk.h"
#include "extract.h"
#include "fsutil.h"
#include "hash.h"
#include "log.h"
#include "peer.h"

#define FETCH_TRIES 6            /* connections per input before the task fails */
#define FETCH_RECV_MS 60000      /* silence between two frames of a fetch */

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -errno;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Test hook: a pause after each received chunk (ms), so a test can
 * interrupt a fetch in the middle; 0 in normal use. */
static long chunk_delay_ms(void)
{
    const char *v = getenv("CLOUDAI_TEST_FETCH_DELAY_MS");
    return v ? strtol(v, NULL, 10) : 0;
}

typedef struct part_out {
    int fd;
    int err;                  /* -errno of a failed write */
} part_out;

static int part_write(void *ctx, const uint8_t *p, size_t n)
{
    part_out *o = ctx;
    int rc = write_all(o->fd, p, n);
    if (rc < 0) o->err = rc;
    return rc;
}

/* One connection's worth of fetching. 0 done, 1 retry, -1 give up. */
static int fetch_once(const incache_src *src, const task_input *in, const char *part,
                      const char *blob, char *err, size_t errcap)
{
    char id[32], hx[65], perr[512];
    part_out o = { -1, 0 };
    chunk_rx rx;
    peer p;
    int rc = 1, have_rx = 0, connected = 0;
    struct stat st;
    uint64_t off;
    long delay = chunk_delay_ms();

    hash_hex(in->sha256, 32, hx);
    snprintf(id, sizeof id, "input-%.16s", hx);
    if ((o.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0 ||
        fstat(o.fd, &st) < 0) {
        snprintf(err, errcap, "cannot open %s: %s", part, strerror(errno));
        rc = -1;
        goto out;
    }
    /* Resume at the last whole chunk: the master re-cuts the stream the same way. */
    off = (uint64_t)st.st_size - (uint64_t)st.st_size % PROTO_CHUNK_MAX;
    if (off > in->size) off = 0;
    if (ftruncate(o.fd, (off_t)off) < 0) {
        snprintf(err, errcap, "cannot truncate %s: %s", part, strerror(errno));
        rc = -1;
        goto out;
    }
    if (chunk_rx_init(&rx, id, part_write, &o) < 0) {
        snprintf(err, errcap, "out of memory");
        rc = -1;
        goto out;
    }
    have_rx = 1;
    rx.total = in->size;
    if (off) {
        uint8_t buf[65536];
        uint64_t left = off;
        if (lseek(o.fd, 0, SEEK_SET) < 0) left = 1;
        while (left > 0) {
            ssize_t k = read(o.fd, buf, left < sizeof buf ? (size_t)left : sizeof buf);
            if (k <= 0) break;
            hash_sha256_update(&rx.sha, buf, (size_t)k);
            left -= (uint64_t)k;
        }
        if (left) {          /* unreadable: start over */
            off = 0;
            if (ftruncate(o.fd, 0) < 0) { rc = -1; goto out; }
            chunk_rx_free(&rx);
            have_rx = 0;
            if (chunk_rx_init(&rx, id, part_write, &o) < 0) { rc = -1; goto out; }
            have_rx = 1;
            rx.total = in->size;
        }
        rx.offset = off;
        rx.seq = off / PROTO_CHUNK_MAX;
        log_info("input %.12s: resuming its fetch at byte %llu of %llu", hx,
                 (unsigned long long)off, (unsigned long long)in->size);
    }
    if (lseek(o.fd, (off_t)off, SEEK_SET) < 0) {
        snprintf(err, errcap, "seek %s: %s", part, strerror(errno));
        rc = -1;
        goto out;
    }
    if (peer_connect(&p, src->cfg->master_addr, PROTO_ROLE_WORKER, src->worker_id,
                     src->cfg->cluster_token, 10000, perr, sizeof perr) < 0) {
        snprintf(err, errcap, "cannot reach the master: %s", perr);
        goto out;
    }
    connected = 1;
    proto_begin(&p.wb, PROTO_GET_INPUT, 0);
    proto_put_bytes(&p.wb, T_SHA256, in->sha256, 32);
    proto_put_u64(&p.wb, T_OFFSET, off);
    if (peer_send(&p) < 0) {
        snprintf(err, errcap, "sending GET_INPUT failed");
        goto out;
    }
    for (;;) {
        proto_msg m;
        int r = peer_recv(&p, &m, FETCH_RECV_MS);
        if (r < 0) {
            snprintf(err, errcap, "fetch interrupted at byte %llu: %s",
                     (unsigned long long)rx.offset, cai_strerror(r));
            goto out;
        }
        if (m.type == PROTO_ERROR) {
            uint64_t code = 0;
            peer_error_text(&m, perr, sizeof perr);
            proto_u64(&m, T_CODE, &code);
            snprintf(err, errcap, "the master: %s", perr);
            /* No such input, or one the master found damaged: asking
             * again cannot help. */
            if (code == PROTO_ERR_NOT_FOUND || code == PROTO_ERR_BAD_REQUEST ||
                code == PROTO_ERR_STORE)
                rc = -1;
            goto out;
        }
        if (m.type == PROTO_FILE_CHUNK) {
            if (chunk_rx_chunk(&rx, &m) < 0) {
                snprintf(err, errcap, "%s", o.err ? cai_strerror(o.err) : rx.err);
                if (o.err) rc = -1;
                if (!o.err && ftruncate(o.fd, 0) == 0) { /* a bad chunk: start clean */ }
                goto out;
            }
            if (*src->stop) {
                snprintf(err, errcap, "the worker is stopping");
                rc = -1;
                goto out;
            }
            if (delay > 0) sleep_ms(delay);
            continue;
        }
        if (m.type != PROTO_FILE_END) {
            snprintf(err, errcap, "unexpected %s in an input stream", proto_type_name(m.type));
            goto out;
        }
        proto_field f;
        if (chunk_rx_end(&rx, &m) < 0 || proto_get(&m, T_SHA256, &f) < 0 ||
            memcmp(f.p, in->sha256, 32) != 0) {
            snprintf(err, errcap, "%s", rx.err[0] ? rx.err : "the master sent other bytes than "
                     "the task's input (SHA-256 differs)");
            if (ftruncate(o.fd, 0) < 0) { /* the next try starts clean anyway */ }
            goto out;
        }
        break;
    }
    /* Read-only: attempts hard-link it (a write through a link would
     * change the cache). */
    if (fchmod(o.fd, 0444) < 0 || fsync(o.fd) < 0 || rename(part, blob) < 0) {
        snprintf(err, errcap, "cannot keep %s: %s", blob, strerror(errno));
        rc = -1;
        goto out;
    }
    rc = 0;
out:
    if (connected) peer_close(&p);
    if (have_rx) chunk_rx_free(&rx);
    if (o.fd >= 0) close(o.fd);
    return rc;
}

static void evict(const incache_src *src, const char *keep);

/* The blob of in in the cache, fetched if missing. */
static int ensure(const incache_src *src, const task_input *in, char *blob, size_t cap, char *err,
                  size_t errcap)
{
    char dir[CONFIG_PATH_MAX + 32], part[CONFIG_PATH_MAX + 112], lock[CONFIG_PATH_MAX + 112];
    char hx[65];
    int lfd, rc = -1;
    hash_hex(in->sha256, 32, hx);
    snprintf(dir, sizeof dir, "%s/.input-cache", src->cfg->outputs_dir);
    snprintf(blob, cap, "%s/%s", dir, hx);
    if (access(blob, F_OK) == 0) {
        utimensat(AT_FDCWD, blob, NULL, 0);     /* recently used */
        return 0;
    }
    if (fsutil_mkdir_p(dir, 0700) < 0) {
        snprintf(err, errcap, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(part, sizeof part, "%s/%s.part", dir, hx);
    snprintf(lock, sizeof lock, "%s/%s.lock", dir, hx);
    if ((lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 || flock(lfd, LOCK_EX) < 0) {
        snprintf(err, errcap, "cannot lock %s: %s", lock, strerror(errno));
        if (lfd >= 0) close(lfd);
        return -1;
    }
    for (int i = 0; i < FETCH_TRIES && !*src->stop; i++) {
        if (access(blob, F_OK) == 0) { rc = 0; break; }    /* another task fetched it */
        int r = fetch_once(src, in, part, blob, err, errcap);
        if (r == 0) {
            log_info("input %.12s: fetched (%llu bytes)", hx, (unsigned long long)in->size);
            rc = 0;
            evict(src, hx);
            break;
        }
        if (r < 0) break;
        log_warn("input %.12s: %s; retrying", hx, err);
        sleep_ms(500L << i);
    }
    close(lfd);      /* the lock file stays: unlinking it would let two fetchers in */
    return rc;
}

typedef struct cached {
    char name[65];
    uint64_t size;
    struct timespec used;
} cached;

static int older(const void *a, const void *b)
{
    const cached *x = a, *y = b;
    if (x->used.tv_sec != y->used.tv_sec) return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
    return x->used.tv_nsec < y->used.tv_nsec ? -1 : x->used.tv_nsec > y->used.tv_nsec;
}

/* Bounds the cache to [worker] input_cache_bytes: the least recently used
 * blobs go first, except keep and any a task holds (its lock busy). */
static void evict(const incache_src *src, const char *keep)
{
    char dir[CONFIG_PATH_MAX + 32], path[CONFIG_PATH_MAX + 112];
    cached *v = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0, limit = src->cfg->input_cache_bytes;
    struct dirent *e;
    struct stat st;
    DIR *d;
    if (!limit) return;
    snprintf(dir, sizeof dir, "%s/.input-cache", src->cfg->outputs_dir);
    if (!(d = opendir(dir))) return;
    while ((e = readdir(d))) {
        if (strlen(e->d_name) != 64 || strspn(e->d_name, "0123456789abcdef") != 64) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) continue;
        total += (uint64_t)st.st_size;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            cached *nv = realloc(v, nc * sizeof *nv);
            if (!nv) break;
            v = nv;
            cap = nc;
        }
        snprintf(v[n].name, sizeof v[n].name, "%s", e->d_name);
        v[n].size = (uint64_t)st.st_size;
        v[n++].used = st.st_mtim;
    }
    closedir(d);
    if (n) qsort(v, n, sizeof *v, older);
    for (size_t i = 0; i < n && total > limit; i++) {
        if (!strcmp(v[i].name, keep)) continue;
        snprintf(path, sizeof path, "%s/%s.lock", dir, v[i].name);
        int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lfd < 0) continue;
        if (flock(lfd, LOCK_EX | LOCK_NB) == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, v[i].name);
            if (unlink(path) == 0) {
                total -= v[i].size;
                log_info("input %.12s: removed from the cache (least recently used)", v[i].name);
            }
        }
        close(lfd);
    }
    free(v);
}

static int copy_file(const char *from, const char *to, char *err, size_t errcap)
{
    uint8_t buf[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    if (in < 0 || (out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444)) < 0) {
        snprintf(err, errcap, "cannot copy to %s: %s", to, strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t k = read(in, buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 || (k > 0 && write_all(out, buf, (size_t)k) < 0)) {
            snprintf(err, errcap, "cannot copy to %s: %s", to, strerror(errno));
            goto out;
        }
        if (k == 0) break;
    }
    rc = 0;
out:
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    return rc;
}

static int extract_blob(const char *blob, const char *to, char *err, size_t errcap)
{
    extract_limits lim = { 0, 0, 0 };
    uint8_t buf[65536];
    extract *x = NULL;
    int fd = -1, rc = -1;
    if (mkdir(to, 0755) < 0) {
        snprintf(err, errcap, "cannot create %s: %s", to, strerror(errno));
        return -1;
    }
    if ((fd = open(blob, O_RDONLY | O_CLOEXEC)) < 0 || !(x = extract_new(to, &lim, NULL, NULL))) {
        snprintf(err, errcap, "cannot read %s: %s", blob, strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            snprintf(err, errcap, "reading %s: %s", blob, strerror(errno));
            goto out;
        }
        if (k == 0) break;
        if (extract_feed(x, buf, (size_t)k) < 0) {
            snprintf(err, errcap, "%s", extract_error(x));
            goto out;
        }
    }
    if (extract_finish(x) < 0) {
        snprintf(err, errcap, "%s", extract_error(x));
        goto out;
    }
    rc = 0;
out:
    if (x) extract_free(x);
    if (fd >= 0) close(fd);
    return rc;
}

/* An input the SUBMIT left unbound (task:ID of a dependency that was
 * still running): the master binds it now (GET_INPUT { TASK_ID, SOURCE }
 * answered OK { INPUT }); *out gets its SHA-256, size and kind. */
static int bind(const incache_src *src, const task_rec *t, const task_input *in, task_input *out,
                char *err, size_t errcap)
{
    char perr[512];
    peer p;
    proto_msg m;
    proto_field f;
    int rc = -1;
    if (peer_connect(&p, src->cfg->master_addr, PROTO_ROLE_WORKER, src->worker_id,
                     src->cfg->cluster_token, 10000, perr, sizeof perr) < 0) {
        snprintf(err, errcap, "cannot reach the master: %s", perr);
        return -1;
    }
    proto_begin(&p.wb, PROTO_GET_INPUT, 0);
    proto_put_str(&p.wb, T_TASK_ID, t->task_id);
    proto_put_str(&p.wb, T_SOURCE, in->source);
    if (peer_send(&p) < 0 || peer_recv(&p, &m, FETCH_RECV_MS) < 0) {
        snprintf(err, errcap, "the master did not answer");
        goto out;
    }
    if (m.type == PROTO_ERROR) {
        peer_error_text(&m, perr, sizeof perr);
        snprintf(err, errcap, "the master: %s", perr);
        goto out;
    }
    if (m.type != PROTO_OK || proto_get(&m, T_INPUT, &f) < 0) {
        snprintf(err, errcap, "unexpected %s binding the input", proto_type_name(m.type));
        goto out;
    }
    proto_msg sub;
    proto_field sf;
    uint64_t dir = 0;
    proto_rec_open(&f, &sub);
    if (proto_get(&sub, T_SHA256, &sf) < 0) {
        snprintf(err, errcap, "the master bound the input to nothing");
        goto out;
    }
    *out = *in;
    memcpy(out->sha256, sf.p, 32);
    proto_u64(&sub, T_TOTAL_SIZE, &out->size);
    proto_u64(&sub, T_IS_DIR, &dir);
    out->is_dir = dir != 0;
    out->has_sha = 1;
    rc = 0;
out:
    peer_close(&p);
    return rc;
}

int incache_prepare(const incache_src *src, const task_rec *t, const char *dir, char *err,
                    size_t errcap)
{
    char blob[CONFIG_PATH_MAX + 112], to[CONFIG_PATH_MAX + 1200], why[768];
    fsutil_rm_rf(dir);
    if (fsutil_mkdir_p(dir, 0755) < 0) {
        snprintf(err, errcap, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    chmod(dir, 0755);
    for (int i = 0; i < t->ninputs; i++) {
        const task_input *in = &t->inputs[i];
        task_input bound;
        if (!in->has_sha && !strncmp(in->source, "task:", 5)) {
            if (bind(src, t, in, &bound, why, sizeof why) < 0) {
                snprintf(err, errcap, "input '%.200s': %s", in->source, why);
                return -1;
            }
            in = &bound;
        }
        const char *bad = task_input_dest_invalid(in->dest);
        if (bad || !in->has_sha) {
            snprintf(err, errcap, "input '%.200s': destination '%.200s' %s", in->source, in->dest,
                     bad ? bad : "has no SHA-256");
            return -1;
        }
        /* A shared lock on the blob while it is copied: eviction passes
         * it by. Evicted between fetch and lock: fetch again, once. */
        int lfd = -1;
        for (int k = 0; k < 2; k++) {
            char lock[CONFIG_PATH_MAX + 112], hx[65];
            if (ensure(src, in, blob, sizeof blob, why, sizeof why) < 0) {
                snprintf(err, errcap, "input '%.200s': %s", in->source, why);
                return -1;
            }
            hash_hex(in->sha256, 32, hx);
            snprintf(lock, sizeof lock, "%s/.input-cache/%s.lock", src->cfg->outputs_dir, hx);
            if ((lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) >= 0 &&
                flock(lfd, LOCK_SH) == 0 && access(blob, F_OK) == 0)
                break;
            if (lfd >= 0) close(lfd);
            lfd = -1;
        }
        why[0] = 0;
        snprintf(to, sizeof to, "%s/%s", dir, in->dest);
        char parent[sizeof to];
        snprintf(parent, sizeof parent, "%s", to);
        *strrchr(parent, '/') = 0;
        /* A file is hard-linked from the cache when the task cannot
         * write through the link (no copy of a large input per attempt),
         * else copied; a directory is extracted. */
        int prc = fsutil_mkdir_p(parent, 0755) < 0 ||
                  (in->is_dir ? extract_blob(blob, to, why, sizeof why)
                              : (src->link_ok && link(blob, to) == 0) ? 0
                              : copy_file(blob, to, why, sizeof why)) < 0;
        if (lfd >= 0) close(lfd);
        if (prc) {
            snprintf(err, errcap, "input '%.200s' at /input/%.200s: %s", in->source, in->dest,
                     why[0] ? why : strerror(errno));
            return -1;
        }
    }
    return 0;
}
