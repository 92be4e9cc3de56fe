/* fsutil.c — small filesystem helpers: mkdir -p, rm -rf that never follows
 * symlinks, durable atomic writes, bounded whole-file reads.
 *
 * Every function is reentrant and keeps no state; two threads may call them
 * at once, though not on the same path (see fsutil_write_atomic). */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Open directories held at once by fsutil_rm_rf; deeper subtrees are moved
 * up to the top directory and removed from there, so depth costs no fds. */
#define RM_DEPTH_MAX 64
/* Readdir passes over one directory before giving up on a tree that keeps
 * growing under us. */
#define RM_PASSES_MAX 1000000

/* One mkdir: 0 if path is now a directory (made, or there already),
 * -ENOENT if its parent is missing, another -errno otherwise. */
static int mkdir_one(const char *path, mode_t mode)
{
    struct stat st;
    if (mkdir(path, mode) == 0)
        return 0;
    int e = errno;
    if (e != EEXIST)
        return -e;
    if (stat(path, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int fsutil_mkdir_p(const char *path, unsigned mode)
{
    char buf[PATH_MAX];
    size_t len;

    if (!path || !*path)
        return -EINVAL;
    len = strlen(path);
    if (len >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    while (len > 1 && buf[len - 1] == '/')       /* "a/b/" */
        buf[--len] = 0;
    /* Deepest first: the parents usually exist (a worker makes a directory
     * per task under its outputs directory), so this is one mkdir, not a
     * mkdir and a stat per component. Up while the parent is missing
     * (cutting the path with NULs), then down, making each level. */
    size_t end = len;
    int rc;
    while ((rc = mkdir_one(buf, (mode_t)mode)) == -ENOENT) {
        size_t i = end;
        while (i > 0 && buf[i - 1] != '/') i--;  /* the parent's end */
        while (i > 1 && buf[i - 1] == '/') i--;  /* "a//b" */
        if (i == 0 || (i == 1 && buf[0] == '/'))
            return -ENOENT;                      /* nothing left to make */
        buf[i] = 0;
        end = i;
    }
    while (rc == 0 && end < len) {               /* down again */
        buf[end] = '/';
        while (end < len && buf[end]) end++;
        rc = mkdir_one(buf, (mode_t)mode);
    }
    return rc;
}

static int is_dir_at(int dfd, const char *name, unsigned char dtype)
{
    struct stat st;
    if (dtype != DT_UNKNOWN)
        return dtype == DT_DIR;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    return S_ISDIR(st.st_mode);
}

/* O_NOFOLLOW makes a symlink swapped in for a directory fail with ELOOP or
 * ENOTDIR instead of being walked. A directory we own but cannot read is
 * made readable first: tasks leave such modes behind. */
static int open_dir_at(int dfd, const char *name)
{
    int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(dfd, name, flags);
    if (fd < 0 && errno == EACCES && fchmodat(dfd, name, 0700, 0) == 0)
        fd = openat(dfd, name, flags);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 0700) != 0700)
        (void)fchmod(fd, st.st_mode | 0700);
    return fd;
}

/* Empties directory fd (taking ownership of it). topfd is the directory
 * being removed as a whole; subtrees deeper than RM_DEPTH_MAX are renamed
 * into it under a fresh name and emptied on a later pass. */
static int rm_contents(int fd, int topfd, int depth, unsigned *seq)
{
    int rc = 0;
    DIR *d = fdopendir(fd);
    if (!d) {
        rc = -errno;
        close(fd);
        return rc;
    }
    for (long pass = 0; pass < RM_PASSES_MAX; pass++) {
        int seen = 0, progress = 0;
        struct dirent *e;
        rewinddir(d);
        errno = 0;
        while ((e = readdir(d)) != NULL) {
            const char *n = e->d_name;
            if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')))
                continue;
            seen = 1;
            int r = 0;
            if (is_dir_at(dirfd(d), n, e->d_type)) {
                if (depth + 1 >= RM_DEPTH_MAX) {
                    char tmp[64];
                    snprintf(tmp, sizeof tmp, ".fsutil-rm-%u-%ld", (*seq)++, (long)getpid());
                    r = renameat(dirfd(d), n, topfd, tmp) < 0 ? -errno : 0;
                    if (r == 0) {
                        progress = 1;
                        continue;
                    }
                } else {
                    int cfd = open_dir_at(dirfd(d), n);
                    r = cfd < 0 ? cfd : rm_contents(cfd, topfd, depth + 1, seq);
                    if (r == 0 && unlinkat(dirfd(d), n, AT_REMOVEDIR) < 0)
                        r = -errno;
                }
            } else if (unlinkat(dirfd(d), n, 0) < 0) {
                r = -errno;
            }
            if (r == -ENOENT)
                r = 0;                       /* raced with another remover */
            if (r == 0)
                progress = 1;
            else if (rc == 0)
                rc = r;
            errno = 0;
        }
        if (errno != 0 && rc == 0)
            rc = -errno;
        /* Entries renamed in from below may appear after readdir passed
         * their slot, so only an empty pass proves the directory empty. */
        if (!seen || rc != 0 || !progress)
            break;
    }
    closedir(d);
    return rc;
}

int fsutil_rm_rf(const char *path)
{
    struct stat st;
    unsigned seq = 0;
    int rc = 0;

    if (!path || !*path)
        return -EINVAL;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
    int fd = open_dir_at(AT_FDCWD, path);
    if (fd < 0)
        return fd == -ENOENT ? 0 : fd;
    int topfd = dup(fd);
    if (topfd < 0) {
        rc = -errno;
        close(fd);
        goto out;
    }
    rc = rm_contents(fd, topfd, 0, &seq);
    close(topfd);
    if (rc == 0 && rmdir(path) < 0 && errno != ENOENT)
        rc = -errno;
out:
    return rc;
}

/* Some filesystems cannot fsync a directory and say EINVAL; there is
 * nothing more durable to do there, so that counts as success. */
int fsutil_fsync_dir(const char *path)
{
    int rc = 0;
    int fd = open(path && *path ? path : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0 && errno != EINVAL)
        rc = -errno;
    close(fd);
    return rc;
}

static int dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return snprintf(out, cap, ".") < (int)cap ? 0 : -ENAMETOOLONG;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= cap)
        return -ENAMETOOLONG;
    memcpy(out, path, n);
    out[n] = '\0';
    return 0;
}

