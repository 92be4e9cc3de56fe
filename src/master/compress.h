/* compress.h — [retention] compress_after_days (and compress.GLOB = DAYS):
 * a run that finished that many days ago has its local files packed on
 * the disk, each file on its own (zblock.h: 256 KiB blocks inflated
 * independently, so a Range read touches only its blocks). Records,
 * listed sizes, SHA-256s and ETags stay the original ones; every reader
 * of the store (tar.c for `cloudai get` and archives, http_file.c, the
 * input store, tiering) gives back the original bytes.
 *
 * One file at a time: its packed copy is written into .staging, checked
 * (it must inflate to the record's SHA-256, and the original must have
 * hashed to it while it was read), given the original's mode plus the
 * sticky bit (the mark) and mtime, fsync'd, then renamed over the
 * original, and the directory fsync'd. A reader sees the original or the
 * packed file, never a mix; a master that dies mid-run leaves packed and
 * unpacked files (all readable) and at most a temp file in .staging,
 * which the next start removes (store_init); the next sweep packs the
 * rest. Files under 4 KiB, and files that would not save at least 4 KiB
 * (already compressed data), stay as they are. Pinned runs are packed
 * too: a pin is about expiry, and packing loses nothing.
 *
 * Called from the retention sweeper's thread only. */
#ifndef CLOUDAI_COMPRESS_H
#define CLOUDAI_COMPRESS_H
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "meta.h"
#include "records.h"

/* What a sweep found and did; also kept for /metrics (compress_stats). */
typedef struct compress_stats {
    uint64_t runs;             /* runs due and on the disk */
    uint64_t files_packed;     /* packed files found (before this sweep or by it) */
    uint64_t bytes_original;   /* their original bytes */
    uint64_t bytes_stored;     /* their packed bytes on the disk */
    uint64_t packed_now;       /* files packed by this sweep */
    uint64_t skipped;          /* small or incompressible files left as they are */
} compress_stats;

/* The days after which t's run is packed (the first compress.GLOB rule
 * that matches its name, else compress_after_days); 0 = never. */
int compress_days(const config *cfg, const task_rec *t);
/* Packs one run's local files (those not packed yet). Adds to st. 0, or
 * -1 with err: the run stays readable (the files done are done). */
int compress_run(const config *cfg, meta *m, const task_rec *t, compress_stats *st, char *err,
                 size_t errcap);
/* Every finished run due as of now_ms with files on the disk; a run a
 * previous sweep settled (every file packed or left for good) is counted
 * from memory, not opened again. Returns
 * the number of files packed, or -1 with err when the metadata store
 * could not be read; a run that fails is named in err (else "") and the
 * others go on. Publishes the totals for compress_last. */
int compress_sweep(const config *cfg, meta *m, uint64_t now_ms, char *err, size_t errcap);
/* The totals of the last finished sweep (zeros before the first one).
 * Thread-safe. */
void compress_last(compress_stats *out);
/* Frees what sweeps remember about settled runs (at exit; the next
 * sweep looks at every run again). */
void compress_forget(void);
/* Test hook: the process SIGKILLs itself with the n-th packed copy
 * written and synced but not yet renamed over its original (n >= 1;
 * 0 = never). For tests/tools/ztool only. */
void compress_set_kill_at(uint64_t n);
#endif
