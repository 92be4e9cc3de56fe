/* tls.c — TLS under net.c's framed I/O (see tls.h). A table indexed by fd
 * finds a socket's session, so net_read_full/net_write_full need no new
 * parameter and every caller of them is unchanged.
 *
 * OpenSSL does not allow SSL_read and SSL_write on one SSL object from two
 * threads at once; the master reads a worker's connection on its thread
 * while the scheduler writes ASSIGN frames to it. So each session has a
 * mutex held only around each (non-blocking) OpenSSL call; waiting for the
 * socket happens in poll() outside it. Renegotiation is off, so a write
 * never needs to read. */
#include "err.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define TLS_FD_MAX 65536
#define EXPORTER_LABEL "EXPORTER-cloudai-v1"

struct tls_ctx {
    SSL_CTX *ctx;
    int server;
};

typedef struct tls_conn {
    SSL *ssl;
    pthread_mutex_t mu;
} tls_conn;

static _Atomic(tls_conn *) table[TLS_FD_MAX];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline < 0 ? -1 : deadline - now_ms();
        if (deadline >= 0 && left <= 0) left = 0;
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, left > 0x7fffffff ? 0x7fffffff : (int)left);
        if (n > 0) return 0;
        if (n == 0) return -ETIMEDOUT;
        if (errno != EINTR) return -errno;
    }
}

/* The first queued OpenSSL error as text, and the queue cleared (it is
 * per thread: a stale entry would be blamed on the next call). */
static const char *ssl_why(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();
    if (!e) snprintf(buf, cap, "connection closed during the handshake");
    else ERR_error_string_n(e, buf, cap);
    ERR_clear_error();
    return buf;
}

static tls_ctx *ctx_new(int server, char *err, size_t errcap)
{
    tls_ctx *t = calloc(1, sizeof *t);
    if (!t) { snprintf(err, errcap, "out of memory"); return NULL; }
    t->server = server;
    t->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!t->ctx) {
        char why[256];
        snprintf(err, errcap, "TLS: %s", ssl_why(why, sizeof why));
        free(t);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* No session tickets: connections are long-lived, and a ticket record
     * arriving later would wake a reader waiting for a frame. */
    if (server) SSL_CTX_set_num_tickets(t->ctx, 0);
    return t;
}

static int load_pair(tls_ctx *t, const char *cert, const char *key, char *err, size_t errcap)
{
    char why[256];
    if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1) {
        snprintf(err, errcap, "TLS certificate %s: %s", cert, ssl_why(why, sizeof why));
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, errcap, "TLS key %s: %s", key, ssl_why(why, sizeof why));
        return -1;
    }
    if (SSL_CTX_check_private_key(t->ctx) != 1) {
        snprintf(err, errcap, "TLS key %s does not match certificate %s", key, cert);
        ERR_clear_error();
        return -1;
    }
    return 0;
}

static int load_ca(tls_ctx *t, const char *ca, char *err, size_t errcap)
{
    char why[256];
    if (SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1) {
        snprintf(err, errcap, "TLS CA %s: %s", ca, ssl_why(why, sizeof why));
        return -1;
    }
    return 0;
}

