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
#include <zlib.h>

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

/* Extracts b into target in slices of `step` bytes (0 = whole), reporting
 * files to cb. Returns the first error of feed or finish. */
static int run_cb(const tbuf *b, const extract_limits *lim, size_t step, extract_cb cb, void *ctx)
{
    extract *x = extract_new(target, lim, cb, ctx);
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

static int run(const tbuf *b, const extract_limits *lim, size_t step, got *g)
{
    return run_cb(b, lim, step, g ? on_file : NULL, g);
}

typedef struct skips { int n; int code[16]; char name[16][128], reason[16][256]; } skips;
static int on_skip(void *ctx, const extract_skip *k)
{
    skips *s = ctx;
    if (s->n < 16) {
        s->code[s->n] = k->code;
        snprintf(s->name[s->n], sizeof s->name[0], "%s", k->name);
        snprintf(s->reason[s->n], sizeof s->reason[0], "%s", k->reason);
    }
    s->n++;
    return 0;
}

/* run() with a skip callback and a link root ("/output"); last_files gets
 * the extractor's FILES_SHA256. */
static uint8_t last_files[32];
static int run_skip(const tbuf *b, size_t step, got *g, skips *sk)
{
    extract *x = extract_new(target, NULL, g ? on_file : NULL, g);
    if (!x) return -1000;
    extract_set_skip(x, on_skip, sk);
    extract_set_link_root(x, "/output/");
    int rc = 0;
    for (size_t off = 0; off < b->len && rc == 0; ) {
        size_t k = step ? step : b->len;
        if (k > b->len - off) k = b->len - off;
        rc = extract_feed(x, b->p + off, k);
        off += k;
    }
    if (rc == 0) rc = extract_finish(x);
    snprintf(last_err, sizeof last_err, "%s", extract_error(x));
    extract_files_sha256(x, last_files);
    extract_free(x);
    return rc;
}

/* One hostile archive: expect `code`, a message containing `msg`, and a
 * clean OUTER. Then the same archive with a skip callback: no refusal,
 * the bad entry is skipped and reported, OUTER is still clean. */
static void hostile(tbuf *b, int code, const char *msg, const char *allowed)
{
    int rc = run(b, NULL, 1, NULL);
    T_EQ_INT(rc, code);
    if (msg && !strstr(last_err, msg)) {
        printf("#   message '%s' lacks '%s'\n", last_err, msg);
        t_failed_now = 1;
    }
    T_CHECK(outer_clean(allowed));
    skips sk = { 0 };
    rc = run_skip(b, 7, NULL, &sk);
    T_EQ_INT(rc, 0);
    T_CHECK(sk.n >= 1);
    if (rc || sk.n < 1) printf("#   skip mode: rc %d '%s', %d skipped\n", rc, last_err, sk.n);
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
    hostile(&b, TAR_E_LINK, "refusing 'link': symlink to", NULL);
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
    hostile(&b, TAR_E_LINK, "refusing 'h': hard link to", "secret");
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
    got g = { 0 };
    char p[200], buf[8] = { 0 };
    FILE *f;
    /* A later regular file wins, as in GNU tar; a hard link made before
     * keeps the earlier content; a directory may be announced again. */
    tf_file(&b, "a", "1", 1, 0644);
    tf_entry(&b, "d", '5', NULL);
    tf_entry(&b, "h", '1', "a");
    tf_file(&b, "a", "22", 2, 0600);
    tf_header(&b, "d", '5', NULL, 0, 0750);
    tf_file(&b, "h", "333", 3, 0644);   /* a file over a hard link */
    tf_end(&b);
    T_EQ_INT(run(&b, NULL, 1, &g), 0);
    T_EQ_INT(g.n, 6);
    T_CHECK(g.n == 6 && !g.f[0].replaced && g.f[3].replaced && g.f[3].size == 2 &&
            g.f[5].replaced && g.f[5].size == 3);
    snprintf(p, sizeof p, "%s/a", target);
    f = fopen(p, "r");
    T_CHECK(f && fread(buf, 1, 8, f) == 2 && !strcmp(buf, "22"));
    if (f) fclose(f);
    struct stat st;
    snprintf(p, sizeof p, "%s/d", target);
    T_CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0750);
    snprintf(p, sizeof p, "%s/h", target);
    T_CHECK(stat(p, &st) == 0 && st.st_size == 3 && st.st_nlink == 1);
    T_CHECK(outer_clean(NULL));
    b.len = 0;
    tf_rm_rf(target); mkdir(target, 0700);
    /* Replacing takes over the byte count: no double counting. */
    extract_limits lim = { 3, 0, 0 };
    tf_file(&b, "a", "12", 2, 0644);
    tf_file(&b, "a", "123", 3, 0644); tf_end(&b);
    T_EQ_INT(run(&b, &lim, 0, NULL), 0);
    b.len = 0;
    tf_rm_rf(target); mkdir(target, 0700);
    /* Type changes stay refused: a file by a symlink or a directory. */
    tf_file(&b, "a", "1", 1, 0644);
    tf_entry(&b, "a", '2', "b"); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, "another type", NULL);
    tf_rm_rf(target); mkdir(target, 0700);
    tf_file(&b, "a", "1", 1, 0644);
    tf_entry(&b, "a", '5', NULL); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, NULL, NULL);
    tf_rm_rf(target); mkdir(target, 0700);
    tf_entry(&b, "a", '5', NULL);
    tf_file(&b, "a", "1", 1, 0644); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, NULL, NULL);
    tf_rm_rf(target); mkdir(target, 0700);
    tf_entry(&b, "s", '2', "x");
    tf_file(&b, "s", "1", 1, 0644); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, NULL, NULL);
    tf_rm_rf(target); mkdir(target, 0700);
    /* Pre-existing entries in the target. */
    snprintf(p, sizeof p, "%s/pre", target);
    tf_write_file(p, "old", 3);
    tf_file(&b, "pre", "new", 3, 0644); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, NULL, NULL);
    snprintf(p, sizeof p, "%s/predir", target);
    mkdir(p, 0700);
    tf_entry(&b, "predir", '5', NULL); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, NULL, NULL);
    memset(buf, 0, sizeof buf);
    snprintf(p, sizeof p, "%s/pre", target);
    f = fopen(p, "r");
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
    tf_file(&b, "shared", "x", 1, 0666);   /* group/other write: a usual umask strips it at create */
    tf_end(&b);
    mode_t um = umask(022);
    T_EQ_INT(run(&b, NULL, 1, &g), 0);
    umask(um);
    struct stat st;
    char p[200];
    snprintf(p, sizeof p, "%s/shared", target);
    T_CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0666);
    snprintf(p, sizeof p, "%s/top.sh", target);
    T_CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0755 && st.st_size == 10 &&
            st.st_mtime == 1700000000);
    snprintf(p, sizeof p, "%s/empty", target);
    T_CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600);
    snprintf(p, sizeof p, "%s/ro", target);
    T_CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0500);
    snprintf(p, sizeof p, "%s/ro/inner", target);
    T_CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0400);
    T_EQ_INT(g.n, 5);
    uint8_t d[32];
    hash_sha256_buf("inside", 6, d);
    T_CHECK(g.n >= 2 && !strcmp(g.names[1], "ro/inner") && !memcmp(g.f[1].sha256, d, 32) &&
            g.f[1].size == 6 && g.f[1].mode == 0400);
    T_CHECK(g.n >= 3 && g.f[2].type == '5' && !strcmp(g.names[2], "ro"));
    /* Truncated archive (inside the last file's data): finish refuses. */
    b.len -= 1024 + 512 + 500;
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

