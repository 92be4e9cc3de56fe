/* runtime_impl.h — private to the runtime modules (runtime.c, docker.c,
 * procrt.c): the vtable each runtime fills, and the table of running tasks
 * that runtime_cancel searches. A concrete runtime embeds `struct runtime`
 * as its first member. */
#ifndef CLOUDAI_RUNTIME_IMPL_H
#define CLOUDAI_RUNTIME_IMPL_H
#include <pthread.h>
#include <stdatomic.h>

#include "worker/runtime.h"

#define RUNTIME_TASK_ID_MAX 128
#define RUNTIME_STOP_GRACE_S 5     /* SIGTERM .. SIGKILL, both runtimes */

struct runtime_ops {
    const char *name;
    int (*run)(runtime *r, const rt_spec *spec, rt_result *res);
    void (*destroy)(runtime *r);
    /* Kills and removes what carries the label key=value; or NULL. */
    int (*sweep)(runtime *r, const char *key, const char *value, char *err, size_t errcap);
};

/* One running task. Lives on the stack of the thread inside runtime_run;
 * runtime_cancel only sets `cancel`, and the running thread notices it at
 * its next poll (process: ~20 ms, docker: ~1 s) and does the stopping, so
 * a canceller never blocks for the grace period. */
typedef struct runtime_task {
    char task_id[RUNTIME_TASK_ID_MAX];
    atomic_int cancel;
    struct runtime_task *next;
} runtime_task;

struct runtime {
    const struct runtime_ops *ops;
    pthread_mutex_t mu;            /* guards tasks */
    runtime_task *tasks;
};

/* Fills the common part; 0 or RT_E_NOMEM (mutex init failed). */
int runtime_base_init(runtime *r, const struct runtime_ops *ops);
void runtime_base_destroy(runtime *r);

/* Registers t (caller storage, must outlive the matching leave) under
 * task_id. RT_E_START with err filled if the id is too long or a task
 * with that id is already running here. */
int runtime_task_enter(runtime *r, runtime_task *t, const char *task_id,
                       char *err, size_t errcap);
void runtime_task_leave(runtime *r, runtime_task *t);

static inline int runtime_task_cancelled(runtime_task *t)
{
    return atomic_load(&t->cancel) != 0;
}
#endif
