/* cli_get.c — `get`: download a task's files. The master streams a ustar
 * archive in FILE_CHUNKs (each with its own CRC32, optionally deflated on
 * its own) and ends with FILE_END carrying the SHA-256 of the whole
 * stream. Chunks are checked, inflated, hashed and fed to the safe
 * extractor one at a time, so memory stays at one chunk whatever the size
 * of the output. Any failure removes what was written: a half download
 * must not look like a whole one. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli_int.h"
#include "cli_progress.h"
#include "extract.h"
#include "fsutil.h"
#include "hash.h"
#include "ids.h"
#include "table.h"
#include "zchunk.h"

typedef struct get_state {
    cli_ctx *c;
    const char *task_id;
    const char *dest;
    extract *x;
    hash_sha256 sha;
    int sha_live;
    uint8_t *raw;           /* one inflated chunk */
    uint64_t seq, offset, total;
    int have_total;
    uint64_t files, bytes;
    cli_progress bar;
} get_state;

static int count_file(void *ctx, const extract_file *f)
{
    get_state *g = ctx;
    if (f->type == '0' || f->type == '1') {
        g->files++;
        g->bytes += f->size;
    }
    return 0;
}

/* 1 if path is a directory with no entries, 0 if not empty, -errno. */
static int dir_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int empty = 1;
    if (!d)
        return -errno;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = 0;
            break;
        }
    }
    closedir(d);
    return empty;
}

/* Removes what this download put into dest; dest itself goes only if we
 * created it (a directory the user prepared stays, empty as it was). */
static void remove_partial(const char *dest, int created)
{
    if (created) {
        fsutil_rm_rf(dest);
        return;
    }
    DIR *d = opendir(dest);
    struct dirent *e;
    char path[4096];
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (fsutil_join(path, sizeof path, dest, e->d_name) == 0)
            fsutil_rm_rf(path);
    }
    closedir(d);
}

static int on_chunk(get_state *g, const proto_msg *m)
{
    uint64_t seq, off, crc = 0, crcc = 0, raw_len, total;
    int has_crc, has_crcc;
    proto_field data;
    char id[64] = "";
    const uint8_t *p;
    size_t n;
    int rc;
    has_crc = proto_u64(m, T_CRC32, &crc) == 0;
    has_crcc = proto_u64(m, T_CRC32C, &crcc) == 0;
    if (proto_u64(m, T_SEQ, &seq) < 0 || proto_u64(m, T_OFFSET, &off) < 0 ||
        (!has_crc && !has_crcc) || proto_get(m, T_DATA, &data) < 0)
        return cli_fail("malformed FILE_CHUNK from the master");
    if (proto_str(m, T_TASK_ID, id, sizeof id) == 0 && strcmp(id, g->task_id))
        return cli_fail("master sent chunks of task %s, not %s", id, g->task_id);
    if (seq != g->seq || off != g->offset)
        return cli_fail("chunk %llu at offset %llu out of order (expected chunk %llu at %llu)",
                        (unsigned long long)seq, (unsigned long long)off,
                        (unsigned long long)g->seq, (unsigned long long)g->offset);
    if ((has_crcc && (crcc > UINT32_MAX || hash_crc32c(0, data.p, data.len) != (uint32_t)crcc)) ||
        (has_crc && (crc > UINT32_MAX || hash_crc32(0, data.p, data.len) != (uint32_t)crc)))
        return cli_fail("chunk %llu failed its %s check: the transfer was corrupted",
                        (unsigned long long)seq, has_crcc ? "CRC32C" : "CRC32");
    if (proto_u64(m, T_TOTAL_SIZE, &total) == 0 && !g->have_total) {
        g->total = total;
        g->have_total = 1;
        cli_progress_total(&g->bar, total);
    }
    p = data.p;
    n = data.len;
    if (proto_u64(m, T_RAW_LEN, &raw_len) == 0) {
        if (raw_len > PROTO_CHUNK_MAX)
            return cli_fail("chunk %llu announces %llu bytes, over the %u limit",
                            (unsigned long long)seq, (unsigned long long)raw_len,
                            PROTO_CHUNK_MAX);
        if ((rc = zchunk_decompress(data.p, data.len, g->raw, (size_t)raw_len)) < 0)
            return cli_fail("chunk %llu does not inflate (%s)", (unsigned long long)seq,
                            rc == ZCHUNK_E_SIZE ? "wrong size" : "corrupt data");
        p = g->raw;
        n = (size_t)raw_len;
    }
    if (g->have_total && g->offset + n > g->total)
        return cli_fail("stream runs past its announced %llu bytes",
                        (unsigned long long)g->total);
    hash_sha256_update(&g->sha, p, n);
    if (n && (rc = extract_feed(g->x, p, n)) < 0)
        return cli_fail("refusing the archive: %s", extract_error(g->x));
    g->offset += n;
    g->seq++;
    cli_progress_add(&g->bar, n);
    return 0;
}

