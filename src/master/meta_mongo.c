/* meta_mongo.c — the MongoDB metadata backend (meta_ops of meta_impl.h).
 * Stores the very documents of metadoc.h in TASKS, FILE_METADATA and
 * WORKERS of one database. Threads share one mongoc_client_pool_t and hold
 * a client only for the length of one operation, as libmongoc's pooling
 * guide asks. Writes are idempotent upserts/deletes, so a write that met a
 * network error is simply sent again (bounded); reads are not retried.
 * Uses only what FerretDB 1.24 also implements: no transactions, no
 * sessions of our own, no aggregation beyond what libmongoc does itself. */
#include "master/meta_impl.h"

#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "master/metadoc.h"

#define C_TASKS "TASKS"
#define C_FILES "FILE_METADATA"
#define C_WORKERS "WORKERS"
#define DUP_KEY 11000

/* Every document's _id is its natural key (task_id, worker_id, or
 * "<task_id>/<file_name>" for files), so each upsert is keyed on _id: the
 * one filter FerretDB 1.24 (SQLite) evaluates in SQL. A filter on any other
 * field makes it scan the whole collection, which turned a 10,000-file
 * bulk into minutes. The unique indexes on the natural keys still hold. */
#define FILE_KEY_MAX (3 * 64 + 1 + 4096)

/* "<task_id>/<file_name>" with '%' and '/' of the task id written as %25
 * and %2F, so distinct (task_id, file_name) pairs get distinct keys. */
static void file_key(const file_rec *f, char *out)
{
    char *o = out;
    for (const char *p = f->task_id; *p; p++) {
        if (*p == '%' || *p == '/') o += sprintf(o, "%%%02X", (unsigned char)*p);
        else *o++ = *p;
    }
    *o++ = '/';
    size_t n = strnlen(f->file_name, sizeof f->file_name - 1);
    memcpy(o, f->file_name, n);
    o[n] = 0;
}

struct mm {
    struct meta base;        /* first: meta.c casts */
    mongoc_client_pool_t *pool;
    mongoc_uri_t *uri;
    char *db;
    int ferretdb;            /* buildInfo has ferretdbVersion */
};

/* ---- driver-wide setup ---- */

/* Driver messages (e.g. the harmless "Couldn't send endSessions" that
 * FerretDB provokes at pool destroy) are dropped: every failure we act on
 * comes back through bson_error_t, and a library does not log. */
