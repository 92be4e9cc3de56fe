/* test_extract.c — safe extraction: every hostile archive is refused with
 * a clear message and nothing appears outside the target; legitimate
 * archives come out with the right bytes, modes, links and digests. Each
 * test extracts into OUTER/t and then checks OUTER holds nothing else. */
#include "extract.h"
#include "hash.h"
#include "tar.h"
#include "t.h"
#include "tarfix.h"
#include "zchunk.h"

#include <errno.h>

static char outer[64], target[80];

static void setup(void)
{
    snprintf(outer, sizeof outer, "/tmp/t_extract_XXXXXX");
    if (!mkdtemp(outer)) { perror("mkdtemp"); exit(2); }
    snprintf(target, sizeof target, "%s/t", outer);
    mkdir(target, 0700);
}

static void teardown(void)
{
    tf_rm_rf(outer);
}

/* OUTER must contain exactly "t" (plus `allowed`, a file the test put
 * there itself). */
static int outer_clean(const char *allowed)
{
    DIR *d = opendir(outer);
    struct dirent *e;
    int bad = 0;
    if (!d) return 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "t")) continue;
        if (allowed && !strcmp(e->d_name, allowed)) continue;
        printf("#   stray '%s' outside the target\n", e->d_name);
        bad = 1;
    }
    closedir(d);
    return !bad;
}

static int exists_in(const char *rel)
{
    char p[4300];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", target, rel);
    return lstat(p, &st) == 0;
}

typedef struct got { int n; extract_file f[16]; char names[16][64]; } got;
static int on_file(void *ctx, const extract_file *f)
{
    got *g = ctx;
    if (g->n < 16) {
        g->f[g->n] = *f;
        snprintf(g->names[g->n], sizeof g->names[0], "%s", f->name);
        g->f[g->n].name = g->names[g->n];
        g->n++;
    }
    return 0;
}

static char last_err[600];

/* Extracts b into target in slices of `step` bytes (0 = whole). Returns
 * the first error of feed or finish. */
static int run(const tbuf *b, const extract_limits *lim, size_t step, got *g)
{
    extract *x = extract_new(target, lim, g ? on_file : NULL, g);
    if (!x) return -1000;
    int rc = 0;
    for (size_t off = 0; off < b->len && rc == 0; ) {
        size_t k = step ? step : b->len;
        if (k > b->len - off) k = b->len - off;
        rc = extract_feed(x, b->p + off, k);
        off += k;
    }
    if (rc == 0) rc = extract_finish(x);
    snprintf(last_err, sizeof last_err, "%s", extract_error(x));
    extract_free(x);
    return rc;
}

/* One hostile archive: expect `code`, a message containing `msg`, and a
 * clean OUTER. */
static void hostile(tbuf *b, int code, const char *msg, const char *allowed)
{
    int rc = run(b, NULL, 1, NULL);
    T_EQ_INT(rc, code);
    if (msg && !strstr(last_err, msg)) {
        printf("#   message '%s' lacks '%s'\n", last_err, msg);
        t_failed_now = 1;
    }
    T_CHECK(outer_clean(allowed));
    b->len = 0;
}

static void test_paths(void)
{
    setup();
    tbuf b = { 0 };
    char abs[200];
    tf_file(&b, "../x", "evil", 4, 0644); tf_end(&b);
    hostile(&b, TAR_E_PATH, "refusing '../x': path leaves the target", NULL);
    snprintf(abs, sizeof abs, "%s/x", outer);
    tf_file(&b, abs, "evil", 4, 0644); tf_end(&b);
    hostile(&b, TAR_E_PATH, "absolute", NULL);
    tf_file(&b, "/etc/cloudai_never", "evil", 4, 0644); tf_end(&b);
    hostile(&b, TAR_E_PATH, "absolute", NULL);
    tf_file(&b, "a/../../x", "evil", 4, 0644); tf_end(&b);
    hostile(&b, TAR_E_PATH, "leaves the target", NULL);
    tf_file(&b, "a//x", "evil", 4, 0644); tf_end(&b);
    hostile(&b, TAR_E_PATH, "empty", NULL);
    tf_pax(&b, "path", "ok/../../x");
    tf_file(&b, "ignored", "evil", 4, 0644); tf_end(&b);
    hostile(&b, TAR_E_PATH, "ok/../../x", NULL);
    T_CHECK(!exists_in("a") && !exists_in("ok"));
    tb_free(&b);
    teardown();
}

