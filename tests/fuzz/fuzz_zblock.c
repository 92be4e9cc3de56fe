/* fuzz_zblock.c — a packed file (src/common/zblock.c) from raw bytes: the
 * header parse, the open's checks and reads at many offsets, all within
 * the input (an exact-size copy), bounded by the declared size, never a
 * crash; a read either fails with a code or gives the asked length. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zblock.h"

typedef struct mem { const uint8_t *p; size_t n; } mem;

static long mem_pread(void *ctx, void *buf, size_t n, uint64_t off)
{
    mem *m = ctx;
    if (off >= m->n) return 0;
    size_t k = m->n - (size_t)off < n ? m->n - (size_t)off : n;
    memcpy(buf, m->p + off, k);
    return (long)k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1), buf[1024];
    zblock_hdr h;
    zblock_reader *r = NULL;
    if (!copy) return 0;
    memcpy(copy, data, size);
    mem m = { copy, size };
    if (zblock_parse_header(copy, size, &h) == 0 && h.data_off != 64 + 8 * h.nblocks) abort();
    if (zblock_reader_new(mem_pread, &m, size, &r) == 0) {
        uint64_t total = zblock_reader_hdr(r)->size;
        /* The whole file front to back in pieces (bounded: a header may
         * claim far more than the input could inflate to), then a few
         * reads from the end backwards. */
        uint64_t off = 0;
        for (int i = 0; i < 4096 && off < total; i++) {
            size_t n = total - off < sizeof buf ? (size_t)(total - off) : sizeof buf;
            if (zblock_read(r, off, buf, n) < 0) break;
            off += n;
        }
        for (uint64_t k = 1; k <= 8 && k <= total; k++)
            (void)zblock_read(r, total - k * 997 % total - 1, buf, 1);
        if (zblock_read(r, total, buf, 1) == 0) abort();   /* past the end */
        zblock_reader_free(r);
    }
    free(copy);
    return 0;
}
