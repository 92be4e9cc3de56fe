/* cgroup.c — a cgroup v2 per process-runtime task (cgroup.h). */
#include "worker/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The mount point of the cgroup2 hierarchy, from /proc/self/mountinfo
 * (field 5 of the line whose type after " - " is cgroup2). */
static int find_mount(char *out, size_t cap)
{
    char line[4096];
    int rc = -ENOENT;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f) return -errno;
    while (fgets(line, sizeof line, f)) {
        char *sep = strstr(line, " - cgroup2 ");
        if (!sep) continue;
        char *p = line;
        for (int field = 1; field < 5 && p; field++)
            p = strchr(p + 1, ' ');
        if (!p || p > sep) continue;
        char *end = strchr(++p, ' ');
        if (!end || (size_t)(end - p) >= cap) continue;
        memcpy(out, p, (size_t)(end - p));
        out[end - p] = 0;
        rc = 0;
        break;
    }
    fclose(f);
    return rc;
}

/* This process's cgroup in the v2 hierarchy ("0::<path>"). */
static int own_cgroup(char *out, size_t cap)
{
    char line[4096];
    int rc = -ENOENT;
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f) return -errno;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "0::", 3)) continue;
        line[strcspn(line, "\n")] = 0;
        if (strlen(line + 3) < cap) {
            snprintf(out, cap, "%s", line + 3);
            rc = 0;
        }
        break;
    }
    fclose(f);
    return rc;
}

static int write_file(const char *dir, const char *file, const char *text)
{
    char path[CGROUP_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = n < 0 ? -errno : 0;
    close(fd);
    return e;
}

/* Empty "cloudai-<pid>" siblings whose worker is gone: removed. */
static void sweep_dead(const char *parent)
{
    DIR *d = opendir(parent);
    struct dirent *e;
    char path[CGROUP_PATH_MAX + 300];
    if (!d) return;
    while ((e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, "cloudai-", 8)) continue;
        long pid = strtol(e->d_name + 8, &end, 10);
        if (*end || pid <= 1 || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
        rmdir(path);            /* fails while a task cgroup is inside: kept */
    }
    closedir(d);
}

int cgroup_base_init(char *base, size_t cap)
{
    char mnt[CGROUP_PATH_MAX], own[CGROUP_PATH_MAX], parent[2 * CGROUP_PATH_MAX + 2];
    int rc;
    base[0] = 0;
    if ((rc = find_mount(mnt, sizeof mnt)) < 0 || (rc = own_cgroup(own, sizeof own)) < 0)
        return rc;
    snprintf(parent, sizeof parent, "%s%s", mnt, strcmp(own, "/") ? own : "");
    sweep_dead(parent);
    if (snprintf(base, cap, "%s/cloudai-%ld", parent, (long)getpid()) >= (int)cap) {
        base[0] = 0;
        return -ENAMETOOLONG;
    }
    if (mkdir(base, 0755) < 0 && errno != EEXIST) {
        rc = -errno;
        base[0] = 0;
        return rc;
    }
    return 0;
}

void cgroup_base_free(const char *base)
{
    if (base && base[0]) rmdir(base);
}

int cgroup_task_create(const char *base, const char *name, char *path, size_t cap, int *procs_fd)
{
    char procs[CGROUP_PATH_MAX + 32];
    *procs_fd = -1;
    path[0] = 0;
    if (!base || !base[0]) return -ENOENT;
    if (snprintf(path, cap, "%s/%s", base, name) >= (int)cap) {
        path[0] = 0;
        return -ENAMETOOLONG;
    }
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        int e = -errno;
        path[0] = 0;
        return e;
    }
    snprintf(procs, sizeof procs, "%s/cgroup.procs", path);
    if ((*procs_fd = open(procs, O_WRONLY | O_CLOEXEC)) < 0) {
        int e = -errno;
        rmdir(path);
        path[0] = 0;
        return e;
    }
    return 0;
}

/* 1 if the cgroup holds a process (cgroup.procs not empty). */
static int populated(const char *path)
{
    char p[CGROUP_PATH_MAX + 32], c;
    snprintf(p, sizeof p, "%s/cgroup.procs", path);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, &c, 1);
    close(fd);
    return n == 1;
}

int cgroup_kill(const char *path)
{
    if (!path || !path[0]) return 0;
    if (!populated(path)) return 0;
    if (write_file(path, "cgroup.kill", "1") == 0) return 1;
    /* Before Linux 5.14: each pid, a few rounds (forks race the reads). */
    char p[CGROUP_PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/cgroup.procs", path);
    for (int round = 0; round < 10 && populated(path); round++) {
        FILE *f = fopen(p, "re");
        long pid;
        if (!f) return -errno;
        while (fscanf(f, "%ld", &pid) == 1)
            if (pid > 1) kill((pid_t)pid, SIGKILL);
        fclose(f);
        nap_ms(10);
    }
    return 1;
}

int cgroup_task_remove(const char *path)
{
    if (!path || !path[0]) return -ENOENT;
    /* Usually empty by now (the runtime killed and reaped the task): then
     * rmdir alone is the check, without reading cgroup.procs first. */
    if (rmdir(path) == 0) return 0;
    if (errno != EBUSY) return -errno;
    cgroup_kill(path);
    /* SIGKILLed processes leave the cgroup as the kernel reaps them. */
    for (int i = 0; i < 200; i++) {
        if (rmdir(path) == 0) return 0;
        if (errno != EBUSY) return -errno;
        nap_ms(10);
    }
    return -EBUSY;
}