static void test_symlinks(void)
{
    setup();
    tbuf b = { 0 };
    /* link -> OUTER (absolute), then a file through it. */
    tf_entry(&b, "link", '2', outer);
    tf_file(&b, "link/passwd", "evil", 4, 0644); tf_end(&b);
    hostile(&b, TAR_E_LINK, "refusing symlink 'link'", NULL);
    tf_entry(&b, "link", '2', "/etc"); tf_end(&b);
    hostile(&b, TAR_E_LINK, "relative", NULL);
    tf_entry(&b, "a", '2', "../../x"); tf_end(&b);
    hostile(&b, TAR_E_LINK, "leaves", NULL);
    tf_entry(&b, "d/l", '2', "../../x"); tf_end(&b);
    hostile(&b, TAR_E_LINK, "leaves", NULL);
    tf_entry(&b, "l2", '2', "d/../../x"); tf_end(&b);
    hostile(&b, TAR_E_LINK, "leaves", NULL);
    tf_entry(&b, "empty", '2', ""); tf_end(&b);
    hostile(&b, TAR_E_LINK, NULL, NULL);
    tf_rm_rf(target); mkdir(target, 0700);

    /* A symlink inside the tree is fine, but nothing is written through it. */
    tf_entry(&b, "d", '5', NULL);
    tf_entry(&b, "sub", '2', "d");
    tf_file(&b, "sub/passwd", "evil", 4, 0644); tf_end(&b);
    hostile(&b, TAR_E_LINK, "'sub' is a symlink", NULL);
    T_CHECK(!exists_in("d/passwd"));
    tf_rm_rf(target); mkdir(target, 0700);

    /* A symlink planted in the target (a race) is not followed either. */
    char p[200];
    snprintf(p, sizeof p, "%s/planted", target);
    T_EQ_INT(symlink(outer, p), 0);
    tf_file(&b, "planted/x", "evil", 4, 0644); tf_end(&b);
    hostile(&b, TAR_E_LINK, "planted", NULL);
    tf_file(&b, "planted", "evil", 4, 0644); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, "replace", NULL);
    tf_rm_rf(target); mkdir(target, 0700);

    /* Legit relative links. */
    tf_entry(&b, "d/l", '2', "../x");
    tf_entry(&b, "d/e/l", '2', "./../../top");
    tf_entry(&b, "self", '2', "d");
    tf_end(&b);
    T_EQ_INT(run(&b, NULL, 3, NULL), 0);
    char buf[64];
    snprintf(p, sizeof p, "%s/d/l", target);
    ssize_t n = readlink(p, buf, sizeof buf - 1);
    T_CHECK(n == 4 && !memcmp(buf, "../x", 4));
    T_CHECK(outer_clean(NULL));
    tb_free(&b);
    teardown();
}

