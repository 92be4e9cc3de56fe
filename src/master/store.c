/* store.c — the file store's layout, safe opens, publish and trash
 * (store.h). */
#include "master/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ids.h"

#define TRASH_PRIVATE ".rm-"      /* prefix of store_trash's own names */

static int fmt(char *out, size_t cap, int n)
{
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int store_run_rel(const task_rec *t, char *out, size_t cap)
{
    char user[IDS_NAME_MAX + 1], name[IDS_NAME_MAX + 1], ts[32];
    ids_sanitize(t->user_id, user, sizeof user);
    ids_sanitize(t->task_name, name, sizeof name);
    ids_time_component(t->submitted_at, ts, sizeof ts);
    return fmt(out, cap, snprintf(out, cap, "%s/%s/%s/%s", user, name, ts, t->task_id));
}

int store_run_dir(const config *cfg, const task_rec *t, char *out, size_t cap)
{
    char rel[4 * IDS_NAME_MAX + 128];
    int rc = store_run_rel(t, rel, sizeof rel);
    if (rc < 0) return rc;
    return fmt(out, cap, snprintf(out, cap, "%s/%s", cfg->files_dir, rel));
}

int store_file_rec(const task_rec *t, const char *run_dir, const char *name, file_rec *f)
{
    int rc;
    snprintf(f->task_id, sizeof f->task_id, "%s", t->task_id);
    snprintf(f->task_name, sizeof f->task_name, "%s", t->task_name);
    snprintf(f->user_id, sizeof f->user_id, "%s", t->user_id);
    f->submitted_at = t->submitted_at;
    if ((rc = fmt(f->file_name, sizeof f->file_name,
                  snprintf(f->file_name, sizeof f->file_name, "%s", name))) < 0)
        return rc;
    return fmt(f->file_path, sizeof f->file_path,
               snprintf(f->file_path, sizeof f->file_path, "%s/%s", run_dir, name));
}

int store_staging_root(const config *cfg, char *out, size_t cap)
{
    return fmt(out, cap, snprintf(out, cap, "%s/.staging", cfg->files_dir));
}

int store_trash_root(const config *cfg, char *out, size_t cap)
{
    return fmt(out, cap, snprintf(out, cap, "%s/.trash", cfg->files_dir));
}

/* rel beneath the run directory run (a store_run_rel) beneath root. */
static int open_run(const char *root, const char *run, const char *rel, unsigned flags)
{
    int dfd = fsutil_open_beneath_path(root, run, FSUTIL_DIR);
    if (dfd < 0) return dfd == -ENOTDIR ? -ENOENT : dfd;
    int rc = fsutil_open_beneath(dfd, rel ? rel : "", flags & (FSUTIL_DIR | FSUTIL_FILE), NULL, NULL);
    close(dfd);
    return rc;
}

int store_open(const config *cfg, const task_rec *t, const char *rel, unsigned flags)
{
    char run[4 * IDS_NAME_MAX + 128];
    int rc = store_run_rel(t, run, sizeof run);
    if (rc < 0) return rc;
    return open_run(cfg->files_dir, run, rel, flags);
}

int store_open_rec(const char *file_path, const task_rec *t, const char *name, unsigned flags)
{
    char run[4 * IDS_NAME_MAX + 128], root[CONFIG_PATH_MAX + 1];
    int rc = store_run_rel(t, run, sizeof run);
    if (rc < 0) return rc;
    size_t lp = strlen(file_path), lr = strlen(run), ln = strlen(name);
    /* file_path = <root>/<run>/<name>: the root is where the store was
     * when the record was written; only what lies below it is walked. */
    if (!ln || lp < lr + ln + 2) return -EINVAL;
    size_t lroot = lp - ln - lr - 2;
    if (strcmp(file_path + lp - ln, name) || file_path[lp - ln - 1] != '/' ||
        strncmp(file_path + lroot + 1, run, lr) || file_path[lroot] != '/')
        return -EINVAL;
    if (lroot >= sizeof root) return -ENAMETOOLONG;
    memcpy(root, file_path, lroot);
    root[lroot] = 0;
    return open_run(lroot ? root : "/", run, name, flags);
}

int store_open_in(const char *dir, const char *rel, unsigned flags)
{
    return fsutil_open_beneath_path(dir, rel, flags & (FSUTIL_DIR | FSUTIL_FILE));
}

int store_run_exists(const config *cfg, const task_rec *t)
{
    int fd = store_open(cfg, t, "", FSUTIL_DIR);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

void store_open_why(int code, const char *rel, char *out, size_t cap)
{
    switch (code) {
    case -EINVAL:
        snprintf(out, cap, "path '%s' may not contain '.', '..' or empty components, and must be "
                 "relative", rel);
        break;
    case -ENAMETOOLONG: snprintf(out, cap, "path '%.200s...' is too long", rel); break;
    case -ELOOP:
        snprintf(out, cap, "'%s' is (or passes through) a symbolic link in the task's output; "
                 "not followed", rel);
        break;
    case -ENOENT: case -ENOTDIR:
        snprintf(out, cap, "no file or directory '%s' in the task's output", rel);
        break;
    case -EISDIR: snprintf(out, cap, "'%s' is a directory, not a file", rel); break;
    case -EPERM: snprintf(out, cap, "'%s' is not a file or a directory", rel); break;
    default: snprintf(out, cap, "cannot open '%s': %s", rel, cai_strerror(code)); break;
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The subdirectories of dir, sorted; *n of them (NULL and 0 on failure,
 * reported through odd). */
static char **subdirs(const char *dir, int skip_dot, size_t *n, store_odd_fn odd, void *ctx)
{
    DIR *d = opendir(dir);
    char **v = NULL, path[CONFIG_PATH_MAX + 4 * 256 + 8];
    size_t cap = 0;
    *n = 0;
    if (!d) {
        if (odd) odd(ctx, dir, -errno);
        return NULL;
    }
    for (struct dirent *e; (e = readdir(d));) {
        struct stat sb;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (skip_dot && e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode)) {
            if (odd) odd(ctx, path, 0);
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv) break;
            v = nv;
        }
        if (!(v[*n] = strdup(e->d_name))) break;
        (*n)++;
    }
    closedir(d);
    if (v) qsort(v, *n, sizeof *v, by_name);
    return v;
}

/* One level of the layout (0 user, 1 task name, 2 time, 3 task id). The
 * recursion is four deep at most: the layout's, not a task's, depth. */
static int each_level(const char *dir, int level, const char *parts[4], store_run_fn run,
                      store_odd_fn odd, void *ctx)
{
    size_t n = 0;
    int rc = 0;
    char **v = subdirs(dir, level == 0, &n, odd, ctx);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[CONFIG_PATH_MAX + 4 * 256 + 8];
        if (snprintf(path, sizeof path, "%s/%s", dir, v[i]) >= (int)sizeof path) continue;
        parts[level] = v[i];
        rc = level == 3 ? run(ctx, path, parts) : each_level(path, level + 1, parts, run, odd, ctx);
    }
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
    return rc;
}

int store_each_run(const char *files_dir, store_run_fn run, store_odd_fn odd, void *ctx)
{
    const char *parts[4] = { "", "", "", "" };
    return each_level(files_dir, 0, parts, run, odd, ctx);
}

int store_init(const config *cfg, char *err, size_t errcap)
{
    char staging[CONFIG_PATH_MAX + 32], trash[CONFIG_PATH_MAX + 32], p[CONFIG_PATH_MAX + 300];
    int rc;
    store_staging_root(cfg, staging, sizeof staging);
    store_trash_root(cfg, trash, sizeof trash);
    fsutil_rm_rf(staging);
    if ((rc = fsutil_mkdir_p(staging, 0700)) < 0 || (rc = fsutil_mkdir_p(trash, 0700)) < 0) {
        snprintf(err, errcap, "cannot create %s: %s", rc == 0 ? trash : staging, cai_strerror(rc));
        return rc;
    }
    DIR *d = opendir(trash);
    for (struct dirent *e; d && (e = readdir(d));)
        if (!strncmp(e->d_name, TRASH_PRIVATE, strlen(TRASH_PRIVATE)) &&
            snprintf(p, sizeof p, "%s/%s", trash, e->d_name) < (int)sizeof p)
            fsutil_rm_rf(p);
    if (d) closedir(d);
    return 0;
}

/* mkdir -p that starts at the deepest level: the user's and the task
 * name's directories usually exist, so this is one mkdir, not one (plus a
 * stat) per component of the store path. */
static int mkdir_up(char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0 || errno == EEXIST) return 0;
    if (errno != ENOENT) return -errno;
    char *slash = strrchr(path, '/');
    if (!slash || slash == path) return -ENOENT;
    *slash = 0;
    int rc = mkdir_up(path, mode);
    *slash = '/';
    if (rc < 0) return rc;
    return mkdir(path, mode) == 0 || errno == EEXIST ? 0 : -errno;
}

