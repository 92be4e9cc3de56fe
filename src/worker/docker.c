/* docker.c — the Docker runtime: runs a task in a container through the
 * Docker Engine API over the daemon's unix socket (libcurl).
 *
 * Per task, the race-free sequence (REFERENCE.md §A): image present? →
 * create (AutoRemove off, name cloudai-<run_id>: <task_id>.<attempt>) → start → wait
 * (condition not-running) → inspect (ExitCode, OOMKilled) → logs
 * (demultiplexed into log_path) → delete (force, volumes), the delete
 * on every path once the container exists. No registry is reachable, so a
 * missing image is a configuration error, never a pull.
 *
 * Timeout and cancel: the wait request's progress callback runs about once
 * a second and aborts the transfer when the deadline passes or the task is
 * cancelled; we then POST /stop?t=5 and wait again.
 *
 * One curl easy handle per runtime_run call (so per task thread), reused
 * for that task's requests with curl_easy_reset, which keeps the socket. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include <bson/bson.h>
#include <curl/curl.h>

#include "worker/cgusage.h"
#include "worker/logdemux.h"
#include "worker/runtime_impl.h"

#define DK_DEFAULT_SOCKET "/var/run/docker.sock"
#define DK_MAX_API_MINOR 41        /* we speak 1.41 */
#define DK_MIN_API_MINOR 40        /* DeviceRequests, Mounts, NanoCpus */
#define DK_PING_MS 2000L
#define DK_SHORT_MS 30000L         /* create/start/inspect/delete */
#define DK_STOP_MS ((RUNTIME_STOP_GRACE_S + 30) * 1000L)
#define DK_MAX_BODY (4u << 20)     /* JSON replies we keep in memory */
#define DK_MIN_MEMORY 6291456ULL   /* daemon refuses less than 6 MiB */
#define DK_PIDS_LIMIT 4096

typedef struct docker {
    struct runtime base;
    char socket_path[108];
    char prefix[16];                  /* "/v1.41" */
    int use_init;                     /* daemon has an init binary */
    int cg_ok;                        /* cg usable: the cgroupfs driver, hierarchy visible */
    cgusage cg;
} docker;

typedef struct dk_buf {
    char *p;
    size_t len, cap;
} dk_buf;

/* Watch on a long request: abort when cancelled or past the deadline. */
typedef struct dk_watch {
    runtime_task *task;               /* or NULL */
    double deadline;                  /* monotonic seconds; 0 = none */
    int fired;                        /* 1 cancel, 2 deadline */
    atomic_int *ended;                /* or NULL: once set, a deadline DK_DRAIN_S away */
} dk_watch;

#define DK_DRAIN_S 5.0                /* a log stream may end this long after the container */

typedef struct dk_req {
    const char *method;
    char path[512];                   /* after the version prefix */
    const char *body;                 /* JSON, or NULL */
    long timeout_ms;                  /* 0 = none */
    dk_watch *watch;
    logdemux *demux;                  /* body goes here instead of resp */
    curl_write_callback header_fn;    /* or NULL */
    void *header_ud;
    long status;
    dk_buf resp;
    CURLcode cc;
    CURL *h;
    char curl_err[CURL_ERROR_SIZE];
} dk_req;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    dk_req *q = ud;
    size_t len = sz * n;
    long status = 0;
    /* Only a 200 body is a log stream; an error reply is JSON to keep. */
    if (q->demux && curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
        status == 200)
        return logdemux_feed(q->demux, p, len) == 0 ? len : 0;
    if (q->resp.len + len + 1 > DK_MAX_BODY)
        return 0;
    if (q->resp.len + len + 1 > q->resp.cap) {
        size_t cap = q->resp.cap ? q->resp.cap : 4096;
        while (cap < q->resp.len + len + 1)
            cap *= 2;
        char *np = realloc(q->resp.p, cap);
        if (!np)
            return 0;
        q->resp.p = np;
        q->resp.cap = cap;
    }
    memcpy(q->resp.p + q->resp.len, p, len);
    q->resp.len += len;
    q->resp.p[q->resp.len] = 0;
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    dk_watch *w = ud;
    if (w->ended && w->deadline == 0 && atomic_load(w->ended))
        w->deadline = now_s() + DK_DRAIN_S;
    if (w->task && runtime_task_cancelled(w->task))
        w->fired = 1;
    else if (w->deadline > 0 && now_s() >= w->deadline)
        w->fired = 2;
    return w->fired != 0;
}

/* Performs q on h. Returns 0 when an HTTP response arrived (any status;
 * see q->status), RT_E_UNAVAIL when the daemon could not be reached or the
 * transfer failed, RT_E_NOMEM. A watch firing also gives RT_E_UNAVAIL with
 * q->watch->fired set. */
static int dk_perform(docker *d, CURL *h, dk_req *q)
{
    char url[600];
    struct curl_slist *hdrs = NULL;
    int rc = 0;
    curl_easy_reset(h);
    q->h = h;
    snprintf(url, sizeof url, "http://localhost%s%s", d->prefix, q->path);
    hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (!hdrs)
        return RT_E_NOMEM;
    q->curl_err[0] = 0;
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, q->curl_err);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, DK_PING_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, q->timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, q);
    if (strcmp(q->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
        if (strcmp(q->method, "POST") == 0) {
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? q->body : "");
        }
    }
    if (q->timeout_ms == 0 && !q->watch) {
        /* Unbounded transfers (logs) may be long but must not stall. */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    }
    if (q->header_fn) {
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, q->header_fn);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, q->header_ud);
    }
    if (q->watch) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, q->watch);
    }
    q->cc = curl_easy_perform(h);
    if (q->cc != CURLE_OK) {
        rc = RT_E_UNAVAIL;
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &q->status);
out:
    curl_slist_free_all(hdrs);
    return rc;
}

