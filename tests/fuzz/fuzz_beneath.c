/* fuzz_beneath.c — fsutil_open_beneath's promise as a property, over a
 * fixed tree holding a symlink out, a symlink in, a FIFO and a file
 * outside: whatever the path, the open never yields the file outside or
 * anything reached through a link; what it opens is the node a plain
 * component-by-component lookup (no ".", "..", empty component, link)
 * finds; and it holds no fd afterwards. abort() if any of that fails. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

static int root = -1;
static struct stat outside;

static void setup(void)
{
    char dir[] = "/tmp/fuzz_beneath.XXXXXX";
    if (!mkdtemp(dir)) abort();
    char p[256];
    snprintf(p, sizeof p, "%s.out", dir);
    int fd = open(p, O_CREAT | O_WRONLY, 0600);
    if (fd < 0 || fstat(fd, &outside) < 0) abort();
    close(fd);
    root = open(dir, O_RDONLY | O_DIRECTORY);
    if (root < 0) abort();
    mkdirat(root, "a", 0755);
    mkdirat(root, "a/b", 0755);
    close(openat(root, "a/b/f", O_CREAT | O_WRONLY, 0600));
    close(openat(root, "g", O_CREAT | O_WRONLY, 0600));
    symlinkat(p, root, "out");             /* absolute, outside */
    symlinkat("a", root, "in");            /* relative, inside */
    symlinkat("../../..", root, "a/up");
    mkfifoat(root, "a/fifo", 0600);
}

/* The lookup the promise describes, with lstat at each step. */
static int expect(const char *rel, size_t len, struct stat *st)
{
    char buf[FSUTIL_REL_MAX + 2];
    if (len > FSUTIL_REL_MAX) return -ENAMETOOLONG;
    memcpy(buf, rel, len);
    buf[len] = 0;
    if (buf[0] == '/') return -EINVAL;      /* "/" too: absolute before anything */
    while (len > 0 && buf[len - 1] == '/') buf[--len] = 0;
    for (char *c = buf; *c; ) {
        char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 0 || n > 255 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return -EINVAL;
        c += n + (e ? 1 : 0);
        if (!e) break;
    }
    if (fstatat(root, len ? buf : ".", st, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (root < 0) setup();
    char *rel = malloc(size + 1);
    if (!rel) return 0;
    memcpy(rel, data, size);
    rel[size] = 0;
    size_t len = strlen(rel);
    int before = dup(0);
    if (before >= 0) close(before);
    int fd = fsutil_open_beneath(root, rel, FSUTIL_FILE | FSUTIL_DIR, NULL, NULL);
    struct stat got, want;
    if (fd >= 0) {
        if (fstat(fd, &got) < 0) abort();
        if (got.st_ino == outside.st_ino && got.st_dev == outside.st_dev) abort();
        if (!S_ISREG(got.st_mode) && !S_ISDIR(got.st_mode)) abort();
        int e = expect(rel, len, &want);
        if (e < 0 || want.st_ino != got.st_ino || S_ISLNK(want.st_mode)) abort();
        close(fd);
    } else if (fd == -EINVAL || fd == -ENAMETOOLONG) {
        if (expect(rel, len, &want) == 0 && len <= FSUTIL_REL_MAX) abort();
    }
    int after = dup(0);                    /* the lowest free fd: nothing leaked */
    if (after >= 0) close(after);
    if (before >= 0 && after != before) abort();
    free(rel);
    return 0;
}
