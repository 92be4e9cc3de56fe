/* config.c — the INI configuration: one schema table drives parsing,
 * validation and command-line overrides, so a key cannot be known to one
 * path and not the other.
 *
 * Syntax: "[section]", "key = value", '#' or ';' comments at line start,
 * surrounding whitespace trimmed, optional double quotes with \" and \\.
 * The input is untrusted bytes (it is fuzzed): every scan is bounded by the
 * given length, NUL bytes included. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "ids.h"
#include "proto.h"

#define CFG_LINE_MAX 4096
#define CFG_FILE_MAX (1u << 20)
#define CFG_WHY_MAX 256

enum cfg_type { CT_STR, CT_INT, CT_I64, CT_SIZE, CT_SIZE32, CT_DOUBLE, CT_BOOL };

typedef struct cfg_key {
    const char *section;
    const char *key;
    enum cfg_type type;
    size_t off;
    size_t size;                 /* CT_STR: capacity including the NUL */
    int64_t min, max;            /* CT_INT, CT_I64, CT_DOUBLE */
    uint64_t umin, umax;         /* CT_SIZE, CT_SIZE32 */
    const char *const *choices;  /* CT_STR enum, NULL-terminated */
    int nonempty;                /* CT_STR */
    const char *doc;
} cfg_key;

static const char *const runtimes[] = {"auto", "docker", "process", NULL};
/* best-fit and spread: the old spellings, greedy with that placement. */
static const char *const policies[] = {"learned", "easy", "greedy", "fifo", "best-fit", "spread",
                                      NULL};
static const char *const placements[] = {"best-fit", "spread", NULL};
static const char *const backends[] = {"local", "s3", NULL};

#define FSIZE(f) sizeof(((config *)0)->f)
#define K_STR(s, k, f, ne, ch, d) \
    {s, k, CT_STR, offsetof(config, f), FSIZE(f), 0, 0, 0, 0, ch, ne, d}
#define K_INT(s, k, f, lo, hi, d) \
    {s, k, CT_INT, offsetof(config, f), FSIZE(f), lo, hi, 0, 0, NULL, 0, d}
#define K_I64(s, k, f, lo, hi, d) \
    {s, k, CT_I64, offsetof(config, f), FSIZE(f), lo, hi, 0, 0, NULL, 0, d}
#define K_DBL(s, k, f, lo, hi, d) \
    {s, k, CT_DOUBLE, offsetof(config, f), FSIZE(f), lo, hi, 0, 0, NULL, 0, d}
#define K_SIZE(s, k, f, lo, hi, d) \
    {s, k, CT_SIZE, offsetof(config, f), FSIZE(f), 0, 0, lo, hi, NULL, 0, d}
#define K_BOOL(s, k, f, d) \
    {s, k, CT_BOOL, offsetof(config, f), FSIZE(f), 0, 1, 0, 0, NULL, 0, d}
#define K_SIZE32(s, k, f, lo, hi, d) \
    {s, k, CT_SIZE32, offsetof(config, f), FSIZE(f), 0, 0, lo, hi, NULL, 0, d}

