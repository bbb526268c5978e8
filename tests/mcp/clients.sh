#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `vivarium mcp` driven by the official MCP clients from npm, through the test
# install. Installs the clients pinned in tests/mcp/clients/package-lock.json
# with `npm ci` into the build tree (once, and again when the lock changes),
# then runs tests/mcp/clients/e2e.mjs in its three configurations:
#   sdk1  @modelcontextprotocol/sdk 1.x, the handshake era (initialize);
#   pin   @modelcontextprotocol/client 2.x pinned to 2026-07-28;
#   auto  @modelcontextprotocol/client 2.x in auto negotiation (must end up in
#         the stateless era);
# and, when run as root, `pin` again as the unprivileged test user. Each run
# prints TAP; this script renumbers the lines into one stream with one plan.
# Node and npm are required (CI has them): their absence is a failure, not a
# skip. A TAP test (see tests/integration/lib.sh).

# shellcheck disable=SC2154
# shellcheck source=tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"

exec </dev/null

src="$top_srcdir/tests/mcp/clients"
dir="$top_builddir/tests/mcp/clients"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# The servers under test: the embedded pool (never a daemon), 2 warm workers.
unset VIVARIUM_SOCKET
SERVER=("$VIVARIUM" mcp --workers 2)

# ---------------------------------------------------------------- node and npm

NODE=$(command -v node) NPM=$(command -v npm)
if [ -z "$NODE" ] || [ -z "$NPM" ]; then
    not_ok "node and npm are installed (the MCP client tests need them)"
    diag "node: ${NODE:-not found}" "npm: ${NPM:-not found}"
    tap_done
    exit
fi
# The 2.x client declares node >= 20, but it also runs on Debian 12's 18.20,
# which tools/install-deps installs on a machine without node; 18 it is.
node_major=$("$NODE" -p 'process.versions.node.split(".")[0]' 2>/dev/null)
if [ "${node_major:-0}" -lt 18 ]; then
    not_ok "node is version 18 or later (found $("$NODE" --version 2>&1))"
    tap_done
    exit
fi

# ---------------------------------------------------------------- the pinned clients

# Out of tree, the build tree gets copies of the sources: e2e.mjs must sit
# next to node_modules for its imports to resolve.
mkdir -p "$dir"
if ! [ "$src" -ef "$dir" ]; then
    cp -f "$src/package.json" "$src/package-lock.json" "$src/e2e.mjs" "$dir/"
fi

# node_modules is installed again when missing or when the lock changed since
# (its checksum is the stamp; `npm ci` starts by removing node_modules, so a
# failed install leaves no stamp behind).
stamp="$dir/node_modules/.vivarium-lock.sha256"
want=$(sha256sum <"$dir/package-lock.json" | cut -d' ' -f1)
if [ -d "$dir/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    ok "the pinned MCP clients are installed (node_modules matches package-lock.json)"
elif (cd "$dir" && "$NPM" ci --no-audit --no-fund) >"$T/npm.log" 2>&1; then
    echo "$want" >"$stamp"
    ok "npm ci installs the pinned MCP clients into the build tree"
else
    not_ok "npm ci installs the pinned MCP clients into the build tree"
    diag "$(tail -n 30 "$T/npm.log")"
    tap_done
    exit
fi

# ---------------------------------------------------------------- e2e.mjs

# e2e PREFIX LOG RUNNER...: run e2e.mjs through RUNNER... (the command line
# up to and including e2e.mjs), passing its TAP lines through renumbered, with
# PREFIX before each description; LOG receives the server's stderr.
e2e() {
    local prefix=$1 log=$2 lines=0 failed_before=$tap_failed line rc
    shift 2
    while IFS= read -r line; do
        case $line in
        "not ok "*" # TODO"*)
            # A known bug (TAP's expected failure): counted, not failed.
            tap_n=$((tap_n + 1))
            echo "not ok $tap_n - $prefix${line#not ok * - }"
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
    done < <("$@" --server-log "$log" -- "${SERVER[@]}" 2>"$T/e2e.err"
    echo $? >"$T/e2e.rc")
    rc=$(cat "$T/e2e.rc" 2>/dev/null)
    if [ "$rc" != 0 ] && [ "$tap_failed" = "$failed_before" ]; then
        not_ok "${prefix}e2e.mjs exits with status 0 (got ${rc:-unknown})"
    elif [ "$lines" -lt 10 ]; then
        not_ok "${prefix}e2e.mjs ran its tests (only $lines)"
    fi
    if [ "$tap_failed" != "$failed_before" ]; then
        [ -s "$T/e2e.err" ] && diag "--- e2e.mjs's stderr" "$(tail -n 20 "$T/e2e.err")"
        diag "--- the server's stderr ($log)" "$(tail -n 40 "$log" 2>/dev/null)"
    fi
}

for client in sdk1 pin auto; do
    e2e "" "$T/server-$client.log" "$NODE" "$dir/e2e.mjs" --client "$client"
done

# ---------------------------------------------------------------- as the unprivileged user

# as_test_user_from_root COMMAND...: as_test_user, started in / (the current
# directory, the build tree, may not be the user's to enter).
as_test_user_from_root() { (cd / && as_test_user "$@"); }

if have_test_user; then
    # The test user needs to read e2e.mjs and node_modules and to reach them
    # through every parent directory. When the build tree does not let it
    # (a private home, a restrictive umask), run from a readable copy.
    here="$dir"
    if ! as_test_user test -r "$dir/e2e.mjs" ||
        ! as_test_user test -r "$dir/node_modules/@modelcontextprotocol/client/package.json" ||
        ! as_test_user test -r "$dir/node_modules/@modelcontextprotocol/sdk/package.json" ||
        [ -n "$(find "$dir/node_modules" \( ! -perm -o+r -o -type d ! -perm -o+x \) -print -quit)" ]; then
        here="$T/clients"
        mkdir "$here"
        cp -a "$dir/e2e.mjs" "$dir/package.json" "$dir/node_modules" "$here/"
        chmod -R a+rX "$here"
        diag "the build tree is not readable by $VIV_TEST_USER: running a copy in $here"
    fi
    # The user writes the server's log into a directory of its own.
    chmod 711 "$T"
    mkdir "$T/user"
    chown "$VIV_TEST_USER" "$T/user"
    e2e "as $VIV_TEST_USER: " "$T/user/server-pin.log" \
        as_test_user_from_root "$NODE" "$here/e2e.mjs" --client pin
else
    skip "the pin configuration as the unprivileged test user (needs root)"
fi

tap_done
