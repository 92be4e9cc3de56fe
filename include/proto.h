/* proto.h — the CloudAI wire protocol, mirroring proto.txt (which is
 * normative). Every value here appears in proto.txt with the same number.
 *
 * A frame is an 8-byte header followed by a payload:
 *   u32 length (big-endian, payload bytes only) | u16 type | u16 flags
 * The payload is a sequence of fields: u8 tag | u8 kind | value.
 * Kinds: U64 (8 bytes BE), I64 (8 bytes BE two's complement), F64 (IEEE 754
 * binary64, BE), STR (u32 BE length + UTF-8 bytes, no NUL), BYTES (u32 BE
 * length + bytes), REC (u32 BE length + nested fields, depth <= 2).
 * A repeated tag is a list, in order. Unknown tags are skipped; unknown
 * kinds and unknown message types are errors.
 *
 * Thread-safety: every function here is reentrant; a proto_buf or proto_msg
 * belongs to one thread at a time. */
#ifndef CLOUDAI_PROTO_H
#define CLOUDAI_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

#define PROTO_VERSION_MIN 1
#define PROTO_VERSION_MAX 3
#define PROTO_HDR_LEN 8
#define PROTO_CHUNK_MAX (1u << 20)                        /* file data per FILE_CHUNK */
#define PROTO_PAYLOAD_MAX (PROTO_CHUNK_MAX + 64u * 1024u)  /* any frame's payload */
#define PROTO_DEPTH_MAX 2                                  /* nested REC levels */
#define PROTO_NONCE_LEN 32
#define PROTO_PROOF_LEN 32                                 /* HMAC-SHA256 */
#define PROTO_SHA256_LEN 32

/* Frame flags. */
#define PROTO_F_NONE 0x0000u

/* Message types (u16). */
enum proto_type {
    PROTO_CHALLENGE = 1,     /* master -> peer on connect: versions, nonce */
    PROTO_HELLO = 2,         /* peer -> master: role, version, node id, nonce, proof */
    PROTO_WELCOME = 3,       /* master -> peer: chosen version, master id, proof */
    PROTO_ERROR = 4,         /* either way: code, message */
    PROTO_OK = 5,            /* generic success reply: optional message, task id */
    PROTO_REGISTER = 6,      /* worker -> master: resources, running, held outputs */
    PROTO_HEARTBEAT = 7,     /* worker -> master: free resources, running tasks */
    PROTO_SUBMIT = 8,        /* client -> master: a task */
    PROTO_SUBMIT_ACK = 9,    /* master -> client: TASK record */
    PROTO_DISPATCH = 10,     /* client -> master: a task for a named worker */
    PROTO_ASSIGN = 11,       /* master -> worker: TASK record to run */
    PROTO_TASK_STATUS = 12,  /* worker -> master: task id, status, message */
    PROTO_TASK_RESULT = 13,  /* worker -> master: status, exit code, log tail, files */
    PROTO_UPLOAD_RESUME = 14,/* worker -> master: task id, total; master -> worker: offset */
    PROTO_FILE_CHUNK = 15,   /* data of an output (or GET_FILE) stream */
    PROTO_FILE_END = 16,     /* stream complete: byte count, SHA-256 */
    PROTO_FILE_ACK = 17,     /* master -> worker: ok, message */
    PROTO_LIST_TASKS = 18,   /* client -> master: filters */
    PROTO_TASK_LIST = 19,    /* master -> client: TASK records */
    PROTO_LIST_WORKERS = 20,
    PROTO_WORKER_LIST = 21,  /* WORKER records */
    PROTO_LIST_FILES = 22,   /* filters */
    PROTO_FILE_LIST = 23,    /* FILE records */
    PROTO_GET_FILE = 24,     /* client -> master: task id [, file name]; reply is a stream */
    PROTO_CANCEL = 25,       /* client -> master, master -> worker: task id */
    PROTO_GET_LOG = 26,      /* client -> master: task id */
    PROTO_LOG = 27,          /* master -> client: task id, log text */
    PROTO_PIN = 28,          /* client -> master: task id, ok (1 pin / 0 unpin) */
    PROTO_GET_STATUS = 29,   /* client -> master (admins): no fields */
    PROTO_CLUSTER_STATUS = 30, /* master -> client: workers, task counts, store, backends */
    PROTO_INPUT_QUERY = 31,  /* client -> master: SHA256* of inputs it means to use */
    PROTO_INPUT_NEED = 32,   /* master -> client: SHA256* of those it does not hold */
    PROTO_INPUT_PUT = 33,    /* client -> master: SHA256, TOTAL_SIZE; a stream follows */
    PROTO_GET_INPUT = 34,    /* worker -> master: SHA256, OFFSET; reply is a stream */
    PROTO_WAIT = 35,         /* client -> master: task ids; a TASK_LIST frame as each ends */
    PROTO_LOG_DATA = 36,     /* worker -> master, master -> client: task id, offset, log bytes */
    PROTO_LOG_ACK = 37,      /* master -> worker: task id, offset the master holds the log to */
    PROTO_LOG_END = 38,      /* master -> client: end of a GET_LOG stream (status, exit code) */
    PROTO_TYPE_MAX = 38
};

