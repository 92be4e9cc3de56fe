/* evil.c — a hostile peer for the integration tests (tests/integration/
 * test_hostile.sh, test_limits*). It speaks the protocol through the same
 * modules as the daemons (proto, net, peer, chunk) but sends what an
 * attacker would: broken frames, frames out of order, and hand-made ustar
 * archives that try to escape the store. It prints one line saying what the
 * master answered ("ERROR <code> <NAME>: msg", "FILE_ACK ok=<0|1> msg",
 * "CLOSED", ...) and leaves the judging to the script.
 *
 *   evil ADDR MODE [ARG]
 * Raw modes (before HELLO): truncated huge unknown random chunk-before-hello
 * Timing modes: idle (no HELLO), idle-auth (a client that then says
 *   nothing), slowloris (client; a header, then one byte a second);
 *   each prints "closed after N s". hold N: opens N connections at once and
 *   prints "challenge=A limit=B other=C". hold-auth N: N clients that
 *   authenticate and stay; prints "accepted=A limit=B other=C".
 * flood N [NADDR]: opens N silent sockets (from 127.0.0.2.. NADDR source
 *   addresses, default 1 = 127.0.0.1), then a client lists workers and a
 *   worker (EVIL_WORKER) registers; prints "client=ok|FAIL worker=ok|FAIL
 *   closed=K" (K: silent sockets the master closed by then).
 * unread-body raw|client [ROUNDS]: sends a frame the master refuses (a
 *   header over max_frame before HELLO, or a FILE_CHUNK from a client)
 *   followed by 4 MiB it never reads, then reads the verdict; prints
 *   "verdicts=K/ROUNDS writes=W/ROUNDS" (W: rounds whose whole body was
 *   taken, not reset) and the first verdict line.
 * Worker modes (EVIL_TOKEN = cluster token, EVIL_WORKER = worker id):
 *   resume-other TASK_ID: UPLOAD_RESUME for a task of another worker.
 *   archive KIND [TARGET]: registers as a worker, dispatches a task to
 *   itself as client EVIL_USER (token EVIL_USER_TOKEN), reports it done
 *   and uploads a hostile output. KIND: ok dotdot abs symlink hardlink
 *   device fifo files longpath bomb-lie bomb-big bomb-range other-task
 *   bad-digest (the ok archive, FILES_SHA256 one bit off); bad-chunk
 *   (resume's 5 MiB file, a byte of chunk 2 flipped after its CRC32C);
 *   and resume: a benign 5 MiB upload whose connection drops after three
 *   chunks, then resumes on a new one (prints "resumed at OFFSET");
 *   and file: the archive is the file TARGET, byte for byte.
 *   TARGET: a directory outside the store that escapes aim at (or, for
 *   other-task, the foreign task id). Prints "task <id>" first.
 * EVIL_VERSION=N: offer protocol version N at most (1: CRC32 chunks and
 * the stream's SHA256, as a version-1 worker; 2: CRC32C and FILES_SHA256;
 * else CRC32C and FILES_CRC32C, computed here from the archive). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>
#include "chunk.h"
#include "hash.h"
#include "net.h"
#include "peer.h"
#include "proto.h"
#include "records.h"
#include "tar.h"

static const char *addr;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/* "FILE_ACK ok=N [CODE=NAME] message": CODE=ARCHIVE marks a final refusal. */
static void print_ack(const proto_msg *m)
{
    char msg[4200] = "";
    uint64_t ok = 0, code = 0;
    proto_str(m, T_MESSAGE, msg, sizeof msg);
    proto_u64(m, T_OK, &ok);
    if (proto_u64(m, T_CODE, &code) == 0 && code)
        printf("FILE_ACK ok=%llu CODE=%s %s\n", (unsigned long long)ok, proto_err_name(code), msg);
    else
        printf("FILE_ACK ok=%llu %s\n", (unsigned long long)ok, msg);
}

/* Prints what one frame from the master says; returns its type, 0 on
 * close, -1 on timeout or error. */
static int report(int fd, frame_reader *rd, int timeout_ms)
{
    proto_msg m;
    char msg[4200] = "";
    uint64_t code = 0;
    int rc = frame_read(fd, rd, &m, timeout_ms, timeout_ms);
    if (rc == -EPIPE || rc == -ECONNRESET) {
        printf("CLOSED\n");
        return 0;
    }
    if (rc == -ETIMEDOUT) {
        printf("TIMEOUT\n");
        return -1;
    }
    if (rc < 0) {
        printf("READ-ERROR %s\n", cai_strerror(rc));
        return -1;
    }
    proto_str(&m, T_MESSAGE, msg, sizeof msg);
    if (m.type == PROTO_ERROR) {
        proto_u64(&m, T_CODE, &code);
        printf("ERROR %llu %s: %s\n", (unsigned long long)code, proto_err_name(code), msg);
    } else if (m.type == PROTO_FILE_ACK) {
        print_ack(&m);
    } else {
        printf("%s %s\n", proto_type_name(m.type), msg);
    }
    return m.type;
}

