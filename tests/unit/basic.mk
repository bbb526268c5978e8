# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of src/basic, the run model and the CLI's parsing and JSON.
TESTS += tests/unit/test-basic
check_PROGRAMS += tests/unit/test-basic
tests_unit_test_basic_SOURCES = tests/unit/test-basic.c
tests_unit_test_basic_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/cli
tests_unit_test_basic_CFLAGS = $(unit_cflags)
tests_unit_test_basic_LDADD = libcli.a libproto.a libbasic.a $(MSGPACK_LIBS) $(unit_libs)
