/* fuzz_snapidx.c — the input is a store's snapshot index (snapshot.idx,
 * meta_journal_index.c) beside a fixed, intact snapshot. The index is an
 * accelerator only, so whatever its bytes: the store opens (never refused,
 * never crashes, hangs or leaks), reports no damage, accepts a change,
 * compacts, and reopens to the very same contents with nothing damaged.
 * Random bytes rarely pass a CRC32, so each input is tried twice: as given,
 * and as a journal-framed file whose header is made right for the snapshot
 * (magic, version, generation) and whose every record's CRC is made right,
 * which takes the fuzzer into the index records themselves. The seed
 * corpus holds the template's real index (tests/fuzz/corpus/snapidx/). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "master/meta.h"

struct text { char *s; size_t len, cap; };

static void add(struct text *t, const char *s)
{
    size_t n = strlen(s);
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *ns = realloc(t->s, cap);
        if (!ns) abort();
        t->s = ns;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n + 1);
    t->len += n;
}

static int on_task(void *c, const task_rec *t)
{
    char s[400];
    snprintf(s, sizeof s, "T%s|%s|%s|%llu|%d|%s;", t->task_id, t->user_id, t->task_name,
             (unsigned long long)t->submitted_at, t->status, t->command ? t->command : "-");
    add(c, s);
    return 0;
}

static int on_file(void *c, const file_rec *f)
{
    char s[300];
    snprintf(s, sizeof s, "F%s|%.100s|%llu|%o;", f->task_id, f->file_name, (unsigned long long)f->file_size,
             (unsigned)f->mode);
    add(c, s);
    return 0;
}

static int on_worker(void *c, const worker_rec *w)
{
    char s[200];
    snprintf(s, sizeof s, "W%s|%s;", w->worker_id, w->state);
    add(c, s);
    return 0;
}

static void dump(meta *m, struct text *t)
{
    meta_query q = { 0 };
    t->len = 0;
    add(t, "");
    meta_tasks_find(m, &q, on_task, t);
    meta_files_find(m, &q, on_file, t);
    q.user_id = "u1";
    q.since = 50;
    meta_files_find(m, &q, on_file, t);
    meta_workers_list(m, on_worker, t);
}

static void rm_dir(const char *dir)
{
    char path[256];
    DIR *dp = opendir(dir);
    struct dirent *e;
    while (dp && (e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < sizeof path) unlink(path);
    }
    if (dp) closedir(dp);
    rmdir(dir);
}

static int new_dir(char *dir, size_t cap)
{
    snprintf(dir, cap, "/dev/shm/fuzz_snapidx.XXXXXX");
    if (mkdtemp(dir)) return 0;
    snprintf(dir, cap, "/tmp/fuzz_snapidx.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
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

static int spit(const char *dir, const char *name, const uint8_t *b, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int rc = len && fwrite(b, 1, len, f) != len ? -1 : 0;
    return fclose(f) == 0 ? rc : -1;
}

/* The template: a snapshot (with a mixed group, a group of mixed times,
 * workers) and the empty journal after it; built once, deterministic. */
static uint8_t *tsnap, *tjournal;
static size_t tsnap_len, tjournal_len;

