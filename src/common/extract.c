/* extract.c — safe streaming extraction (DESIGN.md invariant 3).
 *
 * Every entry is resolved one component at a time from the target's
 * directory fd with openat(O_DIRECTORY|O_NOFOLLOW): a symlink anywhere on
 * the way (ours or planted) fails the open instead of being followed, and
 * ".." never reaches the kernel because names are checked lexically first.
 * Files are created O_EXCL|O_NOFOLLOW with their final mode when the
 * process's umask keeps it (else 0600, and fchmod after the last byte):
 * directories stay 0700 until extract_finish, so no other user reaches a
 * half-written file either way (and a 0555 directory in the archive cannot
 * block its own content); the fchmod saved is a syscall per file.
 *
 * Everything created is remembered in one hash table keyed by path: it
 * tells "directory we made" (may be re-announced) from "existing entry",
 * and "regular file extracted here" from anything else, which is the only
 * thing a hard link may point at. Its size is bounded by max_files. As in
 * GNU tar, a later regular file replaces an earlier file or hard link of
 * the same name (appended archives, a path given twice to tar); any other
 * replacement (a file by a symlink, a directory by a file, ...) is refused.
 * Sparse files arrive with their holes (tar_reader.c), which become real
 * holes (lseek) and are hashed as the zeros they read as.
 *
 * Names (and link targets) that are not UTF-8 are stored under their
 * namecode.h encoding, the same on disk and in the index. The table keeps
 * the raw name of such entries: a later entry whose encoded name meets an
 * earlier one with another raw name is a collision, refused as
 * TAR_E_EXISTS, never a replacement.
 * On error the partial tree stays in the staging directory; the caller
 * removes it. */
#define _GNU_SOURCE   /* syncfs */
#include "extract.h"
#include "fsutil.h"
#include "hash.h"
#include "namecode.h"
#include "tar.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct xnode {
    char *name;
    char *raw;            /* the name in the archive, if it was encoded */
    char type;            /* '5' dir, '0' file, '1' hard link, '2' symlink */
    uint32_t mode;
    int64_t mtime;        /* set on the directory at the end if explicit_dir */
    uint32_t mtime_nsec;
    int explicit_dir;     /* directory announced by its own entry */
    uint64_t size;
    uint8_t sha[32];
} xnode;

struct extract {
    int root;             /* fd of the target directory */
    tar_reader *r;
    extract_limits lim;
    extract_cb cb;
    void *ctx;
    extract_skip_cb skip_cb;
    void *skip_ctx;
    char *link_root;      /* absolute targets under it become relative */
    uint64_t bytes, files;
    int err;
    int skippable;        /* err is about the entry, not the stream */
    int skipping;         /* the current entry is being left out */
    char msg[512];
    /* the entry being written */
    int fd;
    hash_sha256 h;        /* the file's SHA-256 (the hasher's while it runs) */
    int h_nomem;          /* a digest could not be allocated */
    int skip_hash;        /* a regular file being left out: h still hashes it */
    hash_sha256 list;     /* over every regular file's SHA-256 (FILES_SHA256) */
    int want_crc;         /* extract_want_crc: also FILES_CRC32C */
    uint32_t crc;         /* the current regular file's CRC32C */
    uint32_t list_crc;    /* over every regular file's CRC32C (FILES_CRC32C) */
    struct hasher *hs;    /* hashes big pieces while this thread writes them */
    int hs_off;           /* no hasher for this stream: hash everything here */
    const uint8_t *lend_lo, *lend_hi; /* extract_feed_lent's bytes: queued, not copied */
    int lent;             /* a piece of them was queued: extract_swap_buffer keeps it */
    extract_crc_cb crc_cb; /* extract_set_crc_report */
    void *crc_ctx;
    int list_done;
    uint8_t list_sha[32];
    extract_file cur;
    uint64_t written;
    uint64_t kicked;      /* writeback started up to here (write_behind) */
    int mode_set;         /* created with its final mode: no fchmod at the end */
    int tail_hole;        /* the entry so far ends in a hole: ftruncate at the end */
    int encoded;          /* its name was not UTF-8: cur.name is ename */
    char ename[3 * TAR_PATH_MAX + 1], elink[3 * TAR_PATH_MAX + 1];
    /* created paths */
    xnode *tab;
    size_t tcap, tcount;
    const char **dirs;    /* directory names (owned by tab), creation order */
    size_t ndirs, dcap;
    /* parent directory of the previous entry, reused when it repeats */
    char *pcache;
    int pfd;
};

static xnode *tab_find(extract *x, const char *name);
static int xfail(extract *x, int code, const char *fmt, ...);

/* SHA-256 is the largest single cost of storing what a worker sends
 * (~0.6 ms a MiB; for many small files ~15% of the receiving thread, whose
 * other work is the file creation itself), and this thread is an
 * upload's critical path while the other core idles (~30% of both cores,
 * measured on 10,000 x 4 KiB). So once a stream has a big chunk or a big
 * file, a second thread computes every file's SHA-256 in archive order
 * while this one writes the files: this thread queues *ops* (a piece of a
 * file's content; a file's end), the hasher takes them in batches. Pieces
 * of the caller's lent frame buffer (extract_feed_lent) are queued as they
 * are, and extract_swap_buffer keeps that buffer until the hasher is past
 * them and hands the caller one it is done with; a big piece from
 * elsewhere (an inflated chunk) is copied, a small one is hashed here once
 * the queue is empty (where a copy would cost more).
 *
 * A file's report (extract_cb) carries its SHA-256, so with the hasher on
 * reports wait in a FIFO, in archive order, until the hasher has finished
 * their file; entries without content wait behind them so the order holds.
 * A hard link needs its target's digest: it flushes the FIFO first. Ops
 * are handed over per fed buffer and taken per batch, so the two threads
 * meet about once a chunk, not once a file. Without a second CPU (or a
 * thread) everything is hashed here, in order, as before. */
#define HASH_ASYNC_MIN (128u * 1024u)  /* above on_hole's 64 KiB slices */
#define HASH_ASYNC_MAX (1u << 20)      /* a chunk's raw size */
#define HASH_COPIES 4                  /* copy buffers for big pieces not lent */
#define HOPS 8192                      /* queued ops (a 1 MiB chunk of 100-byte files: ~3,500) */
#define PEND_MAX 4096                  /* reports waiting for their file's digest */
/* Buffers held for the hasher: it is faster than the receiving thread
 * (~1.6 GB/s against ~1 GB/s), so three keep it fed, and an upload then
 * holds no more than the four copies of before (8 at once stay < 64 MiB). */
