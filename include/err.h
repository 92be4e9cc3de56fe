/* err.h — the one error space of CloudAI (README "Error codes"), in the
 * manner of curl's CURLcode: every fallible function returns 0 (CAI_OK),
 * a negated errno (-1 .. -CAI_ERRNO_MAX: the system's own cause, such as
 * -EPIPE from a socket or -ENOSPC from a write, passed through as is), or
 * a module code from a band of its own, all below -CAI_ERRNO_MAX, so a
 * system error is never read as a module's (-EIO is never "string over
 * limit") and no two modules share a number. cai_strerror() names any of
 * them; cai_band() says whose a code is. The table below is the only
 * place a code is numbered and described.
 *
 * Bands (100 codes each; module M's codes are M_BASE-1 .. M_BASE-99):
 *   PROTO_E_*     -4101 ..  the wire codec (proto.h)
 *   TAR_E_*       -4201 ..  ustar reader/writer, extraction
 *   CHUNK_E_*     -4301 ..  chunked streams
 *   ZCHUNK_E_*    -4401 ..  zlib chunks, streams and packed files
 *   META_E_*      -4501 ..  metadata store; its journal (JOURNAL_E_*) and
 *                            BSON codec (METADOC_E_*) name the same codes
 *   RETENTION_E_* -4601 ..  expiry, pins, quotas, removal
 *   CATALOG_E_*   -4701 ..  visibility and paging of records
 *   LOGDEMUX_E_*  -4801 ..  Docker log stream demultiplexer
 *   RT_E_*        -4901 ..  container runtimes
 *   ARGS_E_*      -5001 ..  command-line parser
 *   CAI_E_WIRE(x) -5101 ..  "answer the peer with wire error x" (a
 *                            PROTO_ERR_*), returned by the cluster state
 *                            machine; cai_wire_code() gives x back
 *   INSTORE_E_*   -5201 ..  the master's input store
 *   S3_E_*        -5301 ..  the S3 client
 * The positive PROTO_ERR_* are wire codes carried in ERROR frames, never
 * returned as a status themselves. */
#ifndef CLOUDAI_ERR_H
#define CLOUDAI_ERR_H

#define CAI_ERRNO_MAX 4095       /* -1 .. -CAI_ERRNO_MAX: a negated errno */
#define CAI_BAND_WIDTH 100

#define PROTO_E_BASE (-4100)
#define TAR_E_BASE (-4200)
#define CHUNK_E_BASE (-4300)
#define ZCHUNK_E_BASE (-4400)
#define META_E_BASE (-4500)
#define RETENTION_E_BASE (-4600)
#define CATALOG_E_BASE (-4700)
#define LOGDEMUX_E_BASE (-4800)
#define RT_E_BASE (-4900)
#define ARGS_E_BASE (-5000)
#define CAI_E_WIRE_BASE (-5100)
#define INSTORE_E_BASE (-5200)
#define S3_E_BASE (-5300)
#define CAI_BAND_LOWEST S3_E_BASE

