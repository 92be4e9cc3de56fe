/* test_retention.c — retention with a fake clock: expiry by global age
 * and per-name rules, pins exempt a run (and survive a reopen), running
 * runs are never touched, a sweep removes files and records together,
 * quotas (soft warns, hard refuses, per-user override, other users not
 * affected), and an interrupted removal is finished by recovery. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fsutil.h"
#include "ids.h"
#include "log.h"
#include "master/retention.h"
#include "master/store.h"
#include "t.h"

#define DAY (86400ull * 1000ull)
#define T0 (1700000000000ull)

static char root[256];
static config cfg;
static meta *m;

static void setup(void)
{
    char err[256];
    snprintf(root, sizeof root, "/tmp/test_retention.XXXXXX");
    if (!mkdtemp(root)) abort();
    config_defaults(&cfg);
    snprintf(cfg.files_dir, sizeof cfg.files_dir, "%s/files", root);
    snprintf(cfg.meta_dir, sizeof cfg.meta_dir, "%s/meta", root);
    fsutil_mkdir_p(cfg.files_dir, 0755);
    fsutil_mkdir_p(cfg.meta_dir, 0700);
    uint64_t dropped = 0;
    m = meta_open_journal(cfg.meta_dir, 0, &dropped, err, sizeof err);
    if (!m) { printf("# %s\n", err); abort(); }
}

static void teardown(void)
{
    meta_close(m);
    fsutil_rm_rf(root);
}

/* A finished run of user/name, completed at t, with one 1000-byte file
 * on disk and its record. */
static void add_run(const char *id, const char *user, const char *name, uint64_t t, int status)
{
    task_rec r;
    file_rec *f = calloc(1, sizeof *f);
    char dir[2048], path[2300], err[256];
    task_rec_init(&r);
    snprintf(r.task_id, sizeof r.task_id, "%s", id);
    snprintf(r.user_id, sizeof r.user_id, "%s", user);
    snprintf(r.task_name, sizeof r.task_name, "%s", name);
    snprintf(r.docker_image, sizeof r.docker_image, "img");
    r.submitted_at = r.created_at = t - 1000;
    r.completed_at = status >= PROTO_ST_COMPLETED ? t : 0;
    r.status = status;
    r.output_files = 1;
    r.output_bytes = 1000;
    T_CHECK(meta_task_put(m, &r, err, sizeof err) == 0);
    store_run_dir(&cfg, &r, dir, sizeof dir);
    fsutil_mkdir_p(dir, 0755);
    snprintf(path, sizeof path, "%s/out.bin", dir);
    char data[1000];
    memset(data, 'x', sizeof data);
    fsutil_write_atomic(path, data, sizeof data);
    snprintf(f->task_id, sizeof f->task_id, "%s", id);
    snprintf(f->user_id, sizeof f->user_id, "%s", user);
    snprintf(f->task_name, sizeof f->task_name, "%s", name);
    snprintf(f->file_name, sizeof f->file_name, "out.bin");
    snprintf(f->file_path, sizeof f->file_path, "%s", path);
    f->file_size = 1000;
    f->submitted_at = r.submitted_at;
    T_CHECK(meta_files_put(m, f, 1, err, sizeof err) == 0);
    free(f);
    task_rec_free(&r);
}

static int count_file(void *ctx, const file_rec *f) { (*(int *)ctx)++; return 0; }

static int nfiles(const char *id)
{
    meta_query q = {0};
    int n = 0;
    q.task_id = id;
    meta_files_find(m, &q, count_file, &n);
    return n;
}

static int on_disk(const char *id)
{
    task_rec r;
    char dir[2048];
    struct stat st;
    task_rec_init(&r);
    if (meta_task_get(m, id, &r) < 0) return 0;
    store_run_dir(&cfg, &r, dir, sizeof dir);
    task_rec_free(&r);
    return stat(dir, &st) == 0;
}

