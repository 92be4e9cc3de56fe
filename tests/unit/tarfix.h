/* tarfix.h — test helpers for tar/extract: builds archives (hostile ones
 * included) byte by byte in memory, and removes test trees without
 * following symlinks. Header-only, all static. */
#ifndef TARFIX_H
#define TARFIX_H
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct tbuf { uint8_t *p; size_t len, cap; } tbuf;

static inline void tb_put(tbuf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + n) nc *= 2;
        uint8_t *np = realloc(b->p, nc);
        if (!np) abort();
        b->p = np;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
}

static inline void tb_pad(tbuf *b)
{
    static const uint8_t z[512];
    tb_put(b, z, (512 - b->len % 512) % 512);
}

static inline void tb_free(tbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Recomputes the (unsigned) checksum of a header already in the buffer. */
static inline void tf_fix_sum(uint8_t *h)
{
    unsigned sum = 0;
    memset(h + 148, ' ', 8);
    for (int i = 0; i < 512; i++) sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
}

/* One raw ustar header; name and link are cut to their 100-byte fields. */
static inline void tf_header(tbuf *b, const char *name, char type, const char *link,
                      uint64_t size, unsigned mode)
{
    uint8_t h[512];
    memset(h, 0, sizeof h);
    memcpy(h, name, strlen(name) > 100 ? 100 : strlen(name));
    snprintf((char *)h + 100, 8, "%07o", mode & 07777);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
    snprintf((char *)h + 136, 12, "%011o", 1700000000);
    h[156] = (uint8_t)type;
    if (link) memcpy(h + 157, link, strlen(link) > 100 ? 100 : strlen(link));
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    tf_fix_sum(h);
    tb_put(b, h, sizeof h);
}

static inline void tf_file(tbuf *b, const char *name, const char *data, size_t n, unsigned mode)
{
    tf_header(b, name, '0', NULL, n, mode);
    tb_put(b, data, n);
    tb_pad(b);
}

static inline void tf_entry(tbuf *b, const char *name, char type, const char *link)
{
    tf_header(b, name, type, link, 0, type == '5' ? 0755 : 0644);
}

/* pax 'x' header with one record. */
static inline void tf_pax(tbuf *b, const char *key, const char *val)
{
    size_t body = strlen(key) + strlen(val) + 3, len = body + 1;
    char tmp[24];
    while ((size_t)snprintf(tmp, sizeof tmp, "%zu", len) + body != len)
        len = (size_t)snprintf(tmp, sizeof tmp, "%zu", len) + body;
    char *rec = malloc(len + 1);
    if (!rec) abort();
    snprintf(rec, len + 1, "%zu %s=%s\n", len, key, val);
    tf_header(b, "././@PaxHeader", 'x', NULL, len, 0644);
    tb_put(b, rec, len);
    tb_pad(b);
    free(rec);
}

/* GNU 'L' (long name) or 'K' (long link) header. */
static inline void tf_gnu_long(tbuf *b, char kind, const char *val)
{
    size_t n = strlen(val) + 1;
    tf_header(b, "././@LongLink", kind, NULL, n, 0644);
    tb_put(b, val, n);
    tb_pad(b);
}

static inline void tf_end(tbuf *b)
{
    static const uint8_t z[1024];
    tb_put(b, z, sizeof z);
}

static inline int tf_write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(p, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* Removes name under dfd recursively, never following symlinks; makes
 * directories searchable first (extraction may have left them 0500). */
static inline void tf_rm_at(int dfd, const char *name)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return;
    if (S_ISDIR(st.st_mode)) {
        fchmodat(dfd, name, 0700, 0);
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            DIR *d = fdopendir(fd);
            if (d) {
                struct dirent *e;
                while ((e = readdir(d)))
                    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                        tf_rm_at(dirfd(d), e->d_name);
                closedir(d);
            } else {
                close(fd);
            }
        }
        unlinkat(dfd, name, AT_REMOVEDIR);
    } else {
        unlinkat(dfd, name, 0);
    }
}

static inline void tf_rm_rf(const char *path)
{
    tf_rm_at(AT_FDCWD, path);
}
#endif
