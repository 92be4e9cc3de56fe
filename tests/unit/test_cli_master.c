/* test_cli_master.c — each client verb against a scripted fake master on
 * 127.0.0.1 port 0 (real sockets, real handshake, real tar streams): the
 * exact frames sent, the exact text printed, and corrupted downloads that
 * must be refused and cleaned up. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "t.h"
#include "auth.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "jsonw.h"
#include "cli/table.h"
#include "fsutil.h"
#include "hash.h"
#include "net.h"
#include "proto.h"
#include "records.h"
#include "tar.h"
#include "zchunk.h"

/* ---------- helpers ---------- */

/* Runs cli_main with stdout and stderr captured into malloc'd strings. */
static int run_cli(char **out, char **err, int argc, char **argv)
{
    char tmpl_o[] = "/tmp/cli_outXXXXXX", tmpl_e[] = "/tmp/cli_errXXXXXX";
    int fo = mkstemp(tmpl_o), fe = mkstemp(tmpl_e);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    dup2(fo, 1);
    dup2(fe, 2);
    int rc = cli_main(argc, argv, NULL);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    size_t n;
    fsutil_read_file(tmpl_o, out, &n, 1 << 20);
    fsutil_read_file(tmpl_e, err, &n, 1 << 20);
    close(fo);
    close(fe);
    unlink(tmpl_o);
    unlink(tmpl_e);
    return rc;
}

/* ---------- a scripted fake master ---------- */

enum fake_mode { FK_SUBMIT, FK_TASKS, FK_WORKERS, FK_FILES, FK_GET, FK_GET_BADCRC, FK_GET_BADSHA,
                 FK_ERROR, FK_LOGS };

typedef struct fake {
    int lfd;
    char addr[64];
    int mode;
    const uint8_t *stream;   /* for GET */
    size_t stream_len;
    uint16_t req_type;       /* what the client sent */
    proto_buf req;           /* copy of its payload, decoded after the join */
    pthread_t th;
} fake;

static int send_frame(int fd, proto_buf *b)
{
    return frame_write(fd, b, 5000);
}

static void put_task(proto_buf *b, const char *id, int status, const char *err)
{
    task_rec t;
    task_rec_init(&t);
    snprintf(t.task_id, sizeof t.task_id, "%s", id);
    snprintf(t.task_name, sizeof t.task_name, "my-experiment");
    snprintf(t.user_id, sizeof t.user_id, "alice");
    snprintf(t.docker_image, sizeof t.docker_image, "alpine:latest");
    snprintf(t.error, sizeof t.error, "%s", err);
    t.submitted_at = 1795877133000ull;   /* 2026-11-28 14:45:33 UTC */
    t.req_cpu = 1;
    t.req_memory = 1ull << 30;
    t.req_storage = 1ull << 30;
    t.status = status;
    if (status != PROTO_ST_QUEUED)
        snprintf(t.worker_id, sizeof t.worker_id, "w1");
    if (status == PROTO_ST_COMPLETED) {
        t.exit_code = 0;
        t.output_files = 3;
        t.output_bytes = 2048;
    }
    size_t mk = proto_rec_begin(b, T_TASK);
    task_rec_put(b, &t);
    proto_rec_end(b, mk);
    task_rec_free(&t);
}

