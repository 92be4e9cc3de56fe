/* test_store.c — the file store (store.c) and the one safe open beneath a
 * directory (fsutil_open_beneath): a symlink at every component, "..",
 * ".", empty and absolute paths refused; the deepest path allowed opens
 * and a 10,000-level tree is removed on a 64 KiB stack; an fd limit
 * costs no leak; a component swapped for a link in a loop never leads
 * outside; the run layout, publish, trash and start-up cleaning. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "master/store.h"
#include "runfix.h"
#include "t.h"

static char root[64];
static char outside[128];

static void mk(const char *rel, int dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    if (dir) T_CHECK(fsutil_mkdir_p(p, 0755) == 0);
    else T_CHECK(fsutil_write_atomic(p, "in", 2) == 0);
}

static int open_rel(const char *rel, unsigned flags)
{
    return fsutil_open_beneath_path(root, rel, flags);
}

static int opened(int fd)
{
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

static void test_plain_paths(void)
{
    mk("p/a/b/c", 1);
    mk("p/a/b/c/f.txt", 0);
    T_CHECK(opened(open_rel("p/a/b/c/f.txt", FSUTIL_FILE)));
    T_CHECK(opened(open_rel("p/a/b/c", FSUTIL_DIR)));
    T_CHECK(opened(open_rel("p/a/b/c/", FSUTIL_DIR)));       /* trailing slash */
    T_CHECK(opened(open_rel("", FSUTIL_DIR)));
    T_EQ_INT(open_rel("", FSUTIL_FILE), -EISDIR);
    T_EQ_INT(open_rel("p/a/b/c", FSUTIL_FILE), -EISDIR);
    T_EQ_INT(open_rel("p/a/b/c/f.txt", FSUTIL_DIR), -ENOTDIR);
    T_EQ_INT(open_rel("p/a/b/c/f.txt/x", FSUTIL_FILE), -ENOTDIR);
    T_EQ_INT(open_rel("p/a/nope/c", FSUTIL_DIR | FSUTIL_FILE), -ENOENT);
    T_CHECK(opened(open_rel("p/a/b/c", FSUTIL_DIR | FSUTIL_FILE)));
    static const char *bad[] = { "/etc/passwd", "..", "p/../p/a", "p/a/..", "./p", "p/./a",
                                 "p//a", "p/a/b/c/f.txt/..", NULL };
    for (int i = 0; bad[i]; i++) {
        int rc = open_rel(bad[i], FSUTIL_DIR | FSUTIL_FILE);
        if (rc != -EINVAL) printf("#   '%s' gave %d\n", bad[i], rc);
        T_EQ_INT(rc, -EINVAL);
    }
    char big[300];
    memset(big, 'n', sizeof big - 1);
    big[sizeof big - 1] = 0;
    T_EQ_INT(open_rel(big, FSUTIL_FILE), -EINVAL);           /* component over NAME_MAX */
    char *huge = malloc(FSUTIL_REL_MAX + 10);
    memset(huge, 'a', FSUTIL_REL_MAX + 9);
    huge[FSUTIL_REL_MAX + 9] = 0;
    T_EQ_INT(open_rel(huge, FSUTIL_FILE), -ENAMETOOLONG);
    free(huge);
    /* A FIFO and a socket-like special: refused, and the open never hangs. */
    char p[512];
    snprintf(p, sizeof p, "%s/p/fifo", root);
    T_CHECK(mkfifo(p, 0600) == 0);
    T_EQ_INT(open_rel("p/fifo", FSUTIL_FILE | FSUTIL_DIR), -EPERM);
}

/* Each component of s/a/b/c/f in turn replaced by a symlink to the real
 * thing (or to a copy outside): every one refused with -ELOOP. */
