/* test_namecode.c — the encoding of non-UTF-8 names: valid UTF-8 is kept,
 * every other byte becomes U+F780-U+F7FF, the result is always valid
 * UTF-8 and decodes back to the raw bytes; over-long results are refused. */
#include "namecode.h"
#include "t.h"

#include <stdint.h>

static void roundtrip(const char *raw, const char *want)
{
    char enc[256], dec[256];
    long n = namecode_encode(raw, enc, sizeof enc);
    T_CHECK(n >= 0);
    if (want) T_EQ_STR(enc, want);
    T_CHECK(namecode_is_utf8(enc));
    T_EQ_INT(n, (long)strlen(enc));
    namecode_decode(enc, dec);
    T_EQ_STR(dec, raw);
}

static void test_encode(void)
{
    roundtrip("plain/name.txt", "plain/name.txt");
    roundtrip("caf\xc3\xa9 \xe2\x98\xba", "caf\xc3\xa9 \xe2\x98\xba");   /* UTF-8 kept */
    roundtrip("x\x80", "x\xef\x9e\x80");
    roundtrip("x\x81", "x\xef\x9e\x81");
    roundtrip("\xff", "\xef\x9f\xbf");
    roundtrip("latin1 caf\xe9", "latin1 caf\xef\x9f\xa9");
    /* invalid sequences: overlong, surrogate, truncated, above U+10FFFF */
    roundtrip("\xc0\xaf", "\xef\x9f\x80\xef\x9e\xaf");
    roundtrip("\xed\xa0\x80", "\xef\x9f\xad\xef\x9e\xa0\xef\x9e\x80");
    roundtrip("ab\xe2\x98", "ab\xef\x9f\xa2\xef\x9e\x98");
    roundtrip("\xf4\x90\x80\x80", NULL);
    roundtrip("ok\xc3\xa9\x80ok", "ok\xc3\xa9\xef\x9e\x80ok");
    T_CHECK(namecode_is_utf8("") && namecode_is_utf8("\xc3\xa9") && !namecode_is_utf8("\xc3"));
    T_CHECK(!namecode_is_utf8("\xed\xa0\x80") && !namecode_is_utf8("\xf8\x88\x80\x80\x80"));
    /* every single byte, and every byte after a lead byte, round trips */
    for (int a = 1; a < 256; a++)
        for (int b = 0; b < 256; b += 17) {
            char raw[4] = { (char)a, (char)b, 0, 0 }, enc[16], dec[16];
            T_CHECK(namecode_encode(raw, enc, sizeof enc) >= 0 && namecode_is_utf8(enc));
            namecode_decode(enc, dec);
            T_CHECK(!strcmp(dec, raw));
        }
    char small[4];
    T_EQ_INT(namecode_encode("x\x80", small, sizeof small), -1);
    T_EQ_STR(small, "");
    T_EQ_INT(namecode_encode("abc", small, sizeof small), 3);
    T_EQ_INT(namecode_encode("abcd", small, sizeof small), -1);
}

int main(void)
{
    T_RUN(test_encode);
    return T_DONE();
}
