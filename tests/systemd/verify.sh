#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The units of units/ checked by `systemd-analyze verify` (Debian's systemd
# package), offline: PID 1 need not be systemd. verify also checks that
# ExecStart= is executable, so the templates are filled in with the test
# install's bindir; the user units need an XDG_RUNTIME_DIR for %t. verify
# exits 0 on a unit it only warns about, so any output is a failure too; a
# unit broken on purpose shows the check can fail. A TAP test (lib.sh).

# shellcheck source=tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"

if ! command -v systemd-analyze >/dev/null 2>&1; then
    skip "systemd-analyze is missing (Debian: apt-get install systemd; tools/install-deps does)"
    tap_done
    exit
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -m 700 "$T/run"

# fill INSTANCE: the instance's units, made from the templates, in $T/INSTANCE.
fill() {
    mkdir -p "$T/$1"
    for f in vivarium.socket vivarium.service; do
        sed -e "s|@bindir@|$VIV_DESTDIR$VIV_BINDIR|g" "$top_srcdir/units/$1/$f.in" >"$T/$1/$f"
    done
}

# verify INSTANCE: systemd-analyze verify on its two units; output in $out.
verify() {
    local user=()
    [ "$1" = user ] && user=(--user)
    out=$(XDG_RUNTIME_DIR=$T/run systemd-analyze verify --man=no "${user[@]}" \
        "$T/$1/vivarium.socket" "$T/$1/vivarium.service" 2>&1)
    rc=$?
}

for i in system user; do
    fill "$i"
    verify "$i"
    if [ "$rc" = 0 ] && [ -z "$out" ]; then
        ok "the $i units verify, without a warning"
    else
        not_ok "the $i units verify, without a warning"
        diag "rc=$rc" "$out"
    fi
    check "the $i service is Type=notify" \
        grep -qx 'Type=notify' "$T/$i/vivarium.service"
    check "the $i service delegates its cgroup" grep -qx 'Delegate=yes' "$T/$i/vivarium.service"
done
check "the user socket is the user's default socket, mode 0600" \
    eval 'grep -qx "ListenStream=%t/vivarium.sock" "$T/user/vivarium.socket" &&
          grep -qx "SocketMode=0600" "$T/user/vivarium.socket"'
check "the system socket is root's default socket" \
    grep -qx 'ListenStream=/run/vivarium/vivarium.sock' "$T/system/vivarium.socket"

sed -i -e 's/^Type=notify$/Type=notfy/' -e 's/^Delegate=yes$/Delegate=yes\nProtectKernelTunable=yes/' \
    "$T/system/vivarium.service"
verify system
if [ -n "$out" ]; then ok "a broken unit is reported"; else not_ok "a broken unit is reported"; fi
tap_done