static void test_hardlinks(void)
{
    setup();
    tbuf b = { 0 };
    char secret[200];
    snprintf(secret, sizeof secret, "%s/secret", outer);
    tf_write_file(secret, "secret", 6);
    tf_entry(&b, "h", '1', secret); tf_end(&b);
    hostile(&b, TAR_E_LINK, "refusing hard link 'h'", "secret");
    tf_entry(&b, "h", '1', "/etc/passwd"); tf_end(&b);
    hostile(&b, TAR_E_LINK, "not a file extracted here", "secret");
    tf_entry(&b, "h", '1', "../secret"); tf_end(&b);
    hostile(&b, TAR_E_LINK, NULL, "secret");
    tf_entry(&b, "s", '2', "f");
    tf_entry(&b, "h", '1', "s"); tf_end(&b);
    hostile(&b, TAR_E_LINK, NULL, "secret");
    tf_rm_rf(target); mkdir(target, 0700);
    /* A file already in the target but not from this archive. */
    char p[200];
    snprintf(p, sizeof p, "%s/pre", target);
    tf_write_file(p, "pre", 3);
    tf_entry(&b, "h", '1', "pre"); tf_end(&b);
    hostile(&b, TAR_E_LINK, NULL, "secret");
    tf_rm_rf(target); mkdir(target, 0700);

    /* Legit: link to a file from this archive, in another directory. */
    got g = { 0 };
    tf_file(&b, "a/f", "content", 7, 0640);
    tf_entry(&b, "b/c/h", '1', "./a/f");
    tf_end(&b);
    T_EQ_INT(run(&b, NULL, 100, &g), 0);
    struct stat s1, s2;
    char p1[200], p2[200];
    snprintf(p1, sizeof p1, "%s/a/f", target);
    snprintf(p2, sizeof p2, "%s/b/c/h", target);
    T_CHECK(stat(p1, &s1) == 0 && stat(p2, &s2) == 0 && s1.st_ino == s2.st_ino);
    uint8_t d[32];
    hash_sha256_buf("content", 7, d);
    T_EQ_INT(g.n, 2);
    T_CHECK(g.n == 2 && g.f[1].type == '1' && g.f[1].size == 7 && !memcmp(g.f[1].sha256, d, 32));
    T_CHECK(outer_clean("secret"));
    tb_free(&b);
    teardown();
}

static void test_types(void)
{
    setup();
    tbuf b = { 0 };
    tf_entry(&b, "tty", '3', NULL); tf_end(&b);
    hostile(&b, TAR_E_TYPE, "refusing 'tty': character device", NULL);
    tf_entry(&b, "disk", '4', NULL); tf_end(&b);
    hostile(&b, TAR_E_TYPE, "block device", NULL);
    tf_entry(&b, "fifo", '6', NULL); tf_end(&b);
    hostile(&b, TAR_E_TYPE, "FIFO", NULL);
    tf_entry(&b, "odd", 'Z', NULL); tf_end(&b);
    hostile(&b, TAR_E_TYPE, "unsupported", NULL);
    T_CHECK(!exists_in("tty") && !exists_in("disk") && !exists_in("fifo") && !exists_in("odd"));
    tb_free(&b);
    teardown();
}

static void test_limits(void)
{
    setup();
    tbuf b = { 0 };
    extract_limits lim = { 0 };
    for (int i = 0; i < 4; i++) {
        char n[16];
        snprintf(n, sizeof n, "f%d", i);
        tf_file(&b, n, "x", 1, 0644);
    }
    tf_end(&b);
    lim.max_files = 3;
    T_EQ_INT(run(&b, &lim, 0, NULL), TAR_E_LIMIT);
    T_CHECK(strstr(last_err, "f3") != NULL && !exists_in("f3"));
    lim.max_files = 2;   /* implicit parent directories count too */
    b.len = 0;
    tf_file(&b, "p/q/f", "x", 1, 0644); tf_end(&b);
    tf_rm_rf(target); mkdir(target, 0700);
    T_EQ_INT(run(&b, &lim, 0, NULL), TAR_E_LIMIT);

    /* Byte limit is checked at the header: the file is never created. */
    lim = (extract_limits){ 0 };
    lim.max_bytes = 100;
    b.len = 0;
    char data[101];
    memset(data, 'd', sizeof data);
    tf_file(&b, "small", data, 60, 0644);
    tf_file(&b, "big", data, 41, 0644);
    tf_end(&b);
    tf_rm_rf(target); mkdir(target, 0700);
    T_EQ_INT(run(&b, &lim, 0, NULL), TAR_E_LIMIT);
    T_CHECK(exists_in("small") && !exists_in("big"));
    T_CHECK(strstr(last_err, "'big'") != NULL);

    /* Paths: 4000 bytes fine, 4097 refused, and max_path honoured. */
    char longp[5000];
    size_t i = 0;
    while (i < 4000) {
        size_t comp = 4000 - i > 200 ? 200 : 4000 - i;
        memset(longp + i, 'a' + (char)(i / 200 % 26), comp);
        i += comp;
        if (i < 4000) longp[i - 1] = '/';
    }
    longp[4000] = 0;
    b.len = 0;
    tf_pax(&b, "path", longp);
    tf_file(&b, "x", "deep", 4, 0644);
    tf_end(&b);
    tf_rm_rf(target); mkdir(target, 0700);
    T_EQ_INT(run(&b, NULL, 0, NULL), 0);
    T_CHECK(exists_in(longp));
    memset(longp + 4000, 'z', 97);
    longp[4097] = 0;
    b.len = 0;
    tf_pax(&b, "path", longp);
    tf_file(&b, "x", "deep", 4, 0644);
    tf_end(&b);
    tf_rm_rf(target); mkdir(target, 0700);
    T_EQ_INT(run(&b, NULL, 0, NULL), TAR_E_LIMIT);
    lim = (extract_limits){ 0 };
    lim.max_path = 10;
    b.len = 0;
    tf_file(&b, "0123456789a", "x", 1, 0644);
    tf_end(&b);
    T_EQ_INT(run(&b, &lim, 0, NULL), TAR_E_LIMIT);
    T_CHECK(outer_clean(NULL));
    tb_free(&b);
    teardown();
}

