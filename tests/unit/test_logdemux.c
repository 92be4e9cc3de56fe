/* test_logdemux.c — the Docker log stream demultiplexer: frames split at
 * every byte boundary, stream interleaving, huge frame sizes, garbage. */
#include <stdint.h>
#include <string.h>

#include "t.h"
#include "worker/logdemux.h"

/* Transcript of what the sink saw: "<N>" on every stream change, then the
 * payload bytes, so pieces of one stream coalesce however they were cut. */
typedef struct tr {
    char buf[4096];
    size_t len;
    int last;
    int calls;
    int fail_after;      /* sink fails on this call number (0 = never) */
} tr;

static int tr_sink(void *ud, int stream, const uint8_t *p, size_t n)
{
    tr *t = ud;
    t->calls++;
    if (t->fail_after && t->calls >= t->fail_after)
        return -1;
    if (stream != t->last) {
        t->len += (size_t)snprintf(t->buf + t->len, sizeof t->buf - t->len, "<%d>", stream);
        t->last = stream;
    }
    if (t->len + n < sizeof t->buf) {
        memcpy(t->buf + t->len, p, n);
        t->len += n;
    }
    t->buf[t->len] = 0;
    return 0;
}

static size_t frame(uint8_t *o, int stream, const char *s)
{
    size_t n = strlen(s);
    o[0] = (uint8_t)stream; o[1] = o[2] = o[3] = 0;
    o[4] = (uint8_t)(n >> 24); o[5] = (uint8_t)(n >> 16);
    o[6] = (uint8_t)(n >> 8); o[7] = (uint8_t)n;
    memcpy(o + 8, s, n);
    return n + 8;
}

static size_t sample(uint8_t *o)
{
    size_t n = 0;
    n += frame(o + n, 1, "out1\n");
    n += frame(o + n, 2, "err1\n");
    n += frame(o + n, 2, "");
    n += frame(o + n, 1, "out2 longer line\n");
    n += frame(o + n, 0, "stdin-as-out\n");
    n += frame(o + n, 2, "err2\n");
    return n;
}

static const char *EXPECT = "<1>out1\n<2>err1\n<1>out2 longer line\nstdin-as-out\n<2>err2\n";

static void test_whole_stream(void)
{
    uint8_t s[512]; size_t n = sample(s);
    tr t = { .len = 0 }; logdemux d;
    logdemux_init(&d, tr_sink, &t);
    T_EQ_INT(logdemux_feed(&d, s, n), 0);
    T_EQ_INT(logdemux_finish(&d), 0);
    T_EQ_STR(t.buf, EXPECT);
    T_EQ_INT(d.frames, 6);
    T_EQ_INT(d.bytes, strlen("out1\nerr1\nout2 longer line\nstdin-as-out\nerr2\n"));
}

static void test_split_everywhere(void)
{
    uint8_t s[512]; size_t n = sample(s);
    /* two pieces, cut at every offset */
    for (size_t cut = 0; cut <= n; cut++) {
        tr t = { .len = 0 }; logdemux d;
        logdemux_init(&d, tr_sink, &t);
        T_EQ_INT(logdemux_feed(&d, s, cut), 0);
        T_EQ_INT(logdemux_feed(&d, s + cut, n - cut), 0);
        T_EQ_INT(logdemux_finish(&d), 0);
        T_EQ_STR(t.buf, EXPECT);
    }
    /* one byte at a time */
    tr t = { .len = 0 }; logdemux d;
    logdemux_init(&d, tr_sink, &t);
    for (size_t i = 0; i < n; i++)
        T_EQ_INT(logdemux_feed(&d, s + i, 1), 0);
    T_EQ_INT(logdemux_finish(&d), 0);
    T_EQ_STR(t.buf, EXPECT);
    /* three pieces of varying strides */
    for (size_t a = 1; a < 9; a++) {
        tr t2 = { .len = 0 }; logdemux d2;
        logdemux_init(&d2, tr_sink, &t2);
        for (size_t i = 0; i < n; i += a)
            T_EQ_INT(logdemux_feed(&d2, s + i, i + a > n ? n - i : a), 0);
        T_EQ_INT(logdemux_finish(&d2), 0);
        T_EQ_STR(t2.buf, EXPECT);
    }
}

