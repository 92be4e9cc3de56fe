/* test_journal.c — durability of the embedded metadata store: torn tails,
 * bit flips, bad headers, compaction and crashes around it, and a full disk
 * (a tiny tmpfs when mounting is allowed, and always an injected write
 * fault). Works on real files in mkdtemp directories. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"
#include "master/journal.h"
#include "master/meta.h"

static char dir[128];

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

static int new_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_journal.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static const char *path_of(const char *name)
{
    static char p[4][192];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = NULL;
    *len = 0;
    if (!f) return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (b = malloc((size_t)st.st_size + 1)))
        *len = fread(b, 1, (size_t)st.st_size, f);
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

static off_t size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static meta *reopen(uint64_t compact, uint64_t *dropped)
{
    char err[256] = "";
    uint64_t d = 0;
    meta *m = meta_open_journal(dir, compact, dropped ? dropped : &d, err, sizeof err);
    if (!m) printf("#   open %s: %s\n", dir, err);
    return m;
}

static int put_task(meta *m, const char *id, uint64_t at, int status)
{
    task_rec t;
    task_rec_init(&t);
    snprintf(t.task_id, sizeof t.task_id, "%s", id);
    snprintf(t.user_id, sizeof t.user_id, "u%d", (int)(at % 3));
    snprintf(t.task_name, sizeof t.task_name, "name-%s", id);
    t.submitted_at = at;
    t.status = status;
    int rc = task_rec_set_command(&t, "echo hello") ? -1 : meta_task_put(m, &t, NULL, 0);
    task_rec_free(&t);
    return rc;
}

static int put_files(meta *m, const char *task, int n, size_t path_pad)
{
    file_rec *f = calloc((size_t)n, sizeof *f);
    if (!f) return -1;
    for (int i = 0; i < n; i++) {
        snprintf(f[i].task_id, sizeof f[i].task_id, "%s", task);
        snprintf(f[i].user_id, sizeof f[i].user_id, "u1");
        snprintf(f[i].task_name, sizeof f[i].task_name, "name-%s", task);
        snprintf(f[i].file_name, sizeof f[i].file_name, "f%04d", i);
        memset(f[i].file_path, 'p', path_pad < sizeof f[i].file_path ? path_pad : 1);
        f[i].file_size = (uint64_t)i;
        f[i].submitted_at = 100;
    }
    int rc = meta_files_put(m, f, (size_t)n, NULL, 0);
    free(f);
    return rc;
}

static int put_worker(meta *m, const char *id, const char *state)
{
    worker_rec w;
    memset(&w, 0, sizeof w);
    snprintf(w.worker_id, sizeof w.worker_id, "%s", id);
    snprintf(w.state, sizeof w.state, "%s", state);
    return meta_worker_put(m, &w, NULL, 0);
}

/* A canonical text of the whole store, to compare states. */
static char dumpbuf[1 << 16];
static void dump_add(const char *s)
{
    size_t l = strlen(dumpbuf);
    snprintf(dumpbuf + l, sizeof dumpbuf - l, "%s;", s);
}
static int dump_task(void *c, const task_rec *t)
{
    char s[200];
    snprintf(s, sizeof s, "T%.60s:%d:%llu:%.60s", t->task_id, t->status,
             (unsigned long long)t->submitted_at, t->command ? t->command : "-");
    dump_add(s);
    return 0;
}
static int dump_file(void *c, const file_rec *f)
{
    char s[200];
    snprintf(s, sizeof s, "F%.60s/%.60s:%llu", f->task_id, f->file_name, (unsigned long long)f->file_size);
    dump_add(s);
    return 0;
}
static int dump_worker(void *c, const worker_rec *w)
{
    char s[200];
    snprintf(s, sizeof s, "W%.60s:%.30s", w->worker_id, w->state);
    dump_add(s);
    return 0;
}
static const char *dump(meta *m)
{
    meta_query q = { 0 };
    dumpbuf[0] = 0;
    if (!m) return "(no store)";
    meta_tasks_find(m, &q, dump_task, NULL);
    meta_files_find(m, &q, dump_file, NULL);
    meta_workers_list(m, dump_worker, NULL);
    return dumpbuf;
}

