/* http_metrics.h — the counters /metrics reports that are not in the
 * task records. Lock-free (atomics); callable from any thread. */
#ifndef CLOUDAI_HTTP_METRICS_H
#define CLOUDAI_HTTP_METRICS_H
#include <stdint.h>
/* A FILE_CHUNK of an upload was accepted: its frame payload bytes. */
void http_metrics_upload_bytes(uint64_t n);
/* An upload was stored, ms after its session began. */
void http_metrics_upload_done(uint64_t ms);
/* The input store whose counters /metrics shows (NULL = none). */
struct instore;
void http_metrics_set_instore(struct instore *ins);
#endif