static void send_stream(fake *fk, int fd, proto_buf *b)
{
    const size_t piece = 700;
    uint8_t z[2048];
    uint64_t seq = 0;
    for (size_t off = 0; off < fk->stream_len; off += piece, seq++) {
        size_t n = fk->stream_len - off < piece ? fk->stream_len - off : piece;
        const uint8_t *p = fk->stream + off;
        proto_begin(b, PROTO_FILE_CHUNK, 0);
        proto_put_str(b, T_TASK_ID, "task-1");
        proto_put_u64(b, T_SEQ, seq);
        proto_put_u64(b, T_OFFSET, off);
        if (seq == 0)
            proto_put_u64(b, T_TOTAL_SIZE, fk->stream_len);
        long zn = seq % 2 ? zchunk_compress(p, n, z, sizeof z, 6) : 0;
        const uint8_t *d = zn > 0 ? z : p;
        size_t dn = zn > 0 ? (size_t)zn : n;
        uint32_t crc = hash_crc32(0, d, dn);
        if (fk->mode == FK_GET_BADCRC && seq == 2)
            crc ^= 1;
        proto_put_u64(b, T_CRC32, crc);
        proto_put_bytes(b, T_DATA, d, dn);
        if (zn > 0)
            proto_put_u64(b, T_RAW_LEN, n);
        if (send_frame(fd, b) < 0)
            return;
    }
    uint8_t sum[32];
    hash_sha256_buf(fk->stream, fk->stream_len, sum);
    if (fk->mode == FK_GET_BADSHA)
        sum[5] ^= 0x40;
    proto_begin(b, PROTO_FILE_END, 0);
    proto_put_str(b, T_TASK_ID, "task-1");
    proto_put_u64(b, T_TOTAL_SIZE, fk->stream_len);
    proto_put_bytes(b, T_SHA256, sum, sizeof sum);
    send_frame(fd, b);
}

