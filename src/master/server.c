/* server.c — accept loop, handshake and frame dispatch (server.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "auth.h"
#include "catalog.h"
#include "chunk.h"
#include "fsutil.h"
#include "hash.h"
#include "inxfer.h"
#include "ids.h"
#include "log.h"
#include "logbook.h"
#include "objstore.h"
#include "retention.h"
#include "server.h"
#include "status.h"
#include "store.h"
#include "storeread.h"
#include "tls.h"
#include "tar.h"

#define LIST_FRAME_SOFT (PROTO_PAYLOAD_MAX - 96 * 1024)  /* start a new list frame past this */

struct server {
    int lfd;
    const config *cfg;
    cluster *cl;
    uploads *up;
    retention *rt;           /* NULL: no expiry shown, PIN refused */
    instore *ins;            /* NULL: inputs refused */
    tls_ctx *tls;            /* NULL: plain TCP */
    pthread_mutex_t mu;      /* guards the counts and the pending list */
    int nauth;               /* authenticated connections (max_connections) */
    int npending;            /* connections before their HELLO (max_handshakes) */
    struct session *phead, *ptail;   /* pending, oldest first */
    /* Every connection thread's session, until the thread has let go of
     * the server: server_stop shuts their sockets down, server_free
     * waits for nlive to reach 0 (they are detached: nothing else keeps
     * them from outliving the server). */
    struct session *live;
    int nlive;
    pthread_cond_t gone;
    volatile int stop;
};

typedef struct session {
    server *srv;
    conn *c;
    char addr[80];           /* peer address without the port */
    struct session *pprev, *pnext;
    struct session *lprev, *lnext;   /* on srv->live (under srv->mu) */
    int pending;             /* on the pending list (under srv->mu) */
    int evicted;             /* closed to make room for a newer handshake */
    uint64_t pending_ms;     /* when it joined the pending list (monotonic) */
    int counted;             /* counted in nauth */
    frame_reader rd;
    proto_buf wb;
    upload *up;              /* upload in progress on this connection */
    uint8_t *acks;           /* SUBMIT_ACK frames waiting for one sync */
    size_t nacks, acklen, ackcap;
} session;

typedef int (*handler_fn)(session *s, const proto_msg *m);

#define SERVER_FREE_WAIT_S 30    /* server_free's wait for connection threads */

/* ---- connection budgets ------------------------------------------------------ */

/* Unauthenticated connections live on a pending list with a budget of
 * their own (max_handshakes, max_handshakes_per_addr) and a short
 * deadline, apart from max_connections: sockets that never send HELLO
 * can then never lock workers and clients out. A new connection over a
 * budget is not refused: the oldest pending one of its own address (or,
 * over the global budget, of the address holding the most) is closed to
 * make room, if it has been pending for PENDING_GRACE_MS, since a peer
 * that completes its handshake does so within a round trip or two while a
 * silent one only grows old. A burst of real clients (a script submitting
 * in parallel) is younger than that: it is admitted over the budget, up to
 * PENDING_HARD_FACTOR times it, and only at that hard bound is the oldest
 * closed whatever its age. Caller holds srv->mu. */
#define PENDING_GRACE_MS 1000
#define PENDING_HARD_FACTOR 4

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* "127.0.0.1:5555" / "[::1]:5555" without the port. */
static void peer_host(const char *peer, char *host, size_t cap)
{
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    snprintf(host, cap, "%.*s", (int)n, peer);
}

static void pending_unlink(server *srv, session *s)
{
    if (s->pprev) s->pprev->pnext = s->pnext; else srv->phead = s->pnext;
    if (s->pnext) s->pnext->pprev = s->pprev; else srv->ptail = s->pprev;
    s->pprev = s->pnext = NULL;
    s->pending = 0;
    srv->npending--;
}

static int pending_from(server *srv, const char *addr, session **oldest)
{
    int n = 0;
    *oldest = NULL;
    for (session *p = srv->phead; p; p = p->pnext) {
        if (strcmp(p->addr, addr)) continue;
        if (!n++) *oldest = p;
    }
    return n;
}

/* The victim for a newcomer from addr, or NULL to admit it over the
 * budget (nobody old enough yet, and under the hard bound). */
static session *pending_victim(server *srv, const char *addr, int *why_addr)
{
    const config *cfg = srv->cfg;
    session *v = NULL;
    int most = 0, n;
    uint64_t now = mono_ms();
    *why_addr = 0;
    n = pending_from(srv, addr, &v);
    if (n >= cfg->max_handshakes_per_addr) {
        *why_addr = 1;
        if (now - v->pending_ms >= PENDING_GRACE_MS ||
            n >= PENDING_HARD_FACTOR * cfg->max_handshakes_per_addr)
            return v;
    }
    if (srv->npending < cfg->max_handshakes) return NULL;
    *why_addr = 0;
    v = NULL;
    for (session *p = srv->phead; p; p = p->pnext) {
        session *o;
        int k = pending_from(srv, p->addr, &o);
        if (k > most) { most = k; v = o; }
    }
    if (v && (now - v->pending_ms >= PENDING_GRACE_MS ||
              srv->npending >= PENDING_HARD_FACTOR * cfg->max_handshakes))
        return v;
    return NULL;
}

/* Adds s to the pending list, closing a victim if a budget is full. */
static void admit(server *srv, session *s)
{
    int why_addr;
    char vpeer[96] = "";
    pthread_mutex_lock(&srv->mu);
    session *v = pending_victim(srv, s->addr, &why_addr);
    if (v) {
        pending_unlink(srv, v);
        v->evicted = 1;
        snprintf(vpeer, sizeof vpeer, "%s", v->c->peer);
        /* Its thread sees EOF and ends; the fd stays open until it does. */
        shutdown(v->c->fd, SHUT_RDWR);
    }
    s->lprev = NULL;
    s->lnext = srv->live;
    if (srv->live) srv->live->lprev = s;
    srv->live = s;
    srv->nlive++;
    if (srv->stop) shutdown(s->c->fd, SHUT_RDWR);   /* accepted as the server stopped */
    s->pending_ms = mono_ms();
    s->pprev = srv->ptail;
    s->pnext = NULL;
    if (srv->ptail) srv->ptail->pnext = s; else srv->phead = s;
    srv->ptail = s;
    s->pending = 1;
    srv->npending++;
    pthread_mutex_unlock(&srv->mu);
    if (vpeer[0])
        log_warn("%s: closed before its HELLO to make room for %s (%s)", vpeer, s->c->peer,
                 why_addr ? "max_handshakes_per_addr" : "max_handshakes");
}

/* The handshake succeeded: s leaves the pending budget for the
 * authenticated one. -1 (ERROR sent) if it was evicted meanwhile or
 * max_connections authenticated connections are open. */
static int promote(session *s)
{
    server *srv = s->srv;
    int rc = 0;
    pthread_mutex_lock(&srv->mu);
    if (s->evicted) {
        rc = -2;
    } else if (srv->nauth >= srv->cfg->max_connections) {
        rc = -1;
    } else {
        pending_unlink(srv, s);
        srv->nauth++;
        s->counted = 1;
    }
    pthread_mutex_unlock(&srv->mu);
    if (rc == -1) {
        conn_send_error(s->c, PROTO_ERR_LIMIT, "too many connections (%d)", srv->cfg->max_connections);
        log_warn("%s: refused, %d connections open", s->c->peer, srv->cfg->max_connections);
    }
    return rc < 0 ? -1 : 0;
}

/* The connection's last touch of the server: after it, server_free may
 * run. */
static void release(session *s)
{
    server *srv = s->srv;
    pthread_mutex_lock(&srv->mu);
    if (s->pending) pending_unlink(srv, s);
    if (s->counted) srv->nauth--;
    if (s->lprev) s->lprev->lnext = s->lnext; else srv->live = s->lnext;
    if (s->lnext) s->lnext->lprev = s->lprev;
    if (--srv->nlive == 0) pthread_cond_broadcast(&srv->gone);
    pthread_mutex_unlock(&srv->mu);
}

