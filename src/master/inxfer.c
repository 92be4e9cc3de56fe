/* inxfer.c — task inputs on the wire, master side (inxfer.h). */
#include "inxfer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "chunk.h"
#include "hash.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "upload.h"

#define QUERY_MAX 1024     /* SHA256 fields in one INPUT_QUERY */

void inxfer_stream_id(const uint8_t sha[32], char out[32])
{
    char hx[65];
    hash_hex(sha, 32, hx);
    snprintf(out, 32, "input-%.16s", hx);
}

/* Held for this client: in the store, and shown to be the client's. */
static int held_for(inxfer_ctx *x, const uint8_t sha[32], uint64_t *size)
{
    return instore_has(x->ins, sha, size) &&
           (x->c->admin || instore_owns(x->ins, sha, x->c->node_id));
}

int inxfer_query(inxfer_ctx *x, const proto_msg *m)
{
    size_t pos = 0, n = 0, held = 0;
    proto_field f;
    proto_begin(x->wb, PROTO_INPUT_NEED, 0);
    while (proto_next(m, T_SHA256, &pos, &f)) {
        if (++n > QUERY_MAX) {
            conn_send_error(x->c, PROTO_ERR_BAD_REQUEST, "more than %d inputs in one INPUT_QUERY",
                            QUERY_MAX);
            return 0;
        }
        if (held_for(x, f.p, NULL))
            held++;
        else
            proto_put_bytes(x->wb, T_SHA256, f.p, 32);
    }
    if (held) instore_count_dedup(x->ins, held);
    return conn_send(x->c, x->wb) < 0 ? -1 : 0;
}

static void send_ack(inxfer_ctx *x, const char *id, int ok, const char *msg)
{
    proto_begin(x->wb, PROTO_FILE_ACK, 0);
    proto_put_str(x->wb, T_TASK_ID, id);
    proto_put_u64(x->wb, T_OK, ok ? 1 : 0);
    if (msg && *msg) proto_put_str(x->wb, T_MESSAGE, msg);
    conn_send(x->c, x->wb);
}

/* INPUT_PUT { SHA256, TOTAL_SIZE }: answered OK (send the stream),
 * FILE_ACK OK = 1 (already held: send nothing) or ERROR; then the
 * stream's frames are read here, and FILE_ACK gives the verdict. */
int inxfer_put(inxfer_ctx *x, const proto_msg *m)
{
    proto_field f;
    uint64_t total = 0;
    uint8_t sha[32];
    char id[32], err[512] = "", hx[65];
    instore_put *w = NULL;
    chunk_rx rx;
    int rc = -1, have_rx = 0;

    proto_get(m, T_SHA256, &f);
    memcpy(sha, f.p, 32);
    proto_u64(m, T_TOTAL_SIZE, &total);
    inxfer_stream_id(sha, id);
    hash_hex(sha, 32, hx);
    if (held_for(x, sha, NULL)) {
        instore_count_dedup(x->ins, 1);
        send_ack(x, id, 1, "already held");
        return 0;
    }
    if (!(w = instore_put_begin(x->ins, sha, total, err, sizeof err))) {
        uint64_t max = instore_max_bytes(x->ins);
        conn_send_error(x->c, max && total > max ? PROTO_ERR_LIMIT : PROTO_ERR_STORE, "%s", err);
        return 0;
    }
    if (chunk_rx_init(&rx, id, instore_put_write, w) < 0) {
        instore_put_abort(w);
        conn_send_error(x->c, PROTO_ERR_INTERNAL, "out of memory");
        return 0;
    }
    have_rx = 1;
    rx.total = total;
    proto_begin(x->wb, PROTO_OK, 0);
    proto_put_str(x->wb, T_MESSAGE, "send");
    if (conn_send(x->c, x->wb) < 0) goto out;
    for (;;) {
        proto_msg fm;
        int r = frame_read(x->c->fd, x->rd, &fm, x->cfg->idle_timeout_s * 1000,
                           x->cfg->frame_timeout_s * 1000);
        if (r < 0) {
            if (proto_rc_is_codec(r)) {
                conn_send_error(x->c, PROTO_ERR_BAD_FRAME, "bad frame: %s", cai_strerror(r));
            }
            log_warn("%s (%s): input %.12s: stream broken: %s", x->c->peer, x->c->node_id, hx,
                     cai_strerror(r));
            goto out;
        }
        if (fm.type == PROTO_FILE_CHUNK) {
            if ((r = chunk_rx_chunk(&rx, &fm)) < 0) {
                const char *why = rx.err[0] ? rx.err : instore_put_error(w);
                send_ack(x, id, 0, why);
                log_warn("%s (%s): input %.12s refused: %s", x->c->peer, x->c->node_id, hx, why);
                goto out;
            }
            continue;
        }
        if (fm.type != PROTO_FILE_END) {
            conn_send_error(x->c, PROTO_ERR_STATE, "%s inside an input stream",
                            proto_type_name(fm.type));
            goto out;
        }
        if (chunk_rx_end(&rx, &fm) < 0) {
            send_ack(x, id, 0, rx.err);
            goto out;
        }
        break;
    }
    uint64_t size = 0;
    int crc = instore_put_commit(w, NULL, &size, err, sizeof err);
    w = NULL;
    if (crc < 0) {
        send_ack(x, id, 0, err);
        log_warn("%s (%s): input %.12s not stored: %s", x->c->peer, x->c->node_id, hx, err);
        rc = 0;
        goto out;
    }
    if (instore_own(x->ins, sha, x->c->node_id) < 0) {
        send_ack(x, id, 0, "the input store failed to record its owner");
        rc = 0;
        goto out;
    }
    log_info("input %s stored: %llu bytes from %s", hx, (unsigned long long)size, x->c->node_id);
    send_ack(x, id, 1, "stored");
    rc = 0;
out:
    if (w) instore_put_abort(w);
    if (have_rx) chunk_rx_free(&rx);
    return rc;
}

