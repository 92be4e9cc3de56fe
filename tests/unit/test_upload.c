/* test_upload.c — the master's receiving side of an output stream
 * (upload.c) in-process: a real cluster and journal store, the worker's
 * end of a socketpair reading the replies, frames made by the real
 * sender (tar writer -> chunk_tx). A whole stream is stored, indexed and
 * acknowledged; a stream cut after two chunks resumes at the offset the
 * master gives and stores the same bytes; a chunk with a bad CRC32, one
 * out of sequence and a FILE_END with a wrong SHA-256 are refused
 * (transient: the task stays uploading, nothing reaches the store) and a
 * clean retry succeeds; a full disk (RLIMIT_FSIZE) fails the upload
 * without a trace in the store, and the retry after it succeeds; a second
 * upload of a task while one is attached is refused, and of two racing
 * threads exactly one gets the session; an output of many files is
 * indexed with one journal sync, not one per batch of records. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "fsutil.h"
#include "hash.h"
#include "master/cluster.h"
#include "master/journal.h"
#include "master/store.h"
#include "master/storeread.h"
#include "master/upload.h"
#include "net.h"
#include "t.h"
#include "tar.h"

#define T0 1700000000000ull

static char root[256], src[300];
static config cfg;
static meta *m;
static cluster *cl;
static uploads *up;
static uint64_t fake_now;
static conn *wc;              /* the master's end of the worker connection */
static int wpeer;             /* the worker's end */
static frame_reader wrd;

static uint64_t fake_clock(void *ctx) { (void)ctx; return fake_now; }

/* ---- the stream ---------------------------------------------------------------- */

typedef struct membuf { uint8_t *p; size_t n, cap; } membuf;

static int mem_sink(void *ctx, const uint8_t *p, size_t n)
{
    membuf *b = ctx;
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np) return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

typedef struct frames { uint8_t **f; size_t *len; size_t n; } frames;

static int keep_frame(void *ctx, proto_buf *b)
{
    frames *fr = ctx;
    if (proto_finish(b) < 0) return -1;
    fr->f = realloc(fr->f, (fr->n + 1) * sizeof *fr->f);
    fr->len = realloc(fr->len, (fr->n + 1) * sizeof *fr->len);
    fr->f[fr->n] = malloc(b->len);
    memcpy(fr->f[fr->n], b->p, b->len);
    fr->len[fr->n++] = b->len;
    return 0;
}

static void frames_free(frames *fr)
{
    for (size_t i = 0; i < fr->n; i++) free(fr->f[i]);
    free(fr->f);
    free(fr->len);
    memset(fr, 0, sizeof *fr);
}

static int decode(const uint8_t *f, size_t len, proto_msg *msg)
{
    uint32_t plen;
    uint16_t type, flags;
    int rc = proto_header(f, PROTO_PAYLOAD_MAX, &plen, &type, &flags);
    if (rc < 0 || plen + PROTO_HDR_LEN != len) return -1;
    return proto_decode(msg, type, flags, f + PROTO_HDR_LEN, plen);
}

/* The archive of src, as FILE_CHUNK... FILE_END frames from offset skip. */
static membuf archive;

static void make_frames(const char *task_id, uint64_t skip, frames *fr)
{
    chunk_tx tx;
    memset(fr, 0, sizeof *fr);
    T_EQ_INT(chunk_tx_init(&tx, task_id, archive.n, skip, 1, keep_frame, fr), 0);
    T_EQ_INT(chunk_tx_write(&tx, archive.p, archive.n), 0);
    T_EQ_INT(chunk_tx_finish(&tx), 0);
    chunk_tx_free(&tx);
}

/* ---- the worker's side ----------------------------------------------------------- */

/* The next reply to the worker: its type; FILE_ACK's OK and UPLOAD_RESUME's
 * OFFSET in *v. */
static int reply(uint64_t *v)
{
    proto_msg msg;
    *v = 0;
    if (frame_read(wpeer, &wrd, &msg, 5000, 5000) < 0) return -1;
    if (msg.type == PROTO_FILE_ACK) proto_u64(&msg, T_OK, v);
    if (msg.type == PROTO_UPLOAD_RESUME) proto_u64(&msg, T_OFFSET, v);
    if (msg.type == PROTO_ERROR) proto_u64(&msg, T_CODE, v);
    return msg.type;
}

static int resume(const char *task_id, upload **s, uint64_t *v)
{
    proto_buf b;
    proto_msg msg;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_UPLOAD_RESUME, 0);
    proto_put_str(&b, T_TASK_ID, task_id);
    proto_put_u64(&b, T_TOTAL_SIZE, archive.n);
    proto_finish(&b);
    T_EQ_INT(decode(b.p, b.len, &msg), 0);
    T_EQ_INT(uploads_resume(up, wc, &msg, s), 0);
    proto_buf_free(&b);
    return reply(v);
}