static void *fake_run(void *arg)
{
    fake *fk = arg;
    frame_reader rd;
    proto_buf b;
    proto_msg m;
    proto_field f;
    uint8_t nonce[32] = {7}, proof[32];
    char peer[64];
    int fd = net_accept(fk->lfd, peer, sizeof peer);
    if (fd < 0)
        return NULL;
    frame_reader_init(&rd, PROTO_PAYLOAD_MAX);
    proto_buf_init(&b);
    proto_begin(&b, PROTO_CHALLENGE, 0);
    proto_put_u64(&b, T_VERSION_MIN, 1);
    proto_put_u64(&b, T_VERSION_MAX, 1);
    proto_put_bytes(&b, T_NONCE, nonce, sizeof nonce);
    if (send_frame(fd, &b) < 0 || frame_read(fd, &rd, &m, 5000, 5000) < 0 ||
        proto_get(&m, T_NONCE, &f) < 0)
        goto out;
    auth_master_proof("", f.p, proof);
    proto_begin(&b, PROTO_WELCOME, 0);
    proto_put_u64(&b, T_VERSION, 1);
    proto_put_str(&b, T_NODE_ID, "fake");
    proto_put_bytes(&b, T_PROOF, proof, sizeof proof);
    if (send_frame(fd, &b) < 0 || frame_read(fd, &rd, &m, 5000, 5000) < 0)
        goto out;
    fk->req_type = m.type;
    /* Keep the raw payload for the test to inspect after the join. */
    free(fk->req.p);
    fk->req.p = malloc(m.len + 1);
    memcpy(fk->req.p, m.payload, m.len);
    fk->req.len = m.len;
    switch (fk->mode) {
    case FK_SUBMIT:
        proto_begin(&b, PROTO_SUBMIT_ACK, 0);
        put_task(&b, "task-1764341133-9f2c4e1a7b3d", PROTO_ST_QUEUED, "");
        send_frame(fd, &b);
        break;
    case FK_TASKS:
        proto_begin(&b, PROTO_TASK_LIST, 0);
        put_task(&b, "task-1", PROTO_ST_COMPLETED, "");
        proto_put_u64(&b, T_MORE, 1);
        send_frame(fd, &b);
        proto_begin(&b, PROTO_TASK_LIST, 0);
        put_task(&b, "task-2", PROTO_ST_QUEUED, "no worker has 64 free cores");
        proto_put_u64(&b, T_MORE, 0);
        send_frame(fd, &b);
        break;
    case FK_WORKERS: {
        worker_rec w;
        memset(&w, 0, sizeof w);
        snprintf(w.worker_id, sizeof w.worker_id, "w1");
        snprintf(w.state, sizeof w.state, "ready");
        w.cpu = 4; w.free_cpu = 2.5; w.memory = 8ull << 30; w.free_memory = 6ull << 30;
        w.storage = 100ull << 30; w.free_storage = 50ull << 30; w.gpu = 1;
        w.last_seen = 1;
        proto_begin(&b, PROTO_WORKER_LIST, 0);
        size_t mk = proto_rec_begin(&b, T_WORKER);
        worker_rec_put(&b, &w);
        proto_rec_end(&b, mk);
        send_frame(fd, &b);
        break;
    }
    case FK_FILES: {
        file_rec *fr = calloc(1, sizeof *fr);
        snprintf(fr->task_id, sizeof fr->task_id, "task-1");
        snprintf(fr->task_name, sizeof fr->task_name, "exp");
        snprintf(fr->file_name, sizeof fr->file_name, "sub/out\"q.txt");
        fr->file_size = 1536;
        for (int i = 0; i < 32; i++)
            fr->sha256[i] = (uint8_t)(0xa0 + i);
        fr->stored_at = 1795877133000ull;
        proto_begin(&b, PROTO_FILE_LIST, 0);
        size_t mk = proto_rec_begin(&b, T_FILE);
        file_rec_put(&b, fr);
        proto_rec_end(&b, mk);
        send_frame(fd, &b);
        free(fr);
        break;
    }
    case FK_ERROR:
        proto_error(&b, PROTO_ERR_NOT_FOUND, "no task task-9");
        send_frame(fd, &b);
        break;
    case FK_LOGS:
        /* Cut mid-line: the client prints whole lines only. */
        proto_begin(&b, PROTO_LOG_DATA, 0);
        proto_put_str(&b, T_TASK_ID, "task-1");
        proto_put_u64(&b, T_OFFSET, 0);
        proto_put_bytes(&b, T_DATA, "line1\nli", 8);
        send_frame(fd, &b);
        proto_begin(&b, PROTO_LOG_DATA, 0);
        proto_put_str(&b, T_TASK_ID, "task-1");
        proto_put_u64(&b, T_OFFSET, 8);
        proto_put_bytes(&b, T_DATA, "ne2", 3);
        send_frame(fd, &b);
        proto_begin(&b, PROTO_LOG_END, 0);
        proto_put_str(&b, T_TASK_ID, "task-1");
        proto_put_u64(&b, T_STATUS, PROTO_ST_FAILED);
        proto_put_i64(&b, T_EXIT_CODE, 3);
        proto_put_u64(&b, T_LOG_SIZE, 11);
        send_frame(fd, &b);
        break;
    default:
        send_stream(fk, fd, &b);
        break;
    }
out:
    /* Let the client close first so it never sees a reset mid-read. */
    frame_read(fd, &rd, &m, 5000, 5000);
    close(fd);
    frame_reader_free(&rd);
    proto_buf_free(&b);
    return NULL;
}

static int fake_start(fake *fk, int mode)
{
    memset(fk, 0, sizeof *fk);
    proto_buf_init(&fk->req);
    fk->mode = mode;
    fk->lfd = net_listen("127.0.0.1:0", 4, fk->addr, sizeof fk->addr);
    if (fk->lfd < 0)
        return -1;
    return pthread_create(&fk->th, NULL, fake_run, fk) ? -1 : 0;
}

static void fake_stop(fake *fk, proto_msg *req)
{
    pthread_join(fk->th, NULL);
    close(fk->lfd);
    if (req)
        T_EQ_INT(proto_decode(req, fk->req_type, 0, fk->req.p, (uint32_t)fk->req.len), 0);
}

