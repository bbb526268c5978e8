# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of the path `vivarium run` takes: its options and the trust rules
# of the default daemon socket (src/cli/socket-trust.c).
TESTS += tests/unit/test-cli-socket
check_PROGRAMS += tests/unit/test-cli-socket
tests_unit_test_cli_socket_SOURCES = tests/unit/test-cli-socket.c
tests_unit_test_cli_socket_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/cli
tests_unit_test_cli_socket_CFLAGS = $(unit_cflags)
tests_unit_test_cli_socket_LDADD = libcli.a libproto.a libbasic.a $(MSGPACK_LIBS) $(unit_libs)