static void test_symlink_every_component(void)
{
    static const char *comps[] = { "s", "s/a", "s/a/b", "s/a/b/c", "s/a/b/c/f" };
    char real[512], link[512];
    for (size_t i = 0; i < sizeof comps / sizeof *comps; i++) {
        char rb[64];
        snprintf(rb, sizeof rb, "%s/s", root);
        fsutil_rm_rf(rb);
        mk("s/a/b/c", 1);
        mk("s/a/b/c/f", 0);
        snprintf(real, sizeof real, "%s/%s", root, comps[i]);
        snprintf(link, sizeof link, "%s.real", real);
        T_CHECK(rename(real, link) == 0);
        const char *slash = strrchr(link, '/');
        T_CHECK(symlink(slash + 1, real) == 0);              /* relative, inside */
        T_EQ_INT(open_rel("s/a/b/c/f", FSUTIL_FILE), -ELOOP);
        T_EQ_INT(open_rel(comps[i], FSUTIL_FILE | FSUTIL_DIR), -ELOOP);
        unlink(real);
        T_CHECK(symlink(outside, real) == 0);                /* absolute, outside */
        T_EQ_INT(open_rel("s/a/b/c/f", FSUTIL_FILE), -ELOOP);
    }
}

/* The deepest path the rule allows (2,048 one-byte components) opens on
 * a 64 KiB stack; a 10,000-level tree is removed there too. */
static void *deep_thread(void *arg)
{
    int *res = arg;
    size_t depth = FSUTIL_REL_MAX / 2;
    char *rel = malloc(FSUTIL_REL_MAX + 1);
    for (size_t i = 0; i < depth; i++) { rel[2 * i] = 'd'; rel[2 * i + 1] = '/'; }
    rel[2 * depth - 1] = 0;
    int fd = fsutil_open_beneath_path(root, rel, FSUTIL_DIR | FSUTIL_MKDIR);
    res[0] = fd >= 0;
    if (fd >= 0) close(fd);
    fd = fsutil_open_beneath_path(root, rel, FSUTIL_DIR);
    res[1] = fd >= 0;
    if (fd >= 0) close(fd);
    free(rel);
    char top[128];
    snprintf(top, sizeof top, "%s/d", root);
    res[2] = fsutil_rm_rf(top);
    /* 10,000 levels, made through fds (no path could name the bottom). */
    snprintf(top, sizeof top, "%s/deep", root);
    mkdir(top, 0755);
    int cur = open(top, O_RDONLY | O_DIRECTORY);
    for (int i = 0; i < 10000 && cur >= 0; i++) {
        mkdirat(cur, "x", 0755);
        int nfd = openat(cur, "x", O_RDONLY | O_DIRECTORY);
        close(cur);
        cur = nfd;
    }
    res[3] = cur >= 0;
    if (cur >= 0) {
        int f = openat(cur, "leaf", O_CREAT | O_WRONLY, 0600);
        if (f >= 0) close(f);
        close(cur);
    }
    return NULL;
}

static void test_deep(void)
{
    int res[4] = { 0, 0, -1, 0 };
    pthread_t th;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 * 1024);
    T_CHECK(pthread_create(&th, &a, deep_thread, res) == 0);
    pthread_join(th, NULL);
    pthread_attr_destroy(&a);
    T_CHECK(res[0] && res[1]);
    T_EQ_INT(res[2], 0);
    T_CHECK(res[3]);
    config cfg;
    config_defaults(&cfg);
    snprintf(cfg.files_dir, sizeof cfg.files_dir, "%s", root);
    char top[128], trash[CONFIG_PATH_MAX + 64];
    snprintf(top, sizeof top, "%s/deep", root);
    T_EQ_INT(store_trash(&cfg, top, NULL, 0, trash, sizeof trash), 0);
    struct stat st;
    T_CHECK(lstat(top, &st) < 0);
    T_EQ_INT(store_remove(trash), 0);
    T_CHECK(lstat(trash, &st) < 0);
}

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0) n++;
    return n;
}

/* Under an fd limit the walk needs two fds beyond what is open, and when
 * it cannot have them it says -EMFILE and leaks none. */
