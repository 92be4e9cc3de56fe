/* instore.h — the master's content-addressed store of task inputs
 * (README "Inputs"). A blob is the bytes of one input: a file as it is,
 * a directory as a ustar stream. It lives at
 *     <files_dir>/.inputs/sha256/<2 hex>/<62 hex>
 * named by the SHA-256 of its bytes, so an input already held is never
 * sent or stored twice. A blob is written to <files_dir>/.inputs/tmp,
 * checked against its name, fsync'd and renamed into place: a reader
 * never sees a partial or wrong blob. Blobs no task refers to any more
 * are removed by instore_sweep. Every path here is one the instore
 * makes itself (hex digests under .inputs), never a client's or a
 * task's: its own opens need no walk beneath a root. What it reads from
 * a run comes as an fd the caller opened with store_open.
 *
 * Thread-safety: an instore is shared by every connection thread; its
 * functions may be called concurrently (two writers of the same blob both
 * succeed, the second rename replaces identical bytes). An instore_put
 * belongs to one thread. */
#ifndef CLOUDAI_INSTORE_H
#define CLOUDAI_INSTORE_H
#include "err.h"   /* INSTORE_E_* codes: the instore band of the one error space */
#include <stddef.h>
#include <stdint.h>
#include "records.h"

typedef struct instore instore;

/* Creates <files_dir>/.inputs (and clears its tmp). max_bytes bounds one
 * input (0 = unlimited). NULL with err filled on failure. */
instore *instore_open(const char *files_dir, uint64_t max_bytes, char *err, size_t errcap);
void instore_free(instore *s);
uint64_t instore_max_bytes(const instore *s);

/* The blob's path (whether or not it exists). */
void instore_path(const instore *s, const uint8_t sha[32], char *out, size_t cap);
/* 1 if the blob is held (its size in *size, if given; its mtime is
 * refreshed, so a sweep does not take it between a client's query and its
 * submission), else 0. */
int instore_has(instore *s, const uint8_t sha[32], uint64_t *size);

/* Ownership: who has shown they hold a blob's bytes (sent them, or took
 * them from a task output they may read). A client is told "held" and may
 * submit an input by its SHA-256 alone only for blobs it owns, so the
 * store is no oracle of other users' data (a user who merely knows a hash
 * cannot read the content, nor learn that someone stored it): a second
 * user's identical input travels once more and is verified, then stored
 * once. Markers: <root>/owners/<sha hex>/<user hex>. */
int instore_owns(instore *s, const uint8_t sha[32], const char *user);
/* Records user as an owner; 0 or INSTORE_E_IO. */
int instore_own(instore *s, const uint8_t sha[32], const char *user);

/* A blob being written. sha NULL: the name is whatever the bytes hash to
 * (an input the master builds itself from a stored output). total:
 * the exact size announced (UINT64_MAX: not known in advance). */
typedef struct instore_put instore_put;
instore_put *instore_put_begin(instore *s, const uint8_t *sha, uint64_t total, char *err,
                               size_t errcap);
/* chunk_out_fn / tar_sink compatible: appends bytes. */
int instore_put_write(void *w, const uint8_t *p, size_t n);
/* Checks size and SHA-256, fsyncs and publishes; the digest in sha_out
 * (may be NULL), the size in *size (may be NULL). Frees w in every case. */
int instore_put_commit(instore_put *w, uint8_t sha_out[32], uint64_t *size, char *err,
                       size_t errcap);
/* Why the last write failed ("" if none). */
const char *instore_put_error(const instore_put *w);
/* Discards the staging file and frees w. */
void instore_put_abort(instore_put *w);

/* Adds the stored file or directory open on fd (a directory as a ustar
 * stream, in the writer's deterministic order) as a blob; fills in's
 * sha256, size and is_dir. fd stays the caller's, opened beneath the
 * store without following a link (store_open); name is for messages.
 * 0 or an INSTORE_E_* code with err. */
int instore_add_fd(instore *s, int fd, const char *name, task_input *in, char *err, size_t errcap);

/* Removes every blob whose name is not in keep (sorted with
 * instore_sha_cmp, n entries) and whose mtime is older than keep_ms
 * before now_ms; also tmp files older than that. Returns the number of
 * blobs removed, or a negative INSTORE_E_*. */
long instore_sweep(instore *s, const uint8_t (*keep)[32], size_t n, uint64_t now_ms,
                   uint64_t keep_ms, uint64_t *freed_bytes);
int instore_sha_cmp(const void *a, const void *b);

/* Counters for /metrics and the log. */
typedef struct instore_stats {
    uint64_t bytes_received;   /* input bytes written into the store */
    uint64_t blobs_added;      /* blobs published */
    uint64_t blobs_deduped;    /* queries answered "already held" */
    uint64_t blobs_removed;    /* by sweeps */
} instore_stats;
void instore_get_stats(instore *s, instore_stats *st);
void instore_count_dedup(instore *s, uint64_t n);
#endif
