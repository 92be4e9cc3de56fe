/* test_net.c — sockets and framed I/O over real TCP on 127.0.0.1 (port 0)
 * and socketpairs: short writes, timeouts, orderly and mid-frame close,
 * an oversize header refused before its payload is read, and a throughput
 * figure for 1 MiB frames over loopback (printed, not asserted). */
#include "net.h"
#include "log.h"
#include "proto.h"
#include "t.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int tcp_pair(int *a, int *b)
{
    char bound[64];
    int lfd = net_listen("127.0.0.1:0", 8, bound, sizeof bound);
    if (lfd < 0) return lfd;
    *a = net_connect(bound, 2000);
    *b = *a >= 0 ? net_accept(lfd, NULL, 0) : -1;
    close(lfd);
    return *a >= 0 && *b >= 0 ? 0 : -1;
}

static struct sockaddr_in v4(const char *a)
{
    struct sockaddr_in s = { .sin_family = AF_INET };
    inet_pton(AF_INET, a, &s.sin_addr);
    return s;
}
static struct sockaddr_in6 v6(const char *a)
{
    struct sockaddr_in6 s = { .sin6_family = AF_INET6 };
    inet_pton(AF_INET6, a, &s.sin6_addr);
    return s;
}
#define SA(x) ((struct sockaddr *)&(x))

/* Same host: loopback in either family, or a connection to the address it
 * leaves from; another address, even next door, is a real link. */
static void test_is_local(void)
{
    struct sockaddr_in lo = v4("127.0.0.1"), lo5 = v4("127.3.0.5"), a = v4("10.0.0.1"),
                       b = v4("10.0.0.2");
    struct sockaddr_in6 l6 = v6("::1"), m6 = v6("::ffff:127.0.0.1"), f1 = v6("fe80::1"),
                        f2 = v6("fe80::2"), mx = v6("::ffff:10.0.0.2");
    T_EQ_INT(net_addr_is_local(SA(lo), SA(lo)), 1);
    T_EQ_INT(net_addr_is_local(SA(lo5), SA(a)), 1);
    T_EQ_INT(net_addr_is_local(SA(a), SA(a)), 1);
    T_EQ_INT(net_addr_is_local(SA(b), SA(a)), 0);
    T_EQ_INT(net_addr_is_local(SA(l6), SA(l6)), 1);
    T_EQ_INT(net_addr_is_local(SA(m6), SA(f1)), 1);
    T_EQ_INT(net_addr_is_local(SA(f1), SA(f1)), 1);
    T_EQ_INT(net_addr_is_local(SA(f2), SA(f1)), 0);
    T_EQ_INT(net_addr_is_local(SA(mx), SA(f1)), 0);
    T_EQ_INT(net_addr_is_local(SA(b), SA(f1)), 0);   /* families differ */

    int x, y, sp[2];
    T_EQ_INT(tcp_pair(&x, &y), 0);
    T_EQ_INT(net_is_local(x), 1);
    T_EQ_INT(net_is_local(y), 1);
    close(x); close(y);
    T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    T_EQ_INT(net_is_local(sp[0]), 1);
    close(sp[0]); close(sp[1]);
    int u = socket(AF_INET, SOCK_STREAM, 0);   /* no peer: unknown */
    T_EQ_INT(net_is_local(u), 0);
    close(u);
    T_EQ_INT(net_is_local(-1), 0);
}

