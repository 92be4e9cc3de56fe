/* s3.c — the S3 client (s3.h).
 *
 * What libcurl 7.88's CURLOPT_AWS_SIGV4 does and does not do, and so what
 * this file does around it:
 * - It signs the query string as written: it neither sorts nor encodes
 *   it. So every query here is built already canonical: keys sorted,
 *   values RFC 3986-encoded, and a bare flag written "uploads=".
 * - It signs the path as written: keys are encoded here (s3_encode_key)
 *   and CURLOPT_PATH_AS_IS keeps curl from touching dot segments.
 * - It does not send x-amz-content-sha256 (S3 requires it), but it signs a
 *   user-set one and puts its value in the canonical request. So every
 *   request here sets it: the SHA-256 of a body from memory (the empty
 *   body's for GET/HEAD/DELETE), UNSIGNED-PAYLOAD for a body streamed from
 *   a file, whose x-amz-checksum-sha256 header (signed like every x-amz-*
 *   header) covers it: the server hashes it once and refuses a mismatch.
 * - Credentials go through CURLOPT_USERNAME/PASSWORD, never "key:secret"
 *   (a secret may hold ':').
 * - A user-set X-Amz-Date header is the one signed (tests of clock skew).
 * S3 also answers some failures of CompleteMultipartUpload with a 200 and
 * an <Error> body: that is checked. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "hash.h"
#include "s3.h"
#include "s3xml.h"

#define POOL_MAX 16
#define ERRBODY_MAX (64 * 1024)      /* an error body kept for its <Code> */
#define LISTBODY_MAX (16u << 20)     /* one listing page (1000 keys) */
#define URL_MAX 8192
#define PIECE (256 * 1024)            /* file reads while hashing a part */
#define BACKOFF_MS 250
#define BACKOFF_CAP_MS 8000

struct s3 {
    s3_config c;
    char sigv4[128];
    pthread_mutex_t mu;
    CURL *pool[POOL_MAX];
    int npool;
    atomic_uint_least64_t n_req, n_retry, n_fail, n_sent, n_recv;
};