static const cfg_key schema[] = {
    K_STR("master", "listen", listen, 1, NULL, "host:port the master listens on"),
    K_STR("master", "master_id", master_id, 1, NULL, "name the master gives in WELCOME"),
    K_INT("master", "heartbeat_interval_s", heartbeat_interval_s, 1, 3600,
          "seconds between worker heartbeats"),
    K_INT("master", "heartbeat_timeout_s", heartbeat_timeout_s, 1, 86400,
          "silence after which a worker is lost"),
    K_INT("master", "max_attempts", max_attempts, 1, 1000, "runs of a task before it fails"),
    K_INT("master", "retry_backoff_s", retry_backoff_s, 0, 3600,
          "-retries: wait before the first re-run, doubled for each next one, at most 300 s"),
    K_INT("master", "task_timeout_s", task_timeout_s, 0, 2147483647,
          "default task time limit, 0 = none"),
    K_STR("storage", "files_dir", files_dir, 1, NULL, "root of the output file store"),
    K_STR("storage", "meta_dir", meta_dir, 1, NULL, "journal and snapshots"),
    K_SIZE("storage", "journal_compact_bytes", journal_compact_bytes, 4096, UINT64_MAX,
           "journal size that triggers a snapshot"),
    K_SIZE("storage", "snapshot_check_sync_max", snapshot_check_sync_max, 0, UINT64_MAX,
           "a snapshot up to this size is checked before the start, a bigger one after it"),
    K_SIZE("storage", "max_log_bytes", max_log_bytes, 0, UINT64_MAX,
           "log bytes kept per task attempt, 0 = unlimited"),
    K_STR("mongodb", "uri", mongo_uri, 0, NULL, "MongoDB URI, empty = embedded journal"),
    K_STR("mongodb", "database", mongo_database, 1, NULL, "database name"),
    K_INT("mongodb", "server_selection_timeout_ms", mongo_timeout_ms, 1, 600000, "server selection timeout"),
    K_INT("mongodb", "socket_timeout_ms", mongo_socket_timeout_ms, 100, 600000,
          "how long one operation may wait for the server's reply"),
    K_STR("worker", "id", worker_id, 0, NULL, "worker name, empty = hostname"),
    K_STR("worker", "master", master_addr, 1, NULL, "host:port of the master"),
    K_STR("worker", "runtime", runtime, 1, runtimes, "auto | docker | process"),
    K_STR("worker", "docker_socket", docker_socket, 1, NULL, "Docker Engine unix socket"),
    K_STR("worker", "outputs_dir", outputs_dir, 1, NULL, "where task outputs wait for upload"),
    K_DBL("worker", "cpu", cpu, 0, 65536, "CPUs offered, 0 = detect"),
    K_SIZE("worker", "memory", memory, 0, UINT64_MAX, "memory offered, 0 = detect"),
    K_SIZE("worker", "storage", storage, 0, UINT64_MAX, "disk offered, 0 = detect"),
    K_I64("worker", "gpu", gpu, -1, 4096, "GPUs offered, -1 = detect"),
    K_INT("worker", "compress_level", compress_level, -1, 9,
          "-1 adaptive, 0 store, 1..9 zlib level"),
    K_INT("worker", "upload_threads", upload_threads, 1, 64, "deflate threads per upload"),
    K_SIZE("worker", "input_cache_bytes", input_cache_bytes, 0, UINT64_MAX,
           "task inputs kept on the worker (least recently used go first), 0 = unbounded"),
    K_STR("auth", "cluster_token", cluster_token, 0, NULL, "secret workers prove"),
    K_STR("scheduler", "policy", policy, 1, policies, "learned | easy | greedy | fifo"),
    K_STR("scheduler", "placement", placement, 1, placements, "best-fit | spread"),
    K_INT("scheduler", "fairshare_halflife_s", fairshare_halflife_s, 0, 2147483647,
          "fair-share usage half-life, 0 = no fair share"),
    K_STR("scheduler", "weights", fairshare_weights, 0, NULL,
          "fair-share weights: user:weight, ... (others 1)"),
    K_INT("scheduler", "max_running_per_user", max_running_per_user, 0, 1000000,
          "running tasks per user, 0 = no limit"),
    K_INT("scheduler", "default_limit_s", default_limit_s, 1, 2147483647,
          "runtime assumed for backfilling a task without -timeout"),
    K_BOOL("scheduler", "queue_unsatisfiable", queue_unsatisfiable,
           "queue a task no registered worker could run (the cluster may grow)"),
    K_SIZE("limits", "max_output_bytes", max_output_bytes, 0, UINT64_MAX,
           "per task, 0 = unlimited"),
    K_SIZE("limits", "max_output_files", max_output_files, 1, UINT64_MAX, "per task"),
    K_SIZE("limits", "max_input_bytes", max_input_bytes, 0, UINT64_MAX,
           "one -input (a file, or a directory as ustar), 0 = unlimited"),
    K_INT("limits", "input_keep_s", input_keep_s, 0, 2147483647,
          "an input no task refers to is removed after this long"),
    K_SIZE32("limits", "max_frame", max_frame, 65536, PROTO_PAYLOAD_MAX,
             "largest frame payload accepted"),
    K_INT("limits", "max_uploads", max_uploads, 1, 4096, "concurrent uploads at the master"),
    K_INT("limits", "max_connections", max_connections, 1, 65536, "authenticated connections"),
    K_INT("limits", "max_handshakes", max_handshakes, 1, 4096,
          "connections still before their HELLO"),
    K_INT("limits", "max_handshakes_per_addr", max_handshakes_per_addr, 1, 4096,
          "connections before HELLO from one address"),
    K_INT("limits", "handshake_timeout_s", handshake_timeout_s, 1, 600,
          "HELLO must arrive within"),
    K_INT("limits", "idle_timeout_s", idle_timeout_s, 1, 604800,
          "a silent connection is closed after"),
    K_INT("limits", "frame_timeout_s", frame_timeout_s, 1, 3600,
          "a started frame must finish within"),
    K_STR("tls", "cert", tls_cert, 0, NULL, "PEM certificate (master: its own; peers: client cert)"),
    K_STR("tls", "key", tls_key, 0, NULL, "PEM private key of cert"),
    K_STR("tls", "ca", tls_ca, 0, NULL, "PEM CA: peers verify the master; master verifies client certs"),
    K_BOOL("tls", "require_client_cert", tls_require_client_cert, "master: peers need a client cert"),
    K_STR("tls", "server_name", tls_server_name, 0, NULL, "name in the master's cert, empty = host"),
    K_STR("http", "listen", http_listen, 0, NULL, "host:port of the HTTP API, empty = off"),
    K_INT("retention", "max_age_days", retention_max_age_days, 0, 1000000,
          "runs older than this are removed, 0 = keep forever"),
    K_SIZE("retention", "quota_soft", quota_soft, 0, UINT64_MAX,
           "stored bytes per user that warn, 0 = none"),
    K_SIZE("retention", "quota_hard", quota_hard, 0, UINT64_MAX,
           "stored bytes per user that refuse new submissions, 0 = none"),
    K_INT("retention", "sweep_interval_s", sweep_interval_s, 1, 604800,
          "seconds between retention sweeps"),
    K_INT("retention", "archive_after_days", archive_after_days, 0, 1000000,
          "with [store] backend = s3: runs older than this move from the disk to the bucket"),
    K_INT("retention", "compress_after_days", compress_after_days, 0, 1000000,
          "runs older than this are packed on the disk with zlib, 0 = never"),
    K_STR("store", "backend", store_backend, 1, backends, "local | s3: where finished outputs live"),
    K_STR("store", "endpoint", s3_endpoint, 0, NULL, "S3 endpoint URL (http:// or https://)"),
    K_STR("store", "bucket", s3_bucket, 0, NULL, "S3 bucket"),
    K_STR("store", "region", s3_region, 0, NULL, "S3 region, empty = AWS_REGION or us-east-1"),
    K_STR("store", "prefix", s3_prefix, 0, NULL, "key prefix before <user>/<task_name>/..."),
    K_STR("store", "access_key", s3_access_key, 0, NULL, "empty = AWS_ACCESS_KEY_ID"),
    K_STR("store", "secret_key", s3_secret_key, 0, NULL, "empty = AWS_SECRET_ACCESS_KEY"),
    K_SIZE("store", "part_size", s3_part_size, 5ull << 20, 5ull << 30,
           "multipart part size: files above it go in parts"),
    K_INT("store", "retries", s3_retries, 0, 100, "S3 attempts after the first, with backoff"),
    K_INT("store", "stall_timeout_s", s3_stall_timeout_s, 1, 3600,
          "an S3 transfer moving no byte this long is retried"),
    /* Aliases: short spellings some command-line flag tables use. */
    K_STR("worker", "master", master_addr, 1, NULL, "alias of master_addr"),
    K_STR("worker", "id", worker_id, 0, NULL, "alias of worker_id"),
    K_INT("master", "heartbeat_interval", heartbeat_interval_s, 1, 3600,
          "alias of heartbeat_interval_s"),
};

