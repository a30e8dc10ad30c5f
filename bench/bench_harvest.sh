#!/bin/sh
# bench_harvest.sh [PAGES]: the harvest benchmark (README.md, "Harvest").
#
# Generates PAGES record pages (default 10000) with gen_pages.py once, into
# $PROVD_BENCH_DIR/pages-PAGES (default under $TMPDIR), and runs
# bench_harvest on them with provd and fakesite from the build directory
# $PROVD_BUILD (default: build). `bench_harvest.sh 500` takes well under a
# minute; the full size a few minutes, most of it the two one-page-at-a-
# time harvests (b) and (c).
set -eu

pages=${1:-10000}
here=$(cd "$(dirname "$0")" && pwd)
build=${PROVD_BUILD:-$here/../build}
work=${PROVD_BENCH_DIR:-${TMPDIR:-/tmp}/provd-bench-harvest}
set_dir=$work/pages-$pages

for prog in "$build/bench/bench_harvest" "$build/daemon/provd" "$build/tests/fakesite/fakesite"; do
    if [ ! -x "$prog" ]; then
        echo "bench_harvest.sh: $prog is missing; build with ninja -C $build" >&2
        exit 2
    fi
done
mkdir -p "$work"
if [ ! -f "$set_dir/.complete" ]; then
    rm -rf "$set_dir"
    echo "generating $pages pages into $set_dir" >&2
    python3 "$here/gen_pages.py" -n "$pages" --seed 1 "$set_dir" >/dev/null
    touch "$set_dir/.complete"
fi
exec "$build/bench/bench_harvest" -p "$build/daemon/provd" -f "$build/tests/fakesite/fakesite" \
    "$set_dir"
