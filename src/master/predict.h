/* predict.h — runtime and memory predictions from the history of finished
 * tasks. A task is described by keys from the most specific group to the
 * broadest (the master: user+image+name stem, user+image, user; the
 * simulator: user+executable, user). The prediction is the average of the
 * group's last two runtimes (Tsafrir, Etsion and Feitelson 2007) from the
 * most specific group with history, capped by the user's limit; per-group
 * quantiles (3Sigma, EuroSys 2018) are kept beside it, and the longest of
 * the last runs orders learned's queue (p_max). Pure and single-threaded:
 * the caller locks. */
#ifndef CLOUDAI_PREDICT_H
#define CLOUDAI_PREDICT_H
#include <stddef.h>

#define PREDICT_RING 32          /* runtimes kept per group for quantiles */

typedef struct predict predict;

/* Runs shorter than this say little about how many cores a kind uses. */
#define PREDICT_CORES_MIN_S 1.0

typedef struct predict_est {
    double runtime;       /* the prediction (s); the limit when no history */
    double last2;         /* average of the last two runs (s) */
    double q50, q90;      /* quantiles of the last PREDICT_RING runs (s) */
    double p_max;         /* the longest of them, floored and capped as runtime
                           * (s): the pessimistic runtime learned orders by */
    double max_runtime;   /* longest seen (s) */
    double mem_peak;      /* largest peak memory seen (bytes), 0 unknown */
    double cpu_s;         /* average CPU time (s), 0 unknown */
    double max_cores;     /* most cores a run kept busy on average (CPU time over
                           * wall time, runs of at least PREDICT_CORES_MIN_S), 0 unknown */
    unsigned long ncores; /* runs behind max_cores */
    unsigned long n;      /* runs behind the estimate */
    int level;            /* index of the key used; -1 = no history */
} predict_est;

/* max_groups bounds memory (the oldest group is not evicted: new groups
 * beyond the bound are not learned; a counter says how many). */
predict *predict_new(size_t max_groups);
void predict_free(predict *p);

/* A finished task: its runtime, CPU time and peak memory (0 = unknown)
 * are added to every group in keys. 0 or -ENOMEM. */
int predict_add(predict *p, const char *const *keys, size_t nkeys, double runtime,
                double cpu_s, double mem_peak);
/* The estimate for a new task. limit > 0 caps the prediction and is the
 * answer when there is no history. Returns est->level. */
int predict_get(const predict *p, const char *const *keys, size_t nkeys, double limit,
                predict_est *est);
/* For a task without a limit of its own: the runtime backfill may count
 * on, p_max when it comes from at least PREDICT_GUESS_RUNS runs of the
 * task's own kind (the most specific group, level 0), else 0: a broader
 * group, or a kind seen a few times, says too little (on LLNL Thunder's
 * trace such guesses let narrow tasks that then ran 40x longer hold up
 * full-machine ones). */
#define PREDICT_GUESS_RUNS 4
double predict_guess(const predict_est *est);
size_t predict_groups(const predict *p);
#endif
