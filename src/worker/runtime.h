/* runtime.h — how a worker runs one task: in a Docker container through
 * the Docker Engine API (libcurl over the unix socket), or as a plain
 * process (no isolation). runtime_run blocks in the calling (task) thread;
 * runtime_cancel may be called from any other thread. A runtime is shared
 * by all task threads of a worker: its functions are thread-safe. */
#ifndef CLOUDAI_RUNTIME_H
#define CLOUDAI_RUNTIME_H
#include "err.h"   /* RT_E_* codes: the rt band of the one error space */
#include <stddef.h>
#include <stdint.h>

typedef struct rt_spec {
    const char *task_id;
    const char *run_id;        /* this run (attempt) of the task: the key of
                                * runtime_cancel, docker's container name
                                * cloudai-<run_id>; NULL = task_id */
    const char *worker_id;     /* docker: label cloudai.worker_id (may be NULL) */
    const char *worker_run;    /* docker: label cloudai.worker_run, this run of
                                * the worker (its reaper's sweep); may be NULL */
    const char *image;         /* docker only */
    const char *command;       /* run as /bin/sh -c command; or NULL */
    char *const *argv;         /* exact argv (NULL-terminated); or NULL */
    char *const *env;          /* the task's KEY=VALUE (NULL-terminated); or NULL */
    /* neither command nor argv: the image's default command (process
     * runtime: an error) */
    double cpu;                /* cores; 0 = no limit */
    uint64_t memory;           /* bytes; 0 = no limit */
    uint64_t gpu;              /* count; 0 = none */
    const char *output_dir;    /* absolute host dir, mounted at /output */
    const char *input_dir;     /* absolute host dir of the task's inputs, shown
                                  read-only at /input ($INPUT_DIR); or NULL */
    const char *log_path;      /* stdout+stderr go here (demultiplexed) */
    uint64_t timeout_s;        /* 0 = none */
    struct spare_pool *spares; /* recycled inodes for the runtime's own notes
                                  (worker/spare.h); NULL = none */
} rt_spec;

typedef struct rt_result {
    int64_t exit_code;         /* -1 if the task never ran */
    int oom_killed;
    int timed_out;             /* stopped after timeout_s */
    int cancelled;             /* stopped by runtime_cancel */
    char error[1024];          /* why it failed to run / was stopped; "" if it ran */
    int all_gone;              /* every process of the task is known to be gone
                                  (its cgroup emptied and removed): nothing of
                                  it can write to output_dir or the log any more */
    double cpu_s;              /* CPU-seconds it used (user + system); 0 = unknown */
    uint64_t mem_peak;         /* its peak memory, bytes; 0 = unknown */
    char stray[640];           /* docker: output_dir is empty but the task wrote
                                  elsewhere in its container (gone with it): a
                                  note naming a few such paths; "" if none */
} rt_result;

typedef struct runtime runtime;

/* Docker: pings the socket and negotiates the API version (<= 1.41).
 * NULL with err filled if the daemon does not answer. */
runtime *runtime_docker_new(const char *socket_path, char *err, size_t errcap);
runtime *runtime_process_new(char *err, size_t errcap);
/* The process runtime's cgroup (each task in a cgroup of its own below it,
 * so a process that leaves the task's group is still killed), or "" when
 * none could be made (then the process group alone; cgroup.h). */
const char *runtime_proc_cgroup(const runtime *r);
void runtime_free(runtime *r);
const char *runtime_name(const runtime *r);     /* "docker" | "process" */

/* Runs the task to completion. Returns 0 when the task ran (whatever its
 * exit code: see res), or a negative RT_E_* when it could not run (res->error
 * says why, exit_code -1). */
int runtime_run(runtime *r, const rt_spec *spec, rt_result *res);
/* Process runtime: while a task runs, <output_dir>.pgid records its process
 * group and the start time of its first process. Reads such a record and,
 * unless the pid now belongs to another process (start time differs),
 * SIGKILLs the group, and every process of the task's cgroup when the
 * record names one (then removes that cgroup). 1 signalled, 0 nothing to
 * do or not ours, negative if the record is unreadable; *pgid gets the
 * recorded group. Does not remove the record. No locks; allocates only on
 * a kernel without cgroup.kill. */
int runtime_proc_kill_recorded(const char *record_path, long long *pgid);
/* At worker start: removes what a previous run of worker_id left behind
 * (docker: every container labelled cloudai.worker_id=<worker_id>, killed
 * and deleted; process runtime: nothing, worker.c sweeps its records).
 * Returns how many were removed, or a negative RT_E_* (err filled). */
int runtime_sweep(runtime *r, const char *worker_id, char *err, size_t errcap);
/* The reaper's sweep: the same for the containers labelled
 * cloudai.worker_run=<run> only (one run of a worker, so a reaper never
 * touches what a restarted worker of the same id already started). */
int runtime_sweep_run(runtime *r, const char *run, char *err, size_t errcap);
/* Stops a running task (docker stop / SIGTERM then SIGKILL after a grace
 * period), named by its run_id (or task_id when it had none). 0, or RT_E_*
 * if no such run is running. */
int runtime_cancel(runtime *r, const char *run_id);
#endif
