/* test_roundtrip.c — the whole upload path in one process, as the issue
 * asks: a tree of 10,000 small files in nested directories, a symlink, a
 * 300-byte path and a 50 MiB random file goes tar_write_dir -> 1 MiB
 * chunks -> zchunk_compress -> zchunk_decompress -> extract (odd-sized
 * slices); then every file's bytes, mode and link target are compared with
 * the source, and the writer's FILES_SHA256 with the extractor's. Memory must stay flat: the peak RSS may grow by less than
 * 32 MiB over what the test itself held before the pipeline ran. */
#define _XOPEN_SOURCE 700   /* nftw */
#include "extract.h"
#include "hash.h"
#include "tar.h"
#include "t.h"
#include "tarfix.h"
#include "zchunk.h"

#include <errno.h>
#include <ftw.h>
#include <sys/resource.h>

#define CHUNK (1 << 20)
#define BIG_SIZE (50u << 20)

/* ASan keeps freed blocks in a 256 MiB quarantine, which shows up as RSS
 * (every small per-file allocation stays resident); a small quarantine
 * keeps the figure about our memory, not the sanitizer's. Ignored by
 * non-ASan builds. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=4";
}

static char base[64], src[96], dst[96];
static uint8_t big_sha[32];

static long peak_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int put_file(const char *path, const void *p, size_t n, unsigned mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) return -1;
    ssize_t w = write(fd, p, n);
    fchmod(fd, mode);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

static int build_tree(void)
{
    char p[600], body[800];
    static const unsigned modes[] = { 0644, 0600, 0755, 0444 };
    int made = 0;
    for (int a = 0; a < 10; a++) {
        snprintf(p, sizeof p, "%s/d%d", src, a);
        if (mkdir(p, 0755) < 0) return -1;
        for (int b = 0; b < 10; b++) {
            snprintf(p, sizeof p, "%s/d%d/s%d", src, a, b);
            if (mkdir(p, b == 9 ? 0555 : 0750) < 0) return -1;
            for (int c = 0; c < 100; c++) {
                int len = snprintf(body, sizeof body, "file %d/%d/%d\n", a, b, c);
                for (int k = 0; k < (a * 100 + c) % 40; k++)
                    len += snprintf(body + len, sizeof body - (size_t)len, "line %d\n", k);
                snprintf(p, sizeof p, "%s/d%d/s%d/f%03d.txt", src, a, b, c);
                if (put_file(p, body, (size_t)len, modes[c % 4]) < 0) return -1;
                made++;
            }
            /* Made read-only after its files exist. */
            if (b == 9) { snprintf(p, sizeof p, "%s/d%d/s%d", src, a, b); chmod(p, 0555); }
        }
    }
    snprintf(p, sizeof p, "%s/link", src);
    if (symlink("d0/s0/f000.txt", p) < 0) return -1;
    /* A 300-byte relative path: "long/" + components. */
    char rel[400];
    int n = snprintf(rel, sizeof rel, "long");
    snprintf(p, sizeof p, "%s/long", src);
    if (mkdir(p, 0755) < 0) return -1;
    while (n < 300 - 101) {
        rel[n++] = '/';
        memset(rel + n, 'c', 90);
        n += 90;
        rel[n] = 0;
        snprintf(p, sizeof p, "%s/%s", src, rel);
        if (mkdir(p, 0755) < 0) return -1;
    }
    rel[n++] = '/';
    memset(rel + n, 'f', (size_t)(300 - n));
    rel[300] = 0;
    snprintf(p, sizeof p, "%s/%s", src, rel);
    if (strlen(rel) != 300 || put_file(p, "three hundred", 13, 0644) < 0) return -1;

    /* 50 MiB of xorshift noise, written and hashed in 1 MiB pieces. */
    snprintf(p, sizeof p, "%s/big.bin", src);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0640);
    uint64_t *buf = malloc(CHUNK), s = 0x9E3779B97F4A7C15ull;
    hash_sha256 h;
    if (fd < 0 || !buf || hash_sha256_init(&h) < 0) return -1;
    for (unsigned i = 0; i < BIG_SIZE / CHUNK; i++) {
        for (size_t k = 0; k < CHUNK / 8; k++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            buf[k] = s;
        }
        hash_sha256_update(&h, buf, CHUNK);
        if (write(fd, buf, CHUNK) != CHUNK) return -1;
    }
    hash_sha256_final(&h, big_sha);
    free(buf);
    close(fd);
    return made;
}

