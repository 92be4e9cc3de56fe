/* namecode.h — the one reversible encoding of file names that are not
 * UTF-8, used on disk and in the index (both metadata backends need valid
 * UTF-8: BSON strings, JSON, the wire's strings).
 *
 * A name that is valid UTF-8 (RFC 3629: no overlong forms, surrogates or
 * code points above U+10FFFF) is kept as it is. In any other name, each
 * byte 0x80-0xFF that does not belong to a valid sequence becomes the
 * private-use character U+F700 + byte (U+F780-U+F7FF, 3 bytes in UTF-8:
 * EF 9E 80 - EF 9F BF); valid sequences are kept. Decoding maps those
 * characters back. Two different names can only meet after encoding if one
 * of them holds U+F780-U+F7FF literally; extraction detects that and keeps
 * the first (extract.c). Pure functions, thread-safe. */
#ifndef CLOUDAI_NAMECODE_H
#define CLOUDAI_NAMECODE_H
#include <stddef.h>

/* 1 if the NUL-terminated s is valid UTF-8 (then it is its own encoding). */
int namecode_is_utf8(const char *s);
/* Encodes s into out (cap bytes with the NUL); returns the encoded length,
 * or -1 if it does not fit (out is then an empty string). */
long namecode_encode(const char *s, char *out, size_t cap);
/* The inverse, in place-safe (out may be s: decoding never grows). */
void namecode_decode(const char *s, char *out);
#endif
