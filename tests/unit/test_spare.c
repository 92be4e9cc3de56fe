/* test_spare.c — the worker's recycled inodes (src/worker/spare.c): a
 * dropped file or empty directory comes back as the same inode, emptied;
 * a directory with anything in it is removed, never kept; the pool is
 * bounded; a new pool sweeps what a previous run left; writes through a
 * spare replace the file whole. On a real directory in /tmp. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "worker/spare.h"
#include "t.h"

static char root[64];

static void at(char *out, size_t cap, const char *rel)
{
    T_EQ_INT(fsutil_join(out, cap, root, rel), 0);
}

static ino_t ino_of(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0 ? st.st_ino : 0;
}

static long long size_of(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0 ? (long long)st.st_size : -1;
}

/* Entries in root whose names start with ".spare-". */
static int spares_on_disk(void)
{
    int n = 0;
    DIR *d = opendir(root);
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += !strncmp(e->d_name, ".spare-", 7);
    if (d) closedir(d);
    return n;
}

static void test_file_recycled(void)
{
    spare_pool p;
    char a[PATH_MAX], b[PATH_MAX];
    T_EQ_INT(spare_init(&p, root), 0);
    at(a, sizeof a, "t1.log");
    at(b, sizeof b, "t2.log");
    T_EQ_INT(spare_file(&p, a), 0);               /* none yet: created */
    T_EQ_INT(fsutil_write_replace(a, "x", 1), 0); /* a new inode, like a task's */
    int fd = open(a, O_WRONLY | O_APPEND);
    T_CHECK(fd >= 0 && write(fd, "hello", 5) == 5);
    if (fd >= 0) close(fd);
    ino_t ia = ino_of(a);
    spare_drop_file(&p, a);
    T_CHECK(ino_of(a) == 0);
    T_EQ_INT(spares_on_disk(), 1);
    T_EQ_INT(spare_file(&p, b), 0);
    T_CHECK(ino_of(b) == ia);                     /* the same inode ... */
    T_EQ_INT(size_of(b), 0);                      /* ... emptied */
    T_EQ_INT(spares_on_disk(), 0);
    /* A file in the way is replaced by the fresh empty one. */
    T_EQ_INT(fsutil_write_replace(a, "old", 3), 0);
    spare_drop_file(&p, b);
    T_EQ_INT(spare_file(&p, a), 0);
    T_EQ_INT(size_of(a), 0);
    unlink(a);
    spare_free(&p);
    T_EQ_INT(spares_on_disk(), 0);
}

