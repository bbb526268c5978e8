#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon's RPC (vivarium-protocol(7)) through the test install. Starts two
# daemons: one with the defaults, and a small one (one worker, a queue of two,
# two requests in flight per connection, a 1 s default and 5 s maximum
# timeout, --preload colorsys). Checks `vivarium run --socket`, VIVARIUM_SOCKET,
# `vivarium status --json` and examples/python/run.py against them; runs
# tests/protocol/test_protocol.py (every method, field, error code, malformed
# frames, pipelining, cancel, disconnects), passing its TAP lines through;
# then SIGTERM with a request running (it completes, late requests get -32001,
# the daemon exits 0 within the grace period and leaves no process behind) and
# SIGKILL (no zygote or worker outlives the daemon). A TAP test (see lib.sh).

# shellcheck disable=SC2016,SC2154
# shellcheck source=tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"

exec </dev/null

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
export top_srcdir
T=$(mktemp -d)
main_pid='' small_pid=''
cleanup() {
    local p
    for p in $main_pid $small_pid; do
        kill -9 "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

has() { case $1 in *"$2"*) return 0 ;; esac; return 1; }

# json_ok EXPR: true when the Python expression holds of the JSON in $out (d).
json_ok() {
    "$PY" -c 'import json, sys
d = json.loads(sys.stdin.read())
sys.exit(0 if eval("(" + sys.argv[1] + "\n)") else 1)' "$1" <<<"$out"
}

# served SOCKET: the daemon's requests.served.
served() {
    "$VIVARIUM" status --socket "$1" --json 2>/dev/null |
        "$PY" -c 'import json, sys; print(json.load(sys.stdin)["requests"]["served"])' 2>/dev/null
}

# ---------------------------------------------------------------- processes

# proc_table: "PID PPID STARTTIME COMM" for every process of the host.
proc_table() {
    local f line pid comm rest
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue
        pid=${f#/proc/} pid=${pid%/stat}
        comm=${line#*\(} comm=${comm%)*}
        rest=${line##*) }
        # shellcheck disable=SC2086
        set -- $rest
        echo "$pid $2 ${20} $comm"
    done
}

# descendants PID: "PID:STARTTIME:COMM" of every descendant of PID.
descendants() {
    local table known=" $1 " changed=1 pid ppid start comm
    table=$(proc_table)
    while [ "$changed" = 1 ]; do
        changed=0
        while read -r pid ppid start comm; do
            case $known in *" $ppid "*) ;; *) continue ;; esac
            case $known in *" $pid "*) continue ;; esac
            known="$known$pid " changed=1
            echo "$pid:$start:$comm"
        done <<<"$table"
    done
}

