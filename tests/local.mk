# SPDX-License-Identifier: LGPL-2.1-or-later
# Tests: Criterion unit tests (TAP via tests/unit/criterion-tap), shell TAP tests
# through the installed binaries, and the isolation catalogue.
EXTRA_DIST += tests/unit/criterion-tap

if HAVE_CRITERION
LOG_COMPILER = $(top_srcdir)/tests/unit/criterion-tap
unit_cflags = $(AM_CFLAGS) $(CRITERION_CFLAGS)
unit_libs = $(CRITERION_LIBS)
include tests/unit/proto.mk
include tests/unit/seccomp.mk
include tests/unit/seccomp-prebuilt.mk
include tests/unit/basic.mk
include tests/unit/jail.mk
include tests/unit/spawner.mk
include tests/unit/user-scope.mk
include tests/unit/memwatch.mk
include tests/unit/config.mk
include tests/unit/mcp.mk
include tests/unit/cli-socket.mk
endif

TESTS += tests/unit/test_runner.py
EXTRA_DIST += tests/unit/test_runner.py

include tests/integration/local.mk
include tests/security/local.mk
include tests/protocol/local.mk
include tests/mcp/local.mk
include tests/fuzz/local.mk
include tests/systemd/local.mk
include tests/coverage.mk
