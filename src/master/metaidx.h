/* metaidx.h — the two in-memory index shapes of the journal metadata store:
 * a string-keyed hash map and an array ordered by (time, id). Both hold
 * borrowed pointers to values that carry their own key (a key function
 * extracts it), so an index never copies or frees a value. Capacity can be
 * reserved in advance, so that applying a change that is already durable
 * cannot fail for lack of memory. Not thread-safe: the store locks. */
#ifndef CLOUDAI_METAIDX_H
#define CLOUDAI_METAIDX_H
#include <stddef.h>
#include <stdint.h>

typedef const char *(*metaidx_key_fn)(const void *val);

typedef struct metaidx_slot { uint64_t hash; void *val; } metaidx_slot;

typedef struct metaidx_map {
    metaidx_slot *slot;     /* open addressing, linear probing; val NULL = empty */
    size_t cap, n;          /* cap is 0 or a power of two, kept >= 2n */
    metaidx_key_fn key;
} metaidx_map;

void metaidx_map_init(metaidx_map *m, metaidx_key_fn key);
/* Frees the table only (values are the caller's). */
void metaidx_map_free(metaidx_map *m);
void *metaidx_map_get(const metaidx_map *m, const char *key);
/* Makes room for `more` further insertions without allocating; 0 or -1. */
int metaidx_map_reserve(metaidx_map *m, size_t more);
/* Inserts val, replacing the value with the same key, which is returned
 * (NULL if none). Needs reserved room (else it grows; *err = -1 on no
 * memory, with nothing changed). */
void *metaidx_map_put(metaidx_map *m, void *val, int *err);
/* Removes and returns the value with key, or NULL. */
void *metaidx_map_del(metaidx_map *m, const char *key);
/* Iteration: for (size_t i = 0; i < m->cap; i++) if (m->slot[i].val) ... */

typedef void (*metaidx_ord_key_fn)(const void *val, uint64_t *t, const char **id);

typedef struct metaidx_ord {
    void **v;
    size_t n, cap;
    metaidx_ord_key_fn key;
} metaidx_ord;

void metaidx_ord_init(metaidx_ord *o, metaidx_ord_key_fn key);
void metaidx_ord_free(metaidx_ord *o);
int metaidx_ord_reserve(metaidx_ord *o, size_t more);
/* Index of the first value whose key is >= (t, id); id NULL sorts first. */
size_t metaidx_ord_lower(const metaidx_ord *o, uint64_t t, const char *id);
/* Inserts in order (binary search; appending in time order is O(1)).
 * 0, or -1 if growing failed. */
int metaidx_ord_insert(metaidx_ord *o, void *val);
/* Index of exactly this value (found by its key), or (size_t)-1. */
size_t metaidx_ord_find(const metaidx_ord *o, const void *val);
void metaidx_ord_remove_at(metaidx_ord *o, size_t i);
#endif
