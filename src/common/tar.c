/* tar.c — streaming ustar writer and push-parser reader.
 *
 * Writer: walks a tree through directory fds (openat + O_NOFOLLOW, so a
 * symlink swapped in mid-walk is archived as a link, never followed), in
 * byte-wise sorted order so the same tree always gives the same archive.
 * Ownership and user names are zeroed for the same reason. A file the
 * store packed (zblock.h) goes out as its original bytes, size and mode,
 * so an archive of a packed run is the archive of the run. Content goes
 * through one 256 KiB buffer; a dry-run mode shares every line of header
 * logic, which is what makes tar_measure_dir exact.
 *
 * Reader: a state machine fed arbitrary slices. It buffers at most one
 * 512-byte block plus a long name or pax header whose size was checked
 * against max_path first. One zero block followed by end of input is
 * treated as truncated: only the two-block end proves the writer finished. */
#define _GNU_SOURCE 1   /* O_NOATIME, where the system has it */
#include "tar.h"
#include "fsutil.h"
#include "hash.h"
#include "zblock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAR_IO_PIECE (256 * 1024)
#define OCTAL11_LIMIT (UINT64_C(1) << 33)   /* 8 GiB: 11 octal digits */

static const uint8_t zero_block[TAR_BLOCK];

static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- writer */

typedef struct twriter {
    tar_sink sink;          /* NULL: dry run (measure) */
    void *ctx;
    tar_stats *st;
    char *err;
    size_t errcap;
    uint8_t *buf;           /* TAR_IO_PIECE, write mode only */
    tar_reserve_fn reserve; /* file data straight into the sink's buffer */
    tar_known_fn known;     /* the CRC32C of a piece read there, for the sink */
    tar_skip_fn on_skip;    /* entries left out; may be NULL */
    void *skip_ctx;
    const char *link_root;  /* absolute link targets under it become relative */
    size_t rel0;            /* where the relative name starts in path */
    size_t pathcap;
    char *path;             /* prefix "/" relative name: the limit is on the latter */
    int hashing;            /* HASH_NONE, HASH_SHA (files_sha256), HASH_CRC (files_crc32c) */
    int noatime;            /* O_NOATIME until a file we do not own refuses it */
    hash_sha256 list;       /* over each file's SHA-256, in archive order */
    uint32_t list_crc;      /* over each file's CRC32C, in archive order */
} twriter;

enum { HASH_NONE, HASH_SHA, HASH_CRC };

/* A regular file's digest for the stream's end check (proto.txt 9):
 * SHA-256 for FILES_SHA256, CRC32C for FILES_CRC32C. */
typedef struct fdigest {
    hash_sha256 sha;
    uint32_t crc;
} fdigest;

static int fdigest_init(twriter *w, fdigest *d)
{
    d->sha.ctx = NULL;
    d->crc = 0;
    if (w->hashing == HASH_SHA && hash_sha256_init(&d->sha) < 0) {
        set_err(w->err, w->errcap, "out of memory at '%s'", w->path);
        return TAR_E_NOMEM;
    }
    return 0;
}

static void fdigest_update(twriter *w, fdigest *d, const uint8_t *p, size_t n)
{
    if (w->hashing == HASH_SHA) hash_sha256_update(&d->sha, p, n);
    else if (w->hashing == HASH_CRC) d->crc = hash_crc32c(d->crc, p, n);
}

/* Adds the file's digest to the list and releases it. */
static void fdigest_end(twriter *w, fdigest *d)
{
    uint8_t digest[32];
    if (w->hashing == HASH_SHA) {
        hash_sha256_final(&d->sha, digest);
        hash_sha256_update(&w->list, digest, sizeof digest);
    } else if (w->hashing == HASH_CRC) {
        w->list_crc = hash_crc32c_fold(w->list_crc, d->crc);
    }
}

static int emit(twriter *w, const void *p, size_t n)
{
    w->st->archive_bytes += n;
    if (!w->sink || n == 0)
        return 0;
    int rc = w->sink(w->ctx, p, n);
    if (rc < 0) {
        set_err(w->err, w->errcap, "sink failed (%d) at '%s'", rc, w->path);
        return TAR_E_SINK;
    }
    return 0;
}

