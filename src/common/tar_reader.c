/* tar_reader.c — the push parser half of tar.h (the writer is in tar.c).
 *
 * A state machine fed slices of any size. It holds one 512-byte block and,
 * for GNU long names and pax headers, a buffer whose size is checked
 * against max_path before anything is allocated. Accepted: ustar (with
 * prefix), GNU magic, pax 'x' (path, linkpath, size; other keys ignored),
 * pax 'g' (skipped), GNU 'L'/'K', base-256 numbers, signed or unsigned
 * header checksums. Types '1'..'6' carry no data blocks (POSIX), whatever
 * their size field says. Old-style type NUL and contiguous '7' are
 * reported as '0'. One zero block followed by end of input is TRUNCATED:
 * only the two-block end proves the writer finished. Bytes after the end
 * blocks (record padding) are ignored. */
#include "tar.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PATH_CAP (64 * 1024)

enum { R_HEADER, R_DATA, R_PAD, R_LONG, R_SKIP, R_END, R_ERROR };

struct tar_reader {
    tar_reader_ops ops;
    void *ctx;
    size_t max_path;
    int state, zeros, err;
    uint8_t hdr[TAR_BLOCK];
    size_t hlen;
    uint64_t remain, pad;
    char long_kind;            /* 'x', 'L' or 'K' while buffering */
    char *lbuf;
    size_t lcap, llen;
    char *name, *link;         /* current entry, max_path + 1 each */
    char *pend_name, *pend_link;
    int has_pname, has_plink, has_psize;
    uint64_t psize;
    tar_entry e;
    char msg[320];
};

static int fail(tar_reader *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->err = code;
    r->state = R_ERROR;
    return code;
}

tar_reader *tar_reader_new(const tar_reader_ops *ops, void *ctx, size_t max_path)
{
    tar_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    if (ops)
        r->ops = *ops;
    r->ctx = ctx;
    if (max_path == 0) max_path = TAR_PATH_MAX;
    if (max_path > MAX_PATH_CAP) max_path = MAX_PATH_CAP;
    r->max_path = max_path;
    r->name = malloc(max_path + 1);
    r->link = malloc(max_path + 1);
    r->pend_name = malloc(max_path + 1);
    r->pend_link = malloc(max_path + 1);
    if (!r->name || !r->link || !r->pend_name || !r->pend_link) {
        tar_reader_free(r);
        return NULL;
    }
    r->name[0] = r->link[0] = 0;
    r->e.name = r->name;
    r->e.linkname = r->link;
    return r;
}

void tar_reader_free(tar_reader *r)
{
    if (!r)
        return;
    free(r->lbuf);
    free(r->name);
    free(r->link);
    free(r->pend_name);
    free(r->pend_link);
    free(r);
}

const char *tar_reader_error(const tar_reader *r)
{
    return r ? r->msg : "no reader";
}

/* Octal (space/NUL padded) or GNU base-256. 0 or -1 on garbage/overflow. */
static int parse_num(const uint8_t *f, size_t len, int64_t *out)
{
    if (f[0] & 0x80) {
        int neg = f[0] == 0xff;
        if (!neg && f[0] != 0x80)
            return -1;
        uint64_t v = 0;
        for (size_t i = 1; i < len; i++) {
            if (i < len - 8 && f[i] != (neg ? 0xff : 0))
                return -1;
            v = v << 8 | f[i];
        }
        if (neg ? (int64_t)v >= 0 : v > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)v;
        return 0;
    }
    size_t i = 0;
    int64_t v = 0;
    while (i < len && f[i] == ' ')
        i++;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v > (INT64_MAX >> 3))
            return -1;
        v = v * 8 + (f[i] - '0');
    }
    if (i < len && f[i] != ' ' && f[i] != 0)
        return -1;
    *out = v;
    return 0;
}

static int checksum_ok(const uint8_t *h)
{
    int64_t want;
    if (parse_num(h + 148, 8, &want) < 0)
        return 0;
    int64_t us = 0, ss = 0;
    for (int i = 0; i < TAR_BLOCK; i++) {
        uint8_t b = (i >= 148 && i < 156) ? ' ' : h[i];
        us += b;
        ss += (signed char)b;
    }
    return want == us || want == ss;
}

/* Copies a header text field that may fill its width without a NUL. */
static size_t field_len(const uint8_t *f, size_t cap)
{
    size_t n = 0;
    while (n < cap && f[n])
        n++;
    return n;
}

static uint64_t dec_parse(const char *p, size_t n, int *bad)
{
    uint64_t v = 0;
    if (n == 0) *bad = 1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9' || v > (UINT64_MAX - 9) / 10) { *bad = 1; return 0; }
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    return v;
}

