/* worker.c — the worker daemon (worker.h).
 *
 * Threads: the main thread keeps the control connection to the master
 * (connect with backoff, REGISTER, then ASSIGN/CANCEL frames); a heartbeat
 * thread; one thread per task (run, then upload until acknowledged), kept
 * for the next task once it is done (see "task threads").
 * Locks: w->mu guards the task table and resources; w->ctl_mu the control
 * connection's writes, so a slow master never blocks task threads on mu.
 *
 * On disk under outputs_dir, per attempt of a task (stem <id>.<attempt>,
 * so two attempts never share a directory): <stem>/ (mounted at /output),
 * <stem>.log (stdout+stderr), <stem>.pgid (process runtime: the task's
 * process group while it runs), <stem>.result (written when the task
 * ended: the output is then "held" until the master's FILE_ACK), or
 * <stem>.refused (the master refused it for good: kept for a person, for
 * a bounded time). A restarted worker kills what a previous run left
 * running, uploads its held outputs again and removes interrupted ones.
 * Next to them, .spare-<n>: emptied inodes of finished attempts, reused
 * for the next ones (spare.h), removed at start and stop. */
#define _GNU_SOURCE   /* fallocate (log_free_past) */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "chunk.h"
#include "fsutil.h"
#include "incache.h"
#include "ids.h"
#include "log.h"
#include "notes.h"
#include "peer.h"
#include "records.h"
#include "runtime.h"
#include "tar.h"
#include "worker.h"
#include "worker/spare.h"

#define LOG_TAIL_MAX (16 * 1024)
/* Log streaming (proto.txt 9.1): a LOG_DATA frame carries at most
 * LOG_FRAME bytes, one frame per task is in flight until its LOG_ACK, and
 * the shipper looks for new bytes every LOG_TICK_MS. The task writes to
 * its log file and never waits for any of this: the file is the buffer. */
#define LOG_FRAME (256 * 1024)
#define LOG_TICK_MS 200
#define LOG_SHIP_MAX 256          /* tasks looked at per tick */
#define LOG_FINAL_WAIT_MS 10000   /* at the end, for the master to hold it all */
/* Upload connections kept open per worker: a finished task reuses one
 * instead of connecting and authenticating again, and at most this many
 * of its tasks upload at once (the rest wait for a lane rather than
 * bouncing off the master's upload limit with backoff). */
#define UPLOAD_LANES 4
/* Refused outputs are kept for a person to look at, but not forever:
 * at start the worker removes those older than this, and all but the
 * newest REFUSED_KEEP. */
#define REFUSED_KEEP_S (7 * 24 * 3600)
#define REFUSED_KEEP 16
/* A task thread with no task ends after this long. */
#define IDLE_THREAD_S 30

/* A task thread waiting for its next task (on its own stack, listed in
 * worker.idle while it waits). */
typedef struct idler {
    pthread_cond_t cv;
    struct wtask *task;     /* given by start_task; NULL while waiting */
    struct idler *next;
} idler;

typedef struct lane {
    peer p;
    int open;               /* p is connected and authenticated */
    int busy;               /* a task thread uses it */
} lane;

typedef struct wtask {
    task_rec rec;
    char stem[96];          /* <task_id>.<attempt>: this attempt's files */
    int running;            /* 1 while the container/process runs */
    int held;               /* ended; output kept until acknowledged */
    int status;             /* final status as this worker sees it */
    uint64_t log_sent;      /* log bytes sent (under w->mu) */
    uint64_t log_acked;     /* log bytes the master holds, per its LOG_ACK (UINT64_MAX: it wants no more) */
    uint64_t log_freed;     /* of a log the master wants no more of: disk freed up to here */
    int log_done;           /* ended, and the master holds the whole log */
    int64_t exit_code;
    int all_gone;           /* no process of the task is left (rt_result) */
    char error[1024];
    char stray[640];        /* rt_result.stray, put in the upload's notes (not
                               kept across a restart of the worker: advisory) */
    struct worker *w;       /* owner */
    struct wtask *next;
} wtask;

/* The attempt this run is (ASSIGN's ATTEMPTS; 1 from a master that
 * did not say). Every message about the task carries it. */
static uint64_t attempt_of(const wtask *t) { return t->rec.attempts ? t->rec.attempts : 1; }

typedef struct worker {
    const config *cfg;       /* = &own, with outputs_dir made absolute */
    config own;
    char id[64];
    char run[16];            /* this run of the worker: its containers' cloudai.worker_run */
    runtime *rt;
    spare_pool spare_own;
    spare_pool *spares;      /* &spare_own, or NULL if it could not be made */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    wtask *tasks;
    pthread_mutex_t ctl_mu;  /* the control connection's writes; never held with mu */
    int ctl_fd;              /* control connection, -1 when down (under ctl_mu) */
    lane lanes[UPLOAD_LANES];
    pthread_cond_t lane_cv;  /* a lane was given back (one waiter wakes) */
    pthread_cond_t log_cv;   /* a LOG_ACK arrived (under mu) */
    volatile int *stop;
    int nthreads;            /* task threads alive, busy or idle (under mu) */
    idler *idle;             /* task threads waiting for a task (under mu) */
    double free_cpu;
    uint64_t free_mem, free_gpu;
    chunk_tune tune;         /* the uploads' deflate share, learned across uploads */
} worker;

/* <outputs>/<stem><suffix>: the files of one attempt. */
static void path_of(const worker *w, const char *stem, const char *suffix, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s%s", w->cfg->outputs_dir, stem, suffix);
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Sends a frame on the control connection; dropped when it is down (the
 * master reconciles on REGISTER). */
static int ctl_send(worker *w, proto_buf *b)
{
    int rc = -ENOTCONN;
    pthread_mutex_lock(&w->ctl_mu);
    if (w->ctl_fd >= 0)
        rc = frame_write(w->ctl_fd, b, 10000);
    pthread_mutex_unlock(&w->ctl_mu);
    return rc;
}

/* ---- log streaming (proto.txt 9.1) ------------------------------------------- */

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

typedef struct ship {
    char task_id[64];
    char stem[96];
    uint64_t attempt, sent, freed;
    int ended;
} ship;

/* A running task's log the master wants no more of (cut at its cap,
 * proto.txt 9.1): the task may go on writing for hours, so its disk space
 * is given back as it grows (holes punched; the length stays, for
 * TASK_RESULT's LOG_SIZE), keeping the last LOG_KEEP_TAIL bytes. */
#define LOG_KEEP_TAIL (64u << 10)
#define LOG_FREE_STEP (1u << 20)
static void log_free_past(worker *w, const ship *sp, const char *path)
{
#if defined(FALLOC_FL_PUNCH_HOLE) && defined(FALLOC_FL_KEEP_SIZE)
    struct stat st;
    if (stat(path, &st) != 0 || (uint64_t)st.st_size < sp->freed + LOG_FREE_STEP + LOG_KEEP_TAIL) return;
    uint64_t upto = ((uint64_t)st.st_size - LOG_KEEP_TAIL) & ~(uint64_t)4095;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    int rc = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)sp->freed,
                       (off_t)(upto - sp->freed));
    close(fd);
    if (rc != 0) return;    /* a filesystem without holes: the log just stays */
    pthread_mutex_lock(&w->mu);
    for (wtask *t = w->tasks; t; t = t->next)
        if (!strcmp(t->stem, sp->stem) && t->log_freed < upto) t->log_freed = upto;
    pthread_mutex_unlock(&w->mu);
#else
    (void)w; (void)sp; (void)path;
#endif
}

/* One tick: for each task whose log has bytes the master lacks and no
 * frame in flight, one LOG_DATA frame. Disk and socket I/O happen outside
 * w->mu, on a snapshot; a task that went away meanwhile is skipped. */