/* Field kinds (u8). */
enum proto_kind {
    PROTO_K_U64 = 1,
    PROTO_K_I64 = 2,
    PROTO_K_F64 = 3,
    PROTO_K_STR = 4,
    PROTO_K_BYTES = 5,
    PROTO_K_REC = 6
};

/* Field tags (u8): one namespace for all messages, so a field means the
 * same thing wherever it appears. Kind and limit of each are in proto.txt
 * and in the table in proto.c. Times are unix milliseconds (u64). */
enum proto_tag {
    T_TASK_ID = 1,        /* STR <= 64 */
    T_USER_ID = 2,        /* STR <= 64 */
    T_TASK_NAME = 3,      /* STR <= 128 */
    T_SUBMITTED_AT = 4,   /* U64 ms */
    T_DOCKER_IMAGE = 5,   /* STR <= 256 */
    T_COMMAND = 6,        /* STR <= 8192: run through /bin/sh -c */
    T_ARGV = 7,           /* STR <= 8192, repeated: exact argv */
    T_REQ_CPU = 8,        /* F64 cores */
    T_REQ_MEMORY = 9,     /* U64 bytes */
    T_REQ_STORAGE = 10,   /* U64 bytes */
    T_REQ_GPU = 11,       /* U64 count */
    T_STATUS = 12,        /* U64 enum proto_status */
    T_WORKER_ID = 13,     /* STR <= 64 */
    T_EXIT_CODE = 14,     /* I64 */
    T_ERROR = 15,         /* STR <= 4096: why a task failed or is waiting */
    T_ATTEMPTS = 16,      /* U64 */
    T_CREATED_AT = 17,    /* U64 ms */
    T_STARTED_AT = 18,    /* U64 ms */
    T_COMPLETED_AT = 19,  /* U64 ms */
    T_OUTPUT_FILES = 20,  /* U64 count */
    T_OUTPUT_BYTES = 21,  /* U64 */
    T_TIMEOUT = 22,       /* U64 seconds, 0 = config default */
    T_LOG_TAIL = 23,      /* STR <= 65536 (bytes; may be cut mid-line) */
    T_FILE_NAME = 24,     /* STR <= 4096: path relative to the task directory */
    T_FILE_PATH = 25,     /* STR <= 8192: absolute path in the store */
    T_FILE_SIZE = 26,     /* U64 */
    T_SHA256 = 27,        /* BYTES == 32 */
    T_MODE = 28,          /* U64 permission bits */
    T_STORED_AT = 29,     /* U64 ms */
    T_SEQ = 30,           /* U64 chunk sequence, from 0 */
    T_OFFSET = 31,        /* U64 offset in the logical (uncompressed) stream */
    T_CRC32 = 32,         /* U64: crc32 of T_DATA as sent */
    T_DATA = 33,          /* BYTES <= PROTO_CHUNK_MAX */
    T_RAW_LEN = 34,       /* U64 <= PROTO_CHUNK_MAX: present iff T_DATA is deflated */
    T_TOTAL_SIZE = 35,    /* U64 logical stream size */
    T_OK = 36,            /* U64 0/1 */
    T_MESSAGE = 37,       /* STR <= 4096 */
    T_CODE = 38,          /* U64 enum proto_err */
    T_ROLE = 39,          /* U64 enum proto_role */
    T_VERSION = 40,       /* U64 */
    T_VERSION_MIN = 41,   /* U64 */
    T_VERSION_MAX = 42,   /* U64 */
    T_NODE_ID = 43,       /* STR <= 64 */
    T_NONCE = 44,         /* BYTES == 32 */
    T_PROOF = 45,         /* BYTES == 32 */
    T_CPU = 46,           /* F64 total cores */
    T_MEMORY = 47,        /* U64 total bytes */
    T_STORAGE = 48,       /* U64 total bytes */
    T_GPU = 49,           /* U64 total */
    T_FREE_CPU = 50,      /* F64 */
    T_FREE_MEMORY = 51,   /* U64 */
    T_FREE_STORAGE = 52,  /* U64 */
    T_FREE_GPU = 53,      /* U64 */
    T_RUNNING = 54,       /* STR <= 64, repeated: task ids running */
    T_HELD = 55,          /* STR <= 64, repeated: task ids whose output is kept */
    T_TASK = 56,          /* REC: a TASK record */
    T_FILE = 57,          /* REC: a FILE record */
    T_WORKER = 58,        /* REC: a WORKER record */
    T_SINCE = 59,         /* U64 ms filter */
    T_UNTIL = 60,         /* U64 ms filter */
    T_LIMIT = 61,         /* U64 */
    T_STATE = 62,         /* STR <= 32: worker state */
    T_LAST_SEEN = 63,     /* U64 ms */
    T_ADDRESS = 64,       /* STR <= 256 */
    T_ADMIN = 65,         /* U64 0/1 */
    T_PATTERN = 66,       /* STR <= 128: task-name glob */
    T_MORE = 67,          /* U64 0/1: more list frames follow */
    T_EXPIRES_AT = 68,    /* U64 ms when retention removes the run; 0 = never */
    T_COUNT = 69,         /* U64, repeated: tasks with STATUS 1, 2, ... in order */
    T_STORE_BYTES = 70,   /* U64 output bytes held in the file store */
    T_BACKEND = 71,       /* STR <= 32: metadata backend, "journal" | "mongodb" */
    T_DEGRADED = 72,      /* STR <= 4096, repeated: one per degraded backend */
    T_NOTES = 73,         /* STR <= 4096: output entries left out, and why */
    T_PRIORITY = 74,      /* I64 -1000..1000: higher starts first */
    T_EXPECTED_START = 75,/* U64 ms: the scheduler's expected start of a queued task */
    T_PREDICTED_S = 76,   /* U64 s: predicted runtime from similar finished tasks */
    T_CURSOR = 77,        /* STR <= 4352: where a listing's next page starts */
    T_ENV = 78,           /* STR <= 8192, repeated: KEY=VALUE for the task */
    T_INPUT = 79,         /* REC, repeated: one input of a task (proto.txt 5) */
    T_SOURCE = 80,        /* STR <= 4096: where an input came from */
    T_IS_DIR = 81,        /* U64 0..1: the input is a directory (a ustar stream) */
    T_FOLLOW = 82,        /* U64 0/1: GET_LOG keeps streaming until the task ends */
    T_LOG_SIZE = 83,      /* U64: bytes the task wrote to its log (TASK_RESULT, LOG_END) */
    T_AFTER = 84,         /* STR <= 6500: "ID,ID..." to complete (exit 0) first */
    T_AFTER_ANY = 85,     /* STR <= 6500: "ID,ID..." to have ended first */
    T_RETRIES = 86,       /* U64 0..100: re-runs allowed after a non-zero exit */
    T_RETRIED = 87,       /* U64: re-runs done after a non-zero exit */
    T_ARRAY_ID = 88,      /* STR <= 64: the array a task belongs to */
    T_ARRAY_INDEX = 89,   /* U64: its index (CLOUDAI_ARRAY_INDEX) */
    T_CRC32C = 90,        /* U64: CRC32C of T_DATA as sent (version 2) */
    T_FILES_SHA256 = 91,  /* BYTES == 32: SHA-256 over each regular file's SHA-256 */
    T_ARRAY_PARALLEL = 92,/* U64: at most this many members run at once; 0 = no cap */
    T_ARRAY = 93,         /* STR <= 32: SUBMIT "A-B[%P]": one task per index A..B */
    T_RUNNING_ATTEMPT = 94, /* U64, repeated: the attempt of the RUNNING id in the same place */
    T_RETRY_AT = 95,      /* U64 ms: a -retries re-run is not placed before this */
    T_FILES_CRC32C = 96,  /* U64: CRC32C over each regular file's CRC32C (version 3) */
    T_CPU_S = 97,         /* F64 >= 0: CPU-seconds a task's run used (TASK_RESULT, TASK) */
    T_MEM_PEAK = 98,      /* U64: peak memory in bytes of a task's run (TASK_RESULT, TASK) */
    T_PREDICTED_MEM = 99, /* U64 bytes: predicted peak memory from similar finished tasks */
    T_TAG_MAX = 99
};