tls_ctx *tls_server_new(const char *cert, const char *key, const char *ca,
                        int require_client_cert, char *err, size_t errcap)
{
    tls_ctx *t = ctx_new(1, err, errcap);
    if (!t) return NULL;
    if (load_pair(t, cert, key, err, errcap) < 0) goto fail;
    if (ca && ca[0]) {
        if (load_ca(t, ca, err, errcap) < 0) goto fail;
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER |
                           (require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
    } else if (require_client_cert) {
        snprintf(err, errcap, "[tls] require_client_cert needs [tls] ca (the CA client "
                 "certificates must chain to)");
        goto fail;
    }
    return t;
fail:
    tls_ctx_free(t);
    return NULL;
}

tls_ctx *tls_client_new(const char *ca, const char *cert, const char *key,
                        char *err, size_t errcap)
{
    tls_ctx *t = ctx_new(0, err, errcap);
    if (!t) return NULL;
    if (!ca || !ca[0]) {
        snprintf(err, errcap, "TLS needs a CA file to verify the master ([tls] ca or CLOUDAI_TLS_CA)");
        goto fail;
    }
    if (load_ca(t, ca, err, errcap) < 0) goto fail;
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    if (cert && cert[0] && load_pair(t, cert, key && key[0] ? key : cert, err, errcap) < 0)
        goto fail;
    return t;
fail:
    tls_ctx_free(t);
    return NULL;
}

void tls_ctx_free(tls_ctx *t)
{
    if (!t) return;
    SSL_CTX_free(t->ctx);
    free(t);
}

static tls_conn *find(int fd)
{
    return fd >= 0 && fd < TLS_FD_MAX ? atomic_load(&table[fd]) : NULL;
}

/* Handshake on a non-blocking socket, bounded by the deadline. */
static int handshake(tls_ctx *t, int fd, const char *name, int timeout_ms, char *err, size_t errcap)
{
    char why[256];
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    int rc = -EPROTO;
    if (fd < 0 || fd >= TLS_FD_MAX) {
        snprintf(err, errcap, "TLS: descriptor %d out of range", fd);
        return -EINVAL;
    }
    tls_conn *c = calloc(1, sizeof *c);
    if (!c || !(c->ssl = SSL_new(t->ctx))) {
        free(c);
        snprintf(err, errcap, "TLS: out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&c->mu, NULL);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || SSL_set_fd(c->ssl, fd) != 1) {
        snprintf(err, errcap, "TLS: cannot use the socket");
        goto fail;
    }
    if (!t->server && name && name[0]) {
        struct in6_addr a6;
        struct in_addr a4;
        X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
        if (inet_pton(AF_INET, name, &a4) == 1 || inet_pton(AF_INET6, name, &a6) == 1)
            X509_VERIFY_PARAM_set1_ip_asc(vp, name);
        else {
            X509_VERIFY_PARAM_set1_host(vp, name, 0);
            SSL_set_tlsext_host_name(c->ssl, name);
        }
    }
    ERR_clear_error();
    for (;;) {
        int r = t->server ? SSL_accept(c->ssl) : SSL_connect(c->ssl);
        if (r == 1) break;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            int w = wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
            if (w) {
                snprintf(err, errcap, "TLS handshake: %s", w == -ETIMEDOUT ?
                         "timed out (is the other side speaking TLS?)" : cai_strerror(w));
                rc = w;
                goto fail;
            }
            continue;
        }
        long vr = SSL_get_verify_result(c->ssl);
        if (!t->server && vr != X509_V_OK)
            snprintf(err, errcap, "TLS: the master's certificate is not trusted: %s "
                     "(check [tls] ca / CLOUDAI_TLS_CA names the CA that signed it%s%s)",
                     X509_verify_cert_error_string(vr), name && name[0] ? ", and that it names " : "",
                     name && name[0] ? name : "");
        else if (t->server && vr != X509_V_OK)
            snprintf(err, errcap, "TLS: client certificate refused: %s", X509_verify_cert_error_string(vr));
        else
            snprintf(err, errcap, "TLS handshake failed: %s%s", ssl_why(why, sizeof why),
                     t->server ? "" : " (is the master speaking TLS on that port?)");
        ERR_clear_error();
        rc = -EPROTO;
        goto fail;
    }
    atomic_store(&table[fd], c);
    return 0;
fail:
    SSL_free(c->ssl);
    pthread_mutex_destroy(&c->mu);
    free(c);
    return rc;
}

int tls_accept(tls_ctx *t, int fd, int timeout_ms, char *err, size_t errcap)
{
    return handshake(t, fd, NULL, timeout_ms, err, errcap);
}

int tls_connect(tls_ctx *t, int fd, const char *name, int timeout_ms, char *err, size_t errcap)
{
    return handshake(t, fd, name, timeout_ms, err, errcap);
}

int tls_active(int fd)
{
    return find(fd) != NULL;
}

int tls_pending(int fd)
{
    tls_conn *c = find(fd);
    if (!c) return 0;
    pthread_mutex_lock(&c->mu);
    int n = SSL_pending(c->ssl);
    pthread_mutex_unlock(&c->mu);
    return n;
}

int tls_binding(int fd, uint8_t out[TLS_BINDING_LEN])
{
    tls_conn *c = find(fd);
    if (!c) return -ENOENT;
    pthread_mutex_lock(&c->mu);
    int r = SSL_export_keying_material(c->ssl, out, TLS_BINDING_LEN, EXPORTER_LABEL,
                                       sizeof EXPORTER_LABEL - 1, NULL, 0, 0);
    pthread_mutex_unlock(&c->mu);
    return r == 1 ? 0 : -EPROTO;
}

void tls_peer_name(int fd, char *out, size_t cap)
{
    tls_conn *c = find(fd);
    if (cap) out[0] = '\0';
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    X509 *x = SSL_get1_peer_certificate(c->ssl);
    if (x) {
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)cap);
        X509_free(x);
    }
    pthread_mutex_unlock(&c->mu);
}

