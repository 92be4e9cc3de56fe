/* bench_sched.c — placement decisions per second: sched_pick over 1,000
 * registered workers for 100,000 queued tasks of mixed sizes, with the
 * chosen worker's free resources taken (and the oldest placements released
 * when the cluster is full, as completions would). Prints
 * "DECISIONS SECONDS PLACED". Usage: bench_sched [NWORKERS NTASKS]. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "master/sched.h"

#define GIB (1024ull * 1024 * 1024)

static unsigned long long rs = 88172645463325252ull;
static unsigned long long rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static void take(sched_res *f, const sched_res *r, int sign)
{
    f->cpu += sign * r->cpu;
    f->memory += (uint64_t)((int64_t)sign * (int64_t)r->memory);
    f->storage += (uint64_t)((int64_t)sign * (int64_t)r->storage);
    f->gpu += (uint64_t)((int64_t)sign * (int64_t)r->gpu);
}

int main(int argc, char **argv)
{
    size_t nw = argc > 1 ? (size_t)atol(argv[1]) : 1000, nt = argc > 2 ? (size_t)atol(argv[2]) : 100000;
    sched_node *nodes = calloc(nw, sizeof *nodes);
    sched_res *req = calloc(nt, sizeof *req);
    int *where = calloc(nt, sizeof *where);
    char reason[256];
    if (!nodes || !req || !where) return 1;
    for (size_t i = 0; i < nw; i++) {
        static const double cpus[] = {2, 4, 8, 16, 32, 64};
        sched_res t = {cpus[rnd() % 6], (4 + rnd() % 252) * GIB, (100 + rnd() % 900) * GIB,
                       rnd() % 10 == 0 ? 4 : 0};
        nodes[i].total = nodes[i].free = t;
        nodes[i].usable = rnd() % 50 != 0;
    }
    for (size_t i = 0; i < nt; i++) {
        static const double cpus[] = {0.25, 0.5, 1, 1, 1, 2, 4, 8};
        sched_res r = {cpus[rnd() % 8], (rnd() % 32 + 1) * GIB / 4, (rnd() % 20 + 1) * GIB,
                       rnd() % 50 == 0 ? 1 : 0};
        req[i] = r;
    }
    struct timespec a, b;
    size_t decisions = 0, placed = 0, oldest = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (size_t i = 0; i < nt; i++) {
        for (int tries = 0; tries < 50; tries++) {
            int k = sched_pick(nodes, nw, &req[i], tries % 2 ? SCHED_SPREAD : SCHED_BEST_FIT,
                               NULL, reason, sizeof reason);
            decisions++;
            if (k >= 0) {
                take(&nodes[k].free, &req[i], -1);
                where[i] = k;
                placed++;
                break;
            }
            /* Full: the oldest running tasks complete. */
            for (int j = 0; j < 64 && oldest < i; oldest++) {
                if (where[oldest] >= 0) {
                    take(&nodes[where[oldest]].free, &req[oldest], +1);
                    where[oldest] = -1;
                    j++;
                }
            }
            where[i] = -1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double dt = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    printf("%zu %.6f %zu\n", decisions, dt, placed);
    free(nodes);
    free(req);
    free(where);
    return 0;
}
