/* http_logs.c — GET /api/tasks/{id}/log: the task's whole log as
 * text/plain, or with ?follow=1 a live stream of it as server-sent events
 * (text/event-stream) until the task ends.
 *
 * Events: "log" (data: the new complete lines, one "data:" line each;
 * id: the log offset after them, so a client that reconnects with
 * Last-Event-ID resumes there without duplicates), "restart" (the task
 * started another attempt: its log starts over), "end" (data: JSON with
 * status, exit_code, log_size, cut). A comment line every 15 s keeps idle
 * proxies from closing the stream. At most SSE_MAX streams are open at
 * once (503 beyond), each holding one connection thread of the HTTP
 * server, which waits on the logbook (no disk polling). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "http_int.h"
#include "logbook.h"

#define SSE_MAX 64
#define SSE_READ (64 * 1024)      /* log bytes turned into one event */
#define SSE_LINE_MAX (64 * 1024)  /* a longer line is sent in pieces */
#define SSE_KEEPALIVE_S 15
#define SSE_LATE_S 30             /* how long to wait for a log's last bytes after the end */

static atomic_int sse_open;

typedef struct sse {
    http_server *h;
    char task_id[64];
    char user[64];
    int admin;
    uint64_t off;                 /* log bytes read */
    uint64_t attempt;             /* UINT64_MAX until known */
    char *part;                   /* the partial last line read */
    size_t plen;
    char *out;                    /* the event being sent */
    size_t olen, opos, ocap;
    int done;
    time_t ended_at;              /* monotonic s when the task was first seen ended */
} sse;

static time_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static int ended(int status)
{
    return status == PROTO_ST_UPLOADING || status == PROTO_ST_COMPLETED ||
           status == PROTO_ST_FAILED || status == PROTO_ST_CANCELLED;
}

static int out_put(sse *s, const char *p, size_t n)
{
    if (s->olen + n + 1 > s->ocap) {
        size_t cap = s->ocap ? s->ocap : 4096;
        while (cap < s->olen + n + 1) cap *= 2;
        char *np = realloc(s->out, cap);
        if (!np) return -1;
        s->out = np;
        s->ocap = cap;
    }
    memcpy(s->out + s->olen, p, n);
    s->olen += n;
    s->out[s->olen] = 0;
    return 0;
}

static int out_str(sse *s, const char *str)
{
    return out_put(s, str, strlen(str));
}

/* "data: <line>\n" (a CR inside ends an SSE line: it becomes a break). */
static int out_line(sse *s, const char *p, size_t n)
{
    if (out_str(s, "data: ") < 0) return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r') {
            if (i + 1 < n && out_str(s, "\ndata: ") < 0) return -1;
            continue;
        }
        if (out_put(s, p + i, 1) < 0) return -1;
    }
    return out_str(s, "\n");
}

/* Appends the complete lines of part+data as one "log" event; the rest
 * stays in part. Returns 1 if an event was produced. */
