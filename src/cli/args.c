/* args.c — strict flag parsing for the client and the master's console. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "args.h"
#include "ids.h"

int args_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return ARGS_E_VALUE;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return ARGS_E_VALUE;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return ARGS_E_VALUE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* strtod accepts hex, "inf", "nan" and leading blanks; a user typing
 * "-cpu_cores 0x10" almost certainly made a mistake, so only plain
 * decimals pass. */
static int plain_decimal(const char *s)
{
    int digits = 0, dot = 0;
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.' && !dot)
            dot = 1;
        else
            return 0;
    }
    return digits > 0;
}

int args_parse_cpu(const char *s, double *out)
{
    if (!s || !plain_decimal(s))
        return ARGS_E_VALUE;
    errno = 0;
    double v = strtod(s, NULL);
    if (errno || !isfinite(v) || v <= 0 || v > 4096)
        return ARGS_E_VALUE;
    *out = v;
    return 0;
}

int args_parse_gib(const char *s, uint64_t *out)
{
    char buf[64];
    if (!s || !*s || strlen(s) >= sizeof buf - 2)
        return ARGS_E_VALUE;
    /* Bare numbers are GiB, as the seed's -mem 4 meant 4 GB. */
    if (plain_decimal(s)) {
        snprintf(buf, sizeof buf, "%sg", s);
        s = buf;
    }
    return ids_parse_size(s, out) < 0 ? ARGS_E_VALUE : 0;
}

int args_parse_seconds(const char *s, uint64_t *out)
{
    char num[32];
    uint64_t v, mult = 1;
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= sizeof num)
        return ARGS_E_VALUE;
    memcpy(num, s, n + 1);
    switch (num[n - 1]) {
    case 's': mult = 1; num[--n] = '\0'; break;
    case 'm': mult = 60; num[--n] = '\0'; break;
    case 'h': mult = 3600; num[--n] = '\0'; break;
    case 'd': mult = 86400; num[--n] = '\0'; break;
    default: break;
    }
    if (args_parse_u64(num, &v) < 0 || v > UINT64_MAX / mult)
        return ARGS_E_VALUE;
    *out = v * mult;
    return 0;
}

static const args_spec *find_spec(const args_spec *specs, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(specs[i].name) == len && !strncmp(specs[i].name, name, len))
            return &specs[i];
    return NULL;
}

/* Edit distance of a (n bytes) and b, capped: past 3 it is "far". */
static size_t edits(const char *a, size_t n, const char *b)
{
    size_t m = strlen(b), row[64], prev, cur;
    if (n >= 63 || m >= 63) return 9;
    for (size_t j = 0; j <= m; j++) row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            cur = row[j];
            size_t best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[m];
}

/* The flag an unknown one most likely meant: a typo (at most 2 edits) or
 * one whose name starts with the other's first 3 letters and more
 * ("-cpu" for -cpu_cores, "-memory" for -mem); NULL when none is close. */
static const char *near_spec(const args_spec *specs, size_t n, const char *name, size_t len)
{
    const char *best = NULL;
    size_t best_d = 3;
    if (len < 3) return NULL;   /* "-x": too short to guess from */
    for (size_t i = 0; i < n; i++) {
        const char *s = specs[i].name;
        size_t sl = strlen(s), common = 0;
        while (common < len && common < sl && s[common] == name[common]) common++;
        size_t d = edits(name, len, s);
        if (common >= 3 && (common == len || common == sl))
            d = d < 1 ? d : 1;      /* one is the other's start */
        if (d < best_d) {
            best = s;
            best_d = d;
        }
    }
    return best;
}

static const char *kind_what(int kind)
{
    switch (kind) {
    case ARGS_U64: return "a whole number";
    case ARGS_COUNT: return "a whole number >= 1";
    case ARGS_CPU: return "a number of cores > 0 (e.g. 0.5, 2)";
    case ARGS_GIB: return "GB (e.g. 0.5, 4) or a size (512m, 2g)";
    case ARGS_TIME: return "a time (unix seconds, 2026-11-28, \"2026-11-28 14:00:00\", 2h, 7d)";
    case ARGS_SECONDS: return "seconds (90, 30s, 5m, 2h)";
    case ARGS_LIST: return "a value (given at most 256 times)";
    default: return "a value";
    }
}

