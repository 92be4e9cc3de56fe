/* cgusage.c — a container's CPU time and peak memory from its parent
 * cgroup (cgusage.h). */
#include "worker/cgusage.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Calls fn for each cgroup mount whose root is its hierarchy's root (so
 * that a cgroup's path maps onto it): type 1 (cgroup) or 2 (cgroup2), the
 * mount point and the super options. fn returns nonzero to stop. */
typedef int (*mount_fn)(int type, const char *mnt, const char *opts, void *ud);

static void each_mount(mount_fn fn, void *ud)
{
    char line[4096];
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *sep = strstr(line, " - ");
        if (!sep) continue;
        *sep = 0;
        char *rest = sep + 3;
        int type = !strncmp(rest, "cgroup2 ", 8) ? 2 : !strncmp(rest, "cgroup ", 7) ? 1 : 0;
        if (!type) continue;
        char *opts = strchr(rest, ' ');              /* fstype source opts */
        opts = opts ? strchr(opts + 1, ' ') : NULL;
        if (!opts) continue;
        opts++;
        /* id parent major:minor root mount-point ... */
        char *fld[5], *save = NULL, *p = line;
        int n = 0;
        for (char *t; n < 5 && (t = strtok_r(p, " ", &save)); p = NULL) fld[n++] = t;
        if (n < 5 || strcmp(fld[3], "/") || strchr(fld[4], '\\') ||
            strlen(fld[4]) >= CGUSAGE_PATH_MAX)
            continue;                                /* not the root, or escaped */
        if (fn(type, fld[4], opts, ud)) break;
    }
    fclose(f);
}

static int has_opt(const char *opts, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = opts; p; p = strchr(p, ',')) {
        if (*p == ',') p++;
        if (!strncmp(p, want, n) && (p[n] == ',' || p[n] == 0)) return 1;
    }
    return 0;
}

static int find_v1(int type, const char *mnt, const char *opts, void *ud)
{
    cgusage *u = ud;
    if (type != 1) return 0;
    if (!u->cpu[0] && has_opt(opts, "cpuacct")) snprintf(u->cpu, sizeof u->cpu, "%s", mnt);
    if (!u->mem[0] && has_opt(opts, "memory")) snprintf(u->mem, sizeof u->mem, "%s", mnt);
    return u->cpu[0] && u->mem[0];
}

static int find_v2(int type, const char *mnt, const char *opts, void *ud)
{
    cgusage *u = ud;
    (void)opts;
    if (type != 2) return 0;
    snprintf(u->cpu, sizeof u->cpu, "%s", mnt);
    snprintf(u->mem, sizeof u->mem, "%s", mnt);
    return 1;
}

int cgusage_init(cgusage *u, int version)
{
    memset(u, 0, sizeof *u);
    if (version != 1 && version != 2) return -ENOENT;
    u->version = version;
    each_mount(version == 1 ? find_v1 : find_v2, u);
    return u->cpu[0] || u->mem[0] ? 0 : -ENOENT;
}

static int plain(const char *s)
{
    if (!s[0] || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("_.-", *s)))
            return 0;
    return 1;
}

int cgusage_parent(char *out, size_t cap, const char *worker_id, const char *run_id)
{
    if (!worker_id || !run_id || !plain(worker_id) || !plain(run_id)) return -EINVAL;
    if (snprintf(out, cap, "/cloudai/%s/%s", worker_id, run_id) >= (int)cap) return -EINVAL;
    return 0;
}

/* The first number in dir/parent/file after key (NULL: at the start). */
static int read_num(const char *dir, const char *parent, const char *file, const char *key,
                    unsigned long long *v)
{
    char path[3 * CGUSAGE_PATH_MAX], line[256];
    int rc = -ENOENT;
    snprintf(path, sizeof path, "%s%s/%s", dir, parent, file);
    FILE *f = fopen(path, "re");
    if (!f) return -errno;
    size_t kl = key ? strlen(key) : 0;
    while (fgets(line, sizeof line, f)) {
        char *p = line, *end;
        if (key) {
            if (strncmp(line, key, kl) || line[kl] != ' ') continue;
            p += kl + 1;
        }
        errno = 0;
        *v = strtoull(p, &end, 10);
        rc = end != p && !errno ? 0 : -EINVAL;
        break;
    }
    fclose(f);
    return rc;
}

void cgusage_read(const cgusage *u, const char *parent, double *cpu_s, uint64_t *mem_peak)
{
    unsigned long long v;
    *cpu_s = 0;
    *mem_peak = 0;
    if (!u || !u->version || !parent || !parent[0]) return;
    if (u->version == 1) {
        if (u->cpu[0] && read_num(u->cpu, parent, "cpuacct.usage", NULL, &v) == 0)
            *cpu_s = (double)v / 1e9;
        if (u->mem[0] && read_num(u->mem, parent, "memory.max_usage_in_bytes", NULL, &v) == 0)
            *mem_peak = v;
    } else {
        if (read_num(u->cpu, parent, "cpu.stat", "usage_usec", &v) == 0)
            *cpu_s = (double)v / 1e6;
        if (read_num(u->mem, parent, "memory.peak", NULL, &v) == 0)   /* Linux >= 5.19 */
            *mem_peak = v;
    }
}

static int remove_in(int type, const char *mnt, const char *opts, void *ud)
{
    char path[3 * CGUSAGE_PATH_MAX];
    (void)type; (void)opts;
    snprintf(path, sizeof path, "%s%s", mnt, (const char *)ud);
    rmdir(path);                /* EBUSY while in use, ENOENT where never made */
    return 0;
}

void cgusage_remove(const char *parent)
{
    if (parent && parent[0]) each_mount(remove_in, (void *)parent);
}

static int sweep_in(int type, const char *mnt, const char *opts, void *ud)
{
    char dir[3 * CGUSAGE_PATH_MAX], path[4 * CGUSAGE_PATH_MAX];
    (void)type; (void)opts;
    snprintf(dir, sizeof dir, "%s/cloudai/%s", mnt, (const char *)ud);
    DIR *d = opendir(dir);
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d)); ) {
        if (e->d_type != DT_DIR || !plain(e->d_name)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        rmdir(path);
    }
    closedir(d);
    rmdir(dir);                 /* the worker's own: none of its tasks runs yet */
    return 0;
}

void cgusage_sweep(const char *worker_id)
{
    if (worker_id && plain(worker_id)) each_mount(sweep_in, (void *)worker_id);
}