/* Reports frames until the master closes (or 5 s pass): the first line is
 * the verdict, "then CLOSED" tells the script the connection ended. */
static int report_then_close(int fd, frame_reader *rd)
{
    int t = report(fd, rd, 5000);
    if (t > 0) {
        char b[64];
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 5000) == 1 && read(fd, b, sizeof b) <= 0) printf("then CLOSED\n");
    }
    return 0;
}

static int raw_connect(frame_reader *rd)
{
    int fd = net_connect(addr, 5000);
    if (fd < 0) {
        printf("CONNECT-FAILED %s\n", cai_strerror(fd));
        exit(2);
    }
    if (frame_reader_init(rd, PROTO_PAYLOAD_MAX) < 0) exit(2);
    return fd;
}

static void put_hdr(uint8_t *h, uint32_t len, uint16_t type)
{
    h[0] = (uint8_t)(len >> 24); h[1] = (uint8_t)(len >> 16);
    h[2] = (uint8_t)(len >> 8); h[3] = (uint8_t)len;
    h[4] = (uint8_t)(type >> 8); h[5] = (uint8_t)type;
    h[6] = h[7] = 0;
}

static int raw_mode(const char *mode)
{
    frame_reader rd;
    proto_msg m;
    uint8_t buf[4096];
    int fd = raw_connect(&rd);
    if (frame_read(fd, &rd, &m, 5000, 5000) < 0 || m.type != PROTO_CHALLENGE) {
        printf("NO-CHALLENGE\n");
        return 1;
    }
    if (!strcmp(mode, "truncated")) {
        put_hdr(buf, 200, PROTO_HELLO);
        memset(buf + 8, 0x27, 20);
        net_write_full(fd, buf, 28, 5000);
        shutdown(fd, SHUT_WR);          /* the frame ends 180 bytes early */
    } else if (!strcmp(mode, "huge")) {
        put_hdr(buf, 0xffffffffu, PROTO_HELLO);
        net_write_full(fd, buf, 8, 5000);
    } else if (!strcmp(mode, "unknown")) {
        put_hdr(buf, 0, 999);
        net_write_full(fd, buf, 8, 5000);
    } else if (!strcmp(mode, "random")) {
        hash_random(buf, sizeof buf);
        net_write_full(fd, buf, sizeof buf, 5000);
    } else if (!strcmp(mode, "badpayload")) {
        /* A valid header whose payload lies about a field's length. */
        put_hdr(buf, 6, PROTO_HELLO);
        memcpy(buf + 8, "\x2b\x04\xff\xff\xff\xff", 6);
        net_write_full(fd, buf, 14, 5000);
    } else if (!strcmp(mode, "chunk-before-hello")) {
        proto_buf b;
        proto_buf_init(&b);
        proto_begin(&b, PROTO_FILE_CHUNK, 0);
        proto_put_str(&b, T_TASK_ID, "task-1-000000000000");
        proto_put_u64(&b, T_SEQ, 0);
        proto_put_u64(&b, T_OFFSET, 0);
        proto_put_u64(&b, T_CRC32, crc32(0, (const Bytef *)"x", 1));
        proto_put_bytes(&b, T_DATA, "x", 1);
        frame_write(fd, &b, 5000);
        proto_buf_free(&b);
    } else {
        fprintf(stderr, "evil: unknown mode %s\n", mode);
        return 2;
    }
    report_then_close(fd, &rd);
    close(fd);
    frame_reader_free(&rd);
    return 0;
}

/* Waits until the master closes fd; prints how long that took. */
static void time_close(int fd, double t0, int limit_s)
{
    char b[256];
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (now_s() - t0 > limit_s) { printf("still open after %d s\n", limit_s); return; }
        if (poll(&p, 1, 200) == 1 && read(fd, b, sizeof b) <= 0) break;
    }
    printf("closed after %.1f s\n", now_s() - t0);
}

static int timing_mode(const char *mode, const char *arg)
{
    char err[512];
    if (!strcmp(mode, "idle")) {
        frame_reader rd;
        int fd = raw_connect(&rd);
        double t0 = now_s();
        time_close(fd, t0, 60);
        return 0;
    }
    if (!strcmp(mode, "hold")) {
        int n = arg ? atoi(arg) : 4, ch = 0, lim = 0, other = 0;
        frame_reader rd;
        proto_msg m;
        if (frame_reader_init(&rd, PROTO_PAYLOAD_MAX) < 0) return 2;
        int *fds = calloc((size_t)n, sizeof *fds);
        for (int i = 0; i < n; i++) {
            fds[i] = net_connect(addr, 5000);
            if (fds[i] < 0) { other++; continue; }
            uint64_t code = 0;
            if (frame_read(fds[i], &rd, &m, 5000, 5000) < 0) other++;
            else if (m.type == PROTO_CHALLENGE) ch++;
            else if (m.type == PROTO_ERROR && proto_u64(&m, T_CODE, &code) == 0 && code == 11) lim++;
            else other++;
        }
        printf("challenge=%d limit=%d other=%d\n", ch, lim, other);
        for (int i = 0; i < n; i++) if (fds[i] >= 0) close(fds[i]);
        free(fds);
        frame_reader_free(&rd);
        return 0;
    }
    peer p;
    if (peer_connect(&p, addr, PROTO_ROLE_CLIENT, env_or("EVIL_USER", "local"),
                     env_or("EVIL_USER_TOKEN", ""), 5000, err, sizeof err) < 0) {
        printf("AUTH-FAILED %s\n", err);
        return 1;
    }
    double t0 = now_s();
    if (!strcmp(mode, "slowloris")) {
        uint8_t h[8];
        put_hdr(h, 64, PROTO_LIST_TASKS);
        net_write_full(p.fd, h, 8, 5000);
        /* Then one byte a second, forever: only the frame deadline ends it. */
        for (int i = 0; i < 60; i++) {
            struct pollfd pf = { p.fd, POLLIN, 0 };
            if (poll(&pf, 1, 1000) == 1) break;
            if (net_write_full(p.fd, "\x00", 1, 1000) < 0) break;
        }
    }
    time_close(p.fd, t0, 60);
    peer_close(&p);
    return 0;
}