static void test_replace(void)
{
    setup();
    tbuf b = { 0 };
    tf_file(&b, "a", "1", 1, 0644);
    tf_file(&b, "a", "2", 1, 0644); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, "refusing 'a': would replace", NULL);
    tf_rm_rf(target); mkdir(target, 0700);
    tf_file(&b, "a", "1", 1, 0644);
    tf_entry(&b, "a", '5', NULL); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, NULL, NULL);
    tf_rm_rf(target); mkdir(target, 0700);
    tf_entry(&b, "a", '5', NULL);
    tf_file(&b, "a", "1", 1, 0644); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, NULL, NULL);
    tf_rm_rf(target); mkdir(target, 0700);
    tf_entry(&b, "a", '5', NULL);
    tf_entry(&b, "a", '5', NULL); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, NULL, NULL);
    tf_rm_rf(target); mkdir(target, 0700);
    tf_entry(&b, "s", '2', "x");
    tf_file(&b, "s", "1", 1, 0644); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, NULL, NULL);
    tf_rm_rf(target); mkdir(target, 0700);
    /* Pre-existing entries in the target. */
    char p[200];
    snprintf(p, sizeof p, "%s/pre", target);
    tf_write_file(p, "old", 3);
    tf_file(&b, "pre", "new", 3, 0644); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, NULL, NULL);
    snprintf(p, sizeof p, "%s/predir", target);
    mkdir(p, 0700);
    tf_entry(&b, "predir", '5', NULL); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, NULL, NULL);
    char buf[8] = { 0 };
    snprintf(p, sizeof p, "%s/pre", target);
    FILE *f = fopen(p, "r");
    T_CHECK(f && fread(buf, 1, 3, f) == 3 && !strcmp(buf, "old"));
    if (f) fclose(f);
    tb_free(&b);
    teardown();
}

