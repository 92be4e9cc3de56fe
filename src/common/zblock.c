/* zblock.c — packed files of independent zlib blocks (zblock.h). */
#include "zblock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "zchunk.h"

static const uint8_t magic[8] = { 'C', 'A', 'I', 'Z', 'B', 'L', 'K', '1' };

struct zblock_reader {
    zblock_pread_fn rd;
    void *ctx;
    uint64_t file_size;
    zblock_hdr h;
    uint64_t cur;          /* block held in out, or UINT64_MAX */
    uint8_t *in, *out;     /* zchunk_bound(B) and B bytes */
    int *box;              /* zblock_reader_fd's fd, owned */
};

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int zblock_parse_header(const uint8_t *p, size_t n, zblock_hdr *h)
{
    if (n < ZBLOCK_HDR || memcmp(p, magic, sizeof magic)) return ZCHUNK_E_FORMAT;
    if (get32(p + 60) != hash_crc32(0, p, 60)) return ZCHUNK_E_FORMAT;
    uint32_t bs = get32(p + 8);
    if (bs < ZBLOCK_MIN_BLOCK || bs > ZBLOCK_MAX_BLOCK || get32(p + 12) || get32(p + 56))
        return ZCHUNK_E_FORMAT;
    uint64_t size = get64(p + 16);
    /* Sizes a file can have: the index itself must fit in 2^62 bytes. */
    if (size > (UINT64_C(1) << 62)) return ZCHUNK_E_FORMAT;
    h->block_size = bs;
    h->size = size;
    memcpy(h->sha256, p + 24, 32);
    h->nblocks = size / bs + (size % bs != 0);
    h->data_off = ZBLOCK_HDR + 8 * h->nblocks;
    return 0;
}

static int read_at(zblock_reader *r, void *buf, size_t n, uint64_t off)
{
    long got = r->rd(r->ctx, buf, n, off);
    if (got < 0) return (int)got;
    return (size_t)got == n ? 0 : ZCHUNK_E_FORMAT;   /* shorter than its index says */
}

int zblock_reader_new(zblock_pread_fn rd, void *ctx, uint64_t file_size, zblock_reader **out)
{
    uint8_t hb[ZBLOCK_HDR], last[8];
    zblock_reader *r = calloc(1, sizeof *r);
    int rc;
    *out = NULL;
    if (!r) return ZCHUNK_E_NOMEM;
    r->rd = rd;
    r->ctx = ctx;
    r->file_size = file_size;
    r->cur = UINT64_MAX;
    if (file_size < ZBLOCK_HDR) { rc = ZCHUNK_E_FORMAT; goto fail; }
    if ((rc = read_at(r, hb, sizeof hb, 0)) < 0) goto fail;
    if ((rc = zblock_parse_header(hb, sizeof hb, &r->h)) < 0) goto fail;
    if (r->h.data_off > file_size) { rc = ZCHUNK_E_FORMAT; goto fail; }
    /* The last entry ends the file: a truncated or extended file shows
     * at once, not at the first read of its tail. */
    uint64_t end = 0;
    if (r->h.nblocks) {
        if ((rc = read_at(r, last, 8, r->h.data_off - 8)) < 0) goto fail;
        end = get64(last);
    }
    if (end != file_size - r->h.data_off) { rc = ZCHUNK_E_FORMAT; goto fail; }
    *out = r;
    return 0;
fail:
    zblock_reader_free(r);
    return rc;
}

static long fd_pread(void *ctx, void *buf, size_t n, uint64_t off)
{
    int fd = *(int *)ctx;
    size_t done = 0;
    while (done < n) {
        ssize_t k = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -errno;
        if (k == 0) break;
        done += (size_t)k;
    }
    return (long)done;
}

int zblock_reader_fd(int fd, zblock_reader **out)
{
    struct stat st;
    if (fstat(fd, &st) < 0) return -errno;
    /* The reader owns the box holding fd (freed with it), not fd. */
    int *box = malloc(sizeof *box);
    if (!box) return ZCHUNK_E_NOMEM;
    *box = fd;
    int rc = zblock_reader_new(fd_pread, box, (uint64_t)st.st_size, out);
    if (rc < 0) { free(box); return rc; }
    (*out)->box = box;
    return 0;
}

const zblock_hdr *zblock_reader_hdr(const zblock_reader *r)
{
    return &r->h;
}

/* Block k into r->out (once: a run of small reads inflates it once). */
static int load(zblock_reader *r, uint64_t k)
{
    uint8_t e[16];
    uint64_t start, end;
    int rc;
    if (r->cur == k) return 0;
    r->cur = UINT64_MAX;
    /* Allocated at the first read: an open that only wants the header
     * (a size, a sweep's count) costs no block buffers. */
    if (!r->in) r->in = malloc(zchunk_bound(r->h.block_size));
    if (!r->out) r->out = malloc(r->h.block_size);
    if (!r->in || !r->out) return ZCHUNK_E_NOMEM;
    if (k == 0) {
        if ((rc = read_at(r, e + 8, 8, ZBLOCK_HDR)) < 0) return rc;
        start = 0;
    } else {
        if ((rc = read_at(r, e, 16, ZBLOCK_HDR + 8 * (k - 1))) < 0) return rc;
        start = get64(e);
    }
    end = get64(e + 8);
    uint64_t raw = k + 1 < r->h.nblocks ? r->h.block_size
                                        : r->h.size - (uint64_t)r->h.block_size * k;
    if (end < start || end - start > raw || end > r->file_size - r->h.data_off)
        return ZCHUNK_E_FORMAT;
    size_t len = (size_t)(end - start);
    if (len == raw) {
        rc = read_at(r, r->out, len, r->h.data_off + start);
    } else {
        if ((rc = read_at(r, r->in, len, r->h.data_off + start)) == 0)
            rc = zchunk_decompress(r->in, len, r->out, (size_t)raw);
    }
    if (rc == 0) r->cur = k;
    return rc;
}