static int emit_pad(twriter *w, uint64_t size)
{
    size_t pad = (size_t)((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);
    return emit(w, zero_block, pad);
}

/* n octal digits, zero-padded (by hand: snprintf was 10 calls a header,
 * twice a file with the measuring pass). */
static void put_octal(uint8_t *f, size_t n, uint64_t v)
{
    for (size_t i = n; i-- > 0; v >>= 3)
        f[i] = (uint8_t)('0' + (v & 7));
}

/* Octal with NUL terminator when it fits in the field, else GNU base-256
 * (high bit set, big-endian, two's complement for negatives). */
static void put_num(uint8_t *f, size_t len, int64_t v)
{
    uint64_t limit = UINT64_C(1) << (3 * (len - 1));
    if (v >= 0 && (uint64_t)v < limit) {
        put_octal(f, len - 1, (uint64_t)v);
        f[len - 1] = 0;
        return;
    }
    uint64_t u = (uint64_t)v;
    for (size_t i = len; i-- > 1; ) {
        f[i] = (uint8_t)(u & 0xff);
        u = v < 0 ? (u >> 8) | (UINT64_C(0xff) << 56) : u >> 8;
    }
    f[0] = v < 0 ? 0xff : 0x80;
}

static void put_checksum(uint8_t *h)
{
    unsigned sum = 0;
    memset(h + 148, ' ', 8);
    for (int i = 0; i < TAR_BLOCK; i++)
        sum += h[i];
    put_octal(h + 148, 6, sum & 0777777);
    h[154] = 0;
    h[155] = ' ';
}

static void fill_header(uint8_t *h, char type, uint32_t mode, uint64_t size, int64_t mtime)
{
    put_num(h + 100, 8, mode & 07777);
    put_num(h + 108, 8, 0);
    put_num(h + 116, 8, 0);
    put_num(h + 124, 12, (int64_t)size);
    put_num(h + 136, 12, mtime);
    h[156] = (uint8_t)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    put_num(h + 329, 8, 0);
    put_num(h + 337, 8, 0);
}

/* Appends one "LEN key=value\n" record; LEN counts its own digits. */
static size_t pax_record(char *out, const char *key, const char *val, size_t vlen)
{
    size_t body = strlen(key) + vlen + 3;   /* ' ' '=' '\n' */
    size_t len = body + 1;
    for (;;) {
        char tmp[24];
        size_t digits = (size_t)snprintf(tmp, sizeof tmp, "%zu", len);
        if (digits + body == len)
            break;
        len = digits + body;
    }
    if (out) {
        int k = sprintf(out, "%zu %s=", len, key);
        memcpy(out + k, val, vlen);
        out[k + vlen] = '\n';
    }
    return len;
}

/* Splits name (<= 256 bytes) at a '/' so the tail fits the 100-byte name
 * field and the head the 155-byte prefix; -1 when no such '/' exists. */
static long ustar_split(const char *name, size_t len)
{
    if (len <= 100)
        return 0;
    if (len > 256)
        return -1;
    for (size_t i = len - 1; i > 0; i--) {
        if (name[i] != '/')
            continue;
        if (len - i - 1 > 100)
            return -1;   /* going left only grows the tail */
        if (i <= 155 && len - i - 1 > 0)
            return (long)i;
    }
    return -1;
}

/* Writes the header(s) for one entry: a pax 'x' header first if the name,
 * link or size does not fit ustar. name is what goes into the archive
 * (directories carry a trailing '/'). */
static int write_header(twriter *w, const char *name, const char *link, char type,
                        uint32_t mode, uint64_t size, int64_t mtime)
{
    uint8_t h[TAR_BLOCK];
    size_t nlen = strlen(name), llen = link ? strlen(link) : 0;
    long split = ustar_split(name, nlen);
    int need_path = split < 0, need_link = llen > 100, need_size = size >= OCTAL11_LIMIT;
    int rc;

    if (need_path || need_link || need_size) {
        char sizebuf[24];
        size_t plen = 0;
        snprintf(sizebuf, sizeof sizebuf, "%" PRIu64, size);
        if (need_path) plen += pax_record(NULL, "path", name, nlen);
        if (need_link) plen += pax_record(NULL, "linkpath", link, llen);
        if (need_size) plen += pax_record(NULL, "size", sizebuf, strlen(sizebuf));
        char *pax = malloc(plen + 1);
        if (!pax) {
            set_err(w->err, w->errcap, "out of memory at '%s'", w->path);
            return TAR_E_NOMEM;
        }
        size_t off = 0;
        if (need_path) off += pax_record(pax + off, "path", name, nlen);
        if (need_link) off += pax_record(pax + off, "linkpath", link, llen);
        if (need_size) off += pax_record(pax + off, "size", sizebuf, strlen(sizebuf));
        memset(h, 0, sizeof h);
        memcpy(h, "././@PaxHeader", 14);
        fill_header(h, 'x', 0644, plen, mtime);
        put_checksum(h);
        rc = emit(w, h, sizeof h);
        if (rc == 0) rc = emit(w, pax, plen);
        if (rc == 0) rc = emit_pad(w, plen);
        free(pax);
        if (rc < 0)
            return rc;
    }
    memset(h, 0, sizeof h);
    if (split == 0) {
        memcpy(h, name, nlen);
    } else if (split > 0) {
        memcpy(h + 345, name, (size_t)split);
        memcpy(h, name + split + 1, nlen - (size_t)split - 1);
    } else {
        memcpy(h, name, 100);   /* placeholder; the pax path rules */
    }
    if (link)
        memcpy(h + 157, link, llen > 100 ? 100 : llen);
    fill_header(h, type, mode, size, mtime);
    put_checksum(h);
    return emit(w, h, sizeof h);
}

/* A packed file's original bytes, hashed as emitted like any file's. */
static int write_packed(twriter *w, zblock_reader *zr)
{
    uint64_t size = zblock_reader_hdr(zr)->size, done = 0;
    fdigest fh;
    int rc = fdigest_init(w, &fh);
    if (rc < 0) return rc;
    while (done < size) {
        size_t n = size - done < TAR_IO_PIECE ? (size_t)(size - done) : TAR_IO_PIECE;
        if ((rc = zblock_read(zr, done, w->buf, n)) < 0) {
            set_err(w->err, w->errcap, "read packed '%s': %s", w->path, cai_strerror(rc));
            hash_sha256_free(&fh.sha);
            return TAR_E_IO;
        }
        fdigest_update(w, &fh, w->buf, n);
        if ((rc = emit(w, w->buf, n)) < 0) {
            hash_sha256_free(&fh.sha);
            return rc;
        }
        done += n;
    }
    fdigest_end(w, &fh);
    return emit_pad(w, size);
}

/* Streams exactly st_size bytes of an already-open file; a file that
 * shrinks or grows is an error, since its header is already out. */
static int write_content(twriter *w, int fd, uint64_t size)
{
    uint64_t done = 0;
    fdigest fh;
    /* The file is read once, front to back: let readahead run far. */
    if (size > TAR_IO_PIECE)
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (fdigest_init(w, &fh) < 0)
        return TAR_E_NOMEM;
    int at_eof = 0;
    while (done < size) {
        /* One byte more than remains, when it fits: a file that grew
         * shows at once, and a short read of a regular file means end of
         * file, so most files need no extra read to prove it. */
        uint8_t *dst = w->buf;
        size_t cap = TAR_IO_PIECE;
        if (w->reserve)   /* read where the sink keeps it: one copy less */
            dst = w->reserve(w->ctx, &cap);
        size_t want = size - done >= cap ? cap : (size_t)(size - done) + 1;
        ssize_t n = read(fd, dst, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            set_err(w->err, w->errcap, "read '%s': %s", w->path, strerror(errno));
            hash_sha256_free(&fh.sha);
            return TAR_E_IO;
        }
        if (n == 0) {
            set_err(w->err, w->errcap, "'%s' shrank while being archived", w->path);
            hash_sha256_free(&fh.sha);
            return TAR_E_CHANGED;
        }
        if ((uint64_t)n > size - done) {
            set_err(w->err, w->errcap, "'%s' grew while being archived", w->path);
            hash_sha256_free(&fh.sha);
            return TAR_E_CHANGED;
        }
        at_eof = (size_t)n < want;
        /* Hashed as emitted: the digest covers exactly the bytes sent. A
         * big piece in the sink's room is taken alone and handed over, so
         * the chunk's CRC32C needs no pass of its own over it. */
        if (w->known && w->hashing == HASH_CRC && dst != w->buf && (size_t)n >= HASH_CRC32C_PIECE_MIN) {
            w->known(w->ctx, dst, (size_t)n, hash_crc32c_piece(&fh.crc, dst, (size_t)n));
        } else {
            fdigest_update(w, &fh, dst, (size_t)n);
        }
        int rc = emit(w, dst, (size_t)n);
        if (rc < 0) {
            hash_sha256_free(&fh.sha);
            return rc;
        }
        done += (uint64_t)n;
    }
    fdigest_end(w, &fh);
    uint8_t extra;
    ssize_t n = 0;
    while (!at_eof && (n = read(fd, &extra, 1)) < 0 && errno == EINTR)
        ;
    if (n > 0) {
        set_err(w->err, w->errcap, "'%s' grew while being archived", w->path);
        return TAR_E_CHANGED;
    }
    return emit_pad(w, size);
}

/* A listed entry is its d_type in one byte, then its name. */
static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a + 1, *(char *const *)b + 1);
}

