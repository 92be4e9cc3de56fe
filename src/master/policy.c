/* policy.c — the scheduling passes (policy.h). One pass: order the queue,
 * start tasks in that order while they fit, give the first that does not
 * fit (the head) a reservation on the node where it can start earliest,
 * then backfill the rest around that reservation. fifo stops at the head;
 * greedy starts anything that fits (no reservation, so a large task can
 * starve); easy backfills with the users' limits; learned orders the
 * whole queue: tasks owed their turn (passed by enough younger work) or
 * guarded (waited 3/4 of the longest wait so far) oldest first, then the
 * rest by predicted slowdown (head_key); the first few tasks in that
 * order that do not fit get reservations of their own, not only the head,
 * and the head also holds the node predicted to have room for it first
 * (its drain target); on these held nodes learned backfills only what ends
 * before the node is predicted to have room (predictions only refuse),
 * unless every node is held: then by the reservation's time, as easy. Both
 * easy and learned make the head's reservation from the limits (upper
 * bounds: tasks are ended at them), and a task backfills on the reserved
 * node only if its limit ends before the reservation: the reservation is
 * always kept, so predictions that are too short cannot starve anyone
 * (predicting for the reservation itself, as EASY++ does, let the longest
 * wait grow 5x in our runs). The one exception is a task without a limit
 * of its own, whose default limit bounds nothing: learned backfills it by
 * its guess (ends_before). Written for long queues: a pass that cannot start anything
 * returns after one scan, and the order is found by selection, not a full
 * sort, when only a few tasks can start. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "policy.h"

struct policy_ctx {
    double *key;            /* per queued task: higher starts first */
    struct kidx { double k; size_t i; } *order;   /* a heap, best on top (ord_next) */
    unsigned char *done;    /* considered this pass */
    double *fs;             /* per user: fair-share factor */
    double *urun;           /* per user: running CPU-seconds */
    int *nrun;              /* per user: running tasks */
    size_t capq, capu;
    /* reserve's running tasks' ends, per kind (0: by limit, 1: learned's
     * run_end), built once a pass (run and now do not change within a
     * pass, and a pass may reserve for many tasks) and put in time order
     * lazily: eheap[k] is a heap of (-at, index into ends[k]) whose tail
     * holds the ends taken so far, in order (end_at: an in-place heapsort
     * stopped where the walk stops). A walk usually stops after a few ends,
     * and with hundreds of tasks running a full sort each pass was a third
     * of a simulation's time. */
    struct endev { double at; int node; sched_res req; } *ends[2];
    struct kidx *eheap[2];
    size_t cape[2], capeh[2], nends[2], nheap[2];
    int ends_ok[2];
    sched_res *fr;          /* reserve's scratch: free per node */
    size_t capfr;
    /* policy_project's private state */
    policy_run *prun;
    policy_job *pq;
    size_t *pidx;
    int *pstart;
    size_t capp, capr;
    double acct_t;          /* learned: policy_account's last time */
    struct subcpu { double submit, cpu; } *rs;   /* running tasks by submit */
    size_t caprs;
    double horizon;         /* learned: the longest wait of a task started so far */
    double horizon_at;      /* when it was set (it decays from then, horizon_now) */
    int projecting;         /* in policy_project: its starts are not real */
    /* learned: the head's drain target (a second node held for it, see
     * policy_pass), kept while the same task is the head */
    double tgt_submit;
    int tgt_user, tgt_node;
    double drain;           /* learned, this pass: seconds the guarded backlog takes
                             * to drain (its work at order_len over the CPUs) */
    double hz;              /* learned, this pass: horizon_now */
};

int policy_parse(const char *s)
{
    static const char *names[] = { "fifo", "greedy", "easy", "learned" };
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) return i;
    return -1;
}

const char *policy_name(int kind)
{
    switch (kind) {
    case POLICY_FIFO: return "fifo";
    case POLICY_GREEDY: return "greedy";
    case POLICY_EASY: return "easy";
    case POLICY_LEARNED: return "learned";
    }
    return "?";
}

policy_ctx *policy_ctx_new(void)
{
    policy_ctx *c = calloc(1, sizeof(policy_ctx));
    if (c) c->tgt_node = -1;
    return c;
}

void policy_ctx_free(policy_ctx *c)
{
    if (!c) return;
    free(c->key); free(c->order); free(c->done);
    free(c->fs); free(c->urun); free(c->nrun); free(c->ends[0]); free(c->ends[1]);
    free(c->eheap[0]); free(c->eheap[1]); free(c->fr);
    free(c->prun); free(c->pq); free(c->pidx); free(c->pstart); free(c->rs);
    free(c);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np) return -ENOMEM;
    *p = np;
    *cap = nc;
    return 0;
}

