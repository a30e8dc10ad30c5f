#!/bin/sh
# valgrind.sh BUILD_DIR: the long suite's memcheck row (VG; RELIABILITY P8
# asks for no valgrind errors in a sample of the soak). Runs the
# integration scenario with every provd process under
#   valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite
#            --error-exitcode=99 --trace-children=yes
# (no suppressions: none has been needed):
#   1. two fakesites (not under valgrind) serving the fixture record pages
#      and a few faults among them (404, 429 with Retry-After, a bot
#      challenge, a wrong content type, a trickling body, a truncated body
#      on the raw port);
#   2. `provd --once`: a full harvest;
#   3. `provd --once` again: conditional requests (the site's log must show
#      some);
#   4. provd as a daemon: every endpoint of the control socket through
#      curl --unix-socket, a manual harvest followed to its end, a few bad
#      requests, then SIGTERM, which must end it with status 0.
# BUILD_DIR must be a plain build (no sanitizers: they cannot run under
# valgrind).
#
# The extraction helpers are forked, not executed, so valgrind follows them
# without --trace-children; each gets a log of its own (%p). Two limits of
# running them under valgrind: valgrind 3.19 refuses setrlimit(RLIMIT_NOFILE)
# with any hard limit but its own (EPERM), so the helper keeps its hard
# limit there and lowers only the soft one (harvest/worker_helper.c); and
# provd ends its helpers with SIGKILL (worker_pool_free), so their logs
# hold every error memcheck saw while they ran, but no leak summary. Such
# logs are counted and said so; their errors are counted from the error
# headings memcheck writes.
#
# Prints the figures, then "ROW VG PASS|FAIL ..." as the last line; exits
# 0 only when every process ran without a memcheck error, nothing was
# definitely lost, and every step ended as it should.
set -u

build=${1:-}
if [ -z "$build" ] || [ ! -x "$build/daemon/provd" ]; then
    echo "usage: valgrind.sh BUILD_DIR (a plain build holding daemon/provd)" >&2
    echo "ROW VG FAIL no provd in '${build}'"
    exit 2
