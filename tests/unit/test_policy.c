/* test_policy — the scheduling policies (policy.c) and the runtime
 * predictor (predict.c) in virtual time: starvation, fairness, the kept
 * reservation, predictions from a synthetic history, projections. */
#include <math.h>
#include "t.h"
#include "master/policy.h"
#include "master/predict.h"

/* A tiny discrete-event driver: tasks arrive at submit, run for run
 * seconds (limit is what the user asked), 1-second steps. */
typedef struct vt {
    double submit, run, limit, start, passed;
    sched_res req;
    int user, started, done;
} vt;

static double drive_slack;     /* learned's slack in drive(); 0 = default */
static double drive_guard;     /* learned's guard in drive(); 0 = default */

static void drive(int kind, sched_node *nodes, size_t nn, vt *ts, size_t n, size_t nusers,
                  double horizon, double halflife)
{
    policy_ctx *c = policy_ctx_new();
    policy_cfg cfg = { kind, SCHED_BEST_FIT, halflife, drive_slack, drive_guard };
    policy_run *run = calloc(n, sizeof *run);
    policy_job *q = calloc(n, sizeof *q);
    size_t *qi = calloc(n, sizeof *qi), *ri = calloc(n, sizeof *ri);
    int *st = calloc(n, sizeof *st), *node_of = calloc(n, sizeof *node_of);
    policy_user *users = calloc(nusers, sizeof *users);
    for (double t = 0; t <= horizon; t += 1) {
        size_t nr = 0, nq = 0;
        for (size_t i = 0; i < n; i++) {
            vt *x = &ts[i];
            if (x->started && !x->done && x->start + x->run <= t) {
                x->done = 1;
                sched_node *nd = &nodes[node_of[i]];
                nd->free.cpu += x->req.cpu;
                nd->free.gpu += x->req.gpu;
                nd->free.memory += x->req.memory;
                policy_fs_charge(&users[x->user], t, halflife, x->req.cpu * x->run);
            }
        }
        for (size_t i = 0; i < n; i++) {
            vt *x = &ts[i];
            if (x->started && !x->done) {
                run[nr] = (policy_run){ node_of[i], x->user, x->req, x->start, x->limit, x->run,
                                        x->submit };
                ri[nr++] = i;
            } else if (!x->started && x->submit <= t) {
                q[nq] = (policy_job){ x->req, x->submit, x->limit, x->run, 0, x->user, -1,
                                      x->passed, 0, 0 };
                qi[nq++] = i;
            }
        }
        T_CHECK(policy_account(c, t, run, nr, q, nq) == 0);
        for (size_t j = 0; j < nq; j++) ts[qi[j]].passed = q[j].passed;
        int k = policy_pass(c, &cfg, t, nodes, nn, run, nr, q, nq, users, nusers, st, NULL, NULL);
        T_CHECK(k >= 0);
        for (size_t j = 0; j < nq; j++)
            if (st[j] >= 0) {
                ts[qi[j]].started = 1;
                ts[qi[j]].start = t;
                node_of[qi[j]] = st[j];
            }
    }
    policy_ctx_free(c);
    free(run); free(q); free(qi); free(ri); free(st); free(node_of); free(users);
}

static sched_node node(double cpu, uint64_t gpu)
{
    sched_node n = { { cpu, 0, 0, gpu }, { cpu, 0, 0, gpu }, 1 };
    return n;
}

/* A 4-GPU task behind a never-ending stream of 1-GPU tasks: greedy lets it
 * starve (the failure this guards against is real), easy and learned start
 * it by the reservation: at most one task limit after it arrives. */
static void starvation_one(int kind, double *start4)
{
    enum { N = 400 };
    vt *ts = calloc(N + 1, sizeof *ts);
    /* drive() hands the queue over in index order: keep it arrival order */
    for (int i = 0, k = 0; i <= N; i++) {
        if (i == 1) {
            ts[i] = (vt){ .submit = 10, .run = 100, .limit = 150, .req = { 4, 0, 0, 4 }, .user = 1 };
            continue;
        }
        ts[i] = (vt){ .submit = k++ * 25.0, .run = 100, .limit = 150,
                      .req = { 1, 0, 0, 1 }, .user = 0 };
    }
    sched_node nd = node(4, 4);
    drive(kind, &nd, 1, ts, N + 1, 2, 5000, 0);
    *start4 = ts[1].started ? ts[1].start : -1;
    free(ts);
}

static void test_starvation(void)
{
    double g, e, l;
    starvation_one(POLICY_GREEDY, &g);
    starvation_one(POLICY_EASY, &e);
    starvation_one(POLICY_LEARNED, &l);
    T_CHECK(g < 0 || g > 4000);            /* greedy: starved for the whole stream */
    T_CHECK(e >= 10 && e <= 10 + 150 + 1); /* within one limit of its arrival */
    T_CHECK(l >= 10 && l <= 10 + 150 + 1);
}

/* User A floods 1,000 one-minute tasks, user B submits 10 just after: B's
 * tasks start within one task length of submission under learned. */
