# SPDX-License-Identifier: LGPL-2.1-or-later
# Integration and isolation tests run through a real install of the tree
# (DESTDIR below $TMPDIR so the unprivileged test user can reach it).
EXTRA_DIST += tests/integration/lib.sh

check_DATA = tests/install.env
CLEANFILES += tests/install.env

tests/install.env: $(bin_PROGRAMS) $(pkglibexec_PROGRAMS) $(dist_pkgdata_DATA)
	$(AM_V_GEN)d="$${TMPDIR:-/tmp}/vivarium-check.$$(printf %s '$(abs_top_builddir)' | md5sum | cut -c1-12)"; \
	rm -rf "$$d" && mkdir -p "$$d" && \
	$(MAKE) $(AM_MAKEFLAGS) install-exec install-data DESTDIR="$$d" >/dev/null && \
	chmod -R a+rX "$$d" && chmod 755 "$$d" && \
	{ echo "VIV_DESTDIR='$$d'"; echo "VIV_BINDIR='$(bindir)'"; \
	  echo "VIV_PKGLIBEXECDIR='$(pkglibexecdir)'"; echo "VIV_PKGDATADIR='$(pkgdatadir)'"; } >$@

clean-local: clean-test-install
clean-test-install:
	-d="$${TMPDIR:-/tmp}/vivarium-check.$$(printf %s '$(abs_top_builddir)' | md5sum | cut -c1-12)"; rm -rf "$$d"
.PHONY: clean-test-install

TESTS += tests/integration/run.sh
EXTRA_DIST += tests/integration/run.sh
# memory.sh: the memory limit against memfds, many processes, tmpfs files and
# pipes, with the host's MemAvailable sampled: the watchdog as the test user,
# the cgroup as root, one-shot and through a daemon.
TESTS += tests/integration/memory.sh
EXTRA_DIST += tests/integration/memory.sh
# It samples the whole machine's MemAvailable, so it runs last and alone:
# under `make -j2 check` another test's memory would count as the run's.
tests/integration/memory.log: $(TEST_LOGS:integration/memory.log=integration/memory.sh)
# cgroup.sh: the CPU quota and the reclaiming of stale worker groups through
# two daemons, as root with cgroup v1 (SKIP otherwise).
TESTS += tests/integration/cgroup.sh
EXTRA_DIST += tests/integration/cgroup.sh
# default-socket.sh: which path `vivarium run` takes without --socket (a daemon
# on the default socket, or one-shot), and the sockets it must not trust.
TESTS += tests/integration/default-socket.sh
EXTRA_DIST += tests/integration/default-socket.sh
# paths.sh: run, serve and mcp from a build tree and an install prefix below
# 0700 directories, in paths with spaces and non-ASCII characters, as root
# and as the test user, and the error for what a user cannot reach.
TESTS += tests/integration/paths.sh
EXTRA_DIST += tests/integration/paths.sh
# user-scope.sh: the transient scope from the user manager (pool/user-scope.c),
# as the test user, against fake-systemd1 on a private dbus-daemon: the
# request, the move into the scope's group, and each way of falling back.
TESTS += tests/integration/user-scope.sh
EXTRA_DIST += tests/integration/user-scope.sh
check_PROGRAMS += tests/integration/fake-systemd1
tests_integration_fake_systemd1_SOURCES = tests/integration/fake-systemd1.c
tests_integration_fake_systemd1_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
tests_integration_fake_systemd1_LDADD = $(SYSTEMD_LIBS)
