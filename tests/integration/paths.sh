#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vivarium from anywhere: a build tree and an install prefix below 0700
# directories, in paths with spaces and non-ASCII characters. As root (the
# dispatcher dropping to the service user, the jail running as ids that are
# no user of the host): `vivarium run` from both, `vivarium serve` with a
# client, and `vivarium mcp`. As the unprivileged test user: a build tree in
# its own 0700 home works, with `run` and `mcp`; programs in another user's
# 0700 directory are refused with an error that names the path, the user, the
# directory in the way and what to do. As an ordinary user running the tests,
# the cases of its own 0700 directory. A TAP test (see lib.sh).

# top_srcdir and top_builddir come from make check:
# shellcheck disable=SC2154
# shellcheck source=tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"
exec </dev/null

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
CODE='import platform; print("hello from", platform.node(), 6 * 7)'
WANT='hello from vivarium 42'

# Everything lives below $T, mode 0700 and owned by whoever runs the test; the
# unprivileged user's own tree below $U, which that user can reach.
T=$(mktemp -d)
U=$(mktemp -d)
daemon_pid=
cleanup() {
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    rm -rf "$T" "$U"
}
trap cleanup EXIT
chmod 0700 "$T"
chmod 0755 "$U"
CLOSED="$T/clos ed é"
mkdir -m 0700 "$CLOSED"

# copy_build_tree DIR: what an uninstalled ./vivarium needs beside it (the
# build-tree detection of pool/config.c), as a clone's build leaves it.
copy_build_tree() {
    mkdir -p "$1/pool/zygote" &&
        cp "$top_builddir/vivarium" "$top_builddir/vivarium-zygote" "$1/" &&
        cp "$top_srcdir/pool/zygote/vivarium_runner.py" "$1/pool/zygote/"
}

# in_tree DIR COMMAND...: run an uninstalled vivarium, which finds its
# zygote and runner beside it only without the relocation variables.
in_tree() {
    env -u VIVARIUM_LIBEXECDIR -u VIVARIUM_PKGDATADIR "$@"
}

# vr COMMAND...: stdout, stderr and status in $out, $err and $rc.
vr() {
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    out=$(cat "$T/out") err=$(cat "$T/err")
}

show() { diag "rc=$rc" "stdout: ${out:0:400}" "stderr: ${err:0:600}"; }

verdict() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; show; fi
}

ran_ok() { [ "$rc" -eq 0 ] && [ "$out" = "$WANT" ]; }

# mcp-exchange.py VIVARIUM CODE: initialize `VIVARIUM mcp` and call
# execute_python with CODE over raw JSON lines (stdin stays open until the
# answer came); prints the call's structured result as one JSON object. The
# script is readable by the test user.
cat >"$U/mcp-exchange.py" <<'EOF'
import json, subprocess, sys
p = subprocess.Popen([sys.argv[1], "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def send(m):
    p.stdin.write((json.dumps(m) + "\n").encode())
    p.stdin.flush()
def reply(i):
    for line in p.stdout:
        m = json.loads(line)
        if m.get("id") == i:
            return m
    return {}
send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
      "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                 "clientInfo": {"name": "paths.sh", "version": "1"}}})
reply(1)
send({"jsonrpc": "2.0", "method": "notifications/initialized"})
send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
      "params": {"name": "execute_python", "arguments": {"code": sys.argv[2]}}})
m = reply(2)
p.stdin.close()
p.wait(timeout=60)
print(json.dumps(m.get("result", {}).get("structuredContent", m)))
EOF
chmod 0644 "$U/mcp-exchange.py"

mcp_ok() { [ "$rc" -eq 0 ] && [[ $out == *'"status": "ok", "stdout": "'"$WANT"'\n"'* ]]; }

me=$(id -un)

# The runs are one-shot (--no-daemon): a daemon on the default socket would
# otherwise answer them from its own installation.

# 1. A build tree below two 0700 directories, as a clone in /root is.
TREE="$CLOSED/my clone ü/vivarium"
copy_build_tree "$TREE"
vr in_tree "$TREE/vivarium" run --no-daemon -c "$CODE"
verdict "run from a build tree below 0700 directories as $me" ran_ok

