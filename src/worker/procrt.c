/* procrt.c — the process runtime: runs a task as a plain child process of
 * the worker, for machines without Docker.
 *
 * It is NOT isolated: the task runs as the worker's user, sees the whole
 * filesystem and the network, and spec->cpu/memory/gpu are not enforced
 * (setrlimit(RLIMIT_AS) breaks ordinary programs and limits nothing
 * across processes; real limits need cgroups, i.e. the Docker runtime).
 * What it does guarantee: cwd and $OUTPUT_DIR are the output directory,
 * stdout and stderr go to the log file, the task gets its own process
 * group, and timeout/cancel stop that whole group (SIGTERM, then SIGKILL
 * after RUNTIME_STOP_GRACE_S); anything the task left running in its
 * group when it exits is killed too.
 *
 * A task dies with its worker. Its first process gets PR_SET_PDEATHSIG
 * (SIGKILL). That signal follows the death of the creating *thread*, not
 * of the process: here the creator is the task thread that runs
 * proc_run, which stays in supervise() until that process has exited, so
 * the signal fires only when the whole worker dies. The group, with
 * whatever the task forked, is recorded in <output_dir>.pgid while it
 * runs: the worker's reaper process kills it when the worker dies, and a
 * restarted worker sweeps what is left (worker.c).
 *
 * vfork+exec rather than posix_spawn because POSIX has no portable chdir
 * or close-all file action; after vfork the child only makes
 * async-signal-safe calls, everything it needs is prepared before. */
#define _GNU_SOURCE 1   /* unshare, CLONE_NEWNS */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "worker/cgroup.h"
#include "worker/spare.h"
#include "worker/runtime_impl.h"

extern char **environ;

#define POLL_NS 20000000L          /* 20 ms between cancel/deadline checks */

/* Where PATH led for the programs of direct-exec commands: a search is
 * an access() per PATH directory until the program is found (a dozen
 * system calls a task here). Like a shell's command hash, an entry is
 * reused while its file is still executable, so a program installed later
 * earlier in PATH is found only once the cached one goes away. */
#define PATH_CACHE 16
typedef struct procrt {
    struct runtime base;
    char cg_base[CGROUP_PATH_MAX];   /* this worker's cgroup, "" = none (cgroup.h) */
    int nullfd;                      /* /dev/null, every task's stdin; -1 = open per task */
    pthread_mutex_t mu;
    struct { char *name, *path; } pc[PATH_CACHE];
    unsigned next;
} procrt;

/* Everything the child needs, built before fork. */
typedef struct launch {
    char *const *argv;    /* argv to exec (borrowed strings) */
    char *const *sh_argv; /* the same command through /bin/sh, tried if
                             argv cannot be exec'd (a script without #!, a
                             missing or unreadable program), or NULL */
    const char *path;     /* resolved program path */
    char **envp;          /* environ + OUTPUT_DIR (owned array, owned last entry) */
    char *env_out;        /* "OUTPUT_DIR=..." */
    char *env_in;         /* "INPUT_DIR=..." or NULL */
    const char *input_dir;/* made read-only in the child's mount namespace, or NULL */
    char *path_buf;       /* owned, for a PATH-resolved program */
    int close_max;        /* fds 3..close_max-1 closed if close_range fails */
    pid_t parent;         /* the worker: if it is already gone, do not start */
    int cgfd;             /* the task cgroup's cgroup.procs, or -1 */
} launch;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* execvp's PATH search, done in the parent because it allocates. */
static int resolve_program(launch *l, const char *prog, char *err, size_t errcap)
{
    if (strchr(prog, '/')) {
        l->path = prog;
        return 0;
    }
    const char *pathenv = getenv("PATH");
    if (!pathenv || !*pathenv)
        pathenv = "/usr/local/bin:/usr/bin:/bin";
    size_t plen = strlen(prog);
    for (const char *s = pathenv; ; ) {
        const char *e = strchr(s, ':');
        size_t dlen = e ? (size_t)(e - s) : strlen(s);
        char *cand = malloc(dlen + plen + 3);
        if (!cand)
            return RT_E_NOMEM;
        if (dlen == 0)
            sprintf(cand, "./%s", prog);
        else
            sprintf(cand, "%.*s/%s", (int)dlen, s, prog);
        struct stat st;
        if (access(cand, X_OK) == 0 && stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
            l->path_buf = cand;
            l->path = cand;
            return 0;
        }
        free(cand);
        if (!e)
            break;
        s = e + 1;
    }
    snprintf(err, errcap, "cannot run '%s': not found in PATH", prog);
    return RT_E_START;
}