static void dk_req_clear(dk_req *q)
{
    free(q->resp.p);
    memset(q, 0, sizeof *q);
}

/* Daemon error replies are {"message": "..."}; copies the message, or the
 * status and raw body when it is not that shape. */
static void dk_error_message(const dk_req *q, const char *what, char *err, size_t errcap)
{
    bson_t *doc = NULL;
    bson_iter_t it;
    if (q->cc != CURLE_OK) {
        snprintf(err, errcap, "%s: docker daemon: %s", what,
                 q->curl_err[0] ? q->curl_err : curl_easy_strerror(q->cc));
        return;
    }
    if (q->resp.p)
        doc = bson_new_from_json((const uint8_t *)q->resp.p, (ssize_t)q->resp.len, NULL);
    if (doc && bson_iter_init_find(&it, doc, "message") && BSON_ITER_HOLDS_UTF8(&it))
        snprintf(err, errcap, "%s: %s", what, bson_iter_utf8(&it, NULL));
    else
        snprintf(err, errcap, "%s: HTTP %ld %.200s", what, q->status,
                 q->resp.p ? q->resp.p : "");
    if (doc)
        bson_destroy(doc);
}

/* Names that go into a URL path unescaped: task ids become container
 * names ([a-zA-Z0-9][a-zA-Z0-9_.-]*), images are references. */
static int valid_chars(const char *s, const char *extra)
{
    if (!s || !*s || !isalnum((unsigned char)s[0]))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
            return 0;
    return 1;
}

/* The create body. Returns a bson_malloc'd JSON string or NULL. */
static char *create_body(const rt_spec *s, int use_init, const char *cg_parent)
{
    bson_t doc, arr, hc, mounts, m, labels, caps, sec, env, dreqs, dr, capo, capi, logc, logcfg;
    char key[16];
    char *json = NULL;
    bson_init(&doc);
    bson_append_utf8(&doc, "Image", -1, s->image, -1);
    if (s->command || s->argv) {
        /* Exactly this command: an image ENTRYPOINT would get it as args. */
        bson_append_array_begin(&doc, "Entrypoint", -1, &arr);
        bson_append_array_end(&doc, &arr);
        bson_append_array_begin(&doc, "Cmd", -1, &arr);
        if (s->command) {
            bson_append_utf8(&arr, "0", -1, "/bin/sh", -1);
            bson_append_utf8(&arr, "1", -1, "-c", -1);
            bson_append_utf8(&arr, "2", -1, s->command, -1);
        } else {
            for (uint32_t i = 0; s->argv[i]; i++) {
                const char *k;
                bson_uint32_to_string(i, &k, key, sizeof key);
                bson_append_utf8(&arr, k, -1, s->argv[i], -1);
            }
        }
        bson_append_array_end(&doc, &arr);
    }
    bson_append_array_begin(&doc, "Env", -1, &env);
    bson_append_utf8(&env, "0", -1, "OUTPUT_DIR=/output", -1);
    uint32_t ne = 1;
    for (uint32_t i = 0; s->env && s->env[i]; i++) {
        const char *k;
        bson_uint32_to_string(ne++, &k, key, sizeof key);
        bson_append_utf8(&env, k, -1, s->env[i], -1);
    }
    if (s->input_dir) {
        const char *k;
        bson_uint32_to_string(ne++, &k, key, sizeof key);
        bson_append_utf8(&env, k, -1, "INPUT_DIR=/input", -1);
    }
    bson_append_array_end(&doc, &env);
    bson_append_document_begin(&doc, "Labels", -1, &labels);
    bson_append_utf8(&labels, "cloudai.task_id", -1, s->task_id, -1);
    /* So a restarted worker finds what it left running (docker_sweep). */
    if (s->worker_id && s->worker_id[0])
        bson_append_utf8(&labels, "cloudai.worker_id", -1, s->worker_id, -1);
    /* So the reaper of this run of the worker finds them (worker.c). */
    if (s->worker_run && s->worker_run[0])
        bson_append_utf8(&labels, "cloudai.worker_run", -1, s->worker_run, -1);
    bson_append_document_end(&doc, &labels);
    if (geteuid() != 0) {
        /* Files in /output must stay removable by the worker. */
        char user[48];
        snprintf(user, sizeof user, "%u:%u", (unsigned)geteuid(), (unsigned)getegid());
        bson_append_utf8(&doc, "User", -1, user, -1);
    }
    bson_append_bool(&doc, "Tty", -1, false);

    bson_append_document_begin(&doc, "HostConfig", -1, &hc);
    bson_append_array_begin(&hc, "Mounts", -1, &mounts);
    bson_append_document_begin(&mounts, "0", -1, &m);
    bson_append_utf8(&m, "Type", -1, "bind", -1);
    bson_append_utf8(&m, "Source", -1, s->output_dir, -1);
    bson_append_utf8(&m, "Target", -1, "/output", -1);
    bson_append_bool(&m, "ReadOnly", -1, false);
    bson_append_document_end(&mounts, &m);
    if (s->input_dir) {
        /* Inputs: a read-only bind mount; a write there fails with EROFS. */
        bson_append_document_begin(&mounts, "1", -1, &m);
        bson_append_utf8(&m, "Type", -1, "bind", -1);
        bson_append_utf8(&m, "Source", -1, s->input_dir, -1);
        bson_append_utf8(&m, "Target", -1, "/input", -1);
        bson_append_bool(&m, "ReadOnly", -1, true);
        bson_append_document_end(&mounts, &m);
    }
    bson_append_array_end(&hc, &mounts);
    if (s->cpu > 0)
        bson_append_int64(&hc, "NanoCpus", -1, (int64_t)(s->cpu * 1e9 + 0.5));
    if (s->memory > 0) {
        uint64_t mem = s->memory < DK_MIN_MEMORY ? DK_MIN_MEMORY : s->memory;
        if (mem > (uint64_t)INT64_MAX)
            mem = (uint64_t)INT64_MAX;
        bson_append_int64(&hc, "Memory", -1, (int64_t)mem);
        bson_append_int64(&hc, "MemorySwap", -1, (int64_t)mem);
    }
    bson_append_int64(&hc, "PidsLimit", -1, DK_PIDS_LIMIT);
    bson_append_bool(&hc, "Privileged", -1, false);
    bson_append_bool(&hc, "AutoRemove", -1, false);
    /* A shell as PID 1 ignores SIGTERM, so every stop would wait out the
     * grace period and end in SIGKILL; docker-init forwards the signal
     * (and reaps the task's orphans). */
    if (use_init)
        bson_append_bool(&hc, "Init", -1, true);
    /* What it used is read from here after it exits (cgusage.h). */
    if (cg_parent && cg_parent[0])
        bson_append_utf8(&hc, "CgroupParent", -1, cg_parent, -1);
    bson_append_array_begin(&hc, "CapDrop", -1, &caps);
    bson_append_utf8(&caps, "0", -1, "ALL", -1);
    bson_append_array_end(&hc, &caps);
    static const char *const keep[] = { "CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL" };
    bson_append_array_begin(&hc, "CapAdd", -1, &caps);
    for (uint32_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        const char *k;
        bson_uint32_to_string(i, &k, key, sizeof key);
        bson_append_utf8(&caps, k, -1, keep[i], -1);
    }
    bson_append_array_end(&hc, &caps);
    bson_append_array_begin(&hc, "SecurityOpt", -1, &sec);
    bson_append_utf8(&sec, "0", -1, "no-new-privileges", -1);
    bson_append_array_end(&hc, &sec);
    /* Logs are read back after exit; only json-file/local/journald allow
     * that, so do not inherit a daemon default such as "none". */
    bson_append_document_begin(&hc, "LogConfig", -1, &logc);
    bson_append_utf8(&logc, "Type", -1, "json-file", -1);
    bson_append_document_begin(&logc, "Config", -1, &logcfg);
    bson_append_document_end(&logc, &logcfg);
    bson_append_document_end(&hc, &logc);
    if (s->gpu > 0) {
        bson_append_array_begin(&hc, "DeviceRequests", -1, &dreqs);
        bson_append_document_begin(&dreqs, "0", -1, &dr);
        bson_append_utf8(&dr, "Driver", -1, "", -1);
        bson_append_int64(&dr, "Count", -1, s->gpu > INT64_MAX ? -1 : (int64_t)s->gpu);
        bson_append_array_begin(&dr, "Capabilities", -1, &capo);
        bson_append_array_begin(&capo, "0", -1, &capi);
        bson_append_utf8(&capi, "0", -1, "gpu", -1);
        bson_append_array_end(&capo, &capi);
        bson_append_array_end(&dr, &capo);
        bson_append_document_end(&dreqs, &dr);
        bson_append_array_end(&hc, &dreqs);
    }
    bson_append_document_end(&doc, &hc);
    json = bson_as_relaxed_extended_json(&doc, NULL);
    bson_destroy(&doc);
    return json;
}