/* Non-UTF-8 names are stored encoded (namecode.h), links follow; two raw
 * names meeting after encoding are a collision, never a replacement. */
static void test_non_utf8(void)
{
    setup();
    tbuf b = { 0 };
    got g = { 0 };
    char p[300], buf[8] = { 0 };
    tf_file(&b, "x\x80", "a", 1, 0644);
    tf_file(&b, "x\x81", "b", 1, 0644);
    tf_file(&b, "d\xff/f", "c", 1, 0644);
    tf_entry(&b, "l", '2', "x\x80");
    tf_entry(&b, "h", '1', "x\x81");
    tf_file(&b, "x\x80", "A", 1, 0644);   /* the same raw name again: later wins */
    tf_end(&b);
    T_EQ_INT(run(&b, NULL, 1, &g), 0);
    T_EQ_INT(g.n, 6);
    T_EQ_STR(g.names[0], "x\xef\x9e\x80");
    T_EQ_STR(g.names[1], "x\xef\x9e\x81");
    T_EQ_STR(g.names[2], "d\xef\x9f\xbf/f");
    T_CHECK(g.n == 6 && g.f[5].replaced && !strcmp(g.names[5], "x\xef\x9e\x80"));
    snprintf(p, sizeof p, "%s/l", target);
    FILE *f = fopen(p, "r");          /* the symlink reaches the encoded file */
    T_CHECK(f && fread(buf, 1, 4, f) == 1 && buf[0] == 'A');
    if (f) fclose(f);
    snprintf(p, sizeof p, "%s/h", target);
    f = fopen(p, "r");
    T_CHECK(f && fread(buf, 1, 4, f) == 1 && buf[0] == 'b');
    if (f) fclose(f);
    T_CHECK(!exists_in("x\x80") && exists_in("x\xef\x9e\x80") && exists_in("d\xef\x9f\xbf"));
    T_CHECK(outer_clean(NULL));
    /* "x" U+F780 written literally meets x\x80's encoding. */
    b.len = 0;
    tf_rm_rf(target); mkdir(target, 0700);
    tf_file(&b, "x\x80", "a", 1, 0644);
    tf_file(&b, "x\xef\x9e\x80", "b", 1, 0644); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, "another name in the archive is stored under this one", NULL);
    tf_rm_rf(target); mkdir(target, 0700);
    tf_file(&b, "x\xef\x9e\x80", "b", 1, 0644);
    tf_entry(&b, "x\x80", '2', "y"); tf_end(&b);
    hostile(&b, TAR_E_EXISTS, "another name", NULL);
    tb_free(&b);
    teardown();
}

/* ---- archives real tar implementations write -------------------------- */

static int have_gnu_tar(void)
{
    return system("tar --version 2>/dev/null | grep -q 'GNU tar'") == 0;
}

static int slurp(const char *path, tbuf *b)
{
    int fd = open(path, O_RDONLY);
    uint8_t buf[65536];
    ssize_t n;
    b->len = 0;
    if (fd < 0) return -1;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        tb_put(b, buf, (size_t)n);
    close(fd);
    return n < 0 ? -1 : 0;
}

static void put_at(const char *dir, const char *rel, off_t off, const char *data, off_t size)
{
    char p[300];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    if (fd < 0 || (data && pwrite(fd, data, strlen(data), off) < 0) ||
        (size >= 0 && ftruncate(fd, size) < 0)) {
        perror(p);
        exit(2);
    }
    close(fd);
}

/* Every regular file under ref has the same bytes at the same name under
 * target (and the reverse count matches): a recursive diff by GNU tools. */
/* Same names and bytes as GNU tar's extraction in ref, and each regular
 * file with the same permission bits and mtime to the nanosecond (a pax
 * mtime record, which bsdtar, Python and Go write, sets it). Directory
 * times are left out: GNU tar leaves some at the extraction time. */