enum proto_role { PROTO_ROLE_WORKER = 1, PROTO_ROLE_CLIENT = 2 };

enum proto_status {
    PROTO_ST_QUEUED = 1,
    PROTO_ST_ASSIGNED = 2,
    PROTO_ST_RUNNING = 3,
    PROTO_ST_UPLOADING = 4,
    PROTO_ST_COMPLETED = 5,
    PROTO_ST_FAILED = 6,
    PROTO_ST_CANCELLED = 7,
    PROTO_ST_MAX = 7
};

/* Error codes carried in ERROR frames (T_CODE). */
enum proto_err {
    PROTO_ERR_BAD_FRAME = 1,    /* malformed payload */
    PROTO_ERR_UNKNOWN_TYPE = 2,
    PROTO_ERR_TOO_BIG = 3,
    PROTO_ERR_AUTH = 4,
    PROTO_ERR_VERSION = 5,
    PROTO_ERR_NOT_FOUND = 6,
    PROTO_ERR_FORBIDDEN = 7,
    PROTO_ERR_BAD_REQUEST = 8,
    PROTO_ERR_NO_FIT = 9,
    PROTO_ERR_STORE = 10,       /* disk full, unwritable store */
    PROTO_ERR_LIMIT = 11,       /* a configured limit was exceeded */
    PROTO_ERR_INTERNAL = 12,
    PROTO_ERR_STATE = 13,       /* frame not valid now (order) */
    PROTO_ERR_CHECKSUM = 14,
    PROTO_ERR_ARCHIVE = 15      /* hostile or corrupt archive */
};

