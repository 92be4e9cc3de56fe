/* metarepair.c — compares the file store with the metadata store and
 * rebuilds missing TASK and FILE records from the files (metarepair.h). */
#include "master/metarepair.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "ids.h"
#include "master/store.h"
#include "zblock.h"

#define BATCH 64
#define SAY_MAX 20      /* lines per kind of finding; the counts say the rest */

struct ctx {
    meta *m;
    int fix;
    metarepair_say say;
    void *sctx;
    metarepair_stats *st;
    char **names;       /* FILE records of the current task, sorted */
    size_t n, cap;
    file_rec *batch;
    size_t nb;
    int rc;
};

static void sayf(struct ctx *c, uint64_t count, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sayf(struct ctx *c, uint64_t count, const char *fmt, ...)
{
    char line[8400];
    va_list ap;
    if (count > SAY_MAX) return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->say(c->sctx, line);
}

static int collect(void *ctx, const file_rec *f)
{
    struct ctx *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        char **nn = realloc(c->names, cap * sizeof *nn);
        if (!nn) return c->rc = META_E_NOMEM;
        c->names = nn;
        c->cap = cap;
    }
    if (!(c->names[c->n] = strdup(f->file_name))) return c->rc = META_E_NOMEM;
    c->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(struct ctx *c)
{
    for (size_t i = 0; i < c->n; i++) free(c->names[i]);
    c->n = 0;
}

static int flush(struct ctx *c)
{
    char err[256] = "";
    if (c->nb == 0) return 0;
    int rc = meta_files_put(c->m, c->batch, c->nb, err, sizeof err);
    if (rc) {
        sayf(c, 0, "cannot index %zu file records of task %s: %s", c->nb, c->batch[0].task_id, err);
        c->st->errors++;
    } else {
        c->st->files_added += c->nb;
    }
    c->nb = 0;
    return rc;
}

/* A file the compressor packed (zblock.h) is indexed as its original:
 * the header's size and SHA-256, once the blocks inflate to that hash.
 * 0 done, 1 not packed, or a negative code. */
static int packed_sha(int fd, const struct stat *sb, uint8_t sha[32], uint64_t *size)
{
    zblock_reader *zr = NULL;
    if (!zblock_marked(sb) || zblock_reader_fd(fd, &zr) < 0) return 1;
    const zblock_hdr *h = zblock_reader_hdr(zr);
    memcpy(sha, h->sha256, 32);
    *size = h->size;
    zblock_reader_free(zr);
    return zblock_verify(fd, sha);
}

/* The bytes a regular file stands for: a packed file's original size. */
static uint64_t file_bytes(int root, const char *rel, const struct stat *sb)
{
    zblock_reader *zr = NULL;
    uint64_t n = (uint64_t)sb->st_size;
    if (!zblock_marked(sb)) return n;
    int fd = fsutil_open_beneath(root, rel, FSUTIL_FILE, NULL, NULL);
    if (fd >= 0 && zblock_reader_fd(fd, &zr) == 0) n = zblock_reader_hdr(zr)->size;
    zblock_reader_free(zr);
    if (fd >= 0) close(fd);
    return n;
}

/* One regular file of an output directory: rel beneath root. */
static void one_file(struct ctx *c, const task_rec *t, const char *dir, int root, const char *rel,
                     const struct stat *sb)
{
    const char *key = rel;
    c->st->files_seen++;
    if (c->n && bsearch(&key, c->names, c->n, sizeof *c->names, cmp_str)) return;
    c->st->files_missing++;
    sayf(c, c->st->files_missing, "file without a FILE record: task %s, %s (%lld bytes)%s", t->task_id,
         rel, (long long)sb->st_size, c->fix ? ": rebuilt" : "");
    if (!c->fix) return;
    file_rec *f = &c->batch[c->nb];
    memset(f, 0, sizeof *f);
    uint64_t size = 0;
    int fd = store_file_rec(t, dir, rel, f) < 0 ? -1 : fsutil_open_beneath(root, rel, FSUTIL_FILE, NULL, NULL);
    int hr = fd < 0 ? fd : packed_sha(fd, sb, f->sha256, &size);
    if (hr == 1) hr = hash_sha256_fd(fd, f->sha256, &size);
    if (fd >= 0) close(fd);
    if (fd < 0 || hr < 0) {
        sayf(c, 0, "cannot index %s/%s: unreadable, a link or name too long", dir, rel);
        c->st->errors++;
        return;
    }
    f->file_size = size;
    f->mode = sb->st_mode & 0777;
    /* When it was stored: the inode's change time (set when the master
     * wrote and moved it in, never by the archive: a file's mtime is the
     * task's, 1960 or 2300 as it came, and made a negative one a date
     * past the year 500 million). */
    f->stored_at = sb->st_ctim.tv_sec > 0
                 ? (uint64_t)sb->st_ctim.tv_sec * 1000 + (uint64_t)sb->st_ctim.tv_nsec / 1000000 : 0;
    if (++c->nb == BATCH) flush(c);
}

/* Every regular file beneath dir, without following links, iteratively:
 * a stack of relative paths still to read, each opened beneath the run's
 * directory (fsutil_open_beneath), so depth costs neither stack nor fds. */
static void walk_task(struct ctx *c, const task_rec *t, const char *dir, uint64_t *nfiles, uint64_t *bytes)
{
    char **stack = NULL;
    size_t ns = 0, cs = 0;
    int root = store_open_in(dir, "", FSUTIL_DIR);
    if (root < 0) {
        sayf(c, 0, "cannot read %s: %s", dir, cai_strerror(root));
        c->st->errors++;
        return;
    }
    stack = malloc(sizeof *stack);
    if (!stack || !(stack[0] = strdup(""))) { free(stack); close(root); c->rc = META_E_NOMEM; return; }
    ns = cs = 1;
    while (ns > 0 && !c->rc) {
        char *rel = stack[--ns];
        int fd = fsutil_open_beneath(root, rel, FSUTIL_DIR, NULL, NULL);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        struct dirent *e;
        if (!d) {
            sayf(c, 0, "cannot read %s/%s: %s", dir, rel, strerror(fd < 0 ? -fd : errno));
            if (fd >= 0) close(fd);
            c->st->errors++;
        }
        while (d && (e = readdir(d)) && !c->rc) {
            struct stat sb;
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            size_t lr = strlen(rel), ln = strlen(e->d_name);
            char *child = malloc(lr + ln + 2);
            if (!child) { c->rc = META_E_NOMEM; break; }
            snprintf(child, lr + ln + 2, "%s%s%s", rel, lr ? "/" : "", e->d_name);
            if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
                c->st->errors++;
                free(child);
                continue;
            }
            if (S_ISDIR(sb.st_mode)) {
                if (ns == cs) {
                    char **nsk = realloc(stack, cs * 2 * sizeof *nsk);
                    if (!nsk) { free(child); c->rc = META_E_NOMEM; break; }
                    stack = nsk;
                    cs *= 2;
                }
                stack[ns++] = child;
                continue;
            }
            if (S_ISREG(sb.st_mode)) {
                (*nfiles)++;
                *bytes += file_bytes(root, child, &sb);
                one_file(c, t, dir, root, child, &sb);
            }
            free(child);
        }
        if (d) closedir(d);
        free(rel);
    }
    while (ns > 0) free(stack[--ns]);
    free(stack);
    close(root);
}

