#!/bin/sh
# mkimage.sh — builds the local test image cloudai-test:latest (busybox on
# an empty rootfs) with `docker import`. No registry is reachable from the
# test machines, so nothing is ever pulled. Idempotent: does nothing when
# the image already exists. Needs Debian's busybox-static (/bin/busybox).
# Usage: tests/integration/mkimage.sh [image]   (default cloudai-test:latest)
set -eu
IMAGE=${1:-cloudai-test:latest}
BUSYBOX=${BUSYBOX:-/bin/busybox}

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
    echo "mkimage.sh: no Docker engine answers: nothing to build (the worker uses the process runtime)" >&2
    exit 1
fi

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    exit 0
fi
if [ ! -x "$BUSYBOX" ]; then
    echo "mkimage.sh: $BUSYBOX not found; install it with: apt-get install busybox-static" >&2
    exit 1
fi
# A dynamically linked busybox would need its libraries in the image.
if command -v file >/dev/null 2>&1 && ! file -L "$BUSYBOX" | grep -q 'statically linked'; then
    echo "mkimage.sh: $BUSYBOX is not statically linked (want busybox-static)" >&2
    exit 1
fi

tmp=$(mktemp -d /tmp/cloudai-mkimage.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
root=$tmp/rootfs
mkdir -p "$root/bin" "$root/output" "$root/tmp" "$root/etc" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
chmod 0777 "$root/output"
cp "$BUSYBOX" "$root/bin/busybox"
for app in $("$BUSYBOX" --list); do
    [ "$app" = busybox ] || ln -s busybox "$root/bin/$app"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"

tar -C "$root" -c . | docker import \
    -c 'ENV PATH=/bin' \
    -c 'CMD ["/bin/sh", "-c", "echo cloudai-test default"]' \
    - "$IMAGE" >/dev/null
docker image inspect "$IMAGE" >/dev/null
