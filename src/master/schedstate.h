/* schedstate.h — the master's scheduling state beside the cluster: the
 * configured policy, the per-user fair-share accounts, the history of
 * finished tasks (predict.c) and the published expected start times.
 * Everything except schedstate_expected is called with the cluster lock
 * held (the cluster owns the only reference); schedstate_expected takes
 * only the view's own lock, so a metadata-store callback (listing tasks)
 * may call it without breaking the lock order. */
#ifndef CLOUDAI_SCHEDSTATE_H
#define CLOUDAI_SCHEDSTATE_H
#include <stdint.h>
#include "config.h"
#include "policy.h"
#include "predict.h"
#include "records.h"

typedef struct schedstate schedstate;

schedstate *schedstate_new(const config *cfg);
void schedstate_free(schedstate *s);
int schedstate_kind(const schedstate *s);

/* Dense index of a user (created on first sight); -1 without memory. */
int schedstate_user(schedstate *s, const char *user_id);

/* A task ended after runtime_s seconds (wall time on the worker): learn
 * its runtime and charge its user cpu * runtime. now in seconds. */
void schedstate_learn(schedstate *s, const task_rec *t, double runtime_s, double now);
/* Runtime estimate for t (its -timeout caps it). Returns est->level. */
int schedstate_predict(const schedstate *s, const task_rec *t, predict_est *est);
/* A warning for a request far above what that kind of task used, or ""
 * (then 0). 1 when msg was written. */
int schedstate_warn(const schedstate *s, const task_rec *t, char *msg, size_t cap);
/* The limit the policy may rely on: -timeout, else default_limit_s. */
double schedstate_limit(const schedstate *s, const task_rec *t);
/* learned: account what younger tasks ran while each queued task waited
 * (policy_account); q's passed fields are updated for the caller to keep. */
void schedstate_account(schedstate *s, double now, const policy_run *run, size_t nr,
                        policy_job *q, size_t nq);
/* One pass (policy.h) with this master's users. */
int schedstate_pass(schedstate *s, double now, sched_node *nodes, size_t nn,
                    const policy_run *run, size_t nr, const policy_job *q, size_t nq,
                    int *start_node);

/* Expected starts: project (policy_project) and publish them under ids;
 * the ids array is copied. Rate-limited by the caller. */
void schedstate_publish(schedstate *s, double now, const sched_node *nodes, size_t nn,
                        const policy_run *run, size_t nr, const policy_job *q, size_t nq,
                        const char *const *ids, const uint64_t *pred_mem);
/* The published expected start (ms), predicted runtime (s) and predicted
 * peak memory (bytes; pred_mem[i] as published, 0 = unknown) of a queued
 * task; 0 if found, -1 if not. Thread-safe, takes no other lock. */
int schedstate_expected(schedstate *s, const char *task_id, uint64_t *start_ms,
                        uint64_t *predicted_s, uint64_t *predicted_mem);
#endif
