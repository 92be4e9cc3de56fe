/* fuzz_logdemux.c — feeds the Docker log demultiplexer random slices of
 * the input. The first byte seeds the slice sizes, so the same stream is
 * cut at different places; invariants: payload bytes delivered never
 * exceed the input, a cut never changes what is delivered, errors stick. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker/logdemux.h"

typedef struct acc {
    uint64_t n;          /* bytes seen */
    uint32_t h;          /* rolling hash of (stream, byte) */
} acc;

static int acc_sink(void *ud, int stream, const uint8_t *p, size_t n)
{
    acc *a = ud;
    if (stream != LOGDEMUX_STDOUT && stream != LOGDEMUX_STDERR)
        abort();
    for (size_t i = 0; i < n; i++)
        a->h = a->h * 31u + (uint32_t)stream * 257u + p[i];
    a->n += n;
    return 0;
}

static int run(const uint8_t *data, size_t size, uint32_t seed, acc *a)
{
    logdemux d;
    int rc = 0;
    logdemux_init(&d, acc_sink, a);
    size_t off = 0;
    while (off < size) {
        seed = seed * 1103515245u + 12345u;
        size_t take = seed % 4 == 0 ? 1 : (seed >> 8) % 64;
        if (take > size - off)
            take = size - off;
        int r = logdemux_feed(&d, data + off, take);
        if (rc && r != rc)
            abort();                 /* errors are sticky */
        if (r)
            rc = r;
        off += take;
    }
    int f = logdemux_finish(&d);
    if (rc && f != rc)
        abort();
    if (d.bytes != a->n || a->n > size)
        abort();
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint32_t seed = data[0];
    acc a1 = { 0, 0 }, a2 = { 0, 0 };
    int r1 = run(data + 1, size - 1, seed, &a1);
    int r2 = run(data + 1, size - 1, seed ^ 0x9e3779b9u, &a2);
    /* whole-stream result does not depend on how it was cut */
    if (r1 != r2 || a1.n != a2.n || a1.h != a2.h)
        abort();
    return 0;
}