/* Reads the names of one directory, sorted, each after its d_type byte;
 * the list is the only memory that grows with the tree (names of the
 * directories on the current path). */
static int list_dir(twriter *w, int dfd, char ***out, size_t *count)
{
    int rc = 0, fd = dup(dfd);
    DIR *d = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;

    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0) close(fd);
        set_err(w->err, w->errcap, "open dir '%s': %s", w->path, strerror(errno));
        return TAR_E_IO;
    }
    rewinddir(d);
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) {
                set_err(w->err, w->errcap, "read dir '%s': %s", w->path, strerror(errno));
                rc = TAR_E_IO;
            }
            break;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) { rc = TAR_E_NOMEM; break; }
            names = nn;
            cap = nc;
        }
        size_t len = strlen(e->d_name);
        if (!(names[n] = malloc(len + 2))) { rc = TAR_E_NOMEM; break; }
        names[n][0] = (char)e->d_type;
        memcpy(names[n] + 1, e->d_name, len + 1);
        n++;
    }
    closedir(d);
    if (rc == TAR_E_NOMEM)
        set_err(w->err, w->errcap, "out of memory listing '%s'", w->path);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++) free(names[i]);
        free(names);
        return rc;
    }
    if (n) qsort(names, n, sizeof *names, name_cmp);
    *out = names;
    *count = n;
    return 0;
}