static void test_emfile(void)
{
    mk("e/1/2/3/4/5/6/7/8", 1);
    mk("e/1/2/3/4/5/6/7/8/f", 0);
    struct rlimit old, lim;
    getrlimit(RLIMIT_NOFILE, &old);
    int used = count_fds(), lowest = 0;
    while (fcntl(lowest, F_GETFD) >= 0) lowest++;
    int spare = fcntl(lowest + 1, F_GETFD) < 0 && fcntl(lowest + 2, F_GETFD) < 0;
    lim = old;
    lim.rlim_cur = (rlim_t)lowest + 3;      /* room for three: the dir, one step, the file */
    T_CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
    int fd = open_rel("e/1/2/3/4/5/6/7/8/f", FSUTIL_FILE);
    T_CHECK(!spare || fd >= 0);
    if (fd >= 0) close(fd);
    lim.rlim_cur = (rlim_t)lowest;          /* none */
    T_CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
    fd = open_rel("e/1/2/3/4/5/6/7/8/f", FSUTIL_FILE);
    T_EQ_INT(fd, -EMFILE);
    if (fd >= 0) close(fd);
    lim.rlim_cur = (rlim_t)lowest + 1;      /* the starting dir only: fails mid-walk */
    T_CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
    fd = fsutil_open_beneath_path(root, "e/1/2/3/4/5/6/7/8/f", FSUTIL_FILE);
    T_EQ_INT(fd, -EMFILE);
    if (fd >= 0) close(fd);
    setrlimit(RLIMIT_NOFILE, &old);
    T_EQ_INT(count_fds(), used);
}

/* A thread swaps r/a between a directory and a symlink to a directory
 * outside holding the same names; every open either fails or yields the
 * file inside, never the one outside. */
static atomic_int racing;

static void *swapper(void *arg)
{
    (void)arg;
    char dir[128], aside[128], lnk[128];
    snprintf(dir, sizeof dir, "%s/r/a", root);
    snprintf(aside, sizeof aside, "%s/r/a.dir", root);
    snprintf(lnk, sizeof lnk, "%s/r/a.lnk", root);
    for (int i = 0; i < 100000 && atomic_load(&racing); i++) {
        rename(dir, aside);
        rename(lnk, dir);          /* now a symlink */
        rename(dir, lnk);
        rename(aside, dir);        /* a directory again */
    }
    return NULL;
}

static void test_rename_race(void)
{
    char p[256], lnk[256];
    mk("r/a/b", 1);
    mk("r/a/b/f", 0);
    snprintf(p, sizeof p, "%s/b", outside);
    fsutil_mkdir_p(p, 0755);
    snprintf(p, sizeof p, "%s/b/f", outside);
    fsutil_write_atomic(p, "OUT", 3);
    struct stat out_st;
    stat(p, &out_st);
    snprintf(lnk, sizeof lnk, "%s/r/a.lnk", root);
    T_CHECK(symlink(outside, lnk) == 0);
    pthread_t th;
    atomic_store(&racing, 1);
    pthread_create(&th, NULL, swapper, NULL);
    int inside = 0, refused = 0, escaped = 0;
    for (int i = 0; i < 5000; i++) {
        int fd = open_rel("r/a/b/f", FSUTIL_FILE);
        if (fd < 0) { refused++; continue; }
        struct stat st;
        fstat(fd, &st);
        if (st.st_ino == out_st.st_ino && st.st_dev == out_st.st_dev) escaped++;
        else inside++;
        close(fd);
    }
    atomic_store(&racing, 0);
    pthread_join(th, NULL);
    printf("#   race: %d opened inside, %d refused, %d escaped\n", inside, refused, escaped);
    T_EQ_INT(escaped, 0);
    T_CHECK(inside > 0);
}