static void test_fairness(void)
{
    enum { NA = 1000, NB = 10 };
    vt *ts = calloc(NA + NB, sizeof *ts);
    for (int i = 0; i < NA; i++)
        ts[i] = (vt){ .submit = 0, .run = 60, .limit = 120, .req = { 1, 0, 0, 0 }, .user = 0 };
    for (int i = 0; i < NB; i++)
        ts[NA + i] = (vt){ .submit = 5, .run = 60, .limit = 120, .req = { 1, 0, 0, 0 }, .user = 1 };
    sched_node nd = node(16, 0);
    drive(POLICY_LEARNED, &nd, 1, ts, NA + NB, 2, 400, 3600);
    for (int i = 0; i < NB; i++) {
        T_CHECK(ts[NA + i].started);
        T_CHECK(ts[NA + i].start - ts[NA + i].submit <= 60);
    }
    /* B's tasks one at a time, every 100 s, while A's backlog (by now owed
     * its turn: B's tasks passed it) still waits: each starts within one
     * task length, as B is under its share and A far over it */
    for (int i = 0; i < NA + NB; i++) ts[i].started = ts[i].done = 0, ts[i].passed = 0;
    for (int i = 0; i < NB; i++) ts[NA + i].submit = 5 + 100 * i;
    nd = node(16, 0);
    drive(POLICY_LEARNED, &nd, 1, ts, NA + NB, 2, 1200, 3600);
    for (int i = 0; i < NB; i++) {
        T_CHECK(ts[NA + i].started);
        T_CHECK(ts[NA + i].start - ts[NA + i].submit <= 60);
    }
    for (int i = 0; i < NB; i++) ts[NA + i].submit = 5;
    /* and under fifo they would wait for A's whole backlog */
    for (int i = 0; i < NA + NB; i++) ts[i].started = ts[i].done = 0;
    nd = node(16, 0);
    drive(POLICY_FIFO, &nd, 1, ts, NA + NB, 2, 400, 0);
    T_CHECK(!ts[NA].started);
    free(ts);
}

/* The same flood, but A's runtimes spread over 50-70 s, so CPUs free one
 * at a time (above, all 16 free in one pass and any order of B's tasks
 * within it passes), and B's 10 tasks all submitted at once at times when
 * A's backlog has waited long enough to be guarded: B's tasks still start
 * within one task length (60 s) of submission. */
static void test_fairness_spread(void)
{
    enum { NA = 1000, NB = 10 };
    vt *ts = calloc(NA + NB, sizeof *ts);
    for (int bt = 105; bt <= 1505; bt += 200) {
        for (int i = 0; i < NA; i++)
            ts[i] = (vt){ .submit = 0, .run = 50 + (i * 7) % 21, .limit = 120,
                          .req = { 1, 0, 0, 0 }, .user = 0 };
        for (int i = 0; i < NB; i++)
            ts[NA + i] = (vt){ .submit = bt, .run = 60, .limit = 120, .req = { 1, 0, 0, 0 },
                               .user = 1 };
        sched_node nd = node(16, 0);
        drive(POLICY_LEARNED, &nd, 1, ts, NA + NB, 2, bt + 300, 3600);
        for (int i = 0; i < NB; i++) {
            T_CHECK(ts[NA + i].started);
            T_CHECK(ts[NA + i].start - ts[NA + i].submit <= 60);
        }
    }
    free(ts);
}

/* A light user's task whose limit is longer than the guarded backlog takes
 * to drain goes right after that backlog, not before it, even when it is
 * predicted short (the limit decides: a light user's predictions were short
 * on LCG when its tasks ran hours); its short tasks still pass it. */
static void test_light_long(void)
{
    enum { NA = 1000, NB = 3 };
    vt *ts = calloc(NA + NB, sizeof *ts);
    for (int i = 0; i < NA; i++)
        ts[i] = (vt){ .submit = 0, .run = 50 + (i * 7) % 21, .limit = 120,
                      .req = { 1, 0, 0, 0 }, .user = 0 };
    for (int i = 0; i < NB; i++)       /* B's last task asks a day */
        ts[NA + i] = (vt){ .submit = 505, .run = 60, .limit = i == NB - 1 ? 86400 : 120,
                           .req = { 1, 0, 0, 0 }, .user = 1 };
    sched_node nd = node(16, 0);
    drive(POLICY_LEARNED, &nd, 1, ts, NA + NB, 2, 5000, 3600);
    double last_a = 0;
    for (int i = 0; i < NA; i++) {
        T_CHECK(ts[i].started);
        if (ts[i].start > last_a) last_a = ts[i].start;
    }
    for (int i = 0; i < NB - 1; i++) {
        T_CHECK(ts[NA + i].started);
        T_CHECK(ts[NA + i].start - ts[NA + i].submit <= 60);
    }
    const vt *lg = &ts[NA + NB - 1];
    T_CHECK(lg->started);
    T_CHECK(lg->start >= last_a && lg->start <= last_a + 70);
    free(ts);
}

/* learned's bound on passing: a long task behind a stream of short ones
 * (each predicted right) starts once younger tasks have run more than the
 * slack's share of the machine during its wait. With a slack too large to
 * be reached the stream passes it for as long as it lasts: the guard is
 * what starts it, not an accident of the stream. */