/* Directory fds held by one walk beyond the root: deeper directories give
 * theirs up while their subtree is written and get it back through ".."
 * (checked against the inode seen on the way down), so a tree of any
 * depth costs a bounded number of fds and no stack. */
#define WALK_FDS 16

typedef struct wframe {
    char **names;          /* sorted entries of the directory */
    size_t n, i;           /* count, next to write */
    int fd;                /* -1 while given up */
    size_t plen;           /* length of w->path naming this directory */
    dev_t dev;
    ino_t ino;
} wframe;

static void frame_free(wframe *f, int own_fd)
{
    for (size_t k = 0; k < f->n; k++) free(f->names[k]);
    free(f->names);
    f->names = NULL;
    if (own_fd && f->fd >= 0) close(f->fd);
    f->fd = -1;
}

static int skip(twriter *w, const char *reason)
{
    w->st->skipped++;
    if (!w->on_skip) return 0;
    return w->on_skip(w->skip_ctx, w->path + w->rel0, reason) < 0 ? TAR_E_SINK : 0;
}

const char *tar_link_relative(const char *root, const char *name, const char *target,
                              char *buf, size_t cap)
{
    size_t rl = root ? strlen(root) : 0, depth = 0, k = 0;
    if (!rl || strncmp(target, root, rl) || target[rl] != '/')
        return target;
    const char *rest = target + rl;
    while (*rest == '/') rest++;
    if (!*rest)
        return target;      /* the root itself: not an entry of the tree */
    for (const char *c = name; (c = strchr(c, '/')); c++)
        depth++;
    if (depth * 3 + strlen(rest) >= cap)
        return target;
    for (size_t i = 0; i < depth; i++, k += 3)
        memcpy(buf + k, "../", 3);
    memcpy(buf + k, rest, strlen(rest) + 1);
    return buf;
}

/* Opens nm for reading without updating its access time: a fresh output
 * has atime <= mtime, so under relatime every read would dirty its inode
 * (an inode write per file, on a tree removed right after). O_NOATIME is
 * refused with EPERM for a file the walker neither owns nor has
 * CAP_FOWNER over; then it is dropped for the rest of the walk. */
static int open_read(twriter *w, int dfd, const char *nm, int flags)
{
#ifdef O_NOATIME
    if (w->noatime) {
        int fd = openat(dfd, nm, flags | O_NOATIME);
        if (fd >= 0 || errno != EPERM) return fd;
        w->noatime = 0;
    }
#endif
    return openat(dfd, nm, flags);
}

/* A regular file, judged by what the open fd shows (a file packed between
 * the walk's stat and the open is archived as packed): one the store
 * packed (sticky bit and a packed header) goes out with its original
 * size, mode and bytes; any other as it is. Measuring reaches here only
 * for a marked file, whose header must be read. */
static int write_file(twriter *w, int dfd, const char *nm, struct stat *st)
{
    zblock_reader *zr = NULL;
    int rc, fd = open_read(w, dfd, nm, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || fstat(fd, st) < 0) {
        set_err(w->err, w->errcap, "open '%s': %s", w->path, strerror(errno));
        if (fd >= 0) close(fd);
        return TAR_E_IO;
    }
    if (!S_ISREG(st->st_mode)) {
        set_err(w->err, w->errcap, "'%s' stopped being a regular file", w->path);
        close(fd);
        return TAR_E_CHANGED;
    }
    int packed = zblock_marked(st) && zblock_reader_fd(fd, &zr) == 0;
    uint64_t size = packed ? zblock_reader_hdr(zr)->size : (uint64_t)st->st_size;
    uint32_t mode = packed ? st->st_mode & 0777 : st->st_mode;
    rc = write_header(w, w->path, NULL, '0', mode, size, st->st_mtim.tv_sec);
    if (rc == 0 && !w->sink) {
        w->st->archive_bytes += size;
        rc = emit_pad(w, size);
    } else if (rc == 0) {
        rc = packed ? write_packed(w, zr) : write_content(w, fd, size);
    }
    if (rc == 0) {
        w->st->files++;
        w->st->data_bytes += size;
    }
    zblock_reader_free(zr);
    close(fd);
    return rc;
}

/* Writes one entry nm of directory dfd, named w->path (already set, of
 * length end). A directory is not descended here: *child gets its open
 * fd (and *cst its stat) for the caller to push. */
