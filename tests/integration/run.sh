#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `vivarium run` end to end, through the test install: output and value
# printing, exceptions, code from -c / FILE / '-', stdin forwarding, usage
# errors, the --json result, wall-clock timeouts (sleep, busy loop ignoring
# signals, SIGSTOP, Event wait, select), memory limits, --processes and --cpus,
# fork/thread bombs and
# the host's process count, output floods and the value cap, matplotlib
# images, --preload, statelessness and per-run randomness; the core cases
# again as the unprivileged test user. A TAP test (see lib.sh).

# Conditions are often strings handed to eval (verdict DESC eval '...'):
# shellcheck disable=SC2016,SC2034,SC2154
# shellcheck source=tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"

# The code's stdin is ours when it is not a terminal: never hand it whatever
# the harness left open, so a run cannot block reading it.
exec </dev/null

PY=/usr/bin/python3
NL=$'\n'
[ -x "$PY" ] || PY=python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# vr ARGS...: run vivarium, keeping stdout and stderr in $T/out and $T/err and
# exactly (trailing newlines included, NUL bytes dropped) in $out and $err; the
# exit status in $rc and the elapsed wall time in $ms.
vr() { vr_cmd "$VIVARIUM" "$@"; }

# vr_cmd COMMAND...: the same for any command (as_test_user "$VIVARIUM" ...).
vr_cmd() {
    local t0
    t0=$(date +%s%N)
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    out=$(tr -d '\000' <"$T/out"; echo .) out=${out%.}
    err=$(tr -d '\000' <"$T/err"; echo .) err=${err%.}
}

size() { stat -c %s "$1"; }

# show: what the last run did, for a failing case.
show() {
    diag "rc=$rc after ${ms} ms; $(size "$T/out") bytes out, $(size "$T/err") bytes err" \
        "stdout: $(head -c 400 "$T/out" | tr -d '\000')" "stderr: $(head -c 400 "$T/err" | tr -d '\000')"
}

# verdict DESC COMMAND...: ok when COMMAND succeeds, else not ok and show.
verdict() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; show; fi
}

# expect DESC RC STDOUT ARGS...: a run with that exit status and exactly that
# stdout (give it with its newline: $'2\n').
expect() {
    local desc=$1 want_rc=$2 want_out=$3
    shift 3
    vr "$@"
    verdict "$desc" rc_out "$want_rc" "$want_out"
}
rc_out() { [ "$rc" = "$1" ] && [ "$out" = "$2" ]; }

has() { case $1 in *"$2"*) return 0 ;; esac; return 1; }

# json EXPR: true when the Python expression is true of the JSON on stdout,
# parsed as strict UTF-8 (d is the object; base64 is imported).
json() {
    "$PY" -c 'import base64, json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
sys.exit(0 if eval("(" + sys.argv[2] + "\n)") else 1)' "$T/out" "$1"
}

# expect_json DESC RC EXPR ARGS...: a --json run with that exit status whose
# result satisfies EXPR.
expect_json() {
    local desc=$1 want_rc=$2 expr=$3
    shift 3
    vr run --json "$@"
    verdict "$desc" json_rc "$want_rc" "$expr"
}
json_rc() { [ "$rc" = "$1" ] && json "$2"; }

# named COMM: how many host processes have that name (a fork bomb's children
# rename themselves with a token unique to this run, so other work on the
# machine cannot confuse the count).
named() {
    local p n=0
    for p in /proc/[0-9]*/comm; do
        [ "$(cat "$p" 2>/dev/null)" = "$1" ] && n=$((n + 1))
    done
    echo "$n"
}

# none_left COMM: no host process of that name remains (within a second).
none_left() {
    local i n
    for i in $(seq 10); do
        n=$(named "$1")
        [ "$n" -eq 0 ] && return 0
        sleep 0.1
    done
    diag "$n processes named $1 remain on the host"
    return 1
}

# ---------------------------------------------------------------- basics

