/* jsonw.h — a small streaming JSON writer for the client's --json output.
 * Strings are escaped per RFC 8259 (quote, backslash, control bytes as
 * \n \t ... or \u00XX) and invalid UTF-8 bytes become U+FFFD, so the output
 * always parses whatever the master sends. Non-finite numbers print as
 * null. Each top-level array element starts on its own line. The writer
 * does not check that calls nest correctly; callers pair begin/end. One
 * owner, one thread. */
#ifndef CLOUDAI_CLI_JSONW_H
#define CLOUDAI_CLI_JSONW_H
#include <stdint.h>
#include <stdio.h>

#define JSONW_DEPTH_MAX 8

typedef struct jsonw {
    FILE *out;
    int depth;
    int count[JSONW_DEPTH_MAX];   /* values written at each level */
    int after_key;
    int oneline;                  /* set after init: no newlines inside (JSON Lines) */
} jsonw;

void jsonw_init(jsonw *w, FILE *out);
void jsonw_array_begin(jsonw *w);
void jsonw_array_end(jsonw *w);
void jsonw_object_begin(jsonw *w);
void jsonw_object_end(jsonw *w);
void jsonw_key(jsonw *w, const char *key);
void jsonw_str(jsonw *w, const char *s);     /* NULL writes null */
void jsonw_u64(jsonw *w, uint64_t v);
void jsonw_i64(jsonw *w, int64_t v);
void jsonw_f64(jsonw *w, double v);
void jsonw_bool(jsonw *w, int v);
void jsonw_null(jsonw *w);
/* Escapes s as a JSON string literal, quotes included, onto out. */
void jsonw_escape(FILE *out, const char *s);
#endif
