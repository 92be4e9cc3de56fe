/* sched.c — best-fit and spread placement over free resources. */
#include <stdio.h>
#include <string.h>
#include "sched.h"

int sched_policy_parse(const char *s)
{
    if (!strcmp(s, "best-fit")) return SCHED_BEST_FIT;
    if (!strcmp(s, "spread")) return SCHED_SPREAD;
    return -1;
}

int sched_fits(const sched_res *have, const sched_res *req)
{
    /* A tiny epsilon so 0.1 + 0.2 cores still fit in 0.3. */
    return req->cpu <= have->cpu + 1e-9 && req->memory <= have->memory &&
           req->storage <= have->storage && req->gpu <= have->gpu;
}

/* Fraction of a node's capacity left after placing req: best fit packs the
 * node that ends up fullest, spread the one that stays emptiest. */
static double leftover(const sched_node *n, const sched_res *req)
{
    double s = 0;
    int k = 0;
    if (n->total.cpu > 0) { s += (n->free.cpu - req->cpu) / n->total.cpu; k++; }
    if (n->total.memory > 0) { s += (double)(n->free.memory - req->memory) / (double)n->total.memory; k++; }
    if (n->total.storage > 0) { s += (double)(n->free.storage - req->storage) / (double)n->total.storage; k++; }
    if (n->total.gpu > 0) { s += (double)(n->free.gpu - req->gpu) / (double)n->total.gpu; k++; }
    return k ? s / k : 0;
}

static void explain(const sched_node *nodes, size_t n, const sched_res *req,
                    const char *const *names, char *reason, size_t cap)
{
    size_t best = 0, usable = 0;
    const char *const *what = NULL;    /* the nouns below */
    double need = 0, most = -1;

    for (size_t i = 0; i < n; i++)
        usable += nodes[i].usable != 0;
    if (usable == 0) {
        snprintf(reason, cap, "waiting for a worker (none connected)");
        return;
    }
    /* GPUs asked of a cluster without any: say that, not "the most free is 0". */
    if (req->gpu > 0) {
        int anygpu = 0;
        for (size_t i = 0; i < n; i++)
            anygpu |= nodes[i].usable && nodes[i].total.gpu > 0;
        if (!anygpu) {
            snprintf(reason, cap, "needs %llu GPU%s; no worker has any GPU",
                     (unsigned long long)req->gpu, req->gpu == 1 ? "" : "s");
            return;
        }
    }
    /* Name the first resource no node can satisfy, with the best offer:
     * "needs 1 CPU core; the most free is 0 cores on w1". Nouns: needed,
     * one and many; offered, one and many. */
    static const char *const cpu_n[] = { "CPU core", "CPU cores", "core", "cores" };
    static const char *const mem_n[] = { "GiB memory", "GiB memory", "GiB", "GiB" };
    static const char *const sto_n[] = { "GiB storage", "GiB storage", "GiB", "GiB" };
    static const char *const gpu_n[] = { "GPU", "GPUs", "GPU", "GPUs" };
#define SCARCE(field, nouns, conv) \
    if (!what) { \
        int any = 0; most = -1; \
        for (size_t i = 0; i < n; i++) { \
            if (!nodes[i].usable) continue; \
            if (nodes[i].free.field >= req->field) any = 1; \
            if ((double)nodes[i].free.field > most) { most = (double)nodes[i].free.field; best = i; } \
        } \
        if (!any) { what = nouns; need = (double)req->field / conv; most /= conv; } \
    }
    SCARCE(cpu, cpu_n, 1.0)
    SCARCE(memory, mem_n, 1073741824.0)
    SCARCE(storage, sto_n, 1073741824.0)
    SCARCE(gpu, gpu_n, 1.0)
#undef SCARCE
    if (!what) {
        snprintf(reason, cap, "no single worker has every requested resource free at once");
        return;
    }
    char nm[32];
    if (names) snprintf(nm, sizeof nm, "%s", names[best]);
    else snprintf(nm, sizeof nm, "#%zu", best);
    snprintf(reason, cap, "needs %.3g %s; the most free is %.3g %s on %s", need,
             what[need != 1], most, what[2 + (most != 1)], nm);
}

int sched_pick(const sched_node *nodes, size_t n, const sched_res *req, int policy,
               const char *const *names, char *reason, size_t reasoncap)
{
    int best = -1;
    double best_score = 0;

    for (size_t i = 0; i < n; i++) {
        if (!nodes[i].usable || !sched_fits(&nodes[i].free, req))
            continue;
        double left = leftover(&nodes[i], req);
        double score = policy == SCHED_SPREAD ? left : -left;
        if (best < 0 || score > best_score) {
            best = (int)i;
            best_score = score;
        }
    }
    if (best < 0 && reason)
        explain(nodes, n, req, names, reason, reasoncap);
    return best;
}
