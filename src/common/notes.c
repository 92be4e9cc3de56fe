/* notes.c — left-out entries as a task's notes (notes.h). */
#include "notes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_CUT 200

void notes_init(notes *n)
{
    memset(n, 0, sizeof *n);
}

void notes_free(notes *n)
{
    free(n->text);
    memset(n, 0, sizeof *n);
}

static int append(notes *n, const char *s, size_t len)
{
    char *t = realloc(n->text, n->len + len + 1);
    if (!t) return -ENOMEM;
    memcpy(t + n->len, s, len);
    n->len += len;
    t[n->len] = 0;
    n->text = t;
    return 0;
}

int notes_add(notes *n, const char *name, const char *reason)
{
    char item[NAME_CUT + 600];
    n->total++;
    if (n->named >= NOTES_NAMED)
        return 0;
    size_t nl = strlen(name);
    int cut = nl > NAME_CUT;
    if (cut) {
        nl = NAME_CUT;
        while (nl > 0 && ((unsigned char)name[nl] & 0xC0) == 0x80) nl--;
    }
    int k = snprintf(item, sizeof item, "%s'%.*s%s': %.500s", n->len ? "; " : "", (int)nl, name,
                     cut ? "..." : "", reason ? reason : "not stored");
    if (k < 0) return -EINVAL;
    if ((size_t)k >= sizeof item) k = (int)sizeof item - 1;
    if (append(n, item, (size_t)k) < 0) return -ENOMEM;
    n->named++;
    return 0;
}

int notes_add_text(notes *n, const char *text)
{
    if (!text || !text[0]) return 0;
    if (n->len && append(n, "; ", 2) < 0) return -ENOMEM;
    return append(n, text, strlen(text));
}

char *notes_render(const notes *n, size_t cap)
{
    char tail[64] = "";
    if (!n->len && !n->total) return NULL;
    if (cap == 0) cap = 4096;
    if (n->total > n->named)
        snprintf(tail, sizeof tail, "%sand %llu more", n->len ? "; " : "",
                 (unsigned long long)(n->total - n->named));
    size_t tl = strlen(tail), body = n->len;
    if (body + tl > cap) {
        /* Too long: cut the named part (at a character boundary, marked),
         * keep the count. */
        body = cap > tl + 4 ? cap - tl - 4 : 0;
        while (body > 0 && ((unsigned char)n->text[body] & 0xC0) == 0x80) body--;
    }
    char *out = malloc(body + tl + 5);
    if (!out) return NULL;
    if (body) memcpy(out, n->text, body);
    size_t k = body;
    if (body < n->len) { memcpy(out + k, "...", 3); k += 3; }
    memcpy(out + k, tail, tl + 1);
    return out;
}
