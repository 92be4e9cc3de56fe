/* test_chunk.c — chunk_tx → chunk_rx round trips through the 2-thread
 * deflate pipeline: every arm (stored, deflated, probed-and-stored), short
 * and multi-chunk streams, resume offsets, a failing send, a wrong size;
 * protocol version 2 (CRC32C, FILES_SHA256) and the checksum fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "chunk.h"
#include "t.h"
#include "tar.h"
#include "tarfix.h"

typedef struct sink {
    chunk_rx rx;
    uint8_t *got;
    size_t len, cap;
    int frames, deflated, rx_rc, fail_after;
    int crc32_frames, crc32c_frames, end_sha, end_files, corrupt_seq;
    char first_err[256];
} sink;

static int sink_out(void *ctx, const uint8_t *p, size_t n)
{
    sink *s = ctx;
    if (s->len + n > s->cap) return -1;
    memcpy(s->got + s->len, p, n);
    s->len += n;
    return 0;
}

static int sink_send(void *ctx, proto_buf *b)
{
    sink *s = ctx;
    proto_msg m;
    uint32_t len;
    uint16_t type, flags;
    uint64_t rl;
    if (s->fail_after >= 0 && s->frames >= s->fail_after) return -1;
    s->frames++;
    if (proto_finish(b) < 0 || proto_header(b->p, PROTO_PAYLOAD_MAX, &len, &type, &flags) < 0 ||
        proto_decode(&m, type, flags, b->p + PROTO_HDR_LEN, len) < 0) {
        s->rx_rc = -100;
        return 0;
    }
    if (type == PROTO_FILE_CHUNK) {
        uint64_t v, seq = 0;
        proto_field f;
        if (proto_u64(&m, T_RAW_LEN, &rl) == 0) s->deflated++;
        if (proto_u64(&m, T_CRC32, &v) == 0) s->crc32_frames++;
        if (proto_u64(&m, T_CRC32C, &v) == 0) s->crc32c_frames++;
        proto_u64(&m, T_SEQ, &seq);
        /* A byte flipped on the way, after the sender's checksum. */
        if (s->corrupt_seq > 0 && seq == (uint64_t)s->corrupt_seq && proto_get(&m, T_DATA, &f) == 0)
            ((uint8_t *)f.p)[f.len / 2] ^= 0x10;
        int rc = chunk_rx_chunk(&s->rx, &m);
        if (rc < 0 && !s->rx_rc) {
            s->rx_rc = rc;
            snprintf(s->first_err, sizeof s->first_err, "%s", s->rx.err);
        }
    } else if (type == PROTO_FILE_END) {
        proto_field f;
        s->end_sha += proto_get(&m, T_SHA256, &f) == 0;
        s->end_files += proto_get(&m, T_FILES_SHA256, &f) == 0;
        int rc = chunk_rx_end(&s->rx, &m);
        if (rc < 0 && !s->rx_rc) s->rx_rc = rc;
    }
    return 0;
}

/* A sink taking up to cap stream bytes into a fresh receiver. */
static void sink_open(sink *s, size_t cap)
{
    memset(s, 0, sizeof *s);
    s->fail_after = -1;
    s->cap = cap;
    s->got = malloc(cap ? cap : 1);
    T_CHECK(chunk_rx_init(&s->rx, "task-1", sink_out, s) == 0);
}

static uint64_t rs = 12345;
static uint8_t rnd8(void)
{
    rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
    return (uint8_t)(rs >> 24);
}

enum { RANDOM, TEXT, ZEROS, MIXED };
static uint8_t *make(size_t n, int kind)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        int k = kind == MIXED ? (int)((i / PROTO_CHUNK_MAX) % 3) : kind;
        p[i] = k == RANDOM ? rnd8() : k == TEXT ? (uint8_t)("log line: ok 42\n"[i % 16] + (rnd8() % 64 == 0))
                                                : 0;
    }
    return p;
}

static chunk_tune *rt_tune;   /* round_trip's streams share it when set */

