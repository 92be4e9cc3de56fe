/* journal.h — the append-only record file under the embedded metadata
 * store (DESIGN.md "Embedded default store", STYLE.md item 9).
 *
 * File layout, all integers little-endian:
 *
 *   offset 0   8 bytes  magic "CLDJRNL1"
 *          8   u32      format version (JOURNAL_VERSION)
 *         12   u32      generation: bumped by every compaction; a snapshot
 *                       of generation G holds every change of the journals
 *                       of generations below G
 *         16   records, back to back:
 *                u32  body length in bytes (1..JOURNAL_REC_MAX)
 *                u32  zlib crc32 of the body
 *                body (for the metadata store: one BSON document)
 *
 * The journal knows nothing about what a body means; the caller's replay
 * callback decides whether a body is acceptable. Snapshots use the very
 * same format. Functions return 0 or a negative JOURNAL_E_* code (the same
 * numbers as META_E_*, so meta can pass them through) and fill err. */
#ifndef CLOUDAI_JOURNAL_H
#define CLOUDAI_JOURNAL_H
#include "err.h"   /* JOURNAL_E_* codes: the meta band of the one error space */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JOURNAL_MAGIC "CLDJRNL1"
#define JOURNAL_VERSION 1u
#define JOURNAL_HDR_SIZE 16u
#define JOURNAL_REC_HDR_SIZE 8u
#define JOURNAL_REC_MAX (1u << 30)  /* hard limit checked before any allocation */

typedef struct journal journal;

/* Called once per intact record during replay; body is valid only during
 * the call. Return 0 to accept, or a negative code (META_E_CORRUPT,
 * META_E_NOMEM) to declare the record invalid. */
typedef int (*journal_rec_cb)(void *ctx, const uint8_t *body, size_t len);

/* Replaceable write primitive (pwrite semantics) so tests can inject a full
 * disk or a short write. NULL restores pwrite. Process-wide, not
 * thread-safe: set it before the journals under test are used. */
typedef ssize_t (*journal_write_fn)(int fd, const void *buf, size_t len, off_t off);
void journal_set_write_hook(journal_write_fn fn);
/* Replaceable fdatasync, for tests of a slow or failing disk (as the write
 * hook). NULL restores fdatasync. journal_datasync is what every journal
 * fdatasync goes through (meta_journal's group commit too). */
typedef int (*journal_sync_fn)(int fd);
void journal_set_sync_hook(journal_sync_fn fn);
int journal_datasync(int fd);

/* What a replay found, for logs and `master --check`. */
#define JOURNAL_TAIL_OK 0       /* the file ends on a record boundary */
#define JOURNAL_TAIL_TORN 1     /* an incomplete last record (header or body running past the
                                 * end, or zeros never written): an interrupted write */
#define JOURNAL_TAIL_DAMAGED 2  /* unreadable bytes up to the end that are not simply
                                 * incomplete (a CRC mismatch, a bad length): corruption */
typedef struct journal_report {
    uint32_t gen;            /* header generation (0 for an empty file) */
    uint64_t file_size;
    uint64_t records;        /* intact records accepted */
    uint64_t valid_end;      /* just past the last intact record (0 for an empty file) */
    uint64_t bad_regions;    /* damaged stretches skipped, the tail included */
    uint64_t bad_bytes;      /* their total size */
    uint64_t mid_regions;    /* of those, the ones with intact records after them */
    int tail;                /* JOURNAL_TAIL_* */
    uint64_t tail_off;       /* where the unreadable tail starts (TORN/DAMAGED) */
    uint64_t cur_off;        /* during a callback: the offset of the record it is given */
    char detail[1024];       /* "offset A..B (N bytes): why" for the first regions */
} journal_report;

/* Reads the file at path and calls cb for each intact record in order.
 * A bad file header (wrong magic or version, 1..15 bytes) is
 * JOURNAL_E_CORRUPT (with salvage, records are still looked for from
 * offset 16); an empty file has no records. With strict, any bad record
 * (short, CRC mismatch, rejected by cb) is JOURNAL_E_CORRUPT. Without it a
 * damaged stretch is skipped: the replay resynchronises on the next offset
 * that holds a whole record (length in range, body starting with its own
 * length as BSON documents do, CRC right, accepted by cb) and goes on, so
 * one bad byte costs one record, not every record after it. rep (NULL
 * ok) gets what was found (filled as the scan goes, so a callback
 * holding it can read cur_off); the file is not modified. With cb NULL records
 * are only checked for framing and CRC. Reentrant. */