static int set_value(const args_spec *sp, const char *v)
{
    uint64_t u;
    switch (sp->kind) {
    case ARGS_STR:
        *(const char **)sp->dst = v;
        return 0;
    case ARGS_U64:
        return args_parse_u64(v, (uint64_t *)sp->dst);
    case ARGS_COUNT:
        if (args_parse_u64(v, &u) < 0 || u == 0)
            return ARGS_E_VALUE;
        *(uint64_t *)sp->dst = u;
        return 0;
    case ARGS_CPU:
        return args_parse_cpu(v, (double *)sp->dst);
    case ARGS_GIB:
        return args_parse_gib(v, (uint64_t *)sp->dst);
    case ARGS_TIME:
        return ids_parse_time(v, ids_now_ms(), (uint64_t *)sp->dst) < 0 ? ARGS_E_VALUE : 0;
    case ARGS_SECONDS:
        return args_parse_seconds(v, (uint64_t *)sp->dst);
    case ARGS_LIST: {
        args_list *l = sp->dst;
        if (l->n >= ARGS_LIST_MAX)
            return ARGS_E_VALUE;
        l->v[l->n++] = v;
        return 0;
    }
    default:
        return ARGS_E_VALUE;
    }
}

int args_parse(const args_spec *specs, size_t nspecs, int argc, char **argv,
               char **pos, int maxpos, args_result *r, char *err, size_t errcap)
{
    memset(r, 0, sizeof *r);
    r->pos = pos;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            r->dashdash = 1;
            r->rest = argv + i + 1;
            r->nrest = argc - i - 1;
            return 0;
        }
        /* "-" alone and words not starting with '-' are positional. */
        if (a[0] != '-' || a[1] == '\0') {
            if (r->npos >= maxpos) {
                /* `cloudai files hello`: a verb that takes no word may take it as -name. */
                int by_name = maxpos == 0 && find_spec(specs, nspecs, "name", 4);
                snprintf(err, errcap, "unexpected argument '%s'%s%s%s", a,
                         by_name ? " (did you mean -name " : "", by_name ? a : "", by_name ? "?)" : "");
                return ARGS_E_EXTRA;
            }
            pos[r->npos++] = argv[i];
            continue;
        }
        const char *name = a + 1 + (a[1] == '-');
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if ((len == 1 && name[0] == 'h') || (len == 4 && !strncmp(name, "help", 4))) {
            r->help = 1;
            return 0;
        }
        const args_spec *sp = find_spec(specs, nspecs, name, len);
        if (!sp) {
            const char *near = near_spec(specs, nspecs, name, len);
            snprintf(err, errcap, "unknown flag '%.*s'%s%s%s", (int)(name - a + len), a,
                     near ? " (did you mean -" : "", near ? near : "", near ? "?)" : "");
            return ARGS_E_UNKNOWN;
        }
        if (sp->kind == ARGS_BOOL) {
            if (eq) {
                snprintf(err, errcap, "-%s takes no value", sp->name);
                return ARGS_E_NOVALUE;
            }
            *(int *)sp->dst = 1;
        } else {
            const char *v;
            if (eq) {
                v = eq + 1;
            } else {
                if (i + 1 >= argc || !strcmp(argv[i + 1], "--")) {
                    snprintf(err, errcap, "-%s needs a value (%s)", sp->name,
                             sp->meta ? sp->meta : "value");
                    return ARGS_E_MISSING;
                }
                v = argv[++i];
            }
            if (set_value(sp, v) < 0) {
                snprintf(err, errcap, "-%s: '%s' is not %s", sp->name, v, kind_what(sp->kind));
                return ARGS_E_VALUE;
            }
        }
        if (sp->seen)
            *sp->seen = 1;
    }
    return 0;
}

void args_usage(FILE *out, const args_spec *specs, size_t nspecs)
{
    for (size_t i = 0; i < nspecs; i++) {
        char left[64];
        snprintf(left, sizeof left, "-%s%s%s", specs[i].name, specs[i].meta ? " " : "",
                 specs[i].meta ? specs[i].meta : "");
        fprintf(out, "  %-22s %s\n", left, specs[i].help ? specs[i].help : "");
    }
}
