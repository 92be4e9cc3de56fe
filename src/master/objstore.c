/* objstore.c — [store] backend = s3 (objstore.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include "ids.h"
#include "tar.h"
#include "objstore.h"
#include "store.h"

static s3 *the_s3;
static int the_backend;      /* backend = s3: new outputs go to the bucket */

s3 *objstore_s3(void) { return the_s3; }
int objstore_backend(void) { return the_s3 && the_backend; }

static void from_env(char *dst, size_t cap, const char *cfgval, const char *var)
{
    const char *v = cfgval[0] ? cfgval : getenv(var);
    snprintf(dst, cap, "%s", v ? v : "");
}

int objstore_open(const config *cfg, char *err, size_t errcap)
{
    s3_config c;
    int backend = !strcmp(cfg->store_backend, "s3");
    /* The bucket is needed for new outputs (backend = s3) or for old
     * runs (tiering: [retention] archive_after_days, archive.PATTERN). */
    if (!backend && !(config_archives(cfg) && cfg->s3_bucket[0])) return 0;
    memset(&c, 0, sizeof c);
    if (!cfg->s3_endpoint[0] || !cfg->s3_bucket[0]) {
        snprintf(err, errcap, "[store] backend = s3 needs endpoint and bucket");
        return -1;
    }
    snprintf(c.endpoint, sizeof c.endpoint, "%s", cfg->s3_endpoint);
    snprintf(c.bucket, sizeof c.bucket, "%s", cfg->s3_bucket);
    from_env(c.region, sizeof c.region, cfg->s3_region, "AWS_REGION");
    from_env(c.access_key, sizeof c.access_key, cfg->s3_access_key, "AWS_ACCESS_KEY_ID");
    from_env(c.secret_key, sizeof c.secret_key, cfg->s3_secret_key, "AWS_SECRET_ACCESS_KEY");
    c.part_size = cfg->s3_part_size;
    c.retries = cfg->s3_retries;
    c.stall_timeout_s = cfg->s3_stall_timeout_s;
    s3 *s = s3_new(&c, err, errcap);
    memset(c.secret_key, 0, sizeof c.secret_key);
    if (!s) return -1;
    int rc = s3_check(s, err, errcap);
    if (rc && rc != S3_E_UNAVAILABLE) {
        s3_free(s);
        return -1;
    }
    the_s3 = s;
    the_backend = backend;
    return rc ? 1 : 0;
}

void objstore_close(void)
{
    s3_free(the_s3);
    the_s3 = NULL;
}

int objstore_is_remote(const char *file_path) { return !strncmp(file_path, "s3://", 5); }

const char *objstore_path_key(const char *file_path)
{
    if (!objstore_is_remote(file_path)) return NULL;
    const char *slash = strchr(file_path + 5, '/');
    return slash && slash[1] ? slash + 1 : NULL;
}

