/* spare.c — recycled inodes for the per-attempt files (spare.h). */
#include "worker/spare.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

#define SPARE_PREFIX ".spare-"

static void spare_name(const spare_pool *p, unsigned long long n, char *out, size_t cap)
{
    snprintf(out, cap, "%s/" SPARE_PREFIX "%llu", p->dir, n);
}

int spare_init(spare_pool *p, const char *dir)
{
    char path[SPARE_DIR_MAX + 300];
    memset(p, 0, sizeof *p);
    if (strlen(dir) >= sizeof p->dir) return -ENAMETOOLONG;
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    if (pthread_mutex_init(&p->mu, NULL) != 0) return -ENOMEM;
    DIR *d = opendir(dir);
    if (!d) return 0;          /* made later; nothing left over in it */
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, SPARE_PREFIX, sizeof SPARE_PREFIX - 1)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        fsutil_rm_rf(path);
    }
    closedir(d);
    return 0;
}

/* The kinds (spare_pool.held): empty files, directories, notes (files of
 * up to NOTE_MAX bytes, kept with their old bytes: spare_write_replace
 * overwrites them). */
enum { EMPTY, DIR_, NOTE };
#define NOTE_MAX 4096

void spare_free(spare_pool *p)
{
    char path[SPARE_DIR_MAX + 64];
    for (int kind = EMPTY; kind <= NOTE; kind++) {
        for (size_t i = 0; i < p->nheld[kind]; i++) {
            spare_name(p, p->held[kind][i], path, sizeof path);
            if (kind == DIR_) rmdir(path);
            else unlink(path);
        }
        p->nheld[kind] = 0;
    }
    pthread_mutex_destroy(&p->mu);
}

/* Takes a spare of one kind: 1 with *n set, 0 when there is none. */
static int take(spare_pool *p, int kind, unsigned long long *n)
{
    int got = 0;
    pthread_mutex_lock(&p->mu);
    if (p->nheld[kind]) {
        *n = p->held[kind][--p->nheld[kind]];
        got = 1;
    }
    pthread_mutex_unlock(&p->mu);
    return got;
}

/* A name for a new spare: 1 with *n set, 0 when the pool of that kind is
 * full. The name is reserved: give() or nothing. */
static int reserve(spare_pool *p, int kind, unsigned long long *n)
{
    int ok = 0;
    pthread_mutex_lock(&p->mu);
    if (p->nheld[kind] < SPARE_MAX) {
        *n = p->next++;
        ok = 1;
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static void give(spare_pool *p, int kind, unsigned long long n)
{
    char path[SPARE_DIR_MAX + 64];
    pthread_mutex_lock(&p->mu);
    int room = p->nheld[kind] < SPARE_MAX;
    if (room) p->held[kind][p->nheld[kind]++] = n;
    pthread_mutex_unlock(&p->mu);
    if (!room) {               /* others filled it meanwhile */
        spare_name(p, n, path, sizeof path);
        if (kind == DIR_) rmdir(path);
        else unlink(path);
    }
}

int spare_file(spare_pool *p, const char *path)
{
    char sp[SPARE_DIR_MAX + 64];
    unsigned long long n;
    int kind = EMPTY;
    if (p && (take(p, EMPTY, &n) || (kind = NOTE, take(p, NOTE, &n)))) {
        spare_name(p, n, sp, sizeof sp);
        if (rename(sp, path) == 0 && (kind == EMPTY || truncate(path, 0) == 0)) return 0;
        give(p, kind, n);      /* path is in the way (a directory): keep it */
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    close(fd);
    return 0;
}

/* data over the file at fd from offset 0, cut to its length. No O_TRUNC
 * nor truncation to 0: on ext4 (auto_da_alloc, the default) either makes
 * the close write the data back at once, a disk write per note, and on a
 * filesystem mounted with discard freeing the block is a discard as well. */
static int overwrite(int fd, const void *data, size_t n)
{
    const char *b = data;
    size_t done = 0;
    struct stat st;
    while (done < n) {
        ssize_t w = pwrite(fd, b + done, n - done, (off_t)done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        done += (size_t)w;
    }
    if (fstat(fd, &st) < 0) return -1;
    return st.st_size > (off_t)n && ftruncate(fd, (off_t)n) < 0 ? -1 : 0;
}

int spare_write_replace(spare_pool *p, const char *path, const void *data, size_t n)
{
    char tmp[SPARE_DIR_MAX + 64];
    unsigned long long k;
    if (!p || !(take(p, NOTE, &k) || take(p, EMPTY, &k)))
        return fsutil_write_replace(path, data, n);
    spare_name(p, k, tmp, sizeof tmp);
    int ok = 0, fd = open(tmp, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ok = overwrite(fd, data, n) == 0;
        ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
    }
    if (ok) return 0;
    unlink(tmp);               /* the spare is spent; the plain way says why */
    return fsutil_write_replace(path, data, n);
}

int spare_rewrite(spare_pool *p, const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        int ok = overwrite(fd, data, n) == 0;
        if (close(fd) == 0 && ok) return 0;
    }
    return spare_write_replace(p, path, data, n);
}

void spare_drop_file(spare_pool *p, const char *path)
{
    char sp[SPARE_DIR_MAX + 64];
    unsigned long long n;
    struct stat st;
    int kind;
    if (!p || lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        unlink(path);
        return;
    }
    kind = st.st_size == 0 ? EMPTY : st.st_size <= NOTE_MAX ? NOTE : EMPTY;
    if (!reserve(p, kind, &n)) {
        unlink(path);
        return;
    }
    spare_name(p, n, sp, sizeof sp);
    /* A big one (a log) is emptied before it is kept: its blocks go back
     * at once. A note keeps its bytes, overwritten by the next one. */
    if ((st.st_size <= NOTE_MAX || truncate(path, 0) == 0) && rename(path, sp) == 0) {
        give(p, kind, n);
        return;
    }
    unlink(path);
}

int spare_dir(spare_pool *p, const char *path, mode_t mode)
{
    char sp[SPARE_DIR_MAX + 64];
    unsigned long long n;
    if (p && take(p, DIR_, &n)) {
        spare_name(p, n, sp, sizeof sp);
        if (rename(sp, path) == 0) return 0;
        give(p, DIR_, n);
    }
    return fsutil_mkdir_p(path, mode);
}

/* 1 if dir holds nothing but . and .. */
static int dir_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            empty = 0;
    closedir(d);
    return empty;
}

void spare_drop_dir(spare_pool *p, const char *path)
{
    char sp[SPARE_DIR_MAX + 64];
    unsigned long long n;
    struct stat st;
    if (!p || lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || !dir_empty(path) ||
        !reserve(p, DIR_, &n)) {
        fsutil_rm_rf(path);
        return;
    }
    spare_name(p, n, sp, sizeof sp);
    if (rename(path, sp) == 0) {
        give(p, DIR_, n);
        return;
    }
    fsutil_rm_rf(path);
}
