# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of jail/seccomp.c: the exported filter run through a BPF
# interpreter, and the real filter loaded in a child. Included from
# tests/local.mk inside `if HAVE_CRITERION`, which sets LOG_COMPILER.
TESTS += tests/unit/test-seccomp
check_PROGRAMS += tests/unit/test-seccomp
tests_unit_test_seccomp_SOURCES = tests/unit/test-seccomp.c
tests_unit_test_seccomp_CFLAGS = $(unit_cflags) $(SECCOMP_CFLAGS)
tests_unit_test_seccomp_LDADD = libjail.a libbasic.a $(SECCOMP_LIBS) $(unit_libs)
