/* peer.h — the connecting side of a CloudAI connection (worker or
 * client): connect, run the handshake, then exchange frames. A peer is
 * owned by one thread at a time; peer_send may be shared between threads
 * only under the caller's lock. */
#ifndef CLOUDAI_PEER_H
#define CLOUDAI_PEER_H
#include <stddef.h>
#include "net.h"
#include "proto.h"

typedef struct peer {
    int fd;
    frame_reader rd;
    proto_buf wb;            /* scratch frame for callers */
    int version;
    int admin;
    char master_id[64];
    int timeout_ms;          /* per-frame I/O bound */
} peer;

/* Connects to addr and authenticates as role/node_id with token. On
 * failure returns a negative code with err filled ("auth refused: ...",
 * "connection refused") and p is closed. -ECONNRESET: the master closed
 * the connection before WELCOME (over its handshake budget it closes the
 * oldest pending handshakes, and a restarting master closes everything):
 * the same call a moment later usually succeeds. */
int peer_connect(peer *p, const char *addr, int role, const char *node_id,
                 const char *token, int timeout_ms, char *err, size_t errcap);
/* TLS for every later peer_connect of this process (NULL = plain TCP):
 * the master's certificate must carry server_name, or when that is empty
 * the host part of the address connected to. Call once at start, before
 * any thread connects; t must outlive every peer. */
struct tls_ctx;
void peer_set_tls(struct tls_ctx *t, const char *server_name);
/* The highest protocol version later peer_connects offer (default
 * PROTO_VERSION_MAX; clamped to the supported range): test tools use it to
 * speak as an older program would. Call once at start, as peer_set_tls. */
void peer_set_max_version(int v);
/* Sends p->wb (after proto_begin/put by the caller). */
int peer_send(peer *p);
/* Receives one frame; idle_ms bounds the wait (-1 forever). An ERROR frame
 * is returned as a frame (type PROTO_ERROR): callers check m->type. */
int peer_recv(peer *p, proto_msg *m, int idle_ms);
/* Formats an ERROR frame's code and message into err. */
void peer_error_text(const proto_msg *m, char *err, size_t errcap);
void peer_close(peer *p);
#endif