/* Sends data in uneven writes; returns the sink state (rx checked). */
static int round_trip(const uint8_t *data, size_t n, int level, uint64_t skip, sink *s)
{
    chunk_tx tx;
    memset(s, 0, sizeof *s);
    s->fail_after = -1;
    s->cap = n + 1;
    s->got = malloc(s->cap);
    T_CHECK(chunk_rx_init(&s->rx, "task-1", sink_out, s) == 0);
    s->rx.offset = skip - skip % PROTO_CHUNK_MAX;
    s->rx.seq = s->rx.offset / PROTO_CHUNK_MAX;
    T_CHECK(chunk_tx_init(&tx, "task-1", n, skip, level, sink_send, s) == 0);
    chunk_tx_tune(&tx, rt_tune);
    int rc = 0;
    for (size_t off = 0, step = 777; off < n && rc == 0; off += step, step = step * 3 % 400009 + 1) {
        size_t k = n - off < step ? n - off : step;
        rc = chunk_tx_write(&tx, data + off, k);
    }
    if (rc == 0) rc = chunk_tx_finish(&tx);
    chunk_tx_free(&tx);
    chunk_rx_free(&s->rx);
    return rc;
}

static void check_kind(int kind, size_t n, int level)
{
    sink s;
    uint8_t *d = make(n, kind);
    T_EQ_INT(round_trip(d, n, level, 0, &s), 0);
    T_EQ_INT(s.rx_rc, 0);
    T_EQ_INT(s.len, n);
    T_CHECK(n == 0 || memcmp(s.got, d, n) == 0);
    T_EQ_INT(s.frames, (int)((n + PROTO_CHUNK_MAX - 1) / PROTO_CHUNK_MAX) + 1);
    if (kind == RANDOM || level == 0) T_EQ_INT(s.deflated, 0);
    free(s.got);
    free(d);
}

static void test_short_streams(void)
{
    check_kind(TEXT, 0, 1);
    check_kind(TEXT, 1, 1);
    check_kind(TEXT, 1000, 6);
    check_kind(RANDOM, PROTO_CHUNK_MAX, 1);
    check_kind(ZEROS, PROTO_CHUNK_MAX + 1, 1);
}

static void test_long_streams(void)
{
    /* Long enough for the arm explorations to run several times. */
    check_kind(TEXT, 40 * (size_t)PROTO_CHUNK_MAX + 12345, 1);
    check_kind(RANDOM, 20 * (size_t)PROTO_CHUNK_MAX + 3, 1);
    check_kind(MIXED, 30 * (size_t)PROTO_CHUNK_MAX, 1);
    check_kind(MIXED, 9 * (size_t)PROTO_CHUNK_MAX, 0);
}

static void test_text_gets_deflated_when_explored(void)
{
    sink s;
    size_t n = 24 * (size_t)PROTO_CHUNK_MAX;
    uint8_t *d = make(n, ZEROS);
    T_EQ_INT(round_trip(d, n, 1, 0, &s), 0);
    T_EQ_INT(s.rx_rc, 0);
    /* At least the first exploration (a quarter of 12 chunks) deflates;
     * zeros never fail the probe. */
    T_CHECK(s.deflated >= 3);
    free(s.got);
    free(d);
}

/* What one stream learned is where the next over the same link starts:
 * a share confirmed as storing is not explored again in a short stream,
 * and one that deflates deflates from the first chunk. */
