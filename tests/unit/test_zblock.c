/* test_zblock.c — packed files (src/common/zblock.c): round trips at every
 * size around block edges, reads at any offset (across blocks, the last
 * byte), incompressible blocks stored, and damage refused: a bad header,
 * a cut or grown file, an index entry out of place, a flipped data byte. */
#include "zblock.h"
#include "hash.h"
#include "t.h"

#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#define BS 4096u

static uint32_t rng = 7;
static uint32_t rnd(void) { rng = rng * 1103515245u + 12345u; return rng >> 8; }

/* Text-like bytes, with a random stretch in the middle (stored blocks). */
static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (i > n / 3 && i < n / 3 + 3 * BS) ? (uint8_t)rnd() : (uint8_t)("abcde fgh\n"[i % 10]);
}

static int tmpfd(void)
{
    char path[] = "/tmp/test_zblock.XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) unlink(path);
    return fd;
}

/* Packs data into a new temp fd: the fd, or -1. */
static int pack(const uint8_t *data, size_t n, uint64_t *packed, uint8_t sha[32])
{
    int in = tmpfd(), out = tmpfd();
    if (in < 0 || out < 0 || (n && write(in, data, n) != (ssize_t)n)) return -1;
    int rc = zblock_pack(in, n, out, BS, 6, 0, sha, packed);
    close(in);
    if (rc < 0) { close(out); return -1; }
    return out;
}

static void test_roundtrip_sizes(void)
{
    static const size_t sizes[] = { 0, 1, BS - 1, BS, BS + 1, 3 * BS, 10 * BS + 17, 64 * BS };
    uint8_t *data = malloc(64 * BS + 1), *got = malloc(64 * BS + 1);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        uint8_t sha[32], want[32];
        uint64_t packed = 0;
        fill(data, n);
        hash_sha256_buf(data, n, want);
        int fd = pack(data, n, &packed, sha);
        T_CHECK(fd >= 0);
        if (fd < 0) continue;
        T_CHECK(!memcmp(sha, want, 32));
        T_EQ_INT(lseek(fd, 0, SEEK_END), packed);
        zblock_reader *r = NULL;
        T_EQ_INT(zblock_reader_fd(fd, &r), 0);
        if (r) {
            T_EQ_INT(zblock_reader_hdr(r)->size, n);
            T_EQ_INT(zblock_read(r, 0, got, n), 0);
            T_CHECK(!memcmp(got, data, n));
            T_CHECK(zblock_read(r, 0, got, n + 1) < 0);      /* past the end */
            zblock_reader_free(r);
        }
        T_EQ_INT(zblock_verify(fd, want), 0);
        want[0] ^= 1;
        T_EQ_INT(zblock_verify(fd, want), ZCHUNK_E_DATA);
        close(fd);
    }
    free(data);
    free(got);
}

static void test_ranges(void)
{
    size_t n = 40 * BS + 123;
    uint8_t *data = malloc(n), *got = malloc(n), sha[32];
    uint64_t packed;
    fill(data, n);
    int fd = pack(data, n, &packed, sha);
    zblock_reader *r = NULL;
    T_CHECK(fd >= 0 && zblock_reader_fd(fd, &r) == 0);
    if (!r) goto out;
    T_CHECK(packed < n);                                  /* text shrinks */
    /* Every block edge, from either side, and the last byte. */
    for (size_t k = 1; k < 41; k++) {
        size_t off = k * BS - 5, len = off + 10 <= n ? 10 : n - off;
        memset(got, 0, 10);
        T_EQ_INT(zblock_read(r, off, got, len), 0);
        T_CHECK(!memcmp(got, data + off, len));
    }
    T_EQ_INT(zblock_read(r, n - 1, got, 1), 0);
    T_EQ_INT(got[0], data[n - 1]);
    for (int i = 0; i < 500; i++) {
        size_t off = rnd() % n, len = rnd() % (3 * BS);
        if (len > n - off) len = n - off;
        T_EQ_INT(zblock_read(r, off, got, len), 0);
        T_CHECK(!memcmp(got, data + off, len));
    }
    zblock_reader_free(r);
out:
    if (fd >= 0) close(fd);
    free(data);
    free(got);
}

static int reopen_fails(int fd)
{
    zblock_reader *r = NULL;
    int rc = zblock_reader_fd(fd, &r);
    zblock_reader_free(r);
    return rc < 0;
}

