/* jsonw.c — streaming JSON writer (see jsonw.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "jsonw.h"

void jsonw_init(jsonw *w, FILE *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
}

/* Separator before a value: a comma after the first value of the current
 * container (not after a key), and a newline for top-level array
 * elements so that long listings stay readable and line-greppable. */
static void pre_value(jsonw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0 && w->count[w->depth - 1]++ > 0)
        fputc(',', w->out);
    if (w->depth == 1 && !w->oneline)
        fputs("\n  ", w->out);
}

static void open_c(jsonw *w, char c)
{
    pre_value(w);
    fputc(c, w->out);
    if (w->depth < JSONW_DEPTH_MAX)
        w->count[w->depth] = 0;
    w->depth++;
}

static void close_c(jsonw *w, char c)
{
    if (w->depth > 0)
        w->depth--;
    if (w->depth == 0 && c == ']' && w->count[0] > 0)
        fputc('\n', w->out);
    fputc(c, w->out);
    if (w->depth == 0)
        fputc('\n', w->out);
}

void jsonw_array_begin(jsonw *w) { open_c(w, '['); }
void jsonw_array_end(jsonw *w) { close_c(w, ']'); }
void jsonw_object_begin(jsonw *w) { open_c(w, '{'); }
void jsonw_object_end(jsonw *w) { close_c(w, '}'); }

/* Length of a valid UTF-8 sequence at s (1..4), or 0 if invalid
 * (overlong forms, surrogates and values above U+10FFFF included). */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0;
        if (c == 0xED && s[1] >= 0xA0)
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90)
            return 0;
        if (c == 0xF4 && s[1] >= 0x90)
            return 0;
        return 4;
    }
    return 0;
}

void jsonw_escape(FILE *out, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', out);
    while (*s) {
        unsigned c = *s;
        if (c >= 0x80) {
            int n = utf8_len(s);
            if (n == 0) {
                fputs("\\ufffd", out);
                s++;
            } else {
                fwrite(s, 1, (size_t)n, out);
                s += n;
            }
            continue;
        }
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(out, "\\u%04x", c);
            else
                fputc((int)c, out);
        }
        s++;
    }
    fputc('"', out);
}

void jsonw_key(jsonw *w, const char *key)
{
    pre_value(w);
    jsonw_escape(w->out, key);
    fputc(':', w->out);
    w->after_key = 1;
}

void jsonw_str(jsonw *w, const char *s)
{
    pre_value(w);
    if (s)
        jsonw_escape(w->out, s);
    else
        fputs("null", w->out);
}

void jsonw_u64(jsonw *w, uint64_t v)
{
    pre_value(w);
    fprintf(w->out, "%llu", (unsigned long long)v);
}

void jsonw_i64(jsonw *w, int64_t v)
{
    pre_value(w);
    fprintf(w->out, "%lld", (long long)v);
}

void jsonw_f64(jsonw *w, double v)
{
    pre_value(w);
    if (isfinite(v)) {
        /* Shortest of %.15g / %.17g that reads back exactly: 0.5 stays
         * "0.5", not "0.50000000000000000". */
        char buf[40];
        snprintf(buf, sizeof buf, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, sizeof buf, "%.17g", v);
        fputs(buf, w->out);
    } else
        fputs("null", w->out);
}

void jsonw_bool(jsonw *w, int v)
{
    pre_value(w);
    fputs(v ? "true" : "false", w->out);
}

void jsonw_null(jsonw *w)
{
    pre_value(w);
    fputs("null", w->out);
}
