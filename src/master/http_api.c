/* http_api.c — the JSON endpoints: tasks, one task (and its log, pin,
 * file deletion), file records, the latest run of a name, workers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli_int.h"
#include "fsutil.h"
#include "hash.h"
#include "http_int.h"
#include "ids.h"
#include "log.h"
#include "storeread.h"

#define LIST_DEFAULT 100
#define LIST_MAX 10000

/* ---- filters ---------------------------------------------------------------- */

/* Reads the shared filters into q (strings point into the connection's
 * argument table, valid for this request). A non-admin asking for another
 * user's records is refused, not silently narrowed. 0 or an HTTP status
 * with the reply already queued in *ret. */
static int read_filters(http_req *r, meta_query *q, int tasks, enum MHD_Result *ret)
{
    const char *v;
    memset(q, 0, sizeof *q);
    q->task_id = http_arg(r, "task_id");
    q->user_id = http_arg(r, "user_id");
    q->task_name = http_arg(r, "task_name");
    q->pattern = http_arg(r, "pattern");
    if (!tasks && (v = http_arg(r, "name"))) q->pattern = v;
    if (q->user_id && !r->admin && strcmp(q->user_id, r->user)) {
        *ret = http_error(r, MHD_HTTP_FORBIDDEN, "only admins may list other users' records");
        return 403;
    }
    if (!r->admin) q->user_id = r->user;
    if ((v = http_arg(r, "status")) && (q->status = proto_status_parse(v)) < 0) {
        *ret = http_error(r, MHD_HTTP_BAD_REQUEST, "status: '%s' is not one of queued, assigned, "
                          "running, uploading, completed, failed, cancelled", v);
        return 400;
    }
    if (http_arg_time(r, "since", &q->since) < 0 || http_arg_time(r, "until", &q->until) < 0) {
        *ret = http_error(r, MHD_HTTP_BAD_REQUEST, "since/until: use unix seconds, YYYY-MM-DD, "
                          "YYYY-MM-DDTHH:MM:SSZ or an age like 7d");
        return 400;
    }
    q->limit = LIST_DEFAULT;
    if ((v = http_arg(r, "limit"))) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno || *end || v[0] < '0' || v[0] > '9' || n < 1 || n > LIST_MAX) {
            *ret = http_error(r, MHD_HTTP_BAD_REQUEST, "limit: an integer in 1..%d", LIST_MAX);
            return 400;
        }
        q->limit = (size_t)n;
    }
    return 0;
}

/* ---- GET /api/tasks ------------------------------------------------------------- */

/* The cursor is "<submitted_at ms>.<task_id>" of the last row returned:
 * the next page asks the store for rows at or before that time (newest
 * first) and skips up to and including that row, so pages neither repeat
 * nor miss rows when tasks are added meanwhile. */
typedef struct task_page {
    http_req *r;
    http_json *j;
    uint64_t cur_ts;
    char cur_id[64];
    int skipping;
    size_t want, n;
    uint64_t last_ts;
    char last_id[64];
    int more;
} task_page;

static int page_task(void *ctx, const task_rec *t)
{
    task_page *p = ctx;
    if (p->skipping) {
        if (t->submitted_at == p->cur_ts) {
            if (!strcmp(t->task_id, p->cur_id)) p->skipping = 0;
            return 0;
        }
        p->skipping = 0;
    }
    if (p->n == p->want) {
        p->more = 1;
        return 1;
    }
    http_json_task(p->r, &p->j->w, t);
    p->n++;
    p->last_ts = t->submitted_at;
    snprintf(p->last_id, sizeof p->last_id, "%s", t->task_id);
    return 0;
}

