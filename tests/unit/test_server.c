/* test_server.c — the master's TCP front in-process (real cluster, real
 * journal store in a temp dir, real sockets on 127.0.0.1 port 0): before
 * the handshake, a frame over the size limit, a frame of an unknown type
 * and a frame other than HELLO are each answered with ERROR and the
 * connection closed; a wrong cluster token is refused in the handshake,
 * the right one welcomed; LIST_TASKS for another user's tasks is
 * refused (FORBIDDEN), one's own answered; the server keeps serving the next connection;
 * and the master is torn down (server_free, then uploads, cluster and
 * store) under load: clients mid-handshake, idle, and looping over
 * LIST_TASKS, then their sockets closed: no connection thread may touch
 * the freed server (ASan). */
#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "config.h"
#include "fsutil.h"
#include "net.h"
#include "peer.h"
#include "proto.h"
#include "master/cluster.h"
#include "master/meta.h"
#include "master/server.h"
#include "master/store.h"
#include "runfix.h"
#include "err.h"
#include "master/upload.h"

#define TOKEN "test-server-cluster-token-0123456789abcdef"
#define ALICE "alice-token-0123456789abcdef0123456789"

static char root[64], bound[128];
static config cfg;
static meta *m;
static cluster *cl;
static uploads *up;
static server *srv;
static pthread_t th;

static void *serve(void *arg)
{
    server_run(arg);
    return NULL;
}

static int setup(void)
{
    char err[256];
    uint64_t dropped = 0;
    snprintf(root, sizeof root, "/tmp/test_server.XXXXXX");
    if (!mkdtemp(root)) return -1;
    config_defaults(&cfg);
    snprintf(cfg.files_dir, sizeof cfg.files_dir, "%s/files", root);
    snprintf(cfg.meta_dir, sizeof cfg.meta_dir, "%s/meta", root);
    snprintf(cfg.listen, sizeof cfg.listen, "127.0.0.1:0");
    snprintf(cfg.cluster_token, sizeof cfg.cluster_token, "%s", TOKEN);
    snprintf(cfg.users[0].name, sizeof cfg.users[0].name, "alice");
    snprintf(cfg.users[0].token, sizeof cfg.users[0].token, "%s", ALICE);
    snprintf(cfg.users[1].name, sizeof cfg.users[1].name, "bob");
    snprintf(cfg.users[1].token, sizeof cfg.users[1].token, "bob-token-0123456789abcdef0123456789");
    cfg.nusers = 2;
    fsutil_mkdir_p(cfg.meta_dir, 0700);
    fsutil_mkdir_p(cfg.files_dir, 0700);
    if (!(m = meta_open_journal(cfg.meta_dir, 0, &dropped, err, sizeof err)) ||
        !(cl = cluster_new(&cfg, m, err, sizeof err)) ||
        !(up = uploads_new(cl, err, sizeof err)) ||
        !(srv = server_new(&cfg, cl, up, bound, sizeof bound, err, sizeof err))) {
        printf("# setup: %s\n", err);
        return -1;
    }
    return pthread_create(&th, NULL, serve, srv) ? -1 : 0;
}

static int finish(int rc)
{
    if (srv) {
        server_stop(srv);
        pthread_join(th, NULL);
        server_free(srv);
    }
    uploads_free(up);
    cluster_free(cl);
    meta_close(m);
    fsutil_rm_rf(root);
    fflush(stdout);
    return rc;
}

static void put_hdr(uint8_t *h, uint32_t len, uint16_t type)
{
    h[0] = (uint8_t)(len >> 24); h[1] = (uint8_t)(len >> 16);
    h[2] = (uint8_t)(len >> 8); h[3] = (uint8_t)len;
    h[4] = (uint8_t)(type >> 8); h[5] = (uint8_t)type;
    h[6] = h[7] = 0;
}

/* Connects, reads CHALLENGE, writes the bytes, expects ERROR then EOF. */
static void refused(const uint8_t *bytes, size_t n, const char *what)
{
    frame_reader rd;
    proto_msg msg;
    T_EQ_INT(frame_reader_init(&rd, 1 << 20), 0);
    int fd = net_connect(bound, 5000);
    T_CHECK(fd >= 0);
    if (fd < 0) { frame_reader_free(&rd); return; }
    T_EQ_INT(frame_read(fd, &rd, &msg, 5000, 5000), 0);
    T_EQ_INT(msg.type, PROTO_CHALLENGE);
    T_EQ_INT(net_write_full(fd, bytes, n, 5000), 0);
    int rc = frame_read(fd, &rd, &msg, 10000, 10000);
    if (rc != 0 || msg.type != PROTO_ERROR) printf("# %s: rc %d type %d\n", what, rc, rc ? -1 : msg.type);
    T_EQ_INT(rc, 0);
    T_EQ_INT(msg.type, PROTO_ERROR);
    uint64_t code = 0;
    T_EQ_INT(proto_u64(&msg, T_CODE, &code), 0);
    printf("#   %s: ERROR %s\n", what, proto_err_name(code));
    T_EQ_INT(frame_read(fd, &rd, &msg, 10000, 10000), -EPIPE);   /* then closed */
    close(fd);
    frame_reader_free(&rd);
}

