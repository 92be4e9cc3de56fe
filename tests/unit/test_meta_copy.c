/* test_meta_copy.c — meta_copy (src/master/meta_copy.h): journal to
 * journal always, journal to MongoDB when CLOUDAI_TEST_MONGO_URI is set
 * (database cloudai_test_copy_<pid>, left behind for inspection). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "master/meta_copy.h"

static char dirs[4][64];
static int ndirs;

static meta *journal(void)
{
    char err[256] = "";
    uint64_t dropped = 0;
    if (ndirs == 4) return NULL;
    snprintf(dirs[ndirs], sizeof dirs[0], "/tmp/test_meta_copy.XXXXXX");
    if (!mkdtemp(dirs[ndirs])) return NULL;
    meta *m = meta_open_journal(dirs[ndirs++], 0, &dropped, err, sizeof err);
    if (!m) printf("#   open journal: %s\n", err);
    return m;
}

/* Source: 3 tasks, files 0 / 2 / 2500 (more than one META_COPY_CHUNK), 2 workers. */
static void fill(meta *m)
{
    static const char *id[] = { "t-1", "t-2", "t-3" };
    static const size_t nf[] = { 0, 2, 2500 };
    file_rec *f = calloc(2500, sizeof *f);
    T_CHECK(f != NULL);
    if (!f) return;
    for (int i = 0; i < 3; i++) {
        task_rec t;
        task_rec_init(&t);
        snprintf(t.task_id, sizeof t.task_id, "%s", id[i]);
        snprintf(t.user_id, sizeof t.user_id, "alice");
        snprintf(t.task_name, sizeof t.task_name, "job-%d", i);
        t.submitted_at = 1000u * (unsigned)(i + 1);
        t.status = PROTO_ST_COMPLETED;
        t.output_files = nf[i];
        T_EQ_INT(task_rec_set_command(&t, "echo hi"), 0);
        T_EQ_INT(meta_task_put(m, &t, NULL, 0), 0);
        task_rec_free(&t);
        for (size_t k = 0; k < nf[i]; k++) {
            memset(&f[k], 0, sizeof f[k]);
            snprintf(f[k].task_id, sizeof f[k].task_id, "%s", id[i]);
            snprintf(f[k].user_id, sizeof f[k].user_id, "alice");
            snprintf(f[k].task_name, sizeof f[k].task_name, "job-%d", i);
            snprintf(f[k].file_name, sizeof f[k].file_name, "out/%05zu", k);
            f[k].submitted_at = 1000u * (unsigned)(i + 1);
            f[k].file_size = k;
            f[k].sha256[0] = (uint8_t)k;
        }
        if (nf[i]) T_EQ_INT(meta_files_put(m, f, nf[i], NULL, 0), 0);
    }
    free(f);
    worker_rec w;
    memset(&w, 0, sizeof w);
    snprintf(w.worker_id, sizeof w.worker_id, "w1");
    snprintf(w.state, sizeof w.state, "ready");
    T_EQ_INT(meta_worker_put(m, &w, NULL, 0), 0);
    snprintf(w.worker_id, sizeof w.worker_id, "w2");
    T_EQ_INT(meta_worker_put(m, &w, NULL, 0), 0);
}

static int count_task(void *ctx, const task_rec *t) { (*(size_t *)ctx)++; return 0; }
static int count_file(void *ctx, const file_rec *f)
{
    (*(size_t *)ctx)++;
    if (!strcmp(f->file_name, "out/00007") && (f->file_size != 7 || f->sha256[0] != 7)) *(size_t *)ctx += 1000000;
    return 0;
}
static int count_worker(void *ctx, const worker_rec *w) { (*(size_t *)ctx)++; return 0; }

static void check_copy(meta *from, meta *to)
{
    char err[256] = "";
    uint64_t nt = 99, nf = 99;
    size_t n = 0;
    T_EQ_INT(meta_copy(from, to, &nt, &nf, err, sizeof err), 0);
    if (err[0]) printf("#   %s\n", err);
    T_EQ_INT(nt, 3);
    T_EQ_INT(nf, 2502);
    T_EQ_INT(meta_tasks_find(to, NULL, count_task, &n), 0);
    T_EQ_INT(n, 3);
    n = 0;
    T_EQ_INT(meta_files_find(to, NULL, count_file, &n), 0);
    T_EQ_INT(n, 2502);
    n = 0;
    meta_query q = { .task_id = "t-2" };
    T_EQ_INT(meta_files_find(to, &q, count_file, &n), 0);
    T_EQ_INT(n, 2);
    n = 0;
    T_EQ_INT(meta_workers_list(to, count_worker, &n), 0);
    T_EQ_INT(n, 2);
    task_rec t;
    task_rec_init(&t);
    T_EQ_INT(meta_task_get(to, "t-3", &t), 0);
    T_EQ_INT(t.output_files, 2500);
    T_EQ_STR(t.command ? t.command : "(null)", "echo hi");
    task_rec_free(&t);
    /* Idempotent: a second run gives the same store. */
    T_EQ_INT(meta_copy(from, to, &nt, &nf, err, sizeof err), 0);
    n = 0;
    T_EQ_INT(meta_files_find(to, NULL, count_file, &n), 0);
    T_EQ_INT(n, 2502);
}

static void test_copy_journal_to_journal(void)
{
    meta *a = journal(), *b = journal();
    T_CHECK(a && b);
    if (a && b) {
        fill(a);
        check_copy(a, b);
        uint64_t nt = 5;
        T_EQ_INT(meta_copy(a, a, &nt, NULL, NULL, 0), META_E_ARG);
        T_EQ_INT(nt, 0);
    }
    meta_close(a);
    meta_close(b);
}

static void test_copy_journal_to_mongo(void)
{
    const char *uri = getenv("CLOUDAI_TEST_MONGO_URI");
    char db[64], err[256] = "";
    snprintf(db, sizeof db, "cloudai_test_copy_%ld", (long)getpid());
    meta *a = journal(), *b = meta_open_mongo(uri, db, 5000, err, sizeof err);
    if (!b) printf("#   open mongo: %s\n", err);
    T_CHECK(a && b);
    if (a && b) {
        fill(a);
        check_copy(a, b);
    }
    meta_close(a);
    meta_close(b);
}

static void rm_flat(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[256];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < sizeof p) unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

int main(void)
{
    T_RUN(test_copy_journal_to_journal);
    if (getenv("CLOUDAI_TEST_MONGO_URI") && *getenv("CLOUDAI_TEST_MONGO_URI"))
        T_RUN(test_copy_journal_to_mongo);
    else
        T_SKIP(test_copy_journal_to_mongo, "CLOUDAI_TEST_MONGO_URI not set");
    for (int i = 0; i < ndirs; i++) rm_flat(dirs[i]);
    return T_DONE();
}
