/* cloudai-sim — replays a workload trace in virtual time through the
 * master's own scheduling code (policy.c, predict.c, sched.c) and prints,
 * per policy, mean wait, mean bounded slowdown, p99 and max wait,
 * utilisation and the jobs that could never fit.
 *
 * Trace: the Standard Workload Format (SWF) of the Parallel Workloads
 * Archive, optionally gzip'ed. Inputs a policy may use: submit time,
 * requested processors (else allocated) as CPUs, requested memory, the
 * requested time as the user's limit (else -default-limit), user and
 * executable number (the group). The actual runtime only decides when a
 * job ends. A job that outlives a limit the user gave is ended at it (as a
 * site's batch system kills it); the default limit is not enforced.
 *
 * -gen lublin: a synthetic workload after Lublin and Feitelson (2003),
 * simplified (README "Scheduling"). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include "master/policy.h"
#include "master/predict.h"
#include "master/sched.h"
#include "swf.h"

typedef struct job {
    double submit, run, limit, predict, start;
    sched_res req;
    int user;
    long exe;
    int never;
    int own_limit;       /* the trace has its requested time (else -default-limit) */
} job;

typedef struct sim_cfg {
    size_t workers;
    double cpu, mem, time_scale, default_limit, halflife, slack, guard, load;
    int json;
    int exact;      /* -exact-predictions: learned sees each job's real runtime */
} sim_cfg;

static void usage(FILE *f)
{
    fprintf(f,
"usage: cloudai-sim -trace FILE.swf[.gz] -workers N -cpu C [-mem BYTES] [-time-scale F]\n"
"                   [-policy fifo|greedy|easy|learned|all] [-default-limit S] [-json]\n"
"       cloudai-sim -gen lublin -jobs N [-seed S] -workers N -cpu C ... (synthetic workload)\n"
"       cloudai-sim -gen lublin -jobs N [-seed S] -cpu C -write FILE.swf (write it, no run)\n"
"  -workers N        identical workers, each with -cpu C cores and -mem BYTES memory\n"
"  -time-scale F     multiply submit times by F (F < 1 raises the offered load)\n"
"  -load L           pick the time scale that makes the offered load L (0 < L < 2)\n"
"  -default-limit S  a job's limit when the trace has no requested time (default 86400)\n"
"  -halflife S       fair-share usage half-life for learned (default 604800; 0 = off)\n"
"  -slack F          learned: share of the capacity a waiting job lends to younger\n"
"                    ones before it is owed its turn (default 0.05)\n"
"  -guard F          learned: a job that has waited F times the longest wait so\n"
"                    far goes first, oldest first (default 0.75)\n"
"  -json             one JSON object per policy, one per line\n"
"  -schedule FILE    every job's schedule, a line each (policy, job, submit, start,\n"
"                    run, CPUs, user, predicted runtime, limit; seconds), to study\n"
"                    who waited and why\n"
"  -exact-predictions  learned's predictions are each job's actual runtime: not\n"
"                    a policy (nothing knows that at submit) but the bound on\n"
"                    what any predictor could give it; the output says so\n");
}

/* ---- SWF -------------------------------------------------------------- */

typedef struct jobs { job *v; size_t n, cap; } jobs;

static int jobs_push(jobs *js, const job *j)
{
    if (js->n == js->cap) {
        size_t nc = js->cap ? js->cap * 2 : 4096;
        job *nv = realloc(js->v, nc * sizeof *nv);
        if (!nv) return -ENOMEM;
        js->v = nv;
        js->cap = nc;
    }
    js->v[js->n++] = *j;
    return 0;
}

/* user ids -> dense indexes */
typedef struct umap { long *ids; int *idx; size_t cap, n; } umap;

