# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of src/daemon/config.c (vivarium.conf) and parse_size().
TESTS += tests/unit/test-config
check_PROGRAMS += tests/unit/test-config
tests_unit_test_config_SOURCES = tests/unit/test-config.c
tests_unit_test_config_CPPFLAGS = $(AM_CPPFLAGS) -DTOP_SRCDIR=\"$(abs_top_srcdir)\"
tests_unit_test_config_CFLAGS = $(unit_cflags)
tests_unit_test_config_LDADD = libdaemon.a libbasic.a $(INIH_LIBS) $(unit_libs)

# Unit tests of src/daemon/run-limits.c (memory_mb, processes, cpus of `run`).
TESTS += tests/unit/test-run-limits
check_PROGRAMS += tests/unit/test-run-limits
tests_unit_test_run_limits_SOURCES = tests/unit/test-run-limits.c
tests_unit_test_run_limits_CFLAGS = $(unit_cflags) $(MSGPACK_CFLAGS) $(SYSTEMD_CFLAGS)
tests_unit_test_run_limits_LDADD = libdaemon.a libproto.a libbasic.a $(MSGPACK_LIBS) $(unit_libs)
