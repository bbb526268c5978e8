#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `vivarium serve` started the way systemd starts vivarium.service, through
# the test install and tests/systemd/activate.py: it serves the listening
# socket passed as fd 3 (LISTEN_FDS/LISTEN_PID) and binds none of its own;
# a LISTEN_PID meant for another process is ignored; two sockets, or a socket
# that is not a listening stream socket, are refused with a clear error; on
# NOTIFY_SOCKET it says READY=1 once the pool is warm, STATUS= with its
# workers and queue, STOPPING=1 on SIGTERM. As root (the daemon drops to its
# service user), then as the unprivileged test user. A TAP test (lib.sh).

# shellcheck disable=SC2016,SC2154
# shellcheck source=tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"

exec </dev/null
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
ACTIVATE="$top_srcdir/tests/systemd/activate.py"
T=$(mktemp -d)
chmod 755 "$T"
helper_pid=''
cleanup() {
    [ -n "$helper_pid" ] && kill -9 "$helper_pid" 2>/dev/null
    [ -s "$T/log" ] && kill -9 "$(daemon_pid)" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
has() { case $1 in *"$2"*) return 0 ;; esac; return 1; }

# daemon_pid: the pid activate.py exec'd the daemon as.
daemon_pid() { sed -n 's/^pid //p' "$T/log" | head -n 1; }

# activate DIR [ACTIVATE OPTIONS...]: start the helper in the background with
# the daemon's stderr in DIR/err, its notify log in $T/log.
activate() {
    local dir=$1
    shift
    rm -f "$T/log"
    "$PY" "$ACTIVATE" "$@" --log "$T/log" -- "$VIVARIUM" serve --socket "$dir/own.sock" --workers 2 \
        2>"$dir/err" &
    helper_pid=$!
}

# wait_for PATTERN SECONDS: a line of $T/log matches the ERE PATTERN.
wait_for() {
    for _ in $(seq $(($2 * 10))); do
        grep -Eq "$1" "$T/log" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# finished SECONDS: the helper (and so the daemon) exited; its status in $rc.
finished() {
    for _ in $(seq $(($1 * 10))); do
        if ! kill -0 "$helper_pid" 2>/dev/null; then
            wait "$helper_pid"
            rc=$?
            helper_pid=''
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# status_json SOCKET EXPR: `vivarium status --json` on SOCKET satisfies the
# Python expression EXPR of d.
status_json() {
    "$VIVARIUM" status --json --socket "$1" >"$T/status" 2>&1 &&
        "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$T/status" "$2"
}

# activated WHO: the whole life of one activated daemon, as root or the test user.
activated() {
    local who=$1 dir=$T/$1 as=() out
    mkdir -m 755 "$dir"
    if [ "$who" != root ]; then
        chown "$VIV_TEST_USER" "$dir"
        as=(--as "$VIV_TEST_USER")
    fi
    activate "$dir" --listen "$dir/act.sock" --notify "$dir/notify.sock" "${as[@]}"
    if ! wait_for ' READY=1' 30; then
        not_ok "$who: READY=1 within 30 s"
        diag "notify log:" "$(cat "$T/log" 2>/dev/null)" "daemon:" "$(tail -n 20 "$dir/err")"
        kill -9 "$(daemon_pid)" 2>/dev/null
        finished 10
        return
    fi
    ok "$who: the activated daemon says READY=1 on NOTIFY_SOCKET"
    # Idle workers only go when runs take them: none has been sent yet.
    if status_json "$dir/act.sock" 'd["environments"][0]["state"] == "ready" and d["idle_workers"] >= 2'; then
        ok "$who: READY=1 came once the pool was warm (environment ready, 2 idle workers)"
    else
        not_ok "$who: READY=1 came once the pool was warm (environment ready, 2 idle workers)"
        diag "$(cat "$T/status")"
    fi
    check "$who: READY=1 and a STATUS= with the workers in one message" \
        grep -Eq ' READY=1 \| STATUS=2 idle, 0 busy, 0 starting; 0 queued' "$T/log"
    out=$("$VIVARIUM" run --socket "$dir/act.sock" -c '6 * 7' 2>&1)
    check "$who: a run through the passed socket is served" test "$out" = 42
    check "$who: the daemon bound no socket of its own (--socket is not used)" test ! -e "$dir/own.sock"
    check "$who: it says where it listens" grep -q "listening on $dir/act.sock (passed by the service manager)" "$dir/err"
    wait_for 'STATUS=.* [1-9][0-9]* served' 5
    check "$who: STATUS= follows the service (a run served)" grep -Eq 'STATUS=.*1 served' "$T/log"
    kill -TERM "$(daemon_pid)"
    if finished 20; then
        check "$who: SIGTERM: the daemon exits 0" test "$rc" = 0
    else
        not_ok "$who: SIGTERM: the daemon exits within 20 s"
    fi
    check "$who: SIGTERM: STOPPING=1, then a shutdown STATUS=" \
        eval 'grep -q " STOPPING=1$" "$T/log" && grep -Eq "STATUS=Stopping" "$T/log"'
    check "$who: the socket, systemd's, is left where it is" test -S "$dir/act.sock"
}

activated root
if have_test_user; then
    activated test-user
else
    skip "the test user's activation: not root, or cannot create $VIV_TEST_USER"
fi

# ---------------------------------------------------------------- what is not activation

mkdir -m 755 "$T/wrong" "$T/two" "$T/dgram"
activate "$T/wrong" --listen "$T/wrong/act.sock" --wrong-pid
for _ in $(seq 300); do
    [ -S "$T/wrong/own.sock" ] && "$VIVARIUM" status --socket "$T/wrong/own.sock" >/dev/null 2>&1 && break
    sleep 0.1
done
check "LISTEN_PID of another process: ignored, the daemon binds --socket itself" \
    "$VIVARIUM" status --socket "$T/wrong/own.sock"
check "... and says so without mentioning the service manager" \
    eval 'grep -q "listening on $T/wrong/own.sock$" "$T/wrong/err"'
kill -TERM "$(daemon_pid)" 2>/dev/null
finished 20

activate "$T/two" --listen "$T/two/act.sock" --fds 2
if finished 20; then
    check "two sockets passed: refused, exit 1 with the reason" \
        eval '[ "$rc" = 1 ] && grep -q "2 sockets passed (LISTEN_FDS=2), but vivarium serves exactly one" "$T/two/err"'
else
    not_ok "two sockets passed: the daemon exits within 20 s"
fi
check "... without binding a socket of its own or serving" \
    eval '! grep -q "listening on\|dropped" "$T/two/err" && [ ! -e "$T/two/own.sock" ]'

activate "$T/dgram" --listen "$T/dgram/act.sock" --dgram
if finished 30; then
    check "a datagram socket passed: refused, exit 1 with the reason" \
        eval '[ "$rc" = 1 ] && grep -q "fd 3 is not a listening AF_UNIX stream socket" "$T/dgram/err"'
    check "... without binding a socket of its own or serving" \
        eval '! grep -q "listening on\|dropped" "$T/dgram/err" && [ ! -e "$T/dgram/own.sock" ]'
else
    not_ok "a datagram socket passed: the daemon exits within 30 s"
fi
tap_done