# alive PID[:STARTTIME[:COMM]]: that very process exists and is not a zombie.
alive() {
    local pid=${1%%:*} start line rest
    start=${1#*:} start=${start%%:*}
    { read -r line <"/proc/$pid/stat"; } 2>/dev/null || return 1
    rest=${line##*) }
    # shellcheck disable=SC2086
    set -- $rest
    [ "$1" != Z ] || return 1
    [ "$start" = "$pid" ] || [ "$start" = "${20}" ]
}

# survivors LIST: the entries of LIST (from descendants) still alive.
survivors() {
    local e
    for e in $1; do
        alive "$e" && echo "$e"
    done
}

# none_survive LIST SECONDS: no process of LIST is alive within SECONDS.
none_survive() {
    local left
    for _ in $(seq $(($2 * 10))); do
        left=$(survivors "$1")
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    diag "still alive: $left"
    return 1
}

has_zygote() { has "$1" zygote; }

# line_is DESC REGEX: a line of the SIGTERM client's report matches REGEX.
line_is() {
    if grep -Eqx "$2" "$T/sigterm.out"; then ok "$1"; else
        not_ok "$1"
        diag "$(cat "$T/sigterm.out")"
    fi
}

# ---------------------------------------------------------------- start the daemons

cat >"$T/small.conf" <<'EOF'
# The small daemon of tests/protocol/protocol.sh (test_protocol.py knows these).
[service]
max_inflight = 2

[limits]
timeout = 1
max_timeout = 5

[pool]
idle_workers = 1
max_workers = 1
queue = 2
EOF

"$VIVARIUM" serve --socket "$T/sock" 2>"$T/main.log" &
main_pid=$!
"$VIVARIUM" serve --socket "$T/small.sock" --config "$T/small.conf" --preload colorsys \
    2>"$T/small.log" &
small_pid=$!

# up SOCKET PID: the daemon answers `vivarium status` within 10 s.
up() {
    for _ in $(seq 100); do
        alive "$2" || return 1
        [ -S "$1" ] && "$VIVARIUM" status --socket "$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

started=1
for d in "main $T/sock $main_pid" "small $T/small.sock $small_pid"; do
    # shellcheck disable=SC2086
    set -- $d
    if up "$2" "$3"; then
        ok "the $1 daemon starts and answers vivarium status within 10 s"
    else
        not_ok "the $1 daemon starts and answers vivarium status within 10 s"
        diag "its log:" "$(tail -n 30 "$T/$1.log")"
        started=0
    fi
done
if [ "$started" = 0 ]; then
    tap_done
    exit
fi

# ---------------------------------------------------------------- the CLI against the daemon

before=$(served "$T/sock")
viv status --socket "$T/sock" --json
check "status --json is JSON with busy_workers and idle_workers" json_ok \
    'isinstance(d["busy_workers"], int) and isinstance(d["idle_workers"], int) and
     isinstance(d["requests"]["served"], int)'
viv status --socket "$T/sock"
check "status (text) exits 0 and says something" eval '[ "$rc" = 0 ] && [ -n "$out" ]'
VIVARIUM_SOCKET="$T/sock" viv status --json
check "VIVARIUM_SOCKET=... status --json" json_ok 'isinstance(d["busy_workers"], int)'

viv run --socket "$T/sock" -c 'print(1)'
check "run --socket: print(1) prints 1, exit 0" eval '[ "$rc" = 0 ] && [ "$out" = 1 ]'
viv run --socket "$T/sock" -c '6 * 7'
check "run --socket: a value is printed" eval '[ "$rc" = 0 ] && [ "$out" = 42 ]'
VIVARIUM_SOCKET="$T/sock" viv run -c 'print("env")'
check "VIVARIUM_SOCKET=... run: exit 0" eval '[ "$rc" = 0 ] && [ "$out" = env ]'
VIVARIUM_SOCKET="$T/sock" viv run -c '1/0'
check "VIVARIUM_SOCKET=... run: an exception exits 1" eval \
    '[ "$rc" = 1 ] && [ -z "$out" ] && has "$err" ZeroDivisionError'
viv run --socket "$T/sock" --timeout 1 -c 'while True: pass'
check "run --socket --timeout 1: a busy loop exits 124" test "$rc" = 124
after=$(served "$T/sock")
check "those 5 runs went through the daemon (requests.served: $before -> $after)" \
    eval '[ -n "$before" ] && [ -n "$after" ] && [ "$after" -ge $((before + 5)) ]'

# --memory, --processes, --cpus through the daemon: they lower its limits.
ALLOC_200='x = bytearray(200 << 20)
for i in range(0, len(x), 4096):
    x[i] = 1
len(x) >> 20'
viv run --socket "$T/sock" -c "$ALLOC_200"
check "run --socket: 200 MiB fits the daemon's 512 MiB" eval '[ "$rc" = 0 ] && [ "$out" = 200 ]'
viv run --socket "$T/sock" --memory 64 -c "$ALLOC_200"
check "run --socket --memory 64: the same code exits 137, the message names 64 MiB, --memory and the daemon's 512" \
    eval '[ "$rc" = 137 ] && has "$err" "limit of 64 MiB" && has "$err" "raise --memory" &&
          has "$err" "daemon'"'"'s limit of 512 MiB"'
viv run --socket "$T/sock" --memory 64 --json -c "$ALLOC_200"
check "run --socket --memory 64 --json: status memory, limits.memory_mb 64" \
    json_ok 'd["status"] == "memory" and d["limits"]["memory_mb"] == 64'
viv run --socket "$T/sock" -c 'x = bytearray(600 << 20)
for i in range(0, len(x), 4096):
    x[i] = 1'
check "run --socket: at the daemon's own limit the message points to [limits] memory" \
    eval '[ "$rc" = 137 ] && has "$err" "daemon'"'"'s memory limit of 512 MiB" && has "$err" "[limits] memory"'
viv run --socket "$T/sock" --memory 1024 -c 1
check "run --socket --memory 1024: refused (exit 2) with the daemon's limit" \
    eval '[ "$rc" = 2 ] && has "$err" "--memory" && has "$err" "the daemon'"'"'s limit is 512 MiB"'
viv run --socket "$T/sock" --processes 8 --timeout 20 -c 'import os, time
n = 0
try:
    for _ in range(200):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except OSError:
    pass
n'
check "run --socket --processes 8: 7 children, then the limit" eval '[ "$rc" = 0 ] && [ "$out" = 7 ]'
viv run --socket "$T/sock" --processes 65 -c 1
check "run --socket --processes 65: refused with the daemon's limit" \
    eval '[ "$rc" = 2 ] && has "$err" "the daemon'"'"'s limit is 64 processes"'
viv run --socket "$T/sock" --cpus 0.25 --json -c 'import time
t = time.monotonic()
while time.monotonic() - t < 1.0:
    pass
time.process_time() / (time.monotonic() - t)'
if [ "$rc" = 2 ] && has "$err" "cannot give a run a CPU quota"; then
    skip "run --socket --cpus 0.25: no CPU quota can be had here"
else
    check "run --socket --cpus 0.25: limits.cpus 0.25 and at most 0.4 of a CPU" \
        json_ok 'd["status"] == "ok" and d["limits"]["cpus"] == 0.25 and float(d["value"]) < 0.4'
fi
viv status --socket "$T/sock" --json
check "status --json reports the daemon's limits" \
    json_ok 'd["limits"]["memory_mb"] == 512 and d["limits"]["processes"] == 64'

# The dispatcher locks itself down once started: its own seccomp filter and
# no_new_privs; the keeper (its only child) starts the spawners. Started as
# root, it runs as the service user with CAP_KILL (bit 5) alone.
dispatcher_status=$(cat "/proc/$main_pid/status" 2>/dev/null)
status_is() { printf "%s\n" "$dispatcher_status" | grep -q "^$1:[[:space:]]*$2\$"; }
if [ "$(id -u)" -eq 0 ]; then
    svc_uid=$(id -u "$VIV_SERVICE_USER") svc_gid=$(id -g "$VIV_SERVICE_USER")
    check "the dispatcher runs as the service user $VIV_SERVICE_USER (real, effective, saved, fs uid and gid)" \
        eval 'status_is Uid "$svc_uid[[:space:]]*$svc_uid[[:space:]]*$svc_uid[[:space:]]*$svc_uid" &&
              status_is Gid "$svc_gid[[:space:]]*$svc_gid[[:space:]]*$svc_gid[[:space:]]*$svc_gid" &&
              status_is Groups "$svc_gid[[:space:]]*"'
    check "the dispatcher keeps CAP_KILL only: CapEff = CapPrm = 0x20, CapInh, CapBnd and CapAmb empty" \
        eval 'status_is CapEff 0000000000000020 && status_is CapPrm 0000000000000020 &&
              status_is CapInh 0000000000000000 && status_is CapBnd 0000000000000000 &&
              status_is CapAmb 0000000000000000'
    viv status --socket "$T/sock" --json
    check "status still says isolation mode root after the drop" json_ok 'd["isolation"]["mode"] == "root"'
    viv run --socket "$T/sock" --json -c 'x = bytearray(600 << 20)'
    check "after the drop, the 512 MiB limit is still status memory (cgroup OOM kill, via the spawner)" \
        json_ok 'd["status"] == "memory"'
    n_before=$(descendants "$main_pid" | wc -l)
    viv run --socket "$T/sock" --timeout 1 -c 'import os, time
for _ in range(30):
    if os.fork() == 0:
        time.sleep(600)
while True: pass'
    check "after the drop, the deadline kill is immediate (exit 124)" test "$rc" = 124
    for _ in $(seq 50); do
        n_after=$(descendants "$main_pid" | wc -l)
        [ "$n_after" -le "$n_before" ] && break
        sleep 0.1
    done
    check "after the drop, the 30 children the code forked are gone within 5 s ($n_before processes before, $n_after after)" \
        test "$n_after" -le "$n_before"
    viv run --socket "$T/sock" -c 'print(3)'
    check "after the drop, requests still work" eval '[ "$rc" = 0 ] && [ "$out" = 3 ]'
    printf '[service]\nuser = no-such-user-here\n' >"$T/nouser.conf"
    viv serve --socket "$T/nouser.sock" --config "$T/nouser.conf"
    check "as root, a service user that does not exist is a clear refusal" \
        eval '[ "$rc" != 0 ] && has "$err" "no-such-user-here" && has "$err" "does not exist" &&
              [ ! -e "$T/nouser.sock" ]'
else
    skip "the drop to the service user: not root"
fi
check "the dispatcher runs under its seccomp filter (Seccomp: 2)" \
    eval 'printf "%s\n" "$dispatcher_status" | grep -q "^Seccomp:[[:space:]]*2$"'
check "the dispatcher has no_new_privs" \
    eval 'printf "%s\n" "$dispatcher_status" | grep -q "^NoNewPrivs:[[:space:]]*1$"'
# (A children file lists pids followed by spaces.)
keeper_pid=$(tr -d ' ' <"/proc/$main_pid/task/$main_pid/children" 2>/dev/null)
check "its only child is the keeper, which has no filter, and the spawner is the keeper's child" \
    eval '[ "$(cat "/proc/$keeper_pid/comm" 2>/dev/null)" = vivarium-keeper ] &&
          grep -q "^Seccomp:[[:space:]]*0$" "/proc/$keeper_pid/status" &&
          [ "$(cat "/proc/$(tr -d " " <"/proc/$keeper_pid/task/$keeper_pid/children")/comm")" = vivarium-spawn ]'

ex() { # DESC RC STDOUT ARGS...: examples/python/run.py
    local desc=$1 want_rc=$2 want_out=$3
    shift 3
    out=$("$PY" "$top_srcdir/examples/python/run.py" "$@" 2>"$T/ex.err")
    rc=$?
    if [ "$rc" = "$want_rc" ] && [ "$out" = "$want_out" ]; then ok "$desc"; else
        not_ok "$desc"
        diag "rc=$rc out=$out" "$(head -c 600 "$T/ex.err")"
    fi
}
ex "examples/python/run.py -c 'print(1)'" 0 1 --socket "$T/sock" -c 'print(1)'
ex "examples/python/run.py: a value" 0 42 --socket "$T/sock" -c '6 * 7'
ex "examples/python/run.py: an exception exits 1" 1 '' --socket "$T/sock" -c '1/0'
ex "examples/python/run.py: a timeout exits 124" 124 '' --socket "$T/sock" --timeout 1 -c 'while True: pass'
VIVARIUM_SOCKET="$T/sock" ex "examples/python/run.py with VIVARIUM_SOCKET" 0 hi -c 'print("hi")'

# ---------------------------------------------------------------- test_protocol.py

failed_before=$tap_failed py_lines=0
while IFS= read -r line; do
    case $line in
    "ok "*" # SKIP"*)
        name=${line#ok * - }
        skip "protocol: ${name%% \# SKIP*}: ${name#* \# SKIP }"
        py_lines=$((py_lines + 1))
        ;;
    "ok "*)
        ok "protocol: ${line#ok * - }"
        py_lines=$((py_lines + 1))
        ;;
    "not ok "*)
        not_ok "protocol: ${line#not ok * - }"
        py_lines=$((py_lines + 1))
        ;;
    "#"*) echo "$line" ;;
    1..*) ;;
    *) diag "$line" ;;
    esac