static void drop_log(mongoc_log_level_t level, const char *domain, const char *msg, void *ud)
{
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* mongoc_cleanup() is never called: the driver stays initialised for the
 * life of the process, because another store (meta_copy's source, a test's
 * second backend) may still be using it; the OS reclaims it at exit. */
static void driver_init(void)
{
    mongoc_log_set_handler(drop_log, NULL);
    mongoc_init();
}

void meta_mongo_forget_shm(void)
{
    char name[32];
    snprintf(name, sizeof name, "/mongoc-%u", (unsigned)getpid());
    (void)shm_unlink(name);    /* ENOENT: a build without the counters */
}

/* ---- errors and retries ---- */

/* Errors worth sending the same (idempotent) write again for: the server
 * was not reachable or went away mid-operation. */
static int transient(const bson_error_t *e)
{
    if (e->domain == MONGOC_ERROR_STREAM || e->domain == MONGOC_ERROR_SERVER_SELECTION)
        return 1;
    if (e->domain == MONGOC_ERROR_CLIENT && e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE)
        return 0;
    switch (e->code) {       /* server-side "shutting down / not primary" */
    case 91: case 189: case 10107: case 11600: case 11602: case 13435: case 13436:
        return e->domain == MONGOC_ERROR_SERVER;
    default:
        return 0;
    }
}

/* One attempt of a write: fills e and returns 0 on success, 1 when a
 * concurrent upsert of the same key won a race (duplicate key: the record
 * is there), -1 on failure. */
typedef int (*write_fn)(mongoc_client_t *c, struct mm *mm, const void *arg, bson_error_t *e);

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Runs fn with a pooled client; transient failures are retried after
 * 100, 200 and 400 ms, then reported as META_E_UNAVAIL. A duplicate-key
 * race is retried once at once (the second upsert finds the record) and
 * then accepted: the key is stored, by whichever writer came first. */
static int with_retry(struct mm *mm, const char *what, write_fn fn, const void *arg,
                      char *err, size_t errcap)
{
    static const long backoff[] = { 100, 200, 400 };
    bson_error_t e;
    int dups = 0;
    memset(&e, 0, sizeof e);
    for (size_t attempt = 0;; attempt++) {
        mongoc_client_t *c = mongoc_client_pool_pop(mm->pool);
        if (!c) {
            meta_errf(err, errcap, "%s: no MongoDB client available", what);
            return META_E_UNAVAIL;
        }
        int r = fn(c, mm, arg, &e);
        mongoc_client_pool_push(mm->pool, c);
        if (r == 0) return 0;
        if (r == 1) {
            if (dups++) return 0;
            continue;
        }
        if (!transient(&e)) {
            meta_errf(err, errcap, "%s: MongoDB error %u.%u: %s", what, e.domain, e.code, e.message);
            return e.domain == MONGOC_ERROR_BSON ? META_E_ARG : META_E_IO;
        }
        if (attempt == sizeof backoff / sizeof backoff[0]) break;
        sleep_ms(backoff[attempt]);
    }
    meta_errf(err, errcap, "%s: MongoDB unavailable after %zu attempts: %s", what,
              sizeof backoff / sizeof backoff[0] + 1, e.message);
    return META_E_UNAVAIL;
}

static int dup_only(const bson_error_t *e)
{
    return e->domain == MONGOC_ERROR_SERVER && e->code == DUP_KEY;
}

/* ---- writes ---- */

struct one_put {
    const char *coll;
    const char *id;           /* _id: the collection's unique key */
    bson_t *doc;
};

static int put_one(mongoc_client_t *c, struct mm *mm, const void *arg, bson_error_t *e)
{
    const struct one_put *p = arg;
    mongoc_collection_t *coll = mongoc_client_get_collection(c, mm->db, p->coll);
    bson_t sel = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&sel, "_id", p->id);
    BSON_APPEND_BOOL(&opts, "upsert", true);
    bool ok = mongoc_collection_replace_one(coll, &sel, p->doc, &opts, NULL, e);
    bson_destroy(&sel);
    bson_destroy(&opts);
    mongoc_collection_destroy(coll);
    return ok ? 0 : dup_only(e) ? 1 : -1;
}

static int m_task_put(meta *m, const task_rec *t, char *err, size_t errcap)
{
    bson_t doc = BSON_INITIALIZER;
    int rc = metadoc_task_to_bson(t, &doc);
    if (rc) {
        meta_errf(err, errcap, "task_put: task %s cannot be encoded", t->task_id);
        goto out;
    }
    struct one_put p = { C_TASKS, t->task_id, &doc };
    rc = with_retry((struct mm *)m, "task_put", put_one, &p, err, errcap);
out:
    bson_destroy(&doc);
    return rc;
}

static int m_worker_put(meta *m, const worker_rec *w, char *err, size_t errcap)
{
    bson_t doc = BSON_INITIALIZER;
    int rc = metadoc_worker_to_bson(w, &doc);
    if (rc) {
        meta_errf(err, errcap, "worker_put: worker %s cannot be encoded", w->worker_id);
        goto out;
    }
    struct one_put p = { C_WORKERS, w->worker_id, &doc };
    rc = with_retry((struct mm *)m, "worker_put", put_one, &p, err, errcap);
out:
    bson_destroy(&doc);
    return rc;
}

struct many_put {
    const file_rec *files;
    size_t n;
    bson_t *docs;             /* encoded once, reused by every attempt */
};

/* The indexes of the duplicate-key writeErrors of a reply into idx (up
 * to cap), their number in *n; 1 if every writeError is a duplicate key
 * (and there is at least one), else 0. */
static int reply_dups(const bson_t *reply, size_t *idx, size_t cap, size_t *n)
{
    bson_iter_t it, arr, we;
    *n = 0;
    if (bson_iter_init_find(&it, reply, "writeConcernErrors") && BSON_ITER_HOLDS_ARRAY(&it)) {
        bson_iter_recurse(&it, &arr);
        if (bson_iter_next(&arr)) return 0;
    }
    if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return 0;
    while (bson_iter_next(&arr)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &we) ||
            !bson_iter_find(&we, "code") || bson_iter_as_int64(&we) != DUP_KEY)
            return 0;
        if (!bson_iter_recurse(&arr, &we) || !bson_iter_find(&we, "index")) return 0;
        int64_t i = bson_iter_as_int64(&we);
        if (i < 0 || (size_t)i >= cap) return 0;
        idx[(*n)++] = (size_t)i;
    }
    return *n > 0;
}