/* Deferred "admins" line: it may name users declared further down. */
typedef struct cfg_parse {
    config cfg;                      /* parsed into, copied out on success */
    const char *name;
    int line;
    char section[CFG_LINE_MAX + 1];
    char key[CFG_LINE_MAX + 1];
    char value[CFG_LINE_MAX + 1];
    char admins[CFG_LINE_MAX + 1];
    int admins_line;
    config_warn_fn warn;
} cfg_parse;

/* Overwrites all of *c, users included; zeroes padding so configs compare
 * with memcmp. */
void config_defaults(config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:7070");
    snprintf(c->master_id, sizeof c->master_id, "master");
    c->heartbeat_interval_s = 2;
    c->heartbeat_timeout_s = 10;
    c->max_attempts = 3;
    c->retry_backoff_s = 5;
    c->task_timeout_s = 0;
    snprintf(c->placement, sizeof c->placement, "best-fit");
    c->fairshare_halflife_s = 604800;
    c->default_limit_s = 86400;
    snprintf(c->files_dir, sizeof c->files_dir, "./data/files");
    snprintf(c->meta_dir, sizeof c->meta_dir, "./data/meta");
    c->journal_compact_bytes = 64ull << 20;
    c->snapshot_check_sync_max = 1ull << 30;
    c->max_log_bytes = 64ull << 20;
    snprintf(c->mongo_database, sizeof c->mongo_database, "cloudai");
    c->mongo_timeout_ms = 5000;
    c->mongo_socket_timeout_ms = CONFIG_MONGO_SOCKET_TIMEOUT_MS;
    snprintf(c->master_addr, sizeof c->master_addr, "127.0.0.1:7070");
    snprintf(c->runtime, sizeof c->runtime, "auto");
    snprintf(c->docker_socket, sizeof c->docker_socket, "/var/run/docker.sock");
    snprintf(c->outputs_dir, sizeof c->outputs_dir, "./data/outputs");
    c->cpu = 0;
    c->memory = 0;
    c->storage = 0;
    c->gpu = -1;
    c->compress_level = -1;
    c->upload_threads = 2;
    snprintf(c->policy, sizeof c->policy, "learned");
    c->max_output_bytes = 0;
    c->max_input_bytes = 16ull << 30;
    c->input_cache_bytes = 32ull << 30;
    c->input_keep_s = 3600;
    c->max_output_files = 1000000;
    c->max_frame = PROTO_PAYLOAD_MAX;
    c->max_uploads = 16;
    c->max_connections = 256;
    c->max_handshakes = 32;
    c->max_handshakes_per_addr = 8;
    c->handshake_timeout_s = 5;
    c->idle_timeout_s = 300;
    c->frame_timeout_s = 30;
    c->sweep_interval_s = 3600;
    snprintf(c->store_backend, sizeof c->store_backend, "local");
    c->s3_part_size = 16ull << 20;
    c->s3_retries = 5;
    c->s3_stall_timeout_s = 60;
}