static int on_end(get_state *g, const proto_msg *m)
{
    uint64_t total;
    proto_field f;
    uint8_t sum[32];
    int rc;
    if (proto_u64(m, T_TOTAL_SIZE, &total) < 0 || proto_get(m, T_SHA256, &f) < 0 ||
        f.len != sizeof sum)
        return cli_fail("malformed FILE_END from the master");
    if (total != g->offset)
        return cli_fail("stream ended after %llu bytes of %llu", (unsigned long long)g->offset,
                        (unsigned long long)total);
    hash_sha256_final(&g->sha, sum);
    g->sha_live = 0;
    if (!hash_equal(sum, f.p, sizeof sum))
        return cli_fail("SHA-256 of the download does not match the master's: corrupted");
    /* A task with no files may come as an empty stream: nothing to finish. */
    if (g->offset > 0 && (rc = extract_finish(g->x)) < 0)
        return cli_fail("archive incomplete: %s", extract_error(g->x));
    return 0;
}

static int receive(get_state *g, proto_msg *m)
{
    int rc;
    for (;;) {
        if (m->type == PROTO_FILE_CHUNK) {
            if ((rc = on_chunk(g, m)) != 0)
                return rc;
        } else if (m->type == PROTO_FILE_END) {
            return on_end(g, m);
        } else {
            return cli_fail("unexpected %s during the download", proto_type_name(m->type));
        }
        if ((rc = cli_recv(g->c, m, CLI_STREAM_MS)) != 0)
            return rc;
    }
}

