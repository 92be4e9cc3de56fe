/* hash.c — SHA-256 and HMAC through libcrypto (it picks the CPU's SHA
 * extensions at run time, which a hand-written loop would not), CRC32
 * through zlib, and random bytes from the kernel. */
#include "hash.h"

#include <errno.h>
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

int hash_sha256_init(hash_sha256 *h)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    h->ctx = NULL;
    if (!c)
        return -ENOMEM;
    if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
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
    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1)
        memset(out, 0, 32);
}

int hash_sha256_file(const char *path, uint8_t out[32], uint64_t *size)
{
    int rc = 0, fd = -1;
    uint8_t *buf = NULL;
    uint64_t total = 0;
    hash_sha256 h = { NULL };

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { rc = -errno; goto out; }
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
    if (fd >= 0)
        close(fd);
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
