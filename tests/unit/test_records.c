/* test_records.c — task/file/worker records: init values, deep copies,
 * and wire round trips inside list frames (records nested in messages). */
#include "proto.h"
#include "records.h"
#include "t.h"

#include <errno.h>

static int finish_decode(proto_buf *b, proto_msg *m)
{
    int rc = proto_finish(b);
    if (rc) return rc;
    uint32_t len;
    uint16_t type, flags;
    if ((rc = proto_header(b->p, PROTO_PAYLOAD_MAX, &len, &type, &flags))) return rc;
    return proto_decode(m, type, flags, b->p + PROTO_HDR_LEN, len);
}

static void fill_task(task_rec *t)
{
    task_rec_init(t);
    snprintf(t->task_id, sizeof t->task_id, "20261128-144533-0001");
    snprintf(t->user_id, sizeof t->user_id, "alice");
    snprintf(t->task_name, sizeof t->task_name, "train \xc3\xa9t\xc3\xa9");
    t->submitted_at = 1764340800123ull;
    snprintf(t->docker_image, sizeof t->docker_image, "python:3.12-slim");
    char *argv[] = { "python", "-c", "print('hi')", "", NULL };
    task_rec_set_argv(t, 4, argv);
    task_rec_set_command(t, "echo hi > /output/a.txt");
    t->req_cpu = 1.5;
    t->req_memory = 1ull << 30;
    t->req_storage = 5ull << 30;
    t->req_gpu = 1;
    t->status = PROTO_ST_COMPLETED;
    snprintf(t->worker_id, sizeof t->worker_id, "w1");
    snprintf(t->want_worker, sizeof t->want_worker, "w2");
    t->exit_code = -137;
    snprintf(t->error, sizeof t->error, "killed: out of memory");
    t->attempts = 2;
    t->created_at = 1; t->started_at = 2; t->completed_at = 3;
    t->output_files = 17; t->output_bytes = 123456789;
    t->timeout_s = 3600;
    task_rec_set_notes(t, "'pipe': FIFO ('6'); '\xc3\xa9': symlink to '/etc/passwd' leaves the target");
}

static void check_task_eq(const task_rec *a, const task_rec *b, int want_worker_too)
{
    T_EQ_STR(a->task_id, b->task_id);
    T_EQ_STR(a->user_id, b->user_id);
    T_EQ_STR(a->task_name, b->task_name);
    T_CHECK(a->submitted_at == b->submitted_at);
    T_EQ_STR(a->docker_image, b->docker_image);
    if (a->command || b->command) T_EQ_STR(a->command, b->command);
    T_EQ_INT(a->argc, b->argc);
    for (int i = 0; i < a->argc && i < b->argc; i++) T_EQ_STR(a->argv[i], b->argv[i]);
    T_CHECK(b->argv == NULL || b->argv[b->argc] == NULL);
    T_CHECK(a->req_cpu == b->req_cpu);
    T_CHECK(a->req_memory == b->req_memory && a->req_storage == b->req_storage);
    T_CHECK(a->req_gpu == b->req_gpu);
    T_EQ_INT(a->status, b->status);
    T_EQ_STR(a->worker_id, b->worker_id);
    if (want_worker_too) T_EQ_STR(a->want_worker, b->want_worker);
    T_CHECK(a->exit_code == b->exit_code);
    T_EQ_STR(a->error, b->error);
    T_CHECK(a->attempts == b->attempts);
    T_CHECK(a->created_at == b->created_at && a->started_at == b->started_at);
    T_CHECK(a->completed_at == b->completed_at);
    T_CHECK(a->output_files == b->output_files && a->output_bytes == b->output_bytes);
    T_CHECK(a->timeout_s == b->timeout_s);
    if (a->notes || b->notes) T_EQ_STR(a->notes, b->notes);
}