static void test_sweep_fake_clock(void)
{
    char err[512] = "";
    setup();
    cfg.retention_max_age_days = 7;
    cfg.nrules = 2;
    snprintf(cfg.rules[0].pattern, sizeof cfg.rules[0].pattern, "scratch-*");
    cfg.rules[0].max_age_days = 1;
    snprintf(cfg.rules[1].pattern, sizeof cfg.rules[1].pattern, "release-*");
    cfg.rules[1].max_age_days = 0;
    add_run("task-1-000000000001", "alice", "exp", T0, PROTO_ST_COMPLETED);
    add_run("task-1-000000000002", "alice", "scratch-a", T0, PROTO_ST_FAILED);
    add_run("task-1-000000000003", "alice", "release-1", T0, PROTO_ST_COMPLETED);
    add_run("task-1-000000000004", "bob", "exp", T0, PROTO_ST_COMPLETED);
    add_run("task-1-000000000005", "bob", "exp", T0, PROTO_ST_RUNNING);
    retention *r = retention_new(&cfg, m, err, sizeof err);
    T_CHECK(r != NULL);
    if (!r) { teardown(); return; }
    T_EQ_INT(retention_pin(r, "task-1-000000000004", 1, err, sizeof err), 0);

    task_rec t;
    task_rec_init(&t);
    meta_task_get(m, "task-1-000000000001", &t);
    T_CHECK(retention_expires_at(r, &t) == T0 + 7 * DAY);
    task_rec_free(&t);
    meta_task_get(m, "task-1-000000000003", &t);
    T_CHECK(retention_expires_at(r, &t) == 0);            /* rule: never */
    task_rec_free(&t);

    /* Half a day later nothing is due. */
    T_EQ_INT(retention_sweep(r, T0 + DAY / 2, err, sizeof err), 0);
    /* Two days: the scratch run (1-day rule) goes, files and records. */
    T_EQ_INT(retention_sweep(r, T0 + 2 * DAY, err, sizeof err), 1);
    T_EQ_INT(nfiles("task-1-000000000002"), 0);
    T_CHECK(!on_disk("task-1-000000000002"));
    T_EQ_INT(nfiles("task-1-000000000001"), 1);
    T_CHECK(on_disk("task-1-000000000001"));
    /* Exactly at expiry: due. exp of alice goes; bob's is pinned, the
     * running one and the release are kept. */
    T_EQ_INT(retention_sweep(r, T0 + 7 * DAY, err, sizeof err), 1);
    T_EQ_INT(nfiles("task-1-000000000001"), 0);
    T_CHECK(!on_disk("task-1-000000000001"));
    T_EQ_INT(nfiles("task-1-000000000004"), 1);
    T_EQ_INT(nfiles("task-1-000000000005"), 1);
    T_EQ_INT(nfiles("task-1-000000000003"), 1);
    /* The task record stays with 0 files; sweeping again removes nothing. */
    meta_task_get(m, "task-1-000000000001", &t);
    T_CHECK(t.output_files == 0 && t.status == PROTO_ST_COMPLETED);
    task_rec_free(&t);
    T_EQ_INT(retention_sweep(r, T0 + 30 * DAY, err, sizeof err), 0);
    /* Pins survive a reopen; unpinning makes the run due. */
    retention_free(r);
    r = retention_new(&cfg, m, err, sizeof err);
    T_CHECK(r && retention_is_pinned(r, "task-1-000000000004"));
    T_EQ_INT(retention_pin(r, "task-1-000000000004", 0, err, sizeof err), 0);
    T_EQ_INT(retention_sweep(r, T0 + 30 * DAY, err, sizeof err), 1);
    T_EQ_INT(nfiles("task-1-000000000004"), 0);
    retention_free(r);
    teardown();
}