/* MongoDB's bulk splits at maxWriteBatchSize anyway; smaller batches keep
 * FerretDB 1.24 (should it ever take this path) from stalling: it keeps
 * every matched op's read open until the end of an update command, and
 * runs out of connections past about a hundred. */
#define REPLACE_BATCH 50

/* Replace-with-upsert of docs[idx[0..n)] keyed on their _id, in unordered
 * bulks of REPLACE_BATCH. 0, 1 (duplicate-key race) or -1. */
static int replace_some(mongoc_collection_t *coll, const struct many_put *p, const size_t *idx,
                        size_t n, bson_error_t *e)
{
    bson_t opts = BSON_INITIALIZER, upsert = BSON_INITIALIZER;
    int r = 0;
    BSON_APPEND_BOOL(&opts, "ordered", false);
    BSON_APPEND_BOOL(&upsert, "upsert", true);
    for (size_t b = 0; b < n && r == 0; b += REPLACE_BATCH) {
        mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, &opts);
        bson_t reply;
        for (size_t i = b; i < n && i < b + REPLACE_BATCH && r == 0; i++) {
            bson_t sel = BSON_INITIALIZER;
            bson_iter_t id;
            if (bson_iter_init_find(&id, &p->docs[idx[i]], "_id"))
                bson_append_iter(&sel, "_id", -1, &id);
            if (!mongoc_bulk_operation_replace_one_with_opts(bulk, &sel, &p->docs[idx[i]], &upsert, e))
                r = -1;
            bson_destroy(&sel);
        }
        if (r == 0 && !mongoc_bulk_operation_execute(bulk, &reply, e)) {
            size_t nd, *tmp = malloc(REPLACE_BATCH * sizeof *tmp);
            /* MongoDB lists failures in writeErrors; FerretDB fails the
             * whole command with the first one's code. */
            int dups = bson_has_field(&reply, "writeErrors")
                           ? tmp && reply_dups(&reply, tmp, REPLACE_BATCH, &nd) : dup_only(e);
            free(tmp);
            r = !transient(e) && dups ? 1 : -1;
            bson_destroy(&reply);
        } else if (r == 0) {
            bson_destroy(&reply);
        }
        mongoc_bulk_operation_destroy(bulk);
    }
    bson_destroy(&opts);
    bson_destroy(&upsert);
    return r;
}

/* FerretDB 1.24 (SQLite) finds a document by _id with a full table scan
 * (its _id index is on a different expression than its query), so one
 * replace per record is quadratic. Instead: one delete of all the
 * duplicates ({_id: {$in: [...]}}: one scan per REINSERT_BATCH), then one
 * insert_many of them. Not atomic: a reader may briefly miss the records
 * being replaced, and a crash in between leaves them out until the upload
 * is retried (it is, as the worker never got its acknowledgement). */
#define REINSERT_BATCH 10000

static int reinsert_some(mongoc_collection_t *coll, const struct many_put *p, const size_t *idx,
                         size_t n, bson_error_t *e)
{
    const bson_t **v = malloc((n < REINSERT_BATCH ? n : REINSERT_BATCH) * sizeof *v);
    int r = 0;
    if (!v) {
        bson_set_error(e, MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_NOT_READY, "out of memory");
        return -1;
    }
    for (size_t b = 0; b < n && r == 0; b += REINSERT_BATCH) {
        size_t m = n - b < REINSERT_BATCH ? n - b : REINSERT_BATCH;
        bson_t sel = BSON_INITIALIZER, in, arr, opts = BSON_INITIALIZER, reply;
        BSON_APPEND_DOCUMENT_BEGIN(&sel, "_id", &in);
        BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
        for (size_t i = 0; i < m; i++) {
            char key[16];
            const char *k;
            bson_iter_t id;
            v[i] = &p->docs[idx[b + i]];
            bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
            if (bson_iter_init_find(&id, v[i], "_id")) bson_append_iter(&arr, k, -1, &id);
        }
        bson_append_array_end(&in, &arr);
        bson_append_document_end(&sel, &in);
        BSON_APPEND_BOOL(&opts, "ordered", false);
        if (!mongoc_collection_delete_many(coll, &sel, NULL, NULL, e)) {
            r = -1;
        } else if (!mongoc_collection_insert_many(coll, v, m, &opts, &reply, e)) {
            size_t nd;
            size_t *tmp = malloc(m * sizeof *tmp);
            /* Duplicates again: a concurrent writer put them back first. */
            r = !transient(e) && tmp && reply_dups(&reply, tmp, m, &nd) ? 1 : -1;
            free(tmp);
            bson_destroy(&reply);
        } else {
            bson_destroy(&reply);
        }
        bson_destroy(&sel);
        bson_destroy(&opts);
    }
    free(v);
    return r;
}