static int same_tree(const char *ref)
{
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "diff -r --no-dereference '%s' '%s' >/dev/null 2>&1", ref, target);
    if (system(cmd) != 0) return 0;
    snprintf(cmd, sizeof cmd,
             "meta() { (cd \"$1\" && find . -type f -printf '%%P %%m %%T@\\n' | LC_ALL=C sort); }; "
             "meta '%s' > '%s.meta' && meta '%s' | diff '%s.meta' - | grep '^[<>]' | head -5 | "
             "sed 's/^/#   meta: /'; meta '%s' | cmp -s '%s.meta' -; r=$?; rm -f '%s.meta'; exit $r",
             ref, ref, target, ref, target, ref, ref);
    return system(cmd) == 0;
}

typedef struct sumcheck { int n, bad; char dir[100]; } sumcheck;
/* Each reported file's digest and size are those of the file on disk. */
static int check_sum(void *ctx, const extract_file *f)
{
    sumcheck *c = ctx;
    char p[400];
    uint8_t d[32];
    uint64_t size = 0;
    if (f->type != '0') return 0;
    snprintf(p, sizeof p, "%s/%s", c->dir, f->name);
    if (hash_sha256_file(p, d, &size) < 0 || size != f->size || memcmp(d, f->sha256, 32)) {
        printf("#   digest or size of '%s' differs from the file's\n", f->name);
        c->bad++;
    }
    c->n++;
    return 0;
}

/* GNU tar writes each sparse format; we read each into the same files GNU
 * tar extracts (real names, holes as zeros), with real holes on disk. */
static void test_gnu_sparse(void)
{
    if (!have_gnu_tar()) {
        T_SKIP(test_gnu_sparse, "GNU tar not installed");
        return;
    }
    setup();
    char src[100], ref[100], arch[120], cmd[600], p[300];
    snprintf(src, sizeof src, "%s.src", outer);
    snprintf(ref, sizeof ref, "%s.ref", outer);
    snprintf(arch, sizeof arch, "%s.tar", outer);
    mkdir(src, 0755);
    snprintf(p, sizeof p, "%s/d", src);
    mkdir(p, 0755);
    put_at(src, "hole_mid", 0, "head", -1);
    put_at(src, "hole_mid", (1 << 20) + 3, "tail", -1);
    put_at(src, "hole_end", 0, "start", 2 << 20);
    put_at(src, "all_hole", 0, NULL, 300000);
    put_at(src, "d/hole_start", 200000, "data at the end", -1);
    put_at(src, "plain.txt", 0, "not sparse\n", -1);
    /* 30 extents: more than the old-GNU header's 4 and one extension
     * block's 21, so two extension blocks. */
    for (int k = 0; k < 30; k++)
        put_at(src, "many", (off_t)k * 65536, k % 2 ? "odd" : "even", -1);
    put_at(src, "many", 0, NULL, 30 * 65536 + 100);
    static const char *fmts[] = {
        "--sparse --format=gnu",
        "--sparse --format=posix --sparse-version=0.0",
        "--sparse --format=posix --sparse-version=0.1",
        "--sparse --format=posix --sparse-version=1.0",
    };
    tbuf b = { 0 };
    for (size_t i = 0; i < sizeof fmts / sizeof *fmts; i++) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir '%s' && tar -C '%s' %s -cf '%s' . && "
                 "tar -C '%s' -xf '%s'", ref, ref, src, fmts[i], arch, ref, arch);
        T_EQ_INT(system(cmd), 0);
        T_EQ_INT(slurp(arch, &b), 0);
        /* The archive really is sparse (else this tests nothing). */
        T_CHECK(b.len < (1 << 20));
        const size_t steps[] = { 0, 1, 509 };
        for (size_t k = 0; k < 3; k++) {
            tf_rm_rf(target);
            mkdir(target, 0700);
            sumcheck c = { 0, 0, "" };
            snprintf(c.dir, sizeof c.dir, "%s", target);
            int rc = run_cb(&b, NULL, steps[k], check_sum, &c);
            if (rc) printf("#   %s, step %zu: %d %s\n", fmts[i], steps[k], rc, last_err);
            T_EQ_INT(rc, 0);
            T_CHECK(same_tree(ref));
            T_EQ_INT(c.n, 6);
            T_EQ_INT(c.bad, 0);
        }
        struct stat st;
        snprintf(p, sizeof p, "%s/hole_end", target);
        T_CHECK(stat(p, &st) == 0 && st.st_size == 2 << 20 && st.st_blocks * 512 < (1 << 20));
        snprintf(p, sizeof p, "%s/d/GNUSparseFile.0", target);
        T_CHECK(!exists_in("d/GNUSparseFile.0") && !exists_in("GNUSparseFile.0"));
        T_CHECK(outer_clean(NULL));
    }
    tb_free(&b);
    tf_rm_rf(src);
    tf_rm_rf(ref);
    unlink(arch);
    teardown();
}

/* pax mtime records (bsdtar, GNU tar --format=posix, Python, Go write
 * them where the header's field cannot hold the time) set the time to the
 * nanosecond, before 1970 and after 2242 too; one that does not parse
 * leaves the header's. tf_header's time is 1700000000. */
