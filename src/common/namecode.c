/* namecode.c — reversible UTF-8 encoding of raw file names (namecode.h). */
#include "namecode.h"

#include <stdint.h>
#include <string.h>
#include "proto.h"

/* The wire's UTF-8 rule (proto_utf8_seq) on a NUL-terminated string: it
 * never reads past the NUL, which no valid sequence contains. */
static size_t seq_len(const uint8_t *p)
{
    return proto_utf8_seq(p, strnlen((const char *)p, 4));
}

int namecode_is_utf8(const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    while (*p) {
        size_t k = seq_len(p);
        if (!k) return 0;
        p += k;
    }
    return 1;
}

long namecode_encode(const char *s, char *out, size_t cap)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t o = 0;
    while (*p) {
        size_t k = seq_len(p);
        if (k) {
            if (o + k >= cap) goto toolong;
            memcpy(out + o, p, k);
            o += k;
            p += k;
            continue;
        }
        unsigned cp = 0xf700u + *p++;              /* U+F780..U+F7FF */
        if (o + 3 >= cap) goto toolong;
        out[o++] = (char)(0xe0 | cp >> 12);
        out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[o++] = (char)(0x80 | (cp & 0x3f));
    }
    if (o >= cap) goto toolong;
    out[o] = 0;
    return (long)o;
toolong:
    if (cap) out[0] = 0;
    return -1;
}

void namecode_decode(const char *s, char *out)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t o = 0;
    while (*p) {
        /* EF 9E 80..EF 9F BF = U+F780..U+F7FF = the byte 0x80..0xFF */
        if (p[0] == 0xef && (p[1] == 0x9e || p[1] == 0x9f) && p[2] >= 0x80 && p[2] <= 0xbf) {
            out[o++] = (char)(((p[1] & 0x3f) << 6 | (p[2] & 0x3f)) & 0xff);
            p += 3;
            continue;
        }
        out[o++] = (char)*p++;
    }
    out[o] = 0;
}
