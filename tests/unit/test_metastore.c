/* test_metastore.c — the embedded store keeps documents on disk and only
 * references in memory (metaref.h): what it reads back must be exactly
 * what was acknowledged, whatever was cut, replaced, compacted or lost:
 *  - a crash at every write point (the journal truncated at every byte,
 *    the snapshot and its index at every record boundary and a sample of
 *    bytes) reopens to the acknowledged prefix, documents read back whole;
 *  - a task change made without a sync stays readable when a failed write
 *    cuts its record off the journal;
 *  - file records put without a sync are found at once, cost no disk
 *    flush until meta_sync, and a failed write drops exactly those the
 *    cut took (meta_files_cuts tells the uploads that put them);
 *  - files replaced, added one by one out of order, deleted, queried by name;
 *  - references move into the new snapshot: the old files can go. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"
#include "master/journal.h"
#include "master/meta.h"


static void rm_flat(const char *d)
{
    DIR *dp = opendir(d);
    struct dirent *e;
    char p[256];
    while (dp && (e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if ((size_t)snprintf(p, sizeof p, "%s/%s", d, e->d_name) < sizeof p) unlink(p);
    }
    if (dp) closedir(dp);
    rmdir(d);
}

static int new_dir(char *d, size_t cap)
{
    snprintf(d, cap, "/dev/shm/test_metastore.XXXXXX");
    if (mkdtemp(d)) return 0;
    snprintf(d, cap, "/tmp/test_metastore.XXXXXX");
    return mkdtemp(d) ? 0 : -1;
}

static const char *path_in(const char *d, const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", d, name);
    return p[k];
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = NULL;
    long n;
    *len = 0;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (b = malloc((size_t)n + 1)) && fread(b, 1, (size_t)n, f) == (size_t)n)
        *len = (size_t)n;
    fclose(f);
    return b;
}

static int spit(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int rc = fwrite(b, 1, len, f) == len ? 0 : -1;
    return fclose(f) == 0 ? rc : -1;
}

/* Copies every file of src into a fresh directory dst. */
static int copy_store(const char *src, char *dst, size_t cap)
{
    DIR *dp = opendir(src);
    struct dirent *e;
    int rc = new_dir(dst, cap);
    while (!rc && dp && (e = readdir(dp))) {
        size_t len;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        uint8_t *b = slurp(path_in(src, e->d_name), &len);
        if (!b || spit(path_in(dst, e->d_name), b, len) != 0) rc = -1;
        free(b);
    }
    if (dp) closedir(dp);
    return rc;
}

static meta *open_at(const char *d, uint64_t compact)
{
    char err[256] = "";
    uint64_t dropped = 0;
    meta *m = meta_open_journal(d, compact, &dropped, err, sizeof err);
    if (!m) printf("#   open %s: %s\n", d, err);
    return m;
}

static void mk_task(task_rec *t, const char *id, uint64_t at, int status, const char *cmd)
{
    task_rec_init(t);
    snprintf(t->task_id, sizeof t->task_id, "%s", id);
    snprintf(t->user_id, sizeof t->user_id, "u%d", (int)(at % 3));
    snprintf(t->task_name, sizeof t->task_name, "name-%s", id);
    t->submitted_at = at;
    t->status = status;
    if (cmd) task_rec_set_command(t, cmd);
}

static int put_task(meta *m, const char *id, uint64_t at, int status, int sync)
{
    task_rec t;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "run %s status %d", id, status);
    mk_task(&t, id, at, status, cmd);
    int rc = sync ? meta_task_put(m, &t, NULL, 0) : meta_task_put_nosync(m, &t, NULL, 0);
    task_rec_free(&t);
    return rc;
}

/* Files first..first+n-1 of task, named with a stride so later calls can
 * land between earlier names; size encodes a version. */
static int put_files_x(meta *m, const char *task, int first, int n, int stride, uint64_t version, int sync)
{
    file_rec *f = calloc((size_t)n, sizeof *f);
    if (!f) return -1;
    for (int i = 0; i < n; i++) {
        int k = (first + i) * stride;
        snprintf(f[i].task_id, sizeof f[i].task_id, "%s", task);
        snprintf(f[i].user_id, sizeof f[i].user_id, "u1");
        snprintf(f[i].task_name, sizeof f[i].task_name, "name-%s", task);
        snprintf(f[i].file_name, sizeof f[i].file_name, "dir/f%05d", k);
        snprintf(f[i].file_path, sizeof f[i].file_path, "/store/u1/%s/%s", task, f[i].file_name);
        f[i].file_size = version * 100000 + (uint64_t)k;
        f[i].submitted_at = 100;
        f[i].stored_at = 200 + version;
        f[i].mode = 0644;
        for (int x = 0; x < 32; x++) f[i].sha256[x] = (uint8_t)(k + x);
    }
    int rc = sync ? meta_files_put(m, f, (size_t)n, NULL, 0) : meta_files_put_nosync(m, f, (size_t)n, NULL, 0);
    free(f);
    return rc;
}