static void test_task_init_copy(void)
{
    task_rec t, c;
    task_rec_init(&t);
    T_EQ_INT(t.status, PROTO_ST_QUEUED);
    T_CHECK(t.exit_code == -1);
    T_CHECK(t.command == NULL && t.argv == NULL && t.argc == 0);
    T_EQ_STR(t.task_id, "");
    T_CHECK(t.req_cpu == 0 && t.attempts == 0 && t.timeout_s == 0);
    fill_task(&t);
    T_EQ_INT(task_rec_copy(&c, &t), 0);
    check_task_eq(&t, &c, 1);
    T_CHECK(c.command != t.command && c.argv != t.argv && c.argv[0] != t.argv[0]);
    T_CHECK(c.notes && c.notes != t.notes);
    task_rec_free(&t);          /* the copy outlives the original */
    T_EQ_STR(c.argv[2], "print('hi')");
    T_EQ_INT(task_rec_set_argv(&c, 0, NULL), 0);
    T_CHECK(c.argv == NULL && c.argc == 0);
    T_EQ_INT(task_rec_set_command(&c, NULL), 0);
    T_CHECK(c.command == NULL);
    char *one[] = { "true" };
    T_EQ_INT(task_rec_set_argv(&c, 1, one), 0);
    T_EQ_INT(c.argc, 1);
    T_EQ_STR(c.argv[0], "true");
    T_CHECK(c.argv[1] == NULL);
    /* Notes are bounded at TASK_NOTES_MAX, never cut inside a character. */
    char big[TASK_NOTES_MAX + 8];
    memset(big, 'x', sizeof big);
    memcpy(big + TASK_NOTES_MAX - 1, "\xc3\xa9", 2);
    big[sizeof big - 1] = 0;
    T_EQ_INT(task_rec_set_notes(&c, big), 0);
    T_EQ_INT(strlen(c.notes), TASK_NOTES_MAX - 1);
    T_EQ_INT(task_rec_set_notes(&c, ""), 0);
    T_CHECK(c.notes == NULL);
    task_rec_free(&c);
    task_rec_free(&c);          /* idempotent */
    T_CHECK(c.argv == NULL && c.command == NULL);
}

static void test_task_wire(void)
{
    task_rec t, got[3];
    proto_buf b;
    proto_msg m, sub;
    proto_field f;
    fill_task(&t);
    proto_buf_init(&b);
    proto_begin(&b, PROTO_TASK_LIST, 0);
    for (int i = 0; i < 3; i++) {
        size_t mk = proto_rec_begin(&b, T_TASK);
        t.attempts = (uint64_t)i;
        task_rec_put(&b, &t);
        proto_rec_end(&b, mk);
    }
    T_EQ_INT(finish_decode(&b, &m), 0);
    size_t pos = 0;
    int n = 0;
    while (n < 3 && proto_next(&m, T_TASK, &pos, &f)) {
        proto_rec_open(&f, &sub);
        T_EQ_INT(task_rec_get(&sub, &got[n]), 0);
        t.attempts = (uint64_t)n;
        check_task_eq(&t, &got[n], 0);
        T_EQ_STR(got[n].want_worker, "");     /* not part of the record */
        task_rec_free(&got[n]);
        n++;
    }
    T_EQ_INT(n, 3);
    /* A fresh record: defaults survive the trip (status, exit code). */
    task_rec e, e2;
    task_rec_init(&e);
    proto_begin(&b, PROTO_ASSIGN, 0);
    size_t mk = proto_rec_begin(&b, T_TASK);
    task_rec_put(&b, &e);
    proto_rec_end(&b, mk);
    T_EQ_INT(finish_decode(&b, &m), 0);
    T_EQ_INT(proto_get(&m, T_TASK, &f), 0);
    proto_rec_open(&f, &sub);
    T_EQ_INT(task_rec_get(&sub, &e2), 0);
    check_task_eq(&e, &e2, 1);
    T_CHECK(e2.command == NULL && e2.argv == NULL);
    /* SUBMIT carries the record's fields at the top level. */
    proto_begin(&b, PROTO_SUBMIT, 0);
    task_rec_put(&b, &t);
    T_EQ_INT(finish_decode(&b, &m), 0);
    T_EQ_INT(task_rec_get(&m, &e2), 0);
    check_task_eq(&t, &e2, 0);
    task_rec_free(&e2);
    task_rec_free(&t);
    proto_buf_free(&b);
}

static void test_task_wire_limits(void)
{
    proto_buf b;
    proto_msg m;
    task_rec t;
    char s[5000];
    proto_buf_init(&b);
    /* A 64-byte id is valid on the wire but does not fit task_id[64]. */
    memset(s, 'i', 64); s[64] = 0;
    proto_begin(&b, PROTO_OK, 0);
    proto_put_str(&b, T_TASK_ID, s);
    T_EQ_INT(finish_decode(&b, &m), 0);
    T_EQ_INT(task_rec_get(&m, &t), PROTO_E_STRLEN);
    task_rec_free(&t);
    /* A long error is prose: cut to fit, never refused. */
    memset(s, 'e', 4096); s[4096] = 0;
    proto_begin(&b, PROTO_OK, 0);
    proto_put_str(&b, T_ERROR, s);
    proto_put_str(&b, T_ARGV, "a");
    T_EQ_INT(finish_decode(&b, &m), 0);
    T_EQ_INT(task_rec_get(&m, &t), 0);
    T_EQ_INT(strlen(t.error), sizeof t.error - 1);
    T_EQ_INT(t.argc, 1);
    task_rec_free(&t);
    proto_buf_free(&b);
}

