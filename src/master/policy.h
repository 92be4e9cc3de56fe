/* policy.h — which queued tasks start now: ordering (priority, fair
 * share, per-user running limits), EASY backfilling with a reservation for
 * the head of the order, and the `learned` policy that backfills with
 * runtime predictions. Pure code over arrays the caller owns: no locks, no
 * I/O, no clock (time is a parameter), so the master and cloudai-sim run
 * exactly the same decisions, one in real time, one in virtual time. */
#ifndef CLOUDAI_POLICY_H
#define CLOUDAI_POLICY_H
#include <stddef.h>
#include "sched.h"

enum policy_kind {
    POLICY_FIFO = 0,     /* strict arrival order, first fit; stops at the first task that waits */
    POLICY_GREEDY = 1,   /* the old scheduler: any task that fits, in arrival order */
    POLICY_EASY = 2,     /* EASY backfilling with the users' limits */
    POLICY_LEARNED = 3   /* fair order + backfilling with predicted runtimes */
};

int policy_parse(const char *s);          /* -1 if unknown */
const char *policy_name(int kind);

/* A running task. limit: the user's time limit in seconds (-timeout, the
 * SWF requested time) or the default limit; predict: the predicted runtime
 * (learned only; <= limit). */
typedef struct policy_run {
    int node, user;
    sched_res req;
    double start, limit, predict;
    double submit;       /* when it was submitted (learned's accounting) */
} policy_run;

/* A queued task. node: a required node (DISPATCH) or -1. passed (learned
 * only): the CPU-seconds that tasks submitted after it have run while it
 * waited, kept up to date by policy_account; the caller keeps it with the
 * task (0 when queued) and passes it back in every later pass. p_max
 * (learned only): the runtime it is ordered by, predict_est.p_max (0: use
 * predict); predict stays what projections run it for. guess (learned
 * only): for a task without a limit of its own (no -timeout, none in the
 * trace), whose limit is the default, which nothing enforces: the runtime
 * backfill may count on instead (predict_guess), 0 = none. */
typedef struct policy_job {
    sched_res req;
    double submit, limit, predict;
    int priority, user, node;
    double passed;
    double p_max;
    double guess;
} policy_job;

/* Per user (index = policy_job.user): the fair-share weight (Slurm's
 * shares; 0 means 1), decayed usage in CPU-seconds (policy_fs_*), the
 * running limit (0 = none) — the caller keeps these. */
typedef struct policy_user {
    double weight, usage, usage_at;
    int max_running;
} policy_user;

typedef struct policy_cfg {
    int kind;
    int placement;            /* SCHED_BEST_FIT | SCHED_SPREAD */
    double halflife_s;        /* fair-share usage decay; <= 0: no fair share */
    double slack;             /* learned: share of the capacity a waiting task lends
                               * to younger ones before it is owed its turn;
                               * <= 0: POLICY_SLACK */
    double guard;             /* learned: a task that has waited this share of the
                               * longest wait so far goes first; <= 0: POLICY_GUARD */
} policy_cfg;
#define POLICY_SLACK 0.05
#define POLICY_GUARD 0.75
#define POLICY_MAX_RESV 8    /* learned: reservations per pass (a node each) */
#define POLICY_GUESS_MARGIN 2 /* learned: a task without a limit backfills a held
                               * node if twice its guess ends in time */

/* Usage accounting: decay u's usage to now, then add cpu_seconds. */
void policy_fs_charge(policy_user *u, double now, double halflife_s, double cpu_seconds);

typedef struct policy_ctx policy_ctx;
policy_ctx *policy_ctx_new(void);
void policy_ctx_free(policy_ctx *c);

/* learned: adds to each queued task's passed the CPU-seconds run since
 * the last call by the running tasks submitted after it (measured, not
 * predicted). Call before each pass; cheap when called often (it
 * accounts at most every POLICY_ACCOUNT_S seconds of now). */
#define POLICY_ACCOUNT_S 30.0
int policy_account(policy_ctx *c, double now, const policy_run *run, size_t nr, policy_job *q,
                   size_t nq);

/* One scheduling pass at time now. nodes' free resources are updated for
 * every start. start_node[i] gets the node queued task i starts on now, or
 * -1. Returns how many start, or -ENOMEM. users may be NULL (no fair share,
 * no running limits) and nusers is the size of that array. The head's
 * reservation (when one is made) is left in *resv_node / *resv_at
 * (both may be NULL; -1 / 0 when none). */
int policy_pass(policy_ctx *c, const policy_cfg *cfg, double now, sched_node *nodes, size_t nn,
                const policy_run *run, size_t nr, const policy_job *q, size_t nq,
                const policy_user *users, size_t nusers, int *start_node, int *resv_node,
                double *resv_at);

/* Expected start times: replays the policy forward in virtual time from
 * now with no new arrivals, each task ending at its prediction (or limit),
 * and writes each queued task's start into start_at (-1 when it can never
 * start, e.g. no node is large enough). At most max_steps passes; tasks
 * not placed by then get -1. Returns 0 or -ENOMEM. */
int policy_project(policy_ctx *c, const policy_cfg *cfg, double now, const sched_node *nodes,
                   size_t nn, const policy_run *run, size_t nr, const policy_job *q, size_t nq,
                   const policy_user *users, size_t nusers, size_t max_steps, double *start_at);
#endif