/* Feeds frames [from, to) to the session; the return of the last call. */
static int feed(upload *s, frames *fr, size_t from, size_t to)
{
    int rc = 0;
    for (size_t i = from; i < to && rc == 0; i++) {
        proto_msg msg;
        T_EQ_INT(decode(fr->f[i], fr->len[i], &msg), 0);
        rc = msg.type == PROTO_FILE_END ? upload_end(up, s, wc, &msg) : upload_chunk(up, s, wc, &msg);
    }
    return rc;
}

/* A task of w1's in UPLOADING with its result, as after TASK_RESULT. */
static void uploading(const char *name, task_rec *t)
{
    task_rec in;
    char err[256] = "";
    task_rec_init(&in);
    task_rec_init(t);
    snprintf(in.docker_image, sizeof in.docker_image, "img");
    snprintf(in.task_name, sizeof in.task_name, "%s", name);
    in.req_cpu = 1;
    T_EQ_INT(cluster_submit(cl, &in, "alice", err, sizeof err, t), 0);
    task_rec_free(&in);
    uint64_t v;
    T_EQ_INT(reply(&v), PROTO_ASSIGN);
    cluster_task_status(cl, "w1", t->task_id, 0, PROTO_ST_RUNNING, "");
    cluster_task_result(cl, "w1", t->task_id, 0, PROTO_ST_COMPLETED, 0, 0, 0, "", NULL);
    /* Those states in the store now, not a lag later (WRITE_LAG_MS) in
     * the middle of what a test counts. */
    cluster_store_wait(cl, err, sizeof err);
}

static int status_of(const char *id, char *error, size_t cap)
{
    task_rec r;
    char err[256];
    task_rec_init(&r);
    cluster_store_wait(cl, err, sizeof err);
    if (meta_task_get(m, id, &r) < 0) return -1;
    int st = r.status;
    if (error) snprintf(error, cap, "%s", r.error);
    task_rec_free(&r);
    return st;
}

/* The stored run holds src's files, byte for byte, each with a record. */
static int stored_ok(const task_rec *t)
{
    static const char *names[] = { "big.bin", "small.txt", "sub/deep/x.txt" };
    int ok = 1;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        uint8_t a[32], b[32];
        char p[600];
        int fd = store_open(&cfg, t, names[i], FSUTIL_FILE);
        snprintf(p, sizeof p, "%s/%s", src, names[i]);
        if (fd < 0 || hash_sha256_fd(fd, a, NULL) < 0 || hash_sha256_file(p, b, NULL) < 0 ||
            memcmp(a, b, 32)) {
            printf("#   %s differs or is missing\n", names[i]);
            ok = 0;
        }
        if (fd >= 0) close(fd);
    }
    return ok;
}

static int count_cb(void *ctx, const file_rec *f)
{
    (void)f;
    (*(int *)ctx)++;
    return 0;
}

static int records_of(const char *id)
{
    int n = 0;
    meta_query q = { 0 };
    q.task_id = id;
    meta_files_find(m, &q, count_cb, &n);
    return n;
}

static int staging_empty(void)
{
    char p[CONFIG_PATH_MAX + 32];
    store_staging_root(&cfg, p, sizeof p);
    DIR *d = opendir(p);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n == 0;
}

