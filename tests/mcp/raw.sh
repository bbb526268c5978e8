#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `vivarium mcp` (vivarium-mcp(1), docs/MCP-NOTES.md) on raw JSON lines,
# without Node: runs the test modules tests/mcp/test_mcp_protocol.py and
# tests/mcp/test_mcp_execute.py (both import tests/mcp/mcp_wire.py) with
# Debian's interpreter against the test install's binary, one after the
# other, and passes their TAP lines through, renumbered into one stream.
# Every test there starts its own `vivarium mcp --workers 4 --preload ''`
# (the Preload tests: with the default preload) with pipes:
# stdout hygiene, the handshake of each revision, the stateless era
# (2026-07-28), malformed input, batches (test_mcp_protocol.py);
# execute_python's results, progress, cancellation, concurrency, EOF and
# signals, --config (test_mcp_execute.py). Then a subset again with
# `vivarium mcp --socket` forwarding to a `vivarium serve` started here
# (which must stay up, and idle, when the MCP servers are gone); and, when
# root, a core subset as the unprivileged test user (lib.sh). A TAP test
# (see lib.sh).

# shellcheck disable=SC2154
# shellcheck source=tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"

exec </dev/null

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
T=$(mktemp -d)
daemon_pid=''
cleanup() {
    [ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

# The test modules, run in this order; mcp_wire.py is what they share.
MODULES="test_mcp_protocol test_mcp_execute"
# The tests the unprivileged user runs too, by module (a module takes only
# the names of its own classes).
declare -A CORE=(
    [test_mcp_protocol]="Hygiene.test_code_output_stays_inside_results Handshake.test_versions
Handshake.test_ping_while_running Stateless.test_discover Stateless.test_tools_list_and_call
Malformed.test_parse_errors"
    [test_mcp_execute]="Execute.test_value Execute.test_exception Execute.test_timeout
Execute.test_cancel Execute.test_concurrency Lifecycle.test_eof Lifecycle.test_sigterm
Preload.test_default_preloads_the_data_stack Preload.test_plot_returns_a_png_and_nothing_leaks"
)
# The tests run again through `vivarium mcp --socket`, by module.
declare -A FORWARD=(
    [test_mcp_protocol]="Handshake.test_versions Handshake.test_ping_while_running
Stateless.test_tools_list_and_call"
    [test_mcp_execute]="Execute.test_value Execute.test_timeout Execute.test_progress Execute.test_cancel
Execute.test_concurrency Execute.test_code_over_max_frame Lifecycle.test_eof
Lifecycle.test_eof_while_running Lifecycle.test_sigterm"
)

# busy SOCKET: the daemon's busy_workers.
busy() {
    "$VIVARIUM" status --socket "$1" --json 2>/dev/null |
        "$PY" -c 'import json, sys; print(json.load(sys.stdin)["busy_workers"])' 2>/dev/null
}

# pass PREFIX WHAT COMMAND...: run a TAP-speaking Python command (WHAT, a
# test module, names it in our complaints), renumbering its lines into ours
# (names prefixed); not ok if it printed nothing or died.
pass() {
    local prefix=$1 what=$2 failed_before=$tap_failed lines=0 rc line name
    shift 2
    while IFS= read -r line; do
        case $line in
        "ok "*" # SKIP"*)
            name=${line#ok * - }
            skip "$prefix${name%% \# SKIP*}: ${name#* \# SKIP }"
            lines=$((lines + 1))
            ;;
        "ok "*)
            ok "$prefix${line#ok * - }"
            lines=$((lines + 1))
            ;;
        "not ok "*)
            not_ok "$prefix${line#not ok * - }"
            lines=$((lines + 1))
            ;;
        "#"*) echo "$line" ;;
        1..*) ;;
        *) diag "$line" ;;
        esac
    done < <("$@" 2>"$T/py.err"
    echo $? >"$T/py.rc")
    rc=$(cat "$T/py.rc" 2>/dev/null)
    if [ "$rc" != 0 ] && [ "$tap_failed" = "$failed_before" ]; then
        not_ok "${prefix}$what exited with status ${rc:-unknown}"
        diag "$(tail -n 40 "$T/py.err")"
    elif [ "$lines" = 0 ]; then
        not_ok "${prefix}$what ran no test"
        diag "$(tail -n 40 "$T/py.err")"
    fi
}

if ! "$VIVARIUM" mcp --help >/dev/null 2>&1; then
    not_ok "vivarium mcp --help exits 0"
    tap_done
    exit
fi
ok "vivarium mcp --help exits 0"

# PYTHONDONTWRITEBYTECODE: importing mcp_wire.py would leave a __pycache__
# in the source tree.
for m in $MODULES; do
    pass "" "$m.py" env VIVARIUM="$VIVARIUM" VIVARIUM_TAP=1 PYTHONDONTWRITEBYTECODE=1 \
        "$PY" "$top_srcdir/tests/mcp/$m.py"
done

# ---------------------------------------------------------------- --socket

"$VIVARIUM" serve --socket "$T/sock" 2>"$T/serve.log" &
daemon_pid=$!
up=0
for _ in $(seq 100); do
    kill -0 "$daemon_pid" 2>/dev/null || break
    if [ -S "$T/sock" ] && "$VIVARIUM" status --socket "$T/sock" >/dev/null 2>&1; then
        up=1
        break
    fi
    sleep 0.1
done
if [ "$up" = 1 ]; then
    ok "--socket: the daemon for the forwarding tests starts"
    for m in $MODULES; do
        # (no names would mean every test of the module)
        [ -n "${FORWARD[$m]}" ] || continue
        # shellcheck disable=SC2086
        pass "--socket: " "$m.py" env VIVARIUM="$VIVARIUM" VIVARIUM_TAP=1 PYTHONDONTWRITEBYTECODE=1 \
            VIVARIUM_TEST_SOCKET="$T/sock" "$PY" "$top_srcdir/tests/mcp/$m.py" ${FORWARD[$m]}
    done
    check "--socket: the daemon is still running after the MCP servers are gone" kill -0 "$daemon_pid"
    n=''
    for _ in $(seq 50); do
        n=$(busy "$T/sock")
        [ "$n" = 0 ] && break
        sleep 0.1
    done
    check "--socket: no worker of the daemon is left busy (busy_workers ${n:-unknown})" test "$n" = 0
    kill -TERM "$daemon_pid"
    wait "$daemon_pid"
    daemon_pid=''
else
    not_ok "--socket: the daemon for the forwarding tests starts"
    diag "$(tail -n 30 "$T/serve.log")"
fi

# ---------------------------------------------------------------- the unprivileged user

if have_test_user; then
    # A copy the test user can surely read, wherever the source tree is.
    chmod 755 "$T"
    for m in mcp_wire $MODULES; do
        cp "$top_srcdir/tests/mcp/$m.py" "$T/"
        chmod 644 "$T/$m.py"
    done
    for m in $MODULES; do
        [ -n "${CORE[$m]}" ] || continue
        # shellcheck disable=SC2086
        pass "as $VIV_TEST_USER: " "$m.py" as_test_user VIVARIUM="$VIVARIUM" VIVARIUM_TAP=1 \
            PYTHONDONTWRITEBYTECODE=1 HOME=/ "$PY" "$T/$m.py" ${CORE[$m]}
    done
else
    skip "the core tests as the unprivileged user: not root"
fi

tap_done
