/* meta.h — the master's metadata store: TASKS, FILE_METADATA and WORKERS
 * (DESIGN.md "Metadata"). One interface, two backends: the embedded journal
 * (default) and MongoDB. All functions are thread-safe (each backend locks
 * or pools internally) and return 0 or a negative META_E_* code, with a
 * readable reason in the err buffer where one is taken; none logs. */
#ifndef CLOUDAI_META_H
#define CLOUDAI_META_H
#include "err.h"   /* META_E_* codes: the meta band of the one error space */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "records.h"

typedef struct meta meta;

/* Filters for finds; zero/NULL fields do not filter. */
typedef struct meta_query {
    const char *task_id;
    const char *user_id;
    const char *task_name;     /* exact */
    const char *pattern;       /* task-name glob (ids_glob) */
    const char *file_name;     /* exact relative path (files only) */
    int status;                /* 0 = any */
    uint64_t since, until;     /* submitted_at range in ms: since <= t < until (until 0 = none) */
    size_t limit;              /* 0 = no limit */
    int newest_first;          /* order by submitted_at desc (else asc), ties by task_id */
} meta_query;

typedef int (*meta_task_cb)(void *ctx, const task_rec *t);     /* non-zero stops */
typedef int (*meta_file_cb)(void *ctx, const file_rec *f);
typedef int (*meta_worker_cb)(void *ctx, const worker_rec *w);

/* Embedded journal in dir (created if missing): replays snapshot + journal
 * into memory; a torn or corrupt tail record is dropped (and *dropped is
 * set to the number of bytes cut, for the caller to log). compact_bytes: a
 * snapshot is written when the journal grows past it (0 = never). */
meta *meta_open_journal(const char *dir, uint64_t compact_bytes, uint64_t *dropped,
                        char *err, size_t errcap);
/* The same, with a mode and a full account of what was found:
 *  META_OPEN_NORMAL: a torn tail is cut; any other damage is survived: a
 *    damaged stretch of the journal is skipped (every intact record after
 *    it is kept), a damaged or missing snapshot falls back to the previous
 *    generation (snapshot.prev + journal.prev + journal) or, without one,
 *    keeps what is intact of it; damaged files are kept aside as
 *    <name>.damaged-<time> and a clean snapshot is written at once; a
 *    missing journal or a generation gap is reported. Each event is also
 *    appended to <dir>/damage.log. A journal whose file header is not a
 *    journal's is still refused (it may not be ours: see --repair).
 *  META_OPEN_CHECK: the same analysis, read-only: nothing is created, cut,
 *    moved or written (`master --check`); the store answers finds.
 *  META_OPEN_REPAIR: like NORMAL, but a bad file header is salvaged too,
 *    and a fresh snapshot is always written (`master --repair`).
 * rep gets counts and one line per event (intact files too in CHECK). */
#define META_OPEN_NORMAL 0
#define META_OPEN_CHECK 1
#define META_OPEN_REPAIR 2
typedef struct meta_open_report {
    uint64_t dropped;      /* torn-tail bytes cut (an interrupted write) */
    int damaged;           /* anything beyond a torn tail: records may be missing */
    uint64_t lost_bytes;   /* bytes of damaged stretches skipped */
    uint64_t records;      /* intact records replayed */
    int from_index;        /* the snapshot's state came from snapshot.idx (its records
                            * checked, not decoded) */
    char text[8192];       /* one event per line */
    FILE *listing;         /* CHECK: if set, one line per record ("file offset op key") */
    /* In, NORMAL: when the start comes from snapshot.idx, check the
     * snapshot's records (framing, CRC) in a background thread after the
     * open instead of before it (a start no longer reads the whole
     * snapshot). Damage found then is appended to damage.log, the index is
     * removed and compactions are held, so the next start finds it and
     * recovers from the previous generation; on_check (may be NULL) is
     * called from that thread once the check ends (damaged 0/1, the
     * finding). Compactions also wait for the check to end. */
    int check_later;
    void (*on_check)(void *ctx, int damaged, const char *text);
    void *on_check_ctx;
} meta_open_report;
meta *meta_open_journal_ex(const char *dir, uint64_t compact_bytes, int mode,
                           meta_open_report *rep, char *err, size_t errcap);
/* MongoDB: uri, database; fails within timeout_ms if no server answers.
 * Creates the collections' indexes (idempotent). One operation waits at
 * most CONFIG_MONGO_SOCKET_TIMEOUT_MS (config.h) for its reply (socketTimeoutMS) unless
 * the URI says otherwise. */
