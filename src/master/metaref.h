/* metaref.h — where a stored document lives: the embedded metadata store
 * keeps its task and file documents in its own snapshot and journal files
 * rather than in memory, and holds one 64-bit reference per document: the
 * number of an open source file (top 8 bits) and the byte offset of the
 * BSON document in it (low 56 bits). A reader pulls documents back with
 * pread through a window, so documents stored next to each other (the files
 * of one task) cost one read. Sources are opened read-only and stay open
 * while a reference may name them (a file renamed or unlinked meanwhile is
 * still read through its descriptor). Not thread-safe: the store's lock
 * guards the set; a reader belongs to one thread. */
#ifndef CLOUDAI_METAREF_H
#define CLOUDAI_METAREF_H
#include <stddef.h>
#include <stdint.h>

#define METAREF_NONE UINT64_MAX          /* no stored copy */
#define METAREF_SRC_MAX 16
#define METAREF_DOC_MAX (16u << 20)      /* a larger "document" is damage, not data */

typedef struct metaref_set {
    int fd[METAREF_SRC_MAX];             /* -1: free */
} metaref_set;

static inline uint64_t metaref_make(int src, uint64_t off) { return (uint64_t)src << 56 | off; }
static inline int metaref_src(uint64_t ref) { return (int)(ref >> 56); }
static inline uint64_t metaref_off(uint64_t ref) { return ref & ((1ull << 56) - 1); }

void metaref_set_init(metaref_set *s);
/* Opens path read-only as a new source: its number, or -1 (errno set;
 * EMFILE when all METAREF_SRC_MAX are in use). */
int metaref_open(metaref_set *s, const char *path);
/* Closes one source (-1 ignored) / every source except keep_a and keep_b. */
void metaref_close(metaref_set *s, int src);
void metaref_close_except(metaref_set *s, int keep_a, int keep_b);

typedef struct metaref_reader {
    const metaref_set *set;
    uint8_t *buf;
    size_t cap, len;                     /* window: len bytes of src from base */
    int src;
    uint64_t base;
} metaref_reader;

void metaref_reader_init(metaref_reader *r, const metaref_set *s);
void metaref_reader_free(metaref_reader *r);
/* Reads the BSON document at ref: *doc points into the reader's window
 * (valid until the next read) and is framed and validated (length in
 * range, ends in NUL, metadoc_sane). 0, META_E_NOMEM, META_E_IO (pread
 * failed) or META_E_CORRUPT (no document there: a short file, bad bytes). */
int metaref_read(metaref_reader *r, uint64_t ref, const uint8_t **doc, uint32_t *len);
#endif
