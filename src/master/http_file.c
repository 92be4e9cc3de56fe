/* http_file.c — GET /api/files/{task_id}/{path}: one stored file with
 * Range, ETag (its SHA-256), Content-Type from the extension and
 * Content-Disposition. Only files that have a record are served, opened
 * with store_open: neither "..", nor a symlink the task wrote, nor a name
 * swapped for a link after the check can lead outside the run. A file the
 * store packed (zblock.h) is served as its original bytes: a range
 * inflates only the blocks it touches. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "hash.h"
#include "http_int.h"
#include "objstore.h"
#include "log.h"
#include "store.h"
#include "zblock.h"
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

static const struct { const char *ext, *type; } types[] = {
    {"txt", "text/plain; charset=utf-8"}, {"log", "text/plain; charset=utf-8"},
    {"md", "text/plain; charset=utf-8"}, {"csv", "text/csv; charset=utf-8"},
    {"tsv", "text/tab-separated-values; charset=utf-8"}, {"json", "application/json"},
    {"jsonl", "application/x-ndjson"}, {"yaml", "text/plain; charset=utf-8"},
    {"yml", "text/plain; charset=utf-8"}, {"py", "text/plain; charset=utf-8"},
    {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
    {"png", "image/png"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"},
    {"gif", "image/gif"}, {"webp", "image/webp"}, {"svg", "image/svg+xml"},
    {"pdf", "application/pdf"}, {"zip", "application/zip"}, {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
};

static const char *content_type(const char *name)
{
    const char *base = strrchr(name, '/');
    const char *dot = strrchr(base ? base : name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcasecmp(dot + 1, types[i].ext)) return types[i].type;
    return "application/octet-stream";
}

/* Content-Disposition with an ASCII fallback name and the exact name in
 * RFC 5987 form, so neither quotes nor newlines in a task's file name can
 * split the header. */
static void disposition(const char *name, int inline_, char *out, size_t cap)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    char ascii[256], enc[1024];
    size_t a = 0, e = 0;
    for (const unsigned char *p = (const unsigned char *)base; *p; p++) {
        if (a + 1 < sizeof ascii)
            ascii[a++] = *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' ? (char)*p : '_';
        if (e + 4 < sizeof enc) {
            if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                strchr(".-_~", *p))
                enc[e++] = (char)*p;
            else
                e += (size_t)snprintf(enc + e, sizeof enc - e, "%%%02X", *p);
        }
    }
    ascii[a] = enc[e] = 0;
    snprintf(out, cap, "%s; filename=\"%s\"; filename*=UTF-8''%s",
             inline_ ? "inline" : "attachment", ascii, enc);
}

/* The headers of a stored file's body, local or from the object store:
 * validators, type, name, and a sandbox, since a task's file is untrusted
 * content on our origin (the browser runs no script of it and treats it
 * as a unique origin). */
static void file_headers(http_req *r, struct MHD_Response *resp, const char *etag,
                         const char *relpath)
{
    char buf[2048];
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    MHD_add_response_header(resp, "Content-Type", content_type(relpath));
    disposition(relpath, http_arg(r, "inline") != NULL, buf, sizeof buf);
    MHD_add_response_header(resp, "Content-Disposition", buf);
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'");
    MHD_add_response_header(resp, "Cache-Control", "private, max-age=0, must-revalidate");
}