static void one_task_dir(struct ctx *c, const char *dir, const char *user, const char *name,
                         const char *when, const char *id)
{
    task_rec t;
    uint64_t at = 0, nfiles = 0, bytes = 0;
    int have;
    task_rec_init(&t);
    c->st->task_dirs++;
    have = meta_task_get(c->m, id, &t) == 0;
    if (!have) {
        if (ids_parse_time(when, 0, &at) < 0 || strlen(id) >= sizeof t.task_id) {
            c->st->unexpected++;
            sayf(c, c->st->unexpected, "not an output directory (bad time or id): %s", dir);
            goto out;
        }
        c->st->tasks_missing++;
        snprintf(t.task_id, sizeof t.task_id, "%s", id);
        snprintf(t.user_id, sizeof t.user_id, "%s", user);
        snprintf(t.task_name, sizeof t.task_name, "%s", name);
        t.submitted_at = t.created_at = at;
    }
    meta_query q = { 0 };
    q.task_id = t.task_id;
    names_free(c);
    if (meta_files_find(c->m, &q, collect, c) != 0 && !c->rc) c->rc = META_E_IO;
    if (c->rc) goto out;
    if (c->n) qsort(c->names, c->n, sizeof *c->names, cmp_str);
    walk_task(c, &t, dir, &nfiles, &bytes);
    if (!c->rc && flush(c) < 0) { /* counted; the other tasks still get theirs */ }
    if (!have) {
        sayf(c, c->st->tasks_missing, "output directory without a TASK record: %s (%llu files)%s", dir,
             (unsigned long long)nfiles, c->fix ? ": rebuilt as completed, exit code unknown" : "");
        if (c->fix) {
            char err[256] = "";
            t.status = PROTO_ST_COMPLETED;
            t.exit_code = -1;
            t.output_files = nfiles;
            t.output_bytes = bytes;
            snprintf(t.error, sizeof t.error, "record rebuilt by master --repair from the stored files "
                     "(the journal record was lost): command, exit code and times unknown");
            if (meta_task_put(c->m, &t, err, sizeof err) == 0) {
                c->st->tasks_added++;
            } else {
                sayf(c, 0, "cannot add task %s: %s", id, err);
                c->st->errors++;
            }
        }
    }
out:
    task_rec_free(&t);
}

