/* cgroup.h — the process runtime's hold on a task's processes: a cgroup v2
 * per task, so a process that left the task's process group (setsid, a
 * double fork into a new session) is still found and killed when the task
 * ends, is cancelled, or its worker dies.
 *
 * Optional: only where a cgroup2 hierarchy is mounted and writable (a root
 * worker outside a container that hides it; the packaged unit has
 * ProtectControlGroups=yes, so not there). Without it every function here
 * is a no-op and the process group alone is used, as before. No
 * controller is enabled: this is tracking and killing, not limits. */
#ifndef CLOUDAI_WORKER_CGROUP_H
#define CLOUDAI_WORKER_CGROUP_H
#include <stddef.h>

#define CGROUP_PATH_MAX 1024

/* Creates this worker's cgroup ("cloudai-<pid>") below the cgroup it runs
 * in, and removes empty ones left there by dead workers. 0 with base filled, or
 * -errno (base is then ""). */
int cgroup_base_init(char *base, size_t cap);
/* Removes the base when no task cgroup is left in it (best effort). */
void cgroup_base_free(const char *base);
/* Creates <base>/<name> for one task and opens its cgroup.procs for
 * writing: the task's first process writes "0" to it before exec, which
 * moves it (and all it will fork) in. 0, or -errno. */
int cgroup_task_create(const char *base, const char *name, char *path, size_t cap, int *procs_fd);
/* SIGKILLs every process in the cgroup (cgroup.kill, or one by one on a
 * kernel older than 5.14). 1 if it held any process, 0 if empty, -errno. */
int cgroup_kill(const char *path);
/* Kills what is left and removes the cgroup; waits a bounded time for the
 * processes to go. 0 once removed (then no process of it is left), or
 * -errno (-ENOENT also when there was none: path ""). */
int cgroup_task_remove(const char *path);
#endif