static double passed_one(double slack)
{
    enum { N = 300 };
    vt *ts = calloc(N + 1, sizeof *ts);
    /* a 1-CPU task of 1000 s at t=31; 1-CPU tasks of 10 s every 2 s from
     * t=0 to t=600 (5 CPUs' worth on 4: by t=31 short tasks wait) */
    for (int i = 0, k = 0; i <= N; i++) {
        if (i == 16) {
            ts[i] = (vt){ .submit = 31, .run = 1000, .limit = 2000, .req = { 1, 0, 0, 0 },
                          .user = 1 };
            continue;
        }
        ts[i] = (vt){ .submit = k++ * 2.0, .run = 10, .limit = 60, .req = { 1, 0, 0, 0 },
                      .user = 0 };
    }
    sched_node nd = node(4, 0);
    drive_slack = slack;
    drive_guard = slack > 1 ? 1e6 : 0;   /* no wait guard either when the slack is off */
    drive(POLICY_LEARNED, &nd, 1, ts, N + 1, 2, 3000, 0);
    drive_slack = 0;
    drive_guard = 0;
    double st = ts[16].started ? ts[16].start : -1;
    free(ts);
    return st;
}

static void test_passed_bound(void)
{
    double st = passed_one(0);            /* the default slack */
    /* owed at the first accounting after it is passed (POLICY_ACCOUNT_S),
     * then first in line: a 10 s task ends */
    T_CHECK(st >= 31 && st <= 31 + 2 * POLICY_ACCOUNT_S + 10 + 1);
    double never = passed_one(1000);
    printf("# long task: starts at %.0f (default slack), %.0f (slack 1000)\n", st, never);
    T_CHECK(never < 0 || never > 600);    /* passed while the stream lasts */
}

/* The wait guard: on one CPU, three 50 s tasks at t=0 make the longest
 * wait 100 s; then a 1000 s task arrives behind a stream of 5 s tasks
 * (three every 10 s: a growing backlog, so by predicted slowdown the short
 * ones would go first while the stream lasts). The slack is set out of
 * reach, so only the guard can start it: once it has waited POLICY_GUARD
 * x 100 s it goes first (every short task that started is younger, so
 * waited less), and its wait stays within the longest wait so far. */
static double guard_one(double guard, double t0, double halflife)
{
    enum { N = 3 + 1 + 3 * 120, LONG = 6 };
    vt *ts = calloc(N, sizeof *ts);
    int k = 0;
    for (int i = 0; i < 3; i++)
        ts[k++] = (vt){ .submit = 0, .run = 50, .limit = 60, .req = { 1, 0, 0, 0 }, .user = 0 };
    for (int i = 0; i < 120; i++) {
        for (int r = 0; r < 3; r++)
            ts[k++] = (vt){ .submit = t0 + 10 * i, .run = 5, .limit = 60,
                            .req = { 1, 0, 0, 0 }, .user = 0 };
        if (i == 0)
            ts[k++] = (vt){ .submit = t0 + 1, .run = 1000, .limit = 2000, .req = { 1, 0, 0, 0 },
                            .user = 0 };
    }
    sched_node nd = node(1, 0);
    drive_slack = 1000;
    drive_guard = guard;
    drive(POLICY_LEARNED, &nd, 1, ts, N, 1, t0 + 3000, halflife);
    drive_slack = 0;
    drive_guard = 0;
    double w = ts[LONG].started ? ts[LONG].start - ts[LONG].submit : -1;
    T_CHECK(ts[LONG].run == 1000);
    for (int i = 0; i < 3; i++) T_CHECK(ts[i].started && ts[i].start == 50 * i);
    free(ts);
    return w;
}

static void test_guard(void)
{
    double w = guard_one(0, 150, 0);       /* the default guard */
    double off = guard_one(1e6, 150, 0);
    printf("# long task: waits %.0f s (guard), %.0f s (no guard); longest before 100 s\n", w, off);
    /* guarded at 75 s, then first in line: one 5 s task ends */
    T_CHECK(w >= POLICY_GUARD * 100 && w <= POLICY_GUARD * 100 + 5 + 1);
    T_CHECK(w <= 100);                    /* no new longest wait */
    T_CHECK(off < 0 || off > 300);        /* short tasks keep passing it */
    /* the horizon decays with the fair-share half-life: 1000 s after the
     * 100 s wait it is 50 s, so the long task is guarded at 37.5 s */
    double d = guard_one(0, 1100, 1000);
    printf("# long task: waits %.0f s one half-life after the longest wait\n", d);
    T_CHECK(d >= POLICY_GUARD * 50 - 1 && d <= POLICY_GUARD * 50 + 5 + 1);
}

/* Reservations for the first tasks in order that do not fit (learned),
 * not the head's alone: node 0 is full until 100 (limits), node 1 has one
 * CPU free and three busy until 200. Two 4-CPU tasks do not fit (the
 * first owed its turn, the second not): the first reserves node 0 at 100,
 * the second node 1 at 200, so a narrow task with a limit past 200 must
 * not take node 1's free CPU (under easy, whose only reservation is the
 * head's, it does). */