/* ---- hostile archives ------------------------------------------------------ */

typedef struct abuf {
    uint8_t *p;
    size_t n, cap;
} abuf;

static uint8_t *grow(abuf *a, size_t n)
{
    if (a->n + n > a->cap) {
        size_t nc = a->cap ? a->cap : 65536;
        while (nc < a->n + n) nc *= 2;
        uint8_t *np = realloc(a->p, nc);
        if (!np) { fprintf(stderr, "evil: out of memory\n"); exit(2); }
        a->p = np;
        a->cap = nc;
    }
    uint8_t *r = a->p + a->n;
    memset(r, 0, n);
    a->n += n;
    return r;
}

static void tar_header(abuf *a, const char *name, char type, uint64_t size, const char *link,
                       unsigned mode)
{
    uint8_t *h = grow(a, 512);
    unsigned sum = 0;
    strncpy((char *)h, name, 100);
    snprintf((char *)h + 100, 8, "%07o", mode);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
    snprintf((char *)h + 136, 12, "%011o", 1700000000);
    h[156] = (uint8_t)type;
    if (link) strncpy((char *)h + 157, link, 100);
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    if (type == '3' || type == '4') {
        snprintf((char *)h + 329, 8, "%07o", 1);
        snprintf((char *)h + 337, 8, "%07o", 3);
    }
    memset(h + 148, ' ', 8);
    for (int i = 0; i < 512; i++) sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
}

static void tar_data(abuf *a, const void *p, size_t n)
{
    uint8_t *d = grow(a, (n + 511) / 512 * 512);
    memcpy(d, p, n);
}

/* A name of any length: over 100 bytes it goes in a pax 'path' record. */
static void tar_entry_named(abuf *a, const char *name, char type, const char *data,
                            const char *link)
{
    size_t n = data ? strlen(data) : 0;
    if (strlen(name) > 99) {
        size_t body = strlen(" path=") + strlen(name) + 1, len;
        char digits[24];
        snprintf(digits, sizeof digits, "%zu", body);
        len = body + strlen(digits);
        snprintf(digits, sizeof digits, "%zu", len);
        if (body + strlen(digits) != len) len++;
        char *rec = malloc(len + 1);
        snprintf(rec, len + 1, "%zu path=%s\n", len, name);
        tar_header(a, "PaxHeader", 'x', len, NULL, 0644);
        tar_data(a, rec, len);
        free(rec);
        tar_header(a, "long-name-see-pax", type, n, link, 0644);
    } else {
        tar_header(a, name, type, n, link, 0644);
    }
    if (n) tar_data(a, data, n);
}