static int umap_get(umap *m, long id)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 1024;
        long *ni = malloc(nc * sizeof *ni);
        int *nx = malloc(nc * sizeof *nx);
        if (!ni || !nx) { free(ni); free(nx); return -1; }
        for (size_t i = 0; i < nc; i++) ni[i] = LONG_MIN;
        for (size_t i = 0; i < m->cap; i++) {
            if (m->ids[i] == LONG_MIN) continue;
            size_t k = ((unsigned long)m->ids[i] * 2654435761u) & (nc - 1);
            while (ni[k] != LONG_MIN) k = (k + 1) & (nc - 1);
            ni[k] = m->ids[i];
            nx[k] = m->idx[i];
        }
        free(m->ids); free(m->idx);
        m->ids = ni; m->idx = nx; m->cap = nc;
    }
    size_t k = ((unsigned long)id * 2654435761u) & (m->cap - 1);
    while (m->ids[k] != LONG_MIN) {
        if (m->ids[k] == id) return m->idx[k];
        k = (k + 1) & (m->cap - 1);
    }
    m->ids[k] = id;
    m->idx[k] = (int)m->n;
    return (int)m->n++;
}

static int read_swf(const char *path, const sim_cfg *cfg, jobs *js, umap *um, size_t *skipped)
{
    gzFile f = gzopen(path, "rb");
    char line[SWF_LINE_MAX + 1];
    if (!f) return -errno ? -errno : -EIO;
    while (gzgets(f, line, sizeof line)) {
        double v[SWF_FIELDS];
        int k = swf_parse_line(line, strlen(line), v);
        if (k == 0) continue;
        if (k < 0) { (*skipped)++; continue; }
        double run = v[3], procs = v[7] > 0 ? v[7] : v[4], lim = v[8];
        if (run < 0 || procs <= 0 || v[1] < 0) { (*skipped)++; continue; }
        job j = { 0 };
        j.submit = v[1];
        j.req.cpu = procs;
        if (cfg->mem > 0 && v[9] > 0) j.req.memory = (uint64_t)(v[9] * 1024.0 * procs);
        j.limit = lim > 0 ? lim : cfg->default_limit;
        j.own_limit = lim > 0;
        /* A batch system ends a job at the limit the user gave. */
        j.run = lim > 0 && run > lim ? lim : run;
        int u = umap_get(um, (long)v[11]);
        if (u < 0) { gzclose(f); return -ENOMEM; }
        j.user = u;
        j.exe = (long)v[13];
        if (jobs_push(js, &j) < 0) { gzclose(f); return -ENOMEM; }
    }
    gzclose(f);
    return 0;
}

/* ---- synthetic workload: Lublin & Feitelson (2003), simplified ---------- */

static uint64_t rng_s;
static double urand(void)            /* splitmix64 -> (0,1) */
{
    uint64_t z = (rng_s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}
static double nrand(void) { return sqrt(-2 * log(urand())) * cos(2 * M_PI * urand()); }
static double gamma_rand(double a, double b)   /* shape a, scale b (Marsaglia-Tsang) */
{
    if (a < 1) return gamma_rand(a + 1, b) * pow(urand(), 1 / a);
    double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x = nrand(), v = 1 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = urand();
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) return d * v * b;
    }
}

/* Sizes: serial with probability 0.24, else log2(size) from the model's
 * two-stage uniform (low 0.8, med, high log2(C); 0.86 in the low stage),
 * rounded to a power of two with probability 0.75. Runtimes: ln(runtime)
 * hyper-gamma (4.2, 0.94) / (312, 0.03), the first with probability
 * -0.0054 * size + 0.78 (clamped) — the paper's batch-job parameters.
 * Arrivals: Poisson with the daily cycle as a sinusoid (the paper fits a
 * gamma inter-arrival and a measured daily cycle; the sinusoid keeps the
 * peak/trough ratio). The model has no users or estimates, which the
 * predictors need: 64 users with Zipf activity each run a few
 * applications; a job's runtime is its application's base runtime (drawn
 * from the hyper-gamma) times a log-normal jitter (sigma 0.5), and the
 * limit is the first round value (15 min ... 7 days) above 2-5x the base,
 * as users overestimate (Tsafrir et al. 2005). */
