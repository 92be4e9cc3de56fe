/* zblock.h — a stored file packed on disk in independent zlib blocks
 * ([retention] compress_after_days), readable at any offset by inflating
 * only the blocks a read touches. The format (all integers little-endian):
 *
 *   0   8  magic "CAIZBLK1"
 *   8   4  block size B: input bytes per block (4 KiB .. 16 MiB)
 *   12  4  reserved, 0
 *   16  8  original size N
 *   24 32  SHA-256 of the original bytes
 *   56  4  reserved, 0
 *   60  4  CRC32 of bytes 0..59
 *   64     index: ceil(N/B) u64 entries, entry k = where block k's data
 *          ends, counted from the data start (64 + 8 * entries)
 *   ...    block k's data: its B (the last: the rest) original bytes as one
 *          zlib stream (zchunk_compress), or stored as they are when that
 *          would not be smaller (data length = original length)
 *
 * The file's size is the data start plus the last entry. A packed file in
 * the store is marked by the sticky bit (S_ISVTX), which extraction never
 * gives a task's file (modes are kept & 0777): a task cannot make its own
 * bytes read as packed, however they begin. Codes: the ZCHUNK band. */
#ifndef CLOUDAI_ZBLOCK_H
#define CLOUDAI_ZBLOCK_H
#include "err.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define ZBLOCK_HDR 64
#define ZBLOCK_DEFAULT_BLOCK (256u * 1024u)
#define ZBLOCK_MIN_BLOCK 4096u
#define ZBLOCK_MAX_BLOCK (16u * 1024u * 1024u)

typedef struct zblock_hdr {
    uint32_t block_size;
    uint64_t size;          /* original bytes */
    uint8_t sha256[32];     /* of the original bytes */
    uint64_t nblocks;
    uint64_t data_off;      /* 64 + 8 * nblocks */
} zblock_hdr;

/* Parses and checks the 64-byte header (magic, CRC, block size, sizes
 * that fit in a file). 0 or ZCHUNK_E_FORMAT. */
int zblock_parse_header(const uint8_t *p, size_t n, zblock_hdr *h);

/* 1 when st is a stored file the compressor packed (regular, sticky). */
static inline int zblock_marked(const struct stat *st)
{
    return S_ISREG(st->st_mode) && (st->st_mode & S_ISVTX);
}

/* A reader over a packed file. Owner: the caller (zblock_reader_free);
 * one thread at a time. Once it has read, it holds one block in and one
 * block out (an open that only wants the header allocates neither). */
typedef struct zblock_reader zblock_reader;
/* Reads n bytes at off of the packed file: n or -errno. */
typedef long (*zblock_pread_fn)(void *ctx, void *buf, size_t n, uint64_t off);
/* Over any source of file_size bytes (ctx must outlive the reader).
 * 0 with *out, or ZCHUNK_E_FORMAT / ZCHUNK_E_NOMEM / -errno. */
int zblock_reader_new(zblock_pread_fn rd, void *ctx, uint64_t file_size, zblock_reader **out);
/* Over fd (borrowed: the caller closes it after the reader). */
int zblock_reader_fd(int fd, zblock_reader **out);
const zblock_hdr *zblock_reader_hdr(const zblock_reader *r);
/* Exactly n original bytes at off (off + n <= size). 0, ZCHUNK_E_FORMAT
 * for an index entry out of place, ZCHUNK_E_DATA / ZCHUNK_E_SIZE for a
 * block that does not inflate to its size, or -errno. */
int zblock_read(zblock_reader *r, uint64_t off, void *buf, size_t n);
void zblock_reader_free(zblock_reader *r);

/* Packs size bytes of in_fd (from offset 0) into out_fd (empty, written
 * from offset 0) in blocks of block_size at zlib level. sha_out gets the
 * SHA-256 of what was read, *packed the packed file's size. Memory: two
 * blocks. probe > 0: once that many bytes are in, give up (return 1,
 * out_fd half-written) unless they shrank by at least 1/32, so data
 * that does not compress costs a probe, not a pass. 0, 1, ZCHUNK_E_* or
 * -errno (ZCHUNK_E_SIZE: in_fd was not size bytes long). */
int zblock_pack(int in_fd, uint64_t size, int out_fd, uint32_t block_size, int level,
                uint64_t probe, uint8_t sha_out[32], uint64_t *packed);
/* Reads the whole packed file through a reader and checks what it
 * inflates to against sha256 and the header's own. 0, ZCHUNK_E_DATA on a
 * mismatch, or the read's code. */
int zblock_verify(int fd, const uint8_t sha256[32]);
#endif