#define LEND_MAX 3

struct lent_buf {
    uint8_t *buf;
    unsigned until;           /* the hasher is done with it once head reaches this */
};

enum { OP_DATA = -3, OP_END_QUIET = -2 };   /* else an END op's report slot */
struct hop {
    const uint8_t *p;
    size_t n;
    int end;                  /* OP_DATA, OP_END_QUIET (a file left out), or a slot */
};

/* A report waiting for its file's digest (or behind one that does). */
struct pend {
    extract_file f;           /* f.name is name */
    char *name;
    int file;                 /* its digest comes from END op `op` */
    unsigned op;
};

struct hasher {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* the hasher waits for ops */
    pthread_cond_t done;      /* this thread waits for the hasher */
    extract *x;
    struct hop ops[HOPS];
    unsigned head, tail;      /* ops hashed / handed over (under mu) */
    unsigned qtail;           /* ops written (this thread's; >= tail) */
    unsigned seen_head;       /* head when this thread last looked */
    int stop;
    int nomem;                /* a digest could not be allocated (the hasher's) */
    uint8_t *copy[HASH_COPIES];
    unsigned copy_until[HASH_COPIES];
    unsigned ncopy;
    struct lent_buf lend[LEND_MAX]; /* buffers traded by extract_swap_buffer */
    size_t lend_cap;          /* their size (a caller's frame buffer) */
    uint8_t (*sha)[32];       /* PEND_MAX digests, written by the hasher */
    struct pend *pq;          /* PEND_MAX reports (this thread's) */
    unsigned pq_head, pq_tail;
};

/* The file's SHA-256 so far, started on first use: the hasher's while it
 * runs, this thread's when there is none or the queue is empty. */
static int sha_update(extract *x, const uint8_t *p, size_t n)
{
    if (!x->h.ctx && hash_sha256_init(&x->h) < 0)
        return -1;
    hash_sha256_update(&x->h, p, n);
    return 0;
}

/* Ends the file's digest and adds it to the stream's list. */
static int sha_end(extract *x, uint8_t sha[32])
{
    if (!x->h.ctx && hash_sha256_init(&x->h) < 0)
        return -1;
    hash_sha256_final(&x->h, sha);
    hash_sha256_update(&x->list, sha, 32);
    return 0;
}

static void op_run(struct hasher *h, const struct hop *o)
{
    extract *x = h->x;
    uint8_t sha[32];
    if (o->n && sha_update(x, o->p, o->n) < 0)
        h->nomem = 1;
    if (o->end == OP_DATA)
        return;
    if (sha_end(x, sha) < 0)
        h->nomem = 1;
    if (o->end >= 0)
        memcpy(h->sha[o->end], sha, 32);
}

