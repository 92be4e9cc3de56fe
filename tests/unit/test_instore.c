/* test_instore.c — the master's content-addressed input store
 * (src/master/instore.c) in a temp directory: a blob is published under
 * its SHA-256 only when its bytes match (a wrong hash, a short or long
 * write leave nothing behind), the same content twice is one blob, the
 * size limit, a stored directory as a ustar stream named by its hash, and
 * the sweep (referenced and recent blobs kept, others removed). Also the
 * input destination rules shared by client and master (records.c). */
#define _GNU_SOURCE
#include "master/instore.h"
#include "master/store.h"
#include "master/metadoc.h"
#include "proto.h"
#include "fsutil.h"
#include "hash.h"
#include "tar.h"
#include "t.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char root[256];

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/cloudai-instore.XXXXXX");
    if (!mkdtemp(root)) abort();
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d))) if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void put_bytes(instore *s, const char *data, const uint8_t *sha, int want_rc)
{
    char err[256] = "";
    instore_put *w = instore_put_begin(s, sha, strlen(data), err, sizeof err);
    T_CHECK(w != NULL);
    if (!w) return;
    T_EQ_INT(instore_put_write(w, (const uint8_t *)data, strlen(data)), 0);
    T_EQ_INT(instore_put_commit(w, NULL, NULL, err, sizeof err), want_rc);
}

static void test_put_and_has(void)
{
    char err[256] = "", path[1024], tmp[600];
    instore *s = instore_open(root, 0, err, sizeof err);
    uint8_t sha[32], other[32];
    uint64_t size = 0;
    T_CHECK(s != NULL);
    if (!s) return;
    hash_sha256_buf("hello\n", 6, sha);
    T_EQ_INT(instore_has(s, sha, NULL), 0);
    put_bytes(s, "hello\n", sha, 0);
    T_EQ_INT(instore_has(s, sha, &size), 1);
    T_EQ_INT(size, 6);
    instore_path(s, sha, path, sizeof path);
    char hx[65];
    hash_hex(sha, 32, hx);
    char want[700];
    snprintf(want, sizeof want, "%s/.inputs/sha256/%.2s/%s", root, hx, hx + 2);
    T_EQ_STR(path, want);
    /* The same content again: still one blob, nothing left in tmp. */
    put_bytes(s, "hello\n", sha, 0);
    snprintf(tmp, sizeof tmp, "%s/.inputs/tmp", root);
    T_EQ_INT(count_files(tmp), 0);
    snprintf(want, sizeof want, "%s/.inputs/sha256/%.2s", root, hx);
    T_EQ_INT(count_files(want), 1);
    /* Bytes that do not hash to the announced name are refused. */
    memset(other, 7, sizeof other);
    put_bytes(s, "hello\n", other, INSTORE_E_SHA);
    T_EQ_INT(instore_has(s, other, NULL), 0);
    T_EQ_INT(count_files(tmp), 0);
    /* More or fewer bytes than announced. */
    instore_put *w = instore_put_begin(s, NULL, 3, err, sizeof err);
    T_CHECK(w != NULL);
    T_CHECK(instore_put_write(w, (const uint8_t *)"abcd", 4) == INSTORE_E_SIZE);
    T_EQ_INT(instore_put_commit(w, NULL, NULL, err, sizeof err), INSTORE_E_SIZE);
    w = instore_put_begin(s, NULL, 3, err, sizeof err);
    T_EQ_INT(instore_put_write(w, (const uint8_t *)"ab", 2), 0);
    T_EQ_INT(instore_put_commit(w, NULL, NULL, err, sizeof err), INSTORE_E_SIZE);
    T_EQ_INT(count_files(tmp), 0);
    /* Aborted: nothing left. */
    w = instore_put_begin(s, NULL, 2, err, sizeof err);
    instore_put_write(w, (const uint8_t *)"ab", 2);
    instore_put_abort(w);
    T_EQ_INT(count_files(tmp), 0);
    /* Ownership markers, per user. */
    T_EQ_INT(instore_owns(s, sha, "alice"), 0);
    T_EQ_INT(instore_own(s, sha, "alice"), 0);
    T_EQ_INT(instore_own(s, sha, "alice"), 0);
    T_EQ_INT(instore_owns(s, sha, "alice"), 1);
    T_EQ_INT(instore_owns(s, sha, "bob"), 0);
    T_EQ_INT(instore_owns(s, sha, ".."), 0);
    T_EQ_INT(instore_own(s, sha, ".."), 0);      /* any id is one safe component */
    T_EQ_INT(instore_owns(s, sha, ".."), 1);
    instore_stats st;
    instore_get_stats(s, &st);
    T_EQ_INT(st.blobs_added, 2);
    T_EQ_INT(st.bytes_received, 12);
    instore_free(s);
}