/* The rest of a stream from frame from: stored, acknowledged, intact. */
static void finish_ok(upload *s, frames *fr, size_t from, const task_rec *t)
{
    uint64_t v;
    T_EQ_INT(feed(s, fr, from, fr->n), 0);
    T_EQ_INT(reply(&v), PROTO_FILE_ACK);
    T_EQ_INT(v, 1);
    T_CHECK(stored_ok(t));
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_whole_stream(void)
{
    task_rec t;
    frames fr;
    upload *s = NULL;
    uint64_t v;
    uploading("whole", &t);
    make_frames(t.task_id, 0, &fr);
    T_CHECK(fr.n >= 4);                       /* 3 MiB: several chunks and FILE_END */
    T_EQ_INT(resume(t.task_id, &s, &v), PROTO_UPLOAD_RESUME);
    T_EQ_INT(v, 0);
    T_CHECK(s != NULL);
    T_EQ_INT(feed(s, &fr, 0, fr.n), 0);
    T_EQ_INT(reply(&v), PROTO_FILE_ACK);
    T_EQ_INT(v, 1);
    T_EQ_INT(status_of(t.task_id, NULL, 0), PROTO_ST_COMPLETED);
    T_CHECK(stored_ok(&t));
    T_EQ_INT(records_of(t.task_id), 3);
    T_CHECK(staging_empty());
    /* Sent again (the ACK was lost): "already stored", nothing streamed. */
    s = NULL;
    T_EQ_INT(resume(t.task_id, &s, &v), PROTO_FILE_ACK);
    T_EQ_INT(v, 1);
    T_CHECK(s == NULL);
    upload_stats us;
    upload_stats_get(&us);
    T_CHECK(us.count >= 1 && us.bytes > 0);
    frames_free(&fr);
    task_rec_free(&t);
}

static void test_resume_offset(void)
{
    task_rec t;
    frames fr, rest;
    upload *s = NULL;
    uint64_t v;
    uploading("resume", &t);
    make_frames(t.task_id, 0, &fr);
    T_EQ_INT(resume(t.task_id, &s, &v), PROTO_UPLOAD_RESUME);
    T_EQ_INT(feed(s, &fr, 0, 2), 0);          /* two whole chunks, then the link drops */
    uploads_detach(up, s);
    s = NULL;
    T_EQ_INT(resume(t.task_id, &s, &v), PROTO_UPLOAD_RESUME);
    T_EQ_INT(v, 2 * PROTO_CHUNK_MAX);
    make_frames(t.task_id, v, &rest);
    T_EQ_INT(rest.n, fr.n - 2);
    finish_ok(s, &rest, 0, &t);
    T_EQ_INT(records_of(t.task_id), 3);
    frames_free(&fr);
    frames_free(&rest);
    task_rec_free(&t);
}

/* One refused stream, then a clean retry of the same task. */
static void refused_then_retry(const char *name, void (*spoil)(frames *fr, const char *id))
{
    task_rec t;
    frames fr;
    upload *s = NULL;
    uint64_t v;
    char why[600];
    uploading(name, &t);
    make_frames(t.task_id, 0, &fr);
    spoil(&fr, t.task_id);
    T_EQ_INT(resume(t.task_id, &s, &v), PROTO_UPLOAD_RESUME);
    T_EQ_INT(feed(s, &fr, 0, fr.n), -1);
    T_EQ_INT(reply(&v), PROTO_FILE_ACK);
    T_EQ_INT(v, 0);
    T_EQ_INT(status_of(t.task_id, why, sizeof why), PROTO_ST_UPLOADING);   /* the worker retries */
    printf("#   %s: %s\n", name, why);
    T_CHECK(why[0] != 0);
    T_CHECK(!store_run_exists(&cfg, &t));
    T_EQ_INT(records_of(t.task_id), 0);
    T_CHECK(staging_empty());
    frames_free(&fr);
    make_frames(t.task_id, 0, &fr);
    s = NULL;
    T_EQ_INT(resume(t.task_id, &s, &v), PROTO_UPLOAD_RESUME);
    T_EQ_INT(v, 0);                          /* a refused stream is not resumed */
    finish_ok(s, &fr, 0, &t);
    frames_free(&fr);
    task_rec_free(&t);
}

/* The last byte of the second chunk's DATA flipped (its CRC32 stays). */
static void spoil_crc(frames *fr, const char *id)
{
    (void)id;
    proto_msg msg;
    proto_field f;
    T_EQ_INT(decode(fr->f[1], fr->len[1], &msg), 0);
    T_EQ_INT(proto_get(&msg, T_DATA, &f), 0);
    size_t at = (size_t)(f.p - fr->f[1]) + f.len - 1;
    fr->f[1][at] ^= 0x5a;
}

/* The second chunk sent twice (the third's place): out of sequence. */
static void spoil_seq(frames *fr, const char *id)
{
    (void)id;
    free(fr->f[2]);
    fr->f[2] = malloc(fr->len[1]);
    memcpy(fr->f[2], fr->f[1], fr->len[1]);
    fr->len[2] = fr->len[1];
}

/* FILE_END with another SHA-256. */
static void spoil_sha(frames *fr, const char *id)
{
    (void)id;
    proto_msg msg;
    proto_field f;
    size_t last = fr->n - 1;
    T_EQ_INT(decode(fr->f[last], fr->len[last], &msg), 0);
    T_EQ_INT(msg.type, PROTO_FILE_END);
    T_EQ_INT(proto_get(&msg, T_SHA256, &f), 0);
    fr->f[last][(size_t)(f.p - fr->f[last])] ^= 1;
}

static void test_crc_mismatch(void) { refused_then_retry("crc", spoil_crc); }
static void test_out_of_sequence(void) { refused_then_retry("seq", spoil_seq); }
static void test_bad_checksum(void) { refused_then_retry("sha", spoil_sha); }

/* The store cannot take the output (a file size limit stands for a full
 * disk): the upload fails, transient, nothing is left in the store or in
 * staging; once there is room the retry stores it. */
static void test_full_disk(void)
{
    task_rec t;
    frames fr;
    upload *s = NULL;
    uint64_t v;
    char why[600];
    struct rlimit old, lim;
    uploading("full", &t);
    make_frames(t.task_id, 0, &fr);
    T_EQ_INT(resume(t.task_id, &s, &v), PROTO_UPLOAD_RESUME);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 256 * 1024;               /* big.bin (3 MiB) cannot be written */
    T_EQ_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = feed(s, &fr, 0, fr.n);
    setrlimit(RLIMIT_FSIZE, &old);
    T_EQ_INT(rc, -1);
    T_EQ_INT(reply(&v), PROTO_FILE_ACK);
    T_EQ_INT(v, 0);
    T_EQ_INT(status_of(t.task_id, why, sizeof why), PROTO_ST_UPLOADING);
    printf("#   full disk: %s\n", why);
    T_CHECK(strstr(why, "store") != NULL);
    T_CHECK(!store_run_exists(&cfg, &t));
    T_CHECK(staging_empty());
    s = NULL;
    T_EQ_INT(resume(t.task_id, &s, &v), PROTO_UPLOAD_RESUME);
    finish_ok(s, &fr, 0, &t);
    frames_free(&fr);
    task_rec_free(&t);
}

/* Two uploads of one task: while one is attached, the other is refused;
 * two threads racing for it: one session, one refusal. */
typedef struct racer { const char *id; upload *s; int type; uint64_t code; } racer;

static pthread_barrier_t bar;

static void *race(void *arg)
{
    racer *r = arg;
    proto_buf b;
    proto_msg msg;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_UPLOAD_RESUME, 0);
    proto_put_str(&b, T_TASK_ID, r->id);
    proto_put_u64(&b, T_TOTAL_SIZE, archive.n);
    proto_finish(&b);
    decode(b.p, b.len, &msg);
    pthread_barrier_wait(&bar);
    uploads_resume(up, wc, &msg, &r->s);
    proto_buf_free(&b);
    return NULL;
}

