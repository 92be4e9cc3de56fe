/* test_tar.c — ustar writer and reader: round trips under every slicing,
 * long names (prefix split, pax, GNU), big sizes, checksums, limits,
 * truncation, files changing while archived, determinism. */
#define _GNU_SOURCE 1   /* memmem */
#include "tar.h"
#include "t.h"
#include "tarfix.h"

#include <errno.h>
#include <inttypes.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include "fsutil.h"

/* ---- a reader that records what it sees */
#define MAXE 64
typedef struct seen {
    int n;
    char name[MAXE][5001];
    char link[MAXE][5001];
    char type[MAXE];
    uint32_t mode[MAXE];
    uint64_t size[MAXE], got[MAXE];
    uint32_t sum[MAXE];     /* cheap content checksum */
    int ends;
    int stop_at;            /* entry index whose callback fails, or -1 */
} seen;

static int s_entry(void *ctx, const tar_entry *e)
{
    seen *s = ctx;
    if (s->n >= MAXE) return -100;
    if (s->stop_at == s->n) return -42;
    snprintf(s->name[s->n], sizeof s->name[0], "%s", e->name);
    snprintf(s->link[s->n], sizeof s->link[0], "%s", e->linkname);
    s->type[s->n] = e->type;
    s->mode[s->n] = e->mode;
    s->size[s->n] = e->size;
    s->got[s->n] = 0;
    s->sum[s->n] = 0;
    s->n++;
    return 0;
}

static int s_data(void *ctx, const uint8_t *p, size_t n)
{
    seen *s = ctx;
    for (size_t i = 0; i < n; i++)
        s->sum[s->n - 1] = s->sum[s->n - 1] * 31 + p[i];
    s->got[s->n - 1] += n;
    return 0;
}

static int s_end(void *ctx, const tar_entry *e)
{
    seen *s = ctx;
    s->ends++;
    return s->got[s->n - 1] == e->size ? 0 : -101;
}

static const tar_reader_ops sops = { s_entry, s_data, s_end, NULL };

/* Feeds buf in slices: step 0 = random sizes, else fixed step. */
static int read_all(const uint8_t *p, size_t n, size_t step, seen *s, size_t max_path, int *finish_rc)
{
    memset(s, 0, sizeof *s);
    s->stop_at = -1;
    tar_reader *r = tar_reader_new(&sops, s, max_path);
    int rc = 0;
    unsigned seed = 7;
    for (size_t off = 0; off < n && rc == 0; ) {
        size_t k = step;
        if (!k) { seed = seed * 1103515245u + 12345u; k = 1 + (seed >> 8) % 3000; }
        if (k > n - off) k = n - off;
        rc = tar_reader_feed(r, p + off, k);
        off += k;
    }
    *finish_rc = rc == 0 ? tar_reader_finish(r) : rc;
    tar_reader_free(r);
    return rc;
}

static int to_tbuf(void *ctx, const uint8_t *p, size_t n)
{
    tb_put(ctx, p, n);
    return 0;
}

static char tmp[64];

static void mkfile(const char *rel, const char *content, unsigned mode)
{
    char path[TAR_PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) { printf("#   create %s: %s\n", rel, strerror(errno)); return; }
    if (write(fd, content, strlen(content)) < 0) printf("#   write failed\n");
    fchmod(fd, mode);
    close(fd);
}

static void mkdir_rel(const char *rel)
{
    char path[TAR_PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    mkdir(path, 0755);
}

static int find(const seen *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->name[i], name)) return i;
    return -1;
}

static uint32_t sum_of(const char *c)
{
    uint32_t v = 0;
    for (; *c; c++) v = v * 31 + (uint8_t)*c;
    return v;
}

/* A path of exactly len bytes under dir "L/", built from components of
 * at most 200 bytes so the filesystem accepts it. */
static void long_path(char *out, size_t len, char fill)
{
    size_t i = 0;
    out[i++] = 'L';
    while (i < len) {
        out[i++] = '/';
        size_t comp = len - i > 200 ? 200 : len - i;
        if (len - i - comp == 1) comp--;   /* never end on a lone '/' */
        for (size_t k = 0; k < comp; k++) out[i++] = fill;
    }
    out[len] = 0;
}

static void mkparents(const char *rel)
{
    char p[TAR_PATH_MAX + 1];
    snprintf(p, sizeof p, "%s", rel);
    for (char *c = p; (c = strchr(c, '/')); c++) {
        *c = 0;
        mkdir_rel(p);
        *c = '/';
    }
}