/* X(name, value, description) for every module code. */
#define CAI_ERROR_TABLE(X) \
    X(PROTO_E_TRUNCATED, PROTO_E_BASE - 1, "truncated field") \
    X(PROTO_E_TOOBIG, PROTO_E_BASE - 2, "frame too big") \
    X(PROTO_E_TYPE, PROTO_E_BASE - 3, "unknown message type") \
    X(PROTO_E_KIND, PROTO_E_BASE - 4, "bad field kind") \
    X(PROTO_E_STRLEN, PROTO_E_BASE - 5, "string or bytes over limit") \
    X(PROTO_E_MISSING, PROTO_E_BASE - 6, "required field missing") \
    X(PROTO_E_DEPTH, PROTO_E_BASE - 7, "records nested too deep") \
    X(PROTO_E_STRING, PROTO_E_BASE - 8, "string holds NUL or invalid UTF-8") \
    X(PROTO_E_NOMEM, PROTO_E_BASE - 9, "out of memory (frame codec)") \
    X(PROTO_E_RANGE, PROTO_E_BASE - 10, "value out of range") \
    X(TAR_E_NOMEM, TAR_E_BASE - 1, "out of memory (archive)") \
    X(TAR_E_CHECKSUM, TAR_E_BASE - 2, "header checksum mismatch") \
    X(TAR_E_FORMAT, TAR_E_BASE - 3, "malformed archive") \
    X(TAR_E_PATH, TAR_E_BASE - 4, "bad path") \
    X(TAR_E_LINK, TAR_E_BASE - 5, "link leaves the tree") \
    X(TAR_E_TYPE, TAR_E_BASE - 6, "refused entry type") \
    X(TAR_E_LIMIT, TAR_E_BASE - 7, "archive limit exceeded") \
    X(TAR_E_IO, TAR_E_BASE - 8, "archive i/o error") \
    X(TAR_E_TRUNCATED, TAR_E_BASE - 9, "archive truncated") \
    X(TAR_E_CHANGED, TAR_E_BASE - 10, "file changed while archiving") \
    X(TAR_E_SINK, TAR_E_BASE - 11, "archive sink failed") \
    X(TAR_E_EXISTS, TAR_E_BASE - 12, "entry exists") \
    X(TAR_E_RESOURCE, TAR_E_BASE - 13, "filesystem full or failing") \
    X(CHUNK_E_NOMEM, CHUNK_E_BASE - 1, "out of memory (stream)") \
    X(CHUNK_E_SEQ, CHUNK_E_BASE - 2, "chunk out of sequence") \
    X(CHUNK_E_CRC, CHUNK_E_BASE - 3, "chunk CRC32 mismatch") \
    X(CHUNK_E_DATA, CHUNK_E_BASE - 4, "bad chunk data") \
    X(CHUNK_E_SIZE, CHUNK_E_BASE - 5, "stream size mismatch") \
    X(CHUNK_E_SHA, CHUNK_E_BASE - 6, "stream SHA-256 mismatch") \
    X(CHUNK_E_SEND, CHUNK_E_BASE - 7, "sending a chunk failed") \
    X(ZCHUNK_E_NOMEM, ZCHUNK_E_BASE - 1, "out of memory (zlib)") \
    X(ZCHUNK_E_DATA, ZCHUNK_E_BASE - 2, "corrupt deflate data") \
    X(ZCHUNK_E_SIZE, ZCHUNK_E_BASE - 3, "inflated size differs from the announced one") \
    X(ZCHUNK_E_BOMB, ZCHUNK_E_BASE - 4, "decompression ratio or size cap exceeded") \
    X(ZCHUNK_E_ARG, ZCHUNK_E_BASE - 5, "bad zlib argument") \
    X(ZCHUNK_E_FORMAT, ZCHUNK_E_BASE - 6, "malformed packed file") \
    X(META_E_NOMEM, META_E_BASE - 1, "out of memory (metadata)") \
    X(META_E_IO, META_E_BASE - 2, "metadata store write failed") \
    X(META_E_CORRUPT, META_E_BASE - 3, "metadata store unreadable") \
    X(META_E_NOTFOUND, META_E_BASE - 4, "no such record") \
    X(META_E_UNAVAIL, META_E_BASE - 5, "metadata store unreachable") \
    X(META_E_ARG, META_E_BASE - 6, "bad metadata record") \
    X(RETENTION_E_NOMEM, RETENTION_E_BASE - 1, "out of memory (retention)") \
    X(RETENTION_E_IO, RETENTION_E_BASE - 2, "removal failed") \
    X(RETENTION_E_STATE, RETENTION_E_BASE - 3, "the run is not finished") \
    X(CATALOG_E_FORBIDDEN, CATALOG_E_BASE - 1, "another user's records") \
    X(CATALOG_E_ARG, CATALOG_E_BASE - 2, "bad cursor or limit") \
    X(CATALOG_E_UNAVAIL, CATALOG_E_BASE - 3, "metadata store down") \
    X(CATALOG_E_ABORT, CATALOG_E_BASE - 4, "listing stopped by its reader") \
    X(CATALOG_E_NOMEM, CATALOG_E_BASE - 5, "out of memory (catalog)") \
    X(LOGDEMUX_E_FORMAT, LOGDEMUX_E_BASE - 1, "bad log stream header") \
    X(LOGDEMUX_E_SINK, LOGDEMUX_E_BASE - 2, "log sink failed") \
    X(LOGDEMUX_E_TRUNCATED, LOGDEMUX_E_BASE - 3, "log stream truncated") \
    X(RT_E_NOMEM, RT_E_BASE - 1, "out of memory (runtime)") \
    X(RT_E_UNAVAIL, RT_E_BASE - 2, "container runtime not answering") \
    X(RT_E_NOIMAGE, RT_E_BASE - 3, "image not present locally") \
    X(RT_E_START, RT_E_BASE - 4, "container create/start refused") \
    X(RT_E_IO, RT_E_BASE - 5, "runtime i/o error") \
    X(ARGS_E_UNKNOWN, ARGS_E_BASE - 1, "unknown flag") \
    X(ARGS_E_MISSING, ARGS_E_BASE - 2, "flag without its value") \
    X(ARGS_E_VALUE, ARGS_E_BASE - 3, "bad flag value") \
    X(ARGS_E_EXTRA, ARGS_E_BASE - 4, "too many arguments") \
    X(ARGS_E_NOVALUE, ARGS_E_BASE - 5, "a boolean flag given a value") \
    X(INSTORE_E_IO, INSTORE_E_BASE - 1, "input store i/o error") \
    X(INSTORE_E_NOMEM, INSTORE_E_BASE - 2, "out of memory (input store)") \
    X(INSTORE_E_LIMIT, INSTORE_E_BASE - 3, "input over max_input_bytes") \
    X(INSTORE_E_SHA, INSTORE_E_BASE - 4, "input bytes do not match their SHA-256") \
    X(INSTORE_E_SIZE, INSTORE_E_BASE - 5, "input size differs from the announced one") \
    X(S3_E_NOMEM, S3_E_BASE - 1, "out of memory (object store)") \
    X(S3_E_AUTH, S3_E_BASE - 2, "credentials refused") \
    X(S3_E_NOBUCKET, S3_E_BASE - 3, "no such bucket") \
    X(S3_E_SKEW, S3_E_BASE - 4, "clock skew") \
    X(S3_E_NOTFOUND, S3_E_BASE - 5, "no such key") \
    X(S3_E_UNAVAILABLE, S3_E_BASE - 6, "object store unavailable") \
    X(S3_E_CHECKSUM, S3_E_BASE - 7, "object checksum mismatch") \
    X(S3_E_RANGE, S3_E_BASE - 8, "invalid range") \
    X(S3_E_LOCAL, S3_E_BASE - 9, "local file error") \
    X(S3_E_SINK, S3_E_BASE - 10, "transfer stopped by the receiver") \
    X(S3_E_REFUSED, S3_E_BASE - 11, "request refused") \
    X(S3_E_FULL, S3_E_BASE - 12, "bucket full or read-only")