static int write_entry(twriter *w, int dfd, const char *nm, unsigned char dtype, size_t end,
                       int *child, struct stat *cst)
{
    struct stat st;
    int rc = 0;
    *child = -1;
    if (dtype == DT_REG && w->sink) {
        /* The listing says regular file: write_file's open (O_NOFOLLOW)
         * and fstat judge it, so a stat by name first is a lookup and a
         * stat per file for nothing (a sixth of the worker's time on many
         * small files). Whatever changed since the listing fails the
         * same checks as after a stat. */
        if (end - w->rel0 > TAR_NAME_MAX)
            return skip(w, "path over the 4095-byte limit");
        return write_file(w, dfd, nm, &st);
    }
    if (fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        set_err(w->err, w->errcap, "stat '%s': %s", w->path, strerror(errno));
        return TAR_E_IO;
    }
    if (end - w->rel0 > TAR_NAME_MAX)
        return skip(w, S_ISDIR(st.st_mode)
                           ? "path over the 4095-byte limit (the directory and all below it)"
                           : "path over the 4095-byte limit");
    if (S_ISDIR(st.st_mode)) {
        int cfd = open_read(w, dfd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0 || fstat(cfd, cst) < 0) {
            set_err(w->err, w->errcap, "open dir '%s': %s", w->path, strerror(errno));
            if (cfd >= 0) close(cfd);
            return TAR_E_IO;
        }
        w->path[end] = '/';
        w->path[end + 1] = 0;
        rc = write_header(w, w->path, NULL, '5', st.st_mode, 0, st.st_mtim.tv_sec);
        w->path[end] = 0;
        if (rc < 0) {
            close(cfd);
            return rc;
        }
        w->st->dirs++;
        *child = cfd;
    } else if (S_ISLNK(st.st_mode)) {
        char target[TAR_PATH_MAX + 1], rw[TAR_PATH_MAX + 1];
        ssize_t n = readlinkat(dfd, nm, target, sizeof target);
        if (n < 0) {
            set_err(w->err, w->errcap, "readlink '%s': %s", w->path, strerror(errno));
            return TAR_E_IO;
        }
        if ((size_t)n >= sizeof target)
            return skip(w, "symlink target over the 4096-byte limit");
        target[n] = 0;
        const char *link = tar_link_relative(w->link_root, w->path + w->rel0, target, rw, sizeof rw);
        rc = write_header(w, w->path, link, '2', 0777, 0, st.st_mtim.tv_sec);
        if (rc == 0) w->st->symlinks++;
    } else if (S_ISREG(st.st_mode) && (w->sink || zblock_marked(&st))) {
        rc = write_file(w, dfd, nm, &st);
    } else if (S_ISREG(st.st_mode)) {
        /* Measuring an ordinary file: its size is all it takes. */
        rc = write_header(w, w->path, NULL, '0', st.st_mode, (uint64_t)st.st_size, st.st_mtim.tv_sec);
        w->st->archive_bytes += (uint64_t)st.st_size;
        rc = rc ? rc : emit_pad(w, (uint64_t)st.st_size);
        if (rc == 0) {
            w->st->files++;
            w->st->data_bytes += (uint64_t)st.st_size;
        }
    } else {
        /* Devices, FIFOs, sockets carry nothing a run could use back:
         * left out, and said so. */
        rc = skip(w, S_ISFIFO(st.st_mode) ? "FIFO" : S_ISSOCK(st.st_mode) ? "socket"
                     : S_ISCHR(st.st_mode) ? "character device"
                     : S_ISBLK(st.st_mode) ? "block device" : "unsupported file type");
    }
    return rc;
}

/* Writes everything under dfd (named w->path, of length plen), depth
 * first in sorted order, with an explicit stack (no recursion on a depth
 * the tree's owner controls). dfd stays the caller's. */