static int build_archive(const char *kind, const char *target, abuf *a)
{
    char name[8192];
    if (!strcmp(kind, "file")) {
        /* The archive's bytes as they are in the file TARGET (made by
         * GNU tar, say): no end blocks added. */
        FILE *f = fopen(target, "rb");
        size_t n;
        if (!f) return -1;
        while ((n = fread(name, 1, sizeof name, f)) > 0)
            memcpy(grow(a, n), name, n);
        fclose(f);
        return 0;
    }
    if (!strcmp(kind, "ok") || !strcmp(kind, "other-task") || !strcmp(kind, "bad-digest")) {
        tar_entry_named(a, "hello.txt", '0', "hello\n", NULL);
    } else if (!strcmp(kind, "resume") || !strcmp(kind, "bad-chunk")) {
        size_t n = 5u << 20;
        char *data = malloc(n + 1);
        if (!data) return -1;
        hash_random((uint8_t *)data, n);
        for (size_t i = 0; i < n; i++) if (!data[i]) data[i] = 'z';   /* tar_entry_named uses strlen */
        data[n] = 0;
        tar_entry_named(a, "random.bin", '0', data, NULL);
        free(data);
    } else if (!strcmp(kind, "dotdot")) {
        tar_entry_named(a, "inside.txt", '0', "fine\n", NULL);
        snprintf(name, sizeof name, "../../../../../../../../../../../../../../..%s/pwned-dotdot",
                 target);
        tar_entry_named(a, name, '0', "escaped\n", NULL);
    } else if (!strcmp(kind, "abs")) {
        snprintf(name, sizeof name, "%s/pwned-abs", target);
        tar_entry_named(a, name, '0', "escaped\n", NULL);
    } else if (!strcmp(kind, "symlink")) {
        tar_entry_named(a, "ln", '2', NULL, target);
        tar_entry_named(a, "ln/pwned-link", '0', "escaped\n", NULL);
    } else if (!strcmp(kind, "symlink-rel")) {
        tar_entry_named(a, "ln", '2', NULL, "../../../../../../../../../../..");
        snprintf(name, sizeof name, "ln%s/pwned-rel", target);
        tar_entry_named(a, name, '0', "escaped\n", NULL);
    } else if (!strcmp(kind, "hardlink")) {
        tar_entry_named(a, "passwd", '1', NULL, "/etc/passwd");
    } else if (!strcmp(kind, "device")) {
        tar_entry_named(a, "null", '3', NULL, NULL);
    } else if (!strcmp(kind, "fifo")) {
        tar_entry_named(a, "pipe", '6', NULL, NULL);
    } else if (!strcmp(kind, "files")) {
        for (int i = 0; i < 100000; i++) {
            snprintf(name, sizeof name, "f%06d", i);
            tar_header(a, name, '0', 0, NULL, 0644);
        }
    } else if (!strcmp(kind, "longpath")) {
        size_t k = 0;
        while (k < 4200) {
            memset(name + k, 'a', 99);
            name[k + 99] = '/';
            k += 100;
        }
        snprintf(name + k, 16, "deep.txt");
        tar_entry_named(a, name, '0', "deep\n", NULL);
    } else {
        return -1;
    }
    grow(a, 1024);            /* end of archive */
    return 0;
}

/* FILES_SHA256 (version 2) and FILES_CRC32C (version 3) of any archive
 * (proto.txt 9): the SHA-256 over each regular file's SHA-256, the CRC32C
 * over each one's CRC32C (4 bytes, big-endian), holes read as zeros.
 * Computed independently of the master's extractor, from the reader's
 * events. A malformed archive gets the digest of what was read; the
 * master refuses it before it gets that far. */
typedef struct fdig { hash_sha256 list, f; uint32_t crc, list_crc; int in_file; } fdig;
static int fd_entry(void *ctx, const tar_entry *e)
{
    fdig *d = ctx;
    d->in_file = e->type == '0' && hash_sha256_init(&d->f) == 0;
    d->crc = 0;
    return 0;
}
static int fd_data(void *ctx, const uint8_t *p, size_t n)
{
    fdig *d = ctx;
    if (d->in_file) {
        hash_sha256_update(&d->f, p, n);
        d->crc = hash_crc32c_portable(d->crc, p, n);
    }
    return 0;
}
static int fd_hole(void *ctx, uint64_t n)
{
    static const uint8_t zeros[4096];
    for (; n > 0; n -= n < sizeof zeros ? n : sizeof zeros)
        fd_data(ctx, zeros, n < sizeof zeros ? (size_t)n : sizeof zeros);
    return 0;
}
static int fd_end(void *ctx, const tar_entry *e)
{
    fdig *d = ctx;
    uint8_t h[32];
    (void)e;
    if (d->in_file) {
        hash_sha256_final(&d->f, h);
        hash_sha256_update(&d->list, h, 32);
        uint8_t be[4] = { (uint8_t)(d->crc >> 24), (uint8_t)(d->crc >> 16), (uint8_t)(d->crc >> 8),
                          (uint8_t)d->crc };
        d->list_crc = hash_crc32c_portable(d->list_crc, be, 4);
        d->in_file = 0;
    }
    return 0;
}
static uint32_t files_digest(const uint8_t *p, size_t n, uint8_t out[32])
{
    static const tar_reader_ops ops = { fd_entry, fd_data, fd_end, fd_hole };
    fdig d;
    memset(&d, 0, sizeof d);
    hash_sha256_init(&d.list);
    tar_reader *r = tar_reader_new(&ops, &d, TAR_PATH_MAX);
    if (r && tar_reader_feed(r, p, n) == 0)
        tar_reader_finish(r);
    tar_reader_free(r);
    hash_sha256_free(&d.f);
    hash_sha256_final(&d.list, out);
    return d.list_crc;
}

/* Ends an upload the way the connection's version wants; lie: a
 * FILES_SHA256 or FILES_CRC32C one bit off (the content is not what the
 * worker read). */
static int finish_upload(chunk_tx *tx, const peer *w, const uint8_t *p, size_t n, int lie)
{
    uint8_t d[32];
    if (w->version < 2)
        return chunk_tx_finish(tx);
    uint32_t crc = files_digest(p, n, d);
    if (lie) { d[7] ^= 4; crc ^= 4; }
    return w->version >= 3 ? chunk_tx_finish_crc(tx, crc) : chunk_tx_finish_files(tx, d);
}

