/* incache.h — a worker's inputs: fetched from the master by SHA-256
 * (GET_INPUT), kept in <outputs_dir>/.input-cache/<sha256 hex> so an input
 * crosses the network once per worker, and laid out for one attempt of a
 * task in <attempt>.input/<dest> (a private copy: a file copied, a
 * directory extracted from its ustar stream with the safe extractor). The
 * runtime then shows that directory read-only (Docker: a read-only bind
 * mount at /input; process runtime: $INPUT_DIR, a read-only bind mount in
 * the task's own mount namespace when the worker may make one).
 *
 * A fetch writes <hex>.part and resumes it at its last whole chunk after
 * an interruption (a dropped connection, a killed worker); the blob is
 * renamed into place only after its SHA-256 matched. Concurrent tasks
 * needing the same input wait on one fetch (flock on <hex>.lock).
 * Thread-safe: each call works on its own files. */
#ifndef CLOUDAI_INCACHE_H
#define CLOUDAI_INCACHE_H
#include <stddef.h>
#include "config.h"
#include "records.h"

typedef struct incache_src {
    const config *cfg;          /* master_addr, cluster_token, outputs_dir */
    const char *worker_id;
    volatile int *stop;         /* the worker is stopping: give up */
    int link_ok;                /* a file input may be a hard link to the cache: the
                                   task cannot write through it (Docker's read-only
                                   mount; a root worker's read-only bind) */
} incache_src;

/* Fetches (or finds) every input of t and lays them out under dir (created).
 * 0, or -1 with err naming the input and the cause. */
int incache_prepare(const incache_src *src, const task_rec *t, const char *dir, char *err,
                    size_t errcap);
#endif
