/* upload.h — receiving a task's output at the master (DESIGN.md data
 * flow): FILE_CHUNK -> inflate -> ustar reader -> safe extract into a
 * staging directory -> FILE_END verifies size and SHA-256 -> fsync ->
 * rename into <files>/<user>/<task_name>/<submitted_at>/<task_id> -> one
 * FILE_METADATA record per file -> task final status -> FILE_ACK.
 * A session outlives its connection so an interrupted upload resumes at
 * the last whole chunk (UPLOAD_RESUME). Thread-safe: sessions are found
 * under the table's lock and each is used by one connection at a time. */
#ifndef CLOUDAI_UPLOAD_H
#define CLOUDAI_UPLOAD_H
#include "cluster.h"
#include "conn.h"

typedef struct uploads uploads;
typedef struct upload upload;

uploads *uploads_new(cluster *cl, char *err, size_t errcap);
void uploads_free(uploads *u);
/* UPLOAD_RESUME from a worker: replies itself (UPLOAD_RESUME with the
 * offset, FILE_ACK if already stored, or ERROR). *out is the session to
 * feed, or NULL when nothing is to be streamed. 0, or -1 to close. */
int uploads_resume(uploads *u, conn *c, const proto_msg *m, upload **out);
/* FILE_CHUNK / FILE_END for the session; on failure replies FILE_ACK
 * {ok 0, why}, ends the session and returns -1. */
int upload_chunk(uploads *u, upload *s, conn *c, const proto_msg *m);
/* After a FILE_CHUNK read into buf (cap bytes, malloc'd): the buffer to
 * read the next frame into (buf, or one traded for it while the hash of
 * the chunk's bytes is still to be taken; see extract_swap_buffer). */
uint8_t *upload_swap_buffer(upload *s, uint8_t *buf, size_t cap);
int upload_end(uploads *u, upload *s, conn *c, const proto_msg *m);
/* The connection broke the protocol mid-stream (a bad frame): the stream
 * is not trusted for a resume. Drops the session and its staging, and the
 * task shows why. */
void uploads_abort(uploads *u, upload *s, const char *why);
/* The connection ended mid-stream: keep the session for a resume. */
void uploads_detach(uploads *u, upload *s);
/* Counters of this process's uploads since start, for /metrics (read by
 * http_metrics.c; upload.c calls no HTTP code). Lock-free. */
#define UPLOAD_LAT_NB 9
extern const double upload_lat_bounds_s[UPLOAD_LAT_NB];   /* histogram bucket bounds */
typedef struct upload_stats {
    uint64_t bytes;                     /* FILE_CHUNK payload bytes accepted */
    uint64_t count, ms_sum;             /* stored uploads, their total ms */
    uint64_t hist[UPLOAD_LAT_NB + 1];   /* by latency; the last: over every bound */
} upload_stats;
void upload_stats_get(upload_stats *out);
#endif
