#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Worker cgroups through real daemons, as root with cgroup v1 (cgroup v2 is
# left to hosts that delegate a subtree; the unit tests cover what does not
# need one). Two daemons: A with `cpus = 0.5`, B without.
#  - The CPU quota: A's worker group has cpu.cfs_quota_us 50000 per 100000,
#    B's worker has no cpu group; a 2 s busy loop gets at most about half a
#    CPU in A, and nearly a whole one in B when the machine has one to give.
#  - Stale groups: groups named like a dead spawner's (one whose pid is
#    another process's now, frozen with a killed process in it; one whose pid
#    is free) are thawed, emptied and removed when B's spawner starts, while
#    A's groups and a group named after a live process stay; A's spawner,
#    killed with SIGKILL, leaves groups that the spawner its keeper starts
#    next removes, and A keeps serving.
# A TAP test (see lib.sh).

# shellcheck disable=SC2016,SC2154
# shellcheck source=tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"

exec </dev/null

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
CG=/sys/fs/cgroup
T=$(mktemp -d)
a_pid='' b_pid='' sleepers='' made=''
cleanup() {
    local p g h
    for p in $a_pid $b_pid; do
        kill -9 "$p" 2>/dev/null
    done
    for g in $made; do
        for h in memory pids freezer cpu; do
            [ -d "$CG/$h/vivarium/$g" ] || continue
            [ "$h" = freezer ] && echo THAWED >"$CG/$h/vivarium/$g/freezer.state" 2>/dev/null
        done
    done
    for p in $sleepers; do
        kill -9 "$p" 2>/dev/null
    done
    wait 2>/dev/null
    for g in $made; do
        for h in memory pids freezer cpu; do
            rmdir "$CG/$h/vivarium/$g" 2>/dev/null
        done
    done
    rm -rf "$T"
}
trap cleanup EXIT

v1_ready() {
    local h
    for h in memory pids freezer cpu; do
        grep -qE "^[^ ]+ [^ ]+ [^ ]+ [^ ]+ $CG/$h [^-]*- cgroup cgroup [^ ]*\b$h\b" /proc/self/mountinfo ||
            return 1
    done
}
if [ "$(id -u)" -ne 0 ]; then
    skip "worker cgroups: not root"
    tap_done
    exit
fi
if ! v1_ready || [ "${VIVARIUM_CGROUP:-v1}" != v1 ]; then
    skip "worker cgroups: no cgroup v1 memory, pids, freezer and cpu hierarchies under $CG"
    tap_done
    exit
fi

