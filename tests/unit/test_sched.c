/* test_sched.c — placement: fits (with the CPU epsilon), best fit packs,
 * spread spreads, unusable nodes are skipped, and the reason names the
 * scarce resource with the best offer, or says no worker is connected. */
#include <stdio.h>
#include <string.h>
#include "master/sched.h"
#include "t.h"

#define GiB (1ull << 30)

static sched_node node(double cpu, double free_cpu, uint64_t mem, uint64_t free_mem)
{
    sched_node n;
    memset(&n, 0, sizeof n);
    n.total = (sched_res){ cpu, mem, 100 * GiB, 0 };
    n.free = (sched_res){ free_cpu, free_mem, 100 * GiB, 0 };
    n.usable = 1;
    return n;
}

static void test_fits(void)
{
    sched_res have = { 0.3, 4 * GiB, 10 * GiB, 1 };
    sched_res req = { 0.1 + 0.2, 4 * GiB, 10 * GiB, 1 };
    T_EQ_INT(sched_fits(&have, &req), 1);
    req.gpu = 2;
    T_EQ_INT(sched_fits(&have, &req), 0);
    req.gpu = 0;
    req.memory = 4 * GiB + 1;
    T_EQ_INT(sched_fits(&have, &req), 0);
    T_EQ_INT(sched_policy_parse("best-fit"), SCHED_BEST_FIT);
    T_EQ_INT(sched_policy_parse("spread"), SCHED_SPREAD);
    T_EQ_INT(sched_policy_parse("random"), -1);
}

static void test_best_fit_and_spread(void)
{
    sched_node n[3] = { node(8, 8, 16 * GiB, 16 * GiB), node(8, 2, 16 * GiB, 4 * GiB),
                        node(8, 1, 16 * GiB, 1 * GiB) };
    sched_res req = { 1, 1 * GiB, 1 * GiB, 0 };
    char why[256] = "";
    /* Best fit: the fullest node that still fits (node 2 ends at 0 free). */
    T_EQ_INT(sched_pick(n, 3, &req, SCHED_BEST_FIT, NULL, why, sizeof why), 2);
    /* Spread: the emptiest. */
    T_EQ_INT(sched_pick(n, 3, &req, SCHED_SPREAD, NULL, why, sizeof why), 0);
    /* Unusable nodes are never picked. */
    n[2].usable = 0;
    T_EQ_INT(sched_pick(n, 3, &req, SCHED_BEST_FIT, NULL, why, sizeof why), 1);
    n[0].usable = 0;
    T_EQ_INT(sched_pick(n, 3, &req, SCHED_SPREAD, NULL, why, sizeof why), 1);
}

static void test_reasons(void)
{
    sched_node n[2] = { node(4, 2, 8 * GiB, 8 * GiB), node(4, 3, 8 * GiB, 1 * GiB) };
    const char *names[] = { "w1", "w2" };
    sched_res req = { 8, 1 * GiB, 0, 0 };
    char why[256] = "";
    T_EQ_INT(sched_pick(n, 2, &req, SCHED_BEST_FIT, names, why, sizeof why), -1);
    T_EQ_STR(why, "needs 8 CPU cores; the most free is 3 cores on w2");
    req = (sched_res){ 1, 16 * GiB, 0, 0 };
    T_EQ_INT(sched_pick(n, 2, &req, SCHED_BEST_FIT, names, why, sizeof why), -1);
    T_EQ_STR(why, "needs 16 GiB memory; the most free is 8 GiB on w1");
    /* one of a thing is singular, the offer too */
    sched_node b[2] = { node(4, 0, 8 * GiB, 8 * GiB), node(4, 0, 8 * GiB, 8 * GiB) };
    req = (sched_res){ 1, 1 * GiB, 0, 1 };
    T_EQ_INT(sched_pick(b, 2, &req, SCHED_BEST_FIT, names, why, sizeof why), -1);
    T_EQ_STR(why, "needs 1 GPU; no worker has any GPU");
    b[0].total.gpu = 2, b[0].free.gpu = 1;
    b[0].free.cpu = b[1].free.cpu = 1;
    req.gpu = 2;
    T_EQ_INT(sched_pick(b, 2, &req, SCHED_BEST_FIT, names, why, sizeof why), -1);
    T_EQ_STR(why, "needs 2 GPUs; the most free is 1 GPU on w1");
    b[0].free.cpu = b[1].free.cpu = 0;
    T_EQ_INT(sched_pick(b, 2, &req, SCHED_BEST_FIT, names, why, sizeof why), -1);
    T_EQ_STR(why, "needs 1 CPU core; the most free is 0 cores on w1");
    req.cpu = 0.5;
    b[1].free.cpu = 0.25;
    T_EQ_INT(sched_pick(b, 2, &req, SCHED_BEST_FIT, names, why, sizeof why), -1);
    T_EQ_STR(why, "needs 0.5 CPU cores; the most free is 0.25 cores on w2");
    /* Each resource exists somewhere, never all on one node. */
    req = (sched_res){ 3, 8 * GiB, 0, 0 };
    T_EQ_INT(sched_pick(n, 2, &req, SCHED_BEST_FIT, names, why, sizeof why), -1);
    T_CHECK(strstr(why, "no single worker") != NULL);
    n[0].usable = n[1].usable = 0;
    T_EQ_INT(sched_pick(n, 2, &req, SCHED_BEST_FIT, names, why, sizeof why), -1);
    T_EQ_STR(why, "waiting for a worker (none connected)");
    T_EQ_INT(sched_pick(n, 0, &req, SCHED_BEST_FIT, names, why, sizeof why), -1);
}

int main(void)
{
    T_RUN(test_fits);
    T_RUN(test_best_fit_and_spread);
    T_RUN(test_reasons);
    return T_DONE();
}
