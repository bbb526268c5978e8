# SPDX-License-Identifier: LGPL-2.1-or-later
# Criterion unit tests for src/mcp (line reader, JSON-RPC, tool table, result
# shapes) and src/basic/text-util. Included from tests/local.mk.
check_PROGRAMS += tests/unit/test-mcp
TESTS += tests/unit/test-mcp
tests_unit_test_mcp_SOURCES = tests/unit/test-mcp.c
tests_unit_test_mcp_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/mcp
tests_unit_test_mcp_CFLAGS = $(unit_cflags) $(JANSSON_CFLAGS) $(MSGPACK_CFLAGS) $(SYSTEMD_CFLAGS)
tests_unit_test_mcp_LDADD = libmcp.a libproto.a libbasic.a $(JANSSON_LIBS) $(MSGPACK_LIBS) $(SYSTEMD_LIBS) \
	$(unit_libs)
