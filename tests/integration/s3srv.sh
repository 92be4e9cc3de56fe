#!/bin/bash
# tests/integration/s3srv.sh — a real S3 server for the tests: SeaweedFS
# (`weed`, built once from the Go module proxy like FerretDB, see
# services.sh) with its S3 gateway on 127.0.0.1 only.
#
#   s3srv.sh build            prints the weed binary's path (builds it once)
#   s3srv.sh start DIR [BIN]  starts one server with its data in DIR, one
#                             identity (access key / secret written in
#                             DIR/env) and bucket "cloudai-test"; DIR/env
#                             holds S3_ENDPOINT S3_BUCKET AWS_ACCESS_KEY_ID
#                             AWS_SECRET_ACCESS_KEY S3_PID S3_PORTS
#   s3srv.sh restart DIR      starts it again on the same ports and data
#                             (after a test killed it)
#   s3srv.sh stop DIR         stops it (TERM, bounded wait, KILL)
# Notices go to stderr and start with "s3srv:".
set -u
cd "$(dirname "$0")/../.." || exit 2

WEED_MOD=github.com/seaweedfs/seaweedfs
WEED_VER=v0.0.0-20261109003541-7506e5f91cd6
say() { echo "s3srv: $*" >&2; }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

build() {
    local go gobin bin info dir src
    go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
    [ -x "$go" ] || return 1
    gobin=$("$go" env GOPATH)/bin
    bin=$gobin/weed-${WEED_VER##*-}
    if [ ! -x "$bin" ] || ! "$bin" version >/dev/null 2>&1; then
        # `go install MODULE/weed@VERSION` is refused (its go.mod has
        # replace directives): build inside a writable copy of the module.
        say "building SeaweedFS $WEED_VER (once, a few minutes)"
        info=$("$go" mod download -json "$WEED_MOD@$WEED_VER") || return 1
        dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
        [ -d "$dir" ] || return 1
        src=$(mktemp -d)
        cp -r "$dir/." "$src/" && chmod -R u+w "$src" && mkdir -p "$gobin" &&
            (cd "$src" && "$go" build -o "$bin.tmp" ./weed) >&2 && mv "$bin.tmp" "$bin"
        rm -rf "$src" "$bin.tmp"
    fi
    "$bin" version >/dev/null 2>&1 || return 1
    echo "$bin"
}

# Four ports whose gRPC companions (+10000) are free too; $1 shifts the
# first place looked at (a retry after a port was taken meanwhile).
pick_ports() {
    local base p ok
    for base in $(seq $((20000 + (($$ + ${1:-0} * 137) % 500) * 10)) 10 29990); do
        ok=1
        for p in $base $((base + 1)) $((base + 2)) $((base + 3)); do
            port_free "$p" && port_free $((p + 10000)) || { ok=0; break; }
        done
        [ $ok = 1 ] && { echo "$base $((base + 1)) $((base + 2)) $((base + 3))"; return 0; }
    done
    return 1
}

launch() { # DIR BIN PORTS...
    local dir=$1 bin=$2 pm=$3 pv=$4 pf=$5 ps=$6
    mkdir -p "$dir/data"
    "$bin" server -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.port="$pm" -volume.port="$pv" -filer.port="$pf" \
        -master.volumeSizeLimitMB=64 -volume.max=0 \
        -s3 -s3.port="$ps" -s3.config="$dir/s3.json" -s3.autoCreateBucket=false >>"$dir/weed.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    # Ready when the gateway answers a signed listing of the bucket, or
    # with a refusal of a missing one.
    local n
    for n in $(seq 1 300); do
        if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
            say "weed exited at start"; tail -5 "$dir/weed.log" >&2; return 1
        fi
        if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$ps/" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    say "weed did not answer on 127.0.0.1:$ps"
    return 1
}

mkbucket() { # DIR
    . "$1/env"
    local n code
    for n in $(seq 1 100); do
        code=$(curl -s -o "$1/mkbucket.out" -w '%{http_code}' --max-time 5 \
            --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
            -X PUT "$S3_ENDPOINT/$S3_BUCKET")
        case $code in 200|409) return 0 ;; esac
        sleep 0.3
    done
    say "could not create bucket $S3_BUCKET (HTTP $code)"; cat "$1/mkbucket.out" >&2
    return 1
}

case ${1:-} in
build) build ;;
start)
    dir=$2; bin=${3:-}
    [ -n "$bin" ] || bin=$(build) || exit 1
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # A port seen free can be taken before weed binds it (the check is a
    # connect, and weed opens more than the four): up to 3 tries, on
    # other ports each time, when that is why it stopped.
    for try in 1 2 3; do
    ports=$(pick_ports "$try") || { say "no free ports"; exit 1; }
    set -- $ports
    key=cloudai$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
    secret=$(od -An -N16 -tx4 /dev/urandom | tr -d ' \n')
    cat >"$dir/s3.json" <<EOF
{"identities":[{"name":"cloudai","credentials":[{"accessKey":"$key","secretKey":"$secret"}],
  "actions":["Admin","Read","Write","List","Tagging"]}]}
EOF
    cat >"$dir/env" <<EOF
S3_ENDPOINT=http://127.0.0.1:$4
S3_BUCKET=cloudai-test
AWS_ACCESS_KEY_ID=$key
AWS_SECRET_ACCESS_KEY=$secret
AWS_REGION=us-east-1
S3_PORTS="$ports"
S3_BIN=$bin
EOF
    if launch "$dir" "$bin" "$@"; then break; fi
    grep -q 'address already in use' "$dir/weed.log" && [ "$try" -lt 3 ] || exit 1
    say "a port was taken meanwhile; trying others"
    : >"$dir/weed.log"
    done
    echo "S3_PID=$(cat "$dir/pid")" >>"$dir/env"
    mkbucket "$dir" || exit 1
    ;;
restart)
    dir=$2
    . "$dir/env"
    set -- $S3_PORTS
    launch "$dir" "$S3_BIN" "$@" || exit 1
    sed -i '/^S3_PID=/d' "$dir/env"
    echo "S3_PID=$(cat "$dir/pid")" >>"$dir/env"
    ;;
stop)
    dir=$2
    [ -f "$dir/pid" ] || exit 0
    pid=$(cat "$dir/pid")
    kill -CONT "$pid" 2>/dev/null
    kill -TERM "$pid" 2>/dev/null
    for n in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    rm -f "$dir/pid"
    ;;
*) echo "usage: s3srv.sh build | start DIR [BIN] | restart DIR | stop DIR" >&2; exit 2 ;;
esac
