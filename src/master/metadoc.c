/* metadoc.c — record <-> BSON document conversion, table-driven so the
 * field list of each collection is written exactly once. */
#include "master/metadoc.h"
#include "master/meta_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_STR, K_U64, K_I64, K_F64, K_U32, K_STATUS, K_SHA, K_CMD, K_NOTES, K_ARGV, K_ENV, K_INPUTS,
            K_DSTR /* a malloc'd string member, absent when NULL */ };

struct field {
    const char *name;
    enum kind kind;
    size_t off, size;
};

#define F(type, kind, member) { #member, kind, offsetof(type, member), sizeof(((type *)0)->member) }

static const struct field task_fields[] = {
    F(task_rec, K_STR, task_id), F(task_rec, K_STR, user_id), F(task_rec, K_STR, task_name),
    F(task_rec, K_U64, submitted_at), F(task_rec, K_STR, docker_image),
    F(task_rec, K_CMD, command), F(task_rec, K_ARGV, argv),
    F(task_rec, K_F64, req_cpu), F(task_rec, K_U64, req_memory),
    F(task_rec, K_U64, req_storage), F(task_rec, K_U64, req_gpu),
    F(task_rec, K_STATUS, status), F(task_rec, K_STR, worker_id),
    F(task_rec, K_STR, want_worker), F(task_rec, K_I64, exit_code),
    F(task_rec, K_STR, error), F(task_rec, K_U64, attempts),
    F(task_rec, K_U64, created_at), F(task_rec, K_U64, started_at),
    F(task_rec, K_U64, completed_at), F(task_rec, K_U64, output_files),
    F(task_rec, K_U64, output_bytes), F(task_rec, K_U64, timeout_s),
    F(task_rec, K_NOTES, notes),
    F(task_rec, K_I64, priority),
    F(task_rec, K_ENV, env),
    F(task_rec, K_INPUTS, inputs),
    F(task_rec, K_DSTR, after), F(task_rec, K_DSTR, after_any),
    F(task_rec, K_U64, retries), F(task_rec, K_U64, retried), F(task_rec, K_U64, retry_at),
    F(task_rec, K_STR, array_id), F(task_rec, K_U64, array_index),
    F(task_rec, K_U64, array_parallel),
    F(task_rec, K_F64, cpu_s), F(task_rec, K_U64, mem_peak),
};

static const struct field file_fields[] = {
    F(file_rec, K_STR, task_id), F(file_rec, K_STR, task_name), F(file_rec, K_STR, user_id),
    F(file_rec, K_U64, submitted_at), F(file_rec, K_STR, file_name),
    F(file_rec, K_STR, file_path), F(file_rec, K_U64, file_size),
    F(file_rec, K_SHA, sha256), F(file_rec, K_U32, mode), F(file_rec, K_U64, stored_at),
};

static const struct field worker_fields[] = {
    F(worker_rec, K_STR, worker_id), F(worker_rec, K_STR, address),
    F(worker_rec, K_F64, cpu), F(worker_rec, K_U64, memory),
    F(worker_rec, K_U64, storage), F(worker_rec, K_U64, gpu),
    F(worker_rec, K_F64, free_cpu), F(worker_rec, K_U64, free_memory),
    F(worker_rec, K_U64, free_storage), F(worker_rec, K_U64, free_gpu),
    F(worker_rec, K_U64, last_seen), F(worker_rec, K_STR, state),
    F(worker_rec, K_U64, running),
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))


static int append_argv(bson_t *doc, const char *name, char *const *list, int n)
{
    bson_t arr;
    char key[16];
    const char *k;
    if (!bson_append_array_begin(doc, name, -1, &arr)) return METADOC_E_NOMEM;
    for (int i = 0; i < n && list && list[i]; i++) {
        bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
        if (!bson_append_utf8(&arr, k, -1, list[i], -1)) return METADOC_E_NOMEM;
    }
    return bson_append_array_end(doc, &arr) ? 0 : METADOC_E_NOMEM;
}

static void sha_hex(const uint8_t *h, char s[65])
{
    static const char hex[] = "0123456789abcdef";
    for (int k = 0; k < 32; k++) { s[2 * k] = hex[h[k] >> 4]; s[2 * k + 1] = hex[h[k] & 15]; }
    s[64] = 0;
}

