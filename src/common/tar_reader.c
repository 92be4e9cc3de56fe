/* tar_reader.c — the push parser half of tar.h (the writer is in tar.c).
 *
 * A state machine fed slices of any size. It holds one 512-byte block and,
 * for GNU long names and pax headers, a buffer that grows with the bytes
 * that really arrive, up to a fixed cap. Accepted: ustar (with prefix),
 * GNU magic, pax 'x' (path, linkpath, size, GNU.sparse.*; other keys
 * ignored), pax 'g' (skipped), GNU 'L'/'K', base-256 numbers, signed or
 * unsigned header checksums. Types '1'..'6' carry no data blocks (POSIX),
 * whatever their size field says. Old-style type NUL and contiguous '7'
 * are reported as '0', GNU dump directories 'D' as '5' (their data skipped).
 *
 * Sparse files, in every format GNU tar writes (old-GNU type 'S' with its
 * extension blocks, pax GNU.sparse 0.0, 0.1 and 1.0), are reported as the
 * regular file they stand for: real name (GNU.sparse.name, not the
 * GNUSparseFile.N/ one), real size, and the content in order, holes
 * through ops.hole (or as zero bytes through ops.data). The map is checked
 * whole (in order, no overlap, inside the real size, stored bytes adding
 * up) before the entry is announced; it grows with the entries really
 * read, never by a count the archive claims, up to TAR_SPARSE_MAX.
 *
 * End of input is accepted where GNU tar accepts it: after the two zero
 * blocks, after one, or at a header boundary with every entry complete
 * (no end blocks at all; an extended header describing nothing is
 * ignored, as GNU tar does). Input ending inside a header, an extended
 * header, an entry's data or its block padding is TRUNCATED, as is an
 * empty stream. Bytes after the end blocks (record padding) are ignored.
 * Of several pax headers before one entry the last counts (GNU tar, Go);
 * global 'g' records are checked, not applied, and refused when they
 * would rename or resize every later entry. */
#include "tar.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PATH_CAP (64 * 1024)
/* A pax header may carry a 0.0/0.1 sparse map: far more than a path. */
#define PAX_MAX (1024 * 1024)
#define ZERO_CHUNK 65536

enum { R_HEADER, R_DATA, R_PAD, R_LONG, R_SKIP, R_END, R_ERROR,
       R_SPEXT,   /* old-GNU sparse extension blocks */
       R_SPMAP }; /* pax 1.0 sparse map at the start of the data */

typedef struct sp_ent { uint64_t off, len; } sp_ent;

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
    int has_pname, has_plink, has_psize;   /* 1 pax, 2 GNU.sparse.name, 3 GNU 'L'/'K' */
    uint64_t psize;
    int has_pmtime;            /* a pax mtime: it overrides the header's */
    int64_t pmtime;
    uint32_t pmtime_nsec;
    uint64_t blocks;           /* 512-byte blocks seen, for "empty stream" */
    /* sparse: pax records pending for the next entry */
    int sp_pax;                /* any GNU.sparse.* record seen */
    int sp_major, sp_minor;    /* -1 = absent */
    int sp_has_real, sp_has_count, sp_half;   /* sp_half: offset without numbytes */
    uint64_t sp_real, sp_count;
    /* sparse: the current entry */
    int sparse;                /* the entry being read is sparse */
    sp_ent *sp;
    size_t nsp, spcap;
    size_t sp_i;               /* next map entry to enter */
    uint64_t sp_left;          /* stored bytes left in the current map entry */
    uint64_t sp_pos;           /* logical offset reached in the real file */
    uint64_t sp_stored;        /* stored (data) bytes the map must add up to */
    /* pax 1.0 map text parser */
    uint64_t mp_num, mp_used, mp_want;   /* number being read, bytes used, numbers wanted */
    size_t mp_digits, mp_nums;
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
    r->sp_major = r->sp_minor = -1;
    r->e.name = r->name;
    r->e.linkname = r->link;
    return r;
}

