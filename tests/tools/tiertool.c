/* tiertool.c — runs the master's tiering sweep (src/master/tier.c) on a
 * stopped master's data, with the clock moved forward, for tests:
 *   tiertool CONFIG FILES_DIR META_DIR DAYS_AHEAD
 * Prints "moved N" (exit 0) or "tiertool: why" (exit 1); 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "ids.h"
#include "master/meta.h"
#include "master/objstore.h"
#include "master/tier.h"

int main(int argc, char **argv)
{
    config cfg;
    char err[1024];
    uint64_t dropped = 0;
    if (argc != 5) {
        fprintf(stderr, "usage: tiertool CONFIG FILES_DIR META_DIR DAYS_AHEAD\n");
        return 2;
    }
    config_defaults(&cfg);
    if (config_load(&cfg, argv[1], NULL, err, sizeof err) < 0) {
        fprintf(stderr, "tiertool: %s\n", err);
        return 2;
    }
    snprintf(cfg.files_dir, sizeof cfg.files_dir, "%s", argv[2]);
    meta *m = meta_open_journal(argv[3], 0, &dropped, err, sizeof err);
    if (!m) {
        fprintf(stderr, "tiertool: %s\n", err);
        return 1;
    }
    /* As the master: a store that does not answer yet is no reason not
     * to start (the sweep then says what failed); a wrong config is. */
    int rc = objstore_open(&cfg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "tiertool: object store: %s\n", err);
    if (rc < 0) {
        meta_close(m);
        return 1;
    }
    uint64_t now = ids_now_ms() + (uint64_t)atoll(argv[4]) * 86400000ull;
    int n = tier_sweep(&cfg, m, now, err, sizeof err);
    if (err[0]) fprintf(stderr, "tiertool: %s\n", err);
    if (n >= 0) printf("moved %d\n", n);
    objstore_close();
    meta_close(m);
    return n < 0 || err[0] ? 1 : 0;
}