static int send_conn(void *ctx, proto_buf *b)
{
    return conn_send(ctx, b);
}

static int resolve_ref(inxfer_ctx *x, task_input *in, const char *user, int admin,
                       const task_rec *consumer, char *err, size_t errcap);

/* GET_INPUT { TASK_ID, SOURCE } for an input the task's SUBMIT left to
 * bind at its start (task:ID of a dependency): the master resolves it now
 * from its store, records it in the task (provenance) and answers OK
 * { INPUT }; the worker then fetches it by SHA256. */
static int bind_ref(inxfer_ctx *x, const proto_msg *m)
{
    char tid[64] = "", err[768] = "";
    char *src = proto_strdup(m, T_SOURCE);
    task_rec t;
    task_input in;
    int rc = 0, found = 0;      /* an ERROR answered keeps the connection */
    task_rec_init(&t);
    memset(&in, 0, sizeof in);
    proto_str(m, T_TASK_ID, tid, sizeof tid);
    if (!src || !tid[0]) {
        conn_send_error(x->c, PROTO_ERR_BAD_REQUEST, "GET_INPUT needs SHA256, or TASK_ID and SOURCE");
        goto out;
    }
    /* The reference must be an unbound input of that task: a worker
     * cannot name any task's output this way. */
    if (cluster_task_for_user(x->cl, tid, "", 1, &t) == 0)
        for (int i = 0; i < t.ninputs; i++)
            if (!t.inputs[i].has_sha && !strcmp(t.inputs[i].source, src)) found = 1;
    if (!found) {
        conn_send_error(x->c, PROTO_ERR_NOT_FOUND, "task %s has no unbound input '%.200s'", tid, src);
        goto out;
    }
    in.source = src;
    /* Visibility was checked at submit, for the task's owner. */
    int r = resolve_ref(x, &in, t.user_id, 1, NULL, err, sizeof err);
    if (r) {
        conn_send_error(x->c, (uint64_t)cai_wire_code(r), "%s", err);
        goto out;
    }
    if (cluster_task_bind_input(x->cl, tid, &in) != 0) {
        conn_send_error(x->c, PROTO_ERR_NOT_FOUND, "task %s is no longer active", tid);
        goto out;
    }
    char hx[65];
    hash_hex(in.sha256, 32, hx);
    log_info("task %s: input '%s' bound to %s (%llu bytes)", tid, src, hx,
             (unsigned long long)in.size);
    in.dest = "";
    proto_begin(x->wb, PROTO_OK, 0);
    proto_put_str(x->wb, T_TASK_ID, tid);
    task_input_put(x->wb, &in);
    rc = conn_send(x->c, x->wb) < 0 ? -1 : 0;
    in.dest = NULL;
out:
    free(src);
    task_rec_free(&t);
    return rc;
}

/* GET_INPUT { SHA256, OFFSET }: the blob as a stream from OFFSET (a chunk
 * boundary), or ERROR NOT_FOUND. The bytes below OFFSET are read for the
 * stream's SHA-256 but not sent. */