/* A store whose last journal record is the task "t3"; *before is the
 * journal size without it. */
static meta *three_tasks(off_t *before)
{
    meta *m = reopen(0, NULL);
    if (!m) return NULL;
    put_task(m, "t1", 10, PROTO_ST_QUEUED);
    put_files(m, "t1", 3, 10);
    put_task(m, "t2", 20, PROTO_ST_RUNNING);
    *before = size_of(path_of("journal"));
    put_task(m, "t3", 30, PROTO_ST_FAILED);
    return m;
}

static void test_torn_tail_every_offset(void)
{
    off_t before;
    size_t len = 0;
    T_CHECK(new_dir() == 0);
    meta *m = three_tasks(&before);
    T_CHECK(m != NULL);
    if (!m) return;
    char want[4096];
    snprintf(want, sizeof want, "%s", dump(m));
    meta_close(m);
    uint8_t *full = slurp(path_of("journal"), &len);
    T_CHECK(full && len > (size_t)before + 8);
    int bad = 0;
    for (size_t cut = (size_t)before + 1; full && cut < len && !bad; cut++) {
        uint64_t dropped = 0;
        T_CHECK(spit(path_of("journal"), full, cut) == 0);
        m = reopen(0, &dropped);
        if (!m) { bad = 1; break; }
        if (dropped != cut - (size_t)before) bad = 2;
        if (size_of(path_of("journal")) != before) bad = 3;
        if (!strstr(dump(m), "Tt2:3:20") || strstr(dumpbuf, "Tt3")) bad = 4;
        meta_close(m);
        if (bad) printf("#   cut at %zu: failure %d, dropped %llu\n", cut, bad, (unsigned long long)dropped);
    }
    T_EQ_INT(bad, 0);
    /* After the cut, appends continue cleanly and survive a restart. */
    m = reopen(0, NULL);
    T_CHECK(m && put_task(m, "t3", 30, PROTO_ST_FAILED) == 0);
    meta_close(m);
    m = reopen(0, NULL);
    T_EQ_STR(dump(m), want);
    meta_close(m);
    free(full);
    rm_flat(dir);
}

static void test_flipped_bit_last_record(void)
{
    off_t before;
    size_t len = 0;
    T_CHECK(new_dir() == 0);
    meta *m = three_tasks(&before);
    T_CHECK(m != NULL);
    if (!m) return;
    meta_close(m);
    uint8_t *full = slurp(path_of("journal"), &len);
    T_CHECK(full != NULL);
    int bad = 0;
    /* Every byte of the last record, one bit each (rotating). */
    for (size_t at = (size_t)before; full && at < len && !bad; at++) {
        uint64_t dropped = 0;
        full[at] ^= (uint8_t)(1u << (at % 8));
        T_CHECK(spit(path_of("journal"), full, len) == 0);
        full[at] ^= (uint8_t)(1u << (at % 8));
        m = reopen(0, &dropped);
        if (!m) { bad = 1; break; }
        if (dropped != len - (size_t)before) bad = 2;
        if (!strstr(dump(m), "Tt2:3:20") || strstr(dumpbuf, "Tt3") || !strstr(dumpbuf, "Ft1/f0002")) bad = 3;
        meta_close(m);
        if (bad) printf("#   flip at %zu: failure %d, dropped %llu\n", at, bad, (unsigned long long)dropped);
    }
    T_EQ_INT(bad, 0);
    free(full);
    rm_flat(dir);
}