/* Copies untrusted bytes into a message: printable ASCII only, shortened. */
static const char *show(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0, lim = cap > 4 ? cap - 4 : 0;
    for (size_t i = 0; i < n && o < lim; i++) {
        unsigned char ch = (unsigned char)s[i];
        dst[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    if (o < n && cap > 4) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    if (cap > 0)
        dst[o < cap ? o : cap - 1] = '\0';
    return dst;
}

static int has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

/* A strict decimal int64: optional '-', digits, nothing else. */
static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    if (!((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcmp(s, yes[i])) { *out = 1; return 0; }
        if (!strcmp(s, no[i])) { *out = 0; return 0; }
    }
    return -1;
}

/* Names usable as a path component unchanged (ids_sanitize's fixed points)
 * and short enough for config_user.name. */
static int name_ok(const char *s, size_t n)
{
    char buf[FSIZE(users[0].name)], tmp[IDS_NAME_MAX + 1];
    if (n == 0 || n >= sizeof buf || memchr(s, '\0', n))
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return ids_sanitize(buf, tmp, sizeof tmp) == 0;
}

static int set_user(config *c, const char *name, const char *tok, size_t tlen,
                    char *why, size_t whycap)
{
    size_t nlen = strlen(name);
    if (!name_ok(name, nlen)) {
        snprintf(why, whycap, "user name must be 1..%zu bytes of [A-Za-z0-9._-], "
                 "not starting with '.'", FSIZE(users[0].name) - 1);
        return -1;
    }
    if (tlen == 0 || tlen >= FSIZE(users[0].token) || has_ctl(tok, tlen)) {
        snprintf(why, whycap, "token must be 1..%zu bytes without control bytes",
                 FSIZE(users[0].token) - 1);
        return -1;
    }
    config_user *u = (config_user *)config_user_find(c, name);
    if (!u) {
        if (c->nusers >= CONFIG_USERS_MAX) {
            snprintf(why, whycap, "more than %d users", CONFIG_USERS_MAX);
            return -1;
        }
        u = &c->users[c->nusers++];
        memset(u, 0, sizeof *u);
        memcpy(u->name, name, nlen);
    }
    memset(u->token, 0, sizeof u->token);
    memcpy(u->token, tok, tlen);
    return 0;
}

/* Walks "a, b,c": calls fn for each trimmed, non-empty item. */
static int each_name(const char *list, int (*fn)(const char *, size_t, void *), void *arg)
{
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *e = comma ? comma : p + strlen(p);
        const char *s = p;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        const char *t = e;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (t > s && fn(s, (size_t)(t - s), arg) < 0)
            return -1;
        p = comma ? comma + 1 : e;
    }
    return 0;
}

static int admin_check(const char *s, size_t n, void *arg)
{
    return name_ok(s, n) ? 0 : -1;
}

typedef struct admin_ctx {
    config *c;
    char *why;               /* set: unknown user is an error */
    size_t whycap;
    cfg_parse *ps;           /* parse: unknown user is a warning */
} admin_ctx;

static int admin_mark(const char *s, size_t n, void *arg)
{
    admin_ctx *a = arg;
    char name[FSIZE(users[0].name)], shown[80], msg[CFG_WHY_MAX + 1200];
    memcpy(name, s, n);
    name[n] = '\0';
    config_user *u = (config_user *)config_user_find(a->c, name);
    if (u) {
        u->admin = 1;
        return 0;
    }
    show(shown, sizeof shown, s, n);
    if (a->why) {
        snprintf(a->why, a->whycap, "unknown user '%s'", shown);
        return -1;
    }
    if (a->ps->warn) {
        snprintf(msg, sizeof msg, "%s:%d: admins: unknown user '%s'", a->ps->name,
                 a->ps->admins_line, shown);
        a->ps->warn(msg);
    }
    return 0;
}

/* "admins" defines the whole admin set: users it does not name lose it. */
static int apply_admins(config *c, const char *list, char *why, size_t whycap, cfg_parse *ps)
{
    admin_ctx a = {c, why, whycap, ps};
    int saved[CONFIG_USERS_MAX];
    for (int i = 0; i < c->nusers; i++) {
        saved[i] = c->users[i].admin;
        c->users[i].admin = 0;
    }
    if (each_name(list, admin_mark, &a) < 0) {
        for (int i = 0; i < c->nusers; i++)
            c->users[i].admin = saved[i];
        return -1;
    }
    return 0;
}

static int set_typed(config *c, const cfg_key *k, const char *v, size_t n,
                     char *why, size_t whycap)
{
    char shown[64];
    char *field = (char *)c + k->off;
    int64_t iv;
    uint64_t uv;

    show(shown, sizeof shown, v, n);
    switch (k->type) {
    case CT_STR:
        if (n >= k->size) {
            snprintf(why, whycap, "longer than %zu bytes", k->size - 1);
            return -1;
        }
        if (has_ctl(v, n)) {
            snprintf(why, whycap, "contains a control byte");
            return -1;
        }
        if (k->nonempty && n == 0) {
            snprintf(why, whycap, "must not be empty");
            return -1;
        }
        if (k->choices) {
            size_t i;
            for (i = 0; k->choices[i]; i++)
                if (strlen(k->choices[i]) == n && !memcmp(k->choices[i], v, n))
                    break;
            if (!k->choices[i]) {
                snprintf(why, whycap, "'%s' is not one of %s", shown, k->doc);
                return -1;
            }
        }
        memset(field, 0, k->size);
        memcpy(field, v, n);
        return 0;
    case CT_INT:
    case CT_I64:
        if (memchr(v, '\0', n) || parse_i64(v, &iv) < 0) {
            snprintf(why, whycap, "'%s' is not an integer", shown);
            return -1;
        }
        if (iv < k->min || iv > k->max) {
            snprintf(why, whycap, "%lld is outside %lld..%lld", (long long)iv,
                     (long long)k->min, (long long)k->max);
            return -1;
        }
        if (k->type == CT_INT) {
            int x = (int)iv;
            memcpy(field, &x, sizeof x);
        } else {
            memcpy(field, &iv, sizeof iv);
        }
        return 0;
    case CT_SIZE:
    case CT_SIZE32:
        if (memchr(v, '\0', n) || ids_parse_size(v, &uv) < 0) {
            snprintf(why, whycap, "'%s' is not a size (e.g. 512, 64k, 1.5g, 2GiB)", shown);
            return -1;
        }
        if (uv < k->umin || uv > k->umax) {
            snprintf(why, whycap, "%llu is outside %llu..%llu", (unsigned long long)uv,
                     (unsigned long long)k->umin, (unsigned long long)k->umax);
            return -1;
        }
        if (k->type == CT_SIZE) {
            memcpy(field, &uv, sizeof uv);
        } else {
            uint32_t x = (uint32_t)uv;
            memcpy(field, &x, sizeof x);
        }
        return 0;
    case CT_DOUBLE: {
        char *end;
        double d = 0;
        int ok = n > 0 && !memchr(v, '\0', n) && (v[0] == '.' || (v[0] >= '0' && v[0] <= '9'));
        if (ok) {
            errno = 0;
            d = strtod(v, &end);
            ok = !errno && *end == '\0' && isfinite(d);
        }
        if (!ok) {
            snprintf(why, whycap, "'%s' is not a number", shown);
            return -1;
        }
        if (d < (double)k->min || d > (double)k->max) {
            snprintf(why, whycap, "%g is outside %lld..%lld", d, (long long)k->min,
                     (long long)k->max);
            return -1;
        }
        memcpy(field, &d, sizeof d);
        return 0;
    }
    case CT_BOOL: {
        int b;
        if (memchr(v, '\0', n) || parse_bool(v, &b) < 0) {
            snprintf(why, whycap, "'%s' is not a boolean (true/false)", shown);
            return -1;
        }
        memcpy(field, &b, sizeof b);
        return 0;
    }
    }
    return -1;
}

/* rule.PATTERN, archive.PATTERN or compress.PATTERN = DAYS into rules[*n];
 * a repeated pattern replaces its days (and keeps its place: first match
 * wins). */
static int set_rule(config_rule *rules, int *n, const char *pat, const char *v, char *why,
                    size_t whycap)
{
    int64_t days;
    int i;
    if (!*pat || strlen(pat) >= FSIZE(rules[0].pattern) || has_ctl(pat, strlen(pat))) {
        snprintf(why, whycap, "rule pattern must be 1..%zu bytes", FSIZE(rules[0].pattern) - 1);
        return -1;
    }
    if (parse_i64(v, &days) < 0 || days < 0 || days > 1000000) {
        snprintf(why, whycap, "days must be an integer in 0..1000000");
        return -1;
    }
    for (i = 0; i < *n && strcmp(rules[i].pattern, pat); i++)
        ;
    if (i == *n) {
        if (*n >= CONFIG_RULES_MAX) {
            snprintf(why, whycap, "more than %d rules", CONFIG_RULES_MAX);
            return -1;
        }
        (*n)++;
        snprintf(rules[i].pattern, sizeof rules[i].pattern, "%s", pat);
    }
    rules[i].max_age_days = (int)days;
    return 0;
}

int config_archive_days(const config *c, const char *task_name)
{
    for (int i = 0; i < c->narchive_rules; i++)
        if (ids_glob(c->archive_rules[i].pattern, task_name))
            return c->archive_rules[i].max_age_days;
    return c->archive_after_days;
}

int config_archives(const config *c)
{
    if (c->archive_after_days > 0) return 1;
    for (int i = 0; i < c->narchive_rules; i++)
        if (c->archive_rules[i].max_age_days > 0) return 1;
    return 0;
}

/* quota.USER = SOFT,HARD (sizes; 0 = none). */
static int set_quota(config *c, const char *user, const char *v, char *why, size_t whycap)
{
    char soft[64];
    const char *comma = strchr(v, ',');
    uint64_t s = 0, h = 0;
    int i;
    if (!name_ok(user, strlen(user))) {
        snprintf(why, whycap, "quota needs a user name of [A-Za-z0-9._-]");
        return -1;
    }
    if (!comma || (size_t)(comma - v) >= sizeof soft) {
        snprintf(why, whycap, "quota is SOFT,HARD (e.g. 8g,10g)");
        return -1;
    }
    memcpy(soft, v, (size_t)(comma - v));
    soft[comma - v] = '\0';
    const char *hard = comma + 1;
    while (*hard == ' ') hard++;
    if (ids_parse_size(soft, &s) < 0 || ids_parse_size(hard, &h) < 0) {
        snprintf(why, whycap, "quota is SOFT,HARD sizes (e.g. 8g,10g)");
        return -1;
    }
    for (i = 0; i < c->nquotas && strcmp(c->quotas[i].user, user); i++)
        ;
    if (i == c->nquotas) {
        if (c->nquotas >= CONFIG_USERS_MAX) {
            snprintf(why, whycap, "more than %d quotas", CONFIG_USERS_MAX);
            return -1;
        }
        c->nquotas++;
        snprintf(c->quotas[i].user, sizeof c->quotas[i].user, "%s", user);
    }
    c->quotas[i].soft = s;
    c->quotas[i].hard = h;
    return 0;
}

/* v is NUL-terminated at v[n] but may hold NULs before it. Returns 0, -1
 * with why filled, or 1 for an unknown key. ps is NULL for config_set, which
 * applies "admins" at once instead of at the end of the file. */
static int set_value(config *c, const char *section, const char *key, const char *v,
                     size_t n, char *why, size_t whycap, cfg_parse *ps)
{
    if (!strcmp(section, "auth")) {
        if (!strncmp(key, "user.", 5)) {
            if (memchr(v, '\0', n)) {
                snprintf(why, whycap, "contains a control byte");
                return -1;
            }
            return set_user(c, key + 5, v, n, why, whycap);
        }
        if (!strcmp(key, "admins")) {
            if (memchr(v, '\0', n) || each_name(v, admin_check, NULL) < 0) {
                snprintf(why, whycap, "admins must be a comma-separated list of user names");
                return -1;
            }
            if (!ps)
                return apply_admins(c, v, why, whycap, NULL);
            memcpy(ps->admins, v, n + 1);
            ps->admins_line = ps->line;
            return 0;
        }
    }
    if (!strcmp(section, "retention") && (!strncmp(key, "rule.", 5) || !strncmp(key, "quota.", 6) ||
                                          !strncmp(key, "archive.", 8) ||
                                          !strncmp(key, "compress.", 9))) {
        if (memchr(v, '\0', n)) {
            snprintf(why, whycap, "contains a control byte");
            return -1;
        }
        if (key[0] == 'r') return set_rule(c->rules, &c->nrules, key + 5, v, why, whycap);
        if (key[0] == 'a')
            return set_rule(c->archive_rules, &c->narchive_rules, key + 8, v, why, whycap);
        if (key[0] == 'c')
            return set_rule(c->compress_rules, &c->ncompress_rules, key + 9, v, why, whycap);
        return set_quota(c, key + 6, v, why, whycap);
    }
    for (size_t i = 0; i < sizeof schema / sizeof schema[0]; i++)
        if (!strcmp(schema[i].section, section) && !strcmp(schema[i].key, key))
            return set_typed(c, &schema[i], v, n, why, whycap);
    return 1;
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && is_space(**s))
        (*s)++;
    while (*e > *s && is_space((*e)[-1]))
        (*e)--;
}