static void *hasher_main(void *arg)
{
    struct hasher *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (h->head == h->tail && !h->stop) pthread_cond_wait(&h->cv, &h->mu);
        if (h->head == h->tail) break;
        unsigned end = h->tail;
        pthread_mutex_unlock(&h->mu);
        for (unsigned i = h->head; i != end; i++)
            op_run(h, &h->ops[i % HOPS]);
        pthread_mutex_lock(&h->mu);
        h->head = end;
        pthread_cond_broadcast(&h->done);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* Hands the ops written so far to the hasher. */
static void hs_publish(struct hasher *h)
{
    if (!h || h->tail == h->qtail) return;
    pthread_mutex_lock(&h->mu);
    h->tail = h->qtail;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* Waits until the hasher has run every op before `upto` (all handed over). */
static void hs_wait(struct hasher *h, unsigned upto)
{
    hs_publish(h);
    pthread_mutex_lock(&h->mu);
    while ((int)(upto - h->head) > 0) pthread_cond_wait(&h->done, &h->mu);
    h->seen_head = h->head;
    pthread_mutex_unlock(&h->mu);
}

/* Waits until every op queued so far is hashed. */
static void digest_sync(extract *x)
{
    if (x->hs) hs_wait(x->hs, x->hs->qtail);
}

static void hs_push(struct hasher *h, const uint8_t *p, size_t n, int end)
{
    if (h->qtail - h->seen_head >= HOPS)  /* the ring may be full: look */
        hs_wait(h, h->qtail - HOPS + 1);
    h->ops[h->qtail % HOPS] = (struct hop){ p, n, end };
    h->qtail++;
}

/* The hasher, started for a stream with big pieces; NULL on one CPU or
 * when a thread cannot be had (then everything is hashed here). */
static long ncpu;
static pthread_once_t ncpu_once = PTHREAD_ONCE_INIT;
static void ncpu_read(void) { ncpu = sysconf(_SC_NPROCESSORS_ONLN); }

static void hasher_dealloc(struct hasher *h)
{
    for (int i = 0; i < HASH_COPIES; i++)
        free(h->copy[i]);
    for (int i = 0; i < LEND_MAX; i++)
        free(h->lend[i].buf);
    if (h->pq)
        for (unsigned i = h->pq_head; i != h->pq_tail; i++)
            free(h->pq[i % PEND_MAX].name);
    free(h->pq);
    free(h->sha);
    free(h);
}

static struct hasher *hasher_get(extract *x)
{
    if (x->hs || x->hs_off) return x->hs;
    pthread_once(&ncpu_once, ncpu_read);
    x->hs_off = 1;            /* until the thread below runs */
    if (ncpu < 2) return NULL;
    struct hasher *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->x = x;
    if (!(h->pq = calloc(PEND_MAX, sizeof *h->pq)) || !(h->sha = calloc(PEND_MAX, sizeof *h->sha))) {
        hasher_dealloc(h);
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    pthread_cond_init(&h->done, NULL);
    if (pthread_create(&h->th, NULL, hasher_main, h) != 0) {
        pthread_mutex_destroy(&h->mu);
        pthread_cond_destroy(&h->cv);
        pthread_cond_destroy(&h->done);
        hasher_dealloc(h);
        return NULL;
    }
    x->hs_off = 0;
    return x->hs = h;
}

static void hasher_free(struct hasher *h)
{
    if (!h) return;
    pthread_mutex_lock(&h->mu);
    h->tail = h->qtail;       /* what was queued still runs: it may read x */
    h->stop = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->th, NULL);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    pthread_cond_destroy(&h->done);
    hasher_dealloc(h);
}

/* p..p+n lies in the bytes extract_feed_lent is feeding. */
static int lent_range(const extract *x, const uint8_t *p, size_t n)
{
    return x->lend_lo && p >= x->lend_lo && p + n <= x->lend_hi;
}

/* A copy buffer the hasher is done with, or NULL (no memory). */
static uint8_t *hs_copy_buf(struct hasher *h)
{
    unsigned k = h->ncopy++ % HASH_COPIES;
    if (!h->copy[k] && !(h->copy[k] = malloc(HASH_ASYNC_MAX)))
        return NULL;
    hs_wait(h, h->copy_until[k]);
    h->copy_until[k] = h->qtail + 1;      /* the op about to be pushed */
    return h->copy[k];
}

/* A regular file's content, for its SHA-256 and, when asked, CRC32C. */
static void digest_update(extract *x, const uint8_t *p, size_t n)
{
    struct hasher *h = x->hs;
    /* The CRC here, on bytes still in this core's cache from the chunk's
     * own check. A big piece of a lent buffer is taken alone and
     * reported, so that the caller's chunk check needs no pass of its own
     * over it. */
    if (x->want_crc && x->crc_cb && n >= HASH_CRC32C_PIECE_MIN && lent_range(x, p, n)) {
        x->crc_cb(x->crc_ctx, p, n, hash_crc32c_piece(&x->crc, p, n));
    } else if (x->want_crc) {
        x->crc = hash_crc32c(x->crc, p, n);
    }
    if (!h) {
        if (sha_update(x, p, n) < 0) x->h_nomem = 1;
        return;
    }
    if (lent_range(x, p, n)) {
        hs_push(h, p, n, OP_DATA);
        x->lent = 1;
    } else if (n >= HASH_ASYNC_MIN && n <= HASH_ASYNC_MAX) {
        uint8_t *c = hs_copy_buf(h);
        if (c) {
            memcpy(c, p, n);
            hs_push(h, c, n, OP_DATA);
        } else {
            digest_sync(x);               /* no memory for a copy: hash here */
            if (sha_update(x, p, n) < 0) x->h_nomem = 1;
        }
    } else {
        digest_sync(x);                   /* the hasher is idle: hash here */
        if (sha_update(x, p, n) < 0) x->h_nomem = 1;
        return;
    }
    if (n >= HASH_ASYNC_MIN)
        hs_publish(h);                    /* a big piece: start on it now */
}

/* A regular file's digests start. A stream that feeds big buffers, or a
 * big file, gets the hasher here, between two files. */
static void digest_begin(extract *x, uint64_t size)
{
    if (!x->hs && !x->hs_off &&
        (size >= HASH_ASYNC_MIN || (size_t)(x->lend_hi - x->lend_lo) >= HASH_ASYNC_MIN))
        hasher_get(x);
    x->crc = 0;
}

/* The file's digests join the stream's lists. Without the hasher sha gets
 * its SHA-256 and 0 is returned; with it, the digest goes to report slot
 * `slot` (or nowhere, slot < 0) once computed, and 1 is returned. */
static int digest_end(extract *x, uint8_t sha[32], int slot)
{
    if (x->want_crc)
        x->list_crc = hash_crc32c_fold(x->list_crc, x->crc);
    if (!x->hs) {
        if (sha_end(x, sha) < 0) x->h_nomem = 1;
        return 0;
    }
    hs_push(x->hs, NULL, 0, slot >= 0 ? slot : OP_END_QUIET);
    return 1;
}

/* Reports waiting for digests: those whose file the hasher has finished
 * (all of them with wait), in archive order. */
static int report_now(extract *x, const extract_file *f);
static int pend_flush(extract *x, int wait)
{
    struct hasher *h = x->hs;
    if (!h || h->pq_head == h->pq_tail) return 0;
    if (wait) digest_sync(x);
    pthread_mutex_lock(&h->mu);
    unsigned done = h->head;
    int nomem = h->nomem;
    pthread_mutex_unlock(&h->mu);
    if (nomem || x->h_nomem)
        return xfail(x, TAR_E_NOMEM, "out of memory hashing");
    while (h->pq_head != h->pq_tail) {
        unsigned k = h->pq_head % PEND_MAX;
        struct pend *p = &h->pq[k];
        if (p->file && (int)(done - p->op) <= 0) break;   /* its END op not run yet */
        h->pq_head++;
        int rc = 0;
        if (p->file) {
            memcpy(p->f.sha256, h->sha[k], 32);
            xnode *n = tab_find(x, p->name);   /* a later file of the name fixes it again */
            if (n && n->type == '0') memcpy(n->sha, h->sha[k], 32);
        }
        rc = report_now(x, &p->f);
        free(p->name);
        p->name = NULL;
        if (rc < 0) return rc;
    }
    return 0;
}

/* A free report slot (flushing, and waiting if every one is taken). */
static int pend_slot(extract *x)
{
    struct hasher *h = x->hs;
    if (h->pq_tail - h->pq_head == PEND_MAX) {
        int rc = pend_flush(x, 1);
        if (rc < 0) return rc;
    }
    return (int)(h->pq_tail % PEND_MAX);
}

/* x->cur, as the report in slot k (taken by pend_slot); file: its digest
 * comes from END op `op`. */
static int pend_push(extract *x, int k, int file, unsigned op)
{
    struct hasher *h = x->hs;
    struct pend *p = &h->pq[k];
    if (!(p->name = strdup(x->cur.name)))
        return TAR_E_NOMEM;
    p->f = x->cur;
    p->f.name = p->name;
    p->file = file;
    p->op = op;
    h->pq_tail++;
    return 0;
}

static int xfail(extract *x, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->msg, sizeof x->msg, fmt, ap);
    va_end(ap);
    x->err = code;
    return code;
}

/* An entry that cannot be stored safely: refuses the stream, or is left
 * out by on_entry when a skip callback is set. reason excludes the name. */
static int xskip(extract *x, int code, const char *name, const char *fmt, ...)
{
    char reason[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    xfail(x, code, "refusing '%.200s': %s", name, reason);
    /* Keep the bare reason for the callback after the message. */
    size_t used = strlen(x->msg) + 1;
    if (used < sizeof x->msg)
        snprintf(x->msg + used, sizeof x->msg - used, "%s", reason);
    x->skippable = 1;
    return code;
}

/* A filesystem error: a resource (space, quota, a failing disk, fds) is
 * TAR_E_RESOURCE, which the caller may retry; anything else TAR_E_IO. */
static int io_code(int e)
{
    switch (e) {
    case ENOSPC: case EDQUOT: case EIO: case ENOMEM: case EMFILE: case ENFILE:
    case EROFS: case EAGAIN: case EINTR: case EBUSY:
        return TAR_E_RESOURCE;
    default:
        return TAR_E_IO;
    }
}

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    while (*s) { h ^= (uint8_t)*s++; h *= 1099511628211ULL; }
    return h;
}

static xnode *tab_find(extract *x, const char *name)
{
    if (!x->tcap) return NULL;
    for (size_t i = fnv(name) & (x->tcap - 1);; i = (i + 1) & (x->tcap - 1)) {
        if (!x->tab[i].name) return NULL;
        if (!strcmp(x->tab[i].name, name)) return &x->tab[i];
    }
}

static xnode *tab_add(extract *x, const char *name, char type)
{
    if ((x->tcount + 1) * 2 > x->tcap) {
        size_t nc = x->tcap ? x->tcap * 2 : 256;
        xnode *nt = calloc(nc, sizeof *nt);
        if (!nt) return NULL;
        for (size_t i = 0; i < x->tcap; i++) {
            if (!x->tab[i].name) continue;
            size_t j = fnv(x->tab[i].name) & (nc - 1);
            while (nt[j].name) j = (j + 1) & (nc - 1);
            nt[j] = x->tab[i];
        }
        free(x->tab);
        x->tab = nt;
        x->tcap = nc;
    }
    if (type == '5' && x->ndirs == x->dcap) {
        size_t nc = x->dcap ? x->dcap * 2 : 64;
        const char **nd = realloc(x->dirs, nc * sizeof *nd);
        if (!nd) return NULL;
        x->dirs = nd;
        x->dcap = nc;
    }
    size_t i = fnv(name) & (x->tcap - 1);
    while (x->tab[i].name) i = (i + 1) & (x->tcap - 1);
    if (!(x->tab[i].name = strdup(name))) return NULL;
    x->tab[i].raw = NULL;
    x->tab[i].type = type;
    x->tcount++;
    if (type == '5') {
        x->dirs[x->ndirs++] = x->tab[i].name;
        x->tab[i].mode = 0755;
        x->tab[i].mtime = -1;
    }
    return &x->tab[i];
}

/* Lexical check: relative, no empty, "." or ".." component, not too long. */
static int check_name(extract *x, const char *name)
{
    size_t len = strlen(name);
    if (len == 0)
        return xskip(x, TAR_E_PATH, name, "empty name");
    if (len > x->lim.max_path)
        return xskip(x, TAR_E_LIMIT, name, "path of %zu bytes over the %zu-byte limit",
                     len, x->lim.max_path);
    if (name[0] == '/')
        return xskip(x, TAR_E_PATH, name, "absolute path");
    for (const char *c = name; ; ) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 0)
            return xskip(x, TAR_E_PATH, name, "empty path component");
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return xskip(x, TAR_E_PATH, name, "path leaves the target");
        if (n == 1 && c[0] == '.')
            return xskip(x, TAR_E_PATH, name, "'.' path component");
        if (!e) break;
        c = e + 1;
    }
    return 0;
}