void tar_reader_free(tar_reader *r)
{
    if (!r)
        return;
    free(r->lbuf);
    free(r->sp);
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
    /* The whole block in a loop the compiler vectorizes, then the
     * checksum field counted as spaces: the per-byte test was ~5,000
     * instructions a header, a sixth of a small file's user time. */
    int32_t us = 0, ss = 0;
    for (int i = 0; i < TAR_BLOCK; i++) {
        us += h[i];
        ss += (int8_t)h[i];
    }
    for (int i = 148; i < 156; i++) {
        us += ' ' - h[i];
        ss += ' ' - (int8_t)h[i];
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

/* A pax time: "[-]SECONDS[.FRACTION]", floored to whole seconds plus
 * nanoseconds, as GNU tar reads it. -1 when malformed or out of range. */
static int pax_time(const char *p, size_t n, int64_t *sec, uint32_t *nsec)
{
    int neg = n > 0 && p[0] == '-', bad = 0;
    const char *dot = memchr(p, '.', n);
    size_t ilen = (dot ? (size_t)(dot - p) : n) - (size_t)neg;
    uint64_t v = dec_parse(p + neg, ilen, &bad), frac = 0;
    if (bad || v > (uint64_t)INT64_MAX) return -1;
    if (dot) {
        int digits = 0;
        for (const char *c = dot + 1; c < p + n; c++) {
            if (*c < '0' || *c > '9') return -1;
            if (digits < 9) { frac = frac * 10 + (uint64_t)(*c - '0'); digits++; }
        }
        for (; digits < 9; digits++) frac *= 10;
    }
    if (!neg) {
        *sec = (int64_t)v;
        *nsec = (uint32_t)frac;
    } else if (frac) {          /* -1.25 is 2 s before the epoch plus 0.75 s */
        *sec = -(int64_t)v - 1;
        *nsec = (uint32_t)(1000000000u - frac);
    } else {
        *sec = -(int64_t)v;
        *nsec = 0;
    }
    return 0;
}

/* Appends one map entry; the array grows with entries really read. */
static int sp_push(tar_reader *r, uint64_t off, uint64_t len)
{
    if (r->nsp == r->spcap) {
        if (r->nsp >= TAR_SPARSE_MAX)
            return fail(r, TAR_E_LIMIT, "sparse map of more than %d entries", TAR_SPARSE_MAX);
        size_t nc = r->spcap ? r->spcap * 2 : 16;
        if (nc > TAR_SPARSE_MAX) nc = TAR_SPARSE_MAX;
        sp_ent *n = realloc(r->sp, nc * sizeof *n);
        if (!n)
            return fail(r, TAR_E_NOMEM, "out of memory");
        r->sp = n;
        r->spcap = nc;
    }
    r->sp[r->nsp].off = off;
    r->sp[r->nsp].len = len;
    r->nsp++;
    return 0;
}

/* GNU.sparse.map (0.1): "offset,size,offset,size,...", maybe empty. */
static int sp_parse_map(tar_reader *r, const char *v, size_t n)
{
    size_t i = 0, k = 0;
    uint64_t pair[2];
    if (n == 0)
        return 0;
    for (;;) {
        size_t j = i;
        int bad = 0;
        while (j < n && v[j] != ',')
            j++;
        pair[k & 1] = dec_parse(v + i, j - i, &bad);
        if (bad)
            return fail(r, TAR_E_FORMAT, "bad GNU.sparse.map");
        if ((k++ & 1) && sp_push(r, pair[0], pair[1]) < 0)
            return r->err;
        if (j == n)
            break;
        i = j + 1;
    }
    if (k & 1)
        return fail(r, TAR_E_FORMAT, "GNU.sparse.map with an odd number of values");
    return 0;
}

/* One GNU.sparse.<key> record (key without the prefix). */
static int sp_record(tar_reader *r, const char *key, size_t klen, const char *val, size_t vlen)
{
    int bad = 0;
    uint64_t v = 0;
#define K(s) (klen == sizeof s - 1 && !memcmp(key, s, klen))
    r->sp_pax = 1;
    if (K("name")) {
        if (vlen > r->max_path)
            return fail(r, TAR_E_LIMIT, "GNU.sparse.name of %zu bytes over the %zu-byte limit",
                        vlen, r->max_path);
        if (memchr(val, 0, vlen))
            return fail(r, TAR_E_PATH, "GNU.sparse.name contains a NUL byte");
        memcpy(r->pend_name, val, vlen);
        r->pend_name[vlen] = 0;
        r->has_pname = vlen > 0 ? 2 : 0;   /* 2: a later 'path' does not override */
        return 0;
    }
    if (K("map"))
        return sp_parse_map(r, val, vlen);
    v = dec_parse(val, vlen, &bad);
    if (bad || v > (uint64_t)INT64_MAX)
        return fail(r, TAR_E_FORMAT, "bad GNU.sparse.%.*s value", (int)klen, key);
    if (K("major") || K("minor")) {
        *(K("major") ? &r->sp_major : &r->sp_minor) = v > 100 ? 100 : (int)v;
    } else if (K("size") || K("realsize")) {
        r->sp_real = v;
        r->sp_has_real = 1;
    } else if (K("numblocks")) {
        r->sp_count = v;
        r->sp_has_count = 1;
    } else if (K("offset")) {     /* 0.0: offset/numbytes pairs, in order */
        if (r->sp_half)
            return fail(r, TAR_E_FORMAT, "GNU.sparse.offset without its numbytes");
        if (sp_push(r, v, 0) < 0)
            return r->err;
        r->sp_half = 1;
    } else if (K("numbytes")) {
        if (!r->sp_half)
            return fail(r, TAR_E_FORMAT, "GNU.sparse.numbytes without its offset");
        r->sp[r->nsp - 1].len = v;
        r->sp_half = 0;
    }
#undef K
    return 0;
}

/* A pax 'x' body (or, global, a 'g' one: only checked). */
static int pax_parse(tar_reader *r, int global)
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
        if (!eq || eq == key || memchr(key, 0, (size_t)(eq - key)))
            return fail(r, TAR_E_FORMAT, "malformed pax record");
        size_t klen = (size_t)(eq - key), vlen = (size_t)(end - eq - 1);
        const char *val = eq + 1;
        if (global) {
            /* POSIX applies global records to every later entry: a global
             * path (or size, ...) would make them all one name. GNU tar
             * fails on such archives too; comments, times and the like
             * (git archive's commit id) change nothing here. */
            if ((klen == 4 && (!memcmp(key, "path", 4) || !memcmp(key, "size", 4))) ||
                (klen == 8 && !memcmp(key, "linkpath", 8)) ||
                (klen > 11 && !memcmp(key, "GNU.sparse.", 11)))
                return fail(r, TAR_E_FORMAT, "global pax record '%.*s' (it would apply to every "
                            "later entry)", (int)klen, key);
            pos += (size_t)len;
            continue;
        }
        int is_path = klen == 4 && !memcmp(key, "path", 4);
        int is_link = klen == 8 && !memcmp(key, "linkpath", 8);
        if (is_path || is_link) {
            if (vlen > r->max_path)
                return fail(r, TAR_E_LIMIT, "pax %s of %zu bytes over the %zu-byte limit",
                            is_path ? "path" : "linkpath", vlen, r->max_path);
            if (memchr(val, 0, vlen))
                return fail(r, TAR_E_PATH, "pax %s contains a NUL byte", is_path ? "path" : "linkpath");
            if (is_path && r->has_pname == 2) {
                pos += (size_t)len;      /* GNU.sparse.name rules */
                continue;
            }
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
        } else if (klen == 5 && !memcmp(key, "mtime", 5)) {
            /* Where the header's field cannot hold the time (before 1970,
             * after 2242, a fraction): bsdtar, GNU tar --format=posix,
             * Python and Go write it here. A value that does not parse is
             * ignored (the header's stands), as the entry itself is fine. */
            r->has_pmtime = pax_time(val, vlen, &r->pmtime, &r->pmtime_nsec) == 0;
        } else if (klen > 11 && !memcmp(key, "GNU.sparse.", 11)) {
            if (sp_record(r, key + 11, klen - 11, val, vlen) < 0)
                return r->err;
        }
        pos += (size_t)len;
    }
    return 0;
}

