/* cluster.h — the master's live state: workers, active tasks, the queue,
 * the scheduler thread and the store writer thread. Every task change is
 * written to the metadata store before it is acknowledged, so a restarted
 * master recovers every acknowledged task (DESIGN.md invariant 4).
 *
 * Locking: one mutex (cl->mu) guards all of it; functions named do_* are
 * called with it held, the others take it. No disk or network I/O happens
 * under it (DESIGN.md invariant 9): frames to workers are built under the
 * lock and sent after it is released; store writes are queued under it
 * (one pending record per task, order kept per task) and applied by the
 * writer thread, which makes each batch durable with one sync; a request
 * that acknowledges a change (SUBMIT_ACK, FILE_ACK, a cancel's OK) waits
 * for that commit, nothing else does. Heartbeats only touch memory, so a
 * stalled store never marks a worker lost. Lock order: the meta store's
 * lock, then cl->mu, then a conn's write lock (store callbacks may take
 * cl->mu; cl->mu is never held while calling the store). */
#ifndef CLOUDAI_CLUSTER_H
#define CLOUDAI_CLUSTER_H
#include <pthread.h>
#include <stdint.h>
#include "config.h"
#include "conn.h"
#include "meta.h"
#include "records.h"
#include "sched.h"

typedef struct cluster cluster;

cluster *cluster_new(const config *cfg, meta *m, char *err, size_t errcap);
int cluster_start(cluster *cl);     /* starts the scheduler/reaper thread */
void cluster_stop(cluster *cl);
void cluster_free(cluster *cl);

/* Client requests. user/admin come from the authenticated connection.
 * On success *out is a copy of the new task (caller frees). Returns 0 or
 * CAI_E_WIRE(PROTO_ERR_*) (err.h: the wire error to answer with; negative
 * as every failure, cai_wire_code() gives the code) with err filled. The
 * same holds for every int-returning request below unless said. */
int cluster_submit(cluster *cl, task_rec *t, const char *user, char *err, size_t errcap,
                   task_rec *out);
/* The same without waiting for the disk: the caller must meta_sync before
 * it acknowledges (lets a connection answer a burst with one sync). */
/* -array: one task per index of spec "A-B[%P]" (0 <= A <= B, at most
 * CLUSTER_ARRAY_MAX tasks, P >= 1), each with CLOUDAI_ARRAY_INDEX in its
 * environment and the array's id; as cluster_submit_nosync (the caller
 * syncs before it acknowledges); out is the first task. All or none: a
 * refusal of one cancels those already made. */
#define CLUSTER_ARRAY_MAX 10000
int cluster_submit_array(cluster *cl, task_rec *t, const char *spec, const char *user,
                         char *err, size_t errcap, task_rec *out);
int cluster_submit_nosync(cluster *cl, task_rec *t, const char *user, char *err, size_t errcap,
                          task_rec *out);
int cluster_cancel(cluster *cl, const char *task_id, const char *user, int admin,
                   char *err, size_t errcap);
/* Lists workers from memory (answers even when the store is degraded). */
int cluster_workers(cluster *cl, meta_worker_cb cb, void *ctx);
/* Tasks matching q's task_id, user_id, task_name, pattern, status and
 * time range, from memory: the active ones and the finished ones whose
 * final record has not reached the store yet; by submitted_at (q's
 * newest_first and limit honoured). The answer when the metadata store
 * does not answer. cb runs without the cluster lock. */
int cluster_tasks_active(cluster *cl, const meta_query *q, meta_task_cb cb, void *ctx);
/* Owner check for reads: 0, CAI_E_WIRE(PROTO_ERR_NOT_FOUND) or
 * CAI_E_WIRE(PROTO_ERR_FORBIDDEN). */
int cluster_task_for_user(cluster *cl, const char *task_id, const char *user, int admin,
                          task_rec *out);
/* Records what an input of an active task resolved to (a task: reference
 * bound when its worker fetched it): sha256, size, is_dir of every
 * unresolved input with in->source. 0, or PROTO_ERR_NOT_FOUND. */
int cluster_task_bind_input(cluster *cl, const char *task_id, const task_input *in);

/* Worker events. running/held: task ids the worker reports; run_att (NULL:
 * not known) the attempt of each running one. */
int cluster_worker_register(cluster *cl, conn *c, const worker_rec *w, char **running,
                            const uint64_t *run_att, size_t nrunning, char **held, size_t nheld);
void cluster_worker_heartbeat(cluster *cl, const char *worker_id, const worker_rec *free_res);
/* WAIT: the ids waited for (owned by the caller, as is done), indexed
 * once, so that each end costs a wait one lookup, not a look at all its
 * ids. cluster_wait_init sets done[i] = 2 for a repeated id (reported
 * once); 0 or -ENOMEM. */
