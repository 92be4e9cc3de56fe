/* bench_submit.c — submits N trivial tasks over CONNS client connections
 * (threads) as fast as the master acknowledges them, so the scheduling
 * benchmark measures the cluster, not fork+exec of the CLI. The master
 * fdatasyncs before every SUBMIT_ACK and serves a connection's requests in
 * order, so one connection is bound by the disk's sync latency; several
 * connections let its group commit share one sync among many submissions.
 * Usage: bench_submit ADDR N CMD [IMAGE [CONNS]]. Prints "N SECONDS". */
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
        acked++;
    }
    j->rc = 0;
out:
    peer_close(&p);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_submit ADDR N CMD [IMAGE [CONNS]]\n");
        return 2;
    }
    long n = atol(argv[2]);
    int conns = argc > 5 ? atoi(argv[5]) : 1, rc = 0;
    if (conns < 1) conns = 1;
    if (conns > 64) conns = 64;
    job jobs[64];
    pthread_t th[64];
    double t0 = now_s();
    for (int i = 0; i < conns; i++) {
        jobs[i] = (job){argv[1], argv[3], argc > 4 ? argv[4] : "cloudai-test:latest",
                        n * i / conns, n * (i + 1) / conns - n * i / conns, 1};
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
    if (rc == 0) printf("%ld %.6f\n", n, now_s() - t0);
    return rc;
}