expect "print(1+1) prints 2" 0 $'2\n' run -c 'print(1+1)'
expect "the value of 1+1 is printed" 0 $'2\n' run -c '1+1'
expect "a value of None prints nothing" 0 '' run -c 'None'
expect "an assignment prints nothing" 0 '' run -c 'x=1'
verdict "  ... and nothing on stderr either" test -z "$err"
expect "output comes before the value" 0 $'first\n42\n' run -c 'x = 2
print("first")
x * 21'
expect "a value's repr is printed" 0 $'[1, \'a\']\n' run -c '[1, "a"]'
expect "os.write and a subprocess's output are captured" 0 $'raw\nsub\n' \
    run -c 'import os, subprocess
os.write(1, b"raw\n")
subprocess.run(["echo", "sub"])
None'
expect "stderr goes to stderr only" 0 '' run -c 'import sys; print("e", file=sys.stderr)'
verdict "  ... where it is" test "$err" = $'e\n'

# ---------------------------------------------------------------- exceptions

vr run -c '1/0'
verdict "an exception exits 1 with a traceback of the user's code only" eval \
    '[ "$rc" = 1 ] && [ -z "$out" ] && has "$err" "File \"<input>\", line 1" &&
     has "$err" ZeroDivisionError && ! has "$err" vivarium_runner'
vr run -c 'def f(:'
verdict "a SyntaxError exits 1" eval '[ "$rc" = 1 ] && has "$err" SyntaxError'
vr run -c 'import os; os.abort()'
verdict "an interpreter crash exits 1" eval '[ "$rc" = 1 ] && has "$err" vivarium:'
vr run -c 'import os, signal; os.kill(os.getpid(), signal.SIGKILL)'
verdict "code killed by a signal exits 137" test "$rc" = 137

# ---------------------------------------------------------------- code sources, stdin

printf 'print("from file")\n6 * 7\n' >"$T/code.py"
expect "code from FILE" 0 $'from file\n42\n' run "$T/code.py"
vr run - <<<'print("from stdin"); 6 * 7'
verdict "code from '-'" rc_out 0 $'from stdin\n42\n'
vr run -c 'input()' <<<'hi'
verdict "stdin is forwarded to the code" rc_out 0 $'\'hi\'\n'
vr run "$T/missing.py"
verdict "a missing FILE is a usage error naming it" eval \
    '[ "$rc" = 2 ] && [ -z "$out" ] && has "$err" "$T/missing.py" && has "$err" "No such file"'

# ---------------------------------------------------------------- usage

usage_error() { # DESC STDERR-SUBSTRING ARGS...
    local desc=$1 want=$2
    shift 2
    vr "$@"
    verdict "usage error: $desc" eval '[ "$rc" = 2 ] && [ -z "$out" ] && has "$err" "$want"'
}
usage_error "no code" "give the code" run
usage_error "both -c and FILE" "vivarium:" run -c 1 "$T/code.py"
usage_error "--timeout 0" "--timeout" run --timeout 0 -c 1
usage_error "--timeout abc" "--timeout" run --timeout abc -c 1
usage_error "--memory 1" "--memory" run --memory 1 -c 1
usage_error "--preload 'bad name'" "--preload" run --preload 'bad name' -c 1
usage_error "unknown option" "vivarium:" run --no-such-option -c 1
usage_error "unknown command" "unknown command" no-such-command

vr --version
verdict "--version" eval '[ "$rc" = 0 ] && [[ $out =~ ^vivarium\ [0-9]+\.[0-9]+\.[0-9]+ ]]'
vr --help
verdict "--help" eval '[ "$rc" = 0 ] && has "$out" Usage'
vr run --help
verdict "run --help" eval '[ "$rc" = 0 ] && has "$out" "--timeout" && has "$out" "--json"'

# ---------------------------------------------------------------- --json

fields='{"status", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "value",
 "exception", "images", "images_omitted", "detail", "wall_ms", "cpu_ms", "max_rss_kb"}'