/* A command with no shell syntax ("python3 train.py --lr 0.1") is run
 * directly, as make does: one exec instead of /bin/sh's, whose start was
 * the largest per-task cost of a trivial task. The shell still runs
 * anything it could read differently: quotes, $, globs, ~, redirections,
 * pipes, ;, &, #, =, \, newlines; a shell builtin or keyword first
 * (echo and printf too: the shell's differ from /usr/bin's); a program
 * not found in PATH (the shell says so, exit 127, as before); and a task
 * that sets its own PATH. true and false alone stay direct (same status,
 * no output). If the exec fails the child execs the shell after all.
 * Fills argv (words split on blanks, pointing into buf) and
 * returns the word count, or 0: use the shell. */
#define SIMPLE_WORDS 64
#define RT_SIMPLE_MAX 8193    /* COMMAND's limit (proto.txt) and a NUL */
static int split_simple(const char *cmd, char *buf, size_t cap, char **argv, char *const *env)
{
    static const char *const shell_words[] = {
        ".", ":", "[", "alias", "bg", "break", "case", "cd", "chdir", "command", "continue",
        "do", "done", "echo", "elif", "else", "esac", "eval", "exec", "exit", "export", "fc",
        "fg", "fi", "for", "function", "getopts", "hash", "if", "in", "jobs", "kill", "local",
        "printf", "pwd", "read", "readonly", "return", "select", "set", "shift", "source",
        "test", "then", "time", "times", "trap", "type", "ulimit", "umask", "unalias",
        "unset", "until", "wait", "while", "{", "}", "!", NULL };
    size_t n = strlen(cmd);
    int argc = 0;
    if (n == 0 || n >= cap)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)cmd[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(" \t_./,:+@%-", c)) || c == '\\')
            return 0;
    }
    for (char *const *e = env; e && *e; e++)
        if (!strncmp(*e, "PATH=", 5))
            return 0;
    memcpy(buf, cmd, n + 1);
    for (char *p = buf; *p; ) {
        while (*p == ' ' || *p == '\t') *p++ = 0;
        if (!*p) break;
        if (argc == SIMPLE_WORDS) return 0;
        argv[argc++] = p;
        while (*p && *p != ' ' && *p != '\t') p++;
    }
    argv[argc] = NULL;
    if (argc == 0)
        return 0;
    for (int i = 0; shell_words[i]; i++)
        if (!strcmp(argv[0], shell_words[i]))
            return 0;
    if ((!strcmp(argv[0], "true") || !strcmp(argv[0], "false")) && argc > 1)
        return 0;
    return argc;
}

/* resolve_program through the cache (see PATH_CACHE). */
static int resolve_cached(procrt *p, launch *l, const char *prog)
{
    char scratch[64];
    if (strchr(prog, '/'))
        return resolve_program(l, prog, scratch, sizeof scratch);
    char *hit = NULL;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < PATH_CACHE; i++)
        if (p->pc[i].name && !strcmp(p->pc[i].name, prog)) {
            hit = strdup(p->pc[i].path);
            break;
        }
    pthread_mutex_unlock(&p->mu);
    if (hit && access(hit, X_OK) == 0) {
        l->path_buf = hit;
        l->path = hit;
        return 0;
    }
    free(hit);
    int rc = resolve_program(l, prog, scratch, sizeof scratch);
    if (rc < 0)
        return rc;
    char *n = strdup(prog), *pa = strdup(l->path);
    pthread_mutex_lock(&p->mu);
    int slot = -1;
    for (int i = 0; i < PATH_CACHE && slot < 0; i++)
        if (p->pc[i].name && !strcmp(p->pc[i].name, prog)) slot = i;
    if (slot < 0) slot = (int)(p->next++ % PATH_CACHE);
    if (n && pa) {
        free(p->pc[slot].name);
        free(p->pc[slot].path);
        p->pc[slot].name = n;
        p->pc[slot].path = pa;
        n = pa = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    free(n);
    free(pa);
    return 0;
}

/* 1 if environ entry e sets a KEY the task's own env sets too. */
static int env_overridden(const char *e, char *const *env)
{
    const char *eq = strchr(e, '=');
    size_t klen = eq ? (size_t)(eq - e) : strlen(e);
    for (; env && *env; env++)
        if (!strncmp(*env, e, klen) && (*env)[klen] == '=')
            return 1;
    return 0;
}

