/* http.c — the HTTP server (http.h): libmicrohttpd daemon, routing,
 * authentication and the reply helpers the handlers share.
 *
 * Why libmicrohttpd: HTTP/1.1 parsing (chunked bodies, pipelining, header
 * folding, Range-free streaming, HEAD) is where hand-written servers grow
 * request-smuggling and overflow bugs; GNU libmicrohttpd is small, fuzzed,
 * packaged by Debian, and lets the handlers stream from a file descriptor
 * or a callback without buffering a response. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "hash.h"
#include "http_int.h"
#include "ids.h"
#include "log.h"

/* ---- reply helpers ----------------------------------------------------------- */

int http_json_begin(http_json *j)
{
    memset(j, 0, sizeof *j);
    if (!(j->f = open_memstream(&j->buf, &j->len))) return -1;
    jsonw_init(&j->w, j->f);
    return 0;
}

enum MHD_Result http_queue(http_req *r, unsigned status, struct MHD_Response *resp)
{
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    enum MHD_Result rc = MHD_queue_response(r->c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

enum MHD_Result http_json_send(http_req *r, http_json *j, unsigned status)
{
    fputc('\n', j->f);
    if (fclose(j->f) != 0) {
        free(j->buf);
        return MHD_NO;
    }
    /* A tag of the body, so the web page can poll running tasks with
     * If-None-Match and get an empty 304 while nothing changed. */
    char etag[40] = "";
    if (status == MHD_HTTP_OK) {
        uint8_t d[32];
        hash_sha256_buf(j->buf, j->len, d);
        etag[0] = '"';
        hash_hex(d, 16, etag + 1);
        strcat(etag, "\"");
        const char *inm = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "If-None-Match");
        if (inm && strstr(inm, etag)) {
            free(j->buf);
            struct MHD_Response *nm = MHD_create_response_from_buffer(0, (void *)"",
                                                                      MHD_RESPMEM_PERSISTENT);
            if (!nm) return MHD_NO;
            MHD_add_response_header(nm, "ETag", etag);
            MHD_add_response_header(nm, "Cache-Control", "no-cache");
            return http_queue(r, MHD_HTTP_NOT_MODIFIED, nm);
        }
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(j->len, j->buf, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(j->buf);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
    if (etag[0]) {
        MHD_add_response_header(resp, "ETag", etag);
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
    } else {
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    }
    return http_queue(r, status, resp);
}

enum MHD_Result http_error(http_req *r, unsigned status, const char *fmt, ...)
{
    char msg[1024];
    http_json j;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (http_json_begin(&j) < 0) return MHD_NO;
    jsonw_object_begin(&j.w);
    jsonw_key(&j.w, "error"); jsonw_str(&j.w, msg);
    jsonw_key(&j.w, "status"); jsonw_u64(&j.w, status);
    jsonw_object_end(&j.w);
    if (status == MHD_HTTP_UNAUTHORIZED) {
        fputc('\n', j.f);
        fclose(j.f);
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(j.len, j.buf, MHD_RESPMEM_MUST_FREE);
        if (!resp) { free(j.buf); return MHD_NO; }
        MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"cloudai\"");
        return http_queue(r, status, resp);
    }
    return http_json_send(r, &j, status);
}

const char *http_arg(http_req *r, const char *name)
{
    const char *v = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, name);
    return v && *v ? v : NULL;
}

int http_arg_time(http_req *r, const char *name, uint64_t *out_ms)
{
    const char *v = http_arg(r, name);
    if (!v) return 0;
    return ids_parse_time(v, ids_now_ms(), out_ms) < 0 ? -1 : 0;
}

int http_task_get(http_req *r, const char *task_id, task_rec *out)
{
    if (strlen(task_id) >= sizeof out->task_id) return 404;
    return cluster_task_for_user(r->h->cl, task_id, r->user, r->admin, out) ? 404 : 0;
}

void http_json_task(http_req *r, jsonw *w, const task_rec *t)
{
    jsonw_object_begin(w);
    recjson_task_fields(w, t);
    jsonw_key(w, "pinned"); jsonw_bool(w, r->h->rt && retention_is_pinned(r->h->rt, t->task_id));
    recjson_time(w, "expires_at", r->h->rt ? retention_expires_at(r->h->rt, t) : 0);
    /* Queued: when the scheduler expects it to start, how long such tasks
     * ran and their peak memory (null = not projected / no history). */
    uint64_t es = 0, ps = 0, pm = 0;
    if (t->status == PROTO_ST_QUEUED && r->h->cl)
        cluster_expected(r->h->cl, t->task_id, &es, &ps, &pm);
    recjson_time(w, "expected_start", es);
    jsonw_key(w, "predicted_runtime_s");
    if (ps) jsonw_u64(w, ps);
    else jsonw_null(w);
    jsonw_key(w, "predicted_mem_peak");
    if (pm) jsonw_u64(w, pm);
    else jsonw_null(w);
    jsonw_object_end(w);
}

/* ---- authentication ----------------------------------------------------------------- */

/* 0 = authenticated (r->user, r->admin set), else an HTTP status. Token
 * comparison hashes both sides first so its time does not depend on
 * where they differ, nor on the stored token's length. */
static int authenticate(http_req *r)
{
    if (r->h->open) {
        snprintf(r->user, sizeof r->user, "local");
        r->admin = 1;
        return 0;
    }
    const char *a = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Authorization");
    if (!a || strncasecmp(a, "Bearer ", 7)) return MHD_HTTP_UNAUTHORIZED;
    a += 7;
    while (*a == ' ') a++;
    uint8_t got[32], want[32];
    hash_sha256_buf(a, strlen(a), got);
    const config_user *found = NULL;
    for (int i = 0; i < r->h->cfg->nusers; i++) {
        const config_user *u = &r->h->cfg->users[i];
        hash_sha256_buf(u->token, strlen(u->token), want);
        if (hash_equal(got, want, 32) && !found) found = u;
    }
    if (!found) return MHD_HTTP_UNAUTHORIZED;
    snprintf(r->user, sizeof r->user, "%s", found->name);
    r->admin = found->admin;
    return 0;
}

/* ---- routing ------------------------------------------------------------------------- */

/* Splits "a/b/rest": copies the first segment into seg, returns the rest
 * (after the slash) or "" . NULL if the segment does not fit. */
static const char *segment(const char *p, char *seg, size_t cap)
{
    const char *s = strchr(p, '/');
    size_t n = s ? (size_t)(s - p) : strlen(p);
    if (n >= cap) return NULL;
    memcpy(seg, p, n);
    seg[n] = 0;
    return s ? s + 1 : p + n;
}

static enum MHD_Result route(http_req *r)
{
    const char *p = r->path;
    int get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
    char seg[256];