static void test_pax_mtime(void)
{
    static const struct { const char *name, *val; int64_t sec; long nsec; } c[] = {
        { "old", "-315619200", -315619200, 0 },
        { "neg_frac", "-1.25", -2, 750000000 },
        { "frac", "1700000000.123456789123", 1700000000, 123456789 },
        { "short_frac", "1350244992.5", 1350244992, 500000000 },
        { "future", "10413792000", 10413792000LL, 0 },
        { "garbage", "12x", 1700000000, 0 },
        { "overflow", "99999999999999999999999", 1700000000, 0 },
        { "empty", "", 1700000000, 0 },
        { "sign_only", "-", 1700000000, 0 },
    };
    setup();
    tbuf b = { 0 };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        tf_pax(&b, "mtime", c[i].val);
        tf_file(&b, c[i].name, "x", 1, 0644);
    }
    tf_pax(&b, "mtime", "-100.5");
    tf_header(&b, "dir/", '5', NULL, 0, 0755);
    tf_file(&b, "plain", "y", 1, 0644);     /* the record applied to one entry only */
    tf_end(&b);
    got g = { 0 };
    T_EQ_INT(run(&b, NULL, 7, &g), 0);
    struct stat st;
    char p[200];
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        snprintf(p, sizeof p, "%s/%s", target, c[i].name);
        int ok = stat(p, &st) == 0 && st.st_mtim.tv_sec == c[i].sec && st.st_mtim.tv_nsec == c[i].nsec;
        if (!ok) printf("#   %s: mtime %lld.%09ld, want %lld.%09ld\n", c[i].name,
                        (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (long long)c[i].sec, c[i].nsec);
        T_CHECK(ok);
        T_CHECK(i < (size_t)g.n && g.f[i].mtime == c[i].sec);
    }
    snprintf(p, sizeof p, "%s/dir", target);
    T_CHECK(stat(p, &st) == 0 && st.st_mtim.tv_sec == -101 && st.st_mtim.tv_nsec == 500000000);
    snprintf(p, sizeof p, "%s/plain", target);
    T_CHECK(stat(p, &st) == 0 && st.st_mtime == 1700000000 && st.st_mtim.tv_nsec == 0);
    tb_free(&b);
    teardown();
}

/* Go's archive/tar test corpus (tests/data/gotar/README): for each file,
 * the result GNU tar 1.34 gives. Accepted files must come out as GNU tar
 * extracts them (compared with `diff -r` against its extraction). */
typedef struct gocase {
    const char *file;
    int code;
    const char *why;
    uint64_t max_bytes;    /* 0: no limit */
} gocase;
static const gocase go_cases[] = {
    { "file-and-dir.tar", 0, NULL, 0 },
    { "gnu.tar", 0, NULL, 0 },
    { "gnu-incremental.tar", 0, "type 'D' dump directories read as directories", 0 },
    { "gnu-long-nul.tar", 0, NULL, 0 },
    { "gnu-multi-hdrs.tar", 0, "the last of repeated 'L'/'K' headers wins", 0 },
    { "gnu-nil-sparse-data.tar", 0, NULL, 0 },
    { "gnu-nil-sparse-hole.tar", 0, NULL, 0 },
    { "gnu-utf8.tar", 0, NULL, 0 },
    /* GNU tar writes the raw bytes; we store the namecode.h encoding */
    { "gnu-not-utf8.tar", 0, "no GNU tar comparison: the name is encoded", 0 },
    { "hardlink.tar", 0, NULL, 0 },
    { "invalid-go17.tar", 0, NULL, 0 },
    { "nil-uid.tar", 0, NULL, 0 },
    /* "mtime=999xxx9324.43...": the record is ignored, the header's time
     * stands; GNU tar takes the digits before the garbage (999) */
    { "pax-bad-mtime-file.tar", 0, "a malformed mtime record is ignored", 0 },
    { "pax-multi-hdrs.tar", 0, NULL, 0 },
    { "pax-nil-sparse-data.tar", 0, NULL, 0 },
    { "pax-nil-sparse-hole.tar", 0, NULL, 0 },
    { "pax-path-hdr.tar", 0, "a pax header for no entry: GNU tar ignores it", 0 },
    { "pax-pos-size-file.tar", 0, NULL, 0 },
    { "pax-records.tar", 0, NULL, 0 },
    { "pax.tar", 0, NULL, 0 },
    /* GNU tar 1.34 stops after the first file ("Unexpected EOF"); Go
     * reads all five: checked against Go's CRC-32s below. */
    { "sparse-formats.tar", 0, "no GNU tar comparison", 0 },
    { "star.tar", 0, NULL, 0 },
    { "trailing-slash.tar", 0, NULL, 0 },
    { "ustar-file-devs.tar", 0, NULL, 0 },
    { "ustar-file-reg.tar", 0, NULL, 0 },
    { "ustar.tar", 0, NULL, 0 },
    { "v7.tar", 0, NULL, 0 },
    { "writer.tar", 0, NULL, 0 },
    { "xattrs.tar", 0, NULL, 0 },
    /* GNU tar extracts a 60 GB sparse file; here the test's 1 GiB byte
     * limit refuses it (a sparse file counts at its real size). */
    { "gnu-sparse-big.tar", TAR_E_LIMIT, "60 GB real size over the 1 GiB limit", 1ULL << 30 },
    { "pax-sparse-big.tar", TAR_E_LIMIT, "60 GB real size over the 1 GiB limit", 1ULL << 30 },
    /* GNU tar fails on these too. */
    { "hdr-only.tar", TAR_E_TYPE, "a FIFO and devices (GNU tar makes them; we never do)", 0 },
    { "issue10968.tar", TAR_E_FORMAT, "garbage header", 0 },
    { "issue11169.tar", TAR_E_FORMAT, "a pax record longer than its header", 0 },
    { "issue12435.tar", TAR_E_FORMAT, "garbage number field", 0 },
    { "neg-size.tar", TAR_E_FORMAT, "negative size", 0 },
    { "pax-bad-hdr-file.tar", TAR_E_FORMAT, "pax record without its newline", 0 },
    { "pax-nul-xattrs.tar", TAR_E_FORMAT, "pax record without '='", 0 },
    { "writer-big.tar", TAR_E_TRUNCATED, "a 16 GiB file's header alone", 0 },
    { "writer-big-long.tar", TAR_E_TRUNCATED, "a 16 GiB file's header alone", 0 },
    /* GNU tar cuts the name at the NUL; we refuse an ambiguous name (as Go). */
    { "pax-nul-path.tar", TAR_E_PATH, "NUL inside a pax path", 0 },
    /* pax-global-records.tar: GNU tar fails (empty names) */
    { "pax-global-records.tar", TAR_E_FORMAT, "a global path record", 0 },
};