static int ctx_reserve(policy_ctx *c, size_t nq, size_t nu, size_t nr, size_t nn)
{
    size_t cq = c->capq, cu = c->capu;
    if (nq > cq) {
        size_t t;
        t = cq; if (grow((void **)&c->key, &t, nq, sizeof *c->key)) return -ENOMEM;
        t = cq; if (grow((void **)&c->order, &t, nq, sizeof *c->order)) return -ENOMEM;
        t = cq; if (grow((void **)&c->done, &t, nq, 1)) return -ENOMEM;
        c->capq = t;
    }
    if (nu > cu) {
        size_t t;
        t = cu; if (grow((void **)&c->fs, &t, nu, sizeof *c->fs)) return -ENOMEM;
        t = cu; if (grow((void **)&c->urun, &t, nu, sizeof *c->urun)) return -ENOMEM;
        t = cu; if (grow((void **)&c->nrun, &t, nu, sizeof *c->nrun)) return -ENOMEM;
        c->capu = t;
    }
    c->ends_ok[0] = c->ends_ok[1] = 0;
    if (grow((void **)&c->fr, &c->capfr, nn + 1, sizeof *c->fr) < 0) return -ENOMEM;
    for (int k = 0; k < 2; k++)
        if (grow((void **)&c->ends[k], &c->cape[k], nr + 1, sizeof *c->ends[k]) < 0 ||
            grow((void **)&c->eheap[k], &c->capeh[k], nr + 1, sizeof *c->eheap[k]) < 0)
            return -ENOMEM;
    return 0;
}

void policy_fs_charge(policy_user *u, double now, double halflife_s, double cpu_seconds)
{
    if (halflife_s > 0 && now > u->usage_at)
        u->usage *= exp2(-(now - u->usage_at) / halflife_s);
    if (now > u->usage_at) u->usage_at = now;
    u->usage += cpu_seconds;
}

/* ---- ordering ------------------------------------------------------------ */

/* When a running task is expected to end, as this policy sees it. easy
 * trusts the limit; learned trusts the prediction, and when a task outlives
 * it, expects it to run as long again as it has (capped by the limit): the
 * predicted-underestimate correction of Tsafrir et al., in a form that
 * needs no table of steps. */
static double run_end(int kind, const policy_run *r, double now)
{
    double lim = r->limit > 0 ? r->limit : 0;
    double end;
    if (kind == POLICY_LEARNED && r->predict > 0) {
        end = r->start + r->predict;
        if (end <= now) {
            double el = now - r->start;
            end = now + (el > 60 ? el : 60);
            if (lim > 0 && end > r->start + lim) end = r->start + lim;
        }
    } else {
        end = r->start + lim;
    }
    /* Past its limit and still running (a default limit nobody enforces):
     * it should end any moment. */
    if (end <= now) end = now + 1;
    return end;
}

static double job_runtime(int kind, const policy_job *j)
{
    if (kind == POLICY_LEARNED && j->predict > 0) return j->predict;
    return j->limit > 0 ? j->limit : 0;
}

static void fair_share(policy_ctx *c, const policy_cfg *cfg, double now,
                       const policy_user *users, size_t nu, const policy_run *run, size_t nr)
{
    double tot_w = 0, tot_u = 0;
    for (size_t u = 0; u < nu; u++) { c->urun[u] = 0; c->nrun[u] = 0; }
    for (size_t i = 0; i < nr; i++) {
        int u = run[i].user;
        if (u < 0 || (size_t)u >= nu) continue;
        c->nrun[u]++;
        if (now > run[i].start) c->urun[u] += run[i].req.cpu * (now - run[i].start);
    }
    if (cfg->halflife_s <= 0) {
        for (size_t u = 0; u < nu; u++) c->fs[u] = 0.5;
        return;
    }
    for (size_t u = 0; u < nu; u++) {
        double us = users[u].usage;
        if (now > users[u].usage_at) us *= exp2(-(now - users[u].usage_at) / cfg->halflife_s);
        c->fs[u] = us + c->urun[u];      /* usage now, finished + running */
        tot_u += c->fs[u];
        tot_w += users[u].weight > 0 ? users[u].weight : 1;
    }
    /* Slurm's classic factor: 2^(-usage share / weight share). */
    for (size_t u = 0; u < nu; u++) {
        double w = (users[u].weight > 0 ? users[u].weight : 1) / tot_w;
        double s = tot_u > 0 ? c->fs[u] / tot_u : 0;
        c->fs[u] = exp2(-s / w);
    }
}

/* The order in which tasks start and the head is chosen. fifo, greedy,
 * easy: priority, then arrival. learned: priority, then
 *  - tasks that are owed their turn, oldest first (as EASY): those that
 *    younger tasks have passed for more than the slack (cfg->slack,
 *    default POLICY_SLACK) of the capacity while they waited (passed,
 *    measured CPU-seconds, against slack x wait x CPUs). A user below
 *    their fair share is owed sooner (the slack is scaled by
 *    min(1, 2 (1 - fs)): a user with no recent use is owed at once, one
 *    far over their share never later than the slack says);
 *  - then the others by predicted bounded slowdown if started now,
 *    (wait + p) / max(p, 10 s): short tasks first, and every task's key
 *    grows with its wait.
 * So short tasks pass long ones only until the long ones have lent the
 * slack's share of the machine to younger tasks; what passes is measured
 * as it runs, so a task predicted short that runs long counts in full.
 * The slack is not fitted to a trace: it is the share of the capacity that
 * a waiting task lends to younger ones before it is owed, the one knob
 * between slowdown (short tasks first) and the longest wait (FIFO).
 * It bounds the work that passes a task, not its wait: on our traces the
 * longest wait still grew (README "Scheduling"). */
static double slack_of(const policy_cfg *cfg)
{
    return cfg->slack > 0 ? cfg->slack : POLICY_SLACK;
}

/* The wait guard: a task that has waited guard (default POLICY_GUARD)
 * times the longest wait any task has had so far goes before everything
 * but priority, oldest first. Reordering for slowdown then costs no wait
 * beyond what the cluster has already given someone; the horizon is
 * measured (the longest real wait since the master started, decayed with
 * the fair-share half-life: horizon_now), not fitted,
 * so it scales with the trace. It grows only when tasks in arrival order
 * still wait longer, i.e. in a burst worse than any before. Until a task
 * has waited at all there is no horizon and nothing is guarded. Light
 * users' tasks and tasks owed twice the slack still go first: the guard
 * must not undo fair share (a light user's tasks would wait behind a heavy
 * user's backlog once that backlog's waits are the longest). */