/* "bytes=A-B", "bytes=A-", "bytes=-N" (one range). 1 = a range in
 * [*start, *end], 0 = no usable header (serve it all), -1 = unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *end)
{
    char *e;
    if (!h || strncmp(h, "bytes=", 6) || strchr(h, ',')) return 0;
    h += 6;
    if (*h == '-') {
        errno = 0;
        uint64_t n = strtoull(h + 1, &e, 10);
        if (errno || *e || h[1] < '0' || h[1] > '9') return 0;
        if (n == 0 || size == 0) return -1;
        *start = n >= size ? 0 : size - n;
        *end = size - 1;
        return 1;
    }
    if (*h < '0' || *h > '9') return 0;
    errno = 0;
    *start = strtoull(h, &e, 10);
    if (errno || *e != '-') return 0;
    if (e[1]) {
        char *e2;
        if (e[1] < '0' || e[1] > '9') return 0;
        *end = strtoull(e + 1, &e2, 10);
        if (errno || *e2 || *end < *start) return 0;
        if (*end >= size) *end = size - 1;
    } else {
        *end = size - 1;
    }
    return *start >= size ? -1 : 1;
}

typedef struct one_file {
    file_rec f;
    int found;
} one_file;

static int keep_file(void *ctx, const file_rec *f)
{
    one_file *o = ctx;
    o->f = *f;
    o->found = 1;
    return 1;
}

/* ---- a file in the object store: streamed through a pipe from a thread
 * running the S3 GET (Range passed through; a whole file is checked
 * against its record's SHA-256, and a mismatch cuts the response short so
 * no client takes it for whole). */

typedef struct rfile {
    char key[8192];
    uint64_t off, len;
    int whole;
    uint8_t sha[32];
    int rfd, wfd;
    pthread_t thr;
    atomic_int failed;
    char err[512];
    size_t nhold;
    uint8_t hold[65536];   /* the tail, sent only once the checksum is right */
} rfile;

static int rf_write(rfile *f, const void *p, size_t n)
{
    const char *b = p;
    while (n) {
        ssize_t w = write(f->wfd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;     /* the client went away */
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int rf_sink(void *ctx, const void *p, size_t n)
{
    rfile *f = ctx;
    if (f->nhold + n > sizeof f->hold) {
        if (rf_write(f, f->hold, f->nhold) < 0) return -1;
        f->nhold = 0;
        if (n > sizeof f->hold) return rf_write(f, p, n);
    }
    memcpy(f->hold + f->nhold, p, n);
    f->nhold += n;
    return 0;
}

static void *rf_main(void *arg)
{
    rfile *f = arg;
    s3_obj info;
    int rc = s3_get(objstore_s3(), f->key, f->off, f->len, f->whole ? f->sha : NULL, rf_sink, f,
                    &info, f->err, sizeof f->err);
    if (rc == 0 && rf_write(f, f->hold, f->nhold) < 0) rc = S3_E_SINK;
    if (rc) atomic_store(&f->failed, rc);
    close(f->wfd);
    f->wfd = -1;
    return NULL;
}

static ssize_t rf_content(void *cls, uint64_t pos, char *buf, size_t max)
{
    rfile *f = cls;
    (void)pos;
    for (;;) {
        ssize_t n = read(f->rfd, buf, max);
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) return n;
        return MHD_CONTENT_READER_END_WITH_ERROR;   /* short of Content-Length */
    }
}

static void rf_free(void *cls)
{
    rfile *f = cls;
    if (f->rfd >= 0) close(f->rfd);
    if (f->thr) pthread_join(f->thr, NULL);
    if (atomic_load(&f->failed) && atomic_load(&f->failed) != S3_E_SINK)
        log_warn("http: object %s: %s", f->key, f->err);
    free(f);
}

static enum MHD_Result file_remote(http_req *r, const file_rec *rec, const char *relpath)
{
    char etag[72], hex[65], buf[1200];
    const char *key = objstore_path_key(rec->file_path);
    struct MHD_Response *resp;
    unsigned status = MHD_HTTP_OK;
    uint64_t size = rec->file_size, a = 0, b = size ? size - 1 : 0;
    int rr = 0, fds[2];
    if (!objstore_s3() || !key)
        return http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "file '%s' is in an object store, but "
                          "[store] backend is not s3 on this master", relpath);
    hash_hex(rec->sha256, 32, hex);
    snprintf(etag, sizeof etag, "\"%s\"", hex);
    const char *inm = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "If-None-Match");
    if (inm && (strstr(inm, hex) || !strcmp(inm, "*"))) {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "ETag", etag);
        return http_queue(r, MHD_HTTP_NOT_MODIFIED, resp);
    }
    const char *range = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Range");
    const char *ifr = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "If-Range");
    rr = ifr && strcmp(ifr, etag) ? 0 : parse_range(range, size, &a, &b);
    if (rr < 0) {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!resp) return MHD_NO;
        snprintf(buf, sizeof buf, "bytes */%llu", (unsigned long long)size);
        MHD_add_response_header(resp, "Content-Range", buf);
        return http_queue(r, MHD_HTTP_RANGE_NOT_SATISFIABLE, resp);
    }
    rfile *f = calloc(1, sizeof *f);
    if (!f) return MHD_NO;
    snprintf(f->key, sizeof f->key, "%s", key);
    f->off = a;
    f->len = size ? b - a + 1 : 0;
    f->whole = rr == 0;
    memcpy(f->sha, rec->sha256, 32);
    f->rfd = f->wfd = -1;
    if (size == 0) {
        free(f);
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        if (pipe(fds) < 0) {
            free(f);
            return http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "out of file descriptors");
        }
        fcntl(fds[0], F_SETFD, FD_CLOEXEC);
        fcntl(fds[1], F_SETFD, FD_CLOEXEC);
        f->rfd = fds[0];
        f->wfd = fds[1];
        if (pthread_create(&f->thr, NULL, rf_main, f) != 0) {
            f->thr = 0;
            close(f->wfd);
            rf_free(f);
            return http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot start a thread");
        }
        /* Wait for the first byte or the end: a store that fails before
         * sending anything gets a proper error status, not a cut body. */
        struct pollfd pf = { f->rfd, POLLIN, 0 };
        while (poll(&pf, 1, -1) < 0 && errno == EINTR)
            ;
        int avail = 0;
        if (ioctl(f->rfd, FIONREAD, &avail) == 0 && avail == 0 && atomic_load(&f->failed)) {
            int fr = atomic_load(&f->failed);
            snprintf(buf, sizeof buf, "%s", f->err);
            rf_free(f);
            return http_error(r, fr == S3_E_NOTFOUND ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_GATEWAY,
                              "file '%s': object store: %s", relpath, buf);
        }
        resp = MHD_create_response_from_callback(f->len, 65536, rf_content, f, rf_free);
        if (!resp) { rf_free(f); return MHD_NO; }
    }
    if (!resp) return MHD_NO;
    if (rr > 0) {
        status = MHD_HTTP_PARTIAL_CONTENT;
        snprintf(buf, sizeof buf, "bytes %llu-%llu/%llu", (unsigned long long)a,
                 (unsigned long long)b, (unsigned long long)size);
        MHD_add_response_header(resp, "Content-Range", buf);
    }
    file_headers(r, resp, etag, relpath);
    return http_queue(r, status, resp);
}