static void test_tune_carries(void)
{
    chunk_tune k;
    sink s;
    size_t n = 40 * (size_t)PROTO_CHUNK_MAX;
    uint8_t *d = make(n, ZEROS);
    chunk_tune_init(&k);
    rt_tune = &k;
    T_EQ_INT(round_trip(d, 24 * (size_t)PROTO_CHUNK_MAX, 1, 0, &s), 0);
    T_EQ_INT(s.rx_rc, 0);
    T_CHECK(s.deflated >= 3);            /* it explored, as without a tune */
    free(s.got);
    T_EQ_INT(k.known, 1);
    T_EQ_INT(k.gap, 24);                 /* the first decision: 2 x 12 either way */

    k.share = 0;                         /* storing, confirmed for a while */
    k.dir = 1;
    k.gap = 256;
    T_EQ_INT(round_trip(d, n, 1, 0, &s), 0);
    T_EQ_INT(s.rx_rc, 0);
    T_EQ_INT(s.len, n);
    T_EQ_INT(s.deflated, 0);             /* 40 chunks: no exploration */
    free(s.got);

    k.share = 4;                         /* a slow link: deflate everything */
    k.dir = -1;
    T_EQ_INT(round_trip(d, 20 * (size_t)PROTO_CHUNK_MAX, 1, 0, &s), 0);
    T_EQ_INT(s.rx_rc, 0);
    T_EQ_INT(s.deflated, 20);
    T_CHECK(memcmp(s.got, d, 20 * (size_t)PROTO_CHUNK_MAX) == 0);
    free(s.got);

    k.share = 0;                         /* asked again after 24 chunks */
    k.gap = 24;
    T_EQ_INT(round_trip(d, n, 1, 0, &s), 0);
    T_EQ_INT(s.rx_rc, 0);
    T_CHECK(s.deflated >= 3);
    T_CHECK(k.gap >= 24);
    free(s.got);
    rt_tune = NULL;
    chunk_tune_destroy(&k);
    free(d);
}

static void test_resume(void)
{
    sink s;
    size_t n = 5 * (size_t)PROTO_CHUNK_MAX + 99;
    uint8_t *d = make(n, MIXED);
    T_EQ_INT(round_trip(d, n, 1, 2 * (uint64_t)PROTO_CHUNK_MAX + 10, &s), 0);
    if (s.rx_rc != CHUNK_E_SHA) printf("# %s\n", s.rx.err);
    T_EQ_INT(s.rx_rc, CHUNK_E_SHA);      /* rx saw only the tail: sha differs */
    T_EQ_INT(s.len, n - 2 * (size_t)PROTO_CHUNK_MAX);
    T_CHECK(memcmp(s.got, d + 2 * (size_t)PROTO_CHUNK_MAX, s.len) == 0);
    T_EQ_INT(s.frames, 4 + 1);
    free(s.got);
    free(d);
}

static void test_send_failure_and_size(void)
{
    chunk_tx tx;
    sink s;
    size_t n = 6 * (size_t)PROTO_CHUNK_MAX;
    uint8_t *d = make(n, TEXT);
    memset(&s, 0, sizeof s);
    s.fail_after = 2;
    s.cap = n;
    s.got = malloc(n);
    T_CHECK(chunk_rx_init(&s.rx, "task-1", sink_out, &s) == 0);
    T_CHECK(chunk_tx_init(&tx, "task-1", n, 0, 1, sink_send, &s) == 0);
    int rc = chunk_tx_write(&tx, d, n);
    if (rc == 0) rc = chunk_tx_finish(&tx);
    T_EQ_INT(rc, CHUNK_E_SEND);
    chunk_tx_free(&tx);
    chunk_rx_free(&s.rx);
    /* Announced size differs from the bytes written. */
    s.fail_after = -1;
    s.frames = 0;
    T_CHECK(chunk_tx_init(&tx, "task-1", n + 1, 0, 1, sink_send, &s) == 0);
    T_CHECK(chunk_rx_init(&s.rx, "task-1", sink_out, &s) == 0);
    s.len = 0;
    T_EQ_INT(chunk_tx_write(&tx, d, n), 0);
    T_EQ_INT(chunk_tx_finish(&tx), CHUNK_E_SIZE);
    chunk_tx_free(&tx);
    chunk_rx_free(&s.rx);
    free(s.got);
    free(d);
}

/* Protocol version 2: CRC32C chunks, no stream hash, FILES_SHA256 handed
 * through; a corrupted chunk is still caught; each side refuses the
 * other mode's ending. */