static void test_go_corpus(void)
{
    const char *dir = "tests/data/gotar";
    char path[300], ref[120], cmd[700];
    struct stat st;
    if (stat(dir, &st) < 0) {
        T_SKIP(test_go_corpus, "tests/data/gotar missing (run from the source tree)");
        return;
    }
    int gnu = have_gnu_tar();
    tbuf b = { 0 };
    setup();
    snprintf(ref, sizeof ref, "%s.ref", outer);
    for (size_t i = 0; i < sizeof go_cases / sizeof *go_cases; i++) {
        const gocase *c = &go_cases[i];
        snprintf(path, sizeof path, "%s/%s", dir, c->file);
        if (slurp(path, &b) < 0) {
            printf("#   %s: cannot read\n", path);
            t_failed_now = 1;
            continue;
        }
        tf_rm_rf(target);
        mkdir(target, 0700);
        extract_limits lim = { c->max_bytes, 0, 0 };
        int rc = run(&b, &lim, 0, NULL), rc1 = 0;
        if (rc != c->code) {
            printf("#   %s: %d (%s), expected %d (%s)\n", c->file, rc, last_err, c->code,
                   c->why ? c->why : "accepted");
            t_failed_now = 1;
        }
        if (c->code == 0 && rc == 0) {
            tf_rm_rf(target);
            mkdir(target, 0700);
            if ((rc1 = run(&b, &lim, 1, NULL)) != 0) {   /* byte by byte: same result */
                printf("#   %s: byte by byte: %d (%s)\n", c->file, rc1, last_err);
                t_failed_now = 1;
            }
            if (!strcmp(c->file, "sparse-formats.tar")) {
                static const struct { const char *name; uint32_t crc; } want[] = {
                    { "sparse-gnu", 0x5375e1d2 }, { "sparse-posix-0.0", 0x5375e1d2 },
                    { "sparse-posix-0.1", 0x5375e1d2 }, { "sparse-posix-1.0", 0x5375e1d2 },
                    { "end", 0x8eb179ba },
                };
                for (size_t k = 0; k < 5; k++) {
                    tbuf f = { 0 };
                    char fp[300];
                    snprintf(fp, sizeof fp, "%s/%s", target, want[k].name);
                    uint32_t crc = slurp(fp, &f) == 0 ? (uint32_t)crc32(0, f.p, (uInt)f.len) : 0;
                    if (crc != want[k].crc) {
                        printf("#   %s: CRC-32 %08x, Go says %08x\n", want[k].name, crc, want[k].crc);
                        t_failed_now = 1;
                    }
                    tb_free(&f);
                }
            } else if (!strcmp(c->file, "pax-bad-mtime-file.tar")) {
                char fp[300];
                snprintf(fp, sizeof fp, "%s/foo", target);
                T_CHECK(stat(fp, &st) == 0 && st.st_mtime == 1442282516 && st.st_size == 684);
            } else if (!strcmp(c->file, "gnu-not-utf8.tar")) {
                T_CHECK(exists_in("hi\xef\x9e\x80\xef\x9e\x81\xef\x9e\x82\xef\x9e\x83" "bye"));
            } else if (gnu) {
                snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir '%s' && tar -C '%s' -xf '%s' "
                         "2>/dev/null", ref, ref, ref, path);
                if (system(cmd) != 0 || !same_tree(ref)) {
                    printf("#   %s: differs from GNU tar's extraction\n", c->file);
                    t_failed_now = 1;
                }
            }
        }
        T_CHECK(outer_clean(NULL));
    }
    tf_rm_rf(ref);
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

static int on_stop(void *ctx, const extract_skip *k)
{
    (void)ctx; (void)k;
    return -77;
}

/* Skip mode: the unsafe entries are left out and named, everything else
 * is stored with the right bytes, and links into /output become relative. */