/* Readers see the old file or the new one, never a mix; after 0 returns the
 * new content survives a crash. Writers of one path must be serialised by
 * the caller: they share path.tmp. */
static int write_replace(const char *path, const void *data, size_t n, int durable)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    const char *p = data;
    int rc = 0, fd = -1, renamed = 0;

    if (!path || !*path || (n > 0 && !data))
        return -EINVAL;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    if ((rc = dir_of(path, dir, sizeof dir)) < 0)
        return rc;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto out;
        }
        p += w;
        n -= (size_t)w;
    }
    if (durable && fsync(fd) < 0) {
        rc = -errno;
        goto out;
    }
    int cfd = fd;
    fd = -1;
    if (close(cfd) < 0) {               /* NFS reports write errors here */
        rc = -errno;
        goto out;
    }
    if (rename(tmp, path) < 0) {
        rc = -errno;
        goto out;
    }
    renamed = 1;
    if (durable)
        rc = fsutil_fsync_dir(dir);
out:
    if (fd >= 0)
        close(fd);
    if (!renamed)
        unlink(tmp);
    return rc;
}

int fsutil_write_atomic(const char *path, const void *data, size_t n)
{
    return write_replace(path, data, n, 1);
}

int fsutil_write_replace(const char *path, const void *data, size_t n)
{
    return write_replace(path, data, n, 0);
}

/* On success *out is malloc'd (caller frees) and NUL-terminated; -EFBIG if
 * the file holds more than max bytes. */
int fsutil_read_file(const char *path, char **out, size_t *len, size_t max)
{
    char *buf = NULL;
    size_t used = 0, cap = 0;
    int rc = 0;

    if (!path || !out)
        return -EINVAL;
    *out = NULL;
    if (len)
        *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    for (;;) {
        if (used == cap) {
            if (cap > max) {
                rc = -EFBIG;
                goto out;
            }
            /* One byte over max is how "too big" is detected. */
            size_t hard = max < SIZE_MAX - 1 ? max + 1 : SIZE_MAX - 1;
            size_t ncap = cap ? cap * 2 : 4096;
            if (ncap > hard || ncap < cap)
                ncap = hard;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                rc = -ENOMEM;
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + used, cap - used);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto out;
        }
        if (r == 0)
            break;
        used += (size_t)r;
        if (used > max) {
            rc = -EFBIG;
            goto out;
        }
    }
    if (!buf && !(buf = malloc(1))) {
        rc = -ENOMEM;
        goto out;
    }
    buf[used] = '\0';
    *out = buf;
    buf = NULL;
    if (len)
        *len = used;
out:
    free(buf);
    close(fd);
    return rc;
}

/* Bytes an unprivileged writer may still use (f_bavail, not f_bfree). */
int fsutil_free_bytes(const char *path, uint64_t *free_bytes)
{
    struct statvfs sv;
    if (!path || !free_bytes)
        return -EINVAL;
    if (statvfs(path, &sv) < 0)
        return -errno;
    *free_bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    return 0;
}