typedef struct sender {
    peer *p;
    int answered;             /* the master spoke mid-stream: stop sending */
    int budget;               /* > 0: frames to send before "crashing" */
    int damage_seq;           /* > 0: a byte of that chunk's data flipped after its CRC */
} sender;

static int send_chunk(void *ctx, proto_buf *b)
{
    sender *s = ctx;
    if (s->budget > 0 && --s->budget == 0) return -1;
    if (s->damage_seq > 0) {
        uint32_t len;
        uint16_t type, flags;
        proto_msg m;
        proto_field f;
        uint64_t seq;
        if (proto_finish(b) == 0 && proto_header(b->p, PROTO_PAYLOAD_MAX, &len, &type, &flags) == 0 &&
            type == PROTO_FILE_CHUNK && proto_decode(&m, type, flags, b->p + PROTO_HDR_LEN, len) == 0 &&
            proto_u64(&m, T_SEQ, &seq) == 0 && seq == (uint64_t)s->damage_seq &&
            proto_get(&m, T_DATA, &f) == 0)
            ((uint8_t *)f.p)[f.len / 2] ^= 0x10;
    }
    struct pollfd pf = { s->p->fd, POLLIN, 0 };
    if (poll(&pf, 1, 0) == 1) {
        s->answered = 1;
        return -1;
    }
    return frame_write(s->p->fd, b, 30000);
}

/* The bomb modes hand-craft one FILE_CHUNK. */
static int send_bomb(peer *p, const char *kind, const char *task_id)
{
    size_t raw = !strcmp(kind, "bomb-big") ? (64u << 20) : (1u << 20);
    uint8_t *zeros = calloc(1, raw);
    uLongf zlen = compressBound(raw);
    uint8_t *z = malloc(zlen);
    proto_buf b;
    if (!zeros || !z || compress2(z, &zlen, zeros, raw, 9) != Z_OK) return -1;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_FILE_CHUNK, 0);
    proto_put_str(&b, T_TASK_ID, task_id);
    proto_put_u64(&b, T_SEQ, 0);
    proto_put_u64(&b, T_OFFSET, 0);
    proto_put_u64(&b, T_CRC32, crc32(0, z, (uInt)zlen));
    proto_put_bytes(&b, T_DATA, z, zlen);
    proto_put_u64(&b, T_TOTAL_SIZE, 2u << 20);
    /* bomb-lie: 1 MiB of zeros claimed to be 1000 bytes; bomb-big: 64 MiB
     * claimed to be 1 MiB; bomb-range: RAW_LEN above CHUNK_MAX. */
    proto_put_u64(&b, T_RAW_LEN, !strcmp(kind, "bomb-lie") ? 1000 : PROTO_CHUNK_MAX);
    int rc = proto_finish(&b);
    if (rc == 0 && !strcmp(kind, "bomb-range")) {
        uint64_t v = 2u << 20;
        for (int i = 0; i < 8; i++) b.p[b.len - 1 - i] = (uint8_t)(v >> (8 * i));
    }
    if (rc == 0) rc = net_write_full(p->fd, b.p, b.len, 30000);
    proto_buf_free(&b);
    free(zeros);
    free(z);
    return rc;
}

static int recv_type(peer *p, proto_msg *m, uint16_t want, int ms)
{
    for (int i = 0; i < 50; i++) {
        if (peer_recv(p, m, ms) < 0) return -1;
        if (m->type == want) return 0;
        if (m->type == PROTO_FILE_ACK) {   /* a verdict before the stream */
            print_ack(m);
            return -1;
        }
        if (m->type == PROTO_ERROR) {
            char e[600];
            peer_error_text(m, e, sizeof e);
            printf("ERROR while waiting for %s: %s\n", proto_type_name(want), e);
            return -1;
        }
    }
    return -1;
}