static double guard_of(const policy_cfg *cfg)
{
    return cfg->guard > 0 ? cfg->guard : POLICY_GUARD;
}

/* The horizon decays with the fair-share half-life: one day of waiting
 * (the cluster down, a flood) must not switch the guard off for good. */
static double horizon_now(const policy_ctx *c, const policy_cfg *cfg, double now)
{
    if (cfg->halflife_s > 0 && now > c->horizon_at)
        return c->horizon * exp2(-(now - c->horizon_at) / cfg->halflife_s);
    return c->horizon;
}

static int cmp_sub(const void *a, const void *b)
{
    double x = ((const struct subcpu *)a)->submit, y = ((const struct subcpu *)b)->submit;
    return x < y ? -1 : x > y;
}

int policy_account(policy_ctx *c, double now, const policy_run *run, size_t nr, policy_job *q,
                   size_t nq)
{
    if (c->acct_t <= 0 || now < c->acct_t) { c->acct_t = now; return 0; }
    double dt = now - c->acct_t;
    if (dt < POLICY_ACCOUNT_S) return 0;
    c->acct_t = now;
    if (nq == 0) return 0;
    if (grow((void **)&c->rs, &c->caprs, nr + 1, sizeof *c->rs) < 0) return -ENOMEM;
    /* Only running tasks younger than the oldest queued one pass anyone:
     * the others need no sorting (and are most of them in a backlog). */
    double oldest = q[0].submit, tot = 0;
    for (size_t i = 1; i < nq; i++)
        if (q[i].submit < oldest) oldest = q[i].submit;
    size_t m = 0;
    for (size_t i = 0; i < nr; i++) {
        if (run[i].submit <= oldest) continue;
        c->rs[m].submit = run[i].submit;
        c->rs[m].cpu = run[i].req.cpu;
        tot += run[i].req.cpu;
        m++;
    }
    nr = m;
    qsort(c->rs, nr, sizeof *c->rs, cmp_sub);
    for (size_t i = 1; i < nr; i++) c->rs[i].cpu += c->rs[i - 1].cpu;   /* prefix sums */
    /* The running tasks as they are now stand for the whole interval
     * (starts and ends within it blur; waits are long). Each queued task
     * gets the CPUs of the running tasks submitted after it (a binary
     * search: q need not be in arrival order, e.g. a retried task). */
    for (size_t i = 0; i < nq; i++) {
        size_t lo = 0, hi = nr;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (c->rs[mid].submit <= q[i].submit) lo = mid + 1; else hi = mid;
        }
        double older = lo ? c->rs[lo - 1].cpu : 0;
        double w = now - q[i].submit;
        double d = dt < w ? dt : w;
        if (d > 0) q[i].passed += (tot - older) * d;
    }
    return 0;
}

/* A user who has used less than an eighth of their share (Slurm's factor
 * 2^(-usage share / weight share) above 2^(-1/8)) goes before everyone
 * else: a light user's tasks never wait behind a heavy user's backlog.
 * Not every user under their share (factor above 1/2): on a trace with
 * hundreds of users most are, and their tasks would all go first in
 * arrival order, giving back most of what ordering by prediction wins
 * (LCG at load 0.85: slowdown 39.5 instead of 27.5). */
#define FS_FAR_UNDER 0.917

/* The runtime learned orders by: the longest recent run of its kind
 * (p_max), else the prediction, else the limit, else an hour. */
static double order_len(const policy_job *j)
{
    return j->p_max > 0 ? j->p_max : j->predict > 0 ? j->predict : j->limit > 0 ? j->limit : 3600;
}

static double head_key(const policy_ctx *c, const policy_cfg *cfg, const policy_job *j,
                       size_t i, size_t nq, double now, const policy_user *users,
                       size_t nusers, int fs_on, double cap)
{
    double k;
    if (cfg->kind == POLICY_LEARNED) {
        /* a user far under their fair share */
        int under = fs_on && cfg->halflife_s > 0 && j->user >= 0 &&
                    (size_t)j->user < nusers && c->fs[j->user] > FS_FAR_UNDER;
        double w = now > j->submit ? now - j->submit : 0;
        double lent = w > 0 ? j->passed / (w * cap) : 0;   /* share of the machine */
        /* Ordered by the longest recent run, not the last two: a task of a
         * kind that sometimes runs long does not pass the queue on the
         * strength of two short runs (on LCG such tasks ran for hours ahead
         * of the longest waits; every LCG figure improved, README). */
        double p = order_len(j);
        double b = p > 10 ? p : 10;
        double hrrn = (w + b) / b, hz = c->hz;
        if (hrrn > 1e9) hrrn = 1e9;
        /* A light task that could not end before the guarded backlog
         * drains goes right after it, not before: there it still starts
         * within about one of its own lengths (the fairness goal), and a
         * light user's long work (LCG's second half: 288 tasks of ~4 h,
         * predicted at 9 min) no longer passes the longest waits. The
         * limit, not a prediction: that user's predictions were short.
         * With nothing guarded the drain is 0 and light tasks go before all
         * but tasks owed twice the slack, by predicted slowdown (owed light
         * tasks oldest first there lost a synthetic run: seed 7, load 0.75,
         * longest wait +67%). No limit at all: longer than any drain. */
        double lim = j->limit > 0 ? j->limit : INFINITY;
        int demoted = under && lim > c->drain;
        if (lent >= 2 * slack_of(cfg))
            k = 8e10 + w;                    /* owed even before light users */
        else if (under && !demoted)
            k = 6e10 + (lent >= slack_of(cfg) ? 1e10 + w : hrrn);
        else if (hz > 0 && w >= guard_of(cfg) * hz)
            k = 5e10 + w;                    /* guarded: oldest first */
        else if (demoted)
            k = 4.5e10 + hrrn;               /* light but long: right after the guarded */
        else if (lent >= slack_of(cfg))
            k = 4e10 + w;                    /* owed: oldest first */
        else
            k = hrrn;
        return k + (double)j->priority * 1e12;
    }
    k = -(double)i / ((double)nq + 1);   /* the caller's order is arrival order */
    return k + (double)j->priority * 1e9;
}