static void build_template(void)
{
    char dir[128], err[256];
    uint64_t dropped;
    if (new_dir(dir, sizeof dir) != 0) abort();
    meta *m = meta_open_journal(dir, 0, &dropped, err, sizeof err);
    if (!m) abort();
    for (int i = 0; i < 6; i++) {
        task_rec t;
        file_rec f[3];
        task_rec_init(&t);
        snprintf(t.task_id, sizeof t.task_id, "task-%d", i);
        snprintf(t.user_id, sizeof t.user_id, "u%d", i % 2);
        snprintf(t.task_name, sizeof t.task_name, "n%d", i % 3);
        t.submitted_at = 10 * (uint64_t)i + 10;
        t.status = PROTO_ST_COMPLETED;
        if (task_rec_set_command(&t, "echo") || meta_task_put(m, &t, err, sizeof err)) abort();
        task_rec_free(&t);
        memset(f, 0, sizeof f);
        for (int k = 0; k < 3; k++) {
            snprintf(f[k].task_id, sizeof f[k].task_id, "task-%d", i);
            snprintf(f[k].user_id, sizeof f[k].user_id, "u%d", k == 2 && i == 1 ? 9 : i % 2);
            snprintf(f[k].task_name, sizeof f[k].task_name, "n%d", i % 3);
            snprintf(f[k].file_name, sizeof f[k].file_name, "out/%c.txt", 'c' - k);
            f[k].submitted_at = 10 * (uint64_t)i + 10 + (i == 4 ? (uint64_t)k : 0);
            f[k].file_size = (uint64_t)(i * 10 + k);
            f[k].mode = 0644;
        }
        if (i != 5 && meta_files_put(m, f, 3, err, sizeof err)) abort();
    }
    worker_rec w;
    memset(&w, 0, sizeof w);
    snprintf(w.worker_id, sizeof w.worker_id, "w1");
    snprintf(w.state, sizeof w.state, "ready");
    if (meta_worker_put(m, &w, err, sizeof err) || meta_compact(m, err, sizeof err)) abort();
    meta_close(m);
    char p[256];
    snprintf(p, sizeof p, "%s/snapshot", dir);
    tsnap = slurp(p, &tsnap_len);
    snprintf(p, sizeof p, "%s/journal", dir);
    tjournal = slurp(p, &tjournal_len);
    if (getenv("FUZZ_SNAPIDX_SEED")) {   /* writes the real index, for the corpus */
        size_t l;
        snprintf(p, sizeof p, "%s/snapshot.idx", dir);
        uint8_t *idx = slurp(p, &l);
        FILE *f = fopen(getenv("FUZZ_SNAPIDX_SEED"), "wb");
        if (idx && f) fwrite(idx, 1, l, f);
        if (f) fclose(f);
        free(idx);
    }
    rm_dir(dir);
    if (!tsnap || !tjournal) abort();
}

static void one(const uint8_t *data, size_t size)
{
    char dir[128], err[256];
    meta_open_report rep;
    struct text before = { 0 }, after = { 0 };
    if (new_dir(dir, sizeof dir) != 0) return;
    if (spit(dir, "snapshot", tsnap, tsnap_len) || spit(dir, "journal", tjournal, tjournal_len) ||
        spit(dir, "snapshot.idx", data, size))
        goto out;
    memset(&rep, 0, sizeof rep);
    meta *m = meta_open_journal_ex(dir, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
    if (!m || rep.damaged) abort();            /* an index never blocks or damages a start */
    dump(m, &before);
    task_rec t;
    task_rec_init(&t);
    snprintf(t.task_id, sizeof t.task_id, "fuzz-task");
    if (meta_task_put(m, &t, err, sizeof err) != 0) abort();
    task_rec_free(&t);
    if (meta_task_get(m, "fuzz-task", &t) != 0) abort();
    task_rec_free(&t);
    dump(m, &before);
    if (meta_compact(m, err, sizeof err) != 0) abort();
    meta_close(m);
    memset(&rep, 0, sizeof rep);
    m = meta_open_journal_ex(dir, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
    if (!m || rep.damaged || !rep.from_index) abort();
    dump(m, &after);
    if (strcmp(before.s, after.s) != 0) abort();
    meta_close(m);
out:
    rm_dir(dir);
    free(before.s);
    free(after.s);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tsnap) build_template();
    one(data, size);
    if (size < 16) return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed) return 0;
    memcpy(fixed, data, size);
    memcpy(fixed, tsnap, 16);        /* magic, version and the snapshot's generation */
    for (size_t off = 16; off + 8 <= size;) {
        uint32_t len = le32(fixed + off);
        if (len > size - off - 8) break;
        uint32_t crc = (uint32_t)crc32(0L, fixed + off + 8, len);
        for (int i = 0; i < 4; i++) fixed[off + 4 + i] = (uint8_t)(crc >> (8 * i));
        off += 8 + (size_t)len;
    }
    if (memcmp(fixed, data, size)) one(fixed, size);
    free(fixed);
    return 0;
}
