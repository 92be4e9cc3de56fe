/* err.c — names of the one error space (err.h). */
#include "err.h"

#include <errno.h>
#include <string.h>

#include "proto.h"

int cai_band(int rc)
{
    if (rc == 0) return 0;
    if (cai_is_errno(rc)) return -1;
    if (rc > 0 || -rc % CAI_BAND_WIDTH == 0) return 0;     /* a base is no code */
    int base = -((-rc - 1) / CAI_BAND_WIDTH) * CAI_BAND_WIDTH;   /* -4101 -> -4100 */
    if (base > PROTO_E_BASE || base < CAI_BAND_LOWEST) return 0;
    return base;
}

int cai_wire_code(int rc)
{
    if (rc == 0) return 0;
    if (cai_band(rc) == CAI_E_WIRE_BASE) return CAI_E_WIRE_BASE - rc;
    return PROTO_ERR_INTERNAL;
}

const char *cai_strerror(int rc)
{
    switch (rc) {
    case 0: return "ok";
#define CAI_ERR_CASE_(name, value, text) case name: return text;
    CAI_ERROR_TABLE(CAI_ERR_CASE_)
#undef CAI_ERR_CASE_
    /* A peer that went away, as a user reads it ("Broken pipe" is not). */
    case -EPIPE: return "connection closed";
    default: break;
    }
    /* glibc's strerror returns constant strings for known values. */
    if (cai_is_errno(rc)) return strerror(-rc);
    if (cai_band(rc) == CAI_E_WIRE_BASE) {
        const char *n = proto_err_name((uint64_t)(CAI_E_WIRE_BASE - rc));
        return n && *n ? n : "wire error";
    }
    return "unknown error";
}
