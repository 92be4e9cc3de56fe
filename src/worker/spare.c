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

void spare_free(spare_pool *p)
{
    char path[SPARE_DIR_MAX + 64];
    for (size_t i = 0; i < p->nfiles; i++) {
        spare_name(p, p->files[i], path, sizeof path);
        unlink(path);
    }
    for (size_t i = 0; i < p->ndirs; i++) {
        spare_name(p, p->dirs[i], path, sizeof path);
        rmdir(path);
    }
    p->nfiles = p->ndirs = 0;
    pthread_mutex_destroy(&p->mu);
}

/* Takes a spare of one kind: 1 with *n set, 0 when there is none. */
static int take(spare_pool *p, int dir, unsigned long long *n)
{
    int got = 0;
    pthread_mutex_lock(&p->mu);
    size_t *cnt = dir ? &p->ndirs : &p->nfiles;
    if (*cnt) {
        *n = (dir ? p->dirs : p->files)[--*cnt];
        got = 1;
    }
    pthread_mutex_unlock(&p->mu);
    return got;
}

/* A name for a new spare: 1 with *n set, 0 when the pool of that kind is
 * full. The name is reserved: give() or nothing. */
static int reserve(spare_pool *p, int dir, unsigned long long *n)
{
    int ok = 0;
    pthread_mutex_lock(&p->mu);
    if ((dir ? p->ndirs : p->nfiles) < SPARE_MAX) {
        *n = p->next++;
        ok = 1;
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static void give(spare_pool *p, int dir, unsigned long long n)
{
    char path[SPARE_DIR_MAX + 64];
    pthread_mutex_lock(&p->mu);
    size_t *cnt = dir ? &p->ndirs : &p->nfiles;
    int room = *cnt < SPARE_MAX;
    if (room) (dir ? p->dirs : p->files)[(*cnt)++] = n;
    pthread_mutex_unlock(&p->mu);
    if (!room) {               /* others filled it meanwhile */
        spare_name(p, n, path, sizeof path);
        if (dir) rmdir(path);
        else unlink(path);
    }
}

int spare_file(spare_pool *p, const char *path)
{
    char sp[SPARE_DIR_MAX + 64];
    unsigned long long n;
    if (p && take(p, 0, &n)) {
        spare_name(p, n, sp, sizeof sp);
        if (rename(sp, path) == 0) return 0;
        give(p, 0, n);         /* path is in the way (a directory): keep it */
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    close(fd);
    return 0;
}

int spare_write_replace(spare_pool *p, const char *path, const void *data, size_t n)
{
    char tmp[SPARE_DIR_MAX + 64];
    unsigned long long k;
    if (!p || !take(p, 0, &k))
        return fsutil_write_replace(path, data, n);
    spare_name(p, k, tmp, sizeof tmp);
    int ok = 0, fd = open(tmp, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd >= 0) {
        const char *b = data;
        size_t left = n;
        while (left > 0) {
            ssize_t w = write(fd, b, left);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) break;
            b += w;
            left -= (size_t)w;
        }
        ok = close(fd) == 0 && left == 0 && rename(tmp, path) == 0;
    }
    if (ok) return 0;
    unlink(tmp);               /* the spare is spent; the plain way says why */
    return fsutil_write_replace(path, data, n);
}

void spare_drop_file(spare_pool *p, const char *path)
{
    char sp[SPARE_DIR_MAX + 64];
    unsigned long long n;
    if (!p || !reserve(p, 0, &n)) {
        unlink(path);
        return;
    }
    spare_name(p, n, sp, sizeof sp);
    /* Empty before it is kept: its blocks go back at once. */
    if (truncate(path, 0) == 0 && rename(path, sp) == 0) {
        give(p, 0, n);
        return;
    }
    unlink(path);
}

int spare_dir(spare_pool *p, const char *path, mode_t mode)
{
    char sp[SPARE_DIR_MAX + 64];
    unsigned long long n;
    if (p && take(p, 1, &n)) {
        spare_name(p, n, sp, sizeof sp);
        if (rename(sp, path) == 0) return 0;
        give(p, 1, n);
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
        !reserve(p, 1, &n)) {
        fsutil_rm_rf(path);
        return;
    }
    spare_name(p, n, sp, sizeof sp);
    if (rename(path, sp) == 0) {
        give(p, 1, n);
        return;
    }
    fsutil_rm_rf(path);
}
