/* resources.c — what this machine offers: CPUs, memory, free disk under
 * the outputs directory, NVIDIA GPUs (through nvidia-smi when present). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "fsutil.h"
#include "worker.h"

static int64_t count_gpus(void)
{
    /* nvidia-smi -L prints one "GPU n: ..." line per device. */
    if (access("/usr/bin/nvidia-smi", X_OK) != 0 && access("/usr/local/bin/nvidia-smi", X_OK) != 0)
        return 0;
    FILE *p = popen("nvidia-smi -L 2>/dev/null", "r");
    if (!p) return 0;
    char line[512];
    int64_t n = 0;
    while (fgets(line, sizeof line, p))
        if (!strncmp(line, "GPU ", 4)) n++;
    pclose(p);
    return n;
}

void worker_detect_resources(config *cfg)
{
    if (cfg->cpu <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->cpu = n > 0 ? (double)n : 1;
    }
    if (cfg->memory == 0) {
        long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
        cfg->memory = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : (1ull << 30);
    }
    if (cfg->storage == 0) {
        uint64_t free_bytes = 0;
        fsutil_mkdir_p(cfg->outputs_dir, 0755);
        cfg->storage = fsutil_free_bytes(cfg->outputs_dir, &free_bytes) == 0 ? free_bytes : (10ull << 30);
    }
    if (cfg->gpu < 0)
        cfg->gpu = count_gpus();
}