static int gen_lublin(size_t n, uint64_t seed, double cpu, jobs *js, umap *um)
{
    static const double rounds[] = { 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400,
                                     172800, 345600, 604800 };
    enum { USERS = 64, APPS = 4 };
    double base[USERS][APPS], asize[USERS][APPS], zipf[USERS], ztot = 0;
    rng_s = seed * 0x9E3779B97F4A7C15ull + 1;
    double uhi = log2(cpu > 1 ? cpu : 1), ulow = 0.8, umed = uhi > 2.5 ? uhi - 2.5 : uhi / 2;
    for (int u = 0; u < USERS; u++) {
        zipf[u] = 1.0 / (u + 1);
        ztot += zipf[u];
        for (int a = 0; a < APPS; a++) {
            double s = 1;
            if (urand() >= 0.24 && uhi > 0) {
                double l = urand() < 0.86 ? ulow + urand() * (umed - ulow)
                                          : umed + urand() * (uhi - umed);
                s = urand() < 0.75 ? pow(2, floor(l + 0.5)) : floor(pow(2, l) + 0.5);
                if (s < 1) s = 1;
                if (s > cpu) s = cpu;
            }
            asize[u][a] = s;
            double p1 = -0.0054 * s + 0.78;
            if (p1 < 0.1) p1 = 0.1;
            double lr = urand() < p1 ? gamma_rand(4.2, 0.94) : gamma_rand(312, 0.03);
            base[u][a] = exp(lr);
            if (base[u][a] < 1) base[u][a] = 1;
            if (base[u][a] > 604800) base[u][a] = 604800;
        }
    }
    for (int u = 0; u < USERS; u++) if (umap_get(um, u) < 0) return -ENOMEM;
    double t = 0;
    for (size_t i = 0; i < n; i++) {
        /* mean inter-arrival 60 s at the daily average; -time-scale sets load */
        double rate = (1 + 0.6 * sin(2 * M_PI * fmod(t, 86400) / 86400)) / 60.0;
        t += -log(urand()) / rate;
        double z = urand() * ztot;
        int u = 0;
        while (u < USERS - 1 && (z -= zipf[u]) > 0) u++;
        int a = (int)(urand() * APPS);
        if (a >= APPS) a = APPS - 1;
        job j = { 0 };
        j.submit = floor(t);
        j.user = u;
        j.exe = a;
        j.req.cpu = asize[u][a];
        j.run = floor(base[u][a] * exp(0.5 * nrand()));
        double want = base[u][a] * (2 + 3 * urand());
        j.own_limit = 1;
        j.limit = rounds[sizeof rounds / sizeof *rounds - 1];
        for (size_t r = 0; r < sizeof rounds / sizeof *rounds; r++)
            if (rounds[r] >= want) { j.limit = rounds[r]; break; }
        if (j.run > j.limit) j.run = j.limit;
        if (jobs_push(js, &j) < 0) return -ENOMEM;
    }
    return 0;
}

static int write_swf(const char *path, const jobs *js)
{
    FILE *f = fopen(path, "w");
    if (!f) return -errno;
    fprintf(f, "; Synthetic workload: cloudai-sim -gen lublin (Lublin & Feitelson 2003, simplified)\n");
    for (size_t i = 0; i < js->n; i++) {
        const job *j = &js->v[i];
        fprintf(f, "%zu %.0f -1 %.0f %.0f -1 -1 %.0f %.0f -1 1 %d %d %ld -1 -1 -1 -1\n", i + 1,
                j->submit, j->run, j->req.cpu, j->req.cpu, j->limit, j->user + 1, j->user + 1,
                j->exe + 1);
    }
    return fclose(f) ? -errno : 0;
}

/* -schedule: one tab-separated line per job that could run, after a
 * header; times in seconds from the trace's first submission (scaled). */
static int write_schedule(FILE *f, const char *pol, const jobs *js)
{
    for (size_t i = 0; i < js->n; i++) {
        const job *j = &js->v[i];
        if (j->never) continue;
        fprintf(f, "%s\t%zu\t%.0f\t%.0f\t%.0f\t%g\t%d\t%.0f\t%.0f\n", pol, i + 1, j->submit,
                j->start, j->run, j->req.cpu, j->user + 1, j->predict, j->limit);
    }
    return fflush(f) || ferror(f) ? -EIO : 0;
}

/* ---- the simulation ------------------------------------------------------ */

typedef struct heap { size_t *v; size_t n; const job *js; } heap;   /* by end time */

