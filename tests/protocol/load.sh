#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon under load and under faults, through the test install. Starts
# `vivarium serve --workers 4` with max_workers = 8 and queue = 256, then,
# with tests/protocol/load_faults.py:
#  * load: 20 000 runs of 1+1 over 16 connections, each response matched to
#    its request by id (none lost, duplicated or unexpected, all ok with value
#    '2', no -32000); the throughput is a diagnostic, never a check;
#  * afterwards the dispatcher's fd count and the number of processes that
#    descend from it are back to what they were before, its RSS nearly so;
#  * faults in the middle of a load of sleeping runs: kill -9 of a busy worker
#    (its request ends "killed", the others succeed), of the zygote and of
#    the spawner (the requests in flight fail with -32603, the pool recovers
#    and serves again), and of a zygote stopped with a spawn request unread
#    (its socket then ends in ECONNRESET: still "the zygote died");
#  * hostile workers: code that writes garbage, impossible lengths, truncated
#    and deeply nested frames, forged results (with statuses a worker may not
#    claim, twice, or followed by more running) and file descriptors
#    (SCM_RIGHTS) to its own socket, fd 3; each gets a clear result, the
#    daemon keeps serving, and nothing leaks;
#  * kill -9 of the daemon under load leaves no process behind within 1 s.
# A TAP test (see tests/integration/lib.sh).

# shellcheck disable=SC2016,SC2154
# shellcheck source=tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"

exec </dev/null

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
export top_srcdir
HELPER="$top_srcdir/tests/protocol/load_faults.py"
IDLE=4
LOAD_N=${VIVARIUM_LOAD_N:-20000}
T=$(mktemp -d)
pid='' bg_pid=''
cleanup() {
    [ -n "$bg_pid" ] && kill -9 "$bg_pid" 2>/dev/null
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

# relay ARGS...: run the helper, numbering its TAP lines as ours.
relay() {
    local failed_before=$tap_failed line rc
    while IFS= read -r line; do
        case $line in
        "ok - "*) ok "${line#ok - }" ;;
        "not ok - "*) not_ok "${line#not ok - }" ;;
        "#"*) echo "$line" ;;
        *) diag "$line" ;;
        esac
    done < <("$PY" "$HELPER" "$@" 2>"$T/helper.err"
    echo $? >"$T/helper.rc")
    rc=$(cat "$T/helper.rc" 2>/dev/null)
    if [ "$rc" != 0 ] && [ "$tap_failed" = "$failed_before" ]; then
        not_ok "load_faults.py $1 exited with status ${rc:-unknown}"
        diag "$(tail -n 30 "$T/helper.err")"
    fi
}