int inxfer_get(inxfer_ctx *x, const proto_msg *m)
{
    proto_field f;
    uint64_t off = 0;
    uint8_t sha[32];
    char id[32], path[CONFIG_PATH_MAX + 128], hx[65];
    struct stat st;
    chunk_tx tx;
    uint8_t *buf = NULL;
    int fd = -1, rc = 0;

    proto_u64(m, T_OFFSET, &off);
    if (proto_get(m, T_SHA256, &f) < 0)
        return bind_ref(x, m);   /* answers OK { INPUT } or ERROR */
    memcpy(sha, f.p, 32);
    hash_hex(sha, 32, hx);
    inxfer_stream_id(sha, id);
    instore_path(x->ins, sha, path, sizeof path);
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
        conn_send_error(x->c, PROTO_ERR_NOT_FOUND, "no input %s", hx);
        goto out;
    }
    if (off % PROTO_CHUNK_MAX || off > (uint64_t)st.st_size) {
        conn_send_error(x->c, PROTO_ERR_BAD_REQUEST, "OFFSET %llu is not a chunk boundary of input %s",
                        (unsigned long long)off, hx);
        goto out;
    }
    hash_sha256 check;
    if (!(buf = malloc(1 << 16)) || hash_sha256_init(&check) < 0) {
        conn_send_error(x->c, PROTO_ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (chunk_tx_init(&tx, id, (uint64_t)st.st_size, off, 1, send_conn, x->c) < 0) {
        hash_sha256_free(&check);
        conn_send_error(x->c, PROTO_ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (off) log_info("input %s: worker %s resumes at byte %llu", hx, x->c->node_id,
                      (unsigned long long)off);
    for (;;) {
        ssize_t k = read(fd, buf, 1 << 16);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            conn_send_error(x->c, PROTO_ERR_STORE, "reading input %s: %s", hx, strerror(errno));
            rc = -1;
            break;
        }
        if (k == 0) {
            /* The blob is checked against its name before FILE_END: a
             * blob damaged on disk is never served as the input; it is
             * set aside, so the next client that has it sends it again. */
            uint8_t got[32];
            hash_sha256_final(&check, got);
            if (memcmp(got, sha, 32) != 0) {
                char aside[CONFIG_PATH_MAX + 160];
                snprintf(aside, sizeof aside, "%s.damaged", path);
                rename(path, aside);
                log_error("input %s is damaged in the store (its bytes hash otherwise); "
                          "set aside as %s", hx, aside);
                conn_send_error(x->c, PROTO_ERR_STORE, "input %s is damaged in the master's "
                                "store and was set aside; its owner must send it again", hx);
                break;
            }
            if (chunk_tx_finish(&tx) < 0) rc = -1;
            break;
        }
        hash_sha256_update(&check, buf, (size_t)k);
        if (chunk_tx_write(&tx, buf, (size_t)k) < 0) {
            rc = -1;
            break;
        }
    }
    hash_sha256_free(&check);
    chunk_tx_free(&tx);
out:
    free(buf);
    if (fd >= 0) close(fd);
    return rc;
}

/* task:ID[/PATH] -> id and path ("" = the whole output). */
static int parse_ref(const char *src, char *id, size_t idcap, const char **path)
{
    const char *p = src + 5, *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || n >= idcap) return -1;
    memcpy(id, p, n);
    id[n] = 0;
    *path = slash ? slash + 1 : "";
    return 0;
}

/* 1 if id is one of the comma-separated ids of list. */
static int in_list(const char *list, const char *id)
{
    size_t n = strlen(id);
    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t k = c ? (size_t)(c - p) : strlen(p);
        if (k == n && !strncmp(p, id, n)) return 1;
        if (!c) break;
        p = c + 1;
    }
    return 0;
}

/* consumer: the task being submitted (its -after lists allow a reference to
 * a task still running: returns 1, bound later), or NULL (bind now).
 * 0 when bound, or CAI_E_WIRE(PROTO_ERR_*) with err filled. */
