/* zchunk.h — zlib compression. Chunks of the upload stream are deflated
 * independently (so both cores can compress, a resumed stream restarts at
 * any chunk, and a bad chunk is caught alone); zstream is the general
 * streaming deflate/inflate with a decompression-bomb guard. */
#ifndef CLOUDAI_ZCHUNK_H
#define CLOUDAI_ZCHUNK_H
#include "err.h"   /* ZCHUNK_E_* codes: the zchunk band of the one error space */
#include <stddef.h>
#include <stdint.h>

/* Worst-case deflated size of n bytes. */
size_t zchunk_bound(size_t n);
/* Deflates in[0..n) as one zlib stream at level (1..9) into out. Returns
 * the deflated length, or 0 when it would not be smaller than n (caller
 * then sends the chunk stored), or a negative ZCHUNK_E_*. Thread-safe. */
long zchunk_compress(const uint8_t *in, size_t n, uint8_t *out, size_t outcap, int level);
/* Inflates exactly raw_len bytes (<= outcap) from in; any other size, or
 * trailing input, is an error. Thread-safe. */
int zchunk_decompress(const uint8_t *in, size_t n, uint8_t *out, size_t raw_len);

/* Streaming zlib. Owner: the caller; zstream_free releases everything. */
typedef struct zstream zstream;
/* level 0 = store (zlib stored blocks), 1..9 deflate. */
zstream *zstream_deflate_new(int level);
/* max_ratio: output/input bytes allowed (e.g. 1000); max_total: absolute
 * output cap (0 = none). */
zstream *zstream_inflate_new(uint64_t max_ratio, uint64_t max_total);
void zstream_free(zstream *z);
/* Feeds input; calls sink for every piece of output. finish=1 flushes the
 * end of the stream (deflate) / requires stream end (inflate). Returns 0,
 * a ZCHUNK_E_* code, or the sink's negative return. */
typedef int (*zstream_sink)(void *ctx, const uint8_t *p, size_t n);
int zstream_feed(zstream *z, const uint8_t *in, size_t n, int finish, zstream_sink sink, void *ctx);
uint64_t zstream_total_in(const zstream *z);
uint64_t zstream_total_out(const zstream *z);
#endif
