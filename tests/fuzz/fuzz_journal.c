/* fuzz_journal.c — the input is a store's journal file: opening it must
 * never crash, hang or leak, whatever the bytes. When it opens, the store
 * must also survive a change, a compaction and a reopen with its contents
 * unchanged (damage in the middle is skipped, not a reason to stop) (snapshot writing and strict snapshot replay of whatever the
 * fuzzed journal let in). Random bytes rarely pass a CRC32, so each input
 * is tried twice: as given, and with every record's CRC made right, which
 * takes the fuzzer into the BSON and record decoding. Everything lives in
 * a mkdtemp directory (in /dev/shm when there is one, as fsync is the
 * bottleneck) that is removed before returning. */
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
    snprintf(s, sizeof s, "T%s|%s|%s|%llu|%d|%lld|%d|%s;", t->task_id, t->user_id, t->task_name,
             (unsigned long long)t->submitted_at, t->status, (long long)t->exit_code, t->argc,
             t->command ? t->command : "-");
    add(c, s);
    return 0;
}

static int on_file(void *c, const file_rec *f)
{
    char s[300];
    snprintf(s, sizeof s, "F%s|%.100s|%llu|%o|%02x;", f->task_id, f->file_name,
             (unsigned long long)f->file_size, (unsigned)f->mode, f->sha256[0]);
    add(c, s);
    return 0;
}

static int on_worker(void *c, const worker_rec *w)
{
    char s[400];
    snprintf(s, sizeof s, "W%s|%s|%s|%llu;", w->worker_id, w->address, w->state,
             (unsigned long long)w->free_memory);
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
    meta_workers_list(m, on_worker, t);
}

static void one(const uint8_t *data, size_t size)
{
    char dir[] = "/dev/shm/fuzz_journal.XXXXXX", path[128], err[256];
    struct text before = { 0 }, after = { 0 };
    uint64_t dropped = 0;
    if (!mkdtemp(dir)) {
        memcpy(dir, "/tmp/fuzz_journal.XXXXXX", sizeof "/tmp/fuzz_journal.XXXXXX");
        if (!mkdtemp(dir)) return;
    }
    snprintf(path, sizeof path, "%s/journal", dir);
    FILE *f = fopen(path, "wb");
    if (!f) goto out;
    if (size && fwrite(data, 1, size, f) != size) { fclose(f); goto out; }
    fclose(f);

    meta *m = meta_open_journal(dir, 0, &dropped, err, sizeof err);
    if (!m) goto out;
    if (dropped > size) abort();
    task_rec t;
    task_rec_init(&t);
    snprintf(t.task_id, sizeof t.task_id, "fuzz-task");
    if (meta_task_put(m, &t, err, sizeof err) != 0) abort();
    task_rec_free(&t);
    dump(m, &before);
    if (meta_compact(m, err, sizeof err) != 0) abort();
    meta_close(m);
    m = meta_open_journal(dir, 0, &dropped, err, sizeof err);
    if (!m || dropped != 0) abort();
    dump(m, &after);
    if (strcmp(before.s, after.s) != 0) abort();
    meta_close(m);
out:;
    /* Damage leaves more behind (<name>.damaged-*, *.prev, damage.log). */
    DIR *dp = opendir(dir);
    struct dirent *e;
    while (dp && (e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < sizeof path) unlink(path);
    }
    if (dp) closedir(dp);
    rmdir(dir);
    free(before.s);
    free(after.s);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size);
    uint8_t *fixed = size ? malloc(size) : NULL;
    if (!fixed) return 0;
    memcpy(fixed, data, size);
    int changed = 0;
    /* Records as journal.h frames them: u32 length, u32 crc32, body. */
    for (size_t off = 16; off + 8 <= size;) {
        uint32_t len = le32(fixed + off);
        if (len > size - off - 8) break;
        uint32_t crc = (uint32_t)crc32(0L, fixed + off + 8, len);
        if (crc != le32(fixed + off + 4)) {
            for (int i = 0; i < 4; i++) fixed[off + 4 + i] = (uint8_t)(crc >> (8 * i));
            changed = 1;
        }
        off += 8 + (size_t)len;
    }
    if (changed) one(fixed, size);
    free(fixed);
    return 0;
}