/* Why a component could not be opened O_NOFOLLOW: open says ELOOP for a
 * symlink but ENOTDIR when O_DIRECTORY meets one, so ask lstat. */
static int classify(int dfd, const char *name, int e)
{
    struct stat st;
    if (e != ELOOP && e != ENOTDIR) return -e;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
    if (S_ISLNK(st.st_mode)) return -ELOOP;
    return -ENOTDIR;
}

/* The last component is open: is it a kind the caller asked for? */
static int kind_ok(int fd, unsigned flags)
{
    struct stat st;
    if (fstat(fd, &st) < 0) return -errno;
    if (S_ISDIR(st.st_mode)) return flags & FSUTIL_DIR ? 0 : -EISDIR;
    if (S_ISREG(st.st_mode)) return flags & FSUTIL_FILE ? 0 : -ENOTDIR;
    return -EPERM;
}

int fsutil_open_beneath(int dfd, const char *rel, unsigned flags, fsutil_step_fn step, void *ctx)
{
    const int dflags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    size_t len;
    int cur = -1, rc;

    if (!rel || rel[0] == '/') return -EINVAL;
    if (!(flags & (FSUTIL_DIR | FSUTIL_FILE))) flags |= FSUTIL_FILE;
    len = strlen(rel);
    if (len > FSUTIL_REL_MAX) return -ENAMETOOLONG;
    while (len > 0 && rel[len - 1] == '/') len--;
    /* The whole path is checked before anything is opened. */
    for (size_t at = 0; at < len;) {
        const char *p = rel + at, *slash = memchr(p, '/', len - at);
        size_t n = slash ? (size_t)(slash - p) : len - at;
        if (n == 0 || n > NAME_MAX || (n == 1 && p[0] == '.') ||
            (n == 2 && p[0] == '.' && p[1] == '.'))
            return -EINVAL;
        at += n + 1;
    }
    if ((cur = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) return -errno;
    if (len == 0) {
        if (flags & FSUTIL_DIR) return cur;
        close(cur);
        return -EISDIR;
    }
    for (size_t at = 0;;) {
        char comp[NAME_MAX + 1];
        const char *p = rel + at, *slash = memchr(p, '/', len - at);
        size_t n = slash ? (size_t)(slash - p) : len - at;
        int last = !slash, created = 0, fd;
        memcpy(comp, p, n);
        comp[n] = 0;
        int mk = (flags & FSUTIL_MKDIR) && (!last || (flags & (FSUTIL_DIR | FSUTIL_FILE)) == FSUTIL_DIR);
        int want_dir = !last || (flags & (FSUTIL_DIR | FSUTIL_FILE)) == FSUTIL_DIR;
        /* O_NONBLOCK: a FIFO must not hang the open; cleared below. */
        fd = openat(cur, comp, want_dir ? dflags : O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0 && errno == ENOENT && mk) {
            if (mkdirat(cur, comp, 0700) == 0) created = 1;
            else if (errno != EEXIST) { rc = -errno; goto out; }
            fd = openat(cur, comp, dflags);
        }
        if (fd < 0) {
            rc = classify(cur, comp, errno);
            goto out;
        }
        close(cur);
        cur = fd;
        if (want_dir && step && (rc = step(ctx, cur, rel, at + n, created)) < 0) goto out;
        if (last) break;
        at += n + 1;
    }
    if ((rc = kind_ok(cur, flags)) < 0) goto out;
    int fl = fcntl(cur, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK)) (void)fcntl(cur, F_SETFL, fl & ~O_NONBLOCK);
    return cur;
out:
    if (cur >= 0) close(cur);
    return rc;
}

int fsutil_open_beneath_path(const char *dir, const char *rel, unsigned flags)
{
    int dfd = open(dir && *dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -errno;
    int fd = fsutil_open_beneath(dfd, rel, flags, NULL, NULL);
    close(dfd);
    return fd;
}

/* "" on either side yields the other; trailing slashes of a and leading
 * slashes of b collapse to one. out is "" on failure. */
int fsutil_join(char *out, size_t cap, const char *a, const char *b)
{
    if (!out || cap == 0)
        return -EINVAL;
    out[0] = '\0';
    if (!a)
        a = "";
    if (!b)
        b = "";
    size_t al = strlen(a);
    while (al > 1 && a[al - 1] == '/')
        al--;
    if (*a && *b)
        while (*b == '/')
            b++;
    size_t bl = strlen(b);
    int sep = al > 0 && bl > 0 && a[al - 1] != '/';
    if (al + (size_t)sep + bl >= cap)
        return -ENAMETOOLONG;
    memcpy(out, a, al);
    if (sep)
        out[al] = '/';
    memcpy(out + al + (size_t)sep, b, bl);
    out[al + (size_t)sep + bl] = '\0';
    return 0;
}
