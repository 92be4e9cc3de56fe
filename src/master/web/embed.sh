#!/bin/sh
# embed.sh OUT FILE... — writes a C include file with each FILE as a
# byte array and a table { name, type, data, len }, for http_web.c. Only
# POSIX sh and od: no xxd, no build-time dependencies, and the output
# depends on nothing but the files' bytes and order (reproducible).
set -eu
out=$1; shift
tmp=$out.tmp
: > "$tmp"
i=0
for f in "$@"; do
    printf 'static const unsigned char web_%d[] = {\n' "$i" >> "$tmp"
    od -An -v -tu1 "$f" | sed -e 's/  */ /g' -e 's/^ //' -e 's/ $//' -e '/^$/d' -e 's/ /,/g' -e 's/$/,/' >> "$tmp"
    printf '0};\n' >> "$tmp"
    i=$((i + 1))
done
printf 'static const struct web_asset web_assets[] = {\n' >> "$tmp"
i=0
for f in "$@"; do
    name=$(basename "$f")
    case $name in
        *.html) type='text/html; charset=utf-8' ;;
        *.js) type='text/javascript; charset=utf-8' ;;
        *.css) type='text/css; charset=utf-8' ;;
        *) type='application/octet-stream' ;;
    esac
    printf '    {"/%s", "%s", web_%d, sizeof web_%d - 1},\n' "$name" "$type" "$i" "$i" >> "$tmp"
    i=$((i + 1))
done
printf '};\n' >> "$tmp"
mv "$tmp" "$out"
