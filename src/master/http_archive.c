/* http_archive.c — archives built while they are sent: GET
 * /api/tasks/{id}/archive?format=zip|tar.gz and GET /api/archive?task_name=N
 * [&user_id=U] (every run of a name, each under its task id; runs are
 * trees in one archive, never archives inside an archive).
 *
 * A producer thread walks the store with the ustar writer (tar.c: sorted,
 * O_NOFOLLOW, modes and mtimes kept) and writes the bytes into a pipe;
 * libmicrohttpd's content callback reads the other end. For tar.gz the
 * tar stream goes through zlib's gzip deflate; for zip it is parsed back
 * by the streaming tar reader and re-emitted as stored zip entries with
 * data descriptors (the CRC-32 is known only after the data), zip64
 * fields where sizes or offsets pass 4 GiB. The pipe bounds memory to its
 * buffer and makes a slow client slow the producer down; a client that
 * goes away closes the read end, the producer's next write fails (EPIPE,
 * SIGPIPE is ignored) and the thread ends. Nothing touches the disk. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "http_int.h"
#include "ids.h"
#include "log.h"
#include "tar.h"
#include "objstore.h"
#include "store.h"

#define RUNS_MAX 10000
#define U32MAX 0xffffffffull

typedef struct zentry {
    char *name;
    uint32_t crc, mode, dostime;
    uint64_t size, offset;
    char type;
} zentry;

typedef struct producer {
    int fd;                   /* write end of the pipe */
    int rfd;                  /* read end (the content callback's) */
    int zip;
    char root[CONFIG_PATH_MAX];   /* files_dir */
    char **dirs, **prefixes;  /* runs: store_run_rel beneath root, name prefix ("" = none) */
    size_t nruns;
    char **remote;            /* task id of a run in the object store (dirs[i] "") */
    meta *m;
    pthread_t thr;
    atomic_int failed;
    char err[512];
    /* tar.gz */
    z_stream z;
    uint8_t zout[65536];
    /* zip */
    tar_reader *tr;
    zentry *ents;
    size_t nents, capents;
    uint64_t off;             /* bytes of zip written */
    zentry cur;
} producer;

