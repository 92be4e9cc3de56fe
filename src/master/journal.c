/* journal.c — the append-only record file: header, length + CRC32 framing,
 * space reservation before each write, cut-back on failure, and replay
 * that stops at a torn tail. Format in journal.h. */
#include "master/journal.h"
#include "master/meta_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define DROP_BEHIND ((size_t)64 << 20)   /* replay: pages given back in steps of this */
/* Buffered (unsynced) bytes are written out once they pass this. */
#define JOURNAL_FLUSH_AT (1u << 20)

struct journal {
    int fd;
    uint64_t synced;      /* file end after the last successful sync */
    uint64_t written;     /* file end including flushed-but-unsynced bytes */
    uint8_t *buf;         /* records not yet written */
    size_t len, cap;
};

static journal_write_fn write_hook;

void journal_set_write_hook(journal_write_fn fn) { write_hook = fn; }

static journal_sync_fn sync_hook;

void journal_set_sync_hook(journal_sync_fn fn) { sync_hook = fn; }
int journal_datasync(int fd) { return sync_hook ? sync_hook(fd) : fdatasync(fd); }


static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void make_header(uint8_t h[JOURNAL_HDR_SIZE], uint32_t gen)
{
    memcpy(h, JOURNAL_MAGIC, 8);
    put_u32(h + 8, JOURNAL_VERSION);
    put_u32(h + 12, gen);
}

static uint32_t crc_of(const uint8_t *p, size_t len)
{
    uLong c = crc32(0L, Z_NULL, 0);
    /* zlib takes uInt lengths: feed large bodies in pieces. */
    while (len) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        c = crc32(c, p, n);
        p += n;
        len -= n;
    }
    return (uint32_t)c;
}

/* Appends one damaged region to the report's text (the first few only). */
static void note_region(journal_report *rep, uint64_t from, uint64_t to, const char *why)
{
    size_t l = strlen(rep->detail);
    rep->bad_regions++;
    rep->bad_bytes += to - from;
    if (rep->bad_regions > 8) {
        if (rep->bad_regions == 9 && l + 8 < sizeof rep->detail)
            snprintf(rep->detail + l, sizeof rep->detail - l, "%s...", l ? "; " : "");
        return;
    }
    snprintf(rep->detail + l, sizeof rep->detail - l, "%soffset %llu..%llu (%llu bytes): %s",
             l ? "; " : "", (unsigned long long)from, (unsigned long long)to,
             (unsigned long long)(to - from), why);
}

/* Is there a whole record at off (framing, self-length, CRC)? *len gets
 * its body length. The self-length test makes resynchronising over a
 * large damaged stretch cheap: a CRC is only computed where two
 * independent length fields agree. */
