/* fuzz_tar.c — feeds arbitrary bytes to the tar reader (in three slices,
 * so slice boundaries move with the input) and to a real extraction into a
 * fresh temp directory with small limits, which is then removed without
 * following symlinks. Any crash, leak or write outside the temp dir is a
 * bug. The reader runs once with a hole callback and once without (holes
 * as zero data, bounded here by skipping entries over 1 MiB), so the
 * sparse code (old-GNU 'S', pax GNU.sparse 0.0/0.1/1.0) runs both ways;
 * the corpus holds GNU tar's sparse archives. */
#include "extract.h"
#include "tar.h"
#include "../unit/tarfix.h"

#include <stdint.h>
#include <stdlib.h>

static int f_entry(void *ctx, const tar_entry *e)
{
    (*(uint64_t *)ctx) += strlen(e->name) + strlen(e->linkname) + e->size % 7;
    return 0;
}

static int f_data(void *ctx, const uint8_t *p, size_t n)
{
    (*(uint64_t *)ctx) += n ? p[0] : 0;
    return 0;
}

static int f_hole(void *ctx, uint64_t n)
{
    (*(uint64_t *)ctx) += n;
    return 0;
}

/* Without a hole callback the holes come as zeros: refuse huge entries. */
static int f_entry_small(void *ctx, const tar_entry *e)
{
    return e->size > (1u << 20) ? TAR_E_LIMIT : f_entry(ctx, e);
}

static void feed_slices(int (*feed)(void *, const uint8_t *, size_t), void *obj,
                        const uint8_t *data, size_t size)
{
    size_t a = size ? data[0] % (size + 1) : 0;
    size_t b = a + (size - a) / 2;
    if (feed(obj, data, a) < 0) return;
    if (feed(obj, data + a, b - a) < 0) return;
    feed(obj, data + b, size - b);
}

static int reader_feed(void *r, const uint8_t *p, size_t n) { return tar_reader_feed(r, p, n); }
static int extract_feed_cb(void *x, const uint8_t *p, size_t n) { return extract_feed(x, p, n); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t acc = 0;
    static const tar_reader_ops ops[2] = { { f_entry, f_data, NULL, f_hole },
                                           { f_entry_small, f_data, NULL, NULL } };
    for (int k = 0; k < 2; k++) {
        tar_reader *r = tar_reader_new(&ops[k], &acc, 1024);
        if (r) {
            feed_slices(reader_feed, r, data, size);
            tar_reader_finish(r);
            (void)tar_reader_error(r);
            tar_reader_free(r);
        }
    }

    /* FUZZ_TAR_READER_ONLY=1: the reader alone, ~50x more inputs a
     * second (extraction syncs a filesystem per input). */
    static int reader_only = -1;
    if (reader_only < 0) reader_only = getenv("FUZZ_TAR_READER_ONLY") != NULL;
    if (reader_only)
        return 0;
    char dir[] = "/tmp/fuzz_tar_XXXXXX";
    if (!mkdtemp(dir))
        return 0;
    extract_limits lim = { 1 << 20, 32, 512 };
    extract *x = extract_new(dir, &lim, NULL, NULL);
    if (x) {
        feed_slices(extract_feed_cb, x, data, size);
        extract_finish(x);
        (void)extract_error(x);
        extract_free(x);
    }
    tf_rm_rf(dir);
    return 0;
}