typedef enum cai_rc {
    CAI_OK = 0,
#define CAI_ERR_ENUM_(name, value, text) name = (value),
    CAI_ERROR_TABLE(CAI_ERR_ENUM_)
#undef CAI_ERR_ENUM_
} cai_rc;

/* The journal and the BSON codec are parts of the metadata store: their
 * codes are its codes, so they pass through unchanged. */
#define JOURNAL_E_NOMEM META_E_NOMEM
#define JOURNAL_E_IO META_E_IO
#define JOURNAL_E_CORRUPT META_E_CORRUPT
#define METADOC_E_NOMEM META_E_NOMEM
#define METADOC_E_CORRUPT META_E_CORRUPT
#define METADOC_E_ARG META_E_ARG
#define CATALOG_OK CAI_OK

/* "Answer the peer with wire error x" (x a positive PROTO_ERR_*). */
#define CAI_E_WIRE(x) (CAI_E_WIRE_BASE - (int)(x))

/* The band of a code: its base (PROTO_E_BASE ... CAI_BAND_LOWEST), -1 for
 * a negated errno, 0 for 0 and for anything outside every band. */
int cai_band(int rc);
/* 1 if rc is a negated errno. */
static inline int cai_is_errno(int rc)
{
    return rc < 0 && rc >= -CAI_ERRNO_MAX;
}
/* The wire code a CAI_E_WIRE(x) carries, or PROTO_ERR_INTERNAL (12) for
 * any other failure, 0 for 0. */
int cai_wire_code(int rc);
/* A short lowercase description of any code: "ok", a module code's text,
 * strerror() of a negated errno (-EPIPE: "connection closed"),
 * the wire error's name for CAI_E_WIRE; never NULL, never "" and, for
 * every code in the table, distinct. Constant strings: thread-safe. */
const char *cai_strerror(int rc);
#endif
