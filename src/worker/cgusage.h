/* cgusage.h — what a Docker container used: CPU time and peak memory.
 *
 * A container's own cgroup is removed the moment it exits, with its
 * counters, and `docker stats` only samples a running one. So the worker
 * gives each container a parent cgroup of its own (HostConfig.CgroupParent,
 * /cloudai/<worker>/<run>): the kernel charges every ancestor as it charges
 * the container, and the parent keeps the totals after the container is
 * gone. Read once the container has exited, then removed.
 *
 * Only with Docker's cgroupfs driver (cgroup v1 or v2) and the hierarchy
 * visible to the worker; elsewhere (the systemd driver, a worker in a
 * container of its own) the figures stay unknown, as before. */
#ifndef CLOUDAI_WORKER_CGUSAGE_H
#define CLOUDAI_WORKER_CGUSAGE_H
#include <stddef.h>
#include <stdint.h>

#define CGUSAGE_PATH_MAX 512

typedef struct cgusage {
    int version;                      /* 1 or 2 */
    char cpu[CGUSAGE_PATH_MAX];       /* v1: the cpuacct hierarchy; v2: the one */
    char mem[CGUSAGE_PATH_MAX];       /* v1: the memory hierarchy; v2: the one */
} cgusage;

/* Finds the hierarchies for Docker's cgroup version (1 or 2) in
 * /proc/self/mountinfo. 0, or -ENOENT when they are not visible here. */
int cgusage_init(cgusage *u, int version);
/* The parent cgroup for one run, "/cloudai/<worker>/<run>" (both must be
 * [A-Za-z0-9_.-]: they are path components). 0, or -EINVAL. */
int cgusage_parent(char *out, size_t cap, const char *worker_id, const char *run_id);
/* What the parent was charged: CPU-seconds (user + system) and the peak of
 * its memory use in bytes (v1 memory.max_usage_in_bytes, v2 memory.peak:
 * what a memory limit is charged with, page cache included). Each is left
 * at 0 when it cannot be read. */
void cgusage_read(const cgusage *u, const char *parent, double *cpu_s, uint64_t *mem_peak);
/* Removes parent from every cgroup hierarchy Docker made it in (best
 * effort: a cgroup still in use is kept). */
void cgusage_remove(const char *parent);
/* At worker start, before any task runs: removes /cloudai/<worker> and
 * every run's parent in it (a previous run of the worker, killed before it
 * could); cgroups still in use are kept. */
void cgusage_sweep(const char *worker_id);
#endif