static int put_files_v(meta *m, const char *task, int first, int n, int stride, uint64_t version)
{
    return put_files_x(m, task, first, n, stride, version, 1);
}

/* A canonical text of the whole store (every document decoded). */
static char *dbuf;
static size_t dlen, dcap;
static void dadd(const char *s)
{
    size_t l = strlen(s);
    if (dlen + l + 2 > dcap) {
        dcap = (dlen + l + 2) * 2;
        dbuf = realloc(dbuf, dcap);
    }
    memcpy(dbuf + dlen, s, l);
    dlen += l;
    dbuf[dlen++] = ';';
    dbuf[dlen] = 0;
}
static int d_task(void *c, const task_rec *t)
{
    char s[300];
    (void)c;
    snprintf(s, sizeof s, "T%s:%s:%s:%d:%llu:%s", t->task_id, t->user_id, t->task_name, t->status,
             (unsigned long long)t->submitted_at, t->command ? t->command : "-");
    dadd(s);
    return 0;
}
static int d_file(void *c, const file_rec *f)
{
    char s[400];
    (void)c;
    snprintf(s, sizeof s, "F%s/%s:%s:%llu:%llu:%o:%02x%02x", f->task_id, f->file_name, f->file_path,
             (unsigned long long)f->file_size, (unsigned long long)f->stored_at, (unsigned)f->mode,
             f->sha256[0], f->sha256[31]);
    dadd(s);
    return 0;
}
static int d_worker(void *c, const worker_rec *w)
{
    char s[200];
    (void)c;
    snprintf(s, sizeof s, "W%s:%s", w->worker_id, w->state);
    dadd(s);
    return 0;
}
/* Returns a malloc'd copy. */
static char *dump(meta *m)
{
    meta_query q = { 0 };
    dlen = 0;
    dadd("");
    if (m) {
        meta_tasks_find(m, &q, d_task, NULL);
        meta_files_find(m, &q, d_file, NULL);
        meta_workers_list(m, d_worker, NULL);
    }
    return strdup(dbuf);
}

static int put_worker(meta *m, const char *id, const char *state)
{
    worker_rec w;
    memset(&w, 0, sizeof w);
    snprintf(w.worker_id, sizeof w.worker_id, "%s", id);
    snprintf(w.state, sizeof w.state, "%s", state);
    return meta_worker_put(m, &w, NULL, 0);
}

/* ---- crash at every write point ---- */

#define NSTEPS 12
/* One acknowledged change per step; the state after each is kept. */
static int step(meta *m, int i)
{
    char id[16];
    snprintf(id, sizeof id, "t%d", i % 4);
    switch (i % 6) {
    case 0: return put_task(m, id, 1000 + (uint64_t)i, PROTO_ST_QUEUED, 1);
    case 1: return put_files_v(m, id, 0, 5, 2, (uint64_t)i);
    case 2: return put_files_v(m, id, 0, 3, 3, (uint64_t)i);           /* replaces and inserts */
    case 3: return put_task(m, id, 1000 + (uint64_t)i, PROTO_ST_RUNNING, 1);
    case 4: return put_worker(m, "w1", i % 2 ? "ready" : "lost");
    default: return i == 11 ? meta_files_delete(m, "t1", NULL, 0) : put_files_v(m, id, 7, 1, 1, (uint64_t)i);
    }
}