static void test_multi_resv(void)
{
    /* node 2, full until 10,000, is held by nobody */
    sched_node nd[3] = { node(4, 0), node(4, 0), node(4, 0) };
    nd[0].free.cpu = 0;
    nd[1].free.cpu = 1;
    nd[2].free.cpu = 0;
    policy_run run[11];
    for (int i = 0; i < 11; i++)
        run[i] = (policy_run){ i < 4 ? 0 : i < 7 ? 1 : 2, 0, { 1, 0, 0, 0 }, 0,
                               i < 4 ? 100 : i < 7 ? 200 : 10000, i < 7 ? 50 : 5000, 0 };
    policy_job q[3] = {
        { { 4, 0, 0, 0 }, 0, 1000, 500, 0, 1, -1, 1e6, 0, 0 },
        { { 4, 0, 0, 0 }, 1, 1000, 500, 0, 1, -1, 0, 0, 0 },
        { { 1, 0, 0, 0 }, 49, 1000, 900, 0, 2, -1, 0, 0, 0 },   /* after the second in order */
    };
    int st[3], rn;
    double ra;
    policy_ctx *c = policy_ctx_new();
    policy_cfg cfg = { POLICY_LEARNED, SCHED_BEST_FIT, 0, 0, 0 };
    T_EQ_INT(policy_pass(c, &cfg, 50, nd, 3, run, 11, q, 3, NULL, 0, st, &rn, &ra), 0);
    T_EQ_INT(st[0], -1);
    T_EQ_INT(st[1], -1);
    T_EQ_INT(st[2], -1);                  /* it would delay the second reservation */
    T_EQ_INT(rn, 0);
    T_CHECK(fabs(ra - 100) < 1e-9);
    T_CHECK(nd[1].free.cpu == 1);
    /* the narrow task with a limit that ends before node 1 is expected to
     * have room (the running tasks there are past their predictions of 50
     * s: expected to run as long again, at least 60 s, so until 110) may
     * use it; one that ends before the limits' 200 but after 110 may not */
    q[2].limit = 70;
    T_EQ_INT(policy_pass(c, &cfg, 50, nd, 3, run, 11, q, 3, NULL, 0, st, &rn, &ra), 0);
    T_EQ_INT(st[2], -1);
    q[2].limit = 50;
    T_EQ_INT(policy_pass(c, &cfg, 50, nd, 3, run, 11, q, 3, NULL, 0, st, &rn, &ra), 1);
    T_EQ_INT(st[2], 1);
    nd[1].free.cpu = 1;
    /* with every node held (nodes 0 and 1 alone), refusing it would leave
     * it nowhere to go: the limits' time bounds it, as under easy */
    q[2].limit = 70;
    T_EQ_INT(policy_pass(c, &cfg, 50, nd, 2, run, 7, q, 3, NULL, 0, st, &rn, &ra), 1);
    T_EQ_INT(st[2], 1);
    nd[1].free.cpu = 1;
    q[2].limit = 1000;
    /* easy: one reservation (the head's); the narrow task backfills */
    cfg.kind = POLICY_EASY;
    T_EQ_INT(policy_pass(c, &cfg, 50, nd, 3, run, 11, q, 3, NULL, 0, st, &rn, &ra), 1);
    T_EQ_INT(st[2], 1);
    policy_ctx_free(c);
}

/* learned's reserved nodes are kept to the predictions: a task backfills
 * there only if its limit ends before the node is expected to have room
 * (running tasks at their predictions), not merely before the limits say;
 * and the head also holds the node predicted to drain first for it. easy
 * lets both tasks below pass. */
static void test_drain_target(void)
{
    for (int kind = POLICY_EASY; kind <= POLICY_LEARNED; kind++) {
        /* node 0 frees by the limits at 100, by the predictions at 50 */
        sched_node nd[2] = { node(4, 0), node(4, 0) };
        nd[0].free.cpu = 1;
        nd[1].free.cpu = 0;
        policy_run run[7];
        for (int i = 0; i < 7; i++)
            run[i] = (policy_run){ i < 3 ? 0 : 1, 0, { 1, 0, 0, 0 }, 0, i < 3 ? 100 : 1000,
                                   i < 3 ? 50 : 900, 0 };
        policy_job q[2] = {
            { { 4, 0, 0, 0 }, 0, 100, 100, 0, 1, -1, 1e9, 0, 0 },   /* the head, owed */
            { { 1, 0, 0, 0 }, 5, 60, 60, 0, 2, -1, 0, 0, 0 },       /* ends at 70 */
        };
        int st[2], rn;
        double ra;
        policy_ctx *c = policy_ctx_new();
        policy_cfg cfg = { kind, SCHED_BEST_FIT, 0, 0, 0 };
        T_CHECK(policy_pass(c, &cfg, 10, nd, 2, run, 7, q, 2, NULL, 0, st, &rn, &ra) >= 0);
        T_EQ_INT(st[0], -1);
        T_EQ_INT(rn, 0);
        T_CHECK(fabs(ra - 100) < 1e-9);             /* the guarantee stays the limits' */
        T_EQ_INT(st[1], kind == POLICY_LEARNED ? -1 : 0);
        policy_ctx_free(c);

        /* node 0 as above but predicted to free at 90; node 1 frees by the
         * limits only at 1000 but is predicted to at 20: learned holds it
         * for the head too, so a task ending at 60 goes to node 0 */
        sched_node nd2[2] = { node(4, 0), node(4, 0) };
        nd2[0].free.cpu = 1;
        nd2[1].free.cpu = 1;
        policy_run run2[6];
        for (int i = 0; i < 6; i++)
            run2[i] = (policy_run){ i < 3 ? 0 : 1, 0, { 1, 0, 0, 0 }, 0, i < 3 ? 100 : 1000,
                                    i < 3 ? 90 : 20, 0 };
        q[1].limit = q[1].predict = 50;
        c = policy_ctx_new();
        T_EQ_INT(policy_pass(c, &cfg, 10, nd2, 2, run2, 6, q, 2, NULL, 0, st, &rn, &ra), 1);
        T_EQ_INT(st[0], -1);
        T_EQ_INT(rn, 0);
        T_EQ_INT(st[1], kind == POLICY_LEARNED ? 0 : 1);
        policy_ctx_free(c);
    }
}