static void test_damage(void)
{
    size_t n = 8 * BS;
    uint8_t *data = malloc(n), sha[32], b;
    uint64_t packed;
    fill(data, n);
    int fd = pack(data, n, &packed, sha);
    T_CHECK(fd >= 0);
    if (fd < 0) { free(data); return; }
    /* header byte flipped: CRC */
    pread(fd, &b, 1, 20);
    b ^= 0x40;
    pwrite(fd, &b, 1, 20);
    T_CHECK(reopen_fails(fd));
    b ^= 0x40;
    pwrite(fd, &b, 1, 20);
    T_CHECK(!reopen_fails(fd));
    /* grown and cut */
    T_EQ_INT(ftruncate(fd, (off_t)packed + 1), 0);
    T_CHECK(reopen_fails(fd));
    T_EQ_INT(ftruncate(fd, (off_t)packed - 1), 0);
    T_CHECK(reopen_fails(fd));
    close(fd);
    /* an index entry past the data; a data byte flipped */
    fd = pack(data, n, &packed, sha);
    uint8_t ent[8] = { 0xff, 0xff, 0xff, 0, 0, 0, 0, 0 };
    pwrite(fd, ent, 8, ZBLOCK_HDR + 8 * 2);
    zblock_reader *r = NULL;
    uint8_t got[16];
    T_EQ_INT(zblock_reader_fd(fd, &r), 0);
    if (r) {
        T_EQ_INT(zblock_read(r, 0, got, 16), 0);             /* block 0 is fine */
        T_EQ_INT(zblock_read(r, 2 * BS, got, 16), ZCHUNK_E_FORMAT);
        zblock_reader_free(r);
    }
    close(fd);
    fd = pack(data, n, &packed, sha);
    pread(fd, &b, 1, ZBLOCK_HDR + 8 * 8 + 20);
    b ^= 0xff;
    pwrite(fd, &b, 1, ZBLOCK_HDR + 8 * 8 + 20);
    T_CHECK(zblock_verify(fd, sha) < 0);
    close(fd);
    free(data);
}

static void test_short_input(void)
{
    uint8_t data[100] = { 1 }, sha[32];
    uint64_t packed;
    int in = tmpfd(), out = tmpfd();
    T_CHECK(write(in, data, sizeof data) == (ssize_t)sizeof data);
    /* announced longer or shorter than the file: refused */
    T_EQ_INT(zblock_pack(in, 200, out, BS, 6, 0, sha, &packed), ZCHUNK_E_SIZE);
    T_EQ_INT(zblock_pack(in, 50, out, BS, 6, 0, sha, &packed), ZCHUNK_E_SIZE);
    T_EQ_INT(zblock_pack(in, 100, out, 100, 6, 0, sha, &packed), ZCHUNK_E_ARG);
    close(in);
    close(out);
}

/* probe: random data is given up after the probe, text goes on. */
static void test_probe(void)
{
    size_t n = 16 * BS;
    uint8_t *data = malloc(n), sha[32], want[32];
    uint64_t packed;
    int in = tmpfd(), out = tmpfd();
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)rnd();
    T_CHECK(write(in, data, n) == (ssize_t)n);
    T_EQ_INT(zblock_pack(in, n, out, BS, 6, 4 * BS, sha, &packed), 1);
    T_EQ_INT(ftruncate(out, 0), 0);
    T_EQ_INT(zblock_pack(in, n, out, BS, 6, 0, sha, &packed), 0);   /* no probe: packed anyway */
    T_CHECK(packed > n);                                             /* all stored, plus the index */
    close(in);
    close(out);
    in = tmpfd();
    out = tmpfd();
    fill(data, n);      /* text, but its random stretch falls after the probe */
    hash_sha256_buf(data, n, want);
    T_CHECK(write(in, data, n) == (ssize_t)n);
    T_EQ_INT(zblock_pack(in, n, out, BS, 6, 4 * BS, sha, &packed), 0);
    T_CHECK(!memcmp(sha, want, 32));
    T_EQ_INT(zblock_verify(out, want), 0);
    close(in);
    close(out);
    free(data);
}

static void test_header_parse(void)
{
    uint8_t h[ZBLOCK_HDR] = "CAIZBLK1";
    zblock_hdr z;
    T_EQ_INT(zblock_parse_header(h, sizeof h, &z), ZCHUNK_E_FORMAT);   /* CRC 0 */
    h[9] = 0x10;                                                       /* 4 KiB */
    h[16] = 5;
    uint32_t c = hash_crc32(0, h, 60);
    for (int i = 0; i < 4; i++) h[60 + i] = (uint8_t)(c >> (8 * i));
    T_EQ_INT(zblock_parse_header(h, sizeof h, &z), 0);
    T_EQ_INT(z.nblocks, 1);
    T_EQ_INT(z.data_off, ZBLOCK_HDR + 8);
    T_EQ_INT(zblock_parse_header(h, sizeof h - 1, &z), ZCHUNK_E_FORMAT);
}

int main(void)
{
    T_RUN(test_roundtrip_sizes);
    T_RUN(test_ranges);
    T_RUN(test_damage);
    T_RUN(test_short_input);
    T_RUN(test_probe);
    T_RUN(test_header_parse);
    return T_DONE();
}