/* Each directory fsutil_open_beneath made for an entry's parents is an
 * entry of the output too (counted against the limit, in the table). */
struct parent_walk { extract *x; const char *name; };

static int parent_made(void *ctx, int fd, const char *rel, size_t len, int created)
{
    struct parent_walk *pw = ctx;
    extract *x = pw->x;
    char path[TAR_PATH_MAX + 1];
    (void)fd;
    if (!created) return 0;
    if (x->lim.max_files && x->files >= x->lim.max_files)
        return xfail(x, TAR_E_LIMIT, "refusing '%s': over the %llu-entry limit", pw->name,
                     (unsigned long long)x->lim.max_files);
    memcpy(path, rel, len);
    path[len] = 0;
    if (!tab_add(x, path, '5')) return xfail(x, TAR_E_NOMEM, "out of memory at '%s'", pw->name);
    x->files++;
    return 0;
}

/* Opens (creating at 0700 when missing) the parent directory of name and
 * returns its fd, never following a symlink (fsutil_open_beneath); *base
 * points at the last component. The fd belongs to the cache: do not
 * close it. */
static int open_parent(extract *x, const char *name, const char **base)
{
    const char *slash = strrchr(name, '/');
    size_t plen = slash ? (size_t)(slash - name) : 0;
    *base = slash ? slash + 1 : name;
    if (plen == 0)
        return x->root;
    if (x->pcache && strlen(x->pcache) == plen && !memcmp(x->pcache, name, plen))
        return x->pfd;

    char path[TAR_PATH_MAX + 1];
    if (plen > TAR_PATH_MAX)
        return xskip(x, TAR_E_LIMIT, name, "path too long");
    memcpy(path, name, plen);
    path[plen] = 0;
    struct parent_walk pw = { x, name };
    int cur = fsutil_open_beneath(x->root, path, FSUTIL_DIR | FSUTIL_MKDIR, parent_made, &pw);
    if (cur < 0) {
        if (cai_band(cur) == TAR_E_BASE) return cur;          /* parent_made's, said */
        if (cur == -ELOOP || cur == -ENOTDIR)
            return xskip(x, TAR_E_LINK, name, "'%.200s' is a symlink or not a directory", path);
        if (cur == -EINVAL || cur == -ENAMETOOLONG)
            return xskip(x, TAR_E_PATH, name, "bad path component in '%.200s'", path);
        return xfail(x, io_code(-cur), "open '%s': %s", path, cai_strerror(cur));
    }
    char *keep = strdup(path);
    if (!keep) {
        close(cur);
        return xfail(x, TAR_E_NOMEM, "out of memory at '%s'", name);
    }
    if (x->pcache) close(x->pfd);
    free(x->pcache);
    x->pcache = keep;
    x->pfd = cur;
    return cur;
}

/* A symlink may only point inside the tree, judged lexically: all ".."
 * first, never more than the link's own depth. Since ".." after a name
 * could climb out through another symlink, it is refused outright. */
