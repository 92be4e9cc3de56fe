/* chunk.h — a logical byte stream (a ustar archive) cut into FILE_CHUNK
 * frames and put back together (proto.txt "File streams"). The sender
 * buffers at most one chunk (PROTO_CHUNK_MAX) and deflates each chunk on its
 * own, storing it when deflate does not shrink it; the receiver checks
 * sequence, offset and checksum (CRC32 or CRC32C) of every chunk, and at
 * the end either the SHA-256 of the whole stream or, for a worker's output
 * upload in protocol version 2, the digest of the files' SHA-256s
 * (FILES_SHA256), which the extractor computes anyway. Memory is bounded by a few chunks whatever the stream's size.
 * A chunk_tx / chunk_rx belongs to one thread (a chunk_tx of more than one
 * chunk runs a private helper thread, from its first full chunk on, that
 * deflates chunks in parallel with the caller; frames are still sent in
 * order, from the caller's thread only). */
#ifndef CLOUDAI_CHUNK_H
#define CLOUDAI_CHUNK_H
#include "err.h"   /* CHUNK_E_* codes: the chunk band of the one error space */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "hash.h"
#include "proto.h"

typedef int (*chunk_send_fn)(void *ctx, proto_buf *frame);

/* A stretch of a chunk whose CRC32C (hash_crc32c(0, ...)) a consumer or
 * producer took anyway (a file's own): the chunk's is made from them and
 * a pass over the rest instead of a pass of its own. */
#define CHUNK_KNOWN_MAX 16
typedef struct chunk_known {
    size_t off, n;
    uint32_t crc;
} chunk_known;

/* What a sender's adaptive deflate share learned about its link (which
 * share of chunks is worth deflating, and how many chunks to wait before
 * asking again), carried from one stream to the next over that link: a
 * stream that starts from nothing spends its first exploration deflating
 * chunks a fast link does not need deflated, about a tenth of the time of
 * a 45 MiB upload of small files on loopback. Streams on several threads
 * may share one. */
typedef struct chunk_tune {
    pthread_mutex_t mu;
    int known;                /* a stream has decided something */
    int share, dir;
    uint64_t gap;
} chunk_tune;

void chunk_tune_init(chunk_tune *k);
void chunk_tune_destroy(chunk_tune *k);

typedef struct chunk_tx {
    char task_id[64];
    uint64_t offset;          /* logical bytes taken so far */
    uint64_t skip;            /* resume: bytes below this are hashed, not sent */
    uint64_t seq;
    uint64_t total;           /* announced TOTAL_SIZE */
    uint64_t wire_bytes;      /* DATA bytes sent */
    int level;                /* 0 store, 1..9 */
    uint8_t *raw;
    size_t rawlen;
    hash_sha256 sha;
    proto_buf frame;
    /* first-chunk fields (offset 0) */
    const char *task_name, *user_id;
    uint64_t submitted_at;
    chunk_send_fn send;
    void *ctx;
    /* Added: the 2-thread deflate pipeline and its adaptive policy
     * (chunk.c); NULL when running on one thread. */
    struct chunk_pipe *pipe;
    uint64_t stored_chunks, deflated_chunks;   /* statistics */
    int crc32c;               /* chunks carry CRC32C, not CRC32 (chunk_tx_v2) */
    int files;                /* FILE_END carries FILES_SHA256 or FILES_CRC32C:
                                 no stream hash */
    int nknown;               /* chunk_tx_known, for the chunk being filled */
    chunk_known known[CHUNK_KNOWN_MAX];
} chunk_tx;

/* total: the exact stream size; skip: resume offset (a multiple of
 * PROTO_CHUNK_MAX, as the receiver only acknowledges whole chunks). */
int chunk_tx_init(chunk_tx *t, const char *task_id, uint64_t total, uint64_t skip,
                  int level, chunk_send_fn send, void *ctx);
/* Before the first write: start from what k learned, and leave in k what
 * this stream learns (k must outlive t). */