# 2. An install prefix there (the test install copied, relocated as a package
# unpacked elsewhere is).
PREFIX="$CLOSED/pre fix ß"
mkdir -p "$PREFIX" && cp -a "$VIV_DESTDIR/." "$PREFIX/"
P_VIV="$PREFIX$VIV_BINDIR/vivarium"
in_prefix() {
    env VIVARIUM_LIBEXECDIR="$PREFIX$VIV_PKGLIBEXECDIR" VIVARIUM_PKGDATADIR="$PREFIX$VIV_PKGDATADIR" "$@"
}
vr in_prefix "$P_VIV" run --no-daemon -c "$CODE"
verdict "run from an install prefix below 0700 directories as $me" ran_ok

# 3. The daemon from the prefix, its socket there too, and a client.
SOCK="$CLOSED/run dir/sock et"
mkdir -p "${SOCK%/*}"
# (env execs: $! is the daemon itself)
env VIVARIUM_LIBEXECDIR="$PREFIX$VIV_PKGLIBEXECDIR" VIVARIUM_PKGDATADIR="$PREFIX$VIV_PKGDATADIR" \
    "$P_VIV" serve --socket "$SOCK" --workers 1 >/dev/null 2>"$T/serve.log" &
daemon_pid=$!
for _ in $(seq 300); do
    [ -S "$SOCK" ] && "$P_VIV" status --socket "$SOCK" >/dev/null 2>&1 && break
    [ -d "/proc/$daemon_pid" ] || break
    sleep 0.1
done
vr "$P_VIV" run --socket "$SOCK" -c "$CODE"
verdict "serve from the prefix, socket below 0700 directories, and a client" ran_ok
if [ "$(id -u)" -eq 0 ] && [ -d "/proc/$daemon_pid" ]; then
    uid=$(awk '/^Uid:/ {print $2}' "/proc/$daemon_pid/status")
    check "the daemon dropped to the service user $VIV_SERVICE_USER" [ "$uid" = "$(id -u "$VIV_SERVICE_USER")" ]
fi
kill "$daemon_pid" 2>/dev/null
wait "$daemon_pid" 2>/dev/null
daemon_pid=
grep -q "environment 'default'" "$T/serve.log" && diag "$(tail -n 5 "$T/serve.log")"

# 4. The MCP face from the build tree.
vr in_tree "$PY" "$U/mcp-exchange.py" "$TREE/vivarium" "$CODE"
verdict "mcp from a build tree below 0700 directories as $me" mcp_ok

if ! have_test_user; then
    skip "the test user's cases need root"
    tap_done
    exit
fi
user=$VIV_TEST_USER

# 5. The test user's own 0700 home, holding its own clone's build: the jail
# maps the user's own uid, which reaches it.
HOME_U="$U/home ö/$user"
mkdir -m 0755 "$U/home ö"
mkdir -m 0700 "$HOME_U"
copy_build_tree "$HOME_U/src é/vivarium"
chown -R "$user:" "$U/home ö/$user"
chmod 0700 "$HOME_U"
vr runuser -u "$user" -- env -u VIVARIUM_LIBEXECDIR -u VIVARIUM_PKGDATADIR \
    "$HOME_U/src é/vivarium/vivarium" run --no-daemon -c "$CODE"
verdict "run from a build tree in $user's own 0700 home" ran_ok
vr runuser -u "$user" -- env -u VIVARIUM_LIBEXECDIR -u VIVARIUM_PKGDATADIR \
    "$PY" "$U/mcp-exchange.py" "$HOME_U/src é/vivarium/vivarium" "$CODE"
verdict "mcp from a build tree in $user's own 0700 home" mcp_ok

# 6. Programs in another user's 0700 directory cannot be used: the error
# names the path, the user, the directory in the way and what to do.
vr as_test_user env VIVARIUM_LIBEXECDIR="$PREFIX$VIV_PKGLIBEXECDIR" VIVARIUM_PKGDATADIR="$PREFIX$VIV_PKGDATADIR" \
    "$VIVARIUM" run --no-daemon -c "$CODE"
named_error() {
    [ "$rc" -eq 125 ] &&
        [[ $err == *"user $user (uid $(id -u "$user")) cannot reach the zygote program '$PREFIX$VIV_PKGLIBEXECDIR/vivarium-zygote'"* ]] &&
        [[ $err == *"the directory '$T' (owner root, mode 0700) is closed to it"* ]] &&
        [[ $err == *"VIVARIUM_LIBEXECDIR and VIVARIUM_PKGDATADIR"* ]]
}
verdict "$user is told which path it cannot reach, why, and what to do" named_error

tap_done