/* ---- handshake ------------------------------------------------------------- */

static int auth_open(const config *cfg)
{
    return !cfg->cluster_token[0] && cfg->nusers == 0;
}

static int handshake(session *s)
{
    const config *cfg = s->srv->cfg;
    uint8_t nonce[PROTO_NONCE_LEN], want[PROTO_PROOF_LEN], mproof[PROTO_PROOF_LEN];
    proto_msg m;
    proto_field proof, pnonce;
    uint64_t role = 0, version = 0;
    char node[64] = "";
    const char *token = NULL;
    int admin = 0, rc;

    /* TLS first, under the same handshake budget; the token proofs are
     * then bound to this session (auth_bind_nonce). */
    uint8_t binding[TLS_BINDING_LEN], bnonce[PROTO_NONCE_LEN], bpnonce[PROTO_NONCE_LEN];
    int tls = 0;
    if (s->srv->tls) {
        char why[512];
        if (tls_accept(s->srv->tls, s->c->fd, cfg->handshake_timeout_s * 1000, why, sizeof why) < 0) {
            log_warn("%s: %s", s->c->peer, why);
            return -1;
        }
        if (tls_binding(s->c->fd, binding) < 0) return -1;
        tls = 1;
    }
    if (hash_random(nonce, sizeof nonce) < 0) return -1;
    if (tls) auth_bind_nonce(nonce, binding, bnonce);
    proto_begin(&s->wb, PROTO_CHALLENGE, 0);
    proto_put_u64(&s->wb, T_VERSION_MIN, PROTO_VERSION_MIN);
    proto_put_u64(&s->wb, T_VERSION_MAX, PROTO_VERSION_MAX);
    proto_put_bytes(&s->wb, T_NONCE, nonce, sizeof nonce);
    if (conn_send(s->c, &s->wb) < 0) return -1;

    /* Short: an unauthenticated socket holds a pending slot (admit()). */
    int t = cfg->handshake_timeout_s * 1000;
    if ((rc = frame_read(s->c->fd, &s->rd, &m, t, t)) < 0) {
        if (proto_rc_is_codec(rc)) {
            conn_send_error(s->c, rc == PROTO_E_TOOBIG ? PROTO_ERR_TOO_BIG : rc == PROTO_E_TYPE ?
                            PROTO_ERR_UNKNOWN_TYPE : PROTO_ERR_BAD_FRAME, "bad frame: %s", cai_strerror(rc));
            log_warn("%s: bad frame during handshake: %s", s->c->peer, cai_strerror(rc));
        }
        return -1;
    }
    if (m.type != PROTO_HELLO) {
        conn_send_error(s->c, PROTO_ERR_STATE, "expected HELLO, got %s", proto_type_name(m.type));
        log_warn("%s: %s before HELLO; closing", s->c->peer, proto_type_name(m.type));
        return -1;
    }
    proto_u64(&m, T_ROLE, &role);
    proto_u64(&m, T_VERSION, &version);
    proto_str(&m, T_NODE_ID, node, sizeof node);
    if (version < PROTO_VERSION_MIN || version > PROTO_VERSION_MAX) {
        conn_send_error(s->c, PROTO_ERR_VERSION, "protocol version %llu not supported (%d-%d)",
                        (unsigned long long)version, PROTO_VERSION_MIN, PROTO_VERSION_MAX);
        return -1;
    }
    char safe[IDS_NAME_MAX + 1];
    if (!node[0] || ids_sanitize(node, safe, sizeof safe) != 0) {
        conn_send_error(s->c, PROTO_ERR_BAD_REQUEST, "node id '%s' must be 1-64 of [A-Za-z0-9._-]", node);
        return -1;
    }
    if (proto_get(&m, T_PROOF, &proof) < 0 || proto_get(&m, T_NONCE, &pnonce) < 0 ||
        pnonce.len != PROTO_NONCE_LEN) {
        conn_send_error(s->c, PROTO_ERR_AUTH, "HELLO lacks a nonce or proof");
        return -1;
    }
    if (role == PROTO_ROLE_WORKER) {
        token = cfg->cluster_token;
    } else {
        const config_user *u = config_user_find(cfg, node);
        if (u) { token = u->token; admin = u->admin; }
        else if (auth_open(cfg)) { token = ""; admin = 1; }
    }
    if (!auth_open(cfg)) {
        if (!token) {
            conn_send_error(s->c, PROTO_ERR_AUTH, "unknown user or bad token");
            log_warn("%s: auth refused for unknown user '%s'", s->c->peer, node);
            return -1;
        }
        auth_peer_proof(token, (int)role, node, tls ? bnonce : nonce, want);
        if (!hash_equal(want, proof.p, PROTO_PROOF_LEN)) {
            conn_send_error(s->c, PROTO_ERR_AUTH, role == PROTO_ROLE_WORKER ?
                            "bad cluster token" : "unknown user or bad token");
            log_warn("%s: auth refused for %s '%s': wrong token", s->c->peer,
                     role == PROTO_ROLE_WORKER ? "worker" : "user", node);
            return -1;
        }
    } else if (!token) {
        token = "";
    }
    if (promote(s) < 0) return -1;
    if (tls) auth_bind_nonce(pnonce.p, binding, bpnonce);
    auth_master_proof(token, tls ? bpnonce : pnonce.p, mproof);
    proto_begin(&s->wb, PROTO_WELCOME, 0);
    proto_put_u64(&s->wb, T_VERSION, version);
    proto_put_str(&s->wb, T_NODE_ID, cfg->master_id);
    proto_put_bytes(&s->wb, T_PROOF, mproof, sizeof mproof);
    proto_put_u64(&s->wb, T_ADMIN, (uint64_t)admin);
    if (conn_send(s->c, &s->wb) < 0) return -1;
    s->c->role = (int)role;
    s->c->version = (int)version;
    s->c->admin = admin;
    snprintf(s->c->node_id, sizeof s->c->node_id, "%s", node);
    return 0;
}

/* ---- worker frames ------------------------------------------------------------- */

static char **collect_ids(const proto_msg *m, uint8_t tag, size_t *n)
{
    size_t pos = 0, cap = 0;
    proto_field f;
    char **ids = NULL;
    *n = 0;
    while (proto_next(m, tag, &pos, &f)) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            char **ni = realloc(ids, cap * sizeof *ids);
            if (!ni) break;
            ids = ni;
        }
        char *id = malloc(f.len + 1);
        if (!id) break;
        proto_field_str(&f, id, f.len + 1);
        ids[(*n)++] = id;
    }
    return ids;
}

/* RUNNING_ATTEMPT, one per RUNNING id, or NULL (none, another count, no
 * memory): the ids' attempts are then not known. */
static uint64_t *collect_attempts(const proto_msg *m, size_t nrunning)
{
    size_t pos = 0, n = 0;
    proto_field f;
    uint64_t *att = nrunning ? malloc(nrunning * sizeof *att) : NULL;
    while (att && proto_next(m, T_RUNNING_ATTEMPT, &pos, &f)) {
        if (n == nrunning) {   /* more than the ids: not one each */
            n++;
            break;
        }
        att[n++] = proto_field_u64(&f);
    }
    if (att && n != nrunning) {
        free(att);
        att = NULL;
    }
    return att;
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
}

