/* hash.c — SHA-256 and HMAC through libcrypto (it picks the CPU's SHA
 * extensions at run time, which a hand-written loop would not), CRC32
 * through zlib, CRC32C with the CPU's crc32 instruction (SSE4.2) or a
 * slice-by-8 table, and random bytes from the kernel. */
#include "hash.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zlib.h>

#define HASH_FILE_PIECE (256 * 1024)

/* OpenSSL 3 looks EVP_sha256() up in its provider store on every
 * EVP_DigestInit_ex (a read lock, a property-query hash table, string
 * compares: ~6,000 instructions and contended futexes per file of an
 * upload); an algorithm fetched once skips all that. */
static const EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    sha256_md = md ? md : EVP_sha256();   /* kept for the process's life */
}

static const EVP_MD *sha256(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md;
}

int hash_sha256_init(hash_sha256 *h)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    h->ctx = NULL;
    if (!c)
        return -ENOMEM;
    if (EVP_DigestInit_ex(c, sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        return -ENOMEM;
    }
    h->ctx = c;
    return 0;
}

void hash_sha256_update(hash_sha256 *h, const void *p, size_t n)
{
    if (h->ctx && n)
        EVP_DigestUpdate((EVP_MD_CTX *)h->ctx, p, n);
}

void hash_sha256_final(hash_sha256 *h, uint8_t out[32])
{
    unsigned len = 32;
    if (!h->ctx || EVP_DigestFinal_ex((EVP_MD_CTX *)h->ctx, out, &len) != 1)
        memset(out, 0, 32);
    hash_sha256_free(h);
}

void hash_sha256_free(hash_sha256 *h)
{
    if (h->ctx)
        EVP_MD_CTX_free((EVP_MD_CTX *)h->ctx);
    h->ctx = NULL;
}

void hash_sha256_buf(const void *p, size_t n, uint8_t out[32])
{
    unsigned len = 32;
    /* EVP_Digest cannot fail for SHA-256 short of memory exhaustion; a
     * zero digest then never matches a real one. */
    if (EVP_Digest(p, n, out, &len, sha256(), NULL) != 1)
        memset(out, 0, 32);
}

int hash_sha256_file(const char *path, uint8_t out[32], uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = hash_sha256_fd(fd, out, size);
    close(fd);
    return rc;
}