expect_json "--json has every field, with their types" 0 "$fields <= set(d) and
 isinstance(d['stdout'], str) and isinstance(d['stderr'], str) and
 isinstance(d['stdout_truncated'], bool) and isinstance(d['stderr_truncated'], bool) and
 isinstance(d['images'], list) and isinstance(d['images_omitted'], int) and
 all(isinstance(d[k], (int, float)) for k in ('wall_ms', 'cpu_ms', 'max_rss_kb'))" \
    -c 'print("out")'
expect_json "--json ok: output and value" 0 "d['status'] == 'ok' and d['stdout'] == 'a\n' and
 d['stderr'] == 'b\n' and d['value'] == '3' and d['exception'] is None" \
    -c 'import sys; print("a"); print("b", file=sys.stderr); 1 + 2'
expect_json "--json value is the repr" 0 "d['value'] == \"'abc'\"" -c '"abc"'
expect_json "--json None has a null value" 0 "d['value'] is None" -c 'None'
expect_json "--json exception" 1 "d['status'] == 'exception' and
 d['exception']['type'] == 'ZeroDivisionError' and d['exception']['message'] == 'division by zero' and
 'File \"<input>\", line 1' in d['exception']['traceback'] and
 'vivarium_runner' not in d['exception']['traceback']" -c '1/0'
expect_json "--json invalid UTF-8 output becomes U+FFFD" 0 \
    "d['stdout'] == '\ufffd\ufffd' and d['stderr'] == 'a\x00\ufffdb'" \
    -c 'import os; os.write(1, b"\xff\xfe"); os.write(2, b"a\x00\x80b"); None'

# ---------------------------------------------------------------- timeouts

timeout_case() { # DESC CODE
    vr run --timeout 1 -c "$2"
    verdict "timeout: $1 exits 124 within 10 s" eval '[ "$rc" = 124 ] && [ "$ms" -lt 10000 ]'
}
vr run --timeout 1 -c 'import time; print("before", flush=True); time.sleep(1e6)'
verdict "timeout: sleep exits 124 within 10 s, keeping earlier output" eval \
    '[ "$rc" = 124 ] && [ "$ms" -lt 10000 ] && [ "$out" = "before$NL" ] && has "$err" "timed out"'
