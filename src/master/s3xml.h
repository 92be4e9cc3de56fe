/* s3xml.h — the few things the S3 client reads from S3's XML replies:
 * an error's <Code> and <Message>, CreateMultipartUpload's <UploadId>,
 * ListObjectsV2's <Contents> (<Key>, <Size>), <IsTruncated> and
 * <NextContinuationToken>. Not an XML parser: a bounded scan for
 * <Name>text</Name> pairs (no nesting through them, no attributes on the
 * tags we read, entities &amp; &lt; &gt; &quot; &apos; &#N; &#xN; decoded).
 * Input is untrusted bytes of any length, never NUL-terminated; outputs
 * are always NUL-terminated and truncated to their capacity. Pure
 * functions, thread-safe. */
#ifndef CLOUDAI_S3XML_H
#define CLOUDAI_S3XML_H
#include <stddef.h>
#include <stdint.h>

/* Finds the next <tag>text</tag> at or after *pos, before end. On success
 * the decoded text is in out (cap bytes, NUL-terminated, truncated with
 * *truncated = 1 when it did not fit), *pos moves past the closing tag,
 * and 1 is returned; 0 when there is none; -1 when the text holds a bad
 * entity or a '<' (a nested element). */
int s3xml_next(const char *xml, size_t len, size_t *pos, const char *tag, char *out, size_t cap,
               int *truncated);

/* Error body: Code and Message (either may come back ""). 0 if a <Code>
 * was found, else -1. */
int s3xml_error(const char *xml, size_t len, char *code, size_t codecap, char *msg, size_t msgcap);

/* One <Contents> entry of a listing at or after *pos: key and size; 1
 * found, 0 no more, -1 malformed (a Contents without Key, a bad Size). */
int s3xml_list_next(const char *xml, size_t len, size_t *pos, char *key, size_t keycap,
                    uint64_t *size);
#endif
