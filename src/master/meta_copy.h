/* meta_copy.h — copy one metadata store into another (`master
 * --migrate-to-mongo`: journal -> MongoDB, or any backend to any other). */
#ifndef CLOUDAI_META_COPY_H
#define CLOUDAI_META_COPY_H
#include <stddef.h>
#include <stdint.h>
#include "master/meta.h"

/* Puts every task, file record and worker of `from` into `to` (upserts:
 * records already in `to` are replaced, records only in `to` are kept), so
 * running it again is harmless and resumes an interrupted copy. Files go
 * in bulk, one meta_files_put per task (per META_COPY_CHUNK records for
 * bigger tasks); file records of a task missing from TASKS are not
 * copied (the master never leaves such records). *tasks and *files (either may be NULL) get the numbers
 * copied, also on failure. 0, or the META_E_* code of the first failure
 * with the reason in err. from and to must be different stores; other
 * threads may use them meanwhile, but writes to `from` during the copy may
 * or may not be carried over. */
int meta_copy(meta *from, meta *to, uint64_t *tasks, uint64_t *files, char *err, size_t errcap);

#define META_COPY_CHUNK 1024
#endif