static void test_truncate_every_byte(void)
{
    char base[128], cp[128], *want[NSTEPS + 1];
    off_t end[NSTEPS + 1];
    struct stat st;
    T_CHECK(new_dir(base, sizeof base) == 0);
    meta *m = open_at(base, 0);
    T_CHECK(m != NULL);
    if (!m) return;
    /* A snapshot under the journal, so both kinds of reference are read. */
    T_EQ_INT(put_task(m, "t0", 5, PROTO_ST_COMPLETED, 1), 0);
    T_EQ_INT(put_files_v(m, "t0", 0, 4, 5, 1), 0);
    T_EQ_INT(meta_compact(m, NULL, 0), 0);
    want[0] = dump(m);
    stat(path_in(base, "journal"), &st);
    end[0] = st.st_size;
    for (int i = 1; i <= NSTEPS; i++) {
        T_EQ_INT(step(m, i), 0);
        want[i] = dump(m);
        stat(path_in(base, "journal"), &st);
        end[i] = st.st_size;
    }
    meta_close(m);
    size_t jlen;
    uint8_t *j = slurp(path_in(base, "journal"), &jlen);
    T_CHECK(j != NULL && (off_t)jlen == end[NSTEPS]);
    int bad = 0;
    for (size_t cut = (size_t)end[0]; j && cut <= jlen && bad < 3; cut++) {
        int k = 0;
        while (k < NSTEPS && end[k + 1] <= (off_t)cut) k++;
        if (copy_store(base, cp, sizeof cp) != 0) { bad++; break; }
        spit(path_in(cp, "journal"), j, cut);
        meta *r = open_at(cp, 0);
        char *got = dump(r);
        if (!r || strcmp(got, want[k])) {
            printf("#   cut at %zu (step %d): got %s\n#   want %s\n", cut, k, got, want[k]);
            bad++;
        }
        /* A change after the cut lands where the torn bytes were and
         * reads back; nothing before it moves. */
        if (r && put_task(r, "tx", 9, PROTO_ST_QUEUED, 1) == 0) {
            char *after = dump(r);
            if (!strstr(after, "Ttx:")) bad++;
            free(after);
            if (cut % 7 == 0) {          /* and survives a restart (a sample: each costs fsyncs) */
                meta_close(r);
                r = open_at(cp, 0);
                after = dump(r);
                if (!strstr(after, "Ttx:")) bad++;
                free(after);
            }
        } else {
            bad++;
        }
        free(got);
        meta_close(r);
        rm_flat(cp);
    }
    T_EQ_INT(bad, 0);
    free(j);
    for (int i = 0; i <= NSTEPS; i++) free(want[i]);
    rm_flat(base);
}

/* Closes m, opens d again (replay) and checks it reads as want; the
 * reopened store. */
static meta *reopen_same(meta *m, const char *d, const char *want)
{
    meta_close(m);
    m = open_at(d, 0);
    char *got = dump(m);
    T_EQ_STR(got, want);
    free(got);
    return m;
}

/* ---- an unsynced change whose record a failed write cuts off ---- */

static int hook_calls, hook_fail_after;
static ssize_t failing_write(int fd, const void *buf, size_t len, off_t off)
{
    if (hook_calls++ >= hook_fail_after) {
        errno = ENOSPC;
        return -1;
    }
    return pwrite(fd, buf, len, off);
}

static void test_unsynced_cut(void)
{
    char d[128], *want = NULL, *got = NULL;
    task_rec t;
    T_CHECK(new_dir(d, sizeof d) == 0);
    meta *m = open_at(d, 0);
    T_CHECK(m != NULL);
    if (!m) return;
    T_EQ_INT(put_task(m, "a", 10, PROTO_ST_QUEUED, 1), 0);
    T_EQ_INT(put_task(m, "a", 10, PROTO_ST_RUNNING, 0), 0);      /* buffered, not durable */
    T_EQ_INT(meta_task_get(m, "a", &t), 0);
    T_EQ_INT(t.status, PROTO_ST_RUNNING);
    task_rec_free(&t);
    /* The next durable write fails: the journal is cut back to its last
     * sync, taking the unsynced record with it. */
    hook_calls = 0;
    hook_fail_after = 0;
    journal_set_write_hook(failing_write);
    T_EQ_INT(put_files_v(m, "a", 0, 2, 1, 1), META_E_IO);
    journal_set_write_hook(NULL);
    /* Later records overwrite the bytes it had: "a" still reads as it was
     * acknowledged in memory, not as whatever lies there now. */
    T_EQ_INT(put_task(m, "b", 20, PROTO_ST_QUEUED, 1), 0);
    T_EQ_INT(put_files_v(m, "b", 0, 3, 1, 2), 0);
    T_EQ_INT(meta_task_get(m, "a", &t), 0);
    T_EQ_INT(t.status, PROTO_ST_RUNNING);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "run a status %d", PROTO_ST_RUNNING);
    T_EQ_STR(t.command, cmd);
    task_rec_free(&t);
    want = dump(m);
    /* A compaction writes the in-memory copy; after it everything reads
     * from the snapshot alone. */
    T_EQ_INT(meta_compact(m, NULL, 0), 0);
    unlink(path_in(d, "journal.prev"));
    unlink(path_in(d, "snapshot.prev"));
    got = dump(m);
    T_EQ_STR(got, want);
    free(got);
    m = reopen_same(m, d, want);
    free(want);
    meta_close(m);
    rm_flat(d);
}

