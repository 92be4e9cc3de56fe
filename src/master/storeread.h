/* storeread.h — task listings that never wait on a stalled metadata store
 * (DESIGN.md invariant 9). The store is asked from a reader thread; if it
 * has not produced its first record (or finished) within a deadline, the
 * answer comes from the master's memory instead, with a note that says so
 * (the "degraded" answer of README "When things go wrong"), and the late
 * reader is abandoned: it stops at its first record. While such a reader
 * is still stuck, or the cluster's store writer has been busy past the
 * deadline, later listings go to memory at once. */
#ifndef CLOUDAI_STOREREAD_H
#define CLOUDAI_STOREREAD_H
#include <stddef.h>
#include "cluster.h"
#include "meta.h"

/* How long a listing waits at most for the store's first record (less for
 * a server that has been answering fast: STOREREAD_MIN_WAIT_MS). Long enough that
 * a store that is merely slow (a loaded machine, a busy FerretDB: tens to
 * a few hundred ms) still gives the whole answer, since the memory answer
 * lacks every finished task; short enough that only the first listing of
 * a real stall waits, as later ones see the stuck reader and go to memory
 * at once. */
#define STOREREAD_WAIT_MS 250
/* The least a listing waits for a server that has been answering fast
 * (storeread.c lat_wait). */
#define STOREREAD_MIN_WAIT_MS 50
/* The same for the embedded journal (storeread.c says why). */
#define STOREREAD_LOCAL_WAIT_MS 2000

/* The note of a degraded answer; callers add it to their reply. */
#define STOREREAD_NOTE_FMT \
    "degraded: the metadata store is not answering; showing the %zu tasks the master holds in memory (active, or finished and not yet stored)"

/* Calls cb for each task matching q, from the store or (degraded) from
 * memory. *degraded is set to 1 and note filled when the answer came from
 * memory. Returns 0 or a negative META_E_* (store error with nothing
 * sent and memory unavailable). cb may run on another thread than the
 * caller's, but never after this returns and never concurrently with
 * itself. Thread-safe. */
int storeread_tasks(cluster *cl, const meta_query *q, int wait_ms, meta_task_cb cb, void *ctx,
                    int *degraded, char *note, size_t notecap);
/* Waits until no abandoned reader is left (each holds the store): call
 * before meta_close. */
void storeread_drain(void);
#endif