/* Everything one task needs while it runs. */
typedef struct dk_task {
    docker *d;
    CURL *h;
    const rt_spec *spec;
    rt_result *res;
    char name[RUNTIME_TASK_ID_MAX + 16];  /* cloudai-<task_id> */
    char id[80];                          /* container id, "" until created */
    char cg_parent[CGUSAGE_PATH_MAX];     /* its parent cgroup, or "" */
    char upper[1024];                     /* its writable layer on this host
                                             (overlay drivers' UpperDir), or "" */
} dk_task;

static int dk_simple(dk_task *t, dk_req *q, const char *method, long timeout_ms)
{
    q->method = method;
    q->timeout_ms = timeout_ms;
    return dk_perform(t->d, t->h, q);
}

static int check_image(dk_task *t)
{
    dk_req q = { 0 };
    int rc = 0;
    snprintf(q.path, sizeof q.path, "/images/%s/json", t->spec->image);
    rc = dk_simple(t, &q, "GET", DK_SHORT_MS);
    if (rc == 0 && q.status == 404) {
        snprintf(t->res->error, sizeof t->res->error,
                 "image '%s' is not present on this worker (no registry is reachable; "
                 "build or load it first)", t->spec->image);
        rc = RT_E_NOIMAGE;
    } else if (rc < 0 || q.status != 200) {
        dk_error_message(&q, "image inspect", t->res->error, sizeof t->res->error);
        if (rc == 0)
            rc = RT_E_IO;
    }
    dk_req_clear(&q);
    return rc;
}

static void delete_container(dk_task *t, const char *ref)
{
    dk_req q = { 0 };
    snprintf(q.path, sizeof q.path, "/containers/%s?force=1&v=1", ref);
    dk_simple(t, &q, "DELETE", DK_SHORT_MS);
    dk_req_clear(&q);
}