static void test_write_replace(void)
{
    spare_pool p;
    char a[PATH_MAX], r[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    T_EQ_INT(spare_init(&p, root), 0);
    at(a, sizeof a, "note");
    at(r, sizeof r, "t.result");
    T_EQ_INT(fsutil_write_replace(a, "0123456789", 10), 0);
    ino_t ia = ino_of(a);
    spare_drop_file(&p, a);
    T_EQ_INT(fsutil_write_replace(r, "previous content, longer", 24), 0);
    T_EQ_INT(spare_write_replace(&p, r, "status=3\n", 9), 0);
    T_CHECK(ino_of(r) == ia);
    T_EQ_INT(fsutil_read_file(r, &text, &len, 100), 0);
    T_EQ_INT(len, 9);
    T_CHECK(text && !memcmp(text, "status=3\n", 9));
    free(text);
    /* With no spare left: the plain way, same result. */
    T_EQ_INT(spare_write_replace(&p, r, "status=4\n", 9), 0);
    T_EQ_INT(size_of(r), 9);
    T_EQ_INT(spare_write_replace(NULL, r, "s", 1), 0);
    T_EQ_INT(size_of(r), 1);
    unlink(r);
    spare_free(&p);
}

/* Notes are rewritten over their old bytes, never truncated to 0 (on
 * ext4 that makes the close write the data back at once); a note written
 * again stays the same inode (a rename over it would free one per task);
 * a big dropped file (a log) is emptied. */
static void test_notes(void)
{
    spare_pool p;
    char a[PATH_MAX], b[PATH_MAX], big[8192];
    char *text = NULL;
    size_t len = 0;
    T_EQ_INT(spare_init(&p, root), 0);
    at(a, sizeof a, "t.pgid");
    at(b, sizeof b, "t.log");
    T_EQ_INT(spare_rewrite(&p, a, "0 0 /cg\n", 8), 0);     /* none there: written */
    ino_t ia = ino_of(a);
    T_EQ_INT(spare_rewrite(&p, a, "12345 678 /cg\n", 14), 0);
    T_CHECK(ino_of(a) == ia);
    T_EQ_INT(spare_rewrite(&p, a, "9 9 /c\n", 7), 0);      /* shorter: cut */
    T_CHECK(ino_of(a) == ia);
    T_EQ_INT(fsutil_read_file(a, &text, &len, 100), 0);
    T_CHECK(len == 7 && text && !memcmp(text, "9 9 /c\n", 7));
    free(text);
    spare_drop_file(&p, a);                  /* a note: kept with its bytes */
    T_EQ_INT(spares_on_disk(), 1);
    T_EQ_INT(spare_write_replace(&p, a, "1 2 /x\n", 7), 0);
    T_CHECK(ino_of(a) == ia);
    T_EQ_INT(size_of(a), 7);
    memset(big, 'l', sizeof big);
    T_EQ_INT(fsutil_write_replace(b, big, sizeof big), 0);
    ino_t ib = ino_of(b);
    spare_drop_file(&p, b);                  /* bigger than a note: emptied */
    spare_drop_file(&p, a);
    T_EQ_INT(spare_file(&p, b), 0);          /* an empty one first */
    T_CHECK(ino_of(b) == ib);
    T_EQ_INT(size_of(b), 0);
    unlink(b);
    T_EQ_INT(spare_file(&p, b), 0);          /* then a note, emptied */
    T_CHECK(ino_of(b) == ia);
    T_EQ_INT(size_of(b), 0);
    unlink(b);
    spare_free(&p);
    T_EQ_INT(spares_on_disk(), 0);
}

static void test_dirs(void)
{
    spare_pool p;
    char d1[PATH_MAX], d2[PATH_MAX], f[PATH_MAX], d3[PATH_MAX];
    T_EQ_INT(spare_init(&p, root), 0);
    at(d1, sizeof d1, "task-a.1");
    at(d2, sizeof d2, "task-b.1");
    at(d3, sizeof d3, "task-c.1");
    T_EQ_INT(spare_dir(&p, d1, 0777), 0);
    ino_t i1 = ino_of(d1);
    spare_drop_dir(&p, d1);                       /* empty: kept */
    T_CHECK(ino_of(d1) == 0);
    T_EQ_INT(spares_on_disk(), 1);
    T_EQ_INT(spare_dir(&p, d2, 0777), 0);
    T_CHECK(ino_of(d2) == i1);
    /* Anything in it: removed, never kept for another task. */
    at(f, sizeof f, "task-b.1/out.txt");
    T_EQ_INT(fsutil_write_replace(f, "data", 4), 0);
    spare_drop_dir(&p, d2);
    T_CHECK(ino_of(d2) == 0);
    T_EQ_INT(spares_on_disk(), 0);
    T_EQ_INT(spare_dir(&p, d3, 0777), 0);         /* none left: made */
    struct stat st;
    T_CHECK(stat(d3, &st) == 0 && S_ISDIR(st.st_mode));
    rmdir(d3);
    spare_free(&p);
}

static void test_bounded_and_swept(void)
{
    spare_pool p;
    char a[PATH_MAX];
    T_EQ_INT(spare_init(&p, root), 0);
    for (int i = 0; i < SPARE_MAX + 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        at(a, sizeof a, name);
        T_EQ_INT(fsutil_write_replace(a, "x", 1), 0);
    }
    for (int i = 0; i < SPARE_MAX + 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        at(a, sizeof a, name);
        spare_drop_file(&p, a);
        T_CHECK(ino_of(a) == 0);
    }
    T_EQ_INT(spares_on_disk(), SPARE_MAX);
    /* A worker killed with spares on disk: the next pool sweeps them. */
    spare_pool q;
    T_EQ_INT(spare_init(&q, root), 0);
    T_EQ_INT(spares_on_disk(), 0);
    spare_free(&q);
    /* p's spares are gone from under it: taking one falls back to create. */
    at(a, sizeof a, "after");
    T_EQ_INT(spare_file(&p, a), 0);
    T_EQ_INT(size_of(a), 0);
    unlink(a);
    spare_free(&p);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/cai-spare-XXXXXX");
    if (!mkdtemp(root)) {
        printf("not ok - mkdtemp\n");
        return 1;
    }
    T_RUN(test_file_recycled);
    T_RUN(test_write_replace);
    T_RUN(test_notes);
    T_RUN(test_dirs);
    T_RUN(test_bounded_and_swept);
    fsutil_rm_rf(root);
    return T_DONE();
}