void s3_get_stats(const s3 *s, s3_stats *out)
{
    s3 *m = (s3 *)s;       /* atomics are read, not changed */
    out->requests = atomic_load(&m->n_req);
    out->retries = atomic_load(&m->n_retry);
    out->failures = atomic_load(&m->n_fail);
    out->bytes_sent = atomic_load(&m->n_sent);
    out->bytes_received = atomic_load(&m->n_recv);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

int s3_retryable(int rc)
{
    return rc == S3_E_UNAVAILABLE || rc == S3_E_SKEW || rc == S3_E_NOMEM || rc == S3_E_CHECKSUM ||
           rc == S3_E_FULL;
}

const s3_config *s3_get_config(const s3 *s) { return &s->c; }

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

/* keep_slash: 1 for a path, 0 for a query value. */
static int encode(const char *in, int keep_slash, char *out, size_t cap)
{
    static const char hx[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (unreserved(*p) || (keep_slash && *p == '/')) {
            if (o + 1 >= cap) return -1;
            out[o++] = (char)*p;
        } else {
            if (o + 3 >= cap) return -1;
            out[o++] = '%';
            out[o++] = hx[*p >> 4];
            out[o++] = hx[*p & 15];
        }
    }
    if (o >= cap) return -1;
    out[o] = 0;
    return 0;
}

int s3_encode_key(const char *key, char *out, size_t cap) { return encode(key, 1, out, cap); }

static void b64(const uint8_t *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = t[v >> 18]; out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63]; out[o++] = t[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = t[v >> 18]; out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = 0;
}

s3 *s3_new(const s3_config *cfg, char *err, size_t errcap)
{
    s3 *s;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        snprintf(err, errcap, "curl_global_init: %s", curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    if (strncmp(cfg->endpoint, "http://", 7) && strncmp(cfg->endpoint, "https://", 8)) {
        snprintf(err, errcap, "endpoint '%s' must start with http:// or https://", cfg->endpoint);
        return NULL;
    }
    size_t bl = strlen(cfg->bucket);
    if (bl < 3 || bl > 63 || strspn(cfg->bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") != bl ||
        cfg->bucket[0] == '-' || cfg->bucket[0] == '.') {
        snprintf(err, errcap, "bucket '%s' is not a valid S3 bucket name (3-63 of a-z 0-9 . -)",
                 cfg->bucket);
        return NULL;
    }
    if (!cfg->access_key[0] || !cfg->secret_key[0]) {
        snprintf(err, errcap, "no S3 credentials: set access_key and secret_key, or "
                 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
        return NULL;
    }
    if (!(s = calloc(1, sizeof *s))) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    s->c = *cfg;
    size_t el = strlen(s->c.endpoint);
    while (el > 8 && s->c.endpoint[el - 1] == '/') s->c.endpoint[--el] = 0;
    if (!s->c.region[0]) snprintf(s->c.region, sizeof s->c.region, "us-east-1");
    if (!s->c.part_size) s->c.part_size = S3_PART_DEFAULT;
    if (s->c.part_size < S3_PART_MIN) s->c.part_size = S3_PART_MIN;
    if (s->c.retries < 0) s->c.retries = 0;
    if (!s->c.connect_timeout_s) s->c.connect_timeout_s = 10;
    if (!s->c.stall_timeout_s) s->c.stall_timeout_s = 60;
    snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", s->c.region);
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void s3_free(s3 *s)
{
    if (!s) return;
    for (int i = 0; i < s->npool; i++) curl_easy_cleanup(s->pool[i]);
    pthread_mutex_destroy(&s->mu);
    memset(s->c.secret_key, 0, sizeof s->c.secret_key);
    free(s);
}

static CURL *handle_get(s3 *s)
{
    CURL *h = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->npool) h = s->pool[--s->npool];
    pthread_mutex_unlock(&s->mu);
    return h ? h : curl_easy_init();
}

static void handle_put(s3 *s, CURL *h)
{
    if (!h) return;
    curl_easy_reset(h);         /* keeps the connection cache */
    pthread_mutex_lock(&s->mu);
    if (s->npool < POOL_MAX) { s->pool[s->npool++] = h; h = NULL; }
    pthread_mutex_unlock(&s->mu);
    if (h) curl_easy_cleanup(h);
}

/* ---- one request ---------------------------------------------------------- */

typedef struct req {
    const char *method;          /* GET HEAD PUT POST DELETE */
    char url[URL_MAX];
    const char *hdr[8];          /* extra headers */
    int nhdr;
    char phash[96];              /* "x-amz-content-sha256: ..." ("" = of an empty body) */
    /* request body: memory, or a file slice */
    const uint8_t *body;
    size_t body_len;
    int fd;
    uint64_t fd_off, fd_len;
    uint64_t sent;
    hash_sha256 *fhash;          /* hashes a file body as it is read */
    int read_err;
    /* response */
    long status;
    s3_sink sink;                /* 2xx bodies of a GET */
    void *sink_ctx;
    int sink_stopped;
    uint64_t got;                /* bytes given to the sink */
    hash_sha256 *ghash;
    char *resp;                  /* other bodies, bounded */
    size_t resp_len, resp_cap, resp_max;
    char etag[80], sha_b64[64], date[64];
    uint64_t clen, range_total;
    int have_clen, have_range;
    CURL *h;
    s3 *s;
} req;

static size_t on_read(char *buf, size_t sz, size_t nm, void *ctx)
{
    req *r = ctx;
    size_t want = sz * nm;
    if (r->body) {
        size_t left = r->body_len - (size_t)r->sent;
        if (want > left) want = left;
        memcpy(buf, r->body + r->sent, want);
        r->sent += want;
        atomic_fetch_add(&r->s->n_sent, want);
        return want;
    }
    uint64_t left = r->fd_len - r->sent;
    if (want > left) want = (size_t)left;
    if (!want) return 0;
    ssize_t n;
    do n = pread(r->fd, buf, want, (off_t)(r->fd_off + r->sent));
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        r->read_err = n < 0 ? errno : EIO;     /* a file shorter than it was */
        return CURL_READFUNC_ABORT;
    }
    if (r->fhash) hash_sha256_update(r->fhash, buf, (size_t)n);
    r->sent += (uint64_t)n;
    atomic_fetch_add(&r->s->n_sent, (uint64_t)n);
    return (size_t)n;
}

static int on_seek(void *ctx, curl_off_t off, int origin)
{
    req *r = ctx;
    if (origin != SEEK_SET || off < 0) return CURL_SEEKFUNC_CANTSEEK;
    if (r->fhash) return CURL_SEEKFUNC_CANTSEEK;   /* the hash would count twice */
    r->sent = (uint64_t)off;
    return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *p, size_t sz, size_t nm, void *ctx)
{
    req *r = ctx;
    size_t n = sz * nm;
    if (!r->status) curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->sink && r->status >= 200 && r->status < 300) {
        if (r->ghash) hash_sha256_update(r->ghash, p, n);
        if (r->sink(r->sink_ctx, p, n)) {
            r->sink_stopped = 1;
            return 0;
        }
        r->got += n;
        atomic_fetch_add(&r->s->n_recv, n);
        return n;
    }
    if (r->resp_len + n > r->resp_max) {
        n = r->resp_max - r->resp_len;   /* keep what fits; the rest is dropped */
        if (!n) return sz * nm;
    }
    if (r->resp_len + n + 1 > r->resp_cap) {
        size_t nc = r->resp_cap ? r->resp_cap : 4096;
        while (nc < r->resp_len + n + 1) nc *= 2;
        char *nb = realloc(r->resp, nc);
        if (!nb) return 0;
        r->resp = nb;
        r->resp_cap = nc;
    }
    memcpy(r->resp + r->resp_len, p, n);
    r->resp_len += n;
    r->resp[r->resp_len] = 0;
    return sz * nm;
}

static void hdr_value(const char *line, size_t n, size_t namelen, char *out, size_t cap)
{
    const char *v = line + namelen;
    size_t vn = n - namelen;
    while (vn && (*v == ' ' || *v == '\t')) { v++; vn--; }
    while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' ')) vn--;
    if (vn >= cap) vn = cap - 1;
    memcpy(out, v, vn);
    out[vn] = 0;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ctx)
{
    req *r = ctx;
    size_t n = sz * nm;
    char v[128];
    if (n >= 5 && !strncmp(p, "HTTP/", 5)) {
        /* a new response (after a 100 Continue): forget the last one's */
        r->etag[0] = r->sha_b64[0] = 0;
        r->have_clen = r->have_range = 0;
        return n;
    }
#define IS(name) (n > sizeof(name) - 1 && !strncasecmp(p, name, sizeof(name) - 1))
    if (IS("etag:")) hdr_value(p, n, 5, r->etag, sizeof r->etag);
    else if (IS("x-amz-checksum-sha256:")) hdr_value(p, n, 22, r->sha_b64, sizeof r->sha_b64);
    else if (IS("date:")) hdr_value(p, n, 5, r->date, sizeof r->date);
    else if (IS("content-length:")) {
        hdr_value(p, n, 15, v, sizeof v);
        r->clen = strtoull(v, NULL, 10);
        r->have_clen = 1;
    } else if (IS("content-range:")) {
        hdr_value(p, n, 14, v, sizeof v);
        const char *sl = strchr(v, '/');
        if (sl && sl[1] != '*') { r->range_total = strtoull(sl + 1, NULL, 10); r->have_range = 1; }
    }
#undef IS
    return n;
}

