/* inxfer.h — the master's side of task inputs on the wire (proto.txt
 * "Inputs"): INPUT_QUERY (which inputs does the master lack), INPUT_PUT
 * (a client sends one, as a chunked stream), GET_INPUT (a worker fetches
 * one, resuming at a chunk boundary), and the resolution of a SUBMIT's
 * inputs (task:ID[/PATH] references become blobs; uploaded ones must be
 * held). Each runs in the calling connection's thread, with no cluster
 * lock held during disk I/O. Every function answers the peer itself and
 * returns 0 to keep the connection, or -1 to close it. */
#ifndef CLOUDAI_INXFER_H
#define CLOUDAI_INXFER_H
#include "cluster.h"
#include "conn.h"
#include "instore.h"
#include "net.h"

typedef struct inxfer_ctx {
    instore *ins;
    cluster *cl;
    const config *cfg;
    conn *c;
    frame_reader *rd;       /* the connection's reader (INPUT_PUT reads its stream) */
    proto_buf *wb;
} inxfer_ctx;

int inxfer_query(inxfer_ctx *x, const proto_msg *m);
int inxfer_put(inxfer_ctx *x, const proto_msg *m);
int inxfer_get(inxfer_ctx *x, const proto_msg *m);
/* Resolves t's inputs for user (admin: may name anyone's task): task:
 * references are stored as blobs, uploaded ones checked present. 0, or
 * CAI_E_WIRE(PROTO_ERR_*) with err filled (nothing sent; the caller
 * answers with cai_wire_code()). */
int inxfer_resolve(inxfer_ctx *x, task_rec *t, const char *user, int admin, char *err,
                   size_t errcap);
/* The stream id of an input's FILE_CHUNK / FILE_END frames (TASK_ID
 * field): "input-" and the first 16 hex digits of its SHA-256. */
void inxfer_stream_id(const uint8_t sha[32], char out[32]);
#endif