alive() { [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
fds() { find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
ndesc() { "$PY" "$HELPER" tree "$pid" | wc -l; }
at_rest() { "$PY" "$HELPER" rest "$T/sock" "$IDLE" "$1"; }

# until_equal SECONDS FUNC WANT: FUNC prints WANT within SECONDS (sets $got).
until_equal() {
    for _ in $(seq $(($1 * 10))); do
        got=$($2)
        [ "$got" = "$3" ] && return 0
        sleep 0.1
    done
    return 1
}

# baseline: wait for the pool at rest and the dispatcher's fd count steady for
# half a second; sets fds0, rss0, desc0.
baseline() {
    local n
    at_rest 30 || return 1
    for _ in $(seq 50); do
        n=$(fds)
        sleep 0.5
        [ "$(fds)" = "$n" ] && break
    done
    fds0=$(fds) rss0=$(rss_kb) desc0=$(ndesc)
}

# back_to_baseline WHAT: the fd count and the descendants as before, within
# the settle time; with "rss", the RSS too, with 20 MiB of slack.
back_to_baseline() {
    local what=$1 rested=0
    at_rest 5 && rested=1
    if until_equal 5 fds "$fds0"; then ok "$what: the dispatcher's fd count is back to $fds0"; else
        not_ok "$what: the dispatcher's fd count is back to $fds0 (it is $got)"
        diag "$(ls -l "/proc/$pid/fd" 2>&1)"
    fi
    if until_equal 5 ndesc "$desc0"; then
        ok "$what: the processes descending from the daemon are back to $desc0"
    else
        not_ok "$what: the processes descending from the daemon are back to $desc0 (there are $got)"
        diag "$("$PY" "$HELPER" tree "$pid")"
    fi
    [ "$rested" = 1 ] || diag "$what: the pool did not come to rest within 5 s"
    if [ "$2" = rss ]; then
        local rss
        rss=$(rss_kb)
        check "$what: the dispatcher's RSS is back near ${rss0} kB, +20 MiB at most (${rss} kB)" \
            test "$rss" -le $((rss0 + 20 * 1024))
    fi
}

# ---------------------------------------------------------------- the daemon

cat >"$T/load.conf" <<'EOF'
# The daemon of tests/protocol/load.sh.
[pool]
max_workers = 8
queue = 256
EOF

"$VIVARIUM" serve --socket "$T/sock" --workers "$IDLE" --config "$T/load.conf" 2>"$T/daemon.log" &
pid=$!
started=0
for _ in $(seq 100); do
    alive "$pid" || break
    if [ -S "$T/sock" ] && "$VIVARIUM" status --socket "$T/sock" >/dev/null 2>&1; then
        started=1
        break
    fi
    sleep 0.1
done
if [ "$started" = 1 ]; then ok "the daemon starts and answers vivarium status within 10 s"; else
    not_ok "the daemon starts and answers vivarium status within 10 s"
    diag "its log:" "$(tail -n 30 "$T/daemon.log")"
    tap_done
    exit
fi

if baseline; then
    ok "the pool comes to rest with $IDLE warm workers"
    diag "at rest: $fds0 fds, RSS $rss0 kB, $desc0 processes descend from the daemon"
else
    not_ok "the pool comes to rest with $IDLE warm workers"
    fds0=$(fds) rss0=$(rss_kb) desc0=$(ndesc)
fi

# ---------------------------------------------------------------- load

t0=$(date +%s%N)
relay load "$T/sock" "$LOAD_N" 16 4
diag "the load took $((($(date +%s%N) - t0) / 1000000)) ms"
back_to_baseline "after the load" rss

# ---------------------------------------------------------------- faults

for fault in worker zygote spawner zygote-unread; do
    at_rest 30 || diag "the pool is not at rest before the $fault fault"
    relay "fault-$fault" "$T/sock" "$pid"
done
back_to_baseline "after the faults"

# ---------------------------------------------------------------- hostile workers

relay hostile "$T/sock" "$pid" "$IDLE"
back_to_baseline "after the hostile workers"
check "the daemon is still running" alive "$pid"

# ---------------------------------------------------------------- kill -9 of the daemon

"$PY" "$HELPER" bg "$T/sock" 2>/dev/null &
bg_pid=$!
for _ in $(seq 100); do
    b=$("$VIVARIUM" status --socket "$T/sock" --json 2>/dev/null |
        "$PY" -c 'import json, sys; print(json.load(sys.stdin)["busy_workers"])' 2>/dev/null)
    [ "${b:-0}" -gt 0 ] && break
    sleep 0.1
done
"$PY" "$HELPER" tree "$pid" >"$T/procs"
check "kill -9 of the daemon: requests are running in its workers (busy_workers ${b:-?})" test "${b:-0}" -gt 0
check "kill -9 of the daemon: its spawner and zygote are among its $(wc -l <"$T/procs") descendants" \
    eval 'grep -q ":vivarium-spawn$" "$T/procs" && grep -q ":vivarium-zygote$" "$T/procs"'
{
    kill -9 "$pid"
    if "$PY" "$HELPER" survive "$T/procs" 1 >"$T/left"; then
        ok "kill -9 of the daemon: none of its processes remain within 1 s"
    else
        not_ok "kill -9 of the daemon: none of its processes remain within 1 s"
        diag "still alive: $(cat "$T/left")"
    fi
    wait "$pid"
} 2>/dev/null
pid=''
for _ in $(seq 100); do
    alive "$bg_pid" || break
    sleep 0.1
done
kill -9 "$bg_pid" 2>/dev/null
wait "$bg_pid" 2>/dev/null
bg_pid=''

if [ "$tap_failed" -gt 0 ]; then
    diag "--- the daemon's log" "$(grep -v 'client connected' "$T/daemon.log" | tail -n 40)"
fi
tap_done
