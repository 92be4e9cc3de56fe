/* metadoc.h — the BSON documents of TASKS, FILE_METADATA and WORKERS
 * (DESIGN.md "Metadata"), shared by the journal backend (record bodies) and
 * the MongoDB backend (collection documents), so both store the very same
 * documents. Field names are the seed design's; times are int64 ms; every
 * unsigned count is stored as int64; the status is its name
 * (proto_status_name); sha256 is 64 lowercase hex digits.
 * All functions are reentrant. */
#ifndef CLOUDAI_METADOC_H
#define CLOUDAI_METADOC_H
#include "err.h"   /* METADOC_E_* codes: the meta band of the one error space */
#include <bson/bson.h>
#include <stddef.h>
#include "records.h"

/* Append the record's fields to doc (an initialised, open document, e.g.
 * one started with bson_append_document_begin). METADOC_E_ARG if a string
 * field of the record is not NUL-terminated within its array,
 * METADOC_E_NOMEM if the document grew too large. */
int metadoc_task_to_bson(const task_rec *t, bson_t *doc);
int metadoc_file_to_bson(const file_rec *f, bson_t *doc);
int metadoc_worker_to_bson(const worker_rec *w, bson_t *doc);

/* Fill a record (already initialised by the caller: task_rec_init, or
 * zeroed for files/workers) from doc. Missing fields keep their value;
 * unknown fields (_id...) are ignored; numbers may be int32, int64 or
 * double. A field of the wrong type, a string too long for its array, an
 * unknown status or a bad sha256 is METADOC_E_CORRUPT with the field named
 * in err. For tasks, on failure the caller still task_rec_free's t. */
int metadoc_task_from_bson(const bson_t *doc, task_rec *t, char *err, size_t errcap);
int metadoc_file_from_bson(const bson_t *doc, file_rec *f, char *err, size_t errcap);
int metadoc_worker_from_bson(const bson_t *doc, worker_rec *w, char *err, size_t errcap);

/* Is doc well formed: every element's type known and its length inside
 * its document, strings NUL-terminated, sub-documents and arrays the same
 * down to METADOC_DEPTH_MAX levels (deeper: not ours, refused)? What
 * bson_validate(BSON_VALIDATE_NONE) checks, but the UTF-8 of every key,
 * which was most of its cost (an eighth of a compaction's CPU, as much of
 * a replay's); our keys are our own ASCII, and a damaged one is a field
 * from_bson does not know. 1 or 0. */
#define METADOC_DEPTH_MAX 16
int metadoc_sane(const bson_t *doc);
#endif
