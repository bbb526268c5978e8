# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of src/daemon/config.c (vivarium.conf) and parse_size().
TESTS += tests/unit/test-config
check_PROGRAMS += tests/unit/test-config
tests_unit_test_config_SOURCES = tests/unit/test-config.c
tests_unit_test_config_CPPFLAGS = $(AM_CPPFLAGS) -DTOP_SRCDIR=\"$(abs_top_srcdir)\"
tests_unit_test_config_CFLAGS = $(unit_cflags)
tests_unit_test_config_LDADD = libdaemon.a libbasic.a $(INIH_LIBS) $(unit_libs)