static int make_log_event(sse *s, const char *data, size_t n, int flush)
{
    int lines = 0;
    char id[64];
    size_t start = s->olen;
    if (out_str(s, "event: log\n") < 0) return -1;
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (c == '\n') {
            if (out_line(s, s->part, s->plen) < 0) return -1;
            s->plen = 0;
            lines++;
        } else {
            if (s->plen == SSE_LINE_MAX) {
                if (out_line(s, s->part, s->plen) < 0) return -1;
                s->plen = 0;
                lines++;
            }
            s->part[s->plen++] = c;
        }
    }
    if (flush && s->plen) {
        if (out_line(s, s->part, s->plen) < 0) return -1;
        s->plen = 0;
        lines++;
    }
    if (!lines) {
        s->olen = start;
        return 0;
    }
    snprintf(id, sizeof id, "id: %llu\n\n", (unsigned long long)(s->off - s->plen));
    return out_str(s, id) < 0 ? -1 : 1;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse *s = cls;
    logbook *lb = cluster_logbook(s->h->cl);
    char path[CONFIG_PATH_MAX + 128];
    (void)pos;
    if (s->opos < s->olen) goto give;
    s->olen = s->opos = 0;
    if (s->done) return MHD_CONTENT_READER_END_OF_STREAM;
    char *rd = malloc(SSE_READ);
    if (!rd) return MHD_CONTENT_READER_END_WITH_ERROR;
    for (int waited = 0; ; waited++) {
        task_rec t;
        uint64_t gen = logbook_gen(lb);
        if (s->h->stopping) {
            free(rd);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        task_rec_init(&t);
        if (cluster_task_for_user(s->h->cl, s->task_id, s->user, s->admin, &t)) {
            task_rec_free(&t);
            out_str(s, "event: end\ndata: {\"error\":\"no such task\"}\n\n");
            s->done = 1;
            break;
        }
        if (s->attempt != UINT64_MAX && t.attempts != s->attempt) {
            s->off = 0;
            s->plen = 0;
            out_str(s, "event: restart\ndata: \n\n");
        }
        s->attempt = t.attempts;
        int fin = ended(t.status);        /* before reading: no byte missed */
        if (fin && !s->ended_at) s->ended_at = mono_s();
        logbook_read_path(lb, s->task_id, t.attempts, path, sizeof path);
        ssize_t n = -1;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            n = pread(fd, rd, SSE_READ, (off_t)s->off);
            close(fd);
        }
        if (n > 0) {
            s->off += (uint64_t)n;
            int ev = make_log_event(s, rd, (size_t)n, 0);
            task_rec_free(&t);
            if (ev < 0) {
                free(rd);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            if (ev > 0 || s->olen) break;
            continue;           /* a partial line only: read on */
        }
        /* Ended, but the worker said its log is longer than what is here
         * (still on its way): wait for it, a bounded time. */
        if (fin && !logbook_complete(lb, s->task_id, t.attempts, s->off) &&
            mono_s() - s->ended_at < SSE_LATE_S)
            fin = 0;
        if (fin) {
            char end[256];
            uint64_t cap = logbook_cap(lb);
            if (make_log_event(s, "", 0, 1) < 0) {
                task_rec_free(&t);
                free(rd);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            snprintf(end, sizeof end,
                     "event: end\ndata: {\"status\":\"%s\",\"exit_code\":%lld,\"log_size\":%llu,"
                     "\"cut\":%s}\n\n", proto_status_name((uint64_t)t.status),
                     (long long)t.exit_code, (unsigned long long)s->off,
                     cap && s->off > cap ? "true" : "false");
            out_str(s, end);
            s->done = 1;
            task_rec_free(&t);
            break;
        }
        task_rec_free(&t);
        if (s->olen) break;
        if (waited >= SSE_KEEPALIVE_S) {
            out_str(s, ": keepalive\n\n");
            break;
        }
        logbook_wait(lb, gen, 1000);
    }
    free(rd);
    if (!s->olen) return MHD_CONTENT_READER_END_WITH_ERROR;     /* out of memory */
give:;
    size_t n = s->olen - s->opos < max ? s->olen - s->opos : max;
    memcpy(buf, s->out + s->opos, n);
    s->opos += n;
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    sse *s = cls;
    free(s->part);
    free(s->out);
    free(s);
    atomic_fetch_sub(&sse_open, 1);
}

static enum MHD_Result follow(http_req *r, const task_rec *t)
{
    if (atomic_fetch_add(&sse_open, 1) >= SSE_MAX) {
        atomic_fetch_sub(&sse_open, 1);
        return http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "%d live logs are open already; try again later", SSE_MAX);
    }
    sse *s = calloc(1, sizeof *s);
    if (!s || !(s->part = malloc(SSE_LINE_MAX))) {
        free(s);
        atomic_fetch_sub(&sse_open, 1);
        return MHD_NO;
    }
    s->h = r->h;
    snprintf(s->task_id, sizeof s->task_id, "%s", t->task_id);
    snprintf(s->user, sizeof s->user, "%s", r->user);
    s->admin = r->admin;
    s->attempt = UINT64_MAX;
    /* A reconnecting client resumes after the last event it got. */
    const char *last = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Last-Event-ID");
    if (last && *last) {
        char *end;
        unsigned long long v = strtoull(last, &end, 10);
        if (!*end) {
            s->off = v;
            s->attempt = t->attempts;
        }
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                  sse_read, s, sse_free);
    if (!resp) {
        sse_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return http_queue(r, MHD_HTTP_OK, resp);
}

enum MHD_Result http_log_task(http_req *r, const task_rec *t)
{
    const char *f = http_arg(r, "follow");
    if (f && strcmp(f, "0")) {
        if (strcmp(f, "1")) return http_error(r, MHD_HTTP_BAD_REQUEST, "follow is 0 or 1");
        return follow(r, t);
    }
    char path[CONFIG_PATH_MAX + 128];
    struct stat st;
    struct MHD_Response *resp = NULL;
    logbook_read_path(cluster_logbook(r->h->cl), t->task_id, t->attempts, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint64_t tail = 0;
    const char *tv = http_arg(r, "tail");
    if (tv) {
        char *end;
        tail = strtoull(tv, &end, 10);
        if (*end || !tail) {
            if (fd >= 0) close(fd);
            return http_error(r, MHD_HTTP_BAD_REQUEST, "tail is a number of bytes (> 0)");
        }
    }
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0) {
        /* ?tail=N: the last N bytes (the web page shows the end of a long log). */
        uint64_t size = (uint64_t)st.st_size, from = tail && tail < size ? size - tail : 0;
        resp = MHD_create_response_from_fd_at_offset64(size - from, fd, from);   /* owns fd */
        if (!resp) close(fd);
    } else {
        if (fd >= 0) close(fd);
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) return MHD_NO;
    char disp[128];
    snprintf(disp, sizeof disp, "inline; filename=\"%s.log\"", t->task_id);   /* ids are [A-Za-z0-9._-] */
    MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(resp, "Content-Disposition", disp);
    MHD_add_response_header(resp, "Content-Security-Policy", "sandbox");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return http_queue(r, MHD_HTTP_OK, resp);
}
