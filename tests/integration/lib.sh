# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers for the shell tests: TAP output, the test install made by
# `make check` (tests/install.env), and running commands as the unprivileged
# test user. Sourced, never run.

: "${top_builddir:?run through make check}"
: "${top_srcdir:?run through make check}"
. "$top_builddir/tests/install.env"

VIVARIUM="$VIV_DESTDIR$VIV_BINDIR/vivarium"
export VIVARIUM_LIBEXECDIR="$VIV_DESTDIR$VIV_PKGLIBEXECDIR"
export VIVARIUM_PKGDATADIR="$VIV_DESTDIR$VIV_PKGDATADIR"
VIV_TEST_USER=vivarium-test
# The service user a dispatcher started as root drops to (vivarium.conf(5),
# 'user'); without it, every face refuses to start as root. Created here, as
# the test user is: a system user with no shell, home or password.
VIV_SERVICE_USER=vivarium
if [ "$(id -u)" -eq 0 ] && ! id "$VIV_SERVICE_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$VIV_SERVICE_USER" 2>/dev/null ||
        id "$VIV_SERVICE_USER" >/dev/null 2>&1 ||
        echo "# cannot create the service user $VIV_SERVICE_USER" >&2
fi

tap_n=0
tap_failed=0
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1)); echo "not ok $tap_n - $*"; }
skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n - # SKIP $*"; }
# todo DESCRIPTION REASON: a known shortfall, reported as TAP TODO (XFAIL).
todo() { tap_n=$((tap_n + 1)); echo "not ok $tap_n - $1 # TODO $2"; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
tap_done() { echo "1..$tap_n"; [ "$tap_failed" -eq 0 ]; }

# check DESCRIPTION COMMAND...: one TAP line from a command's exit status.
check() {
    desc=$1; shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# viv [ARGS...]: run the installed vivarium, capturing stdout, stderr and status
# into $out, $err and $rc (stdin is passed through).
viv() {
    _o=$(mktemp) _e=$(mktemp)
    "$VIVARIUM" "$@" >"$_o" 2>"$_e"
    rc=$?
    out=$(cat "$_o") err=$(cat "$_e")
    rm -f "$_o" "$_e"
}

# The unprivileged user the isolation tests also run as; created on demand
# when we are root (never a login: no shell, no home, no password).
have_test_user() {
    [ "$(id -u)" -eq 0 ] || return 1
    id "$VIV_TEST_USER" >/dev/null 2>&1 ||
        useradd --system --no-create-home --shell /usr/sbin/nologin "$VIV_TEST_USER" 2>/dev/null ||
        id "$VIV_TEST_USER" >/dev/null 2>&1
}

# as_test_user COMMAND...: run with the test install's environment as that user.
as_test_user() {
    runuser -u "$VIV_TEST_USER" -- env VIVARIUM_LIBEXECDIR="$VIVARIUM_LIBEXECDIR" \
        VIVARIUM_PKGDATADIR="$VIVARIUM_PKGDATADIR" "$@"
}