static void test_huge_frame_size(void)
{
    /* 4 GiB - 1 announced, 10 bytes delivered: streamed, nothing allocated,
     * and the end of stream is reported as truncated. */
    uint8_t s[18] = { 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
    memcpy(s + 8, "0123456789", 10);
    tr t = { .len = 0 }; logdemux d;
    logdemux_init(&d, tr_sink, &t);
    T_EQ_INT(logdemux_feed(&d, s, sizeof s), 0);
    T_EQ_STR(t.buf, "<2>0123456789");
    T_EQ_INT(d.remaining, 0xffffffffULL - 10);
    T_EQ_INT(logdemux_finish(&d), LOGDEMUX_E_TRUNCATED);
}

static void test_truncated(void)
{
    uint8_t s[64]; size_t n = frame(s, 1, "abcdef");
    for (size_t cut = 1; cut < n; cut++) {
        tr t = { .len = 0 }; logdemux d;
        logdemux_init(&d, tr_sink, &t);
        T_EQ_INT(logdemux_feed(&d, s, cut), 0);
        T_EQ_INT(logdemux_finish(&d), LOGDEMUX_E_TRUNCATED);
    }
    tr t = { .len = 0 }; logdemux d;
    logdemux_init(&d, tr_sink, &t);
    T_EQ_INT(logdemux_finish(&d), 0);      /* empty log is fine */
}

static void test_garbage(void)
{
    const char *text = "hello, this is a TTY log\n";
    tr t = { .len = 0 }; logdemux d;
    logdemux_init(&d, tr_sink, &t);
    T_EQ_INT(logdemux_feed(&d, text, strlen(text)), LOGDEMUX_E_FORMAT);
    T_EQ_INT(t.calls, 0);
    /* sticky */
    uint8_t s[64]; size_t n = frame(s, 1, "ok\n");
    T_EQ_INT(logdemux_feed(&d, s, n), LOGDEMUX_E_FORMAT);
    T_EQ_INT(logdemux_finish(&d), LOGDEMUX_E_FORMAT);
    T_EQ_INT(t.calls, 0);

    /* stream byte 3, and non-zero padding, after a good frame */
    uint8_t bad1[8] = { 3, 0, 0, 0, 0, 0, 0, 1 }, bad2[8] = { 1, 0, 1, 0, 0, 0, 0, 1 };
    uint8_t *bads[2] = { bad1, bad2 };
    for (int i = 0; i < 2; i++) {
        tr t2 = { .len = 0 }; logdemux d2;
        logdemux_init(&d2, tr_sink, &t2);
        T_EQ_INT(logdemux_feed(&d2, s, n), 0);
        T_EQ_INT(logdemux_feed(&d2, bads[i], 8), LOGDEMUX_E_FORMAT);
        T_EQ_STR(t2.buf, "<1>ok\n");
    }
}

static void test_sink_error(void)
{
    uint8_t s[512]; size_t n = sample(s);
    tr t = { .len = 0, .fail_after = 2 }; logdemux d;
    logdemux_init(&d, tr_sink, &t);
    T_EQ_INT(logdemux_feed(&d, s, n), LOGDEMUX_E_SINK);
    T_EQ_INT(t.calls, 2);
    T_EQ_INT(logdemux_feed(&d, s, n), LOGDEMUX_E_SINK);
    T_EQ_INT(t.calls, 2);
    T_EQ_INT(logdemux_finish(&d), LOGDEMUX_E_SINK);
}

int main(void)
{
    T_RUN(test_whole_stream);
    T_RUN(test_split_everywhere);
    T_RUN(test_huge_frame_size);
    T_RUN(test_truncated);
    T_RUN(test_garbage);
    T_RUN(test_sink_error);
    return T_DONE();
}