static int whole_at(const uint8_t *map, size_t size, size_t off, int resync, uint32_t *len,
                    const char **why)
{
    size_t left = size - off;
    if (left < JOURNAL_REC_HDR_SIZE) { *why = "short record header"; return 0; }
    uint32_t l = get_u32(map + off), crc = get_u32(map + off + 4);
    if (l == 0 || l > JOURNAL_REC_MAX) { *why = "bad record length"; return 0; }
    if (l > left - JOURNAL_REC_HDR_SIZE) { *why = "short record"; return 0; }
    if (resync && (l < 5 || get_u32(map + off + JOURNAL_REC_HDR_SIZE) != l)) { *why = "no record"; return 0; }
    if (crc_of(map + off + JOURNAL_REC_HDR_SIZE, l) != crc) { *why = "CRC mismatch"; return 0; }
    *len = l;
    return 1;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

static int scan(const char *path, int strict, int salvage, journal_rec_cb cb, void *ctx,
                journal_report *rep, char *err, size_t errcap)
{
    int rc = 0, fd = -1;
    uint8_t *map = MAP_FAILED;
    size_t size = 0, off = 0;
    struct stat st;

    memset(rep, 0, sizeof *rep);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        meta_errf(err, errcap, "%s: %s", path, strerror(errno));
        rc = JOURNAL_E_IO;
        goto out;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > SIZE_MAX) {
        meta_errf(err, errcap, "%s: file too large", path);
        rc = JOURNAL_E_CORRUPT;
        goto out;
    }
    size = (size_t)st.st_size;
    rep->file_size = size;
    if (size == 0) goto out;
    if (size < JOURNAL_HDR_SIZE) {
        meta_errf(err, errcap, "%s: short file header (%zu bytes)", path, size);
        note_region(rep, 0, size, "short file header");
        rep->tail = JOURNAL_TAIL_DAMAGED;
        rc = salvage ? 0 : JOURNAL_E_CORRUPT;
        goto out;
    }
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        meta_errf(err, errcap, "%s: mmap: %s", path, strerror(errno));
        rc = JOURNAL_E_IO;
        goto out;
    }
    if (memcmp(map, JOURNAL_MAGIC, 8) != 0 || get_u32(map + 8) != JOURNAL_VERSION) {
        int magic = memcmp(map, JOURNAL_MAGIC, 8) != 0;
        if (magic) meta_errf(err, errcap, "%s: not a journal (bad magic)", path);
        else meta_errf(err, errcap, "%s: unsupported journal version %u", path, (unsigned)get_u32(map + 8));
        if (!salvage) { rc = JOURNAL_E_CORRUPT; goto out; }
        note_region(rep, 0, JOURNAL_HDR_SIZE, magic ? "bad magic" : "bad version");
    } else {
        rep->gen = get_u32(map + 12);
    }
    off = JOURNAL_HDR_SIZE;
    rep->valid_end = off;
    /* Read once, front to back: pages behind the scan are given back, so
     * replaying a snapshot of gigabytes does not hold it all resident. */
    madvise(map, size, MADV_SEQUENTIAL);
    size_t dropped = 0;
    while (off < size) {
        const char *why = NULL;
        uint32_t len = 0;
        if (off - dropped >= DROP_BEHIND) {
            size_t to = off & ~(size_t)(DROP_BEHIND - 1);
            madvise(map + dropped, to - dropped, MADV_DONTNEED);
            dropped = to;
        }
        if (whole_at(map, size, off, 0, &len, &why)) {
            rep->cur_off = off;
            if (!cb || cb(ctx, map + off + JOURNAL_REC_HDR_SIZE, len) == 0) {
                off += JOURNAL_REC_HDR_SIZE + len;
                rep->records++;
                rep->valid_end = off;
                continue;
            }
            why = "invalid record";
        }
        if (strict) {
            meta_errf(err, errcap, "%s: %s at offset %zu", path, why, off);
            note_region(rep, off, size, why);
            rep->tail = JOURNAL_TAIL_DAMAGED;
            rep->tail_off = off;
            rc = JOURNAL_E_CORRUPT;
            break;
        }
        /* An intact frame the caller rejects is skipped exactly; anything
         * else, byte by byte until a whole record turns up again. */
        size_t from = off, next = size;
        int torn = !strcmp(why, "short record header") || !strcmp(why, "short record") ||
                   all_zero(map + off, size - off);
        if (!strcmp(why, "invalid record")) {
            next = off + JOURNAL_REC_HDR_SIZE + len;
            torn = 0;
        }
        for (size_t k = from + 1; next == size && k + JOURNAL_REC_HDR_SIZE < size; k++) {
            const char *w2;
            if (!whole_at(map, size, k, 1, &len, &w2)) continue;
            rep->cur_off = k;
            if (cb && cb(ctx, map + k + JOURNAL_REC_HDR_SIZE, len) != 0) continue;
            rep->records++;
            next = k;
            off = k + JOURNAL_REC_HDR_SIZE + len;
            rep->valid_end = off;
            break;
        }
        if (next < size) {
            note_region(rep, from, next, why);
            rep->mid_regions++;
            if (!strcmp(why, "invalid record")) off = next;
            continue;
        }
        note_region(rep, from, size, torn ? (all_zero(map + from, size - from) ?
                    "zeros never written" : why) : why);
        rep->tail = torn ? JOURNAL_TAIL_TORN : JOURNAL_TAIL_DAMAGED;
        rep->tail_off = from;
        break;
    }
    if (rep->bad_regions && !rc)
        meta_errf(err, errcap, "%s: %s", path, rep->detail);
out:
    if (map != MAP_FAILED) munmap(map, size);
    if (fd >= 0) close(fd);
    return rc;
}

