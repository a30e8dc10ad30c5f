#!/bin/sh
# Fails when a C file of the project is not laid out as .clang-format says,
# and names the files that are not.
root=${1:-.}
cd "$root" || exit 2
files=$(find common harvest catalog daemon tests bench -name '*.[ch]' 2>/dev/null | sort)
out=$(clang-format --dry-run -Werror $files 2>&1) && exit 0
printf '%s\n' "$out" | grep -o '^[^:]*\.[ch]' | sort -u | sed 's/^/not clang-formatted: /'
exit 1