static void test_layout_publish_trash(void)
{
    config cfg;
    char err[256] = "", dir[CONFIG_PATH_MAX + 512], rel[512], staging[CONFIG_PATH_MAX + 64];
    config_defaults(&cfg);
    snprintf(cfg.files_dir, sizeof cfg.files_dir, "%s/files", root);
    fsutil_mkdir_p(cfg.files_dir, 0755);
    task_rec t;
    runfix_task(&t, "task-1-0000000000aa", "../alice", "train/../x", 1764340000000ull);
    T_EQ_INT(store_run_rel(&t, rel, sizeof rel), 0);
    printf("#   layout: %s\n", rel);
    T_CHECK(!strncmp(rel, "_._alice/train_.._x/20251128T142640Z/task-1-0000000000aa", 200) && !strstr(rel, "/../") && !strstr(rel, "/./"));
    T_EQ_INT(store_run_dir(&cfg, &t, dir, sizeof dir), 0);
    T_CHECK(!strncmp(dir, cfg.files_dir, strlen(cfg.files_dir)) && strstr(dir, rel));
    /* A private trash entry of an earlier run goes at start; a named one
     * (retention's) stays for its recovery; staging is emptied. */
    char priv[CONFIG_PATH_MAX + 64], named[CONFIG_PATH_MAX + 64], junk[CONFIG_PATH_MAX + 64];
    snprintf(priv, sizeof priv, "%s/.trash/.rm-1-1", cfg.files_dir);
    snprintf(named, sizeof named, "%s/.trash/task-9", cfg.files_dir);
    snprintf(junk, sizeof junk, "%s/.staging/task-8", cfg.files_dir);
    fsutil_mkdir_p(priv, 0700);
    fsutil_mkdir_p(named, 0700);
    fsutil_mkdir_p(junk, 0700);
    T_EQ_INT(store_init(&cfg, err, sizeof err), 0);
    struct stat st;
    T_CHECK(lstat(priv, &st) < 0 && lstat(named, &st) == 0 && lstat(junk, &st) < 0);
    /* No run yet. */
    T_EQ_INT(store_open(&cfg, &t, "", FSUTIL_DIR), -ENOENT);
    T_CHECK(!store_run_exists(&cfg, &t));
    /* Publish a staging tree. */
    store_staging_root(&cfg, staging, sizeof staging);
    strcat(staging, "/task-1-0000000000aa");
    T_CHECK(mkdir(staging, 0700) == 0);
    char f[CONFIG_PATH_MAX + 128];
    snprintf(f, sizeof f, "%s/out.txt", staging);
    fsutil_write_atomic(f, "hello", 5);
    T_EQ_INT(store_publish(&cfg, &t, staging, 1, err, sizeof err), 0);
    T_CHECK(lstat(staging, &st) < 0);
    T_CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0755);
    T_CHECK(store_run_exists(&cfg, &t));
    T_CHECK(opened(store_open(&cfg, &t, "out.txt", FSUTIL_FILE)));
    T_EQ_INT(store_open(&cfg, &t, "../out.txt", FSUTIL_FILE), -EINVAL);
    char why[256];
    store_open_why(-ELOOP, "evil/passwd", why, sizeof why);
    T_CHECK(strstr(why, "symbolic link") != NULL);
    /* A file record of the run. */
    file_rec *fr = calloc(1, sizeof *fr);
    T_EQ_INT(store_file_rec(&t, dir, "out.txt", fr), 0);
    T_EQ_STR(fr->task_id, t.task_id);
    T_EQ_STR(fr->file_name, "out.txt");
    T_CHECK(!strncmp(fr->file_path, dir, strlen(dir)));
    /* Opened by the record's own path, walked beneath its root; a path
     * that is not the layout's, or a link on the way, is refused. */
    T_CHECK(opened(store_open_rec(fr->file_path, &t, "out.txt", FSUTIL_FILE)));
    T_EQ_INT(store_open_rec(fr->file_path, &t, "other.txt", FSUTIL_FILE), -EINVAL);
    T_EQ_INT(store_open_rec("/etc/passwd", &t, "passwd", FSUTIL_FILE), -EINVAL);
    char lnk[CONFIG_PATH_MAX + 600];
    snprintf(lnk, sizeof lnk, "%s/sub", dir);
    T_EQ_INT(symlink("/etc", lnk), 0);
    T_EQ_INT(store_open_rec(fr->file_path, &t, "sub/passwd", FSUTIL_FILE), -EINVAL);
    store_file_rec(&t, dir, "sub/passwd", fr);
    T_EQ_INT(store_open_rec(fr->file_path, &t, "sub/passwd", FSUTIL_FILE), -ELOOP);
    T_EQ_INT(store_open_in(dir, "sub/passwd", FSUTIL_FILE), -ELOOP);
    T_CHECK(opened(store_open_in(dir, "out.txt", FSUTIL_FILE)));
    unlink(lnk);
    free(fr);
    /* Trash by name: out of the tree at once, removed later. */
    char trash[CONFIG_PATH_MAX + 64];
    T_EQ_INT(store_trash(&cfg, dir, t.task_id, 1, trash, sizeof trash), 0);
    T_CHECK(lstat(dir, &st) < 0 && lstat(trash, &st) == 0);
    T_EQ_INT(store_trash(&cfg, dir, t.task_id, 0, trash, sizeof trash), -ENOENT);
    T_EQ_INT(store_trash(&cfg, cfg.files_dir, "../x", 0, trash, sizeof trash), -EINVAL);
    T_EQ_INT(store_remove(trash), 0);
    T_CHECK(lstat(trash, &st) < 0);
    task_rec_free(&t);
}

