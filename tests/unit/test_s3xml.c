/* test_s3xml.c — the S3 reply scans (error codes, listings, entities,
 * truncation) and the key encoding SigV4 signs. */
#include <stdint.h>

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

int main(void)
{
    T_RUN(test_error);
    T_RUN(test_list);
    T_RUN(test_encode);
    T_RUN(test_config);
    return T_DONE();
}