int journal_replay(const char *path, int strict, journal_rec_cb cb, void *ctx,
                   journal_report *rep, char *err, size_t errcap)
{
    journal_report tmp;
    return scan(path, strict, 0, cb, ctx, rep ? rep : &tmp, err, errcap);
}

int journal_salvage(const char *path, journal_rec_cb cb, void *ctx, journal_report *rep,
                    char *err, size_t errcap)
{
    journal_report tmp;
    int rc = scan(path, 0, 1, cb, ctx, rep ? rep : &tmp, err, errcap);
    return rc == JOURNAL_E_CORRUPT ? 0 : rc;
}

#define CHECK_WINDOW ((size_t)8 << 20)

/* Fills buf with up to want bytes at off; the count read, or -1. */
static ssize_t read_at(int fd, uint8_t *buf, size_t want, uint64_t off)
{
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(fd, buf + got, want - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int journal_check_fd(int fd, uint64_t size, const volatile int *stop, journal_report *rep,
                     char *err, size_t errcap)
{
    uint8_t *buf = NULL;
    size_t cap = CHECK_WINDOW, have = 0;
    uint64_t base = 0, off = JOURNAL_HDR_SIZE;
    int rc = 0;
    memset(rep, 0, sizeof *rep);
    rep->file_size = size;
    if (!(buf = malloc(cap))) return JOURNAL_E_NOMEM;
    ssize_t n = read_at(fd, buf, size < cap ? (size_t)size : cap, 0);
    if (n < 0) { rc = JOURNAL_E_IO; goto out; }
    have = (size_t)n;
    if (size < JOURNAL_HDR_SIZE || have < JOURNAL_HDR_SIZE || memcmp(buf, JOURNAL_MAGIC, 8) ||
        get_u32(buf + 8) != JOURNAL_VERSION) {
        note_region(rep, 0, size, "bad file header");
        rc = JOURNAL_E_CORRUPT;
        goto out;
    }
    rep->gen = get_u32(buf + 12);
    while (off < size) {
        if (stop && *stop) { rc = 1; goto out; }
        /* The record's header and body in the window, else the window moves to it. */
        size_t at = (size_t)(off - base);
        uint32_t len = 0;
        if (at + JOURNAL_REC_HDR_SIZE > have || (len = get_u32(buf + at)) > have - at - JOURNAL_REC_HDR_SIZE) {
            uint64_t need = JOURNAL_REC_HDR_SIZE + (uint64_t)(at + JOURNAL_REC_HDR_SIZE <= have ? len : 0);
            if (need > JOURNAL_REC_HDR_SIZE + (uint64_t)JOURNAL_REC_MAX) need = JOURNAL_REC_HDR_SIZE;
            if (need > cap) {
                uint8_t *nb = realloc(buf, (size_t)need);
                if (!nb) { rc = JOURNAL_E_NOMEM; goto out; }
                buf = nb;
                cap = (size_t)need;
            }
            uint64_t want = size - off < cap ? size - off : cap;
            if ((n = read_at(fd, buf, (size_t)want, off)) < 0) { rc = JOURNAL_E_IO; goto out; }
            base = off;
            have = (size_t)n;
            at = 0;
        }
        const char *why = NULL;
        if (!whole_at(buf, have, at, 0, &len, &why)) {
            note_region(rep, off, size, why);
            rep->tail = JOURNAL_TAIL_DAMAGED;
            rep->tail_off = off;
            rc = JOURNAL_E_CORRUPT;
            goto out;
        }
        off += JOURNAL_REC_HDR_SIZE + len;
        rep->records++;
        rep->valid_end = off;
    }
out:
    if (rc == JOURNAL_E_CORRUPT) meta_errf(err, errcap, "%s", rep->detail);
    else if (rc == JOURNAL_E_IO) meta_errf(err, errcap, "read: %s", strerror(errno));
    free(buf);
    return rc;
}

int journal_copy_file(const char *path, const char *dst, char *err, size_t errcap)
{
    int in = -1, out = -1, rc = 0;
    char buf[65536];
    if ((in = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
        (out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        meta_errf(err, errcap, "copy %s to %s: %s", path, dst, strerror(errno));
        rc = JOURNAL_E_IO;
        goto out;
    }
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) break;
        for (ssize_t done = 0, w = 0; n > 0 && done < n; done += w) {
            w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR) { w = 0; continue; }
            if (w <= 0) { n = -1; if (w == 0) errno = ENOSPC; }
        }
        if (n < 0) {
            meta_errf(err, errcap, "copy %s to %s: %s", path, dst, strerror(errno));
            rc = JOURNAL_E_IO;
            goto out;
        }
    }
    if (fsync(out) < 0) {
        meta_errf(err, errcap, "fsync %s: %s", dst, strerror(errno));
        rc = JOURNAL_E_IO;
    }
out:
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    if (rc && out >= 0) unlink(dst);
    return rc;
}

int journal_header(const char *path, uint32_t *gen, uint64_t *file_size, char *err, size_t errcap)
{
    uint8_t h[JOURNAL_HDR_SIZE];
    struct stat st;
    int rc = 0;
    ssize_t n = 0;
    *gen = 0;
    *file_size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0 || (n = pread(fd, h, sizeof h, 0)) < 0) {
        meta_errf(err, errcap, "%s: %s", path, strerror(errno));
        rc = JOURNAL_E_IO;
        goto out;
    }
    *file_size = (uint64_t)st.st_size;
    if (n == 0) goto out;
    if ((size_t)n < sizeof h || memcmp(h, JOURNAL_MAGIC, 8) != 0 || get_u32(h + 8) != JOURNAL_VERSION) {
        meta_errf(err, errcap, "%s: bad journal header", path);
        rc = JOURNAL_E_CORRUPT;
        goto out;
    }
    *gen = get_u32(h + 12);
out:
    if (fd >= 0) close(fd);
    return rc;
}

