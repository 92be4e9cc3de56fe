/* probe_latency.c — measures, for SECONDS, how fast the master answers
 * while something else (a paused metadata store) goes on: LIST_WORKERS and
 * LIST_TASKS round trips on one client connection, and a heartbeat's
 * latency (sent on a worker connection of its own, "probe", registered
 * with no resources so it is never given a task; measured until the
 * master's worker list shows it). One connection each, so the figures
 * are the master's, not fork+exec of the CLI.
 * Usage: probe_latency ADDR SECONDS [MARKER_FILE]. Until MARKER_FILE
 * exists (if given) samples are taken but not counted.
 * Prints one line per kind:
 *   <kind> n=<samples> median_ms=<m> p90_ms=<p> max_ms=<x>
 * then "degraded=<TASK_LIST answers with a MESSAGE note>". Exit 1 on a
 * protocol or connection failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "peer.h"
#include "proto.h"
#include "records.h"

#define MAXS 100000

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

typedef struct series { const char *name; double *v; size_t n; } series;

static void add(series *s, double ms)
{
    if (s->n < MAXS) s->v[s->n++] = ms;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(series *s)
{
    if (!s->n) { printf("%s n=0\n", s->name); return; }
    qsort(s->v, s->n, sizeof *s->v, cmp);
    printf("%s n=%zu median_ms=%.1f p90_ms=%.1f max_ms=%.1f\n", s->name, s->n, s->v[s->n / 2],
           s->v[s->n * 9 / 10], s->v[s->n - 1]);
}

/* One listing: sends type, reads frames until MORE is 0. *probe_seen gets
 * the probe worker's last_seen (WORKER_LIST), *note whether a MESSAGE
 * came (TASK_LIST). 0 or -1. */
static int list(peer *p, uint16_t type, uint16_t reply, uint64_t *probe_seen, int *note)
{
    proto_msg m;
    proto_begin(&p->wb, type, 0);
    if (peer_send(p) < 0) return -1;
    for (;;) {
        uint64_t more = 0;
        if (peer_recv(p, &m, 60000) < 0 || m.type != reply) {
            char err[256] = "no reply";
            if (m.type == PROTO_ERROR) peer_error_text(&m, err, sizeof err);
            fprintf(stderr, "probe_latency: %s: %s\n", proto_type_name(type), err);
            return -1;
        }
        if (probe_seen) {
            proto_field f;
            size_t it = 0;
            while (proto_next(&m, T_WORKER, &it, &f)) {
                proto_msg sub;
                worker_rec w;
                memset(&w, 0, sizeof w);
                proto_rec_open(&f, &sub);
                if (worker_rec_get(&sub, &w) == 0 && !strcmp(w.worker_id, "probe"))
                    *probe_seen = w.last_seen;
            }
        }
        proto_u64(&m, T_MORE, &more);
        if (!more) {
            char msg[512];
            if (note) *note = proto_str(&m, T_MESSAGE, msg, sizeof msg) == 0 && msg[0];
            return 0;
        }
    }
}

int main(int argc, char **argv)
{
    peer pc, pw;
    proto_msg m;
    char err[512];
    series hb = { "heartbeat", NULL, 0 }, wl = { "workers", NULL, 0 }, tl = { "tasks", NULL, 0 };
    int degraded = 0, rc = 1;
    if (argc < 3) {
        fprintf(stderr, "usage: probe_latency ADDR SECONDS [MARKER_FILE]\n");
        return 2;
    }
    const char *marker = argc > 3 ? argv[3] : NULL;
    double end = mono_ms() + atof(argv[2]) * 1000;
    hb.v = calloc(MAXS, sizeof(double));
    wl.v = calloc(MAXS, sizeof(double));
    tl.v = calloc(MAXS, sizeof(double));
    if (!hb.v || !wl.v || !tl.v) return 2;
    if (peer_connect(&pc, argv[1], PROTO_ROLE_CLIENT, "tester", NULL, 10000, err, sizeof err) < 0 ||
        peer_connect(&pw, argv[1], PROTO_ROLE_WORKER, "probe", NULL, 10000, err, sizeof err) < 0) {
        fprintf(stderr, "probe_latency: %s\n", err);
        return 1;
    }
    worker_rec w;
    memset(&w, 0, sizeof w);
    snprintf(w.worker_id, sizeof w.worker_id, "probe");
    proto_begin(&pw.wb, PROTO_REGISTER, 0);
    worker_rec_put(&pw.wb, &w);
    if (peer_send(&pw) < 0 || peer_recv(&pw, &m, 30000) < 0 || m.type != PROTO_OK) {
        fprintf(stderr, "probe_latency: REGISTER not answered\n");
        goto out;
    }
    while (mono_ms() < end) {
        struct stat st;
        int counting = !marker || stat(marker, &st) == 0, note = 0;
        /* Heartbeat: sent, then watched for in the worker list. The master
         * stamps last_seen with its wall clock; the same machine's. */
        uint64_t sent = wall_ms(), seen = 0;
        double t0 = mono_ms();
        proto_begin(&pw.wb, PROTO_HEARTBEAT, 0);
        worker_rec_put(&pw.wb, &w);
        if (peer_send(&pw) < 0) goto out;
        for (int i = 0; i < 100000 && seen < sent; i++) {
            double l0 = mono_ms();
            if (list(&pc, PROTO_LIST_WORKERS, PROTO_WORKER_LIST, &seen, NULL) < 0) goto out;
            if (counting) add(&wl, mono_ms() - l0);
            if (mono_ms() > end + 60000) break;
        }
        if (counting) add(&hb, mono_ms() - t0);
        double l0 = mono_ms();
        if (list(&pc, PROTO_LIST_TASKS, PROTO_TASK_LIST, NULL, &note) < 0) goto out;
        if (counting) {
            add(&tl, mono_ms() - l0);
            degraded += note;
        }
        usleep(20000);
    }
    report(&hb);
    report(&wl);
    report(&tl);
    printf("degraded=%d\n", degraded);
    rc = 0;
out:
    peer_close(&pc);
    peer_close(&pw);
    free(hb.v);
    free(wl.v);
    free(tl.v);
    return rc;
}
