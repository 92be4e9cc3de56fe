/* proto.c — the wire codec of proto.txt: an encoder that can only produce
 * frames the decoder accepts (per-tag kinds and limits are checked on the
 * way out too, and strings are made valid UTF-8), and a decoder that
 * validates a whole payload before anything reads it, so accessors never
 * need to re-check bounds. Byte order is converted here and nowhere else. */
#include "proto.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the tag table (mirrors "Tags" in proto.txt) ---- */

enum { LIM_NONE = 0, LIM_MAX = 1, LIM_FIXED = 2 };

typedef struct tag_info {
    uint8_t kind;          /* 0 = unknown tag */
    uint8_t lim;           /* for STR/BYTES: LIM_MAX or LIM_FIXED */
    uint32_t len;          /* the limit itself */
    uint64_t lo, hi;       /* U64 range (hi 0 = unbounded) */
} tag_info;

#define S(n) { PROTO_K_STR, LIM_MAX, (n), 0, 0 }
#define B(n) { PROTO_K_BYTES, LIM_MAX, (n), 0, 0 }
#define FX(n) { PROTO_K_BYTES, LIM_FIXED, (n), 0, 0 }
#define U { PROTO_K_U64, LIM_NONE, 0, 0, 0 }
#define UR(a, b) { PROTO_K_U64, LIM_NONE, 0, (a), (b) }
#define I { PROTO_K_I64, LIM_NONE, 0, 0, 0 }
#define F { PROTO_K_F64, LIM_NONE, 0, 0, 0 }
#define R { PROTO_K_REC, LIM_NONE, 0, 0, 0 }

static const tag_info tags[T_TAG_MAX + 1] = {
    [T_TASK_ID] = S(64), [T_USER_ID] = S(64), [T_TASK_NAME] = S(128),
    [T_SUBMITTED_AT] = U, [T_DOCKER_IMAGE] = S(256), [T_COMMAND] = S(8192),
    [T_ARGV] = S(8192), [T_REQ_CPU] = F, [T_REQ_MEMORY] = U, [T_REQ_STORAGE] = U,
    [T_REQ_GPU] = U, [T_STATUS] = UR(1, PROTO_ST_MAX), [T_WORKER_ID] = S(64),
    [T_EXIT_CODE] = I, [T_ERROR] = S(4096), [T_ATTEMPTS] = U, [T_CREATED_AT] = U,
    [T_STARTED_AT] = U, [T_COMPLETED_AT] = U, [T_OUTPUT_FILES] = U,
    [T_OUTPUT_BYTES] = U, [T_TIMEOUT] = U, [T_LOG_TAIL] = S(65536),
    [T_FILE_NAME] = S(4096), [T_FILE_PATH] = S(8192), [T_FILE_SIZE] = U,
    [T_SHA256] = FX(PROTO_SHA256_LEN), [T_MODE] = UR(0, 0xffffffffu), [T_STORED_AT] = U,
    [T_SEQ] = U, [T_OFFSET] = U, [T_CRC32] = UR(0, 0xffffffffu),
    [T_DATA] = B(PROTO_CHUNK_MAX), [T_RAW_LEN] = UR(0, PROTO_CHUNK_MAX),
    [T_TOTAL_SIZE] = U, [T_OK] = UR(0, 1), [T_MESSAGE] = S(4096), [T_CODE] = U,
    [T_ROLE] = UR(PROTO_ROLE_WORKER, PROTO_ROLE_CLIENT), [T_VERSION] = U,
    [T_VERSION_MIN] = U, [T_VERSION_MAX] = U, [T_NODE_ID] = S(64),
    [T_NONCE] = FX(PROTO_NONCE_LEN), [T_PROOF] = FX(PROTO_PROOF_LEN), [T_CPU] = F,
    [T_MEMORY] = U, [T_STORAGE] = U, [T_GPU] = U, [T_FREE_CPU] = F,
    [T_FREE_MEMORY] = U, [T_FREE_STORAGE] = U, [T_FREE_GPU] = U,
    [T_RUNNING] = S(64), [T_HELD] = S(64), [T_TASK] = R, [T_FILE] = R, [T_WORKER] = R,
    [T_SINCE] = U, [T_UNTIL] = U, [T_LIMIT] = U, [T_STATE] = S(32),
    [T_LAST_SEEN] = U, [T_ADDRESS] = S(256), [T_ADMIN] = UR(0, 1),
    [T_PATTERN] = S(128), [T_MORE] = UR(0, 1), [T_EXPIRES_AT] = U,
    [T_COUNT] = U, [T_STORE_BYTES] = U, [T_BACKEND] = S(32), [T_DEGRADED] = S(4096),
    [T_NOTES] = S(4096),
    [T_PRIORITY] = I, [T_EXPECTED_START] = U, [T_PREDICTED_S] = U,
    [T_CURSOR] = S(4352),
    [T_ENV] = S(8192),
    [T_AFTER] = S(6500), [T_AFTER_ANY] = S(6500), [T_RETRIES] = UR(0, 100), [T_RETRIED] = U,
    [T_ARRAY_ID] = S(64), [T_ARRAY] = S(32), [T_ARRAY_INDEX] = U, [T_ARRAY_PARALLEL] = U,
    [T_RUNNING_ATTEMPT] = U, [T_RETRY_AT] = U,
    [T_FILES_CRC32C] = UR(0, 0xffffffffu), [T_CPU_S] = F, [T_MEM_PEAK] = U,
    [T_PREDICTED_MEM] = U,
    [T_INPUT] = R, [T_SOURCE] = S(4096), [T_IS_DIR] = UR(0, 1),
    [T_FOLLOW] = UR(0, 1), [T_LOG_SIZE] = U,
    [T_CRC32C] = UR(0, 0xffffffffu), [T_FILES_SHA256] = FX(PROTO_SHA256_LEN),
};

