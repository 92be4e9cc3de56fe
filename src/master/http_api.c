/* http_api.c — the JSON endpoints: tasks, one task (and its log, pin,
 * file deletion), file records, the latest run of a name, workers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fsutil.h"
#include "hash.h"
#include "catalog.h"
#include "http_int.h"
#include "ids.h"
#include "log.h"
#include "recjson.h"
#include "storeread.h"

/* ---- listings (the catalog decides who sees what, and pages) ------------------- */

/* Reads the listing parameters into rq (strings point into the
 * connection's argument table, valid for this request). 0, or -1 with a
 * 400 reply queued in *ret. */
static int read_req(http_req *r, catalog_req *rq, int tasks, enum MHD_Result *ret)
{
    const char *v;
    memset(rq, 0, sizeof *rq);
    rq->task_id = http_arg(r, "task_id");
    rq->user_id = http_arg(r, "user_id");
    rq->worker_id = http_arg(r, "worker_id");
    if (tasks) rq->array_id = http_arg(r, "array_id");
    rq->task_name = http_arg(r, "task_name");
    rq->pattern = http_arg(r, "pattern");
    rq->cursor = http_arg(r, "cursor");
    if (!tasks && (v = http_arg(r, "name"))) rq->pattern = v;
    if ((v = http_arg(r, "status")) && (rq->status = proto_status_parse(v)) < 0) {
        *ret = http_error(r, MHD_HTTP_BAD_REQUEST, "status: '%s' is not one of queued, assigned, "
                          "running, uploading, completed, failed, cancelled", v);
        return -1;
    }
    if (http_arg_time(r, "since", &rq->since) < 0 || http_arg_time(r, "until", &rq->until) < 0) {
        *ret = http_error(r, MHD_HTTP_BAD_REQUEST, "since/until: use unix seconds, YYYY-MM-DD, "
                          "YYYY-MM-DDTHH:MM:SSZ or an age like 7d");
        return -1;
    }
    if ((v = http_arg(r, "limit"))) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno || *end || v[0] < '0' || v[0] > '9' || n < 1 || n > CATALOG_PAGE_MAX) {
            *ret = http_error(r, MHD_HTTP_BAD_REQUEST, "limit: an integer in 1..%d (follow "
                              "next_cursor for more)", CATALOG_PAGE_MAX);
            return -1;
        }
        rq->limit = (size_t)n;
    }
    return 0;
}

static enum MHD_Result list_refused(http_req *r, int rc, const catalog_page *pg)
{
    unsigned st = rc == CATALOG_E_FORBIDDEN ? MHD_HTTP_FORBIDDEN
                : rc == CATALOG_E_ARG ? MHD_HTTP_BAD_REQUEST
                : rc == CATALOG_E_UNAVAIL ? MHD_HTTP_SERVICE_UNAVAILABLE
                : MHD_HTTP_INTERNAL_SERVER_ERROR;
    return http_error(r, st, "%s", pg->err[0] ? pg->err : "out of memory");
}

/* The page's tail: "next_cursor" (null on the last page) and, when the
 * answer came from memory, "degraded": why. */
static void list_tail(jsonw *w, const catalog_page *pg)
{
    jsonw_key(w, "next_cursor");
    if (pg->next_cursor[0]) jsonw_str(w, pg->next_cursor);
    else jsonw_null(w);
    if (pg->degraded) {
        jsonw_key(w, "degraded");
        jsonw_str(w, pg->note);
    }
}

typedef struct page_out {
    http_req *r;
    jsonw *w;
} page_out;

static int page_task(void *ctx, const task_rec *t, uint64_t expires_at)
{
    page_out *o = ctx;
    (void)expires_at;          /* http_json_task adds it with "pinned" */
    http_json_task(o->r, o->w, t);
    return 0;
}

static int page_file(void *ctx, const file_rec *f, uint64_t expires_at)
{
    page_out *o = ctx;
    jsonw_object_begin(o->w);
    recjson_file_fields(o->w, f, 0);
    if (o->r->h->rt) recjson_time(o->w, "expires_at", expires_at);   /* null = never */
    jsonw_object_end(o->w);
    return 0;
}