/* Codec return codes: 0, a negated errno passed through from the socket
 * layer (frame_read), or a PROTO_E_* code from the codec's band of the
 * one error space (err.h: -4101 .. -4199), so -EIO is never read as a bad
 * frame. cai_strerror() names either. Wire error codes (enum proto_err,
 * carried in ERROR frames) are a different thing: positive, and never
 * returned as a status. */
#define PROTO_ERRNO_MAX CAI_ERRNO_MAX

/* 1 if rc is a PROTO_E_* code (a bad frame: answer ERROR and close). */
static inline int proto_rc_is_codec(int rc)
{
    return rc <= PROTO_E_TRUNCATED && rc >= PROTO_E_RANGE;
}

/* Encoder: a growable buffer holding one frame. Errors are sticky: after a
 * failed put, b->err is set and proto_finish returns it. */
typedef struct proto_buf {
    uint8_t *p;
    size_t len, cap;
    int err;
} proto_buf;

void proto_buf_init(proto_buf *b);
void proto_buf_free(proto_buf *b);
/* Starts a frame (resets the buffer). */
void proto_begin(proto_buf *b, uint16_t type, uint16_t flags);
void proto_put_u64(proto_buf *b, uint8_t tag, uint64_t v);
void proto_put_i64(proto_buf *b, uint8_t tag, int64_t v);
void proto_put_f64(proto_buf *b, uint8_t tag, double v);
void proto_put_str(proto_buf *b, uint8_t tag, const char *s);          /* NULL = skip */
void proto_put_strn(proto_buf *b, uint8_t tag, const char *s, size_t n);
void proto_put_bytes(proto_buf *b, uint8_t tag, const void *p, size_t n);
/* Reserve n bytes for a BYTES field and return where to write them (lets a
 * compressor write straight into the frame); NULL on failure. Call
 * proto_put_bytes_commit with the length actually written (<= n). */