static void test_v2(void)
{
    size_t n = 3 * (size_t)PROTO_CHUNK_MAX + 99;
    uint8_t *d = make(n, MIXED), digest[32];
    for (int i = 0; i < 32; i++) digest[i] = (uint8_t)(i * 7 + 1);
    for (int round = 0; round < 4; round++) {
        chunk_tx tx;
        sink s;
        sink_open(&s, n);
        s.corrupt_seq = round == 1 ? 2 : 0;
        if (round != 2) chunk_rx_expect_files(&s.rx);
        T_CHECK(chunk_tx_init(&tx, "task-1", n, 0, 1, sink_send, &s) == 0);
        chunk_tx_v2(&tx, round != 3);
        T_EQ_INT(chunk_tx_write(&tx, d, n), 0);
        int rc = round == 3 ? chunk_tx_finish(&tx) : chunk_tx_finish_files(&tx, digest);
        T_EQ_INT(rc, 0);
        T_EQ_INT(s.crc32_frames, 0);
        T_EQ_INT(s.crc32c_frames, 4);
        if (round == 0) {           /* the happy path */
            T_EQ_INT(s.rx_rc, 0);
            T_EQ_INT(s.len, n);
            T_CHECK(memcmp(s.got, d, n) == 0);
            T_EQ_INT(s.end_files, 1);
            T_EQ_INT(s.end_sha, 0);
            T_CHECK(memcmp(s.rx.files_sha256, digest, 32) == 0);
        } else if (round == 1) {    /* a flipped byte */
            T_EQ_INT(s.rx_rc, CHUNK_E_CRC);
            T_CHECK(strstr(s.first_err, "chunk 2: CRC32C mismatch") != NULL);
        } else {                    /* FILES_SHA256 where SHA256 is due, and back */
            T_EQ_INT(s.rx_rc, CHUNK_E_SHA);
        }
        chunk_tx_free(&tx);
        chunk_rx_free(&s.rx);
        free(s.got);
    }
    /* The wrong finish for the mode is refused before anything is sent. */
    chunk_tx tx;
    sink s;
    memset(&s, 0, sizeof s);
    s.fail_after = -1;
    T_CHECK(chunk_tx_init(&tx, "task-1", 0, 0, 1, sink_send, &s) == 0);
    chunk_tx_v2(&tx, 1);
    T_EQ_INT(chunk_tx_finish(&tx), CHUNK_E_SHA);
    chunk_tx_free(&tx);
    T_CHECK(chunk_tx_init(&tx, "task-1", 0, 0, 1, sink_send, &s) == 0);
    T_EQ_INT(chunk_tx_finish_files(&tx, digest), CHUNK_E_SHA);
    chunk_tx_free(&tx);
    free(d);
}

/* A chunk with neither checksum is refused; one with both needs both. */
static void test_checksum_fields(void)
{
    chunk_rx rx;
    proto_buf b;
    proto_msg m;
    uint32_t len;
    uint16_t type, flags;
    const char *data = "hello";
    for (int k = 0; k < 4; k++) {
        proto_buf_init(&b);
        T_CHECK(chunk_rx_init(&rx, "t", NULL, NULL) == 0);
        proto_begin(&b, PROTO_FILE_CHUNK, 0);
        proto_put_str(&b, T_TASK_ID, "t");
        proto_put_u64(&b, T_SEQ, 0);
        proto_put_u64(&b, T_OFFSET, 0);
        if (k == 1 || k == 3) proto_put_u64(&b, T_CRC32, hash_crc32(0, data, 5));
        if (k == 2) proto_put_u64(&b, T_CRC32C, hash_crc32c(0, data, 5));
        if (k == 3) proto_put_u64(&b, T_CRC32C, hash_crc32(0, data, 5));   /* wrong one */
        proto_put_bytes(&b, T_DATA, data, 5);
        T_CHECK(proto_finish(&b) == 0 && proto_header(b.p, PROTO_PAYLOAD_MAX, &len, &type, &flags) == 0);
        T_CHECK(proto_decode(&m, type, flags, b.p + PROTO_HDR_LEN, len) == 0);
        T_EQ_INT(chunk_rx_chunk(&rx, &m), k == 1 || k == 2 ? 0 : CHUNK_E_CRC);
        chunk_rx_free(&rx);
        proto_buf_free(&b);
    }
}

