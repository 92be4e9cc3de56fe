/* chunk.c — FILE_CHUNK streams, both directions (see chunk.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "chunk.h"
#include "zchunk.h"

int chunk_tx_init(chunk_tx *t, const char *task_id, uint64_t total, uint64_t skip,
                  int level, chunk_send_fn send, void *ctx)
{
    memset(t, 0, sizeof *t);
    snprintf(t->task_id, sizeof t->task_id, "%s", task_id);
    t->total = total;
    t->skip = skip - skip % PROTO_CHUNK_MAX;
    t->seq = t->skip / PROTO_CHUNK_MAX;
    t->level = level;
    t->send = send;
    t->ctx = ctx;
    proto_buf_init(&t->frame);
    t->raw = malloc(PROTO_CHUNK_MAX);
    if (!t->raw || hash_sha256_init(&t->sha) < 0) {
        chunk_tx_free(t);
        return CHUNK_E_NOMEM;
    }
    return 0;
}

static int tx_flush(chunk_tx *t)
{
    uint64_t start = t->offset - t->rawlen;
    int rc = 0;

    if (t->rawlen == 0)
        return 0;
    if (start < t->skip)      /* already acknowledged by the receiver */
        goto done;
    proto_begin(&t->frame, PROTO_FILE_CHUNK, 0);
    proto_put_str(&t->frame, T_TASK_ID, t->task_id);
    proto_put_u64(&t->frame, T_SEQ, t->seq);
    proto_put_u64(&t->frame, T_OFFSET, start);
    if (start == 0) {
        proto_put_u64(&t->frame, T_TOTAL_SIZE, t->total);
        if (t->task_name) proto_put_str(&t->frame, T_TASK_NAME, t->task_name);
        if (t->user_id) proto_put_str(&t->frame, T_USER_ID, t->user_id);
        if (t->submitted_at) proto_put_u64(&t->frame, T_SUBMITTED_AT, t->submitted_at);
    }
    long zlen = 0;
    size_t crc_pos = 0;
    /* CRC32 goes before DATA so the frame is built in one pass: reserve
     * the field now and patch it when the data is known. */
    proto_put_u64(&t->frame, T_CRC32, 0);
    crc_pos = t->frame.len - 8;
    if (t->level > 0) {
        uint8_t *dst = proto_put_bytes_reserve(&t->frame, T_DATA, t->rawlen);
        if (!dst) return CHUNK_E_NOMEM;
        zlen = zchunk_compress(t->raw, t->rawlen, dst, t->rawlen, t->level);
        if (zlen < 0) return CHUNK_E_NOMEM;
        if (zlen > 0) {
            proto_put_bytes_commit(&t->frame, (size_t)zlen);
            proto_put_u64(&t->frame, T_RAW_LEN, t->rawlen);
        } else {
            memcpy(dst, t->raw, t->rawlen);
            proto_put_bytes_commit(&t->frame, t->rawlen);
        }
    } else {
        proto_put_bytes(&t->frame, T_DATA, t->raw, t->rawlen);
    }
    if (t->frame.err) return CHUNK_E_NOMEM;
    {
        /* DATA's value is the last BYTES field written, or the one just
         * before RAW_LEN: locate it from the lengths we know. */
        size_t dlen = zlen > 0 ? (size_t)zlen : t->rawlen;
        size_t end = t->frame.len - (zlen > 0 ? 10 : 0);
        uint32_t crc = hash_crc32(0, t->frame.p + end - dlen, dlen);
        for (int i = 0; i < 8; i++)
            t->frame.p[crc_pos + i] = (uint8_t)((uint64_t)crc >> (56 - 8 * i));
        t->wire_bytes += dlen;
    }
    if ((rc = t->send(t->ctx, &t->frame)) < 0)
        return CHUNK_E_SEND;
done:
    t->seq++;
    t->rawlen = 0;
    return 0;
}

int chunk_tx_write(void *vt, const uint8_t *p, size_t n)
{
    chunk_tx *t = vt;
    hash_sha256_update(&t->sha, p, n);
    while (n > 0) {
        size_t take = PROTO_CHUNK_MAX - t->rawlen;
        if (take > n) take = n;
        /* Skipped chunks are hashed but never copied. */
        if (t->offset + take > t->skip)
            memcpy(t->raw + t->rawlen, p, take);
        t->rawlen += take;
        t->offset += take;
        p += take;
        n -= take;
        if (t->rawlen == PROTO_CHUNK_MAX) {
            int rc = tx_flush(t);
            if (rc < 0) return rc;
        }
    }
    return 0;
}