static void test_skip(void)
{
    setup();
    tbuf b = { 0 };
    got g = { 0 };
    skips sk = { 0 };
    char big[5000];
    memset(big, 'b', sizeof big);
    tf_file(&b, "ckpt-10.txt", "ten", 3, 0644);
    tf_entry(&b, "latest", '2', "/output/ckpt-10.txt");      /* -> ckpt-10.txt */
    tf_entry(&b, "d/up", '2', "/output/ckpt-10.txt");        /* -> ../ckpt-10.txt */
    tf_entry(&b, "pw", '2', "/etc/passwd");                  /* skipped */
    tf_entry(&b, "root", '2', "/output");                    /* skipped: the root */
    tf_entry(&b, "esc", '2', "/output/../etc/passwd");       /* skipped */
    tf_entry(&b, "pipe", '6', NULL);                         /* skipped */
    tf_file(&b, "../evil", big, sizeof big, 0644);           /* skipped, data dropped */
    tf_entry(&b, "hl", '1', "../evil");                      /* skipped */
    tf_file(&b, "after.txt", "after", 5, 0600);
    tf_end(&b);
    T_EQ_INT(run_skip(&b, 13, &g, &sk), 0);
    T_EQ_INT(sk.n, 6);
    static const char *const want[] = { "pw", "root", "esc", "pipe", "../evil", "hl" };
    for (int i = 0; i < 6 && i < sk.n; i++) {
        T_EQ_STR(sk.name[i], want[i]);
        T_CHECK(sk.reason[i][0] && !strstr(sk.reason[i], "refusing"));
    }
    T_EQ_INT(sk.code[3], TAR_E_TYPE);
    T_CHECK(strstr(sk.reason[3], "FIFO") != NULL);
    char p[300], buf[64];
    snprintf(p, sizeof p, "%s/latest", target);
    ssize_t n = readlink(p, buf, sizeof buf - 1);
    T_CHECK(n == 11 && !memcmp(buf, "ckpt-10.txt", 11));
    snprintf(p, sizeof p, "%s/d/up", target);
    n = readlink(p, buf, sizeof buf - 1);
    T_CHECK(n == 14 && !memcmp(buf, "../ckpt-10.txt", 14));
    T_CHECK(!exists_in("pw") && !exists_in("root") && !exists_in("esc") && !exists_in("pipe") &&
            !exists_in("hl"));
    snprintf(p, sizeof p, "%s/after.txt", target);
    FILE *f = fopen(p, "r");
    memset(buf, 0, sizeof buf);
    T_CHECK(f && fread(buf, 1, sizeof buf, f) == 5 && !strcmp(buf, "after"));
    if (f) fclose(f);
    /* Files and links reported to on_file; nothing skipped among them. */
    int seen_after = 0;
    for (int i = 0; i < g.n; i++) {
        T_CHECK(strcmp(g.names[i], "pipe") && strcmp(g.names[i], "hl"));
        if (!strcmp(g.names[i], "after.txt")) seen_after = g.f[i].size == 5;
    }
    T_CHECK(seen_after);
    T_CHECK(outer_clean(NULL));
    /* FILES_SHA256 covers every regular file the sender hashed, the one
     * left out ("../evil") too, in archive order. */
    uint8_t fs[3][32], want_files[32];
    hash_sha256_buf("ten", 3, fs[0]);
    hash_sha256_buf(big, sizeof big, fs[1]);
    hash_sha256_buf("after", 5, fs[2]);
    hash_sha256_buf(fs, sizeof fs, want_files);
    T_CHECK(memcmp(last_files, want_files, 32) == 0);

    /* A callback's negative answer stops the extraction with its code. */
    tf_rm_rf(target); mkdir(target, 0700);
    b.len = 0;
    tf_entry(&b, "pipe", '6', NULL); tf_end(&b);
    extract *x = extract_new(target, NULL, NULL, NULL);
    extract_set_skip(x, on_stop, NULL);
    T_EQ_INT(extract_feed(x, b.p, b.len), -77);
    extract_free(x);
    tb_free(&b);
    teardown();
}

/* Big files go through the hasher's queue in pieces of every size (feed
 * slices from 1 byte to past a chunk, so a file's small tail follows big
 * pieces still queued); the caller's buffer is scribbled over after each
 * feed, as a receiver reuses it. Each file's SHA-256 and the stream's
 * FILES_CRC32C must be those of the bytes. */
/* Files of pseudo-random bytes (seed r) across the hand-over's edges:
 * small, around a chunk, several chunks. want gets each one's SHA-256,
 * *list_crc the FILES_CRC32C of them all; returns an extractor (files to
 * g, FILES_CRC32C on) into a fresh target. */
static const size_t hq_sizes[] = { 5 * 1048576 + 17, 3, 300 * 1024, 1048576, 2 * 1048576 + 100 * 1024,
                                   128 * 1024 - 1, 4 * 1048576 };
enum { HQ_NF = sizeof hq_sizes / sizeof hq_sizes[0] };

static extract *hq_archive(tbuf *b, uint64_t r, uint8_t want[HQ_NF][32], uint32_t *list_crc, got *g)
{
    *list_crc = 0;
    for (size_t i = 0; i < HQ_NF; i++) {
        char *d = malloc(hq_sizes[i]), name[16];
        for (size_t k = 0; k < hq_sizes[i]; k++) {
            r ^= r << 13; r ^= r >> 7; r ^= r << 17;
            d[k] = (char)(r >> 11);
        }
        hash_sha256_buf(d, hq_sizes[i], want[i]);
        *list_crc = hash_crc32c_fold(*list_crc, hash_crc32c(0, d, hq_sizes[i]));
        snprintf(name, sizeof name, "f%zu", i);
        tf_file(b, name, d, hq_sizes[i], 0644);
        free(d);
    }
    tf_end(b);
    setup();
    extract *x = extract_new(target, NULL, on_file, g);
    T_CHECK(x != NULL);
    if (x) extract_want_crc(x);
    return x;
}

/* Finishes x after feeds that returned rc; every file's SHA-256 and the
 * FILES_CRC32C must be those hq_archive made. */
static void hq_check(extract *x, int rc, const got *g, uint8_t want[HQ_NF][32], uint32_t list_crc)
{
    if (rc == 0) rc = extract_finish(x);
    if (rc < 0) printf("# %s\n", extract_error(x));
    T_EQ_INT(rc, 0);
    T_EQ_INT(g->n, HQ_NF);
    for (int i = 0; i < g->n && i < HQ_NF; i++)
        T_CHECK(memcmp(g->f[i].sha256, want[i], 32) == 0);
    T_EQ_INT(extract_files_crc32c(x), list_crc);
}

static void test_hash_queue(void)
{
    enum { NF = HQ_NF };
    uint8_t want[NF][32];
    uint32_t list_crc;
    tbuf b = { 0 };
    got g = { 0 };
    extract *x = hq_archive(&b, 99, want, &list_crc, &g);
    uint8_t *slice = malloc(1 << 21);
    int rc = 0;
    for (size_t off = 0, step = 1; off < b.len && rc == 0; step = step * 5 % 1300021 + 1) {
        size_t k = b.len - off < step ? b.len - off : step;
        memcpy(slice, b.p + off, k);
        rc = extract_feed(x, slice, k);
        memset(slice, 0xa5, k);
        off += k;
    }
    hq_check(x, rc, &g, want, list_crc);
    extract_free(x);
    free(slice);
    tb_free(&b);
    teardown();
}

/* One frame as the master feeds it: k bytes copied into the lent buffer
 * *buf (cap bytes), fed, and the buffer traded back, which is then
 * scribbled over with `poison`, as a refill would. */