static int archive_mode(const char *kind, const char *target)
{
    char err[512], task_id[64] = "", wid[64];
    peer w, c;
    proto_msg m;
    proto_field f;
    proto_msg sub;
    task_rec t;
    abuf a = { 0 };
    int rc = 1;

    snprintf(wid, sizeof wid, "%s", env_or("EVIL_WORKER", "evil-w"));
    if (!target) target = "/tmp/evil-target";
    if (strncmp(kind, "bomb-", 5) && build_archive(kind, target, &a) < 0) {
        fprintf(stderr, "evil: unknown archive kind %s\n", kind);
        return 2;
    }
    if (peer_connect(&w, addr, PROTO_ROLE_WORKER, wid, env_or("EVIL_TOKEN", ""), 5000,
                     err, sizeof err) < 0) {
        printf("AUTH-FAILED worker: %s\n", err);
        return 1;
    }
    proto_begin(&w.wb, PROTO_REGISTER, 0);
    proto_put_str(&w.wb, T_WORKER_ID, wid);
    proto_put_f64(&w.wb, T_CPU, 1.0);
    proto_put_u64(&w.wb, T_MEMORY, 1ull << 30);
    proto_put_u64(&w.wb, T_STORAGE, 10ull << 30);
    proto_put_u64(&w.wb, T_GPU, 0);
    if (peer_send(&w) < 0 || recv_type(&w, &m, PROTO_OK, 5000) < 0) {
        printf("REGISTER-FAILED\n");
        goto out_w;
    }
    if (peer_connect(&c, addr, PROTO_ROLE_CLIENT, env_or("EVIL_USER", "local"),
                     env_or("EVIL_USER_TOKEN", ""), 5000, err, sizeof err) < 0) {
        printf("AUTH-FAILED client: %s\n", err);
        goto out_w;
    }
    proto_begin(&c.wb, PROTO_DISPATCH, 0);
    proto_put_str(&c.wb, T_DOCKER_IMAGE, "evil:latest");
    proto_put_str(&c.wb, T_WORKER_ID, wid);
    proto_put_str(&c.wb, T_TASK_NAME, kind);
    proto_put_str(&c.wb, T_COMMAND, "true");
    proto_put_f64(&c.wb, T_REQ_CPU, 0.1);
    task_rec_init(&t);
    if (peer_send(&c) < 0 || recv_type(&c, &m, PROTO_SUBMIT_ACK, 5000) < 0 ||
        proto_get(&m, T_TASK, &f) < 0) {
        printf("DISPATCH-FAILED\n");
        peer_close(&c);
        goto out_w;
    }
    proto_rec_open(&f, &sub);
    task_rec_get(&sub, &t);
    snprintf(task_id, sizeof task_id, "%s", t.task_id);
    peer_close(&c);
    printf("task %s\n", task_id);
    fflush(stdout);
    if (recv_type(&w, &m, PROTO_ASSIGN, 10000) < 0) {
        printf("NO-ASSIGN\n");
        goto out_t;
    }
    proto_begin(&w.wb, PROTO_TASK_STATUS, 0);
    proto_put_str(&w.wb, T_TASK_ID, task_id);
    proto_put_u64(&w.wb, T_STATUS, PROTO_ST_RUNNING);
    peer_send(&w);
    proto_begin(&w.wb, PROTO_TASK_RESULT, 0);
    proto_put_str(&w.wb, T_TASK_ID, task_id);
    proto_put_u64(&w.wb, T_STATUS, PROTO_ST_COMPLETED);
    proto_put_i64(&w.wb, T_EXIT_CODE, 0);
    proto_put_str(&w.wb, T_LOG_TAIL, "evil\n");
    peer_send(&w);
    uint64_t total = a.n ? a.n : 2u << 20;
    proto_begin(&w.wb, PROTO_UPLOAD_RESUME, 0);
    proto_put_str(&w.wb, T_TASK_ID, task_id);
    proto_put_u64(&w.wb, T_TOTAL_SIZE, total);
    if (peer_send(&w) < 0 || recv_type(&w, &m, PROTO_UPLOAD_RESUME, 10000) < 0) {
        printf("NO-RESUME\n");
        goto out_t;
    }
    if (!strncmp(kind, "bomb-", 5)) {
        send_bomb(&w, kind, task_id);
    } else if (!strcmp(kind, "resume")) {
        /* Three whole chunks, then the connection drops mid-stream; a new
         * connection must resume at 3 MiB and finish the same stream. */
        sender s = { &w, 0, 4, 0 };
        chunk_tx tx;
        uint64_t off = 0;
        chunk_tx_init(&tx, task_id, total, 0, 0, send_chunk, &s);
        if (w.version >= 2) chunk_tx_v2(&tx, 1);
        tx.task_name = t.task_name;
        tx.user_id = t.user_id;
        tx.submitted_at = t.submitted_at;
        chunk_tx_write(&tx, a.p, a.n);
        chunk_tx_free(&tx);
        peer_close(&w);
        usleep(300 * 1000);
        if (peer_connect(&w, addr, PROTO_ROLE_WORKER, wid, env_or("EVIL_TOKEN", ""), 5000,
                         err, sizeof err) < 0) {
            printf("AUTH-FAILED worker: %s\n", err);
            goto out_t;
        }
        proto_begin(&w.wb, PROTO_UPLOAD_RESUME, 0);
        proto_put_str(&w.wb, T_TASK_ID, task_id);
        proto_put_u64(&w.wb, T_TOTAL_SIZE, total);
        if (peer_send(&w) < 0 || recv_type(&w, &m, PROTO_UPLOAD_RESUME, 10000) < 0) {
            printf("NO-RESUME after the drop\n");
            goto out_t;
        }
        proto_u64(&m, T_OFFSET, &off);
        printf("resumed at %llu\n", (unsigned long long)off);
        s.budget = 0;
        chunk_tx_init(&tx, task_id, total, off, 0, send_chunk, &s);
        if (w.version >= 2) chunk_tx_v2(&tx, 1);
        tx.task_name = t.task_name;
        tx.user_id = t.user_id;
        tx.submitted_at = t.submitted_at;
        if (chunk_tx_write(&tx, a.p, a.n) == 0) finish_upload(&tx, &w, a.p, a.n, 0);
        chunk_tx_free(&tx);
    } else {
        sender s = { &w, 0, 0, !strcmp(kind, "bad-chunk") ? 2 : 0 };
        chunk_tx tx;
        const char *as = !strcmp(kind, "other-task") && target ? target : task_id;
        if (chunk_tx_init(&tx, as, total, 0, 6, send_chunk, &s) < 0) goto out_t;
        if (w.version >= 2) chunk_tx_v2(&tx, 1);
        tx.task_name = t.task_name;
        tx.user_id = t.user_id;
        tx.submitted_at = t.submitted_at;
        if (chunk_tx_write(&tx, a.p, a.n) == 0)
            finish_upload(&tx, &w, a.p, a.n, !strcmp(kind, "bad-digest"));
        chunk_tx_free(&tx);
    }
    report(w.fd, &w.rd, 60000);
    rc = 0;
out_t:
    task_rec_free(&t);
out_w:
    peer_close(&w);
    free(a.p);
    return rc;
}