static int check_symlink(extract *x, const char *name, const char *target)
{
    long depth = 0;
    for (const char *c = name; (c = strchr(c, '/')); c++)
        depth++;
    if (!target[0] || target[0] == '/')
        return xskip(x, TAR_E_LINK, name, "symlink to '%.200s': target must be relative%s",
                     target, target[0] ? " (or inside the output)" : "");
    if (strlen(target) > x->lim.max_path)
        return xskip(x, TAR_E_LIMIT, name, "symlink target too long");
    int seen_name = 0;
    for (const char *c = target; *c; ) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            if (seen_name || --depth < 0)
                return xskip(x, TAR_E_LINK, name, "symlink to '%.200s' leaves the target", target);
        } else if (n > 0 && !(n == 1 && c[0] == '.')) {
            seen_name = 1;
        }
        if (!e) break;
        c = e + 1;
    }
    return 0;
}

static int refuse_exists(extract *x, const char *name, int e)
{
    if (e == EEXIST)
        return xskip(x, TAR_E_EXISTS, name, "would replace an existing entry");
    if (e == EFBIG)   /* the archive's doing (a huge sparse size), not the store's */
        return xfail(x, TAR_E_LIMIT, "'%s': larger than the store's filesystem allows", name);
    return xfail(x, io_code(e), "create '%s': %s", name, strerror(e));
}

static int report_now(extract *x, const extract_file *f)
{
    if (!x->cb) return 0;
    int rc = x->cb(x->ctx, f);
    return rc < 0 ? xfail(x, rc, "stopped by the caller at '%s' (%d)", f->name, rc) : 0;
}

/* x->cur: reported now, or behind the reports still waiting for digests. */
static int report(extract *x)
{
    struct hasher *h = x->hs;
    if (!h || h->pq_head == h->pq_tail)
        return report_now(x, &x->cur);
    int k = pend_slot(x);
    if (k < 0) return k;
    if (h->pq_head == h->pq_tail)
        return report_now(x, &x->cur);   /* the flush emptied it */
    if (pend_push(x, k, 0, 0) < 0)
        return xfail(x, TAR_E_NOMEM, "out of memory at '%s'", x->cur.name);
    return 0;
}

/* Remembers the archive's own name of an entry stored under an encoded
 * one (for collisions). 0 or TAR_E_NOMEM. */
static int keep_raw(extract *x, xnode *n, const char *raw)
{
    if (!x->encoded || !n) return n ? 0 : TAR_E_NOMEM;
    free(n->raw);
    return (n->raw = strdup(raw)) ? 0 : TAR_E_NOMEM;
}

/* e carries the encoded name and link; raw is the archive's name. */
/* The process's umask without changing it (umask() would, for every
 * thread, for a moment): Linux's /proc/self/status says it. Read once;
 * 0777 (keep nothing) when it cannot be read, so every file gets its
 * fchmod as before. */
static mode_t umask_now = 0777;
static void read_umask(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[128];
    unsigned m;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Umask: %o", &m) == 1) {
            umask_now = (mode_t)(m & 0777);
            break;
        }
    if (f) fclose(f);
}

static mode_t proc_umask(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, read_umask);
    return umask_now;
}

static int entry_begin(extract *x, const tar_entry *e, const char *raw)
{
    const char *base;
    int rc, pfd;

    memset(&x->cur, 0, sizeof x->cur);
    x->cur.name = e->name;
    x->cur.type = e->type;
    x->cur.mode = e->mode & 0777;
    x->cur.mtime = e->mtime;
    x->written = 0;
    x->kicked = 0;
    x->tail_hole = 0;
    if (e->type == '5' && e->name[0] == 0)
        return 0;   /* the archive's own root ("./"): it is our target */
    if (e->type != '0' && e->type != '5' && e->type != '1' && e->type != '2') {
        const char *what = e->type == '3' ? "character device" : e->type == '4' ? "block device"
                         : e->type == '6' ? "FIFO" : "unsupported entry type";
        return xskip(x, TAR_E_TYPE, e->name, "%s ('%c')", what,
                     e->type > 32 && e->type < 127 ? e->type : '?');
    }
    if ((rc = check_name(x, e->name)) < 0)
        return rc;
    /* A later regular file replaces an earlier one (or a hard link) of
     * the same name, as in GNU tar: it takes over its count and bytes. */
    const xnode *old = tab_find(x, e->name);
    if (old && old->type != '5' && strcmp(old->raw ? old->raw : old->name, raw))
        return xskip(x, TAR_E_EXISTS, e->name, "another name in the archive is stored under "
                     "this one (non-UTF-8 bytes are encoded as U+F780-U+F7FF)");
    int replace = old && e->type == '0' && (old->type == '0' || old->type == '1');
    uint64_t old_bytes = replace && old->type == '0' ? old->size : 0;
    if (!replace && x->lim.max_files && x->files >= x->lim.max_files)
        return xfail(x, TAR_E_LIMIT, "refusing '%s': over the %llu-entry limit",
                     e->name, (unsigned long long)x->lim.max_files);
    if (e->type == '0' && x->lim.max_bytes &&
        (e->size > x->lim.max_bytes || x->bytes - old_bytes > x->lim.max_bytes - e->size))
        return xfail(x, TAR_E_LIMIT, "refusing '%s': %llu bytes would pass the %llu-byte limit",
                     e->name, (unsigned long long)e->size, (unsigned long long)x->lim.max_bytes);
    if (e->type == '2' && (rc = check_symlink(x, e->name, e->linkname)) < 0)
        return rc;

    xnode *hl = NULL;
    uint64_t hl_size = 0;
    uint8_t hl_sha[32];
    char lname[TAR_PATH_MAX + 1];
    if (e->type == '1') {
        snprintf(lname, sizeof lname, "%s", e->linkname);
        while (lname[0] == '.' && lname[1] == '/')
            memmove(lname, lname + 2, strlen(lname + 2) + 1);
        if ((rc = pend_flush(x, 1)) < 0)   /* the target's digest, if pending */
            return rc;
        hl = tab_find(x, lname);
        if (!hl || (hl->type != '0' && hl->type != '1'))
            return xskip(x, TAR_E_LINK, e->name, "hard link to '%.200s', not a file extracted here",
                         e->linkname);
        hl_size = hl->size;   /* tab may move when parents get created */
        memcpy(hl_sha, hl->sha, 32);
    }
    if ((pfd = open_parent(x, e->name, &base)) < 0)
        return pfd;
    /* Parents made on the way count as entries too. */
    if (!replace && x->lim.max_files && x->files >= x->lim.max_files)
        return xfail(x, TAR_E_LIMIT, "refusing '%s': over the %llu-entry limit",
                     e->name, (unsigned long long)x->lim.max_files);

    if (e->type == '5') {
        xnode *d = tab_find(x, e->name);
        if (!d) {
            if (mkdirat(pfd, base, 0700) < 0)
                return refuse_exists(x, e->name, errno);
            if (!(d = tab_add(x, e->name, '5')))
                return xfail(x, TAR_E_NOMEM, "out of memory at '%s'", e->name);
            x->files++;
        } else if (d->type != '5') {
            return xskip(x, TAR_E_EXISTS, e->name, "a directory would replace an existing entry");
        }   /* a directory announced again: the later mode and mtime win */
        d->explicit_dir = 1;
        d->mode = e->mode & 0777;
        d->mtime = e->mtime;
        d->mtime_nsec = e->mtime_nsec;
        return 0;
    }
    if (replace) {
        if (unlinkat(pfd, base, 0) < 0)
            return xfail(x, io_code(errno), "replace '%s': %s", e->name, strerror(errno));
        x->bytes -= old_bytes;
        x->files--;
        x->cur.replaced = 1;
    } else if (tab_find(x, e->name)) {
        return xskip(x, TAR_E_EXISTS, e->name, "would replace an existing entry of another type");
    }
    if (e->type == '2') {
        if (symlinkat(e->linkname, pfd, base) < 0)
            return refuse_exists(x, e->name, errno);
        if (keep_raw(x, tab_add(x, e->name, '2'), raw) < 0)
            return xfail(x, TAR_E_NOMEM, "out of memory at '%s'", e->name);
        x->files++;
        return 0;
    }
    if (e->type == '1') {
        const char *tbase;
        uint64_t size = hl_size;
        uint8_t sha[32];
        memcpy(sha, hl_sha, 32);
        /* Resolve the target's parent the same safe way (it may evict the
         * cache, so the new entry's parent is resolved again after). */
        int tfd = open_parent(x, lname, &tbase);
        if (tfd < 0) return tfd;
        int tdup = dup(tfd);
        if (tdup < 0) return xfail(x, io_code(errno), "dup: %s", strerror(errno));
        char tb[TAR_PATH_MAX + 1];
        snprintf(tb, sizeof tb, "%s", tbase);
        if ((pfd = open_parent(x, e->name, &base)) < 0) { close(tdup); return pfd; }
        rc = linkat(tdup, tb, pfd, base, 0);
        int saved = errno;
        close(tdup);
        if (rc < 0)
            return refuse_exists(x, e->name, saved);
        xnode *n = tab_add(x, e->name, '1');
        if (keep_raw(x, n, raw) < 0) return xfail(x, TAR_E_NOMEM, "out of memory at '%s'", e->name);
        n->size = size;
        memcpy(n->sha, sha, 32);
        x->cur.size = size;
        memcpy(x->cur.sha256, sha, 32);
        x->files++;
        return 0;
    }
    mode_t mode = (mode_t)(e->mode & 0777);
    x->mode_set = (mode & ~proc_umask()) == mode;
    x->fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, x->mode_set ? mode : 0600);
    if (x->fd < 0)
        return refuse_exists(x, e->name, errno);
    digest_begin(x, e->size);
    x->cur.size = e->size;
    x->bytes += e->size;
    x->files++;
    return 0;
}


