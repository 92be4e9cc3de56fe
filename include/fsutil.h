/* fsutil.h — small filesystem helpers. 0 or -errno; none logs. */
#ifndef CLOUDAI_FSUTIL_H
#define CLOUDAI_FSUTIL_H
#include <stddef.h>
#include <stdint.h>
int fsutil_mkdir_p(const char *path, unsigned mode);
/* Removes a tree without following symlinks (also files the caller can only
 * remove because it owns the directory). Missing path is success. */
int fsutil_rm_rf(const char *path);
int fsutil_fsync_dir(const char *path);
/* Writes data to path via path.tmp + fsync + rename + fsync(dir). */
int fsutil_write_atomic(const char *path, const void *data, size_t n);
/* The same without the fsyncs: readers see the old or the new content,
 * never a mix, but a power loss may lose the change. For state that is no
 * more durable than the data it describes. */
int fsutil_write_replace(const char *path, const void *data, size_t n);
/* Reads a whole (small) file; *out malloc'd, NUL-terminated. max bounds it. */
int fsutil_read_file(const char *path, char **out, size_t *len, size_t max);
int fsutil_free_bytes(const char *path, uint64_t *free_bytes);
/* fsutil_open_beneath: the one way to open a path a task or a client
 * chose beneath a directory (DESIGN.md invariants 3 and 8). One openat
 * per component, each O_NOFOLLOW (and O_DIRECTORY but for the last), in
 * a loop holding at most two fds: a symlink at any component, a name
 * swapped for a link after a check, "..", "." or an empty component
 * never leads outside dfd; depth is bounded by FSUTIL_REL_MAX (a path of
 * that many bytes has at most half as many components) and costs no
 * stack. Flags: which kinds the last component may be (FSUTIL_DIR,
 * FSUTIL_FILE; both = either), FSUTIL_MKDIR to create missing
 * directories on the way (mode 0700; the last component too when
 * FSUTIL_DIR is the only kind asked). rel "" opens dfd itself (FSUTIL_DIR);
 * trailing slashes are ignored. step, when not NULL, is called for each
 * directory opened on the way, the last component too when only
 * FSUTIL_DIR was asked (rel's first len bytes name it, fd is open on it,
 * created says it was made now); a negative return stops the walk and is
 * returned (so it may be any module's code). Returns an fd (O_RDONLY,
 * O_CLOEXEC, blocking), or -errno: -EINVAL (absolute, ".", "..", empty
 * or over-long component), -ENAMETOOLONG (rel over FSUTIL_REL_MAX),
 * -ELOOP (a symlink at some component), -ENOENT, -ENOTDIR (a
 * component on the way is not a directory, or the last is not one and
 * only FSUTIL_DIR was asked), -EISDIR (a directory where only a file was
 * asked), -EPERM (a FIFO, socket or device), or what openat said. */
#define FSUTIL_DIR 1u
#define FSUTIL_FILE 2u
#define FSUTIL_MKDIR 4u
#define FSUTIL_REL_MAX 4096
typedef int (*fsutil_step_fn)(void *ctx, int fd, const char *rel, size_t len, int created);
int fsutil_open_beneath(int dfd, const char *rel, unsigned flags, fsutil_step_fn step, void *ctx);
/* The same beneath a directory named by path (opened as is: the caller's
 * own directory, not a task's). */
int fsutil_open_beneath_path(const char *dir, const char *rel, unsigned flags);
/* Joins a and b with one '/'; -ENAMETOOLONG if it does not fit. */
int fsutil_join(char *out, size_t cap, const char *a, const char *b);
#endif