static int feed_lent_frame(extract *x, uint8_t **buf, size_t cap, const uint8_t *p, size_t k,
                           int poison)
{
    memcpy(*buf, p, k);
    int rc = extract_feed_lent(x, *buf, k);
    if (rc == 0) {
        *buf = extract_swap_buffer(x, *buf, cap);
        memset(*buf, poison, cap);
    }
    return rc;
}

static void count_report(void *ctx, const uint8_t *p, size_t n, uint32_t crc)
{
    (void)p;
    (void)crc;
    *(size_t *)ctx += n;
}

/* extract_feed_lent queues pieces of the caller's buffer without a copy;
 * extract_swap_buffer must hand back only a buffer the hasher is done
 * with: the caller scribbles over each one it gets before refilling it,
 * so a buffer traded too early shows as a wrong SHA-256. Slices of up to
 * a chunk, as frames bring them. */
static void test_lent_buffers(void)
{
    enum { NF = HQ_NF };
    enum { CAP = 1048576 + 4096 };
    uint8_t want[NF][32];
    uint32_t list_crc;
    tbuf b = { 0 };
    got g = { 0 };
    extract *x = hq_archive(&b, 7, want, &list_crc, &g);
    /* and the file CRCs taken piece by piece, folded with a combine */
    size_t reported = 0;
    extract_set_crc_report(x, count_report, &reported);
    uint8_t *buf = malloc(CAP), *seen[16];
    int rc = 0, nseen = 0;
    for (size_t off = 0, step = 1; off < b.len && rc == 0; step = step * 7 % 1048573 + 1) {
        size_t k = b.len - off < step ? b.len - off : step;
        rc = feed_lent_frame(x, &buf, CAP, b.p + off, k, 0xa5);
        if (rc == 0) {
            int known = 0;
            for (int i = 0; i < nseen; i++) known |= seen[i] == buf;
            if (!known && nseen < 16) seen[nseen++] = buf;
        }
        off += k;
    }
    hq_check(x, rc, &g, want, list_crc);
    /* Traded, not copied: more than one buffer went round, and a bounded set. */
    T_CHECK(nseen > 1 && nseen <= 4);   /* LEND_MAX + the caller's own */
    T_CHECK(reported > 0);
    extract_free(x);
    free(buf);
    tb_free(&b);
    teardown();
}

/* Many small files, fed as the master feeds them (lent buffers of a
 * chunk, traded back and scribbled over), so the hasher takes every
 * file's SHA-256 and the reports wait for it: every report must come in
 * archive order with its own file's digest, hard links with their
 * target's (the target's report may still be waiting when the link
 * comes), a replaced file with the later content, directories and
 * symlinks in their places; a file left out still counts in
 * FILES_SHA256. Enough files to fill the report queue several times. */
typedef struct rep_log { int n, cap; char (*name)[40]; char *type; uint8_t (*sha)[32]; int *repl; } rep_log;
static int log_file(void *ctx, const extract_file *f)
{
    rep_log *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->name = realloc(l->name, (size_t)l->cap * sizeof *l->name);
        l->type = realloc(l->type, (size_t)l->cap);
        l->sha = realloc(l->sha, (size_t)l->cap * sizeof *l->sha);
        l->repl = realloc(l->repl, (size_t)l->cap * sizeof *l->repl);
    }
    snprintf(l->name[l->n], sizeof l->name[0], "%s", f->name);
    l->type[l->n] = f->type;
    memcpy(l->sha[l->n], f->sha256, 32);
    l->repl[l->n] = f->replaced;
    l->n++;
    return 0;
}
static int skip_ok(void *ctx, const extract_skip *k)
{
    (void)k;
    ++*(int *)ctx;
    return 0;
}

