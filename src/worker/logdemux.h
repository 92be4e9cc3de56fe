/* logdemux.h — splits Docker's multiplexed log stream (used when a
 * container has no TTY) into its stdout and stderr payloads.
 *
 * Stream format (Docker Engine API, /containers/{id}/logs and /attach):
 * a sequence of frames, each an 8-byte header
 *     byte 0     stream: 0 stdin, 1 stdout, 2 stderr
 *     bytes 1-3  zero
 *     bytes 4-7  payload size, big-endian uint32
 * followed by that many payload bytes. libcurl hands the body over in
 * arbitrary chunks, so headers and payloads split anywhere: the
 * demultiplexer keeps its state across logdemux_feed calls and never
 * buffers a payload (memory use is constant whatever the frame size). */
#ifndef CLOUDAI_LOGDEMUX_H
#define CLOUDAI_LOGDEMUX_H
#include "err.h"   /* LOGDEMUX_E_* codes: the logdemux band of the one error space */
#include <stddef.h>
#include <stdint.h>

#define LOGDEMUX_STDOUT 1
#define LOGDEMUX_STDERR 2

/* Receives each payload piece in stream order; a frame's payload may come
 * in several pieces. Returns 0 to continue, non-zero to stop the stream. */
typedef int (*logdemux_sink)(void *ud, int stream, const uint8_t *p, size_t n);

typedef struct logdemux {
    logdemux_sink sink;
    void *ud;
    uint8_t hdr[8];
    size_t hdr_len;        /* header bytes gathered so far */
    uint64_t remaining;    /* payload bytes left in the current frame */
    int stream;            /* stream of the current frame */
    int err;               /* sticky: once broken, stays broken */
    uint64_t frames;       /* complete headers seen */
    uint64_t bytes;        /* payload bytes delivered */
} logdemux;

/* Prepares d (caller-owned storage, no allocation). Stdin frames (stream 0)
 * are delivered as LOGDEMUX_STDOUT. Not thread-safe: one stream, one user. */
void logdemux_init(logdemux *d, logdemux_sink sink, void *ud);

/* Feeds the next len bytes of the stream. 0, or a LOGDEMUX_E_* code; after
 * an error every later call returns the same code without calling the sink. */
int logdemux_feed(logdemux *d, const void *data, size_t len);

/* Declares the end of the stream: 0 if it ended on a frame boundary,
 * LOGDEMUX_E_TRUNCATED if inside a header or payload, or the sticky error. */
int logdemux_finish(logdemux *d);
#endif