done < <(VIVARIUM_TAP=1 VIVARIUM_TEST_SOCKET="$T/sock" VIVARIUM_TEST_SOCKET_SMALL="$T/small.sock" \
    "$PY" "$top_srcdir/tests/protocol/test_protocol.py" 2>"$T/py.err"
echo $? >"$T/py.rc")
py_rc=$(cat "$T/py.rc" 2>/dev/null)
if [ "$py_rc" != 0 ] && [ "$tap_failed" = "$failed_before" ]; then
    not_ok "test_protocol.py exited with status ${py_rc:-unknown}"
    diag "$(tail -n 40 "$T/py.err")"
else
    check "test_protocol.py ran its tests ($py_lines)" test "$py_lines" -gt 50
fi

check "both daemons are still running after the protocol tests" eval 'alive "$main_pid" && alive "$small_pid"'

# ---------------------------------------------------------------- SIGTERM

# The client: a request running when SIGTERM comes must complete; a new request
# on the open connection then gets -32001 (or the connection closes after the
# running one is answered); a new connection is not served.
cat >"$T/sigterm.py" <<'EOF'
import os, sys, time
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "examples", "python"))
from vivarium_client import Client, ConnectionClosed

sock, tdir = sys.argv[1], sys.argv[2]
c = Client(sock, timeout=30)
c.send(1, "run", {"code": 'import time\nprint("started", flush=True)\ntime.sleep(2)\n"done"',
                  "stream": True, "timeout_ms": 20000})