/* Higher key first; ties by index (queue order; run order for ends). */
static int key_before(const struct kidx *x, const struct kidx *y)
{
    return x->k > y->k || (x->k == y->k && x->i < y->i);
}

static void key_sift(struct kidx *h, size_t n, size_t i)
{
    struct kidx x = h[i];
    for (size_t l; (l = 2 * i + 1) < n; i = l) {
        if (l + 1 < n && key_before(&h[l + 1], &h[l])) l++;
        if (!key_before(&h[l], &x)) break;
        h[i] = h[l];
    }
    h[i] = x;
}

/* The next task in order among those not yet considered; selection for the
 * first few, then a heap of the rest (a pass often ends long before the
 * queue does, so a full sort was mostly wasted). Once the pass can make no more
 * reservations (full), the heap leaves out the tasks that cannot start
 * (may_start): with one node and a long queue, most of the queue. */
typedef struct ord {
    policy_ctx *c;
    const policy_job *q;
    size_t nq, picked, nheap;
    int sorted;
    /* set when full: the pass's nodes, most free, reservations */
    int full, nres, kind, allheld;
    double now;
    const sched_node *nodes;
    size_t nn;
    const sched_res *most, *ex;
    const int *rn;
    const double *ra, *pa;
} ord;

/* Whether j may backfill on a held node: its limit ends by lim_by, or
 * (learned, a task without a limit of its own) twice its guess ends by
 * guess_by. lim_by is the reservation's time from the limits, or under
 * learned the earlier of that and when the node is predicted to have room
 * while some node is not held (backfill refused here has somewhere else to
 * go); guess_by is always that earlier time (held_by in policy_pass).
 * A limit the user gave is a bound: the task is ended there. A task
 * without one has only the default, a guess that nothing enforces (NASA's
 * trace has no requested times: every limit a day, so nothing ever
 * backfilled, and a full-node task's node idled for hours while one narrow
 * task ran on); learned counts on its guess instead (predict_guess: the
 * longest of its own kind's recent runs), twice over. A guess that is
 * still short delays the held task by the overrun, as a wrong default
 * would. */
static int ends_before(int kind, const policy_job *j, double now, double lim_by, double guess_by)
{
    if (j->limit > 0 && now + j->limit <= lim_by) return 1;
    return kind == POLICY_LEARNED && j->guess > 0 && now + POLICY_GUESS_MARGIN * j->guess <= guess_by;
}

/* Whether j may still start in this pass once it can reserve no more:
 * the backfill test of policy_pass, loosened to any node. Free resources
 * and the reserved nodes' left-overs only shrink in a pass and the
 * reservations stay, so a task that cannot start now never will, and it
 * can reserve nothing: it would do nothing in the rest of the pass. */
static int may_start(const ord *o, const policy_job *j)
{
    if (j->node >= 0) return 1;
    if (!sched_fits(o->most, &j->req)) return 0;
    for (size_t i = 0; i < o->nn; i++) {
        if (!o->nodes[i].usable || !sched_fits(&o->nodes[i].free, &j->req)) continue;
        int r = 0;
        while (r < o->nres && o->rn[r] != (int)i) r++;
        if (r == o->nres) return 1;                /* not reserved */
        double by = o->pa[r] < o->ra[r] ? o->pa[r] : o->ra[r];
        if (ends_before(o->kind, j, o->now, o->allheld ? o->ra[r] : by, by) ||
            sched_fits(&o->ex[r], &j->req))
            return 1;
    }
    return 0;
}

static long ord_next(ord *o)
{
    policy_ctx *c = o->c;
    if (!o->sorted && (o->picked >= 24 || o->full)) {
        size_t m = 0;
        for (size_t i = 0; i < o->nq; i++)
            if (!c->done[i] && (!o->full || may_start(o, &o->q[i]))) {
                c->order[m].k = c->key[i];
                c->order[m].i = i;
                m++;
            }
        for (size_t k = m / 2; k-- > 0;) key_sift(c->order, m, k);
        o->sorted = 1;
        o->nheap = m;
    }
    if (o->sorted) {
        while (o->nheap > 0) {
            size_t i = c->order[0].i;
            c->order[0] = c->order[--o->nheap];
            key_sift(c->order, o->nheap, 0);
            if (!c->done[i]) { c->done[i] = 1; return (long)i; }
        }
        return -1;
    }
    long best = -1;
    for (size_t i = 0; i < o->nq; i++) {
        if (c->done[i]) continue;
        if (best < 0 || c->key[i] > c->key[best]) best = (long)i;
    }
    if (best >= 0) { c->done[best] = 1; o->picked++; }
    return best;
}

