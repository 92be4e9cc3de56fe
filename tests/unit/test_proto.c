#include <errno.h>
/* test_proto.c — the wire codec: round trips of every kind and message
 * type, exact limits, every rejection with its own code, truncation at
 * every byte, nesting, lists, and the hex dumps printed in proto.txt.
 * PROTO_DUMP=1 prints the dumps instead of checking them. */
#include "proto.h"
#include "t.h"
#include "chunk.h"

#include <float.h>
#include <math.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <zlib.h>

/* ---- raw payload builder: writes what the encoder refuses to ---- */

typedef struct raw { uint8_t p[1 << 16]; size_t n; } raw;

static void raw_be32(raw *r, uint32_t v)
{
    r->p[r->n++] = (uint8_t)(v >> 24); r->p[r->n++] = (uint8_t)(v >> 16);
    r->p[r->n++] = (uint8_t)(v >> 8); r->p[r->n++] = (uint8_t)v;
}

static void raw_fixed(raw *r, uint8_t tag, uint8_t kind, uint64_t v)
{
    r->p[r->n++] = tag;
    r->p[r->n++] = kind;
    raw_be32(r, (uint32_t)(v >> 32));
    raw_be32(r, (uint32_t)v);
}

static void raw_var(raw *r, uint8_t tag, uint8_t kind, const void *p, uint32_t n)
{
    r->p[r->n++] = tag;
    r->p[r->n++] = kind;
    raw_be32(r, n);
    memcpy(r->p + r->n, p, n);
    r->n += n;
}

static uint64_t dbits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

static int decode_raw(uint16_t type, const raw *r)
{
    proto_msg m;
    return proto_decode(&m, type, 0, r->p, (uint32_t)r->n);
}

/* Finishes b and decodes it through the header, as a receiver would. */
static int decode_buf(proto_buf *b, proto_msg *m)
{
    int rc = proto_finish(b);
    if (rc) return rc;
    uint32_t len;
    uint16_t type, flags;
    if ((rc = proto_header(b->p, PROTO_PAYLOAD_MAX, &len, &type, &flags))) return rc;
    if (len != b->len - PROTO_HDR_LEN) return 99;
    return proto_decode(m, type, flags, b->p + PROTO_HDR_LEN, len);
}