static void test_roundtrip_slicing(void)
{
    static const size_t lens[] = { 99, 100, 101, 256, 300, 4000 };
    char names[8][TAR_PATH_MAX + 1];
    snprintf(tmp, sizeof tmp, "/tmp/t_tar_XXXXXX");
    T_CHECK(mkdtemp(tmp) != NULL);
    mkdir_rel("d");
    mkdir_rel("d/e");
    mkfile("d/e/f.txt", "hello", 0640);
    mkfile("empty", "", 0600);
    mkfile("exe", "#!/bin/sh\n", 04755);
    mkfile("skipme", "x", 0644);
    char target[200];
    memset(target, 't', 150);
    target[150] = 0;
    char lp[300];
    snprintf(lp, sizeof lp, "%s/link_long", tmp);
    T_EQ_INT(symlink(target, lp), 0);
    snprintf(lp, sizeof lp, "%s/link", tmp);
    T_EQ_INT(symlink("d/e/f.txt", lp), 0);
    for (int i = 0; i < 6; i++) {
        long_path(names[i], lens[i], (char)('a' + i));
        mkparents(names[i]);
        mkfile(names[i], names[i], 0644);
    }
    /* 155-byte prefix + 100-byte name: the largest ustar split. */
    memset(names[6], 'p', 155);
    names[6][155] = '/';
    memset(names[6] + 156, 'n', 100);
    names[6][256 - 1] = 0;  /* 155 + 1 + 99 */
    mkparents(names[6]);
    mkfile(names[6], "split", 0644);

    tbuf a = { 0 }, b = { 0 };
    tar_stats st, ms;
    char err[256];
    T_EQ_INT(tar_write_dir(tmp, "skipme", to_tbuf, &a, &st, err, sizeof err), 0);
    T_EQ_INT(tar_measure_dir(tmp, "skipme", &ms, err, sizeof err), 0);
    T_EQ_INT(ms.archive_bytes, a.len);
    T_EQ_INT(st.archive_bytes, a.len);
    T_EQ_INT(st.files, 10);
    T_EQ_INT(st.symlinks, 2);
    T_EQ_INT(ms.files, st.files);
    T_EQ_INT(ms.dirs, st.dirs);
    T_EQ_INT(a.len % 512, 0);
    T_EQ_INT(tar_write_dir(tmp, "skipme", to_tbuf, &b, NULL, err, sizeof err), 0);
    T_CHECK(a.len == b.len && !memcmp(a.p, b.p, a.len));   /* deterministic */

    static const size_t steps[] = { 1, 0, 511, 512, 513, 1 << 20 };
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
        seen *s = calloc(1, sizeof *s);
        int frc;
        T_EQ_INT(read_all(a.p, a.len, steps[k], s, 0, &frc), 0);
        T_EQ_INT(frc, 0);
        T_EQ_INT(s->ends, s->n);
        T_EQ_INT(s->n, (int)(st.files + st.dirs + st.symlinks));
        int i = find(s, "d/e/f.txt");
        T_CHECK(i >= 0 && s->type[i] == '0' && s->mode[i] == 0640 && s->size[i] == 5 &&
                s->sum[i] == sum_of("hello"));
        i = find(s, "exe");
        T_CHECK(i >= 0 && s->mode[i] == 04755);
        i = find(s, "d");
        T_CHECK(i >= 0 && s->type[i] == '5');
        T_CHECK(find(s, "d") < find(s, "d/e") && find(s, "d/e") < find(s, "d/e/f.txt"));
        T_CHECK(find(s, "skipme") < 0);
        i = find(s, "link");
        T_CHECK(i >= 0 && s->type[i] == '2' && !strcmp(s->link[i], "d/e/f.txt"));
        i = find(s, "link_long");
        T_CHECK(i >= 0 && s->type[i] == '2' && !strcmp(s->link[i], target));
        for (int j = 0; j < 7; j++) {
            i = find(s, names[j]);
            T_CHECK(i >= 0 && s->type[i] == '0');
            if (i >= 0 && j < 6) T_EQ_INT(s->sum[i], sum_of(names[j]));
        }
        free(s);
    }
    /* Entries are sorted: names strictly increasing per directory. */
    tb_free(&a);
    tb_free(&b);
    tf_rm_rf(tmp);
}

/* atime of tmp/rel, after setting it far below its mtime (as a freshly
 * written file has it, so relatime updates it on the next read). */