static void test_fake_submit(void)
{
    fake fk;
    proto_msg req;
    proto_field f;
    size_t it = 0;
    char *o, *e, s[64];
    double cpu = 0;
    uint64_t mem = 0, gpu = 9;
    T_EQ_INT(fake_start(&fk, FK_SUBMIT), 0);
    char *a[] = {"task", "alpine:latest", "-master", fk.addr, "-name", "my-experiment",
                 "-cpu_cores", "0.5", "--", "python", "-c", "print('x y')"};
    T_EQ_INT(run_cli(&o, &e, 12, a), CLI_EXIT_OK);
    fake_stop(&fk, &req);
    T_EQ_INT(fk.req_type, PROTO_SUBMIT);
    T_EQ_INT(proto_str(&req, T_DOCKER_IMAGE, s, sizeof s), 0); T_EQ_STR(s, "alpine:latest");
    T_EQ_INT(proto_str(&req, T_TASK_NAME, s, sizeof s), 0); T_EQ_STR(s, "my-experiment");
    T_EQ_INT(proto_f64(&req, T_REQ_CPU, &cpu), 0); T_CHECK(cpu == 0.5);
    T_EQ_INT(proto_u64(&req, T_REQ_MEMORY, &mem), 0); T_EQ_INT(mem, 512ull << 20);
    T_EQ_INT(proto_u64(&req, T_REQ_GPU, &gpu), 0); T_EQ_INT(gpu, 0);
    T_CHECK(proto_get(&req, T_COMMAND, &f) < 0);
    T_CHECK(proto_get(&req, T_TIMEOUT, &f) < 0);
    int n = 0;
    const char *want[] = {"python", "-c", "print('x y')"};
    while (proto_next(&req, T_ARGV, &it, &f)) {
        proto_field_str(&f, s, sizeof s);
        if (n < 3)
            T_EQ_STR(s, want[n]);
        n++;
    }
    T_EQ_INT(n, 3);
    T_EQ_STR(o, "Task submitted\n"
                "  Task ID:      task-1764341133-9f2c4e1a7b3d\n"
                "  Task Name:    my-experiment\n"
                "  Docker Image: alpine:latest\n"
                "  Submitted At: 2026-11-28 14:45:33 UTC\n"
                "  Resources:    cpu 1, memory 1.0 GiB, storage 1.0 GiB, gpu 0\n"
                "  Status:       queued\n");
    free(o); free(e);
    proto_buf_free(&fk.req);

    /* dispatch with -cmd: WORKER_ID and COMMAND, no ARGV. */
    T_EQ_INT(fake_start(&fk, FK_SUBMIT), 0);
    char *d[] = {"dispatch", "w7", "alpine", "-cmd", "echo hi > /output/a", "-mem", "2g",
                 "-timeout", "1m", "-master", fk.addr};
    T_EQ_INT(run_cli(&o, &e, 11, d), CLI_EXIT_OK);
    fake_stop(&fk, &req);
    T_EQ_INT(fk.req_type, PROTO_DISPATCH);
    T_EQ_INT(proto_str(&req, T_WORKER_ID, s, sizeof s), 0); T_EQ_STR(s, "w7");
    T_EQ_INT(proto_str(&req, T_COMMAND, s, sizeof s), 0); T_EQ_STR(s, "echo hi > /output/a");
    T_EQ_INT(proto_u64(&req, T_REQ_MEMORY, &mem), 0); T_EQ_INT(mem, 2ull << 30);
    T_EQ_INT(proto_u64(&req, T_TIMEOUT, &mem), 0); T_EQ_INT(mem, 60);
    it = 0;
    T_CHECK(!proto_next(&req, T_ARGV, &it, &f));
    free(o); free(e);
    proto_buf_free(&fk.req);

    /* -mem without a unit is refused before anything is sent. */
    char *bare[] = {"task", "alpine", "-mem", "512", "-master", "127.0.0.1:1"};
    T_EQ_INT(run_cli(&o, &e, 6, bare), CLI_EXIT_USAGE);
    T_CHECK(strstr(e, "512m or 512g") != NULL);
    free(o); free(e);
}