#undef S
#undef B
#undef FX
#undef U
#undef UR
#undef I
#undef F
#undef R

static const tag_info *tag_lookup(uint8_t tag)
{
    return tag <= T_TAG_MAX && tags[tag].kind ? &tags[tag] : NULL;
}

/* ---- required fields per message type (mirrors "Messages") ---- */

#define REQ_MAX 5
static const uint8_t required[PROTO_TYPE_MAX + 1][REQ_MAX + 1] = {
    [PROTO_CHALLENGE] = { T_VERSION_MIN, T_VERSION_MAX, T_NONCE },
    [PROTO_HELLO] = { T_ROLE, T_VERSION, T_NODE_ID, T_PROOF },
    [PROTO_WELCOME] = { T_VERSION, T_NODE_ID },
    [PROTO_ERROR] = { T_CODE, T_MESSAGE },
    [PROTO_REGISTER] = { T_WORKER_ID, T_CPU, T_MEMORY, T_STORAGE, T_GPU },
    [PROTO_HEARTBEAT] = { T_WORKER_ID },
    [PROTO_SUBMIT] = { T_DOCKER_IMAGE },
    [PROTO_SUBMIT_ACK] = { T_TASK },
    [PROTO_DISPATCH] = { T_DOCKER_IMAGE, T_WORKER_ID },
    [PROTO_ASSIGN] = { T_TASK },
    [PROTO_TASK_STATUS] = { T_TASK_ID, T_STATUS },
    [PROTO_TASK_RESULT] = { T_TASK_ID, T_STATUS },
    [PROTO_UPLOAD_RESUME] = { T_TASK_ID },
    [PROTO_FILE_CHUNK] = { T_TASK_ID, T_SEQ, T_OFFSET, T_DATA },
    [PROTO_FILE_END] = { T_TASK_ID, T_TOTAL_SIZE },
    [PROTO_FILE_ACK] = { T_TASK_ID, T_OK },
    [PROTO_GET_FILE] = { T_TASK_ID },
    [PROTO_CANCEL] = { T_TASK_ID },
    [PROTO_GET_LOG] = { T_TASK_ID },
    [PROTO_LOG] = { T_TASK_ID },
    [PROTO_PIN] = { T_TASK_ID, T_OK },
    [PROTO_INPUT_PUT] = { T_SHA256, T_TOTAL_SIZE },
    [PROTO_LOG_DATA] = { T_TASK_ID, T_OFFSET, T_DATA },
    [PROTO_LOG_ACK] = { T_TASK_ID, T_OFFSET },
    [PROTO_LOG_END] = { T_TASK_ID, T_STATUS },
};

/* ---- byte order ---- */

static void be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static void be64_put(uint8_t *p, uint64_t v)
{
    be32_put(p, (uint32_t)(v >> 32));
    be32_put(p + 4, (uint32_t)v);
}

