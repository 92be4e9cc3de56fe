/* chunk.c — FILE_CHUNK streams, both directions (see chunk.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "chunk.h"
#include "zchunk.h"

/* The sender is a pipeline of CHUNK_SLOTS chunks: the caller's thread
 * fills a slot (tar bytes), marks it FILLED and goes on filling the next;
 * a helper thread — and the caller itself whenever every slot is taken —
 * turns FILLED slots into finished frames (probe, deflate or store, CRC);
 * the caller sends finished frames strictly in sequence order. Two threads
 * deflate at once on independent per-chunk zlib streams, so the wire format
 * is the one-chunk-at-a-time format.
 *
 * How many chunks are deflated (at t->level) is decided by measurement,
 * not guessed: the share is f/4 of the chunks, f in 0..4 (0 = store all).
 * When the CPU is the bottleneck (loopback) storing wins; when the network
 * is, deflating wins; in between a mix keeps both the link and the cores
 * busy. The caller runs one share and now and then runs EXPLORE_RUN chunks
 * at a neighbouring share, comparing logical bytes per second between send
 * completions, and moves there if it is clearly faster (hill climbing). A
 * confirmed choice doubles the time to the next exploration (up to
 * EXPLORE_MAX chunks), so the cost of asking is a few percent; and a
 * sender that keeps a chunk_tune carries the share and that time over to
 * its next stream, so short streams over a known link do not each pay an
 * exploration. Independently, a deflated chunk is
 * first probed: its first PROBE_LEN bytes at level 1, and if that saves
 * less than ~3% the chunk is stored without deflating the rest. */
#define CHUNK_SLOTS 3
#define PROBE_LEN (16u * 1024u)
#define EXPLORE_RUN 12        /* chunks run at the candidate share */
#define MEASURE_N 8           /* of which the last MEASURE_N are measured */
#define SHARES 4              /* deflate f of every SHARES chunks */
#define EXPLORE_FIRST 12       /* >= MEASURE_N + 1: a baseline to compare with */
#define EXPLORE_MAX 256
#define TS_RING 32
/* A slot's raw bytes sit this far into its buffer: a stored chunk's header
 * (at most ~350 bytes, bounded by the tag limits) is copied in front of
 * them and the frame goes out from there, so the data is never copied in
 * user space (the tar writer reads files into raw, chunk_tx_reserve). A
 * page keeps raw page-aligned. */
#define SLOT_HEADROOM 4096u

enum { SLOT_FREE, SLOT_FILLED, SLOT_BUSY, SLOT_DONE };

struct chunk_slot {
    uint8_t *base;            /* SLOT_HEADROOM + PROTO_CHUNK_MAX */
    uint8_t *raw;             /* base + SLOT_HEADROOM */
    size_t rawlen;
    uint64_t start, seq;
    int level;                /* 0 store, else deflate level */
    int state, deflated, err;
    size_t dlen;              /* DATA bytes on the wire */
    proto_buf frame;          /* the frame, or a deflated chunk's */
    proto_buf view;           /* a stored chunk's frame: header + raw, in base */
    proto_buf *out;           /* which of the two is sent */
    int nknown;               /* CRCs of stretches of raw (chunk_tx_known) */
    chunk_known known[CHUNK_KNOWN_MAX];
};

struct chunk_pipe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int have_thread, stop;
    int started;              /* the helper and the other slots were set up */
    struct chunk_slot s[CHUNK_SLOTS];
    uint64_t head, tail;      /* chunks sent / chunks handed over */
    /* adaptive share (caller's thread only) */
    int share, cand, dir;     /* current share, the one explored, direction */
    uint64_t explore_at, explore_gap;
    uint64_t ts[TS_RING];     /* send completion time of chunk k % TS_RING */
    chunk_tune *tune;         /* where the link's lessons are kept, or NULL */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CRC32C of p..p+n from the known stretches (in order, inside) and a
 * pass over the rest. */
static uint32_t crc_with_known(const uint8_t *p, size_t n, const chunk_known *k, int nk)
{
    uint32_t c = 0;
    size_t pos = 0;
    for (int i = 0; i < nk; i++) {
        c = hash_crc32c(c, p + pos, k[i].off - pos);
        c = hash_crc32c_combine(c, k[i].crc, k[i].n);
        pos = k[i].off + k[i].n;
    }
    return hash_crc32c(c, p + pos, n - pos);
}