static int pax_parse(tar_reader *r)
{
    size_t pos = 0;
    while (pos < r->llen) {
        const char *rec = r->lbuf + pos;
        size_t avail = r->llen - pos, sp = 0;
        int bad = 0;
        while (sp < avail && sp < 20 && rec[sp] != ' ')
            sp++;
        if (sp >= avail || rec[sp] != ' ')
            return fail(r, TAR_E_FORMAT, "malformed pax record");
        uint64_t len = dec_parse(rec, sp, &bad);
        if (bad || len <= sp + 2 || len > avail || rec[len - 1] != '\n')
            return fail(r, TAR_E_FORMAT, "malformed pax record");
        const char *key = rec + sp + 1, *end = rec + len - 1;
        const char *eq = memchr(key, '=', (size_t)(end - key));
        if (!eq || eq == key)
            return fail(r, TAR_E_FORMAT, "malformed pax record");
        size_t klen = (size_t)(eq - key), vlen = (size_t)(end - eq - 1);
        const char *val = eq + 1;
        int is_path = klen == 4 && !memcmp(key, "path", 4);
        int is_link = klen == 8 && !memcmp(key, "linkpath", 8);
        if (is_path || is_link) {
            if (vlen > r->max_path)
                return fail(r, TAR_E_LIMIT, "pax %s of %zu bytes over the %zu-byte limit",
                            is_path ? "path" : "linkpath", vlen, r->max_path);
            if (memchr(val, 0, vlen))
                return fail(r, TAR_E_PATH, "pax %s contains a NUL byte", is_path ? "path" : "linkpath");
            char *dst = is_path ? r->pend_name : r->pend_link;
            memcpy(dst, val, vlen);
            dst[vlen] = 0;
            *(is_path ? &r->has_pname : &r->has_plink) = vlen > 0;
        } else if (klen == 4 && !memcmp(key, "size", 4)) {
            uint64_t v = dec_parse(val, vlen, &bad);
            if (bad || v > (uint64_t)INT64_MAX)
                return fail(r, TAR_E_FORMAT, "bad pax size");
            r->psize = v;
            r->has_psize = 1;
        }
        pos += (size_t)len;
    }
    return 0;
}

/* A GNU 'L'/'K' or pax 'x' body is complete. */
static int long_done(tar_reader *r)
{
    if (r->long_kind == 'x')
        return pax_parse(r);
    size_t n = strnlen(r->lbuf, r->llen);
    if (n > r->max_path)
        return fail(r, TAR_E_LIMIT, "GNU long name over the %zu-byte limit", r->max_path);
    char *dst = r->long_kind == 'L' ? r->pend_name : r->pend_link;
    memcpy(dst, r->lbuf, n);
    dst[n] = 0;
    *(r->long_kind == 'L' ? &r->has_pname : &r->has_plink) = n > 0;
    return 0;
}

static void normalise(char *s)
{
    size_t n = strlen(s), i = 0;
    while (n - i >= 2 && s[i] == '.' && s[i + 1] == '/') {
        i += 2;
        while (s[i] == '/') i++;
    }
    if (n - i == 1 && s[i] == '.')
        i++;
    memmove(s, s + i, n - i + 1);
    n -= i;
    while (n > 0 && s[n - 1] == '/')
        s[--n] = 0;
}

static int entry_finished(tar_reader *r)
{
    if (r->ops.entry_end) {
        int rc = r->ops.entry_end(r->ctx, &r->e);
        if (rc < 0)
            return fail(r, rc, "stopped by the consumer at '%s' (%d)", r->name, rc);
    }
    return 0;
}