int hash_sha256_fd(int fd, uint8_t out[32], uint64_t *size)
{
    int rc = 0;
    uint8_t *buf = NULL;
    uint64_t total = 0;
    hash_sha256 h = { NULL };

    buf = malloc(HASH_FILE_PIECE);
    if (!buf) { rc = -ENOMEM; goto out; }
    if ((rc = hash_sha256_init(&h)) < 0)
        goto out;
    for (;;) {
        ssize_t n = read(fd, buf, HASH_FILE_PIECE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) { rc = -errno; goto out; }
        if (n == 0)
            break;
        hash_sha256_update(&h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    hash_sha256_final(&h, out);
    if (size)
        *size = total;
out:
    hash_sha256_free(&h);
    free(buf);
    return rc;
}

void hash_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Exactly 2n hex digits, nothing after them: a stray suffix would mean the
 * caller parsed the wrong field. */
int hash_unhex(const char *hex, uint8_t *out, size_t n)
{
    if (!hex)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_val(hex[2 * i]);
        if (hi < 0) return -EINVAL;
        int lo = hex_val(hex[2 * i + 1]);
        if (lo < 0) return -EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return hex[2 * n] == '\0' ? 0 : -EINVAL;
}

uint32_t hash_crc32(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;
    uLong c = crc;
    /* zlib takes uInt lengths; feed very large buffers in pieces. */
    while (n > 0) {
        uInt piece = n > 0x40000000u ? 0x40000000u : (uInt)n;
        c = crc32(c, b, piece);
        b += piece;
        n -= piece;
    }
    return (uint32_t)c;
}

/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
 * iSCSI, ext4 and SCTP. Chosen for the chunk checksum because x86 computes
 * it in hardware: ~10 GB/s a core here against ~3 GB/s for zlib's CRC-32. */
static uint32_t crc32c_tab[8][256];
static uint32_t (*crc32c_impl)(uint32_t, const uint8_t *, size_t);
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static uint32_t crc32c_table(uint32_t crc, const uint8_t *b, size_t n)
{
    uint32_t c = ~crc;
    while (n >= 8) {
        /* slice-by-8: byte order does not matter, the loads are bytes */
        uint32_t lo = c ^ ((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                           (uint32_t)b[3] << 24);
        c = crc32c_tab[7][lo & 0xff] ^ crc32c_tab[6][(lo >> 8) & 0xff] ^
            crc32c_tab[5][(lo >> 16) & 0xff] ^ crc32c_tab[4][lo >> 24] ^
            crc32c_tab[3][b[4]] ^ crc32c_tab[2][b[5]] ^ crc32c_tab[1][b[6]] ^ crc32c_tab[0][b[7]];
        b += 8;
        n -= 8;
    }
    while (n--)
        c = crc32c_tab[0][(c ^ *b++) & 0xff] ^ (c >> 8);
    return ~c;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>
/* The instruction takes 3 cycles but a new one can start every cycle, so
 * three independent streams over three stretches of a block run ~3x as
 * fast as one; their registers are then joined by "shifting" the first
 * over the length of the others (multiplying by x^(8*len) mod P, a table
 * lookup per byte of the register: linear, so built from 32 basis values). */
#define CRC_LONG 8192
#define CRC_SHORT 256
static uint32_t crc32c_long[4][256], crc32c_short[4][256];

__attribute__((target("sse4.2")))
static uint32_t crc32c_zeros(uint32_t c, size_t n)
{
    uint64_t r = c;
    for (size_t i = 0; i < n / 8; i++) r = _mm_crc32_u64(r, 0);
    return (uint32_t)r;
}

static void crc32c_shift_table(uint32_t t[4][256], size_t len)
{
    uint32_t basis[32];
    for (int i = 0; i < 32; i++) basis[i] = crc32c_zeros(1u << i, len);
    for (int k = 0; k < 4; k++)
        for (int b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (int j = 0; j < 8; j++)
                if (b >> j & 1) v ^= basis[8 * k + j];
            t[k][b] = v;
        }
}

static inline uint32_t crc32c_shift(const uint32_t t[4][256], uint32_t c)
{
    return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}

/* Three streams over the three thirds of each 3*len block. */
__attribute__((target("sse4.2")))
static uint64_t crc32c_3way(uint64_t c, const uint8_t **pb, size_t *pn, size_t len,
                            const uint32_t t[4][256])
{
    const uint8_t *b = *pb;
    size_t n = *pn;
    while (n >= 3 * len) {
        uint64_t c0 = c, c1 = 0, c2 = 0;
        const uint8_t *end = b + len;
        do {
            uint64_t v0, v1, v2;
            memcpy(&v0, b, 8);
            memcpy(&v1, b + len, 8);
            memcpy(&v2, b + 2 * len, 8);
            c0 = _mm_crc32_u64(c0, v0);
            c1 = _mm_crc32_u64(c1, v1);
            c2 = _mm_crc32_u64(c2, v2);
            b += 8;
        } while (b < end);
        c = crc32c_shift(t, (uint32_t)c0) ^ (uint32_t)c1;
        c = crc32c_shift(t, (uint32_t)c) ^ (uint32_t)c2;
        b += 2 * len;
        n -= 3 * len;
    }
    *pb = b;
    *pn = n;
    return c;
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *b, size_t n)
{
    uint64_t c = ~crc;
    while (n > 0 && ((uintptr_t)b & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *b++);
        n--;
    }
    c = crc32c_3way(c, &b, &n, CRC_LONG, crc32c_long);
    c = crc32c_3way(c, &b, &n, CRC_SHORT, crc32c_short);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, b, 8);
        c = _mm_crc32_u64(c, v);
        b += 8;
        n -= 8;
    }
    while (n--)
        c = _mm_crc32_u8((uint32_t)c, *b++);
    return ~(uint32_t)c;
}
#endif

static void crc32c_setup(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_tab[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            crc32c_tab[t][i] = (crc32c_tab[t - 1][i] >> 8) ^ crc32c_tab[0][crc32c_tab[t - 1][i] & 0xff];
    crc32c_impl = crc32c_table;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        crc32c_shift_table(crc32c_long, CRC_LONG);
        crc32c_shift_table(crc32c_short, CRC_SHORT);
        crc32c_impl = crc32c_sse42;
    }
#endif
}

uint32_t hash_crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc32c_once, crc32c_setup);
    return crc32c_impl(crc, p, n);
}

