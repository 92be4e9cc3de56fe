#!/bin/bash
# tests/integration/services.sh CMD... — starts what the tests need, runs
# CMD with it, then stops what it started. `make check` runs the suite
# through it; .ci/run does too (through make check).
#
# - Docker: when the engine answers, builds the local test image
#   (mkimage.sh, no registry); otherwise says the Docker tests will skip.
# - MongoDB protocol (FerretDB 1.24 on SQLite): an already-set
#   CLOUDAI_TEST_MONGO_URI is used as is; otherwise, when Go is installed,
#   FerretDB v1.24.2 is built once into $(go env GOPATH)/bin and started on
#   a free 127.0.0.1 port for the duration of CMD. Without Go the MongoDB
#   backend tests skip, and this says so.
# - S3 (SeaweedFS's S3 gateway): when Go is installed, `weed` is built
#   once into $(go env GOPATH)/bin (tests/integration/s3srv.sh build) and
#   one server is started on free 127.0.0.1 ports with a test bucket and
#   one identity; CLOUDAI_WEED names the binary (tests that stop or kill
#   the server start their own with it) and CLOUDAI_TEST_S3_ENV the file
#   with the endpoint, bucket and credentials. Without Go the object
#   store tests skip, and this says so.
# Every notice starts with "services:".
set -u
cd "$(dirname "$0")/../.." || exit 2

say() { echo "services: $*" >&2; }

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    if tests/integration/mkimage.sh; then
        say "Docker engine answers; test image cloudai-test:latest ready"
    else
        say "could not build the test image; Docker tests will skip"
    fi
else
    say "no Docker engine answers (docker info); Docker tests will skip or use the process runtime"
fi

FERRET_PID=""
FERRET_DIR=""
S3_DIR=""
cleanup() {
    if [ -n "$S3_DIR" ]; then
        tests/integration/s3srv.sh stop "$S3_DIR"
        rm -rf "$S3_DIR"
    fi
    if [ -n "$FERRET_PID" ]; then
        kill "$FERRET_PID" 2>/dev/null
        wait "$FERRET_PID" 2>/dev/null
    fi
    [ -n "$FERRET_DIR" ] && rm -rf "$FERRET_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# build_ferretdb GO — prints the binary's path, building it if needed.
build_ferretdb() {
    local go=$1 gobin fbin moddir src
    gobin=$("$go" env GOPATH)/bin
    fbin=$gobin/ferretdb-v1.24.2
    if [ ! -x "$fbin" ] || ! "$fbin" --version >/dev/null 2>&1; then
        # `go install` of v1.24.2 yields a binary that panics at start
        # ("Invalid build/version/version.txt": the module zip lacks that
        # file), so build from the module cache with the file written in.
        say "building FerretDB v1.24.2 (once)"
        "$go" mod download github.com/FerretDB/FerretDB@v1.24.2 >&2 || return 1
        moddir=$("$go" env GOMODCACHE)/github.com/!ferret!d!b/!ferret!d!b@v1.24.2
        [ -d "$moddir" ] || return 1
        src=$(mktemp -d)
        cp -r "$moddir/." "$src/" && chmod -R u+w "$src" &&
            echo v1.24.2 >"$src/build/version/version.txt" && mkdir -p "$gobin" &&
            (cd "$src" && "$go" build -o "$fbin" ./cmd/ferretdb) >&2
        rm -rf "$src"
    fi
    "$fbin" --version >/dev/null 2>&1 || return 1
    echo "$fbin"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -n "${CLOUDAI_TEST_MONGO_URI:-}" ]; then
    say "MongoDB tests use CLOUDAI_TEST_MONGO_URI as set"
else
    GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
    FBIN=${CLOUDAI_FERRETDB:-}
    if [ -z "$FBIN" ] && [ -x "$GO" ]; then
        FBIN=$(build_ferretdb "$GO") || FBIN=""
    fi
    if [ -z "$FBIN" ] || [ ! -x "$FBIN" ]; then
        say "no Go toolchain (or FerretDB did not build): MongoDB backend tests will skip"
    else
        export CLOUDAI_FERRETDB=$FBIN
        PORT=""
        for p in $(seq 27100 27199); do
            if port_free "$p"; then PORT=$p; break; fi
        done
        FERRET_DIR=$(mktemp -d /tmp/cloudai-ferret.XXXXXX)
        mkdir -p "$FERRET_DIR/db"
        DO_NOT_TRACK=1 "$FBIN" --handler=sqlite --sqlite-url="file:$FERRET_DIR/db/" \
            --listen-addr=127.0.0.1:$PORT --state-dir=- --debug-addr=- --telemetry=disable \
            --log-level=warn >"$FERRET_DIR/ferretdb.log" 2>&1 &
        FERRET_PID=$!
        up=0
        for _ in $(seq 1 100); do
            if ! port_free "$PORT"; then up=1; break; fi
            kill -0 "$FERRET_PID" 2>/dev/null || break
            sleep 0.2
        done
        if [ "$up" = 1 ]; then
            export CLOUDAI_TEST_MONGO_URI="mongodb://127.0.0.1:$PORT/?serverSelectionTimeoutMS=3000&connectTimeoutMS=3000&directConnection=true"
            say "FerretDB on 127.0.0.1:$PORT for the MongoDB backend tests"
        else
            say "FerretDB did not start: MongoDB backend tests will skip"
            tail -5 "$FERRET_DIR/ferretdb.log" >&2
        fi
    fi
fi

if [ -n "${CLOUDAI_TEST_S3_ENV:-}" ]; then
    say "S3 tests use CLOUDAI_TEST_S3_ENV as set"
else
    GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
    WBIN=${CLOUDAI_WEED:-}
    if [ -z "$WBIN" ] && [ -x "$GO" ]; then
        WBIN=$(GO=$GO tests/integration/s3srv.sh build) || WBIN=""
    fi
    if [ -z "$WBIN" ] || [ ! -x "$WBIN" ]; then
        say "no Go toolchain (or SeaweedFS did not build): object store (S3) tests will skip"
    else
        export CLOUDAI_WEED=$WBIN
        S3_DIR=$(mktemp -d /tmp/cloudai-s3.XXXXXX)
        if tests/integration/s3srv.sh start "$S3_DIR" "$WBIN"; then
            export CLOUDAI_TEST_S3_ENV=$S3_DIR/env
            say "SeaweedFS S3 gateway on $(sed -n 's/^S3_ENDPOINT=//p' "$S3_DIR/env"), bucket cloudai-test"
        else
            say "SeaweedFS did not start: S3 tests start their own or skip"
            tail -5 "$S3_DIR/weed.log" >&2
        fi
    fi
fi

"$@"