static const uint8_t k32[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

/* Puts a valid value for any tag a required list may name. */
static void put_valid(proto_buf *b, uint8_t tag)
{
    switch (tag) {
    case T_NONCE: case T_PROOF: case T_SHA256: proto_put_bytes(b, tag, k32, 32); break;
    case T_DATA: proto_put_bytes(b, tag, "abc", 3); break;
    case T_CPU: proto_put_f64(b, tag, 2.0); break;
    case T_ROLE: case T_STATUS: case T_OK: case T_VERSION_MIN: case T_VERSION_MAX:
    case T_VERSION: case T_CODE: case T_SEQ: case T_OFFSET: case T_CRC32:
    case T_MEMORY: case T_STORAGE: case T_GPU: case T_TOTAL_SIZE:
        proto_put_u64(b, tag, 1); break;
    case T_TASK: {
        size_t mk = proto_rec_begin(b, T_TASK);
        proto_put_str(b, T_TASK_ID, "t1");
        proto_rec_end(b, mk);
        break;
    }
    default: proto_put_str(b, tag, "x"); break;
    }
}

/* The required table, written out again here so a slip in proto.c shows. */
static const uint8_t req[PROTO_TYPE_MAX + 1][6] = {
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

static void test_every_type(void)
{
    proto_buf b;
    proto_buf_init(&b);
    for (uint16_t t = 1; t <= PROTO_TYPE_MAX; t++) {
        proto_msg m;
        proto_begin(&b, t, 0);
        for (const uint8_t *r = req[t]; *r; r++) put_valid(&b, *r);
        proto_put_u64(&b, 200, 7);    /* an unknown tag rides along */
        int rc = decode_buf(&b, &m);
        if (rc) printf("#   type %u (%s): %s\n", t, proto_type_name(t), cai_strerror(rc));
        T_EQ_INT(rc, 0);
        T_EQ_INT(m.type, t);
        for (const uint8_t *r = req[t]; *r; r++) {
            proto_field f;
            T_EQ_INT(proto_get(&m, *r, &f), 0);
        }
        /* Drop each required field in turn. */
        for (int skip = 0; req[t][skip]; skip++) {
            proto_begin(&b, t, 0);
            for (int i = 0; req[t][i]; i++)
                if (i != skip) put_valid(&b, req[t][i]);
            T_EQ_INT(decode_buf(&b, &m), PROTO_E_MISSING);
        }
        T_CHECK(strcmp(proto_type_name(t), "UNKNOWN") != 0);
    }
    /* The empty payload is valid exactly for the types with no required field. */
    for (uint16_t t = 1; t <= PROTO_TYPE_MAX; t++) {
        proto_msg m;
        T_EQ_INT(proto_decode(&m, t, 0, NULL, 0), req[t][0] ? PROTO_E_MISSING : 0);
    }
    T_EQ_STR(proto_type_name(0), "UNKNOWN");
    T_EQ_STR(proto_type_name(PROTO_TYPE_MAX + 1), "UNKNOWN");
    T_EQ_STR(proto_type_name(PROTO_FILE_CHUNK), "FILE_CHUNK");
    proto_buf_free(&b);
}

static void test_kinds_roundtrip(void)
{
    proto_buf b;
    proto_msg m;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_OK, 0x1234);
    proto_put_u64(&b, T_FILE_SIZE, UINT64_MAX);
    proto_put_u64(&b, T_SEQ, 0);
    proto_put_i64(&b, T_EXIT_CODE, INT64_MIN);
    proto_put_f64(&b, T_REQ_CPU, 0.25);
    proto_put_f64(&b, T_CPU, -DBL_MAX);
    proto_put_f64(&b, T_FREE_CPU, DBL_MIN / 4);   /* subnormal */
    proto_put_str(&b, T_MESSAGE, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
    proto_put_str(&b, T_TASK_NAME, "");
    proto_put_str(&b, T_ERROR, NULL);              /* skipped */
    proto_put_bytes(&b, T_SHA256, k32, 32);
    proto_put_bytes(&b, T_DATA, "\0\1\2", 3);
    proto_put_i64(&b, 201, -5);                    /* unknown tags keep any kind */
    T_EQ_INT(decode_buf(&b, &m), 0);
    T_EQ_INT(m.flags, 0x1234);
    uint64_t u = 1;
    int64_t i = 0;
    double d = 0;
    char s[64];
    proto_field f;
    T_EQ_INT(proto_u64(&m, T_FILE_SIZE, &u), 0); T_CHECK(u == UINT64_MAX);
    T_EQ_INT(proto_u64(&m, T_SEQ, &u), 0); T_CHECK(u == 0);
    T_EQ_INT(proto_i64(&m, T_EXIT_CODE, &i), 0); T_CHECK(i == INT64_MIN);
    T_EQ_INT(proto_f64(&m, T_REQ_CPU, &d), 0); T_CHECK(d == 0.25);
    T_EQ_INT(proto_f64(&m, T_CPU, &d), 0); T_CHECK(d == -DBL_MAX);
    T_EQ_INT(proto_f64(&m, T_FREE_CPU, &d), 0); T_CHECK(d == DBL_MIN / 4);
    T_EQ_INT(proto_str(&m, T_MESSAGE, s, sizeof s), 0);
    T_EQ_STR(s, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
    T_EQ_INT(proto_str(&m, T_TASK_NAME, s, sizeof s), 0); T_EQ_STR(s, "");
    T_EQ_INT(proto_get(&m, T_ERROR, &f), PROTO_E_MISSING);
    T_EQ_INT(proto_get(&m, T_SHA256, &f), 0);
    T_EQ_INT(f.len, 32); T_CHECK(!memcmp(f.p, k32, 32));
    T_EQ_INT(proto_get(&m, T_DATA, &f), 0);
    T_EQ_INT(f.len, 3); T_CHECK(!memcmp(f.p, "\0\1\2", 3));
    T_EQ_INT(proto_i64(&m, 201, &i), 0); T_CHECK(i == -5);
    /* Accessors check the kind they are asked for. */
    T_EQ_INT(proto_u64(&m, T_MESSAGE, &u), PROTO_E_KIND);
    T_EQ_INT(proto_str(&m, T_FILE_SIZE, s, sizeof s), PROTO_E_KIND);
    T_EQ_INT(proto_u64(&m, T_TASK_ID, &u), PROTO_E_MISSING);
    T_EQ_INT(proto_str(&m, T_MESSAGE, s, 5), PROTO_E_STRLEN);
    char *dup = proto_strdup(&m, T_MESSAGE);
    T_CHECK(dup && !strcmp(dup, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
    free(dup);
    T_CHECK(proto_strdup(&m, T_TASK_ID) == NULL);
    T_EQ_INT(proto_get(&m, T_MESSAGE, &f), 0);
    proto_field_str(&f, s, 3);                 /* "h" + half of é -> "h" */
    T_EQ_STR(s, "h");
    proto_field_str(&f, s, 4);
    T_EQ_STR(s, "h\xc3\xa9");
    T_EQ_INT(proto_get(&m, T_FILE_SIZE, &f), 0);
    T_CHECK(proto_field_u64(&f) == UINT64_MAX);
    proto_buf_free(&b);
}

static void test_encoder_rules(void)
{
    proto_buf b;
    proto_msg m;
    proto_buf_init(&b);
    /* Wrong kind for a known tag is sticky; later puts do nothing. */
    proto_begin(&b, PROTO_OK, 0);
    proto_put_u64(&b, T_TASK_ID, 1);
    T_EQ_INT(b.err, PROTO_E_KIND);
    size_t len = b.len;
    proto_put_str(&b, T_MESSAGE, "x");
    T_EQ_INT(b.len, len);
    T_EQ_INT(proto_finish(&b), PROTO_E_KIND);
    /* proto_begin clears it. */
    proto_begin(&b, PROTO_OK, 0);
    T_EQ_INT(b.err, 0);
    T_EQ_INT(proto_finish(&b), 0);
    T_EQ_INT(proto_payload_len(&b), 0);
    /* Ranges and non-finite numbers are refused on the way out too. */
    proto_begin(&b, PROTO_OK, 0); proto_put_u64(&b, T_STATUS, 0);
    T_EQ_INT(proto_finish(&b), PROTO_E_RANGE);
    proto_begin(&b, PROTO_OK, 0); proto_put_u64(&b, T_ROLE, 3);
    T_EQ_INT(proto_finish(&b), PROTO_E_RANGE);
    proto_begin(&b, PROTO_OK, 0); proto_put_f64(&b, T_REQ_CPU, NAN);
    T_EQ_INT(proto_finish(&b), PROTO_E_RANGE);
    proto_begin(&b, PROTO_OK, 0); proto_put_bytes(&b, T_NONCE, k32, 31);
    T_EQ_INT(proto_finish(&b), PROTO_E_STRLEN);
    /* Invalid UTF-8 and NUL become '?', length kept. */
    proto_begin(&b, PROTO_OK, 0);
    proto_put_strn(&b, T_MESSAGE, "a\0b\xff\xc3", 5);
    T_EQ_INT(decode_buf(&b, &m), 0);
    char s[16];
    T_EQ_INT(proto_str(&m, T_MESSAGE, s, sizeof s), 0);
    T_EQ_STR(s, "a?b??");
    /* Reserve/commit writes in place; a commit over the tag limit fails. */
    proto_begin(&b, PROTO_OK, 0);
    uint8_t *w = proto_put_bytes_reserve(&b, T_DATA, 100);
    T_CHECK(w != NULL);
    if (w) memcpy(w, "xyz", 3);
    proto_put_bytes_commit(&b, 3);
    proto_put_u64(&b, T_RAW_LEN, 3);
    T_EQ_INT(decode_buf(&b, &m), 0);
    proto_field f;
    T_EQ_INT(proto_get(&m, T_DATA, &f), 0);
    T_EQ_INT(f.len, 3);
    T_CHECK(f.len == 3 && !memcmp(f.p, "xyz", 3));
    proto_begin(&b, PROTO_OK, 0);
    w = proto_put_bytes_reserve(&b, T_DATA, PROTO_CHUNK_MAX + 10);
    T_CHECK(w != NULL);
    proto_put_bytes_commit(&b, PROTO_CHUNK_MAX + 1);
    T_EQ_INT(proto_finish(&b), PROTO_E_STRLEN);
    proto_begin(&b, PROTO_OK, 0);
    T_CHECK(proto_put_bytes_reserve(&b, T_DATA, PROTO_PAYLOAD_MAX) == NULL);
    T_EQ_INT(b.err, PROTO_E_TOOBIG);
    proto_put_bytes_commit(&b, 0);             /* harmless after a failed reserve */
    T_EQ_INT(proto_finish(&b), PROTO_E_TOOBIG);
    /* A put before proto_begin fails instead of writing a bogus frame. */
    proto_buf fresh;
    proto_buf_init(&fresh);
    proto_put_u64(&fresh, T_SEQ, 1);
    T_CHECK(proto_finish(&fresh) < 0);
    proto_buf_free(&fresh);
    proto_buf_free(&b);
}

/* Every STR/BYTES tag at its limit and one past it, from both sides. */
static void test_string_limits(void)
{
    static const struct { uint8_t tag, kind; uint32_t max; int fixed; } lim[] = {
        { T_TASK_ID, PROTO_K_STR, 64, 0 }, { T_USER_ID, PROTO_K_STR, 64, 0 },
        { T_TASK_NAME, PROTO_K_STR, 128, 0 }, { T_DOCKER_IMAGE, PROTO_K_STR, 256, 0 },
        { T_COMMAND, PROTO_K_STR, 8192, 0 }, { T_ARGV, PROTO_K_STR, 8192, 0 },
        { T_ENV, PROTO_K_STR, 8192, 0 }, { T_SOURCE, PROTO_K_STR, 4096, 0 },
        { T_WORKER_ID, PROTO_K_STR, 64, 0 }, { T_ERROR, PROTO_K_STR, 4096, 0 },
        { T_LOG_TAIL, PROTO_K_STR, 65536, 0 }, { T_FILE_NAME, PROTO_K_STR, 4096, 0 },
        { T_FILE_PATH, PROTO_K_STR, 8192, 0 }, { T_MESSAGE, PROTO_K_STR, 4096, 0 },
        { T_NODE_ID, PROTO_K_STR, 64, 0 }, { T_RUNNING, PROTO_K_STR, 64, 0 },
        { T_HELD, PROTO_K_STR, 64, 0 }, { T_STATE, PROTO_K_STR, 32, 0 },
        { T_ADDRESS, PROTO_K_STR, 256, 0 }, { T_PATTERN, PROTO_K_STR, 128, 0 },
        { T_BACKEND, PROTO_K_STR, 32, 0 }, { T_DEGRADED, PROTO_K_STR, 4096, 0 },
        { T_SHA256, PROTO_K_BYTES, 32, 1 }, { T_NONCE, PROTO_K_BYTES, 32, 1 },
        { T_PROOF, PROTO_K_BYTES, 32, 1 }, { T_DATA, PROTO_K_BYTES, PROTO_CHUNK_MAX, 0 },
    };
    size_t cap = PROTO_CHUNK_MAX + 2;
    char *big = malloc(cap);
    uint8_t *pay = malloc(cap + 16);
    proto_buf b;
    proto_msg m;
    proto_buf_init(&b);
    if (!big || !pay) { T_CHECK(0); goto out; }
    memset(big, 'a', cap);
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
        for (int64_t d = -1; d <= 1; d++) {
            uint32_t n = (uint32_t)((int64_t)lim[i].max + d);
            int ok = lim[i].fixed ? d == 0 : d <= 0;
            proto_begin(&b, PROTO_OK, 0);
            if (lim[i].kind == PROTO_K_STR) proto_put_strn(&b, lim[i].tag, big, n);
            else proto_put_bytes(&b, lim[i].tag, big, n);
            int rc = decode_buf(&b, &m);
            T_EQ_INT(rc, ok ? 0 : PROTO_E_STRLEN);
            /* The same field hand-built must meet the same verdict. */
            size_t k = 0;
            pay[k++] = lim[i].tag;
            pay[k++] = lim[i].kind;
            pay[k++] = (uint8_t)(n >> 24); pay[k++] = (uint8_t)(n >> 16);
            pay[k++] = (uint8_t)(n >> 8); pay[k++] = (uint8_t)n;
            memcpy(pay + k, big, n);
            rc = proto_decode(&m, PROTO_OK, 0, pay, (uint32_t)(k + n));
            if (rc != (ok ? 0 : PROTO_E_STRLEN)) printf("#   tag %u len %u\n", lim[i].tag, n);
            T_EQ_INT(rc, ok ? 0 : PROTO_E_STRLEN);
        }
    }
out:
    proto_buf_free(&b);
    free(big);
    free(pay);
}

static void test_payload_limit(void)
{
    proto_buf b;
    proto_msg m;
    proto_buf_init(&b);
    uint8_t *z = calloc(1, PROTO_PAYLOAD_MAX + 16);
    if (!z) { T_CHECK(0); return; }
    /* Exactly PROTO_PAYLOAD_MAX: one unknown BYTES field filling it. */
    proto_begin(&b, PROTO_OK, 0);
    proto_put_bytes(&b, 222, z, PROTO_PAYLOAD_MAX - 6);
    T_EQ_INT(decode_buf(&b, &m), 0);
    T_EQ_INT(m.len, PROTO_PAYLOAD_MAX);
    /* One more byte: refused by the encoder, the header and the decoder. */
    proto_begin(&b, PROTO_OK, 0);
    proto_put_bytes(&b, 222, z, PROTO_PAYLOAD_MAX - 5);
    T_EQ_INT(proto_finish(&b), PROTO_E_TOOBIG);
    proto_begin(&b, PROTO_OK, 0);
    proto_put_bytes(&b, 222, z, PROTO_PAYLOAD_MAX - 6);
    proto_put_u64(&b, T_SEQ, 1);
    T_EQ_INT(proto_finish(&b), PROTO_E_TOOBIG);
    T_EQ_INT(proto_decode(&m, PROTO_OK, 0, z, PROTO_PAYLOAD_MAX + 1), PROTO_E_TOOBIG);
    uint8_t h[8] = { 0, 0, 0, 0, 0, PROTO_OK, 0, 0 };
    uint32_t len = 0;
    uint16_t type = 0, flags = 0;
    uint32_t n = PROTO_PAYLOAD_MAX;
    h[0] = (uint8_t)(n >> 24); h[1] = (uint8_t)(n >> 16); h[2] = (uint8_t)(n >> 8); h[3] = (uint8_t)n;
    T_EQ_INT(proto_header(h, PROTO_PAYLOAD_MAX, &len, &type, &flags), 0);
    T_EQ_INT(len, PROTO_PAYLOAD_MAX);
    T_EQ_INT(proto_header(h, PROTO_PAYLOAD_MAX - 1, &len, &type, &flags), PROTO_E_TOOBIG);
    n++;
    h[0] = (uint8_t)(n >> 24); h[1] = (uint8_t)(n >> 16); h[2] = (uint8_t)(n >> 8); h[3] = (uint8_t)n;
    T_EQ_INT(proto_header(h, PROTO_PAYLOAD_MAX, &len, &type, &flags), PROTO_E_TOOBIG);
    T_EQ_INT(proto_header(h, UINT32_MAX, &len, &type, &flags), PROTO_E_TOOBIG);
    memset(h, 0xff, 4);
    T_EQ_INT(proto_header(h, UINT32_MAX, &len, &type, &flags), PROTO_E_TOOBIG);
    free(z);
    proto_buf_free(&b);
}

static void test_header(void)
{
    uint8_t h[8] = { 0, 0, 0, 3, 0, 0, 0xab, 0xcd };
    uint32_t len;
    uint16_t type, flags;
    T_EQ_INT(proto_header(h, 100, &len, &type, &flags), PROTO_E_TYPE);   /* type 0 */
    h[5] = PROTO_TYPE_MAX + 1;
    T_EQ_INT(proto_header(h, 100, &len, &type, &flags), PROTO_E_TYPE);
    h[4] = 0xff; h[5] = 0xff;
    T_EQ_INT(proto_header(h, 100, &len, &type, &flags), PROTO_E_TYPE);
    h[4] = 0; h[5] = PROTO_TYPE_MAX;
    T_EQ_INT(proto_header(h, 100, &len, &type, &flags), 0);
    T_EQ_INT(len, 3); T_EQ_INT(type, PROTO_TYPE_MAX); T_EQ_INT(flags, 0xabcd);
    proto_msg m;
    T_EQ_INT(proto_decode(&m, 0, 0, NULL, 0), PROTO_E_TYPE);
    T_EQ_INT(proto_decode(&m, PROTO_TYPE_MAX + 1, 0, NULL, 0), PROTO_E_TYPE);
}

/* One hand-built payload per rejection, each with its own code. */
static void test_rejections(void)
{
    raw r;
    uint8_t nest[64];
    const char *bad_utf8[] = { "a\0b", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80",
                               "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\x80", "\xc3", "\xe2\x82",
                               "\xff", "ok\xfe" };
    const size_t bad_len[] = { 3, 2, 2, 3, 3, 4, 4, 1, 1, 2, 1, 3 };
    /* TRUNCATED */
    r.n = 0; r.p[r.n++] = T_SEQ;
    T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_TRUNCATED);
    r.n = 0; raw_fixed(&r, T_SEQ, PROTO_K_U64, 1); r.n--;
    T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_TRUNCATED);
    r.n = 0; raw_var(&r, T_MESSAGE, PROTO_K_STR, "abc", 3); r.p[5] = 4;
    T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_TRUNCATED);
    r.n = 0; raw_var(&r, T_MESSAGE, PROTO_K_STR, "abc", 3); r.p[2] = 0xff;   /* 4 GiB string */
    T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_TRUNCATED);
    /* KIND: unknown kinds (known or unknown tag) and wrong kind for a tag. */
    uint8_t kinds[] = { 0, 7, 0x80, 0xff };
    for (size_t i = 0; i < sizeof kinds; i++) {
        r.n = 0; raw_fixed(&r, T_SEQ, kinds[i], 1);
        T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_KIND);
        r.n = 0; raw_fixed(&r, 250, kinds[i], 1);
        T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_KIND);
    }
    r.n = 0; raw_var(&r, T_SEQ, PROTO_K_STR, "1", 1);
    T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_KIND);
    r.n = 0; raw_fixed(&r, T_TASK_ID, PROTO_K_U64, 1);
    T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_KIND);
    r.n = 0; raw_var(&r, T_NONCE, PROTO_K_STR, k32, 32);
    T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_KIND);
    r.n = 0; raw_fixed(&r, T_EXIT_CODE, PROTO_K_U64, 1);
    T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_KIND);
    /* STRLEN */
    r.n = 0; raw_var(&r, T_PROOF, PROTO_K_BYTES, k32, 0);
    T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_STRLEN);
    /* MISSING */
    r.n = 0; raw_var(&r, T_TASK_ID, PROTO_K_STR, "t", 1);
    T_EQ_INT(decode_raw(PROTO_FILE_ACK, &r), PROTO_E_MISSING);
    /* DEPTH: REC in REC is fine, a third level is not — unknown tags too. */
    for (int tag = T_TASK; tag <= 240; tag += 240 - T_TASK) {
        size_t k = 0;
        uint8_t inner[8] = { T_SEQ, PROTO_K_U64, 0, 0, 0, 0, 0, 9 };
        nest[k++] = (uint8_t)tag; nest[k++] = PROTO_K_REC;
        nest[k++] = 0; nest[k++] = 0; nest[k++] = 0; nest[k++] = 2 + 4 + 10;
        nest[k++] = (uint8_t)tag; nest[k++] = PROTO_K_REC;
        nest[k++] = 0; nest[k++] = 0; nest[k++] = 0; nest[k++] = 10;
        nest[k++] = inner[0]; nest[k++] = inner[1];
        memcpy(nest + k, inner + 2, 6); k += 6; nest[k++] = 0; nest[k++] = 9;
        r.n = 0; raw_var(&r, (uint8_t)tag, PROTO_K_REC, nest, (uint32_t)k);   /* 3 levels */
        T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_DEPTH);
        r.n = 0; memcpy(r.p, nest, k); r.n = k;                            /* 2 levels */
        T_EQ_INT(decode_raw(PROTO_OK, &r), 0);
    }
    /* A bad field inside a record is caught too. */
    {
        raw in; in.n = 0; raw_fixed(&in, T_STATUS, PROTO_K_U64, 0);
        r.n = 0; raw_var(&r, T_TASK, PROTO_K_REC, in.p, (uint32_t)in.n);
        T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_RANGE);
        in.n = 0; raw_fixed(&in, T_STATUS, PROTO_K_U64, 1); in.n -= 3;
        r.n = 0; raw_var(&r, T_TASK, PROTO_K_REC, in.p, (uint32_t)in.n);
        T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_TRUNCATED);
    }
    /* STRING */
    for (size_t i = 0; i < sizeof bad_len / sizeof bad_len[0]; i++) {
        r.n = 0; raw_var(&r, T_MESSAGE, PROTO_K_STR, bad_utf8[i], (uint32_t)bad_len[i]);
        if (decode_raw(PROTO_OK, &r) != PROTO_E_STRING) printf("#   utf8 case %zu\n", i);
        T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_STRING);
        /* An unknown tag's string is skipped, not judged. */
        r.n = 0; raw_var(&r, 251, PROTO_K_STR, bad_utf8[i], (uint32_t)bad_len[i]);
        T_EQ_INT(decode_raw(PROTO_OK, &r), 0);
    }
    const char *good = "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
    r.n = 0; raw_var(&r, T_MESSAGE, PROTO_K_STR, good, (uint32_t)strlen(good));
    T_EQ_INT(decode_raw(PROTO_OK, &r), 0);
    /* RANGE */
    const struct { uint8_t tag; uint64_t v; int ok; } rng[] = {
        { T_STATUS, 0, 0 }, { T_STATUS, 1, 1 }, { T_STATUS, PROTO_ST_MAX, 1 }, { T_STATUS, PROTO_ST_MAX + 1, 0 },
        { T_ROLE, 0, 0 }, { T_ROLE, 1, 1 }, { T_ROLE, 2, 1 }, { T_ROLE, 3, 0 },
        { T_OK, 1, 1 }, { T_OK, 2, 0 }, { T_ADMIN, 2, 0 }, { T_MORE, 2, 0 },
        { T_RAW_LEN, PROTO_CHUNK_MAX, 1 }, { T_RAW_LEN, PROTO_CHUNK_MAX + 1, 0 },
        { T_CRC32, 0xffffffffu, 1 }, { T_CRC32, 0x100000000ull, 0 },
        { T_MODE, 0x100000000ull, 0 }, { T_STATUS, UINT64_MAX, 0 },
    };
    for (size_t i = 0; i < sizeof rng / sizeof rng[0]; i++) {
        r.n = 0; raw_fixed(&r, rng[i].tag, PROTO_K_U64, rng[i].v);
        T_EQ_INT(decode_raw(PROTO_OK, &r), rng[i].ok ? 0 : PROTO_E_RANGE);
    }
    double nf[] = { NAN, -NAN, INFINITY, -INFINITY };
    for (size_t i = 0; i < 4; i++) {
        r.n = 0; raw_fixed(&r, T_REQ_CPU, PROTO_K_F64, dbits(nf[i]));
        T_EQ_INT(decode_raw(PROTO_OK, &r), PROTO_E_RANGE);
        r.n = 0; raw_fixed(&r, 252, PROTO_K_F64, dbits(nf[i]));   /* unknown: skipped */
        T_EQ_INT(decode_raw(PROTO_OK, &r), 0);
    }
    /* All codes distinct, all named. */
    int codes[] = { PROTO_E_TRUNCATED, PROTO_E_TOOBIG, PROTO_E_TYPE, PROTO_E_KIND, PROTO_E_STRLEN,
                    PROTO_E_MISSING, PROTO_E_DEPTH, PROTO_E_STRING, PROTO_E_NOMEM, PROTO_E_RANGE };
    for (size_t i = 0; i < 10; i++) {
        T_CHECK(codes[i] < 0);
        T_CHECK(strcmp(cai_strerror(codes[i]), "error") != 0);
        for (size_t j = 0; j < i; j++) {
            T_CHECK(codes[i] != codes[j]);
            T_CHECK(strcmp(cai_strerror(codes[i]), cai_strerror(codes[j])) != 0);
        }
    }
}