static int on_entry(void *ctx, const tar_entry *e)
{
    extract *x = ctx;
    tar_entry enc = *e;
    char tbuf[TAR_PATH_MAX + 1];
    x->encoded = 0;
    x->skipping = 0;
    x->skippable = 0;
    if (!namecode_is_utf8(e->name)) {
        if (namecode_encode(e->name, x->ename, sizeof x->ename) < 0)
            return xfail(x, TAR_E_LIMIT, "refusing '%.200s': name too long once encoded", e->name);
        enc.name = x->ename;
        x->encoded = 1;
    }
    if (!namecode_is_utf8(e->linkname)) {
        if (namecode_encode(e->linkname, x->elink, sizeof x->elink) < 0)
            return xfail(x, TAR_E_LIMIT, "refusing '%.200s': link too long once encoded", e->name);
        enc.linkname = x->elink;
    }
    if (enc.type == '2' && x->link_root && enc.linkname[0] == '/')
        enc.linkname = tar_link_relative(x->link_root, enc.name, enc.linkname, tbuf, sizeof tbuf);
    int rc = entry_begin(x, &enc, e->name);
    if (rc < 0 && x->skippable && x->skip_cb && x->fd < 0) {
        /* The stream is fine, this entry is not: leave it out (its data,
         * if any, is read and dropped) and tell the caller, under the
         * encoded (valid UTF-8) name. */
        extract_skip sk = { enc.name, x->msg + strlen(x->msg) + 1, rc };
        x->err = 0;
        x->skippable = 0;
        x->skipping = 1;
        /* Its content still counts in FILES_SHA256: the sender hashed it. */
        if (e->type == '0') {
            digest_begin(x, e->size);
            x->skip_hash = 1;
        }
        int r = x->skip_cb(x->skip_ctx, &sk);
        x->msg[0] = 0;
        if (r < 0)
            return xfail(x, r, "stopped by the caller at '%.200s' (%d)", enc.name, r);
        return 0;
    }
    return rc;
}

/* Starts the disk writes of what the current file has so far, every
 * WRITE_BEHIND bytes, without waiting for them: the one syncfs at finish
 * then has little left to write, instead of the whole output at once (the
 * kernel's own writeback starts only at gigabytes of dirty pages). */
#define WRITE_BEHIND (8u << 20)
static void write_behind(extract *x)
{
#ifdef SYNC_FILE_RANGE_WRITE
    if (x->written - x->kicked < WRITE_BEHIND) return;
    /* Advisory: an error here shows again at the syncfs, which decides. */
    (void)sync_file_range(x->fd, (off_t)x->kicked, (off_t)(x->written - x->kicked), SYNC_FILE_RANGE_WRITE);
    x->kicked = x->written;
#else
    (void)x;
#endif
}

/* Zero blocks of a file become holes, as `rsync -S` and `cp
 * --sparse=always` make them: our own worker's tar carries a sparse output
 * (a preallocated image, `truncate -s`) as the zeros it reads as, and
 * stored as written each would take its whole size on the store's disk.
 * The unit is a block at a block-aligned offset, or the part of one at
 * either end of a feed (a hole there costs a seek, and holes read as
 * zeros wherever they fall); data that is not zero fails the test at its
 * first nonzero byte, so this costs next to nothing. */
