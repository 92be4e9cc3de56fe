/* cli_input.c — `task -input PATH[:DEST]`: a local file or directory
 * is hashed, the master is asked which inputs it lacks (INPUT_QUERY), and
 * only those are sent (INPUT_PUT, a chunked stream as outputs travel);
 * `-input task:ID[/PATH]` is left for the master to resolve.
 *
 * A file travels as it is (its SHA-256 is what sha256sum prints); a
 * directory as a ustar stream in the tar writer's sorted order, hashed in
 * a first pass and streamed in a second (a directory that changes in
 * between is refused by the size or SHA-256 check). Links: the PATH given
 * is followed (as cp does); inside a directory a symbolic link travels as
 * a link, and one whose target is absolute or leaves the directory is
 * refused with its name, as are FIFOs, sockets and devices: the task
 * would otherwise see a different dataset than the one on disk. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "chunk.h"
#include "fsutil.h"
#include "cli_input.h"
#include "hash.h"
#include "tar.h"

/* ---- parsing -------------------------------------------------------------- */

static const char *base_of(const char *path, char *buf, size_t cap)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (size_t n = strlen(tmp); n > 1 && tmp[n - 1] == '/'; n--) tmp[n - 1] = 0;
    const char *b = strrchr(tmp, '/');
    b = b ? b + 1 : tmp;
    if (!*b || !strcmp(b, ".") || !strcmp(b, "..")) {
        char *rp = realpath(path, NULL);
        if (rp) {
            const char *rb = strrchr(rp, '/');
            snprintf(buf, cap, "%s", rb && rb[1] ? rb + 1 : "");
            free(rp);
            return buf;
        }
        buf[0] = 0;
        return buf;
    }
    snprintf(buf, cap, "%s", b);
    return buf;
}

/* Splits "SRC[:DEST]". A local PATH that exists as written (colon and
 * all) is taken whole. */
static int split_spec(const char *spec, char *src, size_t scap, char *dest, size_t dcap)
{
    struct stat st;
    const char *colon = strrchr(spec, ':');
    int is_task = !strncmp(spec, "task:", 5);
    dest[0] = 0;
    if (is_task && colon == spec + 4) colon = NULL;
    if (!is_task && colon && stat(spec, &st) == 0) colon = NULL;
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    if (n >= scap || (colon && strlen(colon + 1) >= dcap)) return -1;
    memcpy(src, spec, n);
    src[n] = 0;
    if (colon) snprintf(dest, dcap, "%s", colon + 1);
    return 0;
}

static int hash_unhex_prefix(const char *hex, uint8_t out[32])
{
    char buf[65];
    memcpy(buf, hex, 64);
    buf[64] = 0;
    return hash_unhex(buf, out, 32);
}

/* ---- files: SHA-256, remembered ------------------------------------------ */

/* Hashing a large file on every submission costs a read of all of it, so
 * the client remembers the digest of files of 1 MiB and more in
 * $XDG_CACHE_HOME/cloudai/input-hashes (else ~/.cache/...), keyed by
 * device, inode, size, mtime and ctime (nanoseconds): any write changes
 * the ctime, so a remembered digest is of the bytes on disk (as git's
 * index and restic do). The master checks the SHA-256 of every byte it
 * receives in any case. CLOUDAI_NO_HASH_CACHE=1 turns it off. */
#define HASH_CACHE_MIN (1u << 20)
#define HASH_CACHE_KEEP 4096

static int hash_cache_path(char *out, size_t cap)
{
    const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    const char *off = getenv("CLOUDAI_NO_HASH_CACHE");
    if (off && *off && strcmp(off, "0")) return -1;
    if (x && *x) snprintf(out, cap, "%s/cloudai/input-hashes", x);
    else if (home && *home) snprintf(out, cap, "%s/.cache/cloudai/input-hashes", home);
    else return -1;
    return 0;
}

