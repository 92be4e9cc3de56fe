/* objstore.h — [store] backend = s3: the glue between the file store and
 * the S3 client (s3.h). A finished run's files become objects under
 *
 *   <prefix>/<user>/<task_name>/<submitted_at>/<task_id>/<path>
 *
 * (the run layout of the local store, so the bucket is browsable with any
 * S3 tool), and each file record's file_path says where its file lives:
 * an absolute local path, or "s3://<bucket>/<key>". Readers look at the
 * record, not at the configuration, so runs stored before a change of
 * backend stay readable.
 *
 * One client per master process, made by objstore_open at start and read
 * by every thread after (s3 is thread-safe); objstore_close at exit. */
#ifndef CLOUDAI_OBJSTORE_H
#define CLOUDAI_OBJSTORE_H
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "meta.h"
#include "records.h"
#include "s3.h"
#include "tar.h"

/* backend = s3, or a bucket for tiering ([retention] archive_after_days
 * with [store] endpoint and bucket): builds the client (credentials from the config, else
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION) and checks the
 * bucket. 0; -1 with err for a configuration the master should not start
 * with (no bucket, refused credentials, a clock skew); 1 with err when the
 * store is unreachable for now (uploads retry). backend = local: 0. */
int objstore_open(const config *cfg, char *err, size_t errcap);
void objstore_close(void);
/* The client, or NULL when there is no bucket. */
s3 *objstore_s3(void);
/* 1 when new outputs go to the bucket (backend = s3). */
int objstore_backend(void);

/* 1 when a record's file_path names an object. */
int objstore_is_remote(const char *file_path);
/* The key inside "s3://bucket/key" (NULL when path is not one). */
const char *objstore_path_key(const char *file_path);
/* "<prefix>/<user>/<task_name>/<submitted_at>/<task_id>/" */
int objstore_run_prefix(const config *cfg, const task_rec *t, char *out, size_t cap);
/* The record's file_path of a run's file: "s3://bucket/<prefix>/.../name". */
int objstore_file_path(const config *cfg, const task_rec *t, const char *name, char *out,
                       size_t cap);
/* Puts the staged file dir/name as the run's object name (name opened
 * beneath dir without following a link, store_open_in); file_path gets
 * the record's "s3://bucket/key". 0 or an S3_E_* code with err. */
int objstore_put(const config *cfg, const task_rec *t, const char *dir, const char *name,
                 const uint8_t sha256[32], char *file_path, size_t fpcap, char *err,
                 size_t errcap);
/* objstore_put with the bytes read from src (a path; NULL = dir/name). */
int objstore_put_from(const config *cfg, const task_rec *t, const char *dir, const char *name,
                      const char *src, const uint8_t sha256[32], char *file_path, size_t fpcap,
                      char *err, size_t errcap);
/* The keys a run's file records name (collected before the records go,
 * so a removal is atomic for readers: records first, objects after). */
typedef struct objstore_keys {
    char **v;
    size_t n, cap;
    int oom;
} objstore_keys;
int objstore_run_keys(meta *m, const char *task_id, objstore_keys *k);
void objstore_keys_free(objstore_keys *k);
/* Deletes the keys, then anything left under the run's prefix (a crashed
 * upload's objects). 0 or an S3_E_* code with err; S3_E_REFUSED when
 * there are keys but no object store is configured. */
int objstore_delete_run(const config *cfg, const task_rec *t, const objstore_keys *k, char *err,
                        size_t errcap);
/* 1 when the task's files live in the object store (its first record
 * names an object). */
int objstore_task_remote(meta *m, const char *task_id);
/* The run's files (from its records, in name order) as tar entries, as
 * tar_write_tree would write the same tree: names under prefix (NULL or ""
 * = none) with a directory entry for each parent, only sub (a file or a
 * directory; NULL = all), end blocks when end. Each object is read with
 * its record's SHA-256 checked. sink NULL measures (st->archive_bytes).
 * 0 or a TAR_E_* code with err (TAR_E_PATH: sub matches nothing). */
int objstore_write_tar(meta *m, const task_rec *t, const char *sub, const char *prefix, int end,
                       tar_sink sink, void *ctx, tar_stats *st, char *err, size_t errcap);
#endif
