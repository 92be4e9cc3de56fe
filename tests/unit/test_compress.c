/* test_compress.c — packing runs on the disk (src/master/compress.c)
 * with a fake clock: which runs are due (global age, compress.GLOB rules,
 * unfinished runs never), what is packed (text) and what is not (small,
 * random, a file that no longer matches its record), the archive of a
 * packed run byte for byte the archive of the unpacked one (tar.c reads
 * packed files), a second sweep packs nothing more and counts the same
 * saving (settled runs from memory, a removed one no longer), and
 * nothing is left in .staging. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fsutil.h"
#include "hash.h"
#include "master/compress.h"
#include "master/store.h"
#include "tar.h"
#include "t.h"

#define DAY (86400ull * 1000ull)
#define T0 (1700000000000ull)

static char root[256];
static config cfg;
static meta *m;

static void setup(void)
{
    char err[256];
    snprintf(root, sizeof root, "/tmp/test_compress.XXXXXX");
    if (!mkdtemp(root)) abort();
    config_defaults(&cfg);
    snprintf(cfg.files_dir, sizeof cfg.files_dir, "%s/files", root);
    snprintf(cfg.meta_dir, sizeof cfg.meta_dir, "%s/meta", root);
    fsutil_mkdir_p(cfg.files_dir, 0755);
    fsutil_mkdir_p(cfg.meta_dir, 0700);
    if (store_init(&cfg, err, sizeof err) < 0) { printf("# %s\n", err); abort(); }
    uint64_t dropped = 0;
    m = meta_open_journal(cfg.meta_dir, 0, &dropped, err, sizeof err);
    if (!m) { printf("# %s\n", err); abort(); }
}

static void teardown(void)
{
    meta_close(m);
    fsutil_rm_rf(root);
}

static uint32_t rng = 99;
static uint32_t rnd(void) { rng = rng * 1103515245u + 12345u; return rng >> 8; }

/* One file of a run, on disk and as a record. kind: 't' text, 'r' random. */
static void add_file(const task_rec *r, const char *dir, const char *name, size_t n, char kind)
{
    char path[4096], err[256];
    uint8_t *data = malloc(n ? n : 1);
    file_rec *f = calloc(1, sizeof *f);
    for (size_t i = 0; i < n; i++)
        data[i] = kind == 'r' ? (uint8_t)rnd() : (uint8_t)("line of text 0123\n"[i % 18]);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *slash = strrchr(path, '/');
    *slash = 0;
    fsutil_mkdir_p(path, 0755);
    *slash = '/';
    T_EQ_INT(fsutil_write_atomic(path, data, n), 0);
    chmod(path, 0640);
    store_file_rec(r, dir, name, f);
    f->file_size = n;
    hash_sha256_buf(data, n, f->sha256);
    f->mode = 0640;
    T_CHECK(meta_files_put(m, f, 1, err, sizeof err) == 0);
    free(f);
    free(data);
}

static void add_run(task_rec *r, const char *id, const char *name, uint64_t done, int status)
{
    char err[256];
    task_rec_init(r);
    snprintf(r->task_id, sizeof r->task_id, "%s", id);
    snprintf(r->user_id, sizeof r->user_id, "alice");
    snprintf(r->task_name, sizeof r->task_name, "%s", name);
    snprintf(r->docker_image, sizeof r->docker_image, "img");
    r->submitted_at = r->created_at = done - 1000;
    r->completed_at = status == PROTO_ST_COMPLETED ? done : 0;
    r->status = status;
    r->output_files = 1;
    T_CHECK(meta_task_put(m, r, err, sizeof err) == 0);
}

typedef struct buf { uint8_t *p; size_t n, cap; } buf;