/* inputs: [{sha256, size, dir, dest, source}], sha256 as lowercase hex. */
static int append_inputs(bson_t *doc, const char *name, const task_rec *t)
{
    bson_t arr, d;
    char key[16], hx[65];
    const char *k;
    if (!bson_append_array_begin(doc, name, -1, &arr)) return METADOC_E_NOMEM;
    for (int i = 0; i < t->ninputs; i++) {
        const task_input *in = &t->inputs[i];
        bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
        if (!bson_append_document_begin(&arr, k, -1, &d)) return METADOC_E_NOMEM;
        if (in->has_sha) {
            sha_hex(in->sha256, hx);
            bson_append_utf8(&d, "sha256", -1, hx, 64);
        }
        bson_append_int64(&d, "size", -1, (int64_t)in->size);
        bson_append_bool(&d, "dir", -1, in->is_dir != 0);
        bson_append_utf8(&d, "dest", -1, in->dest, -1);
        if (!bson_append_utf8(&d, "source", -1, in->source, -1) ||
            !bson_append_document_end(&arr, &d))
            return METADOC_E_NOMEM;
    }
    return bson_append_array_end(doc, &arr) ? 0 : METADOC_E_NOMEM;
}

static int to_bson(const struct field *fs, size_t nf, const void *rec, bson_t *doc)
{
    const char *base = rec;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < nf; i++) {
        const struct field *f = &fs[i];
        const void *p = base + f->off;
        bool ok = true;
        switch (f->kind) {
        case K_STR: {
            size_t n = strnlen(p, f->size);
            if (n == f->size) return METADOC_E_ARG;
            ok = bson_append_utf8(doc, f->name, -1, p, (int)n);
            break;
        }
        case K_U64: ok = bson_append_int64(doc, f->name, -1, (int64_t)*(const uint64_t *)p); break;
        case K_I64: ok = bson_append_int64(doc, f->name, -1, *(const int64_t *)p); break;
        case K_F64: ok = bson_append_double(doc, f->name, -1, *(const double *)p); break;
        case K_U32: ok = bson_append_int64(doc, f->name, -1, *(const uint32_t *)p); break;
        case K_STATUS:
            ok = bson_append_utf8(doc, f->name, -1, proto_status_name((uint64_t)*(const int *)p), -1);
            break;
        case K_SHA: {
            char s[65];
            const uint8_t *h = p;
            for (int k = 0; k < 32; k++) { s[2 * k] = hex[h[k] >> 4]; s[2 * k + 1] = hex[h[k] & 15]; }
            ok = bson_append_utf8(doc, f->name, -1, s, 64);
            break;
        }
        case K_CMD:
        case K_DSTR:
        case K_NOTES: {
            const char *c = *(char *const *)p;
            if (c) ok = bson_append_utf8(doc, f->name, -1, c, -1);
            break;
        }
        case K_ARGV:
        case K_ENV: {
            const task_rec *t = rec;
            char *const *list = f->kind == K_ENV ? t->env : t->argv;
            if (list) {
                int rc = append_argv(doc, f->name, list, f->kind == K_ENV ? t->envc : t->argc);
                if (rc) return rc;
            }
            break;
        }
        case K_INPUTS: {
            const task_rec *t = rec;
            if (t->inputs && t->ninputs > 0) {
                int rc = append_inputs(doc, f->name, t);
                if (rc) return rc;
            }
            break;
        }
        }
        if (!ok) return METADOC_E_NOMEM;
    }
    return 0;
}

int metadoc_task_to_bson(const task_rec *t, bson_t *doc)
{
    return to_bson(task_fields, NFIELDS(task_fields), t, doc);
}

int metadoc_file_to_bson(const file_rec *f, bson_t *doc)
{
    return to_bson(file_fields, NFIELDS(file_fields), f, doc);
}

int metadoc_worker_to_bson(const worker_rec *w, bson_t *doc)
{
    return to_bson(worker_fields, NFIELDS(worker_fields), w, doc);
}