/* One unordered insert_many of every record (fast on both servers: a
 * fresh upload, the common case, is done in this one bulk write); records
 * already there come back as duplicate-key writeErrors and are then
 * replaced (upsert) by _id, so a re-upload is idempotent and refreshes
 * them (FerretDB: deleted and inserted again, see reinsert_some). MongoDB
 * applies every insert it can despite the duplicates; FerretDB too (it
 * falls back to one-by-one inserts and reports each). */
static int put_many(mongoc_client_t *c, struct mm *mm, const void *arg, bson_error_t *e)
{
    const struct many_put *p = arg;
    mongoc_collection_t *coll = mongoc_client_get_collection(c, mm->db, C_FILES);
    bson_t opts = BSON_INITIALIZER, reply;
    const bson_t **v = malloc(p->n * sizeof *v);
    size_t *idx = malloc(p->n * sizeof *idx), nd = 0;
    int r = -1;
    if (!v || !idx) {
        bson_set_error(e, MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_NOT_READY, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < p->n; i++) v[i] = &p->docs[i];
    BSON_APPEND_BOOL(&opts, "ordered", false);
    if (mongoc_collection_insert_many(coll, v, p->n, &opts, &reply, e)) {
        r = 0;
    } else if (!transient(e) && reply_dups(&reply, idx, p->n, &nd)) {
        r = mm->ferretdb ? reinsert_some(coll, p, idx, nd, e) : replace_some(coll, p, idx, nd, e);
    }
    bson_destroy(&reply);
out:
    free(v);
    free(idx);
    bson_destroy(&opts);
    mongoc_collection_destroy(coll);
    return r;
}

static int m_files_put(meta *m, const file_rec *files, size_t n, char *err, size_t errcap)
{
    struct many_put p = { files, n, calloc(n, sizeof(bson_t)) };
    char *key = malloc(FILE_KEY_MAX);
    size_t made = 0;
    int rc = META_E_NOMEM;
    if (!p.docs || !key) {
        meta_errf(err, errcap, "files_put: out of memory for %zu records", n);
        goto out;
    }
    for (; made < n; made++) {
        bson_init(&p.docs[made]);
        file_key(&files[made], key);
        BSON_APPEND_UTF8(&p.docs[made], "_id", key);
        if ((rc = metadoc_file_to_bson(&files[made], &p.docs[made])) != 0) {
            meta_errf(err, errcap, "files_put: record %zu cannot be encoded", made);
            made++;
            goto out;
        }
    }
    rc = with_retry((struct mm *)m, "files_put", put_many, &p, err, errcap);
out:
    for (size_t i = 0; i < made; i++) bson_destroy(&p.docs[i]);
    free(p.docs);
    free(key);
    return rc;
}

static int del_files(mongoc_client_t *c, struct mm *mm, const void *arg, bson_error_t *e)
{
    mongoc_collection_t *coll = mongoc_client_get_collection(c, mm->db, C_FILES);
    bson_t sel = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&sel, "task_id", (const char *)arg);
    bool ok = mongoc_collection_delete_many(coll, &sel, NULL, NULL, e);
    bson_destroy(&sel);
    mongoc_collection_destroy(coll);
    return ok ? 0 : -1;
}

static int m_files_delete(meta *m, const char *task_id, char *err, size_t errcap)
{
    return with_retry((struct mm *)m, "files_delete", del_files, task_id, err, errcap);
}

/* ---- queries ---- */