static void test_limit(void)
{
    char err[256] = "";
    instore *s = instore_open(root, 10, err, sizeof err);
    T_CHECK(s != NULL);
    if (!s) return;
    T_CHECK(instore_put_begin(s, NULL, 11, err, sizeof err) == NULL);
    T_CHECK(strstr(err, "max_input_bytes") != NULL);
    /* Size not known in advance: the limit stops the writes. */
    instore_put *w = instore_put_begin(s, NULL, UINT64_MAX, err, sizeof err);
    T_CHECK(w != NULL);
    T_EQ_INT(instore_put_write(w, (const uint8_t *)"0123456789", 10), 0);
    T_EQ_INT(instore_put_write(w, (const uint8_t *)"x", 1), INSTORE_E_LIMIT);
    T_EQ_INT(instore_put_commit(w, NULL, NULL, err, sizeof err), INSTORE_E_LIMIT);
    instore_free(s);
}

/* Adds what store_open_in reaches beneath the run (the master's one
 * way to read a stored output as an input). */
static int add_rel(instore *s, const char *dir, const char *rel, task_input *in, char *err,
                   size_t errcap)
{
    int fd = store_open_in(dir, rel, FSUTIL_DIR | FSUTIL_FILE);
    if (fd < 0) return fd;
    int rc = instore_add_fd(s, fd, rel, in, err, errcap);
    close(fd);
    return rc;
}

static void test_add_fd(void)
{
    char err[256] = "", dir[400], f[500];
    instore *s = instore_open(root, 0, err, sizeof err);
    task_input a = {0}, b = {0}, c = {0};
    snprintf(dir, sizeof dir, "%s/run", root);
    fsutil_mkdir_p(dir, 0755);
    snprintf(f, sizeof f, "%s/run/a.txt", root);
    fsutil_write_atomic(f, "one\n", 4);
    T_EQ_INT(add_rel(s, dir, "a.txt", &a, err, sizeof err), 0);
    uint8_t sha[32];
    hash_sha256_buf("one\n", 4, sha);
    T_CHECK(a.has_sha && !a.is_dir && a.size == 4 && !memcmp(a.sha256, sha, 32));
    T_EQ_INT(add_rel(s, dir, "", &b, err, sizeof err), 0);
    T_CHECK(b.has_sha && b.is_dir && b.size % 512 == 0 && b.size >= 2048);
    T_EQ_INT(instore_has(s, b.sha256, NULL), 1);
    /* The same tree again: the same stream, the same name; and the same
     * as the path-rooted writer gives (an fd root changes no byte). */
    T_EQ_INT(add_rel(s, dir, "", &c, err, sizeof err), 0);
    T_CHECK(!memcmp(b.sha256, c.sha256, 32));
    tar_stats ts;
    T_EQ_INT(tar_measure_dir(dir, NULL, &ts, err, sizeof err), 0);
    T_CHECK(ts.archive_bytes == b.size);
    char link[500];
    snprintf(link, sizeof link, "%s/run/l", root);
    T_EQ_INT(symlink("a.txt", link), 0);
    T_EQ_INT(add_rel(s, dir, "l", &c, err, sizeof err), -ELOOP);   /* a link is not followed */
    instore_free(s);
}

static void test_sweep(void)
{
    char err[256] = "";
    instore *s = instore_open(root, 0, err, sizeof err);
    uint8_t k1[32], k2[32], k3[32];
    hash_sha256_buf("keep\n", 5, k1);
    hash_sha256_buf("drop\n", 5, k2);
    hash_sha256_buf("young\n", 6, k3);
    put_bytes(s, "keep\n", k1, 0);
    put_bytes(s, "drop\n", k2, 0);
    /* keep_ms 0: only references save a blob. */
    uint8_t keep[1][32];
    memcpy(keep[0], k1, 32);
    uint64_t freed = 0;
    long before = 0;
    T_EQ_INT(instore_sweep(s, (const uint8_t (*)[32])keep, 1, UINT64_MAX / 2, 0, &freed) >= 1, 1);
    T_EQ_INT(instore_has(s, k1, NULL), 1);
    T_EQ_INT(instore_has(s, k2, NULL), 0);
    /* A recent blob no task refers to yet (a client about to submit) stays. */
    put_bytes(s, "young\n", k3, 0);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t now_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
    before = instore_sweep(s, NULL, 0, now_ms, 3600 * 1000, &freed);
    T_EQ_INT(before, 0);
    T_EQ_INT(instore_has(s, k3, NULL), 1);
    T_EQ_INT(instore_own(s, k3, "alice"), 0);
    T_EQ_INT(instore_sweep(s, NULL, 0, now_ms + 3601 * 1000, 3600 * 1000, &freed), 2);
    T_EQ_INT(instore_has(s, k1, NULL) + instore_has(s, k3, NULL), 0);
    T_EQ_INT(instore_owns(s, k3, "alice"), 0);   /* its owners go with it */
    instore_free(s);
}