static void test_bad_header(void)
{
    static const struct { size_t at; uint8_t x; size_t cut; } cases[] = {
        { 0, 'X', 0 },     /* magic */
        { 7, '2', 0 },     /* magic's last byte */
        { 8, 2, 0 },       /* version */
        { 0, 0, 5 },       /* short header */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = 0;
        uint64_t end, size;
        uint32_t gen;
        char err[256] = "";
        T_CHECK(new_dir() == 0);
        meta *m = reopen(0, NULL);
        T_CHECK(m && put_task(m, "t1", 10, PROTO_ST_QUEUED) == 0);
        meta_close(m);
        uint8_t *b = slurp(path_of("journal"), &len);
        T_CHECK(b != NULL);
        if (!b) continue;
        if (cases[i].cut) len = cases[i].cut;
        else b[cases[i].at] = cases[i].x;
        T_CHECK(spit(path_of("journal"), b, len) == 0);
        T_EQ_INT(journal_replay(path_of("journal"), 0, NULL, NULL, &end, &size, &gen, err, sizeof err),
                 META_E_CORRUPT);
        m = meta_open_journal(dir, 0, &end, err, sizeof err);
        T_CHECK(m == NULL);
        T_CHECK(err[0] != 0);
        meta_close(m);
        T_EQ_INT(size_of(path_of("journal")), len);   /* never "repaired" */
        free(b);
        rm_flat(dir);
    }
}

static meta *populated(uint64_t compact)
{
    meta *m = reopen(compact, NULL);
    if (!m) return NULL;
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof id, "t%02d", i);
        put_task(m, id, 1000 - (uint64_t)i * 10, PROTO_ST_QUEUED);
        if (i % 3 == 0) put_task(m, id, 1000 - (uint64_t)i * 10, PROTO_ST_COMPLETED);
        if (i % 4 == 0) put_files(m, id, 5, 40);
    }
    meta_files_delete(m, "t04", NULL, 0);
    put_files(m, "t08", 2, 40);
    put_worker(m, "w1", "ready");
    put_worker(m, "w2", "ready");
    put_worker(m, "w1", "lost");
    return m;
}

static void test_compact_reopen(void)
{
    char want[sizeof dumpbuf], err[256] = "";
    T_CHECK(new_dir() == 0);
    meta *m = populated(0);
    T_CHECK(m != NULL);
    if (!m) return;
    snprintf(want, sizeof want, "%s", dump(m));
    T_CHECK(strstr(want, "Tt39:5:610") && strstr(want, "Ft08/f0004") && strstr(want, "Ww1:lost"));
    T_EQ_INT(meta_compact(m, err, sizeof err), 0);
    T_EQ_INT(size_of(path_of("journal")), JOURNAL_HDR_SIZE);
    T_CHECK(size_of(path_of("snapshot")) > JOURNAL_HDR_SIZE);
    T_EQ_STR(dump(m), want);
    meta_close(m);
    m = reopen(0, NULL);
    T_EQ_STR(dump(m), want);
    /* Changes after a compaction land in the new journal. */
    T_EQ_INT(put_task(m, "t00", 1000, PROTO_ST_CANCELLED), 0);
    T_EQ_INT(meta_files_delete(m, "t08", NULL, 0), 0);
    snprintf(want, sizeof want, "%s", dump(m));
    meta_close(m);
    m = reopen(0, NULL);
    T_EQ_STR(dump(m), want);
    T_EQ_INT(meta_compact(m, err, sizeof err), 0);   /* compacting twice is fine */
    meta_close(m);
    m = reopen(0, NULL);
    T_EQ_STR(dump(m), want);
    meta_close(m);
    rm_flat(dir);
}

static void test_auto_compact(void)
{
    char want[sizeof dumpbuf];
    T_CHECK(new_dir() == 0);
    meta *m = populated(2048);
    T_CHECK(m != NULL);
    if (!m) return;
    snprintf(want, sizeof want, "%s", dump(m));
    T_CHECK(size_of(path_of("snapshot")) > 0);
    T_CHECK(size_of(path_of("journal")) < 2048 + 1024);
    meta_close(m);
    m = reopen(2048, NULL);
    T_EQ_STR(dump(m), want);
    meta_close(m);
    rm_flat(dir);
}

