/* status.h — the cluster's health in one place: task counts by status,
 * what the store holds, and which backends are degraded. `cloudai status`
 * (GET_STATUS -> CLUSTER_STATUS) and /metrics read it. */
#ifndef CLOUDAI_STATUS_H
#define CLOUDAI_STATUS_H
#include <stdint.h>
#include "cluster.h"
#include "proto.h"

#define STATUS_DEGRADED_MAX 4
#define STATUS_WORKERS_MAX 2048    /* worker records in one CLUSTER_STATUS */

typedef struct status_health {
    uint64_t by_status[PROTO_ST_MAX + 1];
    uint64_t store_bytes;          /* output bytes of every task */
    uint64_t fs_size, fs_free;     /* file system holding the store */
    const char *backend;           /* meta_backend() */
    char degraded[STATUS_DEGRADED_MAX][512];
    int ndegraded;
} status_health;

/* Fills h. Task counts come from the metadata store; when it does not
 * answer, from the master's memory (active tasks only) and that is listed
 * as degraded. Takes the cluster lock briefly; callable from any thread.
 * Returns 0. */
int status_collect(cluster *cl, status_health *h);
/* Appends a whole CLUSTER_STATUS message to wb (proto_begin included). */
void status_put(cluster *cl, proto_buf *wb);
#endif
