# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of the memory watchdog's accounting (pool/memwatch-parse.c):
# statm, smaps_rollup and mountinfo text, the once-per-file set, the limit
# decision. The walk itself is tests/integration/memory.sh's.
TESTS += tests/unit/test-memwatch
check_PROGRAMS += tests/unit/test-memwatch
tests_unit_test_memwatch_SOURCES = tests/unit/test-memwatch.c
tests_unit_test_memwatch_CFLAGS = $(unit_cflags)
tests_unit_test_memwatch_LDADD = libpool.a libbasic.a $(unit_libs)