/* GET /api/tasks and GET /api/files: one page each. */
static enum MHD_Result api_list(http_req *r, int tasks)
{
    catalog cat = { r->h->m, r->h->cl, r->h->rt };
    catalog_who who = { r->user, r->admin };
    catalog_req rq;
    enum MHD_Result ret;
    http_json j;
    catalog_page *pg = malloc(sizeof *pg);
    if (!pg) return MHD_NO;
    if (read_req(r, &rq, tasks, &ret)) goto out;
    if (http_json_begin(&j) < 0) { ret = MHD_NO; goto out; }
    page_out o = { r, &j.w };
    jsonw_object_begin(&j.w);
    jsonw_key(&j.w, tasks ? "tasks" : "files");
    jsonw_array_begin(&j.w);
    int rc = tasks ? catalog_tasks(&cat, &who, &rq, page_task, &o, pg)
                   : catalog_files(&cat, &who, &rq, page_file, &o, pg);
    jsonw_array_end(&j.w);
    list_tail(&j.w, pg);
    jsonw_object_end(&j.w);
    if (rc != CATALOG_OK) {
        fclose(j.f);
        free(j.buf);
        ret = list_refused(r, rc, pg);
        goto out;
    }
    ret = http_json_send(r, &j, MHD_HTTP_OK);
out:
    free(pg);
    return ret;
}

enum MHD_Result http_api_tasks(http_req *r)
{
    return api_list(r, 1);
}

enum MHD_Result http_api_files(http_req *r)
{
    return api_list(r, 0);
}

typedef struct file_list {
    http_req *r;
    jsonw *w;
    size_t n;
} file_list;

static int list_file(void *ctx, const file_rec *f)
{
    file_list *l = ctx;
    jsonw_object_begin(l->w);
    recjson_file_fields(l->w, f, 0);
    jsonw_object_end(l->w);
    l->n++;
    return 0;
}

/* ---- GET /api/names/{name}/latest -------------------------------------------------- */

typedef struct latest {
    task_rec t;
    int found;
} latest;

static int keep_first_stored(void *ctx, const task_rec *t)
{
    latest *l = ctx;
    if (t->status != PROTO_ST_COMPLETED && t->status != PROTO_ST_FAILED &&
        t->status != PROTO_ST_CANCELLED)
        return 0;
    l->found = task_rec_copy(&l->t, t) == 0;
    return 1;
}

enum MHD_Result http_api_latest(http_req *r, const char *name)
{
    meta_query q = {0};
    latest l;
    http_json j;
    const char *user = http_arg(r, "user_id");
    catalog_who who = { r->user, r->admin };
    if (catalog_may_see(&who, user) != CATALOG_OK)
        return http_error(r, MHD_HTTP_FORBIDDEN, "only admins may see other users' runs");
    char norm[IDS_NAME_MAX + 1];
    task_rec_init(&l.t);
    l.found = 0;
    ids_sanitize(name, norm, sizeof norm);          /* as at submit */
    q.task_name = norm;
    q.user_id = r->admin ? user : r->user;
    q.newest_first = 1;
    if (meta_tasks_find(r->h->m, &q, keep_first_stored, &l) < 0)
        return http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "metadata store unavailable");
    if (!l.found) return http_error(r, MHD_HTTP_NOT_FOUND, "no finished run named '%s'", name);
    if (http_json_begin(&j) < 0) { task_rec_free(&l.t); return MHD_NO; }
    jsonw_object_begin(&j.w);
    jsonw_key(&j.w, "task");
    http_json_task(r, &j.w, &l.t);
    jsonw_key(&j.w, "files");
    jsonw_array_begin(&j.w);
    file_list fl = {r, &j.w, 0};
    meta_query fq = {0};
    fq.task_id = l.t.task_id;
    meta_files_find(r->h->m, &fq, list_file, &fl);
    jsonw_array_end(&j.w);
    jsonw_object_end(&j.w);
    task_rec_free(&l.t);
    return http_json_send(r, &j, MHD_HTTP_OK);
}

/* ---- GET /api/workers ------------------------------------------------------------------ */

