/* logdemux.c — the Docker log stream demultiplexer (format in logdemux.h).
 * A two-state machine: gathering header bytes, then passing payload bytes
 * straight through to the sink. A frame's size only counts down; it is
 * never used to allocate, so a hostile 4 GiB size costs nothing. */
#include "worker/logdemux.h"

#include <string.h>

void logdemux_init(logdemux *d, logdemux_sink sink, void *ud)
{
    memset(d, 0, sizeof *d);
    d->sink = sink;
    d->ud = ud;
}

/* Validates a complete header and starts its frame. The padding bytes must
 * be zero: anything else means we are not looking at a multiplexed stream
 * (a TTY container, or corruption) and guessing would scramble the log. */
static int start_frame(logdemux *d)
{
    const uint8_t *h = d->hdr;
    if (h[0] > 2 || h[1] || h[2] || h[3])
        return LOGDEMUX_E_FORMAT;
    d->stream = h[0] == 2 ? LOGDEMUX_STDERR : LOGDEMUX_STDOUT;
    d->remaining = (uint64_t)h[4] << 24 | (uint64_t)h[5] << 16 |
                   (uint64_t)h[6] << 8 | (uint64_t)h[7];
    d->hdr_len = 0;
    d->frames++;
    return 0;
}

int logdemux_feed(logdemux *d, const void *data, size_t len)
{
    const uint8_t *p = data;
    int rc = d->err;
    if (rc)
        goto out;
    while (len > 0) {
        if (d->remaining == 0) {
            size_t take = sizeof d->hdr - d->hdr_len;
            if (take > len)
                take = len;
            memcpy(d->hdr + d->hdr_len, p, take);
            d->hdr_len += take;
            p += take;
            len -= take;
            if (d->hdr_len < sizeof d->hdr)
                break;
            if ((rc = start_frame(d)) != 0)
                goto out;
            continue;
        }
        size_t take = len;
        if ((uint64_t)take > d->remaining)
            take = (size_t)d->remaining;
        if (d->sink && d->sink(d->ud, d->stream, p, take) != 0) {
            rc = LOGDEMUX_E_SINK;
            goto out;
        }
        d->remaining -= take;
        d->bytes += take;
        p += take;
        len -= take;
    }
out:
    d->err = rc;
    return rc;
}

int logdemux_finish(logdemux *d)
{
    if (d->err)
        return d->err;
    if (d->hdr_len || d->remaining)
        return LOGDEMUX_E_TRUNCATED;
    return 0;
}