fi
build=$(cd "$build" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
src=${PROVD_SOURCE_ROOT:-$(cd "$here/../.." && pwd)}
provd=$build/daemon/provd
fakesite=$build/tests/fakesite/fakesite

for tool in valgrind curl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "valgrind.sh: $tool is not installed" >&2
        echo "ROW VG FAIL $tool not installed"
        exit 1
    fi
done
if nm -D "$provd" 2>/dev/null | grep -q '__asan_init'; then
    echo "valgrind.sh: $provd is a sanitizer build" >&2
    echo "ROW VG FAIL sanitizer build given"
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/provd-vg.XXXXXX") || exit 1
chmod 700 "$tmp"
fs_pid=
daemon_pid=
# shellcheck disable=SC2317 # called through the trap
cleanup() {
    [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
    # shellcheck disable=SC2086
    [ -n "$fs_pid" ] && kill -TERM $fs_pid 2>/dev/null
    if [ -z "${PROVD_KEEP_TMP:-}" ]; then
        rm -rf "$tmp"
    else
        echo "valgrind.sh: kept $tmp" >&2
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

start=$(date +%s)
failures=
fail() {
    echo "valgrind.sh: FAIL: $*" >&2
    failures="$failures$*; "
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.2 s until it succeeds.
wait_for() {
    limit=$(($(date +%s) + $1))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge "$limit" ] && return 1
        sleep 0.2
    done
    return 0
}

# wait_exit PID SECONDS: wait for a child to end; its status, or 124 after
# SECONDS (it is killed then).
wait_exit() {
    limit=$(($(date +%s) + $2))
    while kill -0 "$1" 2>/dev/null; do
        if [ "$(date +%s)" -ge "$limit" ]; then
            kill -KILL "$1" 2>/dev/null
            wait "$1" 2>/dev/null
            return 124
        fi
        sleep 0.2
    done
    wait "$1"
}

# ---- the sites -------------------------------------------------------------
# Two fakesites serving the same pages: provd pauses a host for minutes
# after five retryable failures in a row (RELIABILITY N15), so each host
# gets at most two retryable faults (four failed attempts with retries = 2).
mkdir -p "$tmp/site/rec"
cp "$src"/tests/data/pages/*.html "$tmp/site/rec/" || exit 1
fs_pid=
for name in a b; do
    "$fakesite" --root "$tmp/site" --port 0 --port-file "$tmp/fs-$name.port" \
        --raw-port-file "$tmp/fs-$name.raw" --log "$tmp/fs-$name.log" --lifetime 1200 \
        </dev/null >"$tmp/fs-$name.err" 2>&1 &
    fs_pid="$fs_pid $!"
    if ! wait_for 10 test -s "$tmp/fs-$name.raw"; then
        echo "ROW VG FAIL fakesite did not start"
        exit 1
    fi
done
port=$(cat "$tmp/fs-a.port")
raw=$(cat "$tmp/fs-a.raw")
port_b=$(cat "$tmp/fs-b.port")
raw_b=$(cat "$tmp/fs-b.raw")
base=http://127.0.0.1:$port
base_b=http://127.0.0.1:$port_b
{
    i=0
    for f in "$tmp"/site/rec/*.html; do
        echo "$base/rec/$(basename "$f")"
        # a fault after every second page
        case $i in
        1) echo "$base/rec/missing.html" ;;
        3) echo "$base/fault/challenge" ;;
        5) echo "$base_b/fault/429/1" ;;
        7) echo "$base/fault/type?ct=image/png" ;;
        9) echo "$base/fault/trickle/300?bytes=100" ;;
        11) echo "$base_b/fault/redirect?to=http://127.0.0.1:$raw_b/truncated" ;;
        esac
        i=$((i + 1))
    done
    echo "$base_b/rec/$(basename "$f")"
} >"$tmp/vg.urls"

sock=$tmp/provd.sock
cat >"$tmp/provd.conf" <<EOF
[provd]
database = $tmp/catalog.db
socket = $sock
allow-addresses = 127.0.0.1:$port, 127.0.0.1:$raw, 127.0.0.1:$port_b, 127.0.0.1:$raw_b
connect-timeout = 2s
transfer-timeout = 20s
low-speed-time = 1s
retries = 2
retry-after-max = 2s
manual-cooldown = 0
api-deadline = 60s
log-level = info

[source vg]
urls = $tmp/vg.urls
interval = 1d
delay = 0
concurrency = 2
EOF

vg_opts="--tool=memcheck --leak-check=full --errors-for-leak-kinds=definite"
vg_opts="$vg_opts --error-exitcode=99 --trace-children=yes --num-callers=30"

# ---- 1, 2: two --once runs --------------------------------------------------
for pass in 1 2; do
    mark=$(wc -l <"$tmp/fs-a.log")
    t0=$(date +%s)
    # shellcheck disable=SC2086
    valgrind $vg_opts --log-file="$tmp/vg-once$pass.%p.log" \
        "$provd" -c "$tmp/provd.conf" --once >"$tmp/once$pass.out" 2>&1 &
    pid=$!
    wait_exit "$pid" 400
    rc=$?
    echo "provd --once (run $pass): exit $rc in $(($(date +%s) - t0)) s" >&2
    [ "$rc" -eq 0 ] || fail "provd --once run $pass exited $rc: $(tail -c 600 "$tmp/once$pass.out")"
    if [ "$pass" -eq 2 ]; then
        cond=$(tail -n +"$((mark + 1))" "$tmp/fs-a.log" | awk -F '\t' '$5 == "cond"' | wc -l)
        n304=$(tail -n +"$((mark + 1))" "$tmp/fs-a.log" | awk -F '\t' '$4 == "304"' | wc -l)
        echo "second run: $cond conditional requests, $n304 answered 304" >&2
        if [ "$cond" -eq 0 ] || [ "$n304" -eq 0 ]; then
            fail "no conditional request in the second run"
        fi
    fi
done

# ---- 3: the daemon and its API ----------------------------------------------
t0=$(date +%s)
# shellcheck disable=SC2086
valgrind $vg_opts --log-file="$tmp/vg-daemon.%p.log" \
    "$provd" -c "$tmp/provd.conf" >"$tmp/daemon.out" 2>&1 &
daemon_pid=$!

api_n=0
api_bad=0
# api METHOD TARGET WANT: one request; its body in $tmp/reply.
api() {
    api_n=$((api_n + 1))
    code=$(curl -s -o "$tmp/reply" -w '%{http_code}' --max-time 60 -X "$1" \
        --unix-socket "$sock" "http://provd$2")
    if [ "$code" != "$3" ]; then
        api_bad=$((api_bad + 1))
        fail "$1 $2: status $code, want $3: $(head -c 300 "$tmp/reply" 2>/dev/null)"
    fi
}

if wait_for 180 curl -sf --max-time 5 --unix-socket "$sock" http://provd/v1/status; then
    echo "daemon answering after $(($(date +%s) - t0)) s" >&2
    api GET /v1/status 200
    api GET /v1/sources 200
    api POST "/v1/harvest?source=vg" 202
    run=$(sed -n 's/.*"run_id": *\([0-9][0-9]*\).*/\1/p' "$tmp/reply")
    state=
    if [ -n "$run" ]; then
        limit=$(($(date +%s) + 300))
        while [ "$(date +%s)" -lt "$limit" ]; do
            api GET "/v1/runs/$run" 200
            state=$(sed -n 's/.*"state": *"\([a-z]*\)".*/\1/p' "$tmp/reply")
            case $state in "done" | "failed") break ;; esac
            sleep 1
        done
    fi
    echo "manual run ${run:-?}: ${state:-?}" >&2
    [ "$state" = "done" ] || fail "manual run ${run:-?} ended '${state:-}'"
    api GET "/v1/records?limit=5" 200
    key=$(grep -o '"key": *"[^"]*"' "$tmp/reply" | head -n 1 | sed 's/.*: *"\(.*\)"/\1/')
    api GET "/v1/records?limit=2&archive=GARF" 200
    api GET "/v1/records?q=memorandum&limit=3" 200
    api GET "/v1/records?translator=Gary%20Goldberg&since=1900-01-01" 200
    api GET "/v1/records?status=gone" 200
    if [ -n "$key" ]; then
        api GET "/v1/records/$key?source=vg" 200
        api GET "/v1/records/$key/history?source=vg" 200
    else
        fail "no record key in GET /v1/records"
    fi
    api GET "/v1/export?format=jsonl" 200
    api GET "/v1/export?format=csv&archive=RGASPI" 200
    api POST "/v1/harvest?url=$base/rec/missing.html" 202
    api GET "/v1/records?limit=-1" 400
    api GET /v1/records/999999999 404
    api GET /v1/runs/999999 404
    api GET /v1/nothing 404
    api DELETE /v1/status 405
    sleep 2
else
    fail "the daemon did not answer within 180 s: $(tail -c 600 "$tmp/daemon.out")"
fi
kill -TERM "$daemon_pid" 2>/dev/null
wait_exit "$daemon_pid" 120
rc=$?
daemon_pid=
echo "daemon: $api_n API requests ($api_bad unexpected), exit $rc after SIGTERM," \
    "$(($(date +%s) - t0)) s in all" >&2
[ "$rc" -eq 0 ] || fail "the daemon exited $rc after SIGTERM: $(tail -c 600 "$tmp/daemon.out")"

# shellcheck disable=SC2086
kill -TERM $fs_pid 2>/dev/null
# shellcheck disable=SC2086
wait $fs_pid 2>/dev/null
fs_pid=

# ---- the logs ------------------------------------------------------------------
procs=0
unsummed=0
errors=0
lost=0
heads='(Invalid (read|write|free)|Mismatched free|Conditional jump or move|Use of uninitialised|Syscall param|Source and destination overlap|Argument .* of function|Invalid alignment|Fishy value)'
for log in "$tmp"/vg-*.log; do
    [ -f "$log" ] || continue
    procs=$((procs + 1))
    e=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tr -d ,)
    if [ -z "$e" ]; then
        # no summary: killed (a helper ended by SIGKILL); its errors were
        # written as they happened
        unsummed=$((unsummed + 1))
        e=$(grep -cE "^==[0-9]+== $heads" "$log")
    fi
    l=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d , | tail -n 1)
    if [ "${e:-0}" -gt 0 ] || [ "${l:-0}" -gt 0 ]; then
        echo "---- $(basename "$log"): $e errors, ${l:-0} bytes definitely lost" >&2
        cat "$log" >&2
    fi
    errors=$((errors + ${e:-0}))
    lost=$((lost + ${l:-0}))
done
took=$(($(date +%s) - start))
echo "memcheck: $procs processes ($unsummed ended by SIGKILL, without a leak summary)," \
    "$errors errors, $lost bytes definitely lost, $took s" >&2

[ "$procs" -ge 5 ] || fail "only $procs valgrind logs"
[ "$errors" -eq 0 ] || fail "$errors memcheck errors"
[ "$lost" -eq 0 ] || fail "$lost bytes definitely lost"

figure="memcheck: $procs processes ($unsummed helpers killed before a leak summary), $errors errors, $lost bytes definitely lost, $api_n API requests, $took s"
if [ -z "$failures" ]; then
    echo "ROW VG PASS $figure"
    exit 0
fi
echo "ROW VG FAIL $figure -- $failures"
exit 1