#define ZERO_BLOCK 4096u
static int all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int write_all(extract *x, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(x->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return xfail(x, io_code(errno), "write '%s': %s", x->cur.name, strerror(errno));
        p += w;
        n -= (size_t)w;
        x->written += (uint64_t)w;
    }
    x->tail_hole = 0;
    return 0;
}

static int on_data(void *ctx, const uint8_t *p, size_t n)
{
    extract *x = ctx;
    if (x->fd < 0) {
        if (x->skip_hash) digest_update(x, p, n);
        return 0;
    }
    digest_update(x, p, n);
    for (size_t i = 0; i < n;) {
        /* the piece up to the next block boundary, or the feed's end */
        size_t k = (size_t)((ZERO_BLOCK - x->written % ZERO_BLOCK) % ZERO_BLOCK);
        if (k == 0 || k > n - i) k = n - i < ZERO_BLOCK ? n - i : ZERO_BLOCK;
        size_t j = i + k;
        if (all_zero(p + i, k)) {
            while (n - j >= ZERO_BLOCK && all_zero(p + j, ZERO_BLOCK)) j += ZERO_BLOCK;
            if (n - j < ZERO_BLOCK && all_zero(p + j, n - j)) j = n;
            if (lseek(x->fd, (off_t)(j - i), SEEK_CUR) < 0)
                return xfail(x, io_code(errno), "seek '%s': %s", x->cur.name, strerror(errno));
            x->written += j - i;
            x->tail_hole = 1;    /* ftruncate at the end if nothing follows */
        } else {
            /* up to the next zero piece: one write for a run of data */
            while (j < n) {
                size_t m = n - j < ZERO_BLOCK ? n - j : ZERO_BLOCK;
                if (all_zero(p + j, m)) break;
                j += m;
            }
            int rc = write_all(x, p + i, j - i);
            if (rc < 0) return rc;
        }
        i = j;
    }
    write_behind(x);
    return 0;
}

/* A hole in a sparse file: skipped on disk, hashed as zeros. The reader
 * keeps holes inside e->size, which on_entry checked against max_bytes. */
static int on_hole(void *ctx, uint64_t n)
{
    static const uint8_t zeros[65536];
    extract *x = ctx;
    if (n == 0 || (x->fd < 0 && !x->skip_hash))
        return 0;
    if (x->fd < 0) {
        for (; n > 0; n -= n < sizeof zeros ? n : sizeof zeros)
            digest_update(x, zeros, n < sizeof zeros ? (size_t)n : sizeof zeros);
        return 0;
    }
    if (lseek(x->fd, (off_t)n, SEEK_CUR) < 0)
        return errno == EINVAL || errno == EOVERFLOW
            ? xfail(x, TAR_E_LIMIT, "'%s': larger than the store's filesystem allows", x->cur.name)
            : xfail(x, io_code(errno), "seek '%s': %s", x->cur.name, strerror(errno));
    x->written += n;
    x->tail_hole = 1;
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        digest_update(x, zeros, k);
        n -= k;
    }
    return 0;
}

static int on_entry_end(void *ctx, const tar_entry *e)
{
    extract *x = ctx;
    const char *name = x->cur.name;   /* encoded if need be; e->name is the raw one */
    uint8_t skipped_sha[32];
    int rc;
    if (x->skip_hash) {
        x->skip_hash = 0;
        digest_end(x, skipped_sha, -1);
    }
    if ((e->type == '5' && e->name[0] == 0) || x->skipping)
        return x->h_nomem ? xfail(x, TAR_E_NOMEM, "out of memory hashing '%s'", name) : 0;
    if (e->type == '0' && x->fd >= 0) {
        int fd = x->fd;
        x->fd = -1;
        int slot = x->hs ? pend_slot(x) : 0;
        if (slot < 0) {
            close(fd);
            return slot;
        }
        unsigned op = x->hs ? x->hs->qtail : 0;
        int later = digest_end(x, x->cur.sha256, slot);
        if (x->h_nomem) {
            close(fd);
            return xfail(x, TAR_E_NOMEM, "out of memory hashing '%s'", name);
        }
        if (x->tail_hole && ftruncate(fd, (off_t)x->written) < 0) {
            int saved = errno;
            close(fd);
            return refuse_exists(x, name, saved);
        }
        struct timespec ts[2] = { { 0, UTIME_OMIT }, { (time_t)e->mtime, (long)e->mtime_nsec } };
        /* Durability comes from one syncfs at finish (see there). */
        if ((!x->mode_set && fchmod(fd, e->mode & 0777) < 0) || futimens(fd, ts) < 0) {
            int saved = errno;
            close(fd);
            return xfail(x, io_code(saved), "finish '%s': %s", name, strerror(saved));
        }
        if (close(fd) < 0)
            return xfail(x, io_code(errno), "close '%s': %s", name, strerror(errno));
        xnode *n = tab_find(x, name);   /* found: it replaced a file */
        if ((!n && !(n = tab_add(x, name, '0'))) || keep_raw(x, n, e->name) < 0)
            return xfail(x, TAR_E_NOMEM, "out of memory at '%s'", name);
        n->type = '0';
        n->size = e->size;
        memcpy(n->sha, x->cur.sha256, 32);   /* zeros until the hasher's, if later */
        if (later) {
            if (pend_push(x, slot, 1, op) < 0)
                return xfail(x, TAR_E_NOMEM, "out of memory at '%s'", name);
            return pend_flush(x, 0);
        }
    }
    if ((rc = report(x)) < 0) return rc;
    return pend_flush(x, 0);
}

extract *extract_new(const char *dir, const extract_limits *lim, extract_cb on_file, void *ctx)
{
    static const tar_reader_ops ops = { on_entry, on_data, on_entry_end, on_hole };
    extract *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->fd = -1;
    x->pfd = -1;
    if (lim) x->lim = *lim;
    if (!x->lim.max_path || x->lim.max_path > TAR_PATH_MAX) x->lim.max_path = TAR_PATH_MAX;
    x->cb = on_file;
    x->ctx = ctx;
    x->root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (x->root < 0 || !(x->r = tar_reader_new(&ops, x, x->lim.max_path)) ||
        hash_sha256_init(&x->list) < 0) {
        if (x->root >= 0) close(x->root);
        tar_reader_free(x->r);
        free(x);
        return NULL;
    }
    return x;
}

