/* peer.c — connecting side of the handshake (proto.txt "Handshake"). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "auth.h"
#include "hash.h"
#include "peer.h"
#include "tls.h"

/* Process-wide: set once at start, before threads connect. */
static tls_ctx *client_tls;
static char client_tls_name[256];
static int max_version = PROTO_VERSION_MAX;

void peer_set_max_version(int v)
{
    max_version = v < PROTO_VERSION_MIN ? PROTO_VERSION_MIN : v > PROTO_VERSION_MAX ? PROTO_VERSION_MAX : v;
}

void peer_set_tls(tls_ctx *t, const char *server_name)
{
    client_tls = t;
    snprintf(client_tls_name, sizeof client_tls_name, "%s", server_name ? server_name : "");
}

void peer_error_text(const proto_msg *m, char *err, size_t errcap)
{
    uint64_t code = 0;
    char msg[1024] = "";
    proto_u64(m, T_CODE, &code);
    proto_str(m, T_MESSAGE, msg, sizeof msg);
    snprintf(err, errcap, "%s (%s)", msg, proto_err_name(code));
}

int peer_connect(peer *p, const char *addr, int role, const char *node_id,
                 const char *token, int timeout_ms, char *err, size_t errcap)
{
    proto_msg m;
    proto_field f;
    uint8_t nonce[PROTO_NONCE_LEN], proof[PROTO_PROOF_LEN], want[PROTO_PROOF_LEN];
    uint8_t binding[TLS_BINDING_LEN], bound_nonce[PROTO_NONCE_LEN];
    int tls = 0;
    uint64_t vmin = 0, vmax = 0, v = 0, admin = 0;
    int rc;

    memset(p, 0, sizeof *p);
    p->fd = -1;
    p->timeout_ms = timeout_ms;
    proto_buf_init(&p->wb);
    if ((rc = frame_reader_init(&p->rd, PROTO_PAYLOAD_MAX)) < 0) {
        snprintf(err, errcap, "out of memory");
        goto fail;
    }
    p->fd = net_connect(addr, timeout_ms);
    if (p->fd < 0) {
        rc = p->fd;
        snprintf(err, errcap, "cannot connect to master at %s: %s", addr, cai_strerror(rc));
        goto fail;
    }
    if (client_tls) {
        char host[256], port[16], why[768];
        const char *name = client_tls_name;
        if (!name[0] && net_split_hostport(addr, host, sizeof host, port, sizeof port) == 0)
            name = host;
        if ((rc = tls_connect(client_tls, p->fd, name, timeout_ms, why, sizeof why)) < 0) {
            snprintf(err, errcap, "master at %s: %s", addr, why);
            goto fail;
        }
        if ((rc = tls_binding(p->fd, binding)) < 0) {
            snprintf(err, errcap, "master at %s: TLS exporter unavailable", addr);
            goto fail;
        }
        tls = 1;
    }
    if ((rc = frame_read(p->fd, &p->rd, &m, timeout_ms, timeout_ms)) < 0 &&
        (rc == -EPIPE || rc == -ECONNRESET)) {
        snprintf(err, errcap, "master at %s closed the connection before its greeting", addr);
        rc = -ECONNRESET;
        goto fail;
    }
    if (rc < 0) {
        snprintf(err, errcap, "master at %s sent no greeting: %s%s", addr,
                 cai_strerror(rc),
                 tls ? "" : " (if the master uses TLS, give its CA: [tls] ca or CLOUDAI_TLS_CA)");
        goto fail;
    }
    if (m.type == PROTO_ERROR) {
        peer_error_text(&m, err, errcap);
        rc = -ECONNREFUSED;
        goto fail;
    }
    if (m.type != PROTO_CHALLENGE || proto_get(&m, T_NONCE, &f) < 0) {
        snprintf(err, errcap, "master at %s: unexpected %s instead of CHALLENGE", addr,
                 proto_type_name(m.type));
        rc = -EPROTO;
        goto fail;
    }
    proto_u64(&m, T_VERSION_MIN, &vmin);
    proto_u64(&m, T_VERSION_MAX, &vmax);
    v = vmax < (uint64_t)max_version ? vmax : (uint64_t)max_version;
    if (v < vmin || v < PROTO_VERSION_MIN) {
        snprintf(err, errcap, "no common protocol version (master %llu-%llu, us %d-%d)",
                 (unsigned long long)vmin, (unsigned long long)vmax, PROTO_VERSION_MIN, max_version);
        rc = -EPROTO;
        goto fail;
    }
    if (tls) {
        auth_bind_nonce(f.p, binding, bound_nonce);
        auth_peer_proof(token ? token : "", role, node_id, bound_nonce, proof);
    } else {
        auth_peer_proof(token ? token : "", role, node_id, f.p, proof);
    }
    if ((rc = hash_random(nonce, sizeof nonce)) < 0) {
        snprintf(err, errcap, "getrandom: %s", cai_strerror(rc));
        goto fail;
    }
    proto_begin(&p->wb, PROTO_HELLO, 0);
    proto_put_u64(&p->wb, T_ROLE, (uint64_t)role);
    proto_put_u64(&p->wb, T_VERSION, v);
    proto_put_str(&p->wb, T_NODE_ID, node_id);
    proto_put_bytes(&p->wb, T_NONCE, nonce, sizeof nonce);
    proto_put_bytes(&p->wb, T_PROOF, proof, sizeof proof);
    if ((rc = frame_write(p->fd, &p->wb, timeout_ms)) < 0) {
        snprintf(err, errcap, "sending HELLO: %s", cai_strerror(rc));
        goto fail;
    }
    if ((rc = frame_read(p->fd, &p->rd, &m, timeout_ms, timeout_ms)) < 0) {
        if (rc == -ETIMEDOUT) {
            snprintf(err, errcap, "master at %s did not answer the handshake within %d ms",
                     addr, timeout_ms);
        } else {
            snprintf(err, errcap, "master at %s closed the connection during the handshake", addr);
            rc = -ECONNRESET;
        }
        goto fail;
    }
    if (m.type == PROTO_ERROR) {
        peer_error_text(&m, err, errcap);
        rc = -EACCES;
        goto fail;
    }
    if (m.type != PROTO_WELCOME) {
        snprintf(err, errcap, "unexpected %s instead of WELCOME", proto_type_name(m.type));
        rc = -EPROTO;
        goto fail;
    }
    /* The master proves it knows the token too, so a worker never uploads
     * outputs to an impostor. */
    if (tls) {
        auth_bind_nonce(nonce, binding, bound_nonce);
        auth_master_proof(token ? token : "", bound_nonce, want);
    } else {
        auth_master_proof(token ? token : "", nonce, want);
    }
    if (proto_get(&m, T_PROOF, &f) < 0 || !hash_equal(f.p, want, PROTO_PROOF_LEN)) {
        snprintf(err, errcap, "master at %s failed to prove the token", addr);
        rc = -EACCES;
        goto fail;
    }
    proto_u64(&m, T_ADMIN, &admin);
    p->admin = admin != 0;
    p->version = (int)v;
    proto_str(&m, T_NODE_ID, p->master_id, sizeof p->master_id);
    return 0;
fail:
    peer_close(p);
    return rc < 0 ? rc : -EPROTO;
}

int peer_send(peer *p)
{
    return frame_write(p->fd, &p->wb, p->timeout_ms);
}

int peer_recv(peer *p, proto_msg *m, int idle_ms)
{
    return frame_read(p->fd, &p->rd, m, idle_ms, p->timeout_ms);
}

void peer_close(peer *p)
{
    if (p->fd >= 0)
        tls_close(p->fd);
    p->fd = -1;
    frame_reader_free(&p->rd);
    proto_buf_free(&p->wb);
}