/* ---- file records put without a sync ---- */

static size_t nseen;
static char seen_last[64];
static int f_count(void *c, const file_rec *f)
{
    (void)c;
    nseen++;
    snprintf(seen_last, sizeof seen_last, "%s:%llu", f->file_name, (unsigned long long)f->file_size);
    return 0;
}

static int nsyncs;
static int counting_sync(int fd)
{
    nsyncs++;
    return fdatasync(fd);
}

static size_t files_of(meta *m, const char *task)
{
    meta_query q = { 0 };
    q.task_id = task;
    nseen = 0;
    meta_files_find(m, &q, f_count, NULL);
    return nseen;
}

static void test_unsynced_files(void)
{
    char d[128], *want = NULL, *got = NULL;
    T_CHECK(new_dir(d, sizeof d) == 0);
    meta *m = open_at(d, 0);
    T_CHECK(m != NULL);
    if (!m) return;
    T_EQ_INT(put_task(m, "a", 10, PROTO_ST_QUEUED, 1), 0);
    T_EQ_INT(put_files_v(m, "a", 0, 3, 2, 1), 0);             /* durable */
    uint64_t cuts = meta_files_cuts(m);
    /* Batches without a sync: found at once (read back from the file),
     * no disk flush until meta_sync, then exactly one. */
    nsyncs = 0;
    journal_set_sync_hook(counting_sync);
    T_EQ_INT(put_files_x(m, "a", 10, 40, 2, 2, 0), 0);         /* after a's names */
    T_EQ_INT(put_files_x(m, "a", 0, 1, 2, 3, 0), 0);           /* replaces a's first */
    T_EQ_INT(put_files_x(m, "c", 0, 300, 1, 4, 0), 0);         /* a new group */
    T_EQ_INT(put_files_x(m, "c", 300, 300, 1, 4, 0), 0);
    T_EQ_INT(nsyncs, 0);
    T_EQ_INT(files_of(m, "a"), 43);
    T_EQ_INT(files_of(m, "c"), 600);
    meta_query q = { 0 };
    q.task_id = "a";
    q.file_name = "dir/f00000";
    nseen = 0;
    meta_files_find(m, &q, f_count, NULL);
    T_EQ_STR(seen_last, "dir/f00000:300000");
    T_EQ_INT(meta_sync(m, NULL, 0), 0);
    T_EQ_INT(nsyncs, 1);
    journal_set_sync_hook(NULL);
    T_CHECK(meta_files_cuts(m) == cuts);
    want = dump(m);
    /* Now unsynced ones that a failed write cuts off: a new group goes
     * whole, a group with durable files keeps exactly those. */
    T_EQ_INT(put_files_x(m, "e", 0, 5, 1, 5, 0), 0);
    T_EQ_INT(put_files_x(m, "a", 100, 5, 1, 5, 0), 0);
    T_EQ_INT(put_files_x(m, "a", 2, 1, 2, 6, 0), 0);           /* replaces a durable one */
    T_EQ_INT(put_files_x(m, "a", 2, 1, 2, 9, 0), 0);           /* and again */
    T_EQ_INT(files_of(m, "e"), 5);
    T_EQ_INT(files_of(m, "a"), 48);
    hook_calls = 0;
    hook_fail_after = 0;
    journal_set_write_hook(failing_write);
    T_EQ_INT(put_task(m, "b", 20, PROTO_ST_QUEUED, 1), META_E_IO);
    journal_set_write_hook(NULL);
    T_CHECK(meta_files_cuts(m) == cuts + 1);
    T_EQ_INT(files_of(m, "e"), 0);
    /* The durable record that an unsynced one replaced is back. */
    T_EQ_INT(files_of(m, "a"), 43);
    /* Later records take the cut bytes: what is found still reads whole. */
    T_EQ_INT(put_task(m, "b", 20, PROTO_ST_QUEUED, 1), 0);
    T_EQ_INT(put_files_x(m, "b", 0, 50, 1, 7, 0), 0);
    T_EQ_INT(meta_sync(m, NULL, 0), 0);
    got = dump(m);
    T_CHECK(strstr(got, "Fe/") == NULL);
    T_CHECK(strstr(got, "Fa/dir/f00100") == NULL);
    T_CHECK(strstr(got, "Fb/dir/f00049:/store/u1/b/dir/f00049:700049:") != NULL);
    T_CHECK(strstr(got, "Fa/dir/f00000:/store/u1/a/dir/f00000:300000:") != NULL);
    T_CHECK(strstr(got, "Fa/dir/f00002:/store/u1/a/dir/f00002:100002:") != NULL);
    free(got);
    free(want);
    want = dump(m);
    /* The same after a restart (replay) and after a compaction. */
    m = reopen_same(m, d, want);
    T_EQ_INT(put_files_x(m, "f", 0, 20, 1, 8, 0), 0);          /* unsynced at the compaction */
    free(want);
    want = dump(m);
    T_EQ_INT(meta_compact(m, NULL, 0), 0);
    got = dump(m);
    T_EQ_STR(got, want);
    free(got);
    m = reopen_same(m, d, want);
    free(want);
    meta_close(m);
    rm_flat(d);
}

