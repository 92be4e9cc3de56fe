/* logbook.h — the master's copy of task logs (proto.txt 9.1).
 *
 * One file per attempt, <dir>/<task_id>.<attempt>.log, appended as the
 * worker streams LOG_DATA; a task that ran on an older worker (no stream)
 * has <dir>/<task_id>.log, its tail. A log is kept whole up to cap bytes;
 * past the cap the bytes are counted and dropped, and a marker line ends
 * the file (a file longer than cap is therefore a cut log).
 *
 * Readers wait for growth with logbook_wait (a generation counter and a
 * condition variable), so a follower is pushed new bytes without polling
 * the disk. Thread-safe; appends are serialised by one mutex, never under
 * the cluster lock. */
#ifndef CLOUDAI_LOGBOOK_H
#define CLOUDAI_LOGBOOK_H
#include <stddef.h>
#include <stdint.h>

typedef struct logbook logbook;

/* dir is created if missing; cap 0 = no cap. NULL on out of memory. */
logbook *logbook_new(const char *dir, uint64_t cap);
void logbook_free(logbook *lb);
uint64_t logbook_cap(const logbook *lb);

/* The file of an attempt (attempt 0: the legacy tail file). */
void logbook_path(const logbook *lb, const char *task_id, uint64_t attempt, char *out, size_t cap);
/* The file a reader of the task's log should open: the attempt's own
 * when it exists, else the legacy tail. */
void logbook_read_path(const logbook *lb, const char *task_id, uint64_t attempt, char *out,
                       size_t cap);

/* Takes len bytes at log offset off of the attempt (proto.txt 9.1: the
 * overlap already held is skipped, a gap appends nothing). *held gets the
 * log length the master now holds, which is the OFFSET of the LOG_ACK, or
 * UINT64_MAX once the log is cut at the cap (the worker sends and keeps no
 * more of it). 0, or -errno when the file cannot be
 * written (nothing is held then beyond what was). */
int logbook_append(logbook *lb, const char *task_id, uint64_t attempt, uint64_t off,
                   const void *data, size_t len, uint64_t *held);

/* Forgets the in-memory state of a task's attempt (it ended; the file
 * stays). A later append recovers it from the file. */
void logbook_forget(logbook *lb, const char *task_id);

/* The length the worker says the attempt's log has (TASK_RESULT's
 * LOG_SIZE), remembered for the last LOGBOOK_FINALS tasks. */
#define LOGBOOK_FINALS 4096
void logbook_set_final(logbook *lb, const char *task_id, uint64_t attempt, uint64_t size);
/* Whether a reader who has file_bytes of the attempt's file has it all:
 * 1 when the stated length is reached (or the log was cut at the cap, or
 * no length was stated), else 0 (more is still on its way). */
int logbook_complete(logbook *lb, const char *task_id, uint64_t attempt, uint64_t file_bytes);

/* Current generation: changes on every append and logbook_kick. */
uint64_t logbook_gen(logbook *lb);
/* Waits until the generation differs from gen, at most timeout_ms.
 * Returns the generation now. */
uint64_t logbook_wait(logbook *lb, uint64_t gen, int timeout_ms);
/* Wakes every waiter (a task changed state). */
void logbook_kick(logbook *lb);

/* Text of the note for a log of log_size bytes cut at the cap, or "" when
 * not cut. */
void logbook_cut_note(const logbook *lb, uint64_t log_size, char *out, size_t cap);
#endif