static void test_crash_around_compaction(void)
{
    char want[sizeof dumpbuf], err[256] = "";
    size_t jlen = 0;
    T_CHECK(new_dir() == 0);
    meta *m = populated(0);
    T_CHECK(m != NULL);
    if (!m) return;
    snprintf(want, sizeof want, "%s", dump(m));
    meta_close(m);

    /* Crash while writing snapshot.tmp / journal.tmp: leftovers ignored. */
    static const uint8_t junk[] = "CLDJRNL1\1\0\0\0\0\0\0\0\x40\0\0\0garbage";
    T_CHECK(spit(path_of("snapshot.tmp"), junk, sizeof junk) == 0);
    T_CHECK(spit(path_of("journal.tmp"), junk, 5) == 0);
    m = reopen(0, NULL);
    T_EQ_STR(dump(m), want);
    T_EQ_INT(size_of(path_of("snapshot.tmp")), -1);
    T_EQ_INT(size_of(path_of("journal.tmp")), -1);

    /* Crash after the snapshot's rename, before the fresh journal's: the
     * new snapshot plus the whole old journal, which it supersedes. */
    uint8_t *old = slurp(path_of("journal"), &jlen);
    T_CHECK(old != NULL);
    T_EQ_INT(meta_compact(m, err, sizeof err), 0);
    meta_close(m);
    T_CHECK(old && spit(path_of("journal"), old, jlen) == 0);
    m = reopen(0, NULL);
    T_EQ_STR(dump(m), want);
    T_EQ_INT(size_of(path_of("journal")), JOURNAL_HDR_SIZE);   /* replaced, not replayed */
    T_EQ_INT(put_task(m, "t99", 5, PROTO_ST_QUEUED), 0);
    static char later[sizeof dumpbuf];
    snprintf(later, sizeof later, "%s", dump(m));
    meta_close(m);
    m = reopen(0, NULL);
    T_EQ_STR(dump(m), later);
    meta_close(m);

    /* Even a torn superseded journal is harmless: it is not replayed (a
     * prefix of it would roll records back behind the snapshot). */
    T_CHECK(old && spit(path_of("journal"), old, jlen - 3) == 0);
    uint64_t dropped = 1;
    m = reopen(0, &dropped);
    T_EQ_INT(dropped, 0);
    T_EQ_STR(dump(m), want);   /* the snapshot's state (t99 went with its journal) */
    meta_close(m);
    free(old);

    /* A corrupt snapshot is not a torn tail: refuse. */
    size_t slen = 0;
    uint8_t *s = slurp(path_of("snapshot"), &slen);
    T_CHECK(s && slen > 40);
    if (s && slen > 40) {
        s[slen - 10] ^= 0x20;
        T_CHECK(spit(path_of("snapshot"), s, slen) == 0);
        T_CHECK(meta_open_journal(dir, 0, &dropped, err, sizeof err) == NULL);
    }
    free(s);
    rm_flat(dir);
}

/* ---- full disk ---- */

static int hook_calls, hook_fail_after;
static ssize_t failing_write(int fd, const void *buf, size_t len, off_t off)
{
    if (hook_calls++ >= hook_fail_after) {
        /* A partial write first, then the error: the cut-back must undo it. */
        if (len > 4 && hook_calls == hook_fail_after + 1) return pwrite(fd, buf, len / 2, off);
        errno = ENOSPC;
        return -1;
    }
    return pwrite(fd, buf, len, off);
}