static uint32_t be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64_get(const uint8_t *p)
{
    return (uint64_t)be32_get(p) << 32 | be32_get(p + 4);
}

static uint64_t f64_bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double f64_from_bits(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* ---- UTF-8 ---- */

size_t proto_utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c == 0) return 0;
    if (c < 0x80) return 1;
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c == 0xe0) { len = 3; lo = 0xa0; }
    else if (c == 0xed) { len = 3; hi = 0x9f; }
    else if (c >= 0xe1 && c <= 0xef) len = 3;
    else if (c == 0xf0) { len = 4; lo = 0x90; }
    else if (c >= 0xf1 && c <= 0xf3) len = 4;
    else if (c == 0xf4) { len = 4; hi = 0x8f; }
    else return 0;
    if (n < len) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf) return 0;
    return len;
}

static int utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (p[i] >= 0x01 && p[i] < 0x80) { i++; continue; }   /* fast path */
        size_t k = proto_utf8_seq(p + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* ---- encoder ---- */

void proto_buf_init(proto_buf *b)
{
    memset(b, 0, sizeof *b);
}

void proto_buf_free(proto_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Makes room for n more bytes; never lets a payload grow past
 * PROTO_PAYLOAD_MAX, so a runaway caller fails before allocating. */
static int buf_room(proto_buf *b, size_t n)
{
    if (b->err) return b->err;
    if (b->len < PROTO_HDR_LEN) { b->err = PROTO_E_TYPE; return PROTO_E_TYPE; }  /* no proto_begin */
    if (n > PROTO_PAYLOAD_MAX || b->len - PROTO_HDR_LEN > PROTO_PAYLOAD_MAX - n) {
        b->err = PROTO_E_TOOBIG;
        return PROTO_E_TOOBIG;
    }
    if (b->len + n <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    if (cap > PROTO_HDR_LEN + PROTO_PAYLOAD_MAX) cap = PROTO_HDR_LEN + PROTO_PAYLOAD_MAX;
    uint8_t *p = realloc(b->p, cap);
    if (!p) { b->err = PROTO_E_NOMEM; return PROTO_E_NOMEM; }
    b->p = p;
    b->cap = cap;
    return 0;
}

void proto_begin(proto_buf *b, uint16_t type, uint16_t flags)
{
    b->len = 0;
    b->err = 0;
    if (b->cap < PROTO_HDR_LEN) {
        uint8_t *p = realloc(b->p, 256);
        if (!p) { b->err = PROTO_E_NOMEM; return; }
        b->p = p;
        b->cap = 256;
    }
    be32_put(b->p, 0);
    b->p[4] = (uint8_t)(type >> 8); b->p[5] = (uint8_t)type;
    b->p[6] = (uint8_t)(flags >> 8); b->p[7] = (uint8_t)flags;
    b->len = PROTO_HDR_LEN;
}

/* Checks that tag may carry kind; unknown tags take any kind (that is how
 * tests and newer peers produce fields this version skips). */
static int check_kind(proto_buf *b, uint8_t tag, uint8_t kind)
{
    if (b->err) return b->err;
    const tag_info *ti = tag_lookup(tag);
    if (ti && ti->kind != kind) { b->err = PROTO_E_KIND; return PROTO_E_KIND; }
    return 0;
}

static int check_len(const tag_info *ti, size_t n)
{
    if (!ti || (ti->kind != PROTO_K_STR && ti->kind != PROTO_K_BYTES)) return 0;
    if (ti->lim == LIM_FIXED ? n != ti->len : n > ti->len) return PROTO_E_STRLEN;
    return 0;
}

static int check_u64(const tag_info *ti, uint64_t v)
{
    if (!ti || ti->kind != PROTO_K_U64 || ti->hi == 0) return 0;
    return v < ti->lo || v > ti->hi ? PROTO_E_RANGE : 0;
}

static void put_fixed(proto_buf *b, uint8_t tag, uint8_t kind, uint64_t bits)
{
    if (check_kind(b, tag, kind) < 0 || buf_room(b, 10) < 0) return;
    uint8_t *p = b->p + b->len;
    p[0] = tag;
    p[1] = kind;
    be64_put(p + 2, bits);
    b->len += 10;
}

void proto_put_u64(proto_buf *b, uint8_t tag, uint64_t v)
{
    int rc = check_u64(tag_lookup(tag), v);
    if (rc && !b->err) b->err = rc;
    put_fixed(b, tag, PROTO_K_U64, v);
}

void proto_put_i64(proto_buf *b, uint8_t tag, int64_t v)
{
    put_fixed(b, tag, PROTO_K_I64, (uint64_t)v);
}

void proto_put_f64(proto_buf *b, uint8_t tag, double v)
{
    if (!isfinite(v) && !b->err) b->err = PROTO_E_RANGE;
    put_fixed(b, tag, PROTO_K_F64, f64_bits(v));
}

/* Writes tag, kind and a length prefix; returns the value's start or NULL. */
static uint8_t *put_var_head(proto_buf *b, uint8_t tag, uint8_t kind, size_t n)
{
    if (check_kind(b, tag, kind) < 0) return NULL;
    if (n > PROTO_PAYLOAD_MAX) { b->err = PROTO_E_TOOBIG; return NULL; }
    if (buf_room(b, 6 + n) < 0) return NULL;
    uint8_t *p = b->p + b->len;
    p[0] = tag;
    p[1] = kind;
    be32_put(p + 2, (uint32_t)n);
    b->len += 6;
    return p + 6;
}

/* Strings leave valid: each byte that does not start a valid UTF-8
 * sequence (and each NUL) becomes '?', so a log tail cut mid-character or
 * a binary line from a container still travels, with its length intact. */
void proto_put_strn(proto_buf *b, uint8_t tag, const char *s, size_t n)
{
    if (b->err) return;
    int rc = check_len(tag_lookup(tag), n);
    if (rc) { b->err = rc; return; }
    uint8_t *d = put_var_head(b, tag, PROTO_K_STR, n);
    if (!d) return;
    const uint8_t *src = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = proto_utf8_seq(src + i, n - i);
        if (k) { memcpy(d + i, src + i, k); i += k; }
        else d[i++] = '?';
    }
    b->len += n;
}

void proto_put_str(proto_buf *b, uint8_t tag, const char *s)
{
    if (s) proto_put_strn(b, tag, s, strlen(s));
}

void proto_put_bytes(proto_buf *b, uint8_t tag, const void *p, size_t n)
{
    if (b->err) return;
    int rc = check_len(tag_lookup(tag), n);
    if (rc) { b->err = rc; return; }
    uint8_t *d = put_var_head(b, tag, PROTO_K_BYTES, n);
    if (!d) return;
    if (n) memcpy(d, p, n);
    b->len += n;
}

/* The length prefix sits just before b->len until the commit: no state
 * beyond the buffer, so nothing else may be put in between. */
uint8_t *proto_put_bytes_reserve(proto_buf *b, uint8_t tag, size_t n)
{
    uint8_t *d = put_var_head(b, tag, PROTO_K_BYTES, n);
    if (!d) return NULL;
    return d;
}

void proto_put_bytes_commit(proto_buf *b, size_t used)
{
    if (b->err) return;
    if (b->len < PROTO_HDR_LEN + 6 || used > b->cap - b->len) { b->err = PROTO_E_TOOBIG; return; }
    uint8_t *p = b->p + b->len - 6;
    int rc = check_len(tag_lookup(p[0]), used);
    if (rc) { b->err = rc; return; }
    be32_put(p + 2, (uint32_t)used);
    b->len += used;
}

size_t proto_rec_begin(proto_buf *b, uint8_t tag)
{
    if (!put_var_head(b, tag, PROTO_K_REC, 0)) return 0;
    return b->len - 4;
}

void proto_rec_end(proto_buf *b, size_t mark)
{
    if (b->err) return;
    if (mark < PROTO_HDR_LEN + 2 || mark + 4 > b->len) { b->err = PROTO_E_DEPTH; return; }
    be32_put(b->p + mark, (uint32_t)(b->len - mark - 4));
}

int proto_finish(proto_buf *b)
{
    if (b->err) return b->err;
    if (b->len < PROTO_HDR_LEN) return b->err = PROTO_E_TYPE;
    size_t n = b->len - PROTO_HDR_LEN;
    if (n > PROTO_PAYLOAD_MAX) return b->err = PROTO_E_TOOBIG;
    be32_put(b->p, (uint32_t)n);
    return 0;
}

size_t proto_payload_len(const proto_buf *b)
{
    return b->len >= PROTO_HDR_LEN ? b->len - PROTO_HDR_LEN : 0;
}

/* ---- decoder ---- */

int proto_header(const uint8_t hdr[PROTO_HDR_LEN], uint32_t max, uint32_t *len,
                 uint16_t *type, uint16_t *flags)
{
    uint32_t n = be32_get(hdr);
    uint16_t t = (uint16_t)(hdr[4] << 8 | hdr[5]);
    if (max > PROTO_PAYLOAD_MAX) max = PROTO_PAYLOAD_MAX;
    if (n > max) return PROTO_E_TOOBIG;
    if (t == 0 || t > PROTO_TYPE_MAX) return PROTO_E_TYPE;
    if (len) *len = n;
    if (type) *type = t;
    if (flags) *flags = (uint16_t)(hdr[6] << 8 | hdr[7]);
    return 0;
}

/* Splits the field at *off, checking only that it lies inside p[0..n). */
static int field_at(const uint8_t *p, size_t n, size_t *off, proto_field *f)
{
    size_t o = *off;
    if (n - o < 2) return PROTO_E_TRUNCATED;
    f->tag = p[o];
    f->kind = p[o + 1];
    o += 2;
    switch (f->kind) {
    case PROTO_K_U64: case PROTO_K_I64: case PROTO_K_F64:
        if (n - o < 8) return PROTO_E_TRUNCATED;
        f->len = 8;
        break;
    case PROTO_K_STR: case PROTO_K_BYTES: case PROTO_K_REC:
        if (n - o < 4) return PROTO_E_TRUNCATED;
        f->len = be32_get(p + o);
        o += 4;
        if (f->len > n - o) return PROTO_E_TRUNCATED;
        break;
    default:
        return PROTO_E_KIND;
    }
    f->p = p + o;
    *off = o + f->len;
    return 0;
}

static int check_field(const proto_field *f, int depth);

static int check_fields(const uint8_t *p, size_t n, int depth)
{
    size_t off = 0;
    proto_field f;
    while (off < n) {
        int rc = field_at(p, n, &off, &f);
        if (rc) return rc;
        if ((rc = check_field(&f, depth))) return rc;
    }
    return 0;
}

static int check_field(const proto_field *f, int depth)
{
    const tag_info *ti = tag_lookup(f->tag);
    int rc;
    if (ti) {
        if (ti->kind != f->kind) return PROTO_E_KIND;
        if ((rc = check_len(ti, f->len))) return rc;
    }
    switch (f->kind) {
    case PROTO_K_U64:
        return check_u64(ti, be64_get(f->p));
    case PROTO_K_F64:
        /* Unknown tags are skipped, not judged; known F64s must be finite. */
        return ti && !isfinite(f64_from_bits(be64_get(f->p))) ? PROTO_E_RANGE : 0;
    case PROTO_K_STR:
        return ti && !utf8_valid(f->p, f->len) ? PROTO_E_STRING : 0;
    case PROTO_K_REC:
        /* Even an unknown record is walked: proto_rec_open promises a
         * validated payload, and depth must stay bounded. */
        if (depth + 1 > PROTO_DEPTH_MAX) return PROTO_E_DEPTH;
        return check_fields(f->p, f->len, depth + 1);
    default:
        return 0;
    }
}

int proto_decode(proto_msg *m, uint16_t type, uint16_t flags,
                 const uint8_t *payload, uint32_t len)
{
    if (type == 0 || type > PROTO_TYPE_MAX) return PROTO_E_TYPE;
    if (len > PROTO_PAYLOAD_MAX) return PROTO_E_TOOBIG;
    if (len && !payload) return PROTO_E_TRUNCATED;
    int rc = check_fields(payload, len, 0);
    if (rc) return rc;
    proto_msg tmp = { type, flags, payload, len };
    proto_field f;
    for (const uint8_t *t = required[type]; *t; t++)
        if (proto_get(&tmp, *t, &f)) return PROTO_E_MISSING;
    *m = tmp;
    return 0;
}

void proto_rec_open(const proto_field *f, proto_msg *sub)
{
    sub->type = 0;
    sub->flags = 0;
    sub->payload = f->p;
    sub->len = f->kind == PROTO_K_REC ? f->len : 0;
}

/* ---- accessors (the payload is validated, field_at cannot fail, but
 * it stays checked so a caller passing an unvalidated msg is safe) ---- */

int proto_next(const proto_msg *m, uint8_t tag, size_t *pos, proto_field *f)
{
    while (*pos < m->len) {
        if (field_at(m->payload, m->len, pos, f)) { *pos = m->len; return 0; }
        if (f->tag == tag) return 1;
    }
    return 0;
}

int proto_get(const proto_msg *m, uint8_t tag, proto_field *f)
{
    size_t pos = 0;
    return proto_next(m, tag, &pos, f) ? 0 : PROTO_E_MISSING;
}

static int get_kind(const proto_msg *m, uint8_t tag, uint8_t kind, proto_field *f)
{
    int rc = proto_get(m, tag, f);
    if (rc) return rc;
    return f->kind == kind ? 0 : PROTO_E_KIND;
}

int proto_u64(const proto_msg *m, uint8_t tag, uint64_t *v)
{
    proto_field f;
    int rc = get_kind(m, tag, PROTO_K_U64, &f);
    if (!rc) *v = be64_get(f.p);
    return rc;
}

int proto_i64(const proto_msg *m, uint8_t tag, int64_t *v)
{
    proto_field f;
    int rc = get_kind(m, tag, PROTO_K_I64, &f);
    if (!rc) *v = (int64_t)be64_get(f.p);
    return rc;
}

int proto_f64(const proto_msg *m, uint8_t tag, double *v)
{
    proto_field f;
    int rc = get_kind(m, tag, PROTO_K_F64, &f);
    if (!rc) *v = f64_from_bits(be64_get(f.p));
    return rc;
}

int proto_str(const proto_msg *m, uint8_t tag, char *dst, size_t cap)
{
    proto_field f;
    int rc = get_kind(m, tag, PROTO_K_STR, &f);
    if (rc) return rc;
    if (cap == 0 || f.len > cap - 1) return PROTO_E_STRLEN;
    memcpy(dst, f.p, f.len);
    dst[f.len] = '\0';
    return 0;
}

char *proto_strdup(const proto_msg *m, uint8_t tag)
{
    proto_field f;
    if (get_kind(m, tag, PROTO_K_STR, &f)) return NULL;
    char *s = malloc((size_t)f.len + 1);
    if (!s) return NULL;
    memcpy(s, f.p, f.len);
    s[f.len] = '\0';
    return s;
}

uint64_t proto_field_u64(const proto_field *f)
{
    if (f->kind != PROTO_K_U64 && f->kind != PROTO_K_I64 && f->kind != PROTO_K_F64) return 0;
    return be64_get(f->p);
}

void proto_field_str(const proto_field *f, char *dst, size_t cap)
{
    if (cap == 0) return;
    size_t n = 0;
    if (f->kind == PROTO_K_STR || f->kind == PROTO_K_BYTES) {
        n = f->len < cap - 1 ? f->len : cap - 1;
        /* Truncating must not leave half a character behind. */
        if (f->kind == PROTO_K_STR && n < f->len)
            while (n > 0 && (f->p[n] & 0xc0) == 0x80) n--;
        memcpy(dst, f->p, n);
    }
    dst[n] = '\0';
}

/* ---- names ---- */

static const char *const type_names[PROTO_TYPE_MAX + 1] = {
    [PROTO_CHALLENGE] = "CHALLENGE", [PROTO_HELLO] = "HELLO", [PROTO_WELCOME] = "WELCOME",
    [PROTO_ERROR] = "ERROR", [PROTO_OK] = "OK", [PROTO_REGISTER] = "REGISTER",
    [PROTO_HEARTBEAT] = "HEARTBEAT", [PROTO_SUBMIT] = "SUBMIT",
    [PROTO_SUBMIT_ACK] = "SUBMIT_ACK", [PROTO_DISPATCH] = "DISPATCH",
    [PROTO_ASSIGN] = "ASSIGN", [PROTO_TASK_STATUS] = "TASK_STATUS",
    [PROTO_TASK_RESULT] = "TASK_RESULT", [PROTO_UPLOAD_RESUME] = "UPLOAD_RESUME",
    [PROTO_FILE_CHUNK] = "FILE_CHUNK", [PROTO_FILE_END] = "FILE_END",
    [PROTO_FILE_ACK] = "FILE_ACK", [PROTO_LIST_TASKS] = "LIST_TASKS",
    [PROTO_TASK_LIST] = "TASK_LIST", [PROTO_LIST_WORKERS] = "LIST_WORKERS",
    [PROTO_WORKER_LIST] = "WORKER_LIST", [PROTO_LIST_FILES] = "LIST_FILES",
    [PROTO_FILE_LIST] = "FILE_LIST", [PROTO_GET_FILE] = "GET_FILE",
    [PROTO_CANCEL] = "CANCEL", [PROTO_GET_LOG] = "GET_LOG", [PROTO_LOG] = "LOG",
    [PROTO_PIN] = "PIN", [PROTO_GET_STATUS] = "GET_STATUS",
    [PROTO_CLUSTER_STATUS] = "CLUSTER_STATUS",
    [PROTO_INPUT_QUERY] = "INPUT_QUERY", [PROTO_INPUT_NEED] = "INPUT_NEED",
    [PROTO_INPUT_PUT] = "INPUT_PUT", [PROTO_GET_INPUT] = "GET_INPUT",
    [PROTO_WAIT] = "WAIT",
    [PROTO_LOG_DATA] = "LOG_DATA", [PROTO_LOG_ACK] = "LOG_ACK", [PROTO_LOG_END] = "LOG_END",
};

const char *proto_type_name(uint16_t type)
{
    return type <= PROTO_TYPE_MAX && type_names[type] ? type_names[type] : "UNKNOWN";
}

static const char *const status_names[PROTO_ST_MAX + 1] = {
    [PROTO_ST_QUEUED] = "queued", [PROTO_ST_ASSIGNED] = "assigned",
    [PROTO_ST_RUNNING] = "running", [PROTO_ST_UPLOADING] = "uploading",
    [PROTO_ST_COMPLETED] = "completed", [PROTO_ST_FAILED] = "failed",
    [PROTO_ST_CANCELLED] = "cancelled",
};

const char *proto_status_name(uint64_t status)
{
    return status >= 1 && status <= PROTO_ST_MAX ? status_names[status] : "unknown";
}

int proto_status_parse(const char *name)
{
    if (!name) return -1;
    for (int i = 1; i <= PROTO_ST_MAX; i++)
        if (!strcmp(name, status_names[i])) return i;
    return -1;
}

static const char *const err_names[] = {
    [PROTO_ERR_BAD_FRAME] = "BAD_FRAME", [PROTO_ERR_UNKNOWN_TYPE] = "UNKNOWN_TYPE",
    [PROTO_ERR_TOO_BIG] = "TOO_BIG", [PROTO_ERR_AUTH] = "AUTH",
    [PROTO_ERR_VERSION] = "VERSION", [PROTO_ERR_NOT_FOUND] = "NOT_FOUND",
    [PROTO_ERR_FORBIDDEN] = "FORBIDDEN", [PROTO_ERR_BAD_REQUEST] = "BAD_REQUEST",
    [PROTO_ERR_NO_FIT] = "NO_FIT", [PROTO_ERR_STORE] = "STORE",
    [PROTO_ERR_LIMIT] = "LIMIT", [PROTO_ERR_INTERNAL] = "INTERNAL",
    [PROTO_ERR_STATE] = "STATE", [PROTO_ERR_CHECKSUM] = "CHECKSUM",
    [PROTO_ERR_ARCHIVE] = "ARCHIVE",
};

const char *proto_err_name(uint64_t code)
{
    size_t n = sizeof err_names / sizeof err_names[0];
    return code < n && err_names[code] ? err_names[code] : "UNKNOWN";
}

void proto_error(proto_buf *b, uint64_t code, const char *fmt, ...)
{
    char msg[4096 + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : strlen(msg);
    /* vsnprintf cut at a byte; step back over a partial character. */
    if (n >= (int)sizeof msg) {
        size_t k = len;
        while (k > 0 && (msg[k - 1] & 0xc0) == 0x80) k--;
        if (k > 0 && ((uint8_t)msg[k - 1] & 0x80) && proto_utf8_seq((const uint8_t *)msg + k - 1, len - k + 1) != len - k + 1)
            len = k - 1;
    }
    proto_begin(b, PROTO_ERROR, PROTO_F_NONE);
    proto_put_u64(b, T_CODE, code);
    proto_put_strn(b, T_MESSAGE, msg, len);
    proto_finish(b);
}