/* A task without a limit of its own (its limit is the unenforced default)
 * backfills a held node under learned if twice its guess ends before the
 * node is predicted to have room; one without a guess, or whose guess is
 * too long, does not; easy never counts on a guess. A task with a limit
 * of its own is bounded by it (callers give a guess only to tasks without
 * one), here by the limits' time: the one node is held. */
static void test_guess_backfill(void)
{
    for (int kind = POLICY_EASY; kind <= POLICY_LEARNED; kind++) {
        /* 8 of 16 CPUs run a task under the default limit, predicted to end at 1000 */
        sched_node nd = node(16, 0);
        nd.free.cpu = 8;
        policy_run run = { 0, 0, { 8, 0, 0, 0 }, 0, 86400, 1000, 0 };
        policy_job q[5] = {
            { { 16, 0, 0, 0 }, 0, 86400, 10, 0, 0, -1, 0, 10, 0 },     /* the head */
            { { 4, 0, 0, 0 }, 1, 86400, 300, 0, 1, -1, 0, 300, 300 },  /* 100 + 600 <= 1000 */
            { { 2, 0, 0, 0 }, 2, 86400, 500, 0, 2, -1, 0, 500, 500 },  /* 100 + 1000 > 1000 */
            { { 1, 0, 0, 0 }, 3, 86400, 100, 0, 3, -1, 0, 100, 0 },    /* no guess */
            { { 1, 0, 0, 0 }, 4, 3600, 100, 0, 4, -1, 0, 100, 0 },     /* a limit of its own */
        };
        int st[5], rn;
        double ra;
        policy_ctx *c = policy_ctx_new();
        policy_cfg cfg = { kind, SCHED_BEST_FIT, 0, 0, 0 };
        T_CHECK(policy_pass(c, &cfg, 100, &nd, 1, &run, 1, q, 5, NULL, 0, st, &rn, &ra) >= 0);
        T_EQ_INT(st[0], -1);
        T_EQ_INT(rn, 0);
        T_CHECK(fabs(ra - 86400) < 1e-9);      /* the guarantee stays the limits' */
        T_EQ_INT(st[1], kind == POLICY_LEARNED ? 0 : -1);
        T_EQ_INT(st[2], -1);
        T_EQ_INT(st[3], -1);
        T_EQ_INT(st[4], 0);     /* every node held: by the limits' time, 3700 < 86400 */
        policy_ctx_free(c);
    }
    /* predict_guess: p_max of the task's own kind, once it has 4 runs */
    predict *p = predict_new(0);
    const char *keys[2] = { "u/img/name", "u/img" };
    predict_est e;
    T_CHECK(p != NULL);
    for (int i = 0; i < 3; i++) T_CHECK(predict_add(p, keys, 2, 100 + 10 * i, 0, 0) == 0);
    predict_get(p, keys, 2, 0, &e);
    T_CHECK(predict_guess(&e) == 0);           /* three runs */
    T_CHECK(predict_add(p, keys, 2, 50, 0, 0) == 0);
    predict_get(p, keys, 2, 0, &e);
    T_CHECK(fabs(predict_guess(&e) - 120) < 1e-9);
    const char *other[2] = { "u/img/other", "u/img" };
    predict_get(p, other, 2, 0, &e);
    T_CHECK(e.level == 1 && predict_guess(&e) == 0);   /* only a broader group */
    predict_free(p);
}

/* policy_account: each queued task is charged the CPU-seconds of the
 * running tasks submitted after it, measured over the time since the last
 * accounting (at most its own wait); nothing before POLICY_ACCOUNT_S. */