msg = c.recv()
assert msg.get("event") == "stdout", msg
open(os.path.join(tdir, "started"), "w").close()
while not os.path.exists(os.path.join(tdir, "termed")):
    time.sleep(0.01)
time.sleep(0.3)
first = late = None
try:
    c.send(2, "run", {"code": "1"})
except OSError as e:
    late = "send failed: %s" % e

try:
    n = Client(sock, timeout=5)
    n.send(1, "ping")
    m = n.recv()
    new = str(m["error"]["code"]) if "error" in m else "served: %r" % m
except (ConnectionClosed, ConnectionResetError, BrokenPipeError):
    new = "closed"
except (FileNotFoundError, ConnectionRefusedError):
    new = "refused"
except Exception as e:
    new = "%s: %s" % (type(e).__name__, e)

try:
    while first is None or late is None:
        m = c.recv(timeout=15)
        if m.get("id") == 1 and "event" not in m:
            first = m["result"]["status"] + ":" + str(m["result"]["value"]) if "result" in m else repr(m)
        elif m.get("id") == 2 and "event" not in m:
            late = str(m["error"]["code"]) if "error" in m else "served: %r" % m
except (ConnectionClosed, ConnectionResetError):
    late = late or "closed"
except Exception as e:
    late = late or "%s: %s" % (type(e).__name__, e)