static int punct(unsigned char c)
{
    return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) ||
           (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

/* One literal character: ASCII punctuation is backslash-escaped (a literal
 * in PCRE and RE2, in and out of brackets), anything else is itself. */
static void lit(bson_string_t *re, unsigned char c)
{
    if (punct(c)) bson_string_append_c(re, '\\');
    bson_string_append_c(re, (char)c);
}

/* The end of the bracket expression starting at p ('['), as fnmatch
 * finds it, or NULL when there is none (then '[' is a literal). */
static const char *bracket_end(const char *p)
{
    const char *q = p + 1;
    if (*q == '!' || *q == '^') q++;
    if (*q == ']') q++;
    while (*q && *q != ']') {
        if (q[0] == '[' && q[1] == ':') {
            const char *c = strstr(q + 2, ":]");
            if (c) { q = c + 2; continue; }
        }
        if (*q == '\\' && q[1]) q++;
        q++;
    }
    return *q ? q : NULL;
}

/* Appends the fnmatch(3) glob (flags 0: '*' and '?' also match '/',
 * backslash quotes, [..] with '!' or '^' negation, ranges, [:class:]) as
 * an anchored regular expression in the common core of PCRE (MongoDB) and
 * RE2 (FerretDB). Every punctuation character of the pattern reaches the
 * regex escaped, so no task name pattern can inject regex syntax. */
static void glob_to_regex(const char *g, bson_string_t *re)
{
    bson_string_append(re, "^");
    for (const char *p = g; *p; p++) {
        const char *q;
        if (*p == '*') {
            bson_string_append(re, "[\\s\\S]*");
        } else if (*p == '?') {
            bson_string_append(re, "[\\s\\S]");
        } else if (*p == '[' && (q = bracket_end(p))) {
            const char *s = p + 1;
            bson_string_append(re, "[");
            if (*s == '!' || *s == '^') { bson_string_append(re, "^"); s++; }
            for (int first = 1; s < q; first = 0) {
                const char *e;
                if (s[0] == '[' && s[1] == ':' && (e = strstr(s + 2, ":]")) && e < q) {
                    int alpha = e > s + 2;
                    for (const char *k = s + 2; k < e; k++) alpha &= *k >= 'a' && *k <= 'z';
                    if (alpha) {
                        bson_string_append_printf(re, "%.*s", (int)(e + 2 - s), s);
                        s = e + 2;
                        continue;
                    }
                }
                if (*s == '-' && !first && s + 1 < q) {
                    bson_string_append_c(re, '-');          /* a range */
                    s++;
                    continue;
                }
                if (*s == '\\' && s + 1 < q) s++;
                lit(re, (unsigned char)*s++);
            }
            bson_string_append(re, "]");
            p = q;
        } else {
            if (*p == '\\' && p[1]) p++;
            lit(re, (unsigned char)*p);
        }
    }
    bson_string_append(re, "\\z");
}

/* The filter of a meta_query; files adds file_name. 0, or -1 when the
 * query can match nothing (a pattern that is not UTF-8). */
static int build_filter(const meta_query *q, int files, bson_t *f)
{
    if (q->task_id) BSON_APPEND_UTF8(f, files ? "task_id" : "_id", q->task_id);
    if (q->user_id) BSON_APPEND_UTF8(f, "user_id", q->user_id);
    if (q->task_name) BSON_APPEND_UTF8(f, "task_name", q->task_name);
    if (files && q->file_name) BSON_APPEND_UTF8(f, "file_name", q->file_name);
    if (!files && q->status) BSON_APPEND_UTF8(f, "status", proto_status_name((uint64_t)q->status));
    if (q->pattern) {
        if (!bson_utf8_validate(q->pattern, strlen(q->pattern), false)) return -1;
        bson_string_t *re = bson_string_new(NULL);
        glob_to_regex(q->pattern, re);
        bson_t r;
        BSON_APPEND_DOCUMENT_BEGIN(f, "task_name", &r);
        BSON_APPEND_UTF8(&r, "$regex", re->str);
        bson_append_document_end(f, &r);
        bson_string_free(re, true);
    }
    if (q->since || q->until) {
        bson_t r;
        BSON_APPEND_DOCUMENT_BEGIN(f, "submitted_at", &r);
        if (q->since) BSON_APPEND_INT64(&r, "$gte", q->since > INT64_MAX ? INT64_MAX : (int64_t)q->since);
        if (q->until) BSON_APPEND_INT64(&r, "$lt", q->until > INT64_MAX ? INT64_MAX : (int64_t)q->until);
        bson_append_document_end(f, &r);
    }
    return 0;
}

/* Sort and limit: submitted_at, ties by task_id (both reversed for
 * newest_first, as the journal walks its index backwards), then files of
 * one task by file_name ascending. */
static void build_opts(const meta_query *q, int files, bson_t *o)
{
    bson_t s;
    int dir = q->newest_first ? -1 : 1;
    BSON_APPEND_DOCUMENT_BEGIN(o, "sort", &s);
    BSON_APPEND_INT32(&s, "submitted_at", dir);
    BSON_APPEND_INT32(&s, "task_id", dir);
    if (files) BSON_APPEND_INT32(&s, "file_name", 1);
    bson_append_document_end(o, &s);
    if (q->limit) BSON_APPEND_INT64(o, "limit", q->limit > INT64_MAX ? INT64_MAX : (int64_t)q->limit);
}

enum kind { K_TASK, K_FILE, K_WORKER };

/* Runs a find and hands each decoded document to cb. */
static int find_each(struct mm *mm, const char *collname, const bson_t *filter, const bson_t *opts,
                     enum kind kind, void *cb, void *ctx)
{
    int rc = 0;
    const bson_t *doc;
    bson_error_t e;
    file_rec *f = NULL;
    worker_rec w;
    mongoc_client_t *c = mongoc_client_pool_pop(mm->pool);
    if (!c) return META_E_UNAVAIL;
    if (kind == K_FILE && !(f = malloc(sizeof *f))) {
        mongoc_client_pool_push(mm->pool, c);
        return META_E_NOMEM;
    }
    mongoc_collection_t *coll = mongoc_client_get_collection(c, mm->db, collname);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    while (mongoc_cursor_next(cur, &doc)) {
        int stop = 0;
        if (kind == K_TASK) {
            task_rec t;
            task_rec_init(&t);
            rc = metadoc_task_from_bson(doc, &t, NULL, 0);
            if (!rc) stop = ((meta_task_cb)cb)(ctx, &t);
            task_rec_free(&t);
        } else if (kind == K_FILE) {
            memset(f, 0, sizeof *f);
            rc = metadoc_file_from_bson(doc, f, NULL, 0);
            if (!rc) stop = ((meta_file_cb)cb)(ctx, f);
        } else {
            memset(&w, 0, sizeof w);
            rc = metadoc_worker_from_bson(doc, &w, NULL, 0);
            if (!rc) stop = ((meta_worker_cb)cb)(ctx, &w);
        }
        if (rc || stop) goto out;
    }
    if (mongoc_cursor_error(cur, &e)) rc = META_E_UNAVAIL;
out:
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(mm->pool, c);
    free(f);
    return rc;
}

static int m_tasks_find(meta *m, const meta_query *q, meta_task_cb cb, void *ctx)
{
    bson_t f = BSON_INITIALIZER, o = BSON_INITIALIZER;
    int rc = 0;
    if (build_filter(q, 0, &f) == 0) {
        build_opts(q, 0, &o);
        rc = find_each((struct mm *)m, C_TASKS, &f, &o, K_TASK, (void *)cb, ctx);
    }
    bson_destroy(&f);
    bson_destroy(&o);
    return rc;
}

static int m_files_find(meta *m, const meta_query *q, meta_file_cb cb, void *ctx)
{
    bson_t f = BSON_INITIALIZER, o = BSON_INITIALIZER;
    int rc = 0;
    if (build_filter(q, 1, &f) == 0) {
        build_opts(q, 1, &o);
        rc = find_each((struct mm *)m, C_FILES, &f, &o, K_FILE, (void *)cb, ctx);
    }
    bson_destroy(&f);
    bson_destroy(&o);
    return rc;
}

static int m_workers_list(meta *m, meta_worker_cb cb, void *ctx)
{
    bson_t f = BSON_INITIALIZER, o = BSON_INITIALIZER, s;
    BSON_APPEND_DOCUMENT_BEGIN(&o, "sort", &s);
    BSON_APPEND_INT32(&s, "worker_id", 1);
    bson_append_document_end(&o, &s);
    int rc = find_each((struct mm *)m, C_WORKERS, &f, &o, K_WORKER, (void *)cb, ctx);
    bson_destroy(&f);
    bson_destroy(&o);
    return rc;
}

struct got { task_rec *out; int found, rc; };

static int got_task(void *ctx, const task_rec *t)
{
    struct got *g = ctx;
    g->found = 1;
    g->rc = task_rec_copy(g->out, t) ? META_E_NOMEM : 0;
    return 1;
}

static int m_task_get(meta *m, const char *task_id, task_rec *out)
{
    bson_t f = BSON_INITIALIZER, o = BSON_INITIALIZER;
    struct got g = { out, 0, 0 };
    BSON_APPEND_UTF8(&f, "_id", task_id);
    BSON_APPEND_INT64(&o, "limit", 1);
    int rc = find_each((struct mm *)m, C_TASKS, &f, &o, K_TASK, (void *)got_task, &g);
    bson_destroy(&f);
    bson_destroy(&o);
    if (rc) return rc;
    if (!g.found) return META_E_NOTFOUND;
    return g.rc;
}

/* ---- open / close ---- */

static void m_close(meta *m)
{
    struct mm *mm = (struct mm *)m;
    if (mm->pool) mongoc_client_pool_destroy(mm->pool);
    if (mm->uri) mongoc_uri_destroy(mm->uri);
    free(mm->db);
    free(mm);
}

static const struct meta_ops mongo_ops = {
    .name = "mongodb",
    .close = m_close,
    .task_put = m_task_put,
    .task_get = m_task_get,
    .files_put = m_files_put,
    .files_delete = m_files_delete,
    .worker_put = m_worker_put,
    .tasks_find = m_tasks_find,
    .files_find = m_files_find,
    .workers_list = m_workers_list,
    .compact = NULL,
};

/* Sends {createIndexes: coll, indexes: [{key: {f1: 1, ...}, name:
 * "f1_1_...", unique}]} for one index. One index per command because
 * FerretDB 1.24 drops the connection (a panic in its handler, slicing
 * past the end of its to-create list) when a createIndexes lists more
 * than one index that already exists, i.e. at every restart. The command
 * is idempotent for an identical spec. */
static int create_index(mongoc_database_t *d, const char *coll, int unique,
                        const char *const *fields, bson_error_t *e)
{
    char name[128] = "";
    bson_t cmd = BSON_INITIALIZER, arr, ix, kd;
    BSON_APPEND_UTF8(&cmd, "createIndexes", coll);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &ix);
    BSON_APPEND_DOCUMENT_BEGIN(&ix, "key", &kd);
    for (size_t i = 0; fields[i]; i++) {
        BSON_APPEND_INT32(&kd, fields[i], 1);
        size_t l = strlen(name);
        snprintf(name + l, sizeof name - l, "%s%s_1", l ? "_" : "", fields[i]);
    }
    bson_append_document_end(&ix, &kd);
    BSON_APPEND_UTF8(&ix, "name", name);
    if (unique) BSON_APPEND_BOOL(&ix, "unique", true);
    bson_append_document_end(&arr, &ix);
    bson_append_array_end(&cmd, &arr);
    bool ok = mongoc_database_write_command_with_opts(d, &cmd, NULL, NULL, e);
    bson_destroy(&cmd);
    return ok ? 0 : -1;
}

