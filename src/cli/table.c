/* table.c — aligned text tables. Rows are kept until table_print so each
 * column can be as wide as its widest cell; listings are bounded by what
 * the master returns, so this never grows with output sizes. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "table.h"

typedef struct table_rowv {
    char *cell[TABLE_COLS_MAX];
    char *note;
} table_rowv;

struct table {
    int ncols;
    char *head[TABLE_COLS_MAX];
    int right[TABLE_COLS_MAX];
    table_rowv *rows;
    size_t nrows, caprows;
};

/* Copies s, turning control bytes into '?': cells come from the master and
 * ultimately from other users' task names and file names. */
static char *safe_dup(const char *s)
{
    size_t n = strlen(s ? s : "");
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        d[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    d[n] = '\0';
    return d;
}

/* Terminal columns of one code point: 2 for East Asian wide and fullwidth
 * characters, 0 for combining marks and zero-width ones, else 1 (the
 * common ranges of Unicode's East_Asian_Width W/F, not a full table). */
static int cp_width(uint32_t c)
{
    if ((c >= 0x0300 && c <= 0x036f) || (c >= 0x1ab0 && c <= 0x1aff) ||
        (c >= 0x1dc0 && c <= 0x1dff) || (c >= 0x200b && c <= 0x200f) ||
        (c >= 0x20d0 && c <= 0x20ff) || (c >= 0xfe00 && c <= 0xfe0f) ||
        (c >= 0xfe20 && c <= 0xfe2f))
        return 0;
    if ((c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0x303e) ||
        (c >= 0x3041 && c <= 0x33ff) || (c >= 0x3400 && c <= 0x4dbf) ||
        (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xa000 && c <= 0xa4cf) ||
        (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
        (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
        (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) ||
        (c >= 0x1f900 && c <= 0x1f9ff) || (c >= 0x20000 && c <= 0x3fffd))
        return 2;
    return 1;
}

size_t table_width(const char *s)
{
    size_t w = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (p && *p) {
        uint32_t c = *p;
        int k = 1;
        if (c >= 0xf0 && c < 0xf8) { c &= 0x07; k = 4; }
        else if (c >= 0xe0) { c &= 0x0f; k = 3; }
        else if (c >= 0xc0) { c &= 0x1f; k = 2; }
        int i = 1;
        for (; i < k && (p[i] & 0xc0) == 0x80; i++)
            c = c << 6 | (p[i] & 0x3f);
        if (i < k) {                  /* a cut sequence: one column per byte */
            w++;
            p++;
            continue;
        }
        w += (size_t)cp_width(c);
        p += k;
    }
    return w;
}

table *table_new(int ncols, const char *const *headers)
{
    if (ncols < 1 || ncols > TABLE_COLS_MAX)
        return NULL;
    table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ncols = ncols;
    for (int i = 0; i < ncols; i++) {
        if (!(t->head[i] = safe_dup(headers[i]))) {
            table_free(t);
            return NULL;
        }
    }
    return t;
}

void table_free(table *t)
{
    if (!t)
        return;
    for (int i = 0; i < TABLE_COLS_MAX; i++)
        free(t->head[i]);
    for (size_t r = 0; r < t->nrows; r++) {
        for (int i = 0; i < TABLE_COLS_MAX; i++)
            free(t->rows[r].cell[i]);
        free(t->rows[r].note);
    }
    free(t->rows);
    free(t);
}

void table_align_right(table *t, int col)
{
    if (t && col >= 0 && col < t->ncols)
        t->right[col] = 1;
}

int table_row(table *t)
{
    if (t->nrows == t->caprows) {
        size_t nc = t->caprows ? t->caprows * 2 : 16;
        table_rowv *nr = realloc(t->rows, nc * sizeof *nr);
        if (!nr)
            return -ENOMEM;
        t->rows = nr;
        t->caprows = nc;
    }
    memset(&t->rows[t->nrows], 0, sizeof t->rows[0]);
    t->nrows++;
    return 0;
}

int table_set(table *t, int col, const char *s)
{
    if (!t->nrows || col < 0 || col >= t->ncols)
        return -EINVAL;
    char *d = safe_dup(s);
    if (!d)
        return -ENOMEM;
    table_rowv *r = &t->rows[t->nrows - 1];
    free(r->cell[col]);
    r->cell[col] = d;
    return 0;
}

int table_setf(table *t, int col, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return table_set(t, col, buf);
}

int table_note(table *t, const char *s)
{
    if (!t->nrows)
        return -EINVAL;
    char *d = safe_dup(s);
    if (!d)
        return -ENOMEM;
    table_rowv *r = &t->rows[t->nrows - 1];
    if (r->note) {
        /* A second note goes on a line of its own. */
        size_t a = strlen(r->note), b = strlen(d);
        char *j = malloc(a + b + 9);
        if (!j) {
            free(d);
            return -ENOMEM;
        }
        memcpy(j, r->note, a);
        memcpy(j + a, "\n    -> ", 8);
        memcpy(j + a + 8, d, b + 1);
        free(d);
        free(r->note);
        d = j;
    }
    r->note = d;
    return 0;
}

size_t table_nrows(const table *t)
{
    return t->nrows;
}

static void print_cells(const table *t, char *const *cells, const size_t *w, FILE *out)
{
    int end = t->ncols - 1;
    while (end > 0 && (!cells[end] || !cells[end][0]))   /* no trailing blanks */
        end--;
    for (int i = 0; i <= end; i++) {
        const char *s = cells[i] ? cells[i] : "";
        size_t pad = w[i] - table_width(s);
        int last = i == end;
        if (i)
            fputs("  ", out);
        if (t->right[i])
            fprintf(out, "%*s%s", (int)pad, "", s);
        else if (last)
            fputs(s, out);
        else
            fprintf(out, "%s%*s", s, (int)pad, "");
    }
    fputc('\n', out);
}

int table_print(const table *t, FILE *out)
{
    size_t w[TABLE_COLS_MAX] = {0};
    for (int i = 0; i < t->ncols; i++) {
        w[i] = table_width(t->head[i]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t cw = table_width(t->rows[r].cell[i]);
            if (cw > w[i])
                w[i] = cw;
        }
    }
    print_cells(t, t->head, w, out);
    for (size_t r = 0; r < t->nrows; r++) {
        print_cells(t, t->rows[r].cell, w, out);
        if (t->rows[r].note)
            fprintf(out, "    -> %s\n", t->rows[r].note);
    }
    return ferror(out) ? -EIO : 0;
}

void table_fmt_size(uint64_t bytes, char *out, size_t cap)
{
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(out, cap, "%llu B", (unsigned long long)bytes);
        return;
    }
    double v = (double)bytes / 1024.0;
    int u = 0;
    /* 1023.97 KiB would print as "1024.0 KiB": move up a unit first. */
    while (v >= 1023.95 && u < 5) {
        v /= 1024.0;
        u++;
    }
    snprintf(out, cap, "%.1f %s", v, unit[u]);
}

void table_fmt_span(uint64_t ms, char *out, size_t cap)
{
    unsigned long long s = (ms + 999) / 1000;
    if (s < 60) {
        snprintf(out, cap, "%llu s", s);
        return;
    }
    unsigned long long m = (s + 59) / 60;
    if (m < 60)
        snprintf(out, cap, "%llu min", m);
    else if (m < 48 * 60)
        snprintf(out, cap, m % 60 ? "%llu h %llu min" : "%llu h", m / 60, m % 60);
    else
        snprintf(out, cap, m / 60 % 24 ? "%llu d %llu h" : "%llu d", m / 1440, m / 60 % 24);
}

void table_fmt_ago(uint64_t then_ms, uint64_t now_ms, char *out, size_t cap)
{
    if (then_ms == 0) {
        snprintf(out, cap, "never");
        return;
    }
    if (then_ms >= now_ms) {
        snprintf(out, cap, "now");
        return;
    }
    uint64_t s = (now_ms - then_ms) / 1000;
    if (s < 60)
        snprintf(out, cap, "%llus ago", (unsigned long long)s);
    else if (s < 3600)
        snprintf(out, cap, "%llum ago", (unsigned long long)(s / 60));
    else if (s < 86400)
        snprintf(out, cap, "%lluh ago", (unsigned long long)(s / 3600));
    else
        snprintf(out, cap, "%llud ago", (unsigned long long)(s / 86400));
}
