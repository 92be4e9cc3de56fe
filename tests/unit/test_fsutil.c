/* test_fsutil.c — mkdir -p, atomic write/read round trips, rm -rf that
 * leaves symlink targets alone and copes with odd modes and deep trees. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "t.h"

static char root[64];

static void path(char *out, size_t cap, const char *rel)
{
    T_EQ_INT(fsutil_join(out, cap, root, rel), 0);
}

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static void touch(const char *p, const char *text)
{
    T_EQ_INT(fsutil_write_atomic(p, text, strlen(text)), 0);
}

static void test_mkdir_p(void)
{
    char p[PATH_MAX], f[PATH_MAX];
    struct stat st;
    path(p, sizeof p, "m/a/b//c/");
    T_EQ_INT(fsutil_mkdir_p(p, 0755), 0);
    T_CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    T_EQ_INT(fsutil_mkdir_p(p, 0755), 0);          /* existing is fine */
    path(f, sizeof f, "m/file");
    touch(f, "x");
    path(p, sizeof p, "m/file/sub");
    T_EQ_INT(fsutil_mkdir_p(p, 0755), -ENOTDIR);
    T_EQ_INT(fsutil_mkdir_p("", 0755), -EINVAL);
    path(p, sizeof p, "m");
    T_EQ_INT(fsutil_rm_rf(p), 0);
    T_CHECK(!exists(p));
}

