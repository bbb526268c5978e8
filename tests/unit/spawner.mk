# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of the spawner's gate (pool/spawner-msg.c, pool/spawner-cgroup.c):
# the closed request set, descriptors only where they belong, and the check
# that a process to put in a cgroup descends from a zygote.
TESTS += tests/unit/test-spawner
check_PROGRAMS += tests/unit/test-spawner
tests_unit_test_spawner_SOURCES = tests/unit/test-spawner.c
tests_unit_test_spawner_CFLAGS = $(unit_cflags) $(MSGPACK_CFLAGS) $(SYSTEMD_CFLAGS)
tests_unit_test_spawner_LDADD = libpool.a libjail.a libproto.a libbasic.a \
	$(SECCOMP_LIBS) $(LIBCAP_LIBS) $(MSGPACK_LIBS) $(SYSTEMD_LIBS) $(unit_libs)