/* Cut a valid message at every byte: a cut inside a field is TRUNCATED,
 * a cut between fields is a shorter valid payload (framing, not the
 * payload, is what guarantees completeness). */
static void test_truncated_every_offset(void)
{
    proto_buf b;
    proto_msg m;
    size_t bounds[32], nb = 0;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_OK, 0);
    bounds[nb++] = 0;
    proto_put_str(&b, T_MESSAGE, "hello \xe2\x82\xac");            bounds[nb++] = proto_payload_len(&b);
    proto_put_u64(&b, T_SEQ, 42);                                  bounds[nb++] = proto_payload_len(&b);
    proto_put_i64(&b, T_EXIT_CODE, -1);                            bounds[nb++] = proto_payload_len(&b);
    proto_put_f64(&b, T_REQ_CPU, 1.5);                             bounds[nb++] = proto_payload_len(&b);
    proto_put_bytes(&b, T_SHA256, k32, 32);                        bounds[nb++] = proto_payload_len(&b);
    size_t mk = proto_rec_begin(&b, T_TASK);
    proto_put_str(&b, T_TASK_ID, "t1");
    size_t mk2 = proto_rec_begin(&b, T_FILE);
    proto_put_str(&b, T_FILE_NAME, "a/b");
    proto_rec_end(&b, mk2);
    proto_rec_end(&b, mk);                                         bounds[nb++] = proto_payload_len(&b);
    proto_put_u64(&b, 230, 1);                                     bounds[nb++] = proto_payload_len(&b);
    T_EQ_INT(proto_finish(&b), 0);
    const uint8_t *p = b.p + PROTO_HDR_LEN;
    size_t n = proto_payload_len(&b), bi = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        while (bi < nb && bounds[bi] < cut) bi++;
        int at_bound = bi < nb && bounds[bi] == cut;
        /* Copy so ASan catches any read past the cut. */
        uint8_t *c = malloc(cut ? cut : 1);
        if (!c) { T_CHECK(0); break; }
        memcpy(c, p, cut);
        int rc = proto_decode(&m, PROTO_OK, 0, c, (uint32_t)cut);
        T_EQ_INT(rc, at_bound ? 0 : PROTO_E_TRUNCATED);
        /* With required fields, every strict prefix fails. */
        if (cut < n) T_CHECK(proto_decode(&m, PROTO_FILE_END, 0, c, (uint32_t)cut) != 0);
        free(c);
    }
    proto_buf_free(&b);
}

