/* extract.h — safe, streaming extraction of a tar stream into a directory
 * (DESIGN.md invariant 3). Every path is resolved component by component
 * with openat(O_NOFOLLOW) under the target's directory fd, so nothing is
 * written outside it or through a symlink. Refused: absolute paths, "..",
 * symlinks whose target leaves the tree, hard links to anything not already
 * extracted here, device nodes, FIFOs, sockets, entries replacing existing
 * ones of another kind (a later regular file replaces an earlier file of
 * the same name, as in GNU tar: f->replaced says so), and anything over
 * the byte / file-count / path-length limits. Sparse files are written
 * with holes.
 * Regular files get mode & 0777 (no set-id bits). One owner, one thread. */
#ifndef CLOUDAI_EXTRACT_H
#define CLOUDAI_EXTRACT_H
#include <stdint.h>
#include <stddef.h>

typedef struct extract_limits {
    uint64_t max_bytes;    /* sum of file sizes; 0 = unlimited */
    uint64_t max_files;    /* entries of any kind; 0 = unlimited */
    size_t max_path;       /* bytes of a relative path; 0 = TAR_PATH_MAX */
} extract_limits;

/* One extracted entry, reported when its last byte is written. */
typedef struct extract_file {
    const char *name;      /* relative path */
    char type;             /* '0' file, '5' dir, '2' symlink, '1' hard link */
    uint64_t size;
    uint32_t mode;
    int64_t mtime;
    uint8_t sha256[32];    /* of the content (files and hard links) */
    int replaced;          /* a file of this name reported earlier is gone */
} extract_file;

typedef int (*extract_cb)(void *ctx, const extract_file *f);

typedef struct extract extract;
/* dir must exist (the staging directory). on_file may be NULL. */
extract *extract_new(const char *dir, const extract_limits *lim, extract_cb on_file, void *ctx);
/* Feeds tar bytes; 0 or a negative TAR_E_* code (then extract_error says why). */
int extract_feed(extract *x, const uint8_t *p, size_t n);
/* Requires the archive end; fsyncs every file and directory written. */
int extract_finish(extract *x);
const char *extract_error(const extract *x);
uint64_t extract_bytes(const extract *x);
uint64_t extract_files(const extract *x);
void extract_free(extract *x);
#endif
