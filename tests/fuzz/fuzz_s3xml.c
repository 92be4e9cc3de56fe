/* fuzz_s3xml.c — the S3 reply scans (src/master/s3xml.c) on raw bytes:
 * error codes, a listing's entries, one tag; outputs always terminated
 * and within their buffers, positions only moving forward, never a crash
 * or an overread (the input is copied to an exact-size buffer). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "master/s3xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *x = malloc(size ? size : 1);
    char code[16], msg[64], key[32], tag[8];
    uint64_t sz;
    size_t pos = 0, last;
    int trunc;
    if (!x) return 0;
    memcpy(x, data, size);
    if (s3xml_error(x, size, code, sizeof code, msg, sizeof msg) == 0 && !code[0]) abort();
    if (strlen(code) >= sizeof code || strlen(msg) >= sizeof msg) abort();
    for (int i = 0; i < 10000; i++) {
        last = pos;
        int rc = s3xml_list_next(x, size, &pos, key, sizeof key, &sz);
        if (rc != 1) break;
        if (pos <= last || pos > size || strlen(key) >= sizeof key) abort();
    }
    pos = 0;
    for (int i = 0; i < 10000; i++) {
        last = pos;
        int rc = s3xml_next(x, size, &pos, "Key", tag, sizeof tag, &trunc);
        if (rc != 1) break;
        if (pos <= last || pos > size || strlen(tag) >= sizeof tag) abort();
    }
    free(x);
    return 0;
}