static void test_oversized(void)
{
    uint8_t h[8];
    put_hdr(h, 0x7fffffffu, PROTO_HELLO);
    refused(h, sizeof h, "oversized frame");
}

static void test_unknown_type(void)
{
    uint8_t h[8];
    put_hdr(h, 0, 999);
    refused(h, sizeof h, "unknown frame type");
}

static void test_before_hello(void)
{
    proto_buf b;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_LIST_TASKS, 0);
    T_EQ_INT(proto_finish(&b), 0);
    refused(b.p, b.len, "LIST_TASKS before HELLO");
    proto_buf_free(&b);
}

/* A worker with the wrong cluster token is refused in the handshake; the
 * right one is welcomed. */
static void test_handshake(void)
{
    peer p;
    char err[256] = "";
    int rc = peer_connect(&p, bound, PROTO_ROLE_WORKER, "w-bad", "not-the-token", 5000, err, sizeof err);
    printf("#   wrong token: %d %s\n", rc, err);
    T_EQ_INT(rc, -EACCES);
    T_CHECK(err[0] != 0);
    rc = peer_connect(&p, bound, PROTO_ROLE_WORKER, "w-good", TOKEN, 5000, err, sizeof err);
    if (rc) printf("#   right token: %d %s\n", rc, err);
    T_EQ_INT(rc, 0);
    if (rc == 0) peer_close(&p);
}

/* LIST_TASKS: a non-admin asking for another user's tasks is refused
 * (FORBIDDEN, as over HTTP); her own listing is answered. */
static void test_list_other_user(void)
{
    peer p;
    proto_msg msg;
    char err[256] = "";
    int rc = peer_connect(&p, bound, PROTO_ROLE_CLIENT, "alice", ALICE, 5000, err, sizeof err);
    if (rc) printf("#   alice: %d %s\n", rc, err);
    T_EQ_INT(rc, 0);
    if (rc) return;
    proto_begin(&p.wb, PROTO_LIST_TASKS, 0);
    proto_put_str(&p.wb, T_USER_ID, "bob");
    T_EQ_INT(peer_send(&p), 0);
    T_EQ_INT(peer_recv(&p, &msg, 10000), 0);
    T_EQ_INT(msg.type, PROTO_ERROR);
    uint64_t code = 0;
    proto_u64(&msg, T_CODE, &code);
    T_EQ_INT(code, PROTO_ERR_FORBIDDEN);
    peer_close(&p);
    rc = peer_connect(&p, bound, PROTO_ROLE_CLIENT, "alice", ALICE, 5000, err, sizeof err);
    T_EQ_INT(rc, 0);
    if (rc) return;
    proto_begin(&p.wb, PROTO_LIST_TASKS, 0);
    proto_put_str(&p.wb, T_USER_ID, "alice");
    T_EQ_INT(peer_send(&p), 0);
    T_EQ_INT(peer_recv(&p, &msg, 10000), 0);
    T_EQ_INT(msg.type, PROTO_TASK_LIST);
    peer_close(&p);
}

/* TASK records in a TASK_LIST frame. */
static int count_tasks(const proto_msg *msg)
{
    size_t pos = 0;
    proto_field f;
    int n = 0;
    while (proto_next(msg, T_TASK, &pos, &f)) n++;
    return n;
}

/* LIST_TASKS honours WORKER_ID and TASK_NAME (proto.txt 18): a queued
 * task (no worker yet) is listed by its name, not under a worker. */
static void test_list_filters(void)
{
    peer p;
    proto_msg msg;
    char err[256] = "";
    task_rec t, out;
    task_rec_init(&t);
    task_rec_init(&out);
    snprintf(t.docker_image, sizeof t.docker_image, "img");
    snprintf(t.task_name, sizeof t.task_name, "filtered");
    t.req_cpu = 1;
    t.req_memory = 1 << 20;
    int rc = cluster_submit(cl, &t, "alice", err, sizeof err, &out);
    if (rc) printf("#   submit: %d %s\n", rc, err);
    T_EQ_INT(rc, 0);
    rc = peer_connect(&p, bound, PROTO_ROLE_CLIENT, "alice", ALICE, 5000, err, sizeof err);
    T_EQ_INT(rc, 0);
    if (rc) goto out;
    proto_begin(&p.wb, PROTO_LIST_TASKS, 0);
    proto_put_str(&p.wb, T_TASK_NAME, "filtered");
    T_EQ_INT(peer_send(&p), 0);
    T_EQ_INT(peer_recv(&p, &msg, 10000), 0);
    T_EQ_INT(msg.type, PROTO_TASK_LIST);
    T_EQ_INT(count_tasks(&msg), 1);
    proto_begin(&p.wb, PROTO_LIST_TASKS, 0);
    proto_put_str(&p.wb, T_TASK_NAME, "filtered");
    proto_put_str(&p.wb, T_WORKER_ID, "w9");
    T_EQ_INT(peer_send(&p), 0);
    T_EQ_INT(peer_recv(&p, &msg, 10000), 0);
    T_EQ_INT(msg.type, PROTO_TASK_LIST);
    T_EQ_INT(count_tasks(&msg), 0);
    peer_close(&p);
out:
    task_rec_free(&t);
    task_rec_free(&out);
}

