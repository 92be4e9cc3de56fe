/* bench_submit.c — submits N trivial tasks over one client connection as
 * fast as the master acknowledges them (a window of requests in flight), so
 * the scheduling benchmark measures the cluster, not fork+exec of the CLI.
 * Usage: bench_submit ADDR N CMD [IMAGE]. Prints "N SECONDS". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "peer.h"
#include "proto.h"

#define WINDOW 16

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

int main(int argc, char **argv)
{
    peer p;
    proto_msg m;
    char err[512];
    if (argc < 4) {
        fprintf(stderr, "usage: bench_submit ADDR N CMD [IMAGE]\n");
        return 2;
    }
    long n = atol(argv[2]), sent = 0, acked = 0;
    const char *image = argc > 4 ? argv[4] : "cloudai-test:latest";
    if (peer_connect(&p, argv[1], PROTO_ROLE_CLIENT, "bench", NULL, 10000, err, sizeof err) < 0) {
        fprintf(stderr, "bench_submit: %s\n", err);
        return 1;
    }
    memset(&m, 0, sizeof m);
    double t0 = now_s();
    while (acked < n) {
        while (sent < n && sent - acked < WINDOW) {
            if (submit(&p, sent, argv[3], image) < 0) {
                fprintf(stderr, "bench_submit: send failed after %ld\n", sent);
                return 1;
            }
            sent++;
        }
        if (peer_recv(&p, &m, 30000) < 0 || m.type != PROTO_SUBMIT_ACK) {
            if (m.type == PROTO_ERROR) peer_error_text(&m, err, sizeof err);
            else snprintf(err, sizeof err, "no SUBMIT_ACK");
            fprintf(stderr, "bench_submit: after %ld acks: %s\n", acked, err);
            return 1;
        }
        acked++;
    }
    printf("%ld %.6f\n", n, now_s() - t0);
    peer_close(&p);
    return 0;
}