static void test_nested_and_lists(void)
{
    proto_buf b;
    proto_msg m, sub, sub2;
    proto_field f, g;
    char s[64];
    proto_buf_init(&b);
    proto_begin(&b, PROTO_TASK_LIST, 0);
    for (int i = 0; i < 3; i++) {
        size_t mk = proto_rec_begin(&b, T_TASK);
        snprintf(s, sizeof s, "task-%d", i);
        proto_put_str(&b, T_TASK_ID, s);
        for (int a = 0; a <= i; a++) {
            snprintf(s, sizeof s, "arg%d", a);
            proto_put_str(&b, T_ARGV, s);
        }
        size_t fm = proto_rec_begin(&b, T_FILE);
        proto_put_u64(&b, T_FILE_SIZE, (uint64_t)i * 100);
        proto_rec_end(&b, fm);
        proto_rec_end(&b, mk);
    }
    size_t em = proto_rec_begin(&b, T_TASK);   /* an empty record */
    proto_rec_end(&b, em);
    proto_put_u64(&b, T_MORE, 1);
    T_EQ_INT(decode_buf(&b, &m), 0);
    size_t pos = 0;
    int count = 0;
    while (proto_next(&m, T_TASK, &pos, &f) && count < 10) {
        proto_rec_open(&f, &sub);
        T_EQ_INT(sub.type, 0);
        if (count == 3) { T_EQ_INT(sub.len, 0); count++; continue; }
        T_EQ_INT(proto_str(&sub, T_TASK_ID, s, sizeof s), 0);
        char want[32];
        snprintf(want, sizeof want, "task-%d", count);
        T_EQ_STR(s, want);
        size_t ap = 0;
        int na = 0;
        while (proto_next(&sub, T_ARGV, &ap, &g) && na < 10) {
            proto_field_str(&g, s, sizeof s);
            snprintf(want, sizeof want, "arg%d", na);
            T_EQ_STR(s, want);
            na++;
        }
        T_EQ_INT(na, count + 1);
        T_EQ_INT(proto_get(&sub, T_FILE, &g), 0);
        proto_rec_open(&g, &sub2);
        uint64_t v = 1;
        T_EQ_INT(proto_u64(&sub2, T_FILE_SIZE, &v), 0);
        T_CHECK(v == (uint64_t)count * 100);
        /* Fields of the outer record are not visible from the inner one. */
        T_EQ_INT(proto_get(&sub2, T_TASK_ID, &g), PROTO_E_MISSING);
        count++;
    }
    T_EQ_INT(count, 4);
    uint64_t more = 0;
    T_EQ_INT(proto_u64(&m, T_MORE, &more), 0);
    T_CHECK(more == 1);
    /* proto_rec_open of a non-record gives an empty message. */
    T_EQ_INT(proto_get(&m, T_MORE, &f), 0);
    proto_rec_open(&f, &sub);
    T_EQ_INT(sub.len, 0);
    proto_buf_free(&b);
}