    if (strncmp(p, "/api/", 5) && strcmp(p, "/metrics")) {
        if (!get) return http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET here");
        return http_web(r);
    }
    int st = authenticate(r);
    if (st) return http_error(r, st, "a valid 'Authorization: Bearer <user token>' is required");
    if (!strcmp(p, "/metrics")) {
        if (!r->admin) return http_error(r, MHD_HTTP_FORBIDDEN, "metrics are for admins");
        return get ? http_metrics(r) : http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only");
    }
    p += 5;
    if (!strcmp(p, "tasks") || !strcmp(p, "tasks/")) {
        return get ? http_api_tasks(r) : http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only");
    }
    if (!strncmp(p, "tasks/", 6)) {
        const char *rest = segment(p + 6, seg, sizeof seg);
        if (!rest || !seg[0]) return http_error(r, MHD_HTTP_NOT_FOUND, "no such task");
        return http_api_task(r, seg, rest);
    }
    if (!get) return http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only");
    if (!strcmp(p, "files")) return http_api_files(r);
    if (!strncmp(p, "files/", 6)) {
        const char *rest = segment(p + 6, seg, sizeof seg);
        if (!rest || !seg[0] || !*rest)
            return http_error(r, MHD_HTTP_BAD_REQUEST, "use /api/files/TASK_ID/PATH");
        return http_file_get(r, seg, rest);
    }
    if (!strcmp(p, "archive")) return http_archive_name(r);
    if (!strncmp(p, "names/", 6)) {
        const char *rest = segment(p + 6, seg, sizeof seg);
        if (rest && seg[0] && !strcmp(rest, "latest")) return http_api_latest(r, seg);
        return http_error(r, MHD_HTTP_NOT_FOUND, "use /api/names/TASK_NAME/latest");
    }
    if (!strcmp(p, "whoami")) {
        /* Who the token belongs to: the web page's "signed in as". */
        http_json j;
        if (http_json_begin(&j) < 0) return MHD_NO;
        jsonw_object_begin(&j.w);
        jsonw_key(&j.w, "user_id"); jsonw_str(&j.w, r->user);
        jsonw_key(&j.w, "admin"); jsonw_bool(&j.w, r->admin);
        jsonw_key(&j.w, "open"); jsonw_bool(&j.w, r->h->open);
        jsonw_object_end(&j.w);
        return http_json_send(r, &j, MHD_HTTP_OK);
    }
    if (!strcmp(p, "workers")) {
        /* Every user, as `cloudai workers` (catalog.h). */
        return http_api_workers(r);
    }
    return http_error(r, MHD_HTTP_NOT_FOUND, "no such endpoint: %s", r->path);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    static int first;
    /* First call: headers only. Bodies are not accepted by any endpoint,
     * so whatever arrives is dropped unread. */
    if (!*con_cls) {
        *con_cls = &first;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    http_req r = {0};
    r.h = cls;
    r.c = c;
    r.method = method;
    r.path = url;
    return route(&r);
}

http_server *http_start(const config *cfg, cluster *cl, retention *rt, char *bound,
                        size_t boundcap, char *err, size_t errcap)
{
    char host[256];
    const char *colon = strrchr(cfg->http_listen, ':');
    http_server *h = NULL;
    struct sockaddr_in sa;
    if (!colon || (size_t)(colon - cfg->http_listen) >= sizeof host) {
        snprintf(err, errcap, "[http] listen '%s' is not host:port", cfg->http_listen);
        return NULL;
    }
    memcpy(host, cfg->http_listen, (size_t)(colon - cfg->http_listen));
    host[colon - cfg->http_listen] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (*end || port < 0 || port > 65535 ||
        inet_pton(AF_INET, !host[0] || !strcmp(host, "*") ? "0.0.0.0" :
                  !strcmp(host, "localhost") ? "127.0.0.1" : host, &sa.sin_addr) != 1) {
        snprintf(err, errcap, "[http] listen '%s': need an IPv4 address and a port",
                 cfg->http_listen);
        return NULL;
    }
    if (!(h = calloc(1, sizeof *h))) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    h->cfg = cfg;
    h->cl = cl;
    h->m = cluster_meta(cl);
    h->rt = rt;
    h->open = cfg->nusers == 0 && !cfg->cluster_token[0];
    /* One thread per connection: handlers block on disk reads and on the
     * archive producer's pipe without stalling anyone else. */
    h->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                            MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout_s,
                            MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errcap, "cannot listen on %s for HTTP: %s", cfg->http_listen,
                 strerror(errno));
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(bound, boundcap, "%s:%u", host[0] ? host : "0.0.0.0", di ? di->port : (unsigned)port);
    return h;
}

void http_stop(http_server *h)
{
    if (!h) return;
    h->stopping = 1;
    MHD_stop_daemon(h->d);
    free(h);
}