meta *meta_open_mongo(const char *uri, const char *db, int timeout_ms, char *err, size_t errcap);
/* The same with socketTimeoutMS = socket_timeout_ms (<= 0: the default),
 * still unless the URI sets it. */
meta *meta_open_mongo_ex(const char *uri, const char *db, int timeout_ms, int socket_timeout_ms,
                         char *err, size_t errcap);
void meta_close(meta *m);
const char *meta_backend(const meta *m);   /* "journal" | "mongodb" */

/* Removes the shared-memory file libmongoc keeps its statistics in,
 * /dev/shm/mongoc-<pid>, made when the library loads and removed only by
 * mongoc_cleanup, which a daemon ending in _exit or killed never reaches:
 * one file was left per master run, with MongoDB configured or not.
 * Nothing reads those counters; the library's mapping stays valid. Call
 * early in main. */
void meta_mongo_forget_shm(void);

/* Insert or replace the task with t->task_id. Durable (fsync'd) on return. */
int meta_task_put(meta *m, const task_rec *t, char *err, size_t errcap);
/* Like meta_task_put, but may return before the record is durable; a
 * later meta_sync (or a durable put) makes it so, in order. For changes a
 * restart can afford to lose (a task's intermediate status: workers
 * reconcile) and for changes the caller makes durable with meta_sync
 * after releasing its own locks. */
int meta_task_put_nosync(meta *m, const task_rec *t, char *err, size_t errcap);
/* Makes every change made so far durable. Concurrent callers share one
 * fsync (group commit), so many connections committing at once cost about
 * one disk flush. */
int meta_sync(meta *m, char *err, size_t errcap);
/* Copies the task into out (caller task_rec_free's it). META_E_NOTFOUND. */
int meta_task_get(meta *m, const char *task_id, task_rec *out);
/* All of a task's file records in one commit (one fsync / one bulk write).
 * Idempotent: a record with the same (task_id, file_name) is replaced. */
int meta_files_put(meta *m, const file_rec *files, size_t n, char *err, size_t errcap);
/* Like meta_files_put, but may return before the records are durable: an
 * upload's batches are indexed this way and made durable by one meta_sync
 * at the end (the finds see them at once). A write that fails cuts the
 * journal back to its last sync and drops from the index every record
 * that was past it. */
int meta_files_put_nosync(meta *m, const file_rec *files, size_t n, char *err, size_t errcap);
/* How many times a failed write dropped records put without sync: an
 * upload reads it before its first batch and after its meta_sync, and
 * fails (to be retried) if it moved. */
uint64_t meta_files_cuts(meta *m);
/* Removes a task's file records (all of them) in one commit. */
int meta_files_delete(meta *m, const char *task_id, char *err, size_t errcap);
int meta_worker_put(meta *m, const worker_rec *w, char *err, size_t errcap);
/* As meta_task_put_nosync, for a worker record. */
int meta_worker_put_nosync(meta *m, const worker_rec *w, char *err, size_t errcap);

/* Finds call cb for each match in order; cb's non-zero return stops early
 * (and is not an error). Records passed to cb are valid only during the call. */
int meta_tasks_find(meta *m, const meta_query *q, meta_task_cb cb, void *ctx);
int meta_files_find(meta *m, const meta_query *q, meta_file_cb cb, void *ctx);
int meta_workers_list(meta *m, meta_worker_cb cb, void *ctx);

/* Journal only: waits for a background check of the snapshot
 * (meta_open_report.check_later): 0 intact or no check, META_E_CORRUPT
 * damaged (text says where), META_E_IO unreadable. */
int meta_check_wait(meta *m, char *text, size_t cap);

/* Journal only: write a snapshot now and truncate the journal. */
int meta_compact(meta *m, char *err, size_t errcap);
/* The embedded store compacts on its own thread once its journal is big
 * (changes and finds go on meanwhile): waits until none is running. For
 * tests and tools; a no-op for a store that is not a journal one. */
void meta_compact_wait(meta *m);
/* Starts one on that thread now (meta_compact_wait waits for it). */
int meta_compact_start(meta *m, char *err, size_t errcap);
/* Tests: called by a background compaction between its capture and its
 * writing (NULL: nothing). Process-wide; set it before the store is used. */
extern void (*meta_journal_compact_hook)(void);
#endif