static int put(producer *p, const void *buf, size_t n)
{
    const uint8_t *b = buf;
    while (n) {
        ssize_t w = write(p->fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;     /* reader gone */
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- tar.gz ---------------------------------------------------------------- */

static int gz_feed(producer *p, const uint8_t *in, size_t n, int flush)
{
    p->z.next_in = (Bytef *)in;
    p->z.avail_in = (uInt)n;
    do {
        p->z.next_out = p->zout;
        p->z.avail_out = sizeof p->zout;
        int rc = deflate(&p->z, flush);
        if (rc == Z_STREAM_ERROR) return -1;
        if (put(p, p->zout, sizeof p->zout - p->z.avail_out) < 0) return -1;
    } while (p->z.avail_out == 0);
    return 0;
}

static int gz_sink(void *ctx, const uint8_t *b, size_t n)
{
    return gz_feed(ctx, b, n, Z_NO_FLUSH);
}

/* ---- zip -------------------------------------------------------------------- */

static void le16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void le32(uint8_t *p, uint32_t v) { le16(p, v & 0xffff); le16(p + 2, v >> 16); }
static void le64(uint8_t *p, uint64_t v) { le32(p, (uint32_t)v); le32(p + 4, (uint32_t)(v >> 32)); }

/* MS-DOS time holds 1980 to 2107 in two-second steps: earlier times are
 * its first day, later ones its last moment (a year past 2107 overflowed
 * the 7-bit year into nonsense). */
static uint32_t dos_time(int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || tm.tm_year < 80) return (1 << 21) | (1 << 16);   /* 1980-01-01 */
    if (tm.tm_year > 80 + 127)
        return (127u << 25) | (12u << 21) | (31u << 16) | (23u << 11) | (59u << 5) | 29u;
    return (uint32_t)(((tm.tm_year - 80) << 25) | ((tm.tm_mon + 1) << 21) | (tm.tm_mday << 16) |
                      (tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
}

static int zput(producer *p, const void *b, size_t n)
{
    p->off += n;
    return put(p, b, n);
}

static int z_entry(void *ctx, const tar_entry *e)
{
    producer *p = ctx;
    if (e->type != '0' && e->type != '5' && e->type != '2') return 0;   /* nothing else is stored */
    zentry *z = &p->cur;
    memset(z, 0, sizeof *z);
    size_t nlen = strlen(e->name);
    if (!(z->name = malloc(nlen + 2))) return -1;
    memcpy(z->name, e->name, nlen + 1);
    if (e->type == '5') { z->name[nlen++] = '/'; z->name[nlen] = 0; }
    z->type = e->type;
    z->mode = (e->type == '5' ? 0040000u : e->type == '2' ? 0120000u : 0100000u) | (e->mode & 07777);
    z->dostime = dos_time(e->mtime);
    z->offset = p->off;
    int big = e->type == '0' && e->size >= U32MAX;
    uint8_t h[30 + 20];
    memset(h, 0, sizeof h);
    le32(h, 0x04034b50);
    le16(h + 4, big ? 45 : 20);
    le16(h + 6, 0x0808);              /* data descriptor follows, UTF-8 name */
    le16(h + 8, 0);                   /* stored */
    le32(h + 10, z->dostime);
    if (big) { le32(h + 18, (uint32_t)U32MAX); le32(h + 22, (uint32_t)U32MAX); }
    le16(h + 26, (uint32_t)nlen);
    le16(h + 28, big ? 20 : 0);
    if (zput(p, h, 30) < 0 || zput(p, z->name, nlen) < 0) return -1;
    if (big) {
        uint8_t x[20] = {0};
        le16(x, 1);
        le16(x + 2, 16);
        if (zput(p, x, 20) < 0) return -1;
    }
    if (e->type == '2') {
        z->crc = (uint32_t)crc32(0, (const Bytef *)e->linkname, (uInt)strlen(e->linkname));
        z->size = strlen(e->linkname);
        if (zput(p, e->linkname, z->size) < 0) return -1;
    }
    return 0;
}

static int z_data(void *ctx, const uint8_t *b, size_t n)
{
    producer *p = ctx;
    if (!p->cur.name || p->cur.type != '0') return 0;
    p->cur.crc = (uint32_t)crc32(p->cur.crc, b, (uInt)n);
    p->cur.size += n;
    return zput(p, b, n);
}

static int z_entry_end(void *ctx, const tar_entry *e)
{
    producer *p = ctx;
    zentry *z = &p->cur;
    if (!z->name) return 0;
    uint8_t d[24];
    int big = z->size >= U32MAX;
    le32(d, 0x08074b50);
    le32(d + 4, z->crc);
    if (big) { le64(d + 8, z->size); le64(d + 16, z->size); }
    else { le32(d + 8, (uint32_t)z->size); le32(d + 12, (uint32_t)z->size); }
    if (zput(p, d, big ? 24 : 16) < 0) return -1;
    if (p->nents == p->capents) {
        size_t nc = p->capents ? p->capents * 2 : 64;
        zentry *ne = realloc(p->ents, nc * sizeof *ne);
        if (!ne) return -1;
        p->ents = ne;
        p->capents = nc;
    }
    p->ents[p->nents++] = *z;
    z->name = NULL;
    return 0;
}

static int zip_sink(void *ctx, const uint8_t *b, size_t n)
{
    producer *p = ctx;
    return tar_reader_feed(p->tr, b, n) < 0 ? -1 : 0;
}

static int zip_finish(producer *p)
{
    uint64_t cd_start = p->off;
    for (size_t i = 0; i < p->nents; i++) {
        zentry *z = &p->ents[i];
        uint8_t h[46], x[28];
        size_t nlen = strlen(z->name), xl = 0;
        int bs = z->size >= U32MAX, bo = z->offset >= U32MAX;
        if (bs || bo) {
            le16(x, 1);
            xl = 4;
            if (bs) { le64(x + xl, z->size); le64(x + xl + 8, z->size); xl += 16; }
            if (bo) { le64(x + xl, z->offset); xl += 8; }
            le16(x + 2, (uint32_t)(xl - 4));
        }
        memset(h, 0, sizeof h);
        le32(h, 0x02014b50);
        le16(h + 4, (3 << 8) | 45);            /* made by: Unix, so modes are read */
        le16(h + 6, bs || bo ? 45 : 20);
        le16(h + 8, 0x0808);
        le32(h + 12, z->dostime);
        le32(h + 16, z->crc);
        le32(h + 20, bs ? (uint32_t)U32MAX : (uint32_t)z->size);
        le32(h + 24, bs ? (uint32_t)U32MAX : (uint32_t)z->size);
        le16(h + 28, (uint32_t)nlen);
        le16(h + 30, (uint32_t)xl);
        le32(h + 38, z->mode << 16 | (z->type == '5' ? 0x10 : 0));
        le32(h + 42, bo ? (uint32_t)U32MAX : (uint32_t)z->offset);
        if (zput(p, h, 46) < 0 || zput(p, z->name, nlen) < 0 || zput(p, x, xl) < 0) return -1;
    }
    uint64_t cd_size = p->off - cd_start, n = p->nents;
    if (n >= 0xffff || cd_start >= U32MAX || cd_size >= U32MAX) {
        uint8_t e64[56 + 20];
        uint64_t at = p->off;
        memset(e64, 0, sizeof e64);
        le32(e64, 0x06064b50);
        le64(e64 + 4, 44);
        le16(e64 + 12, (3 << 8) | 45);
        le16(e64 + 14, 45);
        le64(e64 + 24, n);
        le64(e64 + 32, n);
        le64(e64 + 40, cd_size);
        le64(e64 + 48, cd_start);
        le32(e64 + 56, 0x07064b50);
        le64(e64 + 64, at);
        le32(e64 + 72, 1);
        if (zput(p, e64, sizeof e64) < 0) return -1;
    }
    uint8_t e[22];
    memset(e, 0, sizeof e);
    le32(e, 0x06054b50);
    le16(e + 8, n >= 0xffff ? 0xffff : (uint32_t)n);
    le16(e + 10, n >= 0xffff ? 0xffff : (uint32_t)n);
    le32(e + 12, cd_size >= U32MAX ? (uint32_t)U32MAX : (uint32_t)cd_size);
    le32(e + 16, cd_start >= U32MAX ? (uint32_t)U32MAX : (uint32_t)cd_start);
    return zput(p, e, sizeof e);
}

/* ---- the producer thread ----------------------------------------------------------- */

static void *produce(void *arg)
{
    producer *p = arg;
    static const tar_reader_ops zops = {z_entry, z_data, z_entry_end, NULL};
    int rc = 0;
    tar_sink sink = p->zip ? zip_sink : gz_sink;
    if (p->zip) {
        /* names are a run prefix plus up to TAR_NAME_MAX bytes */
        if (!(p->tr = tar_reader_new(&zops, p, 2 * TAR_PATH_MAX))) rc = -1;
    } else if (deflateInit2(&p->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < p->nruns; i++) {
        if (p->remote && p->remote[i]) {
            task_rec t;
            task_rec_init(&t);
            snprintf(t.task_id, sizeof t.task_id, "%s", p->remote[i]);
            rc = objstore_write_tar(p->m, &t, NULL, p->prefixes[i], 0, sink, p, NULL, p->err,
                                    sizeof p->err);
            task_rec_free(&t);
            continue;
        }
        /* Walked from the store's root, no link followed on the way. */
        int fd = store_open_in(p->root, p->dirs[i], FSUTIL_DIR);
        if (fd < 0) {
            store_open_why(fd, p->dirs[i], p->err, sizeof p->err);
            rc = -1;
            break;
        }
        rc = tar_write_tree_fd(fd, NULL, p->prefixes[i], 0, sink, p, NULL, p->err, sizeof p->err);
        close(fd);
    }
    if (rc == 0) rc = tar_write_end(sink, p);
    if (rc == 0) rc = p->zip ? (tar_reader_finish(p->tr) < 0 ? -1 : zip_finish(p))
                             : gz_feed(p, NULL, 0, Z_FINISH);
    if (p->zip) tar_reader_free(p->tr);
    else deflateEnd(&p->z);
    if (rc < 0) atomic_store(&p->failed, 1);
    close(p->fd);
    p->fd = -1;
    return NULL;
}

static ssize_t content(void *cls, uint64_t pos, char *buf, size_t max)
{
    producer *p = cls;
    for (;;) {
        ssize_t n = read(p->rfd, buf, max);
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) return n;
        /* EOF: a producer that failed must not look like a whole archive. */
        return n == 0 && !atomic_load(&p->failed) ? MHD_CONTENT_READER_END_OF_STREAM
                                                  : MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void producer_free(void *cls)
{
    producer *p = cls;
    if (p->rfd >= 0) close(p->rfd);     /* a producer still writing gets EPIPE */
    if (p->thr) pthread_join(p->thr, NULL);
    if (p->failed && p->err[0]) log_warn("http: archive stream failed: %s", p->err);
    for (size_t i = 0; i < p->nruns; i++) {
        free(p->dirs[i]);
        free(p->prefixes[i]);
        if (p->remote) free(p->remote[i]);
    }
    free(p->remote);
    free(p->dirs);
    free(p->prefixes);
    for (size_t i = 0; i < p->nents; i++) free(p->ents[i].name);
    free(p->ents);
    free(p->cur.name);
    free(p);
}

static int add_run(producer *p, const config *cfg, const task_rec *t, int prefixed)
{
    char dir[CONFIG_PATH_MAX + 512];
    /* files in the object store are streamed from the bucket */
    int remote = p->m && objstore_task_remote(p->m, t->task_id);
    if (remote) dir[0] = 0;
    else if (!store_run_exists(cfg, t) || store_run_rel(t, dir, sizeof dir) < 0) return 0;
    snprintf(p->root, sizeof p->root, "%s", cfg->files_dir);
    char **d = realloc(p->dirs, (p->nruns + 1) * sizeof *d);
    if (d) p->dirs = d;
    char **x = realloc(p->prefixes, (p->nruns + 1) * sizeof *x);
    if (x) p->prefixes = x;
    char **rm = realloc(p->remote, (p->nruns + 1) * sizeof *rm);
    if (rm) p->remote = rm;
    if (!d || !x || !rm) return -1;
    p->dirs[p->nruns] = strdup(dir);
    p->prefixes[p->nruns] = strdup(prefixed ? t->task_id : "");
    p->remote[p->nruns] = remote ? strdup(t->task_id) : NULL;
    if (!p->dirs[p->nruns] || !p->prefixes[p->nruns] || (remote && !p->remote[p->nruns])) {
        free(p->dirs[p->nruns]);
        free(p->prefixes[p->nruns]);
        free(p->remote[p->nruns]);
        return -1;
    }
    p->nruns++;
    return 0;
}

static enum MHD_Result start(http_req *r, producer *p, const char *base)
{
    int fds[2];
    char disp[512];
    if (pipe(fds) < 0) {
        producer_free(p);
        return http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "out of file descriptors");
    }
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    p->rfd = fds[0];
    p->fd = fds[1];
    if (pthread_create(&p->thr, NULL, produce, p) != 0) {
        p->thr = 0;
        close(p->fd);
        producer_free(p);
        return http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot start a thread");
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 65536, content, p, producer_free);
    if (!resp) {
        producer_free(p);
        return MHD_NO;
    }
    snprintf(disp, sizeof disp, "attachment; filename=\"%s.%s\"", base, p->zip ? "zip" : "tar.gz");
    MHD_add_response_header(resp, "Content-Type", p->zip ? "application/zip" : "application/gzip");
    MHD_add_response_header(resp, "Content-Disposition", disp);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return http_queue(r, MHD_HTTP_OK, resp);
}

static producer *new_producer(http_req *r, enum MHD_Result *ret)
{
    const char *f = http_arg(r, "format");
    if (f && strcmp(f, "zip") && strcmp(f, "tar.gz") && strcmp(f, "tgz")) {
        *ret = http_error(r, MHD_HTTP_BAD_REQUEST, "format: zip or tar.gz");
        return NULL;
    }
    producer *p = calloc(1, sizeof *p);
    if (!p) { *ret = MHD_NO; return NULL; }
    p->zip = !f || !strcmp(f, "zip");
    p->fd = p->rfd = -1;
    p->m = r->h->m;
    return p;
}

/* The name is a sanitised task name and a task id: safe inside quotes. */
enum MHD_Result http_archive_task(http_req *r, const task_rec *t)
{
    enum MHD_Result ret;
    char base[256];
    if (t->status != PROTO_ST_COMPLETED && t->status != PROTO_ST_FAILED &&
        t->status != PROTO_ST_CANCELLED)
        return http_error(r, MHD_HTTP_CONFLICT, "task %s is %s; its files are not stored yet",
                          t->task_id, proto_status_name((uint64_t)t->status));
    producer *p = new_producer(r, &ret);
    if (!p) return ret;
    if (add_run(p, r->h->cfg, t, 0) < 0) { producer_free(p); return MHD_NO; }
    if (!p->nruns) {
        producer_free(p);
        return http_error(r, MHD_HTTP_NOT_FOUND, "task %s has no stored files", t->task_id);
    }
    snprintf(base, sizeof base, "%s-%s", t->task_name, t->task_id);
    return start(r, p, base);
}

typedef struct runs_ctx {
    producer *p;
    const config *cfg;
    int oom;
    size_t n;
} runs_ctx;

static int add_found(void *ctx, const task_rec *t)
{
    runs_ctx *c = ctx;
    if (t->status != PROTO_ST_COMPLETED && t->status != PROTO_ST_FAILED &&
        t->status != PROTO_ST_CANCELLED)
        return 0;
    if (++c->n > RUNS_MAX) return 1;
    if (add_run(c->p, c->cfg, t, 1) < 0) { c->oom = 1; return 1; }
    return 0;
}

enum MHD_Result http_archive_name(http_req *r)
{
    enum MHD_Result ret;
    char base[256];
    const char *name = http_arg(r, "task_name"), *user = http_arg(r, "user_id");
    if (!name) return http_error(r, MHD_HTTP_BAD_REQUEST, "task_name is required");
    if (user && !r->admin && strcmp(user, r->user))
        return http_error(r, MHD_HTTP_FORBIDDEN, "only admins may fetch other users' runs");
    producer *p = new_producer(r, &ret);
    if (!p) return ret;
    meta_query q = {0};
    char norm[IDS_NAME_MAX + 1];
    ids_sanitize(name, norm, sizeof norm);          /* as at submit */
    q.task_name = norm;
    q.user_id = r->admin ? user : r->user;
    runs_ctx c = {p, r->h->cfg, 0, 0};
    if (meta_tasks_find(r->h->m, &q, add_found, &c) < 0 || c.oom) {
        producer_free(p);
        return http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "metadata store unavailable");
    }
    if (!p->nruns) {
        producer_free(p);
        return http_error(r, MHD_HTTP_NOT_FOUND, "no stored runs named '%s'", name);
    }
    ids_sanitize(name, base, 65);
    return start(r, p, base);
}