/* Appends a known stretch at off if it starts past the last one and
 * there is room (a report that cannot be used is dropped: the check
 * then passes over those bytes itself). */
static void known_add(chunk_known *k, int *nk, size_t off, size_t n, uint32_t crc)
{
    if (*nk == CHUNK_KNOWN_MAX || (*nk && off < k[*nk - 1].off + k[*nk - 1].n))
        return;
    k[(*nk)++] = (chunk_known){ off, n, crc };
}

/* Builds the frame of a FILLED slot. Runs on either thread without the
 * lock: it reads only the slot and chunk_tx fields fixed before the first
 * chunk is handed over. */
static void slot_build(const chunk_tx *t, struct chunk_slot *sl)
{
    proto_buf *f = &sl->frame;
    long zlen = 0;
    size_t crc_pos;

    sl->err = 0;
    sl->deflated = 0;
    proto_begin(f, PROTO_FILE_CHUNK, 0);
    proto_put_str(f, T_TASK_ID, t->task_id);
    proto_put_u64(f, T_SEQ, sl->seq);
    proto_put_u64(f, T_OFFSET, sl->start);
    if (sl->start == 0) {
        proto_put_u64(f, T_TOTAL_SIZE, t->total);
        if (t->task_name) proto_put_str(f, T_TASK_NAME, t->task_name);
        if (t->user_id) proto_put_str(f, T_USER_ID, t->user_id);
        if (t->submitted_at) proto_put_u64(f, T_SUBMITTED_AT, t->submitted_at);
    }
    /* CRC32 goes before DATA so the frame is built in one pass: reserve
     * the field now and patch it when the data is known. */
    proto_put_u64(f, t->crc32c ? T_CRC32C : T_CRC32, 0);
    crc_pos = f->len - 8;
    /* Room for deflate's output; a stored chunk leaves it untouched. */
    uint8_t *dst = proto_put_bytes_reserve(f, T_DATA, sl->rawlen);
    const uint8_t *data;      /* what the CRC covers: DATA's bytes */
    size_t dlen;
    if (!dst) {
        sl->err = CHUNK_E_NOMEM;
        return;
    }
    if (sl->level > 0) {
        /* Incompressible data (media, archives, random) costs a deflate
         * pass for nothing: a level-1 probe of the head decides. */
        if (sl->rawlen > 2 * PROBE_LEN) {
            long pz = zchunk_compress(sl->raw, PROBE_LEN, dst, PROBE_LEN, 1);
            if (pz < 0) { sl->err = CHUNK_E_NOMEM; return; }
            if (pz == 0 || (size_t)pz > PROBE_LEN - PROBE_LEN / 32)
                goto store;
        }
        zlen = zchunk_compress(sl->raw, sl->rawlen, dst, sl->rawlen, sl->level);
        if (zlen < 0) { sl->err = CHUNK_E_NOMEM; return; }
    }
store:
    data = dst;
    dlen = sl->rawlen;
    sl->out = f;
    if (zlen > 0) {
        proto_put_bytes_commit(f, (size_t)zlen);
        proto_put_u64(f, T_RAW_LEN, sl->rawlen);
        sl->deflated = 1;
        dlen = (size_t)zlen;
    } else if (f->len <= SLOT_HEADROOM) {
        /* f holds the header up to DATA's length: it goes in front of raw. */
        size_t hlen = f->len;
        memcpy(sl->raw - hlen, f->p, hlen);
        sl->view.p = sl->raw - hlen;
        sl->view.len = sl->view.cap = hlen + sl->rawlen;
        sl->view.err = 0;
        sl->out = &sl->view;
        data = sl->raw;
    } else {
        memcpy(dst, sl->raw, sl->rawlen);
        proto_put_bytes_commit(f, sl->rawlen);
    }
    if (f->err) {
        sl->err = CHUNK_E_NOMEM;
        return;
    }
    uint32_t crc = !t->crc32c ? hash_crc32(0, data, dlen)
                 : zlen > 0 ? hash_crc32c(0, data, dlen)
                 : crc_with_known(data, dlen, sl->known, sl->nknown);
    for (int i = 0; i < 8; i++)
        sl->out->p[crc_pos + i] = (uint8_t)((uint64_t)crc >> (56 - 8 * i));
    sl->dlen = dlen;
}