/* Accepts any BSON number that is integral and in range. */
static int get_int(const bson_iter_t *it, int64_t *v)
{
    switch (bson_iter_type(it)) {
    case BSON_TYPE_INT32: *v = bson_iter_int32(it); return 0;
    case BSON_TYPE_INT64: *v = bson_iter_int64(it); return 0;
    case BSON_TYPE_DOUBLE: {
        double d = bson_iter_double(it);
        if (!isfinite(d) || d != floor(d) || d < -9.2e18 || d > 9.2e18) return -1;
        *v = (int64_t)d;
        return 0;
    }
    default: return -1;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int get_argv(bson_iter_t *it, task_rec *t, int env)
{
    bson_iter_t sub;
    char **v = NULL;
    int n = 0, rc = METADOC_E_CORRUPT;
    uint32_t cnt = 0;
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &sub)) return METADOC_E_CORRUPT;
    bson_iter_t c = sub;
    while (bson_iter_next(&c)) {
        if (!BSON_ITER_HOLDS_UTF8(&c) || cnt >= 65536) return METADOC_E_CORRUPT;
        cnt++;
    }
    v = calloc(cnt + 1, sizeof *v);
    if (!v) return METADOC_E_NOMEM;
    while (bson_iter_next(&sub)) {
        uint32_t len;
        const char *s = bson_iter_utf8(&sub, &len);
        if (strlen(s) != len) goto out;   /* embedded NUL */
        v[n++] = (char *)s;
    }
    rc = (env ? task_rec_set_env(t, n, v) : task_rec_set_argv(t, n, v)) ? METADOC_E_NOMEM : 0;
out:
    free(v);
    return rc;
}

static const char *doc_str(const bson_t *d, const char *key)
{
    bson_iter_t it;
    uint32_t len;
    if (!bson_iter_init_find(&it, d, key) || !BSON_ITER_HOLDS_UTF8(&it)) return NULL;
    const char *s = bson_iter_utf8(&it, &len);
    return strlen(s) == len ? s : NULL;
}

static int get_inputs(bson_iter_t *it, task_rec *t)
{
    bson_iter_t sub;
    task_input v[TASK_INPUTS_MAX];
    int n = 0;
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &sub)) return METADOC_E_CORRUPT;
    while (bson_iter_next(&sub)) {
        const uint8_t *data;
        uint32_t len;
        bson_t d;
        bson_iter_t f;
        int64_t iv = 0;
        if (n >= TASK_INPUTS_MAX || !BSON_ITER_HOLDS_DOCUMENT(&sub)) return METADOC_E_CORRUPT;
        bson_iter_document(&sub, &len, &data);
        if (!bson_init_static(&d, data, len)) return METADOC_E_CORRUPT;
        task_input *in = &v[n];
        memset(in, 0, sizeof *in);
        const char *hx = doc_str(&d, "sha256");
        if (hx) {
            if (strlen(hx) != 64) return METADOC_E_CORRUPT;
            for (int k = 0; k < 32; k++) {
                int a = hexval(hx[2 * k]), b = hexval(hx[2 * k + 1]);
                if (a < 0 || b < 0) return METADOC_E_CORRUPT;
                in->sha256[k] = (uint8_t)(a << 4 | b);
            }
            in->has_sha = 1;
        }
        if (bson_iter_init_find(&f, &d, "size") && get_int(&f, &iv) == 0 && iv >= 0)
            in->size = (uint64_t)iv;
        if (bson_iter_init_find(&f, &d, "dir") && BSON_ITER_HOLDS_BOOL(&f))
            in->is_dir = bson_iter_bool(&f);
        in->dest = (char *)doc_str(&d, "dest");
        in->source = (char *)doc_str(&d, "source");
        if (!in->dest) return METADOC_E_CORRUPT;
        n++;
    }
    return task_rec_set_inputs(t, n, v) ? METADOC_E_NOMEM : 0;
}

