/* args.h — the client's flag parser. Flags are Go-style single-dash words
 * ("-name N"); "--name N", "-name=N" and "--name=N" are accepted too. Flags
 * and positional words may be interleaved ("task alpine -cpu_cores 2");
 * "--" ends the flags and everything after it is returned untouched as an
 * exact argv. "-h", "-help" and "--help" request help. Numbers are parsed
 * strictly: trailing garbage, signs where none belong, NaN and overflow are
 * refused. Nothing here allocates, logs or keeps state; reentrant. */
#ifndef CLOUDAI_CLI_ARGS_H
#define CLOUDAI_CLI_ARGS_H
#include "err.h"   /* ARGS_E_* codes: the args band of the one error space */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum args_kind {
    ARGS_BOOL,      /* int *: set to 1; takes no value */
    ARGS_STR,       /* const char **: points into argv; may be "" */
    ARGS_U64,       /* uint64_t *: decimal, no sign */
    ARGS_COUNT,     /* uint64_t *: decimal, >= 1 (limits) */
    ARGS_CPU,       /* double *: cores, finite, > 0 and <= 4096 */
    ARGS_GIB,       /* uint64_t * bytes: GiB number ("0.5") or a size ("512m") */
    ARGS_TIME,      /* uint64_t * unix ms: see ids_parse_time */
    ARGS_SECONDS,   /* uint64_t * seconds: "90", "30s", "5m", "2h", "1d" */
    ARGS_LIST       /* args_list *: every value, in order (a repeatable flag) */
};

#define ARGS_LIST_MAX 256
typedef struct args_list {
    const char *v[ARGS_LIST_MAX];   /* point into argv */
    int n;
} args_list;

typedef struct args_spec {
    const char *name;   /* without dashes, e.g. "cpu_cores" */
    int kind;           /* enum args_kind */
    void *dst;          /* written only when the flag is given */
    int *seen;          /* may be NULL; set to 1 when the flag is given */
    const char *meta;   /* value placeholder in help, e.g. "GB"; NULL for BOOL */
    const char *help;   /* one line */
} args_spec;

typedef struct args_result {
    char **pos;         /* positional words (the caller's array), in order */
    int npos;
    char **rest;        /* words after "--" (points into argv), or NULL */
    int nrest;
    int dashdash;       /* 1 if "--" was present (even with nothing after) */
    int help;           /* 1 if -h/--help was seen: parsing stopped there */
} args_result;

/* Parses argv[0..argc) against specs. Positional words go to pos[0..maxpos)
 * (pointers into argv, no copies). Returns 0 or an ARGS_E_* code with err
 * set to one line naming the flag ("-cpu_cores: not a number: 'x'").
 * Values for flags given several times: the last wins. */
int args_parse(const args_spec *specs, size_t nspecs, int argc, char **argv,
               char **pos, int maxpos, args_result *r, char *err, size_t errcap);

/* Prints one aligned help line per spec ("  -cpu_cores C   CPU cores"). */
void args_usage(FILE *out, const args_spec *specs, size_t nspecs);

/* The value parsers behind the kinds; 0 or ARGS_E_VALUE. */
int args_parse_u64(const char *s, uint64_t *out);
int args_parse_cpu(const char *s, double *out);
/* A bare number is GiB ("0.5" = 512 MiB); otherwise a size with a suffix
 * as ids_parse_size takes it ("512m", "2GiB", "64k"). */
int args_parse_gib(const char *s, uint64_t *out);
int args_parse_seconds(const char *s, uint64_t *out);
#endif