static void test_fake_lists(void)
{
    fake fk;
    proto_msg req;
    char *o, *e, s[64];
    uint64_t v;
    T_EQ_INT(fake_start(&fk, FK_TASKS), 0);
    char *a[] = {"tasks", "-master", fk.addr, "-status", "queued", "-name", "exp-*", "-limit", "3"};
    T_EQ_INT(run_cli(&o, &e, 9, a), CLI_EXIT_OK);
    fake_stop(&fk, &req);
    T_EQ_INT(fk.req_type, PROTO_LIST_TASKS);
    T_EQ_INT(proto_u64(&req, T_STATUS, &v), 0); T_EQ_INT(v, PROTO_ST_QUEUED);
    T_EQ_INT(proto_str(&req, T_PATTERN, s, sizeof s), 0); T_EQ_STR(s, "exp-*");
    T_EQ_INT(proto_u64(&req, T_LIMIT, &v), 0); T_EQ_INT(v, 3);
    T_EQ_STR(o, "TASK ID  NAME           STATUS     WORKER  EXIT  SUBMITTED            FILES"
                "    BYTES\n"
                "task-1   my-experiment  completed  w1      0     2026-11-28 14:45:33      3"
                "  2.0 KiB\n"
                "task-2   my-experiment  queued     -       -     2026-11-28 14:45:33      -"
                "        -\n"
                "    -> no worker has 64 free cores\n");
    free(o); free(e);
    proto_buf_free(&fk.req);

    T_EQ_INT(fake_start(&fk, FK_TASKS), 0);
    char *j[] = {"tasks", "--json", "-master", fk.addr};
    T_EQ_INT(run_cli(&o, &e, 4, j), CLI_EXIT_OK);
    fake_stop(&fk, NULL);
    T_CHECK(!strncmp(o, "[\n  {\"task_id\":\"task-1\",\"user_id\":\"alice\"", 40));
    T_CHECK(strstr(o, "\"status\":\"queued\"") != NULL);
    T_CHECK(strstr(o, "\"error\":\"no worker has 64 free cores\"") != NULL);
    T_CHECK(strstr(o, "\"submitted_at\":1795877133000") != NULL);
    T_CHECK(strstr(o, "\"exit_code\":null") != NULL);
    T_CHECK(strstr(o, "\n]\n") != NULL);
    free(o); free(e);
    proto_buf_free(&fk.req);

    T_EQ_INT(fake_start(&fk, FK_WORKERS), 0);
    char *w[] = {"workers", "-master", fk.addr};
    T_EQ_INT(run_cli(&o, &e, 3, w), CLI_EXIT_OK);
    fake_stop(&fk, NULL);
    T_CHECK(strstr(o, "WORKER  STATE  CPU FREE/TOTAL") == o);
    T_CHECK(strstr(o, "w1      ready  2.5/4           6.0 GiB/8.0 GiB") != NULL);
    T_CHECK(strstr(o, "0/1") != NULL);
    free(o); free(e);
    proto_buf_free(&fk.req);

    T_EQ_INT(fake_start(&fk, FK_FILES), 0);
    char *fl[] = {"files", "-task", "task-1", "-json", "-master", fk.addr};
    T_EQ_INT(run_cli(&o, &e, 6, fl), CLI_EXIT_OK);
    fake_stop(&fk, &req);
    T_EQ_INT(proto_str(&req, T_TASK_ID, s, sizeof s), 0); T_EQ_STR(s, "task-1");
    T_CHECK(strstr(o, "\"file_name\":\"sub/out\\\"q.txt\"") != NULL);
    T_CHECK(strstr(o, "\"sha256\":\"a0a1a2a3a4a5a6a7") != NULL);
    free(o); free(e);
    proto_buf_free(&fk.req);

    T_EQ_INT(fake_start(&fk, FK_FILES), 0);
    char *ft[] = {"files", "-master", fk.addr};
    T_EQ_INT(run_cli(&o, &e, 3, ft), CLI_EXIT_OK);
    fake_stop(&fk, NULL);
    /* This fake master sends no EXPIRES_AT: the column says "-" (unknown). */
    T_EQ_STR(o, "TASK ID  NAME  FILE              SIZE  SHA256        STORED               EXPIRES\n"
                "task-1   exp   sub/out\"q.txt  1.5 KiB  a0a1a2a3a4a5  2026-11-28 14:45:33  -\n");
    free(o); free(e);
    proto_buf_free(&fk.req);
}