static int from_bson(const struct field *fs, size_t nf, const bson_t *doc, void *rec,
                     char *err, size_t errcap)
{
    bson_iter_t it;
    char *base = rec;
    if (!bson_iter_init(&it, doc)) {
        meta_errf(err, errcap, "unreadable document");
        return METADOC_E_CORRUPT;
    }
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        const struct field *f = NULL;
        for (size_t i = 0; i < nf; i++)
            if (!strcmp(fs[i].name, key)) { f = &fs[i]; break; }
        if (!f) continue;
        void *p = base + f->off;
        int64_t iv = 0;
        int rc = METADOC_E_CORRUPT;
        if (BSON_ITER_HOLDS_NULL(&it)) continue;   /* as absent */
        switch (f->kind) {
        case K_STR:
        case K_CMD:
        case K_DSTR:
        case K_NOTES:
        case K_STATUS:
        case K_SHA: {
            uint32_t len;
            if (!BSON_ITER_HOLDS_UTF8(&it)) break;
            const char *s = bson_iter_utf8(&it, &len);
            if (strlen(s) != len) break;   /* embedded NUL */
            if (f->kind == K_STR) {
                if (len >= f->size) break;
                memcpy(p, s, (size_t)len + 1);
                rc = 0;
            } else if (f->kind == K_CMD) {
                rc = task_rec_set_command(rec, s) ? METADOC_E_NOMEM : 0;
            } else if (f->kind == K_NOTES) {
                rc = task_rec_set_notes(rec, s) ? METADOC_E_NOMEM : 0;
            } else if (f->kind == K_DSTR) {
                rc = task_rec_set_str(p, s) ? METADOC_E_NOMEM : 0;
            } else if (f->kind == K_STATUS) {
                int st = proto_status_parse(s);
                if (st < 0) break;
                *(int *)p = st;
                rc = 0;
            } else {
                uint8_t *h = p;
                if (len != 64) break;
                rc = 0;
                for (int k = 0; k < 32 && rc == 0; k++) {
                    int a = hexval(s[2 * k]), b = hexval(s[2 * k + 1]);
                    if (a < 0 || b < 0) rc = METADOC_E_CORRUPT;
                    else h[k] = (uint8_t)(a << 4 | b);
                }
            }
            break;
        }
        case K_U64:
            if (get_int(&it, &iv) == 0 && iv >= 0) { *(uint64_t *)p = (uint64_t)iv; rc = 0; }
            break;
        case K_I64:
            if (get_int(&it, &iv) == 0) { *(int64_t *)p = iv; rc = 0; }
            break;
        case K_U32:
            if (get_int(&it, &iv) == 0 && iv >= 0 && iv <= UINT32_MAX) { *(uint32_t *)p = (uint32_t)iv; rc = 0; }
            break;
        case K_F64:
            if (BSON_ITER_HOLDS_NUMBER(&it)) { *(double *)p = bson_iter_as_double(&it); rc = 0; }
            break;
        case K_ARGV:
            rc = get_argv(&it, rec, 0);
            break;
        case K_ENV:
            rc = get_argv(&it, rec, 1);
            break;
        case K_INPUTS:
            rc = get_inputs(&it, rec);
            break;
        }
        if (rc) {
            meta_errf(err, errcap, rc == METADOC_E_NOMEM ? "out of memory at field %s" : "bad field %s", key);
            return rc;
        }
    }
    return 0;
}

int metadoc_task_from_bson(const bson_t *doc, task_rec *t, char *err, size_t errcap)
{
    return from_bson(task_fields, NFIELDS(task_fields), doc, t, err, errcap);
}

int metadoc_file_from_bson(const bson_t *doc, file_rec *f, char *err, size_t errcap)
{
    return from_bson(file_fields, NFIELDS(file_fields), doc, f, err, errcap);
}

int metadoc_worker_from_bson(const bson_t *doc, worker_rec *w, char *err, size_t errcap)
{
    return from_bson(worker_fields, NFIELDS(worker_fields), doc, w, err, errcap);
}

static int sane_at(const bson_t *doc, int depth)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, doc)) return 0;
    while (bson_iter_next(&it)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&it) && !BSON_ITER_HOLDS_ARRAY(&it)) continue;
        const uint8_t *data;
        uint32_t len;
        bson_t sub;
        if (depth >= METADOC_DEPTH_MAX) return 0;
        if (BSON_ITER_HOLDS_DOCUMENT(&it)) bson_iter_document(&it, &len, &data);
        else bson_iter_array(&it, &len, &data);
        if (!data || !bson_init_static(&sub, data, len) || !sane_at(&sub, depth + 1)) return 0;
    }
    return it.err_off == 0;     /* bson_iter_next stopped at the end, not at bad bytes */
}

int metadoc_sane(const bson_t *doc)
{
    return sane_at(doc, 0);
}