/* One OpenSSL read or write under the session lock: > 0 bytes, 0 with
 * *want set (POLLIN/POLLOUT) to wait, or a negative code. */
static int io_once(tls_conn *c, int writing, void *buf, size_t n, short *want)
{
    size_t done = 0;
    pthread_mutex_lock(&c->mu);
    ERR_clear_error();
    int r = writing ? SSL_write_ex(c->ssl, buf, n, &done) : SSL_read_ex(c->ssl, buf, n, &done);
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
    int sys = errno;
    ERR_clear_error();
    pthread_mutex_unlock(&c->mu);
    switch (e) {
    case SSL_ERROR_NONE: return (int)(done > 0x7fffffff ? 0x7fffffff : done);
    case SSL_ERROR_WANT_READ: *want = POLLIN; return 0;
    case SSL_ERROR_WANT_WRITE: *want = POLLOUT; return 0;
    case SSL_ERROR_ZERO_RETURN: return -EPIPE;
    case SSL_ERROR_SYSCALL: return sys && sys != EAGAIN ? -sys : -EPIPE;
    default: return -EPROTO;     /* a bad record: tampered or not TLS */
    }
}

int tls_read_until(int fd, uint8_t *buf, size_t n, int64_t deadline, size_t *got)
{
    tls_conn *c = find(fd);
    size_t have = 0;
    int rc = 0;
    if (!c) return -EBADF;
    while (have < n) {
        short want = 0;
        size_t ask = n - have > 0x40000000 ? 0x40000000 : n - have;
        int k = io_once(c, 0, buf + have, ask, &want);
        if (k > 0) { have += (size_t)k; continue; }
        if (k < 0) { rc = k; break; }
        if ((rc = wait_fd(fd, want, deadline))) break;
    }
    if (got) *got = have;
    return rc;
}

int tls_write_until(int fd, const uint8_t *buf, size_t n, int64_t deadline)
{
    tls_conn *c = find(fd);
    size_t done = 0;
    if (!c) return -EBADF;
    while (done < n) {
        short want = 0;
        size_t ask = n - done > 0x40000000 ? 0x40000000 : n - done;
        int k = io_once(c, 1, (void *)(buf + done), ask, &want);
        if (k > 0) { done += (size_t)k; continue; }
        if (k < 0) return k;
        int rc = wait_fd(fd, want, deadline);
        if (rc) return rc;
    }
    return 0;
}

void tls_detach(int fd)
{
    if (fd < 0 || fd >= TLS_FD_MAX) return;
    tls_conn *c = atomic_exchange(&table[fd], NULL);
    if (!c) return;
    SSL_free(c->ssl);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int tls_close(int fd)
{
    tls_detach(fd);
    return close(fd);
}