/* The worker's environment, the task's KEY=VALUE over it, then OUTPUT_DIR
 * (and INPUT_DIR). */
static int build_env(launch *l, const char *output_dir, const char *input_dir, char *const *env)
{
    size_t n = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    for (char *const *e = env; e && *e; e++)
        n++;
    l->envp = calloc(n + 3, sizeof *l->envp);
    l->env_out = malloc(strlen(output_dir) + sizeof "OUTPUT_DIR=");
    if (input_dir && !(l->env_in = malloc(strlen(input_dir) + sizeof "INPUT_DIR=")))
        return RT_E_NOMEM;
    if (!l->envp || !l->env_out)
        return RT_E_NOMEM;
    sprintf(l->env_out, "OUTPUT_DIR=%s", output_dir);
    if (input_dir) sprintf(l->env_in, "INPUT_DIR=%s", input_dir);
    l->input_dir = input_dir;
    size_t k = 0;
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "OUTPUT_DIR=", 11) != 0 && strncmp(*e, "INPUT_DIR=", 10) != 0 &&
            !env_overridden(*e, env))
            l->envp[k++] = *e;
    for (char *const *e = env; e && *e; e++)
        if (strncmp(*e, "OUTPUT_DIR=", 11) != 0 && strncmp(*e, "INPUT_DIR=", 10) != 0)
            l->envp[k++] = *e;
    l->envp[k++] = l->env_out;
    if (l->env_in) l->envp[k++] = l->env_in;
    l->envp[k] = NULL;
    return 0;
}

static void launch_free(launch *l)
{
    free(l->envp);
    free(l->env_out);
    free(l->env_in);
    free(l->path_buf);
}

/* Sent through errfd when the child could not enter its cgroup: not an
 * error (it still runs), but its cgroup proves nothing about its end. */
#define CHILD_OUTSIDE_CG (-1)

/* The child side of vfork: async-signal-safe calls only, nothing written
 * but its own stack (it shares the worker's memory), never returns.
 * Reports a failure as an errno through errfd (close-on-exec, so success
 * closes it). */
static void child_exec(const launch *l, int logfd, int nullfd, int errfd,
                       const char *cwd)
{
    int e;
    sigset_t none;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    /* Ignored signals survive exec; a worker that ignores SIGPIPE must not
     * make `yes | head` spin forever in the task. */
    for (int s = 1; s < 65; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (setpgid(0, 0) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        goto fail;
    /* Into the task's cgroup before anything can fork: then no process
     * of the task escapes it, whatever session or group it makes. */
    if (l->cgfd >= 0 && write(l->cgfd, "0", 1) != 1) {
        int outside = CHILD_OUTSIDE_CG;    /* it runs, but held by its group only */
        (void)!write(errfd, &outside, sizeof outside);
    }
    /* The worker died before the line above: nobody would kill us. */
    if (getppid() != l->parent)
        _exit(127);
    if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0 || chdir(cwd) < 0)
        goto fail;
    /* Inputs read-only: a bind mount of INPUT_DIR onto itself, read-only,
     * in a mount namespace of the task's own (nothing leaks into the
     * host's mounts, and it ends with the task). Only a privileged worker
     * may make one (EPERM otherwise): then INPUT_DIR is a private copy the
     * task could alter, which changes nothing for other tasks. */
    if (l->input_dir && unshare(CLONE_NEWNS) == 0) {
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount(l->input_dir, l->input_dir, NULL, MS_BIND | MS_REC, NULL) < 0 ||
            mount(NULL, l->input_dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
            goto fail;
    }
    /* Worker sockets and files opened without O_CLOEXEC must not leak
     * into the task. errfd stays: it is close-on-exec. */
    if (syscall(SYS_close_range, 3, errfd - 1, 0) < 0) {
        for (int fd = 3; fd < errfd; fd++)
            close(fd);
    }
    if (syscall(SYS_close_range, errfd + 1, ~0U, 0) < 0) {
        for (int fd = errfd + 1; fd < l->close_max; fd++)
            close(fd);
    }
    execve(l->path, l->argv, l->envp);
    if (l->sh_argv)   /* the shell says why, or runs it, as it always did */
        execve("/bin/sh", l->sh_argv, l->envp);
fail:
    e = errno;
    (void)!write(errfd, &e, sizeof e);
    _exit(127);
}

/* vfork: the child borrows the worker's memory until execve instead of
 * copying its page tables (with many task threads, fork was the largest
 * per-task cost of the worker). Signals stay blocked across it so no
 * handler of the worker runs on the shared memory; the child resets every
 * disposition before it unblocks them. A function of its own so that no
 * caller's variable lives across vfork. Returns the pid, or -1 with errno. */
static pid_t __attribute__((noinline)) spawn(const launch *l, int logfd, int nullfd, int errfd,
                                             const char *cwd)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = vfork();
    if (pid == 0)
        child_exec(l, logfd, nullfd, errfd, cwd);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return pid;
}

/* Field 22 of /proc/<pid>/stat: when the process started (clock ticks
 * since boot), which tells a pid from a later process reusing it.
 * 0 or -1 (no such process). No allocation. */
static int proc_start_time(pid_t pid, unsigned long long *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');       /* the command name may hold anything */
    if (!p) return -1;
    /* After ")": field 3 (state) ... field 22 (starttime). */
    for (int field = 2; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p) return -1;
    }
    *out = strtoull(p + 1, NULL, 10);
    return 0;
}

