# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of the build-time seccomp program (jail/seccomp-gen.c) against a
# fresh compile and the filter the kernel holds. Included from tests/local.mk
# inside `if HAVE_CRITERION`, which sets LOG_COMPILER.
TESTS += tests/unit/test-seccomp-prebuilt
check_PROGRAMS += tests/unit/test-seccomp-prebuilt
tests_unit_test_seccomp_prebuilt_SOURCES = tests/unit/test-seccomp-prebuilt.c
nodist_tests_unit_test_seccomp_prebuilt_SOURCES = jail/seccomp-prebuilt.c
tests_unit_test_seccomp_prebuilt_CFLAGS = $(unit_cflags) $(SECCOMP_CFLAGS)
tests_unit_test_seccomp_prebuilt_LDADD = libjail.a libbasic.a $(SECCOMP_LIBS) $(unit_libs)