/* The pipeline: chunk -> compress -> decompress -> extract. */
typedef struct pipe_ctx {
    uint8_t *chunk, *z, *raw;
    size_t fill;
    extract *x;
    uint64_t slice_seed, stored, deflated, zbytes;
    int rc;
} pipe_ctx;

static int push_chunk(pipe_ctx *c)
{
    long zl = zchunk_compress(c->chunk, c->fill, c->z, zchunk_bound(CHUNK), 1);
    const uint8_t *raw = c->chunk;
    if (zl < 0) return c->rc = -900;
    if (zl > 0) {
        if (zchunk_decompress(c->z, (size_t)zl, c->raw, c->fill) < 0) return c->rc = -901;
        raw = c->raw;
        c->deflated++;
        c->zbytes += (uint64_t)zl;
    } else {
        c->stored++;
        c->zbytes += c->fill;
    }
    for (size_t off = 0; off < c->fill; ) {
        c->slice_seed = c->slice_seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t k = 1 + (size_t)(c->slice_seed >> 33) % 70001;
        if (k > c->fill - off) k = c->fill - off;
        int rc = extract_feed(c->x, raw + off, k);
        if (rc < 0) return c->rc = rc;
        off += k;
    }
    c->fill = 0;
    return 0;
}

static int sink(void *ctx, const uint8_t *p, size_t n)
{
    pipe_ctx *c = ctx;
    while (n > 0) {
        size_t k = CHUNK - c->fill < n ? CHUNK - c->fill : n;
        memcpy(c->chunk + c->fill, p, k);
        c->fill += k;
        p += k;
        n -= k;
        if (c->fill == CHUNK && push_chunk(c) < 0) return c->rc;
    }
    return 0;
}

typedef struct seen_files { uint64_t n; int big_ok; hash_sha256 list; } seen_files;
static int on_file(void *ctx, const extract_file *f)
{
    seen_files *s = ctx;
    s->n++;
    if (f->type == '0')     /* FILES_SHA256, computed a third way */
        hash_sha256_update(&s->list, f->sha256, 32);
    if (!strcmp(f->name, "big.bin"))
        s->big_ok = f->size == BIG_SIZE && hash_equal(f->sha256, big_sha, 32);
    return 0;
}