static void test_account(void)
{
    policy_ctx *c = policy_ctx_new();
    policy_run run[3] = {
        { 0, 0, { 2, 0, 0, 0 }, 0, 100, 50, 5 },      /* submitted before both */
        { 0, 0, { 1, 0, 0, 0 }, 0, 100, 50, 15 },     /* between them */
        { 0, 0, { 4, 0, 0, 0 }, 0, 100, 50, 30 },     /* after both */
    };
    policy_job q[2] = {
        { { 1, 0, 0, 0 }, 20, 100, 10, 0, 0, -1, 0, 0, 0 },
        { { 1, 0, 0, 0 }, 10, 100, 10, 0, 0, -1, 7, 0, 0 },  /* out of arrival order */
    };
    T_EQ_INT(policy_account(c, 100, run, 3, q, 2), 0);   /* the first call starts the clock */
    T_CHECK(q[0].passed == 0 && q[1].passed == 7);
    T_EQ_INT(policy_account(c, 110, run, 3, q, 2), 0);   /* too soon */
    T_CHECK(q[0].passed == 0 && q[1].passed == 7);
    T_EQ_INT(policy_account(c, 160, run, 3, q, 2), 0);
    T_CHECK(fabs(q[0].passed - 4 * 60) < 1e-9);           /* the task submitted at 30 */
    T_CHECK(fabs(q[1].passed - (7 + 5 * 60)) < 1e-9);     /* those at 15 and 30 */
    policy_ctx_free(c);
}

/* One pass: the head (4 CPUs) reserves node 0 at t=100 (the running task's
 * limit). A task whose limit ends after that may not start on node 0 even
 * if its prediction is short; one whose limit ends before may; on the other
 * node anything fitting goes. */
