#!/bin/sh
# scripts/deps.sh — the one list of Debian 12 packages CloudAI needs.
# `make` runs `deps.sh build` before compiling anything, `make deps` and
# .ci/run run `deps.sh install`, so the list lives here and nowhere else.
#
#   deps.sh build    prints the packages missing to build (`make`); empty = none
#   deps.sh test     prints the packages missing to test (`make check`, `make fuzz`)
#   deps.sh all      both
#   deps.sh install  apt-get installs everything missing (as root, else through sudo)
#
# Libraries are checked with pkg-config, one module at a time, so the message
# names the package that is really missing (not the header that failed last).
set -u

# pkg-config module : Debian package that provides it
BUILD_LIBS="libbson-1.0:libbson-dev libmongoc-1.0:libmongoc-dev zlib:zlib1g-dev
libcurl:libcurl4-openssl-dev libcrypto:libssl-dev libssl:libssl-dev
libmicrohttpd:libmicrohttpd-dev"
# command : Debian package
BUILD_TOOLS="cc:build-essential make:make pkg-config:pkg-config"
# What the tests, fuzzing and benchmarks use (dpkg names). Docker's engine
# comes from docker.io unless a `docker` command is already there.
TEST_PKGS="busybox-static libarchive-tools iproute2 procps ca-certificates curl unzip openssl tcpdump
chromium fonts-dejavu-core clang libclang-rt-14-dev rsync netcat-openbsd man-db systemd python3"

missing_build() {
    out=""
    for t in $BUILD_TOOLS; do
        command -v "${t%%:*}" >/dev/null 2>&1 || out="$out ${t#*:}"
    done
    for m in $BUILD_LIBS; do
        if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists "${m%%:*}"; then
            case " $out " in *" ${m#*:} "*) ;; *) out="$out ${m#*:}" ;; esac
        fi
    done
    echo $out
}

missing_test() {
    out=""
    for p in $TEST_PKGS; do
        dpkg -s "$p" >/dev/null 2>&1 || out="$out $p"
    done
    command -v docker >/dev/null 2>&1 || out="$out docker.io"
    echo $out
}

case ${1:-all} in
build) missing_build ;;
test) missing_test ;;
all) echo $(missing_build) $(missing_test) ;;
install)
    need=$(echo $(missing_build) $(missing_test))
    if [ -z "$need" ]; then
        echo "deps: everything is installed"
        exit 0
    fi
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "deps: run as root: apt-get install -y $need" >&2; exit 1; }
        SUDO=sudo
    fi
    echo "deps: installing $need"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq || exit 1
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $need || exit 1
    left=$(missing_build)
    [ -z "$left" ] || { echo "deps: still missing after install: $left" >&2; exit 1; }
    ;;
*) echo "usage: deps.sh build|test|all|install" >&2; exit 2 ;;
esac
