/* tar.h — streaming ustar (POSIX.1-1988 + pax 'path'/'linkpath'/'size'
 * records) writer and reader. Neither ever holds more than a block or a
 * small header in memory. Functions return 0 or a negative TAR_E_* code and
 * fill err (if given) with a readable reason; none logs. */
#ifndef CLOUDAI_TAR_H
#define CLOUDAI_TAR_H
#include "err.h"   /* TAR_E_* codes: the tar band of the one error space */
#include <stddef.h>
#include <stdint.h>

/* 1 when rc says nothing about the archive (the same bytes may succeed
 * later: a resource ran out), 0 for a content error that would fail the
 * same way again. */
static inline int tar_error_retryable(int rc)
{
    return rc == TAR_E_RESOURCE || rc == TAR_E_NOMEM;
}

#define TAR_BLOCK 512
/* Map entries of one sparse file (GNU tar writes one per data extent). */
#define TAR_SPARSE_MAX 262144
#define TAR_PATH_MAX 4096
/* The one path rule, the same when storing and serving: an entry's path
 * relative to the run's top (no trailing "/") is at most TAR_NAME_MAX
 * bytes. The writer skips (and reports) longer ones, a directory with
 * everything below it; extraction skips them too; so anything stored can
 * be archived again, with or without a prefix in front. */
#define TAR_NAME_MAX (TAR_PATH_MAX - 1)

/* Writer: called with archive bytes in order; return 0 or negative to stop. */
typedef int (*tar_sink)(void *ctx, const uint8_t *p, size_t n);
/* Optional beside a sink: room in the sink's own buffer (at least 1 byte,
 * *avail of them) where the writer may read file data before passing that
 * very pointer to the sink, which then need not copy it. */
typedef uint8_t *(*tar_reserve_fn)(void *ctx, size_t *avail);
/* Optional beside reserve, with files_crc32c: the CRC32C of a big piece of
 * file data read into reserved room, taken alone (and folded into the
 * file's), given before that piece goes to the sink. */
typedef void (*tar_known_fn)(void *ctx, const uint8_t *p, size_t n, uint32_t crc);

typedef struct tar_stats {
    uint64_t files, dirs, symlinks;  /* entries written */
    uint64_t data_bytes;             /* sum of regular file sizes */
    uint64_t archive_bytes;          /* total archive length incl. end blocks */
    uint64_t skipped;                /* entries left out (see tar_skip_fn) */
} tar_stats;

/* An entry the writer leaves out: a path over TAR_NAME_MAX (for a
 * directory, its whole subtree, reported once), a FIFO, socket or device.
 * name is relative (may be long). A negative return stops the walk. */
typedef int (*tar_skip_fn)(void *ctx, const char *name, const char *reason);

typedef struct tar_write_opts {
    const char *exclude;             /* top-level name to leave out, or NULL */
    tar_skip_fn on_skip;             /* may be NULL: skipped silently */
    void *skip_ctx;
    const char *link_root;           /* absolute symlink targets under it are
                                        written relative (NULL = as found) */
    uint8_t *files_sha256;           /* NULL, or 32 bytes set when a write (not a
                                        measure) succeeds: the SHA-256 of the
                                        SHA-256s of the regular files' contents,
                                        in archive order (proto.txt 9,
                                        FILES_SHA256) */
    uint32_t *files_crc32c;          /* NULL, or set likewise (when files_sha256
                                        is NULL): the CRC32C of the files'
                                        CRC32Cs (proto.txt 9, FILES_CRC32C) */
    tar_reserve_fn reserve;          /* NULL, or the sink's buffer (above) */
    tar_known_fn known;              /* NULL, or the pieces' CRC32C (above) */
} tar_write_opts;

/* Walks root in sorted (deterministic) order and writes every entry under
 * it, names relative to root, directories before their content, with an
 * explicit stack and a bounded number of open fds (any depth). Regular
 * files, directories (with modes, mtimes), symlinks (recorded, never
 * followed); other types and paths over TAR_NAME_MAX are skipped
 * (st->skipped). Names over 100
 * bytes use the prefix field, over 255 bytes a pax 'path' record; sizes
 * >= 8 GiB a pax 'size' record. Ends with two zero blocks. exclude (may be
 * NULL) is a top-level name to leave out. */
int tar_write_dir(const char *root, const char *exclude, tar_sink sink, void *ctx,
                  tar_stats *st, char *err, size_t errcap);
/* tar_write_dir with options; sink NULL measures instead (the exact size,
 * skipping and reporting the same entries). */
int tar_write_dir_opts(const char *root, const tar_write_opts *o, tar_sink sink, void *ctx,
                       tar_stats *st, char *err, size_t errcap);
/* tar_write_dir_opts of the directory open on dirfd (the caller's; one
 * opened beneath a store root without following links, store_open). */
