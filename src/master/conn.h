/* conn.h — one accepted connection at the master. The connection thread
 * owns reading; any thread may send through conn_send (serialised by the
 * write lock). Reference counted: the cluster keeps a reference to each
 * worker's connection while it is registered. */
#ifndef CLOUDAI_CONN_H
#define CLOUDAI_CONN_H
#include <pthread.h>
#include "net.h"
#include "proto.h"

typedef struct conn {
    int fd;
    char peer[96];            /* "127.0.0.1:5555" */
    int role;                 /* 0 before the handshake */
    int version;              /* protocol version agreed in the handshake */
    char node_id[64];         /* worker id or user id */
    int admin;
    pthread_mutex_t wmu;
    int refs;                 /* under wmu */
    int dead;                 /* a send failed: the reader will see EOF */
    int write_timeout_ms;
} conn;

conn *conn_new(int fd, const char *peer, int write_timeout_ms);
void conn_ref(conn *c);
void conn_unref(conn *c);      /* closes and frees at zero */
/* Finishes and sends b; on failure shuts the socket down so the reader
 * thread ends the connection. 0 or negative. */
int conn_send(conn *c, proto_buf *b);
/* Sends bytes already framed (several frames at once); as conn_send. */
int conn_send_bytes(conn *c, const void *p, size_t n);
/* Ends a connection without destroying what was sent last: closing a
 * socket with unread input makes the kernel answer with a reset, and a
 * reset can discard a reply (an ERROR, a FILE_ACK verdict) the peer has
 * not read yet. So the write side is shut down (the peer reads the reply,
 * then EOF) and input is read and dropped until the peer closes, up to
 * max_ms and max_bytes. Only the thread that reads c may call it; later
 * sends fail. */
#define CONN_LINGER_MS 2000
#define CONN_LINGER_BYTES (16u << 20)
void conn_linger(conn *c, int max_ms, size_t max_bytes);
/* Sends an ERROR frame (best effort). */
void conn_send_error(conn *c, uint64_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#endif
