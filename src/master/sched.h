/* sched.h — placement: which worker gets a task. Pure functions over
 * arrays the caller owns (the cluster holds its lock while calling), so the
 * policy is testable and benchmarkable on its own. */
#ifndef CLOUDAI_SCHED_H
#define CLOUDAI_SCHED_H
#include <stddef.h>
#include <stdint.h>

enum sched_policy { SCHED_BEST_FIT = 0, SCHED_SPREAD = 1 };

typedef struct sched_res {
    double cpu;
    uint64_t memory, storage, gpu;
} sched_res;

typedef struct sched_node {
    sched_res total, free;
    int usable;          /* connected and ready */
} sched_node;

int sched_policy_parse(const char *s);   /* -1 if unknown */
/* 1 if req fits in have. */
int sched_fits(const sched_res *have, const sched_res *req);
/* Index of the chosen node, or -1 with reason filled ("needs 8 CPUs; the
 * most free is 2 on w1" style, naming the scarcest resource). names may be
 * NULL (reasons then use indexes). */
int sched_pick(const sched_node *nodes, size_t n, const sched_res *req, int policy,
               const char *const *names, char *reason, size_t reasoncap);
#endif