/* ---- files: replace, out-of-order singles, delete, by name ---- */

static void test_files_order_replace(void)
{
    char d[128], *want, *got;
    T_CHECK(new_dir(d, sizeof d) == 0);
    meta *m = open_at(d, 0);
    T_CHECK(m != NULL);
    if (!m) return;
    /* 200 single puts in a scrambled order, then a bulk that replaces
     * every third and adds others between them. */
    for (int i = 0; i < 200; i++) T_EQ_INT(put_files_v(m, "t", (i * 37) % 200, 1, 2, 1), 0);
    T_EQ_INT(put_files_v(m, "t", 0, 134, 3, 2), 0);
    want = dump(m);
    const char *p = want, *prev = NULL;
    size_t n = 0;
    int sorted = 1;
    while ((p = strstr(p, ";Ft/"))) {
        p += 4;
        if (prev && strncmp(prev, p, 10) >= 0) sorted = 0;
        prev = p;
        n++;
    }
    T_CHECK(sorted);
    /* 200 names 0,2,..398 and 134 names 0,3,..399: 67 shared (multiples of 6). */
    T_EQ_INT(n, 200 + 134 - 67);
    T_CHECK(strstr(want, "Ft/dir/f00006:/store/u1/t/dir/f00006:200006:") != NULL);   /* replaced */
    T_CHECK(strstr(want, "Ft/dir/f00004:/store/u1/t/dir/f00004:100004:") != NULL);   /* kept */
    meta_query q = { 0 };
    q.task_id = "t";
    q.file_name = "dir/f00399";
    nseen = 0;
    meta_files_find(m, &q, f_count, NULL);
    T_EQ_INT(nseen, 1);
    T_EQ_STR(seen_last, "dir/f00399:200399");
    q.file_name = "dir/f00001";
    nseen = 0;
    meta_files_find(m, &q, f_count, NULL);
    T_EQ_INT(nseen, 0);
    /* The same after a restart (journal replay) and after a compaction. */
    meta_close(m);
    m = open_at(d, 0);
    got = dump(m);
    T_EQ_STR(got, want);
    free(got);
    T_EQ_INT(meta_compact(m, NULL, 0), 0);
    got = dump(m);
    T_EQ_STR(got, want);
    free(got);
    meta_close(m);
    m = open_at(d, 0);
    got = dump(m);
    T_EQ_STR(got, want);
    free(got);
    T_EQ_INT(meta_files_delete(m, "t", NULL, 0), 0);
    got = dump(m);
    T_CHECK(strstr(got, "Ft/") == NULL);
    free(got);
    meta_close(m);
    m = open_at(d, 0);
    got = dump(m);
    T_CHECK(strstr(got, "Ft/") == NULL);
    free(got);
    free(want);
    meta_close(m);
    rm_flat(d);
}

/* A group whose files disagree on time: its order key is the least time,
 * and replacing the file that held it moves the group. */
static void test_group_time_key(void)
{
    char d[128];
    file_rec *f = calloc(2, sizeof *f);
    T_CHECK(new_dir(d, sizeof d) == 0 && f);
    meta *m = open_at(d, 0);
    if (!m || !f) { free(f); return; }
    for (int i = 0; i < 2; i++) {
        snprintf(f[i].task_id, sizeof f[i].task_id, "g");
        snprintf(f[i].user_id, sizeof f[i].user_id, "u");
        snprintf(f[i].file_name, sizeof f[i].file_name, "x%d", i);
        f[i].submitted_at = i ? 500 : 50;
    }
    T_EQ_INT(meta_files_put(m, f, 2, NULL, 0), 0);
    meta_query q = { 0 };
    q.since = 100;
    nseen = 0;
    meta_files_find(m, &q, f_count, NULL);
    T_EQ_INT(nseen, 1);                       /* x1 only */
    f[0].submitted_at = 900;                  /* x0 replaced: the group's least is now 500 */
    T_EQ_INT(meta_files_put(m, f, 1, NULL, 0), 0);
    nseen = 0;
    meta_files_find(m, &q, f_count, NULL);
    T_EQ_INT(nseen, 2);
    char *want = dump(m);
    meta_close(m);
    m = open_at(d, 0);
    char *got = dump(m);
    T_EQ_STR(got, want);
    nseen = 0;
    meta_files_find(m, &q, f_count, NULL);
    T_EQ_INT(nseen, 2);
    free(got);
    free(want);
    free(f);
    meta_close(m);
    rm_flat(d);
}