static void record_path(const char *output_dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s.pgid", output_dir);
}

static void drop_record(const rt_spec *spec)
{
    char rp[4200];
    record_path(spec->output_dir, rp, sizeof rp);
    spare_drop_file(spec->spares, rp);
}

/* "<pgid> <start time> <cgroup path>\n" in <output_dir>.pgid (the path
 * empty without a cgroup); not synced (a power loss ends the processes
 * too). again: the record is there already (the cgroup's alone) and is
 * written over in place; the reader stops at the newline, so a longer
 * old record could not confuse it. */
static void record_group(spare_pool *spares, const char *output_dir, pid_t pgid, const char *cg,
                         int again)
{
    char path[4200], text[CGROUP_PATH_MAX + 64];
    unsigned long long start = 0;
    if (pgid > 0) proc_start_time(pgid, &start);
    record_path(output_dir, path, sizeof path);
    int n = snprintf(text, sizeof text, "%d %llu %s\n", (int)pgid, start, cg);
    if (again) spare_rewrite(spares, path, text, (size_t)n);
    else spare_write_replace(spares, path, text, (size_t)n);
}

int runtime_proc_kill_recorded(const char *record_path, long long *pgid)
{
    char text[CGROUP_PATH_MAX + 64];
    long long g = 0;
    unsigned long long start = 0, now = 0;
    int off = 0;
    int fd = open(record_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return -1;
    text[n] = 0;
    if (sscanf(text, "%lld %llu%n", &g, &start, &off) != 2 || g < 0 || g == 1) return -1;
    if (pgid) *pgid = g;
    /* The task's cgroup is its own (worker pid and run in its name): all
     * in it are the task's, escaped from the group or not. A record
     * written before the spawn has only the cgroup (pgid 0). */
    char *cg = text + off;
    if (*cg == ' ') cg++;
    cg[strcspn(cg, "\n")] = 0;
    if (*cg == '/') {
        int k = cgroup_kill(cg);
        cgroup_task_remove(cg);
        if (g > 1) kill(-(pid_t)g, SIGKILL);
        if (k > 0) return 1;
    }
    if (g == 0) return 0;
    /* The leader alive with another start time: the number was reused,
     * not ours. The leader gone: a group id is never reused while any
     * member lives, so the members left are the task's. */
    if (proc_start_time((pid_t)g, &now) == 0 && now != start) return 0;
    return kill(-(pid_t)g, SIGKILL) == 0 ? 1 : 0;
}

/* Waits for pid, enforcing cancel and the deadline; fills exit_code,
 * timed_out, cancelled. Kills the rest of the group once the leader is
 * gone, while its zombie still pins the group id. */
static void supervise(runtime_task *t, pid_t pid, const char *cg, uint64_t timeout_s,
                      rt_result *res)
{
    double start = now_s(), term_at = 0;
    int status = 0;
#ifdef SYS_pidfd_open
    /* Linux >= 5.3: poll wakes at the exit itself, so a short task is not
     * held for a whole poll period and a long one costs no busy wakeups. */
    int pfd = (int)syscall(SYS_pidfd_open, (int)pid, 0);
#else
    int pfd = -1;
#endif
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
            break;
        double now = now_s();
        if (term_at == 0) {
            int why = 0;
            if (runtime_task_cancelled(t))
                why = 1;
            else if (timeout_s && now - start >= (double)timeout_s)
                why = 2;
            if (why) {
                res->cancelled = why == 1;
                res->timed_out = why == 2;
                if (why == 1)
                    snprintf(res->error, sizeof res->error, "cancelled");
                else
                    snprintf(res->error, sizeof res->error,
                             "timed out after %llu s", (unsigned long long)timeout_s);
                kill(-pid, SIGTERM);
                term_at = now;
            }
        } else if (term_at > 0 && now - term_at >= RUNTIME_STOP_GRACE_S) {
            kill(-pid, SIGKILL);
            cgroup_kill(cg);
            term_at = -1;           /* sent; just wait now */
        }
        if (pfd >= 0) {
            struct pollfd p = { pfd, POLLIN, 0 };
            poll(&p, 1, (int)(POLL_NS / 1000000L));
        } else {
            struct timespec ts = { 0, POLL_NS };
            nanosleep(&ts, NULL);
        }
    }
    if (pfd >= 0)
        close(pfd);
    kill(-pid, SIGKILL);
    cgroup_kill(cg);                /* what left the group (setsid) too */
    /* wait4's usage covers the task's first process and every descendant
     * it waited for (RUSAGE_BOTH): CPU summed, memory the largest single
     * process's peak RSS. What the predictor learns from (README). */
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
        ;
    res->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    res->mem_peak = ru.ru_maxrss > 0 ? (uint64_t)ru.ru_maxrss * 1024 : 0;
    if (WIFEXITED(status))
        res->exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        res->exit_code = 128 + WTERMSIG(status);
}