int cli_verb_get(cli_ctx *c, int argc, char **argv)
{
    const char *file = NULL, *latest = NULL, *out = NULL;
    latest_pick lp;
    args_spec specs[] = {
        {"path", ARGS_STR, &file, NULL, "P",
         "only this file or sub-directory (relative to the task's output, e.g. models/best.pt)"},
        {"file", ARGS_STR, &file, NULL, "P", "same as -path"},
        {"latest", ARGS_STR, &latest, NULL, "NAME", "instead of TASK_ID: the newest finished run named NAME"},
        {"name", ARGS_STR, &latest, NULL, "NAME", "same as -latest"},
        {"o", ARGS_STR, &out, NULL, "DEST", "the destination, as the DEST argument (curl's and tar's habit)"},
        {"out", ARGS_STR, &out, NULL, "DEST", "same as -o"},
        CLI_SPEC_MASTER(c), CLI_SPEC_USER(c), CLI_SPEC_TOKEN(c),
    };
    char *pos[CLI_POS_MAX];
    char defdest[128], safe[IDS_NAME_MAX + 8], size[32];
    args_result r;
    proto_msg m;
    get_state g;
    struct stat st;
    int created = 0;
    memset(&g, 0, sizeof g);
    int rc = cli_parse(c, specs, sizeof specs / sizeof specs[0], argc, argv, pos, 0, 2, &r,
                       "get TASK_ID [DEST] [-path P]   |   get -latest NAME [DEST] [-path P]",
                       "Downloads a task's output files, with their directory structure, into\n"
                       "DEST (default ./TASK_ID). DEST must not exist or be an empty directory:\n"
                       "nothing is ever overwritten. With -path, only that file or sub-directory\n"
                       "comes, under its relative path (DEST/P). Every chunk's CRC32 and the\n"
                       "SHA-256 of the whole stream are verified; on any error the partial\n"
                       "download is removed. On a terminal, stderr shows bytes, rate and ETA.");
    if (rc >= 0)
        return rc;
    if (r.dashdash)
        return cli_usage_error(c, "unexpected '--'");
    g.c = c;
    /* -latest NAME takes the place of TASK_ID: the positionals are [DEST]. */
    int first = latest ? 0 : 1;
    if (latest ? r.npos > 1 : r.npos < 1)
        return cli_usage_error(c, latest ? "give -latest NAME or a TASK_ID, not both" : "missing TASK_ID "
                               "(or -latest NAME)");
    if (latest) {
        if ((rc = cli_named_run(c, "latest", latest, 0, &lp)) != 0)
            return rc;
        g.task_id = lp.task_id;
    } else {
        g.task_id = pos[0];
    }
    if ((rc = cli_check_task_id(c, g.task_id)) != 0)
        return rc;
    if (out && r.npos > first)
        return cli_usage_error(c, "give DEST or -o DEST, not both");
    if (out) {
        g.dest = out;
    } else if (r.npos > first) {
        g.dest = pos[first];
    } else {
        /* The id comes from the user; it must not walk out of "." */
        ids_sanitize(g.task_id, safe, sizeof safe);
        snprintf(defdest, sizeof defdest, "./%s", safe);
        g.dest = defdest;
    }
    if (stat(g.dest, &st) == 0) {
        if (!S_ISDIR(st.st_mode) || dir_empty(g.dest) != 1)
            return cli_fail("%s exists and is not an empty directory; not overwriting it",
                            g.dest);
    } else if (errno != ENOENT) {
        return cli_fail("%s: %s", g.dest, strerror(errno));
    }
    if (file) {
        /* The master checks too; saying it here is clearer and cheaper. */
        const char *p = file;
        if (!*file || *file == '/')
            return cli_usage_error(c, "-path '%s' must be relative to the task's output", file);
        while (*p) {
            size_t n = strcspn(p, "/");
            if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                return cli_usage_error(c, "-path '%s' may not contain '.' or '..'", file);
            p += n;
            while (*p == '/')
                p++;
        }
        if (strlen(file) > 4096)
            return cli_usage_error(c, "-path is longer than 4096 bytes");
    }
    if ((rc = cli_connect(c)) != 0)
        return rc;
    proto_begin(&c->p.wb, PROTO_GET_FILE, 0);
    proto_put_str(&c->p.wb, T_TASK_ID, g.task_id);
    proto_put_str(&c->p.wb, T_FILE_NAME, file);
    /* Nothing is created until the master agrees to send something. */
    if ((rc = cli_request(c, &m)) != 0)
        goto out;
    if (mkdir(g.dest, 0755) == 0) {
        created = 1;
    } else if (errno != EEXIST || dir_empty(g.dest) != 1) {
        /* EEXIST: someone made it since the check; only an empty dir will do,
         * and since it is not ours, a failure must not delete what appears. */
        rc = cli_fail("cannot use %s: %s", g.dest,
                      errno == EEXIST ? "appeared meanwhile and is not empty" : strerror(errno));
        goto out;
    }
    g.raw = malloc(PROTO_CHUNK_MAX);
    extract_limits lim = {0, 0, 0};
    g.x = extract_new(g.dest, &lim, count_file, &g);
    if (!g.raw || !g.x || hash_sha256_init(&g.sha) < 0) {
        rc = cli_fail("out of memory");
        goto out;
    }
    g.sha_live = 1;
    cli_progress_init(&g.bar, stderr);
    rc = receive(&g, &m);
    cli_progress_end(&g.bar);
    if (rc == 0) {
        table_fmt_size(g.bytes, size, sizeof size);
        if (file)
            printf("Downloaded %llu file%s (%s) of task %s, %s, into %s\n",
                   (unsigned long long)g.files, g.files == 1 ? "" : "s", size, g.task_id, file,
                   g.dest);
        else
            printf("Downloaded %llu file%s (%s) of task %s into %s\n",
                   (unsigned long long)g.files, g.files == 1 ? "" : "s", size, g.task_id, g.dest);
        if (fflush(stdout) != 0)
            rc = cli_fail("writing output failed");
    }
out:
    if (g.sha_live)
        hash_sha256_free(&g.sha);
    if (g.x)
        extract_free(g.x);
    free(g.raw);
    if (rc != 0 && (created || g.x)) {
        remove_partial(g.dest, created);
        fprintf(stderr, "cloudai: removed the partial download in %s\n", g.dest);
    }
    cli_disconnect(c);
    return rc;
}
