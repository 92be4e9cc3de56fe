/* test_err.c — the one error space (err.h): every module band lies below
 * the negated errnos and apart from every other band, each code of the
 * table sits in its own module's band, cai_strerror names every code
 * with a distinct non-empty text, and the wire band round-trips. */
#include <errno.h>

#include "err.h"
#include "proto.h"
#include "t.h"

static const struct { int code; const char *name; } table[] = {
#define ROW_(name, value, text) { name, #name },
    CAI_ERROR_TABLE(ROW_)
#undef ROW_
};
#define N (sizeof table / sizeof table[0])

static const struct { const char *prefix; int base; } bands[] = {
    { "PROTO_E_", PROTO_E_BASE }, { "TAR_E_", TAR_E_BASE }, { "CHUNK_E_", CHUNK_E_BASE },
    { "ZCHUNK_E_", ZCHUNK_E_BASE }, { "META_E_", META_E_BASE },
    { "RETENTION_E_", RETENTION_E_BASE }, { "CATALOG_E_", CATALOG_E_BASE },
    { "LOGDEMUX_E_", LOGDEMUX_E_BASE }, { "RT_E_", RT_E_BASE }, { "ARGS_E_", ARGS_E_BASE },
    { "CAI_E_WIRE", CAI_E_WIRE_BASE }, { "INSTORE_E_", INSTORE_E_BASE }, { "S3_E_", S3_E_BASE },
};
#define NB (sizeof bands / sizeof bands[0])

static void test_bands_disjoint(void)
{
    for (size_t i = 0; i < NB; i++) {
        int hi = bands[i].base - 1, lo = bands[i].base - (CAI_BAND_WIDTH - 1);
        T_CHECK(hi < -CAI_ERRNO_MAX);                       /* below every -errno */
        for (size_t j = 0; j < NB; j++) {
            if (i == j) continue;
            int hj = bands[j].base - 1, lj = bands[j].base - (CAI_BAND_WIDTH - 1);
            T_CHECK(hi < lj || lo > hj);                    /* no overlap */
        }
        T_EQ_INT(cai_band(hi), bands[i].base);
        T_EQ_INT(cai_band(lo), bands[i].base);
    }
    for (int e = 1; e <= CAI_ERRNO_MAX; e++)
        if (cai_band(-e) != -1 || !cai_is_errno(-e)) { T_CHECK(!"errno outside its band"); break; }
    T_EQ_INT(cai_band(0), 0);
    T_EQ_INT(cai_band(-4096), 0);
    T_EQ_INT(cai_band(CAI_BAND_LOWEST - CAI_BAND_WIDTH), 0);
    T_EQ_INT(cai_band(CAI_BAND_LOWEST - 1), CAI_BAND_LOWEST);
}

static void test_codes_in_their_band(void)
{
    for (size_t i = 0; i < N; i++) {
        int found = 0;
        for (size_t b = 0; b < NB; b++)
            if (!strncmp(table[i].name, bands[b].prefix, strlen(bands[b].prefix))) {
                found = 1;
                if (cai_band(table[i].code) != bands[b].base)
                    printf("#   %s = %d is outside its band %d\n", table[i].name, table[i].code,
                           bands[b].base);
                T_EQ_INT(cai_band(table[i].code), bands[b].base);
            }
        T_CHECK(found);
        T_CHECK(!cai_is_errno(table[i].code));
        for (size_t j = i + 1; j < N; j++) T_CHECK(table[i].code != table[j].code);
    }
    /* The metadata store's parts share its codes; the rest stays apart. */
    T_EQ_INT(JOURNAL_E_IO, META_E_IO);
    T_EQ_INT(METADOC_E_CORRUPT, META_E_CORRUPT);
    T_CHECK(TAR_E_IO != -EIO && CHUNK_E_CRC != -ESRCH && META_E_IO != -ENOENT);
    T_CHECK(proto_rc_is_codec(PROTO_E_STRLEN) && !proto_rc_is_codec(-EIO));
}

static void test_strerror(void)
{
    T_EQ_STR(cai_strerror(0), "ok");
    for (size_t i = 0; i < N; i++) {
        const char *s = cai_strerror(table[i].code);
        T_CHECK(s && *s && strcmp(s, "unknown error"));
        for (size_t j = i + 1; j < N; j++)
            if (!strcmp(s, cai_strerror(table[j].code))) {
                printf("#   %s and %s share \"%s\"\n", table[i].name, table[j].name, s);
                T_CHECK(0);
            }
        for (int e = 1; e < 200; e++) T_CHECK(strcmp(s, cai_strerror(-e)));
    }
    T_EQ_STR(cai_strerror(-EIO), strerror(EIO));
    T_EQ_STR(cai_strerror(-EPIPE), "connection closed");
    T_CHECK(strcmp(cai_strerror(-EIO), cai_strerror(PROTO_E_STRLEN)) != 0);
    T_EQ_STR(cai_strerror(-12345), "unknown error");
    T_EQ_STR(cai_strerror(CAI_E_WIRE(PROTO_ERR_NOT_FOUND)), proto_err_name(PROTO_ERR_NOT_FOUND));
}

static void test_wire(void)
{
    for (int x = 1; x <= PROTO_ERR_ARCHIVE; x++) {
        T_EQ_INT(cai_band(CAI_E_WIRE(x)), CAI_E_WIRE_BASE);
        T_EQ_INT(cai_wire_code(CAI_E_WIRE(x)), x);
    }
    T_EQ_INT(cai_wire_code(0), 0);
    T_EQ_INT(cai_wire_code(-EIO), PROTO_ERR_INTERNAL);
    T_EQ_INT(cai_wire_code(META_E_IO), PROTO_ERR_INTERNAL);
}

int main(void)
{
    T_RUN(test_bands_disjoint);
    T_RUN(test_codes_in_their_band);
    T_RUN(test_strerror);
    T_RUN(test_wire);
    return T_DONE();
}