/* chunk_rx_defer_crc: the chunk's CRC32C checked after out, from the
 * pieces out reported and a pass over the rest. A flipped byte inside a
 * reported piece or between them, or a wrong report, fails the chunk
 * even when out accepted it; a damaged chunk that out refused is still a
 * CRC failure; reports out of range or out of order are ignored. */
typedef struct kout {
    chunk_rx *rx;
    int mode;        /* 0 honest, 1 a wrong CRC for the 2nd piece, 2 bogus ranges too */
    int fail;        /* out's return */
    size_t seen;
} kout;

static int known_out(void *ctx, const uint8_t *p, size_t n)
{
    kout *k = ctx;
    static const uint8_t other[8];
    k->seen += n;
    if (k->mode == 2) {
        chunk_rx_known(k->rx, other, sizeof other, 0);           /* not in the chunk */
        chunk_rx_known(k->rx, p + n - 10, 20, 0);                /* runs past its end */
    }
    /* pieces at 100..70100 and 200000..n-3 */
    chunk_rx_known(k->rx, p + 100, 70000, hash_crc32c(0, p + 100, 70000));
    uint32_t c = hash_crc32c(0, p + 200000, n - 200003);
    chunk_rx_known(k->rx, p + 200000, n - 200003, k->mode == 1 ? c ^ 1 : c);
    if (k->mode == 2)
        chunk_rx_known(k->rx, p + 50, 10, hash_crc32c(0, p + 50, 10));  /* before the last */
    return k->fail;
}

static void test_deferred_crc(void)
{
    size_t n = PROTO_CHUNK_MAX;
    uint8_t *d = make(n, RANDOM);
    /* damage at: nowhere, in a piece, between pieces, in the tail */
    static const long flips[] = { -1, 150, 100000, (long)PROTO_CHUNK_MAX - 1 };
    for (int mode = 0; mode < 3; mode++)
        for (size_t f = 0; f < sizeof flips / sizeof flips[0]; f++)
            for (int fail = 0; fail < 2; fail++) {
                chunk_rx rx;
                kout k = { &rx, mode, fail ? TAR_E_FORMAT : 0, 0 };
                proto_buf b;
                proto_msg m;
                uint32_t len;
                uint16_t type, flags;
                T_CHECK(chunk_rx_init(&rx, "t", known_out, &k) == 0);
                chunk_rx_defer_crc(&rx);
                proto_buf_init(&b);
                proto_begin(&b, PROTO_FILE_CHUNK, 0);
                proto_put_str(&b, T_TASK_ID, "t");
                proto_put_u64(&b, T_SEQ, 0);
                proto_put_u64(&b, T_OFFSET, 0);
                proto_put_u64(&b, T_CRC32C, hash_crc32c(0, d, n));
                proto_put_bytes(&b, T_DATA, d, n);
                T_CHECK(proto_finish(&b) == 0 && proto_header(b.p, PROTO_PAYLOAD_MAX, &len, &type, &flags) == 0);
                T_CHECK(proto_decode(&m, type, flags, b.p + PROTO_HDR_LEN, len) == 0);
                if (flips[f] >= 0) {
                    proto_field fd;
                    T_CHECK(proto_get(&m, T_DATA, &fd) == 0);
                    ((uint8_t *)fd.p)[flips[f]] ^= 0x10;
                }
                int want = flips[f] >= 0 || mode == 1 ? CHUNK_E_CRC : fail ? TAR_E_FORMAT : 0;
                int rc = chunk_rx_chunk(&rx, &m);
                if (rc != want) printf("# mode %d flip %ld fail %d: %d, want %d\n", mode, flips[f], fail, rc, want);
                T_EQ_INT(rc, want);
                T_EQ_INT(k.seen, n);     /* out saw the bytes before the check */
                chunk_rx_free(&rx);
                proto_buf_free(&b);
            }
    free(d);
}

