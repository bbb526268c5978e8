#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Single-run isolation catalogue (design/THREATS.md §A-§E): runs
# tests/security/inside-jail.py inside a fresh jail through the installed
# `vivarium run`, once as root and once as the unprivileged test user, and
# re-emits its TAP lines renumbered with a "root: " / "unprivileged: " prefix.
# From the host side it then checks that no mount leaked into our mount table
# and that no zygote outlived its run.

: "${top_srcdir:?run through make check}"
. "$top_srcdir/tests/integration/lib.sh"

script="$top_srcdir/tests/security/inside-jail.py"
# The unprivileged user must be able to read the script: copy it to /tmp.
copy=$(mktemp "${TMPDIR:-/tmp}/vivarium-isolation.XXXXXX") || exit 99
trap 'rm -f "$copy"' EXIT
cp "$script" "$copy" && chmod 644 "$copy" || exit 99

mounts_before=$(wc -l </proc/self/mountinfo)

# Zygotes (and their workers, which keep the zygote's command line): every
# process whose argv[0] names vivarium-zygote.
argv0() {
    local a=
    { IFS= read -r -d '' a <"/proc/$1/cmdline"; } 2>/dev/null
    printf '%s\n' "$a"
}
zygote_pids() {
    local d
    for d in /proc/[0-9]*; do
        case $(argv0 "${d#/proc/}") in *vivarium-zygote*) echo "${d#/proc/}" ;; esac
    done
}
zygotes_before=" $(zygote_pids | tr '\n' ' ') "

# run_pass PREFIX [RUNNER...]: run the script in a jail (through RUNNER, e.g.
# as_test_user) and re-emit its TAP with PREFIX.
run_pass() {
    local prefix=$1 o e line plan="" count=0 r
    shift
    o=$(mktemp) e=$(mktemp)
    "$@" "$VIVARIUM" run --timeout 60 "$copy" </dev/null >"$o" 2>"$e"
    r=$?
    while IFS= read -r line; do
        if [[ $line =~ ^ok\ [0-9]+\ -\ \#\ SKIP\ (.*)$ ]]; then
            count=$((count + 1)); skip "$prefix${BASH_REMATCH[1]}"
        elif [[ $line =~ ^ok\ [0-9]+\ -\ (.*)$ ]]; then
            count=$((count + 1)); ok "$prefix${BASH_REMATCH[1]}"
        elif [[ $line =~ ^not\ ok\ [0-9]+\ -\ (.*)$ ]]; then
            count=$((count + 1)); not_ok "$prefix${BASH_REMATCH[1]}"
        elif [[ $line =~ ^1\.\.([0-9]+)( .*)?$ ]]; then
            plan=${BASH_REMATCH[1]}
        elif [[ $line == \#* ]]; then
            printf '%s\n' "$line"
        else
            diag "output: $line"
        fi
    done <"$o"
    # A plan of 0 means the script did not find itself inside a jail.
    if [ "$r" -eq 0 ] && [ -n "$plan" ] && [ "$plan" -gt 0 ] && [ "$plan" -eq "$count" ]; then
        ok "${prefix}vivarium run exited 0 and the plan (1..$plan) matches"
    else
        not_ok "${prefix}vivarium run exited 0 and the plan matches"
        diag "exit status $r, plan '${plan:-none}', $count test lines"
        [ -s "$e" ] && diag "$(head -n 50 "$e" | sed 's/^/stderr: /')"
    fi
    rm -f "$o" "$e"
}

if [ "$(id -u)" -eq 0 ]; then
    run_pass "root: "
    if have_test_user; then
        run_pass "unprivileged: " as_test_user
    else
        skip "unprivileged: could not create the test user $VIV_TEST_USER"
    fi
else
    skip "root: not running as root, the root-mode jail cannot be tested"
    run_pass "unprivileged: "
fi

# Host side: the jails' mounts lived in their own mount namespaces.
mounts_after=$(wc -l </proc/self/mountinfo)
if [ "$mounts_before" -eq "$mounts_after" ]; then
    ok "host: mount table unchanged ($mounts_after lines)"
else
    not_ok "host: mount table unchanged"
    diag "mountinfo had $mounts_before lines before, $mounts_after after"
fi

# Host side: no zygote of ours survives. A zygote that was there before, or
# that belongs to another live run (a `vivarium` process among its
# ancestors), is not ours; give the kernel a moment to finish reaping.
leftover_zygotes() {
    local pid p comm
    for pid in $(zygote_pids); do
        case $zygotes_before in *" $pid "*) continue ;; esac
        p=$pid
        while [ "$p" -gt 1 ] 2>/dev/null; do
            p=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || break
            [ -n "$p" ] || break
            comm=$(cat "/proc/$p/comm" 2>/dev/null)
            if [ "$comm" = vivarium ]; then
                continue 2
            fi
        done
        [ -d "/proc/$pid" ] && echo "$pid"
    done
}
for _ in 1 2 3 4 5 6 7 8 9 10; do
    left=$(leftover_zygotes)
    [ -z "$left" ] && break
    sleep 0.2
done
if [ -z "$left" ]; then
    ok "host: no vivarium-zygote process remains"
else
    not_ok "host: no vivarium-zygote process remains"
    for pid in $left; do
        diag "pid $pid: $(argv0 "$pid") (ppid $(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null))"
    done
fi

tap_done