static void test_dest_rules(void)
{
    T_CHECK(task_input_dest_invalid("data") == NULL);
    T_CHECK(task_input_dest_invalid("a/b.csv") == NULL);
    T_CHECK(task_input_dest_invalid("") != NULL);
    T_CHECK(task_input_dest_invalid("/etc") != NULL);
    T_CHECK(task_input_dest_invalid("a/../b") != NULL);
    T_CHECK(task_input_dest_invalid("..") != NULL);
    T_CHECK(task_input_dest_invalid("a//b") != NULL);
    T_CHECK(task_input_dest_invalid("a/") != NULL);
    T_CHECK(task_input_dest_invalid("./a") != NULL);
    task_input in[3] = { { .dest = "d", .source = "x" }, { .dest = "d2", .source = "y" },
                         { .dest = "d/sub", .source = "z" } };
    char buf[600];
    T_CHECK(task_inputs_conflict(in, 2, buf, sizeof buf) == NULL);
    T_CHECK(task_inputs_conflict(in, 3, buf, sizeof buf) != NULL);
    T_CHECK(strstr(buf, "overlap") != NULL);
    in[2].dest = "d2";
    T_CHECK(task_inputs_conflict(in, 3, buf, sizeof buf) != NULL);
}

/* The inputs of a task survive the wire and the BSON of the stores. */
static void test_record_roundtrip(void)
{
    task_rec t, w, b;
    task_input in[2] = { { .has_sha = 1, .size = 20971520, .dest = "cfg/big.bin", .source = "./big.bin" },
                         { .has_sha = 1, .size = 4096, .is_dir = 1, .dest = "ds",
                           .source = "task:task-1-ab/model" } };
    memset(in[0].sha256, 0x11, 32);
    memset(in[1].sha256, 0xfe, 32);
    task_rec_init(&t);
    task_rec_init(&w);
    task_rec_init(&b);
    strcpy(t.task_id, "t-1");
    T_EQ_INT(task_rec_set_inputs(&t, 2, in), 0);
    /* wire */
    proto_buf pb;
    proto_msg m;
    proto_buf_init(&pb);
    proto_begin(&pb, PROTO_SUBMIT, 0);
    proto_put_str(&pb, T_DOCKER_IMAGE, "img");
    task_rec_put(&pb, &t);
    T_EQ_INT(proto_finish(&pb), 0);
    T_EQ_INT(proto_decode(&m, PROTO_SUBMIT, 0, pb.p + PROTO_HDR_LEN, (uint32_t)(pb.len - PROTO_HDR_LEN)), 0);
    T_EQ_INT(task_rec_get(&m, &w), 0);
    /* BSON */
    bson_t doc = BSON_INITIALIZER;
    char err[128];
    T_EQ_INT(metadoc_task_to_bson(&t, &doc), 0);
    T_EQ_INT(metadoc_task_from_bson(&doc, &b, err, sizeof err), 0);
    bson_destroy(&doc);
    const task_rec *got[2] = { &w, &b };
    for (int k = 0; k < 2; k++) {
        T_EQ_INT(got[k]->ninputs, 2);
        for (int i = 0; i < 2 && got[k]->ninputs == 2; i++) {
            const task_input *g = &got[k]->inputs[i];
            T_CHECK(g->has_sha && !memcmp(g->sha256, in[i].sha256, 32));
            T_EQ_INT(g->size, in[i].size);
            T_EQ_INT(g->is_dir, in[i].is_dir);
            T_EQ_STR(g->dest, in[i].dest);
            T_EQ_STR(g->source, in[i].source);
        }
    }
    /* A copy is deep. */
    task_rec c;
    task_rec_init(&c);
    T_EQ_INT(task_rec_copy(&c, &t), 0);
    T_CHECK(c.inputs != t.inputs && c.inputs[1].dest != t.inputs[1].dest);
    T_EQ_STR(c.inputs[1].dest, "ds");
    task_rec_free(&c);
    /* More than TASK_INPUTS_MAX on the wire is refused. */
    proto_begin(&pb, PROTO_SUBMIT, 0);
    proto_put_str(&pb, T_DOCKER_IMAGE, "img");
    for (int i = 0; i <= TASK_INPUTS_MAX; i++) task_input_put(&pb, &in[0]);
    T_EQ_INT(proto_finish(&pb), 0);
    T_EQ_INT(proto_decode(&m, PROTO_SUBMIT, 0, pb.p + PROTO_HDR_LEN, (uint32_t)(pb.len - PROTO_HDR_LEN)), 0);
    task_rec_free(&w);
    task_rec_init(&w);
    T_EQ_INT(task_rec_get(&m, &w), PROTO_E_RANGE);
    proto_buf_free(&pb);
    task_rec_free(&t);
    task_rec_free(&w);
    task_rec_free(&b);
}

int main(void)
{
    setup();
    T_RUN(test_put_and_has);
    T_RUN(test_limit);
    T_RUN(test_add_fd);
    T_RUN(test_sweep);
    T_RUN(test_dest_rules);
    T_RUN(test_record_roundtrip);
    fsutil_rm_rf(root);
    return T_DONE();
}
