#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The transient scope from the systemd user manager (pool/user-scope.c): as
# the unprivileged test user, `vivarium run` and `vivarium serve` ask the
# user bus for a scope with Delegate=yes. The user manager is
# fake-systemd1 on a private dbus-daemon; it makes the scope's group below
# the cgroup v2 mount, gives it to the caller and moves it in, as systemd
# does. Checked: the request it got, the move, the fallback (with the reason
# in --verbose, the debug log and `vivarium status`) when the group lacks
# the memory and pids controllers, when there is no bus, no user manager on
# the bus, a failed job or a job that never ends; VIVARIUM_CGROUP turning it
# off. Root only (the fake makes cgroups); SKIP otherwise. A TAP test.

# shellcheck source=tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"
exec </dev/null

FAKE="$top_builddir/tests/integration/fake-systemd1"
CODE='print(6 * 7)'
V2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
if ! have_test_user || ! command -v dbus-daemon >/dev/null || [ -z "$V2" ] || [ ! -w "$V2" ]; then
    skip "needs root, the test user, dbus-daemon and a writable cgroup v2 mount"
    tap_done
    exit
fi
T=$(mktemp -d)
chmod 755 "$T"
BASE="$V2/vivarium-test-scope.$$"
mkdir "$BASE"
bus_pid= fake_pid= serve_pid=

cleanup() {
    for p in $serve_pid $fake_pid $bus_pid; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    # The scopes' groups empty once their processes are gone.
    for _ in $(seq 50); do
        find "$BASE" -depth -type d -exec rmdir {} + 2>/dev/null
        [ -d "$BASE" ] || break
        sleep 0.1
    done
    [ -d "$BASE" ] && echo "# left behind: $BASE" >&2
    rm -rf "$T"
}
trap cleanup EXIT

# A bus anyone may connect to (the fake as root, vivarium as the test user).
cat >"$T/bus.conf" <<CONF
<busconfig>
  <type>session</type>
  <listen>unix:path=$T/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
dbus-daemon --config-file="$T/bus.conf" --nofork --nopidfile 2>/dev/null &
bus_pid=$!
for _ in $(seq 100); do [ -S "$T/bus" ] && break; sleep 0.05; done
export DBUS_SESSION_BUS_ADDRESS="unix:path=$T/bus"