static void test_concurrent_same_task(void)
{
    task_rec t;
    frames fr;
    upload *s = NULL, *s2 = NULL;
    uint64_t v;
    uploading("twice", &t);
    make_frames(t.task_id, 0, &fr);
    T_EQ_INT(resume(t.task_id, &s, &v), PROTO_UPLOAD_RESUME);
    T_EQ_INT(feed(s, &fr, 0, 1), 0);
    T_EQ_INT(resume(t.task_id, &s2, &v), PROTO_ERROR);
    T_EQ_INT(v, PROTO_ERR_STATE);
    T_CHECK(s2 == NULL);
    uploads_detach(up, s);
    /* Racing threads. */
    racer r[2] = { { t.task_id, NULL, 0, 0 }, { t.task_id, NULL, 0, 0 } };
    pthread_t th[2];
    pthread_barrier_init(&bar, NULL, 2);
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, race, &r[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    int resumes = 0, errors = 0;
    for (int i = 0; i < 2; i++) {
        int type = reply(&v);
        if (type == PROTO_UPLOAD_RESUME) { resumes++; T_EQ_INT(v, PROTO_CHUNK_MAX); }
        if (type == PROTO_ERROR) { errors++; T_EQ_INT(v, PROTO_ERR_STATE); }
    }
    T_EQ_INT(resumes, 1);
    T_EQ_INT(errors, 1);
    T_CHECK((r[0].s != NULL) != (r[1].s != NULL));
    s = r[0].s ? r[0].s : r[1].s;
    if (s) finish_ok(s, &fr, 1, &t);
    frames_free(&fr);
    task_rec_free(&t);
}

/* ---- setup ------------------------------------------------------------------------ */

static void write_file(const char *rel, size_t n, unsigned seed);

static int nsyncs;
static int counting_sync(int fd)
{
    nsyncs++;
    return fdatasync(fd);
}

/* 700 files: three batches of records, made durable by one sync (and the
 * task's record by another); before, each batch had its own. */
static void test_many_files(void)
{
    char dir[300], err[256] = "", *keep = strdup(src);
    membuf saved = archive, many = { 0 };
    tar_stats st;
    task_rec t;
    frames fr;
    upload *s = NULL;
    uint64_t v;
    snprintf(dir, sizeof dir, "%s/many", root);
    snprintf(src, sizeof src, "%s", dir);
    for (int i = 0; i < 700; i++) {
        char rel[32];
        snprintf(rel, sizeof rel, "d%d/f%04d", i % 7, i);
        write_file(rel, 10 + (size_t)i, (unsigned)i);
    }
    memset(&st, 0, sizeof st);
    T_EQ_INT(tar_write_dir(dir, NULL, mem_sink, &many, &st, err, sizeof err), 0);
    archive = many;
    uploading("many", &t);
    make_frames(t.task_id, 0, &fr);
    T_EQ_INT(resume(t.task_id, &s, &v), PROTO_UPLOAD_RESUME);
    nsyncs = 0;
    journal_set_sync_hook(counting_sync);
    T_EQ_INT(feed(s, &fr, 0, fr.n), 0);
    T_EQ_INT(reply(&v), PROTO_FILE_ACK);
    journal_set_sync_hook(NULL);
    T_EQ_INT(v, 1);
    T_EQ_INT(records_of(t.task_id), 700);
    printf("#   journal syncs for the upload: %d\n", nsyncs);
    T_CHECK(nsyncs >= 1 && nsyncs <= 2);
    T_EQ_INT(status_of(t.task_id, NULL, 0), PROTO_ST_COMPLETED);
    snprintf(src, sizeof src, "%s", keep);
    free(keep);
    archive = saved;
    free(many.p);
    frames_free(&fr);
    task_rec_free(&t);
}

static void write_file(const char *rel, size_t n, unsigned seed)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", src, rel);
    char *slash = strrchr(p, '/');
    *slash = 0;
    fsutil_mkdir_p(p, 0755);
    *slash = '/';
    uint8_t *b = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) { seed = seed * 1103515245u + 12345u; b[i] = (uint8_t)(seed >> 16); }
    fsutil_write_atomic(p, b, n);
    free(b);
}

