#!/bin/sh
# run-fuzz.sh TARGET CORPUS SECONDS: a bounded libFuzzer campaign over a
# copy of the seed corpus (the source tree is never written). Prints the
# figures libFuzzer reports; fails on any crash, leak or timeout.
set -eu
target=$1 corpus=$2 seconds=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
cp -r "$corpus"/. "$work/corpus/"
"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus" 2>"$work/log" || {
    tail -n 60 "$work/log"
    for a in "$work/artifacts"/*; do
        [ -f "$a" ] && echo "artifact: $(basename "$a") ($(wc -c <"$a") bytes)" && od -c "$a" | head -n 20
    done
    exit 1
}
grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$work/log" || true
echo "corpus files after the run: $(ls "$work/corpus" | wc -l)"