/* chunk_tx_known: a stored chunk's CRC32C is made from the reported
 * CRCs (a wrong report shows as the receiver's mismatch: it is used, not
 * recomputed); a report that is not the next bytes in place is ignored. */
static void test_tx_known(void)
{
    size_t n = 2 * (size_t)PROTO_CHUNK_MAX;
    uint8_t *d = make(n, RANDOM);
    for (int lie = 0; lie < 3; lie++) {
        chunk_tx tx;
        sink s;
        sink_open(&s, n);
        T_CHECK(chunk_tx_init(&tx, "task-1", n, 0, 0, sink_send, &s) == 0);
        chunk_tx_v2(&tx, 0);
        for (size_t off = 0; off < n;) {
            size_t cap;
            uint8_t *room = chunk_tx_reserve(&tx, &cap);
            size_t k = cap < 300000 ? cap : 300000;
            if (k > n - off) k = n - off;
            memcpy(room, d + off, k);
            uint32_t c = hash_crc32c(0, room, k);
            if (lie == 1 && off == 0) c ^= 1;
            /* lie 2: a report for bytes not in place, wrong, ignored */
            if (lie == 2) chunk_tx_known(&tx, d + off, k, c ^ 1);
            else chunk_tx_known(&tx, room, k, c);
            T_EQ_INT(chunk_tx_write(&tx, room, k), 0);
            off += k;
        }
        T_EQ_INT(chunk_tx_finish(&tx), 0);
        T_EQ_INT(s.rx_rc, lie == 1 ? CHUNK_E_CRC : 0);
        if (lie != 1) T_CHECK(s.len == n && memcmp(s.got, d, n) == 0);
        chunk_tx_free(&tx);
        chunk_rx_free(&s.rx);
        free(s.got);
    }
    free(d);
}

/* Bytes read in place (chunk_tx_reserve, as the tar writer does) mixed
 * with copied ones: stored chunks go out as header + the slot's own bytes
 * (the largest header the tag limits allow included), deflated ones as
 * before, resumed streams from their chunk. */
static void test_in_place(void)
{
    size_t n = 6 * (size_t)PROTO_CHUNK_MAX + 777;
    uint8_t *d = make(n, MIXED);
    char name[129], user[65];
    memset(name, 'n', 128); name[128] = 0;
    memset(user, 'u', 64); user[64] = 0;
    for (int round = 0; round < 4; round++) {
        int level = round & 1;
        uint64_t skip = round >= 2 ? 2 * (uint64_t)PROTO_CHUNK_MAX + 10 : 0;
        uint64_t from = skip - skip % PROTO_CHUNK_MAX;
        chunk_tx tx;
        sink s;
        sink_open(&s, n);
        chunk_rx_expect_files_crc(&s.rx);
        s.rx.offset = from;
        s.rx.seq = from / PROTO_CHUNK_MAX;
        T_CHECK(chunk_tx_init(&tx, "task-1", n, skip, level, sink_send, &s) == 0);
        chunk_tx_v2(&tx, 1);
        tx.task_name = name;
        tx.user_id = user;
        tx.submitted_at = 1;
        int rc = 0, copied = 0;
        for (size_t off = 0, step = 511; off < n && rc == 0; step = step * 7 % 300007 + 1) {
            size_t k = n - off < step ? n - off : step;
            if (copied ^= 1) {           /* a tar header's worth, copied */
                k = k < 512 ? k : 512;
                rc = chunk_tx_write(&tx, d + off, k);
            } else {                     /* file data, read in place */
                size_t avail = 0;
                uint8_t *dst = chunk_tx_reserve(&tx, &avail);
                T_CHECK(avail >= 1 && avail <= PROTO_CHUNK_MAX);
                k = k < avail ? k : avail;
                memcpy(dst, d + off, k);
                rc = chunk_tx_write(&tx, dst, k);
            }
            off += k;
        }
        T_EQ_INT(rc, 0);
        T_EQ_INT(chunk_tx_finish_crc(&tx, 7), 0);
        T_EQ_INT(s.rx_rc, 0);
        T_EQ_INT(s.len, n - from);
        T_CHECK(memcmp(s.got, d + from, n - from) == 0);
        T_EQ_INT(s.frames, (int)((n - from + PROTO_CHUNK_MAX - 1) / PROTO_CHUNK_MAX) + 1);
        if (level == 0) T_EQ_INT(s.deflated, 0);
        chunk_tx_free(&tx);
        chunk_rx_free(&s.rx);
        free(s.got);
    }
    free(d);
}