static int list_worker(void *ctx, const worker_rec *wr)
{
    jsonw_object_begin(ctx);
    recjson_worker_fields(ctx, wr);
    jsonw_object_end(ctx);
    return 0;
}

enum MHD_Result http_api_workers(http_req *r)
{
    http_json j;
    if (http_json_begin(&j) < 0) return MHD_NO;
    jsonw_object_begin(&j.w);
    jsonw_key(&j.w, "workers");
    jsonw_array_begin(&j.w);
    catalog cat = { r->h->m, r->h->cl, r->h->rt };
    catalog_who who = { r->user, r->admin };
    catalog_workers(&cat, &who, list_worker, &j.w);
    jsonw_array_end(&j.w);
    jsonw_object_end(&j.w);
    return http_json_send(r, &j, MHD_HTTP_OK);
}

/* ---- /api/tasks/{id}[/...] ---------------------------------------------------------------- */

static enum MHD_Result task_delete_files(http_req *r, const task_rec *t)
{
    char err[1024];
    int rc = retention_remove_run(r->h->cfg, r->h->m, t, err, sizeof err);
    if (rc == RETENTION_E_STATE) return http_error(r, MHD_HTTP_CONFLICT, "%s", err);
    if (rc < 0) {
        log_error("http: delete files of %s: %s", t->task_id, err);
        return http_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
    }
    log_info("http: %s deleted the files of task %s (%llu files, %llu bytes)", r->user, t->task_id,
             (unsigned long long)t->output_files, (unsigned long long)t->output_bytes);
    http_json j;
    if (http_json_begin(&j) < 0) return MHD_NO;
    jsonw_object_begin(&j.w);
    jsonw_key(&j.w, "task_id"); jsonw_str(&j.w, t->task_id);
    jsonw_key(&j.w, "deleted_files"); jsonw_u64(&j.w, t->output_files);
    jsonw_key(&j.w, "deleted_bytes"); jsonw_u64(&j.w, t->output_bytes);
    jsonw_object_end(&j.w);
    return http_json_send(r, &j, MHD_HTTP_OK);
}

static enum MHD_Result task_pin(http_req *r, const task_rec *t, int pin)
{
    char err[512];
    if (!r->h->rt) return http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "retention is not running");
    if (retention_pin(r->h->rt, t->task_id, pin, err, sizeof err) < 0)
        return http_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
    http_json j;
    if (http_json_begin(&j) < 0) return MHD_NO;
    http_json_task(r, &j.w, t);
    return http_json_send(r, &j, MHD_HTTP_OK);
}

enum MHD_Result http_api_task(http_req *r, const char *id, const char *rest)
{
    task_rec t;
    enum MHD_Result ret;
    int get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
    int del = !strcmp(r->method, "DELETE"), post = !strcmp(r->method, "POST");
    task_rec_init(&t);
    if (http_task_get(r, id, &t)) {
        ret = http_error(r, MHD_HTTP_NOT_FOUND, "no task %s", id);
        goto out;
    }
    if (!*rest && get) {
        http_json j;
        if (http_json_begin(&j) < 0) { ret = MHD_NO; goto out; }
        http_json_task(r, &j.w, &t);
        ret = http_json_send(r, &j, MHD_HTTP_OK);
    } else if (!strcmp(rest, "log") && get) {
        ret = http_log_task(r, &t);
    } else if (!strcmp(rest, "archive") && get) {
        ret = http_archive_task(r, &t);
    } else if (!strcmp(rest, "files") && del) {
        ret = task_delete_files(r, &t);
    } else if (!strcmp(rest, "pin") && (post || del)) {
        ret = task_pin(r, &t, post);
    } else if (!*rest || !strcmp(rest, "log") || !strcmp(rest, "archive") ||
               !strcmp(rest, "files") || !strcmp(rest, "pin")) {
        ret = http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "%s not allowed on %s", r->method, r->path);
    } else {
        ret = http_error(r, MHD_HTTP_NOT_FOUND, "no such endpoint: %s", r->path);
    }
out:
    task_rec_free(&t);
    return ret;
}