int main(void)
{
    char err[256];
    uint64_t dropped = 0;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);                /* RLIMIT_FSIZE: EFBIG, not death */
    snprintf(root, sizeof root, "/tmp/test_upload.XXXXXX");
    if (!mkdtemp(root)) return 1;
    snprintf(src, sizeof src, "%s/src", root);
    write_file("big.bin", 3 * PROTO_CHUNK_MAX + 12345, 7);
    write_file("small.txt", 100, 8);
    write_file("sub/deep/x.txt", 5000, 9);
    tar_stats st;
    memset(&st, 0, sizeof st);
    if (tar_write_dir(src, NULL, mem_sink, &archive, &st, err, sizeof err) < 0) return 1;
    config_defaults(&cfg);
    snprintf(cfg.files_dir, sizeof cfg.files_dir, "%s/files", root);
    snprintf(cfg.meta_dir, sizeof cfg.meta_dir, "%s/meta", root);
    fsutil_mkdir_p(cfg.meta_dir, 0700);
    fsutil_mkdir_p(cfg.files_dir, 0755);
    if (!(m = meta_open_journal(cfg.meta_dir, 0, &dropped, err, sizeof err)) ||
        !(cl = cluster_new(&cfg, m, err, sizeof err)) || !(up = uploads_new(cl, err, sizeof err))) {
        printf("# setup: %s\n", err);
        return 1;
    }
    fake_now = T0;
    cluster_set_clock(cl, fake_clock, NULL);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) return 1;
    wc = conn_new(sv[0], "w1", 5000);
    snprintf(wc->node_id, sizeof wc->node_id, "w1");
    wpeer = sv[1];
    frame_reader_init(&wrd, PROTO_PAYLOAD_MAX);
    worker_rec w;
    memset(&w, 0, sizeof w);
    snprintf(w.worker_id, sizeof w.worker_id, "w1");
    w.cpu = 64;
    w.memory = w.storage = 64ull << 30;
    if (cluster_worker_register(cl, wc, &w, NULL, NULL, 0, NULL, 0) != 0) return 1;

    T_RUN(test_whole_stream);
    T_RUN(test_resume_offset);
    T_RUN(test_crc_mismatch);
    T_RUN(test_out_of_sequence);
    T_RUN(test_bad_checksum);
    T_RUN(test_full_disk);
    T_RUN(test_concurrent_same_task);
    T_RUN(test_many_files);

    cluster_worker_gone(cl, "w1", wc);
    uploads_free(up);
    storeread_drain();
    cluster_free(cl);
    meta_close(m);
    conn_unref(wc);
    close(wpeer);
    frame_reader_free(&wrd);
    free(archive.p);
    fsutil_rm_rf(root);
    return T_DONE();
}