static int h_register(session *s, const proto_msg *m)
{
    worker_rec w;
    size_t nr = 0, nh = 0;
    memset(&w, 0, sizeof w);
    worker_rec_get(m, &w);
    if (strcmp(w.worker_id, s->c->node_id)) {
        conn_send_error(s->c, PROTO_ERR_BAD_REQUEST, "REGISTER for '%s' on a connection of '%s'",
                        w.worker_id, s->c->node_id);
        return -1;
    }
    char **run = collect_ids(m, T_RUNNING, &nr), **held = collect_ids(m, T_HELD, &nh);
    uint64_t *att = collect_attempts(m, nr);
    int rc = cluster_worker_register(s->srv->cl, s->c, &w, run, att, nr, held, nh);
    free(att);
    free_ids(run, nr);
    free_ids(held, nh);
    if (rc < 0) return -1;
    proto_begin(&s->wb, PROTO_OK, 0);
    proto_put_str(&s->wb, T_MESSAGE, "registered");
    return conn_send(s->c, &s->wb);
}

static int h_heartbeat(session *s, const proto_msg *m)
{
    worker_rec w;
    memset(&w, 0, sizeof w);
    worker_rec_get(m, &w);
    cluster_worker_heartbeat(s->srv->cl, s->c->node_id, &w);
    return 0;
}

static int h_task_status(session *s, const proto_msg *m)
{
    char id[64], msg[1024] = "";
    uint64_t st = 0, attempt = 0;
    proto_str(m, T_TASK_ID, id, sizeof id);
    proto_u64(m, T_STATUS, &st);
    proto_u64(m, T_ATTEMPTS, &attempt);
    proto_str(m, T_MESSAGE, msg, sizeof msg);
    cluster_task_status(s->srv->cl, s->c->node_id, id, attempt, (int)st, msg);
    return 0;
}

static int h_task_result(session *s, const proto_msg *m)
{
    char id[64], error[1024] = "";
    uint64_t st = 0, attempt = 0;
    int64_t code = -1;
    uint64_t log_size = 0;
    /* A worker that streamed the log states its length; its LOG_TAIL
     * would only overwrite the streamed copy (proto.txt 9.1). */
    int streamed = proto_u64(m, T_LOG_SIZE, &log_size) == 0;
    char *tail = streamed ? NULL : proto_strdup(m, T_LOG_TAIL);
    proto_str(m, T_TASK_ID, id, sizeof id);
    proto_u64(m, T_STATUS, &st);
    proto_u64(m, T_ATTEMPTS, &attempt);
    proto_i64(m, T_EXIT_CODE, &code);
    proto_str(m, T_ERROR, error, sizeof error);
    double cpu_s = 0;
    uint64_t mem_peak = 0;
    proto_f64(m, T_CPU_S, &cpu_s);          /* absent (an older worker): unknown */
    proto_u64(m, T_MEM_PEAK, &mem_peak);
    uint64_t cur = 0;
    if (streamed && cluster_log_attempt(s->srv->cl, s->c->node_id, id, &cur) == 0 &&
        (!attempt || attempt == cur)) {
        char note[192];
        logbook_set_final(cluster_logbook(s->srv->cl), id, cur, log_size);
        logbook_cut_note(cluster_logbook(s->srv->cl), log_size, note, sizeof note);
        if (note[0]) cluster_log_note(s->srv->cl, id, note);
    }
    cluster_task_result(s->srv->cl, s->c->node_id, id, attempt, (int)st, code, cpu_s, mem_peak,
                        error, tail);
    free(tail);
    /* The task ended: its log's in-memory state goes (memory stays bounded
     * by running tasks); a late LOG_DATA finds it again from the file.
     * Followers are woken to see the end. */
    logbook_forget(cluster_logbook(s->srv->cl), id);
    return 0;
}

/* LOG_DATA from a worker: appended at its offset, acknowledged with the
 * length held (proto.txt 9.1). Data for a task or attempt that is no
 * longer this worker's is dropped, and acknowledged so the worker stops. */
static int h_log_data(session *s, const proto_msg *m)
{
    char id[64] = "";
    uint64_t off = 0, att = 0, cur = 0, held;
    proto_field d;
    proto_str(m, T_TASK_ID, id, sizeof id);
    proto_u64(m, T_OFFSET, &off);
    proto_get(m, T_DATA, &d);
    int have_att = proto_u64(m, T_ATTEMPTS, &att) == 0;
    held = UINT64_MAX;      /* not ours to keep: the worker stops sending it */
    if (off > UINT64_MAX - d.len) {
        conn_send_error(s->c, PROTO_ERR_BAD_REQUEST, "LOG_DATA offset out of range");
        return -1;
    }
    if (cluster_log_attempt(s->srv->cl, s->c->node_id, id, &cur) == 0 && (!have_att || att == cur)) {
        int rc = logbook_append(cluster_logbook(s->srv->cl), id, cur, off, d.p, d.len, &held);
        if (rc < 0)
            log_warn("task %s: cannot append to its log: %s", id, cai_strerror(rc));
    }
    proto_begin(&s->wb, PROTO_LOG_ACK, 0);
    proto_put_str(&s->wb, T_TASK_ID, id);
    proto_put_u64(&s->wb, T_OFFSET, held);
    if (have_att) proto_put_u64(&s->wb, T_ATTEMPTS, att);
    return conn_send(s->c, &s->wb);
}

static int h_upload_resume(session *s, const proto_msg *m)
{
    if (s->up) {
        conn_send_error(s->c, PROTO_ERR_STATE, "an upload is already open on this connection");
        return -1;
    }
    return uploads_resume(s->srv->up, s->c, m, &s->up);
}

static int h_file_chunk(session *s, const proto_msg *m)
{
    if (!s->up) {
        conn_send_error(s->c, PROTO_ERR_STATE, "FILE_CHUNK without UPLOAD_RESUME");
        return -1;
    }
    if (upload_chunk(s->srv->up, s->up, s->c, m) < 0) {
        s->up = NULL;        /* the session was dropped and answered */
        return -1;
    }
    /* The hasher may still read this frame: read the next into another. */
    s->rd.buf = upload_swap_buffer(s->up, s->rd.buf, (size_t)PROTO_HDR_LEN + s->rd.max);
    return 0;
}

static int h_file_end(session *s, const proto_msg *m)
{
    if (!s->up) {
        conn_send_error(s->c, PROTO_ERR_STATE, "FILE_END without UPLOAD_RESUME");
        return -1;
    }
    upload *u = s->up;
    s->up = NULL;
    return upload_end(s->srv->up, u, s->c, m) < 0 ? -1 : 0;
}

/* ---- client frames --------------------------------------------------------------- */

static int read_task(const proto_msg *m, task_rec *t, char *err, size_t errcap)
{
    int rc = task_rec_get(m, t);
    if (rc < 0) {
        snprintf(err, errcap, "bad task fields: %s", cai_strerror(rc));
        return -1;
    }
    proto_str(m, T_WORKER_ID, t->want_worker, sizeof t->want_worker);
    t->worker_id[0] = 0;
    return 0;
}

#define ACK_BATCH 128

/* Sends the SUBMIT_ACKs held back after one store sync: a client that
 * pipelines submissions costs one fsync per burst, not per task. */
static int flush_acks(session *s)
{
    char err[256] = "";
    int rc = 0;
    if (s->nacks == 0) return 0;
    if (meta_sync(cluster_meta(s->srv->cl), err, sizeof err) < 0) {
        conn_send_error(s->c, PROTO_ERR_STORE, "metadata store: %s", err);
        rc = -1;       /* which of the held tasks survive is unknown: close */
    } else if (conn_send_bytes(s->c, s->acks, s->acklen) < 0) {
        rc = -1;
    }
    s->nacks = s->acklen = 0;
    return rc;
}

static int input_pending(session *s)
{
    struct pollfd p = { s->c->fd, POLLIN, 0 };
    return poll(&p, 1, 0) > 0;
}

