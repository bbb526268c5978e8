#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Which path `vivarium run` takes without --socket, through the test install:
# a daemon on the default socket ($XDG_RUNTIME_DIR/vivarium.sock, pointed at a
# temporary directory) is used, and the run proves it (the daemon's preload is
# visible, its requests.served goes up); no daemon, a stale socket, a planted
# socket (another user's, in a directory others can write, listened on by
# another uid) and --no-daemon all give a one-shot run, said only under
# --verbose; `vivarium status` makes the same choice. As root, then as the
# unprivileged test user. A TAP test (see lib.sh).

# shellcheck disable=SC2016,SC2154
# shellcheck source=tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"

exec </dev/null
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
T=$(mktemp -d)
chmod 755 "$T"
daemon_pid='' planted_pid=''
cleanup() {
    [ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
    [ -n "$planted_pid" ] && kill -9 "$planted_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

ONESHOT='no daemon on the default socket: one-shot run in a private jail'
PRELOADED='import sys; "colorsys" in sys.modules'
has() { case $1 in *"$2"*) return 0 ;; esac; return 1; }
show() { diag "rc=$rc" "stdout: $out" "stderr: $err"; }
verdict() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; show; fi
}

# as WHO COMMAND...: run as root (WHO=root) or as the test user, with
# XDG_RUNTIME_DIR=$xdg; output in $out, $err, status in $rc.
as() {
    local who=$1
    shift
    if [ "$who" = root ]; then
        viv_cmd env XDG_RUNTIME_DIR="$xdg" "$@"
    else
        viv_cmd as_test_user env XDG_RUNTIME_DIR="$xdg" "$@"
    fi
}
viv_cmd() {
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    out=$(cat "$T/out") err=$(cat "$T/err")
}

# served SOCKET: the daemon's requests.served (as root: any socket).
served() {
    "$VIVARIUM" status --socket "$1" --json 2>/dev/null |
        "$PY" -c 'import json, sys; print(json.load(sys.stdin)["requests"]["served"])' 2>/dev/null
}

# start_daemon WHO: `vivarium serve` on the default socket of $xdg, with a
# preload a one-shot run does not have. setpriv execs in place, so $! is the
# daemon itself.
start_daemon() {
    local run=()
    [ "$1" = root ] || run=(setpriv --reuid="$VIV_TEST_USER" --regid="$VIV_TEST_USER" --init-groups)
    env XDG_RUNTIME_DIR="$xdg" VIVARIUM_LIBEXECDIR="$VIVARIUM_LIBEXECDIR" \
        VIVARIUM_PKGDATADIR="$VIVARIUM_PKGDATADIR" "${run[@]}" \
        "$VIVARIUM" serve --preload colorsys --workers 1 2>"$T/daemon.log" &
    daemon_pid=$!
    for _ in $(seq 150); do
        kill -0 "$daemon_pid" 2>/dev/null || return 1
        [ -S "$xdg/vivarium.sock" ] && "$VIVARIUM" status --socket "$xdg/vivarium.sock" >/dev/null 2>&1 &&
            return 0
        sleep 0.1
    done
    return 1
}

stop_daemon() {
    kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
    daemon_pid=''
}

# plant PATH MODE [LISTEN_UID [CHOWN_UID]]: a socket at PATH that something
# listens on (MODE=listen) or nobody does (MODE=bind: a stale socket),
# listen()ed as LISTEN_UID and chowned to CHOWN_UID; planted_pid serves it.
plant() {
    rm -f "$1" "$T/planted"
    "$PY" - "$@" <<'EOF' >"$T/planted" &
import os, socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
listen_uid = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] != "-" else None
chown_uid = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] != "-" else None
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o666)
if chown_uid is not None:
    os.chown(path, chown_uid, -1)
if listen_uid is not None:
    os.setresuid(listen_uid, listen_uid, listen_uid)  # SO_PEERCRED is taken at listen()
if mode == "listen":
    s.listen(8)
print("ready", flush=True)
time.sleep(600)
EOF
    planted_pid=$!
    for _ in $(seq 50); do
        [ -s "$T/planted" ] && return 0
        sleep 0.1
    done
    return 1
}
unplant() {
    kill -9 "$planted_pid" 2>/dev/null
    wait "$planted_pid" 2>/dev/null
    planted_pid=''
}