/* Compares one source entry with its copy. */
static long compared, mismatches;
static int cmp_entry(const char *path, const struct stat *sa, int flag, struct FTW *ftw)
{
    char other[700];
    struct stat sb;
    if (ftw->level == 0)
        return 0;   /* the roots themselves are not in the archive */
    snprintf(other, sizeof other, "%s%s", dst, path + strlen(src));
    int bad = 0;
    if (lstat(other, &sb) < 0) bad = 1;
    else if ((sa->st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) bad = 2;
    else if (!S_ISLNK(sa->st_mode) && (sa->st_mode & 0777) != (sb.st_mode & 0777)) bad = 3;
    else if (S_ISLNK(sa->st_mode)) {
        char t1[256], t2[256];
        ssize_t n1 = readlink(path, t1, sizeof t1), n2 = readlink(other, t2, sizeof t2);
        if (n1 != n2 || n1 < 0 || memcmp(t1, t2, (size_t)n1)) bad = 4;
    } else if (S_ISREG(sa->st_mode)) {
        if (sa->st_size != sb.st_size || sa->st_mtime != sb.st_mtime) bad = 5;
        int fa = open(path, O_RDONLY), fb = open(other, O_RDONLY);
        static uint8_t ba[65536], bb[65536];
        for (;;) {
            if (fa < 0 || fb < 0) { bad = 6; break; }
            ssize_t na = read(fa, ba, sizeof ba), nb = read(fb, bb, sizeof bb);
            if (na != nb || na < 0 || memcmp(ba, bb, (size_t)na)) { bad = 7; break; }
            if (na == 0) break;
        }
        if (fa >= 0) close(fa);
        if (fb >= 0) close(fb);
    }
    if (bad && mismatches++ < 5)
        printf("#   mismatch %d at %s\n", bad, path + strlen(src));
    compared++;
    return 0;
}

static int discard(void *ctx, const uint8_t *p, size_t n)
{
    (void)ctx; (void)p; (void)n;
    return 0;
}

static void test_roundtrip(void)
{
    snprintf(base, sizeof base, "/tmp/t_roundtrip_XXXXXX");
    T_CHECK(mkdtemp(base) != NULL);
    snprintf(src, sizeof src, "%s/src", base);
    snprintf(dst, sizeof dst, "%s/dst", base);
    T_EQ_INT(mkdir(src, 0755), 0);
    T_EQ_INT(mkdir(dst, 0700), 0);
    int made = build_tree();
    T_EQ_INT(made, 10000);
    if (made != 10000) goto out;

    long before = peak_kib();
    char err[256] = "";
    tar_stats ms, st;
    seen_files sf = { 0, 0, { NULL } };
    uint8_t files_w[32], files_x[32], files_cb[32];
    T_EQ_INT(hash_sha256_init(&sf.list), 0);
    T_EQ_INT(tar_measure_dir(src, NULL, &ms, err, sizeof err), 0);
    pipe_ctx c = { 0 };
    c.chunk = malloc(CHUNK);
    c.raw = malloc(CHUNK);
    c.z = malloc(zchunk_bound(CHUNK));
    c.slice_seed = 42;
    extract_limits lim = { 100ULL << 20, 20000, 0 };
    c.x = extract_new(dst, &lim, on_file, &sf);
    T_CHECK(c.x != NULL);
    extract_want_crc(c.x);
    tar_write_opts wo = { NULL, NULL, NULL, NULL, files_w, NULL, NULL, NULL };
    int rc = tar_write_dir_opts(src, &wo, sink, &c, &st, err, sizeof err);
    if (rc < 0) printf("#   writer: %s / extract: %s\n", err, extract_error(c.x));
    T_EQ_INT(rc, 0);
    if (rc == 0 && c.fill) push_chunk(&c);
    T_EQ_INT(c.rc, 0);
    rc = extract_finish(c.x);
    if (rc < 0) printf("#   extract: %s\n", extract_error(c.x));
    T_EQ_INT(rc, 0);
    long after = peak_kib();

    T_EQ_INT(st.archive_bytes, ms.archive_bytes);
    T_EQ_INT(st.files, 10002);
    T_EQ_INT(st.symlinks, 1);
    T_EQ_INT(extract_files(c.x), st.files + st.dirs + st.symlinks);
    T_EQ_INT(extract_bytes(c.x), st.data_bytes);
    T_EQ_INT(sf.n, st.files + st.dirs + st.symlinks);
    T_CHECK(sf.big_ok);
    /* The writer's digest of the files (the worker's FILES_SHA256) is the
     * extractor's (the master's check) and the one from the callbacks. */
    extract_files_sha256(c.x, files_x);
    hash_sha256_final(&sf.list, files_cb);
    T_CHECK(memcmp(files_w, files_x, 32) == 0);
    T_CHECK(memcmp(files_w, files_cb, 32) == 0);
    /* Version 3's FILES_CRC32C: the writer's (a second pass) is the
     * extractor's, and not that of no files. */
    uint32_t crc_w = 1;
    tar_write_opts wc = { NULL, NULL, NULL, NULL, NULL, &crc_w, NULL, NULL };
    T_EQ_INT(tar_write_dir_opts(src, &wc, discard, NULL, NULL, err, sizeof err), 0);
    T_EQ_INT(crc_w, extract_files_crc32c(c.x));
    T_CHECK(crc_w != 0 && crc_w != 1);
    extract_free(c.x);
    free(c.chunk);
    free(c.raw);
    free(c.z);

    T_EQ_INT(nftw(src, cmp_entry, 64, FTW_PHYS), 0);
    T_EQ_INT(mismatches, 0);
    T_EQ_INT(compared, (long)(st.files + st.dirs + st.symlinks));
    printf("# archive %llu bytes, %llu chunks deflated, %llu stored, %llu bytes on the wire\n",
           (unsigned long long)st.archive_bytes, (unsigned long long)c.deflated,
           (unsigned long long)c.stored, (unsigned long long)c.zbytes);
    printf("# peak RSS: %ld KiB (before the pipeline %ld KiB, delta %ld KiB)\n",
           after, before, after - before);
    T_CHECK(after - before < 32 * 1024);
out:
    tf_rm_rf(base);
}

int main(void)
{
    T_RUN(test_roundtrip);
    return T_DONE();
}