static int to_buf(void *ctx, const uint8_t *p, size_t n)
{
    buf *b = ctx;
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

static int mode_of(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static void test_sweep(void)
{
    task_rec a, young, rawn, running;
    char dir[2048], ydir[2048], rdir[2048], err[512];
    buf before = {0}, after = {0};
    tar_stats s1, s2;
    setup();
    if (config_override(&cfg, "retention.compress_after_days=30", err, sizeof err) != 0 ||
        config_override(&cfg, "retention.compress.raw-*=0", err, sizeof err) != 0) {
        printf("# %s\n", err);
        T_CHECK(0);
    }
    add_run(&a, "task-a", "exp", T0, PROTO_ST_COMPLETED);
    store_run_dir(&cfg, &a, dir, sizeof dir);
    add_file(&a, dir, "big.txt", 1000000, 't');
    add_file(&a, dir, "d/e/mid.txt", 300000, 't');
    add_file(&a, dir, "rand.bin", 200000, 'r');
    add_file(&a, dir, "tiny.txt", 100, 't');
    add_file(&a, dir, "changed.txt", 50000, 't');
    char cp[4200];
    snprintf(cp, sizeof cp, "%s/changed.txt", dir);
    int fd = open(cp, O_WRONLY);
    T_CHECK(fd >= 0 && pwrite(fd, "X", 1, 10) == 1);     /* no longer its record */
    close(fd);
    add_run(&young, "task-young", "exp", T0 + 20 * DAY, PROTO_ST_COMPLETED);
    store_run_dir(&cfg, &young, ydir, sizeof ydir);
    add_file(&young, ydir, "y.txt", 100000, 't');
    add_run(&rawn, "task-raw", "raw-1", T0, PROTO_ST_COMPLETED);
    store_run_dir(&cfg, &rawn, rdir, sizeof rdir);
    add_file(&rawn, rdir, "r.txt", 100000, 't');
    add_run(&running, "task-run", "exp", T0, PROTO_ST_RUNNING);

    T_EQ_INT(compress_days(&cfg, &a), 30);
    T_EQ_INT(compress_days(&cfg, &rawn), 0);
    /* Old mtimes (as extraction leaves them): packing must not touch
     * them, or the run's archive would change. */
    static const char *const old[] = { "", "/d", "/d/e", "/big.txt", "/d/e/mid.txt" };
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++) {
        char p[4200];
        struct timespec ts[2] = { { 1000000, 0 }, { 1000000, 0 } };
        snprintf(p, sizeof p, "%s%s", dir, old[i]);
        T_EQ_INT(utimensat(AT_FDCWD, p, ts, 0), 0);
    }
    T_EQ_INT(tar_write_tree(dir, NULL, "x", 1, to_buf, &before, &s1, err, sizeof err), 0);

    /* 31 days on: a is due, young (20 days younger) is not, raw-* never. */
    T_EQ_INT(compress_sweep(&cfg, m, T0 + 31 * DAY, err, sizeof err), 2);
    T_EQ_STR(err, "");
    T_EQ_INT(mode_of(dir, "big.txt"), 01640);
    T_EQ_INT(mode_of(dir, "d/e/mid.txt"), 01640);
    T_EQ_INT(mode_of(dir, "rand.bin"), 0640);
    T_EQ_INT(mode_of(dir, "tiny.txt"), 0640);
    T_EQ_INT(mode_of(dir, "changed.txt"), 0640);
    T_EQ_INT(mode_of(ydir, "y.txt"), 0640);
    T_EQ_INT(mode_of(rdir, "r.txt"), 0640);
    compress_stats st;
    compress_last(&st);
    T_EQ_INT(st.runs, 1);
    T_EQ_INT(st.files_packed, 2);
    T_EQ_INT(st.packed_now, 2);
    T_EQ_INT(st.skipped, 3);
    T_EQ_INT(st.bytes_original, 1300000);
    T_CHECK(st.bytes_stored > 0 && st.bytes_stored < 100000);

    /* The archive of the packed run is the archive of the run. */
    T_EQ_INT(tar_measure_tree(dir, NULL, "x", 1, &s2, err, sizeof err), 0);
    T_EQ_INT(s2.archive_bytes, s1.archive_bytes);
    T_EQ_INT(tar_write_tree(dir, NULL, "x", 1, to_buf, &after, &s2, err, sizeof err), 0);
    T_CHECK(before.n == after.n && !memcmp(before.p, after.p, before.n));
    after.n = 0;
    T_EQ_INT(tar_write_tree(dir, "d/e/mid.txt", NULL, 1, to_buf, &after, &s2, err, sizeof err), 0);
    T_EQ_INT(s2.data_bytes, 300000);

    /* Again, later: nothing more to pack, the same saving counted, and
     * the young run's turn has come. */
    T_EQ_INT(compress_sweep(&cfg, m, T0 + 52 * DAY, err, sizeof err), 1);
    compress_last(&st);
    T_EQ_INT(st.files_packed, 3);
    T_EQ_INT(st.packed_now, 1);
    T_EQ_INT(st.bytes_original, 1400000);
    T_EQ_INT(st.skipped, 3);
    /* A settled run counts from memory: a file gone behind the sweep's
     * back (a full pass would fail on it) is not looked for again
     * (nothing changes a finished run but the store itself), while a
     * removed run drops out. */
    char bp[4200];
    snprintf(bp, sizeof bp, "%s/rand.bin", dir);
    T_EQ_INT(unlink(bp), 0);
    T_EQ_INT(compress_sweep(&cfg, m, T0 + 53 * DAY, err, sizeof err), 0);
    T_EQ_STR(err, "");
    compress_last(&st);
    T_EQ_INT(st.files_packed, 3);
    T_EQ_INT(st.runs, 2);
    T_EQ_INT(fsutil_rm_rf(ydir), 0);
    T_EQ_INT(compress_sweep(&cfg, m, T0 + 54 * DAY, err, sizeof err), 0);
    compress_last(&st);
    T_EQ_INT(st.runs, 1);
    T_EQ_INT(st.files_packed, 2);
    T_EQ_INT(st.bytes_original, 1300000);

    char staging[2048];
    store_staging_root(&cfg, staging, sizeof staging);
    T_EQ_INT(rmdir(staging), 0);          /* only an empty directory goes */
    task_rec_free(&a);
    task_rec_free(&young);
    task_rec_free(&rawn);
    task_rec_free(&running);
    free(before.p);
    free(after.p);
    compress_forget();
    teardown();
}

static void test_off(void)
{
    task_rec a;
    char dir[2048], err[512];
    setup();
    add_run(&a, "task-a", "exp", T0, PROTO_ST_COMPLETED);
    store_run_dir(&cfg, &a, dir, sizeof dir);
    add_file(&a, dir, "big.txt", 100000, 't');
    T_EQ_INT(compress_sweep(&cfg, m, T0 + 1000 * DAY, err, sizeof err), 0);   /* off by default */
    T_EQ_INT(mode_of(dir, "big.txt"), 0640);
    task_rec_free(&a);
    teardown();
}

int main(void)
{
    T_RUN(test_sweep);
    T_RUN(test_off);
    return T_DONE();
}