# start_time PID: field 22 of /proc/PID/stat.
start_time() {
    local line rest
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    rest=${line##*) }
    # shellcheck disable=SC2086
    set -- $rest
    echo "${20}"
}

# alive PID: the process exists and is not a zombie.
alive() {
    local line rest
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    rest=${line##*) }
    [ "${rest%% *}" != Z ]
}

# groups_of SPAWNER_PID: the memory groups a spawner named (w<pid>.<start>-<worker>).
groups_of() {
    local d
    for d in "$CG/memory/vivarium/w$1".*-*; do
        [ -d "$d" ] && echo "${d##*/}"
    done
}

# spawner_of DAEMON_PID: the pid of its spawner (daemon -> keeper -> spawner).
spawner_of() {
    local keeper spawner
    keeper=$(tr -d ' ' <"/proc/$1/task/$1/children" 2>/dev/null)
    spawner=$(tr -d ' ' <"/proc/$keeper/task/$keeper/children" 2>/dev/null)
    [ "$(cat "/proc/$spawner/comm" 2>/dev/null)" = vivarium-spawn ] && echo "$spawner"
}

# up SOCKET PID: the daemon answers `vivarium status` and has a spawner with
# a worker group within 10 s.
up() {
    for _ in $(seq 100); do
        alive "$2" || return 1
        if [ -S "$1" ] && "$VIVARIUM" status --socket "$1" >/dev/null 2>&1; then
            s=$(spawner_of "$2") && [ -n "$(groups_of "$s")" ] && return 0
        fi
        sleep 0.1
    done
    return 1
}

# gone WHAT SECONDS: WHAT (a command) fails within SECONDS.
gone() {
    for _ in $(seq $(($2 * 10))); do
        eval "$1" || return 0
        sleep 0.1
    done
    return 1
}

# ratio SOCKET: cpu_ms / wall_ms of a 2 s busy loop run by the daemon.
BUSY='import time
t = time.monotonic()
while time.monotonic() - t < 2:
    pass'
ratio() {
    "$VIVARIUM" run --socket "$1" --json -c "$BUSY" 2>"$T/run.err" |
        "$PY" -c 'import json, sys
d = json.load(sys.stdin)
print("%.3f" % (d["cpu_ms"] / d["wall_ms"]) if d["status"] == "ok" else "failed")'
}

# The same loop on the host: how much of a CPU the machine gives one right now.
host_ratio() {
    "$PY" -c 'import time
t, c = time.monotonic(), time.process_time()
while time.monotonic() - t < 2:
    pass
print("%.3f" % ((time.process_time() - c) / (time.monotonic() - t)))'
}

has() { case $1 in *"$2"*) return 0 ;; esac; return 1; }
lt() { "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$1" "$2"; }

# ---------------------------------------------------------------- daemon A: cpus = 0.5

printf '[limits]\ncpus = 0.5\n[pool]\nidle_workers = 1\n' >"$T/a.conf"
printf '[pool]\nidle_workers = 1\n' >"$T/b.conf"
VIVARIUM_CGROUP=v1 "$VIVARIUM" serve --socket "$T/a.sock" --config "$T/a.conf" 2>"$T/a.log" &
a_pid=$!
if ! up "$T/a.sock" "$a_pid"; then
    not_ok "daemon A (cpus = 0.5) starts and makes a worker group within 10 s"
    diag "its log:" "$(tail -n 20 "$T/a.log")"
    tap_done
    exit
fi
ok "daemon A (cpus = 0.5) starts and makes a worker group within 10 s"
a_spawner=$(spawner_of "$a_pid")
a_groups=$(groups_of "$a_spawner")
viv status --socket "$T/a.sock" --json
check "status reports isolation.cpus 0.5 and cgroup v1" \
    eval '"$PY" -c "import json, sys; i = json.loads(sys.argv[1])[\"isolation\"]
sys.exit(0 if i[\"cpus\"] == 0.5 and i[\"cgroup\"] == \"v1\" else 1)" "$out"'
viv status --socket "$T/a.sock"
check "vivarium status prints cpus 0.5" eval 'has "$out" ", cpus 0.5,"'
g=$(echo "$a_groups" | head -n 1)
check "A's worker group $g has cpu.cfs_quota_us 50000 per cpu.cfs_period_us 100000, with the worker in it" \
    eval '[ "$(cat "$CG/cpu/vivarium/$g/cpu.cfs_quota_us")" = 50000 ] &&
          [ "$(cat "$CG/cpu/vivarium/$g/cpu.cfs_period_us")" = 100000 ] &&
          [ "$(cat "$CG/cpu/vivarium/$g/cgroup.procs")" = "${g##*-}" ]'

# The quota is a ceiling whatever the load: about 0.5, never 0.75.
r=$(ratio "$T/a.sock")
if [ "$r" != failed ] && [ -n "$r" ] && lt "$r" 0.75; then
    ok "with cpus = 0.5 a 2 s busy loop gets at most about half a CPU (cpu_ms / wall_ms = $r < 0.75)"
else
    not_ok "with cpus = 0.5 a 2 s busy loop gets at most about half a CPU (cpu_ms / wall_ms = $r)"
    diag "$(cat "$T/run.err")"
fi

# A's worker after the run is a new one, in a new group: wait for it, so that
# nothing of A changes while B starts.
settled() {
    local g
    for _ in $(seq 100); do
        g=$(groups_of "$a_spawner")
        [ "$(echo "$g" | wc -w)" = 1 ] && alive "${g##*-}" &&
            "$VIVARIUM" status --socket "$T/a.sock" --json 2>/dev/null |
            "$PY" -c 'import json, sys; d = json.load(sys.stdin)
sys.exit(0 if d["idle_workers"] == 1 and d["busy_workers"] == 0 else 1)' && return 0
        sleep 0.1
    done
    return 1
}
settled || diag "daemon A did not settle on one idle worker: $(groups_of "$a_spawner")"
a_groups=$(groups_of "$a_spawner")

# ---------------------------------------------------------------- stale groups, made by hand

# sleeper: a process of ours to put in a group, its pid in $last (not by
# command substitution, which would wait for the sleep to close its stdout).
sleeper() {
    sleep 600 >/dev/null 2>&1 &
    last=$!
    sleepers="$sleepers $last"
}

exists() { [ -d "$CG/$1/vivarium/$2" ]; }
any_of() { exists memory "$1" || exists pids "$1" || exists freezer "$1"; }

# make_group NAME PID: NAME in the memory, pids and freezer hierarchies, with PID in it.
make_group() {
    local h
    made="$made $1"
    for h in memory pids freezer; do
        mkdir -p "$CG/$h/vivarium/$1" && echo "$2" >"$CG/$h/vivarium/$1/cgroup.procs" || return 1
    done
}

self_start=$(start_time $$)
# Our own pid with a start time not ours: a dead spawner's pid reused since.
frozen="w$$.$((self_start - 1))-1"
sleeper
frozen_pid=$last
# A pid that is free: a process that has exited and been reaped.
sleep 0 &
dead=$!
wait "$dead"
sleeper
free_pid=$last
freed="w$dead.$self_start-2"
# Named after a live process (our shell, its real start time): not stale.
live="w$$.$self_start-3"
sleeper
live_pid=$last
if make_group "$frozen" "$frozen_pid" && make_group "$freed" "$free_pid" && make_group "$live" "$live_pid" &&
    echo FROZEN >"$CG/freezer/vivarium/$frozen/freezer.state"; then
    for _ in $(seq 50); do
        grep -q FROZEN "$CG/freezer/vivarium/$frozen/freezer.state" 2>/dev/null && break
        sleep 0.1
    done
    kill -9 "$frozen_pid"
    sleep 0.5
    if ! any_of "$frozen" && ! alive "$frozen_pid"; then
        # Any spawner starting meanwhile reclaims it: under make -j, another
        # test's daemon may have come first.
        ok "set-up: a frozen stale group (already reclaimed by another daemon's spawner, starting meanwhile)"
    else
        check "set-up: a frozen stale group whose process, sent SIGKILL, cannot die" \
            eval 'grep -q FROZEN "$CG/freezer/vivarium/$frozen/freezer.state" 2>/dev/null && alive "$frozen_pid"'
    fi
else
    not_ok "set-up: hand-made groups in $CG/{memory,pids,freezer}/vivarium"
fi

# ---------------------------------------------------------------- daemon B: its spawner reclaims

VIVARIUM_CGROUP=v1 "$VIVARIUM" serve --socket "$T/b.sock" --config "$T/b.conf" 2>"$T/b.log" &
b_pid=$!
if up "$T/b.sock" "$b_pid"; then ok "daemon B (no cpus) starts and makes a worker group within 10 s"; else
    not_ok "daemon B (no cpus) starts and makes a worker group within 10 s"
    diag "its log:" "$(tail -n 20 "$T/b.log")"
fi
b_spawner=$(spawner_of "$b_pid")

check "the frozen stale group is thawed, its process dies and the group is removed in every hierarchy" \
    eval 'gone "any_of $frozen || alive $frozen_pid" 10'
check "the stale group of a free pid is emptied and removed" eval 'gone "any_of $freed || alive $free_pid" 10'
check "a group named after a live process stays, with its process" \
    eval 'exists memory "$live" && exists pids "$live" && exists freezer "$live" && alive "$live_pid"'
kept=1
for g in $a_groups; do
    exists memory "$g" && exists pids "$g" && exists freezer "$g" && exists cpu "$g" || kept=0
done
check "daemon A's group ($a_groups, a live spawner's) is untouched" eval '[ -n "$a_groups" ] && [ "$kept" = 1 ]'
g=$(groups_of "$b_spawner" | head -n 1)
check "B's worker group $g has no cpu group (no quota)" eval '[ -n "$g" ] && ! exists cpu "$g"'
viv run --socket "$T/a.sock" -c 'print(6 * 7)'
check "daemon A still runs code" eval '[ "$rc" = 0 ] && [ "$out" = 42 ]'

# Without a quota a busy loop gets a whole CPU when the machine has one to
# give: the best of four, and if even that falls short, the same loop on the
# host says whether the machine is too busy to tell.
best=0
for _ in 1 2 3 4; do
    r=$(ratio "$T/b.sock")
    [ "$r" = failed ] || [ -z "$r" ] && break
    lt "$best" "$r" && best=$r
    lt "$best" 0.85 || break
done
if [ "$r" = failed ] || [ -z "$r" ]; then
    not_ok "without cpus a 2 s busy loop runs"
    diag "$(cat "$T/run.err")"
elif ! lt "$best" 0.85; then
    ok "without cpus a 2 s busy loop gets nearly a whole CPU (cpu_ms / wall_ms = $best > 0.85)"
else
    h=$(host_ratio)
    if lt "$h" 0.85; then
        skip "without cpus a busy loop got $best of a CPU, but the machine is too busy to tell (the same loop on the host: $h)"
    else
        not_ok "without cpus a 2 s busy loop gets nearly a whole CPU: $best, while the host's loop got $h"
    fi
fi

# ---------------------------------------------------------------- A's spawner killed outright

a_groups=$(groups_of "$a_spawner")
a_groups_left() {
    local g
    for g in $a_groups; do
        any_of "$g" || exists cpu "$g" && return 0
    done
    return 1
}
kill -9 "$a_spawner"
check "A's spawner, killed with SIGKILL, leaves its groups to the next spawner, which removes them within 10 s" \
    eval '[ -n "$a_groups" ] && gone a_groups_left 10'
check "the new spawner has its own groups; B's are untouched" \
    eval 'up "$T/a.sock" "$a_pid" && [ "$(spawner_of "$a_pid")" != "$a_spawner" ] &&
          [ -n "$(groups_of "$b_spawner")" ]'
viv run --socket "$T/a.sock" -c 'print(7)'
check "daemon A serves again" eval '[ "$rc" = 0 ] && [ "$out" = 7 ]'

# ---------------------------------------------------------------- shutdown removes every group

a_spawner=$(spawner_of "$a_pid")
kill -TERM "$a_pid" "$b_pid"
wait "$a_pid" "$b_pid" 2>/dev/null
a_pid='' b_pid=''
check "stopped daemons leave no group of theirs" \
    eval '[ -z "$(groups_of "$a_spawner")" ] && [ -z "$(groups_of "$b_spawner")" ]'

tap_done
