/* test_metarepair.c — `master --check` against the file store
 * (metarepair.c): a FILE record counts as present only when its file is
 * reached beneath the store the way serving reaches it (store_open_rec,
 * no link followed on the way); a record whose file is gone, or whose
 * path leaves the layout, is an orphan. A real journal store in a
 * private temp directory. */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"
#include "master/meta.h"
#include "master/metarepair.h"
#include "master/store.h"
#include "runfix.h"
#include "t.h"

static char root[64];

static void say(void *ctx, const char *line)
{
    (void)ctx;
    printf("#   %s\n", line);
}

static int copy_named(void *ctx, const file_rec *f)
{
    file_rec *out = ctx;
    if (strcmp(f->file_name, out->file_name)) return 0;
    *out = *f;
    return 1;
}

/* The FILE record of a task's file name: 1 found, 0 none, negative error. */
static int file_named(meta *m, const char *task_id, const char *name, file_rec *out)
{
    meta_query q = { 0 };
    q.task_id = task_id;
    memset(out, 0, sizeof *out);
    snprintf(out->file_name, sizeof out->file_name, "%s", name);
    int rc = meta_files_find(m, &q, copy_named, out);
    return rc < 0 ? rc : out->task_id[0] != 0;
}

/* A journal store under root/<tag>, with one run of task id (its output
 * directory made, with a.txt, in dir); files gets the files dir. NULL if
 * the store cannot be opened. */
static meta *store_with_run(const char *tag, const char *id, const char *name, task_rec *t,
                            char *files, size_t fcap, char *dir, size_t dcap)
{
    char err[256] = "", metad[256];
    uint64_t dropped = 0;
    snprintf(files, fcap, "%s/files-%s", root, tag);
    snprintf(metad, sizeof metad, "%s/meta-%s", root, tag);
    T_EQ_INT(fsutil_mkdir_p(files, 0700), 0);
    T_EQ_INT(fsutil_mkdir_p(metad, 0700), 0);
    meta *m = meta_open_journal(metad, 0, &dropped, err, sizeof err);
    T_CHECK(m != NULL);
    if (!m) return NULL;
    config cfg;
    config_defaults(&cfg);
    snprintf(cfg.files_dir, sizeof cfg.files_dir, "%s", files);
    runfix_task(t, id, "alice", name, 1764340000000ull);
    T_EQ_INT(runfix_run(&cfg, t, dir, dcap), 0);
    return m;
}

static void test_orphans(void)
{
    char err[256] = "", files[256], dir[CONFIG_PATH_MAX + 512], p[CONFIG_PATH_MAX + 600];
    task_rec t;
    meta *m = store_with_run("orphans", "task-1-0000000000ab", "rep", &t, files, sizeof files, dir, sizeof dir);
    if (!m) return;
    /* A file outside the store, named by a forged record's path. */
    snprintf(p, sizeof p, "%s/outside.txt", root);
    T_EQ_INT(fsutil_write_atomic(p, "o", 1), 0);

    file_rec *r = calloc(4, sizeof *r);
    T_CHECK(r != NULL);
    if (!r) { meta_close(m); return; }
    T_EQ_INT(store_file_rec(&t, dir, "a.txt", &r[0]), 0);      /* present */
    T_EQ_INT(store_file_rec(&t, dir, "gone.txt", &r[1]), 0);   /* orphan */
    T_EQ_INT(store_file_rec(&t, dir, "l", &r[2]), 0);          /* a link: present */
    T_EQ_INT(store_file_rec(&t, dir, "x.txt", &r[3]), 0);
    snprintf(r[3].file_path, sizeof r[3].file_path, "%s", p);  /* exists, not in the layout */
    T_EQ_INT(meta_files_put(m, r, 4, err, sizeof err), 0);

    metarepair_stats st;
    T_EQ_INT(metarepair_scan(m, files, 0, say, NULL, &st), 0);
    printf("#   orphans %llu, files seen %llu, errors %llu\n", (unsigned long long)st.records_orphan,
           (unsigned long long)st.files_seen, (unsigned long long)st.errors);
    T_EQ_INT(st.records_orphan, 2);
    T_EQ_INT(st.files_seen, 1);
    free(r);
    task_rec_free(&t);
    meta_close(m);
}

/* --repair indexes a file without a record with the time it was stored,
 * not its own mtime (the task's: here 1960, which made a date past the
 * year 500 million). */
static void test_reindex_time(void)
{
    char files[256], dir[CONFIG_PATH_MAX + 512], p[CONFIG_PATH_MAX + 600];
    uint64_t t0 = (uint64_t)time(NULL) * 1000;
    task_rec t;
    meta *m = store_with_run("reindex", "task-2-0000000000cd", "old", &t, files, sizeof files, dir, sizeof dir);
    if (!m) return;
    snprintf(p, sizeof p, "%s/old.txt", dir);
    T_EQ_INT(fsutil_write_atomic(p, "1960", 4), 0);
    struct timespec ts[2] = { { -315619200, 0 }, { -315619200, 0 } };
    T_EQ_INT(utimensat(AT_FDCWD, p, ts, 0), 0);
    metarepair_stats st;
    T_EQ_INT(metarepair_scan(m, files, 1, say, NULL, &st), 0);
    file_rec got;
    T_EQ_INT(file_named(m, t.task_id, "old.txt", &got), 1);
    printf("#   stored_at %llu (test start %llu)\n", (unsigned long long)got.stored_at, (unsigned long long)t0);
    T_CHECK(got.stored_at + 60000 >= t0 && got.stored_at <= t0 + 3600000);
    task_rec_free(&t);
    meta_close(m);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_metarepair.XXXXXX");
    if (!mkdtemp(root)) return 1;
    T_RUN(test_orphans);
    T_RUN(test_reindex_time);
    fsutil_rm_rf(root);
    return T_DONE();
}
