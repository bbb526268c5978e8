# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of pool/user-scope.c's deciding and parsing: when to ask the
# user manager, the unit name, which JobRemoved is ours, whether
# /proc/self/cgroup puts us in the scope, and the lines status shows.
TESTS += tests/unit/test-user-scope
check_PROGRAMS += tests/unit/test-user-scope
tests_unit_test_user_scope_SOURCES = tests/unit/test-user-scope.c
tests_unit_test_user_scope_CFLAGS = $(unit_cflags) $(SYSTEMD_CFLAGS)
tests_unit_test_user_scope_LDADD = libpool.a libjail.a libbasic.a $(SYSTEMD_LIBS) $(unit_libs)