/* Forgets the sparse records of a finished or abandoned entry. */
static void sp_reset(tar_reader *r)
{
    r->sp_pax = r->sp_has_real = r->sp_has_count = r->sp_half = 0;
    r->sp_major = r->sp_minor = -1;
    r->sparse = 0;
    r->nsp = r->sp_i = 0;
    r->sp_left = r->sp_pos = r->sp_stored = 0;
}

/* The whole map is known: it must describe a file of e.size bytes whose
 * stored parts add up to r->sp_stored. */
static int sp_check(tar_reader *r)
{
    uint64_t end = 0, sum = 0;
    for (size_t i = 0; i < r->nsp; i++) {
        const sp_ent *s = &r->sp[i];
        if (s->off < end)
            return fail(r, TAR_E_FORMAT, "sparse map of '%s' out of order or overlapping (entry %zu)",
                        r->name, i);
        if (s->len > r->e.size || s->off > r->e.size - s->len)
            return fail(r, TAR_E_FORMAT, "sparse map of '%s' reaches past its size of %" PRIu64,
                        r->name, r->e.size);
        end = s->off + s->len;
        sum += s->len;        /* <= e.size: the entries are disjoint */
    }
    if (sum != r->sp_stored)
        return fail(r, TAR_E_FORMAT, "sparse map of '%s' describes %" PRIu64
                    " stored bytes, the entry holds %" PRIu64, r->name, sum, r->sp_stored);
    return 0;
}