static int walk(twriter *w, int dfd, size_t plen, const char *exclude)
{
    wframe *stk = NULL;
    size_t depth = 0, cap = 0;
    int rc = 0;
    struct stat rst;
    if (fstat(dfd, &rst) < 0) {
        set_err(w->err, w->errcap, "stat '%s': %s", w->path, strerror(errno));
        return TAR_E_IO;
    }
    if (!(stk = calloc(cap = 16, sizeof *stk))) {
        set_err(w->err, w->errcap, "out of memory");
        return TAR_E_NOMEM;
    }
    stk[0] = (wframe){ NULL, 0, 0, dfd, plen, rst.st_dev, rst.st_ino };
    if ((rc = list_dir(w, dfd, &stk[0].names, &stk[0].n)) < 0)
        goto out;
    depth = 1;
    while (depth > 0 && rc == 0) {
        wframe *f = &stk[depth - 1];
        if (f->i == f->n) {
            /* Done with this directory: back to its parent, whose fd may
             * have been given up. */
            wframe *p = depth > 1 ? &stk[depth - 2] : NULL;
            if (p && p->fd < 0) {
                struct stat pst;
                int pfd = openat(f->fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (pfd < 0 || fstat(pfd, &pst) < 0 || pst.st_dev != p->dev || pst.st_ino != p->ino) {
                    w->path[p->plen] = 0;
                    set_err(w->err, w->errcap, "directory '%s' moved while being archived", w->path);
                    if (pfd >= 0) close(pfd);
                    rc = TAR_E_CHANGED;
                    break;
                }
                p->fd = pfd;
            }
            frame_free(f, depth > 1);
            depth--;
            if (p) w->path[p->plen] = 0;
            continue;
        }
        const char *ent = f->names[f->i++], *nm = ent + 1;
        if (depth == 1 && exclude && !strcmp(nm, exclude))
            continue;
        size_t nlen = strlen(nm), base = f->plen ? f->plen + 1 : 0, end = base + nlen;
        if (end > w->pathcap - 2) {
            /* Cannot even be named: over the limit whatever it is. */
            w->path[f->plen] = 0;
            char why[64];
            snprintf(why, sizeof why, "an entry below is over the %d-byte path limit",
                     TAR_NAME_MAX);
            rc = skip(w, why);
            continue;
        }
        if (f->plen) w->path[f->plen] = '/';
        memcpy(w->path + base, nm, nlen + 1);
        int cfd;
        struct stat cst;
        rc = write_entry(w, f->fd, nm, (unsigned char)ent[0], end, &cfd, &cst);
        if (rc < 0 || cfd < 0) {
            if (cfd >= 0) close(cfd);
            w->path[f->plen] = 0;
            continue;
        }
        if (depth == cap) {
            wframe *ns = realloc(stk, 2 * cap * sizeof *ns);
            if (!ns) {
                close(cfd);
                set_err(w->err, w->errcap, "out of memory at '%s'", w->path);
                rc = TAR_E_NOMEM;
                break;
            }
            stk = ns;
            cap *= 2;
            f = &stk[depth - 1];
        }
        wframe *c = &stk[depth];
        *c = (wframe){ NULL, 0, 0, cfd, end, cst.st_dev, cst.st_ino };
        if ((rc = list_dir(w, cfd, &c->names, &c->n)) < 0) {
            close(cfd);
            break;
        }
        /* Past WALK_FDS levels the parent's fd is given up (never the
         * root's, which is the caller's). */
        if (depth > WALK_FDS && f->fd >= 0) {
            close(f->fd);
            f->fd = -1;
        }
        depth++;
    }
out:
    while (depth > 0) {
        frame_free(&stk[depth - 1], depth > 1);
        depth--;
    }
    free(stk);
    w->path[plen] = 0;
    return rc;
}

/* A header for each directory on the way down to a sub-path, so the
 * archive extracts on its own. */
struct sub_walk { twriter *w; size_t plen; };

static int sub_dir(void *ctx, int fd, const char *rel, size_t len, int created)
{
    struct sub_walk *sw = ctx;
    twriter *w = sw->w;
    size_t base = sw->plen ? sw->plen + 1 : 0;
    struct stat st;
    (void)created;
    if (base + len + 2 > w->pathcap) {
        set_err(w->err, w->errcap, "bad path '%.*s'", (int)len, rel);
        return TAR_E_PATH;
    }
    if (fstat(fd, &st) < 0) {
        set_err(w->err, w->errcap, "stat dir '%.*s': %s", (int)len, rel, strerror(errno));
        return TAR_E_IO;
    }
    if (sw->plen) w->path[sw->plen] = '/';
    memcpy(w->path + base, rel, len);
    w->path[base + len] = '/';
    w->path[base + len + 1] = 0;
    int rc = write_header(w, w->path, NULL, '5', st.st_mode, 0, st.st_mtim.tv_sec);
    w->path[base + len] = 0;
    if (rc == 0) w->st->dirs++;
    return rc;
}

/* Descends sub's directory components under dfd (fsutil_open_beneath: no
 * link followed, no "..", a loop, as sub comes from the client), writing
 * a header for each, then writes the last component (file or tree).
 * plen: length of w->path. */
static int walk_sub(twriter *w, int dfd, size_t plen, const char *sub)
{
    int cur = dfd, rc = 0;
    size_t n = strlen(sub), base = plen ? plen + 1 : 0;
    const char *last = sub;
    for (const char *p = sub; *p; p++) if (*p == '/') last = p + 1;
    size_t dirlen = last > sub ? (size_t)(last - sub - 1) : 0;
    size_t ln = n - (size_t)(last - sub);
    if (n == 0 || ln == 0 || base + n + 2 > w->pathcap || ln > TAR_PATH_MAX ||
        (ln == 1 && last[0] == '.') || (ln == 2 && last[0] == '.' && last[1] == '.')) {
        set_err(w->err, w->errcap, "bad path '%s'", sub);
        return TAR_E_PATH;
    }
    if (dirlen) {
        char dir[TAR_PATH_MAX + 1];
        struct sub_walk sw = { w, plen };
        if (dirlen > TAR_PATH_MAX) {
            set_err(w->err, w->errcap, "bad path '%s'", sub);
            return TAR_E_PATH;
        }
        memcpy(dir, sub, dirlen);
        dir[dirlen] = 0;
        cur = fsutil_open_beneath(dfd, dir, FSUTIL_DIR, sub_dir, &sw);
        if (cur < 0) {
            rc = cur;
            if (cai_is_errno(cur)) {
                set_err(w->err, w->errcap, "open dir '%s': %s", dir, cai_strerror(cur));
                rc = cur == -ENOENT || cur == -ENOTDIR || cur == -ELOOP || cur == -EINVAL
                     ? TAR_E_PATH : TAR_E_IO;
            }
            w->path[plen] = 0;
            return rc;
        }
    }
    /* w->path: the prefix, then sub whole; the last component at base + dirlen (+1). */
    if (plen) w->path[plen] = '/';
    memcpy(w->path + base, sub, n);
    w->path[base + n] = 0;
    char comp[TAR_PATH_MAX + 1];
    memcpy(comp, last, ln + 1);
    int cfd;
    struct stat cst;
    rc = write_entry(w, cur, comp, DT_UNKNOWN, base + n, &cfd, &cst);
    if (rc == 0 && cfd >= 0) rc = walk(w, cfd, base + n, NULL);     /* a directory: its tree */
    if (cfd >= 0) close(cfd);
    if (cur != dfd) close(cur);
    w->path[plen] = 0;
    return rc;
}

/* root by path, or rootfd (>= 0, the caller's: the walk reads a
 * description of its own) when root is NULL. */
static int run_writer_ex(const char *root, int rootfd, const char *sub, const char *prefix, int end,
                         const tar_write_opts *o, tar_sink sink, void *ctx, tar_stats *st,
                         char *err, size_t errcap)
{
    tar_stats local;
    twriter *w = calloc(1, sizeof *w);
    int rc = 0, fd = -1;
    size_t plen = prefix ? strlen(prefix) : 0;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    if (err && errcap) err[0] = 0;
    if (!w) {
        set_err(err, errcap, "out of memory");
        return TAR_E_NOMEM;
    }
    w->sink = sink;
    w->ctx = ctx;
    w->st = st;
    w->err = err;
    w->errcap = errcap;
    w->noatime = 1;
    if (o) {
        w->on_skip = o->on_skip;
        w->skip_ctx = o->skip_ctx;
        w->link_root = o->link_root;
        w->reserve = sink ? o->reserve : NULL;
        w->known = w->reserve ? o->known : NULL;
        if (sink && o->files_sha256) {
            if (hash_sha256_init(&w->list) < 0) {
                set_err(err, errcap, "out of memory");
                rc = TAR_E_NOMEM;
                goto out;
            }
            w->hashing = HASH_SHA;
        } else if (sink && o->files_crc32c) {
            w->hashing = HASH_CRC;
        }
    }
    if (plen + 2 > TAR_PATH_MAX) {
        set_err(err, errcap, "prefix too long");
        rc = TAR_E_PATH;
        goto out;
    }
    /* Room for the prefix, its "/", a relative name one byte over the
     * limit (so it is seen, then skipped), a directory's "/" and NUL. */
    w->rel0 = plen ? plen + 1 : 0;
    w->pathcap = w->rel0 + TAR_NAME_MAX + 300;   /* + a 255-byte name */
    if (!(w->path = calloc(1, w->pathcap))) {
        set_err(err, errcap, "out of memory");
        rc = TAR_E_NOMEM;
        goto out;
    }
    if (plen) memcpy(w->path, prefix, plen + 1);
    if (sink && !(w->buf = malloc(TAR_IO_PIECE))) {
        set_err(err, errcap, "out of memory");
        rc = TAR_E_NOMEM;
        goto out;
    }
    fd = root ? open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
              : openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errcap, "open '%s': %s", root ? root : ".", strerror(errno));
        rc = TAR_E_IO;
        goto out;
    }
    if (plen && rc == 0) {
        struct stat rst;
        fstat(fd, &rst);
        w->path[plen] = '/';
        w->path[plen + 1] = 0;
        rc = write_header(w, w->path, NULL, '5', rst.st_mode, 0, rst.st_mtim.tv_sec);
        w->path[plen] = 0;
        if (rc == 0) w->st->dirs++;
    }
    if (rc == 0) rc = sub && *sub ? walk_sub(w, fd, plen, sub)
                                  : walk(w, fd, plen, o ? o->exclude : NULL);
    if (rc == 0 && end) rc = emit(w, zero_block, TAR_BLOCK);
    if (rc == 0 && end) rc = emit(w, zero_block, TAR_BLOCK);
    if (rc == 0 && w->hashing == HASH_SHA)
        hash_sha256_final(&w->list, o->files_sha256);
    if (rc == 0 && w->hashing == HASH_CRC)
        *o->files_crc32c = w->list_crc;