static int resume_other(const char *task_id)
{
    char err[512];
    peer w;
    if (peer_connect(&w, addr, PROTO_ROLE_WORKER, env_or("EVIL_WORKER", "evil-w"),
                     env_or("EVIL_TOKEN", ""), 5000, err, sizeof err) < 0) {
        printf("AUTH-FAILED worker: %s\n", err);
        return 1;
    }
    proto_begin(&w.wb, PROTO_UPLOAD_RESUME, 0);
    proto_put_str(&w.wb, T_TASK_ID, task_id);
    proto_put_u64(&w.wb, T_TOTAL_SIZE, 1024);
    peer_send(&w);
    report(w.fd, &w.rd, 5000);
    peer_close(&w);
    return 0;
}

/* ---- connection budgets and refusals ---------------------------------------- */

/* A TCP connection to addr from source address 127.0.0.<src> (0: any). */
static int connect_from(int src)
{
    char host[128], port[16];
    struct sockaddr_in sa, me;
    if (!src) return net_connect(addr, 5000);
    if (net_split_hostport(addr, host, sizeof host, port, sizeof port) < 0) return -EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    memset(&me, 0, sizeof me);
    me.sin_family = AF_INET;
    me.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)src);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(port));
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* 1 if the master closed fd (EOF or reset after whatever it sent). */
static int was_closed(int fd)
{
    char b[4096];
    for (int i = 0; i < 64; i++) {
        ssize_t k = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (k == 0) return 1;
        if (k < 0) return errno != EAGAIN && errno != EINTR;
    }
    return 0;
}

static int flood_mode(int n, int naddr)
{
    char err[512];
    int *fds = calloc((size_t)n, sizeof *fds), closed = 0, cok = 0, wok = 0;
    peer c, w;
    proto_msg m;
    if (!fds) return 2;
    for (int i = 0; i < n; i++) fds[i] = connect_from(naddr > 1 ? 2 + i % naddr : 0);
    if (peer_connect(&c, addr, PROTO_ROLE_CLIENT, env_or("EVIL_USER", "local"),
                     env_or("EVIL_USER_TOKEN", ""), 5000, err, sizeof err) == 0) {
        proto_begin(&c.wb, PROTO_LIST_WORKERS, 0);
        cok = peer_send(&c) == 0 && peer_recv(&c, &m, 5000) == 0 && m.type == PROTO_WORKER_LIST;
        peer_close(&c);
    } else {
        fprintf(stderr, "evil: client: %s\n", err);
    }
    const char *wid = env_or("EVIL_WORKER", "evil-w");
    if (peer_connect(&w, addr, PROTO_ROLE_WORKER, wid, env_or("EVIL_TOKEN", ""), 5000,
                     err, sizeof err) == 0) {
        proto_begin(&w.wb, PROTO_REGISTER, 0);
        proto_put_str(&w.wb, T_WORKER_ID, wid);
        proto_put_f64(&w.wb, T_CPU, 1.0);
        proto_put_u64(&w.wb, T_MEMORY, 1ull << 30);
        proto_put_u64(&w.wb, T_STORAGE, 10ull << 30);
        proto_put_u64(&w.wb, T_GPU, 0);
        wok = peer_send(&w) == 0 && peer_recv(&w, &m, 5000) == 0 && m.type == PROTO_OK;
        peer_close(&w);
    } else {
        fprintf(stderr, "evil: worker: %s\n", err);
    }
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0) { closed++; continue; }
        closed += was_closed(fds[i]);
        close(fds[i]);
    }
    printf("client=%s worker=%s closed=%d\n", cok ? "ok" : "FAIL", wok ? "ok" : "FAIL", closed);
    free(fds);
    return 0;
}

static int hold_auth(int n)
{
    char err[512];
    int acc = 0, lim = 0, other = 0;
    peer *p = calloc((size_t)n, sizeof *p);
    char *up = calloc((size_t)n, 1);
    if (!p || !up) return 2;
    for (int i = 0; i < n; i++) {
        if (peer_connect(&p[i], addr, PROTO_ROLE_CLIENT, env_or("EVIL_USER", "local"),
                         env_or("EVIL_USER_TOKEN", ""), 5000, err, sizeof err) == 0) {
            acc++;
            up[i] = 1;
        } else if (strstr(err, "(LIMIT)")) {
            lim++;
        } else {
            other++;
            fprintf(stderr, "evil: %s\n", err);
        }
    }
    printf("accepted=%d limit=%d other=%d\n", acc, lim, other);
    for (int i = 0; i < n; i++) if (up[i]) peer_close(&p[i]);
    free(p);
    free(up);
    return 0;
}