/* Oldest FILLED slot, or NULL. Lock held. */
static struct chunk_slot *pipe_next_filled(struct chunk_pipe *pp)
{
    for (uint64_t k = pp->head; k < pp->tail; k++) {
        struct chunk_slot *sl = &pp->s[k % CHUNK_SLOTS];
        if (sl->state == SLOT_FILLED)
            return sl;
    }
    return NULL;
}

static void *pipe_helper(void *arg)
{
    chunk_tx *t = arg;
    struct chunk_pipe *pp = t->pipe;

    pthread_mutex_lock(&pp->mu);
    while (!pp->stop) {
        struct chunk_slot *sl = pipe_next_filled(pp);
        if (!sl) {
            pthread_cond_wait(&pp->cv, &pp->mu);
            continue;
        }
        sl->state = SLOT_BUSY;
        pthread_mutex_unlock(&pp->mu);
        slot_build(t, sl);
        pthread_mutex_lock(&pp->mu);
        sl->state = SLOT_DONE;
        pthread_cond_broadcast(&pp->cv);
    }
    pthread_mutex_unlock(&pp->mu);
    return NULL;
}

/* Logical bytes/s of chunks k-MEASURE_N+1..k, from send completions. */
static double pipe_rate(const struct chunk_pipe *pp, uint64_t k)
{
    uint64_t a = pp->ts[(k - MEASURE_N) % TS_RING], b = pp->ts[k % TS_RING];
    return b > a ? (double)MEASURE_N * PROTO_CHUNK_MAX / (double)(b - a) : 0;
}

/* After chunk k was sent: close an exploration run and keep the better share. */
static void pipe_learn(struct chunk_pipe *pp, uint64_t k)
{
    uint64_t run_end = pp->explore_at + EXPLORE_RUN - 1;
    if (k != run_end || pp->explore_at < MEASURE_N + 1)
        return;
    double other = pipe_rate(pp, run_end);
    double cur = pipe_rate(pp, pp->explore_at - 1);
    /* A shared machine is noisy: only a clear gain moves the share. */
    if (other > cur * 1.08) {
        pp->share = pp->cand;
        pp->explore_gap = EXPLORE_FIRST * 2;
    } else {
        pp->dir = -pp->dir;
        if (pp->explore_gap < EXPLORE_MAX)
            pp->explore_gap *= 2;
    }
    pp->cand = pp->share + pp->dir;
    if (pp->cand < 0 || pp->cand > SHARES) {
        pp->dir = -pp->dir;
        pp->cand = pp->share + pp->dir;
    }
    pp->explore_at = run_end + 1 + pp->explore_gap;
    if (pp->tune) {
        pthread_mutex_lock(&pp->tune->mu);
        pp->tune->known = 1;
        pp->tune->share = pp->share;
        pp->tune->dir = pp->dir;
        pp->tune->gap = pp->explore_gap;
        pthread_mutex_unlock(&pp->tune->mu);
    }
}

void chunk_tune_init(chunk_tune *k)
{
    memset(k, 0, sizeof *k);
    pthread_mutex_init(&k->mu, NULL);
}

void chunk_tune_destroy(chunk_tune *k)
{
    pthread_mutex_destroy(&k->mu);
}

void chunk_tx_tune(chunk_tx *t, chunk_tune *k)
{
    struct chunk_pipe *pp = t->pipe;
    if (!pp || !k) return;
    pp->tune = k;
    pthread_mutex_lock(&k->mu);
    if (k->known) {
        /* The next exploration comes when the last stream's would have:
         * a share confirmed again and again is not asked about at the
         * start of every stream. */
        pp->share = k->share;
        pp->dir = k->dir;
        pp->cand = pp->share + pp->dir;
        if (pp->cand < 0 || pp->cand > SHARES) {
            pp->dir = -pp->dir;
            pp->cand = pp->share + pp->dir;
        }
        pp->explore_gap = k->gap;
        pp->explore_at = k->gap > EXPLORE_FIRST ? k->gap : EXPLORE_FIRST;
    }
    pthread_mutex_unlock(&k->mu);
}

