/* test_s3xml.c — the S3 reply scans (error codes, listings, entities,
 * truncation), the key encoding SigV4 signs, and how refusals are told
 * apart (a full bucket is not a wrong key) against a real socket that
 * answers canned replies. */
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "master/s3.h"
#include "master/s3xml.h"
#include "t.h"

static void test_error(void)
{
    const char *x = "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code>"
                    "<Message>The bucket &quot;b&quot; &amp; more</Message></Error>";
    char code[32], msg[64];
    T_EQ_INT(s3xml_error(x, strlen(x), code, sizeof code, msg, sizeof msg), 0);
    T_EQ_STR(code, "NoSuchBucket");
    T_EQ_STR(msg, "The bucket \"b\" & more");
    T_EQ_INT(s3xml_error("<html>502</html>", 16, code, sizeof code, msg, sizeof msg), -1);
    T_EQ_STR(code, "");
    /* cut before the closing tag: no code */
    T_EQ_INT(s3xml_error(x, 40, code, sizeof code, msg, sizeof msg), -1);
    /* tiny buffers: truncated, terminated */
    char c4[4];
    T_EQ_INT(s3xml_error(x, strlen(x), c4, sizeof c4, msg, 1), 0);
    T_EQ_STR(c4, "NoS");
    T_EQ_STR(msg, "");
}

static void test_list(void)
{
    const char *x = "<ListBucketResult><IsTruncated>true</IsTruncated>"
                    "<Contents><Key>p/a &amp; b</Key><Size>12</Size></Contents>"
                    "<Contents><Key>p/&#x263A;&#65;</Key><Size>0</Size></Contents>"
                    "<NextContinuationToken>t&lt;1</NextContinuationToken></ListBucketResult>";
    char key[64], tok[16];
    uint64_t sz = 99;
    size_t pos = 0;
    T_EQ_INT(s3xml_list_next(x, strlen(x), &pos, key, sizeof key, &sz), 1);
    T_EQ_STR(key, "p/a & b");
    T_EQ_INT(sz, 12);
    T_EQ_INT(s3xml_list_next(x, strlen(x), &pos, key, sizeof key, &sz), 1);
    T_EQ_STR(key, "p/\xe2\x98\xba" "A");
    T_EQ_INT(sz, 0);
    T_EQ_INT(s3xml_list_next(x, strlen(x), &pos, key, sizeof key, &sz), 0);
    pos = 0;
    T_EQ_INT(s3xml_next(x, strlen(x), &pos, "NextContinuationToken", tok, sizeof tok, NULL), 1);
    T_EQ_STR(tok, "t<1");
    /* a key that does not fit is an error, never a shorter key */
    char k3[3];
    pos = 0;
    T_EQ_INT(s3xml_list_next(x, strlen(x), &pos, k3, sizeof k3, &sz), -1);
    const char *bad[] = {
        "<Contents><Key>a<b</Key></Contents>", "<Contents><Key>&#0;</Key></Contents>",
        "<Contents><Key>k</Key><Size>99999999999999999999999</Size></Contents>",
        "<Contents><Key>&bogus;</Key></Contents>", "<Contents><Key>k</Key>",
        "<Contents><Size>1</Size></Contents>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pos = 0;
        T_EQ_INT(s3xml_list_next(bad[i], strlen(bad[i]), &pos, key, sizeof key, &sz), -1);
    }
}

static void test_encode(void)
{
    char out[64];
    T_EQ_INT(s3_encode_key("u/task name/2026-12-01T10:00:00Z/a+b~c.txt", out, sizeof out), 0);
    T_EQ_STR(out, "u/task%20name/2026-12-01T10%3A00%3A00Z/a%2Bb~c.txt");
    T_EQ_INT(s3_encode_key("\xc3\xa9/=", out, sizeof out), 0);
    T_EQ_STR(out, "%C3%A9/%3D");
    T_EQ_INT(s3_encode_key("abc", out, 3), -1);
}

static void test_config(void)
{
    s3_config c;
    char err[256];
    memset(&c, 0, sizeof c);
    snprintf(c.endpoint, sizeof c.endpoint, "ftp://x");
    snprintf(c.bucket, sizeof c.bucket, "bucket");
    snprintf(c.access_key, sizeof c.access_key, "k");
    snprintf(c.secret_key, sizeof c.secret_key, "s");
    T_CHECK(s3_new(&c, err, sizeof err) == NULL);
    T_CHECK(strstr(err, "http://") != NULL);
    snprintf(c.endpoint, sizeof c.endpoint, "http://127.0.0.1:1/");
    snprintf(c.bucket, sizeof c.bucket, "Bad_Bucket");
    T_CHECK(s3_new(&c, err, sizeof err) == NULL);
    T_CHECK(strstr(err, "bucket") != NULL);
    snprintf(c.bucket, sizeof c.bucket, "bucket");
    c.secret_key[0] = 0;
    T_CHECK(s3_new(&c, err, sizeof err) == NULL);
    T_CHECK(strstr(err, "AWS_SECRET_ACCESS_KEY") != NULL);
    snprintf(c.secret_key, sizeof c.secret_key, "s:with:colons");
    c.retries = 0;
    s3 *s = s3_new(&c, err, sizeof err);
    T_CHECK(s != NULL);
    if (s) {
        /* nothing listens on port 1: unavailable, and said so */
        T_EQ_INT(s3_check(s, err, sizeof err), S3_E_UNAVAILABLE);
        T_CHECK(strstr(err, "127.0.0.1:1") != NULL);
        T_CHECK(s3_retryable(S3_E_UNAVAILABLE) && !s3_retryable(S3_E_AUTH));
        T_CHECK(s3_retryable(S3_E_FULL));   /* a quota can be raised */
        s3_free(s);
    }
}