static void amz_date(int64_t offset, char *out, size_t cap)
{
    time_t t = time(NULL) + (time_t)offset;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "X-Amz-Date: %Y%m%dT%H%M%SZ", &tm);
}

/* One attempt. CURLcode, with r->status set. */
static CURLcode attempt(s3 *s, req *r)
{
    CURL *h = r->h;
    struct curl_slist *hl = NULL, *t;
    char date[64];
    CURLcode cc;
    curl_easy_reset(h);
    r->status = 0;
    r->resp_len = 0;
    if (r->resp) r->resp[0] = 0;
    r->etag[0] = r->sha_b64[0] = r->date[0] = 0;
    r->have_clen = r->have_range = 0;
    r->read_err = 0;
    r->sent = 0;
    for (int i = 0; i < r->nhdr; i++) {
        if (!r->hdr[i][0]) continue;          /* a slot not used this time */
        if (!(t = curl_slist_append(hl, r->hdr[i]))) { curl_slist_free_all(hl); return CURLE_OUT_OF_MEMORY; }
        hl = t;
    }
    if (!r->phash[0]) {
        if (r->body && r->body_len) {
            uint8_t d[32];
            char hex[65];
            hash_sha256_buf(r->body, r->body_len, d);
            hash_hex(d, 32, hex);
            snprintf(r->phash, sizeof r->phash, "x-amz-content-sha256: %s", hex);
        } else {
            snprintf(r->phash, sizeof r->phash, "x-amz-content-sha256: "
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        }
    }
    if (!(t = curl_slist_append(hl, r->phash))) { curl_slist_free_all(hl); return CURLE_OUT_OF_MEMORY; }
    hl = t;
    if (s->c.clock_offset_s) {
        amz_date(s->c.clock_offset_s, date, sizeof date);
        if (!(t = curl_slist_append(hl, date))) { curl_slist_free_all(hl); return CURLE_OUT_OF_MEMORY; }
        hl = t;
    }
    curl_easy_setopt(h, CURLOPT_URL, r->url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, s->c.access_key);
    curl_easy_setopt(h, CURLOPT_PASSWORD, s->c.secret_key);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)s->c.connect_timeout_s);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)s->c.stall_timeout_s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024);
    if (getenv("CLOUDAI_S3_DEBUG")) curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
    if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(r->method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)(r->body ? r->body_len : r->fd_len));
    } else if (!strcmp(r->method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(r->body ? r->body_len : 0));
    } else if (!strcmp(r->method, "DELETE")) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    cc = curl_easy_perform(h);
    if (!r->status) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    return cc;
}

static int transient_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST: case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR: case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
        return 1;
    default:
        return 0;
    }
}

static int transient_code(const char *code)
{
    return !strcmp(code, "SlowDown") || !strcmp(code, "InternalError") ||
           !strcmp(code, "RequestTimeout") || !strcmp(code, "ServiceUnavailable");
}

/* A bucket that takes no more bytes says so in its own words: Ceph RGW
 * QuotaExceeded, MinIO XMinioAdminBucketQuotaExceeded, WebDAV-style 507. */
static int full_code(const char *code, long st)
{
    return !strcmp(code, "QuotaExceeded") || !strcmp(code, "XMinioAdminBucketQuotaExceeded") ||
           !strcmp(code, "InsufficientStorage") || st == 507;
}

static int is_write(const req *r)
{
    return !strcmp(r->method, "PUT") || !strcmp(r->method, "POST");
}

/* Turns a failed response into an S3_E_* code and a message that says
 * what to do. */