/* Load for the teardown: a client listing in a loop until its
 * connection ends. */
static void *lister(void *arg)
{
    peer *p = arg;
    proto_msg msg;
    for (int i = 0; i < 1000000; i++) {
        proto_begin(&p->wb, PROTO_LIST_TASKS, 0);
        if (peer_send(p) < 0 || peer_recv(p, &msg, 10000) < 0) break;
    }
    return NULL;
}

/* server_check_sub answers in the one error space: CAI_E_WIRE codes
 * (negative, cai_wire_code gives the wire code back), never a bare
 * positive PROTO_ERR_*. */
static void test_check_sub_codes(void)
{
    char err[256] = "", dir[CONFIG_PATH_MAX + 512];
    task_rec t;
    runfix_task(&t, "task-1-00000000000c", "alice", "sub", 1764340000000ull);
    T_EQ_INT(runfix_run(&cfg, &t, dir, sizeof dir), 0);
    T_EQ_INT(server_check_sub(&cfg, &t, "a.txt", err, sizeof err), 0);
    int rc = server_check_sub(&cfg, &t, "missing", err, sizeof err);
    T_EQ_INT(rc, CAI_E_WIRE(PROTO_ERR_NOT_FOUND));
    T_EQ_INT(cai_wire_code(rc), PROTO_ERR_NOT_FOUND);
    T_EQ_INT(server_check_sub(&cfg, &t, "/etc/passwd", err, sizeof err),
             CAI_E_WIRE(PROTO_ERR_BAD_REQUEST));
    rc = server_check_sub(&cfg, &t, "l", err, sizeof err);
    T_EQ_INT(rc, CAI_E_WIRE(PROTO_ERR_BAD_REQUEST));
    T_CHECK(strstr(err, "symbolic link") != NULL);
    task_rec_free(&t);
}

static void test_free_under_load(void)
{
    enum { NRAW = 6, NIDLE = 4, NLIST = 4 };
    int raw[NRAW];
    peer idle[NIDLE], busy[NLIST];
    pthread_t lt[NLIST];
    char err[256] = "";
    int nidle = 0, nbusy = 0;
    for (int i = 0; i < NRAW; i++) raw[i] = net_connect(bound, 5000);   /* never HELLO */
    for (int i = 0; i < NIDLE; i++)
        if (peer_connect(&idle[nidle], bound, PROTO_ROLE_CLIENT, "alice", ALICE, 5000, err, sizeof err) == 0)
            nidle++;
    for (int i = 0; i < NLIST; i++)
        if (peer_connect(&busy[nbusy], bound, PROTO_ROLE_CLIENT, "alice", ALICE, 5000, err, sizeof err) == 0 &&
            pthread_create(&lt[nbusy], NULL, lister, &busy[nbusy]) == 0)
            nbusy++;
    T_EQ_INT(nidle, NIDLE);
    T_EQ_INT(nbusy, NLIST);
    usleep(100 * 1000);               /* the listers are mid-request */
    server_stop(srv);
    pthread_join(th, NULL);
    server_free(srv);                 /* waits for every connection thread */
    srv = NULL;
    for (int i = 0; i < nbusy; i++) pthread_join(lt[i], NULL);
    for (int i = 0; i < NRAW; i++) if (raw[i] >= 0) close(raw[i]);
    for (int i = 0; i < nidle; i++) peer_close(&idle[i]);
    for (int i = 0; i < nbusy; i++) peer_close(&busy[i]);
    /* Anything still running would now find the server gone. */
    usleep(200 * 1000);
    uploads_free(up);
    up = NULL;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (setup() != 0) {
        T_CHECK(0);
        return finish(T_DONE());
    }
    T_RUN(test_oversized);
    T_RUN(test_unknown_type);
    T_RUN(test_before_hello);
    T_RUN(test_handshake);
    T_RUN(test_list_other_user);
    T_RUN(test_check_sub_codes);
    T_RUN(test_list_filters);
    T_RUN(test_free_under_load);
    return finish(T_DONE());
}
