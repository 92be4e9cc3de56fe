/* recjson.h — the JSON form of the metadata records (DESIGN.md field
 * names), shared by the client's --json listings and the HTTP API so both
 * print the same documents (README "Record fields"; test_schema checks
 * that wire, BSON and JSON name the same fields). Each writes the fields
 * only: the caller opens and closes the object, so it can add its own (expires_at, pinned).
 * Times are unix milliseconds, null when not set. */
#ifndef CLOUDAI_RECJSON_H
#define CLOUDAI_RECJSON_H
#include "jsonw.h"
#include "records.h"

void recjson_time(jsonw *w, const char *key, uint64_t ms);
void recjson_task_fields(jsonw *w, const task_rec *t);
/* with_path 0 leaves out file_path (the HTTP API does not reveal
 * the master's directories). */
void recjson_file_fields(jsonw *w, const file_rec *f, int with_path);
void recjson_worker_fields(jsonw *w, const worker_rec *r);
#endif