/* Sends the head slot, which must be DONE. Lock held on entry and exit. */
static int pipe_send_head(chunk_tx *t)
{
    struct chunk_pipe *pp = t->pipe;
    struct chunk_slot *sl = &pp->s[pp->head % CHUNK_SLOTS];
    int rc = sl->err;

    pthread_mutex_unlock(&pp->mu);
    if (rc == 0) {
        if (t->send(t->ctx, sl->out) < 0)
            rc = CHUNK_E_SEND;
        t->wire_bytes += sl->dlen;
        if (sl->deflated) t->deflated_chunks++;
        else t->stored_chunks++;
    }
    pthread_mutex_lock(&pp->mu);
    if (rc == 0) {
        pp->ts[pp->head % TS_RING] = now_ns();
        pipe_learn(pp, pp->head);
        sl->state = SLOT_FREE;
        pp->head++;
    }
    return rc;
}

/* Makes progress: sends the head if done, else builds a FILLED slot on
 * this thread, else waits for the helper. until_free: stop once a slot is
 * free for filling; otherwise run until everything handed over is sent. */
static int pipe_drain(chunk_tx *t, int until_free)
{
    struct chunk_pipe *pp = t->pipe;
    int rc = 0;

    pthread_mutex_lock(&pp->mu);
    for (;;) {
        while (pp->head < pp->tail && pp->s[pp->head % CHUNK_SLOTS].state == SLOT_DONE)
            if ((rc = pipe_send_head(t)) < 0)
                goto out;
        if (pp->head == pp->tail || (until_free && pp->tail - pp->head < CHUNK_SLOTS))
            break;
        struct chunk_slot *sl = pipe_next_filled(pp);
        if (sl) {
            sl->state = SLOT_BUSY;
            pthread_mutex_unlock(&pp->mu);
            slot_build(t, sl);
            pthread_mutex_lock(&pp->mu);
            sl->state = SLOT_DONE;
        } else {
            pthread_cond_wait(&pp->cv, &pp->mu);
        }
    }
out:
    pthread_mutex_unlock(&pp->mu);
    return rc;
}

/* Slot buffers outlive their upload, up to SLOT_CACHE of them: glibc
 * serves an allocation this big with mmap and takes it back with munmap
 * (its threshold moves to the size freed, and the same size again is not
 * below it), so every trivial task's upload paid a mapping, its page
 * faults and, at munmap, a TLB shootdown across the worker's threads. */
#define SLOT_CACHE 8
static pthread_mutex_t slot_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *slot_cache[SLOT_CACHE];
static int nslot_cache;

static int slot_alloc(struct chunk_slot *sl)
{
    void *b = NULL;
    pthread_mutex_lock(&slot_mu);
    if (nslot_cache > 0) b = slot_cache[--nslot_cache];
    pthread_mutex_unlock(&slot_mu);
    if (!b && posix_memalign(&b, 4096, SLOT_HEADROOM + PROTO_CHUNK_MAX) != 0)
        return CHUNK_E_NOMEM;
    sl->base = b;
    sl->raw = sl->base + SLOT_HEADROOM;
    return 0;
}

static void slot_release(struct chunk_slot *sl)
{
    uint8_t *b = sl->base;
    sl->base = sl->raw = NULL;
    if (!b) return;
    pthread_mutex_lock(&slot_mu);
    if (nslot_cache < SLOT_CACHE) {
        slot_cache[nslot_cache++] = b;
        b = NULL;
    }
    pthread_mutex_unlock(&slot_mu);
    free(b);
}

int chunk_tx_init(chunk_tx *t, const char *task_id, uint64_t total, uint64_t skip,
                  int level, chunk_send_fn send, void *ctx)
{
    memset(t, 0, sizeof *t);
    snprintf(t->task_id, sizeof t->task_id, "%s", task_id);
    t->total = total;
    t->skip = skip - skip % PROTO_CHUNK_MAX;
    t->seq = 0;               /* skipped chunks count too (tx_flush) */
    t->level = level < 0 ? 0 : level > 9 ? 9 : level;
    t->send = send;
    t->ctx = ctx;
    proto_buf_init(&t->frame);
    struct chunk_pipe *pp = calloc(1, sizeof *pp);
    if (!pp)
        return CHUNK_E_NOMEM;
    if (hash_sha256_init(&t->sha) < 0) {
        free(pp);
        return CHUNK_E_NOMEM;
    }
    t->pipe = pp;
    pthread_mutex_init(&pp->mu, NULL);
    pthread_cond_init(&pp->cv, NULL);
    for (int i = 0; i < CHUNK_SLOTS; i++)
        proto_buf_init(&pp->s[i].frame);
    if (slot_alloc(&pp->s[0]) < 0) {
        chunk_tx_free(t);
        return CHUNK_E_NOMEM;
    }
    pp->share = 0;            /* start storing: cheap, and measured at once */
    pp->cand = 1;
    pp->dir = 1;
    pp->explore_at = EXPLORE_FIRST;
    pp->explore_gap = EXPLORE_FIRST;
    pp->ts[(uint64_t)-1 % TS_RING] = now_ns();
    t->raw = pp->s[0].raw;
    return 0;
}

