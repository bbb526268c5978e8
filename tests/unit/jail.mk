# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of jail/: spec, id maps, mount plan, cgroup names.
TESTS += tests/unit/test-jail
check_PROGRAMS += tests/unit/test-jail
tests_unit_test_jail_SOURCES = tests/unit/test-jail.c
tests_unit_test_jail_CFLAGS = $(unit_cflags)
tests_unit_test_jail_LDADD = libjail.a libbasic.a $(SECCOMP_LIBS) $(LIBCAP_LIBS) $(unit_libs)

TESTS += tests/unit/test-cgroup
check_PROGRAMS += tests/unit/test-cgroup
tests_unit_test_cgroup_SOURCES = tests/unit/test-cgroup.c
tests_unit_test_cgroup_CFLAGS = $(unit_cflags)
tests_unit_test_cgroup_LDADD = libjail.a libbasic.a $(SECCOMP_LIBS) $(LIBCAP_LIBS) $(unit_libs)