/* ---- placement ----------------------------------------------------------- */

static int first_fit(const sched_node *nodes, size_t nn, const sched_res *req, int skip)
{
    for (size_t i = 0; i < nn; i++)
        if ((int)i != skip && nodes[i].usable && sched_fits(&nodes[i].free, req)) return (int)i;
    return -1;
}

static int place(const policy_cfg *cfg, const sched_node *nodes, size_t nn, const policy_job *j,
                 int skip)
{
    if (j->node >= 0) {
        if ((size_t)j->node >= nn || j->node == skip || !nodes[j->node].usable ||
            !sched_fits(&nodes[j->node].free, &j->req))
            return -1;
        return j->node;
    }
    if (cfg->kind == POLICY_FIFO) return first_fit(nodes, nn, &j->req, skip);
    if (skip < 0)
        return sched_pick(nodes, nn, &j->req, cfg->placement, NULL, NULL, 0);
    /* sched_pick has no "except": hide the reserved node for a moment. */
    sched_node *s = (sched_node *)&nodes[skip];
    int was = s->usable;
    s->usable = 0;
    int p = sched_pick(nodes, nn, &j->req, cfg->placement, NULL, NULL, 0);
    s->usable = was;
    return p;
}

static void take(sched_node *n, const sched_res *r)
{
    n->free.cpu -= r->cpu;
    n->free.memory -= r->memory;
    n->free.storage -= r->storage;
    n->free.gpu -= r->gpu;
}

/* Component-wise most free over usable nodes: a task that does not fit
 * this fits nowhere (a one-comparison reject for long queues). */
static sched_res most_free(const sched_node *nodes, size_t nn)
{
    sched_res m = { 0, 0, 0, 0 };
    for (size_t i = 0; i < nn; i++) {
        if (!nodes[i].usable) continue;
        if (nodes[i].free.cpu > m.cpu) m.cpu = nodes[i].free.cpu;
        if (nodes[i].free.memory > m.memory) m.memory = nodes[i].free.memory;
        if (nodes[i].free.storage > m.storage) m.storage = nodes[i].free.storage;
        if (nodes[i].free.gpu > m.gpu) m.gpu = nodes[i].free.gpu;
    }
    return m;
}

static int fits_total(const sched_node *nodes, size_t nn, const sched_res *req)
{
    for (size_t i = 0; i < nn; i++)
        if (nodes[i].usable && sched_fits(&nodes[i].total, req)) return 1;
    return 0;
}

/* The running tasks' ends as kind expects them, made into a heap on the
 * first call of a pass (ctx_reserve resets it); returns how many. */
static size_t build_ends(policy_ctx *c, int kind, double now, size_t nn, const policy_run *run,
                         size_t nr)
{
    int k = kind == POLICY_LEARNED;
    if (c->ends_ok[k]) return c->nends[k];
    struct endev *ends = c->ends[k];
    struct kidx *h = c->eheap[k];
    size_t ne = 0;
    for (size_t i = 0; i < nr; i++) {
        if (run[i].node < 0 || (size_t)run[i].node >= nn) continue;
        ends[ne].at = run_end(kind, &run[i], now);
        ends[ne].node = run[i].node;
        ends[ne].req = run[i].req;
        /* earliest first; ties in run order, as a stable sort left them */
        h[ne].k = -ends[ne].at;
        h[ne].i = ne;
        ne++;
    }
    for (size_t i = ne / 2; i-- > 0;) key_sift(h, ne, i);
    c->nends[k] = c->nheap[k] = ne;
    c->ends_ok[k] = 1;
    return ne;
}

/* The e-th end in time order (build_ends first); NULL past the last. */
static const struct endev *end_at(policy_ctx *c, int kind, size_t e)
{
    int k = kind == POLICY_LEARNED;
    size_t n = c->nends[k];
    struct kidx *h = c->eheap[k];
    if (e >= n) return NULL;
    while (n - c->nheap[k] <= e) {         /* taken so far: n - nheap */
        size_t last = --c->nheap[k];
        struct kidx top = h[0];
        h[0] = h[last];
        h[last] = top;
        key_sift(h, last, 0);
    }
    return &c->ends[k][h[n - 1 - e].i];
}

/* The head's reservation: the node where it can start earliest if running
 * tasks end when expected, the time, and what that node has left over
 * then (a backfilled task may use it whatever its length). -1 if none. */
