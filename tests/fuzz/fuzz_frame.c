/* fuzz_frame.c — input = one frame (8-byte header + payload). Checks the
 * header, decodes the payload (also when the header is refused, so the
 * decoder sees every input), then for an accepted payload walks every
 * field and nested record through the accessors and the record readers,
 * and re-encodes it field by field: the encoder must reproduce the exact
 * bytes (decode and encode agree on every valid frame). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "records.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Touches every accessor for the first occurrence of tag. */
static void poke(const proto_msg *m, uint8_t tag)
{
    uint64_t u;
    int64_t i;
    double d;
    char s[80];
    proto_field f;
    proto_u64(m, tag, &u);
    proto_i64(m, tag, &i);
    proto_f64(m, tag, &d);
    proto_str(m, tag, s, sizeof s);
    free(proto_strdup(m, tag));
    if (proto_get(m, tag, &f) == 0) {
        proto_field_str(&f, s, sizeof s);
        (void)proto_field_u64(&f);
    }
}

static void records(const proto_msg *m)
{
    task_rec t;
    file_rec *fr = malloc(sizeof *fr);
    worker_rec w;
    task_rec_get(m, &t);
    task_rec_free(&t);
    if (fr) file_rec_get(m, fr);
    free(fr);
    worker_rec_get(m, &w);
}

/* Re-encodes the fields of p[0..n) into b; returns -1 if the walk finds
 * something a validated payload cannot hold. */
static int reencode(proto_buf *b, const proto_msg *m, int depth)
{
    const uint8_t *p = m->payload;
    size_t n = m->len, o = 0;
    if (depth > PROTO_DEPTH_MAX) return -1;
    while (o < n) {
        if (n - o < 2) return -1;
        uint8_t tag = p[o], kind = p[o + 1];
        o += 2;
        poke(m, tag);
        if (kind >= PROTO_K_U64 && kind <= PROTO_K_F64) {
            if (n - o < 8) return -1;
            uint64_t v = be64(p + o);
            double d;
            memcpy(&d, &v, sizeof d);
            if (kind == PROTO_K_U64) proto_put_u64(b, tag, v);
            else if (kind == PROTO_K_I64) proto_put_i64(b, tag, (int64_t)v);
            else if (tag == 0 || tag > T_TAG_MAX) {
                /* put_f64 refuses NaN even under unknown tags; pass it as
                 * I64 bits and patch the kind back. */
                proto_put_i64(b, tag, (int64_t)v);
                if (!b->err) b->p[b->len - 9] = PROTO_K_F64;
            } else proto_put_f64(b, tag, d);
            o += 8;
            continue;
        }
        if (n - o < 4) return -1;
        uint32_t len = be32(p + o);
        o += 4;
        if (len > n - o) return -1;
        if (kind == PROTO_K_STR) {
            if (tag == 0 || tag > T_TAG_MAX) {
                /* Unknown strings are not judged, so they may hold bytes
                 * the encoder would rewrite: carry them as BYTES. */
                proto_put_bytes(b, tag, p + o, len);
                if (!b->err) b->p[b->len - len - 5] = PROTO_K_STR;
            } else {
                proto_put_strn(b, tag, (const char *)p + o, len);
            }
        } else if (kind == PROTO_K_BYTES) {
            proto_put_bytes(b, tag, p + o, len);
        } else if (kind == PROTO_K_REC) {
            proto_field f = { tag, kind, len, p + o };
            proto_msg sub;
            proto_rec_open(&f, &sub);
            records(&sub);
            size_t mk = proto_rec_begin(b, tag);
            if (reencode(b, &sub, depth + 1) < 0) return -1;
            proto_rec_end(b, mk);
        } else {
            return -1;
        }
        o += len;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < PROTO_HDR_LEN) return 0;
    uint32_t len = 0;
    uint16_t type = 0, flags = 0;
    int hrc = proto_header(data, PROTO_PAYLOAD_MAX, &len, &type, &flags);
    size_t n = size - PROTO_HDR_LEN;
    if (hrc || len != n) {
        /* Header refused or length off: still decode the rest, under a
         * type taken from the input, so the decoder sees everything. */
        type = (uint16_t)(((data[4] << 8 | data[5]) % PROTO_TYPE_MAX) + 1);
        flags = 0;
    }
    /* An exact-size copy, so ASan flags any read past the payload. */
    uint8_t *pay = malloc(n ? n : 1);
    if (!pay) return 0;
    memcpy(pay, data + PROTO_HDR_LEN, n);
    proto_msg m;
    int rc = proto_decode(&m, type, flags, pay, (uint32_t)n);
    if (rc == 0) {
        records(&m);
        proto_buf b;
        proto_buf_init(&b);
        proto_begin(&b, type, flags);
        if (reencode(&b, &m, 0) < 0) abort();
        if (proto_finish(&b) != 0) abort();
        if (b.len != n + PROTO_HDR_LEN) abort();
        if (memcmp(b.p + PROTO_HDR_LEN, pay, n) != 0) abort();
        proto_buf_free(&b);
    }
    free(pay);
    return 0;
}