/* Every index of the three collections, at every open. The deprecated
 * mongoc_collection_create_index* are not used. */
static int create_indexes(mongoc_client_t *c, const char *db, bson_error_t *e)
{
    static const char *const task_id[] = { "task_id", NULL };
    static const char *const task_file[] = { "task_id", "file_name", NULL };
    static const char *const user[] = { "user_id", NULL };
    static const char *const name[] = { "task_name", NULL };
    static const char *const at[] = { "submitted_at", NULL };
    static const char *const unt[] = { "user_id", "task_name", "submitted_at", NULL };
    static const char *const worker[] = { "worker_id", NULL };
    static const struct { const char *coll; int unique; const char *const *fields; } ix[] = {
        { C_TASKS, 1, task_id }, { C_TASKS, 0, user }, { C_TASKS, 0, name },
        { C_TASKS, 0, at }, { C_TASKS, 0, unt },
        { C_FILES, 1, task_file }, { C_FILES, 0, user }, { C_FILES, 0, name },
        { C_FILES, 0, at }, { C_FILES, 0, unt },
        { C_WORKERS, 1, worker },
    };
    mongoc_database_t *d = mongoc_client_get_database(c, db);
    int rc = 0;
    for (size_t i = 0; i < sizeof ix / sizeof ix[0] && rc == 0; i++)
        rc = create_index(d, ix[i].coll, ix[i].unique, ix[i].fields, e);
    mongoc_database_destroy(d);
    return rc;
}