static int reserve(policy_ctx *c, int kind, double now, const sched_node *nodes, size_t nn,
                   const policy_run *run, size_t nr, const policy_job *head, double *at,
                   sched_res *extra)
{
    /* No eligible node (all held by earlier reservations, e.g. the one
     * node of a single-node cluster): no need to look at the ends. */
    int ok = 0;
    for (size_t i = 0; i < nn && !ok; i++)
        ok = nodes[i].usable && (head->node < 0 || head->node == (int)i);
    if (!ok) return -1;
    size_t ne = build_ends(c, kind, now, nn, run, nr);
    const struct endev *ev, *nx;
    /* Walk the ends in time order, giving resources back to a copy of the
     * free vectors. */
    sched_res *fr = c->fr;
    int best = -1;
    for (size_t i = 0; i < nn; i++) fr[i] = nodes[i].free;
    for (size_t e = 0; best < 0 && (ev = end_at(c, kind, e)); e++) {
        int n = ev->node;
        fr[n].cpu += ev->req.cpu;
        fr[n].memory += ev->req.memory;
        fr[n].storage += ev->req.storage;
        fr[n].gpu += ev->req.gpu;
        /* Several tasks may end at the same instant: give them all back. */
        if ((nx = end_at(c, kind, e + 1)) && nx->at == ev->at) continue;
        if (!nodes[n].usable || (head->node >= 0 && head->node != n)) {
            /* the node that changed may not be eligible; others did not change */
            continue;
        }
        if (sched_fits(&fr[n], &head->req)) {
            best = n;
            *at = ev->at;
            extra->cpu = fr[n].cpu - head->req.cpu;
            extra->memory = fr[n].memory - head->req.memory;
            extra->storage = fr[n].storage - head->req.storage;
            extra->gpu = fr[n].gpu - head->req.gpu;
        }
    }
    /* Ends at the same instant on other nodes: the loop above checks only
     * the node of the last end of a batch; check the batch's other nodes. */
    if (best < 0) {
        for (size_t i = 0; i < nn; i++)
            if (nodes[i].usable && (head->node < 0 || head->node == (int)i) &&
                sched_fits(&fr[i], &head->req)) {
                best = (int)i;
                *at = ne ? end_at(c, kind, ne - 1)->at : now;
                extra->cpu = fr[i].cpu - head->req.cpu;
                extra->memory = fr[i].memory - head->req.memory;
                extra->storage = fr[i].storage - head->req.storage;
                extra->gpu = fr[i].gpu - head->req.gpu;
                break;
            }
    }
    return best;
}

/* learned: when node n is expected to have room for j, running tasks
 * ending at their predictions (run_end); INFINITY if never. */
static double predicted_free(policy_ctx *c, double now, const sched_node *nodes, size_t nn,
                             const policy_run *run, size_t nr, const policy_job *j, int n)
{
    policy_job pj = *j;
    double at;
    sched_res ex;
    pj.node = n;
    if (reserve(c, POLICY_LEARNED, now, nodes, nn, run, nr, &pj, &at, &ex) != n) return INFINITY;
    return at;
}

/* learned: the head's drain target, the node other than its reservations
 * (nodes marked unusable by the caller) where it is expected to start
 * first from the predictions; the same node while the same task is the
 * head, so that the target does not move each time a running task there
 * outlives its prediction (it moved, and one full-node task then waited
 * 46,000 s, easy's longest wait 40,000 s). -1 if none. */
static int drain_target(policy_ctx *c, double now, const sched_node *nodes, size_t nn,
                        const policy_run *run, size_t nr, const policy_job *j, double *at)
{
    int n = -1;
    if (c->tgt_node >= 0 && (size_t)c->tgt_node < nn && nodes[c->tgt_node].usable &&
        c->tgt_submit == j->submit && c->tgt_user == j->user) {
        n = c->tgt_node;
        *at = predicted_free(c, now, nodes, nn, run, nr, j, n);
        if (*at == INFINITY) n = -1;
    }
    if (n < 0) {
        sched_res ex;
        n = reserve(c, POLICY_LEARNED, now, nodes, nn, run, nr, j, at, &ex);
        if (!c->projecting) {
            c->tgt_node = n;
            c->tgt_submit = j->submit;
            c->tgt_user = j->user;
        }
    }
    return n;
}

/* Every usable node is held by a reservation of this pass. */
static int all_held(const sched_node *nodes, size_t nn, const int *rn, int nres)
{
    for (size_t i = 0; i < nn; i++) {
        int held = 0;
        for (int r = 0; r < nres && !held; r++) held = rn[r] == (int)i;
        if (nodes[i].usable && !held) return 0;
    }
    return 1;
}

/* ---- the pass -------------------------------------------------------------- */