static void ship_tick(worker *w, uint8_t *buf, proto_buf *b)
{
    ship list[LOG_SHIP_MAX];
    size_t n = 0;
    char path[CONFIG_PATH_MAX + 128];
    pthread_mutex_lock(&w->ctl_mu);
    int up = w->ctl_fd >= 0;
    pthread_mutex_unlock(&w->ctl_mu);
    if (!up) return;
    pthread_mutex_lock(&w->mu);
    for (wtask *t = w->tasks; t && n < LOG_SHIP_MAX; t = t->next) {
        if (t->log_done || t->log_sent != t->log_acked) continue;
        if (!t->running && !t->held) continue;
        snprintf(list[n].task_id, sizeof list[n].task_id, "%s", t->rec.task_id);
        snprintf(list[n].stem, sizeof list[n].stem, "%s", t->stem);
        list[n].attempt = t->rec.attempts;
        list[n].sent = t->log_sent;
        list[n].freed = t->log_freed;
        list[n].ended = !t->running;
        n++;
    }
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < n; i++) {
        ship *sp = &list[i];
        path_of(w, sp->stem, ".log", path, sizeof path);
        if (sp->sent == UINT64_MAX && !sp->ended) log_free_past(w, sp, path);
        /* One stat per look at a log with nothing new (most looks, and
         * all of a silent task's), not an open, a read and a close. */
        struct stat lst;
        ssize_t got = -1;
        if (stat(path, &lst) == 0 && (uint64_t)lst.st_size > sp->sent) {
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            got = fd >= 0 ? pread(fd, buf, LOG_FRAME, (off_t)sp->sent) : -1;
            if (fd >= 0) close(fd);
        }
        if (got <= 0) {
            /* Nothing new. An ended task whose log the master holds whole
             * is done (its log no longer grows). */
            if (sp->ended) {
                uint64_t size = file_size(path);
                pthread_mutex_lock(&w->mu);
                for (wtask *t = w->tasks; t; t = t->next)
                    if (!strcmp(t->stem, sp->stem) && t->log_acked == sp->sent &&
                        t->log_acked >= size) {
                        t->log_done = 1;
                        pthread_cond_broadcast(&w->log_cv);
                    }
                pthread_mutex_unlock(&w->mu);
            }
            continue;
        }
        proto_begin(b, PROTO_LOG_DATA, 0);
        proto_put_str(b, T_TASK_ID, sp->task_id);
        proto_put_u64(b, T_OFFSET, sp->sent);
        proto_put_bytes(b, T_DATA, buf, (size_t)got);
        if (sp->attempt) proto_put_u64(b, T_ATTEMPTS, sp->attempt);
        pthread_mutex_lock(&w->mu);
        wtask *t = w->tasks;
        for (; t; t = t->next)
            if (!strcmp(t->stem, sp->stem)) break;
        /* In flight from now: an ack may come before ctl_send returns. */
        int go = t && t->log_sent == sp->sent && t->log_acked == sp->sent;
        if (go) t->log_sent = sp->sent + (uint64_t)got;
        pthread_mutex_unlock(&w->mu);
        if (go && ctl_send(w, b) < 0) {
            pthread_mutex_lock(&w->mu);
            for (t = w->tasks; t; t = t->next)
                if (!strcmp(t->stem, sp->stem) && t->log_sent == sp->sent + (uint64_t)got)
                    t->log_sent = t->log_acked;     /* resent after the reconnect */
            pthread_mutex_unlock(&w->mu);
        }
    }
}

