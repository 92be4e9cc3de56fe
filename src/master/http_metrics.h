/* http_metrics.h — the counters /metrics reports that are not in the
 * task records. Lock-free (atomics); callable from any thread. */
#ifndef CLOUDAI_HTTP_METRICS_H
#define CLOUDAI_HTTP_METRICS_H
#include <stdint.h>
/* An upload session started streaming. */
void http_metrics_upload_begin(void);
/* It ended: wire bytes received, duration, ok = stored. */
void http_metrics_upload(uint64_t wire_bytes, uint64_t ms, int ok);
#endif
