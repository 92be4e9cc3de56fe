/* spare.h — recycled inodes for the per-attempt files of the outputs
 * directory (<stem>/, <stem>.log, <stem>.pgid, <stem>.result).
 *
 * Why: when ext4 allocates an inode it skips every free one that was
 * deleted within the last minute or more (recently_deleted(), a read of
 * the inode table per candidate), so a worker creating and deleting four
 * inodes a task in one directory made each creation scan past all those
 * it freed before: at a few hundred tasks a second, file creation was
 * ~40% of the worker's CPU time (perf, tests/bench). A rename within one
 * directory allocates and frees nothing. A spare is an empty file, a
 * note keeping its old bytes, or an empty directory, named .spare-<n>
 * next to the attempts; the pool is per worker run, bounded, and swept
 * at start. Notes are overwritten, never truncated to 0: on ext4 a file
 * truncated to 0 (or renamed over another) is written back at its next
 * close, a disk write per note, and a rename over a note frees an inode
 * (spare_rewrite writes in place instead): 2.8 -> 1.6 ms of worker CPU a
 * trivial task.
 *
 * Only an inode nothing else can still write to may be recycled: the
 * worker's own notes (.pgid, .result) always; an output directory and a
 * log only when every process of the task is known to be gone (else a
 * stray process could write into another task's files). The caller says
 * which by choosing spare_drop_* or plain removal.
 *
 * Thread-safe; a NULL pool creates and removes as usual. */
#ifndef CLOUDAI_WORKER_SPARE_H
#define CLOUDAI_WORKER_SPARE_H
#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

#define SPARE_MAX 128      /* spares kept per kind */
#define SPARE_DIR_MAX 4096

typedef struct spare_pool {
    pthread_mutex_t mu;
    char dir[SPARE_DIR_MAX];
    unsigned long long next;                  /* the next .spare-<n> name */
    /* by kind: empty files, directories, notes (spare.c) */
    unsigned long long held[3][SPARE_MAX];
    size_t nheld[3];
} spare_pool;

/* Pool in dir (the outputs directory); removes the spares a previous run
 * left there. 0, or -errno (the pool is then unusable: pass NULL). */
int spare_init(spare_pool *p, const char *dir);
/* Removes the spares held; the pool may not be used afterwards. */
void spare_free(spare_pool *p);
/* path becomes an empty regular file (mode 0644), recycled or created,
 * replacing any file there. 0 or -errno. */
int spare_file(spare_pool *p, const char *path);
/* Writes data to path atomically (a spare written, then renamed over
 * path); not synced, as fsutil_write_replace. 0 or -errno. */
int spare_write_replace(spare_pool *p, const char *path, const void *data, size_t n);
/* data over the file at path in place: its inode is kept (a rename over
 * it would free the old one). For a note only its writer and a restart
 * read: not atomic for a reader meanwhile. Falls back to
 * spare_write_replace when path cannot be opened. 0 or -errno. */
int spare_rewrite(spare_pool *p, const char *path, const void *data, size_t n);
/* Removes the file at path, keeping its inode when there is room: a note
 * (up to 4 KiB) with its bytes, anything bigger emptied. Only for a file
 * nothing else holds open for writing. */
void spare_drop_file(spare_pool *p, const char *path);
/* path becomes an empty directory, recycled or created (with its
 * parents; mode as for mkdir, so the umask applies). A recycled one keeps
 * the mode it had: chmod it when that matters. path must not exist.
 * 0 or -errno. */
int spare_dir(spare_pool *p, const char *path, mode_t mode);
/* Removes the directory tree at path; an empty one is kept as a spare
 * when there is room. Same rule as spare_drop_file. */
void spare_drop_dir(spare_pool *p, const char *path);
#endif