static void test_reservation_kept(void)
{
    for (int kind = POLICY_EASY; kind <= POLICY_LEARNED; kind++) {
        sched_node nodes[2] = { node(4, 0), node(1, 0) };
        nodes[0].free.cpu = 1;
        nodes[1].free.cpu = 0;
        policy_run run[2] = {
            { 0, 0, { 3, 0, 0, 0 }, 0, 100, 100, 0 },   /* predicted to its limit */
            { 1, 0, { 1, 0, 0, 0 }, 0, 500, 400, 0 },
        };
        policy_job q[3] = {
            { { 4, 0, 0, 0 }, 1, 100, 100, 0, 1, -1, 0, 0, 0 },     /* head */
            { { 1, 0, 0, 0 }, 2, 200, 5, 0, 2, -1, 0, 0, 0 },       /* limit past the reservation */
            { { 1, 0, 0, 0 }, 3, 80, 80, 0, 3, -1, 0, 0, 0 },       /* ends before it */
        };
        int st[3], rn;
        double rat;
        /* learned: the head is owed its turn (younger tasks have run ahead
         * of it), so it comes first in learned's order too */
        if (kind == POLICY_LEARNED) q[0].passed = 1e9;
        policy_ctx *c = policy_ctx_new();
        policy_cfg cfg = { kind, SCHED_BEST_FIT, 0, 0, 0 };
        int k = policy_pass(c, &cfg, 10, nodes, 2, run, 2, q, 3, NULL, 0, st, &rn, &rat);
        T_EQ_INT(k, 1);
        T_EQ_INT(st[0], -1);
        T_EQ_INT(st[1], -1);
        T_EQ_INT(st[2], 0);
        T_EQ_INT(rn, 0);
        T_CHECK(fabs(rat - 100) < 1e-9);
        /* fifo stops at the head: nothing behind it starts */
        nodes[0].free.cpu = 1;
        cfg.kind = POLICY_FIFO;
        k = policy_pass(c, &cfg, 10, nodes, 2, run, 2, q, 3, NULL, 0, st, &rn, &rat);
        T_EQ_INT(k, 0);
        /* greedy starts anything that fits */
        cfg.kind = POLICY_GREEDY;
        k = policy_pass(c, &cfg, 10, nodes, 2, run, 2, q, 3, NULL, 0, st, &rn, &rat);
        T_EQ_INT(k, 1);
        T_EQ_INT(st[1], 0);
        policy_ctx_free(c);
    }
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The reservation is the earliest time enough running tasks have ended,
 * whatever order they are passed in and however many end at once (the
 * ends are taken in time order lazily, end_at), pass after pass. */
static void test_reservation_time(void)
{
    enum { NR = 300 };
    static policy_run run[NR];
    double ends[NR];
    unsigned x = 12345;
    for (int i = 0; i < NR; i++) {
        x = x * 1103515245u + 12345u;
        double lim = 10 + (double)((x >> 8) % 97) * 5;    /* many ties */
        run[i] = (policy_run){ 0, 0, { 1, 0, 0, 0 }, 0, lim, 0, 0 };
        ends[i] = lim;
    }
    qsort(ends, NR, sizeof *ends, cmp_dbl);
    policy_ctx *c = policy_ctx_new();
    for (int kind = POLICY_EASY; kind <= POLICY_LEARNED; kind++) {
        policy_cfg cfg = { kind, SCHED_BEST_FIT, 0, 0, 0 };
        int wants[] = { 1, 2, 37, 150, 299, 300 };
        for (size_t w = 0; w < sizeof wants / sizeof *wants; w++) {
            sched_node nodes[1] = { node(NR + 1, 0) };
            nodes[0].free.cpu = 1;
            /* the head needs wants[w] tasks to end; a small task behind it
             * fits now (else the pass gives up at once) */
            policy_job q[2] = { { { wants[w] + 1, 0, 0, 0 }, 1, 100, 100, 0, 1, -1, 1e9, 0, 0 },
                                { { 1, 0, 0, 0 }, 2, 1e6, 1e6, 0, 2, -1, 0, 0, 0 } };
            int st[2], rn = -2;
            double rat = -1;
            T_CHECK(policy_pass(c, &cfg, 5, nodes, 1, run, NR, q, 2, NULL, 0, st, &rn, &rat) >= 0);
            T_EQ_INT(rn, 0);
            T_CHECK(fabs(rat - ends[wants[w] - 1]) < 1e-9);
        }
    }
    policy_ctx_free(c);
}

/* A task no node can ever hold does not block the queue. */
static void test_never_fits(void)
{
    sched_node nd = node(4, 0);
    policy_job q[2] = {
        { { 64, 0, 0, 0 }, 0, 100, 100, 0, 0, -1, 0, 0, 0 },
        { { 1, 0, 0, 0 }, 1, 100, 100, 0, 0, -1, 0, 0, 0 },
    };
    int st[2];
    for (int kind = 0; kind < 4; kind++) {
        policy_ctx *c = policy_ctx_new();
        policy_cfg cfg = { kind, SCHED_BEST_FIT, 0, 0, 0 };
        nd.free.cpu = 4;
        T_EQ_INT(policy_pass(c, &cfg, 5, &nd, 1, NULL, 0, q, 2, NULL, 0, st, NULL, NULL), 1);
        T_EQ_INT(st[1], 0);
        policy_ctx_free(c);
    }
}

/* Predictions from a synthetic history. */
static void test_predict(void)
{
    predict *p = predict_new(0);
    const char *train[3] = { "alice\x1fimg\x1ftrain", "alice\x1fimg", "alice" };
    const char *eval[3] = { "alice\x1fimg\x1f" "eval", "alice\x1fimg", "alice" };
    const char *bob[3] = { "bob\x1fimg\x1ftrain", "bob\x1fimg", "bob" };
    predict_est e;
    T_EQ_INT(predict_get(p, train, 3, 500, &e), -1);      /* no history: the limit */
    T_CHECK(e.runtime == 500);
    double rts[6] = { 100, 300, 110, 120, 130, 140 };
    for (int i = 0; i < 6; i++)
        T_EQ_INT(predict_add(p, train, 3, rts[i], rts[i] / 2, 1e9 + i), 0);
    T_EQ_INT(predict_get(p, train, 3, 0, &e), 0);
    T_CHECK(fabs(e.runtime - 135) < 1e-9);                /* average of the last two */
    T_CHECK(fabs(e.last2 - 135) < 1e-9);
    T_CHECK(e.q50 == 120 && e.q90 == 140 && e.max_runtime == 300);
    T_CHECK(e.p_max == 300);                              /* the longest of the last runs */
    T_CHECK(e.mem_peak == 1e9 + 5);
    T_EQ_INT((long)e.n, 6);
    T_CHECK(fabs(e.max_cores - 0.5) < 1e-9 && e.ncores == 6);   /* CPU time over wall time */
    T_EQ_INT(predict_get(p, train, 3, 60, &e), 0);
    T_CHECK(e.runtime == 60 && e.p_max == 60);            /* capped by -timeout */
    T_EQ_INT(predict_get(p, eval, 3, 0, &e), 1);          /* a broader group */
    T_CHECK(fabs(e.runtime - 135) < 1e-9);
    T_EQ_INT(predict_get(p, bob, 3, 0, &e), -1);          /* another user learns nothing */
    T_EQ_INT((long)predict_groups(p), 3);
    predict_free(p);
    /* cores busy: a run too short to say is not counted */
    p = predict_new(0);
    T_EQ_INT(predict_add(p, bob, 3, 0.5, 2, 0), 0);
    T_EQ_INT(predict_add(p, bob, 3, 10, 0, 0), 0);         /* CPU time unknown */
    T_EQ_INT(predict_get(p, bob, 3, 0, &e), 0);
    T_CHECK(e.max_cores == 0 && e.ncores == 0);
    T_EQ_INT(predict_add(p, bob, 3, 10, 35, 0), 0);
    T_EQ_INT(predict_add(p, bob, 3, 20, 10, 0), 0);
    T_EQ_INT(predict_get(p, bob, 3, 0, &e), 0);
    T_CHECK(fabs(e.max_cores - 3.5) < 1e-9 && e.ncores == 2);
    predict_free(p);
    /* bounded: groups beyond the limit are not learned */
    p = predict_new(2);
    T_CHECK(predict_add(p, train, 3, 1, 0, 0) < 0);
    T_EQ_INT((long)predict_groups(p), 2);
    predict_free(p);
}

/* learned orders by the longest of a kind's last runs, not by the last
 * two: kind a ran 900 s once, then 20 and 30 s; kind b always 100 s. With
 * one free CPU, b starts (by the last two, a at 25 s would pass it), and
 * the expected starts follow the same order. */
static void test_order_pessimistic(void)
{
    predict *p = predict_new(0);
    const char *ka[1] = { "alice\x1f" "a" }, *kb[1] = { "alice\x1f" "b" };
    double ra[3] = { 900, 20, 30 };
    for (int i = 0; i < 3; i++) T_EQ_INT(predict_add(p, ka, 1, ra[i], 0, 0), 0);
    for (int i = 0; i < 2; i++) T_EQ_INT(predict_add(p, kb, 1, 100, 0, 0), 0);
    predict_est ea, eb;
    T_EQ_INT(predict_get(p, ka, 1, 1000, &ea), 0);
    T_EQ_INT(predict_get(p, kb, 1, 1000, &eb), 0);
    T_CHECK(ea.runtime == 25 && ea.p_max == 900 && eb.runtime == 100 && eb.p_max == 100);
    policy_job q[2] = {
        { { 1, 0, 0, 0 }, 0, 1000, ea.runtime, 0, 0, -1, 0, ea.p_max, 0 },
        { { 1, 0, 0, 0 }, 0, 1000, eb.runtime, 0, 0, -1, 0, eb.p_max, 0 },
    };
    sched_node nd = node(1, 0);
    int st[2];
    policy_ctx *c = policy_ctx_new();
    policy_cfg cfg = { POLICY_LEARNED, SCHED_BEST_FIT, 0, 0, 0 };
    T_EQ_INT(policy_pass(c, &cfg, 1, &nd, 1, NULL, 0, q, 2, NULL, 0, st, NULL, NULL), 1);
    T_EQ_INT(st[0], -1);
    T_EQ_INT(st[1], 0);
    /* expected starts: b at once, then a when b's 100 s end (a fresh
     * context: the start above made 1 s the longest wait, guarding both) */
    double at[2];
    nd.free.cpu = 1;
    policy_ctx_free(c);
    c = policy_ctx_new();
    T_EQ_INT(policy_project(c, &cfg, 1, &nd, 1, NULL, 0, q, 2, NULL, 0, 100, at), 0);
    T_CHECK(fabs(at[1] - 1) < 1e-9 && fabs(at[0] - 101) < 1e-9);
    policy_ctx_free(c);
    predict_free(p);
}

/* Expected start times: two 1-CPU tasks on a full 1-CPU node start when
 * the running task is predicted to end, then one after the other (learned:
 * the shorter first, as neither is owed its turn yet). */
static void test_project(void)
{
    sched_node nd = node(1, 0);
    nd.free.cpu = 0;
    policy_run run[1] = { { 0, 0, { 1, 0, 0, 0 }, 0, 1000, 100, 0 } };
    policy_job q[3] = {
        { { 1, 0, 0, 0 }, 1, 1000, 50, 0, 0, -1, 0, 0, 0 },
        { { 1, 0, 0, 0 }, 2, 1000, 30, 0, 0, -1, 0, 0, 0 },
        { { 2, 0, 0, 0 }, 3, 1000, 30, 0, 0, -1, 0, 0, 0 },        /* never fits */
    };
    double at[3];
    policy_ctx *c = policy_ctx_new();
    policy_cfg cfg = { POLICY_LEARNED, SCHED_BEST_FIT, 0, 0, 0 };
    T_EQ_INT(policy_project(c, &cfg, 10, &nd, 1, run, 1, q, 3, NULL, 0, 100, at), 0);
    T_CHECK(fabs(at[1] - 100) < 1e-9);    /* learned: the shorter first */
    T_CHECK(fabs(at[0] - 130) < 1e-9);
    T_CHECK(at[2] < 0);
    /* easy sees the limit */
    cfg.kind = POLICY_EASY;
    T_EQ_INT(policy_project(c, &cfg, 10, &nd, 1, run, 1, q, 3, NULL, 0, 100, at), 0);
    T_CHECK(fabs(at[0] - 1000) < 1e-9);
    policy_ctx_free(c);
}

static void test_parse(void)
{
    T_EQ_INT(policy_parse("learned"), POLICY_LEARNED);
    T_EQ_INT(policy_parse("fifo"), POLICY_FIFO);
    T_EQ_INT(policy_parse("best-fit"), -1);
    T_EQ_STR(policy_name(POLICY_EASY), "easy");
}

int main(void)
{
    T_RUN(test_parse);
    T_RUN(test_starvation);
    T_RUN(test_fairness);
    T_RUN(test_fairness_spread);
    T_RUN(test_light_long);
    T_RUN(test_passed_bound);
    T_RUN(test_guard);
    T_RUN(test_multi_resv);
    T_RUN(test_drain_target);
    T_RUN(test_guess_backfill);
    T_RUN(test_account);
    T_RUN(test_reservation_kept);
    T_RUN(test_reservation_time);
    T_RUN(test_never_fits);
    T_RUN(test_predict);
    T_RUN(test_order_pessimistic);
    T_RUN(test_project);
    return T_DONE();
}