void chunk_tx_tune(chunk_tx *t, chunk_tune *k);
/* tar_sink-compatible: takes stream bytes. */
int chunk_tx_write(void *t, const uint8_t *p, size_t n);
/* tar_reserve_fn-compatible: where the next stream bytes go (*avail of them
 * before the chunk is full); chunk_tx_write of that pointer copies nothing. */
uint8_t *chunk_tx_reserve(void *t, size_t *avail);
/* tar_known_fn-compatible: p..p+n, with CRC32C crc, are the next bytes
 * chunk_tx_write will take, read in place (chunk_tx_reserve); a stored
 * chunk's CRC32C then reuses crc. Anything else is ignored. */
void chunk_tx_known(void *t, const uint8_t *p, size_t n, uint32_t crc);
/* Flushes the last chunk and sends FILE_END. CHUNK_E_SIZE if the stream
 * was not exactly `total` bytes. */
int chunk_tx_finish(chunk_tx *t);
/* Protocol version 2 (proto.txt 9), before the first write: chunks carry
 * CRC32C. files = 1: the stream is not hashed, and chunk_tx_finish_files
 * ends it with FILES_SHA256 (the caller's digest of the files' SHA-256s,
 * see tar_write_opts.files_sha256) instead of the stream's SHA256. */
void chunk_tx_v2(chunk_tx *t, int files);
int chunk_tx_finish_files(chunk_tx *t, const uint8_t files_sha256[32]);
/* Version 3: as version 2, ended with FILES_CRC32C (tar_write_opts.files_crc32c). */
int chunk_tx_finish_crc(chunk_tx *t, uint32_t files_crc32c);
void chunk_tx_free(chunk_tx *t);

typedef int (*chunk_out_fn)(void *ctx, const uint8_t *p, size_t n);

typedef struct chunk_rx {
    char task_id[64];
    uint64_t offset, seq, total;
    uint8_t *raw;
    hash_sha256 sha;
    chunk_out_fn out;
    void *ctx;
    int files;                /* chunk_rx_expect_files: 1 SHA-256, 2 CRC32C */
    uint8_t files_sha256[32]; /* FILE_END's FILES_SHA256, after chunk_rx_end */
    uint32_t files_crc32c;    /* FILE_END's FILES_CRC32C (files == 2) */
    int inflated;             /* out's bytes are in raw, not in the frame */
    int defer_crc;            /* chunk_rx_defer_crc */
    const uint8_t *kbase;     /* the chunk's bytes while out runs (deferred check) */
    size_t klen;
    int nknown;
    chunk_known known[CHUNK_KNOWN_MAX];
    char err[256];
} chunk_rx;

int chunk_rx_init(chunk_rx *r, const char *task_id, chunk_out_fn out, void *ctx);
/* One FILE_CHUNK: checks, inflates, hashes and passes the bytes to out. */
int chunk_rx_chunk(chunk_rx *r, const proto_msg *m);
/* FILE_END: byte count and SHA-256. */
int chunk_rx_end(chunk_rx *r, const proto_msg *m);
/* Before the first chunk: FILE_END must carry FILES_SHA256, which
 * chunk_rx_end copies to r->files_sha256 for the caller to compare with
 * the digest of what it extracted; the stream itself is not hashed. */
void chunk_rx_expect_files(chunk_rx *r);
/* Version 3: as chunk_rx_expect_files, with FILES_CRC32C in r->files_crc32c. */
/* The consumer computes the CRC32C of big pieces of each chunk anyway (a
 * file's own) and reports them with chunk_rx_known while out runs: a
 * stored chunk's CRC32C is then checked after out, from those and a pass
 * over the rest, instead of in a pass of its own before. So out sees bytes
 * not yet checked, and a mismatch fails the chunk with CHUNK_E_CRC
 * whatever out returned: out's effects must be undone when a chunk fails
 * (an upload is dropped whole). */
void chunk_rx_defer_crc(chunk_rx *r);
/* p..p+n within the chunk out was given, reported in stream order, crc
 * its hash_crc32c(0, p, n); anything else is ignored. */
void chunk_rx_known(chunk_rx *r, const uint8_t *p, size_t n, uint32_t crc);
void chunk_rx_expect_files_crc(chunk_rx *r);
void chunk_rx_free(chunk_rx *r);
#endif
