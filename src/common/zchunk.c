/* zchunk.c — zlib-format deflate per upload chunk, and a streaming
 * deflate/inflate whose inflate side refuses decompression bombs before it
 * hands the excess to anyone. */
#include "zchunk.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define ZSTREAM_BUF (64 * 1024)
/* Outputs below this never count as a bomb: zlib's own headers make tiny
 * inputs look like huge ratios. */
#define ZSTREAM_RATIO_FLOOR (1024 * 1024)
#define ZPIECE_MAX 0x40000000u

struct zstream {
    z_stream s;
    int inflating;
    int ended;          /* inflate: stream end seen; deflate: finished */
    int broken;         /* a previous call failed; the stream is unusable */
    uint64_t max_ratio, max_total;
    uint64_t in, out;
    uint8_t buf[ZSTREAM_BUF];
};

size_t zchunk_bound(size_t n)
{
    /* compressBound plus room for the zlib header and trailer, computed in
     * size_t so it cannot wrap for big n. */
    return n + (n >> 12) + (n >> 14) + (n >> 25) + 13 + 6;
}

/* A deflate state is ~270 KiB that deflateInit allocates and deflateEnd
 * frees: per chunk, that was a malloc arena trimmed back to the kernel
 * (madvise, a TLB flush on every core) twice a chunk. Each thread keeps
 * one state per level and resets it instead. */
static pthread_key_t zkey;
static pthread_once_t zkey_once = PTHREAD_ONCE_INIT;
static int zkey_ok;

struct zcache {
    z_stream s[9];
    unsigned char live[9];
};

static void zcache_free(void *p)
{
    struct zcache *c = p;
    for (int i = 0; i < 9; i++)
        if (c->live[i]) deflateEnd(&c->s[i]);
    free(c);
}

static void zkey_make(void)
{
    zkey_ok = pthread_key_create(&zkey, zcache_free) == 0;
}

/* This thread's deflate state at level, ready for a new stream; NULL when
 * out of memory. */
static z_stream *zcache_get(int level)
{
    pthread_once(&zkey_once, zkey_make);
    if (!zkey_ok) return NULL;
    struct zcache *c = pthread_getspecific(zkey);
    if (!c) {
        if (!(c = calloc(1, sizeof *c))) return NULL;
        if (pthread_setspecific(zkey, c) != 0) { free(c); return NULL; }
    }
    z_stream *s = &c->s[level - 1];
    if (c->live[level - 1])
        return deflateReset(s) == Z_OK ? s : NULL;
    memset(s, 0, sizeof *s);
    if (deflateInit(s, level) != Z_OK) return NULL;
    c->live[level - 1] = 1;
    return s;
}

long zchunk_compress(const uint8_t *in, size_t n, uint8_t *out, size_t outcap, int level)
{
    z_stream *s;
    long rc;
    if (level < 1 || level > 9 || (!in && n) || !out || n > (size_t)LONG_MAX)
        return ZCHUNK_E_ARG;
    if (n <= 1)
        return 0;   /* nothing fits in fewer bytes than a zlib header */
    if (!(s = zcache_get(level)))
        return ZCHUNK_E_NOMEM;
    /* Output room is capped at n-1: running out means "not smaller". */
    size_t room = outcap < n - 1 ? outcap : n - 1;
    size_t in_left = n, out_left = room;
    s->next_in = (Bytef *)in;
    s->next_out = out;
    for (;;) {
        uInt ain = in_left > ZPIECE_MAX ? ZPIECE_MAX : (uInt)in_left;
        uInt aout = out_left > ZPIECE_MAX ? ZPIECE_MAX : (uInt)out_left;
        s->avail_in = ain;
        s->avail_out = aout;
        int flush = ain == in_left ? Z_FINISH : Z_NO_FLUSH;
        int zr = deflate(s, flush);
        in_left -= ain - s->avail_in;
        out_left -= aout - s->avail_out;
        if (zr == Z_STREAM_END) {
            rc = (long)(room - out_left);
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = ZCHUNK_E_DATA;
            break;
        }
        if (out_left == 0) {
            rc = 0;
            break;
        }
    }
    /* The state is reset at its next use; the caller's buffers are not
     * kept past this call. */
    s->next_in = s->next_out = NULL;
    return rc;
}

int zchunk_decompress(const uint8_t *in, size_t n, uint8_t *out, size_t raw_len)
{
    z_stream s;
    int rc = 0, zr;
    uint8_t probe[1];
    if ((!in && n) || (!out && raw_len) || n > ZPIECE_MAX || raw_len > ZPIECE_MAX)
        return ZCHUNK_E_ARG;
    memset(&s, 0, sizeof s);
    if (inflateInit(&s) != Z_OK)
        return ZCHUNK_E_NOMEM;
    s.next_in = (Bytef *)in;
    s.avail_in = (uInt)n;
    s.next_out = raw_len ? out : probe;
    s.avail_out = (uInt)raw_len;
    zr = inflate(&s, Z_FINISH);
    if (zr != Z_STREAM_END && s.avail_out == 0 && (zr == Z_OK || zr == Z_BUF_ERROR)) {
        /* Output full but the stream has not ended: one more byte of room
         * tells "ends exactly here" from "announced size too small". */
        s.next_out = probe;
        s.avail_out = 1;
        zr = inflate(&s, Z_FINISH);
        if (s.avail_out == 0) { rc = ZCHUNK_E_SIZE; goto out; }
    }
    if (zr == Z_MEM_ERROR) { rc = ZCHUNK_E_NOMEM; goto out; }
    if (zr != Z_STREAM_END) { rc = ZCHUNK_E_DATA; goto out; }
    if (s.total_out != raw_len) { rc = ZCHUNK_E_SIZE; goto out; }
    if (s.avail_in != 0) { rc = ZCHUNK_E_DATA; goto out; }
out:
    inflateEnd(&s);
    return rc;
}