int policy_pass(policy_ctx *c, const policy_cfg *cfg, double now, sched_node *nodes, size_t nn,
                const policy_run *run, size_t nr, const policy_job *q, size_t nq,
                const policy_user *users, size_t nusers, int *start_node, int *resv_node,
                double *resv_at)
{
    int kind = cfg->kind, started = 0;
    if (resv_node) *resv_node = -1;
    if (resv_at) *resv_at = 0;
    for (size_t i = 0; i < nq; i++) start_node[i] = -1;
    if (nq == 0) return 0;
    if (ctx_reserve(c, nq, nusers, nr, nn) < 0) return -ENOMEM;

    /* Nothing can start unless some node fits the smallest request in
     * every dimension (a lower bound: cheap, and exact for one resource). */
    sched_res minr = q[0].req;
    for (size_t i = 1; i < nq; i++) {
        if (q[i].req.cpu < minr.cpu) minr.cpu = q[i].req.cpu;
        if (q[i].req.memory < minr.memory) minr.memory = q[i].req.memory;
        if (q[i].req.storage < minr.storage) minr.storage = q[i].req.storage;
        if (q[i].req.gpu < minr.gpu) minr.gpu = q[i].req.gpu;
    }
    if (first_fit(nodes, nn, &minr, -1) < 0) return 0;

    int fs_on = users && nusers > 0;
    if (fs_on) fair_share(c, cfg, now, users, nusers, run, nr);
    for (size_t i = 0; i < nq; i++) c->done[i] = 0;
    double cap = 0;
    if (kind == POLICY_LEARNED) {
        for (size_t i = 0; i < nn; i++)
            if (nodes[i].usable) cap += nodes[i].total.cpu;
    }
    /* Not light while a task of theirs runs past twice its prediction (the
     * last-two average): that user's predictions are short now, and the
     * limit bound below misses tasks whose limits are short enough. */
    if (kind == POLICY_LEARNED && fs_on && cfg->halflife_s > 0)
        for (size_t r = 0; r < nr; r++) {
            int u = run[r].user;
            double p = run[r].predict > 10 ? run[r].predict : 10;
            if (u >= 0 && (size_t)u < nusers && run[r].predict > 0 &&
                now - run[r].start > 2 * p && c->fs[u] > FS_FAR_UNDER)
                c->fs[u] = FS_FAR_UNDER;
        }
    c->drain = 0;
    c->hz = horizon_now(c, cfg, now);      /* head_key's too: once a pass */
    if (kind == POLICY_LEARNED && cap > 0) {
        double work = 0;
        for (size_t i = 0; c->hz > 0 && i < nq; i++)
            if (now - q[i].submit >= guard_of(cfg) * c->hz) work += q[i].req.cpu * order_len(&q[i]);
        c->drain = work / cap;
    }
    for (size_t i = 0; i < nq; i++)
        c->key[i] = head_key(c, cfg, &q[i], i, nq, now, users, nusers, fs_on, cap);

    sched_res most = most_free(nodes, nn);
    /* The head's reservation, then (learned) one for each next task in
     * order that does not fit either, each on a node of its own, up to
     * POLICY_MAX_RESV: with the head's alone, narrow tasks kept
     * backfilling the other nodes and a wide task, even one predicted to
     * run seconds, waited until it was the head (on the synthetic
     * workload the longest waits were full-node tasks, up to 57% above
     * easy's). Only owed or guarded tasks reserving left some of those. */
    int head = -1, nres = 0, rn[POLICY_MAX_RESV];
    double ra[POLICY_MAX_RESV], pa[POLICY_MAX_RESV];
    sched_res ex[POLICY_MAX_RESV];
    int maxres = kind == POLICY_LEARNED ? POLICY_MAX_RESV : 1;
    ord o = { .c = c, .q = q, .nq = nq, .kind = kind, .now = now, .nodes = nodes, .nn = nn,
              .most = &most, .ex = ex, .rn = rn, .ra = ra, .pa = pa };
    long i;
    while ((i = ord_next(&o)) >= 0) {
        const policy_job *j = &q[i];
        int u = j->user;
        if (fs_on && u >= 0 && (size_t)u < nusers && users[u].max_running > 0 &&
            c->nrun[u] >= users[u].max_running)
            continue;       /* at its running limit: neither starts nor blocks */
        int n = -1;
        if (!sched_fits(&most, &j->req)) {
            n = -1;
        } else if (head >= 0) {
            /* Backfill: anywhere but the reserved nodes; there only if it
             * ends before the reservation or fits in what is left over. */
            int was[POLICY_MAX_RESV];
            for (int r = 0; r < nres; r++) { was[r] = nodes[rn[r]].usable; nodes[rn[r]].usable = 0; }
            n = place(cfg, nodes, nn, j, -1);
            for (int r = nres - 1; r >= 0; r--) nodes[rn[r]].usable = was[r];
            for (int r = 0; n < 0 && r < nres; r++) {
                if ((j->node >= 0 && j->node != rn[r]) || !nodes[rn[r]].usable ||
                    !sched_fits(&nodes[rn[r]].free, &j->req))
                    continue;
                double by = pa[r] < ra[r] ? pa[r] : ra[r];
                if (ends_before(kind, j, now, o.allheld ? ra[r] : by, by)) {
                    n = rn[r];
                } else if (sched_fits(&ex[r], &j->req)) {
                    n = rn[r];
                    ex[r].cpu -= j->req.cpu;
                    ex[r].memory -= j->req.memory;
                    ex[r].storage -= j->req.storage;
                    ex[r].gpu -= j->req.gpu;
                }
            }
        } else {
            n = place(cfg, nodes, nn, j, -1);
        }
        if (n < 0) {
            if (kind == POLICY_GREEDY) continue;
            /* Tied to one node (DISPATCH), or can never fit: must not
             * block the queue. */
            if (j->node >= 0 || !fits_total(nodes, nn, &j->req))
                continue;
            if (kind == POLICY_FIFO) break;
            if (head >= 0 && nres >= maxres)
                continue;
            int was[POLICY_MAX_RESV];
            for (int r = 0; r < nres; r++) { was[r] = nodes[rn[r]].usable; nodes[rn[r]].usable = 0; }
            int rnode = reserve(c, POLICY_EASY, now, nodes, nn, run, nr, j, &ra[nres], &ex[nres]);
            for (int r = nres - 1; r >= 0; r--) nodes[rn[r]].usable = was[r];
            /* learned: backfill on a reserved node only if it ends (by its
             * limit) before the node is expected to have room from the
             * predictions, not merely before the limits say: otherwise
             * tasks that end before the limits' time, often hours away,
             * keep refilling the node and a full-node task waits until then
             * (README "Scheduling": the synthetic runs' longest waits). */
            pa[nres] = INFINITY;
            if (kind == POLICY_LEARNED && rnode >= 0)
                pa[nres] = predicted_free(c, now, nodes, nn, run, nr, j, rnode);
            int first = head < 0;
            if (first) {
                head = (int)i;
                if (resv_node) *resv_node = rnode;
                if (resv_at) *resv_at = rnode >= 0 ? ra[nres] : 0;
            }
            if (rnode >= 0) rn[nres++] = rnode;
            /* learned: the head also holds its drain target when that is
             * expected to have room sooner than its reservation; kept the
             * same way, so the head starts on whichever drains first, and
             * still by the reservation's time at the latest. */
            if (kind == POLICY_LEARNED && first && rnode >= 0 && nres < maxres) {
                double pt, lt;
                sched_res lex;
                for (int r = 0; r < nres; r++) { was[r] = nodes[rn[r]].usable; nodes[rn[r]].usable = 0; }
                int tn = drain_target(c, now, nodes, nn, run, nr, j, &pt);
                for (int r = nres - 1; r >= 0; r--) nodes[rn[r]].usable = was[r];
                policy_job pj = *j;
                pj.node = tn;
                if (tn >= 0 && pt < pa[nres - 1] &&
                    reserve(c, POLICY_EASY, now, nodes, nn, run, nr, &pj, &lt, &lex) == tn) {
                    rn[nres] = tn;
                    ra[nres] = lt;
                    pa[nres] = pt;
                    ex[nres] = lex;
                    nres++;
                }
            }
            /* Once full, no reservation is added: allheld stays as it is. */
            if (!o.full) {
                o.allheld = all_held(nodes, nn, rn, nres);
                if (nres >= maxres || o.allheld) {
                    o.full = 1;
                    o.nres = nres;
                }
            }
            continue;
        }
        start_node[i] = n;
        if (!c->projecting && now - j->submit > horizon_now(c, cfg, now)) {
            c->horizon = now - j->submit;
            c->horizon_at = now;
        }
        take(&nodes[n], &j->req);
        started++;
        if (fs_on && u >= 0 && (size_t)u < nusers) c->nrun[u]++;
        if (first_fit(nodes, nn, &minr, -1) < 0) break;
        most = most_free(nodes, nn);
    }
    return started;
}

