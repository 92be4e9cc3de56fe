/* namecode.c — reversible UTF-8 encoding of raw file names (namecode.h). */
#include "namecode.h"

#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (1..4), or 0 (RFC 3629; the
 * same rule as the wire's strings in proto.c). p is NUL-terminated. */
static size_t seq_len(const uint8_t *p)
{
    uint8_t c = p[0], lo = 0x80, hi = 0xbf;
    size_t len;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c == 0xe0) { len = 3; lo = 0xa0; }
    else if (c == 0xed) { len = 3; hi = 0x9f; }
    else if (c >= 0xe1 && c <= 0xef) len = 3;
    else if (c == 0xf0) { len = 4; lo = 0x90; }
    else if (c >= 0xf1 && c <= 0xf3) len = 4;
    else if (c == 0xf4) { len = 4; hi = 0x8f; }
    else return 0;
    if (p[1] < lo || p[1] > hi) return 0;          /* also stops at the NUL */
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf) return 0;
    return len;
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