# fake MODE: (re)start the user manager stand-in; "" stops it.
fake() {
    [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
    fake_pid=
    [ -z "$1" ] && return
    : >"$T/record"
    "$FAKE" "$1" "$T/record" "$BASE" >"$T/fake.out" &
    fake_pid=$!
    for _ in $(seq 100); do grep -q ready "$T/fake.out" && return; sleep 0.05; done
    echo "# fake-systemd1 did not start" >&2
}

# user_run [ENV...]: a one-shot run as the test user, with --verbose and
# the debug log; stdout in $out, stderr in $err, the status in $rc.
user_run() {
    out=$(as_test_user env DBUS_SESSION_BUS_ADDRESS="$DBUS_SESSION_BUS_ADDRESS" VIVARIUM_LOG_LEVEL=debug "$@" \
        timeout 60 "$VIVARIUM" run --no-daemon --verbose -c "$CODE" 2>"$T/err")
    rc=$?
    err=$(cat "$T/err")
}
ran() { [ "$rc" -eq 0 ] && [ "$out" = 42 ]; }
said() { grep -qF -- "$1" "$T/err"; }
show() { diag "rc=$rc out=$out" "$err"; }

# 1. The request, and the move into the scope's group.
fake ok
user_run
scope=$(sed -n 's/^unit //p' "$T/record")
pid=${scope#vivarium-}
pid=${pid%.scope}
check "run: the call names a vivarium-PID.scope, job mode fail, no auto-start" \
    grep -qx "mode fail" "$T/record"
check "run: PIDs is the dispatcher's pid alone" grep -qx "PIDs au $pid" "$T/record"
check "run: Delegate=yes" grep -qx "Delegate b true" "$T/record"
check "run: CollectMode inactive-or-failed" grep -qx "CollectMode s inactive-or-failed" "$T/record"
check "run: a Description" grep -q "^Description s vivarium" "$T/record"
check "run: memory and tasks accounting" \
    eval 'grep -qx "MemoryAccounting b true" "$T/record" && grep -qx "TasksAccounting b true" "$T/record"'
check "run: no auto-start of a user manager" grep -qx "auto-start 0" "$T/record"
check "run: the fake made the scope's group" [ -d "$BASE/$scope" ]
# This v2 mount hands down no memory controller: the scope is not used.
if ! grep -qw memory "$V2/cgroup.controllers"; then
    check "run without memory/pids in the scope: falls back to none and runs" ran
    check "run --verbose names the scope and why it is not used" \
        said "cgroup none; cgroup scope: $scope not used: its group is not given the memory and pids controllers"
    check "run: the debug log says it" said "cgroup scope: $scope not used"
else
    check "run in the scope's group: cgroup v2" said "cgroup v2; cgroup scope: $scope from the user manager"
fi
[ "$rc" -eq 0 ] || show

# The daemon, as the test user: it stays in the scope's group.
mkdir "$T/user"
chown "$VIV_TEST_USER" "$T/user"
SOCK="$T/user/serve.sock"
as_test_user env DBUS_SESSION_BUS_ADDRESS="$DBUS_SESSION_BUS_ADDRESS" \
    "$VIVARIUM" serve --socket "$SOCK" --workers 1 >/dev/null 2>"$T/serve.log" &
for _ in $(seq 300); do
    [ -S "$SOCK" ] && as_test_user "$VIVARIUM" status --socket "$SOCK" >/dev/null 2>&1 && break
    sleep 0.1
done
serve_pid=$(pgrep -u "$VIV_TEST_USER" -x vivarium -n)
scope=$(sed -n 's/^unit //p' "$T/record" | tail -n 1)
check "serve asked for its own scope" [ "$scope" = "vivarium-$serve_pid.scope" ]
group=$(sed -n 's/^0:://p' "/proc/$serve_pid/cgroup")
check "serve moved into the scope's group" [ "$V2$group" = "$BASE/$scope" ]
st=$(as_test_user "$VIVARIUM" status --socket "$SOCK" 2>&1)
if ! grep -qw memory "$V2/cgroup.controllers"; then
    check "status: cgroup none and why the scope is not used" \
        eval 'grep -q "cgroup none" <<<"$st" && grep -qF "cgroup scope: $scope not used: its group is not given the memory and pids controllers" <<<"$st"'
fi
v=$(as_test_user "$VIVARIUM" run --socket "$SOCK" -c "$CODE" 2>&1)
check "serve in the scope runs code" [ "$v" = 42 ]
[ "$v" = 42 ] || diag "$st" "$(cat "$T/serve.log")"
kill "$serve_pid" 2>/dev/null
for _ in $(seq 100); do [ -d "/proc/$serve_pid" ] || break; sleep 0.1; done
serve_pid=

# 2. Each way of falling back: the run goes on without a scope, and says why.
fake fail
user_run
check "a failed job: the run falls back" ran
check "a failed job: --verbose says so" said "not used: its job ended 'failed'"
[ "$rc" -eq 0 ] || show

fake hang
user_run
check "a job that never ends: the run falls back after the timeout" ran
check "a job that never ends: --verbose says so" said "did not end within 5000 ms"
[ "$rc" -eq 0 ] || show

fake ""
user_run
check "no user manager on the bus: the run falls back" ran
check "no user manager on the bus: --verbose names the call's error" \
    eval 'said "not used:" && said "org.freedesktop.systemd1"'
[ "$rc" -eq 0 ] || show

user_run DBUS_SESSION_BUS_ADDRESS="unix:path=$T/no-bus"
check "no bus at the address: the run falls back" ran
check "no bus at the address: --verbose says so" said "cgroup scope: no user bus"
[ "$rc" -eq 0 ] || show

user_run env -u DBUS_SESSION_BUS_ADDRESS -u XDG_RUNTIME_DIR
check "no bus address at all: the run falls back, saying so" \
    eval 'ran && said "no user bus (neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set)"'

# 3. VIVARIUM_CGROUP=v2-inherited and none: the user manager is not asked.
fake ok
user_run VIVARIUM_CGROUP=v2-inherited
check "VIVARIUM_CGROUP=v2-inherited: not asked, and runs" \
    eval 'ran && [ ! -s "$T/record" ] && said "cgroup scope: not asked for"'
user_run VIVARIUM_CGROUP=none
check "VIVARIUM_CGROUP=none: not asked" eval 'ran && [ ! -s "$T/record" ]'

tap_done