static void test_split_hostport(void)
{
    char h[64], p[8];
    T_EQ_INT(net_split_hostport("example.org:7070", h, sizeof h, p, sizeof p), 0);
    T_EQ_STR(h, "example.org"); T_EQ_STR(p, "7070");
    T_EQ_INT(net_split_hostport(":0", h, sizeof h, p, sizeof p), 0);
    T_EQ_STR(h, ""); T_EQ_STR(p, "0");
    T_EQ_INT(net_split_hostport("[::1]:65535", h, sizeof h, p, sizeof p), 0);
    T_EQ_STR(h, "::1"); T_EQ_STR(p, "65535");
    const char *bad[] = { "", "host", "host:", ":", "h:65536", "h:12a", "::1:80", "[::1]80",
                          "[::1", "h:-1", "h:123456" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        T_EQ_INT(net_split_hostport(bad[i], h, sizeof h, p, sizeof p), -EINVAL);
    T_EQ_INT(net_split_hostport(NULL, h, sizeof h, p, sizeof p), -EINVAL);
    T_EQ_INT(net_split_hostport("longhostname:1", h, 4, p, sizeof p), -EINVAL);
}

static void test_listen_connect_accept(void)
{
    char bound[64] = "", peer[64] = "";
    int lfd = net_listen("127.0.0.1:0", 8, bound, sizeof bound);
    T_CHECK(lfd >= 0);
    T_CHECK(!strncmp(bound, "127.0.0.1:", 10));
    T_CHECK(strcmp(bound, "127.0.0.1:0") != 0);
    /* The same port again fails while it is held (no SO_REUSEPORT). */
    int l2 = net_listen(bound, 8, NULL, 0);
    T_EQ_INT(l2, -EADDRINUSE);
    if (l2 >= 0) close(l2);
    int c = net_connect(bound, 2000);
    T_CHECK(c >= 0);
    int s = net_accept(lfd, peer, sizeof peer);
    T_CHECK(s >= 0);
    T_CHECK(!strncmp(peer, "127.0.0.1:", 10));
    T_EQ_INT(net_write_full(c, "ping", 4, 1000), 0);
    char buf[4];
    size_t got = 0;
    T_EQ_INT(net_read_full(s, buf, 4, 1000, &got), 0);
    T_EQ_INT(got, 4);
    T_CHECK(!memcmp(buf, "ping", 4));
    close(c); close(s); close(lfd);
    /* Rebinding right after close works (SO_REUSEADDR, TIME_WAIT). */
    lfd = net_listen(bound, 8, NULL, 0);
    T_CHECK(lfd >= 0);
    if (lfd >= 0) close(lfd);
    /* Nothing listens there now. */
    T_EQ_INT(net_connect(bound, 2000), -ECONNREFUSED);
    T_EQ_INT(net_connect("nonsense", 100), -EINVAL);
    T_EQ_INT(net_listen("127.0.0.1:99999", 8, NULL, 0), -EINVAL);
    /* Empty host = all IPv4 addresses. */
    lfd = net_listen(":0", 8, bound, sizeof bound);
    T_CHECK(lfd >= 0 && !strncmp(bound, "0.0.0.0:", 8));
    if (lfd >= 0) close(lfd);
}

/* A listener with a full accept queue drops SYNs, so connect must give up
 * at its deadline. */
static void test_connect_timeout(void)
{
    char bound[64];
    int lfd = net_listen("127.0.0.1:0", 1, bound, sizeof bound);
    int fds[8], n = 0, rc = 0;
    T_CHECK(lfd >= 0);
    for (n = 0; n < 8; n++) {
        rc = net_connect(bound, 300);
        if (rc < 0) break;
        fds[n] = rc;
    }
    T_EQ_INT(rc, -ETIMEDOUT);
    for (int i = 0; i < n; i++) close(fds[i]);
    close(lfd);
}

static void test_read_write_edges(void)
{
    int sv[2];
    char buf[16];
    size_t got = 99;
    T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    T_EQ_INT(net_read_full(sv[0], buf, 4, 30, &got), -ETIMEDOUT);
    T_EQ_INT(got, 0);
    T_EQ_INT(net_write_full(sv[1], "abc", 3, 100), 0);
    T_EQ_INT(net_read_full(sv[0], buf, 4, 30, &got), -ETIMEDOUT);
    T_EQ_INT(got, 3);
    T_EQ_INT(net_write_full(sv[1], "d", 1, 100), 0);
    T_EQ_INT(net_read_full(sv[0], buf, 1, 100, &got), 0);
    T_EQ_INT(net_write_full(sv[1], "xy", 2, 100), 0);
    close(sv[1]);
    T_EQ_INT(net_read_full(sv[0], buf, 8, 100, &got), -EPIPE);
    T_EQ_INT(got, 2);
    T_EQ_INT(net_read_full(sv[0], buf, 0, 100, &got), 0);
    /* Writing to a closed peer is an error code, not SIGPIPE. */
    T_EQ_INT(net_write_full(sv[0], "z", 1, 100), -EPIPE);
    close(sv[0]);
    /* A peer that never reads: the write deadline holds. */
    T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    size_t big = 32u << 20;
    char *p = calloc(1, big);
    T_CHECK(p != NULL);
    if (p) T_EQ_INT(net_write_full(sv[0], p, big, 50), -ETIMEDOUT);
    free(p);
    close(sv[0]); close(sv[1]);
    /* Pipes work too (poll + read/write). */
    int pf[2];
    T_EQ_INT(pipe(pf), 0);
    T_EQ_INT(net_write_full(pf[1], "pipe", 4, 100), 0);
    T_EQ_INT(net_read_full(pf[0], buf, 4, 100, &got), 0);
    T_CHECK(!memcmp(buf, "pipe", 4));
    T_EQ_INT(net_read_full(pf[0], buf, 1, 20, &got), -ETIMEDOUT);
    close(pf[1]);
    T_EQ_INT(net_read_full(pf[0], buf, 1, 100, &got), -EPIPE);
    close(pf[0]);
}

/* ---- a writer thread that sends bytes one at a time ---- */

typedef struct trickle {
    int fd;
    const uint8_t *p;
    size_t n;
    int close_after;
} trickle;

static void *trickle_main(void *arg)
{
    trickle *t = arg;
    for (size_t i = 0; i < t->n; i++) {
        if (net_write_full(t->fd, t->p + i, 1, 2000) < 0) break;
        if (i % 7 == 0) sched_yield();
    }
    if (t->close_after) shutdown(t->fd, SHUT_WR);
    return NULL;
}

static void build_frames(proto_buf *all)
{
    proto_buf b;
    proto_buf_init(&b);
    all->len = 0;
    for (int i = 0; i < 5; i++) {
        proto_begin(&b, PROTO_TASK_STATUS, 0);
        char id[16];
        snprintf(id, sizeof id, "t-%d", i);
        proto_put_str(&b, T_TASK_ID, id);
        proto_put_u64(&b, T_STATUS, PROTO_ST_RUNNING);
        proto_put_str(&b, T_MESSAGE, "running \xe2\x9c\x93");
        proto_finish(&b);
        uint8_t *np = realloc(all->p, all->len + b.len);
        if (!np) break;
        all->p = np;
        memcpy(all->p + all->len, b.p, b.len);
        all->len += b.len;
    }
    proto_buf_free(&b);
}

static void test_frame_read_trickle(void)
{
    int a, b;
    T_EQ_INT(tcp_pair(&a, &b), 0);
    proto_buf all = { 0 };
    build_frames(&all);
    trickle t = { a, all.p, all.len, 1 };
    pthread_t th;
    T_EQ_INT(pthread_create(&th, NULL, trickle_main, &t), 0);
    frame_reader r;
    T_EQ_INT(frame_reader_init(&r, PROTO_PAYLOAD_MAX), 0);
    int i, rc = 0;
    for (i = 0; i < 10; i++) {
        proto_msg m;
        rc = frame_read(b, &r, &m, 5000, 5000);
        if (rc) break;
        T_EQ_INT(m.type, PROTO_TASK_STATUS);
        char id[16], want[16];
        snprintf(want, sizeof want, "t-%d", i);
        T_EQ_INT(proto_str(&m, T_TASK_ID, id, sizeof id), 0);
        T_EQ_STR(id, want);
    }
    T_EQ_INT(i, 5);
    T_EQ_INT(rc, -EPIPE);
    pthread_join(th, NULL);
    frame_reader_free(&r);
    free(all.p);
    close(a); close(b);
}

static void test_frame_timeouts_and_close(void)
{
    int sv[2];
    frame_reader r;
    proto_msg m;
    T_EQ_INT(frame_reader_init(&r, 1024), 0);
    T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    /* Idle: nothing arrives. */
    T_EQ_INT(frame_read(sv[0], &r, &m, 30, 1000), -ETIMEDOUT);
    /* Slowloris: 3 header bytes, then silence. */
    T_EQ_INT(net_write_full(sv[1], "\0\0\0", 3, 100), 0);
    T_EQ_INT(frame_read(sv[0], &r, &m, 1000, 50), -ETIMEDOUT);
    close(sv[0]); close(sv[1]);
    /* Header complete, payload short, then close: truncated. */
    T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    uint8_t h[10] = { 0, 0, 0, 10, 0, PROTO_OK, 0, 0, T_SEQ, PROTO_K_U64 };
    T_EQ_INT(net_write_full(sv[1], h, sizeof h, 100), 0);
    shutdown(sv[1], SHUT_WR);
    T_EQ_INT(frame_read(sv[0], &r, &m, 1000, 1000), PROTO_E_TRUNCATED);
    close(sv[0]); close(sv[1]);
    /* Close mid-header: truncated too; close before a header: -EPIPE. */
    T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    T_EQ_INT(net_write_full(sv[1], h, 5, 100), 0);
    close(sv[1]);
    T_EQ_INT(frame_read(sv[0], &r, &m, 1000, 1000), PROTO_E_TRUNCATED);
    close(sv[0]);
    T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    T_EQ_INT(frame_read(sv[0], &r, &m, 1000, 1000), -EPIPE);
    close(sv[0]);
    frame_reader_free(&r);
}

/* A 4 GiB length is refused from the header alone: the bytes after it are
 * still unread in the socket afterwards. */
static void test_frame_bad_headers(void)
{
    int sv[2];
    frame_reader r;
    proto_msg m;
    char rest[4];
    size_t got;
    T_EQ_INT(frame_reader_init(&r, 1024), 0);
    const struct { uint8_t h[8]; int rc; } cases[] = {
        { { 0xff, 0xff, 0xff, 0xff, 0, PROTO_OK, 0, 0 }, PROTO_E_TOOBIG },
        { { 0, 0, 4, 1, 0, PROTO_OK, 0, 0 }, PROTO_E_TOOBIG },          /* 1025 > r.max */
        { { 0, 0, 0, 4, 0, 0, 0, 0 }, PROTO_E_TYPE },
        { { 0, 0, 0, 4, 0, PROTO_TYPE_MAX + 1, 0, 0 }, PROTO_E_TYPE },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        T_EQ_INT(net_write_full(sv[1], cases[i].h, 8, 100), 0);
        T_EQ_INT(net_write_full(sv[1], "ABCD", 4, 100), 0);
        T_EQ_INT(frame_read(sv[0], &r, &m, 1000, 1000), cases[i].rc);
        T_EQ_INT(net_read_full(sv[0], rest, 4, 100, &got), 0);
        T_CHECK(!memcmp(rest, "ABCD", 4));
        close(sv[0]); close(sv[1]);
    }
    /* A bad payload reports the decoder's code. */
    T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    uint8_t f[18] = { 0, 0, 0, 10, 0, PROTO_OK, 0, 0, T_STATUS, PROTO_K_U64, 0, 0, 0, 0, 0, 0, 0, 9 };
    T_EQ_INT(net_write_full(sv[1], f, sizeof f, 100), 0);
    T_EQ_INT(frame_read(sv[0], &r, &m, 1000, 1000), PROTO_E_RANGE);
    f[17] = 3;
    T_EQ_INT(net_write_full(sv[1], f, sizeof f, 100), 0);
    T_EQ_INT(frame_read(sv[0], &r, &m, 1000, 1000), 0);
    T_EQ_INT(m.type, PROTO_OK);
    close(sv[0]); close(sv[1]);
    /* frame_write refuses an unfinished/failed buffer without writing. */
    proto_buf b;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_OK, 0);
    proto_put_u64(&b, T_STATUS, 0);
    T_EQ_INT(frame_write(-1, &b, 100), PROTO_E_RANGE);
    proto_buf_free(&b);
    frame_reader_free(&r);
    /* frame_reader_init caps its buffer at PROTO_PAYLOAD_MAX. */
    T_EQ_INT(frame_reader_init(&r, UINT32_MAX), 0);
    T_EQ_INT(r.max, PROTO_PAYLOAD_MAX);
    frame_reader_free(&r);
}