static int hold_ack(session *s)
{
    size_t n = s->wb.len;
    if (proto_finish(&s->wb) < 0) return -1;
    if (s->acklen + n > s->ackcap) {
        size_t cap = s->ackcap ? s->ackcap * 2 : 65536;
        while (cap < s->acklen + n) cap *= 2;
        uint8_t *nb = realloc(s->acks, cap);
        if (!nb) return flush_acks(s) < 0 ? -1 : conn_send(s->c, &s->wb);
        s->acks = nb;
        s->ackcap = cap;
    }
    memcpy(s->acks + s->acklen, s->wb.p, n);
    s->acklen += n;
    s->nacks++;
    if (s->nacks < ACK_BATCH && input_pending(s)) return 0;
    return flush_acks(s);
}

static inxfer_ctx *xfer(session *s, inxfer_ctx *x)
{
    x->ins = s->srv->ins;
    x->cl = s->srv->cl;
    x->cfg = s->srv->cfg;
    x->c = s->c;
    x->rd = &s->rd;
    x->wb = &s->wb;
    return x;
}

static int h_input(session *s, const proto_msg *m)
{
    inxfer_ctx x;
    if (!s->srv->ins) {
        conn_send_error(s->c, PROTO_ERR_STATE, "this master keeps no inputs");
        return 0;
    }
    xfer(s, &x);
    switch (m->type) {
    case PROTO_INPUT_QUERY: return inxfer_query(&x, m);
    case PROTO_INPUT_PUT: return inxfer_put(&x, m);
    default: return inxfer_get(&x, m);
    }
}

static int h_submit(session *s, const proto_msg *m)
{
    task_rec t, out;
    char err[1024] = "";
    int rc = 0;
    task_rec_init(&t);
    task_rec_init(&out);
    if (read_task(m, &t, err, sizeof err) < 0) {
        conn_send_error(s->c, PROTO_ERR_BAD_REQUEST, "%s", err);
        goto out;
    }
    if (m->type == PROTO_SUBMIT) t.want_worker[0] = 0;
    if (t.ninputs) {
        inxfer_ctx x;
        rc = s->srv->ins ? inxfer_resolve(xfer(s, &x), &t, s->c->node_id, s->c->admin, err,
                                          sizeof err)
                         : CAI_E_WIRE(PROTO_ERR_STATE);
        if (!s->srv->ins) snprintf(err, sizeof err, "this master keeps no inputs");
        if (rc) {
            if (flush_acks(s) < 0) { rc = -1; goto out; }
            conn_send_error(s->c, (uint64_t)cai_wire_code(rc), "%s", err);
            rc = 0;
            goto out;
        }
    }
    char spec[33] = "";
    if (proto_str(m, T_ARRAY, spec, sizeof spec) == 0 && spec[0])
        rc = cluster_submit_array(s->srv->cl, &t, spec, s->c->node_id, err, sizeof err, &out);
    else
        rc = cluster_submit_nosync(s->srv->cl, &t, s->c->node_id, err, sizeof err, &out);
    if (rc) {
        if (flush_acks(s) < 0) { rc = -1; goto out; }   /* replies stay in order */
        conn_send_error(s->c, (uint64_t)cai_wire_code(rc), "%s", err);
        rc = 0;
        goto out;
    }
    proto_begin(&s->wb, PROTO_SUBMIT_ACK, 0);
    size_t mark = proto_rec_begin(&s->wb, T_TASK);
    task_rec_put(&s->wb, &out);
    proto_rec_end(&s->wb, mark);
    if (err[0]) proto_put_str(&s->wb, T_MESSAGE, err);   /* a quota warning */
    rc = hold_ack(s);
out:
    task_rec_free(&t);
    task_rec_free(&out);
    return rc < 0 ? -1 : 0;
}

typedef struct lister {
    session *s;
    uint16_t type;
    int err;
    size_t count;
} lister;

static void list_begin(lister *l)
{
    proto_begin(&l->s->wb, l->type, 0);
}

static int list_flush(lister *l, int more)
{
    proto_put_u64(&l->s->wb, T_MORE, (uint64_t)more);
    if (conn_send(l->s->c, &l->s->wb) < 0) {
        l->err = -1;
        return -1;
    }
    list_begin(l);
    return 0;
}

static int list_room(lister *l)
{
    if (proto_payload_len(&l->s->wb) > LIST_FRAME_SOFT)
        return list_flush(l, 1);
    return 0;
}

static int list_task(void *ctx, const task_rec *t, uint64_t expires_at)
{
    lister *l = ctx;
    if (list_room(l) < 0) return 1;
    size_t mark = proto_rec_begin(&l->s->wb, T_TASK);
    task_rec_put(&l->s->wb, t);
    if (l->s->srv->rt) proto_put_u64(&l->s->wb, T_EXPIRES_AT, expires_at);
    /* The scheduler's projection; takes only its own lock. */
    uint64_t es, ps, pm;
    if (t->status == PROTO_ST_QUEUED &&
        cluster_expected(l->s->srv->cl, t->task_id, &es, &ps, &pm) == 0) {
        if (es) proto_put_u64(&l->s->wb, T_EXPECTED_START, es);
        if (ps) proto_put_u64(&l->s->wb, T_PREDICTED_S, ps);
        if (pm) proto_put_u64(&l->s->wb, T_PREDICTED_MEM, pm);
    }
    proto_rec_end(&l->s->wb, mark);
    l->count++;
    return 0;
}

static int list_file(void *ctx, const file_rec *f, uint64_t expires_at)
{
    lister *l = ctx;
    if (list_room(l) < 0) return 1;
    size_t mark = proto_rec_begin(&l->s->wb, T_FILE);
    file_rec_put(&l->s->wb, f);
    if (l->s->srv->rt) proto_put_u64(&l->s->wb, T_EXPIRES_AT, expires_at);
    proto_rec_end(&l->s->wb, mark);
    l->count++;
    return 0;
}

static int list_worker(void *ctx, const worker_rec *w)
{
    lister *l = ctx;
    if (list_room(l) < 0) return 1;
    size_t mark = proto_rec_begin(&l->s->wb, T_WORKER);
    worker_rec_put(&l->s->wb, w);
    proto_rec_end(&l->s->wb, mark);
    l->count++;
    return 0;
}

/* The filter fields of LIST_TASKS / LIST_FILES, as the catalog takes
 * them (strings point into buf). Who may see what is the catalog's rule. */
typedef struct list_args {
    char task_id[64], user[64], worker[64], name[129], pat[129], array[64];
    char cursor[CATALOG_CURSOR_MAX];
} list_args;

static void read_req(const proto_msg *m, catalog_req *rq, list_args *a)
{
    uint64_t v;
    memset(rq, 0, sizeof *rq);
    memset(a, 0, sizeof *a);
    if (proto_str(m, T_TASK_ID, a->task_id, sizeof a->task_id) == 0) rq->task_id = a->task_id;
    if (proto_str(m, T_USER_ID, a->user, sizeof a->user) == 0) rq->user_id = a->user;
    if (proto_str(m, T_WORKER_ID, a->worker, sizeof a->worker) == 0) rq->worker_id = a->worker;
    if (m->type == PROTO_LIST_TASKS && proto_str(m, T_ARRAY_ID, a->array, sizeof a->array) == 0)
        rq->array_id = a->array;
    if (proto_str(m, T_TASK_NAME, a->name, sizeof a->name) == 0) rq->task_name = a->name;
    if (proto_str(m, T_PATTERN, a->pat, sizeof a->pat) == 0) rq->pattern = a->pat;
    if (proto_str(m, T_CURSOR, a->cursor, sizeof a->cursor) == 0) rq->cursor = a->cursor;
    if (proto_u64(m, T_STATUS, &v) == 0) rq->status = (int)v;
    proto_u64(m, T_SINCE, &rq->since);
    proto_u64(m, T_UNTIL, &rq->until);
    if (proto_u64(m, T_LIMIT, &v) == 0)
        rq->limit = v > CATALOG_PAGE_MAX ? CATALOG_PAGE_MAX + 1 : (size_t)v;   /* refused */
}