static int classify(s3 *s, req *r, const char *what, char *err, size_t errcap)
{
    char code[64] = "", msg[384] = "", perr[256];
    if (r->resp_len) s3xml_error(r->resp, r->resp_len, code, sizeof code, msg, sizeof msg);
    long st = r->status;
    const char *m = msg[0] ? msg : "";
    if (full_code(code, st)) {
        snprintf(err, errcap, "%s: bucket %s is full (%s%s%s): raise its quota or free space; "
                 "what was to be written stays where it is and is retried", what, s->c.bucket,
                 code[0] ? code : "HTTP 507", m[0] ? ": " : "", m);
        return S3_E_FULL;
    }
    /* SeaweedFS answers a write to a bucket over its quota (made read-only)
     * with a bare AccessDenied, like a key without the right: a listing
     * with the same key tells the two apart (a GET, so no loop). */
    if ((!strcmp(code, "AccessDenied") || (!code[0] && st == 403)) && is_write(r) &&
        s3_check(s, perr, sizeof perr) == 0) {
        snprintf(err, errcap, "%s: bucket %s refuses writes (%s%s%s) although the key can read "
                 "it: the bucket is over its quota or read-only (raise the quota or free space), "
                 "or the key lacks the write right; what was to be written stays where it is and "
                 "is retried", what, s->c.bucket, code[0] ? code : "HTTP 403", m[0] ? ": " : "", m);
        return S3_E_FULL;
    }
    if (!strcmp(code, "InvalidAccessKeyId") || !strcmp(code, "SignatureDoesNotMatch") ||
        !strcmp(code, "AccessDenied") || (!code[0] && st == 403)) {
        snprintf(err, errcap, "%s: S3 refused the credentials (%s%s%s): check [store] access_key "
                 "and secret_key (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and the key's "
                 "rights on bucket %s", what, code[0] ? code : "HTTP 403", m[0] ? ": " : "", m,
                 s->c.bucket);
        return S3_E_AUTH;
    }
    if (!strcmp(code, "RequestTimeTooSkewed")) {
        char now[64];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof now, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        snprintf(err, errcap, "%s: the clock of this machine (%s) is too far from the S3 "
                 "server's (%s): synchronise it (NTP)", what, now, r->date[0] ? r->date : "?");
        return S3_E_SKEW;
    }
    if (!strcmp(code, "NoSuchBucket")) {
        snprintf(err, errcap, "%s: bucket '%s' does not exist at %s: create it or fix [store] bucket",
                 what, s->c.bucket, s->c.endpoint);
        return S3_E_NOBUCKET;
    }
    if (!strcmp(code, "NoSuchKey") || !strcmp(code, "NoSuchUpload") || (!code[0] && st == 404)) {
        snprintf(err, errcap, "%s: not found (%s)", what, code[0] ? code : "HTTP 404");
        return S3_E_NOTFOUND;
    }
    if (!strcmp(code, "InvalidRange") || st == 416) {
        snprintf(err, errcap, "%s: range not satisfiable", what);
        return S3_E_RANGE;
    }
    if (!strcmp(code, "BadDigest") || !strcmp(code, "XAmzContentChecksumMismatch") ||
        !strcmp(code, "InvalidDigest") || !strcmp(code, "XAmzContentSHA256Mismatch")) {
        snprintf(err, errcap, "%s: the server computed another checksum (%s%s%s)", what, code,
                 m[0] ? ": " : "", m);
        return S3_E_CHECKSUM;
    }
    if (st >= 500 || st == 429 || transient_code(code)) {
        snprintf(err, errcap, "%s: the object store keeps failing (HTTP %ld%s%s%s%s)", what, st,
                 code[0] ? " " : "", code, m[0] ? ": " : "", m);
        return S3_E_UNAVAILABLE;
    }
    snprintf(err, errcap, "%s: refused (HTTP %ld%s%s%s%s)", what, st, code[0] ? " " : "", code,
             m[0] ? ": " : "", m);
    return S3_E_REFUSED;
}

