/* test_hash.c — SHA-256, HMAC, CRC32, hex and random against published
 * vectors. */
#include "hash.h"
#include "t.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

static void hexof(const uint8_t *p, size_t n, char *out) { hash_hex(p, n, out); }

static void test_sha256_vectors(void)
{
    uint8_t d[32];
    char hex[65];
    hash_sha256_buf("abc", 3, d);
    hexof(d, 32, hex);
    T_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash_sha256_buf("", 0, d);
    hexof(d, 32, hex);
    T_EQ_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    /* Incremental in odd pieces equals one shot. */
    const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hash_sha256 h;
    T_EQ_INT(hash_sha256_init(&h), 0);
    for (size_t i = 0; i < strlen(msg); i += 5)
        hash_sha256_update(&h, msg + i, strlen(msg) - i < 5 ? strlen(msg) - i : 5);
    hash_sha256_final(&h, d);
    hexof(d, 32, hex);
    T_EQ_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    T_CHECK(h.ctx == NULL);
    hash_sha256_free(&h);   /* idempotent */

    T_EQ_INT(hash_sha256_init(&h), 0);
    hash_sha256_free(&h);   /* abandon without final: must not leak */
}

static void test_sha256_file(void)
{
    char dir[] = "/tmp/t_hash_XXXXXX", path[64];
    T_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/f", dir);
    size_t n = 600 * 1024 + 7;
    uint8_t *buf = malloc(n), d1[32], d2[32];
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(i * 31 + 7);
    FILE *f = fopen(path, "wb");
    T_CHECK(f && fwrite(buf, 1, n, f) == n);
    if (f) fclose(f);
    uint64_t size = 0;
    T_EQ_INT(hash_sha256_file(path, d1, &size), 0);
    T_EQ_INT(size, n);
    hash_sha256_buf(buf, n, d2);
    T_CHECK(hash_equal(d1, d2, 32));
    T_EQ_INT(hash_sha256_file("/nonexistent/nope", d1, NULL), -ENOENT);
    free(buf);
    unlink(path);
    rmdir(dir);
}

static void test_hex(void)
{
    uint8_t in[4] = { 0x00, 0xab, 0x7f, 0xff }, out[4];
    char hex[9];
    hash_hex(in, 4, hex);
    T_EQ_STR(hex, "00ab7fff");
    T_EQ_INT(hash_unhex("00AB7fff", out, 4), 0);
    T_CHECK(!memcmp(in, out, 4));
    T_EQ_INT(hash_unhex("00ab7ff", out, 4), -EINVAL);     /* short */
    T_EQ_INT(hash_unhex("00ab7fff0", out, 4), -EINVAL);   /* trailing */
    T_EQ_INT(hash_unhex("00ab7fgf", out, 4), -EINVAL);    /* bad digit */
    T_EQ_INT(hash_unhex(NULL, out, 4), -EINVAL);
}

static void test_crc32(void)
{
    T_EQ_INT(hash_crc32(0, "123456789", 9), 0xCBF43926u);
    uint32_t c = hash_crc32(0, "1234", 4);
    T_EQ_INT(hash_crc32(c, "56789", 5), 0xCBF43926u);
    T_EQ_INT(hash_crc32(0, "", 0), 0);
}