static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
    while (len) {
        ssize_t n = write_hook ? write_hook(fd, p, len, (off_t)off) : pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) { errno = ENOSPC; return -1; }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Forgets everything after the last sync, on disk and in the buffer (this
 * also undoes the size change of posix_fallocate). Even if the cut fails,
 * the next write goes to the synced end, over the garbage. */
static void cut_back(journal *j)
{
    j->len = 0;
    if (ftruncate(j->fd, (off_t)j->synced) < 0) { /* nothing better to do */ }
    j->written = j->synced;
}

static int flush_buf(journal *j, char *err, size_t errcap)
{
    if (j->len == 0) return 0;
    int e = posix_fallocate(j->fd, (off_t)j->written, (off_t)j->len);
    /* EINVAL/EOPNOTSUPP: the filesystem cannot reserve; the write itself
     * still reports a full disk. */
    if (e != 0 && e != EINVAL && e != EOPNOTSUPP) {
        meta_errf(err, errcap, "journal: reserving %zu bytes: %s", j->len, strerror(e));
        goto fail;
    }
    if (write_all(j->fd, j->buf, j->len, j->written) < 0) {
        meta_errf(err, errcap, "journal: write: %s", strerror(errno));
        goto fail;
    }
    j->written += j->len;
    j->len = 0;
    return 0;
fail:
    cut_back(j);
    return JOURNAL_E_IO;
}

int journal_sync(journal *j, char *err, size_t errcap)
{
    int rc = flush_buf(j, err, errcap);
    if (rc) return rc;
    if (j->written == j->synced) return 0;
    if (journal_datasync(j->fd) < 0) {
        meta_errf(err, errcap, "journal: fdatasync: %s", strerror(errno));
        cut_back(j);
        return JOURNAL_E_IO;
    }
    j->synced = j->written;
    return 0;
}

int journal_append(journal *j, const void *body, size_t len, int sync, char *err, size_t errcap)
{
    if (len == 0 || len > JOURNAL_REC_MAX) {
        meta_errf(err, errcap, "journal: record of %zu bytes out of range", len);
        return JOURNAL_E_IO;
    }
    size_t need = j->len + JOURNAL_REC_HDR_SIZE + len;
    if (need > j->cap) {
        size_t cap = j->cap ? j->cap : 4096;
        while (cap < need) cap *= 2;
        uint8_t *nb = realloc(j->buf, cap);
        if (!nb) {
            meta_errf(err, errcap, "journal: out of memory");
            return JOURNAL_E_NOMEM;
        }
        j->buf = nb;
        j->cap = cap;
    }
    put_u32(j->buf + j->len, (uint32_t)len);
    put_u32(j->buf + j->len + 4, crc_of(body, len));
    memcpy(j->buf + j->len + JOURNAL_REC_HDR_SIZE, body, len);
    j->len = need;
    if (sync) return journal_sync(j, err, errcap);
    if (j->len >= JOURNAL_FLUSH_AT) return flush_buf(j, err, errcap);
    return 0;
}

