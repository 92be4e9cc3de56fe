/* s3tool.c — the master's S3 client (src/master/s3.c) from the command
 * line, for tests and the bench:
 *   s3tool check
 *   s3tool put KEY FILE [SHA256_HEX]
 *   s3tool get KEY [OFF LEN [SHA256_HEX]]   (bytes to stdout; LEN 0 = to the end)
 *   s3tool head KEY                          (prints "size N etag E sha256 B")
 *   s3tool delete KEY | delete-prefix PREFIX
 *   s3tool list PREFIX                       (prints "KEY SIZE" lines)
 * Configured from the environment: S3_ENDPOINT, S3_BUCKET, AWS_REGION,
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, S3_PART_SIZE, S3_RETRIES,
 * S3_STALL_S, S3_CLOCK_OFFSET_S. Errors: "s3tool: CODE: message" on stderr,
 * exit status = the code's place in the S3 band (S3_E_BASE - CODE: 2 for
 * S3_E_AUTH), 70 for any other code, 64 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hash.h"
#include "master/s3.h"

static int to_stdout(void *ctx, const void *p, size_t n)
{
    (void)ctx;
    return fwrite(p, 1, n, stdout) == n ? 0 : -1;
}

static int print_key(void *ctx, const char *key, uint64_t size)
{
    (void)ctx;
    printf("%s %llu\n", key, (unsigned long long)size);
    return 0;
}

static void env(const char *name, char *out, size_t cap)
{
    const char *v = getenv(name);
    snprintf(out, cap, "%s", v ? v : "");
}

int main(int argc, char **argv)
{
    s3_config c;
    char err[1024] = "";
    uint8_t sha[32];
    int rc = 0;
    memset(&c, 0, sizeof c);
    if (argc < 2) goto usage;
    env("S3_ENDPOINT", c.endpoint, sizeof c.endpoint);
    env("S3_BUCKET", c.bucket, sizeof c.bucket);
    env("AWS_REGION", c.region, sizeof c.region);
    env("AWS_ACCESS_KEY_ID", c.access_key, sizeof c.access_key);
    env("AWS_SECRET_ACCESS_KEY", c.secret_key, sizeof c.secret_key);
    c.part_size = getenv("S3_PART_SIZE") ? strtoull(getenv("S3_PART_SIZE"), NULL, 10) : 0;
    c.retries = getenv("S3_RETRIES") ? atoi(getenv("S3_RETRIES")) : 4;
    c.stall_timeout_s = getenv("S3_STALL_S") ? atoi(getenv("S3_STALL_S")) : 0;
    c.clock_offset_s = getenv("S3_CLOCK_OFFSET_S") ? atoll(getenv("S3_CLOCK_OFFSET_S")) : 0;
    s3 *s = s3_new(&c, err, sizeof err);
    if (!s) {
        fprintf(stderr, "s3tool: config: %s\n", err);
        return 64;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "check") && argc == 2) {
        rc = s3_check(s, err, sizeof err);
    } else if (!strcmp(cmd, "put") && (argc == 4 || argc == 5)) {
        if (argc == 5 && hash_unhex(argv[4], sha, 32) < 0) goto usage_free;
        rc = s3_put_file(s, argv[2], argv[3], argc == 5 ? sha : NULL, err, sizeof err);
    } else if (!strcmp(cmd, "get") && (argc == 3 || argc == 5 || argc == 6)) {
        uint64_t off = argc >= 5 ? strtoull(argv[3], NULL, 10) : 0;
        uint64_t len = argc >= 5 ? strtoull(argv[4], NULL, 10) : 0;
        if (argc == 6 && hash_unhex(argv[5], sha, 32) < 0) goto usage_free;
        s3_obj o;
        rc = s3_get(s, argv[2], off, len, argc == 6 ? sha : NULL, to_stdout, NULL, &o, err,
                    sizeof err);
        fflush(stdout);
    } else if (!strcmp(cmd, "head") && argc == 3) {
        s3_obj o;
        rc = s3_head(s, argv[2], &o, err, sizeof err);
        if (rc == 0)
            printf("size %llu etag %s sha256 %s\n", (unsigned long long)o.size, o.etag,
                   o.sha256_b64[0] ? o.sha256_b64 : "-");
    } else if (!strcmp(cmd, "delete") && argc == 3) {
        rc = s3_delete(s, argv[2], err, sizeof err);
    } else if (!strcmp(cmd, "delete-prefix") && argc == 3) {
        rc = s3_delete_prefix(s, argv[2], err, sizeof err);
    } else if (!strcmp(cmd, "list") && argc == 3) {
        rc = s3_list(s, argv[2], print_key, NULL, err, sizeof err);
    } else {
        goto usage_free;
    }
    s3_free(s);
    if (rc) {
        fprintf(stderr, "s3tool: %s: %s\n", cai_strerror(rc), err);
        /* The code's place in the S3 band (S3_E_AUTH = S3_E_BASE - 2: 2). */
        return rc <= S3_E_BASE && rc > S3_E_BASE - 64 ? (int)(S3_E_BASE - rc) : 70;
    }
    return 0;
usage_free:
    s3_free(s);
usage:
    fprintf(stderr, "usage: s3tool check | put KEY FILE [SHA] | get KEY [OFF LEN [SHA]] | head KEY "
                    "| delete KEY | delete-prefix P | list PREFIX\n");
    return 64;
}