int tar_write_dir_fd(int dirfd, const tar_write_opts *o, tar_sink sink, void *ctx, tar_stats *st,
                     char *err, size_t errcap);
/* Same walk, no reading of contents: the exact archive size the writer will
 * produce (st->archive_bytes) if nothing changes in between. */
int tar_measure_dir(const char *root, const char *exclude, tar_stats *st,
                    char *err, size_t errcap);

/* Added for partial downloads and multi-run archives. Like tar_write_dir,
 * but names start with prefix "/" (prefix NULL or "" = none; the prefix
 * gets its own directory entry), and only sub is written (a relative path
 * under root, each component opened with O_NOFOLLOW, "." and ".."
 * refused; a file or a whole directory, under its full relative name,
 * with an entry for each parent directory; NULL or "" = everything).
 * end = 0 leaves out the two end blocks so several trees can share one
 * archive; tar_write_end writes them. */
int tar_write_tree(const char *root, const char *sub, const char *prefix, int end,
                   tar_sink sink, void *ctx, tar_stats *st, char *err, size_t errcap);
int tar_measure_tree(const char *root, const char *sub, const char *prefix, int end,
                     tar_stats *st, char *err, size_t errcap);
/* The same beneath the directory open on rootfd (the caller's; the walk
 * reads a description of its own): a run opened with store_open, so no
 * component from the store's root down is a link. */
int tar_write_tree_fd(int rootfd, const char *sub, const char *prefix, int end, tar_sink sink,
                      void *ctx, tar_stats *st, char *err, size_t errcap);
int tar_measure_tree_fd(int rootfd, const char *sub, const char *prefix, int end, tar_stats *st,
                        char *err, size_t errcap);
int tar_write_end(tar_sink sink, void *ctx);
/* For content that comes from elsewhere (an object store): one entry's
 * header(s) (name as it goes into the archive: a directory ends in "/",
 * type '5'; a file is '0'), counted in st (may be NULL; sink NULL only
 * counts). The caller then sends exactly size bytes and tar_write_pad. */
int tar_write_header(tar_sink sink, void *ctx, tar_stats *st, const char *name, char type,
                     uint32_t mode, uint64_t size, int64_t mtime, char *err, size_t errcap);
int tar_write_pad(tar_sink sink, void *ctx, tar_stats *st, uint64_t size);
/* An absolute link target inside root ("/output/a/b"), seen from the
 * entry name ("d/link"), as the equivalent relative target ("../a/b"),
 * written to buf; anything else (root NULL or "", a target outside root,
 * root itself, no room) is returned unchanged for the caller to judge. */
const char *tar_link_relative(const char *root, const char *name, const char *target,
                              char *buf, size_t cap);

/* Reader. Entry types: '0' file, '5' directory, '2' symlink, '1' hard
 * link, and anything else as found (the consumer decides). A GNU sparse
 * file (old-GNU 'S', pax GNU.sparse 0.0/0.1/1.0) is a '0' entry with its
 * real name and size; its content comes in order, holes through ops.hole.
 * End of input is accepted after the end blocks, or at a header boundary
 * with every entry complete (as GNU tar does); see tar_reader.c. */
typedef struct tar_entry {
    const char *name;       /* normalised: no leading "./", no trailing "/" */
    const char *linkname;   /* for '1' and '2', else "" */
    char type;
    uint32_t mode;
    uint64_t size;
    int64_t mtime;          /* seconds since the epoch (negative: before) */
    uint32_t mtime_nsec;    /* from a pax mtime's fraction, else 0 */
} tar_entry;

typedef struct tar_reader_ops {
    int (*entry)(void *ctx, const tar_entry *e);            /* header seen */
    int (*data)(void *ctx, const uint8_t *p, size_t n);    /* file bytes */
    int (*entry_end)(void *ctx, const tar_entry *e);       /* all bytes seen */
    /* n bytes of zeros in a sparse file; NULL: they come through data,
     * in slices (then the consumer must bound e->size itself). */
    int (*hole)(void *ctx, uint64_t n);
} tar_reader_ops;

typedef struct tar_reader tar_reader;
/* max_path bounds names (and pax records) before they are buffered. */
tar_reader *tar_reader_new(const tar_reader_ops *ops, void *ctx, size_t max_path);
void tar_reader_free(tar_reader *r);
/* Accepts the archive in slices of any size, down to one byte. A callback's
 * negative return stops the reader and is returned. */
int tar_reader_feed(tar_reader *r, const uint8_t *p, size_t n);
/* 0 if the archive is complete: its end blocks were seen, or input ended
 * at a header boundary after whole entries; else TAR_E_TRUNCATED (inside a
 * header, an extended header or an entry's data; or no byte at all). */
int tar_reader_finish(tar_reader *r);
const char *tar_reader_error(const tar_reader *r);
#endif
