/* bench_submit.c — submits N trivial tasks over CONNS client connections
 * (threads) as fast as the master acknowledges them, so the scheduling
 * benchmark measures the cluster, not fork+exec of the CLI. The master
 * fdatasyncs before every SUBMIT_ACK and serves a connection's requests in
 * order, so one connection is bound by the disk's sync latency; several
 * connections let its group commit share one sync among many submissions.
 * Usage: bench_submit ADDR N CMD [IMAGE [CONNS [WAIT]]]. Prints "N SECONDS"
 * (submitting); with WAIT = 1 it then waits for every task to end as a
 * user would (WAIT: the master pushes each end, nothing polls) and prints
 * "N SECONDS DONE_SECONDS COMPLETED", both times from the first submission. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "peer.h"
#include "proto.h"

#define WINDOW 128   /* the master acknowledges a burst after one sync */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int submit(peer *p, long i, const char *cmd, const char *image)
{
    char name[64];
    snprintf(name, sizeof name, "bench-%ld", i);
    proto_begin(&p->wb, PROTO_SUBMIT, 0);
    proto_put_str(&p->wb, T_DOCKER_IMAGE, image);
    proto_put_str(&p->wb, T_COMMAND, cmd);
    proto_put_str(&p->wb, T_TASK_NAME, name);
    proto_put_f64(&p->wb, T_REQ_CPU, 1);
    proto_put_u64(&p->wb, T_REQ_MEMORY, 64ull << 20);
    proto_put_u64(&p->wb, T_REQ_STORAGE, 1ull << 20);
    proto_put_u64(&p->wb, T_REQ_GPU, 0);
    return peer_send(p);
}

typedef struct job {
    const char *addr, *cmd, *image;
    long first, n;
    int rc;
    char (*ids)[64];          /* ids[first + k]: the k-th acknowledged task (WAIT mode) */
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    peer p;
    proto_msg m;
    char err[512];
    long sent = 0, acked = 0;
    j->rc = 1;
    if (peer_connect(&p, j->addr, PROTO_ROLE_CLIENT, "bench", NULL, 10000, err, sizeof err) < 0) {
        fprintf(stderr, "bench_submit: %s\n", err);
        return NULL;
    }
    memset(&m, 0, sizeof m);
    while (acked < j->n) {
        while (sent < j->n && sent - acked < WINDOW) {
            if (submit(&p, j->first + sent, j->cmd, j->image) < 0) {
                fprintf(stderr, "bench_submit: send failed after %ld\n", sent);
                goto out;
            }
            sent++;
        }
        if (peer_recv(&p, &m, 30000) < 0 || m.type != PROTO_SUBMIT_ACK) {
            if (m.type == PROTO_ERROR) peer_error_text(&m, err, sizeof err);
            else snprintf(err, sizeof err, "no SUBMIT_ACK");
            fprintf(stderr, "bench_submit: after %ld acks: %s\n", acked, err);
            goto out;
        }
        if (j->ids) {
            proto_field f;
            size_t it = 0;
            if (proto_next(&m, T_TASK, &it, &f)) {
                proto_msg sub;
                proto_rec_open(&f, &sub);
                proto_str(&sub, T_TASK_ID, j->ids[j->first + acked], sizeof j->ids[0]);
            }
        }
        acked++;
    }
    j->rc = 0;
out:
    peer_close(&p);
    return NULL;
}

/* Waits (WAIT, at most 10,000 ids a request) for ids[from, to) to end;
 * counts the completed ones. 0, or -1 with a message. */
static int wait_ends(const char *addr, char (*ids)[64], long from, long to, long *completed)
{
    peer p;
    proto_msg m;
    char err[512];
    long left = to - from;
    if (peer_connect(&p, addr, PROTO_ROLE_CLIENT, "bench", NULL, 10000, err, sizeof err) < 0) {
        fprintf(stderr, "bench_submit: %s\n", err);
        return -1;
    }
    proto_begin(&p.wb, PROTO_WAIT, 0);
    for (long i = from; i < to; i++) proto_put_str(&p.wb, T_TASK_ID, ids[i]);
    if (peer_send(&p) < 0) goto fail;
    while (left > 0) {
        if (peer_recv(&p, &m, 120000) < 0 || m.type != PROTO_TASK_LIST) goto fail;
        proto_field f;
        size_t it = 0;
        while (proto_next(&m, T_TASK, &it, &f)) {
            proto_msg sub;
            uint64_t st = 0;
            proto_rec_open(&f, &sub);
            proto_u64(&sub, T_STATUS, &st);
            if (st == PROTO_ST_COMPLETED) (*completed)++;
            left--;
        }
    }
    peer_close(&p);
    return 0;
fail:
    if (m.type == PROTO_ERROR) peer_error_text(&m, err, sizeof err);
    else snprintf(err, sizeof err, "no answer to WAIT");
    fprintf(stderr, "bench_submit: wait: %s (%ld left)\n", err, left);
    peer_close(&p);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_submit ADDR N CMD [IMAGE [CONNS]]\n");
        return 2;
    }
    long n = atol(argv[2]);
    int conns = argc > 5 ? atoi(argv[5]) : 1, rc = 0, wait = argc > 6 && atoi(argv[6]) == 1;
    if (conns < 1) conns = 1;
    if (conns > 64) conns = 64;
    char (*ids)[64] = wait ? calloc((size_t)(n > 0 ? n : 1), sizeof *ids) : NULL;
    if (wait && !ids) return 1;
    job jobs[64];
    pthread_t th[64];
    double t0 = now_s();
    for (int i = 0; i < conns; i++) {
        jobs[i] = (job){argv[1], argv[3], argc > 4 ? argv[4] : "cloudai-test:latest",
                        n * i / conns, n * (i + 1) / conns - n * i / conns, 1, ids};
        if (pthread_create(&th[i], NULL, run_job, &jobs[i]) != 0) {
            conns = i;
            rc = 1;
            break;
        }
    }
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        rc |= jobs[i].rc;
    }
    double t_sub = now_s() - t0;
    long completed = 0;
    for (long from = 0; wait && rc == 0 && from < n; from += 10000)
        if (wait_ends(argv[1], ids, from, from + 10000 < n ? from + 10000 : n, &completed) < 0) rc = 1;
    if (rc == 0 && wait) printf("%ld %.6f %.6f %ld\n", n, t_sub, now_s() - t0, completed);
    else if (rc == 0) printf("%ld %.6f\n", n, t_sub);
    free(ids);
    return rc;
}