int journal_replay(const char *path, int strict, journal_rec_cb cb, void *ctx,
                   journal_report *rep, char *err, size_t errcap);
/* Like journal_replay without strict, and a bad header does not stop the
 * scan (for `master --repair`): returns JOURNAL_E_IO only. */
int journal_salvage(const char *path, journal_rec_cb cb, void *ctx, journal_report *rep,
                    char *err, size_t errcap);

/* The strict check of journal_replay (header, framing, every CRC; no
 * callback, no resynchronisation) over an open fd of size bytes, read with
 * pread through a window, so it can run beside the store (a background
 * check: fd is the caller's, a file renamed meanwhile is still read).
 * *stop set by another thread ends it early (returns 1). 0 intact,
 * JOURNAL_E_CORRUPT (rep->detail says where), JOURNAL_E_IO, JOURNAL_E_NOMEM. */
int journal_check_fd(int fd, uint64_t size, const volatile int *stop, journal_report *rep,
                     char *err, size_t errcap);

/* Copies path to dst (created exclusively, fsync'd): how damaged files
 * are kept before anything is cut or replaced. */
int journal_copy_file(const char *path, const char *dst, char *err, size_t errcap);

/* Reads only the file header: *gen and *file_size as journal_replay
 * would report them, with the same header errors. Reentrant. */
int journal_header(const char *path, uint32_t *gen, uint64_t *file_size, char *err, size_t errcap);

/* Opens an existing journal for appending at offset end, cutting (and
 * fsyncing) anything past it: that is how a torn tail is removed. end 0
 * (an empty file) writes a fresh header of generation gen (otherwise gen is
 * unused). The returned journal is owned by the caller (journal_close). */
int journal_open(const char *path, uint64_t end, uint32_t gen, journal **out,
                 char *err, size_t errcap);

/* Creates (or truncates) path holding only a header of generation gen,
 * fsync'd. The caller renames it into place and fsyncs the directory. */
int journal_create(const char *path, uint32_t gen, journal **out, char *err, size_t errcap);

/* Appends one record. The space is reserved (posix_fallocate) before the
 * write so a full disk fails here, cleanly. With sync the record and any
 * earlier unsynced ones are written and fdatasync'd before the call
 * returns; without it the record is buffered until the next sync (used to
 * write snapshots quickly). On failure the file is cut back to the end of
 * the last successful sync and the unsynced records are forgotten, so the
 * next append never follows garbage. Not thread-safe: one writer. */
int journal_append(journal *j, const void *body, size_t len, int sync, char *err, size_t errcap);
/* Writes buffered records and fdatasyncs; same failure rule as append. */
int journal_sync(journal *j, char *err, size_t errcap);
/* Bytes of the file including the header (synced records only). */
uint64_t journal_size(const journal *j);
/* Closes without syncing buffered records (they are dropped). NULL ok. */
void journal_close(journal *j);

/* fsync of a directory, to make a rename or create in it durable. */
int journal_fsync_dir(const char *dir, char *err, size_t errcap);
/* Group commit, in three steps so the slow fdatasync runs without the
 * caller's lock: journal_flush writes the buffer and returns the offset
 * written so far and a dup of the fd (caller closes it); the caller
 * fdatasyncs that fd unlocked; journal_mark_synced records it. A journal
 * swapped by compaction in between needs nothing: the snapshot that
 * replaced it was fsync'd. Same locking as journal_append. */
int journal_flush(journal *j, uint64_t *written, int *dupfd, char *err, size_t errcap);
void journal_mark_synced(journal *j, uint64_t upto);
/* Writes the buffered records to the file without a sync, so a reader
 * of the file (pread) finds them. On failure the journal is cut back to
 * its last sync, as after a failed append. */
int journal_write_out(journal *j, char *err, size_t errcap);
uint64_t journal_synced(const journal *j);
#endif