/* Reports n bytes of hole. */
static int sp_hole(tar_reader *r, uint64_t n)
{
    static const uint8_t zeros[ZERO_CHUNK];
    int rc = 0;
    if (n == 0)
        return 0;
    if (r->ops.hole) {
        rc = r->ops.hole(r->ctx, n);
    } else if (r->ops.data) {
        while (n > 0 && rc >= 0) {
            size_t k = n < ZERO_CHUNK ? (size_t)n : ZERO_CHUNK;
            rc = r->ops.data(r->ctx, zeros, k);
            n -= k;
        }
    }
    return rc < 0 ? fail(r, rc, "stopped by the consumer in '%s' (%d)", r->name, rc) : 0;
}

/* Enters the next map entry holding bytes, reporting the holes before it;
 * with no stored bytes left, reports the hole up to the real size. */
static int sp_advance(tar_reader *r)
{
    while (r->sp_left == 0 && r->sp_i < r->nsp) {
        const sp_ent *s = &r->sp[r->sp_i++];
        if (sp_hole(r, s->off - r->sp_pos) < 0)
            return r->err;
        r->sp_pos = s->off;
        r->sp_left = s->len;
    }
    if (r->sp_left == 0 && sp_hole(r, r->e.size - r->sp_pos) < 0)
        return r->err;
    if (r->sp_left == 0)
        r->sp_pos = r->e.size;
    return 0;
}

/* A GNU 'L'/'K' or pax 'x'/'g' body is complete. */
static int long_done(tar_reader *r)
{
    if (r->long_kind == 'x' || r->long_kind == 'g')
        return pax_parse(r, r->long_kind == 'g');
    size_t n = strnlen(r->lbuf, r->llen);
    if (n > r->max_path)
        return fail(r, TAR_E_LIMIT, "GNU long name over the %zu-byte limit", r->max_path);
    char *dst = r->long_kind == 'L' ? r->pend_name : r->pend_link;
    memcpy(dst, r->lbuf, n);
    dst[n] = 0;
    *(r->long_kind == 'L' ? &r->has_pname : &r->has_plink) = n > 0 ? 3 : 0;
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
    sp_reset(r);
    if (r->ops.entry_end) {
        int rc = r->ops.entry_end(r->ctx, &r->e);
        if (rc < 0)
            return fail(r, rc, "stopped by the consumer at '%s' (%d)", r->name, rc);
    }
    return 0;
}