static int create_container(dk_task *t)
{
    dk_req q = { 0 };
    bson_t *doc = NULL;
    bson_iter_t it;
    char *body = create_body(t->spec, t->d->use_init, t->cg_parent);
    int rc = 0;
    if (!body) {
        snprintf(t->res->error, sizeof t->res->error, "out of memory");
        return RT_E_NOMEM;
    }
    for (int attempt = 0; ; attempt++) {
        dk_req_clear(&q);
        snprintf(q.path, sizeof q.path, "/containers/create?name=%s", t->name);
        q.body = body;
        if ((rc = dk_simple(t, &q, "POST", DK_SHORT_MS)) < 0)
            break;
        /* A leftover of an earlier worker run with the same task id
         * (the worker died mid-task): it is ours to remove. */
        if (q.status == 409 && attempt == 0) {
            delete_container(t, t->name);
            cgusage_remove(t->cg_parent);   /* and its counters */
            continue;
        }
        break;
    }
    if (rc == 0 && q.status == 201 &&
        (doc = bson_new_from_json((const uint8_t *)q.resp.p, (ssize_t)q.resp.len, NULL)) &&
        bson_iter_init_find(&it, doc, "Id") && BSON_ITER_HOLDS_UTF8(&it)) {
        snprintf(t->id, sizeof t->id, "%s", bson_iter_utf8(&it, NULL));
    } else {
        dk_error_message(&q, "create", t->res->error, sizeof t->res->error);
        if (rc == 0)
            rc = q.status == 404 ? RT_E_NOIMAGE : RT_E_START;
    }
    if (doc)
        bson_destroy(doc);
    bson_free(body);
    dk_req_clear(&q);
    return rc;
}

static int start_container(dk_task *t)
{
    dk_req q = { 0 };
    int rc;
    snprintf(q.path, sizeof q.path, "/containers/%s/start", t->id);
    rc = dk_simple(t, &q, "POST", DK_SHORT_MS);
    if (rc < 0 || (q.status != 204 && q.status != 304)) {
        dk_error_message(&q, "start", t->res->error, sizeof t->res->error);
        if (rc == 0)
            rc = RT_E_START;
    }
    dk_req_clear(&q);
    return rc;
}

static void stop_container(dk_task *t)
{
    dk_req q = { 0 };
    snprintf(q.path, sizeof q.path, "/containers/%s/stop?t=%d", t->id, RUNTIME_STOP_GRACE_S);
    dk_simple(t, &q, "POST", DK_STOP_MS);
    dk_req_clear(&q);
}

/* Waits until the container is not running, stopping it on cancel or
 * timeout. 0 once it has stopped. */
static int wait_container(dk_task *t, runtime_task *task)
{
    dk_watch w = { task, 0, 0, NULL };
    int rc = 0;
    if (t->spec->timeout_s)
        w.deadline = now_s() + (double)t->spec->timeout_s;
    for (int stopped = 0; ; ) {
        dk_req q = { 0 };
        snprintf(q.path, sizeof q.path, "/containers/%s/wait?condition=not-running", t->id);
        q.watch = stopped ? NULL : &w;
        /* After a stop the container ends within the grace period; bound
         * the second wait so a wedged daemon cannot hold the task forever. */
        rc = dk_simple(t, &q, "POST", stopped ? DK_STOP_MS : 0);
        if (rc < 0 && !stopped && w.fired) {
            dk_req_clear(&q);
            t->res->cancelled = w.fired == 1;
            t->res->timed_out = w.fired == 2;
            if (w.fired == 1)
                snprintf(t->res->error, sizeof t->res->error, "cancelled");
            else
                snprintf(t->res->error, sizeof t->res->error, "timed out after %llu s",
                         (unsigned long long)t->spec->timeout_s);
            stop_container(t);
            stopped = 1;
            continue;
        }
        if (rc < 0 || q.status != 200) {
            dk_error_message(&q, "wait", t->res->error, sizeof t->res->error);
            if (rc == 0)
                rc = RT_E_IO;
        }
        dk_req_clear(&q);
        return rc;
    }
}

static int inspect_container(dk_task *t)
{
    dk_req q = { 0 };
    bson_t *doc = NULL;
    bson_iter_t it;
    int rc;
    snprintf(q.path, sizeof q.path, "/containers/%s/json", t->id);
    rc = dk_simple(t, &q, "GET", DK_SHORT_MS);
    if (rc == 0 && q.status == 200)
        doc = bson_new_from_json((const uint8_t *)q.resp.p, (ssize_t)q.resp.len, NULL);
    if (!doc) {
        dk_error_message(&q, "inspect", t->res->error, sizeof t->res->error);
        if (rc == 0)
            rc = RT_E_IO;
        goto out;
    }
    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, "State.ExitCode", &it) &&
        BSON_ITER_HOLDS_NUMBER(&it))
        t->res->exit_code = bson_iter_as_int64(&it);
    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, "State.OOMKilled", &it))
        t->res->oom_killed = bson_iter_as_bool(&it);
    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, "GraphDriver.Data.UpperDir", &it) &&
        BSON_ITER_HOLDS_UTF8(&it))
        snprintf(t->upper, sizeof t->upper, "%s", bson_iter_utf8(&it, NULL));
out:
    if (doc)
        bson_destroy(doc);
    dk_req_clear(&q);
    return rc;
}

static int dir_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int empty = 1;
    if (!d) return 0;
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty;
}

/* A task whose /output is empty but that wrote elsewhere in its container
 * (a relative path from the image's working directory, which is not
 * /output, or /tmp): those files go with the container, and "completed,
 * 0 files" alone leaves the user guessing. Names a few of them in
 * res->stray. Advisory: any failure here leaves it empty. */
#define STRAY_SCAN 1024     /* paths looked at; past that "more than N" */