static int h_list(session *s, const proto_msg *m)
{
    catalog cat = { cluster_meta(s->srv->cl), s->srv->cl, s->srv->rt };
    catalog_who who = { s->c->node_id, s->c->admin };
    catalog_req rq;
    catalog_page *pg = NULL;
    list_args *a = NULL;
    lister l = { s, 0, 0, 0 };
    int rc;
    if (m->type == PROTO_LIST_WORKERS) {
        l.type = PROTO_WORKER_LIST;
        list_begin(&l);
        catalog_workers(&cat, &who, list_worker, &l);
        return l.err ? -1 : list_flush(&l, 0);
    }
    if (!(pg = malloc(sizeof *pg)) || !(a = malloc(sizeof *a))) {
        conn_send_error(s->c, PROTO_ERR_INTERNAL, "out of memory");
        rc = 0;
        goto out;
    }
    read_req(m, &rq, a);
    if (m->type == PROTO_LIST_TASKS) {
        l.type = PROTO_TASK_LIST;
        list_begin(&l);
        rc = catalog_tasks(&cat, &who, &rq, list_task, &l, pg);
    } else {
        l.type = PROTO_FILE_LIST;
        list_begin(&l);
        rc = catalog_files(&cat, &who, &rq, list_file, &l, pg);
    }
    if (l.err || rc == CATALOG_E_ABORT) {
        rc = -1;
        goto out;
    }
    if (rc != CATALOG_OK) {
        uint64_t code = rc == CATALOG_E_FORBIDDEN ? PROTO_ERR_FORBIDDEN
                      : rc == CATALOG_E_ARG ? PROTO_ERR_BAD_REQUEST
                      : rc == CATALOG_E_UNAVAIL ? PROTO_ERR_STORE : PROTO_ERR_INTERNAL;
        conn_send_error(s->c, code, "%s", pg->err[0] ? pg->err : cai_strerror(rc));
        rc = 0;
        goto out;
    }
    if (pg->degraded) proto_put_str(&s->wb, T_MESSAGE, pg->note);
    if (pg->next_cursor[0]) proto_put_str(&s->wb, T_CURSOR, pg->next_cursor);
    rc = list_flush(&l, 0);
out:
    free(pg);
    free(a);
    return rc;
}

static int send_frame(void *ctx, proto_buf *b)
{
    session *s = ctx;
    return conn_send(s->c, b);
}

int server_check_sub(const config *cfg, const task_rec *t, const char *sub, char *err,
                     size_t errcap)
{
    if (!*sub || *sub == '/') {
        snprintf(err, errcap, "path '%s' must be relative to the task directory", sub);
        return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
    }
    int fd = store_open(cfg, t, sub, FSUTIL_DIR | FSUTIL_FILE);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    store_open_why(fd, sub, err, errcap);
    return CAI_E_WIRE(fd == -ENOENT || fd == -ENOTDIR ? PROTO_ERR_NOT_FOUND : PROTO_ERR_BAD_REQUEST);
}

/* GET_FILE of a run whose files are in the object store: the same
 * archive, built from the records and streamed from the bucket (each
 * object checked against its SHA-256). */
static void get_file_remote(session *s, const task_rec *t, char *sub)
{
    char err[512] = "";
    tar_stats st;
    chunk_tx tx;
    meta *m = cluster_meta(s->srv->cl);
    int rc;
    for (size_t n = sub ? strlen(sub) : 0; n > 1 && sub[n - 1] == '/'; n--) sub[n - 1] = 0;
    if ((rc = objstore_write_tar(m, t, sub, NULL, 1, NULL, NULL, &st, err, sizeof err)) < 0) {
        conn_send_error(s->c, rc == TAR_E_PATH ? PROTO_ERR_NOT_FOUND : PROTO_ERR_INTERNAL,
                        "task %s: %s", t->task_id, err);
        return;
    }
    if (chunk_tx_init(&tx, t->task_id, st.archive_bytes, 0, 1, send_frame, s) < 0) {
        conn_send_error(s->c, PROTO_ERR_INTERNAL, "out of memory");
        return;
    }
    rc = objstore_write_tar(m, t, sub, NULL, 1, chunk_tx_write, &tx, NULL, err, sizeof err);
    if (rc == 0) rc = chunk_tx_finish(&tx);
    if (rc < 0) {
        conn_send_error(s->c, PROTO_ERR_INTERNAL, "reading the stored files failed: %s",
                        err[0] ? err : "send failed");
        log_warn("task %s: download to %s from the object store failed: %s", t->task_id,
                 s->c->peer, err);
    }
    chunk_tx_free(&tx);
}

static int h_get_file(session *s, const proto_msg *m)
{
    char id[64] = "", err[512] = "";
    char sub[4097] = "";
    task_rec t;
    tar_stats st;
    chunk_tx tx;
    int rc, have_tx = 0, nsub = 0, runfd = -1;
    size_t pos = 0;
    proto_field f;

    task_rec_init(&t);
    proto_str(m, T_TASK_ID, id, sizeof id);
    if (cluster_task_for_user(s->srv->cl, id, s->c->node_id, s->c->admin, &t)) {
        conn_send_error(s->c, PROTO_ERR_NOT_FOUND, "no task %s", id);
        goto out;
    }
    if (t.status != PROTO_ST_COMPLETED && t.status != PROTO_ST_FAILED &&
        t.status != PROTO_ST_CANCELLED) {
        conn_send_error(s->c, PROTO_ERR_STATE, "task %s is %s; its files are not stored yet", id,
                        proto_status_name((uint64_t)t.status));
        goto out;
    }
    while (proto_next(m, T_FILE_NAME, &pos, &f)) {
        if (nsub++) {
            /* Two paths could share parents or overlap, and the archive
             * would then hold an entry twice: one path per request. */
            conn_send_error(s->c, PROTO_ERR_BAD_REQUEST, "give one FILE_NAME per GET_FILE");
            goto out;
        }
        proto_field_str(&f, sub, sizeof sub);
    }
    if (objstore_task_remote(cluster_meta(s->srv->cl), id)) {
        get_file_remote(s, &t, nsub ? sub : NULL);
        goto out;
    }
    int empty = 0;
    if ((runfd = store_open(s->srv->cfg, &t, "", FSUTIL_DIR)) < 0) {
        /* An empty output is stored without a directory (upload.c): the
         * whole of it downloads as an empty archive. */
        if (nsub || t.output_files || t.status == PROTO_ST_CANCELLED) {
            conn_send_error(s->c, PROTO_ERR_NOT_FOUND, "task %s has no stored files", id);
            goto out;
        }
        empty = 1;
        memset(&st, 0, sizeof st);
        st.archive_bytes = 1024;       /* the two end blocks */
    }
    /* A trailing "/" names the same directory; the archive needs it bare. */
    for (size_t n = strlen(sub); n > 1 && sub[n - 1] == '/'; n--) sub[n - 1] = 0;
    if (nsub && (rc = server_check_sub(s->srv->cfg, &t, sub, err, sizeof err)) != 0) {
        conn_send_error(s->c, (uint64_t)cai_wire_code(rc), "task %s: %s", id, err);
        goto out;
    }
    if (!empty && (rc = tar_measure_tree_fd(runfd, nsub ? sub : NULL, NULL, 1, &st, err, sizeof err)) < 0) {
        conn_send_error(s->c, rc == TAR_E_PATH ? PROTO_ERR_BAD_REQUEST : PROTO_ERR_INTERNAL,
                        "cannot read the stored files: %s", err);
        goto out;
    }
    if (chunk_tx_init(&tx, id, st.archive_bytes, 0, 1, send_frame, s) < 0) {
        conn_send_error(s->c, PROTO_ERR_INTERNAL, "out of memory");
        goto out;
    }
    have_tx = 1;
    if (s->c->version >= 2)
        chunk_tx_v2(&tx, 0);    /* CRC32C chunks; FILE_END keeps the stream's SHA256 */
    rc = empty ? tar_write_end(chunk_tx_write, &tx)
               : tar_write_tree_fd(runfd, nsub ? sub : NULL, NULL, 1, chunk_tx_write, &tx, NULL, err,
                                   sizeof err);
    if (rc == 0) rc = chunk_tx_finish(&tx);
    if (rc < 0) {
        /* Mid-stream failure: the client sees an ERROR instead of FILE_END. */
        conn_send_error(s->c, PROTO_ERR_INTERNAL, "reading the stored files failed: %s",
                        err[0] ? err : "send failed");
        log_warn("task %s: download to %s failed: %s", id, s->c->peer, err);
    }
out:
    if (runfd >= 0) close(runfd);
    if (have_tx) chunk_tx_free(&tx);
    task_rec_free(&t);
    return 0;
}