static void test_file_wire(void)
{
    file_rec f, g;
    proto_buf b;
    proto_msg m, sub;
    proto_field fl;
    memset(&f, 0, sizeof f);
    snprintf(f.task_id, sizeof f.task_id, "t-1");
    snprintf(f.task_name, sizeof f.task_name, "demo");
    snprintf(f.user_id, sizeof f.user_id, "bob");
    f.submitted_at = 42;
    snprintf(f.file_name, sizeof f.file_name, "sub dir/r\xc3\xa9sultat.csv");
    snprintf(f.file_path, sizeof f.file_path, "/srv/files/bob/demo/42/t-1/sub dir/r\xc3\xa9sultat.csv");
    f.file_size = 1ull << 40;
    for (int i = 0; i < 32; i++) f.sha256[i] = (uint8_t)(255 - i);
    f.mode = 0755;
    f.stored_at = 43;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_FILE_LIST, 0);
    size_t mk = proto_rec_begin(&b, T_FILE);
    file_rec_put(&b, &f);
    proto_rec_end(&b, mk);
    proto_put_u64(&b, T_MORE, 0);
    T_EQ_INT(finish_decode(&b, &m), 0);
    T_EQ_INT(proto_get(&m, T_FILE, &fl), 0);
    proto_rec_open(&fl, &sub);
    memset(&g, 0x55, sizeof g);
    T_EQ_INT(file_rec_get(&sub, &g), 0);
    T_EQ_STR(g.task_id, f.task_id); T_EQ_STR(g.task_name, f.task_name);
    T_EQ_STR(g.user_id, f.user_id); T_EQ_STR(g.file_name, f.file_name);
    T_EQ_STR(g.file_path, f.file_path);
    T_CHECK(g.submitted_at == 42 && g.file_size == f.file_size && g.stored_at == 43);
    T_CHECK(!memcmp(g.sha256, f.sha256, 32));
    T_EQ_INT(g.mode, 0755);
    /* Empty record: everything zero. */
    proto_msg empty = { 0, 0, NULL, 0 };
    T_EQ_INT(file_rec_get(&empty, &g), 0);
    T_EQ_STR(g.file_name, ""); T_CHECK(g.file_size == 0 && g.mode == 0);
    proto_buf_free(&b);
}

static void test_worker_wire(void)
{
    worker_rec w, v;
    proto_buf b;
    proto_msg m, sub;
    proto_field f;
    memset(&w, 0, sizeof w);
    snprintf(w.worker_id, sizeof w.worker_id, "w1");
    snprintf(w.address, sizeof w.address, "10.0.0.5:41234");
    w.cpu = 8; w.free_cpu = 6.5;
    w.memory = 32ull << 30; w.free_memory = 30ull << 30;
    w.storage = 1ull << 40; w.free_storage = 1ull << 39;
    w.gpu = 2; w.free_gpu = 0;
    w.last_seen = 1764340800999ull;
    snprintf(w.state, sizeof w.state, "ready");
    w.running = 3;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_WORKER_LIST, 0);
    size_t mk = proto_rec_begin(&b, T_WORKER);
    worker_rec_put(&b, &w);
    proto_rec_end(&b, mk);
    T_EQ_INT(finish_decode(&b, &m), 0);
    T_EQ_INT(proto_get(&m, T_WORKER, &f), 0);
    proto_rec_open(&f, &sub);
    T_EQ_INT(worker_rec_get(&sub, &v), 0);
    T_EQ_STR(v.worker_id, "w1"); T_EQ_STR(v.address, w.address); T_EQ_STR(v.state, "ready");
    T_CHECK(v.cpu == 8 && v.free_cpu == 6.5);
    T_CHECK(v.memory == w.memory && v.free_memory == w.free_memory);
    T_CHECK(v.storage == w.storage && v.free_storage == w.free_storage);
    T_CHECK(v.gpu == 2 && v.free_gpu == 0 && v.last_seen == w.last_seen);
    T_CHECK(v.running == 0);     /* a count does not travel (see records.c) */
    /* A HEARTBEAT's RUNNING ids are counted. */
    proto_begin(&b, PROTO_HEARTBEAT, 0);
    worker_rec_put(&b, &w);
    proto_put_str(&b, T_RUNNING, "t-1");
    proto_put_str(&b, T_RUNNING, "t-2");
    T_EQ_INT(finish_decode(&b, &m), 0);
    T_EQ_INT(worker_rec_get(&m, &v), 0);
    T_CHECK(v.running == 2);
    /* REGISTER requires the totals, also when they are zero. */
    memset(&w, 0, sizeof w);
    snprintf(w.worker_id, sizeof w.worker_id, "w0");
    proto_begin(&b, PROTO_REGISTER, 0);
    worker_rec_put(&b, &w);
    T_EQ_INT(finish_decode(&b, &m), 0);
    proto_buf_free(&b);
}

int main(void)
{
    T_RUN(test_task_init_copy);
    T_RUN(test_task_wire);
    T_RUN(test_task_wire_limits);
    T_RUN(test_file_wire);
    T_RUN(test_worker_wire);
    return T_DONE();
}