static void test_quota(void)
{
    char err[512] = "", msg[512] = "";
    setup();
    cfg.quota_soft = 1500;
    cfg.quota_hard = 3000;
    cfg.nquotas = 1;
    snprintf(cfg.quotas[0].user, sizeof cfg.quotas[0].user, "carol");
    cfg.quotas[0].soft = 0;
    cfg.quotas[0].hard = 100000;
    add_run("task-1-000000000011", "alice", "a", T0, PROTO_ST_COMPLETED);
    add_run("task-1-000000000014", "bob", "a", T0, PROTO_ST_COMPLETED);
    add_run("task-1-000000000016", "carol", "a", T0, PROTO_ST_COMPLETED);
    add_run("task-1-000000000017", "carol", "a", T0, PROTO_ST_COMPLETED);
    add_run("task-1-000000000018", "carol", "a", T0, PROTO_ST_COMPLETED);
    retention *r = retention_new(&cfg, m, err, sizeof err);
    T_CHECK(r != NULL);
    if (!r) { teardown(); return; }
    T_EQ_INT(retention_quota_check(r, "alice", msg, sizeof msg), 0);
    add_run("task-1-000000000012", "alice", "a", T0, PROTO_ST_COMPLETED);
    T_EQ_INT(retention_quota_check(r, "alice", msg, sizeof msg), 1);
    T_CHECK(strstr(msg, "soft quota") != NULL);
    add_run("task-1-000000000013", "alice", "a", T0, PROTO_ST_COMPLETED);
    T_EQ_INT(retention_quota_check(r, "alice", msg, sizeof msg), 2);
    T_CHECK(strstr(msg, "hard quota") != NULL && strstr(msg, "alice") != NULL);
    T_EQ_INT(retention_quota_check(r, "bob", msg, sizeof msg), 0);     /* not blocked */
    T_EQ_INT(retention_quota_check(r, "carol", msg, sizeof msg), 0);   /* override */
    T_CHECK(retention_usage(r, "alice") == 3000);
    /* Deleting a run brings alice back under the hard limit. */
    task_rec t;
    task_rec_init(&t);
    meta_task_get(m, "task-1-000000000013", &t);
    T_EQ_INT(retention_remove_run(&cfg, m, &t, err, sizeof err), 0);
    task_rec_free(&t);
    T_EQ_INT(retention_quota_check(r, "alice", msg, sizeof msg), 1);
    retention_free(r);
    teardown();
}

static void test_remove_refuses_running_and_recovers(void)
{
    char err[512] = "", trash[2300], dir[2048];
    setup();
    add_run("task-1-000000000021", "alice", "a", T0, PROTO_ST_RUNNING);
    add_run("task-1-000000000022", "alice", "a", T0, PROTO_ST_COMPLETED);
    task_rec t;
    task_rec_init(&t);
    meta_task_get(m, "task-1-000000000021", &t);
    T_EQ_INT(retention_remove_run(&cfg, m, &t, err, sizeof err), RETENTION_E_STATE);
    T_EQ_INT(nfiles("task-1-000000000021"), 1);
    task_rec_free(&t);
    /* Simulate a crash right after step 1 (rename into the trash). */
    meta_task_get(m, "task-1-000000000022", &t);
    store_run_dir(&cfg, &t, dir, sizeof dir);
    task_rec_free(&t);
    snprintf(trash, sizeof trash, "%s/.trash", cfg.files_dir);
    fsutil_mkdir_p(trash, 0700);
    snprintf(trash, sizeof trash, "%s/.trash/task-1-000000000022", cfg.files_dir);
    T_EQ_INT(rename(dir, trash), 0);
    T_EQ_INT(nfiles("task-1-000000000022"), 1);    /* dangling until recovery */
    retention *r = retention_new(&cfg, m, err, sizeof err);   /* runs recovery */
    T_CHECK(r != NULL);
    T_EQ_INT(nfiles("task-1-000000000022"), 0);
    T_CHECK(access(trash, F_OK) != 0);
    meta_task_get(m, "task-1-000000000022", &t);
    T_CHECK(t.output_files == 0);
    task_rec_free(&t);
    retention_free(r);
    teardown();
}

int main(void)
{
    log_init("test_retention", LOG_WARN);
    T_RUN(test_sweep_fake_clock);
    T_RUN(test_quota);
    T_RUN(test_remove_refuses_running_and_recovers);
    return T_DONE();
}