static int one_run(void *ctx, const char *dir, const char *const parts[4])
{
    struct ctx *c = ctx;
    one_task_dir(c, dir, parts[0], parts[1], parts[2], parts[3]);
    return c->rc;
}

static void odd_entry(void *ctx, const char *path, int code)
{
    struct ctx *c = ctx;
    if (code < 0) {
        sayf(c, 0, "cannot read %s: %s", path, cai_strerror(code));
        c->st->errors++;
        return;
    }
    c->st->unexpected++;
    sayf(c, c->st->unexpected, "not part of the store layout: %s", path);
}

static int orphan(void *ctx, const file_rec *f)
{
    struct ctx *c = ctx;
    task_rec t;
    if (!strncmp(f->file_path, "s3://", 5)) return 0;   /* in the object store, not on disk */
    /* The record's path, walked as serving walks it: a link or a FIFO
     * there is present (the scan names it), anything else is not. */
    task_rec_init(&t);
    snprintf(t.task_id, sizeof t.task_id, "%s", f->task_id);
    snprintf(t.user_id, sizeof t.user_id, "%s", f->user_id);
    snprintf(t.task_name, sizeof t.task_name, "%s", f->task_name);
    t.submitted_at = f->submitted_at;
    int fd = store_open_rec(f->file_path, &t, f->file_name, FSUTIL_FILE | FSUTIL_DIR);
    task_rec_free(&t);
    if (fd >= 0) close(fd);
    if (fd >= 0 || fd == -ELOOP || fd == -EPERM) return 0;
    c->st->records_orphan++;
    sayf(c, c->st->records_orphan, "FILE record without its file: task %s, %s (%s)", f->task_id,
         f->file_name, f->file_path);
    return 0;
}

int metarepair_scan(meta *m, const char *files_dir, int fix, metarepair_say say, void *sctx,
                    metarepair_stats *st)
{
    struct ctx c = { m, fix, say, sctx, st, NULL, 0, 0, NULL, 0, 0 };
    memset(st, 0, sizeof *st);
    if (fix && !(c.batch = calloc(BATCH, sizeof *c.batch))) return META_E_NOMEM;
    store_each_run(files_dir, one_run, odd_entry, &c);
    meta_query q = { 0 };
    if (!c.rc) meta_files_find(m, &q, orphan, &c);
    names_free(&c);
    free(c.names);
    free(c.batch);
    return c.rc;
}
