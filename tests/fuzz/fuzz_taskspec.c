/* fuzz_taskspec.c — the parsers of a submission's task-lifecycle flags, as
 * properties: task_array_parse ("A-B[%P]") accepts only what it can print
 * back identically, with A <= B and at most max tasks; task_after_next
 * splits an -after list into non-empty ids without a comma that lie
 * inside the list and, joined again with commas, are the list itself.
 * abort() if any of that fails. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';                    /* bytes after an embedded NUL are ignored */
    uint64_t a, b, p;
    if (task_array_parse(in, 10000, &a, &b, &p) == 0) {
        char again[96];
        if (a > b || b - a + 1 > 10000 || b > 1000000000ull)
            abort();
        if (p)
            snprintf(again, sizeof again, "%llu-%llu%%%llu", (unsigned long long)a,
                     (unsigned long long)b, (unsigned long long)p);
        else
            snprintf(again, sizeof again, "%llu-%llu", (unsigned long long)a, (unsigned long long)b);
        uint64_t a2, b2, p2;
        if (task_array_parse(again, 10000, &a2, &b2, &p2) != 0 || a2 != a || b2 != b || p2 != p)
            abort();
    }
    size_t len = strlen(in), pos = 0, start = 0, joined = 0;
    int n, ids = 0, bad = 0;
    char *cat = malloc(len + 2);
    if (!cat) { free(in); return 0; }
    cat[0] = 0;
    while ((n = task_after_next(in, &pos, &start)) != 0) {
        if (pos > len || ++ids > (int)len + 1)
            abort();                    /* always moves forward, ends */
        if (n < 0) { bad = 1; continue; }
        if (start + (size_t)n > len || memchr(in + start, ',', (size_t)n))
            abort();
        joined += (size_t)sprintf(cat + joined, "%s%.*s", joined ? "," : "", n, in + start);
    }
    if (!bad && strcmp(cat, in))
        abort();
    free(cat);
    free(in);
    return 0;
}