/* ---- projection ------------------------------------------------------------ */

int policy_project(policy_ctx *c, const policy_cfg *cfg, double now, const sched_node *nodes,
                   size_t nn, const policy_run *run, size_t nr, const policy_job *q, size_t nq,
                   const policy_user *users, size_t nusers, size_t max_steps, double *start_at)
{
    int rc = 0;
    sched_node *nd = malloc((nn ? nn : 1) * sizeof *nd);
    size_t cap = nr + nq + 1;
    if (!nd) return -ENOMEM;
    if (nn) memcpy(nd, nodes, nn * sizeof *nd);   /* nodes is NULL with no worker (UBSan) */
    if (grow((void **)&c->prun, &c->capr, cap, sizeof *c->prun) < 0 ||
        grow((void **)&c->pq, &c->capp, nq + 1, sizeof *c->pq) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    {
        size_t cp = 0;
        if (grow((void **)&c->pidx, &cp, nq + 1, sizeof *c->pidx) < 0) { rc = -ENOMEM; goto out; }
        cp = 0;
        if (grow((void **)&c->pstart, &cp, nq + 1, sizeof *c->pstart) < 0) { rc = -ENOMEM; goto out; }
    }
    for (size_t i = 0; i < nq; i++) start_at[i] = -1;
    /* In the projection every task runs as long as the policy expects. */
    size_t np = 0, nw = 0;
    for (size_t i = 0; i < nr; i++) {
        c->prun[np] = run[i];
        double e = run_end(cfg->kind, &run[i], now);
        c->prun[np].limit = c->prun[np].predict = e - run[i].start;
        np++;
    }
    for (size_t i = 0; i < nq; i++) {
        c->pq[nw] = q[i];
        c->pidx[nw] = i;
        nw++;
    }
    double t = now;
    for (size_t step = 0; step < max_steps && nw > 0; step++) {
        c->projecting = 1;
        int k = policy_pass(c, cfg, t, nd, nn, c->prun, np, c->pq, nw, users, nusers, c->pstart,
                            NULL, NULL);
        c->projecting = 0;
        if (k < 0) { rc = k; goto out; }
        size_t keep = 0;
        for (size_t i = 0; i < nw; i++) {
            if (c->pstart[i] < 0) {
                c->pq[keep] = c->pq[i];
                c->pidx[keep] = c->pidx[i];
                keep++;
                continue;
            }
            start_at[c->pidx[i]] = t;
            policy_run *r = &c->prun[np++];
            r->node = c->pstart[i];
            r->user = c->pq[i].user;
            r->req = c->pq[i].req;
            r->start = t;
            r->predict = r->limit = job_runtime(cfg->kind, &c->pq[i]);
            if (r->limit <= 0) r->predict = r->limit = 3600;
        }
        nw = keep;
        if (nw == 0 || np == 0) break;
        /* Advance to the next end; give its resources back. */
        size_t first = 0;
        for (size_t i = 1; i < np; i++)
            if (c->prun[i].start + c->prun[i].limit < c->prun[first].start + c->prun[first].limit)
                first = i;
        double e = c->prun[first].start + c->prun[first].limit;
        if (e > t) t = e;
        for (size_t i = 0; i < np;) {
            if (c->prun[i].start + c->prun[i].limit <= t) {
                sched_node *n = &nd[c->prun[i].node];
                n->free.cpu += c->prun[i].req.cpu;
                n->free.memory += c->prun[i].req.memory;
                n->free.storage += c->prun[i].req.storage;
                n->free.gpu += c->prun[i].req.gpu;
                c->prun[i] = c->prun[--np];
            } else {
                i++;
            }
        }
    }
out:
    free(nd);
    return rc;
}
