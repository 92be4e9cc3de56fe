/* retention.h — what the store keeps and for how long ([retention]):
 * expiry by age (global and per task-name rule), pins that exempt a run,
 * per-user quotas (soft: warn, hard: refuse that user's submissions), the
 * sweeper thread, and the one way a run's files leave the store
 * (retention_remove_run), shared by the sweeper and DELETE
 * /api/tasks/{id}/files. Thread-safe: pins are guarded by the object's
 * lock; everything else reads the config and the (thread-safe) store. */
#ifndef CLOUDAI_RETENTION_H
#define CLOUDAI_RETENTION_H
#include "err.h"   /* RETENTION_E_* codes: the retention band of the one error space */
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "meta.h"
#include "records.h"

typedef struct retention retention;

/* Runs due for a move by age (compression, tiering): finished, with stored
 * files, and ended (completed_at, else submitted_at) at least
 * days_of(cfg, t) days before now; 0 or less = never. Copies into *out
 * (the caller task_vec_free's it). 0, RETENTION_E_NOMEM or RETENTION_E_IO. */
typedef int (*retention_days_fn)(const config *cfg, const task_rec *t);
int retention_due_runs(meta *m, const config *cfg, uint64_t now_ms, retention_days_fn days_of,
                       task_vec *out);

/* Loads the pins (<meta_dir>/pins) and finishes any removal a crash
 * interrupted (see retention_recover). cfg and m must outlive it. Call
 * before serving requests. NULL with err filled. */
retention *retention_new(const config *cfg, meta *m, char *err, size_t errcap);
/* Starts the sweeper thread (every sweep_interval_s; logs what it removes). */
int retention_start(retention *r);
void retention_stop(retention *r);       /* joins the sweeper; idempotent */
void retention_free(retention *r);       /* NULL ok; stops first */

/* Pins (pin = 1) or unpins a run; durable (written atomically) on return.
 * 0 or RETENTION_E_*. */
int retention_pin(retention *r, const char *task_id, int pin, char *err, size_t errcap);
int retention_is_pinned(retention *r, const char *task_id);   /* 1 / 0 */
/* When the run expires, ms since the epoch; 0 = never (pinned, no rule,
 * or not finished). */
uint64_t retention_expires_at(retention *r, const task_rec *t);

/* One sweep as of now_ms (a parameter so tests drive a fake clock):
 * removes every finished, unpinned run whose expiry is <= now_ms. Returns
 * the number of runs removed, or RETENTION_E_* with err filled (runs
 * removed before the failure stay removed). Logs each removal. */
int retention_sweep(retention *r, uint64_t now_ms, char *err, size_t errcap);

/* Quota of user's stored bytes (sum of output_bytes of their runs).
 * 0 = under both limits; 1 = over the soft limit (msg says so, accept);
 * 2 = at or over the hard limit (msg says why, refuse). */
int retention_quota_check(retention *r, const char *user, char *msg, size_t msgcap);
/* Bytes user stores now (computed from the task records). */
uint64_t retention_usage(retention *r, const char *user);

/* Removes a finished run's files and file records so that no crash
 * leaves either visible without the other: the run's directory is first
 * renamed to <files>/.trash/<task_id> (one atomic rename: the files leave
 * the store's tree at once), then the records are deleted in one commit,
 * then the trash is removed. retention_recover, run at start before any
 * request is served, completes a removal whose trash entry still exists.
 * The task record stays (status, log), with output_files/bytes set to 0.
 * 0, or RETENTION_E_*. Thread-safe. */
int retention_remove_run(const config *cfg, meta *m, const task_rec *t, char *err,
                         size_t errcap);
/* Finishes interrupted removals: for each <files>/.trash/<task_id>, the
 * records are deleted (idempotent), then the directory. Returns the
 * number completed, or RETENTION_E_IO. */
int retention_recover(const config *cfg, meta *m, char *err, size_t errcap);
/* Inputs: the store whose blobs retention sweeps (NULL = none). A blob
 * is kept while a task refers to it whose run is not removed, and for
 * [limits] input_keep_s after its last use in any case (a client's
 * query or upload, before it submits). Call before retention_start. */
struct instore;
void retention_set_instore(retention *r, struct instore *ins);
/* One sweep of the inputs: the number removed, or a negative code. */
int retention_sweep_inputs(retention *r, uint64_t now_ms, char *err, size_t errcap);
#endif