typedef struct stray {
    char *path[STRAY_SCAN];  /* container paths, owned */
    size_t n, more;
} stray;

static void stray_add(stray *s, const char *p, size_t len)
{
    if (s->n == STRAY_SCAN || !(s->path[s->n] = strndup(p, len))) {
        s->more++;
        return;
    }
    s->n++;
}

/* What the runtime itself puts in a container: the init's bind mount and
 * the mount points of /output and /input (their parents then have a
 * child, so they are not named either). */
static int ours(const char *p)
{
    static const char *const own[] = { "/sbin/docker-init", "/output", "/input" };
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        size_t l = strlen(own[i]);
        if (!strncmp(p, own[i], l) && (p[l] == 0 || p[l] == '/')) return 1;
    }
    return 0;
}

/* The writable layer itself, where the overlay drivers keep it: a walk of
 * what the task wrote, ~0.1 ms for a task that wrote nothing, where the
 * API's /changes diffs the whole root file system (60 ms a task under
 * fuse-overlayfs, 10% of a trivial task's time). Whiteouts (deletions:
 * character devices 0/0, ".wh." names) are not writes. Leaves only: files,
 * and directories with nothing else in them. -1 if it cannot be read. */
static int stray_walk(stray *s, const char *upper)
{
    char *stack[64];
    size_t depth = 0, base = strlen(upper);
    if (!(stack[depth] = strdup(upper))) return -1;
    depth++;
    int rc = 0, first = 1;
    size_t seen = 0;        /* a layer of a million files is not read whole */
    while (depth > 0) {
        char *dir = stack[--depth];
        DIR *d = opendir(dir);
        if (!d) {
            if (first) rc = -1;
            free(dir);
            first = 0;
            continue;
        }
        first = 0;
        struct dirent *e;
        int children = 0;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strncmp(e->d_name, ".wh.", 4))
                continue;
            if (++seen > 16 * STRAY_SCAN) {
                s->more++;      /* "more than N" */
                children++;
                break;
            }
            char p[4200];
            struct stat st;
            if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= sizeof p ||
                lstat(p, &st) < 0)
                continue;
            if (S_ISCHR(st.st_mode) && st.st_rdev == 0)   /* a whiteout */
                continue;
            children++;
            if (S_ISDIR(st.st_mode) && depth < sizeof stack / sizeof stack[0] && s->n < STRAY_SCAN) {
                if ((stack[depth] = strdup(p))) depth++;
                continue;
            }
            stray_add(s, p + base, strlen(p + base));
        }
        closedir(d);
        if (!children && strlen(dir) > base)
            stray_add(s, dir + base, strlen(dir + base));
        free(dir);
    }
    return rc;
}

/* Where the layer cannot be read: Docker's own list of changes. */
static void stray_api(dk_task *t, stray *s)
{
    dk_req q = { 0 };
    bson_t *doc = NULL;
    bson_iter_t it, arr, ent;
    char *js = NULL;
    snprintf(q.path, sizeof q.path, "/containers/%s/changes", t->id);
    if (dk_simple(t, &q, "GET", DK_SHORT_MS) != 0 || q.status != 200 || q.resp.len == 0)
        goto out;
    /* The answer is an array; libbson parses documents. */
    if (!(js = malloc(q.resp.len + 8)))
        goto out;
    memcpy(js, "{\"c\":", 5);
    memcpy(js + 5, q.resp.p, q.resp.len);
    memcpy(js + 5 + q.resp.len, "}", 2);
    if (!(doc = bson_new_from_json((const uint8_t *)js, (ssize_t)(q.resp.len + 6), NULL)) ||
        !bson_iter_init_find(&it, doc, "c") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        goto out;
    while (bson_iter_next(&arr)) {
        const char *p = NULL;
        int64_t kind = -1;
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &ent)) continue;
        while (bson_iter_next(&ent)) {
            if (!strcmp(bson_iter_key(&ent), "Path") && BSON_ITER_HOLDS_UTF8(&ent))
                p = bson_iter_utf8(&ent, NULL);
            else if (!strcmp(bson_iter_key(&ent), "Kind") && BSON_ITER_HOLDS_NUMBER(&ent))
                kind = bson_iter_as_int64(&ent);
        }
        if (p && kind != 2)                 /* 2: deleted */
            stray_add(s, p, strlen(p));
    }