/* At the first full chunk: the other slots and the helper thread. A
 * stream of one chunk (most task outputs: a trivial task's is 1 KiB)
 * never needs them, and a thread per upload was a large share of a
 * trivial task's cost. Without the helper the caller builds every frame
 * itself. */
static int pipe_start(chunk_tx *t)
{
    struct chunk_pipe *pp = t->pipe;
    pp->started = 1;
    for (int i = 1; i < CHUNK_SLOTS; i++)
        if (!pp->s[i].raw && slot_alloc(&pp->s[i]) < 0)
            return CHUNK_E_NOMEM;
    pp->have_thread = pthread_create(&pp->th, NULL, pipe_helper, t) == 0;
    return 0;
}

/* Hands the full (or final) chunk in t->raw over to the pipeline. */
static int tx_flush(chunk_tx *t)
{
    struct chunk_pipe *pp = t->pipe;
    uint64_t start = t->offset - t->rawlen;
    int rc;

    if (t->rawlen == 0)
        return 0;
    if (start < t->skip)      /* already acknowledged by the receiver */
        goto done;
    if (!pp->started && t->rawlen == PROTO_CHUNK_MAX && (rc = pipe_start(t)) < 0)
        return rc;
    struct chunk_slot *sl = &pp->s[pp->tail % CHUNK_SLOTS];
    uint64_t k = pp->tail;    /* only this thread changes tail */
    int share = pp->share;
    if (k >= pp->explore_at && k < pp->explore_at + EXPLORE_RUN)
        share = pp->cand;
    int deflate = (int)(k % SHARES) < share;
    sl->rawlen = t->rawlen;
    sl->start = start;
    sl->seq = t->seq;
    sl->level = deflate ? t->level : 0;
    sl->nknown = t->nknown;
    memcpy(sl->known, t->known, (size_t)t->nknown * sizeof t->known[0]);
    pthread_mutex_lock(&pp->mu);
    sl->state = SLOT_FILLED;
    pp->tail++;
    pthread_cond_broadcast(&pp->cv);
    pthread_mutex_unlock(&pp->mu);
    if ((rc = pipe_drain(t, 1)) < 0)
        return rc;
    t->raw = pp->s[pp->tail % CHUNK_SLOTS].raw;
done:
    t->seq++;
    t->rawlen = 0;
    t->nknown = 0;
    return 0;
}

void chunk_tx_v2(chunk_tx *t, int files)
{
    t->crc32c = 1;
    t->files = files != 0;
}

