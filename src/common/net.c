/* net.c — TCP sockets and framed I/O. Every wait goes through poll() with
 * a deadline, so no peer can hold a thread longer than the caller allows;
 * sends use MSG_NOSIGNAL so a vanished peer is an error code, not SIGPIPE.
 * Reads and writes use MSG_DONTWAIT, which makes the deadline hold on
 * blocking sockets too (accept()ed sockets stay blocking). */
#include "net.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline (-1 = forever), for poll(). */
static int remaining(int64_t deadline)
{
    if (deadline < 0) return -1;
    int64_t left = deadline - now_ms();
    if (left <= 0) return 0;
    return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

static int64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* Waits for events on fd; 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, remaining(deadline));
        if (n > 0) return 0;     /* ready, or HUP/ERR: the next call reports it */
        if (n == 0) return -ETIMEDOUT;
        if (errno != EINTR) return -errno;
    }
}

int net_split_hostport(const char *hostport, char *host, size_t hostcap, char *port, size_t portcap)
{
    if (!hostport) return -EINVAL;
    const char *h = hostport, *hend, *colon;
    if (*h == '[') {
        hend = strchr(h, ']');
        if (!hend || hend[1] != ':') return -EINVAL;
        h++;
        colon = hend + 1;
    } else {
        colon = strrchr(h, ':');
        if (!colon) return -EINVAL;
        hend = colon;
        if (memchr(h, ':', (size_t)(hend - h))) return -EINVAL;  /* bare v6 needs [] */
    }
    const char *p = colon + 1;
    size_t hl = (size_t)(hend - h), pl = strlen(p);
    if (pl == 0 || pl > 5 || strspn(p, "0123456789") != pl || atoi(p) > 65535) return -EINVAL;
    if (hl + 1 > hostcap || pl + 1 > portcap) return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, p, pl + 1);
    return 0;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (!out || cap == 0) return;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%u", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%u", host, port);
    } else {
        snprintf(out, cap, "unix");
    }
}

/* An empty host means every IPv4 address when listening and the local
 * host when connecting, so ":7070" works on both sides. */
static int resolve(const char *hostport, int passive, struct addrinfo **res)
{
    char host[256], port[8];
    int rc = net_split_hostport(hostport, host, sizeof host, port, sizeof port);
    if (rc) return rc;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC };
    if (passive) hints.ai_flags = AI_PASSIVE;
    hints.ai_flags |= AI_NUMERICSERV;
    const char *node = host[0] ? host : (passive ? "0.0.0.0" : "127.0.0.1");
    int g = getaddrinfo(node, port, &hints, res);
    if (g == EAI_SYSTEM) return errno ? -errno : -EINVAL;
    if (g == EAI_MEMORY) return -ENOMEM;
    if (g) return -EHOSTUNREACH;
    return 0;
}

int net_listen(const char *hostport, int backlog, char *bound, size_t boundcap)
{
    struct addrinfo *res = NULL;
    int rc = resolve(hostport, 1, &res), fd = -1;
    if (rc) return rc;
    rc = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) { rc = -errno; continue; }
        int one = 1;
        /* A restarted master must rebind while old connections sit in TIME_WAIT. */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog > 0 ? backlog : 64) == 0)
            break;
        rc = -errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) return rc;
    if (bound && boundcap) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) addr_text((struct sockaddr *)&ss, bound, boundcap);
        else bound[0] = '\0';
    }
    return fd;
}

static void set_nodelay(int fd)
{
    int one = 1;
    /* Frames go out in one write; Nagle would only delay request/reply. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) return -errno;
    int rc = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS && errno != EINTR) { rc = -errno; goto out; }
        if ((rc = wait_fd(fd, POLLOUT, deadline))) goto out;
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) { rc = -errno; goto out; }
        if (err) { rc = -err; goto out; }
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    set_nodelay(fd);
out:
    if (rc) { close(fd); return rc; }
    return fd;
}

int net_connect(const char *hostport, int timeout_ms)
{
    struct addrinfo *res = NULL;
    int rc = resolve(hostport, 0, &res);
    if (rc) return rc;
    int64_t deadline = deadline_of(timeout_ms);
    rc = -EHOSTUNREACH;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        rc = connect_one(ai, deadline);
        if (rc >= 0 || rc == -ETIMEDOUT) break;
    }
    freeaddrinfo(res);
    return rc;
}

int net_addr_is_local(const struct sockaddr *peer, const struct sockaddr *self)
{
    if (peer->sa_family == AF_UNIX)
        return 1;
    if (peer->sa_family != self->sa_family)
        return 0;
    if (peer->sa_family == AF_INET) {
        const struct in_addr *a = &((const struct sockaddr_in *)peer)->sin_addr;
        const struct in_addr *b = &((const struct sockaddr_in *)self)->sin_addr;
        return (ntohl(a->s_addr) >> 24) == 127 || a->s_addr == b->s_addr;
    }
    if (peer->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)peer)->sin6_addr;
        const struct in6_addr *b = &((const struct sockaddr_in6 *)self)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a) || memcmp(a, b, sizeof *a) == 0)
            return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;   /* ::ffff:127.x.y.z */
    }
    return 0;
}

