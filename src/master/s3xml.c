/* s3xml.c — bounded scans of S3's XML replies (s3xml.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include "s3xml.h"

#define TAG_MAX 64

/* Offset of needle in hay[from, end), or -1. */
static long find(const char *hay, size_t end, size_t from, const char *needle, size_t nlen)
{
    if (from > end || nlen == 0 || end - from < nlen) return -1;
    const char *p = memmem(hay + from, end - from, needle, nlen);
    return p ? (long)(p - hay) : -1;
}

/* Appends the UTF-8 form of code point cp; 0 or -1 (not a valid one). */
static int put_cp(unsigned long cp, char *out, size_t cap, size_t *o, int *trunc)
{
    char b[4];
    size_t n;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
    if (cp < 0x80) { b[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { b[0] = (char)(0xC0 | cp >> 6); b[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12); b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        b[0] = (char)(0xF0 | cp >> 18); b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); b[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    if (*o + n >= cap) { *trunc = 1; return 0; }
    memcpy(out + *o, b, n);
    *o += n;
    return 0;
}

/* Decodes text[0, n) into out; -1 on a '<' or a bad entity. */
static int decode(const char *t, size_t n, char *out, size_t cap, int *trunc)
{
    static const struct { const char *name; char c; } ents[] = {
        {"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''},
    };
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char c = t[i];
        if (c == '<') return -1;
        if (c != '&') {
            if (o + 1 < cap) out[o++] = c;
            else *trunc = 1;
            i++;
            continue;
        }
        size_t rest = n - i - 1;
        const char *e = t + i + 1;
        int done = 0;
        for (size_t k = 0; k < sizeof ents / sizeof ents[0]; k++) {
            size_t l = strlen(ents[k].name);
            if (rest >= l && !memcmp(e, ents[k].name, l)) {
                if (o + 1 < cap) out[o++] = ents[k].c;
                else *trunc = 1;
                i += 1 + l;
                done = 1;
                break;
            }
        }
        if (done) continue;
        if (rest >= 3 && e[0] == '#') {
            int hex = e[1] == 'x' || e[1] == 'X';
            size_t j = hex ? 2 : 1;
            unsigned long cp = 0;
            size_t digits = 0;
            for (; j < rest && e[j] != ';' && digits < 8; j++, digits++) {
                char d = e[j];
                int v = d >= '0' && d <= '9' ? d - '0'
                      : hex && d >= 'a' && d <= 'f' ? d - 'a' + 10
                      : hex && d >= 'A' && d <= 'F' ? d - 'A' + 10 : -1;
                if (v < 0) return -1;
                cp = cp * (hex ? 16 : 10) + (unsigned long)v;
            }
            if (!digits || j >= rest || e[j] != ';') return -1;
            if (put_cp(cp, out, cap, &o, trunc) < 0) return -1;
            i += 1 + j + 1;
            continue;
        }
        return -1;
    }
    if (cap) out[o < cap ? o : cap - 1] = 0;
    return 0;
}

int s3xml_next(const char *xml, size_t len, size_t *pos, const char *tag, char *out, size_t cap,
               int *truncated)
{
    char open[TAG_MAX + 3], close[TAG_MAX + 4];
    size_t tl = strlen(tag);
    int trunc = 0;
    if (cap) out[0] = 0;
    if (truncated) *truncated = 0;
    if (!xml || tl == 0 || tl > TAG_MAX || !cap) return 0;
    int ol = snprintf(open, sizeof open, "<%s>", tag);
    int cl = snprintf(close, sizeof close, "</%s>", tag);
    long a = find(xml, len, *pos, open, (size_t)ol);
    if (a < 0) return 0;
    size_t ts = (size_t)a + (size_t)ol;
    long b = find(xml, len, ts, close, (size_t)cl);
    if (b < 0) return 0;
    if (decode(xml + ts, (size_t)b - ts, out, cap, &trunc) < 0) {
        out[0] = 0;
        return -1;
    }
    *pos = (size_t)b + (size_t)cl;
    if (truncated) *truncated = trunc;
    return 1;
}

int s3xml_error(const char *xml, size_t len, char *code, size_t codecap, char *msg, size_t msgcap)
{
    size_t p = 0;
    if (msgcap) msg[0] = 0;
    if (s3xml_next(xml, len, &p, "Code", code, codecap, NULL) != 1 || !code[0]) {
        if (codecap) code[0] = 0;
        return -1;
    }
    p = 0;
    if (s3xml_next(xml, len, &p, "Message", msg, msgcap, NULL) < 0 && msgcap) msg[0] = 0;
    return 0;
}

int s3xml_list_next(const char *xml, size_t len, size_t *pos, char *key, size_t keycap,
                    uint64_t *size)
{
    char num[32];
    int trunc = 0;
    if (!xml) return 0;
    long a = find(xml, len, *pos, "<Contents>", 10);
    if (a < 0) return 0;
    long b = find(xml, len, (size_t)a + 10, "</Contents>", 11);
    if (b < 0) return -1;
    size_t end = (size_t)b, p = (size_t)a;
    if (s3xml_next(xml, end, &p, "Key", key, keycap, &trunc) != 1 || trunc || !key[0]) return -1;
    p = (size_t)a;
    *size = 0;
    if (s3xml_next(xml, end, &p, "Size", num, sizeof num, &trunc) == 1) {
        uint64_t v = 0;
        if (!num[0] || trunc) return -1;
        for (const char *c = num; *c; c++) {
            if (*c < '0' || *c > '9' || v > (UINT64_MAX - 9) / 10) return -1;
            v = v * 10 + (uint64_t)(*c - '0');
        }
        *size = v;
    }
    *pos = end + 11;
    return 1;
}