static void *logship_main(void *arg)
{
    worker *w = arg;
    uint8_t *buf = malloc(LOG_FRAME);
    proto_buf b;
    proto_buf_init(&b);
    if (!buf) {
        log_error("log streaming disabled: out of memory");
        return NULL;
    }
    while (!*w->stop) {
        ship_tick(w, buf, &b);
        /* An ack wakes us for the next frame at once (a backlog drains at
         * the master's pace); otherwise new bytes are batched per tick. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += LOG_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&w->mu);
        pthread_cond_timedwait(&w->log_cv, &w->mu, &ts);
        pthread_mutex_unlock(&w->mu);
    }
    proto_buf_free(&b);
    free(buf);
    return NULL;
}

/* LOG_ACK: the master holds the log up to OFFSET; the next frame starts
 * there (after a gap or a restart of either side, too). */
static void on_log_ack(worker *w, const proto_msg *m)
{
    char id[64] = "";
    uint64_t off = 0, att = 0;
    proto_str(m, T_TASK_ID, id, sizeof id);
    proto_u64(m, T_OFFSET, &off);
    int have_att = proto_u64(m, T_ATTEMPTS, &att) == 0;
    pthread_mutex_lock(&w->mu);
    for (wtask *t = w->tasks; t; t = t->next)
        if (!strcmp(t->rec.task_id, id) && (!have_att || t->rec.attempts == att)) {
            t->log_acked = t->log_sent = off;
            pthread_cond_broadcast(&w->log_cv);
        }
    pthread_mutex_unlock(&w->mu);
}

/* At the end of a task, before its TASK_RESULT: waits (bounded) until the
 * master holds the whole log, so a follower sees every line before the
 * end. Returns the log's length. */
static uint64_t log_final(worker *w, wtask *t)
{
    char path[CONFIG_PATH_MAX + 128];
    path_of(w, t->stem, ".log", path, sizeof path);
    uint64_t size = file_size(path);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += LOG_FINAL_WAIT_MS / 1000;
    pthread_mutex_lock(&w->mu);
    /* Ship the rest now. Not for a log the master holds whole (most
     * trivial tasks' is empty): waking the shipper makes it look at every
     * task's log. */
    if (t->log_acked < size && !t->log_done) pthread_cond_broadcast(&w->log_cv);
    while (!*w->stop && t->log_acked < size && !t->log_done)
        if (pthread_cond_timedwait(&w->log_cv, &w->mu, &until) != 0) break;
    pthread_mutex_unlock(&w->mu);
    return size;
}

static char *read_tail(const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;
    if (fd < 0) return strdup("");
    off_t end = lseek(fd, 0, SEEK_END);
    off_t start = end > (off_t)max ? end - (off_t)max : 0;
    size_t n = (size_t)(end - start);
    if (!(buf = malloc(n + 1))) goto out;
    ssize_t got = pread(fd, buf, n, start);
    n = got > 0 ? (size_t)got : 0;
    /* A NUL would end the C string early; anything else that is not valid
     * UTF-8 the encoder replaces (proto_put_str), keeping valid UTF-8. */
    for (size_t i = 0; i < n; i++)
        if (buf[i] == 0) buf[i] = '?';
    buf[n] = 0;
out:
    close(fd);
    return buf;
}

/* The last non-empty line of a log (a failed task's error message says
 * it: usually why), at most cap - 1 bytes of whole UTF-8 characters,
 * control characters as '?'; "" when there is none. */
static void log_last_line(const char *path, char *out, size_t cap)
{
    char *buf = read_tail(path, 4096);
    out[0] = 0;
    if (!buf) return;
    size_t end = strlen(buf);
    while (end > 0 && strchr("\n\r \t", buf[end - 1])) end--;
    size_t start = end;
    while (start > 0 && buf[start - 1] != '\n') start--;
    size_t o = 0;
    for (size_t i = start; i < end && o + 1 < cap;) {
        const uint8_t *p = (const uint8_t *)buf + i;
        size_t k = proto_utf8_seq(p, end - i);
        if (k > 1 && o + k + 1 > cap) break;          /* no character cut in two */
        if (k > 1) memcpy(out + o, p, k);
        else out[o] = k == 0 || *p < 0x20 || *p == 0x7f ? '?' : (char)*p;
        o += k > 1 ? k : 1;
        i += k > 1 ? k : 1;
    }
    out[o] = 0;
    free(buf);
}

/* ---- result files ------------------------------------------------------------ */

static int save_result(worker *w, wtask *t)
{
    char path[CONFIG_PATH_MAX + 128], buf[8192];
    char err[sizeof t->error];
    snprintf(err, sizeof err, "%s", t->error);
    for (char *p = err; *p; p++)
        if (*p == '\n') *p = ' ';
    int n = snprintf(buf, sizeof buf,
                     "task_id=%s\nuser_id=%s\ntask_name=%s\nsubmitted_at=%llu\nstatus=%d\nexit_code=%lld\n"
                     "cpu_s=%.3f\nmem_peak=%llu\nerror=%s\n",
                     t->rec.task_id, t->rec.user_id, t->rec.task_name,
                     (unsigned long long)t->rec.submitted_at, t->status, (long long)t->exit_code,
                     t->rec.cpu_s, (unsigned long long)t->rec.mem_peak, err);
    path_of(w, t->stem, ".result", path, sizeof path);
    /* Atomic, not synced: the container's own output files are not
     * fsync'd either, so syncing this note about them would buy nothing
     * against a power loss; against a crash of the worker process the
     * page cache keeps both. */
    return spare_write_replace(w->spares, path, buf, (size_t)n);
}

static wtask *load_result(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    wtask *t = NULL;
    if (fsutil_read_file(path, &text, &len, 16384) < 0) return NULL;
    if (!(t = calloc(1, sizeof *t))) goto out;
    task_rec_init(&t->rec);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq++ = 0;
        if (!strcmp(line, "task_id")) snprintf(t->rec.task_id, sizeof t->rec.task_id, "%s", eq);
        else if (!strcmp(line, "user_id")) snprintf(t->rec.user_id, sizeof t->rec.user_id, "%s", eq);
        else if (!strcmp(line, "task_name")) snprintf(t->rec.task_name, sizeof t->rec.task_name, "%s", eq);
        else if (!strcmp(line, "submitted_at")) t->rec.submitted_at = strtoull(eq, NULL, 10);
        else if (!strcmp(line, "status")) t->status = atoi(eq);
        else if (!strcmp(line, "exit_code")) t->exit_code = strtoll(eq, NULL, 10);
        else if (!strcmp(line, "cpu_s")) t->rec.cpu_s = strtod(eq, NULL);
        else if (!strcmp(line, "mem_peak")) t->rec.mem_peak = strtoull(eq, NULL, 10);
        else if (!strcmp(line, "error")) snprintf(t->error, sizeof t->error, "%s", eq);
    }
    if (!t->rec.task_id[0]) {
        free(t);
        t = NULL;
        goto out;
    }
    /* The stem is the note's own name: <id>.<attempt>.result (or an
     * older worker's <id>.result). */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(t->stem, sizeof t->stem, "%.*s", (int)(strlen(base) - strlen(".result")), base);
    const char *dot = strrchr(t->stem, '.');
    if (dot) t->rec.attempts = strtoull(dot + 1, NULL, 10);   /* 0 (not said) for an old stem */
out:
    free(text);
    return t;
}


/* ---- upload ----------------------------------------------------------------------- */

static int send_peer(void *ctx, proto_buf *b)
{
    peer *p = ctx;
    return frame_write(p->fd, b, 30000);
}

/* Waits for a free upload lane; NULL when the worker stops. */
static lane *lane_take(worker *w)
{
    lane *l = NULL;
    pthread_mutex_lock(&w->mu);
    while (!*w->stop) {
        for (int i = 0; i < UPLOAD_LANES && !l; i++)
            if (!w->lanes[i].busy && w->lanes[i].open) l = &w->lanes[i];
        for (int i = 0; i < UPLOAD_LANES && !l; i++)
            if (!w->lanes[i].busy) l = &w->lanes[i];
        if (l) {
            l->busy = 1;
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&w->lane_cv, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
    return l;
}

/* keep: the exchange ended cleanly, so the connection can carry the next
 * upload; otherwise its state is unknown and it is closed. */
static void lane_give(worker *w, lane *l, int keep)
{
    if (!keep && l->open) {
        peer_close(&l->p);
        l->open = 0;
    }
    pthread_mutex_lock(&w->mu);
    l->busy = 0;
    pthread_cond_signal(&w->lane_cv);   /* one lane: one waiter, no herd */
    pthread_mutex_unlock(&w->mu);
}

static int note_skip(void *ctx, const char *name, const char *reason)
{
    notes_add(ctx, name, reason);
    return 0;
}

/* One attempt: 0 acknowledged, 1 retry later, 2 retry at once (a kept
 * connection had gone stale, e.g. closed by the master's idle timeout),
 * negative give up. */
static int upload_once(worker *w, wtask *t, uint64_t log_size, char *why, size_t cap)
{
    char out_dir[CONFIG_PATH_MAX + 80], logp[CONFIG_PATH_MAX + 80], err[512];
    lane *l;
    proto_msg m;
    tar_stats st;
    chunk_tx tx;
    int rc, have_tx = 0, result = 1, keep = 0, reused = 0, answered = 0;
    uint64_t offset = 0, ok = 0;
    char *tail = NULL;

    path_of(w, t->stem, "", out_dir, sizeof out_dir);
    path_of(w, t->stem, ".log", logp, sizeof logp);
    fsutil_mkdir_p(out_dir, 0755);
    /* What cannot go into the archive (a FIFO, a socket, a path over the
     * limit) is named to the master, which shows it in the task's notes.
     * Absolute links into the output directory (the process runtime's
     * OUTPUT_DIR is this host path) are written relative. */
    notes left;
    notes_init(&left);
    tar_write_opts wo = { NULL, note_skip, &left, out_dir, NULL, NULL, NULL, NULL };
    rc = tar_write_dir_opts(out_dir, &wo, NULL, NULL, &st, err, sizeof err);
    if (t->stray[0]) notes_add_text(&left, t->stray);
    char *left_text = notes_render(&left, TASK_NOTES_MAX);
    notes_free(&left);
    if (rc < 0) {
        free(left_text);
        snprintf(why, cap, "cannot read the output: %s", err);
        return 1;
    }
    if (!(l = lane_take(w))) {
        free(left_text);
        snprintf(why, cap, "the worker is stopping");
        return 1;
    }
    reused = l->open;
    if (!l->open) {
        if (peer_connect(&l->p, w->cfg->master_addr, PROTO_ROLE_WORKER, w->id,
                         w->cfg->cluster_token, 10000, err, sizeof err) < 0) {
            snprintf(why, cap, "%s", err);
            lane_give(w, l, 0);
            free(left_text);
            return 1;
        }
        l->open = 1;
    }
    peer *pp = &l->p;
    tail = log_size ? read_tail(logp, LOG_TAIL_MAX) : NULL;   /* empty: nothing to read */
    proto_begin(&pp->wb, PROTO_TASK_RESULT, 0);
    proto_put_str(&pp->wb, T_TASK_ID, t->rec.task_id);
    if (t->rec.attempts) proto_put_u64(&pp->wb, T_ATTEMPTS, t->rec.attempts);
    proto_put_u64(&pp->wb, T_STATUS, (uint64_t)t->status);
    proto_put_i64(&pp->wb, T_EXIT_CODE, t->exit_code);
    if (t->error[0]) proto_put_str(&pp->wb, T_ERROR, t->error);
    proto_put_str(&pp->wb, T_LOG_TAIL, tail ? tail : "");
    proto_put_u64(&pp->wb, T_LOG_SIZE, log_size);
    if (t->rec.cpu_s > 0 && isfinite(t->rec.cpu_s)) proto_put_f64(&pp->wb, T_CPU_S, t->rec.cpu_s);
    if (t->rec.mem_peak) proto_put_u64(&pp->wb, T_MEM_PEAK, t->rec.mem_peak);
    if (peer_send(pp) < 0) goto io;
    proto_begin(&pp->wb, PROTO_UPLOAD_RESUME, 0);
    proto_put_str(&pp->wb, T_TASK_ID, t->rec.task_id);
    if (t->rec.attempts) proto_put_u64(&pp->wb, T_ATTEMPTS, t->rec.attempts);
    proto_put_u64(&pp->wb, T_TOTAL_SIZE, st.archive_bytes);
    if (left_text) proto_put_str(&pp->wb, T_NOTES, left_text);
    if (peer_send(pp) < 0 || peer_recv(pp, &m, 30000) < 0) goto io;
    answered = 1;
    if (m.type == PROTO_FILE_ACK) {
        proto_u64(&m, T_OK, &ok);
        if (ok) { result = 0; keep = 1; goto out; }
        proto_str(&m, T_MESSAGE, why, cap);
        goto out;
    }
    if (m.type == PROTO_ERROR) {
        uint64_t code = 0;
        proto_u64(&m, T_CODE, &code);
        peer_error_text(&m, why, cap);
        /* Unknown, or given to another worker after this one was lost:
         * the master will never take this copy, so retrying is pointless. */
        if (code == PROTO_ERR_NOT_FOUND || code == PROTO_ERR_FORBIDDEN) result = -1;
        goto out;
    }
    if (m.type != PROTO_UPLOAD_RESUME) {
        snprintf(why, cap, "unexpected %s", proto_type_name(m.type));
        goto out;
    }
    proto_u64(&m, T_OFFSET, &offset);
    /* Adaptive: deflate as much as pays, learned per link (chunk.c); to a
     * master on this host the "link" is a memory copy that deflate can
     * only slow, so nothing is deflated and nothing explored. */
    int level = w->cfg->compress_level >= 0 ? w->cfg->compress_level
                : net_is_local(pp->fd)       ? 0
                                             : 1;
    if (chunk_tx_init(&tx, t->rec.task_id, st.archive_bytes, offset, level, send_peer, pp) < 0) {
        snprintf(why, cap, "out of memory");
        goto out;
    }
    have_tx = 1;
    chunk_tx_tune(&tx, &w->tune);
    uint64_t t0 = ids_now_ms();
    tx.task_name = t->rec.task_name;
    tx.user_id = t->rec.user_id;
    tx.submitted_at = t->rec.submitted_at;
    wo.on_skip = NULL;      /* reported above */
    /* Version 3: a CRC32C per file, here while reading it, and CRC32C
     * chunks; version 2: a SHA-256 per file. The stream itself is not
     * hashed (proto.txt 9). */
    uint8_t files_sha[32];
    uint32_t files_crc = 0;
    if (pp->version >= 3) {
        chunk_tx_v2(&tx, 1);
        wo.files_crc32c = &files_crc;
    } else if (pp->version >= 2) {
        chunk_tx_v2(&tx, 1);
        wo.files_sha256 = files_sha;
    }
    wo.reserve = chunk_tx_reserve;
    wo.known = chunk_tx_known;
    rc = tar_write_dir_opts(out_dir, &wo, chunk_tx_write, &tx, NULL, err, sizeof err);
    if (rc == 0)
        rc = pp->version >= 3 ? chunk_tx_finish_crc(&tx, files_crc)
           : pp->version >= 2 ? chunk_tx_finish_files(&tx, files_sha) : chunk_tx_finish(&tx);
    if (rc < 0 && rc != TAR_E_SINK && rc != CHUNK_E_SEND) {
        snprintf(why, cap, "packing the output failed: %s", err);
        goto out;
    }
    /* Even when a send failed the master may have said why: read it. */
    if (peer_recv(pp, &m, 120000) < 0) goto io;
    if (m.type == PROTO_FILE_ACK) {
        uint64_t code = 0;
        proto_u64(&m, T_OK, &ok);
        proto_u64(&m, T_CODE, &code);
        proto_str(&m, T_MESSAGE, why, cap);
        result = ok ? 0 : code == PROTO_ERR_ARCHIVE ? -1 : 1;
        keep = ok != 0;    /* a refusal may have closed the connection */
        if (ok) {
            /* The transfer benchmark reads this line. */
            uint64_t ms = ids_now_ms() - t0;
            log_info("task %s: uploaded %llu bytes (%llu on the wire, from offset %llu) in %llu ms",
                     t->rec.task_id, (unsigned long long)st.archive_bytes,
                     (unsigned long long)tx.wire_bytes, (unsigned long long)offset,
                     (unsigned long long)ms);
        }
    } else if (m.type == PROTO_ERROR) {
        peer_error_text(&m, why, cap);
    } else {
        snprintf(why, cap, "unexpected %s", proto_type_name(m.type));
    }
    goto out;
io:
    snprintf(why, cap, "connection to the master lost during the upload");
    if (reused && !answered) result = 2;
out:
    if (have_tx) chunk_tx_free(&tx);
    free(tail);
    free(left_text);
    lane_give(w, l, keep);
    return result;
}

static void forget_task(worker *w, wtask *t)
{
    pthread_mutex_lock(&w->mu);
    for (wtask **pp = &w->tasks; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    pthread_mutex_unlock(&w->mu);
    task_rec_free(&t->rec);
    free(t);
}

static void upload_until_acked(worker *w, wtask *t)
{
    char why[1024] = "", path[CONFIG_PATH_MAX + 128];
    int delay = 200, attempt = 0;
    uint64_t log_size = log_final(w, t);
    while (!*w->stop) {
        int rc = upload_once(w, t, log_size, why, sizeof why);
        if (rc == 2) continue;     /* the next try connects afresh */
        if (rc == 0) {
            log_info("task %s: output stored by the master; deleting the local copy", t->rec.task_id);
            /* The directory and the log are recycled only when nothing of
             * the task can still write to them (spare.h). */
            spare_pool *sp = t->all_gone ? w->spares : NULL;
            path_of(w, t->stem, "", path, sizeof path);
            spare_drop_dir(sp, path);
            path_of(w, t->stem, ".log", path, sizeof path);
            spare_drop_file(sp, path);
            path_of(w, t->stem, ".result", path, sizeof path);
            spare_drop_file(w->spares, path);
            forget_task(w, t);
            return;
        }
        if (rc < 0) {
            /* Keep the copy for a person to look at, out of the way of
             * the restart recovery (which looks for .result files). */
            char from[CONFIG_PATH_MAX + 128];
            path_of(w, t->stem, ".result", from, sizeof from);
            path_of(w, t->stem, ".refused", path, sizeof path);
            rename(from, path);
            log_error("task %s: the master will not take this output (%s); keeping it in %s/%s for %d days",
                      t->rec.task_id, why, w->cfg->outputs_dir, t->stem, REFUSED_KEEP_S / 86400);
            forget_task(w, t);
            return;
        }
        attempt++;
        log_warn("task %s: upload attempt %d failed: %s; retrying in %d ms", t->rec.task_id,
                 attempt, why, delay);
        for (int slept = 0; slept < delay && !*w->stop; slept += 100)
            sleep_ms(100);
        delay = delay * 2 > 30000 ? 30000 : delay * 2;
    }
}

/* ---- tasks ------------------------------------------------------------------------ */

static void release(worker *w, wtask *t)
{
    pthread_mutex_lock(&w->mu);
    t->running = 0;
    t->held = 1;
    w->free_cpu += t->rec.req_cpu;
    w->free_mem += t->rec.req_memory;
    w->free_gpu += t->rec.req_gpu;
    pthread_mutex_unlock(&w->mu);
}

static void task_main(wtask *t)
{
    worker *w = t->w;
    char out_dir[CONFIG_PATH_MAX + 80], logp[CONFIG_PATH_MAX + 80], in_dir[CONFIG_PATH_MAX + 80];
    rt_spec spec;
    rt_result res;
    proto_buf b;
    int rc;

    pthread_mutex_lock(&w->mu);
    t->next = w->tasks;
    w->tasks = t;
    pthread_mutex_unlock(&w->mu);

    if (t->held) goto upload;          /* recovered after a restart */
    path_of(w, t->stem, "", out_dir, sizeof out_dir);
    path_of(w, t->stem, ".log", logp, sizeof logp);
    fsutil_rm_rf(out_dir);
    /* A fresh empty log, in place of any left over. */
    if ((rc = spare_file(w->spares, logp)) < 0 && rc != -ENOENT)
        log_warn("task %s: cannot create %s: %s", t->rec.task_id, logp, cai_strerror(rc));
    if ((rc = spare_dir(w->spares, out_dir, 0777)) < 0) {
        t->status = PROTO_ST_FAILED;
        snprintf(t->error, sizeof t->error, "cannot create %s: %s", out_dir, cai_strerror(rc));
        release(w, t);
        goto result;
    }
    chmod(out_dir, 0777);      /* the container may run as another uid */
    proto_buf_init(&b);
    proto_begin(&b, PROTO_TASK_STATUS, 0);
    proto_put_str(&b, T_TASK_ID, t->rec.task_id);
    proto_put_u64(&b, T_ATTEMPTS, attempt_of(t));
    proto_put_u64(&b, T_STATUS, PROTO_ST_RUNNING);
    ctl_send(w, &b);
    proto_buf_free(&b);

    path_of(w, t->stem, ".input", in_dir, sizeof in_dir);
    if (t->rec.ninputs) {
        incache_src src = { w->cfg, w->id, w->stop,
                            !strcmp(runtime_name(w->rt), "docker") || geteuid() == 0 };
        char why[1024];
        if (incache_prepare(&src, &t->rec, in_dir, why, sizeof why) < 0) {
            t->status = PROTO_ST_FAILED;
            snprintf(t->error, sizeof t->error, "could not start: %s", why);
            log_warn("task %s: %s", t->rec.task_id, t->error);
            fsutil_rm_rf(in_dir);
            release(w, t);
            goto result;
        }
    }
    memset(&spec, 0, sizeof spec);
    spec.task_id = t->rec.task_id;
    spec.run_id = t->stem;
    spec.worker_id = w->id;
    spec.worker_run = w->run;
    spec.image = t->rec.docker_image;
    spec.command = t->rec.command;
    spec.argv = t->rec.argv;
    spec.env = t->rec.env;
    spec.cpu = t->rec.req_cpu;
    spec.memory = t->rec.req_memory;
    spec.gpu = t->rec.req_gpu;
    spec.output_dir = out_dir;
    spec.input_dir = t->rec.ninputs ? in_dir : NULL;
    spec.log_path = logp;
    spec.timeout_s = t->rec.timeout_s;
    spec.spares = w->spares;
    memset(&res, 0, sizeof res);
    log_info("task %s: running %s on %s", t->rec.task_id, t->rec.docker_image, runtime_name(w->rt));
    rc = runtime_run(w->rt, &spec, &res);
    t->exit_code = res.exit_code;
    t->all_gone = res.all_gone;
    t->rec.cpu_s = res.cpu_s;
    t->rec.mem_peak = res.mem_peak;
    snprintf(t->stray, sizeof t->stray, "%s", res.stray);
    if (t->rec.ninputs) fsutil_rm_rf(in_dir);     /* the private copy; the cache stays */
    if (rc < 0) {
        t->status = PROTO_ST_FAILED;
        snprintf(t->error, sizeof t->error, "%s", res.error[0] ? res.error : "the task could not start");
    } else if (res.cancelled) {
        t->status = PROTO_ST_CANCELLED;
        snprintf(t->error, sizeof t->error, "cancelled");
    } else if (res.timed_out) {
        t->status = PROTO_ST_FAILED;
        snprintf(t->error, sizeof t->error, "stopped after the time limit of %llu s",
                 (unsigned long long)t->rec.timeout_s);
    } else if (res.oom_killed) {
        t->status = PROTO_ST_FAILED;
        snprintf(t->error, sizeof t->error, "killed: out of memory (limit %llu bytes)",
                 (unsigned long long)t->rec.req_memory);
    } else if (res.exit_code != 0) {
        char last[256];
        t->status = PROTO_ST_FAILED;
        log_last_line(logp, last, sizeof last);
        snprintf(t->error, sizeof t->error, "exit code %lld%s%s", (long long)res.exit_code,
                 last[0] ? "; last output: " : "", last);
    } else {
        t->status = PROTO_ST_COMPLETED;
    }
    log_info("task %s: %s (exit %lld)%s%s", t->rec.task_id, proto_status_name((uint64_t)t->status),
             (long long)t->exit_code, t->error[0] ? ": " : "", t->error);
    release(w, t);
result:
    if (save_result(w, t) < 0)
        log_error("task %s: cannot save its result file; output kept in memory only", t->rec.task_id);
upload:
    upload_until_acked(w, t);
}

/* ---- task threads -------------------------------------------------------------------
 * A thread that has run a task waits for the next one instead of ending:
 * a new thread maps and protects a stack, and an ending one has the kernel
 * drop it (madvise of 8 MiB), each a TLB flush on every core; with a
 * trivial task those were about a tenth of the worker's time (perf). */

/* Waits (under w->mu) for start_task to hand this thread a task; NULL when
 * it stayed idle for IDLE_THREAD_S or the worker stops. */
static wtask *await_task(worker *w)
{
    idler me = { .task = NULL, .next = w->idle };
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&me.cv, &ca);
    pthread_condattr_destroy(&ca);
    w->idle = &me;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += IDLE_THREAD_S;
    while (!me.task && !*w->stop)
        if (pthread_cond_timedwait(&me.cv, &w->mu, &until) == ETIMEDOUT) break;
    if (!me.task)      /* still listed: start_task unlinks the ones it gives to */
        for (idler **pp = &w->idle; *pp; pp = &(*pp)->next)
            if (*pp == &me) {
                *pp = me.next;
                break;
            }
    pthread_cond_destroy(&me.cv);
    return me.task;
}

static void *thread_main(void *arg)
{
    wtask *t = arg;
    worker *w = t->w;
    while (t) {
        task_main(t);
        pthread_mutex_lock(&w->mu);
        t = *w->stop ? NULL : await_task(w);
        if (!t) {
            w->nthreads--;
            pthread_cond_broadcast(&w->cv);
        }
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

/* Runs t on an idle task thread, or a new one. */
static int start_task(worker *w, wtask *t)
{
    pthread_t th;
    pthread_attr_t attr;
    t->w = w;
    pthread_mutex_lock(&w->mu);
    idler *i = w->idle;
    if (i) {
        w->idle = i->next;
        i->task = t;
        pthread_cond_signal(&i->cv);
    } else {
        w->nthreads++;
    }
    pthread_mutex_unlock(&w->mu);
    if (i) return 0;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, thread_main, t);
    pthread_attr_destroy(&attr);
    if (rc) {
        pthread_mutex_lock(&w->mu);
        w->nthreads--;
        pthread_mutex_unlock(&w->mu);
    }
    return -rc;
}

/* On stop: idle task threads end now, not after IDLE_THREAD_S. */
static void wake_idle(worker *w)
{
    for (idler *i = w->idle; i; i = i->next)
        pthread_cond_signal(&i->cv);
}

static void on_assign(worker *w, const proto_msg *m)
{
    proto_field f;
    proto_msg sub;
    wtask *t;
    if (proto_get(m, T_TASK, &f) < 0) return;
    proto_rec_open(&f, &sub);
    if (!(t = calloc(1, sizeof *t))) return;
    task_rec_init(&t->rec);
    if (task_rec_get(&sub, &t->rec) < 0) {
        log_error("ASSIGN with an unreadable task record");
        task_rec_free(&t->rec);
        free(t);
        return;
    }
    pthread_mutex_lock(&w->mu);
    /* Another attempt of the same task may still be here (stopping, or
     * its output held): this one runs beside it, under its own stem. */
    for (wtask *x = w->tasks; x; x = x->next)
        if (!strcmp(x->rec.task_id, t->rec.task_id) && attempt_of(x) == attempt_of(t)) {
            pthread_mutex_unlock(&w->mu);
            log_warn("task %s attempt %llu assigned twice; already here", t->rec.task_id,
                     (unsigned long long)attempt_of(t));
            task_rec_free(&t->rec);
            free(t);
            return;
        }
    /* Each attempt has its own directory: whatever an earlier attempt
     * left (or still writes) can never mix into this one's output. */
    snprintf(t->stem, sizeof t->stem, "%s.%llu", t->rec.task_id,
             (unsigned long long)attempt_of(t));
    t->running = 1;
    w->free_cpu -= t->rec.req_cpu;
    w->free_mem -= t->rec.req_memory;
    w->free_gpu -= t->rec.req_gpu;
    pthread_mutex_unlock(&w->mu);
    if (start_task(w, t) < 0) {
        log_error("task %s: cannot start a thread", t->rec.task_id);
        task_rec_free(&t->rec);
        free(t);
    }
}

/* CANCEL { TASK_ID, ATTEMPTS }: stops that attempt only, and only if it
 * runs here; without ATTEMPTS, every attempt of the task running here now
 * (the master's reconciliation at REGISTER). Never a later attempt: an
 * ASSIGN read after this frame is not touched. */
static void on_cancel(worker *w, const proto_msg *m)
{
    char id[64] = "", stems[8][96];
    uint64_t attempt = 0, att[8];
    int n = 0;
    proto_str(m, T_TASK_ID, id, sizeof id);
    proto_u64(m, T_ATTEMPTS, &attempt);
    pthread_mutex_lock(&w->mu);
    for (wtask *t = w->tasks; t && n < 8; t = t->next)
        if (t->running && !strcmp(t->rec.task_id, id) && (!attempt || attempt_of(t) == attempt)) {
            snprintf(stems[n], sizeof stems[n], "%s", t->stem);
            att[n++] = attempt_of(t);
        }
    pthread_mutex_unlock(&w->mu);
    if (!n && attempt)
        log_info("task %s attempt %llu: not running here; cancel ignored", id,
                 (unsigned long long)attempt);
    for (int i = 0; i < n; i++)
        if (runtime_cancel(w->rt, stems[i]) == 0)
            log_info("task %s attempt %llu: cancel requested by the master", id,
                     (unsigned long long)att[i]);
}

/* ---- control connection ---------------------------------------------------------- */

static void put_ids(worker *w, proto_buf *b)
{
    for (wtask *t = w->tasks; t; t = t->next) {
        if (t->running) proto_put_str(b, T_RUNNING, t->rec.task_id);
        else if (t->held) proto_put_str(b, T_HELD, t->rec.task_id);
    }
    /* Which attempt each RUNNING is, in the same order (proto.txt REGISTER). */
    for (wtask *t = w->tasks; t; t = t->next)
        if (t->running) proto_put_u64(b, T_RUNNING_ATTEMPT, attempt_of(t));
}

static void *heartbeat_main(void *arg)
{
    worker *w = arg;
    proto_buf b;
    proto_buf_init(&b);
    while (!*w->stop) {
        for (int i = 0; i < w->cfg->heartbeat_interval_s * 10 && !*w->stop; i++)
            sleep_ms(100);
        pthread_mutex_lock(&w->mu);
        proto_begin(&b, PROTO_HEARTBEAT, 0);
        proto_put_str(&b, T_WORKER_ID, w->id);
        proto_put_f64(&b, T_FREE_CPU, w->free_cpu);
        proto_put_u64(&b, T_FREE_MEMORY, w->free_mem);
        proto_put_u64(&b, T_FREE_GPU, w->free_gpu);
        put_ids(w, &b);
        pthread_mutex_unlock(&w->mu);
        ctl_send(w, &b);
    }
    proto_buf_free(&b);
    return NULL;
}

static int session(worker *w, char *err, size_t errcap)
{
    peer p;
    proto_msg m;
    int rc;
    if ((rc = peer_connect(&p, w->cfg->master_addr, PROTO_ROLE_WORKER, w->id,
                           w->cfg->cluster_token, 10000, err, errcap)) < 0)
        return rc;
    proto_begin(&p.wb, PROTO_REGISTER, 0);
    proto_put_str(&p.wb, T_WORKER_ID, w->id);
    proto_put_f64(&p.wb, T_CPU, w->cfg->cpu);
    proto_put_u64(&p.wb, T_MEMORY, w->cfg->memory);
    proto_put_u64(&p.wb, T_STORAGE, w->cfg->storage);
    proto_put_u64(&p.wb, T_GPU, (uint64_t)w->cfg->gpu);
    pthread_mutex_lock(&w->mu);
    put_ids(w, &p.wb);
    pthread_mutex_unlock(&w->mu);
    if ((rc = peer_send(&p)) < 0) {
        snprintf(err, errcap, "registration failed: %s", cai_strerror(rc));
        goto out;
    }
    /* What was sent on the old connection without an ack goes again: the
     * master skips what it already holds. */
    pthread_mutex_lock(&w->mu);
    for (wtask *t = w->tasks; t; t = t->next)
        t->log_sent = t->log_acked;
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_lock(&w->ctl_mu);
    w->ctl_fd = p.fd;
    pthread_mutex_unlock(&w->ctl_mu);
    /* Reconciliation's CANCELs (and an ASSIGN from a quick scheduler) may
     * arrive before the reply to REGISTER: act on them, never drop them,
     * or a task the master moved elsewhere would run here twice. */
    for (int i = 0; ; i++) {
        if (i > 10000 || (rc = peer_recv(&p, &m, 10000)) < 0) {
            snprintf(err, errcap, "registration failed: %s",
                     i > 10000 ? strerror(EPROTO) : cai_strerror(rc));
            goto out;
        }
        if (m.type == PROTO_ASSIGN) on_assign(w, &m);
        else if (m.type == PROTO_CANCEL) on_cancel(w, &m);
        else if (m.type == PROTO_LOG_ACK) on_log_ack(w, &m);
        else break;
    }
    if (m.type == PROTO_ERROR) {
        peer_error_text(&m, err, errcap);
        rc = -EACCES;
        goto out;
    }
    log_info("registered with master %s at %s", p.master_id, w->cfg->master_addr);
    while (!*w->stop) {
        rc = frame_read(p.fd, &p.rd, &m, 500, 30000);
        if (rc == -ETIMEDOUT) continue;
        if (rc < 0) {
            snprintf(err, errcap, "connection to the master lost");
            break;
        }
        if (m.type == PROTO_ASSIGN) on_assign(w, &m);
        else if (m.type == PROTO_CANCEL) on_cancel(w, &m);
        else if (m.type == PROTO_LOG_ACK) on_log_ack(w, &m);
        else if (m.type == PROTO_ERROR) {
            peer_error_text(&m, err, errcap);
            log_warn("master says: %s", err);
        }
    }
    rc = 0;
out:
    pthread_mutex_lock(&w->ctl_mu);
    w->ctl_fd = -1;
    pthread_mutex_unlock(&w->ctl_mu);
    peer_close(&p);
    return rc;
}

/* ---- leftovers of a previous run ---------------------------------------------- */

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && !strcmp(s + n - k, suffix);
}

/* Kills the process groups that tasks left running, from the process
 * runtime's <stem>.pgid records, and removes the records. Run at start
 * (a worker killed before) and by the reaper (this worker just died).
 * quiet: no logging (the reaper is a forked child of a threaded process).
 * Returns the number of groups signalled. */
static int sweep_groups(const char *outputs_dir, int quiet)
{
    DIR *d = opendir(outputs_dir);
    struct dirent *e;
    char path[CONFIG_PATH_MAX + 300];
    int killed = 0;
    if (!d) return 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "task-", 5) || !has_suffix(e->d_name, ".pgid")) continue;
        snprintf(path, sizeof path, "%s/%s", outputs_dir, e->d_name);
        long long pgid = 0;
        int r = runtime_proc_kill_recorded(path, &pgid);
        if (r > 0) killed++;
        if (r > 0 && !quiet)
            log_warn("%s: killed process group %lld, left running by a previous run of this worker",
                     e->d_name, pgid);
        unlink(path);
    }
    closedir(d);
    return killed;
}