static double hend(const heap *h, size_t i) { const job *j = &h->js[h->v[i]]; return j->start + j->run; }
static void hpush(heap *h, size_t x)
{
    size_t i = h->n++;
    h->v[i] = x;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (hend(h, p) <= hend(h, i)) break;
        size_t t = h->v[p]; h->v[p] = h->v[i]; h->v[i] = t;
        i = p;
    }
}
static size_t hpop(heap *h)
{
    size_t top = h->v[0];
    h->v[0] = h->v[--h->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && hend(h, l) < hend(h, m)) m = l;
        if (r < h->n && hend(h, r) < hend(h, m)) m = r;
        if (m == i) break;
        size_t t = h->v[m]; h->v[m] = h->v[i]; h->v[i] = t;
        i = m;
    }
    return top;
}

typedef struct result {
    double mean_wait, mean_bsld, p99_wait, max_wait, util, load, mean_run, secs;
    size_t jobs, never;
} result;

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The most specific group first: user + executable + requested time (a
 * user's jobs with the same request tend to be the same kind of work, as
 * the master's name stem), user + executable, user. */
#define NKEYS 3
static void group_keys(const job *j, char k[NKEYS][48])
{
    snprintf(k[0], 48, "u%d/e%ld/l%.0f", j->user, j->exe, j->limit);
    snprintf(k[1], 48, "u%d/e%ld", j->user, j->exe);
    snprintf(k[2], 48, "u%d", j->user);
}

static int simulate(const sim_cfg *cfg, int kind, jobs *js, size_t nusers, result *res)
{
    int rc = -ENOMEM;
    size_t n = js->n, nn = cfg->workers;
    sched_node *nodes = calloc(nn, sizeof *nodes);
    policy_run *run = malloc((n + 1) * sizeof *run);
    size_t *run_job = malloc((n + 1) * sizeof *run_job), *qidx = malloc((n + 1) * sizeof *qidx);
    size_t *pos = malloc((n + 1) * sizeof *pos);
    policy_job *q = malloc((n + 1) * sizeof *q);
    int *start = malloc((n + 1) * sizeof *start);
    int *node_of = malloc((n + 1) * sizeof *node_of);
    policy_user *users = calloc(nusers + 1, sizeof *users);
    double *waits = malloc((n + 1) * sizeof *waits);
    heap h = { malloc((n + 1) * sizeof(size_t)), 0, js->v };
    policy_ctx *pc = policy_ctx_new();
    predict *pr = kind == POLICY_LEARNED ? predict_new(0) : NULL;
    policy_cfg pcfg = { kind, kind == POLICY_FIFO ? SCHED_BEST_FIT : SCHED_BEST_FIT,
                        kind == POLICY_LEARNED ? cfg->halflife : 0, cfg->slack,
                        cfg->guard };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(res, 0, sizeof *res);
    if (!nodes || !run || !run_job || !qidx || !pos || !q || !start || !node_of || !users ||
        !waits || !h.v || !pc || (kind == POLICY_LEARNED && !pr))
        goto out;
    for (size_t i = 0; i < nn; i++) {
        nodes[i].usable = 1;
        nodes[i].total.cpu = cfg->cpu;
        nodes[i].total.memory = cfg->mem > 0 ? (uint64_t)cfg->mem : 0;
        nodes[i].free = nodes[i].total;
    }
    size_t next = 0, nq = 0, nr = 0, done = 0;
    double first = n ? js->v[0].submit : 0, last_end = first, last_submit = first, work = 0;
    while (next < n || h.n > 0) {
        double t = next < n ? js->v[next].submit : INFINITY;
        if (h.n > 0 && hend(&h, 0) <= t) t = hend(&h, 0);
        while (h.n > 0 && hend(&h, 0) <= t) {
            size_t x = hpop(&h);
            job *j = &js->v[x];
            sched_node *nd = &nodes[node_of[x]];
            nd->free.cpu += j->req.cpu;
            nd->free.memory += j->req.memory;
            size_t p = pos[x];
            run[p] = run[--nr];
            run_job[p] = run_job[nr];
            pos[run_job[p]] = p;
            if (pr) {
                char k[NKEYS][48];
                const char *kp[NKEYS] = { k[0], k[1], k[2] };
                group_keys(j, k);
                predict_add(pr, kp, NKEYS, j->run, 0, 0);
            }
            if (pcfg.halflife_s > 0)
                policy_fs_charge(&users[j->user], t, pcfg.halflife_s, j->req.cpu * j->run);
            if (t > last_end) last_end = t;
        }
        while (next < n && js->v[next].submit <= t) {
            job *j = &js->v[next];
            if (nn == 0 || !sched_fits(&nodes[0].total, &j->req)) {
                j->never = 1;
                res->never++;
                next++;
                continue;
            }
            j->predict = 0;
            double p_max = 0, guess = 0;
            if (pr) {
                char k[NKEYS][48];
                const char *kp[NKEYS] = { k[0], k[1], k[2] };
                predict_est e;
                group_keys(j, k);
                predict_get(pr, kp, NKEYS, j->limit, &e);
                j->predict = e.runtime;
                p_max = e.p_max;     /* 0 without history */
                if (!j->own_limit) guess = predict_guess(&e);
                if (cfg->exact) {
                    /* the bound on predictions: the run itself (the limit
                     * still ends it), and a guess that backfills by it */
                    double r = j->run > 1 ? j->run : 1;
                    j->predict = p_max = r;
                    if (!j->own_limit) guess = r / POLICY_GUESS_MARGIN;
                }
            }
            q[nq] = (policy_job){ j->req, j->submit, j->limit, j->predict, 0, j->user, -1, 0,
                                  p_max, guess };
            qidx[nq++] = next;
            last_submit = j->submit;
            next++;
        }
        if (kind == POLICY_LEARNED && policy_account(pc, t, run, nr, q, nq) < 0) goto out;
        int k = policy_pass(pc, &pcfg, t, nodes, nn, run, nr, q, nq, users, nusers, start, NULL,
                            NULL);
        if (k < 0) goto out;
        if (k > 0) {
            size_t keep = 0;
            for (size_t i = 0; i < nq; i++) {
                if (start[i] < 0) {
                    q[keep] = q[i];
                    qidx[keep++] = qidx[i];
                    continue;
                }
                size_t x = qidx[i];
                job *j = &js->v[x];
                j->start = t;
                node_of[x] = start[i];
                run[nr] = (policy_run){ start[i], j->user, j->req, t, j->limit, j->predict,
                                        j->submit };
                run_job[nr] = x;
                pos[x] = nr++;
                hpush(&h, x);
                waits[done++] = t - j->submit;
                work += j->req.cpu * j->run;
            }
            nq = keep;
        }
    }
    double sw = 0, sb = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const job *j = &js->v[i];
        if (j->never) continue;
        double w = j->start - j->submit, r = j->run;
        sw += w;
        double b = (w + r) / (r > 10 ? r : 10);
        sb += b > 1 ? b : 1;
        res->mean_run += r;
        m++;
    }
    res->jobs = m;
    if (m) {
        res->mean_wait = sw / (double)m;
        res->mean_bsld = sb / (double)m;
        res->mean_run /= (double)m;
        qsort(waits, done, sizeof *waits, cmp_d);
        res->p99_wait = waits[(size_t)((double)(done - 1) * 0.99)];
        res->max_wait = waits[done - 1];
    }
    double cap = (double)nn * cfg->cpu;
    if (last_end > first) res->util = work / (cap * (last_end - first));
    if (last_submit > first) res->load = work / (cap * (last_submit - first));
    rc = 0;
out:
    clock_gettime(CLOCK_MONOTONIC, &t1);
    res->secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    free(nodes); free(run); free(run_job); free(qidx); free(pos); free(q); free(start);
    free(node_of); free(users); free(waits); free(h.v);
    policy_ctx_free(pc);
    predict_free(pr);
    return rc;
}

