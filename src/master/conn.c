/* conn.c — reference-counted, write-locked connections. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "conn.h"
#include "tls.h"

conn *conn_new(int fd, const char *peer, int write_timeout_ms)
{
    conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = fd;
    c->refs = 1;
    c->write_timeout_ms = write_timeout_ms;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    pthread_mutex_init(&c->wmu, NULL);
    return c;
}

void conn_ref(conn *c)
{
    pthread_mutex_lock(&c->wmu);
    c->refs++;
    pthread_mutex_unlock(&c->wmu);
}

void conn_unref(conn *c)
{
    int last;
    if (!c) return;
    pthread_mutex_lock(&c->wmu);
    last = --c->refs == 0;
    pthread_mutex_unlock(&c->wmu);
    if (!last) return;
    tls_close(c->fd);
    pthread_mutex_destroy(&c->wmu);
    free(c);
}

int conn_send(conn *c, proto_buf *b)
{
    int rc;
    pthread_mutex_lock(&c->wmu);
    if (c->dead) {
        rc = -1;
    } else if ((rc = frame_write(c->fd, b, c->write_timeout_ms)) < 0) {
        /* A peer that cannot take a frame in time is treated as gone. */
        c->dead = 1;
        shutdown(c->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&c->wmu);
    return rc;
}

int conn_send_bytes(conn *c, const void *p, size_t n)
{
    int rc;
    pthread_mutex_lock(&c->wmu);
    if (c->dead) {
        rc = -1;
    } else if ((rc = net_write_full(c->fd, p, n, c->write_timeout_ms)) < 0) {
        c->dead = 1;
        shutdown(c->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&c->wmu);
    return rc;
}

void conn_send_error(conn *c, uint64_t code, const char *fmt, ...)
{
    char msg[1024];
    proto_buf b;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    proto_buf_init(&b);
    proto_error(&b, code, "%s", msg);
    conn_send(c, &b);
    proto_buf_free(&b);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void conn_linger(conn *c, int max_ms, size_t max_bytes)
{
    char buf[16384];
    size_t got = 0;
    int64_t end = mono_ms() + max_ms;
    pthread_mutex_lock(&c->wmu);
    c->dead = 1;
    shutdown(c->fd, SHUT_WR);
    pthread_mutex_unlock(&c->wmu);
    while (got < max_bytes) {
        int64_t left = end - mono_ms();
        if (left <= 0) break;
        struct pollfd p = { c->fd, POLLIN, 0 };
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) break;
        ssize_t k = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
}
