/* metarepair.h — `master --check` / `--repair` against the file store: the
 * store's files are the ground truth for what was stored, so a TASK or
 * FILE record lost with a damaged journal can be rebuilt from them. The
 * layout is <files>/<user>/<task_name>/<submitted time>/<task_id>/<path>
 * (store_run_dir); entries starting with '.' at the top (.staging,
 * .trash) are not outputs. */
#ifndef CLOUDAI_METAREPAIR_H
#define CLOUDAI_METAREPAIR_H
#include <stdint.h>
#include "master/meta.h"

typedef struct metarepair_stats {
    uint64_t task_dirs;         /* output directories found */
    uint64_t tasks_missing;     /* ... with no TASK record */
    uint64_t tasks_added;
    uint64_t files_seen;        /* regular files in them */
    uint64_t files_missing;     /* ... with no FILE record */
    uint64_t files_added;       /* hashed and indexed */
    uint64_t records_orphan;    /* FILE records whose file is gone */
    uint64_t unexpected;        /* entries that do not fit the layout */
    uint64_t errors;            /* unreadable entries, failed writes */
} metarepair_stats;

/* One line of the report (no newline). */
typedef void (*metarepair_say)(void *ctx, const char *line);

/* Walks files_dir (iteratively: depth is a task's choice) and compares it
 * with m. With fix, adds a minimal TASK record for an output directory
 * that has none (status completed, exit code unknown, a note in error) and
 * a FILE record (SHA-256 of the file, its size, mode, and its inode change
 * time as stored_at) for each
 * file that has none. Returns 0, or a negative META_E_* when m fails;
 * unreadable entries are counted and reported, not fatal. */
int metarepair_scan(meta *m, const char *files_dir, int fix, metarepair_say say, void *ctx,
                    metarepair_stats *st);
#endif