/* The reaper: a process that outlives a killed worker. It waits for the
 * worker to die (even by SIGKILL: the pipe's write end closes with it),
 * then kills every task process group still recorded and, on Docker,
 * kills and deletes the containers of this run of the worker (label
 * cloudai.worker_run), so a task never runs on while the master retries
 * it elsewhere. (Each task's first process also has a parent-death
 * signal, but that reaches no process the task forked.)
 *
 * The child exec()s the worker binary again (/proc/self/exe --reaper ...):
 * a forked child of a threaded process may only make async-signal-safe
 * calls, and the Docker sweep needs libcurl and malloc (a forked sweep
 * once deadlocked on a lock another thread held at fork time). If the
 * exec fails, the child falls back to killing process groups only.
 * Returns the pipe's write end, which the worker keeps open; -1 if the
 * reaper could not start (the start-up sweep still covers a restart). */
static int reaper_start(const config *cfg, const char *run, const char *id, pid_t *pid_out)
{
    int p[2];
    char fdarg[16];
    if (pipe(p) < 0) return -1;
    fcntl(p[1], F_SETFD, FD_CLOEXEC);    /* no task may hold it open */
    fcntl(p[0], F_SETFD, FD_CLOEXEC);    /* nor the read end, but the reaper */
    snprintf(fdarg, sizeof fdarg, "%d", p[0]);
    char *const argv[] = { "cloudai-reaper", "--reaper", fdarg, (char *)cfg->outputs_dir,
                           (char *)cfg->runtime, (char *)cfg->docker_socket, (char *)run,
                           (char *)id, NULL };
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        char c;
        close(p[1]);
        fcntl(p[0], F_SETFD, 0);
        execv("/proc/self/exe", argv);
        /* No exec: what is safe here, process groups only. */
        prctl(PR_SET_NAME, "cloudai-reaper");
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        while (read(p[0], &c, 1) < 0 && errno == EINTR)
            ;
        sweep_groups(cfg->outputs_dir, 1);
        _exit(0);
    }
    close(p[0]);
    *pid_out = pid;
    return p[1];
}