/* Pins or unpins a run for its owner or an admin (others: NOT_FOUND, as
 * for any task that is not theirs). The reply says when the run expires
 * now, so the client can show it. */
static int h_pin(session *s, const proto_msg *m)
{
    char id[64] = "", err[512] = "";
    uint64_t pin = 0;
    task_rec t;
    int rc;
    task_rec_init(&t);
    proto_str(m, T_TASK_ID, id, sizeof id);
    proto_u64(m, T_OK, &pin);
    if (cluster_task_for_user(s->srv->cl, id, s->c->node_id, s->c->admin, &t)) {
        conn_send_error(s->c, PROTO_ERR_NOT_FOUND,
                        "no task %s (only its owner or an admin may %s it)", id, pin ? "pin" : "unpin");
        goto out;
    }
    if (!s->srv->rt) {
        conn_send_error(s->c, PROTO_ERR_STATE, "this master keeps no retention state");
        goto out;
    }
    if ((rc = retention_pin(s->srv->rt, id, (int)pin, err, sizeof err)) < 0) {
        conn_send_error(s->c, PROTO_ERR_STORE, "cannot %s task %s: %s", pin ? "pin" : "unpin", id,
                        err[0] ? err : "out of memory");
        log_error("%s: %s task %s: %s", s->c->node_id, pin ? "pin" : "unpin", id, err);
        goto out;
    }
    log_info("%s %s task %s", s->c->node_id, pin ? "pinned" : "unpinned", id);
    proto_begin(&s->wb, PROTO_OK, 0);
    proto_put_str(&s->wb, T_TASK_ID, id);
    proto_put_str(&s->wb, T_MESSAGE, pin ? "pinned" : "unpinned");
    proto_put_u64(&s->wb, T_EXPIRES_AT, retention_expires_at(s->srv->rt, &t));
    conn_send(s->c, &s->wb);
out:
    task_rec_free(&t);
    return 0;
}

/* The task's status has no more log to come: it ran and ended (or never
 * will run). */
static int log_ended(int status)
{
    return status == PROTO_ST_UPLOADING || status == PROTO_ST_COMPLETED ||
           status == PROTO_ST_FAILED || status == PROTO_ST_CANCELLED;
}

/* The peer closed (or sent something, which a follower never does). */
static int peer_gone(session *s)
{
    struct pollfd pfd = { s->c->fd, POLLIN, 0 };
    return poll(&pfd, 1, 0) > 0;
}

#define LOG_PIECE (256 * 1024)
#define LOG_KEEPALIVE_MS 30000
#define LOG_LATE_MS 30000        /* how long a follower waits for a log's last bytes */

/* GET_LOG with OFFSET: the log from there in LOG_DATA frames and a
 * LOG_END; with FOLLOW, pushed as the worker streams it (the connection's
 * thread waits on the logbook, no polling of the disk) until the task has
 * ended (proto.txt 9.1). */
static int h_get_log_stream(session *s, const char *id, uint64_t off, int follow)
{
    logbook *lb = cluster_logbook(s->srv->cl);
    char path[CONFIG_PATH_MAX + 128];
    uint8_t *buf = malloc(LOG_PIECE);
    uint64_t attempt = UINT64_MAX, quiet_since = mono_ms(), ended_ms = 0;
    int rc = 0;
    task_rec t;
    task_rec_init(&t);
    if (!buf) {
        conn_send_error(s->c, PROTO_ERR_INTERNAL, "out of memory");
        return 0;
    }
    for (;;) {
        uint64_t gen = logbook_gen(lb);
        task_rec_free(&t);
        task_rec_init(&t);
        if (cluster_task_for_user(s->srv->cl, id, s->c->node_id, s->c->admin, &t)) {
            conn_send_error(s->c, PROTO_ERR_NOT_FOUND, "no task %s", id);
            goto out;
        }
        /* A new attempt (the task was re-queued) has a log of its own. */
        if (attempt != UINT64_MAX && t.attempts != attempt) off = 0;
        attempt = t.attempts;
        int ended = log_ended(t.status);    /* read before the file: no byte missed */
        if (ended && !ended_ms) ended_ms = mono_ms();
        logbook_read_path(lb, id, t.attempts, path, sizeof path);
        int fd = open(path, O_RDONLY | O_CLOEXEC), more = 0;
        for (int pieces = 0; fd >= 0 && pieces < 64; pieces++) {
            ssize_t n = pread(fd, buf, LOG_PIECE, (off_t)off);
            if (n <= 0) break;
            proto_begin(&s->wb, PROTO_LOG_DATA, 0);
            proto_put_str(&s->wb, T_TASK_ID, id);
            proto_put_u64(&s->wb, T_OFFSET, off);
            proto_put_bytes(&s->wb, T_DATA, buf, (size_t)n);
            if ((rc = conn_send(s->c, &s->wb)) < 0) {
                close(fd);
                goto out;
            }
            off += (uint64_t)n;
            quiet_since = mono_ms();
            more = 1;           /* more may be waiting: look again at once */
        }
        if (fd >= 0) close(fd);
        if (more) continue;
        /* Ended, but the worker said its log is longer than what is here
         * (it is still on its way): wait for it, a bounded time. */
        if (follow && ended && !logbook_complete(lb, id, t.attempts, off) &&
            mono_ms() - ended_ms < LOG_LATE_MS)
            ended = 0;
        if (!follow || ended) {
            char note[192] = "";
            if (logbook_cap(lb) && off > logbook_cap(lb))
                snprintf(note, sizeof note, "the log was cut at %llu bytes ([storage] max_log_bytes)",
                         (unsigned long long)logbook_cap(lb));
            proto_begin(&s->wb, PROTO_LOG_END, 0);
            proto_put_str(&s->wb, T_TASK_ID, id);
            proto_put_u64(&s->wb, T_STATUS, (uint64_t)t.status);
            proto_put_i64(&s->wb, T_EXIT_CODE, t.exit_code);
            proto_put_u64(&s->wb, T_LOG_SIZE, off);
            if (t.error[0]) proto_put_str(&s->wb, T_ERROR, t.error);
            if (note[0]) proto_put_str(&s->wb, T_MESSAGE, note);
            rc = conn_send(s->c, &s->wb);
            goto out;
        }
        if (s->srv->stop || peer_gone(s)) {
            rc = -1;
            goto out;
        }
        if (mono_ms() - quiet_since >= LOG_KEEPALIVE_MS) {
            /* An empty frame now and then: the client tells a quiet task
             * from a dead connection. */
            proto_begin(&s->wb, PROTO_LOG_DATA, 0);
            proto_put_str(&s->wb, T_TASK_ID, id);
            proto_put_u64(&s->wb, T_OFFSET, off);
            proto_put_bytes(&s->wb, T_DATA, "", 0);
            if ((rc = conn_send(s->c, &s->wb)) < 0) goto out;
            quiet_since = mono_ms();
        }
        logbook_wait(lb, gen, 1000);
    }
out:
    free(buf);
    task_rec_free(&t);
    return rc < 0 ? -1 : 0;
}