static int proc_run(runtime *r, const rt_spec *spec, rt_result *res)
{
    runtime_task task;
    launch l;
    char *shargv[4] = { "/bin/sh", "-c", NULL, NULL };
    char *cargv[SIMPLE_WORDS + 1], *cbuf = NULL;
    int logfd = -1, nullfd = -1, own_null = 0, errp[2] = { -1, -1 }, rc, entered = 0;
    memset(&l, 0, sizeof l);

    if (!spec->command && !(spec->argv && spec->argv[0])) {
        snprintf(res->error, sizeof res->error,
                 "the process runtime needs a command or argv (it has no image default)");
        rc = RT_E_START;
        goto out;
    }
    if (!spec->output_dir || spec->output_dir[0] != '/' || !spec->log_path) {
        snprintf(res->error, sizeof res->error, "output_dir must be absolute and log_path set");
        rc = RT_E_START;
        goto out;
    }
    if ((rc = runtime_task_enter(r, &task, spec->run_id ? spec->run_id : spec->task_id,
                                 res->error, sizeof res->error)) < 0)
        goto out;
    entered = 1;
    if (spec->command && (cbuf = malloc(RT_SIMPLE_MAX)) &&
        split_simple(spec->command, cbuf, RT_SIMPLE_MAX, cargv, spec->env) > 0 &&
        resolve_cached((procrt *)r, &l, cargv[0]) == 0) {
        l.argv = cargv;           /* no shell syntax: exec'd directly */
        shargv[2] = (char *)spec->command;
        l.sh_argv = shargv;
    } else if (spec->command) {
        shargv[2] = (char *)spec->command;
        l.argv = shargv;
        l.path = "/bin/sh";
    } else {
        l.argv = spec->argv;
        if ((rc = resolve_program(&l, spec->argv[0], res->error, sizeof res->error)) < 0)
            goto out;
    }
    if ((rc = build_env(&l, spec->output_dir, spec->input_dir, spec->env)) < 0)
        goto nomem;
    l.cgfd = -1;
    long om = sysconf(_SC_OPEN_MAX);
    l.close_max = om > 0 && om < 65536 ? (int)om : 65536;
    l.parent = getpid();

    logfd = open(spec->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        snprintf(res->error, sizeof res->error, "cannot open log %s: %s",
                 spec->log_path, strerror(errno));
        rc = RT_E_IO;
        goto out;
    }
    if (((procrt *)r)->nullfd >= 0)
        nullfd = ((procrt *)r)->nullfd;     /* shared, read-only: not opened per task */
    else if ((nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        own_null = 1;
    if (nullfd < 0 || pipe(errp) < 0 || fcntl(errp[0], F_SETFD, FD_CLOEXEC) < 0 ||
        fcntl(errp[1], F_SETFD, FD_CLOEXEC) < 0) {
        snprintf(res->error, sizeof res->error, "cannot prepare the child: %s", strerror(errno));
        rc = RT_E_IO;
        goto out;
    }
    if (runtime_task_cancelled(&task)) {
        res->cancelled = 1;
        snprintf(res->error, sizeof res->error, "cancelled before start");
        rc = 0;
        goto out;
    }
    procrt *pr = (procrt *)r;
    char cg[CGROUP_PATH_MAX] = "";
    cgroup_task_create(pr->cg_base, spec->run_id ? spec->run_id : spec->task_id, cg, sizeof cg,
                       &l.cgfd);       /* none: the process group alone */
    /* The cgroup is recorded before anything runs in it: a worker killed
     * between the spawn and the full record (below) still leaves the
     * reaper a way to everything the task started. */
    if (cg[0]) record_group(spec->spares, spec->output_dir, 0, cg, 0);
    pid_t pid = spawn(&l, logfd, nullfd, errp[1], spec->output_dir);
    if (l.cgfd >= 0) {              /* vfork: the child has used it by now */
        close(l.cgfd);
        l.cgfd = -1;
    }
    if (pid < 0) {
        snprintf(res->error, sizeof res->error, "vfork: %s", strerror(errno));
        cgroup_task_remove(cg);
        drop_record(spec);
        rc = RT_E_START;
        goto out;
    }
    /* The parent also sets the group, so a kill right after fork cannot
     * miss it (whichever of the two runs first wins; both agree). */
    setpgid(pid, pid);
    close(errp[1]);
    errp[1] = -1;
    int cerr = 0, failed = 0, outside = !cg[0];
    for (;;) {
        int v;
        ssize_t n = read(errp[0], &v, sizeof v);
        if (n < 0 && errno == EINTR) continue;
        if (n != (ssize_t)sizeof v) break;        /* EOF: exec'd (or gone) */
        if (v == CHILD_OUTSIDE_CG) outside = 1;
        else { cerr = v; failed = 1; }
    }
    if (failed) {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        snprintf(res->error, sizeof res->error, "cannot run '%s' in %s: %s",
                 l.argv[0], spec->output_dir, strerror(cerr));
        cgroup_task_remove(cg);
        drop_record(spec);
        rc = RT_E_START;
        goto out;
    }
    /* Tests: a worker killed in the window before the full record
     * (test_orphan E3). */
    const char *hold = getenv("CLOUDAI_TEST_RECORD_DELAY_MS");
    if (hold) {
        struct timespec ts = { atoi(hold) / 1000, (long)(atoi(hold) % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    record_group(spec->spares, spec->output_dir, pid, cg, cg[0] != 0);
    supervise(&task, pid, cg, spec->timeout_s, res);
    /* Only a cgroup the task was in, removed (so empty), proves that none
     * of its processes is left to write to its files. */
    res->all_gone = cgroup_task_remove(cg) == 0 && !outside;
    drop_record(spec);
    rc = 0;
    goto out;
nomem:
    snprintf(res->error, sizeof res->error, "out of memory");
out:
    if (entered)
        runtime_task_leave(r, &task);
    if (logfd >= 0)
        close(logfd);
    if (own_null)
        close(nullfd);
    if (errp[0] >= 0)
        close(errp[0]);
    if (errp[1] >= 0)
        close(errp[1]);
    launch_free(&l);
    free(cbuf);
    if (rc < 0)
        res->exit_code = -1;
    return rc;
}

static void proc_destroy(runtime *r)
{
    cgroup_base_free(((procrt *)r)->cg_base);
    procrt *p = (procrt *)r;
    if (p->nullfd >= 0) close(p->nullfd);
    for (int i = 0; i < PATH_CACHE; i++) {
        free(p->pc[i].name);
        free(p->pc[i].path);
    }
    pthread_mutex_destroy(&p->mu);
    runtime_base_destroy(r);
    free(r);
}

static const struct runtime_ops proc_ops = { "process", proc_run, proc_destroy, NULL };

/* Always succeeds unless memory runs out. The returned runtime is owned by
 * the caller (runtime_free) and thread-safe. */
runtime *runtime_process_new(char *err, size_t errcap)
{
    procrt *p = calloc(1, sizeof *p);
    if (!p || runtime_base_init(&p->base, &proc_ops) < 0) {
        free(p);
        if (err && errcap)
            snprintf(err, errcap, "out of memory");
        return NULL;
    }
    cgroup_base_init(p->cg_base, sizeof p->cg_base);   /* "" where there is none */
    p->nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pthread_mutex_init(&p->mu, NULL);
    return &p->base;
}

const char *runtime_proc_cgroup(const runtime *r)
{
    return r->ops == &proc_ops ? ((const procrt *)r)->cg_base : "";
}