/* worker --reaper FD OUTPUTS RUNTIME SOCKET RUN ID: the exec'd reaper
 * (reaper_start). Not a user command. */
int worker_reaper_main(int argc, char **argv)
{
    char c, err[512];
    if (argc < 2 || strcmp(argv[1], "--reaper") != 0) return -1;
    if (argc != 8) return 2;
    int fd = atoi(argv[2]);
    const char *outputs = argv[3], *rtname = argv[4], *sock = argv[5], *run = argv[6];
    char who[96];
    snprintf(who, sizeof who, "%.60s reaper", argv[7]);
    log_init(who, LOG_INFO);
    prctl(PR_SET_NAME, "cloudai-reaper");
    /* Stops only through the pipe: the worker handles the terminal's
     * signals; this must outlive it. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    ssize_t n;
    while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
        ;
    int k = sweep_groups(outputs, 1);
    if (k > 0)
        log_warn("the worker is gone; killed %d task process group(s)", k);
    if (strcmp(rtname, "process") != 0) {
        runtime *rt = runtime_docker_new(sock[0] ? sock : NULL, err, sizeof err);
        if (rt) {
            int r = runtime_sweep_run(rt, run, err, sizeof err);
            if (r > 0)
                log_warn("the worker is gone; removed %d of its container(s)", r);
            else if (r < 0)
                log_warn("the worker is gone; cannot remove its containers: %s", err);
            runtime_free(rt);
        }
    }
    return 0;
}

typedef struct refused {
    char stem[96];
    time_t mtime;
} refused;

static int refused_newer_first(const void *a, const void *b)
{
    const refused *x = a, *y = b;
    return x->mtime < y->mtime ? 1 : x->mtime > y->mtime ? -1 : strcmp(x->stem, y->stem);
}

static void remove_attempt(const worker *w, const char *stem)
{
    char path[CONFIG_PATH_MAX + 128];
    path_of(w, stem, "", path, sizeof path);
    fsutil_rm_rf(path);
    path_of(w, stem, ".log", path, sizeof path);
    unlink(path);
    path_of(w, stem, ".refused", path, sizeof path);
    unlink(path);
}

/* Refused outputs are kept for a person, within bounds: the newest
 * REFUSED_KEEP, none older than REFUSED_KEEP_S. */
static void reclaim_refused(worker *w, refused *list, size_t n)
{
    time_t now = time(NULL);
    if (n == 0) return;
    qsort(list, n, sizeof *list, refused_newer_first);
    for (size_t i = 0; i < n; i++) {
        if (i < REFUSED_KEEP && now - list[i].mtime < REFUSED_KEEP_S) continue;
        log_info("%s: removing a refused output (kept %lld days; the newest %d are kept for %d days)",
                 list[i].stem, (long long)((now - list[i].mtime) / 86400), REFUSED_KEEP,
                 REFUSED_KEEP_S / 86400);
        remove_attempt(w, list[i].stem);
    }
}

/* At start: kill what a previous run left running, upload held outputs
 * again (those with a .result), remove attempts interrupted mid-run (the
 * master re-queues those tasks) and stray logs, reclaim old refused
 * outputs. */
static void recover(worker *w)
{
    DIR *d;
    struct dirent *e;
    char path[CONFIG_PATH_MAX + 300], stem[256];
    refused *ref = NULL;
    size_t nref = 0, capref = 0;
    struct stat st;

    int k = sweep_groups(w->cfg->outputs_dir, 0);
    if (k > 0) log_warn("killed %d task process group(s) left by a previous run", k);
    if (!(d = opendir(w->cfg->outputs_dir))) return;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "task-", 5) || !has_suffix(e->d_name, ".result")) continue;
        snprintf(path, sizeof path, "%s/%s", w->cfg->outputs_dir, e->d_name);
        wtask *t = load_result(path);
        if (!t) continue;
        t->held = 1;
        log_info("task %s: found a held output from a previous run (%s); uploading it",
                 t->rec.task_id, t->stem);
        start_task(w, t);
    }
    rewinddir(d);
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        if (strncmp(name, "task-", 5)) continue;
        snprintf(path, sizeof path, "%s/%s", w->cfg->outputs_dir, name);
        if (has_suffix(name, ".input")) {      /* an attempt's copy of its inputs */
            fsutil_rm_rf(path);
            continue;
        }
        if (lstat(path, &st) < 0) continue;
        if (S_ISDIR(st.st_mode)) {
            snprintf(stem, sizeof stem, "%s", name);
        } else if (has_suffix(name, ".log") || has_suffix(name, ".refused")) {
            snprintf(stem, sizeof stem, "%.*s", (int)(strrchr(name, '.') - name), name);
        } else {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s.result", w->cfg->outputs_dir, stem);
        if (access(path, F_OK) == 0) continue;            /* held: uploading */
        if (has_suffix(name, ".refused")) {
            if (nref == capref) {
                size_t nc = capref ? capref * 2 : 16;
                refused *nr = realloc(ref, nc * sizeof *nr);
                if (!nr) continue;
                ref = nr;
                capref = nc;
            }
            snprintf(ref[nref].stem, sizeof ref[nref].stem, "%s", stem);
            ref[nref++].mtime = st.st_mtime;
            continue;
        }
        snprintf(path, sizeof path, "%s/%s.refused", w->cfg->outputs_dir, stem);
        if (access(path, F_OK) == 0) continue;            /* handled with its note */
        snprintf(path, sizeof path, "%s/%s", w->cfg->outputs_dir, stem);
        if (!S_ISDIR(st.st_mode) && access(path, F_OK) == 0)
            continue;                                     /* handled with its directory */
        if (S_ISDIR(st.st_mode))
            log_warn("%s: an attempt interrupted by a worker restart; removing its partial output",
                     stem);
        remove_attempt(w, stem);
    }
    closedir(d);
    reclaim_refused(w, ref, nref);
    free(ref);
}

