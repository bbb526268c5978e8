# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Shared by the security runners (isolation.sh, daemon.sh): the probe bundle
# and the relay of its TAP. Sourced, never run; sources tests/integration/lib.sh.
#
# The probes run inside a jail as the code of one request, so they must be
# one self-contained Python program. make_bundle builds it from
# jail_probe.py (the harness) and the probe files, in PROBE_FILES order:
#
#   PROBE_VIA = "run" | "daemon"            how the runner reaches the jail
#   PROBE_AS = "root" | "unprivileged"      the mode the runner expects
#   PROBE_TOKEN = "..."                     names what the probes leave behind
#   <jail_probe.py>
#   <probe_*.py, without their `from jail_probe import *` line>
#   main()
#
# Checks run in that order: probe_files.py comes first because its first
# check counts the worker's descriptors before anything else opens one.

: "${top_srcdir:?run through make check}"
# shellcheck source=tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"

SEC_DIR="$top_srcdir/tests/security"
PROBE_FILES="probe_files.py probe_processes.py probe_sockets.py probe_identity.py probe_syscalls.py
probe_resources.py"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
# The host-side helpers import each other and examples/python: no
# __pycache__ in the source tree.
export PYTHONDONTWRITEBYTECODE=1

# todo DESC REASON: a known, reported isolation hole ("not ok ... # TODO").
# It does not count as a failure (automake's TAP driver reports XFAIL).
todo() { tap_n=$((tap_n + 1)); echo "not ok $tap_n - $1 # TODO $2"; }

# make_bundle VIA AS TOKEN OUT: write the bundle to OUT, readable by everyone
# (the unprivileged test user's `vivarium run` reads it).
make_bundle() {
    local f
    {
        printf 'PROBE_VIA = "%s"\nPROBE_AS = "%s"\nPROBE_TOKEN = "%s"\n' "$1" "$2" "$3"
        cat "$SEC_DIR/jail_probe.py"
        for f in $PROBE_FILES; do
            printf '\n# ---- %s\n' "$f"
            sed '/^from jail_probe import \*/d' "$SEC_DIR/$f"
        done
        printf '\nmain()\n'
    } >"$4" && chmod 644 "$4"
}

# relay_tap PREFIX OUT: re-emit the bundle's TAP in OUT, renumbered, with
# PREFIX; sets relay_plan and relay_count.
relay_tap() {
    local prefix=$1 line
    relay_plan='' relay_count=0
    while IFS= read -r line; do
        if [[ $line =~ ^ok\ [0-9]+\ -\ \#\ SKIP\ (.*)$ ]]; then
            relay_count=$((relay_count + 1)); skip "$prefix${BASH_REMATCH[1]}"
        elif [[ $line =~ ^ok\ [0-9]+\ -\ (.*)$ ]]; then
            relay_count=$((relay_count + 1)); ok "$prefix${BASH_REMATCH[1]}"
        elif [[ $line =~ ^not\ ok\ [0-9]+\ -\ (.*)\ \#\ TODO\ (.*)$ ]]; then
            relay_count=$((relay_count + 1)); todo "$prefix${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
        elif [[ $line =~ ^not\ ok\ [0-9]+\ -\ (.*)$ ]]; then
            relay_count=$((relay_count + 1)); not_ok "$prefix${BASH_REMATCH[1]}"
        elif [[ $line =~ ^1\.\.([0-9]+)( .*)?$ ]]; then
            relay_plan=${BASH_REMATCH[1]}
        elif [[ $line == \#* ]]; then
            printf '%s\n' "$line"
        else
            diag "output: $line"
        fi
    done <"$2"
}

# run_bundle PREFIX BUNDLE [RUNNER...] -- [VIVARIUM RUN ARGS...]: run the
# bundle through `vivarium run` (RUNNER, e.g. as_test_user, before it) and
# relay its TAP; then one more line: the run exited 0 and the plan matches.
run_bundle() {
    local prefix=$1 bundle=$2 o e r runner=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do runner+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    o=$(mktemp) e=$(mktemp)
    "${runner[@]}" "$VIVARIUM" run "$@" --timeout 60 "$bundle" </dev/null >"$o" 2>"$e"
    r=$?
    relay_tap "$prefix" "$o"
    # A plan of 0 means the bundle did not find itself inside a jail.
    if [ "$r" -eq 0 ] && [ -n "$relay_plan" ] && [ "$relay_plan" -gt 0 ] &&
        [ "$relay_plan" -eq "$relay_count" ]; then
        ok "${prefix}vivarium run exited 0 and the plan (1..$relay_plan) matches"
    else
        not_ok "${prefix}vivarium run exited 0 and the plan matches"
        diag "exit status $r, plan '${relay_plan:-none}', $relay_count test lines"
        [ -s "$e" ] && diag "$(head -n 50 "$e" | sed 's/^/stderr: /')"
    fi
    rm -f "$o" "$e"
}

# relay_helper PREFIX SCRIPT ARGS...: run tests/security/SCRIPT (a host-side
# helper, see host_lib.py) with ARGS and re-emit its "ok - DESC",
# "not ok - DESC [# TODO REASON]" and "skip - DESC: REASON" lines with PREFIX.
relay_helper() {
    local prefix=$1 script=$2 failed_before=$tap_failed line rc hout
    shift 2
    hout=$(mktemp)
    "$PY" "$SEC_DIR/$script" "$@" >"$hout" 2>"$hout.err"
    rc=$?
    while IFS= read -r line; do
        case $line in
        "ok - "*) ok "$prefix${line#ok - }" ;;
        "not ok - "*" # TODO "*)
            line=${line#not ok - }
            todo "$prefix${line%% \# TODO *}" "${line#* \# TODO }"
            ;;
        "not ok - "*) not_ok "$prefix${line#not ok - }" ;;
        "skip - "*) skip "$prefix${line#skip - }" ;;
        "#"*) echo "$line" ;;
        *) diag "$line" ;;
        esac
    done <"$hout"
    if [ "$rc" != 0 ] && [ "$tap_failed" = "$failed_before" ]; then
        not_ok "${prefix}$script $1 exited with status $rc"
        diag "$(tail -n 30 "$hout.err")"
    fi
    rm -f "$hout" "$hout.err"
}