static int cmp_submit(const void *a, const void *b)
{
    double x = ((const job *)a)->submit, y = ((const job *)b)->submit;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    sim_cfg cfg = { 0, 0, 0, 1.0, 86400, 604800, 0, 0, 0, 0, 0 };
    const char *trace = NULL, *gen = NULL, *pol = "all", *out = NULL, *sched_path = NULL;
    FILE *sched_f = NULL;
    size_t njobs = 10000;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-json")) { cfg.json = 1; continue; }
        if (!strcmp(a, "-exact-predictions")) { cfg.exact = 1; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "-help")) { usage(stdout); return 0; }
        if (!v) {
            fprintf(stderr, "cloudai-sim: %s needs a value (-h for help)\n", a);
            return 2;
        }
        char *e = NULL;
        if (!strcmp(a, "-trace")) trace = v;
        else if (!strcmp(a, "-gen")) gen = v;
        else if (!strcmp(a, "-write")) out = v;
        else if (!strcmp(a, "-schedule")) sched_path = v;
        else if (!strcmp(a, "-policy")) pol = v;
        else if (!strcmp(a, "-workers")) cfg.workers = strtoul(v, &e, 10);
        else if (!strcmp(a, "-cpu")) cfg.cpu = strtod(v, &e);
        else if (!strcmp(a, "-mem")) cfg.mem = strtod(v, &e);
        else if (!strcmp(a, "-time-scale")) cfg.time_scale = strtod(v, &e);
        else if (!strcmp(a, "-default-limit")) cfg.default_limit = strtod(v, &e);
        else if (!strcmp(a, "-halflife")) cfg.halflife = strtod(v, &e);
        else if (!strcmp(a, "-slack")) cfg.slack = strtod(v, &e);
        else if (!strcmp(a, "-guard")) cfg.guard = strtod(v, &e);
        else if (!strcmp(a, "-load")) cfg.load = strtod(v, &e);
        else if (!strcmp(a, "-jobs")) njobs = strtoul(v, &e, 10);
        else if (!strcmp(a, "-seed")) seed = strtoull(v, &e, 10);
        else { fprintf(stderr, "cloudai-sim: unknown option %s\n", a); usage(stderr); return 2; }
        if (e && *e) { fprintf(stderr, "cloudai-sim: bad value for %s: %s\n", a, v); return 2; }
        i++;
    }
    int kinds[4], nk = 0;
    if (!strcmp(pol, "all")) { for (int k = 0; k < 4; k++) kinds[nk++] = k; }
    else if ((kinds[0] = policy_parse(pol)) >= 0) nk = 1;
    else { fprintf(stderr, "cloudai-sim: unknown policy %s\n", pol); return 2; }
    int scale_given = 0;
    for (int i = 1; i < argc; i++) if (!strcmp(argv[i], "-time-scale")) scale_given = 1;
    if (cfg.slack < 0 || cfg.slack > 1) {
        fprintf(stderr, "cloudai-sim: -slack wants a share of the machine, 0 < F <= 1\n");
        return 2;
    }
    if (cfg.guard < 0 || cfg.guard > 100) {
        fprintf(stderr, "cloudai-sim: -guard wants a share of the longest wait, 0 < F <= 100\n");
        return 2;
    }
    if (cfg.load < 0 || cfg.load >= 2 || (cfg.load > 0 && scale_given)) {
        fprintf(stderr, "cloudai-sim: -load wants 0 < L < 2, and not with -time-scale\n");
        return 2;
    }
    /* Say which argument is missing or wrong, not only the synopsis. */
    const char *why = !trace == !gen ? "give one of -trace FILE and -gen lublin"
                      : cfg.cpu <= 0 ? "-cpu C wants the CPUs of a worker, C > 0"
                      : cfg.time_scale <= 0 ? "-time-scale F wants F > 0"
                      : !out && cfg.workers == 0 ? "-workers N wants at least one worker"
                      : NULL;
    if (why) {
        fprintf(stderr, "cloudai-sim: %s\n", why);
        usage(stderr);
        return 2;
    }
    jobs js = { 0 };
    umap um = { 0 };
    size_t skipped = 0;
    int rc;
    if (trace) {
        rc = read_swf(trace, &cfg, &js, &um, &skipped);
    } else if (!strcmp(gen, "lublin")) {
        rc = gen_lublin(njobs, seed, cfg.cpu, &js, &um);
    } else {
        fprintf(stderr, "cloudai-sim: unknown generator %s (lublin)\n", gen);
        return 2;
    }
    if (rc < 0) {
        fprintf(stderr, "cloudai-sim: %s: %s\n", trace ? trace : gen, strerror(-rc));
        goto done;
    }
    if (out) {
        rc = write_swf(out, &js);
        if (rc < 0) fprintf(stderr, "cloudai-sim: %s: %s\n", out, strerror(-rc));
        goto done;
    }
    qsort(js.v, js.n, sizeof *js.v, cmp_submit);
    double t0 = js.n ? js.v[0].submit : 0;
    if (cfg.load > 0 && js.n > 1) {
        /* the offered load as simulate() reports it: work of the jobs
         * that fit over the submit span, scaled by 1 / F */
        double work = 0, span = js.v[js.n - 1].submit - t0;
        for (size_t i = 0; i < js.n; i++)
            if (js.v[i].req.cpu <= cfg.cpu && (cfg.mem <= 0 || js.v[i].req.memory <= cfg.mem))
                work += js.v[i].req.cpu * js.v[i].run;
        if (work <= 0 || span <= 0) {
            fprintf(stderr, "cloudai-sim: -load: the trace has no work or no span\n");
            rc = -EINVAL;
            goto done;
        }
        cfg.time_scale = work / ((double)cfg.workers * cfg.cpu * span) / cfg.load;
    }
    for (size_t i = 0; i < js.n; i++) js.v[i].submit = (js.v[i].submit - t0) * cfg.time_scale;
    if (sched_path) {
        if (!(sched_f = fopen(sched_path, "w"))) {
            fprintf(stderr, "cloudai-sim: %s: %s\n", sched_path, strerror(errno));
            rc = -errno;
            goto done;
        }
        /* job: its place in submit order; times in seconds, scaled */
        fprintf(sched_f, "policy\tjob\tsubmit\tstart\trun\tcpus\tuser\tpredicted\tlimit\n");
    }
    if (!cfg.json)
        printf("%zu jobs (%zu unusable lines), %zu users; %zu workers x %g CPUs; time scale %g\n"
               "%-8s %8s %12s %10s %10s %10s %6s %6s %6s\n", js.n, skipped, um.n, cfg.workers,
               cfg.cpu, cfg.time_scale, "policy", "load", "mean_bsld", "mean_wait", "p99_wait",
               "max_wait", "util", "never", "secs");
    for (int k = 0; k < nk; k++) {
        result r;
        if ((rc = simulate(&cfg, kinds[k], &js, um.n, &r)) < 0) {
            fprintf(stderr, "cloudai-sim: out of memory\n");
            goto done;
        }
        if (sched_f && (rc = write_schedule(sched_f, policy_name(kinds[k]), &js)) < 0) {
            fprintf(stderr, "cloudai-sim: %s: %s\n", sched_path, strerror(-rc));
            goto done;
        }
        if (cfg.json)
            printf("{\"policy\":\"%s\",%s\"jobs\":%zu,\"never_fit_jobs\":%zu,\"offered_load\":%.4f,"
                   "\"mean_wait_s\":%.1f,\"mean_bounded_slowdown\":%.3f,\"p99_wait_s\":%.1f,"
                   "\"max_wait_s\":%.1f,\"utilisation\":%.4f,\"workers\":%zu,\"cpu_per_worker\":%g,"
                   "\"time_scale\":%g,\"default_limit_s\":%g,\"sim_seconds\":%.2f}\n",
                   policy_name(kinds[k]),
                   cfg.exact && kinds[k] == POLICY_LEARNED ? "\"exact_predictions\":true," : "",
                   r.jobs, r.never, r.load, r.mean_wait, r.mean_bsld,
                   r.p99_wait, r.max_wait, r.util, cfg.workers, cfg.cpu, cfg.time_scale,
                   cfg.default_limit, r.secs);
        else
            printf("%-8s %8.3f %12.2f %10.0f %10.0f %10.0f %6.3f %6zu %6.1f%s\n",
                   policy_name(kinds[k]), r.load, r.mean_bsld, r.mean_wait, r.p99_wait,
                   r.max_wait, r.util, r.never, r.secs,
                   cfg.exact && kinds[k] == POLICY_LEARNED
                       ? "  (exact predictions: a bound, not a policy)" : "");
        fflush(stdout);
    }
    rc = 0;
done:
    if (sched_f && fclose(sched_f) && rc >= 0) {
        fprintf(stderr, "cloudai-sim: %s: %s\n", sched_path, strerror(errno));
        rc = -EIO;
    }
    free(js.v);
    free(um.ids);
    free(um.idx);
    return rc < 0;
}
