/* runtime.c — the runtime dispatch (runtime.h → a vtable per runtime) and
 * the table of running tasks shared by every runtime, so cancel works the
 * same way whichever runtime runs the task. */
#include <stdio.h>
#include <string.h>

#include "worker/runtime_impl.h"

int runtime_base_init(runtime *r, const struct runtime_ops *ops)
{
    r->ops = ops;
    r->tasks = NULL;
    return pthread_mutex_init(&r->mu, NULL) == 0 ? 0 : RT_E_NOMEM;
}

void runtime_base_destroy(runtime *r)
{
    pthread_mutex_destroy(&r->mu);
}

int runtime_task_enter(runtime *r, runtime_task *t, const char *task_id,
                       char *err, size_t errcap)
{
    int rc = 0;
    if (!task_id || !*task_id || strlen(task_id) >= sizeof t->task_id) {
        snprintf(err, errcap, "invalid task id");
        return RT_E_START;
    }
    memset(t->task_id, 0, sizeof t->task_id);
    strcpy(t->task_id, task_id);
    atomic_init(&t->cancel, 0);
    pthread_mutex_lock(&r->mu);
    for (runtime_task *o = r->tasks; o; o = o->next) {
        if (strcmp(o->task_id, task_id) == 0) {
            snprintf(err, errcap, "task %s is already running on this worker", task_id);
            rc = RT_E_START;
            goto out;
        }
    }
    t->next = r->tasks;
    r->tasks = t;
out:
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void runtime_task_leave(runtime *r, runtime_task *t)
{
    pthread_mutex_lock(&r->mu);
    for (runtime_task **pp = &r->tasks; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
}

/* Frees a runtime. The caller guarantees no runtime_run is in progress
 * (the worker joins its task threads first). */
void runtime_free(runtime *r)
{
    if (r)
        r->ops->destroy(r);
}

/* Static string; thread-safe. */
const char *runtime_name(const runtime *r)
{
    return r->ops->name;
}

/* Thread-safe; blocks the calling thread until the task has finished. The
 * result is always fully initialised, whatever the return code. */
int runtime_run(runtime *r, const rt_spec *spec, rt_result *res)
{
    memset(res, 0, sizeof *res);
    res->exit_code = -1;
    if (!spec || !spec->task_id) {
        snprintf(res->error, sizeof res->error, "no task id");
        return RT_E_START;
    }
    return r->ops->run(r, spec, res);
}

/* Thread-safe; returns at once: the thread inside runtime_run stops the
 * task (SIGTERM, SIGKILL after RUNTIME_STOP_GRACE_S) and reports
 * res->cancelled. RT_E_IO if no task with that id is running here (there
 * is no dedicated "no such task" code in runtime.h). */
int runtime_sweep(runtime *r, const char *worker_id, char *err, size_t errcap)
{
    if (!r->ops->sweep || !worker_id || !worker_id[0])
        return 0;
    return r->ops->sweep(r, "cloudai.worker_id", worker_id, err, errcap);
}

int runtime_sweep_run(runtime *r, const char *run, char *err, size_t errcap)
{
    if (!r->ops->sweep || !run || !run[0])
        return 0;
    return r->ops->sweep(r, "cloudai.worker_run", run, err, errcap);
}

int runtime_cancel(runtime *r, const char *run_id)
{
    int rc = RT_E_IO;
    if (!run_id)
        return rc;
    pthread_mutex_lock(&r->mu);
    for (runtime_task *t = r->tasks; t; t = t->next) {
        if (strcmp(t->task_id, run_id) == 0) {
            atomic_store(&t->cancel, 1);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}
