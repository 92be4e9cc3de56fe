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

/* Removes every file of the store but its journal. */
static void only_journal(void)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    char p[256];
    while (dp && (e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "journal")) continue;
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < sizeof p) unlink(p);
    }
    if (dp) closedir(dp);
}

/* How many files of the store's directory start with prefix. */
static int count_prefix(const char *prefix)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (dp && (e = readdir(dp)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    if (dp) closedir(dp);
    return n;
}

/* In /dev/shm when there is one: the damage tests reopen (and so fsync)
 * hundreds of times; a disk adds nothing to what they check. */
static int new_dir(void)
{
    snprintf(dir, sizeof dir, "/dev/shm/test_journal.XXXXXX");
    if (mkdtemp(dir)) return 0;
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

/* n files f0000.. of task; sizes base + i; paths of path_pad 'p's. */
static int put_files_at(meta *m, const char *task, int n, size_t path_pad, uint64_t base)
{
    file_rec *f = calloc((size_t)n, sizeof *f);
    if (!f) return -1;
    for (int i = 0; i < n; i++) {
        snprintf(f[i].task_id, sizeof f[i].task_id, "%s", task);
        snprintf(f[i].user_id, sizeof f[i].user_id, "u1");
        snprintf(f[i].task_name, sizeof f[i].task_name, "name-%s", task);
        snprintf(f[i].file_name, sizeof f[i].file_name, "f%04d", i);
        memset(f[i].file_path, 'p', path_pad < sizeof f[i].file_path ? path_pad : 1);
        f[i].file_size = base + (uint64_t)i;
        f[i].submitted_at = 100;
    }
    int rc = meta_files_put(m, f, (size_t)n, NULL, 0);
    free(f);
    return rc;
}

static int put_files(meta *m, const char *task, int n, size_t path_pad) { return put_files_at(m, task, n, path_pad, 0); }

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
        only_journal();
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
        uint64_t end;
        journal_report jr;
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
        T_EQ_INT(journal_replay(path_of("journal"), 0, NULL, NULL, &jr, err, sizeof err), META_E_CORRUPT);
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
    meta_compact_wait(m);   /* compactions run on their own thread */
    snprintf(want, sizeof want, "%s", dump(m));
    T_CHECK(size_of(path_of("snapshot")) > 0);
    /* Past compact_bytes and an eighth of the snapshot (meta_journal.c). */
    off_t floor = size_of(path_of("snapshot")) / 8 > 2048 ? size_of(path_of("snapshot")) / 8 : 2048;
    T_CHECK(size_of(path_of("journal")) < floor + 1024);
    meta_close(m);
    m = reopen(2048, NULL);
    T_EQ_STR(dump(m), want);
    meta_close(m);
    rm_flat(dir);
}

/* Compaction runs on its own thread: while it is held between its capture
 * and its writing (the hook), changes and finds go on (the store lock is
 * free); what changed meanwhile (tasks replaced, files added to a captured
 * task, a captured task's files deleted, new tasks, workers) is all there
 * after it ends and after a restart. A hang here is the lock held: alarm. */
static int hook_go[2] = { -1, -1 }, hook_started[2] = { -1, -1 };

static void hold_compaction(void)
{
    char c = 1;
    if (write(hook_started[1], &c, 1) != 1) return;
    if (read(hook_go[0], &c, 1) != 1) return;
}

static void test_background_compaction(void)
{
    static char want[sizeof dumpbuf];
    char c;
    T_CHECK(new_dir() == 0);
    T_CHECK(pipe(hook_go) == 0 && pipe(hook_started) == 0);
    alarm(120);
    meta_journal_compact_hook = hold_compaction;
    meta *m = populated(2048);   /* its writes went on past the first held compaction */
    T_CHECK(m != NULL);
    if (!m) goto out;
    T_CHECK(read(hook_started[0], &c, 1) == 1);
    T_EQ_INT(put_task(m, "t01", 990, PROTO_ST_COMPLETED), 0);        /* captured, replaced */
    T_EQ_INT(put_files_at(m, "t00", 7, 1, 5000), 0);                 /* a captured group: 5 replaced, 2 added */
    T_EQ_INT(meta_files_delete(m, "t12", NULL, 0), 0);                /* a captured group deleted */
    T_EQ_INT(put_files_at(m, "t12", 3, 1, 7000), 0);                 /* and a new one in its place */
    T_EQ_INT(put_task(m, "new1", 5, PROTO_ST_RUNNING), 0);
    T_EQ_INT(put_files_at(m, "new1", 4, 1, 9000), 0);
    T_EQ_INT(put_worker(m, "w3", "ready"), 0);
    for (int i = 0; i < 200; i++) {                                  /* a tail bigger than one read */
        char id[16];
        snprintf(id, sizeof id, "x%03d", i);
        T_EQ_INT(put_task(m, id, 2000 + (uint64_t)i, PROTO_ST_QUEUED), 0);
    }
    snprintf(want, sizeof want, "%s", dump(m));
    T_CHECK(strstr(want, "new1") != NULL);
    c = 1;
    T_CHECK(write(hook_go[1], &c, 1) == 1);
    meta_compact_wait(m);
    meta_journal_compact_hook = NULL;
    T_EQ_STR(dump(m), want);
    T_EQ_INT(size_of(path_of("journal")), 16);          /* all in the snapshot */
    meta_close(m);
    /* A restart from its index, then from the snapshot itself (its tail:
     * the records of the changes made meanwhile, a files_del among them). */
    m = reopen(0, NULL);
    T_EQ_STR(dump(m), want);
    meta_close(m);
    T_EQ_INT(unlink(path_of("snapshot.idx")), 0);
    m = reopen(0, NULL);
    T_EQ_STR(dump(m), want);
    /* The next compaction (synchronous) starts from what this one left. */
    T_EQ_INT(meta_compact(m, NULL, 0), 0);
    T_EQ_STR(dump(m), want);
    meta_close(m);
    m = reopen(0, NULL);
    T_EQ_STR(dump(m), want);
    meta_close(m);
    /* Stopped by a close while held: the half-written snapshot goes, the
     * state stays. */
    meta_journal_compact_hook = hold_compaction;
    m = reopen(64, NULL);
    T_CHECK(m != NULL);
    if (!m) goto out;
    for (int i = 0; i < 40; i++) put_task(m, "y", 3000 + (uint64_t)i, PROTO_ST_QUEUED);
    T_CHECK(read(hook_started[0], &c, 1) == 1);
    snprintf(want, sizeof want, "%s", dump(m));
    c = 1;
    T_CHECK(write(hook_go[1], &c, 1) == 1);
    meta_close(m);
    meta_journal_compact_hook = NULL;
    T_EQ_INT(count_prefix("snapshot.tmp"), 0);
    m = reopen(0, NULL);
    T_EQ_STR(dump(m), want);
    meta_close(m);
out:
    meta_journal_compact_hook = NULL;
    alarm(0);
    for (int i = 0; i < 2; i++) {
        close(hook_go[i]);
        close(hook_started[i]);
    }
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

    /* A corrupt snapshot with no generation before it (this store was
     * compacted once): what is intact of it is kept, the damaged file is
     * kept aside, a clean snapshot replaces it. */
    size_t slen = 0;
    uint8_t *s = slurp(path_of("snapshot"), &slen);
    T_CHECK(s && slen > 40);
    if (s && slen > 40) {
        meta_open_report rep;
        memset(&rep, 0, sizeof rep);
        s[slen - 10] ^= 0x20;       /* inside the last record: the worker w2 */
        unlink(path_of("snapshot.prev"));
        T_CHECK(spit(path_of("snapshot"), s, slen) == 0);
        m = meta_open_journal_ex(dir, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
        T_CHECK(m != NULL);
        T_EQ_INT(rep.damaged, 1);
        T_CHECK(strstr(rep.text, "snapshot: DAMAGED") && strstr(rep.text, "salvaged"));
        const char *d = dump(m);
        T_CHECK(strstr(d, "Tt39:5:610") && strstr(d, "Ft08/f0004"));
        T_EQ_INT(count_prefix("snapshot.damaged-"), 1);
        T_EQ_INT(count_prefix("damage.log"), 1);
        meta_close(m);
        memset(&rep, 0, sizeof rep);
        m = meta_open_journal_ex(dir, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
        T_CHECK(m && rep.damaged == 0 && rep.text[0] == 0);     /* clean from then on */
        meta_close(m);
    }
    free(s);
    rm_flat(dir);
}


/* Offsets of every record of a journal file (framing as journal.h). */
static size_t record_offsets(const uint8_t *b, size_t len, size_t *off, size_t max)
{
    size_t n = 0;
    for (size_t o = JOURNAL_HDR_SIZE; o + 8 <= len && n < max;) {
        uint32_t l = (uint32_t)b[o] | (uint32_t)b[o + 1] << 8 | (uint32_t)b[o + 2] << 16 | (uint32_t)b[o + 3] << 24;
        off[n++] = o;
        o += 8 + l;
    }
    return n;
}

static int count_sub(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
    return n;
}

/* One flipped byte in the middle of the journal costs that record only:
 * every intact record after it is kept, the damaged file is kept aside
 * byte for byte, the report names the offsets, and the store is clean
 * afterwards. Each byte of a middle record, and each of its header. */
static void test_mid_journal_damage(void)
{
    size_t len = 0, off[64];
    char err[256] = "";
    T_CHECK(new_dir() == 0);
    meta *m = reopen(0, NULL);
    T_CHECK(m != NULL);
    if (!m) return;
    for (int i = 0; i < 12; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%02d", i);
        put_task(m, id, 100 + (uint64_t)i, PROTO_ST_COMPLETED);
    }
    meta_close(m);
    uint8_t *full = slurp(path_of("journal"), &len);
    size_t n = full ? record_offsets(full, len, off, 64) : 0;
    T_EQ_INT(n, 12);
    if (n != 12) { free(full); rm_flat(dir); return; }
    int bad = 0;
    /* Record 5 (task m05): every byte. */
    for (size_t at = off[5]; at < off[6] && !bad; at++) {
        meta_open_report rep;
        memset(&rep, 0, sizeof rep);
        full[at] ^= 0x10;
        only_journal();
        T_CHECK(spit(path_of("journal"), full, len) == 0);
        m = meta_open_journal_ex(dir, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
        if (!m) { bad = 1; printf("#   open: %s\n", err); full[at] ^= 0x10; break; }
        const char *d = dump(m);
        int tasks = count_sub(d, ":5:");
        char where[64];
        snprintf(where, sizeof where, "offset %zu..%zu", off[5], off[6]);
        if (tasks != 11 || strstr(d, "Tm05") || !strstr(d, "Tm11") || !strstr(d, "Tm06")) bad = 2;
        else if (!rep.damaged || rep.dropped || !strstr(rep.text, where) || !strstr(rep.text, "kept as")) bad = 3;
        else if (count_prefix("journal.damaged-") != 1 || count_prefix("snapshot") - count_prefix("snapshot.idx") != 1) bad = 4;
        meta_close(m);
        /* The copy aside is the damaged file itself. */
        if (!bad) {
            DIR *dp = opendir(dir);
            struct dirent *e;
            while (dp && (e = readdir(dp)))
                if (!strncmp(e->d_name, "journal.damaged-", 16)) {
                    size_t cl = 0;
                    uint8_t *c = slurp(path_of(e->d_name), &cl);
                    if (!c || cl != len || memcmp(c, full, len)) bad = 5;
                    free(c);
                }
            if (dp) closedir(dp);
        }
        full[at] ^= 0x10;
        if (!bad) {
            memset(&rep, 0, sizeof rep);
            m = meta_open_journal_ex(dir, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
            if (!m || rep.damaged || count_sub(dump(m), ":5:") != 11) bad = 6;
            meta_close(m);
        }
        if (bad) printf("#   flip at %zu: failure %d; report:\n%s", at, bad, rep.text);
    }
    T_EQ_INT(bad, 0);

    /* Two damaged records far apart, and a damaged last record: each is
     * told apart (the tail as damaged, not torn) and the rest is kept. */
    full[off[2] + 20] ^= 0xff;
    full[off[8] + 3] ^= 0x40;           /* a length field */
    full[len - 5] ^= 0x01;
    only_journal();
    T_CHECK(spit(path_of("journal"), full, len) == 0);
    meta_open_report rep;
    memset(&rep, 0, sizeof rep);
    m = meta_open_journal_ex(dir, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
    T_CHECK(m != NULL);
    const char *d = dump(m);
    T_EQ_INT(count_sub(d, ":5:"), 9);
    T_CHECK(!strstr(d, "Tm02") && !strstr(d, "Tm08") && !strstr(d, "Tm11") && strstr(d, "Tm10"));
    T_CHECK(strstr(rep.text, "3 damaged stretch(es)") && strstr(rep.text, "then a damaged tail"));
    T_EQ_INT(rep.dropped, len - off[11]);
    meta_close(m);
    free(full);
    rm_flat(dir);
}

/* Two compactions, then more changes: snapshot 2 + journal 2, with
 * snapshot.prev 1 + journal.prev 1 beside them. */
static meta *two_generations(char *want, size_t cap)
{
    char err[256];
    meta *m = populated(0);
    if (!m) return NULL;
    T_EQ_INT(meta_compact(m, err, sizeof err), 0);
    put_task(m, "g1", 2000, PROTO_ST_COMPLETED);
    put_files(m, "g1", 3, 20);
    T_EQ_INT(meta_compact(m, err, sizeof err), 0);
    put_task(m, "g2", 3000, PROTO_ST_COMPLETED);
    put_files(m, "g2", 2, 20);
    snprintf(want, cap, "%s", dump(m));
    return m;
}

static void test_snapshot_fallback(void)
{
    char want[sizeof dumpbuf], err[256] = "";
    size_t slen = 0;
    meta_open_report rep;
    T_CHECK(new_dir() == 0);
    meta *m = two_generations(want, sizeof want);
    T_CHECK(m != NULL);
    if (!m) return;
    meta_close(m);
    uint32_t g = 0;
    uint64_t sz = 0;
    T_EQ_INT(journal_header(path_of("snapshot.prev"), &g, &sz, err, sizeof err), 0);
    T_EQ_INT(g, 1);
    T_EQ_INT(journal_header(path_of("journal.prev"), &g, &sz, err, sizeof err), 0);
    T_EQ_INT(g, 1);

    /* A damaged snapshot: snapshot.prev + journal.prev + journal give
     * back the whole state. */
    uint8_t *s = slurp(path_of("snapshot"), &slen);
    T_CHECK(s && slen > 100);
    if (!s || slen <= 100) { free(s); rm_flat(dir); return; }
    s[slen / 2] ^= 0x04;
    T_CHECK(spit(path_of("snapshot"), s, slen) == 0);
    memset(&rep, 0, sizeof rep);
    m = meta_open_journal_ex(dir, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
    T_CHECK(m != NULL);
    T_EQ_STR(dump(m), want);
    T_CHECK(rep.damaged && strstr(rep.text, "snapshot: DAMAGED") && strstr(rep.text, "falling back to snapshot.prev"));
    T_EQ_INT(count_prefix("snapshot.damaged-"), 1);
    meta_close(m);
    memset(&rep, 0, sizeof rep);
    m = meta_open_journal_ex(dir, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
    T_EQ_STR(dump(m), want);
    T_EQ_INT(rep.damaged, 0);
    meta_close(m);

    /* A deleted snapshot: the same fallback. */
    T_EQ_INT(meta_compact(m = reopen(0, NULL), err, sizeof err), 0);
    meta_close(m);
    T_EQ_INT(unlink(path_of("snapshot")), 0);
    memset(&rep, 0, sizeof rep);
    m = meta_open_journal_ex(dir, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
    T_EQ_STR(dump(m), want);
    T_CHECK(rep.damaged && strstr(rep.text, "snapshot: MISSING") && strstr(rep.text, "falling back"));
    meta_close(m);
    free(s);
    rm_flat(dir);
}

/* A deleted journal and a generation gap are reported, never silent. */
static void test_missing_journal_and_gap(void)
{
    char want[sizeof dumpbuf], snap_state[sizeof dumpbuf], err[256] = "";
    meta_open_report rep;
    T_CHECK(new_dir() == 0);
    meta *m = populated(0);
    T_CHECK(m != NULL);
    if (!m) return;
    T_EQ_INT(meta_compact(m, err, sizeof err), 0);
    snprintf(snap_state, sizeof snap_state, "%s", dump(m));
    put_task(m, "late", 5000, PROTO_ST_COMPLETED);
    snprintf(want, sizeof want, "%s", dump(m));
    meta_close(m);
    T_EQ_INT(unlink(path_of("journal")), 0);
    memset(&rep, 0, sizeof rep);
    m = meta_open_journal_ex(dir, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
    T_CHECK(m != NULL);
    T_EQ_STR(dump(m), snap_state);      /* the snapshot's state: "late" went with the journal */
    T_CHECK(rep.damaged && strstr(rep.text, "journal: MISSING"));
    T_EQ_INT(count_prefix("damage.log"), 1);
    meta_close(m);

    /* A journal of a later generation than the snapshot. */
    journal *j = NULL;
    T_EQ_INT(journal_create(path_of("journal"), 7, &j, err, sizeof err), 0);
    journal_close(j);
    memset(&rep, 0, sizeof rep);
    m = meta_open_journal_ex(dir, 0, META_OPEN_NORMAL, &rep, err, sizeof err);
    T_CHECK(m != NULL);
    T_CHECK(rep.damaged && strstr(rep.text, "GAP") && strstr(rep.text, "generations 1..6"));
    meta_close(m);
    rm_flat(dir);
}

/* --check changes nothing, whatever it finds; --repair salvages a journal
 * whose file header is damaged, which a normal start refuses. */
static void test_check_and_repair_modes(void)
{
    char err[256] = "";
    size_t len = 0, len2 = 0;
    meta_open_report rep;
    T_CHECK(new_dir() == 0);
    meta *m = reopen(0, NULL);
    T_CHECK(m != NULL);
    if (!m) return;
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof id, "c%d", i);
        put_task(m, id, 10 + (uint64_t)i, PROTO_ST_COMPLETED);
    }
    meta_close(m);
    uint8_t *b = slurp(path_of("journal"), &len);
    T_CHECK(b && len > 200);
    if (!b || len <= 200) { free(b); rm_flat(dir); return; }
    b[len / 2] ^= 0x01;
    b[len - 3] = 0x77;
    T_CHECK(spit(path_of("journal"), b, len) == 0);
    memset(&rep, 0, sizeof rep);
    m = meta_open_journal_ex(dir, 0, META_OPEN_CHECK, &rep, err, sizeof err);
    T_CHECK(m != NULL);
    T_EQ_INT(count_sub(dump(m), ":5:"), 4);
    T_CHECK(rep.damaged && strstr(rep.text, "would be cut") == NULL && strstr(rep.text, "2 damaged stretch(es)"));
    meta_close(m);
    uint8_t *b2 = slurp(path_of("journal"), &len2);
    T_CHECK(b2 && len2 == len && memcmp(b, b2, len) == 0);       /* untouched */
    T_EQ_INT(count_prefix(""), 3);                                /* ".", "..", journal */
    free(b2);

    /* A bad file header: refused by a normal start, salvaged by repair. */
    free(b);
    rm_flat(dir);
    T_CHECK(new_dir() == 0);
    m = reopen(0, NULL);
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        put_task(m, id, 10 + (uint64_t)i, PROTO_ST_COMPLETED);
    }
    meta_close(m);
    b = slurp(path_of("journal"), &len);
    T_CHECK(b != NULL);
    if (b) {
        b[0] = 'X';
        T_CHECK(spit(path_of("journal"), b, len) == 0);
    }
    T_CHECK(meta_open_journal_ex(dir, 0, META_OPEN_NORMAL, &rep, err, sizeof err) == NULL);
    T_CHECK(strstr(err, "--repair") != NULL);
    memset(&rep, 0, sizeof rep);
    m = meta_open_journal_ex(dir, 0, META_OPEN_REPAIR, &rep, err, sizeof err);
    T_CHECK(m != NULL);
    T_EQ_INT(count_sub(dump(m), ":5:"), 6);
    T_EQ_INT(count_prefix("journal.damaged-"), 1);
    meta_close(m);
    m = reopen(0, NULL);
    T_EQ_INT(count_sub(dump(m), ":5:"), 6);
    meta_close(m);
    free(b);
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
    T_RUN(test_background_compaction);
    T_RUN(test_crash_around_compaction);
    T_RUN(test_mid_journal_damage);
    T_RUN(test_snapshot_fallback);
    T_RUN(test_missing_journal_and_gap);
    T_RUN(test_check_and_repair_modes);
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
