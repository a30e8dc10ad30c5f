#!/bin/sh
# Fails when a tracked or new C file of the project is not laid out as
# .clang-format says; prints the files that are not.
root=${1:-.}
cd "$root" || exit 2
bad=0
for f in $(find common harvest catalog daemon tests bench -name '*.[ch]' 2>/dev/null | sort); do
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "not clang-formatted: $f"
        bad=1
    fi
done
exit $bad