static void test_names(void)
{
    const char *st[] = { NULL, "queued", "assigned", "running", "uploading", "completed", "failed", "cancelled" };
    for (int i = 1; i <= PROTO_ST_MAX; i++) {
        T_EQ_STR(proto_status_name((uint64_t)i), st[i]);
        T_EQ_INT(proto_status_parse(st[i]), i);
    }
    T_EQ_STR(proto_status_name(0), "unknown");
    T_EQ_STR(proto_status_name(8), "unknown");
    T_EQ_INT(proto_status_parse("Queued"), -1);
    T_EQ_INT(proto_status_parse(""), -1);
    T_EQ_INT(proto_status_parse(NULL), -1);
    T_EQ_STR(proto_err_name(PROTO_ERR_AUTH), "AUTH");
    T_EQ_STR(proto_err_name(PROTO_ERR_ARCHIVE), "ARCHIVE");
    T_EQ_STR(proto_err_name(0), "UNKNOWN");
    T_EQ_STR(proto_err_name(16), "UNKNOWN");
    T_EQ_STR(proto_err_name(UINT64_MAX), "UNKNOWN");
    T_EQ_STR(cai_strerror(0), "ok");
    T_CHECK(cai_strerror(-12345) != NULL);
}

static void test_error_frame(void)
{
    proto_buf b;
    proto_msg m;
    char msg[5000];
    proto_buf_init(&b);
    proto_error(&b, PROTO_ERR_NOT_FOUND, "no task %s", "t-9");
    T_EQ_INT(decode_buf(&b, &m), 0);
    T_EQ_INT(m.type, PROTO_ERROR);
    uint64_t code = 0;
    T_EQ_INT(proto_u64(&m, T_CODE, &code), 0);
    T_CHECK(code == PROTO_ERR_NOT_FOUND);
    T_EQ_INT(proto_str(&m, T_MESSAGE, msg, sizeof msg), 0);
    T_EQ_STR(msg, "no task t-9");
    /* Long messages are cut to the limit, never mid-character. */
    char big[6000];
    memset(big, 'x', sizeof big);
    big[4095] = '\xe2'; big[4096] = '\x82'; big[4097] = '\xac';
    big[sizeof big - 1] = 0;
    proto_error(&b, PROTO_ERR_INTERNAL, "%s", big);
    T_EQ_INT(decode_buf(&b, &m), 0);
    T_EQ_INT(proto_str(&m, T_MESSAGE, msg, sizeof msg), 0);
    T_EQ_INT(strlen(msg), 4095);
    big[4095] = 'x';
    proto_error(&b, PROTO_ERR_INTERNAL, "%s", big);
    T_EQ_INT(decode_buf(&b, &m), 0);
    T_EQ_INT(proto_str(&m, T_MESSAGE, msg, sizeof msg), 0);
    T_EQ_INT(strlen(msg), 4096);
    proto_buf_free(&b);
}