int worker_run(const config *cfg, volatile int *stop, char *err, size_t errcap)
{
    worker w;
    pthread_t hb, ls;
    int rc, delay = 100, reaper_fd = -1;
    pid_t reaper = -1;
    char why[512] = "", rterr[512] = "";

    memset(&w, 0, sizeof w);
    w.own = *cfg;
    w.cfg = &w.own;
    w.stop = stop;
    w.ctl_fd = -1;
    pthread_mutex_init(&w.mu, NULL);
    pthread_mutex_init(&w.ctl_mu, NULL);
    chunk_tune_init(&w.tune);
    pthread_cond_init(&w.cv, NULL);
    pthread_cond_init(&w.lane_cv, NULL);
    pthread_cond_init(&w.log_cv, NULL);
    if (cfg->worker_id[0]) {
        snprintf(w.id, sizeof w.id, "%s", cfg->worker_id);
    } else {
        char host[256] = "worker";
        gethostname(host, sizeof host);
        host[sizeof host - 1] = 0;
        ids_sanitize(host, w.id, sizeof w.id);
    }
    w.free_cpu = cfg->cpu;
    w.free_mem = cfg->memory;
    w.free_gpu = (uint64_t)cfg->gpu;
    if ((rc = fsutil_mkdir_p(cfg->outputs_dir, 0755)) < 0) {
        snprintf(err, errcap, "cannot create outputs directory %s: %s", cfg->outputs_dir, cai_strerror(rc));
        return rc;
    }
    /* Docker bind mounts need an absolute source. */
    char *abs = realpath(cfg->outputs_dir, NULL);
    if (abs) {
        snprintf(w.own.outputs_dir, sizeof w.own.outputs_dir, "%s", abs);
        free(abs);
    }
    cfg = &w.own;
    /* Before any task thread exists (fork copies only this thread). */
    unsigned char rnd[6] = {0};
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        memcpy(rnd, &(pid_t){getpid()}, sizeof(pid_t));
    snprintf(w.run, sizeof w.run, "%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
             rnd[4], rnd[5]);
    if ((reaper_fd = reaper_start(cfg, w.run, w.id, &reaper)) < 0)
        log_warn("cannot start the reaper process (%s): tasks of a killed worker run on until it restarts",
                 strerror(errno));
    if (!strcmp(cfg->runtime, "process")) {
        w.rt = runtime_process_new(rterr, sizeof rterr);
    } else {
        w.rt = runtime_docker_new(cfg->docker_socket, rterr, sizeof rterr);
        if (!w.rt && !strcmp(cfg->runtime, "auto")) {
            log_warn("Docker engine not available (%s): using the process runtime (not isolated)", rterr);
            w.rt = runtime_process_new(rterr, sizeof rterr);
        }
    }
    if (!w.rt) {
        snprintf(err, errcap, "no runtime: %s", rterr);
        rc = -1;
        goto out;
    }
    if (!strcmp(runtime_name(w.rt), "process"))
        log_info("process runtime: %s", runtime_proc_cgroup(w.rt)[0]
                 ? "each task in a cgroup of its own, so none of its processes outlives it"
                 : "no writable cgroup v2 here: a task's processes are held by their process "
                   "group only (one that calls setsid escapes it)");
    log_info("worker %s: runtime %s, %.3g CPUs, %.1f GiB memory, %.1f GiB storage, %lld GPUs, outputs in %s",
             w.id, runtime_name(w.rt), cfg->cpu, cfg->memory / 1073741824.0,
             cfg->storage / 1073741824.0, (long long)cfg->gpu, cfg->outputs_dir);
    rc = runtime_sweep(w.rt, w.id, rterr, sizeof rterr);
    if (rc > 0)
        log_warn("removed %d container(s) a previous run of worker %s left behind", rc, w.id);
    else if (rc < 0)
        log_warn("cannot look for containers a previous run left behind: %s", rterr);
    /* Before recover: the spares of a previous run are removed. */
    if (spare_init(&w.spare_own, cfg->outputs_dir) == 0)
        w.spares = &w.spare_own;
    recover(&w);
    if (pthread_create(&hb, NULL, heartbeat_main, &w) != 0) {
        snprintf(err, errcap, "cannot start the heartbeat thread");
        runtime_free(w.rt);
        rc = -1;
        goto out;
    }
    if (pthread_create(&ls, NULL, logship_main, &w) != 0) {
        snprintf(err, errcap, "cannot start the log streaming thread");
        *w.stop = 1;
        pthread_join(hb, NULL);
        runtime_free(w.rt);
        rc = -1;
        goto out;
    }
    while (!*stop) {
        rc = session(&w, why, sizeof why);
        if (*stop) break;
        if (rc == 0) delay = 100;     /* it was up: reconnect quickly */
        log_warn("%s; reconnecting in %d ms", why, delay);
        for (int slept = 0; slept < delay && !*stop; slept += 50)
            sleep_ms(50);
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
    pthread_join(hb, NULL);
    pthread_join(ls, NULL);
    /* Task threads finish their upload attempts on stop; running tasks are
     * cancelled so nothing outlives the worker. */
    pthread_mutex_lock(&w.mu);
    for (wtask *t = w.tasks; t; t = t->next)
        if (t->running) runtime_cancel(w.rt, t->stem);   /* runs are keyed by stem */
    while (w.nthreads > 0) {
        wake_idle(&w);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&w.cv, &w.mu, &ts);
    }
    pthread_mutex_unlock(&w.mu);
    for (int i = 0; i < UPLOAD_LANES; i++)
        if (w.lanes[i].open) peer_close(&w.lanes[i].p);
    runtime_free(w.rt);
    if (w.spares) spare_free(w.spares);
    rc = 0;
out:
    if (reaper_fd >= 0) {
        close(reaper_fd);      /* the reaper sweeps (nothing left) and exits */
        /* Bounded: a stuck Docker daemon must not hold the worker's exit. */
        for (int i = 0; i < 100 && waitpid(reaper, NULL, WNOHANG) == 0; i++)
            sleep_ms(100);
    }
    return rc;
}
