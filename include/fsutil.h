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
/* Joins a and b with one '/'; -ENAMETOOLONG if it does not fit. */
int fsutil_join(char *out, size_t cap, const char *a, const char *b);
#endif