static void test_fake_errors_and_logs(void)
{
    fake fk;
    char *o, *e;
    T_EQ_INT(fake_start(&fk, FK_ERROR), 0);
    char *a[] = {"cancel", "task-9", "-master", fk.addr};
    T_EQ_INT(run_cli(&o, &e, 4, a), CLI_EXIT_ERROR);
    fake_stop(&fk, NULL);
    T_EQ_INT(fk.req_type, PROTO_CANCEL);
    T_CHECK(strstr(e, "cloudai: no task task-9") != NULL);
    free(o); free(e);
    proto_buf_free(&fk.req);

    T_EQ_INT(fake_start(&fk, FK_LOGS), 0);
    char *l[] = {"logs", "task-1", "-master", fk.addr};
    T_EQ_INT(run_cli(&o, &e, 4, l), CLI_EXIT_OK);
    fake_stop(&fk, NULL);
    T_EQ_STR(o, "line1\nline2\n");
    free(o); free(e);
    proto_buf_free(&fk.req);

    /* -f: asks to follow from offset 0, exits with the task's code. */
    T_EQ_INT(fake_start(&fk, FK_LOGS), 0);
    char *lf[] = {"logs", "-f", "task-1", "-master", fk.addr};
    T_EQ_INT(run_cli(&o, &e, 5, lf), 3);
    fake_stop(&fk, NULL);
    T_EQ_STR(o, "line1\nline2\n");
    T_EQ_INT(fk.req_type, PROTO_GET_LOG);
    proto_msg rq;
    uint64_t v = 9;
    T_EQ_INT(proto_decode(&rq, PROTO_GET_LOG, 0, fk.req.p, (uint32_t)fk.req.len), 0);
    T_EQ_INT(proto_u64(&rq, T_OFFSET, &v), 0);
    T_EQ_INT(v, 0);
    T_EQ_INT(proto_u64(&rq, T_FOLLOW, &v), 0);
    T_EQ_INT(v, 1);
    free(o); free(e);
    proto_buf_free(&fk.req);
}

typedef struct membuf { uint8_t *p; size_t len, cap; } membuf;

static int mem_sink(void *ctx, const uint8_t *p, size_t n)
{
    membuf *m = ctx;
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->len, p, n);
    m->len += n;
    return 0;
}

static int write_file(const char *dir, const char *rel, const char *data, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return fsutil_write_atomic(path, data, n);
}

