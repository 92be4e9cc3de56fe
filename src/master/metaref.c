/* metaref.c — references to stored documents and the windowed reader
 * behind them (metaref.h). */
#include "master/metaref.h"
#include "master/meta_impl.h"
#include "master/metadoc.h"

#include <bson/bson.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINDOW (64u << 10)   /* one read covers ~200 file documents of one task */

void metaref_set_init(metaref_set *s)
{
    for (int i = 0; i < METAREF_SRC_MAX; i++) s->fd[i] = -1;
}

int metaref_open(metaref_set *s, const char *path)
{
    for (int i = 0; i < METAREF_SRC_MAX; i++) {
        if (s->fd[i] >= 0) continue;
        if ((s->fd[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) return -1;
        return i;
    }
    errno = EMFILE;
    return -1;
}

void metaref_close(metaref_set *s, int src)
{
    if (src < 0 || src >= METAREF_SRC_MAX || s->fd[src] < 0) return;
    close(s->fd[src]);
    s->fd[src] = -1;
}

void metaref_close_except(metaref_set *s, int keep_a, int keep_b)
{
    for (int i = 0; i < METAREF_SRC_MAX; i++)
        if (i != keep_a && i != keep_b) metaref_close(s, i);
}

void metaref_reader_init(metaref_reader *r, const metaref_set *s)
{
    memset(r, 0, sizeof *r);
    r->set = s;
    r->src = -1;
}

void metaref_reader_free(metaref_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->len = 0;
    r->src = -1;
}

/* Fills the window with up to want bytes of src from off. */
static int fill(metaref_reader *r, int src, uint64_t off, size_t want)
{
    if (want > r->cap) {
        uint8_t *nb = realloc(r->buf, want);
        if (!nb) return META_E_NOMEM;
        r->buf = nb;
        r->cap = want;
    }
    r->src = -1;
    r->len = 0;
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(r->set->fd[src], r->buf + got, want - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return META_E_IO;
        if (n == 0) break;
        got += (size_t)n;
    }
    r->src = src;
    r->base = off;
    r->len = got;
    return 0;
}

int metaref_read(metaref_reader *r, uint64_t ref, const uint8_t **doc, uint32_t *len)
{
    int src = metaref_src(ref), rc;
    uint64_t off = metaref_off(ref);
    if (ref == METAREF_NONE || src >= METAREF_SRC_MAX || r->set->fd[src] < 0) return META_E_CORRUPT;
    int hit = r->src == src && off >= r->base && off - r->base + 4 <= r->len;
    if (!hit && (rc = fill(r, src, off, WINDOW)) != 0) return rc;
    const uint8_t *p = r->buf + (off - r->base);
    size_t avail = r->len - (size_t)(off - r->base);
    if (avail < 5) return META_E_CORRUPT;
    uint32_t l = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (l < 5 || l > METAREF_DOC_MAX) return META_E_CORRUPT;
    if (l > avail) {
        if ((rc = fill(r, src, off, l > WINDOW ? l : WINDOW)) != 0) return rc;
        p = r->buf;
        if (r->len < l) return META_E_CORRUPT;
    }
    bson_t b;
    if (p[l - 1] != 0 || !bson_init_static(&b, p, l) || !metadoc_sane(&b))
        return META_E_CORRUPT;
    *doc = p;
    *len = l;
    return 0;
}