uint32_t hash_crc32c_fold(uint32_t list, uint32_t file_crc)
{
    uint8_t be[4] = { (uint8_t)(file_crc >> 24), (uint8_t)(file_crc >> 16), (uint8_t)(file_crc >> 8),
                      (uint8_t)file_crc };
    return hash_crc32c(list, be, 4);
}

/* a * b mod P in the reflected bit order (bit 31 is x^0). */
static uint32_t crc32c_mulmod(uint32_t a, uint32_t b)
{
    uint32_t prod = 0;
    for (uint32_t m = 1u << 31; m; m >>= 1) {
        if (a & m) prod ^= b;
        b = b & 1 ? (b >> 1) ^ 0x82F63B78u : b >> 1;
    }
    return prod;
}

/* x^(2^k) mod P for k = 0..66: enough for x^(8n), n < 2^64 bytes. */
static uint32_t crc32c_x2k[67];
static pthread_once_t crc32c_x2k_once = PTHREAD_ONCE_INIT;

static void crc32c_x2k_setup(void)
{
    crc32c_x2k[0] = 1u << 30;            /* x^1 */
    for (int k = 1; k < 67; k++)
        crc32c_x2k[k] = crc32c_mulmod(crc32c_x2k[k - 1], crc32c_x2k[k - 1]);
}

/* The CRC of A || B from those of A and B: A's register carried over
 * |B| bytes of zeros (times x^(8|B|) mod P) and B's added; the pre- and
 * post-inversion cancel out, as in zlib's crc32_combine. */
uint32_t hash_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    pthread_once(&crc32c_x2k_once, crc32c_x2k_setup);
    uint32_t xn = 1u << 31;              /* x^0 */
    for (int k = 3; len_b; len_b >>= 1, k++)
        if (len_b & 1) xn = crc32c_mulmod(crc32c_x2k[k], xn);
    return crc32c_mulmod(xn, crc_a) ^ crc_b;
}

uint32_t hash_crc32c_piece(uint32_t *crc, const void *p, size_t n)
{
    uint32_t c = hash_crc32c(0, p, n);
    *crc = hash_crc32c_combine(*crc, c, n);
    return c;
}

int hash_crc32c_hardware(void)
{
    pthread_once(&crc32c_once, crc32c_setup);
    return crc32c_impl != crc32c_table;
}

uint32_t hash_crc32c_portable(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc32c_once, crc32c_setup);
    return crc32c_table(crc, p, n);
}

void hash_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[32])
{
    unsigned len = 32;
    static const uint8_t empty = 0;
    if (!HMAC(EVP_sha256(), key ? key : &empty, (int)keylen, msg ? msg : &empty, n, out, &len))
        memset(out, 0, 32);
}

int hash_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

int hash_random(void *p, size_t n)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t got = getrandom(b, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -errno;
        b += got;
        n -= (size_t)got;
    }
    return 0;
}
