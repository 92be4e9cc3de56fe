/* extract.h — safe, streaming extraction of a tar stream into a directory
 * (DESIGN.md invariant 3). Every path is resolved component by component
 * with openat(O_NOFOLLOW) under the target's directory fd, so nothing is
 * written outside it or through a symlink. Refused (or, with a skip
 * callback, skipped one by one): absolute paths, "..", symlinks whose
 * target leaves the tree, hard links to anything not already extracted
 * here, device nodes, FIFOs, entries replacing existing ones of another
 * kind (a later regular file replaces an earlier file of the same name,
 * as in GNU tar: f->replaced says so), paths over the length limit.
 * Refused always: a malformed or truncated stream and anything over the
 * byte / file-count limits. Sparse files are written with holes.
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

/* An entry that cannot be stored safely, left out instead of refusing the
 * stream: a path that is absolute, holds "..", "." or an empty component,
 * or is over the length limit; a symlink whose target leaves the tree; a
 * hard link to anything not extracted here; a device, FIFO or unknown
 * type; an entry below a symlink or a file; an entry replacing another.
 * Integrity failures (a bad header, a truncated stream), the byte and
 * entry-count limits and I/O errors are never skipped. */
typedef struct extract_skip {
    const char *name;      /* the entry's path as the archive gives it */
    const char *reason;    /* short text, without the name */
    int code;              /* the TAR_E_* that would have refused the stream */
} extract_skip;

/* Return 0 to go on, or a negative code to stop the extraction with it. */
typedef int (*extract_skip_cb)(void *ctx, const extract_skip *s);

typedef struct extract extract;
/* dir must exist (the staging directory). on_file may be NULL. */
extract *extract_new(const char *dir, const extract_limits *lim, extract_cb on_file, void *ctx);
/* With on_skip set, unsafe entries (see extract_skip) are left out and
 * reported; without it (the default) the first one refuses the stream
 * with "refusing 'NAME': REASON". Call before the first extract_feed. */
void extract_set_skip(extract *x, extract_skip_cb on_skip, void *ctx);
/* Absolute symlink targets inside root (e.g. "/output"), root itself
 * excluded, are rewritten as the equivalent relative target before the
 * link is judged, so "latest -> /output/ckpt" is stored as
 * "latest -> ckpt". root is copied; NULL turns the rewrite off. */
int extract_set_link_root(extract *x, const char *root);
/* Feeds tar bytes; 0 or a negative TAR_E_* code (then extract_error says why). */
int extract_feed(extract *x, const uint8_t *p, size_t n);
/* As extract_feed, but p..p+n lies in a buffer of the caller's that the
 * hasher may go on reading: after a 0 return the caller must call
 * extract_swap_buffer with that buffer before changing it. After an error
 * nothing refers to p. */
int extract_feed_lent(extract *x, const uint8_t *p, size_t n);
/* After extract_feed_lent from buf (cap bytes, malloc'd): buf itself when
 * nothing of it was kept; otherwise the extract keeps buf (frees it in
 * extract_free) and returns a buffer of cap bytes the caller now owns,
 * waiting for the hasher when every one it holds is still in use. */
uint8_t *extract_swap_buffer(extract *x, uint8_t *buf, size_t cap);
/* Requires the archive end; fsyncs every file and directory written. */
int extract_finish(extract *x);
/* FILES_SHA256 (proto.txt 9) of the archive fed so far: the SHA-256 over
 * the SHA-256 of every regular file's content in archive order, files
 * left out included (their content is hashed, not stored). Call after
 * extract_finish; x NULL (nothing extracted) gives the digest of no files. */
void extract_files_sha256(extract *x, uint8_t out[32]);
/* Before the first feed: also compute FILES_CRC32C (version 3), the
 * CRC32C over each regular file's CRC32C (4 bytes, big-endian) in the same
 * order and with the same files as FILES_SHA256. */
void extract_want_crc(extract *x);
/* After extract_finish; x NULL gives that of no files (0). */
uint32_t extract_files_crc32c(const extract *x);
/* With extract_want_crc: the CRC32C of each big piece of file content in
 * a lent buffer (extract_feed_lent) is taken alone and passed to cb, in
 * stream order, so the caller can check its chunk from them
 * (chunk_rx_known) instead of in a pass of its own. */
typedef void (*extract_crc_cb)(void *ctx, const uint8_t *p, size_t n, uint32_t crc);
void extract_set_crc_report(extract *x, extract_crc_cb cb, void *ctx);
const char *extract_error(const extract *x);
uint64_t extract_bytes(const extract *x);
uint64_t extract_files(const extract *x);
void extract_free(extract *x);
#endif
