# SPDX-License-Identifier: LGPL-2.1-or-later
# Criterion unit tests for src/proto (frames, validation, typed access) and
# src/basic/capbuf. Included from tests/local.mk inside `if HAVE_CRITERION`.
check_PROGRAMS += tests/unit/test-proto tests/unit/test-capbuf
TESTS += tests/unit/test-proto tests/unit/test-capbuf

tests_unit_test_proto_SOURCES = tests/unit/test-proto.c
tests_unit_test_proto_CFLAGS = $(unit_cflags) $(MSGPACK_CFLAGS)
tests_unit_test_proto_LDADD = libproto.a libbasic.a $(MSGPACK_LIBS) $(unit_libs)

tests_unit_test_capbuf_SOURCES = tests/unit/test-capbuf.c
tests_unit_test_capbuf_CFLAGS = $(unit_cflags)
tests_unit_test_capbuf_LDADD = libbasic.a $(unit_libs)