typedef struct seen { char runs[8][512]; int nruns, nodd, nerr; } seen;

static int saw_run(void *ctx, const char *dir, const char *const parts[4])
{
    seen *w = ctx;
    if (w->nruns < 8)
        snprintf(w->runs[w->nruns], sizeof w->runs[0], "%s/%s/%s/%s", parts[0], parts[1], parts[2],
                 parts[3]);
    w->nruns++;
    return strstr(dir, parts[3]) ? 0 : -1;
}

static void saw_odd(void *ctx, const char *path, int code)
{
    seen *w = ctx;
    (void)path;
    if (code) w->nerr++; else w->nodd++;
}

/* The layout walk: every run in name order, dot-names at the top not
 * runs, a stray file named, a link to a directory not entered. */
static void test_each_run(void)
{
    char top[128], p[256];
    snprintf(top, sizeof top, "%s/layout", root);
    static const char *dirs[] = { "bob/b/20260101T000000Z/task-2", "alice/a/20260102T000000Z/task-1",
                                  "alice/a/20260101T000000Z/task-0", ".staging/x/y/z", NULL };
    for (int i = 0; dirs[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", top, dirs[i]);
        fsutil_mkdir_p(p, 0755);
    }
    snprintf(p, sizeof p, "%s/alice/stray.txt", top);
    fsutil_write_atomic(p, "x", 1);
    snprintf(p, sizeof p, "%s/alice/a/20260101T000000Z/link", top);
    symlink(outside, p);
    seen w;
    memset(&w, 0, sizeof w);
    T_EQ_INT(store_each_run(top, saw_run, saw_odd, &w), 0);
    T_EQ_INT(w.nruns, 3);
    T_EQ_STR(w.runs[0], "alice/a/20260101T000000Z/task-0");
    T_EQ_STR(w.runs[1], "alice/a/20260102T000000Z/task-1");
    T_EQ_STR(w.runs[2], "bob/b/20260101T000000Z/task-2");
    T_EQ_INT(w.nodd, 2);                   /* the stray file and the link */
    T_EQ_INT(w.nerr, 0);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_store.XXXXXX");
    if (!mkdtemp(root)) return 1;
    snprintf(outside, sizeof outside, "%s.outside", root);
    fsutil_mkdir_p(outside, 0755);
    T_RUN(test_plain_paths);
    T_RUN(test_symlink_every_component);
    T_RUN(test_deep);
    T_RUN(test_emfile);
    T_RUN(test_rename_race);
    T_RUN(test_layout_publish_trash);
    T_RUN(test_each_run);
    fsutil_rm_rf(root);
    fsutil_rm_rf(outside);
    return T_DONE();
}