static int begin_long(tar_reader *r, char kind, uint64_t size)
{
    uint64_t cap = kind == 'x' ? 2 * (uint64_t)r->max_path + 1024 : (uint64_t)r->max_path + 1;
    if (size > cap)
        return fail(r, TAR_E_LIMIT, "%s header of %" PRIu64 " bytes over the %" PRIu64 "-byte limit",
                    kind == 'x' ? "pax" : "GNU long-name", size, cap);
    if (size + 1 > r->lcap) {
        char *nb = realloc(r->lbuf, (size_t)size + 1);
        if (!nb)
            return fail(r, TAR_E_NOMEM, "out of memory");
        r->lbuf = nb;
        r->lcap = (size_t)size + 1;
    }
    r->long_kind = kind;
    r->llen = 0;
    r->lbuf[0] = 0;
    r->remain = size;
    r->pad = (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK;
    r->state = R_LONG;
    if (size == 0) {
        int rc = long_done(r);
        if (rc < 0) return rc;
        r->state = R_HEADER;
    }
    return 0;
}

static int process_header(tar_reader *r)
{
    const uint8_t *h = r->hdr;
    int64_t size, mode, mtime;

    if (!memcmp(h, (const uint8_t[TAR_BLOCK]){0}, TAR_BLOCK)) {
        if (++r->zeros == 2)
            r->state = R_END;
        return 0;
    }
    if (r->zeros)
        return fail(r, TAR_E_FORMAT, "a lone zero block inside the archive");
    if (!checksum_ok(h))
        return fail(r, TAR_E_CHECKSUM, "header checksum mismatch after '%s'", r->name);
    if (parse_num(h + 124, 12, &size) < 0 || size < 0 ||
        parse_num(h + 100, 8, &mode) < 0 || parse_num(h + 136, 12, &mtime) < 0)
        return fail(r, TAR_E_FORMAT, "bad number field in header after '%s'", r->name);
    char type = (char)h[156];
    if (type == 'x' || type == 'L' || type == 'K')
        return begin_long(r, type, (uint64_t)size);
    if (type == 'g') {
        r->remain = (uint64_t)size;
        r->pad = (TAR_BLOCK - (uint64_t)size % TAR_BLOCK) % TAR_BLOCK;
        r->state = R_SKIP;
        return 0;
    }

    if (r->has_pname) {
        strcpy(r->name, r->pend_name);
    } else {
        size_t nlen = field_len(h, 100), plen = 0;
        if (!memcmp(h + 257, "ustar\0", 6))
            plen = field_len(h + 345, 155);
        if (plen + 1 + nlen > r->max_path)
            return fail(r, TAR_E_LIMIT, "name over the %zu-byte limit", r->max_path);
        if (plen) {
            memcpy(r->name, h + 345, plen);
            r->name[plen] = '/';
            plen++;
        }
        memcpy(r->name + plen, h, nlen);
        r->name[plen + nlen] = 0;
    }
    if (r->has_plink) {
        strcpy(r->link, r->pend_link);
    } else {
        size_t llen = field_len(h + 157, 100);
        if (llen > r->max_path)
            return fail(r, TAR_E_LIMIT, "link name over the %zu-byte limit", r->max_path);
        memcpy(r->link, h + 157, llen);
        r->link[llen] = 0;
    }
    if (r->has_psize)
        size = (int64_t)r->psize;
    r->has_pname = r->has_plink = r->has_psize = 0;

    size_t nl = strlen(r->name);
    if (type == 0)
        type = nl && r->name[nl - 1] == '/' ? '5' : '0';
    if (type == '7')
        type = '0';
    if (type >= '1' && type <= '6')
        size = 0;
    normalise(r->name);
    r->e.type = type;
    r->e.mode = (uint32_t)(mode & 07777);
    r->e.size = (uint64_t)size;
    r->e.mtime = mtime;
    if (r->ops.entry) {
        int rc = r->ops.entry(r->ctx, &r->e);
        if (rc < 0)
            return fail(r, rc, "stopped by the consumer at '%s' (%d)", r->name, rc);
    }
    r->remain = (uint64_t)size;
    r->pad = (TAR_BLOCK - (uint64_t)size % TAR_BLOCK) % TAR_BLOCK;
    if (size == 0)
        return entry_finished(r);
    r->state = R_DATA;
    return 0;
}

int tar_reader_feed(tar_reader *r, const uint8_t *p, size_t n)
{
    int rc = 0;
    if (!r)
        return TAR_E_FORMAT;
    while (n > 0 && r->state != R_ERROR) {
        size_t take;
        switch (r->state) {
        case R_HEADER:
            take = TAR_BLOCK - r->hlen < n ? TAR_BLOCK - r->hlen : n;
            memcpy(r->hdr + r->hlen, p, take);
            r->hlen += take;
            if (r->hlen == TAR_BLOCK) {
                r->hlen = 0;
                if ((rc = process_header(r)) < 0)
                    return rc;
            }
            break;
        case R_DATA:
            take = r->remain < n ? (size_t)r->remain : n;
            if (r->ops.data && (rc = r->ops.data(r->ctx, p, take)) < 0)
                return fail(r, rc, "stopped by the consumer in '%s' (%d)", r->name, rc);
            r->remain -= take;
            if (r->remain == 0) {
                r->state = r->pad ? R_PAD : R_HEADER;
                if ((rc = entry_finished(r)) < 0)
                    return rc;
            }
            break;
        case R_LONG:
            take = r->remain < n ? (size_t)r->remain : n;
            memcpy(r->lbuf + r->llen, p, take);
            r->llen += take;
            r->lbuf[r->llen] = 0;
            r->remain -= take;
            if (r->remain == 0) {
                r->state = r->pad ? R_PAD : R_HEADER;
                if ((rc = long_done(r)) < 0)
                    return rc;
            }
            break;
        case R_SKIP:
            take = r->remain < n ? (size_t)r->remain : n;
            r->remain -= take;
            if (r->remain == 0)
                r->state = r->pad ? R_PAD : R_HEADER;
            break;
        case R_PAD:
            take = r->pad < n ? (size_t)r->pad : n;
            r->pad -= take;
            if (r->pad == 0)
                r->state = R_HEADER;
            break;
        default:   /* R_END: trailing record padding */
            take = n;
            break;
        }
        p += take;
        n -= take;
    }
    return r->state == R_ERROR ? r->err : 0;
}

int tar_reader_finish(tar_reader *r)
{
    if (!r)
        return TAR_E_FORMAT;
    if (r->state == R_ERROR)
        return r->err;
    if (r->state == R_END)
        return 0;
    if (r->state == R_DATA)
        return fail(r, TAR_E_TRUNCATED, "archive ends inside '%s'", r->name);
    return fail(r, TAR_E_TRUNCATED, "archive ends before its end blocks");
}
