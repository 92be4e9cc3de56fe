/* tier.h — tiering: [retention] archive_after_days (and archive.PATTERN
 * rules per task name) with a [store] bucket. A run whose files are on the local disk and that finished more than
 * that many days ago moves to the bucket: each file is PUT from its local
 * copy, which is hashed as it is read and must match its record's
 * SHA-256 (the server checks the same checksum); only then are its
 * records rewritten to name the objects, and only then does the local
 * directory go. Readers go by each record, so at every moment each file
 * is readable from one place: a move is never half-visible. A master that
 * dies mid-move leaves the run readable (the local copy stays until every
 * record names its object); the next sweep finishes it, skipping the
 * files already moved. Called from the retention sweeper's thread. */
#ifndef CLOUDAI_TIER_H
#define CLOUDAI_TIER_H
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "meta.h"
#include "records.h"

/* Moves one run's local files to the bucket. 0 moved (or nothing to
 * move), -1 with err (the run stays as it was, readable). */
int tier_move_run(const config *cfg, meta *m, const task_rec *t, char *err, size_t errcap);
/* Every run due (finished more than config_archive_days of its name
 * before now, files still local). The number moved, or -1 with err when the metadata store could
 * not be read; a run that fails stays as it was, the others go on, and
 * err (else "") says what failed. */
int tier_sweep(const config *cfg, meta *m, uint64_t now_ms, char *err, size_t errcap);
#endif