/* ---- the examples in proto.txt ---- */

static void hexdump(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 16) {
        o += (size_t)snprintf(out + o, cap - o, "   %04zx  ", i);
        for (size_t j = 0; j < 16; j++) {
            if (i + j < n) o += (size_t)snprintf(out + o, cap - o, "%02x ", p[i + j]);
            else o += (size_t)snprintf(out + o, cap - o, "   ");
            if (j == 7) o += (size_t)snprintf(out + o, cap - o, " ");
        }
        o += (size_t)snprintf(out + o, cap - o, " |");
        for (size_t j = 0; j < 16 && i + j < n; j++)
            out[o++] = p[i + j] >= 0x20 && p[i + j] < 0x7f ? (char)p[i + j] : '.';
        o += (size_t)snprintf(out + o, cap - o, "|\n");
    }
}

/* HELLO from worker "w1": the proof binds the token to the master's nonce. */
static void build_hello(proto_buf *b)
{
    uint8_t mnonce[32], wnonce[32], proof[32];
    for (int i = 0; i < 32; i++) { mnonce[i] = (uint8_t)(0xa0 + i); wnonce[i] = (uint8_t)i; }
    uint8_t msg[128];
    size_t n = (size_t)snprintf((char *)msg, sizeof msg, "cloudai-v1|%d|%s|", PROTO_ROLE_WORKER, "w1");
    memcpy(msg + n, mnonce, 32);
    unsigned plen = 32;
    HMAC(EVP_sha256(), "secret", 6, msg, n + 32, proof, &plen);
    proto_begin(b, PROTO_HELLO, 0);
    proto_put_u64(b, T_ROLE, PROTO_ROLE_WORKER);
    proto_put_u64(b, T_VERSION, 1);
    proto_put_str(b, T_NODE_ID, "w1");
    proto_put_bytes(b, T_NONCE, wnonce, 32);
    proto_put_bytes(b, T_PROOF, proof, 32);
    proto_finish(b);
}