static int h_get_log(session *s, const proto_msg *m)
{
    char id[64] = "", path[CONFIG_PATH_MAX + 128];
    char *text = NULL;
    uint64_t off = 0, follow = 0;
    task_rec t;
    task_rec_init(&t);
    proto_str(m, T_TASK_ID, id, sizeof id);
    if (proto_u64(m, T_OFFSET, &off) == 0) {
        proto_u64(m, T_FOLLOW, &follow);
        return h_get_log_stream(s, id, off, follow != 0);
    }
    if (cluster_task_for_user(s->srv->cl, id, s->c->node_id, s->c->admin, &t)) {
        conn_send_error(s->c, PROTO_ERR_NOT_FOUND, "no task %s", id);
        goto out;
    }
    /* An older client: the last 64 KiB, one frame. */
    logbook_read_path(cluster_logbook(s->srv->cl), id, t.attempts, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        off_t end = lseek(fd, 0, SEEK_END);
        off_t start = end > 65536 ? end - 65536 : 0;
        if (end >= 0 && (text = malloc((size_t)(end - start) + 1))) {
            ssize_t n = pread(fd, text, (size_t)(end - start), start);
            text[n > 0 ? n : 0] = 0;
            for (ssize_t i = 0; i < n; i++)
                if (!text[i]) text[i] = '?';
        }
        close(fd);
    }
    proto_begin(&s->wb, PROTO_LOG, 0);
    proto_put_str(&s->wb, T_TASK_ID, id);
    proto_put_str(&s->wb, T_LOG_TAIL, text ? text : "");
    conn_send(s->c, &s->wb);
out:
    free(text);
    task_rec_free(&t);
    return 0;
}

/* GET_STATUS: admins only, like /metrics (it covers every user's tasks). */
static int h_status(session *s, const proto_msg *m)
{
    (void)m;
    if (!s->c->admin) {
        conn_send_error(s->c, PROTO_ERR_FORBIDDEN, "status is for admins ([auth] admins)");
        return 0;
    }
    status_put(s->srv->cl, &s->wb);
    return conn_send(s->c, &s->wb);
}

static int h_cancel(session *s, const proto_msg *m)
{
    char id[64] = "", err[512] = "";
    proto_str(m, T_TASK_ID, id, sizeof id);
    int rc = cluster_cancel(s->srv->cl, id, s->c->node_id, s->c->admin, err, sizeof err);
    if (rc) {
        conn_send_error(s->c, (uint64_t)cai_wire_code(rc), "%s", err);
        return 0;
    }
    proto_begin(&s->wb, PROTO_OK, 0);
    proto_put_str(&s->wb, T_TASK_ID, id);
    proto_put_str(&s->wb, T_MESSAGE, "cancelled");
    return conn_send(s->c, &s->wb);
}

/* WAIT: a subscription on this connection. Each named task's final
 * record goes out in its own TASK_LIST frame as it ends (those already
 * ended first), MORE = 1 until the last; the cluster wakes this thread
 * when a task ends. While nothing ends, an empty TASK_LIST (MORE = 1)
 * every WAIT_KEEPALIVE_MS tells the client the master is there. A frame
 * from the client (or its close) ends the wait; so does a stopping master,
 * by closing the connection (the client reconnects and waits again). */
#define WAIT_MAX 10000
#define WAIT_KEEPALIVE_MS 30000

static int wait_send(session *s, const task_rec *t, int more)
{
    proto_begin(&s->wb, PROTO_TASK_LIST, 0);
    if (t) {
        size_t mark = proto_rec_begin(&s->wb, T_TASK);
        task_rec_put(&s->wb, t);
        proto_rec_end(&s->wb, mark);
    }
    proto_put_u64(&s->wb, T_MORE, (uint64_t)more);
    return conn_send(s->c, &s->wb);
}

static int h_wait(session *s, const proto_msg *m)
{
    size_t n = 0, left;
    char **ids = collect_ids(m, T_TASK_ID, &n), *done = NULL;
    int rc = 0;
    cluster_wait w = { 0 };
    task_rec t;
    task_rec_init(&t);
    if (!n) {
        conn_send_error(s->c, PROTO_ERR_BAD_REQUEST, "WAIT names no task");
        goto out;
    }
    if (n > WAIT_MAX) {
        conn_send_error(s->c, PROTO_ERR_LIMIT, "WAIT names %zu tasks; at most %d", n, WAIT_MAX);
        goto out;
    }
    if (!(done = calloc(n, 1)) || cluster_wait_init(&w, ids, done, n) < 0) {
        conn_send_error(s->c, PROTO_ERR_INTERNAL, "out of memory");
        goto out;
    }
    /* Every id must be the user's own (or any, for an admin): refused
     * whole before anything is sent. A repeated id is reported once. */
    left = n;
    for (size_t i = 0; i < n; i++) {
        if (done[i]) {
            left--;
            continue;
        }
        task_rec_free(&t);
        task_rec_init(&t);
        if (cluster_task_for_user(s->srv->cl, ids[i], s->c->node_id, s->c->admin, &t)) {
            conn_send_error(s->c, PROTO_ERR_NOT_FOUND, "no task %s", ids[i]);
            goto out;
        }
    }
    uint64_t quiet_since = ids_now_ms();
    while (left && !s->srv->stop) {
        if (!cluster_wait_ended(s->srv->cl, &w, 1000)) {
            if (input_pending(s)) break;          /* a frame or the client's close */
            if (ids_now_ms() - quiet_since >= WAIT_KEEPALIVE_MS) {
                if ((rc = wait_send(s, NULL, 1)) < 0) goto out;
                quiet_since = ids_now_ms();
            }
            continue;
        }
        for (size_t f = 0; f < w.nfresh; f++) {
            size_t i = w.fresh[f];
            done[i] = 2;
            left--;
            task_rec_free(&t);
            task_rec_init(&t);
            if (cluster_task_for_user(s->srv->cl, ids[i], s->c->node_id, s->c->admin, &t)) {
                /* Ended and gone (removed by retention at once): say so. */
                snprintf(t.task_id, sizeof t.task_id, "%s", ids[i]);
                t.status = PROTO_ST_FAILED;
                snprintf(t.error, sizeof t.error, "its record is no longer in the store");
            }
            if ((rc = wait_send(s, &t, left > 0)) < 0) goto out;
        }
        quiet_since = ids_now_ms();
    }
    if (s->srv->stop) rc = -1;
out:
    task_rec_free(&t);
    cluster_wait_free(&w);
    free(done);
    free_ids(ids, n);
    return rc < 0 ? -1 : 0;
}

/* ---- dispatch --------------------------------------------------------------------- */

static const struct {
    uint16_t type;
    int role;
    handler_fn fn;
} handlers[] = {
    { PROTO_REGISTER, PROTO_ROLE_WORKER, h_register },
    { PROTO_HEARTBEAT, PROTO_ROLE_WORKER, h_heartbeat },
    { PROTO_TASK_STATUS, PROTO_ROLE_WORKER, h_task_status },
    { PROTO_TASK_RESULT, PROTO_ROLE_WORKER, h_task_result },
    { PROTO_UPLOAD_RESUME, PROTO_ROLE_WORKER, h_upload_resume },
    { PROTO_FILE_CHUNK, PROTO_ROLE_WORKER, h_file_chunk },
    { PROTO_FILE_END, PROTO_ROLE_WORKER, h_file_end },
    { PROTO_LOG_DATA, PROTO_ROLE_WORKER, h_log_data },
    { PROTO_SUBMIT, PROTO_ROLE_CLIENT, h_submit },
    { PROTO_DISPATCH, PROTO_ROLE_CLIENT, h_submit },
    { PROTO_LIST_TASKS, PROTO_ROLE_CLIENT, h_list },
    { PROTO_LIST_FILES, PROTO_ROLE_CLIENT, h_list },
    { PROTO_LIST_WORKERS, PROTO_ROLE_CLIENT, h_list },
    { PROTO_GET_FILE, PROTO_ROLE_CLIENT, h_get_file },
    { PROTO_GET_LOG, PROTO_ROLE_CLIENT, h_get_log },
    { PROTO_CANCEL, PROTO_ROLE_CLIENT, h_cancel },
    { PROTO_PIN, PROTO_ROLE_CLIENT, h_pin },
    { PROTO_GET_STATUS, PROTO_ROLE_CLIENT, h_status },
    { PROTO_INPUT_QUERY, PROTO_ROLE_CLIENT, h_input },
    { PROTO_INPUT_PUT, PROTO_ROLE_CLIENT, h_input },
    { PROTO_GET_INPUT, PROTO_ROLE_WORKER, h_input },
    { PROTO_WAIT, PROTO_ROLE_CLIENT, h_wait },
};