/* ---- the snapshot index ---- */

static meta *open_rep(const char *d, meta_open_report *rep)
{
    char err[256] = "";
    memset(rep, 0, sizeof *rep);
    meta *m = meta_open_journal_ex(d, 0, META_OPEN_NORMAL, rep, err, sizeof err);
    if (!m) printf("#   open %s: %s\n", d, err);
    return m;
}

/* A store with every kind of record in its snapshot, and some after it. */
static meta *indexed_store(const char *d)
{
    meta *m = open_at(d, 0);
    if (!m) return NULL;
    for (int i = 0; i < 30; i++) {
        char id[16];
        snprintf(id, sizeof id, "k%02d", i);
        put_task(m, id, 100 + (uint64_t)(i % 7), i % 2 ? PROTO_ST_COMPLETED : PROTO_ST_FAILED, 1);
        if (i % 3 == 0) put_files_v(m, id, 0, 1 + i, 1, 1);
        if (i == 15) meta_compact(m, NULL, 0);   /* a generation before: the fallback */
    }
    file_rec f;
    memset(&f, 0, sizeof f);
    snprintf(f.task_id, sizeof f.task_id, "k03");
    snprintf(f.user_id, sizeof f.user_id, "someone-else");     /* a mixed group */
    snprintf(f.file_name, sizeof f.file_name, "zz");
    f.submitted_at = 7;                                          /* of mixed time */
    meta_files_put(m, &f, 1, NULL, 0);
    put_worker(m, "w1", "ready");
    put_worker(m, "w2", "lost");
    meta_compact(m, NULL, 0);
    put_task(m, "after", 900, PROTO_ST_QUEUED, 1);
    put_files_v(m, "k00", 5, 2, 1, 3);
    return m;
}

static void test_index_start(void)
{
    char d[128], *want, *got;
    meta_open_report rep;
    struct stat st;
    T_CHECK(new_dir(d, sizeof d) == 0);
    meta *m = indexed_store(d);
    T_CHECK(m != NULL);
    if (!m) return;
    want = dump(m);
    meta_close(m);
    T_CHECK(stat(path_in(d, "snapshot.idx"), &st) == 0);
    m = open_rep(d, &rep);
    T_CHECK(rep.from_index && !rep.damaged);
    got = dump(m);
    T_EQ_STR(got, want);
    free(got);
    /* Filters over the loaded state: a user, a time range, a mixed group. */
    meta_query q = { 0 };
    q.user_id = "someone-else";
    nseen = 0;
    meta_files_find(m, &q, f_count, NULL);
    T_EQ_INT(nseen, 1);
    q.user_id = NULL;
    q.since = 1;
    q.until = 8;
    nseen = 0;
    meta_files_find(m, &q, f_count, NULL);
    T_EQ_INT(nseen, 1);
    meta_close(m);
    /* Without the index: the same state, the slow way. */
    unlink(path_in(d, "snapshot.idx"));
    m = open_rep(d, &rep);
    T_CHECK(!rep.from_index);
    got = dump(m);
    T_EQ_STR(got, want);
    free(got);
    /* A compaction writes a new one; its state is the same again. */
    T_EQ_INT(meta_compact(m, NULL, 0), 0);
    meta_close(m);
    m = open_rep(d, &rep);
    T_CHECK(rep.from_index);
    got = dump(m);
    T_EQ_STR(got, want);
    free(got);
    meta_close(m);
    free(want);
    rm_flat(d);
}

/* Offsets of the records of a journal-framed file. */
static size_t rec_offsets(const uint8_t *b, size_t len, size_t *off, size_t max)
{
    size_t n = 0, at = 16;
    while (at + 8 <= len && n < max) {
        uint32_t l = (uint32_t)b[at] | (uint32_t)b[at + 1] << 8 | (uint32_t)b[at + 2] << 16 |
                     (uint32_t)b[at + 3] << 24;
        off[n++] = at;
        at += 8 + l;
    }
    return n;
}