/* First FILE_CHUNK of task "t-1", stored (no RAW_LEN), 6 data bytes,
 * built by the worker's own chunk encoder (chunk_tx), so the dump in
 * proto.txt is what the code sends, in its field order. */
static proto_buf *chunk_out;

static int keep_chunk(void *ctx, proto_buf *f)
{
    (void)ctx;
    if (proto_finish(f) < 0) return -1;      /* as frame_write does */
    if (chunk_out->len) return 0;            /* the first frame only, not FILE_END */
    if (chunk_out->cap < f->len) {
        uint8_t *np = realloc(chunk_out->p, f->len);
        if (!np) return -1;
        chunk_out->p = np;
        chunk_out->cap = f->len;
    }
    memcpy(chunk_out->p, f->p, f->len);
    chunk_out->len = f->len;
    return 0;
}

static void build_chunk(proto_buf *b)
{
    chunk_tx tx;
    chunk_out = b;
    proto_begin(b, PROTO_FILE_CHUNK, 0);
    b->len = 0;
    if (chunk_tx_init(&tx, "t-1", 6, 0, 0, keep_chunk, NULL) < 0) { b->err = -1; return; }
    tx.task_name = "demo";
    tx.user_id = "alice";
    tx.submitted_at = 1764340800000ull;
    if (chunk_tx_write(&tx, (const uint8_t *)"hello\n", 6) < 0 || chunk_tx_finish(&tx) < 0)
        b->err = -1;
    chunk_tx_free(&tx);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = malloc(1 << 20);
    size_t n = s ? fread(s, 1, (1 << 20) - 1, f) : 0;
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

static void test_spec_hexdumps(void)
{
    proto_buf b;
    proto_msg m;
    char dump[8192];
    proto_buf_init(&b);
    char *spec = slurp("proto.txt");
    if (!spec) spec = slurp("../proto.txt");
    T_CHECK(spec != NULL);
    for (int which = 0; which < 2; which++) {
        if (which == 0) build_hello(&b); else build_chunk(&b);
        T_EQ_INT(b.err, 0);
        T_EQ_INT(decode_buf(&b, &m), 0);
        hexdump(b.p, b.len, dump, sizeof dump);
        if (getenv("PROTO_DUMP")) printf("%s\n", dump);
        if (spec && !strstr(spec, dump)) {
            printf("#   proto.txt lacks this %s dump:\n%s", which ? "FILE_CHUNK" : "HELLO", dump);
            T_CHECK(0);
        }
    }
    free(spec);
    proto_buf_free(&b);
}

/* ---- additions: PIN and EXPIRES_AT ---- */

static void test_pin_and_expires(void)
{
    proto_buf b;
    proto_msg m, sub;
    proto_field f;
    uint64_t v = 0;
    char id[64];
    proto_buf_init(&b);
    /* PIN carries the task and the direction; both are required. */
    proto_begin(&b, PROTO_PIN, 0);
    proto_put_str(&b, T_TASK_ID, "task-1");
    proto_put_u64(&b, T_OK, 0);
    T_EQ_INT(decode_buf(&b, &m), 0);
    T_EQ_INT(m.type, PROTO_PIN);
    T_EQ_INT(proto_str(&m, T_TASK_ID, id, sizeof id), 0);
    T_EQ_STR(id, "task-1");
    T_EQ_INT(proto_u64(&m, T_OK, &v), 0);
    T_EQ_INT((int)v, 0);
    T_EQ_STR(proto_type_name(PROTO_PIN), "PIN");
    proto_begin(&b, PROTO_PIN, 0);
    proto_put_str(&b, T_TASK_ID, "task-1");
    proto_put_u64(&b, T_OK, 2);                 /* OK is 0..1 */
    T_CHECK(proto_finish(&b) != 0);
    raw r = { .n = 0 };
    raw_var(&r, T_TASK_ID, PROTO_K_STR, "t", 1);
    raw_fixed(&r, T_OK, PROTO_K_U64, 2);
    T_EQ_INT(decode_raw(PROTO_PIN, &r), PROTO_E_RANGE);
    /* EXPIRES_AT: a U64 inside FILE and TASK records, full range. */
    proto_begin(&b, PROTO_FILE_LIST, 0);
    size_t mk = proto_rec_begin(&b, T_FILE);
    proto_put_str(&b, T_TASK_ID, "t1");
    proto_put_u64(&b, T_EXPIRES_AT, 1767225600000ull);
    proto_rec_end(&b, mk);
    mk = proto_rec_begin(&b, T_TASK);
    proto_put_str(&b, T_TASK_ID, "t2");
    proto_put_u64(&b, T_EXPIRES_AT, UINT64_MAX);
    proto_rec_end(&b, mk);
    T_EQ_INT(decode_buf(&b, &m), 0);
    T_EQ_INT(proto_get(&m, T_FILE, &f), 0);
    proto_rec_open(&f, &sub);
    T_EQ_INT(proto_u64(&sub, T_EXPIRES_AT, &v), 0);
    T_CHECK(v == 1767225600000ull);
    T_EQ_INT(proto_get(&m, T_TASK, &f), 0);
    proto_rec_open(&f, &sub);
    T_EQ_INT(proto_u64(&sub, T_EXPIRES_AT, &v), 0);
    T_CHECK(v == UINT64_MAX);
    /* Wrong kind for the tag is refused like any other. */
    r.n = 0;
    raw_var(&r, T_EXPIRES_AT, PROTO_K_STR, "1", 1);
    T_EQ_INT(decode_raw(PROTO_FILE_LIST, &r), PROTO_E_KIND);
    proto_buf_free(&b);
}

/* One error space: codec codes never overlap a negated errno, so a
 * socket error is never read as a bad frame (-EIO was PROTO_E_STRLEN). */
static void test_error_space(void)
{
    static const int codes[] = { PROTO_E_TRUNCATED, PROTO_E_TOOBIG, PROTO_E_TYPE, PROTO_E_KIND,
                                 PROTO_E_STRLEN, PROTO_E_MISSING, PROTO_E_DEPTH, PROTO_E_STRING,
                                 PROTO_E_NOMEM, PROTO_E_RANGE };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        T_CHECK(codes[i] < -PROTO_ERRNO_MAX);
        T_CHECK(proto_rc_is_codec(codes[i]));
        for (size_t j = i + 1; j < n; j++) T_CHECK(codes[i] != codes[j]);
    }
    for (int e = 1; e <= PROTO_ERRNO_MAX; e++) {
        if (proto_rc_is_codec(-e)) {
            T_CHECK(!"a negated errno reads as a codec code");
            break;
        }
    }
    T_CHECK(!proto_rc_is_codec(0));
    T_EQ_STR(cai_strerror(-EIO), strerror(EIO));
    T_CHECK(strcmp(cai_strerror(-EIO), cai_strerror(PROTO_E_STRLEN)) != 0);
    T_EQ_STR(cai_strerror(-EPIPE), "connection closed");
    T_EQ_STR(cai_strerror(PROTO_E_STRLEN), "string or bytes over limit");
}

int main(void)
{
    T_RUN(test_error_space);
    T_RUN(test_every_type);
    T_RUN(test_kinds_roundtrip);
    T_RUN(test_encoder_rules);
    T_RUN(test_string_limits);
    T_RUN(test_payload_limit);
    T_RUN(test_header);
    T_RUN(test_rejections);
    T_RUN(test_truncated_every_offset);
    T_RUN(test_nested_and_lists);
    T_RUN(test_names);
    T_RUN(test_error_frame);
    T_RUN(test_spec_hexdumps);
    T_RUN(test_pin_and_expires);
    return T_DONE();
}