/* Unquotes [s, e) into out (NUL-terminated; *n = length). */
static int unquote(const char *s, const char *e, char *out, size_t *n, const char **why)
{
    size_t o = 0;
    if (s == e || *s != '"') {
        memcpy(out, s, (size_t)(e - s));
        out[e - s] = '\0';
        *n = (size_t)(e - s);
        return 0;
    }
    for (const char *p = s + 1; p < e; p++) {
        if (*p == '\\') {
            if (p + 1 >= e || (p[1] != '"' && p[1] != '\\')) {
                *why = "bad escape in quoted value (only \\\" and \\\\)";
                return -1;
            }
            out[o++] = *++p;
        } else if (*p == '"') {
            if (p + 1 != e) {
                *why = "text after the closing quote";
                return -1;
            }
            out[o] = '\0';
            *n = o;
            return 0;
        } else {
            out[o++] = *p;
        }
    }
    *why = "missing closing quote";
    return -1;
}

static int parse_line(cfg_parse *ps, const char *s, const char *e, char *err, size_t errcap)
{
    char why[CFG_WHY_MAX], ks[80], ss[80], msg[CFG_WHY_MAX + 400];
    const char *w = NULL;

    trim(&s, &e);
    if (s == e || *s == '#' || *s == ';')
        return 0;
    if (*s == '[') {
        if (e - s < 2 || e[-1] != ']') {
            snprintf(err, errcap, "%s:%d: missing ']' after section name", ps->name, ps->line);
            return -1;
        }
        const char *a = s + 1, *b = e - 1;
        trim(&a, &b);
        if (a == b) {
            snprintf(err, errcap, "%s:%d: empty section name", ps->name, ps->line);
            return -1;
        }
        memcpy(ps->section, a, (size_t)(b - a));
        ps->section[b - a] = '\0';
        return 0;
    }
    const char *eq = memchr(s, '=', (size_t)(e - s));
    if (!eq) {
        snprintf(err, errcap, "%s:%d: missing '=' (expected key = value)", ps->name, ps->line);
        return -1;
    }
    const char *ka = s, *kb = eq, *va = eq + 1, *vb = e;
    trim(&ka, &kb);
    trim(&va, &vb);
    if (ka == kb) {
        snprintf(err, errcap, "%s:%d: missing key before '='", ps->name, ps->line);
        return -1;
    }
    size_t klen = (size_t)(kb - ka), vlen;
    memcpy(ps->key, ka, klen);
    ps->key[klen] = '\0';
    show(ks, sizeof ks, ka, klen);
    show(ss, sizeof ss, ps->section, strlen(ps->section));
    if (unquote(va, vb, ps->value, &vlen, &w) < 0) {
        snprintf(err, errcap, "%s:%d: [%s] %s: %s", ps->name, ps->line, ss, ks, w);
        return -1;
    }
    /* A key with a NUL in it can only be unknown; strcmp must not match a prefix. */
    int rc = memchr(ka, '\0', klen) ? 1
           : set_value(&ps->cfg, ps->section, ps->key, ps->value, vlen, why, sizeof why, ps);
    if (rc < 0) {
        snprintf(err, errcap, "%s:%d: [%s] %s: %s", ps->name, ps->line, ss, ks, why);
        return -1;
    }
    if (rc > 0 && ps->warn) {
        snprintf(msg, sizeof msg, "%s:%d: unknown key '%s' in [%s]", ps->name, ps->line, ks, ss);
        ps->warn(msg);
    }
    return 0;
}

