/* net.h — sockets and framed I/O over them. All functions return 0 (or a
 * fd) on success and a negative errno-style code on failure; none logs.
 * Timeouts are in milliseconds; -1 waits forever. Reentrant; a fd must not
 * be read by two threads at once, nor written by two (callers lock). */
#ifndef CLOUDAI_NET_H
#define CLOUDAI_NET_H

#include <stddef.h>
#include <stdint.h>
#include "proto.h"

/* "host:port" (host may be empty = 0.0.0.0, or [v6]). Port 0 picks a free
 * port; the bound "host:port" is written to bound (if not NULL). */
int net_listen(const char *hostport, int backlog, char *bound, size_t boundcap);
int net_connect(const char *hostport, int timeout_ms);
/* Accept one connection; peer address text into peer. */
int net_accept(int lfd, char *peer, size_t peercap);
/* Reads exactly n bytes. 0, -ETIMEDOUT, -EPIPE (orderly close before n
 * bytes; *got says how many arrived), or another -errno. EINTR retried. */
int net_read_full(int fd, void *buf, size_t n, int timeout_ms, size_t *got);
/* Writes exactly n bytes (MSG_NOSIGNAL). 0, -ETIMEDOUT or -errno. */
int net_write_full(int fd, const void *buf, size_t n, int timeout_ms);
/* 1 if fd's peer is on this host (a loopback address, or the very address
 * the connection leaves from: the kernel carries it in memory), 0 if not or
 * unknown. */
int net_is_local(int fd);
struct sockaddr;
/* The rule itself, for a peer address and the local end's. */
int net_addr_is_local(const struct sockaddr *peer, const struct sockaddr *self);
/* Splits "host:port"; 0 or -EINVAL. */
int net_split_hostport(const char *hostport, char *host, size_t hostcap, char *port, size_t portcap);

/* A frame reader owning a buffer of PROTO_HDR_LEN + max payload bytes. */
typedef struct frame_reader {
    uint8_t *buf;
    uint32_t max;          /* max payload accepted */
} frame_reader;

int frame_reader_init(frame_reader *r, uint32_t max_payload);
void frame_reader_free(frame_reader *r);
/* Reads and decodes one frame into m (m points into r->buf until the next
 * call). Returns 0; -EPIPE on orderly close before a header; -ETIMEDOUT;
 * a PROTO_E_* code for a bad header or payload (the stream is then
 * unusable: send ERROR and close); or -errno. idle_ms bounds the wait for
 * the first header byte, timeout_ms the rest of the frame (slowloris). */
int frame_read(int fd, frame_reader *r, proto_msg *m, int idle_ms, int timeout_ms);
/* Finishes b (proto_finish) and writes it whole. */
int frame_write(int fd, proto_buf *b, int timeout_ms);
#endif