/* ---- a packed local file: its blocks inflated as MHD asks for bytes. */

typedef struct pfile {
    int fd;
    zblock_reader *zr;
    uint64_t off;          /* of the response's first byte in the file */
    char name[256];
} pfile;

static ssize_t pf_content(void *cls, uint64_t pos, char *buf, size_t max)
{
    pfile *f = cls;
    const zblock_hdr *h = zblock_reader_hdr(f->zr);
    uint64_t at = f->off + pos;
    if (at >= h->size) return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = h->size - at < max ? (size_t)(h->size - at) : max;
    int rc = zblock_read(f->zr, at, buf, n);
    if (rc < 0) {
        log_warn("http: packed file %s: %s at byte %llu", f->name, cai_strerror(rc),
                 (unsigned long long)at);
        return MHD_CONTENT_READER_END_WITH_ERROR;   /* short of Content-Length */
    }
    return (ssize_t)n;
}

static void pf_free(void *cls)
{
    pfile *f = cls;
    zblock_reader_free(f->zr);
    close(f->fd);
    free(f);
}

/* fd (taken in every case) as packed: a response of [a, a+len) of its
 * original bytes, or NULL. */
static struct MHD_Response *packed_response(int fd, zblock_reader *zr, uint64_t a, uint64_t len,
                                            const char *relpath)
{
    pfile *f = calloc(1, sizeof *f);
    struct MHD_Response *resp = NULL;
    if (!f) goto fail;
    f->fd = fd;
    f->zr = zr;
    f->off = a;
    snprintf(f->name, sizeof f->name, "%s", relpath);
    resp = MHD_create_response_from_callback(len, 256 * 1024, pf_content, f, pf_free);
    if (resp) return resp;
fail:
    free(f);
    zblock_reader_free(zr);
    close(fd);
    return NULL;
}