typedef struct cluster_wait {
    char *const *ids;
    char *done;
    size_t n;
    uint32_t *slot;           /* open addressing: index + 1 into ids, 0 = empty */
    size_t nslot;
    size_t *fresh, nfresh;    /* marked by the last cluster_wait_ended */
    uint64_t seen;            /* the cluster's ends looked at so far */
    int looked;
} cluster_wait;
int cluster_wait_init(cluster_wait *w, char *const *ids, char *done, size_t n);
void cluster_wait_free(cluster_wait *w);
/* Marks done[i] = 1 for each ids[i] (done[i] == 0) that is no longer
 * active (it ended: its final record is in the store or on its way,
 * cluster_task_for_user reads it), waiting up to timeout_ms for one to
 * end when none has. Returns how many it marked, listed in w->fresh;
 * tasks end with a broadcast, so a waiter wakes at once, never by polling. */
size_t cluster_wait_ended(cluster *cl, cluster_wait *w, int timeout_ms);
void cluster_worker_gone(cluster *cl, const char *worker_id, conn *c);
/* attempt: the attempt the worker reports on (ATTEMPTS; 0 = not said).
 * A report for an attempt other than the task's current one is ignored:
 * a superseded attempt never decides the task's fate. */
void cluster_task_status(cluster *cl, const char *worker_id, const char *task_id,
                         uint64_t attempt, int status, const char *message);
/* cpu_s, mem_peak: what the run used as the worker measured (0 = unknown). */
void cluster_task_result(cluster *cl, const char *worker_id, const char *task_id,
                         uint64_t attempt, int status, int64_t exit_code, double cpu_s,
                         uint64_t mem_peak, const char *error, const char *log_tail);

/* Uploads. begin: 0 and a copy of the task if the worker may upload it;
 * CLUSTER_STORED if it is already stored (the worker may delete its copy:
 * not a failure); or CAI_E_WIRE(PROTO_ERR_*) with err. */
#define CLUSTER_STORED 1
int cluster_upload_begin(cluster *cl, const char *worker_id, const char *task_id,
                         uint64_t attempt, task_rec *out, char *err, size_t errcap);
/* The output is stored and indexed: the task gets its final status, and
 * notes (what was left out; NULL keeps the task's notes) replace its notes. */
int cluster_upload_done(cluster *cl, const char *task_id, uint64_t files, uint64_t bytes,
                        const char *notes, char *err, size_t errcap);
/* The upload failed: the task shows why. Transient (store full, a bad
 * chunk): the worker keeps the output and retries. Permanent (the archive
 * was refused: hostile entries, limits): the task fails for good. */
void cluster_upload_failed(cluster *cl, const char *task_id, const char *why, int permanent);

/* Admission hook (quotas), called by cluster_submit before the task is
 * stored, without the cluster lock: 0 = accept, 1 = accept with msg as a
 * warning (cluster_submit returns 0 and leaves msg in its err buffer),
 * 2 = refuse with msg (CAI_E_WIRE(PROTO_ERR_LIMIT)). Set once before serving. */
typedef int (*cluster_admit_fn)(void *ctx, const char *user, char *msg, size_t cap);
void cluster_set_admit(cluster *cl, cluster_admit_fn fn, void *ctx);

/* The newest record of a task when the store may lag behind: the cluster's
 * own (active task, or a final record still queued for the store) into
 * out and 1; 0 when the store's record is current. Callable from a store
 * callback (lock order). */
int cluster_task_fresh(cluster *cl, const char *task_id, task_rec *out);
int cluster_query_match(const meta_query *q, const task_rec *r);
/* Waits until every store write queued so far is applied and durable: 0,
 * or CAI_E_WIRE(PROTO_ERR_STORE) with err when the last of them failed. */
int cluster_store_wait(cluster *cl, char *err, size_t errcap);
/* Milliseconds the store writer has been busy with its current batch (0 =
 * idle): a listing skips a store that is seen stalled. */
int cluster_store_busy_ms(cluster *cl);

/* Tests: a fake clock for every time the cluster reads (heartbeats,
 * reaping, timestamps), and one scheduler pass (reap, place, send)
 * without the scheduler thread. */
typedef uint64_t (*cluster_clock_fn)(void *ctx);
void cluster_set_clock(cluster *cl, cluster_clock_fn fn, void *ctx);
void cluster_tick(cluster *cl);

/* The scheduler's expected start (ms) and predicted runtime (s) of a
 * queued task, as last projected; 0 if known, -1 if not. Takes no cluster
 * lock: safe inside a metadata-store callback. */
int cluster_expected(cluster *cl, const char *task_id, uint64_t *start_ms, uint64_t *predicted_s,
                     uint64_t *predicted_mem);
meta *cluster_meta(cluster *cl);
const config *cluster_config(cluster *cl);
/* Where an older worker's log tail is kept: <meta_dir>/logs/<task_id>.log */
void cluster_log_path(cluster *cl, const char *task_id, char *out, size_t cap);
/* The task logs (logbook.h), owned by the cluster. */
struct logbook *cluster_logbook(cluster *cl);
/* The current attempt of a task assigned to worker_id that may still send
 * log bytes (assigned, running, uploading): 0, else -1. */
int cluster_log_attempt(cluster *cl, const char *worker_id, const char *task_id,
                        uint64_t *attempt);
/* Remembers a note about the task's log (cut at the cap) for its NOTES
 * when the output is stored. */
void cluster_log_note(cluster *cl, const char *task_id, const char *note);
#endif