# cases WHO: the whole catalogue as root or as the test user.
cases() {
    local who=$1 p=$1 uid before after other
    uid=$(id -u)
    [ "$who" = root ] || uid=$(id -u "$VIV_TEST_USER")
    xdg=$T/$who-xdg
    mkdir -m 700 "$xdg" && chown "$uid" "$xdg"

    as "$who" "$VIVARIUM" run --verbose -c '1+1'
    verdict "$p: no daemon: one-shot, and --verbose says why (absent)" \
        eval '[ "$rc" = 0 ] && [ "$out" = 2 ] && has "$err" "$ONESHOT" && has "$err" "vivarium.sock: absent)"'
    as "$who" "$VIVARIUM" run -c '1+1'
    verdict "$p: no daemon: nothing said without --verbose" eval '[ "$rc" = 0 ] && [ "$out" = 2 ] && [ -z "$err" ]'
    as "$who" "$VIVARIUM" status
    verdict "$p: status without a daemon fails and names the default socket" \
        eval '[ "$rc" = 125 ] && has "$err" "no daemon on the default socket $xdg/vivarium.sock: absent"'

    if ! start_daemon "$who"; then
        not_ok "$p: a daemon starts on the default socket"
        diag "$(tail -n 20 "$T/daemon.log")"
        return
    fi
    ok "$p: a daemon starts on the default socket"
    before=$(served "$xdg/vivarium.sock")
    as "$who" "$VIVARIUM" run --verbose -c "$PRELOADED"
    verdict "$p: with a daemon on the default socket, run uses it (its preload is there)" \
        eval '[ "$rc" = 0 ] && [ "$out" = True ] && has "$err" "using the daemon on $xdg/vivarium.sock (the default socket)"'
    as "$who" "$VIVARIUM" run -c '6 * 7'
    verdict "$p: ... silently without --verbose" eval '[ "$rc" = 0 ] && [ "$out" = 42 ] && [ -z "$err" ]'
    after=$(served "$xdg/vivarium.sock")
    check "$p: those 2 runs were served by the daemon (requests.served $before -> $after)" \
        test "$after" = $((before + 2))
    as "$who" "$VIVARIUM" run --no-daemon --verbose -c "$PRELOADED"
    verdict "$p: --no-daemon runs one-shot beside a daemon (no preload)" \
        eval '[ "$rc" = 0 ] && [ "$out" = False ] && has "$err" "--no-daemon: one-shot run in a private jail"'
    check "$p: ... and the daemon served nothing more" test "$(served "$xdg/vivarium.sock")" = "$after"
    as "$who" "$VIVARIUM" status --json
    verdict "$p: status without --socket asks the daemon on the default socket" \
        eval '[ "$rc" = 0 ] && has "$out" "\"served\":$after"'
    as "$who" env VIVARIUM_SOCKET="$T/none.sock" "$VIVARIUM" run -c 1
    verdict "$p: \$VIVARIUM_SOCKET still wins, and is an error when it cannot connect" \
        eval '[ "$rc" = 125 ] && has "$err" "cannot connect to $T/none.sock"'
    stop_daemon

    # A daemon that went away without removing its socket (kill -9) leaves
    # this: a socket file nobody listens on.
    plant "$xdg/vivarium.sock" bind - "$uid"
    as "$who" "$VIVARIUM" run --verbose -c '1+1'
    verdict "$p: a stale socket: one-shot, refused" \
        eval '[ "$rc" = 0 ] && [ "$out" = 2 ] && has "$err" "$ONESHOT" && has "$err" "refused: nothing listens"'
    unplant

    chmod 1777 "$xdg"
    plant "$xdg/vivarium.sock" listen - "$uid"
    as "$who" "$VIVARIUM" run --verbose -c '1+1'
    verdict "$p: a socket in a directory everyone can write: not used" \
        eval '[ "$rc" = 0 ] && [ "$out" = 2 ] && has "$err" "its directory $xdg is writable by everyone"'
    unplant
    chmod 700 "$xdg"

    if [ "$(id -u)" -ne 0 ]; then
        skip "$p: planted sockets of other users: not root, cannot make them"
        return
    fi
    other=$(id -u nobody)
    [ "$who" = root ] && other=$(id -u "$VIV_TEST_USER")
    plant "$xdg/vivarium.sock" listen - "$other"
    as "$who" "$VIVARIUM" run --verbose -c '1+1'
    verdict "$p: a socket of another user (uid $other), with a listener: not used" \
        eval '[ "$rc" = 0 ] && [ "$out" = 2 ] && has "$err" "owned by uid $other, not by you or root"'
    unplant

    if [ "$who" = root ]; then
        # A root-owned socket file in a root directory, listen()ed by another uid.
        plant "$xdg/vivarium.sock" listen "$other"
        as "$who" "$VIVARIUM" run --verbose -c '1+1'
        verdict "$p: a socket listened on by another uid: not used (SO_PEERCRED)" \
            eval '[ "$rc" = 0 ] && [ "$out" = 2 ] && has "$err" "not by you or root" && has "$err" "of uid $other"'
        unplant
    fi
}

# "root" is whoever runs the test; the test user's cases need root to switch.
cases root
if have_test_user; then
    cases test-user
    viv_cmd as_test_user env -u XDG_RUNTIME_DIR "$VIVARIUM" run --verbose -c '1+1'
    verdict "test-user: without XDG_RUNTIME_DIR there is no default socket: one-shot" \
        eval '[ "$rc" = 0 ] && [ "$out" = 2 ] && has "$err" "XDG_RUNTIME_DIR is not set"'
else
    skip "the test user's cases: not root, or cannot create $VIV_TEST_USER"
fi
tap_done