static void test_good_archive(void)
{
    setup();
    tbuf b = { 0 };
    got g = { 0 };
    tf_entry(&b, "./", '5', NULL);
    tf_file(&b, "./top.sh", "#!/bin/sh\n", 10, 04755);
    tf_file(&b, "ro/inner", "inside", 6, 0400);
    tf_header(&b, "ro/", '5', NULL, 0, 0500);   /* after its content */
    tf_file(&b, "empty", "", 0, 0600);
    tf_end(&b);
    T_EQ_INT(run(&b, NULL, 1, &g), 0);
    struct stat st;
    char p[200];
    snprintf(p, sizeof p, "%s/top.sh", target);
    T_CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0755 && st.st_size == 10 &&
            st.st_mtime == 1700000000);
    snprintf(p, sizeof p, "%s/ro", target);
    T_CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0500);
    snprintf(p, sizeof p, "%s/ro/inner", target);
    T_CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0400);
    T_EQ_INT(g.n, 4);
    uint8_t d[32];
    hash_sha256_buf("inside", 6, d);
    T_CHECK(g.n >= 2 && !strcmp(g.names[1], "ro/inner") && !memcmp(g.f[1].sha256, d, 32) &&
            g.f[1].size == 6 && g.f[1].mode == 0400);
    T_CHECK(g.n >= 3 && g.f[2].type == '5' && !strcmp(g.names[2], "ro"));
    /* Truncated archive: finish refuses. */
    b.len -= 1024;
    tf_rm_rf(target); mkdir(target, 0700);
    T_EQ_INT(run(&b, NULL, 0, NULL), TAR_E_TRUNCATED);
    T_CHECK(outer_clean(NULL));
    /* A corrupt header is reported with the reader's reason. */
    b.len = 0;
    tf_file(&b, "f", "x", 1, 0644);
    b.p[0] ^= 1;
    tf_end(&b);
    tf_rm_rf(target); mkdir(target, 0700);
    T_EQ_INT(run(&b, NULL, 0, NULL), TAR_E_CHECKSUM);
    T_CHECK(strstr(last_err, "checksum") != NULL);
    T_CHECK(extract_new("/nonexistent/dir", NULL, NULL, NULL) == NULL);
    tb_free(&b);
    teardown();
}

/* A tar stream of one 256 MiB file of zeros, deflated: inflating it under
 * a 16 MiB cap stops with BOMB and the extraction sees at most the cap. */
typedef struct bomb_ctx { extract *x; int xrc; } bomb_ctx;
static int to_tbuf(void *ctx, const uint8_t *p, size_t n) { tb_put(ctx, p, n); return 0; }
static int to_extract(void *ctx, const uint8_t *p, size_t n)
{
    bomb_ctx *c = ctx;
    c->xrc = extract_feed(c->x, p, n);
    return c->xrc;
}

static void test_bomb(void)
{
    setup();
    tbuf hdr = { 0 }, z = { 0 };
    uint64_t size = 256ULL << 20;
    tf_header(&hdr, "zeros", '0', NULL, size, 0644);
    zstream *d = zstream_deflate_new(1);
    uint8_t *zeros = calloc(1, 1 << 20);
    T_EQ_INT(zstream_feed(d, hdr.p, hdr.len, 0, to_tbuf, &z), 0);
    for (uint64_t i = 0; i < size >> 20; i++)
        T_EQ_INT(zstream_feed(d, zeros, 1 << 20, 0, to_tbuf, &z), 0);
    T_EQ_INT(zstream_feed(d, zeros, 1024, 1, to_tbuf, &z), 0);
    zstream_free(d);

    bomb_ctx c = { extract_new(target, NULL, NULL, NULL), 0 };
    zstream *f = zstream_inflate_new(100, 16 << 20);
    int rc = 0;
    for (size_t off = 0; off < z.len && rc == 0; off += 65536)
        rc = zstream_feed(f, z.p + off, z.len - off < 65536 ? z.len - off : 65536, 0, to_extract, &c);
    T_EQ_INT(rc, ZCHUNK_E_BOMB);
    T_CHECK(zstream_total_out(f) <= (16u << 20));
    struct stat st;
    char p[200];
    snprintf(p, sizeof p, "%s/zeros", target);
    T_CHECK(stat(p, &st) == 0 && st.st_size <= (16 << 20));
    zstream_free(f);
    extract_free(c.x);
    free(zeros);
    tb_free(&hdr);
    tb_free(&z);
    T_CHECK(outer_clean(NULL));
    teardown();
}

int main(void)
{
    T_RUN(test_paths);
    T_RUN(test_symlinks);
    T_RUN(test_hardlinks);
    T_RUN(test_types);
    T_RUN(test_limits);
    T_RUN(test_replace);
    T_RUN(test_good_archive);
    T_RUN(test_bomb);
    return T_DONE();
}