static void age_atime(const char *rel)
{
    char path[TAR_PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    struct timespec ts[2] = { { 1000, 0 }, { 0, UTIME_NOW } };
    if (utimensat(AT_FDCWD, path, ts, 0) < 0) printf("#   utimensat %s: %s\n", rel, strerror(errno));
}
static time_t atime_of(const char *rel)
{
    char path[TAR_PATH_MAX + 80];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    return stat(path, &st) == 0 ? st.st_atim.tv_sec : -1;
}

/* The walker reads files and directories without touching their access
 * times (O_NOATIME), where the filesystem would otherwise update them:
 * checked against a plain read of a control file, which must update. */
static void test_noatime(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/t_tar_XXXXXX");
    T_CHECK(mkdtemp(tmp) != NULL);
    mkdir_rel("w");
    mkdir_rel("w/d");
    mkfile("w/f", "content", 0644);
    mkfile("w/d/g", "more", 0644);
    mkfile("control", "c", 0644);
    age_atime("w/f");
    age_atime("w/d/g");
    age_atime("w/d");
    age_atime("control");
    char path[TAR_PATH_MAX + 80], c;
    snprintf(path, sizeof path, "%s/control", tmp);
    int fd = open(path, O_RDONLY);
    T_CHECK(fd >= 0 && read(fd, &c, 1) == 1);
    if (fd >= 0) close(fd);
    if (atime_of("control") == 1000) {
        printf("#   this filesystem keeps access times as they are: nothing to show\n");
    } else {
        tbuf a = { 0 };
        char err[128];
        snprintf(path, sizeof path, "%s/w", tmp);
        T_EQ_INT(tar_write_dir(path, NULL, to_tbuf, &a, NULL, err, sizeof err), 0);
        T_CHECK(a.len > 1024);
        T_EQ_INT(atime_of("w/f"), 1000);
        T_EQ_INT(atime_of("w/d/g"), 1000);
        T_EQ_INT(atime_of("w/d"), 1000);
        tb_free(&a);
    }
    /* A walker that owns none of it (O_NOATIME refused: EPERM) still
     * archives everything, with the plain open. */
    if (geteuid() == 0) {
        chmod(tmp, 0755);
        snprintf(path, sizeof path, "%s/w", tmp);
        pid_t pid = fork();
        if (pid == 0) {
            tbuf b = { 0 };
            char err[128];
            if (setgid(65534) < 0 || setuid(65534) < 0) _exit(3);
            int rc = tar_write_dir(path, NULL, to_tbuf, &b, NULL, err, sizeof err);
            if (rc != 0) _exit(1);
            _exit(memmem(b.p, b.len, "content", 7) && memmem(b.p, b.len, "more", 4) ? 0 : 2);
        }
        int ws = -1;
        T_CHECK(pid > 0 && waitpid(pid, &ws, 0) == pid);
        T_CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    }
    tf_rm_rf(tmp);
}

/* The 100/155 split must be used (no pax) when possible. */
static void test_prefix_split(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/t_tar_XXXXXX");
    T_CHECK(mkdtemp(tmp) != NULL);
    char name[300];
    memset(name, 'q', 150);
    name[150] = '/';
    memset(name + 151, 'r', 90);
    name[241] = 0;
    mkparents(name);
    mkfile(name, "x", 0644);
    tbuf a = { 0 };
    char err[128];
    T_EQ_INT(tar_write_dir(tmp, NULL, to_tbuf, &a, NULL, err, sizeof err), 0);
    /* The 150-byte directory alone has no '/' to split at: pax + header;
     * the file splits: header + data, no 'x' in front of it. */
    T_EQ_INT(a.len, 512 * 3 + 512 + 512 + 1024);
    T_CHECK(a.len == 4096 - 512 && a.p[156] == 'x' && a.p[1024 + 156] == '5');
    T_CHECK(a.len == 4096 - 512 && a.p[1536 + 156] == '0' && !memcmp(a.p + 1536 + 345, name, 150) &&
            !memcmp(a.p + 1536, name + 151, 90));
    tb_free(&a);
    tf_rm_rf(tmp);
}

/* A sink that keeps the headers and aborts at the first content byte, so
 * an 8 GiB sparse file costs one header, not 8 GiB of reading. */
typedef struct head_sink { tbuf b; } head_sink;
static int heads_only(void *ctx, const uint8_t *p, size_t n)
{
    head_sink *h = ctx;
    if (h->b.len >= 1536) return -5;
    tb_put(&h->b, p, n);
    return 0;
}

static void test_huge_size(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/t_tar_XXXXXX");
    T_CHECK(mkdtemp(tmp) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/big", tmp);
    uint64_t size = (UINT64_C(8) << 30) + 1;
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    T_CHECK(fd >= 0 && ftruncate(fd, (off_t)size) == 0);
    close(fd);
    tar_stats ms;
    char err[128];
    T_EQ_INT(tar_measure_dir(tmp, NULL, &ms, err, sizeof err), 0);
    T_EQ_INT(ms.archive_bytes, 512 + 512 + 512 + (size + 511) / 512 * 512 + 1024);
    head_sink h = { { 0 } };
    T_EQ_INT(tar_write_dir(tmp, NULL, heads_only, &h, NULL, err, sizeof err), TAR_E_SINK);
    T_CHECK(h.b.len >= 1536 && h.b.p[156] == 'x');
    seen *s = calloc(1, sizeof *s);
    s->stop_at = -1;
    tar_reader *r = tar_reader_new(&sops, s, 0);
    T_EQ_INT(tar_reader_feed(r, h.b.p, 1536), 0);
    T_EQ_INT(s->n, 1);
    T_EQ_INT(s->size[0], size);
    T_EQ_STR(s->name[0], "big");
    T_EQ_INT(tar_reader_finish(r), TAR_E_TRUNCATED);
    tar_reader_free(r);
    /* The ustar header's own size field is base-256 and reads the same
     * without the pax record. */
    memset(s, 0, sizeof *s);
    s->stop_at = -1;
    r = tar_reader_new(&sops, s, 0);
    T_EQ_INT(tar_reader_feed(r, h.b.p + 1024, 512), 0);
    T_EQ_INT(s->size[0], size);
    tar_reader_free(r);
    free(s);
    tb_free(&h.b);
    tf_rm_rf(tmp);
}

static void test_checksums(void)
{
    tbuf a = { 0 };
    seen s;
    int frc;
    tf_file(&a, "f", "abc", 3, 0644);
    tf_end(&a);
    T_EQ_INT(read_all(a.p, a.len, 0, &s, 0, &frc), 0);
    T_EQ_INT(frc, 0);
    a.p[10] ^= 1;   /* inside the name field */
    T_EQ_INT(read_all(a.p, a.len, 1, &s, 0, &frc), TAR_E_CHECKSUM);
    a.p[10] ^= 1;
    /* Signed checksum (old Sun tar) with a high byte in the name. */
    a.p[1] = 0xe9;
    int sum = 0;
    memset(a.p + 148, ' ', 8);
    for (int i = 0; i < 512; i++) sum += (signed char)a.p[i];
    snprintf((char *)a.p + 148, 8, "%06o", (unsigned)sum);
    T_EQ_INT(read_all(a.p, a.len, 0, &s, 0, &frc), 0);
    T_EQ_INT(frc, 0);
    /* Garbage in a number field. */
    tf_fix_sum(a.p);
    a.p[124] = 'z';
    tf_fix_sum(a.p);
    T_EQ_INT(read_all(a.p, a.len, 0, &s, 0, &frc), TAR_E_FORMAT);
    tb_free(&a);
}

static void test_extensions(void)
{
    tbuf a = { 0 };
    seen *s = calloc(1, sizeof *s);
    int frc;
    char longn[600], longl[400];
    memset(longn, 'g', 500); longn[500] = 0;
    memset(longl, 'k', 300); longl[300] = 0;
    tf_gnu_long(&a, 'L', longn);
    tf_gnu_long(&a, 'K', longl);
    tf_entry(&a, "short", '2', "short-target");
    tf_pax(&a, "comment", "ignored");
    tf_pax(&a, "path", "./pax/name/");
    tf_entry(&a, "ignored", '5', NULL);
    tf_header(&a, "pax_global_header", 'g', NULL, 19, 0644);
    tb_put(&a, "19 comment=xxxxxxx\n", 19);
    tb_pad(&a);
    tf_file(&a, "./v7dir/", "", 0, 0755);   /* type '0' + trailing slash */
    a.p[a.len - 512 + 156] = 0;
    tf_fix_sum(a.p + a.len - 512);
    /* base-256 size field */
    tf_header(&a, "b256", '0', NULL, 0, 0644);
    uint8_t *h = a.p + a.len - 512;
    memset(h + 124, 0, 12);
    h[124] = 0x80;
    h[135] = 3;
    tf_fix_sum(h);
    tb_put(&a, "xyz", 3);
    tb_pad(&a);
    tf_entry(&a, "dev", '3', NULL);
    tf_end(&a);
    tb_put(&a, "trailing record padding is ignored", 34);
    T_EQ_INT(read_all(a.p, a.len, 1, s, 0, &frc), 0);
    T_EQ_INT(frc, 0);
    T_EQ_INT(s->n, 5);
    T_EQ_STR(s->name[0], longn);
    T_EQ_STR(s->link[0], longl);
    T_EQ_INT(s->type[0], '2');
    T_EQ_STR(s->name[1], "pax/name");
    T_EQ_INT(s->type[1], '5');
    T_EQ_STR(s->name[2], "v7dir");
    T_EQ_INT(s->type[2], '5');
    T_EQ_STR(s->name[3], "b256");
    T_EQ_INT(s->size[3], 3);
    T_EQ_INT(s->sum[3], sum_of("xyz"));
    T_EQ_INT(s->type[4], '3');
    free(s);
    tb_free(&a);
}

static void test_limits_and_truncation(void)
{
    tbuf a = { 0 };
    seen *s = calloc(1, sizeof *s);
    int frc;
    char longn[5000];
    memset(longn, 'z', 4500); longn[4500] = 0;
    /* pax path over max_path */
    tf_pax(&a, "path", longn);
    tf_entry(&a, "x", '0', NULL);
    tf_end(&a);
    T_EQ_INT(read_all(a.p, a.len, 0, s, 0, &frc), TAR_E_LIMIT);
    T_EQ_INT(read_all(a.p, a.len, 0, s, 5000, &frc), 0);
    T_EQ_INT(frc, 0);
    T_EQ_INT(strlen(s->name[0]), 4500);
    /* GNU long name over max_path */
    a.len = 0;
    tf_gnu_long(&a, 'L', longn);
    tf_entry(&a, "x", '0', NULL);
    tf_end(&a);
    T_EQ_INT(read_all(a.p, a.len, 0, s, 100, &frc), TAR_E_LIMIT);
    /* A pax header claiming 1 TiB is refused before any allocation. */
    a.len = 0;
    tf_header(&a, "././@PaxHeader", 'x', NULL, UINT64_C(1) << 40, 0644);
    T_EQ_INT(read_all(a.p, a.len, 0, s, 0, &frc), TAR_E_LIMIT);
    /* Malformed pax records. */
    a.len = 0;
    tf_header(&a, "././@PaxHeader", 'x', NULL, 12, 0644);
    tb_put(&a, "99 path=abc\n", 12);
    tb_pad(&a);
    tf_end(&a);
    T_EQ_INT(read_all(a.p, a.len, 0, s, 0, &frc), TAR_E_FORMAT);
    /* Ends GNU tar accepts (every entry whole): no end blocks, one zero
     * block, part of a zero block. Ends it refuses: inside data, inside
     * the padding, inside a header, after an extended header, nothing. */
    a.len = 0;
    tf_file(&a, "f", "0123456789", 10, 0644);
    T_EQ_INT(read_all(a.p, 516, 7, s, 0, &frc), 0);
    T_EQ_INT(frc, TAR_E_TRUNCATED);
    T_EQ_INT(read_all(a.p, 600, 7, s, 0, &frc), 0);
    T_EQ_INT(frc, TAR_E_TRUNCATED);
    T_EQ_INT(read_all(a.p, a.len, 7, s, 0, &frc), 0);
    T_EQ_INT(frc, 0);
    T_EQ_INT(s->n, 1);
    T_EQ_INT(s->ends, 1);
    T_EQ_INT(read_all(a.p, 100, 7, s, 0, &frc), 0);
    T_EQ_INT(frc, TAR_E_TRUNCATED);
    tf_end(&a);
    T_EQ_INT(read_all(a.p, a.len - 512, 7, s, 0, &frc), 0);
    T_EQ_INT(frc, 0);
    T_EQ_INT(read_all(a.p, a.len - 700, 7, s, 0, &frc), 0);
    T_EQ_INT(frc, 0);
    T_EQ_INT(read_all(a.p, 0, 7, s, 0, &frc), 0);
    T_EQ_INT(frc, TAR_E_TRUNCATED);
    /* An extended header describing nothing is ignored (GNU tar too),
     * one cut short is not. */
    a.len = 0;
    tf_pax(&a, "path", "p");
    T_EQ_INT(read_all(a.p, a.len, 7, s, 0, &frc), 0);
    T_EQ_INT(frc, 0);
    T_EQ_INT(read_all(a.p, 520, 7, s, 0, &frc), 0);
    T_EQ_INT(frc, TAR_E_TRUNCATED);
    tf_end(&a);
    T_EQ_INT(read_all(a.p, a.len, 7, s, 0, &frc), 0);
    T_EQ_INT(frc, 0);
    T_EQ_INT(s->n, 0);
    /* Of two pax headers the last counts; a global path is refused. */
    a.len = 0;
    tf_pax(&a, "path", "first");
    tf_pax(&a, "linkpath", "t");
    tf_entry(&a, "ustar-name", '2', "x");
    tf_header(&a, "g", 'g', NULL, 14, 0644);
    tb_put(&a, "14 path=evil\n", 14);
    tb_pad(&a);
    tf_file(&a, "f", "", 0, 0644);
    tf_end(&a);
    T_EQ_INT(read_all(a.p, a.len, 7, s, 0, &frc), TAR_E_FORMAT);
    T_EQ_INT(s->n, 1);
    T_EQ_STR(s->name[0], "ustar-name");
    T_EQ_STR(s->link[0], "t");
    /* A lone zero block followed by a header. */
    a.len = 0;
    tf_file(&a, "f", "x", 1, 0644);
    tb_put(&a, (uint8_t[512]){ 0 }, 512);
    tf_file(&a, "g", "x", 1, 0644);
    tf_end(&a);
    T_EQ_INT(read_all(a.p, a.len, 0, s, 0, &frc), TAR_E_FORMAT);
    /* A callback's error is returned and sticks. */
    a.len = 0;
    tf_file(&a, "f", "x", 1, 0644);
    tf_file(&a, "g", "x", 1, 0644);
    tf_end(&a);
    memset(s, 0, sizeof *s);
    s->stop_at = 1;
    tar_reader *r = tar_reader_new(&sops, s, 0);
    T_EQ_INT(tar_reader_feed(r, a.p, a.len), -42);
    T_EQ_INT(tar_reader_feed(r, a.p, 1), -42);
    T_EQ_INT(tar_reader_finish(r), -42);
    T_CHECK(strstr(tar_reader_error(r), "'g'") != NULL);
    tar_reader_free(r);
    free(s);
    tb_free(&a);
}

/* ---- sparse files, built by hand to reach every malformed map -------- */

/* One pax 'x' header holding the NULL-terminated key/value pairs. */
static void pax_recs(tbuf *b, const char *const *kv)
{
    tbuf body = { 0 };
    for (; kv[0]; kv += 2) {
        size_t n = strlen(kv[0]) + strlen(kv[1]) + 3, len = n + 1;
        char rec[600], tmp[24];
        while ((size_t)snprintf(tmp, sizeof tmp, "%zu", len) + n != len)
            len = (size_t)snprintf(tmp, sizeof tmp, "%zu", len) + n;
        snprintf(rec, sizeof rec, "%zu %s=%s\n", len, kv[0], kv[1]);
        tb_put(&body, rec, len);
    }
    tf_header(b, "./PaxHeaders/x", 'x', NULL, body.len, 0644);
    tb_put(b, body.p, body.len);
    tb_pad(b);
    tb_free(&body);
}

/* An old-GNU 'S' header with map m (n pairs), extension blocks as needed. */
static void gnu_sparse(tbuf *b, const char *name, uint64_t real, const uint64_t *m, size_t n,
                       uint64_t stored)
{
    tf_header(b, name, 'S', NULL, stored, 0644);
    uint8_t *h = b->p + b->len - 512;
    memcpy(h + 257, "ustar  ", 8);
    for (size_t i = 0; i < n && i < 4; i++) {
        snprintf((char *)h + 386 + 24 * i, 12, "%011llo", (unsigned long long)m[2 * i]);
        snprintf((char *)h + 398 + 24 * i, 12, "%011llo", (unsigned long long)m[2 * i + 1]);
    }
    h[482] = n > 4;
    snprintf((char *)h + 483, 12, "%011llo", (unsigned long long)real);
    tf_fix_sum(h);
    for (size_t i = 4; i < n; i += 21) {
        uint8_t e[512] = { 0 };
        for (size_t k = 0; k < 21 && i + k < n; k++) {
            snprintf((char *)e + 24 * k, 12, "%011llo", (unsigned long long)m[2 * (i + k)]);
            snprintf((char *)e + 12 + 24 * k, 12, "%011llo", (unsigned long long)m[2 * (i + k) + 1]);
        }
        e[504] = i + 21 < n;
        tb_put(b, e, 512);
    }
}

static uint32_t sum_buf(const uint8_t *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) v = v * 31 + p[i];
    return v;
}

static int holes_seen;
static int s_hole(void *ctx, uint64_t n)
{
    seen *s = ctx;
    for (uint64_t i = 0; i < n; i++) s->sum[s->n - 1] *= 31;
    s->got[s->n - 1] += n;
    holes_seen++;
    return 0;
}

static void test_sparse(void)
{
    tbuf a = { 0 };
    seen *s = calloc(1, sizeof *s);
    int frc;
    /* The logical file: 10 holes..."abc" at 10, "defg" at 20, hole to 40. */
    uint8_t want[40] = { 0 };
    memcpy(want + 10, "abc", 3);
    memcpy(want + 20, "defg", 4);
    const uint64_t m[] = { 10, 3, 20, 4, 40, 0 };
    /* pax 0.0 */
    pax_recs(&a, (const char *const[]){ "GNU.sparse.size", "40", "GNU.sparse.numblocks", "3",
        "GNU.sparse.offset", "10", "GNU.sparse.numbytes", "3", "GNU.sparse.offset", "20",
        "GNU.sparse.numbytes", "4", "GNU.sparse.offset", "40", "GNU.sparse.numbytes", "0", NULL });
    tf_file(&a, "v00", "abcdefg", 7, 0644);
    /* pax 0.1, real name from GNU.sparse.name whatever 'path' says */
    pax_recs(&a, (const char *const[]){ "GNU.sparse.size", "40", "GNU.sparse.numblocks", "3",
        "GNU.sparse.name", "v01", "path", "GNUSparseFile.1/v01",
        "GNU.sparse.map", "10,3,20,4,40,0", NULL });
    tf_file(&a, "GNUSparseFile.1/v01", "abcdefg", 7, 0644);
    /* pax 1.0: the map leads the data, padded to a block */
    pax_recs(&a, (const char *const[]){ "GNU.sparse.major", "1", "GNU.sparse.minor", "0",
        "GNU.sparse.name", "v10", "GNU.sparse.realsize", "40", NULL });
    tf_header(&a, "GNUSparseFile.1/v10", '0', NULL, 512 + 7, 0644);
    char map[512] = "3\n10\n3\n20\n4\n40\n0\n";
    tb_put(&a, map, 512);
    tb_put(&a, "abcdefg", 7);
    tb_pad(&a);
    /* old GNU 'S', and one with 30 entries (two extension blocks) */
    gnu_sparse(&a, "gnu", 40, m, 3, 7);
    tb_put(&a, "abcdefg", 7);
    tb_pad(&a);
    uint64_t big[60];
    uint8_t bigwant[30 * 100 + 50] = { 0 };
    for (int k = 0; k < 30; k++) {
        big[2 * k] = (uint64_t)k * 100 + 7;
        big[2 * k + 1] = 2;
        bigwant[k * 100 + 7] = 'x';
        bigwant[k * 100 + 8] = (uint8_t)('A' + k);
    }
    gnu_sparse(&a, "gnu30", sizeof bigwant, big, 30, 60);
    for (int k = 0; k < 30; k++) {
        uint8_t two[2] = { 'x', (uint8_t)('A' + k) };
        tb_put(&a, two, 2);
    }
    tb_pad(&a);
    tf_file(&a, "plain", "p", 1, 0644);
    size_t good_len = a.len;
    const size_t steps[] = { 0, 1, 5, 512 };
    for (size_t k = 0; k < 4; k++) {
        T_EQ_INT(read_all(a.p, good_len, steps[k], s, 0, &frc), 0);   /* no end blocks */
        T_EQ_INT(frc, 0);
        T_EQ_INT(s->n, 6);
        T_EQ_INT(s->ends, 6);
        const char *names[] = { "v00", "v01", "v10", "gnu" };
        for (int i = 0; i < 4; i++) {
            T_EQ_STR(s->name[i], names[i]);
            T_EQ_INT(s->type[i], '0');
            T_EQ_INT(s->size[i], 40);
            T_EQ_INT(s->sum[i], sum_buf(want, 40));
        }
        T_EQ_STR(s->name[4], "gnu30");
        T_EQ_INT(s->size[4], sizeof bigwant);
        T_EQ_INT(s->sum[4], sum_buf(bigwant, sizeof bigwant));
        T_EQ_STR(s->name[5], "plain");
    }
    /* With a hole callback the holes do not come as data. */
    memset(s, 0, sizeof *s);
    s->stop_at = -1;
    tar_reader_ops hops = sops;
    hops.hole = s_hole;
    holes_seen = 0;
    tar_reader *r = tar_reader_new(&hops, s, 0);
    T_EQ_INT(tar_reader_feed(r, a.p, good_len), 0);
    T_EQ_INT(tar_reader_finish(r), 0);
    T_EQ_INT(holes_seen, 3 * 4 + 31);
    T_EQ_INT(s->sum[0], sum_buf(want, 40));
    tar_reader_free(r);
    tb_free(&a);
    free(s);
}

/* One malformed sparse entry: expect code and a message containing msg. */
static void bad_sparse(tbuf *a, int code, const char *msg)
{
    seen *s = calloc(1, sizeof *s);
    s->stop_at = -1;
    tar_reader *r = tar_reader_new(&sops, s, 0);
    int rc = tar_reader_feed(r, a->p, a->len);
    if (rc == 0) rc = tar_reader_finish(r);
    T_EQ_INT(rc, code);
    if (msg && !strstr(tar_reader_error(r), msg)) {
        printf("#   message '%s' lacks '%s'\n", tar_reader_error(r), msg);
        t_failed_now = 1;
    }
    T_EQ_INT(s->n, 0);   /* refused before the entry is announced */
    tar_reader_free(r);
    free(s);
    a->len = 0;
}

static void map01(tbuf *a, const char *size, const char *map, uint64_t stored)
{
    pax_recs(a, (const char *const[]){ "GNU.sparse.size", size, "GNU.sparse.map", map, NULL });
    tf_header(a, "f", '0', NULL, stored, 0644);
    tb_put(a, (uint8_t[4096]){ 0 }, stored);
    tb_pad(a);
    tf_end(a);
}

static void map10(tbuf *a, const char *map, uint64_t stored)
{
    pax_recs(a, (const char *const[]){ "GNU.sparse.major", "1", "GNU.sparse.minor", "0",
        "GNU.sparse.realsize", "100", NULL });
    tf_header(a, "f", '0', NULL, stored, 0644);
    tb_put(a, map, strlen(map));
    tb_pad(a);
    tb_put(a, (uint8_t[1024]){ 0 }, 1024);
    tf_end(a);
}

static void test_sparse_malformed(void)
{
    tbuf a = { 0 };
    map01(&a, "100", "0,10,5,10", 20);
    bad_sparse(&a, TAR_E_FORMAT, "overlapping");
    map01(&a, "100", "50,10,0,10", 20);
    bad_sparse(&a, TAR_E_FORMAT, "out of order");
    map01(&a, "100", "0,10,95,10", 20);
    bad_sparse(&a, TAR_E_FORMAT, "past its size");
    map01(&a, "100", "0,10,18446744073709551615,1", 11);
    bad_sparse(&a, TAR_E_FORMAT, NULL);
    map01(&a, "100", "0,10,20,10", 30);
    bad_sparse(&a, TAR_E_FORMAT, "describes 20 stored bytes, the entry holds 30");
    map01(&a, "100", "0,10,20", 10);
    bad_sparse(&a, TAR_E_FORMAT, "odd number");
    map01(&a, "100", "0,x", 10);
    bad_sparse(&a, TAR_E_FORMAT, "GNU.sparse.map");
    map01(&a, "99999999999999999999", "0,10", 10);
    bad_sparse(&a, TAR_E_FORMAT, NULL);
    pax_recs(&a, (const char *const[]){ "GNU.sparse.size", "100", "GNU.sparse.numblocks", "5",
        "GNU.sparse.map", "0,10", NULL });
    tf_file(&a, "f", "0123456789", 10, 0644); tf_end(&a);
    bad_sparse(&a, TAR_E_FORMAT, "numblocks");
    pax_recs(&a, (const char *const[]){ "GNU.sparse.size", "100", "GNU.sparse.offset", "0",
        "GNU.sparse.offset", "5", NULL });
    tf_file(&a, "f", "", 0, 0644); tf_end(&a);
    bad_sparse(&a, TAR_E_FORMAT, "without its numbytes");
    pax_recs(&a, (const char *const[]){ "GNU.sparse.map", "0,10", NULL });
    tf_file(&a, "f", "0123456789", 10, 0644); tf_end(&a);
    bad_sparse(&a, TAR_E_FORMAT, "real size");
    pax_recs(&a, (const char *const[]){ "GNU.sparse.major", "2", "GNU.sparse.minor", "0",
        "GNU.sparse.realsize", "10", NULL });
    tf_file(&a, "f", "0123456789", 10, 0644); tf_end(&a);
    bad_sparse(&a, TAR_E_FORMAT, "unknown GNU sparse format 2.0");
    pax_recs(&a, (const char *const[]){ "GNU.sparse.size", "10", "GNU.sparse.map", "", NULL });
    tf_entry(&a, "d", '5', NULL); tf_end(&a);
    bad_sparse(&a, TAR_E_FORMAT, "type '5'");
    /* pax 1.0 maps: absurd count (refused before any allocation), bad
     * digits, a map longer than the entry, values past the real size. */
    map10(&a, "99999999999\n", 1024);
    bad_sparse(&a, TAR_E_LIMIT, "announces 99999999999 entries");
    map10(&a, "1\n0\n1x\n", 1024);
    bad_sparse(&a, TAR_E_FORMAT, "malformed sparse map");
    map10(&a, "1\n0\n\n", 1024);
    bad_sparse(&a, TAR_E_FORMAT, "empty number");
    map10(&a, "1\n0\n12345678901234567890\n", 1024);
    bad_sparse(&a, TAR_E_FORMAT, "malformed sparse map");
    map10(&a, "2\n0\n10\n1", 8);
    bad_sparse(&a, TAR_E_FORMAT, "fills its whole entry");
    map10(&a, "1\n95\n10\n", 522);
    bad_sparse(&a, TAR_E_FORMAT, "past its size");
    /* old GNU: past the real size, overlapping, bad number, and an
     * unbounded chain of extension blocks stops at TAR_SPARSE_MAX. */
    gnu_sparse(&a, "g", 10, (const uint64_t[]){ 5, 10 }, 1, 10);
    tb_put(&a, (uint8_t[512]){ 0 }, 512); tf_end(&a);
    bad_sparse(&a, TAR_E_FORMAT, "past its size");
    gnu_sparse(&a, "g", 100, (const uint64_t[]){ 0, 10, 5, 10 }, 2, 20);
    tb_put(&a, (uint8_t[512]){ 0 }, 512); tf_end(&a);
    bad_sparse(&a, TAR_E_FORMAT, "overlapping");
    gnu_sparse(&a, "g", 100, (const uint64_t[]){ 0, 10 }, 1, 10);
    a.p[a.len - 512 + 390] = 'z';
    tf_fix_sum(a.p + a.len - 512);
    tb_put(&a, (uint8_t[512]){ 0 }, 512); tf_end(&a);
    bad_sparse(&a, TAR_E_FORMAT, "bad sparse entry");
    gnu_sparse(&a, "g", 100, (const uint64_t[]){ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 5, 0);
    uint8_t ext[512] = { 0 };
    for (int k = 0; k < 21; k++) {
        memcpy(ext + 24 * k, "00000000000", 12);
        memcpy(ext + 24 * k + 12, "00000000000", 12);
    }
    ext[504] = 1;                           /* 21 entries, "more follows" */
    a.p[a.len - 512 + 504] = 1;
    for (size_t k = 0; k < TAR_SPARSE_MAX / 21 + 2; k++)
        tb_put(&a, ext, 512);
    bad_sparse(&a, TAR_E_LIMIT, "more than");
    /* Cut inside the extension blocks or the 1.0 map: TRUNCATED. */
    gnu_sparse(&a, "g", 100, (const uint64_t[]){ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 5, 0);
    a.len -= 100;
    bad_sparse(&a, TAR_E_TRUNCATED, "sparse map");
    map10(&a, "1\n0\n10\n", 1024);
    a.len = 1024 + 512 + 5;
    bad_sparse(&a, TAR_E_TRUNCATED, "inside 'f'");
    tb_free(&a);
}

/* Sinks that change the file under the writer after its header went out. */
typedef struct change_sink { const char *path; int grow, done; } change_sink;
static int changer(void *ctx, const uint8_t *p, size_t n)
{
    change_sink *c = ctx;
    if (!c->done && n == 512 && p[156] == '0') {
        c->done = 1;
        int fd = open(c->path, O_WRONLY | O_APPEND);
        if (fd < 0) return -1;
        if (c->grow) { if (write(fd, "more", 4) != 4) { close(fd); return -1; } }
        else if (ftruncate(fd, 10) < 0) { close(fd); return -1; }
        close(fd);
    }
    return 0;
}

static void test_changed(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/t_tar_XXXXXX");
    T_CHECK(mkdtemp(tmp) != NULL);
    char path[128], big[5000];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = 0;
    mkfile("f", big, 0644);
    snprintf(path, sizeof path, "%s/f", tmp);
    char err[256] = "";
    change_sink c = { path, 0, 0 };
    T_EQ_INT(tar_write_dir(tmp, NULL, changer, &c, NULL, err, sizeof err), TAR_E_CHANGED);
    T_CHECK(strstr(err, "shrank") != NULL);
    mkfile("f", big, 0644);
    c.grow = 1;
    c.done = 0;
    T_EQ_INT(tar_write_dir(tmp, NULL, changer, &c, NULL, err, sizeof err), TAR_E_CHANGED);
    T_CHECK(strstr(err, "grew") != NULL);
    /* Growth is seen whether the last read asks for the byte after the
     * end (a size off the 256 KiB read piece) or a read has to probe for
     * it (a size on it); an unchanged file of either size is fine. */
    static const size_t sizes[] = { 300 * 1024, 256 * 1024, 512 * 1024 };
    char *blob = malloc(512 * 1024 + 1);
    memset(blob, 'z', 512 * 1024);
    for (size_t i = 0; i < 3; i++) {
        blob[sizes[i]] = 0;
        mkfile("f", blob, 0644);
        blob[sizes[i]] = 'z';
        c.grow = 1;
        c.done = 0;
        T_EQ_INT(tar_write_dir(tmp, NULL, changer, &c, NULL, err, sizeof err), TAR_E_CHANGED);
        T_CHECK(strstr(err, "grew") != NULL);
        c.done = 1;     /* no change this time */
        T_EQ_INT(tar_write_dir(tmp, NULL, changer, &c, NULL, err, sizeof err), 0);
    }
    free(blob);
    /* Missing root, sink errors. */
    T_EQ_INT(tar_write_dir("/nonexistent/x", NULL, changer, &c, NULL, err, sizeof err), TAR_E_IO);
    T_CHECK(strcmp(cai_strerror(TAR_E_LINK), "unknown error") != 0);
    tf_rm_rf(tmp);
}

/* A reader that only counts entries and keeps the longest name. */
typedef struct deepseen { uint64_t entries, files; size_t longest; int saw_top; } deepseen;
static int d_entry(void *ctx, const tar_entry *e)
{
    deepseen *d = ctx;
    d->entries++;
    if (e->type == '0') d->files++;
    if (strlen(e->name) > d->longest) d->longest = strlen(e->name);
    if (!strcmp(e->name, "top.txt")) d->saw_top = 1;
    return 0;
}

typedef struct skiplog { int n; char first[TAR_PATH_MAX + 400]; char reason[200]; } skiplog;
static int on_skip_log(void *ctx, const char *name, const char *reason)
{
    skiplog *l = ctx;
    if (l->n++ == 0) {
        snprintf(l->first, sizeof l->first, "%s", name);
        snprintf(l->reason, sizeof l->reason, "%s", reason);
    }
    return 0;
}

/* A 10,000-level tree (what `mkdir -p` of a task may leave): the walk is
 * iterative and holds few fds (run under RLIMIT_NOFILE = 64), the part
 * past the 4095-byte path limit is skipped and reported once, the rest
 * (shallow files, files just under the limit, a FIFO reported) is
 * written; measure and write agree; it can be done twice, with a prefix. */
static void test_deep_walk(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/t_tar_deep_XXXXXX");
    if (!mkdtemp(tmp)) { T_CHECK(0); return; }
    int fd = open(tmp, O_RDONLY | O_DIRECTORY);
    mkfile("top.txt", "top\n", 0644);
    char fifo[200];
    snprintf(fifo, sizeof fifo, "%s/pipe", tmp);
    T_EQ_INT(mkfifo(fifo, 0644), 0);
    int depth_ok = 1;
    for (int i = 0; i < 10000 && depth_ok; i++) {
        if (mkdirat(fd, "d", 0755) < 0) { depth_ok = 0; break; }
        if (i % 1000 == 0) {
            int f = openat(fd, "f.txt", O_WRONLY | O_CREAT, 0644);
            if (f >= 0) { if (write(f, "x", 1) != 1) depth_ok = 0; close(f); }
        }
        int nfd = openat(fd, "d", O_RDONLY | O_DIRECTORY);
        close(fd);
        if ((fd = nfd) < 0) depth_ok = 0;
    }
    if (fd >= 0) close(fd);
    T_CHECK(depth_ok);

    struct rlimit old, lim;
    getrlimit(RLIMIT_NOFILE, &old);
    lim = old;
    lim.rlim_cur = 64;
    setrlimit(RLIMIT_NOFILE, &lim);
    tar_stats ms, ws;
    char err[300] = "";
    skiplog sk = { 0 };
    tar_write_opts o = { NULL, on_skip_log, &sk, NULL, NULL, NULL, NULL, NULL };
    int rc = tar_write_dir_opts(tmp, &o, NULL, NULL, &ms, err, sizeof err);
    T_EQ_INT(rc, 0);
    if (rc) printf("#   measure: %s\n", err);
    tbuf b = { 0 };
    rc = tar_write_dir_opts(tmp, NULL, to_tbuf, &b, &ws, err, sizeof err);
    T_EQ_INT(rc, 0);
    T_EQ_INT(ws.archive_bytes, ms.archive_bytes);
    T_EQ_INT(b.len, ms.archive_bytes);
    /* The first directory over the limit (sorted first) and the FIFO:
     * two reports. */
    T_EQ_INT(sk.n, 2);
    T_EQ_INT(ms.skipped, 2);
    T_CHECK(strstr(sk.reason, "4095-byte limit") != NULL);
    T_EQ_INT(strlen(sk.first), 4097);
    /* "d/d/.../d" of 2047 levels is 4093 bytes: the 2048th ("+/d") is
     * 4095, still in; the 2049th is over. */
    T_EQ_INT(ws.dirs, 2048);
    T_EQ_INT(ws.files, 1 + 3);
    deepseen d = { 0 };
    tar_reader *r = tar_reader_new(&(tar_reader_ops){ d_entry, NULL, NULL, NULL }, &d, TAR_PATH_MAX);
    T_EQ_INT(tar_reader_feed(r, b.p, b.len), 0);
    T_EQ_INT(tar_reader_finish(r), 0);
    tar_reader_free(r);
    T_EQ_INT(d.entries, 2048 + 4);
    T_CHECK(d.saw_top && d.longest <= TAR_NAME_MAX);
    /* Served again with a prefix in front: same entries plus the prefix. */
    tbuf b2 = { 0 };
    tar_stats ps;
    T_EQ_INT(tar_write_tree(tmp, NULL, "run-1", 1, to_tbuf, &b2, &ps, err, sizeof err), 0);
    T_EQ_INT(ps.dirs, 2048 + 1);
    T_EQ_INT(ps.files, 4);
    /* A sub-tree request deep inside. */
    tbuf b3 = { 0 };
    T_EQ_INT(tar_write_tree(tmp, "d/d/d", NULL, 1, to_tbuf, &b3, &ps, err, sizeof err), 0);
    T_EQ_INT(ps.files, 2);
    setrlimit(RLIMIT_NOFILE, &old);
    tb_free(&b);
    tb_free(&b2);
    tb_free(&b3);
    T_EQ_INT(fsutil_rm_rf(tmp), 0);
    struct stat st;
    T_CHECK(stat(tmp, &st) < 0);
}

int main(void)
{
    T_RUN(test_roundtrip_slicing);
    T_RUN(test_prefix_split);
    T_RUN(test_noatime);
    T_RUN(test_huge_size);
    T_RUN(test_checksums);
    T_RUN(test_extensions);
    T_RUN(test_limits_and_truncation);
    T_RUN(test_changed);
    T_RUN(test_sparse);
    T_RUN(test_sparse_malformed);
    T_RUN(test_deep_walk);
    return T_DONE();
}