/* A server on 127.0.0.1:0 answering each connection (curl is told to
 * close: Connection: close) with the next canned reply, then closing. */
typedef struct canned {
    int fd;
    const char *const *replies;
    int n, served;
} canned;

static void *canned_main(void *arg)
{
    canned *c = arg;
    for (int i = 0; i < c->n; i++) {
        int fd = accept(c->fd, NULL, NULL);
        if (fd < 0) break;
        char buf[8192];
        size_t got = 0;
        /* the request's headers (the small bodies here come with them or
         * are never sent: curl waits for 100-continue only above 1 MiB) */
        while (got < sizeof buf - 1) {
            ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
            if (r <= 0) break;
            got += (size_t)r;
            buf[got] = 0;
            if (strstr(buf, "\r\n\r\n")) break;
        }
        const char *rep = c->replies[i];
        if (write(fd, rep, strlen(rep)) < 0) { close(fd); break; }
        shutdown(fd, SHUT_WR);
        while (read(fd, buf, sizeof buf) > 0)   /* drain until curl closes */
            ;
        close(fd);
        c->served++;
    }
    return NULL;
}

static char *reply(const char *status, const char *body)
{
    static char bufs[4][1024];
    static int k;
    char *b = bufs[k++ % 4];
    snprintf(b, sizeof bufs[0], "HTTP/1.1 %s\r\nContent-Type: application/xml\r\n"
             "Connection: close\r\nContent-Length: %zu\r\n\r\n%s", status, strlen(body), body);
    return b;
}

/* Runs one PUT against replies; returns its code, err filled. */
static int put_against(const char *const *replies, int n, int *served, char *err, size_t errcap)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    canned c = {-1, replies, n, 0};
    pthread_t th;
    int rc = -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((c.fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 || bind(c.fd, (void *)&a, sizeof a) < 0 ||
        listen(c.fd, 8) < 0 || getsockname(c.fd, (void *)&a, &al) < 0)
        goto out;
    s3_config sc;
    memset(&sc, 0, sizeof sc);
    snprintf(sc.endpoint, sizeof sc.endpoint, "http://127.0.0.1:%u", ntohs(a.sin_port));
    snprintf(sc.bucket, sizeof sc.bucket, "bucket");
    snprintf(sc.access_key, sizeof sc.access_key, "k");
    snprintf(sc.secret_key, sizeof sc.secret_key, "s");
    sc.retries = 0;
    sc.stall_timeout_s = 5;
    s3 *s = s3_new(&sc, err, errcap);
    if (!s) goto out;
    if (pthread_create(&th, NULL, canned_main, &c) != 0) { s3_free(s); goto out; }
    rc = s3_put_buf(s, "k/x", "hello", 5, err, errcap);
    s3_free(s);
    shutdown(c.fd, SHUT_RDWR);        /* an accept still waiting returns */
    pthread_join(th, NULL);
    *served = c.served;
out:
    if (c.fd >= 0) close(c.fd);
    return rc;
}

static void test_full_bucket(void)
{
    char err[1024];
    int served = 0;
    static const char denied[] = "<Error><Code>AccessDenied</Code><Message>Access Denied."
                                 "</Message></Error>";
    static const char listing[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                                  "</ListBucketResult>";
    /* RGW's QuotaExceeded (403): full, not credentials; no probe needed */
    const char *r1[] = {reply("403 Forbidden", "<Error><Code>QuotaExceeded</Code></Error>")};
    T_EQ_INT(put_against(r1, 1, &served, err, sizeof err), S3_E_FULL);
    T_CHECK(strstr(err, "bucket bucket is full (QuotaExceeded") != NULL);
    T_EQ_INT(served, 1);
    /* 507 without a body */
    const char *r2[] = {reply("507 Insufficient Storage", "")};
    T_EQ_INT(put_against(r2, 1, &served, err, sizeof err), S3_E_FULL);
    T_CHECK(strstr(err, "HTTP 507") != NULL);
    /* SeaweedFS over its quota: a bare AccessDenied on the write, but the
     * same key lists the bucket: the bucket refuses writes */
    const char *r3[] = {reply("403 Forbidden", denied), reply("200 OK", listing)};
    T_EQ_INT(put_against(r3, 2, &served, err, sizeof err), S3_E_FULL);
    T_CHECK(strstr(err, "refuses writes (AccessDenied") != NULL);
    T_CHECK(strstr(err, "over its quota or read-only") != NULL);
    T_EQ_INT(served, 2);
    /* ... and when the listing is refused too, it is the key */
    const char *r4[] = {reply("403 Forbidden", denied), reply("403 Forbidden", denied)};
    T_EQ_INT(put_against(r4, 2, &served, err, sizeof err), S3_E_AUTH);
    T_CHECK(strstr(err, "refused the credentials") != NULL);
    T_EQ_INT(served, 2);
}

int main(void)
{
    T_RUN(test_error);
    T_RUN(test_list);
    T_RUN(test_encode);
    T_RUN(test_config);
    T_RUN(test_full_bucket);
    return T_DONE();
}