static int tb_sink(void *ctx, const uint8_t *p, size_t n)
{
    tb_put(ctx, p, n);
    return 0;
}

/* The tar writer reading into chunk_tx's slots writes the same archive as
 * into its own buffer: files of every size around the chunk and read
 * sizes, one file larger than a chunk. */
static void test_tar_in_place(void)
{
    char dir[] = "/tmp/cloudai-chunk-XXXXXX";
    T_CHECK(mkdtemp(dir) != NULL);
    size_t sizes[] = { 0, 1, 511, 512, 4097, 262143, 262145, PROTO_CHUNK_MAX - 1,
                       PROTO_CHUNK_MAX + 1, 3 * (size_t)PROTO_CHUNK_MAX + 5 };
    size_t nsizes = sizeof sizes / sizeof sizes[0];
    for (size_t i = 0; i < nsizes; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/f%02zu", dir, i);
        uint8_t *d = make(sizes[i], RANDOM);
        FILE *f = fopen(path, "wb");
        T_CHECK(f && fwrite(d, 1, sizes[i], f) == sizes[i] && fclose(f) == 0);
        free(d);
    }
    tbuf want = { 0 };
    char err[256];
    uint32_t crc_want = 0, crc_got = 1;
    tar_write_opts o = { NULL, NULL, NULL, NULL, NULL, &crc_want, NULL, NULL };
    tar_stats st;
    T_EQ_INT(tar_write_dir_opts(dir, &o, tb_sink, &want, &st, err, sizeof err), 0);
    /* known: the writer hands each big piece's CRC32C to chunk_tx_known,
     * which the stored chunks' CRC32C is then made from (the receiver
     * checks every chunk's in a pass of its own). */
    for (int round = 0; round < 4; round++) {
        int level = round & 1, known = round >> 1;
        chunk_tx tx;
        sink s;
        sink_open(&s, want.len);
        chunk_rx_expect_files_crc(&s.rx);
        T_CHECK(chunk_tx_init(&tx, "task-1", want.len, 0, level, sink_send, &s) == 0);
        chunk_tx_v2(&tx, 1);
        tar_write_opts oi = { NULL, NULL, NULL, NULL, NULL, &crc_got, chunk_tx_reserve,
                              known ? chunk_tx_known : NULL };
        int rc = tar_write_dir_opts(dir, &oi, chunk_tx_write, &tx, NULL, err, sizeof err);
        if (rc < 0) printf("# %s\n", err);
        T_EQ_INT(rc, 0);
        T_EQ_INT(chunk_tx_finish_crc(&tx, crc_got), 0);
        T_EQ_INT(s.rx_rc, 0);
        T_EQ_INT(s.len, want.len);
        T_CHECK(s.len == want.len && memcmp(s.got, want.p, want.len) == 0);
        T_EQ_INT(crc_got, crc_want);
        T_EQ_INT(s.rx.files_crc32c, crc_want);
        chunk_tx_free(&tx);
        chunk_rx_free(&s.rx);
        free(s.got);
    }
    tb_free(&want);
    tf_rm_rf(dir);
}

int main(void)
{
    T_RUN(test_short_streams);
    T_RUN(test_long_streams);
    T_RUN(test_text_gets_deflated_when_explored);
    T_RUN(test_tune_carries);
    T_RUN(test_resume);
    T_RUN(test_send_failure_and_size);
    T_RUN(test_v2);
    T_RUN(test_checksum_fields);
    T_RUN(test_deferred_crc);
    T_RUN(test_tx_known);
    T_RUN(test_in_place);
    T_RUN(test_tar_in_place);
    return T_DONE();
}