int net_is_local(int fd)
{
    struct sockaddr_storage me, them;
    socklen_t ml = sizeof me, tl = sizeof them;
    if (getsockname(fd, (struct sockaddr *)&me, &ml) < 0 ||
        getpeername(fd, (struct sockaddr *)&them, &tl) < 0)
        return 0;
    return net_addr_is_local((struct sockaddr *)&them, (struct sockaddr *)&me);
}

int net_accept(int lfd, char *peer, size_t peercap)
{
    struct sockaddr_storage ss;
    for (;;) {
        socklen_t sl = sizeof ss;
        int fd = accept(lfd, (struct sockaddr *)&ss, &sl);
        if (fd >= 0) {
            /* accept4 is a GNU extension; this leaves a narrow window in
             * which a concurrent fork+exec could inherit the socket. */
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            set_nodelay(fd);
            addr_text((struct sockaddr *)&ss, peer, peercap);
            return fd;
        }
        if (errno != EINTR) return -errno;
    }
}

/* Reads with one deadline for all n bytes (a peer trickling one byte a
 * second cannot stretch the wait). Non-sockets (pipes in tests) fall back
 * to read() after poll(). */
static int read_until(int fd, uint8_t *buf, size_t n, int64_t deadline, size_t *got)
{
    size_t have = 0;
    int rc = 0, sock = 1;
    if (tls_active(fd))
        return tls_read_until(fd, buf, n, deadline, got);
    while (have < n) {
        ssize_t k = sock ? recv(fd, buf + have, n - have, MSG_DONTWAIT) : read(fd, buf + have, n - have);
        if (k > 0) { have += (size_t)k; continue; }
        if (k == 0) { rc = -EPIPE; break; }
        if (errno == EINTR) continue;
        if (errno == ENOTSOCK && sock) { sock = 0; }
        else if (errno != EAGAIN && errno != EWOULDBLOCK) { rc = -errno; break; }
        if ((rc = wait_fd(fd, POLLIN, deadline))) break;
    }
    if (got) *got = have;
    return rc;
}

int net_read_full(int fd, void *buf, size_t n, int timeout_ms, size_t *got)
{
    return read_until(fd, buf, n, deadline_of(timeout_ms), got);
}

static int write_until(int fd, const uint8_t *buf, size_t n, int64_t deadline)
{
    size_t done = 0;
    int sock = 1;
    if (tls_active(fd))
        return tls_write_until(fd, buf, n, deadline);
    while (done < n) {
        ssize_t k = sock ? send(fd, buf + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT)
                         : write(fd, buf + done, n - done);
        if (k >= 0) { done += (size_t)k; continue; }
        if (errno == EINTR) continue;
        if (errno == ENOTSOCK && sock) { sock = 0; }
        else if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        int rc = wait_fd(fd, POLLOUT, deadline);
        if (rc) return rc;
    }
    return 0;
}

int net_write_full(int fd, const void *buf, size_t n, int timeout_ms)
{
    return write_until(fd, buf, n, deadline_of(timeout_ms));
}

int frame_reader_init(frame_reader *r, uint32_t max_payload)
{
    if (max_payload > PROTO_PAYLOAD_MAX) max_payload = PROTO_PAYLOAD_MAX;
    r->max = max_payload;
    r->buf = malloc((size_t)PROTO_HDR_LEN + max_payload);
    return r->buf ? 0 : -ENOMEM;
}

void frame_reader_free(frame_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->max = 0;
}

/* A close between frames is -EPIPE (the peer is done); a close inside a
 * frame is PROTO_E_TRUNCATED (the peer broke off mid-message). */
int frame_read(int fd, frame_reader *r, proto_msg *m, int idle_ms, int timeout_ms)
{
    size_t got = 0;
    uint32_t len;
    uint16_t type, flags;
    /* Bytes TLS already decrypted are invisible to poll(). */
    int rc = tls_pending(fd) > 0 ? 0 : wait_fd(fd, POLLIN, deadline_of(idle_ms));
    if (rc) return rc;
    int64_t deadline = deadline_of(timeout_ms);
    rc = read_until(fd, r->buf, PROTO_HDR_LEN, deadline, &got);
    if (rc == -EPIPE) return got == 0 ? -EPIPE : PROTO_E_TRUNCATED;
    if (rc) return rc;
    /* The header is judged before a single payload byte is read. */
    if ((rc = proto_header(r->buf, r->max, &len, &type, &flags))) return rc;
    rc = read_until(fd, r->buf + PROTO_HDR_LEN, len, deadline, &got);
    if (rc == -EPIPE) return PROTO_E_TRUNCATED;
    if (rc) return rc;
    return proto_decode(m, type, flags, r->buf + PROTO_HDR_LEN, len);
}

int frame_write(int fd, proto_buf *b, int timeout_ms)
{
    int rc = proto_finish(b);
    if (rc) return rc;
    return net_write_full(fd, b->p, b->len, timeout_ms);
}