uint64_t journal_size(const journal *j) { return j->written + j->len; }

int journal_flush(journal *j, uint64_t *written, int *dupfd, char *err, size_t errcap)
{
    int rc = flush_buf(j, err, errcap);
    if (rc) return rc;
    *written = j->written;
    *dupfd = -1;
    if (j->written == j->synced) return 0;
    if ((*dupfd = dup(j->fd)) < 0) {
        meta_errf(err, errcap, "journal: dup: %s", strerror(errno));
        return JOURNAL_E_IO;
    }
    return 0;
}

int journal_write_out(journal *j, char *err, size_t errcap) { return flush_buf(j, err, errcap); }

void journal_mark_synced(journal *j, uint64_t upto)
{
    if (upto > j->synced && upto <= j->written) j->synced = upto;
}

uint64_t journal_synced(const journal *j) { return j->synced; }

void journal_close(journal *j)
{
    if (!j) return;
    /* Records appended without sync are meant to last: make them durable. */
    if (journal_sync(j, NULL, 0) != 0 && j->written != j->synced) cut_back(j);
    close(j->fd);
    free(j->buf);
    free(j);
}

static int open_at(const char *path, int flags, uint64_t end, uint32_t gen, journal **out,
                   char *err, size_t errcap)
{
    int rc = 0;
    journal *j = calloc(1, sizeof *j);
    if (!j) {
        meta_errf(err, errcap, "journal: out of memory");
        return JOURNAL_E_NOMEM;
    }
    j->fd = open(path, flags | O_RDWR | O_CLOEXEC, 0600);
    if (j->fd < 0) {
        meta_errf(err, errcap, "%s: %s", path, strerror(errno));
        rc = JOURNAL_E_IO;
        goto out;
    }
    if (ftruncate(j->fd, (off_t)end) < 0) {
        meta_errf(err, errcap, "%s: truncate: %s", path, strerror(errno));
        rc = JOURNAL_E_IO;
        goto out;
    }
    j->synced = j->written = end;
    if (end == 0) {
        uint8_t h[JOURNAL_HDR_SIZE];
        make_header(h, gen);
        if (write_all(j->fd, h, sizeof h, 0) < 0) {
            meta_errf(err, errcap, "%s: write header: %s", path, strerror(errno));
            rc = JOURNAL_E_IO;
            goto out;
        }
        j->synced = j->written = JOURNAL_HDR_SIZE;
    }
    if (fsync(j->fd) < 0) {
        meta_errf(err, errcap, "%s: fsync: %s", path, strerror(errno));
        rc = JOURNAL_E_IO;
        goto out;
    }
out:
    if (rc) {
        if (j->fd >= 0) close(j->fd);
        free(j);
        j = NULL;
    }
    *out = j;
    return rc;
}

int journal_open(const char *path, uint64_t end, uint32_t gen, journal **out,
                 char *err, size_t errcap)
{
    if (end != 0 && end < JOURNAL_HDR_SIZE) {
        meta_errf(err, errcap, "%s: bad journal end %llu", path, (unsigned long long)end);
        *out = NULL;
        return JOURNAL_E_CORRUPT;
    }
    return open_at(path, 0, end, gen, out, err, errcap);
}

int journal_create(const char *path, uint32_t gen, journal **out, char *err, size_t errcap)
{
    return open_at(path, O_CREAT | O_TRUNC, 0, gen, out, err, errcap);
}

int journal_fsync_dir(const char *dir, char *err, size_t errcap)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        meta_errf(err, errcap, "%s: fsync dir: %s", dir, strerror(errno));
        if (fd >= 0) close(fd);
        return JOURNAL_E_IO;
    }
    close(fd);
    return 0;
}
