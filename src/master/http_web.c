/* http_web.c — the web file browser's static files (src/master/web/),
 * compiled into the master by src/master/web/embed.sh (run by the
 * Makefile) so the binary serves them wherever it is installed, with no
 * files to find at run time and no build tools beyond sh and od. */
#include <string.h>
#include "http_int.h"

struct web_asset {
    const char *path, *type;
    const unsigned char *data;
    size_t len;
};

#if defined(__has_include)
#if __has_include("web_assets.inc")
#include "web_assets.inc"
#define HAVE_WEB 1
#endif
#endif
#ifndef HAVE_WEB
/* Built without the generated file (e.g. the fuzz build): API only. */
static const unsigned char web_none[] = "<!doctype html><p>web assets not built</p>";
static const struct web_asset web_assets[] = {
    {"/index.html", "text/html; charset=utf-8", web_none, sizeof web_none - 1},
};
#endif

/* The page loads only its own script and style; fetches only the API;
 * previews are srcdoc frames that inherit this policy and are sandboxed
 * (no scripts) on top of it. */
#define PAGE_CSP "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " \
    "img-src 'self' data:; connect-src 'self'; frame-src 'self'; base-uri 'none'; " \
    "form-action 'none'; frame-ancestors 'none'"

enum MHD_Result http_web(http_req *r)
{
    const char *p = !strcmp(r->path, "/") ? "/index.html" : r->path;
    for (size_t i = 0; i < sizeof web_assets / sizeof web_assets[0]; i++) {
        if (strcmp(web_assets[i].path, p)) continue;
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            web_assets[i].len, (void *)web_assets[i].data, MHD_RESPMEM_PERSISTENT);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", web_assets[i].type);
        MHD_add_response_header(resp, "Content-Security-Policy", PAGE_CSP);
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        return http_queue(r, MHD_HTTP_OK, resp);
    }
    return http_error(r, MHD_HTTP_NOT_FOUND, "no such page: %s", r->path);
}
