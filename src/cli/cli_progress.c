/* cli_progress.c — the progress line of `get` (cli_progress.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli_progress.h"
#include "ids.h"
#include "table.h"

#define REDRAW_MS 100

void cli_progress_init(cli_progress *p, FILE *out)
{
    const char *force = getenv("CLOUDAI_PROGRESS");
    int on = out && isatty(fileno(out));
    memset(p, 0, sizeof *p);
    if (force && *force)
        on = out && strcmp(force, "0") != 0;
    p->out = on ? out : NULL;
    p->start_ms = p->last_ms = ids_now_ms();
}

void cli_progress_total(cli_progress *p, uint64_t total)
{
    p->total = total;
}

/* "1h02m", "3m05s", "7s": short enough to fit beside the figures. */
static void fmt_secs(uint64_t s, char *out, size_t cap)
{
    if (s >= 3600)
        snprintf(out, cap, "%lluh%02llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s % 3600 / 60));
    else if (s >= 60)
        snprintf(out, cap, "%llum%02llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else
        snprintf(out, cap, "%llus", (unsigned long long)s);
}

void cli_progress_format(uint64_t done, uint64_t total, uint64_t elapsed_ms, char *out,
                         size_t cap)
{
    char d[32], t[32], r[32], eta[32] = "";
    /* Bytes per second from the whole run so far: steadier than the last
     * chunk's, and there is no sample to go wrong at the start. */
    uint64_t rate = elapsed_ms ? (uint64_t)((double)done * 1000.0 / (double)elapsed_ms) : 0;
    table_fmt_size(done, d, sizeof d);
    table_fmt_size(rate, r, sizeof r);
    if (total && done <= total) {
        table_fmt_size(total, t, sizeof t);
        if (rate) {
            char s[24];
            fmt_secs((total - done + rate - 1) / rate, s, sizeof s);
            snprintf(eta, sizeof eta, "  ETA %s", s);
        } else {
            snprintf(eta, sizeof eta, "  ETA -");
        }
        snprintf(out, cap, "%s / %s  %3u%%  %s/s%s", d, t,
                 (unsigned)(total ? done * 100 / total : 100), r, eta);
    } else {
        snprintf(out, cap, "%s  %s/s", d, r);
    }
}

static void draw(cli_progress *p, uint64_t now)
{
    char line[160];
    size_t n;
    cli_progress_format(p->done, p->total, now - p->start_ms, line, sizeof line);
    n = strlen(line);
    /* Pad over the previous line: it may have been longer. */
    fprintf(p->out, "\r%s%*s", line, p->width > n ? (int)(p->width - n) : 0, "");
    fflush(p->out);
    p->width = n;
    p->last_ms = now;
}

void cli_progress_add(cli_progress *p, uint64_t n)
{
    uint64_t now;
    p->done += n;
    if (!p->out)
        return;
    now = ids_now_ms();
    if (now - p->last_ms >= REDRAW_MS || (p->total && p->done >= p->total))
        draw(p, now);
}

void cli_progress_end(cli_progress *p)
{
    if (!p->out || !p->width)
        return;
    fprintf(p->out, "\r%*s\r", (int)p->width, "");
    fflush(p->out);
    p->width = 0;
}