int chunk_tx_finish(chunk_tx *t)
{
    uint8_t sha[32];
    int rc = tx_flush(t);
    if (rc < 0) return rc;
    if (t->offset != t->total) return CHUNK_E_SIZE;
    hash_sha256_final(&t->sha, sha);
    proto_begin(&t->frame, PROTO_FILE_END, 0);
    proto_put_str(&t->frame, T_TASK_ID, t->task_id);
    proto_put_u64(&t->frame, T_TOTAL_SIZE, t->offset);
    proto_put_bytes(&t->frame, T_SHA256, sha, sizeof sha);
    return t->send(t->ctx, &t->frame) < 0 ? CHUNK_E_SEND : 0;
}

void chunk_tx_free(chunk_tx *t)
{
    free(t->raw);
    t->raw = NULL;
    hash_sha256_free(&t->sha);
    proto_buf_free(&t->frame);
}

int chunk_rx_init(chunk_rx *r, const char *task_id, chunk_out_fn out, void *ctx)
{
    memset(r, 0, sizeof *r);
    snprintf(r->task_id, sizeof r->task_id, "%s", task_id);
    r->out = out;
    r->ctx = ctx;
    r->total = UINT64_MAX;
    r->raw = malloc(PROTO_CHUNK_MAX);
    if (!r->raw || hash_sha256_init(&r->sha) < 0) {
        chunk_rx_free(r);
        return CHUNK_E_NOMEM;
    }
    return 0;
}

int chunk_rx_chunk(chunk_rx *r, const proto_msg *m)
{
    char id[64];
    uint64_t seq = 0, off = 0, crc = 0, raw_len = 0, total = 0;
    proto_field data;
    const uint8_t *p;
    size_t n;

    if (proto_str(m, T_TASK_ID, id, sizeof id) < 0 || strcmp(id, r->task_id)) {
        snprintf(r->err, sizeof r->err, "chunk for task '%s' on the stream of %s", id, r->task_id);
        return CHUNK_E_SEQ;
    }
    proto_u64(m, T_SEQ, &seq);
    proto_u64(m, T_OFFSET, &off);
    proto_u64(m, T_CRC32, &crc);
    proto_get(m, T_DATA, &data);
    if (seq != r->seq || off != r->offset) {
        snprintf(r->err, sizeof r->err, "chunk seq %llu offset %llu, expected seq %llu offset %llu",
                 (unsigned long long)seq, (unsigned long long)off,
                 (unsigned long long)r->seq, (unsigned long long)r->offset);
        return CHUNK_E_SEQ;
    }
    if (off == 0 && proto_u64(m, T_TOTAL_SIZE, &total) == 0)
        r->total = total;
    if (hash_crc32(0, data.p, data.len) != (uint32_t)crc || crc > UINT32_MAX) {
        snprintf(r->err, sizeof r->err, "chunk %llu: CRC32 mismatch", (unsigned long long)seq);
        return CHUNK_E_CRC;
    }
    p = data.p;
    n = data.len;
    if (proto_u64(m, T_RAW_LEN, &raw_len) == 0) {
        if (raw_len == 0 || raw_len > PROTO_CHUNK_MAX ||
            zchunk_decompress(data.p, data.len, r->raw, raw_len) < 0) {
            snprintf(r->err, sizeof r->err, "chunk %llu: bad compressed data", (unsigned long long)seq);
            return CHUNK_E_DATA;
        }
        p = r->raw;
        n = raw_len;
    }
    if (r->total != UINT64_MAX && r->offset + n > r->total) {
        snprintf(r->err, sizeof r->err, "stream longer than its announced %llu bytes",
                 (unsigned long long)r->total);
        return CHUNK_E_SIZE;
    }
    hash_sha256_update(&r->sha, p, n);
    r->offset += n;
    r->seq++;
    return r->out ? r->out(r->ctx, p, n) : 0;
}

int chunk_rx_end(chunk_rx *r, const proto_msg *m)
{
    uint64_t total = 0;
    proto_field f;
    uint8_t sha[32];

    proto_u64(m, T_TOTAL_SIZE, &total);
    if (total != r->offset || (r->total != UINT64_MAX && total != r->total)) {
        snprintf(r->err, sizeof r->err, "stream has %llu bytes, FILE_END says %llu",
                 (unsigned long long)r->offset, (unsigned long long)total);
        return CHUNK_E_SIZE;
    }
    hash_sha256_final(&r->sha, sha);
    if (proto_get(m, T_SHA256, &f) < 0 || !hash_equal(f.p, sha, 32)) {
        snprintf(r->err, sizeof r->err, "stream SHA-256 mismatch");
        return CHUNK_E_SHA;
    }
    return 0;
}

void chunk_rx_free(chunk_rx *r)
{
    free(r->raw);
    r->raw = NULL;
    hash_sha256_free(&r->sha);
}
