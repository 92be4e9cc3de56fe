/* store.h — the master's file store, the one owner of the tree beneath
 * files_dir (DESIGN.md "Data flow", invariants 2, 3, 8):
 *
 *   <files>/<user>/<task_name>/<submitted_at>/<task_id>/<relative path>
 *   <files>/.staging/<task_id>   an upload being extracted (upload.c)
 *   <files>/.trash/<name>        moved out of the tree, removed off any lock
 *
 * Every master path that reads or changes the tree goes through here:
 * the layout (store_run_dir), the safe open beneath a run (store_open,
 * over fsutil_open_beneath: no link followed, no "..", iterative),
 * publishing a verified staging tree (one rename, parent synced), and
 * removal (one rename into the trash, the rm -rf later, without a lock).
 * Stateless and thread-safe; nothing here logs. 0 or -errno. */
#ifndef CLOUDAI_STORE_H
#define CLOUDAI_STORE_H
#include <stddef.h>
#include "config.h"
#include "fsutil.h"
#include "records.h"

/* "<user>/<task_name>/<submitted_at>/<task_id>": names sanitised
 * (ids_sanitize), the time as ids_time_component. */
int store_run_rel(const task_rec *t, char *out, size_t cap);
/* files_dir + "/" + store_run_rel: for records (file_path) and messages. */
int store_run_dir(const config *cfg, const task_rec *t, char *out, size_t cap);
/* Fills a FILE record's task fields (task_id, task_name, user_id,
 * submitted_at), file_name and file_path (run_dir, as store_run_dir
 * gave it, + "/" + name); the caller sets size, sha256, mode and
 * stored_at. -ENAMETOOLONG when name or the path does not fit. */
int store_file_rec(const task_rec *t, const char *run_dir, const char *name, file_rec *f);
/* <files>/.staging and <files>/.trash. */
int store_staging_root(const config *cfg, char *out, size_t cap);
int store_trash_root(const config *cfg, char *out, size_t cap);

/* Opens rel beneath t's run directory (rel "" = the directory itself),
 * walking from files_dir through the run's own components as well, all
 * O_NOFOLLOW. flags and the codes as fsutil_open_beneath (FSUTIL_DIR,
 * FSUTIL_FILE); -ENOENT also when the run has no directory. */
int store_open(const config *cfg, const task_rec *t, const char *rel, unsigned flags);
/* A local FILE record's file (file_path, its task t, its file_name name)
 * by the record's own path: file_path must be <root>/<store_run_rel(t)>/
 * <name>, else -EINVAL; from <root> down every component is opened as
 * store_open does (the root is where the store was when the record was
 * written). For checks and reads that start from a record. */
int store_open_rec(const char *file_path, const task_rec *t, const char *name, unsigned flags);
/* rel beneath a store directory the master named itself (a staging
 * directory, a run directory store_each_run gave): as store_open. */
int store_open_in(const char *dir, const char *rel, unsigned flags);
/* The run's directory exists (an empty output is stored without one). */
int store_run_exists(const config *cfg, const task_rec *t);
/* A user-facing sentence for an fsutil_open_beneath code about rel. */
void store_open_why(int code, const char *rel, char *out, size_t cap);

/* Every run directory of the layout under files_dir, in name order at
 * each level (dot-names at the top, .staging and .trash, are not runs).
 * run gets the directory's path and its four components; a non-zero
 * return stops the walk and is returned. odd (may be NULL) hears of an
 * entry that does not fit the layout (code 0: not a directory) or a
 * directory that cannot be read (code -errno). Four levels: fds and
 * stack are bounded whatever the store holds. 0, the callback's code or
 * -ENOMEM. */
typedef int (*store_run_fn)(void *ctx, const char *dir, const char *const parts[4]);
typedef void (*store_odd_fn)(void *ctx, const char *path, int code);
int store_each_run(const char *files_dir, store_run_fn run, store_odd_fn odd, void *ctx);

/* Creates .staging (emptied: what a previous run left is incomplete by
 * definition, the workers resend it) and .trash, and removes the trash's
 * private entries (store_trash with name NULL). Call once at start. */
int store_init(const config *cfg, char *err, size_t errcap);

/* Moves a verified staging directory into t's place (mode 0755), making
 * the parents; the parent is fsync'd when durable. Nothing half-written
 * is ever visible: one rename (DESIGN.md invariant 2). why says what
 * failed. */
int store_publish(const config *cfg, const task_rec *t, const char *staging, int durable,
                  char *why, size_t cap);

/* Takes path out of the tree with one rename into <files>/.trash/<name>
 * (an entry of that name left by an earlier attempt is removed first).
 * name NULL: a fresh private name, which store_init removes without
 * looking further (a named entry is left for its owner's recovery, as
 * retention's). durable: the trash and path's parent are fsync'd before
 * returning. out gets the trash path for store_remove, to be called once
 * no lock is held. -ENOENT when path does not exist. */
int store_trash(const config *cfg, const char *path, const char *name, int durable,
                char *out, size_t cap);
/* rm -rf without following links (fsutil_rm_rf). Never under a lock a
 * hot path needs (DESIGN.md invariant 9). */
int store_remove(const char *path);
#endif