static int begin_long(tar_reader *r, char kind, uint64_t size)
{
    int pax = kind == 'x' || kind == 'g';
    uint64_t cap = pax ? PAX_MAX : (uint64_t)r->max_path + 1;
    if (size > cap)
        return fail(r, TAR_E_LIMIT, "%s header of %" PRIu64 " bytes over the %" PRIu64 "-byte limit",
                    pax ? "pax" : "GNU long-name", size, cap);
    if (kind == 'x') {
        /* A second pax header before the entry replaces the first (GNU
         * tar and Go keep the last); GNU 'L'/'K' names stay. */
        if (r->has_pname == 1 || r->has_pname == 2) r->has_pname = 0;
        if (r->has_plink == 1) r->has_plink = 0;
        r->has_psize = r->has_pmtime = 0;
        sp_reset(r);
    }
    r->long_kind = kind;
    r->llen = 0;
    if (r->lbuf) r->lbuf[0] = 0;
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

/* Reads the sparse entries of an old-GNU header (4) or extension block
 * (21); an entry whose offset starts with NUL ends the list, as in GNU
 * tar. Returns 1 if an extension block follows. */
static int gnu_sparse_block(tar_reader *r, const uint8_t *b, int count, int ext_at)
{
    for (int i = 0; i < count; i++) {
        const uint8_t *f = b + 24 * i;
        int64_t off, len;
        if (f[0] == 0)
            break;
        if (parse_num(f, 12, &off) < 0 || parse_num(f + 12, 12, &len) < 0 || off < 0 || len < 0)
            return fail(r, TAR_E_FORMAT, "bad sparse entry in the header of '%s'", r->name);
        if (sp_push(r, (uint64_t)off, (uint64_t)len) < 0)
            return r->err;
    }
    return b[ext_at] ? 1 : 0;
}

/* The sparse map is complete (and the data, if any, follows). */
static int begin_entry_data(tar_reader *r);

static int sp_ready(tar_reader *r)
{
    if (sp_check(r) < 0)
        return r->err;
    return begin_entry_data(r);
}

/* Announces the entry whose header (and map) was read, then expects its
 * r->remain data bytes. */
static int begin_entry_data(tar_reader *r)
{
    int rc;
    if (r->ops.entry && (rc = r->ops.entry(r->ctx, &r->e)) < 0)
        return fail(r, rc, "stopped by the consumer at '%s' (%d)", r->name, rc);
    r->pad = (TAR_BLOCK - r->remain % TAR_BLOCK) % TAR_BLOCK;
    if (r->sparse) {
        r->pad = (TAR_BLOCK - (r->remain + r->mp_used) % TAR_BLOCK) % TAR_BLOCK;
        if (r->remain == 0 && sp_advance(r) < 0)
            return r->err;
    }
    if (r->remain == 0) {
        r->state = r->pad ? R_PAD : R_HEADER;
        return entry_finished(r);
    }
    r->state = R_DATA;
    return 0;
}

/* One byte of a pax 1.0 map: decimal numbers, one per line: the count,
 * then offset and size of each entry; the map is then padded to a block. */
static int map_byte(tar_reader *r, uint8_t c)
{
    r->mp_used++;
    if (r->mp_nums == r->mp_want) {      /* in the padding after the map */
        if (r->mp_used % TAR_BLOCK == 0)
            return 1;
        return 0;
    }
    if (c == '\n') {
        if (r->mp_digits == 0)
            return fail(r, TAR_E_FORMAT, "empty number in the sparse map of '%s'", r->name);
        if (r->mp_nums == 0) {
            if (r->mp_num > TAR_SPARSE_MAX)
                return fail(r, TAR_E_LIMIT, "sparse map of '%s' announces %" PRIu64
                            " entries (limit %d)", r->name, r->mp_num, TAR_SPARSE_MAX);
            r->mp_want = 1 + 2 * r->mp_num;
        } else if (r->mp_nums & 1) {
            if (sp_push(r, r->mp_num, 0) < 0)
                return r->err;
        } else {
            r->sp[r->nsp - 1].len = r->mp_num;
        }
        r->mp_nums++;
        r->mp_num = 0;
        r->mp_digits = 0;
        if (r->mp_nums == r->mp_want && r->mp_used % TAR_BLOCK == 0)
            return 1;
        return 0;
    }
    if (c < '0' || c > '9' || r->mp_digits >= 19)
        return fail(r, TAR_E_FORMAT, "malformed sparse map in '%s'", r->name);
    r->mp_num = r->mp_num * 10 + (uint64_t)(c - '0');
    r->mp_digits++;
    return 0;
}

/* The entry is a sparse file (pax records or type 'S'): set up its map
 * and real size; size is the header's (stored) size. */
static int sp_begin(tar_reader *r, char type, const uint8_t *h, uint64_t size)
{
    r->sparse = 1;
    r->mp_used = 0;
    if (type == 'S') {
        int64_t real;
        if (r->sp_pax)
            return fail(r, TAR_E_FORMAT, "'%s': GNU.sparse records on an old-GNU sparse entry", r->name);
        if (parse_num(h + 483, 12, &real) < 0 || real < 0)
            return fail(r, TAR_E_FORMAT, "bad real size in the sparse header of '%s'", r->name);
        r->e.size = (uint64_t)real;
        r->sp_stored = size;
        r->remain = size;
        int more = gnu_sparse_block(r, h + 386, 4, 482 - 386);
        if (more < 0)
            return more;
        r->state = more ? R_SPEXT : R_HEADER;
        return more ? 0 : sp_ready(r);
    }
    int v1 = r->sp_major == 1 && r->sp_minor == 0;
    int v0 = (r->sp_major == 0 || r->sp_major == -1) && r->sp_minor <= 1;
    if (!v1 && !v0)
        return fail(r, TAR_E_FORMAT, "'%s': unknown GNU sparse format %d.%d", r->name,
                    r->sp_major, r->sp_minor);
    if (!r->sp_has_real)
        return fail(r, TAR_E_FORMAT, "'%s': GNU sparse records without the real size", r->name);
    if (r->sp_half)
        return fail(r, TAR_E_FORMAT, "'%s': GNU.sparse.offset without its numbytes", r->name);
    r->e.size = r->sp_real;
    r->remain = size;
    if (v0) {
        if (r->sp_has_count && r->sp_count != r->nsp)
            return fail(r, TAR_E_FORMAT, "'%s': GNU.sparse.numblocks says %" PRIu64
                        ", the map has %zu entries", r->name, r->sp_count, r->nsp);
        r->sp_stored = size;
        return sp_ready(r);
    }
    if (r->nsp)
        return fail(r, TAR_E_FORMAT, "'%s': a 1.0 sparse file with a 0.x map", r->name);
    r->mp_num = r->mp_digits = r->mp_nums = 0;
    r->mp_want = 1;
    if (size == 0)
        return fail(r, TAR_E_FORMAT, "'%s': sparse file without its map", r->name);
    r->state = R_SPMAP;
    return 0;
}

static int process_header(tar_reader *r)
{
    const uint8_t *h = r->hdr;
    int64_t size, mode, mtime;

    r->blocks++;
    if (!memcmp(h, (const uint8_t[TAR_BLOCK]){0}, TAR_BLOCK)) {
        if (++r->zeros == 2)
            r->state = R_END;
        return 0;
    }
    if (r->zeros)
        return fail(r, TAR_E_FORMAT, "a lone zero block inside the archive (GNU tar would stop "
                    "there and drop the rest)");
    if (!checksum_ok(h))
        return fail(r, TAR_E_CHECKSUM, "header checksum mismatch after '%s'", r->name);
    if (parse_num(h + 124, 12, &size) < 0 || size < 0 ||
        parse_num(h + 100, 8, &mode) < 0 || parse_num(h + 136, 12, &mtime) < 0)
        return fail(r, TAR_E_FORMAT, "bad number field in header after '%s'", r->name);
    char type = (char)h[156];
    if (type == 'x' || type == 'L' || type == 'K' || type == 'g')
        return begin_long(r, type, (uint64_t)size);

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
    r->e.mtime_nsec = 0;
    if (r->has_pmtime) {
        mtime = r->pmtime;
        r->e.mtime_nsec = r->pmtime_nsec;
    }
    r->has_pname = r->has_plink = r->has_psize = r->has_pmtime = 0;

    size_t nl = strlen(r->name);
    if (type == 0)
        type = nl && r->name[nl - 1] == '/' ? '5' : '0';
    if (type == '7')
        type = '0';
    if (type >= '1' && type <= '6')
        size = 0;
    normalise(r->name);
    r->e.type = type == 'S' ? '0' : type;
    r->e.mode = (uint32_t)(mode & 07777);
    r->e.size = (uint64_t)size;
    r->e.mtime = mtime;
    r->remain = (uint64_t)size;
    if (type == 'D') {
        /* GNU incremental dump directory: a directory whose data (the
         * names it held at dump time) GNU tar reads only with -G. */
        if (r->sp_pax)
            return fail(r, TAR_E_FORMAT, "'%s': GNU sparse records on a directory", r->name);
        r->e.type = '5';
        r->e.size = 0;
        r->remain = 0;
        int rc = begin_entry_data(r);
        if (rc < 0 || size == 0)
            return rc;
        r->remain = (uint64_t)size;
        r->pad = (TAR_BLOCK - (uint64_t)size % TAR_BLOCK) % TAR_BLOCK;
        r->state = R_SKIP;
        return 0;
    }
    if (type == 'S' || r->sp_pax) {
        if (type != '0' && type != 'S')
            return fail(r, TAR_E_FORMAT, "'%s': GNU sparse records on an entry of type '%c'",
                        r->name, type > 32 && type < 127 ? type : '?');
        return sp_begin(r, type, h, (uint64_t)size);
    }
    return begin_entry_data(r);
}

/* Data bytes of a sparse entry: at most up to the end of the current map
 * entry; the holes between are reported on the way. */
static int sp_data(tar_reader *r, const uint8_t *p, size_t n, size_t *took)
{
    int rc;
    *took = 0;
    if (r->sp_left == 0 && sp_advance(r) < 0)
        return r->err;
    size_t take = r->sp_left < n ? (size_t)r->sp_left : n;
    if (take > r->remain) take = (size_t)r->remain;
    if (take && r->ops.data && (rc = r->ops.data(r->ctx, p, take)) < 0)
        return fail(r, rc, "stopped by the consumer in '%s' (%d)", r->name, rc);
    r->sp_left -= take;
    r->sp_pos += take;
    r->remain -= take;
    *took = take;
    if (r->remain == 0 && sp_advance(r) < 0)    /* trailing hole */
        return r->err;
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
        case R_SPEXT:
            take = TAR_BLOCK - r->hlen < n ? TAR_BLOCK - r->hlen : n;
            memcpy(r->hdr + r->hlen, p, take);
            r->hlen += take;
            if (r->hlen == TAR_BLOCK) {
                r->hlen = 0;
                if (r->state == R_HEADER) {
                    rc = process_header(r);
                } else {
                    r->blocks++;
                    rc = gnu_sparse_block(r, r->hdr, 21, 504);
                    if (rc == 0)
                        rc = sp_ready(r);
                }
                if (rc < 0)
                    return rc;
            }
            break;
        case R_SPMAP:
            for (take = 0; take < n && r->remain > 0 && r->state == R_SPMAP; ) {
                r->remain--;
                rc = map_byte(r, p[take++]);
                if (rc < 0)
                    return rc;
                if (rc == 1) {
                    r->sp_stored = r->remain;
                    if ((rc = sp_ready(r)) < 0)
                        return rc;
                } else if (r->remain == 0) {
                    return fail(r, TAR_E_FORMAT, "the sparse map of '%s' fills its whole entry",
                                r->name);
                }
            }
            break;
        case R_DATA:
            if (r->sparse) {
                if ((rc = sp_data(r, p, n, &take)) < 0)
                    return rc;
            } else {
                take = r->remain < n ? (size_t)r->remain : n;
                if (r->ops.data && (rc = r->ops.data(r->ctx, p, take)) < 0)
                    return fail(r, rc, "stopped by the consumer in '%s' (%d)", r->name, rc);
                r->remain -= take;
            }
            if (r->remain == 0) {
                r->state = r->pad ? R_PAD : R_HEADER;
                if ((rc = entry_finished(r)) < 0)
                    return rc;
            }
            break;
        case R_LONG:
            take = r->remain < n ? (size_t)r->remain : n;
            if (r->llen + take + 1 > r->lcap) {
                /* grows with the bytes that arrived, not the size claimed */
                size_t nc = r->lcap ? r->lcap : 1024;
                while (nc < r->llen + take + 1)
                    nc *= 2;
                char *nb = realloc(r->lbuf, nc);
                if (!nb)
                    return fail(r, TAR_E_NOMEM, "out of memory");
                r->lbuf = nb;
                r->lcap = nc;
            }
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

/* Every byte of a partial block is zero: the start of end blocks. */
static int partial_zero(const tar_reader *r)
{
    for (size_t i = 0; i < r->hlen; i++)
        if (r->hdr[i]) return 0;
    return 1;
}

int tar_reader_finish(tar_reader *r)
{
    if (!r)
        return TAR_E_FORMAT;
    if (r->state == R_ERROR)
        return r->err;
    if (r->state == R_END)
        return 0;
    if (r->state == R_DATA || r->state == R_SPMAP || r->state == R_SKIP)
        return fail(r, TAR_E_TRUNCATED, "archive ends inside '%s'", r->name);
    if (r->state == R_PAD)   /* GNU tar and Python refuse this too */
        return fail(r, TAR_E_TRUNCATED, "archive ends inside the block padding after '%s'", r->name);
    if (r->state == R_SPEXT)
        return fail(r, TAR_E_TRUNCATED, "archive ends inside the sparse map of '%s'", r->name);
    if (r->state == R_LONG)
        return fail(r, TAR_E_TRUNCATED, "archive ends inside an extended header");
    if (r->state == R_HEADER && r->hlen && !partial_zero(r))
        return fail(r, TAR_E_TRUNCATED, "archive ends inside a header");
    if (r->blocks == 0 && r->hlen == 0)
        return fail(r, TAR_E_TRUNCATED, "empty stream: not a tar archive");
    /* Every entry is complete (only padding or end blocks may be missing):
     * GNU tar and Go accept this, and so do we. */
    r->state = R_END;
    return 0;
}