out:
    hash_sha256_free(&w->list);
    if (fd >= 0) close(fd);
    free(w->buf);
    free(w->path);
    free(w);
    return rc;
}

static int run_writer(const char *root, const char *exclude, tar_sink sink, void *ctx,
                      tar_stats *st, char *err, size_t errcap)
{
    tar_write_opts o = { exclude, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
    return run_writer_ex(root, -1, NULL, NULL, 1, &o, sink, ctx, st, err, errcap);
}

int tar_write_dir_opts(const char *root, const tar_write_opts *o, tar_sink sink, void *ctx,
                       tar_stats *st, char *err, size_t errcap)
{
    return run_writer_ex(root, -1, NULL, NULL, 1, o, sink, ctx, st, err, errcap);
}

int tar_write_dir_fd(int dirfd, const tar_write_opts *o, tar_sink sink, void *ctx, tar_stats *st,
                     char *err, size_t errcap)
{
    return run_writer_ex(NULL, dirfd, NULL, NULL, 1, o, sink, ctx, st, err, errcap);
}

int tar_write_tree(const char *root, const char *sub, const char *prefix, int end,
                   tar_sink sink, void *ctx, tar_stats *st, char *err, size_t errcap)
{
    if (!sink) {
        set_err(err, errcap, "no sink");
        return TAR_E_SINK;
    }
    return run_writer_ex(root, -1, sub, prefix, end, NULL, sink, ctx, st, err, errcap);
}

int tar_measure_tree(const char *root, const char *sub, const char *prefix, int end,
                     tar_stats *st, char *err, size_t errcap)
{
    return run_writer_ex(root, -1, sub, prefix, end, NULL, NULL, NULL, st, err, errcap);
}

int tar_write_tree_fd(int rootfd, const char *sub, const char *prefix, int end, tar_sink sink,
                      void *ctx, tar_stats *st, char *err, size_t errcap)
{
    if (!sink) {
        set_err(err, errcap, "no sink");
        return TAR_E_SINK;
    }
    return run_writer_ex(NULL, rootfd, sub, prefix, end, NULL, sink, ctx, st, err, errcap);
}

int tar_measure_tree_fd(int rootfd, const char *sub, const char *prefix, int end, tar_stats *st,
                        char *err, size_t errcap)
{
    return run_writer_ex(NULL, rootfd, sub, prefix, end, NULL, NULL, NULL, st, err, errcap);
}

int tar_write_end(tar_sink sink, void *ctx)
{
    if (sink(ctx, zero_block, TAR_BLOCK) < 0 || sink(ctx, zero_block, TAR_BLOCK) < 0)
        return TAR_E_SINK;
    return 0;
}

int tar_write_dir(const char *root, const char *exclude, tar_sink sink, void *ctx,
                  tar_stats *st, char *err, size_t errcap)
{
    if (!sink) {
        set_err(err, errcap, "no sink");
        return TAR_E_SINK;
    }
    return run_writer(root, exclude, sink, ctx, st, err, errcap);
}

int tar_measure_dir(const char *root, const char *exclude, tar_stats *st,
                    char *err, size_t errcap)
{
    return run_writer(root, exclude, NULL, NULL, st, err, errcap);
}

/* ------------------------------------------------- entries from elsewhere */

int tar_write_header(tar_sink sink, void *ctx, tar_stats *st, const char *name, char type,
                     uint32_t mode, uint64_t size, int64_t mtime, char *err, size_t errcap)
{
    tar_stats dummy = {0};
    char path[TAR_PATH_MAX + 2];
    twriter w = {0};
    if (strlen(name) > TAR_PATH_MAX) {
        set_err(err, errcap, "name too long: '%.100s...'", name);
        return TAR_E_PATH;
    }
    snprintf(path, sizeof path, "%s", name);
    w.sink = sink;
    w.ctx = ctx;
    w.st = st ? st : &dummy;
    w.err = err;
    w.errcap = errcap;
    w.path = path;
    w.pathcap = sizeof path;
    int rc = write_header(&w, name, NULL, type, mode, type == '5' ? 0 : size, mtime);
    if (rc == 0) {
        if (type == '5') w.st->dirs++;
        else w.st->files++, w.st->data_bytes += size;
    }
    return rc;
}

int tar_write_pad(tar_sink sink, void *ctx, tar_stats *st, uint64_t size)
{
    tar_stats dummy = {0};
    twriter w = {0};
    w.sink = sink;
    w.ctx = ctx;
    w.st = st ? st : &dummy;
    w.path = (char *)"";
    return emit_pad(&w, size);
}
