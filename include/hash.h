/* hash.h — SHA-256 through OpenSSL's libcrypto (uses the CPU's SHA
 * instructions), CRC32 through zlib, HMAC-SHA256 for the handshake, and
 * random bytes from getrandom(). A hash_sha256 belongs to one thread. */
#ifndef CLOUDAI_HASH_H
#define CLOUDAI_HASH_H
#include <stddef.h>
#include <stdint.h>

typedef struct hash_sha256 { void *ctx; } hash_sha256;   /* EVP_MD_CTX */
int hash_sha256_init(hash_sha256 *h);                    /* 0 or -ENOMEM */
void hash_sha256_update(hash_sha256 *h, const void *p, size_t n);
void hash_sha256_final(hash_sha256 *h, uint8_t out[32]); /* also frees */
void hash_sha256_free(hash_sha256 *h);                   /* idempotent */
void hash_sha256_buf(const void *p, size_t n, uint8_t out[32]);
/* SHA-256 of a file's content; 0 or -errno. */
int hash_sha256_file(const char *path, uint8_t out[32], uint64_t *size);
/* The same from an open fd, read to its end (the caller closes it). */
int hash_sha256_fd(int fd, uint8_t out[32], uint64_t *size);
void hash_hex(const uint8_t *p, size_t n, char *out);  /* out: 2n+1 bytes */
int hash_unhex(const char *hex, uint8_t *out, size_t n); /* 0 or -EINVAL */
uint32_t hash_crc32(uint32_t crc, const void *p, size_t n); /* start with 0 */
/* CRC32C (Castagnoli), start with 0; the CPU's crc32 instruction when it
 * has one (picked once, at the first call), else a table. Thread-safe. */
uint32_t hash_crc32c(uint32_t crc, const void *p, size_t n);
uint32_t hash_crc32c_portable(uint32_t crc, const void *p, size_t n); /* table only, for tests */
int hash_crc32c_hardware(void);    /* 1 when hash_crc32c uses the instruction */
/* FILES_CRC32C (proto.txt 9): list extended by one file's CRC32C, written
 * as 4 bytes, most significant first. */
uint32_t hash_crc32c_fold(uint32_t list, uint32_t file_crc);
/* CRC32C of A || B from hash_crc32c(0, A) and hash_crc32c(0, B): ~1 us. */
uint32_t hash_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);
/* A piece of a longer run: *crc extended by p..p+n, and the piece's own
 * CRC32C returned, for a chunk's check to reuse (chunk_*_known). Worth it
 * from HASH_CRC32C_PIECE_MIN bytes: a combine costs what a 10 KiB pass does. */
#define HASH_CRC32C_PIECE_MIN (16u * 1024u)
uint32_t hash_crc32c_piece(uint32_t *crc, const void *p, size_t n);
void hash_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[32]);
int hash_equal(const uint8_t *a, const uint8_t *b, size_t n);  /* constant time, 1 if equal */
int hash_random(void *p, size_t n);                    /* 0 or -errno */
#endif
