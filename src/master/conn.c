/* conn.c — reference-counted, write-locked connections. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include "conn.h"

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
    close(c->fd);
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