static void hash_key(const struct stat *st, char *out, size_t cap)
{
    snprintf(out, cap, "%llu %llu %lld %lld.%09ld %lld.%09ld", (unsigned long long)st->st_dev,
             (unsigned long long)st->st_ino, (long long)st->st_size,
             (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
             (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

/* 0 with sha filled when remembered, else -1. */
static int hash_recall(const struct stat *st, uint8_t sha[32])
{
    char path[PATH_MAX], key[160], line[320];
    FILE *f;
    int rc = -1;
    if (hash_cache_path(path, sizeof path) < 0 || !(f = fopen(path, "r"))) return -1;
    hash_key(st, key, sizeof key);
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, kl) && line[kl] == ' ' && strlen(line + kl + 1) >= 64 &&
            hash_unhex_prefix(line + kl + 1, sha) == 0)
            rc = 0;        /* the last match wins */
    }
    fclose(f);
    return rc;
}

static void hash_remember(const struct stat *st, const uint8_t sha[32])
{
    char path[PATH_MAX], tmp[PATH_MAX + 16], key[160], hx[65], line[320], dev_ino[64];
    char **keep = NULL;
    size_t n = 0, cap = 0;
    FILE *f;
    if (hash_cache_path(path, sizeof path) < 0) return;
    hash_key(st, key, sizeof key);
    hash_hex(sha, 32, hx);
    snprintf(dev_ino, sizeof dev_ino, "%llu %llu ", (unsigned long long)st->st_dev,
             (unsigned long long)st->st_ino);
    if ((f = fopen(path, "r"))) {
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, dev_ino, strlen(dev_ino))) continue;   /* the file's old entry */
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 256;
                char **nk = realloc(keep, nc * sizeof *nk);
                if (!nk) break;
                keep = nk;
                cap = nc;
            }
            if (!(keep[n] = strdup(line))) break;
            n++;
        }
        fclose(f);
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
    if (fsutil_mkdir_p(dir, 0700) == 0 && (f = fopen(tmp, "w"))) {
        size_t from = n >= HASH_CACHE_KEEP ? n - HASH_CACHE_KEEP + 1 : 0;
        for (size_t i = from; i < n; i++) fputs(keep[i], f);
        fprintf(f, "%s %s\n", key, hx);
        if (fclose(f) == 0) rename(tmp, path);
        else unlink(tmp);
    }
    for (size_t i = 0; i < n; i++) free(keep[i]);
    free(keep);
}

static int hash_file(const char *path, task_input *in)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
    if (fd < 0) return -errno;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    close(fd);
    if ((uint64_t)st.st_size >= HASH_CACHE_MIN && hash_recall(&st, in->sha256) == 0) {
        in->size = (uint64_t)st.st_size;
        return 0;
    }
    if ((rc = hash_sha256_file(path, in->sha256, &in->size)) < 0) return rc;
    struct stat after;
    /* Remembered only if the file did not change while it was read. */
    if (in->size >= HASH_CACHE_MIN && stat(path, &after) == 0 && after.st_ino == st.st_ino &&
        after.st_size == st.st_size && after.st_ctim.tv_sec == st.st_ctim.tv_sec &&
        after.st_ctim.tv_nsec == st.st_ctim.tv_nsec)
        hash_remember(&st, in->sha256);
    return 0;
}

/* ---- directories: measure, hash, judge links ------------------------------ */

typedef struct judge {
    tar_reader *rd;
    hash_sha256 sha;
    uint64_t bytes;
    char bad[600];
} judge;

/* 1 if target, seen from entry name's directory, stays inside the tree. */
static int link_inside(const char *name, const char *target)
{
    int depth = 0;
    if (target[0] == '/' || !target[0]) return 0;
    for (const char *p = name; (p = strchr(p, '/')); p++) depth++;
    for (const char *p = target; *p;) {
        const char *s = strchr(p, '/');
        size_t n = s ? (size_t)(s - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0) return 0;
        } else if (n && !(n == 1 && p[0] == '.')) {
            depth++;
        }
        if (!s) break;
        p = s + 1;
    }
    return 1;
}

static int judge_entry(void *ctx, const tar_entry *e)
{
    judge *j = ctx;
    if (e->type == '2' && !link_inside(e->name, e->linkname)) {
        snprintf(j->bad, sizeof j->bad, "'%.200s' is a link to '%.200s', outside the directory "
                 "(inputs are sent as they are: copy the target in, or remove the link)",
                 e->name, e->linkname);
        return -1;
    }
    return 0;
}

static int judge_sink(void *ctx, const uint8_t *p, size_t n)
{
    judge *j = ctx;
    hash_sha256_update(&j->sha, p, n);
    j->bytes += n;
    return tar_reader_feed(j->rd, p, n) < 0 ? -1 : 0;
}

static int skip_refuse(void *ctx, const char *name, const char *reason)
{
    judge *j = ctx;
    snprintf(j->bad, sizeof j->bad, "'%.200s' cannot be sent: %s", name, reason);
    return -1;
}