static void backoff(int i)
{
    long ms = BACKOFF_MS << (i < 6 ? i : 6);
    if (ms > BACKOFF_CAP_MS) ms = BACKOFF_CAP_MS;
    uint32_t j = 0;
    hash_random(&j, sizeof j);
    ms = ms * 3 / 4 + (long)(j % (uint32_t)(ms / 2 + 1));
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Runs r with retries. resume: for GETs into a sink, the Range header to
 * use after a broken attempt (built by the caller's hook). 0 or S3_E_*. */
typedef int (*resume_fn)(req *r, void *ctx);

static int run(s3 *s, req *r, const char *what, resume_fn resume, void *rctx, char *err,
               size_t errcap)
{
    int rc = S3_E_UNAVAILABLE;
    if (!(r->h = handle_get(s))) {
        snprintf(err, errcap, "%s: out of memory", what);
        return S3_E_NOMEM;
    }
    r->s = s;
    for (int i = 0; i <= s->c.retries; i++) {
        if (i) backoff(i - 1);
        atomic_fetch_add(&s->n_req, 1);
        if (i) atomic_fetch_add(&s->n_retry, 1);
        CURLcode cc = attempt(s, r);
        if (r->sink_stopped) {
            snprintf(err, errcap, "%s: stopped by the receiver", what);
            rc = S3_E_SINK;
            break;
        }
        if (r->read_err) {
            snprintf(err, errcap, "%s: reading the local file: %s", what, strerror(r->read_err));
            rc = S3_E_LOCAL;
            break;
        }
        if (cc == CURLE_OK && r->status >= 200 && r->status < 300) { rc = 0; break; }
        if (cc != CURLE_OK) {
            if (cc == CURLE_OUT_OF_MEMORY) {
                snprintf(err, errcap, "%s: out of memory", what);
                rc = S3_E_NOMEM;
                break;
            }
            snprintf(err, errcap, "%s: %s (%s)", what, curl_easy_strerror(cc), s->c.endpoint);
            if (!transient_curl(cc)) { rc = S3_E_REFUSED; break; }
            rc = S3_E_UNAVAILABLE;
        } else {
            rc = classify(s, r, what, err, errcap);
            if (rc != S3_E_UNAVAILABLE) break;
        }
        if (resume && resume(r, rctx) < 0) break;    /* cannot go on where it stopped */
        if (r->fhash) break;                          /* a hashed body is not sent twice */
    }
    if (rc == S3_E_UNAVAILABLE && s->c.retries)
        snprintf(err + strlen(err), errcap - strlen(err), " (%d attempts)", s->c.retries + 1);
    if (rc && rc != S3_E_NOTFOUND) atomic_fetch_add(&s->n_fail, 1);
    handle_put(s, r->h);
    r->h = NULL;
    return rc;
}

static int key_url(s3 *s, const char *key, const char *query, char *out, size_t cap)
{
    char enc[URL_MAX];
    if (encode(key, 1, enc, sizeof enc) < 0) return -1;
    int n = snprintf(out, cap, "%s/%s/%s%s%s", s->c.endpoint, s->c.bucket, enc,
                     query && *query ? "?" : "", query ? query : "");
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void req_init(req *r, const char *method)
{
    memset(r, 0, sizeof *r);
    r->method = method;
    r->fd = -1;
    r->resp_max = ERRBODY_MAX;
}

/* ---- PUT ------------------------------------------------------------------------ */

int s3_put_buf(s3 *s, const char *key, const void *p, size_t n, char *err, size_t errcap)
{
    req r;
    uint8_t sha[32];
    char hdr[128], b[48];
    int rc;
    req_init(&r, "PUT");
    if (key_url(s, key, NULL, r.url, sizeof r.url) < 0) {
        snprintf(err, errcap, "key too long: %.100s", key);
        return S3_E_REFUSED;
    }
    hash_sha256_buf(p, n, sha);
    b64(sha, 32, b);
    snprintf(hdr, sizeof hdr, "x-amz-checksum-sha256: %s", b);
    r.hdr[r.nhdr++] = hdr;
    r.body = p ? p : (const uint8_t *)"";
    r.body_len = n;
    rc = run(s, &r, "PUT", NULL, NULL, err, errcap);
    free(r.resp);
    return rc;
}

static int put_single(s3 *s, const char *key, int fd, uint64_t size, const uint8_t *sha,
                      char *err, size_t errcap)
{
    req r;
    char hdr[128], b[48], what[64], hexs[65];
    uint8_t got[32];
    hash_sha256 fh;
    int rc = S3_E_UNAVAILABLE;
    req_init(&r, "PUT");
    snprintf(what, sizeof what, "PUT");
    if (key_url(s, key, NULL, r.url, sizeof r.url) < 0) {
        snprintf(err, errcap, "key too long: %.100s", key);
        return S3_E_REFUSED;
    }
    b64(sha, 32, b);
    snprintf(hdr, sizeof hdr, "x-amz-checksum-sha256: %s", b);
    r.hdr[r.nhdr++] = hdr;
    r.fd = fd;
    r.fd_len = size;
    /* x-amz-checksum-sha256 (signed) covers the body: one hash at the server. */
    (void)hexs;
    snprintf(r.phash, sizeof r.phash, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    /* The file is hashed as it is sent, so each attempt is one pass; the
     * retries are run here, each with a fresh hash. */
    for (int i = 0; i <= s->c.retries; i++) {
        if (i) backoff(i - 1);
        if (hash_sha256_init(&fh) < 0) { rc = S3_E_NOMEM; break; }
        r.fhash = &fh;
        rc = run(s, &r, what, NULL, NULL, err, errcap);
        hash_sha256_final(&fh, got);
        r.fhash = NULL;
        if ((rc == 0 || rc == S3_E_CHECKSUM) && r.sent == size && !hash_equal(got, sha, 32)) {
            /* The file changed since it was verified; what went up is not
             * what the record says (the server refused it, or it did not
             * check: then it goes). */
            char e2[128];
            if (rc == 0) s3_delete(s, key, e2, sizeof e2);
            snprintf(err, errcap, "PUT: the local file changed since it was verified (SHA-256 "
                     "differs); not stored");
            rc = S3_E_LOCAL;
            break;
        }
        if (rc != S3_E_UNAVAILABLE) break;
    }
    free(r.resp);
    return rc;
}

typedef struct part {
    char etag[80];
    char sha[48];
} part;

static int mp_abort(s3 *s, const char *key, const char *qid)
{
    req r;
    char q[1024], e[256];
    req_init(&r, "DELETE");
    snprintf(q, sizeof q, "uploadId=%s", qid);
    if (key_url(s, key, q, r.url, sizeof r.url) < 0) return -1;
    int rc = run(s, &r, "abort multipart upload", NULL, NULL, e, sizeof e);
    free(r.resp);
    return rc;
}

/* Aborts the multipart uploads of key left by an earlier try whose own
 * abort could not reach the store (it was down or killed): their parts
 * would otherwise stay stored (billed, counted against a quota) until a
 * lifecycle rule ends them. Best effort, one listing: a failure here is
 * for the upload that follows to meet and report. */
static void mp_abort_stale(s3 *s, const char *key)
{
    req r;
    char ep[URL_MAX / 2], e[256], k[2048], uid[512], qid[1024];
    if (encode(key, 0, ep, sizeof ep) < 0) return;
    req_init(&r, "GET");
    r.resp_max = LISTBODY_MAX;
    /* Keys in order: SigV4 signs the query as written (see the top). */
    int n = snprintf(r.url, sizeof r.url, "%s/%s?prefix=%s&uploads=", s->c.endpoint, s->c.bucket,
                     ep);
    if (n < 0 || (size_t)n >= sizeof r.url) return;
    if (run(s, &r, "list multipart uploads", NULL, NULL, e, sizeof e) == 0) {
        size_t pos = 0;
        /* <Upload><Key>K</Key><UploadId>U</UploadId>...; the prefix also
         * lists longer keys: only this one's are aborted. */
        while (s3xml_next(r.resp, r.resp_len, &pos, "Key", k, sizeof k, NULL) == 1 &&
               s3xml_next(r.resp, r.resp_len, &pos, "UploadId", uid, sizeof uid, NULL) == 1)
            if (!strcmp(k, key) && uid[0] && encode(uid, 0, qid, sizeof qid) == 0)
                mp_abort(s, key, qid);
    }
    free(r.resp);
}

static int put_multipart(s3 *s, const char *key, int fd, uint64_t size, const uint8_t *sha,
                         char *err, size_t errcap)
{
    req r;
    char uid[512] = "", qid[1024] = "", q[1200], hdr[128], what[64];
    uint64_t psize = s->c.part_size;
    uint8_t *buf = NULL, psha[32], whole[32];
    part *parts = NULL;
    char *xml = NULL;
    hash_sha256 wh = {0};
    int rc, created = 0;

    if ((size + psize - 1) / psize > S3_PARTS_MAX) {
        psize = (size + S3_PARTS_MAX - 1) / S3_PARTS_MAX;
        psize = (psize + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
    }
    size_t nparts = (size_t)((size + psize - 1) / psize);
    if (!(buf = malloc(PIECE)) || !(parts = calloc(nparts, sizeof *parts)) ||
        hash_sha256_init(&wh) < 0) {
        snprintf(err, errcap, "out of memory");
        rc = S3_E_NOMEM;
        goto out;
    }
    mp_abort_stale(s, key);
    /* Create */
    req_init(&r, "POST");
    r.hdr[r.nhdr++] = "x-amz-checksum-algorithm: SHA256";
    r.hdr[r.nhdr++] = "Content-Type: application/octet-stream";
    if (key_url(s, key, "uploads=", r.url, sizeof r.url) < 0) {
        snprintf(err, errcap, "key too long: %.100s", key);
        rc = S3_E_REFUSED;
        goto out;
    }
    rc = run(s, &r, "create multipart upload", NULL, NULL, err, errcap);
    size_t pos = 0;
    if (rc == 0 && (s3xml_next(r.resp, r.resp_len, &pos, "UploadId", uid, sizeof uid, NULL) != 1 ||
                    !uid[0])) {
        snprintf(err, errcap, "create multipart upload: no UploadId in the reply");
        rc = S3_E_REFUSED;
    }
    free(r.resp);
    if (rc) goto out;
    created = 1;
    if (encode(uid, 0, qid, sizeof qid) < 0) {
        snprintf(err, errcap, "create multipart upload: UploadId too long");
        rc = S3_E_REFUSED;
        goto out;
    }
    /* Parts: the checksum goes in a header, sent before the body, so each
     * part is read twice: hashed in small pieces, then streamed from the
     * file (the page cache, usually). Memory is one piece whatever the
     * part size, the file size or the number of uploads. */
    for (size_t i = 0; i < nparts; i++) {
        uint64_t off = (uint64_t)i * psize;
        uint64_t n = size - off < psize ? size - off : psize, got = 0;
        hash_sha256 ph;
        if (hash_sha256_init(&ph) < 0) {
            snprintf(err, errcap, "out of memory");
            rc = S3_E_NOMEM;
            goto out;
        }
        while (got < n) {
            size_t want = n - got < PIECE ? (size_t)(n - got) : PIECE;
            ssize_t k = pread(fd, buf, want, (off_t)(off + got));
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                snprintf(err, errcap, "reading the local file at byte %llu: %s",
                         (unsigned long long)(off + got), k < 0 ? strerror(errno) : "file shrank");
                hash_sha256_free(&ph);
                rc = S3_E_LOCAL;
                goto out;
            }
            hash_sha256_update(&wh, buf, (size_t)k);
            hash_sha256_update(&ph, buf, (size_t)k);
            got += (uint64_t)k;
        }
        hash_sha256_final(&ph, psha);
        b64(psha, 32, parts[i].sha);
        req_init(&r, "PUT");
        snprintf(q, sizeof q, "partNumber=%zu&uploadId=%s", i + 1, qid);
        key_url(s, key, q, r.url, sizeof r.url);
        snprintf(hdr, sizeof hdr, "x-amz-checksum-sha256: %s", parts[i].sha);
        r.hdr[r.nhdr++] = hdr;
        /* The signed checksum header covers the body: the server hashes
         * it once, not twice (a signed payload hash would be a second). */
        snprintf(r.phash, sizeof r.phash, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
        r.fd = fd;
        r.fd_off = off;
        r.fd_len = n;
        snprintf(what, sizeof what, "PUT part %zu of %zu", i + 1, nparts);
        rc = run(s, &r, what, NULL, NULL, err, errcap);
        snprintf(parts[i].etag, sizeof parts[i].etag, "%s", r.etag);
        free(r.resp);
        if (rc) goto out;
        if (!parts[i].etag[0]) {
            snprintf(err, errcap, "%s: no ETag in the reply", what);
            rc = S3_E_REFUSED;
            goto out;
        }
    }
    hash_sha256_final(&wh, whole);
    if (sha && !hash_equal(whole, sha, 32)) {
        snprintf(err, errcap, "the local file changed since it was verified (SHA-256 differs); "
                 "not stored");
        rc = S3_E_LOCAL;
        goto out;
    }
    /* Complete */
    size_t cap = 128 + nparts * 256, len = 0;
    if (!(xml = malloc(cap))) { rc = S3_E_NOMEM; snprintf(err, errcap, "out of memory"); goto out; }
    len += (size_t)snprintf(xml + len, cap - len, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < nparts; i++)
        len += (size_t)snprintf(xml + len, cap - len,
                                "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag>"
                                "<ChecksumSHA256>%s</ChecksumSHA256></Part>",
                                i + 1, parts[i].etag, parts[i].sha);
    len += (size_t)snprintf(xml + len, cap - len, "</CompleteMultipartUpload>");
    req_init(&r, "POST");
    r.hdr[r.nhdr++] = "Content-Type: application/xml";
    snprintf(q, sizeof q, "uploadId=%s", qid);
    key_url(s, key, q, r.url, sizeof r.url);
    r.body = (const uint8_t *)xml;
    r.body_len = len;
    rc = run(s, &r, "complete multipart upload", NULL, NULL, err, errcap);
    if (rc == 0 && r.resp && memmem(r.resp, r.resp_len, "<Error>", 7)) {
        /* a 200 that failed (S3 sends its headers before it is done) */
        r.status = 500;
        rc = classify(s, &r, "complete multipart upload", err, errcap);
    }
    free(r.resp);
    if (rc == 0) created = 0;
out:
    hash_sha256_free(&wh);
    if (created && qid[0]) mp_abort(s, key, qid);
    free(xml);
    free(parts);
    free(buf);
    return rc;
}

int s3_put_fd(s3 *s, const char *key, int fd, const char *name, const uint8_t *sha256, char *err,
              size_t errcap)
{
    struct stat st;
    uint8_t sha[32];
    uint64_t sz;
    int rc;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errcap, "cannot read %s: %s", name, strerror(errno));
        return S3_E_LOCAL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "%s is not a regular file", name);
        return S3_E_LOCAL;
    }
    if (!sha256) {
        /* The parts are sent with pread: the offset this moves is unused. */
        rc = lseek(fd, 0, SEEK_SET) < 0 ? -errno : hash_sha256_fd(fd, sha, &sz);
        if (rc < 0) {
            snprintf(err, errcap, "cannot read %s: %s", name, cai_strerror(rc));
            return S3_E_LOCAL;
        }
        sha256 = sha;
    }
    sz = (uint64_t)st.st_size;
    return sz <= s->c.part_size ? put_single(s, key, fd, sz, sha256, err, errcap)
                                : put_multipart(s, key, fd, sz, sha256, err, errcap);
}

int s3_put_file(s3 *s, const char *key, const char *path, const uint8_t *sha256, char *err,
                size_t errcap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
        return S3_E_LOCAL;
    }
    int rc = s3_put_fd(s, key, fd, path, sha256, err, errcap);
    close(fd);
    return rc;
}

/* ---- GET / HEAD / DELETE / list ------------------------------------------------- */

typedef struct get_ctx {
    uint64_t off, len;     /* asked */
    char range[96];
    char ifmatch[112];
    int whole;
} get_ctx;

static int get_resume(req *r, void *ctx)
{
    get_ctx *g = ctx;
    if (!r->got) return 0;                      /* nothing given yet: same request */
    if (!r->etag[0] && !g->ifmatch[0]) return -1;
    if (!g->ifmatch[0]) {
        snprintf(g->ifmatch, sizeof g->ifmatch, "If-Match: %s", r->etag);
        r->hdr[r->nhdr++] = g->ifmatch;        /* the same object, or a clean failure */
    }
    uint64_t from = g->off + r->got;
    if (g->len)
        snprintf(g->range, sizeof g->range, "Range: bytes=%llu-%llu", (unsigned long long)from,
                 (unsigned long long)(g->off + g->len - 1));
    else
        snprintf(g->range, sizeof g->range, "Range: bytes=%llu-", (unsigned long long)from);
    return 0;
}

int s3_get(s3 *s, const char *key, uint64_t off, uint64_t len, const uint8_t *sha256,
           s3_sink sink, void *ctx, s3_obj *info, char *err, size_t errcap)
{
    req r;
    get_ctx g = {0};
    hash_sha256 gh = {0};
    int rc;
    req_init(&r, "GET");
    if (key_url(s, key, NULL, r.url, sizeof r.url) < 0) {
        snprintf(err, errcap, "key too long: %.100s", key);
        return S3_E_REFUSED;
    }
    g.off = off;
    g.len = len;
    g.whole = off == 0 && len == 0;
    r.hdr[r.nhdr++] = g.range;                  /* "" until a range is needed */
    r.hdr[r.nhdr++] = "x-amz-checksum-mode: ENABLED";
    if (off || len) {
        if (len)
            snprintf(g.range, sizeof g.range, "Range: bytes=%llu-%llu", (unsigned long long)off,
                     (unsigned long long)(off + len - 1));
        else
            snprintf(g.range, sizeof g.range, "Range: bytes=%llu-", (unsigned long long)off);
    }
    if (sha256 && g.whole) {
        if (hash_sha256_init(&gh) < 0) return S3_E_NOMEM;
        r.ghash = &gh;
    }
    r.sink = sink;
    r.sink_ctx = ctx;
    rc = run(s, &r, "GET", get_resume, &g, err, errcap);
    if (info) {
        memset(info, 0, sizeof *info);
        info->size = r.have_range ? r.range_total : r.clen;
        if (r.got && !r.have_range && g.whole) info->size = r.got;
        snprintf(info->etag, sizeof info->etag, "%s", r.etag);
        snprintf(info->sha256_b64, sizeof info->sha256_b64, "%s", r.sha_b64);
    }
    if (r.ghash) {
        uint8_t got[32];
        hash_sha256_final(&gh, got);
        if (rc == 0 && !hash_equal(got, sha256, 32)) {
            snprintf(err, errcap, "GET %s: the object's bytes do not match the SHA-256 recorded for "
                     "it (damaged or replaced in the bucket)", key);
            rc = S3_E_CHECKSUM;
        }
    }
    free(r.resp);
    return rc;
}

int s3_head(s3 *s, const char *key, s3_obj *info, char *err, size_t errcap)
{
    req r;
    int rc;
    req_init(&r, "HEAD");
    if (key_url(s, key, NULL, r.url, sizeof r.url) < 0) {
        snprintf(err, errcap, "key too long: %.100s", key);
        return S3_E_REFUSED;
    }
    r.hdr[r.nhdr++] = "x-amz-checksum-mode: ENABLED";
    rc = run(s, &r, "HEAD", NULL, NULL, err, errcap);
    if (info) {
        memset(info, 0, sizeof *info);
        info->size = r.clen;
        snprintf(info->etag, sizeof info->etag, "%s", r.etag);
        snprintf(info->sha256_b64, sizeof info->sha256_b64, "%s", r.sha_b64);
    }
    free(r.resp);
    return rc;
}

int s3_delete(s3 *s, const char *key, char *err, size_t errcap)
{
    req r;
    int rc;
    req_init(&r, "DELETE");
    if (key_url(s, key, NULL, r.url, sizeof r.url) < 0) {
        snprintf(err, errcap, "key too long: %.100s", key);
        return S3_E_REFUSED;
    }
    rc = run(s, &r, "DELETE", NULL, NULL, err, errcap);
    if (rc == S3_E_NOTFOUND) rc = 0;
    free(r.resp);
    return rc;
}

static int list_page(s3 *s, const char *prefix, const char *token, int max, req *r, char *err,
                     size_t errcap)
{
    char ep[URL_MAX / 2], et[1024] = "";
    if (encode(prefix, 0, ep, sizeof ep) < 0 || (token && encode(token, 0, et, sizeof et) < 0)) {
        snprintf(err, errcap, "prefix too long");
        return S3_E_REFUSED;
    }
    req_init(r, "GET");
    r->resp_max = LISTBODY_MAX;
    /* Keys in order: SigV4 signs the query as written (see the top). */
    int n = snprintf(r->url, sizeof r->url, "%s/%s?%s%s%slist-type=2&max-keys=%d&prefix=%s",
                     s->c.endpoint, s->c.bucket, et[0] ? "continuation-token=" : "", et,
                     et[0] ? "&" : "", max, ep);
    if (n < 0 || (size_t)n >= sizeof r->url) {
        snprintf(err, errcap, "prefix too long");
        return S3_E_REFUSED;
    }
    return run(s, r, "list", NULL, NULL, err, errcap);
}

int s3_list(s3 *s, const char *prefix, s3_list_fn fn, void *ctx, char *err, size_t errcap)
{
    char token[1024] = "", key[2048], trunc[16];
    int rc = 0;
    for (int page = 0; page < 1000000; page++) {
        req r;
        rc = list_page(s, prefix, token[0] ? token : NULL, 1000, &r, err, errcap);
        if (rc) { free(r.resp); return rc; }
        size_t pos = 0;
        uint64_t size;
        int k;
        while ((k = s3xml_list_next(r.resp, r.resp_len, &pos, key, sizeof key, &size)) == 1) {
            if ((rc = fn(ctx, key, size))) { free(r.resp); return rc; }
        }
        if (k < 0) {
            snprintf(err, errcap, "list: malformed reply");
            free(r.resp);
            return S3_E_REFUSED;
        }
        pos = 0;
        trunc[0] = 0;
        s3xml_next(r.resp, r.resp_len, &pos, "IsTruncated", trunc, sizeof trunc, NULL);
        pos = 0;
        token[0] = 0;
        int more = !strcmp(trunc, "true") &&
                   s3xml_next(r.resp, r.resp_len, &pos, "NextContinuationToken", token,
                              sizeof token, NULL) == 1 && token[0];
        free(r.resp);
        if (!more) return 0;
    }
    return 0;
}

typedef struct del_ctx {
    s3 *s;
    char *err;
    size_t errcap;
    int rc;
    char **keys;
    size_t n, cap;
} del_ctx;

static int collect_key(void *ctx, const char *key, uint64_t size)
{
    del_ctx *d = ctx;
    (void)size;
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 64;
        char **nk = realloc(d->keys, nc * sizeof *nk);
        if (!nk) return S3_E_NOMEM;
        d->keys = nk;
        d->cap = nc;
    }
    if (!(d->keys[d->n] = strdup(key))) return S3_E_NOMEM;
    d->n++;
    return 0;
}

int s3_delete_prefix(s3 *s, const char *prefix, char *err, size_t errcap)
{
    del_ctx d = { s, err, errcap, 0, NULL, 0, 0 };
    int rc = s3_list(s, prefix, collect_key, &d, err, errcap);
    if (rc == S3_E_NOMEM) snprintf(err, errcap, "out of memory");
    for (size_t i = 0; i < d.n; i++) {
        if (rc == 0) rc = s3_delete(s, d.keys[i], err, errcap);
        free(d.keys[i]);
    }
    free(d.keys);
    return rc;
}

int s3_check(s3 *s, char *err, size_t errcap)
{
    req r;
    int rc = list_page(s, "", NULL, 1, &r, err, errcap);
    free(r.resp);
    return rc;
}