uint8_t *proto_put_bytes_reserve(proto_buf *b, uint8_t tag, size_t n);
void proto_put_bytes_commit(proto_buf *b, size_t used);
/* Nested record: mark = proto_rec_begin(); put fields; proto_rec_end(mark). */
size_t proto_rec_begin(proto_buf *b, uint8_t tag);
void proto_rec_end(proto_buf *b, size_t mark);
/* Writes the length into the header; 0 or PROTO_E_TOOBIG / b->err. */
int proto_finish(proto_buf *b);
/* Payload bytes so far (for callers that split long lists across frames). */
size_t proto_payload_len(const proto_buf *b);

/* Decoder. A proto_msg points into the caller's payload buffer; it is
 * valid as long as that buffer is. No allocation. */
typedef struct proto_msg {
    uint16_t type, flags;
    const uint8_t *payload;
    uint32_t len;
} proto_msg;

typedef struct proto_field {
    uint8_t tag, kind;
    uint32_t len;          /* value bytes for STR/BYTES/REC */
    const uint8_t *p;      /* value bytes */
} proto_field;

/* Parses an 8-byte header; checks length <= max and type known.
 * Returns 0, PROTO_E_TOOBIG or PROTO_E_TYPE. */
int proto_header(const uint8_t hdr[PROTO_HDR_LEN], uint32_t max, uint32_t *len,
                 uint16_t *type, uint16_t *flags);
/* Validates a whole payload (every field, nested records, per-tag kinds
 * and limits, the message's required fields) and fills m. */
int proto_decode(proto_msg *m, uint16_t type, uint16_t flags,
                 const uint8_t *payload, uint32_t len);
/* Opens a REC field as a message of type 0 (already validated). */
void proto_rec_open(const proto_field *f, proto_msg *sub);

/* Accessors: first occurrence of tag. Return 0, or PROTO_E_MISSING. */
int proto_get(const proto_msg *m, uint8_t tag, proto_field *f);
int proto_u64(const proto_msg *m, uint8_t tag, uint64_t *v);
int proto_i64(const proto_msg *m, uint8_t tag, int64_t *v);
int proto_f64(const proto_msg *m, uint8_t tag, double *v);
/* Copies a STR into dst (NUL-terminated); PROTO_E_STRLEN if it does not fit. */
int proto_str(const proto_msg *m, uint8_t tag, char *dst, size_t cap);
/* malloc'd copy of a STR, or NULL if absent/no memory. Caller frees. */
char *proto_strdup(const proto_msg *m, uint8_t tag);
/* Iterates the occurrences of tag: size_t pos = 0; while (proto_next(m,
 * tag, &pos, &f)) ... Returns 1 while found, 0 at the end. */
int proto_next(const proto_msg *m, uint8_t tag, size_t *pos, proto_field *f);
/* Convenience readers for one field. */
uint64_t proto_field_u64(const proto_field *f);
void proto_field_str(const proto_field *f, char *dst, size_t cap); /* truncates */

/* Names for logs and errors; never NULL. */
const char *proto_type_name(uint16_t type);
const char *proto_status_name(uint64_t status);
int proto_status_parse(const char *name);    /* -1 if unknown */
/* Names any status: 0, a PROTO_E_* code, or a negated errno. */
const char *proto_err_name(uint64_t code);

/* Builds an ERROR frame. */
void proto_error(proto_buf *b, uint64_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Length of the valid, NUL-free UTF-8 sequence at p (at most n bytes
 * read, 1..4), or 0. Rejects overlong forms, surrogates and code points
 * above U+10FFFF (RFC 3629). The one UTF-8 rule of the tree. */
size_t proto_utf8_seq(const uint8_t *p, size_t n);
#endif