/* On error c is unchanged: the text is parsed into a copy. warn (may be NULL)
 * is called synchronously for each unknown key. */
int config_parse(config *c, const char *text, size_t len, const char *name,
                 config_warn_fn warn, char *err, size_t errcap)
{
    char dummy[1];
    int rc = -1;
    if (!err || errcap == 0) {
        err = dummy;
        errcap = sizeof dummy;
    }
    err[0] = '\0';
    if (!name)
        name = "<config>";
    cfg_parse *ps = malloc(sizeof *ps);
    if (!ps) {
        snprintf(err, errcap, "%s: out of memory", name);
        return -1;
    }
    memcpy(&ps->cfg, c, sizeof *c);
    ps->name = name;
    ps->line = 0;
    ps->section[0] = '\0';
    ps->admins_line = 0;
    ps->warn = warn;
    size_t pos = 0;
    while (text && pos < len) {
        const char *ls = text + pos;
        const char *nl = memchr(ls, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - ls) : len - pos;
        pos += ll + (nl ? 1 : 0);
        ps->line++;
        if (ll > CFG_LINE_MAX) {
            snprintf(err, errcap, "%s:%d: line longer than %d bytes", name, ps->line,
                     CFG_LINE_MAX);
            goto out;
        }
        if (parse_line(ps, ls, ls + ll, err, errcap) < 0)
            goto out;
    }
    if (ps->admins_line)
        apply_admins(&ps->cfg, ps->admins, NULL, 0, ps);
    memcpy(c, &ps->cfg, sizeof *c);
    rc = 0;
out:
    free(ps);
    return rc;
}