/* A damaged, cut or foreign index is ignored: the state is always the
 * snapshot's, and the store still starts. */
static void test_index_damage(void)
{
    char d[128], cp[128], *want;
    size_t len, off[64];
    T_CHECK(new_dir(d, sizeof d) == 0);
    meta *m = indexed_store(d);
    if (!m) return;
    want = dump(m);
    meta_close(m);
    uint8_t *idx = slurp(path_in(d, "snapshot.idx"), &len);
    size_t nrec = idx ? rec_offsets(idx, len, off, 64) : 0;
    T_CHECK(nrec >= 5);
    int bad = 0, used = 0, tried = 0;
    for (size_t cut = 0; idx && cut < len && bad < 3; cut++) {
        int boundary = 0;
        for (size_t k = 0; k < nrec; k++) boundary |= off[k] == cut;
        /* Every record boundary and header byte, a sample of the rest. */
        if (!boundary && cut > 16 && cut % 5) continue;
        for (int flip = 0; flip < 2; flip++) {
            meta_open_report rep;
            if (flip && cut < 16) continue;
            if (copy_store(d, cp, sizeof cp) != 0) { bad++; break; }
            if (flip) {
                idx[cut] ^= 0x21;
                spit(path_in(cp, "snapshot.idx"), idx, len);
                idx[cut] ^= 0x21;
            } else {
                spit(path_in(cp, "snapshot.idx"), idx, cut);
            }
            meta *r = open_rep(cp, &rep);
            char *got = dump(r);
            tried++;
            used += rep.from_index;
            if (!r || strcmp(got, want) || rep.damaged) {
                printf("#   %s at %zu: from_index %d damaged %d\n", flip ? "flip" : "cut", cut, rep.from_index,
                       rep.damaged);
                bad++;
            }
            free(got);
            meta_close(r);
            rm_flat(cp);
        }
    }
    T_EQ_INT(bad, 0);
    T_EQ_INT(used, 0);          /* a CRC catches every flip; a cut leaves no end record */
    T_CHECK(tried > 100);

    /* The index of the generation before, beside a newer snapshot. */
    T_CHECK(copy_store(d, cp, sizeof cp) == 0);
    m = open_at(cp, 0);
    T_EQ_INT(meta_compact(m, NULL, 0), 0);
    meta_close(m);
    spit(path_in(cp, "snapshot.idx"), idx, len);
    meta_open_report rep;
    m = open_rep(cp, &rep);
    char *got = dump(m);
    T_CHECK(!rep.from_index);
    T_EQ_STR(got, want);
    free(got);
    meta_close(m);
    rm_flat(cp);

    /* A damaged snapshot under an intact index: found as before (the
     * records are checked), the previous generation takes over. */
    T_CHECK(copy_store(d, cp, sizeof cp) == 0);
    size_t sl;
    uint8_t *snap = slurp(path_in(cp, "snapshot"), &sl);
    if (snap && sl > 64) {
        snap[sl / 2] ^= 0x40;
        spit(path_in(cp, "snapshot"), snap, sl);
    }
    free(snap);
    m = open_rep(cp, &rep);
    T_CHECK(m != NULL && !rep.from_index && rep.damaged);
    T_CHECK(strstr(rep.text, "snapshot: DAMAGED") != NULL);
    got = dump(m);
    T_CHECK(!strcmp(got, want));
    free(got);
    meta_close(m);
    /* ...and the clean snapshot written then has its own index. */
    m = open_rep(cp, &rep);
    T_CHECK(rep.from_index && !rep.damaged);
    got = dump(m);
    T_CHECK(!strcmp(got, want));
    free(got);
    meta_close(m);
    rm_flat(cp);
    free(idx);
    free(want);
    rm_flat(d);
}

/* [storage] snapshot_check_background: a start from the index checks the
 * snapshot after the open; damage found then is recorded, the index
 * removed and compactions held, and the next start recovers it all. */
static int checked_damaged = -1;
static void on_checked(void *ctx, int damaged, const char *text)
{
    (void)ctx;
    (void)text;
    checked_damaged = damaged;
}

