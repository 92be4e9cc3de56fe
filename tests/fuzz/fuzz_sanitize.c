/* fuzz_sanitize.c — ids_sanitize's promise as a property: the result is a
 * non-empty, safe path component of at most IDS_NAME_MAX bytes: valid
 * UTF-8 whose ASCII bytes are [A-Za-z0-9._-], not "." or "..", not starting
 * with '.', and a fixed point (sanitising it again reports no change).
 * abort() if any of that fails. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "namecode.h"

static int fuzz_sanitize_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > IDS_NAME_MAX || s[0] == '.')
        return 0;
    if (!strcmp(s, ".") || !strcmp(s, ".."))
        return 0;
    if (!namecode_is_utf8(s))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if ((unsigned char)ch >= 0x80)
            continue;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[IDS_NAME_MAX + 1], again[IDS_NAME_MAX + 1], big[IDS_NAME_MAX + 40];
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';                    /* bytes after an embedded NUL are ignored */
    int changed = ids_sanitize(in, out, sizeof out);
    if (!fuzz_sanitize_ok(out))
        abort();
    if (changed != (strcmp(in, out) != 0))
        abort();
    if (ids_sanitize(out, again, sizeof again) != 0 || strcmp(out, again) != 0)
        abort();
    /* A larger buffer must not let the name grow past IDS_NAME_MAX. */
    ids_sanitize(in, big, sizeof big);
    if (!fuzz_sanitize_ok(big) || strcmp(big, out) != 0)
        abort();
    /* Auto names built on the same bytes are safe components too. */
    ids_auto_name(in, 1764340000000ull, big, sizeof big);
    if (!fuzz_sanitize_ok(big))
        abort();
    free(in);
    return 0;
}