/* One refused frame followed by a body the master never reads. */
static int unread_round(int client, char *line, size_t cap)
{
    enum { BODY = 4 << 20 };
    char err[512];
    frame_reader rd;
    proto_msg m;
    peer p;
    int fd, rc = 0;
    uint8_t *body = calloc(1, BODY);
    if (!body) return 0;
    if (client) {
        if (peer_connect(&p, addr, PROTO_ROLE_CLIENT, env_or("EVIL_USER", "local"),
                         env_or("EVIL_USER_TOKEN", ""), 5000, err, sizeof err) < 0) {
            snprintf(line, cap, "AUTH-FAILED %s", err);
            free(body);
            return 0;
        }
        fd = p.fd;
        /* A well-formed worker-only frame (FORBIDDEN for a client), then
         * bytes the master never gets to. */
        proto_buf b;
        proto_buf_init(&b);
        proto_begin(&b, PROTO_FILE_CHUNK, 0);
        proto_put_str(&b, T_TASK_ID, "task-1-000000000000");
        proto_put_u64(&b, T_SEQ, 0);
        proto_put_u64(&b, T_OFFSET, 0);
        proto_put_u64(&b, T_CRC32, crc32(0, body + (1 << 20), 512 << 10));
        proto_put_bytes(&b, T_DATA, body + (1 << 20), 512 << 10);
        if (proto_finish(&b) == 0) memcpy(body, b.p, b.len);
        proto_buf_free(&b);
    } else {
        fd = raw_connect(&rd);
        if (frame_read(fd, &rd, &m, 5000, 5000) < 0 || m.type != PROTO_CHALLENGE) {
            snprintf(line, cap, "NO-CHALLENGE");
            goto out;
        }
        put_hdr(body, 0x7fffffffu, PROTO_HELLO);     /* over any max_frame */
    }
    /* The write may fail once the master is gone: the verdict must still
     * be readable, which is the point. */
    int wr = net_write_full(fd, body, BODY, 5000);
    frame_reader *r = client ? &p.rd : &rd;
    int k = frame_read(fd, r, &m, 5000, 5000);
    if (k == 0 && m.type == PROTO_ERROR) {
        char msg[512] = "";
        uint64_t code = 0;
        proto_u64(&m, T_CODE, &code);
        proto_str(&m, T_MESSAGE, msg, sizeof msg);
        snprintf(line, cap, "ERROR %llu %s: %s", (unsigned long long)code, proto_err_name(code), msg);
        rc = 1 + (wr == 0);
    } else {
        snprintf(line, cap, "%s", k < 0 ? strerror(-k > 0 && -k < 200 ? -k : EPROTO) : "not an ERROR");
    }
out:
    if (client) {
        peer_close(&p);
    } else {
        close(fd);
        frame_reader_free(&rd);
    }
    free(body);
    return rc;
}

static int unread_mode(const char *kind, int rounds)
{
    char first[600] = "", line[600];
    int got = 0, whole = 0;
    for (int i = 0; i < rounds; i++) {
        line[0] = 0;
        int r = unread_round(!strcmp(kind, "client"), line, sizeof line);
        if (r) got++;
        else fprintf(stderr, "evil: round %d lost the verdict: %s\n", i, line);
        if (r == 2) whole++;
        if (!first[0]) snprintf(first, sizeof first, "%s", line);
    }
    /* writes: rounds whose whole body was taken (no reset) */
    printf("verdicts=%d/%d writes=%d/%d\n%s\n", got, rounds, whole, rounds, first);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3) {
        fprintf(stderr, "usage: evil ADDR MODE [ARG]\n");
        return 2;
    }
    addr = argv[1];
    const char *mode = argv[2], *arg = argc > 3 ? argv[3] : NULL;
    if (getenv("EVIL_VERSION"))       /* speak as an older peer would */
        peer_set_max_version(atoi(getenv("EVIL_VERSION")));
    if (!strcmp(mode, "archive")) {
        if (!arg) return 2;
        return archive_mode(arg, argc > 4 ? argv[4] : NULL);
    }
    if (!strcmp(mode, "resume-other")) return arg ? resume_other(arg) : 2;
    if (!strcmp(mode, "flood")) return flood_mode(arg ? atoi(arg) : 64, argc > 4 ? atoi(argv[4]) : 1);
    if (!strcmp(mode, "hold-auth")) return hold_auth(arg ? atoi(arg) : 4);
    if (!strcmp(mode, "unread-body"))
        return unread_mode(arg ? arg : "raw", argc > 4 ? atoi(argv[4]) : 10);
    if (!strcmp(mode, "idle") || !strcmp(mode, "idle-auth") || !strcmp(mode, "slowloris") ||
        !strcmp(mode, "hold"))
        return timing_mode(mode, arg);
    return raw_mode(mode);
}