static zstream *zstream_alloc(void)
{
    zstream *z = calloc(1, sizeof *z);
    return z;
}

zstream *zstream_deflate_new(int level)
{
    if (level < 0 || level > 9)
        return NULL;
    zstream *z = zstream_alloc();
    if (!z)
        return NULL;
    if (deflateInit(&z->s, level) != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

zstream *zstream_inflate_new(uint64_t max_ratio, uint64_t max_total)
{
    zstream *z = zstream_alloc();
    if (!z)
        return NULL;
    if (inflateInit(&z->s) != Z_OK) {
        free(z);
        return NULL;
    }
    z->inflating = 1;
    z->max_ratio = max_ratio;
    z->max_total = max_total;
    return z;
}

void zstream_free(zstream *z)
{
    if (!z)
        return;
    if (z->inflating)
        inflateEnd(&z->s);
    else
        deflateEnd(&z->s);
    free(z);
}

/* Would `more` extra output bytes break a cap? Checked before the sink
 * sees them, so a bomb's payload never reaches the consumer. */
static int over_cap(const zstream *z, uint64_t more)
{
    uint64_t out = z->out + more;
    if (z->max_total && out > z->max_total)
        return 1;
    if (z->max_ratio && out > ZSTREAM_RATIO_FLOOR && out / z->max_ratio > z->in)
        return 1;
    return 0;
}

static int deflate_feed(zstream *z, const uint8_t *in, size_t n, int finish,
                        zstream_sink sink, void *ctx)
{
    if (z->ended)
        return n ? ZCHUNK_E_ARG : 0;
    z->s.next_in = (Bytef *)in;
    for (;;) {
        uInt ain = n > ZPIECE_MAX ? ZPIECE_MAX : (uInt)n;
        z->s.avail_in = ain;
        z->s.next_out = z->buf;
        z->s.avail_out = ZSTREAM_BUF;
        int flush = finish && ain == n ? Z_FINISH : Z_NO_FLUSH;
        int zr = deflate(&z->s, flush);
        size_t used = ain - z->s.avail_in, made = ZSTREAM_BUF - z->s.avail_out;
        n -= used;
        z->in += used;
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
            return ZCHUNK_E_DATA;
        if (made) {
            int rc = sink(ctx, z->buf, made);
            if (rc < 0)
                return rc;
            z->out += made;
        }
        if (zr == Z_STREAM_END) {
            z->ended = 1;
            return 0;
        }
        /* Without finish, done once input is consumed and zlib had room
         * left (nothing pending in its window). */
        if (!finish && n == 0 && z->s.avail_out != 0)
            return 0;
    }
}

static int inflate_feed(zstream *z, const uint8_t *in, size_t n, int finish,
                        zstream_sink sink, void *ctx)
{
    if (z->ended)
        return n ? ZCHUNK_E_DATA : 0;   /* bytes after the stream end */
    z->s.next_in = (Bytef *)in;
    for (;;) {
        uInt ain = n > ZPIECE_MAX ? ZPIECE_MAX : (uInt)n;
        z->s.avail_in = ain;
        z->s.next_out = z->buf;
        z->s.avail_out = ZSTREAM_BUF;
        int zr = inflate(&z->s, Z_NO_FLUSH);
        size_t used = ain - z->s.avail_in, made = ZSTREAM_BUF - z->s.avail_out;
        n -= used;
        z->in += used;
        if (zr == Z_MEM_ERROR)
            return ZCHUNK_E_NOMEM;
        if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT || zr == Z_STREAM_ERROR)
            return ZCHUNK_E_DATA;
        if (made) {
            if (over_cap(z, made))
                return ZCHUNK_E_BOMB;
            int rc = sink(ctx, z->buf, made);
            if (rc < 0)
                return rc;
            z->out += made;
        }
        if (zr == Z_STREAM_END) {
            z->ended = 1;
            return n ? ZCHUNK_E_DATA : 0;
        }
        if (n == 0 && z->s.avail_out != 0)
            return finish ? ZCHUNK_E_DATA : 0;   /* finish: stream cut short */
    }
}

int zstream_feed(zstream *z, const uint8_t *in, size_t n, int finish, zstream_sink sink, void *ctx)
{
    int rc;
    if (!z || !sink || (!in && n))
        return ZCHUNK_E_ARG;
    if (z->broken)
        return z->broken;
    rc = z->inflating ? inflate_feed(z, in, n, finish, sink, ctx)
                      : deflate_feed(z, in, n, finish, sink, ctx);
    if (rc < 0)
        z->broken = rc;
    return rc;
}

uint64_t zstream_total_in(const zstream *z)
{
    return z ? z->in : 0;
}

uint64_t zstream_total_out(const zstream *z)
{
    return z ? z->out : 0;
}
