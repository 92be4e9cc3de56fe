/* runfix.h — test helpers for the file store and what walks it: a task
 * record with just what the store layout reads (task id, user, name,
 * submission time), and a small stored run. Header-only, static. */
#ifndef RUNFIX_H
#define RUNFIX_H
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include "fsutil.h"
#include "master/store.h"
#include "records.h"

/* t is initialised here; the caller frees it with task_rec_free. */
static inline void runfix_task(task_rec *t, const char *id, const char *user, const char *name,
                               uint64_t at)
{
    task_rec_init(t);
    snprintf(t->task_id, sizeof t->task_id, "%s", id);
    snprintf(t->user_id, sizeof t->user_id, "%s", user);
    snprintf(t->task_name, sizeof t->task_name, "%s", name);
    t->submitted_at = at;
}

/* t's run directory under cfg's files_dir (its path in dir) holding
 * a.txt ("a") and l, a symbolic link to it. 0, or -1. */
static inline int runfix_run(const config *cfg, const task_rec *t, char *dir, size_t cap)
{
    char p[CONFIG_PATH_MAX + 1024];
    if (store_run_dir(cfg, t, dir, cap) < 0 || fsutil_mkdir_p(dir, 0700) < 0) return -1;
    snprintf(p, sizeof p, "%s/a.txt", dir);
    if (fsutil_write_atomic(p, "a", 1) < 0) return -1;
    snprintf(p, sizeof p, "%s/l", dir);
    return symlink("a.txt", p) < 0 ? -1 : 0;
}
#endif