static void test_crc32c(void)
{
    /* RFC 3720 B.4 and the usual check value */
    T_EQ_INT(hash_crc32c(0, "123456789", 9), 0xE3069283u);
    T_EQ_INT(hash_crc32c_portable(0, "123456789", 9), 0xE3069283u);
    uint8_t z[32] = { 0 }, ff[32];
    memset(ff, 0xff, sizeof ff);
    T_EQ_INT(hash_crc32c(0, z, 32), 0x8A9136AAu);
    T_EQ_INT(hash_crc32c(0, ff, 32), 0x62A8AB43u);
    T_EQ_INT(hash_crc32c(0, "", 0), 0);
    uint32_t c = hash_crc32c(0, "1234", 4);
    T_EQ_INT(hash_crc32c(c, "56789", 5), 0xE3069283u);
    /* The instruction and the table agree at every length and alignment,
     * across the three-stream blocks' edges (3 x 256 and 3 x 8192). */
    static uint8_t buf[3 * 3 * 8192 + 64];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) { x = x * 1103515245u + 12345u; buf[i] = (uint8_t)(x >> 16); }
    int same = 1;
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n < 300; n += 7)
            same &= hash_crc32c(0, buf + off, n) == hash_crc32c_portable(0, buf + off, n);
    same &= hash_crc32c(7, buf + 3, 4096) == hash_crc32c_portable(7, buf + 3, 4096);
    static const size_t edges[] = { 767, 768, 769, 1536, 1543, 24575, 24576, 24577, 24576 + 768,
                                    2 * 24576 + 775, sizeof buf - 64 };
    for (size_t off = 0; off < 9; off += 4)
        for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) {
            size_t n = edges[i];
            same &= hash_crc32c(0, buf + off, n) == hash_crc32c_portable(0, buf + off, n);
            /* split anywhere: the running value carries over */
            uint32_t c = hash_crc32c(5, buf + off, n / 3);
            same &= hash_crc32c(c, buf + off + n / 3, n - n / 3) == hash_crc32c_portable(5, buf + off, n);
        }
    T_CHECK(same);
    printf("# crc32c: %s\n", hash_crc32c_hardware() ? "SSE4.2 instruction" : "table");
}

/* combine(crc(A), crc(B), |B|) == crc(A || B) for any split, empty
 * parts, and lengths with many bits set. */
static void test_crc32c_combine(void)
{
    enum { N = 300000 };
    uint8_t *b = malloc(N);
    uint64_t r = 5;
    for (size_t i = 0; i < N; i++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        b[i] = (uint8_t)(r >> 20);
    }
    static const size_t cuts[] = { 0, 1, 7, 8, 255, 4096, 65535, 131071, 262143, 299999, N };
    int bad = 0;
    uint32_t whole = hash_crc32c(0, b, N);
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        size_t k = cuts[i];
        if (hash_crc32c_combine(hash_crc32c(0, b, k), hash_crc32c(0, b + k, N - k), N - k) != whole)
            bad++;
    }
    T_EQ_INT(bad, 0);
    /* Three parts folded left to right, as a chunk of several pieces. */
    uint32_t c = hash_crc32c(0, b, 1000);
    c = hash_crc32c_combine(c, hash_crc32c(0, b + 1000, 200000), 200000);
    c = hash_crc32c(c, b + 201000, N - 201000);
    T_EQ_INT(c, whole);
    T_EQ_INT(hash_crc32c_combine(0x12345678u, 0, 0), 0x12345678u);
    free(b);
}

static void test_hmac(void)
{
    uint8_t d[32];
    char hex[65];
    /* RFC 4231 test case 2 */
    const char *m = "what do ya want for nothing?";
    hash_hmac_sha256("Jefe", 4, m, strlen(m), d);
    hexof(d, 32, hex);
    T_EQ_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* RFC 4231 test case 1 */
    uint8_t key[20];
    memset(key, 0x0b, sizeof key);
    hash_hmac_sha256(key, sizeof key, "Hi There", 8, d);
    hexof(d, 32, hex);
    T_EQ_STR(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static void test_equal_random(void)
{
    uint8_t a[32], b[32];
    T_EQ_INT(hash_random(a, sizeof a), 0);
    memcpy(b, a, sizeof a);
    T_EQ_INT(hash_equal(a, b, 32), 1);
    b[31] ^= 1;
    T_EQ_INT(hash_equal(a, b, 32), 0);
    T_EQ_INT(hash_random(b, sizeof b), 0);
    T_CHECK(memcmp(a, b, 32) != 0);   /* 2^-256 chance of a false failure */
    T_EQ_INT(hash_random(a, 0), 0);
}

int main(void)
{
    T_RUN(test_sha256_vectors);
    T_RUN(test_sha256_file);
    T_RUN(test_hex);
    T_RUN(test_crc32);
    T_RUN(test_crc32c);
    T_RUN(test_crc32c_combine);
    T_RUN(test_hmac);
    T_RUN(test_equal_random);
    return T_DONE();
}
