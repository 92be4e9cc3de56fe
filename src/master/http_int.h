/* http_int.h — what the http_*.c files share (not a public header). One
 * http_req per request, on the handling thread's stack; handlers fill a
 * libmicrohttpd response and queue it through the helpers here. */
#ifndef CLOUDAI_HTTP_INT_H
#define CLOUDAI_HTTP_INT_H
#include <microhttpd.h>
#include <stdio.h>
#include "jsonw.h"
#include "recjson.h"
#include "http.h"

struct http_server {
    struct MHD_Daemon *d;
    const config *cfg;
    cluster *cl;
    meta *m;
    retention *rt;
    int open;                 /* no tokens configured: everyone is an admin */
    volatile int stopping;    /* live streams end (http_stop) */
};

typedef struct http_req {
    http_server *h;
    struct MHD_Connection *c;
    const char *method;
    const char *path;         /* decoded URL path */
    char user[64];
    int admin;
} http_req;

/* A JSON body under construction (jsonw over open_memstream). */
typedef struct http_json {
    FILE *f;
    char *buf;
    size_t len;
    jsonw w;
} http_json;

int http_json_begin(http_json *j);
/* Sends the body with status; frees j. Returns an MHD_Result. */
enum MHD_Result http_json_send(http_req *r, http_json *j, unsigned status);
/* {"error": msg, "status": N} */
enum MHD_Result http_error(http_req *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Queues resp with the security headers every answer carries; destroys it. */
enum MHD_Result http_queue(http_req *r, unsigned status, struct MHD_Response *resp);
const char *http_arg(http_req *r, const char *name);   /* query parameter or NULL */
/* Parses a time parameter (unix seconds, ISO date/time, "7d" ago); 0 or -1. */
int http_arg_time(http_req *r, const char *name, uint64_t *out_ms);

/* The task if the requester may see it: 0, 404 (none, or not yours). */
int http_task_get(http_req *r, const char *task_id, task_rec *out);
/* Task JSON with retention fields (pinned, expires_at). */
void http_json_task(http_req *r, jsonw *w, const task_rec *t);

/* Handlers (http_api.c, http_file.c, http_archive.c, http_metrics.c, http_web.c). */
enum MHD_Result http_api_tasks(http_req *r);
enum MHD_Result http_api_task(http_req *r, const char *id, const char *rest);
enum MHD_Result http_api_files(http_req *r);
enum MHD_Result http_api_latest(http_req *r, const char *name);
enum MHD_Result http_api_workers(http_req *r);
enum MHD_Result http_file_get(http_req *r, const char *task_id, const char *relpath);
enum MHD_Result http_archive_task(http_req *r, const task_rec *t);
enum MHD_Result http_log_task(http_req *r, const task_rec *t);
enum MHD_Result http_archive_name(http_req *r);
enum MHD_Result http_metrics(http_req *r);
enum MHD_Result http_web(http_req *r);
#endif
