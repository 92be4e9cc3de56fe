/* test_zchunk.c — per-chunk deflate, streaming deflate/inflate, and the
 * decompression-bomb guard (1 GiB of zeros against ratio and total caps). */
#include "zchunk.h"
#include "t.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct sinkbuf { uint8_t *p; size_t len, cap; int fail_after; int calls; } sinkbuf;

static int to_buf(void *ctx, const uint8_t *p, size_t n)
{
    sinkbuf *s = ctx;
    if (s->fail_after && ++s->calls > s->fail_after) return -77;
    if (s->len + n > s->cap) {
        size_t nc = s->cap ? s->cap : 4096;
        while (nc < s->len + n) nc *= 2;
        uint8_t *np = realloc(s->p, nc);
        if (!np) return -1;
        s->p = np;
        s->cap = nc;
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    return 0;
}

static int count_only(void *ctx, const uint8_t *p, size_t n)
{
    *(uint64_t *)ctx += n;
    return 0;
}

static uint32_t rng = 12345;
static uint32_t rnd(void) { rng = rng * 1103515245u + 12345u; return rng >> 8; }

static void fill_text(uint8_t *p, size_t n)
{
    static const char *w[] = { "alpha ", "beta ", "gamma\n", "delta ", "output ", "42 " };
    size_t i = 0;
    while (i < n) {
        const char *s = w[rnd() % 6];
        for (size_t k = 0; s[k] && i < n; k++) p[i++] = (uint8_t)s[k];
    }
}

static void test_chunk_roundtrip(void)
{
    size_t n = 1 << 20;
    uint8_t *in = malloc(n), *z = malloc(zchunk_bound(n)), *out = malloc(n);
    fill_text(in, n);
    for (int level = 1; level <= 9; level += 4) {
        long zl = zchunk_compress(in, n, z, zchunk_bound(n), level);
        T_CHECK(zl > 0 && (size_t)zl < n / 3);
        if (zl <= 0) continue;
        T_EQ_INT(zchunk_decompress(z, (size_t)zl, out, n), 0);
        T_CHECK(!memcmp(in, out, n));
        /* Wrong announced sizes, corruption, trailing bytes. */
        T_EQ_INT(zchunk_decompress(z, (size_t)zl, out, n - 1), ZCHUNK_E_SIZE);
        uint8_t *big = malloc(n + 10);
        T_EQ_INT(zchunk_decompress(z, (size_t)zl, big, n + 10), ZCHUNK_E_SIZE);
        free(big);
        T_EQ_INT(zchunk_decompress(z, (size_t)zl - 1, out, n), ZCHUNK_E_DATA);
        z[zl / 2] ^= 0x55;
        int rc = zchunk_decompress(z, (size_t)zl, out, n);
        T_CHECK(rc == ZCHUNK_E_DATA || rc == ZCHUNK_E_SIZE);
        z[zl / 2] ^= 0x55;
        uint8_t *ext = malloc((size_t)zl + 1);
        memcpy(ext, z, (size_t)zl);
        ext[zl] = 0;
        T_EQ_INT(zchunk_decompress(ext, (size_t)zl + 1, out, n), ZCHUNK_E_DATA);
        free(ext);
    }
    free(in); free(z); free(out);
}

static void test_chunk_incompressible(void)
{
    size_t n = 64 * 1024;
    uint8_t *in = malloc(n), *z = malloc(zchunk_bound(n));
    for (size_t i = 0; i < n; i++) in[i] = (uint8_t)rnd();
    T_EQ_INT(zchunk_compress(in, n, z, zchunk_bound(n), 6), 0);
    T_EQ_INT(zchunk_compress(in, 1, z, zchunk_bound(1), 6), 0);
    T_EQ_INT(zchunk_compress(in, 0, z, zchunk_bound(0), 6), 0);
    T_EQ_INT(zchunk_compress(in, n, z, zchunk_bound(n), 0), ZCHUNK_E_ARG);
    T_EQ_INT(zchunk_compress(in, n, z, zchunk_bound(n), 10), ZCHUNK_E_ARG);
    /* Small output buffer: "not smaller" rather than overflow. */
    memset(in, 'a', n);
    T_EQ_INT(zchunk_compress(in, n, z, 8, 6), 0);
    long zl = zchunk_compress(in, n, z, zchunk_bound(n), 9);
    T_CHECK(zl > 0 && zl < 1000);
    /* Empty raw chunk round trip through a real stream. */
    uint8_t e[16];
    long el;
    {
        sinkbuf s = { 0 };
        zstream *d = zstream_deflate_new(6);
        T_EQ_INT(zstream_feed(d, NULL, 0, 1, to_buf, &s), 0);
        zstream_free(d);
        el = (long)s.len;
        memcpy(e, s.p, s.len < sizeof e ? s.len : sizeof e);
        free(s.p);
    }
    T_EQ_INT(zchunk_decompress(e, (size_t)el, NULL, 0), 0);
    free(in); free(z);
}

static void test_stream_roundtrip(void)
{
    size_t n = 3 * 1024 * 1024 + 17;
    uint8_t *in = malloc(n);
    fill_text(in, n);
    for (size_t i = 0; i < n; i += 4096) in[i] = (uint8_t)rnd();
    for (int level = 0; level <= 9; level += 3) {
        sinkbuf z = { 0 }, out = { 0 };
        zstream *d = zstream_deflate_new(level);
        T_CHECK(d != NULL);
        size_t off = 0;
        while (off < n) {
            size_t k = 1 + rnd() % 200000;
            if (k > n - off) k = n - off;
            T_EQ_INT(zstream_feed(d, in + off, k, 0, to_buf, &z), 0);
            off += k;
        }
        T_EQ_INT(zstream_feed(d, NULL, 0, 1, to_buf, &z), 0);
        T_EQ_INT(zstream_total_in(d), n);
        T_EQ_INT(zstream_total_out(d), z.len);
        zstream_free(d);
        if (level == 0) T_CHECK(z.len > n);
        else T_CHECK(z.len < n / 2);

        zstream *f = zstream_inflate_new(1000, 0);
        off = 0;
        while (off < z.len) {
            size_t k = 1 + rnd() % 5000;
            if (k > z.len - off) k = z.len - off;
            T_EQ_INT(zstream_feed(f, z.p + off, k, 0, to_buf, &out), 0);
            off += k;
        }
        T_EQ_INT(zstream_feed(f, NULL, 0, 1, to_buf, &out), 0);
        T_EQ_INT(out.len, n);
        T_CHECK(out.len == n && !memcmp(out.p, in, n));
        /* Bytes after the stream end are refused. */
        T_EQ_INT(zstream_feed(f, (const uint8_t *)"x", 1, 0, to_buf, &out), ZCHUNK_E_DATA);
        zstream_free(f);

        /* Truncated stream: finish reports it. */
        out.len = 0;
        f = zstream_inflate_new(1000, 0);
        T_EQ_INT(zstream_feed(f, z.p, z.len - 3, 0, to_buf, &out), 0);
        T_EQ_INT(zstream_feed(f, NULL, 0, 1, to_buf, &out), ZCHUNK_E_DATA);
        zstream_free(f);
        free(z.p);
        free(out.p);
    }
    free(in);
}

static void test_stream_errors(void)
{
    sinkbuf out = { 0 };
    zstream *f = zstream_inflate_new(0, 0);
    T_EQ_INT(zstream_feed(f, (const uint8_t *)"not zlib at all", 15, 0, to_buf, &out), ZCHUNK_E_DATA);
    T_EQ_INT(zstream_feed(f, (const uint8_t *)"x", 1, 0, to_buf, &out), ZCHUNK_E_DATA); /* sticky */
    zstream_free(f);
    T_CHECK(zstream_deflate_new(-1) == NULL);
    T_CHECK(zstream_deflate_new(10) == NULL);
    zstream_free(NULL);

    /* A sink error stops the stream and comes back unchanged. */
    uint8_t *in = malloc(1 << 20);
    for (size_t i = 0; i < (1u << 20); i++) in[i] = (uint8_t)rnd();
    sinkbuf s = { 0 };
    s.fail_after = 1;
    zstream *d = zstream_deflate_new(1);
    int rc = zstream_feed(d, in, 1 << 20, 1, to_buf, &s);
    T_EQ_INT(rc, -77);
    zstream_free(d);
    free(s.p);
    free(in);
    free(out.p);
}

/* 1 GiB of zeros deflates to about 1 MiB; inflating it must stop at the
 * cap, before the sink sees more than the cap. */
static void test_bomb(void)
{
    size_t piece = 1 << 20;
    uint8_t *zeros = calloc(1, piece);
    sinkbuf z = { 0 };
    zstream *d = zstream_deflate_new(1);
    for (int i = 0; i < 1024; i++)
        T_EQ_INT(zstream_feed(d, zeros, piece, 0, to_buf, &z), 0);
    T_EQ_INT(zstream_feed(d, NULL, 0, 1, to_buf, &z), 0);
    zstream_free(d);
    printf("# 1 GiB of zeros deflated to %zu bytes\n", z.len);

    /* Ratio cap. */
    uint64_t seen = 0;
    zstream *f = zstream_inflate_new(100, 0);
    int rc = 0;
    for (size_t off = 0; off < z.len && rc == 0; off += 4096)
        rc = zstream_feed(f, z.p + off, z.len - off < 4096 ? z.len - off : 4096, 0, count_only, &seen);
    T_EQ_INT(rc, ZCHUNK_E_BOMB);
    T_CHECK(seen <= 100 * zstream_total_in(f) + (1 << 20));
    zstream_free(f);

    /* Absolute cap, ratio unlimited. */
    seen = 0;
    f = zstream_inflate_new(0, 64 << 20);
    rc = zstream_feed(f, z.p, z.len, 1, count_only, &seen);
    T_EQ_INT(rc, ZCHUNK_E_BOMB);
    T_CHECK(seen <= (64u << 20));
    T_EQ_INT(zstream_feed(f, NULL, 0, 1, count_only, &seen), ZCHUNK_E_BOMB);
    zstream_free(f);

    /* Generous caps: the whole thing inflates. */
    seen = 0;
    f = zstream_inflate_new(2000, 2ULL << 30);
    T_EQ_INT(zstream_feed(f, z.p, z.len, 1, count_only, &seen), 0);
    T_EQ_INT(seen, 1ULL << 30);
    zstream_free(f);
    free(z.p);
    free(zeros);
}

/* The per-thread deflate state is reset between chunks: a chunk cut short
 * (incompressible: out of room) must not leak into the next one, on any
 * level, on any thread. Each result must equal a fresh zlib's. */
static void *reuse_main(void *arg)
{
    static const int levels[] = { 1, 6, 1, 9, 1 };
    size_t n = 200000;
    uint8_t *text = malloc(n), *rnd = malloc(n), *z = malloc(zchunk_bound(n)), *back = malloc(n);
    uint32_t x = (uint32_t)(uintptr_t)arg;
    long fails = 0;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        rnd[i] = (uint8_t)(x >> 16);
        text[i] = (uint8_t)("line of log text 0123\n"[i % 22]);
    }
    for (int round = 0; round < 20; round++) {
        int lv = levels[round % 5];
        /* cut short: random data does not fit in n-1 bytes */
        if (zchunk_compress(rnd, n, z, n, lv) != 0) fails++;
        long zl = zchunk_compress(text, n - (size_t)round, z, zchunk_bound(n), lv);
        if (zl <= 0 || zchunk_decompress(z, (size_t)zl, back, n - (size_t)round) != 0 ||
            memcmp(back, text, n - (size_t)round) != 0)
            fails++;
        /* same length as zlib's own one-shot at that level */
        uLongf dl = zchunk_bound(n);
        uint8_t *ref = malloc(dl);
        if (compress2(ref, &dl, text, n - (size_t)round, lv) != Z_OK || (long)dl != zl) fails++;
        free(ref);
    }
    free(text); free(rnd); free(z); free(back);
    return (void *)fails;
}

static void test_chunk_reuse(void)
{
    pthread_t th[3];
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, reuse_main, (void *)(uintptr_t)(i + 11));
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(th[i], &r);
        T_EQ_INT((long)r, 0);
    }
    T_EQ_INT((long)reuse_main((void *)5), 0);   /* and the main thread */
}

int main(void)
{
    T_RUN(test_chunk_roundtrip);
    T_RUN(test_chunk_incompressible);
    T_RUN(test_chunk_reuse);
    T_RUN(test_stream_roundtrip);
    T_RUN(test_stream_errors);
    T_RUN(test_bomb);
    return T_DONE();
}
