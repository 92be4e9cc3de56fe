/* fuzz_swf.c — the SWF line parser on raw bytes, line by line: every line
 * is a job, a comment or refused; never a crash, an overread (each line is
 * copied to an exact-size buffer) or a non-finite field. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/swf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t s = 0;
    while (s < size) {
        const uint8_t *nl = memchr(data + s, '\n', size - s);
        size_t n = nl ? (size_t)(nl - (data + s)) + 1 : size - s;
        char *line = malloc(n ? n : 1);
        double v[SWF_FIELDS];
        if (!line) return 0;
        memcpy(line, data + s, n);
        int rc = swf_parse_line(line, n, v);
        if (rc < -1 || rc > 1) abort();
        if (rc == 1)
            for (int i = 0; i < SWF_FIELDS; i++)
                if (!isfinite(v[i])) abort();
        free(line);
        s += n;
    }
    return 0;
}