int objstore_run_prefix(const config *cfg, const task_rec *t, char *out, size_t cap)
{
    char user[IDS_NAME_MAX + 1], name[IDS_NAME_MAX + 1], ts[32], pre[300];
    size_t pl;
    ids_sanitize(t->user_id, user, sizeof user);
    ids_sanitize(t->task_name, name, sizeof name);
    ids_time_component(t->submitted_at, ts, sizeof ts);
    snprintf(pre, sizeof pre, "%s", cfg->s3_prefix);
    for (pl = strlen(pre); pl && pre[pl - 1] == '/'; pl--) pre[pl - 1] = 0;
    const char *p = pre;
    while (*p == '/') p++;
    int n = snprintf(out, cap, "%s%s%s/%s/%s/%s/", p, *p ? "/" : "", user, name, ts, t->task_id);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int objstore_file_path(const config *cfg, const task_rec *t, const char *name, char *out,
                       size_t cap)
{
    char key[8192];
    if (!the_s3 || objstore_run_prefix(cfg, t, key, sizeof key) < 0) return -1;
    int n = snprintf(out, cap, "s3://%s/%s%s", s3_get_config(the_s3)->bucket, key, name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int objstore_put(const config *cfg, const task_rec *t, const char *dir, const char *name,
                 const uint8_t sha256[32], char *file_path, size_t fpcap, char *err,
                 size_t errcap)
{
    return objstore_put_from(cfg, t, dir, name, NULL, sha256, file_path, fpcap, err, errcap);
}

int objstore_put_from(const config *cfg, const task_rec *t, const char *dir, const char *name,
                      const char *src, const uint8_t sha256[32], char *file_path, size_t fpcap,
                      char *err, size_t errcap)
{
    char key[8192];
    if (!the_s3) {
        snprintf(err, errcap, "no object store configured");
        return S3_E_REFUSED;
    }
    if (objstore_run_prefix(cfg, t, key, sizeof key) < 0 || strlen(key) + strlen(name) >= sizeof key) {
        snprintf(err, errcap, "object key too long for '%.200s'", name);
        return S3_E_REFUSED;
    }
    strcat(key, name);
    int n = snprintf(file_path, fpcap, "s3://%s/%s", s3_get_config(the_s3)->bucket, key);
    if (n < 0 || (size_t)n >= fpcap) {
        snprintf(err, errcap, "object path too long for '%.200s'", name);
        return S3_E_REFUSED;
    }
    if (src) return s3_put_file(the_s3, key, src, sha256, err, errcap);   /* the master's own copy */
    /* name comes from a record or an archive: walked beneath dir. */
    int fd = store_open_in(dir, name, FSUTIL_FILE);
    if (fd < 0) {
        store_open_why(fd, name, err, errcap);
        return S3_E_LOCAL;
    }
    int rc = s3_put_fd(the_s3, key, fd, name, sha256, err, errcap);
    close(fd);
    return rc;
}

static int keep_key(void *ctx, const file_rec *f)
{
    objstore_keys *k = ctx;
    const char *key = objstore_path_key(f->file_path);
    if (!key) return 0;
    if (k->n == k->cap) {
        size_t nc = k->cap ? k->cap * 2 : 64;
        char **nv = realloc(k->v, nc * sizeof *nv);
        if (!nv) { k->oom = 1; return 1; }
        k->v = nv;
        k->cap = nc;
    }
    if (!(k->v[k->n] = strdup(key))) { k->oom = 1; return 1; }
    k->n++;
    return 0;
}

int objstore_run_keys(meta *m, const char *task_id, objstore_keys *k)
{
    meta_query q = {0};
    memset(k, 0, sizeof *k);
    q.task_id = task_id;
    meta_files_find(m, &q, keep_key, k);
    return k->oom ? S3_E_NOMEM : 0;
}

void objstore_keys_free(objstore_keys *k)
{
    for (size_t i = 0; i < k->n; i++) free(k->v[i]);
    free(k->v);
    memset(k, 0, sizeof *k);
}

int objstore_delete_run(const config *cfg, const task_rec *t, const objstore_keys *k, char *err,
                        size_t errcap)
{
    char pre[8192];
    int rc = 0;
    if (!the_s3) {
        if (!k || !k->n) return 0;
        snprintf(err, errcap, "the run's files are in an object store, but [store] backend is "
                 "not s3: configure it to delete them");
        return S3_E_REFUSED;
    }
    for (size_t i = 0; k && i < k->n && rc == 0; i++)
        rc = s3_delete(the_s3, k->v[i], err, errcap);
    /* Objects a crashed upload left without records: the run's prefix. */
    if (rc == 0 && objstore_run_prefix(cfg, t, pre, sizeof pre) == 0)
        rc = s3_delete_prefix(the_s3, pre, err, errcap);
    return rc;
}

/* ---- a run as a tar stream -------------------------------------------------------- */

typedef struct ofile {
    int local;             /* a file not moved yet (a tiering move in progress): key is its path */
    char *name, *key;
    uint64_t size;
    uint32_t mode;
    int64_t mtime;
    uint8_t sha[32];
} ofile;

typedef struct ofiles {
    ofile *v;
    size_t n, cap;
    const char *sub;       /* NULL = all */
    size_t sublen;
    int oom, local;
} ofiles;

static int in_sub(const ofiles *o, const char *name)
{
    if (!o->sub) return 1;
    return !strncmp(name, o->sub, o->sublen) && (name[o->sublen] == 0 || name[o->sublen] == '/');
}

static int keep_file(void *ctx, const file_rec *f)
{
    ofiles *o = ctx;
    const char *key = objstore_path_key(f->file_path);
    if (!key) o->local = 1;
    if (!in_sub(o, f->file_name)) return 0;
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 64;
        ofile *nv = realloc(o->v, nc * sizeof *nv);
        if (!nv) { o->oom = 1; return 1; }
        o->v = nv;
        o->cap = nc;
    }
    ofile *x = &o->v[o->n];
    x->local = !key;
    x->name = strdup(f->file_name);
    x->key = strdup(key ? key : f->file_path);
    if (!x->name || !x->key) { free(x->name); free(x->key); o->oom = 1; return 1; }
    x->size = f->file_size;
    x->mode = f->mode ? f->mode : 0644;
    x->mtime = (int64_t)(f->stored_at / 1000);
    memcpy(x->sha, f->sha256, 32);
    o->n++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const ofile *)a)->name, ((const ofile *)b)->name);
}

static int first_rec(void *ctx, const file_rec *f)
{
    *(int *)ctx = objstore_is_remote(f->file_path);
    return 1;
}

int objstore_task_remote(meta *m, const char *task_id)
{
    meta_query q = {0};
    int r = 0;
    q.task_id = task_id;
    q.limit = 1;
    meta_files_find(m, &q, first_rec, &r);
    return r;
}

typedef struct tar_out {
    tar_sink sink;
    void *ctx;
} tar_out;

static int to_tar(void *ctx, const void *p, size_t n)
{
    tar_out *t = ctx;
    return t->sink(t->ctx, p, n) < 0 ? -1 : 0;
}

/* A record that still names a local file (a run half-way through a
 * tiering move): its bytes from the disk, exactly its size. */