static void test_check_later(void)
{
    char d[128], cp[128], *want, *got, text[1024];
    meta_open_report rep;
    char err[256] = "";
    struct stat st;
    T_CHECK(new_dir(d, sizeof d) == 0);
    meta *m = indexed_store(d);
    if (!m) return;
    want = dump(m);
    meta_close(m);
    /* Intact: the check passes, compactions go on. */
    T_CHECK(copy_store(d, cp, sizeof cp) == 0);
    memset(&rep, 0, sizeof rep);
    rep.check_later = 1;
    rep.on_check = on_checked;
    checked_damaged = -1;
    m = meta_open_journal_ex(cp, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
    T_CHECK(m && rep.from_index && !rep.damaged);
    got = dump(m);
    T_EQ_STR(got, want);
    free(got);
    T_EQ_INT(meta_check_wait(m, text, sizeof text), 0);
    T_EQ_INT(checked_damaged, 0);
    T_EQ_INT(meta_compact(m, NULL, 0), 0);
    meta_close(m);
    rm_flat(cp);
    /* Damaged in the middle: the open does not see it, the check does. */
    T_CHECK(copy_store(d, cp, sizeof cp) == 0);
    size_t sl;
    uint8_t *snap = slurp(path_in(cp, "snapshot"), &sl);
    if (snap && sl > 64) {
        snap[sl / 2] ^= 0x40;
        spit(path_in(cp, "snapshot"), snap, sl);
    }
    free(snap);
    memset(&rep, 0, sizeof rep);
    rep.check_later = 1;
    rep.on_check = on_checked;
    checked_damaged = -1;
    m = meta_open_journal_ex(cp, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
    T_CHECK(m && rep.from_index && !rep.damaged);
    T_EQ_INT(meta_check_wait(m, text, sizeof text), META_E_CORRUPT);
    T_CHECK(strstr(text, "snapshot: DAMAGED") != NULL);
    T_EQ_INT(checked_damaged, 1);
    T_CHECK(stat(path_in(cp, "snapshot.idx"), &st) != 0);            /* removed */
    T_CHECK(stat(path_in(cp, "damage.log"), &st) == 0);
    T_CHECK(meta_compact(m, NULL, 0) != 0);                           /* held */
    T_EQ_INT(put_task(m, "late", 950, PROTO_ST_QUEUED, 1), 0);        /* changes go on */
    meta_close(m);
    /* The next start finds the damage and the previous generation
     * gives everything back. */
    m = open_rep(cp, &rep);
    T_CHECK(m && !rep.from_index && rep.damaged);
    got = dump(m);
    T_CHECK(strstr(got, "Tlate:") != NULL);
    char *late = strstr(got, "Tlate:");
    if (late) memmove(late, strchr(late, ';') + 1, strlen(strchr(late, ';') + 1) + 1);
    T_CHECK(!strcmp(got, want));
    free(got);
    meta_close(m);
    rm_flat(cp);
    /* Damage in the journal too: the start compacts at once, so the
     * snapshot is checked first, found damaged, and the start begins again
     * without the index: the previous generation takes over and only the
     * damaged journal record is lost. */
    T_CHECK(copy_store(d, cp, sizeof cp) == 0);
    snap = slurp(path_in(cp, "snapshot"), &sl);
    if (snap && sl > 64) {
        snap[sl / 2] ^= 0x40;
        spit(path_in(cp, "snapshot"), snap, sl);
    }
    free(snap);
    size_t jl;
    uint8_t *jb = slurp(path_in(cp, "journal"), &jl);
    if (jb && jl > 40) {
        jb[16 + 8 + 20] ^= 0x08;             /* inside the first record ("after") */
        spit(path_in(cp, "journal"), jb, jl);
    }
    free(jb);
    memset(&rep, 0, sizeof rep);
    rep.check_later = 1;
    m = meta_open_journal_ex(cp, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
    T_CHECK(m && !rep.from_index && rep.damaged);
    T_CHECK(strstr(rep.text, "snapshot: DAMAGED") != NULL);
    got = dump(m);
    T_CHECK(strstr(got, "Tafter:") == NULL);
    char *w2 = strdup(want), *af = strstr(w2, "Tafter:");
    if (af) memmove(af, strchr(af, ';') + 1, strlen(strchr(af, ';') + 1) + 1);
    T_CHECK(!strcmp(got, w2));
    free(w2);
    free(got);
    meta_close(m);
    rm_flat(cp);

    /* Closing while the check runs stops it. */
    memset(&rep, 0, sizeof rep);
    rep.check_later = 1;
    m = meta_open_journal_ex(d, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
    T_CHECK(m != NULL);
    meta_close(m);
    free(want);
    rm_flat(d);
}

int main(void)
{
    T_RUN(test_truncate_every_byte);
    T_RUN(test_unsynced_cut);
    T_RUN(test_unsynced_files);
    T_RUN(test_files_order_replace);
    T_RUN(test_group_time_key);
    T_RUN(test_index_start);
    T_RUN(test_index_damage);
    T_RUN(test_check_later);
    free(dbuf);
    return T_DONE();
}