int zblock_read(zblock_reader *r, uint64_t off, void *buf, size_t n)
{
    uint8_t *p = buf;
    if (off > r->h.size || n > r->h.size - off) return ZCHUNK_E_ARG;
    while (n) {
        uint64_t k = off / r->h.block_size;
        size_t in_blk = (size_t)(off - k * r->h.block_size);
        size_t raw = k + 1 < r->h.nblocks ? r->h.block_size
                                          : (size_t)(r->h.size - (uint64_t)r->h.block_size * k);
        size_t take = raw - in_blk < n ? raw - in_blk : n;
        int rc = load(r, k);
        if (rc < 0) return rc;
        memcpy(p, r->out + in_blk, take);
        p += take;
        off += take;
        n -= take;
    }
    return 0;
}

void zblock_reader_free(zblock_reader *r)
{
    if (!r) return;
    free(r->box);
    free(r->in);
    free(r->out);
    free(r);
}

static int write_all(int fd, const void *p, size_t n, uint64_t off)
{
    const char *b = p;
    while (n) {
        ssize_t w = pwrite(fd, b, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -errno;
        b += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

int zblock_pack(int in_fd, uint64_t size, int out_fd, uint32_t block_size, int level,
                uint64_t probe, uint8_t sha_out[32], uint64_t *packed)
{
    hash_sha256 hs = { NULL };
    uint8_t hb[ZBLOCK_HDR], ent[8], *in = NULL, *z = NULL;
    uint64_t nblocks, data_off, end = 0, done = 0;
    int rc;
    if (block_size < ZBLOCK_MIN_BLOCK || block_size > ZBLOCK_MAX_BLOCK || level < 1 || level > 9)
        return ZCHUNK_E_ARG;
    nblocks = size / block_size + (size % block_size != 0);
    data_off = ZBLOCK_HDR + 8 * nblocks;
    if (!(in = malloc(block_size)) || !(z = malloc(zchunk_bound(block_size)))) {
        rc = ZCHUNK_E_NOMEM;
        goto out;
    }
    if (hash_sha256_init(&hs) < 0) { rc = ZCHUNK_E_NOMEM; goto out; }
    for (uint64_t k = 0; k < nblocks; k++) {
        size_t raw = k + 1 < nblocks ? block_size : (size_t)(size - done);
        size_t got = 0;
        while (got < raw) {
            ssize_t n = pread(in_fd, in + got, raw - got, (off_t)(done + got));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) { rc = -errno; goto out; }
            if (n == 0) { rc = ZCHUNK_E_SIZE; goto out; }
            got += (size_t)n;
        }
        hash_sha256_update(&hs, in, raw);
        long zl = zchunk_compress(in, raw, z, zchunk_bound(block_size), level);
        if (zl < 0) { rc = (int)zl; goto out; }
        const uint8_t *data = zl > 0 ? z : in;     /* 0: not smaller, stored */
        size_t len = zl > 0 ? (size_t)zl : raw;
        if ((rc = write_all(out_fd, data, len, data_off + end)) < 0) goto out;
        end += len;
        put64(ent, end);
        if ((rc = write_all(out_fd, ent, 8, ZBLOCK_HDR + 8 * k)) < 0) goto out;
        done += raw;
        if (probe && done >= probe && done < size) {
            if (end > done - done / 32) { rc = 1; goto out; }
            probe = 0;     /* it shrinks: the rest goes on */
        }
    }
    /* One byte more than announced means the file is not what its record
     * says: refused rather than silently cut. */
    if (pread(in_fd, in, 1, (off_t)size) > 0) { rc = ZCHUNK_E_SIZE; goto out; }
    memset(hb, 0, sizeof hb);
    memcpy(hb, magic, sizeof magic);
    put32(hb + 8, block_size);
    put64(hb + 16, size);
    hash_sha256_final(&hs, hb + 24);
    put32(hb + 60, hash_crc32(0, hb, 60));
    if ((rc = write_all(out_fd, hb, sizeof hb, 0)) < 0) goto out;
    memcpy(sha_out, hb + 24, 32);
    *packed = data_off + end;
    rc = 0;
out:
    hash_sha256_free(&hs);
    free(in);
    free(z);
    return rc;
}

int zblock_verify(int fd, const uint8_t sha256[32])
{
    zblock_reader *r = NULL;
    hash_sha256 hs = { NULL };
    uint8_t got[32], *buf = NULL;
    int rc = zblock_reader_fd(fd, &r);
    if (rc < 0) return rc;
    if (!(buf = malloc(r->h.block_size)) || hash_sha256_init(&hs) < 0) {
        rc = ZCHUNK_E_NOMEM;
        goto out;
    }
    for (uint64_t off = 0; off < r->h.size;) {
        size_t n = r->h.size - off < r->h.block_size ? (size_t)(r->h.size - off) : r->h.block_size;
        if ((rc = zblock_read(r, off, buf, n)) < 0) goto out;
        hash_sha256_update(&hs, buf, n);
        off += n;
    }
    hash_sha256_final(&hs, got);
    rc = hash_equal(got, sha256, 32) && hash_equal(got, r->h.sha256, 32) ? 0 : ZCHUNK_E_DATA;
out:
    hash_sha256_free(&hs);
    free(buf);
    zblock_reader_free(r);
    return rc;
}