/* Returns NULL with the reason in err when the URI is bad, no server
 * answers a ping within timeout_ms (applied as serverSelectionTimeoutMS
 * unless the URI sets one), or an index cannot be created. The first call
 * initialises libmongoc for the process (thread-safe). The returned store
 * is thread-safe; meta_close it once no other thread uses it. */
meta *meta_open_mongo(const char *uri, const char *db, int timeout_ms, char *err, size_t errcap)
{
    return meta_open_mongo_ex(uri, db, timeout_ms, 0, err, errcap);
}

/* The driver's default socketTimeoutMS is 300 s: a server that accepts
 * but never answers (stopped, wedged) would hold the thread that writes
 * for five minutes per attempt. A bounded wait fails the operation like
 * any other store error, and the caller queues it again. */
meta *meta_open_mongo_ex(const char *uri, const char *db, int timeout_ms, int socket_timeout_ms,
                         char *err, size_t errcap)
{
    struct mm *mm = NULL;
    mongoc_client_t *c = NULL;
    bson_error_t e;
    bson_t ping = BSON_INITIALIZER;
    if (!uri || !uri[0] || !db || !db[0] || strlen(db) > 63 || strpbrk(db, "/\\. \"$")) {
        meta_errf(err, errcap, "mongodb: need a URI and a database name without /\\. \"$");
        goto fail;
    }
    pthread_once(&init_once, driver_init);
    if (!(mm = calloc(1, sizeof *mm)) || !(mm->db = strdup(db))) {
        meta_errf(err, errcap, "mongodb: out of memory");
        goto fail;
    }
    mm->base.ops = &mongo_ops;
    if (!(mm->uri = mongoc_uri_new_with_error(uri, &e))) {
        meta_errf(err, errcap, "mongodb: bad URI: %s", e.message);
        goto fail;
    }
    if (timeout_ms > 0 && !mongoc_uri_has_option(mm->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(mm->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, timeout_ms);
    if (socket_timeout_ms <= 0) socket_timeout_ms = CONFIG_MONGO_SOCKET_TIMEOUT_MS;
    if (!mongoc_uri_has_option(mm->uri, MONGOC_URI_SOCKETTIMEOUTMS))
        mongoc_uri_set_option_as_int32(mm->uri, MONGOC_URI_SOCKETTIMEOUTMS, socket_timeout_ms);
    if (!(mm->pool = mongoc_client_pool_new_with_error(mm->uri, &e))) {
        meta_errf(err, errcap, "mongodb: %s", e.message);
        goto fail;
    }
    mongoc_client_pool_set_error_api(mm->pool, MONGOC_ERROR_API_VERSION_2);
    if (!mongoc_uri_get_appname(mm->uri)) mongoc_client_pool_set_appname(mm->pool, "cloudai-master");
    c = mongoc_client_pool_pop(mm->pool);
    BSON_APPEND_INT32(&ping, "ping", 1);
    if (!c || !mongoc_client_command_simple(c, "admin", &ping, NULL, NULL, &e)) {
        meta_errf(err, errcap, "mongodb: no server answered at %s within %d ms: %s",
                  mongoc_uri_get_string(mm->uri), timeout_ms, c ? e.message : "no client");
        goto fail;
    }
    bson_t bi = BSON_INITIALIZER, reply;
    BSON_APPEND_INT32(&bi, "buildInfo", 1);
    if (mongoc_client_command_simple(c, "admin", &bi, NULL, &reply, NULL))
        mm->ferretdb = bson_has_field(&reply, "ferretdbVersion");
    bson_destroy(&reply);
    bson_destroy(&bi);
    if (create_indexes(c, db, &e)) {
        meta_errf(err, errcap, "mongodb: createIndexes in %s: %s", db, e.message);
        goto fail;
    }
    mongoc_client_pool_push(mm->pool, c);
    bson_destroy(&ping);
    return &mm->base;
fail:
    if (c) mongoc_client_pool_push(mm->pool, c);
    bson_destroy(&ping);
    if (mm) m_close(&mm->base);
    return NULL;
}
