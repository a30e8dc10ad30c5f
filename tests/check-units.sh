#!/bin/sh
# Checks the built systemd units: `systemd-analyze verify` on provd.service
# and provd.socket, and `systemd-analyze security --offline=true` on
# provd.service, whose overall exposure must be at most MAX_EXPOSURE (1.5).
# The exposure figure is printed.
#
# usage: check-units.sh BUILT_SERVICE SOCKET_UNIT PROVD_BINARY
#
# verify wants ExecStart's program to exist, and the installed path does
# not exist before installation: the check runs on a copy of the service
# whose ExecStart names the built provd (or, while provd is not built yet,
# this shell, since verify only checks that the file is executable).
set -u
MAX_EXPOSURE=1.5

if [ $# -ne 3 ]; then
    echo "usage: $0 BUILT_SERVICE SOCKET_UNIT PROVD_BINARY" >&2
    exit 2
fi
service=$1 socket=$2 provd=$3

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze is not installed: skipped"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/provd-units-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

# meson passes the binary relative to the build directory, the cwd here.
case $provd in
/*) ;;
*) provd=$(pwd)/$provd ;;
esac
if [ ! -x "$provd" ]; then
    echo "note: $provd is not built; verifying with /bin/sh as ExecStart"
    provd=/bin/sh
fi
sed "s|^ExecStart=[^ ]*|ExecStart=$provd|" "$service" >"$tmp/provd.service" || exit 2
cp "$socket" "$tmp/provd.socket" || exit 2

status=0

# verify: syntax, unknown settings, paths. --man=no: the man pages are not
# installed at this point.
if out=$(systemd-analyze verify --man=no "$tmp/provd.service" "$tmp/provd.socket" 2>&1) &&
    [ -z "$out" ]; then
    echo "systemd-analyze verify: ok"
else
    echo "systemd-analyze verify: FAILED"
    printf '%s\n' "$out"
    status=1
fi

# security: the overall exposure, from the line
#   "→ Overall exposure level for provd.service: 1.4 OK 🙂"
sec=$(systemd-analyze security --offline=true --no-pager "$tmp/provd.service" 2>&1)
exposure=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for provd\.service: \([0-9.]*\).*/\1/p')
if [ -z "$exposure" ]; then
    echo "systemd-analyze security: no exposure figure"
    printf '%s\n' "$sec"
    exit 1
fi
echo "systemd-analyze security --offline=true: exposure $exposure (at most $MAX_EXPOSURE)"
printf '%s\n' "$sec" | grep '✗' || true
if awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e > m) }'; then
    echo "exposure $exposure is above $MAX_EXPOSURE"
    status=1
fi

# The settings the service must keep, whatever the score says.
for want in 'Type=notify' 'RestartPreventExitStatus=78' 'WatchdogSec=' 'ExecReload=' \
    'StateDirectory=provd' 'RuntimeDirectory=provd' 'ConfigurationDirectory=provd' \
    'LimitNOFILE=' 'MemoryMax=' 'TasksMax=' 'ProtectSystem=strict' 'NoNewPrivileges=yes'; do
    if ! grep -q "^$want" "$tmp/provd.service"; then
        echo "provd.service lacks $want"
        status=1
    fi
done
grep -q '^ListenStream=/run/provd/provd.sock' "$tmp/provd.socket" ||
    { echo "provd.socket does not listen on /run/provd/provd.sock"; status=1; }

exit $status
