/* schedstate.c — the master's scheduling state (schedstate.h). */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "schedstate.h"

typedef struct vent {
    char id[64];
    uint64_t start_ms, pred_s, pred_mem;
} vent;

struct schedstate {
    policy_cfg pcfg;
    double default_limit;
    int max_running;
    const char *weights;           /* config text "alice:2, bob:0.5" */
    policy_ctx *ctx;
    predict *hist;
    policy_user *users;
    char (*names)[64];
    size_t nusers, capusers;
    pthread_mutex_t vmu;           /* guards the view only */
    vent *view;
    size_t nview;
    double *proj;                  /* scratch for projections */
    size_t capproj;
};

static double weight_of(const char *weights, const char *user)
{
    size_t ul = strlen(user);
    for (const char *p = weights; p && *p;) {
        while (*p == ' ' || *p == ',') p++;
        const char *colon = strchr(p, ':');
        if (!colon) break;
        if ((size_t)(colon - p) == ul && !strncmp(p, user, ul)) {
            double w = strtod(colon + 1, NULL);
            return w > 0 ? w : 1;
        }
        p = strchr(colon, ',');
    }
    return 1;
}

schedstate *schedstate_new(const config *cfg)
{
    schedstate *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    int kind = policy_parse(cfg->policy);
    int placement = sched_policy_parse(cfg->placement);
    if (kind < 0) {
        /* The old spellings: greedy with that placement. */
        kind = POLICY_GREEDY;
        placement = sched_policy_parse(cfg->policy);
    }
    s->pcfg.kind = kind;
    s->pcfg.placement = placement < 0 ? SCHED_BEST_FIT : placement;
    s->pcfg.halflife_s = cfg->fairshare_halflife_s;
    s->default_limit = cfg->default_limit_s > 0 ? cfg->default_limit_s : 86400;
    s->max_running = cfg->max_running_per_user;
    s->weights = cfg->fairshare_weights;
    pthread_mutex_init(&s->vmu, NULL);
    if (!(s->ctx = policy_ctx_new()) || !(s->hist = predict_new(65536))) {
        schedstate_free(s);
        return NULL;
    }
    return s;
}

void schedstate_free(schedstate *s)
{
    if (!s) return;
    policy_ctx_free(s->ctx);
    predict_free(s->hist);
    free(s->users);
    free(s->names);
    free(s->view);
    free(s->proj);
    pthread_mutex_destroy(&s->vmu);
    free(s);
}

int schedstate_kind(const schedstate *s) { return s->pcfg.kind; }

int schedstate_user(schedstate *s, const char *user_id)
{
    for (size_t i = 0; i < s->nusers; i++)
        if (!strcmp(s->names[i], user_id)) return (int)i;
    if (s->nusers == s->capusers) {
        size_t nc = s->capusers ? s->capusers * 2 : 16;
        policy_user *u = realloc(s->users, nc * sizeof *u);
        if (!u) return -1;
        s->users = u;
        char (*n)[64] = realloc(s->names, nc * sizeof *n);
        if (!n) return -1;
        s->names = n;
        s->capusers = nc;
    }
    size_t i = s->nusers++;
    memset(&s->users[i], 0, sizeof s->users[i]);
    s->users[i].weight = weight_of(s->weights, user_id);
    s->users[i].max_running = s->max_running;
    snprintf(s->names[i], sizeof s->names[i], "%s", user_id);
    return (int)i;
}

/* Groups from most to least specific: user+image+name stem, user+image,
 * user. The stem drops a trailing run number or timestamp ("train-3",
 * "img-1733050000" -> "train", "img"), so repeated runs share a group. */
static void keys_of(const task_rec *t, char k[3][512])
{
    char stem[sizeof t->task_name];
    snprintf(stem, sizeof stem, "%s", t->task_name);
    size_t n = strlen(stem);
    while (n > 0 && (isdigit((unsigned char)stem[n - 1]) || strchr("-_.:", stem[n - 1])))
        n--;
    stem[n] = 0;
    snprintf(k[0], 512, "%s\x1f%s\x1f%s", t->user_id, t->docker_image, stem);
    snprintf(k[1], 512, "%s\x1f%s", t->user_id, t->docker_image);
    snprintf(k[2], 512, "%s", t->user_id);
}

void schedstate_learn(schedstate *s, const task_rec *t, double runtime_s, double now)
{
    char k[3][512];
    const char *kp[3] = { k[0], k[1], k[2] };
    if (runtime_s < 0) runtime_s = 0;
    keys_of(t, k);
    predict_add(s->hist, kp, 3, runtime_s, t->cpu_s, (double)t->mem_peak);
    int u = schedstate_user(s, t->user_id);
    if (u >= 0 && s->pcfg.halflife_s > 0)
        policy_fs_charge(&s->users[u], now, s->pcfg.halflife_s,
                         (t->req_cpu > 0 ? t->req_cpu : 1) * runtime_s);
}

int schedstate_predict(const schedstate *s, const task_rec *t, predict_est *est)
{
    char k[3][512];
    const char *kp[3] = { k[0], k[1], k[2] };
    keys_of(t, k);
    return predict_get(s->hist, kp, 3, (double)t->timeout_s, est);
}

static void fmt_dur(double s, char *out, size_t cap)
{
    if (s < 120) snprintf(out, cap, "%.0f s", s);
    else if (s < 7200) snprintf(out, cap, "%.0f min", s / 60);
    else snprintf(out, cap, "%.1f h", s / 3600);
}

static void fmt_bytes(double b, char *out, size_t cap)
{
    if (b >= 1024.0 * 1024 * 1024) snprintf(out, cap, "%.1f GiB", b / (1024.0 * 1024 * 1024));
    else snprintf(out, cap, "%.0f MiB", b / (1024.0 * 1024));
}

