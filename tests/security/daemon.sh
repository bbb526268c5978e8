#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The hostile catalogue (design/THREATS.md §A-§F) through the daemon: starts
# `vivarium serve --workers 2` (with --preload numpy when the image has it)
# once as root and once as the unprivileged test user, and for each:
#  * sends the probe bundle (see common.sh) to a warm worker with
#    `vivarium run --socket` (the client as the same user) and relays its TAP
#    with a "daemon root: " / "daemon unprivileged: " prefix;
#  * runs tests/security/host_daemon.py against it: the cases that need several
#    requests, concurrent workers or the host's view (state bleed, randomness,
#    secrets in the zygote's memory, file ownership, channels between workers,
#    deadlines, memory, descriptors, output floods, a thousand workers and the
#    mount table, kill(-1), daemonised grandchildren, the fork bomb);
#  * kills the daemon with SIGKILL while a request runs: none of its
#    processes may survive it by more than a second.
# The daemon's environment holds a secret that must reach no worker.
# A TAP test (see tests/integration/lib.sh); the known holes are "# TODO".

# shellcheck disable=SC2016
: "${top_srcdir:?run through make check}"
# shellcheck source=tests/security/common.sh
. "$top_srcdir/tests/security/common.sh"

exec </dev/null
export top_srcdir VIV_TEST_USER
T=$(mktemp -d) || exit 99
chmod 755 "$T"
daemon_pid='' client_pid=''
cleanup() {
    [ -n "$client_pid" ] && kill -9 "$client_pid" 2>/dev/null
    [ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

IDLE=2
TOKEN="vd$$"
TOKEN=${TOKEN:0:10}
PRELOAD=()
[ -d /usr/lib/python3/dist-packages/numpy ] && PRELOAD=(--preload numpy)

idle_workers() {
    "$VIVARIUM" status --socket "$1" --json 2>/dev/null |
        "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(d["idle_workers"], d["busy_workers"])' 2>/dev/null
}

# start_daemon MODE DIR: start the daemon of that mode with its socket in DIR;
# sets daemon_pid and secret. The unprivileged one runs as the test user
# when we are root (setpriv execs, so $! is the daemon itself).
start_daemon() {
    local mode=$1 dir=$2
    secret="vivarium-secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    mkdir -p "$dir"
    if [ "$mode" = unprivileged ] && [ "$(id -u)" -eq 0 ]; then
        chown "$VIV_TEST_USER" "$dir"
        setpriv --reuid="$VIV_TEST_USER" --regid="$VIV_TEST_USER" --init-groups \
            env VIVARIUM_LIBEXECDIR="$VIVARIUM_LIBEXECDIR" VIVARIUM_PKGDATADIR="$VIVARIUM_PKGDATADIR" \
            VIVARIUM_TEST_SECRET="$secret" \
            "$VIVARIUM" serve --socket "$dir/sock" --workers "$IDLE" "${PRELOAD[@]}" 2>"$dir/log" &
    else
        VIVARIUM_TEST_SECRET="$secret" \
            "$VIVARIUM" serve --socket "$dir/sock" --workers "$IDLE" "${PRELOAD[@]}" 2>"$dir/log" &
    fi
    daemon_pid=$!
    for _ in $(seq 300); do
        [ -d "/proc/$daemon_pid" ] || return 1
        [ "$(idle_workers "$dir/sock")" = "$IDLE 0" ] && return 0
        sleep 0.1
    done
    return 1
}

# kill9_pass PREFIX SOCK: SIGKILL of the daemon while a request runs.
kill9_pass() {
    local prefix=$1 sock=$2 b
    "$VIVARIUM" run --socket "$sock" --timeout 60 -c 'import time; time.sleep(60)' >/dev/null 2>&1 &
    client_pid=$!
    for _ in $(seq 100); do
        b=$(idle_workers "$sock")
        [ "${b#* }" -gt 0 ] 2>/dev/null && break
        sleep 0.1
    done
    "$PY" "$SEC_DIR/host_lib.py" tree "$daemon_pid" >"$T/procs"
    check "${prefix}SIGKILL of the daemon: a request is running (busy ${b#* }) and a zygote is among its $(wc -l <"$T/procs") processes" \
        eval '[ "${b#* }" -gt 0 ] 2>/dev/null && grep -q ":vivarium-zygote$" "$T/procs"'
    {
        kill -9 "$daemon_pid"
        if "$PY" "$SEC_DIR/host_lib.py" survive "$T/procs" 1 >"$T/left"; then
            ok "${prefix}SIGKILL of the daemon: none of its processes remains within 1 s"
        else
            not_ok "${prefix}SIGKILL of the daemon: none of its processes remains within 1 s"
            diag "still alive: $(cat "$T/left")"
            xargs -r -n1 sh -c 'kill -9 "${0%%:*}"' <"$T/left"
        fi
        wait "$daemon_pid"
    } 2>/dev/null
    daemon_pid=''
    wait "$client_pid" 2>/dev/null
    client_pid=''
}

# daemon_pass MODE [CLIENT_RUNNER...]: one daemon, every check against it.
daemon_pass() {
    local mode=$1 prefix="daemon $1: " dir="$T/$1" failed_before=$tap_failed
    shift
    if ! start_daemon "$mode" "$dir"; then
        not_ok "${prefix}the daemon starts with $IDLE warm workers within 30 s"
        diag "its log:" "$(tail -n 30 "$dir/log")"
        [ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
        daemon_pid=''
        return
    fi
    ok "${prefix}the daemon starts with $IDLE warm workers (${PRELOAD[*]:-no preload})"
    make_bundle daemon "$mode" "$TOKEN" "$T/bundle-$mode.py"
    run_bundle "$prefix" "$T/bundle-$mode.py" "$@" -- --socket "$dir/sock"
    relay_helper "$prefix" host_daemon.py "$dir/sock" "$daemon_pid" "$mode" "$TOKEN" "$secret" "$IDLE"
    kill9_pass "$prefix" "$dir/sock"
    if [ "$tap_failed" != "$failed_before" ]; then
        diag "--- the $mode daemon's log" "$(grep -v 'client connected' "$dir/log" | tail -n 40)"
    fi
}

if [ "$(id -u)" -eq 0 ]; then
    daemon_pass root
    if have_test_user && command -v setpriv >/dev/null; then
        daemon_pass unprivileged as_test_user
    else
        skip "daemon unprivileged: cannot create the test user $VIV_TEST_USER or find setpriv(1)"
    fi
else
    skip "daemon root: not running as root, the root-mode daemon cannot be tested"
    daemon_pass unprivileged
fi

tap_done
