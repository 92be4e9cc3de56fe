/* metaidx.c — string hash map (linear probing, backward-shift deletion, so
 * no tombstones) and (time, id)-ordered pointer array. */
#include "master/metaidx.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

void metaidx_map_init(metaidx_map *m, metaidx_key_fn key)
{
    memset(m, 0, sizeof *m);
    m->key = key;
}

void metaidx_map_free(metaidx_map *m)
{
    free(m->slot);
    m->slot = NULL;
    m->cap = m->n = 0;
}

static size_t find_slot(const metaidx_map *m, uint64_t h, const char *key)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slot[i].val) {
        if (m->slot[i].hash == h && !strcmp(m->key(m->slot[i].val), key)) return i;
        i = (i + 1) & mask;
    }
    return i;
}

void *metaidx_map_get(const metaidx_map *m, const char *key)
{
    if (!m->n) return NULL;
    return m->slot[find_slot(m, hash_str(key), key)].val;
}

static int rehash(metaidx_map *m, size_t cap)
{
    metaidx_slot *ns = calloc(cap, sizeof *ns);
    if (!ns) return -1;
    metaidx_slot *old = m->slot;
    size_t ocap = m->cap;
    m->slot = ns;
    m->cap = cap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].val) continue;
        size_t j = (size_t)old[i].hash & (cap - 1);
        while (ns[j].val) j = (j + 1) & (cap - 1);
        ns[j] = old[i];
    }
    free(old);
    return 0;
}

int metaidx_map_reserve(metaidx_map *m, size_t more)
{
    size_t need = (m->n + more) * 2, cap = m->cap ? m->cap : 16;
    while (cap < need) cap *= 2;
    return cap == m->cap ? 0 : rehash(m, cap);
}

void *metaidx_map_put(metaidx_map *m, void *val, int *err)
{
    *err = 0;
    if (metaidx_map_reserve(m, 1) < 0) { *err = -1; return NULL; }
    const char *key = m->key(val);
    uint64_t h = hash_str(key);
    size_t i = find_slot(m, h, key);
    void *old = m->slot[i].val;
    m->slot[i].hash = h;
    m->slot[i].val = val;
    if (!old) m->n++;
    return old;
}

void *metaidx_map_del(metaidx_map *m, const char *key)
{
    if (!m->n) return NULL;
    size_t mask = m->cap - 1, i = find_slot(m, hash_str(key), key);
    void *old = m->slot[i].val;
    if (!old) return NULL;
    /* Backward shift: pull later members of the probe run into the hole
     * when their home slot does not lie cyclically in (hole, j]. */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slot[j].val) break;
        size_t home = (size_t)m->slot[j].hash & mask;
        int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays) continue;
        m->slot[hole] = m->slot[j];
        hole = j;
    }
    m->slot[hole].val = NULL;
    m->slot[hole].hash = 0;
    m->n--;
    return old;
}

void metaidx_ord_init(metaidx_ord *o, metaidx_ord_key_fn key)
{
    memset(o, 0, sizeof *o);
    o->key = key;
}

void metaidx_ord_free(metaidx_ord *o)
{
    free(o->v);
    o->v = NULL;
    o->n = o->cap = 0;
}

int metaidx_ord_reserve(metaidx_ord *o, size_t more)
{
    if (o->n + more <= o->cap) return 0;
    size_t cap = o->cap ? o->cap : 64;
    while (cap < o->n + more) cap *= 2;
    void **nv = realloc(o->v, cap * sizeof *nv);
    if (!nv) return -1;
    o->v = nv;
    o->cap = cap;
    return 0;
}

static int cmp_key(uint64_t ta, const char *ia, uint64_t tb, const char *ib)
{
    if (ta != tb) return ta < tb ? -1 : 1;
    if (!ia || !ib) return ia ? 1 : ib ? -1 : 0;
    return strcmp(ia, ib);
}

size_t metaidx_ord_lower(const metaidx_ord *o, uint64_t t, const char *id)
{
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t mt;
        const char *mi;
        o->key(o->v[mid], &mt, &mi);
        if (cmp_key(mt, mi, t, id) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int metaidx_ord_insert(metaidx_ord *o, void *val)
{
    uint64_t t;
    const char *id;
    size_t i;
    if (metaidx_ord_reserve(o, 1) < 0) return -1;
    o->key(val, &t, &id);
    if (o->n == 0) {
        i = 0;
    } else {
        uint64_t lt;
        const char *li;
        o->key(o->v[o->n - 1], &lt, &li);
        i = cmp_key(lt, li, t, id) <= 0 ? o->n : metaidx_ord_lower(o, t, id);
    }
    memmove(o->v + i + 1, o->v + i, (o->n - i) * sizeof *o->v);
    o->v[i] = val;
    o->n++;
    return 0;
}

size_t metaidx_ord_find(const metaidx_ord *o, const void *val)
{
    uint64_t t;
    const char *id;
    o->key(val, &t, &id);
    for (size_t i = metaidx_ord_lower(o, t, id); i < o->n; i++) {
        if (o->v[i] == val) return i;
        uint64_t it;
        const char *ii;
        o->key(o->v[i], &it, &ii);
        if (cmp_key(it, ii, t, id) != 0) break;
    }
    return (size_t)-1;
}

void metaidx_ord_remove_at(metaidx_ord *o, size_t i)
{
    if (i >= o->n) return;
    memmove(o->v + i, o->v + i + 1, (o->n - i - 1) * sizeof *o->v);
    o->n--;
}
