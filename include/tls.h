/* tls.h — the transport layer under net.c: TLS (OpenSSL libssl) attached to
 * a connected socket. Once tls_accept or tls_connect succeeds on a fd, every
 * net_read_full / net_write_full / frame_read / frame_write on that fd goes
 * through the TLS session, so the protocol code above stays the same.
 * Call tls_close(fd) (or net_close) instead of close(fd) on such a socket.
 *
 * Thread-safety: a tls_ctx is shared read-only after creation. On one fd,
 * one thread may read while others write (the conn write lock serialises
 * writers): each OpenSSL call runs under the session's own mutex on a
 * non-blocking socket, and waits (poll) happen outside it. */
#ifndef CLOUDAI_TLS_H
#define CLOUDAI_TLS_H
#include <stddef.h>
#include <stdint.h>

#define TLS_BINDING_LEN 32

typedef struct tls_ctx tls_ctx;

/* Server side: cert and key (PEM) required; ca (PEM) optional: with
 * require_client_cert, peers must present a certificate signed by it. */
tls_ctx *tls_server_new(const char *cert, const char *key, const char *ca,
                        int require_client_cert, char *err, size_t errcap);
/* Client side: ca (PEM) is what the master's certificate must chain to;
 * cert/key (may be "") a client certificate to present. */
tls_ctx *tls_client_new(const char *ca, const char *cert, const char *key,
                        char *err, size_t errcap);
void tls_ctx_free(tls_ctx *t);

/* Runs the handshake on a connected socket and attaches the session to fd
 * (the fd becomes non-blocking). tls_connect verifies the master's
 * certificate chain and that it names `name` (a DNS name or an IP address).
 * 0, or a negative code with err saying why (an untrusted certificate says
 * which check failed and what to configure). */
int tls_accept(tls_ctx *t, int fd, int timeout_ms, char *err, size_t errcap);
int tls_connect(tls_ctx *t, int fd, const char *name, int timeout_ms, char *err, size_t errcap);

/* 1 when fd carries a TLS session. */
int tls_active(int fd);
/* Bytes decrypted and waiting in the session (poll() cannot see them). */
int tls_pending(int fd);
/* The channel binding of proto.txt 7: TLS exporter "EXPORTER-cloudai-v1",
 * 32 bytes, equal on both ends of one session and different on any other.
 * 0, or -ENOENT when fd has no TLS session. */
int tls_binding(int fd, uint8_t out[TLS_BINDING_LEN]);
/* Subject CN of the peer's verified certificate ("" if none). */
void tls_peer_name(int fd, char *out, size_t cap);
/* Used by net.c: same contracts as its read/write loops. */
int tls_read_until(int fd, uint8_t *buf, size_t n, int64_t deadline_ms, size_t *got);
int tls_write_until(int fd, const uint8_t *buf, size_t n, int64_t deadline_ms);
/* Detaches and frees fd's session (no close_notify: callers close or shut
 * down the socket right after). Safe on a fd without TLS. */
void tls_detach(int fd);
/* tls_detach, then close(fd). */
int tls_close(int fd);
#endif