/* Reads at most 1 MiB from path and parses it over *c (config_parse rules).
 * Uses strerror(): call it at start-up, before threads exist. */
int config_load(config *c, const char *path, config_warn_fn warn, char *err, size_t errcap)
{
    char *text = NULL, dummy[1];
    size_t len = 0;
    if (!err || errcap == 0) {
        err = dummy;
        errcap = sizeof dummy;
    }
    int r = fsutil_read_file(path, &text, &len, CFG_FILE_MAX);
    if (r < 0) {
        if (r == -EFBIG)
            snprintf(err, errcap, "%s: larger than %u bytes", path, CFG_FILE_MAX);
        else
            snprintf(err, errcap, "%s: %s", path, cai_strerror(r));
        return -1;
    }
    r = config_parse(c, text, len, path, warn, err, errcap);
    free(text);
    return r;
}

/* Same validation as a file line; errors read "[section] key: why". An
 * unknown key is an error here (a mistyped flag should not pass), and so is
 * an "admins" entry naming a user not yet defined. */
int config_set(config *c, const char *section, const char *key, const char *value,
               char *err, size_t errcap)
{
    char why[CFG_WHY_MAX], ss[80], ks[80], dummy[1];
    if (!err || errcap == 0) {
        err = dummy;
        errcap = sizeof dummy;
    }
    if (!section || !key || !value) {
        snprintf(err, errcap, "config_set: missing section, key or value");
        return -1;
    }
    show(ss, sizeof ss, section, strlen(section));
    show(ks, sizeof ks, key, strlen(key));
    int rc = set_value(c, section, key, value, strlen(value), why, sizeof why, NULL);
    if (rc > 0) {
        snprintf(err, errcap, "unknown key '%s' in [%s]", ks, ss);
        return -1;
    }
    if (rc < 0) {
        snprintf(err, errcap, "[%s] %s: %s", ss, ks, why);
        return -1;
    }
    return 0;
}