out:
    if (doc) bson_destroy(doc);
    free(js);
    dk_req_clear(&q);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void note_stray(dk_task *t)
{
    stray s;
    s.n = s.more = 0;
    if (!dir_empty(t->spec->output_dir))
        return;
    if (!t->upper[0] || stray_walk(&s, t->upper) < 0)
        stray_api(t, &s);
    qsort(s.path, s.n, sizeof *s.path, cmp_str);
    size_t shown = 0, leaves = 0, len = 0;
    char names[400] = "";
    for (size_t i = 0; i < s.n; i++) {
        size_t l = strlen(s.path[i]);
        int leaf = !ours(s.path[i]);
        /* sorted: a path's descendants follow it (after any "/a-b" siblings) */
        for (size_t j = i + 1; j < s.n && leaf && !strncmp(s.path[j], s.path[i], l); j++)
            leaf = s.path[j][l] != '/';
        if (!leaf) continue;
        leaves++;
        if (shown < 3 && len + l + 5 < sizeof names) {
            len += (size_t)snprintf(names + len, sizeof names - len, "%s'%s'", shown ? ", " : "", s.path[i]);
            shown++;
        }
    }
    if (leaves > 0)
        snprintf(t->res->stray, sizeof t->res->stray,
                 "/output is empty, but the task wrote %s%zu path%s elsewhere in its container, "
                 "which went with it: %s%s (only what is under $OUTPUT_DIR, /output, is kept)",
                 s.more ? "more than " : "", leaves + s.more, leaves + s.more == 1 ? "" : "s", names,
                 leaves + s.more > shown ? ", ..." : "");
    for (size_t i = 0; i < s.n; i++)
        free(s.path[i]);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Log bytes go to the file, after skipping those an interrupted follow
 * already wrote (the daemon replays a container's log in the same order). */
typedef struct log_out {
    int fd;
    uint64_t skip;
    uint64_t written;
} log_out;

static int log_sink(void *ud, int stream, const uint8_t *p, size_t n)
{
    log_out *o = ud;
    (void)stream;
    if (o->skip >= n) {
        o->skip -= n;
        return 0;
    }
    p += o->skip;
    n -= (size_t)o->skip;
    o->skip = 0;
    if (write_all(o->fd, p, n) < 0) return -1;
    o->written += n;
    return 0;
}

/* Following the output while the container runs, so the worker streams
 * it to the master live: attached (POST /attach?stream=1) before the
 * start, on its own curl handle and thread. Not logs?follow=1: live, the
 * daemon's json-file follower skipped whole stretches of a fast writer's
 * output (600,000 lines of seq lost 260,000 in the middle), while attach
 * is the copy `docker run` itself prints. The stream ends when the
 * container stops; DK_DRAIN_S after that it is cut, and whatever it did
 * not deliver is fetched from the log (logs?follow=0, which is complete). */
typedef struct dk_follow {
    docker *d;
    const char *path;                 /* container id, for the URL */
    const char *log_path;
    pthread_t th;
    atomic_int ended;                 /* the container has stopped */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int attached;                     /* under mu: headers came (or the request ended) */
    log_out out;
    int ok;                           /* the stream ended cleanly */
} dk_follow;

static void follow_attached(dk_follow *f)
{
    pthread_mutex_lock(&f->mu);
    f->attached = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* The attach is in place once the daemon answered: its headers end. */
static size_t on_follow_header(char *p, size_t sz, size_t n, void *ud)
{
    if (sz * n == 2 && p[0] == '\r' && p[1] == '\n')
        follow_attached(ud);
    return sz * n;
}

static void *follow_main(void *arg)
{
    dk_follow *f = arg;
    dk_req q = { 0 };
    logdemux dm;
    dk_watch w = { NULL, 0, 0, &f->ended };
    CURL *h = curl_easy_init();
    if (!h || f->out.fd < 0) goto out;
    logdemux_init(&dm, log_sink, &f->out);
    snprintf(q.path, sizeof q.path, "/containers/%s/attach?stream=1&stdout=1&stderr=1", f->path);
    q.method = "POST";
    q.demux = &dm;
    q.watch = &w;
    q.header_fn = on_follow_header;
    q.header_ud = f;
    int rc = dk_perform(f->d, h, &q);
    f->ok = rc == 0 && q.status == 200 && logdemux_finish(&dm) == 0;
out:
    follow_attached(f);     /* never leave the starter waiting */
    dk_req_clear(&q);
    if (h) curl_easy_cleanup(h);
    return NULL;
}

static int follow_start(dk_task *t, dk_follow *f)
{
    memset(f, 0, sizeof *f);
    f->d = t->d;
    f->path = t->id;
    f->log_path = t->spec->log_path;
    f->out.fd = open(t->spec->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (f->out.fd < 0) return -1;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (pthread_create(&f->th, NULL, follow_main, f) != 0) {
        close(f->out.fd);
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
        return -1;
    }
    /* Start only once attached, so no output is written before; a daemon
     * slow to answer costs nothing but liveness (the log fills the gap). */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&f->mu);
    while (!f->attached)
        if (pthread_cond_timedwait(&f->cv, &f->mu, &until) != 0) break;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

/* After the container stopped: the bytes the follow wrote, and whether it
 * got them all. */
static int follow_finish(dk_follow *f, uint64_t *written)
{
    atomic_store(&f->ended, 1);
    pthread_join(f->th, NULL);
    close(f->out.fd);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    *written = f->out.written;
    return f->ok;
}

/* Copies both streams, in order, into log_path, after the first skip
 * bytes. A log that cannot be fetched does not undo the run: the error
 * goes into the log itself. */
static void fetch_logs(dk_task *t, uint64_t skip)
{
    dk_req q = { 0 };
    logdemux dm;
    log_out o = { -1, skip, 0 };
    int fd = open(t->spec->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    o.fd = fd;
    logdemux_init(&dm, log_sink, &o);
    snprintf(q.path, sizeof q.path, "/containers/%s/logs?stdout=1&stderr=1&follow=0", t->id);
    q.demux = &dm;
    int rc = dk_simple(t, &q, "GET", 0);
    int drc = logdemux_finish(&dm);
    if (rc < 0 || q.status != 200 || drc != 0) {
        char msg[600];
        if (q.status != 200 && q.status != 0) {
            q.demux = NULL;
            dk_error_message(&q, "logs", msg, sizeof msg);
        } else if (drc == LOGDEMUX_E_FORMAT) {
            snprintf(msg, sizeof msg, "logs: malformed log stream");
        } else {
            snprintf(msg, sizeof msg, "logs: %s",
                     q.curl_err[0] ? q.curl_err : "stream ended early");
        }
        dprintf(fd, "\n[cloudai: %s]\n", msg);
    }
    close(fd);
    dk_req_clear(&q);
}

static int docker_run(runtime *r, const rt_spec *spec, rt_result *res)
{
    docker *d = (docker *)r;
    runtime_task task;
    dk_task t;
    int rc, entered = 0;
    memset(&t, 0, sizeof t);
    t.d = d;
    t.spec = spec;
    t.res = res;

    const char *run_id = spec->run_id ? spec->run_id : spec->task_id;
    if (!valid_chars(spec->task_id, "_.-") || !valid_chars(run_id, "_.-") ||
        strlen(run_id) >= RUNTIME_TASK_ID_MAX) {
        snprintf(res->error, sizeof res->error, "invalid task id (container names allow [A-Za-z0-9_.-])");
        rc = RT_E_START;
        goto out;
    }
    if (!valid_chars(spec->image, "_.-/:@")) {
        snprintf(res->error, sizeof res->error, "invalid image name '%s'",
                 spec->image ? spec->image : "");
        rc = RT_E_NOIMAGE;
        goto out;
    }
    if (!spec->output_dir || spec->output_dir[0] != '/' || !spec->log_path) {
        snprintf(res->error, sizeof res->error, "output_dir must be absolute and log_path set");
        rc = RT_E_START;
        goto out;
    }
    if (spec->argv && !spec->argv[0]) {
        snprintf(res->error, sizeof res->error, "empty argv");
        rc = RT_E_START;
        goto out;
    }
    snprintf(t.name, sizeof t.name, "cloudai-%s", run_id);
    if (d->cg_ok && cgusage_parent(t.cg_parent, sizeof t.cg_parent,
                                   spec->worker_id && spec->worker_id[0] ? spec->worker_id : "worker",
                                   run_id) < 0)
        t.cg_parent[0] = 0;
    if ((rc = runtime_task_enter(r, &task, run_id, res->error, sizeof res->error)) < 0)
        goto out;
    entered = 1;
    if (!(t.h = curl_easy_init())) {
        snprintf(res->error, sizeof res->error, "out of memory");
        rc = RT_E_NOMEM;
        goto out;
    }
    if ((rc = check_image(&t)) < 0 || (rc = create_container(&t)) < 0)
        goto out;
    if (runtime_task_cancelled(&task)) {
        res->cancelled = 1;
        snprintf(res->error, sizeof res->error, "cancelled before start");
        rc = 0;
        goto out;
    }
    dk_follow fl;
    int following = follow_start(&t, &fl) == 0;
    if ((rc = start_container(&t)) == 0)
        rc = wait_container(&t, &task);
    uint64_t got = 0;
    if (following) follow_finish(&fl, &got);
    if (rc < 0)
        goto out;
    if ((rc = inspect_container(&t)) < 0)
        goto out;
    note_stray(&t);
    /* It has exited: its parent holds all it was charged. */
    if (t.cg_parent[0])
        cgusage_read(&d->cg, t.cg_parent, &res->cpu_s, &res->mem_peak);
    /* The stored log has what the attach stream may have missed (it
     * attached late, or was cut): appended past the bytes already written. */
    fetch_logs(&t, got);
out:
    if (t.id[0])
        delete_container(&t, t.id);
    cgusage_remove(t.cg_parent);
    if (t.h)
        curl_easy_cleanup(t.h);
    if (entered)
        runtime_task_leave(r, &task);
    if (rc < 0)
        res->exit_code = -1;
    return rc;
}

static void docker_destroy(runtime *r)
{
    runtime_base_destroy(r);
    free(r);
}

/* Containers labelled key=value (cloudai.worker_id: a previous run of
 * this worker, killed before it could delete them; cloudai.worker_run: the
 * run whose reaper this is) are killed and deleted: a task never outlives
 * its worker, and its name is free for a retry. */
static int docker_sweep(runtime *r, const char *key, const char *worker_id, char *err,
                        size_t errcap)
{
    docker *d = (docker *)r;
    dk_task t;
    dk_req q = { 0 };
    int rc, n = 0;
    char enc[3 * 64 + 1];
    size_t e = 0;
    /* The value goes into a JSON string in a URL: percent-encoded, and
     * nothing that would end or escape the JSON string (ids never hold
     * such bytes; UTF-8 letters are fine). */
    for (const unsigned char *p = (const unsigned char *)worker_id; *p; p++) {
        if (*p < 0x20 || *p == '"' || *p == '\\' || e + 4 > sizeof enc) {
            snprintf(err, errcap, "'%s' cannot be a label filter", worker_id);
            return RT_E_START;
        }
        if (isalnum(*p) || strchr("_.-", *p))
            enc[e++] = (char)*p;
        else
            e += (size_t)snprintf(enc + e, sizeof enc - e, "%%%02X", *p);
    }
    enc[e] = 0;
    memset(&t, 0, sizeof t);
    t.d = d;
    if (!(t.h = curl_easy_init())) {
        snprintf(err, errcap, "out of memory");
        return RT_E_NOMEM;
    }
    /* filters={"label":["<key>=<value>"]}, URL-encoded (the keys are ours). */
    snprintf(q.path, sizeof q.path,
             "/containers/json?all=1&filters=%%7B%%22label%%22%%3A%%5B%%22%s%%3D%s%%22%%5D%%7D",
             key, enc);
    rc = dk_simple(&t, &q, "GET", DK_SHORT_MS);
    if (rc < 0 || q.status != 200) {
        dk_error_message(&q, "container list", err, errcap);
        if (rc == 0) rc = RT_E_IO;
        goto out;
    }
    /* Only the "Id" values are needed: 64 hex digits each. */
    for (const char *p = q.resp.p; p && (p = strstr(p, "\"Id\":\"")); ) {
        char id[80];
        size_t k = 0;
        p += 6;
        while (k < 64 && isxdigit((unsigned char)p[k])) {
            id[k] = p[k];
            k++;
        }
        id[k] = 0;
        if (k != 64 || p[k] != '"') continue;
        delete_container(&t, id);
        n++;
    }
    rc = n;
    /* A previous run's parent cgroups, now that its containers are gone. */
    if (d->cg_ok && !strcmp(key, "cloudai.worker_id"))
        cgusage_sweep(worker_id);
out:
    dk_req_clear(&q);
    curl_easy_cleanup(t.h);
    return rc;
}

static const struct runtime_ops docker_ops = { "docker", docker_run, docker_destroy, docker_sweep };

/* From GET /info: whether it names an init binary (docker-init, Debian's
 * tini), and whether containers can get a parent cgroup whose counters the
 * worker can read (the cgroupfs driver: with systemd's, CgroupParent is a
 * slice and its cgroups are systemd's). */
static void daemon_info(docker *d, CURL *h)
{
    dk_req q = { 0 };
    bson_t *doc = NULL;
    bson_iter_t it;
    q.method = "GET";
    q.timeout_ms = DK_SHORT_MS;
    snprintf(q.path, sizeof q.path, "/info");
    if (dk_perform(d, h, &q) == 0 && q.status == 200 &&
        (doc = bson_new_from_json((const uint8_t *)q.resp.p, (ssize_t)q.resp.len, NULL))) {
        if (bson_iter_init_find(&it, doc, "InitBinary") && BSON_ITER_HOLDS_UTF8(&it))
            d->use_init = bson_iter_utf8(&it, NULL)[0] != 0;
        int cgfs = bson_iter_init_find(&it, doc, "CgroupDriver") && BSON_ITER_HOLDS_UTF8(&it) &&
                   !strcmp(bson_iter_utf8(&it, NULL), "cgroupfs");
        int ver = 0;
        if (bson_iter_init_find(&it, doc, "CgroupVersion") && BSON_ITER_HOLDS_UTF8(&it))
            ver = atoi(bson_iter_utf8(&it, NULL));
        d->cg_ok = cgfs && cgusage_init(&d->cg, ver) == 0;
    }
    if (doc)
        bson_destroy(doc);
    dk_req_clear(&q);
}

static size_t on_discard(char *p, size_t sz, size_t n, void *ud)
{
    return sz * n;
}

static size_t on_ping_header(char *p, size_t sz, size_t n, void *ud)
{
    size_t len = sz * n;
    static const char key[] = "Api-Version:";
    if (len > sizeof key - 1 && strncasecmp(p, key, sizeof key - 1) == 0) {
        int *minor = ud, maj = 0, min = 0;
        char v[32];
        size_t vl = len - (sizeof key - 1);
        if (vl >= sizeof v)
            vl = sizeof v - 1;
        memcpy(v, p + sizeof key - 1, vl);
        v[vl] = 0;
        if (sscanf(v, " %d.%d", &maj, &min) == 2 && maj == 1)
            *minor = min;
    }
    return len;
}

/* Pings socket_path (NULL: /var/run/docker.sock) with a 2 s limit and
 * picks the API version min(server, 1.41). NULL with err filled if the
 * daemon does not answer or is older than 1.40. The runtime is owned by
 * the caller (runtime_free) and thread-safe. Initialises libcurl globally
 * once; never cleans it up (other modules may use it). */
runtime *runtime_docker_new(const char *socket_path, char *err, size_t errcap)
{
    docker *d = NULL;
    CURL *h = NULL;
    char cerr[CURL_ERROR_SIZE] = "";
    int minor = -1;
    long status = 0;
    CURLcode cc;
    if (!socket_path)
        socket_path = DK_DEFAULT_SOCKET;
    if (strlen(socket_path) >= sizeof d->socket_path) {
        snprintf(err, errcap, "docker socket path too long: %s", socket_path);
        goto fail;
    }
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        snprintf(err, errcap, "curl_global_init: %s", curl_easy_strerror(curl_init_rc));
        goto fail;
    }
    d = calloc(1, sizeof *d);
    h = curl_easy_init();
    if (!d || !h || runtime_base_init(&d->base, &docker_ops) < 0) {
        snprintf(err, errcap, "out of memory");
        free(d);
        d = NULL;
        goto fail;
    }
    snprintf(d->socket_path, sizeof d->socket_path, "%s", socket_path);
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, socket_path);
    curl_easy_setopt(h, CURLOPT_URL, "http://localhost/_ping");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, DK_PING_MS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, DK_PING_MS);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_ping_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &minor);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_discard);
    cc = curl_easy_perform(h);
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK || status != 200) {
        if (cc != CURLE_OK)
            snprintf(err, errcap, "docker daemon at %s does not answer: %s", socket_path,
                     cerr[0] ? cerr : curl_easy_strerror(cc));
        else
            snprintf(err, errcap, "docker daemon at %s: ping answered HTTP %ld", socket_path, status);
        goto fail_d;
    }
    if (minor < 0)
        minor = DK_MAX_API_MINOR;   /* header missing: assume current */
    if (minor < DK_MIN_API_MINOR) {
        snprintf(err, errcap, "docker daemon at %s speaks API 1.%d; 1.%d or newer is needed",
                 socket_path, minor, DK_MIN_API_MINOR);
        goto fail_d;
    }
    if (minor > DK_MAX_API_MINOR)
        minor = DK_MAX_API_MINOR;
    snprintf(d->prefix, sizeof d->prefix, "/v1.%d", minor);
    daemon_info(d, h);
    curl_easy_cleanup(h);
    return &d->base;
fail_d:
    docker_destroy(&d->base);
fail:
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}