static int hash_dir(const char *path, task_input *in, char *err, size_t errcap)
{
    static const tar_reader_ops ops = { judge_entry, NULL, NULL, NULL };
    tar_write_opts o = { NULL, skip_refuse, NULL, NULL, NULL, NULL, NULL, NULL };
    judge j;
    tar_stats st;
    char terr[256] = "";
    int rc;
    memset(&j, 0, sizeof j);
    o.skip_ctx = &j;
    if (hash_sha256_init(&j.sha) < 0 || !(j.rd = tar_reader_new(&ops, &j, TAR_PATH_MAX + 1))) {
        hash_sha256_free(&j.sha);
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    rc = tar_write_dir_opts(path, &o, judge_sink, &j, &st, terr, sizeof terr);
    tar_reader_free(j.rd);
    if (rc < 0 || j.bad[0]) {
        snprintf(err, errcap, "%s", j.bad[0] ? j.bad : terr);
        hash_sha256_free(&j.sha);
        return -1;
    }
    hash_sha256_final(&j.sha, in->sha256);
    in->size = j.bytes;
    return 0;
}

int cli_inputs_prepare(const args_list *specs, cli_inputs *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    if (specs->n > TASK_INPUTS_MAX) {
        snprintf(err, errcap, "more than %d -input flags", TASK_INPUTS_MAX);
        return -1;
    }
    for (int i = 0; i < specs->n; i++) {
        char src[PATH_MAX], dest[1100], bb[NAME_MAX + 1];
        task_input *in = &out->in[i];
        struct stat st;
        if (split_spec(specs->v[i], src, sizeof src, dest, sizeof dest) < 0 || !src[0]) {
            snprintf(err, errcap, "-input '%.200s': give PATH[:DEST] or task:ID[/PATH][:DEST]",
                     specs->v[i]);
            goto fail;
        }
        out->n = i + 1;
        if (!strncmp(src, "task:", 5)) {
            const char *id = src + 5, *slash = strchr(id, '/');
            size_t idlen = slash ? (size_t)(slash - id) : strlen(id);
            if (idlen == 0 || idlen > 63) {
                snprintf(err, errcap, "-input '%.200s': no task ID after 'task:'", specs->v[i]);
                goto fail;
            }
            if (!dest[0]) {
                if (slash && slash[1])
                    base_of(slash + 1, dest, sizeof dest);
                else
                    snprintf(dest, sizeof dest, "%.*s", (int)idlen, id);
            }
        } else {
            if (stat(src, &st) < 0) {
                snprintf(err, errcap, "-input %.200s: %s", src, strerror(errno));
                goto fail;
            }
            if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
                snprintf(err, errcap, "-input %.200s: not a file or a directory", src);
                goto fail;
            }
            if (!dest[0]) snprintf(dest, sizeof dest, "%s", base_of(src, bb, sizeof bb));
            in->is_dir = S_ISDIR(st.st_mode);
            char why[700];
            if (in->is_dir) {
                if (hash_dir(src, in, why, sizeof why) < 0) {
                    snprintf(err, errcap, "-input %.200s: %s", src, why);
                    goto fail;
                }
            } else {
                int rc = hash_file(src, in);
                if (rc < 0) {
                    snprintf(err, errcap, "-input %.200s: %s", src, cai_strerror(rc));
                    goto fail;
                }
            }
            in->has_sha = 1;
            if (!(out->local[i] = strdup(src))) goto nomem;
        }
        if (!(in->dest = strdup(dest)) || !(in->source = strdup(src))) goto nomem;
    }
    char buf[600];
    if (task_inputs_conflict(out->in, out->n, buf, sizeof buf)) {
        snprintf(err, errcap, "%s", buf);
        goto fail;
    }
    return 0;
nomem:
    snprintf(err, errcap, "out of memory");
fail:
    cli_inputs_free(out);
    return -1;
}

void cli_inputs_free(cli_inputs *in)
{
    for (int i = 0; i < in->n; i++) {
        free(in->in[i].dest);
        free(in->in[i].source);
        free(in->local[i]);
    }
    memset(in, 0, sizeof *in);
}

/* ---- sending -------------------------------------------------------------- */

static int send_frame(void *ctx, proto_buf *b)
{
    peer *p = ctx;
    return frame_write(p->fd, b, CLI_REPLY_MS);
}