int config_override(config *c, const char *arg, char *err, size_t errcap)
{
    char section[80], key[CFG_LINE_MAX + 1];
    const char *eq, *dot;
    if (!arg || arg[0] == '-' || !(eq = strchr(arg, '=')))
        return 1;
    dot = memchr(arg, '.', (size_t)(eq - arg));
    if (!dot || dot == arg || dot + 1 == eq)
        return 1;
    if ((size_t)(dot - arg) >= sizeof section || (size_t)(eq - dot - 1) >= sizeof key) {
        if (err && errcap)
            snprintf(err, errcap, "override '%.40s...': section or key too long", arg);
        return -1;
    }
    memcpy(section, arg, (size_t)(dot - arg));
    section[dot - arg] = '\0';
    memcpy(key, dot + 1, (size_t)(eq - dot - 1));
    key[eq - dot - 1] = '\0';
    return config_set(c, section, key, eq + 1, err, errcap);
}

/* The placeholders of config.example.ini all contain this. */
#define CFG_PLACEHOLDER "change-me"

int config_check_secrets(const config *c, char *err, size_t errcap)
{
    const char *what = NULL;
    char name[96];
    if (strstr(c->cluster_token, CFG_PLACEHOLDER)) {
        what = "cluster_token";
    } else {
        for (int i = 0; i < c->nusers; i++)
            if (strstr(c->users[i].token, CFG_PLACEHOLDER)) {
                snprintf(name, sizeof name, "user.%s", c->users[i].name);
                what = name;
                break;
            }
    }
    if (!what)
        return 0;
    if (err && errcap)
        snprintf(err, errcap, "[auth] %s is still the example placeholder (\"%s...\"): "
                 "set a random secret (e.g. `openssl rand -hex 32`), or remove the [auth] "
                 "tokens for an open local dev cluster", what, CFG_PLACEHOLDER);
    return -1;
}

/* The returned pointer aliases c->users and lives as long as c. */
const config_user *config_user_find(const config *c, const char *name)
{
    for (int i = 0; i < c->nusers; i++)
        if (!strcmp(c->users[i].name, name))
            return &c->users[i];
    return NULL;
}
