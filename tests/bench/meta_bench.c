/* meta_bench.c — file-record insert rate of the metadata store: one task
 * with N output files (default 10,000) put as one meta_files_put of N
 * ("bulk"), as N calls of one ("single"), and the bulk again over existing
 * records ("rebulk", an idempotent re-upload). Journal in a temp dir always;
 * MongoDB when a URI is given (-mongo URI, or CLOUDAI_TEST_MONGO_URI), in a
 * fresh database that is dropped afterwards.
 * Prints one JSON line per figure: {"name":...,"value":...,"unit":"records/s"}.
 * usage: meta_bench [-n N] [-mongo URI] [-single-max M] */
#include <dirent.h>
#include <mongoc/mongoc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "master/meta.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void mk_files(file_rec *f, size_t n, const char *task)
{
    for (size_t i = 0; i < n; i++) {
        memset(&f[i], 0, sizeof f[i]);
        snprintf(f[i].task_id, sizeof f[i].task_id, "%s", task);
        snprintf(f[i].user_id, sizeof f[i].user_id, "alice");
        snprintf(f[i].task_name, sizeof f[i].task_name, "bench");
        snprintf(f[i].file_name, sizeof f[i].file_name, "out/part-%06zu.dat", i);
        snprintf(f[i].file_path, sizeof f[i].file_path, "/data/files/alice/bench/1/%s/%s", task,
                 f[i].file_name);
        f[i].submitted_at = 1700000000000ull;
        f[i].stored_at = f[i].submitted_at + 1000;
        f[i].file_size = 4096 + i;
        f[i].mode = 0644;
        for (int k = 0; k < 32; k++) f[i].sha256[k] = (uint8_t)(i * 31 + (size_t)k);
    }
}

static void emit(const char *what, const char *backend, size_t n, double dt)
{
    printf("{\"name\":\"meta_files_put_%s_%s\",\"value\":%.0f,\"unit\":\"records/s\"}\n", what,
           backend, dt > 0 ? (double)n / dt : 0.0);
    fflush(stdout);
}

static int run(meta *m, const char *backend, file_rec *f, size_t n, size_t single_max)
{
    char err[512] = "";
    mk_files(f, n, "t-bulk");
    double t0 = now_s();
    if (meta_files_put(m, f, n, err, sizeof err) != 0) goto fail;
    emit("bulk", backend, n, now_s() - t0);
    t0 = now_s();
    if (meta_files_put(m, f, n, err, sizeof err) != 0) goto fail;
    emit("rebulk", backend, n, now_s() - t0);
    size_t ns = single_max && single_max < n ? single_max : n;
    mk_files(f, ns, "t-single");
    t0 = now_s();
    for (size_t i = 0; i < ns; i++)
        if (meta_files_put(m, &f[i], 1, err, sizeof err) != 0) goto fail;
    emit("single", backend, ns, now_s() - t0);
    return 0;
fail:
    fprintf(stderr, "meta_bench: %s: %s\n", backend, err);
    return 1;
}

static void rm_flat(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < sizeof p) unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

static void drop_db(const char *uri, const char *db)
{
    mongoc_client_t *c = mongoc_client_new(uri);
    if (!c) return;
    mongoc_database_t *d = mongoc_client_get_database(c, db);
    mongoc_database_drop(d, NULL);
    mongoc_database_destroy(d);
    mongoc_client_destroy(c);
}

int main(int argc, char **argv)
{
    size_t n = 10000, single_max = 0;
    const char *uri = getenv("CLOUDAI_TEST_MONGO_URI");
    char err[512] = "", dir[] = "/tmp/meta_bench.XXXXXX";
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) n = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-mongo") && i + 1 < argc) uri = argv[++i];
        else if (!strcmp(argv[i], "-single-max") && i + 1 < argc) single_max = strtoul(argv[++i], NULL, 10);
        else { fprintf(stderr, "usage: meta_bench [-n N] [-mongo URI] [-single-max M]\n"); return 2; }
    }
    file_rec *f = n ? malloc(n * sizeof *f) : NULL;
    if (!f) { fprintf(stderr, "meta_bench: need -n > 0 and memory\n"); return 2; }

    if (!mkdtemp(dir)) { perror("mkdtemp"); free(f); return 1; }
    uint64_t dropped = 0;
    meta *m = meta_open_journal(dir, 0, &dropped, err, sizeof err);
    if (!m) { fprintf(stderr, "meta_bench: journal: %s\n", err); rc = 1; }
    else { rc |= run(m, "journal", f, n, single_max); meta_close(m); }
    rm_flat(dir);

    if (uri && *uri) {
        char db[64];
        snprintf(db, sizeof db, "cloudai_bench_%ld", (long)getpid());
        m = meta_open_mongo(uri, db, 5000, err, sizeof err);
        if (!m) { fprintf(stderr, "meta_bench: mongodb: %s\n", err); rc = 1; }
        else { rc |= run(m, "mongodb", f, n, single_max); meta_close(m); drop_db(uri, db); }
    } else {
        fprintf(stderr, "meta_bench: no MongoDB URI; journal only\n");
    }
    free(f);
    return rc;
}