/* ---- full-size frames both ways, and a throughput figure ---- */

typedef struct bulk { int fd; int frames; int rc; } bulk;

static void *bulk_writer(void *arg)
{
    bulk *k = arg;
    proto_buf b;
    proto_buf_init(&b);
    uint8_t *data = malloc(PROTO_CHUNK_MAX);
    if (!data) { k->rc = -ENOMEM; return NULL; }
    for (size_t i = 0; i < PROTO_CHUNK_MAX; i++) data[i] = (uint8_t)(i * 31);
    for (int i = 0; i < k->frames && !k->rc; i++) {
        proto_begin(&b, PROTO_FILE_CHUNK, 0);
        proto_put_str(&b, T_TASK_ID, "t-bulk");
        proto_put_u64(&b, T_SEQ, (uint64_t)i);
        proto_put_u64(&b, T_OFFSET, (uint64_t)i * PROTO_CHUNK_MAX);
        proto_put_u64(&b, T_CRC32, 0);
        proto_put_bytes(&b, T_DATA, data, PROTO_CHUNK_MAX);
        k->rc = frame_write(k->fd, &b, 10000);
    }
    free(data);
    proto_buf_free(&b);
    return NULL;
}

static void test_frame_bulk(void)
{
    int a, b;
    T_EQ_INT(tcp_pair(&a, &b), 0);
    bulk k = { a, 64, 0 };
    pthread_t th;
    frame_reader r;
    T_EQ_INT(frame_reader_init(&r, PROTO_PAYLOAD_MAX), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    T_EQ_INT(pthread_create(&th, NULL, bulk_writer, &k), 0);
    int got = 0;
    for (int i = 0; i < k.frames; i++) {
        proto_msg m;
        int rc = frame_read(b, &r, &m, 10000, 10000);
        if (rc) { T_EQ_INT(rc, 0); break; }
        uint64_t seq = 99;
        proto_field f;
        T_EQ_INT(proto_u64(&m, T_SEQ, &seq), 0);
        T_CHECK(seq == (uint64_t)i);
        T_EQ_INT(proto_get(&m, T_DATA, &f), 0);
        T_EQ_INT(f.len, PROTO_CHUNK_MAX);
        T_CHECK(f.p[12345] == (uint8_t)(12345 * 31));
        got++;
    }
    pthread_join(th, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    T_EQ_INT(k.rc, 0);
    T_EQ_INT(got, 64);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("# 64 x 1 MiB FILE_CHUNK frames over loopback (encode+write+read+validate): %.0f MiB/s\n",
           s > 0 ? 64 / s : 0);
    frame_reader_free(&r);
    close(a); close(b);
}

/* log.c writes one line per call; check the format through a pipe. */
static void test_log_format(void)
{
    int pf[2];
    T_EQ_INT(pipe(pf), 0);
    int saved = dup(2);
    dup2(pf[1], 2);
    log_init("test w1", LOG_INFO);
    log_debug("hidden %d", 1);
    errno = EAGAIN;
    log_warn("disk %s\nsecond", "full");
    int e = errno;
    log_set_level(LOG_DEBUG);
    log_debug("shown");
    dup2(saved, 2);
    close(saved);
    close(pf[1]);
    char buf[512] = "";
    size_t got = 0;
    net_read_full(pf[0], buf, sizeof buf - 1, 1000, &got);
    buf[got] = 0;
    close(pf[0]);
    T_EQ_INT(e, EAGAIN);
    /* "2026-11-28T14:45:33.123Z WARN [test w1] disk full second\n" */
    char *nl = strchr(buf, '\n');
    T_CHECK(nl != NULL);
    T_CHECK(strlen(buf) > 24 && buf[4] == '-' && buf[10] == 'T' && buf[19] == '.' && buf[23] == 'Z');
    T_CHECK(strstr(buf, " WARN [test w1] disk full second\n") == buf + 24);
    T_CHECK(nl && strstr(nl + 1, " DEBUG [test w1] shown\n") != NULL);
    T_CHECK(strstr(buf, "hidden") == NULL);
    log_init("test", LOG_INFO);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL);   /* a missing MSG_NOSIGNAL would kill us */
    T_RUN(test_split_hostport);
    T_RUN(test_is_local);
    T_RUN(test_listen_connect_accept);
    T_RUN(test_connect_timeout);
    T_RUN(test_read_write_edges);
    T_RUN(test_frame_read_trickle);
    T_RUN(test_frame_timeouts_and_close);
    T_RUN(test_frame_bad_headers);
    T_RUN(test_frame_bulk);
    T_RUN(test_log_format);
    return T_DONE();
}