enum MHD_Result http_api_tasks(http_req *r)
{
    meta_query q;
    enum MHD_Result ret;
    http_json j;
    task_page p = {0};
    const char *cur = http_arg(r, "cursor");
    if (read_filters(r, &q, 1, &ret)) return ret;
    if (cur) {
        char *dot;
        errno = 0;
        p.cur_ts = strtoull(cur, &dot, 10);
        if (errno || *dot != '.' || strlen(dot + 1) >= sizeof p.cur_id || !dot[1])
            return http_error(r, MHD_HTTP_BAD_REQUEST, "cursor: pass next_cursor unchanged");
        snprintf(p.cur_id, sizeof p.cur_id, "%s", dot + 1);
        p.skipping = 1;
        if (!q.until || q.until > p.cur_ts + 1) q.until = p.cur_ts + 1;
    }
    p.want = q.limit;
    q.limit = 0;            /* the callback stops the walk */
    q.newest_first = 1;
    if (http_json_begin(&j) < 0) return MHD_NO;
    p.r = r;
    p.j = &j;
    jsonw_object_begin(&j.w);
    jsonw_key(&j.w, "tasks");
    jsonw_array_begin(&j.w);
    /* A stalled store costs at most STOREREAD_WAIT_MS; then the tasks the
     * master holds in memory, with the same note as over TCP. */
    int degraded = 0;
    char note[256] = "";
    int rc = storeread_tasks(r->h->cl, &q, STOREREAD_WAIT_MS, page_task, &p, &degraded, note,
                             sizeof note);
    jsonw_array_end(&j.w);
    if (degraded) {
        jsonw_key(&j.w, "degraded");
        jsonw_str(&j.w, note);
    }
    jsonw_key(&j.w, "next_cursor");
    if (p.more) {
        char buf[96];
        snprintf(buf, sizeof buf, "%llu.%s", (unsigned long long)p.last_ts, p.last_id);
        jsonw_str(&j.w, buf);
    } else {
        jsonw_null(&j.w);
    }
    jsonw_object_end(&j.w);
    if (rc < 0) {
        fclose(j.f);
        free(j.buf);
        return http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "metadata store unavailable (%d)", rc);
    }
    return http_json_send(r, &j, MHD_HTTP_OK);
}

/* ---- GET /api/files ---------------------------------------------------------------- */

typedef struct file_list {
    http_req *r;
    jsonw *w;
    size_t n;
} file_list;

static void json_file(jsonw *w, const file_rec *f)
{
    jsonw_object_begin(w);
    recjson_file_fields(w, f, 0);
    jsonw_object_end(w);
}

static int list_file(void *ctx, const file_rec *f)
{
    file_list *l = ctx;
    json_file(l->w, f);
    l->n++;
    return 0;
}

enum MHD_Result http_api_files(http_req *r)
{
    meta_query q;
    enum MHD_Result ret;
    http_json j;
    if (read_filters(r, &q, 0, &ret)) return ret;
    if (http_json_begin(&j) < 0) return MHD_NO;
    file_list l = {r, &j.w, 0};
    jsonw_object_begin(&j.w);
    jsonw_key(&j.w, "files");
    jsonw_array_begin(&j.w);
    int rc = meta_files_find(r->h->m, &q, list_file, &l);
    jsonw_array_end(&j.w);
    jsonw_object_end(&j.w);
    if (rc < 0) {
        fclose(j.f);
        free(j.buf);
        return http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "metadata store unavailable (%d)", rc);
    }
    return http_json_send(r, &j, MHD_HTTP_OK);
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
    if (user && !r->admin && strcmp(user, r->user))
        return http_error(r, MHD_HTTP_FORBIDDEN, "only admins may see other users' runs");
    task_rec_init(&l.t);
    l.found = 0;
    q.task_name = name;
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
    cli_json_worker(ctx, wr);
    return 0;
}

enum MHD_Result http_api_workers(http_req *r)
{
    http_json j;
    if (http_json_begin(&j) < 0) return MHD_NO;
    jsonw_object_begin(&j.w);
    jsonw_key(&j.w, "workers");
    jsonw_array_begin(&j.w);
    cluster_workers(r->h->cl, list_worker, &j.w);
    jsonw_array_end(&j.w);
    jsonw_object_end(&j.w);
    return http_json_send(r, &j, MHD_HTTP_OK);
}

/* ---- /api/tasks/{id}[/...] ---------------------------------------------------------------- */

static enum MHD_Result task_log(http_req *r, const task_rec *t)
{
    char path[CONFIG_PATH_MAX + 128], *text = NULL;
    size_t len = 0;
    cluster_log_path(r->h->cl, t->task_id, path, sizeof path);
    fsutil_read_file(path, &text, &len, 65536);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        text ? len : 0, text ? text : (void *)"", text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) { free(text); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(resp, "Content-Security-Policy", "sandbox");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return http_queue(r, MHD_HTTP_OK, resp);
}

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
        ret = task_log(r, &t);
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