static int resolve_ref(inxfer_ctx *x, task_input *in, const char *user, int admin,
                       const task_rec *consumer, char *err, size_t errcap)
{
    char id[64], sub[4097], e2[512];
    const char *path;
    task_rec t;
    int rc = 0, fd = -1;
    if (parse_ref(in->source, id, sizeof id, &path) < 0) {
        snprintf(err, errcap, "input '%.200s': give task:ID or task:ID/PATH", in->source);
        return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
    }
    task_rec_init(&t);
    if (cluster_task_for_user(x->cl, id, user, admin, &t)) {
        snprintf(err, errcap, "input '%.200s': no task %s", in->source, id);
        rc = CAI_E_WIRE(PROTO_ERR_NOT_FOUND);
        goto out;
    }
    if (t.status != PROTO_ST_COMPLETED && t.status != PROTO_ST_FAILED &&
        t.status != PROTO_ST_CANCELLED) {
        /* A dependency: its output is taken when the consumer starts. */
        if (consumer && (in_list(consumer->after, id) || in_list(consumer->after_any, id))) {
            const char *bad = path[0] ? task_input_dest_invalid(path) : NULL;
            if (bad) {
                snprintf(err, errcap, "input '%.200s': the path %s", in->source, bad);
                rc = CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
            } else {
                rc = 1;
            }
            goto out;
        }
        snprintf(err, errcap, "input '%.200s': task %s is %s; its outputs are not stored yet "
                 "(add -after %s to start once it has completed)", in->source, id,
                 proto_status_name((uint64_t)t.status), id);
        rc = CAI_E_WIRE(PROTO_ERR_STATE);
        goto out;
    }
    snprintf(sub, sizeof sub, "%s", path);
    for (size_t n = strlen(sub); n > 0 && sub[n - 1] == '/'; n--) sub[n - 1] = 0;
    if (!store_run_exists(x->cfg, &t)) {
        snprintf(err, errcap, "input '%.200s': task %s stored no output files", in->source, id);
        rc = CAI_E_WIRE(PROTO_ERR_NOT_FOUND);
        goto out;
    }
    /* The master never follows a link inside a stored run: what is read
     * is what store_open reached, every component O_NOFOLLOW. */
    if ((fd = store_open(x->cfg, &t, sub, FSUTIL_DIR | FSUTIL_FILE)) < 0) {
        int missing = fd == -ENOENT || fd == -ENOTDIR;
        store_open_why(fd, sub, e2, sizeof e2);
        snprintf(err, errcap, "input '%.200s': %s", in->source,
                 missing ? "not in that task's outputs" : e2);
        rc = CAI_E_WIRE(missing ? PROTO_ERR_NOT_FOUND : PROTO_ERR_BAD_REQUEST);
        goto out;
    }
    rc = instore_add_fd(x->ins, fd, sub[0] ? sub : id, in, e2, sizeof e2);
    if (rc < 0) {
        snprintf(err, errcap, "input '%.200s': %s", in->source, e2);
        rc = CAI_E_WIRE(rc == INSTORE_E_LIMIT ? PROTO_ERR_LIMIT : PROTO_ERR_STORE);
        goto out;
    }
    /* The client may read that output: the blob is now its own too. */
    if (instore_own(x->ins, in->sha256, user) < 0) {
        snprintf(err, errcap, "input '%.200s': the input store failed", in->source);
        rc = CAI_E_WIRE(PROTO_ERR_STORE);
        goto out;
    }
out:
    if (fd >= 0) close(fd);
    task_rec_free(&t);
    return rc;
}

int inxfer_resolve(inxfer_ctx *x, task_rec *t, const char *user, int admin, char *err,
                   size_t errcap)
{
    char buf[600];
    if (t->ninputs == 0) return 0;
    if (t->ninputs > TASK_INPUTS_MAX) {
        snprintf(err, errcap, "more than %d inputs", TASK_INPUTS_MAX);
        return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
    }
    if (task_inputs_conflict(t->inputs, t->ninputs, buf, sizeof buf)) {
        snprintf(err, errcap, "%s", buf);
        return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
    }
    for (int i = 0; i < t->ninputs; i++) {
        task_input *in = &t->inputs[i];
        if (!in->has_sha) {
            if (strncmp(in->source, "task:", 5) != 0) {
                snprintf(err, errcap, "input '%.200s' has no SHA-256 and is not a task:ID reference",
                         in->source);
                return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
            }
            int rc = resolve_ref(x, in, user, admin, t, err, errcap);
            if (rc < 0) return rc;
            continue;
        }
        uint64_t size = 0;
        if (!(instore_has(x->ins, in->sha256, &size) &&
              (admin || instore_owns(x->ins, in->sha256, user)))) {
            char hx[65];
            hash_hex(in->sha256, 32, hx);
            snprintf(err, errcap, "input '%.200s' (sha256 %s) is not held by the master: "
                     "send it first (INPUT_PUT)", in->source, hx);
            return CAI_E_WIRE(PROTO_ERR_BAD_REQUEST);
        }
        in->size = size;
    }
    return 0;
}
