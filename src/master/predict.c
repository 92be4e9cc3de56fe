/* predict.c — per-group runtime history (predict.h): an open hash table of
 * groups, each with the last PREDICT_RING runtimes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "predict.h"

typedef struct pgroup {
    char *key;
    double ring[PREDICT_RING];
    unsigned long n;          /* runs ever added */
    double mem_peak, cpu_sum, max_rt, max_cores;
    unsigned long ncpu, ncores;
} pgroup;

struct predict {
    pgroup *g;
    size_t cap, used, max;
};

static unsigned long long hkey(const char *s)
{
    unsigned long long h = 1469598103934665603ull;   /* FNV-1a */
    while (*s) { h ^= (unsigned char)*s++; h *= 1099511628211ull; }
    return h;
}

predict *predict_new(size_t max_groups)
{
    predict *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->cap = 256;
    p->max = max_groups ? max_groups : 65536;
    if (!(p->g = calloc(p->cap, sizeof *p->g))) { free(p); return NULL; }
    return p;
}

void predict_free(predict *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->cap; i++) free(p->g[i].key);
    free(p->g);
    free(p);
}

size_t predict_groups(const predict *p) { return p->used; }

static pgroup *find(const predict *p, const char *key)
{
    for (size_t i = hkey(key) & (p->cap - 1);; i = (i + 1) & (p->cap - 1)) {
        if (!p->g[i].key) return NULL;
        if (!strcmp(p->g[i].key, key)) return &p->g[i];
    }
}

static int rehash(predict *p)
{
    size_t nc = p->cap * 2;
    pgroup *ng = calloc(nc, sizeof *ng);
    if (!ng) return -ENOMEM;
    for (size_t i = 0; i < p->cap; i++) {
        if (!p->g[i].key) continue;
        size_t k = hkey(p->g[i].key) & (nc - 1);
        while (ng[k].key) k = (k + 1) & (nc - 1);
        ng[k] = p->g[i];
    }
    free(p->g);
    p->g = ng;
    p->cap = nc;
    return 0;
}

static pgroup *find_or_add(predict *p, const char *key)
{
    pgroup *g = find(p, key);
    if (g) return g;
    if (p->used >= p->max) return NULL;
    if ((p->used + 1) * 2 > p->cap && rehash(p) < 0) return NULL;
    size_t i = hkey(key) & (p->cap - 1);
    while (p->g[i].key) i = (i + 1) & (p->cap - 1);
    if (!(p->g[i].key = strdup(key))) return NULL;
    p->used++;
    return &p->g[i];
}

int predict_add(predict *p, const char *const *keys, size_t nkeys, double runtime,
                double cpu_s, double mem_peak)
{
    int rc = 0;
    if (runtime < 0) runtime = 0;
    for (size_t k = 0; k < nkeys; k++) {
        pgroup *g = find_or_add(p, keys[k]);
        if (!g) { rc = -ENOMEM; continue; }
        g->ring[g->n % PREDICT_RING] = runtime;
        g->n++;
        if (runtime > g->max_rt) g->max_rt = runtime;
        if (mem_peak > g->mem_peak) g->mem_peak = mem_peak;
        if (cpu_s > 0) { g->cpu_sum += cpu_s; g->ncpu++; }
        if (cpu_s > 0 && runtime >= PREDICT_CORES_MIN_S) {
            double cores = cpu_s / runtime;
            if (cores > g->max_cores) g->max_cores = cores;
            g->ncores++;
        }
    }
    return rc;
}

/* A runtime as the policy takes it: at least 1 s, at most the limit. */
static double bounded(double v, double limit)
{
    if (v < 1) v = 1;
    return limit > 0 && v > limit ? limit : v;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int predict_get(const predict *p, const char *const *keys, size_t nkeys, double limit,
                predict_est *est)
{
    memset(est, 0, sizeof *est);
    est->level = -1;
    est->runtime = limit > 0 ? limit : 0;
    for (size_t k = 0; k < nkeys; k++) {
        const pgroup *g = find(p, keys[k]);
        if (!g || g->n == 0) continue;
        unsigned long m = g->n < PREDICT_RING ? g->n : PREDICT_RING;
        double last = g->ring[(g->n - 1) % PREDICT_RING];
        double prev = g->n >= 2 ? g->ring[(g->n - 2) % PREDICT_RING] : last;
        double v[PREDICT_RING];
        memcpy(v, g->ring, m * sizeof *v);
        qsort(v, m, sizeof *v, cmp_d);
        est->last2 = (last + prev) / 2;
        est->q50 = v[(m - 1) / 2];
        est->q90 = v[(m - 1) * 9 / 10];
        est->max_runtime = g->max_rt;
        est->mem_peak = g->mem_peak;
        est->cpu_s = g->ncpu ? g->cpu_sum / (double)g->ncpu : 0;
        est->max_cores = g->max_cores;
        est->ncores = g->ncores;
        est->n = g->n;
        est->level = (int)k;
        est->runtime = bounded(est->last2, limit);
        est->p_max = bounded(v[m - 1], limit);
        break;
    }
    return est->level;
}

double predict_guess(const predict_est *est)
{
    return est->level == 0 && est->n >= PREDICT_GUESS_RUNS ? est->p_max : 0;
}