static int copy_local(const task_rec *t, const ofile *f, tar_sink sink, void *ctx, char *err,
                      size_t errcap)
{
    uint8_t buf[65536];
    uint64_t done = 0;
    int rc = 0, fd = store_open_rec(f->key, t, f->name, FSUTIL_FILE);
    if (fd < 0) {
        store_open_why(fd, f->name, err, errcap);
        return TAR_E_IO;
    }
    while (done < f->size) {
        size_t want = f->size - done < sizeof buf ? (size_t)(f->size - done) : sizeof buf;
        ssize_t n = read(fd, buf, want);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            snprintf(err, errcap, "'%s': %s", f->name, n < 0 ? strerror(errno) : "shorter than its record");
            rc = TAR_E_CHANGED;
            break;
        }
        if (sink(ctx, buf, (size_t)n) < 0) { rc = TAR_E_SINK; break; }
        done += (uint64_t)n;
    }
    close(fd);
    return rc;
}

int objstore_write_tar(meta *m, const task_rec *t, const char *sub, const char *prefix, int end,
                       tar_sink sink, void *ctx, tar_stats *st, char *err, size_t errcap)
{
    ofiles o = {0};
    meta_query q = {0};
    tar_stats dummy = {0};
    char name[2 * TAR_PATH_MAX + 8], last_dir[2 * TAR_PATH_MAX + 8] = "";
    int rc = 0;
    if (!st) st = &dummy;
    memset(st, 0, sizeof *st);
    if (sub && *sub) { o.sub = sub; o.sublen = strlen(sub); }
    q.task_id = t->task_id;
    if (meta_files_find(m, &q, keep_file, &o) < 0 || o.oom) {
        snprintf(err, errcap, o.oom ? "out of memory" : "metadata store unavailable");
        rc = TAR_E_NOMEM;
        goto out;
    }
    if (o.sub && !o.n) {
        snprintf(err, errcap, "no file or directory '%s' in the task's output", sub);
        rc = TAR_E_PATH;
        goto out;
    }
    if (o.n && !objstore_s3() && sink) {
        snprintf(err, errcap, "the run's files are in an object store, but [store] backend is "
                 "not s3");
        rc = TAR_E_IO;
        goto out;
    }
    qsort(o.v, o.n, sizeof *o.v, by_name);
    const char *pre = prefix && *prefix ? prefix : NULL;
    if (pre) {
        snprintf(name, sizeof name, "%s/", pre);
        if ((rc = tar_write_header(sink, ctx, st, name, '5', 0755, 0, t->completed_at / 1000, err,
                                   errcap)) < 0)
            goto out;
    }
    for (size_t i = 0; i < o.n && rc == 0; i++) {
        ofile *f = &o.v[i];
        /* a directory entry for each parent not written yet, in order */
        for (const char *sl = strchr(f->name, '/'); sl && rc == 0; sl = strchr(sl + 1, '/')) {
            size_t dl = (size_t)(sl - f->name);
            if (strlen(last_dir) >= dl && !strncmp(last_dir, f->name, dl) &&
                (last_dir[dl] == 0 || last_dir[dl] == '/'))
                continue;
            snprintf(name, sizeof name, "%s%s%.*s/", pre ? pre : "", pre ? "/" : "", (int)dl, f->name);
            rc = tar_write_header(sink, ctx, st, name, '5', 0755, 0, f->mtime, err, errcap);
        }
        const char *sl = strrchr(f->name, '/');
        snprintf(last_dir, sizeof last_dir, "%.*s", sl ? (int)(sl - f->name) : 0, f->name);
        if (rc) break;
        snprintf(name, sizeof name, "%s%s%s", pre ? pre : "", pre ? "/" : "", f->name);
        if ((rc = tar_write_header(sink, ctx, st, name, '0', f->mode, f->size, f->mtime, err,
                                   errcap)) < 0)
            break;
        st->archive_bytes += f->size;
        if (sink && f->size && f->local) {
            if ((rc = copy_local(t, f, sink, ctx, err, errcap)) < 0) break;
        } else if (sink && f->size) {
            tar_out to = { sink, ctx };
            s3_obj info;
            char e2[512];
            int r2 = s3_get(objstore_s3(), f->key, 0, 0, f->sha, to_tar, &to, &info, e2, sizeof e2);
            if (r2 == 0 && info.size != f->size) {
                snprintf(e2, sizeof e2, "object is %llu bytes, its record says %llu",
                         (unsigned long long)info.size, (unsigned long long)f->size);
                r2 = S3_E_CHECKSUM;
            }
            if (r2) {
                snprintf(err, errcap, "'%s': %s", f->name, e2);
                rc = r2 == S3_E_SINK ? TAR_E_SINK : TAR_E_IO;
                break;
            }
        }
        rc = tar_write_pad(sink, ctx, st, f->size);
    }
    if (rc == 0 && end) rc = sink ? tar_write_end(sink, ctx) : 0;
    if (rc == 0 && end) st->archive_bytes += 2 * TAR_BLOCK;
out:
    for (size_t i = 0; i < o.n; i++) { free(o.v[i].name); free(o.v[i].key); }
    free(o.v);
    return rc;
}
