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
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JOURNAL_MAGIC "CLDJRNL1"
#define JOURNAL_VERSION 1u
#define JOURNAL_HDR_SIZE 16u
#define JOURNAL_REC_HDR_SIZE 8u
#define JOURNAL_REC_MAX (1u << 30)  /* hard limit checked before any allocation */

#define JOURNAL_E_NOMEM -1
#define JOURNAL_E_IO -2
#define JOURNAL_E_CORRUPT -3

typedef struct journal journal;

/* Called once per intact record during replay; body is valid only during
 * the call. Return 0 to accept, non-zero to declare the record invalid. */
typedef int (*journal_rec_cb)(void *ctx, const uint8_t *body, size_t len);

/* Replaceable write primitive (pwrite semantics) so tests can inject a full
 * disk or a short write. NULL restores pwrite. Process-wide, not
 * thread-safe: set it before the journals under test are used. */
typedef ssize_t (*journal_write_fn)(int fd, const void *buf, size_t len, off_t off);
void journal_set_write_hook(journal_write_fn fn);

/* Reads the file at path and calls cb for each intact record in order.
 * A bad file header (wrong magic or version, 1..15 bytes) is
 * JOURNAL_E_CORRUPT; an empty file has no records. With strict, any bad
 * record (short, CRC mismatch, rejected by cb) is JOURNAL_E_CORRUPT; without
 * it, replay stops there. *valid_end gets the offset just past the last good
 * record (0 for an empty file), *file_size the file's size, *gen the header's
 * generation (0 for an empty file); the file is not modified. With cb NULL
 * records are only checked for framing and CRC. Reentrant. */
int journal_replay(const char *path, int strict, journal_rec_cb cb, void *ctx,
                   uint64_t *valid_end, uint64_t *file_size, uint32_t *gen,
                   char *err, size_t errcap);

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
uint64_t journal_synced(const journal *j);
#endif
