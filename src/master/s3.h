/* s3.h — a small S3 client on libcurl (CURLOPT_AWS_SIGV4): PUT of a file
 * (one request up to the part size, a multipart upload above it, both
 * streamed from the file: memory is a 256 KiB piece per upload whatever
 * the file's size), GET with a
 * range into a sink, HEAD, DELETE and listing by prefix. Path-style URLs
 * (<endpoint>/<bucket>/<key>), so any S3-compatible server works (AWS,
 * MinIO, Ceph RGW, SeaweedFS, GCS's XML API).
 *
 * Integrity: every PUT (each part of a multipart upload) carries
 * x-amz-checksum-sha256, which the server checks; a whole-object GET is
 * hashed as it streams and compared with the SHA-256 the caller expects.
 * Transient failures (connection refused or reset, a stalled transfer,
 * HTTP 5xx, 429, SlowDown) are retried with exponential backoff; a GET
 * that broke mid-body resumes at the byte it reached. Errors come back as
 * S3_E_* codes with a message that says what to fix (a wrong key, a
 * missing bucket, a clock skew, a full bucket: S3_E_FULL).
 *
 * An s3 is read-only after s3_new and shared by threads: each call takes
 * a curl handle from a small pool (connections are reused) and gives it
 * back. Nothing logs; the caller does. */
#ifndef CLOUDAI_S3_H
#define CLOUDAI_S3_H
#include "err.h"   /* S3_E_* codes: the s3 band of the one error space */
#include <stddef.h>
#include <stdint.h>

#define S3_PART_MIN (5ull << 20)       /* S3's smallest part (but the last) */
#define S3_PART_DEFAULT (16ull << 20)
#define S3_PARTS_MAX 10000

typedef struct s3_config {
    char endpoint[512];      /* "http://127.0.0.1:8333", "https://s3.eu-west-1.amazonaws.com" */
    char bucket[256];
    char region[64];         /* "" = us-east-1 */
    char access_key[256];
    char secret_key[256];
    uint64_t part_size;      /* 0 = S3_PART_DEFAULT; files up to it go in one PUT */
    int retries;             /* attempts after the first; <0 = 0 */
    int connect_timeout_s;   /* 0 = 10 */
    int stall_timeout_s;     /* a transfer moving no byte this long fails (and is retried); 0 = 60 */
    int64_t clock_offset_s;  /* tests: sign as if the clock were off by this */
} s3_config;

typedef struct s3 s3;

/* Object facts from HEAD or GET. sha256_b64 is the server's
 * x-amz-checksum-sha256 ("" when it has none; "...-N" for a multipart
 * object's composite checksum). */
typedef struct s3_obj {
    uint64_t size;           /* the object's full size */
    char etag[80];
    char sha256_b64[64];
} s3_obj;

/* Checks the config (endpoint scheme, bucket name) and copies it. NULL
 * with err filled on a bad config or no memory. */
s3 *s3_new(const s3_config *cfg, char *err, size_t errcap);
void s3_free(s3 *s);
const s3_config *s3_get_config(const s3 *s);

/* Uploads the file at path as key. sha256 (may be NULL) is the content's
 * SHA-256 as the caller knows it: sent as the checksum and compared with
 * what is read, so a file that changed since it was verified fails with
 * S3_E_LOCAL instead of being stored. Files larger than the part size go
 * as a multipart upload (aborted on failure, so no part is left billed). */
int s3_put_file(s3 *s, const char *key, const char *path, const uint8_t *sha256,
                char *err, size_t errcap);
/* The same from a regular file open on fd (the caller's, read with
 * pread; opened beneath the store, store_open); name is for messages. */
int s3_put_fd(s3 *s, const char *key, int fd, const char *name, const uint8_t *sha256, char *err,
              size_t errcap);
/* One object from memory (small metadata such as markers). */
int s3_put_buf(s3 *s, const char *key, const void *p, size_t n, char *err, size_t errcap);

/* Receives body bytes in order; non-zero stops (S3_E_SINK). */
typedef int (*s3_sink)(void *ctx, const void *p, size_t n);

/* GETs bytes [off, off+len) of key (len 0 = to the end) into sink. When
 * sha256 is given and the whole object is read, its hash is checked at the
 * end (S3_E_CHECKSUM: the sink has had the bad bytes; the caller discards
 * them). info (may be NULL) gets the object's size and tags. A transfer
 * that breaks is resumed from the byte reached. */
int s3_get(s3 *s, const char *key, uint64_t off, uint64_t len, const uint8_t *sha256,
           s3_sink sink, void *ctx, s3_obj *info, char *err, size_t errcap);
int s3_head(s3 *s, const char *key, s3_obj *info, char *err, size_t errcap);
/* Deleting a key that is not there succeeds (S3 semantics). */
int s3_delete(s3 *s, const char *key, char *err, size_t errcap);
/* Every key under prefix, in key order, pages followed; fn's non-zero
 * return stops the listing (and is returned). */
typedef int (*s3_list_fn)(void *ctx, const char *key, uint64_t size);
int s3_list(s3 *s, const char *prefix, s3_list_fn fn, void *ctx, char *err, size_t errcap);
/* Deletes every key under prefix (list, then one DELETE each). */
int s3_delete_prefix(s3 *s, const char *prefix, char *err, size_t errcap);

/* Is the bucket there and are we allowed in? (a HEAD of the bucket, then
 * a one-key listing for servers that answer HEAD loosely). */
int s3_check(s3 *s, char *err, size_t errcap);

/* Counters since s3_new (for /metrics): requests sent (each attempt),
 * retries among them, operations that failed after their retries, body
 * bytes sent and received. */
typedef struct s3_stats {
    uint64_t requests, retries, failures, bytes_sent, bytes_received;
} s3_stats;
void s3_get_stats(const s3 *s, s3_stats *out);
/* 1 for codes worth a later retry (the server was unreachable, a clock
 * skew may be fixed, a full bucket's quota raised), 0 for those the same
 * request would meet again. */
int s3_retryable(int rc);
/* RFC 3986 encoding of a key for a URL path ('/' kept), as SigV4 wants
 * it: unreserved bytes as they are, every other byte %XX (upper case). */
int s3_encode_key(const char *key, char *out, size_t cap);
#endif