print("first=%s" % first)
print("late=%s" % late)
print("new=%s" % new)
EOF

"$PY" "$T/sigterm.py" "$T/sock" "$T" >"$T/sigterm.out" 2>"$T/sigterm.err" &
client_pid=$!
for _ in $(seq 300); do
    [ -e "$T/started" ] && break
    alive "$client_pid" || break
    sleep 0.1
done
if [ -e "$T/started" ]; then
    procs=$(descendants "$main_pid")
    check "SIGTERM: the daemon's zygote is among its descendants" has_zygote "$procs"
    t0=$(date +%s%N)
    kill -TERM "$main_pid"
    touch "$T/termed"
    for _ in $(seq 150); do
        alive "$main_pid" || break
        sleep 0.1
    done
    ms=$((($(date +%s%N) - t0) / 1000000))
    if alive "$main_pid"; then
        not_ok "SIGTERM: the daemon exits"
        diag "still running after ${ms} ms; killing it"
        kill -9 "$main_pid"
    fi
    wait "$main_pid"
    main_rc=$?
    main_pid=''
    check "SIGTERM: the daemon exits with status 0 (got $main_rc)" test "$main_rc" = 0
    check "SIGTERM: within the grace period, 5 s, and 2 s more (took $ms ms)" test "$ms" -lt 7000
    check "SIGTERM: no zygote or worker of the daemon remains" none_survive "$procs" 2
    wait "$client_pid"
    [ -s "$T/sigterm.err" ] && diag "client: $(tail -n 20 "$T/sigterm.err")"
    line_is "SIGTERM: the request running at SIGTERM completes" "first=ok:'done'"
    line_is "SIGTERM: a new request on an open connection gets -32001, or the connection closes" \
        'late=(-32001|closed)'
    line_is "SIGTERM: a new connection is not served" 'new=(refused|closed|-32001)'
else
    not_ok "SIGTERM: a request is running before the signal"
    diag "$(cat "$T/sigterm.out" "$T/sigterm.err")"
    kill -9 "$client_pid" 2>/dev/null
fi

# ---------------------------------------------------------------- SIGKILL

procs=$(descendants "$small_pid")
check "SIGKILL: the small daemon's zygote is among its descendants" has_zygote "$procs"
# (quietly: bash reports a job killed by a signal on stderr)
{
    kill -9 "$small_pid"
    check "SIGKILL: none of its processes remain within 1 s" none_survive "$procs" 1
    wait "$small_pid"
} 2>/dev/null
small_pid=''

if [ "$tap_failed" -gt 0 ]; then
    diag "--- the main daemon's log" "$(tail -n 40 "$T/main.log")" \
        "--- the small daemon's log" "$(tail -n 40 "$T/small.log")"
fi
tap_done