static void parent_of(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s", path);
    char *slash = strrchr(out, '/');
    if (slash && slash != out) *slash = 0;
}

int store_publish(const config *cfg, const task_rec *t, const char *staging, int durable,
                  char *why, size_t cap)
{
    char final[CONFIG_PATH_MAX + 4 * IDS_NAME_MAX + 128], parent[sizeof final];
    int rc;
    if ((rc = store_run_dir(cfg, t, final, sizeof final)) < 0) {
        snprintf(why, cap, "store path too long");
        return rc;
    }
    parent_of(final, parent, sizeof parent);
    if ((rc = mkdir_up(parent, 0755)) < 0) {
        snprintf(why, cap, "cannot create %s: %s", parent, cai_strerror(rc));
        return rc;
    }
    if (chmod(staging, 0755) < 0 || rename(staging, final) < 0) {
        rc = -errno;
        snprintf(why, cap, "cannot move the output into %s: %s", final, cai_strerror(rc));
        return rc;
    }
    if (durable) fsutil_fsync_dir(parent);
    return 0;
}

int store_trash(const config *cfg, const char *path, const char *name, int durable,
                char *out, size_t cap)
{
    static atomic_ulong seq;
    char root[CONFIG_PATH_MAX + 32], priv[64], parent[CONFIG_PATH_MAX + 512];
    int rc;
    if (out && cap) out[0] = 0;
    if ((rc = store_trash_root(cfg, root, sizeof root)) < 0) return rc;
    if (!name) {
        snprintf(priv, sizeof priv, TRASH_PRIVATE "%ld-%lu", (long)getpid(),
                 (unsigned long)atomic_fetch_add(&seq, 1));
        name = priv;
    }
    if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) return -EINVAL;
    if ((rc = fmt(out, cap, snprintf(out, cap, "%s/%s", root, name))) < 0) return rc;
    if (name != priv) fsutil_rm_rf(out);          /* an earlier attempt's */
    if (rename(path, out) < 0) {
        /* The trash is made at start (store_init); made again if it went. */
        struct stat st;
        if (errno != ENOENT || lstat(path, &st) < 0) return -errno;
        if ((rc = fsutil_mkdir_p(root, 0700)) < 0) return rc;
        if (rename(path, out) < 0) return -errno;
    }
    if (durable) {
        /* The rename must be on disk before the caller forgets the
         * records, or a crash could bring the files back without them. */
        fsutil_fsync_dir(root);
        parent_of(path, parent, sizeof parent);
        fsutil_fsync_dir(parent);
    }
    return 0;
}

int store_remove(const char *path)
{
    return path && *path ? fsutil_rm_rf(path) : 0;
}