static void test_write_fault(void)
{
    char want[sizeof dumpbuf], err[256] = "";
    T_CHECK(new_dir() == 0);
    meta *m = reopen(0, NULL);
    T_CHECK(m != NULL);
    if (!m) return;
    T_EQ_INT(put_task(m, "t1", 10, PROTO_ST_QUEUED), 0);
    T_EQ_INT(put_files(m, "t1", 4, 10), 0);
    snprintf(want, sizeof want, "%s", dump(m));
    off_t before = size_of(path_of("journal"));

    hook_calls = 0;
    hook_fail_after = 0;
    journal_set_write_hook(failing_write);
    task_rec t;
    task_rec_init(&t);
    snprintf(t.task_id, sizeof t.task_id, "t2");
    T_EQ_INT(meta_task_put(m, &t, err, sizeof err), META_E_IO);
    T_CHECK(strstr(err, "No space") != NULL);
    T_EQ_INT(meta_task_get(m, "t2", &t), META_E_NOTFOUND);
    T_EQ_INT(put_task(m, "t1", 10, PROTO_ST_FAILED), META_E_IO);     /* replace refused too */
    T_EQ_INT(put_files(m, "t1", 6, 10), META_E_IO);
    T_EQ_INT(put_files(m, "t9", 2, 10), META_E_IO);
    T_EQ_INT(meta_files_delete(m, "t1", NULL, 0), META_E_IO);
    T_EQ_INT(put_worker(m, "w1", "ready"), META_E_IO);
    T_EQ_STR(dump(m), want);                                          /* memory unchanged */
    T_EQ_INT(size_of(path_of("journal")), before);                    /* no garbage left */
    journal_set_write_hook(NULL);

    T_EQ_INT(put_task(m, "t3", 30, PROTO_ST_QUEUED), 0);              /* disk back */
    snprintf(want, sizeof want, "%s", dump(m));
    meta_close(m);
    uint64_t dropped = 1;
    m = reopen(0, &dropped);
    T_EQ_INT(dropped, 0);
    T_EQ_STR(dump(m), want);
    meta_close(m);
    rm_flat(dir);
}

static char mnt[64];

static void test_tmpfs_full(void)
{
    char err[256] = "";
    snprintf(dir, sizeof dir, "%s/store", mnt);
    meta *m = reopen(0, NULL);
    T_CHECK(m != NULL);
    int rc = 0, i;
    char want[sizeof dumpbuf];
    want[0] = 0;
    for (i = 0; m && i < 1000; i++) {
        char id[16];
        snprintf(id, sizeof id, "t%03d", i);
        snprintf(want, sizeof want, "%s", dump(m));
        if ((rc = put_files(m, id, 4, 400)) != 0) break;
    }
    T_EQ_INT(rc, META_E_IO);
    T_CHECK(i > 3);
    printf("#   ENOSPC after %d commits\n", i);
    T_EQ_STR(dump(m), want);
    /* Compaction needs room for the snapshot: it may fail, but cleanly. */
    rc = meta_compact(m, err, sizeof err);
    T_CHECK(rc == 0 || rc == META_E_IO);
    T_EQ_INT(size_of(path_of("snapshot.tmp")), -1);
    T_EQ_STR(dump(m), want);
    meta_close(m);
    uint64_t dropped = 1;
    m = reopen(0, &dropped);
    T_EQ_INT(dropped, 0);
    T_EQ_STR(dump(m), want);
    meta_close(m);
    rm_flat(dir);
}

int main(void)
{
    T_RUN(test_torn_tail_every_offset);
    T_RUN(test_flipped_bit_last_record);
    T_RUN(test_bad_header);
    T_RUN(test_compact_reopen);
    T_RUN(test_auto_compact);
    T_RUN(test_crash_around_compaction);
    T_RUN(test_write_fault);
    snprintf(mnt, sizeof mnt, "/tmp/test_journal_fs.XXXXXX");
    if (mkdtemp(mnt) && mount("tmpfs", mnt, "tmpfs", 0, "size=64k") == 0) {
        T_RUN(test_tmpfs_full);
        if (umount(mnt) != 0) printf("#   umount %s failed\n", mnt);
    } else {
        T_SKIP(test_tmpfs_full, "cannot mount a 64k tmpfs here");
    }
    rmdir(mnt);
    return T_DONE();
}