static int stream_file(const char *path, chunk_tx *tx, char *err, size_t errcap)
{
    uint8_t buf[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    if (fd < 0) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            snprintf(err, errcap, "reading %s: %s", path, strerror(errno));
            rc = -1;
            break;
        }
        if (k == 0) break;
        if (chunk_tx_write(tx, buf, (size_t)k) < 0) {
            snprintf(err, errcap, "sending %s to the master failed", path);
            rc = -1;
            break;
        }
    }
    close(fd);
    return rc;
}

/* One INPUT_PUT exchange. 0 sent (or already held), else an exit code. */
static int put_one(cli_ctx *c, const task_input *in, const char *local, uint64_t *sent)
{
    proto_msg m;
    chunk_tx tx;
    char id[32], hx[65], err[512] = "", msg[4097] = "";
    uint64_t ok = 0;
    int rc;
    hash_hex(in->sha256, 32, hx);
    snprintf(id, sizeof id, "input-%.16s", hx);
    proto_begin(&c->p.wb, PROTO_INPUT_PUT, 0);
    proto_put_bytes(&c->p.wb, T_SHA256, in->sha256, 32);
    proto_put_u64(&c->p.wb, T_TOTAL_SIZE, in->size);
    if ((rc = cli_request(c, &m)) != 0) return rc;
    if (m.type == PROTO_FILE_ACK) return 0;           /* held meanwhile */
    if (m.type != PROTO_OK) return cli_fail("unexpected %s reply to INPUT_PUT", proto_type_name(m.type));
    if (chunk_tx_init(&tx, id, in->size, 0, 1, send_frame, &c->p) < 0)
        return cli_fail("out of memory");
    if (in->is_dir) {
        tar_stats st;
        rc = tar_write_dir(local, NULL, chunk_tx_write, &tx, &st, err, sizeof err) < 0 ? -1 : 0;
    } else {
        rc = stream_file(local, &tx, err, sizeof err);
    }
    if (rc == 0 && chunk_tx_finish(&tx) < 0) {
        snprintf(err, sizeof err, "%s changed while it was sent (size differs); send it again",
                 local);
        rc = -1;
    }
    *sent += tx.wire_bytes;
    chunk_tx_free(&tx);
    if (rc < 0) return cli_fail("-input %s", err);
    if ((rc = cli_recv(c, &m, CLI_REPLY_MS)) != 0) return rc;
    if (m.type != PROTO_FILE_ACK || proto_u64(&m, T_OK, &ok) < 0)
        return cli_fail("unexpected %s after an input stream", proto_type_name(m.type));
    proto_str(&m, T_MESSAGE, msg, sizeof msg);
    if (!ok)
        return cli_fail("-input %s: the master refused it: %s%s", local, msg,
                        strstr(msg, "SHA-256") ? " (did it change while it was sent?)" : "");
    return 0;
}

int cli_inputs_send(cli_ctx *c, cli_inputs *in, int quiet)
{
    proto_msg m;
    proto_field f;
    size_t pos = 0;
    int rc, need[TASK_INPUTS_MAX] = {0}, nlocal = 0;
    uint64_t sent = 0, bytes = 0;
    proto_begin(&c->p.wb, PROTO_INPUT_QUERY, 0);
    for (int i = 0; i < in->n; i++)
        if (in->local[i]) {
            proto_put_bytes(&c->p.wb, T_SHA256, in->in[i].sha256, 32);
            nlocal++;
        }
    if (!nlocal) return 0;
    if ((rc = cli_request(c, &m)) != 0) return rc;
    if (m.type != PROTO_INPUT_NEED)
        return cli_fail("unexpected %s reply to INPUT_QUERY", proto_type_name(m.type));
    while (proto_next(&m, T_SHA256, &pos, &f))
        for (int i = 0; i < in->n; i++)
            if (in->local[i] && !memcmp(in->in[i].sha256, f.p, 32)) need[i] = 1;
    for (int i = 0; i < in->n; i++) {
        if (!need[i]) continue;
        for (int j = 0; j < i; j++)          /* the same content twice: once */
            if (need[j] && !memcmp(in->in[j].sha256, in->in[i].sha256, 32)) need[i] = 0;
        if (!need[i]) continue;
        if (!quiet)
            fprintf(stderr, "cloudai: sending input %s (%llu bytes)\n", in->local[i],
                    (unsigned long long)in->in[i].size);
        if ((rc = put_one(c, &in->in[i], in->local[i], &sent)) != 0) return rc;
        bytes += in->in[i].size;
    }
    if (!quiet && nlocal && !bytes)
        fprintf(stderr, "cloudai: inputs already on the master, nothing sent\n");
    return 0;
}