enum MHD_Result http_file_get(http_req *r, const char *task_id, const char *relpath)
{
    task_rec t;
    one_file *o = NULL;
    char etag[72], hex[65], buf[1200];
    enum MHD_Result ret;
    int fd = -1;
    zblock_reader *zr = NULL;
    task_rec_init(&t);
    if (http_task_get(r, task_id, &t)) {
        ret = http_error(r, MHD_HTTP_NOT_FOUND, "no task %s", task_id);
        goto out;
    }
    if (!(o = calloc(1, sizeof *o))) { ret = MHD_NO; goto out; }
    meta_query q = {0};
    q.task_id = task_id;
    q.file_name = relpath;
    meta_files_find(r->h->m, &q, keep_file, o);
    if (!o->found) {
        ret = http_error(r, MHD_HTTP_NOT_FOUND, "task %s has no file '%s'", task_id, relpath);
        goto out;
    }
    if (objstore_is_remote(o->f.file_path)) {
        ret = file_remote(r, &o->f, relpath);
        goto out;
    }
    if ((fd = store_open(r->h->cfg, &t, relpath, FSUTIL_FILE)) < 0) {
        ret = http_error(r, MHD_HTTP_NOT_FOUND, "file '%s' of task %s is not in the store",
                         relpath, task_id);
        fd = -1;
        goto out;
    }
    struct stat st;
    fstat(fd, &st);
    if (zblock_marked(&st) && zblock_reader_fd(fd, &zr) < 0) zr = NULL;
    uint64_t size = zr ? zblock_reader_hdr(zr)->size : (uint64_t)st.st_size;
    hash_hex(o->f.sha256, 32, hex);
    snprintf(etag, sizeof etag, "\"%s\"", hex);
    const char *inm = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "If-None-Match");
    struct MHD_Response *resp;
    unsigned status = MHD_HTTP_OK;
    if (inm && (strstr(inm, hex) || !strcmp(inm, "*"))) {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NOT_MODIFIED;
    } else {
        uint64_t a = 0, b = size ? size - 1 : 0;
        const char *range = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Range");
        const char *ifr = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "If-Range");
        int rr = ifr && strcmp(ifr, etag) ? 0 : parse_range(range, size, &a, &b);
        if (rr < 0) {
            resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
            snprintf(buf, sizeof buf, "bytes */%llu", (unsigned long long)size);
            MHD_add_response_header(resp, "Content-Range", buf);
            ret = http_queue(r, MHD_HTTP_RANGE_NOT_SATISFIABLE, resp);
            goto out;
        }
        if (rr > 0) {
            status = MHD_HTTP_PARTIAL_CONTENT;
            snprintf(buf, sizeof buf, "bytes %llu-%llu/%llu", (unsigned long long)a,
                     (unsigned long long)b, (unsigned long long)size);
        }
        if (zr) {
            resp = packed_response(fd, zr, a, size ? b - a + 1 : 0, relpath);
            fd = -1;
            zr = NULL;
        } else {
            /* MHD owns fd from here and streams it (sendfile where it can). */
            resp = MHD_create_response_from_fd_at_offset64(size ? b - a + 1 : 0, fd, a);
            if (resp) fd = -1;
        }
        if (resp && rr > 0) MHD_add_response_header(resp, "Content-Range", buf);
    }
    if (!resp) { ret = MHD_NO; goto out; }
    file_headers(r, resp, etag, relpath);
    ret = http_queue(r, status, resp);
out:
    zblock_reader_free(zr);
    if (fd >= 0) close(fd);
    free(o);
    task_rec_free(&t);
    return ret;
}
