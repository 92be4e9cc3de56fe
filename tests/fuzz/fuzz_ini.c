/* fuzz_ini.c — config_parse on raw bytes: any input must either parse or
 * fail with a file:line message, never crash or read past size. The text is
 * copied into an exact-size buffer so ASan sees any overread. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static void fuzz_ini_warn(const char *msg)
{
    (void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    config c;
    char err[256];
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    if (size)
        memcpy(text, data, size);
    config_defaults(&c);
    err[0] = '\0';
    if (config_parse(&c, text, size, "fuzz.ini", fuzz_ini_warn, err, sizeof err) < 0 &&
        strncmp(err, "fuzz.ini:", 9) != 0)
        abort();                        /* every error names file:line */
    if (c.nusers < 0 || c.nusers > CONFIG_USERS_MAX)
        abort();
    free(text);
    return 0;
}