static int dispatch(session *s, const proto_msg *m)
{
    /* Held SUBMIT_ACKs go out before any other reply. */
    if (m->type != PROTO_SUBMIT && m->type != PROTO_DISPATCH && flush_acks(s) < 0)
        return -1;
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++) {
        if (handlers[i].type != m->type) continue;
        if (handlers[i].role != s->c->role) {
            conn_send_error(s->c, PROTO_ERR_FORBIDDEN, "%s is not allowed for a %s",
                            proto_type_name(m->type), s->c->role == PROTO_ROLE_WORKER ? "worker" : "client");
            log_warn("%s (%s): %s not allowed for its role; closing", s->c->peer, s->c->node_id,
                     proto_type_name(m->type));
            return -1;
        }
        return handlers[i].fn(s, m);
    }
    conn_send_error(s->c, PROTO_ERR_STATE, "unexpected %s", proto_type_name(m->type));
    log_warn("%s (%s): unexpected %s; closing", s->c->peer, s->c->node_id, proto_type_name(m->type));
    return -1;
}

static void *conn_main(void *arg)
{
    session *s = arg;
    server *srv = s->srv;
    proto_msg m;
    int rc;

    proto_buf_init(&s->wb);
    rc = 0;
    if (frame_reader_init(&s->rd, srv->cfg->max_frame) < 0 || handshake(s) < 0)
        goto out;
    log_debug("%s: %s '%s' connected", s->c->peer,
              s->c->role == PROTO_ROLE_WORKER ? "worker" : "user", s->c->node_id);
    for (;;) {
        rc = frame_read(s->c->fd, &s->rd, &m, srv->cfg->idle_timeout_s * 1000,
                        srv->cfg->frame_timeout_s * 1000);
        if (rc == -EPIPE) break;
        if (rc == -ETIMEDOUT) {
            log_info("%s (%s): idle or stalled past the timeout; closing", s->c->peer, s->c->node_id);
            break;
        }
        if (proto_rc_is_codec(rc)) {
            conn_send_error(s->c, rc == PROTO_E_TOOBIG ? PROTO_ERR_TOO_BIG : rc == PROTO_E_TYPE ?
                            PROTO_ERR_UNKNOWN_TYPE : PROTO_ERR_BAD_FRAME, "bad frame: %s", cai_strerror(rc));
            log_warn("%s (%s): bad frame: %s; closing", s->c->peer, s->c->node_id, cai_strerror(rc));
            if (s->up) {
                char why[128];
                snprintf(why, sizeof why, "bad frame during the upload: %s", cai_strerror(rc));
                uploads_abort(srv->up, s->up, why);
                s->up = NULL;
            }
            break;
        }
        if (rc < 0) break;
        if ((rc = dispatch(s, &m)) < 0) break;
    }
out:
    flush_acks(s);
    free(s->acks);
    if (s->up) uploads_detach(srv->up, s->up);
    if (s->c->role == PROTO_ROLE_WORKER)
        cluster_worker_gone(srv->cl, s->c->node_id, s->c);
    frame_reader_free(&s->rd);
    proto_buf_free(&s->wb);
    /* Not after an orderly close (nothing left to read) nor an eviction
     * (the socket is already shut down both ways). */
    pthread_mutex_lock(&srv->mu);
    int evicted = s->evicted;
    pthread_mutex_unlock(&srv->mu);
    if (rc != -EPIPE && !evicted && !srv->stop) conn_linger(s->c, CONN_LINGER_MS, CONN_LINGER_BYTES);
    release(s);
    conn_unref(s->c);
    free(s);
    return NULL;
}

server *server_new(const config *cfg, cluster *cl, uploads *up, char *bound, size_t boundcap,
                   char *err, size_t errcap)
{
    server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    s->cl = cl;
    s->up = up;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->gone, NULL);
    if (cfg->tls_cert[0] || cfg->tls_key[0]) {
        if (!cfg->tls_cert[0] || !cfg->tls_key[0]) {
            snprintf(err, errcap, "[tls] needs both cert and key on the master");
            free(s);
            return NULL;
        }
        if (!(s->tls = tls_server_new(cfg->tls_cert, cfg->tls_key, cfg->tls_ca,
                                      cfg->tls_require_client_cert, err, errcap))) {
            free(s);
            return NULL;
        }
    }
    s->lfd = net_listen(cfg->listen, 128, bound, boundcap);
    if (s->lfd < 0) {
        snprintf(err, errcap, "cannot listen on %s: %s", cfg->listen, cai_strerror(s->lfd));
        tls_ctx_free(s->tls);
        free(s);
        return NULL;
    }
    return s;
}

void server_set_retention(server *s, retention *rt)
{
    s->rt = rt;
}

void server_set_instore(server *s, instore *ins)
{
    s->ins = ins;
}

int server_run(server *s)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    while (!s->stop) {
        char peer[96];
        int fd = net_accept(s->lfd, peer, sizeof peer);
        if (fd < 0) {
            if (s->stop) break;
            if (fd == -EMFILE || fd == -ENFILE) usleep(100 * 1000);
            continue;
        }
        conn *c = conn_new(fd, peer, s->cfg->frame_timeout_s * 1000);
        session *ss = c ? calloc(1, sizeof *ss) : NULL;
        if (!ss) {
            if (c) conn_unref(c); else close(fd);
            continue;
        }
        ss->srv = s;
        ss->c = c;
        peer_host(peer, ss->addr, sizeof ss->addr);
        admit(s, ss);
        pthread_t th;
        if (pthread_create(&th, &attr, conn_main, ss) != 0) {
            release(ss);
            conn_unref(c);
            free(ss);
        }
    }
    pthread_attr_destroy(&attr);
    return 0;
}

void server_stop(server *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    /* Every connection's next read sees EOF: its thread ends soon, a
     * handler in progress finishes first. The fds stay open until then. */
    for (session *l = s->live; l; l = l->lnext) shutdown(l->c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&s->mu);
    shutdown(s->lfd, SHUT_RDWR);
}

/* Connection threads are detached and use the server (its lock, config,
 * cluster and uploads) to their last step: free only once every one has
 * let go, or the first to wake after the free touches freed memory. */
void server_free(server *s)
{
    if (!s) return;
    server_stop(s);
    pthread_mutex_lock(&s->mu);
    for (int waited = 0; s->nlive > 0; waited++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&s->gone, &s->mu, &ts);
        if (s->nlive > 0 && waited == SERVER_FREE_WAIT_S) {
            /* A handler stuck in a system call: better a leak at exit
             * than a use after free. */
            log_warn("server: %d connection threads still running after %d s; not freed",
                     s->nlive, SERVER_FREE_WAIT_S);
            pthread_mutex_unlock(&s->mu);
            return;
        }
    }
    pthread_mutex_unlock(&s->mu);
    close(s->lfd);
    tls_ctx_free(s->tls);
    pthread_cond_destroy(&s->gone);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