static void test_small_files_async(void)
{
    enum { NF = 9000, CAP = 1048576 + 4096 };
    tbuf b = { 0 };
    rep_log want = { 0 }, got = { 0 };
    hash_sha256 list;
    uint32_t list_crc = 0;
    uint64_t r = 12345;
    char *d = malloc(300 * 1024);
    T_CHECK(hash_sha256_init(&list) == 0);
    for (int i = 0; i < NF; i++) {
        char name[40];
        extract_file f = { 0 };
        if (i % 1000 == 0) {
            snprintf(name, sizeof name, "d%d/", i / 1000);
            tf_entry(&b, name, '5', "");
            snprintf(name, sizeof name, "d%d", i / 1000);
            f.name = name; f.type = '5';
            log_file(&want, &f);
            continue;
        }
        int dir = i / 1000;
        if (i % 997 == 5 && i > 1000) {     /* a hard link to a file just before */
            char target[40];
            snprintf(name, sizeof name, "d%d/l%d", dir, i);
            snprintf(target, sizeof target, "%s", want.name[want.n - 1]);
            if (want.type[want.n - 1] != '0') continue;
            tf_entry(&b, name, '1', target);
            f.name = name; f.type = '1';
            memcpy(f.sha256, want.sha[want.n - 1], 32);
            log_file(&want, &f);
            continue;
        }
        if (i % 1500 == 7) {
            snprintf(name, sizeof name, "d%d/s%d", dir, i);
            tf_entry(&b, name, '2', "f1");
            f.name = name; f.type = '2';
            log_file(&want, &f);
            continue;
        }
        size_t n = i % 450 == 3 ? 200 * 1024 + (size_t)i : (size_t)(i * 7919 % 6000);
        for (size_t k = 0; k < n; k++) {
            r ^= r << 13; r ^= r >> 7; r ^= r << 17;
            d[k] = (char)(r >> 11);
        }
        /* the file before, again: replaces it */
        int again = i % 800 == 9 && want.type[want.n - 1] == '0';
        if (again) snprintf(name, sizeof name, "%s", want.name[want.n - 1]);
        else if (i % 2000 == 11) snprintf(name, sizeof name, "../out%d", i);   /* left out */
        else snprintf(name, sizeof name, "d%d/f%d", dir, i);
        tf_file(&b, name, d, n, 0644);
        uint8_t sha[32];
        hash_sha256_buf(d, n, sha);
        hash_sha256_update(&list, sha, 32);
        list_crc = hash_crc32c_fold(list_crc, hash_crc32c(0, d, n));
        if (name[0] == '.') continue;
        f.name = name; f.type = '0'; f.replaced = again;
        memcpy(f.sha256, sha, 32);
        log_file(&want, &f);
    }
    tf_end(&b);
    uint8_t want_list[32], got_list[32];
    hash_sha256_final(&list, want_list);
    free(d);

    setup();
    int nskip = 0;
    extract *x = extract_new(target, NULL, log_file, &got);
    T_CHECK(x != NULL);
    extract_want_crc(x);
    extract_set_skip(x, skip_ok, &nskip);
    uint8_t *buf = malloc(CAP);
    int rc = 0;
    for (size_t off = 0, step = 1048576 - 3; off < b.len && rc == 0; step = step == 1048576 - 3 ? 70001 : 1048576 - 3) {
        size_t k = b.len - off < step ? b.len - off : step;
        rc = feed_lent_frame(x, &buf, CAP, b.p + off, k, 0x5a);
        off += k;
    }
    if (rc == 0) rc = extract_finish(x);
    if (rc < 0) printf("# %s\n", extract_error(x));
    T_EQ_INT(rc, 0);
    T_EQ_INT(got.n, want.n);
    int bad = 0;
    for (int i = 0; i < got.n && i < want.n; i++) {
        if (strcmp(got.name[i], want.name[i]) || got.type[i] != want.type[i] ||
            got.repl[i] != want.repl[i] ||
            ((want.type[i] == '0' || want.type[i] == '1') && memcmp(got.sha[i], want.sha[i], 32))) {
            if (bad++ < 3) printf("#   report %d: '%s' %c, expected '%s' %c\n", i, got.name[i], got.type[i],
                                  want.name[i], want.type[i]);
        }
    }
    T_EQ_INT(bad, 0);
    T_CHECK(nskip > 0);
    extract_files_sha256(x, got_list);
    T_CHECK(memcmp(got_list, want_list, 32) == 0);
    T_EQ_INT(extract_files_crc32c(x), list_crc);
    extract_free(x);
    free(buf);
    free(want.name); free(want.type); free(want.sha); free(want.repl);
    free(got.name); free(got.type); free(got.sha); free(got.repl);
    tb_free(&b);
    teardown();
}

/* Zero blocks become holes: a file of data and zero runs at several
 * alignments ending in zeros, and a file of zeros alone, read back byte
 * for byte with their SHA-256, and take only their data's blocks. Fed in
 * odd slices, so runs straddle feeds. */
static void test_zero_holes(void)
{
    setup();
    enum { BIG = 8 << 20, ZOFF = (6 << 20) + 4096, ZLEN = BIG - ZOFF };
    uint8_t *a = calloc(1, BIG), *back = malloc(BIG);
    T_CHECK(a && back);
    if (!a || !back) { free(a); free(back); teardown(); return; }
    memset(a + 1, 'x', 5000);                      /* unaligned data */
    memset(a + (3 << 20) + 17, 'y', 3);            /* a few bytes inside zeros */
    memset(a + (6 << 20), 'z', 4096);              /* one aligned block, then zeros */
    tbuf b = { 0 };
    got g = { 0 };
    tf_header(&b, "mixed", '0', NULL, BIG, 0644);
    tb_put(&b, a, BIG);
    tb_pad(&b);
    tf_header(&b, "zeros", '0', NULL, ZLEN, 0644);
    tb_put(&b, a + ZOFF, ZLEN);
    tb_pad(&b);
    tf_file(&b, "small", "\0\0\0", 3, 0644);    /* under a block: written */
    tf_end(&b);
    T_EQ_INT(run(&b, NULL, 12345, &g), 0);
    static const char *names[] = { "mixed", "zeros" };
    static const size_t size[] = { BIG, ZLEN }, off[] = { 0, ZOFF };
    static const off_t most[] = { 64 * 1024, 0 };  /* mixed: 2 + 1 + 1 blocks of data */
    for (int f = 0; f < 2; f++) {
        char p[200];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", target, names[f]);
        int fd = open(p, O_RDONLY);
        T_CHECK(fd >= 0 && fstat(fd, &st) == 0 && (size_t)st.st_size == size[f]);
        size_t n = 0;
        for (ssize_t r; fd >= 0 && n < size[f] && (r = read(fd, back + n, size[f] - n)) > 0;)
            n += (size_t)r;
        if (fd >= 0) close(fd);
        T_CHECK(n == size[f] && !memcmp(back, a + off[f], size[f]));
        T_CHECK(st.st_blocks * 512 <= most[f]);
        if (st.st_blocks * 512 > most[f]) printf("#   %s: %lld bytes allocated\n", names[f], (long long)st.st_blocks * 512);
        uint8_t d[32];
        hash_sha256_buf(a + off[f], size[f], d);
        T_CHECK(g.n >= f + 1 && !memcmp(g.f[f].sha256, d, 32) && g.f[f].size == size[f]);
    }
    char p[200];
    struct stat st;
    snprintf(p, sizeof p, "%s/small", target);
    T_CHECK(stat(p, &st) == 0 && st.st_size == 3);
    tb_free(&b);
    free(a);
    free(back);
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
    T_RUN(test_non_utf8);
    T_RUN(test_gnu_sparse);
    T_RUN(test_zero_holes);
    T_RUN(test_go_corpus);
    T_RUN(test_pax_mtime);
    T_RUN(test_skip);
    T_RUN(test_hash_queue);
    T_RUN(test_lent_buffers);
    T_RUN(test_small_files_async);
    return T_DONE();
}