int schedstate_warn(const schedstate *s, const task_rec *t, char *msg, size_t cap)
{
    predict_est e;
    int n = 0;
    size_t len = 0;
    /* Only with enough runs of this very kind (user, image, name stem),
     * and only when far above the most they used: a warning, not advice. */
    if (cap) msg[0] = 0;
    if (schedstate_predict(s, t, &e) != 0 || e.n < 3 || cap == 0)
        return 0;
    double longest = e.max_runtime > 60 ? e.max_runtime : 60;
    if (t->timeout_s && (double)t->timeout_s > 10 * longest) {
        char a[32], b[32];
        fmt_dur((double)t->timeout_s, a, sizeof a);
        fmt_dur(e.max_runtime, b, sizeof b);
        int k = snprintf(msg, cap, "warning: -timeout %s is far above what %lu earlier runs of "
                         "'%s' used (longest %s); a tighter limit lets it start sooner", a, e.n,
                         t->task_name, b);
        len = k > 0 && (size_t)k < cap ? (size_t)k : cap - 1;
        n++;
    }
    /* Memory: the largest peak any run of the kind reported (workers that
     * measure; 0 = none did), floored at 64 MiB so small tasks asking a
     * few hundred MiB are left alone. */
    double peak = e.mem_peak > 64.0 * 1024 * 1024 ? e.mem_peak : 64.0 * 1024 * 1024;
    if (e.mem_peak > 0 && t->req_memory && (double)t->req_memory > 10 * peak && len + 1 < cap) {
        char a[32], b[32];
        fmt_bytes((double)t->req_memory, a, sizeof a);
        fmt_bytes(e.mem_peak, b, sizeof b);
        snprintf(msg + len, cap - len, "%swarning: -mem %s is far above what %lu earlier runs of "
                 "'%s' used (peak %s); a smaller request lets it start sooner",
                 n ? "\n" : "", a, e.n, t->task_name, b);
        len = strlen(msg);
        n++;
    }
    /* CPUs: the most cores any measured run kept busy (CPU time over wall
     * time), floored at one core, from at least 3 runs long enough to say. */
    double cores = e.max_cores > 1 ? e.max_cores : 1;
    if (e.ncores >= 3 && t->req_cpu > 4 * cores && len + 1 < cap) {
        snprintf(msg + len, cap - len, "%swarning: -cpu_cores %g is far above what %lu earlier "
                 "runs of '%s' used (at most %.1f cores busy); a smaller request lets it start "
                 "sooner", n ? "\n" : "", t->req_cpu, e.ncores, t->task_name, e.max_cores);
        n++;
    }
    return n > 0;
}

double schedstate_limit(const schedstate *s, const task_rec *t)
{
    return t->timeout_s ? (double)t->timeout_s : s->default_limit;
}

void schedstate_account(schedstate *s, double now, const policy_run *run, size_t nr,
                        policy_job *q, size_t nq)
{
    if (s->pcfg.kind == POLICY_LEARNED)
        (void)policy_account(s->ctx, now, run, nr, q, nq);   /* -ENOMEM: next time */
}

int schedstate_pass(schedstate *s, double now, sched_node *nodes, size_t nn,
                    const policy_run *run, size_t nr, const policy_job *q, size_t nq,
                    int *start_node)
{
    return policy_pass(s->ctx, &s->pcfg, now, nodes, nn, run, nr, q, nq, s->users, s->nusers,
                       start_node, NULL, NULL);
}

static int cmp_vent(const void *a, const void *b)
{
    return strcmp(((const vent *)a)->id, ((const vent *)b)->id);
}

void schedstate_publish(schedstate *s, double now, const sched_node *nodes, size_t nn,
                        const policy_run *run, size_t nr, const policy_job *q, size_t nq,
                        const char *const *ids, const uint64_t *pred_mem)
{
    vent *v = NULL;
    if (nq > s->capproj) {
        double *p = realloc(s->proj, nq * sizeof *p);
        if (!p) return;
        s->proj = p;
        s->capproj = nq;
    }
    if (nq && !(v = calloc(nq, sizeof *v))) return;
    if (nq && policy_project(s->ctx, &s->pcfg, now, nodes, nn, run, nr, q, nq, s->users,
                             s->nusers, nq + 16, s->proj) < 0) {
        free(v);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < nq; i++) {
        snprintf(v[n].id, sizeof v[n].id, "%s", ids[i]);
        v[n].start_ms = s->proj[i] >= 0 ? (uint64_t)(s->proj[i] * 1000.0) : 0;
        v[n].pred_s = q[i].predict > 0 ? (uint64_t)(q[i].predict + 0.5) : 0;
        v[n].pred_mem = pred_mem ? pred_mem[i] : 0;
        n++;
    }
    if (n) qsort(v, n, sizeof *v, cmp_vent);
    pthread_mutex_lock(&s->vmu);
    vent *old = s->view;
    s->view = v;
    s->nview = n;
    pthread_mutex_unlock(&s->vmu);
    free(old);
}

int schedstate_expected(schedstate *s, const char *task_id, uint64_t *start_ms,
                        uint64_t *predicted_s, uint64_t *predicted_mem)
{
    vent key;
    int rc = -1;
    snprintf(key.id, sizeof key.id, "%s", task_id);
    pthread_mutex_lock(&s->vmu);
    const vent *f = s->nview ? bsearch(&key, s->view, s->nview, sizeof *s->view, cmp_vent)
                             : NULL;
    if (f) {
        *start_ms = f->start_ms;
        *predicted_s = f->pred_s;
        *predicted_mem = f->pred_mem;
        rc = 0;
    }
    pthread_mutex_unlock(&s->vmu);
    return rc;
}
