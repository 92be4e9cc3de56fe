/* replay.c — runs a libFuzzer entry point over corpus files under plain gcc,
 * so `make check` exercises every fuzz target without clang. Usage:
 * replay_<target> FILE|DIR... ; prints one ok/not ok line for the run. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) { printf("#   cannot open %s\n", path); return -1; }
    uint8_t *buf = NULL; size_t len = 0, cap = 0; int rc = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) { rc = -1; goto out; }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        if (n == 0) break;
        len += n;
    }
    LLVMFuzzerTestOneInput(buf ? buf : (const uint8_t *)"", len);
out:
    free(buf);
    fclose(f);
    return rc;
}

static int replay_path(const char *path, int *count)
{
    struct stat st;
    if (stat(path, &st) < 0) { printf("#   missing %s\n", path); return -1; }
    if (!S_ISDIR(st.st_mode)) { (*count)++; return replay_file(path); }
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e; int rc = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (replay_path(sub, count) < 0) rc = -1;
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    int count = 0, rc = 0;
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i], &count) < 0) rc = -1;
    const char *name = strrchr(argv[0], '/');
    name = name ? name + 1 : argv[0];
    if (rc == 0 && count > 0) printf("ok - %s: %d corpus inputs\n", name, count);
    else printf("not ok - %s: %d inputs, rc %d\n", name, count, rc);
    return rc == 0 && count > 0 ? 0 : 1;
}