static void test_write_read(void)
{
    char p[PATH_MAX], tmp[PATH_MAX + 8];
    char *data = NULL;
    size_t len = 99;
    path(p, sizeof p, "state.bin");
    const char bin[] = {'a', '\0', 'b', '\n', (char)0xff};
    T_EQ_INT(fsutil_write_atomic(p, bin, sizeof bin), 0);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    T_CHECK(!exists(tmp));
    T_EQ_INT(fsutil_read_file(p, &data, &len, 1024), 0);
    T_EQ_INT(len, sizeof bin);
    T_CHECK(data && memcmp(data, bin, sizeof bin) == 0 && data[len] == '\0');
    free(data);
    /* Overwrite with something longer, then shorter. */
    static char big[100000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    T_EQ_INT(fsutil_write_atomic(p, big, sizeof big), 0);
    T_EQ_INT(fsutil_read_file(p, &data, &len, sizeof big), 0);
    T_EQ_INT(len, sizeof big);
    T_CHECK(data && memcmp(data, big, sizeof big) == 0);
    free(data);
    T_EQ_INT(fsutil_read_file(p, &data, &len, sizeof big - 1), -EFBIG);
    T_CHECK(data == NULL);
    T_EQ_INT(fsutil_write_atomic(p, "", 0), 0);
    T_EQ_INT(fsutil_read_file(p, &data, &len, 0), 0);
    T_EQ_INT(len, 0);
    T_EQ_STR(data, "");
    free(data);
    T_EQ_INT(fsutil_read_file(p, &data, NULL, 16), 0);
    free(data);
    path(p, sizeof p, "missing");
    T_EQ_INT(fsutil_read_file(p, &data, &len, 16), -ENOENT);
    path(p, sizeof p, "nodir/x");
    T_EQ_INT(fsutil_write_atomic(p, "x", 1), -ENOENT);
    /* A relative path has "." as its directory. */
    char cwd[PATH_MAX];
    T_CHECK(getcwd(cwd, sizeof cwd) != NULL);
    T_CHECK(chdir(root) == 0);
    T_EQ_INT(fsutil_write_atomic("rel.txt", "r", 1), 0);
    T_CHECK(exists("rel.txt"));
    T_CHECK(chdir(cwd) == 0);
    /* The unsynced variant replaces whole contents the same way. */
    path(p, sizeof p, "note.txt");
    T_EQ_INT(fsutil_write_replace(p, "first version", 13), 0);
    T_EQ_INT(fsutil_write_replace(p, "v2", 2), 0);
    T_EQ_INT(fsutil_read_file(p, &data, &len, 64), 0);
    T_EQ_STR(data, "v2");
    free(data);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    T_CHECK(!exists(tmp));
    path(p, sizeof p, "nodir/y");
    T_EQ_INT(fsutil_write_replace(p, "y", 1), -ENOENT);
}

static void test_rm_rf_symlinks(void)
{
    char tree[PATH_MAX], outside[PATH_MAX], p[PATH_MAX], q[PATH_MAX];
    path(tree, sizeof tree, "tree");
    path(outside, sizeof outside, "outside");
    path(p, sizeof p, "outside/keep.txt");
    T_EQ_INT(fsutil_mkdir_p(outside, 0755), 0);
    touch(p, "precious");
    path(p, sizeof p, "tree/a/b/c");
    T_EQ_INT(fsutil_mkdir_p(p, 0755), 0);
    path(p, sizeof p, "tree/a/b/c/f.txt");
    touch(p, "f");
    path(p, sizeof p, "tree/a/link-dir");
    T_CHECK(symlink(outside, p) == 0);
    path(p, sizeof p, "tree/link-file");
    path(q, sizeof q, "outside/keep.txt");
    T_CHECK(symlink(q, p) == 0);
    path(p, sizeof p, "tree/dangling");
    T_CHECK(symlink("/nonexistent/x", p) == 0);
    /* Modes a task might leave: unreadable and unwritable directories. */
    path(p, sizeof p, "tree/locked/inner");
    T_EQ_INT(fsutil_mkdir_p(p, 0755), 0);
    path(p, sizeof p, "tree/locked/inner/ro.txt");
    touch(p, "ro");
    T_CHECK(chmod(p, 0400) == 0);
    path(p, sizeof p, "tree/locked/inner");
    T_CHECK(chmod(p, 0500) == 0);
    path(p, sizeof p, "tree/locked");
    T_CHECK(chmod(p, 0000) == 0);

    T_EQ_INT(fsutil_rm_rf(tree), 0);
    T_CHECK(!exists(tree));
    path(p, sizeof p, "outside/keep.txt");
    char *data = NULL;
    T_EQ_INT(fsutil_read_file(p, &data, NULL, 64), 0);
    T_EQ_STR(data, "precious");
    free(data);

    /* A symlink given directly is removed itself, not its target. */
    path(p, sizeof p, "link-to-outside");
    T_CHECK(symlink(outside, p) == 0);
    T_EQ_INT(fsutil_rm_rf(p), 0);
    T_CHECK(!exists(p));
    path(q, sizeof q, "outside/keep.txt");
    T_CHECK(exists(q));
    T_EQ_INT(fsutil_rm_rf(p), 0);                 /* missing is success */
    T_EQ_INT(fsutil_rm_rf(outside), 0);
    T_CHECK(!exists(outside));
}

/* Deeper than the open-directory budget: the remover must move subtrees up
 * rather than fail or run out of descriptors. */
static void test_rm_rf_deep(void)
{
    enum { DEPTH = 1000 };
    char top[PATH_MAX];
    path(top, sizeof top, "deep");
    T_EQ_INT(fsutil_mkdir_p(top, 0755), 0);
    int fd = open(top, O_RDONLY | O_DIRECTORY);
    T_CHECK(fd >= 0);
    int made = 0;
    for (int i = 0; i < DEPTH && fd >= 0; i++) {
        if (mkdirat(fd, "d", 0755) < 0)
            break;
        int f2 = openat(fd, "x", O_WRONLY | O_CREAT, 0644);
        if (f2 >= 0)
            close(f2);
        int nfd = openat(fd, "d", O_RDONLY | O_DIRECTORY);
        close(fd);
        fd = nfd;
        made++;
    }
    if (fd >= 0)
        close(fd);
    T_EQ_INT(made, DEPTH);
    T_EQ_INT(fsutil_rm_rf(top), 0);
    T_CHECK(!exists(top));
}

static void test_misc(void)
{
    char out[16];
    uint64_t fb = 0;
    T_EQ_INT(fsutil_fsync_dir(root), 0);
    T_EQ_INT(fsutil_fsync_dir("/nonexistent-dir-xyz"), -ENOENT);
    T_EQ_INT(fsutil_free_bytes(root, &fb), 0);
    T_CHECK(fb > 0);
    T_EQ_INT(fsutil_join(out, sizeof out, "a", "b"), 0);
    T_EQ_STR(out, "a/b");
    T_EQ_INT(fsutil_join(out, sizeof out, "a//", "/b"), 0);
    T_EQ_STR(out, "a/b");
    T_EQ_INT(fsutil_join(out, sizeof out, "/", "b"), 0);
    T_EQ_STR(out, "/b");
    T_EQ_INT(fsutil_join(out, sizeof out, "", "b"), 0);
    T_EQ_STR(out, "b");
    T_EQ_INT(fsutil_join(out, sizeof out, "a", ""), 0);
    T_EQ_STR(out, "a");
    T_EQ_INT(fsutil_join(out, sizeof out, "abcdefgh", "ijklmn"), 0);   /* 15 bytes */
    T_EQ_INT(fsutil_join(out, sizeof out, "abcdefgh", "ijklmno"), -ENAMETOOLONG);
    T_EQ_STR(out, "");
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_fsutil.XXXXXX");
    if (!mkdtemp(root)) {
        printf("not ok - mkdtemp\n");
        return 1;
    }
    T_RUN(test_mkdir_p);
    T_RUN(test_write_read);
    T_RUN(test_rm_rf_symlinks);
    T_RUN(test_rm_rf_deep);
    T_RUN(test_misc);
    int rc = fsutil_rm_rf(root);
    if (rc != 0)
        printf("not ok - cleanup: %d\n", rc);
    return T_DONE() || rc != 0;
}