void extract_set_skip(extract *x, extract_skip_cb on_skip, void *ctx)
{
    x->skip_cb = on_skip;
    x->skip_ctx = ctx;
}

int extract_set_link_root(extract *x, const char *root)
{
    char *r = NULL;
    if (root) {
        size_t n = strlen(root);
        while (n > 1 && root[n - 1] == '/') n--;
        if (!(r = strndup(root, n))) return -ENOMEM;
    }
    free(x->link_root);
    x->link_root = r;
    return 0;
}

int extract_feed(extract *x, const uint8_t *p, size_t n)
{
    if (x->err) return x->err;
    int rc = tar_reader_feed(x->r, p, n);
    hs_publish(x->hs);
    if (rc < 0 && !x->err)
        xfail(x, rc, "%s", tar_reader_error(x->r));
    return rc < 0 ? x->err : 0;
}

void extract_set_crc_report(extract *x, extract_crc_cb cb, void *ctx)
{
    x->crc_cb = cb;
    x->crc_ctx = ctx;
}

int extract_feed_lent(extract *x, const uint8_t *p, size_t n)
{
    x->lend_lo = p;
    x->lend_hi = p + n;
    int rc = extract_feed(x, p, n);
    x->lend_lo = x->lend_hi = NULL;
    if (rc < 0 && x->lent) {
        digest_sync(x);       /* no swap follows a refusal: let go of p now */
        x->lent = 0;
    }
    return rc;
}

uint8_t *extract_swap_buffer(extract *x, uint8_t *buf, size_t cap)
{
    struct hasher *h = x->hs;
    if (!x->lent) return buf;
    x->lent = 0;
    if (h->lend_cap && h->lend_cap != cap) {
        digest_sync(x);       /* a buffer of another size: keep none */
        return buf;
    }
    h->lend_cap = cap;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        struct lent_buf *empty = NULL;
        for (int i = 0; i < LEND_MAX; i++) {
            struct lent_buf *l = &h->lend[i];
            if (!l->buf) {
                if (!empty) empty = l;
            } else if ((int)(h->head - l->until) >= 0) {
                uint8_t *done = l->buf;   /* the hasher is past it */
                l->buf = buf;
                l->until = h->qtail;
                pthread_mutex_unlock(&h->mu);
                return done;
            }
        }
        if (empty) {
            uint8_t *fresh = malloc(cap);
            if (fresh) {
                empty->buf = buf;
                empty->until = h->qtail;
                pthread_mutex_unlock(&h->mu);
                return fresh;
            }
        }
        if (h->head == h->tail) break;    /* nothing queued: buf is free too */
        pthread_cond_wait(&h->done, &h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return buf;
}

/* Walks back down to a directory we created; never follows symlinks. */
static int open_dir_path(extract *x, const char *name)
{
    const char *base;
    int pfd = open_parent(x, name, &base);
    if (pfd < 0) return pfd;
    int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? xfail(x, io_code(errno), "open dir '%s': %s", name, strerror(errno)) : fd;
}

int extract_finish(extract *x)
{
    if (x->err) return x->err;
    int rc = tar_reader_finish(x->r);
    if (rc < 0)
        return xfail(x, rc, "%s", tar_reader_error(x->r));
    if ((rc = pend_flush(x, 1)) < 0)
        return rc;
    if (x->h_nomem)
        return xfail(x, TAR_E_NOMEM, "out of memory hashing");
    /* Children before parents: a parent's final mode (even 0500) must not
     * stop us from reaching the children. */
    for (size_t i = x->ndirs; i-- > 0; ) {
        xnode *d = tab_find(x, x->dirs[i]);
        int fd = open_dir_path(x, d->name);
        if (fd < 0) return fd;
        struct timespec ts[2] = { { 0, UTIME_OMIT }, { (time_t)d->mtime, (long)d->mtime_nsec } };
        if (fchmod(fd, d->mode) < 0 || (d->explicit_dir && futimens(fd, ts) < 0)) {
            int saved = errno;
            close(fd);
            return xfail(x, io_code(saved), "finish dir '%s': %s", d->name, strerror(saved));
        }
        close(fd);
    }
    /* One syncfs instead of an fsync per file: on ext4 each fsync of a
     * new file is a journal commit (measured here: +11 s for 10,000 small
     * files with per-file fsync), while syncfs writes the same data and
     * metadata in one batch and, since Linux 5.8, reports writeback
     * errors. The staging directory is on the store's filesystem, so this
     * covers every file and directory written here. */
    if (x->tcount == 0)
        return 0;      /* nothing created under the root: nothing to flush */
    if (x->files == 0) {
        /* Nothing was written: an empty output (common for small tasks)
         * needs no filesystem-wide flush. */
        if (fsync(x->root) < 0)
            return xfail(x, io_code(errno), "sync target: %s", strerror(errno));
        return 0;
    }
    if (syncfs(x->root) < 0 || fsync(x->root) < 0)
        return xfail(x, io_code(errno), "sync target: %s", strerror(errno));
    return 0;
}

void extract_want_crc(extract *x)
{
    x->want_crc = 1;
}

uint32_t extract_files_crc32c(const extract *x)
{
    return x ? x->list_crc : 0;
}

void extract_files_sha256(extract *x, uint8_t out[32])
{
    if (!x) {
        hash_sha256_buf("", 0, out);
        return;
    }
    if (!x->list_done) {
        digest_sync(x);       /* the hasher adds to the list */
        hash_sha256_final(&x->list, x->list_sha);
        x->list_done = 1;
    }
    memcpy(out, x->list_sha, 32);
}

const char *extract_error(const extract *x)
{
    return x ? x->msg : "no extractor";
}

uint64_t extract_bytes(const extract *x)
{
    return x ? x->bytes : 0;
}

uint64_t extract_files(const extract *x)
{
    return x ? x->files : 0;
}

void extract_free(extract *x)
{
    if (!x) return;
    hasher_free(x->hs);
    if (x->fd >= 0) close(x->fd);
    hash_sha256_free(&x->h);
    hash_sha256_free(&x->list);
    if (x->pcache) close(x->pfd);
    free(x->pcache);
    for (size_t i = 0; i < x->tcap; i++) {
        free(x->tab[i].name);
        free(x->tab[i].raw);
    }
    free(x->tab);
    free(x->dirs);
    free(x->link_root);
    tar_reader_free(x->r);
    close(x->root);
    free(x);
}