int chunk_tx_write(void *vt, const uint8_t *p, size_t n)
{
    chunk_tx *t = vt;
    if (!t->files)
        hash_sha256_update(&t->sha, p, n);
    while (n > 0) {
        size_t take = PROTO_CHUNK_MAX - t->rawlen;
        if (take > n) take = n;
        /* Skipped chunks are hashed but never copied; nor are bytes the
         * writer read in place (chunk_tx_reserve). */
        if (t->offset + take > t->skip && p != t->raw + t->rawlen)
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

void chunk_tx_known(void *vt, const uint8_t *p, size_t n, uint32_t crc)
{
    chunk_tx *t = vt;
    if (t->crc32c && p == t->raw + t->rawlen && n <= PROTO_CHUNK_MAX - t->rawlen)
        known_add(t->known, &t->nknown, t->rawlen, n, crc);
}

uint8_t *chunk_tx_reserve(void *vt, size_t *avail)
{
    chunk_tx *t = vt;
    *avail = PROTO_CHUNK_MAX - t->rawlen;   /* >= 1: a full chunk is flushed */
    return t->raw + t->rawlen;
}

static int tx_end(chunk_tx *t, const uint8_t *files_sha, const uint32_t *files_crc)
{
    uint8_t sha[32];
    int rc = tx_flush(t);
    if (rc < 0) return rc;
    if ((rc = pipe_drain(t, 0)) < 0) return rc;
    if (t->offset != t->total) return CHUNK_E_SIZE;
    proto_begin(&t->frame, PROTO_FILE_END, 0);
    proto_put_str(&t->frame, T_TASK_ID, t->task_id);
    proto_put_u64(&t->frame, T_TOTAL_SIZE, t->offset);
    if (files_sha) {
        proto_put_bytes(&t->frame, T_FILES_SHA256, files_sha, 32);
    } else if (files_crc) {
        proto_put_u64(&t->frame, T_FILES_CRC32C, *files_crc);
    } else {
        hash_sha256_final(&t->sha, sha);
        proto_put_bytes(&t->frame, T_SHA256, sha, sizeof sha);
    }
    return t->send(t->ctx, &t->frame) < 0 ? CHUNK_E_SEND : 0;
}

int chunk_tx_finish(chunk_tx *t)
{
    /* A files-mode stream was never hashed: its SHA256 would be wrong. */
    return t->files ? CHUNK_E_SHA : tx_end(t, NULL, NULL);
}

int chunk_tx_finish_files(chunk_tx *t, const uint8_t files_sha256[32])
{
    return t->files ? tx_end(t, files_sha256, NULL) : CHUNK_E_SHA;
}

int chunk_tx_finish_crc(chunk_tx *t, uint32_t files_crc32c)
{
    return t->files ? tx_end(t, NULL, &files_crc32c) : CHUNK_E_SHA;
}

void chunk_tx_free(chunk_tx *t)
{
    struct chunk_pipe *pp = t->pipe;
    if (pp) {
        if (pp->have_thread) {
            pthread_mutex_lock(&pp->mu);
            pp->stop = 1;
            pthread_cond_broadcast(&pp->cv);
            pthread_mutex_unlock(&pp->mu);
            pthread_join(pp->th, NULL);
        }
        for (int i = 0; i < CHUNK_SLOTS; i++) {
            slot_release(&pp->s[i]);
            proto_buf_free(&pp->s[i].frame);
        }
        pthread_mutex_destroy(&pp->mu);
        pthread_cond_destroy(&pp->cv);
        free(pp);
        t->pipe = NULL;
    }
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
    /* r->raw (inflated chunks) at the first deflated chunk: a stored
     * stream, or a trivial task's one small chunk, never needs it. */
    if (hash_sha256_init(&r->sha) < 0) {
        chunk_rx_free(r);
        return CHUNK_E_NOMEM;
    }
    return 0;
}

int chunk_rx_chunk(chunk_rx *r, const proto_msg *m)
{
    char id[64];
    uint64_t seq = 0, off = 0, crc = 0, crcc = 0, raw_len = 0, total = 0;
    int has_crc, has_crcc;
    proto_field data;
    const uint8_t *p;
    size_t n;

    if (proto_str(m, T_TASK_ID, id, sizeof id) < 0 || strcmp(id, r->task_id)) {
        snprintf(r->err, sizeof r->err, "chunk for task '%s' on the stream of %s", id, r->task_id);
        return CHUNK_E_SEQ;
    }
    proto_u64(m, T_SEQ, &seq);
    proto_u64(m, T_OFFSET, &off);
    has_crc = proto_u64(m, T_CRC32, &crc) == 0;
    has_crcc = proto_u64(m, T_CRC32C, &crcc) == 0;
    proto_get(m, T_DATA, &data);
    if (seq != r->seq || off != r->offset) {
        snprintf(r->err, sizeof r->err, "chunk seq %llu offset %llu, expected seq %llu offset %llu",
                 (unsigned long long)seq, (unsigned long long)off,
                 (unsigned long long)r->seq, (unsigned long long)r->offset);
        return CHUNK_E_SEQ;
    }
    if (off == 0 && proto_u64(m, T_TOTAL_SIZE, &total) == 0)
        r->total = total;
    /* Either checksum will do (proto.txt 9); each one present must match. */
    if (!has_crc && !has_crcc) {
        snprintf(r->err, sizeof r->err, "chunk %llu: no CRC32 or CRC32C", (unsigned long long)seq);
        return CHUNK_E_CRC;
    }
    int stored = proto_u64(m, T_RAW_LEN, &raw_len) != 0;
    int defer = r->defer_crc && stored && has_crcc && !has_crc && crcc <= UINT32_MAX;
    if (!defer && ((has_crcc && (crcc > UINT32_MAX || hash_crc32c(0, data.p, data.len) != (uint32_t)crcc)) ||
                   (has_crc && (crc > UINT32_MAX || hash_crc32(0, data.p, data.len) != (uint32_t)crc)))) {
        snprintf(r->err, sizeof r->err, "chunk %llu: %s mismatch", (unsigned long long)seq,
                 has_crcc ? "CRC32C" : "CRC32");
        return CHUNK_E_CRC;
    }
    p = data.p;
    n = data.len;
    r->inflated = 0;
    if (!stored) {
        if (!r->raw && !(r->raw = malloc(PROTO_CHUNK_MAX))) {
            snprintf(r->err, sizeof r->err, "out of memory");
            return CHUNK_E_NOMEM;
        }
        if (raw_len == 0 || raw_len > PROTO_CHUNK_MAX ||
            zchunk_decompress(data.p, data.len, r->raw, raw_len) < 0) {
            snprintf(r->err, sizeof r->err, "chunk %llu: bad compressed data", (unsigned long long)seq);
            return CHUNK_E_DATA;
        }
        p = r->raw;
        n = raw_len;
        r->inflated = 1;
    }
    if (r->total != UINT64_MAX && r->offset + n > r->total) {
        snprintf(r->err, sizeof r->err, "stream longer than its announced %llu bytes",
                 (unsigned long long)r->total);
        return CHUNK_E_SIZE;
    }
    if (!r->files)
        hash_sha256_update(&r->sha, p, n);
    r->offset += n;
    r->seq++;
    if (!defer)
        return r->out ? r->out(r->ctx, p, n) : 0;
    r->kbase = p;
    r->klen = n;
    r->nknown = 0;
    int rc = r->out ? r->out(r->ctx, p, n) : 0;
    r->kbase = NULL;
    if (crc_with_known(p, n, r->known, r->nknown) != (uint32_t)crcc) {
        snprintf(r->err, sizeof r->err, "chunk %llu: CRC32C mismatch", (unsigned long long)seq);
        return CHUNK_E_CRC;
    }
    return rc;
}

void chunk_rx_defer_crc(chunk_rx *r)
{
    r->defer_crc = 1;
}

void chunk_rx_known(chunk_rx *r, const uint8_t *p, size_t n, uint32_t crc)
{
    if (r->kbase && p >= r->kbase && n <= r->klen && (size_t)(p - r->kbase) <= r->klen - n)
        known_add(r->known, &r->nknown, (size_t)(p - r->kbase), n, crc);
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
    if (r->files == 2) {
        uint64_t c;
        if (proto_u64(m, T_FILES_CRC32C, &c) < 0) {
            snprintf(r->err, sizeof r->err, "FILE_END lacks FILES_CRC32C");
            return CHUNK_E_SHA;
        }
        r->files_crc32c = (uint32_t)c;
        return 0;
    }
    if (r->files) {
        if (proto_get(m, T_FILES_SHA256, &f) < 0 || f.len != 32) {
            snprintf(r->err, sizeof r->err, "FILE_END lacks FILES_SHA256");
            return CHUNK_E_SHA;
        }
        memcpy(r->files_sha256, f.p, 32);
        return 0;
    }
    hash_sha256_final(&r->sha, sha);
    if (proto_get(m, T_SHA256, &f) < 0 || !hash_equal(f.p, sha, 32)) {
        snprintf(r->err, sizeof r->err, "stream SHA-256 mismatch");
        return CHUNK_E_SHA;
    }
    return 0;
}

void chunk_rx_expect_files(chunk_rx *r)
{
    r->files = 1;
}

void chunk_rx_expect_files_crc(chunk_rx *r)
{
    r->files = 2;
}

void chunk_rx_free(chunk_rx *r)
{
    free(r->raw);
    r->raw = NULL;
    hash_sha256_free(&r->sha);
}