timeout_case "busy loop ignoring SIGTERM/SIGXCPU/SIGINT/SIGHUP" 'import signal
for s in (signal.SIGTERM, signal.SIGXCPU, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
while True:
    pass'
timeout_case "SIGSTOP of itself" 'import os, signal; os.kill(os.getpid(), signal.SIGSTOP)'
timeout_case "threading.Event().wait()" 'import threading; threading.Event().wait()'
timeout_case "select on nothing" 'import select; select.select([], [], [])'
expect_json "timeout: --json status timeout" 124 "d['status'] == 'timeout'" \
    --timeout 1 -c 'while True: pass'
# The worker is killed first at the deadline, so its exit report (rusage)
# still arrives before the jail goes.
verdict "timeout: cpu_ms and max_rss_kb of a 1 s busy loop are reported" \
    json "d['cpu_ms'] > 50 and d['max_rss_kb'] > 0"

# ---------------------------------------------------------------- memory

vr run --memory 64 -c 'bytearray(512 << 20)'
verdict "memory: one huge allocation exits 137" eval '[ "$rc" = 137 ] && has "${err,,}" memory'
expect_json "memory: --json status memory" 137 "d['status'] == 'memory'" \
    --memory 64 -c 'bytearray(512 << 20)'
vr run --memory 64 --timeout 20 -c 'chunks = []
while True:
    chunks.append(bytearray(1 << 20))'
verdict "memory: gradual growth exits 137" test "$rc" = 137
expect_json "memory: a MemoryError the code raises itself is an exception" 1 \
    "d['status'] == 'exception' and d['exception']['type'] == 'MemoryError'" \
    --memory 64 -c 'raise MemoryError("mine")'

# Without a cgroup the limit is RLIMIT_AS: the refused allocation raises in the
# code, and only the worker, which saw the refusal, can tell it from a memory
# error the limit did not cause.
export VIVARIUM_CGROUP=none
rlimit_memory="d['status'] == 'memory' and 'memory limit of 64 MiB' in d['detail']"
expect_json "memory (rlimit): an mmap RLIMIT_AS refuses is status memory" 137 \
    "$rlimit_memory and d['exception']['type'] == 'OSError'" \
    --memory 64 -c 'import mmap
mmap.mmap(-1, 8 << 30)'
expect_json "memory (rlimit): a bytearray too big is status memory" 137 \
    "$rlimit_memory and d['exception']['type'] == 'MemoryError'" \
    --memory 64 -c 'bytearray(512 << 20)'
vr run --memory 64 -c 'bytearray(512 << 20)'
verdict "memory (rlimit): exits 137, names the limit beside the traceback" \
    eval '[ "$rc" = 137 ] && has "$err" "MemoryError" && has "$err" "memory limit of 64 MiB"'
expect_json "memory (rlimit): gradual growth is status memory" 137 "$rlimit_memory" \
    --memory 64 -c 'chunks = []
while True:
    chunks.append(bytearray(1 << 20))'
expect_json "memory (rlimit): an error raised from a refused allocation is status memory" 137 \
    "$rlimit_memory and d['exception']['type'] == 'ValueError'" \
    --memory 64 -c 'try:
    bytearray(512 << 20)
except MemoryError as e:
    raise ValueError("too big") from e'
expect_json "memory (rlimit): a MemoryError the code raises itself is an exception" 1 \
    "d['status'] == 'exception' and d['exception']['message'] == 'mine' and d['detail'] is None" \
    --memory 64 -c 'raise MemoryError("mine")'
expect_json "memory (rlimit): an OSError(ENOMEM) the code raises itself is an exception" 1 \
    "d['status'] == 'exception'" --memory 64 -c 'import errno
raise OSError(errno.ENOMEM, "mine")'
expect_json "memory (rlimit): a caught MemoryError, then success, is ok" 0 \
    "d['status'] == 'ok' and d['value'] == \"'recovered'\"" --memory 64 -c 'try:
    bytearray(512 << 20)
except MemoryError:
    pass
"recovered"'
unset VIVARIUM_CGROUP

# ---------------------------------------------------------------- process limits

token="bomb$$"
vr run --timeout 5 -c 'import os, sys, ctypes
ctypes.CDLL(None).prctl(15, b"'"$token"'", 0, 0, 0)  # PR_SET_NAME
while True:
    try:
        os.fork()
    except OSError as e:
        # One write per line: many processes print at once (print with two
        # arguments writes four pieces).
        sys.stdout.write("limited " + type(e).__name__ + "\n")
        sys.stdout.flush()
        break'
verdict "fork bomb hits the process limit (EAGAIN) and the run ends" eval \
    '{ [ "$rc" = 0 ] || [ "$rc" = 1 ] || [ "$rc" = 124 ]; } && [ "$ms" -lt 15000 ] &&
     has "$out" "limited BlockingIOError"'
check "  ... and none of its processes remains on the host" none_left "$token"

token="sleep$$"
vr run --timeout 2 -c 'import os, sys, time, ctypes
ctypes.CDLL(None).prctl(15, b"'"$token"'", 0, 0, 0)  # PR_SET_NAME
while True:
    try:
        if os.fork() == 0:
            time.sleep(1e6)
    except OSError as e:
        sys.stdout.write("limited " + type(e).__name__ + "\n")
        sys.stdout.flush()
        break
time.sleep(1e6)'
verdict "fork bomb of sleepers is killed at its deadline" eval \
    '[ "$rc" = 124 ] && [ "$ms" -lt 12000 ] && has "$out" "limited BlockingIOError"'
check "  ... and none of its processes remains on the host" none_left "$token"

# A chain whose every process forks and exits at once: its pid changes all
# the time, so a kill that walks the member list can miss it. cgroup.kill
# (v2) and freeze-kill-thaw (v1 with the freezer) cannot.
token="chain$$"
vr run --timeout 1 -c 'import os, time, ctypes
ctypes.CDLL(None).prctl(15, b"'"$token"'", 0, 0, 0)  # PR_SET_NAME
if os.fork() == 0:
    while True:
        try:
            if os.fork():
                os._exit(0)
        except OSError:
            pass
time.sleep(1e6)'
verdict "a fork-and-exit chain is killed at the deadline" eval '[ "$rc" = 124 ] && [ "$ms" -lt 10000 ]'
check "  ... and none of its processes remains on the host" none_left "$token"

vr run --timeout 5 -c 'import threading, time
try:
    while True:
        threading.Thread(target=time.sleep, args=(1e6,), daemon=True).start()
except RuntimeError:
    print("limited")'
verdict "thread bomb hits the process limit" eval '[ "$rc" = 0 ] && [ "$out" = "limited$NL" ]'

FORKS='import os, time
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
SPIN='import time
t = time.monotonic()
while time.monotonic() - t < 1.0:
    pass
round(100 * time.process_time() / (time.monotonic() - t))'
# cpu_share VALUE_LINE: the run's CPU time over its wall time, in hundredths
# (printed as a whole number: a float such as 0.3 loses a digit as text).
cpu_share() { local v=${1%$NL}; echo $((10#${v:-0})); }

vr run --processes 8 --timeout 10 -c "$FORKS"
verdict "--processes 8: the code forks 7 children, then EAGAIN" rc_out 0 $'7\n'
vr run --timeout 10 -c "$FORKS"
verdict "without --processes: 63 children (the default 64)" rc_out 0 $'63\n'
vr run --processes 3 -c 1
verdict "--processes 3 is a usage error with the range" eval '[ "$rc" = 2 ] && has "$err" "from 4 to 4096"'
vr run --cpus 0.25 -c "$SPIN"
if [ "$rc" = 2 ] && has "$err" "cannot give a run a CPU quota"; then
    skip "--cpus 0.25: no cgroup hierarchy with the cpu controller here (refused: ${err%$NL})"
else
    # The quota caps the share; a loaded machine may give the loop less, so the
    # lower bound only says the loop ran.
    verdict "--cpus 0.25: a busy loop gets at most about a quarter of a CPU (0.4)" \
        eval '[ "$rc" = 0 ] && [ "$(cpu_share "$out")" -le 40 ] && [ "$(cpu_share "$out")" -ge 1 ]'
fi
vr run --cpus 0.001 -c 1
verdict "--cpus 0.001 is a usage error with the range" eval '[ "$rc" = 2 ] && has "$err" "from 0.01 to 1024"'

# ---------------------------------------------------------------- output caps

MiB=$((1 << 20))
vr run -c 'import sys; sys.stdout.write("x" * (50 << 20))'
verdict "stdout flood: 1 MiB shown, then a truncation notice" eval \
    '[ "$rc" = 0 ] && [ "$(size "$T/out")" -ge $MiB ] && [ "$(size "$T/out")" -le $((MiB + 4096)) ] &&
     has "$err" "stdout truncated"'
expect_json "stdout flood in --json: flagged, head and tail kept, JSON stays small" 0 \
    "d['stdout_truncated'] and not d['stderr_truncated'] and len(d['stdout']) <= (1 << 20) + 256 and
     d['stdout'].startswith('x') and d['stdout'].endswith('x')" \
    -c 'import sys; _ = sys.stdout.write("x" * (50 << 20))'
verdict "  ... JSON is at most 1 MiB + 64 KiB" test "$(size "$T/out")" -le $((MiB + 65536))
vr run -c 'import sys; _ = sys.stderr.write("y" * (50 << 20))'
verdict "stderr flood: 1 MiB shown, then a truncation notice" eval \
    '[ "$rc" = 0 ] && [ -z "$out" ] && [ "$(size "$T/err")" -le $((MiB + 4096)) ] && has "$err" "stderr truncated"'

binary='import os
chunk = bytes(b for b in range(256) if b != 10) * 4096
for _ in range(50):
    os.write(1, chunk)'
vr run -c "$binary"
verdict "binary flood without newlines: capped at 1 MiB, with a notice" eval \
    '[ "$rc" = 0 ] && [ "$(size "$T/out")" -le $((MiB + 4096)) ] && has "$err" "stdout truncated"'
expect_json "binary flood in --json: valid, flagged, bounded" 0 "d['stdout_truncated']" -c "$binary"
verdict "  ... JSON is at most 8 MiB (escapes included)" test "$(size "$T/out")" -le $((8 * MiB))

vr run -c '"a" * (10 << 20)'
verdict "the value's repr is capped at 1 MiB with a marker" eval \
    '[ "$rc" = 0 ] && [ "$(size "$T/out")" -le $((MiB + 64)) ] && has "$(tail -c 64 "$T/out")" truncated'
vr run --json -c '"a" * (10 << 20)'
verdict "  ... in --json too" json_rc 0 "len(d['value']) <= (1 << 20) + 64 and d['value'].endswith('[truncated]')"

# A result frame larger than one read, written just before the worker exits,
# must be read whole even when the exit report is noticed first (the pool
# drains the worker's socket before it kills the jail). Timing dependent, so
# 40 runs of a ~190 kB value, which fits the socket buffer at once.
lost=0
for i in $(seq 40); do
    n=$((180000 + i * 500))
    vr run -c "'a' * $n"
    if [ "$rc" != 0 ] || [ "$(size "$T/out")" -ne $((n + 3)) ]; then
        lost=$((lost + 1)) why="rc=$rc: ${err%"$NL"}"
    fi
done
if [ "$lost" -eq 0 ]; then
    ok "a ~190 kB value is never lost (40 runs)"
else
    not_ok "a ~190 kB value is never lost (40 runs): $lost runs lost their result"
    diag "last failure: $why"
fi

# ---------------------------------------------------------------- matplotlib, preload

if [ -d /usr/lib/python3/dist-packages/matplotlib ]; then
    expect_json "matplotlib: an open figure comes back as one PNG" 0 \
        "len(d['images']) == 1 and d['images'][0]['mime'] == 'image/png' and
         base64.b64decode(d['images'][0]['data']).startswith(b'\x89PNG\r\n\x1a\n')" \
        -c 'import matplotlib.pyplot as plt; plt.plot([1, 2, 3])'
else
    skip "matplotlib: /usr/lib/python3/dist-packages/matplotlib is not installed"
fi

# The data stack that `vivarium serve` and `vivarium mcp` preload by default
# is not for the one-shot run: it starts one interpreter for one run, and
# imports only what the code or --preload asks for.
expect "the one-shot run preloads nothing of the data stack" 0 $'[]\n' \
    run -c 'import sys; [m for m in ("numpy", "pandas", "matplotlib") if m in sys.modules]'

if [ -d /usr/lib/python3/dist-packages/numpy ]; then
    expect "--preload json,numpy imports them before the code runs" 0 $'(True, True)\n' \
        run --preload json,numpy -c 'import sys; ("json" in sys.modules, "numpy" in sys.modules)'
    expect "--preload json,numpy: numpy works" 0 $'45\n' \
        run --preload json,numpy -c 'import numpy; int(numpy.arange(10).sum())'
else
    skip "--preload: numpy is not installed"
    skip "--preload: numpy is not installed"
fi

# ---------------------------------------------------------------- state and randomness

probe=/tmp/vivarium-run-test-$$
expect "a run can write a file in /tmp" 0 $'True\n' \
    run -c "open('$probe', 'w').write('x'); import os; os.path.exists('$probe')"
expect "  ... which the next run does not see" 0 $'False\n' \
    run -c "import os; os.path.exists('$probe')"
verdict "  ... nor the host" test ! -e "$probe"

vr run -c 'import os, random; (random.random(), os.urandom(8).hex())'
first=$out
vr run -c 'import os, random; (random.random(), os.urandom(8).hex())'
verdict "random differs between two runs" eval '[ "$rc" = 0 ] && [ -n "$first" ] && [ "$out" != "$first" ]'

# ---------------------------------------------------------------- the one-shot path

# groups_of PID: the cgroups (any v1 hierarchy) named for that vivarium run.
groups_of() {
    find /sys/fs/cgroup/*/vivarium -maxdepth 1 -name "w$1.*" 2>/dev/null
}

# orphan_groups: one-shot groups ("w<cli pid>.<start>-0") whose CLI is gone.
orphan_groups() {
    local g pid
    for g in $(find /sys/fs/cgroup/*/vivarium -maxdepth 1 -name 'w*-0' 2>/dev/null); do
        pid=${g##*/w}
        pid=${pid%%.*}
        [ -d "/proc/$pid" ] || echo "$g"
    done
}

# The helper removes a run's group just after the CLI has exited.
no_orphan_groups() {
    local i
    for i in $(seq 10); do
        [ -z "$(orphan_groups)" ] && return 0
        sleep 0.1
    done
    diag "left behind: $(orphan_groups)"
    return 1
}

expect "one-shot: imports stay lazy (no asyncio, numpy or traceback before the code)" 0 \
    $'(False, False, False)\n' \
    run -c 'import sys; ("asyncio" in sys.modules, "numpy" in sys.modules, "traceback" in sys.modules)'
expect "one-shot: no linecache, re or enum before the code (the source reaches linecache when it is imported)" 0 \
    $'[]\n' \
    run -c 'import sys; [m for m in ("linecache", "tokenize", "re", "enum", "signal") if m in sys.modules]'
expect "one-shot: a traceback still shows the code's lines" 1 '' run -c 'def f():
    raise ValueError("deep")
f()'
verdict "  ... with the line that raised" eval 'has "$err" "raise ValueError(\"deep\")" && has "$err" "ValueError: deep"'

# While a run sleeps: what did the CLI start? A jail's zygote, and as root
# with a cgroup the helper that removes it; never a keeper or a spawner.
"$VIVARIUM" run --timeout 20 -c 'import time; time.sleep(20)' >/dev/null 2>&1 &
cli=$!
sleep 1.5
kids=$(for c in /proc/[0-9]*; do
    [ "$(awk '{ sub(/.*\) /, ""); print $2 }' "$c/stat" 2>/dev/null)" = "$cli" ] && cat "$c/comm" 2>/dev/null
done | sort | tr '\n' ' ')
verdict "one-shot: the CLI starts no keeper or spawner (children: $kids)" \
    eval 'has "$kids" vivarium-zygote && ! has "$kids" vivarium-keeper && ! has "$kids" vivarium-spawn'
groups=$(groups_of "$cli")
if [ "$(id -u)" -eq 0 ] && [ -d /sys/fs/cgroup/memory/vivarium ]; then
    verdict "one-shot: the jail runs in a memory cgroup of its own" eval '[ -n "$groups" ]'
    verdict "  ... whose memory limit is the run's" eval \
        '[ "$(cat /sys/fs/cgroup/memory/vivarium/w$cli.*/memory.limit_in_bytes 2>/dev/null)" = $((512 << 20)) ]'
else
    skip "one-shot: cgroup: not root with cgroup v1"
    skip "one-shot: cgroup limit: not root with cgroup v1"
fi
# Killed outright, the CLI leaves neither the jail nor (as root) its group.
kill -KILL "$cli"
wait "$cli" 2>/dev/null
gone=no
for i in $(seq 20); do
    zyg=$(for c in /proc/[0-9]*; do [ "$(cat "$c/comm" 2>/dev/null)" = vivarium-zygote ] &&
        [ "$(awk '{ sub(/.*\) /, ""); print $2 }' "$c/stat" 2>/dev/null)" = "$cli" ] && echo "${c#/proc/}"; done)
    if [ -z "$zyg" ] && [ -z "$(groups_of "$cli")" ]; then gone=yes; break; fi
    sleep 0.1
done
verdict "one-shot: a CLI killed with SIGKILL leaves no jail and no cgroup behind" test "$gone" = yes

# After a deadline: nothing the code started survives the run.
tok=vt$$d
vr run --timeout 1 -c "import ctypes, os, time
if os.fork() == 0:
    ctypes.CDLL(None).prctl(15, b'$tok', 0, 0, 0)
    while True: time.sleep(1)
while True: pass"
verdict "one-shot: a run past its deadline exits 124" test "$rc" = 124
verdict "  ... and leaves no process behind" none_left "$tok"
verdict "  ... and no cgroup (within a second)" no_orphan_groups
tok=vt$$m
vr run --json --memory 64 -c "import ctypes, os
if os.fork() == 0:
    ctypes.CDLL(None).prctl(15, b'$tok', 0, 0, 0)
    import time; time.sleep(60)
b = bytearray(256 << 20)"
verdict "one-shot: memory: status memory, exit 137" json_rc 137 "d['status'] == 'memory'"
verdict "  ... and leaves no process behind" none_left "$tok"
printf 'line one\nline two\n' >"$T/in"
vr_cmd "$VIVARIUM" run -c 'import sys; [l.strip() for l in sys.stdin]' <"$T/in"
verdict "one-shot: stdin reaches the code" rc_out 0 $'[\'line one\', \'line two\']\n'
printf 'import sys\nprint(sys.argv[0] == "", __name__)\n6 * 7\n' >"$T/f.py"
vr run "$T/f.py"
verdict "one-shot: a FILE runs as __main__" rc_out 0 $'True __main__\n42\n'

# ---------------------------------------------------------------- as the test user

if have_test_user; then
    vr_cmd as_test_user "$VIVARIUM" run -c 'print(1+1)'
    verdict "test user: print" rc_out 0 $'2\n'
    vr_cmd as_test_user "$VIVARIUM" run -c '6 * 7'
    verdict "test user: value" rc_out 0 $'42\n'
    vr_cmd as_test_user "$VIVARIUM" run -c '1/0'
    verdict "test user: exception exits 1" eval '[ "$rc" = 1 ] && has "$err" ZeroDivisionError'
    vr_cmd as_test_user "$VIVARIUM" run --timeout 1 -c 'while True: pass'
    verdict "test user: timeout exits 124 within 10 s" eval '[ "$rc" = 124 ] && [ "$ms" -lt 10000 ]'
    vr_cmd as_test_user "$VIVARIUM" run --memory 64 -c 'bytearray(512 << 20)'
    verdict "test user: memory limit exits 137" test "$rc" = 137
    vr_cmd as_test_user "$VIVARIUM" run --memory 64 -c 'bytearray(512 << 20)'
    verdict "test user: the memory message names the limit and --memory" \
        eval 'has "$err" "limit of 64 MiB" && has "$err" "raise --memory"'
    # Without a cgroup RLIMIT_NPROC counts every process of the jail's uid
    # (the zygote's and the warm worker's too): fewer than 8, never more.
    vr_cmd as_test_user "$VIVARIUM" run --processes 8 --timeout 10 -c "$FORKS"
    verdict "test user: --processes 8 stops the forks before 8" \
        eval '[ "$rc" = 0 ] && [ "${out%$NL}" -ge 1 ] && [ "${out%$NL}" -le 7 ]'
else
    if [ "$(id -u)" -ne 0 ]; then why="not root: cannot create or switch to the test user"
    else why="cannot create the test user $VIV_TEST_USER"; fi
    for c in print value exception timeout memory "memory message" processes; do skip "test user: $c: $why"; done
fi

tap_done
