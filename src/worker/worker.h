/* worker.h — the worker daemon: registers with the master, heartbeats,
 * runs assigned tasks within its resources (one thread per task), and
 * uploads each task's /output, keeping it until the master acknowledges
 * it (DESIGN.md invariant 4). Used by the worker program and by
 * `master --dev` for its in-process worker. */
#ifndef CLOUDAI_WORKER_H
#define CLOUDAI_WORKER_H
#include "config.h"

/* Runs until *stop becomes non-zero. 0 on a clean stop, negative if it
 * could not start (err filled). */
int worker_run(const config *cfg, volatile int *stop, char *err, size_t errcap);

/* The exec'd reaper (`worker --reaper ...`, started by worker_run; also
 * reached through the master binary for `master --dev`): when argv[1] is
 * "--reaper", runs it and returns the exit status; else returns -1. */
int worker_reaper_main(int argc, char **argv);

/* Resource detection (resources.c): fills zero/negative fields of cfg
 * with what this machine has. */
void worker_detect_resources(config *cfg);
#endif
