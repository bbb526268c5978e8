#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The hostile catalogue (design/THREATS.md §A-§F) through one-shot
# `vivarium run` jails, once as root and once as the unprivileged test user:
#  * the probe bundle (jail_probe.py and the probe_*.py files, see common.sh)
#    runs inside a fresh jail; its TAP lines are re-emitted renumbered with a
#    "root: " / "unprivileged: " prefix;
#  * tests/security/host_oneshot.py checks from the host what the bundle
#    cannot see: a daemonised grandchild and a fork bomb leave nothing behind,
#    deadlines, file ownership on the host, the CLI's environment reaching no
#    jail;
#  * no mount leaked into our mount table, no zygote and no process the
#    bundle left behind outlived its run.
# The same bundle goes through the daemon in daemon.sh. A TAP test (see
# tests/integration/lib.sh); the known holes are "# TODO".

: "${top_srcdir:?run through make check}"
# shellcheck source=tests/security/common.sh
. "$top_srcdir/tests/security/common.sh"

exec </dev/null
export top_srcdir VIV_TEST_USER
T=$(mktemp -d) || exit 99
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT
TOKEN="vi$$"
TOKEN=${TOKEN:0:10}

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

secret() { echo "vivarium-secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }

# oneshot_pass MODE [RUNNER...]: the bundle, then the host-side checks.
oneshot_pass() {
    local mode=$1 prefix="$1: "
    shift
    make_bundle run "$mode" "$TOKEN" "$T/bundle-$mode.py"
    run_bundle "$prefix" "$T/bundle-$mode.py" "$@" --
    if [ $# -gt 0 ]; then
        relay_helper "$prefix" host_oneshot.py "$mode" "$TOKEN" "$(secret)" -- runuser -u "$VIV_TEST_USER" -- \
            env VIVARIUM_LIBEXECDIR="$VIVARIUM_LIBEXECDIR" VIVARIUM_PKGDATADIR="$VIVARIUM_PKGDATADIR" "$VIVARIUM"
    else
        relay_helper "$prefix" host_oneshot.py "$mode" "$TOKEN" "$(secret)" -- "$VIVARIUM"
    fi
}

if [ "$(id -u)" -eq 0 ]; then
    oneshot_pass root
    if have_test_user; then
        oneshot_pass unprivileged as_test_user
    else
        skip "unprivileged: could not create the test user $VIV_TEST_USER"
    fi
else
    skip "root: not running as root, the root-mode jail cannot be tested"
    oneshot_pass unprivileged
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

# Host side: the zombie the bundle leaves on purpose went with its jail.
zombies=$(grep -lx "vz-$TOKEN" /proc/[0-9]*/comm 2>/dev/null)
check "host: the zombie each bundle left behind is gone with its jail" test -z "$zombies"

tap_done