static void test_fake_get(void)
{
    char src[] = "/tmp/cli_srcXXXXXX", dst[] = "/tmp/cli_dstXXXXXX";
    char path[512], *o, *e, *back = NULL, big[5000];
    membuf mb = {0};
    tar_stats st;
    fake fk;
    size_t n;
    T_CHECK(mkdtemp(src) && mkdtemp(dst));
    snprintf(path, sizeof path, "%s/sub", src);
    mkdir(path, 0755);
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 7);
    T_EQ_INT(write_file(src, "a.txt", "hello\n", 6), 0);
    T_EQ_INT(write_file(src, "sub/big.bin", big, sizeof big), 0);
    T_EQ_INT(tar_write_dir(src, NULL, mem_sink, &mb, &st, NULL, 0), 0);

    /* Into a fresh DEST. */
    snprintf(path, sizeof path, "%s/out", dst);
    T_EQ_INT(fake_start(&fk, FK_GET), 0);
    fk.stream = mb.p;
    fk.stream_len = mb.len;
    char *a[] = {"get", "task-1", path, "-master", fk.addr};
    T_EQ_INT(run_cli(&o, &e, 5, a), CLI_EXIT_OK);
    fake_stop(&fk, NULL);
    T_EQ_INT(fk.req_type, PROTO_GET_FILE);
    T_CHECK(strstr(o, "Downloaded 2 files (4.9 KiB) of task task-1 into ") != NULL);
    snprintf(path, sizeof path, "%s/out/sub/big.bin", dst);
    T_EQ_INT(fsutil_read_file(path, &back, &n, 1 << 20), 0);
    T_EQ_INT(n, sizeof big);
    T_CHECK(back && !memcmp(back, big, sizeof big));
    free(back);
    free(o); free(e);
    proto_buf_free(&fk.req);

    /* Again into the same, now non-empty, DEST: refused, untouched. */
    snprintf(path, sizeof path, "%s/out", dst);
    char *a2[] = {"get", "task-1", path, "-master", "127.0.0.1:1"};
    T_EQ_INT(run_cli(&o, &e, 5, a2), CLI_EXIT_ERROR);
    free(o); free(e);
    snprintf(path, sizeof path, "%s/out/a.txt", dst);
    struct stat sb;
    T_CHECK(stat(path, &sb) == 0);

    /* Corrupted chunk / corrupted stream: exit 1, nothing left behind. */
    int modes[] = {FK_GET_BADCRC, FK_GET_BADSHA};
    const char *why[] = {"CRC32", "SHA-256"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/bad%d", dst, i);
        T_EQ_INT(fake_start(&fk, modes[i]), 0);
        fk.stream = mb.p;
        fk.stream_len = mb.len;
        char *b[] = {"get", "task-1", path, "-master", fk.addr};
        T_EQ_INT(run_cli(&o, &e, 5, b), CLI_EXIT_ERROR);
        fake_stop(&fk, NULL);
        T_CHECK(strstr(e, why[i]) != NULL);
        T_CHECK(strstr(e, "removed the partial download") != NULL);
        T_CHECK(stat(path, &sb) < 0 && errno == ENOENT);
        free(o); free(e);
        proto_buf_free(&fk.req);
    }
    /* A DEST the user made stays, emptied. */
    snprintf(path, sizeof path, "%s/mine", dst);
    mkdir(path, 0700);
    T_EQ_INT(fake_start(&fk, FK_GET_BADSHA), 0);
    fk.stream = mb.p;
    fk.stream_len = mb.len;
    char *c[] = {"get", "task-1", path, "-master", fk.addr};
    T_EQ_INT(run_cli(&o, &e, 5, c), CLI_EXIT_ERROR);
    fake_stop(&fk, NULL);
    T_CHECK(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
    snprintf(path, sizeof path, "%s/mine/a.txt", dst);
    T_CHECK(stat(path, &sb) < 0);
    free(o); free(e);
    proto_buf_free(&fk.req);
    /* A master error before any data creates nothing. */
    snprintf(path, sizeof path, "%s/none", dst);
    T_EQ_INT(fake_start(&fk, FK_ERROR), 0);
    char *d[] = {"get", "task-9", path, "-master", fk.addr};
    T_EQ_INT(run_cli(&o, &e, 5, d), CLI_EXIT_ERROR);
    fake_stop(&fk, NULL);
    T_CHECK(stat(path, &sb) < 0);
    free(o); free(e);
    proto_buf_free(&fk.req);

    free(mb.p);
    fsutil_rm_rf(src);
    fsutil_rm_rf(dst);
}

int main(void)
{
    T_RUN(test_fake_submit);
    T_RUN(test_fake_lists);
    T_RUN(test_fake_errors_and_logs);
    T_RUN(test_fake_get);
    return T_DONE();
}
